/*
 * repro_stale_delivery.c - a freed op is delivered by its completion queue.
 * (Found by fuzz_api and the op_churn stress; fixed since commit 8d54f72,
 * "stale completions dropped when an op restarts", with the push now made
 * under the op's mutex; kept as a regression check.)
 *
 * An op restarted after its first completion, before the queue was polled,
 * sits in the queue twice once it completes again (cpp/op.cpp pushes on
 * every completion). uvs_op_free -> Op::detach -> CompletionQueue::remove
 * (cpp/cq.cpp) erases only the first entry ("break"), so uvs_cq_poll later
 * returns the freed op's stale handle, contrary to "it is never delivered
 * after" (uvs_op_free). A second path: Op::finish_locked decides to deliver
 * under the op's mutex but pushes after releasing it; a uvs_op_free on
 * another thread in between removes nothing and the push lands after it.
 * Fix: remove every entry of the op, and have push() drop a detached op
 * under the queue's mutex.
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
  uvs_stream *r;
  uvs_reader_new(NULL, NULL, &r);
  uvs_op *op;
  uvs_op_new(cq, 7, &op);
  uvs_stream_read_start(r, 10, op);
  uvs_reader_feed_data(r, "a", 1); /* completion 1: queued */
  uvs_stream_read_start(r, 10, op);
  uvs_reader_feed_data(r, "b", 1); /* completion 2: queued */
  uvs_op_free(op);
  uvs_op *got[4];
  int n = uvs_cq_poll(cq, got, 4);
  if (n)
    printf("DEFECT: uvs_cq_poll delivered %d op(s) after uvs_op_free: handle "
           "%p (the freed op), uvs_op_tag %llu, uvs_op_is_done %s\n",
           n, (void *)got[0], (unsigned long long)uvs_op_tag(got[0]),
           uvs_err_name(uvs_op_is_done(got[0])));
  else
    printf("ok: nothing delivered after the free\n");
  uvs_stream_free(r);
  uvs_cq_free(cq);
  uvs_engine_free(e);
  uvs_options_free(o);
  return n != 0;
}
