/* examples/checkout/style_callback.c — the job as callbacks: each step
 * starts the next one from its completion.  The request's state is a
 * struct the callbacks pass along (through the requests' data pointers);
 * the control flow is spread over six functions. */
#include <stddef.h>
#include <stdlib.h>

#include "checkout.h"

typedef struct request {
    eva_stream tcp;
    eva_tcp_connect_req cn;
    eva_stream_write_req w;
    eva_stream_read_req rd;
    eva_pool_job job;
    eva_loop *loop;
    const checkout_cfg *cfg;
    checkout_tally *tally;
    int id, q, len;
    char out[32], in[32];
    uint64_t total;
} request;

static void send_query(request *r);

static void finish(request *r, int status) {
    checkout_finish(r->tally, status, NULL, r->total);
    /* Nothing is pending on r now, and a discarding close without a
     * callback is over when it returns: r can go at once. */
    eva_stream_close(&r->tcp, EVA_STREAM_CLOSE_DISCARD, NULL);
    free(r);
}

static void on_priced(eva_pool_job *job, int status) {
    finish((request *)((char *)job - offsetof(request, job)), status); /* job is r->job */
}

static void on_answer(eva_stream_read_req *rd, int status) {
    request *r = rd->data;
    if (status < 0) {
        finish(r, status);
        return;
    }
    r->in[rd->nread] = '\0';
    r->total += strtoull(r->in, NULL, 10);
    if (++r->q < r->cfg->queries) {
        send_query(r);
        return;
    }
    int rc = eva_pool_submit(r->cfg->pool, r->loop, &r->job, price_work, on_priced, &r->total);
    if (rc < 0)
        finish(r, rc);
}

static void on_sent(eva_stream_write_req *w, int status) {
    request *r = w->data;
    int rc = status < 0 ? status
                        : eva_stream_read_until(&r->rd, &r->tcp, r->in, sizeof r->in - 1, "\n", 1, on_answer);
    if (rc < 0)
        finish(r, rc);
}

static void send_query(request *r) {
    r->len = db_format_query(r->out, sizeof r->out, r->id, r->q);
    struct iovec iov = {r->out, (size_t)r->len};
    int rc = eva_stream_write(&r->w, &r->tcp, &iov, 1, on_sent);
    if (rc < 0)
        finish(r, rc);
}

static void on_connected(eva_tcp_connect_req *cn, int status) {
    if (status < 0)
        finish(cn->data, status);
    else
        send_query(cn->data);
}

static int start_one(eva_loop *loop, const checkout_cfg *cfg, checkout_tally *t, int id, void *ctx) {
    (void)ctx;
    request *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    *r = (request){.loop = loop, .cfg = cfg, .tally = t, .id = id};
    r->cn.data = r->w.data = r->rd.data = r;
    int rc = eva_tcp_connect(&r->cn, loop, &r->tcp, (const struct sockaddr *)&cfg->db, sizeof cfg->db, 5000,
                             on_connected);
    if (rc < 0)
        free(r);
    return rc;
}

int run_callbacks(eva_loop *loop, const checkout_cfg *cfg, checkout_tally *t) {
    return checkout_run(loop, cfg, t, start_one, NULL);
}
