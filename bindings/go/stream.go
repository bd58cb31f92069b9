// Stream: one connection with asyncio's StreamReader and StreamWriter
// semantics behind blocking methods. Reads wait until the read deadline,
// Drain and WaitClosed until the write deadline (net.Conn's deadlines, so a
// *Stream is a net.Conn, an io.Reader and an io.Writer). Write only buffers
// (asyncio's write): call Drain for flow control. As in asyncio, a write
// after the connection was lost does not fail (the bytes are dropped; Drain
// and the reads report the loss), but, as in Go, a write after this side's
// Close fails with net.ErrClosed. The reader's limit, the separators and the
// errors are the engine's, shared with every binding.

package uvstreams

import (
	"errors"
	"io"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uvstreams/uvstreams-go/internal/cuvs"
)

// Stream is a connection (TCP, Unix socket, or TLS over either).
type Stream struct {
	h             uintptr
	mu            sync.Mutex
	readDeadline  time.Time
	writeDeadline time.Time
	closed        atomic.Bool // Close or Abort was called
}

var _ net.Conn = (*Stream)(nil)

func newStream(h uintptr) *Stream {
	s := &Stream{h: h}
	runtime.SetFinalizer(s, (*Stream).release)
	return s
}

// release frees the handle (closing gracefully if still open).
func (s *Stream) release() {
	cuvs.Uvs_stream_free(s.h)
}

// call runs one non-blocking C call on the handle (see check), keeping the
// Stream reachable (so that its finalizer cannot run) until it returns.
func (s *Stream) call(what string, f func(h uintptr) int) (int, error) {
	rc, err := check(what, func() int { return f(s.h) })
	runtime.KeepAlive(s)
	return rc, err
}

// ---- deadlines

// SetDeadline sets both the read and the write deadline; the zero time
// means no deadline.
func (s *Stream) SetDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readDeadline, s.writeDeadline = t, t
	return nil
}

// SetReadDeadline bounds the reads (and io.Reader's Read).
func (s *Stream) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readDeadline = t
	return nil
}

// SetWriteDeadline bounds Drain and WaitClosed (Write never waits).
func (s *Stream) SetWriteDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writeDeadline = t
	return nil
}

func (s *Stream) deadlines() (read, write time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.readDeadline, s.writeDeadline
}

// ---- reading

// read runs one read operation and returns its bytes.
func (s *Stream) read(what string, start func(op uintptr) int) ([]byte, error) {
	deadline, _ := s.deadlines()
	var data []byte
	err := runOp(what, deadline, start, func(op uintptr) error {
		rc := cuvs.Uvs_op_read_result(op, &data)
		if rc < 0 {
			return readError(what, rc, op, data)
		}
		return nil
	})
	runtime.KeepAlive(s)
	if err != nil {
		return nil, err
	}
	return data, nil
}

// ReadUpTo is asyncio's read(n): up to n bytes once any are there, or with
// n < 0 everything until EOF. At EOF it returns an empty slice and no error.
func (s *Stream) ReadUpTo(n int) ([]byte, error) {
	return s.read("read", func(op uintptr) int {
		return cuvs.Uvs_stream_read_start(s.h, int64(n), op)
	})
}

// Read implements io.Reader: at most len(p) bytes, io.EOF at the end.
func (s *Stream) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	data, err := s.ReadUpTo(len(p))
	if err != nil {
		return 0, err
	}
	if len(data) == 0 {
		return 0, io.EOF
	}
	return copy(p, data), nil
}

// ReadLine is asyncio's readline(): a line with its "\n", or the partial
// last line at EOF (empty at EOF). A line longer than the limit is dropped
// and reported as a *LimitOverrunError.
func (s *Stream) ReadLine() ([]byte, error) {
	return s.read("readline", func(op uintptr) int {
		return cuvs.Uvs_stream_readline_start(s.h, op)
	})
}

// ReadExactly is asyncio's readexactly(n): exactly n bytes, or an
// *IncompleteReadError with the partial bytes when EOF comes first.
func (s *Stream) ReadExactly(n int) ([]byte, error) {
	return s.read("readexactly", func(op uintptr) int {
		return cuvs.Uvs_stream_readexactly_start(s.h, int64(n), op)
	})
}

// ReadUntil is asyncio's readuntil(sep): the data up to and including sep.
// A *LimitOverrunError leaves the data in the buffer; at EOF an
// *IncompleteReadError carries the whole buffer.
func (s *Stream) ReadUntil(sep []byte) ([]byte, error) {
	return s.read("readuntil", func(op uintptr) int {
		return cuvs.Uvs_stream_readuntil_start(s.h, sep, op)
	})
}

// ReadUntilAny is readuntil with several separators: the earliest end wins,
// ties go to the shortest separator.
func (s *Stream) ReadUntilAny(seps ...[]byte) ([]byte, error) {
	return s.read("readuntil", func(op uintptr) int {
		return cuvs.Uvs_stream_readuntil_any_start(s.h, seps, op)
	})
}

// AtEOF reports whether EOF was received and the buffer is empty.
func (s *Stream) AtEOF() bool {
	rc, _ := s.call("at_eof", cuvs.Uvs_stream_at_eof)
	return rc == 1
}

// ---- writing

// Write buffers p and tries to send it at once; it never waits (asyncio's
// write). It fails after WriteEOF or Close; after the loss of the
// connection it drops p without an error (asyncio), Drain reports the loss.
func (s *Stream) Write(p []byte) (int, error) {
	if err := s.written(s.call("write", func(h uintptr) int { return cuvs.Uvs_stream_write(h, p) })); err != nil {
		return 0, err
	}
	return len(p), nil
}

// written filters the status of a write: ECLOSED is an error only when this
// side closed the stream.
func (s *Stream) written(_ int, err error) error {
	var e *Error
	if errors.As(err, &e) && e.Code == ECLOSED && !s.closed.Load() {
		return nil
	}
	return err
}

// WriteString is Write for a string (io.StringWriter).
func (s *Stream) WriteString(str string) (int, error) {
	return s.Write([]byte(str))
}

// WriteLines is asyncio's writelines: the chunks in one call.
func (s *Stream) WriteLines(chunks ...[]byte) error {
	return s.written(s.call("writelines", func(h uintptr) int { return cuvs.Uvs_stream_writev(h, chunks) }))
}

// Drain waits until the write buffer is at or below the low watermark (at
// once while it is at or below the high one). It fails with ECONNRESET once
// the connection is lost.
func (s *Stream) Drain() error {
	_, deadline := s.deadlines()
	err := runOp("drain", deadline, func(op uintptr) int {
		return cuvs.Uvs_stream_drain_start(s.h, op)
	}, opStatus("drain"))
	runtime.KeepAlive(s)
	return err
}

// WriteEOF half-closes the sending side once the buffered data is sent.
func (s *Stream) WriteEOF() error {
	_, err := s.call("write_eof", cuvs.Uvs_stream_write_eof)
	return err
}

// CanWriteEOF reports whether the transport supports WriteEOF.
func (s *Stream) CanWriteEOF() bool {
	rc, _ := s.call("can_write_eof", cuvs.Uvs_stream_can_write_eof)
	return rc == 1
}

// WriteBufferSize is the number of bytes written but not yet sent.
func (s *Stream) WriteBufferSize() int {
	n := cuvs.Uvs_stream_write_buffer_size(s.h)
	runtime.KeepAlive(s)
	return int(n)
}

// SetWriteLimits sets the watermarks of Drain (asyncio's
// set_write_buffer_limits): high < 0 is the default, low < 0 is high / 4.
func (s *Stream) SetWriteLimits(high, low int) error {
	_, err := s.call("set_write_limits", func(h uintptr) int {
		return cuvs.Uvs_stream_set_write_limits(h, int64(high), int64(low))
	})
	return err
}

// ---- closing

// Close closes gracefully: what was written is sent first, pending reads see
// EOF. It does not wait (see WaitClosed) and may be called more than once.
func (s *Stream) Close() error {
	s.closed.Store(true)
	_, err := s.call("close", cuvs.Uvs_stream_close)
	return err
}

// Abort closes at once: the write buffer is dropped, TCP is reset.
func (s *Stream) Abort() error {
	s.closed.Store(true)
	_, err := s.call("abort", cuvs.Uvs_stream_abort)
	return err
}

// IsClosing reports whether Close or Abort was called or the connection lost.
func (s *Stream) IsClosing() bool {
	rc, _ := s.call("is_closing", cuvs.Uvs_stream_is_closing)
	return rc != 0
}

// WaitClosed waits until the stream is closed; it returns the error that
// closed it (e.g. ECONNRESET) or nil.
func (s *Stream) WaitClosed() error {
	_, deadline := s.deadlines()
	err := runOp("wait_closed", deadline, func(op uintptr) int {
		return cuvs.Uvs_stream_wait_closed_start(s.h, op)
	}, opStatus("wait_closed"))
	runtime.KeepAlive(s)
	return err
}

// ---- information

// ExtraInt is an integer of the C API's extra info ("fd", "peer.port",
// "limit", "tls.verified", ...).
func (s *Stream) ExtraInt(key string) (int64, error) {
	var v int64
	_, err := s.call("get_int "+key, func(h uintptr) int { return cuvs.Uvs_stream_get_int(h, key, &v) })
	return v, err
}

// ExtraString is a string of the C API's extra info ("peername", "kind",
// "tls.version", ...).
func (s *Stream) ExtraString(key string) (string, error) {
	var v string
	_, err := s.call("get_str "+key, func(h uintptr) int { return cuvs.Uvs_stream_get_str(h, key, &v) })
	return v, err
}

// ExtraBytes is a byte string of the extra info ("tls.peer_cert_der").
func (s *Stream) ExtraBytes(key string) ([]byte, error) {
	var v []byte
	_, err := s.call("get_bytes "+key, func(h uintptr) int { return cuvs.Uvs_stream_get_bytes(h, key, &v) })
	return v, err
}

// PeerName is the peer's address ("host:port", "[v6]:port" or a path; ""
// when unknown).
func (s *Stream) PeerName() string {
	v, _ := s.ExtraString("peername")
	return v
}

// SockName is the local address, as PeerName.
func (s *Stream) SockName() string {
	v, _ := s.ExtraString("sockname")
	return v
}

// RemoteAddr is the peer's address as a *net.TCPAddr or *net.UnixAddr.
func (s *Stream) RemoteAddr() net.Addr { return s.addr("peer") }

// LocalAddr is the local address as a *net.TCPAddr or *net.UnixAddr.
func (s *Stream) LocalAddr() net.Addr { return s.addr("sock") }

func (s *Stream) addr(side string) net.Addr {
	family, _ := s.ExtraInt("family")
	if family == 1 {
		path, _ := s.ExtraString(side + ".path")
		return &net.UnixAddr{Name: path, Net: "unix"}
	}
	host, _ := s.ExtraString(side + ".host")
	port, _ := s.ExtraInt(side + ".port")
	return &net.TCPAddr{IP: net.ParseIP(host), Port: int(port)}
}

// String describes the stream for logs.
func (s *Stream) String() string {
	return "uvstreams.Stream(" + s.SockName() + " -> " + s.PeerName() +
		", closing=" + strconv.FormatBool(s.IsClosing()) + ")"
}
