/* The cooperative budget: a task whose AWAITs all complete at once still
 * yields to the loop every `budget` operations, so other tasks and IO run in
 * between; the AWAIT that yields keeps its result; cancelling a task that
 * the budget made yield does not replace that result.  No timing: the tests
 * count who ran when. */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "helpers.h"

enum { OPS = 1000 };

/* Awaits a settled promise OPS times: each AWAIT completes at once. */
typedef struct greedy {
    eva_task task;
    eva_promise *settled;
    int count;
    int rc;
} greedy;

static eva_step greedy_run(void *frame) {
    greedy *g = frame;
    ASYNC_BEGIN(g);
    for (g->count = 0; g->count < OPS; g->count++)
        AWAIT_RC(g, g->rc, g->settled);
    ASYNC_END(g);
}

/* Yields every iteration, noting how far the greedy task got each time. */
typedef struct observer {
    eva_task task;
    const greedy *g;
    int runs;      /* steps taken while the greedy task was unfinished */
    int max_gap;   /* the most greedy operations between two of our steps */
    int last;
    int max_per_iteration; /* the most greedy operations in one loop iteration */
} observer;

static eva_step observer_run(void *frame) {
    observer *o = frame;
    ASYNC_BEGIN(o);
    while (eva_task_get_state(&o->g->task) != EVA_TASK_DONE) {
        if (o->g->count - o->last > o->max_gap)
            o->max_gap = o->g->count - o->last;
        o->last = o->g->count;
        o->runs++;
        YIELD(o);
    }
    ASYNC_END(o);
}

static void run_pair(eva_loop *loop, greedy *g, observer *o) {
    assert_int_equal(eva_promise_new(loop, &g->settled), 0);
    assert_int_equal(eva_promise_resolve(g->settled, NULL, NULL), 0);
    o->g = g;
    eva_task_init(loop, &g->task, greedy_run, "greedy");
    eva_task_init(loop, &o->task, observer_run, "observer");
    assert_int_equal(eva_task_start(&g->task, NULL), 0);
    assert_int_equal(eva_task_start(&o->task, NULL), 0);
    bool done = false;
    while (!done) {
        int before = g->count;
        assert_true(eva_loop_run(loop, EVA_RUN_ONCE) >= 0);
        if (g->count - before > o->max_per_iteration)
            o->max_per_iteration = g->count - before;
        done = eva_task_get_state(&g->task) == EVA_TASK_DONE &&
               eva_task_get_state(&o->task) == EVA_TASK_DONE;
    }
    assert_int_equal(eva_task_get_status(&g->task), 0);
    assert_int_equal(g->count, OPS);
    eva_promise_unref(g->settled);
}

static void greedy_task_yields_every_budget_operations(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    assert_int_equal(eva_task_set_budget(loop, 10), 0);
    greedy g = {0};
    observer o = {0};
    run_pair(loop, &g, &o);
    assert_true(o.max_per_iteration <= 10); /* never more than the budget in a row */
    /* ...and the other task ran in between: at most one greedy step on
     * either side of each of its own (tasks ready together run in an order
     * not promised) */
    assert_true(o.max_gap <= 2 * 10);
    assert_true(o.runs >= OPS / 10);
    if (!test_shuffling()) /* whose extra parks each start a fresh budget */
        assert_true(eva_task_get_budget_yields(loop) >= OPS / 10);
    test_loop_destroy(loop);
}

static void the_default_budget_is_on(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    greedy g = {0};
    observer o = {0};
    run_pair(loop, &g, &o);
    assert_true(o.max_per_iteration <= EVA_TASK_BUDGET_DEFAULT);
    assert_true(o.max_gap <= 2 * EVA_TASK_BUDGET_DEFAULT);
    assert_true(o.runs >= OPS / EVA_TASK_BUDGET_DEFAULT);
    test_loop_destroy(loop);
}

static void an_unlimited_budget_never_yields(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    assert_int_equal(eva_task_set_budget(loop, 0), 0);
    greedy g = {0};
    observer o = {0};
    run_pair(loop, &g, &o);
    assert_int_equal(eva_task_get_budget_yields(loop), 0);
    if (!test_shuffling()) /* which parks some at-once completions on purpose */
        assert_int_equal(o.runs, 0); /* the greedy task ran to its end in one step */
    test_loop_destroy(loop);
}

/* The reads of a socket that always has bytes complete at once: IO of other
 * descriptors is still served between budgets (a timer callback here). */
typedef struct reader {
    eva_task task;
    eva_stream tcp;
    eva_stream_read_req rd;
    char buf[1];
    int reads;
} reader;

static eva_step reader_run(void *frame) {
    reader *r = frame;
    ASYNC_BEGIN(r);
    for (;;) {
        AWAIT(r, eva_stream_read_op(&r->rd, &r->tcp, r->buf, sizeof r->buf));
        r->reads++;
    }
    ASYNC_FINALLY(r);
    eva_stream_close(&r->tcp, EVA_STREAM_CLOSE_DISCARD, NULL);
    ASYNC_END(r);
}

static void on_tick(eva_timer *t) { eva_task_cancel(t->data); }

static void a_reader_that_never_waits_lets_timers_run(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    static char lots[64 << 10];
    assert_int_equal(send(sv[1], lots, sizeof lots, 0), (ssize_t)sizeof lots);
    reader r = {0};
    assert_int_equal(eva_stream_open(loop, &r.tcp, sv[0]), 0);
    eva_task_init(loop, &r.task, reader_run, "reader");
    assert_int_equal(eva_task_start(&r.task, NULL), 0);
    eva_timer tick;
    assert_int_equal(eva_timer_init(loop, &tick), 0);
    assert_int_equal(eva_timer_start(&tick, 0, 0, on_tick, &r.task), 0);
    while (eva_task_get_state(&r.task) != EVA_TASK_DONE)
        assert_true(eva_loop_run(loop, EVA_RUN_ONCE) >= 0);
    /* the timer fired (and cancelled the reader) while bytes were still
     * there: without the budget it would have read all 64 KiB first */
    assert_true(r.reads < (int)sizeof lots);
    test_loop_destroy(loop);
    close(sv[1]);
}

/* A task cancelled while the budget has it queued keeps the result of the
 * AWAIT that completed, and fails at its next AWAIT. */
typedef struct counted {
    eva_task task;
    eva_promise *settled;
    int rc_first, rc_second;
    int reached_second;
} counted;

static eva_step counted_run(void *frame) {
    counted *c = frame;
    ASYNC_BEGIN(c);
    AWAIT_RC(c, c->rc_first, c->settled); /* uses the whole budget of 1 */
    c->reached_second = 1;
    AWAIT_RC(c, c->rc_second, c->settled);
    ASYNC_END(c);
}

static void cancel_while_yielded_keeps_the_completed_result(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    assert_int_equal(eva_task_set_budget(loop, 1), 0);
    counted c = {.rc_first = 1, .rc_second = 1};
    assert_int_equal(eva_promise_new(loop, &c.settled), 0);
    assert_int_equal(eva_promise_resolve(c.settled, NULL, NULL), 0);
    eva_task_init(loop, &c.task, counted_run, "counted");
    assert_int_equal(eva_task_start(&c.task, NULL), 0);
    eva_loop_run(loop, EVA_RUN_NOWAIT); /* the first step */
    assert_int_equal(eva_task_get_state(&c.task), EVA_TASK_QUEUED);
    assert_int_equal(c.reached_second, 0); /* queued by the budget in the first AWAIT */
    eva_task_cancel(&c.task);
    while (eva_task_get_state(&c.task) != EVA_TASK_DONE)
        assert_true(eva_loop_run(loop, EVA_RUN_ONCE) >= 0);
    assert_int_equal(c.rc_first, 0);
    assert_int_equal(c.rc_second, -ECANCELED);
    eva_promise_unref(c.settled);
    test_loop_destroy(loop);
}

static void budget_rejects_a_null_loop(void **state) {
    (void)state;
    assert_int_equal(eva_task_set_budget(NULL, 1), -EINVAL);
    assert_int_equal(eva_task_get_budget_yields(NULL), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(greedy_task_yields_every_budget_operations),
        cmocka_unit_test(the_default_budget_is_on),
        cmocka_unit_test(an_unlimited_budget_never_yields),
        cmocka_unit_test(a_reader_that_never_waits_lets_timers_run),
        cmocka_unit_test(cancel_while_yielded_keeps_the_completed_result),
        cmocka_unit_test(budget_rejects_a_null_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
