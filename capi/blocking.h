/*
 * blocking.h - the blocking calls are "start + wait" on a private operation.
 *
 * Each thread keeps one private Op and reuses it while nobody else holds it,
 * so a blocking read costs no allocation. When the wait times out, the
 * operation is cancelled with UVS_ETIMEDOUT and waited for, so it has
 * completed exactly once (possibly with its real result, if that won the
 * race) before the call returns.
 */
#pragma once

#include "api.h"
#include "op.h"

namespace uvs {

std::shared_ptr<Op> private_op();
/* started: the *_start return value. Returns the op's result. */
int finish_blocking(const std::shared_ptr<Op> &op, int started,
                    int64_t timeout_ms);
/* Hands the bytes of a read op to the caller (uvs_free). */
int bytes_out(Op &op, int status, void **data, size_t *len);

/* The *_start entry points of the form "object + op". */
template <class T>
int start_on(const void *handle, Kind kind, const char *what, uvs_op *oh,
             int (T::*start)(const std::shared_ptr<Op> &)) {
  auto obj = lookup<T>(handle, kind);
  if (!obj)
    return bad_handle(handle, kind, what);
  auto op = lookup<Op>(oh, Kind::Op);
  if (!op)
    return bad_handle(oh, Kind::Op, "operation");
  return ((*obj).*start)(op);
}

/* Their blocking forms: the same start on a private op, then wait. */
template <class T>
int wait_on(const void *handle, Kind kind, const char *what, int64_t timeout_ms,
            int (T::*start)(const std::shared_ptr<Op> &),
            std::shared_ptr<Op> *used = nullptr) {
  auto obj = lookup<T>(handle, kind);
  if (!obj)
    return bad_handle(handle, kind, what);
  auto op = private_op();
  if (used)
    *used = op;
  return finish_blocking(op, ((*obj).*start)(op), timeout_ms);
}

} // namespace uvs
