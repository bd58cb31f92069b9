/*
 * test_stream.c - streams over real sockets: TCP and Unix connections to a
 * uvstreams server in the same process, raw POSIX peers the test controls
 * (a peer that does not read, that resets), socketpairs and pipes.
 *
 * Covers echo with the blocking API, writer flow control (drain, the
 * watermarks and set_write_limits), half-close, peer resets while writing,
 * draining and reading, a 64 MiB transfer in both directions at once, read
 * timeouts and cancellation that keep the buffer, read-side pausing above
 * 2 x limit, extra info, close/abort/free semantics and uvs_stream_open_fd.
 * Every test runs on a fresh engine and checks for descriptor leaks.
 */
#include "net_helpers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define MIB (1024 * 1024)
/* Largest single socket read we expect an engine to feed at once (libuv
 * suggests 64 KiB; uvloop uses 256000 bytes). */
#define READ_CHUNK_MAX (256 * 1024)

/* ---- helpers ------------------------------------------------------------ */

static void unix_path(nh_fixture *f, char *buf, size_t len) {
  snprintf(buf, len, "%s/s.sock", f->dir);
}

/* Writes n pseudo-random bytes, reads them back through the echo server. */
static void echo_once(uvs_stream *s, uint64_t seed, size_t n) {
  unsigned char *buf = nh_random_bytes(seed, n);
  void *d = NULL;
  size_t len = 0;
  assert_uvs_rc(nh_write_drain(s, buf, n, 10000), 0);
  assert_uvs_rc(uvs_stream_readexactly(s, (int64_t)n, 10000, &d, &len), 0);
  assert_bytes_equal_n(d, len, buf, n);
  uvs_free(d);
  free(buf);
}

static void echo_roundtrips(uvs_stream *s) {
  static const size_t sizes[] = {1, 5, 1000, 65536, 300000};
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    echo_once(s, i + 1, sizes[i]);
  }
}

/* A raw peer that reads until EOF on a thread. */
struct raw_sink {
  pthread_t thread;
  int fd;
  int64_t total;
  uint64_t hash;
  int err;
};

static void *raw_sink_main(void *p) {
  struct raw_sink *k = p;
  k->total = nh_raw_read_all(k->fd, INT64_MAX, &k->hash, &k->err, 20000);
  return NULL;
}

static void raw_sink_start(struct raw_sink *k, int fd) {
  memset(k, 0, sizeof(*k));
  k->fd = fd;
  k->hash = NH_FNV_INIT;
  assert_int_equal(pthread_create(&k->thread, NULL, raw_sink_main, k), 0);
}

/* Writes pseudo-random chunks (no drain) until drain(100 ms) times out,
 * i.e. the peer stopped taking data; returns the bytes written. */
static int64_t fill_until_blocked(uvs_stream *s, uint64_t *seed,
                                  uint64_t *hash) {
  size_t chunk = 65536;
  unsigned char *buf = malloc(chunk);
  assert_non_null(buf);
  int64_t sent = 0;
  int blocked = 0;
  for (int i = 0; i < 4096 && !blocked; i++) {
    nh_fill_random(seed, buf, chunk);
    assert_uvs_rc(uvs_stream_write(s, buf, chunk), 0);
    *hash = nh_fnv1a(*hash, buf, chunk);
    sent += (int64_t)chunk;
    int rc = uvs_stream_drain(s, 100);
    if (rc == UVS_ETIMEDOUT) {
      blocked = 1;
    } else {
      assert_uvs_rc(rc, 0);
    }
  }
  free(buf);
  assert_true(blocked);
  return sent;
}

/* ---- echo --------------------------------------------------------------- */

static void run_echo(uvs_server *srv, uvs_stream *s, nh_server *ts,
                     nh_echo_stats *st) {
  echo_roundtrips(s);
  assert_uvs_rc(uvs_stream_close(s), 0);
  assert_uvs_rc(uvs_stream_wait_closed(s, 10000), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
  assert_int_equal(nh_server_stop(ts), 0);
  assert_uvs_rc(uvs_server_wait_closed(srv, 10000), 0);
  assert_uvs_rc(uvs_server_free(srv), 0);
  assert_int_equal(st->finished, 1);
  assert_int_equal(st->bytes, 1 + 5 + 1000 + 65536 + 300000);
}

static void test_echo_tcp(void **state) {
  nh_fixture *f = *state;
  int port = 0;
  nh_echo_stats st;
  nh_echo_stats_init(&st);
  uvs_server *srv = nh_listen_tcp(f->e, NULL, &port);
  nh_server *ts = nh_server_start(srv, nh_echo_handler, &st);
  uvs_stream *s = NULL;
  assert_uvs_rc(uvs_connect_tcp(f->e, "127.0.0.1", port, NULL, 10000, &s), 0);
  assert_non_null(s);
  run_echo(srv, s, ts, &st);
}

static void test_echo_unix(void **state) {
  nh_fixture *f = *state;
  char path[128];
  unix_path(f, path, sizeof(path));
  nh_echo_stats st;
  nh_echo_stats_init(&st);
  uvs_server *srv = nh_listen_unix(f->e, path, NULL);
  nh_server *ts = nh_server_start(srv, nh_echo_handler, &st);
  uvs_stream *s = NULL;
  assert_uvs_rc(uvs_connect_unix(f->e, path, NULL, 10000, &s), 0);
  assert_non_null(s);
  assert_int_equal(uvs_stream_can_write_eof(s), 1);
  run_echo(srv, s, ts, &st);
}

/* ---- writer flow control ------------------------------------------------ */

static void test_drain_waits_for_slow_peer(void **state) {
  nh_fixture *f = *state;
  const int64_t high = 65536, low = 16384;
  const size_t chunk = 32768;
  int port = 0, peer = -1;
  int lfd = nh_raw_listen(4096, &port);
  uvs_stream *s = nh_connect_raw_peer(f->e, lfd, port, NULL, &peer);
  assert_uvs_rc(uvs_stream_set_write_limits(s, high, low), 0);
  unsigned char *buf = malloc(chunk);
  assert_non_null(buf);
  uint64_t seed = 7, hash = NH_FNV_INIT;
  int64_t sent = 0;
  int blocked = 0;
  for (int i = 0; i < 8192 && !blocked; i++) {
    nh_fill_random(&seed, buf, chunk);
    assert_uvs_rc(uvs_stream_write(s, buf, chunk), 0);
    hash = nh_fnv1a(hash, buf, chunk);
    sent += (int64_t)chunk;
    /* drain returned last time, so the buffer was <= high before this write */
    assert_true(uvs_stream_write_buffer_size(s) <= high + (int64_t)chunk);
    int rc = uvs_stream_drain(s, 100);
    if (rc == UVS_ETIMEDOUT) {
      blocked = 1;
      assert_true(uvs_stream_write_buffer_size(s) > low);
    } else {
      assert_uvs_rc(rc, 0);
      assert_true(uvs_stream_write_buffer_size(s) <= high);
    }
  }
  free(buf);
  assert_true(blocked);
  /* Still paused: the peer reads nothing, a second drain times out too. */
  assert_uvs_rc(uvs_stream_drain(s, 100), UVS_ETIMEDOUT);
  assert_true(uvs_stream_write_buffer_size(s) > low);
  /* any number of drains may wait at once (asyncio allows many waiters) */
  uvs_op *d1 = NULL, *d2 = NULL;
  assert_uvs_rc(uvs_op_new(NULL, 1, &d1), 0);
  assert_uvs_rc(uvs_op_new(NULL, 2, &d2), 0);
  assert_uvs_rc(uvs_stream_drain_start(s, d1), UVS_PENDING);
  assert_uvs_rc(uvs_stream_drain_start(s, d2), UVS_PENDING);

  struct raw_sink sink;
  raw_sink_start(&sink, peer);
  assert_uvs_rc(uvs_op_wait(d1, 20000), 0);
  assert_uvs_rc(uvs_op_wait(d2, 20000), 0);
  assert_op_result(d1, 0);
  assert_op_result(d2, 0);
  assert_uvs_rc(uvs_op_free(d1), 0);
  assert_uvs_rc(uvs_op_free(d2), 0);
  assert_uvs_rc(uvs_stream_drain(s, 20000), 0);
  assert_true(uvs_stream_write_buffer_size(s) <= low); /* it was paused */
  assert_uvs_rc(uvs_stream_close(s), 0);
  assert_uvs_rc(uvs_stream_wait_closed(s, 20000), 0);
  assert_int_equal(uvs_stream_write_buffer_size(s) <= 0, 1);
  pthread_join(sink.thread, NULL);
  assert_int_equal(sink.err, 0);
  assert_int_equal(sink.total, sent);
  assert_true(sink.hash == hash);
  assert_uvs_rc(uvs_stream_free(s), 0);
  close(peer);
  close(lfd);
}

static void check_limits(uvs_stream *s, int64_t high, int64_t low) {
  assert_int_equal(nh_get_int(s, "write_high"), high);
  assert_int_equal(nh_get_int(s, "write_low"), low);
}

static void test_set_write_limits(void **state) {
  nh_fixture *f = *state;
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  uvs_options *o = nh_opts("write_high", 2000, "write_low", 500, NULL, 0);
  uvs_stream *s = NULL;
  assert_uvs_rc(uvs_stream_open_fd(f->e, sv[0], o, &s), 0);
  uvs_options_free(o);
  check_limits(s, 2000, 500);
  assert_uvs_rc(uvs_stream_set_write_limits(s, 1000, 100), 0);
  check_limits(s, 1000, 100);
  assert_uvs_rc(uvs_stream_set_write_limits(s, 100, 1000), UVS_EINVAL);
  check_limits(s, 1000, 100);
  assert_uvs_rc(uvs_stream_set_write_limits(s, -1, -1), 0);
  check_limits(s, 65536, 16384);
  assert_uvs_rc(uvs_stream_set_write_limits(s, -1, 1000), 0);
  check_limits(s, 4000, 1000);
  assert_uvs_rc(uvs_stream_set_write_limits(s, 1000, -1), 0);
  check_limits(s, 1000, 250);
  assert_uvs_rc(uvs_stream_set_write_limits(s, 0, 0), 0);
  check_limits(s, 0, 0);
  /* high 0: any buffered byte pauses; the peer reads, so drain completes */
  assert_uvs_rc(nh_write_drain(s, "abc", 3, 10000), 0);
  char got[3];
  assert_int_equal(nh_raw_read_exact(sv[1], got, 3, 10000), 0);
  assert_memory_equal(got, "abc", 3);
  assert_uvs_rc(nh_close_free(s), 0);
  close(sv[1]);
}

/* ---- half-close --------------------------------------------------------- */

static void half_close_handler(uvs_stream *s, void *arg) {
  (void)arg;
  void *d = NULL;
  size_t n = 0;
  int rc = uvs_stream_read(s, -1, 20000, &d, &n);
  if (rc != 0) {
    nh_fail("half-close server: read(-1)", rc);
    return;
  }
  char reply[64];
  int len = snprintf(reply, sizeof(reply), "%zu %016" PRIx64, n,
                     nh_fnv1a(NH_FNV_INIT, d, n));
  uvs_free(d);
  if (uvs_stream_at_eof(s) != 1) {
    nh_fail("half-close server: at_eof after read(-1)", 0);
  }
  rc = nh_write_drain(s, reply, (size_t)len, 20000);
  if (rc != 0) {
    nh_fail("half-close server: reply", rc);
  }
}

static void test_half_close(void **state) {
  nh_fixture *f = *state;
  int port = 0;
  uvs_server *srv = nh_listen_tcp(f->e, NULL, &port);
  nh_server *ts = nh_server_start(srv, half_close_handler, NULL);
  uvs_stream *s = NULL;
  assert_uvs_rc(uvs_connect_tcp(f->e, "127.0.0.1", port, NULL, 10000, &s), 0);
  assert_int_equal(uvs_stream_can_write_eof(s), 1);
  size_t n = 200000;
  unsigned char *req = nh_random_bytes(11, n);
  assert_uvs_rc(uvs_stream_write(s, req, n), 0);
  assert_uvs_rc(uvs_stream_write_eof(s), 0);
  assert_uvs_rc(uvs_stream_write(s, "x", 1), UVS_EWRITEEOF);
  assert_int_equal(uvs_stream_is_closing(s), 0);
  char expect[64];
  snprintf(expect, sizeof(expect), "%zu %016" PRIx64, n,
           nh_fnv1a(NH_FNV_INIT, req, n));
  free(req);
  void *d = NULL;
  size_t len = 0;
  assert_uvs_rc(uvs_stream_read(s, -1, 20000, &d, &len), 0);
  assert_bytes_equal_n(d, len, expect, strlen(expect));
  uvs_free(d);
  assert_int_equal(uvs_stream_at_eof(s), 1);
  assert_uvs_rc(nh_close_free(s), 0);
  assert_int_equal(nh_server_stop(ts), 0);
  assert_uvs_rc(uvs_server_wait_closed(srv, 10000), 0);
  assert_uvs_rc(uvs_server_free(srv), 0);
}

/* ---- peer resets -------------------------------------------------------- */

static void check_lost(uvs_stream *s) {
  nh_assert_either(uvs_stream_wait_closed(s, 10000), UVS_ECONNRESET, UVS_EPIPE);
  assert_int_equal(uvs_stream_is_closing(s), 1);
  assert_uvs_rc(uvs_stream_write(s, "x", 1), 0); /* dropped, as asyncio */
  nh_assert_either(uvs_stream_drain(s, 10000), UVS_ECONNRESET, UVS_EPIPE);
  assert_int_equal(nh_sigpipe_count(), 0);
}

static void test_reset_during_drain(void **state) {
  nh_fixture *f = *state;
  nh_sigpipe_watch();
  int port = 0, peer = -1;
  int lfd = nh_raw_listen(4096, &port);
  uvs_stream *s = nh_connect_raw_peer(f->e, lfd, port, NULL, &peer);
  uint64_t seed = 3, hash = NH_FNV_INIT;
  fill_until_blocked(s, &seed, &hash);
  uvs_op *op = NULL;
  assert_uvs_rc(uvs_op_new(NULL, 1, &op), 0);
  assert_uvs_rc(uvs_stream_drain_start(s, op), UVS_PENDING);
  assert_uvs_rc(uvs_op_wait(op, 100), UVS_ETIMEDOUT);
  nh_raw_close_rst(peer);
  assert_uvs_rc(uvs_op_wait(op, 10000), 0);
  assert_int_equal(uvs_op_kind(op), UVS_OP_DRAIN);
  nh_assert_either(uvs_op_result(op), UVS_ECONNRESET, UVS_EPIPE);
  check_lost(s);
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
  close(lfd);
}

struct writer_job {
  pthread_t thread;
  uvs_stream *s;
  int rc; /* the error that ended the loop */
};

static void *reset_writer_main(void *p) {
  struct writer_job *w = p;
  size_t chunk = 65536;
  unsigned char *buf = nh_random_bytes(5, chunk);
  w->rc = 0;
  for (int i = 0; i < 100000 && w->rc == 0; i++) {
    w->rc = uvs_stream_write(w->s, buf, chunk);
    if (w->rc == 0)
      w->rc = uvs_stream_drain(w->s, 10000);
  }
  free(buf);
  return NULL;
}

static void test_reset_during_write(void **state) {
  nh_fixture *f = *state;
  nh_sigpipe_watch();
  int port = 0, peer = -1;
  int lfd = nh_raw_listen(0, &port);
  uvs_stream *s = nh_connect_raw_peer(f->e, lfd, port, NULL, &peer);
  struct writer_job w = {.s = s};
  assert_int_equal(pthread_create(&w.thread, NULL, reset_writer_main, &w), 0);
  int err = 0;
  assert_int_equal(nh_raw_read_all(peer, 4 * MIB, NULL, &err, 10000), 4 * MIB);
  nh_raw_close_rst(peer);
  pthread_join(w.thread, NULL);
  /* writes after the loss are dropped: the drain reports it */
  nh_assert_either(w.rc, UVS_ECONNRESET, UVS_EPIPE);
  check_lost(s);
  assert_uvs_rc(uvs_stream_free(s), 0);
  close(lfd);
}

static void test_reset_during_read(void **state) {
  nh_fixture *f = *state;
  int port = 0, peer = -1;
  int lfd = nh_raw_listen(0, &port);
  uvs_stream *s = nh_connect_raw_peer(f->e, lfd, port, NULL, &peer);
  uvs_op *op = NULL;
  assert_uvs_rc(uvs_op_new(NULL, 1, &op), 0);
  assert_uvs_rc(uvs_stream_read_start(s, 100, op), UVS_PENDING);
  nh_raw_close_rst(peer);
  assert_uvs_rc(uvs_op_wait(op, 10000), 0);
  assert_uvs_rc(uvs_op_result(op), UVS_ECONNRESET);
  assert_uvs_rc(uvs_stream_error(s), UVS_ECONNRESET);
  assert_uvs_rc(uvs_stream_wait_closed(s, 10000), UVS_ECONNRESET);
  assert_int_equal(uvs_stream_is_closing(s), 1);
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
  close(lfd);
}

/* ---- 64 MiB both ways at once ------------------------------------------- */

#define BIG_TOTAL ((int64_t)64 * MIB)

struct big_writer {
  pthread_t thread;
  uvs_stream *s;
  uint64_t hash;
  int rc;
};

static void *big_writer_main(void *p) {
  struct big_writer *w = p;
  size_t chunk = 256 * 1024;
  unsigned char *buf = malloc(chunk);
  uint64_t seed = 0x1234567;
  w->hash = NH_FNV_INIT;
  for (int64_t sent = 0; buf != NULL && sent < BIG_TOTAL && w->rc == 0;
       sent += (int64_t)chunk) {
    nh_fill_random(&seed, buf, chunk);
    w->hash = nh_fnv1a(w->hash, buf, chunk);
    w->rc = nh_write_drain(w->s, buf, chunk, 30000);
  }
  if (w->rc == 0) {
    w->rc = uvs_stream_write_eof(w->s);
  }
  free(buf);
  return NULL;
}

static void test_bidirectional_64mib(void **state) {
  nh_fixture *f = *state;
  int port = 0;
  nh_echo_stats st;
  nh_echo_stats_init(&st);
  uvs_server *srv = nh_listen_tcp(f->e, NULL, &port);
  nh_server *ts = nh_server_start(srv, nh_echo_handler, &st);
  uvs_stream *s = NULL;
  assert_uvs_rc(uvs_connect_tcp(f->e, "127.0.0.1", port, NULL, 10000, &s), 0);
  struct big_writer w = {.s = s};
  assert_int_equal(pthread_create(&w.thread, NULL, big_writer_main, &w), 0);
  int64_t got = 0;
  uint64_t hash = NH_FNV_INIT;
  int rc = 0;
  for (;;) {
    void *d = NULL;
    size_t n = 0;
    rc = uvs_stream_read(s, MIB, 30000, &d, &n);
    if (rc != 0 || n == 0) {
      uvs_free(d);
      break;
    }
    hash = nh_fnv1a(hash, d, n);
    got += (int64_t)n;
    uvs_free(d);
  }
  pthread_join(w.thread, NULL);
  assert_uvs_rc(rc, 0);
  assert_uvs_rc(w.rc, 0);
  assert_int_equal(got, BIG_TOTAL);
  assert_true(hash == w.hash);
  assert_uvs_rc(nh_close_free(s), 0);
  assert_int_equal(nh_server_stop(ts), 0);
  assert_int_equal(st.bytes, BIG_TOTAL);
  assert_true(st.hash == w.hash);
  assert_uvs_rc(uvs_server_wait_closed(srv, 10000), 0);
  assert_uvs_rc(uvs_server_free(srv), 0);
}

/* ---- read timeouts and cancellation keep the buffer --------------------- */

static void test_read_timeout_keeps_data(void **state) {
  nh_fixture *f = *state;
  int port = 0, peer = -1;
  int lfd = nh_raw_listen(0, &port);
  uvs_stream *s = nh_connect_raw_peer(f->e, lfd, port, NULL, &peer);
  void *d = NULL;
  size_t n = 0;
  assert_int_equal(nh_raw_send_all(peer, "abcde", 5), 0);
  nh_wait_buffered(s, 5);
  assert_uvs_rc(uvs_stream_readexactly(s, 10, 100, &d, &n), UVS_ETIMEDOUT);
  assert_int_equal(nh_get_int(s, "read_buffer_size"), 5);

  uvs_op *op = NULL;
  assert_uvs_rc(uvs_op_new(NULL, 9, &op), 0);
  assert_uvs_rc(uvs_op_set_timeout(op, 50), 0);
  assert_uvs_rc(uvs_stream_readexactly_start(s, 10, op), UVS_PENDING);
  assert_uvs_rc(uvs_op_wait(op, 10000), 0);
  assert_op_result(op, UVS_ETIMEDOUT);
  assert_uvs_rc(uvs_op_set_timeout(op, -1), 0);
  assert_uvs_rc(uvs_stream_readuntil_start(s, "\n", 1, op), UVS_PENDING);
  assert_uvs_rc(uvs_op_cancel(op), 0);
  assert_uvs_rc(uvs_op_wait(op, 10000), 0);
  assert_op_result(op, UVS_ECANCELED);
  assert_int_equal(nh_get_int(s, "read_buffer_size"), 5);

  assert_int_equal(nh_raw_send_all(peer, "fghijklm", 8), 0);
  assert_uvs_rc(uvs_stream_readexactly(s, 10, 10000, &d, &n), 0);
  assert_bytes_equal(d, n, "abcdefghij");
  uvs_free(d);
  assert_uvs_rc(uvs_stream_readline(s, 100, &d, &n), UVS_ETIMEDOUT);
  assert_int_equal(nh_raw_send_all(peer, "\nrest", 5), 0);
  assert_uvs_rc(uvs_stream_readline(s, 10000, &d, &n), 0);
  assert_bytes_equal(d, n, "klm\n");
  uvs_free(d);
  close(peer);
  assert_uvs_rc(uvs_stream_read(s, -1, 10000, &d, &n), 0);
  assert_bytes_equal(d, n, "rest");
  uvs_free(d);
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(nh_close_free(s), 0);
  close(lfd);
}

/* ---- read side pauses above 2 x limit ----------------------------------- */

#define PAUSE_LIMIT 4096
#define PAUSE_TOTAL ((int64_t)16 * MIB)

struct raw_source {
  pthread_t thread;
  int fd;
  uint64_t hash;
  int rc;
};

static void *raw_source_main(void *p) {
  struct raw_source *src = p;
  size_t chunk = 65536;
  unsigned char *buf = malloc(chunk);
  uint64_t seed = 99;
  src->hash = NH_FNV_INIT;
  for (int64_t sent = 0; buf != NULL && sent < PAUSE_TOTAL && src->rc == 0;
       sent += (int64_t)chunk) {
    nh_fill_random(&seed, buf, chunk);
    src->hash = nh_fnv1a(src->hash, buf, chunk);
    src->rc = nh_raw_send_all(src->fd, buf, chunk);
  }
  free(buf);
  return NULL;
}

static void test_read_pauses_above_limit(void **state) {
  nh_fixture *f = *state;
  const int64_t bound = 2 * PAUSE_LIMIT + READ_CHUNK_MAX;
  int port = 0, peer = -1;
  int lfd = nh_raw_listen(0, &port);
  uvs_options *o = nh_opts("limit", PAUSE_LIMIT, NULL, 0, NULL, 0);
  uvs_stream *s = nh_connect_raw_peer(f->e, lfd, port, o, &peer);
  uvs_options_free(o);
  assert_int_equal(nh_get_int(s, "limit"), PAUSE_LIMIT);
  struct raw_source src = {.fd = peer};
  assert_int_equal(pthread_create(&src.thread, NULL, raw_source_main, &src), 0);
  int64_t max = 0;
  for (int i = 0; i < 200; i++) {
    int64_t b = nh_get_int(s, "read_buffer_size");
    max = b > max ? b : max;
    uvst_sleep_ms(5);
  }
  assert_true(max > 2 * PAUSE_LIMIT); /* data arrived and was not read */
  if (max > bound) {
    fail_msg("read buffer grew to %" PRId64 " bytes (limit %d)", max,
             PAUSE_LIMIT);
  }
  int64_t got = 0;
  uint64_t hash = NH_FNV_INIT;
  while (got < PAUSE_TOTAL) {
    void *d = NULL;
    size_t n = 0;
    assert_uvs_rc(uvs_stream_read(s, PAUSE_LIMIT, 20000, &d, &n), 0);
    assert_true(n > 0 && n <= PAUSE_LIMIT);
    hash = nh_fnv1a(hash, d, n);
    got += (int64_t)n;
    uvs_free(d);
    int64_t b = nh_get_int(s, "read_buffer_size");
    if (b > bound) {
      fail_msg("read buffer grew to %" PRId64 " bytes while reading", b);
    }
  }
  pthread_join(src.thread, NULL);
  assert_int_equal(src.rc, 0);
  assert_int_equal(got, PAUSE_TOTAL);
  assert_true(hash == src.hash);
  close(peer);
  assert_uvs_rc(nh_close_free(s), 0);
  close(lfd);
}

/* ---- extra info --------------------------------------------------------- */

static void expect_str(uvs_stream *s, const char *key, const char *want) {
  char buf[256];
  assert_string_equal(nh_get_str(s, key, buf, sizeof(buf)), want);
}

static void expect_no_int(uvs_stream *s, const char *key) {
  int64_t v = 0;
  int rc = uvs_stream_get_int(s, key, &v);
  if (rc == 0) {
    fail_msg("get_int(\"%s\") = %" PRId64 ", expected UVS_ENOENT", key, v);
  }
  assert_uvs_rc(rc, UVS_ENOENT);
}

static void expect_no_str(uvs_stream *s, const char *key) {
  char *str = NULL;
  int rc = uvs_stream_get_str(s, key, &str);
  if (rc == 0) {
    fail_msg("get_str(\"%s\") = \"%s\", expected UVS_ENOENT", key, str);
  }
  assert_uvs_rc(rc, UVS_ENOENT);
}

static void check_fd_port(uvs_stream *s, int peer_port) {
  int64_t fd = nh_get_int(s, "fd");
  assert_true(fd >= 0);
  struct sockaddr_storage a;
  socklen_t alen = sizeof(a);
  assert_int_equal(getpeername((int)fd, (struct sockaddr *)&a, &alen), 0);
  assert_int_equal(ntohs(((struct sockaddr_in *)&a)->sin_port), peer_port);
}

static void test_extra_info_tcp(void **state) {
  nh_fixture *f = *state;
  int port = 0;
  char want[64];
  uvs_server *srv = nh_listen_tcp(f->e, NULL, &port);
  uvs_stream *c = NULL, *a = NULL;
  assert_uvs_rc(uvs_connect_tcp(f->e, "127.0.0.1", port, NULL, 10000, &c), 0);
  assert_uvs_rc(uvs_server_accept(srv, 10000, &a), 0);
  int cport = (int)nh_get_int(c, "sock.port");
  assert_true(cport > 0 && cport != port);
  assert_int_equal(nh_get_int(c, "peer.port"), port);
  assert_int_equal(nh_get_int(c, "family"), 4);
  assert_int_equal(nh_get_int(c, "nodelay"), 1);
  assert_int_equal(nh_get_int(c, "limit"), 65536);
  assert_int_equal(nh_get_int(c, "write_high"), 65536);
  assert_int_equal(nh_get_int(c, "write_low"), 16384);
  expect_str(c, "peer.host", "127.0.0.1");
  expect_str(c, "sock.host", "127.0.0.1");
  expect_str(c, "kind", "tcp");
  snprintf(want, sizeof(want), "127.0.0.1:%d", port);
  expect_str(c, "peername", want);
  snprintf(want, sizeof(want), "127.0.0.1:%d", cport);
  expect_str(c, "sockname", want);
  check_fd_port(c, port);
  expect_no_str(c, "peer.path");
  expect_no_str(c, "sock.path");
  /* the accepted side mirrors it */
  assert_int_equal(nh_get_int(a, "sock.port"), port);
  assert_int_equal(nh_get_int(a, "peer.port"), cport);
  assert_int_equal(nh_get_int(a, "family"), 4);
  assert_int_equal(nh_get_int(a, "nodelay"), 1);
  expect_str(a, "kind", "tcp");
  expect_str(a, "peername", want);
  check_fd_port(a, cport);
  assert_uvs_rc(nh_close_free(c), 0);
  assert_uvs_rc(nh_close_free(a), 0);
  assert_uvs_rc(uvs_server_close(srv), 0);
  assert_uvs_rc(uvs_server_wait_closed(srv, 10000), 0);
  assert_uvs_rc(uvs_server_free(srv), 0);
}

static void test_extra_info_unix(void **state) {
  nh_fixture *f = *state;
  char path[128];
  unix_path(f, path, sizeof(path));
  uvs_server *srv = nh_listen_unix(f->e, path, NULL);
  uvs_stream *c = NULL, *a = NULL;
  assert_uvs_rc(uvs_connect_unix(f->e, path, NULL, 10000, &c), 0);
  assert_uvs_rc(uvs_server_accept(srv, 10000, &a), 0);
  expect_str(c, "kind", "unix");
  expect_str(c, "peer.path", path);
  expect_str(c, "peername", path);
  assert_int_equal(nh_get_int(c, "family"), 1);
  assert_true(nh_get_int(c, "fd") >= 0);
  expect_no_int(c, "peer.port");
  expect_no_int(c, "sock.port");
  expect_no_int(c, "nodelay");
  expect_str(a, "kind", "unix");
  expect_str(a, "sock.path", path);
  expect_str(a, "sockname", path);
  assert_int_equal(nh_get_int(a, "family"), 1);
  expect_no_int(a, "peer.port");
  assert_uvs_rc(nh_close_free(c), 0);
  assert_uvs_rc(nh_close_free(a), 0);
  assert_uvs_rc(uvs_server_close(srv), 0);
  assert_uvs_rc(uvs_server_wait_closed(srv, 10000), 0);
  assert_uvs_rc(uvs_server_free(srv), 0);
}

/* ---- close semantics ---------------------------------------------------- */

static void close_later(void *p) {
  uvs_stream_close(p);
}

static void test_close_wakes_pending_read(void **state) {
  nh_fixture *f = *state;
  int port = 0, peer = -1;
  int lfd = nh_raw_listen(0, &port);
  uvs_stream *s = nh_connect_raw_peer(f->e, lfd, port, NULL, &peer);
  uvs_op *op = NULL;
  assert_uvs_rc(uvs_op_new(NULL, 1, &op), 0);
  assert_uvs_rc(uvs_stream_read_start(s, 100, op), UVS_PENDING);
  uvst_later *l = uvst_later_start(20, close_later, s);
  assert_uvs_rc(uvs_op_wait(op, 10000), 0);
  uvst_later_join(l);
  assert_op_result(op, 0);
  assert_op_data(op, "");
  assert_int_equal(uvs_stream_is_closing(s), 1);
  assert_uvs_rc(uvs_stream_wait_closed(s, 10000), 0);
  int err = -1;
  assert_int_equal(nh_raw_read_all(peer, 100, NULL, &err, 10000), 0);
  assert_int_equal(err, 0); /* the peer sees EOF */
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
  close(peer);
  close(lfd);
}

/* Writes 1 MiB, then closes (or frees) at once: the peer gets it all. */
static void run_close_flushes(nh_fixture *f, int use_free) {
  int port = 0, peer = -1;
  int lfd = nh_raw_listen(4096, &port);
  uvs_stream *s = nh_connect_raw_peer(f->e, lfd, port, NULL, &peer);
  unsigned char *buf = nh_random_bytes(21, MIB);
  assert_uvs_rc(uvs_stream_write(s, buf, MIB), 0);
  if (use_free) {
    assert_uvs_rc(uvs_stream_free(s), 0);
  } else {
    assert_uvs_rc(uvs_stream_close(s), 0);
    assert_int_equal(uvs_stream_is_closing(s), 1);
  }
  uint64_t hash = NH_FNV_INIT;
  int err = -1;
  assert_int_equal(nh_raw_read_all(peer, 2 * MIB, &hash, &err, 10000), MIB);
  assert_int_equal(err, 0);
  assert_true(hash == nh_fnv1a(NH_FNV_INIT, buf, MIB));
  if (!use_free) {
    assert_uvs_rc(uvs_stream_wait_closed(s, 10000), 0);
    assert_uvs_rc(uvs_stream_free(s), 0);
  }
  free(buf);
  close(peer);
  close(lfd);
}

static void test_close_flushes(void **state) {
  run_close_flushes(*state, 0);
}

static void test_free_flushes(void **state) {
  run_close_flushes(*state, 1);
}

static void test_abort_drops(void **state) {
  nh_fixture *f = *state;
  const size_t total = 32 * MIB;
  int port = 0, peer = -1;
  int lfd = nh_raw_listen(4096, &port);
  uvs_stream *s = nh_connect_raw_peer(f->e, lfd, port, NULL, &peer);
  unsigned char *buf = nh_random_bytes(22, total);
  assert_uvs_rc(uvs_stream_write(s, buf, total), 0);
  free(buf);
  assert_uvs_rc(uvs_stream_abort(s), 0);
  assert_int_equal(uvs_stream_is_closing(s), 1);
  assert_uvs_rc(uvs_stream_wait_closed(s, 10000), 0);
  assert_int_equal(uvs_stream_write_buffer_size(s) <= 0, 1);
  int err = -1;
  int64_t got = nh_raw_read_all(peer, (int64_t)total, NULL, &err, 10000);
  assert_true(got < (int64_t)total);
  assert_int_equal(err, ECONNRESET);
  assert_uvs_rc(uvs_stream_free(s), 0);
  close(peer);
  close(lfd);
}

static void test_close_state(void **state) {
  nh_fixture *f = *state;
  int port = 0, peer = -1;
  int lfd = nh_raw_listen(0, &port);
  uvs_stream *s = nh_connect_raw_peer(f->e, lfd, port, NULL, &peer);
  assert_int_equal(uvs_stream_is_closing(s), 0);
  assert_uvs_rc(uvs_stream_wait_closed(s, 50), UVS_ETIMEDOUT);
  assert_uvs_rc(uvs_stream_close(s), 0);
  assert_int_equal(uvs_stream_is_closing(s), 1);
  assert_uvs_rc(uvs_stream_close(s), 0); /* idempotent */
  nh_assert_either(uvs_stream_abort(s), 0, UVS_ECLOSED);
  assert_uvs_rc(uvs_stream_wait_closed(s, 10000), 0);
  assert_uvs_rc(uvs_stream_wait_closed(s, 10000), 0); /* many times */
  assert_uvs_rc(uvs_stream_write(s, "x", 1), UVS_ECLOSED);
  uvs_buf b = {"yz", 2};
  assert_uvs_rc(uvs_stream_writev(s, &b, 1), UVS_ECLOSED);
  nh_assert_either(uvs_stream_drain(s, 10000), UVS_ECONNRESET, UVS_ECLOSED);
  int err = -1;
  assert_int_equal(nh_raw_read_all(peer, 100, NULL, &err, 10000), 0);
  assert_int_equal(err, 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
  /* a freed handle is stale: validated, never a crash */
  nh_assert_either(uvs_stream_write(s, "x", 1), UVS_EBADHANDLE, UVS_ECLOSED);
  assert_true(uvs_stream_is_closing(s) < 0);
  nh_assert_either(uvs_stream_free(s), UVS_EBADHANDLE, UVS_ECLOSED);
  close(peer);
  close(lfd);
}

static int read_eof_or_closed(uvs_op *op) {
  const void *d = NULL;
  size_t n = 1;
  int rc = uvs_op_result(op);
  if (rc == 0) {
    assert_uvs_rc(uvs_op_data(op, &d, &n), 0);
    assert_int_equal(n, 0);
    return 1;
  }
  assert_uvs_rc(rc, UVS_ECLOSED);
  return 1;
}

static void test_free_completes_pending_ops(void **state) {
  nh_fixture *f = *state;
  int port = 0, peer = -1;
  int lfd = nh_raw_listen(0, &port);
  uvs_stream *s = nh_connect_raw_peer(f->e, lfd, port, NULL, &peer);
  uvs_cq *cq = NULL;
  uvs_op *rd = NULL, *wc = NULL, *got = NULL;
  assert_uvs_rc(uvs_cq_new(f->e, &cq), 0);
  assert_uvs_rc(uvs_op_new(cq, 42, &rd), 0);
  assert_uvs_rc(uvs_op_new(cq, 43, &wc), 0);
  assert_uvs_rc(uvs_stream_read_start(s, 10, rd), UVS_PENDING);
  assert_uvs_rc(uvs_stream_wait_closed_start(s, wc), UVS_PENDING);
  assert_uvs_rc(uvs_stream_free(s), 0);
  int seen_rd = 0, seen_wc = 0;
  for (int i = 0; i < 2; i++) {
    assert_int_equal(uvs_cq_next(cq, 10000, &got), 1);
    if (got == rd) {
      seen_rd += read_eof_or_closed(rd);
    } else {
      assert_ptr_equal(got, wc);
      nh_assert_either(uvs_op_result(wc), 0, UVS_ECLOSED);
      seen_wc++;
    }
  }
  assert_int_equal(seen_rd, 1);
  assert_int_equal(seen_wc, 1);
  assert_int_equal(uvs_cq_next(cq, 200, &got), 0); /* exactly once */
  int err = -1;
  assert_int_equal(nh_raw_read_all(peer, 100, NULL, &err, 10000), 0);
  assert_int_equal(err, 0);
  assert_uvs_rc(uvs_op_free(rd), 0);
  assert_uvs_rc(uvs_op_free(wc), 0);
  assert_uvs_rc(uvs_cq_free(cq), 0);
  close(peer);
  close(lfd);
}

/* ---- uvs_stream_open_fd ------------------------------------------------- */

static void test_open_fd_socketpair(void **state) {
  nh_fixture *f = *state;
  int sv[2];
  void *d = NULL;
  size_t n = 0;
  char got[4];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  uvs_stream *s = NULL;
  assert_uvs_rc(uvs_stream_open_fd(f->e, sv[0], NULL, &s), 0);
  expect_str(s, "kind", "unix");
  assert_int_equal(nh_get_int(s, "fd"), sv[0]);
  assert_int_equal(nh_raw_send_all(sv[1], "ping", 4), 0);
  assert_uvs_rc(uvs_stream_readexactly(s, 4, 10000, &d, &n), 0);
  assert_bytes_equal(d, n, "ping");
  uvs_free(d);
  assert_uvs_rc(nh_write_drain(s, "pong", 4, 10000), 0);
  assert_int_equal(nh_raw_read_exact(sv[1], got, 4, 10000), 0);
  assert_memory_equal(got, "pong", 4);
  assert_int_equal(uvs_stream_can_write_eof(s), 1);
  assert_uvs_rc(uvs_stream_write_eof(s), 0);
  int err = -1;
  assert_int_equal(nh_raw_read_all(sv[1], 100, NULL, &err, 10000), 0);
  assert_int_equal(err, 0); /* half-closed */
  assert_int_equal(nh_raw_send_all(sv[1], "more", 4), 0);
  close(sv[1]);
  assert_uvs_rc(uvs_stream_read(s, -1, 10000, &d, &n), 0);
  assert_bytes_equal(d, n, "more");
  uvs_free(d);
  assert_int_equal(uvs_stream_at_eof(s), 1);
  uvs_stream_close(s);
  assert_uvs_rc(uvs_stream_wait_closed(s, 10000), 0);
  /* the descriptor is closed (its number may be reused): "fd" says so */
  assert_int_equal(nh_get_int(s, "fd"), -1);
  uvs_stream_free(s);
}

static void test_open_fd_pipe(void **state) {
  nh_fixture *f = *state;
  int p[2];
  void *d = NULL;
  size_t n = 0;
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  uvs_stream *w = NULL;
  assert_uvs_rc(uvs_stream_open_fd(f->e, p[1], NULL, &w), 0);
  expect_str(w, "kind", "pipe");
  const size_t len = 100000;
  unsigned char *buf = nh_random_bytes(31, len);
  struct raw_sink sink;
  raw_sink_start(&sink, p[0]);
  assert_uvs_rc(nh_write_drain(w, buf, len, 10000), 0);
  assert_uvs_rc(nh_close_free(w), 0);
  pthread_join(sink.thread, NULL);
  assert_int_equal(sink.err, 0);
  assert_int_equal(sink.total, len);
  assert_true(sink.hash == nh_fnv1a(NH_FNV_INIT, buf, len));
  free(buf);
  close(p[0]);

  /* and the read end of another pipe */
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  uvs_stream *r = NULL;
  assert_uvs_rc(uvs_stream_open_fd(f->e, p[0], NULL, &r), 0);
  expect_str(r, "kind", "pipe");
  assert_true(write(p[1], "hello", 5) == 5);
  close(p[1]);
  assert_uvs_rc(uvs_stream_read(r, -1, 10000, &d, &n), 0);
  assert_bytes_equal(d, n, "hello");
  uvs_free(d);
  assert_int_equal(uvs_stream_at_eof(r), 1);
  assert_uvs_rc(nh_close_free(r), 0);
}

/* pause_reading: once it returns nothing more enters the buffer (the bytes
 * wait in the kernel), resume_reading lets them in, in order. */
static void test_pause_resume_reading(void **state) {
  nh_fixture *f = *state;
  int port = 0, peer = -1;
  int lfd = nh_raw_listen(0, &port);
  uvs_stream *s = nh_connect_raw_peer(f->e, lfd, port, NULL, &peer);
  void *d = NULL;
  size_t n = 0;
  assert_int_equal(nh_raw_send_all(peer, "ab", 2), 0);
  nh_wait_buffered(s, 2);
  assert_uvs_rc(uvs_stream_pause_reading(s), 0);
  assert_uvs_rc(uvs_stream_pause_reading(s), 0); /* idempotent */
  assert_int_equal(nh_raw_send_all(peer, "cd", 2), 0);
  assert_uvs_rc(uvs_stream_readexactly(s, 4, 200, &d, &n), UVS_ETIMEDOUT);
  assert_int_equal(nh_get_int(s, "read_buffer_size"), 2);
  assert_uvs_rc(uvs_stream_resume_reading(s), 0);
  assert_uvs_rc(uvs_stream_readexactly(s, 4, 10000, &d, &n), 0);
  assert_bytes_equal(d, n, "abcd");
  uvs_free(d);
  close(peer);
  close(lfd);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* ---- more than 4 GiB buffered for writing ------------------------------- */

#if defined(__has_feature)
#define UVST_HAS_FEATURE(x) __has_feature(x)
#else
#define UVST_HAS_FEATURE(x) 0
#endif

/* Why the 4 GiB test cannot run here (NULL: it can): it needs over 5 GiB
 * of memory and seconds of copying, too much under a sanitizer or valgrind
 * (their runs leave it to the plain build). */
static const char *why_not_4gib(void) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) ||           \
    UVST_HAS_FEATURE(address_sanitizer) || UVST_HAS_FEATURE(thread_sanitizer)
  return "built with a sanitizer";
#endif
  if (getenv("UVS_VALGRIND"))
    return "under valgrind";
  FILE *f = fopen("/proc/meminfo", "r");
  long long kib = 0;
  char line[128];
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "MemAvailable: %lld kB", &kib) == 1)
      break;
  if (f)
    fclose(f);
  return kib < 7LL * MIB ? "less than 7 GiB of memory available" : NULL;
}

struct byte_counter {
  pthread_t thread;
  int fd;
  int64_t want;  /* stops after this many bytes */
  int64_t total; /* bytes read */
};

/* Reads until c->want bytes came, or none came for 3 s. */
static void *byte_counter_main(void *p) {
  struct byte_counter *c = p;
  size_t cap = 4 * MIB;
  char *buf = malloc(cap);
  while (buf && c->total < c->want) {
    struct pollfd pfd = {c->fd, POLLIN, 0};
    if (poll(&pfd, 1, 3000) <= 0)
      break;
    size_t room = (size_t)(c->want - c->total);
    ssize_t n = read(c->fd, buf, room < cap ? room : cap);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    c->total += n;
  }
  free(buf);
  return NULL;
}

/* 65 x 64 MiB written while the peer does not read: what the peer has not
 * taken stays buffered. libuv writes take an unsigned length, and lengths
 * were cut to 32 bits: the peer got 64 MiB of 4.06 GiB and the rest was
 * dropped (buffer empty, drain OK). The peer reads 1.25 GiB here, past the
 * first 1 GiB slice; reading it all costs a minute on a loaded machine. */
static void test_write_over_4gib_loses_nothing(void **state) {
  nh_fixture *f = *state;
  const char *why = why_not_4gib();
  if (why) {
    fprintf(stderr, "NOT RUN: test_write_over_4gib_loses_nothing (%s)\n", why);
    return;
  }
  enum { kParts = 65 };
  const int64_t part = 64 * MIB, total = kParts * part;
  char *mem = malloc((size_t)part);
  assert_non_null(mem);
  memset(mem, 'x', (size_t)part);
  uvs_buf bufs[kParts];
  for (int i = 0; i < kParts; i++)
    bufs[i] = (uvs_buf){mem, (size_t)part};
  int peer = -1;
  uvs_stream *s = uvst_socketpair_stream(f->e, &peer);
  assert_uvs_rc(uvs_stream_writev(s, bufs, kParts), 0);
  free(mem);
  struct byte_counter c = {.fd = peer, .want = 20 * part};
  assert_int_equal(pthread_create(&c.thread, NULL, byte_counter_main, &c), 0);
  pthread_join(c.thread, NULL);
  assert_int_equal(c.total, c.want);
  /* the rest is still buffered (in flight counts until its write ends),
   * but for what the socket holds: a few MiB */
  int64_t buffered = uvs_stream_write_buffer_size(s);
  if (buffered > total || buffered < total - c.want - 64 * MIB)
    fail_msg("%lld bytes buffered after the peer read %lld of %lld",
             (long long)buffered, (long long)c.total, (long long)total);
  assert_uvs_rc(uvs_stream_drain(s, 0), UVS_ETIMEDOUT);
  assert_uvs_rc(uvs_stream_abort(s), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
  close(peer);
}

int main(void) {
  nh_apply_filter();
  nh_warm_up();
  const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, nh_setup, nh_teardown)
      T(test_echo_tcp),
      T(test_echo_unix),
      T(test_drain_waits_for_slow_peer),
      T(test_set_write_limits),
      T(test_half_close),
      T(test_reset_during_drain),
      T(test_reset_during_write),
      T(test_reset_during_read),
      T(test_bidirectional_64mib),
      T(test_read_timeout_keeps_data),
      T(test_pause_resume_reading),
      T(test_read_pauses_above_limit),
      T(test_extra_info_tcp),
      T(test_extra_info_unix),
      T(test_close_wakes_pending_read),
      T(test_close_flushes),
      T(test_free_flushes),
      T(test_abort_drops),
      T(test_close_state),
      T(test_free_completes_pending_ops),
      T(test_open_fd_socketpair),
      T(test_open_fd_pipe),
      T(test_write_over_4gib_loses_nothing),
#undef T
  };
  return cmocka_run_group_tests_name("stream", tests, NULL, NULL);
}
