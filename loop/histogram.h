/* loop/histogram.h — a fixed-size latency histogram (log-linear buckets:
 * powers of two split in 8, so any percentile is within 12.5 %). */
#ifndef EVASYNC_HISTOGRAM_H
#define EVASYNC_HISTOGRAM_H

#include <stdint.h>

#define EVA__HIST_BUCKETS (16 + 60 * 8)

typedef struct eva__hist {
    uint64_t count;
    uint64_t max;
    uint64_t buckets[EVA__HIST_BUCKETS];
} eva__hist;

void eva__hist_add(eva__hist *h, uint64_t value);

/* The same for one writer thread while others may read it (the pool's
 * per-worker statistics): relaxed atomic loads and stores, no locking. */
typedef struct eva__ahist {
    _Atomic uint64_t count;
    _Atomic uint64_t max;
    _Atomic uint64_t buckets[EVA__HIST_BUCKETS];
} eva__ahist;

void eva__ahist_add(eva__ahist *h, uint64_t value);

/* Add a snapshot of src into dst. */
void eva__ahist_merge(eva__hist *dst, const eva__ahist *src);

/* The value below which a fraction q (0..1) of the samples fall; 0 if empty. */
uint64_t eva__hist_percentile(const eva__hist *h, double q);

#endif
