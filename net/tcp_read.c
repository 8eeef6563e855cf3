/* net/tcp_read.c — the one pending read of a connection: read-some,
 * read-exact and read-until, with the read timeout. */
#include <errno.h>
#include <string.h>

#include "net_internal.h"

/* ---- completing ------------------------------------------------------------------ */

static void read_deliver(eva_tcp *tcp) {
    ssize_t result = tcp->rd.result;
    eva_tcp_read_fn cb = tcp->rd.cb;
    tcp->rd.active = tcp->rd.aborted = false;
    EVA__CALL_USER(tcp->loop, cb, cb(tcp, result)); /* may start the next read */
}

static void on_read_deferred(eva_loop *loop, int status, void *arg) {
    (void)loop;
    (void)status; /* the result is in rd.result; at destroy it still runs once */
    read_deliver(arg);
}

/* The read timer is left running: it stops itself when it fires with no read
 * pending, which costs less than a stop and a start per read. */
static void read_disarm(eva_tcp *tcp) { ev_io_stop(eva_loop_get_ev(tcp->loop), &tcp->rio); }

void eva__tcp_read_abort(eva_tcp *tcp, int status) {
    if (!tcp->rd.active || tcp->rd.aborted)
        return;
    read_disarm(tcp);
    tcp->rd.aborted = true;
    tcp->rd.result = status;
    eva_loop_defer(tcp->loop, &tcp->rd.call, on_read_deferred, tcp);
}

int eva_tcp_read_cancel(eva_tcp *tcp) {
    if (!tcp)
        return -EINVAL;
    eva__tcp_read_abort(tcp, -ECANCELED);
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
static ev_tstamp read_due(const eva_tcp *tcp) {
    if (!tcp->rd.active || tcp->rd.aborted)
        return 0;
    ev_tstamp due = tcp->read_deadline;
    if (tcp->read_timeout_ms > 0) {
        ev_tstamp idle_due = tcp->read_activity + (double)tcp->read_timeout_ms / 1e3;
        if (due == 0 || idle_due < due)
            due = idle_due;
    }
    return due;
}

/* (Re)arm a repeating timer for due: it must never repeat with 0 (that stops it). */
static void timer_move(eva_tcp *tcp, ev_tstamp due) {
    struct ev_loop *ev = eva_loop_get_ev(tcp->loop);
    ev_tstamp left = due - ev_now(ev);
    tcp->timer_at = due;
    tcp->timer.repeat = left > 1e-6 ? left : 1e-6;
    ev_timer_again(ev, &tcp->timer); /* starts it, or moves it in place */
}

void eva__tcp_read_timer_arm(eva_tcp *tcp) {
    ev_tstamp due = read_due(tcp);
    if (due == 0)
        return;
    if (ev_is_active(&tcp->timer)) {
        if (tcp->timer_at > due)
            timer_move(tcp, due); /* rare: a shorter timeout or an earlier deadline */
        return;                   /* else it fires first and looks again */
    }
    timer_move(tcp, due);
    ev_unref(eva_loop_get_ev(tcp->loop));
    tcp->timer_unref = true;
}

void eva__tcp_timer_stop(eva_tcp *tcp) {
    struct ev_loop *ev = eva_loop_get_ev(tcp->loop);
    if (tcp->timer_unref) { /* stopping an unreferenced watcher: libev wants the ref back first */
        ev_ref(ev);
        tcp->timer_unref = false;
    }
    ev_timer_stop(ev, &tcp->timer);
}

void eva__tcp_read_timer_fired(eva_tcp *tcp) {
    ev_tstamp due = read_due(tcp);
    if (due > ev_now(eva_loop_get_ev(tcp->loop))) {
        timer_move(tcp, due); /* progress, or a later deadline, since it was armed */
        return;
    }
    eva__tcp_timer_stop(tcp);
    if (due != 0)
        eva__tcp_read_abort(tcp, -ETIMEDOUT);
}

static void note_progress(eva_tcp *tcp) { tcp->read_activity = ev_now(eva_loop_get_ev(tcp->loop)); }

/* Where to look for the delimiter once `have` bytes are in: it may straddle
 * the previous chunk, so start dlen - 1 bytes back. */
static const char *find_delim(const eva_tcp *tcp, size_t from, size_t to) {
    size_t d = tcp->rd.dlen;
    for (size_t i = from; i + d <= to; i++)
        if (memcmp(tcp->rd.buf + i, tcp->rd.delim, d) == 0)
            return tcp->rd.buf + i;
    return NULL;
}

/* One read-until chunk: peek, then consume only up to the delimiter, so the
 * bytes after it stay in the socket for the next read.  > 0 done, 0 go on,
 * < 0 error (errno in the result). */
static ssize_t until_chunk(eva_tcp *tcp) {
    size_t have = tcp->rd.have;
    ssize_t k = recv(tcp->fd, tcp->rd.buf + have, tcp->rd.len - have, MSG_PEEK);
    if (k <= 0)
        return k == 0 ? EVA_EOF : -errno;
    size_t from = have >= tcp->rd.dlen ? have - tcp->rd.dlen + 1 : 0;
    const char *hit = find_delim(tcp, from, have + (size_t)k);
    size_t take = hit ? (size_t)(hit - tcp->rd.buf) + tcp->rd.dlen - have : (size_t)k;
    ssize_t got = recv(tcp->fd, tcp->rd.buf + have, take, 0);
    if (got != (ssize_t)take) /* the peeked bytes are there: only an error stops us */
        return got < 0 ? -errno : -EIO;
    tcp->rd.have += take;
    if (hit)
        return (ssize_t)tcp->rd.have;
    return tcp->rd.have == tcp->rd.len ? -EMSGSIZE : 0;
}

/* Move bytes; true when the read is over (result in rd.result). */
static bool read_step(eva_tcp *tcp) {
    for (;;) {
        ssize_t r;
        if (tcp->rd.mode == EVA__READ_UNTIL) {
            r = until_chunk(tcp);
        } else {
            r = recv(tcp->fd, tcp->rd.buf + tcp->rd.have, tcp->rd.len - tcp->rd.have, 0);
            if (r > 0) {
                tcp->rd.have += (size_t)r;
                if (tcp->rd.mode == EVA__READ_SOME || tcp->rd.have == tcp->rd.len)
                    r = (ssize_t)tcp->rd.have;
                else
                    r = 0; /* exact: go on */
            } else if (r == 0) {
                r = tcp->rd.mode == EVA__READ_SOME ? 0 : EVA_EOF;
                tcp->rd.result = r;
                return true;
            } else {
                r = -errno;
            }
        }
        if (r == -EINTR)
            continue;
        if (r == -EAGAIN || r == -EWOULDBLOCK)
            return false;
        if (r == 0) { /* progress, not finished */
            note_progress(tcp);
            continue;
        }
        tcp->rd.result = r;
        return true;
    }
}

void eva__tcp_on_readable(eva_tcp *tcp) {
    if (!tcp->rd.active || tcp->rd.aborted) {
        ev_io_stop(eva_loop_get_ev(tcp->loop), &tcp->rio);
        return;
    }
    if (!read_step(tcp))
        return;
    read_disarm(tcp);
    read_deliver(tcp);
}

/* ---- starting ---------------------------------------------------------------------- */

static int read_check(const eva_tcp *tcp) {
    if (!eva_tcp_is_open(tcp) || tcp->connecting || tcp->closing)
        return -ENOTCONN;
    if (tcp->rd.active)
        return -EBUSY;
    if (tcp->read_deadline > 0 && ev_now(eva_loop_get_ev(tcp->loop)) >= tcp->read_deadline)
        return -ETIMEDOUT;
    return 0;
}

static int read_prepare(eva_tcp *tcp, eva_tcp_read_mode mode, void *buf, size_t len,
                        const char *delim, size_t dlen, eva_tcp_read_fn cb) {
    if (!tcp || !buf || len == 0 || !cb)
        return -EINVAL;
    if (mode == EVA__READ_UNTIL && (!delim || dlen == 0 || dlen > len))
        return -EINVAL;
    int rc = read_check(tcp);
    if (rc < 0)
        return rc;
    tcp->rd.mode = mode;
    tcp->rd.buf = buf;
    tcp->rd.len = len;
    tcp->rd.have = 0;
    tcp->rd.delim = delim;
    tcp->rd.dlen = dlen;
    tcp->rd.cb = cb;
    tcp->rd.active = true;
    tcp->rd.aborted = false;
    return 0;
}

static void read_arm(eva_tcp *tcp) {
    ev_io_start(eva_loop_get_ev(tcp->loop), &tcp->rio);
    note_progress(tcp);
    eva__tcp_read_timer_arm(tcp);
}

static int read_start(eva_tcp *tcp, eva_tcp_read_mode mode, void *buf, size_t len,
                      const char *delim, size_t dlen, eva_tcp_read_fn cb) {
    int rc = read_prepare(tcp, mode, buf, len, delim, dlen, cb);
    if (rc == 0)
        read_arm(tcp);
    return rc;
}

int eva_tcp_read(eva_tcp *tcp, void *buf, size_t len, eva_tcp_read_fn cb) {
    return read_start(tcp, EVA__READ_SOME, buf, len, NULL, 0, cb);
}

int eva_tcp_read_exact(eva_tcp *tcp, void *buf, size_t len, eva_tcp_read_fn cb) {
    return read_start(tcp, EVA__READ_EXACT, buf, len, NULL, 0, cb);
}

int eva_tcp_read_until(eva_tcp *tcp, void *buf, size_t max, const char *delim, size_t dlen,
                       eva_tcp_read_fn cb) {
    return read_start(tcp, EVA__READ_UNTIL, buf, max, delim, dlen, cb);
}

/* ---- AWAIT --------------------------------------------------------------------------- */

static void read_woken(eva_tcp *tcp, ssize_t n) {
    eva_task *t = tcp->rd.waiter;
    tcp->rd.waiter = NULL;
    if (tcp->rd.out)
        *tcp->rd.out = n > 0 ? n : 0;
    eva_task_wake(t, n < 0 ? (int)n : 0, NULL);
}

static void read_await_cancel(eva_task *t) { eva_tcp_read_cancel(eva_task_get_wait_obj(t)); }

static const eva_wait_ops read_wait = {"read", read_await_cancel};

/* The op carries the connection; the constructor left the parameters in
 * rd (only when no read is pending, so it never disturbs one). */
static int read_await_start(eva_task *t, const eva_op *op) {
    eva_tcp *tcp = op->ptr;
    if (!tcp)
        return -EINVAL;
    int rc = read_prepare(tcp, (eva_tcp_read_mode)op->num, tcp->rd.buf, tcp->rd.len,
                          tcp->rd.delim, tcp->rd.dlen, read_woken);
    if (rc < 0)
        return rc;
    if (read_step(tcp)) { /* the bytes were already there: no suspension */
        read_disarm(tcp);
        tcp->rd.active = false;
        ssize_t n = tcp->rd.result;
        if (tcp->rd.out)
            *tcp->rd.out = n > 0 ? n : 0;
        return n < 0 ? (int)n : 0;
    }
    tcp->rd.waiter = t;
    read_arm(tcp);
    eva_task_park(t, &read_wait, tcp);
    return EVA_PARKED;
}

static eva_op read_op(eva_tcp *tcp, eva_tcp_read_mode mode, void *buf, size_t len,
                      const char *delim, size_t dlen, ssize_t *n) {
    if (tcp && !tcp->rd.active) {
        tcp->rd.buf = buf;
        tcp->rd.len = len;
        tcp->rd.delim = delim;
        tcp->rd.dlen = dlen;
        tcp->rd.out = n;
    }
    return (eva_op){.start = read_await_start, .ptr = tcp, .num = mode};
}

eva_op eva_tcp_read_op(eva_tcp *tcp, void *buf, size_t len, ssize_t *n) {
    return read_op(tcp, EVA__READ_SOME, buf, len, NULL, 0, n);
}

eva_op eva_tcp_read_exact_op(eva_tcp *tcp, void *buf, size_t len) {
    return read_op(tcp, EVA__READ_EXACT, buf, len, NULL, 0, NULL);
}

eva_op eva_tcp_read_until_op(eva_tcp *tcp, void *buf, size_t max, const char *delim, size_t dlen,
                             ssize_t *n) {
    return read_op(tcp, EVA__READ_UNTIL, buf, max, delim, dlen, n);
}
