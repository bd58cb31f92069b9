/*
 * helpers.h - small utilities shared by every cmocka suite in tests/.
 *
 * Include this after the cmocka prelude (stdarg.h, stddef.h, stdint.h,
 * setjmp.h, cmocka.h) or on its own: it pulls the prelude in itself.
 * Everything here is prefixed uvst_ (helpers) or assert_ (assertion macros);
 * helpers.c implements the functions. Nothing here skips a test: a helper
 * that cannot do its job fails the current test with a message.
 *
 * fd-leak guard pattern (compare /proc/self/fd around each test):
 *
 *   static int setup(void **state) { return uvst_fd_setup(state); }
 *   static int teardown(void **state) { return uvst_fd_teardown(state); }
 *   cmocka_unit_test_setup_teardown(test_x, setup, teardown)
 *
 * uvst_fd_teardown waits up to UVST_FD_SETTLE_MS for the count to come back
 * (engines may close descriptors on their loop threads) and then fails the
 * test if it did not. The first uvst_fd_setup creates and frees one engine
 * so that libuv's process-wide signal pipe is not counted. Open helper
 * sockets after the snapshot and close them before the teardown.
 */
#ifndef UVST_HELPERS_H
#define UVST_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <string.h>

#include <uvstreams.h>

/* ---- time --------------------------------------------------------------- */

/* Monotonic milliseconds. */
int64_t uvst_now_ms(void);
/* Sleeps ms milliseconds (restarts on EINTR). */
void uvst_sleep_ms(int64_t ms);

/* ---- descriptors -------------------------------------------------------- */

#define UVST_FD_SETTLE_MS 2000

/* Number of entries in /proc/self/fd (the directory's own fd excluded). */
int uvst_count_fds(void);
/* Fails the test unless uvst_count_fds() returns to at most `before`
 * within UVST_FD_SETTLE_MS. */
void uvst_assert_no_fd_leak(int before);
/* cmocka setup/teardown: *state points to a struct uvst_fixture whose fds
 * is the snapshot; `user` is free for the test (teardown does not free it). */
struct uvst_fixture {
  int fds;
  void *user;
};
int uvst_fd_setup(void **state);
int uvst_fd_teardown(void **state);

/* ---- byte assertions ---------------------------------------------------- */

/* Fails unless (data, len) equals the bytes of string literal `lit` (its
 * length without the terminating NUL). `lit` must be a literal: ("" lit)
 * does not compile otherwise, so a pointer cannot give sizeof(ptr) - 1. */
#define assert_bytes_equal(data, len, lit)                                     \
  uvst_assert_bytes((data), (len), ("" lit), sizeof("" lit) - 1, __FILE__,     \
                    __LINE__)
/* Same with an explicit expected length (binary data, non-literals). */
#define assert_bytes_equal_n(data, len, exp, explen)                           \
  uvst_assert_bytes((data), (len), (exp), (explen), __FILE__, __LINE__)
void uvst_assert_bytes(const void *data, size_t len, const void *exp,
                       size_t explen, const char *file, int line);

/* Fails unless rc == expected; prints both codes by name and
 * uvs_last_error(). */
#define assert_uvs_rc(rc, expected)                                            \
  uvst_assert_rc((int)(rc), (int)(expected), #rc, __FILE__, __LINE__)
void uvst_assert_rc(int rc, int expected, const char *expr, const char *file,
                    int line);

/* The op finished (uvs_op_is_done == 1) with result `expected`. */
#define assert_op_result(op, expected)                                         \
  do {                                                                         \
    assert_int_equal(uvs_op_is_done(op), 1);                                   \
    assert_uvs_rc(uvs_op_result(op), (expected));                              \
  } while (0)
/* The op's data equals literal `lit`. */
#define assert_op_data(op, lit)                                                \
  do {                                                                         \
    const void *uvst_d_ = NULL;                                                \
    size_t uvst_l_ = 0;                                                        \
    assert_uvs_rc(uvs_op_data((op), &uvst_d_, &uvst_l_), 0);                   \
    assert_bytes_equal(uvst_d_, uvst_l_, lit);                                 \
  } while (0)

/* ---- readers ------------------------------------------------------------ */

/* A standalone reader (uvs_reader_new) with engine e (may be NULL) and
 * option "limit" = limit (limit <= 0: default options, NULL opts). Fails
 * the test if creation fails. */
uvs_stream *uvst_reader_new(uvs_engine *e, int64_t limit);
/* uvs_reader_feed_data of a NUL-terminated string; fails the test on error. */
void uvst_feed(uvs_stream *s, const char *str);

/* Runs fn(arg) on a new thread after delay_ms. uvst_later_join waits for it
 * and frees the handle. */
typedef struct uvst_later uvst_later;
uvst_later *uvst_later_start(int64_t delay_ms, void (*fn)(void *), void *arg);
void uvst_later_join(uvst_later *l);

/* Feeds `str` (and then EOF if eof != 0) to reader s after delay_ms, on a
 * thread. The string must outlive the join. */
uvst_later *uvst_feed_later(uvs_stream *s, const char *str, int eof,
                            int64_t delay_ms);

/* ---- operations and engines --------------------------------------------- */

/* uvs_op_new(cq, tag); fails the test on error. */
uvs_op *uvst_op_new(uvs_cq *cq, uint64_t tag);

/* uvs_engine_new with "io_threads" = n (n < 0: NULL options); fails the
 * test on error. */
uvs_engine *uvst_engine_new(int io_threads);

/* ---- plain POSIX sockets on 127.0.0.1 ---------------------------------- */

/* A listening TCP socket on 127.0.0.1, port 0 (*port receives the port);
 * rcvbuf > 0 sets SO_RCVBUF before listen() (accepted sockets inherit it).
 * Returns the descriptor, or -1 with errno set. net_helpers.h builds its
 * peers (nh_raw_*) and its thread server (nh_server) on top of this. */
int uvst_listen_loopback(int rcvbuf, int *port);
/* A stream of engine e over one end of a socketpair (AF_UNIX, stream);
 * *peer receives the other, raw end. Fails the test on error. */
uvs_stream *uvst_socketpair_stream(uvs_engine *e, int *peer);

/* A port on 127.0.0.1 that nothing listens on right now (bound, then
 * closed). Races are possible in theory; fine for tests. */
int uvst_unused_port(void);

/* __has_feature where the compiler has it (clang's sanitizer checks). */
#ifdef __has_feature
#define UVST_HAS_FEATURE(x) __has_feature(x)
#else
#define UVST_HAS_FEATURE(x) 0
#endif

#endif /* UVST_HELPERS_H */
