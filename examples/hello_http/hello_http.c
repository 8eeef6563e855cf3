/* examples/hello_http — an HTTP/1.1 keep-alive server answering
 * "Hello, World!", written with AWAIT, parsing with Debian's http-parser.
 *
 * Each connection is one task whose frame holds everything: the socket, the
 * parser, the input buffer and the batch of responses.  Pipelined requests
 * arriving together are answered with one write.  A malformed request gets
 * 400 and the connection is closed.
 *
 * The blocked-loop detector is on (100 ms): a handler that blocks the loop
 * is reported on stderr while it blocks.  kill -USR1 prints every
 * connection's task and where it is parked.
 *
 *     hello_http [--no-detector] [PORT]
 *         (default 8080; 0 picks a free port; stop with Ctrl-C)
 */
#include <http_parser.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <evasync.h>

static const char HELLO[] = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n"
                            "Content-Type: text/plain\r\n\r\nHello, World!";
static const char BAD[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                          "Connection: close\r\n\r\n";
#define HELLO_LEN (sizeof HELLO - 1)
#define OUT_CAP (64 * HELLO_LEN)

struct conn {
    eva_task task;              /* first member: the frame is the task */
    eva_tcp tcp;
    eva_tcp_write_req write;
    http_parser parser;
    char in[16384];
    ssize_t n;                  /* bytes in `in` */
    size_t pos;                 /* parsed so far */
    char out[OUT_CAP];
    size_t out_len;
    int close_after;            /* "Connection: close" or HTTP/1.0 */
};

static int on_message_complete(http_parser *p) {
    struct conn *c = p->data;
    memcpy(c->out + c->out_len, HELLO, HELLO_LEN);
    c->out_len += HELLO_LEN;
    if (!http_should_keep_alive(p))
        c->close_after = 1;
    if (c->out_len + HELLO_LEN > OUT_CAP)
        http_parser_pause(p, 1); /* out is full: write it, then go on */
    return 0;
}

static const http_parser_settings settings = {.on_message_complete = on_message_complete};

static eva_step conn_run(void *frame) {
    struct conn *c = frame;
    ASYNC_BEGIN(c);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    while (!c->close_after) {
        AWAIT(c, eva_tcp_read_op(&c->tcp, c->in, sizeof c->in, &c->n));
        if (c->n == 0)
            break; /* the client closed */
        for (c->pos = 0; c->pos < (size_t)c->n;) {
            c->pos += http_parser_execute(&c->parser, &settings, c->in + c->pos, (size_t)c->n - c->pos);
            enum http_errno err = HTTP_PARSER_ERRNO(&c->parser);
            if (err == HPE_PAUSED) {
                http_parser_pause(&c->parser, 0);
            } else if (err != HPE_OK) {
                AWAIT(c, eva_tcp_write_op(&c->tcp, &c->write, BAD, sizeof BAD - 1));
                ASYNC_RETURN(c, 0);
            }
            if (c->out_len + HELLO_LEN > OUT_CAP || (c->pos == (size_t)c->n && c->out_len)) {
                AWAIT(c, eva_tcp_write_op(&c->tcp, &c->write, c->out, c->out_len));
                c->out_len = 0;
            }
        }
    }
    ASYNC_FINALLY(c);
    eva_tcp_close(&c->tcp, EVA_TCP_CLOSE_FLUSH, NULL); /* the last response still goes out */
    ASYNC_END(c);
}

struct server {
    eva_task task;
    eva_tcp_server srv;
    int fd;
};

static eva_step server_run(void *frame) {
    struct server *s = frame;
    ASYNC_BEGIN(s);
    for (;;) {
        AWAIT(s, eva_tcp_accept_op(&s->srv, &s->fd));
        struct conn *c;
        /* the loop owns each connection's frame and frees it when the task
         * ends; a task whose socket could not be opened fails at its first
         * read and ends at once */
        if (eva_task_spawn(eva_task_loop(&s->task), sizeof *c, conn_run, "http-conn", NULL, (void **)&c) < 0 ||
            eva_tcp_open(eva_task_loop(&s->task), &c->tcp, s->fd) < 0) {
            fprintf(stderr, "hello_http: out of memory: dropping a connection\n");
            close(s->fd);
        }
    }
    ASYNC_END(s);
}

static void on_signal(eva_signal *sig, int signum) {
    if (signum == SIGUSR1)
        eva_loop_dump_tasks(sig->loop, stderr);
    else
        eva_loop_stop(sig->loop);
}

int main(int argc, char **argv) {
    bool detector = argc < 2 || strcmp(argv[1], "--no-detector") != 0;
    if (!detector)
        argv++, argc--;
    char *end = NULL;
    long port = argc > 1 ? strtol(argv[1], &end, 10) : 8080;
    if (argc > 2 || (end && *end) || port < 0 || port > 65535) {
        fprintf(stderr, "usage: hello_http [--no-detector] [PORT]\n");
        return 2;
    }
    eva_loop *loop;
    struct server s = {0};
    eva_signal sigint, sigterm, sigusr1;
    int rc = eva_loop_new(&loop);
    if (rc == 0 && detector)
        rc = eva_detector_start(loop, NULL);
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
    printf("hello_http: listening on http://127.0.0.1:%d/\n", eva_tcp_server_port(&s.srv));
    fflush(stdout);
    eva_loop_run(loop, EVA_RUN_DEFAULT);
    eva_signal_stop(&sigint);
    eva_signal_stop(&sigterm);
    eva_signal_stop(&sigusr1);
    eva_loop_destroy(loop); /* cancels the tasks, closes the sockets */
    return 0;
}
