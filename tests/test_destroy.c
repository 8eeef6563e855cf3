/* eva_loop_destroy: refuses with -EBUSY while handles are active (and changes
 * nothing); otherwise completes every pending request with -ECANCELED. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "helpers.h"

static void on_fire(eva_timer *t) { ++*(int *)t->data; }

static void destroy_with_active_handle_is_refused(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int fired = 0;
    eva_timer t;
    eva_timer_init(loop, &t);
    eva_timer_start(&t, 1, 0, on_fire, &fired);
    assert_int_equal(eva_loop_destroy(loop), -EBUSY);
    /* the loop is unchanged and still runs the timer */
    assert_int_equal(eva_loop_get_active_handles(loop), 1);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_DEFAULT), 0);
    assert_int_equal(fired, 1);
    test_loop_destroy(loop);
}

typedef struct cancelled {
    eva_call call;
    eva_call follow_up;
    int status;
    int runs;
    int follow_up_status;
    int follow_up_runs;
} cancelled;

static void on_follow_up(eva_loop *loop, int status, void *arg) {
    (void)loop;
    cancelled *c = arg;
    c->follow_up_status = status;
    c->follow_up_runs++;
}

static void on_cancelled(eva_loop *loop, int status, void *arg) {
    cancelled *c = arg;
    c->status = status;
    c->runs++;
    /* cleanup that queues more work during destroy: it is cancelled too */
    assert_int_equal(eva_loop_defer(loop, &c->follow_up, on_follow_up, c), 0);
}

static void destroy_cancels_pending_calls(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    cancelled c = {.status = 1, .follow_up_status = 1};
    eva_loop_defer(loop, &c.call, on_cancelled, &c);
    test_loop_destroy(loop);
    assert_int_equal(c.runs, 1);
    assert_int_equal(c.status, -ECANCELED);
    assert_int_equal(c.follow_up_runs, 1);
    assert_int_equal(c.follow_up_status, -ECANCELED);
}

static void stop_makes_run_return(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int fired = 0;
    eva_timer forever;
    eva_timer_init(loop, &forever);
    eva_timer_start(&forever, 0, 1, on_fire, &fired); /* every ms, for ever */
    eva_loop_stop(loop); /* not running: no effect on the next run... */
    assert_int_equal(eva_loop_run(loop, EVA_RUN_NOWAIT), 1);
    assert_int_equal(eva_timer_stop(&forever), 0);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_NOWAIT), 0);
    test_loop_destroy(loop);
}

typedef struct stopper {
    eva_timer tick;
    int ticks;
} stopper;

static void on_tick_stop(eva_timer *t) {
    stopper *s = t->data;
    if (++s->ticks == 3)
        eva_loop_stop(s->tick.loop);
}

static void stop_from_callback_ends_default_run(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    stopper s = {.ticks = 0};
    eva_timer_init(loop, &s.tick);
    eva_timer_start(&s.tick, 0, 1, on_tick_stop, &s);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_DEFAULT), 1); /* stopped, still active */
    assert_int_equal(s.ticks, 3);
    eva_timer_stop(&s.tick);
    test_loop_destroy(loop);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(destroy_with_active_handle_is_refused),
        cmocka_unit_test(destroy_cancels_pending_calls),
        cmocka_unit_test(stop_makes_run_return),
        cmocka_unit_test(stop_from_callback_ends_default_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
