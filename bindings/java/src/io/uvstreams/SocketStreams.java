package io.uvstreams;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.SocketException;
import java.util.Objects;

/**
 * The {@link InputStream} and {@link OutputStream} views of a {@link
 * Stream}, with {@link java.net.Socket}'s semantics, so code written for a
 * socket's streams (BufferedReader, DataInputStream.readFully, PrintWriter)
 * runs unchanged.
 *
 * <p>Design: the views hold no buffer of their own; each call maps onto one
 * call of the stream, so they can be mixed with the stream's own reads and
 * writes. read(b, off, len) is the stream's read(len) (at least one byte, -1
 * at EOF), read() the same for one byte; both use the stream's default
 * timeout (Socket's SO_TIMEOUT), whose {@link UVStreamsTimeoutException} is a
 * {@link java.net.SocketTimeoutException}. write never blocks (the engine
 * buffers); flush drains, which is where a writer waits for a slow peer.
 * Closing either view closes the stream, as closing a socket's stream
 * closes the socket; a view of a closed stream throws "Socket closed".
 */
final class SocketStreams {
  private SocketStreams() {}

  private static void ensureOpen(Stream stream) throws SocketException {
    if (stream.isClosed()) {
      throw new SocketException("Socket closed");
    }
  }

  static final class Input extends InputStream {
    private final Stream stream;

    Input(Stream stream) {
      this.stream = stream;
    }

    @Override
    public int read() throws IOException {
      ensureOpen(stream);
      byte[] got = stream.read(1);
      return got.length == 0 ? -1 : got[0] & 0xFF;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      Objects.checkFromIndexSize(off, len, b.length);
      ensureOpen(stream);
      if (len == 0) {
        return 0;
      }
      byte[] got = stream.read(len);
      if (got.length == 0) {
        return -1;
      }
      System.arraycopy(got, 0, b, off, got.length);
      return got.length;
    }

    /** The bytes received and not yet read (those still in the kernel,
     * with direct reads, are not counted: an estimate, as the contract
     * allows). */
    @Override
    public int available() throws IOException {
      ensureOpen(stream);
      long buffered = stream.getExtraInt("read_buffer_size").orElse(0);
      return (int) Math.min(Integer.MAX_VALUE, buffered);
    }

    @Override
    public void close() {
      stream.close();
    }
  }

  static final class Output extends OutputStream {
    private final Stream stream;

    Output(Stream stream) {
      this.stream = stream;
    }

    @Override
    public void write(int b) throws IOException {
      ensureOpen(stream);
      stream.write(new byte[] {(byte) b});
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      Objects.checkFromIndexSize(off, len, b.length);
      ensureOpen(stream);
      stream.write(b, off, len);
    }

    /** Waits until the peer has taken the written bytes down to the low
     * watermark (the stream's drain, with its default timeout). */
    @Override
    public void flush() throws IOException {
      ensureOpen(stream);
      stream.drain();
    }

    @Override
    public void close() {
      stream.close();
    }
  }
}
