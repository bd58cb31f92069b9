/*
 * server.h - listening sockets and the connections they accepted.
 *
 * A server binds and listens synchronously (so EADDRINUSE is the caller's
 * error, not a later event), accepts every connection on its loop as soon as
 * it arrives, starts reading it, and hands it to the next accept operation
 * or queues it in arrival order. It tracks its clients until they close,
 * which is what asyncio 3.12.1's wait_closed() waits for, and what
 * close_clients()/abort_clients() act on. Sockets are created by hand (not by
 * uv_tcp_bind) so reuse_address, reuse_port and IPV6_V6ONLY are ours to set.
 */
#pragma once

#include "common.h"
#include "engine.h"
#include "op.h"
#include "options.h"

#include <uv.h>

#include <deque>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace uvs {

class Server : public OpTarget,
               public Closeable,
               public std::enable_shared_from_this<Server> {
public:
  static int listen_tcp(std::shared_ptr<Engine> engine, const char *host,
                        int port, const Options *opts,
                        std::shared_ptr<Server> *out);
  static int listen_unix(std::shared_ptr<Engine> engine, const char *path,
                         const Options *opts, std::shared_ptr<Server> *out);
  ~Server() override;

  int start_serving();
  int is_serving();
  int start_accept(const std::shared_ptr<Op> &op);
  int num_addresses();
  int address(int index, std::string *host, int *port);
  int num_clients();
  int close();
  int close_clients();
  int abort_clients();
  int start_wait_closed(const std::shared_ptr<Op> &op);

  /* A client stream's handle closed. */
  void client_closed(Stream *s);
  void cancel_op(const std::shared_ptr<Op> &op, int status) override;
  void shutdown_now(int err) override;

private:
  struct Listener {
    union {
      uv_handle_t handle;
      uv_stream_t stream;
      uv_tcp_t tcp;
      uv_pipe_t pipe;
    } u;
    Server *owner = nullptr;
    std::string host;
    int port = -1;
  };
  using Lock = std::unique_lock<std::mutex>;

  Server(std::shared_ptr<Engine> engine, Loop *loop, const Options *opts,
         bool unix_socket);
  int bind_tcp_on_loop(const std::vector<struct sockaddr_storage> &addrs);
  int bind_unix_on_loop(const std::string &path);
  int add_listener(int fd, const std::string &host, int port);
  int listen_all_locked();
  void close_on_loop(int err);
  /* Closed, listeners' handles closed (socket file removed), no client. */
  bool fully_closed_locked() const;
  void check_closed_locked();
  void accept_one(uv_stream_t *listener);
  /* A connection ready for the caller: to a waiting accept, or queued. */
  void deliver(std::shared_ptr<Stream> s);
  static void on_connection(uv_stream_t *listener, int status);
  static void on_listener_closed(uv_handle_t *h);

  const std::shared_ptr<Engine> engine_;
  Loop *const loop_;
  const bool unix_;
  Options opts_;
  int backlog_;

  std::mutex mu_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  size_t open_listeners_ = 0;
  bool serving_ = false;
  bool closed_ = false;
  int close_status_ = 0;
  std::deque<std::shared_ptr<Stream>> queued_;
  std::deque<std::shared_ptr<Op>> accept_ops_;
  std::vector<std::shared_ptr<Op>> closed_ops_;
  std::unordered_map<Stream *, std::weak_ptr<Stream>> clients_;
  std::string unix_path_;
  bool cleanup_socket_ = true;
  dev_t socket_dev_ = 0;
  ino_t socket_ino_ = 0;
  std::shared_ptr<Server> self_ref_;
};

} // namespace uvs
