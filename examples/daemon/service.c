/* examples/daemon/service.c — see service.h. */
#define _GNU_SOURCE /* memmem */
#include "service.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* A whole request in the buffer?  Then NUL-terminate it (keeping the byte
 * after it: pipelined bytes stay for the next request). */
static bool find_request(conn *c, const char *delim) {
    size_t dlen = strlen(delim);
    const char *end = memmem(c->in, c->in_len, delim, dlen);
    if (!end)
        return false;
    c->req_len = (size_t)(end - c->in) + dlen;
    c->saved = c->in[c->req_len];
    c->in[c->req_len] = '\0';
    return true;
}

eva_step conn_read_request_run(void *frame) {
    conn_reader *r = frame;
    ASYNC_BEGIN(r);
    r->c->req_len = 0;
    while (!find_request(r->c, r->delim)) {
        if (r->c->in_len == CONN_IN_MAX) {
            if (r->too_long)
                AWAIT(r, eva_stream_write_op(&r->c->write, &r->c->stream, r->too_long, strlen(r->too_long)));
            ASYNC_FAIL(r, -EMSGSIZE, "request too long");
        }
        AWAIT(r, eva_stream_read_op(&r->c->read, &r->c->stream, r->c->in + r->c->in_len,
                                    CONN_IN_MAX - r->c->in_len));
        if (r->c->read.nread == 0)
            ASYNC_RETURN(r, 0); /* closed: req_len stays 0 */
        r->c->in_len += (size_t)r->c->read.nread;
        r->c->in_request = true; /* from its first byte on, SIGTERM lets it finish */
    }
    ASYNC_END(r);
}

bool conn_request_done(conn *c) {
    c->in[c->req_len] = c->saved;
    c->in_len -= c->req_len;
    memmove(c->in, c->in + c->req_len, c->in_len);
    c->req_len = 0;
    c->in_request = c->in_len > 0; /* a pipelined request has begun already */
    return !c->svc->draining;
}

void conn_close(conn *c) {
    service *s = c->svc;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->open = c->next;
    if (c->next)
        c->next->prev = c->prev;
    /* every write was awaited: nothing is queued, the descriptor closes now */
    eva_stream_close(&c->stream, EVA_STREAM_CLOSE_DISCARD, NULL);
}

/* A connection ended with an error.  What peers do (reset, vanish, go quiet,
 * send too much) is theirs; anything else is worth a line. */
static void on_conn_failed(void *arg, eva_scope *scope, eva_task *child) {
    (void)scope;
    const service *s = arg;
    int status = eva_task_get_status(child);
    if (status != -ECONNRESET && status != -EPIPE && status != -ETIMEDOUT && status != -EMSGSIZE)
        fprintf(stderr, "daemon: %s connection failed: %s\n", s->conn_name, eva_task_get_message(child));
}

/* Spawn the connection's task and open its stream before its first step. */
static void adopt(service *s, int fd) {
    void *frame;
    eva_loop *loop = eva_task_get_loop(&s->task);
    if (eva_scope_spawn(&s->conns, s->conn_size, s->conn_fn, s->conn_name, &frame) < 0) {
        fprintf(stderr, "daemon: out of memory: dropping a %s connection\n", s->conn_name);
        close(fd);
        return;
    }
    conn *c = (conn *)((char *)frame + s->conn_offset);
    c->task = frame;
    c->svc = s;
    c->next = s->open;
    if (s->open)
        s->open->prev = c;
    s->open = c;
    /* a stream that cannot be opened fails the task at its first read */
    if (eva_stream_open(loop, &c->stream, fd) < 0)
        close(fd);
    else
        eva_stream_set_read_timeout(&c->stream, s->idle_timeout_ms);
}

static eva_step service_run(void *frame) {
    service *s = frame;
    ASYNC_BEGIN(s);
    eva_scope_init_mode(&s->conns, &s->task, EVA_SCOPE_SUPERVISE);
    eva_scope_on_failure(&s->conns, on_conn_failed, s);
    while (!s->draining) {
        /* the drain closes the server: this accept then ends with -ECANCELED */
        AWAIT_RC(s, s->rc, eva_server_accept_op(&s->accept, &s->server));
        if (s->rc < 0)
            break;
        adopt(s, s->accept.fd);
    }
    AWAIT(s, eva_scope_join_op(&s->conns)); /* the requests under way finish */
    ASYNC_FINALLY(s);
    eva_server_close(&s->server);
    ASYNC_END(s);
}

int service_start(service *svc, eva_loop *loop, eva_task_done_fn done) {
    int rc = eva_task_init(loop, &svc->task, service_run, "service");
    return rc < 0 ? rc : eva_task_start(&svc->task, done);
}

void service_drain(service *s, int64_t grace_ms) {
    if (s->draining)
        return;
    s->draining = true;
    eva_server_close(&s->server);
    for (conn *c = s->open; c; c = c->next) {
        if (c->in_request)
            eva_stream_set_read_deadline(&c->stream, grace_ms); /* its rest must come soon */
        else if (eva_task_get_state(c->task) == EVA_TASK_SUSPENDED)
            eva_task_cancel(c->task); /* parked waiting for a request that is not coming */
        /* a task that has not run yet sees draining at its first step and ends
         * through its finally section (cancelling it now would skip that) */
    }
}

void service_count(const service *s, unsigned *open, unsigned *in_flight) {
    *open = *in_flight = 0;
    for (const conn *c = s->open; c; c = c->next) {
        ++*open;
        *in_flight += c->in_request;
    }
}
