/* bench/pool_scenario.c — the textbook case for the offload pool: 200
 * handlers that each need 10 ms of CPU, run inline on the loop and then
 * through a 2-thread pool.  A 1 ms repeating timer measures the loop's lag
 * (how late each tick is) while they run: inline, the loop is frozen; through
 * the pool, it keeps ticking.  Usage: pool_scenario [HANDLERS [CPU_MS [THREADS]]]
 * Prints, per mode: mode=M handlers=N wall_ms=V lag_ms_p50=V lag_ms_p99=V
 * lag_ms_max=V ticks=N; then pool_speedup=V (inline wall / pool wall). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <evasync.h>

#include "bench_util.h"

enum { MAX_TICKS = 1 << 16 };

typedef struct handler {
    eva_task task;
    eva_pool_job job;
} handler;

static eva_loop *loop;
static eva_pool *pool; /* NULL: run the work inline */
static eva_timer ticker;
static int cpu_ms, left;
static uint64_t last_tick, lag_ns[MAX_TICKS];
static size_t ticks;

static uint64_t thread_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time, not wall time: a busy worker sharing a core still does 10 ms of work. */
static void *burn(void *arg) {
    uint64_t end = thread_cpu_ns() + (uint64_t)cpu_ms * 1000000u;
    volatile unsigned x = 0;
    while (thread_cpu_ns() < end)
        for (int i = 0; i < 1000; i++)
            x = x * 2654435761u + 1;
    return arg;
}

static void tick(eva_timer *t) {
    (void)t;
    uint64_t now = eva_hrtime(), late = now - last_tick;
    late = late > 1000000u ? late - 1000000u : 0;
    if (ticks < MAX_TICKS)
        lag_ns[ticks++] = late;
    last_tick = now;
}

static eva_step handler_run(void *frame) {
    handler *h = frame;
    ASYNC_BEGIN(h);
    if (pool)
        AWAIT(h, eva_pool_submit_op(pool, &h->job, burn, NULL));
    else
        burn(NULL);
    if (--left == 0)
        eva_timer_stop(&ticker);
    ASYNC_END(h);
}

static double ms(uint64_t ns) { return (double)ns / 1e6; }

static double run(const char *mode, handler *h, int n) {
    ticks = 0;
    left = n;
    for (int i = 0; i < n; i++) {
        h[i] = (handler){0};
        if (eva_task_init(loop, &h[i].task, handler_run, "handler") < 0 ||
            eva_task_start(&h[i].task, NULL) < 0) {
            fprintf(stderr, "pool_scenario: cannot start handler %d\n", i);
            exit(1);
        }
    }
    eva_timer_start(&ticker, 1, 1, tick, NULL);
    uint64_t t0 = eva_hrtime();
    last_tick = t0;
    eva_loop_run(loop, EVA_RUN_DEFAULT);
    uint64_t wall = eva_hrtime() - t0;
    tick(&ticker); /* the last stretch counts too: the end of a block is a late tick */
    for (int i = 0; i < n; i++)
        if (eva_task_get_status(&h[i].task) != 0) {
            fprintf(stderr, "pool_scenario: handler %d: %s\n", i, eva_task_get_message(&h[i].task));
            exit(1);
        }
    bench_sort_u64(lag_ns, ticks);
    printf("mode=%s handlers=%d cpu_ms=%d wall_ms=%.1f lag_ms_p50=%.3f lag_ms_p99=%.3f "
           "lag_ms_max=%.3f ticks=%zu\n",
           mode, n, cpu_ms, ms(wall), ms(lag_ns[ticks / 2]), ms(lag_ns[ticks * 99 / 100]),
           ms(lag_ns[ticks - 1]), ticks);
    return ms(wall);
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 200;
    cpu_ms = argc > 2 ? atoi(argv[2]) : 10;
    eva_pool_options opts = {.threads = argc > 3 ? (unsigned)atoi(argv[3]) : 2,
                             .queue_capacity = (size_t)(n > 0 ? n : 1)};
    handler *h = calloc((size_t)(n > 0 ? n : 1), sizeof *h);
    if (n <= 0 || cpu_ms <= 0 || !h || eva_loop_new(&loop) < 0 ||
        eva_timer_init(loop, &ticker) < 0) {
        fprintf(stderr, "usage: pool_scenario [HANDLERS [CPU_MS [THREADS]]]\n");
        return 2;
    }
    double inline_ms = run("inline", h, n);
    if (eva_pool_new(&opts, &pool) < 0) {
        fprintf(stderr, "pool_scenario: cannot create the pool\n");
        return 1;
    }
    printf("pool_threads=%u\n", opts.threads);
    double pool_ms = run("pool", h, n);
    printf("pool_speedup=%.2f\n", inline_ms / pool_ms);
    eva_pool_destroy(pool);
    eva_loop_destroy(loop);
    free(h);
    return 0;
}
