/* evasync/group.h — a loop group: one loop per core.
 *
 * A group is N threads, each running its own eva_loop.  Everything that
 * belongs to a loop stays on that loop's thread, as everywhere in evasync;
 * the group only makes the threads, runs each loop until it has drained,
 * and stops and joins them together.
 *
 * Serving one port from every loop: in setup, each loop listens on the same
 * address with eva_tcp_listen_options.reuseport (SO_REUSEPORT): the kernel
 * spreads the incoming connections over the loops' listeners, nginx's
 * model.  No loop hands connections to another, so the accept path has no
 * lock and no cross-thread hop (docs/scaling.md, "One loop per core", says
 * why this is the default and what it costs).
 *
 * Between loops: eva_loop_post (evasync/call.h) runs a call on any loop
 * from any thread; eva_group_get_loop names the loop.  A task channel
 * belongs to one loop; eva_channel_post_send (evasync/sync.h) sends to it
 * from another.  One offload pool (evasync/pool.h) may serve every loop:
 * each submit names the loop its completion returns to.
 *
 * Lifetime: eva_group_new (the loops exist), eva_group_start (the threads
 * run, every setup has succeeded), eva_group_stop (any thread: each loop
 * runs its stop hook and drains), eva_group_join (the threads have ended),
 * eva_group_destroy (the loops are freed).
 */
#ifndef EVASYNC_GROUP_H
#define EVASYNC_GROUP_H

#include "export.h"
#include "loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A loop group (opaque). */
typedef struct eva_group eva_group;

/* Runs on loop index's own thread before the loop first runs: listen,
 * start the server's tasks.  The setups run one after another, in index
 * order (so loop 0 may pick a port that the later setups reuse).  Return 0,
 * or a negative code to fail eva_group_start; a failing setup must leave no
 * handle of its own active. */
typedef int (*eva_group_setup_fn)(eva_loop *loop, unsigned index, void *arg);

/* Runs on loop index's own thread once the group is stopped: close the
 * listeners, tell the connections to finish (cancel their scope, or let
 * each answer what it has read and close).  The loop then runs until
 * nothing is active on it, so what the hook started to wind down finishes
 * before the thread ends. */
typedef void (*eva_group_stop_fn)(eva_loop *loop, unsigned index, void *arg);

/* eva_group_options: 32 bytes on x86_64, all public (ABI: tests/test_struct_sizes.c). */
typedef struct eva_group_options {
    unsigned threads;         /* loops (and threads); 0: the number of online cores */
    eva_group_setup_fn setup; /* may be NULL */
    eva_group_stop_fn stop;   /* may be NULL: then each loop simply drains */
    void *arg;                /* passed to both */
} eva_group_options;

/* Make the group's loops (not yet its threads).  opts may be NULL: one loop
 * per core, no hooks.  *out is the group.  Errors: -EINVAL (out NULL, more
 * than 1024 threads), -ENOMEM, or eva_loop_new's error. */
EVA_API int eva_group_new(const eva_group_options *opts, eva_group **out);

/* Start the threads: each runs its setup, then its loop.  The threads
 * inherit the calling thread's signal mask: block the signals the program
 * waits for (sigwait) before this call.  Returns once every setup has
 * returned 0: then every loop is serving.  If a setup
 * fails, the loops already set up are stopped and every thread joined
 * before the setup's error is returned (the group can only be destroyed).
 * -ECANCELED: eva_group_stop was called before every loop had started
 * (the started ones are stopping; join them).  -EBUSY: already started.
 * -EINVAL, or pthread_create's error (e.g. -EAGAIN). */
EVA_API int eva_group_start(eva_group *group);

/* From any thread, also from a loop's callback: ask every loop to stop.
 * Each runs its stop hook on its own thread, then runs until nothing is
 * active on it, and its thread ends.  Calls posted to a loop after its
 * thread ended wait for eva_group_destroy, which completes them with
 * -ECANCELED.  Idempotent.  Must not race with eva_group_destroy.
 * Returns 0, or -EINVAL. */
EVA_API int eva_group_stop(eva_group *group);

/* Wait until every thread has ended (after eva_group_stop, or a failed
 * start).  Not from one of the group's own threads (-EDEADLK).
 * Returns 0, -EINVAL, -EDEADLK. */
EVA_API int eva_group_join(eva_group *group);

/* Free the group and its loops: never started, or joined (else -EBUSY).
 * Everything still pending on any loop (calls posted after a loop's thread
 * ended, and what completing those queues on other loops) completes with
 * -ECANCELED, on the calling thread, before any loop is freed; no other
 * thread may post to the loops any more.  -EBUSY also when a loop still
 * has an active handle or offload job (a setup that failed without
 * undoing itself); nothing is freed then.  Returns 0, -EBUSY, -EINVAL. */
EVA_API int eva_group_destroy(eva_group *group);

/* The number of loops (0 for NULL). */
EVA_API unsigned eva_group_get_size(const eva_group *group);

/* Loop index (NULL for NULL or an index out of range): post to it with
 * eva_loop_post from any thread; use it otherwise only on its thread. */
EVA_API eva_loop *eva_group_get_loop(const eva_group *group, unsigned index);

#ifdef __cplusplus
}
#endif
#endif
