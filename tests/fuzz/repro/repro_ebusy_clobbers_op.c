/*
 * repro_ebusy_clobbers_op.c - a start refused with UVS_EBUSY changes the op.
 *
 * cpp/stream.cpp, Stream::start_read: op->begin() (which resets the op's
 * kind, result, bytes, consumed, expected and makes it Pending) runs before
 * the "another read is waiting" check; on UVS_EBUSY, op->abandon() only sets
 * it back to Idle. The op's previous result is gone, its kind is the refused
 * call's, and uvs_op_unread of that previous result now fails - although
 * the header says "a negative return means nothing happened".
 * Fix: decide UVS_EBUSY (try_complete into a scratch result, or check
 * read_op_ and whether the request can complete) before op->begin().
 */
#include <uvstreams.h>

#include <stdio.h>
#include <string.h>

int main(void) {
  uvs_stream *s;
  uvs_op *op1, *op2;
  uvs_reader_new(NULL, NULL, &s);
  uvs_op_new(NULL, 1, &op1);
  uvs_op_new(NULL, 2, &op2);
  uvs_reader_feed_data(s, "abc", 3);
  int a = uvs_stream_read_start(s, 3, op1);         /* UVS_COMPLETED, "abc" */
  int b = uvs_stream_readline_start(s, op2);        /* UVS_PENDING */
  int c = uvs_stream_readexactly_start(s, 10, op1); /* UVS_EBUSY */
  const void *d = NULL;
  size_t len = 0;
  uvs_op_data(op1, &d, &len);
  int kind = uvs_op_kind(op1);
  uvs_op_cancel(op2);
  int unread = uvs_op_unread(op1);
  printf("read_start %d, readline_start %d, refused start %s\n", a, b,
         uvs_err_name(c));
  printf("op1 after the refused start: kind %d (was UVS_OP_READ = %d), %zu "
         "bytes (was \"abc\"), uvs_op_unread -> %s\n",
         kind, UVS_OP_READ, len, uvs_err_name(unread));
  int bad = kind != UVS_OP_READ || len != 3 || unread != 0;
  printf(bad ? "DEFECT: the refused start changed the op\n" : "ok\n");
  uvs_op_free(op1);
  uvs_op_free(op2);
  uvs_stream_free(s);
  return bad;
}
