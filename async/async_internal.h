/* async/async_internal.h — per-loop state of the async layer. */
#ifndef EVASYNC_ASYNC_INTERNAL_H
#define EVASYNC_ASYNC_INTERNAL_H

#include "internal.h"
#include "evasync/pool_async.h"
#include "evasync/promise.h"
#include "evasync/scope.h"
#include "evasync/sync.h"
#include "evasync/task.h"
#include "evasync/task_monitor.h"

/* eva_task.flags */
enum {
    EVA__TASK_UNWINDING = 1u << 0, /* running the finally section */
    EVA__TASK_CANCEL    = 1u << 1, /* cancellation requested */
    EVA__TASK_NESTED    = 1u << 2, /* up.awaiter is set (EVA_ASYNC child) */
    EVA__TASK_SPAWNED   = 1u << 3, /* the loop owns the frame */
    EVA__TASK_STARTED   = 1u << 4, /* the first step has run */
    EVA__TASK_SCOPED    = 1u << 5, /* up.scope is set */
    EVA__TASK_SCOPES    = 1u << 6, /* owns scopes: check them before finishing */
    EVA__TASK_EXIT_HELD = 1u << 7, /* finishing, waiting for scope children */
    EVA__TASK_EXIT_UNWIND = 1u << 8, /* ...held at EVA_STEP_UNWIND, not DONE */
    EVA__TASK_YIELDING  = 1u << 9  /* queued by YIELD: a cancel may interrupt it */
};

typedef struct eva__async_loop {
    eva__layer layer;          /* first (EVA__LAYER_FIRST): the loop cancels our tasks at destroy */
    eva_loop *loop;
    eva_queue live;            /* started, unfinished top-level tasks */
    size_t live_count;
    size_t tasks;              /* live tasks, top-level and scope children */
    /* to run on the next iteration: singly linked through u.next_ready, a
     * word the task header has free while queued (an eva_queue node would
     * cost the header 8 bytes more than its 128) */
    eva_task *ready_head, *ready_tail;
    eva_call ready_call;       /* the deferred call that drains them */
    bool ready_call_queued;
    /* the cooperative budget (task.c): operations the running dispatch may
     * still complete at once before its task is made to yield */
    unsigned budget;           /* per dispatch; UINT_MAX: unlimited */
    unsigned budget_left;
    unsigned depth;            /* task steps on the stack (nested EVA_ASYNC) */
    uint64_t budget_yields;    /* how often the budget ran out */
    bool closing;              /* the loop is being destroyed */
    eva_queue promises;        /* live promises (promise.c) */
    eva_queue scopes;          /* scopes not yet joined (scope.c) */
} eva__async_loop;
EVA__LAYER_FIRST(eva__async_loop, layer);

/* The loop's async state, created on first use; NULL when out of memory. */
eva__async_loop *eva__async_loop_get(eva_loop *loop);

/* The loop's async state if it has been created, else NULL.  The hot path
 * (every AWAIT): two loads, the layer being the struct's first member. */
extern eva__layer_key eva__async_key;
static inline eva__async_loop *eva__async_loop_find(const eva_loop *loop) {
    return eva__layer_get(loop, &eva__async_key);
}

/* task.c: start t as a scope's child (scope.c links it). */
int eva__task_start_child(eva_task *t, eva_scope *scope);

/* task.c: a zeroed, initialised frame the loop will own (EVA__TASK_SPAWNED). */
eva_task *eva__task_alloc(eva_loop *loop, size_t frame_size, eva_task_fn fn, const char *name);

/* task.c: the EVA_ASYNC child a task is parked on, or NULL. */
const eva_task *eva__task_nested_child(const eva_task *t);

/* task.c: a task held at its exit by scope children may go on. */
void eva__task_exit_resume(eva_task *t);

/* scope.c, called by the task runtime. */
void eva__scope_link_child(eva_scope *scope, eva_task *child);
void eva__scope_child_done(eva_task *child);
bool eva__scope_hold_exit(eva_task *owner, eva_step step); /* true: parked */
bool eva__scope_cancel_all(eva__async_loop *al);

/* promise.c, at loop destroy: cancel (then reject) every pending promise,
 * true if there was one; then detach the survivors from the dying loop. */
bool eva__promise_cancel_all(eva__async_loop *al);
void eva__promise_orphan_all(eva__async_loop *al);

#endif
