/*
 * net_helpers.c - implementation of the network test utilities (see
 * net_helpers.h).
 *
 * Raw peers are plain blocking POSIX sockets with poll()-bounded waits. The
 * thread server accepts with a finite timeout in a loop, so that a server
 * whose close does not wake a pending accept is reported as a failure
 * instead of hanging the suite.
 */
#include "net_helpers.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- bytes -------------------------------------------------------------- */

uint64_t nh_fnv1a(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

void nh_fill_random(uint64_t *state, void *buf, size_t n) {
  unsigned char *b = buf;
  uint64_t x = *state;
  size_t i = 0;
  while (i < n) {
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    uint64_t r = x * 0x2545f4914f6cdd1dULL;
    for (int k = 0; k < 8 && i < n; k++, i++) {
      b[i] = (unsigned char)(r >> (8 * k));
    }
  }
  *state = x;
}

unsigned char *nh_random_bytes(uint64_t seed, size_t n) {
  unsigned char *b = malloc(n > 0 ? n : 1);
  assert_non_null(b);
  uint64_t st = seed ? seed : 1;
  nh_fill_random(&st, b, n);
  return b;
}

/* ---- process ------------------------------------------------------------ */

long nh_raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    return -1;
  }
  rl.rlim_cur = rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
    return -1;
  }
  return (long)rl.rlim_cur;
}

/* ---- raw POSIX sockets -------------------------------------------------- */

int nh_raw_listen(int rcvbuf, int *port) {
  int fd = uvst_listen_loopback(rcvbuf, port);
  if (fd < 0) {
    fail_msg("raw listen: %s", strerror(errno));
  }
  return fd;
}

static int poll_fd(int fd, short events, int timeout_ms) {
  struct pollfd p = {.fd = fd, .events = events};
  int64_t deadline = uvst_now_ms() + timeout_ms;
  for (;;) {
    int64_t left = deadline - uvst_now_ms();
    int rc = poll(&p, 1, left > 0 ? (int)left : 0);
    if (rc >= 0 || errno != EINTR) {
      return rc;
    }
  }
}

int nh_raw_accept(int lfd, int timeout_ms) {
  if (poll_fd(lfd, POLLIN, timeout_ms) <= 0) {
    return -1;
  }
  return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

int nh_raw_connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return -errno;
  }
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons((uint16_t)port);
  if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  return fd;
}

void nh_raw_close_rst(int fd) {
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  close(fd);
}

int nh_raw_send_all(int fd, const void *p, size_t len) {
  const char *b = p;
  while (len > 0) {
    ssize_t n = send(fd, b, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return -errno;
    }
    b += n;
    len -= (size_t)n;
  }
  return 0;
}

int64_t nh_raw_read_all(int fd, int64_t max, uint64_t *hash, int *err,
                        int timeout_ms) {
  enum { BUFSZ = 1 << 16 };
  char *buf = malloc(BUFSZ);
  int64_t total = 0;
  *err = -1;
  while (buf != NULL && total < max) {
    if (poll_fd(fd, POLLIN, timeout_ms) <= 0) {
      break;
    }
    size_t want = BUFSZ;
    if ((int64_t)want > max - total) {
      want = (size_t)(max - total);
    }
    ssize_t n = read(fd, buf, want);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      *err = n < 0 ? errno : 0;
      break;
    }
    if (hash != NULL) {
      *hash = nh_fnv1a(*hash, buf, (size_t)n);
    }
    total += n;
  }
  free(buf);
  return total;
}

int nh_raw_read_exact(int fd, void *buf, size_t len, int timeout_ms) {
  char *b = buf;
  while (len > 0) {
    if (poll_fd(fd, POLLIN, timeout_ms) <= 0) {
      return -1;
    }
    ssize_t n = read(fd, b, len);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return -1;
    }
    b += n;
    len -= (size_t)n;
  }
  return 0;
}

/* ---- uvstreams conveniences --------------------------------------------- */

uvs_options *nh_opts(const char *k1, int64_t v1, const char *k2, int64_t v2,
                     const char *k3, int64_t v3) {
  uvs_options *o = NULL;
  assert_uvs_rc(uvs_options_new(&o), 0);
  if (k1 != NULL) {
    assert_uvs_rc(uvs_options_set_int(o, k1, v1), 0);
  }
  if (k2 != NULL) {
    assert_uvs_rc(uvs_options_set_int(o, k2, v2), 0);
  }
  if (k3 != NULL) {
    assert_uvs_rc(uvs_options_set_int(o, k3, v3), 0);
  }
  return o;
}

int64_t nh_get_int(uvs_stream *s, const char *key) {
  int64_t v = -12345;
  int rc = uvs_stream_get_int(s, key, &v);
  if (rc != 0) {
    fail_msg("uvs_stream_get_int(\"%s\"): %s", key, uvs_err_name(rc));
  }
  return v;
}

const char *nh_get_str(uvs_stream *s, const char *key, char *buf, size_t len) {
  char *v = NULL;
  int rc = uvs_stream_get_str(s, key, &v);
  if (rc != 0 || v == NULL) {
    fail_msg("uvs_stream_get_str(\"%s\"): %s", key, uvs_err_name(rc));
  }
  snprintf(buf, len, "%s", v);
  uvs_free(v);
  return buf;
}

int nh_close_free(uvs_stream *s) {
  uvs_stream_close(s);
  int rc = uvs_stream_wait_closed(s, 10000);
  uvs_stream_free(s);
  return rc;
}

void nh_wait_buffered(uvs_stream *s, int64_t n) {
  int64_t deadline = uvst_now_ms() + 10000;
  while (nh_get_int(s, "read_buffer_size") < n && uvst_now_ms() < deadline) {
    uvst_sleep_ms(2);
  }
  assert_true(nh_get_int(s, "read_buffer_size") >= n);
}

int nh_write_drain(uvs_stream *s, const void *p, size_t len,
                   int64_t timeout_ms) {
  int rc = uvs_stream_write(s, p, len);
  if (rc == 0) {
    rc = uvs_stream_drain(s, timeout_ms);
  }
  return rc;
}

uvs_stream *nh_connect_raw_peer(uvs_engine *e, int lfd, int port,
                                const uvs_options *opts, int *peer) {
  uvs_stream *s = NULL;
  assert_uvs_rc(uvs_connect_tcp(e, "127.0.0.1", port, opts, 10000, &s), 0);
  assert_non_null(s);
  *peer = nh_raw_accept(lfd, 10000);
  assert_true(*peer >= 0);
  return s;
}

void nh_assert_either_(int rc, int a, int b, const char *expr, const char *file,
                       int line) {
  if (rc == a || rc == b) {
    return;
  }
  fprintf(stderr, "%s:%d: %s returned %d (%s), expected %s or %s; last: %s\n",
          file, line, expr, rc, uvs_err_name(rc), uvs_err_name(a),
          uvs_err_name(b), uvs_last_error());
  _fail(file, line);
}

uvs_server *nh_listen_tcp(uvs_engine *e, const uvs_options *o, int *port) {
  uvs_server *srv = NULL;
  char *host = NULL;
  assert_uvs_rc(uvs_server_listen_tcp(e, "127.0.0.1", 0, o, &srv), 0);
  assert_non_null(srv);
  assert_uvs_rc(uvs_server_address(srv, 0, &host, port), 0);
  assert_non_null(host);
  assert_string_equal(host, "127.0.0.1");
  uvs_free(host);
  assert_true(*port > 0 && *port < 65536);
  return srv;
}

uvs_server *nh_listen_unix(uvs_engine *e, const char *path,
                           const uvs_options *o) {
  uvs_server *srv = NULL;
  assert_uvs_rc(uvs_server_listen_unix(e, path, o, &srv), 0);
  assert_non_null(srv);
  return srv;
}

/* ---- SIGPIPE ------------------------------------------------------------ */

static volatile sig_atomic_t sigpipes;

static void on_sigpipe(int sig) {
  (void)sig;
  sigpipes++;
}

void nh_sigpipe_watch(void) {
  struct sigaction old;
  if (sigaction(SIGPIPE, NULL, &old) != 0 || old.sa_handler != SIG_DFL) {
    return;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_sigpipe;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGPIPE, &sa, NULL);
}

int nh_sigpipe_count(void) {
  return (int)sigpipes;
}

/* ---- temporary directories ---------------------------------------------- */

void nh_tmpdir(char *buf, size_t len) {
  snprintf(buf, len, "/tmp/uvst-XXXXXX");
  if (mkdtemp(buf) == NULL) {
    fail_msg("mkdtemp: %s", strerror(errno));
  }
}

void nh_rmdir(const char *dir) {
  DIR *d = opendir(dir);
  if (d != NULL) {
    struct dirent *de;
    char path[512];
    while ((de = readdir(d)) != NULL) {
      if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        unlink(path);
      }
    }
    closedir(d);
  }
  rmdir(dir);
}

/* ---- failures from helper threads --------------------------------------- */

static pthread_mutex_t fail_mutex = PTHREAD_MUTEX_INITIALIZER;
static int fail_count;

void nh_fail(const char *msg, int rc) {
  pthread_mutex_lock(&fail_mutex);
  fail_count++;
  pthread_mutex_unlock(&fail_mutex);
  fprintf(stderr, "helper thread failure: %s: %d (%s) %s\n", msg, rc,
          rc < 0 ? uvs_err_name(rc) : "-", uvs_last_error());
}

int nh_take_failures(void) {
  pthread_mutex_lock(&fail_mutex);
  int n = fail_count;
  fail_count = 0;
  pthread_mutex_unlock(&fail_mutex);
  return n;
}

/* ---- thread server ------------------------------------------------------ */

struct nh_conn {
  pthread_t thread;
  int joinable;
  uvs_stream *s;
  nh_server *ts;
};

struct nh_server {
  uvs_server *srv;
  nh_handler handler;
  void *arg;
  pthread_t thread;
  pthread_mutex_t mutex;
  struct nh_conn **conns;
  int nconns, cap;
  int stop;
};

static void *conn_main(void *p) {
  struct nh_conn *c = p;
  c->ts->handler(c->s, c->ts->arg);
  nh_close_free(c->s);
  return NULL;
}

static int server_stopping(nh_server *ts) {
  pthread_mutex_lock(&ts->mutex);
  int stop = ts->stop;
  pthread_mutex_unlock(&ts->mutex);
  return stop;
}

static int add_conn(nh_server *ts, uvs_stream *s) {
  struct nh_conn *c = calloc(1, sizeof(*c));
  if (c == NULL) {
    return -1;
  }
  c->s = s;
  c->ts = ts;
  pthread_mutex_lock(&ts->mutex);
  if (ts->nconns == ts->cap) {
    int cap = ts->cap ? 2 * ts->cap : 64;
    struct nh_conn **n = realloc(ts->conns, (size_t)cap * sizeof(*n));
    if (n == NULL) {
      pthread_mutex_unlock(&ts->mutex);
      free(c);
      return -1;
    }
    ts->conns = n;
    ts->cap = cap;
  }
  ts->conns[ts->nconns++] = c;
  pthread_mutex_unlock(&ts->mutex);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  int rc = pthread_create(&c->thread, &attr, conn_main, c);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    /* Run it inline: slower, but the connection is still served. */
    nh_fail("pthread_create for a connection", -rc);
    conn_main(c);
  } else {
    c->joinable = 1;
  }
  return 0;
}

static void *accept_main(void *p) {
  nh_server *ts = p;
  int errors = 0;
  for (;;) {
    uvs_stream *s = NULL;
    int rc = uvs_server_accept(ts->srv, 1000, &s);
    if (rc == 0) {
      if (add_conn(ts, s) != 0) {
        nh_fail("out of memory in the thread server", 0);
        nh_close_free(s);
      }
      continue;
    }
    if (rc == UVS_ECLOSED) {
      break;
    }
    if (rc == UVS_ETIMEDOUT) {
      if (server_stopping(ts)) {
        nh_fail("uvs_server_accept still waiting after uvs_server_close", rc);
        break;
      }
      continue;
    }
    nh_fail("uvs_server_accept", rc);
    if (++errors > 100) {
      break;
    }
    uvst_sleep_ms(5);
  }
  return NULL;
}

nh_server *nh_server_start(uvs_server *srv, nh_handler h, void *arg) {
  nh_server *ts = calloc(1, sizeof(*ts));
  assert_non_null(ts);
  ts->srv = srv;
  ts->handler = h;
  ts->arg = arg;
  pthread_mutex_init(&ts->mutex, NULL);
  if (pthread_create(&ts->thread, NULL, accept_main, ts) != 0) {
    fail_msg("pthread_create failed");
  }
  return ts;
}

int nh_server_accepted(nh_server *ts) {
  pthread_mutex_lock(&ts->mutex);
  int n = ts->nconns;
  pthread_mutex_unlock(&ts->mutex);
  return n;
}

int nh_server_stop(nh_server *ts) {
  pthread_mutex_lock(&ts->mutex);
  ts->stop = 1;
  pthread_mutex_unlock(&ts->mutex);
  int rc = uvs_server_close(ts->srv);
  if (rc != 0) {
    nh_fail("uvs_server_close", rc);
  }
  pthread_join(ts->thread, NULL);
  for (int i = 0; i < ts->nconns; i++) {
    if (ts->conns[i]->joinable) {
      pthread_join(ts->conns[i]->thread, NULL);
    }
    free(ts->conns[i]);
  }
  free(ts->conns);
  pthread_mutex_destroy(&ts->mutex);
  free(ts);
  return nh_take_failures();
}

/* ---- echo handler ------------------------------------------------------- */

void nh_echo_stats_init(nh_echo_stats *st) {
  memset(st, 0, sizeof(*st));
  pthread_mutex_init(&st->mutex, NULL);
  st->hash = NH_FNV_INIT;
}

void nh_echo_handler(uvs_stream *s, void *arg) {
  nh_echo_stats *st = arg;
  for (;;) {
    void *d = NULL;
    size_t n = 0;
    int rc = uvs_stream_read(s, 256 * 1024, 30000, &d, &n);
    if (rc != 0) {
      nh_fail("echo: read", rc);
      return;
    }
    if (n == 0) {
      uvs_free(d);
      break;
    }
    if (st != NULL) {
      pthread_mutex_lock(&st->mutex);
      st->bytes += (int64_t)n;
      st->hash = nh_fnv1a(st->hash, d, n);
      pthread_mutex_unlock(&st->mutex);
    }
    rc = nh_write_drain(s, d, n, 30000);
    uvs_free(d);
    if (rc != 0) {
      nh_fail("echo: write/drain", rc);
      return;
    }
  }
  if (st != NULL) {
    pthread_mutex_lock(&st->mutex);
    st->finished++;
    pthread_mutex_unlock(&st->mutex);
  }
}

/* ---- descriptor snapshots ----------------------------------------------- */

static int cmp_int(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

void nh_fdset_take(nh_fdset *set) {
  set->n = 0;
  set->fds = NULL;
  DIR *d = opendir("/proc/self/fd");
  assert_non_null(d);
  int self = dirfd(d), cap = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.') {
      continue;
    }
    int fd = atoi(de->d_name);
    if (fd == self) {
      continue;
    }
    if (set->n == cap) {
      cap = cap ? 2 * cap : 64;
      set->fds = realloc(set->fds, (size_t)cap * sizeof(int));
      assert_non_null(set->fds);
    }
    set->fds[set->n++] = fd;
  }
  closedir(d);
  qsort(set->fds, (size_t)set->n, sizeof(int), cmp_int);
}

void nh_fdset_free(nh_fdset *set) {
  free(set->fds);
  set->fds = NULL;
  set->n = 0;
}

static int fdset_has(const nh_fdset *set, int fd) {
  return set->n > 0 &&
         bsearch(&fd, set->fds, (size_t)set->n, sizeof(int), cmp_int) != NULL;
}

static int count_new(const nh_fdset *before, int skip_null, char *desc,
                     size_t len) {
  nh_fdset now;
  nh_fdset_take(&now);
  int n = 0;
  size_t used = 0;
  desc[0] = '\0';
  for (int i = 0; i < now.n; i++) {
    if (fdset_has(before, now.fds[i])) {
      continue;
    }
    char path[64], target[256];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", now.fds[i]);
    ssize_t tl = readlink(path, target, sizeof(target) - 1);
    if (tl < 0) {
      continue; /* closed meanwhile */
    }
    target[tl] = '\0';
    if (skip_null && strcmp(target, "/dev/null") == 0) {
      continue;
    }
    n++;
    if (used + 1 < len) {
      int w = snprintf(desc + used, len - used, "%s%d -> %s", used ? ", " : "",
                       now.fds[i], target);
      used = w > 0 && used + (size_t)w < len ? used + (size_t)w : len - 1;
    }
  }
  nh_fdset_free(&now);
  return n;
}

int nh_fdset_new(const nh_fdset *before, int skip_null, int64_t settle_ms,
                 char *desc, size_t len) {
  int64_t deadline = uvst_now_ms() + settle_ms;
  int n = count_new(before, skip_null, desc, len);
  while (n > 0 && uvst_now_ms() < deadline) {
    uvst_sleep_ms(10);
    n = count_new(before, skip_null, desc, len);
  }
  return n;
}

/* ---- fixture ------------------------------------------------------------ */

int nh_setup_threads(void **state, int io_threads) {
  nh_fixture *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  nh_take_failures();
  nh_fdset_take(&f->outer);
  f->e = uvst_engine_new(io_threads);
  nh_fdset_take(&f->inner);
  nh_tmpdir(f->dir, sizeof(f->dir));
  *state = f;
  return 0;
}

int nh_setup(void **state) {
  return nh_setup_threads(state, 1);
}

int nh_teardown(void **state) {
  nh_fixture *f = *state;
  *state = NULL;
  char inner[512], outer[512];
  int ninner =
      nh_fdset_new(&f->inner, 1, UVST_FD_SETTLE_MS, inner, sizeof(inner));
  int rc = uvs_engine_free(f->e);
  int nouter =
      nh_fdset_new(&f->outer, 0, UVST_FD_SETTLE_MS, outer, sizeof(outer));
  nh_rmdir(f->dir);
  nh_fdset_free(&f->inner);
  nh_fdset_free(&f->outer);
  free(f);
  int failures = nh_take_failures();
  if (ninner > 0) {
    fail_msg("fd leak: %d descriptor(s) left by the test: %s", ninner, inner);
  }
  assert_uvs_rc(rc, 0);
  if (nouter > 0) {
    fail_msg("fd leak: %d descriptor(s) left after uvs_engine_free: %s", nouter,
             outer);
  }
  assert_int_equal(failures, 0);
  return 0;
}

void nh_apply_filter(void) {
  const char *filter = getenv("UVST_FILTER");
  if (filter != NULL && *filter != '\0') {
    cmocka_set_test_filter(filter);
  }
}

void nh_warm_up(void) {
  uvs_engine *e = NULL;
  if (uvs_engine_new(NULL, &e) == 0) {
    uvs_engine_free(e);
  }
}
