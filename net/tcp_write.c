/* net/tcp_write.c — the write queue: requests go out in order, gathered into
 * one sendmsg (MSG_NOSIGNAL: no SIGPIPE) per readiness event; partial writes
 * resume where they stopped; high/low-water marks give backpressure. */
#include <errno.h>
#include <string.h>

#include "net_internal.h"

enum { GATHER = 64 }; /* iovecs per sendmsg */

/* ---- completing ---------------------------------------------------------------- */

static void on_write_done(eva_loop *loop, int status, void *arg) {
    (void)status; /* ours is req->status; at loop destroy it still runs once */
    eva_tcp_write_req *req = arg;
    /* whoever is told may free the request (a task's frame, the callback's
     * owner): nothing of it is read after the wake or the callback */
    void *owned = req->owned;
    req->queued = false;
    if (req->waiter) {
        eva_task *t = req->waiter;
        req->waiter = NULL;
        eva_task_wake(t, req->status, NULL);
    } else if (req->cb) {
        EVA__CALL_USER(loop, req->cb, req->cb(req, req->status));
    }
    eva__free(owned); /* eva_tcp_write_copy: the request and the copy */
}

static void write_complete(eva_tcp *tcp, eva_tcp_write_req *req, int status) {
    req->status = status;
    eva_loop_defer(tcp->loop, &req->call, on_write_done, req);
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
    if (tcp->drain_waiter) {
        eva_task *t = tcp->drain_waiter;
        tcp->drain_waiter = NULL;
        eva_task_wake_later(t, 0);
    }
    if (tcp->on_drain)
        tcp->on_drain(tcp);
}

void eva__tcp_write_abort(eva_tcp *tcp, int status) {
    while (tcp->wq_head)
        complete_head(tcp, status);
    ev_io_stop(eva_loop_get_ev(tcp->loop), &tcp->wio);
    if (tcp->drain_waiter) {
        eva_task *t = tcp->drain_waiter;
        tcp->drain_waiter = NULL;
        eva_task_wake_later(t, status);
    }
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

static void fill(eva_tcp *tcp, eva_tcp_write_req *req, const struct iovec *iov, int iovcnt,
                 eva_tcp_write_fn cb) {
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
    req->cb = cb;
    req->status = 0;
}

/* Append and, into an empty queue, try at once (unless the caller just did).
 * Returns 0/1 (below/above the high-water mark). */
static int enqueue(eva_tcp *tcp, eva_tcp_write_req *req, bool try_now) {
    bool was_empty = tcp->wq_head == NULL;
    req->queued = true;
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

int eva_tcp_write(eva_tcp *tcp, eva_tcp_write_req *req, const struct iovec *iov, int iovcnt,
                  eva_tcp_write_fn cb) {
    if (!tcp || !req || !iov || iovcnt < 1 || iovcnt > EVA_TCP_WRITE_IOV)
        return -EINVAL;
    if (req->queued)
        return -EBUSY;
    int rc = write_check(tcp);
    if (rc < 0)
        return rc;
    fill(tcp, req, iov, iovcnt, cb);
    req->waiter = NULL;
    req->owned = NULL;
    return enqueue(tcp, req, true);
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
    fill(tcp, req, &v, 1, NULL);
    req->owned = req;
    return enqueue(tcp, req, true);
}

/* ---- AWAIT ---------------------------------------------------------------------------- */

/* Cancelling an awaited write: the request completes exactly once, through
 * its own deferred completion, which is what wakes the task.  (Waking the
 * task separately would let it finish, and its frame be freed, while that
 * completion is still queued.) */
static void write_await_cancel(eva_task *t) {
    eva_tcp_write_req *req = eva_task_get_wait_obj(t);
    eva_tcp *tcp = req->tcp;
    if (eva__queue_linked(&req->call.node))
        return; /* written (or failed) already: the task gets that status */
    if (req->remaining < req->total) {
        /* part of it is on the wire: the stream cannot be resynchronised, so
         * the requests behind it fail too */
        tcp->broken = 1;
        eva__tcp_write_abort(tcp, -EPIPE);
        req->status = -ECANCELED; /* read by its completion, queued just now */
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

static const eva_wait_ops write_wait = {"write", write_await_cancel};

static int write_await_start(eva_task *t, const eva_op *op) {
    eva_tcp_write_req *req = op->ptr;
    if (!req || !req->tcp)
        return -EINVAL;
    if (req->queued)
        return -EBUSY;
    eva_tcp *tcp = req->tcp;
    int rc = write_check(tcp);
    if (rc < 0)
        return rc;
    req->waiter = NULL;
    req->owned = NULL;
    req->cb = NULL;
    if (!tcp->wq_head) { /* the fast path: straight into the socket, nothing queued */
        ssize_t n;
        do
            n = send(tcp->fd, req->iov[0].iov_base, req->iov[0].iov_len, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            tcp->broken = 1;
            return -errno;
        }
        if (n == (ssize_t)req->remaining)
            return 0;
        if (n > 0) {
            req->iov[0].iov_base = (char *)req->iov[0].iov_base + n;
            req->iov[0].iov_len -= (size_t)n;
            req->remaining -= (size_t)n;
        }
    }
    /* the socket is full: the rest goes when it is writable (not tried again
     * now, so the request cannot complete before the task is parked) */
    enqueue(tcp, req, false);
    req->waiter = t;
    eva_task_park(t, &write_wait, req);
    return EVA_PARKED;
}

eva_op eva_tcp_write_op(eva_tcp *tcp, eva_tcp_write_req *req, const void *buf, size_t len) {
    if (req && !req->queued) {
        struct iovec v = {.iov_base = (void *)(uintptr_t)buf, .iov_len = len};
        fill(tcp, req, &v, 1, NULL);
    }
    return (eva_op){.start = write_await_start, .ptr = req};
}

/* ---- drain ------------------------------------------------------------------------------ */

static void drain_cancel(eva_task *t) {
    eva_tcp *tcp = eva_task_get_wait_obj(t);
    tcp->drain_waiter = NULL;
    eva_task_wake_later(t, -ECANCELED);
}

static const eva_wait_ops drain_wait = {"drain", drain_cancel};

static int drain_start(eva_task *t, const eva_op *op) {
    eva_tcp *tcp = op->ptr;
    if (!tcp)
        return -EINVAL;
    if (!eva_tcp_is_open(tcp))
        return -ENOTCONN;
    if (tcp->queued <= tcp->low_water)
        return 0;
    if (tcp->drain_waiter)
        return -EBUSY;
    tcp->above_high = true; /* so the next drop below low wakes us */
    tcp->drain_waiter = t;
    eva_task_park(t, &drain_wait, tcp);
    return EVA_PARKED;
}

eva_op eva_tcp_drain_op(eva_tcp *tcp) { return (eva_op){.start = drain_start, .ptr = tcp}; }
