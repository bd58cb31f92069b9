package io.uvstreams;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.After;
import org.junit.Before;
import org.junit.Test;

/**
 * The blocking API end to end on loopback: a {@link Server} of the binding
 * plays the peer (its handlers run on their own threads), a client {@link
 * Stream} checks reads, writes, errors, timeouts, interrupts and names.
 * Each test gets a fresh engine; every wait is bounded so that a hang
 * fails the test instead of the run.
 */
public class StreamTest {
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

  static byte[] b(String s) {
    return s.getBytes(US_ASCII);
  }

  /** A server sending reply then closing, for each connection. */
  private Server sending(String reply) throws IOException {
    return engine.listen("127.0.0.1", 0).start(s -> {
      s.write(b(reply));
      s.drain(WAIT);
    });
  }

  private Stream connect(Server server) throws IOException {
    return engine.connect("127.0.0.1", server.getPort(), new Options().timeout(WAIT));
  }

  @Test
  public void echoesLines() throws IOException {
    try (Server server = engine.listen("127.0.0.1", 0).start(s -> {
           for (byte[] line = s.readLine(); line.length > 0; line = s.readLine()) {
             s.write(line);
           }
         });
         Stream s = connect(server)) {
      for (String word : List.of("hello", "blocking", "world")) {
        s.write(b(word + "\n"));
        assertArrayEquals(b(word + "\n"), s.readLine());
      }
    }
  }

  @Test
  public void streamsAreReadByTheWaitingThread() throws Exception {
    CompletableFuture<Long> accepted = new CompletableFuture<>();
    try (Server server = engine.listen("127.0.0.1", 0).start(s -> {
           accepted.complete(s.getExtraInt("direct_reads").orElse(-1));
           s.write(s.readLine());
         });
         Stream s = connect(server)) {
      assertEquals(1, s.getExtraInt("direct_reads").getAsLong());
      s.write(b("ping\n"));
      assertArrayEquals(b("ping\n"), s.readLine());
      assertEquals(Long.valueOf(1), accepted.get(5, TimeUnit.SECONDS));
    }
  }

  @Test
  public void readsEveryWay() throws IOException {
    try (Server server = sending("line\nABCDEFxyz--rest");
         Stream s = connect(server)) {
      assertArrayEquals(b("line\n"), s.readLine());
      assertArrayEquals(b("ABC"), s.readExactly(3));
      assertArrayEquals(b("DEF"), s.read(3));
      assertArrayEquals(b("xyz--"), s.readUntil(b("--")));
      assertArrayEquals(b("rest"), s.read(-1));
      assertArrayEquals(new byte[0], s.read(10));
      assertTrue(s.atEof());
    }
  }

  @Test
  public void readUntilAnyTakesTheEarliestEnd() throws IOException {
    try (Server server = sending("a;b,c");
         Stream s = connect(server)) {
      assertArrayEquals(b("a;"), s.readUntilAny(List.of(b(","), b(";"))));
    }
  }

  @Test
  public void incompleteReadCarriesThePartialBytes() throws IOException {
    try (Server server = sending("abc");
         Stream s = connect(server)) {
      IncompleteReadException e = expect(IncompleteReadException.class, () -> s.readExactly(10));
      assertArrayEquals(b("abc"), e.getPartial());
      assertEquals(10, e.getExpected());
      assertEquals("EINCOMPLETE", e.getCodeName());
    }
  }

  @Test
  public void incompleteReadUntilHasNoExpectedSize() throws IOException {
    try (Server server = sending("no separator");
         Stream s = connect(server)) {
      IncompleteReadException e = expect(IncompleteReadException.class, () -> s.readUntil(b("|")));
      assertArrayEquals(b("no separator"), e.getPartial());
      assertEquals(-1, e.getExpected());
    }
  }

  @Test
  public void limitOverrunConsumesNothing() throws IOException {
    try (Server server = sending("0123456789abcdefghij|");
         Stream s = engine.connect("127.0.0.1", server.getPort(), new Options().limit(8))) {
      LimitOverrunException e = expect(LimitOverrunException.class, () -> s.readUntil(b("|")));
      assertTrue("consumed " + e.getConsumed(), e.getConsumed() >= 8);
      assertEquals("ELIMIT", e.getCodeName());
      assertArrayEquals(b("0123"), s.readExactly(4, WAIT));
    }
  }

  @Test
  public void readLineOverTheLimitDropsTheLine() throws IOException {
    try (Server server = sending("0123456789abcdef\nok\n");
         Stream s = engine.connect("127.0.0.1", server.getPort(), new Options().limit(8))) {
      expect(LimitOverrunException.class, () -> s.readLine(WAIT));
      assertArrayEquals(b("ok\n"), s.readLine(WAIT));
    }
  }

  @Test
  public void timeoutConsumesNothing() throws Exception {
    CountDownLatch go = new CountDownLatch(1);
    try (Server server = engine.listen("127.0.0.1", 0).start(s -> {
           go.await();
           s.write(b("late\n"));
           s.drain(WAIT);
         });
         Stream s = connect(server)) {
      UVStreamsTimeoutException e =
          expect(UVStreamsTimeoutException.class, () -> s.readLine(Duration.ofMillis(50)));
      assertTrue(e instanceof SocketTimeoutException);
      assertEquals("ETIMEDOUT", e.getCodeName());
      go.countDown();
      assertArrayEquals(b("late\n"), s.readLine());
    }
  }

  @Test
  public void refusedConnectionIsAConnectException() throws IOException {
    int port;
    try (Server server = engine.listen("127.0.0.1", 0)) {
      port = server.getPort();
    }
    ConnectionRefusedException e = expect(ConnectionRefusedException.class,
                                          () -> engine.connect("127.0.0.1", port));
    assertTrue(e instanceof ConnectException);
    assertEquals("ECONNREFUSED", e.getCodeName());
    assertTrue(e.getMessage(), e.getMessage().startsWith("ECONNREFUSED: "));
  }

  @Test
  public void invalidArgumentIsUnchecked() throws IOException {
    try (Server server = sending("");
         Stream s = connect(server)) {
      InvalidArgumentException e = expect(InvalidArgumentException.class, () -> s.readExactly(-1));
      assertEquals("EINVAL", e.getCodeName());
    }
  }

  @Test
  public void twoThreadsBlockInReadsAtOnce() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    BlockingQueue<Object> results = new ArrayBlockingQueue<>(2);
    try (Server server = engine.listen("127.0.0.1", 0).start(s -> {
           release.await();
           s.write(b("hi\n"));
           s.drain(WAIT);
         });
         Stream a = connect(server);
         Stream b = connect(server)) {
      Thread[] readers = {reader(a, results), reader(b, results)};
      Thread.sleep(300);
      for (Thread t : readers) {
        assertTrue("a reader finished before the data was sent", t.isAlive());
      }
      assertTrue(results.isEmpty());
      release.countDown();
      for (int i = 0; i < 2; i++) {
        assertEquals("hi\n", results.poll(10, TimeUnit.SECONDS));
      }
    }
  }

  private static Thread reader(Stream s, BlockingQueue<Object> results) {
    Thread t = new Thread(() -> {
      try {
        results.add(new String(s.readLine(), US_ASCII));
      } catch (IOException e) {
        results.add(e);
      }
    });
    t.start();
    return t;
  }

  @Test
  public void interruptEndsABlockedReadAndLosesNothing() throws Exception {
    CountDownLatch go = new CountDownLatch(1);
    BlockingQueue<Object> results = new ArrayBlockingQueue<>(2);
    try (Server server = engine.listen("127.0.0.1", 0).start(s -> {
           go.await();
           s.write(b("kept\n"));
           s.drain(WAIT);
         });
         Stream s = connect(server)) {
      Thread t = new Thread(() -> {
        try {
          results.add(s.readLine());
        } catch (IOException e) {
          results.add(e);
          results.add(Thread.currentThread().isInterrupted());
        }
      });
      t.start();
      Thread.sleep(200);
      t.interrupt();
      t.join(10000);
      assertTrue(results.poll() instanceof InterruptedIOException);
      assertEquals("the interrupt status is kept", true, results.poll());
      go.countDown();
      assertArrayEquals(b("kept\n"), s.readLine());
    }
  }

  @Test
  public void writeEofReachesThePeer() throws IOException {
    try (Server server = engine.listen("127.0.0.1", 0).start(s -> {
           byte[] all = s.read(-1);
           s.write(b(all.length + " bytes\n"));
         });
         Stream s = connect(server)) {
      assertTrue(s.canWriteEof());
      s.writeLines(b("one "), b("two "), b("three"));
      s.writeEof();
      assertArrayEquals(b("13 bytes\n"), s.readLine());
      expect(UVStreamsException.class, () -> {
        s.write(b("more"));
        return null;
      });
    }
  }

  @Test
  public void drainsALargeWrite() throws IOException {
    byte[] big = new byte[4 << 20];
    Arrays.fill(big, (byte) 'x');
    try (Server server = engine.listen("127.0.0.1", 0).start(s -> {
           byte[] got = s.readExactly(big.length, WAIT);
           s.write(b(got.length + "\n"));
         });
         Stream s = connect(server)) {
      s.write(big);
      s.drain();
      assertTrue(s.getWriteBufferSize() <= 65536);
      assertEquals(4 << 20, Integer.parseInt(new String(s.readLine(), US_ASCII).strip()));
    }
  }

  @Test
  public void closeWakesABlockedReader() throws Exception {
    BlockingQueue<Object> results = new ArrayBlockingQueue<>(1);
    try (Server server = sending("")) {
      Stream s = connect(server);
      CountDownLatch started = new CountDownLatch(1);
      Thread t = new Thread(() -> {
        started.countDown();
        try {
          results.add(s.readLine());
        } catch (IOException e) {
          results.add(e);
        }
      });
      t.start();
      started.await();
      s.close();
      Object r = results.poll(10, TimeUnit.SECONDS);
      assertTrue(String.valueOf(r), r instanceof byte[] || r instanceof IOException);
      assertEquals("Stream[closed]", s.toString());
    }
  }

  @Test
  public void resetByThePeerIsConnectionReset() throws Exception {
    try (Server server = engine.listen("127.0.0.1", 0).start(Stream::abort);
         Stream s = connect(server)) {
      ConnectionResetException e = expect(ConnectionResetException.class, () -> s.read(-1));
      assertEquals("ECONNRESET", e.getCodeName());
    }
  }

  @Test
  public void aSecondConcurrentReadIsBusy() throws Exception {
    try (Server server = engine.listen("127.0.0.1", 0).start(s -> s.read(-1));
         Stream s = connect(server)) {
      Thread t = new Thread(() -> {
        try {
          s.readLine(Duration.ofSeconds(2));
        } catch (IOException e) {
          // the timeout ends this first read
        }
      });
      t.start();
      Thread.sleep(100);
      UVStreamsException e = expect(UVStreamsException.class, () -> s.read(1));
      assertEquals("EBUSY", e.getCodeName());
      t.interrupt();
      t.join();
    }
  }

  @Test
  public void beginCloseThenWaitClosed() throws IOException {
    try (Server server = engine.listen("127.0.0.1", 0).start(s -> s.read(-1));
         Stream s = connect(server)) {
      s.write(b("0123456789"), 2, 3);
      s.beginClose();
      assertTrue(s.isClosing());
      s.waitClosed(WAIT);
      assertArrayEquals(new byte[0], s.read(1));
    }
  }

  @Test
  public void namesTheEnds() throws IOException {
    try (Server server = sending("");
         Stream s = connect(server)) {
      int port = server.getPort();
      assertEquals("127.0.0.1:" + port, s.getPeerName().orElseThrow());
      assertEquals(new InetSocketAddress("127.0.0.1", port), s.getRemoteAddress());
      InetSocketAddress local = (InetSocketAddress) s.getLocalAddress();
      assertEquals("127.0.0.1:" + local.getPort(), s.getSockName().orElseThrow());
      assertEquals("tcp", s.getExtraString("kind").orElseThrow());
      assertFalse(s.getExtraString("peer.path").isPresent());
      assertEquals(65536, s.getExtraInt("limit").getAsLong());
      assertEquals(List.of(new InetSocketAddress("127.0.0.1", port)), server.getAddresses());
    }
  }

  @Test
  public void unixSockets() throws Exception {
    Path dir = Files.createTempDirectory("uvs-java");
    Path path = dir.resolve("echo.sock");
    try (Server server = engine.listenUnix(path, null).start(s -> s.write(s.readLine()));
         Stream s = engine.connectUnix(path, new Options().timeout(WAIT))) {
      assertEquals(List.of(UnixDomainSocketAddress.of(path)), server.getAddresses());
      assertEquals(UnixDomainSocketAddress.of(path), s.getRemoteAddress());
      s.write(b("over unix\n"));
      assertArrayEquals(b("over unix\n"), s.readLine());
    } finally {
      Files.deleteIfExists(path);
      Files.delete(dir);
    }
  }

  @Test
  public void acceptTimesOutAndServerCloseEndsTheLoop() throws IOException {
    try (Server server = engine.listen("127.0.0.1", 0)) {
      expect(UVStreamsTimeoutException.class, () -> server.accept(Duration.ofMillis(50)));
      try (Stream c = connect(server); Stream s = server.accept(WAIT)) {
        assertEquals(1, server.getClientCount());
        c.write(b("x"));
        assertArrayEquals(b("x"), s.read(1));
      }
    }
  }

  @Test
  public void engineCloseEndsBlockedCalls() throws Exception {
    BlockingQueue<Object> results = new ArrayBlockingQueue<>(1);
    Server server = engine.listen("127.0.0.1", 0);
    Stream s = connect(server);
    Thread t = new Thread(() -> {
      try {
        results.add(s.readLine());
      } catch (IOException e) {
        results.add(e);
      }
    });
    t.start();
    Thread.sleep(100);
    engine.close();
    Object r = results.poll(10, TimeUnit.SECONDS);
    assertTrue(String.valueOf(r), r instanceof byte[] || r instanceof UVStreamsException);
    s.close();
    server.close();
  }

  interface Call {
    Object run() throws Exception;
  }

  /** The exception of type kind that call throws. */
  static <T extends Throwable> T expect(Class<T> kind, Call call) {
    try {
      Object r = call.run();
      fail("expected " + kind.getSimpleName() + ", got " + r);
      return null;
    } catch (Exception e) {
      if (!kind.isInstance(e)) {
        throw new AssertionError("expected " + kind.getSimpleName() + ", got " + e, e);
      }
      return kind.cast(e);
    }
  }
}
