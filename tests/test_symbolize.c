/* tests/test_symbolize.c — the detector names static callbacks by reading
 * the symbol table and debug info of their object (loop/symbolize.c): with
 * debug info by name and file:line, with a symbol table only by name, and
 * stripped with the advice that would name them.  Built with -g in every
 * build type.
 *
 * Each callback blocks the loop until the watchdog has reported the block in
 * progress (so it has looked the name up), then twice the threshold more, so
 * that the dispatch is reported too when it returns: both reports are
 * checked. */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>
#include <time.h>

#include <cmocka.h>

#include "helpers.h"

enum { THRESHOLD_MS = 40, WAIT_MS = 5000 /* only on failure */ };

/* The first report of each kind (the in-progress one comes from the
 * watchdog thread). */
typedef struct named {
    pthread_mutex_t mutex;
    atomic_bool live_seen;
    bool blocked, seen[2];
    char culprit[2][512], symbol[2][96];
} named;

static void on_block(void *arg, const eva_block_report *r) {
    named *n = arg;
    pthread_mutex_lock(&n->mutex);
    if (!n->seen[r->kind]) {
        n->seen[r->kind] = true;
        snprintf(n->culprit[r->kind], sizeof n->culprit[0], "%s", r->culprit);
        snprintf(n->symbol[r->kind], sizeof n->symbol[0], "%s", r->symbol ? r->symbol : "");
    }
    pthread_mutex_unlock(&n->mutex);
    if (r->kind == EVA_BLOCK_IN_PROGRESS)
        atomic_store(&n->live_seen, true);
}

static uint64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void block_until_reported(eva_timer *timer) {
    named *n = timer->data;
    uint64_t start = mono_ms();
    while (!atomic_load(&n->live_seen) && mono_ms() - start < WAIT_MS)
        ;
    uint64_t reported = mono_ms();
    while (mono_ms() - reported < 2 * THRESHOLD_MS)
        ;
    n->blocked = true;
}

/* Run cb on a timer under the detector; n gets both reports. */
static void run_blocking(eva_timer_fn cb, named *n) {
    memset(n, 0, sizeof *n);
    pthread_mutex_init(&n->mutex, NULL);
    eva_loop *loop = test_loop_new();
    eva_detector_options opts = {.threshold_ms = THRESHOLD_MS, .on_block = on_block, .arg = n};
    assert_int_equal(eva_detector_start(loop, &opts), 0);
    eva_timer timer;
    assert_int_equal(eva_timer_init(loop, &timer), 0);
    assert_int_equal(eva_timer_start(&timer, 1, 0, cb, n), 0);
    test_run_until(loop, &n->blocked, WAIT_MS * 2);
    test_loop_destroy(loop);
    pthread_mutex_destroy(&n->mutex);
    assert_true(n->seen[EVA_BLOCK_IN_PROGRESS]);
    assert_true(n->seen[EVA_BLOCK_DISPATCH]);
}

/* ---- with debug info: name (file:line) --------------------------------------- */

enum { BLOCKS_STATICALLY_LINE = __LINE__ + 1 };
static void blocks_statically(eva_timer *timer) { block_until_reported(timer); }

static void static_callback_is_named_with_its_line(void **state) {
    (void)state;
    named n;
    run_blocking(blocks_statically, &n);
    char want[128];
    snprintf(want, sizeof want, "callback blocks_statically() (test_symbolize.c:%d)",
             BLOCKS_STATICALLY_LINE);
    for (int k = 0; k < 2; k++) {
        assert_string_equal(n.culprit[k], want);
        assert_string_equal(n.symbol[k], "blocks_statically");
    }
}

/* ---- a module with a symbol table only, and a stripped one -------------------- */

static void run_module_callback(const char *path, named *n) {
    void *module = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!module)
        fail_msg("dlopen %s: %s", path, dlerror());
    eva_timer_fn (*get)(eva_timer_fn);
    *(void **)&get = dlsym(module, "symbolize_module_callback");
    assert_non_null(get);
    run_blocking(get(block_until_reported), n);
    dlclose(module); /* after the loop and its detector are gone */
}

static void callback_without_debug_info_is_named(void **state) {
    (void)state;
    named n;
    run_module_callback(SYMBOLIZE_NODEBUG, &n);
    for (int k = 0; k < 2; k++) {
        assert_string_equal(n.culprit[k], "callback module_callback()");
        assert_string_equal(n.symbol[k], "module_callback");
    }
}

static void stripped_callback_report_says_what_would_name_it(void **state) {
    (void)state;
    named n;
    run_module_callback(SYMBOLIZE_STRIPPED, &n);
    for (int k = 0; k < 2; k++) {
        assert_non_null(strstr(n.culprit[k], "callback at "));
        assert_non_null(strstr(n.culprit[k], "libsymbolize_stripped.so+0x"));
        assert_non_null(strstr(n.culprit[k], "(no symbol table: built stripped; install its "
                                             "-dbgsym package, or build with -g and do not strip)"));
        assert_string_equal(n.symbol[k], "");
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(static_callback_is_named_with_its_line),
        cmocka_unit_test(callback_without_debug_info_is_named),
        cmocka_unit_test(stripped_callback_report_says_what_would_name_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
