/* examples/hello_http/http_conn.h — one HTTP/1.1 keep-alive connection of
 * hello_http, as a task: it answers every request "Hello, World!".
 *
 * The frame holds the socket, the parser and the two requests, and no
 * buffer: requests are read with eva_stream_read_lent (the loop lends the
 * bytes only while they are being parsed), and the answers, all the same,
 * are written from one static block of them.  An idle keep-alive
 * connection therefore costs its frame and nothing else (docs/scaling.md).
 * Pipelined requests arriving together are answered with one write.  A malformed request gets 400 (after the answers
 * to the requests before it) and the connection is closed.  A request's
 * header must be complete within header_timeout_ms of its first byte (a read
 * deadline, which trickling bytes do not postpone; then 408 and close), and
 * a connection that sends nothing for idle_timeout_ms is closed (a read
 * timeout: between keep-alive requests, or a client that went quiet); 0
 * turns either off.
 *
 * To serve a connection: http_conn_spawn() in a scope, or by hand: spawn a
 * task with a zeroed frame of sizeof(struct http_conn) running
 * http_conn_run (eva_task_spawn or eva_scope_spawn: the loop owns the
 * frame), then, before its first step (the next loop iteration),
 * eva_stream_open() the accepted socket on c->tcp and set the two timeouts.  The task closes the connection when it ends; a task
 * whose socket could not be opened fails at its first read and ends at once.
 * It finishes with 0 (the peer closed, or was answered and closed after a
 * 400, a 408 or "Connection: close"), or with the read or write error that
 * ended it (-ECONNRESET, -EPIPE, -ETIMEDOUT, -ECANCELED). */
#ifndef HELLO_HTTP_CONN_H
#define HELLO_HTTP_CONN_H

#include <http_parser.h>
#include <stdbool.h>
#include <stdint.h>

#include <evasync.h>

/* The four responses a connection sends (NUL-terminated; also what a test
 * or fuzzer expects to read back): the 200, the 200 to a request that
 * closes the connection (with "Connection: close"), the 400 and the 408. */
extern const char http_conn_hello[], http_conn_hello_close[], http_conn_bad_request[], http_conn_timeout[];

/* Up to 64 responses batched into one write. */
#define HTTP_CONN_BATCH 64

struct http_conn {
    eva_task task;              /* first member: the frame is the task */
    eva_stream tcp;                /* the spawner opens it */
    uint32_t header_timeout_ms; /* the spawner sets them; 0: none (at most 49 days: */
    uint32_t idle_timeout_ms;   /* half the bytes of an int64_t, in every connection) */
    /* the task's own: */
    eva_stream_read_req read;      /* its lent and nread: the bytes being parsed */
    eva_stream_write_req write;
    http_parser parser;
    /* packed: every byte here is paid once per idle connection */
    const char *last;           /* the closing 200, 400 or 408 that ends the connection, or NULL */
    uint32_t pos;               /* parsed so far (of at most EVA_STREAM_LENT_SIZE) */
    int rc;
    uint16_t batched;           /* 200s owed, not written yet (at most HTTP_CONN_BATCH) */
    bool close_after;           /* "Connection: close", HTTP/1.0, or an error */
    bool in_header;             /* a request has begun, its header is not complete */
    bool deadline_armed;        /* ... and its header deadline is set on tcp */
};

/* The connection's task function (frame: a struct http_conn). */
eva_step http_conn_run(void *frame);

/* Serve the accepted socket fd as a child of conns: spawn the connection's
 * task (its frame, *out, is the loop's), open fd on its stream and set the
 * two timeouts.  0, or the spawn's or the open's error, fd then closed. */
int http_conn_spawn(eva_scope *conns, int fd, const char *name, uint32_t header_timeout_ms,
                    uint32_t idle_timeout_ms, struct http_conn **out);

/* A connection (or, over TLS, its handshake) that failed with status:
 * counted in *peer_ends when its peer caused it (a reset, a write to a peer
 * that had gone, a timeout, bytes that were not TLS, a TLS alert or a
 * truncation), else "who: message" on stderr; -ECANCELED (shutdown) is
 * neither.  Peers' doings are counted rather than logged: any client can
 * cause one per connection, so a line each would let it fill the log. */
void http_conn_note_failure(uint64_t *peer_ends, const char *who, int status, const char *message);

#endif
