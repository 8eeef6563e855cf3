/* TCP on 127.0.0.1: echo from 1 byte to 16 MiB, 1,000 concurrent clients,
 * peer resets, refused and timed-out connects, backpressure, read limits,
 * timeouts, half-close, close modes, cancellation of each operation. */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>
#include <cmocka.h>

#include "helpers.h"

enum { HOUR = 60 * 60 * 1000 };

static struct sockaddr_in loopback(int port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static void listen_any(eva_loop *loop, eva_server *srv, struct sockaddr_in *addr) {
    *srv = (eva_server){0};
    assert_int_equal(eva_tcp_listen_ip(loop, srv, "127.0.0.1", 0, NULL), 0);
    int port = eva_tcp_server_get_port(srv);
    assert_true(port > 0);
    *addr = loopback(port);
}

/* ---- an echo server in the AWAIT style -------------------------------------- */

typedef struct echo_conn {
    eva_task task;
    eva_stream tcp;
    eva_stream_read_req rd;
    eva_stream_write_req w;
    char buf[16384];
} echo_conn;

static eva_step echo_conn_run(void *frame) {
    echo_conn *c = frame;
    ASYNC_BEGIN(c);
    for (;;) {
        AWAIT(c, eva_stream_read_op(&c->rd, &c->tcp, c->buf, sizeof c->buf));
        if (c->rd.nread == 0)
            break; /* EOF: the client is done */
        AWAIT(c, eva_stream_write_op(&c->w, &c->tcp, c->buf, (size_t)c->rd.nread));
    }
    ASYNC_FINALLY(c);
    eva_stream_close(&c->tcp, EVA_STREAM_CLOSE_DISCARD, NULL);
    ASYNC_END(c);
}

typedef struct echo_server {
    eva_task task;
    eva_server srv;
    eva_server_accept_req acc;
    int served;
} echo_server;

static eva_step echo_server_run(void *frame) {
    echo_server *s = frame;
    ASYNC_BEGIN(s);
    for (;;) {
        AWAIT(s, eva_server_accept_op(&s->acc, &s->srv));
        echo_conn *c = NULL;
        assert_int_equal(eva_task_spawn(eva_task_get_loop(&s->task), sizeof *c, echo_conn_run, "echo", NULL,
                                        (void **)&c), 0);
        assert_int_equal(eva_stream_open(eva_task_get_loop(&s->task), &c->tcp, s->acc.fd), 0);
        s->served++;
    }
    ASYNC_END(s);
}

static void start_echo_server(eva_loop *loop, echo_server *s, struct sockaddr_in *addr) {
    *s = (echo_server){0};
    listen_any(loop, &s->srv, addr);
    eva_task_init(loop, &s->task, echo_server_run, "echo_server");
    eva_task_start(&s->task, NULL);
}

/* ---- echo round trips ------------------------------------------------------------ */

typedef struct echo_client {
    eva_task task;
    struct sockaddr_in addr;
    eva_stream tcp;
    eva_tcp_connect_req cn;
    eva_stream_read_req rd;
    eva_stream_write_req w;
    unsigned char *out, *in;
    size_t size;
    int write_status;
    bool done;
} echo_client;

static void on_client_write(eva_stream_write_req *req, int status) {
    ((echo_client *)req->data)->write_status = status;
}

static eva_step echo_client_run(void *frame) {
    echo_client *c = frame;
    ASYNC_BEGIN(c);
    AWAIT(c, eva_tcp_connect_op(&c->cn, &c->tcp, (struct sockaddr *)&c->addr, sizeof c->addr, 5000));
    /* queue the whole payload (callback primitive) and read the echo meanwhile */
    c->w.data = c;
    struct iovec v = {.iov_base = c->out, .iov_len = c->size};
    assert_true(eva_stream_write(&c->w, &c->tcp, &v, 1, on_client_write) >= 0);
    AWAIT(c, eva_stream_read_exact_op(&c->rd, &c->tcp, c->in, c->size));
    c->done = true;
    ASYNC_FINALLY(c);
    eva_stream_close(&c->tcp, EVA_STREAM_CLOSE_DISCARD, NULL);
    ASYNC_END(c);
}

static void echo_round_trips_from_1_byte_to_16_mib(void **state) {
    (void)state;
    static const size_t sizes[] = {1, 1000, 65536, 1 << 20, 16 << 20};
    eva_loop *loop = test_loop_new();
    echo_server s;
    struct sockaddr_in addr;
    start_echo_server(loop, &s, &addr);
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        echo_client c = {.addr = addr, .size = sizes[k], .write_status = 1};
        c.out = malloc(c.size);
        c.in = malloc(c.size);
        for (size_t i = 0; i < c.size; i++)
            c.out[i] = (unsigned char)(i * 31 + k);
        eva_task_init(loop, &c.task, echo_client_run, "client");
        eva_task_start(&c.task, NULL);
        test_run_until(loop, &c.done, 60000);
        assert_int_equal(eva_task_get_status(&c.task), 0);
        while (c.write_status == 1) /* its completion runs from the loop */
            eva_loop_run(loop, EVA_RUN_NOWAIT);
        assert_int_equal(c.write_status, 0);
        assert_memory_equal(c.in, c.out, c.size);
        free(c.out);
        free(c.in);
    }
    assert_int_equal(s.served, 5);
    test_loop_destroy(loop); /* closes the server; cancels its task */
}

/* ---- 1,000 concurrent clients ------------------------------------------------------- */

typedef struct small_client {
    eva_task task;
    struct sockaddr_in addr;
    eva_stream tcp;
    eva_tcp_connect_req cn;
    eva_stream_read_req rd;
    eva_stream_write_req w;
    char msg[100], echo[100];
    int *ok;
} small_client;

static eva_step small_client_run(void *frame) {
    small_client *c = frame;
    ASYNC_BEGIN(c);
    AWAIT(c, eva_tcp_connect_op(&c->cn, &c->tcp, (struct sockaddr *)&c->addr, sizeof c->addr, 10000));
    AWAIT(c, eva_stream_write_op(&c->w, &c->tcp, c->msg, sizeof c->msg));
    AWAIT(c, eva_stream_read_exact_op(&c->rd, &c->tcp, c->echo, sizeof c->echo));
    if (memcmp(c->msg, c->echo, sizeof c->msg) == 0)
        ++*c->ok;
    ASYNC_FINALLY(c);
    eva_stream_close(&c->tcp, EVA_STREAM_CLOSE_DISCARD, NULL);
    ASYNC_END(c);
}

static int clients_left;
static bool clients_done;

static void on_small_done(eva_task *t) {
    (void)t;
    if (--clients_left == 0)
        clients_done = true;
}

static void thousand_concurrent_clients(void **state) {
    (void)state;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rlim_t want = 2200;
    if (rl.rlim_cur < want && rl.rlim_max >= want) {
        rl.rlim_cur = want;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    int n = rl.rlim_cur >= want ? 1000 : (int)(rl.rlim_cur - 100) / 2;
    if (n < 1000)
        print_message("RLIMIT_NOFILE is %lu: %d clients instead of 1000\n", (unsigned long)rl.rlim_cur, n);
    eva_loop *loop = test_loop_new();
    echo_server s;
    struct sockaddr_in addr;
    start_echo_server(loop, &s, &addr);
    small_client *clients = calloc((size_t)n, sizeof *clients);
    int ok = 0;
    clients_left = n;
    clients_done = false;
    for (int i = 0; i < n; i++) {
        clients[i].addr = addr;
        clients[i].ok = &ok;
        memset(clients[i].msg, 'a' + i % 26, sizeof clients[i].msg);
        snprintf(clients[i].msg, sizeof clients[i].msg, "client %d", i);
        eva_task_init(loop, &clients[i].task, small_client_run, "small");
        eva_task_start(&clients[i].task, on_small_done);
    }
    test_run_until(loop, &clients_done, 60000);
    for (int i = 0; i < n; i++)
        assert_int_equal(eva_task_get_status(&clients[i].task), 0);
    assert_int_equal(ok, n);
    assert_int_equal(s.served, n);
    free(clients);
    test_loop_destroy(loop);
}

/* ---- a connected pair: one side wrapped in an eva_stream, the other raw ----------- */

static void raw_pair(int *ours, int *peer) {
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = loopback(0);
    socklen_t len = sizeof a;
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(l, 1), 0);
    getsockname(l, (struct sockaddr *)&a, &len);
    *peer = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(*peer, (struct sockaddr *)&a, sizeof a), 0);
    *ours = accept(l, NULL, NULL);
    assert_true(*ours >= 0);
    close(l);
    struct timeval tv = {.tv_sec = 10}; /* the raw side never blocks for ever */
    setsockopt(*peer, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(*peer, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

typedef struct conn_fixture {
    eva_loop *loop;
    eva_stream tcp;
    eva_stream_read_req rd;
    int peer;
    char buf[256];
    ssize_t n;
    int reads;
    bool done;
} conn_fixture;

static conn_fixture *fixture_new(void) {
    conn_fixture *f = calloc(1, sizeof *f);
    f->loop = test_loop_new();
    int ours;
    raw_pair(&ours, &f->peer);
    assert_int_equal(eva_stream_open(f->loop, &f->tcp, ours), 0);
    f->tcp.data = f;
    f->rd.data = f;
    return f;
}

static void fixture_free(conn_fixture *f) {
    eva_stream_close(&f->tcp, EVA_STREAM_CLOSE_DISCARD, NULL);
    if (f->peer >= 0)
        close(f->peer);
    test_loop_destroy(f->loop);
    free(f);
}

/* n: the status when it failed, else the bytes read */
static void on_read(eva_stream_read_req *req, int status) {
    conn_fixture *f = req->data;
    f->n = status < 0 ? status : req->nread;
    f->reads++;
    f->done = true;
}

typedef int (*read_start_fn)(eva_stream_read_req *, eva_stream *, void *, size_t, eva_stream_read_fn);

static ssize_t read_now(conn_fixture *f, read_start_fn start, size_t len) {
    f->done = false;
    assert_int_equal(start(&f->rd, &f->tcp, f->buf, len, on_read), 0);
    test_run_until(f->loop, &f->done, 10000);
    return f->n;
}

static void peer_reset_mid_read(void **state) {
    (void)state;
    conn_fixture *f = fixture_new();
    f->done = false;
    assert_int_equal(eva_stream_read(&f->rd, &f->tcp, f->buf, sizeof f->buf, on_read), 0);
    assert_int_equal(eva_stream_read(&f->rd, &f->tcp, f->buf, sizeof f->buf, on_read), -EBUSY);
    eva_stream_read_req other = {0};
    assert_int_equal(eva_stream_read(&other, &f->tcp, f->buf, sizeof f->buf, on_read), -EBUSY);
    eva_loop_run(f->loop, EVA_RUN_NOWAIT);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(f->peer, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(f->peer);
    f->peer = -1;
    test_run_until(f->loop, &f->done, 10000);
    assert_int_equal(f->n, -ECONNRESET);
    fixture_free(f);
}

static int write_status;
static void on_write(eva_stream_write_req *req, int status) {
    (void)req;
    write_status = status;
}

static void peer_reset_mid_write(void **state) {
    (void)state;
    conn_fixture *f = fixture_new();
    size_t size = 32 << 20; /* more than the socket buffers hold */
    char *big = calloc(1, size);
    eva_stream_write_req req = {0};
    struct iovec v = {.iov_base = big, .iov_len = size};
    write_status = 1;
    assert_int_equal(eva_stream_write(&req, &f->tcp, &v, 1, on_write), 1); /* above the high-water mark */
    eva_loop_run(f->loop, EVA_RUN_NOWAIT);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(f->peer, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(f->peer);
    f->peer = -1;
    while (write_status == 1)
        assert_true(eva_loop_run(f->loop, EVA_RUN_ONCE) >= 0);
    assert_true(write_status == -ECONNRESET || write_status == -EPIPE);
    assert_int_equal(eva_stream_write_copy(&f->tcp, "x", 1), -EPIPE); /* broken from now on */
    free(big);
    fixture_free(f);
}

static int connect_status;
static bool connect_done;
static void on_connect(eva_tcp_connect_req *req, int status) {
    (void)req;
    connect_status = status;
    connect_done = true;
}

static void connect_refused(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = loopback(0);
    socklen_t len = sizeof a;
    bind(s, (struct sockaddr *)&a, sizeof a);
    getsockname(s, (struct sockaddr *)&a, &len);
    close(s); /* a port nobody listens on */
    eva_stream tcp = {0};
    eva_tcp_connect_req cn = {0};
    connect_done = false;
    assert_int_equal(eva_tcp_connect(&cn, loop, &tcp, (struct sockaddr *)&a, sizeof a, 5000, on_connect), 0);
    test_run_until(loop, &connect_done, 10000);
    assert_int_equal(connect_status, -ECONNREFUSED);
    assert_false(eva_stream_is_open(&tcp));
    test_loop_destroy(loop);
}

/* A listener whose accept queue is full drops new SYNs: connects hang. */
static int full_listener(struct sockaddr_in *a, int fillers[2]) {
    int l = socket(AF_INET, SOCK_STREAM, 0);
    *a = loopback(0);
    socklen_t len = sizeof *a;
    bind(l, (struct sockaddr *)a, sizeof *a);
    listen(l, 0);
    getsockname(l, (struct sockaddr *)a, &len);
    for (int i = 0; i < 2; i++) {
        fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fillers[i], (struct sockaddr *)a, sizeof *a);
    }
    return l;
}

static void connect_timeout(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    struct sockaddr_in a;
    int fillers[2];
    int l = full_listener(&a, fillers);
    eva_stream tcp = {0};
    eva_tcp_connect_req cn = {0};
    connect_done = false;
    assert_int_equal(eva_tcp_connect(&cn, loop, &tcp, (struct sockaddr *)&a, sizeof a, 100, on_connect), 0);
    test_run_until(loop, &connect_done, 10000);
    assert_int_equal(connect_status, -ETIMEDOUT);
    assert_false(eva_stream_is_open(&tcp));
    close(fillers[0]);
    close(fillers[1]);
    close(l);
    test_loop_destroy(loop);
}

typedef struct timed_connector {
    eva_task task;
    eva_stream tcp;
    eva_tcp_connect_req cn;
    struct sockaddr_in addr;
} timed_connector;

static eva_step timed_connector_run(void *frame) {
    timed_connector *c = frame;
    ASYNC_BEGIN(c);
    AWAIT(c, eva_tcp_connect_op(&c->cn, &c->tcp, (struct sockaddr *)&c->addr, sizeof c->addr, 50));
    ASYNC_END(c);
}

static void connect_timeout_names_itself(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int fillers[2];
    timed_connector c = {0};
    int l = full_listener(&c.addr, fillers);
    eva_task_init(loop, &c.task, timed_connector_run, "connector");
    eva_task_start(&c.task, NULL);
    while (eva_task_get_state(&c.task) != EVA_TASK_DONE)
        assert_true(eva_loop_run(loop, EVA_RUN_ONCE) >= 0);
    assert_int_equal(eva_task_get_status(&c.task), -ETIMEDOUT);
    assert_non_null(strstr(eva_task_get_message(&c.task), "connect timeout"));
    close(fillers[0]);
    close(fillers[1]);
    close(l);
    test_loop_destroy(loop);
}

static int drains;
static void on_drain(eva_stream *tcp) {
    (void)tcp;
    drains++;
}

static void write_backpressure_with_a_stalled_reader(void **state) {
    (void)state;
    conn_fixture *f = fixture_new();
    int small = 16384;
    setsockopt(f->tcp.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(f->peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    assert_int_equal(eva_stream_set_watermarks(&f->tcp, 64 * 1024, 16 * 1024, on_drain), 0);
    drains = 0;
    unsigned char chunk[4096];
    size_t sent = 0;
    int rc = 0;
    for (int i = 0; i < 100000 && rc == 0; i++) { /* the peer reads nothing */
        for (size_t k = 0; k < sizeof chunk; k++)
            chunk[k] = (unsigned char)(sent + k);
        rc = eva_stream_write_copy(&f->tcp, chunk, sizeof chunk);
        sent += sizeof chunk;
    }
    assert_int_equal(rc, 1); /* backpressure, not unbounded buffering */
    assert_true(eva_stream_get_write_queue_size(&f->tcp) >= 64 * 1024);
    /* now the peer reads it all, in order */
    int fl = 1;
    (void)fl;
    size_t got = 0;
    unsigned char in[65536];
    while (got < sent) {
        eva_loop_run(f->loop, EVA_RUN_NOWAIT);
        ssize_t n = recv(f->peer, in, sizeof in, MSG_DONTWAIT);
        if (n <= 0)
            continue;
        for (ssize_t k = 0; k < n; k++)
            assert_int_equal(in[k], (unsigned char)(got + (size_t)k));
        got += (size_t)n;
    }
    assert_int_equal(eva_stream_get_write_queue_size(&f->tcp), 0);
    assert_int_equal(drains, 1);
    fixture_free(f);
}

static int read_until(eva_stream_read_req *req, eva_stream *tcp, void *buf, size_t max, eva_stream_read_fn cb) {
    return eva_stream_read_until(req, tcp, buf, max, "\r\n", 2, cb);
}

static void read_until_keeps_what_follows(void **state) {
    (void)state;
    conn_fixture *f = fixture_new();
    assert_int_equal(send(f->peer, "hello\r\nworld", 12, 0), 12);
    assert_int_equal(read_now(f, read_until, 64), 7);
    assert_memory_equal(f->buf, "hello\r\n", 7);
    assert_int_equal(read_now(f, eva_stream_read, sizeof f->buf), 5); /* not lost */
    assert_memory_equal(f->buf, "world", 5);
    /* a delimiter split across two arrivals */
    assert_int_equal(send(f->peer, "ab\r", 3, 0), 3);
    f->done = false;
    assert_int_equal(read_until(&f->rd, &f->tcp, f->buf, 64, on_read), 0);
    eva_loop_run(f->loop, EVA_RUN_NOWAIT);
    assert_int_equal(send(f->peer, "\ncd", 3, 0), 3);
    test_run_until(f->loop, &f->done, 10000);
    assert_int_equal(f->n, 4);
    assert_int_equal(read_now(f, eva_stream_read, sizeof f->buf), 2);
    fixture_free(f);
}

static void read_until_limit_and_eof(void **state) {
    (void)state;
    conn_fixture *f = fixture_new();
    assert_int_equal(send(f->peer, "abcdefgh", 8, 0), 8);
    assert_int_equal(read_now(f, read_until, 4), -EMSGSIZE); /* an error, not a truncation */
    assert_int_equal(read_now(f, eva_stream_read_exact, 4), 4); /* the rest is still there */
    assert_int_equal(send(f->peer, "xyz", 3, 0), 3);
    shutdown(f->peer, SHUT_WR);
    assert_int_equal(read_now(f, read_until, 64), EVA_EOF);
    assert_int_equal(read_now(f, eva_stream_read, sizeof f->buf), 0); /* EOF is a result */
    fixture_free(f);
}

static void read_exact_eof(void **state) {
    (void)state;
    conn_fixture *f = fixture_new();
    assert_int_equal(send(f->peer, "abc", 3, 0), 3);
    shutdown(f->peer, SHUT_WR);
    assert_int_equal(read_now(f, eva_stream_read_exact, 10), EVA_EOF);
    fixture_free(f);
}

static void read_timeout_leaves_connection_usable(void **state) {
    (void)state;
    conn_fixture *f = fixture_new();
    assert_int_equal(eva_stream_set_read_timeout(&f->tcp, 30), 0);
    assert_int_equal(read_now(f, eva_stream_read, sizeof f->buf), -ETIMEDOUT);
    assert_int_equal(send(f->peer, "late", 4, 0), 4);
    assert_int_equal(read_now(f, eva_stream_read, sizeof f->buf), 4);
    fixture_free(f);
}

/* A raw peer trickling one byte per tick from a timer of the loop. */
typedef struct trickle {
    eva_timer timer;
    int peer;
    int sent;
} trickle;

static void on_trickle(eva_timer *t) {
    trickle *tr = t->data;
    if (send(tr->peer, "x", 1, MSG_NOSIGNAL) == 1)
        tr->sent++;
}

static void trickle_start(trickle *tr, conn_fixture *f, int64_t every_ms) {
    *tr = (trickle){.peer = f->peer};
    eva_timer_init(f->loop, &tr->timer);
    eva_timer_start(&tr->timer, every_ms, every_ms, on_trickle, tr);
}

static void read_progress_postpones_the_read_timeout(void **state) {
    (void)state;
    conn_fixture *f = fixture_new();
    enum { BYTES = 12, EVERY_MS = 40, TIMEOUT_MS = 400 }; /* 480 ms in all, 40 between bytes */
    assert_int_equal(eva_stream_set_read_timeout(&f->tcp, TIMEOUT_MS), 0);
    trickle tr;
    trickle_start(&tr, f, EVERY_MS);
    assert_int_equal(read_now(f, eva_stream_read_exact, BYTES), BYTES);
    assert_true(tr.sent >= BYTES);
    eva_timer_stop(&tr.timer);
    fixture_free(f);
}

static void read_deadline_fires_despite_trickling_bytes(void **state) {
    (void)state;
    conn_fixture *f = fixture_new();
    /* an idle timeout far away: the deadline must move the timer earlier */
    assert_int_equal(eva_stream_set_read_timeout(&f->tcp, HOUR), 0);
    trickle tr;
    trickle_start(&tr, f, 20);
    f->done = false;
    assert_int_equal(eva_stream_read_exact(&f->rd, &f->tcp, f->buf, sizeof f->buf, on_read), 0);
    assert_int_equal(eva_stream_set_read_deadline(&f->tcp, 300), 0);
    test_run_until(f->loop, &f->done, 10000);
    assert_int_equal(f->n, -ETIMEDOUT);
    assert_true(tr.sent >= 2 && tr.sent < (int)sizeof f->buf); /* bytes came, not all */
    eva_timer_stop(&tr.timer);
    /* past the deadline, reads fail at once; cleared, they work again */
    assert_int_equal(eva_stream_read(&f->rd, &f->tcp, f->buf, sizeof f->buf, on_read), -ETIMEDOUT);
    assert_int_equal(eva_stream_set_read_deadline(&f->tcp, 0), 0);
    assert_int_equal(send(f->peer, "ok", 2, 0), 2);
    assert_true(read_now(f, eva_stream_read, sizeof f->buf) >= 2);
    fixture_free(f);
}

/* The AWAIT form says which timeout it was: the task's failure message
 * names evasync's own timer, not just "Connection timed out". */
typedef struct timed_reader {
    eva_task task;
    eva_stream *tcp;
    eva_stream_read_req rd;
    char buf[16];
} timed_reader;

static eva_step timed_reader_run(void *frame) {
    timed_reader *r = frame;
    ASYNC_BEGIN(r);
    AWAIT(r, eva_stream_read_op(&r->rd, r->tcp, r->buf, sizeof r->buf));
    ASYNC_END(r);
}

static const char *read_failure(conn_fixture *f) {
    timed_reader r = {.tcp = &f->tcp};
    eva_task_init(f->loop, &r.task, timed_reader_run, "timed");
    eva_task_start(&r.task, NULL);
    while (eva_task_get_state(&r.task) != EVA_TASK_DONE)
        assert_true(eva_loop_run(f->loop, EVA_RUN_ONCE) >= 0);
    assert_int_equal(eva_task_get_status(&r.task), -ETIMEDOUT);
    return eva_task_get_message(&r.task);
}

static void timeouts_name_themselves(void **state) {
    (void)state;
    conn_fixture *f = fixture_new();
    assert_int_equal(eva_stream_set_read_timeout(&f->tcp, 20), 0);
    assert_non_null(strstr(read_failure(f), "read timeout"));
    assert_int_equal(eva_stream_set_read_timeout(&f->tcp, 0), 0);
    assert_int_equal(eva_stream_set_read_deadline(&f->tcp, 20), 0);
    assert_non_null(strstr(read_failure(f), "read deadline")); /* it passed while waiting */
    assert_non_null(strstr(read_failure(f), "read deadline")); /* and stays passed */
    fixture_free(f);
}

static void read_timeout_costs_no_timer_restart_per_read(void **state) {
    (void)state;
    conn_fixture *f = fixture_new();
    assert_int_equal(eva_stream_set_read_timeout(&f->tcp, HOUR), 0);
    assert_int_equal(send(f->peer, "a", 1, 0), 1);
    assert_int_equal(read_now(f, eva_stream_read, sizeof f->buf), 1);
    f->done = false; /* park a read so the timer runs */
    assert_int_equal(eva_stream_read(&f->rd, &f->tcp, f->buf, sizeof f->buf, on_read), 0);
    assert_true(ev_is_active(&f->tcp.timer));
    ev_tstamp at = f->tcp.timer.at;
    for (int i = 0; i < 20; i++) {
        assert_int_equal(send(f->peer, "b", 1, 0), 1);
        test_run_until(f->loop, &f->done, 10000);
        assert_int_equal(f->n, 1);
        f->done = false;
        assert_int_equal(eva_stream_read(&f->rd, &f->tcp, f->buf, sizeof f->buf, on_read), 0);
        assert_true(f->tcp.timer.at == at); /* not moved: no heap operation per read */
    }
    fixture_free(f);
}

static void on_loop_timer(struct ev_loop *ev, ev_timer *w, int revents) {
    (void)revents;
    *(bool *)w->data = true;
    ev_break(ev, EVBREAK_ALL);
}

static void read_timer_left_running_does_not_hold_the_loop(void **state) {
    (void)state;
    conn_fixture *f = fixture_new();
    assert_int_equal(eva_stream_set_read_timeout(&f->tcp, HOUR), 0);
    f->done = false;
    assert_int_equal(eva_stream_read(&f->rd, &f->tcp, f->buf, sizeof f->buf, on_read), 0);
    assert_int_equal(send(f->peer, "a", 1, 0), 1);
    test_run_until(f->loop, &f->done, 10000);
    assert_true(ev_is_active(&f->tcp.timer)); /* still running, for the next read */
    /* nothing pending: the loop must return at once, not in an hour; an
     * unreferenced guard breaks it after 10 s if it does not */
    struct ev_loop *ev = eva_loop_get_ev(f->loop);
    bool held = false;
    ev_timer guard;
    ev_timer_init(&guard, on_loop_timer, 10., 0.);
    guard.data = &held;
    ev_timer_start(ev, &guard);
    ev_unref(ev);
    eva_loop_run(f->loop, EVA_RUN_DEFAULT);
    ev_ref(ev);
    ev_timer_stop(ev, &guard);
    assert_false(held);
    /* closing stops the unreferenced timer and gives its reference back: a
     * lost reference would make the loop return before this timer fires */
    eva_stream_close(&f->tcp, EVA_STREAM_CLOSE_DISCARD, NULL);
    bool fired = false;
    ev_timer probe;
    ev_timer_init(&probe, on_loop_timer, 0.05, 0.); /* not due at the first poll */
    probe.data = &fired;
    ev_timer_start(ev, &probe);
    eva_loop_run(f->loop, EVA_RUN_DEFAULT);
    assert_true(fired);
    fixture_free(f);
}

static int shut_status;
static bool shut_done;
static void on_shut(eva_stream_shutdown_req *req, int status) {
    (void)req;
    shut_status = status;
    shut_done = true;
}

static void half_close(void **state) {
    (void)state;
    conn_fixture *f = fixture_new();
    assert_int_equal(eva_stream_write_copy(&f->tcp, "req", 3), 0);
    shut_done = false;
    eva_stream_shutdown_req shut = {0}, again = {0};
    assert_int_equal(eva_stream_shutdown(&shut, &f->tcp, on_shut), 0);
    assert_int_equal(eva_stream_shutdown(&shut, &f->tcp, on_shut), -EBUSY);
    assert_int_equal(eva_stream_shutdown(&again, &f->tcp, on_shut), -EALREADY);
    test_run_until(f->loop, &shut_done, 10000);
    assert_int_equal(shut_status, 0);
    char in[8];
    assert_int_equal(recv(f->peer, in, sizeof in, MSG_WAITALL), 3); /* then EOF */
    assert_int_equal(eva_stream_write_copy(&f->tcp, "x", 1), -EPIPE);
    assert_int_equal(send(f->peer, "resp", 4, 0), 4); /* we can still read */
    assert_int_equal(read_now(f, eva_stream_read_exact, 4), 4);
    assert_memory_equal(f->buf, "resp", 4);
    fixture_free(f);
}

static int close_status;
static bool close_done;
static void on_close(eva_stream *tcp, int status) {
    (void)tcp;
    close_status = status;
    close_done = true;
}

static void close_flush_delivers_everything(void **state) {
    (void)state;
    conn_fixture *f = fixture_new();
    size_t size = 4 << 20;
    char *big = malloc(size);
    memset(big, 'q', size);
    assert_true(eva_stream_write_copy(&f->tcp, big, size) >= 0);
    close_done = false;
    assert_int_equal(eva_stream_close(&f->tcp, EVA_STREAM_CLOSE_FLUSH, on_close), 0);
    size_t got = 0;
    while (!close_done || got < size) {
        eva_loop_run(f->loop, EVA_RUN_NOWAIT);
        ssize_t n = recv(f->peer, big, size, MSG_DONTWAIT);
        if (n > 0)
            got += (size_t)n;
        if (n == 0)
            break;
    }
    assert_int_equal(got, size);
    test_run_until(f->loop, &close_done, 10000);
    assert_int_equal(close_status, 0);
    assert_false(eva_stream_is_open(&f->tcp));
    free(big);
    fixture_free(f);
}

static void close_discard_cancels_queued_writes(void **state) {
    (void)state;
    conn_fixture *f = fixture_new();
    int small = 4096;
    setsockopt(f->tcp.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(f->peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    size_t size = 8 << 20;
    char *big = calloc(1, size);
    eva_stream_write_req req = {0};
    struct iovec v = {.iov_base = big, .iov_len = size};
    write_status = 1;
    eva_stream_write(&req, &f->tcp, &v, 1, on_write);
    f->done = false;
    eva_stream_read(&f->rd, &f->tcp, f->buf, sizeof f->buf, on_read);
    close_done = false;
    assert_int_equal(eva_stream_close(&f->tcp, EVA_STREAM_CLOSE_DISCARD, on_close), 0);
    assert_int_equal(eva_stream_close(&f->tcp, EVA_STREAM_CLOSE_DISCARD, on_close), 0); /* idempotent */
    assert_int_equal(write_status, 1); /* never inside close */
    test_run_until(f->loop, &close_done, 10000);
    assert_int_equal(write_status, -ECANCELED);
    assert_int_equal(f->n, -ECANCELED);
    assert_int_equal(eva_stream_read(&f->rd, &f->tcp, f->buf, 1, on_read), -ENOTCONN);
    free(big);
    fixture_free(f);
}

/* ---- cancelling each operation --------------------------------------------------- */

typedef enum which_op { OP_READ, OP_CONNECT, OP_ACCEPT, OP_WRITE } which_op;

typedef struct canceller {
    eva_task task;
    which_op op;
    eva_stream *tcp;
    eva_server *srv;
    struct sockaddr_in addr;
    eva_stream_read_req rd;
    eva_tcp_connect_req cn;
    eva_server_accept_req acc;
    eva_stream_write_req w;
    char buf[64];
    char *big;
    size_t big_len;
    int rc;
} canceller;

static eva_step canceller_run(void *frame) {
    canceller *c = frame;
    ASYNC_BEGIN(c);
    if (c->op == OP_READ)
        AWAIT_RC(c, c->rc, eva_stream_read_op(&c->rd, c->tcp, c->buf, sizeof c->buf));
    else if (c->op == OP_CONNECT)
        AWAIT_RC(c, c->rc, eva_tcp_connect_op(&c->cn, c->tcp, (struct sockaddr *)&c->addr, sizeof c->addr, 0));
    else if (c->op == OP_ACCEPT)
        AWAIT_RC(c, c->rc, eva_server_accept_op(&c->acc, c->srv));
    else
        AWAIT_RC(c, c->rc, eva_stream_write_op(&c->w, c->tcp, c->big, c->big_len));
    ASYNC_END(c);
}

static void cancel_after_parking(eva_loop *loop, canceller *c, const char *kind) {
    eva_task_init(loop, &c->task, canceller_run, "canceller");
    eva_task_start(&c->task, NULL);
    eva_loop_run(loop, EVA_RUN_NOWAIT);
    assert_int_equal(eva_task_get_state(&c->task), EVA_TASK_SUSPENDED);
    assert_string_equal(c->task.wait->kind, kind);
    eva_task_cancel(&c->task);
    while (eva_task_get_state(&c->task) != EVA_TASK_DONE)
        assert_true(eva_loop_run(loop, EVA_RUN_ONCE) >= 0);
    assert_int_equal(c->rc, -ECANCELED);
}

static void cancel_each_operation(void **state) {
    (void)state;
    /* read: withdrawn; the connection stays usable */
    conn_fixture *f = fixture_new();
    canceller c = {.op = OP_READ, .tcp = &f->tcp, .rc = 1};
    cancel_after_parking(f->loop, &c, "read");
    assert_int_equal(send(f->peer, "still", 5, 0), 5);
    assert_int_equal(read_now(f, eva_stream_read, sizeof f->buf), 5);

    /* write: a queued write that had not started leaves cleanly */
    int small = 4096;
    setsockopt(f->tcp.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(f->peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    size_t fill = 8 << 20;
    char *big = calloc(1, fill);
    eva_stream_write_req first = {0};
    struct iovec v = {.iov_base = big, .iov_len = fill};
    write_status = 1;
    eva_stream_write(&first, &f->tcp, &v, 1, on_write); /* fills the socket */
    canceller w = {.op = OP_WRITE, .tcp = &f->tcp, .big = big, .big_len = 100, .rc = 1};
    cancel_after_parking(f->loop, &w, "write");
    assert_true(eva_stream_is_open(&f->tcp));
    assert_int_equal(eva_stream_get_write_queue_size(&f->tcp), first.remaining);
    eva_stream_close(&f->tcp, EVA_STREAM_CLOSE_DISCARD, NULL);
    while (write_status == 1)
        eva_loop_run(f->loop, EVA_RUN_NOWAIT);
    free(big);
    fixture_free(f);

    /* connect: the socket is closed */
    eva_loop *loop = test_loop_new();
    int fillers[2];
    eva_stream tcp = {0};
    canceller k = {.op = OP_CONNECT, .tcp = &tcp, .rc = 1};
    int l = full_listener(&k.addr, fillers);
    cancel_after_parking(loop, &k, "connect");
    assert_false(eva_stream_is_open(&tcp));
    close(l);
    close(fillers[0]);
    close(fillers[1]);

    /* accept */
    eva_server srv = {0};
    struct sockaddr_in addr;
    listen_any(loop, &srv, &addr);
    canceller a = {.op = OP_ACCEPT, .srv = &srv, .rc = 1};
    cancel_after_parking(loop, &a, "accept");
    eva_server_close(&srv);
    test_loop_destroy(loop);
}

/* ---- accepting in bounded batches -------------------------------------------------- */

enum { BURST = 10, BATCH = 4 };

/* A burst of BURST connections waits in the backlog; with accept_batch BATCH
 * no loop iteration may hand out more than BATCH of them, another watcher
 * (an always-readable pipe, one event per iteration) must run between the
 * batches, and the leftover backlog must be taken without a new connection.
 * Iterations are told apart by libev's count: an accept may happen before
 * or after the other watcher within its iteration (a task resumed from the
 * ready list runs before the IO callbacks, one woken by the listener after). */
typedef struct burst {
    eva_task task;               /* pull mode: the accepting task */
    eva_loop *loop;
    eva_server srv;
    eva_io other;
    int pipe[2];
    eva_server_accept_req acc;
    unsigned ticks;              /* events the other watcher saw */
    unsigned iteration_of[BURST]; /* the loop iteration each connection was accepted in */
    int accepted;
    bool done;
} burst;

static void on_other(eva_io *io, int events) {
    (void)events;
    ((burst *)io->data)->ticks++;
}

static void burst_took(burst *b, int fd) {
    close(fd);
    assert_true(b->accepted < BURST);
    b->iteration_of[b->accepted++] = ev_iteration(eva_loop_get_ev(b->loop));
    b->done = b->accepted == BURST;
}

static void on_burst_accept(eva_server *srv, int fd) { burst_took(srv->data, fd); }

static eva_step burst_accept_run(void *frame) {
    burst *b = frame;
    ASYNC_BEGIN(b);
    while (!b->done) {
        AWAIT(b, eva_server_accept_op(&b->acc, &b->srv));
        burst_took(b, b->acc.fd);
    }
    ASYNC_END(b);
}

static void burst_check(bool pull) {
    eva_loop *loop = test_loop_new();
    burst *b = calloc(1, sizeof *b);
    b->loop = loop;
    eva_tcp_listen_options opts = {.accept_batch = BATCH};
    assert_int_equal(eva_tcp_listen_ip(loop, &b->srv, "127.0.0.1", 0, &opts), 0);
    struct sockaddr_in addr = loopback(eva_tcp_server_get_port(&b->srv));
    int clients[BURST];
    for (int i = 0; i < BURST; i++) { /* all in the backlog before anything is accepted */
        clients[i] = socket(AF_INET, SOCK_STREAM, 0);
        assert_int_equal(connect(clients[i], (struct sockaddr *)&addr, sizeof addr), 0);
    }
    assert_int_equal(pipe(b->pipe), 0);
    assert_int_equal(write(b->pipe[1], "x", 1), 1);
    eva_io_init(loop, &b->other);
    eva_io_start(&b->other, b->pipe[0], EVA_READ, on_other, b);
    b->srv.data = b;
    if (pull) {
        eva_task_init(loop, &b->task, burst_accept_run, "burst");
        eva_task_start(&b->task, NULL);
    } else {
        assert_int_equal(eva_server_accept_start(&b->srv, on_burst_accept), 0);
    }
    test_run_until(loop, &b->done, 10000);
    /* An accept that completed at once reaches a task that yields after it
     * (shuffle mode does so on purpose) an iteration later: that iteration
     * delivers one more than it accepted. */
    int limit = BATCH + (pull && test_shuffling());
    int in_batch = 1, batches = 1;
    for (int i = 1; i < BURST; i++) {
        assert_true(b->iteration_of[i] >= b->iteration_of[i - 1]);
        in_batch = b->iteration_of[i] == b->iteration_of[i - 1] ? in_batch + 1 : 1;
        batches += in_batch == 1;
        assert_true(in_batch <= limit);
    }
    assert_true(batches >= (BURST + limit - 1) / limit);
    assert_true(b->ticks >= (unsigned)batches - 1); /* it ran between every two batches */
    eva_io_stop(&b->other);
    eva_server_close(&b->srv);
    for (int i = 0; i < BURST; i++)
        close(clients[i]);
    close(b->pipe[0]);
    close(b->pipe[1]);
    test_loop_destroy(loop);
    free(b);
}

static void accept_push_mode_takes_a_burst_in_batches(void **state) {
    (void)state;
    burst_check(false);
}

static void accept_pull_mode_takes_a_burst_in_batches(void **state) {
    (void)state;
    burst_check(true);
}

/* ---- loop destroy, promise form, invalid arguments ------------------------------- */

static void close_fd_stub(eva_server *srv, int fd) {
    (void)srv;
    close(fd);
}

static void destroy_closes_open_connections(void **state) {
    (void)state;
    conn_fixture *f = fixture_new();
    eva_server srv = {0};
    struct sockaddr_in addr;
    listen_any(f->loop, &srv, &addr);
    assert_int_equal(eva_server_accept_start(&srv, close_fd_stub), 0);
    f->done = false;
    eva_stream_read(&f->rd, &f->tcp, f->buf, sizeof f->buf, on_read);
    test_loop_destroy(f->loop);
    assert_true(f->done);
    assert_int_equal(f->n, -ECANCELED);
    assert_false(eva_stream_is_open(&f->tcp));
    assert_int_equal(eva_stream_close(&f->tcp, EVA_STREAM_CLOSE_DISCARD, NULL), 0); /* no-op now */
    assert_int_equal(eva_server_close(&srv), 0);
    close(f->peer);
    free(f);
}

static void promise_form_of_a_read(void **state) {
    (void)state;
    conn_fixture *f = fixture_new();
    eva_promise *p;
    assert_int_equal(eva_stream_read_promise(&f->tcp, f->buf, sizeof f->buf, &p), 0);
    assert_int_equal(send(f->peer, "promised", 8, 0), 8);
    while (eva_promise_get_state(p) == EVA_PROMISE_PENDING)
        assert_true(eva_loop_run(f->loop, EVA_RUN_ONCE) >= 0);
    assert_int_equal(eva_promise_get_state(p), EVA_PROMISE_FULFILLED);
    const eva_stream_read_req *done = eva_promise_get_value(p); /* the request is the value */
    assert_int_equal(done->nread, 8);
    assert_memory_equal(f->buf, "promised", 8);
    eva_promise_unref(p);
    /* cancelling the promise withdraws the read */
    assert_int_equal(eva_stream_read_promise(&f->tcp, f->buf, sizeof f->buf, &p), 0);
    eva_loop_run(f->loop, EVA_RUN_NOWAIT);
    eva_promise_cancel(p);
    while (eva_promise_get_state(p) == EVA_PROMISE_PENDING)
        assert_true(eva_loop_run(f->loop, EVA_RUN_ONCE) >= 0);
    assert_int_equal(eva_promise_get_error(p), -ECANCELED);
    eva_promise_unref(p);
    fixture_free(f);
}

/* Every operation's promise form, on one connection pair made by them. */
static bool settle(eva_loop *loop, eva_promise *p) {
    while (eva_promise_get_state(p) == EVA_PROMISE_PENDING)
        assert_true(eva_loop_run(loop, EVA_RUN_ONCE) >= 0);
    return eva_promise_get_state(p) == EVA_PROMISE_FULFILLED;
}

static void promise_forms_of_every_operation(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_server srv = {0};
    struct sockaddr_in addr;
    listen_any(loop, &srv, &addr);
    eva_stream client = {0}, server_side = {0};
    eva_promise *acc, *cn, *p;
    assert_int_equal(eva_server_accept_promise(&srv, &acc), 0);
    assert_int_equal(eva_tcp_connect_promise(loop, &client, (struct sockaddr *)&addr, sizeof addr, 5000, &cn), 0);
    assert_true(settle(loop, cn));
    assert_true(settle(loop, acc));
    const eva_server_accept_req *a = eva_promise_get_value(acc);
    assert_true(a->fd >= 0);
    assert_int_equal(eva_stream_open(loop, &server_side, a->fd), 0);
    eva_promise_unref(acc);
    eva_promise_unref(cn);
    char line[] = "hi\r\nthere", in[16] = {0};
    assert_int_equal(eva_stream_write_promise(&client, line, sizeof line - 1, &p), 0);
    line[0] = 'X'; /* copied: the write is unchanged */
    assert_true(settle(loop, p));
    eva_promise_unref(p);
    assert_int_equal(eva_stream_drain_promise(&client, &p), 0);
    assert_true(settle(loop, p));
    eva_promise_unref(p);
    assert_int_equal(eva_stream_read_until_promise(&server_side, in, sizeof in, "\r\n", 2, &p), 0);
    assert_true(settle(loop, p));
    assert_int_equal(((const eva_stream_read_req *)eva_promise_get_value(p))->nread, 4);
    assert_memory_equal(in, "hi\r\n", 4);
    eva_promise_unref(p);
    assert_int_equal(eva_stream_read_exact_promise(&server_side, in, 5, &p), 0);
    assert_true(settle(loop, p));
    assert_memory_equal(in, "there", 5);
    eva_promise_unref(p);
    assert_int_equal(eva_stream_shutdown_promise(&client, &p), 0);
    assert_true(settle(loop, p));
    eva_promise_unref(p);
    assert_int_equal(eva_stream_read_promise(&server_side, in, sizeof in, &p), 0);
    assert_true(settle(loop, p));
    assert_int_equal(((const eva_stream_read_req *)eva_promise_get_value(p))->nread, 0); /* EOF */
    eva_promise_unref(p);
    assert_int_equal(eva_stream_close_promise(&client, EVA_STREAM_CLOSE_FLUSH, &p), 0);
    assert_true(settle(loop, p));
    assert_false(eva_stream_is_open(&client));
    eva_promise_unref(p);
    /* a failing start rejects the promise with its error */
    assert_int_equal(eva_stream_read_promise(&client, in, sizeof in, &p), 0);
    assert_false(settle(loop, p));
    assert_int_equal(eva_promise_get_error(p), -ENOTCONN);
    eva_promise_unref(p);
    eva_stream_close(&server_side, EVA_STREAM_CLOSE_DISCARD, NULL);
    eva_server_close(&srv);
    test_loop_destroy(loop);
}

/* ---- requests own their arguments ------------------------------------------------ */

/* A task that awaits one prepared op (built before the AWAIT, by the test). */
typedef struct op_waiter {
    eva_task task;
    eva_op op;
    int rc;
} op_waiter;

static eva_step op_waiter_run(void *frame) {
    op_waiter *w = frame;
    ASYNC_BEGIN(w);
    AWAIT_RC(w, w->rc, w->op);
    ASYNC_END(w);
}

static void await_op(eva_loop *loop, op_waiter *w, eva_op op) {
    *w = (op_waiter){.op = op, .rc = 1};
    eva_task_init(loop, &w->task, op_waiter_run, "op_waiter");
    eva_task_start(&w->task, NULL);
}

static void run_until_done(eva_loop *loop, eva_task *t) {
    while (eva_task_get_state(t) != EVA_TASK_DONE)
        assert_true(eva_loop_run(loop, EVA_RUN_ONCE) >= 0);
}

/* Building an op on a request in flight changes nothing (not the request,
 * not the connection), and starting it fails with -EBUSY. */
static void an_op_built_on_a_request_in_flight_touches_nothing(void **state) {
    (void)state;
    conn_fixture *f = fixture_new();
    assert_int_equal(eva_stream_read(&f->rd, &f->tcp, f->buf, sizeof f->buf, on_read), 0);
    char other[8];
    eva_stream_read_req before = f->rd;
    eva_op op = eva_stream_read_until_op(&f->rd, &f->tcp, other, sizeof other, "\n", 1);
    assert_memory_equal(&f->rd, &before, sizeof before);
    assert_ptr_equal(f->tcp.rd, &f->rd);
    op_waiter w;
    await_op(f->loop, &w, op);
    run_until_done(f->loop, &w.task);
    assert_int_equal(w.rc, -EBUSY);
    assert_false(f->done);
    /* the read in flight is undisturbed: its buffer, its mode, its callback */
    assert_int_equal(send(f->peer, "abc\ndef", 7, 0), 7);
    test_run_until(f->loop, &f->done, 10000);
    assert_int_equal(f->n, 7);
    assert_memory_equal(f->buf, "abc\ndef", 7);
    /* the same holds for the other requests' builders */
    eva_stream_write_req wr = {0};
    wr.req.busy = true; /* as if in flight */
    eva_stream_write_req wr_before = wr;
    await_op(f->loop, &w, eva_stream_write_op(&wr, &f->tcp, other, sizeof other));
    assert_memory_equal(&wr, &wr_before, sizeof wr);
    run_until_done(f->loop, &w.task);
    assert_int_equal(w.rc, -EBUSY);
    fixture_free(f);
}

/* Two reads built on one connection with two requests: the second start is
 * refused, the first keeps its own arguments and gets the bytes. */
typedef struct two_reads {
    eva_task task;
    eva_stream *tcp;
    eva_stream_read_req rd;
    char buf[16];
    int rc;
} two_reads;

static eva_step two_reads_run(void *frame) {
    two_reads *r = frame;
    ASYNC_BEGIN(r);
    AWAIT_RC(r, r->rc, eva_stream_read_op(&r->rd, r->tcp, r->buf, sizeof r->buf));
    ASYNC_END(r);
}

static void a_second_read_on_a_connection_leaves_the_first_alone(void **state) {
    (void)state;
    conn_fixture *f = fixture_new();
    two_reads first = {.tcp = &f->tcp, .rc = 1}, second = {.tcp = &f->tcp, .rc = 1};
    eva_task_init(f->loop, &first.task, two_reads_run, "first");
    eva_task_init(f->loop, &second.task, two_reads_run, "second");
    eva_task_start(&first.task, NULL);
    while (eva_task_get_state(&first.task) != EVA_TASK_SUSPENDED) /* tasks started together */
        assert_true(eva_loop_run(f->loop, EVA_RUN_ONCE) >= 0);   /* run in no promised order */
    eva_task_start(&second.task, NULL);
    run_until_done(f->loop, &second.task);
    assert_int_equal(second.rc, -EBUSY);
    assert_int_equal(eva_task_get_state(&first.task), EVA_TASK_SUSPENDED);
    assert_int_equal(send(f->peer, "first", 5, 0), 5);
    run_until_done(f->loop, &first.task);
    assert_int_equal(first.rc, 0);
    assert_int_equal(first.rd.nread, 5);
    assert_memory_equal(first.buf, "first", 5);
    assert_int_equal(second.rd.nread, 0);
    fixture_free(f);
}

/* The address is copied when the op is built: freed (ASan would see a later
 * read) before the AWAIT starts, it still connects. */
static void a_connect_address_gone_after_the_build_still_connects(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_server srv = {0};
    struct sockaddr_in addr;
    listen_any(loop, &srv, &addr);
    assert_int_equal(eva_server_accept_start(&srv, close_fd_stub), 0);
    eva_stream tcp = {0};
    eva_tcp_connect_req cn = {0};
    struct sockaddr_in *gone = malloc(sizeof *gone);
    *gone = addr;
    eva_op op = eva_tcp_connect_op(&cn, &tcp, (struct sockaddr *)gone, sizeof *gone, 5000);
    memset(gone, 0xff, sizeof *gone);
    free(gone);
    assert_false(eva_stream_is_open(&tcp)); /* building touched only the request */
    op_waiter w;
    await_op(loop, &w, op);
    run_until_done(loop, &w.task);
    assert_int_equal(w.rc, 0);
    assert_true(eva_stream_is_open(&tcp));
    eva_stream_close(&tcp, EVA_STREAM_CLOSE_DISCARD, NULL);
    eva_server_close(&srv);
    test_loop_destroy(loop);
}

static void tcp_rejects_invalid_arguments(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_stream tcp = {0};
    eva_server srv = {0};
    eva_stream_write_req req = {0};
    eva_stream_read_req rd = {0};
    eva_tcp_connect_req cn = {0};
    eva_stream_shutdown_req shut = {0};
    char buf[4];
    struct iovec v = {.iov_base = buf, .iov_len = 4};
    struct sockaddr_in a = loopback(1);
    struct sockaddr unix_addr = {.sa_family = AF_UNIX};
    assert_int_equal(eva_tcp_listen_ip(loop, &srv, "not-an-ip", 0, NULL), -EINVAL);
    assert_int_equal(eva_tcp_listen(NULL, &srv, (struct sockaddr *)&a, sizeof a, NULL), -EINVAL);
    assert_int_equal(eva_tcp_listen(loop, &srv, &unix_addr, sizeof unix_addr, NULL), -EINVAL);
    eva_tcp_listen_options negative_batch = {.accept_batch = -1};
    assert_int_equal(eva_tcp_listen(loop, &srv, (struct sockaddr *)&a, sizeof a, &negative_batch), -EINVAL);
    assert_int_equal(eva_tcp_server_get_port(&srv), -EBADF);
    assert_int_equal(eva_server_accept_start(&srv, close_fd_stub), -EINVAL);
    assert_int_equal(eva_stream_open(loop, &tcp, -1), -EINVAL);
    assert_int_equal(eva_stream_open(loop, &tcp, 12345), -EBADF);
    assert_int_equal(eva_tcp_connect(&cn, loop, &tcp, (struct sockaddr *)&a, sizeof a, -1, on_connect), -EINVAL);
    assert_int_equal(eva_tcp_connect(&cn, loop, &tcp, &unix_addr, sizeof unix_addr, 0, on_connect), -EINVAL);
    assert_int_equal(eva_tcp_connect(&cn, loop, &tcp, (struct sockaddr *)&a, 4, 0, on_connect), -EINVAL);
    assert_int_equal(eva_stream_read(&rd, &tcp, buf, sizeof buf, on_read), -ENOTCONN);
    assert_int_equal(eva_stream_read(&rd, &tcp, buf, 0, on_read), -EINVAL);
    assert_int_equal(eva_stream_read(NULL, &tcp, buf, sizeof buf, on_read), -EINVAL);
    assert_int_equal(eva_stream_read_until(&rd, &tcp, buf, 4, "", 0, on_read), -EINVAL);
    assert_int_equal(eva_stream_write(&req, &tcp, &v, 1, on_write), -ENOTCONN);
    assert_int_equal(eva_stream_write(&req, &tcp, &v, 0, on_write), -EINVAL);
    assert_int_equal(eva_stream_write(&req, &tcp, &v, EVA_STREAM_WRITE_IOV + 1, on_write), -EINVAL);
    assert_int_equal(eva_stream_write_copy(&tcp, "x", 1), -ENOTCONN);
    assert_int_equal(eva_stream_shutdown(&shut, &tcp, on_shut), -ENOTCONN);
    assert_int_equal(eva_stream_shutdown(&shut, &tcp, NULL), -EINVAL);
    assert_int_equal(eva_stream_set_watermarks(&tcp, 10, 20, NULL), -EINVAL);
    assert_int_equal(eva_stream_set_read_timeout(&tcp, -1), -EINVAL);
    assert_int_equal(eva_stream_set_read_deadline(&tcp, -1), -EINVAL);
    assert_int_equal(eva_stream_set_read_deadline(&tcp, 10), -ENOTCONN);
    assert_int_equal(eva_stream_close(&tcp, (eva_stream_close_how)9, NULL), -EINVAL);
    assert_int_equal(eva_stream_close(&tcp, EVA_STREAM_CLOSE_FLUSH, NULL), 0); /* not open: no-op */
    assert_int_equal(eva_stream_get_fd(&tcp), -EBADF);
    assert_false(eva_stream_is_open(NULL));
    test_loop_destroy(loop);
}

int main(void) {
    signal(SIGPIPE, SIG_DFL); /* prove no write can raise it: it would kill the test */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(echo_round_trips_from_1_byte_to_16_mib),
        cmocka_unit_test(thousand_concurrent_clients),
        cmocka_unit_test(peer_reset_mid_read),
        cmocka_unit_test(peer_reset_mid_write),
        cmocka_unit_test(connect_refused),
        cmocka_unit_test(connect_timeout),
        cmocka_unit_test(write_backpressure_with_a_stalled_reader),
        cmocka_unit_test(read_until_keeps_what_follows),
        cmocka_unit_test(read_until_limit_and_eof),
        cmocka_unit_test(read_exact_eof),
        cmocka_unit_test(read_timeout_leaves_connection_usable),
        cmocka_unit_test(timeouts_name_themselves),
        cmocka_unit_test(connect_timeout_names_itself),
        cmocka_unit_test(read_progress_postpones_the_read_timeout),
        cmocka_unit_test(read_deadline_fires_despite_trickling_bytes),
        cmocka_unit_test(read_timeout_costs_no_timer_restart_per_read),
        cmocka_unit_test(read_timer_left_running_does_not_hold_the_loop),
        cmocka_unit_test(half_close),
        cmocka_unit_test(close_flush_delivers_everything),
        cmocka_unit_test(close_discard_cancels_queued_writes),
        cmocka_unit_test(cancel_each_operation),
        cmocka_unit_test(accept_push_mode_takes_a_burst_in_batches),
        cmocka_unit_test(accept_pull_mode_takes_a_burst_in_batches),
        cmocka_unit_test(destroy_closes_open_connections),
        cmocka_unit_test(promise_form_of_a_read),
        cmocka_unit_test(promise_forms_of_every_operation),
        cmocka_unit_test(an_op_built_on_a_request_in_flight_touches_nothing),
        cmocka_unit_test(a_second_read_on_a_connection_leaves_the_first_alone),
        cmocka_unit_test(a_connect_address_gone_after_the_build_still_connects),
        cmocka_unit_test(tcp_rejects_invalid_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
