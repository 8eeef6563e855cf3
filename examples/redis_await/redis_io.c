/* examples/redis_await/redis_io.c — hiredis's buffered IO, with
 * eva_fd_wait_op wherever it would block. */
#include "redis_io.h"

#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>

int redis_error_code(const redisContext *c) {
    switch (c->err) {
    case REDIS_ERR_EOF: return -ECONNRESET;
    case REDIS_ERR_OOM: return -ENOMEM;
    case REDIS_ERR_IO:  return -EIO;
    default:            return -EPROTO;
    }
}

int redis_connect_status(const redisContext *c) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return -errno;
    return -err;
}

/* hiredis's message lives in the context, which the caller may free before
 * reading the task's message: keep a copy in the frame. */
static const char *keep_message(redis_exchange *x) {
    snprintf(x->message, sizeof x->message, "redis: %s", x->c->errstr);
    return x->message;
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
            ASYNC_FAIL(x, redis_error_code(x->c), keep_message(x));
        if (x->flushed)
            break;
        AWAIT(x, eva_fd_wait_op(&x->wait, x->c->fd, EVA_FD_WRITABLE, x->timeout_ms));
    }
    while (x->got < x->replies) { /* replies already read come first */
        if (redisGetReplyFromReader(x->c, &x->next) != REDIS_OK)
            ASYNC_FAIL(x, redis_error_code(x->c), keep_message(x));
        if (x->next) {
            take_reply(x);
            continue;
        }
        AWAIT(x, eva_fd_wait_op(&x->wait, x->c->fd, EVA_FD_READABLE, x->timeout_ms));
        if (redisBufferRead(x->c) != REDIS_OK) /* EOF, an error; EAGAIN reads nothing */
            ASYNC_FAIL(x, redis_error_code(x->c), keep_message(x));
    }
    ASYNC_END(x);
}
