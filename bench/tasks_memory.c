/* bench/tasks_memory.c — memory per suspended task.
 *
 * N tasks (default 1,000,000) each AWAIT their own timer (100..1000 s, so
 * none fires while we measure).  The frames are one array of
 * `struct { eva_task task; }` — the user's frame adds nothing — or, with
 * --spawn, one eva_task_spawn allocation each.  Prints
 *   impl=evasync tasks=N rss_bytes_per_task=V task_header_bytes=... spawn_ns=V
 * where rss_bytes_per_task = (VmHWM with all N suspended - VmHWM before) / N:
 * the task header (its 48-byte ev_timer included), libev's timer-heap slot,
 * and for --spawn the allocator's per-block overhead.  Usable as a command
 * for ../shared/bench/tasks-memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <evasync.h>

#include "bench_util.h"

typedef struct frame {
    eva_task task;
} frame;

static long started;
static uint32_t lcg = 12345;

static eva_step sleep_run(void *f) {
    frame *fr = f;
    ASYNC_BEGIN(fr);
    started++;
    lcg = lcg * 1664525u + 1013904223u;
    AWAIT(fr, eva_sleep_op(100000 + (int64_t)(lcg % 900000)));
    ASYNC_END(fr);
}

int main(int argc, char **argv) {
    long n = 1000000;
    int spawn = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--spawn") == 0)
            spawn = 1;
        else
            n = atol(argv[i]);
    }
    eva_loop *loop;
    if (n <= 0 || eva_loop_new(&loop) < 0)
        return 2;
    long before = bench_proc_status_bytes("VmHWM");
    uint64_t t0 = eva_hrtime();
    frame *frames = spawn ? NULL : calloc((size_t)n, sizeof *frames);
    for (long i = 0; i < n; i++) {
        void *f;
        if (spawn) {
            eva_task_spawn(loop, sizeof(frame), sleep_run, "sleeper", NULL, &f);
        } else {
            eva_task_init(loop, &frames[i].task, sleep_run, "sleeper");
            eva_task_start(&frames[i].task, NULL);
        }
    }
    while (started < n)
        eva_loop_run(loop, EVA_RUN_NOWAIT);
    double spawn_ns = (double)(eva_hrtime() - t0) / (double)n;
    long after = bench_proc_status_bytes("VmHWM");
    printf("impl=evasync%s tasks=%ld rss_bytes_per_task=%.1f task_header_bytes=%zu "
           "user_frame_bytes=0 spawn_ns=%.1f\n",
           spawn ? "_spawn" : "", n, (double)(after - before) / (double)n, sizeof(eva_task),
           spawn_ns);
    t0 = eva_hrtime();
    eva_loop_destroy(loop); /* cancels every task: each timer is stopped, each frame released */
    printf("teardown_ns_per_task=%.1f\n", (double)(eva_hrtime() - t0) / (double)n);
    free(frames);
    return 0;
}
