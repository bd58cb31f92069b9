// Unit tests of the blocking API over loopback: a Server of this package
// plays the peer (handlers on goroutines), each test checks one behaviour
// of the asyncio semantics or of the Go error mapping.

package uvstreams

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/uvstreams/uvstreams-go/internal/cuvs"
)

// serve starts a TCP server on loopback running handler for each
// connection; it is closed at the end of the test.
func serve(t *testing.T, handler func(*Stream)) *Server {
	t.Helper()
	srv, err := Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(handler) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv
}

// dial connects to srv with d and closes the stream at the end of the test.
func dial(t *testing.T, d *Dialer, srv *Server) *Stream {
	t.Helper()
	s, err := d.Dial("tcp", srv.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// sender is a handler writing data, then closing.
func sender(data string) func(*Stream) {
	return func(s *Stream) {
		s.Write([]byte(data))
		s.Drain()
	}
}

func echo(s *Stream) {
	for {
		line, err := s.ReadLine()
		if err != nil || len(line) == 0 {
			return
		}
		s.Write(line)
		if s.Drain() != nil {
			return
		}
	}
}

func mustRead(t *testing.T, want string, got []byte, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if string(got) != want {
		t.Fatalf("read %q, want %q", got, want)
	}
}

func TestEchoTCP(t *testing.T) {
	srv := serve(t, echo)
	s := dial(t, &Dialer{}, srv)
	for _, line := range []string{"hello\n", "world\n"} {
		if _, err := s.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
		got, err := s.ReadLine()
		mustRead(t, line, got, err)
	}
	if s.PeerName() != srv.Addrs()[0] {
		t.Errorf("peername %q, server at %q", s.PeerName(), srv.Addrs()[0])
	}
	if addr := s.RemoteAddr().(*net.TCPAddr); addr.Port != srv.Addr().(*net.TCPAddr).Port {
		t.Errorf("remote addr %v, server at %v", addr, srv.Addr())
	}
	if kind, err := s.ExtraString("kind"); err != nil || kind != "tcp" {
		t.Errorf("kind %q, %v", kind, err)
	}
}

func TestStreamsAreReadByTheWaitingGoroutine(t *testing.T) {
	accepted := make(chan int64, 1)
	srv := serve(t, func(s *Stream) {
		v, err := s.ExtraInt("direct_reads")
		if err != nil {
			v = -1
		}
		accepted <- v
		echo(s)
	})
	s := dial(t, &Dialer{}, srv)
	if v, err := s.ExtraInt("direct_reads"); err != nil || v != 1 {
		t.Errorf("client direct_reads %d, %v", v, err)
	}
	s.Write([]byte("ping\n"))
	got, err := s.ReadLine()
	mustRead(t, "ping\n", got, err)
	if v := <-accepted; v != 1 {
		t.Errorf("accepted stream direct_reads %d", v)
	}
}

func TestEchoUnix(t *testing.T) {
	path := filepath.Join(t.TempDir(), "echo.sock")
	srv, err := Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go srv.Serve(echo)
	s, err := Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.WriteString("over unix\n")
	got, err := s.ReadLine()
	mustRead(t, "over unix\n", got, err)
	if addr := s.RemoteAddr().(*net.UnixAddr); addr.Name != path {
		t.Errorf("remote addr %v, want %s", addr, path)
	}
	if srv.Addrs()[0] != path {
		t.Errorf("server address %v", srv.Addrs())
	}
}

func TestReadExactlyIncomplete(t *testing.T) {
	s := dial(t, &Dialer{}, serve(t, sender("abc")))
	_, err := s.ReadExactly(5)
	var incomplete *IncompleteReadError
	if !errors.As(err, &incomplete) {
		t.Fatalf("got %v, want an *IncompleteReadError", err)
	}
	if string(incomplete.Partial) != "abc" || incomplete.Expected != 5 {
		t.Errorf("partial %q expected %d", incomplete.Partial, incomplete.Expected)
	}
	var e *Error
	if !errors.Is(err, io.ErrUnexpectedEOF) || !errors.As(err, &e) || e.Code != EINCOMPLETE {
		t.Errorf("%v does not match io.ErrUnexpectedEOF and EINCOMPLETE", err)
	}
}

func TestReadUntilIncompleteHasNoExpected(t *testing.T) {
	s := dial(t, &Dialer{}, serve(t, sender("no separator")))
	_, err := s.ReadUntil([]byte("|"))
	var incomplete *IncompleteReadError
	if !errors.As(err, &incomplete) || incomplete.Expected != -1 ||
		string(incomplete.Partial) != "no separator" {
		t.Fatalf("got %#v", err)
	}
}

func TestLimitOverrun(t *testing.T) {
	s := dial(t, &Dialer{Limit: 8}, serve(t, sender("0123456789abcdef|rest")))
	_, err := s.ReadUntil([]byte("|"))
	var overrun *LimitOverrunError
	if !errors.As(err, &overrun) || overrun.Consumed <= 0 || overrun.Message == "" {
		t.Fatalf("got %v, want a *LimitOverrunError", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Name != "ELIMIT" {
		t.Errorf("%v does not unwrap to ELIMIT", err)
	}
	// Nothing was removed: the bytes are still there.
	got, err := s.ReadExactly(17)
	mustRead(t, "0123456789abcdef|", got, err)
}

func TestReadlineLimitDropsTheLine(t *testing.T) {
	s := dial(t, &Dialer{Limit: 4}, serve(t, sender("much too long\nok\n")))
	_, err := s.ReadLine()
	var overrun *LimitOverrunError
	if !errors.As(err, &overrun) {
		t.Fatalf("got %v, want a *LimitOverrunError", err)
	}
	got, err := s.ReadLine()
	mustRead(t, "ok\n", got, err)
}

func TestReadUntilAny(t *testing.T) {
	s := dial(t, &Dialer{}, serve(t, sender("a;b\r\nc")))
	got, err := s.ReadUntilAny([]byte("\r\n"), []byte(";"))
	mustRead(t, "a;", got, err)
	got, err = s.ReadUntilAny([]byte("\r\n"), []byte(";"))
	mustRead(t, "b\r\n", got, err)
	got, err = s.ReadUpTo(-1)
	mustRead(t, "c", got, err)
	got, err = s.ReadUpTo(10)
	mustRead(t, "", got, err)
	if !s.AtEOF() {
		t.Error("not at EOF")
	}
}

func TestTimeoutConsumesNothing(t *testing.T) {
	release := make(chan struct{})
	s := dial(t, &Dialer{}, serve(t, func(s *Stream) {
		s.Write([]byte("partial"))
		<-release
		s.Write([]byte(" line\n"))
		s.Drain()
	}))
	s.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	start := time.Now()
	_, err := s.ReadLine()
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("got %v, want a timeout", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("%v is not a net.Error timeout", err)
	}
	if elapsed := time.Since(start); elapsed < 90*time.Millisecond {
		t.Errorf("timed out before its deadline, after %v", elapsed)
	}
	close(release)
	s.SetReadDeadline(time.Time{})
	got, err := s.ReadLine()
	mustRead(t, "partial line\n", got, err)
}

func TestRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = Dial("tcp", addr)
	var e *Error
	if !errors.Is(err, syscall.ECONNREFUSED) || !errors.As(err, &e) || e.Name != "ECONNREFUSED" {
		t.Fatalf("got %v, want ECONNREFUSED", err)
	}
}

func TestWriteEOFAndReadAll(t *testing.T) {
	s := dial(t, &Dialer{}, serve(t, func(s *Stream) {
		all, err := s.ReadUpTo(-1)
		if err == nil {
			s.Write(bytes.ToUpper(all))
			s.Drain()
		}
	}))
	if !s.CanWriteEOF() {
		t.Fatal("TCP cannot write EOF")
	}
	s.WriteLines([]byte("one "), []byte("two "), []byte("three"))
	if err := s.WriteEOF(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte("late")); err == nil {
		t.Error("write after write_eof succeeded")
	}
	all, err := io.ReadAll(s)
	mustRead(t, "ONE TWO THREE", all, err)
}

func TestCloseWakesBlockedRead(t *testing.T) {
	s := dial(t, &Dialer{}, serve(t, func(s *Stream) { s.ReadUpTo(-1) }))
	got := make(chan error, 1)
	go func() {
		line, err := s.ReadLine()
		if err == nil && len(line) != 0 {
			err = errors.New("read data")
		}
		got <- err
	}()
	time.Sleep(50 * time.Millisecond)
	s.Close()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("read still blocked after close")
	}
	if err := s.WaitClosed(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write after close: %v", err)
	}
}

func TestDrainWithWatermarks(t *testing.T) {
	s := dial(t, &Dialer{}, serve(t, func(s *Stream) { s.ReadUpTo(-1) }))
	if err := s.SetWriteLimits(1024, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.SetWriteLimits(1, 2); err == nil {
		t.Error("low above high accepted")
	}
	s.Write(bytes.Repeat([]byte("x"), 4<<20))
	s.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := s.Drain(); err != nil {
		t.Fatal(err)
	}
	if n := s.WriteBufferSize(); n != 0 {
		t.Errorf("write buffer %d after drain to 0", n)
	}
}

// Many goroutines wait in reads at once: each blocking cgo call holds only
// its own OS thread, so the scheduler keeps the others (and the server
// handlers) running.
func TestManyGoroutinesBlockedInReads(t *testing.T) {
	const n = 200
	var accepted sync.WaitGroup
	accepted.Add(n)
	release := make(chan struct{})
	srv := serve(t, func(s *Stream) {
		accepted.Done()
		<-release
		s.Write([]byte(s.PeerName() + "\n"))
		s.Drain()
	})
	var readers sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		s := dial(t, &Dialer{}, srv)
		readers.Add(1)
		go func() {
			defer readers.Done()
			line, err := s.ReadLine()
			if err == nil && string(line) != s.SockName()+"\n" {
				err = errors.New("wrong line " + string(line))
			}
			errs <- err
		}()
	}
	accepted.Wait()
	// Every reader is blocked; a timer goroutine still runs.
	select {
	case <-time.After(100 * time.Millisecond):
	case err := <-errs:
		t.Fatalf("a read returned early: %v", err)
	}
	close(release)
	readers.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestAcceptDeadlineAndClose(t *testing.T) {
	srv, err := Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.SetDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := srv.Accept(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("accept: %v, want a timeout", err)
	}
	srv.SetDeadline(time.Time{})
	go func() {
		time.Sleep(50 * time.Millisecond)
		srv.Close()
	}()
	if _, err := srv.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("accept after close: %v", err)
	}
	if err := srv.WaitClosed(); err != nil {
		t.Fatal(err)
	}
	if len(srv.Addrs()) != 0 {
		t.Errorf("closed server has addresses %v", srv.Addrs())
	}
}

func TestAddressInUse(t *testing.T) {
	srv := serve(t, echo)
	_, err := Listen("tcp", srv.Addrs()[0])
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("got %v, want EADDRINUSE", err)
	}
}

func TestBadArguments(t *testing.T) {
	if _, err := Dial("udp", "127.0.0.1:1"); err == nil {
		t.Error("dialed udp")
	}
	if _, err := Dial("tcp", "127.0.0.1"); err == nil {
		t.Error("dialed without a port")
	}
	s := dial(t, &Dialer{}, serve(t, echo))
	if _, err := s.ReadExactly(-1); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("readexactly(-1): %v", err)
	}
	if _, err := s.ReadUntilAny(); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("readuntil with no separator: %v", err)
	}
}

// The exported codes are the C library's.
func TestErrorCodes(t *testing.T) {
	codes := map[string]int{
		"EOF": EOF, "EBADHANDLE": EBADHANDLE, "ECLOSED": ECLOSED, "EBUSY": EBUSY,
		"ELIMIT": ELIMIT, "EINCOMPLETE": EINCOMPLETE, "ETLS": ETLS,
		"ETLSVERIFY": ETLSVERIFY, "ESHUTDOWN": ESHUTDOWN, "EINTERNAL": EINTERNAL,
		"EOPBUSY": EOPBUSY, "EWRITEEOF": EWRITEEOF, "EWRONGTHREAD": EWRONGTHREAD,
		"EFORKED": EFORKED,
	}
	for name, code := range codes {
		if got := cuvs.Uvs_err_name(code); got != name {
			t.Errorf("code %d is %s in C, %s here", code, got, name)
		}
	}
	if Version() == "" {
		t.Error("no version")
	}
}

// After a reset, Write drops the bytes without an error (asyncio) and Drain
// reports the reset.
func TestWriteAfterReset(t *testing.T) {
	s := dial(t, &Dialer{}, serve(t, func(s *Stream) { s.Abort() }))
	if _, err := s.ReadUpTo(10); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read: %v, want ECONNRESET", err)
	}
	if _, err := s.Write([]byte("dropped")); err != nil {
		t.Fatalf("write after reset: %v", err)
	}
	if err := s.Drain(); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("drain: %v, want ECONNRESET", err)
	}
}
