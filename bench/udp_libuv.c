/* bench/udp_libuv.c — the libuv peer of bench/udp_bench.c, the same job:
 * bound to 127.0.0.1:PORT, counting what bench/udp_blast.c sends for --secs
 * seconds from the first datagram.  It uses libuv's fastest receive path,
 * UV_UDP_RECVMMSG (recvmmsg of up to 20 datagrams into one buffer of 64 KiB
 * chunks, libuv >= 1.40), as a tuned libuv receiver would. */
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#include "udp_bench.h"

enum { CHUNKS = 20, CHUNK = 64 * 1024 };

static udp_bench_meter meter;
static uv_timer_t end_timer;
static uv_udp_t udp;
static double secs;
static char slab[CHUNKS * CHUNK];
static int slab_busy;

static void on_end(uv_timer_t *t) {
    (void)t;
    udp_bench_report("libuv", &meter, "");
    uv_close((uv_handle_t *)&udp, NULL);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(slab, sizeof slab); /* one slab: libuv hands it back with UV_UDP_MMSG_FREE */
    slab_busy = 1;
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                    unsigned flags) {
    (void)h;
    if (flags & UV_UDP_MMSG_FREE) {
        slab_busy = 0;
        return;
    }
    if (nread < 0 || addr == NULL) /* an error, or "nothing more" */
        return;
    if (udp_bench_count(&meter, buf->base, (size_t)nread))
        uv_timer_start(&end_timer, on_end, (uint64_t)(secs * 1000), 0);
}

static void check(int rc, const char *what) {
    if (rc < 0) {
        fprintf(stderr, "udp_libuv: %s: %s\n", what, uv_strerror(rc));
        exit(1);
    }
}

int main(int argc, char **argv) {
    udp_bench_args a = udp_bench_parse(argc, argv, "udp_libuv");
    secs = a.secs;
    uv_loop_t *loop = uv_default_loop();
    check(uv_timer_init(loop, &end_timer), "timer");
    check(uv_udp_init_ex(loop, &udp, AF_INET | UV_UDP_RECVMMSG), "init");
    struct sockaddr_in addr;
    check(uv_ip4_addr("127.0.0.1", a.port, &addr), "addr");
    check(uv_udp_bind(&udp, (const struct sockaddr *)&addr, UV_UDP_REUSEADDR), "bind");
    int rcvbuf = a.rcvbuf;
    check(uv_recv_buffer_size((uv_handle_t *)&udp, &rcvbuf), "rcvbuf");
    check(uv_udp_recv_start(&udp, on_alloc, on_recv), "recv_start");
    printf("ready\n");
    fflush(stdout);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    return 0;
}
