/* async/promise.c — the promise object: settle once, react later.
 *
 * A promise keeps a doubly linked list of reactions.  Settling moves nothing:
 * it queues one deferred "notify" call (holding a reference), which runs the
 * reactions in order on a later loop iteration, as JavaScript's microtasks
 * run after the current job.  A reaction added to a settled promise queues
 * the notify again.
 *
 * References point from a pending promise to what reacts to it (a reaction
 * holds the promise it will settle), so dropping the program's reference to
 * a derived promise never stops it; the lifetime rules are in promise.h.
 */
#include <errno.h>

#include "promise_internal.h"

/* ---- reaction list ----------------------------------------------------- */

static void reactions_init(eva_promise *p) { eva__queue_init(&p->reactions); }

static bool reactions_empty(const eva_promise *p) { return eva__queue_empty(&p->reactions); }

/* The first reaction, unlinked (the list is not empty). */
static eva_reaction *reactions_pop(eva_promise *p) {
    return EVA__QUEUE_DATA(eva__queue_pop(&p->reactions), eva_reaction, node);
}

void eva__reaction_unlink(eva_reaction *r) {
    if (eva__queue_linked(&r->node)) /* it may have run (and left) already */
        eva__queue_remove(&r->node);
}

static void on_notify(eva_loop *loop, int status, void *arg) {
    (void)loop;
    (void)status; /* at loop destroy the reactions still run, once */
    eva_promise *p = arg;
    p->notify_queued = false;
    while (!reactions_empty(p)) {
        eva_reaction *r = reactions_pop(p);
        r->run(r, p);
    }
    eva_promise_unref(p);
}

static void queue_notify(eva_promise *p) {
    if (p->notify_queued || reactions_empty(p) || p->state == EVA_PROMISE_PENDING)
        return;
    p->notify_queued = true;
    /* notifications of different promises may run in any order; one
     * promise's reactions run in the order they were added */
    eva__defer_unordered(p->loop, &p->notify, on_notify, eva_promise_ref(p));
}

void eva__reaction_add(eva_promise *p, eva_reaction *r) {
    eva__queue_insert_tail(&p->reactions, &r->node);
    queue_notify(p);
}

/* ---- life cycle -------------------------------------------------------- */

int eva_promise_new(eva_loop *loop, eva_promise **out) {
    if (!loop || !out)
        return -EINVAL;
    eva__async_loop *al = eva__async_loop_get(loop);
    eva_promise *p = al ? eva__calloc(1, sizeof *p) : NULL;
    if (!p)
        return -ENOMEM;
    p->loop = loop;
    p->refs = 1;
    reactions_init(p);
    eva__queue_insert_tail(&al->promises, &p->node);
    *out = p;
    return 0;
}

eva_promise *eva_promise_ref(eva_promise *p) {
    if (p)
        p->refs++;
    return p;
}

static void live_unlink(eva_promise *p) {
    eva__async_loop *al = p->loop ? eva__async_loop_find(p->loop) : NULL;
    if (al) /* an orphan (its loop is gone) is on no list */
        eva__queue_remove(&p->node);
}

/* Released while pending (its last holder dropped it without settling it):
 * nobody can settle it any more, so what reacts to it runs as cancelled.
 * Work the program asked for is lost here: say so. */
static void release_pending(eva_promise *p) {
    if (reactions_empty(p))
        return;
    eva__log(p->loop, EVA_LOG_WARN,
             "a pending promise was released by its last holder: nobody can settle it, "
             "its reactions run as cancelled");
    while (!reactions_empty(p)) {
        eva_reaction *r = reactions_pop(p);
        r->run(r, NULL);
    }
}

void eva_promise_unref(eva_promise *p) {
    if (!p || --p->refs > 0)
        return;
    live_unlink(p);
    /* cancellation is a request someone made, not a failure to report */
    if (p->state == EVA_PROMISE_REJECTED && !p->observed && p->code != -ECANCELED)
        eva__log(p->loop, EVA_LOG_WARN, "unhandled promise rejection: %s (%d)",
                 eva_promise_get_message(p), p->code);
    release_pending(p); /* a settled promise has none: its notify holds a reference */
    if (p->comb)
        eva__combinator_free(p->comb);
    if (p->dtor)
        p->dtor(p->value);
    eva_promise_unref(p->source);
    eva__free(p);
}

/* ---- settling ---------------------------------------------------------- */

void eva__promise_settle(eva_promise *p, eva_promise_state state, int code, const char *message,
                         void *value, eva_value_dtor dtor) {
    if (p->state != EVA_PROMISE_PENDING) {
        /* settled first by the loop's destroy: a promise settles once; the
         * late outcome's value is disposed of, not leaked */
        if (value && dtor)
            dtor(value);
        return;
    }
    p->state = (uint8_t)state;
    p->code = code;
    p->message = message;
    p->value = value;
    p->dtor = dtor;
    p->adopting = false;
    p->reacted_to = false;
    p->canceller = NULL;
    queue_notify(p);
}

void eva__promise_settle_like(eva_promise *p, eva_promise *src) {
    src->observed = true;
    eva__promise_settle(p, src->state, src->code, src->message, src->value, NULL);
}

int eva__promise_new_for_op(eva_loop *loop, eva_promise **out) {
    int rc = eva_promise_new(loop, out);
    if (rc == 0)
        (*out)->by_operation = true;
    return rc;
}

/* 0 when the program may settle p now, else why not. */
static int settleable(const eva_promise *p) {
    if (p->by_operation)
        return -EPERM;
    return p->state == EVA_PROMISE_PENDING && !p->adopting && p->loop ? 0 : -EALREADY;
}

int eva_promise_resolve(eva_promise *p, void *value, eva_value_dtor dtor) {
    if (!p)
        return -EINVAL;
    int rc = settleable(p);
    if (rc < 0)
        return rc;
    eva__promise_settle(p, EVA_PROMISE_FULFILLED, 0, NULL, value, dtor);
    return 0;
}

int eva_promise_reject(eva_promise *p, int code, const char *message) {
    if (!p || code >= 0)
        return -EINVAL;
    int rc = settleable(p);
    if (rc < 0)
        return rc;
    eva__promise_settle(p, EVA_PROMISE_REJECTED, code, message, NULL, NULL);
    return 0;
}

/* src is never NULL: p holds src, so src cannot be released while pending. */
static void adopt_run(eva_reaction *r, eva_promise *src) {
    eva_promise *p = EVA__CONTAINER_OF(r, eva_promise, adopt_node);
    eva__promise_settle_like(p, src); /* p->source keeps src and its value alive */
    eva_promise_unref(p);             /* the reference the pending src held */
}

int eva_promise_adopt(eva_promise *p, eva_promise *src) {
    if (!p || !src || p == src || p->loop != src->loop || !p->loop)
        return -EINVAL;
    int rc = settleable(p);
    if (rc < 0)
        return rc;
    p->source = eva_promise_ref(src);
    src->observed = true;
    if (src->state != EVA_PROMISE_PENDING) {
        eva__promise_settle_like(p, src);
        return 0;
    }
    p->adopting = true;
    p->adopt_node.run = adopt_run;
    eva_promise_ref(p); /* src, while pending, keeps its follower alive */
    eva__reaction_add(src, &p->adopt_node);
    return 0;
}

int eva_promise_set_canceller(eva_promise *p, eva_promise_canceller fn, void *arg) {
    if (!p)
        return -EINVAL;
    int rc = settleable(p);
    if (rc == -EPERM && !p->canceller)
        rc = 0; /* the operation installing its own, right after making p */
    if (rc < 0)
        return rc;
    p->canceller = fn;
    p->cancel_arg = arg;
    return 0;
}

int eva_promise_cancel(eva_promise *p) {
    if (!p)
        return -EINVAL;
    if (p->state != EVA_PROMISE_PENDING)
        return 0;
    if (p->adopting)
        return eva_promise_cancel(p->source);
    if (!p->canceller)
        return -ENOTSUP;
    eva_promise_canceller fn = p->canceller;
    p->canceller = NULL; /* asked once */
    fn(p, p->cancel_arg);
    return 0;
}

/* ---- state --------------------------------------------------------------- */

eva_promise_state eva_promise_get_state(const eva_promise *p) {
    return p ? (eva_promise_state)p->state : EVA_PROMISE_PENDING;
}

void *eva_promise_get_value(const eva_promise *p) {
    return p && p->state == EVA_PROMISE_FULFILLED ? p->value : NULL;
}

int eva_promise_get_error(eva_promise *p) {
    if (!p)
        return -EINVAL;
    if (p->state != EVA_PROMISE_REJECTED)
        return 0;
    p->observed = true;
    return p->code;
}

const char *eva_promise_get_message(const eva_promise *p) {
    if (p && p->state == EVA_PROMISE_REJECTED && p->message)
        return p->message;
    return eva_strerror(p && p->state == EVA_PROMISE_REJECTED ? p->code : 0);
}

/* ---- at loop destroy --------------------------------------------------- */

static bool cancel_pending(eva_promise *p) {
    /* An adopting promise follows its source, a then/catch/finally result
     * its reaction: cancelling them would withdraw reactions that must run. */
    if (p->state != EVA_PROMISE_PENDING || p->adopting || p->reacted_to)
        return false;
    if (p->canceller)
        eva_promise_cancel(p);
    if (p->state == EVA_PROMISE_PENDING)
        eva__promise_settle(p, EVA_PROMISE_REJECTED, -ECANCELED, "the loop was destroyed", NULL, NULL);
    return true;
}

/* The promise at node of the loop's list, or NULL at its end. */
static eva_promise *promise_at(eva__async_loop *al, eva_queue *node) {
    return node == &al->promises ? NULL : EVA__QUEUE_DATA(node, eva_promise, node);
}

bool eva__promise_cancel_all(eva__async_loop *al) {
    bool cancelled = false;
    /* Hold the next one too: a canceller may release other promises. */
    eva_promise *p = eva_promise_ref(promise_at(al, al->promises.next));
    while (p) {
        eva_promise *next = eva_promise_ref(promise_at(al, p->node.next));
        cancelled |= cancel_pending(p);
        eva_promise_unref(p);
        p = next;
    }
    return cancelled;
}

void eva__promise_orphan_all(eva__async_loop *al) {
    eva_queue *n;
    while ((n = eva__queue_pop(&al->promises))) {
        eva_promise *p = EVA__QUEUE_DATA(n, eva_promise, node);
        p->loop = NULL;
        p->observed = true; /* the destroy rejected it, not the program */
    }
}
