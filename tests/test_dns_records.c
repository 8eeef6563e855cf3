/* DNS records (issue 15 §2) against dnsmasq (tests/dns_dnsmasq.c): SRV, MX,
 * TXT and a two-hop CNAME chain, in the three styles; NXDOMAIN and NODATA as
 * two codes; a malformed reply from the loopback responder; bad arguments.
 * Names end with a dot: the system's search domains are never tried. */
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

static const char *const zone_options[] = {
    "--local=/zone.test/", /* authoritative: unknown names are NXDOMAIN */
    "--srv-host=_sip._tcp.zone.test,sip1.zone.test,5060,10,60",
    "--srv-host=_sip._tcp.zone.test,sip2.zone.test,5061,20,40",
    "--mx-host=zone.test,mx1.zone.test,10",
    "--mx-host=zone.test,mx2.zone.test,20",
    "--txt-record=txt.zone.test,v=spf1 ,-all",
    "--cname=alias1.zone.test,alias2.zone.test",
    "--cname=alias2.zone.test,real.zone.test",
    NULL,
};

static void zone_hosts(FILE *f, void *arg) {
    (void)arg;
    fprintf(f, "10.0.0.9 real.zone.test\n");
}

typedef struct fixture {
    eva_loop *loop;
    dns_dnsmasq *d;
} fixture;

static int setup(void **state) {
    fixture *fx = calloc(1, sizeof *fx);
    fx->loop = test_loop_new();
    int rc = dns_dnsmasq_start(fx->loop, zone_hosts, NULL, zone_options, &fx->d);
    if (rc == -ENOENT) { /* scripts/install-deps installs dnsmasq-base */
        test_loop_destroy(fx->loop);
        free(fx);
        *state = NULL;
        return 0;
    }
    assert_int_equal(rc, 0);
    eva_dns_options o = {.servers = dns_dnsmasq_servers(fx->d)};
    assert_int_equal(eva_dns_configure(fx->loop, &o), 0);
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    fixture *fx = *state;
    if (fx) {
        dns_dnsmasq_stop(fx->d);
        assert_int_equal(eva_dns_get_pending(fx->loop), 0);
        test_loop_destroy(fx->loop);
        free(fx);
    }
    return 0;
}

static fixture *fixture_or_skip(void **state) {
    if (!*state)
        skip();
    return *state;
}

/* ---- callback ---------------------------------------------------------------------------- */

typedef struct outcome {
    eva_dns_query q;
    int calls, status;
    eva_dns_records *records;
    bool done;
} outcome;

static void on_records(eva_dns_query *q, int status, eva_dns_records *records) {
    outcome *o = q->data;
    assert_false(eva_dns_query_is_pending(q));
    o->calls++;
    o->status = status;
    o->records = records;
    o->done = true;
    assert_true((status == 0) == (records != NULL));
}

static void query_cb(eva_loop *loop, outcome *o, const char *name, eva_dns_type type) {
    memset(o, 0, sizeof *o);
    assert_int_equal(eva_dns_query_records(loop, &o->q, name, type, on_records, o), 0);
    assert_int_equal(o->calls, 0); /* never inside the start */
    test_run_until(loop, &o->done, 10000);
    assert_int_equal(o->calls, 1);
}

static void srv_records(void **state) {
    fixture *fx = fixture_or_skip(state);
    outcome o;
    query_cb(fx->loop, &o, "_sip._tcp.zone.test.", EVA_DNS_SRV);
    assert_int_equal(o.status, 0);
    assert_int_equal(o.records->type, EVA_DNS_SRV);
    assert_int_equal(o.records->count, 2);
    int seen = 0;
    for (size_t i = 0; i < o.records->count; i++) {
        const eva_dns_record *r = &o.records->rec[i];
        if (strcmp(r->u.srv.target, "sip1.zone.test") == 0) {
            assert_int_equal(r->u.srv.port, 5060);
            assert_int_equal(r->u.srv.priority, 10);
            assert_int_equal(r->u.srv.weight, 60);
            seen |= 1;
        } else {
            assert_string_equal(r->u.srv.target, "sip2.zone.test");
            assert_int_equal(r->u.srv.port, 5061);
            assert_int_equal(r->u.srv.priority, 20);
            assert_int_equal(r->u.srv.weight, 40);
            seen |= 2;
        }
    }
    assert_int_equal(seen, 3);
    eva_dns_records_free(o.records);
}

static void cname_chain(void **state) {
    fixture *fx = fixture_or_skip(state);
    outcome o;
    query_cb(fx->loop, &o, "alias1.zone.test.", EVA_DNS_CNAME);
    assert_int_equal(o.status, 0);
    assert_int_equal(o.records->count, 2); /* alias1 -> alias2 -> real */
    assert_string_equal(o.records->rec[0].u.cname.name, "alias2.zone.test");
    assert_string_equal(o.records->rec[1].u.cname.name, "real.zone.test");
    eva_dns_records_free(o.records);
    query_cb(fx->loop, &o, "real.zone.test.", EVA_DNS_CNAME); /* not an alias */
    assert_int_equal(o.status, EVA_EDNS_NODATA);
    assert_string_equal(eva_dns_query_get_message(&o.q), "DNS: the name is not an alias (no CNAME)");
}

static void nxdomain_and_nodata_differ(void **state) {
    fixture *fx = fixture_or_skip(state);
    outcome o;
    query_cb(fx->loop, &o, "nosuch.zone.test.", EVA_DNS_MX);
    assert_int_equal(o.status, EVA_EDNS_NOTFOUND);
    query_cb(fx->loop, &o, "real.zone.test.", EVA_DNS_MX); /* exists, no MX */
    assert_int_equal(o.status, EVA_EDNS_NODATA);
    assert_string_equal(eva_dns_query_get_message(&o.q),
                        "DNS: the name has no record of the requested type (NODATA)");
    assert_string_equal(eva_strerror(EVA_EDNS_NODATA), "no DNS record of the requested type");
}

/* ---- AWAIT ------------------------------------------------------------------------------- */

typedef struct mx_task {
    eva_task task;
    eva_dns_query query;
    eva_dns_records *records;
    const char *name;
    int rc;
    bool done;
} mx_task;

static eva_step mx_run(void *frame) {
    mx_task *f = frame;
    ASYNC_BEGIN(f);
    AWAIT_RC(f, f->rc, eva_dns_query_records_op(&f->query, f->name, EVA_DNS_MX, &f->records));
    ASYNC_END(f);
}

static void mx_done(eva_task *t) { ((mx_task *)t)->done = true; }

static void mx_records_awaited(void **state) {
    fixture *fx = fixture_or_skip(state);
    mx_task f = {.name = "zone.test.", .rc = 1};
    assert_int_equal(eva_task_init(fx->loop, &f.task, mx_run, "mx"), 0);
    assert_int_equal(eva_task_start(&f.task, mx_done), 0);
    test_run_until(fx->loop, &f.done, 10000);
    assert_int_equal(f.rc, 0);
    assert_int_equal(f.records->count, 2);
    int prefs = 0;
    for (size_t i = 0; i < f.records->count; i++) {
        const eva_dns_record *r = &f.records->rec[i];
        assert_string_equal(r->u.mx.host, r->u.mx.preference == 10 ? "mx1.zone.test" : "mx2.zone.test");
        prefs += r->u.mx.preference;
    }
    assert_int_equal(prefs, 30);
    eva_dns_records_free(f.records);
}

/* ---- promise ----------------------------------------------------------------------------- */

static void txt_records_promised(void **state) {
    fixture *fx = fixture_or_skip(state);
    eva_promise *p = NULL;
    assert_int_equal(eva_dns_query_records_promise(fx->loop, "txt.zone.test.", EVA_DNS_TXT, &p), 0);
    while (eva_promise_get_state(p) == EVA_PROMISE_PENDING)
        assert_true(eva_loop_run(fx->loop, EVA_RUN_ONCE) >= 0);
    assert_int_equal(eva_promise_get_state(p), EVA_PROMISE_FULFILLED);
    const eva_dns_records *r = eva_promise_get_value(p);
    assert_int_equal(r->count, 1);
    assert_int_equal(r->rec[0].u.txt.len, strlen("v=spf1 -all")); /* two strings, joined */
    assert_string_equal(r->rec[0].u.txt.text, "v=spf1 -all");
    eva_promise_unref(p); /* frees the records */
    assert_int_equal(eva_dns_query_records_promise(fx->loop, "nosuch.zone.test.", EVA_DNS_TXT, &p), 0);
    while (eva_promise_get_state(p) == EVA_PROMISE_PENDING)
        assert_true(eva_loop_run(fx->loop, EVA_RUN_ONCE) >= 0);
    assert_int_equal(eva_promise_get_error(p), EVA_EDNS_NOTFOUND);
    eva_promise_unref(p);
}

/* ---- a malformed reply, bad arguments ---------------------------------------------------- */

static void malformed_reply_and_bad_arguments(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    dns_responder *r;
    assert_int_equal(dns_responder_start(loop, 0, &r), 0);
    assert_int_equal(dns_responder_set_mode(r, "garbage.test", DNS_MODE_GARBAGE, 0), 0);
    eva_dns_options o = {.servers = dns_responder_servers(r), .timeout_ms = 200, .tries = 1};
    assert_int_equal(eva_dns_configure(loop, &o), 0);
    const eva_dns_type types[] = {EVA_DNS_SRV, EVA_DNS_MX, EVA_DNS_TXT, EVA_DNS_CNAME};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        outcome out;
        query_cb(loop, &out, "garbage.test.", types[i]);
        assert_int_equal(out.status, EVA_EDNS_BADREPLY);
    }
    outcome out = {0};
    assert_int_equal(eva_dns_query_records(NULL, &out.q, "a.test", EVA_DNS_MX, on_records, &out), -EINVAL);
    assert_int_equal(eva_dns_query_records(loop, NULL, "a.test", EVA_DNS_MX, on_records, &out), -EINVAL);
    assert_int_equal(eva_dns_query_records(loop, &out.q, NULL, EVA_DNS_MX, on_records, &out), -EINVAL);
    assert_int_equal(eva_dns_query_records(loop, &out.q, "a.test", EVA_DNS_MX, NULL, &out), -EINVAL);
    assert_int_equal(eva_dns_query_records(loop, &out.q, "a.test", (eva_dns_type)1, on_records, &out), -EINVAL);
    assert_int_equal(eva_dns_query_records(loop, &out.q, "a..test", EVA_DNS_MX, on_records, &out),
                     EVA_EDNS_BADNAME);
    eva_promise *p = NULL;
    assert_int_equal(eva_dns_query_records_promise(loop, "a.test", EVA_DNS_MX, NULL), -EINVAL);
    assert_int_equal(eva_dns_query_records_promise(loop, "a.test", (eva_dns_type)1, &p), -EINVAL);
    assert_null(p);
    eva_dns_records_free(NULL);
    dns_responder_stop(r);
    test_loop_destroy(loop);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(srv_records, setup, teardown),
        cmocka_unit_test_setup_teardown(cname_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(nxdomain_and_nodata_differ, setup, teardown),
        cmocka_unit_test_setup_teardown(mx_records_awaited, setup, teardown),
        cmocka_unit_test_setup_teardown(txt_records_promised, setup, teardown),
        cmocka_unit_test(malformed_reply_and_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
