package io.uvstreams;

import static io.uvstreams.internal.uvstreams_c.*;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BiConsumer;

/**
 * A listening server (TCP or Unix socket, plain or TLS). Connections are
 * taken one by one with {@link #accept}, or handed to a {@link
 * StreamHandler} running on a thread per connection with {@link #start}.
 *
 * <p>Why threads: the streams' calls block, so one thread per connection
 * is the natural model for a blocking API (the I/O itself runs on the
 * engine's threads). Handler threads are daemons from a cached pool, so a
 * handler stuck in a read never keeps the JVM alive; the accept loop runs
 * on its own daemon thread. {@link #close()} stops listening and the
 * accept loop; connections being handled stay open ({@link #closeClients}
 * ends them).
 */
public final class Server implements AutoCloseable {
  private static final AtomicInteger SERVERS = new AtomicInteger();

  private final AtomicLong handle;
  private final Duration streamTimeout;
  private final ExecutorService handlers;
  private volatile boolean closed;
  private volatile Thread acceptor;
  private volatile BiConsumer<Stream, Exception> errorHandler = Server::report;

  Server(long handle, Duration streamTimeout) {
    this.handle = new AtomicLong(handle);
    this.streamTimeout = streamTimeout;
    this.handlers = Executors.newCachedThreadPool(
        daemons("uvstreams-handler-" + SERVERS.incrementAndGet() + "-"));
  }

  /** The next connection (in order of arrival).
   *
   * @return the accepted stream
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public Stream accept() throws IOException {
    return accept(null);
  }

  /** {@link #accept()} with a timeout (null: none).
   *
   * @param timeout how long to wait (null: for ever)
   * @return the accepted stream
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public Stream accept(Duration timeout) throws IOException {
    try (Op op = new Op(timeout)) {
      long s = op.finishStream(uvs_server_accept_start(handle.get(), op.handle), "accept");
      return new Stream(s, streamTimeout);
    }
  }

  /** Accepts connections on a background thread until {@link #close()},
   * running handler for each on a thread of its own. Returns this.
   *
   * @param handler called with each connection, on a thread of its own
   * @return this server
   */
  public synchronized Server start(StreamHandler handler) {
    if (acceptor != null) {
      throw new IllegalStateException("the server is already started");
    }
    Thread t = daemons("uvstreams-accept-").newThread(() -> acceptLoop(handler));
    acceptor = t;
    t.start();
    return this;
  }

  /** Where an exception of a handler goes (default: one line on stderr).
   *
   * @param handler receives the stream and the exception
   */
  public void setErrorHandler(BiConsumer<Stream, Exception> handler) {
    errorHandler = handler;
  }

  private void acceptLoop(StreamHandler handler) {
    while (!closed) {
      try {
        Stream s = accept();
        handlers.execute(() -> serve(handler, s));
      } catch (IOException e) {
        if (!closed) {
          errorHandler.accept(null, e);
        }
        return;
      }
    }
  }

  private void serve(StreamHandler handler, Stream s) {
    try (s) {
      try {
        handler.handle(s);
      } catch (Exception e) {
        errorHandler.accept(s, e); // while s is open: it can still be named
      }
    }
  }

  private static void report(Stream s, Exception e) {
    System.err.println("uvstreams server: " + (s == null ? "accept" : s) + ": " + e);
  }

  /** The listening addresses: {@link InetSocketAddress}es, or one {@link
   * UnixDomainSocketAddress}; empty once closed.
   *
   * @return the addresses
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public List<SocketAddress> getAddresses() throws IOException {
    long h = handle.get();
    int n = Math.max(0, uvs_server_num_addresses(h));
    List<SocketAddress> out = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      String[] host = new String[1];
      int[] port = new int[1];
      Errors.check(uvs_server_address(h, i, host, port));
      out.add(port[0] < 0 ? UnixDomainSocketAddress.of(host[0])
                          : new InetSocketAddress(host[0], port[0]));
    }
    return out;
  }

  /** The port of the first listening address (a TCP server's).
   *
   * @return the port
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public int getPort() throws IOException {
    return ((InetSocketAddress) getAddresses().get(0)).getPort();
  }

  /** Connections accepted and not yet closed.
   *
   * @return the number of open accepted connections
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public int getClientCount() throws IOException {
    return Errors.check(uvs_server_num_clients(handle.get()));
  }

  /** Closes every accepted connection gracefully.
   *
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public void closeClients() throws IOException {
    Errors.check(uvs_server_close_clients(handle.get()));
  }

  /** Resets every accepted connection.
   *
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public void abortClients() throws IOException {
    Errors.check(uvs_server_abort_clients(handle.get()));
  }

  /** Stops listening and the accept loop, releases the server (idempotent).
   * Accepted connections stay open; handlers already running go on. */
  @Override
  public void close() {
    closed = true;
    long h = handle.getAndSet(0);
    if (h == 0) {
      return;
    }
    uvs_server_close(h);
    joinAcceptor();
    handlers.shutdown();
    uvs_server_free(h);
  }

  private void joinAcceptor() {
    Thread t = acceptor;
    if (t == null || t == Thread.currentThread()) {
      return;
    }
    try {
      t.join();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static ThreadFactory daemons(String prefix) {
    AtomicInteger count = new AtomicInteger();
    return r -> {
      Thread t = new Thread(r, prefix + count.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
  }
}
