/* examples/checkout/svc.h — the checkout job against a real PostgreSQL and
 * a real Redis (the default mode of the demo; --builtin runs the loopback
 * stand-in of checkout.h instead).
 *
 * One request, for one account and one item:
 *   1. SELECT the account (name, balance)        ~50 ms server-side (pg_sleep)
 *   2. SELECT the item's price                   ~50 ms
 *   3. UPDATE the account's last order, RETURNING its balance   ~50 ms
 *   4. Redis: SET the price under the account's key and GET it back
 *      (one round trip: two commands pipelined)
 *   5. ~10 ms of CPU: a SHA-512 crypt(3) of what was read, on the offload pool
 * Its output is one line (svc_format); a missing account, a lost connection
 * or a timeout ends it with an error line instead.
 *
 * Connections: one PostgreSQL connection and one Redis connection per
 * in-flight request ("slot"), opened before the clock starts and reused by
 * the slot's requests one after the other (a fixed pool with one request per
 * connection: libpq runs one query at a time per connection, and a slot
 * never waits for another slot's connection).  The same holds for every
 * style, so connection setup is excluded from every row alike.
 *
 * The driving primitive is nbio: a library's own non-blocking IO (libpq,
 * hiredis) advanced by a step function, with eva_fd_wait whenever it would
 * block, in callback form (nbio_start) and AWAIT form (nbio_op); the promise
 * form is eva_promise_from_op(loop, nbio_op(...)). */
#ifndef CHECKOUT_SVC_H
#define CHECKOUT_SVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis.h>
#include <libpq-fe.h>
#include <evasync.h>

/* ---- nbio: another library's non-blocking IO, driven by eva_fd_wait ------ */

typedef struct nbio nbio;

/* Advance the library's IO without blocking.  Returns the EVA_FD_* events to
 * wait for before the next call (> 0), 0 when the exchange is over, or a
 * negative code with a message in io->message.  io->ready holds the events
 * the last wait reported (0 before the first wait); the step clears what it
 * consumed. */
typedef int (*nbio_step_fn)(nbio *io);
typedef void (*nbio_done_fn)(nbio *io, int status);

/* Embedded first in an exchange (pg_query, redis_cmds); zeroed by their
 * setup functions, which set step and fd. */
struct nbio {
    eva_task task;        /* the AWAIT form's frame: first */
    nbio_step_fn step;
    int fd;               /* not owned: the library's socket */
    int ready;            /* see nbio_step_fn */
    int want;             /* the step's last answer */
    int status;           /* the AWAIT form's last wait */
    int64_t timeout_ms;   /* bound on each wait (0: none) */
    eva_loop *loop;       /* callback form */
    nbio_done_fn done;    /* callback form */
    eva_fd_wait_req wait;
    eva_call first;       /* the callback form's first step runs from the loop */
    char message[200];
};

/* Callback form: done(io, status) runs once, from the loop (never inside
 * this call).  Returns 0 or -EINVAL. */
int nbio_start(nbio *io, eva_loop *loop, nbio_done_fn done);
/* AWAIT form: AWAIT(f, nbio_op(&f->q.io)); fails with the step's code and
 * message, or the wait's (-ETIMEDOUT). */
eva_op nbio_op(nbio *io);

/* ---- the two libraries' exchanges ----------------------------------------- */

/* One statement through libpq's asynchronous API (PQsendQueryParams,
 * PQflush, PQconsumeInput, PQisBusy, PQgetResult).  The connection must be
 * in non-blocking mode (PQsetnonblocking) for nbio; svc_exec_blocking runs
 * the same query with PQexecParams.  Failures: -ECONNRESET (the connection
 * is lost: PQstatus is CONNECTION_BAD), -EPROTO (the server refused the
 * statement), with libpq's message. */
typedef struct pg_query {
    nbio io;                  /* first */
    PGconn *conn;             /* borrowed */
    const char *sql;          /* borrowed, static */
    int nparams;
    const char *params[3];    /* borrowed: the request's strings */
    PGresult *result;         /* out: the caller's (svc_take clears it) */
    bool sent;
} pg_query;

/* Two pipelined commands (SET, GET) through hiredis's buffered IO on a
 * non-blocking redisContext.  Failures: redis_error_code() (redis_io.h), or
 * -EPROTO for an error reply, with hiredis's message. */
typedef struct redis_cmds {
    nbio io;                  /* first */
    redisContext *c;          /* borrowed */
    redisReply *reply[2];     /* out: the caller's (svc_redis_take frees them) */
    int got;
    bool flushed;
} redis_cmds;

/* Zero q / x and set them up on their connection (fd, step, timeout). */
void pg_query_setup(pg_query *q, PGconn *conn, const char *sql, int64_t timeout_ms);
void redis_cmds_setup(redis_cmds *x, redisContext *c, int64_t timeout_ms);

/* ---- one request: arguments, results, the shared steps -------------------- */

enum { SVC_QUERIES = 3, SVC_LINE = 256 };

typedef struct svc_req {
    /* in */
    int account, item;
    const char *sleep_s;       /* each query's server-side sleep, "0.05" */
    int64_t timeout_ms;        /* bound on each wait for a socket */
    /* out */
    char name[48];
    long long balance, price, cached;
    char digest[128];          /* crypt(3) output */
    /* private: the queries' parameters as text */
    char account_s[16], item_s[16];
} svc_req;

void svc_req_init(svc_req *r, int account, int item, const char *sleep_s, int64_t timeout_ms);
/* Set q up as query n (0..2) of r on conn. */
void svc_query(pg_query *q, svc_req *r, int n, PGconn *conn);
/* Read query n's result into r and clear it: 0, or -ENOENT (no such row). */
int svc_take(svc_req *r, int n, pg_query *q, char *message, size_t len);
/* Set x up (the two commands appended to c). */
void svc_redis(redis_cmds *x, svc_req *r, redisContext *c);
/* Check and free x's replies: 0, -EPROTO (not the value written). */
int svc_redis_take(svc_req *r, redis_cmds *x, char *message, size_t len);
/* Free what a failed request left in q and x (a result, replies). */
void svc_cleanup(pg_query *q, redis_cmds *x);
/* The CPU part, an eva_pool work function: arg is the svc_req. */
void *svc_hash(void *arg);
/* Size the hash so that one takes about cpu_ms on this machine. */
void svc_calibrate(int cpu_ms);
/* The request's output line (status 0: its results; else the error). */
void svc_format(const svc_req *r, int status, const char *message, char *line, size_t len);

/* Blocking forms, for the blocking and thread-per-request rows (blocking
 * connections).  Return 0 or the code svc_format prints. */
int svc_exec_blocking(pg_query *q);
int svc_redis_blocking(redis_cmds *x);

/* ---- a slot's connections and the run's bookkeeping ------------------------ */

typedef struct svc_slot {
    PGconn *pg;
    redisContext *redis;
} svc_slot;

/* Open both; nonblocking: for nbio.  Returns 0 or -ECONNREFUSED (message
 * written to stderr). */
int svc_slot_open(svc_slot *s, const char *pg_conninfo, const char *redis_path, bool nonblocking);
void svc_slot_close(svc_slot *s);

/* What a style is given: the slots, and where each request's line goes. */
typedef struct svc_run {
    eva_loop *loop;            /* NULL for the blocking rows */
    eva_pool *pool;
    svc_slot *slots;
    int nslots, requests;
    const char *sleep_s;
    int64_t timeout_ms;
    bool inline_cpu;           /* the deliberately blocking variant (AWAIT only) */
    /* Request i's inputs; NULL: account i % 1000, item i % 100. */
    void (*input)(const struct svc_run *run, int i, int *account, int *item);
    char (*lines)[SVC_LINE];   /* [requests]: each request's output */
    int failed;
} svc_run;

/* Record request i's outcome (loop thread, or any thread for threads). */
void svc_finish(svc_run *run, int i, const svc_req *r, int status, const char *message);
/* Request i's inputs into r. */
void svc_begin(const svc_run *run, int i, svc_req *r);

/* For the callback and promise styles: one zeroed state of size bytes per
 * slot (meter_calloc), given to start(state, run, k), which owns it (it
 * meter_frees it after the slot's last request); then the loop runs.
 * Returns eva_loop_run's status or -ENOMEM. */
int svc_run_slots(svc_run *run, size_t size, void (*start)(void *state, svc_run *run, int k));

/* Each style runs run->requests requests over run->nslots slots; slot k
 * takes requests k, k + nslots, ...  Returns 0 or a setup error. */
int svc_run_callbacks(svc_run *run);
int svc_run_promises(svc_run *run);
int svc_run_await(svc_run *run);
int svc_run_blocking(svc_run *run);
int svc_run_threads(svc_run *run);

/* The counting allocator (meter.c): every evasync allocation, and the
 * styles' own request state (meter_calloc / meter_free). */
typedef struct meter_stats {
    uint64_t allocs;           /* allocations so far */
    int64_t live, peak;        /* bytes live now, and at most since meter_reset_peak */
} meter_stats;
void meter_install(void);
void *meter_calloc(size_t n, size_t size);
void meter_free(void *p);
void meter_get(meter_stats *out);
void meter_reset_peak(void);

/* The demo against the real servers (svc_main.c): argv as main's. */
int svc_main(int argc, char **argv, const char *pg_conninfo, const char *redis_path);

#endif
