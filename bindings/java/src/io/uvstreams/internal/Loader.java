package io.uvstreams.internal;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

/**
 * Loads the JNI library (libuvstreams_jni.so) once, before the generated
 * class uvstreams_cJNI makes its first native call (its static initializer
 * calls {@link #load()}, see bindings/java/java.i).
 *
 * <p>The library is looked for in this order, the first that loads wins:
 *
 * <ol>
 *   <li>the file named by the system property {@code uvstreams.jni}
 *       (nothing else is tried when it is set);
 *   <li>{@code uvstreams_jni} on {@code java.library.path};
 *   <li>the lib directory the installed jar was built for ({@code make
 *       install-java} records its {@code LIBDIR} in the jar's resource
 *       {@code native.properties} and puts the library there, next to
 *       libuvstreams.so);
 *   <li>the copy carried in the installed jar
 *       ({@code native/<os.arch>/libuvstreams_jni.so}), written to a
 *       temporary file that is deleted once loaded. It finds libuvstreams.so
 *       through its run path (that same {@code LIBDIR}) or the system's
 *       library path.
 * </ol>
 *
 * <p>So a program using an installed jar needs no
 * {@code -Djava.library.path}. When nothing loads, the
 * {@link UnsatisfiedLinkError} names every place tried and why it failed.
 */
public final class Loader {
  /** The system property naming the JNI library's file. */
  public static final String PATH_PROPERTY = "uvstreams.jni";

  private static final String LIBRARY = "uvstreams_jni";
  private static final String FILE_NAME = System.mapLibraryName(LIBRARY);

  private static boolean loaded;

  private Loader() {}

  /**
   * Loads the library unless already done; idempotent and thread-safe.
   *
   * @throws UnsatisfiedLinkError when no candidate loads
   */
  public static synchronized void load() {
    if (loaded) {
      return;
    }
    String path = System.getProperty(PATH_PROPERTY);
    if (path != null && !path.isEmpty()) {
      System.load(path);
    } else {
      loadFromDefaultPlaces();
    }
    loaded = true;
  }

  private static void loadFromDefaultPlaces() {
    List<String> failures = new ArrayList<>();
    try {
      System.loadLibrary(LIBRARY);
      return;
    } catch (UnsatisfiedLinkError e) {
      failures.add("java.library.path: " + e.getMessage());
    }
    Properties installed = installedProperties();
    String libdir = installed.getProperty("libdir");
    if (libdir != null) {
      Path file = Paths.get(libdir, FILE_NAME);
      try {
        System.load(file.toString());
        return;
      } catch (UnsatisfiedLinkError e) {
        failures.add(file + ": " + e.getMessage());
      }
    }
    String resource = "native/" + System.getProperty("os.arch") + "/" + FILE_NAME;
    try {
      loadFromJar(resource);
      return;
    } catch (IOException | UnsatisfiedLinkError e) {
      failures.add("the jar's " + resource + ": " + e.getMessage());
    }
    throw new UnsatisfiedLinkError(
        "uvstreams: cannot load " + FILE_NAME + " (set -D" + PATH_PROPERTY
            + "=/path/to/" + FILE_NAME + " or -Djava.library.path); tried "
            + String.join("; ", failures));
  }

  /** The resource make install-java writes; empty in the build tree's jar. */
  private static Properties installedProperties() {
    Properties properties = new Properties();
    try (InputStream in = Loader.class.getResourceAsStream("native.properties")) {
      if (in != null) {
        properties.load(in);
      }
    } catch (IOException e) {
      // an unreadable resource is the same as none: the other places remain
    }
    return properties;
  }

  private static void loadFromJar(String resource) throws IOException {
    try (InputStream in = Loader.class.getResourceAsStream(resource)) {
      if (in == null) {
        throw new IOException("not in the jar");
      }
      Path copy = Files.createTempFile("uvstreams_jni", ".so");
      try {
        Files.copy(in, copy, StandardCopyOption.REPLACE_EXISTING);
        System.load(copy.toString());
      } finally {
        Files.deleteIfExists(copy); // the loaded library stays mapped
      }
    }
  }
}
