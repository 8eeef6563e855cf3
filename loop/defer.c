/* loop/defer.c — calls run on the next loop iteration.
 *
 * While the queue is non-empty an idle watcher is active, which makes libev
 * poll without blocking, and a check watcher (run right after the poll)
 * drains the calls queued before it started. */
#include <errno.h>

#include "internal.h"

void eva__run_calls(eva_loop *loop, eva_call *call, int status) {
    while (call) {
        eva_call *next = call->next; /* fn may free or re-queue call */
        call->next = NULL;
        EVA__CALL_USER(loop, call->fn, call->fn(loop, status, call->arg));
        call = next;
    }
}

static void defer_stop_watchers(eva_loop *loop) {
    ev_idle_stop(loop->ev, &loop->defer_idle);
    ev_check_stop(loop->ev, &loop->defer_check);
}

static void on_check(struct ev_loop *ev, ev_check *w, int revents) {
    (void)ev;
    (void)revents;
    eva_loop *loop = w->data;
    eva_call *batch = loop->defer_head;
    loop->defer_head = loop->defer_tail = NULL;
    eva__run_calls(loop, batch, 0);
    if (!loop->defer_head)
        defer_stop_watchers(loop);
}

static void on_idle(struct ev_loop *ev, ev_idle *w, int revents) {
    (void)ev;
    (void)w;
    (void)revents; /* exists only to keep the poll from blocking */
}

void eva__defer_init(eva_loop *loop) {
    ev_idle_init(&loop->defer_idle, on_idle);
    ev_check_init(&loop->defer_check, on_check);
    loop->defer_check.data = loop;
}

int eva_loop_defer(eva_loop *loop, eva_call *call, eva_call_fn fn, void *arg) {
    if (!loop || !call || !fn)
        return -EINVAL;
    call->next = NULL;
    call->fn = fn;
    call->arg = arg;
    if (loop->defer_tail) {
        loop->defer_tail->next = call;
    } else {
        loop->defer_head = call;
        ev_idle_start(loop->ev, &loop->defer_idle);
        ev_check_start(loop->ev, &loop->defer_check);
    }
    loop->defer_tail = call;
    return 0;
}

bool eva__defer_cancel_pending(eva_loop *loop) {
    eva_call *batch = loop->defer_head;
    if (!batch)
        return false;
    loop->defer_head = loop->defer_tail = NULL;
    eva__run_calls(loop, batch, -ECANCELED);
    return true;
}

void eva__defer_close(eva_loop *loop) { defer_stop_watchers(loop); }
