/*
 * test_api.c - error paths of the public C API that need no remote peer.
 *
 * Handle validation (NULL, stale, wrong-type, double free, closed), the
 * error table (uvs_strerror / uvs_err_name over UVS_ERRNO_MAP), versions,
 * options validation, uvs_last_error, op misuse (UVS_EINVAL, UVS_EOPBUSY),
 * engines with 0..2 I/O threads, and connect/listen failures on loopback:
 * refused, unresolvable, bad port, over-long unix path, address in use.
 * Every test runs inside the fd-leak guard of helpers.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "helpers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 5000

static int setup(void **state) {
  return uvst_fd_setup(state);
}
static int teardown(void **state) {
  return uvst_fd_teardown(state);
}

/* ---- local helpers ------------------------------------------------------ */

static uvs_options *new_options(const char *key, int64_t v) {
  uvs_options *o = NULL;
  assert_uvs_rc(uvs_options_new(&o), 0);
  assert_non_null(o);
  if (key != NULL) {
    assert_uvs_rc(uvs_options_set_int(o, key, v), 0);
  }
  return o;
}

/* Reads from fd until EOF (or WAIT_MS); returns the byte count in buf. */
static size_t read_to_eof(int fd, char *buf, size_t cap) {
  size_t n = 0;
  int64_t deadline = uvst_now_ms() + WAIT_MS;
  while (uvst_now_ms() < deadline) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 100) <= 0) {
      continue;
    }
    ssize_t r = read(fd, buf + n, cap - n);
    if (r <= 0) {
      return n;
    }
    n += (size_t)r;
  }
  fail_msg("no EOF from the stream's peer within %d ms", WAIT_MS);
  return n;
}

/* 1 if fd is not an open descriptor. */
static int fd_is_closed(int fd) {
  return fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

static int is_eai(int rc) {
  return rc == UVS_EAI_AGAIN || rc == UVS_EAI_FAIL || rc == UVS_EAI_FAMILY ||
         rc == UVS_EAI_NODATA || rc == UVS_EAI_NONAME || rc == UVS_EAI_SERVICE;
}

/* ---- NULL handles ------------------------------------------------------- */

static void test_null_options(void **state) {
  (void)state;
  int64_t v = 0;
  assert_uvs_rc(uvs_options_set_int(NULL, "limit", 1), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_options_get_int(NULL, "limit", &v), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_options_free(NULL), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_options_new(NULL), UVS_EINVAL);
  uvs_free(NULL);
}

static void test_null_engine_and_cq(void **state) {
  (void)state;
  uvs_cq *cq = NULL;
  uvs_op *ops[4];
  uvs_op *op = NULL;
  assert_uvs_rc(uvs_engine_new(NULL, NULL), UVS_EINVAL);
  assert_uvs_rc(uvs_engine_free(NULL), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_engine_io_threads(NULL), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_engine_run(NULL), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_engine_timeout(NULL), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_cq_new(NULL, &cq), UVS_EBADHANDLE);
  assert_null(cq);
  assert_uvs_rc(uvs_cq_fd(NULL), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_cq_poll(NULL, ops, 4), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_cq_wait(NULL, 0, ops, 4), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_cq_next(NULL, 0, &op), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_cq_wakeup(NULL), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_cq_free(NULL), UVS_EBADHANDLE);
}

static void test_null_op(void **state) {
  (void)state;
  const void *d = NULL;
  size_t len = 0;
  uvs_stream *s = NULL;
  assert_uvs_rc(uvs_op_new(NULL, 1, NULL), UVS_EINVAL);
  assert_uvs_rc(uvs_op_set_timeout(NULL, 10), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_op_free(NULL), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_op_cancel(NULL), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_op_wait(NULL, 0), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_op_is_done(NULL), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_op_result(NULL), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_op_kind(NULL), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_op_data(NULL, &d, &len), UVS_EBADHANDLE);
  assert_int_equal(uvs_op_consumed(NULL), UVS_EBADHANDLE);
  assert_int_equal(uvs_op_expected(NULL), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_op_take_stream(NULL, &s), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_op_unread(NULL), UVS_EBADHANDLE);
}

/* Every stream call with a NULL stream, and the start calls with a NULL
 * op; the op given with the NULL stream stays unused. */
static void test_null_stream(void **state) {
  (void)state;
  uvs_op *op = uvst_op_new(NULL, 1);
  uvs_stream *r = uvst_reader_new(NULL, 0);
  uvs_stream *out = NULL;
  void *d = NULL;
  size_t len = 0;
  int64_t v = 0;
  char *str = NULL;
  char str_buf[1];
  uvs_buf b = {"x", 1};
  assert_uvs_rc(uvs_reader_feed_data(NULL, "x", 1), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_reader_feed_eof(NULL), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_reader_set_error(NULL, UVS_EPIPE), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_read_start(NULL, 1, op), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_readexactly_start(NULL, 1, op), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_readuntil_start(NULL, "x", 1, op), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_readuntil_any_start(NULL, &b, 1, op),
                UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_readline_start(NULL, op), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_read(NULL, 1, 0, &d, &len), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_read_into_start(NULL, str_buf, 1, op),
                UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_read_into(NULL, str_buf, 1, 0, &len),
                UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_readexactly(NULL, 1, 0, &d, &len), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_readuntil(NULL, "x", 1, 0, &d, &len, NULL),
                UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_readuntil_any(NULL, &b, 1, 0, &d, &len, NULL),
                UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_readline(NULL, 0, &d, &len), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_at_eof(NULL), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_error(NULL), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_write(NULL, "x", 1), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_writev(NULL, &b, 1), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_drain_start(NULL, op), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_drain(NULL, 0), UVS_EBADHANDLE);
  assert_int_equal(uvs_stream_write_buffer_size(NULL), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_set_write_limits(NULL, 10, 1), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_write_eof(NULL), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_can_write_eof(NULL), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_close(NULL), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_abort(NULL), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_is_closing(NULL), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_wait_closed_start(NULL, op), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_wait_closed(NULL, 0), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_get_int(NULL, "limit", &v), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_get_str(NULL, "kind", &str), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_free(NULL), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_connect_tcp(NULL, "127.0.0.1", 1, NULL, 0, &out),
                UVS_EBADHANDLE);
  assert_uvs_rc(uvs_connect_tcp_start(NULL, "127.0.0.1", 1, NULL, op),
                UVS_EBADHANDLE);
  assert_uvs_rc(uvs_connect_unix(NULL, "/tmp/x.sock", NULL, 0, &out),
                UVS_EBADHANDLE);
  assert_null(out);
  assert_uvs_rc(uvs_connect_unix_start(NULL, "/tmp/x.sock", NULL, op),
                UVS_EBADHANDLE);
  /* the op was never started */
  assert_int_equal(uvs_op_is_done(op), 1);
  assert_int_equal(uvs_op_kind(op), UVS_OP_NONE);
  /* a valid stream with a NULL op */
  uvst_feed(r, "x\n");
  assert_uvs_rc(uvs_stream_read_start(r, 1, NULL), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_readline_start(r, NULL), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_readexactly_start(r, 1, NULL), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_reader_new(NULL, NULL, NULL), UVS_EINVAL);
  assert_uvs_rc(uvs_stream_free(r), 0);
  assert_uvs_rc(uvs_op_free(op), 0);
}

static void test_null_server(void **state) {
  (void)state;
  uvs_op *op = uvst_op_new(NULL, 1);
  uvs_server *srv = NULL;
  uvs_stream *s = NULL;
  char *host = NULL;
  int port = 0;
  assert_uvs_rc(uvs_server_listen_tcp(NULL, "127.0.0.1", 0, NULL, &srv),
                UVS_EBADHANDLE);
  assert_null(srv);
  assert_uvs_rc(uvs_server_listen_unix(NULL, "/tmp/x.sock", NULL, &srv),
                UVS_EBADHANDLE);
  assert_uvs_rc(uvs_server_start_serving(NULL), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_server_is_serving(NULL), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_server_accept_start(NULL, op), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_server_accept(NULL, 0, &s), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_server_num_addresses(NULL), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_server_address(NULL, 0, &host, &port), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_server_num_clients(NULL), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_server_close(NULL), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_server_close_clients(NULL), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_server_abort_clients(NULL), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_server_wait_closed_start(NULL, op), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_server_wait_closed(NULL, 0), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_server_free(NULL), UVS_EBADHANDLE);
  assert_int_equal(uvs_op_is_done(op), 1);
  assert_uvs_rc(uvs_op_free(op), 0);
}

/* uvs_stream_open_fd owns the fd even when it fails (NULL engine). */
static void test_open_fd_owns_fd_on_failure(void **state) {
  (void)state;
  int p[2];
  uvs_stream *s = NULL;
  assert_int_equal(pipe(p), 0);
  close(p[1]);
  assert_uvs_rc(uvs_stream_open_fd(NULL, p[0], NULL, &s), UVS_EBADHANDLE);
  assert_null(s);
  assert_true(fd_is_closed(p[0]));
}

/* uvs_reader_set_error stores a negative code: 0 or a positive value is an
 * invalid argument and stores nothing. */
static void test_set_error_needs_negative(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  assert_uvs_rc(uvs_reader_set_error(s, 0), UVS_EINVAL);
  assert_uvs_rc(uvs_reader_set_error(s, 5), UVS_EINVAL);
  assert_uvs_rc(uvs_stream_error(s), 0);
  uvst_feed(s, "ok\n");
  void *d = NULL;
  size_t len = 0;
  assert_uvs_rc(uvs_stream_readline(s, 0, &d, &len), 0);
  assert_bytes_equal(d, len, "ok\n");
  uvs_free(d);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* ---- stale handles ------------------------------------------------------ */

static void test_stale_options(void **state) {
  (void)state;
  uvs_options *o = new_options("limit", 10);
  int64_t v = 0;
  assert_uvs_rc(uvs_options_free(o), 0);
  assert_uvs_rc(uvs_options_set_int(o, "limit", 1), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_options_get_int(o, "limit", &v), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_options_free(o), UVS_EBADHANDLE);
}

static void test_stale_op(void **state) {
  (void)state;
  uvs_op *op = uvst_op_new(NULL, 5);
  uvs_stream *s = uvst_reader_new(NULL, 0);
  const void *d = NULL;
  size_t len = 0;
  uvst_feed(s, "abc");
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_op_result(op), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_op_is_done(op), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_op_wait(op, 0), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_op_cancel(op), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_op_data(op, &d, &len), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_read_start(s, 1, op), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_op_free(op), UVS_EBADHANDLE);
  uvst_feed(s, "\n");
  void *out = NULL;
  assert_uvs_rc(uvs_stream_readline(s, 0, &out, &len), 0);
  assert_bytes_equal(out, len, "abc\n"); /* the stale start consumed nothing */
  uvs_free(out);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

static void test_stale_stream(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op = uvst_op_new(NULL, 1);
  void *d = NULL;
  size_t len = 0;
  int64_t v = 0;
  char into[4];
  assert_uvs_rc(uvs_stream_free(s), 0);
  assert_uvs_rc(uvs_reader_feed_data(s, "x", 1), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_reader_feed_eof(s), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_at_eof(s), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_read(s, 1, 0, &d, &len), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_read_into(s, into, sizeof into, 0, &len),
                UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_read_into_start(s, into, sizeof into, op),
                UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_readline_start(s, op), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_get_int(s, "limit", &v), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_close(s), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_free(s), UVS_EBADHANDLE);
  assert_int_equal(uvs_op_is_done(op), 1);
  assert_uvs_rc(uvs_op_free(op), 0);
}

static void test_stale_engine_and_cq(void **state) {
  (void)state;
  uvs_engine *e = uvst_engine_new(1);
  uvs_cq *cq = NULL;
  uvs_op *ops[2];
  assert_uvs_rc(uvs_cq_new(e, &cq), 0);
  assert_uvs_rc(uvs_cq_free(cq), 0);
  assert_uvs_rc(uvs_cq_fd(cq), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_cq_poll(cq, ops, 2), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_cq_wakeup(cq), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_op_new(cq, 1, &ops[0]), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_cq_free(cq), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_engine_free(e), 0);
  assert_uvs_rc(uvs_engine_io_threads(e), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_engine_run(e), UVS_EBADHANDLE);
  cq = NULL;
  assert_uvs_rc(uvs_cq_new(e, &cq), UVS_EBADHANDLE);
  assert_null(cq);
  uvs_stream *s = NULL;
  assert_uvs_rc(uvs_reader_new(e, NULL, &s), UVS_EBADHANDLE);
  assert_null(s);
  assert_uvs_rc(uvs_engine_free(e), UVS_EBADHANDLE);
}

static void test_stale_server(void **state) {
  (void)state;
  uvs_engine *e = uvst_engine_new(1);
  uvs_server *srv = NULL;
  assert_uvs_rc(uvs_server_listen_tcp(e, "127.0.0.1", 0, NULL, &srv), 0);
  assert_uvs_rc(uvs_server_free(srv), 0);
  assert_uvs_rc(uvs_server_num_addresses(srv), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_server_is_serving(srv), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_server_close(srv), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_server_free(srv), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_engine_free(e), 0);
}

/* ---- wrong-type handles ------------------------------------------------- */

static void test_wrong_type(void **state) {
  (void)state;
  uvs_engine *e = uvst_engine_new(1);
  uvs_cq *cq = NULL;
  uvs_server *srv = NULL;
  uvs_op *op = uvst_op_new(NULL, 1);
  uvs_options *o = new_options(NULL, 0);
  uvs_stream *s = uvst_reader_new(e, 0);
  int64_t v = 0;
  assert_uvs_rc(uvs_cq_new(e, &cq), 0);
  assert_uvs_rc(uvs_server_listen_tcp(e, "127.0.0.1", 0, NULL, &srv), 0);
  assert_uvs_rc(uvs_stream_at_eof((uvs_stream *)op), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_read_start((uvs_stream *)op, 1, op), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_get_int((uvs_stream *)srv, "limit", &v),
                UVS_EBADHANDLE);
  assert_uvs_rc(uvs_reader_feed_data((uvs_stream *)cq, "x", 1), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_op_result((uvs_op *)s), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_op_is_done((uvs_op *)cq), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_read_start(s, 1, (uvs_op *)s), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_engine_io_threads((uvs_engine *)s), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_engine_io_threads((uvs_engine *)o), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_cq_fd((uvs_cq *)e), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_options_set_int((uvs_options *)op, "limit", 1),
                UVS_EBADHANDLE);
  assert_uvs_rc(uvs_server_num_clients((uvs_server *)s), UVS_EBADHANDLE);
  /* wrong-type frees are refused and leave the object alive */
  assert_uvs_rc(uvs_stream_free((uvs_stream *)op), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_op_free((uvs_op *)s), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_engine_free((uvs_engine *)cq), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_cq_free((uvs_cq *)srv), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_server_free((uvs_server *)o), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_options_free((uvs_options *)e), UVS_EBADHANDLE);
  assert_int_equal(uvs_op_is_done(op), 1);
  assert_int_equal(uvs_stream_at_eof(s), 0);
  assert_int_equal(uvs_engine_io_threads(e), 1);
  assert_true(uvs_cq_fd(cq) >= 0);
  assert_int_equal(uvs_server_num_addresses(srv), 1);
  assert_uvs_rc(uvs_options_set_int(o, "limit", 5), 0);
  assert_uvs_rc(uvs_server_free(srv), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_cq_free(cq), 0);
  assert_uvs_rc(uvs_options_free(o), 0);
  assert_uvs_rc(uvs_engine_free(e), 0);
}

/* ---- double free ----------------------------------------------------------
 */

static void test_double_free(void **state) {
  (void)state;
  uvs_engine *e = uvst_engine_new(1);
  uvs_cq *cq = NULL;
  uvs_server *srv = NULL;
  int peer = -1;
  uvs_options *o = new_options(NULL, 0);
  uvs_op *op = uvst_op_new(NULL, 1);
  uvs_stream *r = uvst_reader_new(NULL, 0);
  uvs_stream *s = uvst_socketpair_stream(e, &peer);
  assert_uvs_rc(uvs_cq_new(e, &cq), 0);
  assert_uvs_rc(uvs_server_listen_tcp(e, "127.0.0.1", 0, NULL, &srv), 0);
  assert_uvs_rc(uvs_options_free(o), 0);
  assert_uvs_rc(uvs_options_free(o), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_op_free(op), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_free(r), 0);
  assert_uvs_rc(uvs_stream_free(r), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_stream_free(s), 0);
  assert_uvs_rc(uvs_stream_free(s), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_server_free(srv), 0);
  assert_uvs_rc(uvs_server_free(srv), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_cq_free(cq), 0);
  assert_uvs_rc(uvs_cq_free(cq), UVS_EBADHANDLE);
  assert_uvs_rc(uvs_engine_free(e), 0);
  assert_uvs_rc(uvs_engine_free(e), UVS_EBADHANDLE);
  close(peer);
}

/* ---- closed streams ----------------------------------------------------- */

/* After close: writes fail with UVS_ECLOSED; what was written before the
 * close still reaches the peer, then EOF; close is idempotent. */
static void test_closed_stream(void **state) {
  (void)state;
  uvs_engine *e = uvst_engine_new(1);
  int peer = -1;
  uvs_stream *s = uvst_socketpair_stream(e, &peer);
  uvs_buf b = {"zz", 2};
  char buf[64];
  void *d = NULL;
  size_t len = 0;
  assert_int_equal(uvs_stream_is_closing(s), 0);
  assert_uvs_rc(uvs_stream_write(s, "hello", 5), 0);
  assert_uvs_rc(uvs_stream_close(s), 0);
  assert_int_equal(uvs_stream_is_closing(s), 1);
  assert_uvs_rc(uvs_stream_close(s), 0);
  assert_uvs_rc(uvs_stream_write(s, "x", 1), UVS_ECLOSED);
  assert_uvs_rc(uvs_stream_writev(s, &b, 1), UVS_ECLOSED);
  assert_uvs_rc(uvs_stream_wait_closed(s, WAIT_MS), 0);
  assert_uvs_rc(uvs_stream_write(s, "x", 1), UVS_ECLOSED);
  int rc = uvs_stream_read(s, 10, 1000, &d, &len);
  assert_true(rc == UVS_ECLOSED || (rc == 0 && len == 0));
  uvs_free(d);
  assert_int_equal(read_to_eof(peer, buf, sizeof(buf)), 5);
  assert_memory_equal(buf, "hello", 5);
  assert_uvs_rc(uvs_stream_free(s), 0);
  close(peer);
  assert_uvs_rc(uvs_engine_free(e), 0);
}

/* A reader can be closed too (idempotent). */
static void test_closed_reader(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  assert_int_equal(uvs_stream_is_closing(s), 0);
  assert_uvs_rc(uvs_stream_close(s), 0);
  assert_uvs_rc(uvs_stream_close(s), 0);
  assert_int_equal(uvs_stream_is_closing(s), 1);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* Engine shutdown completes a pending read with UVS_ESHUTDOWN; freeing the
 * stream and op afterwards is harmless and leaks nothing. */
static void test_engine_free_with_pending_read(void **state) {
  (void)state;
  uvs_engine *e = uvst_engine_new(1);
  int peer = -1;
  uvs_stream *s = uvst_socketpair_stream(e, &peer);
  uvs_op *op = uvst_op_new(NULL, 1);
  assert_uvs_rc(uvs_stream_readline_start(s, op), UVS_PENDING);
  assert_uvs_rc(uvs_engine_free(e), 0);
  assert_uvs_rc(uvs_op_wait(op, WAIT_MS), 0);
  assert_uvs_rc(uvs_op_result(op), UVS_ESHUTDOWN);
  int rc = uvs_stream_free(s);
  assert_true(rc == 0 || rc == UVS_EBADHANDLE);
  assert_uvs_rc(uvs_op_free(op), 0);
  close(peer);
}

/* ---- errors and versions ------------------------------------------------ */

struct code {
  int value;
  const char *name;
  const char *message;
};
#define CODE_(n, v, m) {v, #n, m},
static const struct code codes[] = {UVS_ERRNO_MAP(CODE_)};
#undef CODE_

static void test_strerror_every_code(void **state) {
  (void)state;
  size_t n = sizeof(codes) / sizeof(codes[0]);
  assert_true(n >= 50);
  for (size_t i = 0; i < n; i++) {
    const char *m = uvs_strerror(codes[i].value);
    assert_non_null(m);
    if (strcmp(m, codes[i].message) != 0) {
      fail_msg("uvs_strerror(%d) = \"%s\", expected \"%s\"", codes[i].value, m,
               codes[i].message);
    }
  }
}

static void test_err_name_every_code(void **state) {
  (void)state;
  size_t n = sizeof(codes) / sizeof(codes[0]);
  for (size_t i = 0; i < n; i++) {
    const char *name = uvs_err_name(codes[i].value);
    assert_non_null(name);
    if (strcmp(name, codes[i].name) != 0) {
      fail_msg("uvs_err_name(%d) = \"%s\", expected \"%s\"", codes[i].value,
               name, codes[i].name);
    }
  }
#define ENUM_CHECK_(n, v, m) assert_int_equal(UVS_##n, v);
  UVS_ERRNO_MAP(ENUM_CHECK_)
#undef ENUM_CHECK_
}

/* Unknown codes: never NULL; unassigned codes of the library's own range
 * read "unknown error" as the header promises. */
static void test_unknown_codes(void **state) {
  (void)state;
  const int unknown[] = {-30014, -30050,  -30099, 12345,
                         -29999, INT_MIN, INT_MAX};
  for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
    const char *m = uvs_strerror(unknown[i]);
    const char *n = uvs_err_name(unknown[i]);
    assert_non_null(m);
    assert_non_null(n);
    assert_true(strlen(m) > 0);
    assert_true(strlen(n) > 0);
  }
  assert_string_equal(uvs_strerror(-30014), "unknown error");
  assert_string_equal(uvs_strerror(-30099), "unknown error");
  assert_string_equal(uvs_strerror(12345), "unknown error");
}

static void test_version(void **state) {
  (void)state;
  char expect[32];
  snprintf(expect, sizeof(expect), "%d.%d.%d", UVS_VERSION_MAJOR,
           UVS_VERSION_MINOR, UVS_VERSION_PATCH);
  assert_int_equal(uvs_version(), UVS_VERSION_HEX);
  assert_int_equal(uvs_version() >> 16, UVS_VERSION_MAJOR);
  assert_non_null(uvs_version_string());
  assert_string_equal(uvs_version_string(), expect);
}

/* uvs_last_error: a non-empty detail after a failure, per thread. */
struct last_error_probe {
  char seen[256];
};

static void last_error_probe_run(void *p) {
  struct last_error_probe *probe = p;
  const char *m = uvs_last_error();
  snprintf(probe->seen, sizeof(probe->seen), "%s", m ? m : "(null)");
}

static void test_last_error(void **state) {
  (void)state;
  uvs_options *o = new_options(NULL, 0);
  struct last_error_probe probe;
  assert_uvs_rc(uvs_options_set_int(o, "no-such-key", 1), UVS_EINVAL);
  assert_non_null(uvs_last_error());
  assert_true(strlen(uvs_last_error()) > 0);
  assert_uvs_rc(uvs_stream_at_eof(NULL), UVS_EBADHANDLE);
  assert_true(strlen(uvs_last_error()) > 0);
  uvst_later_join(uvst_later_start(0, last_error_probe_run, &probe));
  assert_string_equal(probe.seen, ""); /* thread-local: nothing failed there */
  assert_uvs_rc(uvs_options_free(o), 0);
}

/* ---- options ------------------------------------------------------------ */

static void test_options_set_get(void **state) {
  (void)state;
  uvs_options *o = new_options("limit", 123);
  int64_t v = 0;
  assert_uvs_rc(uvs_options_get_int(o, "limit", &v), 0);
  assert_int_equal(v, 123);
  assert_uvs_rc(uvs_options_set_int(o, "limit", 456), 0);
  assert_uvs_rc(uvs_options_get_int(o, "limit", &v), 0);
  assert_int_equal(v, 456);
  assert_uvs_rc(uvs_options_set_int(o, "io_threads", 2), 0);
  assert_uvs_rc(uvs_options_set_int(o, "reuse_port", 0), 0);
  assert_uvs_rc(uvs_options_set_int(o, "write_high", 1000), 0);
  assert_uvs_rc(uvs_options_set_int(o, "no-such-key", 1), UVS_EINVAL);
  assert_uvs_rc(uvs_options_set_int(o, "", 1), UVS_EINVAL);
  assert_uvs_rc(uvs_options_set_int(o, NULL, 1), UVS_EINVAL);
  assert_true(uvs_options_get_int(o, "no-such-key", &v) < 0);
  assert_uvs_rc(uvs_options_get_int(o, "limit", NULL), UVS_EINVAL);
  assert_uvs_rc(uvs_options_get_int(o, "limit", &v), 0);
  assert_int_equal(v, 456);
  assert_uvs_rc(uvs_options_free(o), 0);
}

/* "limit" 0 or negative: refused when set or when the reader is created. */
static void test_invalid_limit(void **state) {
  (void)state;
  const int64_t bad[] = {0, -1, -65536};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    uvs_options *o = new_options(NULL, 0);
    uvs_stream *s = NULL;
    int rc = uvs_options_set_int(o, "limit", bad[i]);
    if (rc == 0) {
      assert_uvs_rc(uvs_reader_new(NULL, o, &s), UVS_EINVAL);
      assert_null(s);
    } else {
      assert_uvs_rc(rc, UVS_EINVAL);
    }
    assert_uvs_rc(uvs_options_free(o), 0);
  }
}

/* set_write_limits follows asyncio's rule: high >= low >= 0, with defaults
 * 64 KiB / high/4 / 4*low. */
static void expect_limits(uvs_stream *s, int64_t high, int64_t low) {
  int64_t h = -1, l = -1;
  assert_uvs_rc(uvs_stream_get_int(s, "write_high", &h), 0);
  assert_uvs_rc(uvs_stream_get_int(s, "write_low", &l), 0);
  assert_int_equal(h, high);
  assert_int_equal(l, low);
}

static void test_write_limits(void **state) {
  (void)state;
  uvs_engine *e = uvst_engine_new(1);
  int peer = -1;
  uvs_stream *s = uvst_socketpair_stream(e, &peer);
  expect_limits(s, 65536, 16384);
  assert_uvs_rc(uvs_stream_set_write_limits(s, 1000, -1), 0);
  expect_limits(s, 1000, 250);
  assert_uvs_rc(uvs_stream_set_write_limits(s, 100, 200), UVS_EINVAL);
  expect_limits(s, 1000, 250);
  assert_uvs_rc(uvs_stream_set_write_limits(s, -1, 1000), 0);
  expect_limits(s, 4000, 1000);
  assert_uvs_rc(uvs_stream_set_write_limits(s, -1, -1), 0);
  expect_limits(s, 65536, 16384);
  assert_uvs_rc(uvs_stream_set_write_limits(s, 0, 0), 0);
  expect_limits(s, 0, 0);
  assert_uvs_rc(uvs_stream_set_write_limits(s, 10, 10), 0);
  expect_limits(s, 10, 10);
  assert_uvs_rc(uvs_stream_set_write_limits(s, 10, 11), UVS_EINVAL);
  assert_uvs_rc(uvs_stream_free(s), 0);
  close(peer);
  assert_uvs_rc(uvs_engine_free(e), 0);
}

/* Options with write_low > write_high: the stream is refused (and, as
 * documented, the fd is closed anyway). */
static void test_write_limit_options(void **state) {
  (void)state;
  uvs_engine *e = uvst_engine_new(1);
  uvs_options *o = new_options("write_high", 100);
  uvs_stream *s = NULL;
  int sv[2];
  assert_uvs_rc(uvs_options_set_int(o, "write_low", 200), 0);
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  assert_uvs_rc(uvs_stream_open_fd(e, sv[0], o, &s), UVS_EINVAL);
  assert_null(s);
  close(sv[1]);
  assert_uvs_rc(uvs_options_set_int(o, "write_low", 40), 0);
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  assert_uvs_rc(uvs_stream_open_fd(e, sv[0], o, &s), 0);
  expect_limits(s, 100, 40);
  assert_uvs_rc(uvs_stream_free(s), 0);
  close(sv[1]);
  assert_uvs_rc(uvs_options_free(o), 0);
  assert_uvs_rc(uvs_engine_free(e), 0);
}

/* ---- op misuse ---------------------------------------------------------- */

static void test_op_initial_state_and_cq_wait(void **state) {
  (void)state;
  uvs_engine *e = uvst_engine_new(1);
  uvs_cq *cq = NULL;
  assert_uvs_rc(uvs_cq_new(e, &cq), 0);
  uvs_op *op = uvst_op_new(cq, 77);
  assert_int_equal(uvs_op_tag(op), 77);
  assert_int_equal(uvs_op_is_done(op), 1);
  assert_int_equal(uvs_op_kind(op), UVS_OP_NONE);
  assert_uvs_rc(uvs_op_wait(op, 0), UVS_EINVAL);
  assert_uvs_rc(uvs_op_wait(op, 100), UVS_EINVAL);
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_cq_free(cq), 0);
  assert_uvs_rc(uvs_engine_free(e), 0);
}

/* A second operation on a busy op: UVS_EOPBUSY, on any stream. */
static void test_op_busy(void **state) {
  (void)state;
  uvs_stream *a = uvst_reader_new(NULL, 0);
  uvs_stream *b = uvst_reader_new(NULL, 0);
  uvs_op *op = uvst_op_new(NULL, 1);
  uvst_feed(b, "data\n");
  assert_uvs_rc(uvs_stream_readline_start(a, op), UVS_PENDING);
  assert_uvs_rc(uvs_stream_read_start(a, 1, op), UVS_EOPBUSY);
  assert_uvs_rc(uvs_stream_readline_start(b, op), UVS_EOPBUSY);
  assert_uvs_rc(uvs_stream_readexactly_start(b, 2, op), UVS_EOPBUSY);
  assert_int_equal(uvs_op_kind(op), UVS_OP_READLINE);
  assert_uvs_rc(uvs_op_cancel(op), 0);
  assert_uvs_rc(uvs_op_wait(op, WAIT_MS), 0);
  assert_uvs_rc(uvs_op_result(op), UVS_ECANCELED);
  assert_uvs_rc(uvs_stream_readline_start(b, op), UVS_COMPLETED);
  assert_uvs_rc(uvs_op_result(op), 0);
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(a), 0);
  assert_uvs_rc(uvs_stream_free(b), 0);
}

/* ---- engines ------------------------------------------------------------ */

static void test_engine_threads(void **state) {
  (void)state;
  for (int n = 0; n <= 2; n++) {
    uvs_engine *e = uvst_engine_new(n);
    assert_int_equal(uvs_engine_io_threads(e), n);
    if (n == 0) {
      assert_uvs_rc(uvs_engine_run(e), 0);
      assert_int_equal(uvs_engine_timeout(e), -1);
    } else {
      assert_uvs_rc(uvs_engine_run(e), UVS_EWRONGTHREAD);
    }
    assert_uvs_rc(uvs_engine_free(e), 0);
  }
  uvs_engine *e = uvst_engine_new(-1); /* NULL options: default 1 thread */
  assert_int_equal(uvs_engine_io_threads(e), 1);
  assert_uvs_rc(uvs_engine_free(e), 0);
}

/* Threads of this process, from /proc/self/task. */
static int thread_count(void) {
  DIR *d = opendir("/proc/self/task");
  assert_non_null(d);
  int n = 0;
  for (struct dirent *de; (de = readdir(d)) != NULL;)
    n += de->d_name[0] != '.';
  closedir(d);
  return n;
}

/* A read on e that must time out, with plain status checks so that a forked
 * child can run it too (a failed cmocka assertion there would go on running
 * the suite in the child): 0 when the timeout fired, else a step number. */
static int time_out_one_read(uvs_engine *e) {
  uvs_stream *r = NULL;
  uvs_op *op = NULL; /* no queue: waited on with uvs_op_wait */
  if (uvs_reader_new(e, NULL, &r) < 0 || uvs_op_new(NULL, 1, &op) < 0 ||
      uvs_op_set_timeout(op, 5) < 0)
    return 1;
  if (uvs_stream_read_start(r, 10, op) != UVS_PENDING)
    return 2;
  if (uvs_op_wait(op, WAIT_MS) != 0) /* the timeout never fired */
    return 3;
  if (uvs_op_result(op) != UVS_ETIMEDOUT)
    return 4;
  if (uvs_op_free(op) < 0 || uvs_stream_free(r) < 0)
    return 5;
  return 0;
}

/* The timeouts' thread is the library's only process-wide thread: it is
 * gone once the last engine is freed, and comes back with the next timeout,
 * so that a program that frees its engines leaves no thread behind. */
static void test_engine_free_stops_timer_thread(void **state) {
  (void)state;
  int before = thread_count();
  for (int round = 0; round < 2; round++) {
    uvs_engine *e = uvst_engine_new(1);
    uvs_engine *other = uvst_engine_new(1);
    assert_int_equal(time_out_one_read(e), 0);
    assert_int_equal(thread_count(), before + 3); /* 2 loops + the timer */
    assert_uvs_rc(uvs_engine_free(e), 0);
    assert_int_equal(thread_count(), before + 2); /* other is still live */
    assert_uvs_rc(uvs_engine_free(other), 0);
    assert_int_equal(thread_count(), before);
  }
}

/* In a child of fork(2): a read on an engine of its own times out, and
 * once that engine is freed its loop and timer threads are gone too. */
static int child_times_out_one_read(void) {
  uvs_engine *e = NULL;
  if (uvs_engine_new(NULL, &e) < 0)
    return 1;
  int rc = time_out_one_read(e);
  if (rc != 0)
    return rc;
  if (uvs_engine_free(e) < 0)
    return 5;
  return thread_count() == 1 ? 0 : 6;
}

/* A child of fork(2) has no timer thread, whatever its parent had: its
 * own first timeout must start one (else its timeouts never fire), and
 * freeing its own last engine must stop it (the parent's engines, copied
 * into the child, do not count). Not under ThreadSanitizer, which kills a
 * child of a multi-threaded process that starts a thread; the plain, ASan
 * and valgrind runs cover it. */
static void test_timeouts_after_fork(void **state) {
  (void)state;
#if defined(__SANITIZE_THREAD__) || UVST_HAS_FEATURE(thread_sanitizer)
  fprintf(stderr, "NOT RUN under ThreadSanitizer: test_timeouts_after_fork "
                  "(threads in a forked child are unsupported by TSan)\n");
  return;
#endif
  uvs_engine *e = uvst_engine_new(1);
  assert_int_equal(time_out_one_read(e), 0); /* the parent's timer runs */
  pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0) {
    /* On success the child ends by exec, not exit: it holds a copy of the
     * parent's engine that it cannot free (its threads are not here), which
     * valgrind would report as a leak at exit. */
    int rc = child_times_out_one_read();
    if (rc == 0)
      execl("/bin/true", "true", (char *)NULL);
    _exit(rc == 0 ? 7 : rc);
  }
  int status = 0;
  assert_int_equal(waitpid(child, &status, 0), child);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  assert_int_equal(time_out_one_read(e), 0); /* and the parent's works */
  assert_uvs_rc(uvs_engine_free(e), 0);
}

/* Waits up to 10 s for child to exit; its exit status, or -1 if it had to
 * be killed. */
static int wait_child_briefly(pid_t child) {
  int status = 0;
  for (int i = 0; i < 1000; i++) {
    pid_t r = waitpid(child, &status, WNOHANG);
    if (r == child)
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    uvst_sleep_ms(10);
  }
  kill(child, SIGKILL);
  waitpid(child, &status, 0);
  return -1;
}

/* Host names are resolved on threads of the engine's loop, joined when the
 * engine is freed, so a lookup leaves no thread behind and a child of
 * fork(2) may then exit normally. With libuv's thread pool, which outlives
 * every engine, such a child hung at exit joining the parent's pool threads
 * (libuv/libuv#4443), and the process kept 4 threads. */
static void test_name_lookup_leaves_no_thread(void **state) {
  (void)state;
  int before = thread_count();
  uvs_engine *e = uvst_engine_new(1);
  uvs_stream *s = NULL;
  int rc =
      uvs_connect_tcp(e, "localhost", uvst_unused_port(), NULL, WAIT_MS, &s);
  if (rc >= 0 || is_eai(rc))
    fail_msg("connect to localhost on an unused port: %s", uvs_err_name(rc));
  assert_uvs_rc(uvs_engine_free(e), 0);
  assert_int_equal(thread_count(), before);
  pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0) {
    /* cmocka's handlers would resume the suite in the child on a crash */
    static const int crashes[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
    for (size_t i = 0; i < sizeof crashes / sizeof crashes[0]; i++)
      signal(crashes[i], SIG_DFL);
    exit(0); /* a normal exit: atexit handlers and destructors run */
  }
  int status = wait_child_briefly(child);
  if (status != 0)
    fail_msg("a forked child's normal exit: %s",
             status < 0 ? "hung (killed after 10 s)" : "crashed or failed");
}

/* ---- fork while another thread is inside the library -------------------- */

static int churn_stop;

static void *churn_options(void *arg) {
  (void)arg;
  while (!__atomic_load_n(&churn_stop, __ATOMIC_ACQUIRE)) {
    uvs_options *o = NULL;
    if (uvs_options_new(&o) == 0)
      uvs_options_free(o);
  }
  return NULL;
}

/* In a child of fork(2): 0 if it could make (and free) an engine. */
static int child_makes_an_engine(void) {
  uvs_options *o = NULL;
  uvs_engine *e = NULL;
  if (uvs_options_new(&o) < 0 || uvs_options_set_int(o, "io_threads", 0) < 0)
    return 1;
  if (uvs_engine_new(o, &e) < 0)
    return 2;
  if (uvs_engine_free(e) < 0 || uvs_options_free(o) < 0)
    return 3;
  return 0;
}

/* A fork while another thread makes and frees handles: the child must be
 * able to make its own engine. The registry's lock, copied held into the
 * child, hung 7 of 40 such children. The child's engine is host-driven
 * (no thread), so that ThreadSanitizer runs this too. */
static void test_fork_while_a_thread_makes_handles(void **state) {
  (void)state;
  pthread_t churn;
  __atomic_store_n(&churn_stop, 0, __ATOMIC_RELEASE);
  assert_int_equal(pthread_create(&churn, NULL, churn_options, NULL), 0);
  int hung = 0, failed = 0;
  for (int i = 0; i < 40; i++) {
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
      int rc = child_makes_an_engine();
      if (rc == 0) /* exec: the parent's copied objects are no leak */
        execl("/bin/true", "true", (char *)NULL);
      _exit(rc == 0 ? 7 : rc);
    }
    int status = wait_child_briefly(child);
    hung += status < 0;
    failed += status > 0;
  }
  __atomic_store_n(&churn_stop, 1, __ATOMIC_RELEASE);
  pthread_join(churn, NULL);
  if (hung || failed)
    fail_msg("of 40 children forked while a thread made handles, %d hung "
             "and %d failed to make an engine",
             hung, failed);
}

/* ---- huge timeouts mean forever ----------------------------------------- */

/* Timeouts of INT64_MAX ("no limit" in Java, Go...) and 1e13 ms overflowed
 * the nanosecond deadline and expired at once: each wait below returned
 * UVS_ETIMEDOUT (or 0 from the queue) in 0 ms. The data comes 100 ms late,
 * and every wait must get it. */
static void huge_timeouts_wait_forever(int io_threads, int64_t ms) {
  uvs_engine *e = uvst_engine_new(io_threads);
  uvs_stream *r = uvst_reader_new(e, 0);
  void *d = NULL;
  size_t n = 0;
  uvst_later *l = uvst_feed_later(r, "a", 0, 100);
  assert_uvs_rc(uvs_stream_read(r, 10, ms, &d, &n), 0);
  uvst_later_join(l);
  assert_bytes_equal(d, n, "a");
  uvs_free(d);

  uvs_cq *cq = NULL;
  assert_uvs_rc(uvs_cq_new(e, &cq), 0);
  uvs_op *op = uvst_op_new(cq, 5);
  assert_uvs_rc(uvs_op_set_timeout(op, ms), 0);
  assert_uvs_rc(uvs_stream_read_start(r, 10, op), UVS_PENDING);
  l = uvst_feed_later(r, "b", 0, 100);
  uvs_op *got = NULL;
  assert_int_equal(uvs_cq_next(cq, ms, &got), 1);
  uvst_later_join(l);
  assert_ptr_equal(got, op);
  assert_op_result(op, 0);
  assert_op_data(op, "b");

  assert_uvs_rc(uvs_stream_read_start(r, 10, op), UVS_PENDING);
  l = uvst_feed_later(r, "c", 0, 100);
  uvs_op *ops[2] = {NULL, NULL};
  assert_int_equal(uvs_cq_wait(cq, ms, ops, 2), 1);
  uvst_later_join(l);
  assert_ptr_equal(ops[0], op);
  assert_op_result(op, 0);
  assert_op_data(op, "c");

  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_cq_free(cq), 0);
  assert_uvs_rc(uvs_stream_free(r), 0);
  assert_uvs_rc(uvs_engine_free(e), 0);
}

static void test_huge_timeouts_wait_forever(void **state) {
  (void)state;
  static const int64_t huge[] = {INT64_MAX, 10000000000000LL};
  for (int threads = 0; threads <= 1; threads++)
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++)
      huge_timeouts_wait_forever(threads, huge[i]);
}

/* ---- a freed handle stays freed ----------------------------------------- */

/* Generations were 24 bits and a freed slot was reused at once: after
 * 2^24 - 2 new/free cycles a freed handle was live again (a stale
 * uvs_options_free freed somebody else's options). 2^24 + 16 cycles take
 * about 2 s here; too long under valgrind. */
static void test_freed_handle_stays_stale(void **state) {
  (void)state;
  if (getenv("UVS_VALGRIND")) {
    fprintf(stderr, "NOT RUN under valgrind: test_freed_handle_stays_stale "
                    "(2^24 handle cycles)\n");
    return;
  }
  uvs_options *stale = NULL;
  assert_uvs_rc(uvs_options_new(&stale), 0);
  assert_uvs_rc(uvs_options_free(stale), 0);
  for (long i = 0; i < (1L << 24) + 16; i++) {
    uvs_options *o = NULL;
    if (uvs_options_new(&o) < 0)
      fail_msg("cycle %ld: uvs_options_new failed", i);
    if (o == stale)
      fail_msg("cycle %ld: a freed handle is live again", i);
    uvs_options_free(o);
  }
  assert_uvs_rc(uvs_options_free(stale), UVS_EBADHANDLE);
}

/* ---- threads that cannot start ------------------------------------------ */

/* Until threads_can_start(), a new thread's stack (2^47 bytes, the whole
 * address space) cannot be mapped, so pthread_create fails with EAGAIN:
 * a failed thread creation without a seam in the library. */
static pthread_attr_t saved_thread_attr;

static void threads_cannot_start(void) {
  assert_int_equal(pthread_getattr_default_np(&saved_thread_attr), 0);
  pthread_attr_t huge;
  assert_int_equal(pthread_attr_init(&huge), 0);
  assert_int_equal(pthread_attr_setstacksize(&huge, (size_t)1 << 47), 0);
  assert_int_equal(pthread_setattr_default_np(&huge), 0);
  pthread_attr_destroy(&huge);
}

static void threads_can_start(void) {
  assert_int_equal(pthread_setattr_default_np(&saved_thread_attr), 0);
  pthread_attr_destroy(&saved_thread_attr);
}

/* An engine whose loop thread cannot start is UVS_EAGAIN. The loop was
 * marked started before std::thread threw, and the engine's destruction
 * then joined a thread that did not exist: std::terminate. */
static void test_engine_without_its_thread_is_eagain(void **state) {
  (void)state;
  uvs_engine *e = NULL;
  threads_cannot_start();
  int rc = uvs_engine_new(NULL, &e);
  threads_can_start();
  assert_uvs_rc(rc, UVS_EAGAIN);
  e = uvst_engine_new(1); /* and with threads back, engines work */
  assert_uvs_rc(uvs_engine_free(e), 0);
}

/* An operation whose timeout cannot be armed (the timeouts' thread cannot
 * start) completes with the error: it was pending when the exception left
 * the call, which returned an error for an op that never completed. */
static void test_timeout_without_its_thread_completes_the_op(void **state) {
  (void)state;
  uvs_engine *e = uvst_engine_new(0); /* no loop thread; no timeout yet */
  uvs_stream *r = uvst_reader_new(e, 0);
  uvs_op *op = uvst_op_new(NULL, 1);
  assert_uvs_rc(uvs_op_set_timeout(op, 60000), 0);
  threads_cannot_start();
  int rc = uvs_stream_read_start(r, 10, op);
  threads_can_start();
  assert_uvs_rc(rc, UVS_PENDING);
  assert_uvs_rc(uvs_op_wait(op, WAIT_MS), 0);
  assert_op_result(op, UVS_EAGAIN);
  /* the reader is free for the next read */
  assert_uvs_rc(uvs_op_set_timeout(op, -1), 0);
  assert_uvs_rc(uvs_stream_read_start(r, 10, op), UVS_PENDING);
  uvst_feed(r, "ok");
  assert_uvs_rc(uvs_op_wait(op, WAIT_MS), 0);
  assert_op_result(op, 0);
  assert_op_data(op, "ok");
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(r), 0);
  assert_uvs_rc(uvs_engine_free(e), 0);
}

static void test_engine_bad_io_threads(void **state) {
  (void)state;
  uvs_options *o = new_options(NULL, 0);
  uvs_engine *e = NULL;
  int rc = uvs_options_set_int(o, "io_threads", -1);
  if (rc == 0) {
    assert_uvs_rc(uvs_engine_new(o, &e), UVS_EINVAL);
    assert_null(e);
  } else {
    assert_uvs_rc(rc, UVS_EINVAL);
  }
  assert_uvs_rc(uvs_options_free(o), 0);
}

/* ---- connect / listen failures ------------------------------------------ */

static void test_connect_refused(void **state) {
  (void)state;
  uvs_engine *e = uvst_engine_new(1);
  uvs_stream *s = NULL;
  assert_uvs_rc(uvs_connect_tcp(e, "127.0.0.1", 1, NULL, WAIT_MS, &s),
                UVS_ECONNREFUSED);
  assert_null(s);
  assert_true(strlen(uvs_last_error()) > 0);
  uvs_op *op = uvst_op_new(NULL, 3);
  int rc = uvs_connect_tcp_start(e, "127.0.0.1", uvst_unused_port(), NULL, op);
  assert_true(rc == UVS_PENDING || rc == UVS_COMPLETED);
  assert_uvs_rc(uvs_op_wait(op, WAIT_MS), 0);
  assert_uvs_rc(uvs_op_result(op), UVS_ECONNREFUSED);
  assert_int_equal(uvs_op_kind(op), UVS_OP_CONNECT);
  assert_true(uvs_op_take_stream(op, &s) < 0);
  assert_null(s);
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_engine_free(e), 0);
}

static void test_connect_unresolvable(void **state) {
  (void)state;
  uvs_engine *e = uvst_engine_new(1);
  uvs_stream *s = NULL;
  int rc = uvs_connect_tcp(e, "no-such-host.invalid", 80, NULL, 20000, &s);
  if (!is_eai(rc)) {
    fail_msg("connect to no-such-host.invalid: %d (%s), expected UVS_EAI_*", rc,
             uvs_err_name(rc));
  }
  assert_null(s);
  assert_true(strncmp(uvs_err_name(rc), "EAI_", 4) == 0);
  assert_uvs_rc(uvs_engine_free(e), 0);
}

/* A connect cancelled while its name is being resolved ends at once (the
 * lookup's answer is dropped when it comes), and an engine freed with
 * lookups queued or running ends their connects with UVS_ESHUTDOWN; both
 * on a host-driven engine too. Several rounds, for the sanitizers. */
static void test_connect_abandoned_while_resolving(void **state) {
  (void)state;
  for (int io_threads = 0; io_threads <= 1; io_threads++) {
    for (int round = 0; round < 10; round++) {
      uvs_engine *e = uvst_engine_new(io_threads);
      uvs_op *cancelled = uvst_op_new(NULL, 1);
      uvs_op *orphans[6];
      int port = uvst_unused_port();
      int rc = uvs_connect_tcp_start(e, "localhost", port, NULL, cancelled);
      assert_true(rc == UVS_PENDING || rc == UVS_COMPLETED);
      assert_uvs_rc(uvs_op_cancel(cancelled), 0);
      int64_t deadline = uvst_now_ms() + WAIT_MS;
      while (uvs_op_wait(cancelled, 0) != 0 && uvst_now_ms() < deadline) {
        if (io_threads == 0)
          assert_uvs_rc(uvs_engine_run(e), 0);
        uvst_sleep_ms(1);
      }
      rc = uvs_op_result(cancelled);
      if (rc != UVS_ECANCELED && rc != UVS_ECONNREFUSED)
        fail_msg("cancelled connect: %s", uvs_err_name(rc));
      for (int i = 0; i < 6; i++) { /* more than the lookup threads */
        orphans[i] = uvst_op_new(NULL, 2);
        rc = uvs_connect_tcp_start(e, "localhost", port, NULL, orphans[i]);
        assert_true(rc == UVS_PENDING || rc == UVS_COMPLETED);
      }
      assert_uvs_rc(uvs_engine_free(e), 0);
      for (int i = 0; i < 6; i++) {
        assert_uvs_rc(uvs_op_wait(orphans[i], WAIT_MS), 0);
        rc = uvs_op_result(orphans[i]);
        if (rc != UVS_ESHUTDOWN && rc != UVS_ECONNREFUSED)
          fail_msg("connect at engine free: %s", uvs_err_name(rc));
        assert_uvs_rc(uvs_op_free(orphans[i]), 0);
      }
      assert_uvs_rc(uvs_op_free(cancelled), 0);
    }
  }
}

static void test_bad_port(void **state) {
  (void)state;
  uvs_engine *e = uvst_engine_new(1);
  uvs_stream *s = NULL;
  uvs_server *srv = NULL;
  uvs_op *op = uvst_op_new(NULL, 1);
  const int bad[] = {-1, 65536, 70000};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_uvs_rc(uvs_connect_tcp(e, "127.0.0.1", bad[i], NULL, 1000, &s),
                  UVS_EINVAL);
    assert_uvs_rc(uvs_connect_tcp_start(e, "127.0.0.1", bad[i], NULL, op),
                  UVS_EINVAL);
    assert_uvs_rc(uvs_server_listen_tcp(e, "127.0.0.1", bad[i], NULL, &srv),
                  UVS_EINVAL);
  }
  assert_null(s);
  assert_null(srv);
  assert_int_equal(uvs_op_is_done(op), 1); /* never started */
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_engine_free(e), 0);
}

static void test_unix_path_too_long(void **state) {
  (void)state;
  uvs_engine *e = uvst_engine_new(1);
  uvs_stream *s = NULL;
  uvs_server *srv = NULL;
  char path[300];
  memset(path, 'a', sizeof(path) - 1);
  path[sizeof(path) - 1] = '\0';
  memcpy(path, "/tmp/", 5);
  int rc = uvs_connect_unix(e, path, NULL, 1000, &s);
  assert_true(rc == UVS_ENAMETOOLONG || rc == UVS_EINVAL);
  rc = uvs_server_listen_unix(e, path, NULL, &srv);
  assert_true(rc == UVS_ENAMETOOLONG || rc == UVS_EINVAL);
  assert_null(s);
  assert_null(srv);
  assert_uvs_rc(uvs_engine_free(e), 0);
}

/* Listening twice on one port (reuse_port 0) gives UVS_EADDRINUSE from the
 * listen call; so does a port held by a plain socket. */
static void test_address_in_use(void **state) {
  (void)state;
  uvs_engine *e = uvst_engine_new(1);
  uvs_options *o = new_options("reuse_port", 0);
  uvs_server *a = NULL, *b = NULL;
  char *host = NULL;
  int port = 0;
  assert_uvs_rc(uvs_server_listen_tcp(e, "127.0.0.1", 0, o, &a), 0);
  assert_int_equal(uvs_server_num_addresses(a), 1);
  assert_uvs_rc(uvs_server_address(a, 0, &host, &port), 0);
  assert_string_equal(host, "127.0.0.1");
  uvs_free(host);
  assert_true(port > 0 && port < 65536);
  assert_uvs_rc(uvs_server_listen_tcp(e, "127.0.0.1", port, o, &b),
                UVS_EADDRINUSE);
  assert_null(b);
  assert_uvs_rc(uvs_server_listen_tcp(e, "127.0.0.1", port, NULL, &b),
                UVS_EADDRINUSE);
  assert_null(b);
  assert_uvs_rc(uvs_server_free(a), 0);
  int plain = uvst_listen_loopback(0, &port);
  assert_true(plain >= 0);
  assert_uvs_rc(uvs_server_listen_tcp(e, "127.0.0.1", port, o, &b),
                UVS_EADDRINUSE);
  assert_null(b);
  close(plain);
  assert_uvs_rc(uvs_options_free(o), 0);
  assert_uvs_rc(uvs_engine_free(e), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_null_options),
      T(test_null_engine_and_cq),
      T(test_null_op),
      T(test_null_stream),
      T(test_null_server),
      T(test_open_fd_owns_fd_on_failure),
      T(test_set_error_needs_negative),
      T(test_stale_options),
      T(test_stale_op),
      T(test_stale_stream),
      T(test_stale_engine_and_cq),
      T(test_stale_server),
      T(test_wrong_type),
      T(test_double_free),
      T(test_closed_stream),
      T(test_closed_reader),
      T(test_engine_free_with_pending_read),
      T(test_strerror_every_code),
      T(test_err_name_every_code),
      T(test_unknown_codes),
      T(test_version),
      T(test_last_error),
      T(test_options_set_get),
      T(test_invalid_limit),
      T(test_write_limits),
      T(test_write_limit_options),
      T(test_op_initial_state_and_cq_wait),
      T(test_op_busy),
      T(test_engine_threads),
      T(test_engine_free_stops_timer_thread),
      T(test_timeouts_after_fork),
      T(test_name_lookup_leaves_no_thread),
      T(test_fork_while_a_thread_makes_handles),
      T(test_huge_timeouts_wait_forever),
      T(test_freed_handle_stays_stale),
      T(test_engine_without_its_thread_is_eagain),
      T(test_timeout_without_its_thread_completes_the_op),
      T(test_connect_abandoned_while_resolving),
      T(test_engine_bad_io_threads),
      T(test_connect_refused),
      T(test_connect_unresolvable),
      T(test_bad_port),
      T(test_unix_path_too_long),
      T(test_address_in_use),
  };
  return cmocka_run_group_tests_name("api", tests, NULL, NULL);
}
