/*
 * engine.h - the engine: its loops and the objects living on them.
 *
 * An engine owns io_threads loops (or one host-driven loop when io_threads
 * is 0) and keeps a weak list of the streams, servers and connectors on each
 * loop, so that shutdown can finish every pending operation with
 * UVS_ESHUTDOWN and close every handle on the loop that owns it before the
 * loop stops. New streams are spread over the loops round-robin.
 */
#pragma once

#include "common.h"
#include "options.h"

#include <atomic>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace uvs {

/* An object with libuv handles that the engine must close at shutdown. */
class Closeable {
public:
  virtual ~Closeable() = default;
  /* Called on the object's loop: fail pending work with err, close handles. */
  virtual void shutdown_now(int err) = 0;
};

class Engine : public std::enable_shared_from_this<Engine> {
public:
  static int create(const Options *opts, std::shared_ptr<Engine> *out);
  ~Engine();

  bool threaded() const { return threaded_; }
  int io_threads() const { return threaded_ ? int(loops_.size()) : 0; }
  Loop *host_loop() { return loops_.front().get(); }
  Loop *pick_loop();
  /* Every loop but except, in order (servers with per-loop listeners). */
  std::vector<Loop *> other_loops(const Loop *except) const;

  /* UVS_ESHUTDOWN once shutdown has begun. */
  int track(Loop *loop, const std::shared_ptr<Closeable> &obj);
  void untrack(Loop *loop, Closeable *obj);
  bool shutting_down() const { return shutting_down_.load(); }
  /* Queues to wake at shutdown, so that nobody stays blocked on them. */
  void add_queue(const std::shared_ptr<CompletionQueue> &cq);
  void shutdown();

private:
  Engine() = default;

  bool threaded_ = true;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::atomic<unsigned> next_loop_{0};
  std::atomic<bool> shutting_down_{false};
  std::mutex mu_;
  std::vector<std::unordered_map<Closeable *, std::weak_ptr<Closeable>>>
      tracked_;
  std::vector<std::weak_ptr<CompletionQueue>> queues_;
};

} // namespace uvs
