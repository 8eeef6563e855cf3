/* examples/hello_http/http_conn.c — one HTTP/1.1 keep-alive connection as a
 * task (http_conn.h): read, parse with Debian's http-parser, answer in
 * batches. */
#include <errno.h>
#include <string.h>

#include "http_conn.h"

const char http_conn_hello[] = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n"
                               "Content-Type: text/plain\r\n\r\nHello, World!";
const char http_conn_bad_request[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                                     "Connection: close\r\n\r\n";
const char http_conn_timeout[] = "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n"
                                 "Connection: close\r\n\r\n";
#define HELLO http_conn_hello
#define BAD http_conn_bad_request
#define TIMEOUT http_conn_timeout
#define HELLO_LEN (sizeof http_conn_hello - 1)
#define OUT_CAP HTTP_CONN_OUT_CAP
_Static_assert(OUT_CAP == 64 * HELLO_LEN, "a batch is 64 responses");
/* out always has room for one more HELLO, so for a final 400 or 408 too */
_Static_assert(sizeof BAD - 1 <= HELLO_LEN && sizeof TIMEOUT - 1 <= HELLO_LEN, "out too small");

/* Queue a response behind the ones batched in out. */
static void queue_reply(struct http_conn *c, const char *text, size_t len) {
    memcpy(c->out + c->out_len, text, len);
    c->out_len += len;
}

static int on_message_begin(http_parser *p) {
    struct http_conn *c = p->data;
    c->in_header = true;
    if (c->header_timeout_ms)
        eva_stream_set_read_deadline(&c->tcp, c->header_timeout_ms);
    return 0;
}

static int on_headers_complete(http_parser *p) {
    struct http_conn *c = p->data;
    c->in_header = false;
    if (c->header_timeout_ms)
        eva_stream_set_read_deadline(&c->tcp, 0);
    return 0;
}

static int on_message_complete(http_parser *p) {
    struct http_conn *c = p->data;
    queue_reply(c, HELLO, HELLO_LEN);
    if (!http_should_keep_alive(p)) {
        /* the last request: what follows it on the connection is not
         * processed (RFC 9112, 9.6), however the bytes were split */
        c->close_after = 1;
        http_parser_pause(p, 1);
    } else if (c->out_len + HELLO_LEN > OUT_CAP) {
        http_parser_pause(p, 1); /* out is full: write it, then go on */
    }
    return 0;
}

static const http_parser_settings settings = {.on_message_begin = on_message_begin,
                                              .on_headers_complete = on_headers_complete,
                                              .on_message_complete = on_message_complete};

eva_step http_conn_run(void *frame) {
    struct http_conn *c = frame;
    ASYNC_BEGIN(c);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    eva_stream_set_read_timeout(&c->tcp, c->idle_timeout_ms);
    while (!c->close_after) {
        AWAIT_RC(c, c->rc, eva_stream_read_op(&c->read, &c->tcp, c->in, sizeof c->in));
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
            }
            if (c->close_after)
                break; /* the answers go out below; nothing after it is parsed */
            if (c->out_len + HELLO_LEN > OUT_CAP || (c->pos == (size_t)c->read.nread && c->out_len)) {
                AWAIT(c, eva_stream_write_op(&c->write, &c->tcp, c->out, c->out_len));
                c->out_len = 0;
            }
        }
    }
    if (c->out_len) /* the last answer (a 200, 400 or 408), and what was batched before it */
        AWAIT(c, eva_stream_write_op(&c->write, &c->tcp, c->out, c->out_len));
    ASYNC_FINALLY(c);
    eva_stream_close(&c->tcp, EVA_STREAM_CLOSE_FLUSH, NULL); /* the last response still goes out */
    ASYNC_END(c);
}

