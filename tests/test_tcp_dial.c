/* Connecting by name: resolve through the loopback DNS responder, then try
 * each address in order until one connects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>

#include "dns_responder.h"
#include "helpers.h"

typedef struct fixture {
    eva_loop *loop;
    dns_responder *r;
    eva_server srv;
    int port;
} fixture;

static void on_accept(eva_server *srv, int fd) {
    (void)srv;
    close(fd); /* the connect itself is what is tested */
}

static fixture *fixture_new(void) {
    fixture *f = calloc(1, sizeof *f);
    f->loop = test_loop_new();
    assert_int_equal(dns_responder_start(f->loop, 0, &f->r), 0);
    eva_dns_options o = {.servers = dns_responder_servers(f->r), .timeout_ms = 200, .tries = 2};
    assert_int_equal(eva_dns_configure(f->loop, &o), 0);
    /* 127.0.0.2 is loopback too, but nothing listens there: refused */
    assert_int_equal(dns_responder_add(f->r, "two.test", "127.0.0.2"), 0);
    assert_int_equal(dns_responder_add(f->r, "two.test", "127.0.0.1"), 0);
    assert_int_equal(dns_responder_add(f->r, "refusing.test", "127.0.0.2"), 0);
    assert_int_equal(eva_tcp_listen_ip(f->loop, &f->srv, "127.0.0.1", 0, NULL), 0);
    assert_int_equal(eva_server_accept_start(&f->srv, on_accept), 0);
    f->port = eva_tcp_server_get_port(&f->srv);
    return f;
}

static void fixture_free(fixture *f) {
    eva_server_close(&f->srv);
    dns_responder_stop(f->r);
    test_loop_destroy(f->loop);
    free(f);
}

typedef struct dialer {
    eva_task task;
    eva_tcp_dial_req dial;
    eva_stream tcp;
    const char *host;
    int port;
    int rc;
} dialer;

static eva_step dialer_run(void *frame) {
    dialer *d = frame;
    ASYNC_BEGIN(d);
    AWAIT_RC(d, d->rc, eva_tcp_dial_op(&d->dial, &d->tcp, d->host, (uint16_t)d->port, 2000));
    ASYNC_FINALLY(d);
    eva_stream_close(&d->tcp, EVA_STREAM_CLOSE_DISCARD, NULL);
    ASYNC_END(d);
}

static int dial(fixture *f, const char *host) {
    dialer d = {.host = host, .port = f->port, .rc = 1};
    eva_task_init(f->loop, &d.task, dialer_run, "dialer");
    eva_task_start(&d.task, NULL);
    while (eva_task_get_state(&d.task) != EVA_TASK_DONE)
        assert_true(eva_loop_run(f->loop, EVA_RUN_ONCE) >= 0);
    return d.rc;
}

static void dial_by_name_tries_each_address(void **state) {
    (void)state;
    fixture *f = fixture_new();
    assert_int_equal(dial(f, "127.0.0.1"), 0);             /* numeric: no query */
    assert_int_equal(dns_responder_queries(f->r, NULL), 0);
    assert_int_equal(dial(f, "two.test"), 0);              /* one refuses, one connects */
    assert_true(dns_responder_queries(f->r, "two.test") > 0);
    assert_int_equal(dial(f, "refusing.test"), -ECONNREFUSED); /* the last attempt's error */
    assert_int_equal(dial(f, "nowhere.test"), EVA_EDNS_NOTFOUND);
    fixture_free(f);
}

static int dialed_status;
static bool dialed;
static void on_dialed(eva_tcp_dial_req *req, int status) {
    dialed_status = status;
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

    /* cancelled while the query is in flight (the responder holds it) */
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
    fixture_free(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dial_by_name_tries_each_address),
        cmocka_unit_test(dial_callback_form_and_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
