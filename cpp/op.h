/*
 * op.h - one asynchronous operation (an nng_aio / gRPC tag in spirit).
 *
 * An Op is owned by the caller through a handle and reused from one call to
 * the next. Starting a call moves it to Pending and names its target (the
 * stream, server or connector that will finish it); the target completes it
 * exactly once: complete() is the only transition out of Pending and it is
 * guarded by the op's mutex. Cancellation and timeouts do not touch the op
 * directly: they ask the target to withdraw it, so a result and a
 * cancellation can never both be delivered.
 *
 * Delivery: an op bound to a completion queue is pushed there (unless it
 * completed inline, inside the call that started it); an unbound op wakes
 * whoever waits in wait(). Result fields are written by the completer before
 * complete() and read by the owner after it observes Done; done() and
 * finished() observe it without the mutex (the state is stored with release
 * ordering after the result), so checking a completed op takes no lock.
 */
#pragma once

#include "buffer.h"
#include "common.h"
#include "reader.h"

#include <atomic>
#include <condition_variable>
#include <mutex>

namespace uvs {

/* Something that can finish an operation early (cancel, timeout, shutdown). */
class OpTarget {
public:
  virtual ~OpTarget() = default;
  /* Withdraws op if it is still waiting here and completes it with status. */
  virtual void cancel_op(const std::shared_ptr<Op> &op, int status) = 0;
  /* A thread is about to wait for op (until end, or forever if !limited):
   * the target may do the waiting work itself in that thread (a stream's
   * direct read). false: wait for the completion as usual; true: *rc is 0
   * (op completed) or UVS_ETIMEDOUT. */
  virtual bool serve_wait(Op &, Clock::time_point, bool, int *) {
    return false;
  }
};

class Op : public std::enable_shared_from_this<Op> {
public:
  enum class State { Idle, Pending, Done };

  Op(std::shared_ptr<CompletionQueue> cq, uint64_t tag);
  ~Op();

  /* Idle/Done -> Pending for a new call of this kind; UVS_EOPBUSY if one is
   * already pending. Resets the result fields. */
  int begin(int kind, std::shared_ptr<OpTarget> target, Loop *loop);
  /* begin() and complete_inline(status) in one step, for a call that
   * finishes before returning (a drain below the watermark). */
  int begin_completed(int kind, int status);
  /* begin() would succeed (no call pending, handle not freed). */
  bool startable();
  /* Undoes begin() for a call that was refused before anything happened. */
  void abandon();
  /* A successful read result the owner will not use: gives the bytes back to
   * the caller (to return them to the stream) and marks it cancelled. */
  bool take_back(ByteBuffer &out);
  /* The call finished before returning: no queue delivery. */
  void complete_inline(int status);
  /* Finishes the pending call; false if it was not pending any more. */
  bool complete(int status);
  /* Arms the op's timeout (if any) once it is known to be pending; if that
   * fails (no memory, no timer thread), the op completes with the error. */
  void arm_timeout();
  /* The same, but a failure is returned (the op stays pending), for a
   * caller that holds its target's lock. */
  int try_arm_timeout();

  int wait(int64_t timeout_ms);
  void cancel(int status);
  /* The owner freed the handle: never deliver again. */
  void detach();

  bool done();
  int result();
  /* done() and result() in one step: false while a call is pending. */
  bool finished(int *result);
  State state();

  const uint64_t tag;
  const std::shared_ptr<CompletionQueue> cq;
  uint64_t handle = 0;
  int64_t timeout_ms = -1;
  /* Sitting in its completion queue (guarded by the queue's mutex). */
  std::atomic<bool> in_queue{false};

  /* Results (see the file comment for the access rules). */
  int kind = UVS_OP_NONE; /* next to in_queue: one 8-byte slot for both */
  ByteBuffer data;
  int64_t consumed = -1;
  int64_t expected = -1;
  std::string detail;             /* why it failed, when there is more to say */
  std::shared_ptr<Stream> stream; /* connect/accept result */
  std::weak_ptr<Stream> source;   /* the stream a read came from */
  uint64_t read_seq = 0;          /* source's read count at the end */
  ReadRequest request;            /* the pending read, if any */
  size_t into_len = 0;            /* bytes delivered into request.into */

  /* A completed read's bytes: the caller's memory for a read into it
   * (uvs_stream_read_into_start), else data. */
  const char *bytes() const {
    return request.into ? request.into : data.data();
  }
  size_t bytes_size() const { return request.into ? into_len : data.size(); }

private:
  /* begin() under the op's mutex; the caller closes *untaken unlocked. */
  int begin_locked(int kind, std::shared_ptr<Stream> *untaken);
  bool finish_locked(int status, std::unique_lock<std::mutex> &lock,
                     bool inline_completion);
  int wait_driving(Loop *loop, int64_t timeout_ms);

  std::mutex mu_;
  std::condition_variable cv_;
  /* Written under mu_ (the result before the state, which is stored with
   * release), so that done() and finished() can read them without it. */
  std::atomic<State> state_{State::Idle};
  std::atomic<int> result_{0};
  bool detached_ = false;
  bool timer_armed_ = false;
  Loop *loop_ = nullptr;
  std::shared_ptr<OpTarget> target_;
};

} // namespace uvs
