/* Deferred calls run once, in order, on the next iteration, never starve IO,
 * and keep the loop running while pending. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <unistd.h>
#include <cmocka.h>

#include "helpers.h"

typedef struct trace {
    int seen[16];
    int n;
} trace;

typedef struct step {
    eva_call call;
    int tag;
    trace *tr;
} step;

static void on_step(eva_loop *loop, int status, void *arg) {
    (void)loop;
    step *s = arg;
    assert_int_equal(status, 0);
    s->tr->seen[s->tr->n++] = s->tag;
}

static void calls_run_once_in_order(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    trace tr = {.n = 0};
    step s[4];
    for (int i = 0; i < 4; i++) {
        s[i] = (step){.tag = i, .tr = &tr};
        assert_int_equal(eva_loop_defer(loop, &s[i].call, on_step, &s[i]), 0);
    }
    assert_int_equal(tr.n, 0); /* never run inside eva_loop_defer */
    assert_int_equal(eva_loop_run(loop, EVA_RUN_DEFAULT), 0);
    assert_int_equal(tr.n, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(tr.seen[i], i);
    test_loop_destroy(loop);
}

typedef struct chain {
    eva_call call;
    int runs;
    int limit;
} chain;

static void on_chain(eva_loop *loop, int status, void *arg) {
    chain *c = arg;
    assert_int_equal(status, 0);
    if (++c->runs < c->limit)
        eva_loop_defer(loop, &c->call, on_chain, c);
}

static void call_deferred_from_a_call_waits_an_iteration(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    chain c = {.runs = 0, .limit = 3};
    eva_loop_defer(loop, &c.call, on_chain, &c);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_NOWAIT), 1);
    assert_int_equal(c.runs, 1);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_NOWAIT), 1);
    assert_int_equal(c.runs, 2);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_NOWAIT), 0);
    assert_int_equal(c.runs, 3);
    test_loop_destroy(loop);
}

typedef struct starve {
    chain c;
    int io_seen_at; /* chain runs when the IO callback ran; -1 = not yet */
} starve;

static void on_readable(eva_io *io, int events) {
    starve *s = io->data;
    assert_int_equal(events, EVA_READ);
    s->io_seen_at = s->c.runs;
    eva_io_stop(io);
}

static void re_deferring_call_does_not_starve_io(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(write(fds[1], "x", 1), 1);
    starve s = {.c = {.runs = 0, .limit = 1000}, .io_seen_at = -1};
    eva_io io;
    eva_io_init(loop, &io);
    eva_io_start(&io, fds[0], EVA_READ, on_readable, &s);
    eva_loop_defer(loop, &s.c.call, on_chain, &s.c);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_DEFAULT), 0);
    assert_int_equal(s.c.runs, 1000);
    assert_true(s.io_seen_at >= 0 && s.io_seen_at < 5);
    close(fds[0]);
    close(fds[1]);
    test_loop_destroy(loop);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(calls_run_once_in_order),
        cmocka_unit_test(call_deferred_from_a_call_waits_an_iteration),
        cmocka_unit_test(re_deferring_call_does_not_starve_io),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
