/* loop/post.c — eva_loop_post(): the one thread-safe way into a loop.
 *
 * Posters append to a mutex-protected FIFO and, when it was empty, wake the
 * loop with ev_async_send (thread-safe in libev).
 * The loop takes the whole list under the lock and runs it outside it, so
 * one wake-up delivers a batch. */
#include <errno.h>

#include "internal.h"

static eva_call *post_take_all(eva_loop *loop) {
    pthread_mutex_lock(&loop->post_mutex);
    eva_call *batch = loop->post_head;
    loop->post_head = loop->post_tail = NULL;
    pthread_mutex_unlock(&loop->post_mutex);
    return batch;
}

static void on_async(struct ev_loop *ev, ev_async *w, int revents) {
    (void)ev;
    (void)revents;
    eva_loop *loop = w->data;
    eva__run_calls(loop, post_take_all(loop), 0);
}

int eva__post_init(eva_loop *loop) {
    int rc = pthread_mutex_init(&loop->post_mutex, NULL);
    if (rc != 0)
        return -rc;
    ev_async_init(&loop->post_async, on_async);
    loop->post_async.data = loop;
    ev_async_start(loop->ev, &loop->post_async);
    eva__watcher_unref(loop);
    return 0;
}

int eva_loop_post(eva_loop *loop, eva_call *call, eva_call_fn fn, void *arg) {
    if (!loop || !call || !fn)
        return -EINVAL;
    call->next = NULL;
    call->fn = fn;
    call->arg = arg;
    pthread_mutex_lock(&loop->post_mutex);
    bool was_empty = loop->post_head == NULL;
    if (was_empty)
        loop->post_head = call;
    else
        loop->post_tail->next = call;
    loop->post_tail = call;
    /* Wake under the lock: once a poster unlocks, it never touches the loop
     * again, so the loop may run the call and be destroyed right away. */
    if (was_empty)
        ev_async_send(loop->ev, &loop->post_async);
    pthread_mutex_unlock(&loop->post_mutex);
    return 0;
}

bool eva__post_cancel_pending(eva_loop *loop) {
    eva_call *batch = post_take_all(loop);
    eva__run_calls(loop, batch, -ECANCELED);
    return batch != NULL;
}

void eva__post_close(eva_loop *loop) {
    /* a poster still inside eva_loop_post holds the lock: wait it out */
    pthread_mutex_lock(&loop->post_mutex);
    pthread_mutex_unlock(&loop->post_mutex);
    eva__watcher_ref(loop);
    ev_async_stop(loop->ev, &loop->post_async);
    pthread_mutex_destroy(&loop->post_mutex);
}
