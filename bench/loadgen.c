/*
 * loadgen - a load generator for echo servers, on plain epoll (no libuv, so
 * that it shares no code with the servers under test).
 *
 *   loadgen pingpong [--host H] --port P [--conns N] [--size S]
 *                    [--duration SEC] [--warmup SEC] [--requests R]
 *                    [--sync] [--stall SEC] [--tls]
 *   loadgen stream   [--host H] --port P [--bytes B] [--warmup-bytes B]
 *                    [--chunk B] [--sync] [--stall SEC]
 *   loadgen idle     [--host H] --port P [--conns N] [--size S]
 *                    [--batch K] [--stall SEC] [--tls]
 *
 * pingpong: N connections; each sends a message of S bytes and waits for the
 *   whole echo before sending the next (closed loop), for SEC seconds (or R
 *   requests in all). Every echo is compared byte for byte with what was
 *   sent (each message carries its connection and sequence number), so a
 *   server that loses, reorders or corrupts data fails the run. Messages are
 *   letters and digits ending in '\n' (one line each: readline servers work).
 *   A warm-up phase (--warmup, default 0.5 s) runs first and is not counted.
 *   Reports requests/s, MiB/s (payload, one direction, as vmbench does) and
 *   latency percentiles.
 * stream: one connection; writes B bytes (default 1 GiB) as fast as the
 *   server takes them while reading the echo back, verifies every byte, and
 *   reports GiB/s of payload (elapsed until the last echoed byte arrives).
 *   Sends and receives are --chunk bytes (default 128 KiB: on the bench
 *   machine's kernel, calls above 128 KiB cost twice as much per byte, so
 *   a larger chunk would make the client the bottleneck).
 * idle: opens N connections in batches of K, each batch pinged once (one
 *   S-byte echo per connection, so the server has really accepted and is
 *   serving them), prints "ready", waits for a line on stdin, pings every
 *   connection once more (the server must still serve them all) and closes.
 *
 * --sync (pingpong, stream): after the warm-up, with nothing in flight, print
 * "warm" and wait for a line on stdin; after the measured phase, with nothing
 * in flight, print "done" and wait again. A driver samples the server's CPU
 * time at those two points, which then covers exactly the measured requests.
 *
 * --tls (pingpong, idle): every connection speaks TLS (OpenSSL, the
 * library's defaults: TLS 1.3 where the server has it; the server's
 * certificate is not verified, the bench makes a throwaway one). Each
 * handshake is completed right after its connect, before any request, so
 * the measured phase holds nothing but application data; the SSL objects
 * are non-blocking on the same epoll loop (SSL_read/SSL_write instead of
 * recv/send, "would block" either way waiting for the socket as before).
 * The result names the negotiated version and cipher ("tls").
 *
 * The result is one JSON line on stdout. Any failure (connect, echo mismatch,
 * connection closed by the server, no progress for --stall seconds, default
 * 20) prints a message on stderr and a JSON line with "error", and exits 1.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum { MODE_PINGPONG, MODE_STREAM, MODE_IDLE };

static struct {
  int mode;
  const char *host;
  int port;
  int conns;
  size_t size;
  double duration;
  double warmup;
  uint64_t requests;
  uint64_t bytes;
  uint64_t warmup_bytes;
  size_t chunk;
  int batch;
  int sync;
  double stall;
  int tls;
} opt = {MODE_PINGPONG,     "127.0.0.1", -1,         10, 1024, 5.0,  0.5, 0,
         (uint64_t)1 << 30, 0,           128 * 1024, 64, 0,    20.0, 0};

static const char *mode_name(void) {
  return opt.mode == MODE_PINGPONG ? "pingpong"
         : opt.mode == MODE_STREAM ? "stream"
                                   : "idle";
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Prints the error on stderr and as a JSON line, and exits 1. */
__attribute__((noreturn, format(printf, 1, 2))) static void
fail(const char *fmt, ...) {
  char msg[512];
  va_list ap;
  size_t i;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "loadgen: %s\n", msg);
  for (i = 0; msg[i] != '\0'; i++)
    if (msg[i] == '"' || msg[i] == '\\' || (unsigned char)msg[i] < 0x20)
      msg[i] = '\'';
  printf("{\"mode\":\"%s\",\"port\":%d,\"error\":\"%s\"}\n", mode_name(),
         opt.port, msg);
  fflush(stdout);
  exit(1);
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (p == NULL)
    fail("out of memory (%zu bytes)", n);
  return p;
}

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* With --sync: tell the driver where we are and wait for its go-ahead. */
static void sync_point(const char *what) {
  char line[64];
  if (!opt.sync)
    return;
  printf("%s\n", what);
  fflush(stdout);
  if (fgets(line, sizeof line, stdin) == NULL)
    fail("stdin closed while waiting after \"%s\"", what);
}

/* ---- connections --------------------------------------------------------- */

static struct sockaddr_storage server_addr;
static socklen_t server_addrlen;

static void resolve(void) {
  struct addrinfo hints, *res;
  char port[16];
  int rc;
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_STREAM;
  snprintf(port, sizeof port, "%d", opt.port);
  rc = getaddrinfo(opt.host, port, &hints, &res);
  if (rc != 0)
    fail("resolving %s: %s", opt.host, gai_strerror(rc));
  memcpy(&server_addr, res->ai_addr, res->ai_addrlen);
  server_addrlen = res->ai_addrlen;
  freeaddrinfo(res);
}

/* A blocking connect, then TCP_NODELAY and non-blocking mode. */
static int connect_one(void) {
  int one = 1,
      fd = socket(server_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    fail("socket: %s", strerror(errno));
  while (connect(fd, (struct sockaddr *)&server_addr, server_addrlen) < 0) {
    if (errno == EINTR)
      continue;
    fail("connect to %s:%d: %s", opt.host, opt.port, strerror(errno));
  }
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
    fail("TCP_NODELAY: %s", strerror(errno));
  if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
    fail("O_NONBLOCK: %s", strerror(errno));
  return fd;
}

/* ---- TLS ----------------------------------------------------------------- */

static SSL_CTX *tls_ctx;       /* with --tls */
static char tls_desc[96] = ""; /* "VERSION CIPHER" of the first connection */

static const char *tls_error(void) {
  static char buf[256];
  unsigned long e = ERR_get_error();
  if (e == 0)
    return errno ? strerror(errno) : "no OpenSSL error queued";
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

/* Partial writes (one record at a time, so a full socket only holds back
 * what did not fit) and a peer's EOF without close_notify read as an EOF
 * (the servers' business, not a load generator failure). */
static void tls_init(void) {
  tls_ctx = SSL_CTX_new(TLS_client_method());
  if (tls_ctx == NULL)
    fail("SSL_CTX_new: %s", tls_error());
  SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL);
  SSL_CTX_set_mode(tls_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_options(tls_ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_session_cache_mode(tls_ctx, SSL_SESS_CACHE_OFF);
}

/* The client handshake on non-blocking fd, waiting with poll() for what
 * OpenSSL asks for; at most --stall seconds. */
static SSL *tls_connect(int fd, int id) {
  uint64_t deadline = now_ns() + (uint64_t)(opt.stall * 1e9);
  SSL *ssl = SSL_new(tls_ctx);
  if (ssl == NULL || SSL_set_fd(ssl, fd) != 1)
    fail("SSL_new: %s", tls_error());
  SSL_set_connect_state(ssl);
  for (;;) {
    struct pollfd p = {fd, 0, 0};
    int64_t left;
    int rc = SSL_do_handshake(ssl), err = SSL_get_error(ssl, rc);
    if (rc == 1)
      break;
    if (err == SSL_ERROR_WANT_READ)
      p.events = POLLIN;
    else if (err == SSL_ERROR_WANT_WRITE)
      p.events = POLLOUT;
    else
      fail("TLS handshake on connection %d: %s", id, tls_error());
    left = (int64_t)(deadline - now_ns()) / 1000000;
    if (left <= 0 || poll(&p, 1, (int)left) == 0)
      fail("TLS handshake on connection %d: no progress for %.0f s", id,
           opt.stall);
  }
  if (tls_desc[0] == '\0')
    snprintf(tls_desc, sizeof tls_desc, "%s %s", SSL_get_version(ssl),
             SSL_get_cipher_name(ssl));
  return ssl;
}

/* SSL_read/SSL_write's outcome as recv/send's: bytes (> 0), 0 at EOF, -1
 * with errno EAGAIN when the socket must be waited for. */
static ssize_t tls_result(SSL *ssl, int rc, const char *what, int id) {
  int err;
  if (rc > 0)
    return rc;
  err = SSL_get_error(ssl, rc);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
    errno = EAGAIN;
    return -1;
  }
  if (err == SSL_ERROR_ZERO_RETURN)
    return 0;
  fail("%s on connection %d: %s", what, id, tls_error());
}

static void raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

/* ---- ping-pong ----------------------------------------------------------- */

struct conn {
  int fd;
  SSL *ssl; /* with --tls */
  int id;
  int want_out; /* EPOLLOUT registered */
  int busy;     /* a request is in flight */
  char *tx, *rx;
  size_t tx_off, rx_off;
  uint64_t seq;
  uint64_t t0;
};

static struct conn *conns;
static int epfd;

/* The current phase: requests start while it is open. */
static struct {
  int open;
  int record; /* keep latencies */
  uint64_t deadline;
  uint64_t limit;
  uint64_t started, completed;
  uint64_t last_progress;
} ph;
static int inflight;

static uint32_t *lat; /* latencies in ns (saturated), measured phase only */
static size_t nlat, caplat;

static void record_latency(uint64_t ns) {
  if (nlat == caplat) {
    caplat = caplat ? caplat * 2 : 65536;
    lat = realloc(lat, caplat * sizeof *lat);
    if (lat == NULL)
      fail("out of memory (latencies)");
  }
  lat[nlat++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

/* Letters and digits, a stamp with the connection and sequence number at
 * the start, '\n' at the end: one line, different for every request. */
static void fill_message(struct conn *c) {
  static const char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  char stamp[40];
  size_t i, n = opt.size, k;
  if (c->seq == 1)
    for (i = 0; i < n; i++)
      c->tx[i] = alphabet[(i * 7 + (size_t)c->id) % 62];
  k = (size_t)snprintf(stamp, sizeof stamp, "%x-%llx-", c->id,
                       (unsigned long long)c->seq);
  memcpy(c->tx, stamp, k < n - 1 ? k : n - 1);
  c->tx[n - 1] = '\n';
}

static void set_out(struct conn *c, int want) {
  struct epoll_event ev;
  if (c->want_out == want)
    return;
  ev.events = EPOLLIN | (want ? EPOLLOUT : 0);
  ev.data.ptr = c;
  if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
    fail("epoll_ctl: %s", strerror(errno));
  c->want_out = want;
}

/* send() / recv() of a connection, plain or TLS: bytes, 0 at EOF (recv),
 * or -1 with errno. */
static ssize_t conn_send(struct conn *c, const char *buf, size_t len) {
  if (c->ssl == NULL)
    return send(c->fd, buf, len, MSG_NOSIGNAL);
  return tls_result(c->ssl, SSL_write(c->ssl, buf, (int)len), "SSL_write",
                    c->id);
}

static ssize_t conn_recv(struct conn *c, char *buf, size_t len) {
  if (c->ssl == NULL)
    return recv(c->fd, buf, len, 0);
  return tls_result(c->ssl, SSL_read(c->ssl, buf, (int)len), "SSL_read", c->id);
}

static void send_some(struct conn *c) {
  while (c->tx_off < opt.size) {
    ssize_t n = conn_send(c, c->tx + c->tx_off, opt.size - c->tx_off);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN)
        break;
      fail("send on connection %d: %s", c->id, strerror(errno));
    }
    c->tx_off += (size_t)n;
  }
  set_out(c, c->tx_off < opt.size);
}

static void start_request(struct conn *c) {
  c->seq++;
  fill_message(c);
  c->tx_off = c->rx_off = 0;
  c->busy = 1;
  inflight++;
  ph.started++;
  c->t0 = now_ns();
  send_some(c);
}

static int may_start(uint64_t now) {
  return ph.open && (ph.limit == 0 || ph.started < ph.limit) &&
         (ph.deadline == 0 || now < ph.deadline);
}

static void on_complete(struct conn *c) {
  uint64_t t = now_ns();
  if (memcmp(c->rx, c->tx, opt.size) != 0) {
    size_t i = 0;
    while (c->rx[i] == c->tx[i])
      i++;
    fail("echo mismatch on connection %d, request %llu, at byte %zu of %zu "
         "(got 0x%02x, expected 0x%02x)",
         c->id, (unsigned long long)c->seq, i, opt.size,
         (unsigned char)c->rx[i], (unsigned char)c->tx[i]);
  }
  if (ph.record)
    record_latency(t - c->t0);
  c->busy = 0;
  inflight--;
  ph.completed++;
  ph.last_progress = t;
  if (may_start(t))
    start_request(c);
}

static void recv_some(struct conn *c) {
  for (;;) {
    ssize_t n;
    if (!c->busy) {
      /* Nothing asked for: anything readable is an extra byte or EOF
       * (or, with TLS, a record the library takes itself: a session
       * ticket). */
      char b;
      n = conn_recv(c, &b, 1);
      if (n == 0)
        fail("server closed connection %d", c->id);
      if (n > 0)
        fail("server sent unrequested bytes on connection %d", c->id);
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN)
        fail("recv on connection %d: %s", c->id, strerror(errno));
      return;
    }
    n = conn_recv(c, c->rx + c->rx_off, opt.size - c->rx_off);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN)
        return;
      fail("recv on connection %d: %s", c->id, strerror(errno));
    }
    if (n == 0)
      fail("server closed connection %d after %zu of %zu echoed bytes", c->id,
           c->rx_off, opt.size);
    c->rx_off += (size_t)n;
    if (c->rx_off == opt.size) {
      on_complete(c); /* may start the next request, whose echo is not */
      return;         /* there yet */
    }
  }
}

/* Runs the event loop until nothing is in flight. */
static void pump(void) {
  struct epoll_event evs[256];
  while (inflight > 0) {
    uint64_t t;
    int i, n = epoll_wait(epfd, evs, 256, 100);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      fail("epoll_wait: %s", strerror(errno));
    }
    for (i = 0; i < n; i++) {
      struct conn *c = evs[i].data.ptr;
      if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
        if (c->busy && c->tx_off < opt.size)
          send_some(c);
      }
      if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        recv_some(c);
    }
    t = now_ns();
    if (ph.deadline != 0 && t >= ph.deadline)
      ph.open = 0;
    if ((double)(t - ph.last_progress) > opt.stall * 1e9)
      fail("no echo for %.0f s (%d request(s) in flight, %llu completed in "
           "this phase)",
           opt.stall, inflight, (unsigned long long)ph.completed);
  }
}

/* One phase: every connection in [first, first+count) starts a request and
 * keeps going while the phase is open (seconds > 0: for that long; limit:
 * that many requests in all; both 0: one request per connection). Returns
 * the elapsed ns, until the last echo in flight came back. */
static uint64_t run_phase(int first, int count, double seconds, uint64_t limit,
                          int record) {
  uint64_t t0 = now_ns();
  int i;
  memset(&ph, 0, sizeof ph);
  ph.open = seconds > 0 || limit > 0;
  ph.record = record;
  ph.limit = limit;
  ph.deadline = seconds > 0 ? t0 + (uint64_t)(seconds * 1e9) : 0;
  ph.last_progress = t0;
  for (i = first; i < first + count; i++)
    if (limit == 0 || ph.started < limit)
      start_request(&conns[i]);
  pump();
  return now_ns() - t0;
}

static void open_conns(int n, size_t size) {
  int i;
  conns = calloc((size_t)n, sizeof *conns);
  if (conns == NULL)
    fail("out of memory");
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0)
    fail("epoll_create1: %s", strerror(errno));
  for (i = 0; i < n; i++) {
    conns[i].id = i;
    conns[i].tx = xmalloc(size);
    conns[i].rx = xmalloc(size);
  }
  /* Connect in batches, each pinged once before the next, so that a server
   * with a short listen backlog is never flooded with unaccepted
   * connections. */
  for (i = 0; i < n; i += opt.batch) {
    int j, k = n - i < opt.batch ? n - i : opt.batch;
    for (j = i; j < i + k; j++) {
      struct epoll_event ev;
      conns[j].fd = connect_one();
      if (tls_ctx != NULL)
        conns[j].ssl = tls_connect(conns[j].fd, j);
      ev.events = EPOLLIN;
      ev.data.ptr = &conns[j];
      if (epoll_ctl(epfd, EPOLL_CTL_ADD, conns[j].fd, &ev) < 0)
        fail("epoll_ctl: %s", strerror(errno));
    }
    run_phase(i, k, 0, 0, 0);
  }
}

static void close_conns(int n) {
  int i;
  for (i = 0; i < n; i++) {
    if (conns[i].ssl != NULL) {
      SSL_shutdown(conns[i].ssl); /* close_notify, if the socket takes it */
      SSL_free(conns[i].ssl);
    }
    close(conns[i].fd);
    free(conns[i].tx);
    free(conns[i].rx);
  }
  free(conns);
  close(epfd);
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static double pct_us(double p) {
  size_t i;
  if (nlat == 0)
    return 0;
  i = (size_t)(p * (double)(nlat - 1) + 0.5);
  return lat[i] / 1e3;
}

static int do_pingpong(void) {
  uint64_t ns, reqs;
  double cpu0, cpu1, secs;
  open_conns(opt.conns, opt.size);
  if (opt.warmup > 0)
    run_phase(0, opt.conns, opt.warmup, 0, 0);
  sync_point("warm");
  cpu0 = cpu_seconds();
  ns =
      run_phase(0, opt.conns, opt.requests ? 0 : opt.duration, opt.requests, 1);
  cpu1 = cpu_seconds();
  reqs = ph.completed;
  sync_point("done");
  close_conns(opt.conns);
  qsort(lat, nlat, sizeof *lat, cmp_u32);
  secs = (double)ns / 1e9;
  printf("{\"mode\":\"pingpong\",\"host\":\"%s\",\"port\":%d,\"conns\":%d,"
         "\"size\":%zu,\"seconds\":%.6f,\"requests\":%llu,\"rps\":%.1f,"
         "\"mib_s\":%.3f,\"p50_us\":%.2f,\"p90_us\":%.2f,\"p99_us\":%.2f,"
         "\"max_us\":%.2f,\"client_cpu_s\":%.4f,\"tls\":\"%s\"}\n",
         opt.host, opt.port, opt.conns, opt.size, secs,
         (unsigned long long)reqs, (double)reqs / secs,
         (double)reqs * (double)opt.size / (1024.0 * 1024.0) / secs,
         pct_us(0.50), pct_us(0.90), pct_us(0.99), pct_us(1.0), cpu1 - cpu0,
         tls_desc);
  free(lat);
  return 0;
}

static int do_idle(void) {
  uint64_t t0 = now_ns(), ns;
  open_conns(opt.conns, opt.size);
  ns = now_ns() - t0;
  printf("ready\n");
  fflush(stdout);
  {
    char line[64];
    if (fgets(line, sizeof line, stdin) == NULL)
      fail("stdin closed while idle");
  }
  /* Every connection must still be served. */
  {
    int i;
    for (i = 0; i < opt.conns; i += opt.batch)
      run_phase(i, opt.conns - i < opt.batch ? opt.conns - i : opt.batch, 0, 0,
                0);
  }
  close_conns(opt.conns);
  printf("{\"mode\":\"idle\",\"host\":\"%s\",\"port\":%d,\"conns\":%d,"
         "\"size\":%zu,\"connect_seconds\":%.3f}\n",
         opt.host, opt.port, opt.conns, opt.size, (double)ns / 1e9);
  return 0;
}

/* ---- stream -------------------------------------------------------------- */

/* The payload is a pseudo-random pattern of PATTERN bytes (a prime, so that
 * chunk boundaries drift through it) repeated; byte o of the stream is
 * pattern[o % PATTERN]. `pat` holds PATTERN + chunk bytes so that any chunk
 * starting inside the pattern is contiguous. */
#define PATTERN 1048573u

static uint64_t stream_transfer(int fd, const unsigned char *pat,
                                unsigned char *rx, uint64_t total) {
  uint64_t sent = 0, got = 0, t0 = now_ns(), last = t0;
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev;
  if (ep < 0)
    fail("epoll_create1: %s", strerror(errno));
  ev.events = EPOLLIN | EPOLLOUT;
  ev.data.fd = fd;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
    fail("epoll_ctl: %s", strerror(errno));
  while (got < total) {
    struct epoll_event out[4];
    int n = epoll_wait(ep, out, 4, 100);
    uint64_t t;
    if (n < 0 && errno != EINTR)
      fail("epoll_wait: %s", strerror(errno));
    if (n > 0 && (out[0].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) &&
        sent < total) {
      for (;;) {
        size_t len = opt.chunk;
        ssize_t w;
        if (total - sent < len)
          len = (size_t)(total - sent);
        if (len == 0)
          break;
        w = send(fd, pat + sent % PATTERN, len, MSG_NOSIGNAL);
        if (w < 0) {
          if (errno == EINTR)
            continue;
          if (errno == EAGAIN)
            break;
          fail("send: %s", strerror(errno));
        }
        sent += (uint64_t)w;
      }
      if (sent == total) {
        ev.events = EPOLLIN;
        if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) < 0)
          fail("epoll_ctl: %s", strerror(errno));
      }
    }
    if (n > 0 && (out[0].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
      for (;;) {
        size_t want = opt.chunk;
        ssize_t r;
        if (sent - got < want)
          want = (size_t)(sent - got);
        if (want == 0) {
          char b;
          r = recv(fd, &b, 1, MSG_PEEK);
          if (r == 0)
            fail("server closed the connection");
          if (r > 0)
            fail("server echoed more than was sent");
          break;
        }
        r = recv(fd, rx, want, 0);
        if (r < 0) {
          if (errno == EINTR)
            continue;
          if (errno == EAGAIN)
            break;
          fail("recv: %s", strerror(errno));
        }
        if (r == 0)
          fail("server closed the connection after %llu of %llu bytes",
               (unsigned long long)got, (unsigned long long)total);
        if (memcmp(rx, pat + got % PATTERN, (size_t)r) != 0)
          fail("stream echo mismatch near byte %llu", (unsigned long long)got);
        got += (uint64_t)r;
        last = now_ns();
      }
    }
    t = now_ns();
    if ((double)(t - last) > opt.stall * 1e9)
      fail("stream stalled: %llu sent, %llu echoed", (unsigned long long)sent,
           (unsigned long long)got);
  }
  close(ep);
  return now_ns() - t0;
}

static int do_stream(void) {
  unsigned char *pat = xmalloc(PATTERN + opt.chunk), *rx = xmalloc(opt.chunk);
  uint64_t x = 0x9E3779B97F4A7C15ull, ns, warm;
  double cpu0, cpu1, secs;
  size_t i;
  int fd;
  for (i = 0; i < PATTERN + opt.chunk; i++) {
    if (i < PATTERN) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      pat[i] = (unsigned char)(x >> 24);
    } else {
      pat[i] = pat[i - PATTERN];
    }
  }
  fd = connect_one();
  warm = opt.warmup_bytes
             ? opt.warmup_bytes
             : (opt.bytes / 8 < (64u << 20) ? opt.bytes / 8 : (64u << 20));
  /* Warm-up: the same connection, so the measured transfer starts on a
   * server that has already allocated what it allocates. Each transfer
   * restarts the pattern at offset 0 (the stream offset restarts too). */
  if (warm > 0)
    stream_transfer(fd, pat, rx, warm);
  sync_point("warm");
  cpu0 = cpu_seconds();
  ns = stream_transfer(fd, pat, rx, opt.bytes);
  cpu1 = cpu_seconds();
  sync_point("done");
  close(fd);
  secs = (double)ns / 1e9;
  printf("{\"mode\":\"stream\",\"host\":\"%s\",\"port\":%d,\"bytes\":%llu,"
         "\"seconds\":%.6f,\"gib_s\":%.4f,\"client_cpu_s\":%.4f}\n",
         opt.host, opt.port, (unsigned long long)opt.bytes, secs,
         (double)opt.bytes / (1024.0 * 1024.0 * 1024.0) / secs, cpu1 - cpu0);
  free(pat);
  free(rx);
  return 0;
}

/* ---- main ---------------------------------------------------------------- */

static void usage(FILE *f) {
  fprintf(f,
          "usage: loadgen pingpong|stream|idle --port P [--host H] [--conns N]"
          " [--size S]\n"
          "               [--duration SEC] [--warmup SEC] [--requests R]"
          " [--bytes B]\n"
          "               [--warmup-bytes B] [--chunk B] [--batch K]"
          " [--stall SEC] [--sync]\n"
          "               [--tls]\n");
}

/* A byte count with an optional K/M/G suffix (powers of 1024). */
static int parse_bytes(const char *s, uint64_t *out) {
  char *end;
  unsigned long long v;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno != 0 || end == s)
    return -1;
  switch (*end) {
  case 'K':
  case 'k':
    v <<= 10;
    end++;
    break;
  case 'M':
  case 'm':
    v <<= 20;
    end++;
    break;
  case 'G':
  case 'g':
    v <<= 30;
    end++;
    break;
  default:
    break;
  }
  if (*end != '\0')
    return -1;
  *out = v;
  return 0;
}

static int parse_double(const char *s, double *out) {
  char *end;
  errno = 0;
  *out = strtod(s, &end);
  return errno != 0 || end == s || *end != '\0' || *out < 0 ? -1 : 0;
}

static int parse_args(int argc, char **argv) {
  int i;
  uint64_t v;
  if (argc < 2)
    return -1;
  if (strcmp(argv[1], "pingpong") == 0)
    opt.mode = MODE_PINGPONG;
  else if (strcmp(argv[1], "stream") == 0)
    opt.mode = MODE_STREAM;
  else if (strcmp(argv[1], "idle") == 0)
    opt.mode = MODE_IDLE;
  else
    return -1;
  for (i = 2; i < argc; i++) {
    const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--sync") == 0) {
      opt.sync = 1;
      continue;
    }
    if (strcmp(a, "--tls") == 0) {
      opt.tls = 1;
      continue;
    }
    if (val == NULL)
      return -1;
    i++;
    if (strcmp(a, "--host") == 0)
      opt.host = val;
    else if (strcmp(a, "--port") == 0) {
      if (parse_bytes(val, &v) < 0 || v > 65535)
        return -1;
      opt.port = (int)v;
    } else if (strcmp(a, "--conns") == 0) {
      if (parse_bytes(val, &v) < 0 || v < 1 || v > 1000000)
        return -1;
      opt.conns = (int)v;
    } else if (strcmp(a, "--size") == 0) {
      if (parse_bytes(val, &v) < 0 || v < 2 || v > (1u << 30))
        return -1;
      opt.size = (size_t)v;
    } else if (strcmp(a, "--requests") == 0) {
      if (parse_bytes(val, &opt.requests) < 0)
        return -1;
    } else if (strcmp(a, "--bytes") == 0) {
      if (parse_bytes(val, &opt.bytes) < 0 || opt.bytes == 0)
        return -1;
    } else if (strcmp(a, "--warmup-bytes") == 0) {
      if (parse_bytes(val, &opt.warmup_bytes) < 0)
        return -1;
    } else if (strcmp(a, "--chunk") == 0) {
      if (parse_bytes(val, &v) < 0 || v < 1 || v > (64u << 20))
        return -1;
      opt.chunk = (size_t)v;
    } else if (strcmp(a, "--batch") == 0) {
      if (parse_bytes(val, &v) < 0 || v < 1 || v > 100000)
        return -1;
      opt.batch = (int)v;
    } else if (strcmp(a, "--duration") == 0) {
      if (parse_double(val, &opt.duration) < 0)
        return -1;
    } else if (strcmp(a, "--warmup") == 0) {
      if (parse_double(val, &opt.warmup) < 0)
        return -1;
    } else if (strcmp(a, "--stall") == 0) {
      if (parse_double(val, &opt.stall) < 0)
        return -1;
    } else
      return -1;
  }
  if (opt.port < 0 || (opt.tls && opt.mode == MODE_STREAM))
    return -1;
  if (opt.mode == MODE_PINGPONG && opt.requests == 0 && opt.duration <= 0)
    return -1;
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 &&
      (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
    usage(stdout);
    return 0;
  }
  if (parse_args(argc, argv) < 0) {
    usage(stderr);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  raise_fd_limit();
  if (opt.tls)
    tls_init();
  resolve();
  switch (opt.mode) {
  case MODE_PINGPONG:
    return do_pingpong();
  case MODE_STREAM:
    return do_stream();
  default:
    return do_idle();
  }
}
