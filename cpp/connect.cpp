/*
 * connect.cpp - see connect.h.
 */
#include "connect.h"

#include "loop.h"
#include "name_lookup.h"
#include "resolver.h"
#include "stream.h"
#include "tls.h"

#include <sys/un.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <utility>

namespace uvs {

Connector::Connector(std::shared_ptr<Engine> engine, Loop *loop,
                     const Options *opts)
    : engine_(std::move(engine)), loop_(loop) {
  if (opts)
    opts_ = *opts;
}

int Connector::begin(const std::shared_ptr<Op> &op) {
  if (opts_.tls() && opts_.tls()->server())
    return fail(UVS_EINVAL, "connect needs a client-side TLS configuration");
  if (opts_.tls() && unix_ && !opts_.has_str("server_hostname") &&
      opts_.tls()->verify_mode() != UVS_TLS_VERIFY_NONE)
    return fail(UVS_EINVAL, "TLS over a Unix socket needs \"server_hostname\" "
                            "(\"\" to skip the host-name check)");
  if (engine_->shutting_down())
    return fail(UVS_ESHUTDOWN, "engine is shutting down");
  int rc = op->begin(UVS_OP_CONNECT, shared_from_this(), loop_);
  if (rc < 0)
    return rc;
  op_ = op;
  self_ref_ = shared_from_this();
  std::shared_ptr<Connector> self = self_ref_;
  int refused = 0;
  try {
    if (!loop_->dispatch([self] { self->run_on_loop(); }))
      refused = fail(UVS_ESHUTDOWN, "engine is shut down");
  } catch (const std::bad_alloc &) { /* the task could not be queued */
    refused = fail(UVS_ENOMEM, "out of memory");
  }
  if (refused) { /* nothing happened: the op is idle again, and free */
    self_ref_.reset();
    op_.reset();
    op->abandon();
    return refused;
  }
  op->arm_timeout();
  return UVS_PENDING;
}

int Connector::start_tcp(std::shared_ptr<Engine> engine, const char *host,
                         int port, const Options *opts,
                         const std::shared_ptr<Op> &op) {
  if (!host || !*host)
    return fail(UVS_EINVAL, "empty host name");
  if (port < 0 || port > 65535)
    return fail(UVS_EINVAL, "port out of range: " + std::to_string(port));
  int64_t limit = option(opts, "limit", kDefaultLimit);
  if (limit <= 0)
    return fail(UVS_EINVAL, "limit must be > 0");
  Loop *loop = engine->pick_loop();
  std::shared_ptr<Connector> c(new Connector(std::move(engine), loop, opts));
  c->host_ = host;
  c->port_ = port;
  return c->begin(op);
}

int Connector::start_unix(std::shared_ptr<Engine> engine, const char *path,
                          const Options *opts, const std::shared_ptr<Op> &op) {
  if (!path || !*path)
    return fail(UVS_EINVAL, "empty socket path");
  if (strlen(path) >= sizeof(((struct sockaddr_un *)nullptr)->sun_path))
    return fail(UVS_ENAMETOOLONG, std::string("socket path too long: ") + path);
  Loop *loop = engine->pick_loop();
  std::shared_ptr<Connector> c(new Connector(std::move(engine), loop, opts));
  c->host_ = path;
  c->unix_ = true;
  return c->begin(op);
}

void Connector::run_on_loop() {
  if (finished_)
    return;
  if (engine_->track(loop_, shared_from_this()) < 0)
    return finish(UVS_ESHUTDOWN);
  if (cancel_status_)
    return finish(cancel_status_);
  if (unix_)
    return connect_unix();
  if (int rc = read_local_address())
    return finish(rc);
  delay_ms_ = opts_.get("happy_eyeballs_delay", -1);
  struct sockaddr_storage ss;
  int family = int(opts_.get("family", 0));
  if (parse_numeric(host_.c_str(), port_, family, &ss)) {
    addrs_.push_back(ss);
    return addresses_ready();
  }
  struct addrinfo hints = {};
  hints.ai_family = af_from_option(family);
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = int(opts_.get("flags", 0));
  std::weak_ptr<Connector> weak = shared_from_this();
  lookup_ = loop_->lookups().start(
      host_, port_, hints,
      [weak](int status, std::vector<struct sockaddr_storage> addrs) {
        if (auto self = weak.lock())
          self->on_resolved(status, std::move(addrs));
      });
  if (!lookup_) /* no lookup thread could be started */
    finish(UVS_EAGAIN);
}

/* asyncio's local_addr: a numeric address (bindings resolve names first). */
int Connector::read_local_address() {
  if (!opts_.has_str("local_host") && !opts_.has("local_port"))
    return 0;
  std::string host = opts_.get_str("local_host");
  int port = int(opts_.get("local_port", 0));
  if (port < 0 || port > 65535)
    return fail(UVS_EINVAL, "local_port out of range");
  if (host.empty())
    host = "0.0.0.0";
  if (!parse_numeric(host.c_str(), port, 0, &local_))
    return fail(UVS_EINVAL, "local_host must be a numeric address: " + host);
  has_local_ = true;
  return 0;
}

void Connector::on_resolved(int status,
                            std::vector<struct sockaddr_storage> addrs) {
  lookup_.reset();
  if (status < 0)
    return finish(status);
  addrs_ = std::move(addrs);
  addresses_ready();
}

namespace {
/* RFC 8305 section 4: first_family_count addresses of the first family,
 * then one of each family in turn. */
std::vector<struct sockaddr_storage>
interleave_families(const std::vector<struct sockaddr_storage> &addrs,
                    size_t first_family_count) {
  std::vector<std::vector<struct sockaddr_storage>> by_family;
  for (const auto &ss : addrs) {
    auto it = std::find_if(
        by_family.begin(), by_family.end(),
        [&](const auto &group) { return group[0].ss_family == ss.ss_family; });
    if (it == by_family.end())
      by_family.push_back({ss});
    else
      it->push_back(ss);
  }
  std::vector<struct sockaddr_storage> out;
  std::vector<size_t> taken(by_family.size(), 0);
  if (!by_family.empty()) {
    size_t first = std::min(first_family_count - 1, by_family[0].size());
    out.insert(out.end(), by_family[0].begin(), by_family[0].begin() + first);
    taken[0] = first;
  }
  while (out.size() < addrs.size())
    for (size_t f = 0; f < by_family.size(); ++f)
      if (taken[f] < by_family[f].size())
        out.push_back(by_family[f][taken[f]++]);
  return out;
}
} // namespace

void Connector::addresses_ready() {
  if (has_local_) {
    auto other_family = [this](const struct sockaddr_storage &ss) {
      return ss.ss_family != local_.ss_family;
    };
    addrs_.erase(std::remove_if(addrs_.begin(), addrs_.end(), other_family),
                 addrs_.end());
    if (addrs_.empty())
      return finish(fail(UVS_EINVAL, "no address of local_host's family"));
  }
  if (addrs_.empty())
    return finish(UVS_EAI_NODATA);
  int64_t interleave = opts_.get("interleave", delay_ms_ >= 0 ? 1 : 0);
  if (interleave > 0)
    addrs_ = interleave_families(addrs_, size_t(interleave));
  start_next_attempt();
}

void Connector::start_next_attempt() {
  while (!finished_ && !cancel_status_ && next_ < addrs_.size()) {
    int rc = start_attempt(addrs_[next_++]);
    if (rc == 0) {
      if (delay_ms_ >= 0 && next_ < addrs_.size()) {
        if (!timer_open_ && uv_timer_init(loop_->uv(), &delay_timer_) == 0) {
          delay_timer_.data = this;
          timer_open_ = true;
        }
        if (timer_open_)
          uv_timer_start(&delay_timer_, on_delay, uint64_t(delay_ms_), 0);
      }
      return;
    }
    last_error_ = rc;
  }
  if (attempts_.empty())
    finish(cancel_status_ ? cancel_status_ : last_error_);
}

int Connector::start_attempt(const struct sockaddr_storage &ss) {
  auto a = std::make_unique<Attempt>();
  a->owner = this;
  a->req.data = a.get();
  int rc = Stream::create(engine_, loop_, Stream::Transport::Tcp, &opts_,
                          &a->stream);
  if (rc == 0)
    rc = a->stream->init_handle();
  if (rc < 0)
    return rc;
  if (has_local_)
    rc = uv_tcp_bind(a->stream->uv_tcp(),
                     reinterpret_cast<const struct sockaddr *>(&local_), 0);
  if (rc == 0)
    rc = uv_tcp_connect(&a->req, a->stream->uv_tcp(),
                        reinterpret_cast<const struct sockaddr *>(&ss),
                        on_connect);
  if (rc < 0) {
    a->stream->discard_handle();
    return rc;
  }
  attempts_.push_back(std::move(a));
  return 0;
}

void Connector::on_delay(uv_timer_t *timer) {
  static_cast<Connector *>(timer->data)->start_next_attempt();
}

void Connector::connect_unix() {
  auto a = std::make_unique<Attempt>();
  a->owner = this;
  a->req.data = a.get();
  int rc = Stream::create(engine_, loop_, Stream::Transport::Unix, &opts_,
                          &a->stream);
  if (rc == 0)
    rc = a->stream->init_handle();
  if (rc < 0)
    return finish(rc);
  uv_pipe_connect(&a->req, a->stream->uv_pipe(), host_.c_str(), on_connect);
  attempts_.push_back(std::move(a));
}

void Connector::on_connect(uv_connect_t *req, int status) {
  Attempt *a = static_cast<Attempt *>(req->data);
  Connector *c = a->owner;
  std::shared_ptr<Connector> keep = c->shared_from_this();
  std::shared_ptr<Stream> s = std::move(a->stream);
  bool won = status == 0 && !c->cancel_status_ && !c->finished_;
  if (won)
    c->close_losers(a);
  else if (s)
    s->discard_handle();
  auto it = std::find_if(c->attempts_.begin(), c->attempts_.end(),
                         [a](const auto &p) { return p.get() == a; });
  c->attempts_.erase(it);
  if (won) {
    c->stop_timer();
    return c->connected(std::move(s));
  }
  if (status < 0 && status != UV_ECANCELED)
    c->last_error_ = status;
  if (c->finished_)
    return c->release_when_idle();
  if (c->unix_)
    return c->finish(c->cancel_status_ ? c->cancel_status_ : status);
  c->start_next_attempt();
}

/* Happy eyeballs: the first connection wins, the others are closed (their
 * callbacks follow with UV_ECANCELED). */
void Connector::close_losers(Attempt *winner) {
  for (auto &a : attempts_)
    if (a.get() != winner && a->stream)
      a->stream->discard_handle();
}

void Connector::stop_timer() {
  if (timer_open_ &&
      !uv_is_closing(reinterpret_cast<uv_handle_t *>(&delay_timer_)))
    uv_close(reinterpret_cast<uv_handle_t *>(&delay_timer_), on_timer_closed);
}

void Connector::on_timer_closed(uv_handle_t *handle) {
  Connector *c = static_cast<Connector *>(handle->data);
  std::shared_ptr<Connector> keep = c->shared_from_this();
  c->timer_open_ = false;
  c->release_when_idle();
}

void Connector::connected(std::shared_ptr<Stream> s) {
  s->on_connected();
  const std::shared_ptr<TlsConfig> &tls = opts_.tls();
  if (!tls) {
    op_->stream = std::move(s);
    return finish(0);
  }
  /* asyncio: server_hostname defaults to the host connected to. */
  std::string hostname = opts_.has_str("server_hostname")
                             ? opts_.get_str("server_hostname")
                             : (unix_ ? std::string() : host_);
  tls_stream_ = s;
  std::shared_ptr<Connector> self = shared_from_this();
  int rc = s->start_tls_session(
      tls, hostname, opts_.get("check_hostname", 1) != 0,
      opts_.get("ssl_handshake_timeout", kDefaultHandshakeTimeoutMs),
      opts_.get("ssl_shutdown_timeout", kDefaultShutdownTimeoutMs),
      [self](int status, const std::string &detail) {
        self->on_tls_done(status, detail);
      });
  if (rc < 0) {
    tls_stream_.reset();
    s->discard_handle();
    op_->detail = last_error_detail();
    finish(rc);
  }
}

void Connector::on_tls_done(int status, const std::string &detail) {
  std::shared_ptr<Stream> s = std::move(tls_stream_);
  if (status == 0 && cancel_status_)
    status = cancel_status_;
  if (status == 0 && s) {
    op_->stream = std::move(s);
    return finish(0);
  }
  if (op_)
    op_->detail = detail;
  finish(cancel_status_ ? cancel_status_ : status);
}

void Connector::finish(int status) {
  if (finished_)
    return;
  finished_ = true;
  stop_timer();
  if (lookup_) /* getaddrinfo cannot be stopped: its answer is dropped */
    loop_->lookups().abandon(std::exchange(lookup_, nullptr));
  for (auto &a : attempts_)
    if (a->stream)
      a->stream->discard_handle();
  std::shared_ptr<Op> op = std::move(op_);
  engine_->untrack(loop_, this);
  if (status < 0 && op)
    op->stream.reset();
  bool cancelled = status == UVS_ECANCELED || status == UVS_ETIMEDOUT ||
                   status == UVS_ESHUTDOWN;
  if (status < 0 && op && op->detail.empty() && !cancelled)
    op->detail = "connect to " +
                 (unix_ ? host_ : host_ + ":" + std::to_string(port_)) + ": " +
                 error_message(status);
  if (op)
    op->complete(status);
  release_when_idle();
}

/* Finished, and libuv holds no pointer into us any more. */
void Connector::release_when_idle() {
  if (finished_ && attempts_.empty() && !timer_open_)
    self_ref_.reset();
}

void Connector::abort_on_loop(int status) {
  if (finished_)
    return;
  if (!cancel_status_)
    cancel_status_ = status;
  stop_timer();
  if (lookup_)
    finish(status); /* abandons the lookup */
  else if (!attempts_.empty())
    close_losers(nullptr); /* their callbacks finish with cancel_status_ */
  else if (tls_stream_)
    tls_stream_->discard_handle(); /* the handshake fails: on_tls_done */
  else
    finish(status);
}

void Connector::cancel_op(const std::shared_ptr<Op> &, int status) {
  std::shared_ptr<Connector> self = shared_from_this();
  loop_->dispatch([self, status] { self->abort_on_loop(status); });
}

void Connector::shutdown_now(int err) {
  abort_on_loop(err);
}

} // namespace uvs
