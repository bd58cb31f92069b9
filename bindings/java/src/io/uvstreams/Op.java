package io.uvstreams;

import static io.uvstreams.internal.uvstreams_c.*;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.time.Duration;

/**
 * One blocking call carried out as an asynchronous uvstreams operation: the
 * caller starts it on {@link #handle} (a *_start function), then {@link
 * #finish} waits for it and turns its result into a value or an exception.
 *
 * <p>Why not the C API's blocking calls: a Java thread blocked inside one
 * cannot be interrupted. Here the wait happens in short slices
 * (uvs_op_wait), so {@link Thread#interrupt()} is noticed: the operation is
 * then cancelled, a read that completed meanwhile gives its bytes back to
 * the stream (uvs_op_unread), and an {@link InterruptedIOException} is
 * thrown with the thread's interrupt status kept set. Timeouts are the
 * engine's (uvs_op_set_timeout): the operation completes with
 * UVS_ETIMEDOUT and a read consumes nothing. Each thread uses its own Op,
 * so any number of threads block independently.
 */
final class Op implements AutoCloseable {
  private static final long SLICE_MS = 100;

  /** The uvs_op, for the *_start function. */
  final long handle;
  private final long timeoutMs;

  /** A new operation; timeout null (or negative) waits forever. */
  Op(Duration timeout) throws IOException {
    long[] out = new long[1];
    Errors.check(uvs_op_new(0, 0, out));
    handle = out[0];
    timeoutMs = timeout == null || timeout.isNegative() ? -1 : timeout.toMillis();
    uvs_op_set_timeout(handle, timeoutMs);
  }

  @Override
  public void close() {
    uvs_op_free(handle);
  }

  /**
   * Waits for the operation started with status started (a *_start return
   * value; a negative one is thrown) and throws its exception if it failed.
   * what names the call in a timeout's message.
   */
  void finish(int started, String what) throws IOException {
    complete(started, what);
    int rc = uvs_op_result(handle);
    if (rc < 0) {
      throw failure(rc, what);
    }
  }

  /** {@link #finish} for a read: its bytes, or its exception. */
  byte[] finishRead(int started, String what) throws IOException {
    complete(started, what);
    byte[][] data = new byte[1][];
    int rc = uvs_op_read_result(handle, data);
    if (rc < 0) {
      throw readFailure(rc, data[0], what);
    }
    return data[0];
  }

  /** {@link #finish} for a connect or an accept: the new stream's handle. */
  long finishStream(int started, String what) throws IOException {
    finish(started, what);
    long[] out = new long[1];
    Errors.check(uvs_op_take_stream(handle, out));
    return out[0];
  }

  private void complete(int started, String what) throws IOException {
    Errors.check(started);
    if (started == UVS_PENDING) {
      await(what);
    }
  }

  private void await(String what) throws InterruptedIOException {
    while (uvs_op_wait(handle, SLICE_MS) == UVS_ETIMEDOUT) {
      if (Thread.interrupted()) {
        uvs_op_cancel(handle);
        uvs_op_wait(handle, -1);
        uvs_op_unread(handle);
        Thread.currentThread().interrupt();
        throw new InterruptedIOException(what + " interrupted");
      }
    }
  }

  private IOException failure(int rc, String what) {
    if (rc == UVS_ETIMEDOUT && uvs_op_error(handle).isEmpty()) {
      return Errors.failure(rc, what + " timed out after " + timeoutMs + " ms");
    }
    return Errors.failure(rc, uvs_op_error(handle));
  }

  private IOException readFailure(int rc, byte[] partial, String what) {
    String name = uvs_err_name(rc);
    String message = Errors.message(rc, uvs_op_error(handle));
    switch (rc) {
      case UVS_EINCOMPLETE:
        return new IncompleteReadException(rc, name, message, partial,
                                           uvs_op_expected(handle));
      case UVS_ELIMIT:
        return new LimitOverrunException(rc, name, message, uvs_op_consumed(handle));
      default:
        return failure(rc, what);
    }
  }
}
