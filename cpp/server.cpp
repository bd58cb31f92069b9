/*
 * server.cpp - see server.h.
 */
#include "server.h"

#include "loop.h"
#include "resolver.h"
#include "stream.h"
#include "tls.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fcntl.h>

#include <cerrno>
#include <cstring>

namespace uvs {

Server::Server(std::shared_ptr<Engine> engine, Loop *loop, const Options *opts,
               bool unix_socket)
    : engine_(std::move(engine)), loop_(loop), unix_(unix_socket) {
  if (opts)
    opts_ = *opts;
  backlog_ = int(option(opts, "backlog", kDefaultBacklog));
  cleanup_socket_ = option(opts, "cleanup_socket", 1) != 0;
  reserve_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

Server::~Server() {
  if (reserve_fd_ >= 0)
    ::close(reserve_fd_);
}

namespace {
int set_flag(int fd, int level, int name, int on) {
  if (setsockopt(fd, level, name, &on, sizeof on) < 0)
    return -errno;
  return 0;
}

int make_listen_socket(const struct sockaddr_storage &ss, const Options &o,
                       bool reuse_port, int *out) {
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return -errno;
  int rc = 0;
  if (o.get("reuse_address", 1))
    rc = set_flag(fd, SOL_SOCKET, SO_REUSEADDR, 1);
  if (rc == 0 && (reuse_port || o.get("reuse_port", 0)))
    rc = set_flag(fd, SOL_SOCKET, SO_REUSEPORT, 1);
  if (rc == 0 && ss.ss_family == AF_INET6)
    rc = set_flag(fd, IPPROTO_IPV6, IPV6_V6ONLY, int(o.get("ipv6_only", 1)));
  /* Set before listen() so that the window scale offered fits them. */
  if (rc == 0 && o.get("send_buffer_size", 0) > 0)
    rc = set_flag(fd, SOL_SOCKET, SO_SNDBUF, int(o.get("send_buffer_size", 0)));
  if (rc == 0 && o.get("recv_buffer_size", 0) > 0)
    rc = set_flag(fd, SOL_SOCKET, SO_RCVBUF, int(o.get("recv_buffer_size", 0)));
  socklen_t len = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                           : sizeof(struct sockaddr_in);
  if (rc == 0 &&
      bind(fd, reinterpret_cast<const struct sockaddr *>(&ss), len) < 0)
    rc = -errno;
  if (rc < 0) {
    ::close(fd);
    return rc;
  }
  *out = fd;
  return 0;
}

int bound_port(int fd) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<struct sockaddr *>(&ss), &len) < 0)
    return -1;
  if (ss.ss_family == AF_INET)
    return ntohs(reinterpret_cast<struct sockaddr_in *>(&ss)->sin_port);
  return ntohs(reinterpret_cast<struct sockaddr_in6 *>(&ss)->sin6_port);
}
} // namespace

namespace {
/* What the server's connections will be made with is checked up front. */
int check_tls_side(const Options *opts) {
  if (opts && opts->tls() && !opts->tls()->server())
    return fail(UVS_EINVAL, "a server needs a server-side TLS configuration");
  return Stream::check_options(opts);
}
} // namespace

int Server::listen_tcp(std::shared_ptr<Engine> engine, const char *host,
                       int port, const Options *opts,
                       std::shared_ptr<Server> *out) {
  if (int rc = check_tls_side(opts))
    return rc;
  if (port < 0 || port > 65535)
    return fail(UVS_EINVAL, "port out of range: " + std::to_string(port));
  std::vector<struct sockaddr_storage> addrs;
  int rc = resolve_passive(host, port, int(option(opts, "family", 0)), &addrs);
  if (rc < 0)
    return rc;
  Loop *loop = engine->pick_loop();
  std::shared_ptr<Server> srv(new Server(engine, loop, opts, false));
  if (option(opts, "per_loop_listeners", 0) && engine->io_threads() > 1)
    srv->sibling_loops_ = engine->other_loops(loop);
  rc = loop->call([&] { return srv->bind_tcp_on_loop(addrs); });
  if (rc == 0 && !srv->sibling_loops_.empty())
    rc = srv->start_per_loop();
  if (rc < 0)
    return rc;
  *out = std::move(srv);
  return 0;
}

int Server::listen_unix(std::shared_ptr<Engine> engine, const char *path,
                        const Options *opts, std::shared_ptr<Server> *out) {
  if (int rc = check_tls_side(opts))
    return rc;
  if (!path || !*path)
    return fail(UVS_EINVAL, "empty socket path");
  if (strlen(path) >= sizeof(((struct sockaddr_un *)nullptr)->sun_path))
    return fail(UVS_ENAMETOOLONG, std::string("socket path too long: ") + path);
  Loop *loop = engine->pick_loop();
  std::shared_ptr<Server> srv(new Server(engine, loop, opts, true));
  std::string p = path;
  int rc = loop->call([&] { return srv->bind_unix_on_loop(p); });
  if (rc < 0)
    return rc;
  *out = std::move(srv);
  return 0;
}

int Server::listen_fd(std::shared_ptr<Engine> engine, int fd,
                      const Options *opts, std::shared_ptr<Server> *out) {
  int type = 0;
  socklen_t len = sizeof type;
  struct sockaddr_storage ss = {};
  socklen_t sslen = sizeof ss;
  int rc = check_tls_side(opts);
  if (rc == 0 &&
      (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
       type != SOCK_STREAM ||
       getsockname(fd, reinterpret_cast<struct sockaddr *>(&ss), &sslen) < 0 ||
       (ss.ss_family != AF_INET && ss.ss_family != AF_INET6 &&
        ss.ss_family != AF_UNIX)))
    rc = fail(UVS_EINVAL, "descriptor is not a TCP or Unix stream socket");
  if (rc < 0) {
    if (fd >= 0)
      ::close(fd);
    return rc;
  }
  Loop *loop = engine->pick_loop();
  std::shared_ptr<Server> srv(
      new Server(engine, loop, opts, ss.ss_family == AF_UNIX));
  rc = loop->call([&] { return srv->adopt_on_loop(fd); });
  if (rc < 0)
    return rc;
  *out = std::move(srv);
  return 0;
}

int Server::adopt_on_loop(int fd) {
  int rc = engine_->track(loop_, shared_from_this());
  if (rc < 0) {
    ::close(fd);
    return rc;
  }
  self_ref_ = shared_from_this();
  struct sockaddr_storage ss = {};
  socklen_t len = sizeof ss;
  getsockname(fd, reinterpret_cast<struct sockaddr *>(&ss), &len);
  Lock lock(mu_);
  if (unix_) {
    /* asyncio removes an adopted socket's file too (cleanup_socket). */
    const auto *sun = reinterpret_cast<const struct sockaddr_un *>(&ss);
    std::string path(sun->sun_path,
                     strnlen(sun->sun_path, sizeof sun->sun_path));
    struct stat st;
    if (!path.empty() && stat(path.c_str(), &st) == 0) {
      unix_path_ = path;
      socket_dev_ = st.st_dev;
      socket_ino_ = st.st_ino;
    }
    rc = add_listener(fd, path, -1, loop_);
  } else {
    rc = add_listener(fd, format_host(ss), port_of(ss), loop_);
  }
  if (rc == 0 && option(&opts_, "start_serving", 1))
    rc = listen_all_locked();
  if (rc < 0) {
    lock.unlock();
    close_on_loop(UVS_ECLOSED);
    return fail_with(rc, "listen on an adopted socket");
  }
  return 0;
}

int Server::add_listener(int fd, const std::string &host, int port,
                         Loop *loop) {
  auto l = std::make_unique<Listener>();
  l->owner = this;
  l->fd = fd;
  l->loop = loop;
  l->host = host;
  l->port = port;
  Listener *raw = l.get();
  listeners_.push_back(std::move(l));
  return loop == loop_ ? init_poll_locked(raw) : 0;
}

/* On the listener's loop. On failure the socket stays for close to close. */
int Server::init_poll_locked(Listener *l) {
  int rc = uv_poll_init(l->loop->uv(), &l->poll, l->fd);
  if (rc < 0)
    return rc;
  l->poll.data = l;
  l->polled = true;
  ++open_listeners_;
  return 0;
}

int Server::bind_tcp_on_loop(const std::vector<struct sockaddr_storage> &ads) {
  int rc = engine_->track(loop_, shared_from_this());
  if (rc < 0)
    return rc;
  self_ref_ = shared_from_this();
  Lock lock(mu_);
  int chosen_port = -1; /* port 0: every address shares the first port */
  for (const struct sockaddr_storage &ss : ads)
    if ((rc = bind_address_locked(ss, &chosen_port)) < 0)
      break;
  /* Per-loop listeners listen once every loop watches its own. */
  if (rc == 0 && sibling_loops_.empty() && option(&opts_, "start_serving", 1))
    rc = listen_all_locked();
  if (rc < 0) {
    int saved = rc;
    std::string detail = last_error_detail();
    lock.unlock();
    close_on_loop(UVS_ECLOSED);
    return fail(saved, detail.empty() ? error_message(saved) : detail);
  }
  return 0;
}

/* One address: its socket on the home loop and, with per-loop listeners,
 * one more on each other loop, all with SO_REUSEPORT on the same port. */
int Server::bind_address_locked(struct sockaddr_storage ss, int *chosen_port) {
  if (*chosen_port > 0)
    set_port(&ss, *chosen_port);
  std::string name = format_host(ss);
  bool per_loop = !sibling_loops_.empty();
  for (size_t i = 0; i <= sibling_loops_.size(); ++i) {
    Loop *loop = i == 0 ? loop_ : sibling_loops_[i - 1];
    int fd = -1;
    int rc = make_listen_socket(ss, opts_, per_loop, &fd);
    if (rc < 0)
      return fail_with(rc, "bind " + name + ":" + std::to_string(port_of(ss)));
    if (i == 0) {
      *chosen_port = bound_port(fd);
      set_port(&ss, *chosen_port);
    }
    if ((rc = add_listener(fd, name, *chosen_port, loop)) < 0)
      return rc;
  }
  return 0;
}

/* From the caller's thread, the home loop's sockets bound. */
int Server::start_per_loop() {
  int rc = 0;
  for (Loop *loop : sibling_loops_)
    if ((rc = loop->call([this, loop] { return attach_on_loop(loop); })) < 0)
      break;
  if (rc == 0 && option(&opts_, "start_serving", 1))
    rc = start_serving();
  if (rc < 0) {
    std::string detail = last_error_detail();
    close();
    return fail(rc, detail.empty() ? error_message(rc) : detail);
  }
  return 0;
}

/* On loop: tracked there (engine shutdown closes its listeners on it), and
 * its listeners watched. */
int Server::attach_on_loop(Loop *loop) {
  int rc = engine_->track(loop, shared_from_this());
  if (rc < 0)
    return rc;
  Lock lock(mu_);
  for (auto &l : listeners_)
    if (l->loop == loop && (rc = init_poll_locked(l.get())) < 0)
      return fail_with(rc, "watch a listening socket");
  return 0;
}

int Server::bind_unix_on_loop(const std::string &path) {
  int rc = engine_->track(loop_, shared_from_this());
  if (rc < 0)
    return rc;
  self_ref_ = shared_from_this();
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode))
    unlink(path.c_str()); /* a stale socket file from an earlier run */
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  rc = fd < 0 ? -errno : 0;
  struct sockaddr_un sun = {};
  sun.sun_family = AF_UNIX;
  memcpy(sun.sun_path, path.c_str(), path.size() + 1);
  if (rc == 0 &&
      bind(fd, reinterpret_cast<struct sockaddr *>(&sun), sizeof sun) < 0) {
    rc = -errno;
    ::close(fd);
  }
  Lock lock(mu_);
  if (rc == 0) {
    unix_path_ = path;
    if (stat(path.c_str(), &st) == 0) {
      socket_dev_ = st.st_dev;
      socket_ino_ = st.st_ino;
    }
    rc = add_listener(fd, path, -1, loop_);
  }
  if (rc == 0 && option(&opts_, "start_serving", 1))
    rc = listen_all_locked();
  if (rc < 0) {
    lock.unlock();
    close_on_loop(UVS_ECLOSED);
    return fail_with(rc, "listen on " + path);
  }
  return 0;
}

int Server::listen_all_locked() {
  if (serving_ || closed_)
    return 0;
  int rc = listen_locked(loop_);
  if (rc == 0)
    serving_ = true;
  return rc;
}

int Server::listen_locked(Loop *loop) {
  for (auto &l : listeners_) {
    if (l->loop != loop || l->listening || !l->polled || l->fd < 0)
      continue;
    if (::listen(l->fd, backlog_) < 0)
      return -errno;
    int rc = uv_poll_start(&l->poll, UV_READABLE, on_connection);
    if (rc < 0)
      return rc;
    l->listening = true;
  }
  return 0;
}

/* The other loops' listeners first: serving once the home loop's listen. */
int Server::start_serving() {
  for (Loop *loop : sibling_loops_)
    if (int rc = loop->call([this, loop] { return listen_on(loop); }))
      return rc;
  return loop_->call([this] { return listen_on(loop_); });
}

int Server::listen_on(Loop *loop) {
  Lock lock(mu_);
  if (closed_)
    return fail(UVS_ECLOSED, "server is closed");
  int rc = loop == loop_ ? listen_all_locked() : listen_locked(loop);
  return rc < 0 ? fail_with(rc, "listen") : 0;
}

int Server::is_serving() {
  Lock lock(mu_);
  return serving_ && !closed_ ? 1 : 0;
}

void Server::on_connection(uv_poll_t *poll, int status, int) {
  Listener *l = static_cast<Listener *>(poll->data);
  if (status == 0)
    l->owner->accept_ready(l);
}

/* Accepts what the backlog holds, a bounded batch per wakeup (the poll is
 * level-triggered: the rest comes on the next turn). */
void Server::accept_ready(Listener *l) {
  for (int i = 0; i < 64; ++i) {
    int fd = accept4(l->fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      if (sibling_loops_.empty())
        hand_off(fd);
      else /* per-loop listeners: the connection stays on this loop */
        open_client(fd, l->loop);
      continue;
    }
    if (errno == EINTR || errno == ECONNABORTED)
      continue;
    if ((errno == EMFILE || errno == ENFILE) &&
        accept_dropping_on_emfile(l->fd) == 0)
      continue;
    return; /* EAGAIN, or an error the next readiness will retry */
  }
}

/* No descriptor left: free the reserved one to accept the connection and
 * close it at once (the peer sees a reset instead of a hang). */
int Server::accept_dropping_on_emfile(int listen_fd) {
  std::lock_guard<std::mutex> lock(reserve_mu_);
  if (reserve_fd_ < 0)
    return -1;
  ::close(reserve_fd_);
  int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd >= 0)
    ::close(fd);
  reserve_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
  return fd >= 0 ? 0 : -1;
}

void Server::hand_off(int fd) {
  Loop *target = engine_->pick_loop();
  if (target == loop_)
    return open_client(fd, target);
  std::shared_ptr<Server> self = shared_from_this();
  if (!target->dispatch([self, fd, target] { self->open_client(fd, target); }))
    ::close(fd);
}

/* On loop: the accepted connection becomes a stream of that loop. */
void Server::open_client(int fd, Loop *loop) {
  std::shared_ptr<Stream> s;
  Stream::Transport t =
      unix_ ? Stream::Transport::Unix : Stream::Transport::Tcp;
  if (Stream::create(engine_, loop, t, &opts_, &s) < 0) {
    ::close(fd);
    return;
  }
  if (s->open_fd(fd) < 0)
    return; /* shutting down: open_fd closed it */
  s->set_server(shared_from_this());
  {
    Lock lock(mu_);
    clients_[s.get()] = s;
  }
  const std::shared_ptr<TlsConfig> &tls = opts_.tls();
  if (!tls)
    return deliver(std::move(s));
  /* Handed over only once its handshake succeeds (asyncio); a failed one is
   * closed by the stream and leaves the client list when its handle does. */
  std::weak_ptr<Server> weak = shared_from_this();
  std::weak_ptr<Stream> ws = s;
  int rc = s->start_tls_session(
      tls, "", false,
      opts_.get("ssl_handshake_timeout", kDefaultHandshakeTimeoutMs),
      opts_.get("ssl_shutdown_timeout", kDefaultShutdownTimeoutMs),
      [weak, ws](int status, const std::string &) {
        auto srv = weak.lock();
        auto stream = ws.lock();
        if (status == 0 && srv && stream)
          srv->deliver(std::move(stream));
      });
  if (rc < 0)
    s->abort();
}

void Server::deliver(std::shared_ptr<Stream> s) {
  Lock lock(mu_);
  if (closed_) {
    lock.unlock();
    s->close();
    return;
  }
  if (!accept_ops_.empty()) {
    std::shared_ptr<Op> op = std::move(accept_ops_.front());
    accept_ops_.pop_front();
    op->stream = std::move(s);
    op->complete(0);
    return;
  }
  queued_.push_back(std::move(s));
}

int Server::start_accept(const std::shared_ptr<Op> &op) {
  Lock lock(mu_);
  int rc = op->begin(UVS_OP_ACCEPT, shared_from_this(), loop_);
  if (rc < 0)
    return rc;
  if (closed_ || !queued_.empty()) {
    int status = closed_ ? close_status_ : 0;
    if (!closed_) {
      op->stream = std::move(queued_.front());
      queued_.pop_front();
    }
    lock.unlock();
    op->complete_inline(status);
    return UVS_COMPLETED;
  }
  accept_ops_.push_back(op);
  lock.unlock();
  op->arm_timeout();
  return UVS_PENDING;
}

Server::Listener *Server::address_locked(int index) {
  if (closed_ || index < 0)
    return nullptr;
  for (auto &l : listeners_) /* one per address on the home loop */
    if (l->loop == loop_ && index-- == 0)
      return l.get();
  return nullptr;
}

int Server::num_addresses() {
  Lock lock(mu_);
  int n = 0;
  while (address_locked(n))
    ++n;
  return n;
}

int Server::address(int index, std::string *host, int *port) {
  Lock lock(mu_);
  Listener *l = address_locked(index);
  if (!l)
    return fail(UVS_EINVAL, "no listening address " + std::to_string(index));
  *host = l->host;
  *port = l->port;
  return 0;
}

int Server::get_int(int index, const std::string &key, int64_t *out) {
  Lock lock(mu_);
  Listener *l = address_locked(index);
  if (!l)
    return fail(UVS_EINVAL, "no listening address " + std::to_string(index));
  int fd = l->fd;
  if (key == "fd") {
    *out = fd;
    return 0;
  }
  struct Known {
    const char *key;
    int level, name;
  };
  static const Known known[] = {{"ipv6_only", IPPROTO_IPV6, IPV6_V6ONLY},
                                {"reuse_address", SOL_SOCKET, SO_REUSEADDR},
                                {"reuse_port", SOL_SOCKET, SO_REUSEPORT},
                                {"send_buffer_size", SOL_SOCKET, SO_SNDBUF},
                                {"recv_buffer_size", SOL_SOCKET, SO_RCVBUF},
                                {"family", SOL_SOCKET, SO_DOMAIN}};
  for (const Known &k : known) {
    if (key != k.key)
      continue;
    int value = 0;
    socklen_t len = sizeof value;
    if (getsockopt(fd, k.level, k.name, &value, &len) < 0)
      return fail(UVS_ENOENT, "'" + key + "' does not apply to this socket");
    *out = k.name == SO_DOMAIN ? family_code(value) : value;
    return 0;
  }
  return fail(UVS_ENOENT, "no integer '" + key + "' for a listening socket");
}

int Server::num_clients() {
  Lock lock(mu_);
  return int(clients_.size());
}

int Server::close() {
  {
    Lock lock(mu_);
    if (closed_)
      return 0;
    /* Visible at once to every thread. */
    closed_ = true;
    close_status_ = UVS_ECLOSED;
    serving_ = false;
  }
  /* Done on the loop before returning, as asyncio's close(): the sockets
   * (and a Unix socket's file) are gone when it returns. */
  std::shared_ptr<Server> self = shared_from_this();
  for (Loop *loop : sibling_loops_)
    loop->call([self, loop] {
      self->close_listeners_of(loop);
      return 0;
    });
  loop_->call([self] {
    self->close_on_loop(UVS_ECLOSED);
    return 0;
  });
  return 0;
}

void Server::close_on_loop(int err) {
  std::deque<std::shared_ptr<Op>> ops;
  std::deque<std::shared_ptr<Stream>> unclaimed;
  {
    Lock lock(mu_);
    if (!closed_ || close_status_ == 0)
      close_status_ = err;
    closed_ = true;
    serving_ = false;
    ops.swap(accept_ops_);
    unclaimed.swap(queued_);
    close_listeners_locked(loop_, true);
    if (!unix_path_.empty() && cleanup_socket_) {
      struct stat st;
      if (stat(unix_path_.c_str(), &st) == 0 && st.st_dev == socket_dev_ &&
          st.st_ino == socket_ino_)
        unlink(unix_path_.c_str());
      unix_path_.clear();
    }
  }
  for (auto &op : ops)
    op->complete(err);
  for (auto &s : unclaimed)
    s->close();
  std::shared_ptr<Server> self;
  Lock lock(mu_);
  check_closed_locked();
  if (open_listeners_ == 0 && self_ref_) {
    self = std::move(self_ref_);
    lock.unlock();
    engine_->untrack(loop_, this);
  }
}

void Server::close_listeners_locked(Loop *loop, bool unwatched) {
  for (auto &l : listeners_) {
    bool mine = l->loop == loop;
    if (l->fd < 0 || (l->polled ? !mine : !(mine || unwatched)))
      continue;
    /* uv_close stops the poll at once, so the socket can go now: a
     * connect made after close() returns is refused, not reset. */
    if (l->polled)
      uv_close(reinterpret_cast<uv_handle_t *>(&l->poll), on_listener_closed);
    ::close(l->fd);
    l->fd = -1;
  }
}

/* On loop (not the home loop): its listeners closed; the server leaves the
 * loop's tracked objects once their handles have closed. */
void Server::close_listeners_of(Loop *loop) {
  Lock lock(mu_);
  close_listeners_locked(loop, false);
  bool idle = !polls_on_locked(loop);
  lock.unlock();
  if (idle)
    engine_->untrack(loop, this);
}

bool Server::polls_on_locked(const Loop *loop) const {
  for (auto &l : listeners_)
    if (l->loop == loop && l->polled)
      return true;
  return false;
}

void Server::on_listener_closed(uv_handle_t *h) {
  Listener *l = static_cast<Listener *>(h->data);
  Server *srv = l->owner;
  Loop *loop = l->loop;
  /* Alive: self_ref_ stays until the last listener's handle has closed. */
  std::shared_ptr<Server> keep = srv->shared_from_this();
  bool last = false, loop_done = false;
  {
    Lock lock(srv->mu_);
    l->polled = false;
    if (--srv->open_listeners_ == 0) {
      last = true;
      srv->self_ref_.reset();
    }
    loop_done = loop != srv->loop_ && !srv->polls_on_locked(loop);
    srv->check_closed_locked();
  }
  if (loop_done)
    srv->engine_->untrack(loop, srv);
  if (last)
    srv->engine_->untrack(srv->loop_, srv);
}

void Server::client_closed(Stream *s) {
  Lock lock(mu_);
  clients_.erase(s);
  check_closed_locked();
}

bool Server::fully_closed_locked() const {
  return closed_ && open_listeners_ == 0 && clients_.empty();
}

void Server::check_closed_locked() {
  if (!fully_closed_locked())
    return;
  for (auto &op : closed_ops_)
    op->complete(0);
  closed_ops_.clear();
}

int Server::start_wait_closed(const std::shared_ptr<Op> &op) {
  Lock lock(mu_);
  int rc = op->begin(UVS_OP_SERVER_WAIT_CLOSED, shared_from_this(), loop_);
  if (rc < 0)
    return rc;
  if (fully_closed_locked()) {
    lock.unlock();
    op->complete_inline(0);
    return UVS_COMPLETED;
  }
  closed_ops_.push_back(op);
  lock.unlock();
  op->arm_timeout();
  return UVS_PENDING;
}

int Server::close_clients() {
  std::vector<std::shared_ptr<Stream>> live;
  {
    Lock lock(mu_);
    for (auto &c : clients_)
      if (auto s = c.second.lock())
        live.push_back(std::move(s));
  }
  for (auto &s : live)
    s->close();
  return 0;
}

int Server::abort_clients() {
  std::vector<std::shared_ptr<Stream>> live;
  {
    Lock lock(mu_);
    for (auto &c : clients_)
      if (auto s = c.second.lock())
        live.push_back(std::move(s));
  }
  for (auto &s : live)
    s->abort();
  return 0;
}

void Server::cancel_op(const std::shared_ptr<Op> &op, int status) {
  Lock lock(mu_);
  for (auto it = accept_ops_.begin(); it != accept_ops_.end(); ++it)
    if (*it == op) {
      accept_ops_.erase(it);
      op->complete(status);
      return;
    }
  for (auto it = closed_ops_.begin(); it != closed_ops_.end(); ++it)
    if (*it == op) {
      closed_ops_.erase(it);
      op->complete(status);
      return;
    }
}

void Server::shutdown_now(int err) {
  for (Loop *loop : sibling_loops_) /* one of the server's other loops */
    if (loop->on_loop())
      return close_listeners_of(loop);
  std::vector<std::shared_ptr<Op>> waiting;
  {
    Lock lock(mu_);
    waiting.swap(closed_ops_);
  }
  close_on_loop(err);
  for (auto &op : waiting)
    op->complete(err);
}

} // namespace uvs
