/*
 * common.h - small shared pieces of the engine: error reporting with a
 * thread-local detail message, clocks, and forward declarations.
 *
 * Every engine function reports failure as a negative UVS_E* code; fail()
 * also records a human-readable detail for uvs_last_error(), so the C layer
 * never has to build messages itself.
 */
#pragma once

#include "uvstreams.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace uvs {

class Engine;
class Loop;
class Op;
class CompletionQueue;
class Stream;
class Server;

using Clock = std::chrono::steady_clock;

/* Records a detail message for the calling thread and returns code. */
int fail(int code, const std::string &detail);
/* Same, with the detail "<what>: <strerror(code)>". */
int fail_with(int code, const std::string &what);
/* Clears the calling thread's detail message. */
void clear_error();
const char *last_error_detail();
/* How many times fail() ran on this thread: tells whether a call that
 * returned an error recorded its own detail. */
uint64_t failures_on_this_thread();

const char *error_message(int code);
const char *error_name(int code);

/* Timeouts of this many milliseconds (2^42, about 139 years) or more wait
 * forever: a deadline is a nanosecond count, which larger values (INT64_MAX
 * as "no limit") would overflow into the past. */
constexpr int64_t kForeverMs = int64_t(1) << 42;

/* The deadline ms milliseconds from now, saturated at kForeverMs. */
inline Clock::time_point deadline_after(int64_t ms) {
  return Clock::now() +
         std::chrono::milliseconds(ms < kForeverMs ? ms : kForeverMs);
}

} // namespace uvs
