package io.uvstreams;

import static io.uvstreams.internal.uvstreams_c.*;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The uvstreams engine: libuv loops on their own I/O threads, doing the
 * I/O of every stream and server made from it; the entry point of the
 * binding. Usually one per program:
 *
 * <pre>{@code
 * try (Engine engine = new Engine();
 *      Stream s = engine.connect("example.org", 80)) {
 *   s.write("HEAD / HTTP/1.0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
 *   byte[] status = s.readLine(Duration.ofSeconds(5));
 * }
 * }</pre>
 *
 * <p>{@link #close()} closes every stream and server of the engine (their
 * blocked calls fail with ESHUTDOWN) and joins its threads.
 */
public final class Engine implements AutoCloseable {
  private final AtomicLong handle = new AtomicLong();

  /** An engine with one I/O thread.
   *
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public Engine() throws IOException {
    this(1);
  }

  /** An engine with ioThreads I/O threads (at least 1).
   *
   * @param ioThreads the number of I/O threads (at least 1)
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public Engine(int ioThreads) throws IOException {
    if (ioThreads < 1) {
      throw new IllegalArgumentException("ioThreads must be at least 1");
    }
    try (Options.Native n = Options.toNative(null)) {
      Errors.check(uvs_options_set_int(n.handle, "io_threads", ioThreads));
      long[] out = new long[1];
      Errors.check(uvs_engine_new(n.handle, out));
      handle.set(out[0]);
    }
  }

  /** A TCP connection to host:port (every resolved address is tried).
   *
   * @param host the host name or address
   * @param port the TCP port
   * @return the connected stream
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public Stream connect(String host, int port) throws IOException {
    return connect(host, port, null);
  }

  /** A TCP connection with options (limit, TLS, timeout...; may be null).
   *
   * @param host the host name or address
   * @param port the TCP port
   * @param options the options, or null for the defaults
   * @return the connected stream
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public Stream connect(String host, int port, Options options) throws IOException {
    try (Options.Native n = Options.toNative(options); Op op = new Op(timeout(options))) {
      long s = op.finishStream(uvs_connect_tcp_start(handle.get(), host, port, n.handle,
                                                     op.handle),
                               "connect to " + host + ":" + port);
      return new Stream(s, timeout(options));
    }
  }

  /** A Unix-domain socket connection.
   *
   * @param path the socket's path
   * @return the connected stream
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public Stream connectUnix(Path path) throws IOException {
    return connectUnix(path, null);
  }

  /** A Unix-domain socket connection with options (may be null).
   *
   * @param path the socket's path
   * @param options the options, or null for the defaults
   * @return the connected stream
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public Stream connectUnix(Path path, Options options) throws IOException {
    try (Options.Native n = Options.toNative(options); Op op = new Op(timeout(options))) {
      long s = op.finishStream(uvs_connect_unix_start(handle.get(), path.toString(), n.handle,
                                                      op.handle),
                               "connect to " + path);
      return new Stream(s, timeout(options));
    }
  }

  /** A TCP server listening on host:port (host null: every interface; port
   * 0: a free one, see {@link Server#getPort()}).
   *
   * @param host the address to listen on (null: every interface)
   * @param port the port (0: a free one)
   * @return the listening server
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public Server listen(String host, int port) throws IOException {
    return listen(host, port, null);
  }

  /** A TCP server with options (backlog, limit, TLS...; may be null); the
   * options' timeout becomes the accepted streams' default timeout.
   *
   * @param host the address to listen on (null: every interface)
   * @param port the port (0: a free one)
   * @param options the options of the server and its connections, or null
   * @return the listening server
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public Server listen(String host, int port, Options options) throws IOException {
    try (Options.Native n = Options.toNative(options)) {
      long[] out = new long[1];
      Errors.check(uvs_server_listen_tcp(handle.get(), host, port, n.handle, out));
      return new Server(out[0], timeout(options));
    }
  }

  /** A Unix-domain socket server (a stale socket file is replaced).
   *
   * @param path the socket's path
   * @param options the options of the server and its connections, or null
   * @return the listening server
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public Server listenUnix(Path path, Options options) throws IOException {
    try (Options.Native n = Options.toNative(options)) {
      long[] out = new long[1];
      Errors.check(uvs_server_listen_unix(handle.get(), path.toString(), n.handle, out));
      return new Server(out[0], timeout(options));
    }
  }

  /** The library's version, "0.1.0".
   *
   * @return the version string
   */
  public static String version() {
    return uvs_version_string();
  }

  private static Duration timeout(Options options) {
    return options == null ? null : options.timeout();
  }

  /** Closes everything made from the engine and stops its threads
   * (idempotent; blocks until they are joined). */
  @Override
  public void close() {
    long h = handle.getAndSet(0);
    if (h != 0) {
      uvs_engine_free(h);
    }
  }
}
