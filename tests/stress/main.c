/*
 * main.c - command line of uvs_stress (see stress.h).
 */
#include "stress.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static void usage(void) {
  fprintf(stderr,
          "usage: uvs_stress conns|slowloris|faults|soak|direct [--quick]\n"
          "         [--connections N] [--messages M] [--seconds S]\n"
          "         [--rounds R] [--io-threads T]\n");
  exit(2);
}

int main(int argc, char **argv) {
  if (argc < 2)
    usage();
  st_args a = {0, 0, 0, 0, 0, -1};
  for (int i = 2; i < argc; i++) {
    const char *o = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(o, "--quick") == 0) {
      a.quick = 1;
      continue;
    }
    if (!v)
      usage();
    if (strcmp(o, "--connections") == 0)
      a.connections = atol(v);
    else if (strcmp(o, "--messages") == 0)
      a.messages = atol(v);
    else if (strcmp(o, "--seconds") == 0)
      a.seconds = atol(v);
    else if (strcmp(o, "--rounds") == 0)
      a.rounds = atol(v);
    else if (strcmp(o, "--io-threads") == 0)
      a.io_threads = atoi(v);
    else
      usage();
    i++;
  }
  /* Peers reset and pipes close: a write must never kill the process. The
   * library sends with MSG_NOSIGNAL; the raw peers here do the same. */
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, NULL, _IOLBF, 0);
  int rc;
  if (strcmp(argv[1], "conns") == 0)
    rc = st_conns(&a);
  else if (strcmp(argv[1], "slowloris") == 0)
    rc = st_slowloris(&a);
  else if (strcmp(argv[1], "faults") == 0)
    rc = st_faults(&a);
  else if (strcmp(argv[1], "soak") == 0)
    rc = st_soak(&a);
  else if (strcmp(argv[1], "direct") == 0)
    rc = st_direct(&a);
  else
    usage();
  if (st_failures())
    rc = 1;
  printf("%s: %s (%d failures)\n", rc ? "FAIL" : "PASS", argv[1],
         st_failures());
  return rc;
}
