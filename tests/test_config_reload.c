/* examples/config_reload as a real process: its file replaced the way an
 * editor saves (write another file, rename it over), SIGHUP, a missing
 * file (the old value kept), SIGTERM (exit 0).  Every read of its output
 * is bounded by poll(). */
#define _GNU_SOURCE /* mkdtemp */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "helpers.h"
#include "fs_helpers.h"

static const char *example;

typedef struct child {
    pid_t pid;
    int out;
    char buf[4096];
    size_t len;
} child;

static void start_child(child *c, const char *conf) {
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    c->pid = fork();
    assert_true(c->pid >= 0);
    if (c->pid == 0) {
        dup2(p[1], 1);
        execl(example, example, conf, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    c->out = p[0];
    c->len = 0;
}

/* The next line the example prints (without its newline), within 5 s. */
static const char *next_line(child *c, char *line, size_t size) {
    for (;;) {
        char *nl = memchr(c->buf, '\n', c->len);
        if (nl) {
            size_t n = (size_t)(nl - c->buf);
            assert_true(n < size);
            memcpy(line, c->buf, n);
            line[n] = 0;
            memmove(c->buf, nl + 1, c->len - n - 1);
            c->len -= n + 1;
            return line;
        }
        struct pollfd pfd = {.fd = c->out, .events = POLLIN};
        assert_int_equal(poll(&pfd, 1, 5000), 1);
        ssize_t got = read(c->out, c->buf + c->len, sizeof c->buf - c->len);
        assert_true(got > 0);
        c->len += (size_t)got;
    }
}

static void save_by_rename(const tmpdir *d, const char *text) {
    const char *tmp = in_dir(d, 1, "conf.swp"), *conf = in_dir(d, 2, "conf");
    int fd = open(tmp, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(rename(tmp, conf), 0);
}

static void reloads_on_change_and_sighup(void **state) {
    (void)state;
    tmpdir d;
    tmpdir_make(&d);
    save_by_rename(&d, "value=one\n");
    child c;
    start_child(&c, in_dir(&d, 0, "conf"));
    char line[512];
    assert_string_equal(next_line(&c, line, sizeof line), "config_reload: ready value=one");
    save_by_rename(&d, "value=two\n");
    assert_non_null(strstr(next_line(&c, line, sizeof line), "reload reason=change value=two ticks="));
    assert_int_equal(kill(c.pid, SIGHUP), 0);
    assert_non_null(strstr(next_line(&c, line, sizeof line), "reload reason=sighup value=two ticks="));
    assert_int_equal(unlink(in_dir(&d, 0, "conf")), 0);
    next_line(&c, line, sizeof line);
    assert_non_null(strstr(line, "reason=change error="));
    assert_non_null(strstr(line, "(keeping value=two)"));
    save_by_rename(&d, "value=three\n"); /* deleted, then created again: still watched */
    assert_non_null(strstr(next_line(&c, line, sizeof line), "reason=change value=three"));
    assert_int_equal(kill(c.pid, SIGTERM), 0);
    int st;
    assert_int_equal(waitpid(c.pid, &st, 0), c.pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    close(c.out);
    tmpdir_remove(&d);
}

int main(int argc, char **argv) {
    assert_true(argc == 2);
    example = argv[1];
    const struct CMUnitTest tests[] = {cmocka_unit_test(reloads_on_change_and_sighup)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
