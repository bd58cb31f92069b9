/*
 * test_reader.c - the standalone reader (uvs_reader_new + feed_data /
 * feed_eof / set_error) against asyncio's StreamReader semantics.
 *
 * Most cases are rows of one table (rows[], below), each a cmocka test of
 * its own, named after the row, played by one runner through the *_start
 * calls, the blocking calls and, where a row asks, with the call started
 * before its last feeds: every row of the edge-case table in section 2.16 of
 * asyncio-streams-spec.md, the readuntil search algorithm (exact consumed
 * values and messages for both LimitOverrunError kinds, multiple
 * separators), EOF in every state, the sticky stored error. The functions
 * after the table cover what a table does not: reads woken from another
 * thread, UVS_EBUSY, timeouts and cancellation that consume nothing,
 * uvs_op_unread, the reader's extra info.
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

/* The buffer holds exactly exp: feeds EOF, reads everything, checks at_eof.
 * Ends the reader's useful life (EOF). */
static void expect_rest(uvs_stream *s, const char *exp) {
  assert_uvs_rc(uvs_reader_feed_eof(s), 0);
  expect_read(s, -1, exp);
  assert_int_equal(uvs_stream_at_eof(s), 1);
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

/* ---- table-driven cases -------------------------------------------------- */

/* One row of the table is a reader (limit), what is fed to it (feeds, then
 * late feeds, then EOF or an error) and up to seven calls, each with its
 * expected outcome and the buffer it leaves behind. The runner plays a row
 * on a fresh reader for each way of calling:
 *   op        *_start on the fed reader: UVS_COMPLETED (or UVS_PENDING for
 *             a call that must wait), the result, bytes, consumed (and the
 *             found / not found message), expected, kind and tag in the op;
 *   blocking  the blocking call: result, bytes (partial bytes too) and, for
 *             readuntil, consumed;
 *   pending   (rows with .pend) the first call started before the late feeds
 *             and the end: UVS_PENDING, still pending after every event but
 *             the last, then the same outcome as above.
 * Before and after every call: read_buffer_size, at_eof (EOF fed and the
 * buffer empty) and the stored error. After the last call, unless an error is
 * stored: EOF, read(-1) returns the rest, at_eof. */

enum call { READ = 1, EXACTLY, UNTIL, ANY, LINE };
enum limit_kind { FOUND = 1, NOT_FOUND };
#define END_EOF 1
/* Expected "result" of a call that must wait: its op stays UVS_PENDING (and
 * is cancelled, UVS_ECANCELED, nothing consumed), the blocking call times
 * out. */
#define WAITS_RC UVS_ETIMEDOUT
#define MAX_STEPS 7

struct step {
  const char *feed; /* fed before the call (NULL: nothing) */
  int eof;          /* then EOF */
  int call;         /* enum call */
  int64_t n;        /* READ, EXACTLY */
  /* UNTIL: sep[0] (NULL: a NULL pointer of length 0); ANY: the non-NULL
   * leading entries (none: nseps 0) */
  const char *sep[3];
  int rc;            /* expected result (WAITS_RC: the call waits) */
  const char *bytes; /* rc 0: the bytes; UVS_EINCOMPLETE: partial bytes */
  int64_t consumed;  /* UVS_ELIMIT: consumed */
  int limit_kind;    /* UVS_ELIMIT: FOUND or NOT_FOUND (op error message) */
  const char *rest;  /* the buffer after the call */
};

struct row {
  const char *name;
  int64_t limit;        /* 0: the default, 64 KiB */
  const char *feeds[4]; /* fed first */
  const char *late[4];  /* fed next (pending mode: after the first start) */
  int end;              /* last: 0, END_EOF or an error for set_error */
  int pend;             /* also run the pending mode */
  struct step step[MAX_STEPS];
};

/* A step is {[FEED(str),] call, outcome, REST(buffer after)}. */
#define FEED(str) .feed = (str)
#define RD(n_) .call = READ, .n = (n_)
#define EX(n_) .call = EXACTLY, .n = (n_)
#define UN(sep_) .call = UNTIL, .sep = {sep_}
#define AN(...) .call = ANY, .sep = {__VA_ARGS__}
#define LN .call = LINE
#define OK(bytes_) .bytes = (bytes_)
#define ERR(rc_) .rc = (rc_)
#define INCOMPLETE(bytes_) .rc = UVS_EINCOMPLETE, .bytes = (bytes_)
#define LIMIT_FOUND(c) .rc = UVS_ELIMIT, .limit_kind = FOUND, .consumed = (c)
#define LIMIT_NOT_FOUND(c)                                                     \
  .rc = UVS_ELIMIT, .limit_kind = NOT_FOUND, .consumed = (c)
#define WAITS .rc = WAITS_RC
#define REST(str) .rest = (str)

static const struct row rows[] = {
    /* 2.16: read */
    {.name = "read_zero",
     .feeds = {"line1\nline2\nline3\n"},
     .step = {{RD(0), OK(""), REST("line1\nline2\nline3\n")}}},
    {.name = "read_across_feeds",
     .feeds = {"line1", "line2"},
     .step = {{RD(5), OK("line1"), REST("line2")}}},
    {.name = "read_not_bounded_by_limit",
     .limit = 3,
     .feeds = {"chunk"},
     .step = {{RD(5), OK("chunk"), REST("")}}},
    {.name = "read_empty_then_eof",
     .end = END_EOF,
     .pend = 1,
     .step = {{RD(1024), OK(""), REST("")}}},
    {.name = "read_until_eof",
     .late = {"chunk1\n", "chunk2"},
     .end = END_EOF,
     .pend = 1,
     .step = {{RD(-1), OK("chunk1\nchunk2"), REST("")}}},
    /* 2.16: readline */
    {.name = "readline_limit_found",
     .limit = 3,
     .feeds = {"line1\nline2\n"},
     .step = {{LN, LIMIT_FOUND(5), REST("line2\n")}}},
    /* not found: the buffer is cleared, and the rest of that line is then
     * returned by the next readline as if it were a whole line. */
    {.name = "readline_limit_not_found",
     .limit = 3,
     .feeds = {"line1li"},
     .step = {{LN, LIMIT_NOT_FOUND(7), REST("")},
              {FEED("ne\n"), LN, OK("ne\n"), REST("")}}},
    {.name = "readline_limit7_found",
     .limit = 7,
     .feeds = {"chunk1", "chunk2\n", "chunk3\n"},
     .end = END_EOF,
     .step = {{LN, LIMIT_FOUND(12), REST("chunk3\n")},
              {LN, OK("chunk3\n"), REST("")},
              {LN, OK(""), REST("")}}},
    {.name = "readline_limit7_single_line",
     .limit = 7,
     .feeds = {"chunk1", "chunk2", "chunk3\n"},
     .end = END_EOF,
     .step = {{LN, LIMIT_FOUND(18), REST("")}, {LN, OK(""), REST("")}}},
    {.name = "readline_partial_at_eof",
     .feeds = {"some data"},
     .end = END_EOF,
     .step = {{LN, OK("some data"), REST("")}}},
    /* 2.16: readuntil */
    {.name = "readuntil_incomplete",
     .feeds = {"some dataAA"},
     .end = END_EOF,
     .pend = 1,
     .step = {{UN("AAA"), INCOMPLETE("some dataAA"), REST("")}}},
    /* not found, consumed 9 = 11 + 1 - 3; one more "A": found, consumed 9
     * (the separator's start). Nothing removed. */
    {.name = "readuntil_limit_not_found_then_found",
     .limit = 3,
     .feeds = {"some dataAA"},
     .step = {{UN("AAA"), LIMIT_NOT_FOUND(9), REST("some dataAA")},
              {FEED("A"), UN("AAA"), LIMIT_FOUND(9), REST("some dataAAA")}}},
    /* "aaa" only completes with the last feed. */
    {.name = "readuntil_split_separator",
     .feeds = {"QWEaa"},
     .late = {"XYaa", "a"},
     .pend = 1,
     .step = {{UN("aaa"), OK("QWEaaXYaaa"), REST("")}}},
    {.name = "readuntil_any_cr_lf",
     .feeds = {"line 1\nline 2\r"},
     .step = {{AN("\r", "\n"), OK("line 1\n"), REST("line 2\r")},
              {AN("\r", "\n"), OK("line 2\r"), REST("")}}},
    /* the earliest end wins although longer */
    {.name = "readuntil_any_earliest_end",
     .feeds = {"ABCDEFG"},
     .step = {{AN("DEF", "BCDE"), OK("ABCDE"), REST("FG")}}},
    /* both end at 10, the shortest ("A", start 9) counts for the limit */
    {.name = "readuntil_any_limit_shortest",
     .limit = 3,
     .feeds = {"some dataA"},
     .step = {{AN("A", "ome dataA"), LIMIT_FOUND(9), REST("some dataA")}}},
    /* the offset clamps at 0 while the buffer is shorter than "long sep" */
    {.name = "readuntil_any_negative_offset",
     .feeds = {"data"},
     .late = {"Z", "Aaaa"},
     .pend = 1,
     .step = {{AN("A", "long sep"), OK("dataZA"), REST("aaa")}}},
    {.name = "readuntil_crlf",
     .feeds = {"some data\r\n"},
     .step = {{UN("\r\n"), OK("some data\r\n"), REST("")}}},
    /* 2.16: readexactly */
    {.name = "readexactly_incomplete",
     .feeds = {"012345678901234567"},
     .end = END_EOF,
     .pend = 1,
     .step = {{EX(36), INCOMPLETE("012345678901234567"), REST("")}}},
    /* UVS_EINVAL from the call itself */
    {.name = "readexactly_negative",
     .feeds = {"abc"},
     .step = {{EX(-1), ERR(UVS_EINVAL), REST("abc")},
              {EX(-5), ERR(UVS_EINVAL), REST("abc")}}},
    /* ---- more read / readexactly */
    /* the stored-error check comes before the n == 0 shortcut */
    {.name = "read_zero_stored_error",
     .feeds = {"ne\n"},
     .end = UVS_ECONNRESET,
     .step = {{RD(0), ERR(UVS_ECONNRESET), REST("ne\n")}}},
    {.name = "read_any_negative",
     .feeds = {"abc", "def"},
     .end = END_EOF,
     .step = {{RD(-100), OK("abcdef"), REST("")}}},
    /* n > 0 returns what is there once something is, possibly less */
    {.name = "read_short",
     .late = {"line1"},
     .pend = 1,
     .step = {{RD(30), OK("line1"), REST("")},
              {FEED("line2"), RD(30), OK("line2"), REST("")}}},
    {.name = "readexactly_over_limit",
     .limit = 3,
     .feeds = {"12345"},
     .step = {{EX(5), OK("12345"), REST("")}}},
    {.name = "readexactly_over_limit_across_feeds",
     .limit = 3,
     .late = {"abcd", "efgh", "ijkl"},
     .pend = 1,
     .step = {{EX(10), OK("abcdefghij"), REST("kl")}}},
    {.name = "readexactly_zero",
     .step = {{EX(0), OK(""), REST("")},
              {FEED("abc"), EX(0), OK(""), REST("abc")}}},
    {.name = "readline_spans_feeds",
     .late = {"chunk1 ", "chunk2 ", "chunk3 \n chunk4"},
     .pend = 1,
     .step = {{LN, OK("chunk1 chunk2 chunk3 \n"), REST(" chunk4")}}},
    {.name = "readline_then_read_count",
     .feeds = {"line1\nline2\nline3\n"},
     .step = {{LN, OK("line1\n"), REST("line2\nline3\n")},
              {RD(7), OK("line2\nl"), REST("ine3\n")}}},
    /* ---- limits and the search algorithm */
    /* limit 7: 7 bytes before the separator pass, 8 fail (found, consumed
     * 8); readline then drops the 9 bytes. */
    {.name = "limit_boundary_found",
     .limit = 7,
     .feeds = {"1234567\n"},
     .step = {{LN, OK("1234567\n"), REST("")},
              {FEED("12345678\n"), UN("\n"), LIMIT_FOUND(8),
               REST("12345678\n")},
              {UN("\n"), LIMIT_FOUND(8), REST("12345678\n")},
              {LN, LIMIT_FOUND(8), REST("")},
              {FEED("ok\n"), LN, OK("ok\n"), REST("")}}},
    /* limit 7 without a separator: 7 bytes keep waiting (offset 7 is not
     * > 7), 8 bytes fail (not found, consumed 8). */
    {.name = "limit_boundary_not_found",
     .limit = 7,
     .feeds = {"1234567"},
     .late = {"\n"},
     .pend = 1,
     .step = {{UN("\n"), OK("1234567\n"), REST("")},
              {FEED("12345678"), UN("\n"), LIMIT_NOT_FOUND(8),
               REST("12345678")}}},
    {.name = "limit_boundary_waits",
     .limit = 7,
     .feeds = {"1234567"},
     .step = {{UN("\n"), WAITS, REST("1234567")},
              {LN, WAITS, REST("1234567")}}},
    /* a waiting readuntil that the next feed pushes over the limit fails
     * with the "not found" consumed = buflen + 1 - seplen */
    {.name = "limit_overrun_while_waiting",
     .limit = 7,
     .feeds = {"12345"},
     .late = {"67890"},
     .pend = 1,
     .step = {{UN("\n"), LIMIT_NOT_FOUND(10), REST("1234567890")}}},
    /* multi-byte separator: offset = 9 + 1 - 3 */
    {.name = "limit_not_found_multibyte",
     .limit = 4,
     .feeds = {"abcdefgAA"},
     .step = {{UN("AAA"), LIMIT_NOT_FOUND(7), REST("abcdefgAA")}}},
    /* several separators: the offset keeps max_len - 1 bytes; 10 bytes give
     * offset 3 (wait), 11 give 4 (fail) */
    {.name = "limit_not_found_any_uses_max_len",
     .limit = 3,
     .feeds = {"abcdefghij"},
     .late = {"k"},
     .pend = 1,
     .step = {{AN("X", "LONGSEP1"), LIMIT_NOT_FOUND(4), REST("abcdefghijk")}}},
    /* ties on the end position go to the shortest separator: "c" (start 5)
     * is over the limit although "abc" (start 3) would not be */
    {.name = "multi_sep_tie_shortest",
     .limit = 3,
     .feeds = {"xxxabc"},
     .step = {{AN("abc", "c"), LIMIT_FOUND(5), REST("xxxabc")}}},
    /* earliest end wins whatever the order of the separators */
    {.name = "multi_sep_order_irrelevant",
     .feeds = {"ABCDEFGxxabcyy"},
     .step = {{AN("BCDE", "DEF"), OK("ABCDE"), REST("FGxxabcyy")},
              {AN("abc", "bc"), OK("FGxxabc"), REST("yy")}}},
    /* "\r" ends before "\r\n" does */
    {.name = "multi_sep_earliest_end_shorter",
     .feeds = {"a\r\nb"},
     .step = {{AN("\r\n", "\r"), OK("a\r"), REST("\nb")}}},
    /* empty separator list, empty separator: UVS_EINVAL from the call */
    {.name = "empty_separators",
     .feeds = {"abc\n"},
     .step = {{UN(""), ERR(UVS_EINVAL), REST("abc\n")},
              {UN(NULL), ERR(UVS_EINVAL), REST("abc\n")},
              {.call = ANY, ERR(UVS_EINVAL), REST("abc\n")},
              {AN("\n", ""), ERR(UVS_EINVAL), REST("abc\n")},
              {AN(""), ERR(UVS_EINVAL), REST("abc\n")}}},
    /* ... checked before the stored error */
    {.name = "empty_separators_before_stored_error",
     .feeds = {"abc\n"},
     .end = UVS_EPIPE,
     .step = {{UN(""), ERR(UVS_EINVAL), REST("abc\n")},
              {.call = ANY, ERR(UVS_EINVAL), REST("abc\n")},
              {UN("\n"), ERR(UVS_EPIPE), REST("abc\n")}}},
    /* ---- EOF in every state */
    {.name = "eof_empty_buffer",
     .end = END_EOF,
     .step = {{RD(10), OK(""), REST("")},
              {RD(-1), OK(""), REST("")},
              {LN, OK(""), REST("")},
              {EX(3), INCOMPLETE(""), REST("")},
              {UN("\n"), INCOMPLETE(""), REST("")}}},
    {.name = "eof_partial_line_readuntil",
     .feeds = {"abc"},
     .end = END_EOF,
     .step = {{UN("\n"), INCOMPLETE("abc"), REST("")}}},
    {.name = "eof_partial_line_readexactly",
     .feeds = {"abc"},
     .end = END_EOF,
     .step = {{EX(5), INCOMPLETE("abc"), REST("")}}},
    /* a partial separator at EOF is part of the partial bytes; a separator
     * completed by the final chunk is still found */
    {.name = "eof_partial_separator",
     .feeds = {"abc\r", "\n", "def\r"},
     .end = END_EOF,
     .step = {{UN("\r\n"), OK("abc\r\n"), REST("def\r")},
              {UN("\r\n"), INCOMPLETE("def\r"), REST("")}}},
    {.name = "readuntil_partial_separator_waits",
     .feeds = {"abc\r"},
     .step = {{UN("\r\n"), WAITS, REST("abc\r")}}},
    /* the limit check precedes the EOF check: an over-long unterminated
     * chunk at EOF is UVS_ELIMIT (buffer kept); readline discards it */
    {.name = "limit_before_eof",
     .limit = 3,
     .feeds = {"abcdefgh"},
     .end = END_EOF,
     .step = {{UN("\n"), LIMIT_NOT_FOUND(8), REST("abcdefgh")},
              {LN, LIMIT_NOT_FOUND(8), REST("")}}},
    {.name = "at_eof",
     .feeds = {"some data\n"},
     .step = {{LN, OK("some data\n"), REST("")},
              {FEED("x"), .eof = 1, RD(1), OK("x"), REST("")}}},
    /* feed_data of 0 bytes changes nothing and wakes nobody */
    {.name = "feed_empty_data",
     .late = {"", "z"},
     .pend = 1,
     .step = {{RD(10), OK("z"), REST("")}}},
    /* ---- stored error */
    /* sticky: every read fails although bytes stay buffered; EOF is not
     * set; readexactly's argument check comes first */
    {.name = "set_error_sticky",
     .feeds = {"ne\n"},
     .end = UVS_ECONNRESET,
     .step = {{RD(2), ERR(UVS_ECONNRESET), REST("ne\n")},
              {LN, ERR(UVS_ECONNRESET), REST("ne\n")},
              {EX(1), ERR(UVS_ECONNRESET), REST("ne\n")},
              {EX(0), ERR(UVS_ECONNRESET), REST("ne\n")},
              {EX(-1), ERR(UVS_EINVAL), REST("ne\n")},
              {UN("\n"), ERR(UVS_ECONNRESET), REST("ne\n")},
              {RD(-1), ERR(UVS_ECONNRESET), REST("ne\n")}}},
    /* the error wakes a waiting read and leaves the buffer alone */
    {.name = "set_error_wakes_pending",
     .feeds = {"partial"},
     .end = UVS_EPIPE,
     .pend = 1,
     .step = {{LN, ERR(UVS_EPIPE), REST("partial")}}},
    /* ---- operations on a reader */
    /* every *_start returns UVS_COMPLETED when the buffer satisfies it */
    {.name = "start_completed_fast_path",
     .feeds = {"ab;cd!ef\ngh"},
     .step = {{RD(1), OK("a"), REST("b;cd!ef\ngh")},
              {UN(";"), OK("b;"), REST("cd!ef\ngh")},
              {AN(";", "!"), OK("cd!"), REST("ef\ngh")},
              {LN, OK("ef\n"), REST("gh")},
              {EX(2), OK("gh"), REST("")}}},
};

enum mode { MODE_OP, MODE_BLOCKING, MODE_PENDING };
static const char *const mode_names[] = {"op", "blocking", "pending"};

/* What the runner knows of the reader it plays a row on. */
struct play {
  const struct row *r;
  enum mode mode;
  int step;
  uvs_stream *s;
  uvs_buf seps[3];
  size_t nseps;
  size_t buffered;
  int eof;
  int err;
};

/* Says where a check failed (before cmocka's own message). */
static void where(const struct play *p) {
  print_error("row %s, %s mode, call %d\n", p->r->name, mode_names[p->mode],
              p->step + 1);
}

#define EXPECT_INT(p, got, exp)                                                \
  do {                                                                         \
    int64_t g_ = (int64_t)(got), e_ = (int64_t)(exp);                          \
    if (g_ != e_) {                                                            \
      where(p);                                                                \
    }                                                                          \
    assert_int_equal(g_, e_);                                                  \
  } while (0)
#define EXPECT_RC(p, got, exp)                                                 \
  do {                                                                         \
    int g_ = (got), e_ = (exp);                                                \
    if (g_ != e_) {                                                            \
      where(p);                                                                \
    }                                                                          \
    assert_uvs_rc(g_, e_);                                                     \
  } while (0)

static void expect_bytes(const struct play *p, const void *d, size_t len,
                         const char *exp) {
  if (len != strlen(exp) || (len > 0 && memcmp(d, exp, len) != 0)) {
    where(p);
  }
  assert_bytes_equal_n(d, len, exp, strlen(exp));
}

/* read_buffer_size, at_eof and the stored error agree with what was fed
 * and read. */
static void check_state(const struct play *p) {
  int64_t n = -1;
  EXPECT_RC(p, uvs_stream_get_int(p->s, "read_buffer_size", &n), 0);
  EXPECT_INT(p, n, p->buffered);
  EXPECT_INT(p, uvs_stream_at_eof(p->s), p->eof && p->buffered == 0);
  EXPECT_RC(p, uvs_stream_error(p->s), p->err);
}

static void play_feed(struct play *p, const char *str) {
  uvst_feed(p->s, str);
  p->buffered += strlen(str);
}

static void play_end(struct play *p) {
  if (p->r->end == END_EOF) {
    assert_uvs_rc(uvs_reader_feed_eof(p->s), 0);
    p->eof = 1;
  } else if (p->r->end < 0) {
    assert_uvs_rc(uvs_reader_set_error(p->s, p->r->end), 0);
    p->err = p->r->end;
  }
}

static const char *sep0(const struct step *st) {
  return st->sep[0];
}
static size_t sep0_len(const struct step *st) {
  return st->sep[0] != NULL ? strlen(st->sep[0]) : 0;
}

static void set_step(struct play *p, int i) {
  const struct step *st = &p->r->step[i];
  p->step = i;
  p->nseps = 0;
  for (size_t k = 0; k < 3 && st->sep[k] != NULL; k++) {
    p->seps[k].base = st->sep[k];
    p->seps[k].len = strlen(st->sep[k]);
    p->nseps = k + 1;
  }
}

static int start_call(struct play *p, uvs_op *op) {
  const struct step *st = &p->r->step[p->step];
  switch (st->call) {
  case READ:
    return uvs_stream_read_start(p->s, st->n, op);
  case EXACTLY:
    return uvs_stream_readexactly_start(p->s, st->n, op);
  case UNTIL:
    return uvs_stream_readuntil_start(p->s, sep0(st), sep0_len(st), op);
  case ANY:
    return uvs_stream_readuntil_any_start(p->s, p->seps, p->nseps, op);
  default:
    return uvs_stream_readline_start(p->s, op);
  }
}

static const int op_kinds[] = {0,
                               UVS_OP_READ,
                               UVS_OP_READEXACTLY,
                               UVS_OP_READUNTIL,
                               UVS_OP_READUNTIL,
                               UVS_OP_READLINE};

/* The op's outcome is the step's. */
static void check_op(struct play *p, uvs_op *op) {
  const struct step *st = &p->r->step[p->step];
  EXPECT_INT(p, uvs_op_is_done(op), 1);
  EXPECT_INT(p, uvs_op_kind(op), op_kinds[st->call]);
  EXPECT_INT(p, uvs_op_tag(op), 42);
  EXPECT_RC(p, uvs_op_result(op), st->rc);
  if (st->rc == 0 || st->rc == UVS_EINCOMPLETE) {
    const void *d = NULL;
    size_t len = 0;
    EXPECT_RC(p, uvs_op_data(op, &d, &len), 0);
    expect_bytes(p, d, len, st->bytes);
  }
  if (st->rc == UVS_EINCOMPLETE) {
    EXPECT_INT(p, uvs_op_expected(op), st->call == EXACTLY ? st->n : -1);
  }
  if (st->rc == UVS_ELIMIT) {
    const char *msg = uvs_op_error(op);
    EXPECT_INT(p, uvs_op_consumed(op), st->consumed);
    if (msg == NULL || strstr(msg, st->limit_kind == FOUND
                                       ? "Separator is found"
                                       : "Separator is not found") == NULL) {
      where(p);
      fail_msg("UVS_ELIMIT message \"%s\", expected the %s one",
               msg != NULL ? msg : "(null)",
               st->limit_kind == FOUND ? "found" : "not found");
    }
  }
}

/* Starts the step's call on op and checks the immediate return. */
static void op_call(struct play *p, uvs_op *op) {
  const struct step *st = &p->r->step[p->step];
  int rc = start_call(p, op);
  if (st->rc == UVS_EINVAL) {
    EXPECT_RC(p, rc, UVS_EINVAL); /* from the call itself */
  } else if (st->rc == WAITS_RC) {
    EXPECT_RC(p, rc, UVS_PENDING);
    EXPECT_INT(p, uvs_op_is_done(op), 0);
    EXPECT_RC(p, uvs_op_cancel(op), 0);
    EXPECT_RC(p, finish(op, UVS_PENDING), UVS_ECANCELED);
  } else if (rc < 0 && st->rc != 0 && st->rc != UVS_ELIMIT &&
             st->rc != UVS_EINCOMPLETE) {
    EXPECT_RC(p, rc, st->rc); /* a stored error, straight from the call */
  } else {
    EXPECT_RC(p, rc, UVS_COMPLETED);
    check_op(p, op);
  }
}

static void blocking_call(struct play *p) {
  const struct step *st = &p->r->step[p->step];
  int64_t timeout = st->rc == WAITS_RC ? 20 : WAIT_MS;
  void *d = NULL;
  size_t len = 0;
  int64_t consumed = -7;
  int rc;
  switch (st->call) {
  case READ:
    rc = uvs_stream_read(p->s, st->n, timeout, &d, &len);
    break;
  case EXACTLY:
    rc = uvs_stream_readexactly(p->s, st->n, timeout, &d, &len);
    break;
  case UNTIL:
    rc = uvs_stream_readuntil(p->s, sep0(st), sep0_len(st), timeout, &d, &len,
                              &consumed);
    break;
  case ANY:
    rc = uvs_stream_readuntil_any(p->s, p->seps, p->nseps, timeout, &d, &len,
                                  &consumed);
    break;
  default:
    rc = uvs_stream_readline(p->s, timeout, &d, &len);
    break;
  }
  EXPECT_RC(p, rc, st->rc);
  if (st->rc == 0 || st->rc == UVS_EINCOMPLETE) {
    expect_bytes(p, d, len, st->bytes);
  }
  if (st->rc == UVS_ELIMIT && (st->call == UNTIL || st->call == ANY)) {
    EXPECT_INT(p, consumed, st->consumed);
  }
  uvs_free(d);
}

/* Pending mode, first call: started before the late feeds and the end. */
static void pending_call(struct play *p, uvs_op *op) {
  const struct row *r = p->r;
  int events = 0;
  while (events < 4 && r->late[events] != NULL) {
    events++;
  }
  events += r->end != 0;
  EXPECT_RC(p, start_call(p, op), UVS_PENDING);
  for (int i = 0; i < 4 && r->late[i] != NULL; i++) {
    play_feed(p, r->late[i]);
    if (--events > 0) {
      EXPECT_RC(p, uvs_op_wait(op, 30), UVS_ETIMEDOUT);
      EXPECT_INT(p, uvs_op_is_done(op), 0);
    }
  }
  play_end(p);
  EXPECT_RC(p, finish(op, UVS_PENDING), p->r->step[0].rc);
  check_op(p, op);
}

static void play_row(const struct row *r, enum mode mode) {
  struct play p = {.r = r, .mode = mode};
  p.s = uvst_reader_new(NULL, r->limit);
  uvs_op *op = uvst_op_new(NULL, 42);
  check_state(&p);
  for (int i = 0; i < 4 && r->feeds[i] != NULL; i++) {
    play_feed(&p, r->feeds[i]);
  }
  if (mode != MODE_PENDING) {
    for (int i = 0; i < 4 && r->late[i] != NULL; i++) {
      play_feed(&p, r->late[i]);
    }
    play_end(&p);
  }
  for (int i = 0; i < MAX_STEPS && r->step[i].call != 0; i++) {
    const struct step *st = &r->step[i];
    set_step(&p, i);
    if (st->feed != NULL) {
      play_feed(&p, st->feed);
    }
    if (st->eof) {
      assert_uvs_rc(uvs_reader_feed_eof(p.s), 0);
      p.eof = 1;
    }
    check_state(&p);
    if (mode == MODE_PENDING && i == 0) {
      pending_call(&p, op);
    } else if (mode == MODE_BLOCKING) {
      blocking_call(&p);
    } else {
      op_call(&p, op);
    }
    p.buffered = strlen(st->rest);
    check_state(&p);
  }
  if (p.err == 0) {
    expect_rest(p.s, r->step[p.step].rest);
  }
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(p.s), 0);
}

static void test_row(void **state) {
  const struct row *r = ((struct uvst_fixture *)*state)->user;
  play_row(r, MODE_OP);
  play_row(r, MODE_BLOCKING);
  if (r->pend) {
    play_row(r, MODE_PENDING);
  }
}

/* The fd guard's fixture, with the row (the test's prestate) as its user. */
static int row_setup(void **state) {
  void *row = *state;
  int rc = uvst_fd_setup(state);
  if (rc == 0) {
    ((struct uvst_fixture *)*state)->user = row;
  }
  return rc;
}

/* ---- calls that wait for another thread -------------------------------- */

/* A read(1024) that is already waiting returns "" when EOF arrives. */
static void test_read_pending_then_eof(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op = uvst_op_new(NULL, 42);
  assert_uvs_rc(uvs_stream_read_start(s, 1024, op), UVS_PENDING);
  uvst_later *l = uvst_feed_later(s, "", 1, 30);
  assert_uvs_rc(finish(op, UVS_PENDING), 0);
  expect_op_bytes(op, "");
  uvst_later_join(l);
  assert_int_equal(uvs_stream_at_eof(s), 1);
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* read(-1) started first; chunks and EOF arrive from another thread. */
static void test_read_minus_one_pending(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 4);
  uvs_op *op = uvst_op_new(NULL, 42);
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

/* EOF arriving (from another thread) while readuntil waits on a partial
 * separator. */
static void test_eof_while_waiting_partial_separator(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op = uvst_op_new(NULL, 42);
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

/* set_error from another thread wakes a waiting readline with the error. */
static void test_set_error_wakes_waiter(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op = uvst_op_new(NULL, 42);
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
  uvs_op *op = uvst_op_new(NULL, 42);
  assert_uvs_rc(uvs_stream_read_start(s, 10, op), UVS_PENDING);
  assert_uvs_rc(uvs_op_cancel(op), 0);
  assert_uvs_rc(finish(op, UVS_PENDING), UVS_ECANCELED);
  assert_uvs_rc(uvs_reader_set_error(s, UVS_ECONNRESET), 0);
  assert_uvs_rc(uvs_op_result(op), UVS_ECANCELED);
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* ---- operations on a reader --------------------------------------------- */

/* uvs_op_wait (cq NULL) on a read whose data another thread feeds later;
 * a short wait times out without cancelling anything. */
static void test_async_fed_from_thread(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op = uvst_op_new(NULL, 42);
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
  uvs_op *op1 = uvst_op_new(NULL, 42);
  uvs_op *op2 = uvst_op_new(NULL, 42);
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
  uvs_op *op = uvst_op_new(NULL, 42);
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
  uvs_op *op = uvst_op_new(NULL, 42);
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
  uvs_op *op = uvst_op_new(NULL, 42);
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
    uvs_op *op = uvst_op_new(NULL, 42);
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
    uvs_op *op = uvst_op_new(NULL, 42);
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
  uvs_op *op = uvst_op_new(NULL, 42);
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
  uvs_op *op = uvst_op_new(NULL, 42);
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

/* ---- reads into the caller's memory -------------------------------------- */

/* Buffered bytes complete a read into buf at once: they land in buf (the
 * op's data points there), at most cap of them, the rest stays. */
static void test_read_into_buffered(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op = uvst_op_new(NULL, 42);
  char buf[5];
  const void *d = NULL;
  size_t len = 0;
  uvst_feed(s, "hello world");
  assert_uvs_rc(uvs_stream_read_into_start(s, buf, sizeof buf, op),
                UVS_COMPLETED);
  assert_uvs_rc(uvs_op_read_result(op, &d, &len), 0);
  assert_ptr_equal(d, buf);
  assert_bytes_equal(d, len, "hello");
  expect_op_bytes(op, "hello");
  assert_uvs_rc(uvs_stream_read_into(s, buf, 3, WAIT_MS, &len), 0);
  assert_bytes_equal(buf, len, " wo");
  expect_rest(s, "rld");
  assert_uvs_rc(uvs_stream_read_into(s, buf, sizeof buf, WAIT_MS, &len), 0);
  assert_int_equal(len, 0); /* EOF */
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* A read into buf that waits is completed by a feed from another thread. */
static void test_read_into_pending(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op = uvst_op_new(NULL, 42);
  char buf[64];
  memset(buf, '#', sizeof buf);
  assert_uvs_rc(uvs_stream_read_into_start(s, buf, 4, op), UVS_PENDING);
  uvst_later *l = uvst_feed_later(s, "abcdef", 0, 30);
  assert_uvs_rc(finish(op, UVS_PENDING), 0);
  uvst_later_join(l);
  expect_op_bytes(op, "abcd");
  assert_bytes_equal(buf, 5, "abcd#"); /* nothing past cap is written */
  expect_rest(s, "ef");
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* An unused read into buf gives its bytes back like any read, and the op
 * is reused for a plain read afterwards. */
static void test_read_into_unread(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op = uvst_op_new(NULL, 42);
  char buf[3];
  uvst_feed(s, "xyz!");
  assert_uvs_rc(uvs_stream_read_into_start(s, buf, sizeof buf, op),
                UVS_COMPLETED);
  assert_uvs_rc(uvs_op_unread(op), 0);
  assert_uvs_rc(uvs_op_result(op), UVS_ECANCELED);
  assert_uvs_rc(uvs_stream_read_start(s, 2, op), UVS_COMPLETED);
  expect_op_bytes(op, "xy");
  expect_rest(s, "z!");
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* A read into buf delivered through a completion queue. */
static void test_read_into_queue(void **state) {
  (void)state;
  uvs_engine *e = uvst_engine_new(1);
  uvs_cq *cq = NULL;
  assert_uvs_rc(uvs_cq_new(e, &cq), 0);
  uvs_stream *s = uvst_reader_new(e, 0);
  uvs_op *op = uvst_op_new(cq, 9);
  char buf[16];
  const void *d = NULL;
  size_t len = 0;
  assert_uvs_rc(uvs_stream_read_into_start(s, buf, sizeof buf, op),
                UVS_PENDING);
  uvst_feed(s, "queued");
  uvs_op *got = NULL;
  assert_int_equal(uvs_cq_wait(cq, WAIT_MS, &got, 1), 1);
  assert_ptr_equal(got, op);
  assert_uvs_rc(uvs_op_read_result(op, &d, &len), 0);
  assert_ptr_equal(d, buf);
  assert_bytes_equal(d, len, "queued");
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
  assert_uvs_rc(uvs_cq_free(cq), 0);
  assert_uvs_rc(uvs_engine_free(e), 0);
}

static void test_read_into_bad_arguments(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op = uvst_op_new(NULL, 42);
  char buf[4];
  size_t len = 99;
  uvst_feed(s, "data");
  assert_uvs_rc(uvs_stream_read_into_start(s, NULL, 4, op), UVS_EINVAL);
  assert_uvs_rc(uvs_stream_read_into(s, buf, sizeof buf, 0, NULL), UVS_EINVAL);
  assert_uvs_rc(uvs_stream_read_into(s, NULL, 1, 0, &len), UVS_EINVAL);
  assert_uvs_rc(uvs_stream_read_into(s, NULL, 0, 0, &len), 0); /* read(0) */
  assert_int_equal(len, 0);
  assert_uvs_rc(uvs_stream_read_into_start(s, buf, 0, op), UVS_COMPLETED);
  expect_op_bytes(op, "");
  expect_rest(s, "data"); /* none of the refused calls consumed anything */
  assert_uvs_rc(uvs_op_free(op), 0);
  assert_uvs_rc(uvs_stream_free(s), 0);
}

/* uvs_op_unread is "only valid before the next read": once another read
 * took bytes after it, putting the old bytes back would reorder the stream,
 * so the call must be refused and the stream left as it is. */
static void test_unread_after_next_read_refused(void **state) {
  (void)state;
  uvs_stream *s = uvst_reader_new(NULL, 0);
  uvs_op *op1 = uvst_op_new(NULL, 42);
  uvs_op *op2 = uvst_op_new(NULL, 42);
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
  uvs_op *op = uvst_op_new(NULL, 42);
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
#define NROWS (sizeof(rows) / sizeof(rows[0]))

int main(void) {
  static const struct CMUnitTest funcs[] = {
      T(test_read_pending_then_eof),
      T(test_read_minus_one_pending),
      T(test_eof_while_waiting_partial_separator),
      T(test_set_error_wakes_waiter),
      T(test_set_error_wakes_blocking_waiter),
      T(test_set_error_after_cancel),
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
      T(test_read_into_buffered),
      T(test_read_into_pending),
      T(test_read_into_unread),
      T(test_read_into_queue),
      T(test_read_into_bad_arguments),
  };
  /* Each row is a test of its own, named after the row. */
  enum { NFUNCS = sizeof(funcs) / sizeof(funcs[0]) };
  static struct CMUnitTest tests[NROWS + NFUNCS];
  for (size_t i = 0; i < NROWS; i++) {
    tests[i].name = rows[i].name;
    tests[i].test_func = test_row;
    tests[i].setup_func = row_setup;
    tests[i].teardown_func = teardown;
    tests[i].initial_state = (void *)&rows[i];
  }
  memcpy(tests + NROWS, funcs, sizeof(funcs));
  return _cmocka_run_group_tests("reader", tests, NROWS + NFUNCS, NULL, NULL);
}
