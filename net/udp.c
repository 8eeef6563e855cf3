/* net/udp.c — a UDP socket's life: open, bind, connect, options, close, and
 * the per-loop list that eva_loop_destroy closes. */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "udp_internal.h"

/* ---- the loop's open sockets ------------------------------------------------------ */

typedef struct udp_loop {
    eva__layer layer;
    eva_queue socks; /* eva_udp */
} udp_loop;
EVA__LAYER_FIRST(udp_loop, layer);

static eva__layer_key udp_key;

static bool udp_layer_cancel(eva__layer *layer) {
    udp_loop *ul = EVA__CONTAINER_OF(layer, udp_loop, layer);
    bool closed = !eva__queue_empty(&ul->socks);
    eva_queue *n;
    while ((n = eva__queue_first(&ul->socks))) /* closing unlinks it */
        eva_udp_close(EVA__QUEUE_DATA(n, eva_udp, node), NULL);
    return closed;
}

static void udp_layer_close(eva__layer *layer) { eva__free(EVA__CONTAINER_OF(layer, udp_loop, layer)); }

static udp_loop *udp_loop_get(eva_loop *loop) {
    udp_loop *ul = eva__layer_get(loop, &udp_key);
    if (ul)
        return ul;
    ul = eva__calloc(1, sizeof *ul);
    if (!ul)
        return NULL;
    eva__queue_init(&ul->socks);
    ul->layer.cancel = udp_layer_cancel;
    ul->layer.close = udp_layer_close;
    if (eva__layer_attach(loop, &udp_key, &ul->layer) < 0) {
        eva__free(ul);
        return NULL;
    }
    return ul;
}

/* ---- open ---------------------------------------------------------------------------- */

static void on_rio(struct ev_loop *ev, ev_io *w, int revents) {
    (void)ev;
    (void)revents;
    eva__udp_on_readable(EVA__CONTAINER_OF(w, eva_udp, rio));
}

static void on_wio(struct ev_loop *ev, ev_io *w, int revents) {
    (void)ev;
    (void)revents;
    eva__udp_on_writable(EVA__CONTAINER_OF(w, eva_udp, wio));
}

bool eva_udp_is_open(const eva_udp *udp) { return udp && udp->loop && udp->fd >= 0; }

int eva_udp_get_fd(const eva_udp *udp) { return eva_udp_is_open(udp) ? udp->fd : -EBADF; }

int eva_udp_open(eva_loop *loop, eva_udp *udp, int family) {
    if (!loop || !udp || (family != AF_INET && family != AF_INET6))
        return -EINVAL;
    if (eva_udp_is_open(udp) || eva__queue_linked(&udp->close_call.node))
        return -EBUSY; /* open, or its close callback has not run yet */
    udp_loop *ul = udp_loop_get(loop);
    if (!ul)
        return -ENOMEM;
    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    void *data = udp->data;
    *udp = (eva_udp){.data = data, .loop = loop, .fd = fd, .family = family};
    ev_io_init(&udp->rio, on_rio, fd, EV_READ);
    ev_io_init(&udp->wio, on_wio, fd, EV_WRITE);
    eva__queue_insert_tail(&ul->socks, &udp->node);
    return 0;
}

/* ---- addresses ------------------------------------------------------------------------ */

int eva__udp_check_addr(const eva_udp *udp, const struct sockaddr *addr, socklen_t addrlen, bool allow_null) {
    if (!addr)
        return allow_null && addrlen == 0 ? 0 : -EINVAL;
    socklen_t need = udp->family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    if (addrlen < need || addrlen > sizeof(eva_udp_addr) || addr->sa_family != udp->family)
        return -EINVAL;
    return 0;
}

static int sock_check(const eva_udp *udp) {
    if (!udp)
        return -EINVAL;
    return eva_udp_is_open(udp) ? 0 : -ENOTCONN;
}

static int set_int_opt(eva_udp *udp, int level, int name, int value) {
    int rc = sock_check(udp);
    if (rc < 0)
        return rc;
    return setsockopt(udp->fd, level, name, &value, sizeof value) < 0 ? -errno : 0;
}

int eva_udp_bind(eva_udp *udp, const struct sockaddr *addr, socklen_t addrlen, unsigned flags) {
    int rc = sock_check(udp);
    if (rc < 0)
        return rc;
    if (eva__udp_check_addr(udp, addr, addrlen, false) < 0 ||
        (flags & ~(unsigned)(EVA_UDP_REUSEADDR | EVA_UDP_REUSEPORT | EVA_UDP_IPV6_ONLY)))
        return -EINVAL;
    if ((flags & EVA_UDP_IPV6_ONLY) && udp->family != AF_INET6)
        return -EINVAL;
    if ((flags & EVA_UDP_REUSEADDR) && (rc = set_int_opt(udp, SOL_SOCKET, SO_REUSEADDR, 1)) < 0)
        return rc;
    if ((flags & EVA_UDP_REUSEPORT) && (rc = set_int_opt(udp, SOL_SOCKET, SO_REUSEPORT, 1)) < 0)
        return rc;
    if (udp->family == AF_INET6 &&
        (rc = set_int_opt(udp, IPPROTO_IPV6, IPV6_V6ONLY, (flags & EVA_UDP_IPV6_ONLY) != 0)) < 0)
        return rc;
    return bind(udp->fd, addr, addrlen) < 0 ? -errno : 0;
}

int eva_udp_connect(eva_udp *udp, const struct sockaddr *addr, socklen_t addrlen) {
    int rc = sock_check(udp);
    if (rc < 0)
        return rc;
    if (eva__udp_check_addr(udp, addr, addrlen, false) < 0)
        return -EINVAL;
    if (connect(udp->fd, addr, addrlen) < 0)
        return -errno;
    udp->connected = true;
    return 0;
}

int eva_udp_get_sockname(const eva_udp *udp, struct sockaddr *addr, socklen_t *addrlen) {
    int rc = sock_check(udp);
    if (rc < 0)
        return rc;
    if (!addr || !addrlen)
        return -EINVAL;
    return getsockname(udp->fd, addr, addrlen) < 0 ? -errno : 0;
}

int eva_udp_get_port(const eva_udp *udp) {
    eva_udp_addr a;
    socklen_t len = sizeof a;
    int rc = eva_udp_get_sockname(udp, &a.sa, &len);
    if (rc < 0)
        return rc;
    return ntohs(a.sa.sa_family == AF_INET ? a.in.sin_port : a.in6.sin6_port);
}

/* ---- options ---------------------------------------------------------------------------- */

static int ip_level(const eva_udp *udp) { return udp->family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6; }

int eva_udp_set_broadcast(eva_udp *udp, bool on) { return set_int_opt(udp, SOL_SOCKET, SO_BROADCAST, on); }

int eva_udp_set_multicast_ttl(eva_udp *udp, int ttl) {
    if (!udp || ttl < 0 || ttl > 255)
        return -EINVAL;
    return set_int_opt(udp, ip_level(udp), udp->family == AF_INET ? IP_MULTICAST_TTL : IPV6_MULTICAST_HOPS, ttl);
}

int eva_udp_set_multicast_loop(eva_udp *udp, bool on) {
    if (!udp)
        return -EINVAL;
    return set_int_opt(udp, ip_level(udp), udp->family == AF_INET ? IP_MULTICAST_LOOP : IPV6_MULTICAST_LOOP, on);
}

int eva_udp_set_recv_buffer(eva_udp *udp, int bytes) {
    if (!udp || bytes <= 0)
        return -EINVAL;
    /* SO_RCVBUFFORCE goes past net.core.rmem_max; only with CAP_NET_ADMIN */
    if (set_int_opt(udp, SOL_SOCKET, SO_RCVBUFFORCE, bytes) == 0)
        return 0;
    return set_int_opt(udp, SOL_SOCKET, SO_RCVBUF, bytes);
}

static bool is_multicast(const struct sockaddr *group) {
    if (group->sa_family == AF_INET)
        return IN_MULTICAST(ntohl(((const struct sockaddr_in *)(const void *)group)->sin_addr.s_addr));
    return IN6_IS_ADDR_MULTICAST(&((const struct sockaddr_in6 *)(const void *)group)->sin6_addr);
}

static int membership(eva_udp *udp, const struct sockaddr *group, unsigned ifindex, bool join) {
    int rc = sock_check(udp);
    if (rc < 0)
        return rc;
    socklen_t len = udp->family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    if (eva__udp_check_addr(udp, group, len, false) < 0 || !is_multicast(group))
        return -EINVAL;
    if (udp->family == AF_INET) {
        struct ip_mreqn m = {.imr_multiaddr = ((const struct sockaddr_in *)(const void *)group)->sin_addr,
                             .imr_ifindex = (int)ifindex};
        rc = setsockopt(udp->fd, IPPROTO_IP, join ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP, &m, sizeof m);
    } else {
        struct ipv6_mreq m = {.ipv6mr_multiaddr = ((const struct sockaddr_in6 *)(const void *)group)->sin6_addr,
                              .ipv6mr_interface = ifindex};
        rc = setsockopt(udp->fd, IPPROTO_IPV6, join ? IPV6_ADD_MEMBERSHIP : IPV6_DROP_MEMBERSHIP, &m, sizeof m);
    }
    return rc < 0 ? -errno : 0;
}

int eva_udp_join_group(eva_udp *udp, const struct sockaddr *group, unsigned ifindex) {
    return membership(udp, group, ifindex, true);
}

int eva_udp_leave_group(eva_udp *udp, const struct sockaddr *group, unsigned ifindex) {
    return membership(udp, group, ifindex, false);
}

/* ---- close ---------------------------------------------------------------------------------- */

static void on_closed(eva_loop *loop, int status, void *arg) {
    (void)status; /* at loop destroy it still runs, once */
    eva_udp *udp = arg;
    eva_udp_close_fn cb = udp->close_cb;
    udp->close_cb = NULL;
    EVA__CALL_USER(loop, cb, cb(udp));
}

int eva_udp_close(eva_udp *udp, eva_udp_close_fn cb) {
    if (!udp)
        return -EINVAL;
    if (!eva_udp_is_open(udp))
        return 0;
    struct ev_loop *ev = eva_loop_get_ev(udp->loop);
    ev_io_stop(ev, &udp->rio);
    ev_io_stop(ev, &udp->wio);
    eva__udp_recv_abort(udp, -ECANCELED);
    eva__udp_recv_free_batch(udp);
    eva__udp_send_abort(udp, -ECANCELED);
    close(udp->fd);
    udp->fd = -1;
    udp->connected = false;
    eva__queue_remove(&udp->node);
    if (cb) { /* queued after the aborted requests' completions */
        udp->close_cb = cb;
        eva_loop_defer(udp->loop, &udp->close_call, on_closed, udp);
    }
    return 0;
}
