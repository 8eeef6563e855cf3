/* UDP on loopback, IPv4 and IPv6: send and receive in the three styles,
 * push mode's batched receive, truncation, ICMP errors on connected sockets,
 * oversized datagrams, the send queue (forced full) going out with
 * sendmmsg, cancellation, close and loop destroy with operations pending,
 * options and bad arguments. */
#define _GNU_SOURCE /* RTLD_NEXT, sendmmsg */
#include <dlfcn.h>
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>
#include <cmocka.h>

#include "helpers.h"

enum { GUARD_MS = 5000 };

/* ---- the socket full, on demand ---------------------------------------------------
 *
 * A UDP send on loopback never finds the socket full (loopback frees each
 * datagram's send-buffer charge as it hands it over), so the send queue is
 * reached by interposing the two send calls evasync makes: while
 * socket_full is set they fail with EAGAIN, as a full socket does.  They
 * also count the calls. */

static bool socket_full;
static int sendmsg_calls, sendmmsg_calls;

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags) {
    static ssize_t (*real)(int, const struct msghdr *, int);
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "sendmsg");
    sendmsg_calls++;
    if (socket_full) {
        errno = EAGAIN;
        return -1;
    }
    return real(fd, msg, flags);
}

int sendmmsg(int fd, struct mmsghdr *msgs, unsigned n, int flags) {
    static int (*real)(int, struct mmsghdr *, unsigned, int);
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "sendmmsg");
    sendmmsg_calls++;
    if (socket_full) {
        errno = EAGAIN;
        return -1;
    }
    return real(fd, msgs, n, flags);
}

/* ---- fixtures ------------------------------------------------------------------------ */

static eva_udp_addr loopback(int family, int port) {
    eva_udp_addr a = {0};
    if (family == AF_INET) {
        a.in.sin_family = AF_INET;
        a.in.sin_port = htons((uint16_t)port);
        a.in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else {
        a.in6.sin6_family = AF_INET6;
        a.in6.sin6_port = htons((uint16_t)port);
        a.in6.sin6_addr = in6addr_loopback;
    }
    return a;
}

static socklen_t addr_len(int family) {
    return family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

/* Open udp bound to loopback on a free port; *addr is where it listens. */
static void bind_any(eva_loop *loop, eva_udp *udp, int family, eva_udp_addr *addr) {
    *udp = (eva_udp){0};
    assert_int_equal(eva_udp_open(loop, udp, family), 0);
    eva_udp_addr a = loopback(family, 0);
    assert_int_equal(eva_udp_bind(udp, &a.sa, addr_len(family), 0), 0);
    int port = eva_udp_get_port(udp);
    assert_true(port > 0);
    *addr = loopback(family, port);
}

/* A plain blocking socket, the other end. */
static int raw_socket(int family) {
    int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    return fd;
}

static void raw_send(int fd, const eva_udp_addr *to, int family, const char *msg) {
    assert_int_equal(sendto(fd, msg, strlen(msg), 0, &to->sa, addr_len(family)), (ssize_t)strlen(msg));
}

/* A port nothing listens on (bound then closed: the kernel answers ICMP). */
static eva_udp_addr closed_port(int family) {
    int fd = raw_socket(family);
    eva_udp_addr a = loopback(family, 0);
    socklen_t len = addr_len(family);
    assert_int_equal(bind(fd, &a.sa, len), 0);
    assert_int_equal(getsockname(fd, &a.sa, &len), 0);
    close(fd);
    return a;
}

static void on_guard(eva_timer *t) { *(bool *)t->data = true; }

/* Run the loop until *n reaches target (a guard timer bounds the wait). */
static void run_until_count(eva_loop *loop, const int *n, int target) {
    bool expired = false;
    eva_timer guard;
    assert_int_equal(eva_timer_init(loop, &guard), 0);
    assert_int_equal(eva_timer_start(&guard, GUARD_MS, 0, on_guard, &expired), 0);
    while (*n < target && !expired)
        assert_true(eva_loop_run(loop, EVA_RUN_ONCE) >= 0);
    eva_timer_stop(&guard);
    if (*n < target)
        fail_msg("%d of %d within %d ms", *n, target, GUARD_MS);
}

static void settle(eva_loop *loop, eva_promise *p) {
    bool expired = false;
    eva_timer guard;
    assert_int_equal(eva_timer_init(loop, &guard), 0);
    assert_int_equal(eva_timer_start(&guard, GUARD_MS, 0, on_guard, &expired), 0);
    while (eva_promise_get_state(p) == EVA_PROMISE_PENDING && !expired)
        assert_true(eva_loop_run(loop, EVA_RUN_ONCE) >= 0);
    eva_timer_stop(&guard);
    assert_int_not_equal(eva_promise_get_state(p), EVA_PROMISE_PENDING);
}

/* ---- the callback style ------------------------------------------------------------------ */

typedef struct cb_state {
    int recv_status, send_status;
    bool received, sent;
    char buf[64];
} cb_state;

static void on_recv(eva_udp_recv_req *req, int status) {
    cb_state *s = req->data;
    s->recv_status = status;
    s->received = true;
}

static void on_sent(eva_udp_send_req *req, int status) {
    cb_state *s = req->data;
    s->send_status = status;
    s->sent = true;
}

static void callback_style(int family) {
    eva_loop *loop = test_loop_new();
    eva_udp a, b;
    eva_udp_addr aa, ba;
    bind_any(loop, &a, family, &aa);
    bind_any(loop, &b, family, &ba);
    cb_state s = {0};
    eva_udp_recv_req rr = {.data = &s};
    eva_udp_send_req sr = {.data = &s};
    assert_int_equal(eva_udp_recv(&rr, &b, s.buf, sizeof s.buf, on_recv), 0);
    struct iovec iov[2] = {{.iov_base = "hello ", .iov_len = 6}, {.iov_base = "udp", .iov_len = 3}};
    assert_int_equal(eva_udp_send(&sr, &a, iov, 2, &ba.sa, addr_len(family), on_sent), 0);
    assert_false(s.sent); /* never inside the call */
    test_run_until(loop, &s.received, GUARD_MS);
    test_run_until(loop, &s.sent, GUARD_MS);
    assert_int_equal(s.send_status, 0);
    assert_int_equal(s.recv_status, 0);
    assert_int_equal(rr.nread, 9);
    assert_memory_equal(s.buf, "hello udp", 9);
    assert_int_equal(rr.fromlen, addr_len(family));
    assert_int_equal(rr.from.sa.sa_family, family);
    assert_int_equal(ntohs(family == AF_INET ? rr.from.in.sin_port : rr.from.in6.sin6_port),
                     eva_udp_get_port(&a)); /* the sender */
    eva_udp_close(&a, NULL);
    eva_udp_close(&b, NULL);
    test_loop_destroy(loop);
}

static void callback_style_v4(void **state) {
    (void)state;
    callback_style(AF_INET);
}

static void callback_style_v6(void **state) {
    (void)state;
    callback_style(AF_INET6);
}

/* ---- the AWAIT style: an echo server and a client ------------------------------------------ */

typedef struct echo_server {
    eva_task task;
    eva_udp udp;
    eva_udp_recv_req rr;
    eva_udp_send_req sr;
    char buf[256];
    int echoed;
} echo_server;

static eva_step echo_server_run(void *frame) {
    echo_server *s = frame;
    ASYNC_BEGIN(s);
    for (;;) {
        AWAIT(s, eva_udp_recv_op(&s->rr, &s->udp, s->buf, sizeof s->buf));
        AWAIT(s, eva_udp_send_op(&s->sr, &s->udp, s->buf, (size_t)s->rr.nread, &s->rr.from.sa, s->rr.fromlen));
        s->echoed++;
    }
    ASYNC_END(s);
}

typedef struct echo_client {
    eva_task task;
    eva_udp udp;
    eva_udp_recv_req rr;
    eva_udp_send_req sr;
    eva_udp_addr server;
    int family, i, ok;
    char out[32], in[32];
} echo_client;

static eva_step echo_client_run(void *frame) {
    echo_client *c = frame;
    ASYNC_BEGIN(c);
    for (c->i = 0; c->i < 20; c->i++) {
        snprintf(c->out, sizeof c->out, "ping %d", c->i);
        AWAIT(c, eva_udp_send_op(&c->sr, &c->udp, c->out, strlen(c->out), NULL, 0)); /* connected */
        AWAIT(c, eva_udp_recv_op(&c->rr, &c->udp, c->in, sizeof c->in));
        if ((size_t)c->rr.nread == strlen(c->out) && memcmp(c->in, c->out, strlen(c->out)) == 0)
            c->ok++;
    }
    ASYNC_END(c);
}

static void on_task_done(eva_task *t) { *(bool *)((echo_client *)(void *)t)->udp.data = true; }

static void await_style(int family) {
    eva_loop *loop = test_loop_new();
    echo_server srv = {0};
    eva_udp_addr sa;
    bind_any(loop, &srv.udp, family, &sa);
    assert_int_equal(eva_task_init(loop, &srv.task, echo_server_run, "udp echo"), 0);
    assert_int_equal(eva_task_start(&srv.task, NULL), 0);
    echo_client cl = {0};
    bool done = false;
    assert_int_equal(eva_udp_open(loop, &cl.udp, family), 0);
    cl.udp.data = &done;
    assert_int_equal(eva_udp_connect(&cl.udp, &sa.sa, addr_len(family)), 0);
    assert_int_equal(eva_task_init(loop, &cl.task, echo_client_run, "udp client"), 0);
    assert_int_equal(eva_task_start(&cl.task, on_task_done), 0);
    test_run_until(loop, &done, GUARD_MS);
    assert_int_equal(eva_task_get_status(&cl.task), 0);
    assert_int_equal(cl.ok, 20);
    assert_int_equal(srv.echoed, 20);
    /* cancelling the server parked in its receive withdraws the receive */
    assert_int_equal(eva_task_cancel(&srv.task), 0);
    while (eva_task_get_state(&srv.task) != EVA_TASK_DONE)
        assert_true(eva_loop_run(loop, EVA_RUN_ONCE) >= 0);
    assert_int_equal(eva_task_get_status(&srv.task), -ECANCELED);
    assert_null(srv.udp.rd);
    eva_udp_close(&srv.udp, NULL);
    eva_udp_close(&cl.udp, NULL);
    test_loop_destroy(loop);
}

static void await_style_v4(void **state) {
    (void)state;
    await_style(AF_INET);
}

static void await_style_v6(void **state) {
    (void)state;
    await_style(AF_INET6);
}

/* ---- the promise style ------------------------------------------------------------------------ */

static void promise_style(int family) {
    eva_loop *loop = test_loop_new();
    eva_udp a, b;
    eva_udp_addr aa, ba;
    bind_any(loop, &a, family, &aa);
    bind_any(loop, &b, family, &ba);
    char buf[32];
    eva_promise *rp, *sp;
    assert_int_equal(eva_udp_recv_promise(&b, buf, sizeof buf, &rp), 0);
    char msg[] = "promised";
    assert_int_equal(eva_udp_send_promise(&a, msg, 8, &ba.sa, addr_len(family), &sp), 0);
    memset(msg, 'x', sizeof msg - 1); /* the promise form copied it */
    settle(loop, sp);
    assert_int_equal(eva_promise_get_state(sp), EVA_PROMISE_FULFILLED);
    settle(loop, rp);
    assert_int_equal(eva_promise_get_state(rp), EVA_PROMISE_FULFILLED);
    const eva_udp_recv_req *got = eva_promise_get_value(rp); /* the request is the value */
    assert_int_equal(got->nread, 8);
    assert_memory_equal(buf, "promised", 8);
    assert_int_equal(got->from.sa.sa_family, family);
    eva_promise_unref(rp);
    eva_promise_unref(sp);
    /* cancelling the promise withdraws the receive */
    assert_int_equal(eva_udp_recv_promise(&b, buf, sizeof buf, &rp), 0);
    eva_loop_run(loop, EVA_RUN_NOWAIT);
    eva_promise_cancel(rp);
    settle(loop, rp);
    assert_int_equal(eva_promise_get_error(rp), -ECANCELED);
    eva_promise_unref(rp);
    assert_null(b.rd);
    eva_udp_close(&a, NULL);
    eva_udp_close(&b, NULL);
    test_loop_destroy(loop);
}

static void promise_style_v4(void **state) {
    (void)state;
    promise_style(AF_INET);
}

static void promise_style_v6(void **state) {
    (void)state;
    promise_style(AF_INET6);
}

/* ---- push mode: bursts in few loop iterations ----------------------------------------------------- */

typedef struct counter {
    int n, bad, truncated, errors, last_status;
    int stop_at;                /* stop push mode at this count (0: never) */
    bool close_instead;         /* ... by closing the socket */
} counter;

static void on_datagram(eva_udp *udp, int status, const void *data, size_t len, const struct sockaddr *from,
                        socklen_t fromlen) {
    counter *c = udp->data;
    c->last_status = status;
    if (status == -EMSGSIZE)
        c->truncated++;
    else if (status < 0) {
        c->errors++;
        return;
    }
    char want[16];
    int wl = snprintf(want, sizeof want, "m%d", c->n);
    if (status == 0 && (len != (size_t)wl || memcmp(data, want, len) != 0 || !from || fromlen == 0))
        c->bad++;
    c->n++;
    if (c->stop_at && c->n == c->stop_at) {
        if (c->close_instead)
            eva_udp_close(udp, NULL);
        else
            eva_udp_recv_stop(udp);
    }
}

/* n datagrams "m<first>".."m<first+n-1>" in one sendmmsg from a raw socket. */
static void blast(int fd, const eva_udp_addr *to, int family, int first, int n) {
    struct mmsghdr mm[100];
    struct iovec iov[100];
    char bufs[100][16];
    assert_true(n <= 100);
    for (int i = 0; i < n; i++) {
        iov[i] = (struct iovec){.iov_base = bufs[i], .iov_len = (size_t)snprintf(bufs[i], 16, "m%d", first + i)};
        mm[i] = (struct mmsghdr){.msg_hdr = {.msg_name = (void *)&to->sa, .msg_namelen = addr_len(family),
                                             .msg_iov = &iov[i], .msg_iovlen = 1}};
    }
    for (int sent = 0; sent < n;) {
        int k = sendmmsg(fd, mm + sent, (unsigned)(n - sent), 0);
        assert_true(k > 0);
        sent += k;
    }
}

static void a_burst_of_1000_datagrams_takes_few_loop_iterations(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_udp u;
    eva_udp_addr ua;
    bind_any(loop, &u, AF_INET, &ua);
    counter c = {0};
    u.data = &c;
    assert_int_equal(eva_udp_recv_start(&u, NULL, on_datagram), 0);
    int tx = raw_socket(AF_INET);
    eva_loop_metrics before, after;
    assert_int_equal(eva_loop_get_metrics(loop, &before), 0);
    /* ten bursts of 100 (each fits the default receive buffer) */
    for (int round = 0; round < 10; round++) {
        blast(tx, &ua, AF_INET, round * 100, 100);
        run_until_count(loop, &c.n, (round + 1) * 100);
    }
    assert_int_equal(eva_loop_get_metrics(loop, &after), 0);
    assert_int_equal(c.n, 1000);
    assert_int_equal(c.bad, 0);
    /* about one iteration per burst; one per datagram would be 1000 */
    assert_true(after.iterations - before.iterations < 100);
    close(tx);
    eva_udp_close(&u, NULL);
    test_loop_destroy(loop);
}

static void push_mode_stops_or_closes_from_its_callback(void **state) {
    (void)state;
    for (int close_it = 0; close_it < 2; close_it++) {
        eva_loop *loop = test_loop_new();
        eva_udp u;
        eva_udp_addr ua;
        bind_any(loop, &u, AF_INET, &ua);
        counter c = {.stop_at = 5, .close_instead = close_it};
        u.data = &c;
        assert_int_equal(eva_udp_recv_start(&u, &(eva_udp_recv_options){.batch = 4}, on_datagram), 0);
        int tx = raw_socket(AF_INET);
        blast(tx, &ua, AF_INET, 0, 20);
        struct pollfd p = {.fd = u.fd, .events = POLLIN};
        assert_int_equal(poll(&p, 1, GUARD_MS), 1);
        assert_true(eva_loop_run(loop, EVA_RUN_NOWAIT) >= 0);
        assert_int_equal(c.n, 5); /* the rest of the batch was dropped, no more came */
        assert_int_equal(eva_udp_is_open(&u), !close_it);
        if (!close_it) { /* push mode again: the rest */
            assert_int_equal(eva_udp_recv_start(&u, NULL, on_datagram), 0);
            c.stop_at = 0;
            char buf[8];
            eva_udp_recv_req rr = {0};
            assert_int_equal(eva_udp_recv(&rr, &u, buf, sizeof buf, on_recv), -EBUSY); /* push mode is on */
            assert_int_equal(eva_udp_recv_start(&u, NULL, on_datagram), -EBUSY);
            /* 20 sent; 5 taken, the rest of that recvmmsg's batch (3) dropped */
            run_until_count(loop, &c.n, 17);
            eva_loop_run(loop, EVA_RUN_NOWAIT);
            assert_int_equal(c.n, 17);
        }
        close(tx);
        eva_udp_close(&u, NULL);
        test_loop_destroy(loop);
    }
}

/* ---- truncation ---------------------------------------------------------------------------------- */

static void a_datagram_larger_than_the_buffer_is_reported_cut(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_udp u;
    eva_udp_addr ua;
    bind_any(loop, &u, AF_INET, &ua);
    int tx = raw_socket(AF_INET);
    /* the request form */
    cb_state s = {0};
    eva_udp_recv_req rr = {.data = &s};
    assert_int_equal(eva_udp_recv(&rr, &u, s.buf, 4, on_recv), 0);
    raw_send(tx, &ua, AF_INET, "0123456789");
    test_run_until(loop, &s.received, GUARD_MS);
    assert_int_equal(s.recv_status, -EMSGSIZE);
    assert_int_equal(rr.nread, 4);
    assert_memory_equal(s.buf, "0123", 4);
    assert_int_equal(rr.from.sa.sa_family, AF_INET);
    /* push mode: max_size bytes kept */
    counter c = {0};
    u.data = &c;
    assert_int_equal(eva_udp_recv_start(&u, &(eva_udp_recv_options){.max_size = 2}, on_datagram), 0);
    raw_send(tx, &ua, AF_INET, "m0-and-more");
    run_until_count(loop, &c.n, 1);
    assert_int_equal(c.truncated, 1);
    assert_int_equal(c.last_status, -EMSGSIZE);
    close(tx);
    eva_udp_close(&u, NULL);
    test_loop_destroy(loop);
}

/* ---- ICMP errors and oversized datagrams --------------------------------------------------------- */

static void a_closed_port_is_reported_to_the_next_operation(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        int family = k ? AF_INET6 : AF_INET;
        eva_loop *loop = test_loop_new();
        eva_udp u = {0};
        assert_int_equal(eva_udp_open(loop, &u, family), 0);
        eva_udp_addr dead = closed_port(family);
        assert_int_equal(eva_udp_connect(&u, &dead.sa, addr_len(family)), 0);
        /* to the pending receive */
        cb_state s = {0};
        eva_udp_recv_req rr = {.data = &s};
        eva_udp_send_req sr = {.data = &s};
        assert_int_equal(eva_udp_recv(&rr, &u, s.buf, sizeof s.buf, on_recv), 0);
        struct iovec v = {.iov_base = "x", .iov_len = 1};
        assert_int_equal(eva_udp_send(&sr, &u, &v, 1, NULL, 0, on_sent), 0);
        test_run_until(loop, &s.received, GUARD_MS);
        assert_int_equal(s.recv_status, -ECONNREFUSED);
        assert_int_equal(rr.fromlen, 0);
        test_run_until(loop, &s.sent, GUARD_MS);
        assert_int_equal(s.send_status, 0); /* that datagram did leave */
        /* with no receive pending, to the next send */
        s = (cb_state){0};
        assert_int_equal(eva_udp_send(&sr, &u, &v, 1, NULL, 0, on_sent), 0);
        test_run_until(loop, &s.sent, GUARD_MS);
        struct pollfd p = {.fd = u.fd, .events = 0}; /* POLLERR: the ICMP error is in */
        assert_int_equal(poll(&p, 1, GUARD_MS), 1);
        s.sent = false;
        assert_int_equal(eva_udp_send(&sr, &u, &v, 1, NULL, 0, on_sent), 0);
        test_run_until(loop, &s.sent, GUARD_MS);
        assert_int_equal(s.send_status, -ECONNREFUSED);
        /* reported once: the socket goes on */
        s.sent = false;
        assert_int_equal(eva_udp_send(&sr, &u, &v, 1, NULL, 0, on_sent), 0);
        test_run_until(loop, &s.sent, GUARD_MS);
        assert_int_equal(s.send_status, 0);
        eva_udp_close(&u, NULL);
        test_loop_destroy(loop);
    }
}

typedef struct big_sender {
    eva_task task;
    eva_udp *udp;
    eva_udp_send_req sr;
    eva_udp_addr to;
    char *big;
    int rc;
} big_sender;

static eva_step big_sender_run(void *frame) {
    big_sender *b = frame;
    ASYNC_BEGIN(b);
    AWAIT_RC(b, b->rc, eva_udp_send_op(&b->sr, b->udp, b->big, 70000, &b->to.sa, sizeof b->to.in));
    ASYNC_END(b);
}

static void an_oversized_datagram_fails_with_emsgsize(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_udp u, dst;
    eva_udp_addr ua, da;
    bind_any(loop, &u, AF_INET, &ua);
    bind_any(loop, &dst, AF_INET, &da);
    char *big = calloc(1, 70000);
    assert_non_null(big);
    cb_state s = {0};
    eva_udp_send_req sr = {.data = &s};
    struct iovec v = {.iov_base = big, .iov_len = 70000};
    assert_int_equal(eva_udp_send(&sr, &u, &v, 1, &da.sa, sizeof da.in, on_sent), 0);
    test_run_until(loop, &s.sent, GUARD_MS);
    assert_int_equal(s.send_status, -EMSGSIZE);
    big_sender b = {.udp = &u, .to = da, .big = big, .rc = 1};
    assert_int_equal(eva_task_init(loop, &b.task, big_sender_run, "big"), 0);
    assert_int_equal(eva_task_start(&b.task, NULL), 0);
    while (eva_task_get_state(&b.task) != EVA_TASK_DONE)
        assert_true(eva_loop_run(loop, EVA_RUN_ONCE) >= 0);
    assert_int_equal(b.rc, -EMSGSIZE);
    /* the socket goes on */
    s.sent = false;
    v.iov_len = 100;
    assert_int_equal(eva_udp_send(&sr, &u, &v, 1, &da.sa, sizeof da.in, on_sent), 0);
    test_run_until(loop, &s.sent, GUARD_MS);
    assert_int_equal(s.send_status, 0);
    free(big);
    eva_udp_close(&u, NULL);
    eva_udp_close(&dst, NULL);
    test_loop_destroy(loop);
}

/* ---- the send queue ---------------------------------------------------------------------------- */

typedef struct sent_log {
    int order[128];
    int status[128];
    int n;
} sent_log;

static sent_log *the_log;

static void log_sent(eva_udp_send_req *req, int status) {
    the_log->status[the_log->n] = status;
    the_log->order[the_log->n++] = (int)(intptr_t)req->data;
}

static void a_full_socket_queues_sends_and_flushes_them_with_sendmmsg(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_udp tx, rx;
    eva_udp_addr ta, ra;
    bind_any(loop, &tx, AF_INET, &ta);
    bind_any(loop, &rx, AF_INET, &ra);
    counter c = {0};
    rx.data = &c;
    assert_int_equal(eva_udp_recv_start(&rx, NULL, on_datagram), 0);
    sent_log log = {0};
    the_log = &log;
    static eva_udp_send_req reqs[100];
    static char bodies[100][8];
    struct iovec v[100];
    socket_full = true;
    for (int i = 0; i < 100; i++) {
        reqs[i] = (eva_udp_send_req){.data = (void *)(intptr_t)i};
        v[i] = (struct iovec){.iov_base = bodies[i], .iov_len = (size_t)snprintf(bodies[i], 8, "m%d", i)};
        assert_int_equal(eva_udp_send(&reqs[i], &tx, &v[i], 1, &ra.sa, sizeof ra.in, log_sent), 0);
    }
    assert_int_equal(eva_udp_get_send_queue_count(&tx), 100);
    /* withdraw the last one: it never leaves */
    assert_int_equal(eva_udp_send_cancel(&reqs[99]), 0);
    assert_int_equal(eva_udp_get_send_queue_count(&tx), 99);
    assert_int_equal(eva_udp_send_cancel(&reqs[99]), 0); /* not queued any more: nothing */
    socket_full = false;
    sendmsg_calls = sendmmsg_calls = 0;
    run_until_count(loop, &log.n, 100);
    run_until_count(loop, &c.n, 99);
    assert_int_equal(c.n, 99);
    assert_int_equal(c.bad, 0); /* in order */
    assert_int_equal(log.n, 100);
    assert_int_equal(log.order[0], 99); /* the cancelled one reported first */
    assert_int_equal(log.status[0], -ECANCELED);
    for (int i = 1; i < 100; i++) {
        assert_int_equal(log.order[i], i - 1);
        assert_int_equal(log.status[i], 0);
    }
    assert_int_equal(sendmsg_calls, 0);
    assert_int_equal(sendmmsg_calls, 2); /* 64 + 35 */
    eva_udp_close(&tx, NULL);
    eva_udp_close(&rx, NULL);
    test_loop_destroy(loop);
}

/* ---- close and destroy with operations pending ---------------------------------------------------- */

static sent_log *close_log;

static void on_closed(eva_udp *udp) {
    (void)udp;
    close_log->order[close_log->n++] = -1;
}

static void on_recv_logged(eva_udp_recv_req *req, int status) {
    (void)req;
    close_log->status[close_log->n] = status;
    close_log->order[close_log->n++] = 1000;
}

static void close_cancels_what_is_pending_then_reports(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_udp u;
    eva_udp_addr ua;
    bind_any(loop, &u, AF_INET, &ua);
    sent_log log = {0};
    the_log = close_log = &log;
    char buf[8];
    eva_udp_recv_req rr = {0};
    assert_int_equal(eva_udp_recv(&rr, &u, buf, sizeof buf, on_recv_logged), 0);
    eva_udp_send_req reqs[3];
    struct iovec v = {.iov_base = "q", .iov_len = 1};
    socket_full = true;
    for (int i = 0; i < 3; i++) {
        reqs[i] = (eva_udp_send_req){.data = (void *)(intptr_t)i};
        assert_int_equal(eva_udp_send(&reqs[i], &u, &v, 1, &ua.sa, sizeof ua.in, log_sent), 0);
    }
    socket_full = false;
    assert_int_equal(eva_udp_close(&u, on_closed), 0);
    assert_false(eva_udp_is_open(&u));
    assert_int_equal(eva_udp_close(&u, NULL), 0); /* idempotent */
    assert_int_equal(eva_udp_open(loop, &u, AF_INET), -EBUSY); /* its close callback is still queued */
    assert_int_equal(log.n, 0); /* nothing inside the call */
    eva_loop_run(loop, EVA_RUN_NOWAIT);
    assert_int_equal(log.n, 5);
    assert_int_equal(log.order[0], 1000);
    assert_int_equal(log.status[0], -ECANCELED);
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(log.order[i], i - 1);
        assert_int_equal(log.status[i], -ECANCELED);
    }
    assert_int_equal(log.order[4], -1); /* the close last */
    /* closed: every operation says so */
    assert_int_equal(eva_udp_recv(&rr, &u, buf, sizeof buf, on_recv_logged), -ENOTCONN);
    assert_int_equal(eva_udp_send(&reqs[0], &u, &v, 1, &ua.sa, sizeof ua.in, log_sent), -ENOTCONN);
    assert_int_equal(eva_udp_recv_start(&u, NULL, on_datagram), -ENOTCONN);
    assert_int_equal(eva_udp_get_fd(&u), -EBADF);
    assert_int_equal(eva_udp_get_port(&u), -ENOTCONN);
    assert_int_equal(eva_udp_set_broadcast(&u, true), -ENOTCONN);
    /* and it opens again */
    assert_int_equal(eva_udp_open(loop, &u, AF_INET), 0);
    eva_udp_close(&u, NULL);
    test_loop_destroy(loop);
}

static void loop_destroy_closes_open_sockets(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_udp u, p;
    eva_udp_addr ua, pa;
    bind_any(loop, &u, AF_INET, &ua);
    bind_any(loop, &p, AF_INET6, &pa);
    counter c = {0};
    p.data = &c;
    assert_int_equal(eva_udp_recv_start(&p, NULL, on_datagram), 0);
    cb_state s = {0};
    eva_udp_recv_req rr = {.data = &s};
    assert_int_equal(eva_udp_recv(&rr, &u, s.buf, sizeof s.buf, on_recv), 0);
    test_loop_destroy(loop);
    assert_true(s.received);
    assert_int_equal(s.recv_status, -ECANCELED);
    assert_false(eva_udp_is_open(&u));
    assert_false(eva_udp_is_open(&p));
    assert_int_equal(eva_udp_close(&u, NULL), 0); /* closing again: a no-op */
}

/* ---- options ---------------------------------------------------------------------------------------- */

static void options_and_multicast_membership(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    unsigned lo = if_nametoindex("lo");
    for (int k = 0; k < 2; k++) {
        int family = k ? AF_INET6 : AF_INET;
        eva_udp u;
        eva_udp_addr ua;
        bind_any(loop, &u, family, &ua);
        assert_int_equal(eva_udp_set_broadcast(&u, true), 0);
        assert_int_equal(eva_udp_set_multicast_ttl(&u, 4), 0);
        assert_int_equal(eva_udp_set_multicast_ttl(&u, 256), -EINVAL);
        assert_int_equal(eva_udp_set_multicast_loop(&u, true), 0);
        assert_int_equal(eva_udp_set_recv_buffer(&u, 1 << 20), 0);
        assert_int_equal(eva_udp_set_recv_buffer(&u, 0), -EINVAL);
        int got = 0;
        socklen_t gl = sizeof got;
        assert_int_equal(getsockopt(u.fd, SOL_SOCKET, SO_RCVBUF, &got, &gl), 0);
        assert_true(got >= 200000); /* at least the default cap, doubled by the kernel */
        eva_udp_addr group = {0};
        if (family == AF_INET) {
            group.in.sin_family = AF_INET;
            inet_pton(AF_INET, "239.255.0.1", &group.in.sin_addr);
        } else {
            group.in6.sin6_family = AF_INET6;
            inet_pton(AF_INET6, "ff02::1:3", &group.in6.sin6_addr);
        }
        int rc = eva_udp_join_group(&u, &group.sa, lo);
        if (rc == 0) { /* a network namespace without multicast on lo refuses it: -ENODEV */
            assert_int_equal(eva_udp_join_group(&u, &group.sa, lo), -EADDRINUSE);
            assert_int_equal(eva_udp_leave_group(&u, &group.sa, lo), 0);
        } else {
            assert_int_equal(rc, -ENODEV);
        }
        assert_int_equal(eva_udp_leave_group(&u, &group.sa, lo), -EADDRNOTAVAIL); /* not joined */
        eva_udp_addr unicast = loopback(family, 0);
        assert_int_equal(eva_udp_join_group(&u, &unicast.sa, lo), -EINVAL);
        eva_udp_addr other = loopback(family == AF_INET ? AF_INET6 : AF_INET, 0);
        assert_int_equal(eva_udp_join_group(&u, &other.sa, lo), -EINVAL);
        eva_udp_close(&u, NULL);
    }
    test_loop_destroy(loop);
}

static void reuse_flags_share_a_port(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_udp a = {0}, b = {0}, c = {0};
    assert_int_equal(eva_udp_open(loop, &a, AF_INET), 0);
    assert_int_equal(eva_udp_open(loop, &b, AF_INET), 0);
    assert_int_equal(eva_udp_open(loop, &c, AF_INET), 0);
    eva_udp_addr any = loopback(AF_INET, 0);
    assert_int_equal(eva_udp_bind(&a, &any.sa, sizeof any.in, EVA_UDP_REUSEPORT), 0);
    eva_udp_addr same = loopback(AF_INET, eva_udp_get_port(&a));
    assert_int_equal(eva_udp_bind(&b, &same.sa, sizeof same.in, EVA_UDP_REUSEPORT), 0);
    assert_int_equal(eva_udp_bind(&c, &same.sa, sizeof same.in, 0), -EADDRINUSE);
    eva_udp_close(&a, NULL);
    eva_udp_close(&b, NULL);
    eva_udp_close(&c, NULL);
    /* IPv6-only and dual-stack */
    eva_udp v6 = {0};
    assert_int_equal(eva_udp_open(loop, &v6, AF_INET6), 0);
    eva_udp_addr a6 = loopback(AF_INET6, 0);
    assert_int_equal(eva_udp_bind(&v6, &a6.sa, sizeof a6.in6, EVA_UDP_IPV6_ONLY | EVA_UDP_REUSEADDR), 0);
    eva_udp_close(&v6, NULL);
    test_loop_destroy(loop);
}

/* ---- bad arguments ------------------------------------------------------------------------------------ */

static void udp_rejects_invalid_arguments(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_udp u = {0};
    assert_int_equal(eva_udp_open(NULL, &u, AF_INET), -EINVAL);
    assert_int_equal(eva_udp_open(loop, NULL, AF_INET), -EINVAL);
    assert_int_equal(eva_udp_open(loop, &u, AF_UNIX), -EINVAL);
    eva_udp_addr v4 = loopback(AF_INET, 0), v6 = loopback(AF_INET6, 0);
    assert_int_equal(eva_udp_bind(&u, &v4.sa, sizeof v4.in, 0), -ENOTCONN); /* not open */
    assert_int_equal(eva_udp_connect(&u, &v4.sa, sizeof v4.in), -ENOTCONN);
    assert_int_equal(eva_udp_open(loop, &u, AF_INET), 0);
    assert_int_equal(eva_udp_open(loop, &u, AF_INET), -EBUSY);
    assert_int_equal(eva_udp_bind(NULL, &v4.sa, sizeof v4.in, 0), -EINVAL);
    assert_int_equal(eva_udp_bind(&u, NULL, 0, 0), -EINVAL);
    assert_int_equal(eva_udp_bind(&u, &v6.sa, sizeof v6.in6, 0), -EINVAL);    /* family */
    assert_int_equal(eva_udp_bind(&u, &v4.sa, sizeof v4.in - 1, 0), -EINVAL); /* short */
    assert_int_equal(eva_udp_bind(&u, &v4.sa, sizeof v4.in, 1u << 7), -EINVAL);
    assert_int_equal(eva_udp_bind(&u, &v4.sa, sizeof v4.in, EVA_UDP_IPV6_ONLY), -EINVAL);
    assert_int_equal(eva_udp_connect(&u, &v6.sa, sizeof v6.in6), -EINVAL);
    assert_int_equal(eva_udp_get_sockname(&u, NULL, NULL), -EINVAL);
    assert_int_equal(eva_udp_bind(&u, &v4.sa, sizeof v4.in, 0), 0);
    eva_udp_addr ua = loopback(AF_INET, eva_udp_get_port(&u));
    /* receive */
    char buf[8];
    cb_state s = {0};
    eva_udp_recv_req rr = {.data = &s}, rr2 = {0};
    assert_int_equal(eva_udp_recv(NULL, &u, buf, sizeof buf, on_recv), -EINVAL);
    assert_int_equal(eva_udp_recv(&rr, NULL, buf, sizeof buf, on_recv), -EINVAL);
    assert_int_equal(eva_udp_recv(&rr, &u, buf, 0, on_recv), -EINVAL);
    assert_int_equal(eva_udp_recv(&rr, &u, NULL, 8, on_recv), -EINVAL);
    assert_int_equal(eva_udp_recv(&rr, &u, buf, sizeof buf, NULL), -EINVAL);
    assert_int_equal(eva_udp_recv(&rr, &u, buf, sizeof buf, on_recv), 0);
    assert_int_equal(eva_udp_recv(&rr, &u, buf, sizeof buf, on_recv), -EBUSY);   /* in flight */
    assert_int_equal(eva_udp_recv(&rr2, &u, buf, sizeof buf, on_recv), -EBUSY);  /* one at a time */
    assert_int_equal(eva_udp_recv_start(&u, NULL, on_datagram), -EBUSY);
    eva_op op = eva_udp_recv_op(&rr, &u, buf, sizeof buf);
    assert_int_equal(op.start(NULL, &op), -EBUSY);
    assert_ptr_equal(rr.buf, buf); /* the refused builder touched nothing */
    assert_int_equal(eva_udp_recv_cancel(&u), 0);
    test_run_until(loop, &s.received, GUARD_MS);
    assert_int_equal(s.recv_status, -ECANCELED);
    assert_int_equal(eva_udp_recv_cancel(NULL), -EINVAL);
    assert_int_equal(eva_udp_recv_promise(NULL, buf, 1, &(eva_promise *){0}), -EINVAL);
    assert_int_equal(eva_udp_recv_start(&u, &(eva_udp_recv_options){.batch = -1}, on_datagram), -EINVAL);
    assert_int_equal(eva_udp_recv_start(&u, &(eva_udp_recv_options){.batch = 4096}, on_datagram), -EINVAL);
    assert_int_equal(eva_udp_recv_start(&u, &(eva_udp_recv_options){.max_size = 1 << 20}, on_datagram), -EINVAL);
    assert_int_equal(eva_udp_recv_start(&u, NULL, NULL), -EINVAL);
    assert_int_equal(eva_udp_recv_stop(NULL), -EINVAL);
    assert_int_equal(eva_udp_recv_stop(&u), 0); /* not started: nothing */
    /* send */
    eva_udp_send_req sr = {.data = &s};
    struct iovec v[EVA_UDP_SEND_IOV + 1] = {{.iov_base = "x", .iov_len = 1}};
    assert_int_equal(eva_udp_send(NULL, &u, v, 1, &ua.sa, sizeof ua.in, on_sent), -EINVAL);
    assert_int_equal(eva_udp_send(&sr, NULL, v, 1, &ua.sa, sizeof ua.in, on_sent), -EINVAL);
    assert_int_equal(eva_udp_send(&sr, &u, NULL, 1, &ua.sa, sizeof ua.in, on_sent), -EINVAL);
    assert_int_equal(eva_udp_send(&sr, &u, v, 0, &ua.sa, sizeof ua.in, on_sent), -EINVAL);
    assert_int_equal(eva_udp_send(&sr, &u, v, EVA_UDP_SEND_IOV + 1, &ua.sa, sizeof ua.in, on_sent), -EINVAL);
    assert_int_equal(eva_udp_send(&sr, &u, v, 1, &v6.sa, sizeof v6.in6, on_sent), -EINVAL); /* family */
    assert_int_equal(eva_udp_send(&sr, &u, v, 1, &ua.sa, 3, on_sent), -EINVAL);
    assert_int_equal(eva_udp_send(&sr, &u, v, 1, NULL, 16, on_sent), -EINVAL);
    op = eva_udp_send_op(&sr, &u, "x", 1, &v6.sa, sizeof v6.in6);
    assert_int_equal(op.start(NULL, &op), -EINVAL);
    assert_int_equal(eva_udp_send_promise(&u, NULL, 1, NULL, 0, &(eva_promise *){0}), -EINVAL);
    assert_int_equal(eva_udp_send_cancel(NULL), -EINVAL);
    /* no address on an unconnected socket: that send's own error */
    s = (cb_state){0};
    assert_int_equal(eva_udp_send(&sr, &u, v, 1, NULL, 0, on_sent), 0);
    assert_int_equal(eva_udp_send(&sr, &u, v, 1, NULL, 0, on_sent), -EBUSY);
    test_run_until(loop, &s.sent, GUARD_MS);
    assert_int_equal(s.send_status, -EDESTADDRREQ);
    /* options */
    assert_int_equal(eva_udp_set_broadcast(NULL, true), -EINVAL);
    assert_int_equal(eva_udp_set_multicast_ttl(&u, -1), -EINVAL);
    assert_int_equal(eva_udp_set_multicast_loop(NULL, true), -EINVAL);
    assert_int_equal(eva_udp_join_group(&u, NULL, 0), -EINVAL);
    assert_int_equal(eva_udp_close(NULL, NULL), -EINVAL);
    assert_int_equal(eva_udp_get_send_queue_count(NULL), 0);
    assert_false(eva_udp_is_open(NULL));
    eva_udp_close(&u, NULL);
    test_loop_destroy(loop);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(callback_style_v4),
        cmocka_unit_test(callback_style_v6),
        cmocka_unit_test(await_style_v4),
        cmocka_unit_test(await_style_v6),
        cmocka_unit_test(promise_style_v4),
        cmocka_unit_test(promise_style_v6),
        cmocka_unit_test(a_burst_of_1000_datagrams_takes_few_loop_iterations),
        cmocka_unit_test(push_mode_stops_or_closes_from_its_callback),
        cmocka_unit_test(a_datagram_larger_than_the_buffer_is_reported_cut),
        cmocka_unit_test(a_closed_port_is_reported_to_the_next_operation),
        cmocka_unit_test(an_oversized_datagram_fails_with_emsgsize),
        cmocka_unit_test(a_full_socket_queues_sends_and_flushes_them_with_sendmmsg),
        cmocka_unit_test(close_cancels_what_is_pending_then_reports),
        cmocka_unit_test(loop_destroy_closes_open_sockets),
        cmocka_unit_test(options_and_multicast_membership),
        cmocka_unit_test(reuse_flags_share_a_port),
        cmocka_unit_test(udp_rejects_invalid_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
