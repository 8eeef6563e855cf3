/* net/stream_req.c — what every stream request shares: one completion path (wake
 * the awaiting task or call the callback, reading nothing of the request
 * afterwards), the refused op of a builder, and the promise form. */
#include <errno.h>

#include "net_internal.h"
#include "promise_internal.h"

int eva__stream_req_park(eva__stream_req *r, eva_task *t, void *obj) {
    r->awaited = true;
    r->to.waiter = t;
    eva_task_park(t, &r->kind->wait, obj);
    return EVA_PARKED;
}

const char *eva__stream_timeout_message(unsigned timeout) {
    switch (timeout) {
    case EVA__STREAM_IDLE_TIMEOUT:    return "TCP read: no bytes within the read timeout (eva_stream_set_read_timeout)";
    case EVA__STREAM_READ_DEADLINE:   return "TCP read: the read deadline passed (eva_stream_set_read_deadline)";
    case EVA__STREAM_CONNECT_TIMEOUT: return "TCP connect: no answer within the connect timeout";
    default:                       return NULL;
    }
}

void eva__stream_req_done(eva_loop *loop, eva__stream_req *r, int status) {
    r->busy = false; /* the one told may start it again, or free it */
    if (r->awaited) {
        const char *message = status == -ETIMEDOUT ? eva__stream_timeout_message(r->timeout) : NULL;
        eva_task_wake(r->to.waiter, status, message);
        return;
    }
    void (*cb)(void) = r->to.cb;
    if (cb)
        EVA__CALL_USER(loop, cb, r->kind->notify(r, status));
}

static void on_req_deferred(eva_loop *loop, int status, void *arg) {
    (void)status; /* ours is r->status; at loop destroy it still runs once */
    eva__stream_req *r = arg;
    eva__stream_req_done(loop, r, r->status);
}

void eva__stream_req_done_later(eva_loop *loop, eva__stream_req *r, int status) {
    r->status = status;
    eva_loop_defer(loop, &r->call, on_req_deferred, r);
}

static int refused_start(eva_task *t, const eva_op *op) {
    (void)t;
    return (int)op->num;
}

eva_op eva__stream_refused_op(int rc) { return (eva_op){.start = refused_start, .num = rc}; }

int eva__stream_promise(eva_loop *loop, void *req, eva_op op, eva_promise **out) {
    int rc = eva__promise_from_op_value(loop, op, req, eva__free, out);
    if (rc < 0)
        eva__free(req);
    return rc;
}
