/*
 * common.c - shared helpers of the stress programs (see stress.h).
 */
#include "stress.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- results ----------------------------------------------------------- */

static atomic_int failures;
static atomic_llong total_bytes, total_ops;
static pthread_mutex_t print_mu = PTHREAD_MUTEX_INITIALIZER;

void st_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  pthread_mutex_lock(&print_mu);
  fputs("FAIL: ", stdout);
  vprintf(fmt, ap);
  fputc('\n', stdout);
  fflush(stdout);
  pthread_mutex_unlock(&print_mu);
  va_end(ap);
  /* The first few failures are the interesting ones; stop the flood. */
  if (atomic_fetch_add(&failures, 1) > 200) {
    printf("FAIL: too many failures, giving up\n");
    fflush(stdout);
    _exit(1);
  }
}

int st_failures(void) {
  return atomic_load(&failures);
}

static int quiet_figures;
void st_set_quiet(int quiet) {
  quiet_figures = quiet;
}

void st_figure(const char *name, const char *fmt, ...) {
  if (quiet_figures)
    return;
  va_list ap;
  va_start(ap, fmt);
  pthread_mutex_lock(&print_mu);
  printf("figure: %s = ", name);
  vprintf(fmt, ap);
  fputc('\n', stdout);
  fflush(stdout);
  pthread_mutex_unlock(&print_mu);
  va_end(ap);
}

int st_check_rc_(int rc, int want, const char *what, const char *file,
                 int line) {
  if (rc != want)
    st_fail("%s:%d: %s returned %d (%s), expected %d (%s); last error: %s",
            file, line, what, rc, uvs_err_name(rc), want, uvs_err_name(want),
            uvs_last_error());
  return rc == want;
}

void st_add_bytes(int64_t n) {
  atomic_fetch_add(&total_bytes, n);
}
void st_add_ops(int64_t n) {
  atomic_fetch_add(&total_ops, n);
}
int64_t st_bytes(void) {
  return atomic_load(&total_bytes);
}
int64_t st_ops(void) {
  return atomic_load(&total_ops);
}

/* ---- time, memory, descriptors --------------------------------------------
 */

int64_t st_now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void st_sleep_ms(int64_t ms) {
  struct timespec t = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&t, &t) != 0 && errno == EINTR) {
  }
}

static int64_t status_kb(const char *key) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f)
    return -1;
  char line[256];
  int64_t v = -1;
  size_t kl = strlen(key);
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
      v = strtoll(line + kl + 1, NULL, 10);
      break;
    }
  }
  fclose(f);
  return v;
}

int64_t st_rss_kb(void) {
  return status_kb("VmRSS");
}
int64_t st_hwm_kb(void) {
  return status_kb("VmHWM");
}

int st_count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n - 1;
}

void st_expect_fds(int before, int64_t settle_ms, const char *when) {
  int64_t end = st_now_ms() + settle_ms;
  int n = st_count_fds();
  while (n > before && st_now_ms() < end) {
    st_sleep_ms(10);
    n = st_count_fds();
  }
  if (n <= before)
    return;
  char desc[2048] = "";
  size_t used = 0;
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  while (d && (e = readdir(d)) != NULL && used + 80 < sizeof desc) {
    if (e->d_name[0] == '.')
      continue;
    char path[300], target[64] = "";
    snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
    ssize_t k = readlink(path, target, sizeof target - 1);
    target[k > 0 ? k : 0] = 0;
    used += (size_t)snprintf(desc + used, sizeof desc - used, " %s->%s",
                             e->d_name, target);
  }
  if (d)
    closedir(d);
  st_fail("%s: %d descriptors open, %d before (leak):%s", when, n, before,
          desc);
}

long st_raise_nofile(long need) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return -1;
  if ((long)rl.rlim_max < need) {
    struct rlimit more = {(rlim_t)need, (rlim_t)need};
    if (setrlimit(RLIMIT_NOFILE, &more) == 0)
      return need;
  }
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  getrlimit(RLIMIT_NOFILE, &rl);
  return (long)rl.rlim_cur;
}

void st_warm_up(void) {
  uvs_engine *e = NULL;
  if (uvs_engine_new(NULL, &e) == 0)
    uvs_engine_free(e);
}

/* ---- watchdog ------------------------------------------------------------ */

static pthread_mutex_t wd_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cv = PTHREAD_COND_INITIALIZER;
static int64_t wd_deadline = -1;
static char wd_phase[128];
static int wd_started;

static void *watchdog_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&wd_mu);
  for (;;) {
    if (wd_deadline >= 0 && st_now_ms() >= wd_deadline) {
      printf("FAIL: watchdog: phase \"%s\" did not finish in time (hang)\n",
             wd_phase);
      fflush(stdout);
      abort();
    }
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += 1;
    pthread_cond_timedwait(&wd_cv, &wd_mu, &t);
  }
  return NULL;
}

void st_watchdog_arm(int seconds, const char *phase) {
  pthread_mutex_lock(&wd_mu);
  if (!wd_started) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_create(&t, &attr, watchdog_main, NULL);
    pthread_attr_destroy(&attr);
    wd_started = 1;
  }
  wd_deadline = st_now_ms() + (int64_t)seconds * 1000;
  snprintf(wd_phase, sizeof wd_phase, "%s", phase);
  pthread_cond_signal(&wd_cv);
  pthread_mutex_unlock(&wd_mu);
}

void st_watchdog_disarm(void) {
  pthread_mutex_lock(&wd_mu);
  wd_deadline = -1;
  pthread_mutex_unlock(&wd_mu);
}

/* ---- bytes -----------------------------------------------------------------
 */

uint64_t st_fnv1a(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

uint64_t st_rand(uint64_t *state) {
  uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ULL;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 0x2545f4914f6cdd1dULL;
}

void st_fill_line(uint64_t *state, char *buf, size_t n) {
  for (size_t i = 0; i + 1 < n; i++)
    buf[i] = (char)('!' + st_rand(state) % 90);
  if (n)
    buf[n - 1] = '\n';
}

/* ---- POSIX peers ------------------------------------------------------------
 */

static struct sockaddr_in loopback(int port) {
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_port = htons((uint16_t)port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sin;
}

int st_connect_nb(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return -errno;
  struct sockaddr_in sin = loopback(port);
  if (connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0 &&
      errno != EINPROGRESS) {
    int err = errno;
    close(fd);
    return -err;
  }
  return fd;
}

int st_connect_blocking(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  struct sockaddr_in sin = loopback(port);
  if (connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  return fd;
}

void st_set_nonblock(int fd, int on) {
  int fl = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

void st_close_rst(int fd) {
  struct linger lg = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(fd);
}

void st_set_bufs(int fd, int rcvbuf, int sndbuf) {
  if (rcvbuf > 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (sndbuf > 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
}

int st_send_all(int fd, const void *p, size_t n, int timeout_ms) {
  const char *b = p;
  while (n > 0) {
    struct pollfd pf = {fd, POLLOUT, 0};
    if (poll(&pf, 1, timeout_ms) <= 0)
      return -1;
    ssize_t k = send(fd, b, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (k < 0 && (errno == EAGAIN || errno == EINTR))
      continue;
    if (k <= 0)
      return -1;
    b += k;
    n -= (size_t)k;
  }
  return 0;
}

int st_recv_exact(int fd, void *p, size_t n, int timeout_ms) {
  char *b = p;
  while (n > 0) {
    struct pollfd pf = {fd, POLLIN, 0};
    if (poll(&pf, 1, timeout_ms) <= 0)
      return -1;
    ssize_t k = recv(fd, b, n, MSG_DONTWAIT);
    if (k < 0 && (errno == EAGAIN || errno == EINTR))
      continue;
    if (k <= 0)
      return -1;
    b += k;
    n -= (size_t)k;
  }
  return 0;
}

/* ---- uvstreams helpers
 * ------------------------------------------------------- */

uvs_engine *st_engine(int io_threads) {
  uvs_options *o = st_opts("io_threads", io_threads, NULL, 0, NULL, 0);
  uvs_engine *e = NULL;
  int rc = uvs_engine_new(o, &e);
  uvs_options_free(o);
  if (rc != 0) {
    st_fail("uvs_engine_new(io_threads %d): %s", io_threads, uvs_last_error());
    exit(1);
  }
  return e;
}

uvs_options *st_opts(const char *k1, int64_t v1, const char *k2, int64_t v2,
                     const char *k3, int64_t v3) {
  uvs_options *o = NULL;
  if (uvs_options_new(&o) != 0) {
    st_fail("uvs_options_new");
    exit(1);
  }
  const char *keys[3] = {k1, k2, k3};
  int64_t vals[3] = {v1, v2, v3};
  for (int i = 0; i < 3 && keys[i]; i++)
    if (uvs_options_set_int(o, keys[i], vals[i]) != 0)
      st_fail("uvs_options_set_int(%s): %s", keys[i], uvs_last_error());
  return o;
}

int64_t st_get_int(uvs_stream *s, const char *key) {
  int64_t v = -1;
  int rc = uvs_stream_get_int(s, key, &v);
  if (rc != 0)
    st_fail("uvs_stream_get_int(%s): %s", key, uvs_err_name(rc));
  return v;
}

uvs_server *st_listen(uvs_engine *e, const uvs_options *o, int *port) {
  uvs_server *srv = NULL;
  int rc = uvs_server_listen_tcp(e, "127.0.0.1", 0, o, &srv);
  if (rc != 0) {
    st_fail("listen: %s", uvs_last_error());
    exit(1);
  }
  char *host = NULL;
  if (uvs_server_address(srv, 0, &host, port) != 0) {
    st_fail("server address: %s", uvs_last_error());
    exit(1);
  }
  uvs_free(host);
  return srv;
}
