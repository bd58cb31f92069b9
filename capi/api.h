/*
 * api.h - helpers shared by the extern "C" entry points.
 *
 * The C layer holds no logic: it turns handles into objects (or
 * UVS_EBADHANDLE), checks pointer arguments, converts C++ exceptions into
 * codes so none crosses the ABI, and calls the engine.
 */
#pragma once

#include "common.h"
#include "handles.h"

#include <new>
#include <string>
#include <type_traits>

namespace uvs {

/* Runs an API call: exceptions become codes, and a failure that recorded
 * no detail of its own gets the code's message (never a stale one). */
template <class F> auto guarded(F &&f) noexcept -> decltype(f()) {
  try {
    if constexpr (std::is_same_v<decltype(f()), int>) {
      uint64_t before = failures_on_this_thread();
      int rc = f();
      if (rc < 0 && failures_on_this_thread() == before)
        fail(rc, error_message(rc));
      return rc;
    } else {
      return f();
    }
  } catch (const std::bad_alloc &) {
    return fail(UVS_ENOMEM, "out of memory");
  } catch (...) {
    return fail(UVS_EINTERNAL, "internal error");
  }
}

inline int bad_handle(const char *what) {
  return fail(UVS_EBADHANDLE,
              std::string("invalid, freed or wrong-type ") + what + " handle");
}

/* The failure of a lookup or unregister of handle: UVS_EFORKED for a live
 * handle of the process this one was forked from, else UVS_EBADHANDLE. */
inline int bad_handle(const void *handle, Kind kind, const char *what) {
  if (Registry::instance().inherited(
          static_cast<uint64_t>(reinterpret_cast<uintptr_t>(handle)), kind))
    return fail(UVS_EFORKED, std::string(what) +
                                 " handle used in a process other than the "
                                 "one that created it (after fork)");
  return bad_handle(what);
}

inline int bad_argument(const char *what) {
  return fail(UVS_EINVAL, std::string("invalid argument: ") + what);
}

/* A new public handle for a stream the engine made (connect, accept). */
uvs_stream *register_stream(std::shared_ptr<Stream> s);

/* Copies bytes into malloc'd memory for the caller (uvs_free). */
int copy_out(const void *data, size_t len, void **out, size_t *out_len);
int copy_out_string(const std::string &s, char **out);

} // namespace uvs

#define UVS_GET(var, Type, kind, handle, what)                                 \
  auto var = ::uvs::lookup<Type>(handle, ::uvs::Kind::kind);                   \
  if (!var)                                                                    \
    return ::uvs::bad_handle(handle, ::uvs::Kind::kind, what);
