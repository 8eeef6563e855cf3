/* net/udp_recv.c — receiving: one request at a time (recvmsg), or push mode
 * draining bursts with recvmmsg into the socket's batch buffer. */
#define _GNU_SOURCE /* recvmmsg */
#include <errno.h>
#include <string.h>

#include "udp_internal.h"

/* ---- the request form --------------------------------------------------------------- */

static void recv_notify(eva__req *r, int status) {
    eva_udp_recv_req *req = EVA__CONTAINER_OF(r, eva_udp_recv_req, req);
    ((eva_udp_recv_req_fn)r->to.cb)(req, status);
}

static void recv_await_cancel(eva_task *t);

static const eva__req_kind recv_kind = {{"udp recv", recv_await_cancel}, recv_notify, NULL};

/* The socket lets go of its pending request (a new one may start from its
 * completion on). */
static eva_udp_recv_req *recv_release(eva_udp *udp) {
    eva_udp_recv_req *req = udp->rd;
    ev_io_stop(eva_loop_get_ev(udp->loop), &udp->rio);
    udp->rd = NULL;
    return req;
}

void eva__udp_recv_abort(eva_udp *udp, int status) {
    if (udp->rd)
        eva__req_done_later(udp->loop, &recv_release(udp)->req, status);
}

int eva_udp_recv_cancel(eva_udp *udp) {
    if (!udp)
        return -EINVAL;
    if (eva_udp_is_open(udp))
        eva__udp_recv_abort(udp, -ECANCELED);
    return 0;
}

/* A received datagram's status: a cut one is reported, never passed off as whole. */
static int datagram_status(int msg_flags) { return (msg_flags & MSG_TRUNC) ? -EMSGSIZE : 0; }

static bool would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK; }

/* One recvmsg into req: true when it is over (its status in *status), false
 * when nothing is waiting. */
static bool recv_one(eva_udp *udp, eva_udp_recv_req *req, int *status) {
    struct iovec v = {.iov_base = req->buf, .iov_len = req->len};
    struct msghdr m = {.msg_name = &req->from, .msg_namelen = sizeof req->from, .msg_iov = &v, .msg_iovlen = 1};
    ssize_t n;
    do
        n = recvmsg(udp->fd, &m, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0 && would_block(errno))
        return false;
    if (n < 0) { /* an ICMP error (connected socket) or worse: reported, consumed */
        *status = -errno;
        req->nread = 0;
        req->fromlen = 0;
        return true;
    }
    req->nread = n;
    req->fromlen = m.msg_namelen;
    *status = datagram_status(m.msg_flags);
    return true;
}

static int recv_begin(eva_udp_recv_req *req, void (*cb)(void)) {
    eva_udp *udp = req->udp;
    if (req->req.busy)
        return -EBUSY;
    if (!udp || !req->buf || req->len == 0)
        return -EINVAL;
    if (!eva_udp_is_open(udp))
        return -ENOTCONN;
    if (udp->rd || udp->on_datagram)
        return -EBUSY;
    eva__req_take(&req->req, &recv_kind, cb);
    req->nread = 0;
    req->fromlen = 0;
    udp->rd = req;
    return 0;
}

static void recv_fill(eva_udp_recv_req *req, eva_udp *udp, void *buf, size_t len) {
    req->udp = udp;
    req->buf = buf;
    req->len = len;
}

int eva_udp_recv(eva_udp_recv_req *req, eva_udp *udp, void *buf, size_t len, eva_udp_recv_req_fn cb) {
    if (!req || !cb)
        return -EINVAL;
    if (req->req.busy)
        return -EBUSY;
    recv_fill(req, udp, buf, len);
    int rc = recv_begin(req, (void (*)(void))cb);
    if (rc == 0)
        ev_io_start(eva_loop_get_ev(udp->loop), &udp->rio);
    return rc;
}

/* Completes once, through its own completion: queued already, it is left alone. */
static void recv_await_cancel(eva_task *t) {
    eva_udp_recv_req *req = eva_task_get_wait_obj(t);
    if (!eva__req_queued(&req->req))
        eva__udp_recv_abort(req->udp, -ECANCELED);
}

static int recv_await_start(eva_task *t, const eva_op *op) {
    eva_udp_recv_req *req = op->ptr;
    int rc = recv_begin(req, NULL);
    if (rc < 0)
        return rc;
    eva_udp *udp = req->udp;
    if (recv_one(udp, req, &rc)) { /* a datagram was waiting: no suspension */
        udp->rd = NULL;
        req->req.busy = false;
        return rc;
    }
    ev_io_start(eva_loop_get_ev(udp->loop), &udp->rio);
    return eva__req_park(&req->req, t, req);
}

eva_op eva_udp_recv_op(eva_udp_recv_req *req, eva_udp *udp, void *buf, size_t len) {
    if (!req || req->req.busy)
        return eva__req_refused_op(req ? -EBUSY : -EINVAL);
    recv_fill(req, udp, buf, len);
    return (eva_op){.start = recv_await_start, .ptr = req};
}

int eva_udp_recv_promise(eva_udp *udp, void *buf, size_t len, eva_promise **out) {
    if (!udp || !out)
        return -EINVAL;
    eva_udp_recv_req *req = eva__calloc(1, sizeof *req);
    if (!req)
        return -ENOMEM;
    return eva__req_promise(udp->loop, req, eva_udp_recv_op(req, udp, buf, len), out);
}

/* ---- push mode ------------------------------------------------------------------------ */

enum { DEFAULT_MAX_SIZE = 2048, MAX_MAX_SIZE = 65536, DEFAULT_BATCH = 32, MAX_BATCH = 1024 };

/* One allocation: the header, then batch message headers, iovecs and
 * addresses, then batch buffers of max_size bytes. */
struct eva__udp_batch {
    size_t max_size;
    int batch;
    bool draining;              /* its callback loop is on the stack */
    bool stopped;               /* ... and stop or close came: it frees the batch */
    struct mmsghdr *msgs;
    struct iovec *iov;
    eva_udp_addr *addrs;
    char *bufs;
};

static eva__udp_batch *batch_new(size_t max_size, int batch) {
    size_t n = (size_t)batch;
    size_t head = sizeof(eva__udp_batch) + n * (sizeof(struct mmsghdr) + sizeof(struct iovec) + sizeof(eva_udp_addr));
    eva__udp_batch *b = eva__calloc(1, head + n * max_size);
    if (!b)
        return NULL;
    b->max_size = max_size;
    b->batch = batch;
    b->msgs = (struct mmsghdr *)(b + 1);
    b->iov = (struct iovec *)(b->msgs + n);
    b->addrs = (eva_udp_addr *)(b->iov + n);
    b->bufs = (char *)b + head;
    for (size_t i = 0; i < n; i++) {
        b->iov[i] = (struct iovec){.iov_base = b->bufs + i * max_size, .iov_len = max_size};
        b->msgs[i].msg_hdr = (struct msghdr){.msg_name = &b->addrs[i], .msg_iov = &b->iov[i], .msg_iovlen = 1};
    }
    return b;
}

void eva__udp_recv_free_batch(eva_udp *udp) {
    eva__udp_batch *b = udp->batch;
    udp->batch = NULL;
    udp->on_datagram = NULL;
    if (!b)
        return;
    if (b->draining)
        b->stopped = true; /* the drain loop is using it: it frees it */
    else
        eva__free(b);
}

int eva_udp_recv_start(eva_udp *udp, const eva_udp_recv_options *opts, eva_udp_datagram_fn cb) {
    eva_udp_recv_options o = opts ? *opts : (eva_udp_recv_options){0};
    if (!udp || !cb || o.max_size > MAX_MAX_SIZE || o.batch < 0 || o.batch > MAX_BATCH || o.per_wakeup < 0)
        return -EINVAL;
    if (!eva_udp_is_open(udp))
        return -ENOTCONN;
    if (udp->rd || udp->on_datagram)
        return -EBUSY;
    size_t max_size = o.max_size ? o.max_size : DEFAULT_MAX_SIZE;
    int batch = o.batch ? o.batch : DEFAULT_BATCH;
    eva__udp_batch *b = batch_new(max_size, batch);
    if (!b)
        return -ENOMEM;
    udp->batch = b;
    udp->on_datagram = cb;
    udp->per_wakeup = o.per_wakeup ? o.per_wakeup : 8 * batch;
    ev_io_start(eva_loop_get_ev(udp->loop), &udp->rio);
    return 0;
}

int eva_udp_recv_stop(eva_udp *udp) {
    if (!udp)
        return -EINVAL;
    if (udp->on_datagram) {
        ev_io_stop(eva_loop_get_ev(udp->loop), &udp->rio);
        eva__udp_recv_free_batch(udp);
    }
    return 0;
}

/* Hand one datagram (or error) to the callback; false when the callback
 * stopped push mode or closed the socket (the rest of the batch is dropped). */
static bool deliver(eva_udp *udp, eva__udp_batch *b, int status, const void *data, size_t len,
                    const struct sockaddr *from, socklen_t fromlen) {
    eva_udp_datagram_fn cb = udp->on_datagram;
    EVA__CALL_USER(udp->loop, cb, cb(udp, status, data, len, from, fromlen));
    return !b->stopped && udp->batch == b;
}

/* One recvmmsg of up to want datagrams, each handed on: how many it took
 * (an error counts as one), 0 when nothing was waiting, -1 when the
 * callback stopped. */
static int drain_once(eva_udp *udp, eva__udp_batch *b, int want) {
    for (int i = 0; i < want; i++)
        b->msgs[i].msg_hdr.msg_namelen = sizeof(eva_udp_addr);
    int n;
    do
        n = recvmmsg(udp->fd, b->msgs, (unsigned)want, 0, NULL);
    while (n < 0 && errno == EINTR);
    if (n < 0 && would_block(errno))
        return 0;
    if (n < 0) /* an ICMP error on a connected socket, reported and consumed */
        return deliver(udp, b, -errno, NULL, 0, NULL, 0) ? 1 : -1;
    for (int i = 0; i < n; i++) {
        const struct msghdr *h = &b->msgs[i].msg_hdr;
        if (!deliver(udp, b, datagram_status(h->msg_flags), b->iov[i].iov_base, b->msgs[i].msg_len,
                     h->msg_name, h->msg_namelen))
            return -1;
    }
    return n;
}

/* Up to per_wakeup datagrams, then the loop's other events get their turn
 * (the watcher is level-triggered: the rest come on the next iteration). */
static void push_drain(eva_udp *udp) {
    eva__udp_batch *b = udp->batch;
    b->draining = true;
    for (int left = udp->per_wakeup; left > 0;) {
        int want = left < b->batch ? left : b->batch;
        int got = drain_once(udp, b, want);
        if (got < want) /* the socket is empty (or the callback stopped) */
            break;
        left -= got;
    }
    b->draining = false;
    if (b->stopped)
        eva__free(b);
}

void eva__udp_on_readable(eva_udp *udp) {
    int status;
    if (udp->rd) {
        if (recv_one(udp, udp->rd, &status))
            eva__req_done(udp->loop, &recv_release(udp)->req, status);
    } else if (udp->on_datagram) {
        push_drain(udp);
    } else {
        ev_io_stop(eva_loop_get_ev(udp->loop), &udp->rio);
    }
}
