/*
 * test_safety.c - handle safety across threads and bad input, beyond
 * test_api.c (which covers NULL, stale, wrong-type handles, sequential double
 * free, ports -1/65536/70000, a 300-byte unix path, limit 0/-1 on a reader,
 * set_write_limits' rule).
 *
 * Handle safety (there are no callbacks: completions are consumed from a
 * queue, so "freeing from a completion callback" is freeing an op or its
 * stream right after uvs_cq_next returned it, and while another thread waits):
 * - a stream freed while another thread is blocked reading it (reader,
 *   socketpair): the reader returns at once, as at EOF;
 * - an op freed while another thread waits on it (uvs_op_wait) or on its
 *   queue (uvs_cq_next): the waiter returns, the freed op is never delivered,
 *   also when it completed twice before the queue was polled;
 * - op and stream freed right after uvs_cq_next returned the op;
 * - two threads freeing the same handle at once: exactly one succeeds;
 * - forged handle values of every kind: UVS_EBADHANDLE;
 * - the objects of a freed engine fail cleanly; a thread blocked in
 *   uvs_cq_next on its queue is released by uvs_engine_free; pending
 *   operations of a reader made with the engine complete;
 * - a refused start (UVS_EBUSY) leaves the op as it was;
 * - an accept started on a closed server fails with UVS_ECLOSED;
 * - host-driven engines honour the timeouts of blocking calls;
 * - the library's threads (loop, deadline, name resolution) take no signal
 *   sent to the process: it stays pending for the application's threads;
 * - in a child of fork(2), every call on the parent's engine, queue, op,
 *   stream or server returns UVS_EFORKED and does nothing (no byte written,
 *   nothing closed); the child's own engine and the parent's options work.
 * Bad input:
 * - ports INT_MIN / INT_MAX; unix paths of exactly 107 and 108 bytes, empty,
 *   NULL, in a missing directory;
 * - limit 0 / negative and write_low > write_high given to open_fd, connect
 *   (TCP and unix) and listen (TCP and unix);
 * - set_write_limits with a low mark whose default high (4 x low) overflows;
 * - empty separators in every form, readexactly(-1), read(INT64_MIN).
 * Every test runs inside the descriptor-leak guard of helpers.h; a test that
 * would hang on a defect is bounded (helper threads with deadlines).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "helpers.h"
#include "net_helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 5000

/* Sanitizer builds: undefined behaviour inside the library fails the test
 * binary instead of printing a line nobody reads. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void) {
  return "halt_on_error=1:print_stacktrace=1";
}

static int setup(void **state) {
  return uvst_fd_setup(state);
}
static int teardown(void **state) {
  return uvst_fd_teardown(state);
}

/* ---- local helpers ------------------------------------------------------ */

static uvs_options *opts1(const char *k, int64_t v) {
  uvs_options *o = NULL;
  assert_uvs_rc(uvs_options_new(&o), 0);
  assert_uvs_rc(uvs_options_set_int(o, k, v), 0);
  return o;
}

/* A helper thread running one blocking call, with its result and timing. */
typedef struct call {
  pthread_t t;
  void (*fn)(struct call *c);
  void *a, *b;
  int64_t n;
  int rc;
  size_t len;
  uvs_op *op;
  int64_t started_ms, ended_ms;
  atomic_int done;
} call;

static void *call_main(void *arg) {
  call *c = arg;
  c->started_ms = uvst_now_ms();
  c->fn(c);
  c->ended_ms = uvst_now_ms();
  atomic_store(&c->done, 1);
  return NULL;
}

static void call_start(call *c, void (*fn)(call *c)) {
  c->fn = fn;
  atomic_store(&c->done, 0);
  assert_int_equal(pthread_create(&c->t, NULL, call_main, c), 0);
}

/* Waits up to ms for the call to return; 1 if it did (then joined). */
static int call_join(call *c, int64_t ms) {
  int64_t end = uvst_now_ms() + ms;
  while (!atomic_load(&c->done) && uvst_now_ms() < end)
    uvst_sleep_ms(2);
  if (!atomic_load(&c->done))
    return 0;
  pthread_join(c->t, NULL);
  return 1;
}

static void do_read(call *c) {
  void *d = NULL;
  c->rc = uvs_stream_read((uvs_stream *)c->a, c->n, WAIT_MS, &d, &c->len);
  uvs_free(d);
}

static void do_op_wait(call *c) {
  c->rc = uvs_op_wait((uvs_op *)c->a, WAIT_MS);
}

static void do_cq_next(call *c) {
  c->op = NULL;
  c->rc = uvs_cq_next((uvs_cq *)c->a, c->n, &c->op);
}

static void do_accept(call *c) {
  uvs_stream *s = NULL;
  c->rc = uvs_server_accept((uvs_server *)c->a, c->n, &s);
  c->op = (uvs_op *)s; /* (only compared with NULL) */
  if (s)
    uvs_stream_free(s);
}

static void do_cq_wait_timeout(call *c) {
  uvs_op *ops[4];
  c->rc = uvs_cq_wait((uvs_cq *)c->a, c->n, ops, 4);
}

/* Gives the blocked thread time to be inside its call. */
static void settle(void) {
  uvst_sleep_ms(50);
}

/* ---- freeing from another thread ------------------------------------------
 */

/* A reader freed while another thread is blocked in uvs_stream_read: the
 * read returns at once, as at EOF ("" and 0). */
static void test_free_reader_while_read_blocked(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  call c = {.a = s, .n = 100};
  call_start(&c, do_read);
  settle();
  assert_uvs_rc(uvs_stream_free(s), 0);
  assert_true(call_join(&c, 2000));
  assert_uvs_rc(c.rc, 0);
  assert_int_equal(c.len, 0); /* released by the free: its timeout gives
                                 UVS_ETIMEDOUT */
  assert_uvs_rc(uvs_stream_at_eof(s), UVS_EBADHANDLE);
}

/* The same with a connected stream (socketpair) of a threaded engine. */
static void test_free_stream_while_read_blocked(void **state) {
  (void)state;
  uvs_engine *e = uvst_engine_new(1);
  int peer = -1;
  uvs_stream *s = uvst_socketpair_stream(e, &peer);
  call c = {.a = s, .n = 100};
  call_start(&c, do_read);
  settle();
  assert_uvs_rc(uvs_stream_free(s), 0);
  assert_true(call_join(&c, 2000));
  assert_uvs_rc(c.rc, 0);
  assert_int_equal(c.len, 0);
  char b;
  struct pollfd pf = {peer, POLLIN, 0};
  assert_int_equal(poll(&pf, 1, WAIT_MS), 1);
  assert_int_equal(read(peer, &b, 1), 0); /* the peer sees the close */
  close(peer);
  assert_uvs_rc(uvs_engine_free(e), 0);
}

/* An op freed while another thread waits on it: the wait returns, the op
 * is completed (cancelled), and its handle is stale. */
static void test_free_op_while_waited(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op = uvst_op_new(NULL, 1);
  assert_uvs_rc(uvs_stream_readline_start(s, op), UVS_PENDING);
  call c = {.a = op};
  call_start(&c, do_op_wait);
  settle();
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_true(call_join(&c, 2000));
  assert_true(c.rc == 0 || c.rc == UVS_EBADHANDLE);
  assert_uvs_rc(uvs_op_is_done(op), UVS_EBADHANDLE);
  /* the reader is free again: a new read can wait */
  uvs_op *op2 = uvst_op_new(NULL, 2);
  assert_uvs_rc(uvs_stream_readline_start(s, op2), UVS_PENDING);
  uvst_feed(s, "line\n");
  assert_op_result(op2, 0);
  assert_op_data(op2, "line\n");
  assert_uvs_rc(uvs_op_free(op2), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* An op freed while another thread waits on its queue: never delivered;
 * the waiter times out (or gets only the other op). */
static void test_free_op_while_queue_waited(void **state) {
  (void)state;
  uvs_engine *e = uvst_engine_new(1);
  uvs_cq *cq = NULL;
  assert_uvs_rc(uvs_cq_new(e, &cq), 0);
  uvs_stream *s = uvst_reader_new(e, 0);
  uvs_op *op = uvst_op_new(cq, 7);
  assert_uvs_rc(uvs_stream_read_start(s, 10, op), UVS_PENDING);
  call c = {.a = cq, .n = 300};
  call_start(&c, do_cq_next);
  settle();
  assert_uvs_rc(uvs_op_free(op), 0);
  uvst_feed(s, "data"); /* would have completed it */
  assert_true(call_join(&c, 2000));
  assert_uvs_rc(c.rc, 0); /* timed out: nothing delivered */
  assert_null(c.op);
  /* the bytes are still there for the next reader */
  void *d = NULL;
  size_t len = 0;
  assert_uvs_rc(uvs_stream_read(s, 10, 0, &d, &len), 0);
  assert_bytes_equal(d, len, "data");
  uvs_free(d);
  assert_uvs_rc(uvs_stream_free(s), 0);
  assert_uvs_rc(uvs_cq_free(cq), 0);
  assert_uvs_rc(uvs_engine_free(e), 0);
}

/* An op that completed twice before its queue was polled (restarted after
 * its first completion) and is then freed: "never delivered after". */
static void test_freed_op_not_delivered_after_two_completions(void **state) {
  (void)state;
  uvs_engine *e = uvst_engine_new(0);
  uvs_cq *cq = NULL;
  assert_uvs_rc(uvs_cq_new(e, &cq), 0);
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op = uvst_op_new(cq, 7);
  assert_uvs_rc(uvs_stream_read_start(s, 10, op), UVS_PENDING);
  uvst_feed(s, "a"); /* completion 1, queued */
  assert_uvs_rc(uvs_stream_read_start(s, 10, op), UVS_PENDING);
  uvst_feed(s, "b"); /* completion 2, queued */
  assert_uvs_rc(uvs_op_free(op), 0);
  uvs_op *got[4] = {NULL};
  int n = uvs_cq_poll(cq, got, 4);
  int stale = n > 0 ? uvs_op_is_done(got[0]) : 0;
  assert_uvs_rc(uvs_stream_free(s), 0);
  assert_uvs_rc(uvs_cq_free(cq), 0);
  assert_uvs_rc(uvs_engine_free(e), 0);
  if (n != 0)
    fail_msg("the queue delivered %d completion(s) of a freed op (handle "
             "%p, uvs_op_is_done = %s)",
             n, (void *)got[0], uvs_err_name(stale));
}

/* The consumer frees the op (and then its stream) right after uvs_cq_next
 * returned it; the other ops of the queue keep being delivered, once. */
static void test_free_right_after_delivery(void **state) {
  (void)state;
  uvs_engine *e = uvst_engine_new(1);
  uvs_cq *cq = NULL;
  assert_uvs_rc(uvs_cq_new(e, &cq), 0);
  enum { N = 8 };
  uvs_stream *s[N];
  uvs_op *op[N];
  int seen[N] = {0};
  for (int i = 0; i < N; i++) {
    s[i] = uvst_reader_new(e, 0);
    op[i] = uvst_op_new(cq, (uint64_t)i);
    assert_uvs_rc(uvs_stream_readline_start(s[i], op[i]), UVS_PENDING);
  }
  for (int i = 0; i < N; i++)
    uvst_feed(s[i], "x\n");
  for (int k = 0; k < N; k++) {
    uvs_op *got = NULL;
    assert_uvs_rc(uvs_cq_next(cq, WAIT_MS, &got), 1);
    uint64_t tag = uvs_op_tag(got);
    assert_true(tag < N && got == op[tag]);
    assert_int_equal(seen[tag]++, 0);
    assert_op_result(got, 0);
    assert_op_data(got, "x\n");
    assert_uvs_rc(uvs_op_free(got), 0);
    assert_uvs_rc(uvs_stream_free(s[tag]), 0);
    assert_uvs_rc(uvs_op_free(got), UVS_EBADHANDLE);
  }
  uvs_op *left = NULL;
  assert_uvs_rc(uvs_cq_next(cq, 50, &left), 0);
  assert_uvs_rc(uvs_cq_free(cq), 0);
  assert_uvs_rc(uvs_engine_free(e), 0);
}

/* A stream freed by another thread while its read op waits in a queue: the
 * read completes once, as at EOF, and is delivered once. */
static void test_free_stream_with_queued_read(void **state) {
  (void)state;
  uvs_engine *e = uvst_engine_new(1);
  uvs_cq *cq = NULL;
  assert_uvs_rc(uvs_cq_new(e, &cq), 0);
  int peer = -1;
  uvs_stream *s = uvst_socketpair_stream(e, &peer);
  uvs_op *op = uvst_op_new(cq, 3);
  assert_uvs_rc(uvs_stream_readexactly_start(s, 5, op), UVS_PENDING);
  assert_int_equal(write(peer, "ab", 2), 2);
  uvst_sleep_ms(20);
  assert_uvs_rc(uvs_stream_free(s), 0);
  uvs_op *got = NULL;
  assert_uvs_rc(uvs_cq_next(cq, WAIT_MS, &got), 1);
  assert_ptr_equal(got, op);
  assert_op_result(op, UVS_EINCOMPLETE);
  assert_op_data(op, "ab");
  assert_int_equal(uvs_op_expected(op), 5);
  assert_uvs_rc(uvs_cq_next(cq, 50, &got), 0);
  assert_uvs_rc(uvs_op_free(op), 0);
  close(peer);
  assert_uvs_rc(uvs_cq_free(cq), 0);
  assert_uvs_rc(uvs_engine_free(e), 0);
}

/* ---- concurrent double free
 * -------------------------------------------------- */

typedef struct racer {
  void *h;
  int (*free_fn)(void *);
  atomic_int *go;
  int rc;
} racer;

static int free_stream(void *h) {
  return uvs_stream_free(h);
}
static int free_op(void *h) {
  return uvs_op_free(h);
}
static int free_options(void *h) {
  return uvs_options_free(h);
}
static int free_cq(void *h) {
  return uvs_cq_free(h);
}
static int free_server(void *h) {
  return uvs_server_free(h);
}
static int free_engine(void *h) {
  return uvs_engine_free(h);
}

static void *racer_main(void *arg) {
  racer *r = arg;
  while (!atomic_load(r->go)) {
  }
  r->rc = r->free_fn(r->h);
  return NULL;
}

/* Two threads free one handle at the same moment: one 0, one EBADHANDLE. */
static void race_free(void *h, int (*free_fn)(void *)) {
  atomic_int go = 0;
  racer a = {h, free_fn, &go, 99}, b = {h, free_fn, &go, 99};
  pthread_t ta, tb;
  assert_int_equal(pthread_create(&ta, NULL, racer_main, &a), 0);
  assert_int_equal(pthread_create(&tb, NULL, racer_main, &b), 0);
  atomic_store(&go, 1);
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  if (!((a.rc == 0 && b.rc == UVS_EBADHANDLE) ||
        (b.rc == 0 && a.rc == UVS_EBADHANDLE)))
    fail_msg("concurrent frees returned %s and %s", uvs_err_name(a.rc),
             uvs_err_name(b.rc));
}

static void test_concurrent_double_free(void **state) {
  (void)state;
  uvs_engine *e = uvst_engine_new(1);
  for (int i = 0; i < 100; i++) {
    uvs_stream *r = uvst_reader_new(e, 0);
    uvs_op *op = uvst_op_new(NULL, 1);
    assert_uvs_rc(uvs_stream_readline_start(r, op), UVS_PENDING);
    race_free(op, free_op); /* pending */
    race_free(r, free_stream);
    uvs_options *o = NULL;
    assert_uvs_rc(uvs_options_new(&o), 0);
    race_free(o, free_options);
    uvs_cq *cq = NULL;
    assert_uvs_rc(uvs_cq_new(e, &cq), 0);
    race_free(cq, free_cq);
    if (i % 10 == 0) {
      int peer;
      uvs_stream *s = uvst_socketpair_stream(e, &peer);
      race_free(s, free_stream);
      close(peer);
      uvs_server *srv = NULL;
      assert_uvs_rc(uvs_server_listen_tcp(e, "127.0.0.1", 0, NULL, &srv), 0);
      race_free(srv, free_server);
    }
  }
  race_free(e, free_engine);
  for (int i = 0; i < 5; i++)
    race_free(uvst_engine_new(i % 2), free_engine);
}

/* ---- forged handles
 * ------------------------------------------------------------- */

/* Handle values are never dereferenced: any value of any kind, with any
 * generation or slot, is refused. */
static void test_forged_handles(void **state) {
  (void)state;
  uvs_engine *e = uvst_engine_new(1);
  uvs_stream *live = uvst_reader_new(NULL, 0);
  uint64_t x = 0x243f6a8885a308d3ULL;
  for (int i = 0; i < 20000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    uint64_t v = x;
    if (i % 2) /* a valid kind byte with a generation no object has */
      v = ((uint64_t)(1 + i % 6) << 56) | (0xABCD00ULL << 32) | (x & 0xFFFF);
    void *h = (void *)(uintptr_t)v;
    if (h == (void *)live || h == (void *)e)
      continue;
    assert_int_equal(uvs_stream_at_eof(h), UVS_EBADHANDLE);
    assert_int_equal(uvs_stream_write(h, "x", 1), UVS_EBADHANDLE);
    assert_int_equal(uvs_op_is_done(h), UVS_EBADHANDLE);
    assert_int_equal(uvs_op_tag(h), 0);
    assert_int_equal(uvs_cq_wakeup(h), UVS_EBADHANDLE);
    assert_int_equal(uvs_server_num_clients(h), UVS_EBADHANDLE);
    assert_int_equal(uvs_engine_io_threads(h), UVS_EBADHANDLE);
    assert_int_equal(uvs_options_set_int(h, "limit", 1), UVS_EBADHANDLE);
    if (i % 100 == 0) {
      assert_int_equal(uvs_stream_free(h), UVS_EBADHANDLE);
      assert_int_equal(uvs_op_free(h), UVS_EBADHANDLE);
      assert_int_equal(uvs_engine_free(h), UVS_EBADHANDLE);
      assert_int_equal(uvs_cq_free(h), UVS_EBADHANDLE);
      assert_int_equal(uvs_server_free(h), UVS_EBADHANDLE);
      assert_int_equal(uvs_options_free(h), UVS_EBADHANDLE);
    }
  }
  assert_int_equal(uvs_stream_at_eof(live), 0); /* untouched */
  assert_uvs_rc(uvs_stream_free(live), 0);
  assert_uvs_rc(uvs_engine_free(e), 0);
}

/* ---- the objects of a freed engine
 * ------------------------------------------------ */

static void test_objects_after_engine_free(void **state) {
  (void)state;
  char failure[256] = "";
  for (int threads = 0; threads <= 1; threads++) {
    uvs_engine *e = uvst_engine_new(threads);
    uvs_cq *cq = NULL;
    assert_uvs_rc(uvs_cq_new(e, &cq), 0);
    int peer = -1;
    uvs_stream *s = uvst_socketpair_stream(e, &peer);
    uvs_server *srv = NULL;
    assert_uvs_rc(uvs_server_listen_tcp(e, "127.0.0.1", 0, NULL, &srv), 0);
    assert_uvs_rc(uvs_engine_free(e), 0);
    uvs_op *op = uvst_op_new(cq, 1);
    uvs_op *got[2];
    assert_uvs_rc(uvs_cq_wait(cq, 10, got, 2), UVS_ESHUTDOWN);
    int fd = uvs_cq_fd(cq); /* a descriptor still, or UVS_ESHUTDOWN */
    if (!(fd >= 0 || fd == UVS_ESHUTDOWN) && !failure[0])
      snprintf(failure, sizeof failure,
               "io_threads %d: uvs_cq_fd on a queue of a freed engine "
               "returned %d (%s)",
               threads, fd, uvs_err_name(fd));
    assert_true(uvs_stream_write(s, "x", 1) < 0);
    assert_uvs_rc(uvs_stream_read_start(s, 1, op), UVS_COMPLETED);
    assert_uvs_rc(uvs_op_result(op), UVS_ESHUTDOWN);
    assert_uvs_rc(uvs_stream_drain_start(s, op), UVS_COMPLETED);
    assert_true(uvs_op_result(op) < 0);
    assert_int_equal(uvs_stream_is_closing(s), 1);
    int rc = uvs_server_accept_start(srv, op);
    assert_true(rc < 0 || (rc == UVS_COMPLETED && uvs_op_result(op) < 0));
    assert_true(uvs_server_start_serving(srv) < 0);
    assert_int_equal(uvs_server_num_addresses(srv), 0);
    assert_int_equal(uvs_server_is_serving(srv), 0);
    uvs_stream *c = NULL;
    assert_uvs_rc(uvs_connect_tcp(e, "127.0.0.1", 1, NULL, 100, &c),
                  UVS_EBADHANDLE);
    assert_uvs_rc(uvs_stream_free(s), 0);
    assert_uvs_rc(uvs_server_free(srv), 0);
    assert_uvs_rc(uvs_op_free(op), 0);
    assert_uvs_rc(uvs_cq_free(cq), 0);
    close(peer);
  }
  if (failure[0])
    fail_msg("%s", failure);
}

/* A thread blocked in uvs_cq_next(-1) on a queue of a threaded engine that
 * is freed: released with UVS_ESHUTDOWN ("engine or completion queue is
 * shutting down"), not left blocked. Bounded: the waiter uses 10 s, and
 * must be back within 3 s of the free (valgrind is slow). */
static void test_engine_free_releases_queue_waiter(void **state) {
  (void)state;
  uvs_engine *e = uvst_engine_new(1);
  uvs_cq *cq = NULL;
  assert_uvs_rc(uvs_cq_new(e, &cq), 0);
  call c = {.a = cq, .n = 2 * WAIT_MS};
  call_start(&c, do_cq_next);
  settle();
  int64_t t0 = uvst_now_ms();
  assert_uvs_rc(uvs_engine_free(e), 0);
  assert_true(call_join(&c, 2 * WAIT_MS + 2000));
  int64_t waited = c.ended_ms - t0;
  assert_uvs_rc(uvs_cq_free(cq), 0);
  /* Its own timeout would return 0, not UVS_ESHUTDOWN. */
  if (c.rc != UVS_ESHUTDOWN)
    fail_msg("uvs_cq_next blocked on the queue of a freed engine returned %s "
             "%lld ms after uvs_engine_free (expected UVS_ESHUTDOWN)",
             uvs_err_name(c.rc), (long long)waited);
}

/* uvs_engine_free "completes the pending operations of its streams with
 * UVS_ESHUTDOWN": that includes a standalone reader made with the engine. */
static void test_engine_free_completes_reader_ops(void **state) {
  (void)state;
  uvs_engine *e = uvst_engine_new(1);
  uvs_stream *r = uvst_reader_new(e, 0);
  uvs_op *op = uvst_op_new(NULL, 1);
  assert_uvs_rc(uvs_stream_readline_start(r, op), UVS_PENDING);
  assert_uvs_rc(uvs_engine_free(e), 0);
  int w = uvs_op_wait(op, 1000);
  int res = uvs_op_result(op);
  assert_uvs_rc(uvs_stream_free(r), 0);
  assert_uvs_rc(uvs_op_free(op), 0);
  if (w != 0 || res != UVS_ESHUTDOWN)
    fail_msg("a read pending on a reader of the engine: after uvs_engine_free "
             "op_wait %s, result %s (expected done with UVS_ESHUTDOWN)",
             uvs_err_name(w), uvs_err_name(res));
}

/* ---- refused starts change nothing
 * --------------------------------------------------- */

/* "A negative return means nothing happened": a start refused with
 * UVS_EBUSY leaves the op's previous result (kind, result, bytes) as it was,
 * and uvs_op_unread of that result still works. */
static void test_ebusy_leaves_op_unchanged(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op1 = uvst_op_new(NULL, 1), *op2 = uvst_op_new(NULL, 2);
  uvst_feed(s, "abc");
  assert_uvs_rc(uvs_stream_read_start(s, 3, op1), UVS_COMPLETED);
  assert_uvs_rc(uvs_stream_readline_start(s, op2), UVS_PENDING);
  assert_uvs_rc(uvs_stream_readexactly_start(s, 10, op1), UVS_EBUSY);
  int kind = uvs_op_kind(op1), res = uvs_op_result(op1);
  const void *d1 = NULL;
  size_t l1 = 0;
  uvs_op_data(op1, &d1, &l1);
  int same =
      kind == UVS_OP_READ && res == 0 && l1 == 3 && !memcmp(d1, "abc", 3);
  assert_uvs_rc(uvs_op_cancel(op2), 0);
  int unread = uvs_op_unread(op1); /* still the latest read */
  void *d = NULL;
  size_t len = 0;
  assert_uvs_rc(uvs_stream_read(s, 10, 0, &d, &len),
                unread == 0 ? 0 : UVS_ETIMEDOUT);
  uvs_free(d);
  assert_uvs_rc(uvs_op_free(op1), 0);
  assert_uvs_rc(uvs_op_free(op2), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
  if (!same || unread != 0)
    fail_msg("after a start refused with UVS_EBUSY the op changed: kind %d "
             "(was %d), result %s, %zu bytes (was \"abc\"); unread %s",
             kind, UVS_OP_READ, uvs_err_name(res), l1, uvs_err_name(unread));
}

/* Arguments refused with UVS_EINVAL leave the op and the buffer alone. */
static void test_einval_leaves_op_unchanged(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op = uvst_op_new(NULL, 1);
  uvst_feed(s, "ab\ncd");
  assert_uvs_rc(uvs_stream_readline_start(s, op), UVS_COMPLETED);
  uvs_buf seps[3] = {{"\n", 1}, {"", 0}, {"x", 1}};
  uvs_buf nullsep = {NULL, 1};
  assert_uvs_rc(uvs_stream_readuntil_start(s, "", 0, op), UVS_EINVAL);
  assert_uvs_rc(uvs_stream_readuntil_start(s, NULL, 0, op), UVS_EINVAL);
  assert_uvs_rc(uvs_stream_readuntil_start(s, NULL, 3, op), UVS_EINVAL);
  assert_uvs_rc(uvs_stream_readuntil_any_start(s, seps, 0, op), UVS_EINVAL);
  assert_uvs_rc(uvs_stream_readuntil_any_start(s, NULL, 2, op), UVS_EINVAL);
  assert_uvs_rc(uvs_stream_readuntil_any_start(s, seps, 3, op), UVS_EINVAL);
  assert_uvs_rc(uvs_stream_readuntil_any_start(s, seps + 1, 1, op), UVS_EINVAL);
  assert_uvs_rc(uvs_stream_readuntil_any_start(s, &nullsep, 1, op), UVS_EINVAL);
  assert_uvs_rc(uvs_stream_readexactly_start(s, -1, op), UVS_EINVAL);
  assert_uvs_rc(uvs_stream_readexactly_start(s, INT64_MIN, op), UVS_EINVAL);
  assert_int_equal(uvs_op_kind(op), UVS_OP_READLINE);
  assert_op_result(op, 0);
  assert_op_data(op, "ab\n");
  /* blocking forms */
  void *d = NULL;
  size_t len = 0;
  int64_t consumed = -7;
  assert_uvs_rc(uvs_stream_readuntil(s, "", 0, 0, &d, &len, &consumed),
                UVS_EINVAL);
  assert_uvs_rc(uvs_stream_readuntil_any(s, seps, 0, 0, &d, &len, &consumed),
                UVS_EINVAL);
  assert_uvs_rc(uvs_stream_readuntil_any(s, seps, 3, 0, &d, &len, &consumed),
                UVS_EINVAL);
  assert_uvs_rc(uvs_stream_readexactly(s, -1, 0, &d, &len), UVS_EINVAL);
  assert_null(d);
  assert_int_equal(consumed, -7);
  assert_true(strlen(uvs_last_error()) > 0);
  int64_t size = -1;
  assert_uvs_rc(uvs_stream_get_int(s, "read_buffer_size", &size), 0);
  assert_int_equal(size, 2); /* "cd" */
  /* read(n < 0), any n < 0: until EOF */
  uvst_feed(s, "ef");
  assert_uvs_rc(uvs_reader_feed_eof(s), 0);
  assert_uvs_rc(uvs_stream_read(s, INT64_MIN, 0, &d, &len), 0);
  assert_bytes_equal(d, len, "cdef");
  uvs_free(d);
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* ---- servers
 * ----------------------------------------------------------------------- */

/* An accept started once uvs_server_close has returned fails with
 * UVS_ECLOSED (never "success without a stream"), however soon after the
 * close it comes. Threaded engine: the close finishes on the loop thread. */
static void test_accept_after_close(void **state) {
  (void)state;
  uvs_engine *e = uvst_engine_new(1);
  uvs_op *op = uvst_op_new(NULL, 1);
  char failure[256] = "";
  for (int i = 0; i < 200 && !failure[0]; i++) {
    uvs_server *srv = NULL;
    assert_uvs_rc(uvs_server_listen_tcp(e, "127.0.0.1", 0, NULL, &srv), 0);
    assert_uvs_rc(uvs_server_close(srv), 0);
    int rc = uvs_server_accept_start(srv, op);
    if (rc == UVS_PENDING)
      assert_uvs_rc(uvs_op_wait(op, WAIT_MS), 0);
    int res = uvs_op_result(op);
    uvs_stream *s = NULL;
    int brc = uvs_server_accept(srv, 100, &s);
    if (s)
      uvs_stream_free(s);
    assert_uvs_rc(uvs_server_free(srv), 0);
    if (rc < 0 ? rc != UVS_ECLOSED : res != UVS_ECLOSED)
      snprintf(failure, sizeof failure,
               "iteration %d: accept_start after close: %s, result %s "
               "(expected UVS_ECLOSED)",
               i, rc == UVS_COMPLETED ? "UVS_COMPLETED" : uvs_err_name(rc),
               uvs_err_name(res));
    else if (brc != UVS_ECLOSED || s != NULL)
      snprintf(failure, sizeof failure,
               "iteration %d: blocking accept after close: %s, stream %p", i,
               uvs_err_name(brc), (void *)s);
  }
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_engine_free(e), 0);
  if (failure[0])
    fail_msg("%s", failure);
}

/* ---- host-driven engines honour timeouts
 * -------------------------------------------- */

/* io_threads 0: a blocking call with a timeout returns by it even when the
 * loop was idle for a while before (its cached time is then stale) and has
 * a handle that keeps it alive (a listening server). If the call is stuck,
 * a client connection unblocks it and the test fails. */
static void test_host_driven_timeouts(void **state) {
  (void)state;
  uvs_engine *e = uvst_engine_new(0);
  uvs_server *srv = NULL;
  assert_uvs_rc(uvs_server_listen_tcp(e, "127.0.0.1", 0, NULL, &srv), 0);
  char *host = NULL;
  int port = 0;
  assert_uvs_rc(uvs_server_address(srv, 0, &host, &port), 0);
  uvs_free(host);
  uvs_cq *cq = NULL;
  assert_uvs_rc(uvs_cq_new(e, &cq), 0);
  const char *what[2] = {"uvs_server_accept(srv, 50 ms)",
                         "uvs_cq_wait(cq, 50 ms)"};
  char failure[256] = "";
  for (int k = 0; k < 2 && !failure[0]; k++) {
    uvs_engine_run(e); /* the host runs the loop (nothing left to do) */
    uvst_sleep_ms(30); /* then it idles: its cached time goes stale */
    call c = {.a = k == 0 ? (void *)srv : (void *)cq, .n = 50};
    call_start(&c, k == 0 ? do_accept : do_cq_wait_timeout);
    if (!call_join(&c, 2000)) {
      for (int i = 0; i < 5 && !atomic_load(&c.done); i++) {
        int fd = nh_raw_connect(port); /* I/O wakes the loop */
        call_join(&c, 1000);
        if (fd >= 0)
          close(fd);
      }
      if (!call_join(&c, 5000))
        fail_msg("%s is still blocked (and could not be woken)", what[k]);
      snprintf(failure, sizeof failure,
               "%s did not return within 2 s (it returned only when a "
               "connection arrived)",
               what[k]);
    } else if (c.ended_ms - c.started_ms >= 2000 ||
               c.rc != (k == 0 ? UVS_ETIMEDOUT : 0)) {
      snprintf(failure, sizeof failure, "%s returned %s after %lld ms", what[k],
               uvs_err_name(c.rc), (long long)(c.ended_ms - c.started_ms));
    }
  }
  uvs_op *left[4];
  while (uvs_cq_poll(cq, left, 4) > 0) {
  }
  assert_uvs_rc(uvs_cq_free(cq), 0);
  assert_uvs_rc(uvs_server_free(srv), 0);
  assert_uvs_rc(uvs_engine_free(e), 0);
  if (failure[0])
    fail_msg("%s", failure);
}

/* ---- bad input
 * ----------------------------------------------------------------------- */

static void test_ports_extreme(void **state) {
  (void)state;
  uvs_engine *e = uvst_engine_new(1);
  uvs_op *op = uvst_op_new(NULL, 1);
  const int bad[] = {INT_MIN, INT_MAX, -65535, 65536 + 80};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    uvs_stream *s = NULL;
    uvs_server *srv = NULL;
    assert_uvs_rc(uvs_connect_tcp(e, "127.0.0.1", bad[i], NULL, 100, &s),
                  UVS_EINVAL);
    assert_true(strstr(uvs_last_error(), "port") != NULL);
    assert_uvs_rc(uvs_connect_tcp_start(e, "localhost", bad[i], NULL, op),
                  UVS_EINVAL);
    assert_uvs_rc(uvs_server_listen_tcp(e, NULL, bad[i], NULL, &srv),
                  UVS_EINVAL);
    assert_uvs_rc(uvs_server_listen_tcp(e, "localhost", bad[i], NULL, &srv),
                  UVS_EINVAL);
    assert_null(s);
    assert_null(srv);
  }
  assert_int_equal(uvs_op_is_done(op), 1);
  assert_int_equal(uvs_op_kind(op), UVS_OP_NONE);
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_engine_free(e), 0);
}

/* sun_path holds 108 bytes with the NUL: a 107-byte path works, 108 is
 * UVS_ENAMETOOLONG; empty and NULL are UVS_EINVAL. */
static void test_unix_path_boundaries(void **state) {
  (void)state;
  uvs_engine *e = uvst_engine_new(1);
  char dir[64];
  nh_tmpdir(dir, sizeof dir);
  char path[200];
  size_t dl = strlen(dir);
  memcpy(path, dir, dl);
  path[dl] = '/';
  memset(path + dl + 1, 'p', sizeof path - dl - 1);
  path[107] = '\0'; /* 107 bytes */
  uvs_server *srv = NULL;
  uvs_stream *c = NULL;
  assert_uvs_rc(uvs_server_listen_unix(e, path, NULL, &srv), 0);
  assert_uvs_rc(uvs_connect_unix(e, path, NULL, WAIT_MS, &c), 0);
  uvs_stream *a = NULL;
  assert_uvs_rc(uvs_server_accept(srv, WAIT_MS, &a), 0);
  assert_uvs_rc(uvs_stream_write(c, "hi", 2), 0);
  void *d = NULL;
  size_t len = 0;
  assert_uvs_rc(uvs_stream_readexactly(a, 2, WAIT_MS, &d, &len), 0);
  assert_bytes_equal(d, len, "hi");
  uvs_free(d);
  assert_int_equal(nh_close_free(c), 0);
  assert_int_equal(nh_close_free(a), 0);
  assert_uvs_rc(uvs_server_free(srv), 0);
  assert_uvs_rc(uvs_server_wait_closed(srv, WAIT_MS), UVS_EBADHANDLE);
  path[107] = 'p';
  path[108] = '\0'; /* 108 bytes */
  srv = NULL;
  c = NULL;
  assert_uvs_rc(uvs_server_listen_unix(e, path, NULL, &srv), UVS_ENAMETOOLONG);
  assert_uvs_rc(uvs_connect_unix(e, path, NULL, 100, &c), UVS_ENAMETOOLONG);
  uvs_op *op = uvst_op_new(NULL, 1);
  assert_uvs_rc(uvs_connect_unix_start(e, path, NULL, op), UVS_ENAMETOOLONG);
  assert_uvs_rc(uvs_server_listen_unix(e, "", NULL, &srv), UVS_EINVAL);
  assert_uvs_rc(uvs_server_listen_unix(e, NULL, NULL, &srv), UVS_EINVAL);
  assert_uvs_rc(uvs_connect_unix(e, "", NULL, 100, &c), UVS_EINVAL);
  assert_uvs_rc(uvs_connect_unix(e, NULL, NULL, 100, &c), UVS_EINVAL);
  assert_null(srv);
  assert_null(c);
  /* a directory that does not exist: an error, from the call or the op */
  snprintf(path, sizeof path, "%s/missing/s", dir);
  assert_uvs_rc(uvs_server_listen_unix(e, path, NULL, &srv), UVS_ENOENT);
  assert_true(strlen(uvs_last_error()) > 0);
  assert_uvs_rc(uvs_connect_unix(e, path, NULL, WAIT_MS, &c), UVS_ENOENT);
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_engine_free(e), 0);
  nh_rmdir(dir);
}

/* Stream options that can never make a stream (limit <= 0, write_low >
 * write_high) are refused by every call that makes streams. For a server,
 * refusing them at listen is the only way to report them: its connections
 * are made later, with nobody to tell. */
static void test_bad_stream_options_everywhere(void **state) {
  (void)state;
  uvs_engine *e = uvst_engine_new(1);
  uvs_server *good = NULL;
  assert_uvs_rc(uvs_server_listen_tcp(e, "127.0.0.1", 0, NULL, &good), 0);
  char *host = NULL;
  int port = 0;
  assert_uvs_rc(uvs_server_address(good, 0, &host, &port), 0);
  uvs_free(host);
  char dir[64];
  nh_tmpdir(dir, sizeof dir);
  char upath[128];
  snprintf(upath, sizeof upath, "%s/s", dir);
  uvs_server *ugood = NULL;
  assert_uvs_rc(uvs_server_listen_unix(e, upath, NULL, &ugood), 0);
  uvs_options *bad[4];
  bad[0] = opts1("limit", 0);
  bad[1] = opts1("limit", -5);
  bad[2] = opts1("write_high", 10);
  assert_uvs_rc(uvs_options_set_int(bad[2], "write_low", 20), 0);
  bad[3] = opts1("write_low", -2);
  assert_uvs_rc(uvs_options_set_int(bad[3], "write_high", -3), 0);
  char failure[256] = "";
  for (int i = 0; i < 3; i++) { /* bad[3]: negative marks mean defaults */
    uvs_stream *s = NULL;
    uvs_server *srv = NULL;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_uvs_rc(uvs_stream_open_fd(e, sv[0], bad[i], &s), UVS_EINVAL);
    close(sv[1]);
    assert_uvs_rc(uvs_reader_new(e, bad[i], &s), UVS_EINVAL);
    int rc = uvs_connect_tcp(e, "127.0.0.1", port, bad[i], WAIT_MS, &s);
    assert_uvs_rc(rc, UVS_EINVAL);
    rc = uvs_connect_unix(e, upath, bad[i], WAIT_MS, &s);
    assert_uvs_rc(rc, UVS_EINVAL);
    assert_null(s);
    rc = uvs_server_listen_tcp(e, "127.0.0.1", 0, bad[i], &srv);
    if (rc == 0)
      uvs_server_free(srv);
    if (rc != UVS_EINVAL && !failure[0])
      snprintf(failure, sizeof failure,
               "uvs_server_listen_tcp with bad stream options #%d: %s "
               "(expected UVS_EINVAL; its connections would all fail)",
               i, uvs_err_name(rc));
    char p2[128];
    snprintf(p2, sizeof p2, "%s/b%d", dir, i);
    rc = uvs_server_listen_unix(e, p2, bad[i], &srv);
    if (rc == 0)
      uvs_server_free(srv);
    if (rc != UVS_EINVAL && !failure[0])
      snprintf(failure, sizeof failure,
               "uvs_server_listen_unix with bad stream options #%d: %s", i,
               uvs_err_name(rc));
  }
  uvs_stream *s = NULL;
  assert_uvs_rc(uvs_reader_new(e, bad[3], &s), 0);
  assert_int_equal(nh_get_int(s, "write_high"), 65536);
  assert_uvs_rc(uvs_stream_free(s), 0);
  for (int i = 0; i < 4; i++)
    assert_uvs_rc(uvs_options_free(bad[i]), 0);
  assert_uvs_rc(uvs_server_free(good), 0);
  assert_uvs_rc(uvs_server_free(ugood), 0);
  assert_uvs_rc(uvs_engine_free(e), 0);
  nh_rmdir(dir);
  if (failure[0])
    fail_msg("%s", failure);
}

/* A server whose connections cannot be made into streams must not wedge:
 * the client is closed (EOF), and a later, valid connection still gets
 * through. (Only reachable if listen accepted the bad options.) */
static void test_server_survives_failed_accept(void **state) {
  (void)state;
  uvs_engine *e = uvst_engine_new(1);
  uvs_options *o = opts1("limit", 0);
  uvs_server *srv = NULL;
  int rc = uvs_server_listen_tcp(e, "127.0.0.1", 0, o, &srv);
  assert_uvs_rc(uvs_options_free(o), 0);
  if (rc != 0) { /* refused at listen: nothing can wedge */
    assert_uvs_rc(rc, UVS_EINVAL);
    assert_uvs_rc(uvs_engine_free(e), 0);
    return;
  }
  char *host = NULL;
  int port = 0;
  assert_uvs_rc(uvs_server_address(srv, 0, &host, &port), 0);
  uvs_free(host);
  int fd = nh_raw_connect(port);
  assert_true(fd >= 0);
  char b;
  struct pollfd pf = {fd, POLLIN, 0};
  int pr = poll(&pf, 1, 2000);
  ssize_t k = pr == 1 ? read(fd, &b, 1) : 1;
  close(fd);
  assert_uvs_rc(uvs_server_free(srv), 0);
  assert_uvs_rc(uvs_engine_free(e), 0);
  if (pr != 1 || k != 0)
    fail_msg("listen accepted limit 0; a client of that server is neither "
             "served nor closed (no EOF within 2 s)");
}

/* set_write_limits(high < 0, low): high defaults to 4 * low; a low whose
 * 4 * low does not fit in int64 must not overflow (undefined behaviour,
 * caught by UBSan here): the call succeeds with high >= low, or fails. */
static void test_write_limits_overflow(void **state) {
  (void)state;
  uvs_engine *e = uvst_engine_new(1);
  int peer = -1;
  uvs_stream *s = uvst_socketpair_stream(e, &peer);
  const int64_t lows[] = {INT64_MAX / 4 + 1, INT64_MAX / 2, INT64_MAX};
  for (size_t i = 0; i < sizeof lows / sizeof *lows; i++) {
    int rc = uvs_stream_set_write_limits(s, -1, lows[i]);
    if (rc == 0) {
      int64_t h = nh_get_int(s, "write_high"), l = nh_get_int(s, "write_low");
      assert_true(h >= l && l >= 0);
    } else {
      assert_uvs_rc(rc, UVS_EINVAL);
    }
    uvs_options *o = opts1("write_low", lows[i]);
    uvs_stream *r = NULL;
    rc = uvs_reader_new(e, o, &r);
    if (rc == 0)
      assert_uvs_rc(uvs_stream_free(r), 0);
    assert_uvs_rc(uvs_options_free(o), 0);
  }
  assert_uvs_rc(uvs_stream_set_write_limits(s, 100, 200), UVS_EINVAL);
  assert_true(strlen(uvs_last_error()) > 0);
  assert_uvs_rc(uvs_stream_set_write_limits(s, INT64_MAX, INT64_MAX), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
  close(peer);
  assert_uvs_rc(uvs_engine_free(e), 0);
}

/* ---- signals ------------------------------------------------------------- */

static atomic_int usr1_hits;
static pthread_t usr1_thread;

static void on_usr1(int sig) {
  (void)sig;
  usr1_thread = pthread_self();
  atomic_fetch_add(&usr1_hits, 1);
}

static void test_library_threads_take_no_signals(void **state) {
  (void)state;
  uvs_engine *e = uvst_engine_new(1);
  /* Starts every kind of library thread: the loop's, the deadline thread
   * (a timed read), libuv's resolver pool (a connect by name). */
  uvs_stream *r = uvst_reader_new(e, -1);
  void *data = NULL;
  size_t len = 0;
  assert_uvs_rc(uvs_stream_read(r, 10, 1, &data, &len), UVS_ETIMEDOUT);
  int port = 0;
  int lfd = nh_raw_listen(0, &port);
  uvs_stream *c = NULL;
  assert_uvs_rc(uvs_connect_tcp(e, "localhost", port, NULL, WAIT_MS, &c), 0);

  struct sigaction sa, old;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_usr1;
  sigemptyset(&sa.sa_mask);
  assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
  sigset_t usr1, prev, pending;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  assert_int_equal(pthread_sigmask(SIG_BLOCK, &usr1, &prev), 0);
  atomic_store(&usr1_hits, 0);
  assert_int_equal(kill(getpid(), SIGUSR1), 0);
  usleep(100 * 1000); /* a library thread open to it would have run it */
  assert_int_equal(atomic_load(&usr1_hits), 0);
  assert_int_equal(sigpending(&pending), 0);
  assert_true(sigismember(&pending, SIGUSR1));
  /* Unblocking delivers it here, before pthread_sigmask returns. */
  assert_int_equal(pthread_sigmask(SIG_SETMASK, &prev, NULL), 0);
  assert_int_equal(atomic_load(&usr1_hits), 1);
  assert_true(pthread_equal(usr1_thread, pthread_self()));
  assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);

  assert_uvs_rc(uvs_stream_free(c), 0);
  close(lfd);
  assert_uvs_rc(uvs_stream_free(r), 0);
  assert_uvs_rc(uvs_engine_free(e), 0);
}

/* ---- handles used in a child of fork(2) --------------------------------- */

/* Runs in the child: counts the calls that did not return UVS_EFORKED and
 * names the first on stderr (cmocka's asserts cannot run here). */
static int forked_mismatches;
static void expect_forked(const char *what, int rc) {
  if (rc == UVS_EFORKED)
    return;
  if (!forked_mismatches++)
    fprintf(stderr, "child: %s returned %d (%s), expected UVS_EFORKED\n", what,
            rc, uvs_err_name(rc));
}

static int use_parents_handles(uvs_engine *e, uvs_cq *cq, uvs_op *op,
                               uvs_stream *s, uvs_server *srv, uvs_options *o) {
  static char big[1 << 20];
  uvs_op *fresh = NULL;
  uvs_stream *c = NULL;
  expect_forked("uvs_stream_write", uvs_stream_write(s, "x", 1));
  expect_forked("uvs_stream_write 1 MiB", uvs_stream_write(s, big, sizeof big));
  expect_forked("uvs_stream_drain_start", uvs_stream_drain_start(s, op));
  expect_forked("uvs_stream_read_start", uvs_stream_read_start(s, 1, op));
  expect_forked("uvs_stream_write_eof", uvs_stream_write_eof(s));
  expect_forked("uvs_stream_close", uvs_stream_close(s));
  expect_forked("uvs_stream_free", uvs_stream_free(s));
  expect_forked("uvs_server_accept_start", uvs_server_accept_start(srv, op));
  expect_forked("uvs_server_free", uvs_server_free(srv));
  expect_forked("uvs_op_wait", uvs_op_wait(op, 0));
  expect_forked("uvs_op_free", uvs_op_free(op));
  expect_forked("uvs_op_new", uvs_op_new(cq, 1, &fresh));
  expect_forked("uvs_cq_fd", uvs_cq_fd(cq));
  expect_forked("uvs_cq_free", uvs_cq_free(cq));
  expect_forked("uvs_connect_tcp",
                uvs_connect_tcp(e, "127.0.0.1", 1, NULL, 100, &c));
  expect_forked("uvs_engine_free", uvs_engine_free(e));
  if (strstr(uvs_last_error(), "other than the one") == NULL &&
      !forked_mismatches++)
    fprintf(stderr, "child: last error \"%s\" does not say why\n",
            uvs_last_error());
  int64_t limit = 0;
  if (uvs_options_get_int(o, "limit", &limit) != 0 || limit != 77)
    forked_mismatches++, fprintf(stderr, "child: options unusable\n");
  uvs_engine *own = NULL; /* the child's own engine works */
  if (uvs_engine_new(NULL, &own) != 0 || uvs_engine_free(own) != 0)
    forked_mismatches++, fprintf(stderr, "child: no engine of its own\n");
  return forked_mismatches == 0 ? 0 : 1;
}

static void test_parents_handles_in_forked_child(void **state) {
  (void)state;
#if defined(__SANITIZE_THREAD__) || UVST_HAS_FEATURE(thread_sanitizer)
  fprintf(stderr,
          "NOT RUN under ThreadSanitizer: "
          "test_parents_handles_in_forked_child (the child starts an "
          "engine: threads in a forked child are unsupported by TSan)\n");
  return;
#endif
  uvs_engine *e = uvst_engine_new(1);
  uvs_cq *cq = NULL;
  assert_uvs_rc(uvs_cq_new(e, &cq), 0);
  uvs_op *op = uvst_op_new(NULL, 1);
  int peer = -1;
  uvs_stream *s = uvst_socketpair_stream(e, &peer);
  uvs_server *srv = NULL;
  assert_uvs_rc(uvs_server_listen_tcp(e, "127.0.0.1", 0, NULL, &srv), 0);
  uvs_options *o = opts1("limit", 77);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    /* On success the child ends by exec, not exit: the parent's objects it
     * holds cannot be freed here (UVS_EFORKED), which valgrind would report
     * as leaks at exit. */
    if (use_parents_handles(e, cq, op, s, srv, o) == 0)
      execl("/bin/true", "true", (char *)NULL);
    _exit(1);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  /* Nothing reached the peer and nothing was closed: the parent's stream
   * still carries exactly its own byte. */
  struct pollfd p = {.fd = peer, .events = POLLIN};
  assert_int_equal(poll(&p, 1, 0), 0);
  assert_uvs_rc(uvs_stream_write(s, "y", 1), 0);
  char got[4];
  assert_int_equal(read(peer, got, sizeof got), 1);
  assert_int_equal(got[0], 'y');
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
  assert_uvs_rc(uvs_server_free(srv), 0);
  assert_uvs_rc(uvs_cq_free(cq), 0);
  assert_uvs_rc(uvs_engine_free(e), 0);
  assert_uvs_rc(uvs_options_free(o), 0);
  close(peer);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
  nh_warm_up();
  nh_sigpipe_watch();
  const struct CMUnitTest tests[] = {
      T(test_free_reader_while_read_blocked),
      T(test_free_stream_while_read_blocked),
      T(test_free_op_while_waited),
      T(test_free_op_while_queue_waited),
      T(test_freed_op_not_delivered_after_two_completions),
      T(test_free_right_after_delivery),
      T(test_free_stream_with_queued_read),
      T(test_concurrent_double_free),
      T(test_forged_handles),
      T(test_objects_after_engine_free),
      T(test_engine_free_releases_queue_waiter),
      T(test_engine_free_completes_reader_ops),
      T(test_ebusy_leaves_op_unchanged),
      T(test_einval_leaves_op_unchanged),
      T(test_accept_after_close),
      T(test_host_driven_timeouts),
      T(test_ports_extreme),
      T(test_unix_path_boundaries),
      T(test_bad_stream_options_everywhere),
      T(test_server_survives_failed_accept),
      T(test_write_limits_overflow),
      T(test_library_threads_take_no_signals),
      T(test_parents_handles_in_forked_child),
  };
  nh_apply_filter();
  return cmocka_run_group_tests_name("safety", tests, NULL, NULL);
}
