/* Merging identical lookups in flight (singleflight), against the loopback
 * responder, which counts the queries it receives: a burst of one name
 * sends one query per family and every caller gets its own answer, in start
 * order, in the three styles; cancelling the leader, a middle one, or all of
 * them (at c-ares and in the pacing queue); loop destroy with joined queries;
 * an allocation failure while the answer is handed out; families, reverse
 * lookups and (against dnsmasq, behind the responder as a counting proxy)
 * record queries.  Names end with a dot: the system's search domains are
 * never tried. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dns_dnsmasq.h"
#include "dns_responder.h"
#include "helpers.h"

enum { CALLBACK, AWAITED, PROMISED, STYLES };

typedef struct fixture {
    eva_loop *loop;
    dns_responder *r;
} fixture;

static void configure(fixture *fx, int max_in_flight, int cache_size) {
    eva_dns_options o = {.servers = dns_responder_servers(fx->r), .timeout_ms = 1000, .tries = 2,
                         .max_in_flight = max_in_flight, .cache_size = cache_size};
    assert_int_equal(eva_dns_configure(fx->loop, &o), 0);
}

static void fx_start(fixture *fx) {
    fx->loop = test_loop_new();
    assert_int_equal(dns_responder_start(fx->loop, 0, &fx->r), 0);
    configure(fx, 0, 0);
    assert_int_equal(dns_responder_add(fx->r, "db.test", "10.0.0.1"), 0);
    assert_int_equal(dns_responder_add(fx->r, "db.test", "fd00::1"), 0);
    assert_int_equal(dns_responder_add(fx->r, "other.test", "10.0.0.2"), 0);
    /* replies 20 ms late: a loop iteration lets the tasks park, and cancels land first */
    assert_int_equal(dns_responder_add(fx->r, "slow.test", "10.0.0.1"), 0);
    assert_int_equal(dns_responder_set_mode(fx->r, "slow.test", DNS_MODE_ANSWER, 20), 0);
    assert_int_equal(dns_responder_add_ptr(fx->r, "7.0.0.10.in-addr.arpa", "host7.test"), 0);
    assert_int_equal(dns_responder_add_ptr(fx->r, "8.0.0.10.in-addr.arpa", "host8.test"), 0);
}

static void fx_finish(fixture *fx) {
    dns_responder_stop(fx->r);
    assert_int_equal(eva_dns_get_pending(fx->loop), 0);
    test_loop_destroy(fx->loop);
}

/* Completions counted across waiters, and the number waited for. */
typedef struct tally {
    int seq, want;
    bool done;
} tally;

/* One lookup in one of the three styles (the task first: it is the frame). */
typedef struct waiter {
    eva_task task;
    eva_dns_query q;
    int style;
    const char *host;
    int family;
    eva_dns_addrs *addrs;  /* CALLBACK and AWAITED: ours; PROMISED: borrowed from p */
    eva_promise *p;
    int calls, status, order;
    int rc;                /* AWAITED: the AWAIT's status (in the frame: it outlives the AWAIT) */
    tally *t;              /* the completions the order is taken from */
} waiter;

static void completed(waiter *w, int status) {
    w->calls++;
    w->status = status;
    w->order = ++w->t->seq;
    w->t->done = w->t->seq >= w->t->want;
}

static void on_resolved(eva_dns_query *q, int status, eva_dns_addrs *addrs) {
    waiter *w = q->data;
    assert_true((status == 0) == (addrs != NULL));
    w->addrs = addrs;
    completed(w, status);
}

static eva_step awaiter_run(void *frame) {
    waiter *w = frame;
    ASYNC_BEGIN(w);
    AWAIT_RC(w, w->rc, eva_dns_resolve_op(&w->q, w->host, w->family, &w->addrs));
    ASYNC_END(w);
}

static void awaiter_done(eva_task *t) {
    waiter *w = (waiter *)t;
    completed(w, eva_task_get_status(t) < 0 ? eva_task_get_status(t) : w->rc);
}

static void promise_settled(void *arg, eva_promise *settled) {
    waiter *w = arg;
    bool ok = eva_promise_get_state(settled) == EVA_PROMISE_FULFILLED;
    w->addrs = ok ? eva_promise_get_value(settled) : NULL;
    completed(w, ok ? 0 : eva_promise_get_error(settled));
}

static void start(eva_loop *loop, waiter *w, int style, const char *host, int family, tally *t) {
    memset(w, 0, sizeof *w);
    w->style = style;
    w->host = host;
    w->family = family;
    w->t = t;
    if (style == CALLBACK) {
        assert_int_equal(eva_dns_resolve(loop, &w->q, host, family, on_resolved, w), 0);
    } else if (style == AWAITED) {
        assert_int_equal(eva_task_init(loop, &w->task, awaiter_run, "awaiter"), 0);
        assert_int_equal(eva_task_start(&w->task, awaiter_done), 0);
    } else {
        assert_int_equal(eva_dns_resolve_promise(loop, host, family, &w->p), 0);
        assert_int_equal(eva_promise_finally(w->p, promise_settled, w, NULL), 0);
    }
}

static void cancel(waiter *w) {
    if (w->style == CALLBACK)
        assert_int_equal(eva_dns_cancel(&w->q), 0);
    else if (w->style == AWAITED)
        assert_int_equal(eva_task_cancel(&w->task), 0);
    else
        assert_int_equal(eva_promise_cancel(w->p), 0);
    assert_int_equal(w->calls, 0); /* never inside the cancel */
}

/* Free what w received (the promise owns its value). */
static void release(waiter *w) {
    if (w->style == PROMISED)
        eva_promise_unref(w->p);
    else
        eva_dns_addrs_free(w->addrs);
    w->addrs = NULL;
}

/* Run until n completions in all (bounded: only a failure waits long). */
static void run_until_completed(eva_loop *loop, tally *t, int n) {
    t->want = n;
    t->done = t->seq >= n;
    test_run_until(loop, &t->done, 10000);
}

static eva_dns_stats stats(eva_loop *loop) {
    eva_dns_stats s;
    assert_int_equal(eva_dns_get_stats(loop, &s), 0);
    return s;
}

static size_t count_family(const eva_dns_addrs *a, int family) {
    size_t n = 0;
    for (size_t i = 0; a && i < a->count; i++)
        n += a->addr[i].family == family;
    return n;
}

/* The answer db.test. has for family: 10.0.0.1 and/or fd00::1, nothing else. */
static void assert_db_answer(const eva_dns_addrs *a, int family) {
    assert_non_null(a);
    assert_int_equal(count_family(a, AF_INET), family != AF_INET6);
    assert_int_equal(count_family(a, AF_INET6), family != AF_INET);
    assert_int_equal(a->count, family == AF_UNSPEC ? 2 : 1);
}

/* ---- a burst of one name -------------------------------------------------------------------------- */

enum { BURST = 200 };

static void burst_sends_one_query_per_family(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx);
    static const int families[] = {AF_INET, AF_INET6, AF_UNSPEC};
    static waiter w[3][BURST];
    tally t = {0};
    for (int f = 0; f < 3; f++)
        for (int i = 0; i < BURST; i++) /* names have no case: DB.Test. is the same lookup */
            start(fx.loop, &w[f][i], i % STYLES, i % 2 ? "DB.Test." : "db.test.", families[f], &t);
    assert_int_equal(t.seq, 0);
    run_until_completed(fx.loop, &t, 3 * BURST);

    /* one A query, one AAAA, and both for AF_UNSPEC: never one per caller */
    assert_int_equal(dns_responder_queries(fx.r, NULL), 4);
    eva_dns_stats s = stats(fx.loop);
    assert_int_equal(s.cache_misses, 3);
    assert_int_equal(s.cache_hits, 0);
    assert_int_equal(s.merged, 3 * (BURST - 1));
    for (int f = 0; f < 3; f++) {
        int last_callback = 0;
        for (int i = 0; i < BURST; i++) {
            waiter *x = &w[f][i];
            assert_int_equal(x->calls, 1);
            assert_int_equal(x->status, 0);
            assert_db_answer(x->addrs, families[f]);
            if (x->style == CALLBACK) { /* in the order they were started */
                assert_true(x->order > last_callback);
                last_callback = x->order;
                assert_string_equal(eva_dns_query_get_message(&x->q), "success");
            }
            /* each its own copy: a port set in one shows in no other */
            assert_int_equal(eva_dns_addrs_set_port(x->addrs, (uint16_t)(1000 * f + i + 1)), 0);
        }
    }
    for (int f = 0; f < 3; f++)
        for (int i = 0; i < BURST; i++)
            for (size_t k = 0; k < w[f][i].addrs->count; k++)
                assert_int_equal(ntohs(w[f][i].addrs->addr[k].addr.in4.sin_port), 1000 * f + i + 1);
    /* freed in another order than they came: odd ones last first, then the even */
    for (int f = 2; f >= 0; f--)
        for (int i = BURST - 1; i >= 0; i -= 2)
            release(&w[f][i]);
    for (int f = 0; f < 3; f++)
        for (int i = 0; i < BURST; i += 2)
            release(&w[f][i]);
    fx_finish(&fx);
}

/* The cache and the merge agree: once the merged answer is in, a new lookup
 * is a hit, not a query, and no lookup is left to join. */
static void merged_answer_is_cached_once(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx);
    waiter w[3];
    tally t = {0};
    for (int i = 0; i < 3; i++)
        start(fx.loop, &w[i], CALLBACK, "db.test.", AF_INET, &t);
    run_until_completed(fx.loop, &t, 3);
    waiter again;
    start(fx.loop, &again, CALLBACK, "db.test.", AF_INET, &t);
    run_until_completed(fx.loop, &t, 4);
    assert_int_equal(again.status, 0);
    assert_int_equal(dns_responder_queries(fx.r, NULL), 1);
    eva_dns_stats s = stats(fx.loop);
    assert_int_equal(s.cache_misses, 1);
    assert_int_equal(s.merged, 2);
    assert_int_equal(s.cache_hits, 1);
    assert_int_equal(s.cache_entries, 1);
    for (int i = 0; i < 3; i++)
        release(&w[i]);
    release(&again);
    fx_finish(&fx);
}

/* AF_INET, AF_INET6 and AF_UNSPEC of one name are three lookups (the
 * answers differ: an AF_UNSPEC lookup succeeds with only one family). */
static void families_are_not_merged(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx);
    static const int families[] = {AF_UNSPEC, AF_INET, AF_INET6};
    waiter w[3];
    tally t = {0};
    for (int f = 0; f < 3; f++)
        start(fx.loop, &w[f], CALLBACK, "db.test.", families[f], &t);
    run_until_completed(fx.loop, &t, 3);
    assert_int_equal(dns_responder_queries(fx.r, NULL), 4);
    assert_int_equal(stats(fx.loop).merged, 0);
    for (int f = 0; f < 3; f++) {
        assert_int_equal(w[f].status, 0);
        assert_db_answer(w[f].addrs, families[f]);
        release(&w[f]);
    }
    fx_finish(&fx);
}

/* ---- cancelling ----------------------------------------------------------------------------------- */

enum { CROWD = 60 };

/* CROWD lookups of slow.test. in turn in each style, then one iteration:
 * the query is out (its reply 20 ms away), the tasks parked. */
static void start_crowd(fixture *fx, waiter *w, tally *t) {
    for (int i = 0; i < CROWD; i++)
        start(fx->loop, &w[i], i % STYLES, "slow.test.", AF_INET, t);
    eva_loop_run(fx->loop, EVA_RUN_NOWAIT);
}

static void cancel_leader_and_middle_ones(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx);
    waiter w[CROWD];
    tally t = {0};
    start_crowd(&fx, w, &t);
    /* the leader (a callback), and a middle one of each style */
    const int cancelled[] = {0, 30, 31, 32};
    for (size_t k = 0; k < sizeof cancelled / sizeof cancelled[0]; k++)
        cancel(&w[cancelled[k]]);
    assert_int_equal(eva_dns_cancel(&w[0].q), 0); /* twice: left alone */
    run_until_completed(fx.loop, &t, CROWD);
    for (int i = 0; i < CROWD; i++) {
        bool was_cancelled = i == 0 || (i >= 30 && i <= 32);
        assert_int_equal(w[i].calls, 1);
        if (was_cancelled) {
            assert_int_equal(w[i].status, -ECANCELED);
            assert_null(w[i].addrs);
        } else {
            assert_int_equal(w[i].status, 0);
            assert_db_answer(w[i].addrs, AF_INET);
        }
        release(&w[i]);
    }
    assert_int_equal(dns_responder_queries(fx.r, NULL), 1); /* the lookup went on for the others */
    assert_int_equal(stats(fx.loop).merged, CROWD - 1);
    fx_finish(&fx);
}

/* Cancelling every one gives the lookup up: a later identical start does
 * not join it (its answer goes to nobody) but asks on its own. */
static void cancel_all_at_cares(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx);
    waiter w[CROWD];
    tally t = {0};
    start_crowd(&fx, w, &t);
    for (int i = CROWD - 1; i >= 0; i--)
        cancel(&w[i]);
    run_until_completed(fx.loop, &t, CROWD);
    for (int i = 0; i < CROWD; i++) {
        assert_int_equal(w[i].calls, 1);
        assert_int_equal(w[i].status, -ECANCELED);
        release(&w[i]);
    }
    assert_int_equal(eva_dns_get_pending(fx.loop), 0);
    waiter later;
    start(fx.loop, &later, CALLBACK, "slow.test.", AF_INET, &t);
    run_until_completed(fx.loop, &t, CROWD + 1);
    assert_int_equal(later.calls, 1);
    assert_int_equal(later.status, 0);
    assert_db_answer(later.addrs, AF_INET);
    release(&later);
    assert_int_equal(dns_responder_queries(fx.r, NULL), 2);
    assert_int_equal(stats(fx.loop).merged, CROWD - 1);
    fx_finish(&fx);
}

/* With a window of one, the lookup waits in the pacing queue behind another;
 * the others join it there.  Cancelling its leader keeps it queued for them;
 * cancelling all of them takes it off the queue: it is never sent. */
static void joined_in_the_pacing_queue(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx);
    configure(&fx, 1, EVA_DNS_CACHE_OFF); /* every round asks the server */
    enum { N = 12 };
    tally t = {0};
    for (int round = 0; round < 2; round++) {
        bool cancel_all = round == 1;
        unsigned long before = dns_responder_queries(fx.r, NULL);
        waiter blocker, w[N];
        start(fx.loop, &blocker, CALLBACK, "other.test.", AF_INET, &t);
        for (int i = 0; i < N; i++)
            start(fx.loop, &w[i], i % STYLES, "db.test.", AF_INET6, &t);
        assert_int_equal(eva_dns_get_queued(fx.loop), 1); /* one lookup waits, not N */
        for (int i = 0; i < (cancel_all ? N : 1); i++)
            cancel(&w[i]);
        assert_int_equal(eva_dns_get_queued(fx.loop), cancel_all ? 0 : 1);
        run_until_completed(fx.loop, &t, t.seq + N + 1);
        assert_int_equal(blocker.status, 0);
        release(&blocker);
        for (int i = 0; i < N; i++) {
            assert_int_equal(w[i].calls, 1);
            if (cancel_all || i == 0) {
                assert_int_equal(w[i].status, -ECANCELED);
            } else {
                assert_int_equal(w[i].status, 0);
                assert_db_answer(w[i].addrs, AF_INET6);
            }
            release(&w[i]);
        }
        assert_int_equal(eva_dns_get_queued(fx.loop), 0);
        /* the blocker's query, and db.test.'s unless every one was cancelled */
        assert_int_equal(dns_responder_queries(fx.r, NULL) - before, cancel_all ? 1 : 2);
    }
    fx_finish(&fx);
}

static void loop_destroy_with_joined_queries(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx);
    configure(&fx, 1, 0);
    assert_int_equal(dns_responder_set_mode(fx.r, "slow.test", DNS_MODE_DROP, 0), 0);
    enum { N = 15 };
    waiter at_cares[N], queued[N];
    tally t = {0};
    for (int i = 0; i < N; i++)
        start(fx.loop, &at_cares[i], i % STYLES, "slow.test.", AF_INET, &t);
    for (int i = 0; i < N; i++) /* behind the first: waits for the window */
        start(fx.loop, &queued[i], i % STYLES, "db.test.", AF_INET, &t);
    eva_loop_run(fx.loop, EVA_RUN_NOWAIT); /* sent; the tasks parked */
    assert_int_equal(t.seq, 0);
    assert_int_equal(eva_dns_get_queued(fx.loop), 1);
    dns_responder_stop(fx.r); /* its watchers are active handles */
    test_loop_destroy(fx.loop);
    assert_int_equal(t.seq, 2 * N);
    for (int i = 0; i < N; i++) {
        waiter *both[2] = {&at_cares[i], &queued[i]};
        for (int k = 0; k < 2; k++) {
            assert_int_equal(both[k]->calls, 1);
            assert_int_equal(both[k]->status, -ECANCELED);
            release(both[k]);
        }
    }
}

/* ---- allocation failure while the answer is handed out ----------------------------------------- */

enum { FANNED = 4 };

/* Fail the k-th allocation made after the lookups started, for each k until
 * a run fails none: every waiter completes once, with its answer or
 * -ENOMEM (a timeout where c-ares could not keep the reply), nothing leaks,
 * and the failure of one waiter's copy leaves the others theirs: for each
 * waiter there is a run in which it alone failed. */
static void allocation_failure_fails_one_waiter(void **state) {
    (void)state;
    bool alone[FANNED] = {false};
    for (int k = 0;; k++) {
        assert_true(k < 500);
        test_alloc a = {.fail_after = -1, .once = true};
        test_alloc_install(&a);
        eva_loop *loop = test_loop_new();
        dns_responder *r;
        assert_int_equal(dns_responder_start(loop, 0, &r), 0);
        assert_int_equal(dns_responder_add(r, "db.test", "10.0.0.1"), 0);
        eva_dns_options o = {.servers = dns_responder_servers(r), .timeout_ms = 50, .tries = 3};
        assert_int_equal(eva_dns_configure(loop, &o), 0);
        waiter w[FANNED];
        tally t = {0};
        for (int i = 0; i < FANNED; i++)
            start(loop, &w[i], CALLBACK, "db.test.", AF_INET, &t);
        a.fail_after = k;
        run_until_completed(loop, &t, FANNED);
        a.fail_after = -1;
        int failed = 0, which = -1;
        for (int i = 0; i < FANNED; i++) {
            assert_int_equal(w[i].calls, 1);
            if (w[i].status == 0) {
                assert_db_answer(w[i].addrs, AF_INET);
            } else {
                if (w[i].status != -ENOMEM && w[i].status != -ETIMEDOUT)
                    fail_msg("allocation %d: waiter %d got %d (%s)", k, i, w[i].status, eva_strerror(w[i].status));
                failed++;
                which = i;
            }
            release(&w[i]);
        }
        if (failed == 1 && w[which].status == -ENOMEM)
            alone[which] = true;
        unsigned long queries = dns_responder_queries(r, NULL);
        bool injected = a.failed > 0;
        dns_responder_stop(r);
        test_loop_destroy(loop);
        assert_int_equal(a.live, 0);
        test_alloc_install(NULL);
        if (!injected) {
            assert_int_equal(failed, 0);
            assert_int_equal(queries, 1);
            break;
        }
    }
    for (int i = 0; i < FANNED; i++)
        if (!alone[i])
            fail_msg("no run failed waiter %d's copy alone", i);
}

/* ---- reverse lookups and records ----------------------------------------------------------------- */

typedef struct reverse_waiter {
    eva_dns_query q;
    int calls, status;
    char name[64];
} reverse_waiter;

static void on_reversed(eva_dns_query *q, int status, const char *host) {
    reverse_waiter *w = q->data;
    w->calls++;
    w->status = status;
    snprintf(w->name, sizeof w->name, "%s", host ? host : "");
}

static void reverse_lookups_merge_by_address(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx);
    enum { N = 10 };
    reverse_waiter w[N + 1];
    memset(w, 0, sizeof w);
    for (int i = 0; i <= N; i++) {
        /* the port is ignored: every one of 10.0.0.7 is one lookup */
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(1000 + i))};
        inet_pton(AF_INET, i == N ? "10.0.0.8" : "10.0.0.7", &sin.sin_addr);
        assert_int_equal(eva_dns_reverse(fx.loop, &w[i].q, (struct sockaddr *)&sin, sizeof sin, on_reversed, &w[i]), 0);
    }
    while (eva_dns_get_pending(fx.loop) > 0)
        eva_loop_run(fx.loop, EVA_RUN_ONCE);
    for (int i = 0; i <= N; i++) {
        assert_int_equal(w[i].calls, 1);
        assert_int_equal(w[i].status, 0);
        assert_string_equal(w[i].name, i == N ? "host8.test" : "host7.test");
    }
    assert_int_equal(dns_responder_queries(fx.r, NULL), 2);
    assert_int_equal(stats(fx.loop).merged, N - 1);
    fx_finish(&fx);
}

typedef struct records_waiter {
    eva_dns_query q;
    int calls, status;
    eva_dns_records *records;
} records_waiter;

static void on_records(eva_dns_query *q, int status, eva_dns_records *records) {
    records_waiter *w = q->data;
    w->calls++;
    w->status = status;
    w->records = records;
}

static void srv_zone(FILE *f, void *arg) {
    (void)arg;
    fprintf(f, "10.0.0.9 sip.zone.test\n");
}

/* dnsmasq answers; the responder in front of it, as a proxy, counts. */
static void record_queries_merge_by_name_and_type(void **state) {
    (void)state;
    static const char *const options[] = {"--local=/zone.test/",
                                          "--srv-host=_sip._tcp.zone.test,sip.zone.test,5060,10,60", NULL};
    eva_loop *loop = test_loop_new();
    dns_dnsmasq *d;
    int rc = dns_dnsmasq_start(loop, srv_zone, NULL, options, &d);
    if (rc == -ENOENT) { /* scripts/install-deps installs dnsmasq-base */
        test_loop_destroy(loop);
        skip();
    }
    assert_int_equal(rc, 0);
    dns_responder *proxy;
    assert_int_equal(dns_responder_start(loop, 0, &proxy), 0);
    const char *servers = dns_dnsmasq_servers(d);
    assert_int_equal(dns_responder_set_upstream(proxy, (uint16_t)atoi(strchr(servers, ':') + 1)), 0);
    eva_dns_options o = {.servers = dns_responder_servers(proxy), .timeout_ms = 1000, .tries = 2};
    assert_int_equal(eva_dns_configure(loop, &o), 0);
    enum { N = 10 };
    records_waiter w[N + 1];
    memset(w, 0, sizeof w);
    for (int i = 0; i <= N; i++) /* the last asks another type: its own lookup */
        assert_int_equal(eva_dns_query_records(loop, &w[i].q, "_sip._tcp.zone.test.", i == N ? EVA_DNS_TXT : EVA_DNS_SRV,
                                               on_records, &w[i]),
                         0);
    while (eva_dns_get_pending(loop) > 0)
        eva_loop_run(loop, EVA_RUN_ONCE);
    assert_int_equal(dns_responder_queries(proxy, NULL), 2);
    assert_int_equal(stats(loop).merged, N - 1);
    for (int i = 0; i < N; i++) {
        assert_int_equal(w[i].calls, 1);
        assert_int_equal(w[i].status, 0);
        assert_int_equal(w[i].records->count, 1);
        assert_string_equal(w[i].records->rec[0].u.srv.target, "sip.zone.test");
        assert_int_equal(w[i].records->rec[0].u.srv.port, 5060);
        if (i > 0)
            assert_ptr_not_equal(w[i].records, w[i - 1].records);
    }
    assert_int_equal(w[N].status, EVA_EDNS_NODATA);
    for (int i = N - 1; i >= 0; i--) /* each its own block */
        eva_dns_records_free(w[i].records);
    dns_responder_stop(proxy);
    dns_dnsmasq_stop(d);
    test_loop_destroy(loop);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(burst_sends_one_query_per_family),
        cmocka_unit_test(merged_answer_is_cached_once),
        cmocka_unit_test(families_are_not_merged),
        cmocka_unit_test(cancel_leader_and_middle_ones),
        cmocka_unit_test(cancel_all_at_cares),
        cmocka_unit_test(joined_in_the_pacing_queue),
        cmocka_unit_test(loop_destroy_with_joined_queries),
        cmocka_unit_test(allocation_failure_fails_one_waiter),
        cmocka_unit_test(reverse_lookups_merge_by_address),
        cmocka_unit_test(record_queries_merge_by_name_and_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
