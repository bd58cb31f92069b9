/*
 * fuzz_reader.cc - libFuzzer target: the standalone reader against a
 * reference model of asyncio's StreamReader.
 *
 * Each input is a script: a reader limit, then up to 96 actions chosen by the
 * fuzzer (feed chunks, feed EOF, set a stored error, start any read kind on
 * one of three operation objects, one of them bound to a completion queue,
 * blocking reads with a zero timeout, cancel, unread, free an op, wait_closed,
 * close the reader). After every action every observable is compared with
 * the model: each op's state, result, kind, bytes, consumed and expected, the
 * completions delivered to the queue (exactly once, none for inline ones),
 * the reader's buffer size, at_eof, stored error and is_closing. At the end
 * the bytes left in the buffer are read back and compared.
 *
 * The model (struct Model below) is a direct transcription of the algorithms
 * in asyncio-streams-spec.md section 2 (read, readexactly, readuntil with
 * its scan offset and both LimitOverrunError.consumed meanings, 3.13
 * multi-separator rules, readline's wrappers), evaluated when a read starts
 * and again after every feed, as the engine does. Where the C API documents
 * its own behaviour the model follows the header: read(n < 0) leaves the
 * bytes in the buffer until EOF ("a read that is cancelled consumes
 * nothing"), a refused start changes nothing ("a negative return means
 * nothing happened"), uvs_op_unread is only valid for the latest read.
 *
 * Build: make -f Makefile -f tests/reliability.mk fuzz-build
 * Run:   build-fuzz/fuzz_reader tests/fuzz/corpus/reader
 * A failing input prints the action trace before aborting.
 */
#include <fuzzer/FuzzedDataProvider.h>

#include <uvstreams.h>

#include <algorithm>
#include <climits>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

/* ---- failure reporting -------------------------------------------------- */

std::string g_trace;

void trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void trace(const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  g_trace += line;
  g_trace += '\n';
}

std::string quote(const std::string &s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else if (c == '"' || c == '\\')
      out += std::string("\\") + char(c);
    else if (c < 32 || c > 126) {
      char b[8];
      snprintf(b, sizeof b, "\\x%02x", c);
      out += b;
    } else
      out += char(c);
  }
  return out + "\"";
}

[[noreturn]] void failed(const char *file, int line, const char *what,
                         const std::string &detail) {
  fprintf(stderr, "\nfuzz_reader: %s:%d: check failed: %s\n  %s\n", file, line,
          what, detail.c_str());
  fprintf(stderr, "action trace:\n%s\n", g_trace.c_str());
  abort();
}

#define CHECK(cond, detail)                                                    \
  do {                                                                         \
    if (!(cond))                                                               \
      failed(__FILE__, __LINE__, #cond, (detail));                             \
  } while (0)

std::string rc_str(int64_t rc) {
  return std::to_string(rc) + " (" + uvs_err_name(int(rc)) + ")";
}

#define CHECK_RC(got, want)                                                    \
  do {                                                                         \
    int64_t got_ = (got), want_ = (want);                                      \
    if (got_ != want_)                                                         \
      failed(__FILE__, __LINE__, #got,                                         \
             "got " + rc_str(got_) + ", model expects " + rc_str(want_) +      \
                 "; last error: " + uvs_last_error());                         \
  } while (0)

/* ---- the reference model --------------------------------------------------
 */

enum class MKind { Read, ReadExactly, ReadUntil, ReadLine };

struct MReq {
  MKind kind = MKind::Read;
  int64_t n = 0;
  std::vector<std::string> seps; /* sorted by length, stable */
  int64_t offset = 0;            /* readuntil: persists while waiting */
};

struct MResult {
  int status = 0;
  std::string data;
  int64_t consumed = -1;
  int64_t expected = -1;
};

struct Model {
  std::string buf;
  int64_t limit = 65536;
  bool eof = false;
  int err = 0;

  /* true: finished (res set); false: the read has to wait. */
  bool try_complete(MReq &r, MResult &res) {
    res = MResult();
    if (err) { /* the stored exception is raised on entry and on wake-up */
      res.status = err;
      return true;
    }
    switch (r.kind) {
    case MKind::Read:
      return read(r, res);
    case MKind::ReadExactly:
      return readexactly(r, res);
    case MKind::ReadUntil:
      return readuntil(r, res);
    case MKind::ReadLine:
      return readline(r, res);
    }
    abort();
  }

  void take(size_t n, std::string &out) {
    n = std::min(n, buf.size());
    out = buf.substr(0, n);
    buf.erase(0, n);
  }

  /* 2.6: n == 0 -> b''; n > 0: wait once for any data, then up to n bytes;
   * n < 0: everything until EOF (the C API keeps the bytes buffered until
   * then). */
  bool read(MReq &r, MResult &res) {
    if (r.n == 0)
      return true;
    if (r.n < 0) {
      if (!eof)
        return false;
      take(buf.size(), res.data);
      return true;
    }
    if (buf.empty() && !eof)
      return false;
    uint64_t n = uint64_t(r.n);
    take(n > buf.size() ? buf.size() : size_t(n), res.data);
    return true;
  }

  /* 2.7 */
  bool readexactly(MReq &r, MResult &res) {
    if (r.n == 0)
      return true;
    if (uint64_t(buf.size()) >= uint64_t(r.n)) {
      take(size_t(r.n), res.data);
      return true;
    }
    if (eof) {
      res.status = UVS_EINCOMPLETE;
      res.expected = r.n;
      take(buf.size(), res.data);
      return true;
    }
    return false;
  }

  /* 2.8, transcribed from the 3.13 loop (signed arithmetic, as Python). */
  bool readuntil(MReq &r, MResult &res) {
    int64_t min_len = int64_t(r.seps.front().size());
    int64_t max_len = int64_t(r.seps.back().size());
    int64_t buflen = int64_t(buf.size());
    int64_t match_start = -1, match_end = -1;
    if (buflen - r.offset >= min_len) {
      for (const std::string &sep : r.seps) {
        size_t isep = buf.find(sep, size_t(r.offset));
        if (isep != std::string::npos) {
          int64_t end = int64_t(isep + sep.size());
          if (match_end < 0 || end < match_end) {
            match_end = end;
            match_start = int64_t(isep);
          }
        }
      }
      if (match_end < 0) {
        r.offset = std::max<int64_t>(0, buflen + 1 - max_len);
        if (r.offset > limit) {
          res.status = UVS_ELIMIT; /* "not found, and chunk exceed" */
          res.consumed = r.offset;
          return true;
        }
      }
    }
    if (match_end < 0) {
      if (eof) {
        res.status = UVS_EINCOMPLETE;
        res.expected = -1;
        take(buf.size(), res.data);
        return true;
      }
      return false;
    }
    if (match_start > limit) {
      res.status = UVS_ELIMIT; /* "found, but chunk is longer than limit" */
      res.consumed = match_start;
      return true;
    }
    take(size_t(match_end), res.data);
    return true;
  }

  /* 2.9 */
  bool readline(MReq &r, MResult &res) {
    if (!readuntil(r, res))
      return false;
    if (res.status == UVS_EINCOMPLETE) {
      std::string partial = res.data;
      res = MResult();
      res.data = partial;
    } else if (res.status == UVS_ELIMIT) {
      size_t c = size_t(res.consumed);
      if (c < buf.size() && buf[c] == '\n')
        buf.erase(0, c + 1);
      else
        buf.clear();
    }
    return true;
  }
};

/* ---- the harness -------------------------------------------------------- */

bool is_read_kind(int k) {
  return k == UVS_OP_READ || k == UVS_OP_READEXACTLY || k == UVS_OP_READUNTIL ||
         k == UVS_OP_READLINE;
}

struct MOp {
  uvs_op *h = nullptr;
  bool bound = false; /* to the completion queue */
  uint64_t tag = 0;
  enum State { Idle, Pending, Done } st = Idle;
  int kind = UVS_OP_NONE;
  MResult res;
  MReq req;
  uint64_t read_seq = 0; /* the reader's read count when this one ended */
  bool has_source = false;
};

uvs_engine *g_engine;
uvs_cq *g_cq;
uint64_t g_next_tag = 1;

struct Harness {
  Model m;
  uvs_stream *s = nullptr;
  bool closed = false;
  bool freed = false;
  MOp ops[3];
  int pending_read = -1;          /* index of the op the reader waits on */
  uint64_t seq = 0;               /* reads completed by the reader */
  std::vector<uint64_t> expect_q; /* tags to be delivered to the cq, in order */

  void new_op(int k) {
    MOp &o = ops[k];
    o = MOp();
    o.bound = k == 2;
    o.tag = g_next_tag++;
    CHECK_RC(uvs_op_new(o.bound ? g_cq : nullptr, o.tag, &o.h), 0);
  }

  /* A completion that does not happen inside the starting call. */
  void deliver(MOp &o) {
    if (o.bound)
      expect_q.push_back(o.tag);
  }

  void finished_read(MOp &o, const MResult &r) {
    o.st = MOp::Done;
    o.res = r;
    o.read_seq = ++seq;
  }

  /* The waiting read, re-evaluated after each feed. */
  void serve() {
    if (pending_read < 0)
      return;
    MOp &o = ops[pending_read];
    MResult r;
    if (!m.try_complete(o.req, r))
      return;
    pending_read = -1;
    finished_read(o, r);
    deliver(o);
    trace("    -> op%d completes: %s data=%s consumed=%lld expected=%lld",
          int(&o - ops), uvs_err_name(r.status), quote(r.data).c_str(),
          (long long)r.consumed, (long long)r.expected);
  }

  void close_model() {
    if (!closed) {
      closed = true;
      m.eof = true; /* a closed reader reads as at EOF */
      serve();
    }
    for (MOp &o : ops)
      if (o.h && o.st == MOp::Pending && o.kind == UVS_OP_WAIT_CLOSED) {
        o.st = MOp::Done;
        o.res = MResult();
        deliver(o);
      }
  }

  /* ---- checks ---- */

  void check_op(int k) {
    MOp &o = ops[k];
    if (!o.h)
      return;
    std::string who = "op" + std::to_string(k);
    int done = uvs_op_is_done(o.h);
    CHECK(done == (o.st == MOp::Pending ? 0 : 1),
          who + " is_done=" + std::to_string(done));
    CHECK(uvs_op_tag(o.h) == o.tag, who + " tag");
    CHECK_RC(uvs_op_kind(o.h), o.kind);
    const void *d = nullptr;
    size_t len = 0;
    if (o.st == MOp::Pending) {
      CHECK_RC(uvs_op_result(o.h), UVS_EOPBUSY);
      CHECK_RC(uvs_op_data(o.h, &d, &len), UVS_EOPBUSY);
      CHECK_RC(uvs_op_consumed(o.h), -1);
      CHECK_RC(uvs_op_expected(o.h), -1);
      return;
    }
    CHECK_RC(uvs_op_result(o.h), o.res.status);
    CHECK_RC(uvs_op_consumed(o.h), o.res.consumed);
    CHECK_RC(uvs_op_expected(o.h), o.res.expected);
    if (is_read_kind(o.kind)) {
      CHECK_RC(uvs_op_data(o.h, &d, &len), 0);
      std::string got(static_cast<const char *>(d), len);
      CHECK(got == o.res.data,
            who + " data " + quote(got) + ", model " + quote(o.res.data));
    } else {
      CHECK_RC(uvs_op_data(o.h, &d, &len), UVS_EINVAL);
    }
    uvs_stream *none = nullptr;
    CHECK(uvs_op_take_stream(o.h, &none) < 0 && none == nullptr,
          who + " take_stream");
  }

  void check_reader() {
    if (freed)
      return;
    int64_t v = -1;
    CHECK_RC(uvs_stream_get_int(s, "read_buffer_size", &v), 0);
    CHECK(v == int64_t(m.buf.size()),
          "read_buffer_size " + std::to_string(v) + ", model " +
              std::to_string(m.buf.size()) + " buffer " + quote(m.buf));
    CHECK_RC(uvs_stream_get_int(s, "limit", &v), 0);
    CHECK(v == m.limit, "limit");
    CHECK_RC(uvs_stream_at_eof(s), m.eof && m.buf.empty() ? 1 : 0);
    CHECK_RC(uvs_stream_error(s), m.err);
    CHECK_RC(uvs_stream_is_closing(s), closed ? 1 : 0);
  }

  void check_queue() {
    std::vector<uint64_t> got;
    uvs_op *batch[8];
    for (;;) {
      int n = uvs_cq_poll(g_cq, batch, 8);
      CHECK(n >= 0, "cq_poll " + rc_str(n));
      for (int i = 0; i < n; i++) {
        got.push_back(uvs_op_tag(batch[i]));
        CHECK(batch[i] == ops[2].h, "delivered handle is not the bound op");
      }
      if (n < 8)
        break;
    }
    std::string g, e;
    for (uint64_t t : got)
      g += std::to_string(t) + " ";
    for (uint64_t t : expect_q)
      e += std::to_string(t) + " ";
    CHECK(got == expect_q, "cq delivered [" + g + "], model [" + e + "]");
    expect_q.clear();
  }

  void check_all() {
    for (int k = 0; k < 3; k++)
      check_op(k);
    check_reader();
    check_queue();
  }

  /* ---- actions ---- */

  /* Starts a read on op k; mirrors the checks in the order the API makes
   * them: arguments, op busy, fast path, reader busy, pending. */
  void start(int k, int kind, MReq req, const uvs_buf *seps, size_t nseps,
             bool bad_args) {
    MOp &o = ops[k];
    int rc;
    switch (kind) {
    case UVS_OP_READ:
      rc = uvs_stream_read_start(s, req.n, o.h);
      break;
    case UVS_OP_READEXACTLY:
      rc = uvs_stream_readexactly_start(s, req.n, o.h);
      break;
    case UVS_OP_READUNTIL:
      rc = nseps == 1 && (size_t(seps[0].len) & 1)
               ? uvs_stream_readuntil_start(s, seps[0].base, seps[0].len, o.h)
               : uvs_stream_readuntil_any_start(s, seps, nseps, o.h);
      break;
    default:
      rc = uvs_stream_readline_start(s, o.h);
      break;
    }
    if (kind == UVS_OP_READUNTIL && nseps == 0) {
      CHECK_RC(rc, UVS_EINVAL); /* checked before the handles */
      return;
    }
    if (freed) {
      CHECK_RC(rc, UVS_EBADHANDLE);
      return;
    }
    if (bad_args) {
      CHECK_RC(rc, UVS_EINVAL);
      return;
    }
    if (o.st == MOp::Pending) {
      CHECK_RC(rc, UVS_EOPBUSY);
      return;
    }
    MResult r;
    MReq work = req;
    Model saved = m;
    if (m.try_complete(work, r)) {
      CHECK_RC(rc, UVS_COMPLETED);
      o.kind = kind;
      o.has_source = true;
      o.req = work;
      finished_read(o, r);
      trace("    -> completed inline: %s data=%s consumed=%lld",
            uvs_err_name(r.status), quote(r.data).c_str(),
            (long long)r.consumed);
      return;
    }
    if (pending_read >= 0) {
      m = saved; /* (a waiting try_complete changes nothing but the offset) */
      CHECK_RC(rc, UVS_EBUSY);
      return; /* "a negative return means nothing happened" */
    }
    CHECK_RC(rc, UVS_PENDING);
    o.st = MOp::Pending;
    o.kind = kind;
    o.res = MResult();
    o.req = work;
    o.has_source = true;
    pending_read = k;
  }

  /* Blocking form with a zero timeout: completes from the buffer, or times
   * out having consumed nothing, or UVS_EBUSY when another read waits. */
  void blocking(int kind, MReq req, const uvs_buf *seps, size_t nseps,
                bool bad_args) {
    void *d = reinterpret_cast<void *>(uintptr_t(1));
    size_t len = 12345;
    int64_t consumed = -7;
    int rc;
    switch (kind) {
    case UVS_OP_READ:
      rc = uvs_stream_read(s, req.n, 0, &d, &len);
      break;
    case UVS_OP_READEXACTLY:
      rc = uvs_stream_readexactly(s, req.n, 0, &d, &len);
      break;
    case UVS_OP_READUNTIL:
      rc = nseps == 1 && (seps[0].len & 1)
               ? uvs_stream_readuntil(s, seps[0].base, seps[0].len, 0, &d, &len,
                                      &consumed)
               : uvs_stream_readuntil_any(s, seps, nseps, 0, &d, &len,
                                          &consumed);
      break;
    default:
      rc = uvs_stream_readline(s, 0, &d, &len);
      break;
    }
    std::string got;
    if (d && d != reinterpret_cast<void *>(uintptr_t(1))) {
      got.assign(static_cast<const char *>(d), len);
      uvs_free(d);
    }
    if (kind == UVS_OP_READUNTIL && nseps == 0) {
      CHECK_RC(rc, UVS_EINVAL);
      return;
    }
    if (freed) {
      CHECK_RC(rc, UVS_EBADHANDLE);
      return;
    }
    if (bad_args) {
      CHECK_RC(rc, UVS_EINVAL);
      return;
    }
    MResult r;
    MReq work = req;
    Model saved = m;
    if (m.try_complete(work, r)) {
      ++seq;
      CHECK_RC(rc, r.status);
      trace("    -> blocking result %s data=%s", uvs_err_name(r.status),
            quote(r.data).c_str());
      if (r.status == 0 || r.status == UVS_EINCOMPLETE) {
        CHECK(got == r.data,
              "blocking data " + quote(got) + ", model " + quote(r.data));
        CHECK(len == r.data.size(), "blocking len");
      } else {
        CHECK(d == nullptr && len == 0, "blocking error returned bytes");
      }
      if (kind == UVS_OP_READUNTIL)
        CHECK_RC(consumed, r.status == UVS_ELIMIT ? r.consumed : -7);
      return;
    }
    m = saved;
    CHECK_RC(rc, pending_read >= 0 ? UVS_EBUSY : UVS_ETIMEDOUT);
    CHECK(d == nullptr && len == 0, "failed blocking read returned bytes");
  }

  void cancel(int k) {
    MOp &o = ops[k];
    CHECK_RC(uvs_op_cancel(o.h), 0);
    if (o.st != MOp::Pending)
      return;
    if (pending_read == k)
      pending_read = -1;
    o.st = MOp::Done;
    o.res = MResult();
    o.res.status = UVS_ECANCELED;
    deliver(o);
  }

  void unread(int k) {
    MOp &o = ops[k];
    int rc = uvs_op_unread(o.h);
    bool ok = o.has_source && o.st == MOp::Done && is_read_kind(o.kind) &&
              o.res.status == 0 && o.read_seq == seq && !freed;
    if (!o.has_source || freed) {
      CHECK(rc < 0, "unread without a source succeeded");
      return;
    }
    CHECK_RC(rc, ok ? 0 : UVS_EINVAL);
    if (!ok)
      return;
    m.buf = o.res.data + m.buf;
    o.res = MResult();
    o.res.status = UVS_ECANCELED;
    ++seq;
  }

  void free_op(int k) {
    MOp &o = ops[k];
    CHECK_RC(uvs_op_free(o.h), 0);
    CHECK_RC(uvs_op_free(o.h), UVS_EBADHANDLE); /* double free */
    CHECK_RC(uvs_op_is_done(o.h), UVS_EBADHANDLE);
    if (pending_read == k)
      pending_read = -1;
    /* never delivered after the free, even if it completed before */
    if (o.bound) {
      std::vector<uint64_t> keep;
      for (uint64_t t : expect_q)
        if (t != o.tag)
          keep.push_back(t);
      expect_q.swap(keep);
    }
    new_op(k);
  }
};

/* Bytes drawn from a small alphabet most of the time, so that separators
 * and newlines show up; the fuzzer still controls every byte. */
char map_byte(uint8_t c) {
  static const char alphabet[] = {'a', 'b', '\n', '\r', 'A', '\0'};
  return c < 0xC0 ? alphabet[c % sizeof alphabet] : char(c);
}

std::string bytes(FuzzedDataProvider &p, size_t max) {
  size_t n = p.ConsumeIntegralInRange<size_t>(0, max);
  std::string out;
  for (size_t i = 0; i < n && p.remaining_bytes(); i++)
    out += map_byte(p.ConsumeIntegral<uint8_t>());
  return out;
}

int64_t pick_n(FuzzedDataProvider &p) {
  static const int64_t special[] = {
      0, 1, 2, 3, 4, 5, 7, 8, 16, -1, -2, -5, INT64_MIN, INT64_MAX, 100000};
  uint8_t c = p.ConsumeIntegral<uint8_t>();
  if (c < 200)
    return special[c % (sizeof special / sizeof special[0])];
  return p.ConsumeIntegralInRange<int64_t>(-10, 300);
}

int64_t pick_limit(FuzzedDataProvider &p) {
  static const int64_t special[] = {1, 2, 3, 4, 5, 7, 8, 16, 64, 65536};
  uint8_t c = p.ConsumeIntegral<uint8_t>();
  if (c < 200)
    return special[c % (sizeof special / sizeof special[0])];
  return p.ConsumeIntegralInRange<int64_t>(1, 200);
}

int pick_error(FuzzedDataProvider &p) {
  static const int codes[] = {
      UVS_ECONNRESET, UVS_EPIPE, UVS_ECANCELED, UVS_ELIMIT,   UVS_EINCOMPLETE,
      UVS_EOF,        -1,        INT_MIN,       UVS_ETIMEDOUT};
  return codes[p.ConsumeIntegralInRange<size_t>(0, 8)];
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  uvs_options *o = nullptr;
  if (uvs_options_new(&o) || uvs_options_set_int(o, "io_threads", 0) ||
      uvs_engine_new(o, &g_engine) || uvs_cq_new(g_engine, &g_cq)) {
    fprintf(stderr, "fuzz_reader: setup failed: %s\n", uvs_last_error());
    abort();
  }
  uvs_options_free(o);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  FuzzedDataProvider p(data, size);
  g_trace.clear();
  Harness h;
  h.m.limit = pick_limit(p);
  uvs_options *o = nullptr;
  CHECK_RC(uvs_options_new(&o), 0);
  CHECK_RC(uvs_options_set_int(o, "limit", h.m.limit), 0);
  CHECK_RC(uvs_reader_new(nullptr, o, &h.s), 0);
  CHECK_RC(uvs_options_free(o), 0);
  trace("reader limit=%lld", (long long)h.m.limit);
  for (int k = 0; k < 3; k++)
    h.new_op(k);

  for (int step = 0; step < 96 && p.remaining_bytes() > 0; step++) {
    uint8_t action = p.ConsumeIntegralInRange<uint8_t>(0, 15);
    int k = p.ConsumeIntegralInRange<int>(0, 2);
    switch (action) {
    case 0:
    case 1:
    case 2: { /* feed a chunk (the commonest action) */
      std::string chunk = bytes(p, action == 2 ? 200 : 12);
      trace("feed_data(%s)", quote(chunk).c_str());
      int rc = uvs_reader_feed_data(h.s, chunk.data(), chunk.size());
      if (h.freed) {
        CHECK_RC(rc, UVS_EBADHANDLE);
      } else if (h.m.eof) {
        CHECK_RC(rc, UVS_EINVAL); /* asyncio asserts: not after feed_eof */
      } else {
        CHECK_RC(rc, 0);
        if (!chunk.empty()) { /* empty data does not wake the waiter */
          h.m.buf += chunk;
          h.serve();
        }
      }
      break;
    }
    case 3:
      trace("feed_eof()");
      if (h.freed) {
        CHECK_RC(uvs_reader_feed_eof(h.s), UVS_EBADHANDLE);
      } else {
        CHECK_RC(uvs_reader_feed_eof(h.s), 0);
        h.m.eof = true;
        h.serve();
      }
      break;
    case 4: {
      int err = p.ConsumeBool() ? pick_error(p)
                                : p.ConsumeIntegralInRange<int>(-3, 3);
      trace("set_error(%d)", err);
      int rc = uvs_reader_set_error(h.s, err);
      if (h.freed) {
        CHECK_RC(rc, UVS_EBADHANDLE);
      } else if (err >= 0) {
        CHECK_RC(rc, UVS_EINVAL);
      } else {
        CHECK_RC(rc, 0);
        h.m.err = err;
        h.serve();
      }
      break;
    }
    case 5:
    case 6:
    case 7:
    case 8:
    case 9: { /* start a read on op k, or a blocking read */
      bool block = action == 9;
      int kind = UVS_OP_READ + p.ConsumeIntegralInRange<int>(0, 3);
      MReq req;
      req.kind = MKind(kind - UVS_OP_READ);
      bool bad = false;
      std::string sep_store[3];
      uvs_buf seps[3];
      size_t nseps = 0;
      std::string desc;
      if (kind == UVS_OP_READ || kind == UVS_OP_READEXACTLY) {
        req.n = pick_n(p);
        bad = kind == UVS_OP_READEXACTLY && req.n < 0;
        desc = std::to_string(req.n);
      } else if (kind == UVS_OP_READUNTIL) {
        nseps = p.ConsumeIntegralInRange<size_t>(0, 3);
        if (nseps == 0 && p.ConsumeBool())
          nseps = 1;
        for (size_t i = 0; i < nseps; i++) {
          sep_store[i] = bytes(p, 4);
          if (sep_store[i].empty() && p.ConsumeIntegral<uint8_t>() > 40)
            sep_store[i] = "\n";
          seps[i].base = sep_store[i].data();
          seps[i].len = sep_store[i].size();
          req.seps.push_back(sep_store[i]);
          bad = bad || sep_store[i].empty();
          desc += quote(sep_store[i]) + " ";
        }
        bad = bad || nseps == 0;
        std::stable_sort(req.seps.begin(), req.seps.end(),
                         [](const std::string &a, const std::string &b) {
                           return a.size() < b.size();
                         });
      } else {
        req.seps.push_back("\n");
      }
      static const char *const names[] = {"read", "readexactly", "readuntil",
                                          "readline"};
      if (block) {
        trace("blocking %s(%s) timeout 0", names[kind - UVS_OP_READ],
              desc.c_str());
        h.blocking(kind, req, seps, nseps, bad);
      } else {
        trace("op%d: %s_start(%s)", k, names[kind - UVS_OP_READ], desc.c_str());
        h.start(k, kind, req, seps, nseps, bad);
      }
      break;
    }
    case 10:
      trace("op%d: cancel", k);
      h.cancel(k);
      break;
    case 11:
      trace("op%d: unread", k);
      h.unread(k);
      break;
    case 12:
      trace("op%d: free (and a new op)", k);
      h.free_op(k);
      break;
    case 13: { /* wait_closed on op k */
      trace("op%d: wait_closed_start", k);
      MOp &op = h.ops[k];
      int rc = uvs_stream_wait_closed_start(h.s, op.h);
      if (h.freed) {
        CHECK_RC(rc, UVS_EBADHANDLE);
      } else if (op.st == MOp::Pending) {
        CHECK_RC(rc, UVS_EOPBUSY);
      } else {
        op.kind = UVS_OP_WAIT_CLOSED;
        op.res = MResult();
        op.has_source = false;
        if (h.closed) {
          CHECK_RC(rc, UVS_COMPLETED);
          op.st = MOp::Done;
        } else {
          CHECK_RC(rc, UVS_PENDING);
          op.st = MOp::Pending;
        }
      }
      break;
    }
    case 14: { /* close / abort / free the reader (rarely) */
      if (p.ConsumeIntegral<uint8_t>() < 200)
        break;
      int how = p.ConsumeIntegralInRange<int>(0, 2);
      trace("reader: %s", how == 0 ? "close" : how == 1 ? "abort" : "free");
      int rc = how == 0   ? uvs_stream_close(h.s)
               : how == 1 ? uvs_stream_abort(h.s)
                          : uvs_stream_free(h.s);
      if (h.freed) {
        CHECK_RC(rc, UVS_EBADHANDLE);
        break;
      }
      CHECK_RC(rc, 0);
      h.close_model();
      if (how == 2)
        h.freed = true;
      break;
    }
    default: /* 15: plain observation (the checks below) */
      trace("observe");
      break;
    }
    h.check_all();
  }

  /* The bytes left in the buffer, read back (unless an error hides them). */
  if (!h.freed && !h.m.err) {
    for (int k = 0; k < 3; k++)
      h.cancel(k);
    h.check_all();
    trace("final read(%zu) of the buffer", h.m.buf.size());
    if (!h.m.buf.empty()) {
      void *d = nullptr;
      size_t len = 0;
      CHECK_RC(uvs_stream_read(h.s, int64_t(h.m.buf.size()), 0, &d, &len), 0);
      std::string got(static_cast<const char *>(d), len);
      uvs_free(d);
      CHECK(got == h.m.buf,
            "final buffer " + quote(got) + ", model " + quote(h.m.buf));
      h.m.buf.clear();
      h.check_reader();
    }
  }
  for (int k = 0; k < 3; k++) {
    CHECK_RC(uvs_op_free(h.ops[k].h), 0);
  }
  if (!h.freed)
    CHECK_RC(uvs_stream_free(h.s), 0);
  CHECK_RC(uvs_stream_free(h.s), UVS_EBADHANDLE);
  uvs_op *left[4];
  CHECK_RC(uvs_cq_poll(g_cq, left, 4), 0); /* freed ops are never delivered */
  return 0;
}
