/*
 * options.h - string-keyed integer settings (nng style), so that new knobs
 * never change the ABI. Unknown keys are rejected when set, so a typo is an
 * error rather than a silently ignored setting.
 */
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace uvs {

class TlsConfig;

class Options {
public:
  /* UVS_EINVAL for an unknown key. */
  int set(const std::string &key, int64_t value);
  bool has(const std::string &key) const { return values_.count(key) != 0; }
  int64_t get(const std::string &key, int64_t fallback) const;

  /* String settings; UVS_EINVAL for an unknown key. */
  int set_str(const std::string &key, const std::string &value);
  bool has_str(const std::string &key) const {
    return strings_.count(key) != 0;
  }
  std::string get_str(const std::string &key) const;

  void set_tls(std::shared_ptr<TlsConfig> tls) { tls_ = std::move(tls); }
  const std::shared_ptr<TlsConfig> &tls() const { return tls_; }

private:
  std::map<std::string, int64_t> values_;
  std::map<std::string, std::string> strings_;
  std::shared_ptr<TlsConfig> tls_;
};

/* asyncio's write-buffer limits: high < 0 means the default (64 KiB, or
 * 4 * low), low < 0 means high / 4. UVS_EINVAL unless high >= low >= 0. */
int resolve_write_limits(int64_t high, int64_t low, int64_t *out_high,
                         int64_t *out_low);

/* Convenience for a possibly-null options pointer. */
inline int64_t option(const Options *o, const char *key, int64_t fallback) {
  return o ? o->get(key, fallback) : fallback;
}

constexpr int64_t kDefaultLimit = 64 * 1024;
constexpr int64_t kDefaultWriteHigh = 64 * 1024;
constexpr int64_t kDefaultBacklog = 100;
constexpr int64_t kDefaultHandshakeTimeoutMs = 60000;
constexpr int64_t kDefaultShutdownTimeoutMs = 30000;

} // namespace uvs
