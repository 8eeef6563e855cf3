/* tests/test_monitor.c — the blocked-loop detector, loop metrics, task dump.
 * The blocks are busy loops of a known length; the tests check what was
 * reported and about whom, not how precisely it was timed.  The watchdog
 * times a dispatch from its first sighting, up to threshold/4 (25 ms) after
 * the start, so the blocks last the threshold and a good margin more. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>

#include <cmocka.h>

#include "helpers.h"

/* ---- collecting reports (the watchdog's arrive from its thread) ------------ */

enum { MAX_REPORTS = 16 };

typedef struct seen {
    eva_block_kind kind;
    uint64_t duration_ms, suppressed;
    char task[64], file[128], symbol[64], culprit[512];
    int line;
} seen;

typedef struct reports {
    pthread_mutex_t mutex;
    int n, logged;
    seen r[MAX_REPORTS];
} reports;

static void on_block(void *arg, const eva_block_report *r) {
    reports *rs = arg;
    pthread_mutex_lock(&rs->mutex);
    if (rs->n < MAX_REPORTS) {
        seen *s = &rs->r[rs->n++];
        s->kind = r->kind;
        s->duration_ms = r->duration_ms;
        s->suppressed = r->suppressed;
        s->line = r->line;
        snprintf(s->task, sizeof s->task, "%s", r->task ? r->task : "");
        snprintf(s->file, sizeof s->file, "%s", r->file ? r->file : "");
        snprintf(s->symbol, sizeof s->symbol, "%s", r->symbol ? r->symbol : "");
        snprintf(s->culprit, sizeof s->culprit, "%s", r->culprit);
    }
    pthread_mutex_unlock(&rs->mutex);
}

static void count_log(void *ud, eva_loop *loop, eva_log_level level, const char *msg) {
    (void)loop;
    reports *rs = ud;
    pthread_mutex_lock(&rs->mutex);
    if (level == EVA_LOG_WARN && strstr(msg, "loop blocked for"))
        rs->logged++;
    pthread_mutex_unlock(&rs->mutex);
}

static void watch(eva_loop *loop, reports *rs, uint64_t interval_ms) {
    memset(rs, 0, sizeof *rs);
    pthread_mutex_init(&rs->mutex, NULL);
    eva_loop_set_log(loop, count_log, rs);
    eva_detector_options opts = {.threshold_ms = 100, .interval_ms = interval_ms,
                                 .on_block = on_block, .arg = rs};
    assert_int_equal(eva_detector_start(loop, &opts), 0);
}

static int count_kind(reports *rs, eva_block_kind kind) {
    int n = 0;
    for (int i = 0; i < rs->n; i++)
        n += rs->r[i].kind == kind;
    return n;
}

static const seen *first_of(reports *rs, eva_block_kind kind) {
    for (int i = 0; i < rs->n; i++)
        if (rs->r[i].kind == kind)
            return &rs->r[i];
    fail_msg("no report of kind %d", kind);
    abort(); /* fail_msg leaves the test by longjmp; cmocka does not declare it
                noreturn, so without this the optimiser sees a NULL return */
}

static uint64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void busy_ms(int ms) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    do
        clock_gettime(CLOCK_MONOTONIC, &b);
    while ((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < ms);
}

/* ---- a task that blocks: named with the AWAIT it resumed from --------------- */

typedef struct blocker {
    eva_task task;
    int ms;
    bool done;
} blocker;

static int blocker_line;

static eva_step blocker_run(void *frame) {
    blocker *b = frame;
    ASYNC_BEGIN(b);
    blocker_line = __LINE__; AWAIT(b, eva_sleep_op(1));
    busy_ms(b->ms);
    b->done = true;
    ASYNC_END(b);
}

static void run_blocker(eva_loop *loop, blocker *b, int ms) {
    *b = (blocker){.ms = ms};
    assert_int_equal(eva_task_init(loop, &b->task, blocker_run, "checkout"), 0);
    assert_int_equal(eva_task_start(&b->task, NULL), 0);
    test_run_until(loop, &b->done, 10000);
}

static void blocking_task_is_named_during_and_after(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    reports rs;
    watch(loop, &rs, 0);
    blocker b;
    uint64_t began = mono_ms();
    run_blocker(loop, &b, 300);
    uint64_t took = mono_ms() - began;
    assert_int_equal(eva_detector_stop(loop), 0);

    assert_int_equal(count_kind(&rs, EVA_BLOCK_IN_PROGRESS), 1);
    const seen *live = first_of(&rs, EVA_BLOCK_IN_PROGRESS);
    assert_string_equal(live->task, "checkout");
    assert_non_null(strstr(live->file, "test_monitor.c"));
    assert_int_equal(live->line, blocker_line);
    assert_true(live->duration_ms >= 100);
    assert_non_null(strstr(live->culprit, "task 'checkout' resumed at"));

    assert_int_equal(count_kind(&rs, EVA_BLOCK_DISPATCH), 1);
    const seen *after = first_of(&rs, EVA_BLOCK_DISPATCH);
    assert_string_equal(after->task, "checkout");
    assert_int_equal(after->line, blocker_line);
    /* timed from the watchdog's first sighting: over the threshold, and never
     * more than the step really took */
    assert_true(after->duration_ms >= 100);
    assert_true(after->duration_ms <= took);
    assert_int_equal(rs.logged, 2);
    test_loop_destroy(loop);
}

static void long_names_are_cut_visibly(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    reports rs;
    watch(loop, &rs, 0);
    static char name[700];
    memset(name, 'n', sizeof name - 1);
    blocker b = {.ms = 250};
    assert_int_equal(eva_task_init(loop, &b.task, blocker_run, name), 0);
    assert_int_equal(eva_task_start(&b.task, NULL), 0);
    test_run_until(loop, &b.done, 10000);
    assert_int_equal(eva_detector_stop(loop), 0);
    for (int i = 0; i < rs.n; i++) /* both kinds: the name is cut, and says so */
        assert_non_null(strstr(rs.r[i].culprit, "nnn..."));
    assert_int_equal(rs.n, 2);
    test_loop_destroy(loop);
}

/* ---- a callback that blocks: named by function (exported: -rdynamic) -------- */

void blocking_timer_cb(eva_timer *t);
void blocking_timer_cb(eva_timer *t) {
    busy_ms(200);
    *(bool *)t->data = true;
}

static void blocking_callback_is_named(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    reports rs;
    watch(loop, &rs, 0);
    eva_timer t;
    bool fired = false;
    eva_timer_init(loop, &t);
    eva_timer_start(&t, 1, 0, blocking_timer_cb, &fired);
    test_run_until(loop, &fired, 10000);
    assert_int_equal(eva_detector_stop(loop), 0);
    const seen *after = first_of(&rs, EVA_BLOCK_DISPATCH);
    assert_string_equal(after->symbol, "blocking_timer_cb");
    assert_string_equal(after->task, "");
    assert_non_null(strstr(after->culprit, "callback blocking_timer_cb()"));
    assert_true(after->duration_ms >= 100);
    test_loop_destroy(loop);
}

/* A repeating 1 ms timer whose callback busy-loops `ms`, `left` times. */
typedef struct ticker {
    eva_timer timer;
    int left, ms;
} ticker;

static void ticker_cb(eva_timer *t) {
    ticker *k = t->data;
    busy_ms(k->ms);
    if (--k->left == 0)
        eva_timer_stop(t);
}

static void run_ticker(eva_loop *loop, int times, int ms) {
    ticker k = {.left = times, .ms = ms};
    eva_timer_init(loop, &k.timer);
    eva_timer_start(&k.timer, 1, 1, ticker_cb, &k);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_DEFAULT), 0);
    assert_int_equal(k.left, 0);
}

static void work_under_the_threshold_is_not_reported(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    reports rs;
    watch(loop, &rs, 0);
    run_ticker(loop, 5, 20);
    assert_int_equal(eva_detector_stop(loop), 0);
    assert_int_equal(rs.n, 0);
    assert_int_equal(rs.logged, 0);
    test_loop_destroy(loop);
}

/* ---- a batch of short steps: named as a batch ----------------------------- */

typedef struct short_step {
    eva_task task;
} short_step;

static eva_step short_step_run(void *frame) {
    short_step *s = frame;
    ASYNC_BEGIN(s);
    busy_ms(8);
    ASYNC_END(s);
}

static void a_batch_of_short_steps_is_reported_as_a_batch(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    reports rs;
    watch(loop, &rs, 0);
    short_step steps[30];
    for (int i = 0; i < 30; i++) { /* all first steps run in one deferred batch */
        eva_task_init(loop, &steps[i].task, short_step_run, "short");
        eva_task_start(&steps[i].task, NULL);
    }
    assert_int_equal(eva_loop_run(loop, EVA_RUN_DEFAULT), 0);
    assert_int_equal(eva_detector_stop(loop), 0);
    assert_int_equal(count_kind(&rs, EVA_BLOCK_DISPATCH), 1);
    const seen *after = first_of(&rs, EVA_BLOCK_DISPATCH);
    assert_string_equal(after->task, ""); /* no single task is to blame */
    assert_non_null(strstr(after->culprit, "through 30 shorter dispatches"));
    test_loop_destroy(loop);
}

/* ---- the rate limit: one report per interval, the rest counted -------------- */

static void reports_are_rate_limited(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    reports rs;
    watch(loop, &rs, 60000); /* one report a minute */
    run_ticker(loop, 4, 200);
    assert_int_equal(eva_detector_stop(loop), 0);
    assert_int_equal(count_kind(&rs, EVA_BLOCK_DISPATCH), 1);
    assert_int_equal(first_of(&rs, EVA_BLOCK_DISPATCH)->suppressed, 0);

    reports every; /* its own collector: a mutex is never initialised twice */
    watch(loop, &every, 1); /* a 1 ms interval: every block is reported */
    run_ticker(loop, 2, 200);
    assert_int_equal(eva_detector_stop(loop), 0);
    assert_int_equal(count_kind(&every, EVA_BLOCK_DISPATCH), 2);
    test_loop_destroy(loop);
}

/* ---- attach mode: the daemon drives ev_run ----------------------------------- */

static void detector_works_on_an_attached_loop(void **state) {
    (void)state;
    struct ev_loop *ev = ev_loop_new(EVFLAG_AUTO);
    eva_loop *loop;
    assert_int_equal(eva_loop_from_ev(ev, &loop), 0);
    reports rs;
    watch(loop, &rs, 0);
    blocker b = {.ms = 250};
    assert_int_equal(eva_task_init(loop, &b.task, blocker_run, "attached"), 0);
    assert_int_equal(eva_task_start(&b.task, NULL), 0);
    while (!b.done)
        ev_run(ev, EVRUN_ONCE); /* the daemon's loop */
    ev_run(ev, EVRUN_NOWAIT);   /* lag is sampled when the loop polls again */
    assert_int_equal(eva_detector_stop(loop), 0);
    assert_int_equal(count_kind(&rs, EVA_BLOCK_IN_PROGRESS), 1);
    assert_string_equal(first_of(&rs, EVA_BLOCK_IN_PROGRESS)->task, "attached");
    assert_int_equal(count_kind(&rs, EVA_BLOCK_DISPATCH), 1);
    eva_loop_metrics m;
    assert_int_equal(eva_loop_get_metrics(loop, &m), 0);
    assert_true(m.iterations >= 2);
    assert_true(m.lag_ns_max >= 200000000u); /* the 250 ms block, less a clock tick */
    test_loop_destroy(loop);
    ev_loop_destroy(ev);
}

/* ---- metrics ------------------------------------------------------------------ */

static void metrics_count_iterations_idle_time_and_lag(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    run_ticker(loop, 3, 50); /* slow iterations, each sampled at the next poll */
    run_ticker(loop, 5, 0);
    eva_timer t;
    eva_timer_init(loop, &t);
    eva_timer_start(&t, 20, 0, ticker_cb, &(ticker){.left = 1});
    assert_int_equal(eva_loop_run(loop, EVA_RUN_DEFAULT), 0); /* a 20 ms wait */
    eva_loop_metrics m;
    assert_int_equal(eva_loop_get_metrics(loop, &m), 0);
    assert_true(m.iterations >= 7);
    assert_true(m.idle_ns >= 10000000u); /* most of the 20 ms was spent in the poll */
    assert_true(m.lag_ns_max >= 40000000u); /* the 50 ms iterations count (less a clock tick) */
    assert_true(m.lag_ns_p50 <= m.lag_ns_p99 && m.lag_ns_p99 <= m.lag_ns_max);
    assert_int_equal(m.tasks, 0);
    assert_int_equal(m.pool_jobs, 0);
    test_loop_destroy(loop);
}

/* The iteration that ends the run is counted when the run returns: there is
 * no next poll to sample it at. */
static void metrics_count_the_block_that_ends_the_run(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    run_ticker(loop, 1, 50); /* the one iteration blocks 50 ms, then nothing is left */
    eva_loop_metrics m;
    assert_int_equal(eva_loop_get_metrics(loop, &m), 0);
    assert_true(m.lag_ns_max >= 40000000u); /* less a clock tick */
    test_loop_destroy(loop);
}

/* ---- task introspection -------------------------------------------------------- */

typedef struct sleeper {
    eva_task task;
} sleeper;

static int sleeper_line;

static eva_step sleeper_run(void *frame) {
    sleeper *s = frame;
    ASYNC_BEGIN(s);
    sleeper_line = __LINE__; AWAIT(s, eva_sleep_op(60000));
    ASYNC_END(s);
}

typedef struct outer {
    eva_task task;
    sleeper inner;
} outer;

static eva_step outer_run(void *frame) {
    outer *o = frame;
    ASYNC_BEGIN(o);
    AWAIT(o, EVA_ASYNC(sleeper_run, &o->inner)); /* parked inside, at sleeper_line */
    ASYNC_END(o);
}

static void dump_lists_parked_tasks_with_their_lines(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    sleeper a, b;
    outer o = {0};
    eva_task_init(loop, &a.task, sleeper_run, "sleeper-a");
    eva_task_init(loop, &b.task, sleeper_run, "sleeper-b");
    eva_task_init(loop, &o.task, outer_run, "nested");
    eva_task_start(&a.task, NULL);
    eva_task_start(&b.task, NULL);
    eva_task_start(&o.task, NULL);
    eva_loop_run(loop, EVA_RUN_NOWAIT); /* each runs to its AWAIT */

    eva_task_info info[4];
    assert_int_equal(eva_loop_list_tasks(loop, info, 4), 3);
    assert_int_equal(eva_loop_list_tasks(loop, info, 1), 3); /* the count, not the copies */
    assert_int_equal(eva_loop_list_tasks(loop, info, 4), 3);
    int found = 0;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(info[i].state, EVA_TASK_SUSPENDED);
        assert_false(info[i].cancelling);
        assert_string_equal(info[i].awaiting, "timer");
        assert_true(info[i].parked_ms < 60000);
        assert_non_null(strstr(info[i].site->file, "test_monitor.c"));
        assert_int_equal(info[i].site->line, sleeper_line); /* nested: the innermost */
        found += strcmp(info[i].name, "nested") == 0 || strncmp(info[i].name, "sleeper-", 8) == 0;
    }
    assert_int_equal(found, 3);
    eva_loop_metrics m;
    eva_loop_get_metrics(loop, &m);
    assert_int_equal(m.tasks, 3);

    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    assert_non_null(out);
    assert_int_equal(eva_loop_dump_tasks(loop, out), 3);
    fclose(out);
    char expect[128];
    snprintf(expect, sizeof expect, "task 'sleeper-a' suspended");
    assert_non_null(strstr(text, expect));
    snprintf(expect, sizeof expect, "test_monitor.c:%d awaiting timer: eva_sleep_op(60000)",
             sleeper_line);
    assert_non_null(strstr(text, expect));
    free(text);

    eva_task_cancel(&a.task);
    assert_int_equal(eva_loop_list_tasks(loop, info, 4), 3);
    for (int i = 0; i < 3; i++)
        if (info[i].task == &a.task)
            assert_true(info[i].cancelling);
    test_loop_destroy(loop); /* cancels the rest */
}

static void invalid_arguments(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_loop_metrics m;
    eva_task_info info;
    assert_int_equal(eva_detector_start(NULL, NULL), -EINVAL);
    assert_int_equal(eva_detector_stop(NULL), -EINVAL);
    assert_int_equal(eva_detector_stop(loop), 0); /* never started: nothing to do */
    assert_int_equal(eva_loop_get_metrics(NULL, &m), -EINVAL);
    assert_int_equal(eva_loop_get_metrics(loop, NULL), -EINVAL);
    assert_int_equal(eva_loop_list_tasks(NULL, &info, 1), -EINVAL);
    assert_int_equal(eva_loop_list_tasks(loop, NULL, 1), -EINVAL);
    assert_int_equal(eva_loop_list_tasks(loop, NULL, 0), 0);
    assert_int_equal(eva_loop_dump_tasks(NULL, stdout), -EINVAL);
    assert_int_equal(eva_loop_dump_tasks(loop, NULL), -EINVAL);
    /* started twice is a restart; destroy stops it */
    assert_int_equal(eva_detector_start(loop, NULL), 0);
    assert_int_equal(eva_detector_start(loop, NULL), 0);
    test_loop_destroy(loop);
}

static void detector_start_out_of_memory_leaves_the_loop_usable(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    test_alloc a = {.fail_after = 0};
    test_alloc_install(&a);
    assert_int_equal(eva_detector_start(loop, NULL), -ENOMEM);
    test_alloc_install(NULL);
    assert_int_equal(a.live, 0);
    run_ticker(loop, 2, 0); /* the loop still runs */
    assert_int_equal(eva_detector_start(loop, NULL), 0);
    assert_int_equal(eva_detector_stop(loop), 0);
    test_loop_destroy(loop);
}

static void dump_reports_a_failed_write(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    sleeper a;
    eva_task_init(loop, &a.task, sleeper_run, "sleeper");
    eva_task_start(&a.task, NULL);
    eva_loop_run(loop, EVA_RUN_NOWAIT);
    FILE *ro = fopen("/dev/null", "r"); /* writes to it fail */
    assert_non_null(ro);
    assert_int_equal(eva_loop_dump_tasks(loop, ro), -EIO);
    fclose(ro);
    test_loop_destroy(loop);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(blocking_task_is_named_during_and_after),
        cmocka_unit_test(blocking_callback_is_named),
        cmocka_unit_test(long_names_are_cut_visibly),
        cmocka_unit_test(work_under_the_threshold_is_not_reported),
        cmocka_unit_test(a_batch_of_short_steps_is_reported_as_a_batch),
        cmocka_unit_test(reports_are_rate_limited),
        cmocka_unit_test(detector_works_on_an_attached_loop),
        cmocka_unit_test(metrics_count_iterations_idle_time_and_lag),
        cmocka_unit_test(metrics_count_the_block_that_ends_the_run),
        cmocka_unit_test(dump_lists_parked_tasks_with_their_lines),
        cmocka_unit_test(invalid_arguments),
        cmocka_unit_test(detector_start_out_of_memory_leaves_the_loop_usable),
        cmocka_unit_test(dump_reports_a_failed_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
