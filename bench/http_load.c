/* bench/http_load.c — the client side of the connection benchmarks
 * (bench/run-conn, bench/conn100k): N keep-alive HTTP connections to
 * 127.0.0.1:PORT, held open together, R request rounds on each, every answer
 * checked.  Raw epoll, no evasync: the same load for every server measured.
 *
 * One loopback source address gives at most ~28,000 connections to one
 * port (the ephemeral range), so connection i is bound to 127.0.1.(1 + i %
 * SOURCES) first (IP_BIND_ADDRESS_NO_PORT: the port is picked at connect,
 * per destination).  At most 1024 connects are in flight (the listen backlog
 * is finite).  Round 1 is sent as each connection is established (the ramp);
 * rounds 2..R go out on all connections at once, each after the previous
 * round has been answered everywhere.  An answer must be "HTTP/1.1 200",
 * a header with Content-Length: 13, and the body "Hello, World!", with nothing
 * after it.  A phase where nothing happens for 10 s ends: what is pending
 * counts as errors.
 *
 * Prints, once every round is done (the connections then idle, open):
 *   ready conns=N errors=E rounds=R ramp_ms=V rounds_ms=V
 * then waits for a line (or EOF) on stdin and closes them all.  Raises
 * RLIMIT_NOFILE (hard limit too: root) to N + 64.
 *
 * usage: http_load PORT N [ROUNDS (3)] [SOURCES (64)] */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum { CONNECTS_IN_FLIGHT = 1024, ANSWER_MAX = 480, QUIET_MS = 10000 };

static const char request[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
static const char body[] = "Hello, World!";

typedef struct conn {
    int fd;
    uint8_t state;     /* C_* */
    uint16_t got;      /* answer bytes so far */
    char answer[ANSWER_MAX];
} conn;

enum { C_UNOPENED, C_CONNECTING, C_WAITING, C_DONE, C_FAILED };

static conn *conns;
static long n_conns, errors, pending;
static int ep;

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void fail(conn *c) {
    c->state = C_FAILED;
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    errors++;
    pending--;
}

/* 1: a complete, correct answer; 0: not complete yet; -1: wrong. */
static int check_answer(const conn *c) {
    const char *a = c->answer, *end = memmem(a, c->got, "\r\n\r\n", 4);
    if (c->got >= 12 && memcmp(a, "HTTP/1.1 200", 12) != 0)
        return -1;
    if (!end)
        return c->got == ANSWER_MAX ? -1 : 0;
    size_t head = (size_t)(end - a) + 4, blen = sizeof body - 1;
    const char *cl = NULL;
    for (const char *p = a; p + 15 < end && !cl; p = (const char *)memchr(p, '\n', (size_t)(end + 2 - p)) + 1)
        if (strncasecmp(p, "content-length:", 15) == 0)
            cl = p + 15;
    if (!cl || strtol(cl, NULL, 10) != (long)blen)
        return -1;
    if (c->got < head + blen)
        return 0;
    return c->got == head + blen && memcmp(a + head, body, blen) == 0 ? 1 : -1;
}

static void send_request(conn *c) {
    c->got = 0;
    c->state = C_WAITING;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (send(c->fd, request, sizeof request - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof request - 1) ||
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        fail(c);
}

static void on_readable(conn *c) {
    ssize_t k = recv(c->fd, c->answer + c->got, ANSWER_MAX - c->got, 0);
    if (k < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (k <= 0) {
        fail(c);
        return;
    }
    c->got = (uint16_t)(c->got + k);
    int verdict = check_answer(c);
    if (verdict < 0) {
        fail(c);
    } else if (verdict > 0) {
        c->state = C_DONE;
        pending--;
    }
}

static void on_event(conn *c, uint32_t events) {
    if (c->state == C_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        if ((events & (EPOLLERR | EPOLLHUP)) || getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err)
            fail(c);
        else
            send_request(c);
    } else if (c->state == C_WAITING) {
        on_readable(c);
    }
}

static int open_one(conn *c, long i, long sources, uint16_t port) {
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    struct sockaddr_in src = {.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(0x7f000101u + (uint32_t)(i % sources))};
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    c->state = C_CONNECTING;
    if (bind(c->fd, (struct sockaddr *)&src, sizeof src) < 0 ||
        (connect(c->fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS) ||
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        close(c->fd);
        c->fd = -1;
        c->state = C_FAILED;
        return -1;
    }
    return 0;
}

/* Wait for events until nothing is pending, opening connections *next..n-1
 * meanwhile (next NULL: none), or until QUIET_MS pass without any event. */
static void run_until_answered(long *next, long n, long sources, uint16_t port) {
    struct epoll_event evs[1024];
    uint64_t quiet_since = now_ms();
    for (;;) {
        while (next && *next < n && pending < CONNECTS_IN_FLIGHT) {
            long i = (*next)++;
            if (open_one(&conns[i], i, sources, port) < 0)
                errors++;
            else
                pending++;
        }
        if (pending == 0)
            return;
        int k = epoll_wait(ep, evs, 1024, 100);
        if (k > 0)
            quiet_since = now_ms();
        else if (now_ms() - quiet_since > QUIET_MS)
            break;
        for (int i = 0; i < k; i++)
            on_event(evs[i].data.ptr, evs[i].events);
    }
    for (long i = 0; i < n_conns; i++) /* what is still pending failed */
        if (conns[i].state == C_CONNECTING || conns[i].state == C_WAITING)
            fail(&conns[i]);
}

static int raise_fd_limit(long need) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    if ((long)rl.rlim_max < need)
        rl.rlim_max = (rlim_t)need; /* root may raise the hard limit (up to fs.nr_open) */
    rl.rlim_cur = rl.rlim_max;
    return setrlimit(RLIMIT_NOFILE, &rl);
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: http_load PORT N [ROUNDS] [SOURCES]\n");
        return 2;
    }
    uint16_t port = (uint16_t)atoi(argv[1]);
    n_conns = atol(argv[2]);
    long rounds = argc > 3 ? atol(argv[3]) : 3, sources = argc > 4 ? atol(argv[4]) : 64;
    if (n_conns <= 0 || rounds <= 0 || sources <= 0 || sources > 254) {
        fprintf(stderr, "http_load: bad arguments\n");
        return 2;
    }
    if (raise_fd_limit(n_conns + 64) < 0) {
        fprintf(stderr, "http_load: %ld descriptors: %s\n", n_conns + 64, strerror(errno));
        return 1;
    }
    conns = calloc((size_t)n_conns, sizeof *conns);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (!conns || ep < 0)
        return 1;
    for (long i = 0; i < n_conns; i++)
        conns[i].fd = -1;
    uint64_t t0 = now_ms();
    long next = 0;
    run_until_answered(&next, n_conns, sources, port); /* the ramp, with round 1 */
    errors += n_conns - next;                          /* never opened: the server stopped answering */
    uint64_t t1 = now_ms();
    for (long r = 1; r < rounds; r++) {
        for (long i = 0; i < n_conns; i++)
            if (conns[i].state == C_DONE) {
                pending++;
                send_request(&conns[i]);
            }
        run_until_answered(NULL, n_conns, sources, port);
    }
    uint64_t t2 = now_ms();
    printf("ready conns=%ld errors=%ld rounds=%ld ramp_ms=%llu rounds_ms=%llu\n", n_conns - errors, errors,
           rounds, (unsigned long long)(t1 - t0), (unsigned long long)(t2 - t1));
    fflush(stdout);
    char line[16];
    if (!fgets(line, sizeof line, stdin))
        line[0] = 0; /* EOF: the same */
    for (long i = 0; i < n_conns; i++)
        if (conns[i].fd >= 0)
            close(conns[i].fd);
    free(conns);
    close(ep);
    return errors ? 1 : 0;
}
