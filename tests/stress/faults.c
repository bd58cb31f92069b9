/*
 * faults.c - peers that reset, servers closed and aborted mid-transfer, and
 * engines shut down with operations pending in every state.
 *
 * Each round runs every scenario once, alternating io_threads 0, 1 and 2,
 * operations bound to a completion queue and unbound ones. For every
 * operation started: it completes exactly once (a queue never delivers it
 * twice, nor after it was freed), with the documented error; nothing hangs
 * (every wait is bounded and a watchdog guards each round); after each
 * scenario the engine is freed and /proc/self/fd is back to where it was.
 *
 *   reset_read     peer sends part of a readexactly (the server has them
 *                  buffered), then RST: ECONNRESET
 *   reset_write    peer stops reading, the server's drain waits, peer RSTs:
 *                  the drain fails (ECONNRESET/EPIPE), later writes are
 *                  dropped (0, as asyncio), wait_closed reports the error
 *   reset_connect  a uvstreams client whose server (plain socket) resets
 *                  in the middle of a transfer
 *   server_close   close the server while clients are mid-transfer: the
 *                  accepted connections finish their exchange intact, the
 *                  pending accept completes with UVS_ECLOSED
 *   abort_clients  abort the server's clients mid-transfer: every pending
 *                  operation completes once, every stream closes
 *   shutdown       uvs_engine_free with a pending accept, server
 *                  wait_closed, readline (with a timeout armed), partial
 *                  readexactly, drain, stream wait_closed and a connect:
 *                  all complete once with UVS_ESHUTDOWN (the connect with
 *                  whatever it reached first)
 *   op_churn       ops freed while a feeder thread completes them: no
 *                  delivery of a freed op, none twice
 */
#include "echo.h"
#include "stress.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- exactly-once bookkeeping ------------------------------------------- */

#define MAX_OPS 64

typedef struct tracked {
  uvs_op *op;
  const char *what;
  int started_pending; /* *_start returned UVS_PENDING */
  int delivered;       /* times the queue delivered it */
  int freed;
} tracked;

typedef struct scene {
  uvs_engine *e;
  uvs_cq *cq; /* NULL: unbound ops */
  int threads;
  tracked ops[MAX_OPS];
  int nops;
} scene;

static tracked *new_op(scene *sc, const char *what) {
  tracked *t = &sc->ops[sc->nops];
  memset(t, 0, sizeof *t);
  t->what = what;
  ST_RC(uvs_op_new(sc->cq, (uint64_t)sc->nops, &t->op), 0, "op_new");
  sc->nops++;
  return t;
}

static void started(tracked *t, int rc) {
  if (rc == UVS_PENDING)
    t->started_pending = 1;
  else if (rc != UVS_COMPLETED)
    st_fail("%s: start returned %s (%s)", t->what, uvs_err_name(rc),
            uvs_last_error());
}

/* Collects queue deliveries for up to ms; checks each is a live, pending-
 * started op of this scene delivered for the first time. */
static void collect(scene *sc, int64_t ms) {
  if (!sc->cq)
    return;
  int64_t end = st_now_ms() + ms;
  do {
    uvs_op *got[16];
    int n = uvs_cq_wait(sc->cq, 10, got, 16);
    if (n == UVS_ESHUTDOWN) /* the engine is gone: what is queued, then 0 */
      n = uvs_cq_poll(sc->cq, got, 16);
    if (n < 0) {
      st_fail("cq_wait: %s", uvs_err_name(n));
      return;
    }
    for (int i = 0; i < n; i++) {
      uint64_t tag = uvs_op_tag(got[i]);
      if (tag >= (uint64_t)sc->nops || sc->ops[tag].op != got[i]) {
        st_fail("the queue delivered an unknown or freed op (tag %llu)",
                (unsigned long long)tag);
        continue;
      }
      tracked *t = &sc->ops[tag];
      if (!t->started_pending)
        st_fail("%s: delivered although it completed inline", t->what);
      if (++t->delivered > 1)
        st_fail("%s: delivered twice", t->what);
      st_add_ops(1);
    }
  } while (st_now_ms() < end);
}

/* Waits until op t is done (bounded); returns its result. */
static int result_of(scene *sc, tracked *t, int64_t ms) {
  int64_t end = st_now_ms() + ms;
  while (uvs_op_is_done(t->op) != 1 && st_now_ms() < end) {
    if (sc->cq)
      collect(sc, 5);
    else
      uvs_op_wait(t->op, 10);
  }
  if (uvs_op_is_done(t->op) != 1) {
    st_fail("%s: still pending after %lld ms", t->what, (long long)ms);
    return 1;
  }
  if (sc->cq && t->started_pending && !t->delivered)
    collect(sc, 200);
  return uvs_op_result(t->op);
}

static void expect_result(scene *sc, tracked *t, int64_t ms, int a, int b) {
  int r = result_of(sc, t, ms);
  if (r != a && r != b)
    st_fail("%s (io_threads %d, %s): completed with %s, expected %s%s%s",
            t->what, sc->threads, sc->cq ? "cq" : "no cq", uvs_err_name(r),
            uvs_err_name(a), a != b ? " or " : "",
            a != b ? uvs_err_name(b) : "");
}

static void scene_begin(scene *sc, int threads, int use_cq) {
  memset(sc, 0, sizeof *sc);
  sc->threads = threads;
  sc->e = st_engine(threads);
  if (use_cq)
    ST_RC(uvs_cq_new(sc->e, &sc->cq), 0, "cq_new");
}

/* Frees everything; checks exactly-once for every op. */
static void scene_end(scene *sc) {
  collect(sc, 50);
  for (int i = 0; i < sc->nops; i++) {
    tracked *t = &sc->ops[i];
    if (t->freed)
      continue;
    if (uvs_op_is_done(t->op) != 1)
      st_fail("%s: never completed", t->what);
    if (sc->cq && t->started_pending && t->delivered != 1)
      st_fail("%s: delivered %d times", t->what, t->delivered);
    ST_RC(uvs_op_free(t->op), 0, "op_free");
  }
  if (sc->cq) {
    uvs_op *got[4];
    ST_RC(uvs_cq_poll(sc->cq, got, 4), 0,
          "deliveries after the ops were freed");
    ST_RC(uvs_cq_free(sc->cq), 0, "cq_free");
  }
  if (sc->e)
    ST_RC(uvs_engine_free(sc->e), 0, "engine_free");
}

static uvs_stream *accept_one(uvs_server *srv) {
  uvs_stream *s = NULL;
  if (!ST_RC(uvs_server_accept(srv, 5000, &s), 0, "accept"))
    return NULL;
  return s;
}

/* ---- scenarios --------------------------------------------------------------
 */

static void reset_read(int threads, int use_cq) {
  scene sc;
  scene_begin(&sc, threads, use_cq);
  int port;
  uvs_server *srv = st_listen(sc.e, NULL, &port);
  int fd = st_connect_blocking(port);
  uvs_stream *s = accept_one(srv);
  if (fd < 0 || !s)
    goto out;
  tracked *rd = new_op(&sc, "reset_read: readexactly");
  tracked *wc = new_op(&sc, "reset_read: wait_closed");
  started(rd, uvs_stream_readexactly_start(s, 1000, rd->op));
  started(wc, uvs_stream_wait_closed_start(s, wc->op));
  st_send_all(fd, "0123456789", 10, 1000);
  /* the read is in the middle: 10 of its 1000 bytes are in the buffer */
  int64_t until = st_now_ms() + 5000;
  while (st_get_int(s, "read_buffer_size") < 10 && st_now_ms() < until) {
    if (threads == 0)
      uvs_engine_run(sc.e);
    st_sleep_ms(1);
  }
  ST_CHECK(st_get_int(s, "read_buffer_size") == 10,
           "reset_read: bytes not seen");
  st_close_rst(fd);
  fd = -1;
  expect_result(&sc, rd, 5000, UVS_ECONNRESET, UVS_ECONNRESET);
  expect_result(&sc, wc, 5000, UVS_ECONNRESET, UVS_ECONNRESET);
  ST_RC(uvs_stream_error(s), UVS_ECONNRESET, "reset_read: stored error");
  ST_RC(uvs_stream_write(s, "x", 1), 0, "reset_read: write after (dropped)");
  void *d = NULL;
  size_t len = 0;
  ST_RC(uvs_stream_read(s, 1, 100, &d, &len), UVS_ECONNRESET,
        "reset_read: read after");
  uvs_free(d);
out:
  if (fd >= 0)
    close(fd);
  if (s)
    ST_RC(uvs_stream_free(s), 0, "stream_free");
  ST_RC(uvs_server_free(srv), 0, "server_free");
  scene_end(&sc);
}

static void reset_write(int threads, int use_cq) {
  scene sc;
  scene_begin(&sc, threads, use_cq);
  int port;
  uvs_server *srv = st_listen(sc.e, NULL, &port);
  int fd = st_connect_blocking(port);
  uvs_stream *s = accept_one(srv);
  if (fd < 0 || !s)
    goto out;
  st_set_bufs(fd, 4096, 0);
  st_set_bufs((int)st_get_int(s, "fd"), 0, 8192);
  static char big[1 << 20];
  tracked *dr = new_op(&sc, "reset_write: drain");
  tracked *wc = new_op(&sc, "reset_write: wait_closed");
  started(wc, uvs_stream_wait_closed_start(s, wc->op));
  /* fill: the kernel buffers (whatever their size), then ours above high */
  int rc = UVS_COMPLETED;
  for (int i = 0; i < 64 && rc == UVS_COMPLETED; i++) {
    ST_RC(uvs_stream_write(s, big, sizeof big), 0, "reset_write: write");
    rc = uvs_stream_drain_start(s, dr->op);
    if (rc == UVS_COMPLETED)
      ST_RC(uvs_op_result(dr->op), 0, "drain");
  }
  if (rc != UVS_PENDING) {
    st_fail("reset_write: the drain never had to wait (%s)", uvs_err_name(rc));
    goto out;
  }
  dr->started_pending = 1;
  st_close_rst(fd);
  fd = -1;
  expect_result(&sc, dr, 5000, UVS_ECONNRESET, UVS_EPIPE);
  expect_result(&sc, wc, 5000, UVS_ECONNRESET, UVS_EPIPE);
  ST_RC(uvs_stream_write(s, "x", 1), 0, "reset_write: write after (dropped)");
  tracked *d2 = new_op(&sc, "reset_write: drain after");
  rc = uvs_stream_drain_start(s, d2->op);
  ST_RC(rc, UVS_COMPLETED, "reset_write: drain after the reset");
  int r = uvs_op_result(d2->op);
  ST_CHECK(r == UVS_ECONNRESET || r == UVS_EPIPE,
           "reset_write: drain after the reset: %s", uvs_err_name(r));
out:
  if (fd >= 0)
    close(fd);
  if (s)
    ST_RC(uvs_stream_free(s), 0, "stream_free");
  ST_RC(uvs_server_free(srv), 0, "server_free");
  scene_end(&sc);
}

/* A uvstreams client, a plain-socket server that resets mid-transfer. */
static void reset_connect(int threads, int use_cq) {
  scene sc;
  scene_begin(&sc, threads, use_cq);
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(0x7f000001);
  socklen_t sl = sizeof sin;
  if (bind(lfd, (struct sockaddr *)&sin, sizeof sin) != 0 ||
      listen(lfd, 8) != 0 ||
      getsockname(lfd, (struct sockaddr *)&sin, &sl) != 0) {
    st_fail("reset_connect: listen: %s", strerror(errno));
    close(lfd);
    scene_end(&sc);
    return;
  }
  tracked *cn = new_op(&sc, "reset_connect: connect");
  started(cn, uvs_connect_tcp_start(sc.e, "127.0.0.1", ntohs(sin.sin_port),
                                    NULL, cn->op));
  int pfd = -1;
  struct pollfd pf = {lfd, POLLIN, 0};
  if (poll(&pf, 1, 5000) == 1)
    pfd = accept(lfd, NULL, NULL);
  expect_result(&sc, cn, 5000, 0, 0);
  uvs_stream *s = NULL;
  if (uvs_op_is_done(cn->op) == 1 && uvs_op_result(cn->op) == 0)
    ST_RC(uvs_op_take_stream(cn->op, &s), 0, "take_stream");
  if (!s || pfd < 0)
    goto out;
  tracked *rd = new_op(&sc, "reset_connect: readline");
  /* a transfer in both directions, then the RST */
  ST_RC(uvs_stream_write(s, "ping\n", 5), 0, "write");
  char buf[5];
  ST_CHECK(st_recv_exact(pfd, buf, 5, 2000) == 0, "reset_connect: no ping");
  st_send_all(pfd, "pong\npartial", 12, 1000);
  void *d = NULL;
  size_t len = 0;
  ST_RC(uvs_stream_readline(s, 2000, &d, &len), 0, "readline");
  ST_CHECK(len == 5 && memcmp(d, "pong\n", 5) == 0, "reset_connect: pong");
  uvs_free(d);
  started(rd, uvs_stream_readline_start(s, rd->op));
  st_close_rst(pfd);
  pfd = -1;
  expect_result(&sc, rd, 5000, UVS_ECONNRESET, UVS_ECONNRESET);
  ST_RC(uvs_stream_wait_closed(s, 5000), UVS_ECONNRESET, "wait_closed");
out:
  if (pfd >= 0)
    close(pfd);
  close(lfd);
  if (s)
    ST_RC(uvs_stream_free(s), 0, "stream_free");
  scene_end(&sc);
}

/* K raw clients exchanging with the echo server; returns how many finished
 * their whole exchange intact. mode 0: server_close mid-way (they must all
 * finish), 1: abort_clients mid-way (they may not). */
static void mid_transfer(int threads, int mode) {
  enum { K = 8, ROUNDS = 40, MSG = 4096 };
  uvs_engine *e = st_engine(threads);
  st_echo *x = st_echo_start(e, NULL, mode == 1);
  int port = st_echo_port(x);
  int fd[K];
  uint64_t seed = 42;
  static char out[MSG], in[MSG];
  int ok = 0, broken = 0;
  for (int i = 0; i < K; i++)
    fd[i] = st_connect_blocking(port);
  for (int r = 0; r < ROUNDS; r++) {
    if (r == ROUNDS / 2) {
      if (mode == 0) {
        ST_RC(uvs_server_close(st_echo_server(x)), 0, "server_close");
        /* no new connections once closed */
        int late = -1;
        for (int i = 0; i < 50 && late < 0; i++) {
          late = st_connect_blocking(port);
          if (late >= 0) {
            /* accepted by the kernel before the close took effect: it
             * must be closed by the server, never served */
            char c;
            struct pollfd pf = {late, POLLIN, 0};
            int pr = poll(&pf, 1, 2000);
            ssize_t k = pr == 1 ? recv(late, &c, 1, 0) : 1;
            ST_CHECK(k <= 0, "server_close: a connection made after the close "
                             "was served");
            close(late);
            late = -1;
            st_sleep_ms(10);
          } else {
            break;
          }
        }
      } else {
        ST_RC(uvs_server_abort_clients(st_echo_server(x)), 0, "abort_clients");
      }
    }
    for (int i = 0; i < K; i++) {
      if (fd[i] < 0)
        continue;
      st_fill_line(&seed, out, MSG);
      if (st_send_all(fd[i], out, MSG, 2000) != 0 ||
          st_recv_exact(fd[i], in, MSG, 2000) != 0) {
        ST_CHECK(mode == 1, "server_close: client %d broke in round %d", i, r);
        close(fd[i]);
        fd[i] = -1;
        broken++;
        continue;
      }
      if (memcmp(in, out, MSG) != 0)
        st_fail("mid_transfer: echo differs");
      st_add_bytes(2 * MSG);
    }
  }
  for (int i = 0; i < K; i++)
    if (fd[i] >= 0) {
      ok++;
      shutdown(fd[i], SHUT_WR);
      char c;
      struct pollfd pf = {fd[i], POLLIN, 0};
      poll(&pf, 1, 2000);
      ST_CHECK(recv(fd[i], &c, 1, 0) <= 0, "mid_transfer: data after EOF");
      close(fd[i]);
    }
  if (mode == 0)
    ST_CHECK(ok == K, "server_close: %d of %d clients finished", ok, K);
  if (mode == 1)
    ST_CHECK(broken == K, "abort_clients: %d of %d clients noticed", broken, K);
  int64_t errors = 0;
  st_echo_stop(x, &errors);
  ST_RC(uvs_engine_free(e), 0, "engine_free");
}

static void shutdown_pending(int threads, int use_cq) {
  scene sc;
  scene_begin(&sc, threads, use_cq);
  int port;
  uvs_server *srv = st_listen(sc.e, NULL, &port);
  uvs_server *srv2 = st_listen(sc.e, NULL, &(int){0});
  int fd1 = st_connect_blocking(port);
  int fd2 = st_connect_blocking(port);
  int fd3 = st_connect_blocking(port);
  uvs_stream *s1 = accept_one(srv), *s2 = accept_one(srv),
             *s3 = accept_one(srv);
  if (fd1 < 0 || fd2 < 0 || fd3 < 0 || !s1 || !s2 || !s3) {
    st_fail("shutdown: setup");
    return;
  }
  st_set_bufs(fd3, 4096, 0);
  st_set_bufs((int)st_get_int(s3, "fd"), 0, 8192);
  tracked *acc = new_op(&sc, "shutdown: accept");
  tracked *swc = new_op(&sc, "shutdown: server wait_closed");
  tracked *rl = new_op(&sc, "shutdown: readline (timeout armed)");
  tracked *rx = new_op(&sc, "shutdown: partial readexactly");
  tracked *dr = new_op(&sc, "shutdown: drain");
  tracked *wc = new_op(&sc, "shutdown: stream wait_closed");
  tracked *cn = new_op(&sc, "shutdown: connect");
  started(acc, uvs_server_accept_start(srv2, acc->op));
  started(swc, uvs_server_wait_closed_start(srv2, swc->op));
  uvs_op_set_timeout(rl->op, 60000);
  started(rl, uvs_stream_readline_start(s1, rl->op));
  st_send_all(fd2, "abc", 3, 1000);
  started(rx, uvs_stream_readexactly_start(s2, 10, rx->op));
  static char big[1 << 20];
  int rc = UVS_COMPLETED;
  for (int i = 0; i < 64 && rc == UVS_COMPLETED; i++) {
    uvs_stream_write(s3, big, sizeof big);
    rc = uvs_stream_drain_start(s3, dr->op);
  }
  started(dr, rc);
  started(wc, uvs_stream_wait_closed_start(s1, wc->op));
  started(cn, uvs_connect_tcp_start(sc.e, "127.0.0.1", port, NULL, cn->op));
  /* everything that can be pending is; a little time for the partial read
   * to see its bytes */
  st_sleep_ms(threads ? 20 : 0);
  if (threads == 0)
    uvs_engine_run(sc.e);
  ST_CHECK(uvs_op_is_done(acc->op) == 0 && uvs_op_is_done(rl->op) == 0 &&
               uvs_op_is_done(rx->op) == 0 && uvs_op_is_done(dr->op) == 0 &&
               uvs_op_is_done(wc->op) == 0 && uvs_op_is_done(swc->op) == 0,
           "shutdown: an op finished before the shutdown");
  ST_RC(uvs_engine_free(sc.e), 0, "engine_free");
  sc.e = NULL;
  /* All done now (engine_free blocks until the loops stopped). */
  expect_result(&sc, acc, 1000, UVS_ESHUTDOWN, UVS_ESHUTDOWN);
  expect_result(&sc, swc, 1000, UVS_ESHUTDOWN, UVS_ESHUTDOWN);
  expect_result(&sc, rl, 1000, UVS_ESHUTDOWN, UVS_ESHUTDOWN);
  expect_result(&sc, rx, 1000, UVS_ESHUTDOWN, UVS_ESHUTDOWN);
  expect_result(&sc, dr, 1000, UVS_ESHUTDOWN, UVS_ESHUTDOWN);
  expect_result(&sc, wc, 1000, UVS_ESHUTDOWN, UVS_ESHUTDOWN);
  int c = result_of(&sc, cn, 1000);
  if (c == 0) { /* it won: the stream must be usable as a closed stream */
    uvs_stream *s = NULL;
    if (ST_RC(uvs_op_take_stream(cn->op, &s), 0, "take_stream"))
      ST_RC(uvs_stream_free(s), 0, "stream_free");
  } else {
    ST_CHECK(c == UVS_ESHUTDOWN || c == UVS_ECANCELED,
             "shutdown: connect completed with %s", uvs_err_name(c));
  }
  /* Calls on the objects of a freed engine fail cleanly. */
  ST_CHECK(uvs_stream_write(s1, "x", 1) < 0, "write after shutdown succeeded");
  tracked *late = new_op(&sc, "shutdown: read after");
  rc = uvs_stream_read_start(s1, 1, late->op);
  ST_CHECK(rc == UVS_COMPLETED && uvs_op_result(late->op) == UVS_ESHUTDOWN,
           "read after shutdown: %s / %s", uvs_err_name(rc),
           uvs_err_name(uvs_op_result(late->op)));
  ST_RC(uvs_stream_free(s1), 0, "stream_free");
  ST_RC(uvs_stream_free(s2), 0, "stream_free");
  ST_RC(uvs_stream_free(s3), 0, "stream_free");
  ST_RC(uvs_server_free(srv), 0, "server_free");
  ST_RC(uvs_server_free(srv2), 0, "server_free");
  close(fd1);
  close(fd2);
  close(fd3);
  scene_end(&sc);
}

/* ---- op churn: frees racing completions -----------------------------------
 */

enum { CHURN_N = 16 };

typedef struct churn {
  uvs_stream *r[CHURN_N];
  atomic_int stop;
} churn;

static void *churn_feeder(void *arg) {
  churn *ch = arg;
  unsigned i = 0;
  while (!atomic_load(&ch->stop)) {
    uvs_reader_feed_data(ch->r[i++ % CHURN_N], "x", 1);
    if (i % CHURN_N == 0)
      st_sleep_ms(1);
  }
  return NULL;
}

/* Op i reads one byte at a time from reader i, bound to one queue; a feeder
 * thread completes the reads while this thread restarts ops without polling
 * (an op can complete twice before the queue is polled), frees them in every
 * state and polls. A delivery must always be the live op of its slot. */
static void op_churn(int threads, int64_t ms) {
  uvs_engine *e = st_engine(threads ? threads : 1);
  uvs_cq *cq = NULL;
  ST_RC(uvs_cq_new(e, &cq), 0, "cq_new");
  churn ch;
  memset(&ch, 0, sizeof ch);
  uvs_op *ops[CHURN_N];
  uint64_t gen[CHURN_N];
  for (int i = 0; i < CHURN_N; i++) {
    ST_RC(uvs_reader_new(e, NULL, &ch.r[i]), 0, "reader_new");
    gen[i] = (uint64_t)i + CHURN_N;
    ST_RC(uvs_op_new(cq, gen[i], &ops[i]), 0, "op_new");
  }
  pthread_t t;
  pthread_create(&t, NULL, churn_feeder, &ch);
  uint64_t seed = 7, next_gen = 2;
  int64_t end = st_now_ms() + ms, deliveries = 0, stale = 0;
  while (st_now_ms() < end) {
    int i = (int)(st_rand(&seed) % CHURN_N);
    int what = (int)(st_rand(&seed) % 8);
    if (what == 0) { /* free: pending, done, or delivered but not polled */
      ST_RC(uvs_op_free(ops[i]), 0, "op_free");
      gen[i] = next_gen++ * CHURN_N + (uint64_t)i;
      ST_RC(uvs_op_new(cq, gen[i], &ops[i]), 0, "op_new");
    } else if (what < 3) {
      uvs_op *got[8];
      int n = uvs_cq_poll(cq, got, 8);
      for (int k = 0; k < n; k++) {
        uint64_t tag = uvs_op_tag(got[k]);
        int idx = (int)(tag % CHURN_N);
        if (tag == 0) {
          if (stale++ == 0)
            st_fail("op_churn: the queue delivered a freed op (stale handle, "
                    "uvs_op_is_done = %s)",
                    uvs_err_name(uvs_op_is_done(got[k])));
        } else if (ops[idx] != got[k] || gen[idx] != tag) {
          st_fail("op_churn: a delivery is not the live op of its slot");
        }
        deliveries++;
      }
    } else { /* (re)start without polling first */
      int rc = uvs_stream_read_start(ch.r[i], 1, ops[i]);
      ST_CHECK(rc == UVS_PENDING || rc == UVS_COMPLETED || rc == UVS_EOPBUSY,
               "op_churn: read_start: %s", uvs_err_name(rc));
    }
  }
  atomic_store(&ch.stop, 1);
  pthread_join(t, NULL);
  for (int i = 0; i < CHURN_N; i++) {
    ST_RC(uvs_op_free(ops[i]), 0, "op_free");
    ST_RC(uvs_stream_free(ch.r[i]), 0, "stream_free");
  }
  uvs_op *got[8];
  int n = uvs_cq_poll(cq, got, 8);
  ST_CHECK(n == 0, "op_churn: %d deliveries after every op was freed", n);
  if (stale)
    st_figure("faults.stale_deliveries", "%lld", (long long)stale);
  ST_RC(uvs_cq_free(cq), 0, "cq_free");
  ST_RC(uvs_engine_free(e), 0, "engine_free");
  st_add_ops(deliveries);
}

/* One round: every scenario, with io_threads r % 3 and a queue on odd
 * r / 3. */
void st_faults_round(int r, int quick) {
  int threads = r % 3;
  int use_cq = (r / 3) % 2;
  reset_read(threads, use_cq);
  reset_write(threads, use_cq);
  reset_connect(threads, use_cq);
  mid_transfer(threads, 0);
  mid_transfer(threads, 1);
  shutdown_pending(threads, use_cq);
  op_churn(threads, quick ? 100 : 500);
}

int st_faults(const st_args *a) {
  int rounds = (int)(a->rounds > 0 ? a->rounds : a->quick ? 6 : 60);
  printf("== faults: %d rounds of every scenario\n", rounds);
  st_raise_nofile(4096);
  st_warm_up();
  int fds_before = st_count_fds();
  int64_t t0 = st_now_ms();
  for (int r = 0; r < rounds; r++) {
    char phase[64];
    snprintf(phase, sizeof phase, "faults round %d", r);
    st_watchdog_arm(120, phase);
    st_faults_round(r, a->quick);
    st_expect_fds(fds_before, 5000, phase);
    st_watchdog_disarm();
    if (st_failures())
      break;
  }
  st_figure("faults.rounds", "%d", rounds);
  st_figure("faults.seconds", "%.2f", (st_now_ms() - t0) / 1000.0);
  st_figure("faults.operations_completed", "%lld", (long long)st_ops());
  st_figure("faults.bytes_moved", "%lld", (long long)st_bytes());
  st_figure("faults.peak_rss_kb", "%lld", (long long)st_hwm_kb());
  return st_failures() ? 1 : 0;
}
