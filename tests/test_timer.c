/* Timers fire in expiry order and once; stopped timers never fire; repeating
 * timers repeat until stopped; a one-shot timer may free itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <cmocka.h>

#include "helpers.h"

typedef struct record {
    int order[8];
    int n;
} record;

typedef struct tagged_timer {
    eva_timer timer;
    int tag;
    int fired;
    record *rec;
} tagged_timer;

static void on_tagged(eva_timer *t) {
    tagged_timer *tt = t->data;
    tt->fired++;
    tt->rec->order[tt->rec->n++] = tt->tag;
}

static void timers_fire_in_order_once(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    static const int64_t delays[5] = {50, 10, 30, 20, 40};
    record rec = {.n = 0};
    tagged_timer tt[5];
    for (int i = 0; i < 5; i++) {
        tt[i] = (tagged_timer){.tag = (int)delays[i], .rec = &rec};
        assert_int_equal(eva_timer_init(loop, &tt[i].timer), 0);
        assert_int_equal(eva_timer_start(&tt[i].timer, delays[i], 0, on_tagged, &tt[i]), 0);
    }
    assert_int_equal(eva_loop_get_active_handles(loop), 5);
    /* With nothing else active, the loop returns once every timer has fired. */
    assert_int_equal(eva_loop_run(loop, EVA_RUN_DEFAULT), 0);
    assert_int_equal(rec.n, 5);
    int expected[5] = {10, 20, 30, 40, 50};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(rec.order[i], expected[i]);
        assert_int_equal(tt[i].fired, 1);
        assert_false(eva_timer_is_active(&tt[i].timer));
    }
    assert_int_equal(eva_loop_get_active_handles(loop), 0);
    test_loop_destroy(loop);
}

static void stopped_timer_never_fires(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    record rec = {.n = 0};
    tagged_timer a = {.tag = 1, .rec = &rec}, b = {.tag = 2, .rec = &rec};
    eva_timer_init(loop, &a.timer);
    eva_timer_init(loop, &b.timer);
    eva_timer_start(&a.timer, 1, 0, on_tagged, &a);
    eva_timer_start(&b.timer, 2, 0, on_tagged, &b);
    assert_int_equal(eva_timer_stop(&a.timer), 0);
    assert_int_equal(eva_timer_stop(&a.timer), 0); /* idempotent */
    assert_int_equal(eva_loop_run(loop, EVA_RUN_DEFAULT), 0);
    assert_int_equal(a.fired, 0);
    assert_int_equal(b.fired, 1);
    test_loop_destroy(loop);
}

/* Two timers due in the same iteration: whichever runs first stops the other,
 * which is then already pending inside libev and must still not run. */
typedef struct rivals {
    eva_timer t[2];
    int fired;
} rivals;

static void on_rival(eva_timer *t) {
    rivals *r = t->data;
    r->fired++;
    for (int i = 0; i < 2; i++)
        eva_timer_stop(&r->t[i]);
}

static void timer_stopped_while_pending_never_fires(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    rivals r = {.fired = 0};
    for (int i = 0; i < 2; i++) {
        eva_timer_init(loop, &r.t[i]);
        eva_timer_start(&r.t[i], 5, 0, on_rival, &r);
    }
    assert_int_equal(eva_loop_run(loop, EVA_RUN_DEFAULT), 0);
    assert_int_equal(r.fired, 1);
    assert_int_equal(eva_loop_get_active_handles(loop), 0);
    test_loop_destroy(loop);
}

static void on_tick(eva_timer *t) {
    int *ticks = t->data;
    if (++*ticks == 5)
        eva_timer_stop(t);
}

static void repeating_timer_repeats_until_stopped(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int ticks = 0;
    eva_timer t;
    eva_timer_init(loop, &t);
    assert_int_equal(eva_timer_start(&t, 1, 1, on_tick, &ticks), 0);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_DEFAULT), 0);
    assert_int_equal(ticks, 5);
    assert_false(eva_timer_is_active(&t));
    test_loop_destroy(loop);
}

static void on_count(eva_timer *t) { ++*(int *)t->data; }

static void restart_replaces_the_timeout(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int fired = 0;
    eva_timer t;
    eva_timer_init(loop, &t);
    eva_timer_start(&t, 60 * 60 * 1000, 0, on_count, &fired);
    eva_timer_start(&t, 0, 0, on_count, &fired);
    assert_int_equal(eva_loop_get_active_handles(loop), 1);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_DEFAULT), 0);
    assert_int_equal(fired, 1);
    test_loop_destroy(loop);
}

static void on_free_self(eva_timer *t) {
    ++*(int *)t->data;
    free(t); /* a fired one-shot timer is inactive: its memory is the caller's again */
}

static void one_shot_timer_may_free_itself(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int fired = 0;
    eva_timer *t = malloc(sizeof *t);
    assert_non_null(t);
    eva_timer_init(loop, t);
    eva_timer_start(t, 0, 0, on_free_self, &fired);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_DEFAULT), 0);
    assert_int_equal(fired, 1);
    test_loop_destroy(loop);
}

static void now_advances_with_the_loop(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    uint64_t before = eva_now(loop);
    assert_true(before > 0);
    assert_true(eva_time() + 1000 >= before);
    int fired = 0;
    eva_timer t;
    eva_timer_init(loop, &t);
    eva_now_update(loop); /* count the timeout from now, not from loop creation */
    uint64_t started = eva_hrtime();
    eva_timer_start(&t, 20, 0, on_count, &fired);
    eva_loop_run(loop, EVA_RUN_DEFAULT);
    assert_int_equal(fired, 1);
    /* a timer never fires early (1 ms of slack for clock granularity) */
    assert_true(eva_hrtime() - started >= 19 * 1000000u);
    assert_true(eva_now(loop) >= before);
    test_loop_destroy(loop);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(timers_fire_in_order_once),
        cmocka_unit_test(stopped_timer_never_fires),
        cmocka_unit_test(timer_stopped_while_pending_never_fires),
        cmocka_unit_test(repeating_timer_repeats_until_stopped),
        cmocka_unit_test(restart_replaces_the_timeout),
        cmocka_unit_test(one_shot_timer_may_free_itself),
        cmocka_unit_test(now_advances_with_the_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
