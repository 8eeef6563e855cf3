/* Attach mode: a daemon owns a libev loop and drives ev_run itself; evasync
 * works inside it and never keeps it alive on its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <pthread.h>
#include <cmocka.h>

#include "helpers.h"

static void attached_loop_adds_no_reference(void **state) {
    (void)state;
    struct ev_loop *ev = ev_loop_new(EVFLAG_AUTO);
    assert_non_null(ev);
    eva_loop *loop = NULL;
    assert_int_equal(eva_loop_from_ev(ev, &loop), 0);
    assert_ptr_equal(eva_loop_get_ev(loop), ev);
    /* evasync's wake-up watcher is unreferenced: the daemon's loop is idle */
    assert_int_equal(ev_run(ev, EVRUN_NOWAIT), 0);
    assert_int_equal(eva_loop_destroy(loop), 0);
    ev_loop_destroy(ev);
}

typedef struct daemon_state {
    ev_timer daemon_timer;
    int daemon_fired;
    int eva_fired;
    int deferred;
    eva_call call;
    eva_call posted;
    int posted_runs;
} daemon_state;

static void on_daemon_timer(struct ev_loop *ev, ev_timer *w, int revents) {
    (void)ev;
    (void)revents;
    ((daemon_state *)w->data)->daemon_fired++;
}

static void on_eva_timer(eva_timer *t) { ((daemon_state *)t->data)->eva_fired++; }

static void on_deferred(eva_loop *loop, int status, void *arg) {
    (void)loop;
    assert_int_equal(status, 0);
    ((daemon_state *)arg)->deferred++;
}

static void on_posted(eva_loop *loop, int status, void *arg) {
    (void)loop;
    assert_int_equal(status, 0);
    ((daemon_state *)arg)->posted_runs++;
}

typedef struct post_arg {
    eva_loop *loop;
    daemon_state *ds;
} post_arg;

static void *post_from_thread(void *arg) {
    post_arg *pa = arg;
    eva_loop_post(pa->loop, &pa->ds->posted, on_posted, pa->ds);
    return NULL;
}

static void daemon_drives_ev_run(void **state) {
    (void)state;
    struct ev_loop *ev = ev_loop_new(EVFLAG_AUTO);
    assert_non_null(ev);
    eva_loop *loop = NULL;
    assert_int_equal(eva_loop_from_ev(ev, &loop), 0);

    daemon_state ds = {0};
    ev_timer_init(&ds.daemon_timer, on_daemon_timer, 0.005, 0.);
    ds.daemon_timer.data = &ds;
    ev_timer_start(ev, &ds.daemon_timer);

    eva_timer t;
    eva_timer_init(loop, &t);
    eva_timer_start(&t, 1, 0, on_eva_timer, &ds);
    eva_loop_defer(loop, &ds.call, on_deferred, &ds);

    /* The post lands before the daemon runs; ev_run still delivers it because
     * the daemon's own timer keeps its loop alive for a few ms. */
    pthread_t th;
    post_arg pa = {loop, &ds};
    assert_int_equal(pthread_create(&th, NULL, post_from_thread, &pa), 0);
    assert_int_equal(pthread_join(th, NULL), 0);

    ev_run(ev, 0); /* the daemon's own call: returns when nothing is active */
    assert_int_equal(ds.daemon_fired, 1);
    assert_int_equal(ds.eva_fired, 1);
    assert_int_equal(ds.deferred, 1);
    assert_int_equal(ds.posted_runs, 1);

    assert_int_equal(eva_loop_destroy(loop), 0);
    /* the daemon's loop is untouched by the detach and still works */
    ev_timer_set(&ds.daemon_timer, 0.001, 0.);
    ev_timer_start(ev, &ds.daemon_timer);
    ev_run(ev, 0);
    assert_int_equal(ds.daemon_fired, 2);
    ev_loop_destroy(ev);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(attached_loop_adds_no_reference),
        cmocka_unit_test(daemon_drives_ev_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
