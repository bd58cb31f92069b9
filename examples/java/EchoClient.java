import io.uvstreams.Engine;
import io.uvstreams.Options;
import io.uvstreams.Stream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * An echo client on the blocking API: sends each word as a line, prints
 * the echo, then half-closes and waits for the server's EOF.
 *
 * <pre>
 * java -Djava.library.path=build/java -cp build/java/uvstreams.jar:build/java/test-classes \
 *   EchoClient host port [word...]
 * </pre>
 */
public final class EchoClient {
  private EchoClient() {}

  public static void main(String[] args) throws IOException {
    if (args.length < 2) {
      System.err.println("usage: EchoClient host port [word...]");
      System.exit(2);
    }
    Options options = new Options().timeout(Duration.ofSeconds(5));
    try (Engine engine = new Engine();
         Stream stream = engine.connect(args[0], Integer.parseInt(args[1]), options)) {
      for (int i = 2; i < args.length; i++) {
        stream.write((args[i] + "\n").getBytes(StandardCharsets.UTF_8));
        byte[] echo = stream.readLine();
        System.out.println("echo: " + new String(echo, StandardCharsets.UTF_8).strip());
      }
      stream.writeEof();
      System.out.println("eof: " + (stream.read(-1).length == 0));
    }
  }
}
