/* evasync/signal.h — POSIX signal watchers (a handle).
 *
 * The callback runs on the loop thread, in normal context (not inside the
 * signal handler), so it may call anything.  A signal number can be watched by
 * any number of watchers, but all of them must belong to the same loop at a
 * time (libev's rule); evasync checks it and returns -EBUSY instead of
 * aborting.  The caller owns the eva_signal's memory.
 */
#ifndef EVASYNC_SIGNAL_H
#define EVASYNC_SIGNAL_H

#include <stdbool.h>
#include <ev.h>

#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eva_loop eva_loop;
typedef struct eva_signal eva_signal;

/* Called on the loop thread after signum arrived (never inside the signal
 * handler, so it may call anything). */
typedef void (*eva_signal_fn)(eva_signal *sig, int signum);

/* eva_signal: 72 bytes on x86_64 (ABI: tests/test_struct_sizes.c).  Caller-owned;
 * read only the public fields, never the private ones. */
struct eva_signal {
    /* public: */
    void *data;     /* the caller's */
    /* private: */
    ev_signal w;
    eva_loop *loop;
    eva_signal_fn cb;
};

/* Bind sig to loop; it starts inactive.  Returns 0, or -EINVAL.  Never
 * re-init an active watcher (stop it first): libev would keep the old
 * registration. */
EVA_API int eva_signal_init(eva_loop *loop, eva_signal *sig);

/* (Re)start watching signum.  Returns 0; -EINVAL (NULL sig or cb,
 * uninitialised sig, signum out of range or SIGKILL/SIGSTOP); -EBUSY (signum is watched by
 * another loop). */
EVA_API int eva_signal_start(eva_signal *sig, int signum, eva_signal_fn cb, void *data);

/* Stop.  Stopping an inactive watcher does nothing.  Returns 0 or -EINVAL. */
EVA_API int eva_signal_stop(eva_signal *sig);

/* true while the watcher is started (false for NULL). */
EVA_API bool eva_signal_is_active(const eva_signal *sig);

/* The loop sig was bound to by eva_signal_init (NULL for NULL). */
EVA_API eva_loop *eva_signal_get_loop(const eva_signal *sig);

#ifdef __cplusplus
}
#endif
#endif
