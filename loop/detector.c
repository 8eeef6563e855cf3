/* loop/detector.c — the blocked-loop detector.
 *
 * The loop thread times each dispatch (two reads of the coarse monotonic
 * clock, a few ns each, a few ms of resolution: plenty for a 100 ms
 * threshold) and reports the slow ones after they return.  It also
 * publishes, for the watchdog thread, a heartbeat (the iteration it is in,
 * and whether it is waiting in its poll: no clock read) and what it runs now
 * (the innermost dispatch, under a sequence lock).  The watchdog wakes every
 * threshold/4; an iteration it finds busy on two visits has been busy since
 * the first at least, and once that is longer than the threshold it reports,
 * while the loop is still blocked.
 *
 * One hazard: a task's name is the user's memory, freed once the task ends.
 * The watchdog copies it only from a dispatch older than threshold/2, with
 * `reading` raised; a dispatch that ends after running threshold/4 or more
 * waits until `reading` is down (a store-fence-load handshake on both
 * sides), so the name cannot be freed during the copy.
 */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#ifndef CLOCK_MONOTONIC_COARSE
#define CLOCK_MONOTONIC_COARSE CLOCK_MONOTONIC
#endif

typedef struct eva__detector {
    eva_loop *loop;
    eva_detector_options opts;
    uint64_t threshold_ns, interval_ns;
    clockid_t clock;

    pthread_t thread;
    bool thread_running, stop; /* stop: guarded by mutex */
    pthread_mutex_t mutex;
    pthread_cond_t wake;

    /* the heartbeat (loop thread writes, watchdog reads): iteration x 2,
     * plus 1 while the loop runs callbacks rather than waiting in its poll */
    _Atomic uint64_t beat;

    /* the innermost dispatch: seq is odd while it is being rewritten */
    _Atomic uint32_t seq;
    _Atomic uintptr_t fn, task, file, expr; /* task: its name; file, expr: static */
    _Atomic int line;
    _Atomic uint64_t start;
    _Atomic int reading;

    /* rate limiting: [EVA_BLOCK_DISPATCH] loop thread, [IN_PROGRESS] watchdog */
    uint64_t last_report[2], suppressed[2];
    /* watchdog only: the busy beat it saw, since when, and if it reported it */
    uint64_t seen_beat, seen_since;
    bool warned;
} eva__detector;

static uint64_t clock_ns(const eva__detector *d) {
    struct timespec ts;
    clock_gettime(d->clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- reports ---------------------------------------------------------------- */

/* The culprit as one phrase, into buf; a phrase too long ends in "...". */
static void describe(eva_block_report *r, char *buf, size_t size) {
    int n;
    if (r->task && r->file)
        n = snprintf(buf, size, "task '%s' resumed at %s:%d (AWAIT %s)", r->task, r->file,
                     r->line, r->expr);
    else if (r->task)
        n = snprintf(buf, size, "task '%s' (its first step)", r->task);
    else if (r->symbol)
        n = snprintf(buf, size, "callback %s()", r->symbol);
    else if (r->callback) {
        Dl_info info;
        void *addr;
        memcpy(&addr, &r->callback, sizeof addr); /* POSIX: a function pointer fits */
        if (dladdr(addr, &info) && info.dli_fname)
            n = snprintf(buf, size, "callback at %s+%#lx (not exported: link with -rdynamic)",
                         info.dli_fname, (unsigned long)((char *)addr - (char *)info.dli_fbase));
        else
            n = snprintf(buf, size, "callback at %p", addr);
    } else
        n = snprintf(buf, size, "no evasync dispatch (libev or the daemon's own callbacks)");
    if (n >= 0 && (size_t)n < size && r->nested) /* a batch: many steps, none slow alone */
        n += snprintf(buf + n, size - (size_t)n, ", through %u shorter dispatches it ran",
                      r->nested);
    if (n < 0 || (size_t)n >= size)
        memcpy(buf + size - 4, "...", 4);
    r->culprit = buf;
}

static void lookup_symbol(eva_block_report *r) {
    Dl_info info;
    void *addr;
    memcpy(&addr, &r->callback, sizeof addr);
    r->symbol = NULL;
    if (addr && dladdr(addr, &info) && info.dli_sname)
        r->symbol = info.dli_sname;
}

/* Rate-limit, then log and call the user's callback.  now: the clock. */
static void report(eva__detector *d, eva_block_report *r, uint64_t now) {
    int k = r->kind;
    if (d->last_report[k] && now - d->last_report[k] < d->interval_ns) {
        d->suppressed[k]++;
        return;
    }
    d->last_report[k] = now;
    r->suppressed = d->suppressed[k];
    d->suppressed[k] = 0;
    char culprit[512];
    lookup_symbol(r);
    describe(r, culprit, sizeof culprit);
    char more[64] = "";
    if (r->suppressed)
        snprintf(more, sizeof more, "; %llu similar reports suppressed",
                 (unsigned long long)r->suppressed);
    eva__log(d->loop, EVA_LOG_WARN, "loop blocked for %llu ms %s %s (iteration %llu%s)",
             (unsigned long long)r->duration_ms,
             r->kind == EVA_BLOCK_IN_PROGRESS ? "so far in" : "by", culprit,
             (unsigned long long)r->iteration, more);
    if (d->opts.on_block)
        d->opts.on_block(d->opts.arg, r);
}

/* ---- the loop thread: dispatches and the heartbeat --------------------------- */

static void publish(eva__detector *d, const eva__span *s) {
    const eva__span_task *t = s ? s->task : NULL; /* copied: it lives on the loop's stack */
    uint32_t q = atomic_load_explicit(&d->seq, memory_order_relaxed);
    atomic_store_explicit(&d->seq, q + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&d->fn, s ? (uintptr_t)s->fn : 0, memory_order_relaxed);
    atomic_store_explicit(&d->task, t ? (uintptr_t)t->name : 0, memory_order_relaxed);
    atomic_store_explicit(&d->file, t ? (uintptr_t)t->file : 0, memory_order_relaxed);
    atomic_store_explicit(&d->expr, t ? (uintptr_t)t->expr : 0, memory_order_relaxed);
    atomic_store_explicit(&d->line, t ? t->line : 0, memory_order_relaxed);
    atomic_store_explicit(&d->start, s ? s->start_ns : 0, memory_order_relaxed);
    atomic_store_explicit(&d->seq, q + 2, memory_order_release);
}

void eva__span_enter(eva_loop *loop, eva__span *s) {
    eva__detector *d = loop->detector;
    s->outer = loop->span;
    s->reported = false;
    s->nested = 0;
    if (s->outer)
        s->outer->nested++;
    s->start_ns = clock_ns(d);
    loop->span = s;
    publish(d, s);
}

void eva__span_leave(eva_loop *loop, eva__span *s) {
    eva__detector *d = loop->detector;
    loop->span = s->outer;
    publish(d, s->outer);
    uint64_t now = clock_ns(d), took = now - s->start_ns;
    if (took >= d->threshold_ns / 4) { /* the watchdog may be copying our task's name */
        atomic_thread_fence(memory_order_seq_cst);
        while (atomic_load_explicit(&d->reading, memory_order_acquire))
            sched_yield();
    }
    if (took < d->threshold_ns || s->reported)
        return;
    for (eva__span *o = s->outer; o; o = o->outer)
        o->reported = true; /* one report per block: the innermost culprit */
    eva_block_report r = {
        .kind = EVA_BLOCK_DISPATCH,
        .duration_ms = took / 1000000u,
        .iteration = (uint64_t)ev_iteration(loop->ev),
        .task = s->task ? s->task->name : NULL,
        .file = s->task ? s->task->file : NULL,
        .line = s->task ? s->task->line : 0,
        .expr = s->task ? s->task->expr : NULL,
        .callback = s->task ? NULL : s->fn,
        .nested = s->nested,
    };
    report(d, &r, now);
}

void eva__detector_busy(eva_loop *loop) {
    uint64_t beat = (uint64_t)ev_iteration(loop->ev) * 2 + 1;
    atomic_store_explicit(&loop->detector->beat, beat, memory_order_relaxed);
}

void eva__detector_idle(eva_loop *loop) {
    atomic_store_explicit(&loop->detector->beat, 0, memory_order_relaxed);
}

/* ---- the watchdog thread ------------------------------------------------------ */

/* Snapshot the innermost dispatch into r (false if it changed meanwhile). */
static bool snapshot(eva__detector *d, eva_block_report *r, char *name, size_t size,
                     uint64_t now, uint64_t *start_out) {
    /* Seq_cst store and load, not fences: ThreadSanitizer models these (gcc
     * refuses atomic_thread_fence under -fsanitize=thread when optimising).
     * They pair with eva__span_leave's fence; acquire loads of the fields keep
     * the second read of seq after them. */
    atomic_store_explicit(&d->reading, 1, memory_order_seq_cst);
    uint32_t q = atomic_load_explicit(&d->seq, memory_order_seq_cst);
    uintptr_t fn = atomic_load_explicit(&d->fn, memory_order_acquire);
    uintptr_t task = atomic_load_explicit(&d->task, memory_order_acquire);
    uintptr_t file = atomic_load_explicit(&d->file, memory_order_acquire);
    uintptr_t expr = atomic_load_explicit(&d->expr, memory_order_acquire);
    int line = atomic_load_explicit(&d->line, memory_order_acquire);
    uint64_t start = atomic_load_explicit(&d->start, memory_order_acquire);
    bool stable = !(q & 1) && q == atomic_load_explicit(&d->seq, memory_order_relaxed);
    if (stable && task) {
        /* a young dispatch may end and free its task's name under us */
        if (start && now - start >= d->threshold_ns / 2) {
            if ((size_t)snprintf(name, size, "%s", (const char *)task) >= size)
                memcpy(name + size - 4, "...", 4); /* cut, and say so */
        } else
            snprintf(name, size, "(a task that just started a step)");
    }
    atomic_store_explicit(&d->reading, 0, memory_order_release);
    if (!stable)
        return false;
    r->task = task ? name : NULL;
    r->file = (const char *)file; /* static strings */
    r->line = line;
    r->expr = (const char *)expr;
    r->callback = task ? NULL : (eva__fn)fn;
    *start_out = start;
    return true;
}

static void watch(eva__detector *d) {
    uint64_t beat = atomic_load_explicit(&d->beat, memory_order_relaxed);
    uint64_t now = clock_ns(d);
    if (!(beat & 1) || beat != d->seen_beat) { /* polling, or a new iteration */
        d->seen_beat = beat;
        d->seen_since = now;
        d->warned = false;
        return;
    }
    if (d->warned || now - d->seen_since < d->threshold_ns)
        return;
    eva_block_report r = {.kind = EVA_BLOCK_IN_PROGRESS, .iteration = beat / 2};
    char name[128];
    uint64_t start = 0;
    for (int tries = 0; !snapshot(d, &r, name, sizeof name, now, &start); tries++)
        if (tries == 100)
            return; /* the loop is moving after all */
    /* busy at least since the first visit; the dispatch may say longer */
    uint64_t since = start && start < d->seen_since ? start : d->seen_since;
    r.duration_ms = (now - since) / 1000000u;
    d->warned = true;
    report(d, &r, now);
}

static void *watchdog_main(void *arg) {
    eva__detector *d = arg;
    uint64_t period = d->threshold_ns / 4;
    pthread_mutex_lock(&d->mutex);
    while (!d->stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        uint64_t ns = (uint64_t)until.tv_nsec + period;
        until.tv_sec += (time_t)(ns / 1000000000u);
        until.tv_nsec = (long)(ns % 1000000000u);
        pthread_cond_timedwait(&d->wake, &d->mutex, &until);
        if (d->stop)
            break;
        pthread_mutex_unlock(&d->mutex);
        watch(d);
        pthread_mutex_lock(&d->mutex);
    }
    pthread_mutex_unlock(&d->mutex);
    return NULL;
}

/* ---- start and stop ----------------------------------------------------------- */

static eva__detector *detector_get(eva_loop *loop) {
    if (loop->detector)
        return loop->detector;
    eva__detector *d = eva__calloc(1, sizeof *d);
    if (!d)
        return NULL;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&d->wake, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&d->mutex, NULL);
    d->loop = loop;
    return loop->detector = d;
}

int eva_detector_start(eva_loop *loop, const eva_detector_options *opts) {
    if (!loop)
        return -EINVAL;
    eva_detector_stop(loop);
    eva__detector *d = detector_get(loop);
    if (!d)
        return -ENOMEM;
    d->opts = opts ? *opts : (eva_detector_options){0};
    d->threshold_ns = (d->opts.threshold_ms ? d->opts.threshold_ms : 100) * 1000000u;
    d->interval_ns = (d->opts.interval_ms ? d->opts.interval_ms : 1000) * 1000000u;
    /* The coarse clock costs a few ns; use it unless it is too coarse to tell. */
    struct timespec res;
    bool coarse_ok = clock_getres(CLOCK_MONOTONIC_COARSE, &res) == 0 && res.tv_sec == 0 &&
                     (uint64_t)res.tv_nsec <= d->threshold_ns / 10;
    d->clock = coarse_ok ? CLOCK_MONOTONIC_COARSE : CLOCK_MONOTONIC;
    d->last_report[0] = d->last_report[1] = d->suppressed[0] = d->suppressed[1] = 0;
    d->seen_beat = 0;
    d->warned = false;
    d->stop = false;
    int rc = pthread_create(&d->thread, NULL, watchdog_main, d);
    if (rc != 0)
        return -rc;
    d->thread_running = true;
    loop->detecting = true; /* the heartbeat starts at the next poll */
    return 0;
}

int eva_detector_stop(eva_loop *loop) {
    if (!loop)
        return -EINVAL;
    eva__detector *d = loop->detector;
    loop->detecting = false;
    if (!d || !d->thread_running)
        return 0;
    pthread_mutex_lock(&d->mutex);
    d->stop = true;
    pthread_cond_signal(&d->wake);
    pthread_mutex_unlock(&d->mutex);
    pthread_join(d->thread, NULL);
    d->thread_running = false;
    atomic_store_explicit(&d->beat, 0, memory_order_relaxed);
    return 0;
}

void eva__detector_free(eva_loop *loop) {
    eva__detector *d = loop->detector;
    if (!d)
        return;
    eva_detector_stop(loop);
    pthread_cond_destroy(&d->wake);
    pthread_mutex_destroy(&d->mutex);
    eva__free(d);
    loop->detector = NULL;
}
