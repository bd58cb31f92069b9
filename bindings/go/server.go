// Servers: Listen binds and listens before returning (so EADDRINUSE is
// reported there); Accept takes the next connection, Serve runs a handler
// on its own goroutine for each one (closing the stream when the handler
// returns) until Close. The engine queues accepted connections in order of
// arrival; Close stops listening and leaves accepted connections open, as
// asyncio's Server.close.

package uvstreams

import (
	"errors"
	"net"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/uvstreams/uvstreams-go/internal/cuvs"
)

// ListenConfig holds the options of a server; the zero value is usable.
type ListenConfig struct {
	// Limit is the reader limit of accepted streams; 0: DefaultLimit.
	Limit int
	// Backlog is the listen backlog; 0: 100.
	Backlog int
	// ReusePort sets SO_REUSEPORT.
	ReusePort bool
	// TLS makes a TLS server (a server configuration with a certificate).
	TLS *TLSConfig
}

// Server is a listening TCP or Unix server.
type Server struct {
	h        uintptr
	unix     bool
	mu       sync.Mutex
	deadline time.Time
	closed   bool
}

// Listen starts a server with the default ListenConfig.
func Listen(network, address string) (*Server, error) {
	var lc ListenConfig
	return lc.Listen(network, address)
}

// Listen starts a server on network ("tcp", "tcp4", "tcp6": address
// "host:port", an empty host for every interface, port 0 for a free one;
// "unix": a path, a stale socket file is replaced).
func (lc *ListenConfig) Listen(network, address string) (*Server, error) {
	e, err := defaultEngine()
	if err != nil {
		return nil, err
	}
	var listen func(o uintptr, h *uintptr) int
	switch network {
	case "unix":
		listen = func(o uintptr, h *uintptr) int { return cuvs.Uvs_server_listen_unix(e, address, o, h) }
	case "tcp", "tcp4", "tcp6":
		host, port, err := splitHostPort(address)
		if err != nil {
			return nil, err
		}
		listen = func(o uintptr, h *uintptr) int { return cuvs.Uvs_server_listen_tcp(e, host, port, o, h) }
	default:
		return nil, net.UnknownNetworkError(network)
	}
	srv := &Server{unix: network == "unix"}
	err = withOptions(func(o uintptr) error {
		if err := lc.fill(o, network); err != nil {
			return err
		}
		_, err := check("listen", func() int { return listen(o, &srv.h) })
		return err
	})
	if err != nil {
		return nil, err
	}
	runtime.SetFinalizer(srv, func(srv *Server) { cuvs.Uvs_server_free(srv.h) })
	return srv, nil
}

func (lc *ListenConfig) fill(o uintptr, network string) error {
	if err := setFamily(o, network); err != nil {
		return err
	}
	if err := setDirectReads(o); err != nil {
		return err
	}
	reusePort := 0
	if lc.ReusePort {
		reusePort = 1
	}
	for key, v := range map[string]int{"limit": lc.Limit, "backlog": lc.Backlog, "reuse_port": reusePort} {
		if v != 0 {
			if err := setInt(o, key, int64(v)); err != nil {
				return err
			}
		}
	}
	return setTLS(o, lc.TLS)
}

func (srv *Server) call(what string, f func(h uintptr) int) (int, error) {
	rc, err := check(what, func() int { return f(srv.h) })
	runtime.KeepAlive(srv)
	return rc, err
}

// SetDeadline bounds Accept and WaitClosed (the zero time: none).
func (srv *Server) SetDeadline(t time.Time) error {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	srv.deadline = t
	return nil
}

func (srv *Server) getDeadline() time.Time {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.deadline
}

// Accept waits for the next connection. After Close it fails with an error
// matching net.ErrClosed.
func (srv *Server) Accept() (*Stream, error) {
	var h uintptr
	err := runOp("accept", srv.getDeadline(), func(op uintptr) int {
		return cuvs.Uvs_server_accept_start(srv.h, op)
	}, takeStream("accept", &h))
	runtime.KeepAlive(srv)
	if err != nil {
		return nil, err
	}
	return newStream(h), nil
}

// Serve accepts connections until Close and runs handler(stream) on a new
// goroutine for each; the stream is closed when the handler returns. It
// returns nil after Close, or the error that stopped accepting.
func (srv *Server) Serve(handler func(*Stream)) error {
	for {
		s, err := srv.Accept()
		if err != nil {
			if srv.isClosed() && errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go func() {
			defer s.Close()
			handler(s)
		}()
	}
}

func (srv *Server) isClosed() bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.closed
}

// Addrs are the listening addresses ("host:port", or the path of a Unix
// server); none once closed.
func (srv *Server) Addrs() []string {
	n, _ := srv.call("num_addresses", cuvs.Uvs_server_num_addresses)
	var out []string
	for i := 0; i < n; i++ {
		var host string
		var port int
		if _, err := srv.call("address", func(h uintptr) int {
			return cuvs.Uvs_server_address(h, i, &host, &port)
		}); err != nil {
			continue
		}
		if srv.unix {
			out = append(out, host)
		} else {
			out = append(out, net.JoinHostPort(host, strconv.Itoa(port)))
		}
	}
	return out
}

// Addr is the first listening address as a *net.TCPAddr or *net.UnixAddr
// (nil once closed).
func (srv *Server) Addr() net.Addr {
	addrs := srv.Addrs()
	if len(addrs) == 0 {
		return nil
	}
	if srv.unix {
		return &net.UnixAddr{Name: addrs[0], Net: "unix"}
	}
	host, port, _ := splitHostPort(addrs[0])
	return &net.TCPAddr{IP: net.ParseIP(host), Port: port}
}

// NumClients is the number of accepted connections not yet closed.
func (srv *Server) NumClients() int {
	n, _ := srv.call("num_clients", cuvs.Uvs_server_num_clients)
	return n
}

// Close stops listening (Serve returns, a pending Accept fails); accepted
// connections stay open. It may be called more than once.
func (srv *Server) Close() error {
	srv.mu.Lock()
	srv.closed = true
	srv.mu.Unlock()
	_, err := srv.call("server_close", cuvs.Uvs_server_close)
	return err
}

// CloseClients closes every accepted connection gracefully.
func (srv *Server) CloseClients() error {
	_, err := srv.call("close_clients", cuvs.Uvs_server_close_clients)
	return err
}

// AbortClients resets every accepted connection.
func (srv *Server) AbortClients() error {
	_, err := srv.call("abort_clients", cuvs.Uvs_server_abort_clients)
	return err
}

// WaitClosed waits until the server is closed and has no client left.
func (srv *Server) WaitClosed() error {
	err := runOp("server_wait_closed", srv.getDeadline(), func(op uintptr) int {
		return cuvs.Uvs_server_wait_closed_start(srv.h, op)
	}, opStatus("server_wait_closed"))
	runtime.KeepAlive(srv)
	return err
}
