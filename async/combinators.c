/* async/combinators.c — all, all_settled, any, race, timeout.
 *
 * One combinator state per result promise: references to the inputs, one
 * reaction node per input (allocated with the state, not per event), and for
 * timeout a timer.  Once the result is decided, the inputs still pending are
 * cancelled (when they can be): their outcome can no longer matter.
 *
 * References: the result holds its inputs; each input, while pending, holds
 * the result through its node (so dropping the result never stops it).  That
 * cycle lasts only until the decision, which unlinks the nodes still waiting
 * and drops their references.
 */
#include <errno.h>

#include "promise_internal.h"

typedef enum comb_kind { COMB_ALL, COMB_ALL_SETTLED, COMB_ANY, COMB_RACE, COMB_TIMEOUT } comb_kind;

typedef struct comb_node {
    eva_reaction r; /* while linked, it holds a reference to the result */
    eva__combinator *c;
} comb_node;

struct eva__combinator {
    comb_kind kind;
    eva_promise *result; /* not a reference: the result owns this state */
    size_t n, fulfilled, rejected;
    eva_promise **inputs; /* references */
    comb_node *nodes;
    ev_timer timer;       /* COMB_TIMEOUT */
};

static bool decided(const eva__combinator *c) { return c->result->state != EVA_PROMISE_PENDING; }

static void cancel_inputs(eva__combinator *c) {
    for (size_t i = 0; i < c->n; i++)
        eva_promise_cancel(c->inputs[i]); /* -ENOTSUP: not cancellable, left to finish */
}

static void stop_timer(eva__combinator *c) {
    if (ev_is_active(&c->timer) || ev_is_pending(&c->timer))
        ev_timer_stop(eva_loop_get_ev(c->result->loop), &c->timer);
}

static bool node_linked(const comb_node *n) { return eva__queue_linked(&n->r.node); }

/* The inputs still pending stop holding the result: it is decided. */
static void release_nodes(eva__combinator *c) {
    for (size_t i = 0; i < c->n; i++) {
        if (node_linked(&c->nodes[i])) {
            eva__reaction_unlink(&c->nodes[i].r);
            eva_promise_unref(c->result);
        }
    }
}

/* The result is settled; what is left to do.  The caller holds a reference
 * to the result across this: releasing the nodes may drop all the others. */
static void wind_up(eva__combinator *c) {
    stop_timer(c);
    release_nodes(c);
    cancel_inputs(c);
}

static void decide_like(eva__combinator *c, eva_promise *input) {
    eva__promise_settle_like(c->result, input);
    wind_up(c);
}

static void decide(eva__combinator *c, eva_promise_state state, int code, const char *message) {
    eva__promise_settle(c->result, state, code, message, NULL, NULL);
    wind_up(c);
}

/* input is never NULL: the result holds its inputs, so none is released while pending. */
static void on_input(eva_reaction *r, eva_promise *input) {
    eva__combinator *c = EVA__CONTAINER_OF(r, comb_node, r)->c;
    eva_promise *result = c->result; /* our node's reference, dropped at the end */
    input->observed = true;
    if (decided(c)) { /* the program settled the result itself */
        wind_up(c);
        eva_promise_unref(result);
        return;
    }
    bool ok = input->state == EVA_PROMISE_FULFILLED;
    c->fulfilled += ok;
    c->rejected += !ok;
    switch (c->kind) {
    case COMB_ALL:
        if (!ok)
            decide_like(c, input);
        else if (c->fulfilled == c->n)
            decide(c, EVA_PROMISE_FULFILLED, 0, NULL);
        break;
    case COMB_ALL_SETTLED:
        if (c->fulfilled + c->rejected == c->n)
            decide(c, EVA_PROMISE_FULFILLED, 0, NULL);
        break;
    case COMB_ANY:
        if (ok)
            decide_like(c, input);
        else if (c->rejected == c->n)
            decide(c, EVA_PROMISE_REJECTED, EVA_EALLFAILED, NULL);
        break;
    case COMB_RACE:
    case COMB_TIMEOUT:
        decide_like(c, input);
        break;
    }
    eva_promise_unref(result);
}

static void on_timeout(struct ev_loop *ev, ev_timer *w, int revents) {
    (void)ev;
    (void)revents;
    eva__combinator *c = EVA__CONTAINER_OF(w, eva__combinator, timer);
    eva_promise *result = eva_promise_ref(c->result); /* the input's node may hold the only one */
    /* A literal, not "after N ms": the message travels on to tasks and
     * promises that may outlive this state. */
    if (!decided(c))
        decide(c, EVA_PROMISE_REJECTED, -ETIMEDOUT,
               "eva_promise_timeout: time ran out before the promise settled");
    eva_promise_unref(result);
}

static void on_result_cancel(eva_promise *result, void *arg) {
    eva__combinator *c = arg;
    eva_promise_ref(result); /* canceller: result is pending, its nodes may hold the only references */
    decide(c, EVA_PROMISE_REJECTED, -ECANCELED, NULL); /* inputs settle later, if at all */
    eva_promise_unref(result);
}

/* With the result: it was decided (a pending result is held by its nodes),
 * so no node is linked and the timer is stopped. */
void eva__combinator_free(eva__combinator *c) {
    for (size_t i = 0; i < c->n; i++)
        eva_promise_unref(c->inputs[i]);
    eva__free(c->inputs);
    eva__free(c->nodes);
    eva__free(c);
}

static int combine(comb_kind kind, eva_loop *loop, eva_promise *const *inputs, size_t n,
                   int64_t ms, eva_promise **out) {
    if (!loop || !out || (n > 0 && !inputs))
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!inputs[i] || inputs[i]->loop != loop)
            return -EINVAL;
    eva__combinator *c = eva__calloc(1, sizeof *c);
    eva_promise *result = NULL;
    if (!c || (n && !(c->inputs = eva__calloc(n, sizeof *c->inputs))) ||
        (n && !(c->nodes = eva__calloc(n, sizeof *c->nodes))) || eva_promise_new(loop, &result) < 0) {
        if (c) {
            eva__free(c->inputs);
            eva__free(c->nodes);
        }
        eva__free(c);
        return -ENOMEM;
    }
    c->kind = kind;
    c->result = result;
    c->n = n;
    result->comb = c;
    eva_promise_set_canceller(result, on_result_cancel, c);
    for (size_t i = 0; i < n; i++) {
        c->inputs[i] = eva_promise_ref(inputs[i]);
        inputs[i]->observed = true;
    }
    if (kind == COMB_TIMEOUT) {
        ev_timer_init(&c->timer, on_timeout, (double)ms / 1e3, 0.);
        ev_timer_start(eva_loop_get_ev(loop), &c->timer);
    }
    if (n == 0 && kind == COMB_ANY)
        decide(c, EVA_PROMISE_REJECTED, EVA_EALLFAILED, NULL);
    else if (n == 0)
        decide(c, EVA_PROMISE_FULFILLED, 0, NULL);
    for (size_t i = 0; i < n; i++) {
        c->nodes[i].c = c;
        c->nodes[i].r.run = on_input;
        eva_promise_ref(result); /* the pending input keeps the result alive */
        eva__reaction_add(c->inputs[i], &c->nodes[i].r);
    }
    *out = result;
    return 0;
}

int eva_promise_all(eva_loop *loop, eva_promise *const *inputs, size_t n, eva_promise **out) {
    return combine(COMB_ALL, loop, inputs, n, 0, out);
}

int eva_promise_all_settled(eva_loop *loop, eva_promise *const *inputs, size_t n, eva_promise **out) {
    return combine(COMB_ALL_SETTLED, loop, inputs, n, 0, out);
}

int eva_promise_any(eva_loop *loop, eva_promise *const *inputs, size_t n, eva_promise **out) {
    return combine(COMB_ANY, loop, inputs, n, 0, out);
}

int eva_promise_race(eva_loop *loop, eva_promise *const *inputs, size_t n, eva_promise **out) {
    if (n == 0)
        return -EINVAL;
    return combine(COMB_RACE, loop, inputs, n, 0, out);
}

int eva_promise_timeout(eva_promise *p, int64_t ms, eva_promise **out) {
    if (!p || ms < 0)
        return -EINVAL;
    return combine(COMB_TIMEOUT, p->loop, &p, 1, ms, out);
}

eva_promise *const *eva_promise_get_inputs(const eva_promise *p, size_t *n) {
    size_t count = p && p->comb ? p->comb->n : 0;
    if (n)
        *n = count;
    return count ? p->comb->inputs : NULL;
}
