/* examples/hello_http/http_conn.c — one HTTP/1.1 keep-alive connection as a
 * task (http_conn.h): read into lent memory, parse with Debian's
 * http-parser, answer in batches. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "http_conn.h"

#define HELLO_TEXT "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!"
const char http_conn_hello[] = HELLO_TEXT;
/* RFC 9112, 9.6: the answer to a request that closes the connection says so,
 * or a keep-alive client (wrk, for one) sends its next request on a
 * connection that is closing and learns only from the error. */
const char http_conn_hello_close[] = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n"
                                     "Connection: close\r\n\r\nHello, World!";
const char http_conn_bad_request[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                                     "Connection: close\r\n\r\n";
const char http_conn_timeout[] = "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n"
                                 "Connection: close\r\n\r\n";
#define HELLO_LEN (sizeof http_conn_hello - 1)

/* Every answer but the last is the same 200, so a batch of n of them is the
 * first n of this block: no connection needs an output buffer of its own. */
#define TWICE(s) s s
static const char hello_batch[] = TWICE(TWICE(TWICE(TWICE(TWICE(TWICE(HELLO_TEXT))))));
_Static_assert(sizeof hello_batch - 1 == HTTP_CONN_BATCH * HELLO_LEN, "a batch is 64 responses");
/* The issue 20 bar: an idle connection costs its frame, which must stay
 * within 1 KB with the allocator's and the loop's share. */
_Static_assert(sizeof(struct http_conn) <= 808, "an idle connection holds more than its handle and frame");
_Static_assert(EVA_STREAM_LENT_SIZE <= UINT32_MAX, "pos counts within one lent chunk");

static int on_message_begin(http_parser *p) {
    ((struct http_conn *)p->data)->in_header = true;
    return 0;
}

static int on_headers_complete(http_parser *p) {
    struct http_conn *c = p->data;
    c->in_header = false;
    if (c->deadline_armed)
        eva_stream_set_read_deadline(&c->tcp, 0);
    c->deadline_armed = false;
    return 0;
}

/* A header still incomplete when a chunk's bytes run out gets its deadline,
 * counted from now: the loop time of the step that parsed its first byte.  A header whole
 * in one chunk (every pipelined request but a split one) never needs it,
 * which saves two deadline changes per request. */
static void arm_header_deadline(struct http_conn *c) {
    if (c->in_header && !c->deadline_armed && c->header_timeout_ms) {
        eva_stream_set_read_deadline(&c->tcp, c->header_timeout_ms);
        c->deadline_armed = true;
    }
}

static int on_message_complete(http_parser *p) {
    struct http_conn *c = p->data;
    if (!http_should_keep_alive(p)) {
        /* the last request: what follows it on the connection is not
         * processed (RFC 9112, 9.6), however the bytes were split */
        c->last = http_conn_hello_close;
        c->close_after = true;
        http_parser_pause(p, 1);
    } else if (++c->batched == HTTP_CONN_BATCH) {
        http_parser_pause(p, 1); /* the batch is full: write it, then go on */
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
        /* waiting here holds no buffer; the bytes stay lent until the next read */
        AWAIT_RC(c, c->rc, eva_stream_read_lent_op(&c->read, &c->tcp));
        if (c->rc == -ETIMEDOUT && c->in_header)
            c->last = http_conn_timeout;
        if (c->rc < 0 || c->read.nread == 0)
            break; /* timed out, reset, or the client closed */
        for (c->pos = 0; c->pos < (size_t)c->read.nread;) {
            c->pos += (uint32_t)http_parser_execute(&c->parser, &settings, c->read.lent + c->pos,
                                                    (size_t)c->read.nread - c->pos);
            arm_header_deadline(c);
            enum http_errno err = HTTP_PARSER_ERRNO(&c->parser);
            if (err == HPE_PAUSED) {
                http_parser_pause(&c->parser, 0);
            } else if (err != HPE_OK) {
                c->last = http_conn_bad_request; /* after the answers batched before it */
                c->close_after = true;
            }
            if (c->close_after)
                break; /* the answers go out below; nothing after it is parsed */
            if (c->batched == HTTP_CONN_BATCH || (c->pos == (size_t)c->read.nread && c->batched)) {
                AWAIT(c, eva_stream_write_op(&c->write, &c->tcp, hello_batch, c->batched * HELLO_LEN));
                c->batched = 0;
            }
        }
    }
    if (c->batched) /* what was batched before the end */
        AWAIT(c, eva_stream_write_op(&c->write, &c->tcp, hello_batch, c->batched * HELLO_LEN));
    if (c->last) /* then the closing 200, the 400 or the 408 */
        AWAIT(c, eva_stream_write_op(&c->write, &c->tcp, c->last, strlen(c->last)));
    ASYNC_FINALLY(c);
    eva_stream_close(&c->tcp, EVA_STREAM_CLOSE_FLUSH, NULL); /* the last response still goes out */
    ASYNC_END(c);
}

int http_conn_spawn(eva_scope *conns, int fd, const char *name, uint32_t header_timeout_ms,
                    uint32_t idle_timeout_ms, struct http_conn **out) {
    struct http_conn *c;
    int rc = eva_scope_spawn(conns, sizeof *c, http_conn_run, name, (void **)&c);
    /* the loop owns the frame and frees it when the task ends; a task whose
     * socket could not be opened fails at its first read and ends at once */
    if (rc == 0)
        rc = eva_stream_open(eva_task_get_loop(&c->task), &c->tcp, fd);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    c->header_timeout_ms = header_timeout_ms;
    c->idle_timeout_ms = idle_timeout_ms;
    *out = c;
    return 0;
}

static bool ended_by_peer(int status) {
    switch (status) {
    case -ECONNRESET:
    case -EPIPE:
    case -ETIMEDOUT:
    case EVA_ETLS_HANDSHAKE:
    case EVA_ETLS_VERIFY:
    case EVA_ETLS_TRUNCATED:
    case EVA_ETLS_PROTOCOL:
        return true;
    default:
        return false;
    }
}

void http_conn_note_failure(uint64_t *peer_ends, const char *who, int status, const char *message) {
    if (ended_by_peer(status))
        (*peer_ends)++;
    else if (status != -ECANCELED)
        fprintf(stderr, "%s: %s\n", who, message);
}
