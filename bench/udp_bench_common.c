/* bench/udp_bench_common.c — see udp_bench.h. */
#include "udp_bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

udp_bench_args udp_bench_parse(int argc, char **argv, const char *name) {
    udp_bench_args a = {.port = 18400, .secs = 2, .rcvbuf = 4 << 20};
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0)
            a.port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--secs") == 0)
            a.secs = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--rcvbuf") == 0)
            a.rcvbuf = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "%s: unknown argument %s\n", name, argv[i]);
            exit(2);
        }
    }
    if (a.port <= 0 || a.secs <= 0) {
        fprintf(stderr, "usage: %s [--port P] [--secs S] [--rcvbuf BYTES]\n", name);
        exit(2);
    }
    return a;
}

void udp_bench_report(const char *impl, const udp_bench_meter *m, const char *extra) {
    double wall = (double)(bench_mono_ns() - m->wall0_ns) / 1e9;
    double cpu = (double)(bench_cpu_ns() - m->cpu0_ns);
    double n = m->datagrams ? (double)m->datagrams : 1;
    printf("impl=%s datagrams=%llu datagrams_s=%.0f cpu_ns_dgram=%.1f checksum=%llu %s\n", impl,
           (unsigned long long)m->datagrams, (double)m->datagrams / wall, cpu / n,
           (unsigned long long)m->checksum, extra ? extra : "");
    fflush(stdout);
}
