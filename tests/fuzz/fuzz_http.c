/* tests/fuzz/fuzz_http.c — hello_http's request handling
 * (examples/hello_http/http_conn.c) against fuzzer-written requests in
 * fuzzer-chosen chunks, checked against a model parse of the same bytes.
 *
 * Each input runs one connection task on a fresh loop over a loopback TCP
 * pair; the target plays the client from the same thread between loop
 * steps.  The first byte sets the timeouts: off, or a header timeout of
 * 1..8 ms and an idle timeout twice that.  Then each step takes one byte (its
 * operation, the byte modulo the number of operations) and its operands: the
 * client sends a chunk (its length, then its bytes), the loop runs one
 * non-waiting iteration (the client then reads what came), the client waits
 * for a timeout to end the connection (timeouts on), or half-closes.  At the
 * end the client half-closes and reads until the connection ends.
 *
 * The model is http-parser run once over everything the client sent, with
 * the server's rules: a response per complete request, in order; the first
 * malformed request gets one 400 after the 200s of the requests before it,
 * and ends the connection; a request that does not keep the connection
 * alive (HTTP/1.0, "Connection: close") gets the 200 that says
 * "Connection: close" and ends it, whatever follows.  With the timeouts off the client must receive exactly that;
 * with them on, a prefix of the 200s possibly followed by one 408 (only once
 * a request beyond them has begun), or exactly that.  Always: the connection
 * ends (EOF or a close), the task finishes exactly once with 0 (or
 * -ETIMEDOUT, timeouts on), a wait with the timeouts on ends the connection,
 * and nothing leaks. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_loop.h"
#include "hello_http/http_conn.h"

/* What the client sees: http_conn.c's responses. */
#define HELLO http_conn_hello
#define HELLO_CLOSE http_conn_hello_close
#define BAD http_conn_bad_request
#define TIMEOUT http_conn_timeout

enum { MAX_SENT = 16384, MAX_OUT = 1 << 20 };

enum { STEP_SEND, STEP_RUN, STEP_WAIT, STEP_SHUT, STEPS };

typedef struct client {
    eva_loop *loop;
    int fd;
    bool timeouts;
    bool shut;
    bool conn_done;          /* the task's done callback ran */
    int conn_status;
    bool eof;                /* the connection ended: EOF or a reset */
    uint8_t sent[MAX_SENT];
    size_t sent_len;
    char *out;               /* what the client received */
    size_t out_len;
} client;

/* The model's verdict on the bytes sent. */
typedef struct expected {
    int begun, complete;     /* requests begun, complete (answered 200) */
    bool closing;            /* the last complete one ends the connection: its 200 says so */
    bool bad;                /* then a malformed one: 400 */
} expected;

static int model_begin(http_parser *p) {
    ((expected *)p->data)->begun++;
    return 0;
}

static int model_complete(http_parser *p) {
    expected *e = p->data;
    e->complete++;
    if (!http_should_keep_alive(p)) {
        e->closing = true;
        http_parser_pause(p, 1); /* the connection ends here: the rest is never read */
    }
    return 0;
}

static expected model(const client *c) {
    static const http_parser_settings settings = {.on_message_begin = model_begin,
                                                  .on_message_complete = model_complete};
    expected e = {0};
    http_parser p;
    http_parser_init(&p, HTTP_REQUEST);
    p.data = &e;
    if (c->sent_len > 0) /* a length of 0 would tell the parser the stream ended */
        http_parser_execute(&p, &settings, (const char *)c->sent, c->sent_len);
    enum http_errno err = HTTP_PARSER_ERRNO(&p);
    e.bad = err != HPE_OK && err != HPE_PAUSED;
    return e;
}

/* The input's client (the done callback has no other way to it: the loop
 * frees the frame). */
static client the_client;

static void on_conn_done(eva_task *t) {
    client *c = &the_client;
    FUZZ_CHECK(!c->conn_done);
    c->conn_done = true;
    c->conn_status = eva_task_get_status(t);
}

/* Read what the server sent so far. */
static void receive(client *c) {
    while (!c->eof) {
        FUZZ_CHECK(c->out_len < MAX_OUT);
        ssize_t n = recv(c->fd, c->out + c->out_len, MAX_OUT - c->out_len, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) { /* EOF, or a reset: the server closed with our bytes unread */
            FUZZ_CHECK(n == 0 || errno == ECONNRESET);
            c->eof = true;
            return;
        }
        c->out_len += (size_t)n;
    }
}

static void run_once(client *c) {
    FUZZ_CHECK(eva_loop_run(c->loop, EVA_RUN_NOWAIT) >= 0);
    receive(c);
}

/* Run until the connection task has finished and the connection has ended,
 * at most ms. */
static bool run_to_end(client *c, int64_t ms) {
    fuzz_run_until(c->loop, &c->conn_done, ms);
    for (int i = 0; i < 1000 && c->conn_done && !c->eof; i++)
        run_once(c);
    return c->conn_done && c->eof;
}

static void step_send(client *c, fuzz_input *in) {
    size_t n = 1 + fuzz_byte(in);
    const uint8_t *bytes = fuzz_bytes(in, &n);
    if (c->shut || c->conn_done || c->sent_len + n > MAX_SENT)
        return; /* bytes the server can no longer read are not part of the stream */
    ssize_t k = send(c->fd, bytes, n, MSG_NOSIGNAL);
    if (k < 0) { /* the server closed: they were never read */
        FUZZ_CHECK(errno == EPIPE || errno == ECONNRESET);
        return;
    }
    FUZZ_CHECK((size_t)k == n); /* far below the socket buffer */
    memcpy(c->sent + c->sent_len, bytes, n);
    c->sent_len += n;
}

static void half_close(client *c) {
    if (!c->shut) /* a server that closed with our bytes unread reset the connection */
        FUZZ_CHECK(shutdown(c->fd, SHUT_WR) == 0 || (errno == ENOTCONN && c->conn_done));
    c->shut = true;
}

static void step(client *c, fuzz_input *in) {
    switch (fuzz_byte(in) % STEPS) {
    case STEP_SEND: step_send(c, in); break;
    case STEP_RUN: run_once(c); break;
    case STEP_WAIT:
        if (c->timeouts) /* the header deadline or the idle timeout ends it */
            FUZZ_CHECK(run_to_end(c, 2000));
        break;
    default: half_close(c);
    }
}

/* How many times text repeats at the front of *out; advances past them. */
static int count_prefix(const char **out, size_t *len, const char *text) {
    size_t n = strlen(text);
    int k = 0;
    for (; *len >= n && memcmp(*out, text, n) == 0; k++) {
        *out += n;
        *len -= n;
    }
    return k;
}

static bool equals(const char *out, size_t len, const char *text) {
    return len == strlen(text) && memcmp(out, text, len) == 0;
}

static void check_responses(const client *c) {
    expected e = model(c);
    const char *out = c->out;
    size_t len = c->out_len;
    int oks = count_prefix(&out, &len, HELLO);
    bool closed = equals(out, len, HELLO_CLOSE); /* then nothing can follow */
    if (closed)
        len = 0;
    bool bad = equals(out, len, BAD), timeout = equals(out, len, TIMEOUT);
    if (oks + closed == e.complete && closed == e.closing && ((e.bad && bad) || (!e.bad && len == 0)))
        return; /* exactly the model's answers */
    /* timeouts on: a prefix of the 200s, then possibly a 408; a closing
     * 200 is sent only once every answer before it was, so never short */
    if (!c->timeouts || closed || oks > e.complete || (len && !timeout) || (timeout && e.begun <= oks)) {
        fprintf(stderr, "sent %zu bytes; model: %d begun, %d complete, %s; got %d 200s then %zu bytes\n",
                c->sent_len, e.begun, e.complete, e.bad ? "malformed" : "well-formed", oks, len);
        FUZZ_CHECK(false);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char out[MAX_OUT];
    client *c = &the_client;
    memset(c, 0, sizeof *c);
    c->out = out;
    fuzz_input in = {data, size};
    uint8_t config = fuzz_byte(&in);
    int fds[2];
    fuzz_tcp_pair(fds);
    c->fd = fds[1];
    c->loop = fuzz_loop_new();
    struct http_conn *conn;
    FUZZ_CHECK(eva_task_spawn(c->loop, sizeof *conn, http_conn_run, "http-conn", on_conn_done, (void **)&conn) == 0);
    FUZZ_CHECK(eva_stream_open(c->loop, &conn->tcp, fds[0]) == 0);
    c->timeouts = config & 1;
    if (c->timeouts) {
        conn->header_timeout_ms = 1 + (config >> 1) % 8;
        conn->idle_timeout_ms = 2 * conn->header_timeout_ms;
    }
    while (in.n > 0)
        step(c, &in);
    half_close(c);
    FUZZ_CHECK(run_to_end(c, 5000));
    FUZZ_CHECK(c->conn_status == 0 || (c->timeouts && c->conn_status == -ETIMEDOUT));
    check_responses(c);
    close(c->fd);
    fuzz_loop_destroy(c->loop);
    fuzz_check_freed();
    return 0;
}
