/* loop/post.c — eva_loop_post(): the one thread-safe way into a loop.
 *
 * Posters append to a mutex-protected FIFO and, when it was empty, wake the
 * loop with ev_async_send (thread-safe in libev).
 * The loop takes the whole list under the lock and runs it outside it, so
 * one wake-up delivers a batch.
 *
 * In shuffle mode the calls posted by eva__post_unordered (the pool's
 * hand-backs) wait on a queue of their own and are scattered at random
 * through the batch; the others keep their order. */
#include <errno.h>

#include "internal.h"

/* Detach the posted calls into batch; false when there were none. */
static bool post_take_all(eva_loop *loop, eva_queue *batch) {
    eva_queue ordered, loose; /* taken under the lock, shuffled outside it */
    eva__queue_init(&ordered);
    eva__queue_init(&loose);
    pthread_mutex_lock(&loop->post_mutex);
    eva__queue_move(&loop->post_queue, &ordered);
    eva__queue_move(&loop->post_loose, &loose);
    pthread_mutex_unlock(&loop->post_mutex);
    return eva__take_batch(loop, &ordered, &loose, batch);
}

static void on_async(struct ev_loop *ev, ev_async *w, int revents) {
    (void)ev;
    (void)revents;
    eva_loop *loop = w->data;
    eva_queue batch;
    if (post_take_all(loop, &batch))
        eva__run_calls(loop, &batch, 0);
}

int eva__post_init(eva_loop *loop) {
    int rc = pthread_mutex_init(&loop->post_mutex, NULL);
    if (rc != 0)
        return -rc;
    eva__queue_init(&loop->post_queue);
    eva__queue_init(&loop->post_loose);
    ev_async_init(&loop->post_async, on_async);
    loop->post_async.data = loop;
    ev_async_start(loop->ev, &loop->post_async);
    eva__watcher_unref(loop);
    return 0;
}

/* shuffle is read-only after the loop's creation: any thread may test it */
static void post_push(eva_loop *loop, eva_queue *queue, eva_call *call, eva_call_fn fn,
                      void *arg) {
    call->fn = fn;
    call->arg = arg;
    pthread_mutex_lock(&loop->post_mutex);
    bool was_empty = eva__queue_empty(&loop->post_queue) && eva__queue_empty(&loop->post_loose);
    eva__queue_insert_tail(queue, &call->node);
    /* Wake under the lock: once a poster unlocks, it never touches the loop
     * again, so the loop may run the call and be destroyed right away. */
    if (was_empty)
        ev_async_send(loop->ev, &loop->post_async);
    pthread_mutex_unlock(&loop->post_mutex);
}

int eva_loop_post(eva_loop *loop, eva_call *call, eva_call_fn fn, void *arg) {
    if (!loop || !call || !fn)
        return -EINVAL;
    post_push(loop, &loop->post_queue, call, fn, arg);
    return 0;
}

void eva__post_unordered(eva_loop *loop, eva_call *call, eva_call_fn fn, void *arg) {
    post_push(loop, eva__loop_shuffle(loop) ? &loop->post_loose : &loop->post_queue, call, fn, arg);
}

bool eva__post_cancel_pending(eva_loop *loop) {
    eva_queue batch;
    if (!post_take_all(loop, &batch))
        return false;
    eva__run_calls(loop, &batch, -ECANCELED);
    return true;
}

void eva__post_close(eva_loop *loop) {
    /* a poster still inside eva_loop_post holds the lock: wait it out */
    pthread_mutex_lock(&loop->post_mutex);
    pthread_mutex_unlock(&loop->post_mutex);
    eva__watcher_ref(loop);
    ev_async_stop(loop->ev, &loop->post_async);
    pthread_mutex_destroy(&loop->post_mutex);
}
