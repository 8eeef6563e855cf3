/* examples/redis_await/redis_io.h — hiredis driven from an AWAIT task through
 * eva_fd_wait_op (evasync/fd.h).
 *
 * hiredis does the protocol and the IO on its own non-blocking socket
 * (redisConnectNonBlock / redisConnectUnixNonBlock); evasync only waits,
 * whenever hiredis's write or read would block, for the socket to become
 * writable or readable, with a deadline.  The same shape drives libpq
 * (PQsocket, PQflush, PQconsumeInput) or OpenSSL (WANT_READ / WANT_WRITE).
 *
 * Usage from a task, with the commands appended first (redisAppendCommand
 * only buffers them):
 *
 *     redisAppendCommand(f->c, "SET %s %s", key, value);
 *     f->x = (redis_exchange){.c = f->c, .replies = 1, .timeout_ms = 5000};
 *     AWAIT(f, EVA_ASYNC(redis_exchange_run, &f->x));
 *     ... f->x.reply ... freeReplyObject(f->x.reply);
 */
#ifndef EXAMPLES_REDIS_IO_H
#define EXAMPLES_REDIS_IO_H

#include <stdbool.h>
#include <stdint.h>
#include <hiredis.h>
#include <evasync.h>

/* hiredis's error on c as a negative errno-style code, given errno as it was
 * right after the failed call (hiredis 0.14 keeps only its text):
 * -ECONNRESET (the server closed the connection, or reset it), -EPIPE (a
 * write to a closed connection), another read/write error (-EIO if errno
 * was lost), -ENOMEM, -EPROTO (a protocol error, anything else). */
int redis_error_code(const redisContext *c, int saved_errno);

/* A non-blocking connect to unix_path, or else host:port, awaited: the
 * frame of a nested async function (EVA_ASYNC).  On success c is the
 * caller's (redisFree it); on failure c is NULL and the task fails with
 * -ECONNREFUSED, -ETIMEDOUT, or the connect's error (SO_ERROR). */
typedef struct redis_connecting {
    eva_task task;
    /* in */
    const char *unix_path;    /* or NULL: host and port */
    const char *host;
    int port;
    int64_t timeout_ms;       /* 0: none */
    /* out */
    redisContext *c;
    /* private */
    eva_fd_wait_req wait;
    bool connected;
    char message[160];        /* "redis: " and hiredis's errstr */
} redis_connecting;

eva_step redis_connect_run(void *frame);

/* One exchange: flush what was appended to c, then read `replies` replies.
 * The frame of a nested async function (EVA_ASYNC): set the inputs, zero the
 * rest.  Fails with the wait's status (-ETIMEDOUT: no progress within
 * timeout_ms) or redis_error_code() and hiredis's message. */
typedef struct redis_exchange {
    eva_task task;
    /* in */
    redisContext *c;          /* borrowed: the caller connects and frees it */
    int replies;              /* how many replies to read (>= 1) */
    int64_t timeout_ms;       /* bound on each wait for the socket (0: none) */
    void (*on_reply)(struct redis_exchange *x, const redisReply *r); /* each reply, borrowed; may be NULL */
    void *arg;                /* for on_reply */
    /* out */
    redisReply *reply;        /* the last reply: the caller's, freeReplyObject() it */
    int got;                  /* replies read */
    /* private */
    eva_fd_wait_req wait;
    void *next;
    int flushed;
    char message[160];        /* "redis: " and hiredis's errstr */
} redis_exchange;

eva_step redis_exchange_run(void *frame);

#endif
