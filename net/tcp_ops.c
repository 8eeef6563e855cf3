/* net/tcp_ops.c — AWAIT forms of connect, shutdown and close: each drives
 * the callback primitive and keeps its waiter in the connection. */
#include <errno.h>

#include "net_internal.h"

/* Resume the task waiting in *slot, if any, and forget it. */
static void wake_slot(eva_task **slot, int status) {
    eva_task *t = *slot;
    *slot = NULL;
    if (t)
        eva_task_wake(t, status, NULL);
}

/* ---- connect ------------------------------------------------------------------ */

static void connect_woken(eva_tcp *tcp, int status) { wake_slot(&tcp->cn.waiter, status); }

/* Every cancel here leaves the operation to complete once, through its own
 * deferred completion, which wakes the task: a task woken separately could
 * finish, and its frame (holding the eva_tcp) be freed, while that
 * completion is still queued. */
static void connect_cancel(eva_task *t) {
    eva_tcp *tcp = eva_task_get_wait_obj(t);
    if (eva__queue_linked(&tcp->cn.call.node))
        return; /* over already: the task gets the connect's own status */
    /* closing completes the connect with -ECANCELED */
    eva__tcp_close_now(tcp, false, -ECANCELED);
}

static const eva_wait_ops connect_wait = {"connect", connect_cancel};

static int connect_start(eva_task *t, const eva_op *op) {
    eva_tcp *tcp = op->ptr;
    if (!tcp)
        return -EINVAL;
    int rc = eva_tcp_connect(t->loop, tcp, tcp->cn.addr, tcp->cn.addrlen, tcp->cn.timeout_ms,
                             connect_woken);
    if (rc < 0)
        return rc;
    tcp->cn.waiter = t;
    eva_task_park(t, &connect_wait, tcp);
    return EVA_PARKED;
}

eva_op eva_tcp_connect_op(eva_tcp *tcp, const struct sockaddr *addr, socklen_t addrlen,
                          int64_t timeout_ms) {
    if (tcp && !eva_tcp_is_open(tcp)) {
        tcp->cn.addr = addr;
        tcp->cn.addrlen = addrlen;
        tcp->cn.timeout_ms = timeout_ms;
    }
    return (eva_op){.start = connect_start, .ptr = tcp};
}

/* ---- shutdown ----------------------------------------------------------------- */

static void shut_woken(eva_tcp *tcp, int status) { wake_slot(&tcp->shut_waiter, status); }

static void shut_cancel(eva_task *t) {
    eva_tcp *tcp = eva_task_get_wait_obj(t);
    if (eva__queue_linked(&tcp->shut_call.node))
        return; /* done already: the task gets the half-close's own status */
    /* nothing is queued yet: the half-close still happens once the queue
     * drains, reported to nobody */
    tcp->shut_waiter = NULL;
    tcp->shut_cb = NULL;
    eva_task_wake_later(t, -ECANCELED);
}

static const eva_wait_ops shut_wait = {"shutdown", shut_cancel};

static int shut_start(eva_task *t, const eva_op *op) {
    eva_tcp *tcp = op->ptr;
    int rc = eva_tcp_shutdown(tcp, shut_woken);
    if (rc < 0)
        return rc;
    tcp->shut_waiter = t;
    eva_task_park(t, &shut_wait, tcp);
    return EVA_PARKED;
}

eva_op eva_tcp_shutdown_op(eva_tcp *tcp) { return (eva_op){.start = shut_start, .ptr = tcp}; }

/* ---- close ---------------------------------------------------------------------- */

static void close_woken(eva_tcp *tcp, int status) { wake_slot(&tcp->close_waiter, status); }

static void close_cancel(eva_task *t) {
    eva_tcp *tcp = eva_task_get_wait_obj(t);
    /* still flushing: stop and close now; the close reports -ECANCELED after
     * the aborted writes' completions, so the task (and its frame) outlives
     * them.  Otherwise the close's report is queued already. */
    if (eva_tcp_is_open(tcp))
        eva__tcp_close_now(tcp, false, -ECANCELED);
}

static const eva_wait_ops close_wait = {"close", close_cancel};

static int close_start(eva_task *t, const eva_op *op) {
    eva_tcp *tcp = op->ptr;
    if (!tcp)
        return -EINVAL;
    if (!eva_tcp_is_open(tcp))
        return 0; /* closed already: nothing to wait for */
    if (tcp->closing)
        return -EBUSY;
    int rc = eva_tcp_close(tcp, (eva_tcp_close_how)op->num, close_woken);
    if (rc < 0)
        return rc;
    tcp->close_waiter = t;
    eva_task_park(t, &close_wait, tcp);
    return EVA_PARKED;
}

eva_op eva_tcp_close_op(eva_tcp *tcp, eva_tcp_close_how how) {
    return (eva_op){.start = close_start, .ptr = tcp, .num = how};
}
