package io.uvstreams;

import static io.uvstreams.internal.uvstreams_c.*;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A TLS configuration (uvs_tls_config: OpenSSL underneath), given to
 * {@link Options#tls}. Clients verify the server by default, against the
 * system's trust store plus the CAs loaded here; servers need a certificate
 * and key. Settings are fixed once a connection used the configuration.
 * Closing it drops this handle's reference; connections keep theirs.
 */
public final class TlsConfig implements AutoCloseable {
  /** How the peer's certificate is checked. */
  public enum Verify {
    /** No verification. */
    NONE(UVS_TLS_VERIFY_NONE),
    /** A certificate is verified if the peer sends one. */
    OPTIONAL(UVS_TLS_VERIFY_OPTIONAL),
    /** A valid certificate is required (the clients' default). */
    REQUIRED(UVS_TLS_VERIFY_REQUIRED);

    final int mode;

    Verify(int mode) {
      this.mode = mode;
    }
  }

  private final AtomicLong handle = new AtomicLong();

  private TlsConfig(int side) throws IOException {
    long[] out = new long[1];
    Errors.check(uvs_tls_config_new(side, out));
    handle.set(out[0]);
  }

  /** A client configuration (verifies the server).
   *
   * @return a new client configuration
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public static TlsConfig client() throws IOException {
    return new TlsConfig(UVS_TLS_CLIENT);
  }

  /** A server configuration (load its certificate next).
   *
   * @return a new server configuration
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public static TlsConfig server() throws IOException {
    return new TlsConfig(UVS_TLS_SERVER);
  }

  /** Trusts the CA certificates of this PEM file.
   *
   * @param pem the PEM file
   * @return this configuration
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public TlsConfig loadCaFile(Path pem) throws IOException {
    Errors.check(uvs_tls_config_load_ca_file(handle(), pem.toString()));
    return this;
  }

  /** The certificate chain and its private key (PEM files; key null: in
   * the certificate's file).
   *
   * @param cert the certificate chain's PEM file
   * @param key the private key's PEM file, or null
   * @return this configuration
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public TlsConfig loadCertFile(Path cert, Path key) throws IOException {
    String keyPath = key == null ? null : key.toString();
    Errors.check(uvs_tls_config_load_cert_file(handle(), cert.toString(), keyPath, null));
    return this;
  }

  /** How the peer is verified.
   *
   * @param mode the verification mode
   * @return this configuration
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public TlsConfig verify(Verify mode) throws IOException {
    Errors.check(uvs_tls_config_set_verify(handle(), mode.mode));
    return this;
  }

  /** ALPN protocols in order of preference ("h2", "http/1.1").
   *
   * @param protocols the protocol names
   * @return this configuration
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public TlsConfig alpn(String... protocols) throws IOException {
    Errors.check(uvs_tls_config_set_alpn(handle(), String.join(",", protocols)));
    return this;
  }

  long handle() {
    return handle.get();
  }

  @Override
  public void close() {
    long h = handle.getAndSet(0);
    if (h != 0) {
      uvs_tls_config_free(h);
    }
  }
}
