/*
 * fuzz_api.cc - libFuzzer target: random sequences of C API calls on live,
 * stale (freed), wrong-type, forged and NULL handles.
 *
 * Objects: options, engines (io_threads 0, 1, rarely 2), completion queues,
 * operations (bound to a queue or not, with and without timeouts), standalone
 * readers, streams over socketpairs and pipes, TCP and Unix servers on
 * 127.0.0.1 port 0 / a private directory, TCP connections to them (through
 * the API and raw POSIX peers), plus what the peers do (send, read, shut
 * down, close). Every blocking call has a timeout of at most 10 ms, host
 * names are numeric or "localhost" (no DNS wait).
 *
 * Checked, besides "no crash, no sanitizer report, no hang" (libFuzzer's
 * -timeout) and "no leak" (LeakSanitizer):
 * - a call whose object handle is NULL, freed, of another type or forged
 *   fails (negative code), and a freed handle stays UVS_EBADHANDLE;
 * - every operation bound to a queue whose *_start returned UVS_PENDING is
 *   delivered exactly once (never for UVS_COMPLETED, never after the op or
 *   its queue was freed, never after a restart of the op withdrew it), and
 *   only live ops are delivered;
 * - once the streams, servers and engines are freed, every started op is
 *   done;
 * - after everything is freed, no descriptor is left open (/proc/self/fd).
 *
 * Build: make -f Makefile -f tests/reliability.mk fuzz-build
 */
#include <fuzzer/FuzzedDataProvider.h>

#include <uvstreams.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

std::string g_trace;
void trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void trace(const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  g_trace += line;
  g_trace += '\n';
  static const bool verbose = getenv("UVS_FUZZ_VERBOSE") != nullptr;
  if (verbose)
    fprintf(stderr, "%s\n", line);
}

[[noreturn]] void failed(int line, const std::string &what) {
  fprintf(stderr, "\nfuzz_api: line %d: %s\nlast error: %s\ncall trace:\n%s\n",
          line, what.c_str(), uvs_last_error(), g_trace.c_str());
  abort();
}
#define CHECK(cond, what)                                                      \
  do {                                                                         \
    if (!(cond))                                                               \
      failed(__LINE__, std::string(#cond " : ") + (what));                     \
  } while (0)

std::string name(int64_t rc) {
  return std::to_string(rc) + " " + uvs_err_name(int(rc));
}

int count_fds() {
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return -1;
  while (struct dirent *e = readdir(d))
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n - 1; /* the directory's own descriptor */
}

std::string list_fds() {
  std::string out;
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return out;
  while (struct dirent *e = readdir(d)) {
    if (e->d_name[0] == '.')
      continue;
    char path[300], target[256];
    snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
    ssize_t n = readlink(path, target, sizeof target - 1);
    target[n > 0 ? n : 0] = 0;
    out += std::string(e->d_name) + "->" + target + " ";
  }
  closedir(d);
  return out;
}

enum Type { T_OPTIONS, T_ENGINE, T_CQ, T_OP, T_STREAM, T_SERVER, T_N };

struct OpInfo {
  void *cq = nullptr;    /* bound queue (nullptr: none) */
  int undelivered = 0;   /* 1: its last start returned PENDING, not delivered */
  bool unknown = false;  /* a start failed in a way that may or may not have
                            withdrawn a queued completion (UVS_ESHUTDOWN) */
  bool cq_freed = false; /* its queue was freed: nothing more is delivered */
};
struct StreamInfo {
  int peer = -1; /* our end of the socketpair / pipe, or a raw TCP peer */
};
struct ServerInfo {
  int port = -1;
};

int g_base_fds = -1;
char g_dir[64];
unsigned g_serial;
char g_junk[65536];

struct World {
  std::vector<void *> live[T_N];
  std::vector<void *> dead[T_N];
  std::map<void *, OpInfo> ops;
  std::map<void *, StreamInfo> streams;
  std::map<void *, ServerInfo> servers;
  std::map<void *, void *> cq_engine; /* cq -> engine */
  std::vector<int> raw_fds;           /* raw TCP peers not tied to a stream */
  FuzzedDataProvider *p = nullptr;
  std::vector<std::string> unix_paths;
  /* read_into targets: kept until the World ends, after every op is done */
  std::vector<std::unique_ptr<char[]>> into_buffers;

  bool is_live(Type t, void *h) {
    return h && std::find(live[t].begin(), live[t].end(), h) != live[t].end();
  }
  void add(Type t, void *h) { live[t].push_back(h); }
  void kill(Type t, void *h) {
    auto &v = live[t];
    v.erase(std::remove(v.begin(), v.end(), h), v.end());
    if (dead[t].size() < 64)
      dead[t].push_back(h);
  }

  /* A handle for an argument of type t: mostly a live one, sometimes a
   * freed, wrong-type, forged or NULL one. *valid says which. */
  void *pick(Type t, bool *valid) {
    uint8_t c = p->ConsumeIntegral<uint8_t>();
    *valid = false;
    if (c < 180 && !live[t].empty()) {
      *valid = true;
      return live[t][p->ConsumeIntegralInRange<size_t>(0, live[t].size() - 1)];
    }
    if (c < 205 && !dead[t].empty())
      return dead[t][p->ConsumeIntegralInRange<size_t>(0, dead[t].size() - 1)];
    if (c < 225) {
      Type other = Type(p->ConsumeIntegralInRange<int>(0, T_N - 1));
      if (other != t && !live[other].empty())
        return live[other][p->ConsumeIntegralInRange<size_t>(
            0, live[other].size() - 1)];
    }
    if (c < 240)
      return nullptr;
    /* Forged: the right kind byte with a generation no live object has, or
     * any 64-bit value. Handles are integers: never dereferenced. */
    uint64_t v = p->ConsumeIntegral<uint64_t>();
    if (p->ConsumeBool())
      v = (uint64_t(t + 1) << 56) | (uint64_t(0xF00000 | (v & 0xFFFFF)) << 32) |
          (v & 0xFF);
    return reinterpret_cast<void *>(uintptr_t(v));
  }

  int64_t timeout() {
    static const int64_t t[] = {0, 0, 1, 2, 5, 10};
    return t[p->ConsumeIntegralInRange<int>(0, 5)];
  }

  size_t len(size_t max) { return p->ConsumeIntegralInRange<size_t>(0, max); }

  /* ---- bookkeeping of deliveries ----
   * A start that succeeds (PENDING or COMPLETED) withdraws a completion of
   * the op still waiting in its queue (the op holds one result: the engine
   * drops the stale one). So an op has at most one completion to deliver:
   * the one of its last PENDING start. A refused start changes nothing ("a
   * negative return means nothing happened"), except that a UVS_ESHUTDOWN
   * racing an engine shutdown is not checked either way. */
  void started(void *op, int rc, const char *what) {
    trace("  %s -> %s", what, name(rc).c_str());
    CHECK(rc == UVS_PENDING || rc == UVS_COMPLETED || rc < 0,
          std::string(what) + " returned " + name(rc));
    auto it = ops.find(op);
    if (it == ops.end() || !is_live(T_OP, op))
      return;
    OpInfo &info = it->second;
    if (rc == UVS_PENDING || rc == UVS_COMPLETED) {
      info.undelivered = rc == UVS_PENDING && info.cq && !info.cq_freed;
      info.unknown = false;
    } else if (rc == UVS_ESHUTDOWN) {
      info.unknown = true;
    }
  }

  void delivered(void *cq, uvs_op **got, int n) {
    for (int i = 0; i < n; i++) {
      void *op = got[i];
      auto it = ops.find(op);
      CHECK(it != ops.end() && is_live(T_OP, op),
            "the queue delivered a freed or unknown op");
      CHECK(it->second.cq == cq, "op delivered to another queue");
      CHECK(it->second.undelivered > 0 || it->second.unknown,
            "op delivered twice, or without a pending start");
      it->second.undelivered = 0;
      it->second.unknown = false;
      trace("  delivered op %p", op);
    }
  }

  void free_op(void *op) {
    auto it = ops.find(op);
    if (it != ops.end())
      ops.erase(it);
  }

  void free_cq(void *cq) {
    for (auto &o : ops)
      if (o.second.cq == cq) {
        o.second.cq_freed = true;
        o.second.undelivered = 0;
      }
    cq_engine.erase(cq);
  }

  void close_fd(int fd) {
    if (fd >= 0)
      close(fd);
  }
};

/* A valid handle type or not: calls on invalid handles must fail. */
#define EXPECT_FAIL_IF_INVALID(valid, rc, what)                                \
  do {                                                                         \
    if (!(valid))                                                              \
      CHECK((rc) < 0,                                                          \
            std::string(what) + " on an invalid handle returned " + name(rc)); \
  } while (0)

const char *pick_key(FuzzedDataProvider &p) {
  static const char *const keys[] = {"io_threads",
                                     "limit",
                                     "write_high",
                                     "write_low",
                                     "nodelay",
                                     "family",
                                     "backlog",
                                     "reuse_address",
                                     "reuse_port",
                                     "start_serving",
                                     "cleanup_socket",
                                     "direct_reads",
                                     "per_loop_listeners",
                                     "",
                                     "no-such-key",
                                     "fd",
                                     "peer.port",
                                     "sock.port",
                                     "loop",
                                     "kind",
                                     "peername",
                                     "sockname",
                                     "peer.host",
                                     "sock.host",
                                     "read_buffer_size",
                                     "write_buffer_size",
                                     "peer.path",
                                     "sock.path",
                                     "LIMIT",
                                     nullptr};
  return keys[p.ConsumeIntegralInRange<size_t>(0,
                                               sizeof keys / sizeof *keys - 1)];
}

int64_t pick_value(FuzzedDataProvider &p) {
  static const int64_t v[] = {
      0,    1,     2,       3,  4, 6,         -1,        16,           100,
      1024, 65536, 1 << 20, -2, 7, INT64_MIN, INT64_MAX, INT64_MAX / 2};
  if (p.ConsumeIntegral<uint8_t>() < 220)
    return v[p.ConsumeIntegralInRange<size_t>(0, sizeof v / sizeof *v - 1)];
  return p.ConsumeIntegral<int64_t>();
}

int pick_port(World &w) {
  uint8_t c = w.p->ConsumeIntegral<uint8_t>();
  if (c < 150 && !w.servers.empty()) {
    auto it = w.servers.begin();
    std::advance(it,
                 w.p->ConsumeIntegralInRange<size_t>(0, w.servers.size() - 1));
    if (it->second.port > 0)
      return it->second.port;
  }
  static const int ports[] = {0, 1, -1, 65535, 65536, INT_MAX, INT_MIN, 9};
  return ports[w.p->ConsumeIntegralInRange<size_t>(0, 7)];
}

const char *pick_host(FuzzedDataProvider &p) {
  static const char *const hosts[] = {
      "127.0.0.1", "127.0.0.1", "::1",   "localhost",       "",
      nullptr,     "0.0.0.0",   "1.2.3", "::ffff:127.0.0.1"};
  return hosts[p.ConsumeIntegralInRange<size_t>(0, 8)];
}

std::string pick_path(World &w) {
  uint8_t c = w.p->ConsumeIntegral<uint8_t>();
  if (c < 150) {
    if (!w.unix_paths.empty() && c < 100)
      return w.unix_paths[w.p->ConsumeIntegralInRange<size_t>(
          0, w.unix_paths.size() - 1)];
    return std::string(g_dir) + "/s" + std::to_string(g_serial++ % 8);
  }
  if (c < 180)
    return std::string(200, 'p'); /* too long for sun_path */
  if (c < 200)
    return "";
  if (c < 220)
    return std::string(g_dir) + "/no/such/dir/s";
  return std::string(g_dir) + "/" +
         std::string(108 - strlen(g_dir) - 1 - 1, 'x'); /* exactly 107 bytes */
}

/* ---- one input ------------------------------------------------------------
 */

void run(World &w) {
  FuzzedDataProvider &p = *w.p;
  for (int step = 0; step < 80 && p.remaining_bytes() > 0; step++) {
    int action = p.ConsumeIntegralInRange<int>(0, 47);
    bool v1 = false, v2 = false;
    switch (action) {
    case 0: { /* options_new */
      uvs_options *o = nullptr;
      int rc =
          uvs_options_new(p.ConsumeIntegral<uint8_t>() < 250 ? &o : nullptr);
      trace("options_new -> %s", name(rc).c_str());
      if (rc == 0)
        w.add(T_OPTIONS, o);
      break;
    }
    case 1: { /* options_set_int / get_int */
      void *o = w.pick(T_OPTIONS, &v1);
      const char *key = pick_key(p);
      int64_t val = pick_value(p);
      int rc = uvs_options_set_int((uvs_options *)o, key, val);
      trace("options_set_int(%p, %s, %lld) -> %s", o, key ? key : "NULL",
            (long long)val, name(rc).c_str());
      EXPECT_FAIL_IF_INVALID(v1, rc, "options_set_int");
      int64_t out = 0;
      rc = uvs_options_get_int((uvs_options *)o, key,
                               p.ConsumeBool() ? &out : nullptr);
      EXPECT_FAIL_IF_INVALID(v1, rc, "options_get_int");
      break;
    }
    case 2: { /* options_free */
      void *o = w.pick(T_OPTIONS, &v1);
      int rc = uvs_options_free((uvs_options *)o);
      trace("options_free(%p) -> %s", o, name(rc).c_str());
      EXPECT_FAIL_IF_INVALID(v1, rc, "options_free");
      if (v1) {
        CHECK(rc == 0, "options_free " + name(rc));
        w.kill(T_OPTIONS, o);
        CHECK(uvs_options_free((uvs_options *)o) == UVS_EBADHANDLE,
              "double free");
      }
      break;
    }
    case 3: { /* engine_new */
      if (w.live[T_ENGINE].size() >= 3)
        break;
      uvs_options *o = nullptr;
      uvs_options_new(&o);
      uint8_t c = p.ConsumeIntegral<uint8_t>();
      int threads = c < 120 ? 0 : c < 250 ? 1 : c < 253 ? 2 : -1;
      uvs_options_set_int(o, "io_threads", threads);
      uvs_engine *e = nullptr;
      int rc = uvs_engine_new(o, &e);
      uvs_options_free(o);
      trace("engine_new(io_threads %d) -> %s %p", threads, name(rc).c_str(),
            (void *)e);
      if (threads < 0)
        CHECK(rc == UVS_EINVAL, "io_threads -1 accepted");
      else
        CHECK(rc == 0, "engine_new " + name(rc));
      if (rc == 0)
        w.add(T_ENGINE, e);
      break;
    }
    case 4: { /* engine_free */
      void *e = w.pick(T_ENGINE, &v1);
      int rc = uvs_engine_free((uvs_engine *)e);
      trace("engine_free(%p) -> %s", e, name(rc).c_str());
      EXPECT_FAIL_IF_INVALID(v1, rc, "engine_free");
      if (v1) {
        CHECK(rc == 0, "engine_free " + name(rc));
        w.kill(T_ENGINE, e);
      }
      break;
    }
    case 5: { /* engine queries and driving */
      void *e = w.pick(T_ENGINE, &v1);
      int a = uvs_engine_io_threads((uvs_engine *)e);
      int b = uvs_engine_run((uvs_engine *)e);
      int c = uvs_engine_timeout((uvs_engine *)e);
      trace("engine_io_threads/run/timeout(%p) -> %d %d %d", e, a, b, c);
      EXPECT_FAIL_IF_INVALID(v1, a, "engine_io_threads");
      EXPECT_FAIL_IF_INVALID(v1, b, "engine_run");
      if (v1) {
        CHECK(a >= 0, "io_threads " + name(a));
        CHECK(a == 0 ? b == 0 : b == UVS_EWRONGTHREAD, "engine_run");
        CHECK(a == 0 ? c >= -1 : c == UVS_EWRONGTHREAD, "engine_timeout");
      }
      break;
    }
    case 6: { /* cq_new */
      void *e = w.pick(T_ENGINE, &v1);
      uvs_cq *cq = nullptr;
      int rc = uvs_cq_new((uvs_engine *)e,
                          p.ConsumeIntegral<uint8_t>() < 250 ? &cq : nullptr);
      trace("cq_new(%p) -> %s %p", e, name(rc).c_str(), (void *)cq);
      EXPECT_FAIL_IF_INVALID(v1, rc, "cq_new");
      if (rc == 0) {
        w.add(T_CQ, cq);
        w.cq_engine[cq] = e;
      }
      break;
    }
    case 7: { /* cq_poll / wait / next / fd / wakeup */
      void *cq = w.pick(T_CQ, &v1);
      uvs_op *got[8] = {};
      int max = p.ConsumeIntegralInRange<int>(-1, 8);
      int how = p.ConsumeIntegralInRange<int>(0, 4);
      int rc;
      if (how == 0) {
        rc = uvs_cq_poll((uvs_cq *)cq,
                         max > 0 || p.ConsumeBool() ? got : nullptr, max);
      } else if (how == 1) {
        rc = uvs_cq_wait((uvs_cq *)cq, w.timeout(), got, max);
      } else if (how == 2) {
        rc = uvs_cq_next((uvs_cq *)cq, w.timeout(), got);
        max = 1;
      } else if (how == 3) {
        rc = uvs_cq_fd((uvs_cq *)cq);
        trace("cq_fd(%p) -> %d", cq, rc);
        EXPECT_FAIL_IF_INVALID(v1, rc, "cq_fd");
        break;
      } else {
        rc = uvs_cq_wakeup((uvs_cq *)cq);
        trace("cq_wakeup(%p) -> %s", cq, name(rc).c_str());
        EXPECT_FAIL_IF_INVALID(v1, rc, "cq_wakeup");
        break;
      }
      trace("cq_poll/wait/next(%p, max %d) -> %s", cq, max, name(rc).c_str());
      EXPECT_FAIL_IF_INVALID(v1, rc, "cq_poll/wait/next");
      if (rc > 0) {
        CHECK(v1 && rc <= max, "delivery count");
        w.delivered(cq, got, rc);
      }
      break;
    }
    case 8: { /* cq_free */
      void *cq = w.pick(T_CQ, &v1);
      int rc = uvs_cq_free((uvs_cq *)cq);
      trace("cq_free(%p) -> %s", cq, name(rc).c_str());
      EXPECT_FAIL_IF_INVALID(v1, rc, "cq_free");
      if (v1) {
        CHECK(rc == 0, "cq_free " + name(rc));
        w.kill(T_CQ, cq);
        w.free_cq(cq);
      }
      break;
    }
    case 9: { /* op_new */
      if (w.live[T_OP].size() >= 12)
        break;
      bool bind = p.ConsumeBool();
      void *cq = bind ? w.pick(T_CQ, &v1) : nullptr;
      uvs_op *op = nullptr;
      int rc = uvs_op_new((uvs_cq *)cq, p.ConsumeIntegral<uint16_t>(), &op);
      trace("op_new(cq %p) -> %s %p", cq, name(rc).c_str(), (void *)op);
      if (bind)
        EXPECT_FAIL_IF_INVALID(v1 || !cq, rc, "op_new");
      if (rc == 0) {
        w.add(T_OP, op);
        OpInfo info;
        info.cq = cq;
        w.ops[op] = info;
        if (p.ConsumeIntegral<uint8_t>() > 200) {
          static const int64_t t[] = {-1, 0, 1, 5, 50};
          int64_t ms = t[p.ConsumeIntegralInRange<int>(0, 4)];
          uvs_op_set_timeout(op, ms);
          trace("  op_set_timeout(%lld)", (long long)ms);
        }
      }
      break;
    }
    case 10: { /* op_free / cancel / set_timeout */
      void *op = w.pick(T_OP, &v1);
      int how = p.ConsumeIntegralInRange<int>(0, 2);
      int rc = how == 0   ? uvs_op_free((uvs_op *)op)
               : how == 1 ? uvs_op_cancel((uvs_op *)op)
                          : uvs_op_set_timeout((uvs_op *)op, w.timeout());
      trace("op_%s(%p) -> %s",
            how == 0   ? "free"
            : how == 1 ? "cancel"
                       : "set_timeout",
            op, name(rc).c_str());
      EXPECT_FAIL_IF_INVALID(v1, rc, "op_free/cancel/set_timeout");
      if (v1 && how == 0) {
        CHECK(rc == 0, "op_free " + name(rc));
        w.kill(T_OP, op);
        w.free_op(op);
      }
      break;
    }
    case 11: { /* op queries */
      void *op = w.pick(T_OP, &v1);
      const void *d = nullptr;
      size_t l = 0;
      uvs_stream *s = nullptr;
      int done = uvs_op_is_done((uvs_op *)op);
      int res = uvs_op_result((uvs_op *)op);
      int kind = uvs_op_kind((uvs_op *)op);
      int drc = uvs_op_data((uvs_op *)op, p.ConsumeBool() ? &d : nullptr, &l);
      int64_t cons = uvs_op_consumed((uvs_op *)op);
      int64_t exp = uvs_op_expected((uvs_op *)op);
      uint64_t tag = uvs_op_tag((uvs_op *)op);
      trace("op queries(%p) -> done %d result %s kind %d data %s", op, done,
            name(res).c_str(), kind, name(drc).c_str());
      EXPECT_FAIL_IF_INVALID(v1, done, "op_is_done");
      EXPECT_FAIL_IF_INVALID(v1, res, "op_result");
      EXPECT_FAIL_IF_INVALID(v1, kind, "op_kind");
      EXPECT_FAIL_IF_INVALID(v1, drc, "op_data");
      if (!v1) {
        CHECK(tag == 0, "op_tag of an invalid handle");
        CHECK(cons == UVS_EBADHANDLE && exp == UVS_EBADHANDLE,
              "consumed/expected of an invalid handle");
      } else {
        CHECK(done == 0 || done == 1, "is_done " + name(done));
        CHECK(kind >= UVS_OP_NONE && kind <= UVS_OP_SERVER_WAIT_CLOSED,
              "op kind " + std::to_string(kind));
        if (done == 1)
          CHECK(res <= 0, "op result " + name(res));
        if (drc == 0) {
          CHECK(d != nullptr, "op_data gave NULL");
          if (l)
            memcpy(g_junk, d, std::min<size_t>(l, 64)); /* readable */
        }
      }
      int trc =
          uvs_op_take_stream((uvs_op *)op, p.ConsumeBool() ? &s : nullptr);
      EXPECT_FAIL_IF_INVALID(v1, trc, "op_take_stream");
      if (trc == 0) {
        CHECK(s != nullptr, "take_stream gave NULL");
        trace("  took stream %p", (void *)s);
        w.add(T_STREAM, s);
        w.streams[s] = StreamInfo();
      }
      int urc = uvs_op_unread((uvs_op *)op);
      trace("  unread -> %s", name(urc).c_str());
      EXPECT_FAIL_IF_INVALID(v1, urc, "op_unread");
      break;
    }
    case 12: { /* op_wait */
      void *op = w.pick(T_OP, &v1);
      int rc = uvs_op_wait((uvs_op *)op, w.timeout());
      trace("op_wait(%p) -> %s", op, name(rc).c_str());
      EXPECT_FAIL_IF_INVALID(v1, rc, "op_wait");
      if (v1)
        CHECK(rc == 0 || rc == UVS_ETIMEDOUT || rc == UVS_EINVAL ||
                  rc == UVS_ESHUTDOWN,
              "op_wait " + name(rc));
      break;
    }
    case 13:
    case 14: { /* connect_tcp (start or blocking) */
      void *e = w.pick(T_ENGINE, &v1);
      const char *host = pick_host(p);
      int port = pick_port(w);
      bool start = action == 13;
      if (start) {
        void *op = w.pick(T_OP, &v2);
        int rc = uvs_connect_tcp_start((uvs_engine *)e, host, port, nullptr,
                                       (uvs_op *)op);
        trace("connect_tcp_start(%p, %s, %d, op %p)", e, host ? host : "NULL",
              port, op);
        w.started(op, rc, "connect_tcp_start");
        EXPECT_FAIL_IF_INVALID(v1 && v2, rc, "connect_tcp_start");
      } else {
        uvs_stream *s = nullptr;
        int64_t t = w.timeout();
        int rc = uvs_connect_tcp((uvs_engine *)e, host, port, nullptr, t, &s);
        trace("connect_tcp(%p, %s, %d, %lld ms) -> %s", e, host ? host : "NULL",
              port, (long long)t, name(rc).c_str());
        EXPECT_FAIL_IF_INVALID(v1, rc, "connect_tcp");
        if (rc == 0) {
          CHECK(s != nullptr, "connect gave NULL");
          w.add(T_STREAM, s);
          w.streams[s] = StreamInfo();
        }
      }
      break;
    }
    case 15: { /* connect_unix */
      void *e = w.pick(T_ENGINE, &v1);
      std::string path = pick_path(w);
      const char *cpath =
          p.ConsumeIntegral<uint8_t>() < 250 ? path.c_str() : nullptr;
      if (p.ConsumeBool()) {
        void *op = w.pick(T_OP, &v2);
        int rc = uvs_connect_unix_start((uvs_engine *)e, cpath, nullptr,
                                        (uvs_op *)op);
        trace("connect_unix_start(%s)", cpath ? cpath : "NULL");
        w.started(op, rc, "connect_unix_start");
        EXPECT_FAIL_IF_INVALID(v1 && v2, rc, "connect_unix_start");
      } else {
        uvs_stream *s = nullptr;
        int rc =
            uvs_connect_unix((uvs_engine *)e, cpath, nullptr, w.timeout(), &s);
        trace("connect_unix(%s) -> %s", cpath ? cpath : "NULL",
              name(rc).c_str());
        EXPECT_FAIL_IF_INVALID(v1, rc, "connect_unix");
        if (rc == 0) {
          w.add(T_STREAM, s);
          w.streams[s] = StreamInfo();
        }
      }
      break;
    }
    case 16:
    case 17: { /* stream_open_fd: socketpair, pipe, /dev/null, -1 */
      if (w.streams.size() >= 16)
        break;
      void *e = w.pick(T_ENGINE, &v1);
      void *o = p.ConsumeBool() ? w.pick(T_OPTIONS, &v2) : nullptr;
      int what = p.ConsumeIntegralInRange<int>(0, 5);
      int fd = -1, peer = -1;
      if (what <= 2) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
          fd = sv[0];
          peer = sv[1];
        }
      } else if (what == 3) {
        int pf[2];
        if (pipe2(pf, O_CLOEXEC) == 0) {
          bool read_end = p.ConsumeBool();
          fd = read_end ? pf[0] : pf[1];
          peer = read_end ? pf[1] : pf[0];
          /* The peer never blocks: a write into a full pipe would hang
           * the harness, not the library. */
          fcntl(peer, F_SETFL, fcntl(peer, F_GETFL) | O_NONBLOCK);
        }
      } else if (what == 4) {
        fd = open("/dev/null", O_RDWR | O_CLOEXEC);
      }
      uvs_stream *s = nullptr;
      int rc = uvs_stream_open_fd((uvs_engine *)e, fd, (uvs_options *)o, &s);
      trace("stream_open_fd(%p, fd kind %d, opts %p) -> %s %p", e, what, o,
            name(rc).c_str(), (void *)s);
      EXPECT_FAIL_IF_INVALID(v1, rc, "stream_open_fd");
      if (what == 4 || what == 5)
        CHECK(rc < 0, "open_fd accepted a non-stream");
      if (rc == 0) {
        w.add(T_STREAM, s);
        StreamInfo info;
        info.peer = peer;
        w.streams[s] = info;
      } else {
        w.close_fd(peer); /* fd itself belongs to the library now */
      }
      break;
    }
    case 18: { /* reader_new */
      if (w.streams.size() >= 16)
        break;
      bool with_engine = p.ConsumeBool();
      void *e = with_engine ? w.pick(T_ENGINE, &v1) : nullptr;
      void *o = p.ConsumeBool() ? w.pick(T_OPTIONS, &v2) : nullptr;
      uvs_stream *s = nullptr;
      int rc = uvs_reader_new((uvs_engine *)e, (uvs_options *)o, &s);
      trace("reader_new(%p, %p) -> %s %p", e, o, name(rc).c_str(), (void *)s);
      if (with_engine && e)
        EXPECT_FAIL_IF_INVALID(v1, rc, "reader_new");
      if (rc == 0) {
        w.add(T_STREAM, s);
        w.streams[s] = StreamInfo();
      }
      break;
    }
    case 19: { /* feed_data / feed_eof / set_error */
      void *s = w.pick(T_STREAM, &v1);
      int how = p.ConsumeIntegralInRange<int>(0, 2);
      int rc;
      if (how == 0) {
        size_t l = w.len(300);
        bool null_data = p.ConsumeIntegral<uint8_t>() > 245;
        rc = uvs_reader_feed_data((uvs_stream *)s, null_data ? nullptr : g_junk,
                                  l);
        if (null_data && l)
          CHECK(rc == UVS_EINVAL || !v1, "NULL data accepted");
      } else if (how == 1) {
        rc = uvs_reader_feed_eof((uvs_stream *)s);
      } else {
        rc = uvs_reader_set_error((uvs_stream *)s,
                                  p.ConsumeIntegralInRange<int>(-200, 2));
      }
      trace("reader feed/eof/error #%d (%p) -> %s", how, s, name(rc).c_str());
      EXPECT_FAIL_IF_INVALID(v1, rc, "feed");
      break;
    }
    case 20:
    case 21: { /* read starts */
      void *s = w.pick(T_STREAM, &v1);
      void *op = w.pick(T_OP, &v2);
      int kind = p.ConsumeIntegralInRange<int>(0, 5);
      int64_t n = pick_value(p) % 100000;
      const char *sepstr[] = {"\n", "ab", "", "\r\n", "\0"};
      uvs_buf seps[3];
      size_t nseps = p.ConsumeIntegralInRange<size_t>(0, 3);
      for (size_t i = 0; i < nseps; i++) {
        int k = p.ConsumeIntegralInRange<int>(0, 4);
        seps[i].base = p.ConsumeIntegral<uint8_t>() > 250 ? nullptr : sepstr[k];
        seps[i].len = k == 4 ? 1 : strlen(sepstr[k]);
      }
      int rc;
      switch (kind) {
      case 0:
        rc = uvs_stream_read_start((uvs_stream *)s, n, (uvs_op *)op);
        break;
      case 1:
        rc = uvs_stream_readexactly_start((uvs_stream *)s, n, (uvs_op *)op);
        break;
      case 2:
        rc = uvs_stream_readuntil_any_start((uvs_stream *)s,
                                            p.ConsumeBool() ? seps : nullptr,
                                            nseps, (uvs_op *)op);
        break;
      case 3:
        rc = uvs_stream_readuntil_start((uvs_stream *)s,
                                        nseps ? seps[0].base : nullptr,
                                        nseps ? seps[0].len : 1, (uvs_op *)op);
        break;
      case 4: { /* exactly cap bytes: ASan sees any write past them */
        size_t cap = size_t(n < 0 ? -n : n);
        char *buf = nullptr;
        if (p.ConsumeIntegral<uint8_t>() <= 250) {
          w.into_buffers.push_back(std::make_unique<char[]>(cap ? cap : 1));
          buf = w.into_buffers.back().get();
        }
        rc =
            uvs_stream_read_into_start((uvs_stream *)s, buf, cap, (uvs_op *)op);
        break;
      }
      default:
        rc = uvs_stream_readline_start((uvs_stream *)s, (uvs_op *)op);
        break;
      }
      trace("read start kind %d n %lld nseps %zu (s %p, op %p)", kind,
            (long long)n, nseps, s, op);
      w.started(op, rc, "read start");
      EXPECT_FAIL_IF_INVALID(v1 && v2, rc, "read start");
      break;
    }
    case 22: { /* blocking reads */
      void *s = w.pick(T_STREAM, &v1);
      void *d = nullptr;
      size_t l = 0;
      int64_t consumed = 0;
      int kind = p.ConsumeIntegralInRange<int>(0, 5);
      int64_t n = pick_value(p) % 100000;
      int64_t t = w.timeout();
      uvs_buf seps[2] = {{"\n", 1}, {"xy", 2}};
      int rc;
      switch (kind) {
      case 0:
        rc = uvs_stream_read((uvs_stream *)s, n, t,
                             p.ConsumeBool() ? &d : nullptr, &l);
        break;
      case 1:
        rc = uvs_stream_readexactly((uvs_stream *)s, n, t, &d, &l);
        break;
      case 2:
        rc = uvs_stream_readuntil((uvs_stream *)s, "\r\n",
                                  p.ConsumeIntegralInRange<size_t>(0, 2), t, &d,
                                  &l, p.ConsumeBool() ? &consumed : nullptr);
        break;
      case 3:
        rc = uvs_stream_readuntil_any((uvs_stream *)s, seps,
                                      p.ConsumeIntegralInRange<size_t>(0, 2), t,
                                      &d, &l, &consumed);
        break;
      case 4: { /* freed on return: ASan sees a late or overlong write */
        size_t cap = size_t(n < 0 ? -n : n);
        auto buf = std::make_unique<char[]>(cap ? cap : 1);
        rc = uvs_stream_read_into((uvs_stream *)s, buf.get(), cap, t, &l);
        CHECK(rc < 0 || l <= cap, "read_into returned more than its cap");
        if (rc == 0)
          memcpy(g_junk, buf.get(), std::min<size_t>(l, 64));
        break;
      }
      default:
        rc = uvs_stream_readline((uvs_stream *)s, t, &d, &l);
        break;
      }
      trace("blocking read kind %d (s %p, %lld ms) -> %s len %zu", kind, s,
            (long long)t, name(rc).c_str(), l);
      EXPECT_FAIL_IF_INVALID(v1, rc, "blocking read");
      if (rc == 0 || rc == UVS_EINCOMPLETE) {
        if (d)
          memcpy(g_junk, d, std::min<size_t>(l, 64));
      } else {
        CHECK(d == nullptr, "bytes returned with an error " + name(rc));
      }
      uvs_free(d);
      break;
    }
    case 23: { /* stream state queries */
      void *s = w.pick(T_STREAM, &v1);
      int a = uvs_stream_at_eof((uvs_stream *)s);
      int b = uvs_stream_error((uvs_stream *)s);
      int c = uvs_stream_is_closing((uvs_stream *)s);
      int d = uvs_stream_can_write_eof((uvs_stream *)s);
      int64_t wb = uvs_stream_write_buffer_size((uvs_stream *)s);
      int64_t iv = 0;
      const char *key = pick_key(p);
      int e = uvs_stream_get_int((uvs_stream *)s, key,
                                 p.ConsumeBool() ? &iv : nullptr);
      char *str = nullptr;
      int f = uvs_stream_get_str((uvs_stream *)s, pick_key(p),
                                 p.ConsumeBool() ? &str : nullptr);
      if (f == 0) {
        CHECK(str != nullptr, "get_str gave NULL");
        (void)strlen(str);
      }
      uvs_free(str);
      trace("stream queries(%p) -> %d %d %d %d %lld %d %d", s, a, b, c, d,
            (long long)wb, e, f);
      if (!v1)
        CHECK(a < 0 && c < 0 && d < 0 && wb < 0 && e < 0 && f < 0 && b < 0,
              "query on an invalid stream succeeded");
      else
        CHECK(a >= 0 && c >= 0 && d >= 0 && wb >= 0 && b <= 0,
              "stream queries on a live stream");
      break;
    }
    case 24: { /* write / writev */
      void *s = w.pick(T_STREAM, &v1);
      int rc;
      if (p.ConsumeBool()) {
        size_t l = w.len(p.ConsumeBool() ? 65536 : 100);
        rc = uvs_stream_write(
            (uvs_stream *)s,
            p.ConsumeIntegral<uint8_t>() > 250 ? nullptr : g_junk, l);
      } else {
        uvs_buf b[4];
        size_t n = p.ConsumeIntegralInRange<size_t>(0, 4);
        for (size_t i = 0; i < n; i++) {
          b[i].len = w.len(20000);
          b[i].base = p.ConsumeIntegral<uint8_t>() > 250 ? nullptr : g_junk;
        }
        rc = uvs_stream_writev((uvs_stream *)s,
                               p.ConsumeIntegral<uint8_t>() > 250 ? nullptr : b,
                               n);
      }
      trace("write(%p) -> %s", s, name(rc).c_str());
      EXPECT_FAIL_IF_INVALID(v1, rc, "write");
      break;
    }
    case 25: { /* drain */
      void *s = w.pick(T_STREAM, &v1);
      if (p.ConsumeBool()) {
        void *op = w.pick(T_OP, &v2);
        int rc = uvs_stream_drain_start((uvs_stream *)s, (uvs_op *)op);
        trace("drain_start(%p, op %p)", s, op);
        w.started(op, rc, "drain_start");
        EXPECT_FAIL_IF_INVALID(v1 && v2, rc, "drain_start");
      } else {
        int rc = uvs_stream_drain((uvs_stream *)s, w.timeout());
        trace("drain(%p) -> %s", s, name(rc).c_str());
        EXPECT_FAIL_IF_INVALID(v1, rc, "drain");
      }
      break;
    }
    case 26: { /* write limits / write_eof */
      void *s = w.pick(T_STREAM, &v1);
      int64_t high = pick_value(p), low = pick_value(p);
      int rc = uvs_stream_set_write_limits((uvs_stream *)s, high, low);
      trace("set_write_limits(%p, %lld, %lld) -> %s", s, (long long)high,
            (long long)low, name(rc).c_str());
      EXPECT_FAIL_IF_INVALID(v1, rc, "set_write_limits");
      if (v1 && rc == 0) {
        int64_t h = -1, l = -1;
        CHECK(uvs_stream_get_int((uvs_stream *)s, "write_high", &h) == 0 &&
                  uvs_stream_get_int((uvs_stream *)s, "write_low", &l) == 0,
              "get write limits");
        CHECK(h >= l && l >= 0, "accepted limits with low > high or < 0");
      }
      if (p.ConsumeBool()) {
        rc = uvs_stream_write_eof((uvs_stream *)s);
        trace("write_eof(%p) -> %s", s, name(rc).c_str());
        EXPECT_FAIL_IF_INVALID(v1, rc, "write_eof");
      }
      break;
    }
    case 27: { /* close / abort */
      void *s = w.pick(T_STREAM, &v1);
      int rc = p.ConsumeBool() ? uvs_stream_close((uvs_stream *)s)
                               : uvs_stream_abort((uvs_stream *)s);
      trace("close/abort(%p) -> %s", s, name(rc).c_str());
      EXPECT_FAIL_IF_INVALID(v1, rc, "close/abort");
      if (v1)
        CHECK(rc == 0, "close/abort " + name(rc));
      break;
    }
    case 28: { /* wait_closed */
      void *s = w.pick(T_STREAM, &v1);
      if (p.ConsumeBool()) {
        void *op = w.pick(T_OP, &v2);
        int rc = uvs_stream_wait_closed_start((uvs_stream *)s, (uvs_op *)op);
        trace("wait_closed_start(%p, op %p)", s, op);
        w.started(op, rc, "wait_closed_start");
        EXPECT_FAIL_IF_INVALID(v1 && v2, rc, "wait_closed_start");
      } else {
        int rc = uvs_stream_wait_closed((uvs_stream *)s, w.timeout());
        trace("wait_closed(%p) -> %s", s, name(rc).c_str());
        EXPECT_FAIL_IF_INVALID(v1, rc, "wait_closed");
      }
      break;
    }
    case 29: { /* stream_free */
      void *s = w.pick(T_STREAM, &v1);
      int rc = uvs_stream_free((uvs_stream *)s);
      trace("stream_free(%p) -> %s", s, name(rc).c_str());
      EXPECT_FAIL_IF_INVALID(v1, rc, "stream_free");
      if (v1) {
        CHECK(rc == 0, "stream_free " + name(rc));
        CHECK(uvs_stream_free((uvs_stream *)s) == UVS_EBADHANDLE,
              "double free");
        w.kill(T_STREAM, s);
        auto it = w.streams.find(s);
        if (it != w.streams.end()) {
          if (it->second.peer >= 0)
            w.raw_fds.push_back(it->second.peer);
          w.streams.erase(it);
        }
      }
      break;
    }
    case 30:
    case 31: { /* server_listen_tcp / unix */
      if (w.servers.size() >= 4)
        break;
      void *e = w.pick(T_ENGINE, &v1);
      void *o = p.ConsumeBool() ? w.pick(T_OPTIONS, &v2) : nullptr;
      uvs_server *srv = nullptr;
      int rc;
      if (action == 30) {
        const char *host = pick_host(p);
        int port = p.ConsumeIntegral<uint8_t>() < 230 ? 0 : pick_port(w);
        rc = uvs_server_listen_tcp((uvs_engine *)e, host, port,
                                   (uvs_options *)o, &srv);
        trace("listen_tcp(%p, %s, %d, opts %p) -> %s %p", e,
              host ? host : "NULL", port, o, name(rc).c_str(), (void *)srv);
      } else {
        std::string path = pick_path(w);
        rc = uvs_server_listen_unix((uvs_engine *)e, path.c_str(),
                                    (uvs_options *)o, &srv);
        trace("listen_unix(%s) -> %s", path.c_str(), name(rc).c_str());
        if (rc == 0)
          w.unix_paths.push_back(path);
      }
      EXPECT_FAIL_IF_INVALID(v1, rc, "listen");
      if (rc == 0) {
        w.add(T_SERVER, srv);
        ServerInfo info;
        char *h = nullptr;
        int port = -1;
        if (uvs_server_num_addresses(srv) > 0 &&
            uvs_server_address(srv, 0, &h, &port) == 0)
          info.port = port;
        uvs_free(h);
        w.servers[srv] = info;
      }
      break;
    }
    case 32: { /* server queries */
      void *srv = w.pick(T_SERVER, &v1);
      int a = uvs_server_is_serving((uvs_server *)srv);
      int b = uvs_server_num_addresses((uvs_server *)srv);
      int c = uvs_server_num_clients((uvs_server *)srv);
      char *h = nullptr;
      int port = 0;
      int d = uvs_server_address((uvs_server *)srv,
                                 p.ConsumeIntegralInRange<int>(-1, 2),
                                 p.ConsumeBool() ? &h : nullptr, &port);
      if (d == 0) {
        CHECK(h != nullptr, "address gave NULL");
        (void)strlen(h);
      }
      uvs_free(h);
      trace("server queries(%p) -> %d %d %d %d", srv, a, b, c, d);
      if (!v1)
        CHECK(a < 0 && b < 0 && c < 0 && d < 0,
              "server query on invalid handle");
      break;
    }
    case 33: { /* start_serving */
      void *srv = w.pick(T_SERVER, &v1);
      int rc = uvs_server_start_serving((uvs_server *)srv);
      trace("start_serving(%p) -> %s", srv, name(rc).c_str());
      EXPECT_FAIL_IF_INVALID(v1, rc, "start_serving");
      break;
    }
    case 34: { /* accept */
      void *srv = w.pick(T_SERVER, &v1);
      if (p.ConsumeBool()) {
        void *op = w.pick(T_OP, &v2);
        int rc = uvs_server_accept_start((uvs_server *)srv, (uvs_op *)op);
        trace("accept_start(%p, op %p)", srv, op);
        w.started(op, rc, "accept_start");
        EXPECT_FAIL_IF_INVALID(v1 && v2, rc, "accept_start");
      } else {
        uvs_stream *s = nullptr;
        int rc = uvs_server_accept((uvs_server *)srv, w.timeout(), &s);
        trace("accept(%p) -> %s %p", srv, name(rc).c_str(), (void *)s);
        EXPECT_FAIL_IF_INVALID(v1, rc, "accept");
        if (rc == 0) {
          CHECK(s != nullptr, "accept gave NULL");
          w.add(T_STREAM, s);
          w.streams[s] = StreamInfo();
        }
      }
      break;
    }
    case 35: { /* server close / close_clients / abort_clients */
      void *srv = w.pick(T_SERVER, &v1);
      int how = p.ConsumeIntegralInRange<int>(0, 2);
      int rc = how == 0   ? uvs_server_close((uvs_server *)srv)
               : how == 1 ? uvs_server_close_clients((uvs_server *)srv)
                          : uvs_server_abort_clients((uvs_server *)srv);
      trace("server close #%d (%p) -> %s", how, srv, name(rc).c_str());
      EXPECT_FAIL_IF_INVALID(v1, rc, "server close");
      break;
    }
    case 36: { /* server wait_closed */
      void *srv = w.pick(T_SERVER, &v1);
      if (p.ConsumeBool()) {
        void *op = w.pick(T_OP, &v2);
        int rc = uvs_server_wait_closed_start((uvs_server *)srv, (uvs_op *)op);
        trace("server_wait_closed_start(%p, op %p)", srv, op);
        w.started(op, rc, "server_wait_closed_start");
        EXPECT_FAIL_IF_INVALID(v1 && v2, rc, "server_wait_closed_start");
      } else {
        int rc = uvs_server_wait_closed((uvs_server *)srv, w.timeout());
        trace("server_wait_closed(%p) -> %s", srv, name(rc).c_str());
        EXPECT_FAIL_IF_INVALID(v1, rc, "server_wait_closed");
      }
      break;
    }
    case 37: { /* server_free */
      void *srv = w.pick(T_SERVER, &v1);
      int rc = uvs_server_free((uvs_server *)srv);
      trace("server_free(%p) -> %s", srv, name(rc).c_str());
      EXPECT_FAIL_IF_INVALID(v1, rc, "server_free");
      if (v1) {
        CHECK(rc == 0, "server_free " + name(rc));
        w.kill(T_SERVER, srv);
        w.servers.erase(srv);
      }
      break;
    }
    case 38:
    case 39: { /* the peers: send, read, shut down, close */
      if (w.streams.empty())
        break;
      auto it = w.streams.begin();
      std::advance(it,
                   p.ConsumeIntegralInRange<size_t>(0, w.streams.size() - 1));
      int fd = it->second.peer;
      if (fd < 0)
        break;
      int how = p.ConsumeIntegralInRange<int>(0, 4);
      trace("peer %d action %d", fd, how);
      if (how == 0) {
        static const char *const lines[] = {"hello\n", "ab", "\r\n", "x",
                                            "line one\nline two\n"};
        const char *l = lines[p.ConsumeIntegralInRange<int>(0, 4)];
        /* A pipe is not a socket: write(2) to it, never blocking (its peer
         * is non-blocking). A full or closed peer is fine. */
        if (send(fd, l, strlen(l), MSG_DONTWAIT | MSG_NOSIGNAL) < 0 &&
            errno == ENOTSOCK && write(fd, l, strlen(l)) < 0) {
        }
      } else if (how == 1) {
        size_t l = w.len(65536);
        if (send(fd, g_junk, l, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
        }
      } else if (how == 2) {
        char buf[65536];
        for (int i = 0; i < 8; i++)
          if (recv(fd, buf, sizeof buf, MSG_DONTWAIT) <= 0)
            break;
      } else if (how == 3) {
        shutdown(fd, SHUT_WR);
      } else {
        close(fd);
        it->second.peer = -1;
      }
      break;
    }
    case 40: { /* a raw TCP client to one of the servers */
      if (w.raw_fds.size() >= 16)
        break;
      int port = pick_port(w);
      if (port <= 0 || port > 65535)
        break;
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      if (fd < 0)
        break;
      struct sockaddr_in sin = {};
      sin.sin_family = AF_INET;
      sin.sin_port = htons(uint16_t(port));
      sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      int rc =
          connect(fd, reinterpret_cast<struct sockaddr *>(&sin), sizeof sin);
      trace("raw connect to %d -> %d", port, rc);
      if (p.ConsumeBool()) {
        struct linger lg = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      }
      w.raw_fds.push_back(fd);
      break;
    }
    case 41: { /* close a raw client (maybe with an RST) */
      if (w.raw_fds.empty())
        break;
      size_t i = p.ConsumeIntegralInRange<size_t>(0, w.raw_fds.size() - 1);
      if (p.ConsumeBool()) {
        struct linger lg = {1, 0};
        setsockopt(w.raw_fds[i], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      }
      close(w.raw_fds[i]);
      w.raw_fds.erase(w.raw_fds.begin() + long(i));
      break;
    }
    case 42: { /* errors and strings, any value */
      int code = p.ConsumeIntegral<int>();
      if (p.ConsumeBool())
        code = -p.ConsumeIntegralInRange<int>(0, 30200);
      const char *a = uvs_strerror(code);
      const char *b = uvs_err_name(code);
      CHECK(a && b && uvs_last_error(), "NULL string");
      (void)strlen(a);
      (void)strlen(b);
      CHECK(uvs_version() == UVS_VERSION_HEX, "version");
      uvs_free(nullptr);
      break;
    }
    case 43: { /* ops on a freed stream's op, a stale op on a live stream */
      void *op = w.pick(T_OP, &v2);
      void *s = w.pick(T_STREAM, &v1);
      int rc = uvs_stream_read_start((uvs_stream *)s, 1, (uvs_op *)op);
      trace("read_start(1) (s %p, op %p)", s, op);
      w.started(op, rc, "read_start");
      EXPECT_FAIL_IF_INVALID(v1 && v2, rc, "read_start");
      break;
    }
    case 44: { /* let the host-driven engines run a little */
      for (void *e : w.live[T_ENGINE])
        uvs_engine_run((uvs_engine *)e);
      break;
    }
    case 45: { /* options for the next objects: limits, marks, family */
      void *o = w.pick(T_OPTIONS, &v1);
      static const char *const keys[] = {"limit",  "write_high",    "write_low",
                                         "family", "start_serving", "backlog"};
      const char *key = keys[p.ConsumeIntegralInRange<int>(0, 5)];
      int64_t val = pick_value(p);
      int rc = uvs_options_set_int((uvs_options *)o, key, val);
      trace("options_set_int(%p, %s, %lld) -> %s", o, key, (long long)val,
            name(rc).c_str());
      EXPECT_FAIL_IF_INVALID(v1, rc, "options_set_int");
      break;
    }
    default: { /* 46, 47: the queue, drained a little */
      if (w.live[T_CQ].empty())
        break;
      void *cq =
          w.live[T_CQ]
                [p.ConsumeIntegralInRange<size_t>(0, w.live[T_CQ].size() - 1)];
      uvs_op *got[8];
      int rc = uvs_cq_poll((uvs_cq *)cq, got, 8);
      trace("cq_poll(%p) -> %s", cq, name(rc).c_str());
      CHECK(rc >= 0 && rc <= 8, "cq_poll " + name(rc));
      w.delivered(cq, got, rc);
      break;
    }
    }
  }
}

/* Frees everything, checks that every started op finished and was delivered
 * once, and that no descriptor is left. */
void teardown(World &w) {
  trace("teardown");
  for (void *srv : std::vector<void *>(w.live[T_SERVER]))
    CHECK(uvs_server_free((uvs_server *)srv) == 0, "server_free");
  for (void *s : std::vector<void *>(w.live[T_STREAM]))
    CHECK(uvs_stream_free((uvs_stream *)s) == 0, "stream_free");
  for (auto &st : w.streams)
    w.close_fd(st.second.peer);
  for (int fd : w.raw_fds)
    close(fd);
  for (void *e : std::vector<void *>(w.live[T_ENGINE]))
    CHECK(uvs_engine_free((uvs_engine *)e) == 0, "engine_free");
  /* Every object is gone: every started op must be done now, and each one
   * bound to a live queue delivered exactly once. */
  for (void *cq : w.live[T_CQ]) {
    uvs_op *got[16];
    int rc;
    while ((rc = uvs_cq_poll((uvs_cq *)cq, got, 16)) > 0)
      w.delivered(cq, got, rc);
    CHECK(rc == 0, "final cq_poll " + name(rc));
  }
  for (void *op : w.live[T_OP]) {
    CHECK(uvs_op_is_done((uvs_op *)op) == 1,
          "an op is still pending after every object was freed");
    auto it = w.ops.find(op);
    if (it != w.ops.end() && !it->second.unknown)
      CHECK(it->second.undelivered == 0,
            "a pending op of a live queue was never delivered");
  }
  for (void *op : std::vector<void *>(w.live[T_OP]))
    CHECK(uvs_op_free((uvs_op *)op) == 0, "op_free");
  for (void *cq : std::vector<void *>(w.live[T_CQ]))
    CHECK(uvs_cq_free((uvs_cq *)cq) == 0, "cq_free");
  for (void *o : std::vector<void *>(w.live[T_OPTIONS]))
    CHECK(uvs_options_free((uvs_options *)o) == 0, "options_free");
  for (int t = 0; t < T_N; t++) {
    for (void *h : w.live[t])
      w.dead[t].push_back(h);
    w.live[t].clear();
  }
  /* Stale handles stay stale. */
  for (void *h : w.dead[T_STREAM])
    CHECK(uvs_stream_at_eof((uvs_stream *)h) == UVS_EBADHANDLE, "stale stream");
  for (void *h : w.dead[T_OP])
    CHECK(uvs_op_is_done((uvs_op *)h) == UVS_EBADHANDLE, "stale op");
  for (void *h : w.dead[T_ENGINE])
    CHECK(uvs_engine_io_threads((uvs_engine *)h) == UVS_EBADHANDLE,
          "stale engine");
  for (void *h : w.dead[T_CQ])
    CHECK(uvs_cq_wakeup((uvs_cq *)h) == UVS_EBADHANDLE, "stale cq");
  for (void *h : w.dead[T_SERVER])
    CHECK(uvs_server_num_clients((uvs_server *)h) == UVS_EBADHANDLE,
          "stale server");
  for (const std::string &path : w.unix_paths)
    unlink(path.c_str());
  /* Descriptors: engines close theirs synchronously; give stragglers (an
   * op holding the last reference to a queue, a deadline firing) 2 s. */
  int n = count_fds();
  for (int i = 0; i < 200 && n > g_base_fds; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    n = count_fds();
  }
  CHECK(n <= g_base_fds, "descriptor leak: " + std::to_string(n) + " open, " +
                             std::to_string(g_base_fds) +
                             " before: " + list_fds());
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  signal(SIGPIPE, SIG_IGN); /* pipes are written with write(), see header */
  memset(g_junk, 'j', sizeof g_junk);
  for (size_t i = 0; i < sizeof g_junk; i += 61)
    g_junk[i] = '\n';
  snprintf(g_dir, sizeof g_dir, "/tmp/uvs-fuzz-api-%d", int(getpid()));
  mkdir(g_dir, 0700);
  atexit([] { rmdir(g_dir); }); /* its sockets are unlinked by teardown */
  /* libuv's process-wide descriptors (signal pipe) exist after the first
   * loop; the threadpool starts with the first resolver request. */
  uvs_engine *e = nullptr;
  uvs_engine_new(nullptr, &e);
  uvs_stream *s = nullptr;
  uvs_connect_tcp(e, "localhost", 1, nullptr, 1000, &s);
  uvs_engine_free(e);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  FuzzedDataProvider p(data, size);
  g_trace.clear();
  World w;
  w.p = &p;
  g_base_fds = count_fds(); /* per input: libFuzzer opens its own after init */
  run(w);
  teardown(w);
  return 0;
}
