package io.uvstreams;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertSame;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.BufferedReader;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.net.SocketTimeoutException;
import java.time.Duration;
import org.junit.After;
import org.junit.Before;
import org.junit.Test;

/**
 * {@link Stream#getInputStream()} and {@link Stream#getOutputStream()}, used
 * as code written for {@link java.net.Socket} uses a socket's: wrapped in a
 * BufferedReader / PrintWriter, a DataInputStream / DataOutputStream, read
 * a byte at a time; -1 at EOF, available(), flush() that drains, and a
 * close of either view that closes the stream (as Socket's do).
 */
public class SocketStreamsTest {
  static final Duration WAIT = Duration.ofSeconds(10);

  private Engine engine;

  @Before
  public void setUp() throws IOException {
    engine = new Engine();
  }

  @After
  public void tearDown() {
    engine.close();
  }

  /** A server echoing each line (upper-cased) until EOF, through views. */
  private Server upperEcho() throws IOException {
    return engine.listen("127.0.0.1", 0).start(s -> {
      BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), UTF_8));
      PrintWriter out = new PrintWriter(s.getOutputStream(), true);
      for (String line = in.readLine(); line != null; line = in.readLine()) {
        out.println(line.toUpperCase());
      }
    });
  }

  private Stream connect(Server server) throws IOException {
    return engine.connect("127.0.0.1", server.getPort(), new Options().timeout(WAIT));
  }

  @Test
  public void bufferedReaderAndPrintWriterRoundTrip() throws IOException {
    try (Server server = upperEcho(); Stream s = connect(server)) {
      assertSame(s.getInputStream(), s.getInputStream());
      assertSame(s.getOutputStream(), s.getOutputStream());
      BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), UTF_8));
      PrintWriter out = new PrintWriter(s.getOutputStream(), true);
      for (int i = 0; i < 200; i++) {
        out.println("line " + i + " \u00e9");
        assertEquals("LINE " + i + " \u00c9", in.readLine());
      }
      s.writeEof();
      assertNull(in.readLine());
    }
  }

  @Test
  public void dataStreamsReadFullyAndEof() throws Exception {
    byte[] payload = new byte[300_000];
    for (int i = 0; i < payload.length; i++) {
      payload[i] = (byte) (i * 31);
    }
    try (Server server = engine.listen("127.0.0.1", 0).start(s -> {
           DataOutputStream out = new DataOutputStream(s.getOutputStream());
           out.writeInt(payload.length);
           out.write(payload);
           out.writeUTF("end");
           out.flush();
         });
         Stream s = connect(server)) {
      DataInputStream in = new DataInputStream(s.getInputStream());
      byte[] got = new byte[in.readInt()];
      in.readFully(got);
      assertArrayEquals(payload, got);
      assertEquals("end", in.readUTF());
      assertEquals(-1, in.read());
      assertEquals(-1, in.read(new byte[4], 0, 4));
      try {
        in.readFully(new byte[1]);
        fail("readFully after EOF");
      } catch (EOFException expected) {
        // as a Socket's
      }
    }
  }

  @Test
  public void singleBytesAvailableAndZeroLength() throws Exception {
    try (Server server = engine.listen("127.0.0.1", 0).start(s -> {
           s.getOutputStream().write(new byte[] {(byte) 0xFF, 'a', 'b', 'c'});
           s.getOutputStream().write('d');
           s.getOutputStream().flush();
         });
         Stream s = connect(server)) {
      InputStream in = s.getInputStream();
      assertEquals(0xFF, in.read()); // unsigned, as InputStream says
      int estimate = in.available(); // what was received and not read
      assertTrue(estimate >= 0 && estimate <= 4);
      assertEquals(0, in.read(new byte[4], 0, 0));
      byte[] buf = new byte[10];
      int n = 0;
      for (int got; n < 4 && (got = in.read(buf, 3 + n, 7 - n)) > 0; n += got) {
      }
      assertEquals(4, n);
      assertArrayEquals("abcd".getBytes(US_ASCII), java.util.Arrays.copyOfRange(buf, 3, 7));
      assertEquals(-1, in.read());
      assertEquals(0, in.available());
    }
  }

  @Test
  public void readTimeoutIsASocketTimeout() throws IOException {
    try (Server server = upperEcho(); Stream s = connect(server)) {
      s.setTimeout(Duration.ofMillis(200));
      try {
        s.getInputStream().read();
        fail("no timeout");
      } catch (SocketTimeoutException expected) {
        // Socket.setSoTimeout's exception
      }
      s.setTimeout(WAIT);
      new PrintWriter(s.getOutputStream(), true).println("after");
      assertEquals("AFTER\n", new String(s.readLine(), US_ASCII));
    }
  }

  @Test
  public void closingAViewClosesTheStream() throws IOException {
    try (Server server = upperEcho()) {
      Stream s = connect(server);
      InputStream in = s.getInputStream();
      OutputStream out = s.getOutputStream();
      in.close();
      assertTrue(s.isClosed());
      try {
        out.write('x');
        fail("write after close");
      } catch (IOException expected) {
        // "Socket closed"
      }
      try {
        in.read();
        fail("read after close");
      } catch (IOException expected) {
        // "Socket closed"
      }
      in.close(); // idempotent
      Stream t = connect(server);
      t.getOutputStream().close();
      assertTrue(t.isClosed());
    }
  }
}
