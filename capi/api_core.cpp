/*
 * api_core.cpp - versions, errors, memory, options and the engine.
 */
#include "api.h"
#include "engine.h"
#include "loop.h"
#include "options.h"

#include <cstdlib>
#include <cstring>

using namespace uvs;

#define UVS_STR_(x) #x
#define UVS_STR(x) UVS_STR_(x)

namespace uvs {
int copy_out(const void *data, size_t len, void **out, size_t *out_len) {
  void *p = malloc(len ? len : 1);
  if (!p)
    return fail(UVS_ENOMEM, "out of memory");
  if (len)
    memcpy(p, data, len);
  *out = p;
  *out_len = len;
  return 0;
}

int copy_out_string(const std::string &s, char **out) {
  size_t len;
  void *p = nullptr;
  int rc = copy_out(s.c_str(), s.size() + 1, &p, &len);
  if (rc == 0)
    *out = static_cast<char *>(p);
  return rc;
}
} // namespace uvs

extern "C" {

UVS_API unsigned uvs_version(void) {
  return UVS_VERSION_HEX;
}

UVS_API const char *uvs_version_string(void) {
  return UVS_STR(UVS_VERSION_MAJOR) "." UVS_STR(UVS_VERSION_MINOR) "." UVS_STR(
      UVS_VERSION_PATCH);
}

UVS_API const char *uvs_strerror(int err) {
  return error_message(err);
}
UVS_API const char *uvs_err_name(int err) {
  return error_name(err);
}
UVS_API const char *uvs_last_error(void) {
  return last_error_detail();
}
UVS_API void uvs_free(void *p) {
  free(p);
}

UVS_API int uvs_options_new(uvs_options **out) {
  return guarded([&] {
    if (!out)
      return bad_argument("out is NULL");
    uint64_t h =
        Registry::instance().add(Kind::Options, std::make_shared<Options>());
    *out = to_handle<uvs_options>(h);
    return 0;
  });
}

UVS_API int uvs_options_set_int(uvs_options *o, const char *key, int64_t v) {
  return guarded([&] {
    UVS_GET(opts, Options, Options, o, "options");
    if (!key)
      return bad_argument("key is NULL");
    return opts->set(key, v);
  });
}

UVS_API int uvs_options_get_int(const uvs_options *o, const char *key,
                                int64_t *out) {
  return guarded([&] {
    UVS_GET(opts, Options, Options, o, "options");
    if (!key || !out)
      return bad_argument("key or out is NULL");
    if (!opts->has(key))
      return fail(UVS_ENOENT, std::string("option '") + key + "' is not set");
    *out = opts->get(key, 0);
    return 0;
  });
}

UVS_API int uvs_options_free(uvs_options *o) {
  return guarded([&] {
    if (!unregister<Options>(o, Kind::Options))
      return bad_handle("options");
    return 0;
  });
}

UVS_API int uvs_engine_new(const uvs_options *o, uvs_engine **out) {
  return guarded([&] {
    if (!out)
      return bad_argument("out is NULL");
    std::shared_ptr<Options> opts;
    if (o && !(opts = lookup<Options>(o, Kind::Options)))
      return bad_handle("options");
    std::shared_ptr<Engine> e;
    int rc = Engine::create(opts.get(), &e);
    if (rc < 0)
      return rc;
    *out = to_handle<uvs_engine>(Registry::instance().add(Kind::Engine, e));
    return 0;
  });
}

UVS_API int uvs_engine_free(uvs_engine *h) {
  return guarded([&] {
    auto e = unregister<Engine>(h, Kind::Engine);
    if (!e)
      return bad_handle(h, Kind::Engine, "engine");
    e->shutdown();
    return 0;
  });
}

UVS_API int uvs_engine_io_threads(uvs_engine *h) {
  return guarded([&] {
    UVS_GET(e, Engine, Engine, h, "engine");
    return e->io_threads();
  });
}

UVS_API int uvs_engine_run(uvs_engine *h) {
  return guarded([&] {
    UVS_GET(e, Engine, Engine, h, "engine");
    if (e->threaded())
      return fail(UVS_EWRONGTHREAD, "the engine runs its own I/O threads");
    e->host_loop()->drive_for(0);
    return 0;
  });
}

UVS_API int uvs_engine_timeout(uvs_engine *h) {
  return guarded([&] {
    UVS_GET(e, Engine, Engine, h, "engine");
    if (e->threaded())
      return fail(UVS_EWRONGTHREAD, "the engine runs its own I/O threads");
    return e->host_loop()->timeout();
  });
}

} /* extern "C" */
