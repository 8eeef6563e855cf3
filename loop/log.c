/* loop/log.c — the log hook and its stderr default. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

const char *eva_log_level_name(eva_log_level level) {
    switch (level) {
    case EVA_LOG_DEBUG: return "debug";
    case EVA_LOG_INFO:  return "info";
    case EVA_LOG_WARN:  return "warn";
    case EVA_LOG_ERROR: return "error";
    }
    return "unknown";
}

static void log_to_stderr(void *ud, eva_loop *loop, eva_log_level level, const char *msg) {
    (void)ud;
    (void)loop;
    fprintf(stderr, "evasync: %s: %s\n", eva_log_level_name(level), msg);
}

int eva_loop_set_log(eva_loop *loop, eva_log_fn fn, void *ud) {
    if (!loop)
        return -EINVAL;
    loop->log_fn = fn ? fn : log_to_stderr;
    loop->log_ud = fn ? ud : NULL;
    return 0;
}

void eva__log(eva_loop *loop, eva_log_level level, const char *fmt, ...) {
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        snprintf(line, sizeof line, "(unformattable log message: %s)", fmt);
    else if ((size_t)n >= sizeof line)
        memcpy(line + sizeof line - 4, "...", 4); /* say it was cut, never cut silently */
    if (loop)
        loop->log_fn(loop->log_ud, loop, level, line);
    else
        log_to_stderr(NULL, NULL, level, line);
}
