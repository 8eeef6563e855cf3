/* evasync/log.h — where the library's warnings go.
 *
 * evasync never prints on its own initiative except through a loop's log
 * hook.  The default hook writes one line to stderr: "evasync: <level>: msg".
 */
#ifndef EVASYNC_LOG_H
#define EVASYNC_LOG_H

#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eva_loop eva_loop;

/* The severity of a log line, lowest first. */
typedef enum eva_log_level {
    EVA_LOG_DEBUG,
    EVA_LOG_INFO,
    EVA_LOG_WARN,
    EVA_LOG_ERROR
} eva_log_level;

/* A log hook.  msg is a complete line without the trailing newline, valid
 * only during the call.  Called on the loop's thread, and also from the
 * blocked-loop detector's watchdog thread while it runs (evasync/monitor.h). */
typedef void (*eva_log_fn)(void *ud, eva_loop *loop, eva_log_level level, const char *msg);

/* Send loop's log lines to fn(ud, ...); fn == NULL restores the stderr hook.
 * Returns 0, or -EINVAL if loop is NULL. */
EVA_API int eva_loop_set_log(eva_loop *loop, eva_log_fn fn, void *ud);

/* The name of a level: "debug", "info", "warn" or "error". */
EVA_API const char *eva_log_level_name(eva_log_level level);

#ifdef __cplusplus
}
#endif
#endif
