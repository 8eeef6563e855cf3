/* examples/daemon/health.c — GET /health, one AWAIT task per connection
 * (HTTP/1.1 keep-alive; no request bodies).  The answer needs the Redis
 * counter, fetched through the daemon's own hiredis context: its callback
 * settles a promise the task awaits (daemon_get_counter_promise), which is
 * how a new AWAIT handler uses a callback API the daemon already has.
 *
 *   200 {"status":"ok","name":N,"ticks":T,"redis_counter":C}
 *   503 {"status":"degraded","name":N,"ticks":T,"redis_error":E}  (Redis down)
 *   404 any other path, 405 any other method, 400 no request line,
 *   431 a header over CONN_IN_MAX bytes (and the connection closes) */
#define _GNU_SOURCE /* strcasestr */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "daemon.h"

static const char TOO_LONG[] = "HTTP/1.1 431 Request Header Fields Too Large\r\n"
                               "Content-Length: 0\r\nConnection: close\r\n\r\n";

typedef struct health_conn {
    eva_task task; /* first: the frame is the task */
    conn c;
    conn_reader reader;
    eva_promise *counter;
    bool close_after;
    char out[1024];
    size_t out_len;
    int rc;
} health_conn;

const size_t health_conn_size = sizeof(health_conn), health_conn_offset = offsetof(health_conn, c);

static daemon_state *daemon_of(const health_conn *f) { return f->c.svc->owner; }

/* The whole response: status line, headers, body. */
static void respond(health_conn *f, const char *status, const char *body) {
    f->close_after |= f->c.svc->draining; /* the last answer says so */
    int n = snprintf(f->out, sizeof f->out,
                     "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n%s",
                     status, strlen(body), f->close_after ? "Connection: close\r\n" : "", body);
    f->out_len = n < 0 ? 0 : (size_t)n < sizeof f->out ? (size_t)n : sizeof f->out - 1;
}

static void respond_error(health_conn *f, const char *status) {
    char body[96];
    snprintf(body, sizeof body, "{\"status\":\"error\",\"error\":\"%s\"}\n", status);
    respond(f, status, body);
}

/* The counter's promise settled: the 200 or the 503. */
static void respond_health(health_conn *f, int rc) {
    const daemon_state *d = daemon_of(f);
    char body[512];
    if (rc == 0)
        snprintf(body, sizeof body, "{\"status\":\"ok\",\"name\":\"%s\",\"ticks\":%llu,\"redis_counter\":%lld}\n",
                 d->cfg.name, (unsigned long long)d->ticks, *(long long *)eva_promise_get_value(f->counter));
    else
        snprintf(body, sizeof body,
                 "{\"status\":\"degraded\",\"name\":\"%s\",\"ticks\":%llu,\"redis_error\":\"%s\"}\n",
                 d->cfg.name, (unsigned long long)d->ticks,
                 f->counter ? eva_promise_get_message(f->counter) : eva_strerror(rc));
    respond(f, rc == 0 ? "200 OK" : "503 Service Unavailable", body);
}

/* Decide from the request line and headers (and whether to close after).  Returns true for GET /health
 * (the answer needs Redis); otherwise the error response is in out. */
static bool route(health_conn *f) {
    const char *req = f->c.in;
    if (!strstr(req, " HTTP/1.")) {
        f->close_after = true; /* not HTTP: answer once and go */
        respond_error(f, "400 Bad Request");
        return false;
    }
    f->close_after = strstr(req, " HTTP/1.0\r\n") || strcasestr(req, "\r\nConnection: close\r\n");
    if (strncmp(req, "GET ", 4) != 0) {
        respond_error(f, "405 Method Not Allowed");
        return false;
    }
    if (strncmp(req + 4, "/health ", 8) != 0) {
        respond_error(f, "404 Not Found");
        return false;
    }
    return true;
}

eva_step health_conn_run(void *frame) {
    health_conn *f = frame;
    ASYNC_BEGIN(f);
    while (!f->c.svc->draining) {
        f->reader = (conn_reader){.c = &f->c, .delim = "\r\n\r\n", .too_long = TOO_LONG};
        AWAIT(f, EVA_ASYNC(conn_read_request_run, &f->reader));
        if (f->c.req_len == 0)
            break; /* the client closed */
        if (route(f)) {
            f->rc = daemon_get_counter_promise(daemon_of(f), &f->counter);
            if (f->rc == 0)
                AWAIT_RC(f, f->rc, eva_promise_op(f->counter));
            respond_health(f, f->rc);
            eva_promise_unref(f->counter);
            f->counter = NULL;
        }
        AWAIT(f, eva_stream_write_op(&f->c.write, &f->c.stream, f->out, f->out_len));
        if (!conn_request_done(&f->c) || f->close_after)
            break;
    }
    ASYNC_FINALLY(f);
    eva_promise_unref(f->counter); /* cancelled while it waited for Redis */
    conn_close(&f->c);
    ASYNC_END(f);
}
