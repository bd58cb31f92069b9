/*
 * deadline.cpp - see deadline.h.
 */
#include "deadline.h"

#include "op.h"
#include "quiet_thread.h"

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <pthread.h>
#include <thread>
#include <vector>

namespace uvs {

namespace {
class DeadlineService {
public:
  static DeadlineService &instance() {
    /* Leaked on purpose: the thread may outlive static destructors. */
    static DeadlineService *service = created = new DeadlineService();
    return *service;
  }
  /* Set once instance() made the service: quiescing a service that never
   * ran allocates nothing (so an engine is freed even without memory). */
  static std::atomic<DeadlineService *> created;

  void arm(const std::shared_ptr<Op> &op, Clock::time_point when) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!thread_) {
      QuietThreadScope quiet;
      thread_ = std::make_unique<std::thread>(
          [this, gen = generation_] { run(gen); });
    }
    auto it = queue_.emplace(when, op);
    index_[op.get()] = it;
    if (it == queue_.begin())
      cv_->notify_one();
  }

  void disarm(Op *op) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = index_.find(op);
    if (it == index_.end())
      return;
    queue_.erase(it->second);
    index_.erase(it);
  }

  void quiesce() {
    std::unique_ptr<std::thread> idle;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!thread_ || !queue_.empty() ||
          thread_->get_id() == std::this_thread::get_id())
        return;
      ++generation_; /* that thread leaves; the next arm starts another */
      idle = std::move(thread_);
      cv_->notify_all();
    }
    idle->join();
  }

private:
  /* fork(2) copies the state but not the thread: the child sets aside the
   * thread and its condition variable (never destroyed: joining the thread
   * would never return, and the variable may count it as a waiter), forgets
   * the parent's timeouts and starts afresh at its first timeout. The mutex
   * is held across the fork so that the copy is consistent. */
  DeadlineService() {
    pthread_atfork([] { instance().mu_.lock(); },
                   [] { instance().mu_.unlock(); },
                   [] { instance().restart_in_child(); });
  }

  void restart_in_child() {
    if (thread_)
      set_aside_.threads.push_back(std::move(thread_));
    set_aside_.cvs.push_back(std::move(cv_));
    cv_ = std::make_unique<std::condition_variable>();
    queue_.clear();
    index_.clear();
    ++generation_;
    mu_.unlock();
  }

  using Queue = std::multimap<Clock::time_point, std::weak_ptr<Op>>;

  void run(uint64_t gen) {
    std::unique_lock<std::mutex> lock(mu_);
    while (gen == generation_) {
      if (queue_.empty()) {
        cv_->wait(lock);
        continue;
      }
      auto first = queue_.begin();
      /* A copy: the entry may be erased while we sleep. */
      Clock::time_point when = first->first;
      if (Clock::now() < when) {
        cv_->wait_until(lock, when);
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
  std::unique_ptr<std::condition_variable> cv_ =
      std::make_unique<std::condition_variable>();
  Queue queue_;
  std::map<Op *, Queue::iterator> index_;
  std::unique_ptr<std::thread> thread_;
  uint64_t generation_ = 0; /* a thread runs while it is its generation */
  struct {
    std::vector<std::unique_ptr<std::thread>> threads;
    std::vector<std::unique_ptr<std::condition_variable>> cvs;
  } set_aside_; /* a parent's, after fork */
};
std::atomic<DeadlineService *> DeadlineService::created{nullptr};
} // namespace

void deadline_arm(const std::shared_ptr<Op> &op, Clock::time_point when) {
  DeadlineService::instance().arm(op, when);
}

void deadline_disarm(Op *op) {
  DeadlineService::instance().disarm(op);
}

void deadline_quiesce() {
  if (DeadlineService *service = DeadlineService::created.load())
    service->quiesce();
}

} // namespace uvs
