/*
 * loop.cpp - see loop.h.
 */
#include "loop.h"
#include "name_lookup.h"

#include "quiet_thread.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <future>
#include <system_error>

namespace uvs {

namespace {
thread_local Loop *tls_current = nullptr;

struct CurrentLoop {
  Loop *saved;
  explicit CurrentLoop(Loop *l) : saved(tls_current) { tls_current = l; }
  ~CurrentLoop() { tls_current = saved; }
};

void run_function(const std::shared_ptr<void> &obj) {
  (*static_cast<std::function<void()> *>(obj.get()))();
}

/* libuv makes a process-wide pipe at the first loop initialisation of the
 * process, after the loop's epoll descriptor, and calls abort() if it
 * cannot (uv__signal_global_init). Until a loop has been initialised, a
 * loop is only initialised when three descriptors can be made, so that a
 * process short of them gets UVS_EMFILE. (Another thread could take them
 * in between: a narrow window, at the first loop only.) */
std::atomic<bool> first_loop_done{false};

int check_first_loop_init() {
  if (first_loop_done.load(std::memory_order_acquire))
    return 0;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0)
    return fail_with(-errno, "no descriptors for libuv's first loop");
  int third = fcntl(fds[0], F_DUPFD_CLOEXEC, 0);
  int err = errno;
  ::close(fds[0]);
  ::close(fds[1]);
  if (third < 0)
    return fail_with(-err, "no descriptors for libuv's first loop");
  ::close(third);
  return 0;
}
} // namespace

Loop::Loop(int index, bool threaded) : index_(index), threaded_(threaded) {}

Loop::~Loop() {
  if (thread_.joinable())
    thread_.join();
}

int Loop::start() {
  if (int rc = check_first_loop_init(); rc < 0)
    return rc;
  int rc = uv_loop_init(&loop_);
  if (rc < 0)
    return fail_with(rc, "uv_loop_init");
  first_loop_done.store(true, std::memory_order_release);
  rc = uv_async_init(&loop_, &async_, on_async);
  if (rc < 0) {
    uv_loop_close(&loop_);
    return fail_with(rc, "uv_async_init");
  }
  async_.data = this;
  uv_timer_init(&loop_, &drive_timer_);
  if (!threaded_) {
    started_ = true;
    /* registers the async watcher with epoll: wake() works from now on */
    uv_run(&loop_, UV_RUN_NOWAIT);
    return 0;
  }
  try {
    QuietThreadScope quiet;
    thread_ = std::thread([this] { thread_main(); });
  } catch (const std::system_error &e) {
    close_unstarted();
    return fail(UVS_EAGAIN,
                std::string("cannot start a loop thread: ") + e.what());
  }
  started_ = true; /* only now: stop() joins the thread */
  return 0;
}

void Loop::close_unstarted() {
  uv_close(reinterpret_cast<uv_handle_t *>(&async_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t *>(&drive_timer_), nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_loop_close(&loop_);
}

void Loop::thread_main() {
  CurrentLoop current(this);
  uv_run(&loop_, UV_RUN_DEFAULT);
}

bool Loop::on_loop() const {
  return tls_current == this;
}

void Loop::on_async(uv_async_t *handle) {
  static_cast<Loop *>(handle->data)->run_tasks();
}

void Loop::run_tasks() {
  for (;;) {
    /* A local batch: a task may run the queue again (Loop::stop does). */
    std::vector<Task> batch;
    {
      std::lock_guard<std::mutex> lock(task_mu_);
      if (tasks_.empty())
        return;
      batch.swap(tasks_);
    }
    for (Task &t : batch)
      t.fn(t.obj);
  }
}

bool Loop::dispatch(Task task) {
  if (on_loop()) {
    task.fn(task.obj);
    return true;
  }
  if (!threaded_) {
    std::unique_lock<std::mutex> drive(drive_mu_, std::try_to_lock);
    if (drive.owns_lock()) {
      if (stopped_)
        return false;
      CurrentLoop current(this);
      run_tasks();
      task.fn(task.obj);
      /* libuv hands new watchers (a listen, a read start, a write waiting
       * for POLLOUT) to epoll only inside uv_run: wake the loop so that the
       * host runs it, or the host could wait on a descriptor that cannot
       * become readable. */
      uv_async_send(&async_);
      return true;
    }
  }
  std::lock_guard<std::mutex> lock(task_mu_);
  if (stopped_)
    return false;
  tasks_.push_back(std::move(task));
  uv_async_send(&async_);
  return true;
}

bool Loop::dispatch(std::function<void()> fn) {
  return dispatch(Task{run_function,
                       std::make_shared<std::function<void()>>(std::move(fn))});
}

bool Loop::defer(std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(task_mu_);
  if (stopped_)
    return false;
  tasks_.push_back(Task{
      run_function, std::make_shared<std::function<void()>>(std::move(fn))});
  uv_async_send(&async_);
  return true;
}

char *Loop::scratch() {
  if (!scratch_)
    scratch_.reset(new char[kScratchSize]);
  return scratch_.get();
}

NameLookups &Loop::lookups() {
  if (!lookups_)
    lookups_ = std::make_unique<NameLookups>(this);
  return *lookups_;
}

int Loop::call(const std::function<int()> &fn) {
  if (on_loop())
    return fn();
  /* The detail message is the loop thread's: carried back to the caller. */
  struct Outcome {
    int rc;
    std::string detail;
  };
  auto done = std::make_shared<std::promise<Outcome>>();
  std::future<Outcome> result = done->get_future();
  bool queued = dispatch([&fn, done] {
    int rc = fn();
    done->set_value({rc, rc < 0 ? last_error_detail() : ""});
  });
  if (!queued)
    return fail(UVS_ESHUTDOWN, "engine is shut down");
  if (!threaded_) {
    /* Nobody may be driving a host loop: help until the task has run. */
    while (result.wait_for(std::chrono::milliseconds(0)) !=
           std::future_status::ready) {
      if (!drive_for(0))
        result.wait_for(std::chrono::milliseconds(1));
    }
  }
  Outcome out = result.get();
  if (out.rc < 0)
    fail(out.rc, out.detail.empty() ? error_message(out.rc) : out.detail);
  return out.rc;
}

bool Loop::drive_for(int64_t ms) {
  std::unique_lock<std::mutex> drive(drive_mu_, std::try_to_lock);
  if (!drive.owns_lock())
    return false;
  if (stopped_)
    return true;
  CurrentLoop current(this);
  run_tasks();
  if (ms <= 0) {
    uv_run(&loop_, UV_RUN_NOWAIT);
  } else {
    /* libuv times timers from its cached "now", stale after the host idled:
     * refresh it, or the slice timer fires at once and uv_run(ONCE) then
     * blocks in epoll with no timeout. */
    uv_update_time(&loop_);
    uv_timer_start(
        &drive_timer_, [](uv_timer_t *) {}, static_cast<uint64_t>(ms), 0);
    uv_run(&loop_, UV_RUN_ONCE);
    uv_timer_stop(&drive_timer_);
  }
  run_tasks();
  return true;
}

void Loop::wake() {
  std::lock_guard<std::mutex> lock(task_mu_);
  if (!stopped_)
    uv_async_send(&async_);
}

void Loop::stop(const std::function<void()> &final) {
  if (!started_)
    return;
  auto finish = [this, &final] {
    final();
    {
      std::lock_guard<std::mutex> lock(task_mu_);
      stopped_ = true;
    }
    run_tasks();
    uv_close(reinterpret_cast<uv_handle_t *>(&async_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t *>(&drive_timer_), nullptr);
  };
  if (threaded_) {
    if (on_loop()) /* never: engines are not freed from their own loop */
      return;
    std::function<void()> task = finish;
    {
      std::lock_guard<std::mutex> lock(task_mu_);
      tasks_.push_back(
          Task{run_function, std::make_shared<std::function<void()>>(task)});
      uv_async_send(&async_);
    }
    thread_.join();
  } else {
    std::lock_guard<std::mutex> drive(drive_mu_);
    CurrentLoop current(this);
    run_tasks();
    finish();
    uv_run(&loop_, UV_RUN_DEFAULT);
  }
  lookups_.reset(); /* joins its threads: none may outlive the engine */
  uv_loop_close(&loop_);
  started_ = false;
}

} // namespace uvs
