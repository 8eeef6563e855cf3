/* evasync/task_monitor.h — watching the loop's tasks: the list of live
 * tasks, where each is parked and on what (the task side of
 * evasync/monitor.h, whose detector and metrics are loop-level).
 */
#ifndef EVASYNC_TASK_MONITOR_H
#define EVASYNC_TASK_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "export.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- task introspection ------------------------------------------------- */

/* eva_task_info: 48 bytes on x86_64, all public (ABI: tests/test_struct_sizes.c). */
typedef struct eva_task_info {
    const eva_task *task;
    const char *name;
    eva_task_state state;
    bool cancelling;         /* cancellation requested, not finished yet */
    const eva_site *site;    /* where it is parked (the innermost nested
                                EVA_ASYNC call): NULL before its first AWAIT */
    const char *awaiting;    /* "timer", "read", "dns", "pool", "promise",
                                "task", ...; NULL when not parked */
    uint64_t parked_ms;      /* how long it has been parked (loop time) */
} eva_task_info;

/* Describe up to max live tasks into out[] (out may be NULL if max is 0).
 * Returns the number of live tasks, which may exceed max, or -EINVAL.
 * The pointers are valid until the loop next runs.  Loop thread only. */
EVA_API int eva_loop_list_tasks(eva_loop *loop, eva_task_info *out, size_t max);

/* Print one line per live task to out:
 *   task 'checkout' suspended 1520 ms at handlers.c:42 awaiting read: eva_stream_read_op(...)
 * Returns the number of tasks, or -EINVAL, or -EIO if writing failed.
 * Loop thread only (from a signal watcher, not a signal handler). */
EVA_API int eva_loop_dump_tasks(eva_loop *loop, FILE *out);

#ifdef __cplusplus
}
#endif
#endif
