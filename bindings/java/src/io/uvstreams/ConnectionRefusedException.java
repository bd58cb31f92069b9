package io.uvstreams;

import java.net.ConnectException;

/**
 * Nothing listens where a connection was attempted (UVS_ECONNREFUSED). It is
 * a {@link ConnectException}, as for java.net.Socket.
 */
public class ConnectionRefusedException extends ConnectException
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
  public ConnectionRefusedException(int code, String codeName, String message) {
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
