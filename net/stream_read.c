/* net/stream_read.c — the one pending read of a stream: read-some,
 * read-exact, read-until and the lent read (its memory: stream_lent.c),
 * with the read timeout. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net_internal.h"

/* ---- completing ------------------------------------------------------------------ */

static void read_notify(eva__req *r, int status) {
    eva_stream_read_req *req = EVA__CONTAINER_OF(r, eva_stream_read_req, req);
    ((eva_stream_read_fn)r->to.cb)(req, status);
}

static void read_await_cancel(eva_task *t);

static const eva__req_kind read_kind = {{"read", read_await_cancel}, read_notify, eva__stream_message};

/* The read timer is left running: it stops itself when it fires with no read
 * pending, which costs less than a stop and a start per read. */
static void read_disarm(eva_stream *stream) { eva__stream_unwant(stream, EV_READ); }

/* The pending read is over: the connection lets go of it (a new read may
 * start from its completion on). */
static eva_stream_read_req *read_release(eva_stream *stream) {
    eva_stream_read_req *req = stream->rd;
    read_disarm(stream);
    stream->rd = NULL;
    return req;
}

void eva__stream_read_abort(eva_stream *stream, int status) {
    if (stream->rd)
        eva__req_done_later(stream->loop, &read_release(stream)->req, status);
}

int eva_stream_read_cancel(eva_stream *stream) {
    if (!stream)
        return -EINVAL;
    if (eva_stream_is_open(stream))
        eva__stream_read_abort(stream, -ECANCELED);
    return 0;
}

/* ---- reading ---------------------------------------------------------------------- */

/* ---- the read timer ------------------------------------------------------------------ */

/* One timer per connection serves the read timeout and the read deadline at
 * O(1) per read (ev.pod, "Be smart about timeouts"): a read only notes when
 * it started or last made progress.  The timer is armed for the earliest
 * moment a timeout could be due; when it fires it either times the read out
 * or moves itself to the new earliest moment (a repeating timer and
 * ev_timer_again: no stop and start).  It runs unreferenced: a pending read's
 * io watcher holds the loop, and a timer left running after the last read
 * must not keep an idle connection's loop alive. */

/* When the pending read times out (ev_now clock), or 0: never. */
static ev_tstamp read_due(const eva_stream *stream) {
    if (!stream->rd)
        return 0;
    ev_tstamp due = stream->read_deadline;
    if (stream->read_timeout_ms > 0) {
        ev_tstamp idle_due = stream->read_activity + (double)stream->read_timeout_ms / 1e3;
        if (due == 0 || idle_due < due)
            due = idle_due;
    }
    return due;
}

/* (Re)arm a repeating timer for due: it must never repeat with 0 (that stops it). */
static void timer_move(eva_stream *stream, ev_tstamp due) {
    struct ev_loop *ev = eva_loop_get_ev(stream->loop);
    ev_tstamp left = due - ev_now(ev);
    stream->timer.repeat = left > 1e-6 ? left : 1e-6;
    ev_timer_again(ev, &stream->timer); /* starts it, or moves it in place */
}

void eva__stream_read_timer_arm(eva_stream *stream) {
    ev_tstamp due = read_due(stream);
    if (due == 0)
        return;
    if (ev_is_active(&stream->timer)) {
        struct ev_loop *ev = eva_loop_get_ev(stream->loop);
        if (ev_now(ev) + ev_timer_remaining(ev, &stream->timer) > due) /* when it fires */
            timer_move(stream, due); /* rare: a shorter timeout or an earlier deadline */
        return;                   /* else it fires first and looks again */
    }
    timer_move(stream, due);
    ev_unref(eva_loop_get_ev(stream->loop));
    stream->timer_unref = true;
}

void eva__stream_timer_stop(eva_stream *stream) {
    struct ev_loop *ev = eva_loop_get_ev(stream->loop);
    if (stream->timer_unref) { /* stopping an unreferenced watcher: libev wants the ref back first */
        ev_ref(ev);
        stream->timer_unref = false;
    }
    ev_timer_stop(ev, &stream->timer);
}

void eva__stream_read_timer_fired(eva_stream *stream) {
    ev_tstamp due = read_due(stream);
    if (due > ev_now(eva_loop_get_ev(stream->loop))) {
        timer_move(stream, due); /* progress, or a later deadline, since it was armed */
        return;
    }
    eva__stream_timer_stop(stream);
    if (due == 0)
        return;
    bool deadline = stream->read_deadline > 0 && due >= stream->read_deadline;
    stream->rd->req.timeout = deadline ? EVA__STREAM_READ_DEADLINE : EVA__STREAM_IDLE_TIMEOUT;
    eva__stream_read_abort(stream, -ETIMEDOUT);
}

static void note_progress(eva_stream *stream) { stream->read_activity = ev_now(eva_loop_get_ev(stream->loop)); }

/* Where to look for the delimiter once `have` bytes are in: it may straddle
 * the previous chunk, so start dlen - 1 bytes back. */
static const char *find_delim(const eva_stream_read_req *rd, size_t from, size_t to) {
    size_t d = rd->by_mode.until.dlen;
    for (size_t i = from; i + d <= to; i++)
        if (memcmp(rd->buf + i, rd->by_mode.until.delim, d) == 0)
            return rd->buf + i;
    return NULL;
}

/* took more bytes consumed, hit: they end with the delimiter.  1 done, 0 go
 * on, < 0 error. */
static int until_took(eva_stream_read_req *rd, size_t took, bool hit) {
    rd->nread += (ssize_t)took;
    if (hit)
        return 1;
    return (size_t)rd->nread == rd->len ? -EMSGSIZE : 0;
}

/* One read-until chunk from a socket: peek, then consume only up to the
 * delimiter, so the bytes after it stay in the socket for the next read. */
static int until_chunk_peek(eva_stream *stream, eva_stream_read_req *rd) {
    size_t have = (size_t)rd->nread, dlen = rd->by_mode.until.dlen;
    ssize_t k = eva__stream_recv(stream, rd->buf + have, rd->len - have, true);
    if (k <= 0)
        return k == 0 ? EVA_EOF : (int)k;
    size_t from = have >= dlen ? have - dlen + 1 : 0;
    const char *hit = find_delim(rd, from, have + (size_t)k);
    size_t take = hit ? (size_t)(hit - rd->buf) + dlen - have : (size_t)k;
    ssize_t got = eva__stream_recv(stream, rd->buf + have, take, false);
    if (got != (ssize_t)take) /* the peeked bytes are there: only an error stops us */
        return got < 0 ? (int)got : -EIO;
    return until_took(rd, take, hit != NULL);
}

/* The longest tail of the bytes read that is a start of the delimiter. */
static size_t delim_started(const eva_stream_read_req *rd) {
    size_t have = (size_t)rd->nread, dlen = rd->by_mode.until.dlen;
    size_t m = dlen - 1 < have ? dlen - 1 : have;
    while (m > 0 && memcmp(rd->buf + have - m, rd->by_mode.until.delim, m) != 0)
        m--;
    return m;
}

/* One read-until chunk from a pipe or tty, which cannot be peeked: read no
 * more than the part of the delimiter still missing.  The delimiter cannot
 * end sooner (a longer started part would have been found), so nothing past
 * it is consumed; the price is short reads near a started delimiter (a
 * one-byte delimiter reads a byte at a time). */
static int until_chunk_bounded(int fd, eva_stream_read_req *rd) {
    size_t have = (size_t)rd->nread, dlen = rd->by_mode.until.dlen;
    size_t want = dlen - delim_started(rd);
    if (want > rd->len - have)
        want = rd->len - have;
    ssize_t k = read(fd, rd->buf + have, want);
    if (k <= 0)
        return k == 0 ? EVA_EOF : -errno;
    size_t from = have >= dlen ? have - dlen + 1 : 0;
    return until_took(rd, (size_t)k, find_delim(rd, from, have + (size_t)k) != NULL);
}

static int until_chunk(eva_stream *stream, eva_stream_read_req *rd) {
    return stream->kind.socket ? until_chunk_peek(stream, rd) : until_chunk_bounded(stream->fd, rd);
}

/* A read that asked for room and got less emptied the descriptor, most
 * likely: the next AWAIT read need not try it before waiting (libuv's
 * UV_HANDLE_READ_PARTIAL).  Waiting is always safe, the watcher being level
 * triggered (and TLS records already decrypted are fed by read_arm). */
static void note_got(eva_stream *stream, ssize_t got, size_t asked) { stream->read_short = (size_t)got < asked; }

/* One read-some/exact chunk (recvmsg for a read that takes descriptors):
 * 1 done, 0 go on, < 0 error. */
static int plain_chunk(eva_stream *stream, eva_stream_read_req *rd) {
    size_t have = (size_t)rd->nread;
    ssize_t r;
    if (rd->mode == EVA__READ_FDS) {
        bool lost;
        r = eva__stream_recv_fds(stream->fd, rd->buf + have, rd->len - have, rd->by_mode.fds.fds,
                                 rd->by_mode.fds.max, &rd->nfds, &lost);
        if (r > 0 && lost) {
            rd->nread += r;
            return -EMSGSIZE;
        }
        if (r < 0)
            return (int)r;
    } else if ((r = eva__stream_recv(stream, rd->buf + have, rd->len - have, false)) < 0) {
        return (int)r;
    }
    note_got(stream, r, rd->len - have);
    bool some = rd->mode != EVA__READ_EXACT; /* a read-some, with descriptors or not */
    if (r == 0)
        return some ? 1 : EVA_EOF;
    rd->nread += r;
    return some || (size_t)rd->nread == rd->len ? 1 : 0;
}

/* A lent read: into a chunk the loop lends the stream only when bytes came
 * (on EAGAIN, EOF or an error it goes straight back).  1 done, < 0 error. */
static int lent_chunk(eva_stream *stream, eva_stream_read_req *rd) {
    char *chunk = eva__stream_lent_take(stream);
    if (!chunk)
        return -ENOMEM;
    ssize_t r = eva__stream_recv(stream, chunk, EVA_STREAM_LENT_SIZE, false); /* TLS too */
    if (r >= 0)
        note_got(stream, r, EVA_STREAM_LENT_SIZE);
    if (r <= 0) {
        eva__stream_lent_give(stream, chunk);
        return r == 0 ? 1 : (int)r;
    }
    stream->lent = rd->lent = chunk;
    rd->nread = r;
    return 1;
}

static int read_chunk(eva_stream *stream, eva_stream_read_req *rd) {
    switch (rd->mode) {
    case EVA__READ_UNTIL:
        return until_chunk(stream, rd);
    case EVA__READ_LENT:
        return lent_chunk(stream, rd);
    default:
        return plain_chunk(stream, rd);
    }
}

/* Move bytes; true when the read is over (its status in *status). */
static bool read_step(eva_stream *stream, eva_stream_read_req *rd, int *status) {
    for (;;) {
        int r = read_chunk(stream, rd);
        if (r == -EINTR)
            continue;
        if (r == -EAGAIN || r == -EWOULDBLOCK)
            return false;
        if (r == 0) { /* progress, not finished */
            note_progress(stream);
            continue;
        }
        *status = r > 0 ? 0 : r;
        return true;
    }
}

void eva__stream_on_readable(eva_stream *stream) {
    eva_stream_read_req *rd = stream->rd;
    int status;
    if (!rd) { /* TLS waited for readability on a write's behalf */
        eva__stream_unwant(stream, EV_READ);
        return;
    }
    if (read_step(stream, rd, &status))
        eva__req_done(stream->loop, &read_release(stream)->req, status);
}

/* ---- starting ---------------------------------------------------------------------- */

static int read_check(const eva_stream *stream) {
    if (!eva_stream_is_open(stream) || stream->connecting || stream->closing)
        return -ENOTCONN;
    if (!stream->kind.readable)
        return -EBADF; /* a pipe's write end */
    if (stream->rd)
        return -EBUSY;
    if (stream->read_deadline > 0 && ev_now(eva_loop_get_ev(stream->loop)) >= stream->read_deadline)
        return -ETIMEDOUT;
    return 0;
}

/* The arguments, into the request only (the builder's and the start call's part). */
static void read_fill(eva_stream_read_req *req, eva_stream *stream, eva_stream_read_mode mode, void *buf,
                      size_t len, const char *delim, size_t dlen) {
    req->stream = stream;
    req->mode = mode;
    req->buf = buf;
    req->len = len;
    req->by_mode.until.delim = delim;
    req->by_mode.until.dlen = dlen;
    req->nfds = 0;
    req->lent = NULL;
}

/* eva_unix_read_fds's part: a read-some that takes descriptors. */
static void read_fill_fds(eva_stream_read_req *req, int *fds, int maxfds) {
    req->mode = EVA__READ_FDS;
    req->by_mode.fds.fds = fds;
    req->by_mode.fds.max = maxfds;
}

static bool until_args_ok(const eva_stream_read_req *req) {
    const char *delim = req->by_mode.until.delim;
    size_t dlen = req->by_mode.until.dlen;
    return delim && dlen > 0 && dlen <= req->len;
}

static bool fds_args_ok(const eva_stream_read_req *req) {
    return req->by_mode.fds.max >= 1 && req->by_mode.fds.max <= EVA_UNIX_MAX_FDS;
}

/* The connection takes the filled request; cb NULL: the AWAIT form. */
static int read_begin(eva_stream_read_req *req, void (*cb)(void)) {
    eva_stream *stream = req->stream;
    if (req->req.busy)
        return -EBUSY;
    bool has_buffer = req->buf && req->len > 0;
    if (!stream || (req->mode == EVA__READ_LENT) == has_buffer)
        return -EINVAL;
    if ((req->mode == EVA__READ_UNTIL && !until_args_ok(req)) || (req->mode == EVA__READ_FDS && !fds_args_ok(req)))
        return -EINVAL;
    int rc = read_check(stream);
    if (rc == 0 && req->mode == EVA__READ_FDS)
        rc = eva__stream_check_local(stream);
    if (rc < 0)
        return rc;
    eva_stream_release_lent(stream); /* the last lent read's bytes end where a new read begins */
    eva__req_take(&req->req, &read_kind, cb);
    req->nread = 0;
    stream->rd = req;
    return 0;
}

static void read_arm(eva_stream *stream) {
    eva__stream_want(stream, EV_READ);
    if (stream->tls)
        eva__tls_read_armed(stream);
    note_progress(stream);
    eva__stream_read_timer_arm(stream);
}

/* The filled request starts. */
static int read_go(eva_stream_read_req *req, eva_stream_read_fn cb) {
    int rc = read_begin(req, (void (*)(void))cb);
    if (rc == 0)
        read_arm(req->stream);
    return rc;
}

static int read_start(eva_stream_read_req *req, eva_stream *stream, eva_stream_read_mode mode, void *buf,
                      size_t len, const char *delim, size_t dlen, eva_stream_read_fn cb) {
    if (!req || !cb)
        return -EINVAL;
    if (req->req.busy)
        return -EBUSY;
    read_fill(req, stream, mode, buf, len, delim, dlen);
    return read_go(req, cb);
}

int eva_stream_read(eva_stream_read_req *req, eva_stream *stream, void *buf, size_t len, eva_stream_read_fn cb) {
    return read_start(req, stream, EVA__READ_SOME, buf, len, NULL, 0, cb);
}

int eva_stream_read_exact(eva_stream_read_req *req, eva_stream *stream, void *buf, size_t len, eva_stream_read_fn cb) {
    return read_start(req, stream, EVA__READ_EXACT, buf, len, NULL, 0, cb);
}

int eva_stream_read_until(eva_stream_read_req *req, eva_stream *stream, void *buf, size_t max, const char *delim,
                       size_t dlen, eva_stream_read_fn cb) {
    return read_start(req, stream, EVA__READ_UNTIL, buf, max, delim, dlen, cb);
}

int eva_stream_read_lent(eva_stream_read_req *req, eva_stream *stream, eva_stream_read_fn cb) {
    return read_start(req, stream, EVA__READ_LENT, NULL, 0, NULL, 0, cb);
}

int eva_unix_read_fds(eva_stream_read_req *req, eva_stream *stream, void *buf, size_t len, int *fds,
                      int maxfds, eva_stream_read_fn cb) {
    if (!req || !cb || !fds)
        return -EINVAL;
    if (req->req.busy)
        return -EBUSY;
    read_fill(req, stream, EVA__READ_SOME, buf, len, NULL, 0);
    read_fill_fds(req, fds, maxfds);
    return read_go(req, cb);
}

/* ---- AWAIT --------------------------------------------------------------------------- */

/* The read completes once, through its own completion (which wakes the
 * task): queued already, it is left alone; else it is aborted. */
static void read_await_cancel(eva_task *t) {
    eva_stream_read_req *req = eva_task_get_wait_obj(t);
    if (!eva__req_queued(&req->req))
        eva__stream_read_abort(req->stream, -ECANCELED);
}

static int read_await_start(eva_task *t, const eva_op *op) {
    eva_stream_read_req *req = op->ptr;
    int rc = read_begin(req, NULL);
    if (rc == -ETIMEDOUT) { /* the only timeout read_begin reports */
        req->req.timeout = EVA__STREAM_READ_DEADLINE;
        t->u.message = eva__stream_message(&req->req, rc);
    }
    if (rc < 0)
        return rc;
    eva_stream *stream = req->stream;
    bool try_now = !stream->read_short;
    stream->read_short = false; /* once: the wake's read sets it again */
    if (try_now && read_step(stream, req, &rc)) { /* the bytes were already there: no suspension */
        stream->rd = NULL;
        eva__req_idle(&req->req);
        return rc;
    }
    read_arm(stream);
    return eva__req_park(&req->req, t, req);
}

static eva_op read_op(eva_stream_read_req *req, eva_stream *stream, eva_stream_read_mode mode, void *buf,
                      size_t len, const char *delim, size_t dlen) {
    if (!req || req->req.busy)
        return eva__req_refused_op(req ? -EBUSY : -EINVAL);
    read_fill(req, stream, mode, buf, len, delim, dlen);
    return (eva_op){.start = read_await_start, .ptr = req};
}

eva_op eva_stream_read_op(eva_stream_read_req *req, eva_stream *stream, void *buf, size_t len) {
    return read_op(req, stream, EVA__READ_SOME, buf, len, NULL, 0);
}

eva_op eva_stream_read_exact_op(eva_stream_read_req *req, eva_stream *stream, void *buf, size_t len) {
    return read_op(req, stream, EVA__READ_EXACT, buf, len, NULL, 0);
}

eva_op eva_stream_read_until_op(eva_stream_read_req *req, eva_stream *stream, void *buf, size_t max,
                             const char *delim, size_t dlen) {
    return read_op(req, stream, EVA__READ_UNTIL, buf, max, delim, dlen);
}

eva_op eva_stream_read_lent_op(eva_stream_read_req *req, eva_stream *stream) {
    return read_op(req, stream, EVA__READ_LENT, NULL, 0, NULL, 0);
}

eva_op eva_unix_read_fds_op(eva_stream_read_req *req, eva_stream *stream, void *buf, size_t len, int *fds,
                            int maxfds) {
    if (!fds)
        return eva__req_refused_op(-EINVAL);
    eva_op op = read_op(req, stream, EVA__READ_SOME, buf, len, NULL, 0);
    if (op.start == read_await_start) /* filled: not refused */
        read_fill_fds(req, fds, maxfds);
    return op;
}

/* ---- promises ------------------------------------------------------------------------- */

static int read_promise(eva_stream *stream, eva_stream_read_mode mode, void *buf, size_t len,
                        const char *delim, size_t dlen, eva_promise **out) {
    if (!stream || !out)
        return -EINVAL;
    eva_stream_read_req *req = eva__calloc(1, sizeof *req);
    if (!req)
        return -ENOMEM;
    return eva__req_promise(stream->loop, req, read_op(req, stream, mode, buf, len, delim, dlen), out);
}

int eva_stream_read_promise(eva_stream *stream, void *buf, size_t len, eva_promise **out) {
    return read_promise(stream, EVA__READ_SOME, buf, len, NULL, 0, out);
}

int eva_stream_read_exact_promise(eva_stream *stream, void *buf, size_t len, eva_promise **out) {
    return read_promise(stream, EVA__READ_EXACT, buf, len, NULL, 0, out);
}

int eva_stream_read_until_promise(eva_stream *stream, void *buf, size_t max, const char *delim, size_t dlen,
                               eva_promise **out) {
    return read_promise(stream, EVA__READ_UNTIL, buf, max, delim, dlen, out);
}

int eva_stream_read_lent_promise(eva_stream *stream, eva_promise **out) {
    return read_promise(stream, EVA__READ_LENT, NULL, 0, NULL, 0, out);
}
