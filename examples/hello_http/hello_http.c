/* examples/hello_http — an HTTP/1.1 keep-alive server answering
 * "Hello, World!", written with AWAIT, parsing with Debian's http-parser.
 *
 * Each connection is one task (http_conn.c) whose frame holds the socket,
 * the parser and its two requests, and no buffer: it reads with
 * eva_stream_read_lent (memory the loop lends only while bytes are being
 * parsed) and writes its answers from one static block, so an idle
 * keep-alive connection costs its frame alone (under 1 KB).
 * Pipelined requests arriving together are answered with one write.  A
 * malformed request gets 400 (after the answers to the requests before it)
 * and the connection is closed.
 *
 * No client can hold a connection for ever: a request's header must be
 * complete within the header timeout of its first byte (a read deadline,
 * which trickling bytes do not postpone; then 408 and close), and a
 * connection that sends nothing for the idle timeout is closed (a read
 * timeout: between keep-alive requests, or a client that went quiet).
 *
 * The blocked-loop detector is on (100 ms): a handler that blocks the loop
 * is reported on stderr while it blocks.  kill -USR1 prints every
 * connection's task and where it is parked; kill -USR2 prints one line of
 * figures per loop (bench/run-conn reads it): live tasks, the loop's busy
 * time per iteration (p99 and max: the longest dispatch so far), lent read
 * chunks, and the connections their peers ended (a reset, a timeout:
 * counted, not logged, so that no client can fill the log).
 *
 * --threads N serves from a loop group (evasync/group.h): N loops, one
 * thread each, each accepting on its own SO_REUSEPORT listener of the one
 * port.  SIGINT/SIGTERM stop the group: every loop cancels its server
 * task (and with it its connections), drains and joins.
 *
 *     hello_http [--no-detector] [--header-timeout MS] [--idle-timeout MS]
 *                [--task-budget OPS] [--threads N] [PORT]
 *         (port: default 8080, 0 picks a free one; timeouts: default 10000
 *         and 30000 ms, 0 turns one off; task budget: operations a task step
 *         completes at once before it yields, default 32, 0 unlimited (see
 *         eva_task_set_budget); threads: default 1; stop with Ctrl-C)
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <evasync.h>

#include "http_conn.h"

static int64_t header_timeout_ms = 10000, idle_timeout_ms = 30000;

/* The connections are children of the server's scope, which supervises
 * them: one connection failing (a peer reset, a timeout) leaves the others
 * and the accepting alone, and the scope is where they are all cancelled at
 * shutdown. */
struct server {
    eva_task task;
    eva_server srv;
    eva_scope conns;
    uint64_t peer_errors;  /* connections ended by the peer or a timeout (SIGUSR2 prints it) */
    eva_server_accept_req accept;
};

/* A connection task failed.  What peers do to connections is counted; anything
 * else is worth a line on stderr. */
static void on_conn_failed(void *arg, eva_scope *scope, eva_task *child) {
    (void)scope;
    struct server *s = arg;
    http_conn_note_failure(&s->peer_errors, "hello_http: connection failed", eva_task_get_status(child),
                           eva_task_get_message(child));
}

static eva_step server_run(void *frame) {
    struct server *s = frame;
    ASYNC_BEGIN(s);
    eva_scope_init_mode(&s->conns, &s->task, EVA_SCOPE_SUPERVISE);
    eva_scope_on_failure(&s->conns, on_conn_failed, s);
    for (;;) {
        AWAIT(s, eva_server_accept_op(&s->accept, &s->srv));
        struct http_conn *c;
        if (http_conn_spawn(&s->conns, s->accept.fd, "http-conn", (uint32_t)header_timeout_ms, /* bounded */
                            (uint32_t)idle_timeout_ms, &c) < 0)                                 /* by main() */
            fprintf(stderr, "hello_http: out of memory: dropping a connection\n");
    }
    ASYNC_FINALLY(s);
    eva_scope_cancel(&s->conns); /* the task finishes once they have */
    ASYNC_END(s);
}

static int usage(void) {
    fprintf(stderr, "usage: hello_http [--no-detector] [--header-timeout MS] [--idle-timeout MS]\n"
                    "                  [--task-budget OPS] [--threads N] [PORT]\n");
    return 2;
}

/* A non-negative decimal number (milliseconds, operations), or -1. */
static int64_t parse_count(const char *text) {
    char *end;
    long long ms = text ? strtoll(text, &end, 10) : -1;
    return text && *text && !*end && ms >= 0 ? ms : -1;
}

/* ---- startup: one loop per thread, each with its own listener ---------- */

/* A report a signal asks each loop for (SIGUSR1: the tasks, SIGUSR2: the
 * figures), posted to it; one in flight per loop, as a posted call cannot
 * be posted again before it has run. */
struct report {
    eva_call call;
    atomic_bool posted;
    const struct server *server; /* the loop's (the figures include its counts) */
};

struct startup {
    bool detector;
    unsigned budget;
    unsigned threads;
    int port;                  /* loop 0's setup resolves port 0 for the others */
    struct server *servers;    /* one per loop */
    struct report *dumps, *figures; /* one of each per loop */
};

static int setup_loop(eva_loop *loop, unsigned index, void *arg) {
    struct startup *st = arg;
    struct server *s = &st->servers[index];
    eva_tcp_listen_options opts = {.reuseport = st->threads > 1};
    int rc = st->detector ? eva_detector_start(loop, NULL) : 0;
    if (rc == 0)
        rc = eva_task_set_budget(loop, st->budget);
    if (rc == 0)
        rc = eva_tcp_listen_ip(loop, &s->srv, "127.0.0.1", (uint16_t)st->port, &opts);
    if (rc < 0) {
        eva_detector_stop(loop);
        return rc;
    }
    st->port = eva_tcp_server_get_port(&s->srv);
    eva_task_init(loop, &s->task, server_run, "http-server");
    eva_task_start(&s->task, NULL);
    return 0;
}

/* Close the listener first: with SO_REUSEPORT the kernel would keep
 * queueing connections to it.  Cancelling the server task cancels its scope
 * of connections; the loop runs until they have all ended. */
static void stop_loop(eva_loop *loop, unsigned index, void *arg) {
    (void)loop;
    struct startup *st = arg;
    eva_server_close(&st->servers[index].srv);
    eva_task_cancel(&st->servers[index].task);
}

static void dump_tasks(eva_loop *loop, int status, void *arg) {
    if (status == 0)
        eva_loop_dump_tasks(loop, stderr);
    atomic_store(&((struct report *)arg)->posted, false);
}

/* One key=value line: what a benchmark holding many connections reads. */
static void print_figures(eva_loop *loop, int status, void *arg) {
    struct report *r = arg;
    eva_loop_metrics m;
    eva_stream_lent_stats lent;
    if (status == 0 && eva_loop_get_metrics(loop, &m) == 0 && eva_stream_get_lent_stats(loop, &lent) == 0)
        fprintf(stderr,
                "hello_http: tasks=%zu lag_ns_p99=%llu lag_ns_max=%llu lent=%zu lent_spare=%zu lent_peak=%zu "
                "peer_ends=%llu\n",
                m.tasks, (unsigned long long)m.lag_ns_p99, (unsigned long long)m.lag_ns_max, lent.lent,
                lent.spare, lent.lent_peak, (unsigned long long)r->server->peer_errors);
    atomic_store(&r->posted, false);
}

static void post_report(eva_loop *loop, struct report *r, eva_call_fn fn) {
    if (!atomic_exchange(&r->posted, true))
        eva_loop_post(loop, &r->call, fn, r);
}

/* The group's threads inherit the mask: the signals wait for sigwait here. */
static int serve(struct startup *st, long port) {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGUSR1);
    sigaddset(&signals, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    eva_group *group;
    eva_group_options opts = {.threads = st->threads, .setup = setup_loop, .stop = stop_loop, .arg = st};
    st->servers = calloc(st->threads, sizeof *st->servers);
    st->dumps = calloc(st->threads, sizeof *st->dumps);
    st->figures = calloc(st->threads, sizeof *st->figures);
    int rc = st->servers && st->dumps && st->figures ? eva_group_new(&opts, &group) : -ENOMEM;
    for (unsigned i = 0; rc == 0 && i < st->threads; i++)
        st->figures[i].server = &st->servers[i];
    if (rc == 0 && (rc = eva_group_start(group)) < 0)
        eva_group_destroy(group);
    if (rc < 0) {
        fprintf(stderr, "hello_http: port %ld: %s\n", port, eva_strerror(rc));
        free(st->servers);
        free(st->dumps);
        free(st->figures);
        return 1;
    }
    printf("hello_http: listening on http://127.0.0.1:%d/\n", st->port);
    fflush(stdout);
    int signum;
    while (sigwait(&signals, &signum) == 0 && (signum == SIGUSR1 || signum == SIGUSR2))
        for (unsigned i = 0; i < st->threads; i++)
            post_report(eva_group_get_loop(group, i), signum == SIGUSR1 ? &st->dumps[i] : &st->figures[i],
                        signum == SIGUSR1 ? dump_tasks : print_figures);
    eva_group_stop(group);
    eva_group_join(group);
    rc = eva_group_destroy(group);
    if (rc < 0)
        fprintf(stderr, "hello_http: shutdown: %s\n", eva_strerror(rc));
    free(st->servers);
    free(st->dumps);
    free(st->figures);
    return rc < 0;
}

int main(int argc, char **argv) {
    bool detector = true;
    long port = 8080;
    int64_t budget = EVA_TASK_BUDGET_DEFAULT, threads = 1;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--no-detector") == 0)
            detector = false;
        else if (strcmp(argv[i], "--header-timeout") == 0 && (header_timeout_ms = parse_count(argv[i + 1])) >= 0 &&
                 header_timeout_ms <= UINT32_MAX)
            i++;
        else if (strcmp(argv[i], "--idle-timeout") == 0 && (idle_timeout_ms = parse_count(argv[i + 1])) >= 0 &&
                 idle_timeout_ms <= UINT32_MAX)
            i++;
        else if (strcmp(argv[i], "--task-budget") == 0 && (budget = parse_count(argv[i + 1])) >= 0 &&
                 budget <= UINT32_MAX)
            i++;
        else if (strcmp(argv[i], "--threads") == 0 && (threads = parse_count(argv[i + 1])) >= 1 &&
                 threads <= 1024)
            i++;
        else
            return usage();
    }
    if (i < argc) {
        char *end;
        port = strtol(argv[i++], &end, 10);
        if (*end || port < 0 || port > 65535)
            return usage();
    }
    if (i < argc)
        return usage();
    struct startup st = {.detector = detector, .budget = (unsigned)budget, .threads = (unsigned)threads,
                         .port = (int)port};
    return serve(&st, port);
}
