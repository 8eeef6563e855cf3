/* loop/signal.c — eva_signal over ev_signal.
 *
 * libev asserts (aborts) when one signal is watched from two libev loops;
 * a process-wide table of owners turns that into -EBUSY. */
#define _DEFAULT_SOURCE /* NSIG */
#include <errno.h>
#include <signal.h>

#include "internal.h"

static pthread_mutex_t owners_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct {
    struct ev_loop *ev;
    unsigned watchers;
} owners[NSIG];

static int claim_signal(struct ev_loop *ev, int signum) {
    int rc = 0;
    pthread_mutex_lock(&owners_mutex);
    if (owners[signum].watchers > 0 && owners[signum].ev != ev) {
        rc = -EBUSY;
    } else {
        owners[signum].ev = ev;
        owners[signum].watchers++;
    }
    pthread_mutex_unlock(&owners_mutex);
    return rc;
}

static void release_signal(int signum) {
    pthread_mutex_lock(&owners_mutex);
    if (--owners[signum].watchers == 0)
        owners[signum].ev = NULL;
    pthread_mutex_unlock(&owners_mutex);
}

static void on_signal(struct ev_loop *ev, ev_signal *w, int revents) {
    (void)ev;
    (void)revents;
    eva_signal *sig = EVA__CONTAINER_OF(w, eva_signal, w);
    EVA__CALL_USER(sig->loop, sig->cb, sig->cb(sig, w->signum));
}

int eva_signal_init(eva_loop *loop, eva_signal *sig) {
    if (!loop || !sig)
        return -EINVAL;
    sig->data = NULL;
    sig->loop = loop;
    sig->cb = NULL;
    ev_init(&sig->w, on_signal);
    return 0;
}

int eva_signal_start(eva_signal *sig, int signum, eva_signal_fn cb, void *data) {
    if (!sig || !sig->loop || !cb || signum <= 0 || signum >= NSIG ||
        signum == SIGKILL || signum == SIGSTOP)
        return -EINVAL;
    eva_signal_stop(sig);
    int rc = claim_signal(sig->loop->ev, signum);
    if (rc < 0)
        return rc;
    sig->cb = cb;
    sig->data = data;
    ev_signal_set(&sig->w, signum);
    ev_signal_start(sig->loop->ev, &sig->w);
    eva__handle_started(sig->loop);
    return 0;
}

int eva_signal_stop(eva_signal *sig) {
    if (!sig || !sig->loop)
        return -EINVAL;
    if (EVA__WATCHER_LIVE(&sig->w)) {
        ev_signal_stop(sig->loop->ev, &sig->w);
        release_signal(sig->w.signum);
        eva__handle_stopped(sig->loop);
    }
    return 0;
}

bool eva_signal_is_active(const eva_signal *sig) { return sig && EVA__WATCHER_LIVE(&sig->w); }

eva_loop *eva_signal_get_loop(const eva_signal *w) { return w ? w->loop : NULL; }
