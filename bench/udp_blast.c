/* bench/udp_blast.c — the load for bench/run-udp: sends statsd-like
 * datagrams ("bench.metric.NNNNN:1|c", about 24 bytes) to 127.0.0.1:PORT as
 * fast as one core can, 64 per sendmmsg, for --secs seconds.  No library:
 * the same sender for every receiver.  Prints sent=N. */
#define _GNU_SOURCE /* sendmmsg */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_util.h"

enum { BATCH = 64 };

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 18400;
    double secs = argc > 2 ? atof(argv[2]) : 3;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&to, sizeof to) < 0) {
        perror("udp_blast");
        return 1;
    }
    static char text[BATCH][32];
    struct iovec iov[BATCH];
    struct mmsghdr mm[BATCH];
    for (int i = 0; i < BATCH; i++) {
        iov[i] = (struct iovec){.iov_base = text[i],
                                .iov_len = (size_t)snprintf(text[i], sizeof text[i], "bench.metric.%05d:1|c", i)};
        mm[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
    }
    uint64_t end = bench_mono_ns() + (uint64_t)(secs * 1e9), sent = 0;
    while (bench_mono_ns() < end) {
        int n = sendmmsg(fd, mm, BATCH, 0);
        if (n > 0)
            sent += (uint64_t)n;
        else if (n < 0 && errno != EAGAIN && errno != ENOBUFS && errno != ECONNREFUSED && errno != EINTR) {
            perror("udp_blast: sendmmsg");
            return 1;
        }
    }
    printf("sent=%llu\n", (unsigned long long)sent);
    return 0;
}
