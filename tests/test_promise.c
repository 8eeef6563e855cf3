/* Promises: settle once, react later (never inside resolve), chains, AWAIT,
 * unhandled rejections, cancellation, the combinators' edge cases, loop
 * destroy and allocation failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "helpers.h"

static void run(eva_loop *loop) { assert_int_equal(eva_loop_run(loop, EVA_RUN_DEFAULT), 0); }

typedef struct seen {
    int calls;
    void *value;
    int code;
    char message[64];
} seen;

static int record(void *arg, eva_promise *settled, eva_promise *next) {
    (void)next;
    seen *s = arg;
    s->calls++;
    s->value = eva_promise_get_value(settled);
    s->code = eva_promise_get_error(settled);
    snprintf(s->message, sizeof s->message, "%s", eva_promise_get_message(settled));
    return 0;
}

static int doubler(void *arg, eva_promise *settled, eva_promise *next) {
    (void)arg;
    int *in = eva_promise_get_value(settled);
    int *out = malloc(sizeof *out);
    *out = *in * 2;
    return eva_promise_resolve(next, out, free);
}

static void reactions_run_later_and_chain(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_promise *p, *doubled, *last;
    assert_int_equal(eva_promise_new(loop, &p), 0);
    assert_int_equal(eva_promise_get_state(p), EVA_PROMISE_PENDING);
    seen s = {0};
    assert_int_equal(eva_promise_then(p, doubler, NULL, NULL, &doubled), 0);
    assert_int_equal(eva_promise_then(doubled, record, NULL, &s, &last), 0);
    int *v = malloc(sizeof *v);
    *v = 21;
    assert_int_equal(eva_promise_resolve(p, v, free), 0);
    assert_int_equal(s.calls, 0); /* never inside resolve */
    assert_int_equal(eva_promise_resolve(p, NULL, NULL), -EALREADY);
    assert_int_equal(eva_promise_reject(p, -EIO, NULL), -EALREADY);
    run(loop);
    assert_int_equal(s.calls, 1);
    assert_int_equal(*(int *)s.value, 42);
    assert_int_equal(eva_promise_get_state(last), EVA_PROMISE_FULFILLED);
    assert_null(eva_promise_get_value(last)); /* record returned 0 without a value */
    /* a reaction added to a settled promise also runs later */
    seen late = {0};
    assert_int_equal(eva_promise_then(p, record, NULL, &late, NULL), 0);
    assert_int_equal(late.calls, 0);
    run(loop);
    assert_int_equal(late.calls, 1);
    assert_int_equal(*(int *)late.value, 21);
    eva_promise_unref(p);
    eva_promise_unref(doubled);
    eva_promise_unref(last);
    test_loop_destroy(loop);
}

static void missing_handlers_pass_outcome_through(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_promise *p, *through, *caught;
    eva_promise_new(loop, &p);
    seen s = {0};
    eva_promise_then(p, record, NULL, &s, &through); /* no rejection handler */
    eva_promise_catch(through, record, &s, &caught);
    eva_promise_reject(p, -EPROTO, "bad frame");
    run(loop);
    assert_int_equal(s.calls, 1); /* only the catch ran */
    assert_int_equal(s.code, -EPROTO);
    assert_string_equal(s.message, "bad frame");
    assert_int_equal(eva_promise_get_error(through), -EPROTO);
    assert_int_equal(eva_promise_get_state(caught), EVA_PROMISE_FULFILLED); /* recovered */
    eva_promise_unref(p);
    eva_promise_unref(through);
    eva_promise_unref(caught);
    test_loop_destroy(loop);
}

static void on_finally(void *arg, eva_promise *settled) {
    (void)settled;
    ++*(int *)arg;
}

static void finally_runs_on_both_outcomes(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_promise *ok, *bad, *ok_next, *bad_next;
    int runs = 0;
    eva_promise_new(loop, &ok);
    eva_promise_new(loop, &bad);
    eva_promise_finally(ok, on_finally, &runs, &ok_next);
    eva_promise_finally(bad, on_finally, &runs, &bad_next);
    static int value = 7;
    eva_promise_resolve(ok, &value, NULL);
    eva_promise_reject(bad, -EIO, NULL);
    run(loop);
    assert_int_equal(runs, 2);
    assert_ptr_equal(eva_promise_get_value(ok_next), &value);
    assert_int_equal(eva_promise_get_error(bad_next), -EIO);
    eva_promise_unref(ok);
    eva_promise_unref(bad);
    eva_promise_unref(ok_next);
    eva_promise_unref(bad_next);
    test_loop_destroy(loop);
}

static void unhandled_rejection_is_reported(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    test_log log;
    test_capture_log(loop, &log);
    eva_promise *lost, *handled, *cancelled;
    eva_promise_new(loop, &lost);
    eva_promise_new(loop, &handled);
    eva_promise_new(loop, &cancelled);
    eva_promise_reject(lost, -ECONNRESET, "peer went away");
    eva_promise_reject(handled, -ECONNRESET, NULL);
    eva_promise_reject(cancelled, -ECANCELED, NULL);
    assert_int_equal(eva_promise_get_error(handled), -ECONNRESET);
    eva_promise_unref(handled);
    eva_promise_unref(cancelled);
    assert_int_equal(log.count, 0);
    eva_promise_unref(lost);
    assert_int_equal(log.count, 1);
    assert_int_equal(log.level, EVA_LOG_WARN);
    assert_non_null(strstr(log.last, "unhandled promise rejection: peer went away"));
    test_loop_destroy(loop);
}

static void adopt_follows_the_source(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_promise *src, *p, *sleeper, *follower;
    eva_promise_new(loop, &src);
    eva_promise_new(loop, &p);
    assert_int_equal(eva_promise_adopt(p, p), -EINVAL);
    assert_int_equal(eva_promise_adopt(p, src), 0);
    assert_int_equal(eva_promise_resolve(p, NULL, NULL), -EALREADY); /* it follows src */
    static int value = 3;
    eva_promise_resolve(src, &value, NULL);
    run(loop);
    assert_ptr_equal(eva_promise_get_value(p), &value);
    /* cancelling a follower cancels what it follows */
    assert_int_equal(eva_sleep_promise(loop, 60 * 60 * 1000, &sleeper), 0);
    eva_promise_new(loop, &follower);
    eva_promise_adopt(follower, sleeper);
    assert_int_equal(eva_promise_cancel(follower), 0);
    run(loop); /* returns at once: the hour-long timer is gone */
    assert_int_equal(eva_promise_get_error(sleeper), -ECANCELED);
    assert_int_equal(eva_promise_get_error(follower), -ECANCELED);
    assert_int_equal(eva_promise_cancel(src), 0); /* settled: nothing to do */
    eva_promise *plain;
    eva_promise_new(loop, &plain);
    assert_int_equal(eva_promise_cancel(plain), -ENOTSUP);
    eva_promise_unref(plain);
    eva_promise_unref(src);
    eva_promise_unref(p);
    eva_promise_unref(sleeper);
    eva_promise_unref(follower);
    test_loop_destroy(loop);
}

/* ---- AWAIT ----------------------------------------------------------------- */

typedef struct awaiter {
    eva_task task;
    eva_promise *p;
    int rc;
    void *value;
} awaiter;

static eva_step awaiter_run(void *frame) {
    awaiter *a = frame;
    ASYNC_BEGIN(a);
    AWAIT_RC(a, a->rc, eva_promise_op(a->p));
    a->value = eva_promise_get_value(a->p);
    AWAIT(a, a->p); /* a promise directly; settled now: no suspension; errors propagate */
    ASYNC_END(a);
}

static void task_awaits_a_promise(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    static int value = 11;
    awaiter ok = {.rc = 1}, bad = {.rc = 1};
    eva_promise_new(loop, &ok.p);
    eva_promise_new(loop, &bad.p);
    eva_task_init(loop, &ok.task, awaiter_run, "ok");
    eva_task_init(loop, &bad.task, awaiter_run, "bad");
    eva_task_start(&ok.task, NULL);
    eva_task_start(&bad.task, NULL);
    eva_loop_run(loop, EVA_RUN_NOWAIT);
    assert_int_equal(eva_task_get_state(&ok.task), EVA_TASK_SUSPENDED);
    assert_string_equal(ok.task.wait->kind, "promise");
    eva_promise_resolve(ok.p, &value, NULL);
    eva_promise_reject(bad.p, -EACCES, "denied");
    run(loop);
    assert_int_equal(ok.rc, 0);
    assert_ptr_equal(ok.value, &value);
    assert_int_equal(eva_task_get_status(&ok.task), 0);
    assert_int_equal(bad.rc, -EACCES);
    assert_int_equal(eva_task_get_status(&bad.task), -EACCES);
    assert_string_equal(eva_task_get_message(&bad.task), "denied");
    eva_promise_unref(ok.p);
    eva_promise_unref(bad.p);
    test_loop_destroy(loop);
}

static void cancelled_awaiter_leaves_promise_alone(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    awaiter a = {.rc = 1};
    eva_promise_new(loop, &a.p);
    eva_task_init(loop, &a.task, awaiter_run, "a");
    eva_task_start(&a.task, NULL);
    eva_loop_run(loop, EVA_RUN_NOWAIT);
    eva_task_cancel(&a.task);
    run(loop);
    assert_int_equal(a.rc, -ECANCELED);
    assert_int_equal(eva_promise_get_state(a.p), EVA_PROMISE_PENDING);
    assert_int_equal(eva_promise_resolve(a.p, NULL, NULL), 0); /* nobody left to wake */
    run(loop);
    eva_promise_unref(a.p);
    test_loop_destroy(loop);
}

/* ---- promise forms of sleep and spawn -------------------------------------- */

typedef struct worker {
    eva_task task;
    int input;
    int output;
    int finally_runs;
} worker;

static eva_step worker_run(void *frame) {
    worker *w = frame;
    ASYNC_BEGIN(w);
    AWAIT(w, eva_sleep_op(w->input < 0 ? 60 * 60 * 1000 : 1));
    if (w->input == 0)
        ASYNC_FAIL(w, -EDOM, "zero is not allowed");
    w->output = w->input + 1;
    ASYNC_FINALLY(w);
    w->finally_runs++;
    ASYNC_END(w);
}

static void spawned_task_settles_its_promise(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    worker *good, *bad, *hung;
    eva_promise *pg, *pb, *ph;
    assert_int_equal(eva_task_spawn_promise(loop, sizeof *good, worker_run, "good", (void **)&good, &pg), 0);
    assert_int_equal(eva_task_spawn_promise(loop, sizeof *bad, worker_run, "bad", (void **)&bad, &pb), 0);
    assert_int_equal(eva_task_spawn_promise(loop, sizeof *hung, worker_run, "hung", (void **)&hung, &ph), 0);
    good->input = 41;
    bad->input = 0;
    hung->input = -1;
    eva_loop_run(loop, EVA_RUN_NOWAIT);
    assert_int_equal(eva_promise_cancel(ph), 0); /* cancels the task */
    run(loop);
    worker *result = eva_promise_get_value(pg);
    assert_ptr_equal(result, good);
    assert_int_equal(result->output, 42); /* the frame outlives the task */
    assert_int_equal(eva_promise_get_error(pb), -EDOM);
    assert_string_equal(eva_promise_get_message(pb), "zero is not allowed");
    assert_null(eva_promise_get_value(pb));
    assert_int_equal(eva_promise_get_error(ph), -ECANCELED);
    eva_promise_unref(pg); /* frees the frames */
    eva_promise_unref(pb);
    eva_promise_unref(ph);
    test_loop_destroy(loop);
}

/* ---- combinators -------------------------------------------------------------- */

static eva_promise *sleeping(eva_loop *loop, int64_t ms) {
    eva_promise *p;
    assert_int_equal(eva_sleep_promise(loop, ms, &p), 0);
    return p;
}

static eva_promise *settled(eva_loop *loop, int code) {
    eva_promise *p;
    eva_promise_new(loop, &p);
    if (code < 0)
        eva_promise_reject(p, code, NULL);
    else
        eva_promise_resolve(p, NULL, NULL);
    return p;
}

static void unref_all(eva_promise **ps, size_t n) {
    for (size_t i = 0; i < n; i++)
        eva_promise_unref(ps[i]);
}

static void all_fulfils_or_fails_fast(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_promise *in[3] = {sleeping(loop, 1), sleeping(loop, 2), settled(loop, 0)}, *all;
    assert_int_equal(eva_promise_all(loop, in, 3, &all), 0);
    run(loop);
    assert_int_equal(eva_promise_get_state(all), EVA_PROMISE_FULFILLED);
    size_t n;
    assert_ptr_equal(eva_promise_get_inputs(all, &n)[2], in[2]);
    assert_int_equal(n, 3);
    eva_promise_unref(all);
    unref_all(in, 3);

    /* one rejection: the rest (an hour-long sleep) is cancelled */
    eva_promise *in2[2] = {sleeping(loop, 60 * 60 * 1000), settled(loop, -EIO)};
    eva_promise_all(loop, in2, 2, &all);
    run(loop); /* returns: the sleep was cancelled */
    assert_int_equal(eva_promise_get_error(all), -EIO);
    assert_int_equal(eva_promise_get_error(in2[0]), -ECANCELED);
    eva_promise_unref(all);
    unref_all(in2, 2);

    assert_int_equal(eva_promise_all(loop, NULL, 0, &all), 0); /* empty: fulfilled */
    assert_int_equal(eva_promise_get_state(all), EVA_PROMISE_FULFILLED);
    assert_null(eva_promise_get_inputs(all, &n));
    assert_int_equal(n, 0);
    eva_promise_unref(all);
    test_loop_destroy(loop);
}

static void all_settled_waits_for_every_input(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_promise *in[3] = {settled(loop, -EIO), sleeping(loop, 2), settled(loop, 0)}, *all;
    eva_promise_all_settled(loop, in, 3, &all);
    run(loop);
    assert_int_equal(eva_promise_get_state(all), EVA_PROMISE_FULFILLED);
    assert_int_equal(eva_promise_get_state(in[1]), EVA_PROMISE_FULFILLED); /* not cancelled */
    assert_int_equal(eva_promise_get_error(in[0]), -EIO);
    eva_promise_unref(all);
    unref_all(in, 3);
    eva_promise_all_settled(loop, NULL, 0, &all);
    assert_int_equal(eva_promise_get_state(all), EVA_PROMISE_FULFILLED);
    eva_promise_unref(all);
    test_loop_destroy(loop);
}

static void any_needs_one_success(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    static int value = 5;
    eva_promise *winner;
    eva_promise_new(loop, &winner);
    eva_promise *in[3] = {settled(loop, -EIO), winner, sleeping(loop, 60 * 60 * 1000)}, *any;
    eva_promise_any(loop, in, 3, &any);
    eva_promise_resolve(winner, &value, NULL);
    run(loop);
    assert_ptr_equal(eva_promise_get_value(any), &value);
    assert_int_equal(eva_promise_get_error(in[2]), -ECANCELED); /* the loser was stopped */
    eva_promise_unref(any);
    unref_all(in, 3);

    eva_promise *fails[2] = {settled(loop, -EIO), settled(loop, -EPERM)};
    eva_promise_any(loop, fails, 2, &any);
    run(loop);
    assert_int_equal(eva_promise_get_error(any), EVA_EALLFAILED);
    size_t n;
    eva_promise *const *errs = eva_promise_get_inputs(any, &n);
    assert_int_equal(n, 2);
    assert_int_equal(eva_promise_get_error(errs[0]), -EIO);
    assert_int_equal(eva_promise_get_error(errs[1]), -EPERM);
    eva_promise_unref(any);
    unref_all(fails, 2);

    eva_promise_any(loop, NULL, 0, &any);
    assert_int_equal(eva_promise_get_error(any), EVA_EALLFAILED);
    eva_promise_unref(any);
    test_loop_destroy(loop);
}

static void race_takes_the_first_to_settle(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_promise *in[3] = {sleeping(loop, 60 * 60 * 1000), sleeping(loop, 1), sleeping(loop, 60 * 60 * 1000)};
    eva_promise *race;
    eva_promise_race(loop, in, 3, &race);
    run(loop);
    assert_int_equal(eva_promise_get_state(race), EVA_PROMISE_FULFILLED);
    assert_int_equal(eva_promise_get_state(in[1]), EVA_PROMISE_FULFILLED);
    assert_int_equal(eva_promise_get_error(in[0]), -ECANCELED);
    assert_int_equal(eva_promise_get_error(in[2]), -ECANCELED);
    eva_promise_unref(race);
    unref_all(in, 3);
    assert_int_equal(eva_promise_race(loop, NULL, 0, &race), -EINVAL);
    test_loop_destroy(loop);
}

static void timeout_rejects_and_cancels(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_promise *slow = sleeping(loop, 60 * 60 * 1000), *t;
    assert_int_equal(eva_promise_timeout(slow, 1, &t), 0);
    run(loop);
    assert_int_equal(eva_promise_get_error(t), -ETIMEDOUT);
    assert_string_equal(eva_promise_get_message(t), "eva_promise_timeout: time ran out before the promise settled");
    assert_int_equal(eva_promise_get_error(slow), -ECANCELED);
    eva_promise_unref(t);
    eva_promise_unref(slow);

    /* the input wins: the hour-long timeout timer is stopped */
    static int value = 9;
    eva_promise *fast;
    eva_promise_new(loop, &fast);
    eva_promise_timeout(fast, 60 * 60 * 1000, &t);
    eva_promise_resolve(fast, &value, NULL);
    run(loop);
    assert_ptr_equal(eva_promise_get_value(t), &value);
    eva_promise_unref(t);
    eva_promise_unref(fast);
    assert_int_equal(eva_promise_timeout(NULL, 1, &t), -EINVAL);
    test_loop_destroy(loop);
}

static void cancelling_a_combinator_cancels_inputs(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_promise *in[2] = {sleeping(loop, 60 * 60 * 1000), sleeping(loop, 60 * 60 * 1000)}, *all;
    eva_promise_all(loop, in, 2, &all);
    assert_int_equal(eva_promise_cancel(all), 0);
    run(loop);
    assert_int_equal(eva_promise_get_error(all), -ECANCELED);
    assert_int_equal(eva_promise_get_error(in[0]), -ECANCELED);
    assert_int_equal(eva_promise_get_error(in[1]), -ECANCELED);
    eva_promise_unref(all);
    unref_all(in, 2);
    test_loop_destroy(loop);
}

/* ---- lifetimes: dropping a reference never loses work ------------------------- */

enum { HOUR_MS = 60 * 60 * 1000 };

typedef struct job {
    eva_loop *loop;
    int steps, done, code;
} job;

static int count_step(void *arg, eva_promise *settled_p, eva_promise *next) {
    (void)settled_p;
    (void)next;
    ((job *)arg)->steps++;
    return 0;
}

/* Step one's reaction starts step two and hands its promise on (adopt). */
static int start_step_two(void *arg, eva_promise *settled_p, eva_promise *next) {
    job *j = arg;
    count_step(j, settled_p, next);
    eva_promise *two, *after;
    assert_int_equal(eva_sleep_promise(j->loop, 1, &two), 0);
    assert_int_equal(eva_promise_then(two, count_step, NULL, j, &after), 0);
    assert_int_equal(eva_promise_adopt(next, after), 0);
    eva_promise_unref(two);
    eva_promise_unref(after);
    return 0;
}

static int job_done(void *arg, eva_promise *settled_p, eva_promise *next) {
    (void)next;
    job *j = arg;
    j->done++;
    j->code = eva_promise_get_error(settled_p);
    return 0;
}

/* The job of issue 12: every reference dropped at once, as docs/async.md
 * once suggested; the chain still runs to its end. */
static void start_dropped_job(eva_loop *loop, job *j) {
    *j = (job){.loop = loop};
    eva_promise *one = sleeping(loop, 1), *chain;
    assert_int_equal(eva_promise_then(one, start_step_two, NULL, j, &chain), 0);
    assert_int_equal(eva_promise_then(chain, job_done, job_done, j, NULL), 0);
    eva_promise_unref(one);
    eva_promise_unref(chain);
}

static void dropped_then_chain_still_runs(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    job j;
    start_dropped_job(loop, &j);
    run(loop);
    assert_int_equal(j.steps, 2);
    assert_int_equal(j.done, 1);
    assert_int_equal(j.code, 0);
    test_loop_destroy(loop);
}

static void dropped_combinators_still_settle(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    seen s[5] = {{0}};
    eva_promise *result[5];
    eva_promise *all_in[2] = {sleeping(loop, 1), sleeping(loop, 2)};
    assert_int_equal(eva_promise_all(loop, all_in, 2, &result[0]), 0);
    eva_promise *settled_in[2] = {sleeping(loop, 1), settled(loop, -EIO)};
    assert_int_equal(eva_promise_all_settled(loop, settled_in, 2, &result[1]), 0);
    eva_promise *any_in[2] = {settled(loop, -EIO), sleeping(loop, 1)};
    assert_int_equal(eva_promise_any(loop, any_in, 2, &result[2]), 0);
    /* finite losers: a test of the old code, which dropped the combinators, still ends */
    eva_promise *race_in[2] = {sleeping(loop, 100), sleeping(loop, 1)};
    assert_int_equal(eva_promise_race(loop, race_in, 2, &result[3]), 0);
    eva_promise *slow = sleeping(loop, 100); /* armed first, due later: the timeout wins */
    assert_int_equal(eva_promise_timeout(slow, 1, &result[4]), 0);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(eva_promise_then(result[i], record, record, &s[i], NULL), 0);
        eva_promise_unref(result[i]); /* nobody holds a combinator's promise any more */
    }
    unref_all(all_in, 2);
    unref_all(settled_in, 2);
    unref_all(any_in, 2);
    unref_all(race_in, 2);
    eva_promise_unref(slow);
    run(loop);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(s[i].calls, 1);
        assert_int_equal(s[i].code, 0);
    }
    assert_int_equal(s[4].calls, 1);
    assert_int_equal(s[4].code, -ETIMEDOUT);
    test_loop_destroy(loop);
}

static void settled_unreferenced_chain_is_freed(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_promise *warm_up; /* the loop's async state is made on first use */
    eva_promise_new(loop, &warm_up);
    eva_promise_unref(warm_up);
    test_alloc a = {.fail_after = -1};
    test_alloc_install(&a);
    job j;
    start_dropped_job(loop, &j);
    eva_promise *in[2] = {sleeping(loop, 1), sleeping(loop, 100)}, *race;
    eva_promise_race(loop, in, 2, &race);
    eva_promise_then(race, count_step, NULL, &j, NULL);
    eva_promise_unref(race);
    unref_all(in, 2);
    assert_true(a.live > 0);
    run(loop);
    assert_int_equal(j.done, 1);
    assert_int_equal(j.steps, 3); /* the job's two, and the race's */
    assert_int_equal(a.live, 0); /* every promise, reaction and combinator freed */
    test_alloc_install(NULL);
    test_loop_destroy(loop);
}

static void cancel_stops_a_dropped_chain(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    job j = {.loop = loop};
    eva_promise *hour = sleeping(loop, HOUR_MS), *step, *last;
    assert_int_equal(eva_promise_then(hour, count_step, NULL, &j, &step), 0);
    assert_int_equal(eva_promise_then(step, count_step, job_done, &j, &last), 0);
    eva_promise_unref(hour);
    eva_promise_unref(step);
    assert_int_equal(eva_promise_cancel(last), 0); /* the end of the chain stops all of it */
    run(loop); /* returns at once: the hour-long timer is gone */
    assert_int_equal(j.steps, 0);
    assert_int_equal(j.done, 0); /* withdrawn, not run with the cancellation */
    assert_int_equal(eva_promise_get_error(last), -ECANCELED);
    assert_int_equal(eva_promise_cancel(last), 0); /* settled: nothing to do */
    eva_promise_unref(last);

    /* a combinator's promise: its reaction sees the cancellation */
    eva_promise *in[2] = {sleeping(loop, HOUR_MS), sleeping(loop, HOUR_MS)}, *all;
    eva_promise_all(loop, in, 2, &all);
    eva_promise_then(all, count_step, job_done, &j, NULL);
    unref_all(in, 2);
    assert_int_equal(eva_promise_cancel(all), 0);
    eva_promise_unref(all);
    run(loop);
    assert_int_equal(j.steps, 0);
    assert_int_equal(j.done, 1);
    assert_int_equal(j.code, -ECANCELED);
    test_loop_destroy(loop);
}

static void dropped_rejection_is_still_reported(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    test_log log;
    test_capture_log(loop, &log);
    eva_promise *fails, *in[2], *all;
    eva_promise_new(loop, &fails);
    in[0] = sleeping(loop, 1);
    in[1] = fails;
    eva_promise_all(loop, in, 2, &all);
    eva_promise_unref(all); /* nobody will look at its outcome */
    unref_all(in, 1);
    eva_promise_reject(fails, -ECONNREFUSED, "db refused");
    eva_promise_unref(fails);
    run(loop);
    assert_int_equal(log.count, 1);
    assert_int_equal(log.level, EVA_LOG_WARN);
    assert_non_null(strstr(log.last, "unhandled promise rejection: db refused"));
    test_loop_destroy(loop);
}

static void releasing_an_unsettleable_promise_is_reported(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    test_log log;
    test_capture_log(loop, &log);
    eva_promise *p, *next;
    eva_promise_new(loop, &p);
    seen s = {0};
    eva_promise_then(p, record, record, &s, &next);
    eva_promise_unref(p); /* only we could have settled it */
    assert_int_equal(log.count, 1);
    assert_non_null(strstr(log.last, "nobody can settle it"));
    assert_int_equal(eva_promise_get_error(next), -ECANCELED);
    assert_int_equal(s.calls, 0);
    eva_promise_unref(next);
    test_loop_destroy(loop);
}

/* ---- destroy and allocation failure ------------------------------------------ */

static void destroy_settles_pending_promises(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_promise *plain, *sleep, *next;
    eva_promise_new(loop, &plain);
    eva_promise *dropped = sleeping(loop, 60 * 60 * 1000);
    sleep = sleeping(loop, 60 * 60 * 1000);
    seen s = {0};
    eva_promise_then(plain, NULL, record, &s, &next);
    eva_promise_then(dropped, NULL, NULL, NULL, NULL);
    eva_promise_unref(dropped);
    awaiter a = {.rc = 1};
    a.p = eva_promise_ref(sleep);
    eva_task_init(loop, &a.task, awaiter_run, "a");
    eva_task_start(&a.task, NULL);
    eva_loop_run(loop, EVA_RUN_NOWAIT);
    test_loop_destroy(loop);
    assert_int_equal(s.calls, 1); /* the reaction ran, with the cancellation */
    assert_int_equal(s.code, -ECANCELED);
    assert_int_equal(a.rc, -ECANCELED);
    assert_int_equal(eva_task_get_status(&a.task), -ECANCELED);
    /* the survivors are detached from the dead loop and may still be released */
    assert_int_equal(eva_promise_get_error(sleep), -ECANCELED);
    assert_int_equal(eva_promise_then(plain, record, NULL, &s, NULL), -EINVAL);
    eva_promise_unref(a.p);
    eva_promise_unref(plain);
    eva_promise_unref(sleep);
    eva_promise_unref(next);
}

static void allocation_failure_registers_nothing(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_promise *p, *q, *out = NULL;
    eva_promise_new(loop, &p);
    eva_promise_new(loop, &q);
    eva_promise *both[2] = {p, q};
    test_alloc a = {.fail_after = -1};
    test_alloc_install(&a);
    for (int budget = 0; budget < 4; budget++) {
        a.fail_after = budget;
        int rc = eva_promise_all(loop, both, 2, &out);
        if (rc == 0) {
            eva_promise_unref(out);
            continue;
        }
        assert_int_equal(rc, -ENOMEM);
    }
    a.fail_after = 0;
    assert_int_equal(eva_promise_new(loop, &out), -ENOMEM);
    assert_int_equal(eva_promise_then(p, record, NULL, NULL, &out), -ENOMEM);
    a.fail_after = 1; /* the reaction, not its promise */
    assert_int_equal(eva_promise_then(p, record, NULL, NULL, &out), -ENOMEM);
    assert_int_equal(eva_sleep_promise(loop, 1, &out), -ENOMEM);
    test_alloc_install(NULL);
    seen s = {0};
    assert_int_equal(eva_promise_then(p, record, NULL, &s, NULL), 0);
    eva_promise_resolve(p, NULL, NULL);
    run(loop);
    assert_int_equal(s.calls, 1); /* only the reaction that was registered */
    eva_promise_unref(p);
    eva_promise_unref(q);
    test_loop_destroy(loop);
}

static void promise_rejects_invalid_arguments(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_promise *p, *out;
    eva_promise_new(loop, &p);
    assert_int_equal(eva_promise_new(NULL, &out), -EINVAL);
    assert_int_equal(eva_promise_new(loop, NULL), -EINVAL);
    assert_int_equal(eva_promise_resolve(NULL, NULL, NULL), -EINVAL);
    assert_int_equal(eva_promise_reject(p, 0, NULL), -EINVAL);
    assert_int_equal(eva_promise_reject(p, 5, NULL), -EINVAL);
    assert_int_equal(eva_promise_then(NULL, record, NULL, NULL, NULL), -EINVAL);
    assert_int_equal(eva_promise_finally(p, NULL, NULL, NULL), -EINVAL);
    assert_int_equal(eva_promise_adopt(NULL, p), -EINVAL);
    assert_int_equal(eva_promise_cancel(NULL), -EINVAL);
    assert_int_equal(eva_promise_get_error(NULL), -EINVAL);
    assert_int_equal(eva_sleep_promise(loop, -1, &out), -EINVAL);
    eva_promise *holes[2] = {p, NULL};
    assert_int_equal(eva_promise_all(loop, holes, 2, &out), -EINVAL);
    assert_int_equal(eva_promise_all(loop, NULL, 2, &out), -EINVAL);
    eva_loop *other = test_loop_new();
    assert_int_equal(eva_promise_race(other, holes, 1, &out), -EINVAL); /* other loop */
    test_loop_destroy(other);
    eva_promise_unref(NULL);
    eva_promise_unref(p);
    test_loop_destroy(loop);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reactions_run_later_and_chain),
        cmocka_unit_test(missing_handlers_pass_outcome_through),
        cmocka_unit_test(finally_runs_on_both_outcomes),
        cmocka_unit_test(unhandled_rejection_is_reported),
        cmocka_unit_test(adopt_follows_the_source),
        cmocka_unit_test(task_awaits_a_promise),
        cmocka_unit_test(cancelled_awaiter_leaves_promise_alone),
        cmocka_unit_test(spawned_task_settles_its_promise),
        cmocka_unit_test(all_fulfils_or_fails_fast),
        cmocka_unit_test(all_settled_waits_for_every_input),
        cmocka_unit_test(any_needs_one_success),
        cmocka_unit_test(race_takes_the_first_to_settle),
        cmocka_unit_test(timeout_rejects_and_cancels),
        cmocka_unit_test(cancelling_a_combinator_cancels_inputs),
        cmocka_unit_test(dropped_then_chain_still_runs),
        cmocka_unit_test(dropped_combinators_still_settle),
        cmocka_unit_test(settled_unreferenced_chain_is_freed),
        cmocka_unit_test(cancel_stops_a_dropped_chain),
        cmocka_unit_test(dropped_rejection_is_still_reported),
        cmocka_unit_test(releasing_an_unsettleable_promise_is_reported),
        cmocka_unit_test(destroy_settles_pending_promises),
        cmocka_unit_test(allocation_failure_registers_nothing),
        cmocka_unit_test(promise_rejects_invalid_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
