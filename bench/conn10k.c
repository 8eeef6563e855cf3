/* bench/conn10k.c — 10,000 concurrent TCP connections on one loop.
 *
 * The server (this process) accepts every connection and runs one small
 * AWAIT task per connection that echoes what it reads.  The clients (a
 * forked child with its own loop) open N connections, at most 512 connects
 * in flight (the listen backlog is finite), send 16 bytes on each, read
 * them back, and keep every connection open until all N have echoed; then
 * all close.  Both sides raise RLIMIT_NOFILE to its hard limit.
 *
 * Prints: conns=N established_echoed_ms=V conns_per_s=V errors=E
 *         server_rss_bytes_per_conn=V server_tasks_peak=N
 * Usage: conn10k [N]   (default 10000) */
#include <errno.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <evasync.h>

#include "bench_util.h"

enum { MSG = 16, CONNECTS_IN_FLIGHT = 512 };

static int raise_fd_limit(long need) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -errno;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -errno;
    return (long)rl.rlim_cur >= need ? 0 : -EMFILE;
}

/* ---- the server: one echo task per connection ----------------------------- */

typedef struct echo {
    eva_task task;
    eva_stream tcp;
    eva_stream_read_req rd;
    eva_stream_write_req w;
    char buf[64];
} echo;

static eva_step echo_run(void *frame) {
    echo *e = frame;
    ASYNC_BEGIN(e);
    for (;;) {
        AWAIT(e, eva_stream_read_op(&e->rd, &e->tcp, e->buf, sizeof e->buf));
        if (e->rd.nread == 0)
            break;
        AWAIT(e, eva_stream_write_op(&e->w, &e->tcp, e->buf, (size_t)e->rd.nread));
    }
    ASYNC_FINALLY(e);
    eva_stream_close(&e->tcp, EVA_STREAM_CLOSE_DISCARD, NULL);
    ASYNC_END(e);
}

static long target, served, rss_before, rss_peak;
static size_t tasks_peak;

static void on_accept(eva_server *srv, int fd) {
    eva_loop *loop = srv->data;
    echo *e;
    if (eva_task_spawn(loop, sizeof *e, echo_run, "echo", NULL, (void **)&e) < 0 ||
        eva_stream_open(loop, &e->tcp, fd) < 0) {
        close(fd);
        return;
    }
    if (++served == target) { /* all of them live at once: measure now */
        eva_loop_metrics m;
        eva_loop_get_metrics(loop, &m);
        tasks_peak = m.tasks;
        rss_peak = bench_proc_status_bytes("VmRSS");
    }
}

/* ---- the clients ------------------------------------------------------------- */

typedef struct client {
    eva_task task;
    eva_stream tcp;
    eva_tcp_connect_req cn;
    eva_stream_write_req w;
    eva_stream_read_req rd;
    struct sockaddr_in *addr;
    eva_semaphore *connects;
    eva_event *all_echoed;
    long *left, *errors;
    int rc;
    char out[MSG], in[MSG];
} client;

static eva_step client_run(void *frame) {
    client *c = frame;
    ASYNC_BEGIN(c);
    AWAIT(c, eva_semaphore_acquire_op(c->connects));
    AWAIT_RC(c, c->rc, eva_tcp_connect_op(&c->cn, &c->tcp, (const struct sockaddr *)c->addr,
                                          sizeof *c->addr, 10000));
    eva_semaphore_release(c->connects);
    if (c->rc < 0)
        ASYNC_FAIL(c, c->rc, "connect failed");
    memset(c->out, 'x', MSG);
    AWAIT(c, eva_stream_write_op(&c->w, &c->tcp, c->out, MSG));
    AWAIT(c, eva_stream_read_exact_op(&c->rd, &c->tcp, c->in, MSG));
    if (memcmp(c->in, c->out, MSG) != 0)
        ASYNC_FAIL(c, -EPROTO, "wrong echo");
    if (--*c->left == 0)
        eva_event_set(c->all_echoed);
    AWAIT(c, eva_event_wait_op(c->all_echoed)); /* hold the connection open */
    ASYNC_FINALLY(c);
    eva_stream_close(&c->tcp, EVA_STREAM_CLOSE_DISCARD, NULL);
    ASYNC_END(c);
}

static void on_client_done(eva_task *t) {
    client *c = (client *)t;
    if (eva_task_get_status(t) < 0) {
        ++*c->errors;
        if (--*c->left == 0) /* the last one to finish, failed or not, releases all */
            eva_event_set(c->all_echoed);
    }
}

static int run_clients(long n, uint16_t port) {
    eva_loop *loop;
    if (eva_loop_new(&loop) < 0)
        return 1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    eva_semaphore connects;
    eva_event all_echoed;
    eva_semaphore_init(loop, &connects, CONNECTS_IN_FLIGHT);
    eva_event_init(loop, &all_echoed);
    long left = n, errors = 0;
    uint64_t t0 = eva_hrtime();
    for (long i = 0; i < n; i++) {
        client *c;
        if (eva_task_spawn(loop, sizeof *c, client_run, "client", on_client_done, (void **)&c) < 0)
            return 1;
        c->addr = &addr;
        c->connects = &connects;
        c->all_echoed = &all_echoed;
        c->left = &left;
        c->errors = &errors;
    }
    eva_loop_run(loop, EVA_RUN_DEFAULT);
    double ms = (double)(eva_hrtime() - t0) / 1e6;
    printf("conns=%ld established_echoed_ms=%.1f conns_per_s=%.0f errors=%ld\n", n, ms,
           (double)n / ms * 1e3, errors);
    fflush(stdout); /* the child leaves with _exit */
    eva_event_destroy(&all_echoed);
    eva_semaphore_destroy(&connects);
    eva_loop_destroy(loop);
    return errors ? 1 : 0;
}

static void on_child(eva_signal *sig, int signum) {
    (void)signum;
    eva_loop_stop(sig->data);
}

int main(int argc, char **argv) {
    target = argc > 1 ? atol(argv[1]) : 10000;
    if (target <= 0) {
        fprintf(stderr, "usage: conn10k [N]\n");
        return 2;
    }
    int rc = raise_fd_limit(target + 64);
    if (rc < 0) {
        fprintf(stderr, "conn10k: %ld descriptors needed: %s\n", target + 64, eva_strerror(rc));
        return 1;
    }
    eva_loop *loop;
    eva_server srv = {0};
    eva_tcp_listen_options opts = {.backlog = 4096};
    if (eva_loop_new(&loop) < 0 || eva_tcp_listen_ip(loop, &srv, "127.0.0.1", 0, &opts) < 0) {
        fprintf(stderr, "conn10k: cannot listen\n");
        return 1;
    }
    uint16_t port = (uint16_t)eva_tcp_server_get_port(&srv);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) /* the clients: a fresh loop; the parent's is never touched here */
        _exit(run_clients(target, port));
    rss_before = bench_proc_status_bytes("VmRSS");
    srv.data = loop;
    eva_server_accept_start(&srv, on_accept);
    /* Serve until the client process is done. */
    eva_signal child;
    eva_signal_init(loop, &child);
    eva_signal_start(&child, SIGCHLD, on_child, loop);
    eva_loop_run(loop, EVA_RUN_DEFAULT);
    int status = 0;
    waitpid(pid, &status, 0);
    printf("server_rss_bytes_per_conn=%.0f server_tasks_peak=%zu served=%ld\n",
           rss_peak > 0 ? (double)(rss_peak - rss_before) / (double)target : -1.0, tasks_peak,
           served);
    eva_signal_stop(&child);
    eva_server_close(&srv);
    eva_loop_destroy(loop); /* cancels the echo tasks still open */
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
