/* net/dns.c — DNS queries: the callback primitives, cancellation, delivery,
 * and the AWAIT and promise forms built on them. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "dns_internal.h"
#include "promise_internal.h"

static const char cancelled_message[] = "DNS: query cancelled";

/* ---- results ------------------------------------------------------------------------ */

void eva_dns_addrs_free(eva_dns_addrs *addrs) { eva__free(addrs); }

int eva_dns_addrs_set_port(eva_dns_addrs *addrs, uint16_t port) {
    if (!addrs)
        return -EINVAL;
    for (size_t i = 0; i < addrs->count; i++) {
        if (addrs->addr[i].family == AF_INET)
            addrs->addr[i].addr.in4.sin_port = htons(port);
        else
            addrs->addr[i].addr.in6.sin6_port = htons(port);
    }
    return 0;
}

int eva_dns_addr_format(const eva_dns_addr *a, char *buf, size_t len) {
    if (!a || !buf)
        return -EINVAL;
    char tmp[INET6_ADDRSTRLEN];
    const void *src;
    if (a->family == AF_INET)
        src = &a->addr.in4.sin_addr;
    else if (a->family == AF_INET6)
        src = &a->addr.in6.sin6_addr;
    else
        return -EINVAL;
    if (!inet_ntop(a->family, src, tmp, sizeof tmp))
        return -EINVAL;
    size_t n = strlen(tmp);
    if (n >= len)
        return -ENOSPC;
    memcpy(buf, tmp, n + 1);
    return 0;
}

/* Whether c-ares's node is an address of the family asked for.  c-ares 1.18
 * converts every A and AAAA record of an answer, whatever the query asked:
 * a server that answers an A query with AAAA records must not hand an
 * AF_INET caller an address its AF_INET socket cannot use. */
static bool wanted(const struct ares_addrinfo_node *nd, int family) {
    size_t len = nd->ai_family == AF_INET ? sizeof(struct sockaddr_in)
               : nd->ai_family == AF_INET6 ? sizeof(struct sockaddr_in6) : 0;
    return len != 0 && (family == AF_UNSPEC || nd->ai_family == family) && nd->ai_addr &&
           (size_t)nd->ai_addrlen >= len;
}

/* c-ares's list -> one eva_dns_addrs block of the wanted family, in
 * c-ares's order. */
static int addrs_from_ares(const struct ares_addrinfo *ai, int family, eva_dns_addrs **out) {
    size_t n = 0;
    for (const struct ares_addrinfo_node *nd = ai ? ai->nodes : NULL; nd; nd = nd->ai_next)
        n += wanted(nd, family);
    if (n == 0)
        return EVA_EDNS_NOTFOUND;
    eva_dns_addrs *a = eva__alloc(sizeof *a + n * sizeof a->addr[0]);
    if (!a)
        return -ENOMEM;
    a->count = 0;
    for (const struct ares_addrinfo_node *nd = ai->nodes; nd; nd = nd->ai_next) {
        if (!wanted(nd, family))
            continue;
        eva_dns_addr *d = &a->addr[a->count++];
        memset(d, 0, sizeof *d);
        d->family = nd->ai_family;
        d->len = nd->ai_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
        /* c-ares hands the 32-bit TTL over as an int: one with the top bit
         * set comes out negative, and RFC 2181 section 8 reads it as 0 */
        d->ttl = nd->ai_ttl < 0 ? 0 : nd->ai_ttl;
        memcpy(&d->addr, nd->ai_addr, d->len);
        d->addr.sa.sa_family = (sa_family_t)d->family;
        if (d->family == AF_INET)
            d->addr.in4.sin_port = 0;
        else
            d->addr.in6.sin6_port = 0;
    }
    *out = a;
    return 0;
}

/* ---- c-ares's callbacks: record, queue, never deliver ------------------------------------- */

/* How long an answer may be cached: its shortest TTL, the CNAMEs that led
 * to the addresses included (RFC 2181 section 5.2 wants one per RRset, but
 * the chain is only as fresh as its weakest link). */
static int answer_ttl(const struct ares_addrinfo *res, const eva_dns_addrs *addrs) {
    int ttl = INT_MAX;
    for (size_t i = 0; i < addrs->count; i++)
        if (addrs->addr[i].ttl < ttl)
            ttl = addrs->addr[i].ttl; /* already 0 for a top-bit TTL */
    for (const struct ares_addrinfo_cname *cn = res->cnames; cn; cn = cn->next)
        if (cn->ttl < ttl)
            ttl = cn->ttl < 0 ? 0 : cn->ttl;
    return ttl;
}

/* Cache what a DNS server said.  Answers given inside ares_getaddrinfo come
 * from the hosts file or c-ares itself ("localhost", ".onion") and are not
 * cached: the file may change; a hosts-file answer found after a DNS miss
 * has TTL 0, and is not cached either. */
static void cache_answer(eva__dns_ctx *c, const struct ares_addrinfo *res) {
    if (c->asking)
        return;
    if (c->status == 0)
        eva__dns_cache_positive(c->dl, c->host, c->family, c->addrs, answer_ttl(res, c->addrs));
    else if (c->status == EVA_EDNS_NOTFOUND)
        eva__dns_cache_negative(c->dl, c->host, c->family, c->status, c->message);
}

/* Build one waiter's own result from a lookup's answer. */
typedef void (*result_fn)(eva__dns_ctx *w, const void *answer);

/* The lookup c led is over, and leaves the table of lookups in flight.
 * Unless nobody waits for it any more (c is then freed, and false
 * returned), every waiter builds its own result from the one answer — c
 * first, then the queries that joined it, in start order — so each owns
 * what it is given and an allocation failure fails only its own waiter; all
 * are queued for delivery (a waiter whose query was cancelled is only
 * freed there). */
static bool lookup_answered(eva__dns_ctx *c, result_fn build, const void *answer) {
    eva__dns_loop *dl = c->dl;
    eva__dns_release(dl);
    eva__dns_flight_remove(dl, c);
    if (!c->q && eva__queue_empty(&c->joined)) {
        eva__free(c);
        return false;
    }
    build(c, answer);
    eva__dns_done(dl, c);
    eva_queue *n;
    while ((n = eva__queue_pop(&c->joined))) {
        eva__dns_ctx *w = EVA__QUEUE_DATA(n, eva__dns_ctx, join_node);
        w->lookup = NULL; /* answered: cancelling it now only frees it at delivery */
        build(w, answer);
        eva__dns_done(dl, w);
    }
    return true;
}

typedef struct addrinfo_answer {
    int status;
    const struct ares_addrinfo *res;
} addrinfo_answer;

static void addrinfo_result(eva__dns_ctx *w, const void *answer) {
    const addrinfo_answer *a = answer;
    w->status = eva__dns_status(a->status, &w->message);
    if (w->status == 0) {
        int rc = addrs_from_ares(a->res, w->family, &w->addrs);
        if (rc < 0)
            w->status = eva__dns_status(rc == -ENOMEM ? ARES_ENOMEM : ARES_ENODATA, &w->message);
    }
}

static void on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *res) {
    (void)timeouts;
    eva__dns_ctx *c = arg;
    addrinfo_answer a = {status, res};
    if (lookup_answered(c, addrinfo_result, &a))
        cache_answer(c, res); /* c is queued, not yet delivered: still ours */
    if (res)
        ares_freeaddrinfo(res);
}

typedef struct nameinfo_answer {
    int status;
    const char *node;
} nameinfo_answer;

static void nameinfo_result(eva__dns_ctx *w, const void *answer) {
    const nameinfo_answer *a = answer;
    w->status = eva__dns_status(a->status, &w->message);
    if (w->status != 0)
        return;
    if (!a->node || !a->node[0]) {
        w->status = eva__dns_status(ARES_ENONAME, &w->message);
        return;
    }
    size_t n = strlen(a->node);
    w->name = eva__alloc(n + 1);
    if (w->name)
        memcpy(w->name, a->node, n + 1);
    else
        w->status = eva__dns_status(ARES_ENOMEM, &w->message);
}

static void on_nameinfo(void *arg, int status, int timeouts, char *node, char *service) {
    (void)timeouts;
    (void)service;
    nameinfo_answer a = {status, node};
    lookup_answered(arg, nameinfo_result, &a);
}

/* ares_search's statuses, with NODATA told apart from NXDOMAIN. */
static int records_status(int status, eva_dns_type type, const char **message) {
    if (status != ARES_ENODATA)
        return eva__dns_status(status, message);
    *message = type == EVA_DNS_CNAME ? "DNS: the name is not an alias (no CNAME)"
                                     : "DNS: the name has no record of the requested type (NODATA)";
    return EVA_EDNS_NODATA;
}

typedef struct search_answer {
    int status;
    const unsigned char *abuf;
    int alen;
} search_answer;

/* Each waiter parses the reply itself: its records are one block of its own. */
static void search_result(eva__dns_ctx *w, const void *answer) {
    const search_answer *a = answer;
    int status = a->status;
    if (status == ARES_SUCCESS)
        status = eva__dns_parse_records(w->type, a->abuf, a->alen, &w->records);
    w->status = records_status(status, w->type, &w->message);
}

static void on_search(void *arg, int status, int timeouts, unsigned char *abuf, int alen) {
    (void)timeouts;
    search_answer a = {status, abuf, alen};
    lookup_answered(arg, search_result, &a);
}

/* ---- attaching, detaching, delivering --------------------------------------------------- */

static void attach(eva__dns_loop *dl, eva_dns_query *q, eva__dns_ctx *c) {
    eva__queue_insert_tail(&dl->pending_list, &q->node);
    if (dl->pending++ == 0)
        ev_ref(dl->loop->ev); /* pending queries keep the loop running, like pool jobs */
    q->ctx = c;
    c->q = q;
    q->state = EVA__DNS_PENDING;
}

static void detach(eva_dns_query *q) {
    eva__dns_loop *dl = eva__dns_loop_find(q->loop);
    eva__queue_remove(&q->node);
    if (--dl->pending == 0)
        ev_unref(dl->loop->ev);
    q->ctx->q = NULL; /* c-ares's later callback, or the drain, frees the context */
    q->ctx = NULL;
}

/* Hand the name to an awaiting task's buffer. */
static int name_to_buffer(eva_dns_query *q, const char *name) {
    size_t n = strlen(name);
    if (n >= q->namelen) {
        q->message = "DNS: the name does not fit the buffer";
        return -ENAMETOOLONG;
    }
    memcpy(q->name, name, n + 1);
    return 0;
}

void eva__dns_deliver(eva__dns_ctx *c) {
    eva_dns_query *q = c->q;
    eva_dns_addrs *addrs = c->addrs;
    char *name = c->name;
    eva_dns_records *records = c->records;
    if (!q) { /* cancelled after c-ares answered */
        eva_dns_addrs_free(addrs);
        eva__free(name);
        eva_dns_records_free(records);
        eva__free(c);
        return;
    }
    detach(q);
    q->state = EVA__DNS_IDLE;
    q->status = c->status;
    q->message = c->message;
    eva__free(c);
    /* from here on the query is idle: the code we call may restart or free it */
    int status = q->status;
    if (q->waiter) {
        eva_task *t = q->waiter;
        q->waiter = NULL;
        if (q->kind == EVA__DNS_RESOLVE) {
            if (status == 0)
                *q->out = addrs;
        } else if (q->kind == EVA__DNS_RECORDS) {
            if (status == 0)
                *q->records = records;
        } else if (status == 0) {
            status = q->status = name_to_buffer(q, name);
        }
        eva__free(name);
        eva_task_wake(t, status, status < 0 ? q->message : NULL);
    } else if (q->kind == EVA__DNS_RESOLVE) {
        EVA__CALL_USER(q->loop, q->on_resolve, q->on_resolve(q, status, addrs));
    } else if (q->kind == EVA__DNS_RECORDS) {
        EVA__CALL_USER(q->loop, q->on_records, q->on_records(q, status, records));
    } else {
        EVA__CALL_USER(q->loop, q->on_reverse, q->on_reverse(q, status, name));
        eva__free(name);
    }
}

static void on_cancelled(eva_loop *loop, int status, void *arg) {
    (void)loop;
    (void)status; /* at loop destroy too: complete it */
    eva_dns_query *q = arg;
    q->state = EVA__DNS_IDLE;
    if (q->kind == EVA__DNS_RESOLVE)
        q->on_resolve(q, -ECANCELED, NULL);
    else if (q->kind == EVA__DNS_RECORDS)
        q->on_records(q, -ECANCELED, NULL);
    else
        q->on_reverse(q, -ECANCELED, NULL);
}

/* c's query was cancelled (and detached).  A query that joined a lookup
 * leaves it.  A lookup nobody waits for any more is given up: out of the
 * table (a later identical start asks again rather than join a lookup whose
 * answer will be dropped) and, if it was waiting for a slot, out of the
 * queue (never sent; nothing will call back for it).  One c-ares already
 * has answers later, to nobody (lookup_answered frees it). */
static void leave_lookup(eva__dns_ctx *c) {
    eva__dns_ctx *lookup = c;
    if (c->lookup) {
        lookup = c->lookup;
        eva__queue_remove(&c->join_node);
        eva__free(c);
    }
    if (lookup->q || !eva__queue_empty(&lookup->joined))
        return; /* others still wait on it */
    eva__dns_flight_remove(lookup->dl, lookup);
    if (lookup->waiting)
        eva__dns_unqueue(lookup);
}

int eva_dns_cancel(eva_dns_query *q) {
    if (!q)
        return -EINVAL;
    if (q->state != EVA__DNS_PENDING)
        return 0;
    eva__dns_ctx *c = q->ctx;
    detach(q);
    leave_lookup(c);
    q->status = -ECANCELED;
    q->message = cancelled_message;
    if (q->waiter) {
        eva_task *t = q->waiter;
        q->waiter = NULL;
        q->state = EVA__DNS_IDLE;
        eva_task_wake_later(t, -ECANCELED); /* never inside the cancel call */
    } else {
        q->state = EVA__DNS_CANCELLING;
        eva_loop_defer(q->loop, &q->call, on_cancelled, q);
    }
    return 0;
}

bool eva_dns_query_is_pending(const eva_dns_query *q) {
    return q && q->state != EVA__DNS_IDLE;
}

const char *eva_dns_query_get_message(const eva_dns_query *q) {
    return q && q->message ? q->message : "";
}

/* ---- starting ------------------------------------------------------------------------------ */

/* A host name c-ares could be given: 1..253 characters (a trailing dot
 * aside), labels of 1..63, no spaces or control characters.  Numeric
 * addresses pass too. */
static int check_host(const char *host) {
    size_t len = strlen(host);
    if (len > 0 && host[len - 1] == '.')
        len--;
    if (len == 0 || len > 253)
        return EVA_EDNS_BADNAME;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)host[i];
        if (ch <= ' ' || ch == 0x7f)
            return EVA_EDNS_BADNAME;
        if (ch == '.') {
            if (label == 0)
                return EVA_EDNS_BADNAME;
            label = 0;
        } else if (++label > 63) {
            return EVA_EDNS_BADNAME;
        }
    }
    return label == 0 ? EVA_EDNS_BADNAME : 0;
}

/* Everything a start needs: the loop's state, its channel, a context with
 * room for a host name of hostlen characters. */
static int begin(eva_loop *loop, eva_dns_query *q, size_t hostlen, eva__dns_loop **dl_out,
                 eva__dns_ctx **c_out) {
    if (q->state != EVA__DNS_IDLE)
        return -EBUSY;
    eva__dns_loop *dl = eva__dns_loop_get(loop);
    if (!dl)
        return -ENOMEM;
    if (dl->closing)
        return -ECANCELED;
    int rc = eva__dns_channel(dl);
    if (rc < 0)
        return rc;
    eva__dns_ctx *c = eva__calloc(1, sizeof *c + hostlen + 1);
    if (!c)
        return -ENOMEM;
    c->dl = dl;
    eva__queue_init(&c->joined);
    q->loop = loop;
    q->message = NULL;
    q->status = 0;
    *dl_out = dl;
    *c_out = c;
    return 0;
}

/* Numeric addresses never reach c-ares (1.18 even sends queries for an
 * IPv4 literal asked with AF_UNSPEC before answering it): the answer is made
 * here, and delivered like any other.  true if host is numeric. */
static bool numeric_answer(const char *host, int family, eva__dns_ctx *c) {
    eva_dns_addr d;
    memset(&d, 0, sizeof d);
    if (inet_pton(AF_INET, host, &d.addr.in4.sin_addr) == 1) {
        d.family = d.addr.in4.sin_family = AF_INET;
        d.len = sizeof(struct sockaddr_in);
    } else if (inet_pton(AF_INET6, host, &d.addr.in6.sin6_addr) == 1) {
        d.family = d.addr.in6.sin6_family = AF_INET6;
        d.len = sizeof(struct sockaddr_in6);
    } else {
        return false;
    }
    if (family != AF_UNSPEC && family != d.family) {
        c->status = eva__dns_status(ARES_ENODATA, &c->message);
        return true;
    }
    eva_dns_addrs *a = eva__alloc(sizeof *a + sizeof a->addr[0]);
    if (!a) {
        c->status = eva__dns_status(ARES_ENOMEM, &c->message);
        return true;
    }
    a->count = 1;
    a->addr[0] = d;
    c->addrs = a;
    c->status = eva__dns_status(ARES_SUCCESS, &c->message);
    return true;
}

/* Join the lookup in flight with c's key, if there is one: c is then asked
 * for nothing and completes with that lookup's answer. */
static bool join_lookup(eva__dns_loop *dl, eva__dns_ctx *c) {
    eva__dns_ctx *lookup = eva__dns_flight_find(dl, c);
    if (!lookup)
        return false;
    c->lookup = lookup;
    eva__queue_insert_tail(&lookup->joined, &c->join_node);
    dl->cache.merged++;
    return true;
}

/* c leads a lookup of its own: identical starts join it until it is answered. */
static void lookup_new(eva__dns_loop *dl, eva__dns_ctx *c) {
    eva__dns_flight_add(dl, c);
    eva__dns_submit(dl, c);
}

static int resolve_start(eva_loop *loop, eva_dns_query *q, const char *host, int family) {
    if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6)
        return -EINVAL;
    int rc = check_host(host);
    if (rc < 0)
        return rc;
    eva__dns_loop *dl;
    eva__dns_ctx *c;
    size_t hostlen = strlen(host);
    rc = begin(loop, q, hostlen, &dl, &c);
    if (rc < 0)
        return rc;
    q->kind = c->kind = EVA__DNS_RESOLVE;
    c->family = family;
    memcpy(c->host, host, hostlen + 1); /* the key; it may wait for a slot; the cache keys on it */
    attach(dl, q, c);
    /* a join first: it is neither a cache hit nor a miss (and a lookup in
     * flight means the cache had no answer; numeric names never have one) */
    if (join_lookup(dl, c))
        return 0;
    if (numeric_answer(host, family, c) || eva__dns_cache_answer(dl, host, family, c)) {
        eva__dns_done(dl, c); /* delivered on the next iteration, unpaced: no query */
        return 0;
    }
    lookup_new(dl, c);
    return 0;
}

static int check_sockaddr(const struct sockaddr *sa, socklen_t salen) {
    if (sa->sa_family == AF_INET && salen == sizeof(struct sockaddr_in))
        return 0;
    if (sa->sa_family == AF_INET6 && salen == sizeof(struct sockaddr_in6))
        return 0;
    return -EINVAL;
}

/* A reverse lookup's key: the address as text, with an IPv6 scope (c-ares
 * appends it to a link-local address's name, so it changes the answer); the
 * port is ignored, as the lookup ignores it. */
enum { REVERSE_KEY_LEN = INET6_ADDRSTRLEN + sizeof "%4294967295" };

static void reverse_key(eva__dns_ctx *c) {
    if (c->sa.sa.sa_family == AF_INET) {
        inet_ntop(AF_INET, &c->sa.in4.sin_addr, c->host, REVERSE_KEY_LEN);
        return;
    }
    inet_ntop(AF_INET6, &c->sa.in6.sin6_addr, c->host, REVERSE_KEY_LEN);
    if (c->sa.in6.sin6_scope_id != 0) {
        size_t n = strlen(c->host);
        snprintf(c->host + n, REVERSE_KEY_LEN - n, "%%%u", (unsigned)c->sa.in6.sin6_scope_id);
    }
}

static int reverse_start(eva_loop *loop, eva_dns_query *q, const struct sockaddr *sa,
                         socklen_t salen) {
    int rc = check_sockaddr(sa, salen);
    if (rc < 0)
        return rc;
    eva__dns_loop *dl;
    eva__dns_ctx *c;
    rc = begin(loop, q, REVERSE_KEY_LEN, &dl, &c);
    if (rc < 0)
        return rc;
    q->kind = c->kind = EVA__DNS_REVERSE;
    memcpy(&c->sa, sa, salen);
    c->salen = salen;
    c->family = sa->sa_family;
    reverse_key(c);
    attach(dl, q, c);
    if (!join_lookup(dl, c))
        lookup_new(dl, c);
    return 0;
}

static bool record_type_ok(eva_dns_type type) {
    return type == EVA_DNS_SRV || type == EVA_DNS_MX || type == EVA_DNS_TXT || type == EVA_DNS_CNAME;
}

static int records_start(eva_loop *loop, eva_dns_query *q, const char *name, eva_dns_type type) {
    if (!record_type_ok(type))
        return -EINVAL;
    int rc = check_host(name);
    if (rc < 0)
        return rc;
    eva__dns_loop *dl;
    eva__dns_ctx *c;
    size_t len = strlen(name);
    rc = begin(loop, q, len, &dl, &c);
    if (rc < 0)
        return rc;
    q->kind = c->kind = EVA__DNS_RECORDS;
    c->type = type;
    memcpy(c->host, name, len + 1);
    attach(dl, q, c);
    if (!join_lookup(dl, c))
        lookup_new(dl, c);
    return 0;
}

/* c-ares 1.18 to 1.20 lose a copy of the name (10 bytes, on every lookup)
 * when "localhost" is not in the hosts file for the family asked: the
 * hosts-file search copies the name, and the RFC 6761 fallback that follows
 * copies it again over the first.  On those versions evasync gives the
 * fallback's own answer without calling c-ares: the loopback address of
 * each family asked, ::1 first, as c-ares orders them. */
static bool localhost_in_hosts(eva__dns_loop *dl, int family) {
    struct hostent *he;
    if (ares_gethostbyname_file(dl->channel, "localhost", family, &he) != ARES_SUCCESS)
        return false;
    ares_free_hostent(he);
    return true;
}

/* The fallback's answer for one waiter of the lookup (answer is unused). */
static void localhost_result(eva__dns_ctx *w, const void *answer) {
    (void)answer;
    bool v6 = w->family != AF_INET, v4 = w->family != AF_INET6;
    eva_dns_addrs *a = eva__alloc(sizeof *a + 2 * sizeof a->addr[0]);
    if (!a) {
        w->status = eva__dns_status(ARES_ENOMEM, &w->message);
        return;
    }
    a->count = 0;
    if (v6) {
        eva_dns_addr *d = &a->addr[a->count++];
        memset(d, 0, sizeof *d);
        d->family = AF_INET6;
        d->len = sizeof(struct sockaddr_in6);
        d->addr.in6.sin6_family = AF_INET6;
        d->addr.in6.sin6_addr = in6addr_loopback;
    }
    if (v4) {
        eva_dns_addr *d = &a->addr[a->count++];
        memset(d, 0, sizeof *d);
        d->family = AF_INET;
        d->len = sizeof(struct sockaddr_in);
        d->addr.in4.sin_family = AF_INET;
        d->addr.in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    }
    w->addrs = a;
    w->status = eva__dns_status(ARES_SUCCESS, &w->message);
}

static bool answer_localhost(eva__dns_loop *dl, eva__dns_ctx *c) {
    enum { FIXED_IN = 0x011500 }; /* 1.21.0 rewrote the hosts-file code */
    int version;
    ares_version(&version);
    if (strcmp(c->host, "localhost") != 0 || version >= FIXED_IN)
        return false;
    bool v6 = c->family != AF_INET, v4 = c->family != AF_INET6;
    if ((v6 && localhost_in_hosts(dl, AF_INET6)) || (v4 && localhost_in_hosts(dl, AF_INET)))
        return false; /* the hosts file answers: no fallback, no leak */
    lookup_answered(c, localhost_result, NULL); /* not cached: neither is c-ares's own answer */
    return true;
}

void eva__dns_ask(eva__dns_loop *dl, eva__dns_ctx *c) {
    enum { CLASS_IN = 1, TYPE_A = 1 };
    if (c->kind == EVA__DNS_RESOLVE && answer_localhost(dl, c))
        return;
    if (c->kind == EVA__DNS_RESOLVE) {
        struct ares_addrinfo_hints hints = {.ai_family = c->family};
        c->asking = true; /* still attached: its callback only queues it */
        ares_getaddrinfo(dl->channel, c->host, NULL, &hints, on_addrinfo, c);
        c->asking = false;
    } else if (c->kind == EVA__DNS_RECORDS) {
        /* a CNAME chain is what an A query's answer walks through: asking
         * for CNAME itself would get only the first hop from a resolver */
        int qtype = c->type == EVA_DNS_CNAME ? TYPE_A : (int)c->type;
        ares_search(dl->channel, c->host, CLASS_IN, qtype, on_search, c);
    } else {
        ares_getnameinfo(dl->channel, &c->sa.sa, (ares_socklen_t)c->salen,
                         ARES_NI_LOOKUPHOST | ARES_NI_NAMEREQD, on_nameinfo, c);
    }
}

int eva_dns_resolve(eva_loop *loop, eva_dns_query *q, const char *host, int family,
                       eva_dns_resolve_fn cb, void *data) {
    if (!loop || !q || !host || !cb)
        return -EINVAL;
    if (q->state != EVA__DNS_IDLE)
        return -EBUSY; /* before touching anything of a pending query */
    int rc = resolve_start(loop, q, host, family);
    if (rc == 0) { /* the answer comes later, never inside this call; a failed
                      start leaves q as it was */
        q->on_resolve = cb;
        q->data = data;
        q->waiter = NULL;
    }
    return rc;
}

int eva_dns_reverse(eva_loop *loop, eva_dns_query *q, const struct sockaddr *sa,
                       socklen_t salen, eva_dns_reverse_fn cb, void *data) {
    if (!loop || !q || !sa || !cb)
        return -EINVAL;
    if (q->state != EVA__DNS_IDLE)
        return -EBUSY;
    int rc = reverse_start(loop, q, sa, salen);
    if (rc == 0) { /* as in eva_dns_resolve */
        q->on_reverse = cb;
        q->data = data;
        q->waiter = NULL;
    }
    return rc;
}

int eva_dns_query_records(eva_loop *loop, eva_dns_query *q, const char *name, eva_dns_type type,
                          eva_dns_records_fn cb, void *data) {
    if (!loop || !q || !name || !cb)
        return -EINVAL;
    if (q->state != EVA__DNS_IDLE)
        return -EBUSY;
    int rc = records_start(loop, q, name, type);
    if (rc == 0) { /* as in eva_dns_resolve */
        q->on_records = cb;
        q->data = data;
        q->waiter = NULL;
    }
    return rc;
}

/* ---- AWAIT ---------------------------------------------------------------------------------- */

static void wait_cancel(eva_task *t) { eva_dns_cancel(eva_task_get_wait_obj(t)); }

static const eva_wait_ops dns_wait = {"dns", wait_cancel};

static int resolve_op_start(eva_task *t, const eva_op *op) {
    eva_dns_query *q = op->ptr;
    if (!q)
        return -EINVAL;
    if (q->state != EVA__DNS_IDLE)
        return -EBUSY;
    if (!q->host || !q->out)
        return -EINVAL;
    int rc = resolve_start(t->loop, q, q->host, q->family);
    if (rc < 0)
        return rc;
    q->host = NULL; /* the caller's string is not kept */
    q->waiter = t;
    eva_task_park(t, &dns_wait, q);
    return EVA_PARKED;
}

eva_op eva_dns_resolve_op(eva_dns_query *q, const char *host, int family, eva_dns_addrs **out) {
    if (q && q->state == EVA__DNS_IDLE) { /* never touch a query in flight */
        q->host = host;
        q->family = family;
        q->out = out;
    }
    return (eva_op){.start = resolve_op_start, .ptr = q};
}

static int reverse_op_start(eva_task *t, const eva_op *op) {
    eva_dns_query *q = op->ptr;
    if (!q)
        return -EINVAL;
    if (q->state != EVA__DNS_IDLE)
        return -EBUSY;
    if (!q->sa || !q->name || q->namelen == 0)
        return -EINVAL;
    int rc = reverse_start(t->loop, q, q->sa, q->salen);
    if (rc < 0)
        return rc;
    q->sa = NULL; /* copied by c-ares */
    q->waiter = t;
    eva_task_park(t, &dns_wait, q);
    return EVA_PARKED;
}

eva_op eva_dns_reverse_op(eva_dns_query *q, const struct sockaddr *sa, socklen_t salen,
                          char *host, size_t hostlen) {
    if (q && q->state == EVA__DNS_IDLE) {
        q->sa = sa;
        q->salen = salen;
        q->name = host;
        q->namelen = hostlen;
    }
    return (eva_op){.start = reverse_op_start, .ptr = q};
}

static int records_op_start(eva_task *t, const eva_op *op) {
    eva_dns_query *q = op->ptr;
    if (!q)
        return -EINVAL;
    if (q->state != EVA__DNS_IDLE)
        return -EBUSY;
    if (!q->host || !q->records)
        return -EINVAL;
    int rc = records_start(t->loop, q, q->host, (eva_dns_type)q->family);
    if (rc < 0)
        return rc;
    q->host = NULL;
    q->waiter = t;
    eva_task_park(t, &dns_wait, q);
    return EVA_PARKED;
}

eva_op eva_dns_query_records_op(eva_dns_query *q, const char *name, eva_dns_type type, eva_dns_records **out) {
    if (q && q->state == EVA__DNS_IDLE) {
        q->host = name;
        q->family = (int)type; /* the operand slot the resolve form uses for its family */
        q->records = out;
    }
    return (eva_op){.start = records_op_start, .ptr = q};
}

/* ---- promises ------------------------------------------------------------------------------ */

typedef struct dns_promise {
    eva_dns_query q;
    eva_promise *p; /* the query's reference */
} dns_promise;

static void addrs_dtor(void *value) { eva_dns_addrs_free(value); }
static void records_dtor(void *value) { eva_dns_records_free(value); }
static void name_dtor(void *value) { eva__free(value); }

static void promise_cancel(eva_promise *p, void *arg) {
    (void)p;
    eva_dns_cancel(arg);
}

/* Settle (unless loop destroy got there first), drop our reference. */
static void promise_settle(dns_promise *dp, int status, void *value, eva_value_dtor dtor) {
    if (status == 0)
        eva__promise_settle(dp->p, EVA_PROMISE_FULFILLED, 0, NULL, value, dtor);
    else
        eva__promise_settle(dp->p, EVA_PROMISE_REJECTED, status, dp->q.message, NULL, NULL);
    eva_promise_unref(dp->p);
    eva__free(dp);
}

static void promise_resolved(eva_dns_query *q, int status, eva_dns_addrs *addrs) {
    promise_settle(EVA__CONTAINER_OF(q, dns_promise, q), status, addrs, addrs_dtor);
}

static void promise_records(eva_dns_query *q, int status, eva_dns_records *records) {
    promise_settle(EVA__CONTAINER_OF(q, dns_promise, q), status, records, records_dtor);
}

static void promise_reversed(eva_dns_query *q, int status, const char *host) {
    char *copy = NULL;
    if (status == 0) {
        size_t n = strlen(host);
        copy = eva__alloc(n + 1);
        if (copy) {
            memcpy(copy, host, n + 1);
        } else {
            status = -ENOMEM;
            q->message = "DNS: out of memory";
        }
    }
    promise_settle(EVA__CONTAINER_OF(q, dns_promise, q), status, copy, name_dtor);
}

static int promise_begin(eva_loop *loop, dns_promise **out) {
    dns_promise *dp = eva__calloc(1, sizeof *dp);
    if (!dp)
        return -ENOMEM;
    int rc = eva__promise_new_for_op(loop, &dp->p);
    if (rc < 0) {
        eva__free(dp);
        return rc;
    }
    *out = dp;
    return 0;
}

static int promise_end(dns_promise *dp, int rc, eva_promise **out) {
    if (rc < 0) {
        eva_promise_unref(dp->p);
        eva__free(dp);
        return rc;
    }
    eva_promise_set_canceller(dp->p, promise_cancel, &dp->q);
    *out = eva_promise_ref(dp->p);
    return 0;
}

int eva_dns_resolve_promise(eva_loop *loop, const char *host, int family, eva_promise **out) {
    if (!loop || !host || !out)
        return -EINVAL;
    dns_promise *dp;
    int rc = promise_begin(loop, &dp);
    if (rc < 0)
        return rc;
    rc = eva_dns_resolve(loop, &dp->q, host, family, promise_resolved, NULL);
    return promise_end(dp, rc, out);
}

int eva_dns_reverse_promise(eva_loop *loop, const struct sockaddr *sa, socklen_t salen, eva_promise **out) {
    if (!loop || !sa || !out)
        return -EINVAL;
    dns_promise *dp;
    int rc = promise_begin(loop, &dp);
    if (rc < 0)
        return rc;
    rc = eva_dns_reverse(loop, &dp->q, sa, salen, promise_reversed, NULL);
    return promise_end(dp, rc, out);
}

int eva_dns_query_records_promise(eva_loop *loop, const char *name, eva_dns_type type, eva_promise **out) {
    if (!loop || !name || !out)
        return -EINVAL;
    dns_promise *dp;
    int rc = promise_begin(loop, &dp);
    if (rc < 0)
        return rc;
    rc = eva_dns_query_records(loop, &dp->q, name, type, promise_records, NULL);
    return promise_end(dp, rc, out);
}
