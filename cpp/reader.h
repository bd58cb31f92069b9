/*
 * reader.h - asyncio StreamReader semantics as a pure state machine.
 *
 * The Reader owns the receive buffer, the EOF flag, the sticky error and the
 * limit. A read is described by a ReadRequest; try_complete() either finishes
 * it (filling the result) or says it must wait for more input. The Stream
 * calls it when the read starts and again after every feed, which reproduces
 * asyncio's single-waiter loop, including the readuntil scan offset that
 * decides the observable LimitOverrunError.consumed values. No I/O, no locks:
 * the caller serializes access.
 */
#pragma once

#include "buffer.h"

#include <cstdint>
#include <string>
#include <vector>

namespace uvs {

enum class ReadKind { Read, ReadExactly, ReadUntil, ReadLine };

struct ReadRequest {
  ReadKind kind = ReadKind::Read;
  int64_t n = 0;
  std::vector<std::string> separators; /* sorted by length, shortest first */
  size_t offset = 0;                   /* readuntil scan position */
  char *into = nullptr; /* a read into the caller's memory (n bytes) */
};

struct ReadResult {
  int status = 0;
  int64_t consumed = -1;        /* UVS_ELIMIT */
  bool separator_found = false; /* UVS_ELIMIT: which of asyncio's messages */
  int64_t expected = -1;        /* UVS_EINCOMPLETE */
};

class Reader {
public:
  explicit Reader(size_t limit) : limit_(limit) {}

  /* Argument checks done before anything else (asyncio's ValueError). */
  static int validate(const ReadRequest &req);
  /* Sorts the separators of a readuntil/readline request. */
  static void normalize(ReadRequest &req);

  /* true: the request finished (out/result set); false: wait for input. */
  bool try_complete(ReadRequest &req, ByteBuffer &out, ReadResult &result);

  void feed(const void *data, size_t len) { buf_.append(data, len); }
  void feed_eof() { eof_ = true; }
  void set_error(int err) { error_ = err; }
  /* Puts bytes back at the head (an unused read result). */
  void unread(const void *data, size_t len) { buf_.prepend(data, len); }

  ByteBuffer &buffer() { return buf_; }
  size_t size() const { return buf_.size(); }
  size_t limit() const { return limit_; }
  bool eof() const { return eof_; }
  int error() const { return error_; }
  bool at_eof() const { return eof_ && buf_.empty(); }
  /* Flow control: stop reading the socket above 2 x limit ... */
  bool over_high_mark() const { return buf_.size() > 2 * limit_; }
  /* ... and read again at or below limit. */
  bool at_or_below_limit() const { return buf_.size() <= limit_; }

private:
  bool complete_read(ReadRequest &req, ByteBuffer &out, ReadResult &result);
  bool complete_readexactly(ReadRequest &req, ByteBuffer &out,
                            ReadResult &result);
  bool complete_readuntil(ReadRequest &req, ByteBuffer &out,
                          ReadResult &result);
  bool complete_readline(ReadRequest &req, ByteBuffer &out, ReadResult &result);
  bool finish_incomplete(ByteBuffer &out, ReadResult &result, int64_t expected);

  ByteBuffer buf_;
  size_t limit_;
  bool eof_ = false;
  int error_ = 0;
};

} // namespace uvs
