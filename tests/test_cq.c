/*
 * test_cq.c - completion queues and operations on real descriptors.
 *
 * Covers tags, uvs_cq_next/wait/poll, the readiness of uvs_cq_fd (readable
 * while completions are pending, not after draining), a host-driven engine
 * (io_threads 0) that runs an echo exchange purely from poll() on the cq fd,
 * two threads consuming one queue, uvs_cq_wakeup, op timeouts, cancellation
 * and freeing of pending ops (each delivered exactly once, or never for a
 * freed op), connect timeouts, and uvs_engine_free with operations pending
 * in every state.
 * Streams are socketpair ends (uvs_stream_open_fd) or loopback TCP.
 */
#include "net_helpers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024 * 1024)

/* ---- helpers ------------------------------------------------------------ */

/* 1 if fd is readable within timeout_ms, else 0. */
static int readable(int fd, int timeout_ms) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  int rc;
  do {
    rc = poll(&p, 1, timeout_ms);
  } while (rc < 0 && errno == EINTR);
  return rc > 0 && (p.revents & POLLIN) != 0;
}

/* The next completion must be `op` (within 10 s). */
static void expect_next(uvs_cq *cq, uvs_op *op) {
  uvs_op *got = NULL;
  assert_int_equal(uvs_cq_next(cq, 10000, &got), 1);
  assert_ptr_equal(got, op);
}

/* Nothing more is delivered (waits 200 ms). */
static void expect_nothing(uvs_cq *cq) {
  uvs_op *got = NULL;
  int rc = uvs_cq_next(cq, 200, &got);
  if (rc != 0) {
    fail_msg("unexpected completion: rc %d, tag %llu", rc,
             rc == 1 ? (unsigned long long)uvs_op_tag(got) : 0ULL);
  }
}

/* Joins t within timeout_ms; 0 on success, -1 if it is still running. */
static int join_within(pthread_t t, int64_t timeout_ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += (time_t)(timeout_ms / 1000);
  ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  return pthread_timedjoin_np(t, NULL, &ts) == 0 ? 0 : -1;
}

/* read_start, retrying while the stream still reports a previous read that
 * was cancelled asynchronously (UVS_EBUSY) for up to 2 s. */
static int read_start_retry(uvs_stream *s, int64_t n, uvs_op *op) {
  int64_t deadline = uvst_now_ms() + 2000;
  int rc = uvs_stream_read_start(s, n, op);
  while (rc == UVS_EBUSY && uvst_now_ms() < deadline) {
    uvst_sleep_ms(1);
    rc = uvs_stream_read_start(s, n, op);
  }
  return rc;
}

/* ---- basics ------------------------------------------------------------- */

static void test_cq_basics(void **state) {
  nh_fixture *f = *state;
  int peer = -1;
  uvs_stream *s = uvst_socketpair_stream(f->e, &peer);
  uvs_cq *cq = NULL;
  uvs_op *ops[4], *got = NULL;
  assert_uvs_rc(uvs_cq_new(f->e, &cq), 0);
  int fd = uvs_cq_fd(cq);
  assert_true(fd >= 0);
  uvs_op *op = uvst_op_new(cq, 0x1111);
  assert_int_equal(uvs_op_tag(op), 0x1111);
  assert_int_equal(uvs_op_is_done(op), 1); /* nothing started yet */
  assert_uvs_rc(uvs_stream_read_start(s, 100, op), UVS_PENDING);
  assert_int_equal(uvs_op_is_done(op), 0);
  assert_uvs_rc(uvs_op_wait(op, 0), UVS_EINVAL); /* bound to a queue */
  assert_int_equal(uvs_cq_poll(cq, ops, 4), 0);
  assert_int_equal(nh_raw_send_all(peer, "hello", 5), 0);
  assert_true(readable(fd, 10000));
  assert_int_equal(uvs_cq_next(cq, 0, &got), 1);
  assert_ptr_equal(got, op);
  assert_int_equal(uvs_op_tag(got), 0x1111);
  assert_int_equal(uvs_op_kind(got), UVS_OP_READ);
  assert_op_result(got, 0);
  assert_op_data(got, "hello");
  assert_int_equal(uvs_cq_next(cq, 0, &got), 0);
  assert_false(readable(fd, 0)); /* drained */

  /* fast path: the buffer satisfies the read, nothing is posted */
  assert_int_equal(nh_raw_send_all(peer, "world", 5), 0);
  nh_wait_buffered(s, 5);
  assert_uvs_rc(uvs_stream_read_start(s, 100, op), UVS_COMPLETED);
  assert_op_result(op, 0);
  assert_op_data(op, "world");
  assert_int_equal(uvs_cq_poll(cq, ops, 4), 0);
  assert_false(readable(fd, 0));
  assert_int_equal(uvs_cq_wait(cq, 50, ops, 4), 0); /* timeout: 0 */

  /* one op, one read at a time */
  uvs_op *other = uvst_op_new(cq, 2);
  assert_uvs_rc(uvs_stream_readexactly_start(s, 3, op), UVS_PENDING);
  assert_uvs_rc(uvs_stream_read_start(s, 1, op), UVS_EOPBUSY);
  assert_uvs_rc(uvs_stream_read_start(s, 1, other), UVS_EBUSY);
  assert_int_equal(nh_raw_send_all(peer, "xyz", 3), 0);
  expect_next(cq, op);
  assert_int_equal(uvs_op_kind(op), UVS_OP_READEXACTLY);
  assert_op_data(op, "xyz");
  expect_nothing(cq);
  assert_false(readable(fd, 0));
  assert_uvs_rc(uvs_op_free(other), 0);
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_cq_free(cq), 0);
  assert_uvs_rc(nh_close_free(s), 0);
  close(peer);
}

#define NPAIR 3

static void test_cq_wait_and_poll_batches(void **state) {
  nh_fixture *f = *state;
  int peer[NPAIR];
  uvs_stream *s[NPAIR];
  uvs_op *op[NPAIR], *got[8];
  uvs_cq *cq = NULL;
  assert_uvs_rc(uvs_cq_new(f->e, &cq), 0);
  for (int i = 0; i < NPAIR; i++) {
    s[i] = uvst_socketpair_stream(f->e, &peer[i]);
    op[i] = uvst_op_new(cq, 100 + (uint64_t)i);
    assert_uvs_rc(uvs_stream_readline_start(s[i], op[i]), UVS_PENDING);
  }
  int seen[NPAIR] = {0};
  /* round 1: all complete, uvs_cq_wait collects them */
  for (int i = 0; i < NPAIR; i++) {
    assert_int_equal(nh_raw_send_all(peer[i], "line\n", 5), 0);
  }
  int total = 0;
  while (total < NPAIR) {
    int n = uvs_cq_wait(cq, 10000, got, 8);
    assert_true(n > 0);
    for (int k = 0; k < n; k++) {
      uint64_t tag = uvs_op_tag(got[k]);
      assert_true(tag >= 100 && tag < 100 + NPAIR);
      seen[tag - 100]++;
      assert_op_data(got[k], "line\n");
    }
    total += n;
  }
  for (int i = 0; i < NPAIR; i++) {
    assert_int_equal(seen[i], 1);
  }
  /* round 2: uvs_cq_poll with max 2 moves at most 2 */
  for (int i = 0; i < NPAIR; i++) {
    assert_uvs_rc(uvs_stream_read_start(s[i], 10, op[i]), UVS_PENDING);
    assert_int_equal(nh_raw_send_all(peer[i], "z", 1), 0);
  }
  int64_t deadline = uvst_now_ms() + 10000;
  total = 0;
  while (total < NPAIR && uvst_now_ms() < deadline) {
    int n = uvs_cq_poll(cq, got, 2);
    assert_true(n >= 0 && n <= 2);
    total += n;
    if (n == 0) {
      readable(uvs_cq_fd(cq), 100);
    }
  }
  assert_int_equal(total, NPAIR);
  expect_nothing(cq);
  for (int i = 0; i < NPAIR; i++) {
    assert_uvs_rc(uvs_op_free(op[i]), 0);
    assert_uvs_rc(nh_close_free(s[i]), 0);
    close(peer[i]);
  }
  assert_uvs_rc(uvs_cq_free(cq), 0);
}

/* ---- host-driven engine ------------------------------------------------- */

enum { T_ACCEPT = 1, T_CONNECT, T_SREAD, T_CREAD, T_SCLOSED, T_CCLOSED };

struct hd {
  uvs_engine *e;
  uvs_cq *cq;
  uvs_server *srv;
  uvs_stream *ss, *cs;
  uvs_op *op[7];
  unsigned char *big;
  int64_t big_got;
  uint64_t big_hash;
  int hello_done, closed;
  int errors;
};

static void hd_fail(struct hd *h, const char *what, int rc) {
  fprintf(stderr, "host-driven: %s: %s\n", what, uvs_err_name(rc));
  h->errors++;
}

static void hd_done(struct hd *h, uvs_op *op);

/* Starts an op; handles an immediate completion at once. */
static void hd_started(struct hd *h, uvs_op *op, int rc, const char *what) {
  if (rc == UVS_COMPLETED) {
    hd_done(h, op);
  } else if (rc != UVS_PENDING) {
    hd_fail(h, what, rc);
  }
}

static void hd_check(struct hd *h, int rc, const char *what) {
  if (rc != 0) {
    hd_fail(h, what, rc);
  }
}

static void hd_server_read(struct hd *h, uvs_op *op) {
  const void *d = NULL;
  size_t n = 0;
  uvs_op_data(op, &d, &n);
  if (!h->hello_done) {
    if (n != 5 || memcmp(d, "hello", 5) != 0) {
      hd_fail(h, "server got the wrong greeting", 0);
    }
    hd_check(h, uvs_stream_write(h->ss, "HELLO", 5), "write HELLO");
    hd_started(h, op, uvs_stream_read_start(h->ss, 65536, op), "read");
    return;
  }
  if (n == 0) {
    hd_fail(h, "server: early EOF", 0);
    return;
  }
  h->big_hash = nh_fnv1a(h->big_hash, d, n);
  h->big_got += (int64_t)n;
  if (h->big_got < MIB) {
    hd_started(h, op, uvs_stream_read_start(h->ss, 65536, op), "read");
  }
}

static void hd_done(struct hd *h, uvs_op *op) {
  int rc = uvs_op_result(op);
  uint64_t tag = uvs_op_tag(op);
  if (rc != 0) {
    hd_fail(h, "completion", rc);
    return;
  }
  if (tag == T_ACCEPT) {
    uvs_op_take_stream(op, &h->ss);
    hd_started(h, h->op[T_SREAD],
               uvs_stream_readexactly_start(h->ss, 5, h->op[T_SREAD]),
               "server readexactly");
  } else if (tag == T_CONNECT) {
    uvs_op_take_stream(op, &h->cs);
    hd_check(h, uvs_stream_write(h->cs, "hello", 5), "write hello");
    hd_started(h, h->op[T_CREAD],
               uvs_stream_readexactly_start(h->cs, 5, h->op[T_CREAD]),
               "client readexactly");
  } else if (tag == T_SREAD) {
    hd_server_read(h, op);
  } else if (tag == T_CREAD) {
    const void *d = NULL;
    size_t n = 0;
    uvs_op_data(op, &d, &n);
    if (n != 5 || memcmp(d, "HELLO", 5) != 0) {
      hd_fail(h, "client got the wrong reply", 0);
    }
    h->hello_done = 1;
    hd_check(h, uvs_stream_write(h->cs, h->big, MIB), "write 1 MiB");
  } else if (tag == T_SCLOSED || tag == T_CCLOSED) {
    h->closed++;
  }
}

/* Polls the cq fd and runs completions until done() or 10 s; returns the
 * number of poll() calls that timed out (the fd should always wake us). */
static int hd_drive(struct hd *h, int (*done)(struct hd *)) {
  int stalls = 0;
  int64_t deadline = uvst_now_ms() + 10000;
  while (!done(h) && h->errors == 0 && uvst_now_ms() < deadline) {
    int t = uvs_engine_timeout(h->e);
    if (!readable(uvs_cq_fd(h->cq), t < 0 || t > 2000 ? 2000 : t) && t < 0) {
      stalls++;
    }
    uvs_op *got[8];
    int n = uvs_cq_poll(h->cq, got, 8);
    if (n < 0) {
      hd_fail(h, "uvs_cq_poll", n);
    }
    for (int i = 0; i < n; i++) {
      hd_done(h, got[i]);
    }
  }
  return stalls;
}

static int hd_transfer_done(struct hd *h) {
  return h->big_got >= MIB;
}
static int hd_closed_done(struct hd *h) {
  return h->closed == 2;
}

static void test_host_driven_echo(void **state) {
  nh_fixture *f = *state;
  struct hd h;
  memset(&h, 0, sizeof(h));
  h.e = f->e;
  h.big = nh_random_bytes(41, MIB);
  h.big_hash = NH_FNV_INIT;
  assert_int_equal(uvs_engine_io_threads(f->e), 0);
  assert_uvs_rc(uvs_engine_run(f->e), 0);
  assert_uvs_rc(uvs_cq_new(f->e, &h.cq), 0);
  for (int i = 1; i < 7; i++) {
    h.op[i] = uvst_op_new(h.cq, (uint64_t)i);
  }
  int port = 0;
  h.srv = nh_listen_tcp(f->e, NULL, &port);
  hd_started(&h, h.op[T_ACCEPT], uvs_server_accept_start(h.srv, h.op[T_ACCEPT]),
             "accept");
  hd_started(
      &h, h.op[T_CONNECT],
      uvs_connect_tcp_start(f->e, "127.0.0.1", port, NULL, h.op[T_CONNECT]),
      "connect");
  assert_int_equal(hd_drive(&h, hd_transfer_done), 0);
  assert_int_equal(h.errors, 0);
  assert_int_equal(h.big_got, MIB);
  assert_true(h.big_hash == nh_fnv1a(NH_FNV_INIT, h.big, MIB));
  /* close both ends, again driven only by the cq fd */
  hd_started(&h, h.op[T_SCLOSED],
             uvs_stream_wait_closed_start(h.ss, h.op[T_SCLOSED]),
             "wait_closed");
  hd_started(&h, h.op[T_CCLOSED],
             uvs_stream_wait_closed_start(h.cs, h.op[T_CCLOSED]),
             "wait_closed");
  assert_uvs_rc(uvs_stream_close(h.cs), 0);
  assert_uvs_rc(uvs_stream_close(h.ss), 0);
  assert_int_equal(hd_drive(&h, hd_closed_done), 0);
  assert_int_equal(h.errors, 0);
  assert_int_equal(h.closed, 2);
  assert_uvs_rc(uvs_stream_free(h.ss), 0);
  assert_uvs_rc(uvs_stream_free(h.cs), 0);
  assert_uvs_rc(uvs_server_close(h.srv), 0);
  assert_uvs_rc(uvs_server_free(h.srv), 0);
  for (int i = 1; i < 7; i++) {
    assert_uvs_rc(uvs_op_free(h.op[i]), 0);
  }
  assert_uvs_rc(uvs_cq_free(h.cq), 0);
  for (int i = 0; i < 10; i++) {
    uvs_engine_run(f->e); /* let the closes finish */
  }
  free(h.big);
}

static void test_host_driven_timer(void **state) {
  nh_fixture *f = *state;
  int peer = -1;
  uvs_stream *s = uvst_socketpair_stream(f->e, &peer);
  uvs_cq *cq = NULL;
  assert_uvs_rc(uvs_cq_new(f->e, &cq), 0);
  uvs_op *op = uvst_op_new(cq, 9);
  assert_uvs_rc(uvs_op_set_timeout(op, 100), 0);
  assert_uvs_rc(uvs_stream_read_start(s, 10, op), UVS_PENDING);
  int got_it = 0, stalls = 0;
  int64_t deadline = uvst_now_ms() + 10000;
  while (!got_it && uvst_now_ms() < deadline) {
    /* with the timer armed the engine must report a timeout; before that
     * (if arming is posted to the loop) the fd must wake us */
    int t = uvs_engine_timeout(f->e);
    if (!readable(uvs_cq_fd(cq), t < 0 || t > 1000 ? 1000 : t) && t < 0) {
      stalls++;
    }
    uvs_op *got[2];
    int n = uvs_cq_poll(cq, got, 2);
    assert_true(n >= 0 && n <= 1);
    if (n == 1) {
      assert_ptr_equal(got[0], op);
      assert_op_result(op, UVS_ETIMEDOUT);
      got_it = 1;
    }
  }
  assert_true(got_it);
  assert_int_equal(stalls, 0);
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_cq_free(cq), 0);
  uvs_stream_close(s);
  uvs_stream_free(s);
  for (int i = 0; i < 10; i++) {
    uvs_engine_run(f->e);
  }
  close(peer);
}

static void test_engine_run_wrong_thread(void **state) {
  nh_fixture *f = *state;
  assert_int_equal(uvs_engine_io_threads(f->e), 1);
  assert_uvs_rc(uvs_engine_run(f->e), UVS_EWRONGTHREAD);
}

/* ---- two consumer threads ----------------------------------------------- */

#define NOPS 2000

struct consumers {
  uvs_cq *cq;
  pthread_mutex_t mutex;
  int counts[NOPS];
  int total, wrong, stop;
};

static int check_completion(uvs_op *op) {
  uint64_t tag = uvs_op_tag(op);
  int rc = uvs_op_result(op);
  if (tag % 2 == 1) {
    return rc == UVS_ETIMEDOUT;
  }
  const void *d = NULL;
  size_t n = 0;
  return rc == 0 && uvs_op_data(op, &d, &n) == 0 && n == 1 &&
         memcmp(d, "x", 1) == 0;
}

static void *consumer_main(void *p) {
  struct consumers *c = p;
  for (;;) {
    pthread_mutex_lock(&c->mutex);
    int stop = c->stop || c->total >= NOPS;
    pthread_mutex_unlock(&c->mutex);
    if (stop) {
      return NULL;
    }
    uvs_op *got[16];
    int n = uvs_cq_wait(c->cq, 200, got, 16);
    if (n < 0) {
      nh_fail("uvs_cq_wait", n);
      return NULL;
    }
    for (int i = 0; i < n; i++) {
      uint64_t tag = uvs_op_tag(got[i]);
      int ok = tag < NOPS && check_completion(got[i]);
      pthread_mutex_lock(&c->mutex);
      if (tag < NOPS) {
        c->counts[tag]++;
      }
      c->wrong += !ok;
      c->total++;
      pthread_mutex_unlock(&c->mutex);
    }
  }
}

static void start_many(uvs_engine *e, uvs_cq *cq, uvs_stream **r, uvs_op **op) {
  for (int i = 0; i < NOPS; i++) {
    r[i] = uvst_reader_new(e, 0);
    op[i] = uvst_op_new(cq, (uint64_t)i);
  }
  for (int i = 0; i < NOPS; i++) {
    if (i % 2 == 1) {
      assert_uvs_rc(uvs_op_set_timeout(op[i], 1 + i % 5), 0);
    }
    assert_uvs_rc(uvs_stream_read_start(r[i], 10, op[i]), UVS_PENDING);
    if (i % 2 == 0) {
      assert_uvs_rc(uvs_reader_feed_data(r[i], "x", 1), 0);
    }
  }
}

static void test_two_consumers(void **state) {
  nh_fixture *f = *state;
  struct consumers *c = calloc(1, sizeof(*c));
  uvs_stream **r = calloc(NOPS, sizeof(*r));
  uvs_op **op = calloc(NOPS, sizeof(*op));
  assert_true(c != NULL && r != NULL && op != NULL);
  pthread_mutex_init(&c->mutex, NULL);
  assert_uvs_rc(uvs_cq_new(f->e, &c->cq), 0);
  pthread_t t[2];
  for (int i = 0; i < 2; i++) {
    assert_int_equal(pthread_create(&t[i], NULL, consumer_main, c), 0);
  }
  start_many(f->e, c->cq, r, op);
  int64_t deadline = uvst_now_ms() + 30000;
  for (;;) {
    pthread_mutex_lock(&c->mutex);
    int total = c->total;
    c->stop = total >= NOPS || uvst_now_ms() >= deadline;
    int stop = c->stop;
    pthread_mutex_unlock(&c->mutex);
    if (stop) {
      break;
    }
    uvst_sleep_ms(5);
  }
  uvs_cq_wakeup(c->cq);
  uvs_cq_wakeup(c->cq);
  pthread_join(t[0], NULL);
  pthread_join(t[1], NULL);
  int missing = 0, dup = 0;
  for (int i = 0; i < NOPS; i++) {
    missing += c->counts[i] == 0;
    dup += c->counts[i] > 1;
  }
  assert_int_equal(missing, 0);
  assert_int_equal(dup, 0);
  assert_int_equal(c->wrong, 0);
  assert_int_equal(c->total, NOPS);
  expect_nothing(c->cq);
  for (int i = 0; i < NOPS; i++) {
    assert_uvs_rc(uvs_op_free(op[i]), 0);
    assert_uvs_rc(uvs_stream_free(r[i]), 0);
  }
  assert_uvs_rc(uvs_cq_free(c->cq), 0);
  pthread_mutex_destroy(&c->mutex);
  free(op);
  free(r);
  free(c);
}

/* ---- wakeup ------------------------------------------------------------- */

struct waiter {
  uvs_cq *cq;
  int64_t timeout;
  int rc;
};

static void *waiter_main(void *p) {
  struct waiter *w = p;
  uvs_op *got[4];
  w->rc = uvs_cq_wait(w->cq, w->timeout, got, 4);
  return NULL;
}

static void test_cq_wakeup(void **state) {
  nh_fixture *f = *state;
  struct waiter w = {.timeout = -1, .rc = 99};
  assert_uvs_rc(uvs_cq_new(f->e, &w.cq), 0);
  pthread_t t;
  /* a current wait */
  assert_int_equal(pthread_create(&t, NULL, waiter_main, &w), 0);
  uvst_sleep_ms(50);
  assert_uvs_rc(uvs_cq_wakeup(w.cq), 0);
  int joined = join_within(t, 10000);
  if (joined != 0) {
    fail_msg("uvs_cq_wait(-1) did not return after uvs_cq_wakeup");
  }
  assert_int_equal(w.rc, 0);
  /* the next wait */
  assert_uvs_rc(uvs_cq_wakeup(w.cq), 0);
  w.rc = 99;
  assert_int_equal(pthread_create(&t, NULL, waiter_main, &w), 0);
  joined = join_within(t, 10000);
  if (joined != 0) {
    uvs_cq_wakeup(w.cq); /* release it before failing */
    pthread_join(t, NULL);
    fail_msg("a wakeup before uvs_cq_wait was lost");
  }
  assert_int_equal(w.rc, 0);
  assert_uvs_rc(uvs_cq_free(w.cq), 0);
}

/* ---- timeouts, cancellation, free --------------------------------------- */

static void test_op_timeout(void **state) {
  nh_fixture *f = *state;
  int peer = -1;
  uvs_stream *s = uvst_socketpair_stream(f->e, &peer);
  uvs_cq *cq = NULL;
  assert_uvs_rc(uvs_cq_new(f->e, &cq), 0);
  uvs_op *op = uvst_op_new(cq, 5);
  assert_int_equal(nh_raw_send_all(peer, "abcde", 5), 0);
  nh_wait_buffered(s, 5);
  assert_uvs_rc(uvs_op_set_timeout(op, 50), 0);
  assert_uvs_rc(uvs_stream_readexactly_start(s, 10, op), UVS_PENDING);
  expect_next(cq, op);
  assert_int_equal(uvs_op_kind(op), UVS_OP_READEXACTLY);
  assert_op_result(op, UVS_ETIMEDOUT);
  expect_nothing(cq);
  assert_int_equal(nh_get_int(s, "read_buffer_size"), 5); /* consumed nothing */
  assert_uvs_rc(uvs_op_set_timeout(op, -1), 0);
  assert_uvs_rc(uvs_stream_readexactly_start(s, 10, op), UVS_PENDING);
  assert_int_equal(nh_raw_send_all(peer, "fghij", 5), 0);
  expect_next(cq, op);
  assert_op_result(op, 0);
  assert_op_data(op, "abcdefghij");
  expect_nothing(cq);
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_cq_free(cq), 0);
  assert_uvs_rc(nh_close_free(s), 0);
  close(peer);
}

static void test_op_cancel(void **state) {
  nh_fixture *f = *state;
  int peer = -1;
  uvs_stream *s = uvst_socketpair_stream(f->e, &peer);
  uvs_cq *cq = NULL;
  assert_uvs_rc(uvs_cq_new(f->e, &cq), 0);
  uvs_op *op = uvst_op_new(cq, 6);
  assert_uvs_rc(uvs_stream_readuntil_start(s, "\r\n", 2, op), UVS_PENDING);
  assert_uvs_rc(uvs_op_cancel(op), 0);
  expect_next(cq, op);
  assert_int_equal(uvs_op_kind(op), UVS_OP_READUNTIL);
  assert_op_result(op, UVS_ECANCELED);
  assert_uvs_rc(uvs_op_cancel(op), 0); /* already done: no effect */
  expect_nothing(cq);
  /* cancel racing a completion: exactly one delivery, no lost bytes */
  int won = 0, cancelled = 0;
  for (int i = 0; i < 200; i++) {
    assert_uvs_rc(uvs_stream_read_start(s, 1, op), UVS_PENDING);
    assert_int_equal(nh_raw_send_all(peer, "x", 1), 0);
    if (i % 3 != 0) {
      uvst_sleep_ms(0);
    }
    assert_uvs_rc(uvs_op_cancel(op), 0);
    expect_next(cq, op);
    if (uvs_op_result(op) == 0) {
      assert_op_data(op, "x");
      won++;
    } else {
      assert_uvs_rc(uvs_op_result(op), UVS_ECANCELED);
      void *d = NULL;
      size_t n = 0;
      assert_uvs_rc(uvs_stream_readexactly(s, 1, 10000, &d, &n), 0);
      assert_bytes_equal(d, n, "x");
      uvs_free(d);
      cancelled++;
    }
  }
  assert_int_equal(won + cancelled, 200);
  expect_nothing(cq);
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_cq_free(cq), 0);
  assert_uvs_rc(nh_close_free(s), 0);
  close(peer);
}

static void test_op_free_pending(void **state) {
  nh_fixture *f = *state;
  int peer = -1;
  uvs_stream *s = uvst_socketpair_stream(f->e, &peer);
  uvs_cq *cq = NULL;
  assert_uvs_rc(uvs_cq_new(f->e, &cq), 0);
  uvs_op *op = uvst_op_new(cq, 7);
  assert_uvs_rc(uvs_stream_read_start(s, 10, op), UVS_PENDING);
  assert_uvs_rc(uvs_op_free(op), 0);
  expect_nothing(cq);
  assert_false(readable(uvs_cq_fd(cq), 0));
  /* the stream's read slot is free again and nothing was lost */
  op = uvst_op_new(cq, 8);
  assert_int_equal(nh_raw_send_all(peer, "xyz", 3), 0);
  nh_wait_buffered(s, 3);
  assert_uvs_rc(read_start_retry(s, 10, op), UVS_COMPLETED);
  assert_op_data(op, "xyz");
  /* a completion already queued but not taken is dropped by uvs_op_free */
  assert_uvs_rc(uvs_stream_read_start(s, 10, op), UVS_PENDING);
  assert_int_equal(nh_raw_send_all(peer, "q", 1), 0);
  assert_true(readable(uvs_cq_fd(cq), 10000));
  assert_uvs_rc(uvs_op_free(op), 0);
  expect_nothing(cq);
  assert_uvs_rc(uvs_cq_free(cq), 0);
  assert_uvs_rc(nh_close_free(s), 0);
  close(peer);
}

static void test_cq_free_cancels_bound_ops(void **state) {
  nh_fixture *f = *state;
  int peer = -1;
  uvs_stream *s = uvst_socketpair_stream(f->e, &peer);
  uvs_cq *cq = NULL;
  assert_uvs_rc(uvs_cq_new(f->e, &cq), 0);
  uvs_op *op = uvst_op_new(cq, 10);
  assert_uvs_rc(uvs_stream_read_start(s, 10, op), UVS_PENDING);
  assert_uvs_rc(uvs_cq_free(cq), 0);
  /* the read slot was released: a new read on a cq-less op works */
  uvs_op *w = uvst_op_new(NULL, 11);
  assert_uvs_rc(read_start_retry(s, 10, w), UVS_PENDING);
  assert_int_equal(nh_raw_send_all(peer, "ok", 2), 0);
  assert_uvs_rc(uvs_op_wait(w, 10000), 0);
  assert_op_result(w, 0);
  assert_op_data(w, "ok");
  assert_uvs_rc(uvs_op_wait(w, 0), 0); /* done stays done */
  uvs_op_free(op);                     /* its queue is gone; must not crash */
  assert_uvs_rc(uvs_op_free(w), 0);
  assert_uvs_rc(nh_close_free(s), 0);
  close(peer);
}

/* An op whose queue was freed takes no new call: it would be pending with
 * nowhere to deliver its completion (it said UVS_PENDING, the completion
 * was dropped, uvs_op_wait refused it and the stream said EBUSY to other
 * readers meanwhile). Every start must fail, leaving the stream free. */
static void test_op_of_freed_queue_takes_no_call(void **state) {
  nh_fixture *f = *state;
  int peer = -1;
  uvs_stream *s = uvst_socketpair_stream(f->e, &peer);
  uvs_cq *cq = NULL;
  assert_uvs_rc(uvs_cq_new(f->e, &cq), 0);
  uvs_op *op = uvst_op_new(cq, 12);
  assert_uvs_rc(uvs_cq_free(cq), 0);
  assert_uvs_rc(uvs_stream_read_start(s, 10, op), UVS_ECLOSED);
  assert_uvs_rc(uvs_stream_readline_start(s, op), UVS_ECLOSED);
  assert_uvs_rc(uvs_stream_drain_start(s, op), UVS_ECLOSED);
  assert_int_equal(nh_raw_send_all(peer, "ok", 2), 0);
  void *d = NULL;
  size_t n = 0;
  assert_uvs_rc(uvs_stream_read(s, 10, 10000, &d, &n), 0);
  assert_bytes_equal(d, n, "ok");
  uvs_free(d);
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(nh_close_free(s), 0);
  close(peer);
}

/* ---- connect timeouts ---------------------------------------------------- */

/* A listener whose accept queue is full, so that a connect stays pending:
 * backlog 0 and two raw connects (their descriptors go to raw[0..1]). */
static int full_listener(int raw[2], int *port) {
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(lfd >= 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof(a);
  assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
  assert_int_equal(listen(lfd, 0), 0);
  assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
  *port = ntohs(a.sin_port);
  for (int i = 0; i < 2; i++) {
    raw[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(raw[i] >= 0);
    connect(raw[i], (struct sockaddr *)&a, sizeof(a));
  }
  uvst_sleep_ms(50);
  return lfd;
}

static void test_connect_timeout(void **state) {
  nh_fixture *f = *state;
  int port = 0, raw[2];
  int lfd = full_listener(raw, &port);
  uvs_stream *s = NULL;
  assert_uvs_rc(uvs_connect_tcp(f->e, "127.0.0.1", port, NULL, 100, &s),
                UVS_ETIMEDOUT);
  assert_null(s);
  uvs_cq *cq = NULL;
  assert_uvs_rc(uvs_cq_new(f->e, &cq), 0);
  uvs_op *op = uvst_op_new(cq, 12);
  assert_uvs_rc(uvs_op_set_timeout(op, 100), 0);
  assert_uvs_rc(uvs_connect_tcp_start(f->e, "127.0.0.1", port, NULL, op),
                UVS_PENDING);
  expect_next(cq, op);
  assert_int_equal(uvs_op_kind(op), UVS_OP_CONNECT);
  assert_op_result(op, UVS_ETIMEDOUT);
  assert_true(uvs_op_take_stream(op, &s) < 0);
  expect_nothing(cq);
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_cq_free(cq), 0);
  close(raw[0]);
  close(raw[1]);
  close(lfd);
}

/* ---- engine free with everything pending -------------------------------- */

enum {
  P_CONNECT,
  P_READ,
  P_DRAIN,
  P_ACCEPT,
  P_WAIT_CLOSED,
  P_SRV_WAIT_CLOSED,
  P_NCQ,
  /* cq-less ops, checked with uvs_op_is_done */
  P_CONNECT2 = P_NCQ,
  P_ACCEPT2,
  P_WAIT_CLOSED2,
  P_N
};

struct pend {
  uvs_engine *e;
  uvs_cq *cq;
  uvs_op *op[P_N];
  int delivered[P_NCQ];
  int other;
  pthread_mutex_t mutex;
  int stop;
  int blocked_rc;
  uvs_stream *blocked_stream;
  int raw[2];
};

static void *pend_consumer(void *arg) {
  struct pend *p = arg;
  for (;;) {
    pthread_mutex_lock(&p->mutex);
    int stop = p->stop;
    pthread_mutex_unlock(&p->mutex);
    if (stop) {
      return NULL;
    }
    uvs_op *got[8];
    int n = uvs_cq_wait(p->cq, 100, got, 8);
    if (n < 0) {
      uvst_sleep_ms(10); /* the queue may be gone with its engine */
      continue;
    }
    pthread_mutex_lock(&p->mutex);
    for (int i = 0; i < n; i++) {
      int k = -1;
      for (int j = 0; j < P_NCQ; j++) {
        k = got[i] == p->op[j] ? j : k;
      }
      if (k >= 0) {
        p->delivered[k]++;
      } else {
        p->other++;
      }
    }
    pthread_mutex_unlock(&p->mutex);
  }
}

static void *blocked_reader(void *arg) {
  struct pend *p = arg;
  void *d = NULL;
  size_t n = 0;
  p->blocked_rc = uvs_stream_read(p->blocked_stream, 10, 30000, &d, &n);
  uvs_free(d);
  return NULL;
}

static void *engine_freer(void *arg) {
  struct pend *p = arg;
  int rc = uvs_engine_free(p->e);
  if (rc != 0) {
    nh_fail("uvs_engine_free", rc);
  }
  return NULL;
}

static int shutdown_error(int rc) {
  return rc == UVS_ESHUTDOWN || rc == UVS_ECLOSED;
}

static void test_engine_free_with_pending_ops(void **state) {
  (void)state;
  struct pend *p = calloc(1, sizeof(*p));
  assert_non_null(p);
  pthread_mutex_init(&p->mutex, NULL);
  p->e = uvst_engine_new(1);
  assert_uvs_rc(uvs_cq_new(p->e, &p->cq), 0);
  for (int i = 0; i < P_N; i++) {
    p->op[i] = uvst_op_new(i < P_NCQ ? p->cq : NULL, (uint64_t)i);
  }
  int fport = 0, port = 0, port2 = 0, rport = 0, peer = -1;
  int flfd = full_listener(p->raw, &fport);
  assert_uvs_rc(
      uvs_connect_tcp_start(p->e, "127.0.0.1", fport, NULL, p->op[P_CONNECT]),
      UVS_PENDING);
  assert_uvs_rc(
      uvs_connect_tcp_start(p->e, "127.0.0.1", fport, NULL, p->op[P_CONNECT2]),
      UVS_PENDING);
  uvs_server *srv = nh_listen_tcp(p->e, NULL, &port);
  uvs_server *idle = nh_listen_tcp(p->e, NULL, &port2);
  uvs_stream *c = NULL, *a = NULL;
  assert_uvs_rc(uvs_connect_tcp(p->e, "127.0.0.1", port, NULL, 10000, &c), 0);
  assert_uvs_rc(uvs_server_accept(srv, 10000, &a), 0);
  assert_uvs_rc(uvs_stream_read_start(c, 10, p->op[P_READ]), UVS_PENDING);
  assert_uvs_rc(uvs_stream_wait_closed_start(a, p->op[P_WAIT_CLOSED]),
                UVS_PENDING);
  assert_uvs_rc(uvs_stream_wait_closed_start(c, p->op[P_WAIT_CLOSED2]),
                UVS_PENDING);
  assert_uvs_rc(uvs_server_accept_start(idle, p->op[P_ACCEPT]), UVS_PENDING);
  assert_uvs_rc(uvs_server_accept_start(srv, p->op[P_ACCEPT2]), UVS_PENDING);
  assert_uvs_rc(uvs_server_wait_closed_start(srv, p->op[P_SRV_WAIT_CLOSED]),
                UVS_PENDING);
  int rlfd = nh_raw_listen(4096, &rport);
  uvs_stream *d = nh_connect_raw_peer(p->e, rlfd, rport, NULL, &peer);
  unsigned char *junk = nh_random_bytes(3, 64 * MIB);
  assert_uvs_rc(uvs_stream_write(d, junk, 64 * MIB), 0);
  free(junk);
  assert_uvs_rc(uvs_stream_drain_start(d, p->op[P_DRAIN]), UVS_PENDING);
  p->blocked_stream = a;
  pthread_t reader, consumer, freer;
  assert_int_equal(pthread_create(&reader, NULL, blocked_reader, p), 0);
  assert_int_equal(pthread_create(&consumer, NULL, pend_consumer, p), 0);
  uvst_sleep_ms(100);
  for (int i = 0; i < P_N; i++) {
    assert_int_equal(uvs_op_is_done(p->op[i]), 0); /* all still pending */
  }

  assert_int_equal(pthread_create(&freer, NULL, engine_freer, p), 0);
  if (join_within(freer, 30000) != 0) {
    fail_msg("uvs_engine_free did not return");
  }
  if (join_within(reader, 10000) != 0) {
    fail_msg("a blocking read did not return after uvs_engine_free");
  }
  int64_t deadline = uvst_now_ms() + 10000;
  int all = 0;
  while (!all && uvst_now_ms() < deadline) {
    pthread_mutex_lock(&p->mutex);
    all = 1;
    for (int i = 0; i < P_NCQ; i++) {
      all &= p->delivered[i] >= 1;
    }
    pthread_mutex_unlock(&p->mutex);
    uvst_sleep_ms(all ? 200 : 10); /* a little longer to catch duplicates */
  }
  pthread_mutex_lock(&p->mutex);
  p->stop = 1;
  pthread_mutex_unlock(&p->mutex);
  pthread_join(consumer, NULL);

  for (int i = 0; i < P_N; i++) {
    if (i < P_NCQ && p->delivered[i] != 1) {
      fail_msg("op %d delivered %d times", i, p->delivered[i]);
    }
    assert_int_equal(uvs_op_is_done(p->op[i]), 1);
    if (!shutdown_error(uvs_op_result(p->op[i]))) {
      fail_msg("op %d completed with %s", i,
               uvs_err_name(uvs_op_result(p->op[i])));
    }
  }
  assert_int_equal(p->other, 0);
  assert_true(p->blocked_rc < 0 && p->blocked_rc != UVS_ETIMEDOUT);
  assert_int_equal(nh_take_failures(), 0);
  /* late frees of everything are harmless */
  uvs_stream_free(a);
  uvs_stream_free(c);
  uvs_stream_free(d);
  uvs_server_free(srv);
  uvs_server_free(idle);
  for (int i = 0; i < P_N; i++) {
    uvs_op_free(p->op[i]);
  }
  uvs_cq_free(p->cq);
  close(p->raw[0]);
  close(p->raw[1]);
  close(peer);
  close(rlfd);
  close(flfd);
  pthread_mutex_destroy(&p->mutex);
  free(p);
}

static int setup0(void **state) {
  return nh_setup_threads(state, 0);
}
static int setup2(void **state) {
  return nh_setup_threads(state, 2);
}

/* A cancelled read whose completion was never polled, then restarted: the
 * stale completion must not be delivered for the new, pending operation. */
static void test_restart_drops_stale_completion(void **state) {
  nh_fixture *f = *state;
  uvs_cq *cq;
  assert_uvs_rc(uvs_cq_new(f->e, &cq), 0);
  uvs_stream *r = uvst_reader_new(f->e, 0);
  uvs_op *op = uvst_op_new(cq, 7);
  assert_uvs_rc(uvs_stream_read_start(r, 10, op), UVS_PENDING);
  assert_uvs_rc(uvs_op_cancel(op), 0);
  assert_uvs_rc(uvs_stream_read_start(r, 10, op), UVS_PENDING);
  uvs_op *got[4];
  assert_int_equal(uvs_cq_wait(cq, 50, got, 4), 0);
  assert_int_equal(uvs_op_is_done(op), 0);
  assert_uvs_rc(uvs_reader_feed_data(r, "abc", 3), 0);
  assert_int_equal(uvs_cq_wait(cq, 2000, got, 4), 1);
  assert_ptr_equal(got[0], op);
  assert_op_result(op, 0);
  assert_op_data(op, "abc");
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(r), 0);
  assert_uvs_rc(uvs_cq_free(cq), 0);
}

/* Host-driven: work started from the host thread outside uvs_cq_poll (a
 * listen, an accept) must make the cq descriptor readable when a client
 * connects, without the host having to call uvs_cq_poll first. */
static void test_host_fd_sees_work_started_outside_poll(void **state) {
  nh_fixture *f = *state;
  uvs_cq *cq;
  assert_uvs_rc(uvs_cq_new(f->e, &cq), 0);
  int fd = uvs_cq_fd(cq);
  assert_true(fd >= 0);
  int port = 0;
  uvs_server *srv = nh_listen_tcp(f->e, NULL, &port);
  uvs_op *acc = uvst_op_new(cq, 1);
  assert_uvs_rc(uvs_server_accept_start(srv, acc), UVS_PENDING);
  int peer = nh_raw_connect(port);
  struct pollfd p = {.fd = fd, .events = POLLIN};
  uvs_op *got[2];
  int n = 0;
  for (int i = 0; i < 100 && n == 0; i++) {
    assert_true(poll(&p, 1, 2000) == 1); /* never a 2 s stall */
    n = uvs_cq_poll(cq, got, 2);
  }
  assert_int_equal(n, 1);
  assert_op_result(acc, 0);
  uvs_stream *s;
  assert_uvs_rc(uvs_op_take_stream(acc, &s), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
  close(peer);
  assert_uvs_rc(uvs_op_free(acc), 0);
  assert_uvs_rc(uvs_server_free(srv), 0);
  assert_uvs_rc(uvs_cq_free(cq), 0);
  for (int i = 0; i < 10; i++)
    uvs_engine_run(f->e); /* let the closes finish */
}

int main(void) {
  nh_apply_filter();
  nh_warm_up();
  const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, nh_setup, nh_teardown)
      T(test_cq_basics),
      T(test_cq_wait_and_poll_batches),
      cmocka_unit_test_setup_teardown(test_host_driven_echo, setup0,
                                      nh_teardown),
      cmocka_unit_test_setup_teardown(test_host_driven_timer, setup0,
                                      nh_teardown),
      T(test_engine_run_wrong_thread),
      cmocka_unit_test_setup_teardown(test_two_consumers, setup2, nh_teardown),
      T(test_cq_wakeup),
      T(test_op_timeout),
      T(test_op_cancel),
      T(test_op_free_pending),
      T(test_cq_free_cancels_bound_ops),
      T(test_op_of_freed_queue_takes_no_call),
      T(test_connect_timeout),
      T(test_restart_drops_stale_completion),
      cmocka_unit_test_setup_teardown(
          test_host_fd_sees_work_started_outside_poll, setup0, nh_teardown),
      cmocka_unit_test_setup_teardown(test_engine_free_with_pending_ops,
                                      uvst_fd_setup, uvst_fd_teardown),
#undef T
  };
  return cmocka_run_group_tests_name("cq", tests, NULL, NULL);
}
