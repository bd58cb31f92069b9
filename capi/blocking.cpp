/*
 * blocking.cpp - see blocking.h.
 */
#include "blocking.h"

namespace uvs {

std::shared_ptr<Op> private_op() {
  thread_local std::shared_ptr<Op> cached;
  if (!cached || cached.use_count() > 1 || !cached->done())
    cached = std::make_shared<Op>(nullptr, 0);
  return cached;
}

int finish_blocking(const std::shared_ptr<Op> &op, int started,
                    int64_t timeout_ms) {
  if (started < 0)
    return started;
  if (started == UVS_PENDING && op->wait(timeout_ms) == UVS_ETIMEDOUT) {
    op->cancel(UVS_ETIMEDOUT);
    op->wait(-1);
  }
  int rc = op->result();
  if (rc == UVS_ETIMEDOUT && op->detail.empty())
    return fail(rc, "timed out after " + std::to_string(timeout_ms) + " ms");
  if (rc < 0) /* the op's own detail: asyncio's limit messages, TLS... */
    return fail(rc, op->detail.empty() ? error_message(rc) : op->detail);
  return rc;
}

int bytes_out(Op &op, int status, void **data, size_t *len) {
  if (status != 0 && status != UVS_EINCOMPLETE)
    return status;
  int rc = copy_out(op.data.data(), op.data.size(), data, len);
  return rc < 0 ? rc : status;
}

} // namespace uvs
