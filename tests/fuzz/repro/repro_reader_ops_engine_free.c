/*
 * repro_reader_ops_engine_free.c - uvs_engine_free leaves the operations of
 * a standalone reader made with that engine pending.
 *
 * The header: uvs_engine_free "closes every stream and server of the
 * engine, completes their pending operations with UVS_ESHUTDOWN". A reader
 * made by uvs_reader_new(e, ...) is not tracked by the engine
 * (cpp/stream.cpp: only init_handle tracks, and a reader has no handle), so
 * its waiting read stays pending after the engine is gone (until the reader
 * itself is freed, when it completes as at EOF).
 * Fix: track readers made with an engine, or document the exception.
 */
#include <uvstreams.h>

#include <stdio.h>

int main(void) {
  uvs_engine *e;
  uvs_engine_new(NULL, &e);
  uvs_stream *r;
  uvs_reader_new(e, NULL, &r);
  uvs_op *op;
  uvs_op_new(NULL, 1, &op);
  uvs_stream_readline_start(r, op);
  uvs_engine_free(e);
  int w = uvs_op_wait(op, 500);
  int bad = w != 0 || uvs_op_result(op) != UVS_ESHUTDOWN;
  if (bad)
    printf("DEFECT: 500 ms after uvs_engine_free the reader's readline is %s\n",
           w == 0 ? uvs_err_name(uvs_op_result(op)) : "still pending");
  else
    printf("ok: completed with UVS_ESHUTDOWN\n");
  uvs_stream_free(r);
  uvs_op_free(op);
  return bad;
}
