/*
 * repro_cq_waiter_engine_free.c - uvs_engine_free does not release a thread
 * blocked in uvs_cq_next/uvs_cq_wait on one of its queues.
 *
 * cpp/cq.cpp, CompletionQueue::wait checks engine->shutting_down() only when
 * its condition variable wakes up; Engine::shutdown (cpp/engine.cpp) never
 * notifies the engine's queues. With a threaded engine and no pending
 * operation, a consumer waiting with timeout -1 stays blocked for ever after
 * the engine is freed (the usual shutdown order of a server: free the
 * engine, join the consumer threads). With a finite timeout it returns
 * UVS_ESHUTDOWN only when the timeout expires.
 * Fix: the engine keeps a list of its queues and wakes them at shutdown.
 */
#include <uvstreams.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

static uvs_cq *cq;
static atomic_int returned; /* polled by main while the consumer runs */
static atomic_int rc = 99;

static void *consumer(void *arg) {
  (void)arg;
  uvs_op *op;
  rc = uvs_cq_next(cq, -1, &op);
  returned = 1;
  return NULL;
}

int main(void) {
  uvs_engine *e;
  uvs_engine_new(NULL, &e);
  uvs_cq_new(e, &cq);
  pthread_t t;
  pthread_create(&t, NULL, consumer, NULL);
  usleep(100000);
  uvs_engine_free(e);
  for (int i = 0; i < 20 && !returned; i++)
    usleep(100000);
  int bad = !returned;
  if (bad)
    printf("DEFECT: uvs_cq_next(-1) still blocked 2 s after uvs_engine_free\n");
  else
    printf("ok: the consumer returned %s\n", uvs_err_name(atomic_load(&rc)));
  uvs_cq_wakeup(cq); /* release it to exit cleanly */
  pthread_join(t, NULL);
  uvs_cq_free(cq);
  return bad;
}
