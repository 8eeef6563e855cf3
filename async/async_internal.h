/* async/async_internal.h — per-loop state of the async layer. */
#ifndef EVASYNC_ASYNC_INTERNAL_H
#define EVASYNC_ASYNC_INTERNAL_H

#include "internal.h"
#include "evasync/task.h"
#include "evasync/promise.h"

typedef struct eva__async_loop {
    eva__owned own;            /* the loop cancels our tasks at destroy */
    eva_loop *loop;
    eva_task *live_head;       /* started, unfinished top-level tasks */
    size_t live_count;
    eva_task *ready_head, *ready_tail; /* to run on the next iteration */
    eva_call ready_call;       /* the deferred call that drains them */
    bool ready_call_queued;
    bool closing;              /* the loop is being destroyed */
    eva_promise *promises_head; /* live promises (promise.c) */
} eva__async_loop;

/* The loop's async state, created on first use; NULL when out of memory. */
eva__async_loop *eva__async_loop_get(eva_loop *loop);

/* promise.c, at loop destroy: cancel (then reject) every pending promise,
 * true if there was one; then detach the survivors from the dying loop. */
bool eva__promise_cancel_all(eva__async_loop *al);
void eva__promise_orphan_all(eva__async_loop *al);

#endif
