/*
 * bare_echo - the benchmark's floor: a TCP echo server on bare libuv, written
 * to be as cheap per request as a libuv server reasonably gets.
 *
 *   bare_echo [--host H] [--port P] [--bufsize BYTES]
 *
 * - One read buffer for the whole loop (--bufsize, default 128 KiB), handed
 *   out by every alloc callback: libuv reads one stream at a time and the
 *   bytes are written back (or copied) before read_cb returns, so one
 *   buffer serves every connection and an idle connection owns no buffer.
 *   Why 128 KiB: measured on the bench machine (Linux 6.x loopback, 100 KiB
 *   ping-pong, 10 connections), server CPU per request was 29 us with 64
 *   KiB reads, 26 us with 128 KiB, and 57 us with any read length above
 *   128 KiB (150 KiB .. 1 MiB: the kernel's copy to user space doubles in
 *   cost, see bench/README.md); 1 and 10 KiB messages do not care.
 * - Echo with uv_try_write() first (no request, no copy, no callback for the
 *   usual case where the socket takes everything); only the unsent tail is
 *   copied into a single allocation (uv_write_t + bytes) and queued with
 *   uv_write(), and reading stops until that write completes, which is the
 *   backpressure a client that does not read gets.
 * - A connection is one malloc'ed uv_tcp_t; TCP_NODELAY like asyncio.
 *
 * Prints "serving on HOST:PORT" (the real port with --port 0) and exits 0 on
 * SIGINT/SIGTERM after closing every handle.
 */
#include <uv.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define BACKLOG 4096

static uv_loop_t *loop;
static uv_tcp_t server;
static uv_signal_t sigint_h, sigterm_h;
static char *rbuf;
static size_t rbuf_size = 128 * 1024;

struct tail_write {
  uv_write_t req;
  char data[]; /* the unsent bytes */
};

static void die(const char *what, int err) {
  fprintf(stderr, "bare_echo: %s: %s\n", what, uv_strerror(err));
  exit(1);
}

static void on_close_free(uv_handle_t *h) {
  free(h);
}

static void conn_close(uv_stream_t *s) {
  if (!uv_is_closing((uv_handle_t *)s))
    uv_close((uv_handle_t *)s, on_close_free);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  *buf = uv_buf_init(rbuf, (unsigned)rbuf_size);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void on_tail_written(uv_write_t *req, int status) {
  uv_stream_t *s = req->handle;
  free(req);
  if (status < 0) {
    conn_close(s);
    return;
  }
  if (uv_read_start(s, on_alloc, on_read) < 0)
    conn_close(s);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  struct tail_write *w;
  uv_buf_t b;
  int n;
  if (nread <= 0) {
    if (nread < 0)
      conn_close(s); /* EOF or error */
    return;
  }
  b = uv_buf_init(buf->base, (unsigned)nread);
  n = uv_try_write(s, &b, 1);
  if (n == nread)
    return;
  if (n < 0 && n != UV_EAGAIN) {
    conn_close(s);
    return;
  }
  if (n < 0)
    n = 0;
  /* Copy only the tail the socket did not take. */
  w = malloc(sizeof *w + (size_t)(nread - n));
  if (w == NULL) {
    conn_close(s);
    return;
  }
  memcpy(w->data, buf->base + n, (size_t)(nread - n));
  b = uv_buf_init(w->data, (unsigned)(nread - n));
  if (uv_write(&w->req, s, &b, 1, on_tail_written) < 0) {
    free(w);
    conn_close(s);
    return;
  }
  uv_read_stop(s);
}

static void on_connection(uv_stream_t *srv, int status) {
  uv_tcp_t *c;
  if (status < 0) {
    fprintf(stderr, "bare_echo: accept: %s\n", uv_strerror(status));
    return;
  }
  c = malloc(sizeof *c);
  if (c == NULL)
    return;
  uv_tcp_init(loop, c);
  if (uv_accept(srv, (uv_stream_t *)c) < 0) {
    uv_close((uv_handle_t *)c, on_close_free);
    return;
  }
  uv_tcp_nodelay(c, 1);
  if (uv_read_start((uv_stream_t *)c, on_alloc, on_read) < 0)
    conn_close((uv_stream_t *)c);
}

static void close_walk(uv_handle_t *h, void *arg) {
  (void)arg;
  if (uv_is_closing(h))
    return;
  if (h == (uv_handle_t *)&server || h == (uv_handle_t *)&sigint_h ||
      h == (uv_handle_t *)&sigterm_h)
    uv_close(h, NULL);
  else
    uv_close(h, on_close_free);
}

static void on_signal(uv_signal_t *h, int sig) {
  (void)h;
  (void)sig;
  uv_walk(loop, close_walk, NULL);
}

static void raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1";
  int port = 8889, i, rc, len;
  struct sockaddr_storage ss;
  char name[64];
  for (i = 1; i < argc; i += 2) {
    if (i + 1 >= argc)
      goto usage;
    if (strcmp(argv[i], "--host") == 0)
      host = argv[i + 1];
    else if (strcmp(argv[i], "--port") == 0)
      port = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--bufsize") == 0)
      rbuf_size = (size_t)strtoul(argv[i + 1], NULL, 10);
    else
      goto usage;
  }
  if (rbuf_size < 1 || rbuf_size > (1u << 30) || port < 0 || port > 65535)
    goto usage;
  signal(SIGPIPE, SIG_IGN);
  raise_fd_limit();
  rbuf = malloc(rbuf_size);
  if (rbuf == NULL)
    die("malloc", UV_ENOMEM);
  loop = uv_default_loop();
  if (strchr(host, ':') != NULL)
    rc = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss);
  else
    rc = uv_ip4_addr(host, port, (struct sockaddr_in *)&ss);
  if (rc < 0)
    die("address", rc);
  uv_tcp_init(loop, &server);
  if ((rc = uv_tcp_bind(&server, (struct sockaddr *)&ss, 0)) < 0)
    die("bind", rc);
  if ((rc = uv_listen((uv_stream_t *)&server, BACKLOG, on_connection)) < 0)
    die("listen", rc);
  len = sizeof ss;
  if ((rc = uv_tcp_getsockname(&server, (struct sockaddr *)&ss, &len)) < 0)
    die("getsockname", rc);
  if (ss.ss_family == AF_INET6) {
    uv_ip6_name((struct sockaddr_in6 *)&ss, name, sizeof name);
    printf("serving on [%s]:%d\n", name,
           ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
  } else {
    uv_ip4_name((struct sockaddr_in *)&ss, name, sizeof name);
    printf("serving on %s:%d\n", name,
           ntohs(((struct sockaddr_in *)&ss)->sin_port));
  }
  fflush(stdout);
  uv_signal_init(loop, &sigint_h);
  uv_signal_init(loop, &sigterm_h);
  uv_signal_start(&sigint_h, on_signal, SIGINT);
  uv_signal_start(&sigterm_h, on_signal, SIGTERM);
  uv_run(loop, UV_RUN_DEFAULT);
  rc = uv_loop_close(loop);
  free(rbuf);
  if (rc < 0)
    die("uv_loop_close", rc);
  printf("closed\n");
  return 0;

usage:
  fprintf(stderr, "usage: bare_echo [--host H] [--port P] [--bufsize BYTES]\n");
  return 2;
}
