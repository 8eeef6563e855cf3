/* examples/hello_https — hello_http over TLS: the same keep-alive connection
 * task (../hello_http/http_conn.c) on a TLS stream.  TLS is a property of the
 * stream, so the connection code is unchanged: the accepted socket is opened,
 * TLS is started on it, and the task's first read simply waits for the
 * handshake.  A handshake that fails (not TLS, a timeout) fails that read,
 * and the task ends.
 *
 *     hello_https CERT KEY [PORT]     (port: default 8443, 0 picks a free one)
 *
 * The detector is off and the task budget is unlimited, as a benchmark
 * wants; stop with Ctrl-C or SIGTERM. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <evasync.h>

#include "http_conn.h"

struct server {
    eva_task task;
    eva_server srv;
    eva_scope conns;
    eva_tls_context *tls;
    eva_server_accept_req accept;
    uint64_t peer_ends;         /* handshakes and connections their peers ended */
};

/* What peers do (not TLS, a reset, a timeout...) is counted, the rest
 * logged (http_conn_note_failure). */
static void on_conn_failed(void *arg, eva_scope *scope, eva_task *child) {
    (void)scope;
    struct server *s = arg;
    http_conn_note_failure(&s->peer_ends, "hello_https", eva_task_get_status(child), eva_task_get_message(child));
}

/* The handshake's request is allocated, not in the connection's frame: its
 * completion comes exactly once, possibly after the task (and its frame)
 * ended, e.g. when the connection is cancelled at shutdown mid-handshake. */
static void on_handshake(eva_tls_start_req *req, int status) {
    if (status < 0)
        http_conn_note_failure(&((struct server *)req->data)->peer_ends, "hello_https", status, req->message);
    free(req);
}

static int start_tls(struct server *s, struct http_conn *c) {
    eva_tls_start_req *hs = calloc(1, sizeof *hs);
    if (!hs)
        return -ENOMEM;
    hs->data = s; /* the server outlives every handshake: the loop's destroy completes them first */
    int rc = eva_tls_start(hs, &c->tcp, s->tls, &(eva_tls_start_opts){.timeout_ms = 10000}, on_handshake);
    if (rc < 0)
        free(hs);
    return rc;
}

static eva_step server_run(void *frame) {
    struct server *s = frame;
    ASYNC_BEGIN(s);
    eva_scope_init_mode(&s->conns, &s->task, EVA_SCOPE_SUPERVISE);
    eva_scope_on_failure(&s->conns, on_conn_failed, s);
    for (;;) {
        AWAIT(s, eva_server_accept_op(&s->accept, &s->srv));
        struct http_conn *c;
        if (http_conn_spawn(&s->conns, s->accept.fd, "https-conn", 10000, 30000, &c) < 0)
            continue;
        if (start_tls(s, c) < 0) /* the task's first read fails: it ends */
            eva_stream_close(&c->tcp, EVA_STREAM_CLOSE_DISCARD, NULL);
    }
    ASYNC_FINALLY(s);
    eva_scope_cancel(&s->conns);
    ASYNC_END(s);
}

static void on_signal(eva_signal *sig, int signum) {
    (void)signum;
    eva_loop_stop(eva_signal_get_loop(sig));
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: hello_https CERT KEY [PORT]\n");
        return 2;
    }
    long port = argc == 4 ? strtol(argv[3], NULL, 10) : 8443;
    eva_tls_route_allocations(); /* first: before OpenSSL allocates anything */
    struct server s = {0};
    char err[256];
    eva_tls_context_opts o = {.server = true, .cert_file = argv[1], .key_file = argv[2],
                              .alpn = (const char *const[]){"http/1.1", NULL}};
    int rc = eva_tls_context_new(&o, &s.tls, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "hello_https: %s: %s\n", eva_strerror(rc), err);
        return 1;
    }
    eva_loop *loop;
    rc = eva_loop_new(&loop);
    if (rc == 0)
        rc = eva_task_set_budget(loop, 0);
    if (rc == 0)
        rc = eva_tcp_listen_ip(loop, &s.srv, "127.0.0.1", (uint16_t)port, NULL);
    if (rc < 0) {
        fprintf(stderr, "hello_https: port %ld: %s\n", port, eva_strerror(rc));
        return 1;
    }
    eva_task_init(loop, &s.task, server_run, "https-server");
    eva_task_start(&s.task, NULL);
    eva_signal sigint, sigterm;
    eva_signal_init(loop, &sigint);
    eva_signal_init(loop, &sigterm);
    eva_signal_start(&sigint, SIGINT, on_signal, NULL);
    eva_signal_start(&sigterm, SIGTERM, on_signal, NULL);
    printf("hello_https: listening on https://127.0.0.1:%d/\n", eva_tcp_server_get_port(&s.srv));
    fflush(stdout);
    eva_loop_run(loop, EVA_RUN_DEFAULT);
    eva_signal_stop(&sigint);
    eva_signal_stop(&sigterm);
    eva_loop_destroy(loop); /* cancels the tasks, closes the sockets */
    eva_tls_context_free(s.tls);
    fprintf(stderr, "hello_https: %llu handshakes or connections ended by their peers\n",
            (unsigned long long)s.peer_ends);
    return 0;
}
