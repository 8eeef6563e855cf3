/* tests/helpers.c — bounded loop running and log capture for the tests. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <cmocka.h>

#include "helpers.h"

eva_loop *test_loop_new(void) {
    eva_loop *loop = NULL;
    assert_int_equal(eva_loop_new(&loop), 0);
    assert_non_null(loop);
    return loop;
}

bool test_sem_wait_ms(sem_t *sem, int ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    int rc;
    while ((rc = sem_timedwait(sem, &ts)) < 0 && errno == EINTR)
        ;
    return rc == 0;
}

bool test_shuffling(void) {
    const char *seed = getenv("EVA_SHUFFLE_SEED");
    return seed && *seed;
}

void test_loop_destroy(eva_loop *loop) { assert_int_equal(eva_loop_destroy(loop), 0); }

static void on_guard(eva_timer *t) { *(bool *)t->data = true; }

void test_run_until(eva_loop *loop, const bool *done, int64_t timeout_ms) {
    bool expired = false;
    eva_timer guard;
    assert_int_equal(eva_timer_init(loop, &guard), 0);
    assert_int_equal(eva_timer_start(&guard, timeout_ms, 0, on_guard, &expired), 0);
    while (!*done && !expired)
        assert_true(eva_loop_run(loop, EVA_RUN_ONCE) >= 0);
    eva_timer_stop(&guard);
    if (!*done)
        fail_msg("condition not reached within %lld ms", (long long)timeout_ms);
}

static void capture(void *ud, eva_loop *loop, eva_log_level level, const char *msg) {
    (void)loop;
    test_log *log = ud;
    log->count++;
    log->level = level;
    snprintf(log->last, sizeof log->last, "%s", msg);
}

void test_capture_log(eva_loop *loop, test_log *log) {
    log->count = 0;
    log->last[0] = '\0';
    assert_int_equal(eva_loop_set_log(loop, capture, log), 0);
}

static void *counting(void *ud, void *ptr, size_t size) {
    test_alloc *a = ud;
    if (size == 0) {
        if (ptr)
            a->live--;
        free(ptr);
        return NULL;
    }
    if (a->fail_after == 0) {
        a->failed++;
        if (a->once)
            a->fail_after = -1;
        return NULL;
    }
    if (a->fail_after > 0)
        a->fail_after--;
    void *p = realloc(ptr, size);
    if (p && !ptr) {
        a->live++;
        a->total++;
    }
    return p;
}

void test_alloc_install(test_alloc *a) {
    if (a)
        eva_set_allocator(counting, a);
    else
        eva_set_allocator(NULL, NULL);
}
