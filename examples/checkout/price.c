/* examples/checkout/price.c — the CPU part of a request: a fixed number of
 * rounds of a hash, so the result is the same however long it takes. */
#include <time.h>

#include "checkout.h"

static uint64_t rounds = 1;

static uint64_t price(uint64_t x, uint64_t n) {
    for (uint64_t i = 0; i < n; i++)
        x = (x ^ (x >> 31)) * 0x9e3779b97f4a7c15u + i;
    return x;
}

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void price_calibrate(int cpu_ms) {
    uint64_t n = 1u << 16;
    double t0 = cpu_seconds();
    volatile uint64_t sink = price(1, n);
    (void)sink;
    double per_round = (cpu_seconds() - t0) / (double)n;
    rounds = per_round > 0 ? (uint64_t)(cpu_ms / 1e3 / per_round) : n;
    if (rounds == 0)
        rounds = 1;
}

void *price_work(void *arg) { /* on a pool worker */
    uint64_t *total = arg;
    *total = price(*total, rounds);
    return NULL;
}
