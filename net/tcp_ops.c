/* net/tcp_ops.c — the half-close request, and the AWAIT and promise forms of
 * close (a handle operation: its one slot is in the connection). */
#include <errno.h>
#include <sys/socket.h>

#include "net_internal.h"

/* ---- shutdown ----------------------------------------------------------------- */

static void shut_notify(eva__tcp_req *r, int status) {
    eva_tcp_shutdown_req *req = EVA__CONTAINER_OF(r, eva_tcp_shutdown_req, req);
    ((eva_tcp_shutdown_fn)r->to.cb)(req, status);
}

/* Not reported yet: the half-close still happens once the queue drains,
 * reported to nobody; the task is withdrawn and woken later. */
static void shut_await_cancel(eva_task *t) {
    eva_tcp_shutdown_req *req = eva_task_get_wait_obj(t);
    if (eva__tcp_req_queued(&req->req))
        return; /* done already: the task gets the half-close's own status */
    req->tcp->shut = NULL;
    eva__tcp_req_idle(&req->req);
    eva_task_wake_later(t, -ECANCELED);
}

static const eva__tcp_req_kind shut_kind = {{"shutdown", shut_await_cancel}, shut_notify};

void eva__tcp_shut_report(eva_tcp *tcp, int status) {
    eva_tcp_shutdown_req *req = tcp->shut;
    if (!req)
        return;
    tcp->shut = NULL;
    eva__tcp_req_done_later(tcp->loop, &req->req, status);
}

/* write_shut: 0 none, 1 requested (waiting for the queue), 2 done.  The
 * shutdown() status. */
static int shut_syscall(eva_tcp *tcp) {
    tcp->write_shut = 2;
    return shutdown(tcp->fd, SHUT_WR) < 0 ? -errno : 0;
}

void eva__tcp_shut_now(eva_tcp *tcp) { eva__tcp_shut_report(tcp, shut_syscall(tcp)); }

static int shut_check(const eva_tcp_shutdown_req *req, const eva_tcp *tcp) {
    if (!req || !tcp)
        return -EINVAL;
    if (req->req.busy)
        return -EBUSY;
    if (!eva_tcp_is_open(tcp) || tcp->connecting || tcp->closing)
        return -ENOTCONN;
    return tcp->write_shut ? -EALREADY : 0;
}

/* The connection takes the checked request: the half-close is pending until
 * the write queue drains.  cb NULL: the AWAIT form. */
static void shut_begin(eva_tcp_shutdown_req *req, eva_tcp *tcp, void (*cb)(void)) {
    eva__tcp_req_take(&req->req, &shut_kind, cb);
    tcp->write_shut = 1;
    tcp->shut = req;
}

int eva_tcp_shutdown(eva_tcp_shutdown_req *req, eva_tcp *tcp, eva_tcp_shutdown_fn cb) {
    int rc = cb ? shut_check(req, tcp) : -EINVAL;
    if (rc < 0)
        return rc;
    req->tcp = tcp;
    shut_begin(req, tcp, (void (*)(void))cb);
    if (!tcp->wq_head)
        eva__tcp_shut_now(tcp); /* reported from the loop all the same */
    return 0;
}

static int shut_await_start(eva_task *t, const eva_op *op) {
    eva_tcp_shutdown_req *req = op->ptr;
    eva_tcp *tcp = req->tcp;
    int rc = shut_check(req, tcp);
    if (rc < 0)
        return rc;
    if (!tcp->wq_head) /* nothing to flush: done at once */
        return shut_syscall(tcp);
    shut_begin(req, tcp, NULL);
    return eva__tcp_req_park(&req->req, t, req);
}

eva_op eva_tcp_shutdown_op(eva_tcp_shutdown_req *req, eva_tcp *tcp) {
    if (!req || req->req.busy)
        return eva__tcp_refused_op(req ? -EBUSY : -EINVAL);
    req->tcp = tcp;
    return (eva_op){.start = shut_await_start, .ptr = req};
}

int eva_tcp_shutdown_promise(eva_tcp *tcp, eva_promise **out) {
    if (!tcp || !out)
        return -EINVAL;
    eva_tcp_shutdown_req *req = eva__calloc(1, sizeof *req);
    if (!req)
        return -ENOMEM;
    return eva__tcp_promise(tcp->loop, req, eva_tcp_shutdown_op(req, tcp), out);
}

/* ---- close ---------------------------------------------------------------------- */

static int close_await_start(eva_task *t, const eva_op *op) {
    eva_tcp *tcp = op->ptr;
    if (!tcp || op->num < EVA_TCP_CLOSE_FLUSH || op->num > EVA_TCP_CLOSE_RESET)
        return -EINVAL;
    if (!eva_tcp_is_open(tcp))
        return 0; /* closed already: nothing to wait for */
    if (tcp->closing)
        return -EBUSY;
    eva__tcp_close_begin(tcp, (eva_tcp_close_how)op->num, true, NULL);
    return eva__tcp_close_park(tcp, t);
}

eva_op eva_tcp_close_op(eva_tcp *tcp, eva_tcp_close_how how) {
    return (eva_op){.start = close_await_start, .ptr = tcp, .num = how};
}

int eva_tcp_close_promise(eva_tcp *tcp, eva_tcp_close_how how, eva_promise **out) {
    if (!tcp || !tcp->loop)
        return -EINVAL;
    return eva_promise_from_op(tcp->loop, eva_tcp_close_op(tcp, how), out);
}
