/*
 * inject.cc - the torture executable's interposers (see inject.h).
 *
 * Design: the functions below are defined in the executable, so the dynamic
 * linker binds every library's calls (libuvstreams, libstdc++, libuv,
 * OpenSSL, libc's own PLT calls) to them before libasan's or libc's. Each
 * forwards to the next definition (dlsym RTLD_NEXT: ASan's interceptor under
 * ASan, else libc's), so ASan still tracks every block and reports leaks.
 * An -Wl,--wrap build would only see the library's own objects, not libuv's
 * descriptors nor OpenSSL's allocations; an LD_PRELOAD shim would come
 * after libasan. Whether a call counts is decided by a thread-local state:
 * "inside" while the driver is in a uvs_* call (torture_enter/leave), and
 * for good on threads started from inside (the trampoline below), since the
 * C API never calls back into the host. The counters are process-wide
 * atomics: the Nth counted call in the whole process fails, whichever
 * thread makes it. dlsym may allocate while resolving; a small static arena
 * serves those first calls.
 */
#include "inject.h"

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <dlfcn.h>
#include <new>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/socket.h>

namespace {

/* In a shared mapping once torture_share() was called: the runner reads a
 * crashed child's counts and failed call from there. */
struct State {
  std::atomic<long> counts[TORTURE_KINDS];
  std::atomic<long> armed_n;
  std::atomic<int> armed_kind;
  std::atomic<int> fired;
  char fired_name[32];
  long fired_index;
  char fired_caller[64]; /* the object file that made the failed call */
};
State local_state;
State *state = &local_state;
thread_local int inside_depth = 0;
thread_local bool library_thread = false;
thread_local int in_shim = 0; /* calls made by the shim itself */

/* Per-name counters of descriptor calls, to name the call that failed. */
enum { N_FD_CALLS = 12 };
const char *fd_names[N_FD_CALLS] = {
    "socket",     "accept",   "accept4",        "eventfd",
    "pipe",       "pipe2",    "epoll_create",   "epoll_create1",
    "socketpair", "signalfd", "timerfd_create", "inotify_init1"};
std::atomic<long> fd_name_counts[N_FD_CALLS];

bool counted_thread() {
  return (inside_depth > 0 || library_thread) && in_shim == 0;
}

void record_caller(void *caller) {
  Dl_info info;
  in_shim++;
  const char *file =
      dladdr(caller, &info) && info.dli_fname ? info.dli_fname : "?";
  in_shim--;
  const char *slash = strrchr(file, '/');
  snprintf(state->fired_caller, sizeof state->fired_caller, "%s",
           slash ? slash + 1 : file);
}

/* Counts a call of kind; true if this one must fail. */
bool should_fail_from(void *caller, int kind, const char *name,
                      long name_index = 0) {
  if (!counted_thread())
    return false;
  long n = ++state->counts[kind];
  if (state->armed_kind.load() != kind || n != state->armed_n.load())
    return false;
  snprintf(state->fired_name, sizeof state->fired_name, "%s", name);
  state->fired_index = name_index;
  record_caller(caller);
  state->fired.store(1);
  return true;
}
#define should_fail(...)                                                       \
  should_fail_from(__builtin_return_address(0), __VA_ARGS__)

long count_fd_name(const char *name) {
  for (int i = 0; i < N_FD_CALLS; i++)
    if (strcmp(fd_names[i], name) == 0)
      return ++fd_name_counts[i];
  return 0;
}

/* The sanitizers' runtime makes descriptors of its own (UBSan's vptr check
 * probes memory through a pipe): those are not the library's. */
bool sanitizer_call(void *caller) {
  Dl_info info;
  in_shim++;
  bool found = dladdr(caller, &info) != 0 && info.dli_fname;
  in_shim--;
  return found && (strstr(info.dli_fname, "libasan") ||
                   strstr(info.dli_fname, "libubsan") ||
                   strstr(info.dli_fname, "libtsan"));
}

/* A failed allocation, as the C library reports it (glibc asserts it). */
void *no_memory() {
  errno = ENOMEM;
  return nullptr;
}

bool fail_fd(const char *name, void *caller) {
  if (!counted_thread() || sanitizer_call(caller))
    return false;
  if (should_fail_from(caller, TORTURE_FD, name, count_fd_name(name))) {
    errno = EMFILE;
    return true;
  }
  return false;
}

/* Bootstrap arena for allocations made while dlsym resolves. */
alignas(16) char arena[16384];
std::atomic<size_t> arena_used{0};
bool from_arena(const void *p) {
  return p >= arena && p < arena + sizeof arena;
}
void *arena_alloc(size_t n) {
  size_t at = arena_used.fetch_add((n + 15) & ~size_t(15));
  return at + n <= sizeof arena ? arena + at : nullptr;
}

/* While dlsym runs, allocations come from the arena and frees are dropped
 * (dlsym may allocate and free, even before ASan is initialised). */
thread_local bool resolving = false;

template <class F> F next(const char *name) {
  bool was = resolving;
  resolving = true;
  in_shim++;
  void *p = dlsym(RTLD_NEXT, name);
  in_shim--;
  resolving = was;
  return reinterpret_cast<F>(p);
}

#define NEXT(var, type, name)                                                  \
  static type var = nullptr;                                                   \
  if (!var)                                                                    \
    var = next<type>(name);

} // namespace

extern "C" {

void torture_share(void) {
  void *p = mmap(nullptr, sizeof(State), PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p != MAP_FAILED)
    state = new (p) State();
}
void torture_arm(int kind, long n) {
  for (auto &c : state->counts)
    c.store(0);
  state->fired.store(0);
  state->fired_name[0] = 0;
  state->fired_index = 0;
  state->fired_caller[0] = 0;
  state->armed_kind.store(kind);
  state->armed_n.store(n);
}
long torture_count(int kind) {
  return state->counts[kind].load();
}
int torture_fired(void) {
  return state->fired.load();
}
const char *torture_fired_call(void) {
  return state->fired_name;
}
const char *torture_fired_caller(void) {
  return state->fired_caller;
}
long torture_fired_call_index(void) {
  return state->fired_index;
}
void torture_enter(void) {
  inside_depth++;
}
void torture_leave(void) {
  inside_depth--;
}

/* ---- allocation ---------------------------------------------------------- */

using malloc_fn = void *(*)(size_t);
using calloc_fn = void *(*)(size_t, size_t);
using realloc_fn = void *(*)(void *, size_t);
using free_fn = void (*)(void *);
using memalign_fn = int (*)(void **, size_t, size_t);
using aligned_fn = void *(*)(size_t, size_t);

void *malloc(size_t n) {
  if (resolving)
    return arena_alloc(n);
  NEXT(real, malloc_fn, "malloc");
  if (should_fail(TORTURE_ALLOC, "malloc"))
    return no_memory();
  return real(n);
}

void *calloc(size_t n, size_t size) {
  if (resolving)
    return arena_alloc(n * size); /* the arena is zeroed, never reused */
  NEXT(real, calloc_fn, "calloc");
  if (should_fail(TORTURE_ALLOC, "calloc"))
    return no_memory();
  return real(n, size);
}

void *realloc(void *p, size_t n) {
  if (resolving)
    return nullptr;
  NEXT(real, realloc_fn, "realloc");
  if (n != 0 && should_fail(TORTURE_ALLOC, "realloc"))
    return no_memory();
  return real(p, n);
}

void free(void *p) {
  if (from_arena(p) || resolving)
    return;
  NEXT(real, free_fn, "free");
  real(p);
}

int posix_memalign(void **out, size_t align, size_t n) {
  NEXT(real, memalign_fn, "posix_memalign");
  if (should_fail(TORTURE_ALLOC, "posix_memalign"))
    return ENOMEM;
  return real(out, align, n);
}

void *aligned_alloc(size_t align, size_t n) {
  NEXT(real, aligned_fn, "aligned_alloc");
  if (should_fail(TORTURE_ALLOC, "aligned_alloc"))
    return no_memory();
  return real(align, n);
}

void *memalign(size_t align, size_t n) {
  NEXT(real, aligned_fn, "memalign");
  if (should_fail(TORTURE_ALLOC, "memalign"))
    return no_memory();
  return real(align, n);
}

/* ---- threads ------------------------------------------------------------- */

using pthread_create_fn = int (*)(pthread_t *, const pthread_attr_t *,
                                  void *(*)(void *), void *);

struct Trampoline {
  void *(*start)(void *);
  void *arg;
};

static void *library_thread_main(void *p) {
  Trampoline t = *static_cast<Trampoline *>(p);
  in_shim++;
  ::operator delete(p);
  in_shim--;
  library_thread = true;
  return t.start(t.arg);
}

int pthread_create(pthread_t *th, const pthread_attr_t *attr,
                   void *(*start)(void *), void *arg) {
  NEXT(real, pthread_create_fn, "pthread_create");
  if (!counted_thread())
    return real(th, attr, start, arg);
  if (should_fail(TORTURE_THREAD, "pthread_create"))
    return EAGAIN;
  in_shim++;
  auto *t = new Trampoline{start, arg};
  in_shim--;
  int rc = real(th, attr, library_thread_main, t);
  if (rc != 0) {
    in_shim++;
    delete t;
    in_shim--;
  }
  return rc;
}

/* ---- descriptors --------------------------------------------------------- */

#define FD_CALL(ret, name, params, args)                                       \
  ret name params {                                                            \
    using fn = ret(*) params;                                                  \
    NEXT(real, fn, #name);                                                     \
    if (fail_fd(#name, __builtin_return_address(0)))                           \
      return -1;                                                               \
    return real args;                                                          \
  }

FD_CALL(int, socket, (int d, int t, int p), (d, t, p))
FD_CALL(int, accept, (int fd, struct sockaddr *a, socklen_t *l), (fd, a, l))
FD_CALL(int, accept4, (int fd, struct sockaddr *a, socklen_t *l, int f),
        (fd, a, l, f))
FD_CALL(int, eventfd, (unsigned v, int f), (v, f))
FD_CALL(int, pipe, (int fds[2]), (fds))
FD_CALL(int, pipe2, (int fds[2], int f), (fds, f))
FD_CALL(int, epoll_create, (int n), (n))
FD_CALL(int, epoll_create1, (int f), (f))
FD_CALL(int, socketpair, (int d, int t, int p, int fds[2]), (d, t, p, fds))
FD_CALL(int, inotify_init1, (int f), (f))

} // extern "C"

/* ---- operator new -------------------------------------------------------- */

namespace {
using new_fn = void *(*)(size_t);
using new_nothrow_fn = void *(*)(size_t, const std::nothrow_t &);
using new_aligned_fn = void *(*)(size_t, std::align_val_t);
using new_aligned_nothrow_fn = void *(*)(size_t, std::align_val_t,
                                         const std::nothrow_t &);
} // namespace

#define NEW_THROWING(sig, mangled, type, ...)                                  \
  void *operator new sig {                                                     \
    NEXT(real, type, mangled);                                                 \
    if (should_fail(TORTURE_ALLOC, "operator new"))                            \
      throw std::bad_alloc();                                                  \
    return real(__VA_ARGS__);                                                  \
  }
#define NEW_NOTHROW(sig, mangled, type, ...)                                   \
  void *operator new sig noexcept {                                            \
    NEXT(real, type, mangled);                                                 \
    if (should_fail(TORTURE_ALLOC, "operator new"))                            \
      return nullptr;                                                          \
    return real(__VA_ARGS__);                                                  \
  }

NEW_THROWING((size_t n), "_Znwm", new_fn, n)
NEW_THROWING([](size_t n), "_Znam", new_fn, n)
NEW_NOTHROW((size_t n, const std::nothrow_t &t), "_ZnwmRKSt9nothrow_t",
            new_nothrow_fn, n, t)
NEW_NOTHROW([](size_t n, const std::nothrow_t &t), "_ZnamRKSt9nothrow_t",
            new_nothrow_fn, n, t)
NEW_THROWING((size_t n, std::align_val_t a), "_ZnwmSt11align_val_t",
             new_aligned_fn, n, a)
NEW_THROWING([](size_t n, std::align_val_t a), "_ZnamSt11align_val_t",
             new_aligned_fn, n, a)
NEW_NOTHROW((size_t n, std::align_val_t a, const std::nothrow_t &t),
            "_ZnwmSt11align_val_tRKSt9nothrow_t", new_aligned_nothrow_fn, n, a,
            t)
NEW_NOTHROW([](size_t n, std::align_val_t a, const std::nothrow_t &t),
            "_ZnamSt11align_val_tRKSt9nothrow_t", new_aligned_nothrow_fn, n, a,
            t)
