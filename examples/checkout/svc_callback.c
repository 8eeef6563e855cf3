/* examples/checkout/svc_callback.c — the request as callbacks: each step's
 * completion starts the next; the state is a struct the callbacks find
 * through their request (container_of), and the control flow is spread over
 * five functions. */
#include <stddef.h>

#include "svc.h"

typedef struct checkout {
    svc_run *run;
    svc_slot *slot;
    int i, n;                 /* the request, the query */
    svc_req r;
    pg_query q;
    redis_cmds x;
    eva_pool_job job;
    char message[200];
} checkout;

#define FROM(ptr, member) ((checkout *)((char *)(ptr) - offsetof(checkout, member)))

static void start_request(checkout *c);
static void query(checkout *c);

static void finish(checkout *c, int status, const char *message) {
    svc_cleanup(&c->q, &c->x);
    svc_finish(c->run, c->i, &c->r, status, message);
    c->i += c->run->nslots;
    start_request(c); /* the slot's next one: its first step runs from the loop */
}

static void on_hashed(eva_pool_job *job, int status) { finish(FROM(job, job), status, NULL); }

static void on_cached(nbio *io, int status) {
    checkout *c = FROM(io, x.io);
    if (status < 0) {
        finish(c, status, io->message);
        return;
    }
    int rc = svc_redis_take(&c->r, &c->x, c->message, sizeof c->message);
    if (rc == 0)
        rc = eva_pool_submit(c->run->pool, c->run->loop, &c->job, svc_hash, on_hashed, &c->r);
    if (rc < 0)
        finish(c, rc, c->message);
}

static void on_queried(nbio *io, int status) {
    checkout *c = FROM(io, q.io);
    int rc = status < 0 ? status : svc_take(&c->r, c->n, &c->q, c->message, sizeof c->message);
    if (rc < 0) {
        finish(c, rc, status < 0 ? io->message : c->message);
        return;
    }
    if (++c->n < SVC_QUERIES) {
        query(c);
        return;
    }
    svc_redis(&c->x, &c->r, c->slot->redis);
    if ((rc = nbio_start(&c->x.io, c->run->loop, on_cached)) < 0)
        finish(c, rc, NULL);
}

static void query(checkout *c) {
    svc_query(&c->q, &c->r, c->n, c->slot->pg);
    int rc = nbio_start(&c->q.io, c->run->loop, on_queried);
    if (rc < 0)
        finish(c, rc, NULL);
}

static void start_request(checkout *c) {
    if (c->i >= c->run->requests) {
        meter_free(c);
        return;
    }
    svc_begin(c->run, c->i, &c->r);
    c->n = 0;
    query(c);
}

static void start_slot(void *state, svc_run *run, int k) {
    checkout *c = state;
    *c = (checkout){.run = run, .slot = &run->slots[k], .i = k};
    start_request(c);
}

int svc_run_callbacks(svc_run *run) { return svc_run_slots(run, sizeof(checkout), start_slot); }
