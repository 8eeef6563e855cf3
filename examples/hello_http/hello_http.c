/* examples/hello_http — an HTTP/1.1 keep-alive server answering
 * "Hello, World!", written with AWAIT, parsing with Debian's http-parser.
 *
 * Each connection is one task whose frame holds everything: the socket, the
 * parser, the input buffer and the batch of responses.  Pipelined requests
 * arriving together are answered with one write.  A malformed request gets
 * 400 (after the answers to the requests before it) and the connection is
 * closed.
 *
 * No client can hold a connection for ever: a request's header must be
 * complete within the header timeout of its first byte (a read deadline,
 * which trickling bytes do not postpone; then 408 and close), and a
 * connection that sends nothing for the idle timeout is closed (a read
 * timeout: between keep-alive requests, or a client that went quiet).
 *
 * The blocked-loop detector is on (100 ms): a handler that blocks the loop
 * is reported on stderr while it blocks.  kill -USR1 prints every
 * connection's task and where it is parked.
 *
 *     hello_http [--no-detector] [--header-timeout MS] [--idle-timeout MS]
 *                [--task-budget OPS] [PORT]
 *         (port: default 8080, 0 picks a free one; timeouts: default 10000
 *         and 30000 ms, 0 turns one off; task budget: operations a task step
 *         completes at once before it yields, default 128, 0 unlimited (see
 *         eva_task_set_budget); stop with Ctrl-C)
 */
#include <errno.h>
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
static const char TIMEOUT[] = "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n"
                              "Connection: close\r\n\r\n";
#define HELLO_LEN (sizeof HELLO - 1)
#define OUT_CAP (64 * HELLO_LEN)
/* out always has room for one more HELLO, so for a final 400 or 408 too */
_Static_assert(sizeof BAD - 1 <= HELLO_LEN && sizeof TIMEOUT - 1 <= HELLO_LEN, "out too small");

static int64_t header_timeout_ms = 10000, idle_timeout_ms = 30000;

struct conn {
    eva_task task;              /* first member: the frame is the task */
    eva_tcp tcp;
    eva_tcp_read_req read;      /* its nread: the bytes in `in` */
    eva_tcp_write_req write;
    http_parser parser;
    char in[16384];
    size_t pos;                 /* parsed so far */
    char out[OUT_CAP];
    size_t out_len;
    int close_after;            /* "Connection: close", HTTP/1.0, or an error */
    bool in_header;             /* a request has begun, its header is not complete */
    int rc;
};

/* Queue a response behind the ones batched in out. */
static void queue_reply(struct conn *c, const char *text, size_t len) {
    memcpy(c->out + c->out_len, text, len);
    c->out_len += len;
}

static int on_message_begin(http_parser *p) {
    struct conn *c = p->data;
    c->in_header = true;
    if (header_timeout_ms)
        eva_tcp_set_read_deadline(&c->tcp, header_timeout_ms);
    return 0;
}

static int on_headers_complete(http_parser *p) {
    struct conn *c = p->data;
    c->in_header = false;
    if (header_timeout_ms)
        eva_tcp_set_read_deadline(&c->tcp, 0);
    return 0;
}

static int on_message_complete(http_parser *p) {
    struct conn *c = p->data;
    queue_reply(c, HELLO, HELLO_LEN);
    if (!http_should_keep_alive(p))
        c->close_after = 1;
    if (c->out_len + HELLO_LEN > OUT_CAP)
        http_parser_pause(p, 1); /* out is full: write it, then go on */
    return 0;
}

static const http_parser_settings settings = {.on_message_begin = on_message_begin,
                                              .on_headers_complete = on_headers_complete,
                                              .on_message_complete = on_message_complete};

static eva_step conn_run(void *frame) {
    struct conn *c = frame;
    ASYNC_BEGIN(c);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    eva_tcp_set_read_timeout(&c->tcp, idle_timeout_ms);
    while (!c->close_after) {
        AWAIT_RC(c, c->rc, eva_tcp_read_op(&c->read, &c->tcp, c->in, sizeof c->in));
        if (c->rc == -ETIMEDOUT && c->in_header)
            queue_reply(c, TIMEOUT, sizeof TIMEOUT - 1);
        if (c->rc < 0 || c->read.nread == 0)
            break; /* timed out, reset, or the client closed */
        for (c->pos = 0; c->pos < (size_t)c->read.nread;) {
            c->pos += http_parser_execute(&c->parser, &settings, c->in + c->pos, (size_t)c->read.nread - c->pos);
            enum http_errno err = HTTP_PARSER_ERRNO(&c->parser);
            if (err == HPE_PAUSED) {
                http_parser_pause(&c->parser, 0);
            } else if (err != HPE_OK) {
                queue_reply(c, BAD, sizeof BAD - 1); /* after the answers batched before it */
                c->close_after = 1;
                break;
            }
            if (c->out_len + HELLO_LEN > OUT_CAP || (c->pos == (size_t)c->read.nread && c->out_len)) {
                AWAIT(c, eva_tcp_write_op(&c->write, &c->tcp, c->out, c->out_len));
                c->out_len = 0;
            }
        }
    }
    if (c->out_len) /* a 400 or 408, and what was batched before it */
        AWAIT(c, eva_tcp_write_op(&c->write, &c->tcp, c->out, c->out_len));
    ASYNC_FINALLY(c);
    eva_tcp_close(&c->tcp, EVA_TCP_CLOSE_FLUSH, NULL); /* the last response still goes out */
    ASYNC_END(c);
}

/* The connections are children of the server's scope, which supervises
 * them: one connection failing (a peer reset, a timeout) leaves the others
 * and the accepting alone, and the scope is where they are all cancelled at
 * shutdown. */
struct server {
    eva_task task;
    eva_tcp_server srv;
    eva_scope conns;
    uint64_t peer_errors;  /* connections ended by the peer or a timeout */
    eva_tcp_accept_req accept;
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
        AWAIT(s, eva_tcp_accept_op(&s->accept, &s->srv));
        struct conn *c;
        /* the loop owns each connection's frame and frees it when the task
         * ends; a task whose socket could not be opened fails at its first
         * read and ends at once */
        if (eva_scope_spawn(&s->conns, sizeof *c, conn_run, "http-conn", (void **)&c) < 0 ||
            eva_tcp_open(eva_task_get_loop(&s->task), &c->tcp, s->accept.fd) < 0) {
            fprintf(stderr, "hello_http: out of memory: dropping a connection\n");
            close(s->accept.fd);
        }
    }
    ASYNC_FINALLY(s);
    eva_scope_cancel(&s->conns); /* the task finishes once they have */
    ASYNC_END(s);
}

static void on_signal(eva_signal *sig, int signum) {
    if (signum == SIGUSR1)
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
    eva_signal sigint, sigterm, sigusr1;
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
    printf("hello_http: listening on http://127.0.0.1:%d/\n", eva_tcp_server_get_port(&s.srv));
    fflush(stdout);
    eva_loop_run(loop, EVA_RUN_DEFAULT);
    eva_signal_stop(&sigint);
    eva_signal_stop(&sigterm);
    eva_signal_stop(&sigusr1);
    eva_loop_destroy(loop); /* cancels the tasks, closes the sockets */
    return 0;
}
