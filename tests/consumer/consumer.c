/* A program built against the *installed* evasync (see run.sh): it proves the
 * installed headers compile on their own and the library links and runs.
 * It is an attach-mode daemon, the case that needs the most from the link
 * line: it owns a libev loop and calls ev_* itself (so linking it needs
 * libev, not only libevasync), evasync's timer lives inside that loop, and
 * the daemon's ev_run() returns when both its own timer and evasync's fired. */
#include <stdbool.h>
#include <stdio.h>

#include <evasync.h>

static void on_eva_timer(eva_timer *timer) { *(bool *)timer->data = true; }

static void on_daemon_timer(struct ev_loop *ev, ev_timer *w, int revents) {
    (void)ev;
    (void)revents;
    *(bool *)w->data = true;
}

static int fail(const char *what, int rc) {
    fprintf(stderr, "consumer: %s: %s\n", what, eva_strerror(rc));
    return 1;
}

int main(void) {
    struct ev_loop *ev = ev_loop_new(EVFLAG_AUTO);
    eva_loop *loop;
    eva_timer timer;
    ev_timer daemon_timer;
    bool eva_fired = false, daemon_fired = false;
    int rc;

    if (!ev) {
        fprintf(stderr, "consumer: ev_loop_new failed\n");
        return 1;
    }
    if ((rc = eva_loop_from_ev(ev, &loop)) < 0)
        return fail("eva_loop_from_ev", rc);
    if ((rc = eva_timer_init(loop, &timer)) < 0 ||
        (rc = eva_timer_start(&timer, 1, 0, on_eva_timer, &eva_fired)) < 0)
        return fail("timer", rc);
    ev_timer_init(&daemon_timer, on_daemon_timer, 0.001, 0.);
    daemon_timer.data = &daemon_fired;
    ev_timer_start(ev, &daemon_timer);
    /* the daemon runs its own loop; it returns once no watcher is active */
    ev_run(ev, 0);
    if (!eva_fired || !daemon_fired) {
        fprintf(stderr, "consumer: timers fired: evasync %d, daemon %d\n", eva_fired, daemon_fired);
        return 1;
    }
    if ((rc = eva_loop_destroy(loop)) < 0)
        return fail("eva_loop_destroy", rc);
    ev_loop_destroy(ev);
    puts("consumer ok");
    return 0;
}
