/*
 * echo.c - an echo server on one completion queue, used by the connection,
 * soak and fault programs.
 *
 * One thread runs the queue. Each accepted connection has two operations:
 * one reads (read(64 KiB)) and later waits for the close, the other drains.
 * The cycle is asyncio's echo: read, write what came, drain, read again; EOF
 * closes the stream. Every completion is checked to arrive exactly once for
 * an operation that was pending (a second delivery, or one for an op that
 * was not started, is a failure).
 */
#include "echo.h"

#include <stdlib.h>
#include <string.h>

enum { K_READ = 0, K_DRAIN = 1, K_CLOSED = 2 };
#define ACCEPT_TAG UINT64_MAX

typedef struct econn {
  uvs_stream *s;
  uvs_op *rop, *dop;
  int r_pending, d_pending; /* started, completion not seen yet */
  int closing, done;
  int64_t bytes;
} econn;

struct st_echo {
  uvs_engine *e;
  uvs_server *srv;
  uvs_cq *cq;
  uvs_op *aop;
  int port;
  int tolerate_errors; /* faults: peers may reset */
  pthread_t thread;
  pthread_mutex_t mu;
  int stop;
  econn *c;
  size_t n, cap;
  size_t live;
  int64_t accepted, finished, errors, bytes, completions;
  int accept_pending, server_closed;
};

static uint64_t tag_of(size_t idx, int kind) {
  return ((uint64_t)idx << 2) | (uint64_t)kind;
}

static void conn_close(st_echo *x, econn *c) {
  if (c->closing)
    return;
  c->closing = 1;
  ST_RC(uvs_stream_close(c->s), 0, "echo: close");
  int rc = uvs_stream_wait_closed_start(c->s, c->rop);
  if (rc == UVS_COMPLETED) {
    c->done = 1;
  } else if (rc == UVS_PENDING) {
    c->r_pending = 1;
  } else {
    st_fail("echo: wait_closed_start: %s", uvs_err_name(rc));
    c->done = 1;
  }
  (void)x;
}

static void conn_finish(st_echo *x, econn *c) {
  if (c->r_pending || c->d_pending)
    return;
  ST_RC(uvs_stream_free(c->s), 0, "echo: stream_free");
  ST_RC(uvs_op_free(c->rop), 0, "echo: op_free");
  ST_RC(uvs_op_free(c->dop), 0, "echo: op_free");
  c->s = NULL;
  pthread_mutex_lock(&x->mu);
  x->live--;
  x->finished++;
  pthread_mutex_unlock(&x->mu);
}

/* Runs the read / write / drain cycle of c while its steps complete inline. */
static void pump(st_echo *x, econn *c, int kind) {
  for (;;) {
    if (kind == K_READ) {
      int rc = uvs_op_result(c->rop);
      const void *d = NULL;
      size_t len = 0;
      if (rc == 0)
        uvs_op_data(c->rop, &d, &len);
      if (rc == 0 && len > 0) {
        int w = uvs_stream_write(c->s, d, len);
        if (w != 0) {
          if (!x->tolerate_errors)
            st_fail("echo: write: %s", uvs_err_name(w));
          x->errors++;
          conn_close(x, c);
          return;
        }
        c->bytes += (int64_t)len;
        pthread_mutex_lock(&x->mu);
        x->bytes += (int64_t)len;
        pthread_mutex_unlock(&x->mu);
        st_add_bytes(2 * (int64_t)len);
        int dr = uvs_stream_drain_start(c->s, c->dop);
        if (dr == UVS_PENDING) {
          c->d_pending = 1;
          return;
        }
        if (dr != UVS_COMPLETED) {
          st_fail("echo: drain_start: %s", uvs_err_name(dr));
          conn_close(x, c);
          return;
        }
        kind = K_DRAIN;
        continue;
      }
      if (rc != 0) {
        if (!x->tolerate_errors)
          st_fail("echo: read failed: %s", uvs_err_name(rc));
        x->errors++;
      }
      conn_close(x, c); /* EOF or error */
      return;
    }
    if (kind == K_DRAIN) {
      int rc = uvs_op_result(c->dop);
      if (rc != 0) {
        if (!x->tolerate_errors)
          st_fail("echo: drain: %s", uvs_err_name(rc));
        x->errors++;
        conn_close(x, c);
        return;
      }
      int rr = uvs_stream_read_start(c->s, 65536, c->rop);
      if (rr == UVS_PENDING) {
        c->r_pending = 1;
        return;
      }
      if (rr != UVS_COMPLETED) {
        st_fail("echo: read_start: %s", uvs_err_name(rr));
        conn_close(x, c);
        return;
      }
      kind = K_READ;
      continue;
    }
    return;
  }
}

static void start_conn(st_echo *x, uvs_stream *s) {
  if (x->n == x->cap) {
    x->cap = x->cap ? x->cap * 2 : 1024;
    x->c = realloc(x->c, x->cap * sizeof *x->c);
  }
  size_t idx = x->n++;
  econn *c = &x->c[idx];
  memset(c, 0, sizeof *c);
  c->s = s;
  ST_RC(uvs_op_new(x->cq, tag_of(idx, K_READ), &c->rop), 0, "echo: op_new");
  ST_RC(uvs_op_new(x->cq, tag_of(idx, K_DRAIN), &c->dop), 0, "echo: op_new");
  pthread_mutex_lock(&x->mu);
  x->live++;
  x->accepted++;
  pthread_mutex_unlock(&x->mu);
  int rr = uvs_stream_read_start(s, 65536, c->rop);
  if (rr == UVS_PENDING) {
    c->r_pending = 1;
  } else if (rr == UVS_COMPLETED) {
    pump(x, c, K_READ);
  } else {
    st_fail("echo: first read_start: %s", uvs_err_name(rr));
    conn_close(x, c);
  }
  if (c->done)
    conn_finish(x, c);
}

static void accept_more(st_echo *x) {
  for (;;) {
    int rc = uvs_server_accept_start(x->srv, x->aop);
    if (rc == UVS_PENDING) {
      x->accept_pending = 1;
      return;
    }
    if (rc != UVS_COMPLETED) {
      st_fail("echo: accept_start: %s", uvs_err_name(rc));
      return;
    }
    int res = uvs_op_result(x->aop);
    if (res != 0) {
      if (res != UVS_ECLOSED)
        st_fail("echo: accept: %s", uvs_err_name(res));
      return;
    }
    uvs_stream *s = NULL;
    if (!ST_RC(uvs_op_take_stream(x->aop, &s), 0, "echo: take_stream"))
      return; /* (an accept that "succeeded" without a stream) */
    start_conn(x, s);
  }
}

static void on_completion(st_echo *x, uvs_op *op) {
  uint64_t tag = uvs_op_tag(op);
  x->completions++;
  st_add_ops(1);
  if (tag == ACCEPT_TAG) {
    ST_CHECK(x->accept_pending, "echo: accept delivered while not pending");
    x->accept_pending = 0;
    int res = uvs_op_result(op);
    if (res == 0) {
      uvs_stream *s = NULL;
      if (ST_RC(uvs_op_take_stream(op, &s), 0, "echo: take_stream"))
        start_conn(x, s);
      if (!x->server_closed)
        accept_more(x);
    } else if (res != UVS_ECLOSED) {
      st_fail("echo: accept completed with %s", uvs_err_name(res));
    }
    return;
  }
  size_t idx = (size_t)(tag >> 2);
  int kind = (int)(tag & 3);
  if (idx >= x->n || !x->c[idx].s) {
    st_fail("echo: completion for an unknown or finished connection (tag %llu)",
            (unsigned long long)tag);
    return;
  }
  econn *c = &x->c[idx];
  if (kind == K_READ) {
    ST_CHECK(c->r_pending, "echo: read op delivered while not pending");
    c->r_pending = 0;
    if (c->closing) {
      /* the wait_closed (same op) */
      ST_CHECK(uvs_op_kind(op) == UVS_OP_WAIT_CLOSED ||
                   uvs_op_kind(op) == UVS_OP_READ,
               "echo: unexpected op kind %d", uvs_op_kind(op));
      if (uvs_op_kind(op) == UVS_OP_WAIT_CLOSED)
        c->done = 1;
    } else {
      pump(x, c, K_READ);
    }
  } else if (kind == K_DRAIN) {
    ST_CHECK(c->d_pending, "echo: drain op delivered while not pending");
    c->d_pending = 0;
    if (!c->closing)
      pump(x, c, K_DRAIN);
  }
  if (c->closing && !c->done && !c->r_pending) {
    /* the read completed after the close was requested: start waiting now */
    int rc = uvs_stream_wait_closed_start(c->s, c->rop);
    if (rc == UVS_PENDING)
      c->r_pending = 1;
    else
      c->done = 1;
  }
  if (c->done)
    conn_finish(x, c);
}

static void *echo_main(void *arg) {
  st_echo *x = arg;
  uvs_op *ops[64];
  accept_more(x);
  for (;;) {
    pthread_mutex_lock(&x->mu);
    int stop = x->stop;
    size_t live = x->live;
    pthread_mutex_unlock(&x->mu);
    if (stop && !x->server_closed) {
      ST_RC(uvs_server_close(x->srv), 0, "echo: server_close");
      x->server_closed = 1;
    }
    if (stop && live == 0 && !x->accept_pending)
      break;
    int n = uvs_cq_wait(x->cq, 50, ops, 64);
    if (n < 0) {
      st_fail("echo: cq_wait: %s", uvs_err_name(n));
      break;
    }
    for (int i = 0; i < n; i++)
      on_completion(x, ops[i]);
  }
  return NULL;
}

st_echo *st_echo_start(uvs_engine *e, const uvs_options *o, int tolerate) {
  st_echo *x = calloc(1, sizeof *x);
  x->e = e;
  x->tolerate_errors = tolerate;
  pthread_mutex_init(&x->mu, NULL);
  x->srv = st_listen(e, o, &x->port);
  ST_RC(uvs_cq_new(e, &x->cq), 0, "echo: cq_new");
  ST_RC(uvs_op_new(x->cq, ACCEPT_TAG, &x->aop), 0, "echo: op_new");
  pthread_create(&x->thread, NULL, echo_main, x);
  return x;
}

int st_echo_port(st_echo *x) {
  return x->port;
}

void st_echo_counts(st_echo *x, int64_t *accepted, int64_t *live,
                    int64_t *finished, int64_t *bytes) {
  pthread_mutex_lock(&x->mu);
  if (accepted)
    *accepted = x->accepted;
  if (live)
    *live = (int64_t)x->live;
  if (finished)
    *finished = x->finished;
  if (bytes)
    *bytes = x->bytes;
  pthread_mutex_unlock(&x->mu);
}

uvs_server *st_echo_server(st_echo *x) {
  return x->srv;
}

int64_t st_echo_stop(st_echo *x, int64_t *errors) {
  pthread_mutex_lock(&x->mu);
  x->stop = 1;
  pthread_mutex_unlock(&x->mu);
  pthread_join(x->thread, NULL);
  ST_RC(uvs_server_wait_closed(x->srv, 10000), 0, "echo: server wait_closed");
  ST_RC(uvs_server_num_clients(x->srv), 0, "echo: clients left");
  ST_RC(uvs_server_free(x->srv), 0, "echo: server_free");
  ST_RC(uvs_op_free(x->aop), 0, "echo: op_free");
  uvs_op *left[4];
  ST_RC(uvs_cq_poll(x->cq, left, 4), 0, "echo: completions left in the queue");
  ST_RC(uvs_cq_free(x->cq), 0, "echo: cq_free");
  int64_t completions = x->completions;
  if (errors)
    *errors = x->errors;
  free(x->c);
  pthread_mutex_destroy(&x->mu);
  free(x);
  return completions;
}
