/* examples/checkout/svc_promise.c — the request as a promise chain: each
 * step is a promise (eva_promise_from_op over the AWAIT form), each
 * reaction starts the next step and hands its promise on with
 * eva_promise_adopt; every failure falls through to the one handler at the
 * end, which records the outcome and starts the slot's next request. */
#include "checkout.h"
#include "svc.h"

typedef struct checkout {
    svc_run *run;
    svc_slot *slot;
    int i, n;
    svc_req r;
    pg_query q;
    redis_cmds x;
    eva_promise *done;        /* the current request's: ours until the next */
    char message[200];
} checkout;

/* A reaction's failure: the chain rejects with the code and our message. */
static int fail(eva_promise *next, int rc, const char *message) {
    eva_promise_reject(next, rc, message);
    return 0;
}

/* Run io's exchange, then `then` with c; the promise of both goes into next. */
static int step(checkout *c, nbio *io, eva_then_fn then, eva_promise *next) {
    return promise_step(c->run->loop, nbio_op(io), then, c, next);
}

static int on_cached(void *arg, eva_promise *settled, eva_promise *next) {
    (void)settled;
    checkout *c = arg;
    int rc = svc_redis_take(&c->r, &c->x, c->message, sizeof c->message);
    if (rc < 0)
        return fail(next, rc, c->message);
    eva_promise *hashed;
    rc = eva_pool_submit_promise(c->run->pool, c->run->loop, svc_hash, &c->r, NULL, &hashed);
    if (rc < 0)
        return rc;
    rc = eva_promise_adopt(next, hashed);
    eva_promise_unref(hashed);
    return rc;
}

static int query(checkout *c, eva_promise *next);

static int on_queried(void *arg, eva_promise *settled, eva_promise *next) {
    (void)settled;
    checkout *c = arg;
    int rc = svc_take(&c->r, c->n, &c->q, c->message, sizeof c->message);
    if (rc < 0)
        return fail(next, rc, c->message);
    if (++c->n < SVC_QUERIES)
        return query(c, next);
    svc_redis(&c->x, &c->r, c->slot->redis);
    return step(c, &c->x.io, on_cached, next);
}

static int query(checkout *c, eva_promise *next) {
    svc_query(&c->q, &c->r, c->n, c->slot->pg);
    return step(c, &c->q.io, on_queried, next);
}

static void start_request(checkout *c);

/* The end, fulfilled or rejected: the one place errors arrive. */
static int on_settled(void *arg, eva_promise *settled, eva_promise *next) {
    (void)next;
    checkout *c = arg;
    int status = eva_promise_get_error(settled);
    svc_cleanup(&c->q, &c->x);
    svc_finish(c->run, c->i, &c->r, status, status ? eva_promise_get_message(settled) : NULL);
    c->i += c->run->nslots;
    start_request(c);
    return 0; /* handled: the chain ends fulfilled */
}

/* Request c->i: its chain ends in c->done, whose reaction records it. */
static void start_request(checkout *c) {
    eva_promise_unref(c->done); /* the previous request's, settled (NULL is fine) */
    c->done = NULL;
    if (c->i >= c->run->requests) {
        meter_free(c);
        return;
    }
    svc_begin(c->run, c->i, &c->r);
    c->n = 0;
    int rc = eva_promise_new(c->run->loop, &c->done);
    if (rc == 0 && (rc = eva_promise_then(c->done, on_settled, on_settled, c, NULL)) < 0) {
        eva_promise_unref(c->done);
        c->done = NULL;
    }
    if (rc < 0) { /* out of memory: nothing will call back, give up this slot */
        svc_finish(c->run, c->i, &c->r, rc, NULL);
        meter_free(c);
        return;
    }
    if ((rc = query(c, c->done)) < 0) /* from here on_settled owns c, whatever happens */
        eva_promise_reject(c->done, rc, NULL);
}

static void start_slot(void *state, svc_run *run, int k) {
    checkout *c = state;
    *c = (checkout){.run = run, .slot = &run->slots[k], .i = k};
    start_request(c);
}

int svc_run_promises(svc_run *run) { return svc_run_slots(run, sizeof(checkout), start_slot); }
