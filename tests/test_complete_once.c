/* Every operation completes exactly once and never touches its owner's memory
 * after telling it so — above all when a task is cancelled while the
 * operation's completion is queued, or could be queued, on the same loop
 * iteration.  Each test orders the queues so that the old double-wake
 * (completion queued AND task woken) freed the frame first.  The frames are
 * spawned (the loop frees them the moment the task finishes), so ASan sees
 * any later touch. */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "helpers.h"

enum { BIG = 4 << 20 };

static char *big_buffer(void) {
    static char *big;
    if (!big)
        big = calloc(1, BIG);
    return big;
}

/* A connected pair whose peer never reads: ours is wrapped by the caller. */
static void stalled_pair(int *ours, int *peer) {
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    *ours = sv[0];
    *peer = sv[1];
}

static int finished;
static void on_finished(eva_task *t) {
    (void)t;
    finished++;
}

/* ---- writes ---------------------------------------------------------------------- */

/* A task that owns a connection and writes 4 MiB into it. */
typedef struct writer {
    eva_task task;
    eva_stream tcp;
    eva_stream *on;         /* the connection written to: its own, or a shared one */
    eva_stream_write_req w;
    size_t len;
    int rc;
    int *rc_out;         /* where the final AWAIT status goes (outlives the frame) */
} writer;

static eva_step writer_run(void *frame) {
    writer *k = frame;
    ASYNC_BEGIN(k);
    AWAIT_RC(k, k->rc, eva_stream_write_op(&k->w, k->on, big_buffer(), k->len));
    *k->rc_out = k->rc;
    ASYNC_FINALLY(k);
    eva_stream_close(&k->tcp, EVA_STREAM_CLOSE_DISCARD, NULL);
    ASYNC_END(k);
}

static writer *spawn_writer(eva_loop *loop, eva_stream *shared, int fd, size_t len, int *rc_out) {
    writer *k;
    assert_int_equal(eva_task_spawn(loop, sizeof *k, writer_run, "writer", on_finished, (void **)&k), 0);
    if (fd >= 0)
        assert_int_equal(eva_stream_open(loop, &k->tcp, fd), 0);
    k->on = shared ? shared : &k->tcp;
    k->len = len;
    k->rc_out = rc_out;
    *rc_out = 1;
    return k;
}

/* The case: two tasks, each with part of its write on the wire,
 * cancelled by one callback. */
/* One task, one half-sent write, cancelled: the plain case, with nothing
 * arranged to order the queues.  In FIFO order the old double wake hid
 * here (the write's completion was queued before the wake-up); in shuffle
 * mode (docs/reliability.md) the wake-up may run first and free the frame
 * the completion then reads: the shuffle proof runs this test. */
static void cancel_one_half_sent_write(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int fd, peer, rc;
    stalled_pair(&fd, &peer);
    writer *k = spawn_writer(loop, NULL, fd, BIG, &rc);
    finished = 0;
    while (eva_task_get_state(&k->task) != EVA_TASK_SUSPENDED)
        eva_loop_run(loop, EVA_RUN_NOWAIT);
    assert_true(k->w.remaining < k->w.total); /* half sent */
    eva_task_cancel(&k->task);
    while (finished < 1)
        assert_true(eva_loop_run(loop, EVA_RUN_ONCE) >= 0);
    assert_int_equal(rc, -ECANCELED);
    test_loop_destroy(loop);
    close(peer);
}

static void cancel_two_half_sent_writes(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int fd[2], peer[2], rc[2];
    writer *k[2];
    for (int i = 0; i < 2; i++) {
        stalled_pair(&fd[i], &peer[i]);
        k[i] = spawn_writer(loop, NULL, fd[i], BIG, &rc[i]);
    }
    finished = 0;
    while (eva_task_get_state(&k[0]->task) != EVA_TASK_SUSPENDED ||
           eva_task_get_state(&k[1]->task) != EVA_TASK_SUSPENDED)
        eva_loop_run(loop, EVA_RUN_NOWAIT);
    for (int i = 0; i < 2; i++) {
        assert_true(k[i]->w.remaining < k[i]->w.total); /* half sent */
        eva_task_cancel(&k[i]->task);
    }
    while (finished < 2)
        assert_true(eva_loop_run(loop, EVA_RUN_ONCE) >= 0);
    assert_int_equal(rc[0], -ECANCELED);
    assert_int_equal(rc[1], -ECANCELED);
    test_loop_destroy(loop);
    close(peer[0]);
    close(peer[1]);
}

/* Two writes queued on one connection, the first half sent; the first is
 * cancelled (which breaks the stream and fails the second), then the second. */
static void cancel_both_writes_of_one_connection(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int fd, peer, rc_half, rc_queued;
    stalled_pair(&fd, &peer);
    eva_stream shared = {0};
    assert_int_equal(eva_stream_open(loop, &shared, fd), 0);
    finished = 0;
    /* the big write first (tasks started together may start in any order) */
    writer *half = spawn_writer(loop, &shared, -1, BIG, &rc_half);
    while (eva_task_get_state(&half->task) != EVA_TASK_SUSPENDED)
        eva_loop_run(loop, EVA_RUN_NOWAIT);
    writer *queued = spawn_writer(loop, &shared, -1, 100, &rc_queued);
    while (eva_task_get_state(&queued->task) != EVA_TASK_SUSPENDED)
        eva_loop_run(loop, EVA_RUN_NOWAIT);
    assert_true(half->w.remaining < half->w.total);
    eva_task_cancel(&half->task);
    eva_task_cancel(&queued->task);
    while (finished < 2)
        assert_true(eva_loop_run(loop, EVA_RUN_ONCE) >= 0);
    assert_int_equal(rc_half, -ECANCELED);
    /* the second write's own outcome: the stream broke under it */
    assert_int_equal(rc_queued, -EPIPE);
    eva_stream_close(&shared, EVA_STREAM_CLOSE_DISCARD, NULL);
    test_loop_destroy(loop);
    close(peer);
}

/* A write whose bytes all went out is cancelled before its completion was
 * delivered: the write succeeded, and the task is told so (the next AWAIT
 * would fail with -ECANCELED). */
typedef struct poll_cancel {
    eva_call call;
    eva_loop *loop;
    bool (*ready)(struct poll_cancel *p);
    eva_task *task;
    void *obj;
    bool fired;
} poll_cancel;

/* Deferred every iteration, so on the iteration an operation completes it
 * runs before that completion (queued behind it) and can cancel the task
 * in between. */
static void on_poll(eva_loop *loop, int status, void *arg) {
    poll_cancel *p = arg;
    if (status < 0)
        return;
    if (p->ready(p)) {
        p->fired = true;
        eva_task_cancel(p->task);
        return;
    }
    eva_loop_defer(loop, &p->call, on_poll, p);
}

static bool write_went_out(poll_cancel *p) { return ((eva_stream_write_req *)p->obj)->remaining == 0; }

static void cancel_a_write_that_completed(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int fd, peer, rc;
    stalled_pair(&fd, &peer);
    writer *k = spawn_writer(loop, NULL, fd, 64 << 10, &rc);
    finished = 0;
    while (eva_task_get_state(&k->task) != EVA_TASK_SUSPENDED)
        eva_loop_run(loop, EVA_RUN_NOWAIT);
    poll_cancel p = {.ready = write_went_out, .task = &k->task, .obj = &k->w};
    eva_loop_defer(loop, &p.call, on_poll, &p);
    char sink[65536];
    while (finished < 1) {
        (void)recv(peer, sink, sizeof sink, MSG_DONTWAIT); /* the peer reads now */
        assert_true(eva_loop_run(loop, EVA_RUN_NOWAIT) >= 0);
    }
    assert_true(p.fired);
    assert_int_equal(rc, 0);
    test_loop_destroy(loop);
    close(peer);
}

/* eva_loop_destroy with writes half out (an HTTP server shut down under
 * clients that do not read): every frame is freed only after its write
 * completed. */
static void destroy_with_half_sent_writes(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    enum { N = 8 };
    int peer[N], rc[N];
    writer *k[N];
    for (int i = 0; i < N; i++) {
        int fd;
        stalled_pair(&fd, &peer[i]);
        k[i] = spawn_writer(loop, NULL, fd, BIG, &rc[i]);
    }
    finished = 0;
    while (eva_task_get_state(&k[N - 1]->task) != EVA_TASK_SUSPENDED)
        eva_loop_run(loop, EVA_RUN_NOWAIT);
    test_loop_destroy(loop);
    assert_int_equal(finished, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(rc[i], -ECANCELED);
        close(peer[i]);
    }
}

/* ---- shutdown, close, connect ------------------------------------------------------ */

typedef struct closer {
    eva_task task;
    eva_stream tcp;
    eva_stream_write_req w; /* a callback-style write, queued before the AWAIT */
    eva_stream_shutdown_req shut;
    int op;              /* 0: shutdown, 1: close (flush) */
    int rc;
    int *rc_out;
    int *write_rc;
} closer;

static void on_closer_write(eva_stream_write_req *req, int status) { *(int *)req->data = status; }

static eva_step closer_run(void *frame) {
    closer *c = frame;
    ASYNC_BEGIN(c);
    struct iovec v = {.iov_base = big_buffer(), .iov_len = BIG};
    c->w.data = c->write_rc;
    eva_stream_write(&c->w, &c->tcp, &v, 1, on_closer_write);
    if (c->op == 0)
        AWAIT_RC(c, c->rc, eva_stream_shutdown_op(&c->shut, &c->tcp));
    else
        AWAIT_RC(c, c->rc, eva_stream_close_op(&c->tcp, EVA_STREAM_CLOSE_FLUSH));
    *c->rc_out = c->rc;
    ASYNC_FINALLY(c);
    eva_stream_close(&c->tcp, EVA_STREAM_CLOSE_DISCARD, NULL);
    ASYNC_END(c);
}

typedef struct idle { eva_task task; } idle;

static eva_step idle_run(void *frame) {
    idle *i = frame;
    ASYNC_BEGIN(i);
    ASYNC_END(i);
}

/* The task waits for a half-close (or a flushing close) behind a stalled
 * write.  Another task is made ready first, so the ready list runs before
 * anything the cancellation queues. */
static void cancel_behind_stalled_write(int op, int expected_rc) {
    eva_loop *loop = test_loop_new();
    int fd, peer, rc = 1, write_rc = 1;
    stalled_pair(&fd, &peer);
    closer *c;
    assert_int_equal(eva_task_spawn(loop, sizeof *c, closer_run, "closer", on_finished, (void **)&c), 0);
    assert_int_equal(eva_stream_open(loop, &c->tcp, fd), 0);
    c->op = op;
    c->rc_out = &rc;
    c->write_rc = &write_rc;
    finished = 0;
    while (eva_task_get_state(&c->task) != EVA_TASK_SUSPENDED)
        eva_loop_run(loop, EVA_RUN_NOWAIT);
    idle other;
    eva_task_init(loop, &other.task, idle_run, "other");
    eva_task_start(&other.task, NULL);
    if (op == 0) /* the half-close fails: its report is queued now */
        eva_stream_close(&c->tcp, EVA_STREAM_CLOSE_DISCARD, NULL);
    eva_task_cancel(&c->task);
    while (finished < 1)
        assert_true(eva_loop_run(loop, EVA_RUN_ONCE) >= 0);
    assert_int_equal(rc, expected_rc);
    assert_int_equal(write_rc, -ECANCELED);
    test_loop_destroy(loop);
    close(peer);
}

static void cancel_shutdown_after_its_report_was_queued(void **state) {
    (void)state;
    cancel_behind_stalled_write(0, -ECANCELED);
}

static void cancel_a_flushing_close(void **state) {
    (void)state;
    cancel_behind_stalled_write(1, -ECANCELED);
}

typedef struct connector {
    eva_task task;
    eva_stream tcp;
    eva_tcp_connect_req cn;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int rc;
    int *rc_out;
    bool *open_out;
} connector;

static eva_step connector_run(void *frame) {
    connector *c = frame;
    ASYNC_BEGIN(c);
    AWAIT_RC(c, c->rc, eva_tcp_connect_op(&c->cn, &c->tcp, (struct sockaddr *)&c->addr, c->addrlen, 0));
    *c->rc_out = c->rc;
    *c->open_out = eva_stream_is_open(&c->tcp);
    ASYNC_FINALLY(c);
    eva_stream_close(&c->tcp, EVA_STREAM_CLOSE_DISCARD, NULL);
    ASYNC_END(c);
}

static bool connect_over(poll_cancel *p) {
    eva_stream *tcp = p->obj;
    return !tcp->connecting;
}

/* The connect finished (its completion is queued) when the task is
 * cancelled: the task gets the connect's outcome, and a connected socket is
 * not closed under it. */
static void cancel_a_connect_that_completed(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_server srv = {0};
    assert_int_equal(eva_tcp_listen_ip(loop, &srv, "127.0.0.1", 0, NULL), 0);
    connector *c;
    assert_int_equal(eva_task_spawn(loop, sizeof *c, connector_run, "connector", on_finished, (void **)&c), 0);
    struct sockaddr_in *a = (struct sockaddr_in *)&c->addr;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)eva_tcp_server_get_port(&srv));
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->addrlen = sizeof *a;
    int rc = 1;
    bool open = false;
    c->rc_out = &rc;
    c->open_out = &open;
    finished = 0;
    while (eva_task_get_state(&c->task) != EVA_TASK_SUSPENDED)
        eva_loop_run(loop, EVA_RUN_NOWAIT);
    poll_cancel p = {.ready = connect_over, .task = &c->task, .obj = &c->tcp};
    eva_loop_defer(loop, &p.call, on_poll, &p);
    while (finished < 1)
        assert_true(eva_loop_run(loop, EVA_RUN_ONCE) >= 0);
    assert_true(p.fired);
    assert_int_equal(rc, 0);
    assert_true(open);
    eva_server_close(&srv);
    test_loop_destroy(loop);
}

/* ---- promises of operations ------------------------------------------------------- */

/* An operation's promise settles once, by its operation: the program can
 * react to it and cancel it, not resolve, reject or adopt it (the op would
 * settle it a second time later). */
static void an_operations_promise_is_settled_only_by_it(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_promise *sleep, *other;
    assert_int_equal(eva_sleep_promise(loop, 0, &sleep), 0);
    assert_int_equal(eva_promise_new(loop, &other), 0);
    int v;
    assert_int_equal(eva_promise_resolve(sleep, &v, NULL), -EPERM);
    assert_int_equal(eva_promise_reject(sleep, -EIO, NULL), -EPERM);
    assert_int_equal(eva_promise_adopt(sleep, other), -EPERM);
    assert_int_equal(eva_promise_set_canceller(sleep, NULL, NULL), -EPERM);
    while (eva_promise_get_state(sleep) == EVA_PROMISE_PENDING)
        assert_true(eva_loop_run(loop, EVA_RUN_ONCE) >= 0);
    assert_int_equal(eva_promise_get_state(sleep), EVA_PROMISE_FULFILLED);
    assert_null(eva_promise_get_value(sleep));
    eva_promise_unref(sleep);
    eva_promise_unref(other);
    test_loop_destroy(loop);
}

/* ---- building an op touches nothing in flight -------------------------------------- */

typedef struct napper {
    eva_task task;
    int naps;
} napper;

static eva_step napper_run(void *frame) {
    napper *n = frame;
    ASYNC_BEGIN(n);
    AWAIT(n, eva_sleep_op(1));
    n->naps++;
    ASYNC_END(n);
}

static eva_step other_child_run(void *frame) {
    napper *n = frame;
    ASYNC_BEGIN(n);
    n->naps += 100;
    ASYNC_END(n);
}

typedef struct caller {
    eva_task task;
    napper *child;  /* shared by two callers */
    eva_task_fn fn;
    int rc;
} caller;

static eva_step caller_run(void *frame) {
    caller *c = frame;
    ASYNC_BEGIN(c);
    AWAIT_RC(c, c->rc, eva_task_call_op(&c->child->task, c->fn));
    ASYNC_END(c);
}

/* A nested task's frame awaited while it runs: the second AWAIT fails with
 * -EBUSY and leaves the running child (its function, its state) alone. */
static void a_running_child_cannot_be_awaited_again(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    napper child = {0};
    caller first = {.child = &child, .fn = napper_run, .rc = 1};
    caller second = {.child = &child, .fn = other_child_run, .rc = 1};
    eva_task_init(loop, &first.task, caller_run, "first");
    eva_task_init(loop, &second.task, caller_run, "second");
    eva_task_start(&first.task, NULL); /* the child is running (asleep) ... */
    while (eva_task_get_state(&first.task) != EVA_TASK_SUSPENDED)
        assert_true(eva_loop_run(loop, EVA_RUN_ONCE) >= 0);
    eva_task_start(&second.task, NULL); /* ... when the second caller awaits it */
    while (eva_task_get_state(&first.task) != EVA_TASK_DONE || eva_task_get_state(&second.task) != EVA_TASK_DONE)
        assert_true(eva_loop_run(loop, EVA_RUN_ONCE) >= 0);
    assert_int_equal(second.rc, -EBUSY);
    assert_int_equal(first.rc, 0);
    assert_int_equal(child.naps, 1);
    test_loop_destroy(loop);
}

int main(int argc, char **argv) {
    if (argc > 1)
        cmocka_set_test_filter(argv[1]); /* run one test: `test_complete_once NAME` */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cancel_one_half_sent_write),
        cmocka_unit_test(cancel_two_half_sent_writes),
        cmocka_unit_test(cancel_both_writes_of_one_connection),
        cmocka_unit_test(cancel_a_write_that_completed),
        cmocka_unit_test(destroy_with_half_sent_writes),
        cmocka_unit_test(cancel_shutdown_after_its_report_was_queued),
        cmocka_unit_test(cancel_a_flushing_close),
        cmocka_unit_test(cancel_a_connect_that_completed),
        cmocka_unit_test(an_operations_promise_is_settled_only_by_it),
        cmocka_unit_test(a_running_child_cannot_be_awaited_again),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(big_buffer());
    return rc;
}
