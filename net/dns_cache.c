/* net/dns_cache.c — the loop's cache of address lookups.
 *
 * A resolve that reached a DNS server leaves its answer here, keyed by the
 * name as asked (case-insensitively) and the family: positive answers for
 * the smallest TTL of the records they came from (the addresses and the
 * CNAMEs leading to them), NXDOMAIN and "no address of that family" for
 * dl->cache.negative_ttl seconds.  c-ares 1.18's ares_getaddrinfo keeps the
 * reply's SOA to itself, so RFC 2308's negative TTL (the SOA's MINIMUM) is
 * not known here: a fixed one stands in for it.
 *
 * Answers c-ares gives without a query (the hosts file, "localhost",
 * ".onion") and numeric names never get here, so editing /etc/hosts takes
 * effect at once.  The cache is bounded: at capacity the least recently
 * used entry makes room.  Expired entries are dropped when they are next
 * looked up, or evicted.  Time is the loop's (eva_now).
 *
 * The table of lookups in flight lives here too, under the same key (the
 * name without case, the family; and the kind, and the record type), so the
 * merge and the cache agree on what "the same lookup" is: a start joins a
 * lookup in flight before the cache is asked, and counts as neither a hit
 * nor a miss.  The two never hold one key at once: a lookup is entered only
 * after the cache missed, and leaves the table when its answer, the one the
 * cache keeps, arrives.
 */
#include <errno.h>
#include <stdalign.h>
#include <string.h>
#include <strings.h>

#include "dns_internal.h"

int64_t eva__dns_clock_skew_ms;

typedef struct eva__dns_entry {
    struct eva__dns_entry *hash_next;
    eva_queue lru_node;          /* in cache->lru: the least recently used first */
    uint64_t stored_ms;          /* when the answer arrived (the cache clock) */
    uint64_t expires_ms;         /* served until then, exclusive */
    uint32_t hash;
    int family;
    int status;                  /* 0, or the negative answer's code */
    const char *message;         /* static storage */
    eva_dns_addrs *addrs;        /* status 0: the answer, in this same block */
    char name[];
} eva__dns_entry;

static uint64_t cache_now(const eva__dns_loop *dl) {
    return eva_now(dl->loop) + (uint64_t)eva__dns_clock_skew_ms;
}

/* FNV-1a over the lower-cased name, then the family. */
static uint32_t key_hash(const char *name, int family) {
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        unsigned char ch = *p >= 'A' && *p <= 'Z' ? (unsigned char)(*p + 32) : *p;
        h = (h ^ ch) * 16777619u;
    }
    return (h ^ (uint32_t)family) * 16777619u;
}

static eva__dns_entry **bucket(eva__dns_cache *cache, uint32_t hash) {
    return &cache->buckets[hash & (cache->nbuckets - 1)];
}

static void entry_unlink(eva__dns_cache *cache, eva__dns_entry *e) {
    eva__dns_entry **link = bucket(cache, e->hash);
    while (*link != e)
        link = &(*link)->hash_next;
    *link = e->hash_next;
    eva__queue_remove(&e->lru_node);
    cache->count--;
    eva__free(e);
}

static eva__dns_entry *entry_find(eva__dns_cache *cache, const char *name, int family, uint32_t hash) {
    if (!cache->buckets)
        return NULL;
    for (eva__dns_entry *e = *bucket(cache, hash); e; e = e->hash_next)
        if (e->hash == hash && e->family == family && strcasecmp(e->name, name) == 0)
            return e;
    return NULL;
}

void eva__dns_cache_flush(eva__dns_cache *cache) {
    eva_queue *n;
    while ((n = eva__queue_first(&cache->lru)))
        entry_unlink(cache, EVA__QUEUE_DATA(n, eva__dns_entry, lru_node));
    eva__free(cache->buckets);
    cache->buckets = NULL;
    cache->nbuckets = 0;
    eva__free(cache->flights);
    cache->flights = NULL;
    cache->nflight_buckets = 0;
}

void eva__dns_cache_configure(eva__dns_cache *cache, const eva_dns_options *opts) {
    if (!cache->lru.next)
        eva__queue_init(&cache->lru);
    eva__dns_cache_flush(cache);
    int size = opts ? opts->cache_size : 0;
    int negative = opts ? opts->cache_negative_ttl : 0;
    cache->capacity = size == EVA_DNS_CACHE_OFF ? 0 : size > 0 ? (size_t)size : EVA_DNS_DEFAULT_CACHE_SIZE;
    cache->negative_ttl = negative == EVA_DNS_CACHE_OFF ? 0 : negative > 0 ? negative : EVA_DNS_DEFAULT_NEGATIVE_TTL;
}

/* A copy of the entry's answer, with each TTL lowered by the time it spent
 * here (as a caching server's would be).  NULL when out of memory. */
static eva_dns_addrs *answer_copy(const eva__dns_entry *e, uint64_t now) {
    size_t size = sizeof *e->addrs + e->addrs->count * sizeof e->addrs->addr[0];
    eva_dns_addrs *a = eva__alloc(size);
    if (!a)
        return NULL;
    memcpy(a, e->addrs, size);
    int aged = (int)((now - e->stored_ms) / 1000);
    for (size_t i = 0; i < a->count; i++)
        a->addr[i].ttl = a->addr[i].ttl > aged ? a->addr[i].ttl - aged : 0;
    return a;
}

bool eva__dns_cache_answer(eva__dns_loop *dl, const char *name, int family, eva__dns_ctx *c) {
    eva__dns_cache *cache = &dl->cache;
    if (cache->capacity == 0)
        return false;
    uint32_t hash = key_hash(name, family);
    eva__dns_entry *e = entry_find(cache, name, family, hash);
    uint64_t now = cache_now(dl);
    if (e && (now >= e->expires_ms || now < e->stored_ms)) { /* eva_now is wall-clock: it may step back */
        entry_unlink(cache, e);
        cache->expired++;
        e = NULL;
    }
    if (e && e->status == 0 && !(c->addrs = answer_copy(e, now)))
        e = NULL; /* no memory for the copy: ask the network, which may fare no better */
    if (!e) {
        cache->misses++;
        return false;
    }
    c->status = e->status;
    c->message = e->message;
    eva__queue_remove(&e->lru_node); /* now the most recently used */
    eva__queue_insert_tail(&cache->lru, &e->lru_node);
    cache->hits++;
    return true;
}

/* The bucket array, made on first use: a power of two near the capacity
 * (at most 64 Ki buckets: beyond that chains grow a little instead). */
static bool buckets_ready(eva__dns_cache *cache) {
    if (cache->buckets)
        return true;
    size_t n = 16;
    while (n < cache->capacity && n < 65536)
        n *= 2;
    cache->buckets = eva__calloc(n, sizeof *cache->buckets);
    if (!cache->buckets)
        return false;
    cache->nbuckets = n;
    return true;
}

/* One block: the entry, its name, then (aligned) its answer. */
static eva__dns_entry *entry_new(const char *name, const eva_dns_addrs *addrs) {
    size_t namelen = strlen(name);
    size_t answer_at = (sizeof(eva__dns_entry) + namelen + 1 + alignof(eva_dns_addrs) - 1) &
                       ~(alignof(eva_dns_addrs) - 1);
    size_t answer_size = addrs ? sizeof *addrs + addrs->count * sizeof addrs->addr[0] : 0;
    eva__dns_entry *e = eva__alloc(answer_at + answer_size);
    if (!e)
        return NULL;
    memset(e, 0, sizeof *e);
    memcpy(e->name, name, namelen + 1);
    if (addrs) {
        e->addrs = (eva_dns_addrs *)((char *)e + answer_at);
        memcpy(e->addrs, addrs, answer_size);
    }
    return e;
}

static void cache_put(eva__dns_loop *dl, const char *name, int family, int status, const char *message,
                      const eva_dns_addrs *addrs, int ttl) {
    eva__dns_cache *cache = &dl->cache;
    if (cache->capacity == 0 || ttl <= 0 || !buckets_ready(cache))
        return;
    uint32_t hash = key_hash(name, family);
    eva__dns_entry *old = entry_find(cache, name, family, hash);
    if (old) /* two lookups of one name were in flight: the later answer wins */
        entry_unlink(cache, old);
    eva__dns_entry *e = entry_new(name, addrs);
    if (!e)
        return; /* not cached: the next lookup asks again */
    if (cache->count >= cache->capacity) {
        entry_unlink(cache, EVA__QUEUE_DATA(eva__queue_first(&cache->lru), eva__dns_entry, lru_node));
        cache->evictions++;
    }
    e->hash = hash;
    e->family = family;
    e->status = status;
    e->message = message;
    e->stored_ms = cache_now(dl);
    e->expires_ms = e->stored_ms + (uint64_t)ttl * 1000;
    eva__dns_entry **link = bucket(cache, hash);
    e->hash_next = *link;
    *link = e;
    eva__queue_insert_tail(&cache->lru, &e->lru_node);
    cache->count++;
}

void eva__dns_cache_positive(eva__dns_loop *dl, const char *name, int family, const eva_dns_addrs *addrs,
                             int ttl) {
    cache_put(dl, name, family, 0, "success", addrs, ttl);
}

void eva__dns_cache_negative(eva__dns_loop *dl, const char *name, int family, int status, const char *message) {
    cache_put(dl, name, family, status, message, NULL, dl->cache.negative_ttl);
}

/* ---- the lookups in flight ------------------------------------------------------------ */

/* The family (resolve, reverse) or the record type: the kinds' own numbers
 * are small and told apart by the low bits. */
static uint32_t flight_hash(const eva__dns_ctx *c) {
    int sub = c->kind == EVA__DNS_RECORDS ? (int)c->type : c->family;
    return key_hash(c->host, sub * 4 + c->kind);
}

static bool same_key(const eva__dns_ctx *a, const eva__dns_ctx *b) {
    return a->kind == b->kind && a->family == b->family && a->type == b->type && strcasecmp(a->host, b->host) == 0;
}

eva__dns_ctx *eva__dns_flight_find(eva__dns_loop *dl, const eva__dns_ctx *c) {
    eva__dns_cache *cache = &dl->cache;
    if (cache->nflights == 0)
        return NULL;
    uint32_t hash = flight_hash(c);
    for (eva__dns_ctx *f = cache->flights[hash & (cache->nflight_buckets - 1)]; f; f = f->hash_next)
        if (f->hash == hash && same_key(f, c))
            return f;
    return NULL;
}

/* Room for one more lookup at a load of at most one per bucket; a table that
 * cannot grow keeps its size (longer chains, still correct). */
static bool flights_ready(eva__dns_cache *cache) {
    if (cache->flights && cache->nflights < cache->nflight_buckets)
        return true;
    size_t n = cache->flights ? cache->nflight_buckets * 2 : 16;
    eva__dns_ctx **table = eva__calloc(n, sizeof *table);
    if (!table)
        return cache->flights != NULL;
    for (size_t i = 0; i < cache->nflight_buckets; i++) {
        eva__dns_ctx *f = cache->flights[i];
        while (f) {
            eva__dns_ctx *next = f->hash_next;
            f->hash_next = table[f->hash & (n - 1)];
            table[f->hash & (n - 1)] = f;
            f = next;
        }
    }
    eva__free(cache->flights);
    cache->flights = table;
    cache->nflight_buckets = n;
    return true;
}

void eva__dns_flight_add(eva__dns_loop *dl, eva__dns_ctx *c) {
    eva__dns_cache *cache = &dl->cache;
    if (!flights_ready(cache))
        return;
    c->hash = flight_hash(c);
    eva__dns_ctx **link = &cache->flights[c->hash & (cache->nflight_buckets - 1)];
    c->hash_next = *link;
    *link = c;
    c->indexed = true;
    cache->nflights++;
}

void eva__dns_flight_remove(eva__dns_loop *dl, eva__dns_ctx *c) {
    if (!c->indexed)
        return;
    eva__dns_cache *cache = &dl->cache;
    eva__dns_ctx **link = &cache->flights[c->hash & (cache->nflight_buckets - 1)];
    while (*link != c)
        link = &(*link)->hash_next;
    *link = c->hash_next;
    c->indexed = false;
    cache->nflights--;
}

int eva_dns_get_stats(const eva_loop *loop, eva_dns_stats *out) {
    if (!loop || !out)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    const eva__dns_loop *dl = eva__dns_loop_find(loop);
    if (!dl)
        return 0;
    out->cache_hits = dl->cache.hits;
    out->cache_misses = dl->cache.misses;
    out->cache_evictions = dl->cache.evictions;
    out->cache_expired = dl->cache.expired;
    out->cache_entries = dl->cache.count;
    out->merged = dl->cache.merged;
    return 0;
}
