/*
 * test_server.c - uvs_server over real sockets on 127.0.0.1 and Unix paths.
 *
 * Covers listening addresses (port 0, "localhost", all interfaces), a
 * thousand concurrent echo connections, asyncio's close semantics (close
 * leaves accepted clients open, wait_closed waits for closed and no clients,
 * close_clients/abort_clients, pending accepts end with UVS_ECLOSED),
 * accept/close races, listeners gone once wait_closed returns, the Unix
 * socket file lifecycle, UVS_EADDRINUSE, SO_REUSEPORT and
 * start_serving = 0. Every test runs on a fresh engine and checks that no
 * descriptor leaked.
 */
#include "net_helpers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MIB (1024 * 1024)

/* ---- helpers ------------------------------------------------------------ */

/* Writes msg on `from`, reads it on `to`. */
static void pass(uvs_stream *from, uvs_stream *to, const char *msg) {
  void *d = NULL;
  size_t n = 0;
  assert_uvs_rc(nh_write_drain(from, msg, strlen(msg), 10000), 0);
  assert_uvs_rc(uvs_stream_readexactly(to, (int64_t)strlen(msg), 10000, &d, &n),
                0);
  assert_bytes_equal_n(d, n, msg, strlen(msg));
  uvs_free(d);
}

/* Connects to host:port and accepts on srv; both ends exchange a message. */
static void connect_pair(uvs_engine *e, uvs_server *srv, const char *host,
                         int port, uvs_stream **c, uvs_stream **a) {
  assert_uvs_rc(uvs_connect_tcp(e, host, port, NULL, 10000, c), 0);
  assert_uvs_rc(uvs_server_accept(srv, 10000, a), 0);
  pass(*c, *a, "ping");
  pass(*a, *c, "pong");
}

static void close_server(uvs_server *srv) {
  assert_uvs_rc(uvs_server_close(srv), 0);
  assert_uvs_rc(uvs_server_wait_closed(srv, 10000), 0);
  assert_uvs_rc(uvs_server_free(srv), 0);
}

/* Polls uvs_server_num_clients (up to 10 s) until it equals want. */
static int wait_clients(uvs_server *srv, int want) {
  int64_t deadline = uvst_now_ms() + 60000;
  int n = uvs_server_num_clients(srv);
  while (n != want && uvst_now_ms() < deadline) {
    uvst_sleep_ms(2);
    n = uvs_server_num_clients(srv);
  }
  return n;
}

/* ---- addresses ---------------------------------------------------------- */

static void test_port_zero(void **state) {
  nh_fixture *f = *state;
  int port = 0, port2 = -1;
  char *host = NULL;
  uvs_server *srv = nh_listen_tcp(f->e, NULL, &port);
  assert_int_equal(uvs_server_num_addresses(srv), 1);
  assert_int_equal(uvs_server_is_serving(srv), 1);
  assert_uvs_rc(uvs_server_address(srv, 0, &host, &port2), 0);
  assert_string_equal(host, "127.0.0.1");
  assert_int_equal(port2, port);
  uvs_free(host);
  host = NULL;
  assert_true(uvs_server_address(srv, 1, &host, &port2) < 0);
  assert_true(uvs_server_address(srv, -1, &host, &port2) < 0);
  assert_int_equal(uvs_server_num_clients(srv), 0);
  uvs_stream *c = NULL, *a = NULL;
  assert_uvs_rc(uvs_server_accept(srv, 50, &a), UVS_ETIMEDOUT);
  assert_null(a);
  connect_pair(f->e, srv, "127.0.0.1", port, &c, &a);
  assert_int_equal(uvs_server_num_clients(srv), 1);
  assert_uvs_rc(nh_close_free(c), 0);
  assert_uvs_rc(nh_close_free(a), 0);
  close_server(srv);
}

/* Each listening address accepts a connection (wildcards via loopback). */
static void check_every_address(uvs_engine *e, uvs_server *srv) {
  int n = uvs_server_num_addresses(srv);
  assert_true(n >= 1);
  for (int i = 0; i < n; i++) {
    char *host = NULL;
    int port = 0;
    assert_uvs_rc(uvs_server_address(srv, i, &host, &port), 0);
    assert_non_null(host);
    assert_true(port > 0 && port < 65536);
    const char *target = host;
    if (strcmp(host, "0.0.0.0") == 0) {
      target = "127.0.0.1";
    } else if (strcmp(host, "::") == 0) {
      target = "::1";
    }
    uvs_stream *c = NULL, *a = NULL;
    connect_pair(e, srv, target, port, &c, &a);
    assert_uvs_rc(nh_close_free(c), 0);
    assert_uvs_rc(nh_close_free(a), 0);
    uvs_free(host);
  }
}

static void test_localhost_and_any(void **state) {
  nh_fixture *f = *state;
  uvs_server *srv = NULL;
  /* connecting by name tries every address of "localhost" in turn */
  int port = 0;
  srv = nh_listen_tcp(f->e, NULL, &port);
  uvs_stream *c = NULL, *a = NULL;
  connect_pair(f->e, srv, "localhost", port, &c, &a);
  assert_uvs_rc(nh_close_free(c), 0);
  assert_uvs_rc(nh_close_free(a), 0);
  close_server(srv);
  srv = NULL;
  assert_uvs_rc(uvs_server_listen_tcp(f->e, "localhost", 0, NULL, &srv), 0);
  check_every_address(f->e, srv);
  close_server(srv);
  srv = NULL;
  assert_uvs_rc(uvs_server_listen_tcp(f->e, NULL, 0, NULL, &srv), 0);
  check_every_address(f->e, srv);
  close_server(srv);
}

/* ---- a thousand connections --------------------------------------------- */

#define NCONN 1000
#define NBATCH 4

struct batch {
  pthread_t thread;
  uvs_engine *e;
  int port, id;
  pthread_barrier_t *barrier;
  int connected, echoed;
};

static void batch_exchange(struct batch *b, uvs_stream **ss) {
  char msg[64];
  for (int i = 0; i < b->connected; i++) {
    int len = snprintf(msg, sizeof(msg), "connection %d of batch %d", i, b->id);
    int rc = uvs_stream_write(ss[i], msg, (size_t)len);
    if (rc != 0) {
      nh_fail("batch write", rc);
    }
  }
  for (int i = 0; i < b->connected; i++) {
    int len = snprintf(msg, sizeof(msg), "connection %d of batch %d", i, b->id);
    void *d = NULL;
    size_t n = 0;
    int rc = uvs_stream_readexactly(ss[i], len, 20000, &d, &n);
    if (rc != 0) {
      nh_fail("batch readexactly", rc);
    } else if (n != (size_t)len || memcmp(d, msg, n) != 0) {
      nh_fail("batch: wrong echo", 0);
    } else {
      b->echoed++;
    }
    uvs_free(d);
  }
}

static void *batch_main(void *p) {
  struct batch *b = p;
  int per = NCONN / NBATCH;
  uvs_stream **ss = calloc((size_t)per, sizeof(*ss));
  for (int i = 0; ss != NULL && i < per; i++) {
    int rc = uvs_connect_tcp(b->e, "127.0.0.1", b->port, NULL, 20000, &ss[i]);
    if (rc != 0) {
      nh_fail("batch connect", rc);
      break;
    }
    b->connected++;
  }
  pthread_barrier_wait(b->barrier); /* everyone connected */
  pthread_barrier_wait(b->barrier); /* main counted the clients */
  batch_exchange(b, ss);
  for (int i = 0; i < b->connected; i++) {
    int rc = nh_close_free(ss[i]);
    if (rc != 0) {
      nh_fail("batch close", rc);
    }
  }
  free(ss);
  return NULL;
}

static void test_thousand_connections(void **state) {
  nh_fixture *f = *state;
  struct rlimit rl;
  assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
  if (rl.rlim_cur < 2 * NCONN + 200) {
    fail_msg("RLIMIT_NOFILE is %ld, need %d", (long)rl.rlim_cur,
             2 * NCONN + 200);
  }
  int port = 0;
  nh_echo_stats st;
  nh_echo_stats_init(&st);
  uvs_server *srv = nh_listen_tcp(f->e, NULL, &port);
  nh_server *ts = nh_server_start(srv, nh_echo_handler, &st);
  pthread_barrier_t barrier;
  pthread_barrier_init(&barrier, NULL, NBATCH + 1);
  struct batch b[NBATCH];
  for (int i = 0; i < NBATCH; i++) {
    memset(&b[i], 0, sizeof(b[i]));
    b[i].e = f->e;
    b[i].port = port;
    b[i].id = i;
    b[i].barrier = &barrier;
    assert_int_equal(pthread_create(&b[i].thread, NULL, batch_main, &b[i]), 0);
  }
  pthread_barrier_wait(&barrier);
  /* all client connections are open at once now */
  int clients = wait_clients(srv, NCONN);
  /* One handler thread per connection: under ThreadSanitizer on two busy
   * cores, starting 1,000 of them took longer than 10 s (825 in CI). */
  int64_t deadline = uvst_now_ms() + 60000;
  while (nh_server_accepted(ts) < NCONN && uvst_now_ms() < deadline) {
    uvst_sleep_ms(5);
  }
  int accepted = nh_server_accepted(ts);
  pthread_barrier_wait(&barrier);
  int connected = 0, echoed = 0;
  for (int i = 0; i < NBATCH; i++) {
    pthread_join(b[i].thread, NULL);
    connected += b[i].connected;
    echoed += b[i].echoed;
  }
  pthread_barrier_destroy(&barrier);
  assert_int_equal(nh_server_stop(ts), 0);
  assert_int_equal(connected, NCONN);
  assert_int_equal(clients, NCONN);
  assert_int_equal(accepted, NCONN);
  assert_int_equal(echoed, NCONN);
  assert_int_equal(st.finished, NCONN);
  assert_uvs_rc(uvs_server_wait_closed(srv, 10000), 0);
  assert_int_equal(uvs_server_num_clients(srv), 0);
  assert_uvs_rc(uvs_server_free(srv), 0);
}

/* ---- close semantics ---------------------------------------------------- */

/* Connects until refused (the listener is gone); 1 if refused was seen. */
static int eventually_refused(uvs_engine *e, int port) {
  for (int i = 0; i < 100; i++) {
    uvs_stream *c = NULL;
    int rc = uvs_connect_tcp(e, "127.0.0.1", port, NULL, 5000, &c);
    if (rc == UVS_ECONNREFUSED) {
      return 1;
    }
    if (rc == 0) {
      uvs_stream_abort(c);
      uvs_stream_free(c);
    }
    uvst_sleep_ms(10);
  }
  return 0;
}

static void test_close_leaves_clients_open(void **state) {
  nh_fixture *f = *state;
  int port = 0;
  uvs_server *srv = nh_listen_tcp(f->e, NULL, &port);
  uvs_stream *c = NULL, *a = NULL;
  connect_pair(f->e, srv, "127.0.0.1", port, &c, &a);
  assert_uvs_rc(uvs_server_close(srv), 0);
  assert_uvs_rc(uvs_server_close(srv), 0); /* idempotent */
  assert_int_equal(uvs_server_is_serving(srv), 0);
  assert_false(uvs_stream_is_closing(a));
  assert_false(uvs_stream_is_closing(c));
  pass(c, a, "still there?");
  pass(a, c, "yes");
  assert_int_equal(uvs_server_num_clients(srv), 1);
  assert_true(eventually_refused(f->e, port));
  assert_uvs_rc(uvs_server_wait_closed(srv, 100), UVS_ETIMEDOUT);
  assert_uvs_rc(nh_close_free(c), 0);
  assert_uvs_rc(nh_close_free(a), 0);
  assert_uvs_rc(uvs_server_wait_closed(srv, 10000), 0);
  assert_int_equal(uvs_server_num_clients(srv), 0);
  assert_uvs_rc(uvs_server_free(srv), 0);
}

static void test_close_ends_pending_accept(void **state) {
  nh_fixture *f = *state;
  int port = 0;
  uvs_server *srv = nh_listen_tcp(f->e, NULL, &port);
  uvs_cq *cq = NULL;
  uvs_op *op = NULL, *qop = NULL, *got = NULL;
  assert_uvs_rc(uvs_cq_new(f->e, &cq), 0);
  assert_uvs_rc(uvs_op_new(NULL, 1, &op), 0);
  assert_uvs_rc(uvs_op_new(cq, 2, &qop), 0);
  assert_uvs_rc(uvs_server_accept_start(srv, op), UVS_PENDING);
  assert_uvs_rc(uvs_op_wait(op, 50), UVS_ETIMEDOUT);
  assert_uvs_rc(uvs_server_close(srv), 0);
  assert_uvs_rc(uvs_op_wait(op, 10000), 0);
  assert_int_equal(uvs_op_kind(op), UVS_OP_ACCEPT);
  assert_op_result(op, UVS_ECLOSED);
  uvs_stream *s = NULL;
  assert_true(uvs_op_take_stream(op, &s) < 0);
  /* after close: blocking accept and accept_start fail the same way */
  assert_uvs_rc(uvs_server_accept(srv, 10000, &s), UVS_ECLOSED);
  int rc = uvs_server_accept_start(srv, qop);
  if (rc == UVS_COMPLETED) {
    assert_op_result(qop, UVS_ECLOSED);
  } else {
    assert_uvs_rc(rc, UVS_ECLOSED);
  }
  assert_int_equal(uvs_cq_next(cq, 100, &got), 0); /* nothing posted */
  assert_uvs_rc(uvs_server_wait_closed(srv, 10000), 0);
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_op_free(qop), 0);
  assert_uvs_rc(uvs_cq_free(cq), 0);
  assert_uvs_rc(uvs_server_free(srv), 0);
}

static void test_close_ends_queued_accept_on_cq(void **state) {
  nh_fixture *f = *state;
  int port = 0;
  uvs_server *srv = nh_listen_tcp(f->e, NULL, &port);
  uvs_cq *cq = NULL;
  uvs_op *op = NULL, *got = NULL;
  assert_uvs_rc(uvs_cq_new(f->e, &cq), 0);
  assert_uvs_rc(uvs_op_new(cq, 77, &op), 0);
  assert_uvs_rc(uvs_server_accept_start(srv, op), UVS_PENDING);
  assert_uvs_rc(uvs_server_close(srv), 0);
  assert_int_equal(uvs_cq_next(cq, 10000, &got), 1);
  assert_ptr_equal(got, op);
  assert_int_equal(uvs_op_tag(got), 77);
  assert_op_result(op, UVS_ECLOSED);
  assert_int_equal(uvs_cq_next(cq, 200, &got), 0); /* exactly once */
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_cq_free(cq), 0);
  close_server(srv);
}

static void test_wait_closed_waits_for_clients(void **state) {
  nh_fixture *f = *state;
  int port = 0;
  void *d = NULL;
  size_t n = 0;
  uvs_server *srv = nh_listen_tcp(f->e, NULL, &port);
  uvs_stream *c = NULL, *a = NULL;
  connect_pair(f->e, srv, "127.0.0.1", port, &c, &a);
  uvs_op *op = NULL;
  assert_uvs_rc(uvs_op_new(NULL, 1, &op), 0);
  assert_uvs_rc(uvs_server_wait_closed_start(srv, op), UVS_PENDING);
  assert_uvs_rc(uvs_op_wait(op, 100), UVS_ETIMEDOUT); /* not closed */
  assert_uvs_rc(uvs_server_close(srv), 0);
  assert_uvs_rc(uvs_op_wait(op, 100), UVS_ETIMEDOUT); /* a client is open */
  assert_uvs_rc(uvs_server_wait_closed(srv, 100), UVS_ETIMEDOUT);
  /* the peer's EOF does not close the accepted stream (half-close) */
  assert_uvs_rc(nh_close_free(c), 0);
  assert_uvs_rc(uvs_stream_read(a, -1, 10000, &d, &n), 0);
  assert_int_equal(n, 0);
  uvs_free(d);
  assert_int_equal(uvs_server_num_clients(srv), 1);
  assert_uvs_rc(uvs_server_wait_closed(srv, 100), UVS_ETIMEDOUT);
  assert_uvs_rc(uvs_op_wait(op, 0), UVS_ETIMEDOUT);
  assert_uvs_rc(nh_close_free(a), 0);
  assert_uvs_rc(uvs_op_wait(op, 10000), 0);
  assert_int_equal(uvs_op_kind(op), UVS_OP_SERVER_WAIT_CLOSED);
  assert_op_result(op, 0);
  assert_uvs_rc(uvs_server_wait_closed(srv, 10000), 0);
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_server_free(srv), 0);
}

static void test_close_drops_unclaimed(void **state) {
  nh_fixture *f = *state;
  int port = 0;
  void *d = NULL;
  size_t n = 0;
  uvs_server *srv = nh_listen_tcp(f->e, NULL, &port);
  uvs_stream *c = NULL;
  assert_uvs_rc(uvs_connect_tcp(f->e, "127.0.0.1", port, NULL, 10000, &c), 0);
  assert_int_equal(wait_clients(srv, 1), 1); /* queued, never accepted */
  assert_uvs_rc(uvs_server_close(srv), 0);
  int rc = uvs_stream_read(c, -1, 10000, &d, &n);
  if (rc == 0) {
    assert_int_equal(n, 0); /* EOF */
  } else {
    assert_uvs_rc(rc, UVS_ECONNRESET);
  }
  uvs_free(d);
  assert_uvs_rc(uvs_server_wait_closed(srv, 10000), 0);
  assert_int_equal(uvs_server_num_clients(srv), 0);
  assert_uvs_rc(uvs_server_free(srv), 0);
  nh_close_free(c);
}

#define NCLI 3

static void open_clients(nh_fixture *f, uvs_server *srv, int port,
                         uvs_stream **c, uvs_stream **a) {
  for (int i = 0; i < NCLI; i++) {
    connect_pair(f->e, srv, "127.0.0.1", port, &c[i], &a[i]);
  }
  assert_int_equal(uvs_server_num_clients(srv), NCLI);
  assert_uvs_rc(uvs_server_close(srv), 0);
}

static void test_close_clients(void **state) {
  nh_fixture *f = *state;
  int port = 0;
  uvs_stream *c[NCLI], *a[NCLI];
  uvs_server *srv = nh_listen_tcp(f->e, NULL, &port);
  open_clients(f, srv, port, c, a);
  for (int i = 0; i < NCLI; i++) {
    assert_uvs_rc(uvs_stream_write(a[i], "bye", 3), 0);
  }
  assert_uvs_rc(uvs_server_close_clients(srv), 0);
  for (int i = 0; i < NCLI; i++) {
    void *d = NULL;
    size_t n = 0;
    assert_int_equal(uvs_stream_is_closing(a[i]), 1);
    assert_uvs_rc(uvs_stream_read(c[i], -1, 10000, &d, &n), 0);
    assert_bytes_equal(d, n, "bye"); /* flushed, then EOF */
    uvs_free(d);
  }
  assert_uvs_rc(uvs_server_wait_closed(srv, 10000), 0);
  assert_int_equal(uvs_server_num_clients(srv), 0);
  for (int i = 0; i < NCLI; i++) {
    assert_uvs_rc(uvs_stream_wait_closed(a[i], 10000), 0);
    assert_uvs_rc(uvs_stream_free(a[i]), 0);
    assert_uvs_rc(nh_close_free(c[i]), 0);
  }
  assert_uvs_rc(uvs_server_free(srv), 0);
}

static void test_abort_clients(void **state) {
  nh_fixture *f = *state;
  int port = 0;
  uvs_stream *c[NCLI], *a[NCLI];
  uvs_server *srv = nh_listen_tcp(f->e, NULL, &port);
  open_clients(f, srv, port, c, a);
  assert_uvs_rc(uvs_server_abort_clients(srv), 0);
  for (int i = 0; i < NCLI; i++) {
    void *d = NULL;
    size_t n = 0;
    assert_int_equal(uvs_stream_is_closing(a[i]), 1);
    assert_uvs_rc(uvs_stream_read(c[i], -1, 10000, &d, &n), UVS_ECONNRESET);
    uvs_free(d);
  }
  assert_uvs_rc(uvs_server_wait_closed(srv, 10000), 0);
  assert_int_equal(uvs_server_num_clients(srv), 0);
  for (int i = 0; i < NCLI; i++) {
    assert_uvs_rc(uvs_stream_free(a[i]), 0);
    nh_assert_either(nh_close_free(c[i]), UVS_ECONNRESET, 0);
  }
  assert_uvs_rc(uvs_server_free(srv), 0);
}

/* ---- accept/close races ------------------------------------------------- */

struct race {
  uvs_engine *e;
  uvs_server *srv;
  int port;
  pthread_mutex_t mutex;
  int stop;
  int connects;
  int accept_rc;
  uvs_stream *accepted[4096];
  int naccepted;
};

static void *race_acceptor(void *p) {
  struct race *r = p;
  for (;;) {
    uvs_stream *s = NULL;
    int rc = uvs_server_accept(r->srv, 10000, &s);
    if (rc != 0) {
      r->accept_rc = rc;
      return NULL;
    }
    pthread_mutex_lock(&r->mutex);
    if (r->naccepted < 4096) {
      r->accepted[r->naccepted++] = s;
      s = NULL;
    }
    pthread_mutex_unlock(&r->mutex);
    if (s != NULL) {
      nh_close_free(s);
    }
  }
}

static int race_stopping(struct race *r) {
  pthread_mutex_lock(&r->mutex);
  int stop = r->stop;
  pthread_mutex_unlock(&r->mutex);
  return stop;
}

static void *race_connector(void *p) {
  struct race *r = p;
  while (!race_stopping(r)) {
    uvs_stream *c = NULL;
    int rc = uvs_connect_tcp(r->e, "127.0.0.1", r->port, NULL, 5000, &c);
    if (rc == 0) {
      pthread_mutex_lock(&r->mutex);
      r->connects++;
      pthread_mutex_unlock(&r->mutex);
      uvs_stream_write(c, "hi", 2);
      uvs_stream_free(c);
    } else if (rc == UVS_EBADHANDLE || rc == UVS_EINTERNAL) {
      nh_fail("race connect", rc);
    } else {
      uvst_sleep_ms(1);
    }
  }
  return NULL;
}

static int race_connects(struct race *r) {
  pthread_mutex_lock(&r->mutex);
  int n = r->connects;
  pthread_mutex_unlock(&r->mutex);
  return n;
}

static void race_once(nh_fixture *f, struct race *r, int iter) {
  pthread_t acc, con;
  r->srv = nh_listen_tcp(f->e, NULL, &r->port);
  r->stop = r->connects = r->naccepted = 0;
  r->accept_rc = 1;
  int with_clients = iter % 2;
  assert_int_equal(pthread_create(&acc, NULL, race_acceptor, r), 0);
  if (with_clients) {
    assert_int_equal(pthread_create(&con, NULL, race_connector, r), 0);
    int64_t deadline = uvst_now_ms() + 5000;
    while (race_connects(r) < 1 + iter % 4 && uvst_now_ms() < deadline) {
      uvst_sleep_ms(1);
    }
  } else {
    uvst_sleep_ms(iter % 5);
  }
  assert_uvs_rc(uvs_server_close(r->srv), 0);
  pthread_join(acc, NULL);
  pthread_mutex_lock(&r->mutex);
  r->stop = 1;
  pthread_mutex_unlock(&r->mutex);
  if (with_clients) {
    pthread_join(con, NULL);
    assert_true(r->connects >= 1);
  }
  assert_uvs_rc(r->accept_rc, UVS_ECLOSED);
  for (int i = 0; i < r->naccepted; i++) {
    nh_close_free(r->accepted[i]);
  }
  assert_uvs_rc(uvs_server_wait_closed(r->srv, 10000), 0);
  assert_uvs_rc(uvs_server_free(r->srv), 0);
}

static void test_accept_close_race(void **state) {
  nh_fixture *f = *state;
  struct race *r = calloc(1, sizeof(*r));
  assert_non_null(r);
  r->e = f->e;
  pthread_mutex_init(&r->mutex, NULL);
  for (int iter = 0; iter < 50; iter++) {
    race_once(f, r, iter);
  }
  pthread_mutex_destroy(&r->mutex);
  free(r);
  assert_int_equal(nh_take_failures(), 0);
}

/* ---- Unix servers ------------------------------------------------------- */

/* Leaves a socket file at path that nothing listens on. */
static void make_stale_socket(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  struct sockaddr_un a;
  memset(&a, 0, sizeof(a));
  a.sun_family = AF_UNIX;
  size_t len = strlen(path);
  assert_true(len < sizeof(a.sun_path));
  memcpy(a.sun_path, path, len + 1);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  close(fd);
}

static int is_socket_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

static void unix_exchange(uvs_engine *e, uvs_server *srv, const char *path) {
  uvs_stream *c = NULL, *a = NULL;
  assert_uvs_rc(uvs_connect_unix(e, path, NULL, 10000, &c), 0);
  assert_uvs_rc(uvs_server_accept(srv, 10000, &a), 0);
  pass(c, a, "over unix");
  pass(a, c, "back");
  assert_uvs_rc(nh_close_free(c), 0);
  assert_uvs_rc(nh_close_free(a), 0);
}

static void test_unix_socket_file(void **state) {
  nh_fixture *f = *state;
  char path[128];
  snprintf(path, sizeof(path), "%s/srv.sock", f->dir);
  make_stale_socket(path);
  assert_true(is_socket_file(path));
  uvs_stream *c = NULL;
  assert_uvs_rc(uvs_connect_unix(f->e, path, NULL, 10000, &c),
                UVS_ECONNREFUSED); /* really stale */
  char missing[160];
  snprintf(missing, sizeof(missing), "%s/missing.sock", f->dir);
  assert_uvs_rc(uvs_connect_unix(f->e, missing, NULL, 10000, &c), UVS_ENOENT);
  uvs_server *srv = nh_listen_unix(f->e, path, NULL);
  assert_int_equal(uvs_server_num_addresses(srv), 1);
  char *host = NULL;
  int port = -1;
  assert_uvs_rc(uvs_server_address(srv, 0, &host, &port), 0);
  assert_string_equal(host, path);
  uvs_free(host);
  unix_exchange(f->e, srv, path);
  close_server(srv);
  assert_false(is_socket_file(path)); /* removed at close */

  uvs_options *o = nh_opts("cleanup_socket", 0, NULL, 0, NULL, 0);
  srv = nh_listen_unix(f->e, path, o);
  uvs_options_free(o);
  unix_exchange(f->e, srv, path);
  close_server(srv);
  assert_true(is_socket_file(path)); /* kept with cleanup_socket = 0 */
  unlink(path);
}

/* Once wait_closed has returned, the listeners are gone: connects are
 * refused and the Unix socket file is removed. */
static void test_wait_closed_means_closed(void **state) {
  nh_fixture *f = *state;
  char path[128];
  snprintf(path, sizeof(path), "%s/gone.sock", f->dir);
  for (int i = 0; i < 20; i++) {
    int port = 0;
    uvs_server *srv = nh_listen_tcp(f->e, NULL, &port);
    assert_uvs_rc(uvs_server_close(srv), 0);
    assert_uvs_rc(uvs_server_wait_closed(srv, 10000), 0);
    int fd = nh_raw_connect(port);
    if (fd >= 0) {
      close(fd);
    }
    assert_int_equal(fd, -ECONNREFUSED);
    assert_uvs_rc(uvs_server_free(srv), 0);

    srv = nh_listen_unix(f->e, path, NULL);
    assert_true(is_socket_file(path));
    assert_uvs_rc(uvs_server_close(srv), 0);
    assert_uvs_rc(uvs_server_wait_closed(srv, 10000), 0);
    assert_false(is_socket_file(path));
    assert_uvs_rc(uvs_server_free(srv), 0);
  }
}

/* ---- listen options and errors ------------------------------------------ */

static void test_address_in_use(void **state) {
  nh_fixture *f = *state;
  int port = 0, rport = 0;
  uvs_server *srv = nh_listen_tcp(f->e, NULL, &port);
  uvs_server *dup = NULL;
  assert_uvs_rc(uvs_server_listen_tcp(f->e, "127.0.0.1", port, NULL, &dup),
                UVS_EADDRINUSE);
  assert_null(dup);
  assert_true(strlen(uvs_last_error()) > 0);
  int lfd = nh_raw_listen(0, &rport);
  assert_uvs_rc(uvs_server_listen_tcp(f->e, "127.0.0.1", rport, NULL, &dup),
                UVS_EADDRINUSE);
  close(lfd);
  close_server(srv);
}

static void test_reuse_port(void **state) {
  nh_fixture *f = *state;
  int port = 0;
  uvs_options *o = nh_opts("reuse_port", 1, NULL, 0, NULL, 0);
  uvs_server *a = nh_listen_tcp(f->e, o, &port);
  uvs_server *b = NULL;
  assert_uvs_rc(uvs_server_listen_tcp(f->e, "127.0.0.1", port, o, &b), 0);
  uvs_options_free(o);
  uvs_stream *c = NULL;
  assert_uvs_rc(uvs_connect_tcp(f->e, "127.0.0.1", port, NULL, 10000, &c), 0);
  int64_t deadline = uvst_now_ms() + 10000;
  while (uvs_server_num_clients(a) + uvs_server_num_clients(b) < 1 &&
         uvst_now_ms() < deadline) {
    uvst_sleep_ms(2);
  }
  assert_int_equal(uvs_server_num_clients(a) + uvs_server_num_clients(b), 1);
  nh_close_free(c);
  close_server(a);
  close_server(b);
}

static void test_start_serving_later(void **state) {
  nh_fixture *f = *state;
  int port = 0;
  uvs_options *o = nh_opts("start_serving", 0, NULL, 0, NULL, 0);
  uvs_server *srv = nh_listen_tcp(f->e, o, &port);
  uvs_options_free(o);
  assert_int_equal(uvs_server_is_serving(srv), 0);
  uvs_stream *c = NULL, *a = NULL;
  assert_uvs_rc(uvs_connect_tcp(f->e, "127.0.0.1", port, NULL, 10000, &c),
                UVS_ECONNREFUSED);
  uvs_op *op = NULL;
  assert_uvs_rc(uvs_op_new(NULL, 1, &op), 0);
  assert_uvs_rc(uvs_server_accept_start(srv, op), UVS_PENDING);
  assert_uvs_rc(uvs_server_start_serving(srv), 0);
  assert_int_equal(uvs_server_is_serving(srv), 1);
  assert_uvs_rc(uvs_server_start_serving(srv), 0); /* idempotent */
  assert_uvs_rc(uvs_connect_tcp(f->e, "127.0.0.1", port, NULL, 10000, &c), 0);
  assert_uvs_rc(uvs_op_wait(op, 10000), 0);
  assert_op_result(op, 0);
  assert_uvs_rc(uvs_op_take_stream(op, &a), 0);
  assert_non_null(a);
  assert_true(uvs_op_take_stream(op, &a) < 0); /* only once */
  pass(c, a, "late");
  assert_uvs_rc(nh_close_free(c), 0);
  assert_uvs_rc(nh_close_free(a), 0);
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_server_close(srv), 0);
  assert_int_equal(uvs_server_is_serving(srv), 0);
  assert_uvs_rc(uvs_server_wait_closed(srv, 10000), 0);
  assert_uvs_rc(uvs_server_free(srv), 0);
}

int main(void) {
  nh_apply_filter();
  nh_warm_up();
  nh_raise_nofile();
  const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, nh_setup, nh_teardown)
      T(test_port_zero),
      T(test_localhost_and_any),
      T(test_thousand_connections),
      T(test_close_leaves_clients_open),
      T(test_close_ends_pending_accept),
      T(test_close_ends_queued_accept_on_cq),
      T(test_wait_closed_waits_for_clients),
      T(test_close_drops_unclaimed),
      T(test_close_clients),
      T(test_abort_clients),
      T(test_accept_close_race),
      T(test_unix_socket_file),
      T(test_wait_closed_means_closed),
      T(test_address_in_use),
      T(test_reuse_port),
      T(test_start_serving_later),
#undef T
  };
  return cmocka_run_group_tests_name("server", tests, NULL, NULL);
}
