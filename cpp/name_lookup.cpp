/*
 * name_lookup.cpp - see name_lookup.h.
 *
 * A query is shared by the loop (which may abandon it) and the thread that
 * resolves it. "abandoned" is written on the loop under the pool's mutex
 * and read by the thread under the same mutex before it hands the answer to
 * the loop, so the loop never sees an answer after abandoning the query
 * (the hand-over is re-checked on the loop, where the flag was written).
 * The answer goes through Loop::defer, never run inline, so the callback
 * never runs on a lookup thread or under the pool's mutex.
 */
#include "name_lookup.h"

#include "loop.h"
#include "quiet_thread.h"
#include "resolver.h"

#include <system_error>

namespace uvs {

struct NameLookups::Query {
  std::string host;
  int port = 0;
  struct addrinfo hints = {};
  Callback done;
  bool abandoned = false; /* under the pool's mutex, written on the loop */
  int status = 0;
  std::vector<struct sockaddr_storage> addrs;
};

NameLookups::~NameLookups() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread &t : threads_)
    t.join();
}

std::shared_ptr<NameLookups::Query>
NameLookups::start(const std::string &host, int port,
                   const struct addrinfo &hints, Callback done) {
  auto query = std::make_shared<Query>();
  query->host = host;
  query->port = port;
  query->hints = hints;
  query->done = std::move(done);
  std::lock_guard<std::mutex> lock(mu_);
  queue_.push_back(query);
  if (idle_ > 0 || threads_.size() >= kMaxThreads) {
    wake_.notify_one();
    return query;
  }
  try {
    QuietThreadScope quiet;
    threads_.emplace_back([this] { work(); });
  } catch (const std::system_error &) {
    if (threads_.empty()) { /* nobody would ever take the query */
      queue_.pop_back();
      return nullptr;
    }
  }
  return query;
}

void NameLookups::abandon(const std::shared_ptr<Query> &query) {
  std::lock_guard<std::mutex> lock(mu_);
  query->abandoned = true;
  query->done = nullptr; /* whatever it holds is released now */
}

void NameLookups::work() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    ++idle_;
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    --idle_;
    if (stopping_)
      return; /* queued lookups are abandoned by their connectors */
    std::shared_ptr<Query> query = std::move(queue_.front());
    queue_.pop_front();
    if (query->abandoned)
      continue;
    lock.unlock();
    query->status = resolve_active(query->host.c_str(), query->port,
                                   query->hints, &query->addrs);
    lock.lock();
    if (!query->abandoned)
      loop_->defer([this, query] { answer(query); });
  }
}

void NameLookups::answer(const std::shared_ptr<Query> &query) {
  Callback done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (query->abandoned)
      return;
    done = std::move(query->done);
  }
  done(query->status, std::move(query->addrs));
}

} // namespace uvs
