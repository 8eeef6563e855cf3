/* evasync/pool.h — the offload pool: CPU-bound work off the loop thread.
 *
 * A pool is a fixed set of worker threads pulling jobs from one bounded FIFO
 * queue.  The work function runs on a worker; the completion (callback,
 * promise or task resume) runs on the thread of the loop the job was
 * submitted from, delivered through that loop's eva_loop_post queue (one
 * ev_async wake-up per batch).
 *
 * Sizing.  CPU-bound work: about one thread per core (the default: more
 * threads only add context switches).  Work that blocks (a synchronous
 * library call): cores x (1 + wait/compute).  Queue: by Little's law the
 * jobs in the system are L = lambda x W (arrival rate x time in the pool);
 * size the capacity for the bursts you accept, and treat -EAGAIN as
 * backpressure: the pool is full, shed or delay load instead of queuing
 * without bound.
 *
 * This header is the callback form (loop-level); the AWAIT and promise
 * forms are in evasync/pool_async.h.
 *
 * Thread safety.  eva_pool_new/destroy/stats may be called from any thread
 * (but destroy not concurrently with submits).  Submitting and cancelling
 * happen on the thread of the job's loop.  A pool may serve several loops.
 */
#ifndef EVASYNC_POOL_H
#define EVASYNC_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "export.h"
#include "call.h"
#include "queue.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eva_loop eva_loop;
/* An offload pool (opaque): worker threads and their job queue. */
typedef struct eva_pool eva_pool;
typedef struct eva_pool_job eva_pool_job;

/* Runs on a worker thread: must not touch the loop or other loop objects
 * (eva_loop_post is the exception).  Returns the job's result (may be NULL). */
typedef void *(*eva_work_fn)(void *arg);

/* Runs on the loop thread once the job is over: status 0 (job->result holds
 * the work's result) or -ECANCELED (the job never ran, or ran after being
 * cancelled: then its result was already passed to the result destructor). */
typedef void (*eva_pool_done_fn)(eva_pool_job *job, int status);

/* Frees a result nobody will see (a job cancelled while running). */
typedef void (*eva_result_dtor)(void *result);

/* A job: caller-owned memory, zero-initialised before its first use, that
 * must stay valid until done() has run.  Fill it through eva_pool_submit;
 * read result (and arg) in done(); then it may be submitted again. */
/* eva_pool_job: 144 bytes on x86_64 (ABI: tests/test_struct_sizes.c). */
struct eva_pool_job {
    /* public: */
    void *arg;                 /* the work function's argument */
    void *result;              /* the work function's result */
    eva_result_dtor result_dtor; /* set before submitting, may be NULL */
    /* private: */
    eva_call call;             /* the completion, posted to the loop */
    eva_queue node;            /* the pool's queue */
    eva_pool *pool;
    eva_loop *loop;
    eva_work_fn work;
    eva_pool_done_fn done;
    void *ctx;                 /* the awaiting task or promise (async/) */
    int state;                 /* queued/running: guarded by the pool's mutex */
    int cancel;                /* written on the loop thread, under the mutex */
    bool in_flight;            /* loop thread only: submitted, done() not run yet */
    uint64_t submitted_ns, started_ns;
};

/* eva_pool_options: 16 bytes on x86_64, all public (ABI: tests/test_struct_sizes.c). */
typedef struct eva_pool_options {
    unsigned threads;      /* 0: the number of online cores */
    size_t queue_capacity; /* jobs waiting for a worker; 0: 1024 */
} eva_pool_options;

/* Create a pool and start its threads.  opts may be NULL (defaults).
 * Returns 0, -EINVAL (out NULL, more than 1024 threads), -ENOMEM, or the
 * error pthread_create gave (e.g. -EAGAIN). */
EVA_API int eva_pool_new(const eva_pool_options *opts, eva_pool **out);

/* Stop accepting jobs; cancel the queued ones (each still completes, with
 * -ECANCELED, through its loop); let running jobs finish; join the threads;
 * free the pool.  Blocks until the running jobs are done.  The completions are
 * delivered when their loops next run.  Returns 0 or -EINVAL. */
EVA_API int eva_pool_destroy(eva_pool *pool);

/* Queue job to run work(arg) on a worker; done(job, status) runs on loop's
 * thread afterwards.  Until then the job keeps eva_loop_run(EVA_RUN_DEFAULT)
 * running, and eva_loop_destroy() refuses with -EBUSY.  No allocation.  Returns 0; -EINVAL (NULL pool, loop,
 * job, work or done); -EBUSY (job is already in flight); -EAGAIN (the queue
 * is full: nothing was queued, nothing queued before is affected);
 * -ESHUTDOWN (the pool is being destroyed).  Loop thread only. */
EVA_API int eva_pool_submit(eva_pool *pool, eva_loop *loop, eva_pool_job *job,
                            eva_work_fn work, eva_pool_done_fn done, void *arg);

/* Cancel a job: a queued job leaves the queue and completes with -ECANCELED;
 * a running job finishes, its result goes to job->result_dtor, and it
 * completes with -ECANCELED; a finished job is not affected.  The completion
 * never runs inside this call.  Returns 0 or -EINVAL.  Loop thread only. */
EVA_API int eva_pool_cancel(eva_pool_job *job);

/* The allocating convenience: like eva_pool_submit, with done(arg, result,
 * status) and no job to keep.  Returns the same errors, plus -ENOMEM. */
typedef void (*eva_pool_result_fn)(void *arg, void *result, int status);
EVA_API int eva_pool_submit_alloc(eva_pool *pool, eva_loop *loop, eva_work_fn work,
                                  eva_pool_result_fn done, void *arg);

/* Counters and latency percentiles (ns) since the pool was created.  The
 * counters are exact; the latencies come from one job in 16 on each worker
 * (two clock reads per tiny job would cost more than the job). */
/* eva_pool_stats: 104 bytes on x86_64, all public (ABI: tests/test_struct_sizes.c). */
typedef struct eva_pool_stats {
    unsigned threads;
    size_t queue_capacity;
    size_t queued;          /* waiting for a worker now */
    size_t running;         /* on a worker now */
    uint64_t completed;     /* ran to the end on a worker (cancelled or not) */
    uint64_t cancelled;     /* complete(d) with -ECANCELED: never ran, or ran
                               after being cancelled */
    uint64_t rejected;      /* submits refused with -EAGAIN */
    uint64_t wait_ns_p50, wait_ns_p99, wait_ns_max; /* submit -> start */
    uint64_t run_ns_p50, run_ns_p99, run_ns_max;    /* start -> end */
} eva_pool_stats;

/* Fill *out with the pool's counters now.  0, or -EINVAL (NULL pool or out). */
EVA_API int eva_pool_get_stats(eva_pool *pool, eva_pool_stats *out);

/* The number of online cores: the default thread count. */
EVA_API unsigned eva_pool_get_default_threads(void);

#ifdef __cplusplus
}
#endif
#endif
