/* Allocation failure through the public allocator hook: a failed allocation
 * returns -ENOMEM, leaks nothing, and every evasync allocation is freed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <cmocka.h>

#include "helpers.h"

static void loop_new_reports_enomem(void **state) {
    (void)state;
    test_alloc a = {.fail_after = 0};
    test_alloc_install(&a);
    eva_loop *loop = (eva_loop *)(void *)&a; /* must be left untouched on failure */
    assert_int_equal(eva_loop_new(&loop), -ENOMEM);
    assert_ptr_equal(loop, (void *)&a);
    assert_int_equal(a.live, 0);

    a.fail_after = -1;
    assert_int_equal(eva_loop_new(&loop), 0);
    assert_true(a.total > 0); /* the loop was allocated through the hook */
    test_loop_destroy(loop);
    assert_int_equal(a.live, 0);
    test_alloc_install(NULL);
}

static void attach_reports_enomem(void **state) {
    (void)state;
    struct ev_loop *ev = ev_loop_new(EVFLAG_AUTO);
    test_alloc a = {.fail_after = 0};
    test_alloc_install(&a);
    eva_loop *loop = NULL;
    assert_int_equal(eva_loop_from_ev(ev, &loop), -ENOMEM);
    assert_null(loop);
    /* the daemon's loop is unaffected */
    assert_int_equal(ev_run(ev, EVRUN_NOWAIT), 0);
    test_alloc_install(NULL);
    ev_loop_destroy(ev);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loop_new_reports_enomem),
        cmocka_unit_test(attach_reports_enomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
