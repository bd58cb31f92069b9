/*
 * scenarios.c - the torture scenarios: short programs over the C API that
 * cover the engine (host-driven and threaded engines, connect + echo +
 * close, a server accepting, TLS, blocking reads with timeouts, a
 * completion-queue loop, engine shutdown with operations pending).
 *
 * Design: every uvs_* call goes through LIB(), which marks the thread as
 * inside the library for inject.cc, so only the library's allocations,
 * threads and descriptors are failed, never the driver's. A scenario runs
 * once without injection (every step must then succeed) and once per
 * injection point with one failure armed (runner.c). With a failure armed,
 * any step may fail, but only with a negative code that is not
 * UVS_EBADHANDLE or UVS_EINTERNAL; the scenario then takes its cleanup path
 * (everything is freed, the engine last). Every operation started on a
 * completion queue is tracked by its tag: it must be delivered exactly once,
 * before or at the engine's shutdown, and one completed at once
 * (UVS_COMPLETED) never. Waits are bounded: a step that cannot finish
 * because the fault killed its peer gives up after STALL_MS once the fault
 * has fired; before that, SLOW_MS (a loaded machine) means a hang.
 */
#include "scenarios.h"
#include "inject.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LIB(call)                                                              \
  ({                                                                           \
    torture_enter();                                                           \
    __typeof__(call) r_ = (call);                                              \
    torture_leave();                                                           \
    r_;                                                                        \
  })

#define STALL_MS 1500
#define SLOW_MS 30000
#define MAX_TAGS 32

const char *torture_cert_file; /* PEM: certificate and key (runner sets) */

static int violations;

static void violation(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "VIOLATION: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  violations++;
}

/* A step's result: 1 to go on, 0 to clean up. */
static int ok(int rc, const char *what) {
  if (rc >= 0)
    return 1;
  if (!torture_fired())
    violation("%s failed with %s (%s) and no fault was injected", what,
              uvs_err_name(rc), LIB(uvs_last_error()));
  else if (rc == UVS_EBADHANDLE || rc == UVS_EINTERNAL)
    violation("%s failed with %s after the fault: not a resource error", what,
              uvs_err_name(rc));
  return 0;
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- operations on a completion queue ------------------------------------ */

typedef struct tracker {
  uvs_cq *cq;
  uvs_op *ops[MAX_TAGS];
  int started[MAX_TAGS];   /* 1: pending after *_start */
  int delivered[MAX_TAGS]; /* deliveries from the queue */
  int instant[MAX_TAGS];   /* UVS_COMPLETED from *_start */
} tracker;

static uvs_op *new_op(tracker *t, int tag) {
  uvs_op *op = NULL;
  if (!ok(LIB(uvs_op_new(t->cq, (uint64_t)tag, &op)), "uvs_op_new"))
    return NULL;
  t->ops[tag] = op;
  return op;
}

/* Records what a *_start returned; 1 if the op is running or done. */
static int started(tracker *t, int tag, int rc, const char *what) {
  if (rc == UVS_PENDING)
    t->started[tag] = 1;
  else if (rc == UVS_COMPLETED)
    t->instant[tag] = 1;
  return ok(rc, what);
}

static int finished(const tracker *t, int tag) {
  return t->instant[tag] || t->delivered[tag] > 0;
}

static void deliver(tracker *t, uvs_op *op) {
  uint64_t tag = LIB(uvs_op_tag(op));
  if (tag >= MAX_TAGS || t->ops[tag] != op) {
    violation("delivery of an unknown op (tag %llu)", (unsigned long long)tag);
    return;
  }
  if (t->instant[tag])
    violation("op %d completed at once and was delivered too", (int)tag);
  else if (!t->started[tag])
    violation("op %d delivered but never started", (int)tag);
  if (++t->delivered[tag] > 1)
    violation("op %d delivered %d times", (int)tag, t->delivered[tag]);
}

/* Pumps the queue until every tag in tags[] is finished or the step stalls.
 * Returns 1 if all finished. */
static int pump(tracker *t, const int *tags, int ntags) {
  int64_t start = now_ms();
  for (;;) {
    int all = 1;
    for (int i = 0; i < ntags; i++)
      if (t->started[tags[i]] && !finished(t, tags[i]))
        all = 0;
    if (all)
      return 1;
    int64_t waited = now_ms() - start;
    if (waited > SLOW_MS || (torture_fired() && waited > STALL_MS)) {
      if (!torture_fired())
        violation("a step did not finish in %d ms", SLOW_MS);
      return 0;
    }
    uvs_op *ops[8];
    int n = LIB(uvs_cq_wait(t->cq, 50, ops, 8));
    if (n < 0 && !ok(n, "uvs_cq_wait"))
      return 0;
    for (int i = 0; i < n; i++)
      deliver(t, ops[i]);
  }
}

/* After the engine is gone: collects what is left, checks exactly once. */
static void final_check(tracker *t) {
  uvs_op *ops[8];
  int n;
  while ((n = LIB(uvs_cq_poll(t->cq, ops, 8))) > 0)
    for (int i = 0; i < n; i++)
      deliver(t, ops[i]);
  for (int tag = 0; tag < MAX_TAGS; tag++) {
    if (t->started[tag] && t->delivered[tag] != 1)
      violation("op %d: started, delivered %d times", tag, t->delivered[tag]);
    if (t->started[tag] && t->ops[tag] && LIB(uvs_op_is_done(t->ops[tag])) != 1)
      violation("op %d still pending after the engine was freed", tag);
  }
}

static void free_ops(tracker *t) {
  for (int tag = 0; tag < MAX_TAGS; tag++)
    if (t->ops[tag])
      LIB(uvs_op_free(t->ops[tag]));
  if (t->cq)
    LIB(uvs_cq_free(t->cq));
}

/* ---- building blocks ----------------------------------------------------- */

static uvs_engine *make_engine(int io_threads) {
  uvs_options *o = NULL;
  uvs_engine *e = NULL;
  if (ok(LIB(uvs_options_new(&o)), "uvs_options_new") &&
      ok(LIB(uvs_options_set_int(o, "io_threads", io_threads)), "set_int"))
    ok(LIB(uvs_engine_new(o, &e)), "uvs_engine_new");
  LIB(uvs_options_free(o));
  return e;
}

static void free_engine(uvs_engine *e) {
  if (e && LIB(uvs_engine_free(e)) != 0)
    violation("uvs_engine_free failed");
}

/* Options with a TLS configuration of the given side (NULL: plain). */
static uvs_options *tls_options(int tls, int side) {
  uvs_options *o = NULL;
  uvs_tls_config *c = NULL;
  if (!tls)
    return NULL;
  if (!ok(LIB(uvs_options_new(&o)), "uvs_options_new"))
    return NULL;
  int good = ok(LIB(uvs_tls_config_new(side, &c)), "uvs_tls_config_new");
  if (good && side == UVS_TLS_SERVER)
    good =
        ok(LIB(uvs_tls_config_load_cert_file(c, torture_cert_file, NULL, NULL)),
           "load_cert_file");
  if (good && side == UVS_TLS_CLIENT)
    good = ok(LIB(uvs_tls_config_set_verify(c, UVS_TLS_VERIFY_NONE)),
              "set_verify");
  if (good)
    good = ok(LIB(uvs_options_set_tls(o, c)), "uvs_options_set_tls");
  LIB(uvs_tls_config_free(c));
  if (!good) {
    LIB(uvs_options_free(o));
    return NULL;
  }
  return o;
}

static uvs_server *listen_local(uvs_engine *e, int tls, int *port) {
  uvs_server *srv = NULL;
  uvs_options *o = tls_options(tls, UVS_TLS_SERVER);
  if (tls && !o)
    return NULL;
  char *host = NULL;
  if (ok(LIB(uvs_server_listen_tcp(e, "127.0.0.1", 0, o, &srv)), "listen") &&
      !ok(LIB(uvs_server_address(srv, 0, &host, port)), "server_address")) {
    LIB(uvs_server_free(srv));
    srv = NULL;
  }
  uvs_free(host); /* free() is never failed */
  LIB(uvs_options_free(o));
  return srv;
}

static int expect_bytes(int rc, const void *data, size_t len, const char *want,
                        const char *what);

/* The bytes of a completed read op, compared with want. */
static int expect_op_bytes(uvs_op *op, const char *want, const char *what) {
  const void *data = NULL;
  size_t len = 0;
  int rc = LIB(uvs_op_read_result(op, &data, &len));
  return expect_bytes(rc, data, len, want, what);
}

static int expect_bytes(int rc, const void *data, size_t len, const char *want,
                        const char *what) {
  if (!ok(rc, what))
    return 0;
  if (len != strlen(want) || memcmp(data, want, len) != 0) {
    violation("%s: wrong bytes (%zu)", what, len);
    return 0;
  }
  return 1;
}

/* ---- scenarios: connections driven through a completion queue ------------ */

enum {
  T_ACCEPT = 1,
  T_CONNECT,
  T_SRV_READ,
  T_CLI_READ,
  T_SRV_CLOSED,
  T_CLI_CLOSED,
  T_DRAIN
};

/* One connection, both ends in the engine: connect, accept, a line each
 * way, close, wait_closed. */
static void cq_echo(uvs_engine *e, tracker *t, int tls) {
  int port = 0;
  uvs_stream *srv_s = NULL, *cli_s = NULL;
  uvs_options *co = NULL;
  uvs_server *srv = listen_local(e, tls, &port);
  if (!srv)
    return;
  uvs_op *acc = new_op(t, T_ACCEPT), *con = new_op(t, T_CONNECT);
  uvs_op *sr = new_op(t, T_SRV_READ), *cr = new_op(t, T_CLI_READ);
  uvs_op *sc = new_op(t, T_SRV_CLOSED), *cc = new_op(t, T_CLI_CLOSED);
  if (!acc || !con || !sr || !cr || !sc || !cc)
    goto out;
  co = tls_options(tls, UVS_TLS_CLIENT);
  if (tls && !co)
    goto out;
  if (!started(t, T_ACCEPT, LIB(uvs_server_accept_start(srv, acc)), "accept"))
    goto out;
  if (!started(t, T_CONNECT,
               LIB(uvs_connect_tcp_start(e, "127.0.0.1", port, co, con)),
               "connect"))
    goto out;
  int both[] = {T_CONNECT, T_ACCEPT};
  if (!pump(t, both, 2))
    goto out;
  if (!ok(LIB(uvs_op_result(con)), "connect result") ||
      !ok(LIB(uvs_op_take_stream(con, &cli_s)), "take client") ||
      !ok(LIB(uvs_op_result(acc)), "accept result") ||
      !ok(LIB(uvs_op_take_stream(acc, &srv_s)), "take server side"))
    goto out;
  if (!ok(LIB(uvs_stream_write(cli_s, "ping\n", 5)), "client write") ||
      !started(t, T_SRV_READ, LIB(uvs_stream_readline_start(srv_s, sr)),
               "server readline"))
    goto out;
  int sread[] = {T_SRV_READ};
  if (!pump(t, sread, 1))
    goto out;
  if (!expect_op_bytes(sr, "ping\n", "server read"))
    goto out;
  uvs_op *dr = new_op(t, T_DRAIN);
  if (!dr || !ok(LIB(uvs_stream_write(srv_s, "pong\n", 5)), "server write") ||
      !started(t, T_DRAIN, LIB(uvs_stream_drain_start(srv_s, dr)), "drain") ||
      !started(t, T_CLI_READ, LIB(uvs_stream_readline_start(cli_s, cr)),
               "client readline"))
    goto out;
  int cread[] = {T_CLI_READ, T_DRAIN};
  if (!pump(t, cread, 2))
    goto out;
  if (!expect_op_bytes(cr, "pong\n", "client read"))
    goto out;
  if (!ok(LIB(uvs_stream_close(cli_s)), "client close") ||
      !started(t, T_CLI_CLOSED, LIB(uvs_stream_wait_closed_start(cli_s, cc)),
               "client wait_closed") ||
      !ok(LIB(uvs_stream_close(srv_s)), "server close") ||
      !started(t, T_SRV_CLOSED, LIB(uvs_stream_wait_closed_start(srv_s, sc)),
               "server wait_closed"))
    goto out;
  int closed[] = {T_CLI_CLOSED, T_SRV_CLOSED};
  pump(t, closed, 2);
out:
  LIB(uvs_options_free(co));
  LIB(uvs_stream_free(cli_s));
  LIB(uvs_stream_free(srv_s));
  LIB(uvs_server_free(srv));
}

static int echo_on_engine(int io_threads, int tls) {
  tracker t = {0};
  uvs_engine *e = make_engine(io_threads);
  if (e && ok(LIB(uvs_cq_new(e, &t.cq)), "uvs_cq_new"))
    cq_echo(e, &t, tls);
  free_engine(e);
  if (t.cq)
    final_check(&t);
  free_ops(&t);
  return violations;
}

static int scenario_echo_host(void) {
  return echo_on_engine(0, 0);
}
static int scenario_echo_threaded(void) {
  return echo_on_engine(2, 0);
}
static int scenario_tls_host(void) {
  return echo_on_engine(0, 1);
}
static int scenario_tls_threaded(void) {
  return echo_on_engine(1, 1);
}

/* Engine freed with operations pending: an accept nobody satisfies, reads
 * on both ends of a connection with no data, a wait_closed. */
static int shutdown_pending(int io_threads) {
  tracker t = {0};
  int port = 0;
  uvs_stream *a = NULL, *b = NULL;
  uvs_server *srv = NULL;
  uvs_engine *e = make_engine(io_threads);
  if (!e || !ok(LIB(uvs_cq_new(e, &t.cq)), "uvs_cq_new"))
    goto out;
  if (!(srv = listen_local(e, 0, &port)))
    goto out;
  uvs_op *acc = new_op(&t, T_ACCEPT);
  uvs_op *con = new_op(&t, T_CONNECT);
  if (!acc || !con)
    goto out;
  if (!started(&t, T_CONNECT,
               LIB(uvs_connect_tcp_start(e, "127.0.0.1", port, NULL, con)),
               "connect") ||
      !started(&t, T_ACCEPT, LIB(uvs_server_accept_start(srv, acc)), "accept"))
    goto out;
  int both[] = {T_CONNECT, T_ACCEPT};
  if (!pump(&t, both, 2) || !ok(LIB(uvs_op_result(con)), "connect") ||
      !ok(LIB(uvs_op_take_stream(con, &a)), "take") ||
      !ok(LIB(uvs_op_result(acc)), "accept") ||
      !ok(LIB(uvs_op_take_stream(acc, &b)), "take"))
    goto out;
  /* Pending at shutdown: */
  uvs_op *ra = new_op(&t, T_CLI_READ), *rb = new_op(&t, T_SRV_READ);
  uvs_op *acc2 = new_op(&t, T_DRAIN), *wc = new_op(&t, T_CLI_CLOSED);
  if (!ra || !rb || !acc2 || !wc)
    goto out;
  if (!started(&t, T_CLI_READ, LIB(uvs_stream_read_start(a, 100, ra)),
               "read") ||
      !started(&t, T_SRV_READ, LIB(uvs_stream_readline_start(b, rb)),
               "readline") ||
      !started(&t, T_DRAIN, LIB(uvs_server_accept_start(srv, acc2)),
               "accept 2") ||
      !started(&t, T_CLI_CLOSED, LIB(uvs_stream_wait_closed_start(a, wc)),
               "wait_closed"))
    goto out;
out:
  free_engine(e); /* first: the operations are still pending */
  if (t.cq)
    final_check(&t);
  LIB(uvs_stream_free(a));
  LIB(uvs_stream_free(b));
  LIB(uvs_server_free(srv));
  free_ops(&t);
  return violations;
}

static int scenario_shutdown_host(void) {
  return shutdown_pending(0);
}
static int scenario_shutdown_threaded(void) {
  return shutdown_pending(2);
}

/* ---- blocking calls with timeouts (threaded engine) -----------------------
 */

static int blocking_pair(uvs_engine *e, int tls, uvs_server **srv,
                         uvs_stream **cli, uvs_stream **peer) {
  int port = 0;
  *srv = listen_local(e, tls, &port);
  if (!*srv)
    return 0;
  uvs_options *co = tls_options(tls, UVS_TLS_CLIENT);
  if (tls && !co)
    return 0;
  int good = 1;
  if (!tls) {
    good = ok(LIB(uvs_connect_tcp(e, "127.0.0.1", port, co, SLOW_MS, cli)),
              "connect") &&
           ok(LIB(uvs_server_accept(*srv, SLOW_MS, peer)), "accept");
  } else {
    /* The handshake needs both ends: connect on an op, accept blocking. */
    uvs_op *con = NULL;
    good = ok(LIB(uvs_op_new(NULL, 0, &con)), "op_new");
    int rc =
        good ? LIB(uvs_connect_tcp_start(e, "127.0.0.1", port, co, con)) : 0;
    if (good && ok(rc, "connect_start")) {
      good = ok(LIB(uvs_server_accept(*srv, STALL_MS * 4, peer)), "accept");
      int w = LIB(uvs_op_wait(con, SLOW_MS));
      if (w != 0)
        violation("connect op: uvs_op_wait returned %s", uvs_err_name(w));
      else if (ok(LIB(uvs_op_result(con)), "connect"))
        good = good && ok(LIB(uvs_op_take_stream(con, cli)), "take");
      else
        good = 0;
    } else {
      good = 0;
    }
    LIB(uvs_op_free(con));
  }
  LIB(uvs_options_free(co));
  return good;
}

static int blocking(int tls) {
  uvs_server *srv = NULL;
  uvs_stream *cli = NULL, *peer = NULL;
  void *data = NULL;
  size_t len = 0;
  uvs_engine *e = make_engine(1);
  if (!e || !blocking_pair(e, tls, &srv, &cli, &peer))
    goto out;
  /* Nothing sent yet: the read times out, consuming nothing. */
  int rc = LIB(uvs_stream_read(peer, 10, 50, &data, &len));
  if (rc != UVS_ETIMEDOUT && ok(rc, "read with timeout")) {
    violation("read of a silent peer returned %d, not ETIMEDOUT", rc);
    goto out;
  }
  if (rc != UVS_ETIMEDOUT)
    goto out;
  if (!ok(LIB(uvs_stream_write(cli, "hello world", 11)), "write") ||
      !ok(LIB(uvs_stream_drain(cli, SLOW_MS)), "drain"))
    goto out;
  rc = LIB(uvs_stream_readexactly(peer, 11, STALL_MS * 4, &data, &len));
  if (!expect_bytes(rc, data, len, "hello world", "readexactly"))
    goto out;
  uvs_free(data); /* free() is never failed */
  data = NULL;
  if (!ok(LIB(uvs_stream_write(peer, "bye\n", 4)), "write back") ||
      !ok(LIB(uvs_stream_close(peer)), "close"))
    goto out;
  rc = LIB(uvs_stream_readline(cli, STALL_MS * 4, &data, &len));
  if (!expect_bytes(rc, data, len, "bye\n", "readline"))
    goto out;
  uvs_free(data); /* free() is never failed */
  data = NULL;
  rc = LIB(uvs_stream_read(cli, -1, STALL_MS * 4, &data, &len));
  if (!expect_bytes(rc, data, len, "", "read to EOF"))
    goto out;
  if (ok(LIB(uvs_stream_close(cli)), "close"))
    ok(LIB(uvs_stream_wait_closed(cli, STALL_MS * 4)), "wait_closed");
out:
  uvs_free(data); /* free() is never failed */
  LIB(uvs_stream_free(cli));
  LIB(uvs_stream_free(peer));
  LIB(uvs_server_free(srv));
  free_engine(e);
  return violations;
}

static int scenario_blocking(void) {
  return blocking(0);
}
static int scenario_tls_blocking(void) {
  return blocking(1);
}

/* ---- a completion-queue loop over several connections ---------------------
 */

#define NCONN 3

static int scenario_cq_loop(void) {
  tracker t = {0};
  int port = 0;
  uvs_stream *cli[NCONN] = {0}, *peer[NCONN] = {0};
  uvs_server *srv = NULL;
  uvs_engine *e = make_engine(2);
  if (!e || !ok(LIB(uvs_cq_new(e, &t.cq)), "uvs_cq_new"))
    goto out;
  if (!(srv = listen_local(e, 0, &port)))
    goto out;
  /* tags: 1..3 connect, 4..6 accept, 7..9 server reads, 10..12 client reads */
  for (int i = 0; i < NCONN; i++) {
    uvs_op *c = new_op(&t, 1 + i), *a = new_op(&t, 4 + i);
    if (!c || !a ||
        !started(&t, 1 + i,
                 LIB(uvs_connect_tcp_start(e, "127.0.0.1", port, NULL, c)),
                 "connect") ||
        !started(&t, 4 + i, LIB(uvs_server_accept_start(srv, a)), "accept"))
      goto out;
  }
  int opened[2 * NCONN];
  for (int i = 0; i < 2 * NCONN; i++)
    opened[i] = 1 + i;
  if (!pump(&t, opened, 2 * NCONN))
    goto out;
  for (int i = 0; i < NCONN; i++) {
    if (!ok(LIB(uvs_op_result(t.ops[1 + i])), "connect") ||
        !ok(LIB(uvs_op_take_stream(t.ops[1 + i], &cli[i])), "take") ||
        !ok(LIB(uvs_op_result(t.ops[4 + i])), "accept") ||
        !ok(LIB(uvs_op_take_stream(t.ops[4 + i], &peer[i])), "take"))
      goto out;
  }
  /* Each accepted stream reads exactly 4 bytes from whichever client. */
  int reads[NCONN];
  for (int i = 0; i < NCONN; i++) {
    uvs_op *r = new_op(&t, 7 + i);
    reads[i] = 7 + i;
    if (!r ||
        !started(&t, 7 + i, LIB(uvs_stream_readexactly_start(peer[i], 4, r)),
                 "readexactly") ||
        !ok(LIB(uvs_stream_write(cli[i], "abcd", 4)), "write"))
      goto out;
  }
  if (!pump(&t, reads, NCONN))
    goto out;
  for (int i = 0; i < NCONN; i++) {
    if (!expect_op_bytes(t.ops[7 + i], "abcd", "readexactly"))
      goto out;
    /* close the client: the server's next read sees EOF */
    uvs_op *r = new_op(&t, 10 + i);
    reads[i] = 10 + i;
    if (!r || !ok(LIB(uvs_stream_close(cli[i])), "close") ||
        !started(&t, 10 + i, LIB(uvs_stream_read_start(peer[i], 10, r)),
                 "read to EOF"))
      goto out;
  }
  if (!pump(&t, reads, NCONN))
    goto out;
  for (int i = 0; i < NCONN; i++) {
    if (!expect_op_bytes(t.ops[10 + i], "", "EOF"))
      goto out;
  }
out:
  for (int i = 0; i < NCONN; i++) {
    LIB(uvs_stream_free(cli[i]));
    LIB(uvs_stream_free(peer[i]));
  }
  LIB(uvs_server_free(srv));
  free_engine(e);
  if (t.cq)
    final_check(&t);
  free_ops(&t);
  return violations;
}

const struct torture_scenario torture_scenarios[] = {
    {"echo_host", scenario_echo_host},
    {"echo_threaded", scenario_echo_threaded},
    {"tls_host", scenario_tls_host},
    {"tls_threaded", scenario_tls_threaded},
    {"blocking", scenario_blocking},
    {"tls_blocking", scenario_tls_blocking},
    {"cq_loop", scenario_cq_loop},
    {"shutdown_host", scenario_shutdown_host},
    {"shutdown_threaded", scenario_shutdown_threaded},
    {NULL, NULL}};
