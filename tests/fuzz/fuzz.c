/* tests/fuzz/fuzz.c — see fuzz_loop.h. */
#include "fuzz_loop.h"

static void on_guard(eva_timer *t) { *(bool *)t->data = true; }

bool fuzz_run_until(eva_loop *loop, const bool *done, int64_t timeout_ms) {
    bool expired = false;
    eva_timer guard;
    FUZZ_CHECK(eva_timer_init(loop, &guard) == 0);
    FUZZ_CHECK(eva_timer_start(&guard, timeout_ms, 0, on_guard, &expired) == 0);
    while (!*done && !expired)
        FUZZ_CHECK(eva_loop_run(loop, EVA_RUN_ONCE) >= 0);
    eva_timer_stop(&guard);
    return *done;
}

static void quiet(void *ud, eva_loop *loop, eva_log_level level, const char *msg) {
    (void)ud, (void)loop;
    if (getenv("FUZZ_LOG"))
        fprintf(stderr, "log %d: %s\n", (int)level, msg);
}

eva_loop *fuzz_loop_new(void) {
    eva_loop *loop = NULL;
    FUZZ_CHECK(eva_loop_new(&loop) == 0);
    FUZZ_CHECK(eva_loop_set_log(loop, quiet, NULL) == 0);
    return loop;
}

void fuzz_loop_destroy(eva_loop *loop) { FUZZ_CHECK(eva_loop_destroy(loop) == 0); }

static test_alloc alloc = {.fail_after = -1};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    test_alloc_install(&alloc);
    return 0;
}

void fuzz_check_freed(void) {
    if (alloc.live != 0)
        fprintf(stderr, "%ld blocks of evasync's allocations left after the run\n", alloc.live);
    FUZZ_CHECK(alloc.live == 0);
}
