package io.uvstreams;

import static io.uvstreams.internal.uvstreams_c.*;

import java.io.IOException;

/**
 * The one place where uvstreams error codes become Java exceptions.
 *
 * <p>A message is "NAME: detail", the detail being the library's own
 * description of this failure (uvs_last_error for a call, uvs_op_error for
 * a completed operation: e.g. "connect to 127.0.0.1:1: connection refused"
 * or asyncio's limit-overrun message), else the code's description. The
 * read-specific errors, which carry data, are made by {@link Op}.
 */
final class Errors {
  private Errors() {}

  /** rc when it is not negative; else throws its exception, with the
   * calling thread's last error as detail. */
  static int check(int rc) throws IOException {
    if (rc < 0) {
      throw failure(rc, uvs_last_error());
    }
    return rc;
  }

  /** As {@link #check(int)} for the calls returning a 64-bit count. */
  static long check(long rc) throws IOException {
    if (rc < 0) {
      throw failure((int) rc, uvs_last_error());
    }
    return rc;
  }

  /** "NAME: detail" (the code's description when detail is empty). */
  static String message(int code, String detail) {
    String text = detail == null || detail.isEmpty() ? uvs_strerror(code) : detail;
    return uvs_err_name(code) + ": " + text;
  }

  /**
   * The exception for code (negative). An invalid argument is thrown here
   * directly: {@link InvalidArgumentException} is unchecked.
   */
  static IOException failure(int code, String detail) {
    String name = uvs_err_name(code);
    String message = message(code, detail);
    switch (code) {
      case UVS_EINVAL:
        throw new InvalidArgumentException(code, name, message);
      case UVS_ETIMEDOUT:
        return new UVStreamsTimeoutException(code, name, message);
      case UVS_ECONNREFUSED:
        return new ConnectionRefusedException(code, name, message);
      case UVS_ECONNRESET:
      case UVS_ECONNABORTED:
      case UVS_EPIPE:
        return new ConnectionResetException(code, name, message);
      default:
        return new UVStreamsException(code, name, message);
    }
  }
}
