/*
 * options.cpp - the list of known option keys and their storage.
 */
#include "options.h"

#include "common.h"

namespace uvs {

namespace {
const char *const kKnownKeys[] = {
    "io_threads", "limit",         "write_high",    "write_low",
    "nodelay",    "family",        "backlog",       "reuse_address",
    "reuse_port", "start_serving", "cleanup_socket"};

bool known(const std::string &key) {
  for (const char *k : kKnownKeys)
    if (key == k) return true;
  return false;
}
} // namespace

int Options::set(const std::string &key, int64_t value) {
  if (!known(key)) return fail(UVS_EINVAL, "unknown option key '" + key + "'");
  values_[key] = value;
  return 0;
}

int64_t Options::get(const std::string &key, int64_t fallback) const {
  auto it = values_.find(key);
  return it == values_.end() ? fallback : it->second;
}

} // namespace uvs
