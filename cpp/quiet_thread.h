/*
 * quiet_thread.h - the engine's own threads take no asynchronous signals.
 *
 * A signal sent to the process (Ctrl-C, SIGTERM, SIGCHLD...) goes to any
 * thread that does not block it. Had the loop threads left signals open,
 * the kernel could pick one of them: the host's handler would then run on a
 * thread its runtime does not know, and the host's own thread, blocked in a
 * wait, would not see EINTR. Ruby and Python both expect signals to reach
 * their threads. So every engine thread starts with all signals blocked
 * except the synchronous ones (faults must still reach their handlers).
 * A thread inherits the mask of the thread that creates it: QuietThreadScope
 * blocks them in the creating thread for the moment of creation and puts the
 * caller's mask back afterwards.
 */
#pragma once

#include <pthread.h>
#include <signal.h>

namespace uvs {

class QuietThreadScope {
public:
  QuietThreadScope() {
    sigset_t all;
    sigfillset(&all);
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS})
      sigdelset(&all, sig);
    pthread_sigmask(SIG_BLOCK, &all, &saved_);
  }
  ~QuietThreadScope() { pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }
  QuietThreadScope(const QuietThreadScope &) = delete;
  QuietThreadScope &operator=(const QuietThreadScope &) = delete;

private:
  sigset_t saved_;
};

} // namespace uvs
