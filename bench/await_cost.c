/* bench/await_cost.c — what an AWAIT costs.
 *
 *   await_settled_ns   one AWAIT on an already-fulfilled promise (no suspension)
 *   resume_rtt_ns      a task doing AWAIT(eva_sleep_op(0)): suspend, one loop
 *                      iteration, a 0 ms timer, resume
 *   raw_libev_rtt_ns   the same event with no evasync: a raw ev_timer of 0 ms
 *                      re-armed from its own callback, on its own libev loop
 *   resume_ratio       resume_rtt_ns / raw_libev_rtt_ns (the target is <= 1.5)
 *   spawn_ns           eva_task_start + first step of a task that ends at once
 *   resume_rtt_detector_ns  resume_rtt_ns with the blocked-loop detector on
 *   detector_overhead_pct   its cost, from the two medians
 *   resume_rtt_thread_ns    resume_rtt_ns with the detector off but an idle
 *                           second thread alive, as the watchdog is: the
 *                           kernel then counts a reference on the epoll
 *                           descriptor in each poll (a shared descriptor
 *                           table); glibc's cancellation-point code is
 *                           skipped by the setting eva_loop_run() makes
 *                           (loop/loop.c)
 *   detector_thread_pct     what that second thread costs (thread vs off)
 *   detector_work_pct       what the detector's own work costs (on vs thread)
 *
 * Both round trips pay for one timer and one loop iteration per event, so
 * the ratio is evasync's overhead.  Rounds alternate (raw, evasync, ...) and
 * each side's median is reported: the machine is shared and noisy. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <evasync.h>

enum { ROUNDS = 5 };

static double now_ns(void) { return (double)eva_hrtime(); }

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

/* ---- AWAIT on a settled promise ----------------------------------------------- */

typedef struct settled {
    eva_task task;
    eva_promise *p;
    long i, n;
} settled;

static eva_step settled_run(void *frame) {
    settled *s = frame;
    ASYNC_BEGIN(s);
    for (s->i = 0; s->i < s->n; s->i++)
        AWAIT(s, s->p);
    ASYNC_END(s);
}

static double await_settled_ns(eva_loop *loop, long n) {
    settled s = {.n = n};
    eva_promise_new(loop, &s.p);
    eva_promise_resolve(s.p, NULL, NULL);
    eva_task_init(loop, &s.task, settled_run, "settled");
    eva_task_start(&s.task, NULL);
    double t0 = now_ns();
    eva_loop_run(loop, EVA_RUN_DEFAULT);
    double t = (now_ns() - t0) / (double)n;
    eva_promise_unref(s.p);
    return t;
}

/* ---- suspend -> loop -> resume vs a raw libev callback -------------------------- */

typedef struct sleeper {
    eva_task task;
    long i, n;
} sleeper;

static eva_step sleeper_run(void *frame) {
    sleeper *s = frame;
    ASYNC_BEGIN(s);
    for (s->i = 0; s->i < s->n; s->i++)
        AWAIT(s, eva_sleep_op(0));
    ASYNC_END(s);
}

static double resume_rtt_ns(eva_loop *loop, long n) {
    sleeper s = {.n = n};
    eva_task_init(loop, &s.task, sleeper_run, "sleeper");
    eva_task_start(&s.task, NULL);
    double t0 = now_ns();
    eva_loop_run(loop, EVA_RUN_DEFAULT);
    return (now_ns() - t0) / (double)n;
}

static long raw_left;

static void raw_cb(struct ev_loop *ev, ev_timer *w, int revents) {
    (void)revents;
    if (--raw_left > 0) {
        ev_timer_set(w, 0., 0.);
        ev_timer_start(ev, w);
    }
}

/* The raw loop runs with the thread's cancellation disabled and its type
 * asynchronous, as eva_loop_run() runs (loop/loop.c says why): once this
 * process has had a second thread, glibc otherwise wraps each poll in two
 * atomic updates that evasync's loop does not pay, and the ratio would
 * flatter evasync. */
static double raw_libev_rtt_ns(long n) {
    struct ev_loop *ev = ev_loop_new(EVFLAG_AUTO);
    ev_timer w;
    ev_timer_init(&w, raw_cb, 0., 0.);
    raw_left = n;
    ev_timer_start(ev, &w);
    int state, type;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
    pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &type);
    double t0 = now_ns();
    ev_run(ev, 0);
    double t = (now_ns() - t0) / (double)n;
    pthread_setcanceltype(type, &type);
    pthread_setcancelstate(state, &state);
    ev_loop_destroy(ev);
    return t;
}

/* An idle thread for the length of one measurement: blocked on a mutex. */
static pthread_mutex_t idle_gate = PTHREAD_MUTEX_INITIALIZER;

static void *idle_main(void *arg) {
    (void)arg;
    pthread_mutex_lock(&idle_gate);
    pthread_mutex_unlock(&idle_gate);
    return NULL;
}

static double resume_rtt_thread_ns(eva_loop *loop, long n) {
    pthread_t idle;
    pthread_mutex_lock(&idle_gate);
    pthread_create(&idle, NULL, idle_main, NULL);
    double t = resume_rtt_ns(loop, n);
    pthread_mutex_unlock(&idle_gate);
    pthread_join(idle, NULL);
    return t;
}

/* ---- spawning --------------------------------------------------------------------- */

typedef struct empty {
    eva_task task;
} empty;

static eva_step empty_run(void *frame) {
    empty *e = frame;
    ASYNC_BEGIN(e);
    ASYNC_END(e);
}

static double spawn_ns(eva_loop *loop, long n) {
    empty *frames = calloc((size_t)n, sizeof *frames);
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        eva_task_init(loop, &frames[i].task, empty_run, "empty");
        eva_task_start(&frames[i].task, NULL);
    }
    eva_loop_run(loop, EVA_RUN_DEFAULT);
    double t = (now_ns() - t0) / (double)n;
    free(frames);
    return t;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    eva_loop *loop;
    if (n <= 0 || eva_loop_new(&loop) < 0) {
        fprintf(stderr, "usage: await_cost [N]\n");
        return 2;
    }
    double raw[ROUNDS], eva[ROUNDS], detect[ROUNDS], thread[ROUNDS], settled_v[ROUNDS],
        spawn_v[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        raw[r] = raw_libev_rtt_ns(n);
        eva[r] = resume_rtt_ns(loop, n);
        eva_detector_start(loop, NULL);
        detect[r] = resume_rtt_ns(loop, n);
        eva_detector_stop(loop);
        thread[r] = resume_rtt_thread_ns(loop, n);
        settled_v[r] = await_settled_ns(loop, 10 * n);
        spawn_v[r] = spawn_ns(loop, n);
    }
    double raw_m = median(raw, ROUNDS), eva_m = median(eva, ROUNDS);
    printf("await_settled_ns=%.1f\n", median(settled_v, ROUNDS));
    printf("resume_rtt_ns=%.1f raw_libev_rtt_ns=%.1f resume_ratio=%.2f\n", eva_m, raw_m, eva_m / raw_m);
    printf("spawn_ns=%.1f task_header_bytes=%zu\n", median(spawn_v, ROUNDS), sizeof(eva_task));
    double det_m = median(detect, ROUNDS), thread_m = median(thread, ROUNDS);
    printf("resume_rtt_detector_ns=%.1f detector_overhead_pct=%.1f\n", det_m,
           100.0 * (det_m - eva_m) / eva_m);
    printf("resume_rtt_thread_ns=%.1f detector_thread_pct=%.1f detector_work_pct=%.1f\n",
           thread_m, 100.0 * (thread_m - eva_m) / eva_m, 100.0 * (det_m - thread_m) / thread_m);
    eva_loop_destroy(loop);
    return 0;
}
