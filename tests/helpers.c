/*
 * helpers.c - implementation of the shared test utilities (see helpers.h).
 *
 * Plain POSIX only. Failures inside helpers call cmocka's fail_msg, so they
 * fail the running test.
 */
#include "helpers.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
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

/* ---- operations and engines --------------------------------------------- */

uvs_op *uvst_op_new(uvs_cq *cq, uint64_t tag) {
  uvs_op *op = NULL;
  assert_uvs_rc(uvs_op_new(cq, tag, &op), 0);
  assert_non_null(op);
  return op;
}

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

/* ---- plain POSIX sockets ------------------------------------------------ */

int uvst_listen_loopback(int rcvbuf, int *port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return -1;
  }
  if (rcvbuf > 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  }
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof(a);
  if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 128) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
    int err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  *port = ntohs(a.sin_port);
  return fd;
}

uvs_stream *uvst_socketpair_stream(uvs_engine *e, int *peer) {
  int sv[2];
  uvs_stream *s = NULL;
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  assert_uvs_rc(uvs_stream_open_fd(e, sv[0], NULL, &s), 0);
  assert_non_null(s);
  *peer = sv[1];
  return s;
}

int uvst_unused_port(void) {
  int port = 0;
  int fd = uvst_listen_loopback(0, &port);
  if (fd < 0) {
    fail_msg("uvst_unused_port: %s", strerror(errno));
  }
  close(fd);
  return port;
}
