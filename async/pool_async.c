/* async/pool_async.c — the offload pool awaited by a task, or as a promise.
 * Both drive the callback primitive, eva_pool_submit. */
#include <errno.h>

#include "promise_internal.h"

/* ---- AWAIT ---------------------------------------------------------------- */

static void on_job_done(eva_pool_job *job, int status) { eva_task_wake(job->ctx, status, NULL); }

static void job_cancel(eva_task *t) {
    /* the job completes with -ECANCELED (a running one when it finishes:
     * the frame holds it, so the task must wait), which wakes the task */
    eva_pool_cancel(eva_task_get_wait_obj(t));
}

static const eva_wait_ops pool_wait = {"pool", job_cancel};

static int job_start(eva_task *t, const eva_op *op) {
    eva_pool_job *job = op->ptr;
    if (!job)
        return -EINVAL;
    int rc = eva_pool_submit(job->pool, t->loop, job, job->work, on_job_done, job->arg);
    if (rc < 0)
        return rc;
    job->ctx = t;
    eva_task_park(t, &pool_wait, job);
    return EVA_PARKED;
}

eva_op eva_pool_submit_op(eva_pool *pool, eva_pool_job *job, eva_work_fn work, void *arg) {
    if (job && !job->in_flight) { /* submit reads them back; never touch a job in flight */
        job->pool = pool;
        job->work = work;
        job->arg = arg;
    }
    return (eva_op){.start = job_start, .ptr = job};
}

/* ---- promise ------------------------------------------------------------------ */

typedef struct promise_job {
    eva_pool_job job;
    eva_promise *p; /* the job's reference */
} promise_job;

static void on_promise_job_done(eva_pool_job *job, int status) {
    promise_job *pj = EVA__CONTAINER_OF(job, promise_job, job);
    eva_promise *p = pj->p;
    if (status == 0)
        eva__promise_settle(p, EVA_PROMISE_FULFILLED, 0, NULL, job->result, job->result_dtor);
    else
        eva__promise_settle(p, EVA_PROMISE_REJECTED, status, NULL, NULL, NULL);
    eva__free(pj);
    eva_promise_unref(p);
}

static void promise_job_cancel(eva_promise *p, void *arg) {
    (void)p;
    eva_pool_cancel(arg);
}

int eva_pool_submit_promise(eva_pool *pool, eva_loop *loop, eva_work_fn work, void *arg,
                            eva_result_dtor dtor, eva_promise **out) {
    if (!out || !loop)
        return -EINVAL;
    promise_job *pj = eva__calloc(1, sizeof *pj);
    if (!pj)
        return -ENOMEM;
    int rc = eva__promise_new_for_op(loop, &pj->p);
    if (rc == 0) {
        pj->job.result_dtor = dtor;
        rc = eva_pool_submit(pool, loop, &pj->job, work, on_promise_job_done, arg);
        if (rc < 0)
            eva_promise_unref(pj->p);
    }
    if (rc < 0) {
        eva__free(pj);
        return rc;
    }
    eva_promise_set_canceller(pj->p, promise_job_cancel, &pj->job);
    *out = eva_promise_ref(pj->p);
    return 0;
}
