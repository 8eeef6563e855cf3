/* Listeners someone else opened (evasync/listen.h): eva_server_adopt of TCP
 * and Unix listening sockets and its refusals, systemd socket activation
 * (LISTEN_PID / LISTEN_FDS / LISTEN_FDNAMES) with good and bad variables,
 * the accept log naming a Unix server by its path, and eva_tcp_set_nodelay.
 *
 * The activation cases run in a forked child each: the protocol puts the
 * descriptors at fd 3 onwards and names the process by pid, so the child
 * moves its sockets there before it makes a loop.  A child reports a failed
 * check as its exit status (the line, printed to stderr), since cmocka's
 * asserts must not unwind into the child's copy of the test runner. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "helpers.h"

/* ---- plain sockets ---------------------------------------------------------- */

/* A blocking TCP listener on 127.0.0.1 (port picked), as a supervisor makes one. */
static int tcp_listener(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 8) < 0)
        return -1;
    return fd;
}

static socklen_t abstract_addr(struct sockaddr_un *sun, const char *tag) {
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    int n = snprintf(sun->sun_path + 1, sizeof sun->sun_path - 1, "evasync-listen-%s-%d", tag, (int)getpid());
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

/* A Unix listener of type (SOCK_STREAM, SOCK_SEQPACKET) on an abstract name. */
static int unix_listener(int type, const char *tag) {
    struct sockaddr_un sun;
    socklen_t len = abstract_addr(&sun, tag);
    int fd = socket(AF_UNIX, type, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sun, len) < 0 || listen(fd, 8) < 0)
        return -1;
    return fd;
}

static int unix_dial(const char *tag) {
    struct sockaddr_un sun;
    socklen_t len = abstract_addr(&sun, tag);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    return fd >= 0 && connect(fd, (struct sockaddr *)&sun, len) == 0 ? fd : -1;
}

static int tcp_dial(int listener) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || getsockname(listener, (struct sockaddr *)&a, &len) < 0 ||
        connect(fd, (struct sockaddr *)&a, len) < 0)
        return -1;
    return fd;
}

static bool fd_open(int fd) { return fcntl(fd, F_GETFD) >= 0; }
static bool fd_cloexec(int fd) { return (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0; }

/* ---- accepting through a server ------------------------------------------------ */

typedef struct accepted {
    int count;
    int fd;
} accepted;

static void on_accepted(eva_server_accept_req *req, int status) {
    accepted *a = req->data;
    if (status == 0) {
        a->count++;
        close(req->fd);
    }
}

static void on_guard(eva_timer *t) { *(bool *)t->data = true; }

/* Run loop until *count reaches want or 5 s pass; whether it did. */
static bool run_until_count(eva_loop *loop, const int *count, int want) {
    bool expired = false;
    eva_timer guard;
    eva_timer_init(loop, &guard);
    eva_timer_start(&guard, 5000, 0, on_guard, &expired);
    while (*count < want && !expired && eva_loop_run(loop, EVA_RUN_ONCE) >= 0)
        ;
    eva_timer_stop(&guard);
    return *count >= want;
}

/* ---- eva_server_adopt ------------------------------------------------------------ */

/* An adopted listener serves connections, is made non-blocking and
 * close-on-exec, and is closed by eva_server_close. */
static void adopt_serves_tcp_and_unix_listeners(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int fds[2] = {tcp_listener(), unix_listener(SOCK_STREAM, "adopt")};
    eva_server srv[2] = {{0}};
    accepted acc = {0};
    eva_server_accept_req req[2] = {{.data = &acc}, {.data = &acc}};
    for (int i = 0; i < 2; i++) {
        assert_true(fds[i] >= 0);
        assert_int_equal(eva_server_adopt(loop, &srv[i], fds[i], 0), 0);
        assert_true(fcntl(fds[i], F_GETFL) & O_NONBLOCK);
        assert_true(fd_cloexec(fds[i]));
        assert_int_equal(eva_server_accept(&req[i], &srv[i], on_accepted), 0);
    }
    assert_int_equal(eva_server_adopt(loop, &srv[0], fds[0], 0), -EBUSY);
    int tcp = tcp_dial(fds[0]), local = unix_dial("adopt");
    assert_true(tcp >= 0 && local >= 0);
    assert_true(run_until_count(loop, &acc.count, 2));
    /* a Unix server has no port: not the bytes of its path read as one */
    assert_true(eva_tcp_server_get_port(&srv[0]) > 0);
    assert_int_equal(eva_tcp_server_get_port(&srv[1]), -EAFNOSUPPORT);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(eva_server_close(&srv[i]), 0);
        assert_false(fd_open(fds[i]));
    }
    close(tcp);
    close(local);
    test_loop_destroy(loop);
}

/* What is not a listening stream socket is refused, logged, and left to the
 * caller: still open afterwards. */
static void adopt_refuses_what_does_not_listen(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    test_log log;
    test_capture_log(loop, &log);
    eva_server srv = {0};
    assert_int_equal(eva_server_adopt(NULL, &srv, 0, 0), -EINVAL);
    assert_int_equal(eva_server_adopt(loop, NULL, 0, 0), -EINVAL);
    assert_int_equal(eva_server_adopt(loop, &srv, -1, 0), -EINVAL);

    int pipefd[2], pair[2];
    assert_int_equal(pipe(pipefd), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    int udp = socket(AF_INET, SOCK_DGRAM, 0);
    int unbound = socket(AF_INET, SOCK_STREAM, 0);
    int seqpacket = unix_listener(SOCK_SEQPACKET, "seqpacket");
    int listener = tcp_listener();
    assert_true(udp >= 0 && unbound >= 0 && seqpacket >= 0 && listener >= 0);
    assert_int_equal(eva_server_adopt(loop, &srv, listener, -1), -EINVAL);

    int closed = dup(pipefd[0]);
    close(closed);
    assert_int_equal(eva_server_adopt(loop, &srv, closed, 0), -EBADF);
    assert_int_equal(eva_server_adopt(loop, &srv, pipefd[0], 0), -ENOTSOCK);
    assert_non_null(strstr(log.last, "is not a socket"));
    const int not_listening[] = {pair[0], udp, unbound};
    for (size_t i = 0; i < sizeof not_listening / sizeof *not_listening; i++) {
        log.count = 0;
        assert_int_equal(eva_server_adopt(loop, &srv, not_listening[i], 0), -EINVAL);
        assert_int_equal(log.count, 1);
        assert_non_null(strstr(log.last, "not listening"));
    }
    assert_int_equal(eva_server_adopt(loop, &srv, seqpacket, 0), -EPROTOTYPE);
    assert_non_null(strstr(log.last, "not a stream socket"));
    const int kept[] = {pipefd[0], pipefd[1], pair[0], pair[1], udp, unbound, seqpacket, listener};
    for (size_t i = 0; i < sizeof kept / sizeof *kept; i++) {
        assert_true(fd_open(kept[i]));
        close(kept[i]);
    }
    test_loop_destroy(loop);
}

/* ---- eva_tcp_set_nodelay ------------------------------------------------------- */

static int nodelay(int fd) {
    int v = -1;
    socklen_t len = sizeof v;
    getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len);
    return v;
}

static void tcp_nodelay_on_tcp_only(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int listener = tcp_listener();
    int fd = tcp_dial(listener);
    eva_stream tcp = {0}, local = {0}, pipe_end = {0};
    assert_int_equal(eva_stream_open(loop, &tcp, fd), 0);
    assert_int_equal(eva_tcp_set_nodelay(&tcp, false), 0);
    assert_int_equal(nodelay(fd), 0);
    assert_int_equal(eva_tcp_set_nodelay(&tcp, true), 0);
    assert_true(nodelay(fd) != 0);

    int pair[2], pipefd[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    assert_int_equal(pipe(pipefd), 0);
    assert_int_equal(eva_stream_open(loop, &local, pair[0]), 0);
    assert_int_equal(eva_stream_open(loop, &pipe_end, pipefd[0]), 0);
    assert_int_equal(eva_tcp_set_nodelay(&local, true), -ENOTSUP);
    assert_int_equal(eva_tcp_set_nodelay(&pipe_end, true), -EOPNOTSUPP);
    assert_int_equal(eva_tcp_set_nodelay(NULL, true), -EINVAL);
    eva_stream_close(&tcp, EVA_STREAM_CLOSE_DISCARD, NULL);
    assert_int_equal(eva_tcp_set_nodelay(&tcp, true), -EBADF);
    eva_stream_close(&local, EVA_STREAM_CLOSE_DISCARD, NULL);
    eva_stream_close(&pipe_end, EVA_STREAM_CLOSE_DISCARD, NULL);
    close(pair[1]);
    close(pipefd[1]);
    close(listener);
    test_loop_destroy(loop);
}

/* ---- children --------------------------------------------------------------------- */

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);      \
            return 1;                                                                    \
        }                                                                                \
    } while (0)

/* Run fn in a child process; it must exit 0. */
static void in_child(int (*fn)(void)) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        exit(fn()); /* exit, not _exit: LeakSanitizer checks the child too */
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* Put fds[0..n-1] at EVA_LISTEN_FDS_START onwards, close-on-exec off, as a
 * supervisor's exec leaves them (first out of the way: one may be at 3). */
static bool place(const int *fds, int n) {
    int high[8];
    for (int i = 0; i < n; i++) {
        high[i] = fcntl(fds[i], F_DUPFD, 100);
        close(fds[i]);
    }
    for (int i = 0; i < n; i++) {
        if (high[i] < 0 || dup2(high[i], EVA_LISTEN_FDS_START + i) != EVA_LISTEN_FDS_START + i)
            return false;
        close(high[i]);
    }
    return true;
}

static void set_env(const char *pid, const char *count, const char *names) {
    char own[32];
    snprintf(own, sizeof own, "%d", (int)getpid());
    setenv("LISTEN_PID", pid ? pid : own, 1);
    if (count)
        setenv("LISTEN_FDS", count, 1);
    else
        unsetenv("LISTEN_FDS");
    if (names)
        setenv("LISTEN_FDNAMES", names, 1);
    else
        unsetenv("LISTEN_FDNAMES");
}

static bool env_unset(void) {
    return !getenv("LISTEN_PID") && !getenv("LISTEN_FDS") && !getenv("LISTEN_FDNAMES");
}

/* Two listeners, named: adopted as servers that accept; close-on-exec set;
 * the variables gone. */
static int child_adopts_named_listeners(void) {
    int fds[2] = {tcp_listener(), unix_listener(SOCK_STREAM, "activated")};
    CHECK(fds[0] >= 0 && fds[1] >= 0 && place(fds, 2));
    set_env(NULL, "2", "web:admin");
    eva_loop *loop;
    CHECK(eva_loop_new(&loop) == 0);
    eva_listen_fd got[4];
    eva_server srv[4] = {{0}};
    CHECK(eva_listen_fds_adopt(loop, srv, got, 4, 0) == 2);
    CHECK(env_unset());
    CHECK(got[0].fd == 3 && strcmp(got[0].name, "web") == 0);
    CHECK(got[1].fd == 4 && strcmp(got[1].name, "admin") == 0);
    CHECK(fd_cloexec(3) && fd_cloexec(4));
    accepted acc = {0};
    eva_server_accept_req req[2] = {{.data = &acc}, {.data = &acc}};
    for (int i = 0; i < 2; i++)
        CHECK(eva_server_accept(&req[i], &srv[i], on_accepted) == 0);
    int tcp = tcp_dial(3), local = unix_dial("activated");
    CHECK(tcp >= 0 && local >= 0);
    CHECK(run_until_count(loop, &acc.count, 2));
    close(tcp);
    close(local);
    CHECK(eva_loop_destroy(loop) == 0); /* closes the servers */
    CHECK(!fd_open(3) && !fd_open(4));
    return 0;
}

/* A TCP listener at fd 3, then a loop whose log goes to *log; NULL on failure. */
static eva_loop *one_listener_loop(test_log *log) {
    int fd = tcp_listener();
    eva_loop *loop = NULL;
    if (fd < 0 || !place(&fd, 1) || eva_loop_new(&loop) < 0)
        return NULL;
    test_capture_log(loop, log);
    return loop;
}

/* Without LISTEN_FDNAMES every name is "unknown"; with KEEP_ENV the
 * variables stay; a wrong pid means none, logged as a warning, and the
 * descriptors are left as they were. */
static int child_names_env_and_pid(void) {
    test_log log;
    eva_loop *loop = one_listener_loop(&log);
    CHECK(loop);
    eva_listen_fd got[1];
    set_env(NULL, "1", NULL);
    CHECK(eva_listen_fds(loop, got, 1, EVA_LISTEN_FDS_KEEP_ENV) == 1);
    CHECK(strcmp(got[0].name, "unknown") == 0);
    CHECK(getenv("LISTEN_PID") && getenv("LISTEN_FDS"));
    CHECK(eva_listen_fds(loop, got, 1, 0) == 1);
    CHECK(env_unset());
    CHECK(eva_listen_fds(loop, got, 1, 0) == 0); /* not activated: none */
    CHECK(log.count == 0);                       /* ... and nothing to say */

    fcntl(3, F_SETFD, 0);
    set_env("1", "1", "web"); /* init's pid: the variables leaked to us from a parent */
    CHECK(eva_listen_fds(loop, got, 1, 0) == 0);
    CHECK(log.count == 1 && log.level == EVA_LOG_WARN);
    CHECK(strstr(log.last, "LISTEN_PID=1 is not this process"));
    CHECK(env_unset());
    CHECK(fd_open(3) && !fd_cloexec(3)); /* another's descriptors are not touched */
    close(3);
    CHECK(eva_loop_destroy(loop) == 0);
    return 0;
}

/* eva_listen_fds with variables set to value, expecting rc and (rc < 0) a
 * log line containing what. */
static int expect_refused(eva_loop *loop, test_log *log, const char *pid, const char *count, const char *names,
                          int rc, const char *what) {
    static eva_listen_fd got[1024]; /* room for what LISTEN_FDS says: not -E2BIG */
    set_env(pid, count, names);
    log->count = 0;
    CHECK(eva_listen_fds(loop, got, 1024, 0) == rc);
    CHECK(log->count == 1 && strstr(log->last, what));
    CHECK(env_unset());
    return 0;
}

/* Variables that make no sense: each refused with a log line saying which;
 * the loop goes on. */
static int child_bad_variables(void) {
    test_log log;
    eva_loop *loop = one_listener_loop(&log);
    CHECK(loop);
    static const char *const counts[] = {"", "x", "1x", " 1", "+1", "-1", "0", "99999999999", "2147483646"};
    for (size_t i = 0; i < sizeof counts / sizeof *counts; i++)
        CHECK(expect_refused(loop, &log, NULL, counts[i], NULL, -EINVAL, "is not a descriptor count") == 0);
    CHECK(expect_refused(loop, &log, "abc", "1", NULL, -EINVAL, "is not a process id") == 0);
    CHECK(expect_refused(loop, &log, "", "1", NULL, -EINVAL, "is not a process id") == 0);
    /* more than are open: fds 3..1002 */
    CHECK(expect_refused(loop, &log, NULL, "1000", NULL, -EBADF, "Bad file descriptor") == 0);
    CHECK(expect_refused(loop, &log, NULL, "1", "a:b", -EINVAL, "2 names for LISTEN_FDS=1") == 0);
    char long_name[EVA_LISTEN_FDNAME_MAX + 2];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    CHECK(expect_refused(loop, &log, NULL, "1", long_name, -EINVAL, "longer than 255") == 0);
    long_name[EVA_LISTEN_FDNAME_MAX] = '\0'; /* exactly the longest */
    eva_listen_fd got[1];
    set_env(NULL, "1", long_name);
    CHECK(eva_listen_fds(loop, got, 1, 0) == 1 && strcmp(got[0].name, long_name) == 0);
    set_env(NULL, "1", ""); /* one empty name */
    CHECK(eva_listen_fds(loop, got, 1, 0) == 1 && got[0].name[0] == '\0');

    /* no room: nothing changes, the environment neither */
    set_env(NULL, "1", "web");
    log.count = 0;
    CHECK(eva_listen_fds(loop, got, 0, 0) == -E2BIG);
    CHECK(log.count == 1 && getenv("LISTEN_FDS"));
    CHECK(eva_listen_fds(loop, NULL, 1, 0) == -EINVAL);
    CHECK(eva_listen_fds(NULL, got, 1, 0) == -EINVAL);
    CHECK(eva_listen_fds(loop, got, 1, 1u << 7) == -EINVAL);
    CHECK(eva_listen_fds(loop, got, 1, 0) == 1 && strcmp(got[0].name, "web") == 0);
    close(3);
    CHECK(eva_loop_destroy(loop) == 0);
    return 0;
}

/* A connection and a listener passed: eva_listen_fds hands both over (it
 * does not judge), eva_listen_fds_adopt refuses the set whole and closes
 * every inherited descriptor, so none leaks. */
static int child_non_listening_fd(void) {
    int pair[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0);
    int fds[2] = {tcp_listener(), pair[0]};
    CHECK(fds[0] >= 0 && place(fds, 2));
    eva_loop *loop;
    CHECK(eva_loop_new(&loop) == 0);
    test_log log;
    test_capture_log(loop, &log);
    eva_listen_fd got[2];
    eva_server srv[2] = {{0}};
    set_env(NULL, "2", "web:conn");
    CHECK(eva_listen_fds(loop, got, 2, EVA_LISTEN_FDS_KEEP_ENV) == 2);
    CHECK(eva_listen_fds_adopt(loop, srv, got, 2, 0) == -EINVAL);
    CHECK(strstr(log.last, "fd 4 is a socket that is not listening"));
    CHECK(!fd_open(3) && !fd_open(4));
    CHECK(env_unset());
    close(pair[1]);
    CHECK(eva_loop_destroy(loop) == 0);
    return 0;
}

static void on_push_accept(eva_server *srv, int fd) {
    (void)srv;
    close(fd);
}

/* Out of descriptors, a Unix server's accept log names its path (it said
 * "tcp server on port <the path's first bytes>").  The child fills its
 * descriptor table, then connects to itself with the last free one. */
static int child_unix_fd_limit_log(void) {
    struct rlimit rl = {.rlim_cur = 64, .rlim_max = 64};
    CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    eva_loop *loop;
    CHECK(eva_loop_new(&loop) == 0);
    test_log log;
    test_capture_log(loop, &log);
    char path[64];
    snprintf(path, sizeof path, "@evasync-listen-emfile-%d", (int)getpid());
    eva_server srv = {0};
    CHECK(eva_unix_listen(loop, &srv, path, 0, 0) == 0);
    CHECK(eva_server_accept_start(&srv, on_push_accept) == 0);
    int filler[64], n = 0;
    while (n < 64 && (filler[n] = dup(0)) >= 0)
        n++;
    CHECK(n > 0 && n < 64);
    close(filler[--n]);
    int client = unix_dial("emfile"); /* the backlog takes it; the table is full */
    CHECK(client >= 0);
    for (int i = 0; i < 100 && log.count == 0; i++)
        eva_loop_run(loop, EVA_RUN_ONCE);
    CHECK(log.count == 1);
    char want[160];
    snprintf(want, sizeof want, "unix server on %s: accept: Too many open files", path);
    if (!strstr(log.last, want))
        fprintf(stderr, "log: %s\n", log.last);
    CHECK(strstr(log.last, want));
    while (n > 0)
        close(filler[--n]);
    close(client);
    CHECK(eva_loop_destroy(loop) == 0);
    return 0;
}

static void unix_server_fd_limit_log_names_its_path(void **state) {
    (void)state;
    in_child(child_unix_fd_limit_log);
}

static void socket_activation_adopts_named_listeners(void **state) {
    (void)state;
    in_child(child_adopts_named_listeners);
}

static void socket_activation_names_env_and_pid(void **state) {
    (void)state;
    in_child(child_names_env_and_pid);
}

static void socket_activation_refuses_bad_variables(void **state) {
    (void)state;
    in_child(child_bad_variables);
}

static void socket_activation_refuses_a_non_listening_fd(void **state) {
    (void)state;
    in_child(child_non_listening_fd);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(adopt_serves_tcp_and_unix_listeners),
        cmocka_unit_test(adopt_refuses_what_does_not_listen),
        cmocka_unit_test(tcp_nodelay_on_tcp_only),
        cmocka_unit_test(unix_server_fd_limit_log_names_its_path),
        cmocka_unit_test(socket_activation_adopts_named_listeners),
        cmocka_unit_test(socket_activation_names_env_and_pid),
        cmocka_unit_test(socket_activation_refuses_bad_variables),
        cmocka_unit_test(socket_activation_refuses_a_non_listening_fd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
