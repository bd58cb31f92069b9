/*
 * cq.h - the completion queue: where finished operations wait for the host.
 *
 * Two ways to consume it. Threads block in wait() (a condition variable, or
 * for a host-driven engine, by running the engine). Event loops poll fd(),
 * which is readable while completions are pending: level-style, spurious
 * wakeups allowed, missed ones not.
 * - Threaded engine: fd() is an eventfd, signalled when the queue goes from
 *   empty to non-empty and cleared once it is drained.
 * - Host-driven engine: fd() is the libuv loop's own epoll descriptor, so
 *   one readable fd means "call uvs_cq_poll" for I/O and completions alike,
 *   without a second epoll level; completions pushed from other threads wake
 *   it with uv_async_send, and a poll that leaves completions behind re-arms
 *   it.
 * Completions produced while the host is inside poll/wait on this queue are
 * collected by that same call, without any signal.
 */
#pragma once

#include "common.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <vector>

namespace uvs {

class CompletionQueue {
public:
  explicit CompletionQueue(std::shared_ptr<Engine> engine);
  ~CompletionQueue();
  int init();

  /* Called by the op with its mutex held (see Op::finish_locked). */
  void push(std::shared_ptr<Op> op);
  void remove(Op *op);
  /* Runs a host-driven engine without blocking, then pops. */
  int poll(uvs_op **ops, int max);
  int wait(int64_t timeout_ms, uvs_op **ops, int max);
  /* The pollable descriptor; from the first call on, pushes signal it. */
  int fd();
  void wakeup();
  /* Engine shutdown: every blocked wait re-checks and returns. */
  void wake_waiters();
  /* Cancels the bound operations and stops delivery. */
  void shutdown();
  void bind(const std::shared_ptr<Op> &op);
  /* The queue was freed (shutdown): its ops take no new call. */
  bool closed();

  const std::shared_ptr<Engine> engine;

private:
  int pop_locked(uvs_op **ops, int max);
  void raise_locked();
  void clear_locked();

  const bool host_driven_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Op>> queue_;
  std::vector<std::weak_ptr<Op>> bound_;
  int waiters_ = 0;
  int wakeups_ = 0;
  bool signalled_ = false;
  bool fd_requested_ = false;
  bool closed_ = false;
  int event_fd_ = -1;
};

} // namespace uvs
