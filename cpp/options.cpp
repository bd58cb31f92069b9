/*
 * options.cpp - the lists of known option keys and their storage.
 */
#include "options.h"

#include "common.h"

namespace uvs {

namespace {
const char *const kIntKeys[] = {"io_threads",
                                "limit",
                                "write_high",
                                "write_low",
                                "nodelay",
                                "family",
                                "backlog",
                                "reuse_address",
                                "reuse_port",
                                "per_loop_listeners",
                                "start_serving",
                                "cleanup_socket",
                                "ssl_handshake_timeout",
                                "ssl_shutdown_timeout",
                                "check_hostname",
                                "keep_alive",
                                "send_buffer_size",
                                "recv_buffer_size",
                                "ipv6_only",
                                "happy_eyeballs_delay",
                                "interleave",
                                "flags",
                                "local_port",
                                "direct_reads"};
const char *const kStringKeys[] = {"server_hostname", "local_host"};

template <size_t N>
bool known_in(const char *const (&keys)[N], const std::string &key) {
  for (const char *k : keys)
    if (key == k)
      return true;
  return false;
}
} // namespace

int Options::set(const std::string &key, int64_t value) {
  if (!known_in(kIntKeys, key))
    return fail(UVS_EINVAL, "unknown option key '" + key + "'");
  values_[key] = value;
  return 0;
}

int64_t Options::get(const std::string &key, int64_t fallback) const {
  auto it = values_.find(key);
  return it == values_.end() ? fallback : it->second;
}

int Options::set_str(const std::string &key, const std::string &value) {
  if (!known_in(kStringKeys, key))
    return fail(UVS_EINVAL, "unknown string option key '" + key + "'");
  strings_[key] = value;
  return 0;
}

std::string Options::get_str(const std::string &key) const {
  auto it = strings_.find(key);
  return it == strings_.end() ? std::string() : it->second;
}

int resolve_write_limits(int64_t high, int64_t low, int64_t *out_high,
                         int64_t *out_low) {
  if (high < 0) /* 4 * low, saturating instead of overflowing */
    high = low < 0 ? kDefaultWriteHigh
                   : (low > INT64_MAX / 4 ? INT64_MAX : 4 * low);
  if (low < 0)
    low = high / 4;
  if (!(high >= low && low >= 0))
    return fail(UVS_EINVAL, "high (" + std::to_string(high) +
                                ") must be >= low (" + std::to_string(low) +
                                ") must be >= 0");
  *out_high = high;
  *out_low = low;
  return 0;
}

} // namespace uvs
