/* bench/bench_util.h — what several benchmarks need and no library user does. */
#ifndef EVA_BENCH_UTIL_H
#define EVA_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* A "<field>: N kB" line of /proc/self/status (e.g. "VmRSS", "VmHWM"), in
 * bytes; -1 if it cannot be read. */
long bench_proc_status_bytes(const char *field);

/* The process's CPU time (user + system), in nanoseconds. */
uint64_t bench_cpu_ns(void);

/* The monotonic clock, in nanoseconds (for peers that do not link evasync). */
uint64_t bench_mono_ns(void);

/* Sort n values in place, smallest first (for percentiles). */
void bench_sort_u64(uint64_t *v, size_t n);

#endif
