/*
 * server.h - listening sockets and the connections they accepted.
 *
 * A server binds and listens synchronously (so EADDRINUSE is the caller's
 * error, not a later event), accepts every connection as soon as it arrives,
 * starts reading it, and hands it to the next accept operation or queues it
 * in arrival order. It tracks its clients until they close, which is what
 * asyncio 3.12.1's wait_closed() waits for, and what close_clients()/
 * abort_clients() act on. Sockets are created by hand (not by uv_tcp_bind)
 * so reuse_address, reuse_port and IPV6_V6ONLY are ours to set, and an
 * adopted socket (asyncio's sock=) is just another listening descriptor.
 *
 * Multi-loop scaling has two modes. Accept-and-hand-off (the default): the
 * listeners live on the server's loop, watched with uv_poll, and each
 * accepted descriptor goes to the engine's next loop in turn, where its
 * stream is opened; this balances connections exactly (round robin).
 * Per-loop listeners ("per_loop_listeners", TCP servers made here, N > 1
 * loops): each address gets one SO_REUSEPORT socket per loop on the same
 * port, watched and closed on that loop, and what one accepts is opened on
 * its loop; the spread is the kernel's 4-tuple hash (uneven on a handful of
 * connections), and the server is tracked on every loop so that engine
 * shutdown closes each socket on its own loop. The home loop's socket
 * stands for the address (address(), get_int()). Unix sockets refuse
 * SO_REUSEPORT (EOPNOTSUPP) and adopted ones are single sockets: both hand
 * off. Measured on 2 cores (the load generator taking one), per-loop
 * listeners were within noise of hand-off (req/s x0.90-1.11, CPU per
 * request x0.96-1.08 of hand-off's over 5 rounds; a little behind on 10
 * connections, where the hash spreads unevenly), so hand-off, exact and
 * without SO_REUSEPORT on the port, stays the default (bench/README.md).
 *
 * When the descriptor table is full (EMFILE) a reserved descriptor is given up
 * for a moment to accept and drop the connection, so the listener does not
 * spin on a backlog it cannot empty.
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
  /* Adopts a bound TCP or Unix stream socket (listening or not); the server
   * owns fd from now on, also on failure. */
  static int listen_fd(std::shared_ptr<Engine> engine, int fd,
                       const Options *opts, std::shared_ptr<Server> *out);
  ~Server() override;

  int start_serving();
  int is_serving();
  int start_accept(const std::shared_ptr<Op> &op);
  int num_addresses();
  int address(int index, std::string *host, int *port);
  /* A listening socket's setting: "fd", "ipv6_only", "reuse_address",
   * "reuse_port", "send_buffer_size", "recv_buffer_size", "family". */
  int get_int(int index, const std::string &key, int64_t *out);
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
  /* One listening socket. With per-loop listeners an address has one on
   * every loop: the home loop's (loop_) is the one reported for the address,
   * and each is watched, and touched, only on its own loop. */
  struct Listener {
    uv_poll_t poll;
    int fd = -1;         /* -1 once closed */
    bool polled = false; /* poll initialized and its close not yet seen */
    bool listening = false;
    Server *owner = nullptr;
    Loop *loop = nullptr;
    std::string host;
    int port = -1;
  };
  using Lock = std::unique_lock<std::mutex>;

  Server(std::shared_ptr<Engine> engine, Loop *loop, const Options *opts,
         bool unix_socket);
  int bind_tcp_on_loop(const std::vector<struct sockaddr_storage> &addrs);
  int bind_address_locked(struct sockaddr_storage ss, int *chosen_port);
  int bind_unix_on_loop(const std::string &path);
  int adopt_on_loop(int fd);
  /* Takes fd; the poll is initialized at once when loop is the home loop. */
  int add_listener(int fd, const std::string &host, int port, Loop *loop);
  int init_poll_locked(Listener *l);
  /* Per-loop listeners: watched on their loops, then listening unless
   * "start_serving" is 0. Closes the server on failure. */
  int start_per_loop();
  int attach_on_loop(Loop *loop);
  int listen_all_locked();
  /* On loop: listen and watch the listeners that loop owns. */
  int listen_locked(Loop *loop);
  int listen_on(Loop *loop);
  void close_on_loop(int err);
  /* On loop: close its listeners (and any never watched, on the home loop). */
  void close_listeners_locked(Loop *loop, bool unwatched);
  void close_listeners_of(Loop *loop);
  bool polls_on_locked(const Loop *loop) const;
  Listener *address_locked(int index);
  /* Closed, listeners' handles closed (socket file removed), no client. */
  bool fully_closed_locked() const;
  void check_closed_locked();
  void accept_ready(Listener *l);
  int accept_dropping_on_emfile(int listen_fd);
  /* An accepted descriptor: to the engine's next loop. */
  void hand_off(int fd);
  void open_client(int fd, Loop *loop);
  /* A connection ready for the caller: to a waiting accept, or queued. */
  void deliver(std::shared_ptr<Stream> s);
  static void on_connection(uv_poll_t *poll, int status, int events);
  static void on_listener_closed(uv_handle_t *h);

  const std::shared_ptr<Engine> engine_;
  Loop *const loop_;
  const bool unix_;
  Options opts_;
  int backlog_;
  /* Per-loop listeners: the engine's other loops (set before the server is
   * shared, then read-only); empty for accept-and-hand-off. */
  std::vector<Loop *> sibling_loops_;

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
  std::mutex reserve_mu_; /* loops may hit EMFILE at once */
  int reserve_fd_ = -1;   /* given up to accept-and-drop on EMFILE */
  dev_t socket_dev_ = 0;
  ino_t socket_ino_ = 0;
  std::shared_ptr<Server> self_ref_;
};

} // namespace uvs
