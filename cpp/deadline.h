/*
 * deadline.h - operation timeouts, served by one process-wide timer thread.
 *
 * Timeouts belong to operations, and operations live on loops, on the
 * caller's thread (standalone readers) or nowhere yet, so the simplest
 * correct home for their deadlines is a single sleeper thread with a sorted
 * set. On expiry it asks the op to cancel itself with UVS_ETIMEDOUT, through
 * the op's target, exactly as uvs_op_cancel does. The thread starts on the
 * first timeout armed, and is joined when the last engine shuts down with
 * no timeout pending (deadline_quiesce), so a program that frees its
 * engines leaves no thread of ours behind (valgrind, sanitizers, fork).
 */
#pragma once

#include "common.h"

namespace uvs {

void deadline_arm(const std::shared_ptr<Op> &op, Clock::time_point when);
void deadline_disarm(Op *op);
/* Joins the timer thread if no timeout is pending (else leaves it running);
 * a no-op on the timer thread itself. */
void deadline_quiesce();

} // namespace uvs
