/* tests/redis_server.c — see redis_server.h. */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "helpers.h"
#include "redis_server.h"

enum { START_MS = 10000 };

/* "Ready to accept connections" (TCP), "The server is now ready to accept
 * connections at PATH" (Redis 7.0, Unix socket only) */
static const char READY[] = "to accept connections";

static void exec_server(const redis_server *s, int out) {
    dup2(out, STDOUT_FILENO);
    dup2(out, STDERR_FILENO);
    execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", s->sock, "--dir", s->dir,
           "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", "",
           "--loglevel", "notice", (char *)NULL);
    dprintf(STDERR_FILENO, "redis-server: %s (scripts/install-deps installs it)\n", strerror(errno));
    _exit(127);
}

static void on_output(eva_fd_wait_req *req, int status) { *(int *)req->data = status; }

/* Read what is there now; false at EOF. */
static bool read_available(int fd, char *log, size_t cap, size_t *len) {
    for (;;) {
        ssize_t n = read(fd, log + *len, cap - 1 - *len);
        if (n <= 0)
            return n < 0 && errno == EAGAIN;
        *len += (size_t)n;
        log[*len] = '\0';
        if (*len + 1 == cap) { /* full: keep the newer half, what we look for comes last */
            memmove(log, log + cap / 2, *len - cap / 2 + 1);
            *len -= cap / 2;
        }
    }
}

bool test_read_output(eva_loop *loop, int fd, char *log, size_t cap, const char *until, int64_t timeout_ms) {
    assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    size_t len = 0;
    log[0] = '\0';
    uint64_t deadline = eva_time() + (uint64_t)timeout_ms;
    for (;;) {
        bool open = read_available(fd, log, cap, &len);
        if (until && strstr(log, until))
            return true;
        if (!open)
            return !until;
        int status = 1;
        eva_fd_wait_req req = {.data = &status};
        int64_t left = (int64_t)(deadline - eva_time());
        assert_int_equal(eva_fd_wait(&req, loop, fd, EVA_FD_READABLE, left > 1 ? left : 1, on_output), 0);
        while (status == 1)
            eva_loop_run(loop, EVA_RUN_ONCE);
        if (status < 0)
            fail_msg("no %s within %lld ms (%s); so far:\n%s", until ? until : "EOF",
                     (long long)timeout_ms, eva_strerror(status), log);
    }
}

void redis_server_start(eva_loop *loop, redis_server *s) {
    memset(s, 0, sizeof *s);
    strcpy(s->dir, "/tmp/evasync-redis-XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    snprintf(s->sock, sizeof s->sock, "%s/redis.sock", s->dir);
    int p[2];
    assert_int_equal(pipe(p), 0);
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        close(p[0]);
        exec_server(s, p[1]);
    }
    close(p[1]);
    s->out = p[0];
    char log[8192];
    if (!test_read_output(loop, s->out, log, sizeof log, READY, START_MS))
        fail_msg("redis-server exited before it was ready:\n%s", log);
}

void redis_server_stop(redis_server *s) {
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGKILL);
    while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    s->pid = 0;
    close(s->out);
    unlink(s->sock);
    rmdir(s->dir);
}
