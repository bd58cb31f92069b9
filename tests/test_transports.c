/*
 * test_transports.c - the other ways to get a stream, and how they scale:
 * one-way pipes to and from a child process, adopted listening sockets
 * (TCP and Unix), socket options set and read back, local_addr, Happy
 * Eyeballs, and a multi-loop engine spreading a server's connections.
 *
 * The Happy Eyeballs test needs a host name that resolves to an address that
 * swallows connection attempts first and to a working one second. This
 * program is linked with tests/resolver/fake_hosts.c, whose getaddrinfo()
 * answers "he.test" with ::1 then 127.0.0.1 (set in main() before any thread
 * exists) and passes other names to the C library; no privilege is needed.
 * Nothing answers on ::1 because its listener's accept queue is full (the
 * kernel drops further SYNs), so a one-at-a-time connect hangs on it while a
 * staggered one gets through on 127.0.0.1.
 */
#include "net_helpers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIB (1024 * 1024)

/* ---- pipes ----------------------------------------------------------------
 */

/* Starts /bin/cat with its stdin and stdout on pipes; the parent's ends are
 * returned (close-on-exec, so the child holds only its own). */
static pid_t spawn_cat(int *to_child, int *from_child) {
  int in[2], out[2];
  assert_int_equal(pipe2(in, O_CLOEXEC), 0);
  assert_int_equal(pipe2(out, O_CLOEXEC), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    execl("/bin/cat", "cat", (char *)NULL);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  *to_child = in[1];
  *from_child = out[0];
  return pid;
}

/* 1 MiB through a child process: written on a write pipe, read back on a
 * read pipe, while both are in flight; then EOF both ways. */
static void test_pipes_through_child(void **state) {
  nh_fixture *f = *state;
  int to_child, from_child;
  pid_t pid = spawn_cat(&to_child, &from_child);
  uvs_stream *w = NULL, *r = NULL;
  assert_uvs_rc(uvs_connect_write_pipe(f->e, to_child, NULL, &w), 0);
  assert_uvs_rc(uvs_connect_read_pipe(f->e, from_child, NULL, &r), 0);
  assert_int_equal(nh_get_int(w, "readable"), 0);
  assert_int_equal(nh_get_int(w, "writable"), 1);
  assert_int_equal(nh_get_int(r, "readable"), 1);
  assert_int_equal(nh_get_int(r, "writable"), 0);

  unsigned char *buf = nh_random_bytes(7, MIB);
  assert_uvs_rc(uvs_stream_write(w, buf, MIB), 0);
  void *d = NULL;
  size_t n = 0;
  assert_uvs_rc(uvs_stream_readexactly(r, MIB, 20000, &d, &n), 0);
  assert_int_equal(n, MIB);
  assert_true(nh_fnv1a(NH_FNV_INIT, d, n) == nh_fnv1a(NH_FNV_INIT, buf, MIB));
  uvs_free(d);
  assert_uvs_rc(uvs_stream_drain(w, 10000), 0);
  assert_uvs_rc(uvs_stream_write_eof(w), 0);
  assert_uvs_rc(uvs_stream_read(r, -1, 10000, &d, &n), 0);
  assert_int_equal(n, 0); /* cat saw EOF and exited */
  uvs_free(d);
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  free(buf);
  assert_uvs_rc(nh_close_free(w), 0);
  assert_uvs_rc(nh_close_free(r), 0);
}

/* A one-way stream refuses the other direction; the descriptor's own access
 * mode is checked when it is adopted. */
static void test_pipe_directions(void **state) {
  nh_fixture *f = *state;
  int p[2];
  void *d = NULL;
  size_t n = 0;
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  uvs_stream *r = NULL, *w = NULL;
  assert_uvs_rc(uvs_connect_read_pipe(f->e, p[0], NULL, &r), 0);
  assert_uvs_rc(uvs_connect_write_pipe(f->e, p[1], NULL, &w), 0);
  assert_uvs_rc(uvs_stream_write(r, "x", 1), UVS_ENOTSUP);
  assert_uvs_rc(uvs_stream_write_eof(r), UVS_ENOTSUP);
  assert_uvs_rc(uvs_stream_drain(r, 1000), UVS_ENOTSUP);
  assert_int_equal(uvs_stream_can_write_eof(r), 0);
  assert_uvs_rc(uvs_stream_read(w, 1, 1000, &d, &n), UVS_ENOTSUP);
  assert_uvs_rc(uvs_stream_write(w, "ping", 4), 0);
  assert_uvs_rc(uvs_stream_readexactly(r, 4, 10000, &d, &n), 0);
  assert_bytes_equal(d, n, "ping");
  uvs_free(d);
  assert_uvs_rc(nh_close_free(w), 0);
  assert_uvs_rc(uvs_stream_read(r, -1, 10000, &d, &n), 0); /* EOF */
  assert_int_equal(n, 0);
  uvs_free(d);
  assert_uvs_rc(nh_close_free(r), 0);

  /* the wrong end: refused, and the descriptor is closed all the same */
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  assert_uvs_rc(uvs_connect_read_pipe(f->e, p[1], NULL, &r), UVS_EINVAL);
  assert_uvs_rc(uvs_connect_write_pipe(f->e, p[0], NULL, &w), UVS_EINVAL);
  assert_int_equal(fcntl(p[0], F_GETFD), -1);
  assert_int_equal(fcntl(p[1], F_GETFD), -1);
}

/* The reader went away: the write "succeeds" and the drain reports the
 * broken pipe (asyncio's order); SIGPIPE, at its default action before, is
 * now ignored, so the process is still here to see it. */
static void test_write_pipe_reader_gone(void **state) {
  nh_fixture *f = *state;
  int p[2];
  signal(SIGPIPE, SIG_DFL);
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  uvs_stream *w = NULL;
  assert_uvs_rc(uvs_connect_write_pipe(f->e, p[1], NULL, &w), 0);
  struct sigaction sa;
  assert_int_equal(sigaction(SIGPIPE, NULL, &sa), 0);
  assert_true(sa.sa_handler == SIG_IGN);
  close(p[0]);
  assert_uvs_rc(uvs_stream_write(w, "lost", 4), 0);
  assert_uvs_rc(uvs_stream_drain(w, 10000), UVS_EPIPE);
  assert_uvs_rc(uvs_stream_write(w, "more", 4), 0); /* dropped */
  nh_close_free(w);
}

/* ---- adopted listening sockets --------------------------------------------
 */

/* One echo exchange with a server through a fresh client connection. */
static void echo_once(uvs_engine *e, uvs_server *srv, const char *host,
                      int port, const char *unix_path) {
  uvs_stream *c = NULL, *s = NULL;
  if (unix_path)
    assert_uvs_rc(uvs_connect_unix(e, unix_path, NULL, 10000, &c), 0);
  else
    assert_uvs_rc(uvs_connect_tcp(e, host, port, NULL, 10000, &c), 0);
  assert_uvs_rc(uvs_server_accept(srv, 10000, &s), 0);
  assert_uvs_rc(uvs_stream_write(c, "hi\n", 3), 0);
  void *d = NULL;
  size_t n = 0;
  assert_uvs_rc(uvs_stream_readline(s, 10000, &d, &n), 0);
  assert_bytes_equal(d, n, "hi\n");
  uvs_free(d);
  assert_uvs_rc(nh_close_free(c), 0);
  assert_uvs_rc(nh_close_free(s), 0);
}

static void test_adopt_listening_tcp(void **state) {
  nh_fixture *f = *state;
  for (int listening = 0; listening <= 1; ++listening) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    if (listening)
      assert_int_equal(listen(fd, 8), 0);
    socklen_t len = sizeof sin;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    uvs_server *srv = NULL;
    assert_uvs_rc(uvs_server_listen_fd(f->e, fd, NULL, &srv), 0);
    char *host = NULL;
    int port = -1;
    assert_uvs_rc(uvs_server_address(srv, 0, &host, &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, ntohs(sin.sin_port));
    uvs_free(host);
    int64_t v = -1;
    assert_uvs_rc(uvs_server_get_int(srv, 0, "fd", &v), 0);
    assert_int_equal(v, fd);
    echo_once(f->e, srv, "127.0.0.1", port, NULL);
    assert_uvs_rc(uvs_server_close(srv), 0);
    assert_uvs_rc(uvs_server_wait_closed(srv, 10000), 0);
    assert_uvs_rc(uvs_server_free(srv), 0);
    assert_int_equal(fcntl(fd, F_GETFD), -1); /* the server closed it */
  }
}

static void test_adopt_listening_unix(void **state) {
  nh_fixture *f = *state;
  struct sockaddr_un sun = {.sun_family = AF_UNIX};
  snprintf(sun.sun_path, sizeof sun.sun_path, "%.64s/adopted.sock", f->dir);
  const char *path = sun.sun_path;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
  uvs_server *srv = NULL;
  assert_uvs_rc(uvs_server_listen_fd(f->e, fd, NULL, &srv), 0);
  echo_once(f->e, srv, NULL, 0, path);
  assert_uvs_rc(uvs_server_close(srv), 0);
  assert_uvs_rc(uvs_server_wait_closed(srv, 10000), 0);
  assert_uvs_rc(uvs_server_free(srv), 0);
  assert_int_equal(access(path, F_OK), -1); /* cleaned up, as asyncio */
}

static void test_adopt_bad_descriptors(void **state) {
  nh_fixture *f = *state;
  uvs_server *srv = NULL;
  int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  assert_uvs_rc(uvs_server_listen_fd(f->e, udp, NULL, &srv), UVS_EINVAL);
  assert_int_equal(fcntl(udp, F_GETFD), -1);
  int p[2];
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  assert_uvs_rc(uvs_server_listen_fd(f->e, p[0], NULL, &srv), UVS_EINVAL);
  close(p[1]);
  assert_uvs_rc(uvs_server_listen_fd(f->e, -1, NULL, &srv), UVS_EBADF);
  int tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_uvs_rc(uvs_server_listen_fd(NULL, tcp, NULL, &srv), UVS_EBADHANDLE);
  assert_int_equal(fcntl(tcp, F_GETFD), -1);
}

/* ---- socket options -------------------------------------------------------
 */

static void test_socket_options_read_back(void **state) {
  nh_fixture *f = *state;
  uvs_options *so =
      nh_opts("keep_alive", 1, "recv_buffer_size", 200000, NULL, 0);
  int port = 0;
  uvs_server *srv = nh_listen_tcp(f->e, so, &port);
  uvs_options *co =
      nh_opts("keep_alive", 1, "nodelay", 0, "send_buffer_size", 100000);
  uvs_stream *c = NULL, *s = NULL;
  assert_uvs_rc(uvs_connect_tcp(f->e, "127.0.0.1", port, co, 10000, &c), 0);
  assert_uvs_rc(uvs_server_accept(srv, 10000, &s), 0);
  assert_int_equal(nh_get_int(c, "keep_alive"), 1);
  assert_int_equal(nh_get_int(c, "nodelay"), 0);
  assert_true(nh_get_int(c, "send_buffer_size") >= 100000);
  assert_int_equal(nh_get_int(s, "keep_alive"), 1);
  assert_int_equal(nh_get_int(s, "nodelay"), 1); /* asyncio's default */
  assert_true(nh_get_int(s, "recv_buffer_size") >= 200000);
  int64_t v = -1;
  assert_uvs_rc(uvs_server_get_int(srv, 0, "recv_buffer_size", &v), 0);
  assert_true(v >= 200000);
  assert_uvs_rc(uvs_server_get_int(srv, 0, "reuse_address", &v), 0);
  assert_int_equal(v, 1);
  assert_uvs_rc(uvs_server_get_int(srv, 0, "no such key", &v), UVS_ENOENT);
  assert_uvs_rc(uvs_server_get_int(srv, 5, "fd", &v), UVS_EINVAL);
  assert_uvs_rc(nh_close_free(c), 0);
  assert_uvs_rc(nh_close_free(s), 0);
  assert_uvs_rc(uvs_server_free(srv), 0);
  uvs_options_free(so);
  uvs_options_free(co);

  uvs_options *bad = nh_opts("send_buffer_size", -1, NULL, 0, NULL, 0);
  assert_uvs_rc(uvs_connect_tcp(f->e, "127.0.0.1", port, bad, 1000, &c),
                UVS_EINVAL);
  uvs_options_free(bad);
}

static void test_ipv6_only(void **state) {
  nh_fixture *f = *state;
  for (int only = 0; only <= 1; ++only) {
    uvs_options *o = nh_opts("ipv6_only", only, NULL, 0, NULL, 0);
    uvs_server *srv = NULL;
    assert_uvs_rc(uvs_server_listen_tcp(f->e, "::", 0, o, &srv), 0);
    int64_t v = -1;
    assert_uvs_rc(uvs_server_get_int(srv, 0, "ipv6_only", &v), 0);
    assert_int_equal(v, only);
    assert_uvs_rc(uvs_server_get_int(srv, 0, "family", &v), 0);
    assert_int_equal(v, 6);
    char *host = NULL;
    int port = -1;
    assert_uvs_rc(uvs_server_address(srv, 0, &host, &port), 0);
    uvs_free(host);
    /* dual stack: an IPv4 client gets through only when not v6-only */
    int c = nh_raw_connect(port);
    if (only) {
      assert_true(c < 0);
    } else {
      assert_true(c >= 0);
      close(c);
    }
    assert_uvs_rc(uvs_server_free(srv), 0);
    uvs_options_free(o);
  }
}

static void test_local_addr(void **state) {
  nh_fixture *f = *state;
  int port = 0;
  uvs_server *srv = nh_listen_tcp(f->e, NULL, &port);
  int local_port = uvst_unused_port();
  uvs_options *o = nh_opts("local_port", local_port, NULL, 0, NULL, 0);
  assert_uvs_rc(uvs_options_set_str(o, "local_host", "127.0.0.1"), 0);
  uvs_stream *c = NULL, *s = NULL;
  assert_uvs_rc(uvs_connect_tcp(f->e, "127.0.0.1", port, o, 10000, &c), 0);
  assert_uvs_rc(uvs_server_accept(srv, 10000, &s), 0);
  assert_int_equal(nh_get_int(c, "sock.port"), local_port);
  assert_int_equal(nh_get_int(s, "peer.port"), local_port);
  assert_uvs_rc(nh_close_free(c), 0);
  assert_uvs_rc(nh_close_free(s), 0);

  /* a name, or a family no remote address has, is refused */
  assert_uvs_rc(uvs_options_set_str(o, "local_host", "localhost"), 0);
  assert_uvs_rc(uvs_connect_tcp(f->e, "127.0.0.1", port, o, 10000, &c),
                UVS_EINVAL);
  assert_uvs_rc(uvs_options_set_str(o, "local_host", "::1"), 0);
  assert_uvs_rc(uvs_connect_tcp(f->e, "127.0.0.1", port, o, 10000, &c),
                UVS_EINVAL);
  uvs_options_free(o);
  assert_uvs_rc(uvs_server_free(srv), 0);
}

/* ---- Happy Eyeballs -------------------------------------------------------
 */

/* The name the fake resolver (tests/resolver/fake_hosts.c) answers with ::1
 * then 127.0.0.1. */
#define HE_HOSTS "he.test ::1 127.0.0.1"

/* A listener on [::1]:port whose accept queue is full: SYNs to it are
 * dropped, so connecting there hangs. fds[] receives what to close. */
static int blackhole_v6(int *port, int fds[3]) {
  int l = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
  sin6.sin6_addr = in6addr_loopback;
  assert_int_equal(bind(l, (struct sockaddr *)&sin6, sizeof sin6), 0);
  assert_int_equal(listen(l, 0), 0);
  socklen_t len = sizeof sin6;
  assert_int_equal(getsockname(l, (struct sockaddr *)&sin6, &len), 0);
  fds[0] = l;
  for (int i = 1; i < 3; ++i) { /* fill the queue */
    fds[i] = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    connect(fds[i], (struct sockaddr *)&sin6, sizeof sin6);
  }
  uvst_sleep_ms(100);
  *port = ntohs(sin6.sin6_port);
  return l;
}

static void test_happy_eyeballs(void **state) {
  nh_fixture *f = *state;
  int port = 0, holes[3];
  blackhole_v6(&port, holes);
  uvs_server *srv = NULL;
  assert_uvs_rc(uvs_server_listen_tcp(f->e, "127.0.0.1", port, NULL, &srv), 0);

  /* one address at a time: stuck on ::1 */
  uvs_stream *c = NULL, *s = NULL;
  assert_uvs_rc(uvs_connect_tcp(f->e, "he.test", port, NULL, 1000, &c),
                UVS_ETIMEDOUT);
  /* staggered by 100 ms: 127.0.0.1 answers while ::1 is still silent */
  uvs_options *o = nh_opts("happy_eyeballs_delay", 100, NULL, 0, NULL, 0);
  int64_t t0 = uvst_now_ms();
  assert_uvs_rc(uvs_connect_tcp(f->e, "he.test", port, o, 20000, &c), 0);
  int64_t took = uvst_now_ms() - t0;
  char host[64];
  assert_string_equal(nh_get_str(c, "peer.host", host, sizeof host),
                      "127.0.0.1");
  assert_uvs_rc(uvs_server_accept(srv, 10000, &s), 0);
  printf("# happy eyeballs: connected through 127.0.0.1 in %lld ms\n",
         (long long)took);
  assert_uvs_rc(nh_close_free(c), 0);
  assert_uvs_rc(nh_close_free(s), 0);
  uvs_options_free(o);
  assert_uvs_rc(uvs_server_free(srv), 0);
  for (int i = 0; i < 3; ++i)
    close(holes[i]);
}

/* ---- several loops --------------------------------------------------------
 */

#define SPREAD_CONNS 20
#define SPREAD_BYTES (256 * 1024)

typedef struct spread_state {
  pthread_mutex_t mutex;
  int per_loop[2];
  nh_echo_stats echo;
} spread_state;

static void record_loop_then_echo(uvs_stream *s, void *arg) {
  spread_state *st = arg;
  int64_t loop = -1;
  uvs_stream_get_int(s, "loop", &loop);
  pthread_mutex_lock(&st->mutex);
  if (loop == 0 || loop == 1)
    st->per_loop[loop]++;
  pthread_mutex_unlock(&st->mutex);
  nh_echo_handler(s, &st->echo);
}

typedef struct spread_client {
  pthread_t thread;
  uvs_engine *e;
  int port;
  int seed;
  size_t bytes;
  int failed;
} spread_client;

static void *spread_client_main(void *p) {
  spread_client *c = p;
  uvs_stream *s = NULL;
  unsigned char *buf = malloc(c->bytes);
  uint64_t seed = (uint64_t)c->seed + 1;
  nh_fill_random(&seed, buf, c->bytes);
  void *d = NULL;
  size_t n = 0;
  c->failed =
      uvs_connect_tcp(c->e, "127.0.0.1", c->port, NULL, 10000, &s) != 0 ||
      nh_write_drain(s, buf, c->bytes, 20000) != 0 ||
      uvs_stream_readexactly(s, c->bytes, 20000, &d, &n) != 0 ||
      n != c->bytes || memcmp(d, buf, n) != 0;
  uvs_free(d);
  if (s)
    nh_close_free(s);
  free(buf);
  return NULL;
}

/* n concurrent clients (on an engine of their own), each echoing bytes;
 * returns how many failed. */
static int run_spread_clients(int port, int n, size_t bytes) {
  uvs_engine *clients = uvst_engine_new(1);
  spread_client *cs = calloc((size_t)n, sizeof *cs);
  assert_non_null(cs);
  for (int i = 0; i < n; ++i) {
    cs[i] =
        (spread_client){.e = clients, .port = port, .seed = i, .bytes = bytes};
    assert_int_equal(
        pthread_create(&cs[i].thread, NULL, spread_client_main, &cs[i]), 0);
  }
  int failed = 0;
  for (int i = 0; i < n; ++i) {
    pthread_join(cs[i].thread, NULL);
    failed += cs[i].failed;
  }
  free(cs);
  assert_uvs_rc(uvs_engine_free(clients), 0);
  return failed;
}

/* io_threads = 2: the server's connections alternate between the loops,
 * and every byte comes back under concurrent load. */
static void test_connections_spread_over_loops(void **state) {
  nh_fixture *f = *state; /* the server's engine: two loops */
  spread_state st = {.mutex = PTHREAD_MUTEX_INITIALIZER};
  nh_echo_stats_init(&st.echo);
  int port = 0;
  uvs_server *srv = nh_listen_tcp(f->e, NULL, &port);
  nh_server *ts = nh_server_start(srv, record_loop_then_echo, &st);
  assert_int_equal(run_spread_clients(port, SPREAD_CONNS, SPREAD_BYTES), 0);
  assert_int_equal(nh_server_stop(ts), 0);
  assert_uvs_rc(uvs_server_free(srv), 0);
  assert_int_equal(st.per_loop[0] + st.per_loop[1], SPREAD_CONNS);
  assert_int_equal(st.per_loop[0], SPREAD_CONNS / 2);
  assert_int_equal(st.per_loop[1], SPREAD_CONNS / 2);
  assert_int_equal(st.echo.bytes, (int64_t)SPREAD_CONNS * SPREAD_BYTES);
}

#define RP_CONNS 40
#define RP_BYTES (64 * 1024)

static int64_t server_int(uvs_server *srv, const char *key) {
  int64_t v = -1;
  assert_uvs_rc(uvs_server_get_int(srv, 0, key, &v), 0);
  return v;
}

/* "per_loop_listeners" with two loops: one SO_REUSEPORT socket per loop on
 * the port picked for the first (port 0), listed as one address; the kernel
 * spreads the connections (not exactly evenly), each served on the loop that
 * accepted it, nothing lost; close() closes every loop's socket before it
 * returns. */
static void test_per_loop_listeners(void **state) {
  nh_fixture *f = *state;
  spread_state st = {.mutex = PTHREAD_MUTEX_INITIALIZER};
  nh_echo_stats_init(&st.echo);
  uvs_options *o = nh_opts("per_loop_listeners", 1, NULL, 0, NULL, 0);
  int port = 0;
  uvs_server *srv = nh_listen_tcp(f->e, o, &port);
  uvs_options_free(o);
  assert_int_equal(uvs_server_num_addresses(srv), 1);
  assert_int_equal(server_int(srv, "reuse_port"), 1);
  assert_int_equal(uvs_server_is_serving(srv), 1);
  nh_server *ts = nh_server_start(srv, record_loop_then_echo, &st);
  assert_int_equal(run_spread_clients(port, RP_CONNS, RP_BYTES), 0);
  assert_uvs_rc(uvs_server_close(srv), 0);
  int fd = nh_raw_connect(port);
  if (fd >= 0)
    close(fd);
  assert_int_equal(fd, -ECONNREFUSED);
  assert_int_equal(nh_server_stop(ts), 0);
  assert_uvs_rc(uvs_server_wait_closed(srv, 10000), 0);
  assert_uvs_rc(uvs_server_free(srv), 0);
  print_message("# per-loop listeners: %d + %d connections\n", st.per_loop[0],
                st.per_loop[1]);
  assert_int_equal(st.per_loop[0] + st.per_loop[1], RP_CONNS);
  assert_true(st.per_loop[0] >= 1);
  assert_true(st.per_loop[1] >= 1);
  assert_int_equal(st.echo.bytes, (int64_t)RP_CONNS * RP_BYTES);
}

/* With "start_serving" 0 the per-loop sockets are bound, not listening,
 * until uvs_server_start_serving; then every loop's socket serves. */
static void test_per_loop_listeners_start_serving(void **state) {
  nh_fixture *f = *state;
  spread_state st = {.mutex = PTHREAD_MUTEX_INITIALIZER};
  nh_echo_stats_init(&st.echo);
  uvs_options *o =
      nh_opts("per_loop_listeners", 1, "start_serving", 0, NULL, 0);
  int port = 0;
  uvs_server *srv = nh_listen_tcp(f->e, o, &port);
  uvs_options_free(o);
  assert_int_equal(uvs_server_is_serving(srv), 0);
  int fd = nh_raw_connect(port);
  if (fd >= 0)
    close(fd);
  assert_int_equal(fd, -ECONNREFUSED);
  assert_uvs_rc(uvs_server_start_serving(srv), 0);
  assert_uvs_rc(uvs_server_start_serving(srv), 0); /* idempotent */
  assert_int_equal(uvs_server_is_serving(srv), 1);
  nh_server *ts = nh_server_start(srv, record_loop_then_echo, &st);
  assert_int_equal(run_spread_clients(port, RP_CONNS / 2, RP_BYTES), 0);
  assert_int_equal(nh_server_stop(ts), 0);
  assert_uvs_rc(uvs_server_free(srv), 0);
  assert_int_equal(st.per_loop[0] + st.per_loop[1], RP_CONNS / 2);
}

/* The engine shut down under a per-loop server with a blocked accept: the
 * accept ends, every loop's socket is closed. */
static void *accept_once_main(void *p) {
  uvs_stream *s = NULL;
  intptr_t rc = uvs_server_accept(p, 20000, &s);
  if (s)
    nh_close_free(s);
  return (void *)rc;
}

static void test_per_loop_listeners_engine_shutdown(void **state) {
  (void)state;
  uvs_engine *e = uvst_engine_new(2);
  uvs_options *o = nh_opts("per_loop_listeners", 1, NULL, 0, NULL, 0);
  int port = 0;
  uvs_server *srv = nh_listen_tcp(e, o, &port);
  uvs_options_free(o);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, accept_once_main, srv), 0);
  usleep(50 * 1000);
  assert_uvs_rc(uvs_engine_free(e), 0);
  void *rc = NULL;
  pthread_join(t, &rc);
  assert_int_equal((int)(intptr_t)rc, UVS_ESHUTDOWN);
  int fd = nh_raw_connect(port);
  if (fd >= 0)
    close(fd);
  assert_int_equal(fd, -ECONNREFUSED);
  uvs_server_free(srv);
}

/* One loop: the option changes nothing (one socket, no SO_REUSEPORT). */
static void test_per_loop_listeners_one_loop(void **state) {
  nh_fixture *f = *state;
  spread_state st = {.mutex = PTHREAD_MUTEX_INITIALIZER};
  nh_echo_stats_init(&st.echo);
  uvs_options *o = nh_opts("per_loop_listeners", 1, NULL, 0, NULL, 0);
  int port = 0;
  uvs_server *srv = nh_listen_tcp(f->e, o, &port);
  uvs_options_free(o);
  assert_int_equal(uvs_server_num_addresses(srv), 1);
  assert_int_equal(server_int(srv, "reuse_port"), 0);
  nh_server *ts = nh_server_start(srv, record_loop_then_echo, &st);
  assert_int_equal(run_spread_clients(port, 4, RP_BYTES), 0);
  assert_uvs_rc(uvs_server_close(srv), 0);
  int fd = nh_raw_connect(port);
  if (fd >= 0)
    close(fd);
  assert_int_equal(fd, -ECONNREFUSED);
  assert_int_equal(nh_server_stop(ts), 0);
  assert_uvs_rc(uvs_server_free(srv), 0);
  assert_int_equal(st.per_loop[0], 4);
}

static int setup_two_loops(void **state) {
  return nh_setup_threads(state, 2);
}

int main(void) {
  setenv("UVST_FAKE_HOSTS", HE_HOSTS, 1);
  nh_apply_filter();
  nh_warm_up();
  const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, nh_setup, nh_teardown)
      T(test_pipes_through_child),
      T(test_pipe_directions),
      T(test_write_pipe_reader_gone),
      T(test_adopt_listening_tcp),
      T(test_adopt_listening_unix),
      T(test_adopt_bad_descriptors),
      T(test_socket_options_read_back),
      T(test_ipv6_only),
      T(test_local_addr),
      T(test_happy_eyeballs),
      cmocka_unit_test_setup_teardown(test_connections_spread_over_loops,
                                      setup_two_loops, nh_teardown),
      cmocka_unit_test_setup_teardown(test_per_loop_listeners, setup_two_loops,
                                      nh_teardown),
      cmocka_unit_test_setup_teardown(test_per_loop_listeners_start_serving,
                                      setup_two_loops, nh_teardown),
      T(test_per_loop_listeners_engine_shutdown),
      T(test_per_loop_listeners_one_loop),
#undef T
  };
  return cmocka_run_group_tests_name("transports", tests, NULL, NULL);
}
