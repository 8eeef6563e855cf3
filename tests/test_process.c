/* Child processes with real programs: exit codes and signal deaths in the
 * three styles, stdio through pipes (cat echo, a 10 MB stream, backpressure
 * both ways, output left after the exit), no descriptor leaks, spawn
 * failures as errors of the spawn (ENOENT, EACCES, E2BIG), EPIPE without
 * SIGPIPE, cancellation (SIGTERM, then SIGKILL after the grace), loop destroy
 * with live children, the SIGCHLD fallback.  Every test ends with no child
 * left: neither running nor a zombie. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "helpers.h"

extern bool eva__process_pidfd_off; /* net/process_internal.h: the SIGCHLD fallback */

/* Neither a running child nor a zombie: waitid finds no child at all. */
static void assert_no_children(void) {
    siginfo_t si = {0};
    errno = 0;
    assert_int_equal(waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT), -1);
    assert_int_equal(errno, ECHILD);
}

/* The end of every test: no child left, and the loop destroyed. */
static void end_test(eva_loop *loop) {
    assert_no_children();
    test_loop_destroy(loop);
}

static char *sleep_argv[] = {"sleep", "10", NULL}; /* outlives every test: killed first */

typedef struct waited {
    bool done;
    int status, exit_status, term_signal;
} waited;

static void on_wait(eva_process_wait_req *req, int status) {
    waited *w = req->data;
    w->done = true;
    w->status = status;
    w->exit_status = req->exit_status;
    w->term_signal = req->term_signal;
}

static char *sh_argv[] = {"/bin/sh", "-c", NULL, NULL};

static eva_process_options sh(const char *script) {
    sh_argv[2] = (char *)script;
    return (eva_process_options){.argv = sh_argv};
}

static waited wait_exit(eva_loop *loop, eva_process *proc) {
    waited w = {0};
    eva_process_wait_req req = {.data = &w};
    assert_int_equal(eva_process_wait(&req, proc, on_wait), 0);
    assert_false(w.done); /* never inside the call */
    test_run_until(loop, &w.done, 5000);
    return w;
}

/* Read the stream to its end into buf (NUL-terminated); returns the length. */
typedef struct drain {
    eva_stream_read_req rd;
    char *buf;
    size_t cap, len, total;
    bool eof, full;
    int status;
} drain;

static void on_drain_read(eva_stream_read_req *req, int status) {
    drain *d = req->data;
    if (status < 0 || req->nread == 0) {
        d->status = status;
        d->eof = true;
        return;
    }
    d->total += (size_t)req->nread;
    d->len = d->cap ? d->len + (size_t)req->nread : 0;
    size_t room = d->cap ? d->cap - d->len : 0;
    char *at = d->cap ? d->buf + d->len : d->buf;
    if (d->cap && room == 0) {
        d->full = true; /* the caller reads no more */
        return;
    }
    assert_int_equal(eva_stream_read(&d->rd, req->stream, at, d->cap ? room : 65536, on_drain_read), 0);
}

/* cap 0: count bytes only, into a 64 KiB scratch buffer. */
static void drain_start(drain *d, eva_stream *s, char *buf, size_t cap) {
    *d = (drain){.buf = buf, .cap = cap, .rd = {.data = d}};
    assert_int_equal(eva_stream_read(&d->rd, s, buf, cap ? cap : 65536, on_drain_read), 0);
}

static size_t read_to_end(eva_loop *loop, eva_stream *s, char *buf, size_t cap) {
    drain d;
    drain_start(&d, s, buf, cap - 1);
    test_run_until(loop, &d.eof, 5000);
    assert_int_equal(d.status, 0);
    buf[d.len] = '\0';
    return d.len;
}

/* ---- exit codes and signals ------------------------------------------------------------ */

static void exit_code_by_callback(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_process proc = {0};
    eva_process_options o = sh("exit 3");
    assert_int_equal(eva_process_spawn(loop, &proc, &o), 0);
    assert_true(eva_process_is_running(&proc));
    assert_true(proc.pid > 0);
    waited w = wait_exit(loop, &proc);
    assert_int_equal(w.status, 0);
    assert_int_equal(w.exit_status, 3);
    assert_int_equal(w.term_signal, 0);
    assert_false(eva_process_is_running(&proc));
    assert_int_equal(proc.exit_status, 3);
    assert_int_equal(eva_process_kill(&proc, SIGTERM), -ESRCH);
    assert_no_children();

    /* a wait after the reap gets the same exit, from the loop */
    w = wait_exit(loop, &proc);
    assert_int_equal(w.status, 0);
    assert_int_equal(w.exit_status, 3);

    /* the struct spawns again (a supervisor's restart) */
    o = sh("exit 4");
    assert_int_equal(eva_process_spawn(loop, &proc, &o), 0);
    assert_int_equal(eva_process_spawn(loop, &proc, &o), -EBUSY);
    w = wait_exit(loop, &proc);
    assert_int_equal(w.exit_status, 4);
    end_test(loop);
}

typedef struct waiter_frame {
    eva_task task;
    eva_process proc;
    eva_process_wait_req req;
    int status;
    bool finished;
} waiter_frame;

static eva_step await_exit(void *frame) {
    waiter_frame *f = frame;
    ASYNC_BEGIN(f);
    AWAIT_RC(f, f->status, eva_process_wait_op(&f->req, &f->proc));
    ASYNC_END(f);
}

static void on_waiter_done(eva_task *task) { ((waiter_frame *)(void *)task)->finished = true; }

static void start_waiter(eva_loop *loop, waiter_frame *f, const eva_process_options *o) {
    assert_int_equal(eva_process_spawn(loop, &f->proc, o), 0);
    assert_int_equal(eva_task_init(loop, &f->task, await_exit, "waiter"), 0);
    assert_int_equal(eva_task_start(&f->task, on_waiter_done), 0);
}

static void signal_death_by_await(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    waiter_frame f = {0};
    eva_process_options o = sh("kill -KILL $$");
    start_waiter(loop, &f, &o);
    test_run_until(loop, &f.finished, 5000);
    assert_int_equal(f.status, 0);
    assert_int_equal(eva_task_get_status(&f.task), 0);
    assert_int_equal(f.req.term_signal, SIGKILL);
    assert_int_equal(f.req.exit_status, -1);
    end_test(loop);
}

/* ---- stdio through pipes ---------------------------------------------------------------- */

static void on_promise_settled(void *arg, eva_promise *settled) {
    (void)settled;
    *(bool *)arg = true;
}

/* The wait's promise form, *settled set once it settles; the caller unrefs it. */
static eva_promise *wait_promise(eva_process *proc, bool *settled) {
    eva_promise *p = NULL;
    assert_int_equal(eva_process_wait_promise(proc, &p), 0);
    assert_int_equal(eva_promise_finally(p, on_promise_settled, settled, NULL), 0);
    return p;
}

static void cat_echo_through_pipes(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_stream in = {0}, out = {0};
    char *argv[] = {"cat", NULL};
    eva_process_options o = {.argv = argv,
                             .stdio = {{.kind = EVA_STDIO_PIPE, .stream = &in}, {.kind = EVA_STDIO_PIPE, .stream = &out}}};
    eva_process proc = {0};
    assert_int_equal(eva_process_spawn(loop, &proc, &o), 0);
    assert_true(eva_stream_is_open(&in) && eva_stream_is_open(&out));
    assert_int_equal(eva_stream_write_copy(&in, "hello, cat\n", 11), 0);
    assert_int_equal(eva_stream_close(&in, EVA_STREAM_CLOSE_FLUSH, NULL), 0); /* cat reads EOF after it */

    char buf[64];
    assert_int_equal(read_to_end(loop, &out, buf, sizeof buf), 11);
    assert_string_equal(buf, "hello, cat\n");

    /* the promise form: its value is the wait request */
    bool settled = false;
    eva_promise *p = wait_promise(&proc, &settled);
    test_run_until(loop, &settled, 5000);
    eva_process_wait_req *req = eva_promise_get_value(p);
    assert_non_null(req);
    assert_int_equal(req->exit_status, 0);
    assert_int_equal(req->term_signal, 0);
    eva_promise_unref(p);
    eva_stream_close(&out, EVA_STREAM_CLOSE_DISCARD, NULL);
    end_test(loop);
}

static void large_stream_read_whole(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_stream out = {0};
    eva_process_options o = sh("yes | head -c 10000000");
    o.stdio[1] = (eva_stdio){.kind = EVA_STDIO_PIPE, .stream = &out};
    eva_process proc = {0};
    assert_int_equal(eva_process_spawn(loop, &proc, &o), 0);
    static char scratch[65536];
    drain d;
    drain_start(&d, &out, scratch, 0);
    test_run_until(loop, &d.eof, 5000);
    assert_int_equal(d.status, 0);
    assert_int_equal(d.total, 10000000);
    waited w = wait_exit(loop, &proc);
    assert_int_equal(w.exit_status, 0);
    eva_stream_close(&out, EVA_STREAM_CLOSE_DISCARD, NULL);
    end_test(loop);
}

/* 4 MiB into cat while its output is read: neither side fits in a pipe, so
 * the write waits for cat, which waits for our reads. */
static void on_big_written(eva_stream_write_req *req, int status) {
    assert_int_equal(status, 0);
    *(bool *)req->data = true;
    eva_stream_close(req->stream, EVA_STREAM_CLOSE_FLUSH, NULL);
}

static void backpressure_both_ways(void **state) {
    (void)state;
    enum { SIZE = 4 << 20 };
    eva_loop *loop = test_loop_new();
    char *input = malloc(SIZE), *output = malloc(SIZE + 1);
    assert_non_null(input);
    assert_non_null(output);
    for (size_t i = 0; i < SIZE; i++)
        input[i] = (char)('a' + (i * 7 + i / 4096) % 26);
    eva_stream in = {0}, out = {0};
    char *argv[] = {"cat", NULL};
    eva_process_options o = {.argv = argv,
                             .stdio = {{.kind = EVA_STDIO_PIPE, .stream = &in}, {.kind = EVA_STDIO_PIPE, .stream = &out}}};
    eva_process proc = {0};
    assert_int_equal(eva_process_spawn(loop, &proc, &o), 0);
    bool written = false;
    eva_stream_write_req wr = {.data = &written};
    struct iovec iov = {input, SIZE};
    assert_int_equal(eva_stream_write(&wr, &in, &iov, 1, on_big_written), 1); /* above the high-water mark */
    drain d;
    drain_start(&d, &out, output, SIZE + 1);
    test_run_until(loop, &d.eof, 5000);
    assert_true(written);
    assert_int_equal(d.status, 0);
    assert_int_equal(d.len, SIZE);
    assert_memory_equal(output, input, SIZE);
    assert_int_equal(wait_exit(loop, &proc).exit_status, 0);
    eva_stream_close(&out, EVA_STREAM_CLOSE_DISCARD, NULL);
    free(input);
    free(output);
    end_test(loop);
}

typedef struct late_reader {
    eva_task task;
    eva_process proc;
    eva_process_wait_req wait;
    eva_stream out;
    eva_stream_read_req rd;
    char buf[64];
    ssize_t first, second;
    bool exited_first, finished;
} late_reader;

static eva_step read_after_exit(void *frame) {
    late_reader *f = frame;
    ASYNC_BEGIN(f);
    AWAIT(f, eva_process_wait_op(&f->wait, &f->proc));
    f->exited_first = !eva_process_is_running(&f->proc);
    AWAIT(f, eva_stream_read_op(&f->rd, &f->out, f->buf, sizeof f->buf));
    f->first = f->rd.nread;
    AWAIT(f, eva_stream_read_op(&f->rd, &f->out, f->buf + f->first, sizeof f->buf - (size_t)f->first));
    f->second = f->rd.nread;
    ASYNC_FINALLY(f);
    eva_stream_close(&f->out, EVA_STREAM_CLOSE_DISCARD, NULL);
    ASYNC_END(f);
}

static void on_late_done(eva_task *t) { ((late_reader *)(void *)t)->finished = true; }

static void output_readable_after_exit(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    late_reader f = {0};
    eva_process_options o = sh("echo hello; exit 0");
    o.stdio[1] = (eva_stdio){.kind = EVA_STDIO_PIPE, .stream = &f.out};
    assert_int_equal(eva_process_spawn(loop, &f.proc, &o), 0);
    assert_int_equal(eva_task_init(loop, &f.task, read_after_exit, "late reader"), 0);
    assert_int_equal(eva_task_start(&f.task, on_late_done), 0);
    test_run_until(loop, &f.finished, 5000);
    assert_int_equal(eva_task_get_status(&f.task), 0);
    assert_true(f.exited_first);
    assert_int_equal(f.first, 6);
    assert_memory_equal(f.buf, "hello\n", 6);
    assert_int_equal(f.second, 0); /* then EOF */
    end_test(loop);
}

/* ---- descriptors ---------------------------------------------------------------------------- */

/* Only evasync's descriptors are under test: whatever the test runner left
 * open without close-on-exec is marked so first. */
static void mark_inherited_fds_cloexec(void) {
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)))
        if (atoi(e->d_name) > 2 && atoi(e->d_name) != dirfd(d))
            fcntl(atoi(e->d_name), F_SETFD, FD_CLOEXEC);
    closedir(d);
}

static void no_descriptor_leaks(void **state) {
    (void)state;
    mark_inherited_fds_cloexec();
    eva_loop *loop = test_loop_new();
    /* evasync descriptors open meanwhile: another child's pidfd and pipes, a listener */
    eva_stream cat_in = {0}, cat_out = {0};
    char *cat[] = {"cat", NULL};
    eva_process_options co = {.argv = cat,
                              .stdio = {{.kind = EVA_STDIO_PIPE, .stream = &cat_in}, {.kind = EVA_STDIO_PIPE, .stream = &cat_out}}};
    eva_process other = {0};
    assert_int_equal(eva_process_spawn(loop, &other, &co), 0);
    eva_server srv = {0};
    assert_int_equal(eva_tcp_listen_ip(loop, &srv, "127.0.0.1", 0, NULL), 0);

    eva_stream out = {0};
    char *ls[] = {"ls", "/proc/self/fd", NULL};
    eva_process_options o = {.argv = ls,
                             .stdio = {{.kind = EVA_STDIO_NULL}, {.kind = EVA_STDIO_PIPE, .stream = &out}, {.kind = EVA_STDIO_NULL}}};
    eva_process proc = {0};
    assert_int_equal(eva_process_spawn(loop, &proc, &o), 0);
    char buf[256];
    read_to_end(loop, &out, buf, sizeof buf);
    assert_string_equal(buf, "0\n1\n2\n3\n"); /* 3: the directory ls reads */
    assert_int_equal(wait_exit(loop, &proc).exit_status, 0);

    eva_stream_close(&cat_in, EVA_STREAM_CLOSE_DISCARD, NULL);
    assert_int_equal(wait_exit(loop, &other).exit_status, 0);
    eva_stream_close(&cat_out, EVA_STREAM_CLOSE_DISCARD, NULL);
    eva_stream_close(&out, EVA_STREAM_CLOSE_DISCARD, NULL);
    eva_server_close(&srv);
    end_test(loop);
}

/* A descriptor of the caller's as stdout, and one whose number is a stdio
 * slot's (stderr given as stdout): the child gets copies in the right places. */
static void given_descriptors(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    eva_process_options o = sh("echo out; echo err >&2");
    o.stdio[1] = (eva_stdio){.kind = EVA_STDIO_FD, .fd = p[1]};
    o.stdio[2] = (eva_stdio){.kind = EVA_STDIO_FD, .fd = p[1]};
    eva_process proc = {0};
    assert_int_equal(eva_process_spawn(loop, &proc, &o), 0);
    assert_int_equal(wait_exit(loop, &proc).exit_status, 0);
    close(p[1]); /* the caller's: still open after the spawn */
    char buf[32] = {0};
    assert_int_equal(read(p[0], buf, sizeof buf - 1), 8);
    assert_string_equal(buf, "out\nerr\n");
    close(p[0]);
    end_test(loop);
}

/* ---- environment and working directory ------------------------------------------------------ */

static void environment_and_cwd(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    setenv("EVA_TEST_KEEP", "kept", 1);
    setenv("EVA_TEST_DROP", "dropped", 1);
    setenv("EVA_TEST_SET", "old", 1);
    const char *changes[] = {"EVA_TEST_SET=new", "EVA_TEST_DROP", NULL};
    const char *replaced[] = {"ONLY=1", NULL};
    struct {
        eva_env_mode mode;
        const char *const *env;
        const char *expect;
    } cases[] = {
        {EVA_ENV_INHERIT, changes, "kept-dropped-old-none /tmp\n"},
        {EVA_ENV_ADD, changes, "kept-none-new-none /tmp\n"},
        {EVA_ENV_REPLACE, replaced, "none-none-none-1 /tmp\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        eva_stream out = {0};
        eva_process_options o =
            sh("echo \"${EVA_TEST_KEEP-none}-${EVA_TEST_DROP-none}-${EVA_TEST_SET-none}-${ONLY-none} $(pwd)\"");
        o.env_mode = cases[i].mode;
        o.env = cases[i].env;
        o.cwd = "/tmp";
        o.stdio[1] = (eva_stdio){.kind = EVA_STDIO_PIPE, .stream = &out};
        eva_process proc = {0};
        assert_int_equal(eva_process_spawn(loop, &proc, &o), 0);
        char buf[128];
        read_to_end(loop, &out, buf, sizeof buf);
        assert_string_equal(buf, cases[i].expect);
        assert_int_equal(wait_exit(loop, &proc).exit_status, 0);
        eva_stream_close(&out, EVA_STREAM_CLOSE_DISCARD, NULL);
    }
    unsetenv("EVA_TEST_KEEP");
    unsetenv("EVA_TEST_DROP");
    unsetenv("EVA_TEST_SET");
    end_test(loop);
}

/* ---- spawn failures ---------------------------------------------------------------------------- */

static int spawn_fails(eva_loop *loop, eva_process_options *o) {
    eva_stream out = {0};
    o->stdio[1] = (eva_stdio){.kind = EVA_STDIO_PIPE, .stream = &out};
    eva_process proc = {0};
    int rc = eva_process_spawn(loop, &proc, o);
    assert_false(eva_process_is_running(&proc));
    assert_false(eva_stream_is_open(&out)); /* nothing of it stays open */
    assert_no_children();
    return rc;
}

static void spawn_errors(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    char *missing[] = {"/nonexistent/evasync-no-such-program", NULL};
    eva_process_options o = {.argv = missing};
    assert_int_equal(spawn_fails(loop, &o), -ENOENT);
    char *unlisted[] = {"evasync-no-such-program-on-path", NULL};
    o = (eva_process_options){.argv = unlisted};
    assert_int_equal(spawn_fails(loop, &o), -ENOENT);

    char path[] = "/tmp/evasync-noexec-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "#!/bin/sh\n", 10), 10);
    close(fd);
    assert_int_equal(chmod(path, 0644), 0);
    char *noexec[] = {path, NULL};
    o = (eva_process_options){.argv = noexec};
    assert_int_equal(spawn_fails(loop, &o), -EACCES);
    unlink(path);

    /* one argument longer than the kernel's MAX_ARG_STRLEN (32 pages) */
    size_t huge = 64 * 4096;
    char *arg = malloc(huge + 1);
    assert_non_null(arg);
    memset(arg, 'x', huge);
    arg[huge] = '\0';
    char *toolong[] = {"/bin/true", arg, NULL};
    o = (eva_process_options){.argv = toolong};
    assert_int_equal(spawn_fails(loop, &o), -E2BIG);
    free(arg);

    o = sh("exit 0");
    o.cwd = "/nonexistent/evasync-dir";
    assert_int_equal(spawn_fails(loop, &o), -ENOENT);

    eva_process proc = {0};
    char *none[] = {NULL};
    assert_int_equal(eva_process_spawn(loop, &proc, &(eva_process_options){.argv = none}), -EINVAL);
    assert_int_equal(eva_process_spawn(loop, &proc, &(eva_process_options){0}), -EINVAL);
    assert_int_equal(eva_process_spawn(NULL, &proc, &o), -EINVAL);
    o = sh("exit 0");
    o.stdio[0] = (eva_stdio){.kind = EVA_STDIO_PIPE};
    assert_int_equal(eva_process_spawn(loop, &proc, &o), -EINVAL);
    o.stdio[0] = (eva_stdio){.kind = EVA_STDIO_FD, .fd = -1};
    assert_int_equal(eva_process_spawn(loop, &proc, &o), -EINVAL);
    o.stdio[0] = (eva_stdio){.kind = (eva_stdio_kind)42};
    assert_int_equal(eva_process_spawn(loop, &proc, &o), -EINVAL);
    o.stdio[0] = (eva_stdio){.kind = EVA_STDIO_INHERIT};
    o.kill_grace_ms = -1;
    assert_int_equal(eva_process_spawn(loop, &proc, &o), -EINVAL);
    eva_process_wait_req req = {0};
    assert_int_equal(eva_process_wait(&req, &proc, on_wait), -EINVAL); /* never spawned */
    assert_int_equal(eva_process_kill(&proc, SIGTERM), -ESRCH);
    end_test(loop);
}

/* ---- broken pipes ---------------------------------------------------------------------------- */

static void on_write_status(eva_stream_write_req *req, int status) {
    waited *w = req->data;
    w->done = true;
    w->status = status;
}

/* The child exits without reading its stdin: our write gets -EPIPE and the
 * test process no SIGPIPE (its disposition is the default: it would die). */
static void closed_pipe_gives_epipe(void **state) {
    (void)state;
    signal(SIGPIPE, SIG_DFL);
    eva_loop *loop = test_loop_new();
    eva_stream in = {0};
    eva_process_options o = sh("exec 0<&-; exit 0");
    o.stdio[0] = (eva_stdio){.kind = EVA_STDIO_PIPE, .stream = &in};
    eva_process proc = {0};
    assert_int_equal(eva_process_spawn(loop, &proc, &o), 0);
    assert_int_equal(wait_exit(loop, &proc).exit_status, 0);
    waited w = {0};
    eva_stream_write_req wr = {.data = &w};
    struct iovec iov = {"data", 4};
    int rc = eva_stream_write(&wr, &in, &iov, 1, on_write_status);
    if (rc == 0)
        test_run_until(loop, &w.done, 5000);
    assert_int_equal(rc == 0 ? w.status : rc, -EPIPE);
    eva_stream_close(&in, EVA_STREAM_CLOSE_DISCARD, NULL);
    end_test(loop);
}

/* A parent that ignores SIGPIPE does not pass that on: `yes` writing to a
 * stdout we closed dies of SIGPIPE, as it would from a shell. */
static void child_gets_default_signals(void **state) {
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    eva_loop *loop = test_loop_new();
    eva_stream out = {0};
    char *yes[] = {"yes", NULL};
    eva_process_options o = {.argv = yes, .stdio = {[1] = {.kind = EVA_STDIO_PIPE, .stream = &out}}};
    eva_process proc = {0};
    assert_int_equal(eva_process_spawn(loop, &proc, &o), 0);
    eva_stream_close(&out, EVA_STREAM_CLOSE_DISCARD, NULL);
    waited w = wait_exit(loop, &proc);
    assert_int_equal(w.term_signal, SIGPIPE);
    signal(SIGPIPE, SIG_DFL);
    end_test(loop);
}

/* ---- cancellation ------------------------------------------------------------------------------ */

/* Start the waiter on o, let it park, cancel it, run until it finishes. */
static void cancel_parked_waiter(eva_loop *loop, waiter_frame *f) {
    for (int i = 0; i < 100 && eva_task_get_state(&f->task) != EVA_TASK_SUSPENDED; i++)
        assert_true(eva_loop_run(loop, EVA_RUN_NOWAIT) >= 0);
    assert_int_equal(eva_task_get_state(&f->task), EVA_TASK_SUSPENDED);
    assert_int_equal(eva_task_cancel(&f->task), 0);
    test_run_until(loop, &f->finished, 5000);
    assert_int_equal(f->status, -ECANCELED); /* AWAIT_RC: the task saw it */
    assert_false(eva_process_is_running(&f->proc));
}

static void cancel_sends_sigterm(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    waiter_frame f = {0};
    start_waiter(loop, &f, &(eva_process_options){.argv = sleep_argv});
    cancel_parked_waiter(loop, &f);
    assert_int_equal(f.req.term_signal, SIGTERM);
    end_test(loop);
}

/* The child ignores SIGTERM (set up before it says "ready"): SIGKILL ends
 * it once the grace is over. */
static void cancel_kills_after_grace(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    waiter_frame f = {0};
    eva_stream out = {0};
    eva_process_options o = sh("trap '' TERM; echo ready; exec sleep 10");
    o.stdio[1] = (eva_stdio){.kind = EVA_STDIO_PIPE, .stream = &out};
    o.kill_grace_ms = 30;
    start_waiter(loop, &f, &o);
    char buf[16];
    drain d;
    drain_start(&d, &out, buf, 6);
    test_run_until(loop, &d.full, 5000);
    assert_memory_equal(buf, "ready\n", 6);
    cancel_parked_waiter(loop, &f);
    assert_int_equal(f.req.term_signal, SIGKILL);
    eva_stream_close(&out, EVA_STREAM_CLOSE_DISCARD, NULL);
    end_test(loop);
}

static void promise_cancel_kills(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_process proc = {0};
    assert_int_equal(eva_process_spawn(loop, &proc, &(eva_process_options){.argv = sleep_argv}), 0);
    bool settled = false;
    eva_promise *p = wait_promise(&proc, &settled);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_NOWAIT) >= 0, 1);
    assert_int_equal(eva_promise_cancel(p), 0);
    test_run_until(loop, &settled, 5000);
    assert_int_equal(eva_promise_get_error(p), -ECANCELED);
    assert_false(eva_process_is_running(&proc));
    assert_int_equal(proc.term_signal, SIGTERM);
    eva_promise_unref(p);
    end_test(loop);
}

/* ---- loop destroy, the fallback ------------------------------------------------------------------- */

static void destroy_kills_and_reaps(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_process proc = {0};
    eva_stream out = {0};
    eva_process_options o = {.argv = sleep_argv, .stdio = {[1] = {.kind = EVA_STDIO_PIPE, .stream = &out}}};
    assert_int_equal(eva_process_spawn(loop, &proc, &o), 0);
    waited w = {0};
    eva_process_wait_req req = {.data = &w};
    assert_int_equal(eva_process_wait(&req, &proc, on_wait), 0);
    test_loop_destroy(loop);
    assert_true(w.done);
    assert_int_equal(w.status, -ECANCELED);
    assert_int_equal(w.term_signal, SIGKILL);
    assert_false(eva_process_is_running(&proc));
    assert_false(eva_stream_is_open(&out));
    assert_no_children();
}

static void sigchld_fallback(void **state) {
    (void)state;
    eva__process_pidfd_off = true;
    eva_loop *loop = test_loop_new();
    eva_process a = {0}, b = {0};
    eva_process_options o = sh("exit 5");
    assert_int_equal(eva_process_spawn(loop, &a, &o), 0);
    o = sh("exit 6");
    assert_int_equal(eva_process_spawn(loop, &b, &o), 0);
    assert_int_equal(wait_exit(loop, &b).exit_status, 6);
    assert_int_equal(wait_exit(loop, &a).exit_status, 5);
    assert_no_children();

    waiter_frame f = {0};
    start_waiter(loop, &f, &(eva_process_options){.argv = sleep_argv});
    cancel_parked_waiter(loop, &f);
    assert_int_equal(f.req.term_signal, SIGTERM);

    assert_int_equal(eva_process_spawn(loop, &a, &(eva_process_options){.argv = sleep_argv}), 0);
    test_loop_destroy(loop); /* kills and reaps it */
    assert_int_equal(a.term_signal, SIGKILL);
    eva__process_pidfd_off = false;
    assert_no_children();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exit_code_by_callback),
        cmocka_unit_test(signal_death_by_await),
        cmocka_unit_test(cat_echo_through_pipes),
        cmocka_unit_test(large_stream_read_whole),
        cmocka_unit_test(backpressure_both_ways),
        cmocka_unit_test(output_readable_after_exit),
        cmocka_unit_test(no_descriptor_leaks),
        cmocka_unit_test(given_descriptors),
        cmocka_unit_test(environment_and_cwd),
        cmocka_unit_test(spawn_errors),
        cmocka_unit_test(closed_pipe_gives_epipe),
        cmocka_unit_test(child_gets_default_signals),
        cmocka_unit_test(cancel_sends_sigterm),
        cmocka_unit_test(cancel_kills_after_grace),
        cmocka_unit_test(promise_cancel_kills),
        cmocka_unit_test(destroy_kills_and_reaps),
        cmocka_unit_test(sigchld_fallback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
