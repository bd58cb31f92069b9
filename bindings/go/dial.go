// Connecting: a Dialer (modelled on net.Dialer) turns its fields into the C
// API's options, connects with one operation bounded by Timeout and hands
// the new stream over. Networks are "tcp", "tcp4", "tcp6" (address
// "host:port", every resolved address tried in order) and "unix" (a path).

package uvstreams

import (
	"net"
	"strconv"
	"time"

	"github.com/uvstreams/uvstreams-go/internal/cuvs"
)

// Dialer holds the options of a connection; the zero value is usable.
type Dialer struct {
	// Timeout bounds the connection (and the TLS handshake); 0: none.
	Timeout time.Duration
	// Limit is the reader's buffer limit; 0: DefaultLimit.
	Limit int
	// TLS turns TLS on (a client configuration).
	TLS *TLSConfig
	// ServerName is the TLS server name (SNI and the name verified);
	// "": the host connected to.
	ServerName string
}

// Dial connects with the default Dialer.
func Dial(network, address string) (*Stream, error) {
	var d Dialer
	return d.Dial(network, address)
}

// Dial connects to address on network ("tcp", "tcp4", "tcp6", "unix").
func (d *Dialer) Dial(network, address string) (*Stream, error) {
	e, err := defaultEngine()
	if err != nil {
		return nil, err
	}
	var start func(opts, op uintptr) int
	switch network {
	case "unix":
		start = func(opts, op uintptr) int {
			return cuvs.Uvs_connect_unix_start(e, address, opts, op)
		}
	case "tcp", "tcp4", "tcp6":
		host, port, err := splitHostPort(address)
		if err != nil {
			return nil, err
		}
		start = func(opts, op uintptr) int {
			return cuvs.Uvs_connect_tcp_start(e, host, port, opts, op)
		}
	default:
		return nil, net.UnknownNetworkError(network)
	}
	var h uintptr
	err = withOptions(func(o uintptr) error {
		if err := d.fill(o, network); err != nil {
			return err
		}
		return runOp("connect", d.deadline(), func(op uintptr) int { return start(o, op) },
			takeStream("connect", &h))
	})
	if err != nil {
		return nil, err
	}
	return newStream(h), nil
}

func (d *Dialer) deadline() time.Time {
	if d.Timeout <= 0 {
		return time.Time{}
	}
	return time.Now().Add(d.Timeout)
}

// fill sets the options of a connect.
func (d *Dialer) fill(o uintptr, network string) error {
	if err := setFamily(o, network); err != nil {
		return err
	}
	if err := setDirectReads(o); err != nil {
		return err
	}
	if d.Limit != 0 {
		if err := setInt(o, "limit", int64(d.Limit)); err != nil {
			return err
		}
	}
	if d.ServerName != "" {
		if err := setStr(o, "server_hostname", d.ServerName); err != nil {
			return err
		}
	}
	return setTLS(o, d.TLS)
}

// setFamily restricts the address family for "tcp4" and "tcp6".
func setFamily(o uintptr, network string) error {
	switch network {
	case "tcp4":
		return setInt(o, "family", 4)
	case "tcp6":
		return setInt(o, "family", 6)
	}
	return nil
}

// takeStream is the finish step of connect and accept: the new stream.
func takeStream(what string, h *uintptr) func(op uintptr) error {
	return func(op uintptr) error {
		if err := opStatus(what)(op); err != nil {
			return err
		}
		_, err := check(what, func() int { return cuvs.Uvs_op_take_stream(op, h) })
		return err
	}
}

// splitHostPort splits "host:port" (port a number).
func splitHostPort(address string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, &net.AddrError{Err: "invalid port", Addr: address}
	}
	return host, port, nil
}
