/*
 * helpers.c - implementation of the shared test utilities (see helpers.h).
 *
 * Plain POSIX only: the peer server uses blocking sockets with poll() and a
 * 50 ms tick so that uvst_server_stop can end it promptly. Failures inside
 * helpers call cmocka's fail_msg, so they fail the running test.
 */
#include "helpers.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- time --------------------------------------------------------------- */

int64_t uvst_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void uvst_sleep_ms(int64_t ms) {
  struct timespec ts;
  ts.tv_sec = (time_t)(ms / 1000);
  ts.tv_nsec = (long)(ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* ---- descriptors -------------------------------------------------------- */

int uvst_count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (d == NULL) {
    fail_msg("opendir(/proc/self/fd): %s", strerror(errno));
    return -1;
  }
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] != '.') {
      n++;
    }
  }
  closedir(d);
  return n - 1; /* the DIR's own descriptor */
}

void uvst_assert_no_fd_leak(int before) {
  int64_t deadline = uvst_now_ms() + UVST_FD_SETTLE_MS;
  int now = uvst_count_fds();
  while (now > before && uvst_now_ms() < deadline) {
    uvst_sleep_ms(10);
    now = uvst_count_fds();
  }
  if (now > before) {
    fail_msg("fd leak: %d descriptors before the test, %d after", before, now);
  }
}

/* libuv creates a process-wide pipe pair (its signal lock) when the first
 * loop is initialised and keeps it until exit. Creating and freeing one
 * engine before the first snapshot keeps that pipe out of the leak count;
 * a second engine adds nothing, so real per-engine leaks still show. */
static void warm_up_libuv(void) {
  static int done;
  uvs_engine *e = NULL;
  if (!done && uvs_engine_new(NULL, &e) == 0) {
    uvs_engine_free(e);
  }
  done = 1;
}

int uvst_fd_setup(void **state) {
  warm_up_libuv();
  struct uvst_fixture *f = calloc(1, sizeof(*f));
  if (f == NULL) {
    return -1;
  }
  f->fds = uvst_count_fds();
  *state = f;
  return 0;
}

int uvst_fd_teardown(void **state) {
  struct uvst_fixture *f = *state;
  int before = f->fds;
  free(f);
  *state = NULL;
  uvst_assert_no_fd_leak(before);
  return 0;
}

/* ---- byte assertions ---------------------------------------------------- */

static void print_bytes(const char *what, const void *p, size_t len) {
  const unsigned char *b = p;
  fprintf(stderr, "  %s (%zu bytes): \"", what, len);
  for (size_t i = 0; i < len && i < 200; i++) {
    if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '"' && b[i] != '\\') {
      fputc(b[i], stderr);
    } else {
      fprintf(stderr, "\\x%02x", b[i]);
    }
  }
  fprintf(stderr, "%s\"\n", len > 200 ? "..." : "");
}

void uvst_assert_bytes(const void *data, size_t len, const void *exp,
                       size_t explen, const char *file, int line) {
  if (len == explen && (len == 0 || (data && memcmp(data, exp, len) == 0))) {
    return;
  }
  fprintf(stderr, "%s:%d: byte mismatch\n", file, line);
  print_bytes("got", data ? data : "", data ? len : 0);
  print_bytes("expected", exp, explen);
  _fail(file, line);
}

void uvst_assert_rc(int rc, int expected, const char *expr, const char *file,
                    int line) {
  if (rc == expected) {
    return;
  }
  fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d (%s); last: %s\n",
          file, line, expr, rc, rc < 0 ? uvs_err_name(rc) : "non-negative",
          expected, expected < 0 ? uvs_err_name(expected) : "non-negative",
          uvs_last_error());
  _fail(file, line);
}

/* ---- readers ------------------------------------------------------------ */

uvs_stream *uvst_reader_new(uvs_engine *e, int64_t limit) {
  uvs_options *o = NULL;
  uvs_stream *s = NULL;
  if (limit > 0) {
    assert_uvs_rc(uvs_options_new(&o), 0);
    assert_uvs_rc(uvs_options_set_int(o, "limit", limit), 0);
  }
  int rc = uvs_reader_new(e, o, &s);
  if (o != NULL) {
    uvs_options_free(o);
  }
  assert_uvs_rc(rc, 0);
  assert_non_null(s);
  return s;
}

void uvst_feed(uvs_stream *s, const char *str) {
  assert_uvs_rc(uvs_reader_feed_data(s, str, strlen(str)), 0);
}

struct uvst_later {
  pthread_t thread;
  int64_t delay_ms;
  void (*fn)(void *);
  void *arg;
};

static void *later_main(void *p) {
  uvst_later *l = p;
  uvst_sleep_ms(l->delay_ms);
  l->fn(l->arg);
  return NULL;
}

uvst_later *uvst_later_start(int64_t delay_ms, void (*fn)(void *), void *arg) {
  uvst_later *l = calloc(1, sizeof(*l));
  assert_non_null(l);
  l->delay_ms = delay_ms;
  l->fn = fn;
  l->arg = arg;
  if (pthread_create(&l->thread, NULL, later_main, l) != 0) {
    free(l);
    fail_msg("pthread_create failed");
  }
  return l;
}

void uvst_later_join(uvst_later *l) {
  if (l != NULL) {
    pthread_join(l->thread, NULL);
    free(l);
  }
}

struct feed_job {
  uvs_stream *s;
  const char *str;
  int eof;
};

/* Runs on the helper thread: cmocka asserts are not thread-safe, so
 * failures are only printed (the reading side then fails or times out). */
static void feed_job_run(void *p) {
  struct feed_job *j = p;
  int rc = uvs_reader_feed_data(j->s, j->str, strlen(j->str));
  if (rc != 0) {
    fprintf(stderr, "uvst_feed_later: feed_data: %s\n", uvs_err_name(rc));
  }
  if (j->eof && (rc = uvs_reader_feed_eof(j->s)) != 0) {
    fprintf(stderr, "uvst_feed_later: feed_eof: %s\n", uvs_err_name(rc));
  }
  free(j);
}

uvst_later *uvst_feed_later(uvs_stream *s, const char *str, int eof,
                            int64_t delay_ms) {
  struct feed_job *j = calloc(1, sizeof(*j));
  assert_non_null(j);
  j->s = s;
  j->str = str;
  j->eof = eof;
  return uvst_later_start(delay_ms, feed_job_run, j);
}

/* ---- engines ------------------------------------------------------------ */

uvs_engine *uvst_engine_new(int io_threads) {
  uvs_options *o = NULL;
  uvs_engine *e = NULL;
  if (io_threads >= 0) {
    assert_uvs_rc(uvs_options_new(&o), 0);
    assert_uvs_rc(uvs_options_set_int(o, "io_threads", io_threads), 0);
  }
  int rc = uvs_engine_new(o, &e);
  if (o != NULL) {
    uvs_options_free(o);
  }
  assert_uvs_rc(rc, 0);
  assert_non_null(e);
  return e;
}

/* ---- plain POSIX peer server -------------------------------------------- */

/* Waits up to 50 ms for fd to become readable: 1 readable, 0 not, -1 error. */
static int wait_readable(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  int rc = poll(&p, 1, 50);
  if (rc < 0) {
    return errno == EINTR ? 0 : -1;
  }
  return rc > 0;
}

static int server_stopping(uvst_server *srv) {
  pthread_mutex_lock(&srv->mutex);
  int stop = srv->stop;
  pthread_mutex_unlock(&srv->mutex);
  return stop;
}

static void server_count(uvst_server *srv, int64_t bytes, int conns) {
  pthread_mutex_lock(&srv->mutex);
  srv->bytes_in += bytes;
  srv->connections += conns;
  pthread_mutex_unlock(&srv->mutex);
}

static int write_all(int fd, const void *p, size_t len) {
  const char *b = p;
  while (len > 0) {
    ssize_t n = send(fd, b, len, MSG_NOSIGNAL);
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

/* ECHO and SINK: read until EOF/error/stop, echoing when asked to. */
static void serve_reads(uvst_server *srv, int fd, int echo) {
  char buf[65536];
  while (!server_stopping(srv)) {
    int r = wait_readable(fd);
    if (r < 0) {
      return;
    }
    if (r == 0) {
      continue;
    }
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return;
    }
    server_count(srv, n, 0);
    if (echo && write_all(fd, buf, (size_t)n) != 0) {
      return;
    }
  }
}

static void serve_one(uvst_server *srv, int fd) {
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  switch (srv->mode) {
  case UVST_ECHO:
    serve_reads(srv, fd, 1);
    break;
  case UVST_SINK:
    serve_reads(srv, fd, 0);
    break;
  case UVST_SEND:
    write_all(fd, srv->payload, srv->payload_len);
    shutdown(fd, SHUT_WR);
    serve_reads(srv, fd, 0);
    break;
  case UVST_RESET:
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    break;
  default:
    break;
  }
  close(fd);
}

static void *server_main(void *p) {
  uvst_server *srv = p;
  while (!server_stopping(srv)) {
    int r = wait_readable(srv->listen_fd);
    if (r < 0) {
      break;
    }
    if (r == 0) {
      continue;
    }
    int fd = accept(srv->listen_fd, NULL, NULL);
    if (fd < 0) {
      continue;
    }
    server_count(srv, 0, 1);
    serve_one(srv, fd);
  }
  return NULL;
}

/* A listening socket on 127.0.0.1 port 0; *port receives the port. */
static int listen_loopback(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return -1;
  }
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof(a);
  if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 64) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
    close(fd);
    return -1;
  }
  *port = ntohs(a.sin_port);
  return fd;
}

uvst_server *uvst_server_start(int mode, const void *payload, size_t len) {
  uvst_server *srv = calloc(1, sizeof(*srv));
  assert_non_null(srv);
  srv->mode = mode;
  srv->payload = payload;
  srv->payload_len = len;
  pthread_mutex_init(&srv->mutex, NULL);
  srv->listen_fd = listen_loopback(&srv->port);
  if (srv->listen_fd < 0) {
    fail_msg("uvst_server_start: %s", strerror(errno));
  }
  if (pthread_create(&srv->thread, NULL, server_main, srv) != 0) {
    fail_msg("uvst_server_start: pthread_create failed");
  }
  return srv;
}

int64_t uvst_server_bytes_in(uvst_server *srv) {
  pthread_mutex_lock(&srv->mutex);
  int64_t n = srv->bytes_in;
  pthread_mutex_unlock(&srv->mutex);
  return n;
}

int uvst_server_connections(uvst_server *srv) {
  pthread_mutex_lock(&srv->mutex);
  int n = srv->connections;
  pthread_mutex_unlock(&srv->mutex);
  return n;
}

void uvst_server_stop(uvst_server *srv) {
  if (srv == NULL) {
    return;
  }
  pthread_mutex_lock(&srv->mutex);
  srv->stop = 1;
  pthread_mutex_unlock(&srv->mutex);
  pthread_join(srv->thread, NULL);
  close(srv->listen_fd);
  pthread_mutex_destroy(&srv->mutex);
  free(srv);
}

int uvst_unused_port(void) {
  int port = 0;
  int fd = listen_loopback(&port);
  if (fd < 0) {
    fail_msg("uvst_unused_port: %s", strerror(errno));
  }
  close(fd);
  return port;
}
