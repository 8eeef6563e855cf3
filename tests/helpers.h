/* tests/helpers.h — shared by the cmocka tests.  Include after cmocka.h. */
#ifndef EVA_TEST_HELPERS_H
#define EVA_TEST_HELPERS_H

#include <semaphore.h>
#include <stdbool.h>
#include <stdint.h>

#include "evasync.h"

/* A new owned loop; fails the test if it cannot be made. */
eva_loop *test_loop_new(void);

/* Destroy loop and assert it succeeded. */
void test_loop_destroy(eva_loop *loop);

/* Run loop one iteration at a time until *done becomes true, failing the test
 * if that has not happened after timeout_ms (a guard timer bounds the wait:
 * no test ever hangs or sleeps). */
void test_run_until(eva_loop *loop, const bool *done, int64_t timeout_ms);

/* Wait for sem at most ms milliseconds (EINTR retried): whether it was
 * posted.  For the main thread waiting on loops run by other threads. */
bool test_sem_wait_ms(sem_t *sem, int ms);

/* Whether loops are made in shuffle mode (EVA_SHUFFLE_SEED is set,
 * docs/reliability.md): the few assertions about what that mode varies on
 * purpose (an operation that could complete at once parking) hold only
 * without it. */
bool test_shuffling(void);

/* Keeps the last log line a loop emitted (install with test_capture_log). */
typedef struct test_log {
    int count;
    eva_log_level level;
    char last[1024];
} test_log;

void test_capture_log(eva_loop *loop, test_log *log);

/* A counting allocator for allocation-failure tests: the next fail_after
 * allocations succeed, then every one fails (-1: none fails), or with once
 * set only that one fails.  It counts the blocks alive, all allocations
 * made, and the failures it injected. */
typedef struct test_alloc {
    int fail_after;
    bool once;
    long live, total, failed;
} test_alloc;

/* Route evasync's allocations through a (NULL: back to the default). */
void test_alloc_install(test_alloc *a);

#endif
