/* net/tcp_conn.c — a connection's life: open, readiness dispatch, timeouts,
 * half-close and close. */
#define _DEFAULT_SOURCE /* TCP_NODELAY */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include "net_internal.h"

static void on_rio(struct ev_loop *ev, ev_io *w, int revents) {
    (void)ev;
    (void)revents;
    eva__tcp_on_readable(EVA__CONTAINER_OF(w, eva_tcp, rio));
}

static void on_wio(struct ev_loop *ev, ev_io *w, int revents) {
    (void)ev;
    (void)revents;
    eva_tcp *tcp = EVA__CONTAINER_OF(w, eva_tcp, wio);
    if (tcp->connecting)
        eva__tcp_connect_done(tcp, 0);
    else
        eva__tcp_on_writable(tcp);
}

static void on_timer(struct ev_loop *ev, ev_timer *w, int revents) {
    (void)ev;
    (void)revents;
    eva_tcp *tcp = EVA__CONTAINER_OF(w, eva_tcp, timer);
    if (tcp->connecting) {
        tcp->cn->req.timeout = EVA__TCP_CONNECT_TIMEOUT;
        eva__tcp_connect_done(tcp, -ETIMEDOUT);
    } else {
        eva__tcp_read_timer_fired(tcp);
    }
}

int eva__tcp_attach(eva_loop *loop, eva_tcp *tcp, int fd) {
    eva__net_loop *nl = eva__net_loop_get(loop);
    if (!nl)
        return -ENOMEM;
    int rc = eva__fd_nonblock(fd);
    if (rc < 0)
        return rc;
    void *data = tcp->data;
    *tcp = (eva_tcp){.data = data, .loop = loop, .fd = fd,
                     .high_water = 64 * 1024, .low_water = 16 * 1024};
    ev_io_init(&tcp->rio, on_rio, fd, EV_READ);
    ev_io_init(&tcp->wio, on_wio, fd, EV_WRITE);
    ev_init(&tcp->timer, on_timer);
    eva__net_link_conn(nl, tcp);
    return 0;
}

int eva_tcp_open(eva_loop *loop, eva_tcp *tcp, int fd) {
    if (!loop || !tcp || fd < 0)
        return -EINVAL;
    if (eva_tcp_is_open(tcp))
        return -EBUSY;
    if (fcntl(fd, F_GETFD) < 0)
        return -EBADF;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* not TCP: harmless */
    return eva__tcp_attach(loop, tcp, fd);
}

bool eva_tcp_is_open(const eva_tcp *tcp) { return tcp && tcp->loop && tcp->fd >= 0; }

int eva_tcp_get_fd(const eva_tcp *tcp) { return eva_tcp_is_open(tcp) ? tcp->fd : -EBADF; }

int eva_tcp_set_read_timeout(eva_tcp *tcp, int64_t ms) {
    if (!tcp || ms < 0)
        return -EINVAL;
    tcp->read_timeout_ms = ms;
    if (eva_tcp_is_open(tcp))
        eva__tcp_read_timer_arm(tcp); /* a pending read gets the new timeout */
    return 0;
}

int eva_tcp_set_read_deadline(eva_tcp *tcp, int64_t ms) {
    if (!tcp || ms < 0)
        return -EINVAL;
    if (!eva_tcp_is_open(tcp))
        return -ENOTCONN;
    tcp->read_deadline = ms ? ev_now(eva_loop_get_ev(tcp->loop)) + (double)ms / 1e3 : 0;
    eva__tcp_read_timer_arm(tcp);
    return 0;
}

int eva_tcp_set_watermarks(eva_tcp *tcp, size_t high, size_t low, void (*on_drain)(eva_tcp *tcp)) {
    if (!tcp || low > high)
        return -EINVAL;
    tcp->high_water = high;
    tcp->low_water = low;
    tcp->on_drain = on_drain;
    return 0;
}

size_t eva_tcp_get_write_queue_size(const eva_tcp *tcp) { return tcp ? tcp->queued : 0; }

/* ---- close ------------------------------------------------------------------ */

static void close_notify(eva__tcp_req *r, int status) {
    eva_tcp *tcp = EVA__CONTAINER_OF(r, eva_tcp, close);
    ((eva_tcp_close_fn)r->to.cb)(tcp, status);
}

/* Still flushing: stop and close now; the close reports -ECANCELED after the
 * aborted writes' completions, so the task (and its frame) outlives them.
 * Otherwise the close's report is queued already. */
static void close_await_cancel(eva_task *t) {
    eva_tcp *tcp = eva_task_get_wait_obj(t);
    if (eva_tcp_is_open(tcp))
        eva__tcp_close_now(tcp, false, -ECANCELED);
}

static const eva__tcp_req_kind close_kind = {{"close", close_await_cancel}, close_notify};

void eva__tcp_close_now(eva_tcp *tcp, bool reset, int status) {
    struct ev_loop *ev = eva_loop_get_ev(tcp->loop);
    ev_io_stop(ev, &tcp->rio);
    ev_io_stop(ev, &tcp->wio);
    eva__tcp_timer_stop(tcp);
    if (tcp->connecting)
        eva__tcp_connect_done(tcp, -ECANCELED);
    eva__tcp_read_abort(tcp, -ECANCELED);
    eva__tcp_write_abort(tcp, -ECANCELED);
    eva__tcp_shut_report(tcp, -ECANCELED); /* still waiting for the queue to flush */
    if (reset) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(tcp->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(tcp->fd);
    tcp->fd = -1;
    tcp->closing = false;
    eva__net_unlink_conn(tcp);
    if (tcp->close.busy) /* queued after the aborted requests' completions */
        eva__tcp_req_done_later(tcp->loop, &tcp->close, status);
}

/* The close slot is taken only when someone is to be told (no completion is
 * queued for a close nobody waits for): the callback form's cb, or the AWAIT
 * form (awaited).  Even a close done at once reports from the loop, after
 * the aborted requests' completions: a task told earlier could finish and
 * free the requests in its frame while their completions are queued. */
void eva__tcp_close_begin(eva_tcp *tcp, eva_tcp_close_how how, bool awaited, void (*cb)(void)) {
    if (cb || awaited)
        eva__tcp_req_take(&tcp->close, &close_kind, cb);
    if (how == EVA_TCP_CLOSE_FLUSH && tcp->wq_head && !tcp->broken) {
        tcp->closing = true; /* eva__tcp_queue_drained closes once the queue is empty */
        eva__tcp_read_abort(tcp, -ECANCELED);
        return;
    }
    eva__tcp_close_now(tcp, how == EVA_TCP_CLOSE_RESET, 0);
}

int eva_tcp_close(eva_tcp *tcp, eva_tcp_close_how how, eva_tcp_close_fn cb) {
    if (!tcp || how < EVA_TCP_CLOSE_FLUSH || how > EVA_TCP_CLOSE_RESET)
        return -EINVAL;
    if (!eva_tcp_is_open(tcp) || tcp->closing)
        return 0;
    eva__tcp_close_begin(tcp, how, false, (void (*)(void))cb);
    return 0;
}

int eva__tcp_close_park(eva_tcp *tcp, eva_task *t) { return eva__tcp_req_park(&tcp->close, t, tcp); }

void eva__tcp_queue_drained(eva_tcp *tcp, int status) {
    if (tcp->closing)
        eva__tcp_close_now(tcp, false, status);
    else if (tcp->write_shut == 1 && status < 0)
        eva__tcp_shut_report(tcp, status);
    else if (tcp->write_shut == 1)
        eva__tcp_shut_now(tcp);
}
