package io.uvstreams;

import java.io.IOException;

/**
 * An I/O error reported by uvstreams, with its code; the base class of the
 * stream-level errors ({@link IncompleteReadException}, {@link
 * LimitOverrunException}, {@link ConnectionResetException}).
 */
public class UVStreamsException extends IOException implements UVStreamsError {
  private static final long serialVersionUID = 1L;

  /** The library's negative code. */
  private final int code;
  /** The code's name ("ECONNRESET"). */
  private final String codeName;

  /** An exception for code (negative) named codeName ("ECONNRESET").
   *
   * @param code the negative error code
   * @param codeName the code's name, e.g. "ECONNRESET"
   * @param message the message
   */
  public UVStreamsException(int code, String codeName, String message) {
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
