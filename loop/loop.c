/* loop/loop.c — loop lifecycle, run modes, ownership and time. */
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "internal.h"

static int loop_create(struct ev_loop *ev, bool owns_ev, eva_loop **out) {
    eva_loop *loop = eva__calloc(1, sizeof *loop);
    if (!loop)
        return -ENOMEM;
    loop->ev = ev;
    loop->owns_ev = owns_ev;
    eva__queue_init(&loop->layer_list);
    eva__shuffle_init(&loop->shuffle); /* before any queue is used */
    eva_loop_set_log(loop, NULL, NULL);
    int rc = eva__post_init(loop);
    if (rc < 0) {
        eva__free(loop);
        return rc;
    }
    eva__defer_init(loop);
    eva__metrics_init(loop);
    *out = loop;
    return 0;
}

int eva_loop_new(eva_loop **out) {
    if (!out)
        return -EINVAL;
    errno = 0;
    struct ev_loop *ev = ev_loop_new(EVFLAG_AUTO);
    if (!ev)
        return errno ? -errno : -ENOMEM;
    int rc = loop_create(ev, true, out);
    if (rc < 0)
        ev_loop_destroy(ev);
    return rc;
}

int eva_loop_from_ev(struct ev_loop *ev, eva_loop **out) {
    if (!ev || !out)
        return -EINVAL;
    return loop_create(ev, false, out);
}

struct ev_loop *eva_loop_get_ev(const eva_loop *loop) { return loop ? loop->ev : NULL; }

/* The loop thread cannot be cancelled while the loop runs: cancellation is
 * disabled, and its type set to asynchronous (inert while disabled).  Why:
 *  - neither libev nor evasync is cancellation-safe: a thread cancelled at a
 *    cancellation point in a callback, or in the poll, would unwind without
 *    finishing the dispatch, leaving the loop unusable;
 *  - once a process has had a second thread (the pool's workers, the
 *    detector's watchdog), glibc wraps every cancellation point, the poll
 *    among them, in two atomic updates of the thread's cancellation type,
 *    unless that type is already asynchronous.  That was 10 % of a suspend
 *    and resume round trip (bench/await_cost), in any threaded program.
 * A pthread_cancel() of the loop thread acts at the first cancellation point
 * after eva_loop_run() returns.  The type is restored before the state: a
 * cancellation pending meanwhile must not act asynchronously. */
static void uncancellable_begin(int *state, int *type) {
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, state);
    pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, type);
}

static void uncancellable_end(int state, int type) {
    pthread_setcanceltype(type, &type);
    pthread_setcancelstate(state, &state);
}

int eva_loop_run(eva_loop *loop, eva_run_mode mode) {
    if (!loop)
        return -EINVAL;
    int flags;
    switch (mode) {
    case EVA_RUN_DEFAULT: flags = 0; break;
    case EVA_RUN_ONCE:    flags = EVRUN_ONCE; break;
    case EVA_RUN_NOWAIT:  flags = EVRUN_NOWAIT; break;
    default: return -EINVAL;
    }
    int cancel_state, cancel_type;
    uncancellable_begin(&cancel_state, &cancel_type);
    int more = ev_run(loop->ev, flags) ? 1 : 0;
    uncancellable_end(cancel_state, cancel_type);
    eva__metrics_run_ended(loop);
    if (loop->detecting)
        eva__detector_idle(loop); /* not running is not blocked */
    return more;
}

int eva_loop_stop(eva_loop *loop) {
    if (!loop)
        return -EINVAL;
    ev_break(loop->ev, EVBREAK_ALL);
    return 0;
}

bool eva__loop_cancel_pass(eva_loop *loop) {
    bool progress = false;
    for (eva_queue *n = loop->layer_list.next; n != &loop->layer_list; n = n->next) {
        eva__layer *layer = EVA__QUEUE_DATA(n, eva__layer, node);
        progress |= layer->cancel(layer);
    }
    progress |= eva__defer_cancel_pending(loop);
    progress |= eva__post_cancel_pending(loop);
    return progress;
}

/* Complete everything still pending with -ECANCELED.  Cancelling one thing
 * may queue another (a task's cleanup may defer a call), so repeat until a
 * whole pass finds nothing. */
static void cancel_everything(eva_loop *loop) {
    while (eva__loop_cancel_pass(loop))
        ;
}

static void close_layers(eva_loop *loop) {
    eva_queue *n;
    while ((n = eva__queue_pop(&loop->layer_list))) {
        eva__layer *layer = EVA__QUEUE_DATA(n, eva__layer, node);
        loop->layers[atomic_load_explicit(&layer->key->slot, memory_order_relaxed)] = NULL;
        layer->close(layer);
    }
}

int eva_loop_destroy(eva_loop *loop) {
    if (!loop)
        return -EINVAL;
    if (loop->active_handles > 0 || loop->pool_jobs > 0)
        return -EBUSY;
    eva__detector_free(loop);
    cancel_everything(loop);
    close_layers(loop);
    eva__metrics_close(loop);
    eva__defer_close(loop);
    eva__post_close(loop);
    if (loop->owns_ev)
        ev_loop_destroy(loop->ev);
    eva__free(loop);
    return 0;
}

int eva_loop_get_pool_jobs(const eva_loop *loop) { return loop ? loop->pool_jobs : -EINVAL; }

int eva_loop_get_active_handles(const eva_loop *loop) {
    return loop ? loop->active_handles : -EINVAL;
}

/* A key's slot, handed out the first time any loop attaches it.  Keys are
 * few and static; the mutex only orders the rare first attach of a key by
 * two threads at once (a loop reads its own slots without it). */
static unsigned key_slot(eva__layer_key *key) {
    static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
    static unsigned slots_used;
    pthread_mutex_lock(&mutex);
    unsigned slot = atomic_load_explicit(&key->slot, memory_order_relaxed);
    if (slot == 0 && slots_used < EVA__LAYER_SLOTS) {
        slot = ++slots_used;
        atomic_store_explicit(&key->slot, slot, memory_order_relaxed);
    }
    pthread_mutex_unlock(&mutex);
    return slot;
}

int eva__layer_attach(eva_loop *loop, eva__layer_key *key, eva__layer *layer) {
    unsigned slot = atomic_load_explicit(&key->slot, memory_order_relaxed);
    if (slot == 0 && (slot = key_slot(key)) == 0)
        return -ENOSPC;
    layer->key = key;
    eva__queue_insert_tail(&loop->layer_list, &layer->node);
    loop->layers[slot] = layer;
    return 0;
}

void eva__layers_metrics(eva_loop *loop, eva_loop_metrics *out) {
    for (eva_queue *n = loop->layer_list.next; n != &loop->layer_list; n = n->next) {
        eva__layer *layer = EVA__QUEUE_DATA(n, eva__layer, node);
        if (layer->metrics)
            layer->metrics(layer, out);
    }
}

void eva__handle_started(eva_loop *loop) { loop->active_handles++; }
void eva__handle_stopped(eva_loop *loop) { loop->active_handles--; }

void eva__watcher_unref(eva_loop *loop) { ev_unref(loop->ev); }
void eva__watcher_ref(eva_loop *loop) { ev_ref(loop->ev); }

uint64_t eva_now(const eva_loop *loop) {
    return loop ? (uint64_t)(ev_now(loop->ev) * 1e3) : 0;
}

void eva_now_update(eva_loop *loop) {
    if (loop)
        ev_now_update(loop->ev);
}

uint64_t eva_time(void) { return (uint64_t)(ev_time() * 1e3); }

uint64_t eva_hrtime(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
