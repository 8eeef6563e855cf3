/* net/tcp_dial.c — connect by name with Happy Eyeballs (RFC 8305).
 *
 * The dial is a task that awaits one operation, the race: two queries (AAAA
 * and A) and up to EVA_TCP_DIAL_MAX_PENDING non-blocking connects on
 * sockets of its own, driven by their callbacks and two timers.  Every
 * callback ends in race_advance(), the one place that starts attempts, ends
 * an exhausted race and wakes the task.  The winning socket becomes the
 * caller's stream only then, so a lost or cancelled race never touches it.
 *
 * The task is woken once no query of the race is pending: a cancelled query
 * still completes (on a later iteration) into its eva_dns_query, which
 * lives in the request the caller may free as soon as the dial completes. */
#include <errno.h>
#include <unistd.h>

#include "net_internal.h"

enum { V6, V4 }; /* the queries, lists and attempt order: IPv6 first (§4) */
enum { RESOLUTION_DELAY_MS = 50 }; /* RFC 8305 §3's recommended value */

static const int family_of[2] = {AF_INET6, AF_INET};

static struct ev_loop *ev_of(const eva_tcp_dial_req *d) { return eva_loop_get_ev(d->task.loop); }

static void timer_arm(eva_tcp_dial_req *d, ev_timer *w, int64_t ms) {
    ev_timer_set(w, (double)ms / 1e3, 0.);
    ev_timer_start(ev_of(d), w);
}

static bool queries_pending(const eva_tcp_dial_req *d) {
    return eva_dns_query_is_pending(&d->query[V6]) || eva_dns_query_is_pending(&d->query[V4]);
}

static bool attempts_pending(const eva_tcp_dial_req *d) {
    for (int k = 0; k < EVA_TCP_DIAL_MAX_PENDING; k++)
        if (d->attempt[k].fd >= 0)
            return true;
    return false;
}

static void attempt_close(eva_tcp_dial_req *d, ev_io *w) {
    ev_io_stop(ev_of(d), w);
    close(w->fd);
    w->fd = -1;
}

/* Decide the result and stop everything but the cancelled queries' reports. */
static void race_end(eva_tcp_dial_req *d, int status, const char *message) {
    d->over = true;
    d->status = status;
    d->message = message;
    ev_timer_stop(ev_of(d), &d->step);
    ev_timer_stop(ev_of(d), &d->deadline);
    for (int k = 0; k < EVA_TCP_DIAL_MAX_PENDING; k++)
        if (d->attempt[k].fd >= 0)
            attempt_close(d, &d->attempt[k]);
    for (int i = V6; i <= V4; i++) {
        eva_dns_cancel(&d->query[i]);
        eva_dns_addrs_free(d->addrs[i]);
        d->addrs[i] = NULL;
    }
}

/* The winner's socket becomes the caller's stream. */
static void race_win(eva_tcp_dial_req *d, int fd) {
    int rc = eva__stream_attach(d->task.loop, d->stream, fd);
    if (rc < 0)
        close(fd);
    race_end(d, rc, NULL);
}

/* Errors that say this host cannot reach the address at all, not that the
 * server said no: they never hide an error from a host that was reached. */
static bool unreachable(int err) {
    return err == -ENETUNREACH || err == -EHOSTUNREACH || err == -ENETDOWN || err == -EADDRNOTAVAIL ||
           err == -EAFNOSUPPORT;
}

static void note_connect_error(eva_tcp_dial_req *d, int err) {
    if (d->error == 0 || !unreachable(err) || unreachable(d->error))
        d->error = err;
}

/* The next address in the interleaved order: the other family than the last
 * attempt's if it has one left, else the same (RFC 8305 §4, First Address
 * Family Count 1).  NULL when none is left (for now: more may arrive). */
static const eva_dns_addr *next_address(eva_tcp_dial_req *d) {
    for (int k = 1; k <= 2; k++) {
        int i = (d->last + k) % 2;
        if (d->addrs[i] && d->next[i] < d->addrs[i]->count) {
            d->last = (uint8_t)i;
            return &d->addrs[i]->addr[d->next[i]++];
        }
    }
    return NULL;
}

static ev_io *free_slot(eva_tcp_dial_req *d) {
    for (int k = 0; k < EVA_TCP_DIAL_MAX_PENDING; k++)
        if (d->attempt[k].fd < 0)
            return &d->attempt[k];
    return NULL;
}

static int64_t attempt_delay(const eva_tcp_dial_req *d) {
    if (d->attempt_delay_ms == 0)
        return EVA_TCP_DIAL_ATTEMPT_DELAY_MS;
    return d->attempt_delay_ms < EVA_TCP_DIAL_MIN_ATTEMPT_DELAY_MS ? EVA_TCP_DIAL_MIN_ATTEMPT_DELAY_MS
                                                                    : d->attempt_delay_ms;
}

/* Start one connect; false if it failed at once (the next may start). */
static bool attempt_start(eva_tcp_dial_req *d, ev_io *w, const eva_dns_addr *a) {
    d->attempts++;
    int fd = eva__stream_socket(a->family);
    if (fd < 0) {
        note_connect_error(d, fd);
        return false;
    }
    int rc = eva__connect_fd(fd, &a->addr.sa, a->len);
    if (rc == 0) { /* loopback may connect at once */
        race_win(d, fd);
        return true;
    }
    if (rc != -EINPROGRESS) {
        close(fd);
        note_connect_error(d, rc);
        return false;
    }
    ev_io_set(w, fd, EV_WRITE);
    ev_io_start(ev_of(d), w);
    timer_arm(d, &d->step, attempt_delay(d));
    return true;
}

/* Start the next attempt unless the step timer says wait (the resolution or
 * the attempt delay) or every slot is busy; an attempt that fails at once
 * lets the next start at once. */
static void attempts_start(eva_tcp_dial_req *d) {
    ev_io *w;
    const eva_dns_addr *a;
    while (!d->over && !ev_is_active(&d->step) && (w = free_slot(d)) && (a = next_address(d)))
        if (attempt_start(d, w, a))
            return;
}

/* The end of every callback: start what may start; end a race with nothing
 * left to wait for; wake the task once the race is over and no query of it
 * is pending.  The wake is the last thing: the task may free d. */
static void race_advance(eva_tcp_dial_req *d) {
    attempts_start(d);
    if (!d->over && !attempts_pending(d) && !queries_pending(d) && !ev_is_active(&d->step))
        race_end(d, d->attempts ? d->error : d->dns_error, d->attempts ? NULL : d->dns_message);
    if (d->over && !queries_pending(d))
        eva_task_wake(&d->task, d->status, d->message);
}

static void on_resolved(eva_dns_query *q, int status, eva_dns_addrs *addrs) {
    eva_tcp_dial_req *d = q->data;
    int i = q == &d->query[V6] ? V6 : V4;
    if (d->over) {
        eva_dns_addrs_free(addrs);
    } else if (status == 0) {
        eva_dns_addrs_set_port(addrs, d->port);
        d->addrs[i] = addrs;
    } else if (d->dns_error == 0 || d->dns_error == EVA_EDNS_NOTFOUND) {
        d->dns_error = status;
        d->dns_message = eva_dns_query_get_message(q);
    }
    if (d->over || d->attempts > 0) {
        race_advance(d);
        return;
    }
    if (i == V4 && status == 0 && eva_dns_query_is_pending(&d->query[V6]))
        timer_arm(d, &d->step, RESOLUTION_DELAY_MS); /* A came first: give AAAA a moment */
    else if (i == V6)
        ev_timer_stop(ev_of(d), &d->step); /* the AAAA answer ends the resolution delay */
    race_advance(d);
}

static void on_attempt(struct ev_loop *ev, ev_io *w, int revents) {
    (void)ev;
    (void)revents;
    eva_tcp_dial_req *d = w->data;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(w->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err == 0) {
        int fd = w->fd;
        ev_io_stop(ev, w);
        w->fd = -1;
        race_win(d, fd);
    } else {
        attempt_close(d, w);
        note_connect_error(d, -err);
        ev_timer_stop(ev, &d->step); /* a failure starts the next at once (§5) */
    }
    race_advance(d);
}

static void on_step(struct ev_loop *ev, ev_timer *w, int revents) {
    (void)ev;
    (void)revents;
    race_advance(w->data);
}

static void on_deadline(struct ev_loop *ev, ev_timer *w, int revents) {
    (void)ev;
    (void)revents;
    eva_tcp_dial_req *d = w->data;
    race_end(d, -ETIMEDOUT, "TCP dial: no connection within the dial timeout");
    race_advance(d);
}

/* Cancelling the awaiting task: a decided race reports by itself (once its
 * queries are back); otherwise end it, and wake the task here only if no
 * query will come back to do it. */
static void race_cancel(eva_task *t) {
    eva_tcp_dial_req *d = eva_task_get_wait_obj(t);
    if (d->over)
        return;
    race_end(d, -ECANCELED, NULL);
    if (!queries_pending(d))
        eva_task_wake_later(t, -ECANCELED);
}

static const eva_wait_ops race_wait = {"tcp-dial", race_cancel};

static void race_init(eva_tcp_dial_req *d) {
    d->attempts = 0;
    d->last = V4; /* so the first attempt is IPv6's */
    d->over = false;
    d->error = d->dns_error = 0;
    d->dns_message = NULL;
    for (int i = V6; i <= V4; i++) {
        d->addrs[i] = NULL;
        d->next[i] = 0;
    }
    for (int k = 0; k < EVA_TCP_DIAL_MAX_PENDING; k++) {
        ev_io_init(&d->attempt[k], on_attempt, -1, EV_WRITE);
        d->attempt[k].data = d;
    }
    ev_init(&d->step, on_step);
    d->step.data = d;
    ev_init(&d->deadline, on_deadline);
    d->deadline.data = d;
}

/* Both queries at once (§3).  A start error of the first is the AWAIT's;
 * one of the second only counts as that family's failure. */
static int race_start(eva_task *t, const eva_op *op) {
    eva_tcp_dial_req *d = op->ptr;
    race_init(d);
    for (int i = V6; i <= V4; i++) {
        int rc = eva_dns_resolve(t->loop, &d->query[i], d->host, family_of[i], on_resolved, d);
        if (rc < 0 && i == V6)
            return rc;
        if (rc < 0)
            d->dns_error = rc;
    }
    if (d->timeout_ms > 0)
        timer_arm(d, &d->deadline, d->timeout_ms);
    eva_task_park(t, &race_wait, d);
    return EVA_PARKED;
}

static eva_op race_op(eva_tcp_dial_req *d) { return (eva_op){.start = race_start, .ptr = d}; }

static eva_step dial_run(void *frame) {
    eva_tcp_dial_req *d = frame;
    ASYNC_BEGIN(d);
    AWAIT(d, race_op(d));
    ASYNC_END(d);
}

static void prepare(eva_tcp_dial_req *d, eva_stream *stream, const char *host, uint16_t port, int64_t timeout_ms) {
    d->stream = stream;
    d->host = host;
    d->port = port;
    d->timeout_ms = timeout_ms;
}

/* -EBUSY also for a dial running (awaited, or started): it is left untouched. */
static int check(const eva_tcp_dial_req *d, const eva_stream *stream, const char *host, int64_t timeout_ms) {
    if (!d || !stream || !host || timeout_ms < 0 || d->attempt_delay_ms < 0)
        return -EINVAL;
    eva_task_state st = eva_task_get_state(&d->task);
    if (eva_stream_is_open(stream) || (d->task.loop && st != EVA_TASK_IDLE && st != EVA_TASK_DONE))
        return -EBUSY;
    return 0;
}

eva_op eva_tcp_dial_op(eva_tcp_dial_req *d, eva_stream *stream, const char *host, uint16_t port,
                       int64_t timeout_ms) {
    int rc = check(d, stream, host, timeout_ms);
    if (rc < 0)
        return eva__req_refused_op(rc);
    prepare(d, stream, host, port, timeout_ms);
    return EVA_ASYNC(dial_run, d);
}

static void on_dialed(eva_task *t) {
    eva_tcp_dial_req *d = (eva_tcp_dial_req *)t;
    EVA__CALL_USER(t->loop, d->cb, d->cb(d, eva_task_get_status(t)));
}

int eva_tcp_dial(eva_tcp_dial_req *d, eva_loop *loop, eva_stream *stream, const char *host,
                 uint16_t port, int64_t timeout_ms, eva_tcp_dial_fn cb) {
    int rc = check(d, stream, host, timeout_ms);
    if (rc < 0 || !loop || !cb)
        return rc < 0 ? rc : -EINVAL;
    prepare(d, stream, host, port, timeout_ms);
    d->cb = cb;
    eva_task_init(loop, &d->task, dial_run, "tcp-dial");
    return eva_task_start(&d->task, on_dialed);
}

int eva_tcp_dial_promise(eva_loop *loop, eva_stream *stream, const char *host, uint16_t port,
                         int64_t timeout_ms, eva_promise **out) {
    if (!loop || !out)
        return -EINVAL;
    eva_tcp_dial_req *d = eva__calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    return eva__req_promise(loop, d, eva_tcp_dial_op(d, stream, host, port, timeout_ms), out);
}

int eva_tcp_dial_cancel(eva_tcp_dial_req *d) { return d ? eva_task_cancel(&d->task) : -EINVAL; }
