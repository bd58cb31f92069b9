/*
 * net_helpers.h - utilities for the network suites (test_stream, test_server,
 * test_cq), on top of helpers.h.
 *
 * Everything is prefixed nh_. Plain POSIX sockets serve as peers the test
 * controls completely (a peer that does not read, that resets, ...); the
 * thread server runs a handler per accepted uvstreams connection with the
 * blocking API. Code that runs on helper threads never calls cmocka asserts
 * (they are not thread-safe): it counts failures, which the test asserts on
 * its own thread. The fixture snapshots /proc/self/fd around a whole engine
 * lifetime and around each test body.
 */
#ifndef UVST_NET_HELPERS_H
#define UVST_NET_HELPERS_H

#include "helpers.h"

#include <sys/types.h>

/* ---- bytes -------------------------------------------------------------- */

#define NH_FNV_INIT 0xcbf29ce484222325ULL
/* FNV-1a 64 of p[0..n), continuing from h (start with NH_FNV_INIT). */
uint64_t nh_fnv1a(uint64_t h, const void *p, size_t n);
/* Deterministic pseudo-random bytes (xorshift64*); *state must be != 0. */
void nh_fill_random(uint64_t *state, void *buf, size_t n);
/* A malloc'ed buffer of n pseudo-random bytes from seed; fails the test if
 * out of memory. */
unsigned char *nh_random_bytes(uint64_t seed, size_t n);

/* ---- process ------------------------------------------------------------ */

/* Raises RLIMIT_NOFILE's soft limit to the hard one; returns the new soft
 * limit (or -1). */
long nh_raise_nofile(void);

/* ---- raw POSIX sockets -------------------------------------------------- */

/* Listening TCP socket on 127.0.0.1, port 0; *port receives the port.
 * rcvbuf > 0 sets SO_RCVBUF before listen() (accepted sockets inherit it).
 * Fails the test on error. */
int nh_raw_listen(int rcvbuf, int *port);
/* poll()s then accept()s, up to timeout_ms; -1 on timeout or error. */
int nh_raw_accept(int lfd, int timeout_ms);
/* Blocking connect to 127.0.0.1:port; -errno on failure. */
int nh_raw_connect(int port);
/* Closes fd with SO_LINGER {1, 0}: the peer gets an RST. */
void nh_raw_close_rst(int fd);
/* send() everything (MSG_NOSIGNAL); 0 or -errno. */
int nh_raw_send_all(int fd, const void *p, size_t len);
/* Reads (read(2): sockets and pipes) until EOF, an error, max bytes or
 * timeout_ms without data; hashes
 * everything into *hash (FNV-1a, starting from its value). Returns the byte
 * count; *err receives 0 at EOF, -1 on timeout or max, else errno. */
int64_t nh_raw_read_all(int fd, int64_t max, uint64_t *hash, int *err,
                        int timeout_ms);
/* Reads exactly len bytes (waits up to timeout_ms per read); 0 or -1. */
int nh_raw_read_exact(int fd, void *buf, size_t len, int timeout_ms);

/* ---- uvstreams conveniences (fail the test on error) -------------------- */

/* An options object with up to three integer keys (NULL keys end the list);
 * free with uvs_options_free. */
uvs_options *nh_opts(const char *k1, int64_t v1, const char *k2, int64_t v2,
                     const char *k3, int64_t v3);
/* uvs_stream_get_int / get_str that fail the test on error; the string is
 * copied into buf (size len). */
int64_t nh_get_int(uvs_stream *s, const char *key);
const char *nh_get_str(uvs_stream *s, const char *key, char *buf, size_t len);
/* Closes, waits for the close (up to 10 s) and frees; returns the
 * wait_closed result. Safe on helper threads (asserts nothing). */
int nh_close_free(uvs_stream *s);
/* Writes all bytes and drains (timeout_ms for the drain); 0 or the error. */
int nh_write_drain(uvs_stream *s, const void *p, size_t len,
                   int64_t timeout_ms);
/* TCP stream connected to a raw listener: *peer receives the accepted raw
 * descriptor. opts may be NULL. Fails the test on error. */
uvs_stream *nh_connect_raw_peer(uvs_engine *e, int lfd, int port,
                                const uvs_options *opts, int *peer);

/* Waits until s has at least n bytes buffered ("read_buffer_size"), 10 s at
 * most; fails the test otherwise. */
void nh_wait_buffered(uvs_stream *s, int64_t n);

/* Fails unless rc is a or b (prints the names). */
#define nh_assert_either(rc, a, b)                                             \
  nh_assert_either_((int)(rc), (a), (b), #rc, __FILE__, __LINE__)
void nh_assert_either_(int rc, int a, int b, const char *expr, const char *file,
                       int line);
/* uvs_server_listen_tcp on 127.0.0.1 port 0 (*port receives the port) and
 * uvs_server_listen_unix on path; fail the test on error. */
uvs_server *nh_listen_tcp(uvs_engine *e, const uvs_options *o, int *port);
uvs_server *nh_listen_unix(uvs_engine *e, const char *path,
                           const uvs_options *o);

/* ---- SIGPIPE ------------------------------------------------------------ */

/* If SIGPIPE has its default action (which would kill the process), installs
 * a handler that only counts; nh_sigpipe_count() tells how many arrived.
 * A library that writes to a reset socket must not raise SIGPIPE in its
 * host (or must leave it blocked/ignored itself). */
void nh_sigpipe_watch(void);
int nh_sigpipe_count(void);

/* ---- temporary directories ---------------------------------------------- */

/* mkdtemp("/tmp/uvst-XXXXXX") into buf (>= 64 bytes); fails the test. */
void nh_tmpdir(char *buf, size_t len);
/* Removes the directory's entries (not recursive) and the directory. */
void nh_rmdir(const char *dir);

/* ---- thread server on a uvs_server -------------------------------------- */

/* Runs on its own thread per accepted connection; the stream is closed,
 * awaited and freed by the server afterwards. */
typedef void (*nh_handler)(uvs_stream *s, void *arg);
typedef struct nh_server nh_server;
/* Starts the accept loop on a thread (connection threads get 256 KiB
 * stacks, so a thousand of them are cheap). */
nh_server *nh_server_start(uvs_server *srv, nh_handler h, void *arg);
/* uvs_server_close, joins the accept thread and every connection thread.
 * Returns the number of failures recorded (by the server or nh_fail). */
int nh_server_stop(nh_server *ts);
/* Connections accepted so far. */
int nh_server_accepted(nh_server *ts);
/* Records a failure (from any thread) and prints msg. */
void nh_fail(const char *msg, int rc);
/* Failures recorded by nh_fail since the last nh_take_failures(). */
int nh_take_failures(void);

/* Echo handler: reads and writes back until EOF (drains after each write),
 * counts failures with nh_fail. arg may point to an nh_echo_stats. */
typedef struct nh_echo_stats {
  pthread_mutex_t mutex;
  int64_t bytes; /* bytes echoed, all connections */
  uint64_t hash; /* FNV-1a of the bytes (meaningful for one connection) */
  int finished;  /* connections that ended with a clean EOF */
} nh_echo_stats;
void nh_echo_stats_init(nh_echo_stats *st);
void nh_echo_handler(uvs_stream *s, void *arg);

/* ---- descriptor snapshots ----------------------------------------------- */

/* The descriptors open at one moment. */
typedef struct nh_fdset {
  int n;
  int *fds;
} nh_fdset;
void nh_fdset_take(nh_fdset *set);
void nh_fdset_free(nh_fdset *set);
/* Descriptors open now that are not in `before`; with skip_null, those that
 * point to /dev/null are not counted (libuv opens one per loop lazily, at
 * the first listen, as its EMFILE reserve, and closes it with the loop).
 * Waits up to settle_ms for the count to reach 0; describes what is left
 * ("7 -> socket:[123]") in desc. Returns the count. */
int nh_fdset_new(const nh_fdset *before, int skip_null, int64_t settle_ms,
                 char *desc, size_t len);

/* ---- fixture ------------------------------------------------------------ */

/* *state -> nh_fixture: an engine (io_threads as given), a temp dir, fd
 * snapshots before the engine and after it. Teardown checks that the test
 * left no descriptor behind (with the engine still alive) and that freeing
 * the engine released all of its own. */
typedef struct nh_fixture {
  nh_fdset outer; /* before uvs_engine_new */
  nh_fdset inner; /* after uvs_engine_new */
  uvs_engine *e;
  char dir[64];
} nh_fixture;
int nh_setup_threads(void **state, int io_threads);
int nh_setup(void **state); /* io_threads 1 */
int nh_teardown(void **state);

/* Runs only the tests matching $UVST_FILTER (cmocka pattern), if set. */
void nh_apply_filter(void);
/* Creates and frees one engine, so that libuv's process-wide state (its
 * signal lock pipe, made once per process by the first loop) exists before
 * any fixture snapshots the descriptors. Call from main(). */
void nh_warm_up(void);

#endif /* UVST_NET_HELPERS_H */
