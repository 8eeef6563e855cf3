/* async/scope.c — scopes: children that finish before their owner does.
 *
 * A scope is linked into its loop's list from eva_scope_init until it is
 * joined (or its owner finishes), so the runtime can find the scopes a
 * finishing owner left running, and loop destroy can cancel them.
 */
#include <errno.h>

#include "async_internal.h"

static bool scope_linked(const eva_scope *s) { return eva__queue_linked(&s->node); }

static void scope_unlink(eva_scope *s) {
    if (scope_linked(s))
        eva__queue_remove(&s->node);
}

static eva_scope *scope_of(eva_queue *node) { return EVA__QUEUE_DATA(node, eva_scope, node); }

/* A scope initialised again while still on the loop's list: its join never
 * ran (an AWAIT of a cancelled task fails before starting its operation),
 * so overwriting its node would corrupt the list.  With no child left it is
 * finished, just never joined: take it off; with children it is in use.
 * The list is walked, not s read: s may be memory never initialised. */
static int forget_unjoined(eva__async_loop *al, eva_scope *s) {
    EVA__QUEUE_FOREACH(n, &al->scopes) {
        if (n != &s->node)
            continue;
        if (s->live > 0 || s->joiner)
            return -EBUSY;
        eva__queue_remove(&s->node);
        return 0;
    }
    return 0;
}

int eva_scope_init_mode(eva_scope *s, eva_task *owner, eva_scope_mode mode) {
    if (!s || !owner || !owner->loop || owner->state == EVA_TASK_IDLE || owner->state == EVA_TASK_DONE)
        return -EINVAL;
    if (mode != EVA_SCOPE_FAIL_FAST && mode != EVA_SCOPE_SUPERVISE)
        return -EINVAL;
    eva__async_loop *al = eva__async_loop_get(owner->loop);
    if (!al)
        return -ENOMEM;
    int rc = forget_unjoined(al, s);
    if (rc < 0)
        return rc;
    *s = (eva_scope){.owner = owner, .supervise = mode == EVA_SCOPE_SUPERVISE};
    eva__queue_init(&s->children);
    eva__queue_insert_tail(&al->scopes, &s->node);
    owner->flags |= EVA__TASK_SCOPES;
    return 0;
}

int eva_scope_init(eva_scope *s, eva_task *owner) {
    return eva_scope_init_mode(s, owner, EVA_SCOPE_FAIL_FAST);
}

int eva_scope_on_failure(eva_scope *s, eva_scope_failure_fn fn, void *arg) {
    if (!s || !scope_linked(s))
        return -EINVAL;
    s->on_failure = fn;
    s->failure_arg = arg;
    return 0;
}

void eva__scope_link_child(eva_scope *s, eva_task *child) {
    eva__queue_insert_tail(&s->children, &child->node);
    s->live++;
}

static int child_check(const eva_scope *s) {
    if (!s || !scope_linked(s))
        return -EINVAL;
    return s->cancelled ? -ECANCELED : 0;
}

int eva_scope_start(eva_scope *s, eva_task *child) {
    int rc = child_check(s);
    if (rc < 0)
        return rc;
    if (!child || child->loop != s->owner->loop)
        return -EINVAL;
    return eva__task_start_child(child, s);
}

int eva_scope_spawn(eva_scope *s, size_t frame_size, eva_task_fn fn, const char *name,
                    void **frame_out) {
    int rc = child_check(s);
    if (rc < 0)
        return rc;
    if (!fn || !frame_out || frame_size < sizeof(eva_task))
        return -EINVAL;
    eva_task *t = eva__task_alloc(s->owner->loop, frame_size, fn, name);
    if (!t)
        return -ENOMEM;
    rc = eva__task_start_child(t, s);
    if (rc < 0) {
        eva__free(t);
        return rc;
    }
    *frame_out = t;
    return 0;
}

int eva_scope_cancel(eva_scope *s) {
    if (!s)
        return -EINVAL;
    if (s->cancelled)
        return 0;
    s->cancelled = true;
    if (s->status == 0)
        s->status = -ECANCELED;
    EVA__QUEUE_FOREACH(n, &s->children) /* cancelling runs no task code: the list stays */
        eva_task_cancel(EVA__QUEUE_DATA(n, eva_task, node));
    return 0;
}

size_t eva_scope_get_live(const eva_scope *s) { return s ? s->live : 0; }

/* ---- the owner's join ------------------------------------------------------ */

static void join_cancel(eva_task *owner) {
    /* the join keeps waiting: it resumes once the cancelled children finish */
    eva_scope_cancel(owner->u.wait_obj);
}

static const eva_wait_ops join_wait = {"scope", join_cancel};

static int join_result(eva_task *owner, eva_scope *s) {
    scope_unlink(s);
    owner->u.message = s->status < 0 ? s->message : NULL;
    return s->status;
}

static int join_start(eva_task *t, const eva_op *op) {
    eva_scope *s = op->ptr;
    if (!s || s->owner != t || !scope_linked(s))
        return -EINVAL;
    if (s->live == 0)
        return join_result(t, s);
    s->joiner = t;
    eva_task_park(t, &join_wait, s);
    return EVA_PARKED;
}

eva_op eva_scope_join_op(eva_scope *s) { return (eva_op){.start = join_start, .ptr = s}; }

/* ---- the runtime's side ------------------------------------------------------ */

static void exit_cancel(eva_task *owner) {
    (void)owner; /* the children are already cancelled; the owner finishes next */
}

static const eva_wait_ops exit_wait = {"scope exit", exit_cancel};

static bool owner_still_held(const eva_task *owner) {
    eva__async_loop *al = eva__async_loop_get(owner->loop);
    EVA__QUEUE_FOREACH(n, &al->scopes)
        if (scope_of(n)->owner == owner && scope_of(n)->exit_hold)
            return true;
    return false;
}

/* The last child of s finished. */
static void scope_settle(eva_scope *s) {
    if (s->joiner) {
        eva_task *owner = s->joiner;
        s->joiner = NULL;
        int status = join_result(owner, s);
        eva_task_wake(owner, status, owner->u.message);
    } else if (s->exit_hold) {
        s->exit_hold = false;
        scope_unlink(s);
        if (!owner_still_held(s->owner))
            eva__task_exit_resume(s->owner);
    }
}

/* A supervising scope with no callback: the failure must not go unseen. */
static void log_failure(const eva_scope *s, eva_task *child) {
    eva__log(child->loop, EVA_LOG_WARN, "task '%s' failed in the scope of '%s': %s (%d)",
             eva_task_get_name(child), eva_task_get_name(s->owner), eva_task_get_message(child),
             eva_task_get_status(child));
}

static void child_failed(eva_scope *s, eva_task *child) {
    if (!s->supervise && s->status == 0) {
        s->status = child->status; /* the first failure is the scope's error */
        s->message = child->u.message;
        eva_scope_cancel(s);
    }
    if (s->on_failure)
        EVA__CALL_USER(child->loop, s->on_failure, s->on_failure(s->failure_arg, s, child));
    else if (s->supervise)
        log_failure(s, child);
}

void eva__scope_child_done(eva_task *child) {
    eva_scope *s = child->up.scope;
    eva__queue_remove(&child->node);
    s->live--;
    if (child->status < 0 && child->status != -ECANCELED)
        child_failed(s, child);
    if (s->live == 0) /* after the callback: it may have started another child */
        scope_settle(s);
}

bool eva__scope_hold_exit(eva_task *owner, eva_step step) {
    eva__async_loop *al = eva__async_loop_get(owner->loop);
    bool held = false;
    eva_queue *next;
    for (eva_queue *n = al->scopes.next; n != &al->scopes; n = next) {
        next = n->next; /* s may leave the list */
        eva_scope *s = scope_of(n);
        if (s->owner != owner)
            continue;
        if (s->live == 0) {
            scope_unlink(s); /* finished, just never joined */
            continue;
        }
        if (owner->status >= 0) /* succeeding without the join: a bug in the owner */
            eva__log(owner->loop, EVA_LOG_WARN,
                     "task '%s' finished without joining its scope: %zu child task(s) cancelled",
                     eva_task_get_name(owner), s->live);
        eva_scope_cancel(s);
        s->exit_hold = true;
        held = true;
    }
    if (!held) {
        owner->flags &= (uint16_t)~EVA__TASK_SCOPES;
        return false;
    }
    owner->flags |= EVA__TASK_EXIT_HELD;
    if (step == EVA_STEP_UNWIND)
        owner->flags |= EVA__TASK_EXIT_UNWIND;
    owner->wait = &exit_wait; /* parked by hand: u keeps the failure's message */
    owner->state = EVA_TASK_SUSPENDED;
    return true;
}

bool eva__scope_cancel_all(eva__async_loop *al) {
    bool cancelled = false;
    EVA__QUEUE_FOREACH(n, &al->scopes) {
        eva_scope *s = scope_of(n);
        if (!s->cancelled) {
            eva_scope_cancel(s);
            cancelled = true;
        }
    }
    return cancelled;
}
