/* DNS bursts with the default options (issue 15 §1): 10,000 lookups started
 * at once against the loopback responder and against a real server
 * (dnsmasq, tests/dns_dnsmasq.c), none lost and none retried; the pacing
 * window: lookups beyond it wait and go out in start order, a queued lookup
 * cancels (-ECANCELED exactly once, never asked), loop destroy completes
 * queued lookups with -ECANCELED. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dns_dnsmasq.h"
#include "dns_responder.h"
#include "helpers.h"

enum { BURST = 10000 };

typedef struct lookup {
    eva_dns_query q;
    unsigned long n;
    int calls;
    int status;
    bool ok; /* the one address the zone gives n */
} lookup;

typedef struct burst {
    lookup *l;
    size_t count, done;
    bool finished;
} burst;

static uint32_t zone_ipv4(unsigned long n) { return dns_synthetic_ipv4(n); }

static void on_burst(eva_dns_query *q, int status, eva_dns_addrs *addrs) {
    lookup *l = (lookup *)q;
    burst *b = q->data;
    l->calls++;
    l->status = status;
    l->ok = status == 0 && addrs->count == 1 && addrs->addr[0].family == AF_INET &&
            ntohl(addrs->addr[0].addr.in4.sin_addr.s_addr) == zone_ipv4(l->n);
    eva_dns_addrs_free(addrs);
    if (++b->done == b->count)
        b->finished = true;
}

/* Start count lookups of "n<i>.<suffix>" at once, wait, count the good ones. */
static size_t run_burst(eva_loop *loop, const char *suffix, size_t count) {
    burst b = {.l = calloc(count, sizeof(lookup)), .count = count};
    assert_non_null(b.l);
    for (size_t i = 0; i < count; i++) {
        char name[64];
        snprintf(name, sizeof name, "n%zu.%s", i, suffix);
        b.l[i].n = i;
        assert_int_equal(eva_dns_resolve(loop, &b.l[i].q, name, AF_INET, on_burst, &b), 0);
    }
    assert_int_equal(eva_dns_get_pending(loop), (int)count);
    assert_int_equal(eva_dns_get_queued(loop), (int)count - EVA_DNS_DEFAULT_MAX_IN_FLIGHT);
    test_run_until(loop, &b.finished, 30000); /* a lost query costs a 5 s timeout */
    size_t ok = 0;
    for (size_t i = 0; i < count; i++) {
        assert_int_equal(b.l[i].calls, 1);
        ok += b.l[i].ok;
    }
    free(b.l);
    return ok;
}

static void burst_against_the_responder_loses_nothing(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    dns_responder *r;
    assert_int_equal(dns_responder_start(loop, 0, &r), 0);
    assert_int_equal(dns_responder_set_synthetic(r, "burst.test"), 0);
    /* nothing tuned but one try: a dropped query is then a lost lookup, not
     * a retry that hides the drop behind a timeout */
    eva_dns_options o = {.servers = dns_responder_servers(r), .tries = 1};
    assert_int_equal(eva_dns_configure(loop, &o), 0);
    assert_int_equal(run_burst(loop, "burst.test", BURST), BURST);
    assert_int_equal(dns_responder_queries(r, NULL), BURST); /* not one retry */
    dns_responder_stop(r);
    test_loop_destroy(loop);
}

static void zone_of_burst(FILE *f, void *arg) {
    (void)arg;
    for (unsigned long n = 0; n < BURST; n++) {
        struct in_addr a = {htonl(zone_ipv4(n))};
        fprintf(f, "%s n%lu.zone.test\n", inet_ntoa(a), n);
    }
}

static void burst_against_dnsmasq_loses_nothing(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    dns_dnsmasq *d;
    int rc = dns_dnsmasq_start(loop, zone_of_burst, NULL, NULL, &d);
    if (rc == -ENOENT) {
        test_loop_destroy(loop);
        skip(); /* scripts/install-deps installs dnsmasq-base */
    }
    assert_int_equal(rc, 0);
    eva_dns_options o = {.servers = dns_dnsmasq_servers(d), .tries = 1}; /* as above */
    assert_int_equal(eva_dns_configure(loop, &o), 0);
    assert_int_equal(run_burst(loop, "zone.test", BURST), BURST);
    dns_dnsmasq_stop(d);
    test_loop_destroy(loop);
}

/* ---- the window ---------------------------------------------------------------------------- */

enum { WINDOW = 3, PACED = 8, VICTIM = 5 };

typedef struct paced {
    dns_responder *r;
    lookup l[PACED];
    char names[PACED][32];
    bool order_kept;
    size_t done;
    bool finished;
} paced;

static paced *paced_of(eva_dns_query *q) { return q->data; }

/* The names the responder has been asked for are always a prefix of the
 * start order (the cancelled one aside: never asked). */
static bool asked_in_order(const paced *p) {
    bool gap = false;
    for (int i = 0; i < PACED; i++) {
        if (i == VICTIM)
            continue;
        bool asked = dns_responder_queries(p->r, p->names[i]) > 0;
        if (asked && gap)
            return false;
        gap = gap || !asked;
    }
    return true;
}

static void on_paced(eva_dns_query *q, int status, eva_dns_addrs *addrs) {
    paced *p = paced_of(q);
    lookup *l = (lookup *)q;
    l->calls++;
    l->status = status;
    eva_dns_addrs_free(addrs);
    if (p->r) /* NULL once stopped, at loop destroy */
        p->order_kept = p->order_kept && asked_in_order(p);
    if (++p->done == PACED)
        p->finished = true;
}

/* A responder, the resolver with a window of WINDOW, PACED lookups started. */
static void paced_start(eva_loop *loop, paced *p) {
    assert_int_equal(dns_responder_start(loop, 0, &p->r), 0);
    assert_int_equal(dns_responder_set_synthetic(p->r, "paced.test"), 0);
    eva_dns_options o = {.servers = dns_responder_servers(p->r), .max_in_flight = WINDOW};
    assert_int_equal(eva_dns_configure(loop, &o), 0);
    dns_responder_set_delay(p->r, 5);
    p->order_kept = true;
    for (int i = 0; i < PACED; i++) {
        snprintf(p->names[i], sizeof p->names[i], "n%d.paced.test", i);
        assert_int_equal(eva_dns_resolve(loop, &p->l[i].q, p->names[i], AF_INET, on_paced, p), 0);
    }
    assert_int_equal(eva_dns_get_pending(loop), PACED);
    assert_int_equal(eva_dns_get_queued(loop), PACED - WINDOW);
}

static void window_keeps_order_and_cancels_queued(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    paced p = {0};
    paced_start(loop, &p);
    assert_int_equal(eva_dns_cancel(&p.l[VICTIM].q), 0);
    assert_int_equal(p.l[VICTIM].calls, 0);                /* never inside the cancel */
    assert_true(eva_dns_query_is_pending(&p.l[VICTIM].q)); /* until its completion ran */
    assert_int_equal(eva_dns_cancel(&p.l[VICTIM].q), 0);   /* a second cancel: nothing */
    assert_int_equal(eva_dns_get_queued(loop), PACED - WINDOW - 1);
    eva_loop_run(loop, EVA_RUN_NOWAIT); /* the window's queries reach the responder */
    eva_loop_run(loop, EVA_RUN_NOWAIT);
    assert_int_equal(dns_responder_queries(p.r, NULL), WINDOW);
    test_run_until(loop, &p.finished, 10000);
    assert_true(p.order_kept);
    for (int i = 0; i < PACED; i++) {
        assert_int_equal(p.l[i].calls, 1);
        assert_int_equal(p.l[i].status, i == VICTIM ? -ECANCELED : 0);
    }
    assert_int_equal(dns_responder_queries(p.r, p.names[VICTIM]), 0);
    assert_int_equal(dns_responder_queries(p.r, NULL), PACED - 1);
    assert_int_equal(eva_dns_get_queued(loop), 0);
    dns_responder_stop(p.r);
    test_loop_destroy(loop);
}

static void loop_destroy_cancels_queued_lookups(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    paced p = {0};
    paced_start(loop, &p);
    eva_loop_run(loop, EVA_RUN_NOWAIT);
    assert_int_equal(eva_dns_get_queued(loop), PACED - WINDOW);
    dns_responder_stop(p.r);
    p.r = NULL;
    test_loop_destroy(loop); /* ASan: every queued context freed */
    for (int i = 0; i < PACED; i++) {
        assert_int_equal(p.l[i].calls, 1);
        assert_int_equal(p.l[i].status, -ECANCELED);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(burst_against_the_responder_loses_nothing),
        cmocka_unit_test(burst_against_dnsmasq_loses_nothing),
        cmocka_unit_test(window_keeps_order_and_cancels_queued),
        cmocka_unit_test(loop_destroy_cancels_queued_lookups),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
