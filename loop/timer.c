/* loop/timer.c — eva_timer over ev_timer; milliseconds in, seconds to libev. */
#include <errno.h>

#include "internal.h"

static void on_timer(struct ev_loop *ev, ev_timer *w, int revents) {
    (void)ev;
    (void)revents;
    eva_timer *t = EVA__CONTAINER_OF(w, eva_timer, w);
    if (!ev_is_active(w)) /* libev stopped the one-shot timer before calling us */
        eva__handle_stopped(t->loop);
    EVA__CALL_USER(t->loop, t->cb, t->cb(t));
}

int eva_timer_init(eva_loop *loop, eva_timer *t) {
    if (!loop || !t)
        return -EINVAL;
    t->data = NULL;
    t->loop = loop;
    t->cb = NULL;
    ev_init(&t->w, on_timer);
    return 0;
}

int eva_timer_start(eva_timer *t, int64_t timeout_ms, int64_t repeat_ms,
                    eva_timer_fn cb, void *data) {
    if (!t || !t->loop || !cb || timeout_ms < 0 || repeat_ms < 0)
        return -EINVAL;
    eva_timer_stop(t);
    t->cb = cb;
    t->data = data;
    ev_timer_set(&t->w, (double)timeout_ms / 1e3, (double)repeat_ms / 1e3);
    ev_timer_start(t->loop->ev, &t->w);
    eva__handle_started(t->loop);
    return 0;
}

int eva_timer_stop(eva_timer *t) {
    if (!t || !t->loop)
        return -EINVAL;
    if (EVA__WATCHER_LIVE(&t->w)) {
        ev_timer_stop(t->loop->ev, &t->w);
        eva__handle_stopped(t->loop);
    }
    return 0;
}

bool eva_timer_is_active(const eva_timer *t) { return t && EVA__WATCHER_LIVE(&t->w); }

eva_loop *eva_timer_get_loop(const eva_timer *w) { return w ? w->loop : NULL; }
