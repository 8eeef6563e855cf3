/* Synchronisation between tasks: the check-then-act race across an AWAIT
 * and the mutex that fixes it; FIFO hand-off; semaphore limits; events;
 * a bounded channel's backpressure, close and cancellation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

static void run(eva_loop *loop) { assert_int_equal(eva_loop_run(loop, EVA_RUN_DEFAULT), 0); }

/* ---- the bank account ------------------------------------------------------------ */

typedef struct account {
    int balance;
    eva_mutex mutex;
} account;

typedef struct withdraw {
    eva_task task;
    account *acct;
    bool locked;
} withdraw;

static eva_step withdraw_unlocked_run(void *frame) {
    withdraw *w = frame;
    ASYNC_BEGIN(w);
    if (w->acct->balance >= 100) {
        AWAIT(w, eva_sleep_op(1)); /* e.g. asking a fraud service: other tasks run */
        w->acct->balance -= 100;
    }
    ASYNC_END(w);
}

static eva_step withdraw_locked_run(void *frame) {
    withdraw *w = frame;
    ASYNC_BEGIN(w);
    AWAIT(w, eva_mutex_lock_op(&w->acct->mutex));
    w->locked = true;
    if (w->acct->balance >= 100) {
        AWAIT(w, eva_sleep_op(1));
        w->acct->balance -= 100;
    }
    ASYNC_FINALLY(w);
    if (w->locked)
        eva_mutex_unlock(&w->acct->mutex);
    ASYNC_END(w);
}

static int two_withdrawals(eva_task_fn fn) {
    eva_loop *loop = test_loop_new();
    account acct = {.balance = 100};
    eva_mutex_init(loop, &acct.mutex);
    withdraw w[2] = {{.acct = &acct}, {.acct = &acct}};
    for (int i = 0; i < 2; i++) {
        eva_task_init(loop, &w[i].task, fn, "withdraw");
        eva_task_start(&w[i].task, NULL);
    }
    run(loop);
    assert_int_equal(eva_mutex_destroy(&acct.mutex), 0);
    test_loop_destroy(loop);
    return acct.balance;
}

static void check_then_act_race_and_the_mutex(void **state) {
    (void)state;
    assert_int_equal(two_withdrawals(withdraw_unlocked_run), -100); /* the race */
    assert_int_equal(two_withdrawals(withdraw_locked_run), 0);       /* fixed */
}

/* ---- mutex order, errors, cancellation ------------------------------------------- */

typedef struct locker {
    eva_task task;
    eva_mutex *m;
    int tag;
    int *asked, *n_asked; /* the order the lockers asked for the mutex in */
    int *order, *n;       /* ...and were granted it in */
    int rc;
    bool held;
} locker;

static eva_step locker_run(void *frame) {
    locker *l = frame;
    ASYNC_BEGIN(l);
    l->asked[(*l->n_asked)++] = l->tag;
    AWAIT_RC(l, l->rc, eva_mutex_lock_op(l->m));
    if (l->rc < 0)
        ASYNC_RETURN(l, l->rc);
    l->held = true;
    l->order[(*l->n)++] = l->tag;
    YIELD(l); /* hold it across an iteration */
    l->held = false;
    eva_mutex_unlock(l->m);
    ASYNC_END(l);
}

static void mutex_is_fifo_and_cancellable(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_mutex m;
    assert_int_equal(eva_mutex_init(loop, &m), 0);
    assert_int_equal(eva_mutex_try_lock(&m), 0); /* the test holds it first */
    assert_int_equal(eva_mutex_try_lock(&m), -EBUSY);
    int asked[4], n_asked = 0, order[4], n = 0;
    locker l[4];
    for (int i = 0; i < 4; i++) {
        l[i] = (locker){.m = &m, .tag = i, .asked = asked, .n_asked = &n_asked,
                        .order = order, .n = &n, .rc = 1};
        eva_task_init(loop, &l[i].task, locker_run, "locker");
        eva_task_start(&l[i].task, NULL);
    }
    eva_loop_run(loop, EVA_RUN_NOWAIT); /* all four are queued on the mutex */
    assert_int_equal(n_asked, 4);
    assert_string_equal(l[0].task.wait->kind, "mutex");
    assert_int_equal(eva_mutex_destroy(&m), -EBUSY);
    locker *second = &l[asked[1]];
    eva_task_cancel(&second->task);     /* leaves the queue, never holds it */
    assert_int_equal(eva_mutex_unlock(&m), 0);
    run(loop);
    assert_int_equal(second->rc, -ECANCELED);
    assert_false(second->held);
    /* granted first come, first served (the order the tasks started in is
     * not promised: they asked in the order their first steps ran) */
    assert_int_equal(n, 3);
    assert_int_equal(order[0], asked[0]);
    assert_int_equal(order[1], asked[2]);
    assert_int_equal(order[2], asked[3]);
    assert_int_equal(eva_mutex_unlock(&m), -EPERM);
    assert_int_equal(eva_mutex_destroy(&m), 0);
    test_loop_destroy(loop);
}

/* ---- semaphore --------------------------------------------------------------------- */

typedef struct pool_user {
    eva_task task;
    eva_semaphore *s;
    int *inside, *max_inside;
} pool_user;

static eva_step pool_user_run(void *frame) {
    pool_user *u = frame;
    ASYNC_BEGIN(u);
    AWAIT(u, eva_semaphore_acquire_op(u->s));
    if (++*u->inside > *u->max_inside)
        *u->max_inside = *u->inside;
    AWAIT(u, eva_sleep_op(1));
    --*u->inside;
    eva_semaphore_release(u->s);
    ASYNC_END(u);
}

static void semaphore_limits_holders(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_semaphore s;
    assert_int_equal(eva_semaphore_init(loop, &s, 2), 0);
    int inside = 0, max_inside = 0;
    pool_user u[5];
    for (int i = 0; i < 5; i++) {
        u[i] = (pool_user){.s = &s, .inside = &inside, .max_inside = &max_inside};
        eva_task_init(loop, &u[i].task, pool_user_run, "user");
        eva_task_start(&u[i].task, NULL);
    }
    run(loop);
    for (int i = 0; i < 5; i++)
        assert_int_equal(eva_task_get_status(&u[i].task), 0);
    assert_int_equal(max_inside, 2);
    assert_int_equal(eva_semaphore_try_acquire(&s), 0);
    assert_int_equal(eva_semaphore_try_acquire(&s), 0);
    assert_int_equal(eva_semaphore_try_acquire(&s), -EBUSY);
    eva_semaphore_release(&s);
    eva_semaphore_release(&s);
    assert_int_equal(eva_semaphore_destroy(&s), 0);
    test_loop_destroy(loop);
}

/* ---- event ---------------------------------------------------------------------------- */

typedef struct waiter {
    eva_task task;
    eva_event *e;
    int woke;
} waiter;

static eva_step waiter_run(void *frame) {
    waiter *w = frame;
    ASYNC_BEGIN(w);
    AWAIT(w, eva_event_wait_op(w->e));
    w->woke++;
    ASYNC_END(w);
}

static void event_releases_every_waiter(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_event e;
    eva_event_init(loop, &e);
    waiter w[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (waiter){.e = &e};
        eva_task_init(loop, &w[i].task, waiter_run, "waiter");
        eva_task_start(&w[i].task, NULL);
    }
    eva_loop_run(loop, EVA_RUN_NOWAIT);
    assert_int_equal(w[0].woke + w[1].woke + w[2].woke, 0);
    assert_int_equal(eva_event_destroy(&e), -EBUSY);
    eva_event_set(&e);
    run(loop);
    assert_int_equal(w[0].woke + w[1].woke + w[2].woke, 3);
    /* already set: no wait at all */
    eva_task_start(&w[0].task, NULL);
    run(loop);
    assert_int_equal(w[0].woke, 2);
    eva_event_clear(&e);
    assert_false(eva_event_is_set(&e));
    assert_int_equal(eva_event_destroy(&e), 0);
    test_loop_destroy(loop);
}

/* ---- channel --------------------------------------------------------------------------- */

typedef struct producer {
    eva_task task;
    eva_channel *ch;
    int i, n;
    int blocked; /* sends that had to wait */
    int rc;
} producer;

static eva_step producer_run(void *frame) {
    producer *p = frame;
    ASYNC_BEGIN(p);
    for (p->i = 1; p->i <= p->n; p->i++) {
        if (eva_channel_get_count(p->ch) == p->ch->capacity)
            p->blocked++;
        AWAIT_RC(p, p->rc, eva_channel_send_op(p->ch, (void *)(uintptr_t)p->i));
        if (p->rc < 0)
            ASYNC_RETURN(p, p->rc);
    }
    eva_channel_close(p->ch);
    ASYNC_END(p);
}

typedef struct consumer {
    eva_task task;
    eva_channel *ch;
    void *item;
    int got[16];
    int n;
    int rc;
} consumer;

static eva_step consumer_run(void *frame) {
    consumer *c = frame;
    ASYNC_BEGIN(c);
    for (;;) {
        AWAIT_RC(c, c->rc, eva_channel_recv_op(c->ch, &c->item));
        if (c->rc < 0)
            break;
        c->got[c->n++] = (int)(uintptr_t)c->item;
        AWAIT(c, eva_sleep_op(1)); /* a slow consumer */
    }
    ASYNC_END(c);
}

static void channel_backpressure_order_and_close(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_channel ch;
    assert_int_equal(eva_channel_init(loop, &ch, 2), 0);
    producer p = {.ch = &ch, .n = 10};
    consumer c = {.ch = &ch};
    eva_task_init(loop, &p.task, producer_run, "producer");
    eva_task_init(loop, &c.task, consumer_run, "consumer");
    eva_task_start(&p.task, NULL);
    eva_task_start(&c.task, NULL);
    run(loop);
    assert_true(p.blocked > 0); /* the fast producer had to wait */
    assert_int_equal(c.n, 10);
    for (int i = 0; i < 10; i++)
        assert_int_equal(c.got[i], i + 1);
    assert_int_equal(c.rc, EVA_EOF); /* closed and drained */
    void *item;
    assert_int_equal(eva_channel_try_send(&ch, item = (void *)1), -EPIPE);
    assert_int_equal(eva_channel_try_recv(&ch, &item), EVA_EOF);
    assert_int_equal(eva_channel_destroy(&ch), 0);
    test_loop_destroy(loop);
}

static void channel_close_drains_then_eof(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_channel ch;
    eva_channel_init(loop, &ch, 4);
    void *item;
    assert_int_equal(eva_channel_try_recv(&ch, &item), -EAGAIN);
    assert_int_equal(eva_channel_try_send(&ch, (void *)(uintptr_t)7), 0);
    assert_int_equal(eva_channel_try_send(&ch, (void *)(uintptr_t)8), 0);
    eva_channel_close(&ch);
    assert_int_equal(eva_channel_try_recv(&ch, &item), 0);
    assert_int_equal((uintptr_t)item, 7);
    assert_int_equal(eva_channel_try_recv(&ch, &item), 0);
    assert_int_equal((uintptr_t)item, 8);
    assert_int_equal(eva_channel_try_recv(&ch, &item), EVA_EOF);
    eva_channel_destroy(&ch);

    eva_channel_init(loop, &ch, 1);
    assert_int_equal(eva_channel_try_send(&ch, NULL), 0);
    assert_int_equal(eva_channel_try_send(&ch, NULL), -EAGAIN);
    eva_channel_destroy(&ch);
    test_loop_destroy(loop);
}

static void channel_cancel_sender_and_receiver(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_channel ch;
    eva_channel_init(loop, &ch, 1);
    eva_channel_try_send(&ch, (void *)(uintptr_t)1); /* full */
    producer p = {.ch = &ch, .n = 1, .rc = 1};
    eva_task_init(loop, &p.task, producer_run, "blocked sender");
    eva_task_start(&p.task, NULL);
    eva_loop_run(loop, EVA_RUN_NOWAIT);
    assert_string_equal(p.task.wait->kind, "channel");
    assert_int_equal(eva_channel_destroy(&ch), -EBUSY);
    eva_task_cancel(&p.task);
    run(loop);
    assert_int_equal(p.rc, -ECANCELED);
    assert_int_equal(eva_channel_get_count(&ch), 1); /* its item was not sent */
    void *item;
    eva_channel_try_recv(&ch, &item);

    consumer c = {.ch = &ch, .rc = 1};
    eva_task_init(loop, &c.task, consumer_run, "blocked receiver");
    eva_task_start(&c.task, NULL);
    eva_loop_run(loop, EVA_RUN_NOWAIT);
    eva_task_cancel(&c.task);
    run(loop);
    assert_int_equal(c.rc, -ECANCELED);
    assert_int_equal(c.n, 0);
    assert_int_equal(eva_channel_destroy(&ch), 0);
    test_loop_destroy(loop);
}

static void channel_init_reports_enomem(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    test_alloc a = {.fail_after = 0};
    test_alloc_install(&a);
    eva_channel ch;
    assert_int_equal(eva_channel_init(loop, &ch, 8), -ENOMEM);
    a.fail_after = -1;
    assert_int_equal(eva_channel_init(loop, &ch, 8), 0);
    assert_int_equal(eva_channel_destroy(&ch), 0);
    assert_int_equal(a.live, 0);
    test_alloc_install(NULL);
    test_loop_destroy(loop);
}

static void sync_rejects_invalid_arguments(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_mutex m;
    eva_semaphore s;
    eva_event e;
    eva_channel ch;
    void *item;
    assert_int_equal(eva_mutex_init(NULL, &m), -EINVAL);
    assert_int_equal(eva_mutex_init(loop, NULL), -EINVAL);
    assert_int_equal(eva_mutex_unlock(NULL), -EINVAL);
    assert_int_equal(eva_mutex_try_lock(NULL), -EINVAL);
    assert_int_equal(eva_semaphore_init(NULL, &s, 1), -EINVAL);
    assert_int_equal(eva_semaphore_release(NULL), -EINVAL);
    assert_int_equal(eva_event_init(loop, NULL), -EINVAL);
    assert_int_equal(eva_event_set(NULL), -EINVAL);
    assert_false(eva_event_is_set(NULL));
    assert_int_equal(eva_channel_init(loop, &ch, 0), -EINVAL);
    assert_int_equal(eva_channel_init(NULL, &ch, 1), -EINVAL);
    assert_int_equal(eva_channel_try_send(NULL, NULL), -EINVAL);
    assert_int_equal(eva_channel_try_recv(NULL, &item), -EINVAL);
    assert_int_equal(eva_channel_close(NULL), -EINVAL);
    assert_int_equal(eva_channel_destroy(NULL), -EINVAL);
    (void)e;
    test_loop_destroy(loop);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(check_then_act_race_and_the_mutex),
        cmocka_unit_test(mutex_is_fifo_and_cancellable),
        cmocka_unit_test(semaphore_limits_holders),
        cmocka_unit_test(event_releases_every_waiter),
        cmocka_unit_test(channel_backpressure_order_and_close),
        cmocka_unit_test(channel_close_drains_then_eof),
        cmocka_unit_test(channel_cancel_sender_and_receiver),
        cmocka_unit_test(channel_init_reports_enomem),
        cmocka_unit_test(sync_rejects_invalid_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
