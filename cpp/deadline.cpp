/*
 * deadline.cpp - see deadline.h.
 */
#include "deadline.h"

#include "op.h"
#include "quiet_thread.h"

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

namespace uvs {

namespace {
class DeadlineService {
public:
  static DeadlineService &instance() {
    /* Leaked on purpose: the thread may outlive static destructors. */
    static DeadlineService *service = new DeadlineService();
    return *service;
  }

  void arm(const std::shared_ptr<Op> &op, Clock::time_point when) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_) {
      started_ = true;
      QuietThreadScope quiet;
      std::thread([this] { run(); }).detach();
    }
    auto it = queue_.emplace(when, op);
    index_[op.get()] = it;
    if (it == queue_.begin())
      cv_.notify_one();
  }

  void disarm(Op *op) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = index_.find(op);
    if (it == index_.end())
      return;
    queue_.erase(it->second);
    index_.erase(it);
  }

private:
  using Queue = std::multimap<Clock::time_point, std::weak_ptr<Op>>;

  void run() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      if (queue_.empty()) {
        cv_.wait(lock);
        continue;
      }
      auto first = queue_.begin();
      /* A copy: the entry may be erased while we sleep. */
      Clock::time_point when = first->first;
      if (Clock::now() < when) {
        cv_.wait_until(lock, when);
        continue;
      }
      std::shared_ptr<Op> op = first->second.lock();
      if (op)
        index_.erase(op.get());
      queue_.erase(first);
      lock.unlock();
      if (op)
        op->cancel(UVS_ETIMEDOUT);
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  Queue queue_;
  std::map<Op *, Queue::iterator> index_;
  bool started_ = false;
};
} // namespace

void deadline_arm(const std::shared_ptr<Op> &op, Clock::time_point when) {
  DeadlineService::instance().arm(op, when);
}

void deadline_disarm(Op *op) {
  DeadlineService::instance().disarm(op);
}

} // namespace uvs
