/* Streams over descriptors that are not TCP sockets: pipes both ways (EPIPE
 * without SIGPIPE, read_until that consumes nothing past its delimiter,
 * half-close of a write end), stdin/stdout adopted by descriptor number, and
 * what eva_stream_open refuses (closed descriptors, files, directories,
 * listening and datagram sockets). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "helpers.h"

typedef struct outcome {
    bool done;
    int status;
    ssize_t nread;
} outcome;

static void on_read(eva_stream_read_req *req, int status) {
    outcome *o = req->data;
    o->done = true;
    o->status = status;
    o->nread = req->nread;
}

static void on_written(eva_stream_write_req *req, int status) {
    outcome *o = req->data;
    o->done = true;
    o->status = status;
}

static void on_shut(eva_stream_shutdown_req *req, int status) {
    outcome *o = req->data;
    o->done = true;
    o->status = status;
}

static void make_pipe(int p[2]) { assert_int_equal(pipe2(p, O_CLOEXEC), 0); }

static ssize_t read_all(int fd, char *buf, size_t len) {
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n <= 0)
            return n < 0 ? -1 : (ssize_t)got;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* ---- pipes ----------------------------------------------------------------------- */

static void pipe_read_end(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int p[2];
    make_pipe(p);
    eva_stream s = {0};
    assert_int_equal(eva_stream_open(loop, &s, p[0]), 0);
    assert_true(fcntl(p[0], F_GETFL) & O_NONBLOCK);
    assert_int_equal(write(p[1], "hello\nrest", 10), 10);

    char buf[32];
    outcome o = {0};
    eva_stream_read_req rd = {.data = &o};
    assert_int_equal(eva_stream_read_until(&rd, &s, buf, sizeof buf, "\n", 1, on_read), 0);
    test_run_until(loop, &o.done, 2000);
    assert_int_equal(o.status, 0);
    assert_int_equal(o.nread, 6);
    assert_memory_equal(buf, "hello\n", 6);

    /* nothing past the delimiter was consumed: the rest is still in the pipe */
    o = (outcome){0};
    assert_int_equal(eva_stream_read_exact(&rd, &s, buf, 4, on_read), 0);
    test_run_until(loop, &o.done, 2000);
    assert_int_equal(o.status, 0);
    assert_memory_equal(buf, "rest", 4);

    /* a write on a read end is refused, not attempted */
    eva_stream_write_req wr = {0};
    struct iovec v = {.iov_base = buf, .iov_len = 1};
    assert_int_equal(eva_stream_write(&wr, &s, &v, 1, on_written), -EBADF);

    close(p[1]); /* EOF */
    o = (outcome){0};
    assert_int_equal(eva_stream_read(&rd, &s, buf, sizeof buf, on_read), 0);
    test_run_until(loop, &o.done, 2000);
    assert_int_equal(o.status, 0);
    assert_int_equal(o.nread, 0);
    assert_int_equal(eva_stream_close(&s, EVA_STREAM_CLOSE_DISCARD, NULL), 0);
    test_loop_destroy(loop);
}

/* The delimiter straddles reads and starts more than once ("\r\n\r\n" after
 * "\r\n\r"): the bounded reads of a pipe must still stop right after it. */
static void pipe_read_until_straddling(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int p[2];
    make_pipe(p);
    eva_stream s = {0};
    assert_int_equal(eva_stream_open(loop, &s, p[0]), 0);
    const char *msg = "GET /\r\n\r\r\n\r\nbody";
    assert_int_equal(write(p[1], msg, strlen(msg)), (ssize_t)strlen(msg));
    char buf[64];
    outcome o = {0};
    eva_stream_read_req rd = {.data = &o};
    assert_int_equal(eva_stream_read_until(&rd, &s, buf, sizeof buf, "\r\n\r\n", 4, on_read), 0);
    test_run_until(loop, &o.done, 2000);
    assert_int_equal(o.status, 0);
    assert_int_equal(o.nread, 12);
    assert_memory_equal(buf, "GET /\r\n\r\r\n\r\n", 12);
    close(p[1]);
    char rest[8];
    assert_int_equal(read_all(p[0], rest, sizeof rest), 4);
    assert_memory_equal(rest, "body", 4);
    eva_stream_close(&s, EVA_STREAM_CLOSE_DISCARD, NULL);
    test_loop_destroy(loop);
}

static void pipe_write_end_and_half_close(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int p[2];
    make_pipe(p);
    eva_stream s = {0};
    assert_int_equal(eva_stream_open(loop, &s, p[1]), 0);

    char buf[8];
    outcome o = {0};
    eva_stream_read_req rd = {0};
    assert_int_equal(eva_stream_read(&rd, &s, buf, sizeof buf, on_read), -EBADF);

    eva_stream_write_req wr = {.data = &o};
    struct iovec v[2] = {{.iov_base = "ab", .iov_len = 2}, {.iov_base = "cd", .iov_len = 2}};
    assert_int_equal(eva_stream_write(&wr, &s, v, 2, on_written), 0);
    test_run_until(loop, &o.done, 2000);
    assert_int_equal(o.status, 0);

    /* the half-close of a write end closes it: the reader sees EOF */
    outcome so = {0};
    eva_stream_shutdown_req sh = {.data = &so};
    assert_int_equal(eva_stream_shutdown(&sh, &s, on_shut), 0);
    test_run_until(loop, &so.done, 2000);
    assert_int_equal(so.status, 0);
    assert_false(eva_stream_is_open(&s));
    char got[8];
    assert_int_equal(read_all(p[0], got, sizeof got), 4);
    assert_memory_equal(got, "abcd", 4);
    assert_int_equal(eva_stream_close(&s, EVA_STREAM_CLOSE_DISCARD, NULL), 0); /* a no-op now */
    close(p[0]);
    test_loop_destroy(loop);
}

/* on_drain may close the stream: here with a half-close waiting for the
 * queue to drain.  The queue's end must then not go on to half-close the
 * closed stream, which for a pipe's write end is a second close: the fd, the
 * loop's list of streams and the close's completion, all a second time. */
static struct {
    outcome closed;
    int closes;
} drain_close;

static void on_closed(eva_stream *stream, int status) {
    (void)stream;
    drain_close.closes++;
    drain_close.closed.done = true;
    drain_close.closed.status = status;
}

static void close_on_drain(eva_stream *stream) {
    assert_int_equal(eva_stream_close(stream, EVA_STREAM_CLOSE_FLUSH, on_closed), 0);
}

static void pipe_on_drain_closes_while_a_half_close_waits(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int p[2];
    make_pipe(p);
    assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
    eva_stream s = {0};
    assert_int_equal(eva_stream_open(loop, &s, p[1]), 0);
    assert_int_equal(eva_stream_set_watermarks(&s, 64 * 1024, 16 * 1024, close_on_drain), 0);
    static char block[256 * 1024]; /* more than the pipe holds: the rest is queued, above high */
    assert_int_equal(eva_stream_write_copy(&s, block, sizeof block), 1);
    outcome so = {0};
    eva_stream_shutdown_req sh = {.data = &so};
    assert_int_equal(eva_stream_shutdown(&sh, &s, on_shut), 0); /* waits for the queue */
    memset(&drain_close, 0, sizeof drain_close);
    static char sink[64 * 1024];
    size_t got = 0;
    ssize_t n;
    for (int i = 0; i < 10000 && !drain_close.closed.done; i++) { /* the reader drains it */
        while ((n = read(p[0], sink, sizeof sink)) > 0)
            got += (size_t)n;
        assert_true(eva_loop_run(loop, EVA_RUN_NOWAIT) >= 0);
    }
    assert_true(drain_close.closed.done);
    for (int i = 0; i < 10 && !so.done; i++)
        assert_true(eva_loop_run(loop, EVA_RUN_NOWAIT) >= 0);
    while ((n = read(p[0], sink, sizeof sink)) > 0)
        got += (size_t)n;
    assert_int_equal(n, 0); /* EOF: the write end is closed */
    assert_int_equal(got, sizeof block);
    assert_int_equal(drain_close.closes, 1);
    assert_int_equal(drain_close.closed.status, 0);
    assert_true(so.done); /* the half-close never happened: the close came first */
    assert_int_equal(so.status, -ECANCELED);
    assert_false(eva_stream_is_open(&s));
    close(p[0]);
    test_loop_destroy(loop);
}

static void pipe_shutdown_of_read_end_refused(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int p[2];
    make_pipe(p);
    eva_stream s = {0};
    assert_int_equal(eva_stream_open(loop, &s, p[0]), 0);
    eva_stream_shutdown_req sh = {0};
    assert_int_equal(eva_stream_shutdown(&sh, &s, on_shut), -EBADF);
    eva_stream_close(&s, EVA_STREAM_CLOSE_DISCARD, NULL);
    close(p[1]);
    test_loop_destroy(loop);
}

/* SIGPIPE keeps its default disposition (kill the process): a write to a
 * pipe whose reader is gone must come back as -EPIPE instead, both from the
 * first try (inside the start) and from the queue (on writability). */
static void pipe_epipe_without_sigpipe(void **state) {
    (void)state;
    void (*old)(int) = signal(SIGPIPE, SIG_DFL);
    eva_loop *loop = test_loop_new();
    int p[2];
    make_pipe(p);
    eva_stream s = {0};
    assert_int_equal(eva_stream_open(loop, &s, p[1]), 0);
    close(p[0]);

    outcome o = {0};
    eva_stream_write_req wr = {.data = &o};
    struct iovec v = {.iov_base = "x", .iov_len = 1};
    assert_int_equal(eva_stream_write(&wr, &s, &v, 1, on_written), 0);
    test_run_until(loop, &o.done, 2000);
    assert_int_equal(o.status, -EPIPE);
    sigset_t pending;
    sigpending(&pending);
    assert_false(sigismember(&pending, SIGPIPE)); /* none left behind either */
    eva_stream_close(&s, EVA_STREAM_CLOSE_DISCARD, NULL);
    test_loop_destroy(loop);
    signal(SIGPIPE, old);
}

/* A SIGPIPE the program itself has pending (blocked) is not ours to take. */
static void pipe_epipe_leaves_a_pending_sigpipe(void **state) {
    (void)state;
    sigset_t pipe_only, old, pending;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
    raise(SIGPIPE);
    eva_loop *loop = test_loop_new();
    int p[2];
    make_pipe(p);
    eva_stream s = {0};
    assert_int_equal(eva_stream_open(loop, &s, p[1]), 0);
    close(p[0]);
    outcome o = {0};
    eva_stream_write_req wr = {.data = &o};
    struct iovec v = {.iov_base = "x", .iov_len = 1};
    assert_int_equal(eva_stream_write(&wr, &s, &v, 1, on_written), 0);
    test_run_until(loop, &o.done, 2000);
    assert_int_equal(o.status, -EPIPE);
    sigpending(&pending);
    assert_true(sigismember(&pending, SIGPIPE));
    const struct timespec zero = {0, 0};
    assert_int_equal(sigtimedwait(&pipe_only, NULL, &zero), SIGPIPE);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    eva_stream_close(&s, EVA_STREAM_CLOSE_DISCARD, NULL);
    test_loop_destroy(loop);
}

/* ---- stdio ------------------------------------------------------------------------ */

typedef struct stdio_echo {
    eva_task task;
    eva_stream in, out;
    eva_stream_read_req rd;
    eva_stream_write_req wr;
    char line[64];
    int rc;
    bool done;
} stdio_echo;

/* Reads a line from stdin, writes it to stdout. */
static eva_step stdio_echo_run(void *frame) {
    stdio_echo *e = frame;
    ASYNC_BEGIN(e);
    AWAIT_RC(e, e->rc, eva_stream_read_until_op(&e->rd, &e->in, e->line, sizeof e->line, "\n", 1));
    if (e->rc == 0)
        AWAIT_RC(e, e->rc, eva_stream_write_op(&e->wr, &e->out, e->line, (size_t)e->rd.nread));
    ASYNC_FINALLY(e);
    e->done = true;
    ASYNC_END(e);
}

/* stdin a pipe and stdout a socket, as a supervisor may set them up: both
 * adopted by number; they stay inheritable (no close-on-exec). */
static void stdio_by_descriptor_number(void **state) {
    (void)state;
    fflush(stdout);
    int saved_in = dup(STDIN_FILENO), saved_out = dup(STDOUT_FILENO);
    int p[2], sv[2];
    make_pipe(p);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(dup2(p[0], STDIN_FILENO), STDIN_FILENO);
    assert_int_equal(dup2(sv[0], STDOUT_FILENO), STDOUT_FILENO);
    close(p[0]);
    close(sv[0]);

    eva_loop *loop = test_loop_new();
    stdio_echo *e = calloc(1, sizeof *e);
    assert_non_null(e);
    assert_int_equal(eva_stream_open(loop, &e->in, STDIN_FILENO), 0);
    assert_int_equal(eva_stream_open(loop, &e->out, STDOUT_FILENO), 0);
    int in_fd_flags = fcntl(STDIN_FILENO, F_GETFD), out_fd_flags = fcntl(STDOUT_FILENO, F_GETFD);
    assert_int_equal(write(p[1], "ping\nmore", 9), 9);
    eva_task_init(loop, &e->task, stdio_echo_run, "stdio-echo");
    eva_task_start(&e->task, NULL);
    test_run_until(loop, &e->done, 2000);
    int rc = e->rc;
    char got[16] = {0};
    ssize_t n = read(sv[1], got, sizeof got);
    eva_stream_close(&e->in, EVA_STREAM_CLOSE_DISCARD, NULL);
    eva_stream_close(&e->out, EVA_STREAM_CLOSE_DISCARD, NULL);
    test_loop_destroy(loop);
    free(e);

    dup2(saved_in, STDIN_FILENO);
    dup2(saved_out, STDOUT_FILENO);
    close(saved_in);
    close(saved_out);
    close(p[1]);
    close(sv[1]);
    assert_int_equal(rc, 0);
    assert_int_equal(n, 5);
    assert_memory_equal(got, "ping\n", 5);
    assert_false(in_fd_flags & FD_CLOEXEC);
    assert_false(out_fd_flags & FD_CLOEXEC);
}

/* ---- what is refused ---------------------------------------------------------------- */

static void open_refuses_what_is_not_a_stream(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    test_log log = {0};
    test_capture_log(loop, &log);
    eva_stream s = {0};

    int closed = dup(STDERR_FILENO);
    close(closed);
    assert_int_equal(eva_stream_open(loop, &s, closed), -EBADF);

    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(eva_stream_open(loop, &s, fileno(f)), -EPERM);
    assert_non_null(strstr(log.last, "regular file"));
    fclose(f);

    int dir = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(dir >= 0);
    assert_int_equal(eva_stream_open(loop, &s, dir), -EPERM);
    close(dir);

    int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sa_family_t unix_family = AF_UNIX; /* bound to an address the kernel picks (autobind) */
    assert_int_equal(bind(listener, (struct sockaddr *)&unix_family, sizeof unix_family), 0);
    assert_int_equal(listen(listener, 1), 0);
    assert_int_equal(eva_stream_open(loop, &s, listener), -EINVAL);
    assert_non_null(strstr(log.last, "listening socket"));
    close(listener);

    int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_int_equal(eva_stream_open(loop, &s, udp), -EPROTOTYPE);
    close(udp);

    /* none of them was taken: the struct is still closed, nothing leaked */
    assert_false(eva_stream_is_open(&s));
    test_loop_destroy(loop);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pipe_read_end),
        cmocka_unit_test(pipe_read_until_straddling),
        cmocka_unit_test(pipe_write_end_and_half_close),
        cmocka_unit_test(pipe_on_drain_closes_while_a_half_close_waits),
        cmocka_unit_test(pipe_shutdown_of_read_end_refused),
        cmocka_unit_test(pipe_epipe_without_sigpipe),
        cmocka_unit_test(pipe_epipe_leaves_a_pending_sigpipe),
        cmocka_unit_test(stdio_by_descriptor_number),
        cmocka_unit_test(open_refuses_what_is_not_a_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
