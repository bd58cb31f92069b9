/*
 * echo-server - the asyncio docs' TCP echo server, written two ways.
 *
 *   echo-server [--host H] [--port P] [--unix PATH] [--mode cq|threads]
 *               [--io-threads N [--reuseport]] [--tls-cert PEM --tls-key PEM]
 *
 * --mode cq (the default) drives a host-driven engine (io_threads = 0) from
 * one thread: uvs_cq_wait() runs the engine, which blocks in its own poller
 * (one system call per turn), and hands back the completions in batches. The
 * SIGINT/SIGTERM handler writes to a self-pipe that the engine reads as a
 * stream (uvs_connect_read_pipe), so a signal is one more completion. (A
 * program with an event loop of its own watches uvs_cq_fd() instead and calls
 * uvs_cq_poll() when it turns readable: the same, at the price of the host's
 * poll call on every turn.) Every connection is a small state
 * machine (read -> write -> drain -> read ...) with one operation, created
 * once and reused for its reads and its drains in turn (an operation holds
 * one call at a time, and an idle connection then costs just the one); the
 * read bytes are borrowed from the operation (uvs_op_read_result) and
 * written straight back before the drain reuses it, and closed connections
 * are recycled together with their operation, so serving a request
 * allocates nothing. This is the fast path the project
 * benchmarks against a bare libuv server.
 *
 * --mode threads uses an engine with its own I/O threads (--io-threads, 1
 * by default: the engine hands accepted connections to its loops in turn;
 * with --reuseport each loop has its own SO_REUSEPORT listener instead, the
 * option "per_loop_listeners")
 * and the blocking calls: the main thread accepts with a short timeout (to
 * notice signals) and one detached thread per connection reads, writes and
 * drains.
 *
 * --tls-cert/--tls-key serve TLS (the server's certificate chain and key,
 * PEM): the engine does the handshake before handing a connection over,
 * so both modes read and write plaintext exactly as without TLS.
 *
 * Both print "serving on HOST:PORT" (the port read back from the server, so
 * --port 0 works) or "serving on PATH", and on SIGINT/SIGTERM close the
 * server and its clients, free everything, print "closed" and exit 0.
 */
#include <uvstreams.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* Bytes asked for by each read: more than a stream ever buffers (2 x its
 * 64 KiB limit plus one 128 KiB socket read), so that one read takes
 * whatever has arrived and one write echoes it; completions taken per
 * uvs_cq_wait; listen backlog (many clients connect at once); how often
 * threads mode looks at the stop flag; how long clients get to close at
 * shutdown; the stack of a connection thread. */
#define READ_SIZE (512 * 1024)
#define BATCH 256
#define BACKLOG 1024
#define ACCEPT_TIMEOUT_MS 200
#define SHUTDOWN_TIMEOUT_MS 5000
#define THREAD_STACK (256 * 1024)

struct config {
  const char *host;
  int port;
  const char *unix_path; /* non-NULL: listen on this Unix socket instead */
  int threads;           /* 0: --mode cq, 1: --mode threads */
  int io_threads;        /* threads mode: the engine's I/O loops */
  int reuseport;         /* TCP: one SO_REUSEPORT listener per loop */
  const char *tls_cert;  /* non-NULL with tls_key: serve TLS */
  const char *tls_key;
};

/* ---- common helpers ------------------------------------------------------ */

static int sig_pipe[2] = {-1, -1};
static volatile sig_atomic_t stop_requested;

static void report(const char *what, int err) {
  const char *detail = uvs_last_error();
  if (detail[0] != '\0')
    fprintf(stderr, "echo-server: %s: %s (%s)\n", what, uvs_strerror(err),
            detail);
  else
    fprintf(stderr, "echo-server: %s: %s\n", what, uvs_strerror(err));
}

/* Records the first failure of a teardown step, reporting every one. */
static void check_free(int *first, const char *what, int rc) {
  if (rc < 0) {
    report(what, rc);
    if (*first == 0)
      *first = rc;
  }
}

static void usage(FILE *f) {
  fprintf(f, "usage: echo-server [--host H] [--port P] [--unix PATH] "
             "[--mode cq|threads]\n"
             "                   [--io-threads N [--reuseport]] [--tls-cert "
             "PEM --tls-key PEM]\n");
}

/* A decimal integer in [min, max]. */
static int parse_int(const char *s, long min, long max, int *out) {
  char *end;
  long v;
  errno = 0;
  v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
    return -1;
  *out = (int)v;
  return 0;
}

static int parse_option(struct config *cfg, const char *name,
                        const char *value) {
  if (strcmp(name, "--host") == 0)
    cfg->host = value;
  else if (strcmp(name, "--port") == 0)
    return parse_int(value, 0, 65535, &cfg->port);
  else if (strcmp(name, "--unix") == 0)
    cfg->unix_path = value;
  else if (strcmp(name, "--mode") == 0 && strcmp(value, "cq") == 0)
    cfg->threads = 0;
  else if (strcmp(name, "--mode") == 0 && strcmp(value, "threads") == 0)
    cfg->threads = 1;
  else if (strcmp(name, "--io-threads") == 0)
    return parse_int(value, 1, 64, &cfg->io_threads);
  else if (strcmp(name, "--tls-cert") == 0)
    cfg->tls_cert = value;
  else if (strcmp(name, "--tls-key") == 0)
    cfg->tls_key = value;
  else
    return -1;
  return 0;
}

static int parse_args(int argc, char **argv, struct config *cfg) {
  int i;
  for (i = 1; i < argc; i += 2) {
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      exit(0);
    }
    if (strcmp(argv[i], "--reuseport") == 0) { /* the one flag */
      cfg->reuseport = 1;
      i--;
      continue;
    }
    if (i + 1 >= argc || parse_option(cfg, argv[i], argv[i + 1]) < 0)
      return -1;
  }
  return (cfg->tls_cert == NULL) == (cfg->tls_key == NULL) ? 0 : -1;
}

/* Async-signal-safe: sets the flag that both modes' loops check and writes
 * to the pipe that the cq mode's engine reads (which ends its wait). */
static void on_signal(int sig) {
  int saved = errno;
  ssize_t r;
  (void)sig;
  stop_requested = 1;
  if (sig_pipe[1] >= 0) {
    r = write(sig_pipe[1], "x", 1);
    (void)r; /* a full pipe already means "stop" */
  }
  errno = saved;
}

/* SIGINT/SIGTERM stop the server. SIGPIPE is ignored so that writing to a
 * peer that went away can only be an error code (EPIPE), never the end of
 * the process, whatever kind of descriptor a stream has.
 * The handlers are installed explicitly: a shell starts background jobs with
 * SIGINT ignored, and we still want `kill -INT` to work. */
static int install_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  if (sigemptyset(&sa.sa_mask) < 0 || sigaction(SIGINT, &sa, NULL) < 0 ||
      sigaction(SIGTERM, &sa, NULL) < 0) {
    perror("echo-server: sigaction");
    return -1;
  }
  if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
    perror("echo-server: signal(SIGPIPE)");
    return -1;
  }
  return 0;
}

static int open_signal_pipe(void) {
  if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
    perror("echo-server: pipe2");
    return -1;
  }
  return 0;
}

/* The cq mode's engine adopted the read end (and closes it). */
static void close_signal_pipe(void) {
  if (sig_pipe[0] >= 0 && close(sig_pipe[0]) < 0)
    perror("echo-server: close");
  if (sig_pipe[1] >= 0 && close(sig_pipe[1]) < 0)
    perror("echo-server: close");
  sig_pipe[0] = sig_pipe[1] = -1;
}

/* 1000+ connections need more descriptors than the usual soft limit. */
static void raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
    perror("echo-server: getrlimit");
    return;
  }
  rl.rlim_cur = rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
    perror("echo-server: setrlimit");
}

static int new_engine(int io_threads, uvs_engine **out) {
  uvs_options *o;
  int rc = uvs_options_new(&o);
  if (rc < 0) {
    report("uvs_options_new", rc);
    return rc;
  }
  rc = uvs_options_set_int(o, "io_threads", io_threads);
  if (rc == 0)
    rc = uvs_engine_new(o, out);
  if (rc < 0)
    report("uvs_engine_new", rc);
  check_free(&rc, "uvs_options_free", uvs_options_free(o));
  return rc;
}

/* A server-side TLS configuration with the certificate and key loaded, set
 * in o (which keeps its own reference). */
static int add_tls(uvs_options *o, const struct config *cfg) {
  uvs_tls_config *tls;
  int rc = uvs_tls_config_new(UVS_TLS_SERVER, &tls);
  if (rc < 0) {
    report("uvs_tls_config_new", rc);
    return rc;
  }
  rc = uvs_tls_config_load_cert_file(tls, cfg->tls_cert, cfg->tls_key, NULL);
  if (rc < 0)
    report("loading the TLS certificate and key", rc);
  if (rc == 0)
    rc = uvs_options_set_tls(o, tls);
  check_free(&rc, "uvs_tls_config_free", uvs_tls_config_free(tls));
  return rc;
}

static int listen_on(uvs_engine *e, const struct config *cfg,
                     uvs_server **out) {
  uvs_options *o;
  int rc = uvs_options_new(&o);
  if (rc < 0) {
    report("uvs_options_new", rc);
    return rc;
  }
  rc = uvs_options_set_int(o, "backlog", BACKLOG);
  /* Threads mode: each connection's thread reads its socket itself. */
  if (rc == 0 && cfg->threads)
    rc = uvs_options_set_int(o, "direct_reads", 1);
  if (rc == 0 && cfg->reuseport)
    rc = uvs_options_set_int(o, "per_loop_listeners", 1);
  if (rc == 0 && cfg->tls_cert != NULL)
    rc = add_tls(o, cfg);
  if (rc == 0 && cfg->unix_path != NULL)
    rc = uvs_server_listen_unix(e, cfg->unix_path, o, out);
  else if (rc == 0)
    rc = uvs_server_listen_tcp(e, cfg->host, cfg->port, o, out);
  if (rc < 0)
    report("listen", rc);
  check_free(&rc, "uvs_options_free", uvs_options_free(o));
  return rc;
}

/* "serving on HOST:PORT" for each listening address, or "serving on PATH",
 * read back from the server (the port is the real one with --port 0). */
static int print_serving(uvs_server *srv, const struct config *cfg) {
  int i, port, rc, n = uvs_server_num_addresses(srv);
  char *host;
  if (n <= 0) {
    report("uvs_server_num_addresses", n < 0 ? n : UVS_EINTERNAL);
    return -1;
  }
  for (i = 0; i < n; i++) {
    rc = uvs_server_address(srv, i, &host, &port);
    if (rc < 0) {
      report("uvs_server_address", rc);
      return rc;
    }
    if (cfg->unix_path != NULL)
      printf("serving on %s\n", host);
    else if (strchr(host, ':') != NULL)
      printf("serving on [%s]:%d\n", host, port);
    else
      printf("serving on %s:%d\n", host, port);
    uvs_free(host);
  }
  return fflush(stdout) == 0 ? 0 : -1;
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- --mode cq: one thread, completion queue ------------------------------
 */

/*
 * Tags: a connection's operation is tagged with the connection's address
 * (malloc'ed memory is at least 8-byte aligned, so its low bits are 0); the
 * server's own operations with just TAG_ACCEPT, TAG_CLOSED or TAG_SIGNAL.
 */
enum { TAG_CONN = 0, TAG_ACCEPT = 1, TAG_CLOSED = 2, TAG_SIGNAL = 3 };
#define TAG_MASK ((uint64_t)3)

struct conn {
  uvs_stream *stream; /* NULL while the record sits in the pool */
  uvs_op *op;         /* reused for every read and every drain, in turn */
  int draining;       /* op's current (or last) call: 1 a drain, 0 a read */
  struct conn *prev, *next;
};

struct cq_server {
  uvs_engine *engine;
  uvs_cq *cq;
  uvs_stream *signals; /* the self-pipe's read end */
  uvs_op *signal_op;   /* its pending read: completes on SIGINT/SIGTERM */
  uvs_server *server;
  uvs_op *accept_op; /* restarted after each accepted connection */
  uvs_op *closed_op; /* server wait_closed, during shutdown */
  int closed_done;   /* closed_op completed */
  struct conn *active;
  struct conn *pool; /* closed connections, ops kept, linked by next */
  long nactive;
};

/* A connection record with its operation, from the pool if possible. */
static struct conn *conn_get(struct cq_server *sv) {
  int rc;
  struct conn *c = sv->pool;
  if (c != NULL) {
    sv->pool = c->next;
    return c;
  }
  c = calloc(1, sizeof *c);
  if (c == NULL) {
    fprintf(stderr, "echo-server: out of memory\n");
    return NULL;
  }
  rc = uvs_op_new(sv->cq, (uint64_t)(uintptr_t)c | TAG_CONN, &c->op);
  if (rc < 0) {
    report("uvs_op_new", rc);
    free(c);
    return NULL;
  }
  return c;
}

static void conn_link(struct cq_server *sv, struct conn *c) {
  c->prev = NULL;
  c->next = sv->active;
  if (sv->active != NULL)
    sv->active->prev = c;
  sv->active = c;
  sv->nactive++;
}

static void conn_unlink(struct cq_server *sv, struct conn *c) {
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    sv->active = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  sv->nactive--;
}

/* Closes the stream (gracefully: the echoed bytes still go out) and puts
 * the record back in the pool. Its op is not pending here. */
static void conn_release(struct cq_server *sv, struct conn *c) {
  int rc = uvs_stream_free(c->stream);
  if (rc < 0)
    report("uvs_stream_free", rc);
  c->stream = NULL;
  conn_unlink(sv, c);
  c->next = sv->pool;
  sv->pool = c;
}

static void conn_destroy(struct conn *c, int *first) {
  check_free(first, "uvs_op_free", uvs_op_free(c->op));
  if (c->stream != NULL)
    check_free(first, "uvs_stream_free", uvs_stream_free(c->stream));
  free(c);
}

/* A read completed: echo its bytes and start the drain. Returns the drain's
 * UVS_PENDING/UVS_COMPLETED, or a negative code (EOF included) to close. */
static int on_read_done(struct conn *c) {
  const void *data;
  size_t len;
  int rc = uvs_op_read_result(c->op, &data, &len); /* one call for both */
  if (rc < 0)
    return rc;
  if (len == 0)
    return UVS_EOF;                            /* the client is done sending */
  rc = uvs_stream_write(c->stream, data, len); /* copies: data is free */
  if (rc < 0)
    return rc;
  c->draining = 1;
  return uvs_stream_drain_start(c->stream, c->op);
}

/* A drain completed: start the next read. */
static int on_drain_done(struct conn *c) {
  int rc = uvs_op_result(c->op);
  if (rc < 0)
    return rc;
  c->draining = 0;
  return uvs_stream_read_start(c->stream, READ_SIZE, c->op);
}

/* Runs a connection from the completion of its op's call (a read or a
 * drain, c->draining says which) until a call is pending. Calls that
 * complete at once (data already buffered, write buffer below the
 * watermark) are handled here in the loop, since nothing is posted to the
 * queue for them. */
static void conn_run(struct cq_server *sv, struct conn *c) {
  int rc;
  do {
    rc = c->draining ? on_drain_done(c) : on_read_done(c);
  } while (rc == UVS_COMPLETED);
  if (rc < 0)
    conn_release(sv, c); /* EOF, reset, closed by shutdown... */
}

static void conn_open(struct cq_server *sv, uvs_stream *s) {
  int rc;
  struct conn *c = conn_get(sv);
  if (c == NULL) {
    rc = uvs_stream_free(s);
    if (rc < 0)
      report("uvs_stream_free", rc);
    return;
  }
  c->stream = s;
  c->draining = 0;
  conn_link(sv, c);
  rc = uvs_stream_read_start(s, READ_SIZE, c->op);
  if (rc == UVS_COMPLETED)
    conn_run(sv, c);
  else if (rc < 0)
    conn_release(sv, c);
}

/* The accept op completed. Returns 0 to accept again, negative to stop
 * (the server is closed). Other failures (EMFILE...) are only reported. */
static int on_accept_done(struct cq_server *sv) {
  uvs_stream *s;
  int rc = uvs_op_result(sv->accept_op);
  if (rc == UVS_ECLOSED || rc == UVS_ESHUTDOWN || rc == UVS_ECANCELED)
    return rc;
  if (rc < 0) {
    report("accept", rc);
    return 0;
  }
  rc = uvs_op_take_stream(sv->accept_op, &s);
  if (rc < 0) {
    report("uvs_op_take_stream", rc);
    return 0;
  }
  conn_open(sv, s);
  return 0;
}

static void accept_loop(struct cq_server *sv) {
  for (;;) {
    int rc = uvs_server_accept_start(sv->server, sv->accept_op);
    if (rc == UVS_PENDING)
      return;
    if (rc < 0) {
      if (rc != UVS_ECLOSED)
        report("uvs_server_accept_start", rc);
      return;
    }
    if (on_accept_done(sv) < 0)
      return;
  }
}

static void dispatch(struct cq_server *sv, uvs_op *op) {
  uint64_t tag = uvs_op_tag(op);
  struct conn *c = (struct conn *)(uintptr_t)(tag & ~TAG_MASK);
  int kind = (int)(tag & TAG_MASK);
  if (c != NULL)
    conn_run(sv, c);
  else if (kind == TAG_ACCEPT && on_accept_done(sv) == 0)
    accept_loop(sv);
  else if (kind == TAG_CLOSED)
    sv->closed_done = 1;
  /* TAG_SIGNAL only ends the wait: the handler has set stop_requested */
}

/* One turn of the event loop: let the engine wait (at most timeout_ms, -1
 * for no limit) for I/O, its timers or a signal, then handle what completed. */
static int wait_once(struct cq_server *sv, int64_t timeout_ms) {
  uvs_op *ops[BATCH];
  int i, n = uvs_cq_wait(sv->cq, timeout_ms, ops, BATCH);
  if (n < 0) {
    report("uvs_cq_wait", n);
    return n;
  }
  for (i = 0; i < n; i++)
    dispatch(sv, ops[i]);
  return 0;
}

/* The engine reads the self-pipe, so that a signal ends uvs_cq_wait. */
static int watch_signals(struct cq_server *sv) {
  int rc = uvs_connect_read_pipe(sv->engine, sig_pipe[0], NULL, &sv->signals);
  sig_pipe[0] = -1; /* the stream owns it now, also on failure */
  if (rc < 0) {
    report("uvs_connect_read_pipe", rc);
    return rc;
  }
  rc = uvs_op_new(sv->cq, TAG_SIGNAL, &sv->signal_op);
  if (rc < 0) {
    report("uvs_op_new", rc);
    return rc;
  }
  rc = uvs_stream_read_start(sv->signals, 1, sv->signal_op);
  if (rc < 0) {
    report("uvs_stream_read_start", rc);
    return rc;
  }
  return 0;
}

static int cq_setup(struct cq_server *sv, const struct config *cfg) {
  int rc = new_engine(0, &sv->engine);
  if (rc < 0)
    return rc;
  rc = uvs_cq_new(sv->engine, &sv->cq);
  if (rc < 0) {
    report("uvs_cq_new", rc);
    return rc;
  }
  if ((rc = watch_signals(sv)) < 0)
    return rc;
  rc = uvs_op_new(sv->cq, TAG_ACCEPT, &sv->accept_op);
  if (rc < 0) {
    report("uvs_op_new", rc);
    return rc;
  }
  return listen_on(sv->engine, cfg, &sv->server);
}

/* Stops listening, closes the clients (their pending reads see EOF) and
 * keeps the loop turning until every connection is released and the server
 * reports itself closed, or the shutdown timeout passes. */
static int cq_shutdown(struct cq_server *sv) {
  int rc;
  int64_t deadline = now_ms() + SHUTDOWN_TIMEOUT_MS;
  if ((rc = uvs_server_close(sv->server)) < 0 ||
      (rc = uvs_server_close_clients(sv->server)) < 0 ||
      (rc = uvs_op_new(sv->cq, TAG_CLOSED, &sv->closed_op)) < 0 ||
      (rc = uvs_op_set_timeout(sv->closed_op, SHUTDOWN_TIMEOUT_MS)) < 0 ||
      (rc = uvs_server_wait_closed_start(sv->server, sv->closed_op)) < 0) {
    report("closing the server", rc);
    return rc;
  }
  sv->closed_done = rc == UVS_COMPLETED;
  while (!sv->closed_done || sv->nactive > 0) {
    if (now_ms() >= deadline) {
      fprintf(stderr, "echo-server: %ld connection(s) did not close\n",
              sv->nactive);
      return -1;
    }
    if ((rc = wait_once(sv, 100)) < 0)
      return rc;
  }
  rc = uvs_op_result(sv->closed_op);
  if (rc < 0)
    report("uvs_server_wait_closed", rc);
  return rc;
}

/* Frees in reverse order of creation; ops first, which cancels any that is
 * still pending. Returns 0 or the first failure. */
static int cq_teardown(struct cq_server *sv) {
  int first = 0;
  struct conn *c;
  while ((c = sv->active) != NULL) {
    conn_unlink(sv, c);
    conn_destroy(c, &first);
  }
  while ((c = sv->pool) != NULL) {
    sv->pool = c->next;
    conn_destroy(c, &first);
  }
  if (sv->signal_op != NULL)
    check_free(&first, "uvs_op_free", uvs_op_free(sv->signal_op));
  if (sv->signals != NULL)
    check_free(&first, "uvs_stream_free", uvs_stream_free(sv->signals));
  if (sv->closed_op != NULL)
    check_free(&first, "uvs_op_free", uvs_op_free(sv->closed_op));
  if (sv->accept_op != NULL)
    check_free(&first, "uvs_op_free", uvs_op_free(sv->accept_op));
  if (sv->server != NULL)
    check_free(&first, "uvs_server_free", uvs_server_free(sv->server));
  if (sv->cq != NULL)
    check_free(&first, "uvs_cq_free", uvs_cq_free(sv->cq));
  if (sv->engine != NULL)
    check_free(&first, "uvs_engine_free", uvs_engine_free(sv->engine));
  return first;
}

static int run_cq(const struct config *cfg) {
  struct cq_server sv;
  int rc;
  memset(&sv, 0, sizeof sv);
  rc = open_signal_pipe();
  if (rc == 0)
    rc = cq_setup(&sv, cfg);
  if (rc == 0)
    rc = print_serving(sv.server, cfg);
  if (rc == 0)
    accept_loop(&sv);
  while (rc == 0 && !stop_requested)
    rc = wait_once(&sv, -1);
  if (rc == 0)
    rc = cq_shutdown(&sv);
  if (cq_teardown(&sv) < 0 && rc == 0)
    rc = -1;
  close_signal_pipe();
  return rc;
}

/* ---- --mode threads: blocking calls, one thread per connection ------------
 */

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  long n;
} workers = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};

static void workers_add(long d) {
  pthread_mutex_lock(&workers.mu);
  workers.n += d;
  if (workers.n == 0)
    pthread_cond_broadcast(&workers.cv);
  pthread_mutex_unlock(&workers.mu);
}

/* Waits until every connection thread has finished, up to timeout_ms. */
static long workers_wait(int64_t timeout_ms) {
  struct timespec ts;
  long left;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += timeout_ms / 1000;
  ts.tv_nsec += (timeout_ms % 1000) * 1000000;
  if (ts.tv_nsec >= 1000000000) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000;
  }
  pthread_mutex_lock(&workers.mu);
  while (workers.n > 0 &&
         pthread_cond_timedwait(&workers.cv, &workers.mu, &ts) == 0)
    ;
  left = workers.n;
  pthread_mutex_unlock(&workers.mu);
  return left;
}

/* Echoes until EOF, an error, or the shutdown closing the stream. */
static void echo_blocking(uvs_stream *s) {
  void *data;
  size_t len;
  int rc;
  for (;;) {
    rc = uvs_stream_read(s, READ_SIZE, -1, &data, &len);
    if (rc < 0 || len == 0) {
      uvs_free(rc < 0 ? NULL : data);
      return;
    }
    rc = uvs_stream_write(s, data, len);
    uvs_free(data);
    if (rc < 0 || uvs_stream_drain(s, -1) < 0)
      return;
  }
}

static void *conn_thread(void *arg) {
  uvs_stream *s = arg;
  int rc;
  echo_blocking(s);
  rc = uvs_stream_free(s);
  if (rc < 0)
    report("uvs_stream_free", rc);
  workers_add(-1);
  return NULL;
}

/* A detached thread with a small stack, and SIGINT/SIGTERM blocked in it so
 * that the signals go to the main thread or the engine's. */
static int spawn_conn_thread(uvs_stream *s) {
  pthread_attr_t attr;
  pthread_t tid;
  sigset_t block, old;
  int err;
  if (sigemptyset(&block) < 0 || sigaddset(&block, SIGINT) < 0 ||
      sigaddset(&block, SIGTERM) < 0)
    return -1;
  if ((err = pthread_attr_init(&attr)) != 0)
    return -err;
  err = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  if (err == 0)
    err = pthread_attr_setstacksize(&attr, THREAD_STACK);
  if (err == 0)
    err = pthread_sigmask(SIG_BLOCK, &block, &old);
  if (err == 0) {
    workers_add(1);
    err = pthread_create(&tid, &attr, conn_thread, s);
    if (err != 0)
      workers_add(-1);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
  }
  pthread_attr_destroy(&attr);
  if (err != 0)
    fprintf(stderr, "echo-server: pthread_create: %s\n", strerror(err));
  return -err;
}

static void accept_blocking(uvs_server *srv) {
  uvs_stream *s;
  int rc;
  while (!stop_requested) {
    rc = uvs_server_accept(srv, ACCEPT_TIMEOUT_MS, &s);
    if (rc == UVS_ETIMEDOUT)
      continue;
    if (rc < 0) {
      report("uvs_server_accept", rc);
      continue;
    }
    if (spawn_conn_thread(s) < 0 && (rc = uvs_stream_free(s)) < 0)
      report("uvs_stream_free", rc);
  }
}

static int threads_shutdown(uvs_server *srv) {
  long left;
  int rc = uvs_server_close(srv);
  if (rc == 0)
    rc = uvs_server_close_clients(srv);
  if (rc < 0) {
    report("closing the server", rc);
    return rc;
  }
  left = workers_wait(SHUTDOWN_TIMEOUT_MS);
  if (left > 0) {
    fprintf(stderr, "echo-server: %ld connection(s) did not close\n", left);
    return -1;
  }
  return 0;
}

static int run_threads(const struct config *cfg) {
  uvs_engine *e = NULL;
  uvs_server *srv = NULL;
  int first = 0, rc = new_engine(cfg->io_threads, &e);
  if (rc == 0)
    rc = listen_on(e, cfg, &srv);
  if (rc == 0)
    rc = print_serving(srv, cfg);
  if (rc == 0) {
    accept_blocking(srv);
    rc = threads_shutdown(srv);
  }
  if (srv != NULL)
    check_free(&first, "uvs_server_free", uvs_server_free(srv));
  if (e != NULL)
    check_free(&first, "uvs_engine_free", uvs_engine_free(e));
  return rc < 0 ? rc : first;
}

int main(int argc, char **argv) {
  struct config cfg = {"127.0.0.1", 8888, NULL, 0, 1, 0, NULL, NULL};
  int rc;
  if (parse_args(argc, argv, &cfg) < 0) {
    usage(stderr);
    return 2;
  }
  raise_fd_limit();
  if (install_signals() < 0)
    return 1;
  rc = cfg.threads ? run_threads(&cfg) : run_cq(&cfg);
  if (rc < 0)
    return 1;
  printf("closed\n");
  return fflush(stdout) == 0 ? 0 : 1;
}
