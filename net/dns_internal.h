/* net/dns_internal.h — what the DNS files share.
 *
 * dns_channel.c owns the loop's c-ares channel: the ev_io per c-ares socket,
 * the one timer, the list of completed contexts waiting to be delivered, and
 * the eva__layer that loop destroy cancels and closes.  dns.c owns the
 * queries: starting them, delivering their completions, cancelling them, and
 * the three styles.
 *
 * The life of a query: start allocates a context (the arg c-ares calls back
 * with) and attaches the caller's query to it.  c-ares calls back — inside
 * ares_process_fd or, for numeric and hosts-file answers, inside
 * ares_getaddrinfo itself — and the context is only queued (eva__dns_done);
 * it is delivered afterwards (eva__dns_drain), outside any c-ares call, so
 * user code never runs inside c-ares.  Cancelling detaches the query from its
 * context: c-ares's later callback for it then just frees the context.
 *
 * Pacing: at most dl->window contexts are in c-ares at once (dl->in_flight);
 * the others wait in dl->waiting, in start order, holding a copy of what to
 * ask, and are launched as c-ares's callbacks free slots.  A cancelled
 * waiting context is unqueued and freed at once; a cancelled one in c-ares
 * keeps its slot until c-ares is done with it (so its retries count too).
 *
 * Merging: a context given to c-ares (or waiting for a slot) leads a lookup,
 * entered in the table of lookups in flight (dns_cache.c) under its key: the
 * kind, the name (without case; for a reverse lookup the address as text),
 * and the family or record type.  A later start with the same key does not
 * ask again: its own context joins the lookup (lookup, join_node) and waits.
 * When c-ares answers, the lookup leaves the table and each waiter builds its
 * own result from the one answer (the leader first, then the joined ones in
 * start order), so each owns what it receives, and an allocation failure
 * fails only the waiter it hit.  A cancelled joined query leaves the lookup
 * (its context is freed at once); a cancelled leader stays in c-ares or in
 * the queue while others wait on it; a lookup nobody waits for any more
 * leaves the table (and the queue).
 */
#ifndef EVASYNC_DNS_INTERNAL_H
#define EVASYNC_DNS_INTERNAL_H

#include <sys/select.h> /* fd_set, which ares.h uses without including it */
#include <ares.h>

#include "internal.h"
#include "evasync/dns.h"

enum { EVA__DNS_RESOLVE = 1, EVA__DNS_REVERSE = 2, EVA__DNS_RECORDS = 3 };
enum { EVA__DNS_IDLE = 0, EVA__DNS_PENDING = 1, EVA__DNS_CANCELLING = 2 };

typedef struct eva__dns_loop eva__dns_loop;

/* What c-ares calls back with; outlives a cancelled query. */
typedef struct eva__dns_ctx {
    struct eva__dns_ctx *next_done; /* the loop's list of completions to deliver */
    eva__dns_loop *dl;
    eva_dns_query *q;               /* NULL once detached (cancelled) */
    int family;                     /* resolve: the family asked for */
    int status;                     /* evasync code, set by the c-ares callback */
    const char *message;
    eva_dns_addrs *addrs;           /* resolve result, until delivered */
    char *name;                     /* reverse result, until delivered */
    eva_dns_records *records;       /* records result, until delivered */
    eva_dns_type type;              /* records: the type asked for */
    eva_queue wait_node;            /* in dl->waiting while waiting for a slot */
    struct eva__dns_ctx *lookup;    /* joined: the lookup it waits on, until that is answered */
    eva_queue join_node;            /* joined: in lookup->joined */
    eva_queue joined;               /* a lookup's joined contexts, in start order */
    struct eva__dns_ctx *hash_next; /* in the table of lookups in flight */
    uint32_t hash;                  /* of its key, while in that table */
    bool indexed;                   /* in that table */
    bool waiting;
    bool asking;                    /* inside the ares_* call that started it */
    uint8_t kind;                   /* EVA__DNS_RESOLVE, _REVERSE or _RECORDS */
    union {                         /* reverse: the address asked about */
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } sa;
    socklen_t salen;
    char host[];                    /* resolve, records: the name asked for (a copy);
                                     * reverse: the address as text (the key) */
} eva__dns_ctx;

/* One watched c-ares socket. */
typedef struct eva__dns_sock {
    ev_io io;
    eva__dns_loop *dl;
    struct eva__dns_sock *next;
    int fd;
    bool active; /* started (and unreferenced) */
} eva__dns_sock;

/* The address cache (dns_cache.c). */
typedef struct eva__dns_cache {
    struct eva__dns_entry **buckets; /* nbuckets (a power of two), made on first use */
    size_t nbuckets;
    eva_queue lru;                   /* every entry, the least recently used first */
    size_t count;
    size_t capacity;                 /* 0: the cache is off */
    int negative_ttl;                /* seconds; 0: negative answers are not kept */
    uint64_t hits, misses, evictions, expired;
    /* the lookups in flight, by key (see "Merging"), made on first use;
     * empty whenever no query is pending */
    struct eva__dns_ctx **flights;
    size_t nflight_buckets;          /* a power of two */
    size_t nflights;
    uint64_t merged;                 /* starts that joined a lookup in flight */
} eva__dns_cache;

struct eva__dns_loop {
    eva__layer layer; /* first: see EVA__LAYER_FIRST */
    eva_loop *loop;
    ares_channel channel;          /* NULL until first use or eva_dns_configure */
    double first_try;              /* the channel's per-try timeout, seconds (0: unknown) */
    eva__dns_sock *socks;
    ev_timer timer;                /* c-ares's next timeout, re-armed after every call */
    double timer_at;               /* when it fires (ev_now clock) */
    bool timer_active;
    eva_queue pending_list;        /* queries started and not yet completed */
    eva_queue waiting;             /* contexts waiting for a slot, oldest first */
    int queued;                    /* their number */
    int in_flight;                 /* contexts given to c-ares and not yet called back */
    int window;                    /* the most in_flight may reach */
    int pending;                   /* their number: 0 -> 1 refs the loop, 1 -> 0 unrefs it */
    eva__dns_ctx *done_head, *done_tail;
    eva_call drain_call;           /* a deferred eva__dns_drain */
    bool drain_queued;
    bool processing;               /* inside ares_process_fd: it drains on return */
    int in_ares;                   /* depth of c-ares calls on the stack */
    bool closing;                  /* the loop is being destroyed */
    eva__dns_cache cache;
};

/* dns_channel.c ------------------------------------------------------------------ */

/* The loop's DNS state, created on first use; NULL when out of memory. */
eva__dns_loop *eva__dns_loop_get(eva_loop *loop);

/* The loop's DNS state if it has been created, else NULL. */
eva__dns_loop *eva__dns_loop_find(const eva_loop *loop);

/* The loop's channel, made with the system's configuration if there is none
 * yet.  0 or a negative code. */
int eva__dns_channel(eva__dns_loop *dl);

/* Re-arm the timer if c-ares may now need it earlier than it is set. */
void eva__dns_timer_touch(eva__dns_loop *dl);

/* A c-ares callback finished ctx: queue it for delivery. */
void eva__dns_done(eva__dns_loop *dl, eva__dns_ctx *ctx);

/* Give ctx to c-ares now if a slot is free and nobody waits, else queue it. */
void eva__dns_submit(eva__dns_loop *dl, eva__dns_ctx *ctx);

/* Launch waiting contexts while slots are free (outside c-ares callbacks). */
void eva__dns_pump(eva__dns_loop *dl);

/* A c-ares callback for a launched context: its slot is free again. */
void eva__dns_release(eva__dns_loop *dl);

/* Take a cancelled waiting context off the queue and free it. */
void eva__dns_unqueue(eva__dns_ctx *ctx);

/* Map a c-ares status to an evasync code and a static message. */
int eva__dns_status(int ares_status, const char **message);

/* dns.c -------------------------------------------------------------------------- */

/* Deliver a queued completion (to its query, if still attached) and free it. */
void eva__dns_deliver(eva__dns_ctx *ctx);

/* Hand ctx's request to c-ares (ares_getaddrinfo, ares_getnameinfo,
 * ares_search): its callback may run inside this call (hosts file). */
void eva__dns_ask(eva__dns_loop *dl, eva__dns_ctx *ctx);

/* dns_cache.c -------------------------------------------------------------------- */

/* Added to eva_now() by the cache's clock: tests age entries without waiting. */
extern int64_t eva__dns_clock_skew_ms;

/* Empty the cache and take its size and negative TTL from opts (NULL: the
 * defaults).  Also initialises a zeroed cache. */
void eva__dns_cache_configure(eva__dns_cache *cache, const eva_dns_options *opts);

/* Free every entry, and the table of lookups in flight (empty: this runs
 * only with no query pending).  The cache stays usable. */
void eva__dns_cache_flush(eva__dns_cache *cache);

/* If the cache holds a live answer for (name, family), put it in c (status,
 * message, and a copy of the addresses the context owns) and return true;
 * else count a miss and return false. */
bool eva__dns_cache_answer(eva__dns_loop *dl, const char *name, int family, eva__dns_ctx *c);

/* Keep a copy of a DNS server's answer for ttl seconds (nothing for 0). */
void eva__dns_cache_positive(eva__dns_loop *dl, const char *name, int family, const eva_dns_addrs *addrs,
                             int ttl);

/* Keep a negative answer (EVA_EDNS_NOTFOUND) for the negative TTL. */
void eva__dns_cache_negative(eva__dns_loop *dl, const char *name, int family, int status, const char *message);

/* The lookup in flight with c's key (kind, name, family or type), or NULL. */
eva__dns_ctx *eva__dns_flight_find(eva__dns_loop *dl, const eva__dns_ctx *c);

/* Enter c in the table of lookups in flight (not when out of memory: later
 * identical starts then ask on their own). */
void eva__dns_flight_add(eva__dns_loop *dl, eva__dns_ctx *c);

/* Take c out of that table (nothing if it is not in it). */
void eva__dns_flight_remove(eva__dns_loop *dl, eva__dns_ctx *c);

/* The options c-ares's channel for loop runs with (ares_save_options; the
 * caller frees them with ares_destroy_options).  For the tests. */
int eva__dns_channel_options(eva_loop *loop, struct ares_options *out, int *mask);

/* dns_records.c ------------------------------------------------------------------ */

/* Parse a reply to a query of type into *out (one allocation, the caller's).
 * ARES_SUCCESS, ARES_ENODATA (no such record; for CNAME: not an alias),
 * ARES_EBADRESP, ARES_ENOMEM. */
int eva__dns_parse_records(eva_dns_type type, const unsigned char *abuf, int alen, eva_dns_records **out);

#endif
