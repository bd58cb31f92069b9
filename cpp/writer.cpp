/*
 * writer.cpp - the write half of a stream: asyncio StreamWriter semantics.
 *
 * write() never blocks: when nothing is queued it sends straight from the
 * caller's buffer (a non-blocking send on the socket, safe from any thread
 * because libuv only writes when our queue is non-empty, and our queue is
 * guarded by the stream mutex), and copies only the unsent tail. The tail
 * goes to out_pending_; the loop moves it to out_flight_ for one uv_write at
 * a time, so the two buffers swap roles and steady streaming allocates
 * nothing. Flow control is asyncio's: writing "pauses" when the buffered
 * size goes strictly above the high mark and "resumes" at or below the low
 * mark, which is when waiting drains complete. Over TLS, write() encrypts
 * under the stream mutex and the ciphertext joins the same buffers (it is
 * what counts for flow control); during the handshake the plaintext waits.
 */
#include "stream.h"

#include "loop.h"
#include "tls.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace uvs {

namespace {
constexpr size_t kMaxDirectIov = 64;
/* One libuv buffer carries at most this much: uv_buf_init takes an
 * unsigned length and uv_try_write returns the bytes sent as an int, so a
 * larger buffer goes out as several (it was cut to 32 bits and lost). */
constexpr size_t kMaxWriteSlice = size_t(1) << 30;

uv_buf_t slice_at(const ByteBuffer &b, size_t offset) {
  return uv_buf_init(const_cast<char *>(b.data()) + offset,
                     unsigned(std::min(b.size() - offset, kMaxWriteSlice)));
}

/* b as libuv buffers of at most kMaxWriteSlice bytes each. */
void slice_all(const ByteBuffer &b, std::vector<uv_buf_t> *out) {
  out->clear();
  for (size_t at = 0; at < b.size(); at += kMaxWriteSlice)
    out->push_back(slice_at(b, at));
}
} // namespace

size_t Stream::write_buffer_size_locked() const {
  return out_pending_.size() + (write_in_flight_ ? out_flight_.size() : 0) +
         (tls_state_ ? tls_state_->plain_pending.size() : 0);
}

int64_t Stream::write_buffer_size() {
  Lock lock(mu_);
  return int64_t(write_buffer_size_locked());
}

int Stream::set_write_limits(int64_t high, int64_t low) {
  if (int rc = resolve_write_limits(high, low, &high, &low))
    return rc;
  Lock lock(mu_);
  high_ = size_t(high);
  low_ = size_t(low);
  if (!write_paused_ && write_buffer_size_locked() > high_)
    write_paused_ = true;
  return 0;
}

int Stream::direct_send_locked(const uvs_buf *bufs, size_t n, size_t total,
                               size_t *sent) {
  *sent = 0;
  bool pipe = transport_ == Transport::Pipe;
  if ((!is_socket_ && !pipe) || handle_state_ != HandleState::Open ||
      write_in_flight_ || !out_pending_.empty() || flush_scheduled_ ||
      n > kMaxDirectIov)
    return 0;
  struct iovec iov[kMaxDirectIov];
  for (size_t i = 0; i < n; ++i) {
    iov[i].iov_base = const_cast<void *>(bufs[i].base);
    iov[i].iov_len = bufs[i].len;
  }
  struct msghdr msg = {};
  msg.msg_iov = iov;
  msg.msg_iovlen = n;
  ssize_t rc;
  do /* a pipe is non-blocking since uv_pipe_open; see ignore_sigpipe */
    rc = pipe ? writev(fd_, iov, int(n))
              : sendmsg(fd_, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  while (rc < 0 && errno == EINTR);
  if (rc >= 0) {
    *sent = size_t(rc) < total ? size_t(rc) : total;
    return 0;
  }
  return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
}

int Stream::write(const uvs_buf *bufs, size_t n) {
  size_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!bufs[i].base && bufs[i].len)
      return fail(UVS_EINVAL, "NULL buffer with a non-zero length");
    total += bufs[i].len;
  }
  Lock lock(mu_);
  if (transport_ == Transport::None)
    return fail(UVS_ENOTSUP, "a standalone reader cannot write");
  if (!writable_)
    return fail(UVS_ENOTSUP, "the stream is read-only");
  if (eof_requested_ && !closing_)
    return fail(UVS_EWRITEEOF, "cannot call write() after write_eof()");
  /* asyncio: after a loss, writes are dropped (drain reports the loss);
   * after our own close they are an error. */
  if (lost_ && !user_closed_ && lost_error_ != UVS_ESHUTDOWN)
    return 0;
  if (closing_ || lost_)
    return fail(UVS_ECLOSED, "the stream is closing or closed");
  if (total == 0)
    return 0;
  if (tls_) {
    if (!write_tls_locked(bufs, n))
      return 0;
    flush_scheduled_ = true;
    lock.unlock();
    post(task_flush);
    return 0;
  }
  size_t sent;
  int err = direct_send_locked(bufs, n, total, &sent);
  if (err < 0) {
    /* As asyncio: this write "succeeds" and the connection is lost; later
     * writes fail, drains report the error, the loop closes the handle. */
    pending_loss_ = err;
    connection_lost_locked(err);
    lock.unlock();
    post(task_lose);
    return 0;
  }
  if (sent == total)
    return 0;
  /* The unsent tail, in one allocation (appending buffer by buffer would
   * grow and copy the queue several times over for a large writev). */
  char *to = out_pending_.reserve_tail(total - sent);
  out_pending_.commit(total - sent);
  for (size_t i = 0; i < n; ++i) {
    size_t len = bufs[i].len;
    if (sent >= len) {
      sent -= len;
      continue;
    }
    memcpy(to, static_cast<const char *>(bufs[i].base) + sent, len - sent);
    to += len - sent;
    sent = 0;
  }
  if (!write_paused_ && write_buffer_size_locked() > high_)
    write_paused_ = true;
  if (flush_scheduled_ || write_in_flight_)
    return 0;
  flush_scheduled_ = true;
  lock.unlock();
  post(task_flush);
  return 0;
}

void Stream::task_flush(const std::shared_ptr<void> &obj) {
  Stream *s = static_cast<Stream *>(obj.get());
  Lock lock(s->mu_);
  s->flush_scheduled_ = false;
  s->flush_locked();
}

void Stream::flush_locked() {
  if (lost_ && handle_state_ == HandleState::Open) { /* lost off the loop */
    begin_close_locked(lost_error_, false);
    return;
  }
  if (handle_state_ != HandleState::Open || write_in_flight_)
    return;
  if (!out_pending_.empty()) {
    uv_buf_t b = slice_at(out_pending_, 0);
    int n = uv_try_write(&handle_.stream, &b, 1);
    if (n == UV_EAGAIN || n == UV_ENOSYS)
      n = 0;
    if (n < 0) {
      begin_close_locked(n, false);
      return;
    }
    out_pending_.consume(size_t(n));
  }
  if (!out_pending_.empty()) {
    out_flight_.swap(out_pending_);
    out_pending_.clear();
    slice_all(out_flight_, &write_bufs_);
    if (!write_req_) {
      write_req_ = std::make_unique<uv_write_t>();
      write_req_->data = this;
    }
    int rc = uv_write(write_req_.get(), &handle_.stream, write_bufs_.data(),
                      unsigned(write_bufs_.size()), on_write);
    if (rc < 0) {
      begin_close_locked(rc, false);
      return;
    }
    write_in_flight_ = true;
  }
  after_write_progress_locked();
  if (!write_in_flight_)
    finish_after_flush_locked();
}

void Stream::on_write(uv_write_t *req, int status) {
  Stream *s = static_cast<Stream *>(req->data);
  Lock lock(s->mu_);
  s->write_in_flight_ = false;
  s->out_flight_.clear();
  if (status < 0) {
    s->begin_close_locked(status, false);
    return;
  }
  s->after_write_progress_locked();
  if (!s->out_pending_.empty())
    s->flush_locked();
  else
    s->finish_after_flush_locked();
}

void Stream::after_write_progress_locked() {
  if (write_paused_ && write_buffer_size_locked() <= low_) {
    write_paused_ = false;
    complete_drains_locked(0);
  }
}

void Stream::complete_drains_locked(int status) {
  std::vector<std::shared_ptr<Op>> ops;
  ops.swap(drain_ops_);
  for (auto &op : ops)
    op->complete(status);
}

void Stream::finish_after_flush_locked() {
  if (close_after_flush_) {
    begin_close_locked(0, false);
    return;
  }
  if (!eof_requested_ || eof_sent_ || handle_state_ != HandleState::Open)
    return;
  eof_sent_ = true;
  if (!is_socket_) {
    /* A pipe has no half-close: closing the write end is the EOF. */
    begin_close_locked(0, false);
    return;
  }
  if (!shutdown_req_)
    shutdown_req_ = std::make_unique<uv_shutdown_t>();
  if (uv_shutdown(shutdown_req_.get(), &handle_.stream, on_shutdown) < 0)
    eof_sent_ = false;
}

void Stream::on_shutdown(uv_shutdown_t *, int) {
  /* Nothing to do: a failed half-close shows up as an error on read. */
}

int Stream::start_drain(const std::shared_ptr<Op> &op) {
  Lock lock(mu_);
  if (transport_ == Transport::None)
    return fail(UVS_ENOTSUP, "a standalone reader cannot drain");
  if (!writable_)
    return fail(UVS_ENOTSUP, "the stream is read-only");
  int status = 1;
  if (reader_.error())
    status = reader_.error();
  else if (lost_ || closing_)
    status = UVS_ECONNRESET;
  else if (!write_paused_)
    status = 0;
  if (status <= 0) {
    /* Decided under the stream's mutex, finished under the op's alone. */
    lock.unlock();
    int rc = op->begin_completed(UVS_OP_DRAIN, status);
    return rc < 0 ? rc : UVS_COMPLETED;
  }
  int rc = op->begin(UVS_OP_DRAIN, shared_from_this(), loop_);
  if (rc < 0)
    return rc;
  drain_ops_.push_back(op);
  lock.unlock();
  op->arm_timeout();
  return UVS_PENDING;
}

int Stream::write_eof() {
  Lock lock(mu_);
  if (transport_ == Transport::None)
    return fail(UVS_ENOTSUP, "a standalone reader cannot write");
  if (tls_)
    return fail(UVS_ENOTSUP, "write_eof is not supported over TLS");
  if (!writable_)
    return fail(UVS_ENOTSUP, "the stream is read-only");
  if (closing_ || eof_requested_)
    return 0;
  eof_requested_ = true;
  lock.unlock();
  post(task_flush);
  return 0;
}

int Stream::can_write_eof() {
  Lock lock(mu_);
  return transport_ == Transport::None || tls_ || !writable_ ? 0 : 1;
}

} // namespace uvs
