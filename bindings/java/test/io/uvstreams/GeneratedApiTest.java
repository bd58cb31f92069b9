package io.uvstreams;

import static io.uvstreams.internal.uvstreams_c.*;
import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import org.junit.Test;

/**
 * The SWIG-generated layer (io.uvstreams.internal) on its own: the
 * typemaps of bindings/java/java.i for handles, holders, byte input and
 * output, and their failure modes (a Java exception, never a crash).
 */
public class GeneratedApiTest {
  @Test
  public void constantsAndStrings() {
    assertEquals(-104, UVS_ECONNRESET);
    assertEquals("ELIMIT", uvs_err_name(UVS_ELIMIT));
    assertEquals(uvs_version_string(), Engine.version());
    assertEquals(UVS_VERSION_HEX, uvs_version());
  }

  @Test
  public void staleAndForgedHandlesAreRefused() {
    assertEquals(UVS_EBADHANDLE, uvs_stream_write(0, new byte[] {1}));
    assertEquals(UVS_EBADHANDLE, uvs_stream_write(0xdead0000L, new byte[] {1}));
    long[] out = new long[1];
    assertEquals(0, uvs_options_new(out));
    assertEquals(0, uvs_options_free(out[0]));
    assertEquals(UVS_EBADHANDLE, uvs_options_free(out[0]));
  }

  @Test
  public void readerBytesInAndOut() {
    long[] r = new long[1];
    assertEquals(0, uvs_reader_new(0, 0, r));
    assertEquals(0, uvs_reader_feed_data(r[0], "a;b|c".getBytes()));
    assertEquals(0, uvs_reader_feed_eof(r[0]));
    byte[][] data = new byte[1][];
    long[] consumed = {0};
    assertEquals(0, uvs_stream_readuntil_any(r[0], new byte[][] {"|".getBytes(), ";".getBytes()},
                                             -1, data, consumed));
    assertArrayEquals("a;".getBytes(), data[0]);
    assertEquals(UVS_EINCOMPLETE, uvs_stream_readexactly(r[0], 10, -1, data));
    assertArrayEquals("b|c".getBytes(), data[0]);
    String[] kind = new String[1];
    assertEquals(0, uvs_stream_get_str(r[0], "kind", kind));
    assertEquals("reader", kind[0]);
    assertEquals(0, uvs_stream_free(r[0]));
  }

  @Test
  public void badHoldersThrowInsteadOfCrashing() {
    assertThrows(NullPointerException.class, () -> uvs_options_new(null));
    assertThrows(IndexOutOfBoundsException.class, () -> uvs_options_new(new long[0]));
    assertThrows(NullPointerException.class, () -> uvs_stream_write(0, null));
    assertThrows(NullPointerException.class,
                 () -> uvs_stream_writev(0, new byte[][] {{1}, null}));
    assertThrows(NullPointerException.class,
                 () -> uvs_stream_readuntil(0, new byte[] {1}, 0, new byte[1][], null));
  }

  private static void assertThrows(Class<? extends Throwable> kind, Runnable call) {
    try {
      call.run();
    } catch (Throwable t) {
      assertTrue("expected " + kind.getSimpleName() + ", got " + t, kind.isInstance(t));
      return;
    }
    throw new AssertionError("expected " + kind.getSimpleName());
  }
}
