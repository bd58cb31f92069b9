/*
 * stream.cpp - stream lifecycle, the read side and extra info (see
 * stream.h); the write side is in writer.cpp.
 */
#include "stream.h"

#include "loop.h"
#include "resolver.h"
#include "server.h"
#include "tls.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>

namespace uvs {

namespace {
/* Writing to a pipe whose reader is gone raises SIGPIPE (sockets avoid it
 * with MSG_NOSIGNAL); left at its default action it kills the host. Like
 * Python at startup, and Node, we ignore it then, so the write fails with
 * EPIPE instead. A handler the host installed is left alone. */
void ignore_sigpipe() {
  struct sigaction sa;
  if (sigaction(SIGPIPE, nullptr, &sa) == 0 && sa.sa_handler == SIG_DFL &&
      !(sa.sa_flags & SA_SIGINFO))
    signal(SIGPIPE, SIG_IGN);
}

/* Read straight into the stream's buffer when it has this much room. */
constexpr size_t kDirectReadMin = 16 * 1024;

/* Host and port of an IP address, or the path of a Unix one ("" when the
 * socket is unnamed, as a socketpair end). */
void name_of(const struct sockaddr_storage &ss, socklen_t len,
             std::string *host, int *port) {
  if (ss.ss_family == AF_UNIX) {
    auto *sun = reinterpret_cast<const struct sockaddr_un *>(&ss);
    size_t n = len > offsetof(struct sockaddr_un, sun_path)
                   ? len - offsetof(struct sockaddr_un, sun_path)
                   : 0;
    *host = std::string(sun->sun_path, strnlen(sun->sun_path, n));
    return;
  }
  *host = format_host(ss);
  *port = port_of(ss);
}
} // namespace

/* ---- creation ---------------------------------------------------------- */

Stream::Stream(std::shared_ptr<Engine> engine, Loop *loop, Transport t,
               size_t limit)
    : engine_(std::move(engine)), loop_(loop), transport_(t), reader_(limit) {}

int Stream::check_options(const Options *opts) {
  if (option(opts, "limit", kDefaultLimit) <= 0)
    return fail(UVS_EINVAL, "limit must be > 0");
  for (const char *key : {"send_buffer_size", "recv_buffer_size"}) {
    int64_t v = option(opts, key, 0);
    if (v < 0 || v > INT32_MAX)
      return fail(UVS_EINVAL, std::string(key) + " out of range");
  }
  int64_t high, low;
  return resolve_write_limits(option(opts, "write_high", -1),
                              option(opts, "write_low", -1), &high, &low);
}

int Stream::create(std::shared_ptr<Engine> engine, Loop *loop, Transport t,
                   const Options *opts, std::shared_ptr<Stream> *out) {
  if (int rc = check_options(opts))
    return rc;
  int64_t limit = option(opts, "limit", kDefaultLimit);
  std::shared_ptr<Stream> s(
      new Stream(std::move(engine), loop, t, size_t(limit)));
  int rc = s->set_write_limits(option(opts, "write_high", -1),
                               option(opts, "write_low", -1));
  if (rc < 0)
    return rc;
  s->nodelay_ = option(opts, "nodelay", 1) != 0;
  s->keep_alive_ = option(opts, "keep_alive", 0) != 0;
  s->send_buffer_size_ = int(option(opts, "send_buffer_size", 0));
  s->recv_buffer_size_ = int(option(opts, "recv_buffer_size", 0));
  s->direct_wanted_ = option(opts, "direct_reads", 0) != 0;
  *out = std::move(s);
  return 0;
}

Stream::~Stream() {
  if (tracked_reader_)
    engine_->untrack(engine_->host_loop(), this);
}

int Stream::track_reader() {
  /* A reader of an engine is failed with UVS_ESHUTDOWN at engine shutdown,
   * like the engine's streams (its shutdown touches no libuv handle). */
  int rc = engine_->track(engine_->host_loop(), shared_from_this());
  tracked_reader_ = rc == 0;
  return rc;
}

int Stream::init_handle() {
  int rc = engine_->track(loop_, shared_from_this());
  if (rc < 0)
    return rc;
  rc = transport_ == Transport::Tcp
           ? uv_tcp_init(loop_->uv(), &handle_.tcp)
           : uv_pipe_init(loop_->uv(), &handle_.pipe, 0);
  if (rc < 0) {
    engine_->untrack(loop_, this);
    return fail_with(rc, "uv handle init");
  }
  handle_.handle.data = this;
  Lock lock(mu_);
  handle_state_ = HandleState::Open;
  self_ref_ = shared_from_this();
  return 0;
}

int Stream::on_connected() {
  Lock lock(mu_);
  record_names_locked();
  apply_socket_options_locked();
  direct_ = direct_wanted_ && readable_ && loop_->threaded() && fd_ >= 0;
  if (readable_ && !direct_)
    start_reading_locked();
  return 0;
}

/* asyncio's defaults and its keep_alive (3.13) plus the buffer sizes; set
 * with setsockopt, read back by get_int from the socket itself. */
void Stream::apply_socket_options_locked() {
  if (!is_socket_)
    return;
  auto set = [this](int level, int name, int value) {
    setsockopt(fd_, level, name, &value, sizeof value);
  };
  if (transport_ == Transport::Tcp && nodelay_)
    set(IPPROTO_TCP, TCP_NODELAY, 1);
  if (transport_ == Transport::Tcp && keep_alive_)
    set(SOL_SOCKET, SO_KEEPALIVE, 1);
  if (send_buffer_size_ > 0)
    set(SOL_SOCKET, SO_SNDBUF, send_buffer_size_);
  if (recv_buffer_size_ > 0)
    set(SOL_SOCKET, SO_RCVBUF, recv_buffer_size_);
}

/* libuv reports EOF without reading again when POLLHUP follows a short
 * read (libuv 1.44), so a reset that arrives with the last data passes for
 * a FIN: the socket's pending error tells them apart (defect D11). */
bool Stream::pending_socket_error_locked(ssize_t *err) const {
  int soerr = 0;
  socklen_t len = sizeof soerr;
  if (!is_socket_ || getsockopt(fd_, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 ||
      soerr == 0)
    return false;
  *err = -soerr;
  return true;
}

int Stream::socket_option(int level, int name, int64_t *out) const {
  int value = 0;
  socklen_t len = sizeof value;
  if (!is_socket_ || getsockopt(fd_, level, name, &value, &len) < 0)
    return fail(UVS_ENOENT, "not a socket option of this stream");
  *out = value;
  return 0;
}

void Stream::discard_handle() {
  Lock lock(mu_);
  begin_close_locked(0, false);
}

int Stream::open_fd(int fd, Direction direction) {
  int rc = init_handle();
  if (rc < 0) {
    ::close(fd);
    return rc;
  }
  rc = transport_ == Transport::Tcp ? uv_tcp_open(&handle_.tcp, fd)
                                    : uv_pipe_open(&handle_.pipe, fd);
  if (rc < 0) {
    ::close(fd);
    discard_handle();
    return fail_with(rc, "adopt descriptor");
  }
  /* libuv reads the descriptor's access mode (O_RDONLY, O_WRONLY). */
  bool can_read = uv_is_readable(&handle_.stream) != 0;
  bool can_write = uv_is_writable(&handle_.stream) != 0;
  const char *refused = nullptr;
  if (direction == Direction::ReadOnly && !can_read)
    refused = "descriptor is not open for reading";
  else if (direction == Direction::WriteOnly && !can_write)
    refused = "descriptor is not open for writing";
  if (refused) {
    discard_handle();
    return fail(UVS_EINVAL, refused);
  }
  {
    Lock lock(mu_);
    readable_ = can_read && direction != Direction::WriteOnly;
    writable_ = can_write && direction != Direction::ReadOnly;
  }
  if (transport_ == Transport::Pipe && writable_)
    ignore_sigpipe();
  return on_connected();
}

void Stream::record_names_locked() {
  uv_os_fd_t fd;
  if (uv_fileno(&handle_.handle, &fd) == 0)
    fd_ = fd;
  struct stat st;
  is_socket_ = fd_ >= 0 && fstat(fd_, &st) == 0 && S_ISSOCK(st.st_mode);
  if (!is_socket_)
    return;
  /* getsockname/getpeername directly: libuv's pipe variants read an
   * unnamed socket's path uninitialized. */
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  memset(&ss, 0, sizeof ss);
  if (getsockname(fd_, (struct sockaddr *)&ss, &len) == 0) {
    family_ = family_code(ss.ss_family);
    name_of(ss, len, &sock_host_, &sock_port_);
  }
  len = sizeof ss;
  memset(&ss, 0, sizeof ss);
  if (getpeername(fd_, (struct sockaddr *)&ss, &len) == 0)
    name_of(ss, len, &peer_host_, &peer_port_);
}

/* ---- loop tasks ---------------------------------------------------------- */

void Stream::post(void (*fn)(const std::shared_ptr<void> &)) {
  if (loop_)
    loop_->dispatch(Loop::Task{fn, shared_from_this()});
}

void Stream::task_resume_reading(const std::shared_ptr<void> &obj) {
  Stream *s = static_cast<Stream *>(obj.get());
  Lock lock(s->mu_);
  if (s->wants_resume())
    s->start_reading_locked();
}

void Stream::task_close(const std::shared_ptr<void> &obj) {
  Stream *s = static_cast<Stream *>(obj.get());
  Lock lock(s->mu_);
  s->close_on_loop_locked();
}

/* Graceful close: flush, then close. Over TLS (tls_shutdown_locked) the
 * close_notify goes first and the peer's is awaited. */
void Stream::close_on_loop_locked() {
  closing_ = true;
  if (tls_ && !tls_->handshaking() && handle_state_ == HandleState::Open) {
    tls_shutdown_locked();
    return;
  }
  close_after_flush_ = true;
  stop_reading_locked();
  if (!write_in_flight_ && out_pending_.empty()) {
    begin_close_locked(0, false);
    return;
  }
  flush_locked();
}

void Stream::task_abort(const std::shared_ptr<void> &obj) {
  Stream *s = static_cast<Stream *>(obj.get());
  Lock lock(s->mu_);
  s->begin_close_locked(0, true);
}

void Stream::task_lose(const std::shared_ptr<void> &obj) {
  Stream *s = static_cast<Stream *>(obj.get());
  Lock lock(s->mu_);
  s->begin_close_locked(s->pending_loss_, false);
}

/* ---- reading ------------------------------------------------------------- */

void Stream::start_reading_locked() {
  if (handle_state_ != HandleState::Open || reading_ || reader_.eof() ||
      user_paused_)
    return;
  if (uv_read_start(&handle_.stream, on_alloc, on_read) == 0)
    reading_ = true;
  read_paused_ = false;
}

void Stream::stop_reading_locked() {
  if (!reading_)
    return;
  uv_read_stop(&handle_.stream);
  reading_ = false;
}

bool Stream::wants_resume() const {
  return read_paused_ && handle_state_ == HandleState::Open && !closing_ &&
         (read_op_ || reader_.at_or_below_limit());
}

void Stream::read_target_locked(char *scratch, uv_buf_t *buf) {
  ByteBuffer &b = reader_.buffer();
  if (tls_ || b.room() < kDirectReadMin) {
    /* Shared scratch memory (ciphertext, or a stream with no room):
     * took_bytes_locked copies what came, so an idle stream holds no
     * 64 KiB. */
    buf->base = scratch;
    buf->len = Loop::kScratchSize;
    return;
  }
  size_t room = std::min(b.room(), Loop::kScratchSize);
  if (b.empty() && room < Loop::kScratchSize) {
    /* A stream that reads large chunks gets a full-size window, as the
     * scratch memory is: a window the size of some earlier read would cut
     * every later read (and its echo) into several system calls. */
    b.release();
    room = Loop::kScratchSize;
  }
  buf->base = b.reserve_tail(room);
  buf->len = room;
}

void Stream::took_bytes_locked(const uv_buf_t &buf, size_t n,
                               const char *scratch) {
  if (tls_)
    on_ciphertext_locked(buf.base, n);
  else if (buf.base == scratch)
    reader_.buffer().append(buf.base, n);
  else
    reader_.buffer().commit(n);
  serve_waiting_read_locked();
}

void Stream::on_alloc(uv_handle_t *h, size_t, uv_buf_t *buf) {
  Stream *s = static_cast<Stream *>(h->data);
  /* Released in on_read, which libuv always calls right after an alloc
   * (on_read may also come alone, for an EOF seen through POLLHUP). */
  s->mu_.lock();
  s->alloc_locked_ = true;
  try {
    s->read_target_locked(s->loop_->scratch(), buf);
  } catch (const std::bad_alloc &) {
    /* No memory to read into: an empty buffer makes libuv call on_read
     * with UV_ENOBUFS (an error on the stream), which releases the mutex;
     * the exception must not unwind through libuv. */
    *buf = uv_buf_init(nullptr, 0);
  }
}

void Stream::on_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf) {
  Stream *s = static_cast<Stream *>(h->data);
  Lock lock(s->mu_, std::defer_lock);
  if (s->alloc_locked_) {
    s->alloc_locked_ = false;
    lock = Lock(s->mu_, std::adopt_lock);
  } else {
    lock.lock();
  }
  if (nread > 0) {
    s->took_bytes_locked(*buf, size_t(nread), s->loop_->scratch());
    if (!s->read_op_ && s->reading_ && s->reader_.over_high_mark()) {
      s->stop_reading_locked();
      s->read_paused_ = true;
    }
  } else if (nread == UV_EOF && s->pending_socket_error_locked(&nread)) {
    s->begin_close_locked(int(nread), false);
  } else if (nread == UV_EOF && s->tls_ && s->tls_->handshaking()) {
    s->tls_finish_locked(UVS_ECONNRESET,
                         "connection closed during the TLS handshake");
  } else if (nread == UV_EOF) {
    s->reader_.feed_eof();
    s->stop_reading_locked();
    s->serve_waiting_read_locked();
    if (s->tls_) { /* no half-close over TLS: asyncio closes the transport */
      s->tls_state().peer_closed = true;
      s->close_on_loop_locked();
    }
  } else if (nread < 0) {
    s->begin_close_locked(int(nread), false);
  }
}

void Stream::serve_waiting_read_locked() {
  if (!read_op_)
    return;
  ReadResult r;
  if (!reader_.try_complete(read_op_->request, read_op_->data, r))
    return;
  complete_waiting_read_locked(r);
}

void Stream::complete_waiting_read_locked(const ReadResult &r) {
  std::shared_ptr<Op> op = std::move(read_op_);
  finish_read_locked(*op, r);
  op->complete(r.status);
  wake_direct_reader_locked(); /* completed by another thread (a close) */
}

void Stream::finish_read_locked(Op &op, const ReadResult &r) {
  op.consumed = r.consumed;
  op.expected = r.expected;
  if (r.status == UVS_ELIMIT) /* asyncio's two LimitOverrunError messages */
    op.detail = r.separator_found
                    ? "Separator is found, but chunk is longer than limit"
                    : "Separator is not found, and chunk exceed the limit";
  else if (tls_ && r.status == tls_->error() && r.status < 0)
    op.detail = tls_->error_detail(); /* OpenSSL's reason, e.g. an alert */
  op.read_seq = ++reads_completed_;
  if (op.request.into && !op.data.empty()) { /* into the caller's memory */
    std::memcpy(op.request.into, op.data.data(), op.data.size());
    op.into_len = op.data.size();
    op.data.clear();
  }
}

int Stream::start_read(const std::shared_ptr<Op> &op, int kind,
                       ReadRequest req) {
  if (Reader::validate(req) < 0)
    return fail(UVS_EINVAL, kind == UVS_OP_READEXACTLY
                                ? "readexactly size can not be less than zero"
                                : "separator should be at least one byte");
  Reader::normalize(req);
  std::shared_ptr<Stream> self = shared_from_this();
  Lock lock(mu_);
  if (!readable_)
    return fail(UVS_ENOTSUP, "the stream is write-only");
  ByteBuffer trial_out;
  ReadResult r;
  bool completed = false;
  if (read_op_) {
    /* Another read waits: only a read the buffer satisfies may go ahead
     * (asyncio); try it before touching op, so that a refusal leaves the op
     * exactly as it was. */
    if (!op->startable())
      return fail(UVS_EOPBUSY, "operation object already has a call pending");
    if (!reader_.try_complete(req, trial_out, r))
      return fail(UVS_EBUSY, "read called while another read is already "
                             "waiting for incoming data");
    completed = true;
  }
  int rc = op->begin(kind, self, loop_);
  if (rc < 0)
    return rc;
  op->request = std::move(req);
  op->source = self;
  if (completed)
    op->data.swap(trial_out);
  if (completed || reader_.try_complete(op->request, op->data, r)) {
    finish_read_locked(*op, r);
    bool resume = wants_resume();
    lock.unlock();
    op->complete_inline(r.status);
    if (resume)
      post(task_resume_reading);
    return UVS_COMPLETED;
  }
  if (direct_ && op->cq) { /* nobody will wait for it: the loop reads */
    leave_direct_locked();
    read_paused_ = true;
  }
  read_op_ = op;
  bool resume = wants_resume();
  lock.unlock();
  op->arm_timeout();
  if (resume)
    post(task_resume_reading);
  return UVS_PENDING;
}

int Stream::feed_data(const void *data, size_t len) {
  Lock lock(mu_);
  if (transport_ != Transport::None)
    return fail(UVS_ENOTSUP, "feed_data needs a standalone reader");
  if (reader_.eof())
    return fail(UVS_EINVAL, "feed_data after feed_eof");
  if (len == 0)
    return 0;
  reader_.feed(data, len);
  serve_waiting_read_locked();
  return 0;
}

int Stream::feed_eof() {
  Lock lock(mu_);
  if (transport_ != Transport::None)
    return fail(UVS_ENOTSUP, "feed_eof needs a standalone reader");
  reader_.feed_eof();
  serve_waiting_read_locked();
  return 0;
}

int Stream::set_error(int err) {
  if (err >= 0)
    return fail(UVS_EINVAL, "the error must be a negative code");
  Lock lock(mu_);
  reader_.set_error(err);
  serve_waiting_read_locked();
  return 0;
}

int Stream::pause_reading() {
  if (transport_ == Transport::None)
    return fail(UVS_ENOTSUP, "a standalone reader has no transport");
  /* Synchronous, so that nothing is read once this returns. */
  return loop_->call([this] {
    Lock lock(mu_);
    leave_direct_locked();
    user_paused_ = true;
    stop_reading_locked();
    return 0;
  });
}

int Stream::resume_reading() {
  if (transport_ == Transport::None)
    return fail(UVS_ENOTSUP, "a standalone reader has no transport");
  return loop_->call([this] {
    Lock lock(mu_);
    leave_direct_locked();
    user_paused_ = false;
    start_reading_locked();
    return 0;
  });
}

int Stream::at_eof() {
  Lock lock(mu_);
  return reader_.at_eof() ? 1 : 0;
}

int Stream::error() {
  Lock lock(mu_);
  return reader_.error();
}

int Stream::unread(Op &op) {
  ByteBuffer back;
  Lock lock(mu_);
  /* Only the latest read may go back, or the bytes would be reordered. */
  if (op.read_seq != reads_completed_ || !op.take_back(back))
    return fail(UVS_EINVAL, "no unused result of the latest read to give back");
  reader_.unread(back.data(), back.size());
  ++reads_completed_;
  return 0;
}

/* ---- closing ------------------------------------------------------------- */

void Stream::begin_close_locked(int err, bool reset) {
  if (transport_ == Transport::None) {
    connection_lost_locked(err);
    handle_state_ = HandleState::Closed;
    for (auto &op : close_ops_)
      op->complete(lost_error_);
    close_ops_.clear();
    return;
  }
  if (handle_state_ != HandleState::Open)
    return;
  handle_state_ = HandleState::Closing;
  connection_lost_locked(err);
  reading_ = false; /* uv_close stops reading */
  if (tls_state_ && tls_state_->ready)
    tls_finish_locked(err ? err : UVS_ECONNRESET,
                      "connection closed during the TLS handshake");
  disarm_tls_timer_locked();
  release_direct_reader_locked();
  if (reset && transport_ == Transport::Tcp &&
      uv_tcp_close_reset(&handle_.tcp, on_close) == 0)
    return;
  uv_close(&handle_.handle, on_close);
}

/* State only, no libuv call: may run off the loop (a failed direct send). */
void Stream::connection_lost_locked(int err) {
  if (lost_)
    return;
  lost_ = true;
  lost_error_ = err;
  closing_ = true;
  if (err < 0 && !reader_.error())
    reader_.set_error(err);
  else
    reader_.feed_eof();
  serve_waiting_read_locked();
  out_pending_.clear();
  complete_drains_locked(err);
}

void Stream::on_close(uv_handle_t *h) {
  Stream *s = static_cast<Stream *>(h->data);
  std::shared_ptr<Stream> self;
  std::vector<std::shared_ptr<Op>> ops;
  int status;
  {
    Lock lock(s->mu_);
    self = std::move(s->self_ref_);
    s->handle_state_ = HandleState::Closed;
    ops.swap(s->close_ops_);
    status = s->lost_error_;
  }
  for (auto &op : ops)
    op->complete(status);
  if (auto server = s->server_.lock())
    server->client_closed(s);
  s->engine_->untrack(s->loop_, s);
}

int Stream::close() {
  Lock lock(mu_);
  user_closed_ = true;
  if (closing_)
    return 0;
  closing_ = true;
  if (transport_ == Transport::None) {
    begin_close_locked(0, false);
    return 0;
  }
  /* The loop decides how to finish (close_on_loop_locked): after the flush,
   * or over TLS after the close_notify exchange. */
  if (!reader_.error())
    reader_.feed_eof();
  serve_waiting_read_locked();
  lock.unlock();
  post(task_close);
  return 0;
}

int Stream::abort() {
  Lock lock(mu_);
  user_closed_ = true;
  if (transport_ == Transport::None) {
    closing_ = true;
    begin_close_locked(0, false);
    return 0;
  }
  if (handle_state_ != HandleState::Open)
    return 0;
  closing_ = true;
  close_after_flush_ = false;
  out_pending_.clear();
  if (!reader_.error())
    reader_.feed_eof();
  serve_waiting_read_locked();
  lock.unlock();
  post(task_abort);
  return 0;
}

int Stream::is_closing() {
  Lock lock(mu_);
  return closing_ ? 1 : 0;
}

int Stream::start_wait_closed(const std::shared_ptr<Op> &op) {
  Lock lock(mu_);
  int rc = op->begin(UVS_OP_WAIT_CLOSED, shared_from_this(), loop_);
  if (rc < 0)
    return rc;
  if (handle_state_ == HandleState::Closed) {
    int status = lost_error_;
    lock.unlock();
    op->complete_inline(status);
    return UVS_COMPLETED;
  }
  close_ops_.push_back(op);
  lock.unlock();
  op->arm_timeout();
  return UVS_PENDING;
}

void Stream::cancel_op(const std::shared_ptr<Op> &op, int status) {
  Lock lock(mu_);
  if (cancel_tls_op_locked(op, status)) {
    lock.unlock();
    return post(task_tls_abort);
  }
  if (read_op_ == op) {
    read_op_.reset();
    wake_direct_reader_locked();
  } else {
    auto drop = [&op](auto &list) {
      for (auto it = list.begin(); it != list.end(); ++it)
        if (*it == op) {
          list.erase(it);
          return true;
        }
      return false;
    };
    if (!drop(drain_ops_) && !drop(close_ops_))
      return;
  }
  op->complete(status);
}

void Stream::shutdown_now(int err) {
  Lock lock(mu_);
  if (!reader_.error())
    reader_.set_error(err);
  serve_waiting_read_locked();
  complete_drains_locked(err);
  begin_close_locked(err, false);
}

/* ---- extra info ---------------------------------------------------------- */

int Stream::get_int(const std::string &key, int64_t *out) {
  Lock lock(mu_);
  if (key == "tls")
    *out = tls_ ? 1 : 0;
  else if (key.compare(0, 4, "tls.") == 0)
    return tls_ ? tls_->get_int(key, out)
                : fail(UVS_ENOENT, "the stream does not use TLS");
  else if (key == "limit")
    *out = int64_t(reader_.limit());
  else if (key == "read_buffer_size")
    *out = int64_t(reader_.size());
  else if (key == "write_high")
    *out = int64_t(high_);
  else if (key == "write_low")
    *out = int64_t(low_);
  else if (key == "write_buffer_size")
    *out = int64_t(write_buffer_size_locked());
  else if (transport_ == Transport::None)
    return fail(UVS_ENOENT, "'" + key + "' does not apply to a reader");
  else if (key == "fd") /* -1 once closing: the number may be reused */
    *out = handle_state_ == HandleState::Open ? fd_ : -1;
  else if (key == "family")
    *out = family_;
  else if (key == "loop")
    *out = loop_->index();
  else if (key == "direct_reads")
    *out = direct_ ? 1 : 0;
  else if (key == "peer.port" && transport_ == Transport::Tcp)
    *out = peer_port_;
  else if (key == "sock.port" && transport_ == Transport::Tcp)
    *out = sock_port_;
  else if (key == "nodelay" && transport_ == Transport::Tcp)
    return socket_option(IPPROTO_TCP, TCP_NODELAY, out);
  else if (key == "keep_alive" && transport_ == Transport::Tcp)
    return socket_option(SOL_SOCKET, SO_KEEPALIVE, out);
  else if (key == "send_buffer_size")
    return socket_option(SOL_SOCKET, SO_SNDBUF, out);
  else if (key == "recv_buffer_size")
    return socket_option(SOL_SOCKET, SO_RCVBUF, out);
  else if (key == "readable")
    *out = readable_ ? 1 : 0;
  else if (key == "writable")
    *out = writable_ ? 1 : 0;
  else
    return fail(UVS_ENOENT, "no integer '" + key + "' for this stream");
  return 0;
}

int Stream::get_str(const std::string &key, std::string *out) {
  Lock lock(mu_);
  static const char *const kinds[] = {"reader", "tcp", "unix", "pipe"};
  bool tcp = transport_ == Transport::Tcp;
  bool unix_socket = transport_ == Transport::Unix;
  auto join = [](const std::string &host, int port) {
    if (host.find(':') != std::string::npos)
      return "[" + host + "]:" + std::to_string(port);
    return host + ":" + std::to_string(port);
  };
  if (key.compare(0, 4, "tls.") == 0)
    return tls_ ? tls_->get_str(key, out)
                : fail(UVS_ENOENT, "the stream does not use TLS");
  if (key == "kind")
    *out = kinds[int(transport_)];
  else if (tcp && key == "peer.host")
    *out = peer_host_;
  else if (tcp && key == "sock.host")
    *out = sock_host_;
  else if (tcp && key == "peername" && peer_port_ >= 0)
    *out = join(peer_host_, peer_port_);
  else if (tcp && key == "sockname" && sock_port_ >= 0)
    *out = join(sock_host_, sock_port_);
  else if (unix_socket && (key == "peer.path" || key == "peername"))
    *out = peer_host_;
  else if (unix_socket && (key == "sock.path" || key == "sockname"))
    *out = sock_host_;
  else
    return fail(UVS_ENOENT, "no string '" + key + "' for this stream");
  return 0;
}

} // namespace uvs
