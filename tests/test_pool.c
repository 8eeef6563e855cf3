/* The offload pool: 100,000 jobs each delivered once on the loop thread,
 * backpressure, cancellation of queued and running jobs, destroy with jobs
 * in flight, the three styles.  Runs under TSan too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <cmocka.h>

#include "helpers.h"

/* ---- a gate that holds jobs on the workers until the test opens it -------- */

typedef struct gate {
    pthread_mutex_t mutex;
    pthread_cond_t changed;
    bool open;
    int entered; /* jobs that reached the gate */
} gate;

static void gate_init(gate *g) {
    pthread_mutex_init(&g->mutex, NULL);
    pthread_cond_init(&g->changed, NULL);
    g->open = false;
    g->entered = 0;
}

static void gate_destroy(gate *g) {
    pthread_cond_destroy(&g->changed);
    pthread_mutex_destroy(&g->mutex);
}

static void *wait_at_gate(void *arg) {
    gate *g = arg;
    pthread_mutex_lock(&g->mutex);
    g->entered++;
    pthread_cond_broadcast(&g->changed);
    while (!g->open)
        pthread_cond_wait(&g->changed, &g->mutex);
    pthread_mutex_unlock(&g->mutex);
    return malloc(16); /* a result that needs freeing */
}

/* Wait (bounded: 10 s) until n jobs are held at the gate. */
static void gate_await_entered(gate *g, int n) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    pthread_mutex_lock(&g->mutex);
    int rc = 0;
    while (g->entered < n && rc == 0)
        rc = pthread_cond_timedwait(&g->changed, &g->mutex, &deadline);
    int entered = g->entered;
    pthread_mutex_unlock(&g->mutex);
    assert_int_equal(entered, n);
}

static void gate_open(gate *g) {
    pthread_mutex_lock(&g->mutex);
    g->open = true;
    pthread_cond_broadcast(&g->changed);
    pthread_mutex_unlock(&g->mutex);
}

static eva_pool *pool_new(unsigned threads, size_t capacity) {
    eva_pool *pool = NULL;
    eva_pool_options opts = {.threads = threads, .queue_capacity = capacity};
    assert_int_equal(eva_pool_new(&opts, &pool), 0);
    return pool;
}

/* ---- 100,000 jobs from several tasks ----------------------------------------- */

enum { TASKS = 8, JOBS_PER_TASK = 12500, JOBS = TASKS * JOBS_PER_TASK };

static void *square(void *arg) {
    uintptr_t v = (uintptr_t)arg;
    return (void *)(v * v);
}

typedef struct submitter {
    eva_task task;
    eva_pool *pool;
    eva_pool_job job;
    int first, i;
    int *delivered; /* per job index */
    pthread_t loop_thread;
    int wrong;
} submitter;

static eva_step submitter_run(void *frame) {
    submitter *s = frame;
    ASYNC_BEGIN(s);
    for (s->i = s->first; s->i < s->first + JOBS_PER_TASK; s->i++) {
        AWAIT(s, eva_pool_submit_op(s->pool, &s->job, square, (void *)(uintptr_t)s->i));
        if ((uintptr_t)s->job.result != (uintptr_t)s->i * (uintptr_t)s->i ||
            !pthread_equal(pthread_self(), s->loop_thread))
            s->wrong++;
        s->delivered[s->i]++;
    }
    ASYNC_END(s);
}

static void every_job_delivered_once_on_the_loop(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_pool *pool = pool_new(2, 64);
    int *delivered = calloc(JOBS, sizeof *delivered);
    submitter s[TASKS];
    for (int t = 0; t < TASKS; t++) {
        s[t] = (submitter){.pool = pool, .first = t * JOBS_PER_TASK, .delivered = delivered,
                           .loop_thread = pthread_self()};
        eva_task_init(loop, &s[t].task, submitter_run, "submitter");
        eva_task_start(&s[t].task, NULL);
    }
    assert_int_equal(eva_loop_run(loop, EVA_RUN_DEFAULT), 0);
    for (int t = 0; t < TASKS; t++) {
        assert_int_equal(eva_task_get_status(&s[t].task), 0);
        assert_int_equal(s[t].wrong, 0);
    }
    for (int i = 0; i < JOBS; i++)
        assert_int_equal(delivered[i], 1);
    eva_pool_stats st;
    assert_int_equal(eva_pool_get_stats(pool, &st), 0);
    assert_int_equal(st.completed, JOBS);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.threads, 2);
    assert_true(st.run_ns_p50 <= st.run_ns_p99 && st.run_ns_p99 <= st.run_ns_max);
    free(delivered);
    assert_int_equal(eva_pool_destroy(pool), 0);
    test_loop_destroy(loop);
}

/* ---- backpressure ---------------------------------------------------------------- */

typedef struct outcome {
    int status;
    int runs;
    void *result;
} outcome;

static void on_done(eva_pool_job *job, int status) {
    outcome *out = (outcome *)job->ctx;
    out->status = status;
    out->runs++;
    out->result = job->result;
}

static void submit(eva_pool *pool, eva_loop *loop, eva_pool_job *job, outcome *out, gate *g, int expect) {
    job->ctx = out;
    job->result_dtor = free;
    assert_int_equal(eva_pool_submit(pool, loop, job, wait_at_gate, on_done, g), expect);
}

static void full_queue_fails_fast_and_loses_nothing(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_pool *pool = pool_new(1, 2);
    gate g;
    gate_init(&g);
    eva_pool_job jobs[4] = {0};
    outcome out[4] = {0};
    submit(pool, loop, &jobs[0], &out[0], &g, 0);
    gate_await_entered(&g, 1);                    /* job 0 runs, holding the only worker */
    submit(pool, loop, &jobs[1], &out[1], &g, 0); /* queued */
    submit(pool, loop, &jobs[2], &out[2], &g, 0); /* queued: the queue is full */
    submit(pool, loop, &jobs[3], &out[3], &g, -EAGAIN);
    submit(pool, loop, &jobs[1], &out[1], &g, -EBUSY); /* already in flight */
    eva_pool_stats st;
    eva_pool_get_stats(pool, &st);
    assert_int_equal(st.queued, 2);
    assert_int_equal(st.running, 1);
    assert_int_equal(st.rejected, 1);
    gate_open(&g);
    while (eva_loop_get_pool_jobs(loop) > 0)
        eva_loop_run(loop, EVA_RUN_ONCE);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(out[i].runs, 1);
        assert_int_equal(out[i].status, 0);
        free(out[i].result);
    }
    assert_int_equal(out[3].runs, 0);
    eva_pool_destroy(pool);
    gate_destroy(&g);
    test_loop_destroy(loop);
}

/* ---- parallelism while a worker spins -------------------------------------------- */

enum { SPIN_ROUNDS = 50, HELD = 4 }; /* HELD workers, as many jobs held at once */

typedef struct spin_round {
    eva_pool *pool;
    eva_loop *loop;
    gate g;
    eva_pool_job tiny, held[HELD];
    outcome out[HELD];
} spin_round;

/* The worker that ran the tiny job polls the queue for a moment now: the
 * jobs submitted here must still run at once, one on each worker. */
static void on_tiny_done(eva_pool_job *job, int status) {
    spin_round *r = job->ctx;
    assert_int_equal(status, 0);
    for (int i = 0; i < HELD; i++)
        submit(r->pool, r->loop, &r->held[i], &r->out[i], &r->g, 0);
}

static void jobs_queued_behind_a_spinning_worker_run_in_parallel(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_pool *pool = pool_new(HELD, HELD);
    for (int round = 0; round < SPIN_ROUNDS; round++) {
        spin_round r = {.pool = pool, .loop = loop};
        gate_init(&r.g);
        r.tiny.ctx = &r;
        assert_int_equal(eva_pool_submit(pool, loop, &r.tiny, square, on_tiny_done, NULL), 0);
        /* polled, not waited for: done() then runs while the worker still spins */
        while (eva_loop_get_pool_jobs(loop) < HELD)
            eva_loop_run(loop, EVA_RUN_NOWAIT);
        gate_await_entered(&r.g, HELD); /* all held at once: none waits behind another */
        gate_open(&r.g);
        while (eva_loop_get_pool_jobs(loop) > 0)
            eva_loop_run(loop, EVA_RUN_ONCE);
        for (int i = 0; i < HELD; i++) {
            assert_int_equal(r.out[i].status, 0);
            free(r.out[i].result);
        }
        gate_destroy(&r.g);
    }
    eva_pool_destroy(pool);
    test_loop_destroy(loop);
}

/* ---- cancellation ------------------------------------------------------------------- */

static void cancel_queued_and_running_jobs(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_pool *pool = pool_new(1, 8);
    gate g;
    gate_init(&g);
    eva_pool_job running = {0}, queued = {0};
    outcome r = {0}, q = {0};
    submit(pool, loop, &running, &r, &g, 0);
    gate_await_entered(&g, 1);
    submit(pool, loop, &queued, &q, &g, 0);
    assert_int_equal(eva_pool_cancel(&queued), 0);
    assert_int_equal(eva_pool_cancel(&running), 0);
    assert_int_equal(q.runs + r.runs, 0); /* never inside the cancel call */
    eva_loop_run(loop, EVA_RUN_NOWAIT);
    while (q.runs == 0)
        eva_loop_run(loop, EVA_RUN_ONCE);
    assert_int_equal(q.status, -ECANCELED); /* left the queue without running */
    assert_int_equal(r.runs, 0);            /* still on the worker */
    gate_open(&g);
    while (r.runs == 0)
        eva_loop_run(loop, EVA_RUN_ONCE);
    assert_int_equal(r.status, -ECANCELED);
    assert_null(r.result); /* the result went to the destructor (ASan: no leak) */
    assert_int_equal(eva_pool_cancel(&running), 0); /* finished: nothing to do */
    eva_pool_stats st;
    eva_pool_get_stats(pool, &st);
    assert_int_equal(st.cancelled, 2);
    eva_pool_destroy(pool);
    gate_destroy(&g);
    test_loop_destroy(loop);
}

typedef struct cancelled_waiter {
    eva_task task;
    eva_pool *pool;
    gate *g;
    eva_pool_job job;
    int rc;
} cancelled_waiter;

static eva_step cancelled_waiter_run(void *frame) {
    cancelled_waiter *c = frame;
    ASYNC_BEGIN(c);
    c->job.result_dtor = free;
    AWAIT_RC(c, c->rc, eva_pool_submit_op(c->pool, &c->job, wait_at_gate, c->g));
    ASYNC_END(c);
}

static void cancelling_the_task_cancels_its_job(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_pool *pool = pool_new(1, 8);
    gate g;
    gate_init(&g);
    cancelled_waiter c = {.pool = pool, .g = &g, .rc = 1};
    eva_task_init(loop, &c.task, cancelled_waiter_run, "waiter");
    eva_task_start(&c.task, NULL);
    eva_loop_run(loop, EVA_RUN_NOWAIT);
    gate_await_entered(&g, 1);
    assert_string_equal(c.task.wait->kind, "pool");
    eva_task_cancel(&c.task);
    /* the job is running and lives in the frame: the task waits for it */
    eva_loop_run(loop, EVA_RUN_NOWAIT);
    assert_int_equal(eva_task_get_state(&c.task), EVA_TASK_SUSPENDED);
    gate_open(&g);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_DEFAULT), 0);
    assert_int_equal(c.rc, -ECANCELED);
    assert_null(c.job.result);
    eva_pool_destroy(pool);
    gate_destroy(&g);
    test_loop_destroy(loop);
}

/* ---- destroy ---------------------------------------------------------------------- */

static void destroying_pool_completes_queued_jobs(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_pool *pool = pool_new(1, 8);
    gate g;
    gate_init(&g);
    eva_pool_job jobs[3] = {0};
    outcome out[3] = {0};
    for (int i = 0; i < 3; i++)
        submit(pool, loop, &jobs[i], &out[i], &g, 0);
    gate_await_entered(&g, 1);
    gate_open(&g); /* let the running one finish, so destroy can join */
    assert_int_equal(eva_pool_destroy(pool), 0);
    while (eva_loop_get_pool_jobs(loop) > 0)
        eva_loop_run(loop, EVA_RUN_ONCE);
    int ok = 0, cancelled = 0;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(out[i].runs, 1);
        ok += out[i].status == 0;
        cancelled += out[i].status == -ECANCELED;
        free(out[i].result);
    }
    assert_int_equal(ok + cancelled, 3);
    assert_true(ok >= 1); /* the one that was running ran to the end */
    gate_destroy(&g);
    test_loop_destroy(loop);
}

static void loop_destroy_refuses_jobs_in_flight(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_pool *pool = pool_new(1, 8);
    gate g;
    gate_init(&g);
    eva_pool_job job = {0};
    outcome out = {0};
    submit(pool, loop, &job, &out, &g, 0);
    assert_int_equal(eva_loop_get_pool_jobs(loop), 1);
    assert_int_equal(eva_loop_destroy(loop), -EBUSY);
    gate_open(&g);
    while (out.runs == 0)
        eva_loop_run(loop, EVA_RUN_ONCE);
    free(out.result);
    assert_int_equal(eva_loop_get_pool_jobs(loop), 0);
    test_loop_destroy(loop);
    eva_pool_destroy(pool);
    gate_destroy(&g);
}

/* ---- a job that posts back, promise and callback forms -------------------------- */

typedef struct post_back {
    eva_loop *loop;
    eva_call call;
    bool posted_ran;
    int job_status;
} post_back;

static void on_posted(eva_loop *loop, int status, void *arg) {
    (void)loop;
    assert_int_equal(status, 0);
    ((post_back *)arg)->posted_ran = true;
}

static void *posts_to_loop(void *arg) {
    post_back *pb = arg;
    eva_loop_post(pb->loop, &pb->call, on_posted, pb); /* the one loop call a worker may make */
    return NULL;
}

static void on_post_job(void *arg, void *result, int status) {
    (void)result;
    ((post_back *)arg)->job_status = status == 0 ? 1 : -1;
}

static void promise_and_callback_forms(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_pool *pool = pool_new(2, 8);
    post_back pb = {.loop = loop};
    eva_promise *p = NULL;
    assert_int_equal(eva_pool_submit_alloc(pool, loop, posts_to_loop, NULL, &pb), -EINVAL);
    assert_int_equal(eva_pool_submit_alloc(pool, loop, posts_to_loop, on_post_job, &pb), 0);
    assert_int_equal(eva_pool_submit_promise(pool, loop, square, (void *)(uintptr_t)12, NULL, &p), 0);
    while (eva_loop_get_pool_jobs(loop) > 0 || !pb.posted_ran)
        eva_loop_run(loop, EVA_RUN_ONCE);
    assert_true(pb.posted_ran);
    assert_int_equal(pb.job_status, 1);
    eva_loop_run(loop, EVA_RUN_NOWAIT); /* the promise's reactions */
    assert_int_equal(eva_promise_get_state(p), EVA_PROMISE_FULFILLED);
    assert_int_equal((uintptr_t)eva_promise_get_value(p), 144);
    eva_promise_unref(p);
    eva_pool_destroy(pool);
    test_loop_destroy(loop);
}

/* ---- an AWAIT loop mixing offloaded and inline steps ----------------------------- */

typedef struct mixer {
    eva_task task;
    eva_pool *pool;
    eva_pool_job job;
    int i;
    uintptr_t sum;
} mixer;

static eva_step mixer_run(void *frame) {
    mixer *m = frame;
    ASYNC_BEGIN(m);
    for (m->i = 1; m->i <= 100; m->i++) {
        if (m->i % 2) {
            AWAIT(m, eva_pool_submit_op(m->pool, &m->job, square, (void *)(uintptr_t)m->i));
            m->sum += (uintptr_t)m->job.result;
        } else {
            m->sum += (uintptr_t)m->i * (uintptr_t)m->i; /* inline */
            YIELD(m);
        }
    }
    ASYNC_END(m);
}

static void await_loop_mixes_offloaded_and_inline_steps(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_pool *pool = pool_new(2, 8);
    mixer m = {.pool = pool};
    eva_task_init(loop, &m.task, mixer_run, "mixer");
    eva_task_start(&m.task, NULL);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_DEFAULT), 0);
    assert_int_equal(m.sum, 338350); /* sum of squares 1..100 */
    eva_pool_destroy(pool);
    test_loop_destroy(loop);
}

static void pool_rejects_invalid_arguments(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_pool *pool = pool_new(1, 1);
    eva_pool_job job = {0};
    eva_pool_options too_many = {.threads = 100000};
    eva_pool *none;
    assert_int_equal(eva_pool_new(NULL, NULL), -EINVAL);
    assert_int_equal(eva_pool_new(&too_many, &none), -EINVAL);
    assert_int_equal(eva_pool_submit(NULL, loop, &job, square, on_done, NULL), -EINVAL);
    assert_int_equal(eva_pool_submit(pool, NULL, &job, square, on_done, NULL), -EINVAL);
    assert_int_equal(eva_pool_submit(pool, loop, NULL, square, on_done, NULL), -EINVAL);
    assert_int_equal(eva_pool_submit(pool, loop, &job, NULL, on_done, NULL), -EINVAL);
    assert_int_equal(eva_pool_submit(pool, loop, &job, square, NULL, NULL), -EINVAL);
    assert_int_equal(eva_pool_cancel(NULL), -EINVAL);
    assert_int_equal(eva_pool_cancel(&job), 0); /* never submitted */
    assert_int_equal(eva_pool_get_stats(NULL, NULL), -EINVAL);
    assert_int_equal(eva_pool_destroy(NULL), -EINVAL);
    assert_true(eva_pool_get_default_threads() >= 1);
    eva_pool_destroy(pool);
    test_loop_destroy(loop);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_job_delivered_once_on_the_loop),
        cmocka_unit_test(full_queue_fails_fast_and_loses_nothing),
        cmocka_unit_test(jobs_queued_behind_a_spinning_worker_run_in_parallel),
        cmocka_unit_test(cancel_queued_and_running_jobs),
        cmocka_unit_test(cancelling_the_task_cancels_its_job),
        cmocka_unit_test(destroying_pool_completes_queued_jobs),
        cmocka_unit_test(loop_destroy_refuses_jobs_in_flight),
        cmocka_unit_test(promise_and_callback_forms),
        cmocka_unit_test(await_loop_mixes_offloaded_and_inline_steps),
        cmocka_unit_test(pool_rejects_invalid_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
