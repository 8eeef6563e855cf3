/* loop/pool.c — the offload pool.
 *
 * Workers sleep on a condition variable until the bounded FIFO has a job;
 * one of them first spins on the queue for a few microseconds (see
 * spin_for_job), so tiny jobs pass without a futex wake-up.
 * The queue and the job states are guarded by the pool's one mutex, which a
 * worker takes once per job, to take it; each worker keeps its own
 * statistics (relaxed atomics, merged by eva_pool_get_stats).  A finished job
 * is handed back with eva_loop_post, after which no worker touches it; its
 * loop counts the jobs in flight so it cannot be destroyed under them.
 */
#include <errno.h>
#include <stdatomic.h>
#include <unistd.h>

#include "histogram.h"
#include "internal.h"

enum { JOB_IDLE, JOB_QUEUED, JOB_RUNNING, JOB_FINISHED };

enum { SAMPLE = 16 }; /* one job in SAMPLE is timed for the latency percentiles */

typedef struct worker {
    pthread_t thread;
    eva_pool *pool;
    _Atomic uint64_t completed; /* jobs run to the end */
    _Atomic uint64_t running;   /* 1 while a job runs */
    eva__ahist wait_ns, run_ns;
} worker;

struct eva_pool {
    pthread_mutex_t mutex;
    pthread_cond_t work_ready;
    eva_queue jobs;         /* the FIFO of queued jobs */
    size_t queued, capacity;
    unsigned idle;          /* workers waiting for a job */
    unsigned waking;        /* of them, signalled and not yet awake */
    bool spinning;          /* a worker polls for a job before it sleeps */
    _Atomic size_t pending; /* queued, for the spinner to poll without the lock */
    bool stopping;
    unsigned nthreads;
    worker *workers;
    uint64_t submitted, cancelled, rejected; /* guarded by the mutex */
};

unsigned eva_pool_get_default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

/* ---- the queue (mutex held) ------------------------------------------------ */

static void queued_set(eva_pool *pool, size_t n) {
    pool->queued = n;
    atomic_store_explicit(&pool->pending, n, memory_order_relaxed);
}

static void queue_push(eva_pool *pool, eva_pool_job *job) {
    eva__queue_insert_tail(&pool->jobs, &job->node);
    queued_set(pool, pool->queued + 1);
}

static void queue_remove(eva_pool *pool, eva_pool_job *job) {
    eva__queue_remove(&job->node);
    queued_set(pool, pool->queued - 1);
}

static eva_pool_job *job_of(eva_queue *node) { return EVA__QUEUE_DATA(node, eva_pool_job, node); }

/* ---- completion, on the loop thread ------------------------------------------- */

static void on_complete(eva_loop *loop, int status, void *arg) {
    (void)status; /* posted calls are never cancelled: destroy waits for jobs */
    eva_pool_job *job = arg;
    if (--loop->pool_jobs == 0)
        ev_unref(loop->ev);
    int rc = 0;
    if (job->cancel) {
        rc = -ECANCELED;
        if (job->result && job->result_dtor)
            job->result_dtor(job->result);
        job->result = NULL;
    }
    job->state = JOB_IDLE;
    job->in_flight = false;
    job->done(job, rc);
}

static void deliver(eva_pool_job *job) {
    eva__post_unordered(job->loop, &job->call, on_complete, job);
}

/* ---- workers ---------------------------------------------------------------------- */

enum { SPIN = 256 }; /* polls of the queue before sleeping: a few microseconds */

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Poll for a job for a few microseconds, the lock released, before sleeping
 * (mutex held on entry and exit).  Tiny jobs come back faster than a futex
 * wake-up: while a worker spins, submit signals nobody, and the loop thread
 * (the bottleneck for tiny jobs) makes no system call.  One spinner at a
 * time: on few cores, more would take the CPU from the loop thread. */
static void spin_for_job(eva_pool *pool) {
    if (pool->spinning || pool->stopping)
        return;
    pool->spinning = true;
    pthread_mutex_unlock(&pool->mutex);
    for (int i = 0; i < SPIN && !atomic_load_explicit(&pool->pending, memory_order_relaxed); i++)
        cpu_relax();
    pthread_mutex_lock(&pool->mutex);
    pool->spinning = false;
}

/* A worker that takes a job and leaves more queued wakes an idle one: submit
 * signalled nobody while this worker spun, and its job may be a long one. */
static bool take_wakes_another(const eva_pool *pool) {
    return !eva__queue_empty(&pool->jobs) && pool->idle > pool->waking && !pool->spinning;
}

static void *worker_main(void *arg) {
    worker *w = arg;
    eva_pool *pool = w->pool;
    pthread_mutex_lock(&pool->mutex);
    for (;;) {
        if (eva__queue_empty(&pool->jobs))
            spin_for_job(pool);
        while (eva__queue_empty(&pool->jobs) && !pool->stopping) {
            pool->idle++;
            pthread_cond_wait(&pool->work_ready, &pool->mutex);
            pool->idle--;
            if (pool->waking) /* a spurious wake-up may count as one: it only costs a signal */
                pool->waking--;
        }
        if (eva__queue_empty(&pool->jobs))
            break; /* stopping, and nothing left to run */
        eva_pool_job *job = job_of(pool->jobs.next);
        queue_remove(pool, job);
        bool wake = take_wakes_another(pool);
        pool->waking += wake;
        job->state = JOB_RUNNING; /* from here on eva_pool_cancel only flags it */
        uint64_t job_submitted = job->submitted_ns; /* the job is not ours after deliver */
        pthread_mutex_unlock(&pool->mutex);
        if (wake)
            pthread_cond_signal(&pool->work_ready);

        bool timed = job_submitted != 0; /* chosen by eva_pool_submit */
        uint64_t started = timed ? eva_hrtime() : 0;
        atomic_store_explicit(&w->running, 1, memory_order_relaxed);
        job->result = job->work(job->arg);
        uint64_t ended = timed ? eva_hrtime() : 0;
        atomic_store_explicit(&w->running, 0, memory_order_relaxed);
        /* counted before the hand-back, so stats read once the job's done()
         * has run include it (the post's lock publishes both) */
        atomic_store_explicit(&w->completed, /* one writer: no locked instruction */
                              atomic_load_explicit(&w->completed, memory_order_relaxed) + 1,
                              memory_order_relaxed);
        deliver(job); /* the post's lock publishes the result; the job is the loop's again */
        if (timed) { /* latency statistics after the hand-back, off the job's latency */
            eva__ahist_add(&w->wait_ns, started - job_submitted);
            eva__ahist_add(&w->run_ns, ended - started);
        }

        pthread_mutex_lock(&pool->mutex);
    }
    pthread_mutex_unlock(&pool->mutex);
    return NULL;
}

/* ---- life cycle ------------------------------------------------------------------- */

static void pool_free(eva_pool *pool) {
    pthread_cond_destroy(&pool->work_ready);
    pthread_mutex_destroy(&pool->mutex);
    eva__free(pool->workers);
    eva__free(pool);
}

static int pool_stop(eva_pool *pool, unsigned started) {
    pthread_mutex_lock(&pool->mutex);
    pool->stopping = true;
    eva_queue cancelled;
    eva__queue_init(&cancelled);
    EVA__QUEUE_FOREACH(n, &pool->jobs) {
        job_of(n)->cancel = 1;
        job_of(n)->state = JOB_FINISHED;
        pool->cancelled++;
    }
    eva__queue_move(&pool->jobs, &cancelled);
    queued_set(pool, 0);
    pthread_cond_broadcast(&pool->work_ready);
    pthread_mutex_unlock(&pool->mutex);
    eva_queue *n;
    while ((n = eva__queue_pop(&cancelled)))
        deliver(job_of(n));
    for (unsigned i = 0; i < started; i++)
        pthread_join(pool->workers[i].thread, NULL);
    return 0;
}

int eva_pool_new(const eva_pool_options *opts, eva_pool **out) {
    unsigned threads = opts && opts->threads ? opts->threads : eva_pool_get_default_threads();
    size_t capacity = opts && opts->queue_capacity ? opts->queue_capacity : 1024;
    if (!out || threads > 1024)
        return -EINVAL;
    eva_pool *pool = eva__calloc(1, sizeof *pool);
    if (!pool)
        return -ENOMEM;
    pool->workers = eva__calloc(threads, sizeof *pool->workers);
    if (!pool->workers) {
        eva__free(pool);
        return -ENOMEM;
    }
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->work_ready, NULL);
    pool->capacity = capacity;
    eva__queue_init(&pool->jobs);
    pool->nthreads = threads;
    for (unsigned i = 0; i < threads; i++) {
        pool->workers[i].pool = pool;
        int rc = pthread_create(&pool->workers[i].thread, NULL, worker_main, &pool->workers[i]);
        if (rc != 0) {
            pool_stop(pool, i);
            pool_free(pool);
            return -rc;
        }
    }
    *out = pool;
    return 0;
}

int eva_pool_destroy(eva_pool *pool) {
    if (!pool)
        return -EINVAL;
    pool_stop(pool, pool->nthreads);
    pool_free(pool);
    return 0;
}

/* ---- submitting and cancelling (loop thread) ------------------------------------ */

int eva_pool_submit(eva_pool *pool, eva_loop *loop, eva_pool_job *job,
                    eva_work_fn work, eva_pool_done_fn done, void *arg) {
    if (!pool || !loop || !job || !work || !done)
        return -EINVAL;
    if (job->in_flight)
        return -EBUSY;
    pthread_mutex_lock(&pool->mutex);
    int rc = 0;
    bool wake = false;
    if (pool->stopping) {
        rc = -ESHUTDOWN;
    } else if (pool->queued >= pool->capacity) {
        pool->rejected++;
        rc = -EAGAIN;
    } else {
        job->pool = pool;
        job->loop = loop;
        job->work = work;
        job->done = done;
        job->arg = arg;
        job->result = NULL;
        job->cancel = 0;
        job->state = JOB_QUEUED;
        /* Timing every job would cost more than a tiny job itself (the clock
         * reads halved the throughput): time one job in SAMPLE. */
        job->submitted_ns = pool->submitted++ % SAMPLE == 0 ? eva_hrtime() : 0;
        queue_push(pool, job);
        /* Busy workers, and those already signalled, will find it without a
         * wake-up: a worker takes jobs until the queue is empty.  Signalling
         * every submit while a worker is still waking cost a futex call each. */
        wake = pool->idle > pool->waking && !pool->spinning;
        pool->waking += wake;
    }
    pthread_mutex_unlock(&pool->mutex);
    if (wake) /* after unlocking: the woken worker must not block on our lock */
        pthread_cond_signal(&pool->work_ready);
    if (rc == 0) {
        job->in_flight = true;
        if (loop->pool_jobs++ == 0)
            ev_ref(loop->ev); /* jobs in flight keep the loop running, like active handles */
    }
    return rc;
}

int eva_pool_cancel(eva_pool_job *job) {
    if (!job)
        return -EINVAL;
    if (!job->in_flight)
        return 0;
    eva_pool *pool = job->pool;
    pthread_mutex_lock(&pool->mutex);
    bool dequeued = false;
    if (job->state == JOB_QUEUED) {
        queue_remove(pool, job);
        job->state = JOB_FINISHED;
        dequeued = true;
    }
    if (!job->cancel)
        pool->cancelled++; /* it completes with -ECANCELED either way */
    job->cancel = 1;       /* a running job's result will be discarded */
    pthread_mutex_unlock(&pool->mutex);
    if (dequeued)
        deliver(job); /* later, from the loop: never inside this call */
    return 0;
}

/* ---- the allocating convenience ------------------------------------------------- */

typedef struct cb_job {
    eva_pool_job job;
    eva_pool_result_fn done;
    void *arg;
} cb_job;

static void on_cb_done(eva_pool_job *job, int status) {
    cb_job *c = EVA__CONTAINER_OF(job, cb_job, job);
    c->done(c->arg, job->result, status);
    eva__free(c);
}

int eva_pool_submit_alloc(eva_pool *pool, eva_loop *loop, eva_work_fn work,
                       eva_pool_result_fn done, void *arg) {
    if (!done)
        return -EINVAL;
    cb_job *c = eva__calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->done = done;
    c->arg = arg;
    int rc = eva_pool_submit(pool, loop, &c->job, work, on_cb_done, arg);
    if (rc < 0)
        eva__free(c);
    return rc;
}

/* ---- metrics ---------------------------------------------------------------------- */

int eva_pool_get_stats(eva_pool *pool, eva_pool_stats *out) {
    if (!pool || !out)
        return -EINVAL;
    eva__hist wait = {0}, run = {0};
    uint64_t completed = 0, running = 0;
    for (unsigned i = 0; i < pool->nthreads; i++) {
        worker *w = &pool->workers[i];
        completed += atomic_load_explicit(&w->completed, memory_order_relaxed);
        running += atomic_load_explicit(&w->running, memory_order_relaxed);
        eva__ahist_merge(&wait, &w->wait_ns);
        eva__ahist_merge(&run, &w->run_ns);
    }
    pthread_mutex_lock(&pool->mutex);
    *out = (eva_pool_stats){
        .threads = pool->nthreads,
        .queue_capacity = pool->capacity,
        .queued = pool->queued,
        .running = (size_t)running,
        .completed = completed,
        .cancelled = pool->cancelled,
        .rejected = pool->rejected,
        .wait_ns_p50 = eva__hist_percentile(&wait, 0.50),
        .wait_ns_p99 = eva__hist_percentile(&wait, 0.99),
        .wait_ns_max = wait.max,
        .run_ns_p50 = eva__hist_percentile(&run, 0.50),
        .run_ns_p99 = eva__hist_percentile(&run, 0.99),
        .run_ns_max = run.max,
    };
    pthread_mutex_unlock(&pool->mutex);
    return 0;
}
