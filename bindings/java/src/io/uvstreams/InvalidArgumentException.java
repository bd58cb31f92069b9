package io.uvstreams;

/**
 * The library rejected an argument (UVS_EINVAL; asyncio's ValueError), e.g.
 * readExactly(-1) or an empty separator. Unchecked, as Java's other
 * argument errors.
 */
public class InvalidArgumentException extends IllegalArgumentException
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
  public InvalidArgumentException(int code, String codeName, String message) {
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
