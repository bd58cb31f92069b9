/*
 * conns.c - N concurrent connections to one server, each exchanging
 * messages; nothing lost, no descriptor leaked.
 *
 * The clients run in a child process (forked before any engine exists) on
 * plain non-blocking sockets and epoll, so the server process holds only its
 * own descriptors and its RSS is the server's. Phases:
 *   1. the child opens N connections (at most 256 connects in flight) and
 *      keeps them all open; the parent waits until the server has accepted
 *      all N (uvs_server_num_clients == N): N connections held at once;
 *   2. every client sends M lines of random length (16..256 bytes) and
 *      checks that the echo is byte-identical (FNV-1a of each direction);
 *   3. every client half-closes; the server sees EOF, closes; the client
 *      sees EOF and closes.
 * Then the server is closed and freed, the engine freed, and /proc/self/fd
 * must be back to its count before the engine existed.
 */
#include "echo.h"
#include "stress.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

enum { C_IDLE, C_CONNECTING, C_CONNECTED, C_EXCHANGE, C_SHUT, C_DONE };

typedef struct cconn {
  int fd;
  int state;
  char *out;
  size_t out_len, out_pos, in_len;
  uint64_t out_hash, in_hash;
} cconn;

static int read_byte(int fd, int timeout_ms, char *c) {
  int64_t end = st_now_ms() + timeout_ms;
  for (;;) {
    ssize_t k = read(fd, c, 1);
    if (k == 1)
      return 0;
    if (k == 0)
      return -1;
    if (errno != EINTR && errno != EAGAIN)
      return -1;
    if (st_now_ms() > end)
      return -1;
    st_sleep_ms(5);
  }
}

/* The client process. Exits 0 when every connection echoed everything. */
static void client_main(int n, int m, int to_parent, int from_parent) {
  int port = 0;
  if (read(from_parent, &port, sizeof port) != sizeof port)
    _exit(2);
  cconn *c = calloc((size_t)n, sizeof *c);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event evs[512];
  int failures = 0, connected = 0, in_flight = 0, next = 0, retries = 0;
  int64_t deadline = st_now_ms() + 240000;
  /* 1. connect everything, keep it open */
  while (connected < n && st_now_ms() < deadline) {
    while (next < n && in_flight < 256) {
      int fd = st_connect_nb(port);
      if (fd < 0) {
        printf("FAIL: client connect #%d: %s\n", next, strerror(-fd));
        _exit(1);
      }
      c[next].fd = fd;
      c[next].state = C_CONNECTING;
      struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)next};
      epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
      next++;
      in_flight++;
    }
    int k = epoll_wait(ep, evs, 512, 1000);
    for (int i = 0; i < k; i++) {
      cconn *x = &c[evs[i].data.u32];
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(x->fd, SOL_SOCKET, SO_ERROR, &err, &len);
      in_flight--;
      if (err) {
        /* a refused SYN (backlog overflow) is retried, never hidden */
        retries++;
        epoll_ctl(ep, EPOLL_CTL_DEL, x->fd, NULL);
        close(x->fd);
        int fd = st_connect_nb(port);
        if (fd < 0)
          _exit(1);
        x->fd = fd;
        struct epoll_event ev = {.events = EPOLLOUT,
                                 .data.u32 = evs[i].data.u32};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        in_flight++;
        continue;
      }
      x->state = C_CONNECTED;
      struct epoll_event ev = {.events = 0, .data.u32 = evs[i].data.u32};
      epoll_ctl(ep, EPOLL_CTL_MOD, x->fd, &ev);
      connected++;
    }
  }
  if (connected < n) {
    printf("FAIL: client: only %d of %d connections established\n", connected,
           n);
    _exit(1);
  }
  char ch = 'C';
  if (write(to_parent, &ch, 1) != 1)
    _exit(2);
  if (read_byte(from_parent, 300000, &ch) != 0 || ch != 'G')
    _exit(2);
  /* 2. messages */
  int64_t bytes = 0;
  for (int i = 0; i < n; i++) {
    uint64_t seed = 0x1234567ULL + (uint64_t)i * 7919;
    size_t total = 0;
    size_t lens[64];
    for (int j = 0; j < m && j < 64; j++) {
      lens[j] = 16 + st_rand(&seed) % 241;
      total += lens[j];
    }
    c[i].out = malloc(total);
    size_t off = 0;
    for (int j = 0; j < m && j < 64; j++) {
      st_fill_line(&seed, c[i].out + off, lens[j]);
      off += lens[j];
    }
    c[i].out_len = total;
    c[i].out_hash = st_fnv1a(ST_FNV_INIT, c[i].out, total);
    c[i].in_hash = ST_FNV_INIT;
    c[i].state = C_EXCHANGE;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT,
                             .data.u32 = (uint32_t)i};
    epoll_ctl(ep, EPOLL_CTL_MOD, c[i].fd, &ev);
  }
  int done = 0;
  char buf[65536];
  while (done < n && st_now_ms() < deadline) {
    int k = epoll_wait(ep, evs, 512, 1000);
    for (int i = 0; i < k; i++) {
      uint32_t idx = evs[i].data.u32;
      cconn *x = &c[idx];
      if (x->state == C_EXCHANGE && x->out_pos < x->out_len &&
          (evs[i].events & EPOLLOUT)) {
        ssize_t w = send(x->fd, x->out + x->out_pos, x->out_len - x->out_pos,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0)
          x->out_pos += (size_t)w;
        if (w < 0 && errno != EAGAIN) {
          printf("FAIL: client %u: send: %s\n", idx, strerror(errno));
          failures++;
          x->state = C_DONE;
          done++;
          close(x->fd);
          continue;
        }
        if (x->out_pos == x->out_len) {
          struct epoll_event ev = {.events = EPOLLIN, .data.u32 = idx};
          epoll_ctl(ep, EPOLL_CTL_MOD, x->fd, &ev);
        }
      }
      if (!(evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        continue;
      for (;;) {
        ssize_t r = recv(x->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r < 0 && errno == EAGAIN)
          break;
        if (r > 0) {
          x->in_hash = st_fnv1a(x->in_hash, buf, (size_t)r);
          x->in_len += (size_t)r;
          bytes += r;
          if (x->in_len > x->out_len) {
            printf("FAIL: client %u: received more than it sent\n", idx);
            failures++;
          }
          if (x->state == C_EXCHANGE && x->in_len == x->out_len) {
            if (x->in_hash != x->out_hash) {
              printf("FAIL: client %u: echo differs from what was sent\n", idx);
              failures++;
            }
            shutdown(x->fd, SHUT_WR); /* 3. half-close */
            x->state = C_SHUT;
          }
          continue;
        }
        /* EOF or error */
        if (x->state != C_SHUT) {
          printf("FAIL: client %u: %s after %zu of %zu bytes\n", idx,
                 r == 0 ? "EOF" : strerror(errno), x->in_len, x->out_len);
          failures++;
        }
        epoll_ctl(ep, EPOLL_CTL_DEL, x->fd, NULL);
        close(x->fd);
        x->state = C_DONE;
        done++;
        break;
      }
    }
  }
  if (done < n) {
    printf("FAIL: client: %d of %d connections did not finish in time\n",
           n - done, n);
    failures++;
  }
  char report[128];
  int len = snprintf(report, sizeof report, "%d %lld %d\n", failures,
                     (long long)bytes, retries);
  if (write(to_parent, report, (size_t)len) != len)
    _exit(2);
  fflush(stdout);
  _exit(failures ? 1 : 0);
}

int st_conns(const st_args *a) {
  int n = (int)(a->connections > 0 ? a->connections : a->quick ? 2000 : 10000);
  int m = (int)(a->messages > 0 ? a->messages : a->quick ? 8 : 16);
  if (m > 64)
    m = 64;
  int threads = a->io_threads >= 0 ? a->io_threads : 2;
  printf(
      "== conns: %d concurrent connections, %d messages each, io_threads %d\n",
      n, m, threads);
  long limit = st_raise_nofile(2L * n + 256);
  st_figure("conns.nofile_limit", "%ld", limit);
  if (limit < n + 128) {
    st_fail("conns: RLIMIT_NOFILE %ld is too low for %d connections", limit, n);
    return 1;
  }
  st_warm_up();
  int fds_before = st_count_fds();
  int p2c[2], c2p[2];
  if (pipe(p2c) != 0 || pipe(c2p) != 0)
    return 1;
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    close(p2c[1]);
    close(c2p[0]);
    client_main(n, m, c2p[1], p2c[0]);
  }
  close(p2c[0]);
  close(c2p[1]);
  int64_t t0 = st_now_ms();
  int64_t rss0 = st_rss_kb();
  st_watchdog_arm(600, "conns");
  uvs_engine *e = st_engine(threads);
  uvs_options *so = st_opts("backlog", 4096, NULL, 0, NULL, 0);
  st_echo *x = st_echo_start(e, so, 0);
  uvs_options_free(so);
  int port = st_echo_port(x);
  if (write(p2c[1], &port, sizeof port) != sizeof port)
    return 1;
  /* 1. all connected (client side), all accepted (server side) */
  char ch = 0;
  if (read_byte(c2p[0], 300000, &ch) != 0 || ch != 'C') {
    st_fail("conns: the clients did not connect");
  }
  int64_t accepted = 0;
  int held = 0;
  int64_t wait_end = st_now_ms() + 120000;
  while (st_now_ms() < wait_end) {
    held = uvs_server_num_clients(st_echo_server(x));
    st_echo_counts(x, &accepted, NULL, NULL, NULL);
    if (held >= n && accepted >= n)
      break;
    st_sleep_ms(20);
  }
  int64_t t_connected = st_now_ms();
  int64_t rss_held = st_rss_kb();
  ST_CHECK(held == n, "conns: the server holds %d connections, expected %d",
           held, n);
  st_figure("conns.held_concurrently", "%d", held);
  st_figure("conns.connect_seconds", "%.2f", (t_connected - t0) / 1000.0);
  st_figure("conns.rss_per_connection_bytes", "%lld",
            (long long)((rss_held - rss0) * 1024 / (n ? n : 1)));
  /* 2-3. exchange, half-close */
  ch = 'G';
  if (write(p2c[1], &ch, 1) != 1)
    return 1;
  char report[128] = "";
  size_t used = 0;
  while (used + 1 < sizeof report) {
    if (read_byte(c2p[0], 300000, &report[used]) != 0)
      break;
    if (report[used++] == '\n')
      break;
  }
  report[used] = 0;
  int status = 0;
  waitpid(pid, &status, 0);
  int cfail = -1, retries = 0;
  long long cbytes = 0;
  if (sscanf(report, "%d %lld %d", &cfail, &cbytes, &retries) != 3)
    st_fail("conns: no report from the client process (status %d)", status);
  else if (cfail != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    st_fail("conns: the clients recorded %d failures (status %d)", cfail,
            status);
  int64_t finished = 0, bytes = 0;
  int64_t fin_end = st_now_ms() + 60000;
  while (st_now_ms() < fin_end) {
    st_echo_counts(x, NULL, NULL, &finished, &bytes);
    if (finished >= n)
      break;
    st_sleep_ms(20);
  }
  ST_CHECK(finished == n, "conns: %lld of %d server connections finished",
           (long long)finished, n);
  ST_CHECK(bytes == cbytes, "conns: server echoed %lld bytes, clients got %lld",
           (long long)bytes, cbytes);
  int64_t errors = 0;
  int64_t completions = st_echo_stop(x, &errors);
  ST_RC(uvs_engine_free(e), 0, "conns: engine_free");
  int64_t t_end = st_now_ms();
  close(p2c[1]);
  close(c2p[0]);
  st_expect_fds(fds_before, 5000, "conns: after the engine was freed");
  st_watchdog_disarm();
  st_figure("conns.connections", "%d", n);
  st_figure("conns.messages", "%lld", (long long)n * m);
  st_figure("conns.bytes_moved", "%lld", (long long)(2 * bytes));
  st_figure("conns.completions", "%lld", (long long)completions);
  st_figure("conns.connect_retries", "%d", retries);
  st_figure("conns.seconds", "%.2f", (t_end - t0) / 1000.0);
  st_figure("conns.peak_rss_kb", "%lld", (long long)st_hwm_kb());
  st_figure("conns.peak_rss_per_connection_bytes", "%lld",
            (long long)((st_hwm_kb() - rss0) * 1024 / (n ? n : 1)));
  return st_failures() ? 1 : 0;
}
