/* Connecting by name: resolve through the loopback DNS responder (AAAA and
 * A), then race the addresses (Happy Eyeballs, RFC 8305).
 *
 * An address that never answers is a listener with a full backlog: it
 * listens with backlog 0 and one connection it never accepts fills its queue
 * (Linux, and gVisor, queue backlog + 1), so the kernel drops every further
 * SYN and a connect to it stays pending (the SYN is retried after 1 s, and
 * dropped again).  This needs no network: a TEST-NET address such as
 * 192.0.2.1 may be routed (it is the gateway of some CI sandboxes) or fail at
 * once with -ENETUNREACH. */
#include <arpa/inet.h>
#include <dirent.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "dns_responder.h"
#include "helpers.h"

typedef struct fixture {
    eva_loop *loop;
    dns_responder *r;
    eva_server srv;  /* 127.0.0.1:port */
    eva_server srv6; /* [::1]:port, opened by the tests that need it */
    int port;
} fixture;

static void on_accept(eva_server *srv, int fd) {
    (void)srv;
    close(fd); /* the connect itself is what is tested */
}

static void add(fixture *f, const char *name, const char *addr) {
    assert_int_equal(dns_responder_add(f->r, name, addr), 0);
}

static fixture *fixture_new(void) {
    fixture *f = calloc(1, sizeof *f);
    f->loop = test_loop_new();
    assert_int_equal(dns_responder_start(f->loop, 0, &f->r), 0);
    eva_dns_options o = {.servers = dns_responder_servers(f->r), .timeout_ms = 200, .tries = 2};
    assert_int_equal(eva_dns_configure(f->loop, &o), 0);
    /* 127.0.0.2 is loopback too, but nothing listens there: refused */
    add(f, "two.test", "127.0.0.2");
    add(f, "two.test", "127.0.0.1");
    add(f, "refusing.test", "127.0.0.2");
    add(f, "dual.test", "::1");
    add(f, "dual.test", "127.0.0.1");
    add(f, "holes.test", "::1");       /* the blackholed tests put listeners */
    add(f, "holes.test", "127.0.0.2"); /* with full backlogs on these two */
    add(f, "mixed.test", "::1");       /* refused */
    add(f, "mixed.test", "224.0.0.1"); /* TCP to multicast: -ENETUNREACH at once */
    assert_int_equal(eva_tcp_listen_ip(f->loop, &f->srv, "127.0.0.1", 0, NULL), 0);
    assert_int_equal(eva_server_accept_start(&f->srv, on_accept), 0);
    f->port = eva_tcp_server_get_port(&f->srv);
    return f;
}

static void fixture_free(fixture *f) {
    eva_server_close(&f->srv);
    eva_server_close(&f->srv6);
    dns_responder_stop(f->r);
    test_loop_destroy(f->loop);
    free(f);
}

static void listen_v6(fixture *f) {
    int rc = eva_tcp_listen_ip(f->loop, &f->srv6, "::1", (uint16_t)f->port, NULL);
    if (rc == -EADDRNOTAVAIL || rc == -EAFNOSUPPORT) {
        fixture_free(f);
        skip(); /* no IPv6 loopback on this machine */
    }
    assert_int_equal(rc, 0);
    assert_int_equal(eva_server_accept_start(&f->srv6, on_accept), 0);
}

static socklen_t sockaddr_of(const char *ip, int port, struct sockaddr_storage *ss) {
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        return sizeof *in;
    }
    assert_int_equal(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    return sizeof *in6;
}

/* A listener on ip:port that never answers a connect (see the top). */
typedef struct blackhole {
    int listener, filler;
} blackhole;

static void blackhole_open(blackhole *b, const char *ip, int port) {
    struct sockaddr_storage ss;
    socklen_t len = sockaddr_of(ip, port, &ss);
    b->listener = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(b->listener >= 0);
    assert_int_equal(bind(b->listener, (struct sockaddr *)&ss, len), 0);
    assert_int_equal(listen(b->listener, 0), 0);
    b->filler = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(b->filler >= 0);
    assert_true(connect(b->filler, (struct sockaddr *)&ss, len) == 0 || errno == EINPROGRESS);
    struct pollfd p = {.fd = b->filler, .events = POLLOUT};
    assert_int_equal(poll(&p, 1, 2000), 1); /* queued: the backlog is full now */
}

static void blackhole_close(blackhole *b) {
    close(b->filler);
    close(b->listener);
}

/* A fixture where [::1]:port (and with n 2, 127.0.0.2:port too) never
 * answers; without an IPv6 loopback the test is skipped. */
static fixture *fixture_with_holes(blackhole *holes, int n) {
    static const char *const ips[] = {"::1", "127.0.0.2"};
    fixture *f = fixture_new();
    listen_v6(f);
    eva_server_close(&f->srv6);
    for (int i = 0; i < n; i++)
        blackhole_open(&holes[i], ips[i], f->port);
    return f;
}

static void holes_close(blackhole *holes, int n) {
    for (int i = 0; i < n; i++)
        blackhole_close(&holes[i]);
}

static int open_fds(void) {
    DIR *dir = opendir("/proc/self/fd");
    assert_non_null(dir);
    int n = 0;
    while (readdir(dir))
        n++;
    closedir(dir);
    return n;
}

typedef struct dialer {
    eva_task task;
    eva_tcp_dial_req dial;
    eva_stream tcp;
    const char *host;
    int port;
    int64_t timeout_ms;
    int rc;
    int peer_family; /* of the connection, 0 if none */
    char message[128]; /* the dial's */
} dialer;

static eva_step dialer_run(void *frame) {
    dialer *d = frame;
    ASYNC_BEGIN(d);
    AWAIT_RC(d, d->rc, eva_tcp_dial_op(&d->dial, &d->tcp, d->host, (uint16_t)d->port, d->timeout_ms));
    snprintf(d->message, sizeof d->message, "%s", eva_task_get_message(&d->dial.task));
    ASYNC_FINALLY(d);
    struct sockaddr_storage peer;
    socklen_t len = sizeof peer;
    if (eva_stream_is_open(&d->tcp) && getpeername(eva_stream_get_fd(&d->tcp), (struct sockaddr *)&peer, &len) == 0)
        d->peer_family = peer.ss_family;
    eva_stream_close(&d->tcp, EVA_STREAM_CLOSE_DISCARD, NULL);
    ASYNC_END(d);
}

static bool dialer_done;
static void on_dialer_done(eva_task *t) {
    (void)t;
    dialer_done = true;
}

/* Dial host with the AWAIT form; the guard bounds it well below what the
 * connect timeout alone would take, so a dial that waits on an address
 * that never answers fails the test. */
static void dial_with(fixture *f, dialer *d, const char *host, int64_t delay_ms, int64_t timeout_ms) {
    *d = (dialer){.host = host, .port = f->port, .timeout_ms = timeout_ms, .rc = 1};
    d->dial.attempt_delay_ms = delay_ms;
    eva_task_init(f->loop, &d->task, dialer_run, "dialer");
    dialer_done = false;
    assert_int_equal(eva_task_start(&d->task, on_dialer_done), 0);
    test_run_until(f->loop, &dialer_done, 2000);
}

static int dial(fixture *f, const char *host) {
    dialer d;
    dial_with(f, &d, host, 0, 2000);
    return d.rc;
}

static void dial_by_name_tries_each_address(void **state) {
    (void)state;
    fixture *f = fixture_new();
    assert_int_equal(dial(f, "127.0.0.1"), 0);             /* numeric: no query */
    assert_int_equal(dns_responder_queries(f->r, NULL), 0);
    assert_int_equal(dial(f, "two.test"), 0);              /* one refuses, one connects */
    assert_true(dns_responder_queries(f->r, "two.test") >= 2); /* AAAA and A */
    assert_int_equal(dial(f, "refusing.test"), -ECONNREFUSED); /* the last attempt's error */
    assert_int_equal(dial(f, "nowhere.test"), EVA_EDNS_NOTFOUND);
    fixture_free(f);
}

/* Both families: IPv6 first, IPv4 when IPv6 is refused, and the reverse. */
static void dial_prefers_ipv6_and_falls_back(void **state) {
    (void)state;
    fixture *f = fixture_new();
    listen_v6(f);
    dialer d;
    dial_with(f, &d, "dual.test", 0, 2000);
    assert_int_equal(d.rc, 0);
    assert_int_equal(d.peer_family, AF_INET6);
    assert_int_equal(d.dial.attempts, 1);

    eva_server_close(&f->srv6); /* ::1 refuses: IPv4 at once, no delay to wait */
    dial_with(f, &d, "dual.test", 0, 2000);
    assert_int_equal(d.rc, 0);
    assert_int_equal(d.peer_family, AF_INET);
    assert_int_equal(d.dial.attempts, 2);

    eva_server_close(&f->srv); /* only ::1 listens */
    listen_v6(f);
    dial_with(f, &d, "dual.test", 0, 2000);
    assert_int_equal(d.rc, 0);
    assert_int_equal(d.peer_family, AF_INET6);
    fixture_free(f);
}

/* ::1 never answers: after the default attempt delay IPv4 is tried and wins
 * while the IPv6 attempt is pending; that socket is closed. */
static void dial_races_past_an_address_that_never_answers(void **state) {
    (void)state;
    blackhole hole;
    fixture *f = fixture_with_holes(&hole, 1);
    int fds = open_fds();
    dialer d;
    dial_with(f, &d, "dual.test", 0, 5000);
    assert_int_equal(d.rc, 0);
    assert_int_equal(d.peer_family, AF_INET);
    assert_int_equal(d.dial.attempts, 2); /* IPv6 first, then IPv4 */
    assert_int_equal(open_fds(), fds);    /* the pending IPv6 socket is closed */
    blackhole_close(&hole);
    fixture_free(f);
}

/* The same in one family, with a short attempt delay: 127.0.0.2 (first in
 * the answer) never answers, 127.0.0.1 does. */
static void dial_attempt_delay_is_configurable(void **state) {
    (void)state;
    fixture *f = fixture_new();
    blackhole hole;
    blackhole_open(&hole, "127.0.0.2", f->port);
    dialer d;
    dial_with(f, &d, "two.test", 10, 5000);
    assert_int_equal(d.rc, 0);
    assert_int_equal(d.peer_family, AF_INET);
    assert_int_equal(d.dial.attempts, 2);
    blackhole_close(&hole);
    fixture_free(f);
}

/* Neither answers: the dial timeout ends the whole race. */
static void dial_timeout_bounds_the_race(void **state) {
    (void)state;
    blackhole holes[2];
    fixture *f = fixture_with_holes(holes, 2);
    int fds = open_fds();
    dialer d;
    dial_with(f, &d, "holes.test", 10, 100);
    assert_int_equal(d.rc, -ETIMEDOUT);
    assert_string_equal(d.message, "TCP dial: no connection within the dial timeout");
    assert_int_equal(d.dial.attempts, 2);
    assert_int_equal(open_fds(), fds);
    holes_close(holes, 2);
    fixture_free(f);
}

/* A scripted server: A queries get 127.0.0.1, AAAA queries no reply. */
static void answer_a_only(void *arg, dns_reply *reply, const uint8_t *q, size_t len, bool tcp) {
    (void)arg;
    (void)tcp;
    size_t end = 12; /* the header; then the question's name, type, class */
    while (end < len && q[end])
        end += (size_t)q[end] + 1;
    if (end + 5 > len || end + 5 > 400 || q[end + 1] != 0 || q[end + 2] != 1)
        return; /* not type A: never answered */
    end += 5;
    static const uint8_t answer[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1};
    uint8_t m[512];
    memcpy(m, q, end);
    m[2] = 0x81; /* a response, recursion desired */
    m[3] = 0x80; /* recursion available, NOERROR */
    memcpy(m + 6, (const uint8_t[]){0, 1, 0, 0, 0, 0}, 6); /* one answer, nothing else */
    memcpy(m + end, answer, sizeof answer);
    dns_reply_send(reply, m, end + sizeof answer);
}

/* The AAAA answer never comes: the A answer starts the race after the
 * resolution delay instead of waiting for the resolver's timeout (2 s). */
static void dial_starts_with_the_first_answer(void **state) {
    (void)state;
    fixture *f = fixture_new();
    eva_dns_options o = {.servers = dns_responder_servers(f->r), .timeout_ms = 2000, .tries = 1};
    assert_int_equal(eva_dns_configure(f->loop, &o), 0);
    dns_responder_set_script(f->r, answer_a_only, NULL);
    dialer d;
    dial_with(f, &d, "v4.test", 0, 5000);
    assert_int_equal(d.rc, 0);
    assert_int_equal(d.peer_family, AF_INET);
    assert_int_equal(d.dial.attempts, 1);
    dns_responder_set_script(f->r, NULL, NULL);
    fixture_free(f);
}

/* Every address failed: a host that refused matters more than a family
 * this machine cannot reach, whatever the order. */
static void dial_reports_the_most_useful_error(void **state) {
    (void)state;
    fixture *f = fixture_new();
    assert_int_equal(dial(f, "mixed.test"), -ECONNREFUSED);
    fixture_free(f);
}

static int dialed_status;
static int dialed_count;
static bool dialed;
static void on_dialed(eva_tcp_dial_req *req, int status) {
    dialed_status = status;
    dialed_count++;
    dialed = true;
    eva_stream_close(req->stream, EVA_STREAM_CLOSE_DISCARD, NULL);
}

static void dial_callback_form_and_cancel(void **state) {
    (void)state;
    fixture *f = fixture_new();
    eva_tcp_dial_req d = {0};
    eva_stream tcp = {0};
    dialed = false;
    assert_int_equal(eva_tcp_dial(&d, f->loop, &tcp, "two.test", (uint16_t)f->port, 2000, on_dialed), 0);
    assert_int_equal(eva_tcp_dial(&d, f->loop, &tcp, "two.test", (uint16_t)f->port, 2000, on_dialed), -EBUSY);
    test_run_until(f->loop, &dialed, 10000);
    assert_int_equal(dialed_status, 0);

    /* cancelled while the queries are in flight (the responder holds them) */
    assert_int_equal(dns_responder_set_mode(f->r, "slow.test", DNS_MODE_DROP, 0), 0);
    eva_stream tcp2 = {0};
    dialed = false;
    assert_int_equal(eva_tcp_dial(&d, f->loop, &tcp2, "slow.test", (uint16_t)f->port, 2000, on_dialed), 0);
    eva_loop_run(f->loop, EVA_RUN_NOWAIT);
    eva_loop_run(f->loop, EVA_RUN_NOWAIT);
    assert_int_equal(eva_tcp_dial_cancel(&d), 0);
    test_run_until(f->loop, &dialed, 10000);
    assert_int_equal(dialed_status, -ECANCELED);
    assert_int_equal(eva_tcp_dial(&d, NULL, &tcp2, "x", 1, 0, on_dialed), -EINVAL);
    assert_int_equal(eva_tcp_dial(&d, f->loop, &tcp2, NULL, 1, 0, on_dialed), -EINVAL);
    d.attempt_delay_ms = -1;
    assert_int_equal(eva_tcp_dial(&d, f->loop, &tcp2, "two.test", 1, 0, on_dialed), -EINVAL);
    fixture_free(f);
}

static void on_guard(eva_timer *t) { *(bool *)t->data = true; }

/* Dial holes.test (callback form, 10 ms attempt delay) and run until both
 * attempts are pending (bounded like test_run_until). */
static void start_racing_dial(fixture *f, eva_tcp_dial_req *d, eva_stream *tcp) {
    *d = (eva_tcp_dial_req){.attempt_delay_ms = 10};
    dialed = false;
    dialed_count = 0;
    assert_int_equal(eva_tcp_dial(d, f->loop, tcp, "holes.test", (uint16_t)f->port, 5000, on_dialed), 0);
    bool expired = false;
    eva_timer guard;
    assert_int_equal(eva_timer_init(f->loop, &guard), 0);
    assert_int_equal(eva_timer_start(&guard, 2000, 0, on_guard, &expired), 0);
    while (d->attempts < 2 && !expired)
        assert_true(eva_loop_run(f->loop, EVA_RUN_ONCE) >= 0);
    eva_timer_stop(&guard);
    assert_int_equal(d->attempts, 2);
}

/* Cancelled with two attempts pending: both sockets closed, one callback. */
static void dial_cancel_mid_race_closes_every_attempt(void **state) {
    (void)state;
    blackhole holes[2];
    fixture *f = fixture_with_holes(holes, 2);
    int fds = open_fds();
    eva_tcp_dial_req d;
    eva_stream tcp = {0};
    start_racing_dial(f, &d, &tcp);
    assert_int_equal(open_fds(), fds + 2); /* both connects pending */
    assert_int_equal(eva_tcp_dial_cancel(&d), 0);
    test_run_until(f->loop, &dialed, 2000);
    assert_int_equal(dialed_status, -ECANCELED);
    assert_int_equal(open_fds(), fds);
    assert_false(eva_stream_is_open(&tcp));
    for (int i = 0; i < 4; i++)
        eva_loop_run(f->loop, EVA_RUN_NOWAIT);
    assert_int_equal(dialed_count, 1);
    holes_close(holes, 2);
    fixture_free(f);
}

/* The loop destroyed mid-race: the dial completes with -ECANCELED and
 * nothing of it stays open. */
static void dial_loop_destroy_mid_race(void **state) {
    (void)state;
    int fds = open_fds();
    blackhole holes[2];
    fixture *f = fixture_with_holes(holes, 2);
    eva_tcp_dial_req d;
    eva_stream tcp = {0};
    start_racing_dial(f, &d, &tcp);
    fixture_free(f);
    assert_int_equal(dialed_count, 1);
    assert_int_equal(dialed_status, -ECANCELED);
    holes_close(holes, 2);
    assert_int_equal(open_fds(), fds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dial_by_name_tries_each_address),
        cmocka_unit_test(dial_prefers_ipv6_and_falls_back),
        cmocka_unit_test(dial_races_past_an_address_that_never_answers),
        cmocka_unit_test(dial_attempt_delay_is_configurable),
        cmocka_unit_test(dial_timeout_bounds_the_race),
        cmocka_unit_test(dial_starts_with_the_first_answer),
        cmocka_unit_test(dial_reports_the_most_useful_error),
        cmocka_unit_test(dial_callback_form_and_cancel),
        cmocka_unit_test(dial_cancel_mid_race_closes_every_attempt),
        cmocka_unit_test(dial_loop_destroy_mid_race),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
