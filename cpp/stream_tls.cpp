/*
 * stream_tls.cpp - the TLS half of a stream (see stream.h and tls.h).
 *
 * Received ciphertext goes into the session, which decrypts it straight into
 * the reader's buffer, so every read function and the read-side flow control
 * are the plain ones. Writes are encrypted under the stream mutex and the
 * ciphertext joins the ordinary write buffers. The handshake's outcome is
 * reported through a callback deferred to a later loop turn (never under the
 * mutex); its deadline, and the close_notify flush deadline, are internal
 * operations armed on the op deadline service, so a timeout takes the same
 * path as a cancellation.
 */
#include "loop.h"
#include "stream.h"
#include "tls.h"

namespace uvs {

int Stream::start_tls_session(const std::shared_ptr<TlsConfig> &config,
                              const std::string &hostname, bool check_name,
                              int64_t handshake_ms, int64_t shutdown_ms,
                              TlsReady ready) {
  Lock lock(mu_);
  if (handle_state_ != HandleState::Open || closing_)
    return fail(UVS_ECLOSED, "the stream is closing or closed");
  if (tls_)
    return fail(UVS_EINVAL, "the stream already uses TLS");
  int rc = TlsSession::create(config, hostname, check_name, &tls_);
  if (rc < 0)
    return rc;
  TlsState &t = tls_state();
  t.ready = std::move(ready);
  t.shutdown_ms = shutdown_ms;
  if (handshake_ms >= 0)
    arm_tls_timer_locked(handshake_ms);
  user_paused_ = false;
  leave_direct_locked();  /* TLS records are read by the loop */
  start_reading_locked(); /* the handshake must be read even when paused */
  drive_handshake_locked();
  return 0;
}

int Stream::start_tls(const std::shared_ptr<Op> &op, const Options &opts) {
  std::shared_ptr<TlsConfig> config = opts.tls();
  if (!config)
    return fail(UVS_EINVAL, "no TLS configuration in the options");
  if (transport_ == Transport::None)
    return fail(UVS_ENOTSUP, "a standalone reader has no transport");
  std::string hostname = opts.get_str("server_hostname");
  bool check_name = opts.get("check_hostname", 1) != 0;
  if (!config->server() && !opts.has_str("server_hostname") &&
      config->verify_mode() != UVS_TLS_VERIFY_NONE)
    return fail(UVS_EINVAL, "start_tls needs \"server_hostname\" (\"\" to "
                            "skip the host-name check)");
  int64_t handshake_ms =
      opts.get("ssl_handshake_timeout", kDefaultHandshakeTimeoutMs);
  int64_t shutdown_ms =
      opts.get("ssl_shutdown_timeout", kDefaultShutdownTimeoutMs);
  std::shared_ptr<Stream> self = shared_from_this();
  {
    Lock lock(mu_);
    int rc = op->begin(UVS_OP_START_TLS, self, loop_);
    if (rc < 0)
      return rc;
    if (tls_ || (tls_state_ && tls_state_->start_op)) {
      op->abandon();
      return fail(UVS_EINVAL, "the stream already uses TLS");
    }
    tls_state().start_op = op;
  }
  auto finish = [self, op](int status, const std::string &detail) {
    {
      Lock lock(self->mu_);
      self->tls_state_->start_op.reset();
    }
    op->detail = detail;
    op->complete(status);
  };
  bool queued = loop_->dispatch([=] {
    int rc = start_tls_session(config, hostname, check_name, handshake_ms,
                               shutdown_ms, finish);
    if (rc < 0)
      finish(rc, last_error_detail());
  });
  if (!queued)
    finish(UVS_ESHUTDOWN, "engine is shut down");
  op->arm_timeout();
  return UVS_PENDING;
}

void Stream::on_ciphertext_locked(const char *data, size_t len) {
  tls_->feed_ciphertext(data, len);
  if (tls_->handshaking()) {
    drive_handshake_locked();
    if (tls_->handshaking() || handle_state_ != HandleState::Open)
      return;
  }
  bool peer_closed = false;
  ByteBuffer discarded; /* after close(), application data is dropped */
  TlsSession::Step step = tls_->read_plaintext(
      tls_state_->shutting_down ? discarded : reader_.buffer(), &peer_closed);
  if (tls_->take_output(out_pending_)) /* e.g. TLS 1.3 key updates */
    flush_locked();
  if (step == TlsSession::Step::Failed) {
    begin_close_locked(tls_->error(), false);
    return;
  }
  if (peer_closed) { /* close_notify: EOF, and no half-close over TLS */
    tls_state_->peer_closed = true;
    reader_.feed_eof();
    close_on_loop_locked();
  }
}

/* Queues our close_notify once, then closes when both it is flushed and the
 * peer's close_notify (or EOF) has come, or when ssl_shutdown_timeout runs
 * out. Closing without reading the peer's would leave unread bytes (TLS 1.3
 * session tickets) that make the kernel reset the connection. */
void Stream::tls_shutdown_locked() {
  TlsState &t = tls_state();
  if (!t.shutting_down) {
    t.shutting_down = true;
    tls_->shutdown();
    tls_->take_output(out_pending_);
    arm_tls_timer_locked(t.shutdown_ms);
  }
  if (t.peer_closed) {
    close_after_flush_ = true;
    if (!write_in_flight_ && out_pending_.empty())
      begin_close_locked(0, false);
    else
      flush_locked();
    return;
  }
  flush_locked();
  if (!reading_ && handle_state_ == HandleState::Open &&
      uv_read_start(&handle_.stream, on_alloc, on_read) == 0)
    reading_ = true; /* for the peer's close_notify, even after our EOF */
}

void Stream::drive_handshake_locked() {
  TlsSession::Step step = tls_->handshake();
  if (tls_->take_output(out_pending_))
    flush_locked();
  if (step == TlsSession::Step::Done)
    tls_finish_locked(0, "");
  else if (step == TlsSession::Step::Failed)
    tls_finish_locked(tls_->error(), tls_->error_detail());
}

void Stream::tls_finish_locked(int status, const std::string &detail) {
  disarm_tls_timer_locked();
  TlsState &t = tls_state();
  TlsReady ready = std::move(t.ready);
  t.ready = nullptr;
  if (status == 0 && !t.plain_pending.empty()) {
    ByteBuffer plain;
    plain.swap(t.plain_pending);
    uvs_buf b = {plain.data(), plain.size()};
    if (write_tls_locked(&b, 1))
      flush_locked();
  }
  if (ready)
    loop_->defer([ready, status, detail] { ready(status, detail); });
  if (status < 0)
    begin_close_locked(status, false);
}

void Stream::arm_tls_timer_locked(int64_t ms) {
  disarm_tls_timer_locked();
  if (ms < 0)
    return;
  std::shared_ptr<Op> &timer = tls_state().timer;
  timer = std::make_shared<Op>(nullptr, 0);
  timer->timeout_ms = ms;
  timer->begin(UVS_OP_NONE, shared_from_this(), loop_);
  if (int err = timer->try_arm_timeout(); err < 0) {
    /* As if it expired at once, with the error: the handshake or the
     * close does not wait forever. */
    cancel_tls_op_locked(timer, err);
    std::shared_ptr<void> self = shared_from_this();
    loop_->defer([self] { task_tls_abort(self); });
  }
}

void Stream::disarm_tls_timer_locked() {
  if (!tls_state_)
    return;
  if (std::shared_ptr<Op> timer = std::move(tls_state_->timer))
    timer->complete(0);
}

bool Stream::cancel_tls_op_locked(const std::shared_ptr<Op> &op, int status) {
  TlsState *t = tls_state_.get();
  if (!op || !t || (op != t->timer && op != t->start_op))
    return false;
  if (op == t->timer) {
    /* op may be a reference to t->timer itself: complete through a copy. */
    std::shared_ptr<Op> timer = std::move(t->timer);
    timer->complete(status);
  }
  /* A start_tls op completes through the handshake callback; the caller
   * posts task_tls_abort once it has released the mutex (a host-driven
   * loop may run the task at once, on this thread). */
  t->abort_status = status;
  return true;
}

void Stream::task_tls_abort(const std::shared_ptr<void> &obj) {
  Stream *s = static_cast<Stream *>(obj.get());
  Lock lock(s->mu_);
  int status = s->tls_state().abort_status;
  if (s->tls_state_->ready)
    s->tls_finish_locked(status, status == UVS_ETIMEDOUT
                                     ? "TLS handshake timed out"
                                     : "TLS handshake cancelled");
  else if (s->closing_) /* no close_notify exchange within the timeout */
    s->begin_close_locked(0, false);
}

bool Stream::write_tls_locked(const uvs_buf *bufs, size_t n) {
  if (tls_->handshaking()) {
    for (size_t i = 0; i < n; ++i)
      tls_state().plain_pending.append(bufs[i].base, bufs[i].len);
  } else {
    for (size_t i = 0; i < n; ++i) {
      int rc =
          tls_->write(static_cast<const char *>(bufs[i].base), bufs[i].len);
      if (rc < 0) { /* the loop closes the handle on its next flush */
        connection_lost_locked(rc);
        return true;
      }
    }
    tls_->take_output(out_pending_);
  }
  if (!write_paused_ && write_buffer_size_locked() > high_)
    write_paused_ = true;
  return !flush_scheduled_ && !write_in_flight_ && !out_pending_.empty();
}

Stream::TlsState &Stream::tls_state() {
  if (!tls_state_)
    tls_state_ = std::make_unique<TlsState>();
  return *tls_state_;
}

int Stream::get_bytes(const std::string &key, std::vector<unsigned char> *out) {
  Lock lock(mu_);
  if (key != "tls.peer_cert_der")
    return fail(UVS_ENOENT, "no bytes '" + key + "' for this stream");
  if (!tls_)
    return fail(UVS_ENOENT, "the stream does not use TLS");
  return tls_->peer_cert_der(out);
}

} // namespace uvs
