/* net/udp_send.c — the send queue: a datagram into an empty queue goes out
 * at once (sendmsg); when the socket is full, datagrams queue in order and
 * leave in batches (sendmmsg) once it is writable. */
#define _GNU_SOURCE /* sendmmsg */
#include <errno.h>
#include <string.h>

#include "udp_internal.h"

enum { SEND_BATCH = 64 }; /* datagrams per sendmmsg */

static void send_notify(eva__req *r, int status) {
    eva_udp_send_req *req = EVA__CONTAINER_OF(r, eva_udp_send_req, req);
    ((eva_udp_send_fn)r->to.cb)(req, status);
}

static void send_await_cancel(eva_task *t);

static const eva__req_kind send_kind = {{"udp send", send_await_cancel}, send_notify, NULL};

static struct msghdr header_of(eva_udp_send_req *req) {
    return (struct msghdr){.msg_name = req->addrlen ? &req->addr : NULL, .msg_namelen = req->addrlen,
                           .msg_iov = req->iov, .msg_iovlen = (size_t)req->iovcnt};
}

/* ---- the queue ------------------------------------------------------------------------- */

/* Completions are queued, never delivered inside the queue's walk: the one
 * told may free its request or send again. */
static void complete_head(eva_udp *udp, int status) {
    eva_udp_send_req *req = udp->sq_head;
    udp->sq_head = req->next;
    if (!udp->sq_head)
        udp->sq_tail = NULL;
    req->next = NULL;
    udp->queued--;
    eva__req_done_later(udp->loop, &req->req, status);
}

void eva__udp_send_abort(eva_udp *udp, int status) {
    while (udp->sq_head)
        complete_head(udp, status);
    ev_io_stop(eva_loop_get_ev(udp->loop), &udp->wio);
}

static bool would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS; }

/* Send the queue, SEND_BATCH datagrams per call: false when the socket is
 * full.  A datagram the kernel refuses fails alone, with its error. */
static bool flush(eva_udp *udp) {
    while (udp->sq_head) {
        struct mmsghdr mm[SEND_BATCH];
        unsigned cnt = 0;
        for (eva_udp_send_req *r = udp->sq_head; r && cnt < SEND_BATCH; r = r->next)
            mm[cnt++] = (struct mmsghdr){.msg_hdr = header_of(r)};
        int n = sendmmsg(udp->fd, mm, cnt, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && would_block(errno))
            return false;
        if (n < 0) {
            complete_head(udp, -errno);
            continue;
        }
        while (n-- > 0)
            complete_head(udp, 0);
    }
    return true;
}

void eva__udp_on_writable(eva_udp *udp) {
    if (flush(udp))
        ev_io_stop(eva_loop_get_ev(udp->loop), &udp->wio);
}

static void enqueue(eva_udp *udp, eva_udp_send_req *req) {
    if (udp->sq_tail)
        udp->sq_tail->next = req;
    else
        udp->sq_head = req;
    udp->sq_tail = req;
    udp->queued++;
    ev_io_start(eva_loop_get_ev(udp->loop), &udp->wio);
}

/* One sendmsg: true when it is over (sent or refused: *status), false when
 * the socket is full. */
static bool send_now(eva_udp *udp, eva_udp_send_req *req, int *status) {
    struct msghdr m = header_of(req);
    ssize_t n;
    do
        n = sendmsg(udp->fd, &m, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0 && would_block(errno))
        return false;
    *status = n < 0 ? -errno : 0;
    return true;
}

/* ---- starting ----------------------------------------------------------------------------- */

/* The arguments, into the request only (the builder's and the start call's
 * part); -EINVAL for ones that do not fit. */
static int fill(eva_udp_send_req *req, eva_udp *udp, const struct iovec *iov, int iovcnt,
                const struct sockaddr *addr, socklen_t addrlen) {
    req->udp = udp;
    req->next = NULL;
    req->iovcnt = 0;
    req->addrlen = 0;
    if (!udp || !iov || iovcnt < 1 || iovcnt > EVA_UDP_SEND_IOV || eva__udp_check_addr(udp, addr, addrlen, true) < 0)
        return -EINVAL;
    memcpy(req->iov, iov, (size_t)iovcnt * sizeof *iov);
    req->iovcnt = iovcnt;
    if (addr)
        memcpy(&req->addr, addr, addrlen);
    req->addrlen = addrlen;
    return 0;
}

/* What the start calls check of a filled request. */
static int send_check(const eva_udp_send_req *req) {
    if (req->req.busy)
        return -EBUSY;
    if (req->iovcnt == 0)
        return -EINVAL;
    return eva_udp_is_open(req->udp) ? 0 : -ENOTCONN;
}

int eva_udp_send(eva_udp_send_req *req, eva_udp *udp, const struct iovec *iov, int iovcnt,
                 const struct sockaddr *addr, socklen_t addrlen, eva_udp_send_fn cb) {
    if (!req)
        return -EINVAL;
    if (req->req.busy)
        return -EBUSY;
    int rc = fill(req, udp, iov, iovcnt, addr, addrlen);
    if (rc < 0 || (rc = send_check(req)) < 0)
        return rc;
    eva__req_take(&req->req, &send_kind, (void (*)(void))cb);
    int status;
    if (!udp->sq_head && send_now(udp, req, &status))
        eva__req_done_later(udp->loop, &req->req, status); /* reported from the loop */
    else
        enqueue(udp, req);
    return 0;
}

/* Unlink a queued request (its datagram has not left: datagrams leave whole). */
static bool unqueue(eva_udp *udp, eva_udp_send_req *req) {
    eva_udp_send_req **pp = &udp->sq_head, *prev = NULL;
    while (*pp && *pp != req)
        prev = *pp, pp = &(*pp)->next;
    if (!*pp)
        return false;
    *pp = req->next;
    if (udp->sq_tail == req)
        udp->sq_tail = prev;
    req->next = NULL;
    udp->queued--;
    if (!udp->sq_head)
        ev_io_stop(eva_loop_get_ev(udp->loop), &udp->wio);
    return true;
}

int eva_udp_send_cancel(eva_udp_send_req *req) {
    if (!req)
        return -EINVAL;
    if (req->req.busy && eva_udp_is_open(req->udp) && unqueue(req->udp, req))
        eva__req_done_later(req->udp->loop, &req->req, -ECANCELED);
    return 0;
}

/* Completes once, through its own completion (which wakes the task). */
static void send_await_cancel(eva_task *t) { eva_udp_send_cancel(eva_task_get_wait_obj(t)); }

static int send_await_start(eva_task *t, const eva_op *op) {
    eva_udp_send_req *req = op->ptr;
    int rc = send_check(req);
    if (rc < 0)
        return rc;
    eva_udp *udp = req->udp;
    if (!udp->sq_head && send_now(udp, req, &rc))
        return rc; /* the fast path: the kernel took it (or refused it) at once */
    eva__req_take(&req->req, &send_kind, NULL);
    enqueue(udp, req);
    return eva__req_park(&req->req, t, req);
}

eva_op eva_udp_send_op(eva_udp_send_req *req, eva_udp *udp, const void *buf, size_t len,
                       const struct sockaddr *addr, socklen_t addrlen) {
    if (!req || req->req.busy)
        return eva__req_refused_op(req ? -EBUSY : -EINVAL);
    struct iovec v = {.iov_base = (void *)(uintptr_t)buf, .iov_len = len};
    if (fill(req, udp, &v, 1, addr, addrlen) < 0)
        return eva__req_refused_op(-EINVAL);
    return (eva_op){.start = send_await_start, .ptr = req};
}

/* The promise form copies the bytes: the request is allocated with them. */
int eva_udp_send_promise(eva_udp *udp, const void *buf, size_t len, const struct sockaddr *addr,
                         socklen_t addrlen, eva_promise **out) {
    if (!udp || !out || (!buf && len))
        return -EINVAL;
    eva_udp_send_req *req = eva__calloc(1, sizeof *req + len);
    if (!req)
        return -ENOMEM;
    if (len)
        memcpy(req + 1, buf, len);
    return eva__req_promise(udp->loop, req, eva_udp_send_op(req, udp, req + 1, len, addr, addrlen), out);
}

size_t eva_udp_get_send_queue_count(const eva_udp *udp) { return udp ? udp->queued : 0; }
