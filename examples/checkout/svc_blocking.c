/* examples/checkout/svc_blocking.c — the request with blocking calls
 * (PQexecParams, hiredis's redisGetReply): one request at a time on one
 * thread (the synchronous server), or one thread per in-flight request. */
#include <errno.h>
#include <pthread.h>

#include "svc.h"

typedef struct checkout {
    svc_req r;
    pg_query q;
    redis_cmds x;
    char message[200];
} checkout;

static void one_request(svc_run *run, svc_slot *slot, int i) {
    checkout c;
    svc_begin(run, i, &c.r);
    int rc = 0;
    const char *message = c.message;
    for (int n = 0; rc == 0 && n < SVC_QUERIES; n++) {
        svc_query(&c.q, &c.r, n, slot->pg);
        if ((rc = svc_exec_blocking(&c.q)) < 0)
            message = c.q.io.message;
        else
            rc = svc_take(&c.r, n, &c.q, c.message, sizeof c.message);
    }
    if (rc == 0) {
        svc_redis(&c.x, &c.r, slot->redis);
        if ((rc = svc_redis_blocking(&c.x)) < 0)
            message = c.x.io.message;
        else
            rc = svc_redis_take(&c.r, &c.x, c.message, sizeof c.message);
    }
    if (rc == 0)
        svc_hash(&c.r); /* on this thread: there is nobody else to do it */
    else
        svc_cleanup(&c.q, &c.x);
    svc_finish(run, i, &c.r, rc, message);
}

/* Slot k's requests, one after the other. */
static void run_slot(svc_run *run, int k) {
    for (int i = k; i < run->requests; i += run->nslots)
        one_request(run, &run->slots[k], i);
}

int svc_run_blocking(svc_run *run) {
    for (int k = 0; k < run->nslots; k++)
        run_slot(run, k);
    return 0;
}

typedef struct worker {
    pthread_t thread;
    svc_run *run;
    int k;
} worker;

static void *worker_main(void *arg) {
    worker *w = arg;
    run_slot(w->run, w->k);
    return NULL;
}

int svc_run_threads(svc_run *run) {
    worker *w = meter_calloc((size_t)run->nslots, sizeof *w);
    if (!w)
        return -ENOMEM;
    int started = 0, rc = 0;
    for (; started < run->nslots; started++) {
        w[started] = (worker){.run = run, .k = started};
        if ((rc = pthread_create(&w[started].thread, NULL, worker_main, &w[started])) != 0)
            break;
    }
    for (int k = 0; k < started; k++)
        pthread_join(w[k].thread, NULL);
    meter_free(w);
    return -rc;
}
