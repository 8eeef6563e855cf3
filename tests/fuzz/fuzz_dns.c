/* tests/fuzz/fuzz_dns.c — the whole resolve path against replies the fuzzer
 * writes: c-ares parses them, net/dns.c converts the result into an
 * eva_dns_addrs list (or a name) and delivers it.
 *
 * Each input is one lookup on a fresh loop whose resolver is pointed at
 * tests/dns_responder.c in scripted mode: every query c-ares sends (over UDP,
 * or TCP after a truncated reply) is answered with the input's next reply.
 *
 * Input: a header byte, then replies.
 *   header  bits 0-1: the family (0 AF_INET, 1 AF_INET6, else AF_UNSPEC);
 *           bit 2: a reverse lookup (PTR) instead of a resolve;
 *           bit 3: the promise form instead of the callback;
 *           bit 4: cancel the lookup once the first reply is sent;
 *           bit 5: a record query (eva_dns_query_records) instead, of
 *                  type SRV, MX, TXT or CNAME by bits 0-1 (bit 2 ignored).
 *   reply   a control byte, a 16-bit big-endian length, that many bytes.
 *     control bit 0: raw: the bytes are the whole message, the query's id
 *                    patched in.  Otherwise the message is the query's id,
 *                    the bytes' first 2 as flags, QDCOUNT 1, the next 6 as
 *                    the AN/NS/AR counts, the query's own question, then
 *                    the rest: c-ares matches it to its query and parses
 *                    the records, which is where the conversion starts.
 *     control bit 1: no SERVFAIL after it (by default one follows, ending
 *                    a query whose reply c-ares ignored at once instead of
 *                    at its timeout);
 *     control bit 2: send the reply twice.
 *   Once the replies run out, every query gets a SERVFAIL.
 *
 * Checked: the lookup completes exactly once; with status 0 and a
 * non-empty list of well-formed addresses of the requested family (or a
 * non-empty name), else with a documented negative code and no result;
 * cancelled while pending, with -ECANCELED; loop destroy succeeds and every
 * block evasync allocated (c-ares's included) is freed. */
#define _DEFAULT_SOURCE /* NI_MAXHOST */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <string.h>

#include "dns_responder.h"
#include "fuzz_loop.h"

enum { HDR_LEN = 12, RCODE_SERVFAIL = 2, MAX_REPLY = 4096 };
enum { OPT_REVERSE = 1 << 2, OPT_PROMISE = 1 << 3, OPT_CANCEL = 1 << 4, OPT_RECORDS = 1 << 5 };
enum { CTL_RAW = 1 << 0, CTL_NO_SERVFAIL = 1 << 1, CTL_TWICE = 1 << 2 };

typedef struct lookup {
    fuzz_input in;
    int family;
    eva_dns_type type; /* OPT_RECORDS */
    unsigned opts;
    eva_dns_query q;
    eva_promise *promise;
    bool replied;   /* the first reply went out */
    bool cancelled; /* cancelled while still pending */
    int completions;
    bool done;
    int status;
} lookup;

/* Where the query's question section ends (the whole query if malformed). */
static size_t question_end(const uint8_t *q, size_t len) {
    size_t pos = HDR_LEN;
    while (pos < len && q[pos] != 0 && q[pos] <= 63)
        pos += 1 + (size_t)q[pos];
    pos += 1 + 4; /* the root label, QTYPE, QCLASS */
    return pos <= len ? pos : len;
}

/* The query's id and question under the given flags and counts. */
static size_t build(uint8_t *m, const uint8_t *q, size_t len, const uint8_t counts[8]) {
    size_t qend = question_end(q, len);
    memcpy(m, q, 2);
    m[2] = counts[0];
    m[3] = counts[1];
    m[4] = 0;
    m[5] = 1;
    memcpy(m + 6, counts + 2, 6);
    if (qend > HDR_LEN)
        memcpy(m + HDR_LEN, q + HDR_LEN, qend - HDR_LEN);
    return qend > HDR_LEN ? qend : HDR_LEN;
}

static void send_servfail(dns_reply *reply, const uint8_t *q, size_t len) {
    uint8_t m[MAX_REPLY];
    const uint8_t flags[8] = {0x80 | (len > 2 ? (q[2] & 0x01) : 0), 0x80 | RCODE_SERVFAIL};
    dns_reply_send(reply, m, build(m, q, len, flags));
}

static void cancel(lookup *l) {
    bool pending = l->promise ? eva_promise_get_state(l->promise) == EVA_PROMISE_PENDING
                              : eva_dns_query_is_pending(&l->q);
    if (!pending)
        return;
    l->cancelled = true;
    if (l->promise)
        FUZZ_CHECK(eva_promise_cancel(l->promise) == 0);
    else
        FUZZ_CHECK(eva_dns_cancel(&l->q) == 0);
}

static void answer(void *arg, dns_reply *reply, const uint8_t *q, size_t len, bool tcp) {
    (void)tcp;
    lookup *l = arg;
    if (len < 2)
        return;
    if (l->in.n == 0) {
        send_servfail(reply, q, len);
        return;
    }
    uint8_t ctl = fuzz_byte(&l->in);
    size_t n = fuzz_u16(&l->in);
    const uint8_t *body = fuzz_bytes(&l->in, &n);
    uint8_t m[MAX_REPLY + 512];
    size_t mlen;
    if (ctl & CTL_RAW) {
        mlen = n < MAX_REPLY ? n : MAX_REPLY;
        memcpy(m, body, mlen);
        if (mlen >= 2)
            memcpy(m, q, 2);
    } else {
        uint8_t counts[8] = {0};
        size_t c = n < sizeof counts ? n : sizeof counts;
        memcpy(counts, body, c);
        mlen = build(m, q, len, counts);
        size_t rest = n - c;
        if (rest > MAX_REPLY)
            rest = MAX_REPLY;
        memcpy(m + mlen, body + c, rest);
        mlen += rest;
    }
    dns_reply_send(reply, m, mlen);
    if (ctl & CTL_TWICE)
        dns_reply_send(reply, m, mlen);
    if (!(ctl & CTL_NO_SERVFAIL))
        send_servfail(reply, q, len);
    if (!l->replied && (l->opts & OPT_CANCEL))
        cancel(l);
    l->replied = true;
}

/* ---- the checks ------------------------------------------------------------------------------ */

static bool documented_error(int status) {
    switch (status) {
    case EVA_EDNS_NOTFOUND:
    case EVA_EDNS_NODATA:
    case EVA_EDNS_SERVFAIL:
    case EVA_EDNS_REFUSED:
    case EVA_EDNS_BADREPLY:
    case -ETIMEDOUT:
    case -ECONNREFUSED:
    case -ECANCELED:
    case -EIO:
        return true;
    default:
        return false;
    }
}

static void check_addrs(const lookup *l, const eva_dns_addrs *a) {
    FUZZ_CHECK(a != NULL);
    FUZZ_CHECK(a->count >= 1);
    for (size_t i = 0; i < a->count; i++) {
        const eva_dns_addr *d = &a->addr[i];
        FUZZ_CHECK(d->family == AF_INET || d->family == AF_INET6);
        FUZZ_CHECK(l->family == AF_UNSPEC || d->family == l->family);
        FUZZ_CHECK(d->len == (d->family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)));
        FUZZ_CHECK(d->addr.sa.sa_family == d->family);
        FUZZ_CHECK(d->ttl >= 0);
        char text[INET6_ADDRSTRLEN];
        FUZZ_CHECK(eva_dns_addr_format(d, text, sizeof text) == 0);
    }
}

static void check_records(const lookup *l, const eva_dns_records *r) {
    FUZZ_CHECK(r != NULL);
    FUZZ_CHECK(r->count >= 1);
    FUZZ_CHECK(r->type == l->type);
    for (size_t i = 0; i < r->count; i++) {
        const eva_dns_record *rec = &r->rec[i];
        switch (r->type) {
        case EVA_DNS_SRV:   FUZZ_CHECK(rec->u.srv.target != NULL); (void)strlen(rec->u.srv.target); break;
        case EVA_DNS_MX:    FUZZ_CHECK(rec->u.mx.host != NULL); (void)strlen(rec->u.mx.host); break;
        case EVA_DNS_CNAME: FUZZ_CHECK(rec->u.cname.name != NULL); (void)strlen(rec->u.cname.name); break;
        case EVA_DNS_TXT:
            FUZZ_CHECK(rec->u.txt.text != NULL);
            FUZZ_CHECK(rec->u.txt.text[rec->u.txt.len] == '\0'); /* ASan: len within the block */
            FUZZ_CHECK(strlen(rec->u.txt.text) <= rec->u.txt.len);
            break;
        }
    }
}

static void check_name(const char *host) {
    FUZZ_CHECK(host != NULL);
    size_t n = strlen(host);
    FUZZ_CHECK(n > 0 && n < NI_MAXHOST);
}

static void completed(lookup *l, int status) {
    l->completions++;
    FUZZ_CHECK(l->completions == 1);
    FUZZ_CHECK(status == 0 || documented_error(status));
    l->status = status;
    l->done = true;
}

static void on_resolve(eva_dns_query *q, int status, eva_dns_addrs *addrs) {
    lookup *l = q->data;
    completed(l, status);
    if (status == 0)
        check_addrs(l, addrs);
    else
        FUZZ_CHECK(addrs == NULL);
    eva_dns_addrs_free(addrs);
}

static void on_records(eva_dns_query *q, int status, eva_dns_records *records) {
    lookup *l = q->data;
    completed(l, status);
    if (status == 0)
        check_records(l, records);
    else
        FUZZ_CHECK(records == NULL);
    eva_dns_records_free(records);
}

static void on_reverse(eva_dns_query *q, int status, const char *host) {
    lookup *l = q->data;
    completed(l, status);
    if (status == 0)
        check_name(host);
    else
        FUZZ_CHECK(host == NULL);
}

static void on_settled(void *arg, eva_promise *p) {
    lookup *l = arg;
    int status = eva_promise_get_error(p);
    completed(l, status);
    if (status < 0)
        FUZZ_CHECK(eva_promise_get_value(p) == NULL);
    else if (l->opts & OPT_RECORDS)
        check_records(l, eva_promise_get_value(p));
    else if (l->opts & OPT_REVERSE)
        check_name(eva_promise_get_value(p));
    else
        check_addrs(l, eva_promise_get_value(p));
}

/* ---- one lookup ------------------------------------------------------------------------------ */

static void start(eva_loop *loop, lookup *l) {
    struct sockaddr_in6 sa6 = {.sin6_family = AF_INET6};
    struct sockaddr_in sa4 = {.sin_family = AF_INET};
    inet_pton(AF_INET6, "2001:db8::1", &sa6.sin6_addr);
    inet_pton(AF_INET, "192.0.2.1", &sa4.sin_addr);
    const struct sockaddr *sa = l->family == AF_INET6 ? (const struct sockaddr *)&sa6 : (const struct sockaddr *)&sa4;
    socklen_t salen = l->family == AF_INET6 ? sizeof sa6 : sizeof sa4;
    static const char host[] = "fuzz.example."; /* absolute: no search domains */
    l->q.data = l;
    if (l->opts & OPT_RECORDS) {
        int rc = (l->opts & OPT_PROMISE)
                     ? eva_dns_query_records_promise(loop, host, l->type, &l->promise)
                     : eva_dns_query_records(loop, &l->q, host, l->type, on_records, l);
        FUZZ_CHECK(rc == 0);
        if (l->promise)
            FUZZ_CHECK(eva_promise_finally(l->promise, on_settled, l, NULL) == 0);
        return;
    }
    if (!(l->opts & OPT_PROMISE)) {
        int rc = (l->opts & OPT_REVERSE) ? eva_dns_reverse(loop, &l->q, sa, salen, on_reverse, l)
                                         : eva_dns_resolve(loop, &l->q, host, l->family, on_resolve, l);
        FUZZ_CHECK(rc == 0);
        return;
    }
    int rc = (l->opts & OPT_REVERSE) ? eva_dns_reverse_promise(loop, sa, salen, &l->promise)
                                     : eva_dns_resolve_promise(loop, host, l->family, &l->promise);
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(eva_promise_finally(l->promise, on_settled, l, NULL) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lookup l = {.in = {data, size}};
    uint8_t header = fuzz_byte(&l.in);
    static const int families[4] = {AF_INET, AF_INET6, AF_UNSPEC, AF_UNSPEC};
    static const eva_dns_type types[4] = {EVA_DNS_SRV, EVA_DNS_MX, EVA_DNS_TXT, EVA_DNS_CNAME};
    l.family = families[header & 3];
    l.type = types[header & 3];
    l.opts = header;
    if ((l.opts & OPT_REVERSE) && l.family == AF_UNSPEC)
        l.family = AF_INET;
    eva_loop *loop = fuzz_loop_new();
    dns_responder *r;
    FUZZ_CHECK(dns_responder_start(loop, 0, &r) == 0);
    dns_responder_set_script(r, answer, &l);
    /* 20 ms per try: a reply c-ares ignores and no SERVFAIL ends costs that */
    eva_dns_options o = {.servers = dns_responder_servers(r), .timeout_ms = 20, .tries = 2};
    FUZZ_CHECK(eva_dns_configure(loop, &o) == 0);
    start(loop, &l);
    FUZZ_CHECK(fuzz_run_until(loop, &l.done, 10000)); /* c-ares gives up within 2 x 20 ms */
    FUZZ_CHECK(l.completions == 1);
    if (l.cancelled)
        FUZZ_CHECK(l.status == -ECANCELED);
    eva_promise_unref(l.promise);
    dns_responder_stop(r);
    fuzz_loop_destroy(loop);
    fuzz_check_freed();
    return 0;
}
