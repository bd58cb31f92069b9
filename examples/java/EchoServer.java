import io.uvstreams.Engine;
import io.uvstreams.Server;
import io.uvstreams.Stream;
import java.io.IOException;

/**
 * An echo server on the blocking API: each connection is served on a
 * thread of its own, echoing every line until the client's EOF.
 *
 * <pre>
 * java -Djava.library.path=build/java -cp build/java/uvstreams.jar:build/java/test-classes \
 *   EchoServer [port [host]]
 * </pre>
 *
 * It prints "listening on HOST:PORT" once ready (port 0, the default, picks
 * a free one) and runs until its standard input is closed.
 */
public final class EchoServer {
  private EchoServer() {}

  static void echo(Stream stream) throws IOException {
    for (byte[] line = stream.readLine(); line.length > 0; line = stream.readLine()) {
      stream.write(line);
      stream.drain();
    }
  }

  public static void main(String[] args) throws IOException {
    int port = args.length > 0 ? Integer.parseInt(args[0]) : 0;
    String host = args.length > 1 ? args[1] : "127.0.0.1";
    try (Engine engine = new Engine();
         Server server = engine.listen(host, port).start(EchoServer::echo)) {
      System.out.println("listening on " + host + ":" + server.getPort());
      System.out.flush();
      while (System.in.read() >= 0) {
        // runs until stdin is closed
      }
      server.closeClients();
    }
  }
}
