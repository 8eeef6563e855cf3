/* net/stream_ops.c — the half-close request, and the AWAIT and promise forms of
 * close (a handle operation: its one slot is in the connection). */
#include <errno.h>
#include <sys/socket.h>

#include "net_internal.h"

/* ---- shutdown ----------------------------------------------------------------- */

static void shut_notify(eva__req *r, int status) {
    eva_stream_shutdown_req *req = EVA__CONTAINER_OF(r, eva_stream_shutdown_req, req);
    ((eva_stream_shutdown_fn)r->to.cb)(req, status);
}

/* Not reported yet: the half-close still happens once the queue drains,
 * reported to nobody; the task is withdrawn and woken later. */
static void shut_await_cancel(eva_task *t) {
    eva_stream_shutdown_req *req = eva_task_get_wait_obj(t);
    if (eva__req_queued(&req->req))
        return; /* done already: the task gets the half-close's own status */
    req->stream->shut = NULL;
    eva__req_idle(&req->req);
    eva_task_wake_later(t, -ECANCELED);
}

static const eva__req_kind shut_kind = {{"shutdown", shut_await_cancel}, shut_notify, eva__stream_message};

void eva__stream_shut_report(eva_stream *stream, int status) {
    eva_stream_shutdown_req *req = stream->shut;
    if (!req)
        return;
    stream->shut = NULL;
    eva__req_done_later(stream->loop, &req->req, status);
}

/* write_shut: 0 none, 1 requested (waiting for the queue), 2 done.  The
 * shutdown() status. */
static int shut_syscall(eva_stream *stream) {
    stream->write_shut = 2;
    return eva__stream_shut_fd(stream);
}

/* The request is taken off first: on a pipe the half-close closes the
 * stream, which would report it as cancelled. */
void eva__stream_shut_now(eva_stream *stream) {
    eva_stream_shutdown_req *req = stream->shut;
    stream->shut = NULL;
    int status = shut_syscall(stream);
    if (req)
        eva__req_done_later(stream->loop, &req->req, status);
}

static int shut_check(const eva_stream_shutdown_req *req, const eva_stream *stream) {
    if (!req || !stream)
        return -EINVAL;
    if (req->req.busy)
        return -EBUSY;
    if (!eva_stream_is_open(stream) || stream->connecting || stream->closing)
        return -ENOTCONN;
    if (!stream->kind.writable)
        return -EBADF;
    return stream->write_shut ? -EALREADY : 0;
}

/* The connection takes the checked request: the half-close is pending until
 * the write queue drains.  cb NULL: the AWAIT form. */
static void shut_begin(eva_stream_shutdown_req *req, eva_stream *stream, void (*cb)(void)) {
    eva__req_take(&req->req, &shut_kind, cb);
    stream->write_shut = 1;
    stream->shut = req;
}

int eva_stream_shutdown(eva_stream_shutdown_req *req, eva_stream *stream, eva_stream_shutdown_fn cb) {
    int rc = cb ? shut_check(req, stream) : -EINVAL;
    if (rc < 0)
        return rc;
    req->stream = stream;
    shut_begin(req, stream, (void (*)(void))cb);
    if (!stream->wq_head)
        eva__stream_shut_now(stream); /* reported from the loop all the same */
    return 0;
}

static int shut_await_start(eva_task *t, const eva_op *op) {
    eva_stream_shutdown_req *req = op->ptr;
    eva_stream *stream = req->stream;
    int rc = shut_check(req, stream);
    if (rc < 0)
        return rc;
    if (!stream->wq_head) /* nothing to flush: done at once */
        return shut_syscall(stream);
    shut_begin(req, stream, NULL);
    return eva__req_park(&req->req, t, req);
}

eva_op eva_stream_shutdown_op(eva_stream_shutdown_req *req, eva_stream *stream) {
    if (!req || req->req.busy)
        return eva__req_refused_op(req ? -EBUSY : -EINVAL);
    req->stream = stream;
    return (eva_op){.start = shut_await_start, .ptr = req};
}

int eva_stream_shutdown_promise(eva_stream *stream, eva_promise **out) {
    if (!stream || !out)
        return -EINVAL;
    eva_stream_shutdown_req *req = eva__calloc(1, sizeof *req);
    if (!req)
        return -ENOMEM;
    return eva__req_promise(stream->loop, req, eva_stream_shutdown_op(req, stream), out);
}

/* ---- close ---------------------------------------------------------------------- */

static int close_await_start(eva_task *t, const eva_op *op) {
    eva_stream *stream = op->ptr;
    if (!stream || op->num < EVA_STREAM_CLOSE_FLUSH || op->num > EVA_STREAM_CLOSE_RESET)
        return -EINVAL;
    if (!eva_stream_is_open(stream))
        return 0; /* closed already: nothing to wait for */
    if (stream->closing)
        return -EBUSY;
    eva__stream_close_begin(stream, (eva_stream_close_how)op->num, true, NULL);
    return eva__stream_close_park(stream, t);
}

eva_op eva_stream_close_op(eva_stream *stream, eva_stream_close_how how) {
    return (eva_op){.start = close_await_start, .ptr = stream, .num = how};
}

int eva_stream_close_promise(eva_stream *stream, eva_stream_close_how how, eva_promise **out) {
    if (!stream || !stream->loop)
        return -EINVAL;
    return eva_promise_from_op(stream->loop, eva_stream_close_op(stream, how), out);
}
