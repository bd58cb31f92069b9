package io.uvstreams;

import java.net.SocketTimeoutException;

/**
 * A blocking call's timeout expired (UVS_ETIMEDOUT). It is a {@link
 * SocketTimeoutException}, as for a java.net.Socket read; a read that times
 * out consumes nothing, so the bytes arriving later go to the next read.
 */
public class UVStreamsTimeoutException extends SocketTimeoutException
    implements UVStreamsError {
  private static final long serialVersionUID = 1L;

  /** The library's negative code. */
  private final int code;
  /** The code's name ("ECONNRESET"). */
  private final String codeName;

  /** See {@link UVStreamsException#UVStreamsException}.
   *
   * @param code the negative error code
   * @param codeName the code's name, e.g. "ECONNRESET"
   * @param message the message
   */
  public UVStreamsTimeoutException(int code, String codeName, String message) {
    super(message);
    this.code = code;
    this.codeName = codeName;
  }

  @Override
  public int getCode() {
    return code;
  }

  @Override
  public String getCodeName() {
    return codeName;
  }
}
