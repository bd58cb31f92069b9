package io.uvstreams;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.Test;

/**
 * Runs the examples of examples/java as a user would, each in its own JVM
 * with this JVM's class path and library path: EchoServer on a free port,
 * then EchoClient against it, checking what they print.
 */
public class ExamplesTest {
  private static Process java(String main, String... args) throws IOException {
    List<String> cmd = new ArrayList<>(List.of(
        System.getProperty("java.home") + File.separator + "bin" + File.separator + "java",
        "-Djava.library.path=" + System.getProperty("java.library.path"),
        "-cp", System.getProperty("java.class.path"), main));
    cmd.addAll(List.of(args));
    return new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
  }

  private static List<String> lines(Process p) throws IOException {
    List<String> out = new ArrayList<>();
    try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), UTF_8))) {
      for (String line = r.readLine(); line != null; line = r.readLine()) {
        out.add(line);
      }
    }
    return out;
  }

  @Test
  public void echoClientTalksToEchoServer() throws Exception {
    Process server = java("EchoServer", "0");
    try {
      BufferedReader out = new BufferedReader(new InputStreamReader(server.getInputStream(), UTF_8));
      String ready = out.readLine();
      assertTrue(String.valueOf(ready), ready != null && ready.startsWith("listening on 127.0.0.1:"));
      String port = ready.substring(ready.lastIndexOf(':') + 1);
      Process client = java("EchoClient", "127.0.0.1", port, "hello", "from", "java");
      List<String> printed = lines(client);
      assertTrue("the client did not finish", client.waitFor(30, TimeUnit.SECONDS));
      assertEquals(0, client.exitValue());
      assertEquals(List.of("echo: hello", "echo: from", "echo: java", "eof: true"), printed);
      server.getOutputStream().close(); // EchoServer stops at the end of its input
      assertTrue("the server did not stop", server.waitFor(30, TimeUnit.SECONDS));
      assertEquals(0, server.exitValue());
    } finally {
      server.destroyForcibly();
    }
  }
}
