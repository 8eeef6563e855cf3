/* net/dns_records.c — a record query's reply -> one eva_dns_records block.
 *
 * SRV, MX and TXT go through c-ares 1.18's parsers (ares_parse_srv_reply,
 * ares_parse_mx_reply, ares_parse_txt_reply_ext), which skip the records of
 * other types an answer may carry (a CNAME in front).  The CNAME chain is
 * walked here: c-ares has no parser that reports it in order.  Either way
 * the result is built in two passes — measure, then copy — into a single
 * allocation: the records, then their strings. */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "dns_internal.h"

enum { HEADER_LEN = 12, RR_FIXED = 10, TYPE_CNAME = 5, CLASS_IN = 1, MAX_CHAIN = 16 };

/* ---- the block ---------------------------------------------------------------------------- */

typedef struct block {
    eva_dns_records *r;
    char *strings; /* the next free byte after the records */
} block;

static int block_new(eva_dns_type type, size_t count, size_t string_bytes, block *b) {
    eva_dns_records *r = eva__alloc(sizeof *r + count * sizeof r->rec[0] + string_bytes);
    if (!r)
        return ARES_ENOMEM;
    memset(r, 0, sizeof *r + count * sizeof r->rec[0]);
    r->type = type;
    b->r = r;
    b->strings = (char *)&r->rec[count];
    return ARES_SUCCESS;
}

/* Copy len bytes and a NUL into the block's strings. */
static const char *block_put(block *b, const void *bytes, size_t len) {
    char *s = b->strings;
    memcpy(s, bytes, len);
    s[len] = '\0';
    b->strings += len + 1;
    return s;
}

static const char *block_put_str(block *b, const char *s) { return block_put(b, s, strlen(s)); }

/* ---- SRV, MX, TXT through c-ares ---------------------------------------------------------- */

static int from_srv(const unsigned char *abuf, int alen, eva_dns_records **out) {
    struct ares_srv_reply *list;
    int st = ares_parse_srv_reply(abuf, alen, &list);
    if (st != ARES_SUCCESS)
        return st;
    size_t n = 0, bytes = 0;
    for (struct ares_srv_reply *s = list; s; s = s->next, n++)
        bytes += strlen(s->host) + 1;
    block b;
    st = n ? block_new(EVA_DNS_SRV, n, bytes, &b) : ARES_ENODATA;
    if (st == ARES_SUCCESS) {
        eva_dns_record *rec = b.r->rec;
        for (struct ares_srv_reply *s = list; s; s = s->next, rec++) {
            rec->u.srv.priority = s->priority;
            rec->u.srv.weight = s->weight;
            rec->u.srv.port = s->port;
            rec->u.srv.target = block_put_str(&b, s->host);
        }
        b.r->count = n;
        *out = b.r;
    }
    ares_free_data(list);
    return st;
}

static int from_mx(const unsigned char *abuf, int alen, eva_dns_records **out) {
    struct ares_mx_reply *list;
    int st = ares_parse_mx_reply(abuf, alen, &list);
    if (st != ARES_SUCCESS)
        return st;
    size_t n = 0, bytes = 0;
    for (struct ares_mx_reply *m = list; m; m = m->next, n++)
        bytes += strlen(m->host) + 1;
    block b;
    st = n ? block_new(EVA_DNS_MX, n, bytes, &b) : ARES_ENODATA;
    if (st == ARES_SUCCESS) {
        eva_dns_record *rec = b.r->rec;
        for (struct ares_mx_reply *m = list; m; m = m->next, rec++) {
            rec->u.mx.preference = m->priority;
            rec->u.mx.host = block_put_str(&b, m->host);
        }
        b.r->count = n;
        *out = b.r;
    }
    ares_free_data(list);
    return st;
}

/* c-ares gives one chunk per character-string, record_start on each
 * record's first: a record is its chunks joined. */
static int from_txt(const unsigned char *abuf, int alen, eva_dns_records **out) {
    struct ares_txt_ext *list;
    int st = ares_parse_txt_reply_ext(abuf, alen, &list);
    if (st != ARES_SUCCESS)
        return st;
    size_t n = 0, bytes = 0;
    for (struct ares_txt_ext *t = list; t; t = t->next) {
        if (t->record_start || t == list) {
            n++;
            bytes++; /* the record's NUL */
        }
        bytes += t->length;
    }
    block b;
    st = n ? block_new(EVA_DNS_TXT, n, bytes, &b) : ARES_ENODATA;
    if (st == ARES_SUCCESS) {
        eva_dns_record *rec = b.r->rec - 1;
        for (struct ares_txt_ext *t = list; t; t = t->next) {
            if (t->record_start || t == list) {
                rec++;
                rec->u.txt.text = b.strings;
                rec->u.txt.len = 0;
            } else {
                b.strings--; /* the chunk goes where the previous one's NUL went */
            }
            block_put(&b, t->txt, t->length);
            rec->u.txt.len += t->length;
        }
        b.r->count = n;
        *out = b.r;
    }
    ares_free_data(list);
    return st;
}

/* ---- the CNAME chain ---------------------------------------------------------------------- */

typedef struct cname_rr {
    char *owner, *target; /* c-ares's allocations (ares_free_string) */
} cname_rr;

static int read_name(const unsigned char *p, const unsigned char *abuf, int alen, char **name, long *len) {
    return ares_expand_name(p, abuf, alen, name, len);
}

/* The answer section's CNAME records, up to MAX_CHAIN of them. */
static int collect_cnames(const unsigned char *abuf, int alen, char **qname, cname_rr *rr, size_t *nrr) {
    if (alen < HEADER_LEN)
        return ARES_EBADRESP;
    unsigned qd = (unsigned)abuf[4] << 8 | abuf[5], an = (unsigned)abuf[6] << 8 | abuf[7];
    if (qd != 1)
        return ARES_EBADRESP;
    const unsigned char *p = abuf + HEADER_LEN, *end = abuf + alen;
    long len;
    if (read_name(p, abuf, alen, qname, &len) != ARES_SUCCESS)
        return ARES_EBADRESP;
    p += len + 4; /* QTYPE, QCLASS */
    *nrr = 0;
    for (unsigned i = 0; i < an; i++) {
        char *owner;
        if (p > end || read_name(p, abuf, alen, &owner, &len) != ARES_SUCCESS)
            return ARES_EBADRESP;
        p += len;
        if (end - p < RR_FIXED) {
            ares_free_string(owner);
            return ARES_EBADRESP;
        }
        unsigned type = (unsigned)p[0] << 8 | p[1], cls = (unsigned)p[2] << 8 | p[3];
        long rdlen = (long)p[8] << 8 | p[9];
        p += RR_FIXED;
        char *target = NULL;
        bool keep = type == TYPE_CNAME && cls == CLASS_IN && *nrr < MAX_CHAIN;
        if (end - p < rdlen || (keep && read_name(p, abuf, alen, &target, &len) != ARES_SUCCESS)) {
            ares_free_string(owner);
            return ARES_EBADRESP;
        }
        p += rdlen;
        if (keep) {
            rr[*nrr].owner = owner;
            rr[(*nrr)++].target = target;
        } else {
            ares_free_string(owner);
        }
    }
    return ARES_SUCCESS;
}

/* From the name asked, follow the aliases: hop i is rr[chain[i]]. */
static size_t walk_chain(const char *qname, const cname_rr *rr, size_t nrr, size_t *chain) {
    size_t hops = 0;
    const char *cur = qname;
    while (hops < nrr) {
        size_t i = 0;
        while (i < nrr && strcasecmp(rr[i].owner, cur) != 0)
            i++;
        if (i == nrr)
            break;
        chain[hops++] = i;
        cur = rr[i].target;
    }
    return hops; /* a loop stops after nrr hops */
}

static int from_cname(const unsigned char *abuf, int alen, eva_dns_records **out) {
    cname_rr rr[MAX_CHAIN];
    size_t nrr = 0, chain[MAX_CHAIN];
    char *qname = NULL;
    int st = collect_cnames(abuf, alen, &qname, rr, &nrr);
    size_t hops = st == ARES_SUCCESS ? walk_chain(qname, rr, nrr, chain) : 0;
    if (st == ARES_SUCCESS && hops == 0)
        st = ARES_ENODATA; /* not an alias */
    if (st == ARES_SUCCESS) {
        size_t bytes = 0;
        for (size_t i = 0; i < hops; i++)
            bytes += strlen(rr[chain[i]].target) + 1;
        block b;
        st = block_new(EVA_DNS_CNAME, hops, bytes, &b);
        if (st == ARES_SUCCESS) {
            for (size_t i = 0; i < hops; i++)
                b.r->rec[i].u.cname.name = block_put_str(&b, rr[chain[i]].target);
            b.r->count = hops;
            *out = b.r;
        }
    }
    for (size_t i = 0; i < nrr; i++) {
        ares_free_string(rr[i].owner);
        ares_free_string(rr[i].target);
    }
    if (qname)
        ares_free_string(qname);
    return st;
}

static int parse(eva_dns_type type, const unsigned char *abuf, int alen, eva_dns_records **out) {
    switch (type) {
    case EVA_DNS_SRV:   return from_srv(abuf, alen, out);
    case EVA_DNS_MX:    return from_mx(abuf, alen, out);
    case EVA_DNS_TXT:   return from_txt(abuf, alen, out);
    case EVA_DNS_CNAME: return from_cname(abuf, alen, out);
    }
    return ARES_EBADRESP;
}

int eva__dns_parse_records(eva_dns_type type, const unsigned char *abuf, int alen, eva_dns_records **out) {
    int st = parse(type, abuf, alen, out);
    /* c-ares's parsers pass on ares_expand_name's ARES_EBADNAME for a name
     * they could not decode: in a reply, that is a malformed reply */
    if (st != ARES_SUCCESS && st != ARES_ENODATA && st != ARES_ENOMEM)
        st = ARES_EBADRESP;
    return st;
}

void eva_dns_records_free(eva_dns_records *records) { eva__free(records); }
