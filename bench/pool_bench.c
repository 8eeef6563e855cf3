/* bench/pool_bench.c — the offload pool, mirroring ../shared/bench/peers/
 * libuv_pool.c so the two are comparable in one run: the same tiny job body,
 * N jobs (default 1,000,000) with at most 1024 in flight (each completion
 * resubmits its job, as libuv resubmits its uv_work_t), then 10,000
 * sequential submit -> completion round trips on an idle pool.  Threads: the
 * second argument, or one per online core (bench/run-pool gives libuv's pool
 * as many: more threads than cores measure the scheduler, not the pool).
 * Prints pool_threads=T, pool_jobs=N pool_jobs_per_s=V,
 * pool_rtt_us_p50=V pool_rtt_us_p99=V. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <evasync.h>

#include "bench_util.h"

enum { IN_FLIGHT = 1024, RTT_N = 10000 };

typedef struct job {
    eva_pool_job job;
    unsigned x;
} job;

static eva_pool *pool;
static eva_loop *loop;
static long n_jobs, submitted, completed, rtt_i;
static uint64_t rtt_t0, rtt_ns[RTT_N];

static void *work(void *arg) { /* a few integer ops, as libuv_pool's work_cb */
    job *j = arg;
    j->x = (j->x * 2654435761u) ^ (j->x >> 13);
    j->x += 7;
    return NULL;
}

static void submit(job *j, eva_pool_done_fn done) {
    int rc = eva_pool_submit(pool, loop, &j->job, work, done, j);
    if (rc < 0) {
        fprintf(stderr, "pool_bench: submit: %s\n", eva_strerror(rc));
        exit(1);
    }
}

static void after(eva_pool_job *pj, int status) {
    if (status) {
        fprintf(stderr, "pool_bench: job: %s\n", eva_strerror(status));
        exit(1);
    }
    completed++;
    if (submitted < n_jobs) {
        submitted++;
        submit(pj->arg, after);
    }
}

static void rtt_after(eva_pool_job *pj, int status) {
    (void)status;
    rtt_ns[rtt_i++] = eva_hrtime() - rtt_t0;
    if (rtt_i < RTT_N) {
        rtt_t0 = eva_hrtime();
        submit(pj->arg, rtt_after);
    }
}

int main(int argc, char **argv) {
    n_jobs = argc > 1 ? atol(argv[1]) : 1000000;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = argc > 2 ? (unsigned)atoi(argv[2]) : cores > 0 ? (unsigned)cores : 1;
    eva_pool_options opts = {.threads = threads, .queue_capacity = IN_FLIGHT};
    if (n_jobs <= 0 || eva_loop_new(&loop) < 0 || eva_pool_new(&opts, &pool) < 0) {
        fprintf(stderr, "usage: pool_bench [N [THREADS]]\n");
        return 2;
    }
    printf("pool_threads=%u\n", threads);
    static job jobs[IN_FLIGHT];
    uint64_t t0 = eva_hrtime();
    for (int i = 0; i < IN_FLIGHT && submitted < n_jobs; i++, submitted++) {
        jobs[i].x = (unsigned)i;
        submit(&jobs[i], after);
    }
    eva_loop_run(loop, EVA_RUN_DEFAULT);
    double secs = (double)(eva_hrtime() - t0) / 1e9;
    if (completed != n_jobs) {
        fprintf(stderr, "completed %ld of %ld\n", completed, n_jobs);
        return 1;
    }
    printf("pool_jobs=%ld pool_jobs_per_s=%.0f\n", n_jobs, (double)n_jobs / secs);

    rtt_t0 = eva_hrtime(); /* the workers are idle now */
    submit(&jobs[0], rtt_after);
    eva_loop_run(loop, EVA_RUN_DEFAULT);
    bench_sort_u64(rtt_ns, RTT_N);
    printf("pool_rtt_us_p50=%.2f pool_rtt_us_p99=%.2f\n", (double)rtt_ns[RTT_N / 2] / 1e3,
           (double)rtt_ns[RTT_N * 99 / 100] / 1e3);
    eva_pool_destroy(pool);
    eva_loop_destroy(loop);
    return 0;
}
