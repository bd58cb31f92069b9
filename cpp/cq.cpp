/*
 * cq.cpp - completion queue (see cq.h).
 */
#include "cq.h"

#include "engine.h"
#include "handles.h"
#include "loop.h"
#include "op.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

namespace uvs {

namespace {
/* The queue whose poll/wait is running on this thread, if any. */
thread_local CompletionQueue *tls_polling = nullptr;

struct PollingScope {
  CompletionQueue *saved;
  explicit PollingScope(CompletionQueue *cq) : saved(tls_polling) {
    tls_polling = cq;
  }
  ~PollingScope() { tls_polling = saved; }
};
} // namespace

CompletionQueue::CompletionQueue(std::shared_ptr<Engine> e)
    : engine(std::move(e)), host_driven_(!engine->threaded()) {}

CompletionQueue::~CompletionQueue() {
  if (event_fd_ >= 0)
    close(event_fd_);
}

int CompletionQueue::init() {
  if (host_driven_)
    return 0;
  event_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (event_fd_ < 0)
    return fail_with(-errno, "eventfd");
  return 0;
}

/* Makes fd() readable. */
void CompletionQueue::raise_locked() {
  if (host_driven_) {
    engine->host_loop()->wake(); /* coalesced by libuv */
    return;
  }
  if (signalled_)
    return;
  uint64_t one = 1;
  if (write(event_fd_, &one, sizeof one) == sizeof one)
    signalled_ = true;
}

void CompletionQueue::clear_locked() {
  if (host_driven_ || !signalled_)
    return;
  uint64_t value;
  while (read(event_fd_, &value, sizeof value) == sizeof value) {
  }
  signalled_ = false;
}

void CompletionQueue::bind(const std::shared_ptr<Op> &op) {
  std::lock_guard<std::mutex> lock(mu_);
  if (bound_.size() >= 64 && bound_.size() == bound_.capacity()) {
    std::vector<std::weak_ptr<Op>> live;
    for (auto &w : bound_)
      if (!w.expired())
        live.push_back(std::move(w));
    bound_.swap(live);
  }
  bound_.push_back(op);
}

void CompletionQueue::push(std::shared_ptr<Op> op) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_)
    return;
  op->in_queue = true;
  queue_.push_back(std::move(op));
  bool own_call = tls_polling == this; /* collected by the running call */
  if (fd_requested_ && !own_call)
    raise_locked();
  if (waiters_ > 0) {
    cv_.notify_one();
    /* A waiter blocked in the host loop needs waking, unless it is this
     * thread: a host-driven loop has one driver, and it is running here. */
    if (host_driven_ && !own_call)
      engine->host_loop()->wake();
  }
}

int CompletionQueue::fd() {
  std::lock_guard<std::mutex> lock(mu_);
  if (host_driven_ && engine->shutting_down())
    return fail(UVS_ESHUTDOWN, "the engine of this queue is shut down");
  if (!fd_requested_) {
    fd_requested_ = true;
    if (!queue_.empty())
      raise_locked();
  }
  return host_driven_ ? engine->host_loop()->backend_fd() : event_fd_;
}

void CompletionQueue::remove(Op *op) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = queue_.begin(); it != queue_.end(); ++it) {
    if (it->get() == op) {
      op->in_queue = false;
      queue_.erase(it);
      break;
    }
  }
  if (queue_.empty())
    clear_locked();
}

int CompletionQueue::pop_locked(uvs_op **ops, int max) {
  int n = 0;
  while (n < max && !queue_.empty()) {
    queue_.front()->in_queue = false;
    ops[n++] = to_handle<uvs_op>(queue_.front()->handle);
    queue_.pop_front();
  }
  if (queue_.empty())
    clear_locked();
  else if (fd_requested_ && host_driven_)
    raise_locked(); /* level-style: still readable while some remain */
  return n;
}

int CompletionQueue::poll(uvs_op **ops, int max) {
  if (!engine->threaded()) {
    PollingScope scope(this);
    engine->host_loop()->drive_for(0);
  }
  std::lock_guard<std::mutex> lock(mu_);
  return pop_locked(ops, max);
}

int CompletionQueue::wait(int64_t timeout_ms, uvs_op **ops, int max) {
  Clock::time_point end = deadline_after(timeout_ms < 0 ? 0 : timeout_ms);
  PollingScope scope(this);
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (!queue_.empty())
      return pop_locked(ops, max);
    if (wakeups_ > 0) {
      --wakeups_;
      return 0;
    }
    if (closed_ || engine->shutting_down())
      return UVS_ESHUTDOWN;
    int64_t left = -1;
    if (timeout_ms >= 0) {
      left = std::chrono::duration_cast<std::chrono::milliseconds>(end -
                                                                   Clock::now())
                 .count();
      if (left <= 0)
        return 0;
    }
    ++waiters_;
    if (engine->threaded()) {
      if (left < 0)
        cv_.wait(lock);
      else
        cv_.wait_for(lock, std::chrono::milliseconds(left));
    } else {
      lock.unlock();
      int64_t slice = left < 0 ? 1000 : std::min<int64_t>(left, 1000);
      if (!engine->host_loop()->drive_for(slice)) {
        lock.lock();
        cv_.wait_for(lock, std::chrono::milliseconds(10));
        lock.unlock();
      }
      lock.lock();
    }
    --waiters_;
  }
}

void CompletionQueue::wake_waiters() {
  std::lock_guard<std::mutex> lock(mu_);
  cv_.notify_all();
  if (host_driven_)
    engine->host_loop()->wake();
}

void CompletionQueue::wakeup() {
  bool host;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++wakeups_;
    cv_.notify_all();
    host = host_driven_;
  }
  if (host)
    engine->host_loop()->wake();
}

bool CompletionQueue::closed() {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

void CompletionQueue::shutdown() {
  std::vector<std::shared_ptr<Op>> ops;
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    for (auto &op : queue_)
      op->in_queue = false;
    queue_.clear();
    clear_locked();
    for (auto &w : bound_)
      if (auto op = w.lock())
        ops.push_back(std::move(op));
    bound_.clear();
    cv_.notify_all();
  }
  for (auto &op : ops)
    op->cancel(UVS_ECANCELED);
}

} // namespace uvs
