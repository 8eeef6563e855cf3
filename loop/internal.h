/* loop/internal.h — what the loop layer shares with the layers above it.
 * Not installed; names start with eva__. */
#ifndef EVASYNC_LOOP_INTERNAL_H
#define EVASYNC_LOOP_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "evasync.h"
#include "histogram.h"
#include "queue.h"

#if defined(__GNUC__)
#define EVA__PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define EVA__PRINTF(fmt, args)
#endif

#define EVA__CONTAINER_OF(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* A handle counts as active from start until its callback has run for the
 * last time: libev stops an expired one-shot timer (or an fd it failed to
 * watch) before the callback, leaving it merely pending, and stopping it
 * then must still cancel that pending callback. */
#define EVA__WATCHER_LIVE(w) (ev_is_active(w) || ev_is_pending(w))

/* Intrusive doubly linked lists, NULL-terminated, with a head pointer: any
 * struct with `prev` and `next` pointers to its own type can be a node. */
#define EVA__LIST_PUSH(head, node)                                            \
    do {                                                                      \
        (node)->prev = NULL;                                                  \
        (node)->next = (head);                                                \
        if (head)                                                             \
            (head)->prev = (node);                                            \
        (head) = (node);                                                      \
    } while (0)

#define EVA__LIST_REMOVE(head, node)                                          \
    do {                                                                      \
        if ((node)->prev)                                                     \
            (node)->prev->next = (node)->next;                                \
        else                                                                  \
            (head) = (node)->next;                                            \
        if ((node)->next)                                                     \
            (node)->next->prev = (node)->prev;                                \
        (node)->prev = (node)->next = NULL;                                   \
    } while (0)

/* The one allocation path (alloc.c): NULL means out of memory. */
void *eva__alloc(size_t size);
void *eva__calloc(size_t n, size_t size);
void *eva__realloc(void *ptr, size_t size);
void  eva__free(void *ptr);

/* Format one line and hand it to the loop's log hook. */
void eva__log(eva_loop *loop, eva_log_level level, const char *fmt, ...) EVA__PRINTF(3, 4);

/* A higher layer's per-loop state (tasks, promises, DNS): eva_loop_destroy()
 * calls cancel() on each until a whole pass finds nothing left to cancel and
 * no deferred or posted call remains, then close() on each to free it. */
typedef struct eva__owned {
    struct eva__owned *prev, *next;
    bool (*cancel)(struct eva__owned *self); /* true if it cancelled anything */
    void (*close)(struct eva__owned *self);
} eva__owned;

void eva__loop_own(eva_loop *loop, eva__owned *obj);
void eva__loop_disown(eva__owned *obj);

/* Handles report start/stop so destroy can refuse while any is active. */
void eva__handle_started(eva_loop *loop);
void eva__handle_stopped(eva_loop *loop);

/* Internal watchers that must not keep the loop alive. */
void eva__watcher_unref(eva_loop *loop);
void eva__watcher_ref(eva_loop *loop);

/* Slots in which higher layers keep their per-loop state. */
enum { EVA__LAYER_ASYNC, EVA__LAYER_DNS, EVA__LAYER_NET, EVA__LAYER_COUNT };

struct eva_loop {
    struct ev_loop *ev;
    bool owns_ev;
    int active_handles;
    int pool_jobs; /* offload jobs submitted from here whose done() has not run */

    eva_log_fn log_fn;
    void *log_ud;

    /* deferred calls: an idle watcher keeps the poll from blocking while the
     * queue is non-empty; the check watcher (run right after the poll) drains it */
    eva_queue defer_queue;
    ev_idle defer_idle;
    ev_check defer_check;

    /* posted calls: any thread appends under the mutex and wakes the loop */
    pthread_mutex_t post_mutex;
    eva_queue post_queue;
    ev_async post_async;

    eva__owned owned; /* sentinel of the circular list of owned objects */

    /* metrics (metrics.c): the poll's start and end in libev's time */
    ev_check poll_done;     /* first watcher after the poll */
    ev_prepare poll_next;   /* attach mode: the daemon may own the release hook */
    double poll_started, poll_ended;
    uint64_t iterations, idle_ns;
    size_t tasks;           /* live tasks, counted by async/ */
    eva__hist lag_ns;

    /* the blocked-loop detector (detector.c) */
    bool detecting;
    struct eva__detector *detector; /* allocated on first start, freed at destroy */
    struct eva__span *span;         /* the innermost timed dispatch */

    /* per-loop state of the layers above (async/, net/), opaque here */
    void *layers[EVA__LAYER_COUNT];
};

/* metrics.c: install the iteration hooks; remove them at destroy. */
void eva__metrics_init(eva_loop *loop);
void eva__metrics_close(eva_loop *loop);
/* metrics.c: eva_loop_run returned; its last iteration's lag is sampled now. */
void eva__metrics_run_ended(eva_loop *loop);

/* A dispatch: evasync calling user code (a callback, a task step).  While
 * the detector runs, each is timed and published to its watchdog. */
typedef void (*eva__fn)(void); /* any function: the culprit's address */
typedef struct eva__span {
    struct eva__span *outer;
    eva__fn fn;
    const char *task;       /* the task's name, or NULL */
    const eva_site *site;   /* the AWAIT the task resumed from */
    uint64_t start_ns;
    unsigned nested;        /* dispatches run inside this one */
    bool timed, reported;
} eva__span;

void eva__span_enter(eva_loop *loop, eva__span *s);
void eva__span_leave(eva_loop *loop, eva__span *s);
void eva__detector_free(eva_loop *loop);
/* metrics.c tells the detector when the loop wakes up and goes to sleep */
void eva__detector_busy(eva_loop *loop);
void eva__detector_idle(eva_loop *loop);

static inline void eva__dispatch_begin(eva_loop *loop, eva__span *s, eva__fn fn,
                                       const char *task, const eva_site *site) {
    s->timed = loop && loop->detecting; /* a load and a branch when it is off */
    if (s->timed) {
        s->fn = fn;
        s->task = task;
        s->site = site;
        eva__span_enter(loop, s);
    }
}

static inline void eva__dispatch_end(eva_loop *loop, eva__span *s) {
    if (s->timed)
        eva__span_leave(loop, s);
}

/* Run the statement `call`, a call of the user's function fn, as one
 * dispatch.  loop is evaluated once, before the call (which may free the
 * handle it came from). */
#define EVA__CALL_USER(loop, fn, call)                                        \
    do {                                                                      \
        eva_loop *eva__loop_ = (loop);                                        \
        eva__span eva__span_;                                                 \
        eva__dispatch_begin(eva__loop_, &eva__span_, (eva__fn)(fn), NULL, NULL); \
        call;                                                                 \
        eva__dispatch_end(eva__loop_, &eva__span_);                           \
    } while (0)

/* defer.c / post.c: set up, and at destroy cancel what is queued.
 * The *_cancel_pending functions return true if they ran anything. */
/* Run the calls of batch (a queue detached from the loop's) with status,
 * each unlinked before its function runs and never read again after, so the
 * function may free or re-queue its node. */
void eva__run_calls(eva_loop *loop, eva_queue *batch, int status);
void eva__defer_init(eva_loop *loop);

bool eva__defer_cancel_pending(eva_loop *loop);
void eva__defer_close(eva_loop *loop);
int  eva__post_init(eva_loop *loop);
bool eva__post_cancel_pending(eva_loop *loop);
void eva__post_close(eva_loop *loop);

#endif
