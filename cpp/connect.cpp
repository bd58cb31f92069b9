/*
 * connect.cpp - see connect.h.
 */
#include "connect.h"

#include "loop.h"
#include "resolver.h"
#include "stream.h"
#include "tls.h"

#include <sys/un.h>

#include <cstring>

namespace uvs {

Connector::Connector(std::shared_ptr<Engine> engine, Loop *loop,
                     const Options *opts)
    : engine_(std::move(engine)), loop_(loop) {
  if (opts)
    opts_ = *opts;
  resolve_req_.data = this;
  connect_req_.data = this;
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
  if (!loop_->dispatch([self] { self->run_on_loop(); })) {
    self_ref_.reset();
    op->abandon();
    return fail(UVS_ESHUTDOWN, "engine is shut down");
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
  struct sockaddr_storage ss;
  int family = int(opts_.get("family", 0));
  if (parse_numeric(host_.c_str(), port_, family, &ss)) {
    addrs_.push_back(ss);
    return try_next_address();
  }
  struct addrinfo hints = {};
  hints.ai_family = af_from_option(family);
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  int rc = uv_getaddrinfo(loop_->uv(), &resolve_req_, on_resolved,
                          host_.c_str(), nullptr, &hints);
  if (rc < 0)
    return finish(rc);
  resolving_ = true;
}

void Connector::on_resolved(uv_getaddrinfo_t *req, int status,
                            struct addrinfo *res) {
  Connector *c = static_cast<Connector *>(req->data);
  c->resolving_ = false;
  if (status == 0) {
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
      if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
        continue;
      struct sockaddr_storage ss = {};
      memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
      set_port(&ss, c->port_);
      c->addrs_.push_back(ss);
    }
  }
  uv_freeaddrinfo(res);
  if (c->cancel_status_)
    return c->finish(c->cancel_status_);
  if (status < 0)
    return c->finish(status == UV_EAI_CANCELED ? UVS_ECANCELED : status);
  if (c->addrs_.empty())
    return c->finish(UVS_EAI_NODATA);
  c->try_next_address();
}

void Connector::try_next_address() {
  while (next_ < addrs_.size()) {
    const struct sockaddr_storage &ss = addrs_[next_++];
    attempt_.reset();
    int rc = Stream::create(engine_, loop_, Stream::Transport::Tcp, &opts_,
                            &attempt_);
    if (rc == 0)
      rc = attempt_->init_handle();
    if (rc == 0) {
      rc = uv_tcp_connect(&connect_req_, attempt_->uv_tcp(),
                          reinterpret_cast<const struct sockaddr *>(&ss),
                          on_connect);
      if (rc == 0)
        return;
      attempt_->discard_handle();
    }
    last_error_ = rc;
  }
  attempt_.reset();
  finish(last_error_);
}

void Connector::connect_unix() {
  int rc = Stream::create(engine_, loop_, Stream::Transport::Unix, &opts_,
                          &attempt_);
  if (rc == 0)
    rc = attempt_->init_handle();
  if (rc < 0) {
    attempt_.reset();
    return finish(rc);
  }
  uv_pipe_connect(&connect_req_, attempt_->uv_pipe(), host_.c_str(),
                  on_connect);
}

void Connector::on_connect(uv_connect_t *req, int status) {
  Connector *c = static_cast<Connector *>(req->data);
  std::shared_ptr<Stream> s = std::move(c->attempt_);
  if (status == 0 && !c->cancel_status_ && !c->finished_)
    return c->connected(std::move(s));
  if (s)
    s->discard_handle();
  if (c->cancel_status_)
    return c->finish(c->cancel_status_);
  c->last_error_ = status;
  if (c->unix_)
    return c->finish(status);
  c->try_next_address();
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
  attempt_ = s;
  std::shared_ptr<Connector> self = shared_from_this();
  int rc = s->start_tls_session(
      tls, hostname,
      opts_.get("ssl_handshake_timeout", kDefaultHandshakeTimeoutMs),
      opts_.get("ssl_shutdown_timeout", kDefaultShutdownTimeoutMs),
      [self](int status, const std::string &detail) {
        self->on_tls_done(status, detail);
      });
  if (rc < 0) {
    attempt_.reset();
    s->discard_handle();
    op_->detail = last_error_detail();
    finish(rc);
  }
}

void Connector::on_tls_done(int status, const std::string &detail) {
  std::shared_ptr<Stream> s = std::move(attempt_);
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
  std::shared_ptr<Connector> self = std::move(self_ref_);
  std::shared_ptr<Op> op = std::move(op_);
  engine_->untrack(loop_, this);
  if (status < 0 && op)
    op->stream.reset();
  if (op)
    op->complete(status);
}

void Connector::abort_on_loop(int status) {
  if (finished_)
    return;
  if (!cancel_status_)
    cancel_status_ = status;
  if (resolving_)
    uv_cancel(reinterpret_cast<uv_req_t *>(&resolve_req_));
  else if (attempt_)
    attempt_->discard_handle(); /* on_connect follows with ECANCELED */
}

void Connector::cancel_op(const std::shared_ptr<Op> &, int status) {
  std::shared_ptr<Connector> self = shared_from_this();
  loop_->dispatch([self, status] { self->abort_on_loop(status); });
}

void Connector::shutdown_now(int err) {
  abort_on_loop(err);
}

} // namespace uvs
