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
}

Server::~Server() = default;

namespace {
int set_flag(int fd, int level, int name, int on) {
  if (setsockopt(fd, level, name, &on, sizeof on) < 0)
    return -errno;
  return 0;
}

int make_listen_socket(const struct sockaddr_storage &ss, const Options &o,
                       int *out) {
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return -errno;
  int rc = 0;
  if (o.get("reuse_address", 1))
    rc = set_flag(fd, SOL_SOCKET, SO_REUSEADDR, 1);
  if (rc == 0 && o.get("reuse_port", 0))
    rc = set_flag(fd, SOL_SOCKET, SO_REUSEPORT, 1);
  if (rc == 0 && ss.ss_family == AF_INET6)
    rc = set_flag(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
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
  rc = loop->call([&] { return srv->bind_tcp_on_loop(addrs); });
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

int Server::add_listener(int fd, const std::string &host, int port) {
  auto l = std::make_unique<Listener>();
  l->owner = this;
  l->host = host;
  l->port = port;
  int rc = unix_ ? uv_pipe_init(loop_->uv(), &l->u.pipe, 0)
                 : uv_tcp_init(loop_->uv(), &l->u.tcp);
  if (rc < 0) {
    ::close(fd);
    return rc;
  }
  l->u.handle.data = l.get();
  rc = unix_ ? uv_pipe_open(&l->u.pipe, fd) : uv_tcp_open(&l->u.tcp, fd);
  ++open_listeners_;
  listeners_.push_back(std::move(l));
  if (rc < 0)
    ::close(fd);
  return rc;
}

int Server::bind_tcp_on_loop(const std::vector<struct sockaddr_storage> &ads) {
  int rc = engine_->track(loop_, shared_from_this());
  if (rc < 0)
    return rc;
  self_ref_ = shared_from_this();
  Lock lock(mu_);
  int chosen_port = -1;
  for (struct sockaddr_storage ss : ads) {
    if (chosen_port > 0) /* port 0: every address shares the first port */
      set_port(&ss, chosen_port);
    int fd = -1;
    std::string name = format_host(ss);
    rc = make_listen_socket(ss, opts_, &fd);
    if (rc < 0) {
      rc = fail_with(rc, "bind " + name + ":" + std::to_string(port_of(ss)));
      break;
    }
    chosen_port = bound_port(fd);
    rc = add_listener(fd, name, chosen_port);
    if (rc < 0)
      break;
  }
  if (rc == 0 && option(&opts_, "start_serving", 1))
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
    rc = add_listener(fd, path, -1);
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
  for (auto &l : listeners_) {
    int rc = uv_listen(&l->u.stream, backlog_, on_connection);
    if (rc < 0)
      return rc;
  }
  serving_ = true;
  return 0;
}

int Server::start_serving() {
  return loop_->call([this] {
    Lock lock(mu_);
    if (closed_)
      return fail(UVS_ECLOSED, "server is closed");
    int rc = listen_all_locked();
    return rc < 0 ? fail_with(rc, "listen") : 0;
  });
}

int Server::is_serving() {
  Lock lock(mu_);
  return serving_ && !closed_ ? 1 : 0;
}

void Server::on_connection(uv_stream_t *listener, int status) {
  Listener *l = static_cast<Listener *>(listener->data);
  if (status < 0)
    return; /* e.g. EMFILE: libuv retries on the next readiness */
  l->owner->accept_one(listener);
}

void Server::accept_one(uv_stream_t *listener) {
  std::shared_ptr<Stream> s;
  Stream::Transport t =
      unix_ ? Stream::Transport::Unix : Stream::Transport::Tcp;
  if (Stream::create(engine_, loop_, t, &opts_, &s) < 0 ||
      s->init_handle() < 0) {
    /* Shutting down: take the connection off the backlog and drop it. */
    uv_os_fd_t fd;
    if (uv_fileno(reinterpret_cast<uv_handle_t *>(listener), &fd) == 0) {
      int c = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0)
        ::close(c);
    }
    return;
  }
  if (uv_accept(listener, s->uv_stream()) < 0) {
    s->discard_handle();
    return;
  }
  s->set_server(shared_from_this());
  s->on_connected();
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
      tls, "", opts_.get("ssl_handshake_timeout", kDefaultHandshakeTimeoutMs),
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

int Server::num_addresses() {
  Lock lock(mu_);
  return closed_ ? 0 : int(listeners_.size());
}

int Server::address(int index, std::string *host, int *port) {
  Lock lock(mu_);
  if (closed_ || index < 0 || size_t(index) >= listeners_.size())
    return fail(UVS_EINVAL, "no listening address " + std::to_string(index));
  *host = listeners_[size_t(index)]->host;
  *port = listeners_[size_t(index)]->port;
  return 0;
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
    /* Visible at once, even if the loop does the rest a little later. */
    closed_ = true;
    close_status_ = UVS_ECLOSED;
    serving_ = false;
  }
  std::shared_ptr<Server> self = shared_from_this();
  loop_->dispatch([self] { self->close_on_loop(UVS_ECLOSED); });
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
    for (auto &l : listeners_) {
      if (!uv_is_closing(&l->u.handle))
        uv_close(&l->u.handle, on_listener_closed);
    }
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

void Server::on_listener_closed(uv_handle_t *h) {
  Listener *l = static_cast<Listener *>(h->data);
  Server *srv = l->owner;
  std::shared_ptr<Server> self;
  {
    Lock lock(srv->mu_);
    if (--srv->open_listeners_ == 0)
      self = std::move(srv->self_ref_);
    srv->check_closed_locked();
  }
  if (self)
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
