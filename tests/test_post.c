/* eva_loop_post from 4 threads x 10,000 posts: every call runs exactly once,
 * on the loop thread, in each poster's order.  A pthread_cancel() of the loop
 * thread waits for eva_loop_run() to return.  Also runs under TSan. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <cmocka.h>

#include "helpers.h"

enum { THREADS = 4, POSTS = 10000 };

typedef struct poster poster;

typedef struct post_item {
    eva_call call;
    poster *owner;
    int seq;
    int runs;
} post_item;

typedef struct shared {
    eva_loop *loop;
    pthread_t loop_thread;
    int delivered;
    bool all_delivered;
    bool wrong_thread;
} shared;

struct poster {
    pthread_t thread;
    shared *sh;
    post_item *items;
    int next_expected; /* touched only on the loop thread */
    int post_errors;
};

static void on_post(eva_loop *loop, int status, void *arg) {
    post_item *it = arg;
    shared *sh = it->owner->sh;
    assert_int_equal(status, 0);
    if (!pthread_equal(pthread_self(), sh->loop_thread))
        sh->wrong_thread = true;
    assert_int_equal(it->seq, it->owner->next_expected); /* per-poster FIFO */
    it->owner->next_expected++;
    it->runs++;
    if (++sh->delivered == THREADS * POSTS) {
        sh->all_delivered = true;
        eva_loop_stop(loop);
    }
}

static void *post_all(void *arg) {
    poster *p = arg;
    for (int i = 0; i < POSTS; i++) {
        p->items[i].owner = p;
        p->items[i].seq = i;
        if (eva_loop_post(p->sh->loop, &p->items[i].call, on_post, &p->items[i]) != 0)
            p->post_errors++;
    }
    return NULL;
}

static void every_post_delivered_exactly_once(void **state) {
    (void)state;
    shared sh = {.loop = test_loop_new(), .loop_thread = pthread_self()};
    poster ps[THREADS];
    for (int t = 0; t < THREADS; t++) {
        ps[t] = (poster){.sh = &sh, .items = calloc(POSTS, sizeof(post_item))};
        assert_non_null(ps[t].items);
    }
    for (int t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&ps[t].thread, NULL, post_all, &ps[t]), 0);
    test_run_until(sh.loop, &sh.all_delivered, 60000);
    for (int t = 0; t < THREADS; t++)
        assert_int_equal(pthread_join(ps[t].thread, NULL), 0);
    assert_false(sh.wrong_thread);
    for (int t = 0; t < THREADS; t++) {
        assert_int_equal(ps[t].post_errors, 0);
        for (int i = 0; i < POSTS; i++)
            assert_int_equal(ps[t].items[i].runs, 1);
        free(ps[t].items);
    }
    test_loop_destroy(sh.loop);
}

typedef struct cancel_seen {
    eva_call call;
    int status;
    int runs;
} cancel_seen;

static void on_cancel_seen(eva_loop *loop, int status, void *arg) {
    (void)loop;
    cancel_seen *c = arg;
    c->status = status;
    c->runs++;
}

static void post_pending_at_destroy_completes_cancelled(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    cancel_seen c = {.status = 1};
    assert_int_equal(eva_loop_post(loop, &c.call, on_cancel_seen, &c), 0);
    test_loop_destroy(loop);
    assert_int_equal(c.runs, 1);
    assert_int_equal(c.status, -ECANCELED);
}

/* A loop thread cancelled while it runs: the cancellation acts only once
 * eva_loop_run() has returned (loop/loop.c: neither libev nor evasync could
 * be left half-way through an iteration). */
typedef struct cancelled_run {
    eva_loop *loop;
    eva_timer keepalive; /* an active handle: the run waits in its poll */
    eva_call started, stop;
    sem_t running;
    bool returned;
} cancelled_run;

static void on_started(eva_loop *loop, int status, void *arg) {
    (void)loop;
    (void)status;
    sem_post(&((cancelled_run *)arg)->running);
}

static void on_stop(eva_loop *loop, int status, void *arg) {
    (void)status;
    eva_timer_stop(&((cancelled_run *)arg)->keepalive);
    eva_loop_stop(loop);
}

static void on_keepalive(eva_timer *timer) { (void)timer; }

static void *run_until_stopped(void *arg) {
    cancelled_run *c = arg;
    eva_loop_defer(c->loop, &c->started, on_started, c);
    eva_loop_run(c->loop, EVA_RUN_DEFAULT); /* blocks in its poll: a cancellation point */
    c->returned = true;
    pthread_testcancel(); /* the pending cancellation acts here */
    return NULL;
}

static void cancelling_the_loop_thread_waits_for_the_run_to_return(void **state) {
    (void)state;
    cancelled_run c = {.loop = test_loop_new()};
    assert_int_equal(sem_init(&c.running, 0, 0), 0);
    assert_int_equal(eva_timer_init(c.loop, &c.keepalive), 0);
    assert_int_equal(eva_timer_start(&c.keepalive, 3600000, 0, on_keepalive, &c), 0);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, run_until_stopped, &c), 0);
    while (sem_wait(&c.running) != 0)
        assert_int_equal(errno, EINTR);
    assert_int_equal(pthread_cancel(thread), 0);
    assert_int_equal(eva_loop_post(c.loop, &c.stop, on_stop, &c), 0);
    void *result;
    assert_int_equal(pthread_join(thread, &result), 0);
    assert_true(result == PTHREAD_CANCELED);
    assert_true(c.returned);
    sem_destroy(&c.running);
    test_loop_destroy(c.loop);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_post_delivered_exactly_once),
        cmocka_unit_test(post_pending_at_destroy_completes_cancelled),
        cmocka_unit_test(cancelling_the_loop_thread_waits_for_the_run_to_return),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
