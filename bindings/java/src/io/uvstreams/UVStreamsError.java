package io.uvstreams;

/**
 * What every exception thrown for a uvstreams error code tells: the code
 * (a negative {@code UVS_E*} value of uvstreams.h) and its name.
 *
 * <p>The exceptions form no single hierarchy because Java already has the
 * right types for some errors: a timeout is a {@link
 * java.net.SocketTimeoutException} ({@link UVStreamsTimeoutException}), a
 * refused connection a {@link java.net.ConnectException} ({@link
 * ConnectionRefusedException}), an invalid argument an {@link
 * IllegalArgumentException} ({@link InvalidArgumentException}); everything
 * else is a {@link UVStreamsException}. Each implements this interface.
 */
public interface UVStreamsError {
  /** The negative error code, e.g. -104 for ECONNRESET.
   *
   * @return the code
   */
  int getCode();

  /** The code's name without the prefix, e.g. "ECONNRESET", "ELIMIT".
   *
   * @return the name
   */
  String getCodeName();
}
