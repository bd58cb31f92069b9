/*
 * reader.cpp - the read algorithms of asyncio's StreamReader (see reader.h).
 *
 * Order of checks follows asyncio: argument validation (done by the caller
 * before starting), then the stored error, then the zero-size shortcut, then
 * the buffer. readuntil scans from a remembered offset and keeps the last
 * (longest separator - 1) bytes for rescanning; the limit check precedes the
 * EOF check, and a limit overrun never consumes anything.
 */
#include "reader.h"

#include "uvstreams.h"

#include <algorithm>
#include <cstring>

namespace uvs {

namespace {
/* Position of needle in hay at or after from, or SIZE_MAX. */
size_t find_bytes(const char *hay, size_t hay_len, const std::string &needle,
                  size_t from) {
  size_t n = needle.size();
  if (n == 0 || from > hay_len || hay_len - from < n)
    return SIZE_MAX;
  const char first = needle[0];
  const char *end = hay + hay_len - n + 1;
  for (const char *p = hay + from; p < end; ++p) {
    p = static_cast<const char *>(memchr(p, first, end - p));
    if (!p)
      break;
    if (memcmp(p, needle.data(), n) == 0)
      return static_cast<size_t>(p - hay);
  }
  return SIZE_MAX;
}
} // namespace

int Reader::validate(const ReadRequest &req) {
  switch (req.kind) {
  case ReadKind::ReadExactly:
    return req.n < 0 ? UVS_EINVAL : 0;
  case ReadKind::ReadUntil:
  case ReadKind::ReadLine:
    if (req.separators.empty())
      return UVS_EINVAL;
    for (const std::string &s : req.separators)
      if (s.empty())
        return UVS_EINVAL;
    return 0;
  case ReadKind::Read:
    return 0;
  }
  return UVS_EINVAL;
}

void Reader::normalize(ReadRequest &req) {
  std::stable_sort(req.separators.begin(), req.separators.end(),
                   [](const std::string &a, const std::string &b) {
                     return a.size() < b.size();
                   });
  req.offset = 0;
}

bool Reader::try_complete(ReadRequest &req, ByteBuffer &out,
                          ReadResult &result) {
  result = ReadResult();
  if (error_) {
    result.status = error_;
    return true;
  }
  switch (req.kind) {
  case ReadKind::Read:
    return complete_read(req, out, result);
  case ReadKind::ReadExactly:
    return complete_readexactly(req, out, result);
  case ReadKind::ReadUntil:
    return complete_readuntil(req, out, result);
  case ReadKind::ReadLine:
    return complete_readline(req, out, result);
  }
  return false;
}

bool Reader::complete_read(ReadRequest &req, ByteBuffer &out,
                           ReadResult &result) {
  (void)result;
  if (req.n == 0) {
    out.clear();
    return true;
  }
  if (req.n < 0) {
    /* Until EOF: the whole stream, with no limit on its size. */
    if (!eof_)
      return false;
    buf_.take(buf_.size(), out);
    return true;
  }
  if (buf_.empty() && !eof_)
    return false;
  buf_.take(static_cast<size_t>(req.n), out);
  return true;
}

bool Reader::finish_incomplete(ByteBuffer &out, ReadResult &result,
                               int64_t expected) {
  buf_.take(buf_.size(), out);
  result.status = UVS_EINCOMPLETE;
  result.expected = expected;
  return true;
}

bool Reader::complete_readexactly(ReadRequest &req, ByteBuffer &out,
                                  ReadResult &result) {
  size_t n = static_cast<size_t>(req.n);
  if (n == 0) {
    out.clear();
    return true;
  }
  if (buf_.size() >= n) {
    buf_.take(n, out);
    return true;
  }
  if (eof_)
    return finish_incomplete(out, result, req.n);
  return false;
}

bool Reader::complete_readuntil(ReadRequest &req, ByteBuffer &out,
                                ReadResult &result) {
  const size_t min_len = req.separators.front().size();
  const size_t max_len = req.separators.back().size();
  size_t buflen = buf_.size();
  size_t match_start = SIZE_MAX, match_end = SIZE_MAX;

  if (buflen >= req.offset && buflen - req.offset >= min_len) {
    for (const std::string &sep : req.separators) {
      size_t pos = find_bytes(buf_.data(), buflen, sep, req.offset);
      /* Earliest end wins; strict comparison keeps the shortest on ties. */
      if (pos != SIZE_MAX && pos + sep.size() < match_end) {
        match_start = pos;
        match_end = pos + sep.size();
      }
    }
    if (match_end == SIZE_MAX) {
      req.offset = buflen + 1 > max_len ? buflen + 1 - max_len : 0;
      if (req.offset > limit_) {
        result.status = UVS_ELIMIT;
        result.consumed = static_cast<int64_t>(req.offset);
        return true;
      }
    }
  }
  if (match_end == SIZE_MAX) {
    if (eof_)
      return finish_incomplete(out, result, -1);
    return false;
  }
  if (match_start > limit_) {
    result.status = UVS_ELIMIT;
    result.separator_found = true;
    result.consumed = static_cast<int64_t>(match_start);
    return true;
  }
  buf_.take(match_end, out);
  return true;
}

bool Reader::complete_readline(ReadRequest &req, ByteBuffer &out,
                               ReadResult &result) {
  if (!complete_readuntil(req, out, result))
    return false;
  if (result.status == UVS_EINCOMPLETE) {
    /* EOF without a newline: the partial line is the result. */
    result = ReadResult();
    return true;
  }
  if (result.status == UVS_ELIMIT) {
    size_t consumed = static_cast<size_t>(result.consumed);
    if (consumed < buf_.size() && buf_.data()[consumed] == '\n')
      buf_.consume(consumed + 1);
    else
      buf_.clear();
  }
  return true;
}

} // namespace uvs
