/* bench/udp_bench.h — what the UDP receivers (evasync's bench/udp_bench.c
 * and libuv's bench/udp_libuv.c) share, so both do the same job and report
 * it the same way: arguments, the per-datagram work, and the result line. */
#ifndef EVA_BENCH_UDP_H
#define EVA_BENCH_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench_util.h"

typedef struct udp_bench_args {
    int port;         /* --port: 127.0.0.1:port */
    double secs;      /* --secs: measured from the first datagram */
    int rcvbuf;       /* --rcvbuf: SO_RCVBUF bytes */
} udp_bench_args;

/* Parse argv (exits 2 on a bad argument). */
udp_bench_args udp_bench_parse(int argc, char **argv, const char *name);

/* The measurement: started at the first datagram, each one counted and its
 * bytes summed (so neither receiver can skip touching the data). */
typedef struct udp_bench_meter {
    uint64_t datagrams, bytes, checksum;
    uint64_t wall0_ns, cpu0_ns;
} udp_bench_meter;

/* Count one datagram; true for the first (the clocks start: arm the end). */
static inline bool udp_bench_count(udp_bench_meter *m, const void *data, size_t len) {
    bool first = m->datagrams == 0;
    if (first) {
        m->wall0_ns = bench_mono_ns();
        m->cpu0_ns = bench_cpu_ns();
    }
    m->datagrams++;
    m->bytes += len;
    if (len)
        m->checksum += ((const unsigned char *)data)[len - 1];
    return first;
}

/* Print "impl=NAME datagrams=N datagrams_s=V cpu_ns_dgram=V ..." (extra is
 * appended as is). */
void udp_bench_report(const char *impl, const udp_bench_meter *m, const char *extra);

#endif
