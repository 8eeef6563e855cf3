/* loop/io.c — eva_io over ev_io. */
#include <errno.h>
#include <fcntl.h>

#include "internal.h"

static void on_io(struct ev_loop *ev, ev_io *w, int revents) {
    (void)ev;
    eva_io *io = EVA__CONTAINER_OF(w, eva_io, w);
    if (revents & EV_ERROR) {
        /* libev has stopped the watcher; keep the count in step */
        eva__handle_stopped(io->loop);
        EVA__CALL_USER(io->loop, io->cb, io->cb(io, EVA_ERROR));
        return;
    }
    EVA__CALL_USER(io->loop, io->cb, io->cb(io, revents & (EV_READ | EV_WRITE)));
}

int eva_io_init(eva_loop *loop, eva_io *io) {
    if (!loop || !io)
        return -EINVAL;
    io->data = NULL;
    io->loop = loop;
    io->cb = NULL;
    ev_init(&io->w, on_io);
    return 0;
}

int eva_io_start(eva_io *io, int fd, int events, eva_io_fn cb, void *data) {
    if (!io || !io->loop || !cb || fd < 0 || events == 0 || (events & ~(EVA_READ | EVA_WRITE)))
        return -EINVAL;
    if (fcntl(fd, F_GETFD) < 0)
        return -EBADF;
    eva_io_stop(io);
    io->cb = cb;
    io->data = data;
    ev_io_set(&io->w, fd, events);
    ev_io_start(io->loop->ev, &io->w);
    eva__handle_started(io->loop);
    return 0;
}

int eva_io_stop(eva_io *io) {
    if (!io || !io->loop)
        return -EINVAL;
    if (EVA__WATCHER_LIVE(&io->w)) {
        ev_io_stop(io->loop->ev, &io->w);
        eva__handle_stopped(io->loop);
    }
    return 0;
}

bool eva_io_is_active(const eva_io *io) { return io && EVA__WATCHER_LIVE(&io->w); }

eva_loop *eva_io_get_loop(const eva_io *w) { return w ? w->loop : NULL; }
