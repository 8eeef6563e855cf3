/* examples/unix_echo — an echo server on a Unix socket, and its client
 * (docs/listen.md, docs/unix.md).
 *
 *   unix_echo PATH                      listen on PATH ("@name": abstract)
 *   unix_echo --listen-fds              serve the sockets systemd passed
 *                                       (socket activation: LISTEN_FDS)
 *   unix_echo --client PATH MESSAGE...  send each message, print its echo
 *
 * The server runs until SIGINT/SIGTERM, then prints what it served and exits
 * 0.  Each connection is a task: read some, write it back, until EOF.
 * Tried under systemd's tool, which opens the socket and starts the server
 * on the first connection:
 *
 *   systemd-socket-activate -l /tmp/echo.sock --fdname=echo unix_echo --listen-fds &
 *   unix_echo --client /tmp/echo.sock hello */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evasync.h"

enum { MAX_LISTENERS = 8 };

static struct {
    long connections, bytes;
} served;

/* ---- the server ------------------------------------------------------------------- */

typedef struct echo_conn {
    eva_task task; /* first: the frame */
    eva_stream stream;
    eva_stream_read_req rd;
    eva_stream_write_req wr;
    char buf[4096];
} echo_conn;

static eva_step echo_run(void *frame) {
    echo_conn *c = frame;
    ASYNC_BEGIN(c);
    for (;;) {
        AWAIT(c, eva_stream_read_op(&c->rd, &c->stream, c->buf, sizeof c->buf));
        if (c->rd.nread == 0)
            break; /* the client is done */
        served.bytes += c->rd.nread;
        AWAIT(c, eva_stream_write_op(&c->wr, &c->stream, c->buf, (size_t)c->rd.nread));
    }
    ASYNC_FINALLY(c);
    eva_stream_close(&c->stream, EVA_STREAM_CLOSE_FLUSH, NULL);
    ASYNC_END(c);
}

/* Push mode: each connection gets a task whose frame the loop owns. */
static void on_accept(eva_server *srv, int fd) {
    echo_conn *c;
    if (eva_task_spawn(srv->loop, sizeof *c, echo_run, "echo-conn", NULL, (void **)&c) < 0) {
        close(fd);
        return;
    }
    if (eva_stream_open(srv->loop, &c->stream, fd) < 0) {
        close(fd);
        eva_task_cancel(&c->task);
        return;
    }
    served.connections++;
}

/* The listeners: one bound to PATH, or those systemd passed. */
static int listen_on(eva_loop *loop, eva_server *servers, const char *where) {
    if (strcmp(where, "--listen-fds") != 0) {
        int rc = eva_unix_listen(loop, &servers[0], where, 0, EVA_UNIX_UNLINK_STALE);
        if (rc < 0) {
            fprintf(stderr, "unix_echo: listen on %s: %s\n", where, eva_strerror(rc));
            return rc;
        }
        printf("unix_echo: listening on %s\n", where);
        return 1;
    }
    static eva_listen_fd fds[MAX_LISTENERS];
    int n = eva_listen_fds_adopt(loop, servers, fds, MAX_LISTENERS, 0);
    if (n <= 0) {
        fprintf(stderr, "unix_echo: --listen-fds: %s\n",
                n == 0 ? "no sockets passed (LISTEN_PID/LISTEN_FDS: run under systemd socket activation)"
                       : eva_strerror(n));
        return n < 0 ? n : -EINVAL;
    }
    for (int i = 0; i < n; i++)
        printf("unix_echo: listening on fd %d named \"%s\" (socket activation)\n", fds[i].fd, fds[i].name);
    return n;
}

static void on_stop_signal(eva_signal *sig, int signum) {
    (void)signum;
    eva_loop_stop(eva_signal_get_loop(sig));
}

static int serve(const char *where) {
    eva_loop *loop = NULL;
    if (eva_loop_new(&loop) < 0)
        return 2;
    static eva_server servers[MAX_LISTENERS];
    int n = listen_on(loop, servers, where);
    for (int i = 0; i < n; i++)
        eva_server_accept_start(&servers[i], on_accept);
    fflush(stdout);
    eva_signal sigint, sigterm;
    eva_signal_init(loop, &sigint);
    eva_signal_init(loop, &sigterm);
    eva_signal_start(&sigint, SIGINT, on_stop_signal, NULL);
    eva_signal_start(&sigterm, SIGTERM, on_stop_signal, NULL);
    if (n > 0)
        eva_loop_run(loop, EVA_RUN_DEFAULT);
    eva_signal_stop(&sigint);
    eva_signal_stop(&sigterm);
    eva_loop_destroy(loop); /* closes the servers and the connections still open */
    if (n <= 0)
        return 2;
    printf("unix_echo: served %ld connections, %ld bytes\n", served.connections, served.bytes);
    return 0;
}

/* ---- the client ------------------------------------------------------------------- */

typedef struct echo_client {
    eva_task task; /* first: the frame */
    eva_stream stream;
    eva_unix_connect_req connect;
    eva_stream_write_req wr;
    eva_stream_read_req rd;
    const char *path;
    char **messages;
    int count, i;
    size_t len;                    /* the message's: lives across its AWAITs */
    char buf[4096];
} echo_client;

static eva_step client_run(void *frame) {
    echo_client *c = frame;
    ASYNC_BEGIN(c);
    AWAIT(c, eva_unix_connect_op(&c->connect, &c->stream, c->path, 5000));
    eva_stream_set_read_timeout(&c->stream, 5000);
    for (c->i = 0; c->i < c->count; c->i++) {
        c->len = strlen(c->messages[c->i]);
        if (c->len == 0 || c->len > sizeof c->buf)
            ASYNC_FAIL(c, -EINVAL, "a message must be 1..4096 bytes");
        AWAIT(c, eva_stream_write_op(&c->wr, &c->stream, c->messages[c->i], c->len));
        AWAIT(c, eva_stream_read_exact_op(&c->rd, &c->stream, c->buf, c->len));
        printf("unix_echo: echoed: %.*s\n", (int)c->len, c->buf);
    }
    ASYNC_FINALLY(c);
    eva_stream_close(&c->stream, EVA_STREAM_CLOSE_FLUSH, NULL);
    ASYNC_END(c);
}

static int client(const char *path, char **messages, int count) {
    eva_loop *loop = NULL;
    if (eva_loop_new(&loop) < 0)
        return 2;
    static echo_client c;
    c.path = path;
    c.messages = messages;
    c.count = count;
    eva_task_init(loop, &c.task, client_run, "echo-client");
    eva_task_start(&c.task, NULL);
    eva_loop_run(loop, EVA_RUN_DEFAULT);
    int status = eva_task_get_status(&c.task);
    if (status < 0)
        fprintf(stderr, "unix_echo: %s: %s\n", path, eva_task_get_message(&c.task));
    eva_loop_destroy(loop);
    return status < 0 ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "--client") == 0)
        return client(argv[2], argv + 3, argc - 3);
    if (argc == 2 && argv[1][0] && strcmp(argv[1], "--client") != 0)
        return serve(argv[1]);
    fprintf(stderr, "usage: %s PATH | --listen-fds | --client PATH MESSAGE...\n", argv[0]);
    return 2;
}
