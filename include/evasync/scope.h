/* evasync/scope.h — scopes (task groups, Trio's nurseries).
 *
 * A scope lives in a task's frame and runs child tasks for it.  Awaiting
 * eva_scope_join_op() resumes the owner once every child has finished;
 * cancelling the owner while it joins cancels the children, and the join
 * still waits for all of them.  A scope has one of two modes:
 *
 *  - EVA_SCOPE_FAIL_FAST (eva_scope_init): the first child that fails (any
 *    error but -ECANCELED) cancels its siblings, its error becomes the
 *    scope's, and the scope accepts no new children.  For work that is one
 *    job split in parts.
 *  - EVA_SCOPE_SUPERVISE (eva_scope_init_mode): a failing child is reported —
 *    to the callback set with eva_scope_on_failure(), or without one through
 *    the loop's log hook (a warning naming the child, its message and code) —
 *    and nothing else happens: its siblings go on and new children are
 *    accepted.  For independent work, such as a server's connections.  The
 *    join returns 0, or -ECANCELED if the scope was cancelled.
 *
 * In both modes eva_scope_cancel() cancels every child and closes the scope
 * to new ones, and the join waits for all of them.
 *
 * No child outlives its scope: if the owner fails or is cancelled before it
 * joins, the runtime cancels the scope's children and waits for them before
 * the owner's finally section runs.  (If the owner reaches ASYNC_END without
 * joining, its children are cancelled and awaited too, and a warning names
 * the task: that is a bug in the owner.)
 *
 *     struct fetch_all { eva_task task; eva_scope scope; struct fetch one[3]; int i; };
 *
 *     ASYNC_BEGIN(f);
 *     eva_scope_init(&f->scope, &f->task);
 *     for (f->i = 0; f->i < 3; f->i++) {
 *         eva_task_init(eva_task_get_loop(&f->task), &f->one[f->i].task, fetch_run, "fetch");
 *         eva_scope_start(&f->scope, &f->one[f->i].task);
 *     }
 *     AWAIT(f, eva_scope_join_op(&f->scope));   // fails like the first failing child
 *     ASYNC_END(f);
 */
#ifndef EVASYNC_SCOPE_H
#define EVASYNC_SCOPE_H

#include <stdbool.h>
#include <stddef.h>

#include "export.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eva_scope eva_scope;

/* What a child's failure does to the scope (eva_scope_init). */
typedef enum eva_scope_mode {
    EVA_SCOPE_FAIL_FAST, /* the first failure cancels the siblings and is the scope's */
    EVA_SCOPE_SUPERVISE  /* failures are reported; siblings and new children go on */
} eva_scope_mode;

/* A child of the scope failed (status < 0, not -ECANCELED).  child is
 * borrowed for the call: read eva_task_get_status(), eva_task_get_message() and
 * eva_task_get_name() here (a spawned child's frame is freed after it returns).
 * Runs on the loop as the child finishes; it may start children or cancel the
 * scope. */
typedef void (*eva_scope_failure_fn)(void *arg, eva_scope *scope, eva_task *child);

/* eva_scope: 96 bytes on x86_64 (ABI: tests/test_struct_sizes.c).  Every
 * field is private.  It links to itself once initialised: never move or copy
 * a scope between eva_scope_init and the end of its join. */
struct eva_scope {
    /* private: */
    eva_queue node;             /* the loop's scopes that are not yet joined */
    eva_task *owner;
    eva_queue children;         /* running children, linked through their node */
    size_t live;
    int status;                 /* fail-fast: the first failure, 0 if none */
    const char *message;
    eva_task *joiner;           /* the owner, while parked in the join */
    eva_scope_failure_fn on_failure;
    void *failure_arg;
    bool supervise;             /* EVA_SCOPE_SUPERVISE */
    bool cancelled;
    bool exit_hold;             /* the owner is finishing and waits for the children */
};

/* Bind a scope (caller-owned memory, typically in owner's frame) to owner, a
 * started task, in EVA_SCOPE_FAIL_FAST mode.  Init it again only after its
 * join returned, or once no child is left (a cancelled owner's AWAIT_RC on
 * the join returns -ECANCELED without joining: the scope is reused then).
 * Returns 0; -EINVAL (NULL, or owner not started); -EBUSY (initialised
 * again while children still run or the owner joins it); -ENOMEM. */
EVA_API int eva_scope_init(eva_scope *scope, eva_task *owner);

/* eva_scope_init with a mode.  Returns as eva_scope_init; -EINVAL for an
 * unknown mode. */
EVA_API int eva_scope_init_mode(eva_scope *scope, eva_task *owner, eva_scope_mode mode);

/* Call fn(arg, scope, child) for every child that fails, in either mode (in
 * fail-fast mode the first one is also the scope's error); NULL fn: none (a
 * supervising scope then logs).  Set it after init, before children fail.
 * Returns 0 or -EINVAL. */
EVA_API int eva_scope_on_failure(eva_scope *scope, eva_scope_failure_fn fn, void *arg);

/* Start an initialised task as a child of the scope (instead of
 * eva_task_start): it runs from the next loop iteration.  The child's frame
 * must stay valid until the join returns.
 * Returns 0; -EINVAL; -EBUSY (the child is running); -ECANCELED (the scope
 * was cancelled, or a fail-fast scope has failed: the child is not started). */
EVA_API int eva_scope_start(eva_scope *scope, eva_task *child);

/* eva_task_spawn into the scope: the loop owns the frame and frees it when
 * the child finishes (read results out before, e.g. into the owner's frame). */
EVA_API int eva_scope_spawn(eva_scope *scope, size_t frame_size, eva_task_fn fn, const char *name,
                            void **frame_out);

/* Cancel every running child; the scope's status becomes -ECANCELED unless a
 * child failed first.  Idempotent.  Returns 0 or -EINVAL. */
EVA_API int eva_scope_cancel(eva_scope *scope);

/* AWAIT(f, eva_scope_join_op(&f->scope)): resume when no child is left, with
 * the scope's status: 0, the first child's failure (and message; fail-fast
 * mode only), or -ECANCELED.  Only the owner joins. */
EVA_API eva_op eva_scope_join_op(eva_scope *scope);

/* Children still running. */
EVA_API size_t eva_scope_get_live(const eva_scope *scope);

#ifdef __cplusplus
}
#endif
#endif
