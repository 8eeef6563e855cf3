/* bench/accept_burst.c — N clients connecting at once: how long the server's
 * loop is held by accepting them.
 *
 * The server (this process) listens with a given accept_batch and accepts
 * either in push mode (eva_server_accept_start) or in pull mode (a task looping
 * on AWAIT eva_server_accept_op, as examples/hello_http does); every connection
 * gets its own AWAIT task that echoes one byte.  The clients (a forked child,
 * plain non-blocking sockets and epoll) start all N connects in one go, send
 * one byte on each once connected, and wait for its echo.
 *
 * The longest dispatch comes from evasync's blocked-loop detector (threshold
 * 1 ms: 0 means no dispatch reached 1 ms); the longest iteration is the loop
 * metrics' lag_ns_max, the busy time between two polls, which bounds how long
 * any other event waited.
 *
 * Prints: mode=push|pull accept_batch=B conns=N echoed=E total_ms=V
 *         [last_failure=ERRNO_NAME: why the last failed connection failed]
 *         longest_dispatch_ms=V longest_iteration_ms=V iteration_p99_ms=V
 *         server_user_ms=V server_sys_ms=V
 * Usage: accept_burst [N [BATCH [push|pull]]]   (10000 64 pull; BATCH 0:
 *        unbounded) */
#define _GNU_SOURCE /* sched_setaffinity */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <evasync.h>

static int raise_fd_limit(long need) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -errno;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -errno;
    return (long)rl.rlim_cur >= need ? 0 : -EMFILE;
}

/* Server and clients on cores of their own (as bench/run-http does), when
 * there are two: the figures are then the server's, not the scheduler's. */
static void pin_to_cpu(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sysconf(_SC_NPROCESSORS_ONLN) > cpu)
        sched_setaffinity(0, sizeof set, &set);
}

/* ---- the server ------------------------------------------------------------ */

typedef struct echo {
    eva_task task;
    eva_stream tcp;
    eva_stream_read_req rd;
    eva_stream_write_req w;
    char byte;
} echo;

static eva_step echo_run(void *frame) {
    echo *e = frame;
    ASYNC_BEGIN(e);
    for (;;) {
        AWAIT(e, eva_stream_read_op(&e->rd, &e->tcp, &e->byte, 1));
        if (e->rd.nread == 0)
            break;
        AWAIT(e, eva_stream_write_op(&e->w, &e->tcp, &e->byte, 1));
    }
    ASYNC_FINALLY(e);
    eva_stream_close(&e->tcp, EVA_STREAM_CLOSE_DISCARD, NULL);
    ASYNC_END(e);
}

static void serve(eva_loop *loop, int fd) {
    echo *e;
    if (eva_task_spawn(loop, sizeof *e, echo_run, "echo", NULL, (void **)&e) < 0 ||
        eva_stream_open(loop, &e->tcp, fd) < 0)
        close(fd);
}

static void on_accept(eva_server *srv, int fd) { serve(srv->loop, fd); }

typedef struct acceptor {
    eva_task task;
    eva_server *srv;
    eva_server_accept_req accept;
} acceptor;

static eva_step acceptor_run(void *frame) {
    acceptor *a = frame;
    ASYNC_BEGIN(a);
    for (;;) {
        AWAIT(a, eva_server_accept_op(&a->accept, a->srv));
        serve(eva_task_get_loop(&a->task), a->accept.fd);
    }
    ASYNC_END(a);
}

static uint64_t longest_dispatch_ms; /* written on the loop thread only */

static void on_block(void *arg, const eva_block_report *r) {
    (void)arg;
    if (r->kind == EVA_BLOCK_DISPATCH && r->duration_ms > longest_dispatch_ms)
        longest_dispatch_ms = r->duration_ms;
}

static void quiet_log(void *ud, eva_loop *loop, eva_log_level level, const char *msg) {
    (void)ud, (void)loop, (void)level, (void)msg; /* the detector's reports: counted, not printed */
}

static void on_child(eva_signal *sig, int signum) {
    (void)signum;
    eva_loop_stop(eva_signal_get_loop(sig));
}

/* ---- the clients --------------------------------------------------------------- */

/* All n connects at once, one byte each, its echo; prints the totals.  The
 * exit status is 0 when every connection echoed. */
static int run_clients(long n, uint16_t port) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int *fds = calloc((size_t)n, sizeof *fds);
    if (ep < 0 || !fds)
        return 1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    uint64_t t0 = eva_hrtime();
    long pending = 0, echoed = 0, failed = 0;
    int last_error = 0; /* why the last failed connection failed (an errno) */
    for (long i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0 || (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS)) {
            last_error = errno;
            failed++;
            if (fd >= 0)
                close(fd);
            continue;
        }
        struct epoll_event ev = {.events = EPOLLOUT, .data.fd = fd};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        fds[pending++] = fd;
    }
    struct epoll_event evs[256];
    while (echoed + failed < n) {
        int k = epoll_wait(ep, evs, 256, 30000);
        if (k <= 0)
            break; /* 30 s without progress: give up, report what we have */
        for (int i = 0; i < k; i++) {
            int fd = evs[i].data.fd;
            char b = 'x';
            if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
                last_error = err ? err : EPIPE; /* a hang-up without an error: the peer closed */
                failed++;
                epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
            } else if (evs[i].events & EPOLLOUT) {
                struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
                if (send(fd, &b, 1, MSG_NOSIGNAL) == 1)
                    epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
            } else if (recv(fd, &b, 1, 0) == 1) {
                echoed++;
                epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
            }
        }
    }
    double ms = (double)(eva_hrtime() - t0) / 1e6;
    printf("conns=%ld echoed=%ld failed=%ld total_ms=%.1f ", n, echoed, failed, ms);
    if (failed) { /* the errno's name: the report reads key=value words */
        const char *name = strerrorname_np(last_error);
        printf("last_failure=%s ", name ? name : "unknown");
    }
    fflush(stdout); /* the child leaves with _exit */
    for (long i = 0; i < pending; i++)
        close(fds[i]);
    free(fds);
    close(ep);
    return echoed == n ? 0 : 1;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 10000;
    int batch = argc > 2 ? atoi(argv[2]) : 64;
    bool pull = argc <= 3 || strcmp(argv[3], "push") != 0;
    if (n <= 0 || batch < 0 || (argc > 3 && strcmp(argv[3], "push") && strcmp(argv[3], "pull"))) {
        fprintf(stderr, "usage: accept_burst [N [BATCH [push|pull]]]\n");
        return 2;
    }
    int rc = raise_fd_limit(n + 64);
    if (rc < 0) {
        fprintf(stderr, "accept_burst: %ld descriptors needed: %s\n", n + 64, eva_strerror(rc));
        return 1;
    }
    eva_loop *loop;
    eva_server srv = {0};
    eva_tcp_listen_options opts = {.backlog = 65535, .accept_batch = batch ? batch : INT_MAX};
    eva_detector_options det = {.threshold_ms = 1, .interval_ms = 1, .on_block = on_block};
    if (eva_loop_new(&loop) < 0 || eva_tcp_listen_ip(loop, &srv, "127.0.0.1", 0, &opts) < 0) {
        fprintf(stderr, "accept_burst: cannot listen\n");
        return 1;
    }
    eva_loop_set_log(loop, quiet_log, NULL);
    acceptor a = {.srv = &srv};
    if (pull) {
        eva_task_init(loop, &a.task, acceptor_run, "acceptor");
        eva_task_start(&a.task, NULL);
    } else {
        eva_server_accept_start(&srv, on_accept);
    }
    eva_signal child;
    eva_signal_init(loop, &child);
    eva_signal_start(&child, SIGCHLD, on_child, NULL);
    if (eva_detector_start(loop, &det) < 0)
        return 1;
    char batch_text[16] = "unbounded";
    if (batch)
        snprintf(batch_text, sizeof batch_text, "%d", batch);
    printf("mode=%s accept_batch=%s ", pull ? "pull" : "push", batch_text);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) { /* the clients: no evasync in the child, the parent's loop is never touched */
        pin_to_cpu(1);
        _exit(run_clients(n, (uint16_t)eva_tcp_server_get_port(&srv)));
    }
    pin_to_cpu(0);
    eva_loop_run(loop, EVA_RUN_DEFAULT); /* until the clients are done */
    int status = 0;
    waitpid(pid, &status, 0);
    eva_loop_metrics m;
    eva_loop_get_metrics(loop, &m);
    /* the server's own CPU, split: during a burst most of it is the kernel
     * finishing handshakes inside the accept calls, not evasync */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("longest_dispatch_ms=%llu longest_iteration_ms=%.2f iteration_p99_ms=%.2f "
           "server_user_ms=%.0f server_sys_ms=%.0f\n",
           (unsigned long long)longest_dispatch_ms, (double)m.lag_ns_max / 1e6,
           (double)m.lag_ns_p99 / 1e6, ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3,
           ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3);
    eva_detector_stop(loop);
    eva_signal_stop(&child);
    eva_server_close(&srv); /* the acceptor gets -ECANCELED */
    eva_loop_destroy(loop);     /* cancels the echo tasks still open */
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
