/* loop/defer.c — calls run on the next loop iteration.
 *
 * While the queue is non-empty an idle watcher is active, which makes libev
 * poll without blocking, and a check watcher (run right after the poll)
 * drains the calls queued before it started.
 *
 * A batch is moved onto a queue of its own and run by always taking its
 * first node: no "next" pointer is saved across a call, so a call may free
 * or re-queue its own node, and calls queued meanwhile wait for the next
 * batch (a call that re-defers itself never starves IO).
 *
 * In shuffle mode the calls queued by eva__defer_unordered wait on a queue
 * of their own and are scattered at random through the batch; the others
 * keep their order, as eva_loop_defer promises. */
#include <errno.h>

#include "internal.h"

void eva__run_calls(eva_loop *loop, eva_queue *batch, int status) {
    eva_queue *node;
    while ((node = eva__queue_pop(batch))) {
        eva_call *call = EVA__QUEUE_DATA(node, eva_call, node);
        EVA__CALL_USER(loop, call->fn, call->fn(loop, status, call->arg));
    }
}

static void defer_stop_watchers(eva_loop *loop) {
    ev_idle_stop(loop->ev, &loop->defer_idle);
    ev_check_stop(loop->ev, &loop->defer_check);
}

static bool defer_pending(const eva_loop *loop) {
    return !eva__queue_empty(&loop->defer_queue) || !eva__queue_empty(&loop->defer_loose);
}

bool eva__take_batch(eva_loop *loop, eva_queue *ordered, eva_queue *loose, eva_queue *batch) {
    eva__queue_init(batch);
    eva__shuffle *shuffle = eva__loop_shuffle(loop);
    if (shuffle)
        eva__shuffle_interleave(shuffle, ordered, loose, batch);
    else
        eva__queue_move(ordered, batch); /* loose is empty: only shuffle mode fills it */
    return !eva__queue_empty(batch);
}

/* Detach the queued calls into batch; false when there were none. */
static bool take_all(eva_loop *loop, eva_queue *batch) {
    return eva__take_batch(loop, &loop->defer_queue, &loop->defer_loose, batch);
}

static void on_check(struct ev_loop *ev, ev_check *w, int revents) {
    (void)ev;
    (void)revents;
    eva_loop *loop = w->data;
    eva_queue batch;
    if (take_all(loop, &batch))
        eva__run_calls(loop, &batch, 0);
    if (!defer_pending(loop))
        defer_stop_watchers(loop);
}

static void on_idle(struct ev_loop *ev, ev_idle *w, int revents) {
    (void)ev;
    (void)w;
    (void)revents; /* exists only to keep the poll from blocking */
}

void eva__defer_init(eva_loop *loop) {
    eva__queue_init(&loop->defer_queue);
    eva__queue_init(&loop->defer_loose);
    ev_idle_init(&loop->defer_idle, on_idle);
    ev_check_init(&loop->defer_check, on_check);
    loop->defer_check.data = loop;
}

static void defer_push(eva_loop *loop, eva_queue *queue, eva_call *call, eva_call_fn fn,
                       void *arg) {
    call->fn = fn;
    call->arg = arg;
    if (!defer_pending(loop)) {
        ev_idle_start(loop->ev, &loop->defer_idle);
        ev_check_start(loop->ev, &loop->defer_check);
    }
    eva__queue_insert_tail(queue, &call->node);
}

int eva_loop_defer(eva_loop *loop, eva_call *call, eva_call_fn fn, void *arg) {
    if (!loop || !call || !fn)
        return -EINVAL;
    defer_push(loop, &loop->defer_queue, call, fn, arg);
    return 0;
}

void eva__defer_unordered(eva_loop *loop, eva_call *call, eva_call_fn fn, void *arg) {
    defer_push(loop, eva__loop_shuffle(loop) ? &loop->defer_loose : &loop->defer_queue, call,
               fn, arg);
}

bool eva__defer_cancel_pending(eva_loop *loop) {
    eva_queue batch;
    if (!take_all(loop, &batch))
        return false;
    eva__run_calls(loop, &batch, -ECANCELED);
    return true;
}

void eva__defer_close(eva_loop *loop) { defer_stop_watchers(loop); }
