/*
 * direct.c - direct reads under load and under interference.
 *
 * N socketpairs; one end of each is a stream with "direct_reads" on an
 * engine with two I/O threads, read by its own thread with blocking calls of
 * every kind (read, readexactly, readline, readuntil) with random sizes and
 * timeouts, some of 0 or 1 ms (a timeout consumes nothing); the other end
 * is written by a plain thread with a deterministic stream of lines. Every
 * byte read is checked against that stream, in order. Meanwhile a chaos
 * thread pauses and resumes random even-numbered streams (which hands their
 * reading back to the loop, possibly while a thread is blocked in poll(2))
 * and closes a few streams under their reader. At the end the writers
 * half-close: each stream still open must have delivered exactly what was sent,
 * the closed ones a correct prefix; nothing hangs (watchdog), no descriptor
 * leaks.
 */
#include "stress.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct pairing {
  uvs_stream *s;
  int peer;
  int64_t seconds;
  uint64_t seed;
  atomic_int closed_early; /* by the chaos thread */
  int64_t sent, received;
  int64_t timeouts, reads;
};

/* Line k of the stream: 1..300 letters and '\n', a function of k. */
static size_t line_of(uint64_t k, char *buf) {
  uint64_t h = st_fnv1a(ST_FNV_INIT, &k, sizeof k);
  size_t n = 1 + (size_t)(h % 300);
  for (size_t i = 0; i < n; i++)
    buf[i] = (char)('a' + (h >> (i % 48)) % 26);
  buf[n] = '\n';
  return n + 1;
}

/* Where the reader is in the expected stream. */
struct cursor {
  uint64_t line;
  size_t off, len;
  char buf[302];
};

/* Compares got with the next bytes of the stream and advances. */
static int expect_bytes(struct cursor *c, const char *got, size_t n) {
  while (n > 0) {
    if (c->off == c->len) {
      c->len = line_of(c->line++, c->buf);
      c->off = 0;
    }
    size_t take = c->len - c->off < n ? c->len - c->off : n;
    if (memcmp(got, c->buf + c->off, take) != 0)
      return -1;
    c->off += take;
    got += take;
    n -= take;
  }
  return 0;
}

static void *writer_thread(void *arg) {
  struct pairing *p = arg;
  int64_t end = st_now_ms() + p->seconds * 1000;
  char buf[302];
  for (uint64_t k = 0; st_now_ms() < end && !atomic_load(&p->closed_early);
       k++) {
    size_t n = line_of(k, buf);
    if (st_send_all(p->peer, buf, n, 10000) < 0)
      break; /* closed under us: fine for a pair closed early */
    p->sent += (int64_t)n;
  }
  shutdown(p->peer, SHUT_WR);
  return NULL;
}

/* One blocking read of a random kind; its bytes (uvs_free), or NULL with
 * *rc set. */
static void *read_some(struct pairing *p, uint64_t *rng, size_t *len, int *rc) {
  uint64_t r = st_rand(rng);
  int64_t timeout = r % 16 == 0 ? 0 : r % 16 == 1 ? 1 : 10000;
  void *data = NULL;
  int64_t n = 1 + (int64_t)((r >> 8) % 4096);
  switch ((r >> 4) % 4) {
  case 0:
    *rc = uvs_stream_read(p->s, n, timeout, &data, len);
    break;
  case 1:
    *rc = uvs_stream_readexactly(p->s, n % 64 + 1, timeout, &data, len);
    break;
  case 2:
    *rc = uvs_stream_readline(p->s, timeout, &data, len);
    break;
  default:
    *rc = uvs_stream_readuntil(p->s, "\n", 1, timeout, &data, len, NULL);
    break;
  }
  return data;
}

static void *reader_thread(void *arg) {
  struct pairing *p = arg;
  struct cursor c = {0, 0, 0, {0}};
  uint64_t rng = p->seed;
  for (;;) {
    size_t len = 0;
    int rc;
    void *data = read_some(p, &rng, &len, &rc);
    p->reads++;
    if (rc == UVS_ETIMEDOUT) {
      p->timeouts++;
      continue;
    }
    int ok = rc == 0 || rc == UVS_EINCOMPLETE;
    if (ok && expect_bytes(&c, data, len) < 0)
      st_fail("direct: stream %p: bytes out of order at line %llu", p->s,
              (unsigned long long)c.line);
    uvs_free(data);
    if (ok)
      p->received += (int64_t)len;
    if (!ok && !atomic_load(&p->closed_early))
      st_fail("direct: a read failed: %s (%s)", uvs_err_name(rc),
              uvs_last_error());
    if (!ok || len == 0 || rc == UVS_EINCOMPLETE)
      return NULL; /* EOF, or the chaos thread's close */
  }
}

struct chaos {
  struct pairing *pairs;
  long n;
  atomic_int stop;
  int64_t pauses, closes;
};

static void *chaos_thread(void *arg) {
  struct chaos *ch = arg;
  uint64_t rng = 12345;
  while (!atomic_load(&ch->stop)) {
    uint64_t r = st_rand(&rng);
    long i = (long)(r % (uint64_t)ch->n);
    struct pairing *p = &ch->pairs[i];
    if (atomic_load(&p->closed_early)) {
      continue;
    } else if ((r >> 16) % 64 == 0 && ch->closes < ch->n / 8) {
      atomic_store(&p->closed_early, 1);
      uvs_stream_close(p->s);
      ch->closes++;
    } else if (i % 2 == 0) { /* odd streams stay direct throughout */
      uvs_stream_pause_reading(p->s);
      st_sleep_ms(1);
      uvs_stream_resume_reading(p->s);
      ch->pauses++;
    }
    st_sleep_ms(5);
  }
  return NULL;
}

static int open_pair(uvs_engine *e, struct pairing *p, int64_t seconds,
                     uint64_t seed) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
    st_fail("socketpair: %s", strerror(errno));
    return -1;
  }
  uvs_options *o = st_opts("direct_reads", 1, NULL, 0, NULL, 0);
  int rc = uvs_stream_open_fd(e, sv[0], o, &p->s);
  uvs_options_free(o);
  if (ST_RC(rc, 0, "uvs_stream_open_fd") < 0) {
    close(sv[1]);
    return -1;
  }
  p->peer = sv[1];
  p->seconds = seconds;
  p->seed = seed;
  return 0;
}

int st_direct(const st_args *a) {
  long n = a->connections ? a->connections : a->quick ? 32 : 200;
  int64_t seconds = a->seconds ? a->seconds : a->quick ? 4 : 15;
  st_warm_up();
  int fds_before = st_count_fds();
  st_watchdog_arm((int)seconds + 120, "direct");
  uvs_engine *e = st_engine(a->io_threads > 0 ? a->io_threads : 2);
  struct pairing *pairs = calloc((size_t)n, sizeof *pairs);
  pthread_t *threads = calloc((size_t)n * 2, sizeof *threads);
  long opened = 0;
  while (opened < n &&
         open_pair(e, &pairs[opened], seconds, 1000 + (uint64_t)opened) == 0)
    opened++;
  for (long i = 0; i < opened; i++) {
    pthread_create(&threads[2 * i], NULL, writer_thread, &pairs[i]);
    pthread_create(&threads[2 * i + 1], NULL, reader_thread, &pairs[i]);
  }
  struct chaos ch = {pairs, opened, 0, 0, 0};
  pthread_t chaos;
  pthread_create(&chaos, NULL, chaos_thread, &ch);
  for (long i = 0; i < opened; i++) {
    pthread_join(threads[2 * i], NULL);
    pthread_join(threads[2 * i + 1], NULL);
  }
  atomic_store(&ch.stop, 1);
  pthread_join(chaos, NULL);
  int64_t bytes = 0, reads = 0, timeouts = 0, direct_left = 0;
  for (long i = 0; i < opened; i++) {
    struct pairing *p = &pairs[i];
    if (!atomic_load(&p->closed_early) && p->received != p->sent)
      st_fail("direct: stream %ld received %lld of %lld bytes", i,
              (long long)p->received, (long long)p->sent);
    bytes += p->received;
    reads += p->reads;
    timeouts += p->timeouts;
    direct_left += st_get_int(p->s, "direct_reads") == 1;
    close(p->peer);
    ST_RC(uvs_stream_free(p->s), 0, "uvs_stream_free");
  }
  ST_RC(uvs_engine_free(e), 0, "uvs_engine_free");
  st_watchdog_disarm();
  st_expect_fds(fds_before, 5000, "after the direct-read run");
  st_add_bytes(bytes);
  st_add_ops(reads);
  st_figure("direct streams", "%ld for %lld s", opened, (long long)seconds);
  st_figure("direct bytes read and checked", "%lld", (long long)bytes);
  st_figure("direct blocking reads", "%lld (%lld timed out)", (long long)reads,
            (long long)timeouts);
  st_figure("direct pauses / early closes", "%lld / %lld", (long long)ch.pauses,
            (long long)ch.closes);
  st_figure("direct streams still reading directly", "%lld",
            (long long)direct_left);
  free(pairs);
  free(threads);
  return st_failures() ? 1 : 0;
}
