/* net/dns_channel.c — the loop's c-ares channel, driven by libev.
 *
 * c-ares tells us which sockets it wants watched (ARES_OPT_SOCK_STATE_CB):
 * each gets an ev_io, stopped and freed when c-ares reports read=0,write=0.
 * One ev_timer is re-armed from ares_timeout() so timeouts and retries fire
 * without traffic.  These watchers are unreferenced (ev_unref): they never
 * keep a loop alive by themselves; pending queries do (see dns.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns_internal.h"

/* ---- c-ares's allocations go through evasync's allocator ------------------------ */

static void *ares_alloc_hook(size_t size) { return eva__alloc(size); }
static void *ares_realloc_hook(void *ptr, size_t size) { return eva__realloc(ptr, size); }
static void ares_free_hook(void *ptr) { eva__free(ptr); }

/* Once per process, under a lock rather than pthread_once: an attempt that
 * failed (out of memory) is made again by the next channel instead of
 * leaving DNS failing for the rest of the process (net/tls_io.c's BIO
 * method has the same rule).  ARES_SUCCESS, or the last attempt's error. */
static pthread_mutex_t library_lock = PTHREAD_MUTEX_INITIALIZER;
static bool library_ready;

static int library_init(void) {
    pthread_mutex_lock(&library_lock);
    int st = library_ready ? ARES_SUCCESS
                           : ares_library_init_mem(ARES_LIB_INIT_ALL, ares_alloc_hook, ares_free_hook,
                                                   ares_realloc_hook);
    library_ready = st == ARES_SUCCESS;
    pthread_mutex_unlock(&library_lock);
    return st;
}

/* ---- status codes ------------------------------------------------------------------ */

int eva__dns_status(int st, const char **message) {
    const char *m;
    int code;
    switch (st) {
    case ARES_SUCCESS:      code = 0; m = "success"; break;
    case ARES_ENOTFOUND:    code = EVA_EDNS_NOTFOUND; m = "DNS: name not found (NXDOMAIN)"; break;
    case ARES_ENODATA:      code = EVA_EDNS_NOTFOUND; m = "DNS: the name has no address of the requested family"; break;
    case ARES_ENONAME:      code = EVA_EDNS_NOTFOUND; m = "DNS: the address has no name"; break;
    case ARES_ESERVFAIL:    code = EVA_EDNS_SERVFAIL; m = "DNS: server failure (SERVFAIL) on every try"; break;
    case ARES_EREFUSED:     code = EVA_EDNS_REFUSED; m = "DNS: the server refused the query (REFUSED)"; break;
    case ARES_ENOTIMP:      code = EVA_EDNS_REFUSED; m = "DNS: the server does not implement the query (NOTIMP)"; break;
    case ARES_EFORMERR:     code = EVA_EDNS_REFUSED; m = "DNS: the server could not parse the query (FORMERR)"; break;
    case ARES_EBADNAME:
    case ARES_EBADSTR:
    case ARES_EBADQUERY:    code = EVA_EDNS_BADNAME; m = "DNS: malformed host name"; break;
    case ARES_EBADRESP:     code = EVA_EDNS_BADREPLY; m = "DNS: malformed reply"; break;
    case ARES_EOF:          code = EVA_EDNS_BADREPLY; m = "DNS: the server closed the connection before replying"; break;
    case ARES_ETIMEOUT:     code = -ETIMEDOUT; m = "DNS: no reply from any server (timed out on every try)"; break;
    case ARES_ECONNREFUSED: code = -ECONNREFUSED; m = "DNS: no server gave an answer (unreachable, or each refused or failed the query)"; break;
    case ARES_ENOMEM:       code = -ENOMEM; m = "DNS: out of memory"; break;
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION: code = -ECANCELED; m = "DNS: query cancelled"; break;
    case ARES_EBADFAMILY:
    case ARES_EBADFLAGS:
    case ARES_EBADHINTS:
    case ARES_ESERVICE:     code = -EINVAL; m = "DNS: invalid request"; break;
    default:                code = -EIO; m = ares_strerror(st); break; /* static strings */
    }
    if (message)
        *message = m;
    return code;
}

/* ---- the timer ---------------------------------------------------------------------- */

static void timer_stop(eva__dns_loop *dl) {
    if (dl->timer_active) {
        ev_ref(dl->loop->ev); /* balance the unref before stopping (libev's rule) */
        ev_timer_stop(dl->loop->ev, &dl->timer);
        dl->timer_active = false;
    }
}

/* Arm the timer exactly from ares_timeout() (which walks c-ares's queries). */
static void timer_arm(eva__dns_loop *dl) {
    struct timeval tv, *next = dl->channel ? ares_timeout(dl->channel, NULL, &tv) : NULL;
    if (!next) {
        timer_stop(dl);
        return;
    }
    struct ev_loop *ev = dl->loop->ev;
    /* 1 ms late rather than early: c-ares then finds the timeout expired */
    double after = (double)next->tv_sec + (double)next->tv_usec / 1e6 + 1e-3;
    dl->timer.repeat = after; /* a repeating timer is never stopped by libev */
    ev_timer_again(ev, &dl->timer);
    dl->timer_at = ev_now(ev) + after;
    if (!dl->timer_active) {
        ev_unref(ev);
        dl->timer_active = true;
    }
}

/* Every deadline c-ares sets is at least one per-try timeout from now, so a
 * timer already due before that is still right (firing early only re-arms). */
void eva__dns_timer_touch(eva__dns_loop *dl) {
    if (!dl->timer_active || dl->timer_at > ev_now(dl->loop->ev) + dl->first_try)
        timer_arm(dl);
}

static void drain(eva__dns_loop *dl) {
    eva__dns_ctx *batch = dl->done_head; /* completions queued meanwhile wait a turn */
    dl->done_head = dl->done_tail = NULL;
    while (batch) {
        eva__dns_ctx *c = batch;
        batch = c->next_done;
        eva__dns_deliver(c);
    }
}

/* ---- pacing ------------------------------------------------------------------------------ */

static void launch(eva__dns_loop *dl, eva__dns_ctx *c) {
    dl->in_flight++; /* before the call: a hosts-file answer releases it inside */
    dl->in_ares++;
    eva__dns_ask(dl, c);
    dl->in_ares--;
}

void eva__dns_submit(eva__dns_loop *dl, eva__dns_ctx *c) {
    if (dl->in_flight < dl->window && eva__queue_empty(&dl->waiting)) { /* FIFO: never overtake */
        launch(dl, c);
        eva__dns_timer_touch(dl);
        return;
    }
    c->waiting = true;
    dl->queued++;
    eva__queue_insert_tail(&dl->waiting, &c->wait_node);
}

void eva__dns_pump(eva__dns_loop *dl) {
    bool launched = false;
    eva_queue *n;
    while (dl->in_flight < dl->window && !dl->closing && (n = eva__queue_first(&dl->waiting))) {
        eva__dns_ctx *c = EVA__QUEUE_DATA(n, eva__dns_ctx, wait_node);
        eva__queue_remove(n);
        c->waiting = false;
        dl->queued--;
        launch(dl, c);
        launched = true;
    }
    if (launched)
        eva__dns_timer_touch(dl);
}

void eva__dns_release(eva__dns_loop *dl) { dl->in_flight--; }

void eva__dns_unqueue(eva__dns_ctx *c) {
    c->dl->queued--;
    eva__queue_remove(&c->wait_node);
    eva__free(c);
}

/* Let c-ares handle readiness (or timeouts, with both fds ARES_SOCKET_BAD),
 * launch what the freed slots allow, then deliver what completed, outside
 * c-ares. */
static void process(eva__dns_loop *dl, ares_socket_t rfd, ares_socket_t wfd, bool exact) {
    if (dl->channel) {
        dl->processing = true;
        dl->in_ares++;
        ares_process_fd(dl->channel, rfd, wfd);
        dl->in_ares--;
        dl->processing = false;
    }
    eva__dns_pump(dl);
    drain(dl);
    if (exact)
        timer_arm(dl); /* the timer fired: this is where a late deadline is caught up */
    else
        eva__dns_timer_touch(dl);
}

static void on_timer(struct ev_loop *ev, ev_timer *w, int revents) {
    (void)ev;
    (void)revents;
    eva__dns_loop *dl = EVA__CONTAINER_OF(w, eva__dns_loop, timer);
    process(dl, ARES_SOCKET_BAD, ARES_SOCKET_BAD, true);
}

/* ---- the completions ------------------------------------------------------------------ */

static void on_drain_call(eva_loop *loop, int status, void *arg) {
    (void)loop;
    (void)status; /* at loop destroy too: the contexts must be freed */
    eva__dns_loop *dl = arg;
    dl->drain_queued = false;
    drain(dl);
}

void eva__dns_done(eva__dns_loop *dl, eva__dns_ctx *ctx) {
    ctx->next_done = NULL;
    if (dl->done_tail)
        dl->done_tail->next_done = ctx;
    else
        dl->done_head = ctx;
    dl->done_tail = ctx;
    /* inside ares_process_fd, process() drains on return; anywhere else
     * (a numeric or hosts-file answer inside ares_getaddrinfo) the next
     * loop iteration does */
    if (!dl->processing && !dl->drain_queued) {
        dl->drain_queued = true;
        eva_loop_defer(dl->loop, &dl->drain_call, on_drain_call, dl);
    }
}

/* ---- the sockets ----------------------------------------------------------------------- */

static void sock_stop(eva__dns_loop *dl, eva__dns_sock *s) {
    if (s->active) {
        ev_ref(dl->loop->ev);
        ev_io_stop(dl->loop->ev, &s->io);
        s->active = false;
    }
}

static void on_sock(struct ev_loop *ev, ev_io *w, int revents) {
    eva__dns_sock *s = EVA__CONTAINER_OF(w, eva__dns_sock, io);
    eva__dns_loop *dl = s->dl;
    int fd = s->fd;
    if (revents & EV_ERROR) {
        /* libev could not watch the fd and stopped the watcher: balance the
         * unref, and let c-ares find the error on both directions */
        ev_ref(ev);
        s->active = false;
        revents |= EV_READ | EV_WRITE;
    }
    /* s may be freed from here on (c-ares closing the socket) */
    process(dl, (revents & EV_READ) ? fd : ARES_SOCKET_BAD, (revents & EV_WRITE) ? fd : ARES_SOCKET_BAD,
            false);
}

static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable) {
    eva__dns_loop *dl = data;
    eva__dns_sock **link = &dl->socks, *s;
    while ((s = *link) && s->fd != fd)
        link = &s->next;
    int events = (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);
    if (!events) {
        if (s) {
            sock_stop(dl, s);
            *link = s->next;
            eva__free(s);
        }
        return;
    }
    if (!s) {
        s = eva__calloc(1, sizeof *s);
        if (!s) {
            eva__log(dl->loop, EVA_LOG_ERROR,
                     "DNS: out of memory watching socket %d: its queries will time out", fd);
            return;
        }
        s->dl = dl;
        s->fd = fd;
        ev_init(&s->io, on_sock);
        s->next = dl->socks;
        dl->socks = s;
    } else if (s->active && (s->io.events & (EV_READ | EV_WRITE)) == events) {
        return;
    }
    sock_stop(dl, s);
    ev_io_set(&s->io, fd, events);
    ev_io_start(dl->loop->ev, &s->io);
    ev_unref(dl->loop->ev);
    s->active = true;
}

/* ---- channels ------------------------------------------------------------------------- */

/* Check a "host[:port][,host[:port]]..." list (an IPv6 host with a port in
 * brackets: "[::1]:53") before c-ares, which is lenient about ports.  The
 * number of servers, or -EINVAL. */
static int count_servers(const char *csv) {
    int n = 0;
    const char *p = csv;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char entry[80], host[80];
        if (len == 0 || len >= sizeof entry)
            return -EINVAL;
        memcpy(entry, p, len);
        entry[len] = '\0';
        const char *port = NULL;
        if (entry[0] == '[') {
            char *close = strchr(entry, ']');
            if (!close || close[1] != ':') /* c-ares takes brackets only before a port */
                return -EINVAL;
            *close = '\0';
            port = close + 2;
            snprintf(host, sizeof host, "%s", entry + 1);
        } else {
            char *colon = strchr(entry, ':');
            if (colon && strchr(colon + 1, ':')) { /* a bare IPv6 address */
                snprintf(host, sizeof host, "%s", entry);
            } else {
                if (colon) {
                    *colon = '\0';
                    port = colon + 1;
                }
                snprintf(host, sizeof host, "%s", entry);
            }
        }
        unsigned char buf[sizeof(struct in6_addr)];
        if (inet_pton(AF_INET, host, buf) != 1 && inet_pton(AF_INET6, host, buf) != 1)
            return -EINVAL;
        if (port) {
            size_t digits = strspn(port, "0123456789");
            if (digits == 0 || digits > 5 || port[digits] != '\0' || atol(port) < 1 || atol(port) > 65535)
                return -EINVAL;
        }
        n++;
        if (!end)
            return n;
        p = end + 1;
    }
}

/* The pacing window opts asks for (0: the default). */
static int window_of(const eva_dns_options *opts) {
    return opts && opts->max_in_flight > 0 ? opts->max_in_flight : EVA_DNS_DEFAULT_MAX_IN_FLIGHT;
}

/* A socket buffer that holds a whole window's datagrams at once: a lookup
 * has up to two queries out (A and AAAA), and the kernel charges each small
 * datagram its buffer's true size, under 2 KiB on loopback and Ethernet.
 * Never below Linux's usual default (net.core.rmem_default, 208 KiB), so
 * pacing never shrinks a buffer; the kernel caps it at net.core.rmem_max /
 * wmem_max. */
static int buffer_for(int window) {
    enum { PER_LOOKUP = 2 * 2048, FLOOR = 212992 };
    if (window > INT_MAX / PER_LOOKUP)
        return INT_MAX;
    return window * PER_LOOKUP > FLOOR ? window * PER_LOOKUP : FLOOR;
}

/* The resolver options of /etc/resolv.conf (and RES_OPTIONS) as glibc reads
 * them, for what c-ares 1.18 reads differently: it knows "options
 * timeout:" and "attempts:" only as "retrans:" and "retry:" (so it kept 5 s
 * and 4 tries where glibc took the file's), it does not cap them (glibc: 30
 * s, 5 attempts, ndots 15), and its default is 4 tries where glibc's is 2.
 * getaddrinfo's timeouts and tries follow; the servers, search list and
 * sort list are c-ares's own reading (they agree).  false if glibc could
 * not read them. */
static bool system_options(struct ares_options *o, int *mask, const eva_dns_options *opts) {
    struct __res_state rs;
    memset(&rs, 0, sizeof rs);
    if (res_ninit(&rs) != 0)
        return false;
    if (!(opts && opts->timeout_ms > 0)) {
        o->timeout = rs.retrans * 1000;
        *mask |= ARES_OPT_TIMEOUTMS;
    }
    if (!(opts && opts->tries > 0)) {
        o->tries = rs.retry;
        *mask |= ARES_OPT_TRIES;
    }
    o->ndots = (int)rs.ndots;
    *mask |= ARES_OPT_NDOTS | ((rs.options & RES_ROTATE) ? ARES_OPT_ROTATE : ARES_OPT_NOROTATE);
    res_nclose(&rs);
    return true;
}

static int channel_init(eva__dns_loop *dl, const eva_dns_options *opts, int flags, ares_channel *out) {
    struct ares_options o;
    memset(&o, 0, sizeof o);
    int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_FLAGS;
    o.flags = flags;
    o.sock_state_cb = on_sock_state;
    o.sock_state_cb_data = dl;
    if (opts && opts->timeout_ms > 0) {
        o.timeout = opts->timeout_ms;
        mask |= ARES_OPT_TIMEOUTMS;
    }
    if (opts && opts->tries > 0) {
        o.tries = opts->tries;
        mask |= ARES_OPT_TRIES;
    }
    if (!system_options(&o, &mask, opts))
        eva__log(dl->loop, EVA_LOG_WARN, "DNS: res_ninit failed: c-ares reads resolv.conf's options alone");
    int window = window_of(opts);
    o.socket_receive_buffer_size = opts && opts->recv_buffer > 0 ? opts->recv_buffer : buffer_for(window);
    o.socket_send_buffer_size = opts && opts->send_buffer > 0 ? opts->send_buffer : buffer_for(window);
    mask |= ARES_OPT_SOCK_RCVBUF | ARES_OPT_SOCK_SNDBUF;
    ares_channel ch;
    int st = ares_init_options(&ch, &o, mask);
    if (st != ARES_SUCCESS) {
        if (st == ARES_ENOMEM)
            return -ENOMEM;
        eva__log(dl->loop, EVA_LOG_ERROR, "DNS: c-ares could not initialise a channel: %s",
                 ares_strerror(st));
        return -EIO;
    }
    if (opts && opts->servers) {
        st = ares_set_servers_ports_csv(ch, opts->servers);
        if (st != ARES_SUCCESS) {
            ares_destroy(ch); /* no query, no socket: nothing calls back */
            return st == ARES_ENOMEM ? -ENOMEM : -EINVAL;
        }
    }
    *out = ch;
    return 0;
}

/* The number of servers the channel uses, or a negative code. */
static int channel_servers(ares_channel ch) {
    struct ares_addr_port_node *list;
    int st = ares_get_servers_ports(ch, &list);
    if (st != ARES_SUCCESS)
        return st == ARES_ENOMEM ? -ENOMEM : -EIO;
    int n = 0;
    for (struct ares_addr_port_node *s = list; s; s = s->next)
        n++;
    ares_free_data(list);
    return n;
}

/* A channel for opts (NULL: the system's configuration).
 *
 * c-ares 1.18 answers SERVFAIL, REFUSED and NOTIMP replies by trying the
 * next server, and when every try met one of them it reports
 * ARES_ECONNREFUSED, losing the server's answer.  That failover is worth it
 * with several servers; with one there is nothing to fail over to, so the
 * channel reports the server's answer as it is (ARES_FLAG_NOCHECKRESP). */
static int channel_new(eva__dns_loop *dl, const eva_dns_options *opts, ares_channel *out) {
    int library_status = library_init();
    if (library_status != ARES_SUCCESS) {
        eva__log(dl->loop, EVA_LOG_ERROR, "DNS: c-ares library initialisation failed: %s",
                 ares_strerror(library_status));
        return library_status == ARES_ENOMEM ? -ENOMEM : -EIO;
    }
    int nservers = 0;
    if (opts && opts->servers) {
        nservers = count_servers(opts->servers);
        if (nservers < 0)
            return nservers;
    }
    ares_channel ch;
    int rc = channel_init(dl, opts, nservers == 1 ? ARES_FLAG_NOCHECKRESP : 0, &ch);
    if (rc < 0)
        return rc;
    if (nservers == 0) { /* the system's servers: count them, and start over for one */
        nservers = channel_servers(ch);
        if (nservers == 1) {
            ares_destroy(ch);
            rc = channel_init(dl, opts, ARES_FLAG_NOCHECKRESP, &ch);
        } else if (nservers < 0) {
            ares_destroy(ch);
            rc = nservers;
        }
        if (rc < 0)
            return rc;
    }
    /* The per-try timeout, for eva__dns_timer_touch; 0 (always re-arm
     * exactly) if c-ares cannot tell us. */
    dl->first_try = 0;
    struct ares_options saved;
    int saved_mask;
    if (ares_save_options(ch, &saved, &saved_mask) == ARES_SUCCESS) {
        if (saved_mask & ARES_OPT_TIMEOUTMS)
            dl->first_try = saved.timeout / 1e3;
        else if (saved_mask & ARES_OPT_TIMEOUT)
            dl->first_try = saved.timeout;
        ares_destroy_options(&saved);
    }
    dl->window = window_of(opts);
    *out = ch;
    return 0;
}

int eva__dns_channel(eva__dns_loop *dl) {
    if (dl->channel)
        return 0;
    return channel_new(dl, NULL, &dl->channel);
}

int eva_dns_configure(eva_loop *loop, const eva_dns_options *opts) {
    if (!loop)
        return -EINVAL;
    if (opts && (opts->timeout_ms < 0 || opts->tries < 0 || opts->recv_buffer < 0 ||
                 opts->send_buffer < 0 || opts->max_in_flight < 0 || (opts->servers && !opts->servers[0]) ||
                 opts->cache_size < EVA_DNS_CACHE_OFF || opts->cache_negative_ttl < EVA_DNS_CACHE_OFF))
        return -EINVAL;
    eva__dns_loop *dl = eva__dns_loop_get(loop);
    if (!dl)
        return -ENOMEM;
    if (dl->closing)
        return -ECANCELED;
    if (dl->pending > 0 || dl->in_ares > 0)
        return -EBUSY;
    ares_channel ch;
    int rc = channel_new(dl, opts, &ch);
    if (rc < 0)
        return rc;
    ares_channel old = dl->channel;
    dl->channel = ch;
    eva__dns_cache_configure(&dl->cache, opts); /* the old servers' answers go */
    if (old) {
        /* Only cancelled queries can be left on it: their contexts are freed
         * by the ARES_EDESTRUCTION callbacks, and its sockets unwatched.
         * User code never runs inside c-ares, so this is not inside a c-ares
         * callback. */
        dl->in_ares++;
        ares_destroy(old);
        dl->in_ares--;
    }
    timer_arm(dl);
    return 0;
}

/* ---- the loop layer ------------------------------------------------------------------- */

/* At loop destroy: every pending query completes with -ECANCELED (through a
 * deferred call, which the loop runs in this same destroy). */
static bool dns_cancel(eva__layer *layer) {
    eva__dns_loop *dl = EVA__CONTAINER_OF(layer, eva__dns_loop, layer);
    dl->closing = true;
    bool any = !eva__queue_empty(&dl->pending_list);
    eva_queue *n;
    while ((n = eva__queue_first(&dl->pending_list))) /* cancelling detaches it */
        eva_dns_cancel(EVA__QUEUE_DATA(n, eva_dns_query, node));
    return any;
}

/* The loop is quiescent: destroy the channel (never from inside c-ares: loop
 * destroy is not allowed inside a loop callback) and free everything. */
static void dns_close(eva__layer *layer) {
    eva__dns_loop *dl = EVA__CONTAINER_OF(layer, eva__dns_loop, layer);
    if (dl->channel) {
        dl->in_ares++;
        ares_destroy(dl->channel); /* detached contexts get ARES_EDESTRUCTION: freed */
        dl->in_ares--;
        dl->channel = NULL;
    }
    eva__dns_cache_flush(&dl->cache);
    dl->drain_queued = false; /* the loop ran every deferred call before closing */
    drain(dl);                /* nothing attached is left: this only frees */
    timer_stop(dl);
    while (dl->socks) {       /* ares_destroy reported every socket closed; be safe */
        eva__dns_sock *s = dl->socks;
        dl->socks = s->next;
        sock_stop(dl, s);
        eva__free(s);
    }
    eva__free(dl);
}

static eva__layer_key dns_key;
EVA__LAYER_FIRST(eva__dns_loop, layer);

eva__dns_loop *eva__dns_loop_find(const eva_loop *loop) {
    return eva__layer_get(loop, &dns_key);
}

eva__dns_loop *eva__dns_loop_get(eva_loop *loop) {
    eva__dns_loop *dl = eva__dns_loop_find(loop);
    if (dl)
        return dl;
    dl = eva__calloc(1, sizeof *dl);
    if (!dl)
        return NULL;
    dl->loop = loop;
    eva__queue_init(&dl->pending_list);
    eva__queue_init(&dl->waiting);
    dl->window = EVA_DNS_DEFAULT_MAX_IN_FLIGHT;
    eva__dns_cache_configure(&dl->cache, NULL);
    ev_init(&dl->timer, on_timer);
    dl->layer.cancel = dns_cancel;
    dl->layer.close = dns_close;
    if (eva__layer_attach(loop, &dns_key, &dl->layer) < 0) {
        eva__free(dl);
        return NULL;
    }
    return dl;
}

int eva_dns_get_pending(const eva_loop *loop) {
    if (!loop)
        return -EINVAL;
    const eva__dns_loop *dl = eva__dns_loop_find(loop);
    return dl ? dl->pending : 0;
}

int eva_dns_get_queued(const eva_loop *loop) {
    if (!loop)
        return -EINVAL;
    const eva__dns_loop *dl = eva__dns_loop_find(loop);
    return dl ? dl->queued : 0;
}

int eva__dns_channel_options(eva_loop *loop, struct ares_options *out, int *mask) {
    eva__dns_loop *dl = eva__dns_loop_get(loop);
    if (!dl)
        return -ENOMEM;
    int rc = eva__dns_channel(dl);
    if (rc < 0)
        return rc;
    return ares_save_options(dl->channel, out, mask) == ARES_SUCCESS ? 0 : -ENOMEM;
}
