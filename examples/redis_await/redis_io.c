/* examples/redis_await/redis_io.c — hiredis's buffered IO, with
 * eva_fd_wait_op wherever it would block. */
#include "redis_io.h"

#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>

int redis_error_code(const redisContext *c, int saved_errno) {
    switch (c->err) {
    case REDIS_ERR_EOF: return -ECONNRESET;
    case REDIS_ERR_OOM: return -ENOMEM;
    case REDIS_ERR_IO:  return saved_errno > 0 ? -saved_errno : -EIO;
    default:            return -EPROTO;
    }
}

/* hiredis's message lives in the context, which may be freed before the
 * task's message is read: keep a copy in the frame. */
static const char *keep_message(char *buf, size_t len, const redisContext *c) {
    snprintf(buf, len, "redis: %s", c ? c->errstr : "out of memory");
    return buf;
}

static int connect_status(const redisContext *c) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return -errno;
    return -err;
}

eva_step redis_connect_run(void *frame) {
    redis_connecting *k = frame;
    ASYNC_BEGIN(k);
    k->connected = false;
    k->c = k->unix_path ? redisConnectUnixNonBlock(k->unix_path) : redisConnectNonBlock(k->host, k->port);
    if (!k->c || k->c->err)
        ASYNC_FAIL(k, -ECONNREFUSED, keep_message(k->message, sizeof k->message, k->c));
    /* connected (or failed) once the socket is writable */
    AWAIT(k, eva_fd_wait_op(&k->wait, k->c->fd, EVA_FD_WRITABLE, k->timeout_ms));
    if (connect_status(k->c) < 0)
        ASYNC_FAIL(k, connect_status(k->c), "redis: connect failed");
    k->connected = true;
    ASYNC_FINALLY(k);
    if (!k->connected && k->c) { /* a failure (or cancel) leaves nothing to free */
        redisFree(k->c);
        k->c = NULL;
    }
    ASYNC_END(k);
}

/* hiredis failed on x->c: the code (errno first, before anything can
 * change it) and the message kept in the frame. */
static int failure(redis_exchange *x) {
    int code = redis_error_code(x->c, errno);
    keep_message(x->message, sizeof x->message, x->c);
    return code;
}

static void take_reply(redis_exchange *x) {
    redisReply *r = x->next;
    x->next = NULL;
    x->got++;
    if (x->on_reply)
        x->on_reply(x, r);
    if (x->got == x->replies)
        x->reply = r;
    else
        freeReplyObject(r);
}

eva_step redis_exchange_run(void *frame) {
    redis_exchange *x = frame;
    ASYNC_BEGIN(x);
    x->got = 0;
    x->reply = NULL;
    for (;;) { /* write out what was appended */
        if (redisBufferWrite(x->c, &x->flushed) != REDIS_OK)
            ASYNC_FAIL(x, failure(x), x->message);
        if (x->flushed)
            break;
        AWAIT(x, eva_fd_wait_op(&x->wait, x->c->fd, EVA_FD_WRITABLE, x->timeout_ms));
    }
    while (x->got < x->replies) { /* replies already read come first */
        if (redisGetReplyFromReader(x->c, &x->next) != REDIS_OK)
            ASYNC_FAIL(x, failure(x), x->message);
        if (x->next) {
            take_reply(x);
            continue;
        }
        AWAIT(x, eva_fd_wait_op(&x->wait, x->c->fd, EVA_FD_READABLE, x->timeout_ms));
        if (redisBufferRead(x->c) != REDIS_OK) /* EOF, an error; EAGAIN reads nothing */
            ASYNC_FAIL(x, failure(x), x->message);
    }
    ASYNC_END(x);
}
