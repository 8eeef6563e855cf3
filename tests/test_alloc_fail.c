/* Allocation failure through the public allocator hook: a failed allocation
 * returns -ENOMEM, leaks nothing, and every evasync allocation is freed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "helpers.h"

static void loop_new_reports_enomem(void **state) {
    (void)state;
    test_alloc a = {.fail_after = 0};
    test_alloc_install(&a);
    eva_loop *loop = (eva_loop *)(void *)&a; /* must be left untouched on failure */
    assert_int_equal(eva_loop_new(&loop), -ENOMEM);
    assert_ptr_equal(loop, (void *)&a);
    assert_int_equal(a.live, 0);

    a.fail_after = -1;
    assert_int_equal(eva_loop_new(&loop), 0);
    assert_true(a.total > 0); /* the loop was allocated through the hook */
    test_loop_destroy(loop);
    assert_int_equal(a.live, 0);
    test_alloc_install(NULL);
}

static void attach_reports_enomem(void **state) {
    (void)state;
    struct ev_loop *ev = ev_loop_new(EVFLAG_AUTO);
    test_alloc a = {.fail_after = 0};
    test_alloc_install(&a);
    eva_loop *loop = NULL;
    assert_int_equal(eva_loop_from_ev(ev, &loop), -ENOMEM);
    assert_null(loop);
    /* the daemon's loop is unaffected */
    assert_int_equal(ev_run(ev, EVRUN_NOWAIT), 0);
    test_alloc_install(NULL);
    ev_loop_destroy(ev);
}

/* ---- the SQLite habit: fail every allocation of a whole program in turn ---- */

typedef struct nap {
    eva_task task;
    int ms;
} nap;

static eva_step nap_run(void *frame) {
    nap *n = frame;
    ASYNC_BEGIN(n);
    AWAIT(n, eva_sleep_op(n->ms));
    ASYNC_END(n);
}

typedef struct waiter {
    eva_task task;
    eva_promise *p;
    int rc;
} waiter;

static eva_step waiter_run(void *frame) {
    waiter *w = frame;
    ASYNC_BEGIN(w);
    AWAIT_RC(w, w->rc, w->p); /* an allocation failure upstream arrives as an error */
    ASYNC_FINALLY(w);
    eva_promise_unref(w->p);
    ASYNC_END(w);
}

static int on_any(void *arg, eva_promise *settled, eva_promise *next) {
    (void)next;
    *(int *)arg += 1;
    return eva_promise_get_error(settled); /* observed: no unhandled-rejection report */
}

/* A TCP round trip: a server task echoes one line, a client task sends it
 * with a copying write and reads it back. */
typedef struct echo_server {
    eva_task task;
    eva_server *srv;
    eva_stream conn;
    eva_server_accept_req acc;
    eva_stream_read_req rd;
    char buf[16];
} echo_server;

static eva_step echo_server_run(void *frame) {
    echo_server *e = frame;
    ASYNC_BEGIN(e);
    AWAIT(e, eva_server_accept_op(&e->acc, e->srv));
    if (eva_stream_open(eva_task_get_loop(&e->task), &e->conn, e->acc.fd) < 0)
        ASYNC_FAIL(e, -EBADF, "cannot open");
    AWAIT(e, eva_stream_read_until_op(&e->rd, &e->conn, e->buf, sizeof e->buf, "\n", 1));
    if (eva_stream_write_copy(&e->conn, e->buf, (size_t)e->rd.nread) < 0)
        ASYNC_FAIL(e, -ENOMEM, "no memory for the copy");
    AWAIT(e, eva_stream_close_op(&e->conn, EVA_STREAM_CLOSE_FLUSH));
    ASYNC_FINALLY(e);
    eva_stream_close(&e->conn, EVA_STREAM_CLOSE_DISCARD, NULL);
    eva_server_close(e->srv);
    ASYNC_END(e);
}

static bool echoed; /* the client got its line back */

typedef struct echo_client {
    eva_task task;
    struct sockaddr_in addr;
    eva_stream tcp;
    eva_tcp_connect_req cn;
    eva_stream_write_req w;
    eva_stream_read_req rd;
    char buf[16];
} echo_client;

static eva_step echo_client_run(void *frame) {
    echo_client *c = frame;
    ASYNC_BEGIN(c);
    AWAIT(c, eva_tcp_connect_op(&c->cn, &c->tcp, (const struct sockaddr *)&c->addr, sizeof c->addr, 5000));
    AWAIT(c, eva_stream_write_op(&c->w, &c->tcp, "ping\n", 5));
    AWAIT(c, eva_stream_read_until_op(&c->rd, &c->tcp, c->buf, sizeof c->buf, "\n", 1));
    echoed = c->rd.nread == 5 && memcmp(c->buf, "ping\n", 5) == 0;
    ASYNC_FINALLY(c);
    eva_stream_close(&c->tcp, EVA_STREAM_CLOSE_DISCARD, NULL);
    ASYNC_END(c);
}

static void echo(eva_loop *loop, eva_server *srv) {
    *srv = (eva_server){0};
    if (eva_tcp_listen_ip(loop, srv, "127.0.0.1", 0, NULL) < 0)
        return;
    echo_server *e;
    echo_client *c;
    if (eva_task_spawn(loop, sizeof *e, echo_server_run, "echo-server", NULL, (void **)&e) < 0) {
        eva_server_close(srv);
        return;
    }
    e->srv = srv;
    if (eva_task_spawn(loop, sizeof *c, echo_client_run, "echo-client", NULL, (void **)&c) < 0) {
        eva_task_cancel(&e->task); /* no client will come */
        return;
    }
    c->addr = (struct sockaddr_in){.sin_family = AF_INET,
                                   .sin_port = htons((uint16_t)eva_tcp_server_get_port(srv)),
                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
}

/* Tasks, promises, a combinator, reactions and a TCP round trip; every call
 * may fail with -ENOMEM, and whatever did start must finish or be cancelled
 * cleanly. */
static void program(eva_loop *loop, int *reactions) {
    eva_server srv;
    echo(loop, &srv);
    for (int i = 0; i < 2; i++) {
        nap *n;
        if (eva_task_spawn(loop, sizeof *n, nap_run, "nap", NULL, (void **)&n) == 0)
            n->ms = 1 + i;
    }
    eva_promise *in[2] = {NULL, NULL}, *all = NULL;
    int rc = eva_sleep_promise(loop, 2, &in[0]);
    if (rc == 0)
        rc = eva_sleep_promise(loop, 3, &in[1]);
    if (rc == 0)
        rc = eva_promise_all(loop, in, 2, &all);
    if (rc == 0)
        rc = eva_promise_then(all, on_any, on_any, reactions, NULL);
    waiter *w;
    if (rc == 0 && eva_task_spawn(loop, sizeof *w, waiter_run, "waiter", NULL, (void **)&w) == 0)
        w->p = eva_promise_ref(all);
    eva_promise_unref(in[0]);
    eva_promise_unref(in[1]);
    eva_promise_unref(all);
    eva_loop_run(loop, EVA_RUN_DEFAULT);
    eva_server_close(&srv); /* if the server task never ran */
}

/* once: only the nth allocation fails (the program goes on); otherwise every
 * allocation from the nth on fails. */
static void sweep(bool once) {
    long needed = -1;
    for (int n = 0; needed < 0 || n <= needed; n++) {
        test_alloc a = {.fail_after = n, .once = once};
        test_alloc_install(&a);
        eva_loop *loop;
        int reactions = 0;
        echoed = false;
        if (eva_loop_new(&loop) == 0) {
            program(loop, &reactions);
            assert_int_equal(eva_loop_destroy(loop), 0);
        }
        test_alloc_install(NULL);
        assert_int_equal(a.live, 0); /* whatever failed, nothing leaked */
        if (a.failed == 0) {
            needed = a.total; /* a run with no failure: the sweep is complete */
            assert_int_equal(reactions, 1);
            assert_true(echoed);
            break;
        }
    }
    assert_true(needed > 5);
}

static void every_allocation_of_a_program_can_fail(void **state) {
    (void)state;
    sweep(false);
}

static void any_one_allocation_of_a_program_can_fail(void **state) {
    (void)state;
    sweep(true);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loop_new_reports_enomem),
        cmocka_unit_test(attach_reports_enomem),
        cmocka_unit_test(every_allocation_of_a_program_can_fail),
        cmocka_unit_test(any_one_allocation_of_a_program_can_fail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
