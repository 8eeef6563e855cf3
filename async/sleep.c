/* async/sleep.c — the allocation-free awaitables: sleep and yield. */
#include <errno.h>

#include "async_internal.h"

static void on_sleep_timer(struct ev_loop *ev, ev_timer *w, int revents) {
    (void)ev;
    (void)revents;
    eva_task_wake(EVA__CONTAINER_OF(w, eva_task, op.timer), 0, NULL);
}

static void sleep_cancel(eva_task *t) {
    ev_timer_stop(eva_loop_get_ev(t->loop), &t->op.timer);
    eva_task_wake_later(t, -ECANCELED);
}

static const eva_wait_ops sleep_wait = {"timer", sleep_cancel};

static int sleep_start(eva_task *t, const eva_op *op) {
    if (op->num < 0)
        return -EINVAL;
    ev_timer_init(&t->op.timer, on_sleep_timer, (double)op->num / 1e3, 0.);
    ev_timer_start(eva_loop_get_ev(t->loop), &t->op.timer);
    eva_task_park(t, &sleep_wait, NULL);
    return EVA_PARKED;
}

eva_op eva_sleep_op(int64_t ms) { return (eva_op){.start = sleep_start, .num = ms}; }

static int yield_start(eva_task *t, const eva_op *op) {
    (void)op;
    t->flags |= EVA__TASK_YIELDING; /* queued: a cancel now changes the status */
    eva_task_wake_later(t, 0);
    return EVA_PARKED;
}

eva_op eva__yield_op(void) { return (eva_op){.start = yield_start}; }
