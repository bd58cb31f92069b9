/*
 * options.h - string-keyed integer settings (nng style), so that new knobs
 * never change the ABI. Unknown keys are rejected when set, so a typo is an
 * error rather than a silently ignored setting.
 */
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace uvs {

class Options {
public:
  /* UVS_EINVAL for an unknown key. */
  int set(const std::string &key, int64_t value);
  bool has(const std::string &key) const { return values_.count(key) != 0; }
  int64_t get(const std::string &key, int64_t fallback) const;

private:
  std::map<std::string, int64_t> values_;
};

/* Convenience for a possibly-null options pointer. */
inline int64_t option(const Options *o, const char *key, int64_t fallback) {
  return o ? o->get(key, fallback) : fallback;
}

constexpr int64_t kDefaultLimit = 64 * 1024;
constexpr int64_t kDefaultWriteHigh = 64 * 1024;
constexpr int64_t kDefaultBacklog = 100;

} // namespace uvs
