package io.uvstreams;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.AfterClass;
import org.junit.BeforeClass;
import org.junit.Test;

/**
 * TLS on the blocking API: a certificate for localhost / 127.0.0.1 is made
 * at test time with the openssl command (self-signed, so it is its own
 * CA); a TLS server of the binding uses it, and clients connect trusting it
 * through a CA file, or not trusting it (verification fails), or with the
 * wrong host name.
 */
public class TlsTest {
  private static final Duration WAIT = Duration.ofSeconds(10);
  private static Path dir;
  private static Path cert;
  private static Path key;
  private static Engine engine;
  private static TlsConfig serverTls;
  private static Server server;

  @BeforeClass
  public static void setUp() throws Exception {
    dir = Files.createTempDirectory("uvs-java-tls");
    cert = dir.resolve("cert.pem");
    key = dir.resolve("key.pem");
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", key.toString(), "-out", cert.toString());
    engine = new Engine();
    serverTls = TlsConfig.server().loadCertFile(cert, key);
    server = engine.listen("127.0.0.1", 0, new Options().tls(serverTls).timeout(WAIT))
        .start(s -> s.write(s.readLine()));
  }

  private static void openssl(String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("openssl"));
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(new File("/dev/null")).start();
    assertEquals("openssl " + String.join(" ", args), 0, p.waitFor());
  }

  @AfterClass
  public static void tearDown() throws IOException {
    server.close();
    serverTls.close();
    engine.close();
    Files.delete(cert);
    Files.delete(key);
    Files.delete(dir);
  }

  private static Stream connect(TlsConfig client, String hostname)
      throws IOException {
    Options options = new Options().tls(client).timeout(WAIT);
    if (hostname != null) {
      options.serverHostname(hostname);
    }
    return engine.connect("127.0.0.1", server.getPort(), options);
  }

  @Test
  public void clientTrustingTheCaFileTalks() throws IOException {
    try (TlsConfig client = TlsConfig.client().loadCaFile(cert);
         Stream s = connect(client, "localhost")) {
      s.write("secret\n".getBytes(US_ASCII));
      assertArrayEquals("secret\n".getBytes(US_ASCII), s.readLine());
      assertTrue(s.getExtraString("tls.version").orElseThrow().startsWith("TLSv1."));
      assertEquals(1, s.getExtraInt("tls.verified").getAsLong());
      assertTrue(s.getExtraString("tls.peer.subject").orElseThrow().contains("CN=localhost"));
    }
  }

  @Test
  public void theHostConnectedToIsVerifiedByDefault() throws IOException {
    try (TlsConfig client = TlsConfig.client().loadCaFile(cert);
         Stream s = connect(client, null)) {
      s.write("ip\n".getBytes(US_ASCII));
      assertArrayEquals("ip\n".getBytes(US_ASCII), s.readLine());
    }
  }

  @Test
  public void untrustedCertificateFailsVerification() throws IOException {
    try (TlsConfig client = TlsConfig.client()) {
      UVStreamsException e = StreamTest.expect(UVStreamsException.class,
                                               () -> connect(client, "localhost"));
      assertEquals("ETLSVERIFY", e.getCodeName());
    }
  }

  @Test
  public void wrongHostNameFailsVerification() throws IOException {
    try (TlsConfig client = TlsConfig.client().loadCaFile(cert)) {
      UVStreamsException e = StreamTest.expect(UVStreamsException.class,
                                               () -> connect(client, "example.org"));
      assertEquals("ETLSVERIFY", e.getCodeName());
    }
  }
}
