/* examples/checkout/style_await.c — the job as one AWAIT task: it reads
 * top to bottom like the blocking version, and compiles into a state
 * machine that returns to the loop at every AWAIT.  Everything that lives
 * across an AWAIT is in the frame. */
#include <stdlib.h>

#include "checkout.h"

typedef struct request {
    eva_task task;              /* first: the frame is the task */
    eva_stream tcp;
    eva_tcp_connect_req cn;
    eva_stream_write_req w;
    eva_stream_read_req rd;
    eva_pool_job job;
    const checkout_cfg *cfg;
    checkout_tally *tally;
    int id, q, len;
    char out[32], in[32];
    uint64_t total;
} request;

static eva_step request_run(void *frame) {
    request *r = frame;
    ASYNC_BEGIN(r);
    AWAIT(r, eva_tcp_connect_op(&r->cn, &r->tcp, (const struct sockaddr *)&r->cfg->db,
                                sizeof r->cfg->db, 5000));
    for (r->q = 0; r->q < r->cfg->queries; r->q++) {
        r->len = db_format_query(r->out, sizeof r->out, r->id, r->q);
        AWAIT(r, eva_stream_write_op(&r->w, &r->tcp, r->out, (size_t)r->len));
        AWAIT(r, eva_stream_read_until_op(&r->rd, &r->tcp, r->in, sizeof r->in - 1, "\n", 1));
        r->in[r->rd.nread] = '\0';
        r->total += strtoull(r->in, NULL, 10);
    }
    AWAIT(r, eva_pool_submit_op(r->cfg->pool, &r->job, price_work, &r->total));
    ASYNC_FINALLY(r); /* success or failure: closed here, at once (no AWAIT:
                         the loop frees the frame when the task ends) */
    eva_stream_close(&r->tcp, EVA_STREAM_CLOSE_DISCARD, NULL);
    ASYNC_END(r);
}

static void on_done(eva_task *t) { /* the loop frees the frame after this */
    request *r = (request *)t;
    int status = eva_task_get_status(t);
    checkout_finish(r->tally, status, status ? eva_task_get_message(t) : NULL, r->total);
}

static int spawn_one(eva_loop *loop, const checkout_cfg *cfg, checkout_tally *t, int id, void *ctx) {
    (void)ctx;
    request *r;
    int rc = eva_task_spawn(loop, sizeof *r, request_run, "checkout", on_done, (void **)&r);
    if (rc < 0)
        return rc;
    r->cfg = cfg;
    r->tally = t;
    r->id = id;
    return 0;
}

int run_await(eva_loop *loop, const checkout_cfg *cfg, checkout_tally *t) {
    return checkout_run(loop, cfg, t, spawn_one, NULL);
}
