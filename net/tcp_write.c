/* net/tcp_write.c — the write queue: requests go out in order, gathered into
 * one sendmsg (MSG_NOSIGNAL: no SIGPIPE) per readiness event; partial writes
 * resume where they stopped; high/low-water marks give backpressure. */
#include <errno.h>
#include <string.h>

#include "net_internal.h"

enum { GATHER = 64 }; /* iovecs per sendmsg */

/* ---- completing ---------------------------------------------------------------- */

static void write_notify(eva__tcp_req *r, int status) {
    eva_tcp_write_req *req = EVA__CONTAINER_OF(r, eva_tcp_write_req, req);
    ((eva_tcp_write_fn)r->to.cb)(req, status);
}

static void write_await_cancel(eva_task *t);

static const eva__tcp_req_kind write_kind = {{"write", write_await_cancel}, write_notify};

/* Completions are queued, never delivered inside the queue's walk: the one
 * told may free its request or write again. */
static void write_complete(eva_tcp *tcp, eva_tcp_write_req *req, int status) {
    eva__tcp_req_done_later(tcp->loop, &req->req, status);
}

/* Take the head request off the queue and complete it. */
static void complete_head(eva_tcp *tcp, int status) {
    eva_tcp_write_req *req = tcp->wq_head;
    tcp->wq_head = req->next;
    if (!tcp->wq_head)
        tcp->wq_tail = NULL;
    req->next = NULL;
    tcp->queued -= req->remaining;
    write_complete(tcp, req, status);
}

static void drain_notify(eva_tcp *tcp) {
    if (!tcp->above_high || tcp->queued > tcp->low_water)
        return;
    tcp->above_high = false;
    eva__tcp_drain_done(tcp, 0);
    if (tcp->on_drain)
        tcp->on_drain(tcp);
}

void eva__tcp_write_abort(eva_tcp *tcp, int status) {
    while (tcp->wq_head)
        complete_head(tcp, status);
    ev_io_stop(eva_loop_get_ev(tcp->loop), &tcp->wio);
    eva__tcp_drain_done(tcp, status);
    tcp->above_high = false;
}

/* ---- sending ------------------------------------------------------------------------ */

/* Consume n sent bytes from the front of the queue. */
static void consume(eva_tcp *tcp, size_t n) {
    while (n > 0) {
        eva_tcp_write_req *req = tcp->wq_head;
        struct iovec *v = &req->iov[req->iovpos];
        size_t take = n < v->iov_len ? n : v->iov_len;
        v->iov_base = (char *)v->iov_base + take;
        v->iov_len -= take;
        req->remaining -= take;
        tcp->queued -= take;
        n -= take;
        if (v->iov_len == 0)
            req->iovpos++;
        if (req->remaining == 0)
            complete_head(tcp, 0);
    }
    while (tcp->wq_head && tcp->wq_head->remaining == 0) /* empty requests */
        complete_head(tcp, 0);
}

/* Send what the queue holds: 0 when empty, 1 when the socket is full, or
 * a negative error (then every queued request failed with it). */
static int flush(eva_tcp *tcp) {
    while (tcp->wq_head) {
        struct iovec iov[GATHER];
        int cnt = 0;
        for (eva_tcp_write_req *r = tcp->wq_head; r && cnt < GATHER; r = r->next)
            for (int i = r->iovpos; i < r->iovcnt && cnt < GATHER; i++)
                if (r->iov[i].iov_len)
                    iov[cnt++] = r->iov[i];
        if (cnt == 0) {
            consume(tcp, 0);
            continue;
        }
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)cnt};
        ssize_t n = sendmsg(tcp->fd, &msg, MSG_NOSIGNAL);
        if (n >= 0) {
            consume(tcp, (size_t)n);
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 1;
        int err = -errno;
        tcp->broken = 1;
        eva__tcp_write_abort(tcp, err);
        return err;
    }
    return 0;
}

void eva__tcp_on_writable(eva_tcp *tcp) {
    int rc = flush(tcp);
    if (rc == 1) {
        drain_notify(tcp);
        return;
    }
    ev_io_stop(eva_loop_get_ev(tcp->loop), &tcp->wio);
    drain_notify(tcp);
    eva__tcp_queue_drained(tcp, rc);
}

/* ---- queuing ------------------------------------------------------------------------ */

static int write_check(const eva_tcp *tcp) {
    if (!eva_tcp_is_open(tcp) || tcp->connecting)
        return -ENOTCONN;
    if (tcp->write_shut || tcp->closing || tcp->broken)
        return -EPIPE;
    return 0;
}

/* The arguments, into the request only (the builder's and the start call's part). */
static void fill(eva_tcp_write_req *req, eva_tcp *tcp, const struct iovec *iov, int iovcnt) {
    req->tcp = tcp;
    req->next = NULL;
    req->iovcnt = iovcnt;
    req->iovpos = 0;
    req->total = 0;
    for (int i = 0; i < iovcnt; i++) {
        req->iov[i] = iov[i];
        req->total += iov[i].iov_len;
    }
    req->remaining = req->total;
}

/* Append and, into an empty queue, try at once (unless the caller just did).
 * Returns 0/1 (below/above the high-water mark). */
static int enqueue(eva_tcp *tcp, eva_tcp_write_req *req, bool try_now) {
    bool was_empty = tcp->wq_head == NULL;
    if (tcp->wq_tail)
        tcp->wq_tail->next = req;
    else
        tcp->wq_head = req;
    tcp->wq_tail = req;
    tcp->queued += req->remaining;
    if (was_empty && (!try_now || flush(tcp) == 1))
        ev_io_start(eva_loop_get_ev(tcp->loop), &tcp->wio);
    if (tcp->queued >= tcp->high_water && tcp->queued > 0)
        tcp->above_high = true;
    return tcp->above_high ? 1 : 0;
}

int eva_tcp_write(eva_tcp_write_req *req, eva_tcp *tcp, const struct iovec *iov, int iovcnt,
                  eva_tcp_write_fn cb) {
    if (!tcp || !req || !iov || iovcnt < 1 || iovcnt > EVA_TCP_WRITE_IOV)
        return -EINVAL;
    if (req->req.busy)
        return -EBUSY;
    int rc = write_check(tcp);
    if (rc < 0)
        return rc;
    fill(req, tcp, iov, iovcnt);
    eva__tcp_req_take(&req->req, &write_kind, (void (*)(void))cb);
    return enqueue(tcp, req, true);
}

/* eva_tcp_write_copy's request, allocated with the copy after it. */
static void on_copy_written(eva_tcp_write_req *req, int status) {
    (void)status; /* surfaces on the next operation: the stream is broken */
    eva__free(req);
}

int eva_tcp_write_copy(eva_tcp *tcp, const void *data, size_t len) {
    if (!tcp || (!data && len))
        return -EINVAL;
    int rc = write_check(tcp);
    if (rc < 0)
        return rc;
    eva_tcp_write_req *req = eva__calloc(1, sizeof *req + len);
    if (!req)
        return -ENOMEM;
    memcpy(req + 1, data, len);
    struct iovec v = {.iov_base = req + 1, .iov_len = len};
    rc = eva_tcp_write(req, tcp, &v, 1, on_copy_written);
    if (rc < 0)
        eva__free(req);
    return rc;
}

/* ---- AWAIT ---------------------------------------------------------------------------- */

/* Cancelling an awaited write: the request completes exactly once, through
 * its own deferred completion, which is what wakes the task.  (Waking the
 * task separately would let it finish, and its frame be freed, while that
 * completion is still queued.) */
static void write_await_cancel(eva_task *t) {
    eva_tcp_write_req *req = eva_task_get_wait_obj(t);
    eva_tcp *tcp = req->tcp;
    if (eva__tcp_req_queued(&req->req))
        return; /* written (or failed) already: the task gets that status */
    if (req->remaining < req->total) {
        /* part of it is on the wire: the stream cannot be resynchronised, so
         * the requests behind it fail too */
        tcp->broken = 1;
        eva__tcp_write_abort(tcp, -EPIPE);
        req->req.status = -ECANCELED; /* read by its completion, queued just now */
#ifdef EVA_TEST_WRITE_CANCEL_DOUBLE_WAKE
        /* the issue-11 double wake, re-introduced for the shuffle proof only
         * (tests/CMakeLists.txt builds a separate copy of the library with
         * it): the task is woken here besides, and the write's completion,
         * which no longer wakes it, may then run after its frame is freed */
        req->req.awaited = false;
        req->req.to.cb = NULL;
        eva_task_wake_later(t, -ECANCELED);
#endif
        return;
    }
    eva_tcp_write_req **pp = &tcp->wq_head, *prev = NULL;
    while (*pp != req)
        prev = *pp, pp = &(*pp)->next;
    *pp = req->next;
    if (tcp->wq_tail == req)
        tcp->wq_tail = prev;
    req->next = NULL;
    tcp->queued -= req->remaining;
    if (!tcp->wq_head)
        ev_io_stop(eva_loop_get_ev(tcp->loop), &tcp->wio);
    write_complete(tcp, req, -ECANCELED);
}

/* Straight into the socket when nothing is queued: 1 all of it went, 0 some
 * or none (the request now starts at what is left), < 0 an error. */
static int write_now(eva_tcp *tcp, eva_tcp_write_req *req) {
    ssize_t n;
    do
        n = send(tcp->fd, req->iov[0].iov_base, req->iov[0].iov_len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        tcp->broken = 1;
        return -errno;
    }
    if (n == (ssize_t)req->remaining)
        return 1;
    if (n > 0) {
        req->iov[0].iov_base = (char *)req->iov[0].iov_base + n;
        req->iov[0].iov_len -= (size_t)n;
        req->remaining -= (size_t)n;
    }
    return 0;
}

static int write_await_start(eva_task *t, const eva_op *op) {
    eva_tcp_write_req *req = op->ptr;
    eva_tcp *tcp = req->tcp;
    if (!tcp)
        return -EINVAL;
    if (req->req.busy)
        return -EBUSY;
    int rc = write_check(tcp);
    if (rc < 0)
        return rc;
    if (!tcp->wq_head && (rc = write_now(tcp, req)) != 0)
        return rc < 0 ? rc : 0; /* the fast path: nothing was queued */
    /* the socket is full: the rest goes when it is writable (not tried again
     * now, so the request cannot complete before the task is parked) */
    eva__tcp_req_take(&req->req, &write_kind, NULL);
    enqueue(tcp, req, false);
    return eva__tcp_req_park(&req->req, t, req);
}

eva_op eva_tcp_write_op(eva_tcp_write_req *req, eva_tcp *tcp, const void *buf, size_t len) {
    if (!req || req->req.busy)
        return eva__tcp_refused_op(req ? -EBUSY : -EINVAL);
    struct iovec v = {.iov_base = (void *)(uintptr_t)buf, .iov_len = len};
    fill(req, tcp, &v, 1);
    return (eva_op){.start = write_await_start, .ptr = req};
}

/* The promise form copies the bytes: the request is allocated with them. */
int eva_tcp_write_promise(eva_tcp *tcp, const void *buf, size_t len, eva_promise **out) {
    if (!tcp || !out || (!buf && len))
        return -EINVAL;
    eva_tcp_write_req *req = eva__calloc(1, sizeof *req + len);
    if (!req)
        return -ENOMEM;
    memcpy(req + 1, buf, len);
    return eva__tcp_promise(tcp->loop, req, eva_tcp_write_op(req, tcp, req + 1, len), out);
}

/* ---- drain ------------------------------------------------------------------------------ */

static void drain_notify_cb(eva__tcp_req *r, int status) {
    eva_tcp_drain_req *req = EVA__CONTAINER_OF(r, eva_tcp_drain_req, req);
    ((eva_tcp_drain_fn)r->to.cb)(req, status);
}

/* Nothing is queued while a drain waits: withdraw it and wake the task later. */
static void drain_await_cancel(eva_task *t) {
    eva_tcp_drain_req *req = eva_task_get_wait_obj(t);
    if (eva__tcp_req_queued(&req->req))
        return;
    req->tcp->drain = NULL;
    eva__tcp_req_idle(&req->req);
    eva_task_wake_later(t, -ECANCELED);
}

static const eva__tcp_req_kind drain_kind = {{"drain", drain_await_cancel}, drain_notify_cb};

void eva__tcp_drain_done(eva_tcp *tcp, int status) {
    eva_tcp_drain_req *req = tcp->drain;
    if (!req)
        return;
    tcp->drain = NULL;
    eva__tcp_req_done_later(tcp->loop, &req->req, status);
}

/* 1: the queue is low already; 0: req waits in the connection; < 0 an error. */
static int drain_begin(eva_tcp_drain_req *req, eva_tcp *tcp, void (*cb)(void)) {
    if (!req || !tcp)
        return -EINVAL;
    if (req->req.busy)
        return -EBUSY;
    if (!eva_tcp_is_open(tcp))
        return -ENOTCONN;
    req->tcp = tcp;
    eva__tcp_req_take(&req->req, &drain_kind, cb);
    if (tcp->queued <= tcp->low_water)
        return 1;
    if (tcp->drain) {
        eva__tcp_req_idle(&req->req);
        return -EBUSY;
    }
    tcp->above_high = true; /* so the next drop below low completes it */
    tcp->drain = req;
    return 0;
}

int eva_tcp_drain(eva_tcp_drain_req *req, eva_tcp *tcp, eva_tcp_drain_fn cb) {
    if (!cb)
        return -EINVAL;
    int rc = drain_begin(req, tcp, (void (*)(void))cb);
    if (rc == 1) /* low already: reported from the loop all the same */
        eva__tcp_req_done_later(tcp->loop, &req->req, 0);
    return rc < 0 ? rc : 0;
}

static int drain_await_start(eva_task *t, const eva_op *op) {
    eva_tcp_drain_req *req = op->ptr;
    int rc = drain_begin(req, req->tcp, NULL);
    if (rc != 0) {
        if (rc == 1)
            eva__tcp_req_idle(&req->req);
        return rc < 0 ? rc : 0;
    }
    return eva__tcp_req_park(&req->req, t, req);
}

eva_op eva_tcp_drain_op(eva_tcp_drain_req *req, eva_tcp *tcp) {
    if (!req || req->req.busy)
        return eva__tcp_refused_op(req ? -EBUSY : -EINVAL);
    req->tcp = tcp;
    return (eva_op){.start = drain_await_start, .ptr = req};
}

int eva_tcp_drain_promise(eva_tcp *tcp, eva_promise **out) {
    if (!tcp || !out)
        return -EINVAL;
    eva_tcp_drain_req *req = eva__calloc(1, sizeof *req);
    if (!req)
        return -ENOMEM;
    return eva__tcp_promise(tcp->loop, req, eva_tcp_drain_op(req, tcp), out);
}
