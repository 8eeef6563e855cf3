/* Allocation failure over a TLS exchange (SQLite's habit): a client and a
 * server handshake on one loop and one line is echoed, while the Nth
 * allocation fails (once, or every one from the Nth on).  Every failing run
 * must give each side a clear error (-ENOMEM where the allocation failed, an
 * EVA_ETLS_* code with a message or the socket's error where the peer went
 * away), leak nothing, and run the loop to its end.
 *
 * An exchange makes ~3,200 allocations, so the whole sweep (every N until
 * a run needs no failure) is ~3,200 runs a mode, about 20 s under ASan:
 * EVA_TLS_SWEEP=full runs it (scripts/test does, in its first ASan run; it
 * found the two bugs the samples had missed).  Otherwise each mode runs SAMPLES values of N
 * spread over the range, offset by EVA_SHUFFLE_SEED so that the suite's
 * seeds cover different ones.  The two contexts are made once (the
 * context's own failures: eva_tls_context_new_reports_enomem).
 *
 * Its own binary: eva_tls_route_allocations() must run before OpenSSL
 * allocates anything, so main calls it first. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <cmocka.h>

#include "helpers.h"
#include "tls_test_certs.h"

static char certdir[64];
static char server_pem[128], server_key[128], ca_pem[128];

/* One side's outcome: the first failing step's code and message. */
typedef struct outcome {
    int code;
    char message[EVA_TLS_MESSAGE_MAX];
    bool done; /* echoed (client) / served (server) */
} outcome;

/* Noted in the outcome, the task ends normally (0: ASYNC_RETURN's status). */
static int failed_with(outcome *o, int code, const char *message) {
    o->code = code;
    snprintf(o->message, sizeof o->message, "%s", message ? message : "");
    return 0;
}

typedef struct tls_server {
    eva_task task;
    eva_server *srv;
    eva_tls_context *ctx;
    outcome *out;
    eva_stream conn;
    eva_server_accept_req acc;
    eva_tls_start_req hs;
    eva_stream_read_req rd;
    int rc;
    char buf[16];
} tls_server;

static eva_step tls_server_run(void *frame) {
    tls_server *e = frame;
    ASYNC_BEGIN(e);
    AWAIT_RC(e, e->rc, eva_server_accept_op(&e->acc, e->srv));
    if (e->rc < 0)
        ASYNC_RETURN(e, failed_with(e->out, e->rc, "accept"));
    e->rc = eva_stream_open(eva_task_get_loop(&e->task), &e->conn, e->acc.fd);
    if (e->rc < 0)
        ASYNC_RETURN(e, failed_with(e->out, e->rc, "open"));
    AWAIT_RC(e, e->rc, eva_tls_start_op(&e->hs, &e->conn, e->ctx, &(eva_tls_start_opts){.timeout_ms = 5000}));
    if (e->rc < 0)
        ASYNC_RETURN(e, failed_with(e->out, e->rc, e->hs.message));
    AWAIT_RC(e, e->rc, eva_stream_read_until_op(&e->rd, &e->conn, e->buf, sizeof e->buf, "\n", 1));
    if (e->rc < 0)
        ASYNC_RETURN(e, failed_with(e->out, e->rc, "read"));
    e->rc = eva_stream_write_copy(&e->conn, e->buf, (size_t)e->rd.nread);
    if (e->rc < 0)
        ASYNC_RETURN(e, failed_with(e->out, e->rc, "write"));
    AWAIT_RC(e, e->rc, eva_stream_close_op(&e->conn, EVA_STREAM_CLOSE_FLUSH));
    e->out->done = e->rc == 0;
    if (e->rc < 0)
        (void)failed_with(e->out, e->rc, "close");
    ASYNC_FINALLY(e);
    eva_stream_close(&e->conn, EVA_STREAM_CLOSE_DISCARD, NULL);
    eva_server_close(e->srv);
    ASYNC_END(e);
}

typedef struct tls_client {
    eva_task task;
    struct sockaddr_in addr;
    eva_tls_context *ctx;
    outcome *out;
    eva_stream tcp;
    eva_tcp_connect_req cn;
    eva_tls_start_req hs;
    eva_stream_write_req w;
    eva_stream_read_req rd;
    int rc;
    char buf[16];
} tls_client;

static eva_step tls_client_run(void *frame) {
    tls_client *c = frame;
    ASYNC_BEGIN(c);
    AWAIT_RC(c, c->rc, eva_tcp_connect_op(&c->cn, &c->tcp, (const struct sockaddr *)&c->addr, sizeof c->addr, 5000));
    if (c->rc < 0)
        ASYNC_RETURN(c, failed_with(c->out, c->rc, "connect"));
    AWAIT_RC(c, c->rc,
             eva_tls_start_op(&c->hs, &c->tcp, c->ctx,
                              &(eva_tls_start_opts){.server_name = "localhost", .timeout_ms = 5000}));
    if (c->rc < 0)
        ASYNC_RETURN(c, failed_with(c->out, c->rc, c->hs.message));
    AWAIT_RC(c, c->rc, eva_stream_write_op(&c->w, &c->tcp, "ping\n", 5));
    if (c->rc < 0)
        ASYNC_RETURN(c, failed_with(c->out, c->rc, "write"));
    AWAIT_RC(c, c->rc, eva_stream_read_until_op(&c->rd, &c->tcp, c->buf, sizeof c->buf, "\n", 1));
    if (c->rc < 0)
        ASYNC_RETURN(c, failed_with(c->out, c->rc, "read"));
    c->out->done = c->rd.nread == 5 && memcmp(c->buf, "ping\n", 5) == 0;
    ASYNC_FINALLY(c);
    eva_stream_close(&c->tcp, EVA_STREAM_CLOSE_DISCARD, NULL);
    ASYNC_END(c);
}

typedef struct exchange {
    eva_tls_context *server_ctx, *client_ctx;
    eva_server srv;
    outcome server, client;
    int setup_rc; /* a step before the tasks ran: the loop, listen, spawn */
} exchange;

static eva_tls_context *server_ctx, *client_ctx;

static int make_contexts(eva_tls_context **server, eva_tls_context **client, char *err, size_t errlen) {
    int rc = eva_tls_context_new(
        &(eva_tls_context_opts){.server = true, .cert_file = server_pem, .key_file = server_key}, server, err,
        errlen);
    if (rc == 0 && (rc = eva_tls_context_new(&(eva_tls_context_opts){.ca_file = ca_pem}, client, err, errlen)) < 0) {
        eva_tls_context_free(*server);
        *server = NULL;
    }
    return rc;
}
static int spawn_pair(eva_loop *loop, exchange *x) {
    int rc = eva_tcp_listen_ip(loop, &x->srv, "127.0.0.1", 0, NULL);
    if (rc < 0)
        return rc;
    tls_server *e;
    tls_client *c;
    if ((rc = eva_task_spawn(loop, sizeof *e, tls_server_run, "tls-server", NULL, (void **)&e)) < 0)
        return rc;
    *e = (tls_server){.task = e->task, .srv = &x->srv, .ctx = x->server_ctx, .out = &x->server};
    if ((rc = eva_task_spawn(loop, sizeof *c, tls_client_run, "tls-client", NULL, (void **)&c)) < 0) {
        eva_task_cancel(&e->task); /* no client will come */
        return rc;
    }
    *c = (tls_client){.task = c->task, .ctx = x->client_ctx, .out = &x->client};
    c->addr = (struct sockaddr_in){.sin_family = AF_INET,
                                   .sin_port = htons((uint16_t)eva_tcp_server_get_port(&x->srv)),
                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    return 0;
}

static void run_exchange(exchange *x) {
    eva_loop *loop;
    x->server_ctx = server_ctx;
    x->client_ctx = client_ctx;
    x->setup_rc = eva_loop_new(&loop);
    if (x->setup_rc < 0)
        return;
    x->setup_rc = spawn_pair(loop, x);
    eva_loop_run(loop, EVA_RUN_DEFAULT);
    eva_server_close(&x->srv); /* if the server task never ran */
    assert_int_equal(eva_loop_destroy(loop), 0);
}
/* The side where an allocation failed says -ENOMEM, or EVA_ETLS_HANDSHAKE
 * with OpenSSL's reason (where OpenSSL reports it as "internal error"); its
 * peer sees the connection end as a TLS error with a message, or the
 * socket's error.  Never EVA_ETLS_VERIFY: the certificate is good. */
static bool clear_error(const outcome *o) {
    switch (o->code) {
    case -ENOMEM:
    case EVA_EOF:
    case EVA_ETLS_TRUNCATED:
    case EVA_ETLS_PROTOCOL:
    case -ECONNRESET:
    case -EPIPE:
    case -ECANCELED: /* the server, its client never spawned */
        return true;
    case EVA_ETLS_HANDSHAKE:
    case EVA_ETLS_CONFIG:
        return o->message[0] != '\0';
    default:
        return false;
    }
}

static long enomem_runs; /* sides that said -ENOMEM (OpenSSL reports some failures as "internal error") */

static void check_failed_run(const exchange *x, long n) {
    if (x->setup_rc < 0) {
        if (x->setup_rc != -ENOMEM)
            fail_msg("N=%ld: setup failed with %s, not -ENOMEM", n, eva_strerror(x->setup_rc));
        return;
    }
    const outcome *sides[] = {&x->server, &x->client};
    for (int i = 0; i < 2; i++) {
        if (sides[i]->done)
            continue;
        if (!clear_error(sides[i]))
            fail_msg("N=%ld: the %s failed with %d %s (%s)", n, i ? "client" : "server", sides[i]->code,
                     eva_strerror(sides[i]->code), sides[i]->message);
        enomem_runs += sides[i]->code == -ENOMEM;
    }
}

/* The thread's OpenSSL state (its error queue keeps its buffers for reuse)
 * is dropped before and after a counted run: made and freed outside it. */
static test_alloc counted_run(exchange *x, long n, bool once) {
    test_alloc a = {.fail_after = (int)n, .once = once};
    OPENSSL_thread_stop();
    test_alloc_install(&a);
    run_exchange(x);
    OPENSSL_thread_stop();
    test_alloc_install(NULL);
    return a;
}

enum { SAMPLES = 24 };
static long clean_total; /* the allocations of an exchange with none failing */

static long first_n(void) {
    const char *seed = getenv("EVA_SHUFFLE_SEED");
    return seed ? atol(seed) % (clean_total / SAMPLES) : 0;
}

static bool full_sweep(void) {
    const char *mode = getenv("EVA_TLS_SWEEP");
    return mode && strcmp(mode, "full") == 0;
}

/* OpenSSL keeps every algorithm it fetches for the first time in the
 * process, for good (its method store's cache): a failure's path may fetch
 * one the clean run did not (the full sweep found 4 such blocks at one N).
 * A leak is what the same run leaves again. */
static bool leaks_again(long n, bool once) {
    exchange x = {0};
    return counted_run(&x, n, once).live != 0;
}

/* once: only the Nth allocation fails; otherwise every one from the Nth on. */
static void sweep(bool once) {
    bool full = full_sweep();
    enomem_runs = 0;
    long step = full ? 1 : clean_total / SAMPLES, runs = 0;
    for (long n = full ? 0 : first_n();; n += step, runs++) {
        exchange x = {0};
        test_alloc a = counted_run(&x, n, once);
        if (a.live != 0 && leaks_again(n, once))
            fail_msg("N=%ld: %ld blocks leaked", n, a.live);
        if (a.failed == 0) {
            assert_true(x.server.done && x.client.done);
            break;
        }
        check_failed_run(&x, n);
    }
    print_message("tls alloc sweep once=%d: %ld failing runs, step %ld, %ld sides said -ENOMEM\n", once, runs, step,
                  enomem_runs);
    assert_true(runs >= (full ? 100 : SAMPLES - 1)); /* OpenSSL's allocations went through the hook */
}

static void every_allocation_from_n_on_can_fail(void **state) {
    (void)state;
    sweep(false);
}

static void any_one_allocation_can_fail(void **state) {
    (void)state;
    sweep(true);
}

/* A context OpenSSL could not allocate for is -ENOMEM (with OpenSSL's
 * reason), not a configuration OpenSSL refused; nothing leaks.  The
 * failure may come only in the frees (SSL_CTX_free allocates to flush its
 * session cache, and copes): then the contexts were made. */
static void eva_tls_context_new_reports_enomem(void **state) {
    (void)state;
    long step = full_sweep() ? 1 : 97, runs = 0;
    for (long n = 0;; n += step, runs++) {
        test_alloc a = {.fail_after = (int)n};
        eva_tls_context *s = NULL, *c = NULL;
        char err[EVA_TLS_MESSAGE_MAX] = "";
        OPENSSL_thread_stop();
        test_alloc_install(&a);
        int rc = make_contexts(&s, &c, err, sizeof err);
        long failed_making = a.failed;
        eva_tls_context_free(s);
        eva_tls_context_free(c);
        OPENSSL_thread_stop();
        test_alloc_install(NULL);
        if (a.live != 0)
            fail_msg("N=%ld: %ld blocks leaked", n, a.live);
        if (a.failed == 0) {
            assert_int_equal(rc, 0);
            break;
        }
        if (failed_making == 0)
            assert_int_equal(rc, 0);
        else if (rc != -ENOMEM && !(rc == EVA_ETLS_CONFIG && err[0]))
            fail_msg("N=%ld: eva_tls_context_new: %s (%s)", n, eva_strerror(rc), err);
    }
    assert_true(runs > 10);
}

/* OpenSSL's one-time state (providers, error strings, method stores) is made
 * by a first exchange with no failure: it lives to exit, not a leak. */
static int group_setup(void **state) {
    (void)state;
    snprintf(certdir, sizeof certdir, "/tmp/evasync-tls-alloc-XXXXXX");
    tls_test_certs_make(certdir, TLS_CERTS_SCRIPT);
    snprintf(server_pem, sizeof server_pem, "%s/server.pem", certdir);
    snprintf(server_key, sizeof server_key, "%s/server.key", certdir);
    snprintf(ca_pem, sizeof ca_pem, "%s/ca.pem", certdir);
    char err[EVA_TLS_MESSAGE_MAX];
    if (make_contexts(&server_ctx, &client_ctx, err, sizeof err) < 0)
        fail_msg("contexts: %s", err);
    exchange x = {0};
    run_exchange(&x);
    assert_true(x.server.done && x.client.done);
    exchange y = {0};
    clean_total = counted_run(&y, -1, false).total;
    assert_true(y.server.done && y.client.done);
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    return tls_test_teardown(server_ctx, client_ctx, certdir);
}

int main(void) {
    /* first: OpenSSL takes the hook only before its first allocation */
    if (eva_tls_route_allocations() != 0) {
        fprintf(stderr, "test_tls_alloc: OpenSSL allocated before main\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_allocation_from_n_on_can_fail),
        cmocka_unit_test(any_one_allocation_can_fail),
        cmocka_unit_test(eva_tls_context_new_reports_enomem),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
