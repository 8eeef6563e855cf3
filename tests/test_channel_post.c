/* The cross-loop channel send (evasync/sync.h) in its three forms — the
 * callback eva_channel_post_send, AWAIT eva_channel_post_send_op, and
 * eva_channel_post_send_promise — each run against the same cases: sends
 * across an eva_group's threads, a full channel then drained, a closed
 * channel, the channel's loop destroyed first, the sender's loop destroyed
 * while the outcome travels back, a group shut down with sends in flight
 * (or with one posted after its threads ended), a cancelled awaiting
 * task, the start errors and, for the promise form, allocation failure.
 * Runs under TSan (label threads).
 *
 * Group callbacks run on the group's threads, where cmocka cannot fail a
 * test: they record what they saw and post a semaphore, and the main
 * thread asserts after a bounded wait.  The one-thread cases drive two
 * plain loops from the main thread, a bounded number of iterations. */
#include <errno.h>
#include <semaphore.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "helpers.h"

enum { WAIT_MS = 5000, MAX_TURNS = 100 };

/* ---- one posted send, in one form ---------------------------------------- */

typedef enum form { BY_CALLBACK, BY_AWAIT, BY_PROMISE, FORMS } form;

/* What a send ended with.  Written once on the sender's loop; read by the
 * main thread after `done` was posted, or after it ran that loop itself. */
typedef struct post {
    eva_task task;              /* the AWAIT form's sender; first: the frame */
    eva_channel_post_req req;   /* the callback and AWAIT forms' */
    form form;
    eva_channel *ch;
    void *item;
    sem_t *done;                /* posted at the completion, if set */
    _Atomic int completions;
    int status;
    const char *message;        /* the AWAIT and promise forms' failures */
    void *sent;                 /* the promise's value: its request's item */
} post;

static void record(post *p, int status, const char *message) {
    p->status = status;
    p->message = message;
    atomic_fetch_add(&p->completions, 1);
    if (p->done)
        sem_post(p->done);
}

static void on_posted(eva_channel_post_req *req, int status) { record(req->data, status, NULL); }

static eva_step sender_run(void *frame) {
    post *p = frame;
    ASYNC_BEGIN(p);
    AWAIT(p, eva_channel_post_send_op(&p->req, p->ch, p->item));
    ASYNC_END(p);
}

static void on_sender_done(eva_task *t) {
    int status = eva_task_get_status(t);
    record((post *)t, status, status < 0 ? eva_task_get_message(t) : NULL);
}

static int on_fulfilled(void *arg, eva_promise *settled, eva_promise *next) {
    (void)next;
    post *p = arg;
    const eva_channel_post_req *req = eva_promise_get_value(settled);
    p->sent = req ? req->item : NULL;
    record(p, 0, NULL);
    return 0;
}

static int on_rejected(void *arg, eva_promise *settled, eva_promise *next) {
    (void)next;
    record(arg, eva_promise_get_error(settled), eva_promise_get_message(settled));
    return 0;
}

static int start_promise(post *p, eva_loop *from) {
    eva_promise *pr;
    int rc = eva_channel_post_send_promise(from, p->ch, p->item, &pr);
    if (rc < 0)
        return rc;
    rc = eva_promise_then(pr, on_fulfilled, on_rejected, p, NULL);
    eva_promise_unref(pr);
    return rc;
}

/* Start p's send from loop `from`, on from's thread. */
static int start_post(post *p, eva_loop *from) {
    switch (p->form) {
    case BY_CALLBACK:
        p->req.data = p;
        return eva_channel_post_send(&p->req, from, p->ch, p->item, on_posted);
    case BY_AWAIT:
        eva_task_init(from, &p->task, sender_run, "post-sender");
        return eva_task_start(&p->task, on_sender_done);
    default:
        return start_promise(p, from);
    }
}

static void post_init(post *p, form how, eva_channel *ch, void *item) {
    *p = (post){.form = how, .ch = ch, .item = item, .status = 1};
}

/* ---- two plain loops on the main thread ---------------------------------- */

typedef struct pair {
    eva_loop *sender, *owner; /* the channel is the owner's */
    eva_channel ch;
} pair;

static void pair_init(pair *w, size_t capacity) {
    w->sender = test_loop_new();
    w->owner = test_loop_new();
    assert_int_equal(eva_channel_init(w->owner, &w->ch, capacity), 0);
}

static void turn(pair *w) {
    eva_loop_run(w->owner, EVA_RUN_NOWAIT);
    eva_loop_run(w->sender, EVA_RUN_NOWAIT);
}

/* Turn both loops until p completes (at most MAX_TURNS). */
static void run_until_complete(pair *w, post *p) {
    for (int i = 0; i < MAX_TURNS && atomic_load(&p->completions) == 0; i++)
        turn(w);
    assert_int_equal(atomic_load(&p->completions), 1);
}

/* Run loop until it has nothing left to do now (a task that starts has
 * run to its first AWAIT; a send task has finished and posted its answer). */
static void run_idle(eva_loop *loop) {
    for (int i = 0; i < MAX_TURNS && eva_loop_run(loop, EVA_RUN_NOWAIT) == 1; i++)
        ;
}

static void pair_end(pair *w) {
    if (w->sender)
        test_loop_destroy(w->sender);
    if (w->owner)
        test_loop_destroy(w->owner);
    assert_int_equal(eva_channel_destroy(&w->ch), 0);
}

/* ---- across a group's threads ---------------------------------------------- */

typedef struct relay {
    eva_group *group;
    eva_channel ch;          /* loop 1's */
    bool drain;              /* loop 1 runs a receiver of FORMS items */
    post posts[FORMS];       /* started together from loop 0 */
    int items[FORMS];
    _Atomic int received[FORMS];
    eva_call kick;
    sem_t done;              /* each completion, and the receiver's end */
} relay;

typedef struct receiver {
    eva_task task;
    relay *r;
    int n;
    void *item;
} receiver;

static eva_step receiver_run(void *frame) {
    receiver *rc = frame;
    ASYNC_BEGIN(rc);
    for (rc->n = 0; rc->n < FORMS; rc->n++) {
        AWAIT(rc, eva_channel_recv_op(&rc->r->ch, &rc->item));
        atomic_store(&rc->r->received[rc->n], *(int *)rc->item);
    }
    sem_post(&rc->r->done);
    ASYNC_END(rc);
}

static int relay_setup(eva_loop *loop, unsigned index, void *arg) {
    relay *r = arg;
    if (index != 1)
        return 0;
    int rc = eva_channel_init(loop, &r->ch, 1); /* room for one: the others wait */
    receiver *recv;
    if (rc == 0 && r->drain)
        rc = eva_task_spawn(loop, sizeof *recv, receiver_run, "receiver", NULL, (void **)&recv);
    if (rc == 0 && r->drain)
        recv->r = r;
    return rc;
}

static void send_all(eva_loop *loop, int status, void *arg) {
    relay *r = arg;
    for (int i = 0; i < FORMS && status == 0; i++)
        if (start_post(&r->posts[i], loop) < 0)
            record(&r->posts[i], -9999, NULL);
}

static void relay_start(relay *r, bool drain) {
    r->drain = drain;
    sem_init(&r->done, 0, 0);
    for (int i = 0; i < FORMS; i++) {
        r->items[i] = 10 + i;
        post_init(&r->posts[i], (form)i, &r->ch, &r->items[i]);
        r->posts[i].done = &r->done;
    }
    eva_group_options opts = {.threads = 2, .setup = relay_setup, .arg = r};
    assert_int_equal(eva_group_new(&opts, &r->group), 0);
    assert_int_equal(eva_group_start(r->group), 0);
}

/* Loop 0 starts every form's send. */
static void relay_kick(relay *r) {
    assert_int_equal(eva_loop_post(eva_group_get_loop(r->group, 0), &r->kick, send_all, r), 0);
}

static void relay_end(relay *r) {
    assert_int_equal(eva_group_stop(r->group), 0);
    assert_int_equal(eva_group_join(r->group), 0);
    assert_int_equal(eva_group_destroy(r->group), 0);
    sem_destroy(&r->done);
}

/* One send of each form from loop 0 into loop 1's channel of capacity 1
 * (two wait for room while the receiver drains): every send completes
 * once with 0 on loop 0, every item arrives once. */
static void test_group_delivers_every_form(void **state) {
    (void)state;
    relay r = {0};
    relay_start(&r, true);
    relay_kick(&r);
    for (int i = 0; i < FORMS + 1; i++)
        assert_true(test_sem_wait_ms(&r.done, WAIT_MS));
    int seen = 0; /* sends in flight together arrive in some order, each once */
    for (int i = 0; i < FORMS; i++) {
        assert_int_equal(atomic_load(&r.posts[i].completions), 1);
        assert_int_equal(r.posts[i].status, 0);
        seen |= 1 << (atomic_load(&r.received[i]) - r.items[0]);
    }
    assert_int_equal(seen, (1 << FORMS) - 1);
    assert_ptr_equal(r.posts[BY_PROMISE].sent, &r.items[BY_PROMISE]);
    relay_end(&r);
    assert_int_equal(eva_channel_destroy(&r.ch), 0);
}

/* Nobody drains: one send gets the room and completes with 0; the group is
 * then shut down with the other two waiting on loop 1.  Destroy completes
 * each of them exactly once, with -ECANCELED, on loop 0 (ASan: nothing of
 * a freed loop is touched, no request leaks). */
static void test_group_shutdown_completes_each_once(void **state) {
    (void)state;
    relay r = {0};
    relay_start(&r, false);
    relay_kick(&r);
    assert_true(test_sem_wait_ms(&r.done, WAIT_MS));
    assert_false(test_sem_wait_ms(&r.done, 0)); /* the others wait for room */
    relay_end(&r);
    int delivered = 0;
    for (int i = 0; i < FORMS; i++) {
        assert_int_equal(atomic_load(&r.posts[i].completions), 1);
        if (r.posts[i].status == 0)
            delivered++;
        else
            assert_int_equal(r.posts[i].status, -ECANCELED);
    }
    assert_int_equal(delivered, 1);
    assert_int_equal(eva_channel_get_count(&r.ch), 1);
    assert_int_equal(eva_channel_destroy(&r.ch), 0);
}

/* A send posted to a loop whose thread has ended completes with -ECANCELED
 * at destroy, on the sender's loop: the group frees no loop before the
 * answer has gone back (freeing loop 1 first, then cancelling on loop 0,
 * would post the answer into freed memory). */
static void test_channel_post_send_cancelled_at_destroy(void **state) {
    (void)state;
    relay r = {0};
    relay_start(&r, false);
    assert_int_equal(eva_group_stop(r.group), 0);
    assert_int_equal(eva_group_join(r.group), 0);
    /* the threads have ended: this thread is now the one of both loops */
    eva_loop *from = eva_group_get_loop(r.group, 0);
    post *p = &r.posts[BY_CALLBACK];
    assert_int_equal(start_post(p, from), 0);
    assert_int_equal(eva_channel_post_send(&p->req, from, &r.ch, p->item, on_posted), -EBUSY);
    relay_end(&r);
    assert_int_equal(atomic_load(&p->completions), 1);
    assert_int_equal(p->status, -ECANCELED);
    assert_int_equal(eva_channel_destroy(&r.ch), 0);
}

/* ---- each form, two loops on one thread ------------------------------------ */

/* Two loops and one send of item, in one form, from the sender into the
 * owner's channel of capacity 1. */
typedef struct scene {
    pair w;
    post p;
    int filler, item;
} scene;

enum { OPEN = 0, FULL = 1, CLOSED = 2 }; /* the channel when the send starts */

static void scene_start(scene *s, form how, int channel) {
    pair_init(&s->w, 1);
    s->filler = 1;
    s->item = 2;
    if (channel == FULL)
        assert_int_equal(eva_channel_try_send(&s->w.ch, &s->filler), 0);
    if (channel == CLOSED)
        assert_int_equal(eva_channel_close(&s->w.ch), 0);
    post_init(&s->p, how, &s->w.ch, &s->item);
    assert_int_equal(start_post(&s->p, s->w.sender), 0);
    assert_int_equal(atomic_load(&s->p.completions), 0); /* never inside the call */
    run_idle(s->w.sender); /* the AWAIT and promise forms' tasks post */
}

/* The channel is full: the send waits, whatever the loops do, until a
 * receiver takes the item ahead of it; then it completes with 0 and the
 * item is next in the channel. */
static void test_full_then_drained(void **state) {
    (void)state;
    for (int how = 0; how < FORMS; how++) {
        scene s;
        scene_start(&s, (form)how, FULL);
        for (int i = 0; i < MAX_TURNS / 4; i++)
            turn(&s.w);
        assert_int_equal(atomic_load(&s.p.completions), 0);
        void *got = NULL;
        assert_int_equal(eva_channel_try_recv(&s.w.ch, &got), 0);
        assert_ptr_equal(got, &s.filler);
        run_until_complete(&s.w, &s.p);
        assert_int_equal(s.p.status, 0);
        assert_int_equal(eva_channel_try_recv(&s.w.ch, &got), 0);
        assert_ptr_equal(got, &s.item);
        if (how == BY_PROMISE)
            assert_ptr_equal(s.p.sent, &s.item);
        pair_end(&s.w);
    }
}

/* A closed channel: -EPIPE, the item not in it (still the sender's), and
 * the AWAIT and promise forms say so. */
static void test_closed_channel(void **state) {
    (void)state;
    for (int how = 0; how < FORMS; how++) {
        scene s;
        scene_start(&s, (form)how, CLOSED);
        run_until_complete(&s.w, &s.p);
        assert_int_equal(s.p.status, -EPIPE);
        assert_int_equal(eva_channel_get_count(&s.w.ch), 0);
        if (how != BY_CALLBACK)
            assert_non_null(strstr(s.p.message, "still the sender's"));
        pair_end(&s.w);
    }
}

/* The channel's loop is destroyed first, before the send arrived there or
 * while it waits for room: -ECANCELED on the sender's loop, the item not
 * sent. */
static void test_target_loop_destroyed(void **state) {
    (void)state;
    for (int waiting = 0; waiting < 2; waiting++) {
        for (int how = 0; how < FORMS; how++) {
            scene s;
            scene_start(&s, (form)how, FULL);
            for (int i = 0; waiting && i < MAX_TURNS / 4; i++)
                turn(&s.w);
            test_loop_destroy(s.w.owner);
            s.w.owner = NULL;
            for (int i = 0; i < MAX_TURNS && atomic_load(&s.p.completions) == 0; i++)
                eva_loop_run(s.w.sender, EVA_RUN_NOWAIT);
            assert_int_equal(atomic_load(&s.p.completions), 1);
            assert_int_equal(s.p.status, -ECANCELED);
            assert_int_equal(eva_channel_get_count(&s.w.ch), 1); /* the filler only */
            if (how != BY_CALLBACK)
                assert_non_null(strstr(s.p.message, "destroyed"));
            pair_end(&s.w);
        }
    }
}

/* The item is in the channel and the outcome is on its way back when the
 * sender's loop is destroyed: its destroy runs the hop back cancelled, and
 * the callback and AWAIT forms still report 0 (the item is the channel's:
 * the sender must not free it).  The promise rejects with -ECANCELED, as
 * every pending promise of a destroyed loop does (documented). */
static void test_sender_loop_destroyed_after_delivery(void **state) {
    (void)state;
    for (int how = 0; how < FORMS; how++) {
        scene s;
        scene_start(&s, (form)how, OPEN);
        for (int i = 0; i < MAX_TURNS && eva_channel_get_count(&s.w.ch) == 0; i++)
            eva_loop_run(s.w.owner, EVA_RUN_NOWAIT);
        assert_int_equal(eva_channel_get_count(&s.w.ch), 1);
        run_idle(s.w.owner); /* the send task has finished: the answer is posted */
        assert_int_equal(atomic_load(&s.p.completions), 0);
        test_loop_destroy(s.w.sender);
        s.w.sender = NULL;
        assert_int_equal(atomic_load(&s.p.completions), 1);
        assert_int_equal(s.p.status, how == BY_PROMISE ? -ECANCELED : 0);
        pair_end(&s.w);
    }
}

/* ---- cancelling the awaiting task ------------------------------------------ */

typedef struct canceller {
    eva_task task;
    eva_channel_post_req req;
    eva_channel *ch;
    void *item;
    int post_rc, next_rc;
    bool done;
} canceller;

static eva_step canceller_run(void *frame) {
    canceller *c = frame;
    ASYNC_BEGIN(c);
    AWAIT_RC(c, c->post_rc, eva_channel_post_send_op(&c->req, c->ch, c->item));
    AWAIT_RC(c, c->next_rc, eva_sleep_op(0));
    ASYNC_END(c);
}

static void on_canceller_done(eva_task *t) { ((canceller *)t)->done = true; }

/* Cancelling a task that awaits a send waiting for room does not withdraw
 * the send: the task stays parked until the outcome comes back and gets it
 * (0 once drained: the item is the channel's), and its next AWAIT fails
 * with -ECANCELED.  The promise form's cancel likewise lets it finish. */
static void test_cancel_waits_for_the_outcome(void **state) {
    (void)state;
    pair w;
    pair_init(&w, 1);
    int filler = 1, item = 2;
    assert_int_equal(eva_channel_try_send(&w.ch, &filler), 0);
    canceller c = {.ch = &w.ch, .item = &item, .post_rc = 1, .next_rc = 1};
    eva_task_init(w.sender, &c.task, canceller_run, "canceller");
    assert_int_equal(eva_task_start(&c.task, on_canceller_done), 0);
    eva_promise *pr;
    assert_int_equal(eva_channel_post_send_promise(w.sender, &w.ch, &item, &pr), 0);
    for (int i = 0; i < MAX_TURNS / 4; i++)
        turn(&w);
    assert_int_equal(eva_task_cancel(&c.task), 0);
    assert_int_equal(eva_promise_cancel(pr), 0);
    for (int i = 0; i < MAX_TURNS / 4; i++)
        turn(&w);
    assert_false(c.done);
    assert_int_equal(eva_promise_get_state(pr), EVA_PROMISE_PENDING);
    void *got;
    for (int n = 0; n < 2; n++) { /* make room twice: both sends complete */
        assert_int_equal(eva_channel_try_recv(&w.ch, &got), 0);
        for (int i = 0; i < MAX_TURNS && eva_channel_get_count(&w.ch) == 0; i++)
            turn(&w);
    }
    for (int i = 0; i < MAX_TURNS && !(c.done && eva_promise_get_state(pr) != EVA_PROMISE_PENDING); i++)
        turn(&w);
    assert_true(c.done);
    assert_int_equal(c.post_rc, 0);
    assert_int_equal(c.next_rc, -ECANCELED);
    assert_int_equal(eva_promise_get_state(pr), EVA_PROMISE_FULFILLED);
    eva_promise_unref(pr);
    assert_int_equal(eva_channel_try_recv(&w.ch, &got), 0);
    assert_ptr_equal(got, &item);
    pair_end(&w);
}

/* ---- start errors ------------------------------------------------------------ */

typedef struct refused {
    eva_task task;
    eva_channel_post_req *req;
    eva_channel *ch;
    int rc;
} refused;

static eva_step refused_run(void *frame) {
    refused *f = frame;
    ASYNC_BEGIN(f);
    AWAIT_RC(f, f->rc, eva_channel_post_send_op(f->req, f->ch, NULL));
    ASYNC_END(f);
}

/* The AWAIT form's start status for (req, ch), run to completion on loop. */
static int await_start_rc(eva_loop *loop, eva_channel_post_req *req, eva_channel *ch) {
    refused f = {.req = req, .ch = ch, .rc = 1};
    eva_task_init(loop, &f.task, refused_run, "refused");
    assert_int_equal(eva_task_start(&f.task, NULL), 0);
    for (int i = 0; i < MAX_TURNS && eva_task_get_state(&f.task) != EVA_TASK_DONE; i++)
        eva_loop_run(loop, EVA_RUN_NOWAIT);
    assert_int_equal(eva_task_get_state(&f.task), EVA_TASK_DONE);
    return f.rc;
}

/* A request in flight is -EBUSY in both forms that take one, and is left
 * as it was (the send in flight still completes, with its own item). */
static void test_request_in_flight_is_busy(void **state) {
    (void)state;
    scene s;
    scene_start(&s, BY_CALLBACK, OPEN);
    int other = 3;
    assert_int_equal(eva_channel_post_send(&s.p.req, s.w.sender, &s.w.ch, &other, on_posted), -EBUSY);
    assert_int_equal(await_start_rc(s.w.sender, &s.p.req, &s.w.ch), -EBUSY);
    assert_ptr_equal(s.p.req.item, &s.item);
    run_until_complete(&s.w, &s.p);
    assert_int_equal(s.p.status, 0);
    void *got;
    assert_int_equal(eva_channel_try_recv(&s.w.ch, &got), 0);
    assert_ptr_equal(got, &s.item);
    assert_int_equal(eva_channel_get_count(&s.w.ch), 0);
    pair_end(&s.w);
}

static void test_null_arguments(void **state) {
    (void)state;
    pair w;
    pair_init(&w, 1);
    eva_channel_post_req req = {0};
    eva_channel unset = {0}; /* no loop: never initialised */
    eva_promise *pr = NULL;
    assert_int_equal(eva_channel_post_send(NULL, w.sender, &w.ch, NULL, on_posted), -EINVAL);
    assert_int_equal(eva_channel_post_send(&req, NULL, &w.ch, NULL, on_posted), -EINVAL);
    assert_int_equal(eva_channel_post_send(&req, w.sender, NULL, NULL, on_posted), -EINVAL);
    assert_int_equal(eva_channel_post_send(&req, w.sender, &unset, NULL, on_posted), -EINVAL);
    assert_int_equal(eva_channel_post_send(&req, w.sender, &w.ch, NULL, NULL), -EINVAL);
    assert_int_equal(await_start_rc(w.sender, NULL, &w.ch), -EINVAL);
    assert_int_equal(await_start_rc(w.sender, &req, NULL), -EINVAL);
    assert_int_equal(await_start_rc(w.sender, &req, &unset), -EINVAL);
    assert_int_equal(eva_channel_post_send_promise(NULL, &w.ch, NULL, &pr), -EINVAL);
    assert_int_equal(eva_channel_post_send_promise(w.sender, NULL, NULL, &pr), -EINVAL);
    assert_int_equal(eva_channel_post_send_promise(w.sender, &unset, NULL, &pr), -EINVAL);
    assert_int_equal(eva_channel_post_send_promise(w.sender, &w.ch, NULL, NULL), -EINVAL);
    assert_null(pr);
    for (int i = 0; i < MAX_TURNS / 4; i++)
        turn(&w);
    assert_int_equal(eva_channel_get_count(&w.ch), 0); /* nothing was sent */
    pair_end(&w);
}

/* The promise's state once both loops have run it out (at most MAX_TURNS). */
static eva_promise_state run_promise(pair *w, eva_promise *pr) {
    for (int i = 0; i < MAX_TURNS && eva_promise_get_state(pr) == EVA_PROMISE_PENDING; i++)
        turn(w);
    return eva_promise_get_state(pr);
}

/* The promise form with the nth allocation on failing, for every n until a
 * run needs no more: the start returns -ENOMEM with nothing sent, or the
 * promise settles (fulfilled and delivered, or rejected with -ENOMEM and
 * not delivered when the channel's loop could not start the send), and
 * nothing leaks. */
static void test_promise_allocation_failure(void **state) {
    (void)state;
    for (int n = 0;; n++) {
        assert_true(n < 64);
        test_alloc a = {.fail_after = -1};
        test_alloc_install(&a);
        pair w;
        pair_init(&w, 1);
        int item = 1;
        eva_promise *pr = NULL;
        a.fail_after = n;
        int rc = eva_channel_post_send_promise(w.sender, &w.ch, &item, &pr);
        eva_promise_state settled = rc == 0 ? run_promise(&w, pr) : EVA_PROMISE_REJECTED;
        long failed = a.failed;
        if (rc < 0) {
            assert_int_equal(rc, -ENOMEM);
            assert_null(pr);
        } else if (settled == EVA_PROMISE_FULFILLED) {
            const eva_channel_post_req *req = eva_promise_get_value(pr);
            assert_ptr_equal(req->item, &item);
        } else {
            assert_int_equal(settled, EVA_PROMISE_REJECTED);
            assert_int_equal(eva_promise_get_error(pr), -ENOMEM);
        }
        eva_promise_unref(pr);
        assert_int_equal(eva_channel_get_count(&w.ch), settled == EVA_PROMISE_FULFILLED ? 1 : 0);
        pair_end(&w);
        test_alloc_install(NULL);
        assert_int_equal(a.live, 0);
        if (failed == 0) {
            assert_int_equal(settled, EVA_PROMISE_FULFILLED);
            assert_true(n > 0); /* the start needs memory: it was refused at least once */
            return;
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_delivers_every_form),
        cmocka_unit_test(test_group_shutdown_completes_each_once),
        cmocka_unit_test(test_channel_post_send_cancelled_at_destroy),
        cmocka_unit_test(test_full_then_drained),
        cmocka_unit_test(test_closed_channel),
        cmocka_unit_test(test_target_loop_destroyed),
        cmocka_unit_test(test_sender_loop_destroyed_after_delivery),
        cmocka_unit_test(test_cancel_waits_for_the_outcome),
        cmocka_unit_test(test_request_in_flight_is_busy),
        cmocka_unit_test(test_null_arguments),
        cmocka_unit_test(test_promise_allocation_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
