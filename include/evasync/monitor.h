/* evasync/monitor.h — watching the loop: the blocked-loop detector and loop
 * metrics.  (The list of live tasks is in evasync/task_monitor.h: this
 * header is loop-level and knows nothing of tasks.)
 *
 * The iron rule of an event loop is "never block it".  The detector tells
 * you, while the loop is still blocked, what is blocking it and where:
 *
 *   - after each dispatch (a callback evasync calls, or one step of a task)
 *     that ran longer than the threshold: an EVA_BLOCK_DISPATCH report with
 *     its duration and culprit — the callback's function, or the task's name
 *     and the AWAIT it resumed from;
 *   - during a block: a watchdog thread sees the loop's heartbeat go stale
 *     and sends an EVA_BLOCK_IN_PROGRESS report naming what runs now.
 *
 * Reports go to the loop's log hook (level warn) and to an optional callback
 * as a struct.  The in-progress report comes from the watchdog thread (the
 * loop thread is stuck): both the log hook and the callback must then be
 * thread-safe.  The default log hook (stderr) is.
 *
 * Metrics are always on: loop iterations, time spent waiting in the poller,
 * and the loop's lag (how long each iteration kept the loop from polling).
 */
#ifndef EVASYNC_MONITOR_H
#define EVASYNC_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eva_loop eva_loop;

/* ---- the blocked-loop detector ------------------------------------------ */

/* What a report is about (eva_block_report.kind). */
typedef enum eva_block_kind {
    EVA_BLOCK_DISPATCH,    /* one dispatch took too long; sent after it returned */
    EVA_BLOCK_IN_PROGRESS  /* the loop has been busy too long; sent while it is */
} eva_block_kind;

/* One report.  Every pointer is valid only during the callback. */
/* eva_block_report: 96 bytes on x86_64, all public (ABI: tests/test_struct_sizes.c). */
typedef struct eva_block_report {
    eva_block_kind kind;
    uint64_t duration_ms;   /* the dispatch's duration (at least: counted from the watchdog's
                               first sighting, at most threshold/4 late), or the block's so far */
    uint64_t iteration;     /* the loop iteration (ev_iteration) */
    const char *task;       /* the task's name, or NULL for a callback */
    const char *file;       /* the AWAIT the task resumed from: NULL if none */
    int line;
    const char *expr;       /* the awaited expression, as written */
    void (*callback)(void); /* the callback's function, or NULL */
    const char *symbol;     /* its name, from the symbol table of the object
                               holding it (static functions too) or its
                               dynamic symbols; NULL if none has it */
    unsigned nested;        /* EVA_BLOCK_DISPATCH: dispatches that ran inside
                               this one (a batch of tasks or reactions, each
                               shorter than the threshold) */
    const char *culprit;    /* all of the above, as one readable phrase */
    uint64_t suppressed;    /* reports of this kind dropped by the rate limit
                               since the previous one */
} eva_block_report;

/* The detector's report hook: arg is the one given in the options. */
typedef void (*eva_block_fn)(void *arg, const eva_block_report *report);

/* eva_detector_options: 32 bytes on x86_64, all public (ABI: tests/test_struct_sizes.c). */
typedef struct eva_detector_options {
    uint64_t threshold_ms;  /* report dispatches and blocks longer; 0: 100 */
    uint64_t interval_ms;   /* at most one report of each kind per interval;
                               0: 1000 */
    eva_block_fn on_block;  /* also called with each report; may be NULL */
    void *arg;              /* passed to on_block */
} eva_detector_options;

/* Start the detector on loop (opts NULL: the defaults), or restart it with
 * new options.  Starts the watchdog thread.  Loop thread only.  Returns 0;
 * -EINVAL (NULL loop); -ENOMEM; pthread_create's error. */
EVA_API int eva_detector_start(eva_loop *loop, const eva_detector_options *opts);

/* Stop the detector and join its thread.  Stopping a stopped detector does
 * nothing.  Loop thread only.  Returns 0 or -EINVAL. */
EVA_API int eva_detector_stop(eva_loop *loop);

/* ---- metrics ------------------------------------------------------------ */

/* eva_loop_metrics: 56 bytes on x86_64, all public (ABI: tests/test_struct_sizes.c). */
typedef struct eva_loop_metrics {
    uint64_t iterations;     /* loop iterations seen (polls) */
    uint64_t idle_ns;        /* time spent waiting in the poller, like
                                uv_metrics_idle_time() */
    uint64_t lag_ns_p50, lag_ns_p99, lag_ns_max; /* busy time per iteration:
                                how long an event that arrived during it
                                waited, at worst; every iteration counts */
    size_t tasks;            /* live tasks (top-level and scope children),
                                counted by the task layer */
    int pool_jobs;           /* offload jobs in flight from this loop */
} eva_loop_metrics;

/* Fill *out.  Loop thread only.  Returns 0 or -EINVAL. */
EVA_API int eva_loop_get_metrics(eva_loop *loop, eva_loop_metrics *out);

#ifdef __cplusplus
}
#endif
#endif
