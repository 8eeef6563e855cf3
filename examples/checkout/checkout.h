/* examples/checkout — one job, written three ways.
 *
 * A "checkout" request asks a database service `queries` questions, one
 * after the other, each answered after `delay_ms` (the IO), then prices the
 * order with `cpu_ms` of computation (the CPU).  That is the shape of a
 * typical backend request: ~10 ms of CPU, ~200 ms of waiting.  The same job
 * is written as callbacks, as promises and as an AWAIT task; each runs all
 * requests at once on one loop, the pricing on the offload pool.  A blocking
 * version, one request at a time, measures how much of its time a
 * synchronous server spends waiting. */
#ifndef CHECKOUT_H
#define CHECKOUT_H

#include <netinet/in.h>
#include <stdint.h>

#include <evasync.h>

typedef struct checkout_cfg {
    int requests, queries, delay_ms, cpu_ms;
    struct sockaddr_in db;   /* the database service */
    eva_pool *pool;          /* where the pricing runs */
} checkout_cfg;

/* What a run produced: every style must get the same checksum. */
typedef struct checkout_tally {
    uint64_t checksum;
    int done, failed;
    const char *error;       /* the first failure's message */
} checkout_tally;

/* Record one request's outcome (status 0: total is its price). */
void checkout_finish(checkout_tally *t, int status, const char *message, uint64_t total);

/* ---- the database service (db.c): its own thread, its own loop ----------- */

/* Start it on a free loopback port; its address goes to *addr.
 * Returns 0 or a negative error code. */
int db_start(int delay_ms, struct sockaddr_in *addr);
void db_stop(void);

/* The protocol: "<request> <query>\n" -> "<answer>\n" */
uint64_t db_answer(uint64_t request, uint64_t query);
int db_format_query(char *buf, size_t size, int request, int query);

/* ---- the pricing (price.c): deterministic CPU work ----------------------- */

/* Size the work so that one pricing takes about cpu_ms on this machine. */
void price_calibrate(int cpu_ms);
/* The pool job: prices the sum of the answers in *(uint64_t *)arg, in place. */
void *price_work(void *arg);

/* ---- the three styles and the blocking baseline ------------------------- */

/* Start request id (0 .. cfg->requests - 1) in one style; ctx is the style's
 * own.  Returns 0, or a negative error code (that request did not start). */
typedef int (*checkout_start_fn)(eva_loop *loop, const checkout_cfg *cfg, checkout_tally *t, int id,
                                 void *ctx);

/* Run the loop, starting every request from its first iteration, as a server
 * starts the requests it accepts: each style's start-up work (200 connects)
 * then counts in the loop's lag alike, whether the style starts a request
 * at once (callbacks, promises) or on its task's first step (AWAIT).  A
 * request that fails to start stops the starting; those started finish.
 * Returns eva_loop_run's result, or the first start failure. */
int checkout_run(eva_loop *loop, const checkout_cfg *cfg, checkout_tally *t, checkout_start_fn start,
                 void *ctx);

int run_callbacks(eva_loop *loop, const checkout_cfg *cfg, checkout_tally *t);
int run_promises(eva_loop *loop, const checkout_cfg *cfg, checkout_tally *t);
/* Run op, then `then` with arg; the promise of both goes into next
 * (promise_step.c: the one step both promise styles chain). */
int promise_step(eva_loop *loop, eva_op op, eva_then_fn then, void *arg, eva_promise *next);
int run_await(eva_loop *loop, const checkout_cfg *cfg, checkout_tally *t);
int run_blocking(const checkout_cfg *cfg, int requests, checkout_tally *t);

#endif
