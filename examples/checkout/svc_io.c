/* examples/checkout/svc_io.c — the libpq and hiredis exchanges as nbio
 * steps, their blocking twins' error mapping, and a slot's connections. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "redis_io.h"
#include "svc.h"

/* ---- libpq ------------------------------------------------------------- */

/* A failure on q's connection: lost (-ECONNRESET) or refused (-EPROTO). */
static int pg_failure(pg_query *q, const PGresult *res) {
    const char *text = res ? PQresultErrorMessage(res) : PQerrorMessage(q->conn);
    snprintf(q->io.message, sizeof q->io.message, "postgres: %.*s", (int)strcspn(text, "\n"), text);
    return PQstatus(q->conn) == CONNECTION_BAD ? -ECONNRESET : -EPROTO;
}

/* The statement's outcome once libpq has every result: the first is kept,
 * the rest (none for one statement) cleared. */
static int pg_outcome(pg_query *q) {
    ExecStatusType st = q->result ? PQresultStatus(q->result) : PGRES_FATAL_ERROR;
    return st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK ? 0 : pg_failure(q, q->result);
}

static int pg_step(nbio *io) {
    pg_query *q = (pg_query *)io;
    if (!q->sent) {
        if (!PQsendQueryParams(q->conn, q->sql, q->nparams, NULL, q->params, NULL, NULL, 0))
            return pg_failure(q, NULL);
        q->sent = true;
    }
    int unsent = PQflush(q->conn); /* 1: the socket's buffer is full */
    if (unsent < 0 || !PQconsumeInput(q->conn))
        return pg_failure(q, NULL);
    if (unsent) /* libpq wants both: the server may be waiting for us to read */
        return EVA_FD_READABLE | EVA_FD_WRITABLE;
    while (!PQisBusy(q->conn)) {
        PGresult *res = PQgetResult(q->conn);
        if (!res)
            return pg_outcome(q);
        if (q->result)
            PQclear(res);
        else
            q->result = res;
    }
    return EVA_FD_READABLE;
}

void pg_query_setup(pg_query *q, PGconn *conn, const char *sql, int64_t timeout_ms) {
    *q = (pg_query){.io = {.step = pg_step, .fd = PQsocket(conn), .timeout_ms = timeout_ms},
                    .conn = conn, .sql = sql};
}

int svc_exec_blocking(pg_query *q) {
    q->result = PQexecParams(q->conn, q->sql, q->nparams, NULL, q->params, NULL, NULL, 0);
    return pg_outcome(q);
}

/* ---- hiredis ----------------------------------------------------------- */

static int redis_failure(redis_cmds *x, int saved_errno) {
    snprintf(x->io.message, sizeof x->io.message, "redis: %s", x->c->errstr);
    return redis_error_code(x->c, saved_errno);
}

/* Both replies read: an error reply fails the exchange. */
static int redis_outcome(redis_cmds *x) {
    for (int i = 0; i < x->got; i++)
        if (x->reply[i]->type == REDIS_REPLY_ERROR) {
            snprintf(x->io.message, sizeof x->io.message, "redis: %s", x->reply[i]->str);
            return -EPROTO;
        }
    return 0;
}

static int redis_step(nbio *io) {
    redis_cmds *x = (redis_cmds *)io;
    while (!x->flushed) {
        int done = 0;
        if (redisBufferWrite(x->c, &done) != REDIS_OK)
            return redis_failure(x, errno);
        if (!done)
            return EVA_FD_WRITABLE;
        x->flushed = true;
    }
    while (x->got < 2) {
        void *reply = NULL;
        if (redisGetReplyFromReader(x->c, &reply) != REDIS_OK)
            return redis_failure(x, errno);
        if (reply) {
            x->reply[x->got++] = reply;
            continue;
        }
        if (!(io->ready & EVA_FD_READABLE))
            return EVA_FD_READABLE;
        io->ready = 0;
        if (redisBufferRead(x->c) != REDIS_OK) /* EOF or an error; EAGAIN reads nothing */
            return redis_failure(x, errno);
    }
    return redis_outcome(x);
}

void redis_cmds_setup(redis_cmds *x, redisContext *c, int64_t timeout_ms) {
    *x = (redis_cmds){.io = {.step = redis_step, .fd = c->fd, .timeout_ms = timeout_ms}, .c = c};
}

int svc_redis_blocking(redis_cmds *x) {
    while (x->got < 2) {
        void *reply = NULL;
        if (redisGetReply(x->c, &reply) != REDIS_OK)
            return redis_failure(x, errno);
        x->reply[x->got++] = reply;
    }
    return redis_outcome(x);
}

/* ---- a slot's connections ---------------------------------------------- */

int svc_slot_open(svc_slot *s, const char *pg_conninfo, const char *redis_path, bool nonblocking) {
    *s = (svc_slot){.pg = PQconnectdb(pg_conninfo)};
    if (PQstatus(s->pg) != CONNECTION_OK) {
        fprintf(stderr, "checkout: postgres: %s", PQerrorMessage(s->pg));
        svc_slot_close(s);
        return -ECONNREFUSED;
    }
    s->redis = nonblocking ? redisConnectUnixNonBlock(redis_path) : redisConnectUnix(redis_path);
    if (!s->redis || s->redis->err ||
        (nonblocking && PQsetnonblocking(s->pg, 1) != 0)) {
        fprintf(stderr, "checkout: redis at %s: %s\n", redis_path,
                s->redis ? s->redis->errstr : "out of memory");
        svc_slot_close(s);
        return -ECONNREFUSED;
    }
    return 0;
}

void svc_slot_close(svc_slot *s) {
    PQfinish(s->pg); /* NULL is fine for both */
    if (s->redis)
        redisFree(s->redis);
    *s = (svc_slot){0};
}
