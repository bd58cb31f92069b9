/*
 * api_stream.cpp - connecting, the standalone reader, reading, writing,
 * closing and extra info.
 */
#include "blocking.h"
#include "connect.h"
#include "engine.h"
#include "loop.h"
#include "stream.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

using namespace uvs;

uvs_stream *uvs::register_stream(std::shared_ptr<Stream> s) {
  return to_handle<uvs_stream>(
      Registry::instance().add(Kind::Stream, std::move(s)));
}

namespace {
std::shared_ptr<Options> options_of(const uvs_options *o, int *rc) {
  *rc = 0;
  if (!o)
    return nullptr;
  auto opts = lookup<Options>(o, Kind::Options);
  if (!opts)
    *rc = bad_handle("options");
  return opts;
}

/* The op's detail for uvs_last_error: the connector's "connect to WHERE:
 * reason" or the TLS reason; built here for a timeout or a cancel. */
void connect_failed(const Op &op, int rc, const std::string &where) {
  fail(rc, !op.detail.empty()
               ? op.detail
               : "connect to " + where + ": " + error_message(rc));
}

/* Blocking connect/accept share this tail: take the stream or report. */
int stream_out(const std::shared_ptr<Op> &op, int rc, uvs_stream **out) {
  if (rc < 0)
    return rc;
  std::shared_ptr<Stream> s = std::move(op->stream);
  if (!s)
    return fail(UVS_EINTERNAL, "completed without a stream");
  *out = register_stream(s);
  return 0;
}

int start_read(uvs_stream *sh, uvs_op *oh, int kind, ReadRequest req) {
  UVS_GET(s, Stream, Stream, sh, "stream");
  UVS_GET(op, Op, Op, oh, "operation");
  return s->start_read(op, kind, std::move(req));
}

int read_blocking(uvs_stream *sh, int kind, ReadRequest req, int64_t timeout_ms,
                  void **data, size_t *len, int64_t *consumed) {
  UVS_GET(s, Stream, Stream, sh, "stream");
  if (!data || !len)
    return bad_argument("data or len is NULL");
  *data = nullptr;
  *len = 0;
  std::shared_ptr<Op> op = private_op();
  int rc =
      finish_blocking(op, s->start_read(op, kind, std::move(req)), timeout_ms);
  if (rc == UVS_ELIMIT && consumed)
    *consumed = op->consumed;
  if (rc == UVS_ELIMIT)
    return fail(rc, "separator not found within the limit");
  if (rc == UVS_EINCOMPLETE)
    fail(rc, std::to_string(op->data.size()) + " bytes read on a total of " +
                 (op->expected < 0 ? std::string("undefined")
                                   : std::to_string(op->expected)) +
                 " expected bytes");
  return bytes_out(*op, rc, data, len);
}

ReadRequest make_request(ReadKind kind, int64_t n) {
  ReadRequest r;
  r.kind = kind;
  r.n = n;
  return r;
}

/* read(cap) whose bytes land in buf (see uvs_stream_read_into_start). */
int read_into_request(void *buf, size_t cap, ReadRequest *req) {
  if (!buf && cap)
    return bad_argument("buf is NULL");
  if (cap > size_t(INT64_MAX))
    return fail(UVS_EINVAL, "cap is too large");
  *req = make_request(ReadKind::Read, int64_t(cap));
  req->into = static_cast<char *>(buf);
  return 0;
}

int separators(const uvs_buf *seps, size_t nseps, ReadRequest *r) {
  if (!seps && nseps)
    return bad_argument("separators is NULL");
  if (nseps == 0)
    return fail(UVS_EINVAL, "separator should contain at least one element");
  for (size_t i = 0; i < nseps; ++i) {
    if (!seps[i].base && seps[i].len)
      return bad_argument("NULL separator");
    r->separators.emplace_back(static_cast<const char *>(seps[i].base),
                               seps[i].len);
  }
  return 0;
}

Stream::Transport transport_of(int fd) {
  switch (uv_guess_handle(fd)) {
  case UV_TCP:
    return Stream::Transport::Tcp;
  case UV_NAMED_PIPE: {
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)
               ? Stream::Transport::Unix
               : Stream::Transport::Pipe;
  }
  case UV_TTY:
    return Stream::Transport::Pipe;
  default:
    return Stream::Transport::None;
  }
}
} // namespace

extern "C" {

/* ---- opening ---- */

UVS_API int uvs_connect_tcp_start(uvs_engine *eh, const char *host, int port,
                                  const uvs_options *o, uvs_op *oh) {
  return guarded([&] {
    UVS_GET(e, Engine, Engine, eh, "engine");
    UVS_GET(op, Op, Op, oh, "operation");
    int rc;
    auto opts = options_of(o, &rc);
    if (rc < 0)
      return rc;
    return Connector::start_tcp(e, host, port, opts.get(), op);
  });
}

UVS_API int uvs_connect_tcp(uvs_engine *eh, const char *host, int port,
                            const uvs_options *o, int64_t timeout_ms,
                            uvs_stream **out) {
  return guarded([&] {
    UVS_GET(e, Engine, Engine, eh, "engine");
    if (!out)
      return bad_argument("out is NULL");
    int rc;
    auto opts = options_of(o, &rc);
    if (rc < 0)
      return rc;
    auto op = private_op();
    rc = Connector::start_tcp(e, host, port, opts.get(), op);
    if (rc < 0)
      return rc;
    rc = finish_blocking(op, rc, timeout_ms);
    if (rc < 0 && rc != UVS_ETIMEDOUT)
      connect_failed(*op, rc, std::string(host) + ":" + std::to_string(port));
    return stream_out(op, rc, out);
  });
}

UVS_API int uvs_connect_unix_start(uvs_engine *eh, const char *path,
                                   const uvs_options *o, uvs_op *oh) {
  return guarded([&] {
    UVS_GET(e, Engine, Engine, eh, "engine");
    UVS_GET(op, Op, Op, oh, "operation");
    int rc;
    auto opts = options_of(o, &rc);
    if (rc < 0)
      return rc;
    return Connector::start_unix(e, path, opts.get(), op);
  });
}

UVS_API int uvs_connect_unix(uvs_engine *eh, const char *path,
                             const uvs_options *o, int64_t timeout_ms,
                             uvs_stream **out) {
  return guarded([&] {
    UVS_GET(e, Engine, Engine, eh, "engine");
    if (!out)
      return bad_argument("out is NULL");
    int rc;
    auto opts = options_of(o, &rc);
    if (rc < 0)
      return rc;
    auto op = private_op();
    rc = Connector::start_unix(e, path, opts.get(), op);
    if (rc < 0)
      return rc;
    rc = finish_blocking(op, rc, timeout_ms);
    if (rc < 0 && rc != UVS_ETIMEDOUT)
      connect_failed(*op, rc, path);
    return stream_out(op, rc, out);
  });
}

namespace {
/* The body of uvs_stream_open_fd and the pipe variants. */
int open_descriptor(uvs_engine *eh, int fd, const uvs_options *o,
                    Stream::Direction direction, uvs_stream **out) {
  auto e = lookup<Engine>(eh, Kind::Engine);
  int rc;
  auto opts = options_of(o, &rc);
  if (!e || rc < 0 || !out) {
    if (fd >= 0)
      ::close(fd);
    return !e       ? bad_handle(eh, Kind::Engine, "engine")
           : rc < 0 ? rc
                    : bad_argument("out");
  }
  if (fd < 0)
    return fail(UVS_EBADF, "negative file descriptor");
  Stream::Transport t = transport_of(fd);
  if (t == Stream::Transport::None) {
    ::close(fd);
    return fail(UVS_EINVAL, "descriptor is not a stream socket, pipe or tty");
  }
  Loop *loop = e->pick_loop();
  std::shared_ptr<Stream> s;
  rc = Stream::create(e, loop, t, opts.get(), &s);
  if (rc < 0) {
    ::close(fd);
    return rc;
  }
  rc = loop->call([&] { return s->open_fd(fd, direction); });
  if (rc < 0)
    return rc;
  *out = register_stream(s);
  return 0;
}
} // namespace

UVS_API int uvs_stream_open_fd(uvs_engine *eh, int fd, const uvs_options *o,
                               uvs_stream **out) {
  return guarded(
      [&] { return open_descriptor(eh, fd, o, Stream::Direction::Both, out); });
}

UVS_API int uvs_connect_read_pipe(uvs_engine *eh, int fd, const uvs_options *o,
                                  uvs_stream **out) {
  return guarded([&] {
    return open_descriptor(eh, fd, o, Stream::Direction::ReadOnly, out);
  });
}

UVS_API int uvs_connect_write_pipe(uvs_engine *eh, int fd, const uvs_options *o,
                                   uvs_stream **out) {
  return guarded([&] {
    return open_descriptor(eh, fd, o, Stream::Direction::WriteOnly, out);
  });
}

/* ---- standalone reader ---- */

UVS_API int uvs_reader_new(uvs_engine *eh, const uvs_options *o,
                           uvs_stream **out) {
  return guarded([&] {
    std::shared_ptr<Engine> e;
    if (eh && !(e = lookup<Engine>(eh, Kind::Engine)))
      return bad_handle(eh, Kind::Engine, "engine");
    if (!out)
      return bad_argument("out is NULL");
    int rc;
    auto opts = options_of(o, &rc);
    if (rc < 0)
      return rc;
    std::shared_ptr<Stream> s;
    rc = Stream::create(e, nullptr, Stream::Transport::None, opts.get(), &s);
    if (rc == 0 && e)
      rc = s->track_reader();
    if (rc < 0)
      return rc;
    *out = register_stream(s);
    return 0;
  });
}

UVS_API int uvs_reader_feed_data(uvs_stream *sh, const void *data, size_t len) {
  return guarded([&] {
    UVS_GET(s, Stream, Stream, sh, "stream");
    if (!data && len)
      return bad_argument("data is NULL");
    return s->feed_data(data, len);
  });
}

UVS_API int uvs_reader_feed_eof(uvs_stream *sh) {
  return guarded([&] {
    UVS_GET(s, Stream, Stream, sh, "stream");
    return s->feed_eof();
  });
}

UVS_API int uvs_reader_set_error(uvs_stream *sh, int err) {
  return guarded([&] {
    UVS_GET(s, Stream, Stream, sh, "stream");
    return s->set_error(err);
  });
}

/* ---- reading ---- */

UVS_API int uvs_stream_read_start(uvs_stream *s, int64_t n, uvs_op *op) {
  return guarded([&] {
    return start_read(s, op, UVS_OP_READ, make_request(ReadKind::Read, n));
  });
}

UVS_API int uvs_stream_read_into_start(uvs_stream *s, void *buf, size_t cap,
                                       uvs_op *op) {
  return guarded([&] {
    ReadRequest req;
    int rc = read_into_request(buf, cap, &req);
    return rc < 0 ? rc : start_read(s, op, UVS_OP_READ, std::move(req));
  });
}

UVS_API int uvs_stream_read_into(uvs_stream *sh, void *buf, size_t cap,
                                 int64_t timeout_ms, size_t *len) {
  return guarded([&] {
    UVS_GET(s, Stream, Stream, sh, "stream");
    if (!len)
      return bad_argument("len is NULL");
    *len = 0;
    ReadRequest req;
    int rc = read_into_request(buf, cap, &req);
    if (rc < 0)
      return rc;
    std::shared_ptr<Op> op = private_op();
    rc = finish_blocking(op, s->start_read(op, UVS_OP_READ, std::move(req)),
                         timeout_ms);
    if (rc == 0)
      *len = op->bytes_size();
    return rc;
  });
}

UVS_API int uvs_stream_readexactly_start(uvs_stream *s, int64_t n, uvs_op *op) {
  return guarded([&] {
    return start_read(s, op, UVS_OP_READEXACTLY,
                      make_request(ReadKind::ReadExactly, n));
  });
}

UVS_API int uvs_stream_readuntil_start(uvs_stream *s, const void *sep,
                                       size_t len, uvs_op *op) {
  uvs_buf one = {sep, len};
  return uvs_stream_readuntil_any_start(s, &one, 1, op);
}

UVS_API int uvs_stream_readuntil_any_start(uvs_stream *s, const uvs_buf *seps,
                                           size_t nseps, uvs_op *op) {
  return guarded([&] {
    ReadRequest r = make_request(ReadKind::ReadUntil, 0);
    int rc = separators(seps, nseps, &r);
    return rc < 0 ? rc : start_read(s, op, UVS_OP_READUNTIL, std::move(r));
  });
}

UVS_API int uvs_stream_readline_start(uvs_stream *s, uvs_op *op) {
  return guarded([&] {
    ReadRequest r = make_request(ReadKind::ReadLine, 0);
    r.separators.emplace_back("\n");
    return start_read(s, op, UVS_OP_READLINE, std::move(r));
  });
}

UVS_API int uvs_stream_read(uvs_stream *s, int64_t n, int64_t timeout_ms,
                            void **data, size_t *len) {
  return guarded([&] {
    return read_blocking(s, UVS_OP_READ, make_request(ReadKind::Read, n),
                         timeout_ms, data, len, nullptr);
  });
}

UVS_API int uvs_stream_readexactly(uvs_stream *s, int64_t n, int64_t timeout_ms,
                                   void **data, size_t *len) {
  return guarded([&] {
    return read_blocking(s, UVS_OP_READEXACTLY,
                         make_request(ReadKind::ReadExactly, n), timeout_ms,
                         data, len, nullptr);
  });
}

UVS_API int uvs_stream_readuntil(uvs_stream *s, const void *sep, size_t seplen,
                                 int64_t timeout_ms, void **data, size_t *len,
                                 int64_t *consumed) {
  uvs_buf one = {sep, seplen};
  return uvs_stream_readuntil_any(s, &one, 1, timeout_ms, data, len, consumed);
}

UVS_API int uvs_stream_readuntil_any(uvs_stream *s, const uvs_buf *seps,
                                     size_t nseps, int64_t timeout_ms,
                                     void **data, size_t *len,
                                     int64_t *consumed) {
  return guarded([&] {
    ReadRequest r = make_request(ReadKind::ReadUntil, 0);
    int rc = separators(seps, nseps, &r);
    if (rc < 0)
      return rc;
    return read_blocking(s, UVS_OP_READUNTIL, std::move(r), timeout_ms, data,
                         len, consumed);
  });
}

UVS_API int uvs_stream_readline(uvs_stream *s, int64_t timeout_ms, void **data,
                                size_t *len) {
  return guarded([&] {
    ReadRequest r = make_request(ReadKind::ReadLine, 0);
    r.separators.emplace_back("\n");
    return read_blocking(s, UVS_OP_READLINE, std::move(r), timeout_ms, data,
                         len, nullptr);
  });
}

UVS_API int uvs_stream_pause_reading(uvs_stream *sh) {
  return guarded([&] {
    UVS_GET(s, Stream, Stream, sh, "stream");
    return s->pause_reading();
  });
}

UVS_API int uvs_stream_resume_reading(uvs_stream *sh) {
  return guarded([&] {
    UVS_GET(s, Stream, Stream, sh, "stream");
    return s->resume_reading();
  });
}

UVS_API int uvs_stream_at_eof(uvs_stream *sh) {
  return guarded([&] {
    UVS_GET(s, Stream, Stream, sh, "stream");
    return s->at_eof();
  });
}

UVS_API int uvs_stream_error(uvs_stream *sh) {
  return guarded([&] {
    UVS_GET(s, Stream, Stream, sh, "stream");
    return s->error();
  });
}

/* ---- writing ---- */

UVS_API int uvs_stream_write(uvs_stream *s, const void *data, size_t len) {
  uvs_buf one = {data, len};
  return uvs_stream_writev(s, &one, 1);
}

UVS_API int uvs_stream_writev(uvs_stream *sh, const uvs_buf *bufs, size_t n) {
  return guarded([&] {
    UVS_GET(s, Stream, Stream, sh, "stream");
    if (!bufs && n)
      return bad_argument("bufs is NULL");
    return s->write(bufs, n);
  });
}

UVS_API int uvs_stream_drain_start(uvs_stream *sh, uvs_op *oh) {
  return guarded([&] {
    return start_on(sh, Kind::Stream, "stream", oh, &Stream::start_drain);
  });
}

UVS_API int uvs_stream_drain(uvs_stream *sh, int64_t timeout_ms) {
  return guarded([&] {
    return wait_on(sh, Kind::Stream, "stream", timeout_ms,
                   &Stream::start_drain);
  });
}

UVS_API int64_t uvs_stream_write_buffer_size(uvs_stream *sh) {
  return guarded([&]() -> int64_t {
    UVS_GET(s, Stream, Stream, sh, "stream");
    return s->write_buffer_size();
  });
}

UVS_API int uvs_stream_set_write_limits(uvs_stream *sh, int64_t high,
                                        int64_t low) {
  return guarded([&] {
    UVS_GET(s, Stream, Stream, sh, "stream");
    return s->set_write_limits(high, low);
  });
}

UVS_API int uvs_stream_write_eof(uvs_stream *sh) {
  return guarded([&] {
    UVS_GET(s, Stream, Stream, sh, "stream");
    return s->write_eof();
  });
}

UVS_API int uvs_stream_can_write_eof(uvs_stream *sh) {
  return guarded([&] {
    UVS_GET(s, Stream, Stream, sh, "stream");
    return s->can_write_eof();
  });
}

/* ---- closing ---- */

UVS_API int uvs_stream_close(uvs_stream *sh) {
  return guarded([&] {
    UVS_GET(s, Stream, Stream, sh, "stream");
    return s->close();
  });
}

UVS_API int uvs_stream_abort(uvs_stream *sh) {
  return guarded([&] {
    UVS_GET(s, Stream, Stream, sh, "stream");
    return s->abort();
  });
}

UVS_API int uvs_stream_is_closing(uvs_stream *sh) {
  return guarded([&] {
    UVS_GET(s, Stream, Stream, sh, "stream");
    return s->is_closing();
  });
}

UVS_API int uvs_stream_wait_closed_start(uvs_stream *sh, uvs_op *oh) {
  return guarded([&] {
    return start_on(sh, Kind::Stream, "stream", oh, &Stream::start_wait_closed);
  });
}

UVS_API int uvs_stream_wait_closed(uvs_stream *sh, int64_t timeout_ms) {
  return guarded([&] {
    return wait_on(sh, Kind::Stream, "stream", timeout_ms,
                   &Stream::start_wait_closed);
  });
}

UVS_API int uvs_stream_free(uvs_stream *sh) {
  return guarded([&] {
    auto s = unregister<Stream>(sh, Kind::Stream);
    if (!s)
      return bad_handle(sh, Kind::Stream, "stream");
    return s->close();
  });
}

/* ---- extra info ---- */

UVS_API int uvs_stream_get_int(uvs_stream *sh, const char *key, int64_t *out) {
  return guarded([&] {
    UVS_GET(s, Stream, Stream, sh, "stream");
    if (!key || !out)
      return bad_argument("key or out is NULL");
    return s->get_int(key, out);
  });
}

UVS_API int uvs_stream_get_str(uvs_stream *sh, const char *key, char **out) {
  return guarded([&] {
    UVS_GET(s, Stream, Stream, sh, "stream");
    if (!key || !out)
      return bad_argument("key or out is NULL");
    std::string value;
    int rc = s->get_str(key, &value);
    return rc < 0 ? rc : copy_out_string(value, out);
  });
}

} /* extern "C" */
