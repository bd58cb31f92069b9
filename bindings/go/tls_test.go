// TLS over loopback with a certificate made at test time by the openssl
// command (a self-signed one for localhost and 127.0.0.1, used as its own
// CA): an echo through a TLS server, and the verification failure of a
// client that does not trust it.

package uvstreams

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned makes cert.pem and key.pem in a temporary directory.
func selfSigned(t *testing.T) (cert, key string) {
	t.Helper()
	dir := t.TempDir()
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	out, err := exec.Command("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
		"-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
		"-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl: %v\n%s", err, out)
	}
	return cert, key
}

func tlsServer(t *testing.T, cert, key string) *Server {
	t.Helper()
	cfg, err := NewTLSServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.LoadCertFile(cert, key); err != nil {
		t.Fatal(err)
	}
	lc := ListenConfig{TLS: cfg}
	srv, err := lc.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(echo)
	t.Cleanup(func() { srv.Close() })
	return srv
}

func TestTLSClientWithCAFile(t *testing.T) {
	cert, key := selfSigned(t)
	srv := tlsServer(t, cert, key)
	client, err := NewTLSClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	if err := client.LoadCAFile(cert); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"", "localhost"} {
		d := Dialer{TLS: client, ServerName: name, Timeout: 10 * time.Second}
		s := dial(t, &d, srv)
		s.WriteString("secret\n")
		got, err := s.ReadLine()
		mustRead(t, "secret\n", got, err)
		if v, err := s.ExtraString("tls.version"); err != nil || !strings.HasPrefix(v, "TLSv1.") {
			t.Errorf("tls.version %q, %v", v, err)
		}
		if v, err := s.ExtraInt("tls.verified"); err != nil || v != 1 {
			t.Errorf("tls.verified %d, %v", v, err)
		}
	}
}

func TestTLSUntrustedServer(t *testing.T) {
	cert, key := selfSigned(t)
	srv := tlsServer(t, cert, key)
	client, err := NewTLSClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	d := Dialer{TLS: client, Timeout: 10 * time.Second}
	_, err = d.Dial("tcp", srv.Addrs()[0])
	var e *Error
	if !errors.As(err, &e) || e.Code != ETLSVERIFY {
		t.Fatalf("got %v, want ETLSVERIFY", err)
	}
}
