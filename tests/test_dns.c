/* DNS on c-ares, against the loopback responder (tests/dns_responder.c) on
 * the test's own loop: A / AAAA / both, NXDOMAIN, SERVFAIL, REFUSED,
 * timeouts with retries, garbage, truncation answered over TCP, 1,000
 * concurrent lookups, cancelling one of many, destroying the loop mid-query,
 * numeric and hosts-file names without a query, reverse lookups, attach mode,
 * invalid arguments and allocation failure, in the three styles.  Every test
 * points the resolver at the responder, so none needs a reachable nameserver. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dns_responder.h"
#include "helpers.h"

/* ---- fixture: a loop, the responder, the resolver pointed at it ------------------ */

typedef struct fixture {
    eva_loop *loop;
    dns_responder *r;
} fixture;

static void fx_start(fixture *fx, int timeout_ms, int tries) {
    fx->loop = test_loop_new();
    assert_int_equal(dns_responder_start(fx->loop, 0, &fx->r), 0);
    eva_dns_options o = {.servers = dns_responder_servers(fx->r), .timeout_ms = timeout_ms, .tries = tries};
    assert_int_equal(eva_dns_configure(fx->loop, &o), 0);
    dns_responder *r = fx->r;
    assert_int_equal(dns_responder_add(r, "v4.test", "10.0.0.1"), 0);
    assert_int_equal(dns_responder_add(r, "v4.test", "10.0.0.2"), 0);
    assert_int_equal(dns_responder_add(r, "v6.test", "fd00::1"), 0);
    assert_int_equal(dns_responder_add(r, "dual.test", "10.0.0.3"), 0);
    assert_int_equal(dns_responder_add(r, "dual.test", "fd00::3"), 0);
    for (int i = 1; i <= 3; i++) {
        char a[32];
        snprintf(a, sizeof a, "10.0.1.%d", i);
        assert_int_equal(dns_responder_add(r, "big.test", a), 0);
    }
    assert_int_equal(dns_responder_set_mode(r, "big.test", DNS_MODE_TRUNCATE, 0), 0);
    assert_int_equal(dns_responder_set_mode(r, "servfail.test", DNS_MODE_SERVFAIL, 0), 0);
    assert_int_equal(dns_responder_set_mode(r, "refused.test", DNS_MODE_REFUSED, 0), 0);
    assert_int_equal(dns_responder_set_mode(r, "nx.test", DNS_MODE_NXDOMAIN, 0), 0);
    assert_int_equal(dns_responder_set_mode(r, "drop.test", DNS_MODE_DROP, 0), 0);
    assert_int_equal(dns_responder_set_mode(r, "garbage.test", DNS_MODE_GARBAGE, 0), 0);
    assert_int_equal(dns_responder_add(r, "slow.test", "10.0.2.1"), 0);
    assert_int_equal(dns_responder_set_mode(r, "slow.test", DNS_MODE_ANSWER, 20), 0);
    assert_int_equal(dns_responder_add(r, "slower.test", "10.0.2.2"), 0);
    assert_int_equal(dns_responder_set_mode(r, "slower.test", DNS_MODE_ANSWER, 60000), 0);
    assert_int_equal(dns_responder_add_ptr(r, "3.2.1.10.in-addr.arpa", "host3.test"), 0);
    assert_int_equal(dns_responder_add_ptr(
        r, "9.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa", "six.test"), 0);
    assert_int_equal(dns_responder_set_synthetic(r, "bulk.test"), 0);
}

static void fx_finish(fixture *fx) {
    dns_responder_stop(fx->r);
    assert_int_equal(eva_dns_get_pending(fx->loop), 0);
    test_loop_destroy(fx->loop);
}

static bool has_addr(const eva_dns_addrs *a, const char *text) {
    char buf[INET6_ADDRSTRLEN];
    for (size_t i = 0; a && i < a->count; i++)
        if (eva_dns_addr_format(&a->addr[i], buf, sizeof buf) == 0 && strcmp(buf, text) == 0)
            return true;
    return false;
}

static size_t count_family(const eva_dns_addrs *a, int family) {
    size_t n = 0;
    for (size_t i = 0; a && i < a->count; i++)
        n += a->addr[i].family == family;
    return n;
}

static void on_guard(eva_timer *t) { *(bool *)t->data = true; }

/* Run until no query is pending, failing after timeout_ms (never hangs). */
static void run_until_no_pending(eva_loop *loop, int64_t timeout_ms) {
    bool expired = false;
    eva_timer guard;
    assert_int_equal(eva_timer_init(loop, &guard), 0);
    assert_int_equal(eva_timer_start(&guard, timeout_ms, 0, on_guard, &expired), 0);
    while (eva_dns_get_pending(loop) > 0 && !expired)
        assert_true(eva_loop_run(loop, EVA_RUN_ONCE) >= 0);
    eva_timer_stop(&guard);
    if (expired)
        fail_msg("%d queries still pending after %lld ms", eva_dns_get_pending(loop), (long long)timeout_ms);
}

/* ---- the three styles ------------------------------------------------------------------- */

/* callback */
typedef struct outcome {
    eva_dns_query q;
    int calls;
    int status;
    eva_dns_addrs *addrs;
    char host[256];
    bool done;
} outcome;

static void on_resolved(eva_dns_query *q, int status, eva_dns_addrs *addrs) {
    outcome *o = q->data;
    assert_false(eva_dns_query_is_pending(q));
    o->calls++;
    o->status = status;
    o->addrs = addrs;
    o->done = true;
    assert_true((status == 0) == (addrs != NULL));
}

static void on_reversed(eva_dns_query *q, int status, const char *host) {
    outcome *o = q->data;
    o->calls++;
    o->status = status;
    o->done = true;
    assert_true((status == 0) == (host != NULL));
    if (host)
        snprintf(o->host, sizeof o->host, "%s", host);
}

/* Resolve with the callback primitive and wait for it. */
static void resolve_cb(fixture *fx, outcome *o, const char *host, int family) {
    memset(o, 0, sizeof *o);
    assert_int_equal(eva_dns_resolve(fx->loop, &o->q, host, family, on_resolved, o), 0);
    assert_int_equal(o->calls, 0); /* never inside the start call */
    assert_true(eva_dns_query_is_pending(&o->q));
    test_run_until(fx->loop, &o->done, 10000);
    assert_int_equal(o->calls, 1);
}

/* AWAIT */
typedef struct resolver {
    eva_task task;
    eva_dns_query query;
    const char *host;
    int family;
    eva_dns_addrs *addrs;
    int rc;
    bool done;
} resolver;

static eva_step resolver_run(void *frame) {
    resolver *f = frame;
    ASYNC_BEGIN(f);
    AWAIT_RC(f, f->rc, eva_dns_resolve_op(&f->query, f->host, f->family, &f->addrs));
    ASYNC_END(f);
}

static void resolver_done(eva_task *t) { ((resolver *)t)->done = true; }

static void resolver_start(eva_loop *loop, resolver *f, const char *host, int family) {
    memset(f, 0, sizeof *f);
    f->host = host;
    f->family = family;
    f->rc = 1;
    assert_int_equal(eva_task_init(loop, &f->task, resolver_run, "resolver"), 0);
    assert_int_equal(eva_task_start(&f->task, resolver_done), 0);
}

/* An AWAIT that propagates the error (the task fails with its message). */
typedef struct strict_resolver {
    eva_task task;
    eva_dns_query query;
    eva_dns_addrs *addrs;
    bool done;
} strict_resolver;

static eva_step strict_run(void *frame) {
    strict_resolver *f = frame;
    ASYNC_BEGIN(f);
    AWAIT(f, eva_dns_resolve_op(&f->query, "servfail.test", AF_INET, &f->addrs));
    ASYNC_END(f);
}

static void strict_done(eva_task *t) { ((strict_resolver *)t)->done = true; }

/* promise */
static eva_promise *resolve_promise(fixture *fx, const char *host, int family) {
    eva_promise *p = NULL;
    assert_int_equal(eva_dns_resolve_promise(fx->loop, host, family, &p), 0);
    assert_int_equal(eva_promise_get_state(p), EVA_PROMISE_PENDING);
    while (eva_promise_get_state(p) == EVA_PROMISE_PENDING)
        assert_true(eva_loop_run(fx->loop, EVA_RUN_ONCE) >= 0);
    return p;
}

/* ---- answers ------------------------------------------------------------------------------ */

static void a_aaaa_and_both(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx, 1000, 2);
    outcome o;

    resolve_cb(&fx, &o, "v4.test", AF_INET);
    assert_int_equal(o.status, 0);
    assert_string_equal(eva_dns_query_get_message(&o.q), "success");
    assert_int_equal(o.addrs->count, 2);
    assert_true(has_addr(o.addrs, "10.0.0.1") && has_addr(o.addrs, "10.0.0.2"));
    for (size_t i = 0; i < o.addrs->count; i++) {
        assert_int_equal(o.addrs->addr[i].family, AF_INET);
        assert_int_equal(o.addrs->addr[i].len, sizeof(struct sockaddr_in));
        assert_int_equal(o.addrs->addr[i].addr.in4.sin_port, 0);
        assert_int_equal(o.addrs->addr[i].ttl, 300);
    }
    assert_int_equal(eva_dns_addrs_set_port(o.addrs, 8080), 0);
    assert_int_equal(ntohs(o.addrs->addr[1].addr.in4.sin_port), 8080);
    eva_dns_addrs_free(o.addrs);

    resolve_cb(&fx, &o, "v6.test", AF_INET6);
    assert_int_equal(o.status, 0);
    assert_int_equal(o.addrs->count, 1);
    assert_true(has_addr(o.addrs, "fd00::1"));
    assert_int_equal(o.addrs->addr[0].len, sizeof(struct sockaddr_in6));
    eva_dns_addrs_free(o.addrs);

    resolve_cb(&fx, &o, "dual.test", AF_UNSPEC);
    assert_int_equal(o.status, 0);
    assert_int_equal(count_family(o.addrs, AF_INET), 1);
    assert_int_equal(count_family(o.addrs, AF_INET6), 1);
    assert_true(has_addr(o.addrs, "10.0.0.3") && has_addr(o.addrs, "fd00::3"));
    eva_dns_addrs_free(o.addrs);

    /* the name exists, but has no address of that family */
    resolve_cb(&fx, &o, "v6.test", AF_INET);
    assert_int_equal(o.status, EVA_EDNS_NOTFOUND);
    assert_null(o.addrs);

    /* the same through AWAIT and a promise */
    resolver f;
    resolver_start(fx.loop, &f, "dual.test", AF_INET6);
    test_run_until(fx.loop, &f.done, 10000);
    assert_int_equal(f.rc, 0);
    assert_int_equal(f.addrs->count, 1);
    assert_true(has_addr(f.addrs, "fd00::3"));
    eva_dns_addrs_free(f.addrs);

    eva_promise *p = resolve_promise(&fx, "v4.test", AF_UNSPEC);
    assert_int_equal(eva_promise_get_state(p), EVA_PROMISE_FULFILLED);
    const eva_dns_addrs *pa = eva_promise_get_value(p);
    assert_int_equal(pa->count, 2);
    assert_true(has_addr(pa, "10.0.0.1"));
    eva_promise_unref(p); /* frees the list */
    fx_finish(&fx);
}

static void nxdomain_servfail_refused(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx, 1000, 2);
    outcome o;
    resolve_cb(&fx, &o, "missing.test", AF_INET); /* not in the table */
    assert_int_equal(o.status, EVA_EDNS_NOTFOUND);
    resolve_cb(&fx, &o, "nx.test", AF_UNSPEC);
    assert_int_equal(o.status, EVA_EDNS_NOTFOUND);
    assert_string_equal(eva_dns_query_get_message(&o.q), "DNS: name not found (NXDOMAIN)");

    resolve_cb(&fx, &o, "servfail.test", AF_INET);
    assert_int_equal(o.status, EVA_EDNS_SERVFAIL);
    /* one server: its SERVFAIL is the answer (no retry that would lose it) */
    assert_int_equal(dns_responder_queries(fx.r, "servfail.test"), 1);
    resolve_cb(&fx, &o, "refused.test", AF_INET);
    assert_int_equal(o.status, EVA_EDNS_REFUSED);

    /* AWAIT propagates the error and its message */
    strict_resolver s = {0};
    eva_task_init(fx.loop, &s.task, strict_run, "strict");
    eva_task_start(&s.task, strict_done);
    test_run_until(fx.loop, &s.done, 10000);
    assert_int_equal(eva_task_get_status(&s.task), EVA_EDNS_SERVFAIL);
    assert_string_equal(eva_task_get_message(&s.task), "DNS: server failure (SERVFAIL) on every try");

    eva_promise *p = resolve_promise(&fx, "nx.test", AF_INET);
    assert_int_equal(eva_promise_get_error(p), EVA_EDNS_NOTFOUND);
    assert_string_equal(eva_promise_get_message(p), "DNS: name not found (NXDOMAIN)");
    eva_promise_unref(p);
    fx_finish(&fx);
}

static void timeout_with_retries(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx, 50, 2); /* 50 ms per try, two tries: the timer drives them, no traffic does */
    outcome o;
    resolve_cb(&fx, &o, "drop.test", AF_INET);
    assert_int_equal(o.status, -ETIMEDOUT);
    assert_int_equal(dns_responder_queries(fx.r, "drop.test"), 2);

    resolver f;
    resolver_start(fx.loop, &f, "drop.test", AF_INET);
    test_run_until(fx.loop, &f.done, 10000);
    assert_int_equal(f.rc, -ETIMEDOUT);
    assert_null(f.addrs);

    eva_promise *p = resolve_promise(&fx, "drop.test", AF_INET);
    assert_int_equal(eva_promise_get_error(p), -ETIMEDOUT);
    eva_promise_unref(p);
    assert_int_equal(dns_responder_queries(fx.r, "drop.test"), 6);
    fx_finish(&fx);
}

static void garbage_reply(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx, 1000, 2);
    outcome o;
    resolve_cb(&fx, &o, "garbage.test", AF_INET);
    assert_int_equal(o.status, EVA_EDNS_BADREPLY);
    assert_string_equal(eva_dns_query_get_message(&o.q), "DNS: malformed reply");
    /* the resolver still works afterwards */
    resolve_cb(&fx, &o, "v4.test", AF_INET);
    assert_int_equal(o.status, 0);
    eva_dns_addrs_free(o.addrs);
    fx_finish(&fx);
}

static void truncated_reply_retried_over_tcp(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx, 1000, 2);
    outcome o;
    resolve_cb(&fx, &o, "big.test", AF_INET);
    assert_int_equal(o.status, 0);
    assert_int_equal(o.addrs->count, 3);
    for (int i = 1; i <= 3; i++) {
        char a[32];
        snprintf(a, sizeof a, "10.0.1.%d", i);
        assert_true(has_addr(o.addrs, a));
    }
    eva_dns_addrs_free(o.addrs);
    assert_true(dns_responder_tcp_queries(fx.r) >= 1);
    assert_int_equal(dns_responder_queries(fx.r, "big.test"), 2); /* once over UDP, once over TCP */
    fx_finish(&fx);
}

/* ---- 1,000 concurrent lookups, in the three styles ---------------------------------------------- */

enum { BULK = 1000 };

static bool bulk_addr_ok(const eva_dns_addrs *a, unsigned long n) {
    if (!a || a->count != 1 || a->addr[0].family != AF_INET)
        return false;
    return ntohl(a->addr[0].addr.in4.sin_addr.s_addr) == dns_synthetic_ipv4(n);
}

static void thousand_concurrent_lookups(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx, 1000, 4);
    /* a burst of replies on one socket: room for them (see eva_dns_options) */
    eva_dns_options opts = {.servers = dns_responder_servers(fx.r), .timeout_ms = 1000, .tries = 4,
                            .recv_buffer = 1 << 20};
    assert_int_equal(eva_dns_configure(fx.loop, &opts), 0);
    static char names[BULK][64];
    static outcome cbs[BULK];
    static resolver tasks[BULK];
    static eva_promise *promises[BULK];
    for (int i = 0; i < BULK; i++) {
        snprintf(names[i], sizeof names[i], "n%d.bulk.test", i);
        if (i % 3 == 0) {
            memset(&cbs[i], 0, sizeof cbs[i]);
            assert_int_equal(eva_dns_resolve(fx.loop, &cbs[i].q, names[i], AF_INET, on_resolved, &cbs[i]), 0);
        } else if (i % 3 == 1) {
            resolver_start(fx.loop, &tasks[i], names[i], AF_INET);
        } else {
            assert_int_equal(eva_dns_resolve_promise(fx.loop, names[i], AF_INET, &promises[i]), 0);
        }
    }
    assert_int_equal(eva_dns_get_pending(fx.loop), BULK - BULK / 3); /* the tasks start theirs next */
    run_until_no_pending(fx.loop, 30000);
    eva_loop_run(fx.loop, EVA_RUN_NOWAIT); /* promise reactions */
    int ok = 0;
    for (int i = 0; i < BULK; i++) {
        if (i % 3 == 0) {
            assert_int_equal(cbs[i].calls, 1);
            assert_int_equal(cbs[i].status, 0);
            ok += bulk_addr_ok(cbs[i].addrs, (unsigned long)i);
            eva_dns_addrs_free(cbs[i].addrs);
        } else if (i % 3 == 1) {
            assert_true(tasks[i].done);
            assert_int_equal(tasks[i].rc, 0);
            ok += bulk_addr_ok(tasks[i].addrs, (unsigned long)i);
            eva_dns_addrs_free(tasks[i].addrs);
        } else {
            assert_int_equal(eva_promise_get_state(promises[i]), EVA_PROMISE_FULFILLED);
            ok += bulk_addr_ok(eva_promise_get_value(promises[i]), (unsigned long)i);
            eva_promise_unref(promises[i]);
        }
    }
    assert_int_equal(ok, BULK);
    assert_true(dns_responder_queries(fx.r, NULL) >= BULK);
    fx_finish(&fx);
}

/* ---- cancellation ---------------------------------------------------------------------------------- */

static void cancel_one_of_many(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx, 1000, 2);
    enum { N = 9, VICTIM = 4 };
    outcome o[N];
    for (int i = 0; i < N; i++) {
        memset(&o[i], 0, sizeof o[i]);
        assert_int_equal(eva_dns_resolve(fx.loop, &o[i].q, "slow.test", AF_INET, on_resolved, &o[i]), 0);
    }
    eva_loop_run(fx.loop, EVA_RUN_NOWAIT); /* the queries are out; replies come in 20 ms */
    assert_int_equal(eva_dns_get_pending(fx.loop), N);
    assert_int_equal(eva_dns_cancel(&o[VICTIM].q), 0);
    assert_int_equal(o[VICTIM].calls, 0);               /* never inside the cancel call */
    assert_true(eva_dns_query_is_pending(&o[VICTIM].q)); /* until its completion has run */
    assert_int_equal(eva_dns_cancel(&o[VICTIM].q), 0);   /* a second cancel changes nothing */
    assert_int_equal(eva_dns_resolve(fx.loop, &o[VICTIM].q, "v4.test", AF_INET, on_resolved, &o[VICTIM]),
                     -EBUSY);
    assert_int_equal(eva_dns_get_pending(fx.loop), N - 1);

    /* an awaiting task cancelled, and a cancelled promise, among them */
    resolver f;
    resolver_start(fx.loop, &f, "slow.test", AF_INET);
    eva_promise *p = NULL;
    assert_int_equal(eva_dns_resolve_promise(fx.loop, "slow.test", AF_INET, &p), 0);
    eva_loop_run(fx.loop, EVA_RUN_NOWAIT);
    assert_int_equal(eva_task_get_state(&f.task), EVA_TASK_SUSPENDED);
    assert_string_equal(f.task.wait->kind, "dns");
    assert_int_equal(eva_task_cancel(&f.task), 0);
    assert_false(f.done); /* resumed later, not inside the cancel */
    assert_int_equal(eva_promise_cancel(p), 0);

    for (int i = 0; i < N; i++)
        test_run_until(fx.loop, &o[i].done, 10000);
    test_run_until(fx.loop, &f.done, 10000);
    while (eva_promise_get_state(p) == EVA_PROMISE_PENDING)
        eva_loop_run(fx.loop, EVA_RUN_ONCE);
    for (int i = 0; i < N; i++) {
        assert_int_equal(o[i].calls, 1);
        if (i == VICTIM) {
            assert_int_equal(o[i].status, -ECANCELED);
            assert_null(o[i].addrs);
            assert_string_equal(eva_dns_query_get_message(&o[i].q), "DNS: query cancelled");
        } else {
            assert_int_equal(o[i].status, 0);
            assert_true(has_addr(o[i].addrs, "10.0.2.1"));
            eva_dns_addrs_free(o[i].addrs);
        }
    }
    assert_int_equal(f.rc, -ECANCELED);
    assert_int_equal(eva_task_get_status(&f.task), 0); /* AWAIT_RC handed the code to the task */
    assert_int_equal(eva_promise_get_error(p), -ECANCELED);
    eva_promise_unref(p);

    /* the late replies for the cancelled queries were ignored; the query is reusable */
    resolve_cb(&fx, &o[VICTIM], "v4.test", AF_INET);
    assert_int_equal(o[VICTIM].status, 0);
    eva_dns_addrs_free(o[VICTIM].addrs);
    assert_int_equal(eva_dns_cancel(&o[VICTIM].q), 0); /* idle: nothing to do */
    assert_int_equal(o[VICTIM].calls, 1);
    fx_finish(&fx);
}

static void on_resolved_restart(eva_dns_query *q, int status, eva_dns_addrs *addrs) {
    outcome *o = q->data;
    o->calls++;
    eva_dns_addrs_free(addrs);
    if (o->calls == 1) {
        assert_int_equal(status, -ECANCELED);
        /* from the callback, the query may be restarted */
        assert_int_equal(eva_dns_resolve(q->loop, q, "v6.test", AF_INET6, on_resolved_restart, o), 0);
    } else {
        o->status = status;
        o->done = true;
    }
}

static void cancel_then_restart_from_the_callback(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx, 1000, 2);
    outcome o = {0};
    assert_int_equal(eva_dns_resolve(fx.loop, &o.q, "drop.test", AF_INET, on_resolved_restart, &o), 0);
    assert_int_equal(eva_dns_cancel(&o.q), 0);
    test_run_until(fx.loop, &o.done, 10000);
    assert_int_equal(o.calls, 2);
    assert_int_equal(o.status, 0);
    fx_finish(&fx);
}

/* ---- destroying the loop mid-query --------------------------------------------------------------- */

static int destroyed_calls;

static void on_destroyed(eva_dns_query *q, int status, eva_dns_addrs *addrs) {
    outcome *o = q->data;
    o->calls++;
    o->status = status;
    destroyed_calls++;
    if (status == 0) {
        eva_dns_addrs_free(addrs); /* the numeric one, delivered before the destroy */
        return;
    }
    assert_null(addrs);
    /* nothing new can start while the loop is being destroyed */
    assert_int_equal(eva_dns_resolve(q->loop, q, "v4.test", AF_INET, on_resolved, o), -ECANCELED);
}

static void destroy_loop_mid_query(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx, 1000, 2);
    outcome o[3];
    for (int i = 0; i < 3; i++) {
        memset(&o[i], 0, sizeof o[i]);
        assert_int_equal(eva_dns_resolve(fx.loop, &o[i].q, i == 1 ? "drop.test" : "slower.test", AF_INET,
                                            on_destroyed, &o[i]),
                         0);
    }
    outcome numeric = {0}; /* answered, delivery still queued */
    assert_int_equal(eva_dns_resolve(fx.loop, &numeric.q, "192.0.2.1", AF_INET, on_destroyed, &numeric), 0);
    resolver f;
    resolver_start(fx.loop, &f, "drop.test", AF_UNSPEC);
    eva_promise *p = NULL;
    assert_int_equal(eva_dns_resolve_promise(fx.loop, "slower.test", AF_INET, &p), 0);
    outcome rev = {0};
    struct sockaddr_in sin = {.sin_family = AF_INET};
    inet_pton(AF_INET, "10.9.9.9", &sin.sin_addr);
    assert_int_equal(dns_responder_set_mode(fx.r, "9.9.9.10.in-addr.arpa", DNS_MODE_DROP, 0), 0);
    assert_int_equal(eva_dns_reverse(fx.loop, &rev.q, (struct sockaddr *)&sin, sizeof sin, on_reversed, &rev), 0);
    eva_loop_run(fx.loop, EVA_RUN_NOWAIT); /* the queries are sent; the task parked */
    eva_loop_run(fx.loop, EVA_RUN_NOWAIT);
    assert_int_equal(eva_task_get_state(&f.task), EVA_TASK_SUSPENDED);
    assert_int_equal(destroyed_calls, 1); /* the numeric one */
    assert_int_equal(numeric.status, 0);

    dns_responder_stop(fx.r); /* its timers are active handles */
    destroyed_calls = 0;
    test_loop_destroy(fx.loop);
    assert_int_equal(destroyed_calls, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(o[i].calls, 1);
        assert_int_equal(o[i].status, -ECANCELED);
    }
    assert_int_equal(rev.calls, 1);
    assert_int_equal(rev.status, -ECANCELED);
    assert_true(f.done);
    assert_int_equal(f.rc, -ECANCELED);
    assert_int_equal(eva_promise_get_error(p), -ECANCELED);
    eva_promise_unref(p);
}

/* ---- no query needed ------------------------------------------------------------------------------ */

/* Hosts-file lookups can only be checked where /etc/hosts names localhost
 * (a minimal chroot may have no /etc/hosts at all). */
static bool hosts_has_localhost(void) {
    FILE *f = fopen("/etc/hosts", "r");
    char line[512];
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f))
        found = strncmp(line, "127.0.0.1", 9) == 0 && strstr(line, "localhost");
    if (f)
        fclose(f);
    if (!found)
        print_message("/etc/hosts has no 127.0.0.1 localhost line: hosts-file lookups not checked\n");
    return found;
}

static void numeric_and_hosts_file_without_a_query(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx, 1000, 2);
    outcome o;
    resolve_cb(&fx, &o, "192.0.2.7", AF_UNSPEC);
    assert_int_equal(o.status, 0);
    assert_int_equal(o.addrs->count, 1);
    assert_true(has_addr(o.addrs, "192.0.2.7"));
    assert_int_equal(o.addrs->addr[0].ttl, 0);
    eva_dns_addrs_free(o.addrs);

    resolve_cb(&fx, &o, "2001:db8::5", AF_INET6);
    assert_int_equal(o.status, 0);
    assert_true(has_addr(o.addrs, "2001:db8::5"));
    eva_dns_addrs_free(o.addrs);

    if (hosts_has_localhost()) {
        resolve_cb(&fx, &o, "localhost", AF_INET); /* /etc/hosts */
        assert_int_equal(o.status, 0);
        assert_true(has_addr(o.addrs, "127.0.0.1"));
        eva_dns_addrs_free(o.addrs);
    }

    resolver f;
    resolver_start(fx.loop, &f, "::1", AF_UNSPEC);
    test_run_until(fx.loop, &f.done, 10000);
    assert_int_equal(f.rc, 0);
    assert_true(has_addr(f.addrs, "::1"));
    eva_dns_addrs_free(f.addrs);

    eva_promise *p = resolve_promise(&fx, "10.20.30.40", AF_INET);
    assert_true(has_addr(eva_promise_get_value(p), "10.20.30.40"));
    eva_promise_unref(p);

    assert_int_equal(dns_responder_queries(fx.r, NULL), 0);
    fx_finish(&fx);
}

/* ---- reverse lookups ---------------------------------------------------------------------------- */

typedef struct reverser {
    eva_task task;
    eva_dns_query query;
    struct sockaddr_storage ss;
    socklen_t len;
    char host[64];
    size_t hostlen;
    int rc;
    bool done;
} reverser;

static eva_step reverser_run(void *frame) {
    reverser *f = frame;
    ASYNC_BEGIN(f);
    AWAIT_RC(f, f->rc, eva_dns_reverse_op(&f->query, (struct sockaddr *)&f->ss, f->len, f->host, f->hostlen));
    ASYNC_END(f);
}

static void reverser_done(eva_task *t) { ((reverser *)t)->done = true; }

static void reverser_run_for(fixture *fx, reverser *f, int family, const char *ip, size_t hostlen) {
    memset(f, 0, sizeof *f);
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&f->ss;
        sin->sin_family = AF_INET;
        inet_pton(AF_INET, ip, &sin->sin_addr);
        f->len = sizeof *sin;
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&f->ss;
        sin6->sin6_family = AF_INET6;
        inet_pton(AF_INET6, ip, &sin6->sin6_addr);
        f->len = sizeof *sin6;
    }
    f->hostlen = hostlen;
    f->rc = 1;
    eva_task_init(fx->loop, &f->task, reverser_run, "reverser");
    eva_task_start(&f->task, reverser_done);
    test_run_until(fx->loop, &f->done, 10000);
}

static void reverse_lookups(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx, 1000, 2);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(80)};
    inet_pton(AF_INET, "10.1.2.3", &sin.sin_addr);

    outcome o = {0};
    assert_int_equal(eva_dns_reverse(fx.loop, &o.q, (struct sockaddr *)&sin, sizeof sin, on_reversed, &o), 0);
    assert_int_equal(o.calls, 0);
    test_run_until(fx.loop, &o.done, 10000);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.host, "host3.test");
    assert_int_equal(dns_responder_queries(fx.r, "3.2.1.10.in-addr.arpa"), 1);

    reverser f;
    reverser_run_for(&fx, &f, AF_INET, "10.1.2.3", sizeof f.host);
    assert_int_equal(f.rc, 0);
    assert_string_equal(f.host, "host3.test");
    reverser_run_for(&fx, &f, AF_INET6, "fd00::9", sizeof f.host);
    assert_int_equal(f.rc, 0);
    assert_string_equal(f.host, "six.test");
    reverser_run_for(&fx, &f, AF_INET, "10.1.2.3", 4); /* "host3.test" does not fit */
    assert_int_equal(f.rc, -ENAMETOOLONG);
    reverser_run_for(&fx, &f, AF_INET, "10.7.7.7", sizeof f.host); /* no PTR record */
    assert_int_equal(f.rc, EVA_EDNS_NOTFOUND);
    if (hosts_has_localhost()) {
        unsigned long before = dns_responder_queries(fx.r, NULL);
        reverser_run_for(&fx, &f, AF_INET, "127.0.0.1", sizeof f.host); /* /etc/hosts */
        assert_int_equal(f.rc, 0);
        assert_string_equal(f.host, "localhost");
        assert_int_equal(dns_responder_queries(fx.r, NULL), before);
    }

    eva_promise *p = NULL;
    assert_int_equal(eva_dns_reverse_promise(fx.loop, (struct sockaddr *)&sin, sizeof sin, &p), 0);
    while (eva_promise_get_state(p) == EVA_PROMISE_PENDING)
        eva_loop_run(fx.loop, EVA_RUN_ONCE);
    assert_string_equal((const char *)eva_promise_get_value(p), "host3.test");
    eva_promise_unref(p);
    fx_finish(&fx);
}

/* ---- attach mode: the resolver's watchers never keep the daemon's loop alive ------------------ */

static void attached_loop_is_not_kept_alive(void **state) {
    (void)state;
    struct ev_loop *ev = ev_loop_new(EVFLAG_AUTO);
    eva_loop *loop = NULL;
    assert_int_equal(eva_loop_from_ev(ev, &loop), 0);
    dns_responder *r;
    assert_int_equal(dns_responder_start(loop, 0, &r), 0);
    assert_int_equal(dns_responder_set_mode(r, "drop.test", DNS_MODE_DROP, 0), 0);
    eva_dns_options opts = {.servers = dns_responder_servers(r), .timeout_ms = 5000, .tries = 4};
    assert_int_equal(eva_dns_configure(loop, &opts), 0);
    outcome o = {0};
    assert_int_equal(eva_dns_resolve(loop, &o.q, "drop.test", AF_INET, on_resolved, &o), 0);
    ev_run(ev, EVRUN_NOWAIT);
    assert_int_equal(dns_responder_queries(r, "drop.test"), 1); /* on the wire */
    dns_responder_stop(r);
    /* the pending query keeps the daemon's loop alive... */
    assert_true(ev_run(ev, EVRUN_NOWAIT));
    /* ...and once it is cancelled, c-ares's socket and timer (still there:
     * c-ares carries the query until it times out) do not */
    eva_dns_cancel(&o.q);
    ev_run(ev, 0); /* returns: nothing holds the loop */
    assert_int_equal(o.calls, 1);
    assert_int_equal(o.status, -ECANCELED);
    assert_false(ev_run(ev, EVRUN_NOWAIT));
    assert_int_equal(eva_loop_destroy(loop), 0);
    assert_false(ev_run(ev, EVRUN_NOWAIT)); /* references balanced */
    ev_loop_destroy(ev);
}

/* ---- configuration ------------------------------------------------------------------------------- */

static void reconfigure_between_queries(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx, 1000, 2);
    dns_responder *other;
    assert_int_equal(dns_responder_start(fx.loop, 0, &other), 0);
    assert_int_equal(dns_responder_add(other, "v4.test", "10.99.0.1"), 0);

    outcome o = {0};
    assert_int_equal(eva_dns_resolve(fx.loop, &o.q, "slow.test", AF_INET, on_resolved, &o), 0);
    eva_dns_options opts = {.servers = dns_responder_servers(other)};
    assert_int_equal(eva_dns_configure(fx.loop, &opts), -EBUSY); /* a query is pending */
    test_run_until(fx.loop, &o.done, 10000);
    eva_dns_addrs_free(o.addrs);

    /* a cancelled query c-ares still carries does not block it */
    assert_int_equal(eva_dns_resolve(fx.loop, &o.q, "drop.test", AF_INET, on_resolved, &o), 0);
    eva_dns_cancel(&o.q);
    o.done = false;
    test_run_until(fx.loop, &o.done, 10000);
    assert_int_equal(eva_dns_configure(fx.loop, &opts), 0);
    resolve_cb(&fx, &o, "v4.test", AF_INET);
    assert_int_equal(o.status, 0);
    assert_true(has_addr(o.addrs, "10.99.0.1"));
    eva_dns_addrs_free(o.addrs);
    assert_int_equal(dns_responder_queries(other, "v4.test"), 1);

    /* a bad configuration fails at once and keeps the previous one */
    eva_dns_options bad = {.servers = "not-an-address"};
    assert_int_equal(eva_dns_configure(fx.loop, &bad), -EINVAL);
    resolve_cb(&fx, &o, "v4.test", AF_INET);
    assert_true(has_addr(o.addrs, "10.99.0.1"));
    eva_dns_addrs_free(o.addrs);

    /* NULL: the system's configuration (no query is made here) */
    assert_int_equal(eva_dns_configure(fx.loop, NULL), 0);
    dns_responder_stop(other);
    fx_finish(&fx);
}

static void several_servers_fail_over(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx, 1000, 2);
    dns_responder *good;
    assert_int_equal(dns_responder_start(fx.loop, 0, &good), 0);
    assert_int_equal(dns_responder_add(good, "v4.test", "10.77.0.1"), 0);
    assert_int_equal(dns_responder_set_mode(good, "servfail.test", DNS_MODE_REFUSED, 0), 0);
    assert_int_equal(dns_responder_set_mode(fx.r, "v4.test", DNS_MODE_SERVFAIL, 0), 0);
    char servers[64];
    snprintf(servers, sizeof servers, "%s,%s", dns_responder_servers(fx.r), dns_responder_servers(good));
    eva_dns_options opts = {.servers = servers, .timeout_ms = 1000, .tries = 1};
    assert_int_equal(eva_dns_configure(fx.loop, &opts), 0);

    /* the first server fails, the second answers */
    outcome o;
    resolve_cb(&fx, &o, "v4.test", AF_INET);
    assert_int_equal(o.status, 0);
    assert_true(has_addr(o.addrs, "10.77.0.1"));
    eva_dns_addrs_free(o.addrs);
    assert_int_equal(dns_responder_queries(fx.r, "v4.test"), 1);
    assert_int_equal(dns_responder_queries(good, "v4.test"), 1);

    /* every server fails: c-ares 1.18 reports it as "no server gave an answer" */
    resolve_cb(&fx, &o, "servfail.test", AF_INET);
    assert_int_equal(o.status, -ECONNREFUSED);
    assert_string_equal(eva_dns_query_get_message(&o.q),
                        "DNS: no server gave an answer (unreachable, or each refused or failed the query)");
    dns_responder_stop(good);
    fx_finish(&fx);
}

/* ---- invalid arguments ----------------------------------------------------------------------------- */

static void invalid_arguments(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx, 1000, 2);
    eva_loop *loop = fx.loop;
    eva_dns_query q = {0};
    int x;
    assert_int_equal(eva_dns_resolve(NULL, &q, "a.test", AF_INET, on_resolved, &x), -EINVAL);
    assert_int_equal(eva_dns_resolve(loop, NULL, "a.test", AF_INET, on_resolved, &x), -EINVAL);
    assert_int_equal(eva_dns_resolve(loop, &q, NULL, AF_INET, on_resolved, &x), -EINVAL);
    assert_int_equal(eva_dns_resolve(loop, &q, "a.test", AF_INET, NULL, &x), -EINVAL);
    assert_int_equal(eva_dns_resolve(loop, &q, "a.test", AF_UNIX, on_resolved, &x), -EINVAL);
    char long_label[80], long_name[300];
    memset(long_label, 'a', 70);
    strcpy(long_label + 70, ".test");
    for (int i = 0; i < 290; i += 2)
        memcpy(long_name + i, "a.", 2);
    strcpy(long_name + 290, "test");
    const char *bad[] = {"", ".", "a..test", ".a.test", "a b.test", "a\tb", "a\nb", long_label, long_name};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(eva_dns_resolve(loop, &q, bad[i], AF_INET, on_resolved, &x), EVA_EDNS_BADNAME);
    assert_false(eva_dns_query_is_pending(&q)); /* nothing started */
    assert_int_equal(eva_dns_get_pending(loop), 0);

    eva_promise *p = NULL;
    assert_int_equal(eva_dns_resolve_promise(NULL, "a.test", AF_INET, &p), -EINVAL);
    assert_int_equal(eva_dns_resolve_promise(loop, NULL, AF_INET, &p), -EINVAL);
    assert_int_equal(eva_dns_resolve_promise(loop, "a.test", AF_INET, NULL), -EINVAL);
    assert_int_equal(eva_dns_resolve_promise(loop, "a..test", AF_INET, &p), EVA_EDNS_BADNAME);
    assert_int_equal(eva_dns_resolve_promise(loop, "a.test", 12345, &p), -EINVAL);
    assert_null(p);

    struct sockaddr_in sin = {.sin_family = AF_INET};
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
    struct sockaddr_un_like { sa_family_t f; char path[20]; } un = {.f = AF_UNIX};
    assert_int_equal(eva_dns_reverse(loop, &q, NULL, sizeof sin, on_reversed, &x), -EINVAL);
    assert_int_equal(eva_dns_reverse(loop, &q, (struct sockaddr *)&sin, sizeof sin, NULL, &x), -EINVAL);
    assert_int_equal(eva_dns_reverse(loop, &q, (struct sockaddr *)&sin, sizeof sin6, on_reversed, &x), -EINVAL);
    assert_int_equal(eva_dns_reverse(loop, &q, (struct sockaddr *)&sin6, sizeof sin, on_reversed, &x), -EINVAL);
    assert_int_equal(eva_dns_reverse(loop, &q, (struct sockaddr *)&un, sizeof un, on_reversed, &x), -EINVAL);
    assert_int_equal(eva_dns_reverse_promise(loop, (struct sockaddr *)&un, sizeof un, &p), -EINVAL);
    assert_int_equal(eva_dns_reverse_promise(loop, (struct sockaddr *)&sin, sizeof sin, NULL), -EINVAL);

    /* a pending query cannot be started again, in any style */
    outcome o = {0};
    assert_int_equal(eva_dns_resolve(loop, &o.q, "slow.test", AF_INET, on_resolved, &o), 0);
    assert_int_equal(eva_dns_resolve(loop, &o.q, "v4.test", AF_INET, on_resolved, &o), -EBUSY);
    assert_int_equal(eva_dns_reverse(loop, &o.q, (struct sockaddr *)&sin, sizeof sin, on_reversed, &o), -EBUSY);
    assert_ptr_equal(o.q.data, &o); /* and it was not touched */
    test_run_until(loop, &o.done, 10000);
    eva_dns_addrs_free(o.addrs);

    assert_int_equal(eva_dns_cancel(NULL), -EINVAL);
    assert_false(eva_dns_query_is_pending(NULL));
    assert_string_equal(eva_dns_query_get_message(NULL), "");
    eva_dns_query fresh = {0};
    assert_string_equal(eva_dns_query_get_message(&fresh), "");
    assert_int_equal(eva_dns_get_pending(NULL), -EINVAL);
    assert_int_equal(eva_dns_addrs_set_port(NULL, 1), -EINVAL);
    eva_dns_addrs_free(NULL);
    eva_dns_addr a = {.family = AF_INET6};
    char small[2]; /* "::" does not fit */
    assert_int_equal(eva_dns_addr_format(NULL, small, sizeof small), -EINVAL);
    assert_int_equal(eva_dns_addr_format(&a, small, sizeof small), -ENOSPC);
    a.family = AF_UNIX;
    assert_int_equal(eva_dns_addr_format(&a, small, sizeof small), -EINVAL);

    eva_dns_options neg = {.timeout_ms = -1};
    assert_int_equal(eva_dns_configure(NULL, NULL), -EINVAL);
    assert_int_equal(eva_dns_configure(loop, &neg), -EINVAL);
    neg = (eva_dns_options){.tries = -1};
    assert_int_equal(eva_dns_configure(loop, &neg), -EINVAL);
    neg = (eva_dns_options){.recv_buffer = -1};
    assert_int_equal(eva_dns_configure(loop, &neg), -EINVAL);
    neg = (eva_dns_options){.servers = ""};
    assert_int_equal(eva_dns_configure(loop, &neg), -EINVAL);
    const char *bad_servers[] = {"127.0.0.1:notaport", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:",
                                 "1.2.3", "[::1", "[::1]", "[::1]x", "::1]:53", "127.0.0.1,", ",127.0.0.1",
                                 "host.example:53", "127.0.0.1:53 "};
    for (size_t i = 0; i < sizeof bad_servers / sizeof bad_servers[0]; i++) {
        neg = (eva_dns_options){.servers = bad_servers[i]};
        if (eva_dns_configure(loop, &neg) != -EINVAL)
            fail_msg("server list \"%s\" accepted", bad_servers[i]);
    }
    /* the good forms */
    const char *good_servers[] = {"127.0.0.1", "127.0.0.1:53", "::1", "[::1]:5353",
                                  "127.0.0.1:53,[::1]:53,192.0.2.1"};
    for (size_t i = 0; i < sizeof good_servers / sizeof good_servers[0]; i++) {
        neg = (eva_dns_options){.servers = good_servers[i]};
        if (eva_dns_configure(loop, &neg) != 0)
            fail_msg("server list \"%s\" refused", good_servers[i]);
    }
    fx_finish(&fx);
}

/* AWAIT forms with bad operands fail at once, without suspending. */
typedef struct bad_awaiter {
    eva_task task;
    eva_dns_query query, busy;
    eva_dns_addrs *addrs;
    struct sockaddr_in sin;
    char host[64];
    int rc[6];
    bool done;
} bad_awaiter;

static eva_step bad_awaiter_run(void *frame) {
    bad_awaiter *f = frame;
    ASYNC_BEGIN(f);
    AWAIT_RC(f, f->rc[0], eva_dns_resolve_op(NULL, "v4.test", AF_INET, &f->addrs));
    AWAIT_RC(f, f->rc[1], eva_dns_resolve_op(&f->query, "v4.test", AF_INET, NULL));
    AWAIT_RC(f, f->rc[2], eva_dns_resolve_op(&f->query, "a..b", AF_INET, &f->addrs));
    AWAIT_RC(f, f->rc[3], eva_dns_resolve_op(&f->busy, "v4.test", AF_INET, &f->addrs));
    AWAIT_RC(f, f->rc[4], eva_dns_reverse_op(&f->query, (struct sockaddr *)&f->sin, sizeof f->sin, f->host, 0));
    AWAIT_RC(f, f->rc[5], eva_dns_reverse_op(&f->query, NULL, sizeof f->sin, f->host, sizeof f->host));
    ASYNC_END(f);
}

static void bad_awaiter_done(eva_task *t) { ((bad_awaiter *)t)->done = true; }

static void await_forms_reject_bad_operands(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx, 1000, 2);
    static bad_awaiter f;
    memset(&f, 0, sizeof f);
    f.sin.sin_family = AF_INET;
    outcome busy_owner = {0};
    assert_int_equal(eva_dns_resolve(fx.loop, &f.busy, "slow.test", AF_INET, on_resolved, &busy_owner), 0);
    eva_task_init(fx.loop, &f.task, bad_awaiter_run, "bad");
    eva_task_start(&f.task, bad_awaiter_done);
    test_run_until(fx.loop, &f.done, 10000);
    assert_int_equal(f.rc[0], -EINVAL);
    assert_int_equal(f.rc[1], -EINVAL);
    assert_int_equal(f.rc[2], EVA_EDNS_BADNAME);
    assert_int_equal(f.rc[3], -EBUSY);
    assert_int_equal(f.rc[4], -EINVAL);
    assert_int_equal(f.rc[5], -EINVAL);
    assert_null(f.addrs);
    test_run_until(fx.loop, &busy_owner.done, 10000);
    eva_dns_addrs_free(busy_owner.addrs);
    fx_finish(&fx);
}

/* ---- allocation failure ------------------------------------------------------------------------- */

static void on_alloc_resolved(eva_dns_query *q, int status, eva_dns_addrs *addrs) {
    outcome *o = q->data;
    o->calls++;
    o->status = status;
    o->addrs = addrs;
    o->done = true;
}

/* Fail the k-th allocation from configure on, for k = 0, 1, ... until a
 * run makes no failing allocation: each run either reports -ENOMEM (or, for
 * a reply c-ares could not store, a timeout) or succeeds, and leaks nothing. */
static void allocation_failure(int style) {
    int runs = 0;
    for (int k = 0;; k++) {
        test_alloc a = {.fail_after = -1};
        test_alloc_install(&a);
        eva_loop *loop = test_loop_new();
        test_log log;
        test_capture_log(loop, &log);
        dns_responder *r;
        assert_int_equal(dns_responder_start(loop, 0, &r), 0);
        assert_int_equal(dns_responder_add(r, "v4.test", "10.0.0.1"), 0);
        eva_dns_options o = {.servers = dns_responder_servers(r), .timeout_ms = 50, .tries = 2};
        a.fail_after = k;
        int rc = eva_dns_configure(loop, &o);
        if (rc == 0) {
            outcome out = {0};
            resolver f;
            eva_promise *p = NULL;
            if (style == 0) {
                rc = eva_dns_resolve(loop, &out.q, "v4.test", AF_INET, on_alloc_resolved, &out);
            } else if (style == 1) {
                memset(&f, 0, sizeof f);
                f.host = "v4.test";
                f.family = AF_INET;
                eva_task_init(loop, &f.task, resolver_run, "resolver");
                rc = eva_task_start(&f.task, resolver_done);
            } else {
                rc = eva_dns_resolve_promise(loop, "v4.test", AF_INET, &p);
            }
            if (rc == 0) {
                bool *done = style == 0 ? &out.done : &f.done;
                if (style == 2) {
                    while (eva_promise_get_state(p) == EVA_PROMISE_PENDING)
                        eva_loop_run(loop, EVA_RUN_ONCE);
                    rc = eva_promise_get_state(p) == EVA_PROMISE_FULFILLED ? 0 : eva_promise_get_error(p);
                    if (rc == 0)
                        assert_true(has_addr(eva_promise_get_value(p), "10.0.0.1"));
                    eva_promise_unref(p);
                } else {
                    test_run_until(loop, done, 10000);
                    rc = style == 0 ? out.status : (eva_task_get_status(&f.task) < 0 ? eva_task_get_status(&f.task) : f.rc);
                    eva_dns_addrs *addrs = style == 0 ? out.addrs : f.addrs;
                    if (rc == 0)
                        assert_true(has_addr(addrs, "10.0.0.1"));
                    eva_dns_addrs_free(addrs);
                }
            }
            if (rc != 0 && rc != -ENOMEM && rc != -ETIMEDOUT)
                fail_msg("style %d, allocation %d: unexpected %d (%s)", style, k, rc, eva_strerror(rc));
        } else {
            assert_int_equal(rc, -ENOMEM);
        }
        bool injected = a.failed > 0;
        a.fail_after = -1;
        dns_responder_stop(r);
        test_loop_destroy(loop);
        assert_int_equal(a.live, 0); /* nothing leaked: evasync's nor c-ares's */
        test_alloc_install(NULL);
        runs++;
        if (!injected) {
            assert_int_equal(rc, 0); /* the run without failures succeeds */
            break;
        }
        assert_true(runs < 1000);
    }
    assert_true(runs > 5); /* there were allocations to fail */
}

static void allocation_failure_callback(void **state) {
    (void)state;
    allocation_failure(0);
}

static void allocation_failure_await(void **state) {
    (void)state;
    allocation_failure(1);
}

static void allocation_failure_promise(void **state) {
    (void)state;
    allocation_failure(2);
}

/* ---- answers a server should not give ------------------------------------------------------ */

/* A scripted answer (dns_responder_set_script) to an A or AAAA query: a
 * record of the other type, then (unless other_only) one of the asked type,
 * both with the given TTL. */
typedef struct odd_answer {
    uint32_t ttl;
    bool other_only;
} odd_answer;

static size_t put_record(uint8_t *m, uint16_t type, uint32_t ttl) {
    static const uint8_t v4[4] = {10, 9, 9, 4};
    static const uint8_t v6[16] = {0xfd, [15] = 6};
    uint16_t len = type == 1 ? 4 : 16;
    uint8_t rr[12] = {0xc0, 0x0c, 0, (uint8_t)type, 0, 1, (uint8_t)(ttl >> 24), (uint8_t)(ttl >> 16),
                      (uint8_t)(ttl >> 8), (uint8_t)ttl, 0, (uint8_t)len};
    memcpy(m, rr, sizeof rr);
    memcpy(m + sizeof rr, type == 1 ? v4 : v6, len);
    return sizeof rr + len;
}

static void answer_odd(void *arg, dns_reply *reply, const uint8_t *q, size_t len, bool tcp) {
    (void)tcp;
    const odd_answer *a = arg;
    size_t qend = 12;
    while (qend < len && q[qend] != 0)
        qend += 1 + q[qend];
    qend += 5;
    assert_true(qend <= len);
    uint16_t asked = (uint16_t)(q[qend - 4] << 8 | q[qend - 3]);
    uint16_t other = asked == 1 ? 28 : 1;
    uint8_t m[512];
    memcpy(m, q, qend);
    m[2] = 0x81; /* QR, RD */
    m[3] = 0x80; /* RA, NOERROR */
    m[7] = a->other_only ? 1 : 2; /* ANCOUNT */
    size_t n = qend + put_record(m + qend, other, a->ttl);
    if (!a->other_only)
        n += put_record(m + n, asked, a->ttl);
    dns_reply_send(reply, m, n);
}

/* Found by tests/fuzz/fuzz_dns: c-ares 1.18 converts every A and AAAA
 * record of an answer, whatever the query asked, so an AF_INET lookup
 * returned an AF_INET6 address (unusable on the AF_INET socket the caller
 * made for it); the list holds only the family asked for. */
static void records_of_another_family_are_dropped(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx, 1000, 2);
    odd_answer odd = {.ttl = 300};
    dns_responder_set_script(fx.r, answer_odd, &odd);
    outcome o;
    static const int families[] = {AF_INET, AF_INET6};
    for (size_t i = 0; i < 2; i++) {
        resolve_cb(&fx, &o, "odd.test", families[i]);
        assert_int_equal(o.status, 0);
        assert_int_equal(o.addrs->count, 1);
        assert_int_equal(o.addrs->addr[0].family, families[i]);
        assert_true(has_addr(o.addrs, families[i] == AF_INET ? "10.9.9.4" : "fd00::6"));
        eva_dns_addrs_free(o.addrs);
    }
    /* only the other family in the answer: no address of the one asked for
     * (another name: odd.test's answer is cached) */
    odd.other_only = true;
    resolve_cb(&fx, &o, "other-only.test", AF_INET);
    assert_int_equal(o.status, EVA_EDNS_NOTFOUND);
    assert_null(o.addrs);
    /* both asked for: both kept */
    odd.other_only = false;
    resolve_cb(&fx, &o, "odd.test", AF_UNSPEC);
    assert_int_equal(o.status, 0);
    assert_true(count_family(o.addrs, AF_INET) >= 1 && count_family(o.addrs, AF_INET6) >= 1);
    eva_dns_addrs_free(o.addrs);
    fx_finish(&fx);
}

/* Found by tests/fuzz/fuzz_dns: a TTL with its top bit set came out as a
 * negative ttl; RFC 2181 section 8 says to read it as 0. */
static void ttl_with_the_top_bit_set_is_zero(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx, 1000, 2);
    odd_answer odd = {.ttl = 0x9b00012cu};
    dns_responder_set_script(fx.r, answer_odd, &odd);
    outcome o;
    resolve_cb(&fx, &o, "odd.test", AF_UNSPEC);
    assert_int_equal(o.status, 0);
    assert_true(o.addrs->count >= 1);
    for (size_t i = 0; i < o.addrs->count; i++)
        assert_int_equal(o.addrs->addr[i].ttl, 0);
    eva_dns_addrs_free(o.addrs);
    odd.ttl = 0x7fffffffu; /* the largest TTL there is stays as it is */
    resolve_cb(&fx, &o, "odd.test", AF_INET);
    assert_int_equal(o.status, 0);
    assert_int_equal(o.addrs->addr[0].ttl, 0x7fffffff);
    eva_dns_addrs_free(o.addrs);
    fx_finish(&fx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_aaaa_and_both),
        cmocka_unit_test(nxdomain_servfail_refused),
        cmocka_unit_test(timeout_with_retries),
        cmocka_unit_test(garbage_reply),
        cmocka_unit_test(records_of_another_family_are_dropped),
        cmocka_unit_test(ttl_with_the_top_bit_set_is_zero),
        cmocka_unit_test(truncated_reply_retried_over_tcp),
        cmocka_unit_test(thousand_concurrent_lookups),
        cmocka_unit_test(cancel_one_of_many),
        cmocka_unit_test(cancel_then_restart_from_the_callback),
        cmocka_unit_test(destroy_loop_mid_query),
        cmocka_unit_test(numeric_and_hosts_file_without_a_query),
        cmocka_unit_test(reverse_lookups),
        cmocka_unit_test(attached_loop_is_not_kept_alive),
        cmocka_unit_test(reconfigure_between_queries),
        cmocka_unit_test(several_servers_fail_over),
        cmocka_unit_test(invalid_arguments),
        cmocka_unit_test(await_forms_reject_bad_operands),
        cmocka_unit_test(allocation_failure_callback),
        cmocka_unit_test(allocation_failure_await),
        cmocka_unit_test(allocation_failure_promise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
