package io.uvstreams;

/**
 * The end of the stream came before a read could complete (UVS_EINCOMPLETE,
 * asyncio's IncompleteReadError): readExactly(n) or readUntil(separator)
 * met EOF. The bytes read so far are not lost: they are {@link
 * #getPartial()}.
 */
public class IncompleteReadException extends UVStreamsException {
  private static final long serialVersionUID = 1L;

  /** The bytes read before the end of the stream. */
  private final byte[] partial;
  /** The size asked for, or -1 (readUntil). */
  private final long expected;

  /** expected is -1 when the read had no expected size (readUntil).
   *
   * @param code the negative error code
   * @param codeName the code's name, e.g. "ECONNRESET"
   * @param message the message
   * @param partial the bytes read before EOF
   * @param expected the size asked for, or -1 (readUntil)
   */
  public IncompleteReadException(int code, String codeName, String message,
                                 byte[] partial, long expected) {
    super(code, codeName, message);
    this.partial = partial.clone();
    this.expected = expected;
  }

  /** The bytes read before EOF (a copy).
   *
   * @return a copy of the bytes read
   */
  public byte[] getPartial() {
    return partial.clone();
  }

  /** The size readExactly asked for, or -1 for readUntil (asyncio: None).
   *
   * @return the size asked for, or -1
   */
  public long getExpected() {
    return expected;
  }
}
