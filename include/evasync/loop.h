/* evasync/loop.h — the event loop.
 *
 * An eva_loop wraps one libev loop.  It either owns it (eva_loop_new) or is
 * attached to a loop the daemon already runs (eva_loop_from_ev): then the
 * daemon keeps calling ev_run() itself and evasync's watchers live inside it.
 *
 * One loop per thread.  Every evasync object belongs to one loop and may only
 * be used from the thread that runs that loop; the exceptions are
 * eva_loop_post() (any thread) and the offload pool's completion path.
 *
 * Lifetimes.  Handles (eva_timer, eva_io, eva_signal) are structs the caller
 * allocates and owns; a started handle is "active" until stopped (a one-shot
 * timer stops itself when it fires).  Requests (deferred and posted calls,
 * and later tasks, DNS queries, pool jobs) complete exactly once: normally,
 * or with -ECANCELED when the loop is destroyed before they ran.
 */
#ifndef EVASYNC_LOOP_H
#define EVASYNC_LOOP_H

#include <stdint.h>

#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ev_loop;
/* An event loop (opaque: only pointers; see the top of this header). */
typedef struct eva_loop eva_loop;

/* How long eva_loop_run() runs. */
typedef enum eva_run_mode {
    EVA_RUN_DEFAULT = 0, /* until no active handle or request remains, or eva_loop_stop() */
    EVA_RUN_ONCE    = 1, /* one iteration, waiting for events if there are none yet */
    EVA_RUN_NOWAIT  = 2  /* one iteration that never waits */
} eva_run_mode;

/* Create a loop that owns a new libev loop (EVFLAG_AUTO backend).
 * On success *out is the loop and 0 is returned.
 * Errors: -EINVAL (out is NULL), -ENOMEM, or the errno with which the
 * kernel refused the poller (e.g. -EMFILE). */
EVA_API int eva_loop_new(eva_loop **out);

/* Attach to a libev loop the caller owns and runs.  evasync's internal
 * watchers are unreferenced (ev_unref), so they never keep the daemon's
 * ev_run() alive; the daemon's loop must outlive the eva_loop.
 * Errors: -EINVAL (ev or out is NULL), -ENOMEM. */
EVA_API int eva_loop_from_ev(struct ev_loop *ev, eva_loop **out);

/* The libev loop underneath (owned or attached).  NULL if loop is NULL. */
EVA_API struct ev_loop *eva_loop_get_ev(const eva_loop *loop);

/* Run the loop in the given mode (see eva_run_mode).  Callbacks run inside
 * this call, on this thread.  Returns 1 if active handles or requests remain,
 * 0 if none remain, -EINVAL for a NULL loop or an unknown mode.  Works on an
 * attached loop too (it runs the daemon's libev loop).  The calling thread
 * cannot be cancelled while it runs: a pthread_cancel() acts at its first
 * cancellation point after the return (docs/loop.md, "Threads", says why). */
EVA_API int eva_loop_run(eva_loop *loop, eva_run_mode mode);

/* Make the running eva_loop_run() (or the daemon's ev_run()) return once the
 * current callback returns.  Has no effect when the loop is not running.
 * Returns 0, or -EINVAL. */
EVA_API int eva_loop_stop(eva_loop *loop);

/* Destroy the loop.
 *  - If a handle the caller started is still active, or an offload job
 *    submitted from this loop has not completed (its done() has not run),
 *    nothing is changed and -EBUSY is returned: stop the handles
 *    (eva_loop_get_active_handles() counts them), cancel the jobs and run the loop
 *    until their completions ran (eva_loop_get_pool_jobs() counts them), or destroy
 *    the pool first, then call again.  Handles are the caller's memory; evasync never
 *    stops or frees them behind the caller's back.
 *  - Otherwise every request still pending (deferred or posted calls, and
 *    the loop-owned objects of higher layers such as suspended tasks)
 *    completes with status -ECANCELED, on this thread, inside this call;
 *    then everything evasync allocated is freed, and for an owned loop the
 *    libev loop is destroyed (an attached one is left to its owner).
 * No thread may post to the loop once destroy has begun.
 * Must not be called from inside one of the loop's callbacks.
 * Returns 0, -EBUSY, or -EINVAL (NULL loop). */
EVA_API int eva_loop_destroy(eva_loop *loop);

/* How many handles are active (started and not yet stopped). -EINVAL if NULL. */
EVA_API int eva_loop_get_active_handles(const eva_loop *loop);

/* How many offload pool jobs submitted from this loop have not completed
 * (done() not yet run). -EINVAL if NULL. */
EVA_API int eva_loop_get_pool_jobs(const eva_loop *loop);

/* Time.
 * eva_now() is the loop's cached wall-clock time in milliseconds since the
 * Unix epoch, updated once per iteration before callbacks run (libev's
 * ev_now()): cheap, and the base of every timer started in this iteration.
 * eva_now_update() refreshes it (ev_now_update(); a call after a long
 * computation keeps timers from firing early relative to real time).
 * eva_time() reads the wall clock now (libev's ev_time()), in milliseconds.
 * eva_hrtime() reads the monotonic clock in nanoseconds: use it to measure
 * durations; wall-clock time can jump. eva_now(NULL) returns 0. */
EVA_API uint64_t eva_now(const eva_loop *loop);
EVA_API void     eva_now_update(eva_loop *loop);
EVA_API uint64_t eva_time(void);
EVA_API uint64_t eva_hrtime(void);

#ifdef __cplusplus
}
#endif
#endif
