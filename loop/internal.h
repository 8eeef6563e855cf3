/* loop/internal.h — what the loop layer shares with the layers above it.
 * Not installed; names start with eva__.
 *
 * The layering rule: loop/ knows nothing of the layers above it (async/:
 * tasks, promises, scopes, sync; net/: TCP, DNS).  loop/ files include only
 * the loop-level public headers (error, alloc, log, loop, call, timer, io,
 * signal, queue, monitor, pool) and never task.h, promise.h, scope.h,
 * sync.h, tcp.h, dns.h or evasync.h.  An upper layer keeps its per-loop
 * state behind an eva__layer it attaches to the loop (below), and hands the
 * loop what the loop reports about it as plain values: the task count
 * through its metrics hook, a task's name and AWAIT site as strings and ints
 * in the eva__span of each dispatch. */
#ifndef EVASYNC_LOOP_INTERNAL_H
#define EVASYNC_LOOP_INTERNAL_H

#include <ev.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "evasync/alloc.h"
#include "evasync/call.h"
#include "evasync/error.h"
#include "evasync/io.h"
#include "evasync/log.h"
#include "evasync/loop.h"
#include "evasync/monitor.h"
#include "evasync/pool.h"
#include "evasync/signal.h"
#include "evasync/timer.h"
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

/* ---- the shuffle mode (shuffle.c, docs/reliability.md) -------------------
 *
 * With EVA_SHUFFLE_SEED=n in the environment when a loop is created, the
 * loop varies every order the API does not promise, deterministically from
 * n.  Off, each place that could vary an order costs one predictable branch
 * (eva__loop_shuffle returns NULL). */
typedef struct eva__shuffle {
    bool on;
    uint64_t state; /* splitmix64's */
} eva__shuffle;

/* Read EVA_SHUFFLE_SEED: on with that seed, or off (unset, empty, not a number). */
void eva__shuffle_init(eva__shuffle *s);
uint64_t eva__shuffle_next(eva__shuffle *s);
/* True with probability 1/n. */
bool eva__shuffle_one_in(eva__shuffle *s, unsigned n);
/* Permute the NULL-terminated singly linked list starting at head, whose
 * nodes keep their next pointer next_off bytes in; returns the new head. */
void *eva__shuffle_slist(eva__shuffle *s, void *head, size_t next_off);
/* Append to out every node of ordered, in their order, and every node of
 * loose, in a random order, randomly interleaved; both are left empty. */
void eva__shuffle_interleave(eva__shuffle *s, eva_queue *ordered, eva_queue *loose,
                             eva_queue *out);

/* The one allocation path (alloc.c): NULL means out of memory. */
void *eva__alloc(size_t size);
void *eva__calloc(size_t n, size_t size);
void *eva__realloc(void *ptr, size_t size);
void  eva__free(void *ptr);

/* Format one line and hand it to the loop's log hook. */
void eva__log(eva_loop *loop, eva_log_level level, const char *fmt, ...) EVA__PRINTF(3, 4);

/* ---- layers: the libraries above the loop keep per-loop state here ------
 *
 * A layer (async/, net/'s TCP, DNS) owns one static eva__layer_key and, per
 * loop, a struct embedding an eva__layer, attached on first use.  The key
 * gets a slot number the first time any loop attaches it; from then on
 * finding a loop's state is two loads (the key's slot, the loop's slot).
 * Slot 0 is never handed out and always NULL: a key not attached yet finds
 * nothing, without a branch.
 *
 * eva_loop_destroy() calls cancel() on each attached layer (in attach
 * order) until a whole pass finds nothing left to cancel and no deferred or
 * posted call remains; then it detaches each and calls close() to free it. */
enum { EVA__LAYER_SLOTS = 8 }; /* the layers evasync has, with room to grow */

typedef struct eva__layer_key {
    _Atomic unsigned slot; /* 0: not attached to any loop yet */
} eva__layer_key;

typedef struct eva__layer {
    eva_queue node;        /* the loop's attached layers */
    eva__layer_key *key;
    bool (*cancel)(struct eva__layer *self); /* true if it cancelled anything */
    void (*close)(struct eva__layer *self);
    /* optional: add this layer's figures (e.g. its live tasks) to *out */
    void (*metrics)(const struct eva__layer *self, eva_loop_metrics *out);
} eva__layer;

/* Attach layer (its callbacks set, key static) to loop: 0, or -ENOSPC when
 * every slot is taken (more layer keys than EVA__LAYER_SLOTS: a build bug). */
int eva__layer_attach(eva_loop *loop, eva__layer_key *key, eva__layer *layer);

/* Handles report start/stop so destroy can refuse while any is active. */
void eva__handle_started(eva_loop *loop);
void eva__handle_stopped(eva_loop *loop);

/* Internal watchers that must not keep the loop alive. */
void eva__watcher_unref(eva_loop *loop);
void eva__watcher_ref(eva_loop *loop);

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
    eva_queue defer_loose; /* shuffle mode: eva__defer_unordered's calls */
    ev_idle defer_idle;
    ev_check defer_check;

    /* posted calls: any thread appends under the mutex and wakes the loop */
    pthread_mutex_t post_mutex;
    eva_queue post_queue;
    eva_queue post_loose; /* shuffle mode: eva__post_unordered's calls */
    ev_async post_async;

    eva_queue layer_list; /* the attached layers, in attach order */

    /* metrics (metrics.c): the poll's start and end in libev's time */
    ev_check poll_done;     /* first watcher after the poll */
    ev_prepare poll_next;   /* attach mode: the daemon may own the release hook */
    double poll_started, poll_ended;
    bool polled;            /* owned loop: a poll returned, its end not yet noted */
    uint64_t iterations, idle_ns;
    eva__hist lag_ns;

    /* the blocked-loop detector (detector.c) */
    bool detecting;
    /* the heartbeat (loop thread writes, the watchdog reads): iteration x 2,
     * plus 1 while the loop runs callbacks rather than waiting in its poll;
     * here rather than in the detector, so that writing it is one store */
    _Atomic uint64_t beat;
    struct eva__detector *detector; /* allocated on first start, freed at destroy */
    struct eva__span *span;         /* the innermost timed dispatch */

    /* per-loop state of the layers above, by their key's slot (0: none) */
    eva__layer *layers[EVA__LAYER_SLOTS + 1];

    eva__shuffle shuffle; /* loop thread only */
};

/* The loop's shuffle generator in shuffle mode, or NULL (the mode is off). */
static inline eva__shuffle *eva__loop_shuffle(eva_loop *loop) {
    return loop->shuffle.on ? &loop->shuffle : NULL;
}

/* The state attached to loop under key (a struct whose first member is its
 * eva__layer: EVA__LAYER_FIRST checks it), or NULL. */
static inline void *eva__layer_get(const eva_loop *loop, eva__layer_key *key) {
    return loop->layers[atomic_load_explicit(&key->slot, memory_order_relaxed)];
}
#define EVA__LAYER_FIRST(type, member) \
    _Static_assert(offsetof(type, member) == 0, #type "'s eva__layer must come first")

/* The attached layers' metrics hooks, in attach order (loop.c). */
void eva__layers_metrics(eva_loop *loop, eva_loop_metrics *out);

/* metrics.c: install the iteration hooks; remove them at destroy. */
void eva__metrics_init(eva_loop *loop);
void eva__metrics_close(eva_loop *loop);
/* metrics.c: eva_loop_run returned; its last iteration's lag is sampled now. */
void eva__metrics_run_ended(eva_loop *loop);

/* A dispatch: evasync calling user code (a callback, a task step).  While
 * the detector runs, each is published to its watchdog, which times it. */
typedef void (*eva__fn)(void); /* any function: the culprit's address */

/* A task step, as the detector reports it: plain values the task layer
 * fills in (loop/ has no idea what a task is).  name is the user's memory,
 * valid while the step runs; file and expr are static strings (or NULL). */
typedef struct eva__span_task {
    const char *name;
    const char *file;       /* the AWAIT the task resumed from: NULL if none */
    const char *expr;
    int line;
} eva__span_task;
typedef struct eva__span {
    struct eva__span *outer;
    uint32_t seq;           /* its number, as published to the watchdog */
    unsigned depth;         /* how many dispatches it runs inside */
    unsigned nested;        /* dispatches run inside this one */
    bool timed, reported;
} eva__span;

/* fn: the user's function; task: a task step's description (NULL: a
 * callback), which must stay valid and unchanged until eva__span_leave. */
void eva__span_enter(eva_loop *loop, eva__span *s, eva__fn fn, const eva__span_task *task);
void eva__span_leave(eva_loop *loop, eva__span *s);
void eva__detector_free(eva_loop *loop);
/* metrics.c tells the detector when the loop wakes up and goes to sleep */
static inline void eva__detector_busy(eva_loop *loop) {
    atomic_store_explicit(&loop->beat, loop->iterations * 2 + 1, memory_order_relaxed);
}

static inline void eva__detector_idle(eva_loop *loop) {
    atomic_store_explicit(&loop->beat, 0, memory_order_relaxed);
}

/* Whether dispatches are being timed: a layer describes its dispatch (an
 * eva__span_task) only then. */
static inline bool eva__detecting(const eva_loop *loop) { return loop->detecting; }

static inline void eva__dispatch_begin(eva_loop *loop, eva__span *s, eva__fn fn,
                                       const eva__span_task *task) {
    s->timed = loop && loop->detecting; /* a load and a branch when it is off */
    if (s->timed)
        eva__span_enter(loop, s, fn, task);
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
        eva__dispatch_begin(eva__loop_, &eva__span_, (eva__fn)(fn), NULL);       \
        call;                                                                 \
        eva__dispatch_end(eva__loop_, &eva__span_);                           \
    } while (0)

/* defer.c / post.c: set up, and at destroy cancel what is queued.
 * The *_cancel_pending functions return true if they ran anything. */
/* Run the calls of batch (a queue detached from the loop's) with status,
 * each unlinked before its function runs and never read again after, so the
 * function may free or re-queue its node. */
void eva__run_calls(eva_loop *loop, eva_queue *batch, int status);
/* Move ordered's and loose's calls into batch (a fresh queue): in shuffle
 * mode loose's scattered at random among ordered's, else ordered's alone (in
 * order; loose is then empty).  False when batch is empty. */
bool eva__take_batch(eva_loop *loop, eva_queue *ordered, eva_queue *loose, eva_queue *batch);
void eva__defer_init(eva_loop *loop);

/* Internal calls whose order relative to other calls nobody relies on (a
 * task batch, a promise's reactions, a pool job's hand-back): as
 * eva_loop_defer / eva_loop_post, but in shuffle mode they run at a random
 * place in their batch, while the calls queued the ordinary way keep their
 * order among themselves.  Same arguments, never NULL. */
void eva__defer_unordered(eva_loop *loop, eva_call *call, eva_call_fn fn, void *arg);
void eva__post_unordered(eva_loop *loop, eva_call *call, eva_call_fn fn, void *arg);

bool eva__defer_cancel_pending(eva_loop *loop);
void eva__defer_close(eva_loop *loop);
int  eva__post_init(eva_loop *loop);
bool eva__post_cancel_pending(eva_loop *loop);
void eva__post_close(eva_loop *loop);

/* One pass of what eva_loop_destroy does first: complete with -ECANCELED
 * what is pending on loop (each layer's objects, deferred and posted
 * calls); true if it found anything.  A loop group repeats it over all its
 * loops until none finds anything, since a call cancelled on one loop may
 * post to another (group.c). */
bool eva__loop_cancel_pass(eva_loop *loop);

#endif
