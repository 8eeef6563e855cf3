/* net/stream_write.c — the write queue: requests go out in order, gathered into
 * one write (eva__stream_writev: no SIGPIPE) per readiness event; partial writes
 * resume where they stopped; high/low-water marks give backpressure. */
#include <errno.h>
#include <string.h>

#include "net_internal.h"

enum { GATHER = 64 }; /* iovecs per sendmsg */

/* ---- completing ---------------------------------------------------------------- */

static void write_notify(eva__req *r, int status) {
    eva_stream_write_req *req = EVA__CONTAINER_OF(r, eva_stream_write_req, req);
    ((eva_stream_write_fn)r->to.cb)(req, status);
}

static void write_await_cancel(eva_task *t);

static const eva__req_kind write_kind = {{"write", write_await_cancel}, write_notify, eva__stream_message};

/* Completions are queued, never delivered inside the queue's walk: the one
 * told may free its request or write again. */
static void write_complete(eva_stream *stream, eva_stream_write_req *req, int status) {
    eva__req_done_later(stream->loop, &req->req, status);
}

/* Take the head request off the queue and complete it. */
static void complete_head(eva_stream *stream, int status) {
    eva_stream_write_req *req = stream->wq_head;
    stream->wq_head = req->next;
    if (!stream->wq_head)
        stream->wq_tail = NULL;
    req->next = NULL;
    stream->queued -= req->remaining;
    write_complete(stream, req, status);
}

static void drain_notify(eva_stream *stream) {
    if (!stream->above_high || stream->queued > stream->low_water)
        return;
    stream->above_high = false;
    eva__stream_drain_done(stream, 0);
    if (stream->on_drain)
        stream->on_drain(stream);
}

void eva__stream_write_abort(eva_stream *stream, int status) {
    while (stream->wq_head)
        complete_head(stream, status);
    eva__stream_unwant(stream, EV_WRITE);
    eva__stream_drain_done(stream, status);
    stream->above_high = false;
}

/* ---- sending ------------------------------------------------------------------------ */

/* Consume n sent bytes from the front of the queue. */
static void consume(eva_stream *stream, size_t n) {
    while (n > 0) {
        eva_stream_write_req *req = stream->wq_head;
        struct iovec *v = &req->iov[req->iovpos];
        size_t take = n < v->iov_len ? n : v->iov_len;
        v->iov_base = (char *)v->iov_base + take;
        v->iov_len -= take;
        req->remaining -= take;
        stream->queued -= take;
        n -= take;
        if (v->iov_len == 0)
            req->iovpos++;
        if (req->remaining == 0)
            complete_head(stream, 0);
    }
    while (stream->wq_head && stream->wq_head->remaining == 0) /* empty requests */
        complete_head(stream, 0);
}

/* Send what the queue holds: 0 when empty, 1 when the socket is full, or
 * a negative error (then every queued request failed with it). */
static int flush(eva_stream *stream) {
    while (stream->wq_head) {
        struct iovec iov[GATHER];
        int cnt = 0;
        eva_stream_write_req *head = stream->wq_head;
        /* descriptors go with their request's first byte: a request carrying
         * some starts a sendmsg of its own */
        for (eva_stream_write_req *r = head; r && cnt < GATHER && (r == head || !r->nfds); r = r->next)
            for (int i = r->iovpos; i < r->iovcnt && cnt < GATHER; i++)
                if (r->iov[i].iov_len)
                    iov[cnt++] = r->iov[i];
        if (cnt == 0) {
            consume(stream, 0);
            continue;
        }
        ssize_t n = eva__stream_writev(stream, iov, cnt, head->fds, head->nfds);
        if (n > 0)
            head->nfds = 0; /* the kernel took them with the first byte */
        if (n >= 0) {
            consume(stream, (size_t)n);
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 1;
        int err = -errno;
        stream->broken = 1;
        eva__stream_write_abort(stream, err);
        return err;
    }
    return 0;
}

void eva__stream_on_writable(eva_stream *stream) {
    int rc = flush(stream);
    if (rc == 1) {
        drain_notify(stream);
        return;
    }
    eva__stream_unwant(stream, EV_WRITE);
    drain_notify(stream);
    if (!eva_stream_is_open(stream))
        return; /* on_drain closed it, which ended the half-close waiting too */
    eva__stream_queue_drained(stream, rc);
}

/* ---- queuing ------------------------------------------------------------------------ */

static int write_check(const eva_stream *stream) {
    if (!eva_stream_is_open(stream) || stream->connecting)
        return -ENOTCONN;
    if (!stream->kind.writable)
        return -EBADF; /* a pipe's read end */
    if (stream->write_shut || stream->closing || stream->broken)
        return -EPIPE;
    return 0;
}

/* The arguments, into the request only (the builder's and the start call's part). */
static void fill(eva_stream_write_req *req, eva_stream *stream, const struct iovec *iov, int iovcnt) {
    req->stream = stream;
    req->next = NULL;
    req->iovcnt = (uint16_t)iovcnt;
    req->iovpos = 0;
    req->total = 0;
    for (int i = 0; i < iovcnt; i++) {
        req->iov[i] = iov[i];
        req->total += iov[i].iov_len;
    }
    req->remaining = req->total;
    req->fds = NULL;
    req->nfds = 0;
}

/* Append and, into an empty queue, try at once (unless the caller just did).
 * Returns 0/1 (below/above the high-water mark). */
static int enqueue(eva_stream *stream, eva_stream_write_req *req, bool try_now) {
    bool was_empty = stream->wq_head == NULL;
    if (stream->wq_tail)
        stream->wq_tail->next = req;
    else
        stream->wq_head = req;
    stream->wq_tail = req;
    stream->queued += req->remaining;
    if (was_empty && (!try_now || flush(stream) == 1))
        eva__stream_want(stream, EV_WRITE);
    if (stream->queued >= stream->high_water && stream->queued > 0)
        stream->above_high = true;
    return stream->above_high ? 1 : 0;
}

/* Descriptors to send: 1..EVA_UNIX_MAX_FDS, with at least one byte, on a
 * Unix socket (nfds 0: none). */
static int fds_check(const eva_stream *stream, size_t len, const int *fds, int nfds) {
    if (nfds == 0)
        return 0;
    if (!fds || nfds < 0 || nfds > EVA_UNIX_MAX_FDS || len == 0)
        return -EINVAL;
    return eva__stream_check_local(stream);
}

static int write_start(eva_stream_write_req *req, eva_stream *stream, const struct iovec *iov, int iovcnt,
                       const int *fds, int nfds, eva_stream_write_fn cb) {
    if (!stream || !req || !iov || iovcnt < 1 || iovcnt > EVA_STREAM_WRITE_IOV)
        return -EINVAL;
    if (req->req.busy)
        return -EBUSY;
    int rc = write_check(stream);
    if (rc < 0 || (rc = fds_check(stream, iov[0].iov_len, fds, nfds)) < 0)
        return rc;
    fill(req, stream, iov, iovcnt);
    req->fds = fds;
    req->nfds = nfds;
    eva__req_take(&req->req, &write_kind, (void (*)(void))cb);
    return enqueue(stream, req, true);
}

int eva_stream_write(eva_stream_write_req *req, eva_stream *stream, const struct iovec *iov, int iovcnt,
                  eva_stream_write_fn cb) {
    return write_start(req, stream, iov, iovcnt, NULL, 0, cb);
}

int eva_unix_write_fds(eva_stream_write_req *req, eva_stream *stream, const void *buf, size_t len,
                       const int *fds, int nfds, eva_stream_write_fn cb) {
    if (nfds == 0)
        return -EINVAL;
    struct iovec v = {.iov_base = (void *)(uintptr_t)buf, .iov_len = len};
    return write_start(req, stream, &v, 1, fds, nfds, cb);
}

/* eva_stream_write_copy's request, allocated with the copy after it. */
static void on_copy_written(eva_stream_write_req *req, int status) {
    (void)status; /* surfaces on the next operation: the stream is broken */
    eva__free(req);
}

int eva_stream_write_copy(eva_stream *stream, const void *data, size_t len) {
    if (!stream || (!data && len))
        return -EINVAL;
    int rc = write_check(stream);
    if (rc < 0)
        return rc;
    eva_stream_write_req *req = eva__calloc(1, sizeof *req + len);
    if (!req)
        return -ENOMEM;
    memcpy(req + 1, data, len);
    struct iovec v = {.iov_base = req + 1, .iov_len = len};
    rc = eva_stream_write(req, stream, &v, 1, on_copy_written);
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
    eva_stream_write_req *req = eva_task_get_wait_obj(t);
    eva_stream *stream = req->stream;
    if (eva__req_queued(&req->req))
        return; /* written (or failed) already: the task gets that status */
    if (req->remaining < req->total) {
        /* part of it is on the wire: the stream cannot be resynchronised, so
         * the requests behind it fail too */
        stream->broken = 1;
        eva__stream_write_abort(stream, -EPIPE);
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
    eva_stream_write_req **pp = &stream->wq_head, *prev = NULL;
    while (*pp != req)
        prev = *pp, pp = &(*pp)->next;
    *pp = req->next;
    if (stream->wq_tail == req)
        stream->wq_tail = prev;
    req->next = NULL;
    stream->queued -= req->remaining;
    if (!stream->wq_head)
        eva__stream_unwant(stream, EV_WRITE);
    write_complete(stream, req, -ECANCELED);
}

/* Straight into the socket when nothing is queued: 1 all of it went, 0 some
 * or none (the request now starts at what is left), < 0 an error. */
static int write_now(eva_stream *stream, eva_stream_write_req *req) {
    ssize_t n = eva__stream_writev(stream, req->iov, 1, req->fds, req->nfds);
    if (n > 0)
        req->nfds = 0;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        stream->broken = 1;
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
    eva_stream_write_req *req = op->ptr;
    eva_stream *stream = req->stream;
    if (!stream)
        return -EINVAL;
    if (req->req.busy)
        return -EBUSY;
    int rc = write_check(stream);
    if (rc < 0 || (rc = fds_check(stream, req->total, req->fds, req->nfds)) < 0)
        return rc;
    if (!stream->wq_head && (rc = write_now(stream, req)) != 0)
        return rc < 0 ? rc : 0; /* the fast path: nothing was queued */
    /* the socket is full: the rest goes when it is writable (not tried again
     * now, so the request cannot complete before the task is parked) */
    eva__req_take(&req->req, &write_kind, NULL);
    enqueue(stream, req, false);
    return eva__req_park(&req->req, t, req);
}

eva_op eva_stream_write_op(eva_stream_write_req *req, eva_stream *stream, const void *buf, size_t len) {
    if (!req || req->req.busy)
        return eva__req_refused_op(req ? -EBUSY : -EINVAL);
    struct iovec v = {.iov_base = (void *)(uintptr_t)buf, .iov_len = len};
    fill(req, stream, &v, 1);
    return (eva_op){.start = write_await_start, .ptr = req};
}

eva_op eva_unix_write_fds_op(eva_stream_write_req *req, eva_stream *stream, const void *buf, size_t len,
                             const int *fds, int nfds) {
    if (nfds == 0)
        return eva__req_refused_op(-EINVAL);
    eva_op op = eva_stream_write_op(req, stream, buf, len);
    if (op.start == write_await_start) { /* filled: not refused */
        req->fds = fds;
        req->nfds = nfds;
    }
    return op;
}

/* The promise form copies the bytes: the request is allocated with them. */
int eva_stream_write_promise(eva_stream *stream, const void *buf, size_t len, eva_promise **out) {
    if (!stream || !out || (!buf && len))
        return -EINVAL;
    eva_stream_write_req *req = eva__calloc(1, sizeof *req + len);
    if (!req)
        return -ENOMEM;
    memcpy(req + 1, buf, len);
    return eva__req_promise(stream->loop, req, eva_stream_write_op(req, stream, req + 1, len), out);
}

/* ---- drain ------------------------------------------------------------------------------ */

static void drain_notify_cb(eva__req *r, int status) {
    eva_stream_drain_req *req = EVA__CONTAINER_OF(r, eva_stream_drain_req, req);
    ((eva_stream_drain_fn)r->to.cb)(req, status);
}

/* Nothing is queued while a drain waits: withdraw it and wake the task later. */
static void drain_await_cancel(eva_task *t) {
    eva_stream_drain_req *req = eva_task_get_wait_obj(t);
    if (eva__req_queued(&req->req))
        return;
    req->stream->drain = NULL;
    eva__req_idle(&req->req);
    eva_task_wake_later(t, -ECANCELED);
}

static const eva__req_kind drain_kind = {{"drain", drain_await_cancel}, drain_notify_cb, eva__stream_message};

void eva__stream_drain_done(eva_stream *stream, int status) {
    eva_stream_drain_req *req = stream->drain;
    if (!req)
        return;
    stream->drain = NULL;
    eva__req_done_later(stream->loop, &req->req, status);
}

/* 1: the queue is low already; 0: req waits in the connection; < 0 an error. */
static int drain_begin(eva_stream_drain_req *req, eva_stream *stream, void (*cb)(void)) {
    if (!req || !stream)
        return -EINVAL;
    if (req->req.busy)
        return -EBUSY;
    if (!eva_stream_is_open(stream))
        return -ENOTCONN;
    req->stream = stream;
    eva__req_take(&req->req, &drain_kind, cb);
    if (stream->queued <= stream->low_water)
        return 1;
    if (stream->drain) {
        eva__req_idle(&req->req);
        return -EBUSY;
    }
    stream->above_high = true; /* so the next drop below low completes it */
    stream->drain = req;
    return 0;
}

int eva_stream_drain(eva_stream_drain_req *req, eva_stream *stream, eva_stream_drain_fn cb) {
    if (!cb)
        return -EINVAL;
    int rc = drain_begin(req, stream, (void (*)(void))cb);
    if (rc == 1) /* low already: reported from the loop all the same */
        eva__req_done_later(stream->loop, &req->req, 0);
    return rc < 0 ? rc : 0;
}

static int drain_await_start(eva_task *t, const eva_op *op) {
    eva_stream_drain_req *req = op->ptr;
    int rc = drain_begin(req, req->stream, NULL);
    if (rc != 0) {
        if (rc == 1)
            eva__req_idle(&req->req);
        return rc < 0 ? rc : 0;
    }
    return eva__req_park(&req->req, t, req);
}

eva_op eva_stream_drain_op(eva_stream_drain_req *req, eva_stream *stream) {
    if (!req || req->req.busy)
        return eva__req_refused_op(req ? -EBUSY : -EINVAL);
    req->stream = stream;
    return (eva_op){.start = drain_await_start, .ptr = req};
}

int eva_stream_drain_promise(eva_stream *stream, eva_promise **out) {
    if (!stream || !out)
        return -EINVAL;
    eva_stream_drain_req *req = eva__calloc(1, sizeof *req);
    if (!req)
        return -ENOMEM;
    return eva__req_promise(stream->loop, req, eva_stream_drain_op(req, stream), out);
}
