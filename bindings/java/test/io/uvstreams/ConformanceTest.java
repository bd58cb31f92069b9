package io.uvstreams;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import io.uvstreams.Scenarios.Expect;
import io.uvstreams.Scenarios.Scenario;
import io.uvstreams.Scenarios.Step;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.AfterClass;
import org.junit.BeforeClass;
import org.junit.Test;
import org.junit.AssumptionViolatedException;
import org.junit.runner.RunWith;
import org.junit.runners.Parameterized;
import org.junit.runners.Parameterized.Parameters;

/**
 * The shared conformance scenarios (tests/conformance/scenarios.txt, format
 * in tests/conformance/FORMAT.md) against the blocking Java API: one JUnit
 * test per scenario, named after it, run in the file's order.
 *
 * <p>Only meaningful under tests/conformance/run.sh (make test-java), which
 * starts the reference peer and sets the UVS_CONFORMANCE_* variables:
 * without them, or when the file holds no scenario, the run fails. Each
 * step is one call of the public API; a step without timeout= gets the
 * 30 s safety timeout, so a hang fails its scenario.
 */
@RunWith(Parameterized.class)
public class ConformanceTest {
  private static final Duration SAFETY = Duration.ofSeconds(30);
  /**
   * Scenarios failing because of the engine, not this binding (reported
   * with a C reproduction): when one fails it is shown on stderr and marked
   * skipped (JUnit's assumption failure), and run.sh is told to expect the
   * peer's failures for it; when it passes it counts as passed.
   */
  private static final Map<String, String> ENGINE_BUGS = Map.of(); // none open
  private static final AtomicInteger PLAYED = new AtomicInteger();
  private static final AtomicInteger BUGS_HIT = new AtomicInteger();
  private static Engine engine;

  private final Scenario scenario;
  private Stream stream;

  public ConformanceTest(Scenario scenario) {
    this.scenario = scenario;
  }

  @Parameters(name = "{0}")
  public static Collection<Object[]> scenarios() throws IOException {
    List<Scenario> all = Scenarios.load(Path.of(env("UVS_CONFORMANCE_SCENARIOS")));
    String only = System.getenv("UVS_CONFORMANCE_ONLY");
    List<Object[]> out = new ArrayList<>();
    for (Scenario sc : all) {
      if (only == null || only.isEmpty() || only.equals(sc.name)) {
        out.add(new Object[] {sc});
      }
    }
    if (out.isEmpty()) {
      throw new IllegalStateException("no scenario found (only: " + only + ")");
    }
    recordExpectedFailures();
    return out;
  }

  /** Tells run.sh which scenarios may fail here (FORMAT.md, Running). */
  private static void recordExpectedFailures() throws IOException {
    String path = System.getenv("UVS_CONFORMANCE_EXPECTED_FAILURES");
    if (path != null && !path.isEmpty()) {
      Files.write(Path.of(path), ENGINE_BUGS.keySet(), StandardOpenOption.APPEND,
                  StandardOpenOption.CREATE);
    }
  }

  private static String env(String name) {
    String value = System.getenv(name);
    if (value == null || value.isEmpty()) {
      throw new IllegalStateException(name + " is not set: run under tests/conformance/run.sh");
    }
    return value;
  }

  @BeforeClass
  public static void startEngine() throws IOException {
    engine = new Engine();
  }

  @AfterClass
  public static void stopEngine() {
    engine.close();
    System.err.println("conformance java: " + PLAYED.get() + " scenarios played, "
                       + BUGS_HIT.get() + " failed on a known engine bug");
  }

  @Test
  public void scenario() throws Exception {
    PLAYED.incrementAndGet();
    try {
      play();
    } catch (AssertionError e) {
      String bug = ENGINE_BUGS.get(scenario.name);
      if (bug == null) {
        throw e;
      }
      BUGS_HIT.incrementAndGet();
      System.err.println("KNOWN ENGINE BUG, scenario " + scenario.name + ": " + bug
                         + "\n  failure: " + e.getMessage());
      throw new AssumptionViolatedException("known engine bug: " + bug, e);
    }
  }

  private void play() {
    try {
      for (Step step : scenario.steps) {
        for (int i = 0; i < step.repeat; i++) {
          check(step, perform(step));
        }
      }
    } finally {
      if (stream != null) {
        stream.close();
      }
    }
  }

  /** Performs a step: the bytes of a read, null otherwise, or the
   * exception the call threw. */
  private Object perform(Step step) {
    try {
      return call(step);
    } catch (IOException | IllegalArgumentException e) {
      return e;
    }
  }

  private byte[] call(Step step) throws IOException {
    Duration timeout = step.opts.containsKey("timeout")
        ? Duration.ofMillis(Long.parseLong(step.opts.get("timeout"))) : SAFETY;
    switch (step.name) {
      case "connect":
        connect(step);
        return null;
      case "connect_refused":
        engine.connect(env("UVS_CONFORMANCE_HOST"),
                       Integer.parseInt(env("UVS_CONFORMANCE_CLOSED_PORT")),
                       new Options().timeout(SAFETY)).close();
        return null;
      case "write":
        stream.write(step.bytesArg(0));
        return null;
      case "writelines":
        stream.writeLines(bytesArgs(step));
        return null;
      case "drain":
        stream.drain(timeout);
        return null;
      case "write_eof":
        stream.writeEof();
        return null;
      case "close":
        stream.close(SAFETY);
        stream = null;
        return null;
      default:
        return read(step, timeout);
    }
  }

  private byte[] read(Step step, Duration timeout) throws IOException {
    switch (step.name) {
      case "read":
        return stream.read(step.intArg(0), timeout);
      case "readline":
        return stream.readLine(timeout);
      case "readexactly":
        return stream.readExactly(step.intArg(0), timeout);
      case "readuntil":
        return stream.readUntil(step.bytesArg(0), timeout);
      case "readuntil_any":
        return stream.readUntilAny(List.of(bytesArgs(step)), timeout);
      default:
        throw new AssertionError("unknown step " + step.name);
    }
  }

  private static byte[][] bytesArgs(Step step) {
    byte[][] out = new byte[step.args.size()][];
    for (int i = 0; i < out.length; i++) {
      out[i] = step.bytesArg(i);
    }
    return out;
  }

  /** Opens the stream with the step's options and says hello to the peer. */
  private void connect(Step step) throws IOException {
    Options options = new Options().timeout(SAFETY);
    for (Map.Entry<String, String> o : step.opts.entrySet()) {
      long v = Long.parseLong(o.getValue());
      switch (o.getKey()) {
        case "limit":
          options.limit(v);
          break;
        case "write_high":
          options.writeHigh(v);
          break;
        case "write_low":
          options.writeLow(v);
          break;
        default:
          throw new AssertionError(step + ": unknown option " + o.getKey());
      }
    }
    if (step.args.contains("unix")) {
      stream = engine.connectUnix(Path.of(env("UVS_CONFORMANCE_UNIX")), options);
    } else {
      stream = engine.connect(env("UVS_CONFORMANCE_HOST"),
                              Integer.parseInt(env("UVS_CONFORMANCE_PORT")), options);
    }
    stream.write(("SCENARIO " + scenario.name + "\n").getBytes(StandardCharsets.US_ASCII));
    stream.drain(SAFETY);
  }

  /** Compares what a step gave with its expectation. */
  private static void check(Step step, Object got) {
    Expect expect = step.expect;
    String where = step + ": expected " + expect + ", got ";
    if (!expect.isError()) {
      if (got instanceof Exception) {
        throw new AssertionError(where + got, (Exception) got);
      }
      if (expect.kind.equals("bytes")) {
        assertArrayEquals(where + Scenarios.show((byte[]) got), expect.value, (byte[]) got);
      }
      return;
    }
    if (!(got instanceof Exception)) {
      fail(where + (got == null ? "success" : Scenarios.show((byte[]) got)));
    }
    Exception e = (Exception) got;
    assertTrue(where + e, kindOf(expect.kind).isInstance(e));
    checkAttributes(step, e, where + e);
  }

  private static Class<?> kindOf(String kind) {
    switch (kind) {
      case "incomplete":
        return IncompleteReadException.class;
      case "limit_overrun":
        return LimitOverrunException.class;
      case "timeout":
        return UVStreamsTimeoutException.class;
      case "refused":
        return ConnectionRefusedException.class;
      case "reset":
        return ConnectionResetException.class;
      case "invalid":
        return InvalidArgumentException.class;
      default:
        throw new AssertionError("unknown kind " + kind);
    }
  }

  private static void checkAttributes(Step step, Exception e, String where) {
    for (Map.Entry<String, String> a : step.expect.attrs.entrySet()) {
      String value = a.getValue();
      switch (a.getKey()) {
        case "partial":
          assertArrayEquals(where, Scenarios.decode(value, step.line),
                            ((IncompleteReadException) e).getPartial());
          break;
        case "expected":
          long expected = value.equals("none") ? -1 : Scenarios.parseInt(value, step.line);
          assertEquals(where, expected, ((IncompleteReadException) e).getExpected());
          break;
        case "consumed":
          if (!step.name.equals("readline")) {
            assertEquals(where, Scenarios.parseInt(value, step.line),
                         ((LimitOverrunException) e).getConsumed());
          }
          break;
        default:
          throw new AssertionError("unknown attribute " + a.getKey());
      }
    }
  }
}
