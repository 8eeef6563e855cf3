/* evasync/pool_async.h — the offload pool's AWAIT and promise forms (the
 * callback form, the pool itself and its jobs are in evasync/pool.h).
 */
#ifndef EVASYNC_POOL_ASYNC_H
#define EVASYNC_POOL_ASYNC_H

#include "export.h"
#include "pool.h"
#include "promise.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* AWAIT(f, eva_pool_submit_op(pool, &f->job, work, arg)): run work(arg) on the
 * pool and resume with 0 (the result is f->job.result) or an error: -EAGAIN
 * (queue full), -ESHUTDOWN, or -ECANCELED.  No allocation: the job is in the
 * frame.  Cancelling the task cancels the job; a running job is waited for
 * (the frame holds it), then its result goes to job->result_dtor. */
EVA_API eva_op eva_pool_submit_op(eva_pool *pool, eva_pool_job *job, eva_work_fn work, void *arg);

/* The promise form: fulfilled with work's result (owned by the promise,
 * freed with dtor), or rejected (-ECANCELED).  Cancelling the promise cancels
 * the job.  Returns 0, the errors of eva_pool_submit, or -ENOMEM. */
EVA_API int eva_pool_submit_promise(eva_pool *pool, eva_loop *loop, eva_work_fn work, void *arg,
                                    eva_result_dtor dtor, eva_promise **out);

#ifdef __cplusplus
}
#endif
#endif
