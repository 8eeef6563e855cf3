/* net/tcp_connect.c — non-blocking connect with a timeout (the part Unix
 * sockets share: eva__stream_connect_begin); the address is copied into the
 * request.  And TCP_NODELAY. */
#define _DEFAULT_SOURCE /* TCP_NODELAY */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

#include "net_internal.h"

static void connect_notify(eva__req *r, int status) {
    eva_tcp_connect_req *req = EVA__CONTAINER_OF(r, eva_tcp_connect_req, req);
    ((eva_tcp_connect_fn)r->to.cb)(req, status);
}

/* The connect completes once, through its own completion, which wakes the
 * task: a task woken separately could finish, and its frame (holding the
 * eva_stream) be freed, while that completion is still queued. */
static void connect_await_cancel(eva_task *t) {
    eva_tcp_connect_req *req = eva_task_get_wait_obj(t);
    if (eva__req_queued(&req->req))
        return; /* over already: the task gets the connect's own status */
    /* closing completes the connect with -ECANCELED */
    eva__stream_close_now(req->stream, false, -ECANCELED);
}

static const eva__req_kind connect_kind = {{"connect", connect_await_cancel}, connect_notify, eva__stream_message};

static void connect_fail_fd(eva_stream *stream) {
    close(stream->fd);
    stream->fd = -1;
    eva__net_unlink_conn(stream);
}

/* The connect is over: status 0 (check SO_ERROR), -ETIMEDOUT or -ECANCELED.
 * A failed connection is closed again, so the struct can connect anew. */
void eva__stream_connect_done(eva_stream *stream, int status) {
    eva__req *req = stream->cn;
    eva__stream_unwant(stream, EV_WRITE);
    ev_timer_stop(eva_loop_get_ev(stream->loop), &stream->timer);
    stream->connecting = 0;
    stream->cn = NULL;
    if (status == 0) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(stream->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        status = -err;
    }
    if (status < 0 && status != -ECANCELED) /* -ECANCELED: the closer closes */
        connect_fail_fd(stream);
    eva__req_done_later(stream->loop, req, status);
}

/* The arguments, into the request only: the address is copied. */
static int connect_fill(eva_tcp_connect_req *req, eva_loop *loop, eva_stream *stream,
                        const struct sockaddr *addr, socklen_t addrlen, int64_t timeout_ms) {
    req->stream = stream;
    req->loop = loop;
    req->timeout_ms = timeout_ms;
    req->addrlen = 0;
    if (!addr || (addr->sa_family != AF_INET && addr->sa_family != AF_INET6))
        return -EINVAL;
    socklen_t len = addr->sa_family == AF_INET ? sizeof req->addr.in : sizeof req->addr.in6;
    if (addrlen < len) /* a larger one (a sockaddr_storage's size) is fine */
        return -EINVAL;
    memcpy(&req->addr, addr, len);
    req->addrlen = len;
    return 0;
}

/* A stream socket of family, non-blocking and close-on-exec; TCP's without
 * Nagle's delay (requests and replies are small and latency-bound). */
int eva__stream_socket(int family) {
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (family != AF_UNIX) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

int eva__connect_fd(int fd, const struct sockaddr *addr, socklen_t addrlen) {
    int rc;
    do
        rc = connect(fd, addr, addrlen);
    while (rc < 0 && errno == EINTR);
    return rc < 0 ? -errno : 0;
}

int eva__stream_connect_begin(const eva__connect_args *a, void (*cb)(void)) {
    eva_stream *stream = a->stream;
    eva_loop *loop = a->loop;
    if (!loop || !stream || a->addrlen == 0 || a->timeout_ms < 0)
        return -EINVAL;
    if (a->req->busy || eva_stream_is_open(stream))
        return -EBUSY;
    int fd = eva__stream_socket(a->addr->sa_family);
    if (fd < 0)
        return fd;
    int rc = eva__stream_attach(loop, stream, fd);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    stream->kind.local = a->addr->sa_family == AF_UNIX;
    rc = eva__connect_fd(fd, a->addr, a->addrlen);
    if (rc < 0 && rc != -EINPROGRESS) { /* a Unix socket's full backlog: -EAGAIN */
        connect_fail_fd(stream);
        return rc;
    }
    eva__req_take(a->req, a->kind, cb);
    if (rc == 0) { /* loopback may connect at once: report it from the loop */
        eva__req_done_later(loop, a->req, 0);
        return 0;
    }
    stream->cn = a->req;
    stream->connecting = 1;
    eva__stream_want(stream, EV_WRITE);
    if (a->timeout_ms > 0) {
        ev_timer_set(&stream->timer, (double)a->timeout_ms / 1e3, 0.);
        ev_timer_start(eva_loop_get_ev(loop), &stream->timer);
    }
    return 0;
}

/* The connection takes the filled request; 0 when the connect is under way
 * (or done: its completion queued). */
static int connect_begin(eva_tcp_connect_req *req, void (*cb)(void)) {
    eva__connect_args a = {&req->req, &connect_kind, req->loop, req->stream,
                           &req->addr.sa, req->addrlen, req->timeout_ms};
    return eva__stream_connect_begin(&a, cb);
}

int eva_tcp_connect(eva_tcp_connect_req *req, eva_loop *loop, eva_stream *stream, const struct sockaddr *addr,
                    socklen_t addrlen, int64_t timeout_ms, eva_tcp_connect_fn cb) {
    if (!req || !cb)
        return -EINVAL;
    if (req->req.busy)
        return -EBUSY;
    int rc = connect_fill(req, loop, stream, addr, addrlen, timeout_ms);
    return rc < 0 ? rc : connect_begin(req, (void (*)(void))cb);
}

static int connect_await_start(eva_task *t, const eva_op *op) {
    eva_tcp_connect_req *req = op->ptr;
    req->loop = t->loop;
    int rc = connect_begin(req, NULL);
    return rc < 0 ? rc : eva__req_park(&req->req, t, req);
}

eva_op eva_tcp_connect_op(eva_tcp_connect_req *req, eva_stream *stream, const struct sockaddr *addr,
                          socklen_t addrlen, int64_t timeout_ms) {
    if (!req || req->req.busy)
        return eva__req_refused_op(req ? -EBUSY : -EINVAL);
    int rc = connect_fill(req, NULL, stream, addr, addrlen, timeout_ms);
    return rc < 0 ? eva__req_refused_op(rc) : (eva_op){.start = connect_await_start, .ptr = req};
}

int eva_tcp_connect_promise(eva_loop *loop, eva_stream *stream, const struct sockaddr *addr,
                            socklen_t addrlen, int64_t timeout_ms, eva_promise **out) {
    if (!loop || !out)
        return -EINVAL;
    eva_tcp_connect_req *req = eva__calloc(1, sizeof *req);
    if (!req)
        return -ENOMEM;
    return eva__req_promise(loop, req, eva_tcp_connect_op(req, stream, addr, addrlen, timeout_ms), out);
}

/* ---- options ------------------------------------------------------------------------ */

int eva_tcp_set_nodelay(eva_stream *stream, bool on) {
    if (!stream)
        return -EINVAL;
    if (!eva_stream_is_open(stream))
        return -EBADF;
    int protocol = 0, value = on;
    socklen_t len = sizeof protocol;
    /* a pipe or tty has no socket options, a Unix socket no Nagle */
    if (!stream->kind.socket || getsockopt(stream->fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &len) < 0 ||
        protocol != IPPROTO_TCP)
        return -ENOTSUP;
    return setsockopt(stream->fd, IPPROTO_TCP, TCP_NODELAY, &value, sizeof value) < 0 ? -errno : 0;
}
