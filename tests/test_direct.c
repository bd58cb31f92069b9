/*
 * test_direct.c - the "direct_reads" option: blocking reads done by the
 * waiting thread instead of the engine's loop (cpp/stream_direct.cpp).
 *
 * The stream under test is one end of a socketpair (or a pipe) adopted by
 * an engine with an I/O thread; the test drives the other end with plain
 * system calls. Every case checks what the reader semantics promise (the
 * same as without the option) and that every way a direct wait can end
 * early (cancel, close, engine shutdown, peer reset, hand-back to the loop)
 * ends it, without a hang and without losing a byte.
 */
#include "helpers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

struct pair {
  uvs_engine *e;
  uvs_stream *s; /* direct end */
  int peer;      /* plain end */
};

static uvs_options *direct_options(int64_t limit) {
  uvs_options *o = NULL;
  assert_uvs_rc(uvs_options_new(&o), 0);
  assert_uvs_rc(uvs_options_set_int(o, "direct_reads", 1), 0);
  if (limit > 0)
    assert_uvs_rc(uvs_options_set_int(o, "limit", limit), 0);
  return o;
}

/* A socketpair end adopted with "direct_reads" by an engine with
 * io_threads loops (0: host-driven, where the option does nothing). */
static void pair_open(struct pair *p, int io_threads, int64_t limit) {
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  p->e = uvst_engine_new(io_threads);
  uvs_options *o = direct_options(limit);
  assert_uvs_rc(uvs_stream_open_fd(p->e, sv[0], o, &p->s), 0);
  uvs_options_free(o);
  p->peer = sv[1];
}

static void pair_close(struct pair *p) {
  if (p->peer >= 0)
    close(p->peer);
  assert_uvs_rc(uvs_stream_free(p->s), 0);
  assert_uvs_rc(uvs_engine_free(p->e), 0);
}

static void peer_send(struct pair *p, const char *str) {
  size_t len = strlen(str);
  assert_int_equal(send(p->peer, str, len, MSG_NOSIGNAL), (ssize_t)len);
}

static int64_t direct_mode(uvs_stream *s) {
  int64_t v = -1;
  assert_uvs_rc(uvs_stream_get_int(s, "direct_reads", &v), 0);
  return v;
}

static int setup(void **state) {
  return uvst_fd_setup(state);
}
static int teardown(void **state) {
  return uvst_fd_teardown(state);
}

/* ---- which streams read directly ----------------------------------------- */

static void test_mode_needs_io_threads(void **state) {
  (void)state;
  struct pair threaded, host;
  pair_open(&threaded, 1, 0);
  pair_open(&host, 0, 0);
  assert_int_equal(direct_mode(threaded.s), 1);
  assert_int_equal(direct_mode(host.s), 0); /* its waits drive the loop */
  pair_close(&threaded);
  pair_close(&host);
}

static void test_default_is_loop_reading(void **state) {
  (void)state;
  int sv[2];
  uvs_stream *s;
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  uvs_engine *e = uvst_engine_new(1);
  assert_uvs_rc(uvs_stream_open_fd(e, sv[0], NULL, &s), 0);
  assert_int_equal(direct_mode(s), 0);
  close(sv[1]);
  assert_uvs_rc(uvs_stream_free(s), 0);
  assert_uvs_rc(uvs_engine_free(e), 0);
}

static void test_option_key_is_known(void **state) {
  (void)state;
  /* The key is known to the options: set and read back. */
  uvs_options *o = direct_options(0);
  int64_t v = 0;
  assert_uvs_rc(uvs_options_get_int(o, "direct_reads", &v), 0);
  assert_int_equal(v, 1);
  uvs_options_free(o);
}

/* ---- reader semantics over direct reads ---------------------------------- */

static void test_reads_of_every_kind(void **state) {
  (void)state;
  struct pair p;
  void *data;
  size_t len;
  pair_open(&p, 1, 0);
  peer_send(&p, "line one\nab");
  assert_uvs_rc(uvs_stream_readline(p.s, 5000, &data, &len), 0);
  assert_bytes_equal(data, len, "line one\n");
  uvs_free(data);
  peer_send(&p, "cdEND|tail");
  assert_uvs_rc(uvs_stream_readuntil(p.s, "|", 1, 5000, &data, &len, NULL), 0);
  assert_bytes_equal(data, len, "abcdEND|");
  uvs_free(data);
  assert_uvs_rc(uvs_stream_readexactly(p.s, 4, 5000, &data, &len), 0);
  assert_bytes_equal(data, len, "tail");
  uvs_free(data);
  peer_send(&p, "rest");
  assert_uvs_rc(uvs_stream_read(p.s, 100, 5000, &data, &len), 0);
  assert_bytes_equal(data, len, "rest");
  uvs_free(data);
  assert_int_equal(direct_mode(p.s), 1);
  pair_close(&p);
}

struct sender {
  int fd;
  size_t total;
  unsigned seed;
};

static void send_pattern(void *arg) {
  struct sender *snd = arg;
  char chunk[7919]; /* a prime, so reads and sends never line up */
  size_t sent = 0;
  while (sent < snd->total) {
    size_t n =
        snd->total - sent < sizeof chunk ? snd->total - sent : sizeof chunk;
    for (size_t i = 0; i < n; i++)
      chunk[i] = (char)((sent + i) * 31 + snd->seed);
    ssize_t w = send(snd->fd, chunk, n, MSG_NOSIGNAL);
    if (w <= 0)
      return;
    sent += (size_t)w;
  }
  shutdown(snd->fd, SHUT_WR);
}

static void test_large_transfer_loses_nothing(void **state) {
  (void)state;
  struct pair p;
  pair_open(&p, 1, 0);
  struct sender snd = {p.peer, 8u << 20, 7};
  uvst_later *l = uvst_later_start(0, send_pattern, &snd);
  size_t got = 0;
  int bad = 0;
  for (;;) {
    void *data;
    size_t len;
    assert_uvs_rc(uvs_stream_read(p.s, 65536, 10000, &data, &len), 0);
    if (len == 0) {
      uvs_free(data);
      break;
    }
    for (size_t i = 0; i < len; i++)
      bad |= ((char *)data)[i] != (char)((got + i) * 31 + 7);
    got += len;
    uvs_free(data);
  }
  uvst_later_join(l);
  assert_int_equal(bad, 0);
  assert_int_equal(got, snd.total);
  pair_close(&p);
}

/* A direct read into the caller's memory: the waiting thread reads the
 * socket straight into buf, never more than cap, and the rest stays. */
static void test_read_into_reads_in_place(void **state) {
  (void)state;
  struct pair p;
  char buf[8];
  size_t len = 0;
  const void *d = NULL;
  void *data;
  pair_open(&p, 1, 0);
  uvs_op *op = uvst_op_new(NULL, 1);
  assert_uvs_rc(uvs_stream_read_into_start(p.s, buf, 5, op), UVS_PENDING);
  peer_send(&p, "hello world");
  assert_uvs_rc(uvs_op_wait(op, 5000), 0);
  assert_uvs_rc(uvs_op_read_result(op, &d, &len), 0);
  assert_ptr_equal(d, buf);
  assert_bytes_equal(d, len, "hello");
  assert_uvs_rc(uvs_op_unread(op), 0); /* given back from buf */
  assert_uvs_rc(uvs_stream_read(p.s, 100, 5000, &data, &len), 0);
  assert_bytes_equal(data, len, "hello");
  uvs_free(data);
  assert_uvs_rc(uvs_stream_read_into(p.s, buf, sizeof buf, 5000, &len), 0);
  assert_bytes_equal(buf, len, " world");
  close(p.peer);
  p.peer = -1;
  assert_uvs_rc(uvs_stream_read_into(p.s, buf, sizeof buf, 5000, &len), 0);
  assert_int_equal(len, 0); /* EOF */
  assert_int_equal(direct_mode(p.s), 1);
  assert_uvs_rc(uvs_op_free(op), 0);
  pair_close(&p);
}

/* 8 MiB through reads into one buffer, in sizes that never line up with
 * the sender's: every byte once, in order. */
static void test_read_into_large_transfer(void **state) {
  (void)state;
  struct pair p;
  pair_open(&p, 1, 0);
  struct sender snd = {p.peer, 8u << 20, 3};
  uvst_later *l = uvst_later_start(0, send_pattern, &snd);
  static char buf[200000];
  size_t got = 0, cap = 1;
  int bad = 0;
  for (;;) {
    size_t len = 0;
    assert_uvs_rc(uvs_stream_read_into(p.s, buf, cap, 10000, &len), 0);
    if (len == 0)
      break;
    for (size_t i = 0; i < len; i++)
      bad |= buf[i] != (char)((got + i) * 31 + 3);
    got += len;
    cap = cap * 7 % sizeof buf + 1;
  }
  uvst_later_join(l);
  assert_int_equal(bad, 0);
  assert_int_equal(got, snd.total);
  pair_close(&p);
}

static void test_limit_overrun_reports_consumed(void **state) {
  (void)state;
  struct pair p;
  void *data;
  size_t len;
  int64_t consumed = -1;
  pair_open(&p, 1, 16);
  peer_send(&p, "0123456789abcdefghijklmnop");
  assert_uvs_rc(
      uvs_stream_readuntil(p.s, "\n", 1, 5000, &data, &len, &consumed),
      UVS_ELIMIT);
  assert_true(consumed >= 16);
  pair_close(&p);
}

static void test_timeout_consumes_nothing(void **state) {
  (void)state;
  struct pair p;
  void *data;
  size_t len;
  pair_open(&p, 1, 0);
  peer_send(&p, "partial");
  int64_t t0 = uvst_now_ms();
  assert_uvs_rc(uvs_stream_readexactly(p.s, 10, 100, &data, &len),
                UVS_ETIMEDOUT);
  assert_true(uvst_now_ms() - t0 >= 100); /* not before its time */
  peer_send(&p, "end");
  assert_uvs_rc(uvs_stream_readexactly(p.s, 10, 5000, &data, &len), 0);
  assert_bytes_equal(data, len, "partialend");
  uvs_free(data);
  pair_close(&p);
}

static void test_zero_timeout_polls_once(void **state) {
  (void)state;
  struct pair p;
  void *data;
  size_t len;
  pair_open(&p, 1, 0);
  assert_uvs_rc(uvs_stream_read(p.s, 10, 0, &data, &len), UVS_ETIMEDOUT);
  peer_send(&p, "now");
  /* The data is in the socket, not yet in the buffer: a 0 ms wait reads. */
  assert_uvs_rc(uvs_stream_read(p.s, 10, 0, &data, &len), 0);
  assert_bytes_equal(data, len, "now");
  uvs_free(data);
  pair_close(&p);
}

static void test_eof_and_incomplete(void **state) {
  (void)state;
  struct pair p;
  void *data;
  size_t len;
  pair_open(&p, 1, 0);
  peer_send(&p, "abc");
  shutdown(p.peer, SHUT_WR);
  assert_uvs_rc(uvs_stream_readexactly(p.s, 5, 5000, &data, &len),
                UVS_EINCOMPLETE);
  assert_bytes_equal(data, len, "abc");
  uvs_free(data);
  assert_uvs_rc(uvs_stream_read(p.s, 5, 5000, &data, &len), 0);
  assert_int_equal(len, 0);
  uvs_free(data);
  /* Half-close: the stream can still write. */
  assert_uvs_rc(uvs_stream_write(p.s, "bye", 3), 0);
  char buf[8];
  assert_int_equal(recv(p.peer, buf, sizeof buf, 0), 3);
  pair_close(&p);
}

static void test_peer_reset_is_an_error(void **state) {
  (void)state;
  struct pair p;
  void *data;
  size_t len;
  pair_open(&p, 1, 0);
  /* A Unix socket closed with unread data resets its peer. */
  assert_uvs_rc(uvs_stream_write(p.s, "unread", 6), 0);
  close(p.peer);
  p.peer = -1;
  assert_uvs_rc(uvs_stream_read(p.s, 10, 5000, &data, &len), UVS_ECONNRESET);
  /* The loss closes the stream on the loop. */
  assert_uvs_rc(uvs_stream_wait_closed(p.s, 5000), UVS_ECONNRESET);
  pair_close(&p);
}

/* ---- ending a direct wait from elsewhere --------------------------------- */

struct blocked_read {
  uvs_stream *s;
  int rc;
  size_t len;
};

static void *read_blocking_thread(void *arg) {
  struct blocked_read *b = arg;
  void *data = NULL;
  b->rc = uvs_stream_read(b->s, 100, -1, &data, &b->len);
  uvs_free(data);
  return NULL;
}

static void close_later(void *s) {
  uvs_stream_close(s);
}

static void test_close_ends_a_blocked_read(void **state) {
  (void)state;
  struct pair p;
  pthread_t t;
  pair_open(&p, 1, 0);
  struct blocked_read b = {p.s, 1, 99};
  assert_int_equal(pthread_create(&t, NULL, read_blocking_thread, &b), 0);
  uvst_later *l = uvst_later_start(100, close_later, p.s);
  pthread_join(t, NULL); /* would hang if the poller were not woken */
  uvst_later_join(l);
  assert_uvs_rc(b.rc, 0); /* our own close: EOF, as asyncio's feed_eof */
  assert_int_equal(b.len, 0);
  assert_uvs_rc(uvs_stream_wait_closed(p.s, 5000), 0);
  pair_close(&p);
}

static void test_engine_free_ends_a_blocked_read(void **state) {
  (void)state;
  struct pair p;
  pthread_t t;
  pair_open(&p, 1, 0);
  struct blocked_read b = {p.s, 1, 99};
  assert_int_equal(pthread_create(&t, NULL, read_blocking_thread, &b), 0);
  uvst_sleep_ms(100);
  assert_uvs_rc(uvs_engine_free(p.e), 0);
  pthread_join(t, NULL);
  assert_true(b.rc < 0);
  close(p.peer);
  assert_uvs_rc(uvs_stream_free(p.s), 0);
}

struct op_waiter {
  uvs_op *op;
  int rc;
};

static void *op_wait_thread(void *arg) {
  struct op_waiter *w = arg;
  w->rc = uvs_op_wait(w->op, -1);
  return NULL;
}

static void test_cancel_ends_a_waiting_op(void **state) {
  (void)state;
  struct pair p;
  uvs_op *op;
  pthread_t t;
  pair_open(&p, 1, 0);
  assert_uvs_rc(uvs_op_new(NULL, 0, &op), 0);
  assert_uvs_rc(uvs_stream_read_start(p.s, 10, op), UVS_PENDING);
  struct op_waiter w = {op, 1};
  assert_int_equal(pthread_create(&t, NULL, op_wait_thread, &w), 0);
  uvst_sleep_ms(100);
  assert_uvs_rc(uvs_op_cancel(op), 0);
  pthread_join(t, NULL);
  assert_uvs_rc(w.rc, 0);
  assert_op_result(op, UVS_ECANCELED);
  /* Nothing was lost: the next read gets what comes next. */
  peer_send(&p, "after");
  void *data;
  size_t len;
  assert_uvs_rc(uvs_stream_read(p.s, 10, 5000, &data, &len), 0);
  assert_bytes_equal(data, len, "after");
  uvs_free(data);
  assert_uvs_rc(uvs_op_free(op), 0);
  pair_close(&p);
}

static void test_op_timeout_ends_a_direct_wait(void **state) {
  (void)state;
  struct pair p;
  uvs_op *op;
  pair_open(&p, 1, 0);
  assert_uvs_rc(uvs_op_new(NULL, 0, &op), 0);
  assert_uvs_rc(uvs_op_set_timeout(op, 100), 0);
  assert_uvs_rc(uvs_stream_read_start(p.s, 10, op), UVS_PENDING);
  /* The deadline thread withdraws the op and wakes the polling waiter. */
  assert_uvs_rc(uvs_op_wait(op, -1), 0);
  assert_op_result(op, UVS_ETIMEDOUT);
  assert_uvs_rc(uvs_op_free(op), 0);
  pair_close(&p);
}

/* ---- handing reading back to the loop ------------------------------------ */

static void test_queue_op_hands_reading_to_the_loop(void **state) {
  (void)state;
  struct pair p;
  uvs_cq *cq;
  uvs_op *op, *done[1];
  pair_open(&p, 1, 0);
  assert_uvs_rc(uvs_cq_new(p.e, &cq), 0);
  assert_uvs_rc(uvs_op_new(cq, 7, &op), 0);
  assert_uvs_rc(uvs_stream_readline_start(p.s, op), UVS_PENDING);
  assert_int_equal(direct_mode(p.s), 0); /* for good */
  peer_send(&p, "queued\n");
  assert_int_equal(uvs_cq_wait(cq, 5000, done, 1), 1);
  assert_ptr_equal(done[0], op);
  assert_op_result(op, 0);
  assert_op_data(op, "queued\n");
  /* Blocking reads still work, through the loop. */
  peer_send(&p, "more");
  void *data;
  size_t len;
  assert_uvs_rc(uvs_stream_read(p.s, 10, 5000, &data, &len), 0);
  assert_bytes_equal(data, len, "more");
  uvs_free(data);
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_cq_free(cq), 0);
  pair_close(&p);
}

static void test_pause_hands_a_blocked_read_to_the_loop(void **state) {
  (void)state;
  struct pair p;
  pthread_t t;
  pair_open(&p, 1, 0);
  struct blocked_read b = {p.s, 1, 99};
  assert_int_equal(pthread_create(&t, NULL, read_blocking_thread, &b), 0);
  uvst_sleep_ms(100);
  /* The read blocked in a direct wait is handed to the loop, which
   * delivers nothing while paused and the data once resumed. */
  assert_uvs_rc(uvs_stream_pause_reading(p.s), 0);
  assert_int_equal(direct_mode(p.s), 0);
  peer_send(&p, "held");
  uvst_sleep_ms(100);
  assert_int_equal(b.rc, 1); /* still waiting */
  assert_uvs_rc(uvs_stream_resume_reading(p.s), 0);
  pthread_join(t, NULL);
  assert_uvs_rc(b.rc, 0);
  assert_int_equal(b.len, 4);
  pair_close(&p);
}

static void test_read_pipe(void **state) {
  (void)state;
  int fds[2];
  uvs_stream *s;
  void *data;
  size_t len;
  assert_int_equal(pipe(fds), 0);
  uvs_engine *e = uvst_engine_new(1);
  uvs_options *o = direct_options(0);
  assert_uvs_rc(uvs_connect_read_pipe(e, fds[0], o, &s), 0);
  uvs_options_free(o);
  assert_int_equal(direct_mode(s), 1);
  assert_int_equal(write(fds[1], "piped\nx", 7), 7);
  close(fds[1]);
  assert_uvs_rc(uvs_stream_readline(s, 5000, &data, &len), 0);
  assert_bytes_equal(data, len, "piped\n");
  uvs_free(data);
  assert_uvs_rc(uvs_stream_read(s, -1, 5000, &data, &len), 0);
  assert_bytes_equal(data, len, "x");
  uvs_free(data);
  assert_uvs_rc(uvs_stream_free(s), 0);
  assert_uvs_rc(uvs_engine_free(e), 0);
}

/* A thread keeps one eventfd from its first direct wait until it exits:
 * made here, before the fd-leak snapshots, as helpers.c does for libuv's
 * signal pipe. */
static void warm_up_main_thread(void **state) {
  (void)state;
  struct pair p;
  void *data;
  size_t len;
  pair_open(&p, 1, 0);
  assert_uvs_rc(uvs_stream_read(p.s, 1, 0, &data, &len), UVS_ETIMEDOUT);
  pair_close(&p);
}

/* ---- a thread without a wake-up descriptor ------------------------------ */

/* The highest descriptor open in this process below limit (valgrind keeps
 * its own above the limit it shows). */
static int highest_fd_below(rlim_t limit) {
  DIR *d = opendir("/proc/self/fd");
  assert_non_null(d);
  int top = dirfd(d);
  for (struct dirent *de; (de = readdir(d)) != NULL;) {
    int fd = atoi(de->d_name);
    if (de->d_name[0] != '.' && fd > top && (rlim_t)fd < limit)
      top = fd;
  }
  closedir(d);
  return top;
}

struct table_full {
  int base; /* the descriptor copied into the holes */
  struct rlimit saved;
  int fds[1024];
  int n;
};

/* Leaves no descriptor free: the soft limit just above the highest open
 * one, and the holes below it filled. */
static void fill_descriptor_table(struct table_full *t) {
  t->base = open("/dev/null", O_RDONLY | O_CLOEXEC);
  assert_true(t->base >= 0);
  assert_int_equal(getrlimit(RLIMIT_NOFILE, &t->saved), 0);
  struct rlimit low = t->saved;
  low.rlim_cur = (rlim_t)highest_fd_below(t->saved.rlim_cur) + 1;
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
  for (t->n = 0; t->n < 1024; t->n++)
    if ((t->fds[t->n] = dup(t->base)) < 0)
      break;
  assert_int_equal(errno, EMFILE);
}

static void empty_descriptor_table(struct table_full *t) {
  while (t->n > 0)
    close(t->fds[--t->n]);
  close(t->base);
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &t->saved), 0);
}

struct blocking_read {
  uvs_stream *s;
  int rc;
  void *data;
  size_t len;
};

static void *blocking_read_main(void *arg) {
  struct blocking_read *r = arg;
  r->rc = uvs_stream_read(r->s, 100, 3000, &r->data, &r->len);
  return NULL;
}

/* A thread that cannot make its wake-up eventfd (EMFILE) must still get
 * its bytes: it slept on its condition variable while nobody read the
 * socket (ETIMEDOUT with 5 bytes waiting; forever with no timeout). The
 * read runs on a new thread, which has no eventfd yet. */
static void test_read_without_a_wake_up_descriptor(void **state) {
  (void)state;
  struct pair p;
  pair_open(&p, 1, 0);
  peer_send(&p, "hello");
  struct table_full t;
  fill_descriptor_table(&t);
  struct blocking_read r = {.s = p.s};
  pthread_t th;
  int created = pthread_create(&th, NULL, blocking_read_main, &r);
  if (created == 0)
    pthread_join(th, NULL);
  empty_descriptor_table(&t);
  assert_int_equal(created, 0);
  assert_uvs_rc(r.rc, 0);
  assert_bytes_equal(r.data, r.len, "hello");
  uvs_free(r.data);
  pair_close(&p);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest warm_up[] = {cmocka_unit_test(warm_up_main_thread)};
  if (cmocka_run_group_tests_name("warm-up", warm_up, NULL, NULL) != 0)
    return 1;
  const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
      T(test_mode_needs_io_threads),
      T(test_default_is_loop_reading),
      T(test_option_key_is_known),
      T(test_reads_of_every_kind),
      T(test_large_transfer_loses_nothing),
      T(test_read_into_reads_in_place),
      T(test_read_into_large_transfer),
      T(test_limit_overrun_reports_consumed),
      T(test_timeout_consumes_nothing),
      T(test_zero_timeout_polls_once),
      T(test_eof_and_incomplete),
      T(test_peer_reset_is_an_error),
      T(test_close_ends_a_blocked_read),
      T(test_engine_free_ends_a_blocked_read),
      T(test_cancel_ends_a_waiting_op),
      T(test_op_timeout_ends_a_direct_wait),
      T(test_queue_op_hands_reading_to_the_loop),
      T(test_pause_hands_a_blocked_read_to_the_loop),
      T(test_read_pipe),
      T(test_read_without_a_wake_up_descriptor),
#undef T
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
