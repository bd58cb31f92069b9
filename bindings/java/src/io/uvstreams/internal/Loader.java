package io.uvstreams.internal;

/**
 * Loads the JNI library (libuvstreams_jni.so) once, before the generated
 * class uvstreams_cJNI makes its first native call (its static initializer
 * calls {@link #load()}, see bindings/java/java.i).
 *
 * <p>The system property {@code uvstreams.jni} names the library file to
 * load; without it the library is found on {@code java.library.path} as
 * {@code uvstreams_jni}, which is where {@code make install-java} puts it
 * (the installation's lib directory, next to libuvstreams.so).
 */
public final class Loader {
  /** The system property naming the JNI library's file. */
  public static final String PATH_PROPERTY = "uvstreams.jni";

  private static boolean loaded;

  private Loader() {}

  /** Loads the library unless already done; idempotent and thread-safe. */
  public static synchronized void load() {
    if (loaded) {
      return;
    }
    String path = System.getProperty(PATH_PROPERTY);
    if (path != null && !path.isEmpty()) {
      System.load(path);
    } else {
      System.loadLibrary("uvstreams_jni");
    }
    loaded = true;
  }
}
