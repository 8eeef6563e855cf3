/* async/fd_wait.c — one-shot readiness waits on a descriptor the caller owns
 * (evasync/fd.h).  The request holds its own ev_io and deadline timer; the
 * loop keeps a list of the pending ones so that eva_loop_destroy can
 * complete them. */
#include <errno.h>
#include <fcntl.h>

#include "evasync/fd.h"
#include "req_internal.h"

typedef struct fd_loop {
    eva__layer layer; /* first: the loop cancels our waits at destroy */
    eva_queue pending;
} fd_loop;
EVA__LAYER_FIRST(fd_loop, layer);

static eva__layer_key fd_key;

static bool fd_layer_cancel(eva__layer *layer) {
    fd_loop *fl = (fd_loop *)layer;
    bool any = !eva__queue_empty(&fl->pending);
    eva_queue *n;
    while ((n = eva__queue_first(&fl->pending))) /* cancelling unlinks it */
        eva_fd_wait_cancel(EVA__QUEUE_DATA(n, eva_fd_wait_req, node));
    return any;
}

static void fd_layer_close(eva__layer *layer) { eva__free(layer); }

static fd_loop *fd_loop_get(eva_loop *loop) {
    fd_loop *fl = eva__layer_get(loop, &fd_key);
    if (fl)
        return fl;
    fl = eva__calloc(1, sizeof *fl);
    if (!fl)
        return NULL;
    eva__queue_init(&fl->pending);
    fl->layer.cancel = fd_layer_cancel;
    fl->layer.close = fd_layer_close;
    if (eva__layer_attach(loop, &fd_key, &fl->layer) < 0) {
        eva__free(fl);
        return NULL;
    }
    return fl;
}

static const char *status_message(const eva__req *r, int status) {
    (void)r;
    switch (status) {
    case -ETIMEDOUT: return "fd wait: the descriptor was not ready within the timeout";
    case -EBADF:     return "fd wait: the loop could not watch the descriptor";
    default:         return NULL;
    }
}

static void notify(eva__req *r, int status) {
    eva_fd_wait_req *req = EVA__CONTAINER_OF(r, eva_fd_wait_req, req);
    ((eva_fd_wait_fn)r->to.cb)(req, status);
}

/* The wait reports through its own completion (the queued -ECANCELED), which
 * wakes the task: task.h's second case. */
static void await_cancel(eva_task *t) { eva_fd_wait_cancel(eva_task_get_wait_obj(t)); }

static const eva__req_kind fd_wait_kind = {{"fd", await_cancel}, notify, status_message};

/* The wait is over: tell its owner, reading nothing of req afterwards (the
 * callback or the woken task may restart or free it). */
static void fd_wait_done(eva_fd_wait_req *req, int status) { eva__req_done(req->loop, &req->req, status); }

/* Nothing of the wait can fire any more (stopping also drops an event
 * already pending for this iteration). */
static void withdraw(eva_fd_wait_req *req) {
    struct ev_loop *ev = eva_loop_get_ev(req->loop);
    ev_io_stop(ev, &req->io);
    ev_timer_stop(ev, &req->timer);
    eva__queue_remove(&req->node);
}

static void on_ready(struct ev_loop *ev, ev_io *w, int revents) {
    (void)ev;
    eva_fd_wait_req *req = EVA__CONTAINER_OF(w, eva_fd_wait_req, io);
    withdraw(req);
    if (revents & EV_ERROR) { /* libev gave up on the descriptor */
        fd_wait_done(req, -EBADF);
        return;
    }
    req->revents = revents & req->events;
    fd_wait_done(req, 0);
}

static void on_deadline(struct ev_loop *ev, ev_timer *w, int revents) {
    (void)ev;
    (void)revents;
    eva_fd_wait_req *req = EVA__CONTAINER_OF(w, eva_fd_wait_req, timer);
    withdraw(req);
    fd_wait_done(req, -ETIMEDOUT);
}

int eva_fd_wait_cancel(eva_fd_wait_req *req) {
    if (!req)
        return -EINVAL;
    if (!req->req.busy || eva__req_queued(&req->req))
        return 0; /* idle, or its completion is queued already */
    withdraw(req);
    eva__req_done_later(req->loop, &req->req, -ECANCELED);
    return 0;
}

bool eva_fd_wait_is_pending(const eva_fd_wait_req *req) {
    return req && req->req.busy;
}

static int check_args(int fd, int events, int64_t timeout_ms) {
    if (fd < 0 || events == 0 || (events & ~(EVA_FD_READABLE | EVA_FD_WRITABLE)) || timeout_ms < 0)
        return -EINVAL;
    return fcntl(fd, F_GETFD) < 0 ? -EBADF : 0;
}

static void fill(eva_fd_wait_req *req, int fd, int events, int64_t timeout_ms) {
    req->fd = fd;
    req->events = events;
    req->timeout_ms = timeout_ms;
}

/* Start the filled, idle request on loop for cb (NULL: the AWAIT form, whose
 * start then parks the task). */
static int begin(eva_fd_wait_req *req, eva_loop *loop, eva_fd_wait_fn cb) {
    if (req->req.busy)
        return -EBUSY;
    int rc = check_args(req->fd, req->events, req->timeout_ms);
    if (rc < 0)
        return rc;
    fd_loop *fl = fd_loop_get(loop);
    if (!fl)
        return -ENOMEM;
    struct ev_loop *ev = eva_loop_get_ev(loop);
    req->loop = loop;
    req->revents = 0;
    eva__req_take(&req->req, &fd_wait_kind, (void (*)(void))cb);
    eva__queue_insert_tail(&fl->pending, &req->node);
    ev_io_init(&req->io, on_ready, req->fd, req->events);
    ev_io_start(ev, &req->io);
    ev_timer_init(&req->timer, on_deadline, (double)req->timeout_ms / 1e3, 0.);
    if (req->timeout_ms > 0)
        ev_timer_start(ev, &req->timer);
    return 0;
}

int eva_fd_wait(eva_fd_wait_req *req, eva_loop *loop, int fd, int events, int64_t timeout_ms,
                eva_fd_wait_fn cb) {
    if (!req || !loop || !cb)
        return -EINVAL;
    if (req->req.busy)
        return -EBUSY;
    fill(req, fd, events, timeout_ms);
    return begin(req, loop, cb);
}

static int await_start(eva_task *t, const eva_op *op) {
    eva_fd_wait_req *req = op->ptr;
    if (!req)
        return -EINVAL;
    int rc = begin(req, t->loop, NULL);
    return rc < 0 ? rc : eva__req_park(&req->req, t, req);
}

eva_op eva_fd_wait_op(eva_fd_wait_req *req, int fd, int events, int64_t timeout_ms) {
    if (req && !req->req.busy) /* never touch a request in flight */
        fill(req, fd, events, timeout_ms);
    return (eva_op){.start = await_start, .ptr = req};
}

int eva_fd_wait_promise(eva_loop *loop, int fd, int events, int64_t timeout_ms, eva_promise **out) {
    if (!loop || !out)
        return -EINVAL;
    int rc = check_args(fd, events, timeout_ms); /* start errors are returned, not rejected */
    if (rc < 0)
        return rc;
    eva_fd_wait_req *req = eva__calloc(1, sizeof *req);
    if (!req)
        return -ENOMEM;
    return eva__req_promise(loop, req, eva_fd_wait_op(req, fd, events, timeout_ms), out);
}
