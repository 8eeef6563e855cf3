/* evasync/timer.h — one-shot and repeating timers (a handle).
 *
 * The caller owns the eva_timer's memory (embed it anywhere).  Lifecycle:
 * eva_timer_init once, then start/stop as often as wanted; the memory may be
 * freed or reused whenever the timer is not active, including from inside its
 * own callback after a one-shot timer fired.
 *
 * Timeouts count from the loop's cached time (eva_now()), in milliseconds, as
 * libev's do: after a long computation in a callback, call eva_now_update()
 * first if the timeout must count from "really now".  Timers whose times
 * come in the same iteration fire in order of expiry.
 */
#ifndef EVASYNC_TIMER_H
#define EVASYNC_TIMER_H

#include <stdbool.h>
#include <stdint.h>
#include <ev.h>

#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eva_loop eva_loop;
typedef struct eva_timer eva_timer;

/* Called on the loop thread when the timer expires.  For a one-shot timer the
 * timer is already inactive, so the callback may restart or free it. */
typedef void (*eva_timer_fn)(eva_timer *timer);

/* eva_timer: 72 bytes on x86_64 (ABI: tests/test_struct_sizes.c).  Caller-owned;
 * read only the public fields, never the private ones. */
struct eva_timer {
    /* public: */
    void *data;       /* the caller's; evasync never touches it after start */
    /* private: */
    ev_timer w;
    eva_loop *loop;
    eva_timer_fn cb;
};

/* Bind timer to loop; it starts inactive.  Returns 0, or -EINVAL (NULL loop
 * or timer).  Never re-init an active timer. */
EVA_API int eva_timer_init(eva_loop *loop, eva_timer *timer);

/* (Re)start: fire cb after timeout_ms, then every repeat_ms if repeat_ms > 0.
 * Starting an active timer restarts it with the new values.  data is stored
 * in timer->data.  Returns 0, or -EINVAL (NULL timer or cb, uninitialised
 * timer, negative timeout_ms or repeat_ms). */
EVA_API int eva_timer_start(eva_timer *timer, int64_t timeout_ms, int64_t repeat_ms,
                            eva_timer_fn cb, void *data);

/* Stop; cb will not run again until the next start.  Stopping an inactive
 * timer does nothing.  Returns 0, or -EINVAL (NULL timer). */
EVA_API int eva_timer_stop(eva_timer *timer);

/* true while the timer is started and has not fired (one-shot) or been stopped. */
EVA_API bool eva_timer_is_active(const eva_timer *timer);

/* The loop timer was bound to by eva_timer_init (NULL for NULL). */
EVA_API eva_loop *eva_timer_get_loop(const eva_timer *timer);

#ifdef __cplusplus
}
#endif
#endif
