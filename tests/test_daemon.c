/* examples/daemon against a real redis-server this test starts on a
 * temporary Unix socket (tests/redis_server.c).  The daemon runs as a
 * process with a temporary config file and control socket; the test speaks
 * HTTP to its health port and lines to its control socket, and reads its
 * log lines (stdout) to know when a signal has been handled:
 *  - GET /health answers 200 with the config's name, the tick count and the
 *    Redis counter (preset to 1000, so a value above it can only come from
 *    the daemon's INCRs read back from Redis); "status" answers a line;
 *  - SIGHUP and "reload" reload the config (a bad file is refused and the
 *    old name stays);
 *  - SIGTERM with a request in flight: the listener is closed at once, an
 *    idle control session is closed, the request under way is answered,
 *    then the daemon exits 0 (under ASan: no leak, no error);
 *  - "quit" on the control socket drains and exits 0 as well.
 * Every wait is a poll with a deadline that only matters on failure.
 * usage: test_daemon PATH_OF_daemon */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <hiredis.h>

#include "helpers.h"
#include "redis_server.h"

enum { WAIT_MS = 10000 };

static const char *daemon_path;
static const char KEY[] = "test:daemon:ticks";

typedef struct daemon_proc {
    pid_t pid;               /* 0: not running */
    int out;                 /* its stdout: the log lines */
    char log[8192];          /* what it logged, so far */
    size_t len, seen;        /* bytes read; bytes already matched against */
    int port;
    char dir[64], config[96], control[96];
} daemon_proc;

typedef struct fixture {
    eva_loop *loop;
    redis_server redis;
    daemon_proc d;
} fixture;

/* ---- reading and writing with deadlines ---------------------------------------- */

static void wait_readable(int fd, const char *what) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n = poll(&p, 1, WAIT_MS);
    if (n != 1)
        fail_msg("nothing from %s within %d ms", what, WAIT_MS);
}

/* The next log line that starts with prefix (lines before it are skipped). */
static const char *expect_log(daemon_proc *d, const char *prefix) {
    for (;;) {
        char *line = d->log + d->seen, *nl;
        while ((nl = memchr(line, '\n', d->len - d->seen))) {
            *nl = '\0';
            d->seen = (size_t)(nl + 1 - d->log);
            if (strncmp(line, prefix, strlen(prefix)) == 0)
                return line;
            line = nl + 1;
        }
        wait_readable(d->out, "the daemon's log");
        assert_true(d->len + 1 < sizeof d->log);
        ssize_t n = read(d->out, d->log + d->len, sizeof d->log - 1 - d->len);
        if (n <= 0)
            fail_msg("the daemon's log ended before \"%s\"", prefix);
        d->len += (size_t)n;
    }
}

/* Read until EOF into buf (NUL-terminated). */
static size_t read_to_eof(int fd, char *buf, size_t cap) {
    size_t len = 0;
    for (;;) {
        wait_readable(fd, "a connection");
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == ECONNRESET)
            n = 0;
        assert_true(n >= 0);
        len += (size_t)n;
        buf[len] = '\0';
        if (n == 0 || len + 1 == cap)
            return len;
    }
}

/* One reply line (the daemon writes each in one piece). */
static void read_line(int fd, char *buf, size_t cap) {
    size_t len = 0;
    while (len == 0 || buf[len - 1] != '\n') {
        wait_readable(fd, "the control socket");
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n <= 0)
            fail_msg("the control socket closed after \"%.*s\"", (int)len, buf);
        len += (size_t)n;
    }
    buf[len - 1] = '\0';
}

static void send_all(int fd, const char *text) {
    size_t len = strlen(text);
    assert_int_equal(send(fd, text, len, MSG_NOSIGNAL), (ssize_t)len);
}

static int dial_tcp(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

static int dial_control(const daemon_proc *d) {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", d->control);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* cmd's one reply line, on an open control connection. */
static void control(int fd, const char *cmd, char *reply, size_t cap) {
    char line[64];
    snprintf(line, sizeof line, "%s\n", cmd);
    send_all(fd, line);
    read_line(fd, reply, cap);
}

/* GET /health on a connection of its own: the whole response. */
static void get_health(const daemon_proc *d, char *resp, size_t cap) {
    int fd = dial_tcp(d->port);
    assert_true(fd >= 0);
    send_all(fd, "GET /health HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    read_to_eof(fd, resp, cap);
    close(fd);
}

static long long json_number(const char *body, const char *key) {
    char field[32];
    snprintf(field, sizeof field, "\"%s\":", key);
    const char *at = strstr(body, field);
    if (!at)
        fail_msg("no %s in %s", key, body);
    return strtoll(at + strlen(field), NULL, 10);
}

/* A 200 naming name, its counter from Redis (above the preset 1000). */
static void assert_healthy(const char *resp, const char *name) {
    char want[96];
    snprintf(want, sizeof want, "\"name\":\"%s\"", name);
    if (strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) != 0 || !strstr(resp, want))
        fail_msg("not a healthy answer naming %s:\n%s", name, resp);
    assert_true(json_number(resp, "ticks") >= 1);
    assert_true(json_number(resp, "redis_counter") > 1000);
}

/* ---- the daemon and its files ------------------------------------------------------ */

/* Replace the config file at once (a reader never sees half of it). */
static void write_config(const daemon_proc *d, const char *text) {
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%s.new", d->config);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, d->config), 0);
}

static void preset_counter(const redis_server *s) {
    redisContext *c = redisConnectUnix(s->sock);
    assert_non_null(c);
    assert_int_equal(c->err, 0);
    redisReply *r = redisCommand(c, "SET %s 1000", KEY);
    assert_non_null(r);
    freeReplyObject(r);
    redisFree(c);
}

static void daemon_start(fixture *fx) {
    daemon_proc *d = &fx->d;
    strcpy(d->dir, "/tmp/evasync-daemon-XXXXXX");
    assert_non_null(mkdtemp(d->dir));
    snprintf(d->config, sizeof d->config, "%s/daemon.conf", d->dir);
    snprintf(d->control, sizeof d->control, "%s/control.sock", d->dir);
    write_config(d, "# the test's\nname=first\n");
    int p[2];
    assert_int_equal(pipe(p), 0);
    d->pid = fork();
    assert_true(d->pid >= 0);
    if (d->pid == 0) {
        dup2(p[1], STDOUT_FILENO);
        close(p[0]);
        execl(daemon_path, daemon_path, "--config", d->config, "--redis", fx->redis.sock, "--redis-key", KEY,
              "--control", d->control, "--http-port", "0", "--tick-ms", "20", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    d->out = p[0];
    const char *ready = expect_log(d, "daemon: ready ");
    assert_int_equal(sscanf(ready, "daemon: ready http=127.0.0.1:%d", &d->port), 1);
}

/* Its log ends with "stopped", then EOF; its exit status. */
static int daemon_wait(daemon_proc *d) {
    expect_log(d, "daemon: stopped ");
    char rest[256];
    read_to_eof(d->out, rest, sizeof rest);
    int status;
    assert_int_equal(waitpid(d->pid, &status, 0), d->pid);
    d->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int setup(void **state) {
    fixture *fx = calloc(1, sizeof *fx);
    fx->loop = test_loop_new();
    redis_server_start(fx->loop, &fx->redis);
    preset_counter(&fx->redis);
    *state = fx;
    return 0;
}

/* Also after a failure: nothing is left running or on disk. */
static int teardown(void **state) {
    fixture *fx = *state;
    daemon_proc *d = &fx->d;
    if (d->pid > 0) {
        kill(d->pid, SIGKILL);
        waitpid(d->pid, NULL, 0);
    }
    if (d->out > 0)
        close(d->out);
    unlink(d->config);
    unlink(d->control);
    rmdir(d->dir);
    redis_server_stop(&fx->redis);
    test_loop_destroy(fx->loop);
    free(fx);
    return 0;
}

/* ---- the tests ------------------------------------------------------------------- */

static void serves_reloads_and_drains(void **state) {
    fixture *fx = *state;
    daemon_proc *d = &fx->d;
    daemon_start(fx);
    char resp[2048], reply[256];

    get_health(d, resp, sizeof resp);
    assert_healthy(resp, "first");
    int ctl = dial_control(d);
    control(ctl, "status", reply, sizeof reply);
    if (strncmp(reply, "ok name=first ticks=", 20) != 0 || !strstr(reply, " redis_counter="))
        fail_msg("status: %s", reply);
    control(ctl, "bogus", reply, sizeof reply);
    assert_string_equal(reply, "error unknown command: bogus");

    /* SIGHUP: the file is read again */
    write_config(d, "name=second\n");
    kill(d->pid, SIGHUP);
    expect_log(d, "daemon: reloaded name=second");
    get_health(d, resp, sizeof resp);
    assert_healthy(resp, "second");

    /* "reload": the same, answered on the socket; a bad file changes nothing */
    write_config(d, "name=third\n");
    control(ctl, "reload", reply, sizeof reply);
    assert_string_equal(reply, "ok reloaded name=third");
    write_config(d, "colour=blue\n");
    control(ctl, "reload", reply, sizeof reply);
    assert_string_equal(reply, "error line 1: unknown key 'colour'");
    control(ctl, "status", reply, sizeof reply);
    assert_true(strncmp(reply, "ok name=third ", 14) == 0);

    /* a request in flight: half its header is there, the daemon has seen it */
    int inflight = dial_tcp(d->port);
    assert_true(inflight >= 0);
    send_all(inflight, "GET /health HTTP/1.1\r\nHost: test\r\n");
    uint64_t deadline = eva_time() + WAIT_MS;
    do {
        control(ctl, "status", reply, sizeof reply);
        assert_true(eva_time() < deadline);
    } while (!strstr(reply, " http_in_flight=1"));

    kill(d->pid, SIGTERM);
    expect_log(d, "daemon: draining");
    assert_int_equal(dial_tcp(d->port), -ECONNREFUSED); /* it accepts no more */
    read_to_eof(ctl, reply, sizeof reply);               /* the idle session is closed */
    assert_string_equal(reply, "");
    close(ctl);
    send_all(inflight, "\r\n"); /* the rest of the request: it is answered, then closed */
    read_to_eof(inflight, resp, sizeof resp);
    close(inflight);
    assert_healthy(resp, "third");
    assert_non_null(strstr(resp, "\r\nConnection: close\r\n"));

    assert_int_equal(daemon_wait(d), 0);
    assert_int_equal(access(d->control, F_OK), -1); /* it removed its socket file */
}

static void quit_drains_and_exits(void **state) {
    fixture *fx = *state;
    daemon_proc *d = &fx->d;
    daemon_start(fx);
    int ctl = dial_control(d);
    char reply[256];
    control(ctl, "quit", reply, sizeof reply);
    assert_string_equal(reply, "ok draining");
    expect_log(d, "daemon: draining");
    read_to_eof(ctl, reply, sizeof reply); /* its session ends after the answer */
    close(ctl);
    assert_int_equal(daemon_wait(d), 0);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH_OF_daemon\n", argv[0]);
        return 2;
    }
    daemon_path = argv[1];
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(serves_reloads_and_drains, setup, teardown),
        cmocka_unit_test_setup_teardown(quit_drains_and_exits, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
