/* bench/dns_bench.c — N lookups of distinct names (default 10,000): evasync's
 * resolver (c-ares on the loop thread) against the libuv approach, blocking
 * getaddrinfo() on a 4-thread pool.  With --one-name: N lookups of one name
 * at once (a daemon's start-up), where evasync merges them into one query.
 *
 *   dns_bench --server 127.0.0.1:53 --delay-ms D [--lookups N] [--window W]
 *             [--recv-buffer BYTES] [--no-pool] [--label NAME] [--one-name]
 *
 * Method (bench/run-dns does all of it):
 *  - bench/dns_server (the tests' responder as a process) listens on
 *    127.0.0.1:53 and answers n<N>.bench.test with A 10.x.y.z after D ms.
 *  - glibc's getaddrinfo reads /etc/resolv.conf and talks to port 53 only, so
 *    this program runs in a private mount namespace (unshare --mount) where a
 *    resolv.conf saying "nameserver 127.0.0.1" is bind-mounted over
 *    /etc/resolv.conf.  Both sides then ask the same server, one query (A) per
 *    lookup, for names neither has asked before (no cache on either side),
 *    and both check every answer.
 *  - evasync: one loop, the callback primitive, W lookups started (default:
 *    all N), each completion starting the next; per-try timeout 2 s, 3 tries
 *    (the pool's resolv.conf).  run-dns's responder mode gives the sockets a
 *    4 MiB receive buffer (--recv-buffer); its dnsmasq mode runs the
 *    defaults.  pool4: an eva_pool of 4
 *    threads, each job one getaddrinfo(AF_INET) — libuv's default
 *    UV_THREADPOOL_SIZE and its uv_getaddrinfo, without libuv.  libuv4 (built
 *    with libuv, and DNS_BENCH_LIBUV=1 in the environment): uv_getaddrinfo
 *    itself on libuv's 4-thread pool.
 *  - The clock runs from the first start to the last completion.
 *
 * Without --window and --recv-buffer evasync runs with its default options:
 * all N started at once, its own pacing (eva_dns_options.max_in_flight) and
 * socket buffers.  --label names the server in the output (bench/run-dns:
 * responder, dnsmasq).
 *
 * Prints:
 *   dns_server=NAME dns_lookups=N delay_ms=D evasync_ms=V pool4_ms=V speedup=V
 *   evasync_errors=E pool4_errors=E [libuv4_ms=V libuv4_errors=E]
 *   dns_cache_lookups=100 lookup_ms=V dns_cache_hits=100000 hit_ns=V lookup_per_hit=V
 *   cache_hits_counted=H cache_errors=E
 * or, when the server's answers have TTL 0 and nothing was cached (dnsmasq
 * serving its hosts file), dns_cache_skipped=nothing_cached_ttl0 instead of
 * the hit round (100,000 "hits" would each be a lookup).
 * With --one-name, instead (every lookup asks for n0.bench.test; bench/run-dns
 * adds the server's own count of the queries both sides sent):
 *   dns_server=NAME dns_one_name_lookups=N delay_ms=D evasync_ms=V pool4_ms=V speedup=V
 *   evasync_lookups_sent=S evasync_merged=M evasync_errors=E pool4_errors=E
 * where evasync_lookups_sent is the lookups that went to the server (its
 * cache misses: one A query each) and evasync_merged those that joined one.
 * speedup = pool4_ms / evasync_ms.  The cache line: 100 names resolved one
 * after another (each a query: lookup_ms is one lookup's latency), then
 * 100,000 lookups of the same names one after another, each a cache hit
 * completing on the next loop iteration (hit_ns per hit, the iteration
 * included); names from 3,000,000 (bench/run-dns's zone has them).
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dns_responder.h"
#include "evasync.h"

#ifdef EVA_BENCH_LIBUV
#include <uv.h>
#endif

static void name_of(unsigned long n, char *buf, size_t len) {
    snprintf(buf, len, "n%lu.bench.test", n);
}

static int check(const struct sockaddr *sa, unsigned long n) {
    if (sa->sa_family != AF_INET)
        return 0;
    return ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr) == dns_synthetic_ipv4(n);
}

/* ---- evasync: the callback primitive, W in flight --------------------------------- */

typedef struct eva_side {
    eva_loop *loop;
    eva_dns_query *slots;
    unsigned long *which; /* the name number each slot resolves */
    unsigned long base, next, end, done, errors;
    unsigned long stride; /* 1: distinct names from base; 0: base's name every time */
    int first_error;
} eva_side;

static void eva_start(eva_side *s, size_t slot);

static void on_resolved(eva_dns_query *q, int status, eva_dns_addrs *addrs) {
    eva_side *s = q->data;
    size_t slot = (size_t)(q - s->slots);
    if (status != 0 || addrs->count != 1 || !check(&addrs->addr[0].addr.sa, s->which[slot])) {
        if (!s->first_error)
            s->first_error = status ? status : -1;
        s->errors++;
    }
    eva_dns_addrs_free(addrs);
    s->done++;
    if (s->next < s->end)
        eva_start(s, slot); /* a query may be restarted from its own callback */
}

static void eva_start(eva_side *s, size_t slot) {
    char name[64];
    s->which[slot] = s->base + s->stride * (s->next++ - s->base);
    name_of(s->which[slot], name, sizeof name);
    int rc = eva_dns_resolve(s->loop, &s->slots[slot], name, AF_INET, on_resolved, s);
    if (rc < 0) {
        fprintf(stderr, "dns_bench: resolve: %s\n", eva_strerror(rc));
        exit(1);
    }
}

static double run_evasync(const char *server, unsigned long base, unsigned long stride, unsigned long n,
                          size_t window, int recv_buffer, unsigned long *errors, eva_dns_stats *stats) {
    eva_side s = {.base = base, .next = base, .end = base + n, .stride = stride};
    if (eva_loop_new(&s.loop) < 0)
        exit(1);
    eva_dns_options opts = {.servers = server, .timeout_ms = 2000, .tries = 3, .recv_buffer = recv_buffer};
    int rc = eva_dns_configure(s.loop, &opts);
    if (rc < 0) {
        fprintf(stderr, "dns_bench: configure %s: %s\n", server, eva_strerror(rc));
        exit(1);
    }
    if (window == 0 || window > n)
        window = n;
    s.slots = calloc(window, sizeof *s.slots);
    s.which = calloc(window, sizeof *s.which);
    if (!s.slots || !s.which)
        exit(1);
    uint64_t t0 = eva_hrtime();
    for (size_t i = 0; i < window; i++)
        eva_start(&s, i);
    eva_loop_run(s.loop, EVA_RUN_DEFAULT); /* until the last query completed */
    uint64_t t1 = eva_hrtime();
    if (s.done != n) {
        fprintf(stderr, "dns_bench: evasync completed %lu of %lu\n", s.done, n);
        exit(1);
    }
    if (s.errors)
        fprintf(stderr, "dns_bench: evasync: %lu errors, first: %s\n", s.errors, eva_strerror(s.first_error));
    eva_dns_get_stats(s.loop, stats);
    eva_loop_destroy(s.loop);
    free(s.slots);
    free(s.which);
    *errors = s.errors;
    return (double)(t1 - t0) / 1e6;
}

/* ---- the cache: a hit against a lookup ------------------------------------------------ */

/* One lookup at a time on one loop, each completion starting the next:
 * total lookups cycling through `names` names from base. */
typedef struct cache_side {
    eva_loop *loop;
    eva_dns_query q;
    unsigned long base, names, started, total, errors;
} cache_side;

static void cache_next(cache_side *s);

static void on_cache_resolved(eva_dns_query *q, int status, eva_dns_addrs *addrs) {
    cache_side *s = q->data;
    if (status != 0 || addrs->count != 1 ||
        !check(&addrs->addr[0].addr.sa, s->base + (s->started - 1) % s->names))
        s->errors++;
    eva_dns_addrs_free(addrs);
    if (s->started < s->total)
        cache_next(s);
}

static void cache_next(cache_side *s) {
    char name[64];
    name_of(s->base + s->started++ % s->names, name, sizeof name);
    if (eva_dns_resolve(s->loop, &s->q, name, AF_INET, on_cache_resolved, s) < 0)
        exit(1);
}

/* ns per lookup for total lookups of names names. */
static double cache_round(cache_side *s, unsigned long names, unsigned long total) {
    s->names = names;
    s->started = 0;
    s->total = total;
    uint64_t t0 = eva_hrtime();
    cache_next(s);
    eva_loop_run(s->loop, EVA_RUN_DEFAULT);
    return (double)(eva_hrtime() - t0) / (double)total;
}

/* names lookups of distinct names one after another (each a query: a miss),
 * then hits lookups of the same names (each answered by the cache). */
static void run_cache(const char *server, unsigned long base, unsigned long names, unsigned long hits) {
    cache_side s = {.base = base};
    if (eva_loop_new(&s.loop) < 0)
        exit(1);
    eva_dns_options opts = {.servers = server, .timeout_ms = 2000, .tries = 3};
    if (eva_dns_configure(s.loop, &opts) < 0)
        exit(1);
    double lookup_ns = cache_round(&s, names, names);
    eva_dns_stats st;
    eva_dns_get_stats(s.loop, &st);
    if (st.cache_entries == 0) { /* TTL-0 answers (dnsmasq's hosts entries): the "hits" would all be lookups */
        printf("dns_cache_lookups=%lu lookup_ms=%.3f dns_cache_skipped=nothing_cached_ttl0 cache_errors=%lu\n",
               names, lookup_ns / 1e6, s.errors);
        eva_loop_destroy(s.loop);
        return;
    }
    double hit_ns = cache_round(&s, names, hits);
    eva_dns_get_stats(s.loop, &st);
    printf("dns_cache_lookups=%lu lookup_ms=%.3f dns_cache_hits=%lu hit_ns=%.0f lookup_per_hit=%.0f "
           "cache_hits_counted=%llu cache_errors=%lu\n",
           names, lookup_ns / 1e6, hits, hit_ns, lookup_ns / hit_ns, (unsigned long long)st.cache_hits,
           s.errors);
    eva_loop_destroy(s.loop);
}

/* ---- pool4: blocking getaddrinfo on 4 threads --------------------------------------------- */

static unsigned long pool_done, pool_errors_seen;

static int blocking_lookup(unsigned long n) {
    char name[64];
    name_of(n, name, sizeof name);
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int ok = getaddrinfo(name, NULL, &hints, &res) == 0 && res && !res->ai_next && check(res->ai_addr, n);
    if (res)
        freeaddrinfo(res);
    return ok;
}

static void *pool_work(void *arg) { /* on a pool thread: blocks for the round trip */
    return blocking_lookup((unsigned long)(uintptr_t)arg) ? (void *)1 : NULL;
}

static void on_pool_done(void *arg, void *result, int status) { /* on the loop */
    (void)arg;
    pool_done++;
    if (status != 0 || result == NULL)
        pool_errors_seen++;
}

static double run_pool(unsigned long base, unsigned long stride, unsigned long n, unsigned long *errors) {
    eva_loop *loop;
    eva_pool *pool;
    eva_pool_options po = {.threads = 4, .queue_capacity = n};
    if (eva_loop_new(&loop) < 0 || eva_pool_new(&po, &pool) < 0)
        exit(1);
    uint64_t t0 = eva_hrtime();
    for (unsigned long i = 0; i < n; i++) {
        int rc = eva_pool_submit_alloc(pool, loop, pool_work, on_pool_done, (void *)(uintptr_t)(base + stride * i));
        if (rc < 0) {
            fprintf(stderr, "dns_bench: pool submit: %s\n", eva_strerror(rc));
            exit(1);
        }
    }
    eva_loop_run(loop, EVA_RUN_DEFAULT); /* until the last job's completion ran */
    uint64_t t1 = eva_hrtime();
    if (pool_done != n) {
        fprintf(stderr, "dns_bench: pool completed %lu of %lu\n", pool_done, n);
        exit(1);
    }
    eva_pool_destroy(pool);
    eva_loop_destroy(loop);
    *errors = pool_errors_seen;
    return (double)(t1 - t0) / 1e6;
}

#ifdef EVA_BENCH_LIBUV
/* ---- libuv4: uv_getaddrinfo on libuv's default 4-thread pool ------------------------------ */

typedef struct uv_lookup {
    uv_getaddrinfo_t req;
    unsigned long n;
} uv_lookup;

static unsigned long uv_done, uv_errors_seen;

static void on_uv_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
    uv_lookup *l = (uv_lookup *)req;
    uv_done++;
    if (status != 0 || !res || res->ai_next || !check(res->ai_addr, l->n))
        uv_errors_seen++;
    uv_freeaddrinfo(res);
}

static double run_libuv(unsigned long base, unsigned long n, unsigned long *errors) {
    uv_loop_t *loop = uv_default_loop();
    uv_lookup *ls = calloc(n, sizeof *ls);
    if (!ls)
        exit(1);
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    uint64_t t0 = eva_hrtime();
    for (unsigned long i = 0; i < n; i++) {
        char name[64];
        ls[i].n = base + i;
        name_of(ls[i].n, name, sizeof name);
        if (uv_getaddrinfo(loop, &ls[i].req, on_uv_resolved, name, NULL, &hints) != 0)
            exit(1);
    }
    uv_run(loop, UV_RUN_DEFAULT);
    uint64_t t1 = eva_hrtime();
    uv_loop_close(loop);
    free(ls);
    if (uv_done != n)
        exit(1);
    *errors = uv_errors_seen;
    return (double)(t1 - t0) / 1e6;
}
#endif

int main(int argc, char **argv) {
    const char *server = "127.0.0.1:53";
    unsigned long n = 10000;
    size_t window = 0;
    int delay = -1;
    int pool = 1;
    int recv_buffer = 0;
    const char *label = "responder";
    int one_name = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--server") == 0 && i + 1 < argc)
            server = argv[++i];
        else if (strcmp(argv[i], "--lookups") == 0 && i + 1 < argc)
            n = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--window") == 0 && i + 1 < argc)
            window = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--delay-ms") == 0 && i + 1 < argc)
            delay = atoi(argv[++i]);
        else if (strcmp(argv[i], "--recv-buffer") == 0 && i + 1 < argc)
            recv_buffer = atoi(argv[++i]);
        else if (strcmp(argv[i], "--no-pool") == 0)
            pool = 0;
        else if (strcmp(argv[i], "--label") == 0 && i + 1 < argc)
            label = argv[++i];
        else if (strcmp(argv[i], "--one-name") == 0)
            one_name = 1;
        else {
            fprintf(stderr,
                    "usage: %s --server HOST:PORT --delay-ms D [--lookups N] [--window W] [--recv-buffer B] "
                    "[--no-pool] [--label NAME] [--one-name]\n",
                    argv[0]);
            return 2;
        }
    }
    if (n == 0)
        return 2;
    unsigned long eva_errors = 0, pool_errors = 0;
    eva_dns_stats st;
    if (one_name) { /* both sides ask for n0.bench.test, which the zone has */
        double eva_ms = run_evasync(server, 0, 0, n, window, recv_buffer, &eva_errors, &st);
        double pool_ms = pool ? run_pool(0, 0, n, &pool_errors) : 0;
        printf("dns_server=%s dns_one_name_lookups=%lu delay_ms=%d evasync_ms=%.1f pool4_ms=%.1f speedup=%.1f\n",
               label, n, delay, eva_ms, pool_ms, pool ? pool_ms / eva_ms : 0.0);
        printf("evasync_lookups_sent=%llu evasync_merged=%llu evasync_errors=%lu pool4_errors=%lu\n",
               (unsigned long long)st.cache_misses, (unsigned long long)st.merged, eva_errors, pool_errors);
        return eva_errors || pool_errors ? 1 : 0;
    }
    double eva_ms = run_evasync(server, 0, 1, n, window, recv_buffer, &eva_errors, &st);
    double pool_ms = pool ? run_pool(1000000, 1, n, &pool_errors) : 0;
    printf("dns_server=%s dns_lookups=%lu delay_ms=%d evasync_ms=%.1f pool4_ms=%.1f speedup=%.1f\n", label, n,
           delay, eva_ms, pool_ms, pool ? pool_ms / eva_ms : 0.0);
    printf("evasync_errors=%lu pool4_errors=%lu", eva_errors, pool_errors);
    unsigned long uv_errors = 0;
#ifdef EVA_BENCH_LIBUV
    if (pool && getenv("DNS_BENCH_LIBUV")) {
        double uv_ms = run_libuv(2000000, n, &uv_errors);
        printf(" libuv4_ms=%.1f libuv4_errors=%lu", uv_ms, uv_errors);
    }
#endif
    printf("\n");
    run_cache(server, 3000000, 100, 100000);
    return eva_errors || pool_errors || uv_errors ? 1 : 0;
}
