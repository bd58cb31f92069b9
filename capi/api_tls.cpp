/*
 * api_tls.cpp - TLS configurations, TLS options, start_tls and the TLS
 * extra info that is not a string or an integer.
 */
#include "blocking.h"
#include "options.h"
#include "stream.h"
#include "tls.h"

#include <vector>

using namespace uvs;

namespace {
/* Runs f on the configuration behind handle c. */
template <class F> int with_config(uvs_tls_config *c, F &&f) {
  return guarded([&] {
    UVS_GET(config, TlsConfig, TlsConfig, c, "TLS configuration");
    return f(*config);
  });
}
} // namespace

extern "C" {

UVS_API int uvs_tls_config_new(int side, uvs_tls_config **out) {
  return guarded([&] {
    if (!out)
      return bad_argument("out is NULL");
    std::shared_ptr<TlsConfig> c;
    int rc = TlsConfig::create(side, &c);
    if (rc < 0)
      return rc;
    *out =
        to_handle<uvs_tls_config>(Registry::instance().add(Kind::TlsConfig, c));
    return 0;
  });
}

UVS_API int uvs_tls_config_adopt(int side, void *ssl_ctx,
                                 void (*release)(void *), void *release_arg,
                                 uvs_tls_config **out) {
  return guarded([&] {
    if (!out)
      return bad_argument("out is NULL");
    *out = nullptr;
    std::shared_ptr<TlsConfig> c;
    int rc = TlsConfig::adopt(side, ssl_ctx, release, release_arg, &c);
    if (rc < 0)
      return rc;
    *out =
        to_handle<uvs_tls_config>(Registry::instance().add(Kind::TlsConfig, c));
    return 0;
  });
}

UVS_API const char *uvs_tls_library_path(void) {
  return openssl_library_path();
}

UVS_API int uvs_tls_config_set_verify(uvs_tls_config *c, int mode) {
  return with_config(c, [&](TlsConfig &t) { return t.set_verify(mode); });
}

UVS_API int uvs_tls_config_load_ca_file(uvs_tls_config *c, const char *path) {
  return with_config(c, [&](TlsConfig &t) { return t.load_ca_file(path); });
}

UVS_API int uvs_tls_config_load_ca_dir(uvs_tls_config *c, const char *path) {
  return with_config(c, [&](TlsConfig &t) { return t.load_ca_dir(path); });
}

UVS_API int uvs_tls_config_load_ca_pem(uvs_tls_config *c, const void *pem,
                                       size_t len) {
  return with_config(c, [&](TlsConfig &t) { return t.load_ca_pem(pem, len); });
}

UVS_API int uvs_tls_config_load_cert_file(uvs_tls_config *c,
                                          const char *cert_path,
                                          const char *key_path,
                                          const char *password) {
  return with_config(c, [&](TlsConfig &t) {
    return t.load_cert_file(cert_path, key_path, password);
  });
}

UVS_API int uvs_tls_config_load_cert_pem(uvs_tls_config *c, const void *cert,
                                         size_t cert_len, const void *key,
                                         size_t key_len, const char *password) {
  return with_config(c, [&](TlsConfig &t) {
    return t.load_cert_pem(cert, cert_len, key, key_len, password);
  });
}

UVS_API int uvs_tls_config_set_alpn(uvs_tls_config *c, const char *protocols) {
  return with_config(c, [&](TlsConfig &t) { return t.set_alpn(protocols); });
}

UVS_API int uvs_tls_config_set_versions(uvs_tls_config *c, int min_version,
                                        int max_version) {
  return with_config(c, [&](TlsConfig &t) {
    return t.set_versions(min_version, max_version);
  });
}

UVS_API int uvs_tls_config_set_ciphers(uvs_tls_config *c, const char *list) {
  return with_config(c, [&](TlsConfig &t) { return t.set_ciphers(list); });
}

UVS_API int uvs_tls_config_free(uvs_tls_config *c) {
  return guarded([&] {
    if (!unregister<TlsConfig>(c, Kind::TlsConfig))
      return bad_handle("TLS configuration");
    return 0;
  });
}

UVS_API int uvs_options_set_str(uvs_options *o, const char *key,
                                const char *value) {
  return guarded([&] {
    UVS_GET(opts, Options, Options, o, "options");
    if (!key || !value)
      return bad_argument("key or value is NULL");
    return opts->set_str(key, value);
  });
}

UVS_API int uvs_options_set_tls(uvs_options *o, uvs_tls_config *c) {
  return guarded([&] {
    UVS_GET(opts, Options, Options, o, "options");
    std::shared_ptr<TlsConfig> config;
    if (c && !(config = lookup<TlsConfig>(c, Kind::TlsConfig)))
      return bad_handle("TLS configuration");
    opts->set_tls(std::move(config));
    return 0;
  });
}

UVS_API int uvs_stream_start_tls_start(uvs_stream *sh, const uvs_options *o,
                                       uvs_op *oh) {
  return guarded([&] {
    UVS_GET(s, Stream, Stream, sh, "stream");
    UVS_GET(op, Op, Op, oh, "operation");
    if (!o)
      return fail(UVS_EINVAL, "start_tls needs options with a TLS config");
    UVS_GET(opts, Options, Options, o, "options");
    return s->start_tls(op, *opts);
  });
}

UVS_API int uvs_stream_start_tls(uvs_stream *sh, const uvs_options *o,
                                 int64_t timeout_ms) {
  return guarded([&] {
    UVS_GET(s, Stream, Stream, sh, "stream");
    if (!o)
      return fail(UVS_EINVAL, "start_tls needs options with a TLS config");
    UVS_GET(opts, Options, Options, o, "options");
    auto op = private_op();
    return finish_blocking(op, s->start_tls(op, *opts), timeout_ms);
  });
}

UVS_API int uvs_stream_get_bytes(uvs_stream *sh, const char *key, void **data,
                                 size_t *len) {
  return guarded([&] {
    UVS_GET(s, Stream, Stream, sh, "stream");
    if (!key || !data || !len)
      return bad_argument("key, data or len is NULL");
    std::vector<unsigned char> bytes;
    int rc = s->get_bytes(key, &bytes);
    return rc < 0 ? rc : copy_out(bytes.data(), bytes.size(), data, len);
  });
}

} /* extern "C" */
