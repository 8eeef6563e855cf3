/* bench/fairness.c — can one client that floods an HTTP server starve another?
 *
 * A client only (the server runs elsewhere: bench/run-fairness starts
 * examples/hello_http and the peers).  Two keep-alive connections to
 * 127.0.0.1:PORT.  The probe sends one GET, times until the whole response
 * is in, and sends the next INTERVAL_MS after the previous one was sent (or
 * at once if that is past).  The flood pipelines GETs nonstop, PIPELINE per
 * write, and reads every response as fast as they come.  Two phases of SECS
 * each: the probe alone, then the probe beside the flood.
 *
 * One thread, one poll(2) loop over both sockets: the probe's latency never
 * includes waiting for a client thread to be scheduled, only at most one
 * flood read or write (microseconds) on our side.
 *
 * Prints, per phase, then the difference the target is stated in:
 *   impl=NAME phase=unloaded probes=N probe_p50_ms=V probe_p99_ms=V probe_max_ms=V starved=0
 *   impl=NAME phase=flood probes=N ... starved=0|1 flood_responses_per_s=V
 * starved=1: a probe went unanswered for 10 s, which ended the phase.
 *   impl=NAME probe_p99_delta_ms=V          (flood p99 - unloaded p99)
 * flood_responses_per_s is flood bytes received / the probe's response size
 * (every response of these servers has the same size).
 *
 * Usage: fairness PORT [NAME]   env: SECS (5), INTERVAL_MS (10), PIPELINE (64) */
#define _GNU_SOURCE /* memmem, TCP_NODELAY */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

static const char GET[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
#define GET_LEN (sizeof GET - 1)
enum { PROBE_TIMEOUT_MS = 10000, FLOOD_WARMUP_MS = 100, MAX_PROBES = 100000 };

static void die(const char *what) {
    fprintf(stderr, "fairness: %s: %s\n", what, errno ? strerror(errno) : "failed");
    exit(1);
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static long env_long(const char *name, long dflt) {
    const char *v = getenv(name);
    return v && *v ? atol(v) : dflt;
}

static int connect_to(uint16_t port) {
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        die("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
        die("O_NONBLOCK");
    return fd;
}

/* ---- the probe: one request at a time, timed -------------------------------- */

typedef struct probe {
    int fd;
    bool waiting;               /* a request is out, its response not all in */
    uint64_t sent_ns, next_ns;  /* when the request went out; when the next goes */
    char in[4096];
    size_t in_len;
    size_t response_size;       /* of the last complete response */
    bool starved;               /* a probe waited PROBE_TIMEOUT_MS: the phase ended */
    uint64_t lat_ns[MAX_PROBES];
    size_t n;
} probe;

/* The size of the complete response at the start of buf, or 0 if it is not
 * all there yet: the head up to the blank line plus Content-Length bytes. */
static size_t complete_response(const char *buf, size_t len) {
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t head = (size_t)(end - buf) + 4, body = 0;
    for (const char *line = buf; line < end; line = strstr(line, "\r\n") + 2)
        if (strncasecmp(line, "Content-Length:", 15) == 0)
            body = strtoul(line + 15, NULL, 10);
    return head + body <= len ? head + body : 0;
}

static void probe_send(probe *p) {
    if (write(p->fd, GET, GET_LEN) != (ssize_t)GET_LEN) /* an idle socket takes 37 bytes */
        die("probe write");
    p->sent_ns = now_ns();
    p->waiting = true;
    p->in_len = 0;
}

static void probe_record(probe *p, uint64_t latency_ns) {
    if (p->n < MAX_PROBES)
        p->lat_ns[p->n++] = latency_ns;
}

static void probe_read(probe *p) {
    ssize_t n = read(p->fd, p->in + p->in_len, sizeof p->in - p->in_len);
    if (n < 0 && errno == EAGAIN)
        return;
    if (n <= 0)
        die(n == 0 ? "probe: the server closed the connection" : "probe read");
    p->in_len += (size_t)n;
    size_t size = complete_response(p->in, p->in_len);
    if (size == 0) {
        if (p->in_len == sizeof p->in)
            die("probe: response too large");
        return;
    }
    probe_record(p, now_ns() - p->sent_ns);
    p->response_size = size;
    p->waiting = false;
}

/* ---- the flood: pipelined requests nonstop, responses drained --------------- */

typedef struct flood {
    int fd;                     /* -1: not flooding */
    char *out;
    size_t out_len, out_pos;    /* PIPELINE requests, written round and round */
    uint64_t received;          /* response bytes */
} flood;

static void flood_write(flood *f) {
    ssize_t n = write(f->fd, f->out + f->out_pos, f->out_len - f->out_pos);
    if (n < 0 && errno == EAGAIN)
        return;
    if (n < 0)
        die("flood write");
    f->out_pos = (f->out_pos + (size_t)n) % f->out_len;
}

static void flood_read(flood *f) {
    static char sink[256 * 1024];
    ssize_t n = read(f->fd, sink, sizeof sink);
    if (n < 0 && errno == EAGAIN)
        return;
    if (n <= 0)
        die(n == 0 ? "flood: the server closed the connection" : "flood read");
    f->received += (uint64_t)n;
}

/* ---- one phase ------------------------------------------------------------- */

static int ms_until(uint64_t t_ns) {
    uint64_t now = now_ns();
    return t_ns > now ? (int)((t_ns - now + 999999) / 1000000) : 0;
}

/* Probe every interval until end_ns, serving the flood (if any) meanwhile.
 * A probe unanswered for PROBE_TIMEOUT_MS ends the phase early: it counts
 * as that long (a lower bound) and the phase's line says starved=1. */
static void run_phase(probe *p, flood *f, uint64_t interval_ns, uint64_t end_ns) {
    while (p->waiting || now_ns() < end_ns) {
        if (!p->waiting && now_ns() >= p->next_ns && now_ns() < end_ns) {
            probe_send(p);
            p->next_ns = p->sent_ns + interval_ns;
        }
        if (p->waiting && now_ns() - p->sent_ns > (uint64_t)PROBE_TIMEOUT_MS * 1000000u) {
            probe_record(p, now_ns() - p->sent_ns);
            p->starved = true;
            return;
        }
        struct pollfd fds[2] = {{.fd = p->fd, .events = POLLIN},
                                {.fd = f->fd, .events = POLLIN | POLLOUT}};
        int timeout = p->waiting ? 1000 : ms_until(p->next_ns < end_ns ? p->next_ns : end_ns);
        if (poll(fds, f->fd >= 0 ? 2 : 1, timeout) < 0 && errno != EINTR)
            die("poll");
        if (fds[0].revents)
            probe_read(p);
        if (f->fd >= 0 && (fds[1].revents & (POLLIN | POLLERR | POLLHUP)))
            flood_read(f);
        if (f->fd >= 0 && (fds[1].revents & POLLOUT))
            flood_write(f);
    }
}

static double ms(uint64_t ns) { return (double)ns / 1e6; }

/* Print the phase's line (the flood's rate over secs, if there was a flood);
 * returns its p99 in ns. */
static uint64_t report(const char *impl, const char *phase, probe *p, const flood *f, double secs) {
    if (p->n == 0) {
        errno = 0;
        die("no probe completed");
    }
    bench_sort_u64(p->lat_ns, p->n);
    uint64_t p99 = p->lat_ns[(p->n - 1) * 99 / 100];
    printf("impl=%s phase=%s probes=%zu probe_p50_ms=%.3f probe_p99_ms=%.3f probe_max_ms=%.3f starved=%d",
           impl, phase, p->n, ms(p->lat_ns[(p->n - 1) / 2]), ms(p99), ms(p->lat_ns[p->n - 1]),
           p->starved);
    if (f)
        printf(" flood_responses_per_s=%.0f", (double)f->received / (double)p->response_size / secs);
    printf("\n");
    fflush(stdout);
    p->n = 0;
    return p99;
}

static flood flood_new(uint16_t port, long pipeline) {
    flood f = {.fd = connect_to(port), .out_len = GET_LEN * (size_t)pipeline};
    f.out = malloc(f.out_len);
    if (!f.out)
        die("malloc");
    for (long i = 0; i < pipeline; i++)
        memcpy(f.out + GET_LEN * (size_t)i, GET, GET_LEN);
    return f;
}

int main(int argc, char **argv) {
    long port = argc > 1 ? atol(argv[1]) : 0;
    const char *impl = argc > 2 ? argv[2] : "server";
    long secs = env_long("SECS", 5), interval_ms = env_long("INTERVAL_MS", 10),
         pipeline = env_long("PIPELINE", 64);
    if (argc < 2 || argc > 3 || port <= 0 || port > 65535 || secs <= 0 || interval_ms <= 0 ||
        pipeline <= 0) {
        fprintf(stderr, "usage: fairness PORT [NAME]   env: SECS INTERVAL_MS PIPELINE (> 0)\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    uint64_t interval_ns = (uint64_t)interval_ms * 1000000u, phase_ns = (uint64_t)secs * 1000000000u;
    static probe p;
    p.fd = connect_to((uint16_t)port);
    flood idle = {.fd = -1};

    p.next_ns = now_ns();
    run_phase(&p, &idle, interval_ns, p.next_ns + phase_ns);
    uint64_t unloaded_p99 = report(impl, "unloaded", &p, NULL, 0);
    if (p.starved) {
        errno = ETIMEDOUT;
        die("probe: no response without any load"); /* the rest would mean nothing */
    }

    flood f = flood_new((uint16_t)port, pipeline);
    uint64_t start = now_ns();
    p.next_ns = start + (uint64_t)FLOOD_WARMUP_MS * 1000000u; /* let the flood build up first */
    run_phase(&p, &f, interval_ns, p.next_ns + phase_ns);
    uint64_t flood_p99 = report(impl, "flood", &p, &f, (double)(now_ns() - start) / 1e9);

    printf("impl=%s probe_p99_delta_ms=%.3f\n", impl, ms(flood_p99) - ms(unloaded_p99));
    close(f.fd);
    close(p.fd);
    free(f.out);
    return 0;
}
