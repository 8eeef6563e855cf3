/* bench/udp_bench.c — evasync's UDP receiver for bench/run-udp: bound to
 * 127.0.0.1:PORT, push mode (recvmmsg batches), counting the datagrams a
 * blaster process (bench/udp_blast.c) sends for --secs seconds from the
 * first one; then prints udp_bench_report's line (datagrams_s,
 * cpu_ns_dgram) plus the loop iterations per datagram.  The libuv peer,
 * bench/udp_libuv.c, does the same job. */
#include <stdio.h>
#include <stdlib.h>
#include <arpa/inet.h>

#include <evasync.h>

#include "udp_bench.h"

static udp_bench_meter meter;
static eva_timer end_timer;
static eva_loop *loop;
static eva_udp udp;
static double secs;
static uint64_t iterations0;

static uint64_t loop_iterations(void) {
    eva_loop_metrics m;
    eva_loop_get_metrics(loop, &m);
    return m.iterations;
}

static void on_end(eva_timer *t) {
    (void)t;
    char extra[64];
    double per = (double)(loop_iterations() - iterations0) / (double)(meter.datagrams ? meter.datagrams : 1);
    snprintf(extra, sizeof extra, "iterations_per_dgram=%.4f", per);
    udp_bench_report("evasync", &meter, extra);
    eva_udp_close(&udp, NULL);
}

static void on_datagram(eva_udp *u, int status, const void *data, size_t len, const struct sockaddr *from,
                        socklen_t fromlen) {
    (void)u;
    (void)from;
    (void)fromlen;
    if (status < 0 && status != -EMSGSIZE)
        return;
    if (udp_bench_count(&meter, data, len)) {
        iterations0 = loop_iterations();
        eva_timer_start(&end_timer, (int64_t)(secs * 1000), 0, on_end, NULL);
    }
}

static void check(int rc, const char *what) {
    if (rc < 0) {
        fprintf(stderr, "udp_bench: %s: %s\n", what, eva_strerror(rc));
        exit(1);
    }
}

int main(int argc, char **argv) {
    udp_bench_args a = udp_bench_parse(argc, argv, "udp_bench");
    secs = a.secs;
    check(eva_loop_new(&loop), "loop");
    check(eva_timer_init(loop, &end_timer), "timer");
    check(eva_udp_open(loop, &udp, AF_INET), "open");
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)a.port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    check(eva_udp_bind(&udp, (struct sockaddr *)&addr, sizeof addr, EVA_UDP_REUSEADDR), "bind");
    check(eva_udp_set_recv_buffer(&udp, a.rcvbuf), "rcvbuf");
    check(eva_udp_recv_start(&udp, NULL, on_datagram), "recv_start");
    printf("ready\n");
    fflush(stdout);
    eva_loop_run(loop, EVA_RUN_DEFAULT);
    check(eva_loop_destroy(loop), "destroy");
    return 0;
}
