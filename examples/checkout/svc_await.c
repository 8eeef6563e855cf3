/* examples/checkout/svc_await.c — the request as an AWAIT function: it
 * reads top to bottom like the blocking version; each AWAIT returns to the
 * loop.  What lives across an AWAIT is in the frame. */
#include "svc.h"

typedef struct checkout {
    eva_task task;            /* first: the frame is the task */
    svc_req r;
    svc_slot *slot;
    eva_pool *pool;
    bool inline_cpu;          /* the deliberately blocking variant */
    pg_query q;
    redis_cmds x;
    eva_pool_job job;
    int n, rc;
    char message[200];
} checkout;

static eva_step checkout_run(void *frame) {
    checkout *c = frame;
    ASYNC_BEGIN(c);
    for (c->n = 0; c->n < SVC_QUERIES; c->n++) {
        svc_query(&c->q, &c->r, c->n, c->slot->pg);
        AWAIT_RC(c, c->rc, nbio_op(&c->q.io));
        if (c->rc < 0)
            ASYNC_FAIL(c, c->rc, c->q.io.message);
        if ((c->rc = svc_take(&c->r, c->n, &c->q, c->message, sizeof c->message)) < 0)
            ASYNC_FAIL(c, c->rc, c->message);
    }
    svc_redis(&c->x, &c->r, c->slot->redis);
    AWAIT_RC(c, c->rc, nbio_op(&c->x.io));
    if (c->rc < 0)
        ASYNC_FAIL(c, c->rc, c->x.io.message);
    if ((c->rc = svc_redis_take(&c->r, &c->x, c->message, sizeof c->message)) < 0)
        ASYNC_FAIL(c, c->rc, c->message);
    if (c->inline_cpu)
        svc_hash(&c->r); /* on the loop thread: the detector names this step */
    else
        AWAIT(c, eva_pool_submit_op(c->pool, &c->job, svc_hash, &c->r));
    ASYNC_FINALLY(c);
    svc_cleanup(&c->q, &c->x);
    ASYNC_END(c);
}

/* One slot: its requests one after the other, on its connections. */
typedef struct slot_task {
    eva_task task;
    svc_run *run;
    svc_slot *slot;
    int i, rc;
    checkout c;
} slot_task;

static eva_step slot_run(void *frame) {
    slot_task *s = frame;
    ASYNC_BEGIN(s);
    for (; s->i < s->run->requests; s->i += s->run->nslots) {
        s->c = (checkout){.slot = s->slot, .pool = s->run->pool, .inline_cpu = s->run->inline_cpu};
        svc_begin(s->run, s->i, &s->c.r);
        AWAIT_RC(s, s->rc, EVA_ASYNC(checkout_run, &s->c));
        svc_finish(s->run, s->i, &s->c.r, s->rc, eva_task_get_message(&s->c.task));
    }
    ASYNC_END(s);
}

int svc_run_await(svc_run *run) {
    for (int k = 0; k < run->nslots; k++) {
        slot_task *s;
        int rc = eva_task_spawn(run->loop, sizeof *s, slot_run, "checkout", NULL, (void **)&s);
        if (rc < 0)
            return rc;
        s->run = run;
        s->slot = &run->slots[k];
        s->i = k;
    }
    return eva_loop_run(run->loop, EVA_RUN_DEFAULT);
}
