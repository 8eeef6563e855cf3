/* loop/histogram.c — log-linear buckets: values below 16 are exact, above
 * that each power of two [2^e, 2^(e+1)) is split into 8 equal buckets. */
#include <stdatomic.h>

#include "histogram.h"

static unsigned bucket_of(uint64_t v) {
    if (v < 16)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* 2^e <= v, e >= 4 */
    unsigned sub = (unsigned)(v >> (e - 3)) & 7u;
    return 16 + (e - 4) * 8 + sub;
}

/* The upper edge of a bucket: reporting it never understates a latency. */
static uint64_t bucket_top(unsigned b) {
    if (b < 16)
        return b;
    unsigned e = (b - 16) / 8 + 4, sub = (b - 16) % 8;
    return ((uint64_t)(8 + sub + 1) << (e - 3)) - 1;
}

void eva__hist_add(eva__hist *h, uint64_t value) {
    h->buckets[bucket_of(value)]++;
    h->count++;
    if (value > h->max)
        h->max = value;
}

uint64_t eva__hist_percentile(const eva__hist *h, double q) {
    if (h->count == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->count);
    if (rank >= h->count)
        rank = h->count - 1;
    uint64_t seen = 0;
    for (unsigned b = 0; b < EVA__HIST_BUCKETS; b++) {
        seen += h->buckets[b];
        if (seen > rank) {
            uint64_t top = bucket_top(b);
            return top < h->max ? top : h->max;
        }
    }
    return h->max;
}

/* One writer: plain relaxed loads and stores, no read-modify-write (and so
 * no locked instruction) on the worker's hot path. */
static void bump(_Atomic uint64_t *x, uint64_t by) {
    atomic_store_explicit(x, atomic_load_explicit(x, memory_order_relaxed) + by, memory_order_relaxed);
}

void eva__ahist_add(eva__ahist *h, uint64_t value) {
    bump(&h->buckets[bucket_of(value)], 1);
    bump(&h->count, 1);
    if (value > atomic_load_explicit(&h->max, memory_order_relaxed))
        atomic_store_explicit(&h->max, value, memory_order_relaxed);
}

void eva__ahist_merge(eva__hist *dst, const eva__ahist *src) {
    for (unsigned b = 0; b < EVA__HIST_BUCKETS; b++)
        dst->buckets[b] += atomic_load_explicit(&src->buckets[b], memory_order_relaxed);
    dst->count += atomic_load_explicit(&src->count, memory_order_relaxed);
    uint64_t max = atomic_load_explicit(&src->max, memory_order_relaxed);
    if (max > dst->max)
        dst->max = max;
}
