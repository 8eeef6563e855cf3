/* async/promise_react.c — then/catch/finally and AWAIT on a promise. */
#include <errno.h>

#include "promise_internal.h"

typedef struct then_reaction {
    eva_reaction r;
    eva_then_fn on_fulfilled, on_rejected;
    eva_finally_fn on_settled;
    void *arg;
    eva_promise *source; /* borrowed: alive while r is linked to it */
    eva_promise *next;   /* a reference: the pending source keeps next alive */
} then_reaction;

/* The reaction runs (or is withdrawn) now: from here next is settled by it,
 * or follows what it adopts, and cancelling next no longer withdraws it. */
static void stop_following(eva_promise *next) {
    next->reacted_to = false;
    next->canceller = NULL;
}

static void then_run(eva_reaction *r, eva_promise *settled) {
    then_reaction *t = EVA__CONTAINER_OF(r, then_reaction, r);
    eva_promise *next = t->next;
    stop_following(next);
    if (!settled) {
        eva_promise_reject(next, -ECANCELED, "the promise was released before it settled");
    } else if (t->on_settled) {
        EVA__CALL_USER(next->loop, t->on_settled, t->on_settled(t->arg, settled));
        eva_promise_adopt(next, settled);
    } else {
        eva_then_fn fn = settled->state == EVA_PROMISE_FULFILLED ? t->on_fulfilled : t->on_rejected;
        if (!fn) {
            eva_promise_adopt(next, settled);
        } else {
            int rc;
            EVA__CALL_USER(next->loop, fn, rc = fn(t->arg, settled, next));
            if (rc < 0)
                eva_promise_reject(next, rc, NULL); /* -EALREADY if fn settled it */
            else
                eva_promise_resolve(next, NULL, NULL);
        }
    }
    eva_promise_unref(next);
    eva__free(t);
}

/* eva_promise_cancel(next) before the reaction ran: withdraw it (it never
 * runs), reject next, and cancel the work it was waiting for. */
static void then_cancel(eva_promise *next, void *arg) {
    then_reaction *t = arg;
    eva__reaction_unlink(&t->r);
    stop_following(next);
    eva__promise_settle(next, EVA_PROMISE_REJECTED, -ECANCELED, NULL, NULL, NULL);
    eva_promise_cancel(t->source); /* -ENOTSUP: nothing to stop, it finishes unheard */
    eva_promise_unref(next);
    eva__free(t);
}

static int add_then(eva_promise *p, eva_then_fn ok, eva_then_fn err, eva_finally_fn fin,
                    void *arg, eva_promise **next_out) {
    if (!p || !p->loop)
        return -EINVAL;
    then_reaction *t = eva__calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    int rc = eva_promise_new(p->loop, &t->next);
    if (rc < 0) {
        eva__free(t);
        return rc;
    }
    t->r.run = then_run;
    t->on_fulfilled = ok;
    t->on_rejected = err;
    t->on_settled = fin;
    t->arg = arg;
    t->source = p;
    t->next->reacted_to = true;
    eva_promise_set_canceller(t->next, then_cancel, t);
    p->observed = true;
    if (next_out)
        *next_out = eva_promise_ref(t->next);
    eva__reaction_add(p, &t->r);
    return 0;
}

int eva_promise_then(eva_promise *p, eva_then_fn on_fulfilled, eva_then_fn on_rejected,
                     void *arg, eva_promise **next_out) {
    return add_then(p, on_fulfilled, on_rejected, NULL, arg, next_out);
}

int eva_promise_catch(eva_promise *p, eva_then_fn on_rejected, void *arg, eva_promise **next_out) {
    return add_then(p, NULL, on_rejected, NULL, arg, next_out);
}

int eva_promise_finally(eva_promise *p, eva_finally_fn fn, void *arg, eva_promise **next_out) {
    if (!fn)
        return -EINVAL;
    return add_then(p, NULL, NULL, fn, arg, next_out);
}

/* ---- AWAIT ------------------------------------------------------------- */

static int outcome(eva_task *t, eva_promise *p) {
    p->observed = true;
    t->u.message = p->state == EVA_PROMISE_REJECTED ? p->message : NULL;
    return p->state == EVA_PROMISE_REJECTED ? p->code : 0;
}

static void await_run(eva_reaction *r, eva_promise *settled) {
    eva_task *t = EVA__CONTAINER_OF(r, eva_task, op.reaction);
    /* settled is never NULL here: the parked AWAIT holds a reference */
    int status = outcome(t, settled);
    eva_task_wake(t, status, t->u.message);
    eva_promise_unref(settled); /* after the wake: the task may have dropped its own */
}

static void await_cancel(eva_task *t) {
    eva_promise *p = t->u.wait_obj;
    eva__reaction_unlink(&t->op.reaction);
    eva_promise_unref(p);
    eva_task_wake_later(t, -ECANCELED);
}

static const eva_wait_ops promise_wait = {"promise", await_cancel};

static int await_start(eva_task *t, const eva_op *op) {
    eva_promise *p = op->ptr;
    if (!p || !p->loop)
        return -EINVAL;
    if (p->state != EVA_PROMISE_PENDING)
        return outcome(t, p);
    t->op.reaction.run = await_run;
    eva__reaction_add(eva_promise_ref(p), &t->op.reaction);
    eva_task_park(t, &promise_wait, p);
    return EVA_PARKED;
}

eva_op eva_promise_op(eva_promise *p) { return (eva_op){.start = await_start, .ptr = p}; }
