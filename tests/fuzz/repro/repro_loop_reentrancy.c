/*
 * repro_loop_reentrancy.c - Loop::run_tasks re-entered from Loop::stop.
 *
 * cpp/loop.cpp: on a threaded engine, Loop::stop queues `finish` as a task;
 * run_tasks() swaps the queue into the member vector running_ and runs it;
 * finish itself calls run_tasks() again (loop.cpp, "run_tasks();" inside the
 * finish lambda). If another thread queued a task in between, the nested
 * call swaps running_ (the vector the outer call is iterating) with the
 * queue, runs the new tasks, and the next swap hands the outer batch back
 * to be run again: finish runs twice and uv_close() is called on the loop's
 * async handle a second time, which aborts in libuv ("uv_close: Assertion
 * `!uv__is_closing(handle)' failed"); the other tasks of the batch run twice.
 *
 * Here: threads keep calling uvs_server_start_serving (a task on the loop,
 * waited for) while the main thread frees the engine. Each attempt runs in
 * a child process; the defect shows as a child killed by SIGABRT.
 * Exit status 1 when the defect showed, 0 when it did not in 200 attempts.
 */
#include <uvstreams.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static uvs_server *srv;
static volatile int go;

static void *spam(void *arg) {
  (void)arg;
  while (!go) {
  }
  while (uvs_server_start_serving(srv) == 0) {
  }
  return NULL;
}

static int attempt(void) {
  uvs_engine *e = NULL;
  if (uvs_engine_new(NULL, &e) != 0)
    return 2;
  if (uvs_server_listen_tcp(e, "127.0.0.1", 0, NULL, &srv) != 0)
    return 2;
  pthread_t t[3];
  for (int i = 0; i < 3; i++)
    pthread_create(&t[i], NULL, spam, NULL);
  go = 1;
  usleep(200);
  uvs_engine_free(e);
  for (int i = 0; i < 3; i++)
    pthread_join(t[i], NULL);
  uvs_server_free(srv);
  return 0;
}

int main(void) {
  for (int i = 0; i < 200; i++) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
      int fd = open("/dev/null", 1); /* libuv's assertion message */
      dup2(fd, 2);
      _exit(attempt());
    }
    int st = 0;
    waitpid(pid, &st, 0);
    if (WIFSIGNALED(st)) {
      printf("DEFECT: attempt %d: uvs_engine_free died with signal %d "
             "(run_tasks re-entered from Loop::stop)\n",
             i, WTERMSIG(st));
      return 1;
    }
  }
  printf("ok: 200 engine shutdowns under concurrent loop tasks\n");
  return 0;
}
