// TLS: a TLSConfig wraps the C API's reference-counted uvs_tls_config
// (OpenSSL underneath, TLS 1.2 minimum). Clients verify the server by
// default against the system trust store plus any CA loaded here; servers
// need a certificate and key. A configuration is given to a Dialer or a
// ListenConfig (or StartTLS) and is immutable once a connection used it.
// The handle is released by the garbage collector: connections keep their
// own reference.

package uvstreams

import (
	"runtime"
	"strings"

	"github.com/uvstreams/uvstreams-go/internal/cuvs"
)

// TLSVerify is the peer verification mode.
type TLSVerify int

// Verification modes.
const (
	VerifyNone     TLSVerify = 0 // no peer verification
	VerifyOptional TLSVerify = 1 // verify a certificate if one is sent
	VerifyRequired TLSVerify = 2 // a valid certificate is required
)

// TLS versions for SetVersions.
const (
	TLS12 = 0x0303
	TLS13 = 0x0304
)

// TLSConfig is a TLS client or server configuration.
type TLSConfig struct {
	h uintptr
}

// NewTLSClientConfig is a client configuration verifying the server.
func NewTLSClientConfig() (*TLSConfig, error) {
	return newTLSConfig(int(cuvs.UVS_TLS_CLIENT))
}

// NewTLSServerConfig is a server configuration (load a certificate next).
func NewTLSServerConfig() (*TLSConfig, error) {
	return newTLSConfig(int(cuvs.UVS_TLS_SERVER))
}

func newTLSConfig(side int) (*TLSConfig, error) {
	c := &TLSConfig{}
	if _, err := check("tls_config", func() int { return cuvs.Uvs_tls_config_new(side, &c.h) }); err != nil {
		return nil, err
	}
	runtime.SetFinalizer(c, func(c *TLSConfig) { cuvs.Uvs_tls_config_free(c.h) })
	return c, nil
}

func (c *TLSConfig) call(what string, f func(h uintptr) int) error {
	_, err := check(what, func() int { return f(c.h) })
	runtime.KeepAlive(c)
	return err
}

// LoadCAFile adds the CA certificates of a PEM file to the trust store.
func (c *TLSConfig) LoadCAFile(path string) error {
	return c.call("tls load_ca_file", func(h uintptr) int { return cuvs.Uvs_tls_config_load_ca_file(h, path) })
}

// LoadCAPEM adds CA certificates given as PEM bytes.
func (c *TLSConfig) LoadCAPEM(pem []byte) error {
	return c.call("tls load_ca_pem", func(h uintptr) int { return cuvs.Uvs_tls_config_load_ca_pem(h, pem) })
}

// LoadCertFile loads the certificate chain and its private key (keyPath ""
// when the key is in certPath).
func (c *TLSConfig) LoadCertFile(certPath, keyPath string) error {
	return c.call("tls load_cert_file", func(h uintptr) int {
		if keyPath == "" {
			keyPath = certPath
		}
		return cuvs.Uvs_tls_config_load_cert_file(h, certPath, keyPath, "")
	})
}

// SetVerify sets the peer verification mode.
func (c *TLSConfig) SetVerify(mode TLSVerify) error {
	return c.call("tls set_verify", func(h uintptr) int { return cuvs.Uvs_tls_config_set_verify(h, int(mode)) })
}

// SetALPN sets the ALPN protocols in order of preference.
func (c *TLSConfig) SetALPN(protocols ...string) error {
	list := strings.Join(protocols, ",")
	return c.call("tls set_alpn", func(h uintptr) int { return cuvs.Uvs_tls_config_set_alpn(h, list) })
}

// SetVersions bounds the protocol versions (TLS12, TLS13, or 0: default).
func (c *TLSConfig) SetVersions(min, max int) error {
	return c.call("tls set_versions", func(h uintptr) int { return cuvs.Uvs_tls_config_set_versions(h, min, max) })
}

// setTLS puts c (nil: none) into options.
func setTLS(o uintptr, c *TLSConfig) error {
	if c == nil {
		return nil
	}
	return c.call("options tls", func(h uintptr) int { return cuvs.Uvs_options_set_tls(o, h) })
}

// StartTLS upgrades the stream to TLS (asyncio's start_tls) with a client
// or server configuration; serverName is the name a client verifies ("":
// none given). It returns once the handshake is done, within the write
// deadline.
func (s *Stream) StartTLS(c *TLSConfig, serverName string) error {
	_, deadline := s.deadlines()
	err := withOptions(func(o uintptr) error {
		if err := setTLS(o, c); err != nil {
			return err
		}
		if serverName != "" {
			if err := setStr(o, "server_hostname", serverName); err != nil {
				return err
			}
		}
		return runOp("start_tls", deadline, func(op uintptr) int {
			return cuvs.Uvs_stream_start_tls_start(s.h, o, op)
		}, opStatus("start_tls"))
	})
	runtime.KeepAlive(s)
	return err
}
