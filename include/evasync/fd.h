/* evasync/fd.h — wait until a descriptor someone else owns is readable or
 * writable, with a deadline, in the three styles.
 *
 * This is how another library's socket is driven from a task: hiredis's
 * redisContext fd, libpq's PQsocket, libcurl's multi-socket callbacks,
 * OpenSSL's SSL_ERROR_WANT_READ / WANT_WRITE.  The library does the IO; the
 * task waits here whenever it says "would block", then calls it again:
 *
 *     for (;;) {
 *         if (redisBufferRead(f->c) != REDIS_OK) ASYNC_FAIL(f, -EIO, f->c->errstr);
 *         if (redisGetReplyFromReader(f->c, &f->reply) != REDIS_OK) ...;
 *         if (f->reply) break;
 *         AWAIT(f, eva_fd_wait_op(&f->wait, f->c->fd, EVA_FD_READABLE, 5000));
 *     }
 *
 * The anchors: neco's neco_wait(fd, mode, deadline), libdill's fdin/fdout,
 * tokio's AsyncFd::readable/writable.  Like them this is a one-shot
 * readiness wait, not a stream: nothing is read or written here.
 *
 * Rules that hold everywhere:
 *  - The descriptor is NOT owned: evasync never reads, writes, closes or
 *    changes its flags (it needs no O_NONBLOCK, though the library doing the
 *    IO on it usually wants it).  Its owner must CANCEL a pending wait
 *    before closing the descriptor (eva_fd_wait_cancel, or cancel the task or
 *    the promise; the -ECANCELED completion may still be queued: the
 *    descriptor can be closed right after the cancel call).  Closing it
 *    while the wait is pending is the caller's bug, as it is with libev
 *    itself: the kernel drops a closed descriptor from the loop's epoll set
 *    silently, so the wait then ends at its deadline (-ETIMEDOUT) or with
 *    -EBADF, or never if it has none.
 *  - A start that returns 0 completes exactly once: the callback runs, the
 *    AWAIT resumes, the promise settles.  Never inside the call that started
 *    it, nor inside eva_fd_wait_cancel(): always from the loop, even when the
 *    descriptor is ready already.  A start that returns an error completes
 *    nothing.
 *  - Readiness is level-triggered and checked by the loop's poll: the wait
 *    ends at the first iteration in which the descriptor is ready for one of
 *    the requested events.  revents is the ready subset of events.
 *  - Errors and hangups report as ready, the way poll() and libev do: a
 *    descriptor whose peer hung up, or with a pending socket error (a failed
 *    connect, a reset), reports as each of the requested events (readable
 *    and/or writable); the IO the caller does next returns the EOF or the
 *    error (or read SO_ERROR).  A regular file is always ready.
 *  - Several waits on one descriptor at once are allowed (each request has
 *    its own watcher): two tasks may wait for readable on one socket, one
 *    for readable and one for writable, and each is told.  Readiness is not
 *    consumed: all of them see it.
 *  - No allocation for the callback and AWAIT forms, but the first wait on
 *    a loop allocates the loop's small list of pending waits (-ENOMEM).
 *  - A pending wait keeps eva_loop_run(EVA_RUN_DEFAULT) running;
 *    eva_loop_destroy() completes every pending wait with -ECANCELED.
 *  - Loop thread only, like everything else on a loop.
 *
 * Status (callbacks, AWAIT, promise rejection):
 *   0            ready: req->revents says for what
 *   -ETIMEDOUT   not ready within timeout_ms
 *   -ECANCELED   eva_fd_wait_cancel(), a cancelled task or promise, or
 *                eva_loop_destroy()
 *   -EBADF       the loop could not watch the descriptor (libev reported
 *                it, e.g. closed while watched with a poll/select backend)
 * Start errors: -EINVAL (NULL request, loop or callback; fd < 0; events
 * empty or with bits other than EVA_FD_READABLE | EVA_FD_WRITABLE;
 * timeout_ms < 0), -EBADF (fd is not an open descriptor: fcntl F_GETFD
 * fails), -EBUSY (the request is pending), -ENOMEM.
 */
#ifndef EVASYNC_FD_H
#define EVASYNC_FD_H

#include <stdbool.h>
#include <stdint.h>
#include <ev.h>

#include "export.h"
#include "call.h"
#include "req.h"
#include "promise.h"
#include "queue.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eva_loop eva_loop;
typedef struct eva_fd_wait_req eva_fd_wait_req;

/* What to wait for (either or both), and what revents reports.  Equal to
 * EVA_READ / EVA_WRITE of evasync/io.h and libev's EV_READ / EV_WRITE. */
enum {
    EVA_FD_READABLE = EV_READ,
    EVA_FD_WRITABLE = EV_WRITE
};

/* Runs on the loop thread, once.  The request is idle by then: it may be
 * started again or freed from here. */
typedef void (*eva_fd_wait_fn)(eva_fd_wait_req *req, int status);

/* Caller-owned, zero-initialised before its first use; it must stay valid
 * and must not move from a successful start until its completion has run.
 * Read the public fields only. */
/* eva_fd_wait_req: 208 bytes on x86_64 (ABI: tests/test_struct_sizes.c). */
struct eva_fd_wait_req {
    /* public: */
    void *data;        /* the caller's: set it before the start, read it in the callback */
    int fd;            /* read-only: the descriptor waited on (not owned) */
    int events;        /* read-only: EVA_FD_READABLE and/or EVA_FD_WRITABLE */
    int revents;       /* result: the ready subset of events (0 unless status 0) */
    /* private: */
    eva__req req;      /* its completion: the callback or the awaiting task */
    int64_t timeout_ms;
    eva_loop *loop;
    eva_queue node;    /* the loop's pending waits */
    ev_io io;
    ev_timer timer;
};

/* Wait until fd is ready for events (EVA_FD_READABLE, EVA_FD_WRITABLE or
 * both), for at most timeout_ms milliseconds (0: no deadline; from the
 * loop's cached time, like eva_timer).  cb(req, status) runs once, later.
 * Returns 0 or a start error (top of this file). */
EVA_API int eva_fd_wait(eva_fd_wait_req *req, eva_loop *loop, int fd, int events,
                        int64_t timeout_ms, eva_fd_wait_fn cb);

/* AWAIT(f, eva_fd_wait_op(&f->wait, fd, events, timeout_ms)): the same wait
 * on the task's loop; the AWAIT's status is the completion's, and
 * f->wait.revents the result.  The request belongs in the frame; no
 * allocation.  Cancelling the task completes the wait with -ECANCELED. */
EVA_API eva_op eva_fd_wait_op(eva_fd_wait_req *req, int fd, int events, int64_t timeout_ms);

/* A promise fulfilled with the allocated eva_fd_wait_req * (owned by the
 * promise: read its revents through eva_promise_get_value(); it is freed
 * with the promise), or rejected with the status.  eva_promise_cancel()
 * cancels the wait (the promise rejects with -ECANCELED).  *out receives
 * your reference.  Returns 0, a start error, -EINVAL (NULL loop or out). */
EVA_API int eva_fd_wait_promise(eva_loop *loop, int fd, int events, int64_t timeout_ms,
                                eva_promise **out);

/* Cancel a pending wait: its watcher stops now (so the descriptor may be
 * closed right after this call) and it completes with -ECANCELED on the
 * next loop iteration.  A request that is idle, or whose completion is
 * already on its way, is left alone.  Returns 0, or -EINVAL (NULL req). */
EVA_API int eva_fd_wait_cancel(eva_fd_wait_req *req);

/* true from a successful start until the completion has run. */
EVA_API bool eva_fd_wait_is_pending(const eva_fd_wait_req *req);

#ifdef __cplusplus
}
#endif
#endif
