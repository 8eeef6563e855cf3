/* async/fd_wait.c — one-shot readiness waits on a descriptor the caller owns
 * (evasync/fd.h).  The request holds its own ev_io and deadline timer; the
 * loop keeps a list of the pending ones so that eva_loop_destroy can
 * complete them. */
#include <errno.h>
#include <fcntl.h>

#include "evasync/fd.h"
#include "promise_internal.h"

enum { FD_WAIT_IDLE, FD_WAIT_WAITING, FD_WAIT_COMPLETING };

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

static const char *status_message(int status) {
    switch (status) {
    case -ETIMEDOUT: return "fd wait: the descriptor was not ready within the timeout";
    case -EBADF:     return "fd wait: the loop could not watch the descriptor";
    default:         return NULL;
    }
}

/* The wait is over: tell its owner, reading nothing of req afterwards (the
 * callback or the woken task may restart or free it). */
static void fd_wait_done(eva_fd_wait_req *req, int status) {
    req->state = FD_WAIT_IDLE;
    if (req->awaited) {
        eva_task_wake(req->to.waiter, status, status_message(status));
        return;
    }
    eva_fd_wait_fn cb = req->to.cb;
    EVA__CALL_USER(req->loop, cb, cb(req, status));
}

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

static void on_cancelled(eva_loop *loop, int status, void *arg) {
    (void)loop;
    (void)status; /* -ECANCELED at loop destroy too: ours is -ECANCELED either way */
    fd_wait_done(arg, -ECANCELED);
}

int eva_fd_wait_cancel(eva_fd_wait_req *req) {
    if (!req)
        return -EINVAL;
    if (req->state != FD_WAIT_WAITING)
        return 0; /* idle, or its completion is queued already */
    withdraw(req);
    req->state = FD_WAIT_COMPLETING;
    eva_loop_defer(req->loop, &req->call, on_cancelled, req);
    return 0;
}

bool eva_fd_wait_is_pending(const eva_fd_wait_req *req) {
    return req && req->state != FD_WAIT_IDLE;
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

/* Start the filled, idle request on loop; the caller sets who is told. */
static int begin(eva_fd_wait_req *req, eva_loop *loop) {
    if (req->state != FD_WAIT_IDLE)
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
    req->state = FD_WAIT_WAITING;
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
    if (req->state != FD_WAIT_IDLE)
        return -EBUSY;
    fill(req, fd, events, timeout_ms);
    int rc = begin(req, loop);
    if (rc < 0)
        return rc;
    req->awaited = false;
    req->to.cb = cb;
    return 0;
}

/* The wait reports through its own completion (the queued -ECANCELED), which
 * wakes the task: task.h's second case. */
static void await_cancel(eva_task *t) { eva_fd_wait_cancel(eva_task_get_wait_obj(t)); }

static const eva_wait_ops fd_wait_ops = {"fd", await_cancel};

static int await_start(eva_task *t, const eva_op *op) {
    eva_fd_wait_req *req = op->ptr;
    if (!req)
        return -EINVAL;
    int rc = begin(req, t->loop);
    if (rc < 0)
        return rc;
    req->awaited = true;
    req->to.waiter = t;
    eva_task_park(t, &fd_wait_ops, req);
    return EVA_PARKED;
}

eva_op eva_fd_wait_op(eva_fd_wait_req *req, int fd, int events, int64_t timeout_ms) {
    if (req && req->state == FD_WAIT_IDLE) /* never touch a request in flight */
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
    rc = eva__promise_from_op_value(loop, eva_fd_wait_op(req, fd, events, timeout_ms), req, eva__free, out);
    if (rc < 0)
        eva__free(req);
    return rc;
}
