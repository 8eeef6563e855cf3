/* loop/metrics.c — iterations, idle time and lag, from two hooks per
 * iteration and libev's own clock reads (no clock read of ours when evasync
 * owns the loop).
 *
 * When evasync owns the loop it uses libev's hooks: the release hook, called
 * just before the poll, where ev_now() was updated a moment ago, and the
 * invoke-pending hook, whose first call after a poll (the acquire hook marks
 * it) sees ev_now() updated to the poll's end before any callback runs.  In
 * attach mode the daemon may own those hooks, so watchers do it: a check
 * watcher at the highest priority after the poll, and a prepare watcher,
 * reading the clock, before it.
 * Idle time is poll end - poll start; lag is the busy time in between,
 * next poll start - poll end, one sample per iteration, blocked ones included;
 * the last iteration of an eva_loop_run ends when the run returns.
 */
#include <errno.h>

#include "internal.h"

static uint64_t seconds_to_ns(double s) { return s > 0 ? (uint64_t)(s * 1e9) : 0; }

static void poll_starts(eva_loop *loop, double now) {
    if (loop->poll_ended > 0)
        eva__hist_add(&loop->lag_ns, seconds_to_ns(now - loop->poll_ended));
    loop->poll_started = now;
    if (loop->detecting)
        eva__detector_idle(loop);
}

/* eva_loop_run returned: the iteration in progress has no next poll to be
 * sampled at, so close it now (one clock read per run, not per iteration:
 * ev_now() is still the poll's end).  The time until the loop runs again is
 * not lag, as the detector does not count it as blocked either. */
void eva__metrics_run_ended(eva_loop *loop) {
    if (loop->poll_ended > 0)
        eva__hist_add(&loop->lag_ns, seconds_to_ns(ev_time() - loop->poll_ended));
    loop->poll_ended = 0;
}

static void poll_ends(eva_loop *loop, double now) {
    if (loop->poll_started > 0)
        loop->idle_ns += seconds_to_ns(now - loop->poll_started);
    loop->poll_ended = now;
    loop->iterations++;
    if (loop->detecting)
        eva__detector_busy(loop);
}

static void on_release(struct ev_loop *ev) { poll_starts(ev_userdata(ev), ev_now(ev)); }

static void on_acquire(struct ev_loop *ev) { ((eva_loop *)ev_userdata(ev))->polled = true; }

/* libev runs the pending callbacks through this once after each poll (and
 * after the prepare watchers, when there are any): the first call after a
 * poll sees ev_now() freshly updated to the poll's end, before any callback
 * runs.  Cheaper than a check watcher fed and invoked every iteration. */
static void on_invoke_pending(struct ev_loop *ev) {
    eva_loop *loop = ev_userdata(ev);
    if (loop->polled) {
        loop->polled = false;
        poll_ends(loop, ev_now(ev));
    }
    ev_invoke_pending(ev);
}

static void on_prepare(struct ev_loop *ev, ev_prepare *w, int revents) {
    (void)ev;
    (void)revents;
    poll_starts(w->data, ev_time());
}

static void on_poll_done(struct ev_loop *ev, ev_check *w, int revents) {
    (void)revents;
    poll_ends(w->data, ev_now(ev));
}

void eva__metrics_init(eva_loop *loop) {
    if (loop->owns_ev) {
        ev_set_userdata(loop->ev, loop);
        ev_set_loop_release_cb(loop->ev, on_release, on_acquire);
        ev_set_invoke_pending_cb(loop->ev, on_invoke_pending);
    } else {
        /* the daemon may own libev's hooks: watchers around the poll */
        ev_check_init(&loop->poll_done, on_poll_done);
        ev_set_priority(&loop->poll_done, EV_MAXPRI);
        loop->poll_done.data = loop;
        ev_check_start(loop->ev, &loop->poll_done);
        eva__watcher_unref(loop);
        ev_prepare_init(&loop->poll_next, on_prepare);
        ev_set_priority(&loop->poll_next, EV_MINPRI); /* the last before the poll */
        loop->poll_next.data = loop;
        ev_prepare_start(loop->ev, &loop->poll_next);
        eva__watcher_unref(loop);
    }
}

void eva__metrics_close(eva_loop *loop) {
    if (!loop->owns_ev) {
        eva__watcher_ref(loop);
        ev_check_stop(loop->ev, &loop->poll_done);
        eva__watcher_ref(loop);
        ev_prepare_stop(loop->ev, &loop->poll_next);
    }
}

int eva_loop_get_metrics(eva_loop *loop, eva_loop_metrics *out) {
    if (!loop || !out)
        return -EINVAL;
    *out = (eva_loop_metrics){
        .iterations = loop->iterations,
        .idle_ns = loop->idle_ns,
        .lag_ns_p50 = eva__hist_percentile(&loop->lag_ns, 0.50),
        .lag_ns_p99 = eva__hist_percentile(&loop->lag_ns, 0.99),
        .lag_ns_max = loop->lag_ns.max,
        .pool_jobs = loop->pool_jobs,
    };
    eva__layers_metrics(loop, out);
    return 0;
}
