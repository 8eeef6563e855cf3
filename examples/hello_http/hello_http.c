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
 * figures (bench/run-conn reads it): live tasks, the loop's busy time per
 * iteration (p99 and max: the longest dispatch so far), lent read chunks.
 *
 *     hello_http [--no-detector] [--header-timeout MS] [--idle-timeout MS]
 *                [--task-budget OPS] [PORT]
 *         (port: default 8080, 0 picks a free one; timeouts: default 10000
 *         and 30000 ms, 0 turns one off; task budget: operations a task step
 *         completes at once before it yields, default 32, 0 unlimited (see
 *         eva_task_set_budget); stop with Ctrl-C)
 */
#include <errno.h>
#include <signal.h>
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
    uint64_t peer_errors;  /* connections ended by the peer or a timeout */
    eva_server_accept_req accept;
};

/* A connection task failed.  What peers do to connections is counted; anything
 * else is worth a line on stderr. */
static void on_conn_failed(void *arg, eva_scope *scope, eva_task *child) {
    (void)scope;
    struct server *s = arg;
    int status = eva_task_get_status(child);
    if (status == -ECONNRESET || status == -EPIPE || status == -ETIMEDOUT)
        s->peer_errors++;
    else
        fprintf(stderr, "hello_http: connection failed: %s\n", eva_task_get_message(child));
}

static eva_step server_run(void *frame) {
    struct server *s = frame;
    ASYNC_BEGIN(s);
    eva_scope_init_mode(&s->conns, &s->task, EVA_SCOPE_SUPERVISE);
    eva_scope_on_failure(&s->conns, on_conn_failed, s);
    for (;;) {
        AWAIT(s, eva_server_accept_op(&s->accept, &s->srv));
        struct http_conn *c;
        /* the loop owns each connection's frame and frees it when the task
         * ends; a task whose socket could not be opened fails at its first
         * read and ends at once */
        if (eva_scope_spawn(&s->conns, sizeof *c, http_conn_run, "http-conn", (void **)&c) < 0 ||
            eva_stream_open(eva_task_get_loop(&s->task), &c->tcp, s->accept.fd) < 0) {
            fprintf(stderr, "hello_http: out of memory: dropping a connection\n");
            close(s->accept.fd);
        } else {
            c->header_timeout_ms = header_timeout_ms;
            c->idle_timeout_ms = idle_timeout_ms;
        }
    }
    ASYNC_FINALLY(s);
    eva_scope_cancel(&s->conns); /* the task finishes once they have */
    ASYNC_END(s);
}

/* One key=value line: what a benchmark holding many connections reads. */
static void print_figures(eva_loop *loop) {
    eva_loop_metrics m;
    eva_stream_lent_stats lent;
    if (eva_loop_get_metrics(loop, &m) < 0 || eva_stream_get_lent_stats(loop, &lent) < 0)
        return;
    fprintf(stderr, "hello_http: tasks=%zu lag_ns_p99=%llu lag_ns_max=%llu lent=%zu lent_spare=%zu lent_peak=%zu\n",
            m.tasks, (unsigned long long)m.lag_ns_p99, (unsigned long long)m.lag_ns_max, lent.lent, lent.spare,
            lent.lent_peak);
}

static void on_signal(eva_signal *sig, int signum) {
    if (signum == SIGUSR2)
        print_figures(eva_signal_get_loop(sig));
    else if (signum == SIGUSR1)
        eva_loop_dump_tasks(eva_signal_get_loop(sig), stderr);
    else
        eva_loop_stop(eva_signal_get_loop(sig));
}

static int usage(void) {
    fprintf(stderr, "usage: hello_http [--no-detector] [--header-timeout MS] [--idle-timeout MS]\n"
                    "                  [--task-budget OPS] [PORT]\n");
    return 2;
}

/* A non-negative decimal number (milliseconds, operations), or -1. */
static int64_t parse_count(const char *text) {
    char *end;
    long long ms = text ? strtoll(text, &end, 10) : -1;
    return text && *text && !*end && ms >= 0 ? ms : -1;
}

int main(int argc, char **argv) {
    bool detector = true;
    long port = 8080;
    int64_t budget = EVA_TASK_BUDGET_DEFAULT;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--no-detector") == 0)
            detector = false;
        else if (strcmp(argv[i], "--header-timeout") == 0 && (header_timeout_ms = parse_count(argv[i + 1])) >= 0)
            i++;
        else if (strcmp(argv[i], "--idle-timeout") == 0 && (idle_timeout_ms = parse_count(argv[i + 1])) >= 0)
            i++;
        else if (strcmp(argv[i], "--task-budget") == 0 && (budget = parse_count(argv[i + 1])) >= 0 &&
                 budget <= UINT32_MAX)
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
    eva_loop *loop;
    struct server s = {0};
    eva_signal sigint, sigterm, sigusr1, sigusr2;
    int rc = eva_loop_new(&loop);
    if (rc == 0 && detector)
        rc = eva_detector_start(loop, NULL);
    if (rc == 0)
        rc = eva_task_set_budget(loop, (unsigned)budget);
    if (rc == 0)
        rc = eva_tcp_listen_ip(loop, &s.srv, "127.0.0.1", (uint16_t)port, NULL);
    if (rc < 0) {
        fprintf(stderr, "hello_http: port %ld: %s\n", port, eva_strerror(rc));
        return 1;
    }
    eva_task_init(loop, &s.task, server_run, "http-server");
    eva_task_start(&s.task, NULL);
    eva_signal_init(loop, &sigint);
    eva_signal_init(loop, &sigterm);
    eva_signal_start(&sigint, SIGINT, on_signal, NULL);
    eva_signal_start(&sigterm, SIGTERM, on_signal, NULL);
    eva_signal_init(loop, &sigusr1);
    eva_signal_start(&sigusr1, SIGUSR1, on_signal, NULL);
    eva_signal_init(loop, &sigusr2);
    eva_signal_start(&sigusr2, SIGUSR2, on_signal, NULL);
    printf("hello_http: listening on http://127.0.0.1:%d/\n", eva_tcp_server_get_port(&s.srv));
    fflush(stdout);
    eva_loop_run(loop, EVA_RUN_DEFAULT);
    eva_signal_stop(&sigint);
    eva_signal_stop(&sigterm);
    eva_signal_stop(&sigusr1);
    eva_signal_stop(&sigusr2);
    eva_loop_destroy(loop); /* cancels the tasks, closes the sockets */
    return 0;
}
