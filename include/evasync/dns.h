/* evasync/dns.h — non-blocking name resolution on c-ares, in the three styles.
 *
 * getaddrinfo() blocks; evasync resolves on the loop itself.  Each loop has
 * one c-ares channel, created on first use (or by eva_dns_configure): its
 * sockets are watched by the loop and one timer drives c-ares's timeouts and
 * retries, so a thousand concurrent lookups are a thousand small UDP
 * exchanges on one thread, not a thousand blocked threads.
 *
 * Numeric addresses ("192.0.2.1", "::1") and names in the hosts file
 * (/etc/hosts) resolve without a query; the rest goes to the configured DNS
 * servers (the system's /etc/resolv.conf unless eva_dns_configure() set
 * others), following its search domains and ndots.
 *
 * Every operation exists once, as a callback primitive on a caller-owned
 * eva_dns_query; the AWAIT forms drive the same primitive with the query in
 * the task's frame; the promise forms wrap it in an allocated query.
 *
 * Rules that hold everywhere:
 *  - A start that returns 0 completes exactly once: the callback runs, the
 *    AWAIT resumes, the promise settles.  Never inside the call that started
 *    it, never inside eva_dns_cancel(), and never inside c-ares (so a
 *    callback may start, cancel or configure anything).  A start that
 *    returns an error completes nothing.
 *  - Memory.  Each query in flight holds one small context allocated through
 *    evasync's allocator (c-ares keeps a pointer to it, and may outlive a
 *    cancelled query); it is freed when c-ares is done with it.  A
 *    successful resolve allocates its eva_dns_addrs, which the receiver owns.
 *    The promise forms also allocate the promise and a query.  c-ares's own
 *    allocations go through evasync's allocator too (see eva_set_allocator).
 *  - A pending query keeps eva_loop_run(EVA_RUN_DEFAULT) running, as an
 *    active handle does; the resolver's own sockets and timer never do (so
 *    an attached daemon loop is not kept alive by an idle resolver).
 *  - eva_loop_destroy() completes every query still pending with
 *    -ECANCELED, then closes the channel and frees everything.
 *  - Loop thread only, like everything else on a loop.
 *
 * Errors (negative codes; eva_strerror() names them, and the promise and
 * AWAIT forms carry a more precise message, see eva_dns_query_get_message()):
 *   EVA_EDNS_NOTFOUND  the name does not exist (NXDOMAIN), has no address of
 *                      the requested family, or (reverse) has no name
 *   EVA_EDNS_SERVFAIL  the server failed (SERVFAIL)
 *   EVA_EDNS_REFUSED   the server refused the query (REFUSED, NOTIMP, FORMERR)
 *                      (these two with a single server; with several, c-ares
 *                      1.18 tries the next one, and when all fail reports
 *                      -ECONNREFUSED: see eva_dns_configure)
 *   EVA_EDNS_NODATA    (record queries only) the name exists but has no
 *                      record of the asked type (NOERROR, empty answer);
 *                      NXDOMAIN stays EVA_EDNS_NOTFOUND
 *   EVA_EDNS_BADNAME   the name is not a valid host name
 *   EVA_EDNS_BADREPLY  a reply could not be parsed
 *   -ETIMEDOUT         no reply within timeout_ms on any of the tries
 *   -ECONNREFUSED      no server gave an answer: unreachable, or (several
 *                      servers) each refused or failed the query
 *   -ECANCELED         eva_dns_cancel(), a cancelled task or promise, or
 *                      eva_loop_destroy()
 *   -ENOMEM            out of memory (evasync's or c-ares's allocations)
 *   -EIO               anything else c-ares reports (the message names it)
 */
#ifndef EVASYNC_DNS_H
#define EVASYNC_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "export.h"
#include "call.h"
#include "promise.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eva_loop eva_loop;
typedef struct eva_dns_query eva_dns_query;

/* ---- results ----------------------------------------------------------------- */

/* One address: pass &a->addr.sa and a->len to connect().  The port is 0
 * (set one with eva_dns_addrs_set_port). */
/* eva_dns_addr: 144 bytes on x86_64, all public (ABI: tests/test_struct_sizes.c). */
typedef struct eva_dns_addr {
    int family;     /* AF_INET or AF_INET6 */
    socklen_t len;  /* sizeof(struct sockaddr_in) or sizeof(struct sockaddr_in6) */
    int ttl;        /* seconds, from the answer (a TTL with its top bit set reads as 0,
                     * RFC 2181 section 8); 0 for numeric and hosts-file entries */
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
        struct sockaddr_storage ss;
    } addr;
} eva_dns_addr;

/* The addresses a name resolved to, in the order c-ares returned them (RFC
 * 6724 destination order, as getaddrinfo sorts).  One allocation; whoever
 * receives it owns it and frees it with eva_dns_addrs_free(), except the
 * promise form's value, which belongs to the promise. */
/* eva_dns_addrs: 8 bytes on x86_64, all public (ABI: tests/test_struct_sizes.c). */
typedef struct eva_dns_addrs {
    size_t count;         /* >= 1 */
    eva_dns_addr addr[];
} eva_dns_addrs;

/* Free a list (NULL is fine).  Any thread. */
EVA_API void eva_dns_addrs_free(eva_dns_addrs *addrs);

/* Set the port of every address in the list.  Returns 0 or -EINVAL (NULL). */
EVA_API int eva_dns_addrs_set_port(eva_dns_addrs *addrs, uint16_t port);

/* Write the address as text ("192.0.2.1", "2001:db8::1") into buf.
 * Returns 0; -EINVAL (NULL, unknown family); -ENOSPC (len too small:
 * INET6_ADDRSTRLEN always suffices). */
EVA_API int eva_dns_addr_format(const eva_dns_addr *a, char *buf, size_t len);

/* ---- the query: a caller-owned request ------------------------------------------ */

/* Callbacks run on the loop thread.  status is 0 or a negative code (see the
 * top of this file).  resolve: addrs is non-NULL exactly when status is 0,
 * and is the callee's to free with eva_dns_addrs_free.  reverse: host is the
 * name (borrowed: valid during the call) when status is 0, else NULL.  The
 * query is idle when the callback runs: it may be restarted, or freed. */
typedef void (*eva_dns_resolve_fn)(eva_dns_query *q, int status, eva_dns_addrs *addrs);
typedef void (*eva_dns_reverse_fn)(eva_dns_query *q, int status, const char *host);
typedef struct eva_dns_records eva_dns_records;
/* records: non-NULL exactly when status is 0, the callee's to free with
 * eva_dns_records_free. */
typedef void (*eva_dns_records_fn)(eva_dns_query *q, int status, eva_dns_records *records);

/* Zero-initialise a query before its first use.  It must stay valid (and
 * must not be moved) from a successful start until its completion has run.
 * Everything but data is private. */
/* eva_dns_query: 184 bytes on x86_64 (ABI: tests/test_struct_sizes.c). */
struct eva_dns_query {
    /* public: */
    void *data;                   /* the caller's (the _cb functions set it) */
    /* private: */
    eva_queue node;               /* the loop's pending queries */
    eva_loop *loop;
    struct eva__dns_ctx *ctx;     /* c-ares's side while the query is pending */
    eva_dns_resolve_fn on_resolve;
    eva_dns_reverse_fn on_reverse;
    eva_task *waiter;             /* the AWAIT form */
    eva_call call;                /* a deferred -ECANCELED completion */
    const char *message;
    int status;
    uint8_t kind;                 /* resolve, reverse or records */
    uint8_t state;                /* idle, pending, cancelling */
    /* the AWAIT forms' operands and results */
    const char *host;
    int family;
    eva_dns_addrs **out;
    const struct sockaddr *sa;
    socklen_t salen;
    char *name;
    size_t namelen;
    eva_dns_records_fn on_records;
    eva_dns_records **records;
};

/* Resolve host (a name, or a numeric IPv4/IPv6 address) to addresses of
 * family AF_INET, AF_INET6 or AF_UNSPEC (both), on the loop's channel.
 * The list holds only addresses of that family, whatever records the
 * server's answer carried.
 * Merging: while a lookup of the same host (without case) and family is in
 * flight (at c-ares, or waiting for a place in the window), this one joins
 * it instead of sending queries of its own; AF_UNSPEC, AF_INET and AF_INET6
 * are never merged with each other.  Each joined query still completes on
 * its own, once, in start order, with the same status and message and its
 * own eva_dns_addrs (the ownership below does not change); cancelling one
 * completes only that one.  eva_dns_reverse (same address) and
 * eva_dns_query_records (same name and type) merge alike.
 * cb(q, status, addrs) runs once, later; q->data is set to data.
 * Returns 0 (cb will run); -EINVAL (NULL loop, q, host or cb; family not one
 * of the three); EVA_EDNS_BADNAME (host is empty, longer than 253 characters,
 * has an empty label or one over 63 characters, or a control character or
 * space); -EBUSY (q is pending); -ENOMEM; -ECANCELED (the loop is being
 * destroyed); or an error creating the channel (see eva_dns_configure). */
EVA_API int eva_dns_resolve(eva_loop *loop, eva_dns_query *q, const char *host, int family,
                               eva_dns_resolve_fn cb, void *data);

/* Reverse lookup (PTR, through ares_getnameinfo): the name of the address
 * sa (AF_INET with salen == sizeof(struct sockaddr_in), or AF_INET6 with
 * sizeof(struct sockaddr_in6); the port is ignored).  sa is copied: it need
 * not outlive the call.  The hosts file answers first.  An address without a
 * name completes with EVA_EDNS_NOTFOUND.
 * Returns 0; -EINVAL (NULL loop, q, sa or cb; another family, or a salen
 * that does not match it); -EBUSY; -ENOMEM; -ECANCELED. */
EVA_API int eva_dns_reverse(eva_loop *loop, eva_dns_query *q, const struct sockaddr *sa,
                               socklen_t salen, eva_dns_reverse_fn cb, void *data);

/* Cancel a pending query without disturbing the others: it completes with
 * -ECANCELED on the next loop iteration (c-ares 1.18 cannot withdraw one
 * query, so its late answer is ignored and its context freed when c-ares
 * is done with it).  A query that is idle, or whose cancellation is already
 * on its way, is left alone.  Returns 0, or -EINVAL (NULL q). */
EVA_API int eva_dns_cancel(eva_dns_query *q);

/* true from a successful start until the completion has run. */
EVA_API bool eva_dns_query_is_pending(const eva_dns_query *q);

/* The message of the query's last completion: "success", or a description
 * of the failure more precise than eva_strerror(status) (static storage).
 * "" for a query that never completed; never NULL. */
EVA_API const char *eva_dns_query_get_message(const eva_dns_query *q);

/* How many queries are pending on loop (queued ones included), or -EINVAL
 * for NULL. */
EVA_API int eva_dns_get_pending(const eva_loop *loop);

/* How many of them wait for a place in the pacing window (see
 * eva_dns_options.max_in_flight), or -EINVAL for NULL.  A query that joined
 * a lookup (see eva_dns_resolve) is not counted: it waits for that lookup's
 * answer, not for a place. */
EVA_API int eva_dns_get_queued(const eva_loop *loop);

/* The cache's and the merge's counters since the loop's resolver was made
 * (eva_dns_configure does not reset them).  A resolve that joined a lookup
 * in flight counts in merged only, neither as a hit nor as a miss. */
/* eva_dns_stats: 48 bytes on x86_64, all public (ABI: tests/test_struct_sizes.c). */
typedef struct eva_dns_stats {
    uint64_t cache_hits;      /* resolves answered from the cache */
    uint64_t cache_misses;    /* resolves of names (not numeric) the cache could not answer */
    uint64_t cache_evictions; /* live entries dropped to make room (least recently used) */
    uint64_t cache_expired;   /* entries found past their TTL (counted among the misses) */
    size_t cache_entries;     /* entries held now, expired ones not yet dropped included */
    uint64_t merged;          /* starts (resolve, reverse, records) that joined an identical
                               * lookup in flight instead of sending their own (see
                               * eva_dns_resolve) */
} eva_dns_stats;

/* Fill *out with the loop's counters (all 0 before its first lookup).
 * Returns 0 or -EINVAL (NULL loop or out). */
EVA_API int eva_dns_get_stats(const eva_loop *loop, eva_dns_stats *out);

/* ---- records: SRV, MX, TXT, and CNAME chains ------------------------------------ */

/* The record types eva_dns_query_records asks for (their DNS type numbers). */
typedef enum eva_dns_type {
    EVA_DNS_CNAME = 5,  /* the alias chain: asks for the name's A records and
                         * reports the CNAMEs the answer walked through */
    EVA_DNS_MX = 15,
    EVA_DNS_TXT = 16,
    EVA_DNS_SRV = 33
} eva_dns_type;

/* One record.  The strings point into the same block as the record (see
 * eva_dns_records) and are NUL-terminated. */
/* eva_dns_record: 16 bytes on x86_64, all public (ABI: tests/test_struct_sizes.c). */
typedef struct eva_dns_record {
    union {
        struct { uint16_t priority, weight, port; const char *target; } srv;
        struct { uint16_t preference; const char *host; } mx;
        /* one TXT record: its character-strings joined (RFC 7208 3.3); text
         * may hold NUL bytes, len counts them */
        struct { const char *text; size_t len; } txt;
        /* hop i of the chain: the name the previous one (the name asked, for
         * i == 0) is an alias of; the last is the canonical name */
        struct { const char *name; } cname;
    } u;
} eva_dns_record;

/* A record query's answer: count >= 1 records of one type, in the order of
 * the reply (SRV and MX are not sorted: RFC 2782 and 5321 leave the choice
 * among equals to the client).  One allocation holding the records and their
 * strings; whoever receives it owns it and frees it with
 * eva_dns_records_free(), except the promise form's value, which belongs to
 * the promise. */
/* eva_dns_records: 16 bytes on x86_64, all public (ABI: tests/test_struct_sizes.c). */
struct eva_dns_records {
    eva_dns_type type;
    size_t count;
    eva_dns_record rec[];
};

/* Free an answer (NULL is fine).  Any thread. */
EVA_API void eva_dns_records_free(eva_dns_records *records);

/* Ask for name's records of type (ares_search: the search domains and ndots
 * apply, as for eva_dns_resolve; the hosts file does not), paced like every
 * lookup.  cb(q, status, records) runs once, later; q->data is set to data.
 * Completion errors: those at the top of this file, with EVA_EDNS_NOTFOUND
 * for NXDOMAIN and EVA_EDNS_NODATA for a name without such records (for
 * EVA_DNS_CNAME: a name that is not an alias).
 * Returns 0; -EINVAL (NULL loop, q, name or cb; another type);
 * EVA_EDNS_BADNAME; -EBUSY; -ENOMEM; -ECANCELED; a channel error. */
EVA_API int eva_dns_query_records(eva_loop *loop, eva_dns_query *q, const char *name, eva_dns_type type,
                                  eva_dns_records_fn cb, void *data);

/* ---- AWAIT forms --------------------------------------------------------------- */

/* AWAIT(f, eva_dns_resolve_op(&f->query, host, family, &f->addrs)): resolve,
 * then resume with 0 and *out set (the task owns the list: free it with
 * eva_dns_addrs_free), or fail with the error and its message (*out is left
 * untouched).  The query and the out pointer belong in the frame; host needs
 * to be valid only while the AWAIT starts.  The only allocations are the
 * per-query context and the result.  Cancelling the task completes the
 * AWAIT with -ECANCELED on a later iteration; other queries are unaffected.
 * Start errors: those of eva_dns_resolve (-EINVAL also for a NULL out). */
EVA_API eva_op eva_dns_resolve_op(eva_dns_query *q, const char *host, int family, eva_dns_addrs **out);

/* AWAIT(f, eva_dns_reverse_op(&f->query, sa, salen, f->host, sizeof f->host)):
 * the name goes into host[0..hostlen) (NUL-terminated; NI_MAXHOST bytes
 * always suffice); -ENAMETOOLONG if it does not fit.  Start errors: those of
 * eva_dns_reverse (-EINVAL also for a NULL host or hostlen 0). */
EVA_API eva_op eva_dns_reverse_op(eva_dns_query *q, const struct sockaddr *sa, socklen_t salen,
                                  char *host, size_t hostlen);

/* AWAIT(f, eva_dns_query_records_op(&f->query, name, EVA_DNS_SRV, &f->records)):
 * resume with 0 and *out set (the task owns it: eva_dns_records_free), or
 * fail with the error and its message (*out untouched).  name needs to be
 * valid only while the AWAIT starts.  Start errors: those of
 * eva_dns_query_records (-EINVAL also for a NULL out). */
EVA_API eva_op eva_dns_query_records_op(eva_dns_query *q, const char *name, eva_dns_type type,
                                        eva_dns_records **out);

/* ---- promise forms ------------------------------------------------------------- */

/* A promise fulfilled with the eva_dns_addrs * (owned by the promise: borrow
 * it with eva_promise_get_value(); it is freed with the promise) or rejected with
 * the error and its message.  eva_promise_cancel() cancels the query (the
 * promise rejects with -ECANCELED).  *out receives your reference.
 * Returns 0, the start errors of eva_dns_resolve, -EINVAL (NULL out),
 * -ENOMEM. */
EVA_API int eva_dns_resolve_promise(eva_loop *loop, const char *host, int family, eva_promise **out);

/* The promise form of eva_dns_reverse: the value is the name, a
 * NUL-terminated char * owned by the promise. */
EVA_API int eva_dns_reverse_promise(eva_loop *loop, const struct sockaddr *sa, socklen_t salen,
                                    eva_promise **out);

/* The promise form of eva_dns_query_records: the value is the
 * eva_dns_records * (owned by the promise: borrow it with
 * eva_promise_get_value()). */
EVA_API int eva_dns_query_records_promise(eva_loop *loop, const char *name, eva_dns_type type,
                                          eva_promise **out);

/* ---- configuration --------------------------------------------------------------- */

/* The pacing window when eva_dns_options.max_in_flight is 0: see there. */
#define EVA_DNS_DEFAULT_MAX_IN_FLIGHT 100

/* The cache.  eva_dns_resolve answers a name it resolved through a DNS
 * server before from the loop's cache, without a query, until the answer's
 * TTL runs out: the smallest TTL of the records it came from (the addresses
 * and any CNAME leading to them); each address's ttl then reads what is left
 * of it.  Negative answers (EVA_EDNS_NOTFOUND: NXDOMAIN, or no address of the
 * family) are kept for cache_negative_ttl seconds: RFC 2308 says the SOA's
 * MINIMUM, which c-ares 1.18 does not report, so a fixed time stands in.
 * Never cached: numeric names, and what c-ares answers without a query (the
 * hosts file, "localhost", ".onion"); answers with a TTL of 0; failures
 * (timeouts, SERVFAIL, REFUSED).  Keys are the name as given (without case)
 * and the family: AF_UNSPEC, AF_INET and AF_INET6 are cached apart.  At
 * capacity the least recently used entry makes room.  A cached answer still
 * completes from the loop, on a later iteration, never inside the call (and
 * is not paced: it sends nothing).  eva_dns_configure() empties it. */
#define EVA_DNS_DEFAULT_CACHE_SIZE 1024
#define EVA_DNS_DEFAULT_NEGATIVE_TTL 30 /* seconds */
#define EVA_DNS_CACHE_OFF (-1)

/* eva_dns_options: 40 bytes on x86_64, all public (ABI: tests/test_struct_sizes.c). */
typedef struct eva_dns_options {
    /* Servers as "host[:port][,host[:port]]...": "127.0.0.1:5353",
     * "192.0.2.53,2001:db8::53,[2001:db8::54]:5353" (numeric addresses; an
     * IPv6 one with a port goes in brackets; the port, 1..65535, serves UDP
     * and TCP; c-ares's ares_set_servers_ports_csv format).  NULL: the
     * system's (/etc/resolv.conf). */
    const char *servers;
    /* per try; 0: the system's (resolv.conf "options timeout:", capped at
     * 30 s, else 5000: as glibc reads it, see docs/dns.md) */
    int timeout_ms;
    int tries;      /* tries per server; 0: the system's ("attempts:", at most 5, else 2) */
    /* SO_RCVBUF of the resolver's sockets, in bytes; 0: room for a whole
     * window of replies (max_in_flight x 4 KiB, at least 208 KiB).  Every
     * lookup to a server shares one UDP socket: a burst of replies larger
     * than the buffer is dropped, and those lookups wait a whole timeout for
     * their retry.  The kernel caps it at net.core.rmem_max. */
    int recv_buffer;
    /* SO_SNDBUF, likewise; 0: as recv_buffer's default (wmem_max caps it). */
    int send_buffer;
    /* Pacing: the most lookups the loop has at c-ares at once; the others
     * wait, in start order, and go out as answers free their place.  0:
     * EVA_DNS_DEFAULT_MAX_IN_FLIGHT (100).  The server's socket buffer is the
     * limit nobody can tune from here: a burst larger than it is dropped by
     * the server, and each dropped query waits a timeout (seconds) for its
     * retry.  100 lookups (up to 200 queries with AF_UNSPEC) fit Linux's
     * default 208 KiB buffer with room to spare, and at 1 ms per reply they
     * still allow 100,000 lookups a second.  A lookup keeps its place through
     * its retries, so retries never add to the burst; a cancelled lookup
     * keeps it until c-ares gives up on it.  Raise it for a remote server
     * with a long round trip and a large buffer. */
    int max_in_flight;
    /* The address cache (eva_dns_resolve only; see EVA_DNS_DEFAULT_CACHE_SIZE):
     * the most answers kept, one per name and family; 0:
     * EVA_DNS_DEFAULT_CACHE_SIZE; EVA_DNS_CACHE_OFF: no cache. */
    int cache_size;
    /* Seconds a negative answer (NXDOMAIN, or no address of the family) is
     * kept; 0: EVA_DNS_DEFAULT_NEGATIVE_TTL; EVA_DNS_CACHE_OFF: not kept. */
    int cache_negative_ttl;
} eva_dns_options;

/* Replace the loop's resolver configuration: a new channel is made at once
 * with opts (NULL: the system's configuration), so a bad server list fails
 * here and the previous configuration stays.  Takes effect for queries
 * started afterwards; cancelled queries that c-ares was still carrying are
 * dropped with the old channel.  Nothing is kept of opts after the call.
 * Returns 0; -EINVAL (NULL loop, negative timeout_ms, tries or recv_buffer,
 * an empty or malformed server list); -EBUSY (queries are pending: c-ares
 * cannot change servers under them); -ENOMEM; -ECANCELED (the loop is being destroyed);
 * -EIO (c-ares could not initialise: the log hook has its message).
 *
 * With several servers c-ares 1.18 answers SERVFAIL, REFUSED or NOTIMP by
 * trying the next, and reports -ECONNREFUSED when every try met one; with a
 * single server evasync reports the server's answer itself
 * (ARES_FLAG_NOCHECKRESP): EVA_EDNS_SERVFAIL or EVA_EDNS_REFUSED. */
EVA_API int eva_dns_configure(eva_loop *loop, const eva_dns_options *opts);

#ifdef __cplusplus
}
#endif
#endif
