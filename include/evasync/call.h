/* evasync/call.h — deferred calls and cross-thread posts.
 *
 * Both queue a function to run later on the loop's thread.  The caller
 * provides the eva_call node (embed it in the object the call is about), so
 * queuing never allocates and never fails for lack of memory.  The node must
 * stay valid, and must not be queued again, until its function has run.
 *
 * The function always runs exactly once: with status 0 normally, or with
 * status -ECANCELED when the loop is destroyed first (so it can free arg).
 */
#ifndef EVASYNC_CALL_H
#define EVASYNC_CALL_H

#include "export.h"
#include "queue.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eva_loop eva_loop;

/* A deferred or posted call: status is 0, or -ECANCELED when the loop is
 * destroyed before it ran; arg is the one given with the call. */
typedef void (*eva_call_fn)(eva_loop *loop, int status, void *arg);

/* eva_call: 32 bytes on x86_64 (ABI: tests/test_struct_sizes.c).
 * Caller-owned; every field is private. */
typedef struct eva_call {
    /* private: */
    eva_queue node;        /* the queue's link */
    eva_call_fn fn;        /* set by eva_loop_defer/eva_loop_post */
    void *arg;
} eva_call;

/* Run fn(loop, 0, arg) on the next loop iteration (after the loop polls for
 * events, without waiting).  Calls deferred while deferred calls run go to the
 * iteration after, so a call that re-defers itself never starves IO.  Calls
 * run in the order they were deferred.  A pending deferred call keeps
 * eva_loop_run(EVA_RUN_DEFAULT) running.
 * Loop thread only.  Returns 0, or -EINVAL (NULL loop, call or fn). */
EVA_API int eva_loop_defer(eva_loop *loop, eva_call *call, eva_call_fn fn, void *arg);

/* Thread-safe: from any thread, queue fn(loop, 0, arg) to run on the loop's
 * thread, then wake the loop (one ev_async_send per batch).  Calls posted by
 * one thread run in the order that thread posted them.  A posted call does not
 * by itself keep eva_loop_run(EVA_RUN_DEFAULT) running: the loop must still be
 * running, or be run again, to deliver it.
 * Returns 0, or -EINVAL (NULL loop, call or fn). */
EVA_API int eva_loop_post(eva_loop *loop, eva_call *call, eva_call_fn fn, void *arg);

#ifdef __cplusplus
}
#endif
#endif
