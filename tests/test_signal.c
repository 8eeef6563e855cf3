/* eva_signal: a raised signal reaches the callback on the loop thread; one
 * signal cannot be watched from two loops at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
#include <cmocka.h>

#include "helpers.h"

typedef struct sig_seen {
    int signum;
    bool done;
} sig_seen;

static void on_signal(eva_signal *sig, int signum) {
    sig_seen *s = sig->data;
    s->signum = signum;
    s->done = true;
}

static void raised_signal_reaches_callback(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    sig_seen s = {0};
    eva_signal sig;
    eva_signal_init(loop, &sig);
    assert_int_equal(eva_signal_start(&sig, SIGUSR1, on_signal, &s), 0);
    assert_int_equal(raise(SIGUSR1), 0);
    test_run_until(loop, &s.done, 5000);
    assert_int_equal(s.signum, SIGUSR1);
    assert_int_equal(eva_signal_stop(&sig), 0);
    assert_false(eva_signal_is_active(&sig));
    test_loop_destroy(loop);
}

static void signal_owned_by_one_loop_at_a_time(void **state) {
    (void)state;
    eva_loop *a = test_loop_new(), *b = test_loop_new();
    sig_seen s = {0};
    eva_signal sa, sa2, sb;
    eva_signal_init(a, &sa);
    eva_signal_init(a, &sa2);
    eva_signal_init(b, &sb);
    assert_int_equal(eva_signal_start(&sa, SIGUSR2, on_signal, &s), 0);
    assert_int_equal(eva_signal_start(&sa2, SIGUSR2, on_signal, &s), 0); /* same loop: fine */
    assert_int_equal(eva_signal_start(&sb, SIGUSR2, on_signal, &s), -EBUSY);
    assert_false(eva_signal_is_active(&sb));
    eva_signal_stop(&sa);
    assert_int_equal(eva_signal_start(&sb, SIGUSR2, on_signal, &s), -EBUSY);
    eva_signal_stop(&sa2);
    /* once the last watcher of loop a stops, loop b may take the signal */
    assert_int_equal(eva_signal_start(&sb, SIGUSR2, on_signal, &s), 0);
    eva_signal_stop(&sb);
    test_loop_destroy(a);
    test_loop_destroy(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(raised_signal_reaches_callback),
        cmocka_unit_test(signal_owned_by_one_loop_at_a_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
