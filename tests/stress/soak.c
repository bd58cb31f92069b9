/*
 * soak.c - everything mixed for SECONDS: concurrent echo connections,
 * slowloris flooding, every fault scenario with every engine flavour, in
 * turn, until the time is up.
 *
 * Between iterations: no descriptor may be left open, and the resident
 * memory may not keep growing: RSS after the last iteration may exceed the
 * RSS after the first one of each kind by at most 16 MiB (with one malloc
 * arena, see below, it stays flat within a few MiB when nothing leaks).
 * Reports bytes moved, operations completed, iterations and peak RSS.
 * (Sanitizer builds report the memory figures without enforcing them.)
 */
#include "stress.h"

#include <malloc.h>
#include <stdlib.h>

int st_soak(const st_args *a) {
  int seconds = (int)(a->seconds > 0 ? a->seconds : 60);
  /* One malloc arena: glibc otherwise gives each new thread (engines come
   * and go) an arena of its own up to 8 x cores, and RSS creeps for minutes
   * as they fill, which would hide or fake a leak. */
  mallopt(M_ARENA_MAX, 1);
  printf("== soak: %d s of connections, slowloris and faults, mixed\n",
         seconds);
  st_raise_nofile(8192);
  st_warm_up();
  int fds_before = st_count_fds();
  int64_t t0 = st_now_ms();
  int64_t end = t0 + (int64_t)seconds * 1000;
  int64_t rss_first = -1, rss_last = -1;
  long iterations = 0, conns = 0, rounds = 0, slow = 0;
  st_set_quiet(1);
  while (st_now_ms() < end && !st_failures()) {
    int kind = (int)(iterations % 4);
    char phase[64];
    snprintf(phase, sizeof phase, "soak iteration %ld", iterations);
    if (kind == 0 || kind == 2) {
      st_args c = {1,
                   300 + (iterations * 37) % 700,
                   4 + iterations % 13,
                   0,
                   0,
                   kind == 0 ? 1 : 2};
      st_conns(&c);
      conns += c.connections;
    } else if (kind == 1) {
      st_args s = {1, 40, 0, 1, 0, (int)(iterations % 3)};
      st_slowloris(&s);
      slow++;
    } else {
      st_watchdog_arm(120, phase);
      st_faults_round((int)rounds, 1);
      st_watchdog_disarm();
      rounds++;
    }
    st_expect_fds(fds_before, 5000, phase);
    int64_t rss = st_rss_kb();
    if (iterations == 3)
      rss_first = rss; /* after one of each kind */
    rss_last = rss;
    iterations++;
  }
  st_set_quiet(0);
  int64_t growth = rss_first >= 0 ? rss_last - rss_first : 0;
  ST_CHECK(ST_SANITIZED || growth <= 16 * 1024,
           "soak: RSS grew by %lld KiB between the first and the last "
           "iteration",
           (long long)growth);
  st_figure("soak.seconds", "%.1f", (st_now_ms() - t0) / 1000.0);
  st_figure("soak.iterations",
            "%ld (%ld echo runs with %ld connections, %ld "
            "slowloris runs, %ld fault rounds)",
            iterations, (iterations + 3) / 4 + (iterations + 1) / 4, conns,
            slow, rounds);
  st_figure("soak.bytes_moved", "%lld", (long long)st_bytes());
  st_figure("soak.operations_completed", "%lld", (long long)st_ops());
  st_figure("soak.rss_growth_kb", "%lld", (long long)growth);
  st_figure("soak.peak_rss_kb", "%lld", (long long)st_hwm_kb());
  return st_failures() ? 1 : 0;
}
