package io.uvstreams;

import static io.uvstreams.internal.uvstreams_c.*;

import java.io.IOException;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Settings for a connect, a server or a start_tls, set fluently:
 * {@code new Options().limit(1024).timeout(Duration.ofSeconds(5))}.
 *
 * <p>A plain Java object: the library's uvs_options are made from it for
 * each call and freed after, so an Options can be reused and shared by
 * threads once set up. Each setter names its library key (uvstreams.h); a
 * key left unset keeps the library's default. {@link #timeout} is the
 * binding's own: the connect's timeout and the default timeout of the
 * blocking calls of the streams made with these options.
 */
public final class Options {
  private final Map<String, Long> ints = new LinkedHashMap<>();
  private final Map<String, String> strings = new LinkedHashMap<>();
  private TlsConfig tls;
  private Duration timeout;

  /** The reader's buffer limit ("limit", default 65536, must be &gt; 0).
   *
   * @param bytes the size in bytes
   * @return these options
   */
  public Options limit(long bytes) {
    return set("limit", bytes);
  }

  /** The write buffer's high watermark ("write_high", default 65536).
   *
   * @param bytes the size in bytes
   * @return these options
   */
  public Options writeHigh(long bytes) {
    return set("write_high", bytes);
  }

  /** The write buffer's low watermark ("write_low", default high / 4).
   *
   * @param bytes the size in bytes
   * @return these options
   */
  public Options writeLow(long bytes) {
    return set("write_low", bytes);
  }

  /** TCP_NODELAY ("nodelay", default true).
   *
   * @param on true to turn it on
   * @return these options
   */
  public Options noDelay(boolean on) {
    return set("nodelay", on ? 1 : 0);
  }

  /** Address family ("family"): 0 any (default), 4 IPv4 only, 6 IPv6 only.
   *
   * @param family 0, 4 or 6
   * @return these options
   */
  public Options family(int family) {
    return set("family", family);
  }

  /** Servers: the listen backlog ("backlog", default 100).
   *
   * @param backlog the length of the queue of pending connections
   * @return these options
   */
  public Options backlog(int backlog) {
    return set("backlog", backlog);
  }

  /** Servers: SO_REUSEADDR ("reuse_address", default true).
   *
   * @param on true to turn it on
   * @return these options
   */
  public Options reuseAddress(boolean on) {
    return set("reuse_address", on ? 1 : 0);
  }

  /** Servers: SO_REUSEPORT ("reuse_port", default false).
   *
   * @param on true to turn it on
   * @return these options
   */
  public Options reusePort(boolean on) {
    return set("reuse_port", on ? 1 : 0);
  }

  /** Whether a blocking read polls and reads the socket in the waiting
   * thread itself ("direct_reads"; default true in this binding, whose API
   * is blocking): no hop through the engine's I/O thread per read.
   *
   * @param on true to turn it on
   * @return these options
   */
  public Options directReads(boolean on) {
    return set("direct_reads", on ? 1 : 0);
  }

  /** Turns TLS on with this configuration (its side: client or server).
   *
   * @param config the TLS configuration
   * @return these options
   */
  public Options tls(TlsConfig config) {
    tls = config;
    return this;
  }

  /** TLS clients: the name sent (SNI) and verified ("server_hostname");
   * "" disables the host-name check. Default: the host connected to.
   *
   * @param name the host name, or "" for no host-name check
   * @return these options
   */
  public Options serverHostname(String name) {
    strings.put("server_hostname", name);
    return this;
  }

  /** TLS: the handshake's timeout ("ssl_handshake_timeout", default 60 s).
   *
   * @param d the handshake's timeout
   * @return these options
   */
  public Options handshakeTimeout(Duration d) {
    return set("ssl_handshake_timeout", d.toMillis());
  }

  /** The connect's timeout and the default timeout of the blocking calls
   * of the streams made with these options (null: none, the default).
   *
   * @param d the timeout (null: none)
   * @return the timeout, or null
   */
  public Options timeout(Duration d) {
    timeout = d;
    return this;
  }

  /** The timeout set by {@link #timeout(Duration)}, or null.
   *
   * @return the timeout, or null
   */
  public Duration timeout() {
    return timeout;
  }

  private Options set(String key, long value) {
    ints.put(key, value);
    return this;
  }

  /** A native copy (uvs_options) of options, which may be null. */
  static Native toNative(Options options) throws IOException {
    Native n = new Native();
    try {
      Errors.check(uvs_options_set_int(n.handle, "direct_reads", 1));
      if (options != null) {
        options.fill(n.handle);
      }
    } catch (IOException | RuntimeException e) {
      n.close();
      throw e;
    }
    return n;
  }

  private void fill(long handle) throws IOException {
    for (Map.Entry<String, Long> e : ints.entrySet()) {
      Errors.check(uvs_options_set_int(handle, e.getKey(), e.getValue()));
    }
    for (Map.Entry<String, String> e : strings.entrySet()) {
      Errors.check(uvs_options_set_str(handle, e.getKey(), e.getValue()));
    }
    if (tls != null) {
      Errors.check(uvs_options_set_tls(handle, tls.handle()));
    }
  }

  /** A uvs_options for one call (try-with-resources frees it). */
  static final class Native implements AutoCloseable {
    final long handle;

    private Native() throws IOException {
      long[] out = new long[1];
      Errors.check(uvs_options_new(out));
      handle = out[0];
    }

    @Override
    public void close() {
      uvs_options_free(handle);
    }
  }
}
