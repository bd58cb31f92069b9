/*
 * uvstreams.h - asyncio-style byte streams on libuv, behind a stable C ABI.
 *
 * One header, grouped by object: versions, errors, options, engine,
 * completion queues, operations, streams (connect, read, write, close,
 * extra info), the standalone reader, and servers.
 *
 * Conventions (they hold for every function below):
 * - Every fallible function returns 0 or a negative UVS_E* code. A negative
 *   return means nothing happened and no completion will ever be delivered.
 * - Handles are opaque and validated: a NULL, stale (freed), closed or
 *   wrong-type handle gives UVS_EBADHANDLE or UVS_ECLOSED, never a crash;
 *   one made by the parent of a forked process gives UVS_EFORKED (engine).
 *   A handle value is never given out twice, so a freed handle stays
 *   invalid for the life of the process (a slot serves 2^35 - 1 handles,
 *   then is retired; 2^24 may be live at once).
 * - Every function may be called from any thread. An options argument may
 *   always be NULL (defaults).
 * - Byte input is (const void *, size_t) and is copied before the call
 *   returns. Byte output of the blocking calls is allocated by the library
 *   and released with uvs_free(); output of operations is borrowed from the
 *   operation (uvs_op_data) and valid until the operation is restarted/freed.
 * - Timeouts are int64_t milliseconds; -1 waits forever, 0 does not wait.
 *   2^42 ms (about 139 years) or more, INT64_MAX included, also waits
 *   forever (blocking calls, uvs_op_set_timeout, uvs_cq_wait, uvs_cq_next).
 *   A read that times out or is cancelled consumes nothing.
 * - Functions whose name ends in _start begin an asynchronous operation on a
 *   caller-owned uvs_op. They return UVS_PENDING (0) when the operation will
 *   complete later (into the op's completion queue, or for uvs_op_wait), or
 *   UVS_COMPLETED (1) when it already completed (the result is in the op
 *   and nothing is posted to the completion queue): the fast path for a read
 *   that the buffer can satisfy. A read on a stream with a stored error
 *   completes at once with that error in the op.
 * - Resource exhaustion: when a descriptor, a thread or memory cannot be
 *   had, the call that needed it returns a negative code (UVS_EMFILE,
 *   UVS_EAGAIN, UVS_ENOMEM, ...) and nothing happened; an operation already
 *   started completes exactly once (with such a code when its own resource
 *   failed) and the engine can still be freed, leaking nothing. `make
 *   torture` checks this by failing each descriptor, thread creation and
 *   allocation the library makes in turn (tests/torture). Known gaps in
 *   this version: libuv aborts when its own allocations fail, an
 *   allocation failure on an I/O thread of a threaded engine can still end
 *   the process, and one inside uvs_engine_free can leave the shutdown half
 *   done; descriptor failures are fully covered.
 * - Sockets are written with MSG_NOSIGNAL; an adopted pipe (not a socket) is
 *   written with write(), so a program writing to pipes should ignore
 *   SIGPIPE, as with libuv itself.
 *
 * No libuv or C++ type appears here; the header compiles as C99 and C++.
 */
#ifndef UVSTREAMS_H
#define UVSTREAMS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SWIG)
#define UVS_API
#elif defined(UVS_BUILDING)
#define UVS_API __attribute__((visibility("default")))
#else
#define UVS_API
#endif

/* ---- versions ----------------------------------------------------------- */

#define UVS_VERSION_MAJOR 0
#define UVS_VERSION_MINOR 1
#define UVS_VERSION_PATCH 0
#define UVS_VERSION_HEX                                                        \
  ((UVS_VERSION_MAJOR << 16) | (UVS_VERSION_MINOR << 8) | UVS_VERSION_PATCH)

/* (major << 16) | (minor << 8) | patch of the library actually loaded. */
UVS_API unsigned uvs_version(void);
/* "0.1.0" */
UVS_API const char *uvs_version_string(void);

/* ---- errors ------------------------------------------------------------- */

/*
 * System errors pass through with libuv's values (negative errno on Linux),
 * library errors live in -30001..-30099. XX(name, value, message).
 */
#define UVS_ERRNO_MAP(XX) UVS_SYSTEM_ERRNO_MAP(XX) UVS_LIBRARY_ERRNO_MAP(XX)

/* Codes shared with libuv (and errno), passed through unchanged. */
#define UVS_SYSTEM_ERRNO_MAP(XX)                                               \
  XX(EOF, -4095, "end of file")                                                \
  XX(EAI_AGAIN, -3001, "temporary failure in name resolution")                 \
  XX(EAI_FAIL, -3004, "permanent failure in name resolution")                  \
  XX(EAI_FAMILY, -3005, "address family not supported")                        \
  XX(EAI_NODATA, -3007, "no address for this host name")                       \
  XX(EAI_NONAME, -3008, "unknown node or service")                             \
  XX(EAI_SERVICE, -3010, "service not available for socket type")              \
  XX(EPERM, -1, "operation not permitted")                                     \
  XX(ENOENT, -2, "no such file or directory")                                  \
  XX(EINTR, -4, "interrupted system call")                                     \
  XX(EIO, -5, "i/o error")                                                     \
  XX(EBADF, -9, "bad file descriptor")                                         \
  XX(EAGAIN, -11, "resource temporarily unavailable")                          \
  XX(ENOMEM, -12, "not enough memory")                                         \
  XX(EACCES, -13, "permission denied")                                         \
  XX(EEXIST, -17, "file already exists")                                       \
  XX(ENOTDIR, -20, "not a directory")                                          \
  XX(EINVAL, -22, "invalid argument")                                          \
  XX(EMFILE, -24, "too many open files")                                       \
  XX(ENOSPC, -28, "no space left on device")                                   \
  XX(EPIPE, -32, "broken pipe")                                                \
  XX(ENAMETOOLONG, -36, "name too long")                                       \
  XX(ENOSYS, -38, "function not implemented")                                  \
  XX(ENOTSOCK, -88, "socket operation on non-socket")                          \
  XX(ENOTSUP, -95, "operation not supported")                                  \
  XX(EAFNOSUPPORT, -97, "address family not supported")                        \
  XX(EADDRINUSE, -98, "address already in use")                                \
  XX(EADDRNOTAVAIL, -99, "address not available")                              \
  XX(ENETUNREACH, -101, "network is unreachable")                              \
  XX(ECONNABORTED, -103, "software caused connection abort")                   \
  XX(ECONNRESET, -104, "connection reset by peer")                             \
  XX(ENOBUFS, -105, "no buffer space available")                               \
  XX(ENOTCONN, -107, "socket is not connected")                                \
  XX(ETIMEDOUT, -110, "connection timed out")                                  \
  XX(ECONNREFUSED, -111, "connection refused")                                 \
  XX(EHOSTUNREACH, -113, "host is unreachable")                                \
  XX(EALREADY, -114, "connection already in progress")                         \
  XX(ECANCELED, -125, "operation canceled")

/* Codes of the library itself. */
#define UVS_LIBRARY_ERRNO_MAP(XX)                                              \
  XX(EBADHANDLE, -30001, "stale, freed or wrong-type handle")                  \
  XX(ECLOSED, -30002, "object is closed")                                      \
  XX(EBUSY, -30003, "another read is already waiting on this stream")          \
  XX(ELIMIT, -30004, "separator not found within the buffer limit")            \
  XX(EINCOMPLETE, -30005, "end of stream before the read could complete")      \
  XX(ETLS, -30006, "TLS protocol error")                                       \
  XX(ETLSVERIFY, -30007, "TLS peer verification failed")                       \
  XX(ESHUTDOWN, -30008, "engine or completion queue is shutting down")         \
  XX(EINTERNAL, -30009, "internal error")                                      \
  XX(EOPBUSY, -30010, "operation object is already in use")                    \
  XX(EWRITEEOF, -30011, "cannot write after write_eof")                        \
  XX(EWRONGTHREAD, -30012, "call not allowed from this thread")                \
  XX(EFORKED, -30013, "used in a process other than the one that created it")

enum uvs_errno {
#define UVS_ERRNO_ENUM_(name, value, message) UVS_##name = value,
  UVS_ERRNO_MAP(UVS_ERRNO_ENUM_)
#undef UVS_ERRNO_ENUM_
      UVS_OK = 0
};

/* Return values of the *_start functions (see the conventions above). */
#define UVS_PENDING 0
#define UVS_COMPLETED 1

/* Static description of an error code; never NULL ("unknown error" else). */
UVS_API const char *uvs_strerror(int err);
/* Static name of an error code ("ECONNRESET", "ELIMIT"); never NULL. */
UVS_API const char *uvs_err_name(int err);
/* Detail message of the last failure on the calling thread ("" if none),
 * e.g. "connect to 127.0.0.1:1: connection refused". Thread-local. */
UVS_API const char *uvs_last_error(void);
/* Releases memory returned by the library (bytes, strings). NULL is fine. */
UVS_API void uvs_free(void *p);

/* ---- opaque handles ----------------------------------------------------- */

typedef struct uvs_options uvs_options; /* string-keyed settings */
typedef struct uvs_engine uvs_engine;   /* loops and their I/O threads */
typedef struct uvs_cq uvs_cq;           /* completion queue */
typedef struct uvs_op uvs_op;           /* one asynchronous operation */
typedef struct uvs_stream uvs_stream;   /* a connection, pipe or reader */
typedef struct uvs_server uvs_server;   /* listening sockets and clients */
typedef struct uvs_tls_config uvs_tls_config; /* TLS settings (OpenSSL) */

/* A gather/scatter element: writev buffers and readuntil separator sets. */
typedef struct uvs_buf {
  const void *base;
  size_t len;
} uvs_buf;

/* ---- options ------------------------------------------------------------ */
/*
 * Keys (integers unless noted), each read by the calls that use it:
 *   engine:  "io_threads" (default 1; 0 = driven by the host's event loop;
 *            N > 1: connections, accepted or made, spread over N loops)
 *   streams: "limit" (reader buffer limit, default 65536, must be > 0),
 *            "write_high" (default 65536), "write_low" (default high/4),
 *            "nodelay" (TCP_NODELAY, default 1), "keep_alive" (SO_KEEPALIVE,
 *            default 0), "send_buffer_size", "recv_buffer_size" (SO_SNDBUF,
 *            SO_RCVBUF in bytes; default: the system's), "direct_reads"
 *            (default 0; 1 on an engine with I/O threads: the thread that
 *            waits for a read reads the socket itself, no hop through the
 *            loop; a read op without a completion queue then completes only
 *            while waited for, one on a queue, pause/resume or TLS gives
 *            reading back to the loop; extra info "direct_reads" says which)
 *   connect: "family" (0, 4 or 6: any, IPv4 only, IPv6 only), "flags"
 *            (getaddrinfo AI_* flags, default 0), "happy_eyeballs_delay"
 *            (ms; RFC 8305 overlapping attempts; default -1: one address
 *            at a time), "interleave" (addresses of the first family tried
 *            before alternating; default 1 with happy eyeballs, else 0),
 *            "local_port" and string "local_host" (numeric address to bind
 *            first: asyncio's local_addr)
 *   servers: "backlog" (default 100), "reuse_address" (default 1),
 *            "reuse_port" (default 0), "start_serving" (default 1),
 *            "family", "cleanup_socket" (unix, default 1), "ipv6_only"
 *            (IPV6_V6ONLY on IPv6 listeners, default 1 as asyncio),
 *            "per_loop_listeners" (TCP, io_threads > 1: 1 = one SO_REUSEPORT
 *            socket per loop and address, the kernel spreading connections
 *            over them; default 0: one loop accepts and hands connections
 *            round-robin to the loops; Unix and adopted sockets always hand
 *            off; with 1, another process of the same user that sets
 *            SO_REUSEPORT can bind the port too), and the stream keys for
 *            the connections they accept
 *   TLS:     "ssl_handshake_timeout" (ms, default 60000),
 *            "ssl_shutdown_timeout" (ms, default 30000), "check_hostname"
 *            (clients, connect and start_tls; default 1: 0 sends
 *            "server_hostname" as SNI without verifying it, asyncio's
 *            check_hostname=False)
 * String keys: "server_hostname" (TLS clients: SNI and the name verified;
 *   defaults to the host connected to; "" disables the host-name check),
 *   "local_host" (see connect).
 * A TLS configuration (uvs_options_set_tls) turns TLS on for a connect, a
 * server or a start_tls.
 */
UVS_API int uvs_options_new(uvs_options **out);
UVS_API int uvs_options_set_int(uvs_options *o, const char *key, int64_t v);
UVS_API int uvs_options_get_int(const uvs_options *o, const char *key,
                                int64_t *out);
UVS_API int uvs_options_set_str(uvs_options *o, const char *key,
                                const char *value);
/* The options hold their own reference to tls (NULL removes it). */
UVS_API int uvs_options_set_tls(uvs_options *o, uvs_tls_config *tls);
UVS_API int uvs_options_free(uvs_options *o);

/* ---- engine ------------------------------------------------------------- */

/* Creates an engine: "io_threads" libuv loops, each on its own thread. With
 * io_threads = 0 there is one loop and no thread: the host drives it through
 * a completion queue (uvs_cq_fd / uvs_cq_poll) or uvs_engine_run. The
 * library's threads block asynchronous signals: a signal sent to the process
 * reaches one of the application's threads. Engines do not cross fork(2):
 * a child creates its own and leaves the parent's alone. Engine, completion
 * queue, operation, stream and server handles belong to the process that
 * made them: in a child of fork(2) every call on one of the parent's
 * (free included) returns UVS_EFORKED at once and does nothing (no byte is
 * written, no socket closed); options and TLS configurations keep working.
 * A fork while other threads are inside the library is safe: the child can
 * create its own objects. UVS_EMFILE when descriptors run out, including at
 * the process's first engine (libuv would abort there). */
UVS_API int uvs_engine_new(const uvs_options *opts, uvs_engine **out);
/* Closes every stream and server of the engine, completes their pending
 * operations with UVS_ESHUTDOWN, stops and joins the loops. Blocks. */
UVS_API int uvs_engine_free(uvs_engine *e);
/* Number of I/O threads (0 for a host-driven engine), or a negative code. */
UVS_API int uvs_engine_io_threads(uvs_engine *e);
/* Host-driven engines: runs whatever I/O and timers are ready, without
 * blocking, and returns 0. UVS_EWRONGTHREAD on a threaded engine. */
UVS_API int uvs_engine_run(uvs_engine *e);
/* Host-driven engines: milliseconds until the next timer is due (-1: none),
 * for the host's poll timeout. */
UVS_API int uvs_engine_timeout(uvs_engine *e);

/* ---- completion queues -------------------------------------------------- */

UVS_API int uvs_cq_new(uvs_engine *e, uvs_cq **out);
/* A descriptor that is readable while completions are pending (and, for a
 * host-driven engine, while the engine has I/O ready). Level-style: it stays
 * readable until the queue has been drained by uvs_cq_poll/next/wait; wakeups
 * may be spurious. Only poll it; never read or close it. */
UVS_API int uvs_cq_fd(uvs_cq *cq);
/* Non-blocking: runs a host-driven engine once, then moves up to max done
 * operations into ops[]. Returns how many (0 if none). */
UVS_API int uvs_cq_poll(uvs_cq *cq, uvs_op **ops, int max);
/* Like uvs_cq_poll but waits up to timeout_ms for at least one completion.
 * Returns 0 on timeout or after uvs_cq_wakeup. */
UVS_API int uvs_cq_wait(uvs_cq *cq, int64_t timeout_ms, uvs_op **ops, int max);
/* One completion: 1 and *op set, 0 on timeout/wakeup, or a negative code. */
UVS_API int uvs_cq_next(uvs_cq *cq, int64_t timeout_ms, uvs_op **op);
/* Makes one current or next uvs_cq_wait/next return 0. Any thread. */
UVS_API int uvs_cq_wakeup(uvs_cq *cq);
/* Cancels the operations still bound to the queue and frees it. Its
 * operations take no new call from then on (UVS_ECLOSED): free them. */
UVS_API int uvs_cq_free(uvs_cq *cq);

/* ---- operations --------------------------------------------------------- */
/*
 * An operation object carries one asynchronous call at a time and can be
 * reused for the next one once done (one op per stream for reads is the
 * intended pattern). With cq != NULL a completion is delivered to the queue
 * with the tag; with cq == NULL the caller waits with uvs_op_wait.
 * Every started operation completes exactly once: with its result, with
 * UVS_ECANCELED after uvs_op_cancel, UVS_ETIMEDOUT after its timeout,
 * UVS_ESHUTDOWN at engine shutdown. A read pending when its stream is closed
 * completes as at EOF (asyncio); an accept pending when its server closes
 * completes with UVS_ECLOSED. The bytes of a completed read that is freed
 * without uvs_op_unread are dropped.
 */
enum uvs_op_kind {
  UVS_OP_NONE = 0,
  UVS_OP_CONNECT,
  UVS_OP_ACCEPT,
  UVS_OP_READ,
  UVS_OP_READEXACTLY,
  UVS_OP_READUNTIL,
  UVS_OP_READLINE,
  UVS_OP_DRAIN,
  UVS_OP_WAIT_CLOSED,
  UVS_OP_SERVER_WAIT_CLOSED,
  UVS_OP_START_TLS
};

UVS_API int uvs_op_new(uvs_cq *cq, uint64_t tag, uvs_op **out);
/* Deadline for the operations started on this op from now on (-1: none).
 * On expiry the operation completes with UVS_ETIMEDOUT, consuming nothing.
 * If the deadline cannot be armed (no memory, or the timeouts' thread
 * cannot start), the operation completes at once with UVS_ENOMEM or
 * UVS_EAGAIN. */
UVS_API int uvs_op_set_timeout(uvs_op *op, int64_t timeout_ms);
/* Cancels a pending operation (it completes with UVS_ECANCELED unless it
 * had already completed) and frees the op; it is never delivered after. */
UVS_API int uvs_op_free(uvs_op *op);
/* Requests cancellation; the operation still completes exactly once (with
 * its result if it won the race). Returns 0 even if already done. */
UVS_API int uvs_op_cancel(uvs_op *op);
/* Waits for the current operation: 0 when done, UVS_ETIMEDOUT if still
 * pending after timeout_ms (nothing is cancelled). UVS_EINVAL for an op
 * bound to a completion queue. */
UVS_API int uvs_op_wait(uvs_op *op, int64_t timeout_ms);
/* 1 if no operation is pending on the op, 0 if one is, or negative. */
UVS_API int uvs_op_is_done(uvs_op *op);
/* Result of the last completed operation: 0 or a negative code. */
UVS_API int uvs_op_result(uvs_op *op);
/* The op's tag and its last operation's kind (UVS_OP_*). */
UVS_API uint64_t uvs_op_tag(uvs_op *op);
UVS_API int uvs_op_kind(uvs_op *op);
/* Bytes of a completed read: the data, or the partial bytes for
 * UVS_EINCOMPLETE. Borrowed: valid until the op is restarted or freed. */
UVS_API int uvs_op_data(uvs_op *op, const void **data, size_t *len);
/* The result and, for a read, its bytes in one call (the Python fast path):
 * returns the operation's result (or UVS_EBADHANDLE / UVS_EOPBUSY when op is
 * not a valid handle or has not completed); data/len as uvs_op_data (empty
 * for other kinds). */
UVS_API int uvs_op_read_result(uvs_op *op, const void **data, size_t *len);
/* UVS_ELIMIT: LimitOverrunError.consumed, also for readline (whose asyncio
 * ValueError does not carry it); -1 when not applicable: these two return
 * values are counts, not error codes. */
UVS_API int64_t uvs_op_consumed(uvs_op *op);
/* UVS_EINCOMPLETE: IncompleteReadError.expected (-1 for readuntil). */
UVS_API int64_t uvs_op_expected(uvs_op *op);
/* Detail of the last completed operation's failure ("" if none), e.g. the
 * certificate verification reason, or for UVS_ELIMIT asyncio's message
 * ("Separator is found, but chunk is longer than limit" or "Separator is not
 * found, and chunk exceed the limit"). Valid until the op is restarted. */
UVS_API const char *uvs_op_error(uvs_op *op);
/* Connect/accept: hands over the new stream (once; UVS_EINVAL after). */
UVS_API int uvs_op_take_stream(uvs_op *op, uvs_stream **out);
/* A completed, successful read whose bytes the caller will not use (e.g. its
 * awaiting task was cancelled): puts them back at the head of the stream's
 * buffer and marks the op UVS_ECANCELED. Only valid before the next read. */
UVS_API int uvs_op_unread(uvs_op *op);

/* ---- streams: opening ---------------------------------------------------- */

/* TCP connect by host name or address: every resolved address is tried in
 * order, the error of the last one is reported. opts may be NULL. */
UVS_API int uvs_connect_tcp_start(uvs_engine *e, const char *host, int port,
                                  const uvs_options *opts, uvs_op *op);
UVS_API int uvs_connect_tcp(uvs_engine *e, const char *host, int port,
                            const uvs_options *opts, int64_t timeout_ms,
                            uvs_stream **out);
/* Unix-domain socket connect by path. */
UVS_API int uvs_connect_unix_start(uvs_engine *e, const char *path,
                                   const uvs_options *opts, uvs_op *op);
UVS_API int uvs_connect_unix(uvs_engine *e, const char *path,
                             const uvs_options *opts, int64_t timeout_ms,
                             uvs_stream **out);
/* Adopts an open descriptor (connected TCP or Unix socket, socketpair end,
 * pipe end). The stream owns fd from now on, also on failure. */
UVS_API int uvs_stream_open_fd(uvs_engine *e, int fd, const uvs_options *opts,
                               uvs_stream **out);
/* asyncio's connect_read_pipe / connect_write_pipe: adopts a pipe, tty or
 * socket descriptor for one direction only (owned from now on, also on
 * failure). UVS_EINVAL if fd is not open for that direction; on the stream,
 * writes of a read pipe and reads of a write pipe fail with UVS_ENOTSUP. A
 * write pipe whose reader went away fails its writes with UVS_EPIPE: adopting
 * a writable pipe sets SIGPIPE to SIG_IGN if it has its default action (as
 * Python does at startup), a handler of the host's is left alone. */
UVS_API int uvs_connect_read_pipe(uvs_engine *e, int fd,
                                  const uvs_options *opts, uvs_stream **out);
UVS_API int uvs_connect_write_pipe(uvs_engine *e, int fd,
                                   const uvs_options *opts, uvs_stream **out);

/* ---- streams: the standalone reader -------------------------------------- */

/* A stream with no transport (asyncio's StreamReader() + feed_data): feed
 * bytes, EOF or an error, then read with the uvs_stream_read* calls. e may be
 * NULL (then op timeouts other than blocking waits are not available). */
UVS_API int uvs_reader_new(uvs_engine *e, const uvs_options *opts,
                           uvs_stream **out);
UVS_API int uvs_reader_feed_data(uvs_stream *s, const void *data, size_t len);
UVS_API int uvs_reader_feed_eof(uvs_stream *s);
/* Stores err (negative) as the reader's sticky exception; wakes a waiter. */
UVS_API int uvs_reader_set_error(uvs_stream *s, int err);

/* ---- streams: reading (asyncio StreamReader semantics) ------------------- */

/* read(n): n > 0 up to n bytes once any are there; n < 0 until EOF; n == 0
 * empty. "" (len 0) at EOF. */
UVS_API int uvs_stream_read_start(uvs_stream *s, int64_t n, uvs_op *op);
/* read(cap) into the caller's memory: the bytes land in buf, which must
 * stay valid and untouched until the op completes; uvs_op_data and
 * uvs_op_read_result then point into buf. A thread waiting on it with
 * "direct_reads" reads the socket straight into buf (no copy). */
UVS_API int uvs_stream_read_into_start(uvs_stream *s, void *buf, size_t cap,
                                       uvs_op *op);
/* readexactly(n): UVS_EINCOMPLETE with the partial bytes and expected = n if
 * EOF comes first (the buffer is then empty). UVS_EINVAL for n < 0. */
UVS_API int uvs_stream_readexactly_start(uvs_stream *s, int64_t n, uvs_op *op);
/* readuntil(sep): the data up to and including the separator.
 * UVS_ELIMIT (consumed set, nothing removed) when the limit is overrun;
 * UVS_EINCOMPLETE (partial = whole buffer, which is cleared) at EOF. */
UVS_API int uvs_stream_readuntil_start(uvs_stream *s, const void *sep,
                                       size_t len, uvs_op *op);
/* readuntil((sep1, sep2, ...)): the earliest end wins; ties go to the
 * shortest separator. UVS_EINVAL if nseps == 0 or a separator is empty. */
UVS_API int uvs_stream_readuntil_any_start(uvs_stream *s, const uvs_buf *seps,
                                           size_t nseps, uvs_op *op);
/* readline(): readuntil("\n"); at EOF the partial line is a success; on
 * UVS_ELIMIT the over-long line is discarded (as asyncio's ValueError). */
UVS_API int uvs_stream_readline_start(uvs_stream *s, uvs_op *op);

/* Blocking forms. *data (uvs_free) receives the bytes, or the partial bytes
 * with UVS_EINCOMPLETE; consumed (may be NULL) receives the UVS_ELIMIT
 * count. On a timeout nothing is consumed. */
UVS_API int uvs_stream_read(uvs_stream *s, int64_t n, int64_t timeout_ms,
                            void **data, size_t *len);
/* Blocking read into buf (up to cap bytes): *len = how many, 0 at EOF. */
UVS_API int uvs_stream_read_into(uvs_stream *s, void *buf, size_t cap,
                                 int64_t timeout_ms, size_t *len);
/* The other blocking forms, with *data and consumed as uvs_stream_read. */
UVS_API int uvs_stream_readexactly(uvs_stream *s, int64_t n, int64_t timeout_ms,
                                   void **data, size_t *len);
UVS_API int uvs_stream_readuntil(uvs_stream *s, const void *sep, size_t seplen,
                                 int64_t timeout_ms, void **data, size_t *len,
                                 int64_t *consumed);
UVS_API int uvs_stream_readuntil_any(uvs_stream *s, const uvs_buf *seps,
                                     size_t nseps, int64_t timeout_ms,
                                     void **data, size_t *len,
                                     int64_t *consumed);
UVS_API int uvs_stream_readline(uvs_stream *s, int64_t timeout_ms, void **data,
                                size_t *len);

/* Stops reading from the socket (asyncio's transport.pause_reading): when
 * it returns, no more bytes enter the buffer until resume_reading or a
 * start_tls. A server answering STARTTLS pauses before its reply, so that
 * the peer's ClientHello is not read ahead as plaintext. Idempotent. */
UVS_API int uvs_stream_pause_reading(uvs_stream *s);
UVS_API int uvs_stream_resume_reading(uvs_stream *s);

/* 1 when EOF was received and the buffer is empty, 0 otherwise. */
UVS_API int uvs_stream_at_eof(uvs_stream *s);
/* The stored error (asyncio's exception()): 0 or a negative code. */
UVS_API int uvs_stream_error(uvs_stream *s);

/* ---- streams: writing (asyncio StreamWriter semantics) ------------------- */

/* Copies the bytes into the stream's write buffer (trying to send at once)
 * and returns without blocking. UVS_EWRITEEOF after write_eof, UVS_ECLOSED
 * after close or abort. After the connection was lost the data is dropped
 * and 0 returned, as asyncio does: the next drain reports the loss. */
UVS_API int uvs_stream_write(uvs_stream *s, const void *data, size_t len);
/* writelines: gathers several buffers in one call. */
UVS_API int uvs_stream_writev(uvs_stream *s, const uvs_buf *bufs, size_t n);
/* drain(): completes at once while the write buffer is at or below the high
 * watermark, otherwise once it is at or below the low one. Fails with the
 * reader's stored error, or UVS_ECONNRESET once the connection is lost. */
UVS_API int uvs_stream_drain_start(uvs_stream *s, uvs_op *op);
UVS_API int uvs_stream_drain(uvs_stream *s, int64_t timeout_ms);
/* Bytes written but not yet handed to the kernel. */
UVS_API int64_t uvs_stream_write_buffer_size(uvs_stream *s);
/* high < 0: default (64 KiB, or 4 * low if low >= 0); low < 0: high / 4.
 * UVS_EINVAL unless high >= low >= 0. */
UVS_API int uvs_stream_set_write_limits(uvs_stream *s, int64_t high,
                                        int64_t low);
/* Half-close after the buffered data is sent. 1/0 from can_write_eof. */
UVS_API int uvs_stream_write_eof(uvs_stream *s);
UVS_API int uvs_stream_can_write_eof(uvs_stream *s);

/* ---- streams: TLS -----------------------------------------------------------
 */

/* Upgrades a plain stream to TLS (asyncio's StreamWriter.start_tls): options
 * carry the TLS configuration (uvs_options_set_tls; its side decides client
 * or server), "server_hostname" and the timeouts. Completes once the
 * handshake is done; bytes already buffered by the reader stay plaintext.
 * UVS_ETLSVERIFY / UVS_ETLS on failure, with the reason in uvs_op_error. */
UVS_API int uvs_stream_start_tls_start(uvs_stream *s, const uvs_options *opts,
                                       uvs_op *op);
UVS_API int uvs_stream_start_tls(uvs_stream *s, const uvs_options *opts,
                                 int64_t timeout_ms);

/* ---- streams: closing ---------------------------------------------------- */

/* Graceful close: flushes what was written, then closes. Pending reads see
 * EOF. Idempotent, non-blocking. */
UVS_API int uvs_stream_close(uvs_stream *s);
/* Immediate close: drops the write buffer, resets a TCP connection. */
UVS_API int uvs_stream_abort(uvs_stream *s);
/* 1 once close/abort was called or the connection was lost, else 0. */
UVS_API int uvs_stream_is_closing(uvs_stream *s);
/* Completes when the stream is closed, with the error that closed it
 * (e.g. UVS_ECONNRESET) or 0. */
UVS_API int uvs_stream_wait_closed_start(uvs_stream *s, uvs_op *op);
UVS_API int uvs_stream_wait_closed(uvs_stream *s, int64_t timeout_ms);
/* Closes (gracefully) if needed and releases the handle. */
UVS_API int uvs_stream_free(uvs_stream *s);

/* ---- streams: extra info ------------------------------------------------- */
/*
 * Integer keys: "fd" (-1 from the moment the stream closes its descriptor,
 *   whose number may then be reused), "family" (4, 6, or 1 for unix, 0
 *   none), "peer.port", "sock.port", "limit", "write_high", "write_low",
 *   "write_buffer_size",
 *   "read_buffer_size", "loop" (index of the loop serving the stream),
 *   "readable", "writable" (0 for the other end of a one-way pipe), and,
 *   read back from the socket, "nodelay", "keep_alive", "send_buffer_size",
 *   "recv_buffer_size" (as the kernel reports them: Linux doubles sizes).
 * String keys (*out freed with uvs_free): "peer.host", "sock.host"
 *   (numeric address), "peer.path", "sock.path" (unix), "peername",
 *   "sockname" ("host:port", "[v6]:port" or the path), "kind" ("tcp",
 *   "unix", "pipe", "reader").
 * TLS streams: integers "tls" (1), "tls.resumed", "tls.verified"; strings
 *   "tls.version" ("TLSv1.3"), "tls.cipher", "tls.alpn", and the peer
 *   certificate's "tls.peer.subject", "tls.peer.issuer" (RFC 2253),
 *   "tls.peer.san" ("DNS:a,IP Address:b"), "tls.peer.not_before",
 *   "tls.peer.not_after"; bytes "tls.peer_cert_der".
 * UVS_ENOENT when the key does not apply to this stream.
 */
UVS_API int uvs_stream_get_int(uvs_stream *s, const char *key, int64_t *out);
UVS_API int uvs_stream_get_str(uvs_stream *s, const char *key, char **out);
UVS_API int uvs_stream_get_bytes(uvs_stream *s, const char *key, void **data,
                                 size_t *len);

/* ---- servers --------------------------------------------------------------
 */

/* Binds, and listens unless "start_serving" is 0, before returning (so
 * UVS_EADDRINUSE is reported here).
 * host NULL or "" binds every interface; a host resolving to several
 * addresses gets one listener each. port 0 picks a free port. */
UVS_API int uvs_server_listen_tcp(uvs_engine *e, const char *host, int port,
                                  const uvs_options *opts, uvs_server **out);
/* Removes a stale socket file first; removes its own file on close (unless
 * "cleanup_socket" is 0). */
UVS_API int uvs_server_listen_unix(uvs_engine *e, const char *path,
                                   const uvs_options *opts, uvs_server **out);
/* Adopts a bound TCP or Unix stream socket, listening or not (asyncio's
 * sock=); the server owns fd from now on, also on failure, and listens
 * unless "start_serving" is 0. An adopted Unix socket's file is removed on
 * close like the server's own ("cleanup_socket"). */
UVS_API int uvs_server_listen_fd(uvs_engine *e, int fd, const uvs_options *opts,
                                 uvs_server **out);
/* Starts listening for a server made with "start_serving" = 0. Idempotent. */
UVS_API int uvs_server_start_serving(uvs_server *srv);
UVS_API int uvs_server_is_serving(uvs_server *srv);
/* The next connection (queued in order of arrival). */
UVS_API int uvs_server_accept_start(uvs_server *srv, uvs_op *op);
UVS_API int uvs_server_accept(uvs_server *srv, int64_t timeout_ms,
                              uvs_stream **out);
/* Listening addresses: count, then each as host (or, for a Unix server, the
 * path with port -1). *host is freed with uvs_free. 0 once closed. With
 * "per_loop_listeners" an address is listed once, its first loop's socket
 * standing for it ("fd", and the settings read by uvs_server_get_int). */
UVS_API int uvs_server_num_addresses(uvs_server *srv);
UVS_API int uvs_server_address(uvs_server *srv, int index, char **host,
                               int *port);
/* A listening socket's setting, read from the socket: "fd", "family",
 * "ipv6_only", "reuse_address", "reuse_port", "send_buffer_size",
 * "recv_buffer_size". UVS_ENOENT when it does not apply. */
UVS_API int uvs_server_get_int(uvs_server *srv, int index, const char *key,
                               int64_t *out);
/* Connections accepted and not yet closed (claimed or still queued). */
UVS_API int uvs_server_num_clients(uvs_server *srv);
/* Stops listening; accepted connections stay open; queued unclaimed ones
 * are closed and pending accepts complete with UVS_ECLOSED. Idempotent. */
UVS_API int uvs_server_close(uvs_server *srv);
UVS_API int uvs_server_close_clients(uvs_server *srv);
UVS_API int uvs_server_abort_clients(uvs_server *srv);
/* Completes once the server is closed and has no client left. */
UVS_API int uvs_server_wait_closed_start(uvs_server *srv, uvs_op *op);
UVS_API int uvs_server_wait_closed(uvs_server *srv, int64_t timeout_ms);
/* Closes if needed and releases the handle (clients stay open). */
UVS_API int uvs_server_free(uvs_server *srv);

/* ---- TLS configurations ---------------------------------------------------
 */
/*
 * Reference-counted and immutable once used by a connection (setters then
 * fail with UVS_EINVAL). Clients verify the server by default, against the
 * system trust store plus any CA loaded here; servers do not ask for client
 * certificates unless told. Minimum version TLS 1.2.
 */
enum uvs_tls_side { UVS_TLS_CLIENT = 0, UVS_TLS_SERVER = 1 };
enum uvs_tls_verify {
  UVS_TLS_VERIFY_NONE = 0,     /* no peer verification */
  UVS_TLS_VERIFY_OPTIONAL = 1, /* verify a certificate if one is sent */
  UVS_TLS_VERIFY_REQUIRED = 2  /* a valid certificate is required */
};
#define UVS_TLS1_2 0x0303
#define UVS_TLS1_3 0x0304

UVS_API int uvs_tls_config_new(int side, uvs_tls_config **out);
UVS_API int uvs_tls_config_set_verify(uvs_tls_config *c, int mode);
UVS_API int uvs_tls_config_load_ca_file(uvs_tls_config *c, const char *path);
UVS_API int uvs_tls_config_load_ca_dir(uvs_tls_config *c, const char *path);
UVS_API int uvs_tls_config_load_ca_pem(uvs_tls_config *c, const void *pem,
                                       size_t len);
/* Certificate chain and private key (key_path NULL, or key NULL/0 bytes:
 * the key is in the certificate file or PEM); password may be NULL. */
UVS_API int uvs_tls_config_load_cert_file(uvs_tls_config *c,
                                          const char *cert_path,
                                          const char *key_path,
                                          const char *password);
UVS_API int uvs_tls_config_load_cert_pem(uvs_tls_config *c, const void *cert,
                                         size_t cert_len, const void *key,
                                         size_t key_len, const char *password);
/* Comma-separated ALPN protocols, in order of preference ("h2,http/1.1"). */
UVS_API int uvs_tls_config_set_alpn(uvs_tls_config *c, const char *protocols);
/* UVS_TLS1_2 / UVS_TLS1_3, or 0 for the default. */
UVS_API int uvs_tls_config_set_versions(uvs_tls_config *c, int min_version,
                                        int max_version);
/* OpenSSL cipher list for TLS 1.2. */
UVS_API int uvs_tls_config_set_ciphers(uvs_tls_config *c, const char *list);
/* Drops the handle's reference; connections keep theirs. */
UVS_API int uvs_tls_config_free(uvs_tls_config *c);

/* A configuration that uses an OpenSSL SSL_CTX made and configured by the
 * caller (an `SSL_CTX *` passed as void *, so that no OpenSSL type enters
 * this header), for example the one of a Python ssl.SSLContext. Only valid
 * when the caller's SSL_CTX comes from the very libssl the engine runs on
 * (same process image: see uvs_tls_library_path); anything else is
 * undefined behaviour the engine cannot detect.
 * - The engine takes its own reference (SSL_CTX_up_ref) and drops it when
 *   the handle and every connection and option set using it are gone; then,
 *   on whatever thread that happens, it calls release(release_arg) if
 *   release is not NULL: the caller frees there what the context's
 *   callbacks point into (the engine never uses the context afterwards).
 * - The engine never changes the context: certificates, CAs, verification,
 *   versions, ciphers, options and ALPN are the context's, read at each
 *   new connection (changing them while connections are being made is a
 *   data race, as with any SSL_CTX shared between threads). Setters on the
 *   handle fail with UVS_EINVAL.
 * - The context's callbacks run on the engine's threads, with the engine's
 *   SSL objects (no application data set on them): callbacks that expect
 *   their own per-SSL data (e.g. a server-name callback that looks up an
 *   object it attached to each SSL) must not be set.
 * - Host names: the options' "server_hostname" and "check_hostname" apply
 *   per connection, as with uvs_tls_config_new.
 * side: UVS_TLS_CLIENT or UVS_TLS_SERVER (UVS_EINVAL if the context's
 * method is the other side's). On failure nothing is kept and release is
 * not called. */
UVS_API int uvs_tls_config_adopt(int side, void *ssl_ctx,
                                 void (*release)(void *), void *release_arg,
                                 uvs_tls_config **out);
/* The file name of the libssl the engine is linked to (as the dynamic
 * loader reports it; "" if unknown). Never NULL, never freed. */
UVS_API const char *uvs_tls_library_path(void);

#ifdef __cplusplus
}
#endif

#endif /* UVSTREAMS_H */
