/*
 * stress.h - shared pieces of the stress, fault and soak programs
 * (the .c files of tests/stress, linked into one binary,
 * $(BUILD)/stress/uvs_stress).
 *
 *   uvs_stress conns [--connections N] [--messages M]
 *   uvs_stress slowloris [--connections N] [--seconds S]
 *   uvs_stress faults [--rounds R]
 *   uvs_stress soak [--seconds S]
 *   uvs_stress direct [--connections N] [--seconds S] [--io-threads T]
 *
 * Everything uses the public API (uvstreams.h) and plain POSIX sockets for
 * the peers. Every program prints its figures as "figure: name = value"
 * lines, prints "FAIL: ..." for each failure, and exits non-zero if any
 * failure was recorded. A watchdog aborts a phase that exceeds its time
 * budget (a hang is a failure, never a stuck CI job).
 */
#ifndef UVS_STRESS_H
#define UVS_STRESS_H

#include <uvstreams.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

/* Built with a sanitizer: resident memory says nothing about the library
 * (shadow memory, quarantines), so RSS bounds are reported, not enforced. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define ST_SANITIZED 1
#endif
#endif
#ifndef ST_SANITIZED
#define ST_SANITIZED 0
#endif

/* ---- results ----------------------------------------------------------- */

/* Records a failure (thread-safe) and prints it. */
void st_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int st_failures(void);
/* Prints "figure: <name> = <value>". */
void st_figure(const char *name, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#define ST_CHECK(cond, ...)                                                    \
  do {                                                                         \
    if (!(cond))                                                               \
      st_fail(__VA_ARGS__);                                                    \
  } while (0)
/* Fails unless rc == want (prints both names and uvs_last_error()). */
#define ST_RC(rc, want, what)                                                  \
  st_check_rc_((int)(rc), (int)(want), (what), __FILE__, __LINE__)
int st_check_rc_(int rc, int want, const char *what, const char *file,
                 int line);

/* Totals for the soak summary (atomic). */
void st_add_bytes(int64_t n);
void st_add_ops(int64_t n);
int64_t st_bytes(void);
int64_t st_ops(void);

/* ---- time, memory, descriptors --------------------------------------------
 */

int64_t st_now_ms(void);
void st_sleep_ms(int64_t ms);
/* VmRSS and VmHWM of this process, in KiB (-1 if unknown). */
int64_t st_rss_kb(void);
int64_t st_hwm_kb(void);
/* Number of open descriptors (/proc/self/fd). */
int st_count_fds(void);
/* Waits up to settle_ms for the count to come back to `before`; prints the
 * descriptors left and records a failure otherwise. */
void st_expect_fds(int before, int64_t settle_ms, const char *when);
/* Raises RLIMIT_NOFILE to at least need (the hard limit too, when
 * privileged); returns the soft limit now in force. */
long st_raise_nofile(long need);
/* Creates and frees one engine, so libuv's process-wide descriptors exist
 * before a descriptor snapshot. */
void st_warm_up(void);

/* ---- watchdog ------------------------------------------------------------ */

/* Aborts the process with a message if not disarmed within seconds. */
void st_watchdog_arm(int seconds, const char *phase);
void st_watchdog_disarm(void);

/* ---- bytes -----------------------------------------------------------------
 */

uint64_t st_fnv1a(uint64_t h, const void *p, size_t n);
#define ST_FNV_INIT 0xcbf29ce484222325ULL
uint64_t st_rand(uint64_t *state);
/* n random printable bytes ending with '\n' (a "line"). */
void st_fill_line(uint64_t *state, char *buf, size_t n);

/* ---- POSIX peers ------------------------------------------------------------
 */

/* Non-blocking TCP socket connecting to 127.0.0.1:port; -errno on error. */
int st_connect_nb(int port);
/* Blocking connect; -errno on failure. */
int st_connect_blocking(int port);
void st_set_nonblock(int fd, int on);
/* Closes with SO_LINGER {1, 0}: the peer sees an RST. */
void st_close_rst(int fd);
/* Sets SO_RCVBUF / SO_SNDBUF (0: unchanged). */
void st_set_bufs(int fd, int rcvbuf, int sndbuf);
/* Blocking helpers with a poll() bound; 0 or -1. */
int st_send_all(int fd, const void *p, size_t n, int timeout_ms);
int st_recv_exact(int fd, void *p, size_t n, int timeout_ms);

/* ---- uvstreams helpers
 * ------------------------------------------------------- */

uvs_engine *st_engine(int io_threads);
uvs_options *st_opts(const char *k1, int64_t v1, const char *k2, int64_t v2,
                     const char *k3, int64_t v3);
int64_t st_get_int(uvs_stream *s, const char *key);
/* TCP server on 127.0.0.1 port 0; *port receives its port. */
uvs_server *st_listen(uvs_engine *e, const uvs_options *o, int *port);

/* ---- the programs ----------------------------------------------------------
 */

typedef struct st_args {
  int quick;        /* --quick: the sizes suited to make test */
  long connections; /* --connections */
  long messages;    /* --messages */
  long seconds;     /* --seconds */
  long rounds;      /* --rounds */
  int io_threads;   /* --io-threads */
} st_args;

int st_conns(const st_args *a);
/* One round of every fault scenario (faults.c), for the soak. */
void st_faults_round(int r, int quick);
/* st_figure prints nothing while quiet (the soak's inner runs). */
void st_set_quiet(int quiet);
int st_slowloris(const st_args *a);
int st_faults(const st_args *a);
int st_soak(const st_args *a);
/* Blocking reads with "direct_reads" under load and interference
 * (direct.c). */
int st_direct(const st_args *a);

#endif /* UVS_STRESS_H */
