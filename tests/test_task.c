/* Tasks: every macro, nesting 3 deep, error propagation, the finally
 * section, cancellation at each kind of await, spawn and loop destroy.
 * Built twice: labels-as-values and the switch fallback (EVA_AWAIT_SWITCH). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "helpers.h"

/* ---- sequencing and frame state ------------------------------------------ */

typedef struct counter {
    eva_task task;
    int i;
    int steps;
    int finally_runs;
    bool done;
} counter;

static eva_step counter_run(void *frame) {
    counter *c = frame;
    ASYNC_BEGIN(c);
    for (c->i = 0; c->i < 3; c->i++) {
        AWAIT(c, eva_sleep_op(1));
        c->steps++;
    }
    AWAIT(c, eva_sleep_op(0)); AWAIT(c, eva_sleep_op(0)); /* two on one line */
    c->steps++;
    ASYNC_FINALLY(c);
    c->finally_runs++;
    ASYNC_END(c);
}

static void on_counter_done(eva_task *t) { ((counter *)t)->done = true; }

static void task_runs_to_completion(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    counter c = {.steps = 0};
    assert_int_equal(eva_task_init(loop, &c.task, counter_run, "counter"), 0);
    assert_int_equal(eva_task_start(&c.task, on_counter_done), 0);
    assert_int_equal(eva_task_get_state(&c.task), EVA_TASK_QUEUED);
    assert_int_equal(c.steps, 0); /* the first step waits for the loop */
    assert_int_equal(eva_task_get_status(&c.task), -EINPROGRESS);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_DEFAULT), 0);
    assert_true(c.done);
    assert_int_equal(c.steps, 4);
    assert_int_equal(c.finally_runs, 1);
    assert_int_equal(eva_task_get_status(&c.task), 0);
    assert_string_equal(eva_task_get_message(&c.task), "success");
    assert_int_equal(eva_task_get_state(&c.task), EVA_TASK_DONE);
    /* a finished caller-owned task may be started again */
    c = (counter){.task = c.task};
    assert_int_equal(eva_task_start(&c.task, on_counter_done), 0);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_DEFAULT), 0);
    assert_int_equal(c.steps, 4);
    test_loop_destroy(loop);
}

/* ---- nesting 3 deep, values and errors ----------------------------------- */

typedef struct leaf {
    eva_task task;
    int input;
    int output;
    int finally_runs;
} leaf;

static eva_step leaf_run(void *frame) {
    leaf *l = frame;
    ASYNC_BEGIN(l);
    AWAIT(l, eva_sleep_op(1));
    if (l->input < 0)
        ASYNC_FAIL(l, -EIO, "leaf: disk on fire");
    l->output = l->input * 2;
    ASYNC_FINALLY(l);
    l->finally_runs++;
    ASYNC_END(l);
}

typedef struct middle {
    eva_task task;
    leaf leaf;
    int input;
    int output;
    int finally_runs;
} middle;

static eva_step middle_run(void *frame) {
    middle *m = frame;
    ASYNC_BEGIN(m);
    m->leaf.input = m->input;
    AWAIT(m, EVA_ASYNC(leaf_run, &m->leaf)); /* errors propagate */
    m->output = m->leaf.output + 1;
    ASYNC_FINALLY(m);
    m->finally_runs++;
    ASYNC_END(m);
}

typedef struct top {
    eva_task task;
    middle middle;
    int input;
    int output;
    int rc;
    const char *message;
} top;

static eva_step top_run(void *frame) {
    top *t = frame;
    ASYNC_BEGIN(t);
    t->middle.input = t->input;
    AWAIT_RC(t, t->rc, EVA_ASYNC(middle_run, &t->middle)); /* errors caught */
    if (t->rc < 0) {
        t->message = eva_task_get_message(&t->middle.task);
        ASYNC_RETURN(t, 0);
    }
    t->output = t->middle.output;
    ASYNC_END(t);
}

static void run_top(int input, top *t) {
    eva_loop *loop = test_loop_new();
    *t = (top){.input = input};
    eva_task_init(loop, &t->task, top_run, "top");
    eva_task_start(&t->task, NULL);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_DEFAULT), 0);
    test_loop_destroy(loop);
}

static void nested_three_deep_returns_values(void **state) {
    (void)state;
    top t;
    run_top(20, &t);
    assert_int_equal(eva_task_get_status(&t.task), 0);
    assert_int_equal(t.rc, 0);
    assert_int_equal(t.output, 41);
    assert_int_equal(t.middle.finally_runs, 1);
    assert_int_equal(t.middle.leaf.finally_runs, 1);
}

static void errors_propagate_with_message(void **state) {
    (void)state;
    top t;
    run_top(-1, &t);
    assert_int_equal(t.rc, -EIO);
    assert_non_null(t.message);
    assert_string_equal(t.message, "leaf: disk on fire");
    assert_int_equal(eva_task_get_status(&t.middle.task), -EIO);
    assert_int_equal(t.middle.finally_runs, 1); /* cleanup ran on the error path */
    assert_int_equal(t.middle.leaf.finally_runs, 1);
    assert_int_equal(eva_task_get_status(&t.task), 0); /* top handled it */
}

/* A child that finishes without ever suspending. */
typedef struct instant {
    eva_task task;
    int fail;
} instant;

static eva_step instant_run(void *frame) {
    instant *i = frame;
    ASYNC_BEGIN(i);
    if (i->fail)
        ASYNC_FAIL(i, -EPERM, "instant refusal");
    ASYNC_END(i);
}

typedef struct caller {
    eva_task task;
    instant child;
    int rc1, rc2;
} caller;

static eva_step caller_run(void *frame) {
    caller *c = frame;
    ASYNC_BEGIN(c);
    c->child.fail = 0;
    AWAIT_RC(c, c->rc1, EVA_ASYNC(instant_run, &c->child));
    c->child.fail = 1;
    AWAIT(c, EVA_ASYNC(instant_run, &c->child));
    c->rc2 = 1; /* not reached: the failure propagates */
    ASYNC_END(c);
}

static void child_finishing_synchronously(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    caller c = {.rc1 = 99};
    eva_task_init(loop, &c.task, caller_run, "caller");
    eva_task_start(&c.task, NULL);
    eva_loop_run(loop, EVA_RUN_DEFAULT);
    assert_int_equal(c.rc1, 0);
    assert_int_equal(c.rc2, 0);
    assert_int_equal(eva_task_get_status(&c.task), -EPERM);
    assert_string_equal(eva_task_get_message(&c.task), "instant refusal");
    test_loop_destroy(loop);
}

/* ---- YIELD and AWAIT_UNTIL ------------------------------------------------ */

typedef struct trace {
    char log[16];
    int n;
} trace;

typedef struct yielder {
    eva_task task;
    char tag;
    int i;
    trace *tr;
} yielder;

static eva_step yielder_run(void *frame) {
    yielder *y = frame;
    ASYNC_BEGIN(y);
    for (y->i = 0; y->i < 3; y->i++) {
        y->tr->log[y->tr->n++] = y->tag;
        YIELD(y);
    }
    ASYNC_END(y);
}

static void yield_interleaves_tasks(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    trace tr = {.n = 0};
    yielder a = {.tag = 'a', .tr = &tr}, b = {.tag = 'b', .tr = &tr};
    eva_task_init(loop, &a.task, yielder_run, "a");
    eva_task_init(loop, &b.task, yielder_run, "b");
    eva_task_start(&a.task, NULL);
    eva_task_start(&b.task, NULL);
    eva_loop_run(loop, EVA_RUN_DEFAULT);
    /* each YIELD lets the other task step before the yielder steps again;
     * which of two tasks ready together goes first is not promised */
    assert_int_equal(tr.n, 6);
    for (int i = 0; i < 6; i += 2)
        assert_true(strchr("ab", tr.log[i]) && tr.log[i + 1] == (tr.log[i] == 'a' ? 'b' : 'a'));
    test_loop_destroy(loop);
}

typedef struct until {
    eva_task task;
    bool flag;
    int woke;
} until;

static eva_step until_run(void *frame) {
    until *u = frame;
    ASYNC_BEGIN(u);
    AWAIT_UNTIL(u, u->flag);
    u->woke++;
    ASYNC_END(u);
}

static void on_set_flag(eva_timer *t) { ((until *)t->data)->flag = true; }

static void await_until_waits_for_condition(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    until u = {.flag = false};
    eva_timer t;
    eva_timer_init(loop, &t);
    eva_timer_start(&t, 5, 0, on_set_flag, &u);
    eva_task_init(loop, &u.task, until_run, "until");
    eva_task_start(&u.task, NULL);
    eva_loop_run(loop, EVA_RUN_DEFAULT);
    assert_true(u.flag);
    assert_int_equal(u.woke, 1);
    test_loop_destroy(loop);
}

/* ---- cancellation ---------------------------------------------------------- */

typedef struct sleeper {
    eva_task task;
    int64_t ms;
    int finally_runs;
    int after_sleep;
    int order; /* global finally order, for nesting */
    int *clock;
} sleeper;

static eva_step sleeper_run(void *frame) {
    sleeper *s = frame;
    ASYNC_BEGIN(s);
    AWAIT(s, eva_sleep_op(s->ms));
    s->after_sleep++;
    ASYNC_FINALLY(s);
    s->finally_runs++;
    if (s->clock)
        s->order = ++*s->clock;
    ASYNC_END(s);
}

static void on_cancel_timer(eva_timer *t) { eva_task_cancel(t->data); }

static void cancel_stops_a_sleep(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    sleeper s = {.ms = 60 * 60 * 1000};
    eva_task_init(loop, &s.task, sleeper_run, "sleeper");
    eva_task_start(&s.task, NULL);
    eva_timer t;
    eva_timer_init(loop, &t);
    eva_timer_start(&t, 1, 0, on_cancel_timer, &s.task);
    /* returns only because the hour-long timer was stopped */
    assert_int_equal(eva_loop_run(loop, EVA_RUN_DEFAULT), 0);
    assert_int_equal(eva_task_get_status(&s.task), -ECANCELED);
    assert_int_equal(s.after_sleep, 0);
    assert_int_equal(s.finally_runs, 1);
    assert_int_equal(eva_task_cancel(&s.task), 0); /* idempotent after done */
    test_loop_destroy(loop);
}

static void cancel_before_first_step(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    sleeper s = {.ms = 1};
    eva_task_init(loop, &s.task, sleeper_run, "sleeper");
    eva_task_start(&s.task, NULL);
    assert_int_equal(eva_task_cancel(&s.task), 0);
    assert_int_equal(eva_task_cancel(&s.task), 0);
    eva_loop_run(loop, EVA_RUN_DEFAULT);
    assert_int_equal(eva_task_get_status(&s.task), -ECANCELED);
    assert_int_equal(s.finally_runs, 0); /* it never ran, so nothing to clean */
    test_loop_destroy(loop);
}

typedef struct parent_of_sleeper {
    eva_task task;
    sleeper child;
    int finally_runs;
    int order;
    int clock;
} parent_of_sleeper;

static eva_step parent_run(void *frame) {
    parent_of_sleeper *p = frame;
    ASYNC_BEGIN(p);
    p->child.ms = 60 * 60 * 1000;
    p->child.clock = &p->clock;
    AWAIT(p, EVA_ASYNC(sleeper_run, &p->child));
    ASYNC_FINALLY(p);
    p->finally_runs++;
    p->order = ++p->clock;
    ASYNC_END(p);
}

static void cancel_reaches_nested_child(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    parent_of_sleeper p = {.clock = 0};
    eva_task_init(loop, &p.task, parent_run, "parent");
    eva_task_start(&p.task, NULL);
    eva_timer t;
    eva_timer_init(loop, &t);
    eva_timer_start(&t, 1, 0, on_cancel_timer, &p.task);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_DEFAULT), 0);
    assert_int_equal(eva_task_get_status(&p.task), -ECANCELED);
    assert_int_equal(eva_task_get_status(&p.child.task), -ECANCELED);
    assert_int_equal(p.child.finally_runs, 1);
    assert_int_equal(p.finally_runs, 1);
    assert_int_equal(p.child.order, 1); /* the child cleans up before its parent */
    assert_int_equal(p.order, 2);
    test_loop_destroy(loop);
}

typedef struct self_cancel {
    eva_task task;
    int rc;
} self_cancel;

static eva_step self_cancel_run(void *frame) {
    self_cancel *s = frame;
    ASYNC_BEGIN(s);
    eva_task_cancel(&s->task); /* while running: the next AWAIT fails */
    AWAIT_RC(s, s->rc, eva_sleep_op(0));
    ASYNC_RETURN(s, s->rc);
    ASYNC_END(s);
}

static void cancel_while_running(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    self_cancel s = {.rc = 1};
    eva_task_init(loop, &s.task, self_cancel_run, "self");
    eva_task_start(&s.task, NULL);
    eva_loop_run(loop, EVA_RUN_DEFAULT);
    assert_int_equal(s.rc, -ECANCELED);
    assert_int_equal(eva_task_get_status(&s.task), -ECANCELED);
    test_loop_destroy(loop);
}

static void cancel_during_yield(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    trace tr = {.n = 0};
    yielder y = {.tag = 'y', .tr = &tr};
    eva_task_init(loop, &y.task, yielder_run, "y");
    eva_task_start(&y.task, NULL);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_NOWAIT), 1); /* first step: yields */
    assert_int_equal(eva_task_get_state(&y.task), EVA_TASK_QUEUED);
    eva_task_cancel(&y.task);
    eva_loop_run(loop, EVA_RUN_DEFAULT);
    assert_int_equal(eva_task_get_status(&y.task), -ECANCELED);
    assert_string_equal(tr.log, "y");
    test_loop_destroy(loop);
}

/* ---- where a task is parked ----------------------------------------------- */

static int parked_line;

typedef struct parker {
    eva_task task;
} parker;

static eva_step parker_run(void *frame) {
    parker *p = frame;
    ASYNC_BEGIN(p);
    parked_line = __LINE__ + 1;
    AWAIT(p, eva_sleep_op(60 * 60 * 1000));
    ASYNC_END(p);
}

static void site_names_the_parked_await(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    parker p;
    eva_task_init(loop, &p.task, parker_run, "parker");
    assert_null(eva_task_get_site(&p.task));
    eva_task_start(&p.task, NULL);
    eva_loop_run(loop, EVA_RUN_NOWAIT);
    assert_int_equal(eva_task_get_state(&p.task), EVA_TASK_SUSPENDED);
    const eva_site *site = eva_task_get_site(&p.task);
    assert_non_null(site);
    assert_int_equal(site->line, parked_line);
    assert_non_null(strstr(site->file, "test_task.c"));
    assert_string_equal(site->expr, "eva_sleep_op(60 * 60 * 1000)");
    assert_string_equal(p.task.wait->kind, "timer");
#ifdef EVA_AWAIT_SWITCH
    assert_null(site->label); /* resumed through switch/case */
    assert_true(site->index > 0);
#else
    assert_non_null(site->label); /* resumed through a label address */
#endif
    eva_task_cancel(&p.task);
    eva_loop_run(loop, EVA_RUN_DEFAULT);
    test_loop_destroy(loop);
}

/* ---- spawn and destroy ----------------------------------------------------- */

static int spawned_done;

static void on_spawned_done(eva_task *t) {
    assert_int_equal(eva_task_get_status(t), 0);
    spawned_done++;
}

static void spawned_frame_is_freed_by_the_loop(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    spawned_done = 0;
    for (int i = 0; i < 3; i++) {
        sleeper *s = NULL;
        assert_int_equal(eva_task_spawn(loop, sizeof *s, sleeper_run, "spawned",
                                        on_spawned_done, (void **)&s), 0);
        s->ms = i; /* filled in before the first step runs */
    }
    assert_int_equal(eva_loop_run(loop, EVA_RUN_DEFAULT), 0);
    assert_int_equal(spawned_done, 3);
    test_loop_destroy(loop); /* ASan reports the frames if they leaked */
}

static void destroy_cancels_suspended_tasks(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    parent_of_sleeper owned = {.clock = 0};
    eva_task_init(loop, &owned.task, parent_run, "owned");
    eva_task_start(&owned.task, NULL);
    sleeper *spawned = NULL;
    eva_task_spawn(loop, sizeof *spawned, sleeper_run, "spawned", NULL, (void **)&spawned);
    spawned->ms = 60 * 60 * 1000;
    sleeper never_ran = {.ms = 1};
    eva_task_init(loop, &never_ran.task, sleeper_run, "never");
    eva_loop_run(loop, EVA_RUN_NOWAIT); /* both are now parked on hour-long timers */
    eva_task_start(&never_ran.task, NULL);
    test_loop_destroy(loop);
    assert_int_equal(eva_task_get_status(&owned.task), -ECANCELED);
    assert_int_equal(owned.finally_runs, 1);
    assert_int_equal(owned.child.finally_runs, 1);
    assert_int_equal(eva_task_get_status(&never_ran.task), -ECANCELED);
}

/* ---- invalid arguments and allocation failure ---------------------------- */

static void task_rejects_invalid_arguments(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    counter c;
    void *frame = NULL;
    assert_int_equal(eva_task_init(NULL, &c.task, counter_run, "c"), -EINVAL);
    assert_int_equal(eva_task_init(loop, NULL, counter_run, "c"), -EINVAL);
    assert_int_equal(eva_task_init(loop, &c.task, NULL, "c"), -EINVAL);
    assert_int_equal(eva_task_start(NULL, NULL), -EINVAL);
    assert_int_equal(eva_task_cancel(NULL), -EINVAL);
    assert_int_equal(eva_task_get_status(NULL), -EINVAL);
    assert_int_equal(eva_task_spawn(loop, sizeof(eva_task) - 1, counter_run, "c", NULL, &frame), -EINVAL);
    assert_int_equal(eva_task_spawn(loop, sizeof c, counter_run, "c", NULL, NULL), -EINVAL);
    assert_int_equal(eva_task_spawn(NULL, sizeof c, counter_run, "c", NULL, &frame), -EINVAL);
    assert_null(frame);
    eva_task_init(loop, &c.task, counter_run, NULL);
    assert_string_equal(eva_task_get_name(&c.task), "task");
    assert_int_equal(eva_task_start(&c.task, NULL), 0);
    assert_int_equal(eva_task_start(&c.task, NULL), -EBUSY);
    eva_loop_run(loop, EVA_RUN_DEFAULT);
    test_loop_destroy(loop);
}

typedef struct bad_sleep {
    eva_task task;
    int rc;
} bad_sleep;

static eva_step bad_sleep_run(void *frame) {
    bad_sleep *b = frame;
    ASYNC_BEGIN(b);
    AWAIT_RC(b, b->rc, eva_sleep_op(-5));
    AWAIT(b, eva_sleep_op(-5));
    ASYNC_END(b);
}

static void negative_sleep_is_einval(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    bad_sleep b = {.rc = 1};
    eva_task_init(loop, &b.task, bad_sleep_run, "bad");
    eva_task_start(&b.task, NULL);
    eva_loop_run(loop, EVA_RUN_DEFAULT);
    assert_int_equal(b.rc, -EINVAL);
    assert_int_equal(eva_task_get_status(&b.task), -EINVAL);
    test_loop_destroy(loop);
}

static void spawn_and_start_report_enomem(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    test_alloc a = {.fail_after = 0};
    test_alloc_install(&a);
    void *frame = NULL;
    assert_int_equal(eva_task_spawn(loop, sizeof(counter), counter_run, "c", NULL, &frame), -ENOMEM);
    assert_null(frame);
    counter c = {.steps = 0};
    eva_task_init(loop, &c.task, counter_run, "c");
    assert_int_equal(eva_task_start(&c.task, NULL), -ENOMEM); /* the loop's task list */
    a.fail_after = -1;
    assert_int_equal(eva_task_start(&c.task, NULL), 0); /* the loop is still usable */
    eva_loop_run(loop, EVA_RUN_DEFAULT);
    assert_int_equal(c.steps, 4);
    test_loop_destroy(loop);
    test_alloc_install(NULL);
}

/* ---- macro misuse fails loudly ------------------------------------------ */

/* The last log line is an error naming this file and line. */
static void assert_logged_at(const test_log *log, int line) {
    char where[64];
    snprintf(where, sizeof where, "test_task.c:%d", line);
    assert_int_equal(log->level, EVA_LOG_ERROR);
    assert_non_null(strstr(log->last, where));
}

static int finally_await_line;

typedef struct cleanup_awaiter {
    eva_task task;
    bool fail;
    int rc;
    int finally_runs;
    int after_finally_await;
} cleanup_awaiter;

static eva_step failing_cleanup_awaiter_run(void *frame) {
    cleanup_awaiter *c = frame;
    ASYNC_BEGIN(c);
    AWAIT(c, eva_sleep_op(1));
    ASYNC_FAIL(c, -EIO, "boom");
    ASYNC_FINALLY(c);
    c->finally_runs++;
    finally_await_line = __LINE__ + 1;
    AWAIT(c, eva_sleep_op(1));
    c->after_finally_await++;
    ASYNC_END(c);
}

static eva_step cleanup_awaiter_rc_run(void *frame) {
    cleanup_awaiter *c = frame;
    ASYNC_BEGIN(c);
    AWAIT(c, eva_sleep_op(1));
    if (c->fail)
        ASYNC_FAIL(c, -EIO, "boom");
    ASYNC_FINALLY(c);
    c->finally_runs++;
    finally_await_line = __LINE__ + 1;
    AWAIT_RC(c, c->rc, eva_sleep_op(1));
    c->after_finally_await++;
    ASYNC_END(c);
}

static void run_logged(eva_task *task, eva_task_fn fn, test_log *log) {
    eva_loop *loop = test_loop_new();
    test_capture_log(loop, log);
    eva_task_init(loop, task, fn, "misuse");
    eva_task_start(task, NULL);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_DEFAULT), 0);
    test_loop_destroy(loop);
}

static void await_in_finally_keeps_the_original_error(void **state) {
    (void)state;
    cleanup_awaiter c = {.rc = 1};
    test_log log = {.count = 0};
    run_logged(&c.task, failing_cleanup_awaiter_run, &log);
    assert_int_equal(eva_task_get_status(&c.task), -EIO);
    assert_string_equal(eva_task_get_message(&c.task), "boom");
    assert_int_equal(c.finally_runs, 1);
    assert_int_equal(c.after_finally_await, 0); /* AWAIT failing ends the cleanup */
    assert_int_equal(log.count, 1);
    assert_logged_at(&log, finally_await_line);
}

static void await_rc_in_finally_fails_at_once(void **state) {
    (void)state;
    for (int fail = 0; fail <= 1; fail++) {
        cleanup_awaiter c = {.fail = fail, .rc = 1};
        test_log log = {.count = 0};
        run_logged(&c.task, cleanup_awaiter_rc_run, &log);
        assert_int_equal(c.rc, -ECANCELED);
        assert_int_equal(c.after_finally_await, 1); /* AWAIT_RC hands the code over */
        assert_int_equal(c.finally_runs, 1);
        /* the same on both paths: a failure stands, a success is not reported */
        assert_int_equal(eva_task_get_status(&c.task), fail ? -EIO : -ECANCELED);
        assert_string_equal(eva_task_get_message(&c.task), fail ? "boom" : "AWAIT in the finally section");
        assert_int_equal(log.count, 1);
        assert_logged_at(&log, finally_await_line);
    }
}

static int wrong_frame_line;

typedef struct linked {
    eva_task task;
    struct linked *other; /* a frame of the same type: only the address differs */
    int reached;
    int finally_runs;
} linked;

static eva_step wrong_frame_run(void *frame) {
    linked *l = frame;
    ASYNC_BEGIN(l);
    wrong_frame_line = __LINE__ + 1;
    AWAIT(l->other, eva_sleep_op(1));
    l->reached++;
    ASYNC_FINALLY(l);
    l->finally_runs++;
    ASYNC_END(l);
}

static void await_on_another_frame_fails(void **state) {
    (void)state;
    linked other = {.reached = 0};
    linked l = {.other = &other};
    test_log log = {.count = 0};
    run_logged(&l.task, wrong_frame_run, &log);
    assert_int_equal(eva_task_get_status(&l.task), -EFAULT);
    assert_int_equal(l.reached, 0);
    assert_int_equal(l.finally_runs, 1);
    assert_logged_at(&log, wrong_frame_line);
}

#ifdef EVA_AWAIT_SWITCH
/* Only the switch fallback compiles these; with label resume points a stray
 * break is a compile error (tests/compile_fail/break_at_top_level.c). */
static int body_end_line, switch_await_line;

typedef struct misuser {
    eva_task task;
    int which;
    int reached;
    int finally_runs;
} misuser;

static eva_step stray_break_run(void *frame) {
    misuser *m = frame;
    ASYNC_BEGIN(m);
    AWAIT(m, eva_sleep_op(0));
    if (m->which == 1)
        break; /* leaves the body's own switch */
    m->reached++;
    ASYNC_FINALLY(m);
    m->finally_runs++;
    body_end_line = __LINE__ + 1;
    ASYNC_END(m);
}

static eva_step await_in_own_switch_run(void *frame) {
    misuser *m = frame;
    ASYNC_BEGIN(m);
    switch (m->which) {
    case 'a': /* not 1: the AWAIT's own case would collide (and not compile) */
        switch_await_line = __LINE__ + 1;
        AWAIT(m, eva_sleep_op(0));
        m->reached++;
        break;
    default:
        break;
    }
    m->reached++;
    ASYNC_FINALLY(m);
    m->finally_runs++;
    ASYNC_END(m);
}

/* The body ran into fn's misuse: it failed with -EFAULT, skipped the rest,
 * ran its finally section, and the log names *line (set while it ran). */
static void assert_misuse_fails(eva_task_fn fn, int which, const int *line) {
    misuser m = {.which = which};
    test_log log = {.count = 0};
    run_logged(&m.task, fn, &log);
    assert_int_equal(eva_task_get_status(&m.task), -EFAULT);
    assert_int_equal(m.reached, 0);
    assert_int_equal(m.finally_runs, 1);
    assert_logged_at(&log, *line);
}

static void stray_break_fails_the_task(void **state) {
    (void)state;
    assert_misuse_fails(stray_break_run, 1, &body_end_line);
}

static void await_in_own_switch_fails_the_task(void **state) {
    (void)state;
    assert_misuse_fails(await_in_own_switch_run, 'a', &switch_await_line);
}
#endif

/* Found by tests/fuzz/fuzz_api: an EVA_ASYNC child runs inside its
 * parent's AWAIT, before the parent parks; a cancel of the parent from
 * there found it RUNNING and only set its flag, so once parked it waited for
 * the child's hour-long sleep, and loop destroy (seeing the flag) never
 * cancelled it again: the task never finished.  The cancellation now
 * reaches the child as soon as the parent parks. */
typedef struct canceller_child {
    eva_task task;
    eva_task *parent;
} canceller_child;

static eva_step canceller_child_run(void *frame) {
    canceller_child *c = frame;
    ASYNC_BEGIN(c);
    eva_task_cancel(c->parent);
    AWAIT(c, eva_sleep_op(60 * 60 * 1000));
    ASYNC_END(c);
}

typedef struct cancelled_parent {
    eva_task task;
    canceller_child child;
    bool done;
} cancelled_parent;

static eva_step cancelled_parent_run(void *frame) {
    cancelled_parent *p = frame;
    ASYNC_BEGIN(p);
    p->child.parent = &p->task;
    AWAIT(p, EVA_ASYNC(canceller_child_run, &p->child));
    ASYNC_END(p);
}

static void cancelled_parent_done(eva_task *t) { ((cancelled_parent *)t)->done = true; }

static void cancel_from_a_nested_child_before_the_parent_parks(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    cancelled_parent p = {0};
    assert_int_equal(eva_task_init(loop, &p.task, cancelled_parent_run, "parent"), 0);
    assert_int_equal(eva_task_start(&p.task, cancelled_parent_done), 0);
    test_run_until(loop, &p.done, 5000);
    assert_int_equal(eva_task_get_status(&p.task), -ECANCELED);
    assert_int_equal(eva_task_get_status(&p.child.task), -ECANCELED);
    test_loop_destroy(loop);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(task_runs_to_completion),
        cmocka_unit_test(nested_three_deep_returns_values),
        cmocka_unit_test(errors_propagate_with_message),
        cmocka_unit_test(child_finishing_synchronously),
        cmocka_unit_test(yield_interleaves_tasks),
        cmocka_unit_test(await_until_waits_for_condition),
        cmocka_unit_test(cancel_stops_a_sleep),
        cmocka_unit_test(cancel_before_first_step),
        cmocka_unit_test(cancel_reaches_nested_child),
        cmocka_unit_test(cancel_while_running),
        cmocka_unit_test(cancel_during_yield),
        cmocka_unit_test(site_names_the_parked_await),
        cmocka_unit_test(spawned_frame_is_freed_by_the_loop),
        cmocka_unit_test(destroy_cancels_suspended_tasks),
        cmocka_unit_test(task_rejects_invalid_arguments),
        cmocka_unit_test(negative_sleep_is_einval),
        cmocka_unit_test(spawn_and_start_report_enomem),
        cmocka_unit_test(await_in_finally_keeps_the_original_error),
        cmocka_unit_test(await_rc_in_finally_fails_at_once),
        cmocka_unit_test(await_on_another_frame_fails),
        cmocka_unit_test(cancel_from_a_nested_child_before_the_parent_parks),
#ifdef EVA_AWAIT_SWITCH
        cmocka_unit_test(stray_break_fails_the_task),
        cmocka_unit_test(await_in_own_switch_fails_the_task),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
