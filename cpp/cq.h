/*
 * cq.h - the completion queue: where finished operations wait for the host.
 *
 * Two ways to consume it. Threads block in wait() on a condition variable.
 * Event loops poll fd(): an epoll descriptor holding an eventfd that is
 * signalled when the queue goes from empty to non-empty (and cleared once it
 * is drained: level-style, spurious wakeups allowed, missed ones not), plus,
 * for a host-driven engine, the libuv loop's own backend descriptor, so one
 * readable fd means "call uvs_cq_poll" whether I/O or completions are ready.
 * Completions produced while the host is inside poll/wait on this queue are
 * collected by that same call, without touching the eventfd.
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

  void push(std::shared_ptr<Op> op);
  void remove(Op *op);
  /* Runs a host-driven engine without blocking, then pops. */
  int poll(uvs_op **ops, int max);
  int wait(int64_t timeout_ms, uvs_op **ops, int max);
  /* The pollable descriptor; from the first call on, pushes signal it. */
  int fd();
  void wakeup();
  /* Cancels the bound operations and stops delivery. */
  void shutdown();
  void bind(const std::shared_ptr<Op> &op);

  const std::shared_ptr<Engine> engine;

private:
  int pop_locked(uvs_op **ops, int max);
  void clear_signal_locked();

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
  int epoll_fd_ = -1;
};

} // namespace uvs
