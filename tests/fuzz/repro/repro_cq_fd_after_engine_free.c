/*
 * repro_cq_fd_after_engine_free.c - uvs_cq_fd returns -1 (UVS_EPERM) once
 * the queue's host-driven engine is freed.
 *
 * cpp/cq.cpp, CompletionQueue::fd: for an io_threads 0 engine it returns the
 * libuv loop's backend descriptor, which is -1 after uv_loop_close. The
 * caller gets -1, which is UVS_EPERM ("operation not permitted"), and a
 * host that polls it gets EBADF/EINVAL. Expected: UVS_ESHUTDOWN (like
 * uvs_cq_wait on that queue), or a descriptor that stays valid.
 */
#include <uvstreams.h>

#include <stdio.h>

int main(void) {
  uvs_options *o;
  uvs_options_new(&o);
  uvs_options_set_int(o, "io_threads", 0);
  uvs_engine *e;
  uvs_engine_new(o, &e);
  uvs_cq *cq;
  uvs_cq_new(e, &cq);
  int before = uvs_cq_fd(cq);
  uvs_engine_free(e);
  int after = uvs_cq_fd(cq);
  uvs_op *got[1];
  int w = uvs_cq_wait(cq, 0, got, 1);
  printf("uvs_cq_fd: %d before uvs_engine_free, %d (%s) after; uvs_cq_wait "
         "after: %s\n",
         before, after, uvs_err_name(after), uvs_err_name(w));
  int bad = !(after >= 0 || after == UVS_ESHUTDOWN);
  printf(bad ? "DEFECT: uvs_cq_fd reports a wrong error code\n" : "ok\n");
  uvs_cq_free(cq);
  uvs_options_free(o);
  return bad;
}
