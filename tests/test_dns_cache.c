/* The address cache (issue 15 §4), against the loopback responder: hits
 * served without a query but still from the loop, TTL expiry (the cache's
 * clock is skewed through eva__dns_clock_skew_ms: no sleeps), the shortest
 * TTL of a CNAME chain, LRU eviction, negative answers, what is never cached
 * (failures, TTL 0, numeric and hosts-file names), per-family keys, the off
 * switches, and eva_dns_configure emptying it.  Names end with a dot: the
 * system's search domains are never tried. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "dns_responder.h"
#include "helpers.h"

extern int64_t eva__dns_clock_skew_ms; /* net/dns_internal.h: the cache's clock */

typedef struct fixture {
    eva_loop *loop;
    dns_responder *r;
} fixture;

static void configure(fixture *fx, int cache_size, int negative_ttl) {
    eva_dns_options o = {.servers = dns_responder_servers(fx->r), .timeout_ms = 1000, .tries = 2,
                         .cache_size = cache_size, .cache_negative_ttl = negative_ttl};
    assert_int_equal(eva_dns_configure(fx->loop, &o), 0);
}

static int setup(void **state) {
    static fixture fx;
    eva__dns_clock_skew_ms = 0;
    fx.loop = test_loop_new();
    assert_int_equal(dns_responder_start(fx.loop, 0, &fx.r), 0);
    configure(&fx, 0, 0);
    assert_int_equal(dns_responder_add(fx.r, "v4.test", "10.0.0.1"), 0);
    assert_int_equal(dns_responder_add(fx.r, "v4.test", "10.0.0.2"), 0);
    assert_int_equal(dns_responder_add(fx.r, "dual.test", "10.0.0.3"), 0);
    assert_int_equal(dns_responder_add(fx.r, "dual.test", "fd00::3"), 0);
    assert_int_equal(dns_responder_add(fx.r, "short.test", "10.0.0.4"), 0);
    assert_int_equal(dns_responder_set_ttl(fx.r, "short.test", 1), 0);
    assert_int_equal(dns_responder_add(fx.r, "zero.test", "10.0.0.5"), 0);
    assert_int_equal(dns_responder_set_ttl(fx.r, "zero.test", 0), 0);
    for (char c = 'a'; c <= 'c'; c++) {
        char name[16];
        snprintf(name, sizeof name, "%c.test", c);
        assert_int_equal(dns_responder_add(fx.r, name, "10.0.1.1"), 0);
    }
    assert_int_equal(dns_responder_set_mode(fx.r, "nx.test", DNS_MODE_NXDOMAIN, 0), 0);
    assert_int_equal(dns_responder_set_mode(fx.r, "servfail.test", DNS_MODE_SERVFAIL, 0), 0);
    *state = &fx;
    return 0;
}

static int teardown(void **state) {
    fixture *fx = *state;
    dns_responder_stop(fx->r);
    test_loop_destroy(fx->loop);
    eva__dns_clock_skew_ms = 0;
    return 0;
}

/* Make the cache's clock read stored_at + age_ms.  An entry is stored at
 * some loop time between the eva_now() read before its lookup and the one
 * after it: an age just under the TTL is taken from the first (the entry is
 * surely still fresh), one at the TTL from the second (surely expired), so
 * the loop time a loaded machine spends between the two does not count. */
static void age_to(const fixture *fx, uint64_t stored_at, int64_t age_ms) {
    eva__dns_clock_skew_ms = (int64_t)stored_at + age_ms - (int64_t)eva_now(fx->loop);
}

typedef struct outcome {
    eva_dns_query q;
    int calls;
    int status;
    eva_dns_addrs *addrs;
    char message[128];
    bool done;
} outcome;

static void on_resolved(eva_dns_query *q, int status, eva_dns_addrs *addrs) {
    outcome *o = q->data;
    o->calls++;
    o->status = status;
    o->addrs = addrs;
    snprintf(o->message, sizeof o->message, "%s", eva_dns_query_get_message(q));
    o->done = true;
}

/* Resolve and wait; the answer always comes from the loop, never inside the
 * start call.  Returns the status; *addrs (if given) receives the list. */
static int resolve(fixture *fx, outcome *o, const char *host, int family) {
    memset(o, 0, sizeof *o);
    assert_int_equal(eva_dns_resolve(fx->loop, &o->q, host, family, on_resolved, o), 0);
    assert_int_equal(o->calls, 0);
    test_run_until(fx->loop, &o->done, 5000);
    assert_int_equal(o->calls, 1);
    return o->status;
}

/* Resolve, expect success, free the list; returns the first address's TTL. */
static int resolve_ok(fixture *fx, const char *host, int family) {
    outcome o;
    assert_int_equal(resolve(fx, &o, host, family), 0);
    int ttl = o.addrs->addr[0].ttl;
    eva_dns_addrs_free(o.addrs);
    return ttl;
}

static eva_dns_stats stats(fixture *fx) {
    eva_dns_stats s;
    assert_int_equal(eva_dns_get_stats(fx->loop, &s), 0);
    return s;
}

static void hit_is_served_from_the_loop_without_a_query(void **state) {
    fixture *fx = *state;
    outcome first, again;
    assert_int_equal(resolve(fx, &first, "v4.test.", AF_INET), 0);
    unsigned long queries = dns_responder_queries(fx->r, NULL);
    assert_int_equal(resolve(fx, &again, "V4.Test.", AF_INET), 0); /* names have no case */
    assert_int_equal(dns_responder_queries(fx->r, NULL), queries);
    assert_int_equal(again.addrs->count, first.addrs->count);
    assert_memory_equal(&again.addrs->addr[0].addr, &first.addrs->addr[0].addr, first.addrs->addr[0].len);
    assert_string_equal(again.message, "success");
    eva_dns_addrs_free(first.addrs);
    eva_dns_addrs_free(again.addrs);
    eva_dns_stats s = stats(fx);
    assert_int_equal(s.cache_hits, 1);
    assert_int_equal(s.cache_misses, 1);
    assert_int_equal(s.cache_entries, 1);
    /* a cached answer's TTL reads what is left of it */
    eva__dns_clock_skew_ms = 10 * 1000;
    assert_int_equal(resolve_ok(fx, "v4.test.", AF_INET), 300 - 10);
}

static void cancelled_hit_completes_once(void **state) {
    fixture *fx = *state;
    resolve_ok(fx, "v4.test.", AF_INET);
    outcome o;
    memset(&o, 0, sizeof o);
    assert_int_equal(eva_dns_resolve(fx->loop, &o.q, "v4.test.", AF_INET, on_resolved, &o), 0);
    assert_int_equal(eva_dns_cancel(&o.q), 0);
    assert_int_equal(o.calls, 0);
    test_run_until(fx->loop, &o.done, 5000);
    assert_int_equal(o.calls, 1);
    assert_int_equal(o.status, -ECANCELED);
    assert_null(o.addrs);
    eva_loop_run(fx->loop, EVA_RUN_NOWAIT); /* nothing more arrives */
    assert_int_equal(o.calls, 1);
}

static void entries_expire_with_their_ttl(void **state) {
    fixture *fx = *state;
    uint64_t before = eva_now(fx->loop);
    assert_int_equal(resolve_ok(fx, "short.test.", AF_INET), 1);
    uint64_t after = eva_now(fx->loop);
    assert_int_equal(dns_responder_queries(fx->r, "short.test"), 1);
    age_to(fx, before, 999);
    resolve_ok(fx, "short.test.", AF_INET);
    assert_int_equal(dns_responder_queries(fx->r, "short.test"), 1);
    age_to(fx, after, 1000); /* the TTL has run out: asked again */
    assert_int_equal(resolve_ok(fx, "short.test.", AF_INET), 1);
    assert_int_equal(dns_responder_queries(fx->r, "short.test"), 2);
    eva_dns_stats s = stats(fx);
    assert_int_equal(s.cache_expired, 1);
    assert_int_equal(s.cache_hits, 1);
    assert_int_equal(s.cache_misses, 2);
}

/* eva_now is the wall clock: stepped back, an entry is not trusted (it
 * would otherwise live until the clock caught up). */
static void a_clock_stepping_back_expires_entries(void **state) {
    fixture *fx = *state;
    resolve_ok(fx, "v4.test.", AF_INET);
    eva__dns_clock_skew_ms = -5000;
    resolve_ok(fx, "v4.test.", AF_INET);
    assert_int_equal(dns_responder_queries(fx->r, "v4.test"), 2);
    assert_int_equal(stats(fx).cache_expired, 1);
}

/* An answer through a CNAME: alias.test CNAME short-lived (TTL 2) then
 * 10.9.0.1 with TTL 300.  The chain is as fresh as its CNAME. */
static void answer_cname(void *arg, dns_reply *reply, const uint8_t *q, size_t len, bool tcp) {
    (void)arg;
    (void)tcp;
    size_t qend = 12;
    while (qend < len && q[qend] != 0)
        qend += 1u + q[qend];
    qend += 5;
    assert_true(qend <= len);
    uint8_t m[512];
    memcpy(m, q, qend);
    m[2] = 0x81;                   /* QR, RD */
    m[3] = 0x80;                   /* RA, NOERROR */
    bool a = q[qend - 3] == 1;     /* type A: the CNAME and the address; else the CNAME alone */
    m[7] = a ? 2 : 1;              /* ANCOUNT */
    static const uint8_t cname[] = {0xc0, 0x0c, 0, 5, 0, 1, 0, 0, 0, 2, 0, 8, 6, 't', 'a', 'r', 'g', 'e', 't', 0};
    static const uint8_t addr[] = {0xc0, 0x00 /* set below */, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 10, 9, 0, 1};
    size_t n = qend;
    memcpy(m + n, cname, sizeof cname);
    /* the A record's owner is the CNAME's target, right after its RDLENGTH */
    size_t target_at = n + 12;
    n += sizeof cname;
    if (a) {
        memcpy(m + n, addr, sizeof addr);
        m[n + 1] = (uint8_t)target_at;
        n += sizeof addr;
    }
    dns_reply_send(reply, m, n);
}

static void a_cname_chain_is_cached_for_its_shortest_ttl(void **state) {
    fixture *fx = *state;
    dns_responder_set_script(fx->r, answer_cname, NULL);
    uint64_t before = eva_now(fx->loop);
    assert_int_equal(resolve_ok(fx, "alias.test.", AF_INET), 300);
    uint64_t after = eva_now(fx->loop);
    unsigned long queries = dns_responder_queries(fx->r, NULL);
    age_to(fx, before, 1999);
    resolve_ok(fx, "alias.test.", AF_INET);
    assert_int_equal(dns_responder_queries(fx->r, NULL), queries);
    age_to(fx, after, 2000);
    resolve_ok(fx, "alias.test.", AF_INET);
    assert_int_equal(dns_responder_queries(fx->r, NULL), queries + 1);
    dns_responder_set_script(fx->r, NULL, NULL);
}

static void least_recently_used_makes_room(void **state) {
    fixture *fx = *state;
    configure(fx, 2, 0);
    resolve_ok(fx, "a.test.", AF_INET);
    resolve_ok(fx, "b.test.", AF_INET);
    resolve_ok(fx, "a.test.", AF_INET); /* a is now the more recent */
    resolve_ok(fx, "c.test.", AF_INET); /* b goes */
    eva_dns_stats s = stats(fx);
    assert_int_equal(s.cache_evictions, 1);
    assert_int_equal(s.cache_entries, 2);
    resolve_ok(fx, "a.test.", AF_INET);
    resolve_ok(fx, "c.test.", AF_INET);
    assert_int_equal(dns_responder_queries(fx->r, "a.test"), 1);
    assert_int_equal(dns_responder_queries(fx->r, "c.test"), 1);
    resolve_ok(fx, "b.test.", AF_INET);
    assert_int_equal(dns_responder_queries(fx->r, "b.test"), 2);
}

static void negative_answers_are_cached_for_the_negative_ttl(void **state) {
    fixture *fx = *state;
    outcome o;
    uint64_t before = eva_now(fx->loop);
    assert_int_equal(resolve(fx, &o, "nx.test.", AF_INET), EVA_EDNS_NOTFOUND);
    uint64_t after = eva_now(fx->loop);
    char message[sizeof o.message];
    snprintf(message, sizeof message, "%s", o.message);
    assert_int_equal(resolve(fx, &o, "nx.test.", AF_INET), EVA_EDNS_NOTFOUND);
    assert_string_equal(o.message, message);
    assert_int_equal(dns_responder_queries(fx->r, "nx.test"), 1);
    age_to(fx, before, EVA_DNS_DEFAULT_NEGATIVE_TTL * 1000 - 1);
    assert_int_equal(resolve(fx, &o, "nx.test.", AF_INET), EVA_EDNS_NOTFOUND);
    assert_int_equal(dns_responder_queries(fx->r, "nx.test"), 1);
    age_to(fx, after, EVA_DNS_DEFAULT_NEGATIVE_TTL * 1000);
    assert_int_equal(resolve(fx, &o, "nx.test.", AF_INET), EVA_EDNS_NOTFOUND);
    assert_int_equal(dns_responder_queries(fx->r, "nx.test"), 2);

    /* NODATA (no address of the family) is negative for that family only */
    eva__dns_clock_skew_ms = 0;
    configure(fx, 0, 5);
    assert_int_equal(resolve(fx, &o, "v4.test.", AF_INET6), EVA_EDNS_NOTFOUND);
    assert_int_equal(resolve(fx, &o, "v4.test.", AF_INET6), EVA_EDNS_NOTFOUND);
    assert_int_equal(dns_responder_queries(fx->r, "v4.test"), 1);
    resolve_ok(fx, "v4.test.", AF_INET);
    assert_int_equal(dns_responder_queries(fx->r, "v4.test"), 2);
    eva__dns_clock_skew_ms = 5000;
    assert_int_equal(resolve(fx, &o, "v4.test.", AF_INET6), EVA_EDNS_NOTFOUND);
    assert_int_equal(dns_responder_queries(fx->r, "v4.test"), 3);
}

static void families_are_cached_apart(void **state) {
    fixture *fx = *state;
    outcome o;
    assert_int_equal(resolve(fx, &o, "dual.test.", AF_UNSPEC), 0);
    assert_int_equal(o.addrs->count, 2);
    eva_dns_addrs_free(o.addrs);
    unsigned long queries = dns_responder_queries(fx->r, "dual.test");
    assert_int_equal(resolve(fx, &o, "dual.test.", AF_INET6), 0); /* its own key: asked */
    assert_int_equal(o.addrs->count, 1);
    assert_int_equal(o.addrs->addr[0].family, AF_INET6);
    eva_dns_addrs_free(o.addrs);
    assert_int_equal(dns_responder_queries(fx->r, "dual.test"), queries + 1);
    assert_int_equal(resolve(fx, &o, "dual.test.", AF_UNSPEC), 0);
    assert_int_equal(o.addrs->count, 2);
    eva_dns_addrs_free(o.addrs);
    assert_int_equal(dns_responder_queries(fx->r, "dual.test"), queries + 1);
}

static void failures_and_ttl_zero_are_not_cached(void **state) {
    fixture *fx = *state;
    outcome o;
    assert_int_equal(resolve(fx, &o, "servfail.test.", AF_INET), EVA_EDNS_SERVFAIL);
    assert_int_equal(resolve(fx, &o, "servfail.test.", AF_INET), EVA_EDNS_SERVFAIL);
    assert_int_equal(dns_responder_queries(fx->r, "servfail.test"), 2);
    assert_int_equal(resolve_ok(fx, "zero.test.", AF_INET), 0);
    resolve_ok(fx, "zero.test.", AF_INET);
    assert_int_equal(dns_responder_queries(fx->r, "zero.test"), 2);
    assert_int_equal(stats(fx).cache_entries, 0);
}

static void numeric_and_hosts_file_names_are_not_cached(void **state) {
    fixture *fx = *state;
    resolve_ok(fx, "192.0.2.1", AF_INET);
    resolve_ok(fx, "192.0.2.1", AF_INET);
    resolve_ok(fx, "::1", AF_INET6);
    eva_dns_stats s = stats(fx);
    assert_int_equal(s.cache_hits, 0);
    assert_int_equal(s.cache_misses, 0); /* a numeric name is not a lookup */
    /* "localhost" comes from the hosts file, or from c-ares itself (RFC
     * 6761): never from a server, never cached */
    resolve_ok(fx, "localhost", AF_INET);
    resolve_ok(fx, "localhost", AF_INET);
    s = stats(fx);
    assert_int_equal(s.cache_hits, 0);
    assert_int_equal(s.cache_misses, 2);
    assert_int_equal(s.cache_entries, 0);
    assert_int_equal(dns_responder_queries(fx->r, NULL), 0);
}

static void the_cache_can_be_switched_off(void **state) {
    fixture *fx = *state;
    configure(fx, EVA_DNS_CACHE_OFF, 0);
    resolve_ok(fx, "v4.test.", AF_INET);
    resolve_ok(fx, "v4.test.", AF_INET);
    assert_int_equal(dns_responder_queries(fx->r, "v4.test"), 2);
    eva_dns_stats s = stats(fx);
    assert_int_equal(s.cache_hits + s.cache_misses + s.cache_entries, 0);
    /* negative answers alone */
    configure(fx, 0, EVA_DNS_CACHE_OFF);
    outcome o;
    assert_int_equal(resolve(fx, &o, "nx.test.", AF_INET), EVA_EDNS_NOTFOUND);
    assert_int_equal(resolve(fx, &o, "nx.test.", AF_INET), EVA_EDNS_NOTFOUND);
    assert_int_equal(dns_responder_queries(fx->r, "nx.test"), 2);
    resolve_ok(fx, "v4.test.", AF_INET);
    resolve_ok(fx, "v4.test.", AF_INET);
    assert_int_equal(dns_responder_queries(fx->r, "v4.test"), 3);
}

static void configure_empties_the_cache(void **state) {
    fixture *fx = *state;
    resolve_ok(fx, "v4.test.", AF_INET);
    assert_int_equal(stats(fx).cache_entries, 1);
    configure(fx, 0, 0);
    assert_int_equal(stats(fx).cache_entries, 0);
    resolve_ok(fx, "v4.test.", AF_INET);
    assert_int_equal(dns_responder_queries(fx->r, "v4.test"), 2);
}

static void bad_arguments(void **state) {
    fixture *fx = *state;
    eva_dns_stats s;
    assert_int_equal(eva_dns_get_stats(NULL, &s), -EINVAL);
    assert_int_equal(eva_dns_get_stats(fx->loop, NULL), -EINVAL);
    eva_dns_options o = {.cache_size = -2};
    assert_int_equal(eva_dns_configure(fx->loop, &o), -EINVAL);
    o = (eva_dns_options){.cache_negative_ttl = -2};
    assert_int_equal(eva_dns_configure(fx->loop, &o), -EINVAL);
    eva_loop *fresh = test_loop_new(); /* no resolver yet: all zero */
    s.cache_hits = 7;
    assert_int_equal(eva_dns_get_stats(fresh, &s), 0);
    assert_int_equal(s.cache_hits, 0);
    test_loop_destroy(fresh);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(hit_is_served_from_the_loop_without_a_query, setup, teardown),
        cmocka_unit_test_setup_teardown(cancelled_hit_completes_once, setup, teardown),
        cmocka_unit_test_setup_teardown(entries_expire_with_their_ttl, setup, teardown),
        cmocka_unit_test_setup_teardown(a_clock_stepping_back_expires_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(a_cname_chain_is_cached_for_its_shortest_ttl, setup, teardown),
        cmocka_unit_test_setup_teardown(least_recently_used_makes_room, setup, teardown),
        cmocka_unit_test_setup_teardown(negative_answers_are_cached_for_the_negative_ttl, setup, teardown),
        cmocka_unit_test_setup_teardown(families_are_cached_apart, setup, teardown),
        cmocka_unit_test_setup_teardown(failures_and_ttl_zero_are_not_cached, setup, teardown),
        cmocka_unit_test_setup_teardown(numeric_and_hosts_file_names_are_not_cached, setup, teardown),
        cmocka_unit_test_setup_teardown(the_cache_can_be_switched_off, setup, teardown),
        cmocka_unit_test_setup_teardown(configure_empties_the_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_arguments, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
