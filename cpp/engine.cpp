/*
 * engine.cpp - see engine.h.
 */
#include "engine.h"

#include "cq.h"
#include "deadline.h"
#include "loop.h"

#include <pthread.h>

namespace uvs {

namespace {
/* Engines created and not yet shut down: the last one out stops the
 * process-wide timer thread, if it is idle. A forked child counts only its
 * own (its parent's have no threads there). */
std::atomic<int> live_engines{0};
[[maybe_unused]] const int forget_parent_engines =
    pthread_atfork(nullptr, nullptr, [] { live_engines.store(0); });
} // namespace

int Engine::create(const Options *opts, std::shared_ptr<Engine> *out) {
  int64_t threads = option(opts, "io_threads", 1);
  if (threads < 0 || threads > 256)
    return fail(UVS_EINVAL, "io_threads must be between 0 and 256");
  std::shared_ptr<Engine> e(new Engine());
  live_engines.fetch_add(1);
  e->threaded_ = threads > 0;
  size_t nloops = threads > 0 ? size_t(threads) : 1;
  e->tracked_.resize(nloops);
  for (size_t i = 0; i < nloops; ++i) {
    e->loops_.push_back(std::make_unique<Loop>(int(i), e->threaded_));
    int rc = e->loops_.back()->start();
    if (rc < 0) {
      e->shutdown();
      return rc;
    }
  }
  *out = std::move(e);
  return 0;
}

Engine::~Engine() {
  shutdown();
}

Loop *Engine::pick_loop() {
  unsigned n = next_loop_.fetch_add(1, std::memory_order_relaxed);
  return loops_[n % loops_.size()].get();
}

std::vector<Loop *> Engine::other_loops(const Loop *except) const {
  std::vector<Loop *> out;
  for (auto &loop : loops_)
    if (loop.get() != except)
      out.push_back(loop.get());
  return out;
}

int Engine::track(Loop *loop, const std::shared_ptr<Closeable> &obj) {
  std::lock_guard<std::mutex> lock(mu_);
  if (shutting_down_)
    return fail(UVS_ESHUTDOWN, "engine is shutting down");
  tracked_[loop->index()][obj.get()] = obj;
  return 0;
}

void Engine::untrack(Loop *loop, Closeable *obj) {
  std::lock_guard<std::mutex> lock(mu_);
  tracked_[loop->index()].erase(obj);
}

void Engine::add_queue(const std::shared_ptr<CompletionQueue> &cq) {
  std::lock_guard<std::mutex> lock(mu_);
  queues_.push_back(cq);
}

void Engine::shutdown() {
  if (shutting_down_.exchange(true))
    return;
  std::vector<std::shared_ptr<CompletionQueue>> queues;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto &w : queues_)
      if (auto cq = w.lock())
        queues.push_back(std::move(cq));
  }
  for (auto &cq : queues) /* blocked waiters see the shutdown at once */
    cq->wake_waiters();
  for (auto &loop : loops_) {
    Loop *l = loop.get();
    loop->stop([this, l] {
      std::vector<std::shared_ptr<Closeable>> objs;
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (auto &entry : tracked_[l->index()])
          if (auto obj = entry.second.lock())
            objs.push_back(std::move(obj));
      }
      for (auto &obj : objs)
        obj->shutdown_now(UVS_ESHUTDOWN);
    });
  }
  if (live_engines.fetch_sub(1) == 1)
    deadline_quiesce();
}

} // namespace uvs
