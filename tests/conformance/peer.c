/*
 * peer.c - the reference peer of the conformance scenarios
 * (tests/conformance/FORMAT.md).
 *
 * Design: deliberately independent of libuvstreams (plain POSIX sockets,
 * blocking I/O, one detached pthread per connection), so that it cannot
 * share a bug with the code under test. At start it parses scenarios.txt
 * (argv[1]) and keeps, for every scenario, only its `peer` steps; bytes
 * tokens are kept as (unit, repeat count) so that `*N:unit` data is produced
 * and checked on the fly without being expanded in memory. It listens on
 * 127.0.0.1 port 0 and on the Unix socket path argv[2], and also keeps a
 * TCP socket bound on 127.0.0.1 but never listening, whose port is the
 * "closed port" (nobody else can bind it while the peer runs, and a
 * connection to it is refused). It prints "PORT <n>" and "CLOSED_PORT <n>"
 * on stdout, then "READY", and serves until SIGTERM/SIGINT. A connection
 * thread reads the hello one byte at a time (so nothing after it is
 * consumed), plays the named scenario's peer steps, then reads and discards
 * until the client closes (unless the peer closed or reset it). Any failure
 * is logged as "PEER-FAIL <scenario>: <reason>" on stderr and the
 * connection is reset. On SIGTERM the peer gives running connections a
 * short grace period (a client that exits makes them end at once) and logs
 * a failure for each one still running, then exits.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* A peer I/O step blocked this long fails (no scenario waits that long). */
#define IO_TIMEOUT_S 60
#define HELLO_MAX 512
#define GRACE_MS 3000

enum step_kind {
  S_SEND,
  S_EXPECT,
  S_EXPECT_EOF,
  S_SLEEP,
  S_SHUTDOWN,
  S_CLOSE,
  S_RESET
};

/* A bytes token: unit repeated count times. */
struct bytes {
  unsigned char *unit;
  size_t len;
  size_t count;
};

struct step {
  enum step_kind kind;
  struct bytes data; /* send, expect */
  long ms;           /* sleep */
  int line;
};

struct scenario {
  char *name;
  struct step *steps;
  size_t nsteps, cap;
};

static struct scenario *scenarios;
static size_t nscenarios, capscenarios;

static pthread_mutex_t active_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t active_cond = PTHREAD_COND_INITIALIZER;
static int active;
/* names of the scenarios being played, for the shutdown report */
#define MAX_TRACKED 256
static const char *tracked[MAX_TRACKED];

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("PEER-FAIL (startup): ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(2);
}

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q)
    die("out of memory");
  return q;
}

static void fail(const char *name, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "PEER-FAIL %s: %s\n", name ? name : "(no hello)", msg);
  fflush(stderr);
}

/* ---- parsing ----------------------------------------------------------- */

static int hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Percent-decodes s into a new buffer; -1 on a malformed escape. */
static int percent_decode(const char *s, unsigned char **out, size_t *outlen) {
  size_t n = strlen(s), k = 0;
  unsigned char *b = xrealloc(NULL, n);
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%') {
      int h, l;
      if (i + 2 >= n) {
        free(b);
        return -1;
      }
      h = hexval((unsigned char)s[i + 1]);
      l = hexval((unsigned char)s[i + 2]);
      if (h < 0 || l < 0) {
        free(b);
        return -1;
      }
      b[k++] = (unsigned char)(h * 16 + l);
      i += 2;
    } else {
      b[k++] = (unsigned char)s[i];
    }
  }
  *out = b;
  *outlen = k;
  return 0;
}

static int parse_bytes(const char *tok, struct bytes *b) {
  b->count = 1;
  if (strcmp(tok, "-") == 0) {
    b->unit = NULL;
    b->len = 0;
    return 0;
  }
  if (tok[0] == '*') {
    char *end;
    errno = 0;
    unsigned long long n = strtoull(tok + 1, &end, 10);
    if (errno || end == tok + 1 || *end != ':')
      return -1;
    if (percent_decode(end + 1, &b->unit, &b->len) < 0)
      return -1;
    b->count = (size_t)n;
    return 0;
  }
  return percent_decode(tok, &b->unit, &b->len);
}

static int valid_name(const char *s) {
  if (!*s)
    return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
      return 0;
  return 1;
}

static void parse_file(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f)
    die("cannot open %s: %s", path, strerror(errno));
  char *line = NULL;
  size_t cap = 0;
  int lineno = 0;
  struct scenario *cur = NULL;
  while (getline(&line, &cap, f) >= 0) {
    char *tok[64];
    int ntok = 0;
    lineno++;
    for (char *p = strtok(line, " \t\r\n"); p && ntok < 64;
         p = strtok(NULL, " \t\r\n"))
      tok[ntok++] = p;
    if (ntok == 0 || tok[0][0] == '#')
      continue;
    if (strcmp(tok[0], "scenario") == 0) {
      if (ntok != 2 || !valid_name(tok[1]))
        die("%s:%d: bad scenario line", path, lineno);
      for (size_t i = 0; i < nscenarios; i++)
        if (strcmp(scenarios[i].name, tok[1]) == 0)
          die("%s:%d: duplicate scenario %s", path, lineno, tok[1]);
      if (nscenarios == capscenarios) {
        capscenarios = capscenarios ? 2 * capscenarios : 64;
        scenarios = xrealloc(scenarios, capscenarios * sizeof *scenarios);
      }
      cur = &scenarios[nscenarios++];
      memset(cur, 0, sizeof *cur);
      cur->name = strdup(tok[1]);
      continue;
    }
    if (strcmp(tok[0], "peer") != 0)
      continue; /* a client step */
    if (!cur)
      die("%s:%d: peer step outside a scenario", path, lineno);
    if (ntok < 2)
      die("%s:%d: peer step without a verb", path, lineno);
    struct step st;
    memset(&st, 0, sizeof st);
    st.line = lineno;
    const char *verb = tok[1];
    int want = 2;
    if (strcmp(verb, "send") == 0 || strcmp(verb, "expect") == 0) {
      st.kind = verb[0] == 's' ? S_SEND : S_EXPECT;
      want = 3;
      if (ntok != 3 || parse_bytes(tok[2], &st.data) < 0)
        die("%s:%d: bad bytes for peer %s", path, lineno, verb);
    } else if (strcmp(verb, "sleep") == 0) {
      char *end;
      st.kind = S_SLEEP;
      want = 3;
      if (ntok != 3)
        die("%s:%d: peer sleep needs milliseconds", path, lineno);
      st.ms = strtol(tok[2], &end, 10);
      if (*end || st.ms < 0)
        die("%s:%d: bad sleep", path, lineno);
    } else if (strcmp(verb, "expect_eof") == 0) {
      st.kind = S_EXPECT_EOF;
    } else if (strcmp(verb, "shutdown") == 0) {
      st.kind = S_SHUTDOWN;
    } else if (strcmp(verb, "close") == 0) {
      st.kind = S_CLOSE;
    } else if (strcmp(verb, "reset") == 0) {
      st.kind = S_RESET;
    } else {
      die("%s:%d: unknown peer step %s", path, lineno, verb);
    }
    if (ntok != want)
      die("%s:%d: extra tokens after peer %s", path, lineno, verb);
    if (cur->nsteps == cur->cap) {
      cur->cap = cur->cap ? 2 * cur->cap : 8;
      cur->steps = xrealloc(cur->steps, cur->cap * sizeof *cur->steps);
    }
    cur->steps[cur->nsteps++] = st;
  }
  free(line);
  fclose(f);
  if (nscenarios == 0)
    die("%s: no scenario", path);
}

/* ---- connections ------------------------------------------------------- */

static void hard_reset(int fd) {
  struct linger lg = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(fd);
}

static const char *ioerr(ssize_t r) {
  return r == 0 ? "EOF" : strerror(errno);
}

static int do_send(int fd, const struct bytes *b, const char *name, int line) {
  size_t total = b->len * b->count, sent = 0;
  unsigned char buf[65536];
  size_t fill = 0;
  if (total == 0)
    return 0;
  /* a buffer of whole units, or the unit itself when it is large */
  const unsigned char *src;
  size_t srclen;
  if (b->len <= sizeof buf) {
    while (fill + b->len <= sizeof buf && fill / b->len < b->count) {
      memcpy(buf + fill, b->unit, b->len);
      fill += b->len;
    }
    src = buf;
    srclen = fill;
  } else {
    src = b->unit;
    srclen = b->len;
  }
  while (sent < total) {
    size_t chunk = srclen;
    if (chunk > total - sent)
      chunk = total - sent;
    size_t off = 0;
    while (off < chunk) {
      ssize_t r = send(fd, src + off, chunk - off, MSG_NOSIGNAL);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0) {
        fail(name, "line %d: send failed after %zu of %zu bytes: %s", line,
             sent + off, total,
             r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? "timed out"
                                                                : ioerr(r));
        return -1;
      }
      off += (size_t)r;
    }
    sent += chunk;
  }
  return 0;
}

static void show(char *out, size_t outsz, const unsigned char *p, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n && k + 5 < outsz; i++) {
    if (p[i] >= 0x21 && p[i] < 0x7f && p[i] != '%')
      out[k++] = (char)p[i];
    else
      k += (size_t)snprintf(out + k, outsz - k, "%%%02X", p[i]);
  }
  out[k] = 0;
}

static int do_expect(int fd, const struct bytes *b, const char *name,
                     int line) {
  size_t total = b->len * b->count, got = 0;
  unsigned char buf[65536];
  while (got < total) {
    size_t want = total - got;
    if (want > sizeof buf)
      want = sizeof buf;
    ssize_t r = recv(fd, buf, want, 0);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      fail(name, "line %d: expect: %s after %zu of %zu bytes", line,
           r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? "timed out"
                                                              : ioerr(r),
           got, total);
      return -1;
    }
    for (ssize_t i = 0; i < r; i++) {
      unsigned char want_c = b->unit[(got + (size_t)i) % b->len];
      if (buf[i] != want_c) {
        char ctx[128];
        size_t from = (size_t)i, n = (size_t)r - from;
        show(ctx, sizeof ctx, buf + from, n > 20 ? 20 : n);
        fail(name,
             "line %d: expect: byte %zu of %zu is 0x%02x, expected 0x%02x (got "
             "\"%s\"...)",
             line, got + (size_t)i, total, buf[i], want_c, ctx);
        return -1;
      }
    }
    got += (size_t)r;
  }
  return 0;
}

static int do_expect_eof(int fd, const char *name, int line) {
  unsigned char buf[64];
  for (;;) {
    ssize_t r = recv(fd, buf, sizeof buf, 0);
    if (r < 0 && errno == EINTR)
      continue;
    if (r == 0)
      return 0;
    if (r > 0) {
      char ctx[128];
      show(ctx, sizeof ctx, buf, (size_t)r);
      fail(name, "line %d: expect_eof: got %zd more bytes (\"%s\")", line, r,
           ctx);
    } else {
      fail(name, "line %d: expect_eof: %s", line,
           errno == EAGAIN || errno == EWOULDBLOCK ? "timed out"
                                                   : strerror(errno));
    }
    return -1;
  }
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
}

static const struct scenario *find_scenario(const char *name) {
  for (size_t i = 0; i < nscenarios; i++)
    if (strcmp(scenarios[i].name, name) == 0)
      return &scenarios[i];
  return NULL;
}

static int track(const char *name) {
  pthread_mutex_lock(&active_lock);
  int slot = -1;
  for (int i = 0; i < MAX_TRACKED; i++)
    if (!tracked[i]) {
      tracked[i] = name;
      slot = i;
      break;
    }
  pthread_mutex_unlock(&active_lock);
  return slot;
}

static void untrack(int slot) {
  if (slot < 0)
    return;
  pthread_mutex_lock(&active_lock);
  tracked[slot] = NULL;
  pthread_mutex_unlock(&active_lock);
}

/* Returns 1 when the connection is still open (fd valid), 0 when the steps
 * closed or reset it (or a failure reset it). */
static int play(int fd, const struct scenario *sc) {
  for (size_t i = 0; i < sc->nsteps; i++) {
    const struct step *st = &sc->steps[i];
    int rc = 0;
    switch (st->kind) {
    case S_SEND:
      rc = do_send(fd, &st->data, sc->name, st->line);
      break;
    case S_EXPECT:
      rc = do_expect(fd, &st->data, sc->name, st->line);
      break;
    case S_EXPECT_EOF:
      rc = do_expect_eof(fd, sc->name, st->line);
      break;
    case S_SLEEP:
      sleep_ms(st->ms);
      break;
    case S_SHUTDOWN:
      if (shutdown(fd, SHUT_WR) < 0) {
        fail(sc->name, "line %d: shutdown: %s", st->line, strerror(errno));
        rc = -1;
      }
      break;
    case S_CLOSE:
      if (close(fd) < 0) {
        fail(sc->name, "line %d: close: %s", st->line, strerror(errno));
      }
      return 0;
    case S_RESET:
      hard_reset(fd);
      return 0;
    }
    if (rc < 0) {
      hard_reset(fd);
      return 0;
    }
  }
  return 1;
}

static void *serve(void *arg) {
  int fd = (int)(intptr_t)arg;
  char hello[HELLO_MAX + 1];
  size_t n = 0;
  int slot = -1;
  struct timeval tv = {IO_TIMEOUT_S, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  for (;;) {
    char c;
    ssize_t r = recv(fd, &c, 1, 0);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      hello[n] = 0;
      fail(NULL, "connection ended before the hello line (%s; read \"%s\")",
           r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? "timed out"
                                                              : ioerr(r),
           hello);
      hard_reset(fd);
      goto out;
    }
    if (c == '\n')
      break;
    if (n == HELLO_MAX) {
      hello[n] = 0;
      fail(NULL, "hello line too long (\"%.40s...\")", hello);
      hard_reset(fd);
      goto out;
    }
    hello[n++] = c;
  }
  hello[n] = 0;
  if (strncmp(hello, "SCENARIO ", 9) != 0) {
    fail(NULL, "bad hello line \"%s\"", hello);
    hard_reset(fd);
    goto out;
  }
  const struct scenario *sc = find_scenario(hello + 9);
  if (!sc) {
    fail(hello + 9, "no such scenario in the peer's scenario file");
    hard_reset(fd);
    goto out;
  }
  slot = track(sc->name);
  if (play(fd, sc)) {
    /* read and discard until the client closes; errors are not failures */
    char buf[65536];
    for (;;) {
      ssize_t r = recv(fd, buf, sizeof buf, 0);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        break;
    }
    close(fd);
  }
  untrack(slot);
out:
  pthread_mutex_lock(&active_lock);
  active--;
  pthread_cond_broadcast(&active_cond);
  pthread_mutex_unlock(&active_lock);
  return NULL;
}

static void *accept_loop(void *arg) {
  int lfd = (int)(intptr_t)arg;
  for (;;) {
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE ||
          errno == ENFILE) {
        if (errno == EMFILE || errno == ENFILE)
          sleep_ms(10);
        continue;
      }
      fail(NULL, "accept: %s", strerror(errno));
      return NULL;
    }
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_mutex_lock(&active_lock);
    active++;
    pthread_mutex_unlock(&active_lock);
    if (pthread_create(&t, &attr, serve, (void *)(intptr_t)fd) != 0) {
      fail(NULL, "pthread_create failed");
      hard_reset(fd);
      pthread_mutex_lock(&active_lock);
      active--;
      pthread_mutex_unlock(&active_lock);
    }
    pthread_attr_destroy(&attr);
  }
}

static int tcp_socket_on_loopback(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  socklen_t alen = sizeof a;
  if (fd < 0)
    die("socket: %s", strerror(errno));
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0)
    die("bind: %s", strerror(errno));
  if (getsockname(fd, (struct sockaddr *)&a, &alen) < 0)
    die("getsockname: %s", strerror(errno));
  *port = ntohs(a.sin_port);
  return fd;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s SCENARIOS.TXT UNIX-SOCKET-PATH\n", argv[0]);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  parse_file(argv[1]);

  int port, closed_port;
  int tfd = tcp_socket_on_loopback(&port);
  if (listen(tfd, 128) < 0)
    die("listen: %s", strerror(errno));
  /* bound, never listening: connections to it are refused */
  int cfd = tcp_socket_on_loopback(&closed_port);

  int ufd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un ua;
  if (ufd < 0)
    die("socket(AF_UNIX): %s", strerror(errno));
  memset(&ua, 0, sizeof ua);
  ua.sun_family = AF_UNIX;
  if (strlen(argv[2]) >= sizeof ua.sun_path)
    die("unix socket path too long: %s", argv[2]);
  strcpy(ua.sun_path, argv[2]);
  unlink(argv[2]);
  if (bind(ufd, (struct sockaddr *)&ua, sizeof ua) < 0)
    die("bind %s: %s", argv[2], strerror(errno));
  if (listen(ufd, 128) < 0)
    die("listen %s: %s", argv[2], strerror(errno));

  /* the accept threads and connection threads run with SIGTERM/SIGINT
   * blocked; the main thread waits for them */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  pthread_t t1, t2;
  if (pthread_create(&t1, NULL, accept_loop, (void *)(intptr_t)tfd) != 0 ||
      pthread_create(&t2, NULL, accept_loop, (void *)(intptr_t)ufd) != 0)
    die("pthread_create failed");

  printf("PORT %d\nCLOSED_PORT %d\nREADY\n", port, closed_port);
  fflush(stdout);
  fprintf(stderr, "peer: %zu scenarios, port %d, closed port %d, unix %s\n",
          nscenarios, port, closed_port, argv[2]);
  fflush(stderr);

  int sig;
  sigwait(&set, &sig);

  /* grace period for the connections still running */
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += GRACE_MS / 1000;
  pthread_mutex_lock(&active_lock);
  while (active > 0) {
    if (pthread_cond_timedwait(&active_cond, &active_lock, &deadline) ==
        ETIMEDOUT)
      break;
  }
  for (int i = 0; i < MAX_TRACKED; i++)
    if (tracked[i])
      fail(tracked[i], "still running when the peer was stopped");
  pthread_mutex_unlock(&active_lock);
  close(cfd);
  unlink(argv[2]);
  fflush(stderr);
  _exit(0);
}
