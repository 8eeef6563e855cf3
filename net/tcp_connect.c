/* net/tcp_connect.c — non-blocking connect with a timeout. */
#define _DEFAULT_SOURCE /* TCP_NODELAY */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include "net_internal.h"

static void on_connect_deferred(eva_loop *loop, int status, void *arg) {
    (void)loop;
    (void)status; /* ours is cn.status; at loop destroy it still runs once */
    eva_tcp *tcp = arg;
    eva_tcp_status_fn cb = tcp->cn.cb;
    tcp->cn.cb = NULL;
    EVA__CALL_USER(tcp->loop, cb, cb(tcp, tcp->cn.status));
}

/* The connect is over: status 0 (check SO_ERROR), -ETIMEDOUT or -ECANCELED.
 * A failed connection is closed again, so the struct can connect anew. */
void eva__tcp_connect_done(eva_tcp *tcp, int status) {
    struct ev_loop *ev = eva_loop_get_ev(tcp->loop);
    ev_io_stop(ev, &tcp->wio);
    ev_timer_stop(ev, &tcp->timer);
    tcp->connecting = 0;
    if (status == 0) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(tcp->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        status = -err;
    }
    if (status < 0 && status != -ECANCELED) { /* -ECANCELED: the closer closes */
        close(tcp->fd);
        tcp->fd = -1;
        eva__net_unlink_conn(tcp);
    }
    tcp->cn.status = status;
    eva_loop_defer(tcp->loop, &tcp->cn.call, on_connect_deferred, tcp);
}

int eva_tcp_connect(eva_loop *loop, eva_tcp *tcp, const struct sockaddr *addr, socklen_t addrlen,
                    int64_t timeout_ms, eva_tcp_status_fn cb) {
    if (!loop || !tcp || !addr || !cb || timeout_ms < 0 ||
        (addr->sa_family != AF_INET && addr->sa_family != AF_INET6))
        return -EINVAL;
    if (eva_tcp_is_open(tcp))
        return -EBUSY;
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int rc = eva__tcp_attach(loop, tcp, fd);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    tcp->cn.cb = cb;
    tcp->connecting = 1;
    do
        rc = connect(fd, addr, addrlen);
    while (rc < 0 && errno == EINTR);
    if (rc == 0) { /* loopback may connect at once: report it from the loop */
        tcp->connecting = 0;
        tcp->cn.status = 0;
        eva_loop_defer(loop, &tcp->cn.call, on_connect_deferred, tcp);
        return 0;
    }
    if (errno != EINPROGRESS) {
        rc = -errno;
        tcp->connecting = 0;
        close(fd);
        tcp->fd = -1;
        eva__net_unlink_conn(tcp);
        return rc;
    }
    ev_io_start(eva_loop_get_ev(loop), &tcp->wio);
    if (timeout_ms > 0) {
        ev_timer_set(&tcp->timer, (double)timeout_ms / 1e3, 0.);
        ev_timer_start(eva_loop_get_ev(loop), &tcp->timer);
    }
    return 0;
}
