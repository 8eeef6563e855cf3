/* async/channel_post.c — a send to a channel of another loop, in its three
 * forms (callback, AWAIT, promise).
 *
 * The request makes two hops through eva_loop_post: to the channel's loop,
 * where it runs as a small task awaiting eva_channel_send_op (so a posted
 * sender waits for room and queues behind that loop's own senders exactly
 * as a task would; sends in flight together are as unordered as tasks
 * started together), and back to the sender's loop with the outcome.  Each
 * hop has its own eva_call: the first is still being run when the second
 * is posted.  The hop back is the request's eva__req completion (its call),
 * so the three forms end on one path: eva__req_done. */
#include <errno.h>

#include "async_internal.h"
#include "req_internal.h"

/* ---- the completion, on the sender's loop ------------------------------- */

/* status is the hop's own: -ECANCELED when the sender's loop is being
 * destroyed.  The send may have happened all the same, so the outcome
 * reported is always the one the channel's loop recorded. */
static void on_back(eva_loop *loop, int status, void *arg) {
    (void)status;
    eva_channel_post_req *req = arg;
    eva__req_done(loop, &req->req, req->req.status);
}

static void notify(eva__req *r, int status) {
    eva_channel_post_req *req = EVA__CONTAINER_OF(r, eva_channel_post_req, req);
    ((eva_channel_post_fn)r->to.cb)(req, status);
}

static const char *status_message(const eva__req *r, int status) {
    (void)r;
    switch (status) {
    case -EPIPE:     return "channel post: the channel is closed (the item was not sent: it is still the sender's)";
    case -ECANCELED: return "channel post: a loop was destroyed before the send (the item is still the sender's)";
    default:         return NULL;
    }
}

/* Not cancellable once started: the outcome will come back and wake the
 * task (task.h's second case, with the send's own status), so the item's
 * fate is never unknown to the task that holds it. */
static void await_cancel(eva_task *t) { (void)t; }

static const eva__req_kind post_kind = {{"channel post", await_cancel}, notify, status_message};

/* ---- the send, on the channel's loop (or on the thread destroying it) ---- */

static void reply(eva_channel_post_req *req, int status) {
    req->req.status = status;
    eva_loop_post(req->from, &req->req.call, on_back, req);
}

static eva_step send_run(void *frame) {
    eva_channel_post_req *req = frame;
    ASYNC_BEGIN(req);
    AWAIT(req, eva_channel_send_op(req->channel, req->item));
    ASYNC_END(req);
}

static void on_sent(eva_task *t) {
    eva_channel_post_req *req = (eva_channel_post_req *)t;
    reply(req, eva_task_get_status(t));
}

static void on_arrived(eva_loop *loop, int status, void *arg) {
    eva_channel_post_req *req = arg;
    if (status == 0) {
        eva_task_init(loop, &req->task, send_run, "channel-post-send");
        status = eva_task_start(&req->task, on_sent);
    }
    if (status < 0)
        reply(req, status);
}

/* ---- the three forms --------------------------------------------------- */

/* Start the filled, idle request from loop `from` for cb, or for the
 * awaiting task (then cb is NULL and the task is parked). */
static int begin(eva_channel_post_req *req, eva_loop *from, eva_channel_post_fn cb, eva_task *waiter) {
    if (req->req.busy)
        return -EBUSY;
    if (!req->channel || !req->channel->loop)
        return -EINVAL;
    req->from = from;
    eva__req_take(&req->req, &post_kind, (void (*)(void))cb);
    int rc = waiter ? eva__req_park(&req->req, waiter, req) : 0;
    /* Last: from here on the channel's thread may be reading the request.
     * It cannot fail (nothing is NULL). */
    eva_loop_post(req->channel->loop, &req->there, on_arrived, req);
    return rc;
}

/* Only an idle request is filled: one in flight is read by the channel's
 * loop. */
static void fill(eva_channel_post_req *req, eva_channel *ch, void *item) {
    if (!req->req.busy) {
        req->channel = ch;
        req->item = item;
    }
}

int eva_channel_post_send(eva_channel_post_req *req, eva_loop *from, eva_channel *ch, void *item,
                          eva_channel_post_fn cb) {
    if (!req || !from || !ch || !cb)
        return -EINVAL;
    fill(req, ch, item);
    return begin(req, from, cb, NULL);
}

static int await_start(eva_task *t, const eva_op *op) {
    eva_channel_post_req *req = op->ptr;
    if (!req)
        return -EINVAL;
    return begin(req, t->loop, NULL, t);
}

eva_op eva_channel_post_send_op(eva_channel_post_req *req, eva_channel *ch, void *item) {
    if (req)
        fill(req, ch, item);
    return (eva_op){.start = await_start, .ptr = req};
}

int eva_channel_post_send_promise(eva_loop *from, eva_channel *ch, void *item, eva_promise **out) {
    if (!from || !ch || !ch->loop || !out)
        return -EINVAL; /* start errors are returned, not rejected */
    eva_channel_post_req *req = eva__calloc(1, sizeof *req);
    if (!req)
        return -ENOMEM;
    return eva__req_promise(from, req, eva_channel_post_send_op(req, ch, item), out);
}
