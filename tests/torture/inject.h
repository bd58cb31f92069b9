/*
 * inject.h - fault injection for the torture runner (tests/torture).
 *
 * inject.cc interposes, from the torture executable, the allocation
 * functions (malloc family and every operator new), pthread_create and the
 * calls that make descriptors. Only calls made on behalf of libuvstreams
 * count: those made while a thread is between torture_enter/torture_leave
 * (the driver brackets every uvs_* call with them) and every call of a
 * thread the library started (loop, deadline and name-lookup threads, and
 * the threads those start). OpenSSL, libuv and libc allocations made from
 * there count too. The Nth counted call of the armed kind fails.
 */
#ifndef UVS_TORTURE_INJECT_H
#define UVS_TORTURE_INJECT_H

#ifdef __cplusplus
extern "C" {
#endif

enum torture_kind {
  TORTURE_ALLOC = 0,
  TORTURE_THREAD = 1,
  TORTURE_FD = 2,
  TORTURE_KINDS = 3
};

/* Puts the counters in memory shared with children forked after it. */
void torture_share(void);
/* Resets the counters and makes the nth counted call of kind fail (n = 0: none
 * fails). */
void torture_arm(int kind, long n);
/* Counted calls of kind so far. */
long torture_count(int kind);
/* 1 once the armed failure happened; name of the call that failed. */
int torture_fired(void);
const char *torture_fired_call(void);
/* The object file that made the failed call ("libuv.so.1"). */
const char *torture_fired_caller(void);
/* Which call of its own name the failed one was (1 = the first pipe2). */
long torture_fired_call_index(void);
/* Marks the calling thread as inside the library (nestable). */
void torture_enter(void);
void torture_leave(void);

#ifdef __cplusplus
}
#endif

#endif
