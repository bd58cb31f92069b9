/*
 * stream.h - one byte stream: a TCP or Unix connection, a pipe, or a
 * standalone reader with no transport behind it.
 *
 * The stream's mutex guards the reader state (buffer, EOF, error, the single
 * waiting read), the write buffers and the lifecycle flags, so that any
 * thread can complete a read from the buffer or queue a write without a
 * round trip to the loop. Only the loop touches the uv handle; a thread that
 * is not on the loop asks for loop work with dispatch(), always after it has
 * released the mutex (the drive lock of a host-driven loop is taken before a
 * stream mutex, never after).
 *
 * Reading follows asyncio's StreamReaderProtocol: data lands directly in the
 * reader's buffer (libuv's alloc callback hands out its tail, so the mutex is
 * held from alloc to read callback), the socket is paused above 2 x limit
 * and resumed at or below limit or when a reader has to wait. Peer EOF does
 * not close the connection (half-close); an error closes it and becomes the
 * reader's sticky error.
 *
 * Direct reads (option "direct_reads", engines with I/O threads): the loop
 * does not read the socket; a thread that waits for a read (a blocking call
 * or uvs_op_wait) polls and reads the descriptor itself, so a blocking
 * read costs no hop between threads, like a plain socket's recv. A
 * completion-queue read, pause/resume or TLS hands reading back to the
 * loop for good. A closing loop wakes the polling thread (its thread-local
 * eventfd) and waits for it to leave before the descriptor is closed.
 *
 * The write half lives in writer.cpp, TLS in
 * stream_tls.cpp: with TLS the socket's bytes go through a TlsSession (under
 * the same mutex) between the socket and the reader/writer buffers.
 */
#pragma once

#include "common.h"
#include "engine.h"
#include "op.h"
#include "options.h"
#include "reader.h"

#include <uv.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <vector>

namespace uvs {

class TlsConfig;
class TlsSession;

class Stream : public OpTarget,
               public Closeable,
               public std::enable_shared_from_this<Stream> {
public:
  enum class Transport { None, Tcp, Unix, Pipe };
  /* Which halves an adopted descriptor serves (asyncio's read and write
   * pipes are one-way; a socket is both). */
  enum class Direction { Both, ReadOnly, WriteOnly };
  /* Outcome of a TLS handshake: status and OpenSSL's reason. */
  using TlsReady = std::function<void(int status, const std::string &detail)>;

  /* The stream options (limit, write marks) are valid: 0 or UVS_EINVAL. */
  static int check_options(const Options *opts);
  /* Validates the options (limit, write marks); *out on success. */
  static int create(std::shared_ptr<Engine> engine, Loop *loop, Transport t,
                    const Options *opts, std::shared_ptr<Stream> *out);
  ~Stream() override;

  /* ---- loop side: opening ---- */
  /* Initializes the uv handle (on the loop). */
  int init_handle();
  uv_stream_t *uv_stream() { return &handle_.stream; }
  uv_tcp_t *uv_tcp() { return &handle_.tcp; }
  uv_pipe_t *uv_pipe() { return &handle_.pipe; }
  /* The handle is connected: record names, set options, start reading. */
  int on_connected();
  /* Closes a handle that never became a connected stream. */
  void discard_handle();
  /* Adopts fd (closed on failure); UVS_EINVAL if it is not open for the
   * direction asked. */
  int open_fd(int fd, Direction direction = Direction::Both);
  /* A standalone reader made with an engine: shut down with it. */
  int track_reader();
  void set_server(std::weak_ptr<Server> s) { server_ = std::move(s); }

  /* ---- reading (any thread) ---- */
  int start_read(const std::shared_ptr<Op> &op, int kind, ReadRequest req);
  int feed_data(const void *data, size_t len);
  int feed_eof();
  int set_error(int err);
  int at_eof();
  int error();
  int pause_reading();
  int resume_reading();
  int unread(Op &op);

  /* ---- writing (writer.cpp) ---- */
  int write(const uvs_buf *bufs, size_t n);
  int start_drain(const std::shared_ptr<Op> &op);
  int64_t write_buffer_size();
  int set_write_limits(int64_t high, int64_t low);
  int write_eof();
  int can_write_eof();

  /* ---- TLS (stream_tls.cpp) ---- */
  /* On the loop: wraps the connection in TLS and starts the handshake.
   * ready runs later on the loop (never inside this call) with the outcome;
   * on failure the connection is closed. */
  int start_tls_session(const std::shared_ptr<TlsConfig> &config,
                        const std::string &hostname, bool check_name,
                        int64_t handshake_ms, int64_t shutdown_ms,
                        TlsReady ready);
  /* uvs_stream_start_tls_start (any thread). */
  int start_tls(const std::shared_ptr<Op> &op, const Options &opts);
  int get_bytes(const std::string &key, std::vector<unsigned char> *out);

  /* ---- lifetime ---- */
  int close();
  int abort();
  int is_closing();
  int start_wait_closed(const std::shared_ptr<Op> &op);

  /* ---- extra info ---- */
  int get_int(const std::string &key, int64_t *out);
  int get_str(const std::string &key, std::string *out);

  void cancel_op(const std::shared_ptr<Op> &op, int status) override;
  bool serve_wait(Op &op, Clock::time_point end, bool limited,
                  int *rc) override;
  void shutdown_now(int err) override;

  Loop *loop() const { return loop_; }
  Transport transport() const { return transport_; }

private:
  enum class HandleState { None, Open, Closing, Closed };
  using Lock = std::unique_lock<std::mutex>;

  Stream(std::shared_ptr<Engine> engine, Loop *loop, Transport t, size_t limit);
  void begin_close_locked(int err, bool reset);

  /* Loop-side actions, run through dispatch(). */
  void post(void (*fn)(const std::shared_ptr<void> &));
  static void task_resume_reading(const std::shared_ptr<void> &obj);
  static void task_flush(const std::shared_ptr<void> &obj);
  static void task_close(const std::shared_ptr<void> &obj);
  static void task_abort(const std::shared_ptr<void> &obj);
  static void task_lose(const std::shared_ptr<void> &obj);
  static void task_tls_abort(const std::shared_ptr<void> &obj);

  static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
  static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
  static void on_write(uv_write_t *req, int status);
  static void on_shutdown(uv_shutdown_t *req, int status);
  static void on_close(uv_handle_t *h);

  /* Under the mutex. */
  /* Where the next read of the socket goes: the buffer's tail if it has
   * room, else scratch (the caller's 128 KiB). */
  void read_target_locked(char *scratch, uv_buf_t *buf);
  /* n bytes were read into buf (from read_target_locked). */
  void took_bytes_locked(const uv_buf_t &buf, size_t n, const char *scratch);
  /* Direct reads: one read(2) by the waiting thread; < 0: connection lost
   * (the caller posts task_lose once unlocked). */
  int read_directly_locked(char *scratch);
  void leave_direct_locked();
  void wake_direct_reader_locked();
  /* Before the descriptor closes: no thread may still poll it. */
  void release_direct_reader_locked();
  /* A plain read(n) waiting on an empty buffer: where a direct read puts
   * its bytes in place (what the reader would return: the caller's memory
   * for a read into it, else the op's buffer) and *len how many fit, or
   * null. */
  char *direct_target_locked(size_t *len);
  /* Waits (at most ms, -1 forever) for fd_ to be readable or the waker to
   * be written, without the mutex (lock is released and retaken). */
  void poll_unlocked(Lock &lock, int wake_fd, int ms);
  void serve_waiting_read_locked();
  void complete_waiting_read_locked(const ReadResult &r);
  void finish_read_locked(Op &op, const ReadResult &r);
  bool wants_resume() const;
  void start_reading_locked();
  void stop_reading_locked();
  void flush_locked();
  void after_write_progress_locked();
  void finish_after_flush_locked();
  void connection_lost_locked(int err);
  void complete_drains_locked(int status);
  void record_names_locked();
  void apply_socket_options_locked();
  int socket_option(int level, int name, int64_t *out) const;
  bool pending_socket_error_locked(ssize_t *err) const;
  void close_on_loop_locked();
  void tls_shutdown_locked();
  /* TLS, under the mutex, on the loop (stream_tls.cpp). */
  void on_ciphertext_locked(const char *data, size_t len);
  void drive_handshake_locked();
  void tls_finish_locked(int status, const std::string &detail);
  void arm_tls_timer_locked(int64_t ms);
  void disarm_tls_timer_locked();
  /* true: op was the TLS timer or start_tls op; the caller then posts
   * task_tls_abort after releasing the mutex. */
  bool cancel_tls_op_locked(const std::shared_ptr<Op> &op, int status);
  /* true: the caller must get the ciphertext flushed. */
  bool write_tls_locked(const uvs_buf *bufs, size_t n);
  bool paused_by_marks_locked() const;
  size_t write_buffer_size_locked() const;
  int direct_send_locked(const uvs_buf *bufs, size_t n, size_t total,
                         size_t *sent);

  const std::shared_ptr<Engine> engine_;
  Loop *const loop_;
  const Transport transport_;
  std::weak_ptr<Server> server_;

  std::mutex mu_;
  Reader reader_;
  std::shared_ptr<Op> read_op_;
  bool reading_ = false;     /* uv_read_start active */
  bool read_paused_ = false; /* stopped by the 2 x limit mark */
  bool tracked_reader_ = false;
  bool user_paused_ = false;   /* pause_reading(): until resume or start_tls */
  bool alloc_locked_ = false;  /* on_alloc took mu_ for on_read (loop only) */
  bool direct_wanted_ = false; /* the "direct_reads" option */
  bool direct_ = false;        /* waiting threads read the socket */
  std::atomic<bool> direct_polling_{false}; /* one is in poll(2) */
  bool direct_read_full_ = false; /* the last direct read filled its window */
  int direct_waker_ = -1;         /* that thread's eventfd */
  uint64_t reads_completed_ = 0;  /* lets unread() refuse a stale result */

  ByteBuffer out_pending_;
  ByteBuffer out_flight_;
  std::vector<uv_buf_t> write_bufs_; /* out_flight_ in slices libuv takes */
  bool write_in_flight_ = false;
  bool flush_scheduled_ = false;
  bool write_paused_ = false; /* asyncio's pause_writing() state */
  size_t high_ = 0, low_ = 0;
  std::vector<std::shared_ptr<Op>> drain_ops_;
  std::vector<std::shared_ptr<Op>> close_ops_;
  bool eof_requested_ = false;
  bool eof_sent_ = false;

  HandleState handle_state_ = HandleState::None;
  bool closing_ = false;
  bool user_closed_ = false; /* close() or abort(), not a loss */
  bool close_after_flush_ = false;
  bool lost_ = false;
  int lost_error_ = 0;
  int pending_loss_ = 0;
  bool is_socket_ = false;
  bool nodelay_ = true;
  bool keep_alive_ = false;
  bool readable_ = true;     /* false: a write pipe */
  bool writable_ = true;     /* false: a read pipe */
  int send_buffer_size_ = 0; /* SO_SNDBUF / SO_RCVBUF to set; 0: default */
  int recv_buffer_size_ = 0;
  int fd_ = -1;
  int family_ = 0;
  std::string peer_host_, sock_host_;
  int peer_port_ = -1, sock_port_ = -1;

  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } handle_;
  /* Made at the first uv_write / at write_eof and kept: an idle connection
   * holds neither (idle streams are the per-connection memory floor). */
  std::unique_ptr<uv_write_t> write_req_;
  std::unique_ptr<uv_shutdown_t> shutdown_req_;
  std::shared_ptr<Stream> self_ref_; /* keeps us alive while the handle is */

  /* TLS-only state, allocated when start_tls begins (tls_state()); a
   * stream that never uses TLS pays one null pointer for it. */
  struct TlsState {
    TlsReady ready;               /* set while a handshake is running */
    std::shared_ptr<Op> timer;    /* handshake or shutdown deadline */
    std::shared_ptr<Op> start_op; /* the caller's start_tls op */
    int abort_status = 0;
    bool shutting_down = false; /* our close_notify is queued */
    bool peer_closed = false;   /* the peer's close_notify (or EOF) came */
    int64_t shutdown_ms = kDefaultShutdownTimeoutMs;
    ByteBuffer plain_pending; /* written during the handshake */
  };
  TlsState &tls_state();
  std::unique_ptr<TlsSession> tls_;
  std::unique_ptr<TlsState> tls_state_;
};

} // namespace uvs
