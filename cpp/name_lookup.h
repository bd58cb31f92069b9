/*
 * name_lookup.h - host names resolved on threads that belong to a loop.
 *
 * getaddrinfo(3) blocks, so a connection to a name resolves it off the
 * loop. libuv's thread pool could do that, but the pool is process-wide and
 * outlives every engine: a child of fork(2) that exits normally joins the
 * parent's pool threads, which do not exist in the child, and hangs
 * (libuv/libuv#4443); and a lookup that is already running cannot be
 * cancelled, so a timeout or a cancel had to wait for the DNS answer. Here
 * each loop has up to kMaxThreads lookup threads, started when a lookup has
 * to wait for one and joined when the loop stops, so no thread of the
 * library outlives its engine. A lookup abandoned on the loop (cancel,
 * timeout, shutdown) never calls back: its operation ends at once, and the
 * thread drops the answer when getaddrinfo returns.
 */
#pragma once

#include "common.h"

#include <netdb.h>
#include <sys/socket.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace uvs {

class Loop;

class NameLookups {
public:
  /* On the loop: 0 and the addresses (port set), or a UVS_EAI_* code. */
  using Callback =
      std::function<void(int status, std::vector<struct sockaddr_storage>)>;
  struct Query;
  static constexpr size_t kMaxThreads = 4;

  explicit NameLookups(Loop *loop) : loop_(loop) {}
  /* Waits for the lookups that are running (getaddrinfo cannot be
   * interrupted) and joins the threads. */
  ~NameLookups();
  NameLookups(const NameLookups &) = delete;
  NameLookups &operator=(const NameLookups &) = delete;

  /* Queues a lookup of host (hints as for getaddrinfo); done runs on the
   * loop unless the query is abandoned first. Null when no lookup thread
   * can be started (the system's thread limit). */
  std::shared_ptr<Query> start(const std::string &host, int port,
                               const struct addrinfo &hints, Callback done);
  /* On the loop: done will not be called. */
  void abandon(const std::shared_ptr<Query> &query);

private:
  void work();
  void answer(const std::shared_ptr<Query> &query);

  Loop *const loop_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Query>> queue_;
  std::vector<std::thread> threads_;
  size_t idle_ = 0;
  bool stopping_ = false;
};

} // namespace uvs
