/*
 * op.cpp - operation state machine and delivery (see op.h).
 */
#include "op.h"

#include "cq.h"
#include "deadline.h"
#include "loop.h"
#include "stream.h"

#include <new>
#include <system_error>

namespace uvs {

namespace {
constexpr size_t kKeepBufferMin = 16 * 1024;
}

Op::Op(std::shared_ptr<CompletionQueue> cq_, uint64_t tag_)
    : tag(tag_), cq(std::move(cq_)) {}

Op::~Op() {
  if (timer_armed_)
    deadline_disarm(this);
  if (stream) /* a connection nobody took */
    stream->close();
}

int Op::begin_locked(int new_kind, std::shared_ptr<Stream> *untaken) {
  if (state_ == State::Pending)
    return fail(UVS_EOPBUSY, "operation object already has a call pending");
  if (detached_)
    return UVS_EBADHANDLE;
  /* Checked under the op's mutex, which the queue's shutdown takes to
   * cancel its ops after closing: a call that gets past this is cancelled. */
  if (cq && cq->closed())
    return fail(UVS_ECLOSED, "the operation's completion queue was freed");
  if (in_queue) /* a completion the owner never polled: stale now */
    cq->remove(this);
  state_.store(State::Pending, std::memory_order_release);
  kind = new_kind;
  result_.store(0, std::memory_order_relaxed);
  /* Small buffers are given back, so that a waiting (idle) op holds no
   * memory; large ones are kept for the next large read. */
  if (data.capacity() < kKeepBufferMin)
    data.release();
  else
    data.clear();
  consumed = expected = -1;
  request.into = nullptr;
  into_len = 0;
  detail.clear();
  *untaken = std::move(stream);
  source.reset();
  return 0;
}

int Op::begin(int new_kind, std::shared_ptr<OpTarget> target, Loop *loop) {
  std::shared_ptr<Stream> untaken;
  int rc;
  {
    std::lock_guard<std::mutex> lock(mu_);
    rc = begin_locked(new_kind, &untaken);
    if (rc == 0) {
      target_ = std::move(target);
      loop_ = loop;
    }
  }
  if (untaken) /* a connection nobody took: close it, never leak it */
    untaken->close();
  return rc;
}

int Op::begin_completed(int new_kind, int status) {
  std::shared_ptr<Stream> untaken;
  int rc;
  {
    std::unique_lock<std::mutex> lock(mu_);
    rc = begin_locked(new_kind, &untaken);
    if (rc == 0) {
      target_.reset();
      loop_ = nullptr;
      finish_locked(status, lock, true);
    }
  }
  if (untaken)
    untaken->close();
  return rc;
}

bool Op::startable() {
  std::lock_guard<std::mutex> lock(mu_);
  return state_ != State::Pending && !detached_ && !(cq && cq->closed());
}

void Op::abandon() {
  std::lock_guard<std::mutex> lock(mu_);
  state_.store(State::Idle, std::memory_order_release);
  target_.reset();
}

bool Op::take_back(ByteBuffer &out) {
  std::lock_guard<std::mutex> lock(mu_);
  bool is_read = kind == UVS_OP_READ || kind == UVS_OP_READEXACTLY ||
                 kind == UVS_OP_READUNTIL || kind == UVS_OP_READLINE;
  if (state_ != State::Done || !is_read || result_ != 0)
    return false;
  if (request.into) {
    out.clear();
    out.append(request.into, into_len);
    into_len = 0;
  } else {
    data.swap(out);
    data.clear();
  }
  result_.store(UVS_ECANCELED, std::memory_order_relaxed);
  return true;
}

void Op::arm_timeout() {
  if (int err = try_arm_timeout(); err < 0)
    cancel(err); /* it is pending: it completes, with the error */
}

int Op::try_arm_timeout() {
  if (timeout_ms < 0 || timeout_ms >= kForeverMs) /* no lock needed */
    return 0;
  std::lock_guard<std::mutex> lock(mu_);
  if (state_ != State::Pending || timeout_ms < 0 || timeout_ms >= kForeverMs)
    return 0;
  try {
    deadline_arm(shared_from_this(), deadline_after(timeout_ms));
  } catch (const std::bad_alloc &) {
    return fail(UVS_ENOMEM, "no memory for the operation's timeout");
  } catch (const std::system_error &) {
    return fail(UVS_EAGAIN, "cannot start the thread of the timeouts");
  }
  timer_armed_ = true;
  return 0;
}

bool Op::finish_locked(int status, std::unique_lock<std::mutex> &lock,
                       bool inline_completion) {
  if (state_ != State::Pending)
    return false;
  result_.store(status, std::memory_order_relaxed);
  state_.store(State::Done, std::memory_order_release);
  bool armed = timer_armed_;
  timer_armed_ = false;
  bool deliver = cq && !detached_ && !inline_completion;
  std::shared_ptr<OpTarget> target = std::move(target_);
  if (!cq)
    cv_.notify_all();
  /* Pushed under the op's mutex, so that a restart (begin) can never race
   * with the delivery of the previous completion. */
  if (deliver)
    cq->push(shared_from_this());
  lock.unlock();
  if (armed)
    deadline_disarm(this);
  return true;
}

void Op::complete_inline(int status) {
  std::unique_lock<std::mutex> lock(mu_);
  finish_locked(status, lock, true);
}

bool Op::complete(int status) {
  std::unique_lock<std::mutex> lock(mu_);
  return finish_locked(status, lock, false);
}

int Op::wait_driving(Loop *loop, int64_t timeout_ms_) {
  Clock::time_point end = deadline_after(timeout_ms_ < 0 ? 0 : timeout_ms_);
  for (;;) {
    if (done())
      return 0;
    int64_t slice = 10;
    if (timeout_ms_ >= 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      end - Clock::now())
                      .count();
      if (left <= 0)
        return UVS_ETIMEDOUT;
      slice = std::min<int64_t>(slice, left);
    }
    if (loop->stopped())
      return done() ? 0 : UVS_ESHUTDOWN;
    if (!loop->drive_for(slice)) {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(slice),
                   [this] { return state_ != State::Pending; });
    }
  }
}

int Op::wait(int64_t ms) {
  if (cq)
    return fail(UVS_EINVAL, "operation is bound to a completion queue");
  Loop *loop;
  std::shared_ptr<OpTarget> target;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_ != State::Pending)
      return 0;
    loop = loop_;
    target = target_;
  }
  if (loop && !loop->threaded())
    return wait_driving(loop, ms);
  Clock::time_point end = deadline_after(ms < 0 ? 0 : ms);
  int rc;
  if (target && target->serve_wait(*this, end, ms >= 0, &rc))
    return rc;
  std::unique_lock<std::mutex> lock(mu_);
  auto ready = [this] { return state_ != State::Pending; };
  if (ms < 0)
    cv_.wait(lock, ready);
  else if (!cv_.wait_until(lock, end, ready))
    return UVS_ETIMEDOUT;
  return 0;
}

void Op::cancel(int status) {
  std::shared_ptr<OpTarget> target;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_ != State::Pending)
      return;
    target = target_;
  }
  if (target)
    target->cancel_op(shared_from_this(), status);
}

void Op::detach() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    detached_ = true;
  }
  if (cq)
    cq->remove(this);
}

bool Op::done() {
  return state_.load(std::memory_order_acquire) != State::Pending;
}

int Op::result() {
  std::lock_guard<std::mutex> lock(mu_);
  return result_;
}

bool Op::finished(int *result) {
  if (state_.load(std::memory_order_acquire) == State::Pending)
    return false;
  *result = result_.load(std::memory_order_relaxed);
  return true;
}

Op::State Op::state() {
  std::lock_guard<std::mutex> lock(mu_);
  return state_.load();
}

} // namespace uvs
