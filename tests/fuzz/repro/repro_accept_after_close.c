/*
 * repro_accept_after_close.c - accept after uvs_server_close "succeeds"
 * without a stream. (Found by fuzz_api; the server half is fixed since
 * commit 6c75065, "accept after close is ECLOSED"; kept as a regression
 * check.)
 *
 * cpp/server.cpp: Server::close() sets closed_ at once but close_status_
 * only later, in close_on_loop() on the loop thread. start_accept() on a
 * closed server completes with close_status_, i.e. 0 in that window: the
 * op reports success with no stream (uvs_op_take_stream: UVS_EINVAL), and
 * the blocking uvs_server_accept returns 0 with a handle that was made from
 * a null stream (capi/api_server.cpp, register_stream of an empty pointer:
 * every call on it says UVS_EBADHANDLE and its registry slot is never freed).
 * Expected: UVS_ECLOSED. Fix: use UVS_ECLOSED when close_status_ is 0 (or
 * set it in close()); have uvs_server_accept check for a stream as connect
 * does (stream_out).
 */
#include <uvstreams.h>

#include <stdio.h>

int main(void) {
  uvs_engine *e;
  uvs_engine_new(NULL, &e); /* one I/O thread: the close finishes there */
  uvs_op *op;
  uvs_op_new(NULL, 1, &op);
  int bad = 0;
  for (int i = 0; i < 100 && !bad; i++) {
    uvs_server *srv;
    uvs_server_listen_tcp(e, "127.0.0.1", 0, NULL, &srv);
    uvs_server_close(srv);
    int rc = uvs_server_accept_start(srv, op);
    uvs_op_wait(op, 1000);
    int res = uvs_op_result(op);
    uvs_stream *s = NULL;
    int brc = uvs_server_accept(srv, 100, &s);
    if (rc >= 0 && res == 0) {
      uvs_stream *t = NULL;
      printf("DEFECT: iteration %d: accept_start after close -> %d, result "
             "OK, take_stream -> %s\n",
             i, rc, uvs_err_name(uvs_op_take_stream(op, &t)));
      bad = 1;
    }
    if (brc == 0) {
      printf("DEFECT: iteration %d: uvs_server_accept after close -> 0 with "
             "handle %p, whose uvs_stream_at_eof says %s\n",
             i, (void *)s, uvs_err_name(uvs_stream_at_eof(s)));
      bad = 1;
    }
    uvs_server_free(srv);
  }
  if (!bad)
    printf("ok: accepts after close fail with UVS_ECLOSED\n");
  uvs_op_free(op);
  uvs_engine_free(e);
  return bad;
}
