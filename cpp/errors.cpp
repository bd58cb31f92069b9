/*
 * errors.cpp - error names, messages and the thread-local detail message.
 *
 * The table comes from UVS_ERRNO_MAP in the public header, so the header is
 * the single source of truth; the static_asserts pin the pass-through codes
 * to libuv's values so that a libuv status can be returned unchanged.
 */
#include "common.h"

#include <uv.h>

namespace uvs {

#define UVS_CHECK_UV_CODE_(name, value, message)                               \
  static_assert(UV_##name == value, "UVS_" #name " must equal UV_" #name);
UVS_SYSTEM_ERRNO_MAP(UVS_CHECK_UV_CODE_)
#undef UVS_CHECK_UV_CODE_

namespace {
thread_local std::string tls_detail;
thread_local uint64_t tls_failures; /* counts fail() calls on this thread */

struct ErrorEntry {
  int code;
  const char *name;
  const char *message;
};

const ErrorEntry kErrors[] = {
#define UVS_ERROR_ENTRY_(name, value, message) {value, #name, message},
    UVS_ERRNO_MAP(UVS_ERROR_ENTRY_)
#undef UVS_ERROR_ENTRY_
};

const ErrorEntry *find_error(int code) {
  for (const ErrorEntry &e : kErrors)
    if (e.code == code)
      return &e;
  return nullptr;
}
} // namespace

int fail(int code, const std::string &detail) {
  tls_detail = detail;
  ++tls_failures;
  return code;
}

uint64_t failures_on_this_thread() {
  return tls_failures;
}

int fail_with(int code, const std::string &what) {
  return fail(code, what + ": " + error_message(code));
}

void clear_error() {
  tls_detail.clear();
}

const char *last_error_detail() {
  return tls_detail.c_str();
}

const char *error_message(int code) {
  if (code == 0)
    return "success";
  if (const ErrorEntry *e = find_error(code))
    return e->message;
  /* libuv knows more errno values than the public map lists. */
  thread_local char buf[128];
  if (code > -30000 && code < 0)
    return uv_strerror_r(code, buf, sizeof buf);
  return "unknown error";
}

const char *error_name(int code) {
  if (code == 0)
    return "OK";
  if (const ErrorEntry *e = find_error(code))
    return e->name;
  thread_local char buf[64];
  if (code > -30000 && code < 0)
    return uv_err_name_r(code, buf, sizeof buf);
  return "UNKNOWN";
}

} // namespace uvs
