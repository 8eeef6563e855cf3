/* async/req.c — the one completion path of every request (req_internal.h). */
#include "req_internal.h"
#include "promise_internal.h"

int eva__req_park(eva__req *r, eva_task *t, void *obj) {
    r->awaited = true;
    r->to.waiter = t;
    eva_task_park(t, &r->kind->wait, obj);
    return EVA_PARKED;
}

void eva__req_done(eva_loop *loop, eva__req *r, int status) {
    r->busy = false; /* the one told may start it again, or free it */
    if (r->awaited) {
        const char *message = r->kind->message ? r->kind->message(r, status) : NULL;
        eva_task_wake(r->to.waiter, status, message);
        return;
    }
    void (*cb)(void) = r->to.cb;
    if (cb)
        EVA__CALL_USER(loop, cb, r->kind->notify(r, status));
}

static void on_req_deferred(eva_loop *loop, int status, void *arg) {
    (void)status; /* ours is r->status; at loop destroy it still runs once */
    eva__req *r = arg;
    eva__req_done(loop, r, r->status);
}

void eva__req_done_later(eva_loop *loop, eva__req *r, int status) {
    r->status = status;
    eva_loop_defer(loop, &r->call, on_req_deferred, r);
}

static int refused_start(eva_task *t, const eva_op *op) {
    (void)t;
    return (int)op->num;
}

eva_op eva__req_refused_op(int rc) { return (eva_op){.start = refused_start, .num = rc}; }

int eva__req_promise(eva_loop *loop, void *req, eva_op op, eva_promise **out) {
    int rc = eva__promise_from_op_value(loop, op, req, eva__free, out);
    if (rc < 0)
        eva__free(req);
    return rc;
}
