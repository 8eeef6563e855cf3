/* examples/checkout/svc.c — one request's steps, shared by every style:
 * the statements, reading their results, the Redis round trip, the hash and
 * the output line.  The styles differ only in how they sequence these. */
#define _GNU_SOURCE /* crypt_r */
#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "svc.h"

/* Each statement does real work on the seeded tables and sleeps server-side
 * (pg_sleep in FROM: one row, joined), the shape of a slow query. */
static const char *const SQL[SVC_QUERIES] = {
    "SELECT a.name, a.balance FROM accounts a, pg_sleep($2) WHERE a.id = $1",
    "SELECT i.price FROM items i, pg_sleep($2) WHERE i.id = $1",
    "UPDATE accounts SET last_order = $2 FROM pg_sleep($3) s WHERE id = $1 RETURNING balance",
};

void svc_req_init(svc_req *r, int account, int item, const char *sleep_s, int64_t timeout_ms) {
    *r = (svc_req){.account = account, .item = item, .sleep_s = sleep_s, .timeout_ms = timeout_ms};
    snprintf(r->account_s, sizeof r->account_s, "%d", account);
    snprintf(r->item_s, sizeof r->item_s, "%d", item);
}

void svc_query(pg_query *q, svc_req *r, int n, PGconn *conn) {
    pg_query_setup(q, conn, SQL[n], r->timeout_ms);
    const char *first = n == 1 ? r->item_s : r->account_s;
    const char *params[SVC_QUERIES][3] = {
        {first, r->sleep_s}, {first, r->sleep_s}, {first, r->item_s, r->sleep_s}};
    q->nparams = n == 2 ? 3 : 2;
    memcpy(q->params, params[n], sizeof q->params);
}

static long long column(const PGresult *res, int col) { return strtoll(PQgetvalue(res, 0, col), NULL, 10); }

int svc_take(svc_req *r, int n, pg_query *q, char *message, size_t len) {
    PGresult *res = q->result;
    q->result = NULL;
    int rc = 0;
    if (PQntuples(res) != 1) {
        snprintf(message, len, "no %s %s", n == 1 ? "item" : "account", n == 1 ? r->item_s : r->account_s);
        rc = -ENOENT;
    } else if (n == 0) {
        snprintf(r->name, sizeof r->name, "%s", PQgetvalue(res, 0, 0));
        r->balance = column(res, 1);
    } else if (n == 1) {
        r->price = column(res, 0);
    } else if (column(res, 0) != r->balance) {
        snprintf(message, len, "account %s changed under us", r->account_s);
        rc = -EPROTO;
    }
    PQclear(res);
    return rc;
}

void svc_redis(redis_cmds *x, svc_req *r, redisContext *c) {
    redis_cmds_setup(x, c, r->timeout_ms);
    redisAppendCommand(c, "SET checkout:%s %lld", r->account_s, r->price);
    redisAppendCommand(c, "GET checkout:%s", r->account_s);
}

int svc_redis_take(svc_req *r, redis_cmds *x, char *message, size_t len) {
    const redisReply *got = x->reply[1];
    int rc = 0;
    if (got->type != REDIS_REPLY_STRING) {
        snprintf(message, len, "redis: GET checkout:%s returned type %d", r->account_s, got->type);
        rc = -EPROTO;
    } else {
        r->cached = strtoll(got->str, NULL, 10);
    }
    svc_cleanup(&(pg_query){0}, x);
    return rc;
}

void svc_cleanup(pg_query *q, redis_cmds *x) {
    PQclear(q->result); /* NULL is fine */
    q->result = NULL;
    for (int i = 0; i < x->got; i++)
        freeReplyObject(x->reply[i]);
    x->got = 0;
}

/* ---- the CPU part: a password-style hash (SHA-512 crypt, glibc's libcrypt) */

static unsigned hash_rounds = 5000;

static void hash_into(char *out, size_t len, const char *key, const char *salt, unsigned rounds) {
    static __thread struct crypt_data data; /* 32 KiB: per thread, not per request */
    char setting[64];
    snprintf(setting, sizeof setting, "$6$rounds=%u$%.16s$", rounds, salt);
    const char *h = crypt_r(key, setting, &data);
    snprintf(out, len, "%s", h ? h : "*");
}

static double thread_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void svc_calibrate(int cpu_ms) {
    enum { PROBE = 20000 };
    char out[128];
    double t0 = thread_cpu_s();
    hash_into(out, sizeof out, "probe", "probe", PROBE);
    double per_round = (thread_cpu_s() - t0) / PROBE;
    double rounds = per_round > 0 ? cpu_ms / 1e3 / per_round : PROBE;
    hash_rounds = rounds < 1000 ? 1000 : (unsigned)rounds; /* crypt's minimum */
}

void *svc_hash(void *arg) {
    svc_req *r = arg;
    char key[128];
    snprintf(key, sizeof key, "%s:%lld:%lld:%lld", r->name, r->balance, r->price, r->cached);
    hash_into(r->digest, sizeof r->digest, key, r->account_s, hash_rounds);
    return NULL;
}

void svc_format(const svc_req *r, int status, const char *message, char *line, size_t len) {
    if (status == 0) {
        size_t n = strlen(r->digest);
        snprintf(line, len, "account=%d item=%d name=%s balance=%lld price=%lld cached=%lld hash=%s",
                 r->account, r->item, r->name, r->balance, r->price, r->cached,
                 r->digest + (n > 12 ? n - 12 : 0));
    } else {
        snprintf(line, len, "account=%d item=%d error=%s: %s", r->account, r->item,
                 eva_strerror(status), message && *message ? message : "-");
    }
}

/* ---- the run ------------------------------------------------------------ */

void svc_begin(const svc_run *run, int i, svc_req *r) {
    int account = i % 1000, item = i % 100;
    if (run->input)
        run->input(run, i, &account, &item);
    svc_req_init(r, account, item, run->sleep_s, run->timeout_ms);
}

void svc_finish(svc_run *run, int i, const svc_req *r, int status, const char *message) {
    svc_format(r, status, message, run->lines[i], sizeof run->lines[i]);
    if (status < 0)
        __atomic_fetch_add(&run->failed, 1, __ATOMIC_RELAXED); /* threads too */
}

int svc_run_slots(svc_run *run, size_t size, void (*start)(void *state, svc_run *run, int k)) {
    for (int k = 0; k < run->nslots; k++) {
        void *state = meter_calloc(1, size);
        if (!state)
            return -ENOMEM;
        start(state, run, k); /* owns state from here: frees it after the slot's last request */
    }
    return eva_loop_run(run->loop, EVA_RUN_DEFAULT);
}
