/* examples/timers — the loop core in one page: two one-shot timers, a
 * repeating timer stopped after a few ticks, and a deferred call.  Each
 * event prints the loop time relative to the start, in milliseconds. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <evasync.h>

/* Every evasync call returns 0 (or a count) or a negative errno-style code;
 * a demo has no recovery plan, so report the code by name and quit. */
#define CHECK(call)                                                          \
    do {                                                                     \
        int rc_ = (call);                                                    \
        if (rc_ < 0) {                                                       \
            fprintf(stderr, "timers: %s: %s\n", #call, eva_strerror(rc_));   \
            exit(EXIT_FAILURE);                                              \
        }                                                                    \
    } while (0)

enum { TICKS = 4 };

/* Everything lives in one struct: handles are caller-owned memory, and
 * callbacks reach their context through timer->data or the call's arg. */
struct demo {
    eva_loop *loop;
    uint64_t start;         /* eva_now() when the demo began */
    eva_timer first, second, tick;
    int ticks;
    eva_call later;         /* deferred calls never allocate: we own the node */
};

static void say(const struct demo *d, const char *what) {
    printf("[%4" PRIu64 " ms] %s\n", eva_now(d->loop) - d->start, what);
}

static void on_later(eva_loop *loop, int status, void *arg) {
    (void)loop;
    /* -ECANCELED would mean the loop was destroyed before the call ran. */
    say(arg, status == 0 ? "deferred call runs on the next iteration" : eva_strerror(status));
}

static void on_first(eva_timer *t) {
    struct demo *d = t->data;
    say(d, "one-shot timer (50 ms) fired; deferring a call");
    CHECK(eva_loop_defer(d->loop, &d->later, on_later, d));
}

static void on_second(eva_timer *t) { say(t->data, "one-shot timer (200 ms) fired"); }

static void on_tick(eva_timer *t) {
    struct demo *d = t->data;
    char line[64];
    snprintf(line, sizeof line, "repeating timer (every 40 ms): tick %d of %d", ++d->ticks, TICKS);
    say(d, line);
    /* A repeating timer keeps the loop alive until someone stops it. */
    if (d->ticks == TICKS)
        CHECK(eva_timer_stop(t));
}

int main(void) {
    struct demo d = {0};
    CHECK(eva_loop_new(&d.loop));
    CHECK(eva_detector_start(d.loop, NULL)); /* warns if a callback blocks the loop */
    d.start = eva_now(d.loop);

    CHECK(eva_timer_init(d.loop, &d.first));
    CHECK(eva_timer_init(d.loop, &d.second));
    CHECK(eva_timer_init(d.loop, &d.tick));
    CHECK(eva_timer_start(&d.first, 50, 0, on_first, &d));
    CHECK(eva_timer_start(&d.second, 200, 0, on_second, &d));
    CHECK(eva_timer_start(&d.tick, 40, 40, on_tick, &d));

    /* EVA_RUN_DEFAULT returns once no handle or request is active: after
     * the last tick and the 200 ms timer, with nothing left to stop. */
    CHECK(eva_loop_run(d.loop, EVA_RUN_DEFAULT));
    say(&d, "loop ran out of work");
    CHECK(eva_loop_destroy(d.loop));
    return EXIT_SUCCESS;
}
