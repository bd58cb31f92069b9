/*
 * fresh_pages - what the kernel's first touch of a user page costs here.
 *
 *   fresh_pages [--size BYTES] [--iterations N]
 *
 * Why: an echo server at 100 KiB hands the kernel a new buffer per request
 * (each Python read result is a new `bytes`), and whether that buffer sits on
 * pages the kernel has touched before depends on the C heap (glibc gives
 * freed memory back and maps it again). On bare metal the first kernel
 * access to a page user space has already written costs nothing special. On
 * a guest whose hypervisor shadows page tables (the bench machine is a PVM
 * guest), each such page costs a trip to the hypervisor, invisible to the
 * guest's fault counters and billed to the kernel's copy. That
 * moves the 100 KiB cells by tens of microseconds per request in ways no
 * change to the code under test explains, so bench/run.py runs this once
 * and reports it beside the results.
 *
 * Method: over a Unix socketpair, for N rounds, map SIZE bytes of new
 * anonymous memory, write all of it from user space, then time (thread CPU
 * time) one write(2) from it (the kernel's first read of those pages) and a
 * second write(2) from the same pages (warm), then the same for read(2)
 * into new pages the user wrote first (the kernel's first write) and into a
 * warm buffer. Prints one JSON line with microseconds per call and per page.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct totals {
  double fresh_send, warm_send, fresh_recv, warm_recv;
};

static double thread_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what) {
  fprintf(stderr, "fresh_pages: %s: %s\n", what, strerror(errno));
  exit(1);
}

static char *new_pages(size_t size) {
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    die("mmap");
  return p;
}

/* One whole write or read of size bytes, timed. */
static double timed_io(int fd, char *buf, size_t size, int is_write) {
  double t0 = thread_seconds();
  ssize_t n = is_write ? write(fd, buf, size) : read(fd, buf, size);
  double t = thread_seconds() - t0;
  if (n != (ssize_t)size)
    die(is_write ? "write" : "read");
  return t;
}

static void one_round(const int sv[2], size_t size, const char *pattern,
                      char *sink, struct totals *t) {
  char *p = new_pages(size);
  memcpy(p, pattern, size); /* user space faults every page in first */
  t->fresh_send += timed_io(sv[0], p, size, 1);
  timed_io(sv[1], sink, size, 0);
  t->warm_send += timed_io(sv[0], p, size, 1);
  t->warm_recv += timed_io(sv[1], sink, size, 0);
  munmap(p, size);

  char *q = new_pages(size);
  memset(q, 0, size);
  timed_io(sv[0], (char *)pattern, size, 1);
  t->fresh_recv += timed_io(sv[1], q, size, 0);
  munmap(q, size);
}

int main(int argc, char **argv) {
  size_t size = 102400;
  int iterations = 500;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--size"))
      size = strtoul(argv[i + 1], NULL, 10);
    else if (!strcmp(argv[i], "--iterations"))
      iterations = atoi(argv[i + 1]);
  }
  if (size == 0 || iterations <= 0) {
    fprintf(stderr, "usage: fresh_pages [--size BYTES] [--iterations N]\n");
    return 2;
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
    die("socketpair");
  int room = (int)(4 * size);
  setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &room, sizeof room);
  setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &room, sizeof room);
  char *pattern = malloc(size), *sink = malloc(size);
  if (!pattern || !sink)
    die("malloc");
  memset(pattern, 'x', size);
  memset(sink, 0, size);

  struct totals t = {0, 0, 0, 0};
  for (int i = 0; i < iterations; ++i)
    one_round(sv, size, pattern, sink, &t);

  double us = 1e6 / iterations;
  double pages = (double)((size + 4095) / 4096);
  printf("{\"size\":%zu,\"iterations\":%d,\"fresh_send_us\":%.2f,"
         "\"warm_send_us\":%.2f,\"fresh_recv_us\":%.2f,\"warm_recv_us\":%.2f,"
         "\"first_touch_us_per_page\":%.3f}\n",
         size, iterations, t.fresh_send * us, t.warm_send * us,
         t.fresh_recv * us, t.warm_recv * us,
         ((t.fresh_send - t.warm_send) + (t.fresh_recv - t.warm_recv)) * us /
             (2 * pages));
  free(pattern);
  free(sink);
  return 0;
}
