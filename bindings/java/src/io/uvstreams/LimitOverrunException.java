package io.uvstreams;

/**
 * readUntil or readLine found no separator within the stream's buffer limit
 * (UVS_ELIMIT; asyncio's LimitOverrunError, or the ValueError of readline).
 * After readUntil nothing was consumed: {@link #getConsumed()} bytes can be
 * read some other way. readLine has discarded the over-long line (asyncio's
 * ValueError carries no count; the engine's is still given).
 */
public class LimitOverrunException extends UVStreamsException {
  private static final long serialVersionUID = 1L;

  /** The bytes to consume to get past the problem. */
  private final long consumed;

  /** consumed is -1 when not known.
   *
   * @param code the negative error code
   * @param codeName the code's name, e.g. "ECONNRESET"
   * @param message the message
   * @param consumed the bytes to consume to get past the problem, or -1
   */
  public LimitOverrunException(int code, String codeName, String message,
                               long consumed) {
    super(code, codeName, message);
    this.consumed = consumed;
  }

  /** asyncio's LimitOverrunError.consumed (-1 when not known).
   *
   * @return the count, or -1
   */
  public long getConsumed() {
    return consumed;
  }
}
