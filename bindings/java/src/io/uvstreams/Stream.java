package io.uvstreams;

import static io.uvstreams.internal.uvstreams_c.*;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A connection (TCP or Unix socket, plain or TLS) with blocking
 * asyncio-style reads and writes: {@code read}, {@code readLine}, {@code
 * readExactly}, {@code readUntil} with the reader's buffer limit, {@code
 * write} (buffered, never blocks), {@code drain} (waits for the write
 * buffer to fall to its low watermark), {@code writeEof}, {@code close}.
 *
 * <p>Every call that can wait has two forms: one with a {@link Duration}
 * timeout (null: wait forever) and one using the stream's default timeout
 * ({@link #setTimeout}, initially {@link Options#timeout}). A timeout throws
 * {@link UVStreamsTimeoutException} and a read that times out consumes
 * nothing. Reads are of one thread at a time (a second concurrent read
 * fails with EBUSY); writes may come from any thread. Each blocking call
 * waits on its own operation, so threads blocked on different streams are
 * independent, and {@link Thread#interrupt()} ends a wait with an {@link
 * java.io.InterruptedIOException} (nothing is lost: see {@link Op}).
 *
 * <p>{@link #close()} is graceful: it flushes what was written, waiting up
 * to {@link #CLOSE_WAIT} for that, then releases the stream; a read blocked
 * in another thread meanwhile returns as at EOF.
 */
public final class Stream implements AutoCloseable {
  /** How long {@link #close()} waits for the written data to go out. */
  public static final Duration CLOSE_WAIT = Duration.ofSeconds(5);

  private final AtomicLong handle;
  private volatile Duration timeout;
  private final SocketStreams.Input input = new SocketStreams.Input(this);
  private final SocketStreams.Output output = new SocketStreams.Output(this);

  Stream(long handle, Duration timeout) {
    this.handle = new AtomicLong(handle);
    this.timeout = timeout;
  }

  /** The stream as an {@link java.io.InputStream}, as {@link
   * java.net.Socket#getInputStream()} gives: read() is one byte or -1 at
   * EOF, read(b, off, len) at least one byte or -1, with this stream's
   * default timeout; closing it closes this stream. Always the same
   * object.
   *
   * @return the input view of this stream
   */
  public java.io.InputStream getInputStream() {
    return input;
  }

  /** The stream as an {@link java.io.OutputStream}, as {@link
   * java.net.Socket#getOutputStream()} gives: write buffers (never blocks),
   * flush() drains; closing it closes this stream. Always the same
   * object.
   *
   * @return the output view of this stream
   */
  public java.io.OutputStream getOutputStream() {
    return output;
  }

  /** The default timeout of the blocking calls (null: none).
   *
   * @param timeout the default timeout (null: none)
   */
  public void setTimeout(Duration timeout) {
    this.timeout = timeout;
  }

  /** The default timeout of the blocking calls (null: none).
   *
   * @return the default timeout, or null
   */
  public Duration getTimeout() {
    return timeout;
  }

  // ---- reading

  /** read(n): up to n bytes once any are there, all until EOF for n &lt; 0;
   * an empty array at EOF.
   *
   * @param n the most bytes to return; negative: read until EOF
   * @return the bytes, empty at EOF
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public byte[] read(long n) throws IOException {
    return read(n, timeout);
  }

  /** {@link #read(long)} with a timeout.
   *
   * @param n the most bytes to return; negative: read until EOF
   * @param timeout how long to wait (null: the stream's default timeout)
   * @return the bytes, empty at EOF
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public byte[] read(long n, Duration timeout) throws IOException {
    try (Op op = new Op(timeout)) {
      return op.finishRead(uvs_stream_read_start(handle(), n, op.handle), "read");
    }
  }

  /** A line with its "\n"; at EOF the partial line (empty at the end).
   * {@link LimitOverrunException} (the line is dropped) when longer than
   * the limit.
   *
   * @return the line, with its "\n" unless EOF came first
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public byte[] readLine() throws IOException {
    return readLine(timeout);
  }

  /** {@link #readLine()} with a timeout.
   *
   * @param timeout how long to wait (null: the stream's default timeout)
   * @return the line, with its "\n" unless EOF came first
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public byte[] readLine(Duration timeout) throws IOException {
    try (Op op = new Op(timeout)) {
      return op.finishRead(uvs_stream_readline_start(handle(), op.handle), "readline");
    }
  }

  /** Exactly n bytes, or {@link IncompleteReadException} with those read
   * when EOF comes first.
   *
   * @param n the number of bytes
   * @return the n bytes
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public byte[] readExactly(long n) throws IOException {
    return readExactly(n, timeout);
  }

  /** {@link #readExactly(long)} with a timeout.
   *
   * @param n the number of bytes
   * @param timeout how long to wait (null: the stream's default timeout)
   * @return the n bytes
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public byte[] readExactly(long n, Duration timeout) throws IOException {
    try (Op op = new Op(timeout)) {
      return op.finishRead(uvs_stream_readexactly_start(handle(), n, op.handle),
                           "readexactly");
    }
  }

  /** The bytes up to and including separator. {@link
   * LimitOverrunException} (nothing consumed) past the limit, {@link
   * IncompleteReadException} (the whole buffer) at EOF.
   *
   * @param separator the separator (not empty)
   * @return the bytes up to and including the separator
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public byte[] readUntil(byte[] separator) throws IOException {
    return readUntil(separator, timeout);
  }

  /** {@link #readUntil(byte[])} with a timeout.
   *
   * @param separator the separator (not empty)
   * @param timeout how long to wait (null: the stream's default timeout)
   * @return the bytes up to and including the separator
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public byte[] readUntil(byte[] separator, Duration timeout) throws IOException {
    try (Op op = new Op(timeout)) {
      return op.finishRead(uvs_stream_readuntil_start(handle(), separator, op.handle),
                           "readuntil");
    }
  }

  /** readUntil with several separators: the earliest end wins, ties go to
   * the shortest separator.
   *
   * @param separators the separators (none empty)
   * @param timeout how long to wait (null: the stream's default timeout)
   * @return the bytes up to and including the separator found
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public byte[] readUntilAny(List<byte[]> separators, Duration timeout)
      throws IOException {
    byte[][] seps = separators.toArray(new byte[0][]);
    try (Op op = new Op(timeout)) {
      return op.finishRead(uvs_stream_readuntil_any_start(handle(), seps, op.handle),
                           "readuntil");
    }
  }

  /** {@link #readUntilAny(List, Duration)} with the default timeout.
   *
   * @param separators the separators (none empty)
   * @return the bytes up to and including the separator found
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public byte[] readUntilAny(List<byte[]> separators) throws IOException {
    return readUntilAny(separators, timeout);
  }

  /** True once EOF was received and the buffer is empty.
   *
   * @return whether the stream is at EOF
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public boolean atEof() throws IOException {
    return Errors.check(uvs_stream_at_eof(handle())) == 1;
  }

  // ---- writing

  /** Buffers the bytes (sending what it can at once); never blocks. Once
   * the connection is closing or lost the bytes are dropped silently, as
   * asyncio does: {@link #drain()} reports the loss.
   *
   * @param data the bytes
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public void write(byte[] data) throws IOException {
    written(uvs_stream_write(handle(), data));
  }

  /** Writes len bytes of data from off.
   *
   * @param data the bytes
   * @param off the offset of the first byte to write
   * @param len how many bytes to write
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public void write(byte[] data, int off, int len) throws IOException {
    write(Arrays.copyOfRange(data, off, off + len));
  }

  /** writelines: several chunks in one call (as {@link #write(byte[])}).
   *
   * @param chunks the buffers, written in order
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public void writeLines(byte[]... chunks) throws IOException {
    written(uvs_stream_writev(handle(), chunks));
  }

  private static void written(int rc) throws IOException {
    if (rc != UVS_ECLOSED) {
      Errors.check(rc);
    }
  }

  /** Waits until the write buffer is at or below the low watermark (at once
   * while it is at or below the high one).
   *
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public void drain() throws IOException {
    drain(timeout);
  }

  /** {@link #drain()} with a timeout.
   *
   * @param timeout how long to wait (null: the stream's default timeout)
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public void drain(Duration timeout) throws IOException {
    try (Op op = new Op(timeout)) {
      op.finish(uvs_stream_drain_start(handle(), op.handle), "drain");
    }
  }

  /** Half-closes: the peer sees EOF once the buffered data is sent.
   *
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public void writeEof() throws IOException {
    Errors.check(uvs_stream_write_eof(handle()));
  }

  /** True when the transport supports {@link #writeEof()} (not TLS).
   *
   * @return whether writeEof is supported
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public boolean canWriteEof() throws IOException {
    return Errors.check(uvs_stream_can_write_eof(handle())) == 1;
  }

  /** Bytes written but not yet handed to the kernel.
   *
   * @return the number of buffered bytes
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public long getWriteBufferSize() throws IOException {
    return Errors.check(uvs_stream_write_buffer_size(handle()));
  }

  /** The write buffer's watermarks (high &gt;= low &gt;= 0; -1: default).
   *
   * @param high the high watermark in bytes
   * @param low the low watermark in bytes
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public void setWriteLimits(long high, long low) throws IOException {
    Errors.check(uvs_stream_set_write_limits(handle(), high, low));
  }

  /** Upgrades the stream to TLS as {@link Options#tls}'s side says; returns
   * once the handshake is done.
   *
   * @param options the TLS configuration ({@link Options#tls}) and its settings
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public void startTls(Options options) throws IOException {
    try (Options.Native n = Options.toNative(options); Op op = new Op(timeout)) {
      op.finish(uvs_stream_start_tls_start(handle(), n.handle, op.handle), "start_tls");
    }
  }

  // ---- closing

  /** Closes gracefully and releases the stream (idempotent); waits up to
   * {@link #CLOSE_WAIT} for the written data to be sent. */
  @Override
  public void close() {
    close(CLOSE_WAIT);
  }

  /** {@link #close()} waiting up to wait (null: for ever) for the data to
   * go out; errors of the connection are not reported.
   *
   * @param wait how long to wait (null: for ever)
   */
  public void close(Duration wait) {
    long h = handle.getAndSet(0);
    if (h == 0) {
      return;
    }
    uvs_stream_close(h);
    try (Op op = new Op(wait)) {
      op.finish(uvs_stream_wait_closed_start(h, op.handle), "close");
    } catch (IOException e) {
      // the stream is gone either way; a lost connection is not an error here
    } finally {
      uvs_stream_free(h);
    }
  }

  /** Closes at once: drops the write buffer, resets a TCP connection. */
  public void abort() {
    long h = handle.getAndSet(0);
    if (h != 0) {
      uvs_stream_abort(h);
      uvs_stream_free(h);
    }
  }

  /** Waits until the stream is closed (by {@link #beginClose}, the peer or
   * a loss), throwing the error that closed it, if any.
   *
   * @param timeout how long to wait (null: the stream's default timeout)
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public void waitClosed(Duration timeout) throws IOException {
    try (Op op = new Op(timeout)) {
      op.finish(uvs_stream_wait_closed_start(handle(), op.handle), "wait_closed");
    }
  }

  /** Starts a graceful close without releasing the stream (asyncio's
   * writer.close()): pending reads see EOF; {@link #waitClosed} waits.
   *
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public void beginClose() throws IOException {
    Errors.check(uvs_stream_close(handle()));
  }

  /** True once {@link #close()} or {@link #abort()} released the stream
   * (as {@link java.net.Socket#isClosed()}).
   *
   * @return whether the stream was released
   */
  public boolean isClosed() {
    return handle.get() == 0;
  }

  /** True once closing started or the connection was lost.
   *
   * @return whether closing started
   */
  public boolean isClosing() {
    return uvs_stream_is_closing(handle.get()) != 0;
  }

  // ---- information

  /** The peer's address: an {@link InetSocketAddress}, a {@link
   * UnixDomainSocketAddress}, or null when not applicable.
   *
   * @return the address, or null
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public SocketAddress getRemoteAddress() throws IOException {
    return address("peer");
  }

  /** The local address, as {@link #getRemoteAddress()}.
   *
   * @return the address, or null
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public SocketAddress getLocalAddress() throws IOException {
    return address("sock");
  }

  /** The peer's name: "host:port", "[v6]:port" or the socket's path.
   *
   * @return the name, empty when not applicable
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public Optional<String> getPeerName() throws IOException {
    return getExtraString("peername");
  }

  /** The local name, as {@link #getPeerName()}.
   *
   * @return the name, empty when not applicable
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public Optional<String> getSockName() throws IOException {
    return getExtraString("sockname");
  }

  /** An integer of the stream's extra information ("fd", "limit",
   * "peer.port", "tls.verified"...; uvstreams.h), empty when the key does
   * not apply.
   *
   * @param key the key (uvstreams.h lists them)
   * @return the value, empty when the key does not apply
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public OptionalLong getExtraInt(String key) throws IOException {
    long[] out = new long[1];
    int rc = uvs_stream_get_int(handle(), key, out);
    if (rc == UVS_ENOENT) {
      return OptionalLong.empty();
    }
    Errors.check(rc);
    return OptionalLong.of(out[0]);
  }

  /** A string of the stream's extra information ("kind", "peer.host",
   * "tls.version"...), empty when the key does not apply.
   *
   * @param key the key (uvstreams.h lists them)
   * @return the value, empty when the key does not apply
   * @throws IOException the library's error (a {@link UVStreamsError})
   */
  public Optional<String> getExtraString(String key) throws IOException {
    String[] out = new String[1];
    int rc = uvs_stream_get_str(handle(), key, out);
    if (rc == UVS_ENOENT) {
      return Optional.empty();
    }
    Errors.check(rc);
    return Optional.ofNullable(out[0]);
  }

  private SocketAddress address(String side) throws IOException {
    Optional<String> path = getExtraString(side + ".path");
    if (path.isPresent()) {
      return UnixDomainSocketAddress.of(path.get());
    }
    Optional<String> host = getExtraString(side + ".host");
    OptionalLong port = getExtraInt(side + ".port");
    if (host.isEmpty() || port.isEmpty()) {
      return null;
    }
    return new InetSocketAddress(host.get(), (int) port.getAsLong());
  }

  private long handle() {
    return handle.get();
  }

  @Override
  public String toString() {
    long h = handle.get();
    if (h == 0) {
      return "Stream[closed]";
    }
    String[] name = new String[1];
    uvs_stream_get_str(h, "peername", name);
    return "Stream[" + name[0] + "]";
  }
}
