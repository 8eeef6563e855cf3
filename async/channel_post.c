/* async/channel_post.c — a send to a channel of another loop.
 *
 * The request makes two hops through eva_loop_post: to the channel's loop,
 * where it runs as a small task awaiting eva_channel_send_op (so a posted
 * sender waits for room and queues behind that loop's own senders exactly
 * as a task would; sends in flight together are as unordered as tasks
 * started together), and back to the sender's loop with the outcome.  Each
 * hop has its own eva_call: the first is still being run when the second
 * is posted. */
#include <errno.h>

#include "async_internal.h"

static void on_back(eva_loop *loop, int status, void *arg) {
    eva_channel_post_req *req = arg;
    req->in_flight = false;
    int rc = status < 0 ? status : req->status;
    EVA__CALL_USER(loop, req->cb, req->cb(req, rc));
}

/* On the channel's loop (or on the thread destroying it). */
static void reply(eva_channel_post_req *req, int status) {
    req->status = status;
    eva_loop_post(req->from, &req->back, on_back, req);
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

int eva_channel_post_send(eva_channel_post_req *req, eva_loop *from, eva_channel *ch, void *item,
                          eva_channel_post_fn cb) {
    if (!req || !from || !ch || !ch->loop || !cb)
        return -EINVAL;
    if (req->in_flight)
        return -EBUSY;
    req->channel = ch;
    req->item = item;
    req->from = from;
    req->cb = cb;
    req->in_flight = true;
    return eva_loop_post(ch->loop, &req->there, on_arrived, req);
}
