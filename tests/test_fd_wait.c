/* eva_fd_wait (evasync/fd.h): readable and writable on pipes and sockets,
 * hangups reported as ready, deadlines, cancellation (explicit, task,
 * promise, loop destroy), two waits on one descriptor, the owner closing it
 * (cancel first: the documented rule), and bad input, in the three styles.
 * Every wait the tests expect to end is bounded by test_run_until. */
#define _DEFAULT_SOURCE /* mkstemp */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "helpers.h"

/* ---- the callback form --------------------------------------------------- */

typedef struct seen {
    eva_fd_wait_req req;
    int calls;
    int status;
    int revents;
    bool pending_in_cb;
    bool done;
} seen;

static void on_wait(eva_fd_wait_req *req, int status) {
    seen *s = req->data;
    s->calls++;
    s->status = status;
    s->revents = req->revents;
    s->pending_in_cb = eva_fd_wait_is_pending(req);
    s->done = true;
}

static void start_wait(eva_loop *loop, seen *s, int fd, int events, int64_t timeout_ms) {
    memset(s, 0, sizeof *s);
    s->req.data = s;
    assert_int_equal(eva_fd_wait(&s->req, loop, fd, events, timeout_ms, on_wait), 0);
    assert_true(eva_fd_wait_is_pending(&s->req));
    assert_int_equal(s->calls, 0); /* never inside the call, even when ready */
}

static void make_pipe(int p[2]) {
    assert_int_equal(pipe(p), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(fcntl(p[i], F_SETFL, O_NONBLOCK), 0);
}

static void close_pair(int p[2]) {
    close(p[0]);
    close(p[1]);
}

/* A byte written to wfd completes s's readable wait on the other end. */
static void expect_readable_after_write(eva_loop *loop, seen *s, int wfd) {
    assert_int_equal(write(wfd, "x", 1), 1);
    test_run_until(loop, &s->done, 5000);
    assert_int_equal(s->calls, 1);
    assert_int_equal(s->status, 0);
    assert_int_equal(s->revents, EVA_FD_READABLE);
}

static void readable_when_bytes_arrive(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int p[2];
    make_pipe(p);
    seen s;
    start_wait(loop, &s, p[0], EVA_FD_READABLE, 5000);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_NOWAIT), 1); /* nothing to read yet */
    assert_int_equal(s.calls, 0);
    expect_readable_after_write(loop, &s, p[1]);
    assert_false(s.pending_in_cb);
    assert_int_equal(s.req.fd, p[0]);
    char c;
    assert_int_equal(read(p[0], &c, 1), 1); /* not consumed by the wait */
    /* one shot: more bytes later call nothing */
    assert_int_equal(write(p[1], "y", 1), 1);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_NOWAIT), 0);
    assert_int_equal(s.calls, 1);
    close_pair(p);
    test_loop_destroy(loop);
}

/* Asking for both reports only what is ready. */
static void writable_reports_the_ready_subset(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    seen s;
    start_wait(loop, &s, sv[0], EVA_FD_READABLE | EVA_FD_WRITABLE, 5000);
    test_run_until(loop, &s.done, 5000);
    assert_int_equal(s.status, 0);
    assert_int_equal(s.revents, EVA_FD_WRITABLE);
    assert_int_equal(s.req.events, EVA_FD_READABLE | EVA_FD_WRITABLE);
    close_pair(sv);
    test_loop_destroy(loop);
}

/* A full pipe is not writable; it is once the reader drains it. */
static void writable_after_the_reader_drains(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int p[2];
    make_pipe(p);
    char buf[4096] = {0};
    while (write(p[1], buf, sizeof buf) > 0)
        ;
    assert_int_equal(errno, EAGAIN);
    seen s;
    start_wait(loop, &s, p[1], EVA_FD_WRITABLE, 5000);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_NOWAIT), 1);
    assert_int_equal(s.calls, 0);
    while (read(p[0], buf, sizeof buf) > 0)
        ;
    test_run_until(loop, &s.done, 5000);
    assert_int_equal(s.status, 0);
    assert_int_equal(s.revents, EVA_FD_WRITABLE);
    close_pair(p);
    test_loop_destroy(loop);
}

/* Hangups and errors report as ready (as poll() does): the IO that follows
 * tells what happened. */
static void hangups_report_as_ready(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int p[2];
    make_pipe(p);
    seen s;
    start_wait(loop, &s, p[0], EVA_FD_READABLE, 5000);
    close(p[1]); /* the writer hung up: readable, at EOF */
    test_run_until(loop, &s.done, 5000);
    assert_int_equal(s.status, 0);
    assert_int_equal(s.revents, EVA_FD_READABLE);
    char c;
    assert_int_equal(read(p[0], &c, 1), 0);
    close(p[0]);

    make_pipe(p);
    char buf[4096] = {0};
    while (write(p[1], buf, sizeof buf) > 0)
        ;
    start_wait(loop, &s, p[1], EVA_FD_WRITABLE, 5000);
    close(p[0]); /* the reader hung up: writable, and the write fails */
    test_run_until(loop, &s.done, 5000);
    assert_int_equal(s.status, 0);
    assert_int_equal(s.revents, EVA_FD_WRITABLE);
    signal(SIGPIPE, SIG_IGN);
    assert_int_equal(write(p[1], buf, 1), -1);
    assert_int_equal(errno, EPIPE);
    close(p[1]);

    /* a socket whose peer closed reports each requested event */
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    start_wait(loop, &s, sv[0], EVA_FD_READABLE, 5000);
    close(sv[1]);
    test_run_until(loop, &s.done, 5000);
    assert_int_equal(s.status, 0);
    assert_int_equal(s.revents, EVA_FD_READABLE);
    close(sv[0]);
    test_loop_destroy(loop);
}

/* epoll cannot watch a regular file; like poll(), it is always ready. */
static void a_regular_file_is_always_ready(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    char path[] = "/tmp/evasync-fdwait-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    seen s;
    start_wait(loop, &s, fd, EVA_FD_READABLE | EVA_FD_WRITABLE, 5000);
    test_run_until(loop, &s.done, 5000);
    assert_int_equal(s.status, 0);
    assert_int_equal(s.revents, EVA_FD_READABLE | EVA_FD_WRITABLE);
    close(fd);
    test_loop_destroy(loop);
}

static void the_deadline_ends_the_wait(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int p[2];
    make_pipe(p);
    seen s;
    start_wait(loop, &s, p[0], EVA_FD_READABLE, 20);
    test_run_until(loop, &s.done, 5000);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.status, -ETIMEDOUT);
    assert_int_equal(s.revents, 0);
    /* readiness after the deadline calls nothing more */
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_NOWAIT), 0);
    assert_int_equal(s.calls, 1);
    close_pair(p);
    test_loop_destroy(loop);
}

/* Ready and past its deadline in one iteration: exactly one completion. */
static void ready_at_the_deadline_completes_once(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int p[2];
    make_pipe(p);
    seen s;
    start_wait(loop, &s, p[0], EVA_FD_READABLE, 1);
    assert_int_equal(write(p[1], "x", 1), 1);
    usleep(3000); /* not a wait for an event: time passes, so both are due at the next poll */
    test_run_until(loop, &s.done, 5000);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_NOWAIT), 0);
    assert_int_equal(s.calls, 1);
    assert_true(s.status == 0 || s.status == -ETIMEDOUT);
    close_pair(p);
    test_loop_destroy(loop);
}

static void cancel_completes_later_with_ecanceled(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int p[2];
    make_pipe(p);
    seen s;
    start_wait(loop, &s, p[0], EVA_FD_READABLE, 0);
    assert_int_equal(eva_fd_wait_cancel(&s.req), 0);
    assert_int_equal(s.calls, 0); /* never inside the cancel */
    assert_true(eva_fd_wait_is_pending(&s.req));
    assert_int_equal(eva_fd_wait_cancel(&s.req), 0); /* on its way: left alone */
    assert_int_equal(write(p[1], "x", 1), 1);   /* ready now, but withdrawn */
    test_run_until(loop, &s.done, 5000);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.status, -ECANCELED);
    assert_int_equal(s.revents, 0);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_NOWAIT), 0);
    assert_int_equal(s.calls, 1);
    assert_int_equal(eva_fd_wait_cancel(&s.req), 0); /* idle: nothing */
    /* the request is reusable */
    start_wait(loop, &s, p[0], EVA_FD_READABLE, 0);
    test_run_until(loop, &s.done, 5000);
    assert_int_equal(s.status, 0);
    close_pair(p);
    test_loop_destroy(loop);
}

/* The documented rule: the owner cancels, then closes.  The completion
 * comes later, with -ECANCELED; the descriptor number can be reused at once
 * by a new descriptor and a new wait, which sees only its own readiness. */
static void cancel_then_close_then_reuse_the_number(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int p[2];
    make_pipe(p);
    seen s;
    start_wait(loop, &s, p[0], EVA_FD_READABLE, 0);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_NOWAIT), 1); /* registered with the kernel */
    int old = p[0];
    assert_int_equal(eva_fd_wait_cancel(&s.req), 0);
    close_pair(p);
    int q[2];
    make_pipe(q);
    assert_int_equal(q[0], old); /* the lowest free number: the one just closed */
    seen t;
    start_wait(loop, &t, q[0], EVA_FD_READABLE, 5000);
    test_run_until(loop, &s.done, 5000);
    assert_int_equal(s.status, -ECANCELED);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_NOWAIT), 1);
    assert_int_equal(t.calls, 0); /* nothing to read on the new pipe yet */
    expect_readable_after_write(loop, &t, q[1]);
    close_pair(q);
    test_loop_destroy(loop);
}

/* Breaking the rule (closing without cancelling) is the caller's bug; what
 * the header promises is that a wait with a deadline still ends, once, with
 * -ETIMEDOUT or -EBADF, and nothing leaks. */
static void closed_without_cancel_ends_at_the_deadline(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int p[2];
    make_pipe(p);
    seen s;
    start_wait(loop, &s, p[0], EVA_FD_READABLE, 30);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_NOWAIT), 1);
    close_pair(p);
    test_run_until(loop, &s.done, 5000);
    assert_int_equal(s.calls, 1);
    assert_true(s.status == -ETIMEDOUT || s.status == -EBADF);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_NOWAIT), 0);
    test_loop_destroy(loop);
}

/* Each wait has its own watcher: both are told, readiness is not consumed. */
static void two_waits_on_one_descriptor(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    seen a, b, c;
    start_wait(loop, &a, sv[0], EVA_FD_READABLE, 5000);
    start_wait(loop, &b, sv[0], EVA_FD_READABLE, 5000);
    start_wait(loop, &c, sv[0], EVA_FD_WRITABLE, 5000);
    test_run_until(loop, &c.done, 5000);
    assert_int_equal(c.revents, EVA_FD_WRITABLE);
    assert_int_equal(a.calls + b.calls, 0);
    assert_int_equal(eva_fd_wait_cancel(&b.req), 0); /* cancelling one leaves the other */
    assert_int_equal(write(sv[1], "x", 1), 1);
    test_run_until(loop, &a.done, 5000);
    test_run_until(loop, &b.done, 5000);
    assert_int_equal(a.status, 0);
    assert_int_equal(a.revents, EVA_FD_READABLE);
    assert_int_equal(b.status, -ECANCELED);
    close_pair(sv);
    test_loop_destroy(loop);
}

static void destroy_completes_pending_waits(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int p[2];
    make_pipe(p);
    seen s;
    start_wait(loop, &s, p[0], EVA_FD_READABLE, 0);
    test_loop_destroy(loop);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.status, -ECANCELED);
    close_pair(p);
}

static void bad_input_is_refused(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int p[2];
    make_pipe(p);
    int closed = dup(p[0]);
    close(closed); /* a number that is not open now */
    eva_fd_wait_req req = {0};
    assert_int_equal(eva_fd_wait(&req, loop, closed, EVA_FD_READABLE, 0, on_wait), -EBADF);
    assert_int_equal(eva_fd_wait(&req, loop, -1, EVA_FD_READABLE, 0, on_wait), -EINVAL);
    assert_int_equal(eva_fd_wait(&req, loop, p[0], 0, 0, on_wait), -EINVAL);
    assert_int_equal(eva_fd_wait(&req, loop, p[0], EVA_FD_READABLE | 0x100, 0, on_wait), -EINVAL);
    assert_int_equal(eva_fd_wait(&req, loop, p[0], EVA_FD_READABLE, -1, on_wait), -EINVAL);
    assert_int_equal(eva_fd_wait(&req, loop, p[0], EVA_FD_READABLE, 0, NULL), -EINVAL);
    assert_int_equal(eva_fd_wait(&req, NULL, p[0], EVA_FD_READABLE, 0, on_wait), -EINVAL);
    assert_int_equal(eva_fd_wait(NULL, loop, p[0], EVA_FD_READABLE, 0, on_wait), -EINVAL);
    assert_false(eva_fd_wait_is_pending(&req));
    assert_int_equal(eva_fd_wait_cancel(NULL), -EINVAL);
    assert_false(eva_fd_wait_is_pending(NULL));
    eva_promise *pr = NULL;
    assert_int_equal(eva_fd_wait_promise(loop, closed, EVA_FD_READABLE, 0, &pr), -EBADF);
    assert_int_equal(eva_fd_wait_promise(loop, p[0], 0, 0, &pr), -EINVAL);
    assert_int_equal(eva_fd_wait_promise(NULL, p[0], EVA_FD_READABLE, 0, &pr), -EINVAL);
    assert_int_equal(eva_fd_wait_promise(loop, p[0], EVA_FD_READABLE, 0, NULL), -EINVAL);
    assert_null(pr);

    /* a request in flight is busy, and keeps its arguments */
    seen s;
    start_wait(loop, &s, p[0], EVA_FD_READABLE, 0);
    assert_int_equal(eva_fd_wait(&s.req, loop, p[1], EVA_FD_WRITABLE, 0, on_wait), -EBUSY);
    assert_int_equal(s.req.fd, p[0]);
    assert_int_equal(s.req.events, EVA_FD_READABLE);
    eva_fd_wait_cancel(&s.req);
    test_run_until(loop, &s.done, 5000);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_NOWAIT), 0); /* nothing left behind */
    close_pair(p);
    test_loop_destroy(loop);
}

static void the_first_wait_may_run_out_of_memory(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int p[2];
    make_pipe(p);
    test_alloc a = {.fail_after = 0};
    test_alloc_install(&a);
    eva_fd_wait_req req = {0};
    int rc = eva_fd_wait(&req, loop, p[0], EVA_FD_READABLE, 0, on_wait);
    test_alloc_install(NULL);
    assert_int_equal(rc, -ENOMEM);
    assert_false(eva_fd_wait_is_pending(&req));
    close_pair(p);
    test_loop_destroy(loop);
}

/* ---- AWAIT ----------------------------------------------------------------- */

typedef struct waiter {
    eva_task task;
    eva_fd_wait_req wait;
    int fd, events;
    int64_t timeout_ms;
    int revents;
    bool resumed;
    bool done;
} waiter;

static eva_step waiter_run(void *frame) {
    waiter *w = frame;
    ASYNC_BEGIN(w);
    AWAIT(w, eva_fd_wait_op(&w->wait, w->fd, w->events, w->timeout_ms)); /* fails the task */
    w->resumed = true;
    w->revents = w->wait.revents;
    ASYNC_END(w);
}

static void on_waiter_done(eva_task *t) { ((waiter *)t)->done = true; }

static void start_waiter(eva_loop *loop, waiter *w, int fd, int events, int64_t timeout_ms) {
    memset(w, 0, sizeof *w);
    w->fd = fd;
    w->events = events;
    w->timeout_ms = timeout_ms;
    assert_int_equal(eva_task_init(loop, &w->task, waiter_run, "fd_waiter"), 0);
    assert_int_equal(eva_task_start(&w->task, on_waiter_done), 0);
}

static void await_readable_then_timeout(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int p[2];
    make_pipe(p);
    waiter w;
    start_waiter(loop, &w, p[0], EVA_FD_READABLE, 5000);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_NOWAIT), 1);
    assert_int_equal(eva_task_get_state(&w.task), EVA_TASK_SUSPENDED);
    assert_int_equal(write(p[1], "x", 1), 1);
    test_run_until(loop, &w.done, 5000);
    assert_int_equal(eva_task_get_status(&w.task), 0);
    assert_int_equal(w.revents, EVA_FD_READABLE);

    start_waiter(loop, &w, p[1], EVA_FD_WRITABLE, 0);
    test_run_until(loop, &w.done, 5000);
    assert_int_equal(eva_task_get_status(&w.task), 0);
    assert_int_equal(w.revents, EVA_FD_WRITABLE);

    char c;
    assert_int_equal(read(p[0], &c, 1), 1);
    start_waiter(loop, &w, p[0], EVA_FD_READABLE, 20);
    test_run_until(loop, &w.done, 5000);
    assert_int_equal(eva_task_get_status(&w.task), -ETIMEDOUT);
    assert_string_equal(eva_task_get_message(&w.task),
                        "fd wait: the descriptor was not ready within the timeout");
    assert_false(w.resumed);
    close_pair(p);
    test_loop_destroy(loop);
}

static void await_start_errors_are_the_status(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int p[2];
    make_pipe(p);
    int closed = dup(p[0]);
    close(closed);
    waiter w;
    start_waiter(loop, &w, closed, EVA_FD_READABLE, 0);
    test_run_until(loop, &w.done, 5000);
    assert_int_equal(eva_task_get_status(&w.task), -EBADF);
    start_waiter(loop, &w, p[0], EVA_FD_READABLE, -5);
    test_run_until(loop, &w.done, 5000);
    assert_int_equal(eva_task_get_status(&w.task), -EINVAL);
    close_pair(p);
    test_loop_destroy(loop);
}

/* A frame awaiting a request already in flight gets -EBUSY; the wait in
 * flight is untouched. */
typedef struct busy_frame {
    eva_task task;
    eva_fd_wait_req *shared;
    int rc;
    bool done;
} busy_frame;

static eva_step busy_run(void *frame) {
    busy_frame *f = frame;
    ASYNC_BEGIN(f);
    AWAIT_RC(f, f->rc, eva_fd_wait_op(f->shared, 0, EVA_FD_WRITABLE, 0));
    ASYNC_END(f);
}

static void on_busy_done(eva_task *t) { ((busy_frame *)t)->done = true; }

static void await_on_a_busy_request_fails(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int p[2];
    make_pipe(p);
    seen s;
    start_wait(loop, &s, p[0], EVA_FD_READABLE, 0);
    busy_frame f = {0};
    f.shared = &s.req;
    assert_int_equal(eva_task_init(loop, &f.task, busy_run, "busy"), 0);
    assert_int_equal(eva_task_start(&f.task, on_busy_done), 0);
    test_run_until(loop, &f.done, 5000);
    assert_int_equal(f.rc, -EBUSY);
    assert_int_equal(s.req.fd, p[0]);
    assert_int_equal(s.req.events, EVA_FD_READABLE);
    expect_readable_after_write(loop, &s, p[1]);
    close_pair(p);
    test_loop_destroy(loop);
}

static void cancelling_the_task_cancels_the_wait(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int p[2];
    make_pipe(p);
    waiter w;
    start_waiter(loop, &w, p[0], EVA_FD_READABLE, 0);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_NOWAIT), 1);
    assert_true(eva_fd_wait_is_pending(&w.wait));
    assert_int_equal(eva_task_cancel(&w.task), 0);
    close_pair(p); /* allowed right after the cancel */
    test_run_until(loop, &w.done, 5000);
    assert_int_equal(eva_task_get_status(&w.task), -ECANCELED);
    assert_false(w.resumed); /* AWAIT unwound */
    assert_false(eva_fd_wait_is_pending(&w.wait));
    assert_int_equal(eva_loop_run(loop, EVA_RUN_NOWAIT), 0);
    test_loop_destroy(loop);
}

static void destroy_cancels_an_awaiting_task(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int p[2];
    make_pipe(p);
    waiter w;
    start_waiter(loop, &w, p[0], EVA_FD_READABLE, 0);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_NOWAIT), 1);
    test_loop_destroy(loop);
    assert_true(w.done);
    assert_int_equal(eva_task_get_status(&w.task), -ECANCELED);
    close_pair(p);
}

/* ---- promises ----------------------------------------------------------------- */

static void run_while_pending(eva_loop *loop, eva_promise *p) {
    for (int i = 0; i < 10000 && eva_promise_get_state(p) == EVA_PROMISE_PENDING; i++)
        eva_loop_run(loop, EVA_RUN_ONCE);
    assert_int_not_equal(eva_promise_get_state(p), EVA_PROMISE_PENDING);
}

static void promise_fulfils_with_the_request(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int p[2];
    make_pipe(p);
    eva_promise *pr = NULL;
    assert_int_equal(eva_fd_wait_promise(loop, p[0], EVA_FD_READABLE, 5000, &pr), 0);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_NOWAIT), 1);
    assert_int_equal(eva_promise_get_state(pr), EVA_PROMISE_PENDING);
    assert_int_equal(write(p[1], "x", 1), 1);
    run_while_pending(loop, pr);
    assert_int_equal(eva_promise_get_state(pr), EVA_PROMISE_FULFILLED);
    const eva_fd_wait_req *req = eva_promise_get_value(pr);
    assert_non_null(req);
    assert_int_equal(req->fd, p[0]);
    assert_int_equal(req->revents, EVA_FD_READABLE);
    eva_promise_unref(pr);

    assert_int_equal(eva_fd_wait_promise(loop, p[1], EVA_FD_WRITABLE, 0, &pr), 0);
    run_while_pending(loop, pr);
    assert_int_equal(((const eva_fd_wait_req *)eva_promise_get_value(pr))->revents, EVA_FD_WRITABLE);
    eva_promise_unref(pr);

    char c;
    assert_int_equal(read(p[0], &c, 1), 1);
    assert_int_equal(eva_fd_wait_promise(loop, p[0], EVA_FD_READABLE, 20, &pr), 0);
    run_while_pending(loop, pr);
    assert_int_equal(eva_promise_get_error(pr), -ETIMEDOUT);
    /* the operation's own message, as an AWAIT of it would fail with */
    assert_string_equal(eva_promise_get_message(pr), "fd wait: the descriptor was not ready within the timeout");
    eva_promise_unref(pr);
    close_pair(p);
    test_loop_destroy(loop);
}

static void promise_cancel_rejects(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int p[2];
    make_pipe(p);
    eva_promise *pr = NULL;
    assert_int_equal(eva_fd_wait_promise(loop, p[0], EVA_FD_READABLE, 0, &pr), 0);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_NOWAIT), 1); /* parked on the wait */
    assert_int_equal(eva_promise_cancel(pr), 0);
    run_while_pending(loop, pr);
    assert_int_equal(eva_promise_get_error(pr), -ECANCELED);
    eva_promise_unref(pr);
    /* cancelled before its task first ran */
    assert_int_equal(eva_fd_wait_promise(loop, p[0], EVA_FD_READABLE, 0, &pr), 0);
    assert_int_equal(eva_promise_cancel(pr), 0);
    run_while_pending(loop, pr);
    assert_int_equal(eva_promise_get_error(pr), -ECANCELED);
    eva_promise_unref(pr);
    close_pair(p);
    test_loop_destroy(loop);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(readable_when_bytes_arrive),
        cmocka_unit_test(writable_reports_the_ready_subset),
        cmocka_unit_test(writable_after_the_reader_drains),
        cmocka_unit_test(hangups_report_as_ready),
        cmocka_unit_test(a_regular_file_is_always_ready),
        cmocka_unit_test(the_deadline_ends_the_wait),
        cmocka_unit_test(ready_at_the_deadline_completes_once),
        cmocka_unit_test(cancel_completes_later_with_ecanceled),
        cmocka_unit_test(cancel_then_close_then_reuse_the_number),
        cmocka_unit_test(closed_without_cancel_ends_at_the_deadline),
        cmocka_unit_test(two_waits_on_one_descriptor),
        cmocka_unit_test(destroy_completes_pending_waits),
        cmocka_unit_test(bad_input_is_refused),
        cmocka_unit_test(the_first_wait_may_run_out_of_memory),
        cmocka_unit_test(await_readable_then_timeout),
        cmocka_unit_test(await_start_errors_are_the_status),
        cmocka_unit_test(await_on_a_busy_request_fails),
        cmocka_unit_test(cancelling_the_task_cancels_the_wait),
        cmocka_unit_test(destroy_cancels_an_awaiting_task),
        cmocka_unit_test(promise_fulfils_with_the_request),
        cmocka_unit_test(promise_cancel_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
