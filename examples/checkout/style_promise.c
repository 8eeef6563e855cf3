/* examples/checkout/style_promise.c — the job as a promise chain: every
 * step is a promise (eva_promise_from_op turns any awaitable into one), and
 * each reaction starts the next step and hands its promise on with
 * eva_promise_adopt.  Errors fall through to the one catch at the end, as
 * in JavaScript. */
#include <stdlib.h>

#include "checkout.h"

typedef struct request {
    eva_stream tcp;
    eva_tcp_connect_req cn;
    eva_stream_write_req w;
    eva_stream_read_req rd;
    eva_loop *loop;
    const checkout_cfg *cfg;
    checkout_tally *tally;
    int id, q;
    char out[32], in[32];
    uint64_t total;
} request;

static int step(request *r, eva_op op, eva_then_fn then, eva_promise *next) {
    return promise_step(r->loop, op, then, r, next);
}

static int ask(request *r, eva_promise *next);

static int on_answer(void *arg, eva_promise *settled, eva_promise *next) {
    (void)settled;
    request *r = arg;
    r->in[r->rd.nread] = '\0';
    r->total += strtoull(r->in, NULL, 10);
    if (++r->q < r->cfg->queries)
        return ask(r, next);
    eva_promise *priced;
    int rc = eva_pool_submit_promise(r->cfg->pool, r->loop, price_work, &r->total, NULL, &priced);
    if (rc < 0)
        return rc;
    rc = eva_promise_adopt(next, priced); /* r->total holds the price */
    eva_promise_unref(priced);
    return rc;
}

static int on_sent(void *arg, eva_promise *settled, eva_promise *next) {
    (void)settled;
    request *r = arg;
    return step(r, eva_stream_read_until_op(&r->rd, &r->tcp, r->in, sizeof r->in - 1, "\n", 1),
                on_answer, next);
}

static int ask(request *r, eva_promise *next) {
    int len = db_format_query(r->out, sizeof r->out, r->id, r->q);
    return step(r, eva_stream_write_op(&r->w, &r->tcp, r->out, (size_t)len), on_sent, next);
}

static int on_connected(void *arg, eva_promise *settled, eva_promise *next) {
    (void)settled;
    return ask(arg, next);
}

/* The end, fulfilled or rejected: the one place errors arrive. */
static int on_settled(void *arg, eva_promise *settled, eva_promise *next) {
    (void)next; /* fulfilled with no value when we return 0: nothing left unhandled */
    request *r = arg;
    int status = eva_promise_get_error(settled);
    checkout_finish(r->tally, status, status ? eva_promise_get_message(settled) : NULL, r->total);
    eva_stream_close(&r->tcp, EVA_STREAM_CLOSE_DISCARD, NULL); /* over when it returns */
    free(r);
    return 0;
}

/* ctx is the array of the requests' promises: done[id] is this one's, kept
 * alive by the caller until it settles. */
static int start(eva_loop *loop, const checkout_cfg *cfg, checkout_tally *t, int id, void *ctx) {
    eva_promise **done_out = (eva_promise **)ctx + id;
    request *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    *r = (request){.loop = loop, .cfg = cfg, .tally = t, .id = id};
    r->tcp.data = r;
    eva_promise *done;
    int rc = eva_promise_new(loop, &done);
    if (rc == 0 && (rc = eva_promise_then(done, on_settled, on_settled, r, NULL)) < 0)
        eva_promise_unref(done);
    if (rc < 0) {
        free(r);
        return rc;
    }
    *done_out = done;
    /* from here on_settled owns r, whatever happens */
    rc = step(r, eva_tcp_connect_op(&r->cn, &r->tcp, (const struct sockaddr *)&cfg->db, sizeof cfg->db, 5000),
              on_connected, done);
    if (rc < 0)
        eva_promise_reject(done, rc, NULL);
    return 0;
}

int run_promises(eva_loop *loop, const checkout_cfg *cfg, checkout_tally *t) {
    eva_promise **done = calloc((size_t)cfg->requests, sizeof *done);
    if (!done)
        return -ENOMEM;
    int rc = checkout_run(loop, cfg, t, start, done);
    for (int i = 0; i < cfg->requests; i++)
        eva_promise_unref(done[i]); /* NULL for those never started */
    free(done);
    return rc;
}
