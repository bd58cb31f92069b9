/*
 * stream_direct.cpp - direct reads: the waiting thread reads the socket.
 *
 * On an engine with I/O threads, a read that has to wait normally costs two
 * thread switches: the loop wakes for the data, reads it, and wakes the
 * waiting thread. A plain blocking socket costs one. With "direct_reads"
 * the loop never reads the stream: Op::wait offers the wait to the stream
 * (serve_wait), and the waiting thread polls the descriptor and reads it
 * into the reader's buffer itself, under the stream's mutex, so everything
 * after the read (limits, separators, EOF, errors) is the same code as the
 * loop's. The poll also watches an eventfd of the thread, which the stream
 * writes when the wait must end early: a cancel, a timeout from the
 * deadline thread, a hand-back to the loop, a close. Before the loop closes
 * the descriptor it waits for the poller to leave poll(2), which it does
 * without the mutex, so a descriptor number is never polled or read after
 * it has been closed (and perhaps reused). When the last direct read filled
 * its window, more is probably waiting: the next wait reads before it
 * polls (a large message then costs one poll, not one per read).
 */
#include "loop.h"
#include "stream.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>

namespace uvs {

namespace {
/* What a thread needs to read directly: its wake-up eventfd and 128 KiB of
 * scratch memory (as a loop has), made at its first direct read. Without
 * its eventfd (EMFILE) the thread cannot wait directly; it tries again at
 * its next wait. */
struct DirectWaiter {
  int wake_fd = -1;
  std::unique_ptr<char[]> scratch{new char[Loop::kScratchSize]};
  bool ready() {
    if (wake_fd < 0)
      wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return wake_fd >= 0;
  }
  ~DirectWaiter() {
    if (wake_fd >= 0)
      ::close(wake_fd);
  }
};

DirectWaiter &direct_waiter() {
  thread_local DirectWaiter waiter;
  return waiter;
}

int remaining_ms(Clock::time_point end) {
  auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now())
          .count();
  if (left <= 0)
    return 0;
  return left > INT32_MAX ? INT32_MAX : int(left + 1); /* round up */
}

/* Waits until fd is readable, the waker is written or ms pass (-1:
 * forever); clears the waker. */
void poll_readable(int fd, int wake_fd, int ms) {
  struct pollfd fds[2] = {{fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
  if (poll(fds, 2, ms) > 0 && (fds[1].revents & POLLIN)) {
    eventfd_t ignored;
    eventfd_read(wake_fd, &ignored);
  }
}
} // namespace

bool Stream::serve_wait(Op &op, Clock::time_point end, bool limited, int *rc) {
  Lock lock(mu_);
  if (!direct_ || read_op_.get() != &op)
    return false;
  DirectWaiter &me = direct_waiter();
  if (!me.ready()) {
    /* No way to wait here: the loop reads the stream from now on (else
     * nobody would, and the wait would never end). */
    leave_direct_locked();
    read_paused_ = true;
    bool resume = wants_resume();
    lock.unlock();
    if (resume)
      post(task_resume_reading);
    return false;
  }
  bool last_try = false;
  bool read_first = direct_read_full_;
  for (;;) {
    if (op.done()) {
      *rc = 0;
      return true;
    }
    if (!direct_ || handle_state_ != HandleState::Open)
      return false; /* the loop finishes the op from now on */
    if (last_try) {
      *rc = UVS_ETIMEDOUT;
      return true;
    }
    if (!read_first) {
      int ms = limited ? remaining_ms(end) : -1;
      last_try = ms == 0;
      poll_unlocked(lock, me.wake_fd, ms);
    }
    read_first = false;
    if (direct_ && handle_state_ == HandleState::Open &&
        read_directly_locked(me.scratch.get()) < 0) {
      lock.unlock();
      post(task_lose); /* the op completed with the error */
      *rc = 0;
      return true;
    }
  }
}

void Stream::poll_unlocked(Lock &lock, int wake_fd, int ms) {
  int fd = fd_;
  direct_waker_ = wake_fd;
  direct_polling_.store(true, std::memory_order_release);
  lock.unlock();
  poll_readable(fd, wake_fd, ms);
  direct_polling_.store(false, std::memory_order_release);
  lock.lock();
}

char *Stream::direct_target_locked(size_t *len) {
  if (!read_op_ || read_op_->request.kind != ReadKind::Read ||
      read_op_->request.n <= 0 || !reader_.buffer().empty() || reader_.eof() ||
      reader_.error())
    return nullptr;
  const ReadRequest &req = read_op_->request;
  if (req.into) {
    *len = size_t(req.n);
    return req.into;
  }
  *len = std::min(size_t(req.n), Loop::kScratchSize);
  return read_op_->data.reserve_tail(*len);
}

int Stream::read_directly_locked(char *scratch) {
  uv_buf_t buf;
  size_t len = 0;
  char *target = direct_target_locked(&len);
  if (target) {
    buf.base = target;
    buf.len = len;
  } else {
    read_target_locked(scratch, &buf);
  }
  ssize_t n;
  do
    n = ::read(fd_, buf.base, buf.len);
  while (n < 0 && errno == EINTR);
  direct_read_full_ = n > 0 && size_t(n) == buf.len;
  if (n > 0 && target) {
    if (read_op_->request.into)
      read_op_->into_len = size_t(n);
    else
      read_op_->data.commit(size_t(n));
    complete_waiting_read_locked(ReadResult());
    return 0;
  }
  if (n > 0) {
    took_bytes_locked(buf, size_t(n), scratch);
    return 0;
  }
  if (n == 0) {
    reader_.feed_eof();
    serve_waiting_read_locked();
    return 0;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK)
    return 0;
  pending_loss_ = -errno;
  connection_lost_locked(pending_loss_);
  return pending_loss_;
}

void Stream::leave_direct_locked() {
  if (!direct_)
    return;
  direct_ = false;
  wake_direct_reader_locked();
}

void Stream::wake_direct_reader_locked() {
  if (direct_polling_.load(std::memory_order_acquire))
    eventfd_write(direct_waker_, 1);
}

void Stream::release_direct_reader_locked() {
  direct_ = false;
  wake_direct_reader_locked();
  /* The poller leaves poll(2) without the mutex, so this cannot deadlock;
   * it is woken, so the wait is a thread switch long. */
  while (direct_polling_.load(std::memory_order_acquire))
    std::this_thread::yield();
}

} // namespace uvs
