package io.uvstreams;

/**
 * The connection was lost: reset or aborted by the peer, or a broken pipe
 * (UVS_ECONNRESET, UVS_ECONNABORTED, UVS_EPIPE; asyncio's
 * ConnectionResetError and BrokenPipeError).
 */
public class ConnectionResetException extends UVStreamsException {
  private static final long serialVersionUID = 1L;

  /** See {@link UVStreamsException#UVStreamsException}.
   *
   * @param code the negative error code
   * @param codeName the code's name, e.g. "ECONNRESET"
   * @param message the message
   */
  public ConnectionResetException(int code, String codeName, String message) {
    super(code, codeName, message);
  }
}
