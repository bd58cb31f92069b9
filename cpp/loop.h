/*
 * loop.h - one libuv loop and the rules for touching it.
 *
 * libuv is not thread-safe, so everything that touches a uv handle runs "on
 * the loop": on the loop's own I/O thread (threaded engines), or, for a
 * host-driven engine (io_threads = 0), on whichever thread holds the drive
 * lock. dispatch() runs a task right away when the caller is already on the
 * loop or can take the drive lock, and otherwise queues it and wakes the loop
 * with uv_async_send (coalesced; the queue is drained fully). Queued tasks
 * always run before an inline one, so a caller's tasks keep their order.
 * Tasks are a function pointer and a shared_ptr, so queueing one allocates
 * nothing once the queue has grown.
 */
#pragma once

#include "common.h"

#include <uv.h>

#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace uvs {

class NameLookups;

class Loop {
public:
  struct Task {
    void (*fn)(const std::shared_ptr<void> &obj);
    std::shared_ptr<void> obj;
  };

  Loop(int index, bool threaded);
  ~Loop();
  Loop(const Loop &) = delete;
  Loop &operator=(const Loop &) = delete;

  int start();
  /* Runs final on the loop, then closes the loop's own handles, runs the
   * loop until every handle is closed, and joins the thread. */
  void stop(const std::function<void()> &final);

  bool threaded() const { return threaded_; }
  int index() const { return index_; }
  uv_loop_t *uv() { return &loop_; }
  bool on_loop() const;

  /* false when the loop is stopped (the task was not run). */
  bool dispatch(Task task);
  bool dispatch(std::function<void()> fn);
  /* Queues fn for a later turn of the loop, even when called on it: for
   * callbacks that must not run inside the caller's locks. */
  bool defer(std::function<void()> fn);
  /* 128 KiB of loop-owned scratch memory, for use on the loop only (reads
   * of up to 128 KiB are the cheapest per byte on Linux). */
  char *scratch();
  static constexpr size_t kScratchSize = 128 * 1024;
  /* The loop's name lookup threads (name_lookup.h), made on first use; on
   * the loop only. */
  NameLookups &lookups();
  /* Runs fn on the loop and returns its result (UVS_ESHUTDOWN if stopped). */
  int call(const std::function<int()> &fn);

  /* Host-driven loops: runs ready work, blocking at most ms (0: not at all).
   * false when another thread is driving the loop right now. */
  bool drive_for(int64_t ms);
  int backend_fd() { return uv_backend_fd(&loop_); }
  int timeout() { return uv_backend_timeout(&loop_); }
  void wake();
  bool stopped() {
    std::lock_guard<std::mutex> lock(task_mu_);
    return stopped_;
  }

private:
  static void on_async(uv_async_t *handle);
  /* Undoes start() when the loop's thread cannot be made. */
  void close_unstarted();
  void run_tasks();
  void thread_main();

  const int index_;
  const bool threaded_;
  uv_loop_t loop_;
  uv_async_t async_;
  uv_timer_t drive_timer_;
  std::thread thread_;
  std::mutex task_mu_;
  std::vector<Task> tasks_;
  bool stopped_ = false;
  bool started_ = false;
  std::mutex drive_mu_;
  std::unique_ptr<char[]> scratch_;
  std::unique_ptr<NameLookups> lookups_;
};

} // namespace uvs
