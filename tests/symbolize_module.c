/* tests/symbolize_module.c — a shared object with a static callback, for
 * tests/test_symbolize.c: built once without debug info and once stripped
 * too, to see what the detector says about each. */
#include <evasync.h>

eva_timer_fn symbolize_module_callback(eva_timer_fn hook);

static eva_timer_fn module_hook;

static void module_callback(eva_timer *timer) { module_hook(timer); }

/* The module's static callback, which calls hook. */
eva_timer_fn symbolize_module_callback(eva_timer_fn hook) {
    module_hook = hook;
    return module_callback;
}
