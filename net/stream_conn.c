/* net/stream_conn.c — a stream's life: open, readiness dispatch, timeouts,
 * half-close and close. */
#define _DEFAULT_SOURCE /* TCP_NODELAY */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include "net_internal.h"

/* Writes first: the write side tells nobody at once (its completions are
 * queued, and on_drain leaves the struct alone), whereas a read's
 * completion runs now and may close or free the stream, so nothing may touch
 * it after the read side.  Each side runs only if it still waits: the other
 * may have closed the stream, or stopped it. */
static void on_io(struct ev_loop *ev, ev_io *w, int revents) {
    (void)ev;
    eva_stream *stream = EVA__CONTAINER_OF(w, eva_stream, io);
    if (stream->tls)
        revents = eva__tls_on_io(stream, revents);
    if (revents & eva__stream_watching(stream) & EV_WRITE) {
        if (stream->connecting)
            eva__stream_connect_done(stream, 0);
        else
            eva__stream_on_writable(stream);
    }
    if (revents & eva__stream_watching(stream) & EV_READ)
        eva__stream_on_readable(stream);
}

/* Changing an active watcher's events takes a stop and a start (ev.pod,
 * ev_io_set); ev_io_modify keeps libev from re-registering the descriptor.
 * The stop drops an event reported but not yet delivered (a descriptor's
 * readiness is reported again, but an event fed by TLS for its buffered
 * bytes is not), so what of it is still wanted is fed back. */
void eva__stream_watch(eva_stream *stream, int events) {
    if (events == eva__stream_watching(stream))
        return;
    struct ev_loop *ev = eva_loop_get_ev(stream->loop);
    int pending = ev_is_pending(&stream->io) ? ev_clear_pending(ev, &stream->io) : 0;
    ev_io_stop(ev, &stream->io);
    ev_io_modify(&stream->io, events);
    if (events)
        ev_io_start(ev, &stream->io);
    if (pending & events)
        ev_feed_event(ev, &stream->io, pending & events);
}

static void on_timer(struct ev_loop *ev, ev_timer *w, int revents) {
    (void)ev;
    (void)revents;
    eva_stream *stream = EVA__CONTAINER_OF(w, eva_stream, timer);
    if (stream->connecting) {
        stream->cn->timeout = EVA__STREAM_CONNECT_TIMEOUT;
        eva__stream_connect_done(stream, -ETIMEDOUT);
    } else {
        eva__stream_read_timer_fired(stream);
    }
}

int eva__stream_attach(eva_loop *loop, eva_stream *stream, int fd) {
    eva__net_loop *nl = eva__net_loop_get(loop);
    if (!nl)
        return -ENOMEM;
    void *data = stream->data;
    *stream = (eva_stream){.data = data, .loop = loop, .fd = fd,
                     .high_water = 64 * 1024, .low_water = 16 * 1024,
                     .kind = {.socket = true, .readable = true, .writable = true}};
    ev_io_init(&stream->io, on_io, fd, 0);
    ev_init(&stream->timer, on_timer);
    eva__net_link_conn(nl, stream);
    return 0;
}

bool eva_stream_is_open(const eva_stream *stream) { return stream && stream->loop && stream->fd >= 0; }

int eva_stream_get_fd(const eva_stream *stream) { return eva_stream_is_open(stream) ? stream->fd : -EBADF; }

int eva_stream_set_read_timeout(eva_stream *stream, int64_t ms) {
    if (!stream || ms < 0)
        return -EINVAL;
    stream->read_timeout_ms = ms;
    if (eva_stream_is_open(stream))
        eva__stream_read_timer_arm(stream); /* a pending read gets the new timeout */
    return 0;
}

int eva_stream_set_read_deadline(eva_stream *stream, int64_t ms) {
    if (!stream || ms < 0)
        return -EINVAL;
    if (!eva_stream_is_open(stream))
        return -ENOTCONN;
    stream->read_deadline = ms ? ev_now(eva_loop_get_ev(stream->loop)) + (double)ms / 1e3 : 0;
    eva__stream_read_timer_arm(stream);
    return 0;
}

int eva_stream_set_watermarks(eva_stream *stream, size_t high, size_t low, void (*on_drain)(eva_stream *stream)) {
    if (!stream || low > high)
        return -EINVAL;
    stream->high_water = high;
    stream->low_water = low;
    stream->on_drain = on_drain;
    return 0;
}

size_t eva_stream_get_write_queue_size(const eva_stream *stream) { return stream ? stream->queued : 0; }

/* ---- close ------------------------------------------------------------------ */

static void close_notify(eva__req *r, int status) {
    eva_stream *stream = EVA__CONTAINER_OF(r, eva_stream, close);
    ((eva_stream_close_fn)r->to.cb)(stream, status);
}

/* Still flushing: stop and close now; the close reports -ECANCELED after the
 * aborted writes' completions, so the task (and its frame) outlives them.
 * Otherwise the close's report is queued already. */
static void close_await_cancel(eva_task *t) {
    eva_stream *stream = eva_task_get_wait_obj(t);
    if (eva_stream_is_open(stream))
        eva__stream_close_now(stream, false, -ECANCELED);
}

static const eva__req_kind close_kind = {{"close", close_await_cancel}, close_notify, eva__stream_message};

void eva__stream_close_now(eva_stream *stream, bool reset, int status) {
    eva__stream_watch(stream, 0);
    eva__stream_timer_stop(stream);
    if (stream->connecting)
        eva__stream_connect_done(stream, -ECANCELED);
    eva__stream_read_abort(stream, -ECANCELED);
    eva__stream_write_abort(stream, -ECANCELED);
    eva__stream_shut_report(stream, -ECANCELED); /* still waiting for the queue to flush */
    eva_stream_release_lent(stream);
    if (reset) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(stream->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    if (stream->tls)
        eva__tls_close(stream, false); /* a flushing close sent close_notify already */
    close(stream->fd);
    stream->fd = -1;
    stream->closing = false;
    eva__net_unlink_conn(stream);
    if (stream->close.busy) /* queued after the aborted requests' completions */
        eva__req_done_later(stream->loop, &stream->close, status);
}

/* The close slot is taken only when someone is to be told (no completion is
 * queued for a close nobody waits for): the callback form's cb, or the AWAIT
 * form (awaited).  Even a close done at once reports from the loop, after
 * the aborted requests' completions: a task told earlier could finish and
 * free the requests in its frame while their completions are queued. */
void eva__stream_close_begin(eva_stream *stream, eva_stream_close_how how, bool awaited, void (*cb)(void)) {
    if (cb || awaited)
        eva__req_take(&stream->close, &close_kind, cb);
    if (how == EVA_STREAM_CLOSE_FLUSH && stream->wq_head && !stream->broken) {
        stream->closing = true; /* eva__stream_queue_drained closes once the queue is empty */
        eva__stream_read_abort(stream, -ECANCELED);
        return;
    }
    if (how == EVA_STREAM_CLOSE_FLUSH && stream->tls)
        eva__tls_close(stream, true);
    eva__stream_close_now(stream, how == EVA_STREAM_CLOSE_RESET, 0);
}

int eva_stream_close(eva_stream *stream, eva_stream_close_how how, eva_stream_close_fn cb) {
    if (!stream || how < EVA_STREAM_CLOSE_FLUSH || how > EVA_STREAM_CLOSE_RESET)
        return -EINVAL;
    if (!eva_stream_is_open(stream) || stream->closing)
        return 0;
    eva__stream_close_begin(stream, how, false, (void (*)(void))cb);
    return 0;
}

int eva__stream_close_park(eva_stream *stream, eva_task *t) { return eva__req_park(&stream->close, t, stream); }

void eva__stream_queue_drained(eva_stream *stream, int status) {
    if (stream->closing && stream->tls && status == 0)
        eva__tls_close(stream, true); /* flushed: the close is a clean one */
    if (stream->closing)
        eva__stream_close_now(stream, false, status);
    else if (stream->write_shut == 1 && status < 0)
        eva__stream_shut_report(stream, status);
    else if (stream->write_shut == 1)
        eva__stream_shut_now(stream);
}
