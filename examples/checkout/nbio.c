/* examples/checkout/nbio.c — a library's non-blocking IO driven by
 * eva_fd_wait, as a callback and as an AWAIT (svc.h). */
#include <errno.h>
#include <stdio.h>

#include "svc.h"

static void advance(nbio *io);

/* The same message in both forms, so that their outputs compare equal. */
static int wait_failed(nbio *io, int status) {
    snprintf(io->message, sizeof io->message, "waiting for the server: %s", eva_strerror(status));
    return status;
}

static void on_ready(eva_fd_wait_req *w, int status) {
    nbio *io = w->data;
    if (status < 0) {
        io->done(io, wait_failed(io, status));
        return;
    }
    io->ready = w->revents;
    advance(io);
}

static void advance(nbio *io) {
    io->want = io->step(io);
    if (io->want <= 0) {
        io->done(io, io->want);
        return;
    }
    io->wait.data = io;
    int rc = eva_fd_wait(&io->wait, io->loop, io->fd, io->want, io->timeout_ms, on_ready);
    if (rc < 0)
        io->done(io, rc);
}

static void first_step(eva_loop *loop, int status, void *arg) {
    (void)loop;
    nbio *io = arg;
    if (status < 0) /* the loop is being destroyed */
        io->done(io, status);
    else
        advance(io);
}

int nbio_start(nbio *io, eva_loop *loop, nbio_done_fn done) {
    if (!io || !loop || !done || !io->step)
        return -EINVAL;
    io->loop = loop;
    io->done = done;
    io->ready = 0;
    /* Deferred, so that done never runs inside this call even when the
     * first step finishes at once (a lost connection). */
    return eva_loop_defer(loop, &io->first, first_step, io);
}

static eva_step nbio_run(void *frame) {
    nbio *io = frame;
    ASYNC_BEGIN(io);
    io->ready = 0;
    while ((io->want = io->step(io)) > 0) {
        AWAIT_RC(io, io->status, eva_fd_wait_op(&io->wait, io->fd, io->want, io->timeout_ms));
        if (io->status < 0)
            ASYNC_FAIL(io, wait_failed(io, io->status), io->message);
        io->ready = io->wait.revents;
    }
    if (io->want < 0)
        ASYNC_FAIL(io, io->want, io->message);
    ASYNC_END(io);
}

eva_op nbio_op(nbio *io) { return EVA_ASYNC(nbio_run, io); }
