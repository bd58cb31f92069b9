/*
 * api_cq_op.cpp - completion queues and operation objects.
 */
#include "api.h"
#include "cq.h"
#include "engine.h"
#include "op.h"
#include "stream.h"

using namespace uvs;

namespace {
bool is_read_kind(int kind) {
  return kind == UVS_OP_READ || kind == UVS_OP_READEXACTLY ||
         kind == UVS_OP_READUNTIL || kind == UVS_OP_READLINE;
}

int not_done() {
  return fail(UVS_EOPBUSY, "the operation has not completed yet");
}
} // namespace

extern "C" {

UVS_API int uvs_cq_new(uvs_engine *eh, uvs_cq **out) {
  return guarded([&] {
    UVS_GET(e, Engine, Engine, eh, "engine");
    if (!out)
      return bad_argument("out is NULL");
    auto cq = std::make_shared<CompletionQueue>(e);
    int rc = cq->init();
    if (rc < 0)
      return rc;
    e->add_queue(cq);
    *out = to_handle<uvs_cq>(Registry::instance().add(Kind::Cq, cq));
    return 0;
  });
}

UVS_API int uvs_cq_fd(uvs_cq *h) {
  return guarded([&] {
    UVS_GET(cq, CompletionQueue, Cq, h, "completion queue");
    return cq->fd();
  });
}

UVS_API int uvs_cq_poll(uvs_cq *h, uvs_op **ops, int max) {
  return guarded([&] {
    UVS_GET(cq, CompletionQueue, Cq, h, "completion queue");
    if (!ops || max <= 0)
      return bad_argument("ops is NULL or max <= 0");
    return cq->poll(ops, max);
  });
}

UVS_API int uvs_cq_wait(uvs_cq *h, int64_t timeout_ms, uvs_op **ops, int max) {
  return guarded([&] {
    UVS_GET(cq, CompletionQueue, Cq, h, "completion queue");
    if (!ops || max <= 0)
      return bad_argument("ops is NULL or max <= 0");
    return cq->wait(timeout_ms, ops, max);
  });
}

UVS_API int uvs_cq_next(uvs_cq *h, int64_t timeout_ms, uvs_op **op) {
  return uvs_cq_wait(h, timeout_ms, op, 1);
}

UVS_API int uvs_cq_wakeup(uvs_cq *h) {
  return guarded([&] {
    UVS_GET(cq, CompletionQueue, Cq, h, "completion queue");
    cq->wakeup();
    return 0;
  });
}

UVS_API int uvs_cq_free(uvs_cq *h) {
  return guarded([&] {
    auto cq = unregister<CompletionQueue>(h, Kind::Cq);
    if (!cq)
      return bad_handle(h, Kind::Cq, "completion queue");
    cq->shutdown();
    return 0;
  });
}

UVS_API int uvs_op_new(uvs_cq *cqh, uint64_t tag, uvs_op **out) {
  return guarded([&] {
    if (!out)
      return bad_argument("out is NULL");
    std::shared_ptr<CompletionQueue> cq;
    if (cqh && !(cq = lookup<CompletionQueue>(cqh, Kind::Cq)))
      return bad_handle(cqh, Kind::Cq, "completion queue");
    auto op = std::make_shared<Op>(cq, tag);
    op->handle = Registry::instance().add(Kind::Op, op);
    if (cq)
      cq->bind(op);
    *out = to_handle<uvs_op>(op->handle);
    return 0;
  });
}

UVS_API int uvs_op_set_timeout(uvs_op *h, int64_t timeout_ms) {
  return guarded([&] {
    UVS_GET(op, Op, Op, h, "operation");
    op->timeout_ms = timeout_ms < 0 ? -1 : timeout_ms;
    return 0;
  });
}

UVS_API int uvs_op_free(uvs_op *h) {
  return guarded([&] {
    auto op = unregister<Op>(h, Kind::Op);
    if (!op)
      return bad_handle(h, Kind::Op, "operation");
    op->detach();
    op->cancel(UVS_ECANCELED);
    return 0;
  });
}

UVS_API int uvs_op_cancel(uvs_op *h) {
  return guarded([&] {
    UVS_GET(op, Op, Op, h, "operation");
    op->cancel(UVS_ECANCELED);
    return 0;
  });
}

UVS_API int uvs_op_wait(uvs_op *h, int64_t timeout_ms) {
  return guarded([&] {
    UVS_GET(op, Op, Op, h, "operation");
    return op->wait(timeout_ms);
  });
}

UVS_API int uvs_op_is_done(uvs_op *h) {
  return guarded([&] {
    UVS_GET(op, Op, Op, h, "operation");
    return op->done() ? 1 : 0;
  });
}

UVS_API int uvs_op_result(uvs_op *h) {
  return guarded([&] {
    UVS_GET(op, Op, Op, h, "operation");
    int result;
    if (!op->finished(&result))
      return not_done();
    return result;
  });
}

UVS_API uint64_t uvs_op_tag(uvs_op *h) {
  auto op = lookup<Op>(h, Kind::Op);
  return op ? op->tag : 0;
}

UVS_API int uvs_op_kind(uvs_op *h) {
  return guarded([&] {
    UVS_GET(op, Op, Op, h, "operation");
    return op->kind;
  });
}

UVS_API int uvs_op_data(uvs_op *h, const void **data, size_t *len) {
  return guarded([&] {
    UVS_GET(op, Op, Op, h, "operation");
    if (!data || !len)
      return bad_argument("data or len is NULL");
    if (!op->done())
      return not_done();
    if (!is_read_kind(op->kind))
      return fail(UVS_EINVAL, "the operation is not a read");
    *data = op->bytes_size() ? op->bytes() : "";
    *len = op->bytes_size();
    return 0;
  });
}

UVS_API int uvs_op_read_result(uvs_op *h, const void **data, size_t *len) {
  return guarded([&] {
    UVS_GET(op, Op, Op, h, "operation");
    if (!data || !len)
      return bad_argument("data or len is NULL");
    int result;
    if (!op->finished(&result))
      return not_done();
    bool bytes = is_read_kind(op->kind) && op->bytes_size();
    *data = bytes ? op->bytes() : "";
    *len = bytes ? op->bytes_size() : 0;
    return result;
  });
}

UVS_API int64_t uvs_op_consumed(uvs_op *h) {
  auto op = lookup<Op>(h, Kind::Op);
  if (!op)
    return bad_handle(h, Kind::Op, "operation");
  return op->done() ? op->consumed : -1;
}

UVS_API int64_t uvs_op_expected(uvs_op *h) {
  auto op = lookup<Op>(h, Kind::Op);
  if (!op)
    return bad_handle(h, Kind::Op, "operation");
  return op->done() ? op->expected : -1;
}

UVS_API const char *uvs_op_error(uvs_op *h) {
  auto op = lookup<Op>(h, Kind::Op);
  if (!op || !op->done())
    return "";
  return op->detail.c_str();
}

UVS_API int uvs_op_take_stream(uvs_op *h, uvs_stream **out) {
  return guarded([&] {
    UVS_GET(op, Op, Op, h, "operation");
    if (!out)
      return bad_argument("out is NULL");
    if (!op->done())
      return not_done();
    if (!op->stream)
      return fail(UVS_EINVAL, "no stream to take from this operation");
    *out = register_stream(std::move(op->stream));
    return 0;
  });
}

UVS_API int uvs_op_unread(uvs_op *h) {
  return guarded([&] {
    UVS_GET(op, Op, Op, h, "operation");
    std::shared_ptr<Stream> s = op->source.lock();
    if (!s)
      return fail(UVS_EINVAL, "no read result to give back");
    return s->unread(*op);
  });
}

} /* extern "C" */
