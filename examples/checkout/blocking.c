/* examples/checkout/blocking.c — the same job the way a thread-per-request
 * server does it: blocking calls, one request after the other.  Used to
 * measure how much of a request's time is spent waiting. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "checkout.h"

/* Read one line ("\n"-terminated) into buf. */
static int read_line(int fd, char *buf, size_t size) {
    size_t len = 0;
    while (len + 1 < size) {
        ssize_t n = recv(fd, buf + len, 1, 0);
        if (n <= 0)
            return n == 0 ? EVA_EOF : -errno;
        if (buf[len++] == '\n') {
            buf[len] = '\0';
            return 0;
        }
    }
    return -EMSGSIZE;
}

static int one_request(const checkout_cfg *cfg, int request, uint64_t *total) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -errno;
    int rc = connect(fd, (const struct sockaddr *)&cfg->db, sizeof cfg->db) < 0 ? -errno : 0;
    *total = 0;
    for (int q = 0; rc == 0 && q < cfg->queries; q++) {
        char line[32];
        int len = db_format_query(line, sizeof line, request, q);
        if (send(fd, line, (size_t)len, MSG_NOSIGNAL) != len)
            rc = -EPIPE;
        else if ((rc = read_line(fd, line, sizeof line)) == 0)
            *total += strtoull(line, NULL, 10);
    }
    close(fd);
    if (rc == 0)
        price_work(total); /* on this thread: there is nobody else to do it */
    return rc;
}

int run_blocking(const checkout_cfg *cfg, int requests, checkout_tally *t) {
    for (int i = 0; i < requests; i++) {
        uint64_t total;
        int rc = one_request(cfg, i, &total);
        checkout_finish(t, rc, NULL, total);
    }
    return 0;
}
