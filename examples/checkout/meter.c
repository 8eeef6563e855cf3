/* examples/checkout/meter.c — a counting allocator (eva_set_allocator):
 * how many allocations a style makes per request and how many bytes each
 * in-flight request holds.  Each block carries its size in a header, so
 * frees can be counted too.  Thread-safe: the pool's workers allocate. */
#include <stdlib.h>
#include <string.h>

#include "svc.h"

typedef union header {
    size_t size;
    max_align_t align; /* keep the caller's block aligned */
} header;

static uint64_t allocs;
static int64_t live, peak;

static void add_live(int64_t delta) {
    int64_t now = __atomic_add_fetch(&live, delta, __ATOMIC_RELAXED) ;
    int64_t seen = __atomic_load_n(&peak, __ATOMIC_RELAXED);
    while (now > seen && !__atomic_compare_exchange_n(&peak, &seen, now, true, __ATOMIC_RELAXED,
                                                      __ATOMIC_RELAXED))
        ;
}

static void *meter_realloc(void *ud, void *ptr, size_t size) {
    (void)ud;
    header *h = ptr ? (header *)ptr - 1 : NULL;
    size_t old = h ? h->size : 0;
    if (size == 0) {
        add_live(-(int64_t)old);
        free(h);
        return NULL;
    }
    header *n = realloc(h, sizeof *n + size);
    if (!n)
        return NULL;
    if (!h)
        __atomic_fetch_add(&allocs, 1, __ATOMIC_RELAXED);
    n->size = size;
    add_live((int64_t)size - (int64_t)old);
    return n + 1;
}

void meter_install(void) { eva_set_allocator(meter_realloc, NULL); }

void *meter_calloc(size_t n, size_t size) {
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = meter_realloc(NULL, NULL, n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void meter_free(void *p) { meter_realloc(NULL, p, 0); }

void meter_get(meter_stats *out) {
    out->allocs = __atomic_load_n(&allocs, __ATOMIC_RELAXED);
    out->live = __atomic_load_n(&live, __ATOMIC_RELAXED);
    out->peak = __atomic_load_n(&peak, __ATOMIC_RELAXED);
}

void meter_reset_peak(void) { __atomic_store_n(&peak, __atomic_load_n(&live, __ATOMIC_RELAXED), __ATOMIC_RELAXED); }
