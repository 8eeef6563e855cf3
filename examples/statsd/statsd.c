/* examples/statsd — a statsd-like receiver: counters ("name:value|c", one
 * or more lines per datagram) summed over UDP, taken in bursts with
 * recvmmsg (eva_udp push mode, docs/udp.md), and a sender that blasts them.
 *
 *   statsd [--port N] [--expect N] [--timeout-ms MS]
 *       receive on 127.0.0.1:N (0, the default: a free port, printed); stop
 *       at SIGINT/SIGTERM, or once --expect datagrams came (exit 1 if
 *       --timeout-ms passes first), then print the totals
 *   statsd --send PORT --count N
 *       send N datagrams to 127.0.0.1:PORT: datagram i carries
 *       "requests:1|c" and "bytes:<i % 100>|c", and every tenth one also a
 *       malformed line
 *
 * Lines that are not "name:integer|c" (with an optional "|@rate", ignored)
 * are counted as bad, never fatal. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "evasync.h"

enum { MAX_COUNTERS = 64, NAME_MAX_LEN = 64, RECV_BUFFER = 64 << 20 };

typedef struct counter {
    char name[NAME_MAX_LEN];
    long long value;
} counter;

static struct {
    counter counters[MAX_COUNTERS];
    int ncounters;
    long long datagrams, bad_lines, expect;
} stats;

/* ---- aggregating ------------------------------------------------------------------ */

static counter *find_counter(const char *name, size_t len) {
    for (int i = 0; i < stats.ncounters; i++)
        if (strlen(stats.counters[i].name) == len && memcmp(stats.counters[i].name, name, len) == 0)
            return &stats.counters[i];
    if (stats.ncounters == MAX_COUNTERS || len >= NAME_MAX_LEN)
        return NULL;
    counter *c = &stats.counters[stats.ncounters++];
    memcpy(c->name, name, len);
    c->name[len] = '\0';
    return c;
}

/* One line, "name:value|c[|@rate]"; false if it is not one. */
static bool add_line(const char *line, size_t len) {
    const char *colon = memchr(line, ':', len), *end = line + len;
    if (!colon || colon == line)
        return false;
    char *after;
    char digits[32];
    size_t dlen = (size_t)(end - colon - 1);
    if (dlen == 0 || dlen >= sizeof digits)
        return false;
    memcpy(digits, colon + 1, dlen);
    digits[dlen] = '\0';
    long long value = strtoll(digits, &after, 10);
    if (after == digits || strncmp(after, "|c", 2) != 0 || (after[2] && strncmp(after + 2, "|@", 2) != 0))
        return false;
    counter *c = find_counter(line, (size_t)(colon - line));
    if (!c)
        return false;
    c->value += value;
    return true;
}

static void add_datagram(const char *data, size_t len) {
    stats.datagrams++;
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t line = nl ? (size_t)(nl - data) : len;
        if (line > 0 && !add_line(data, line))
            stats.bad_lines++;
        data += line + (nl != NULL);
        len -= line + (nl != NULL);
    }
}

static int by_name(const void *a, const void *b) { return strcmp(((const counter *)a)->name, ((const counter *)b)->name); }

static void print_totals(void) {
    printf("statsd: datagrams=%lld bad_lines=%lld\n", stats.datagrams, stats.bad_lines);
    qsort(stats.counters, (size_t)stats.ncounters, sizeof *stats.counters, by_name);
    for (int i = 0; i < stats.ncounters; i++)
        printf("statsd: counter %s=%lld\n", stats.counters[i].name, stats.counters[i].value);
}

/* ---- receiving ---------------------------------------------------------------------- */

static void on_datagram(eva_udp *udp, int status, const void *data, size_t len, const struct sockaddr *from,
                        socklen_t fromlen) {
    (void)from;
    (void)fromlen;
    if (status < 0) {
        fprintf(stderr, "statsd: receive: %s\n", eva_strerror(status));
        return;
    }
    add_datagram(data, len);
    if (stats.expect && stats.datagrams == stats.expect)
        eva_loop_stop(udp->loop);
}

static bool timed_out;

static void on_timeout(eva_timer *t) {
    timed_out = true;
    eva_loop_stop(eva_timer_get_loop(t));
}

static void on_stop_signal(eva_signal *sig, int signum) {
    (void)signum;
    eva_loop_stop(eva_signal_get_loop(sig));
}

static int bind_receiver(eva_loop *loop, eva_udp *udp, int port) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = eva_udp_open(loop, udp, AF_INET);
    if (rc == 0)
        rc = eva_udp_bind(udp, (struct sockaddr *)&addr, sizeof addr, 0);
    /* a blast outruns any receiver for a moment: the kernel's buffer holds it
     * (as root past net.core.rmem_max, else capped there) */
    if (rc == 0 && eva_udp_set_recv_buffer(udp, RECV_BUFFER) < 0)
        fprintf(stderr, "statsd: could not enlarge the receive buffer; bursts may be dropped\n");
    eva_udp_recv_options opts = {.max_size = 1024, .batch = 64};
    if (rc == 0)
        rc = eva_udp_recv_start(udp, &opts, on_datagram);
    return rc;
}

static int receive(int port, int64_t timeout_ms) {
    eva_loop *loop = NULL;
    if (eva_loop_new(&loop) < 0)
        return 2;
    eva_udp udp = {0};
    int rc = bind_receiver(loop, &udp, port);
    if (rc < 0) {
        fprintf(stderr, "statsd: udp port %d: %s\n", port, eva_strerror(rc));
        eva_loop_destroy(loop);
        return 2;
    }
    printf("statsd: listening on 127.0.0.1:%d\n", eva_udp_get_port(&udp));
    fflush(stdout);
    eva_signal sigint, sigterm;
    eva_timer deadline;
    eva_signal_init(loop, &sigint);
    eva_signal_init(loop, &sigterm);
    eva_timer_init(loop, &deadline);
    eva_signal_start(&sigint, SIGINT, on_stop_signal, NULL);
    eva_signal_start(&sigterm, SIGTERM, on_stop_signal, NULL);
    if (timeout_ms > 0)
        eva_timer_start(&deadline, timeout_ms, 0, on_timeout, NULL);
    eva_loop_run(loop, EVA_RUN_DEFAULT);
    eva_timer_stop(&deadline);
    eva_signal_stop(&sigint);
    eva_signal_stop(&sigterm);
    eva_udp_close(&udp, NULL);
    eva_loop_destroy(loop);
    print_totals();
    if (timed_out)
        printf("statsd: timed out with %lld of %lld datagrams\n", stats.datagrams, stats.expect);
    return timed_out ? 1 : 0;
}

/* ---- sending ------------------------------------------------------------------------ */

typedef struct sender {
    eva_task task; /* first: the frame */
    eva_udp udp;
    eva_udp_send_req send;
    struct sockaddr_in to;
    long count, i;
    char buf[128];
} sender;

static eva_step send_run(void *frame) {
    sender *s = frame;
    ASYNC_BEGIN(s);
    for (s->i = 0; s->i < s->count; s->i++) {
        int n = snprintf(s->buf, sizeof s->buf, "requests:1|c\nbytes:%ld|c%s", s->i % 100,
                         s->i % 10 == 0 ? "\nnot a metric" : "");
        AWAIT(s, eva_udp_send_op(&s->send, &s->udp, s->buf, (size_t)n, (struct sockaddr *)&s->to, sizeof s->to));
    }
    ASYNC_END(s);
}

static int blast(int port, long count) {
    eva_loop *loop = NULL;
    if (eva_loop_new(&loop) < 0)
        return 2;
    static sender s;
    s.to = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    s.to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s.count = count;
    int rc = eva_udp_open(loop, &s.udp, AF_INET);
    if (rc == 0) {
        eva_task_init(loop, &s.task, send_run, "statsd-send");
        eva_task_start(&s.task, NULL);
        eva_loop_run(loop, EVA_RUN_DEFAULT);
        rc = eva_task_get_status(&s.task);
    }
    if (rc < 0)
        fprintf(stderr, "statsd: send: %s\n", eva_strerror(rc));
    else
        printf("statsd: sent %ld datagrams\n", count);
    eva_udp_close(&s.udp, NULL);
    eva_loop_destroy(loop);
    return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv) {
    int port = 0, send_port = -1;
    long count = 0;
    int64_t timeout_ms = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--expect") == 0 && i + 1 < argc)
            stats.expect = atoll(argv[++i]);
        else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc)
            timeout_ms = atoll(argv[++i]);
        else if (strcmp(argv[i], "--send") == 0 && i + 1 < argc)
            send_port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
            count = atol(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--port N] [--expect N] [--timeout-ms MS] | --send PORT --count N\n", argv[0]);
            return 2;
        }
    }
    return send_port > 0 ? blast(send_port, count) : receive(port, timeout_ms);
}
