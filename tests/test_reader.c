/*
 * test_reader.c - the standalone reader (uvs_reader_new + feed_data /
 * feed_eof / set_error) against asyncio's StreamReader semantics.
 *
 * Covers every row of the edge-case table in section 2.16 of
 * asyncio-streams-spec.md, the readuntil search algorithm (exact consumed
 * values for both LimitOverrunError kinds, multiple separators), EOF in every
 * state, the sticky stored error, and the operation machinery on a reader:
 * UVS_COMPLETED fast path, uvs_op_wait with data fed from another thread,
 * UVS_EBUSY, timeouts and cancellation that consume nothing, uvs_op_unread.
 * Each test checks the buffer left behind with expect_rest (EOF, read(-1)).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "helpers.h"

#include <stdlib.h>
#include <string.h>

#define WAIT_MS 2000

/* ---- local helpers ------------------------------------------------------ */

/* Result of an operation begun by a *_start call that returned rc: rc itself
 * if negative, else the op's result once done. */
static int finish(uvs_op *op, int rc) {
  if (rc < 0) {
    return rc;
  }
  assert_true(rc == UVS_PENDING || rc == UVS_COMPLETED);
  if (rc == UVS_PENDING) {
    assert_uvs_rc(uvs_op_wait(op, WAIT_MS), 0);
  }
  assert_int_equal(uvs_op_is_done(op), 1);
  return uvs_op_result(op);
}

static uvs_op *new_op(void) {
  uvs_op *op = NULL;
  assert_uvs_rc(uvs_op_new(NULL, 42, &op), 0);
  assert_non_null(op);
  return op;
}

/* The op's bytes equal exp. */
static void expect_op_bytes(uvs_op *op, const char *exp) {
  const void *d = NULL;
  size_t len = 0;
  assert_uvs_rc(uvs_op_data(op, &d, &len), 0);
  assert_bytes_equal_n(d, len, exp, strlen(exp));
}

/* Blocking calls that must succeed with exp. */
static void expect_read(uvs_stream *s, int64_t n, const char *exp) {
  void *d = NULL;
  size_t len = 0;
  assert_uvs_rc(uvs_stream_read(s, n, WAIT_MS, &d, &len), 0);
  assert_bytes_equal_n(d, len, exp, strlen(exp));
  uvs_free(d);
}

static void expect_readexactly(uvs_stream *s, int64_t n, const char *exp) {
  void *d = NULL;
  size_t len = 0;
  assert_uvs_rc(uvs_stream_readexactly(s, n, WAIT_MS, &d, &len), 0);
  assert_bytes_equal_n(d, len, exp, strlen(exp));
  uvs_free(d);
}

static void expect_readline(uvs_stream *s, const char *exp) {
  void *d = NULL;
  size_t len = 0;
  assert_uvs_rc(uvs_stream_readline(s, WAIT_MS, &d, &len), 0);
  assert_bytes_equal_n(d, len, exp, strlen(exp));
  uvs_free(d);
}

static void expect_readuntil(uvs_stream *s, const char *sep, const char *exp) {
  void *d = NULL;
  size_t len = 0;
  int64_t consumed = -7;
  assert_uvs_rc(
      uvs_stream_readuntil(s, sep, strlen(sep), WAIT_MS, &d, &len, &consumed),
      0);
  assert_bytes_equal_n(d, len, exp, strlen(exp));
  uvs_free(d);
}

/* Blocking readuntil that must fail with UVS_ELIMIT and `consumed`. */
static void expect_readuntil_limit(uvs_stream *s, const char *sep,
                                   int64_t consumed) {
  void *d = NULL;
  size_t len = 0;
  int64_t got = -7;
  assert_uvs_rc(
      uvs_stream_readuntil(s, sep, strlen(sep), WAIT_MS, &d, &len, &got),
      UVS_ELIMIT);
  assert_int_equal(got, consumed);
  uvs_free(d);
}

/* Blocking readline that must fail with UVS_ELIMIT. */
static void expect_readline_limit(uvs_stream *s) {
  void *d = NULL;
  size_t len = 0;
  assert_uvs_rc(uvs_stream_readline(s, WAIT_MS, &d, &len), UVS_ELIMIT);
  uvs_free(d);
}

/* The buffer holds exactly exp: feeds EOF, reads everything, checks at_eof.
 * Ends the reader's useful life (EOF). */
static void expect_rest(uvs_stream *s, const char *exp) {
  assert_uvs_rc(uvs_reader_feed_eof(s), 0);
  expect_read(s, -1, exp);
  assert_int_equal(uvs_stream_at_eof(s), 1);
}

/* Separator sets for readuntil_any. */
static void set_seps(uvs_buf *b, const char *a, const char *c) {
  b[0].base = a;
  b[0].len = strlen(a);
  b[1].base = c;
  b[1].len = strlen(c);
}

/* Feeds up to four chunks, gap_ms apart, then EOF if eof != 0. */
struct chunks_job {
  uvs_stream *s;
  const char *chunks[4];
  int eof;
  int64_t gap_ms;
};

static void chunks_job_run(void *p) {
  struct chunks_job *j = p;
  for (int i = 0; i < 4 && j->chunks[i] != NULL; i++) {
    if (i > 0) {
      uvst_sleep_ms(j->gap_ms);
    }
    uvs_reader_feed_data(j->s, j->chunks[i], strlen(j->chunks[i]));
  }
  if (j->eof) {
    uvs_reader_feed_eof(j->s);
  }
}

struct error_job {
  uvs_stream *s;
  int err;
};

static void error_job_run(void *p) {
  struct error_job *j = p;
  uvs_reader_set_error(j->s, j->err);
}

static int setup(void **state) {
  return uvst_fd_setup(state);
}
static int teardown(void **state) {
  return uvst_fd_teardown(state);
}

/* ---- 2.16 edge-case table ----------------------------------------------- */

static void test_read_zero(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvst_feed(s, "line1\nline2\nline3\n");
  void *d = NULL;
  size_t len = 99;
  assert_uvs_rc(uvs_stream_read(s, 0, 0, &d, &len), 0);
  assert_int_equal(len, 0);
  uvs_free(d);
  expect_rest(s, "line1\nline2\nline3\n");
  assert_uvs_rc(uvs_stream_free(s), 0);
}

static void test_read_across_feeds(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvst_feed(s, "line1");
  uvst_feed(s, "line2");
  expect_read(s, 5, "line1");
  expect_rest(s, "line2");
  assert_uvs_rc(uvs_stream_free(s), 0);
}

static void test_read_not_bounded_by_limit(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 3);
  uvst_feed(s, "chunk");
  expect_read(s, 5, "chunk");
  expect_rest(s, "");
  assert_uvs_rc(uvs_stream_free(s), 0);
}

static void test_read_empty_then_eof(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  assert_uvs_rc(uvs_reader_feed_eof(s), 0);
  expect_read(s, 1024, "");
  assert_int_equal(uvs_stream_at_eof(s), 1);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* A read(1024) that is already waiting returns "" when EOF arrives. */
static void test_read_pending_then_eof(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op = new_op();
  assert_uvs_rc(uvs_stream_read_start(s, 1024, op), UVS_PENDING);
  uvst_later *l = uvst_feed_later(s, "", 1, 30);
  assert_uvs_rc(finish(op, UVS_PENDING), 0);
  expect_op_bytes(op, "");
  uvst_later_join(l);
  assert_int_equal(uvs_stream_at_eof(s), 1);
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

static void test_read_until_eof(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvst_feed(s, "chunk1\n");
  uvst_feed(s, "chunk2");
  assert_uvs_rc(uvs_reader_feed_eof(s), 0);
  expect_read(s, -1, "chunk1\nchunk2");
  assert_int_equal(uvs_stream_at_eof(s), 1);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* limit 3, "line1\nline2\n": found case, consumed 5, line1\n dropped. */
static void test_readline_limit_found(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 3);
  uvs_op *op = new_op();
  uvst_feed(s, "line1\nline2\n");
  assert_uvs_rc(uvs_stream_readline_start(s, op), UVS_COMPLETED);
  assert_op_result(op, UVS_ELIMIT);
  expect_rest(s, "line2\n");
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* The same through the blocking call. */
static void test_readline_limit_found_blocking(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 3);
  uvst_feed(s, "line1\nline2\n");
  expect_readline_limit(s);
  expect_rest(s, "line2\n");
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* limit 3, "line1li": not found, buffer cleared; the rest of that line is
 * then returned by the next readline as if it were a whole line. */
static void test_readline_limit_not_found(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 3);
  uvst_feed(s, "line1li");
  expect_readline_limit(s);
  assert_int_equal(uvs_stream_at_eof(s), 0);
  uvst_feed(s, "ne\n");
  expect_readline(s, "ne\n");
  expect_rest(s, "");
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* limit 7, "chunk1chunk2\nchunk3\n" + EOF: chunk1chunk2\n dropped. */
static void test_readline_limit7_found(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 7);
  uvst_feed(s, "chunk1");
  uvst_feed(s, "chunk2\n");
  uvst_feed(s, "chunk3\n");
  assert_uvs_rc(uvs_reader_feed_eof(s), 0);
  expect_readline_limit(s);
  expect_readline(s, "chunk3\n");
  expect_readline(s, "");
  assert_int_equal(uvs_stream_at_eof(s), 1);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* limit 7, "chunk1chunk2chunk3\n" + EOF: the whole line goes. */
static void test_readline_limit7_single_line(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 7);
  uvst_feed(s, "chunk1");
  uvst_feed(s, "chunk2");
  uvst_feed(s, "chunk3\n");
  assert_uvs_rc(uvs_reader_feed_eof(s), 0);
  expect_readline_limit(s);
  assert_int_equal(uvs_stream_at_eof(s), 1);
  expect_readline(s, "");
  assert_uvs_rc(uvs_stream_free(s), 0);
}

static void test_readline_partial_at_eof(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvst_feed(s, "some data");
  assert_uvs_rc(uvs_reader_feed_eof(s), 0);
  expect_readline(s, "some data");
  assert_int_equal(uvs_stream_at_eof(s), 1);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* "some dataAA" + EOF, readuntil("AAA"): EINCOMPLETE, expected -1. */
static void test_readuntil_incomplete_op(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op = new_op();
  uvst_feed(s, "some dataAA");
  assert_uvs_rc(uvs_reader_feed_eof(s), 0);
  assert_uvs_rc(uvs_stream_readuntil_start(s, "AAA", 3, op), UVS_COMPLETED);
  assert_op_result(op, UVS_EINCOMPLETE);
  expect_op_bytes(op, "some dataAA");
  assert_int_equal(uvs_op_expected(op), -1);
  assert_int_equal(uvs_stream_at_eof(s), 1);
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* The same with the blocking call: *data receives the partial bytes. */
static void test_readuntil_incomplete_blocking(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvst_feed(s, "some dataAA");
  assert_uvs_rc(uvs_reader_feed_eof(s), 0);
  void *d = NULL;
  size_t len = 0;
  assert_uvs_rc(uvs_stream_readuntil(s, "AAA", 3, WAIT_MS, &d, &len, NULL),
                UVS_EINCOMPLETE);
  assert_bytes_equal(d, len, "some dataAA");
  uvs_free(d);
  assert_int_equal(uvs_stream_at_eof(s), 1);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* limit 3, "some dataAA": not found, consumed 9 = 11 + 1 - 3; then with one
 * more "A": found, consumed 9 (the separator's start). Nothing removed. */
static void test_readuntil_limit_not_found_then_found(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 3);
  uvs_op *op = new_op();
  uvst_feed(s, "some dataAA");
  assert_uvs_rc(uvs_stream_readuntil_start(s, "AAA", 3, op), UVS_COMPLETED);
  assert_op_result(op, UVS_ELIMIT);
  assert_int_equal(uvs_op_consumed(op), 9);
  uvst_feed(s, "A");
  assert_uvs_rc(uvs_stream_readuntil_start(s, "AAA", 3, op), UVS_COMPLETED);
  assert_op_result(op, UVS_ELIMIT);
  assert_int_equal(uvs_op_consumed(op), 9);
  expect_readuntil_limit(s, "AAA", 9);
  expect_rest(s, "some dataAAA");
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* "QWEaa", "XYaa", "a": the separator "aaa" only completes with the last
 * feed; an op started on the first chunk waits through the second. */
static void test_readuntil_split_separator(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op = new_op();
  uvst_feed(s, "QWEaa");
  assert_uvs_rc(uvs_stream_readuntil_start(s, "aaa", 3, op), UVS_PENDING);
  uvst_feed(s, "XYaa");
  assert_uvs_rc(uvs_op_wait(op, 50), UVS_ETIMEDOUT);
  assert_int_equal(uvs_op_is_done(op), 0);
  uvst_feed(s, "a");
  assert_uvs_rc(finish(op, UVS_PENDING), 0);
  expect_op_bytes(op, "QWEaaXYaaa");
  expect_rest(s, "");
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* The same three chunks already buffered. */
static void test_readuntil_split_separator_buffered(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvst_feed(s, "QWEaa");
  uvst_feed(s, "XYaa");
  uvst_feed(s, "a");
  expect_readuntil(s, "aaa", "QWEaaXYaaa");
  expect_rest(s, "");
  assert_uvs_rc(uvs_stream_free(s), 0);
}

static void test_readuntil_any_cr_lf(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op = new_op();
  uvs_buf seps[2];
  set_seps(seps, "\r", "\n");
  uvst_feed(s, "line 1\nline 2\r");
  assert_uvs_rc(uvs_stream_readuntil_any_start(s, seps, 2, op), UVS_COMPLETED);
  assert_op_result(op, 0);
  expect_op_bytes(op, "line 1\n");
  assert_uvs_rc(uvs_stream_readuntil_any_start(s, seps, 2, op), UVS_COMPLETED);
  assert_op_result(op, 0);
  expect_op_bytes(op, "line 2\r");
  expect_rest(s, "");
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* ("DEF", "BCDE") on "ABCDEFG": the earliest end wins although longer. */
static void test_readuntil_any_earliest_end(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_buf seps[2];
  set_seps(seps, "DEF", "BCDE");
  uvst_feed(s, "ABCDEFG");
  void *d = NULL;
  size_t len = 0;
  assert_uvs_rc(uvs_stream_readuntil_any(s, seps, 2, WAIT_MS, &d, &len, NULL),
                0);
  assert_bytes_equal(d, len, "ABCDE");
  uvs_free(d);
  expect_rest(s, "FG");
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* limit 3, "some dataA", ("A", "ome dataA"): both end at 10, the shortest
 * ("A", start 9) counts for the limit: found, consumed 9. */
static void test_readuntil_any_limit_shortest(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 3);
  uvs_buf seps[2];
  set_seps(seps, "A", "ome dataA");
  uvst_feed(s, "some dataA");
  void *d = NULL;
  size_t len = 0;
  int64_t consumed = -7;
  assert_uvs_rc(
      uvs_stream_readuntil_any(s, seps, 2, WAIT_MS, &d, &len, &consumed),
      UVS_ELIMIT);
  assert_int_equal(consumed, 9);
  uvs_free(d);
  expect_rest(s, "some dataA");
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* "data", "Z", "Aaaa" with ("A", "long sep"): the offset clamps at 0 while
 * the buffer is shorter than the long separator. */
static void test_readuntil_any_negative_offset(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op = new_op();
  uvs_buf seps[2];
  set_seps(seps, "A", "long sep");
  uvst_feed(s, "data");
  assert_uvs_rc(uvs_stream_readuntil_any_start(s, seps, 2, op), UVS_PENDING);
  uvst_feed(s, "Z");
  assert_uvs_rc(uvs_op_wait(op, 30), UVS_ETIMEDOUT);
  uvst_feed(s, "Aaaa");
  assert_uvs_rc(finish(op, UVS_PENDING), 0);
  expect_op_bytes(op, "dataZA");
  expect_rest(s, "aaa");
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

static void test_readuntil_crlf(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvst_feed(s, "some data\r\n");
  expect_readuntil(s, "\r\n", "some data\r\n");
  expect_rest(s, "");
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* 18 bytes + EOF, readexactly(36): EINCOMPLETE, expected 36, buffer empty. */
static void test_readexactly_incomplete(void **state) {
  (void)state;
  static const char data[] = "012345678901234567";
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op = new_op();
  uvst_feed(s, data);
  assert_uvs_rc(uvs_reader_feed_eof(s), 0);
  assert_uvs_rc(uvs_stream_readexactly_start(s, 36, op), UVS_COMPLETED);
  assert_op_result(op, UVS_EINCOMPLETE);
  expect_op_bytes(op, data);
  assert_int_equal(uvs_op_expected(op), 36);
  assert_int_equal(uvs_stream_at_eof(s), 1);
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

static void test_readexactly_incomplete_blocking(void **state) {
  (void)state;
  static const char data[] = "012345678901234567";
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvst_feed(s, data);
  assert_uvs_rc(uvs_reader_feed_eof(s), 0);
  void *d = NULL;
  size_t len = 0;
  assert_uvs_rc(uvs_stream_readexactly(s, 36, WAIT_MS, &d, &len),
                UVS_EINCOMPLETE);
  assert_bytes_equal_n(d, len, data, strlen(data));
  uvs_free(d);
  assert_int_equal(uvs_stream_at_eof(s), 1);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* readexactly(-1): UVS_EINVAL from the call itself, buffer untouched. */
static void test_readexactly_negative(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op = new_op();
  uvst_feed(s, "abc");
  assert_uvs_rc(uvs_stream_readexactly_start(s, -1, op), UVS_EINVAL);
  void *d = NULL;
  size_t len = 0;
  assert_uvs_rc(uvs_stream_readexactly(s, -1, WAIT_MS, &d, &len), UVS_EINVAL);
  uvs_free(d);
  assert_uvs_rc(uvs_stream_readexactly(s, -5, 0, &d, &len), UVS_EINVAL);
  uvs_free(d);
  expect_rest(s, "abc");
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* ---- more read / readexactly -------------------------------------------- */

/* read(0) raises a stored error (the check comes before the shortcut). */
static void test_read_zero_stored_error(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvst_feed(s, "ne\n");
  assert_uvs_rc(uvs_reader_set_error(s, UVS_ECONNRESET), 0);
  void *d = NULL;
  size_t len = 0;
  assert_uvs_rc(uvs_stream_read(s, 0, 0, &d, &len), UVS_ECONNRESET);
  uvs_free(d);
  uvs_op *op = new_op();
  assert_uvs_rc(finish(op, uvs_stream_read_start(s, 0, op)), UVS_ECONNRESET);
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* read(-1) started first; chunks and EOF arrive from another thread. */
static void test_read_minus_one_pending(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 4);
  uvs_op *op = new_op();
  struct chunks_job job = {s, {"chunk1\n", "chunk2-longer", "x", NULL}, 1, 10};
  assert_uvs_rc(uvs_stream_read_start(s, -1, op), UVS_PENDING);
  uvst_later *l = uvst_later_start(20, chunks_job_run, &job);
  assert_uvs_rc(finish(op, UVS_PENDING), 0);
  uvst_later_join(l);
  expect_op_bytes(op, "chunk1\nchunk2-longerx");
  assert_int_equal(uvs_op_kind(op), UVS_OP_READ);
  assert_int_equal(uvs_stream_at_eof(s), 1);
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* read(-1) with a larger negative n also reads to EOF. */
static void test_read_any_negative(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvst_feed(s, "abc");
  uvst_feed(s, "def");
  assert_uvs_rc(uvs_reader_feed_eof(s), 0);
  expect_read(s, -100, "abcdef");
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* n > 0 returns what is there once something is, possibly less than n. */
static void test_read_short(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op = new_op();
  assert_uvs_rc(uvs_stream_read_start(s, 30, op), UVS_PENDING);
  uvst_feed(s, "line1");
  assert_uvs_rc(finish(op, UVS_PENDING), 0);
  expect_op_bytes(op, "line1");
  uvst_feed(s, "line2");
  expect_read(s, 30, "line2");
  expect_rest(s, "");
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* readexactly(n) with n > limit: limit 3, 5 bytes and 10 bytes. */
static void test_readexactly_over_limit(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 3);
  uvs_op *op = new_op();
  uvst_feed(s, "12345");
  expect_readexactly(s, 5, "12345");
  assert_uvs_rc(uvs_stream_readexactly_start(s, 10, op), UVS_PENDING);
  uvst_feed(s, "abcd");
  uvst_feed(s, "efgh");
  assert_int_equal(uvs_op_is_done(op), 0);
  uvst_feed(s, "ijkl");
  assert_uvs_rc(finish(op, UVS_PENDING), 0);
  expect_op_bytes(op, "abcdefghij");
  expect_rest(s, "kl");
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* readexactly(0): "" at once, with data and with an empty buffer. */
static void test_readexactly_zero(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op = new_op();
  assert_uvs_rc(uvs_stream_readexactly_start(s, 0, op), UVS_COMPLETED);
  assert_op_result(op, 0);
  expect_op_bytes(op, "");
  uvst_feed(s, "abc");
  expect_readexactly(s, 0, "");
  expect_rest(s, "abc");
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

static void test_readline_spans_feeds(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op = new_op();
  assert_uvs_rc(uvs_stream_readline_start(s, op), UVS_PENDING);
  uvst_feed(s, "chunk1 ");
  uvst_feed(s, "chunk2 ");
  uvst_feed(s, "chunk3 \n chunk4");
  assert_uvs_rc(finish(op, UVS_PENDING), 0);
  expect_op_bytes(op, "chunk1 chunk2 chunk3 \n");
  expect_rest(s, " chunk4");
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

static void test_readline_then_read_count(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvst_feed(s, "line1\nline2\nline3\n");
  expect_readline(s, "line1\n");
  expect_read(s, 7, "line2\nl");
  expect_rest(s, "ine3\n");
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* ---- limits and the search algorithm ------------------------------------ */

/* limit 7: 7 bytes before the separator pass, 8 fail (found, consumed 8);
 * readline then drops the 9 bytes. */
static void test_limit_boundary_found(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 7);
  uvst_feed(s, "1234567\n");
  expect_readline(s, "1234567\n");
  uvst_feed(s, "12345678\n");
  expect_readuntil_limit(s, "\n", 8);
  expect_readuntil_limit(s, "\n", 8);
  expect_readline_limit(s);
  uvst_feed(s, "ok\n");
  expect_readline(s, "ok\n");
  expect_rest(s, "");
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* limit 7 without a separator: 7 bytes keep waiting (offset 7 is not > 7),
 * 8 bytes fail (not found, consumed 8). */
static void test_limit_boundary_not_found(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 7);
  uvs_op *op = new_op();
  uvst_feed(s, "1234567");
  assert_uvs_rc(uvs_stream_readuntil_start(s, "\n", 1, op), UVS_PENDING);
  uvst_feed(s, "\n");
  assert_uvs_rc(finish(op, UVS_PENDING), 0);
  expect_op_bytes(op, "1234567\n");
  uvst_feed(s, "12345678");
  assert_uvs_rc(uvs_stream_readuntil_start(s, "\n", 1, op), UVS_COMPLETED);
  assert_op_result(op, UVS_ELIMIT);
  assert_int_equal(uvs_op_consumed(op), 8);
  expect_rest(s, "12345678");
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* A pending readuntil that the next feed pushes over the limit fails with
 * the "not found" consumed = buflen + 1 - seplen. */
static void test_limit_overrun_while_waiting(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 7);
  uvs_op *op = new_op();
  uvst_feed(s, "12345");
  assert_uvs_rc(uvs_stream_readuntil_start(s, "\n", 1, op), UVS_PENDING);
  uvst_feed(s, "67890");
  assert_uvs_rc(finish(op, UVS_PENDING), UVS_ELIMIT);
  assert_int_equal(uvs_op_consumed(op), 10);
  expect_rest(s, "1234567890");
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* Multi-byte separator: limit 4, "abcdefgAA" + "AAA": offset = 9 + 1 - 3. */
static void test_limit_not_found_multibyte(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 4);
  uvst_feed(s, "abcdefgAA");
  expect_readuntil_limit(s, "AAA", 7);
  expect_rest(s, "abcdefgAA");
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* Several separators: the offset keeps max_len - 1 bytes. limit 3,
 * ("X", "LONGSEP1"): 10 bytes give offset 3 (wait), 11 give 4 (fail). */
static void test_limit_not_found_any_uses_max_len(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 3);
  uvs_op *op = new_op();
  uvs_buf seps[2];
  set_seps(seps, "X", "LONGSEP1");
  uvst_feed(s, "abcdefghij");
  assert_uvs_rc(uvs_stream_readuntil_any_start(s, seps, 2, op), UVS_PENDING);
  uvst_feed(s, "k");
  assert_uvs_rc(finish(op, UVS_PENDING), UVS_ELIMIT);
  assert_int_equal(uvs_op_consumed(op), 4);
  expect_rest(s, "abcdefghijk");
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* Ties on the end position go to the shortest separator: with limit 3,
 * "xxxabc" and ("abc", "c"), "c" (start 5) is over the limit although
 * "abc" (start 3) would not be. Without a limit the bytes are the same. */
static void test_multi_sep_tie_shortest(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 3);
  uvs_buf seps[2];
  set_seps(seps, "abc", "c");
  uvst_feed(s, "xxxabc");
  void *d = NULL;
  size_t len = 0;
  int64_t consumed = -7;
  assert_uvs_rc(
      uvs_stream_readuntil_any(s, seps, 2, WAIT_MS, &d, &len, &consumed),
      UVS_ELIMIT);
  assert_int_equal(consumed, 5);
  uvs_free(d);
  expect_rest(s, "xxxabc");
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* Earliest end wins regardless of the order the separators are given in. */
static void test_multi_sep_order_irrelevant(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op = new_op();
  uvs_buf seps[2];
  set_seps(seps, "BCDE", "DEF");
  uvst_feed(s, "ABCDEFGxxabcyy");
  assert_uvs_rc(uvs_stream_readuntil_any_start(s, seps, 2, op), UVS_COMPLETED);
  assert_op_result(op, 0);
  expect_op_bytes(op, "ABCDE");
  set_seps(seps, "abc", "bc");
  assert_uvs_rc(uvs_stream_readuntil_any_start(s, seps, 2, op), UVS_COMPLETED);
  assert_op_result(op, 0);
  expect_op_bytes(op, "FGxxabc");
  expect_rest(s, "yy");
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* Empty separator list, empty separator: UVS_EINVAL from the call, before
 * the stored-error check, buffer untouched. */
static void test_empty_separators(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op = new_op();
  uvs_buf seps[2];
  set_seps(seps, "\n", "");
  void *d = NULL;
  size_t len = 0;
  uvst_feed(s, "abc\n");
  assert_uvs_rc(uvs_stream_readuntil_start(s, "", 0, op), UVS_EINVAL);
  assert_uvs_rc(uvs_stream_readuntil_start(s, NULL, 0, op), UVS_EINVAL);
  assert_uvs_rc(uvs_stream_readuntil_any_start(s, seps, 0, op), UVS_EINVAL);
  assert_uvs_rc(uvs_stream_readuntil_any_start(s, seps, 2, op), UVS_EINVAL);
  assert_uvs_rc(uvs_stream_readuntil_any_start(s, seps + 1, 1, op), UVS_EINVAL);
  assert_uvs_rc(uvs_stream_readuntil(s, "", 0, 0, &d, &len, NULL), UVS_EINVAL);
  assert_uvs_rc(uvs_stream_readuntil_any(s, seps, 0, 0, &d, &len, NULL),
                UVS_EINVAL);
  assert_uvs_rc(uvs_stream_readuntil_any(s, seps, 2, 0, &d, &len, NULL),
                UVS_EINVAL);
  assert_uvs_rc(uvs_reader_set_error(s, UVS_EPIPE), 0);
  assert_uvs_rc(uvs_stream_readuntil(s, "", 0, 0, &d, &len, NULL), UVS_EINVAL);
  assert_uvs_rc(uvs_stream_readuntil_any_start(s, seps, 0, op), UVS_EINVAL);
  assert_uvs_rc(uvs_stream_readuntil(s, "\n", 1, 0, &d, &len, NULL), UVS_EPIPE);
  uvs_free(d);
  assert_int_equal(uvs_stream_at_eof(s), 0);
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* ---- EOF in every state ------------------------------------------------- */

static void test_eof_empty_buffer(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op = new_op();
  assert_int_equal(uvs_stream_at_eof(s), 0);
  assert_uvs_rc(uvs_reader_feed_eof(s), 0);
  assert_int_equal(uvs_stream_at_eof(s), 1);
  expect_read(s, 10, "");
  expect_read(s, -1, "");
  expect_readline(s, "");
  assert_uvs_rc(uvs_stream_readexactly_start(s, 3, op), UVS_COMPLETED);
  assert_op_result(op, UVS_EINCOMPLETE);
  expect_op_bytes(op, "");
  assert_int_equal(uvs_op_expected(op), 3);
  assert_uvs_rc(uvs_stream_readuntil_start(s, "\n", 1, op), UVS_COMPLETED);
  assert_op_result(op, UVS_EINCOMPLETE);
  expect_op_bytes(op, "");
  assert_int_equal(uvs_op_expected(op), -1);
  assert_uvs_rc(uvs_reader_feed_eof(s), 0); /* more than once is fine */
  assert_int_equal(uvs_stream_at_eof(s), 1);
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

static void test_eof_partial_line(void **state) {
  (void)state;
  uvs_stream *a = uvst_reader_new(NULL, 0);
  uvs_stream *b = uvst_reader_new(NULL, 0);
  uvs_op *op = new_op();
  uvst_feed(a, "abc");
  uvst_feed(b, "abc");
  assert_uvs_rc(uvs_reader_feed_eof(a), 0);
  assert_uvs_rc(uvs_reader_feed_eof(b), 0);
  assert_int_equal(uvs_stream_at_eof(a), 0);
  assert_uvs_rc(uvs_stream_readuntil_start(a, "\n", 1, op), UVS_COMPLETED);
  assert_op_result(op, UVS_EINCOMPLETE);
  expect_op_bytes(op, "abc");
  assert_int_equal(uvs_op_expected(op), -1);
  assert_int_equal(uvs_stream_at_eof(a), 1);
  assert_uvs_rc(uvs_stream_readexactly_start(b, 5, op), UVS_COMPLETED);
  assert_op_result(op, UVS_EINCOMPLETE);
  expect_op_bytes(op, "abc");
  assert_int_equal(uvs_op_expected(op), 5);
  assert_int_equal(uvs_stream_at_eof(b), 1);
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(a), 0);
  assert_uvs_rc(uvs_stream_free(b), 0);
}

/* A partial separator at EOF is part of the partial bytes; a separator
 * completed by the final chunk is still found. */
static void test_eof_partial_separator(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  void *d = NULL;
  size_t len = 0;
  uvst_feed(s, "abc\r");
  uvst_feed(s, "\n");
  uvst_feed(s, "def\r");
  assert_uvs_rc(uvs_reader_feed_eof(s), 0);
  expect_readuntil(s, "\r\n", "abc\r\n");
  assert_uvs_rc(uvs_stream_readuntil(s, "\r\n", 2, WAIT_MS, &d, &len, NULL),
                UVS_EINCOMPLETE);
  assert_bytes_equal(d, len, "def\r");
  uvs_free(d);
  assert_int_equal(uvs_stream_at_eof(s), 1);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* EOF arriving (from another thread) while readuntil waits on a partial
 * separator. */
static void test_eof_while_waiting_partial_separator(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op = new_op();
  uvst_feed(s, "abc");
  assert_uvs_rc(uvs_stream_readuntil_start(s, "\r\n", 2, op), UVS_PENDING);
  uvst_later *l = uvst_feed_later(s, "\r", 1, 30);
  assert_uvs_rc(finish(op, UVS_PENDING), UVS_EINCOMPLETE);
  uvst_later_join(l);
  expect_op_bytes(op, "abc\r");
  assert_int_equal(uvs_op_expected(op), -1);
  assert_int_equal(uvs_stream_at_eof(s), 1);
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* The limit check precedes the EOF check: an over-long unterminated chunk at
 * EOF is UVS_ELIMIT (buffer kept), and readline then discards it. */
static void test_limit_before_eof(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 3);
  uvst_feed(s, "abcdefgh");
  assert_uvs_rc(uvs_reader_feed_eof(s), 0);
  expect_readuntil_limit(s, "\n", 8);
  assert_int_equal(uvs_stream_at_eof(s), 0);
  expect_readline_limit(s);
  assert_int_equal(uvs_stream_at_eof(s), 1);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

static void test_at_eof(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  assert_int_equal(uvs_stream_at_eof(s), 0);
  uvst_feed(s, "some data\n");
  assert_int_equal(uvs_stream_at_eof(s), 0);
  expect_readline(s, "some data\n");
  assert_int_equal(uvs_stream_at_eof(s), 0);
  uvst_feed(s, "x");
  assert_uvs_rc(uvs_reader_feed_eof(s), 0);
  assert_int_equal(uvs_stream_at_eof(s), 0);
  expect_read(s, 1, "x");
  assert_int_equal(uvs_stream_at_eof(s), 1);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* feed_data of 0 bytes changes nothing and wakes nobody. */
static void test_feed_empty_data(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op = new_op();
  assert_uvs_rc(uvs_stream_read_start(s, 10, op), UVS_PENDING);
  assert_uvs_rc(uvs_reader_feed_data(s, "", 0), 0);
  assert_uvs_rc(uvs_op_wait(op, 50), UVS_ETIMEDOUT);
  assert_int_equal(uvs_op_is_done(op), 0);
  uvst_feed(s, "z");
  assert_uvs_rc(finish(op, UVS_PENDING), 0);
  expect_op_bytes(op, "z");
  expect_rest(s, "");
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* ---- stored error ------------------------------------------------------- */

/* Sticky: every read fails although bytes stay buffered; EOF is not set;
 * readexactly's argument check comes first. */
static void test_set_error_sticky(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op = new_op();
  void *d = NULL;
  size_t len = 0;
  int64_t n = -1;
  assert_uvs_rc(uvs_stream_error(s), 0);
  uvst_feed(s, "ne\n");
  assert_uvs_rc(uvs_reader_set_error(s, UVS_ECONNRESET), 0);
  assert_uvs_rc(uvs_stream_error(s), UVS_ECONNRESET);
  assert_uvs_rc(uvs_stream_read(s, 2, 0, &d, &len), UVS_ECONNRESET);
  assert_uvs_rc(uvs_stream_readline(s, 0, &d, &len), UVS_ECONNRESET);
  assert_uvs_rc(uvs_stream_readexactly(s, 1, 0, &d, &len), UVS_ECONNRESET);
  assert_uvs_rc(uvs_stream_readexactly(s, 0, 0, &d, &len), UVS_ECONNRESET);
  assert_uvs_rc(uvs_stream_readexactly(s, -1, 0, &d, &len), UVS_EINVAL);
  assert_uvs_rc(uvs_stream_readuntil(s, "\n", 1, 0, &d, &len, NULL),
                UVS_ECONNRESET);
  assert_uvs_rc(finish(op, uvs_stream_readline_start(s, op)), UVS_ECONNRESET);
  assert_uvs_rc(finish(op, uvs_stream_read_start(s, -1, op)), UVS_ECONNRESET);
  uvs_free(d);
  assert_int_equal(uvs_stream_at_eof(s), 0);
  assert_uvs_rc(uvs_stream_get_int(s, "read_buffer_size", &n), 0);
  assert_int_equal(n, 3);
  assert_uvs_rc(uvs_stream_error(s), UVS_ECONNRESET);
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* set_error from another thread wakes a waiting readline with the error. */
static void test_set_error_wakes_waiter(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op = new_op();
  struct error_job job = {s, UVS_EPIPE};
  uvst_feed(s, "partial");
  assert_uvs_rc(uvs_stream_readline_start(s, op), UVS_PENDING);
  uvst_later *l = uvst_later_start(30, error_job_run, &job);
  assert_uvs_rc(finish(op, UVS_PENDING), UVS_EPIPE);
  uvst_later_join(l);
  assert_int_equal(uvs_op_kind(op), UVS_OP_READLINE);
  assert_uvs_rc(uvs_stream_error(s), UVS_EPIPE);
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* A blocking waiter is woken too. */
static void test_set_error_wakes_blocking_waiter(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  struct error_job job = {s, UVS_ECONNRESET};
  uvst_later *l = uvst_later_start(30, error_job_run, &job);
  void *d = NULL;
  size_t len = 0;
  assert_uvs_rc(uvs_stream_readexactly(s, 4, WAIT_MS, &d, &len),
                UVS_ECONNRESET);
  uvs_free(d);
  uvst_later_join(l);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* Cancel a waiting read, then set an error: the op keeps UVS_ECANCELED. */
static void test_set_error_after_cancel(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op = new_op();
  assert_uvs_rc(uvs_stream_read_start(s, 10, op), UVS_PENDING);
  assert_uvs_rc(uvs_op_cancel(op), 0);
  assert_uvs_rc(finish(op, UVS_PENDING), UVS_ECANCELED);
  assert_uvs_rc(uvs_reader_set_error(s, UVS_ECONNRESET), 0);
  assert_uvs_rc(uvs_op_result(op), UVS_ECANCELED);
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* ---- operations on a reader --------------------------------------------- */

/* Every *_start returns UVS_COMPLETED when the buffer satisfies it, with the
 * result in the op; UVS_PENDING otherwise. */
static void test_start_completed_fast_path(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op = new_op();
  uvs_buf seps[2];
  set_seps(seps, ";", "!");
  uvst_feed(s, "ab;cd!ef\ngh");
  assert_uvs_rc(uvs_stream_read_start(s, 1, op), UVS_COMPLETED);
  assert_op_result(op, 0);
  assert_int_equal(uvs_op_kind(op), UVS_OP_READ);
  expect_op_bytes(op, "a");
  assert_uvs_rc(uvs_stream_readuntil_start(s, ";", 1, op), UVS_COMPLETED);
  assert_op_result(op, 0);
  assert_int_equal(uvs_op_kind(op), UVS_OP_READUNTIL);
  expect_op_bytes(op, "b;");
  assert_uvs_rc(uvs_stream_readuntil_any_start(s, seps, 2, op), UVS_COMPLETED);
  assert_op_result(op, 0);
  expect_op_bytes(op, "cd!");
  assert_uvs_rc(uvs_stream_readline_start(s, op), UVS_COMPLETED);
  assert_op_result(op, 0);
  assert_int_equal(uvs_op_kind(op), UVS_OP_READLINE);
  expect_op_bytes(op, "ef\n");
  assert_uvs_rc(uvs_stream_readexactly_start(s, 2, op), UVS_COMPLETED);
  assert_op_result(op, 0);
  assert_int_equal(uvs_op_kind(op), UVS_OP_READEXACTLY);
  expect_op_bytes(op, "gh");
  assert_int_equal(uvs_op_tag(op), 42);
  assert_uvs_rc(uvs_stream_read_start(s, 1, op), UVS_PENDING);
  assert_int_equal(uvs_op_is_done(op), 0);
  uvst_feed(s, "i");
  assert_uvs_rc(finish(op, UVS_PENDING), 0);
  expect_op_bytes(op, "i");
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* uvs_op_wait (cq NULL) on a read whose data another thread feeds later;
 * a short wait times out without cancelling anything. */
static void test_async_fed_from_thread(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op = new_op();
  assert_uvs_rc(uvs_stream_readline_start(s, op), UVS_PENDING);
  assert_uvs_rc(uvs_op_wait(op, 0), UVS_ETIMEDOUT);
  uvst_later *l = uvst_feed_later(s, "hello\nworld", 0, 60);
  assert_uvs_rc(uvs_op_wait(op, 10), UVS_ETIMEDOUT);
  assert_int_equal(uvs_op_is_done(op), 0);
  assert_uvs_rc(uvs_op_wait(op, WAIT_MS), 0);
  uvst_later_join(l);
  assert_op_result(op, 0);
  expect_op_bytes(op, "hello\n");
  expect_rest(s, "world");
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* A blocking readline waits for a feed from another thread. */
static void test_blocking_fed_from_thread(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  struct chunks_job job = {s, {"hel", "lo\nwor", "ld", NULL}, 0, 20};
  uvst_later *l = uvst_later_start(30, chunks_job_run, &job);
  expect_readline(s, "hello\n");
  uvst_later_join(l);
  expect_rest(s, "world");
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* A second reader gets UVS_EBUSY only when it would have to wait. */
static void test_ebusy_only_when_waiting(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op1 = new_op();
  uvs_op *op2 = new_op();
  void *d = NULL;
  size_t len = 0;
  uvst_feed(s, "abc");
  assert_uvs_rc(uvs_stream_readexactly_start(s, 5, op1), UVS_PENDING);
  assert_uvs_rc(uvs_stream_read_start(s, 2, op2), UVS_COMPLETED);
  assert_op_result(op2, 0);
  expect_op_bytes(op2, "ab");
  expect_read(s, 5, "c");
  assert_uvs_rc(uvs_stream_read_start(s, 2, op2), UVS_EBUSY);
  assert_uvs_rc(uvs_stream_readline_start(s, op2), UVS_EBUSY);
  assert_uvs_rc(uvs_stream_readexactly_start(s, 1, op2), UVS_EBUSY);
  assert_uvs_rc(uvs_stream_read(s, 1, 0, &d, &len), UVS_EBUSY);
  assert_uvs_rc(uvs_stream_read(s, 1, WAIT_MS, &d, &len), UVS_EBUSY);
  uvs_free(d);
  assert_int_equal(uvs_op_is_done(op1), 0);
  uvst_feed(s, "defghi");
  assert_uvs_rc(finish(op1, UVS_PENDING), 0);
  expect_op_bytes(op1, "defgh");
  expect_rest(s, "i");
  assert_uvs_rc(uvs_op_free(op1), 0);
  assert_uvs_rc(uvs_op_free(op2), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* A blocking read that times out consumes nothing and does not stay
 * registered as the waiter. */
static void test_blocking_timeout_keeps_buffer(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  void *d = NULL;
  size_t len = 0;
  uvst_feed(s, "abc");
  int64_t t0 = uvst_now_ms();
  assert_uvs_rc(uvs_stream_readexactly(s, 6, 50, &d, &len), UVS_ETIMEDOUT);
  int64_t elapsed = uvst_now_ms() - t0;
  assert_true(elapsed >= 40); /* not before its time */
  uvs_free(d);
  d = NULL;
  assert_uvs_rc(uvs_stream_readline(s, 0, &d, &len), UVS_ETIMEDOUT);
  uvs_free(d);
  uvst_feed(s, "def");
  expect_readexactly(s, 6, "abcdef");
  expect_rest(s, "");
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* An op timeout (needs an engine): UVS_ETIMEDOUT, nothing consumed. */
static void test_op_timeout_keeps_buffer(void **state) {
  (void)state;
  uvs_engine *e = uvst_engine_new(1);
  uvs_stream *s = uvst_reader_new(e, 0);
  uvs_op *op = new_op();
  uvst_feed(s, "abc");
  assert_uvs_rc(uvs_op_set_timeout(op, 50), 0);
  int64_t t0 = uvst_now_ms();
  assert_uvs_rc(uvs_stream_readexactly_start(s, 6, op), UVS_PENDING);
  assert_uvs_rc(finish(op, UVS_PENDING), UVS_ETIMEDOUT);
  assert_true(uvst_now_ms() - t0 >= 40);
  assert_uvs_rc(uvs_op_set_timeout(op, -1), 0);
  assert_uvs_rc(uvs_stream_readexactly_start(s, 6, op), UVS_PENDING);
  uvst_feed(s, "defg");
  assert_uvs_rc(finish(op, UVS_PENDING), 0);
  expect_op_bytes(op, "abcdef");
  expect_rest(s, "g");
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
  assert_uvs_rc(uvs_engine_free(e), 0);
}

/* uvs_op_cancel: UVS_ECANCELED, nothing consumed, the reader reusable. */
static void test_cancel_pending_read(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op = new_op();
  uvst_feed(s, "ab");
  assert_uvs_rc(uvs_stream_readuntil_start(s, "\n", 1, op), UVS_PENDING);
  assert_uvs_rc(uvs_op_cancel(op), 0);
  assert_uvs_rc(finish(op, UVS_PENDING), UVS_ECANCELED);
  assert_uvs_rc(uvs_op_cancel(op), 0); /* already done: still 0 */
  assert_uvs_rc(uvs_op_result(op), UVS_ECANCELED);
  assert_uvs_rc(uvs_stream_readline_start(s, op), UVS_PENDING);
  uvst_feed(s, "c\n");
  assert_uvs_rc(finish(op, UVS_PENDING), 0);
  expect_op_bytes(op, "abc\n");
  expect_rest(s, "");
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* Unlike asyncio's read(-1), a cancelled or timed-out read(-1) consumes
 * nothing (header conventions), even with chunks larger than the limit. */
static void test_read_minus_one_cancel_keeps_data(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 2);
  uvs_op *op = new_op();
  void *d = NULL;
  size_t len = 0;
  assert_uvs_rc(uvs_stream_read_start(s, -1, op), UVS_PENDING);
  uvst_feed(s, "abc");
  uvst_feed(s, "def");
  assert_uvs_rc(uvs_op_wait(op, 30), UVS_ETIMEDOUT);
  assert_uvs_rc(uvs_op_cancel(op), 0);
  assert_uvs_rc(finish(op, UVS_PENDING), UVS_ECANCELED);
  assert_uvs_rc(uvs_stream_read(s, -1, 50, &d, &len), UVS_ETIMEDOUT);
  uvs_free(d);
  uvst_feed(s, "g");
  expect_rest(s, "abcdefg");
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* Cancel racing with the feed that completes the read: the op completes
 * exactly once, and the bytes are either in the op (result 0) or still in
 * the buffer (UVS_ECANCELED), never lost or duplicated. */
static void test_cancel_races_completion(void **state) {
  (void)state;
  int completed = 0, cancelled = 0;
  for (int i = 0; i < 200; i++) {
    uvs_stream *s = uvst_reader_new(NULL, 0);
    uvs_op *op = new_op();
    assert_uvs_rc(uvs_stream_readexactly_start(s, 4, op), UVS_PENDING);
    uvst_later *l = uvst_feed_later(s, "abcd", 0, 0);
    for (volatile int spin = 0; spin < (i % 8) * 100000; spin++) {
    }
    assert_uvs_rc(uvs_op_cancel(op), 0);
    int rc = finish(op, UVS_PENDING);
    uvst_later_join(l);
    if (rc == 0) {
      completed++;
      expect_op_bytes(op, "abcd");
      expect_rest(s, "");
    } else {
      cancelled++;
      assert_uvs_rc(rc, UVS_ECANCELED);
      expect_rest(s, "abcd");
    }
    assert_uvs_rc(uvs_op_free(op), 0);
    assert_uvs_rc(uvs_stream_free(s), 0);
  }
  print_message("cancel race: %d completed, %d cancelled\n", completed,
                cancelled);
}

/* The same race between an op timeout (needs an engine) and the feed. */
static void test_timeout_races_completion(void **state) {
  (void)state;
  uvs_engine *e = uvst_engine_new(1);
  for (int i = 0; i < 100; i++) {
    uvs_stream *s = uvst_reader_new(e, 0);
    uvs_op *op = new_op();
    assert_uvs_rc(uvs_op_set_timeout(op, 1), 0);
    assert_uvs_rc(uvs_stream_readexactly_start(s, 4, op), UVS_PENDING);
    uvst_later *l = uvst_feed_later(s, "abcd", 0, 1);
    int rc = finish(op, UVS_PENDING);
    uvst_later_join(l);
    if (rc == 0) {
      expect_op_bytes(op, "abcd");
      expect_rest(s, "");
    } else {
      assert_uvs_rc(rc, UVS_ETIMEDOUT);
      expect_rest(s, "abcd");
    }
    assert_uvs_rc(uvs_op_free(op), 0);
    assert_uvs_rc(uvs_stream_free(s), 0);
  }
  assert_uvs_rc(uvs_engine_free(e), 0);
}

/* Freeing an op with a pending read cancels it; the reader is reusable. */
static void test_free_pending_op(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op = new_op();
  uvst_feed(s, "xy");
  assert_uvs_rc(uvs_stream_readexactly_start(s, 5, op), UVS_PENDING);
  assert_uvs_rc(uvs_op_free(op), 0);
  uvst_feed(s, "z");
  expect_read(s, 10, "xyz");
  expect_rest(s, "");
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* uvs_op_unread puts a completed read's bytes back at the head. */
static void test_unread(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op = new_op();
  uvst_feed(s, "line1\nline2\n");
  assert_uvs_rc(uvs_stream_readline_start(s, op), UVS_COMPLETED);
  assert_op_result(op, 0);
  expect_op_bytes(op, "line1\n");
  assert_uvs_rc(uvs_op_unread(op), 0);
  assert_uvs_rc(uvs_op_result(op), UVS_ECANCELED);
  assert_true(uvs_op_unread(op) < 0); /* nothing left to give back */
  expect_readline(s, "line1\n");
  assert_uvs_rc(uvs_stream_readexactly_start(s, 3, op), UVS_COMPLETED);
  expect_op_bytes(op, "lin");
  uvst_feed(s, "tail");
  assert_uvs_rc(uvs_op_unread(op), 0);
  expect_rest(s, "line2\ntail");
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* uvs_op_unread is "only valid before the next read": once another read
 * took bytes after it, putting the old bytes back would reorder the stream,
 * so the call must be refused and the stream left as it is. */
static void test_unread_after_next_read_refused(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op1 = new_op();
  uvs_op *op2 = new_op();
  uvst_feed(s, "a\nb\nc\n");
  assert_uvs_rc(uvs_stream_readline_start(s, op1), UVS_COMPLETED);
  expect_op_bytes(op1, "a\n");
  assert_uvs_rc(uvs_stream_readline_start(s, op2), UVS_COMPLETED);
  expect_op_bytes(op2, "b\n");
  assert_true(uvs_op_unread(op1) < 0);
  expect_rest(s, "c\n");
  assert_uvs_rc(uvs_op_free(op1), 0);
  assert_uvs_rc(uvs_op_free(op2), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* uvs_op_unread of a failed read is refused and changes nothing. */
static void test_unread_failed_read(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 3);
  uvs_op *op = new_op();
  uvst_feed(s, "abcdef");
  assert_uvs_rc(uvs_stream_readuntil_start(s, "\n", 1, op), UVS_COMPLETED);
  assert_op_result(op, UVS_ELIMIT);
  assert_true(uvs_op_unread(op) < 0);
  assert_uvs_rc(uvs_op_result(op), UVS_ELIMIT);
  expect_rest(s, "abcdef");
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* Extra info of a reader. */
static void test_reader_info(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 1234);
  int64_t v = -1;
  char *str = NULL;
  assert_uvs_rc(uvs_stream_get_int(s, "limit", &v), 0);
  assert_int_equal(v, 1234);
  assert_uvs_rc(uvs_stream_get_int(s, "read_buffer_size", &v), 0);
  assert_int_equal(v, 0);
  uvst_feed(s, "12345");
  assert_uvs_rc(uvs_stream_get_int(s, "read_buffer_size", &v), 0);
  assert_int_equal(v, 5);
  assert_uvs_rc(uvs_stream_get_int(s, "fd", &v), UVS_ENOENT);
  assert_uvs_rc(uvs_stream_get_str(s, "kind", &str), 0);
  assert_non_null(str);
  assert_string_equal(str, "reader");
  uvs_free(str);
  assert_uvs_rc(uvs_stream_free(s), 0);
  s = uvst_reader_new(NULL, 0);
  assert_uvs_rc(uvs_stream_get_int(s, "limit", &v), 0);
  assert_int_equal(v, 65536);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_read_zero),
      T(test_read_across_feeds),
      T(test_read_not_bounded_by_limit),
      T(test_read_empty_then_eof),
      T(test_read_pending_then_eof),
      T(test_read_until_eof),
      T(test_readline_limit_found),
      T(test_readline_limit_found_blocking),
      T(test_readline_limit_not_found),
      T(test_readline_limit7_found),
      T(test_readline_limit7_single_line),
      T(test_readline_partial_at_eof),
      T(test_readuntil_incomplete_op),
      T(test_readuntil_incomplete_blocking),
      T(test_readuntil_limit_not_found_then_found),
      T(test_readuntil_split_separator),
      T(test_readuntil_split_separator_buffered),
      T(test_readuntil_any_cr_lf),
      T(test_readuntil_any_earliest_end),
      T(test_readuntil_any_limit_shortest),
      T(test_readuntil_any_negative_offset),
      T(test_readuntil_crlf),
      T(test_readexactly_incomplete),
      T(test_readexactly_incomplete_blocking),
      T(test_readexactly_negative),
      T(test_read_zero_stored_error),
      T(test_read_minus_one_pending),
      T(test_read_any_negative),
      T(test_read_short),
      T(test_readexactly_over_limit),
      T(test_readexactly_zero),
      T(test_readline_spans_feeds),
      T(test_readline_then_read_count),
      T(test_limit_boundary_found),
      T(test_limit_boundary_not_found),
      T(test_limit_overrun_while_waiting),
      T(test_limit_not_found_multibyte),
      T(test_limit_not_found_any_uses_max_len),
      T(test_multi_sep_tie_shortest),
      T(test_multi_sep_order_irrelevant),
      T(test_empty_separators),
      T(test_eof_empty_buffer),
      T(test_eof_partial_line),
      T(test_eof_partial_separator),
      T(test_eof_while_waiting_partial_separator),
      T(test_limit_before_eof),
      T(test_at_eof),
      T(test_feed_empty_data),
      T(test_set_error_sticky),
      T(test_set_error_wakes_waiter),
      T(test_set_error_wakes_blocking_waiter),
      T(test_set_error_after_cancel),
      T(test_start_completed_fast_path),
      T(test_async_fed_from_thread),
      T(test_blocking_fed_from_thread),
      T(test_ebusy_only_when_waiting),
      T(test_blocking_timeout_keeps_buffer),
      T(test_op_timeout_keeps_buffer),
      T(test_cancel_pending_read),
      T(test_read_minus_one_cancel_keeps_data),
      T(test_cancel_races_completion),
      T(test_timeout_races_completion),
      T(test_free_pending_op),
      T(test_unread),
      T(test_unread_after_next_read_refused),
      T(test_unread_failed_read),
      T(test_reader_info),
  };
  return cmocka_run_group_tests_name("reader", tests, NULL, NULL);
}
