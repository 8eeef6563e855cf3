/* loop/detector.c — the blocked-loop detector.
 *
 * The loop thread reads no clock per dispatch.  It publishes what it runs:
 * for each level of nesting, the dispatch's number and its culprit (under a
 * sequence lock per level), and how deep it is; and per iteration a
 * heartbeat (the iteration it is in, and whether it is waiting in its poll).
 * The watchdog thread wakes every threshold/4 and does the timing: a
 * dispatch number it finds again on its next visit has lasted at least since
 * the first sighting; it flags it, with that time, and the loop thread reads
 * the clock when a flagged dispatch returns, to report it if it lasted the
 * threshold.  An iteration the watchdog finds busy on visits further apart
 * than the threshold is reported while the loop is still blocked.
 *
 * One hazard: a task's name is the user's memory, freed once the task ends.
 * The watchdog copies it only from a dispatch it flagged on an earlier
 * visit, with `reading` raised; a flagged dispatch waits, when it returns,
 * until `reading` is down (a store-fence-load handshake on both sides), so
 * the name cannot be freed during the copy.  The flag was raised a whole
 * watchdog period (threshold/4) before the copy, which a returning dispatch
 * is sure to see by then.
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
#include "symbolize.h"

/* Levels of nesting published; a dispatch deeper than that is seen as its
 * outer dispatch at the last level. */
enum { SLOTS = 8 };

/* One level of nesting: the dispatch running there (loop thread writes) and
 * the watchdog's flag on it (watchdog writes). */
typedef struct eva__slot {
    _Atomic uint32_t seq; /* the dispatch's number: even; odd while rewritten */
    _Atomic uintptr_t fn;
    _Atomic uintptr_t task; /* its eva__span_task, on the loop's stack: read only
                               from a flagged dispatch, which waits for `reading` */
    _Atomic uint32_t long_seq; /* the number of a dispatch the watchdog saw lasting, */
    _Atomic uint64_t since;    /* and when it first saw it */
} eva__slot;

/* What the watchdog saw at one level on its last visit. */
typedef struct eva__sighting {
    uint32_t seq;   /* 0: nothing */
    uint64_t since; /* the first visit that saw it */
    unsigned visits;
} eva__sighting;

typedef struct eva__detector {
    eva_loop *loop;
    eva_detector_options opts;
    uint64_t threshold_ns, interval_ns;

    pthread_t thread;
    bool thread_running, stop; /* stop: guarded by mutex */
    pthread_mutex_t mutex;
    pthread_cond_t wake;

    /* the dispatches running, outermost first: depth of them */
    _Atomic uint32_t depth;
    eva__slot slot[SLOTS];
    uint32_t last_seq; /* loop thread: the last dispatch number given */
    _Atomic int reading;
    /* ev_iteration() - loop->iterations: the heartbeat counts with the
     * latter, a load rather than a call into libev */
    uint64_t iteration_base;

    /* rate limiting: [EVA_BLOCK_DISPATCH] loop thread, [IN_PROGRESS] watchdog */
    uint64_t last_report[2], suppressed[2];
    /* watchdog only: the busy beat it saw, since when, and if it reported it;
     * the dispatches it saw */
    uint64_t seen_beat, seen_since;
    bool warned;
    eva__sighting seen[SLOTS];

    /* the callbacks' names: the watchdog resolves, either thread reads */
    eva__names names;
} eva__detector;

/* The precise clock: only the watchdog and a returning flagged dispatch read it. */
static uint64_t clock_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- reports ---------------------------------------------------------------- */

/* The culprit as one phrase, into buf; a phrase too long ends in "...".
 * name: the callback's, if resolved. */
static void describe(eva_block_report *r, const eva__name *name, char *buf, size_t size) {
    int n;
    if (r->task && r->file)
        n = snprintf(buf, size, "task '%s' resumed at %s:%d (AWAIT %s)", r->task, r->file,
                     r->line, r->expr);
    else if (r->task)
        n = snprintf(buf, size, "task '%s' (its first step)", r->task);
    else if (name)
        n = snprintf(buf, size, "callback %s", name->phrase);
    else if (r->symbol)
        n = snprintf(buf, size, "callback %s()", r->symbol);
    else if (r->callback) {
        Dl_info info;
        void *addr;
        memcpy(&addr, &r->callback, sizeof addr); /* POSIX: a function pointer fits */
        if (dladdr(addr, &info) && info.dli_fname)
            n = snprintf(buf, size, "callback at %s+%#lx (its name was not looked up in time: "
                         "addr2line -f -e FILE names it)",
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

/* The callback's name.  The watchdog (in-progress reports) looks it up; the
 * loop thread may not read files or allocate, and finds it in the cache,
 * where the watchdog put it when it flagged the dispatch. */
static const eva__name *lookup_symbol(eva__detector *d, eva_block_report *r) {
    uintptr_t addr;
    memcpy(&addr, &r->callback, sizeof addr);
    r->symbol = NULL;
    if (!addr)
        return NULL;
    const eva__name *name = r->kind == EVA_BLOCK_IN_PROGRESS ? eva__names_resolve(&d->names, addr)
                                                             : eva__names_find(&d->names, addr);
    Dl_info info;
    if (name && name->symbol[0])
        r->symbol = name->symbol;
    else if (!name && dladdr((void *)addr, &info) && info.dli_sname)
        r->symbol = info.dli_sname;
    return name;
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
    describe(r, lookup_symbol(d, r), culprit, sizeof culprit);
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

/* Two pointers, not the culprit's strings: this runs for every dispatch. */
static void publish(eva__detector *d, eva__slot *slot, eva__span *s, eva__fn fn,
                    const eva__span_task *task) {
    uint32_t q = d->last_seq += 2;
    s->seq = q;
    /* Release stores: a watchdog that reads a new field also sees the odd
     * number before it, and retries (a fence would do the same, but
     * ThreadSanitizer does not model fences). */
    atomic_store_explicit(&slot->seq, q - 1, memory_order_relaxed);
    atomic_store_explicit(&slot->fn, (uintptr_t)fn, memory_order_release);
    atomic_store_explicit(&slot->task, (uintptr_t)task, memory_order_release);
    atomic_store_explicit(&slot->seq, q, memory_order_release);
}

void eva__span_enter(eva_loop *loop, eva__span *s, eva__fn fn, const eva__span_task *task) {
    eva__detector *d = loop->detector;
    eva__span *outer = loop->span;
    s->outer = outer;
    s->reported = false;
    s->nested = 0;
    s->depth = 0;
    if (outer) {
        outer->nested++;
        s->depth = outer->depth + 1;
    }
    loop->span = s;
    if (s->depth < SLOTS)
        publish(d, &d->slot[s->depth], s, fn, task);
    atomic_store_explicit(&d->depth, s->depth + 1, memory_order_release);
}

/* A dispatch the watchdog saw lasting has returned: report it if it lasted
 * the threshold, counted from the watchdog's first sighting. */
__attribute__((noinline)) /* keeps eva__span_leave short */
static void span_left_late(eva_loop *loop, eva__detector *d, eva__span *s, eva__slot *slot) {
    atomic_thread_fence(memory_order_seq_cst); /* the watchdog may be copying our task's name */
    while (atomic_load_explicit(&d->reading, memory_order_acquire))
        sched_yield();
    uint64_t now = clock_ns(), took = now - atomic_load_explicit(&slot->since, memory_order_relaxed);
    if (took < d->threshold_ns || s->reported)
        return;
    for (eva__span *o = s->outer; o; o = o->outer)
        o->reported = true; /* one report per block: the innermost culprit */
    /* the loop thread wrote these: it may read them plainly */
    const eva__span_task *t = (const eva__span_task *)atomic_load_explicit(&slot->task, memory_order_relaxed);
    uintptr_t fn = atomic_load_explicit(&slot->fn, memory_order_relaxed);
    eva_block_report r = {
        .kind = EVA_BLOCK_DISPATCH,
        .duration_ms = took / 1000000u,
        .iteration = loop->iterations + d->iteration_base,
        .task = t ? t->name : NULL,
        .file = t ? t->file : NULL,
        .line = t ? t->line : 0,
        .expr = t ? t->expr : NULL,
        .callback = t ? NULL : (eva__fn)fn,
        .nested = s->nested,
    };
    report(d, &r, now);
}

void eva__span_leave(eva_loop *loop, eva__span *s) {
    eva__detector *d = loop->detector;
    loop->span = s->outer;
    atomic_store_explicit(&d->depth, s->depth, memory_order_release);
    if (s->depth >= SLOTS)
        return; /* seen as its outer dispatch */
    eva__slot *slot = &d->slot[s->depth];
    if (atomic_load_explicit(&slot->long_seq, memory_order_acquire) == s->seq)
        span_left_late(loop, d, s, slot);
}

/* ---- the watchdog thread ------------------------------------------------------ */

/* A flagged callback's name, for the report the loop thread may send when
 * it returns (a task's step is named by its task instead). */
static void name_callback(eva__detector *d, eva__slot *slot) {
    if (!atomic_load_explicit(&slot->task, memory_order_acquire))
        eva__names_resolve(&d->names, atomic_load_explicit(&slot->fn, memory_order_acquire));
}

/* Track the dispatches running now: one seen again on this visit has run at
 * least since the first sighting; flag it for the loop thread to time its
 * end. */
static void track_dispatches(eva__detector *d, uint64_t now) {
    uint32_t depth = atomic_load_explicit(&d->depth, memory_order_acquire);
    for (uint32_t i = 0; i < SLOTS; i++) {
        eva__sighting *w = &d->seen[i];
        uint32_t q = i < depth ? atomic_load_explicit(&d->slot[i].seq, memory_order_acquire) : 0;
        if (!q || (q & 1) || q != w->seq) { /* nothing, being rewritten, or new */
            *w = (eva__sighting){.seq = q & 1 ? 0 : q, .since = now, .visits = 1};
            continue;
        }
        if (++w->visits == 2) {
            atomic_store_explicit(&d->slot[i].since, w->since, memory_order_relaxed);
            atomic_store_explicit(&d->slot[i].long_seq, q, memory_order_release);
            name_callback(d, &d->slot[i]);
        }
    }
}

/* Snapshot the innermost dispatch into r (false if it changed meanwhile). */
static bool snapshot(eva__detector *d, eva_block_report *r, char *name, size_t size) {
    /* Seq_cst store and loads, not fences: ThreadSanitizer models these (gcc
     * refuses atomic_thread_fence under -fsanitize=thread when optimising).
     * They pair with span_left_late's fence; acquire loads of the fields keep
     * the second read of seq after them. */
    atomic_store_explicit(&d->reading, 1, memory_order_seq_cst);
    uint32_t depth = atomic_load_explicit(&d->depth, memory_order_seq_cst);
    if (!depth) {
        atomic_store_explicit(&d->reading, 0, memory_order_release);
        return true; /* no evasync dispatch */
    }
    uint32_t i = depth < SLOTS ? depth - 1 : SLOTS - 1;
    eva__slot *slot = &d->slot[i];
    uint32_t q = atomic_load_explicit(&slot->seq, memory_order_seq_cst);
    uintptr_t fn = atomic_load_explicit(&slot->fn, memory_order_acquire);
    uintptr_t task = atomic_load_explicit(&slot->task, memory_order_acquire);
    bool stable = !(q & 1) && q == atomic_load_explicit(&slot->seq, memory_order_relaxed);
    /* A dispatch not flagged a visit ago may end, and its task free its name
     * and the loop reuse the stack its description is on, under us: it does
     * not wait for `reading`.  Its description is left out. */
    bool readable = stable && d->seen[i].seq == q && d->seen[i].visits >= 3;
    if (stable && task && readable) {
        const eva__span_task *t = (const eva__span_task *)task;
        if ((size_t)snprintf(name, size, "%s", t->name) >= size)
            memcpy(name + size - 4, "...", 4); /* cut, and say so */
        r->file = t->file; /* static strings */
        r->line = t->line;
        r->expr = t->expr;
    } else if (stable && task)
        snprintf(name, size, "(a task that just started a step)");
    atomic_store_explicit(&d->reading, 0, memory_order_release);
    if (!stable)
        return false;
    r->task = task ? name : NULL;
    r->callback = task ? NULL : (eva__fn)fn;
    return true;
}

static void watch(eva__detector *d) {
    uint64_t now = clock_ns();
    track_dispatches(d, now);
    uint64_t beat = atomic_load_explicit(&d->loop->beat, memory_order_relaxed);
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
    for (int tries = 0; !snapshot(d, &r, name, sizeof name); tries++)
        if (tries == 100)
            return; /* the loop is moving after all */
    r.duration_ms = (now - d->seen_since) / 1000000u; /* busy at least since the first visit */
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
    d->last_report[0] = d->last_report[1] = d->suppressed[0] = d->suppressed[1] = 0;
    d->seen_beat = 0;
    d->warned = false;
    d->iteration_base = (uint64_t)ev_iteration(loop->ev) - loop->iterations; /* both count on */
    memset(d->seen, 0, sizeof d->seen);
    for (int i = 0; i < SLOTS; i++) /* a flag from the last run matches no dispatch now */
        atomic_store_explicit(&d->slot[i].long_seq, 0, memory_order_relaxed);
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
    atomic_store_explicit(&loop->beat, 0, memory_order_relaxed);
    return 0;
}

void eva__detector_free(eva_loop *loop) {
    eva__detector *d = loop->detector;
    if (!d)
        return;
    eva_detector_stop(loop);
    pthread_cond_destroy(&d->wake);
    pthread_mutex_destroy(&d->mutex);
    eva__names_free(&d->names);
    eva__free(d);
    loop->detector = NULL;
}
