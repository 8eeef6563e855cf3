/* tests/dns_responder.c — see dns_responder.h. */
#define _DEFAULT_SOURCE /* SO_RCVBUFFORCE, strcasecmp */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns_responder.h"

enum { T_A = 1, T_PTR = 12, T_AAAA = 28, C_IN = 1 };
enum { RC_NOERROR = 0, RC_SERVFAIL = 2, RC_NXDOMAIN = 3, RC_REFUSED = 5 };
enum { MAX_RECORDS = 16, MAX_MSG = 4096, TTL = 300 };

typedef struct record {
    uint16_t type;
    uint8_t data[16]; /* A / AAAA */
    char target[256]; /* PTR */
} record;

typedef struct entry {
    struct entry *next;
    char name[256];
    record rec[MAX_RECORDS];
    int nrec;
    dns_mode mode;
    int delay_ms; /* -1: the responder's default */
    int ttl;      /* of its records; -1: TTL */
    unsigned long queries;
} entry;

typedef struct conn conn;
typedef struct upstream upstream;

/* A reply waiting for its delay. */
typedef struct pending {
    struct pending *prev, *next;
    dns_responder *r;
    eva_timer timer;
    conn *c; /* TCP, or NULL for UDP */
    struct sockaddr_in peer;
    size_t len;
    uint8_t msg[];
} pending;

struct conn {
    conn *prev, *next;
    dns_responder *r;
    eva_io io;
    int fd;
    uint8_t in[2 + 65535];
    size_t have;
    uint8_t *out; /* unsent bytes */
    size_t out_len;
};

struct dns_responder {
    eva_loop *loop;
    int udp_fd, tcp_fd;
    eva_io udp_io, tcp_io;
    uint16_t port;
    char servers[32];
    entry *entries;
    char synthetic[256];
    int delay_ms;
    pending *pendings;
    conn *conns;
    unsigned long queries, tcp_queries;
    dns_script_fn script; /* set: every query goes to it, not the table */
    void *script_arg;
    upstream *up;         /* set: UDP queries are forwarded to it */
};

/* Proxy mode: each forwarded query gets the next of 65536 ids; its slot
 * remembers the client's id and address until the reply comes back. */
struct upstream {
    int fd; /* connected to the upstream server */
    eva_io io;
    uint16_t next_id;
    struct upstream_slot {
        struct sockaddr_in peer;
        uint16_t id;
        bool used;
    } slot[65536];
};

/* Where a scripted reply goes: a TCP connection, or a UDP peer. */
struct dns_reply {
    dns_responder *r;
    conn *c;
    const struct sockaddr_in *peer;
};

/* ---- the table ------------------------------------------------------------------- */

static entry *find(const dns_responder *r, const char *name) {
    for (entry *e = r->entries; e; e = e->next)
        if (strcasecmp(e->name, name) == 0)
            return e;
    return NULL;
}

static entry *find_or_add(dns_responder *r, const char *name) {
    entry *e = find(r, name);
    if (e)
        return e;
    if (strlen(name) >= sizeof e->name)
        return NULL;
    e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    snprintf(e->name, sizeof e->name, "%s", name);
    e->delay_ms = -1;
    e->ttl = -1;
    e->next = r->entries;
    r->entries = e;
    return e;
}

int dns_responder_add(dns_responder *r, const char *name, const char *addr) {
    entry *e = find_or_add(r, name);
    if (!e || e->nrec == MAX_RECORDS)
        return -EINVAL;
    record *rec = &e->rec[e->nrec];
    if (inet_pton(AF_INET, addr, rec->data) == 1)
        rec->type = T_A;
    else if (inet_pton(AF_INET6, addr, rec->data) == 1)
        rec->type = T_AAAA;
    else
        return -EINVAL;
    e->nrec++;
    return 0;
}

int dns_responder_add_ptr(dns_responder *r, const char *name, const char *target) {
    entry *e = find_or_add(r, name);
    if (!e || e->nrec == MAX_RECORDS || strlen(target) >= sizeof e->rec[0].target)
        return -EINVAL;
    e->rec[e->nrec].type = T_PTR;
    snprintf(e->rec[e->nrec].target, sizeof e->rec[0].target, "%s", target);
    e->nrec++;
    return 0;
}

int dns_responder_set_mode(dns_responder *r, const char *name, dns_mode mode, int delay_ms) {
    entry *e = find_or_add(r, name);
    if (!e)
        return -ENOMEM;
    e->mode = mode;
    e->delay_ms = delay_ms;
    return 0;
}

int dns_responder_set_ttl(dns_responder *r, const char *name, int ttl) {
    entry *e = find_or_add(r, name);
    if (!e)
        return -ENOMEM;
    e->ttl = ttl;
    return 0;
}

void dns_responder_set_delay(dns_responder *r, int delay_ms) { r->delay_ms = delay_ms; }

int dns_responder_set_synthetic(dns_responder *r, const char *suffix) {
    if (!suffix || strlen(suffix) >= sizeof r->synthetic)
        return -EINVAL;
    snprintf(r->synthetic, sizeof r->synthetic, "%s", suffix);
    return 0;
}

uint32_t dns_synthetic_ipv4(unsigned long n) { return (10u << 24) | (uint32_t)(n & 0xffffff); }

unsigned long dns_responder_queries(const dns_responder *r, const char *name) {
    if (!name)
        return r->queries;
    const entry *e = find(r, name);
    return e ? e->queries : 0;
}

unsigned long dns_responder_tcp_queries(const dns_responder *r) { return r->tcp_queries; }

void dns_responder_set_script(dns_responder *r, dns_script_fn fn, void *arg) {
    r->script = fn;
    r->script_arg = arg;
}
uint16_t dns_responder_port(const dns_responder *r) { return r->port; }
const char *dns_responder_servers(const dns_responder *r) { return r->servers; }

/* n<N>.<suffix> -> N */
static bool synthetic_number(const dns_responder *r, const char *name, unsigned long *n) {
    if (!r->synthetic[0] || name[0] != 'n')
        return false;
    char *end;
    errno = 0;
    unsigned long v = strtoul(name + 1, &end, 10);
    if (errno || end == name + 1 || *end != '.' || strcasecmp(end + 1, r->synthetic) != 0)
        return false;
    *n = v;
    return true;
}

/* ---- messages -------------------------------------------------------------------------- */

typedef struct msgbuf {
    uint8_t b[MAX_MSG];
    size_t len;
    bool overflow;
} msgbuf;

static void put(msgbuf *m, const void *p, size_t n) {
    if (m->len + n > sizeof m->b) {
        m->overflow = true;
        return;
    }
    memcpy(m->b + m->len, p, n);
    m->len += n;
}

static void put16(msgbuf *m, unsigned v) {
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    put(m, b, 2);
}

static void put32(msgbuf *m, uint32_t v) {
    put16(m, v >> 16);
    put16(m, v & 0xffff);
}

static void put_name(msgbuf *m, const char *name) {
    while (*name) {
        const char *dot = strchr(name, '.');
        size_t n = dot ? (size_t)(dot - name) : strlen(name);
        uint8_t len = (uint8_t)(n > 63 ? 63 : n);
        put(m, &len, 1);
        put(m, name, len);
        name += n;
        if (*name == '.')
            name++;
    }
    uint8_t zero = 0;
    put(m, &zero, 1);
}

/* The question: its name (lowercase, no trailing dot), type and where the
 * question section ends.  false if the query is malformed. */
static bool parse_query(const uint8_t *q, size_t len, char *name, size_t name_size,
                        uint16_t *qtype, size_t *qend) {
    if (len < 12 || (q[2] & 0x80) || ((q[4] << 8) | q[5]) != 1)
        return false;
    size_t pos = 12, out = 0;
    for (;;) {
        if (pos >= len)
            return false;
        uint8_t l = q[pos++];
        if (l == 0)
            break;
        if (l > 63 || pos + l > len || out + l + 1 >= name_size)
            return false;
        if (out)
            name[out++] = '.';
        for (uint8_t i = 0; i < l; i++) {
            char ch = (char)q[pos + i];
            name[out++] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
        }
        pos += l;
    }
    name[out] = '\0';
    if (pos + 4 > len)
        return false;
    *qtype = (uint16_t)((q[pos] << 8) | q[pos + 1]);
    *qend = pos + 4;
    return true;
}

static void header(msgbuf *m, const uint8_t *q, unsigned rcode, bool tc, unsigned ancount) {
    put(m, q, 2); /* id */
    uint8_t flags[2] = {(uint8_t)(0x80 | (q[2] & 0x79) | 0x04 | (tc ? 0x02 : 0)), /* QR, opcode, AA, TC, RD */
                        (uint8_t)(0x80 | rcode)};                                  /* RA, rcode */
    put(m, flags, 2);
    put16(m, 1);
    put16(m, ancount);
    put16(m, 0);
    put16(m, 0);
}

static void answer_rr(msgbuf *m, uint16_t type, uint32_t ttl, const void *data, size_t len) {
    put16(m, 0xc00c); /* the question's name */
    put16(m, type);
    put16(m, C_IN);
    put32(m, ttl);
    put16(m, (unsigned)len);
    put(m, data, len);
}

/* Build the reply to query q for transport tcp; false: send nothing.
 * *delay_ms receives the delay. */
static bool build_reply(dns_responder *r, const uint8_t *q, size_t len, bool tcp, msgbuf *m,
                        int *delay_ms) {
    char name[256];
    uint16_t qtype;
    size_t qend;
    if (!parse_query(q, len, name, sizeof name, &qtype, &qend))
        return false;
    r->queries++;
    if (getenv("DNS_RESPONDER_DEBUG"))
        fprintf(stderr, "dns_responder: %s query for %s type %u\n", tcp ? "TCP" : "UDP", name, qtype);
    if (tcp)
        r->tcp_queries++;
    entry *e = find(r, name);
    unsigned long n = 0;
    bool synthetic = !e && synthetic_number(r, name, &n);
    dns_mode mode = e ? e->mode : DNS_MODE_ANSWER;
    *delay_ms = e && e->delay_ms >= 0 ? e->delay_ms : r->delay_ms;
    if (e)
        e->queries++;
    m->len = 0;
    m->overflow = false;
    switch (mode) {
    case DNS_MODE_DROP:
        return false;
    case DNS_MODE_NXDOMAIN:
    case DNS_MODE_SERVFAIL:
    case DNS_MODE_REFUSED: {
        unsigned rc = mode == DNS_MODE_NXDOMAIN ? RC_NXDOMAIN : mode == DNS_MODE_SERVFAIL ? RC_SERVFAIL : RC_REFUSED;
        header(m, q, rc, false, 0);
        put(m, q + 12, qend - 12);
        return !m->overflow;
    }
    case DNS_MODE_GARBAGE: {
        header(m, q, RC_NOERROR, false, 2);
        put(m, q + 12, qend - 12);
        static const uint8_t junk[] = {0xc0, 0xff, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x0e, 0xff, 0x00};
        put(m, junk, sizeof junk); /* a pointer past the end, then a cut-off record */
        return !m->overflow;
    }
    case DNS_MODE_TRUNCATE:
        if (!tcp) {
            header(m, q, RC_NOERROR, true, 0);
            put(m, q + 12, qend - 12);
            return !m->overflow;
        }
        break;
    case DNS_MODE_ANSWER:
        break;
    }
    if (!e && !synthetic) {
        header(m, q, RC_NXDOMAIN, false, 0);
        put(m, q + 12, qend - 12);
        return !m->overflow;
    }
    /* count, then write, the records of the asked type */
    record syn[2];
    const record *recs = syn;
    int nrec = 0;
    if (synthetic) {
        uint32_t v4 = htonl(dns_synthetic_ipv4(n));
        syn[0].type = T_A;
        memcpy(syn[0].data, &v4, 4);
        syn[1].type = T_AAAA;
        memset(syn[1].data, 0, 16);
        syn[1].data[0] = 0xfd;
        for (int i = 0; i < 8; i++)
            syn[1].data[15 - i] = (uint8_t)(n >> (8 * i));
        nrec = 2;
    } else {
        recs = e->rec;
        nrec = e->nrec;
    }
    uint32_t ttl = e && e->ttl >= 0 ? (uint32_t)e->ttl : TTL;
    unsigned count = 0;
    for (int i = 0; i < nrec; i++)
        count += recs[i].type == qtype;
    header(m, q, RC_NOERROR, false, count);
    put(m, q + 12, qend - 12);
    for (int i = 0; i < nrec; i++) {
        if (recs[i].type != qtype)
            continue;
        if (qtype == T_PTR) {
            msgbuf target = {.len = 0};
            put_name(&target, recs[i].target);
            answer_rr(m, T_PTR, ttl, target.b, target.len);
        } else {
            answer_rr(m, qtype, ttl, recs[i].data, qtype == T_A ? 4 : 16);
        }
    }
    return !m->overflow;
}

/* ---- sending ------------------------------------------------------------------------------ */

static void conn_close(conn *c);

static void on_conn_io(eva_io *io, int events);

/* Sending can close a connection (a send error): whether c is still open. */
static bool conn_alive(const dns_responder *r, const conn *c) {
    for (const conn *k = r->conns; k; k = k->next)
        if (k == c)
            return true;
    return false;
}

static void conn_flush(conn *c) {
    while (c->out_len > 0) {
        ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                eva_io_start(&c->io, c->fd, EVA_READ | EVA_WRITE, on_conn_io, c);
                return;
            }
            conn_close(c);
            return;
        }
        memmove(c->out, c->out + n, c->out_len - (size_t)n);
        c->out_len -= (size_t)n;
    }
    eva_io_start(&c->io, c->fd, EVA_READ, on_conn_io, c);
}

static void conn_send(conn *c, const uint8_t *msg, size_t len) {
    uint8_t *out = realloc(c->out, c->out_len + 2 + len);
    if (!out) {
        conn_close(c);
        return;
    }
    c->out = out;
    c->out[c->out_len] = (uint8_t)(len >> 8);
    c->out[c->out_len + 1] = (uint8_t)len;
    memcpy(c->out + c->out_len + 2, msg, len);
    c->out_len += 2 + len;
    conn_flush(c);
}

static void send_now(dns_responder *r, conn *c, const struct sockaddr_in *peer, const uint8_t *msg,
                     size_t len) {
    if (c)
        conn_send(c, msg, len);
    else
        (void)sendto(r->udp_fd, msg, len, 0, (const struct sockaddr *)peer, sizeof *peer);
}

static void pending_free(pending *p) {
    dns_responder *r = p->r;
    eva_timer_stop(&p->timer);
    if (p->prev)
        p->prev->next = p->next;
    else
        r->pendings = p->next;
    if (p->next)
        p->next->prev = p->prev;
    free(p);
}

static void on_delay(eva_timer *t) {
    pending *p = t->data;
    dns_responder *r = p->r;
    conn *c = p->c;
    struct sockaddr_in peer = p->peer;
    uint8_t msg[MAX_MSG];
    size_t len = p->len;
    memcpy(msg, p->msg, len);
    pending_free(p);
    send_now(r, c, &peer, msg, len);
}

void dns_reply_send(dns_reply *reply, const uint8_t *msg, size_t len) {
    if (len > 65535 || (reply->c && !conn_alive(reply->r, reply->c)))
        return;
    send_now(reply->r, reply->c, reply->peer, msg, len);
}

/* Send msg after delay ms (at once for 0 or less). */
static void send_later(dns_responder *r, conn *c, const struct sockaddr_in *peer, const uint8_t *msg,
                       size_t len, int delay) {
    if (delay <= 0) {
        send_now(r, c, peer, msg, len);
        return;
    }
    pending *p = malloc(sizeof *p + len);
    if (!p)
        return;
    p->r = r;
    p->c = c;
    if (peer)
        p->peer = *peer;
    p->len = len;
    memcpy(p->msg, msg, len);
    p->prev = NULL;
    p->next = r->pendings;
    if (r->pendings)
        r->pendings->prev = p;
    r->pendings = p;
    eva_timer_init(r->loop, &p->timer);
    eva_timer_start(&p->timer, delay, 0, on_delay, p);
}

/* Proxy mode: the query goes upstream under a fresh id. */
static void forward(dns_responder *r, const struct sockaddr_in *peer, const uint8_t *q, size_t len) {
    upstream *up = r->up;
    if (len < 12 || len > MAX_MSG)
        return;
    uint16_t id = up->next_id++;
    up->slot[id] = (struct upstream_slot){.peer = *peer, .id = (uint16_t)(q[0] << 8 | q[1]), .used = true};
    uint8_t msg[MAX_MSG];
    memcpy(msg, q, len);
    msg[0] = (uint8_t)(id >> 8);
    msg[1] = (uint8_t)id;
    (void)send(up->fd, msg, len, 0);
}

static void on_upstream(eva_io *io, int events) {
    (void)events;
    dns_responder *r = io->data;
    upstream *up = r->up;
    uint8_t msg[MAX_MSG];
    for (int i = 0; i < 256; i++) {
        ssize_t n = recv(up->fd, msg, sizeof msg, 0);
        if (n < 0)
            return;
        if (n < 12)
            continue;
        struct upstream_slot *sl = &up->slot[msg[0] << 8 | msg[1]];
        if (!sl->used)
            continue;
        sl->used = false;
        msg[0] = (uint8_t)(sl->id >> 8);
        msg[1] = (uint8_t)sl->id;
        send_later(r, NULL, &sl->peer, msg, (size_t)n, r->delay_ms);
    }
}

int dns_responder_set_upstream(dns_responder *r, uint16_t port) {
    upstream *up = calloc(1, sizeof *up);
    if (!up)
        return -ENOMEM;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    up->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (up->fd < 0 || connect(up->fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
        int rc = -errno;
        if (up->fd >= 0)
            close(up->fd);
        free(up);
        return rc;
    }
    int big = 4 << 20; /* the proxy must not be what drops a burst */
    setsockopt(up->fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    setsockopt(r->udp_fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    eva_io_init(r->loop, &up->io);
    eva_io_start(&up->io, up->fd, EVA_READ, on_upstream, r);
    r->up = up;
    return 0;
}

static void reply(dns_responder *r, conn *c, const struct sockaddr_in *peer, const uint8_t *q,
                  size_t len) {
    if (r->up && !c) {
        r->queries++;
        forward(r, peer, q, len);
        return;
    }
    if (r->script) {
        r->queries++;
        r->tcp_queries += c != NULL;
        dns_reply out = {r, c, peer};
        r->script(r->script_arg, &out, q, len, c != NULL);
        return;
    }
    msgbuf m;
    int delay = 0;
    if (build_reply(r, q, len, c != NULL, &m, &delay))
        send_later(r, c, peer, m.b, m.len, delay);
}

/* ---- UDP ---------------------------------------------------------------------------------- */

static void on_udp(eva_io *io, int events) {
    (void)events;
    dns_responder *r = io->data;
    uint8_t q[MAX_MSG];
    for (int i = 0; i < 256; i++) { /* a bounded batch, then let the loop run */
        struct sockaddr_in peer;
        socklen_t plen = sizeof peer;
        ssize_t n = recvfrom(r->udp_fd, q, sizeof q, 0, (struct sockaddr *)&peer, &plen);
        if (n < 0)
            return;
        reply(r, NULL, &peer, q, (size_t)n);
    }
}

/* ---- TCP ---------------------------------------------------------------------------------- */

static void conn_close(conn *c) {
    dns_responder *r = c->r;
    for (pending *p = r->pendings, *next; p; p = next) {
        next = p->next;
        if (p->c == c)
            pending_free(p);
    }
    eva_io_stop(&c->io);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        r->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c->out);
    free(c);
}

static void on_conn_io(eva_io *io, int events) {
    conn *c = io->data;
    dns_responder *r = c->r;
    if (events & EVA_WRITE) {
        conn_flush(c);
        return; /* conn_flush may have closed it */
    }
    ssize_t n = recv(c->fd, c->in + c->have, sizeof c->in - c->have, 0);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        conn_close(c);
        return;
    }
    c->have += (size_t)n;
    size_t pos = 0;
    while (c->have - pos >= 2) {
        size_t len = ((size_t)c->in[pos] << 8) | c->in[pos + 1];
        if (c->have - pos < 2 + len)
            break;
        uint8_t q[MAX_MSG];
        if (len <= sizeof q) {
            memcpy(q, c->in + pos + 2, len);
            pos += 2 + len;
            /* reply() closes c only when a send fails; then the peer is gone
             * and what remains unread does not matter, but c must not be
             * touched */
            reply(r, c, NULL, q, len);
            if (!conn_alive(r, c))
                return;
        } else {
            pos += 2 + len;
        }
    }
    memmove(c->in, c->in + pos, c->have - pos);
    c->have -= pos;
}

static void on_accept(eva_io *io, int events) {
    (void)events;
    dns_responder *r = io->data;
    for (;;) {
        int fd = accept(r->tcp_fd, NULL, NULL);
        if (fd < 0)
            return;
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        conn *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->r = r;
        c->fd = fd;
        c->next = r->conns;
        if (r->conns)
            r->conns->prev = c;
        r->conns = c;
        eva_io_init(r->loop, &c->io);
        eva_io_start(&c->io, fd, EVA_READ, on_conn_io, c);
    }
}

/* ---- life cycle ----------------------------------------------------------------------------- */

static int bind_socket(int type, uint16_t port, int *fd_out, uint16_t *port_out) {
    int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (type == SOCK_DGRAM) {
        /* a thousand queries can arrive before the loop reads any: make room
         * (FORCE needs CAP_NET_ADMIN; the plain option is capped by rmem_max) */
        int size = 8 << 20;
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) < 0)
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    }
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sin;
    if (bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0 ||
        (type == SOCK_STREAM && listen(fd, 128) < 0) ||
        getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    *fd_out = fd;
    *port_out = ntohs(sin.sin_port);
    return 0;
}

int dns_responder_start(eva_loop *loop, uint16_t port, dns_responder **out) {
    dns_responder *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->loop = loop;
    int rc = -EADDRINUSE;
    /* an ephemeral UDP port may be taken for TCP: try a few */
    for (int attempt = 0; attempt < 20 && rc == -EADDRINUSE; attempt++) {
        rc = bind_socket(SOCK_DGRAM, port, &r->udp_fd, &r->port);
        if (rc < 0)
            break;
        uint16_t tcp_port;
        rc = bind_socket(SOCK_STREAM, r->port, &r->tcp_fd, &tcp_port);
        if (rc < 0)
            close(r->udp_fd);
    }
    if (rc < 0) {
        free(r);
        return rc;
    }
    snprintf(r->servers, sizeof r->servers, "127.0.0.1:%u", (unsigned)r->port);
    eva_io_init(loop, &r->udp_io);
    eva_io_init(loop, &r->tcp_io);
    eva_io_start(&r->udp_io, r->udp_fd, EVA_READ, on_udp, r);
    eva_io_start(&r->tcp_io, r->tcp_fd, EVA_READ, on_accept, r);
    *out = r;
    return 0;
}

void dns_responder_stop(dns_responder *r) {
    if (!r)
        return;
    while (r->conns)
        conn_close(r->conns);
    while (r->pendings)
        pending_free(r->pendings);
    if (r->up) {
        eva_io_stop(&r->up->io);
        close(r->up->fd);
        free(r->up);
    }
    eva_io_stop(&r->udp_io);
    eva_io_stop(&r->tcp_io);
    close(r->udp_fd);
    close(r->tcp_fd);
    while (r->entries) {
        entry *e = r->entries;
        r->entries = e->next;
        free(e);
    }
    free(r);
}
