/* bench/libev_http_parser.c — the raw libev floor (../shared/bench/peers/
 * libev_http.c) doing hello_http's parsing work: the same one-thread,
 * callbacks-only server, but requests are found by Debian's http-parser with
 * the callbacks hello_http installs (message begin, headers complete, message
 * complete; keep-alive checked per request), instead of a CRLFCRLF scan.
 * hello_http's cpu_ns_req minus this peer's is evasync's own overhead over
 * the floor with the parser's share taken out (bench/run-http,
 * docs/performance.md).  usage: libev_http_parser PORT */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <ev.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char RESP[] = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n"
                           "Content-Type: text/plain\r\n\r\nHello, World!";
#define RESP_LEN (sizeof RESP - 1)
#define IN_CAP 16384
#define BATCH 64 /* responses per write at most, as in hello_http */

typedef struct {
    ev_io io;
    http_parser parser;
    size_t in_len, in_off; /* unparsed input: in[in_off..in_len) */
    size_t out_len, out_off;
    unsigned batched;      /* responses parsed, not yet queued */
    bool in_header, close_after;
    char in[IN_CAP];
    char out[BATCH * RESP_LEN];
} conn_t;

/* The same three callbacks as hello_http (minus its timeouts). */
static int on_message_begin(http_parser *p) {
    ((conn_t *)p->data)->in_header = true;
    return 0;
}

static int on_headers_complete(http_parser *p) {
    ((conn_t *)p->data)->in_header = false;
    return 0;
}

static int on_message_complete(http_parser *p) {
    conn_t *c = p->data;
    if (!http_should_keep_alive(p))
        c->close_after = true;
    if (++c->batched == BATCH || c->close_after)
        http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {.on_message_begin = on_message_begin,
                                              .on_headers_complete = on_headers_complete,
                                              .on_message_complete = on_message_complete};

static void conn_close(struct ev_loop *loop, conn_t *c) {
    ev_io_stop(loop, &c->io);
    close(c->io.fd);
    free(c);
}

/* Write pending output; returns 0 ok (maybe partial), -1 on error. */
static int conn_flush(conn_t *c) {
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->io.fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n > 0) { c->out_off += (size_t)n; continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
        return -1;
    }
    c->out_off = c->out_len = 0;
    return 0;
}

/* Parse the buffered input up to a full batch; queue its responses.
 * Returns -1 on a malformed request. */
static int conn_parse(conn_t *c) {
    while (c->in_off < c->in_len && c->batched < BATCH && !c->close_after) {
        c->in_off += http_parser_execute(&c->parser, &settings, c->in + c->in_off, c->in_len - c->in_off);
        enum http_errno err = HTTP_PARSER_ERRNO(&c->parser);
        if (err == HPE_PAUSED)
            http_parser_pause(&c->parser, 0);
        else if (err != HPE_OK)
            return -1;
    }
    if (c->in_off == c->in_len)
        c->in_off = c->in_len = 0;
    for (; c->batched; c->batched--) {
        memcpy(c->out + c->out_len, RESP, RESP_LEN);
        c->out_len += RESP_LEN;
    }
    return 0;
}

/* Answer buffered requests until none are left or the socket is full. */
static int conn_pump(conn_t *c) {
    for (;;) {
        if (conn_parse(c) < 0) return -1;
        if (!c->out_len) return 0;
        if (conn_flush(c) < 0) return -1;
        if (c->out_len) return 0; /* socket full: wait for EV_WRITE */
        if (c->close_after) return -1;
    }
}

static void conn_cb(struct ev_loop *loop, ev_io *w, int revents) {
    conn_t *c = (conn_t *)w;
    if (conn_pump(c) < 0) goto fail;
    if (revents & EV_READ) {
        while (c->in_len < IN_CAP && !c->out_len) {
            if (c->in_off) { /* keep the unparsed tail at the front */
                memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
                c->in_len -= c->in_off;
                c->in_off = 0;
            }
            ssize_t n = read(w->fd, c->in + c->in_len, IN_CAP - c->in_len);
            if (n > 0) { c->in_len += (size_t)n; if (conn_pump(c) < 0) goto fail; continue; }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            goto fail; /* EOF or error */
        }
    }
    int want = c->out_len ? EV_WRITE : EV_READ; /* backpressure: stop reading */
    if ((w->events & (EV_READ | EV_WRITE)) != want) {
        ev_io_stop(loop, w);
        ev_io_set(w, w->fd, want);
        ev_io_start(loop, w);
    }
    return;
fail:
    conn_close(loop, c);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents) {
    (void)revents;
    for (;;) {
        int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) perror("accept4");
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn_t *c = malloc(sizeof *c);
        if (!c) { close(fd); continue; }
        c->in_len = c->in_off = c->out_len = c->out_off = 0;
        c->batched = 0;
        c->in_header = c->close_after = false;
        http_parser_init(&c->parser, HTTP_REQUEST);
        c->parser.data = c;
        ev_io_init(&c->io, conn_cb, fd, EV_READ);
        ev_io_start(loop, &c->io);
    }
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s PORT\n", argv[0]); return 2; }
    signal(SIGPIPE, SIG_IGN);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 1024)) {
        perror("listen");
        return 1;
    }
    struct ev_loop *loop = EV_DEFAULT;
    ev_io lw;
    ev_io_init(&lw, accept_cb, fd, EV_READ);
    ev_io_start(loop, &lw);
    ev_run(loop, 0);
    return 0;
}
