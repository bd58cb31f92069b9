package io.uvstreams;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;

import io.uvstreams.Scenarios.Scenario;
import io.uvstreams.Scenarios.Step;
import java.util.List;
import org.junit.Test;

/** The conformance runner's parser on the forms of FORMAT.md. */
public class ScenariosTest {
  private static byte[] b(String s) {
    return s.getBytes(US_ASCII);
  }

  @Test
  public void decodesBytesTokens() {
    assertArrayEquals(new byte[0], Scenarios.decode("-", 1));
    assertArrayEquals(b("ab\nab\nab\n"), Scenarios.decode("*3:ab%0A", 1));
    assertArrayEquals(new byte[] {'k', '=', (byte) 0xff, ' '}, Scenarios.decode("k%3D%fF%20", 1));
  }

  @Test(expected = Scenarios.FormatError.class)
  public void rejectsATruncatedEscape() {
    Scenarios.decode("abc%4", 1);
  }

  @Test
  public void parsesStepsOptionsRepeatsAndExpectations() {
    List<Scenario> all = Scenarios.parse(List.of(
        "# comment", "scenario one", "connect unix limit=3", "peer send x%0A",
        "  repeat 2 readline timeout=50 => x%0A  ", "readexactly 5 => !incomplete partial=- expected=5",
        "", "scenario two", "connect_refused => !refused"));
    assertEquals(2, all.size());
    List<Step> steps = all.get(0).steps;
    assertEquals(List.of("unix"), steps.get(0).args);
    assertEquals("3", steps.get(0).opts.get("limit"));
    assertEquals(2, steps.get(1).repeat);
    assertEquals("50", steps.get(1).opts.get("timeout"));
    assertArrayEquals(b("x\n"), steps.get(1).expect.value);
    assertEquals("incomplete", steps.get(2).expect.kind);
    assertEquals("5", steps.get(2).expect.attrs.get("expected"));
    assertEquals(5, steps.get(2).intArg(0));
    assertEquals("refused", all.get(1).steps.get(0).expect.kind);
  }

  @Test(expected = Scenarios.FormatError.class)
  public void rejectsAnUnknownStep() {
    Scenarios.parse(List.of("scenario x", "connect", "frobnicate"));
  }

  @Test(expected = Scenarios.FormatError.class)
  public void rejectsAScenarioNotStartingWithConnect() {
    Scenarios.parse(List.of("scenario x", "readline"));
  }
}
