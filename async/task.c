/* async/task.c — the task runtime: start, run, park, wake, cancel, finish.
 *
 * A task function is a state machine (see evasync/task.h); this file only
 * decides when to call it.  Tasks are resumed either directly from the
 * callback of the operation they awaited (eva_task_wake) or from the loop's
 * ready list on the next iteration (eva_task_wake_later: first steps,
 * YIELD, cancellation), which is drained by one deferred call per batch.
 */
#include <errno.h>
#include <limits.h>

#include "async_internal.h"

static void run_ready(eva__async_loop *al);
static void task_run(eva_task *t);

static void on_ready(eva_loop *loop, int status, void *arg) {
    (void)loop;
    (void)status; /* at loop destroy too, queued tasks must run to finish */
    eva__async_loop *al = arg;
    al->ready_call_queued = false;
    run_ready(al);
}

static void ready_push(eva__async_loop *al, eva_task *t) {
    t->state = EVA_TASK_QUEUED;
    t->u.next_ready = NULL;
    if (al->ready_tail)
        al->ready_tail->u.next_ready = t;
    else
        al->ready_head = t;
    al->ready_tail = t;
    if (!al->ready_call_queued) {
        al->ready_call_queued = true;
        eva__defer_unordered(al->loop, &al->ready_call, on_ready, al);
    }
}

static void live_link(eva__async_loop *al, eva_task *t) {
    eva__queue_insert_tail(&al->live, &t->node);
    al->live_count++;
}

static void live_unlink(eva__async_loop *al, eva_task *t) {
    eva__queue_remove(&t->node);
    al->live_count--;
}

static void task_complete(eva_task *t) {
    t->state = EVA_TASK_DONE;
    t->wait = NULL;
    if (t->flags & EVA__TASK_NESTED) {
        eva_task *parent = t->up.awaiter;
        /* A child that finished inside the parent's AWAIT (the parent is
         * still running) reports through call_start instead. */
        if (parent->state == EVA_TASK_SUSPENDED && parent->u.wait_obj == t)
            eva_task_wake(parent, t->status, t->status < 0 ? t->u.message : NULL);
        return;
    }
    bool spawned = t->flags & EVA__TASK_SPAWNED;
    eva__async_loop_find(t->loop)->tasks--; /* exists: t was started */
    if (t->flags & EVA__TASK_SCOPED) {
        eva__scope_child_done(t);
    } else {
        live_unlink(eva__async_loop_get(t->loop), t);
        if (t->up.done)
            t->up.done(t);
    }
    if (spawned)
        eva__free(t); /* the frame starts with the task */
}

/* What the blocked-loop detector says of t's next step: only while it runs
 * (NULL otherwise: the step is not timed, nothing reads it). */
static const eva__span_task *describe_step(const eva_task *t, eva__span_task *who) {
    if (!eva__detecting(t->loop))
        return NULL;
    const eva_site *site = t->site;
    *who = (eva__span_task){.name = t->name ? t->name : "task", /* eva_task_get_name, inline */
                            .file = site ? site->file : NULL,
                            .expr = site ? site->expr : NULL,
                            .line = site ? site->line : 0};
    return who;
}

static void task_steps(eva_task *t) {
    if (!(t->flags & EVA__TASK_STARTED)) {
        t->flags |= EVA__TASK_STARTED;
        if (t->flags & EVA__TASK_CANCEL) { /* cancelled before its first step */
            t->status = -ECANCELED;
            t->u.message = NULL;
            task_complete(t);
            return;
        }
    }
    t->flags &= (uint16_t)~EVA__TASK_YIELDING;
    for (;;) {
        t->state = EVA_TASK_RUNNING;
        eva_loop *loop = t->loop;
        eva__span span;
        eva__span_task who;
        eva__dispatch_begin(loop, &span, (eva__fn)t->fn, describe_step(t, &who));
        eva_step step = t->fn(t);
        eva__dispatch_end(loop, &span);
        if (step == EVA_STEP_PARKED)
            return; /* the op set the state: SUSPENDED, or QUEUED for a yield */
        if ((t->flags & EVA__TASK_SCOPES) && eva__scope_hold_exit(t, step))
            return; /* parked until its scopes' children have finished */
        if (step == EVA_STEP_UNWIND) {
            t->flags |= EVA__TASK_UNWINDING;
            continue;
        }
        task_complete(t);
        return;
    }
}

/* Run t until it parks or finishes.  The outermost step on the stack (not a
 * nested EVA_ASYNC child run inside its parent's) starts a fresh budget. */
static void task_run(eva_task *t) {
    eva__async_loop *al = eva__async_loop_find(t->loop); /* exists: t was started */
    if (al->depth++ == 0)
        al->budget_left = al->budget;
    task_steps(t); /* may free t */
    al->depth--;
}

void eva__task_exit_resume(eva_task *t) {
    bool unwind = t->flags & EVA__TASK_EXIT_UNWIND;
    t->flags &= (uint16_t)~(EVA__TASK_EXIT_HELD | EVA__TASK_EXIT_UNWIND);
    t->wait = NULL;
    if (unwind) {
        t->flags |= EVA__TASK_UNWINDING;
        task_run(t); /* into the finally section */
    } else {
        task_complete(t);
    }
}

static void run_ready(eva__async_loop *al) {
    eva_task *batch = al->ready_head; /* tasks queued from here on wait a turn */
    al->ready_head = al->ready_tail = NULL;
    eva__shuffle *shuffle = eva__loop_shuffle(al->loop);
    if (shuffle) /* the order tasks made ready together run in is not promised */
        batch = eva__shuffle_slist(shuffle, batch, offsetof(eva_task, u.next_ready));
    while (batch) {
        eva_task *t = batch;
        batch = t->u.next_ready;
        t->u.next_ready = NULL;
        task_run(t);
    }
}

/* At loop destroy: cancel every live task and promise, and run the tasks
 * until they finish.  Called until nothing new is cancelled. */
static bool async_loop_cancel(eva__layer *layer) {
    eva__async_loop *al = EVA__CONTAINER_OF(layer, eva__async_loop, layer);
    bool cancelled = false;
    al->closing = true;
    EVA__QUEUE_FOREACH(n, &al->live) { /* cancelling runs no task code: the list stays */
        eva_task *t = EVA__QUEUE_DATA(n, eva_task, node);
        if (!(t->flags & EVA__TASK_CANCEL)) {
            eva_task_cancel(t);
            cancelled = true;
        }
    }
    while (al->ready_head) {
        run_ready(al);
        cancelled = true;
    }
    cancelled |= eva__scope_cancel_all(al);
    return eva__promise_cancel_all(al) || cancelled;
}

/* The loop is quiescent and about to be freed. */
static void async_loop_close(eva__layer *layer) {
    eva__async_loop *al = EVA__CONTAINER_OF(layer, eva__async_loop, layer);
    if (!eva__queue_empty(&al->live))
        eva__log(al->loop, EVA_LOG_ERROR, "%zu task(s) did not finish when cancelled at loop destroy",
                 al->live_count);
    eva__promise_orphan_all(al);
    eva__free(al);
}

static void async_loop_metrics(const eva__layer *layer, eva_loop_metrics *out) {
    out->tasks = EVA__CONTAINER_OF(layer, eva__async_loop, layer)->tasks;
}

eva__layer_key eva__async_key;

eva__async_loop *eva__async_loop_get(eva_loop *loop) {
    eva__async_loop *al = eva__async_loop_find(loop);
    if (al)
        return al;
    al = eva__calloc(1, sizeof *al);
    if (!al)
        return NULL;
    al->loop = loop;
    eva__queue_init(&al->live);
    eva__queue_init(&al->promises);
    eva__queue_init(&al->scopes);
    al->budget = EVA_TASK_BUDGET_DEFAULT;
    al->layer.cancel = async_loop_cancel;
    al->layer.close = async_loop_close;
    al->layer.metrics = async_loop_metrics;
    if (eva__layer_attach(loop, &eva__async_key, &al->layer) < 0) {
        eva__free(al);
        return NULL;
    }
    return al;
}

int eva_task_init(eva_loop *loop, eva_task *t, eva_task_fn fn, const char *name) {
    if (!loop || !t || !fn)
        return -EINVAL;
    *t = (eva_task){.loop = loop, .fn = fn, .name = name ? name : "task"};
    return 0;
}

/* What every start checks and resets; the caller links and queues. */
static int start_prepare(eva_task *t, eva__async_loop **al_out) {
    if (!t || !t->loop || !t->fn || (t->flags & EVA__TASK_NESTED))
        return -EINVAL;
    if (t->state != EVA_TASK_IDLE && t->state != EVA_TASK_DONE)
        return -EBUSY;
    eva__async_loop *al = eva__async_loop_get(t->loop);
    if (!al)
        return -ENOMEM;
    if (al->closing)
        return -ECANCELED;
    t->flags &= EVA__TASK_SPAWNED;
    t->site = NULL;
    t->wait = NULL;
    t->status = 0;
    al->tasks++;
    *al_out = al;
    return 0;
}

int eva_task_start(eva_task *t, eva_task_done_fn done) {
    eva__async_loop *al;
    int rc = start_prepare(t, &al);
    if (rc < 0)
        return rc;
    t->up.done = done;
    live_link(al, t);
    ready_push(al, t);
    return 0;
}

int eva__task_start_child(eva_task *t, eva_scope *scope) {
    eva__async_loop *al;
    int rc = start_prepare(t, &al);
    if (rc < 0)
        return rc;
    t->flags |= EVA__TASK_SCOPED;
    t->up.scope = scope;
    eva__scope_link_child(scope, t);
    ready_push(al, t);
    return 0;
}

eva_task *eva__task_alloc(eva_loop *loop, size_t frame_size, eva_task_fn fn, const char *name) {
    eva_task *t = eva__calloc(1, frame_size);
    if (t) {
        eva_task_init(loop, t, fn, name);
        t->flags = EVA__TASK_SPAWNED;
    }
    return t;
}

int eva_task_spawn(eva_loop *loop, size_t frame_size, eva_task_fn fn, const char *name,
                   eva_task_done_fn done, void **frame_out) {
    if (!loop || !fn || !frame_out || frame_size < sizeof(eva_task))
        return -EINVAL;
    eva_task *t = eva__task_alloc(loop, frame_size, fn, name);
    if (!t)
        return -ENOMEM;
    int rc = eva_task_start(t, done);
    if (rc < 0) {
        eva__free(t);
        return rc;
    }
    *frame_out = t;
    return 0;
}

int eva_task_cancel(eva_task *t) {
    if (!t || !t->loop)
        return -EINVAL;
    if (t->state == EVA_TASK_IDLE || t->state == EVA_TASK_DONE || (t->flags & EVA__TASK_CANCEL))
        return 0;
    t->flags |= EVA__TASK_CANCEL;
    if (t->state == EVA_TASK_QUEUED && (t->flags & EVA__TASK_YIELDING))
        t->status = -ECANCELED; /* a yield is interrupted; a completed op's result
                                   stands (a granted lock, a received item) and
                                   the next AWAIT fails instead */
    else if (t->state == EVA_TASK_SUSPENDED)
        t->wait->cancel(t);
    /* RUNNING: its next AWAIT fails with -ECANCELED */
    return 0;
}

int eva_task_get_status(const eva_task *t) {
    if (!t)
        return -EINVAL;
    return t->state == EVA_TASK_DONE ? t->status : -EINPROGRESS;
}

const char *eva_task_get_message(const eva_task *t) {
    if (t && t->state == EVA_TASK_DONE && t->status < 0 && t->u.message)
        return t->u.message;
    return eva_strerror(eva_task_get_status(t));
}

eva_task_state eva_task_get_state(const eva_task *t) { return t ? t->state : EVA_TASK_IDLE; }

const eva_site *eva_task_get_site(const eva_task *t) { return t ? t->site : NULL; }

const char *eva_task_get_name(const eva_task *t) { return t && t->name ? t->name : "task"; }

eva_loop *eva_task_get_loop(const eva_task *t) { return t ? t->loop : NULL; }

void eva_task_park(eva_task *t, const eva_wait_ops *ops, void *obj) {
    t->wait = ops;
    t->u.wait_obj = obj;
    t->parked_ms = (uint32_t)eva_now(t->loop); /* every wake sets the status */
    t->state = EVA_TASK_SUSPENDED;
}

void eva_task_wake(eva_task *t, int status, const char *message) {
    t->wait = NULL;
    t->u.message = message;
    t->status = status;
    task_run(t);
}

void eva_task_wake_later(eva_task *t, int status) {
    t->wait = NULL;
    t->status = status;
    ready_push(eva__async_loop_get(t->loop), t); /* exists: the task was started */
}

void *eva_task_get_wait_obj(const eva_task *t) {
    bool parked = t && t->state == EVA_TASK_SUSPENDED && !(t->flags & EVA__TASK_EXIT_HELD);
    return parked ? t->u.wait_obj : NULL;
}

/* ---- behind the macros ---------------------------------------------------- */

/* An operation completed at once with rc, and the task yields anyway: keep
 * rc for eva__await_end and resume on the next iteration.  Unlike YIELD, a
 * cancel meanwhile does not replace rc (the operation did happen); the next
 * AWAIT fails instead. */
static int yield_completed(eva__async_loop *al, eva_task *t, int rc) {
    al->budget_left = al->budget; /* for the dispatch that runs next */
    eva_task_wake_later(t, rc);
    return EVA_PARKED;
}

/* The budget ran out on an operation that completed at once. */
static int budget_yield(eva__async_loop *al, eva_task *t, int rc) {
    al->budget_yields++;
    return yield_completed(al, t, rc);
}

/* Shuffle mode: whether an operation that completed at once parks the task
 * as if it had not (one time in SHUFFLE_PARK_ONE_IN), to vary what code
 * written for either case sees.  A failure carrying a message cannot be
 * deferred (see eva__await_begin). */
enum { SHUFFLE_PARK_ONE_IN = 4 };
static bool shuffle_parks(eva_task *t) {
    eva__shuffle *shuffle = eva__loop_shuffle(t->loop);
    return shuffle && !t->u.message && eva__shuffle_one_in(shuffle, SHUFFLE_PARK_ONE_IN);
}

/* The finally section must not AWAIT: say where, and fail it at once.  The
 * task's result stands: an error it is unwinding from keeps its code and
 * message; a success becomes -ECANCELED, so the misuse cannot pass as one. */
static int await_in_finally(eva_task *t) {
    eva__log(t->loop, EVA_LOG_ERROR,
             "task '%s': AWAIT in the finally section at %s:%d (not allowed: it fails with -ECANCELED)",
             eva_task_get_name(t), t->site->file, t->site->line);
    if (t->status >= 0) {
        t->status = -ECANCELED;
        t->u.message = "AWAIT in the finally section";
    }
    return -ECANCELED;
}

int eva__await_begin(eva_task *t, const eva_site *site, eva_op op) {
    t->site = site;
    if (t->flags & EVA__TASK_UNWINDING)
        return await_in_finally(t);
    t->u.message = NULL;
    if (t->flags & EVA__TASK_CANCEL)
        return -ECANCELED;
    int rc = op.start(t, &op);
    if (rc == EVA_PARKED) {
        /* A start that runs task code (EVA_ASYNC runs the child at once) may
         * see the task cancelled while it is still RUNNING, which only sets
         * the flag: now that it is parked, withdraw what it waits on, or the
         * cancellation is lost (and loop destroy, seeing the flag, would not
         * cancel it again) */
        if ((t->flags & EVA__TASK_CANCEL) && t->state == EVA_TASK_SUSPENDED)
            t->wait->cancel(t);
        return rc;
    }
    eva__async_loop *al = eva__async_loop_find(t->loop);
    if (--al->budget_left > 0)
        return shuffle_parks(t) ? yield_completed(al, t, rc) : rc;
    if (t->u.message) {
        /* a failure carrying a message is not deferred (the ready list's
         * link shares the message's slot): the next operation yields */
        al->budget_left = 1;
        return rc;
    }
    return budget_yield(al, t, rc);
}

int eva_task_set_budget(eva_loop *loop, unsigned ops) {
    if (!loop)
        return -EINVAL;
    eva__async_loop *al = eva__async_loop_get(loop);
    if (!al)
        return -ENOMEM;
    al->budget = ops ? ops : UINT_MAX;
    return 0;
}

uint64_t eva_task_get_budget_yields(eva_loop *loop) {
    eva__async_loop *al = loop ? eva__async_loop_find(loop) : NULL;
    return al ? al->budget_yields : 0;
}

int eva__await_end(eva_task *t) { return t->status; }

bool eva__task_unwinding(const eva_task *t) { return t->flags & EVA__TASK_UNWINDING; }

/* The normal path enters the finally section: from here on the task is
 * finishing with success, exactly as if it had unwound with status 0. */
void eva__task_finally(eva_task *t) {
    t->status = 0;
    t->u.message = NULL;
    t->flags |= EVA__TASK_UNWINDING;
}

eva_step eva__task_fail(eva_task *t, int status, const char *message) {
    if ((t->flags & EVA__TASK_UNWINDING) && t->status < 0)
        return EVA_STEP_DONE; /* returning from the cleanup of a failure: it stands */
    t->status = status;
    t->u.message = status < 0 ? message : NULL;
    return t->flags & EVA__TASK_UNWINDING ? EVA_STEP_DONE : EVA_STEP_UNWIND;
}

eva_step eva__task_propagate(eva_task *t, int status) {
    if (t->flags & EVA__TASK_UNWINDING)
        return EVA_STEP_DONE; /* an AWAIT in the finally section: see await_in_finally */
    t->status = status; /* the message is the operation's, set when it finished */
    return EVA_STEP_UNWIND;
}

eva_step eva__task_end(eva_task *t) {
    if (!(t->flags & EVA__TASK_UNWINDING)) {
        t->status = 0;
        t->u.message = NULL;
    }
    return EVA_STEP_DONE;
}

/* A task body broke a macro rule (evasync/task.h): log where, and fail the
 * task with -EFAULT through its finally section. */
static eva_step misused(eva_task *t, const char *file, int line, const char *what) {
    eva__log(t->loop, EVA_LOG_ERROR, "task '%s': %s at %s:%d", eva_task_get_name(t), what, file, line);
    return eva__task_fail(t, -EFAULT, what);
}

eva_step eva__task_wrong_frame(eva_task *t, const char *file, int line) {
    return misused(t, file, line, "a task macro was given another frame than ASYNC_BEGIN's");
}

/* Switch fallback: the switch found no case for the entry point. */
eva_step eva__task_no_resume_point(eva_task *t) {
    if (t->flags & EVA__TASK_UNWINDING)
        return eva__task_end(t); /* unwinding into a body without a finally section */
    return misused(t, t->site->file, t->site->line,
                   "resumed at an AWAIT inside a switch statement of the task's own "
                   "(not allowed with EVA_AWAIT_SWITCH)");
}

/* Switch fallback: control fell out of the body's switch. */
eva_step eva__task_left_body(eva_task *t, const char *file, int line) {
    return misused(t, file, line,
                   "a break outside any loop or switch left the task body; caught by ASYNC_END");
}

/* ---- EVA_ASYNC: a nested task in the caller's frame ------------------------ */

static void call_cancel(eva_task *parent) {
    /* the child unwinds and, once finished, wakes the parent with its status */
    eva_task_cancel(parent->u.wait_obj);
}

static const eva_wait_ops call_wait = {"task", call_cancel};

static bool task_in_flight(const eva_task *t) {
    return t->state != EVA_TASK_IDLE && t->state != EVA_TASK_DONE;
}

static int call_start(eva_task *parent, const eva_op *op) {
    eva_task *child = op->ptr;
    if (!child || !child->fn)
        return -EINVAL;
    if (task_in_flight(child))
        return -EBUSY; /* awaited by someone else right now */
    eva_task_fn fn = child->fn;
    *child = (eva_task){.loop = parent->loop, .fn = fn, .name = parent->name,
                        .flags = EVA__TASK_NESTED | EVA__TASK_STARTED};
    child->up.awaiter = parent;
    task_run(child);
    if (child->state == EVA_TASK_DONE) { /* finished without suspending */
        parent->u.message = child->status < 0 ? child->u.message : NULL;
        return child->status;
    }
    eva_task_park(parent, &call_wait, child);
    return EVA_PARKED;
}

const eva_task *eva__task_nested_child(const eva_task *t) {
    return t->state == EVA_TASK_SUSPENDED && t->wait == &call_wait ? t->u.wait_obj : NULL;
}

eva_op eva_task_call_op(eva_task *child, eva_task_fn fn) {
    if (child && !task_in_flight(child)) /* never touch a running child */
        child->fn = fn;
    return (eva_op){.start = call_start, .ptr = child};
}
