/* examples/daemon/service.h — what the daemon's two evasync endpoints (the
 * HTTP health port and the Unix control socket) have in common: an accept
 * loop whose connections are tasks in a supervising scope, a connection
 * buffer that hands out one request at a time, and the drain that SIGTERM
 * starts.
 *
 * Draining: the listener closes at once (new connections are refused); a
 * connection waiting for its next request is cancelled; one with a request
 * under way (its first bytes have arrived, its answer is not written yet)
 * finishes that request and then closes, with at most grace_ms more to read
 * the rest of it.  The service's task ends once its last connection has.
 *
 * Ownership: the service struct is the caller's and must outlive its task;
 * each connection's frame is the loop's (eva_scope_spawn), freed when its
 * task ends. */
#ifndef DAEMON_SERVICE_H
#define DAEMON_SERVICE_H

#include <stdbool.h>
#include <stddef.h>

#include <evasync.h>

enum { CONN_IN_MAX = 4096 }; /* the longest request a connection buffers */

typedef struct service service;

/* A connection: a member of its task's frame (struct { eva_task task; conn
 * c; ... }, the task first: the frame is the task). */
typedef struct conn {
    eva_task *task;             /* the frame's */
    eva_stream stream;          /* opened by the service before the first step */
    service *svc;
    struct conn *prev, *next;   /* the service's open connections */
    eva_stream_read_req read;
    eva_stream_write_req write;
    char in[CONN_IN_MAX + 1];   /* + 1: room for the request's NUL */
    size_t in_len;              /* bytes buffered */
    size_t req_len;             /* the current request's, delimiter included; 0: none */
    char saved;                 /* the byte its NUL replaced */
    bool in_request;            /* bytes of a request are here, its answer is not written */
} conn;

/* Nested async function (EVA_ASYNC(conn_read_request_run, &f->reader)):
 * wait until the buffer holds a whole request, ended by delim.  Status 0:
 * c->in[0 .. c->req_len) is the request, NUL-terminated until
 * conn_request_done; c->req_len == 0: the peer closed first (what it had
 * sent of a request is dropped).  -EMSGSIZE: CONN_IN_MAX bytes came without
 * the delimiter (too_long, if not NULL, is written to the peer first); the
 * read's and write's errors (-ECONNRESET, -ETIMEDOUT, -ECANCELED). */
typedef struct conn_reader {
    eva_task task;
    conn *c;
    const char *delim;          /* a literal */
    const char *too_long;       /* a literal, or NULL */
} conn_reader;
eva_step conn_read_request_run(void *frame);

/* The request has been answered: drop it from the buffer.  Returns false
 * when the connection should close now (the service is draining). */
bool conn_request_done(conn *c);

/* A connection task's finally section: leave the service, close the stream. */
void conn_close(conn *c);

struct service {
    eva_task task;              /* the accept loop */
    eva_server server;          /* listened on by the caller before service_start */
    eva_scope conns;            /* supervises the connections */
    eva_server_accept_req accept;
    conn *open;                 /* newest first */
    size_t conn_size;           /* the connection frame: its size ... */
    size_t conn_offset;         /* ... and where its conn is */
    eva_task_fn conn_fn;
    const char *conn_name;      /* a literal: the tasks' name */
    int64_t idle_timeout_ms;    /* a silent connection is closed after it */
    void *owner;                /* the daemon (conn->svc->owner) */
    bool draining;
    int rc;
};

/* Start the accept loop on svc->server (fill the fields above it first);
 * done runs when the task ends (after a drain, or at eva_loop_destroy).
 * Returns eva_task_start's code. */
int service_start(service *svc, eva_loop *loop, eva_task_done_fn done);

/* See "Draining" above.  Idempotent. */
void service_drain(service *svc, int64_t grace_ms);

/* How many connections are open, and how many of them have a request under way. */
void service_count(const service *svc, unsigned *open, unsigned *in_flight);

#endif
