/* A TLS stream behaves as a plain one (issue 16: "the same reads / writes /
 * watermarks / timeouts / half-close / cancellation"): over a Unix socket
 * pair on one loop, an evasync server and client end past their handshakes
 * and then exercise the stream calls through TLS: half-close with data
 * still flowing the other way, backpressure (watermarks, on_drain, a drain
 * wait), the read timeout and deadline, read cancellation, read_exact and
 * read_until across records, and closing with writes queued.
 * Certificates: tests/tls_certs.sh, once per run in a temporary directory. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "helpers.h"
#include "tls_test_certs.h"

static char certdir[64];
static eva_tls_context *server_ctx, *client_ctx;

static int group_setup(void **state) {
    (void)state;
    snprintf(certdir, sizeof certdir, "/tmp/evasync-tls-stream-XXXXXX");
    tls_test_certs_make(certdir, TLS_CERTS_SCRIPT);
    char cert[128], key[128], ca[128];
    snprintf(cert, sizeof cert, "%s/server.pem", certdir);
    snprintf(key, sizeof key, "%s/server.key", certdir);
    snprintf(ca, sizeof ca, "%s/ca.pem", certdir);
    server_ctx = tls_test_context(&(eva_tls_context_opts){.server = true, .cert_file = cert, .key_file = key});
    client_ctx = tls_test_context(&(eva_tls_context_opts){.ca_file = ca});
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would kill the test: none may come */
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    return tls_test_teardown(server_ctx, client_ctx, certdir);
}

/* ---- a connected pair of TLS streams --------------------------------------------- */

typedef struct pair {
    eva_loop *loop;
    eva_stream server, client;
    eva_tls_start_req server_hs, client_hs;
    int hs_done;
    bool established;
} pair;

static void on_handshake(eva_tls_start_req *req, int status) {
    pair *p = req->data;
    assert_int_equal(status, 0);
    p->established = ++p->hs_done == 2;
}

static void pair_open(pair *p) {
    p->loop = test_loop_new();
    int fds[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    assert_int_equal(eva_stream_open(p->loop, &p->server, fds[0]), 0);
    assert_int_equal(eva_stream_open(p->loop, &p->client, fds[1]), 0);
    p->server_hs.data = p->client_hs.data = p;
    assert_int_equal(eva_tls_start(&p->server_hs, &p->server, server_ctx, NULL, on_handshake), 0);
    assert_int_equal(eva_tls_start(&p->client_hs, &p->client, client_ctx,
                                   &(eva_tls_start_opts){.server_name = "localhost"}, on_handshake),
                     0);
    test_run_until(p->loop, &p->established, 5000);
}

static void pair_close(pair *p) {
    eva_stream_close(&p->server, EVA_STREAM_CLOSE_DISCARD, NULL);
    eva_stream_close(&p->client, EVA_STREAM_CLOSE_DISCARD, NULL);
    test_loop_destroy(p->loop);
}

/* One read's outcome, in callback style. */
typedef struct reading {
    eva_stream_read_req req;
    char buf[64];
    int status;
    bool done;
} reading;

static void on_read(eva_stream_read_req *req, int status) {
    reading *r = req->data;
    r->status = status;
    r->done = true;
}

static void read_some(eva_stream *s, reading *r) {
    *r = (reading){.status = 1};
    r->req.data = r;
    assert_int_equal(eva_stream_read(&r->req, s, r->buf, sizeof r->buf - 1, on_read), 0);
}

/* Read what s has for us, waiting at most 5 s: the bytes, NUL-terminated. */
static const char *read_text(pair *p, eva_stream *s, reading *r) {
    read_some(s, r);
    test_run_until(p->loop, &r->done, 5000);
    assert_int_equal(r->status, 0);
    r->buf[r->req.nread] = '\0';
    return r->buf;
}

/* ---- half-close ------------------------------------------------------------------- */

typedef struct shutting {
    eva_stream_shutdown_req req;
    int status;
    bool done;
} shutting;

static void on_shutdown(eva_stream_shutdown_req *req, int status) {
    shutting *sh = req->data;
    sh->status = status;
    sh->done = true;
}

/* The client half-closes after its request (close_notify, then the socket's
 * SHUT_WR): the server reads the request, then a clean end of stream (0
 * bytes, status 0: not a truncation), and can still answer; the client
 * reads the answer after its own half-close, then the server's close. */
static void half_close_keeps_the_other_direction(void **state) {
    (void)state;
    pair p = {0};
    pair_open(&p);
    assert_int_equal(eva_stream_write_copy(&p.client, "request", 7), 0);
    shutting sh = {.status = 1};
    sh.req.data = &sh;
    assert_int_equal(eva_stream_shutdown(&sh.req, &p.client, on_shutdown), 0);
    reading r;
    assert_string_equal(read_text(&p, &p.server, &r), "request");
    test_run_until(p.loop, &sh.done, 5000);
    assert_int_equal(sh.status, 0);
    assert_int_equal(eva_stream_write_copy(&p.client, "more", 4), -EPIPE); /* shut down */
    read_text(&p, &p.server, &r);
    assert_int_equal(r.req.nread, 0); /* the end of stream, clean */

    assert_int_equal(eva_stream_write_copy(&p.server, "answer", 6), 0);
    assert_int_equal(eva_stream_close(&p.server, EVA_STREAM_CLOSE_FLUSH, NULL), 0);
    assert_string_equal(read_text(&p, &p.client, &r), "answer");
    read_text(&p, &p.client, &r);
    assert_int_equal(r.req.nread, 0); /* the server's close_notify */
    pair_close(&p);
}

/* ---- backpressure ----------------------------------------------------------------- */

enum { BULK = 1 << 20, CHUNK = 16384 };

typedef struct bulk {
    pair p;
    char *sent, *got;
    int drains;             /* on_drain calls */
    eva_stream_read_req rd;
    bool all_read;
    int read_status;
    eva_stream_drain_req drain;
    int drain_status;
    bool drained;
} bulk;

static bulk *the_bulk; /* on_drain gets only the stream */

static void on_drain(eva_stream *stream) {
    assert_ptr_equal(stream, &the_bulk->p.client);
    the_bulk->drains++;
}

static void on_bulk_read(eva_stream_read_req *req, int status) {
    bulk *b = req->data;
    b->read_status = status;
    b->all_read = true;
}

static void on_drained(eva_stream_drain_req *req, int status) {
    bulk *b = req->data;
    b->drain_status = status;
    b->drained = true;
}

/* With the reader stalled, writes queue in front of TLS: the write call
 * says 1 once the queue reaches the high-water mark, the queue holds what
 * the socket would not take, and once the reader drains it the drain
 * callback runs once and a drain wait completes; every byte arrives, in
 * order (records split by partial writes included). */
static void watermarks_through_tls(void **state) {
    (void)state;
    bulk b = {0};
    the_bulk = &b;
    pair_open(&b.p);
    b.sent = malloc(BULK);
    b.got = malloc(BULK);
    assert_non_null(b.sent);
    assert_non_null(b.got);
    for (size_t i = 0; i < BULK; i++)
        b.sent[i] = (char)(i * 7 + i / 4096);
    assert_int_equal(eva_stream_set_watermarks(&b.p.client, 64 * 1024, 16 * 1024, on_drain), 0);
    int rc = 0;
    size_t queued = 0;
    while (rc == 0 && queued < BULK) { /* nothing runs the loop: the socket fills, then the queue */
        rc = eva_stream_write_copy(&b.p.client, b.sent + queued, CHUNK);
        assert_true(rc == 0 || rc == 1);
        queued += CHUNK;
    }
    assert_int_equal(rc, 1);
    assert_true(eva_stream_get_write_queue_size(&b.p.client) >= 64 * 1024);
    b.drain.data = &b;
    assert_int_equal(eva_stream_drain(&b.drain, &b.p.client, on_drained), 0);
    while (queued < BULK) { /* the rest, above the mark: still accepted */
        assert_int_equal(eva_stream_write_copy(&b.p.client, b.sent + queued, CHUNK), 1);
        queued += CHUNK;
    }
    b.rd.data = &b;
    assert_int_equal(eva_stream_read_exact(&b.rd, &b.p.server, b.got, BULK, on_bulk_read), 0);
    test_run_until(b.p.loop, &b.all_read, 10000);
    assert_int_equal(b.read_status, 0);
    assert_memory_equal(b.got, b.sent, BULK);
    test_run_until(b.p.loop, &b.drained, 5000);
    assert_int_equal(b.drain_status, 0);
    assert_int_equal(b.drains, 1);
    assert_int_equal(eva_stream_get_write_queue_size(&b.p.client), 0);
    free(b.sent);
    free(b.got);
    pair_close(&b.p);
}

/* ---- timeouts and cancellation ---------------------------------------------------- */

/* A read that gets nothing fails with -ETIMEDOUT and the stream goes on:
 * the next read gets what the peer sends later. */
static void read_timeout_through_tls(void **state) {
    (void)state;
    pair p = {0};
    pair_open(&p);
    assert_int_equal(eva_stream_set_read_timeout(&p.client, 20), 0);
    reading r;
    read_some(&p.client, &r);
    test_run_until(p.loop, &r.done, 5000);
    assert_int_equal(r.status, -ETIMEDOUT);
    assert_int_equal(eva_stream_set_read_timeout(&p.client, 0), 0);
    assert_int_equal(eva_stream_write_copy(&p.server, "late", 4), 0);
    assert_string_equal(read_text(&p, &p.client, &r), "late");
    pair_close(&p);
}

/* A deadline fails the read pending then however the bytes trickle, and
 * reads after it at once; clearing it makes the stream readable again. */
static void read_deadline_through_tls(void **state) {
    (void)state;
    pair p = {0};
    pair_open(&p);
    assert_int_equal(eva_stream_set_read_deadline(&p.client, 20), 0);
    eva_stream_read_req req = {0};
    char buf[16];
    reading r = {.status = 1};
    req.data = &r;
    /* read_exact of more than will come: only the deadline ends it */
    assert_int_equal(eva_stream_read_exact(&req, &p.client, buf, sizeof buf, on_read), 0);
    assert_int_equal(eva_stream_write_copy(&p.server, "trickle", 7), 0);
    test_run_until(p.loop, &r.done, 5000);
    assert_int_equal(r.status, -ETIMEDOUT);
    assert_int_equal(eva_stream_read(&req, &p.client, buf, sizeof buf, on_read), -ETIMEDOUT);
    assert_int_equal(eva_stream_set_read_deadline(&p.client, 0), 0);
    assert_int_equal(eva_stream_write_copy(&p.server, "after", 5), 0);
    assert_string_equal(read_text(&p, &p.client, &r), "after");
    pair_close(&p);
}

/* A pending read cancelled completes with -ECANCELED, once; the stream stays
 * open and the next read gets the bytes the peer sends. */
static void read_cancel_through_tls(void **state) {
    (void)state;
    pair p = {0};
    pair_open(&p);
    reading r;
    read_some(&p.client, &r);
    assert_int_equal(eva_stream_read_cancel(&p.client), 0);
    test_run_until(p.loop, &r.done, 5000);
    assert_int_equal(r.status, -ECANCELED);
    assert_int_equal(eva_stream_write_copy(&p.server, "still here", 10), 0);
    assert_string_equal(read_text(&p, &p.client, &r), "still here");
    pair_close(&p);
}

/* ---- bytes OpenSSL holds while the watcher changes ---------------------------------- */

typedef struct held {
    pair p;
    reading first, second;
    eva_stream_write_req big;
    int write_status;
} held;

static char big_block[4 << 20];

static void on_big_write(eva_stream_write_req *req, int status) {
    ((held *)req->data)->write_status = status;
}

/* The first read took one of two records; the second is already in
 * OpenSSL's buffer, so nothing on the socket will report it: arming the
 * next read feeds the stream's watcher an event.  A write that fills the
 * socket right after changes what the watcher waits for (now writability
 * too), which drops the fed event unless the change keeps it: the second
 * read would then wait for ever. */
static void on_first_read(eva_stream_read_req *req, int status) {
    held *h = req->data;
    assert_int_equal(status, 0);
    h->first.req.nread = req->nread;
    h->first.done = true;
    h->second = (reading){.status = 1};
    h->second.req.data = &h->second;
    assert_int_equal(eva_stream_read(&h->second.req, &h->p.client, h->second.buf, 4, on_read), 0);
    h->big.data = h;
    struct iovec iov = {big_block, sizeof big_block}; /* far more than the socket takes */
    assert_int_equal(eva_stream_write(&h->big, &h->p.client, &iov, 1, on_big_write), 1);
}

static void read_buffered_by_openssl_survives_a_watcher_change(void **state) {
    (void)state;
    held h = {.write_status = 1};
    pair_open(&h.p);
    assert_int_equal(eva_stream_write_copy(&h.p.server, "AAAA", 4), 0); /* two records, */
    assert_int_equal(eva_stream_write_copy(&h.p.server, "BBBB", 4), 0); /* both on the socket */
    h.first.req.data = &h;
    assert_int_equal(eva_stream_read(&h.first.req, &h.p.client, h.first.buf, 4, on_first_read), 0);
    test_run_until(h.p.loop, &h.first.done, 5000);
    assert_memory_equal(h.first.buf, "AAAA", 4);
    test_run_until(h.p.loop, &h.second.done, 5000);
    assert_int_equal(h.second.status, 0);
    assert_int_equal(h.second.req.nread, 4);
    assert_memory_equal(h.second.buf, "BBBB", 4);
    assert_int_equal(h.write_status, 1); /* still queued: the server reads nothing */
    pair_close(&h.p);
    assert_int_equal(h.write_status, -ECANCELED);
}

/* ---- framing across records ------------------------------------------------------- */

typedef struct framing {
    eva_task task;
    eva_stream *s;
    eva_stream_read_req rd;
    char line1[16], line2[16], tail[4];
    int rc1, rc2, rc3;
    bool done;
} framing;

static eva_step framing_run(void *frame) {
    framing *f = frame;
    ASYNC_BEGIN(f);
    AWAIT_RC(f, f->rc1, eva_stream_read_until_op(&f->rd, f->s, f->line1, sizeof f->line1, "\n", 1));
    AWAIT_RC(f, f->rc2, eva_stream_read_until_op(&f->rd, f->s, f->line2, sizeof f->line2, "\n", 1));
    AWAIT_RC(f, f->rc3, eva_stream_read_exact_op(&f->rd, f->s, f->tail, sizeof f->tail));
    f->done = true;
    ASYNC_END(f);
}

/* Lines and a fixed-size tail written 3 bytes a record: read_until and
 * read_exact (AWAIT style) assemble them across records, and a delimiter
 * split between records is found. */
static void framing_across_records(void **state) {
    (void)state;
    pair p = {0};
    pair_open(&p);
    framing f = {.s = &p.client};
    eva_task_init(p.loop, &f.task, framing_run, "framing");
    eva_task_start(&f.task, NULL);
    const char text[] = "first\nsecond\r\nTAIL";
    for (size_t i = 0; i < sizeof text - 1; i += 3)
        assert_int_equal(eva_stream_write_copy(&p.server, text + i, i + 3 <= sizeof text - 1 ? 3 : sizeof text - 1 - i),
                         0);
    test_run_until(p.loop, &f.done, 5000);
    assert_int_equal(f.rc1, 0);
    assert_int_equal(f.rc2, 0);
    assert_int_equal(f.rc3, 0);
    assert_memory_equal(f.line1, "first\n", 6);
    assert_memory_equal(f.line2, "second\r\n", 8);
    assert_memory_equal(f.tail, "TAIL", 4);
    pair_close(&p);
}

/* ---- closing with writes queued --------------------------------------------------- */

typedef struct writes {
    eva_stream_write_req req[3];
    int status[3];
    int completions;
} writes;

static void on_write(eva_stream_write_req *req, int status) {
    writes *w = req->data;
    w->status[req - w->req] = status;
    w->completions++;
}

/* Writes queued behind a full socket complete with -ECANCELED when the
 * stream is closed without flushing, each exactly once, and nothing leaks
 * (ASan). */
static void close_discard_cancels_queued_writes(void **state) {
    (void)state;
    pair p = {0};
    pair_open(&p);
    static char big[4 << 20];
    writes w = {0};
    for (int i = 0; i < 3; i++) {
        w.req[i].data = &w;
        w.status[i] = 1;
        struct iovec iov = {big, sizeof big};
        int rc = eva_stream_write(&w.req[i], &p.client, &iov, 1, on_write);
        assert_true(rc == 0 || rc == 1);
    }
    assert_int_equal(eva_stream_close(&p.client, EVA_STREAM_CLOSE_DISCARD, NULL), 0);
    for (int i = 0; i < 100 && w.completions < 3; i++)
        assert_true(eva_loop_run(p.loop, EVA_RUN_NOWAIT) >= 0);
    assert_int_equal(w.completions, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(w.status[i], -ECANCELED);
    pair_close(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(half_close_keeps_the_other_direction),
        cmocka_unit_test(watermarks_through_tls),
        cmocka_unit_test(read_timeout_through_tls),
        cmocka_unit_test(read_deadline_through_tls),
        cmocka_unit_test(read_cancel_through_tls),
        cmocka_unit_test(read_buffered_by_openssl_survives_a_watcher_change),
        cmocka_unit_test(framing_across_records),
        cmocka_unit_test(close_discard_cancels_queued_writes),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
