/* net/net_internal.h — what the stream, server and TCP files share. */
#ifndef EVASYNC_NET_INTERNAL_H
#define EVASYNC_NET_INTERNAL_H

#include "internal.h"
#include "evasync/stream.h"
#include "evasync/tcp.h"

/* Per-loop state: the open connections and servers, closed at loop destroy. */
typedef struct eva__net_loop {
    eva__layer layer;
    eva_loop *loop;
    eva_queue conns;           /* eva_stream */
    eva_queue servers;         /* eva_server */
} eva__net_loop;
EVA__LAYER_FIRST(eva__net_loop, layer);

/* NULL when out of memory. */
eva__net_loop *eva__net_loop_get(eva_loop *loop);
void eva__net_link_conn(eva__net_loop *nl, eva_stream *stream);
void eva__net_unlink_conn(eva_stream *stream);
void eva__net_link_server(eva__net_loop *nl, eva_server *srv);
void eva__net_unlink_server(eva_server *srv);

/* Make fd non-blocking and close-on-exec; 0 or -errno. */
int eva__fd_nonblock(int fd);

/* ---- tcp_req.c: what every TCP request shares ----------------------------------
 *
 * A request is in flight (busy) from its start to its completion's delivery;
 * its completion is queued iff its eva_call node is linked.  Delivering wakes
 * the awaiting task or calls the callback, and reads nothing of the request
 * afterwards: whoever is told may free it. */

/* Which of evasync's own timers ended a request with -ETIMEDOUT: the AWAIT
 * form reports it as the failure's message (the kernel can time a
 * connection out too; that one has no message of ours). */
enum { EVA__STREAM_NO_TIMEOUT, EVA__STREAM_IDLE_TIMEOUT, EVA__STREAM_READ_DEADLINE, EVA__STREAM_CONNECT_TIMEOUT };

/* The message of a timeout kind (NULL for EVA__STREAM_NO_TIMEOUT). */
const char *eva__stream_timeout_message(unsigned timeout);

struct eva__stream_req_kind {
    eva_wait_ops wait;                           /* what an awaiting task is parked on */
    void (*notify)(eva__stream_req *r, int status); /* call to.cb, cast back to its type */
};

/* Take r for one operation: the callback form's cb (may be NULL), or NULL
 * for the AWAIT form (then eva__stream_req_park or, done at once,
 * eva__stream_req_idle). */
static inline void eva__stream_req_take(eva__stream_req *r, const eva__stream_req_kind *kind, void (*cb)(void)) {
    r->kind = kind;
    r->to.cb = cb;
    r->awaited = false;
    r->busy = true;
    r->status = 0;
    r->timeout = EVA__STREAM_NO_TIMEOUT;
}

/* The AWAIT form completed inside its start: r is idle again. */
static inline void eva__stream_req_idle(eva__stream_req *r) { r->busy = false; }

static inline bool eva__stream_req_queued(const eva__stream_req *r) { return eva__queue_linked(&r->call.node); }

/* Park t on r; obj (the request that embeds r, or the connection for a
 * close) is what the cancel finds in eva_task_get_wait_obj.  Returns EVA_PARKED
 * for the op's start. */
int eva__stream_req_park(eva__stream_req *r, eva_task *t, void *obj);

/* Complete r now (from a loop callback: never inside the start call). */
void eva__stream_req_done(eva_loop *loop, eva__stream_req *r, int status);

/* Queue r's completion (delivered on this or the next loop iteration). */
void eva__stream_req_done_later(eva_loop *loop, eva__stream_req *r, int status);

/* An op whose start fails with rc: what a builder returns for a request in
 * flight (-EBUSY) or NULL (-EINVAL), leaving everything untouched. */
eva_op eva__stream_refused_op(int rc);

/* The promise form: a loop-owned task awaits op, built on req (allocated
 * with eva__calloc); the promise is fulfilled with req as its value (freed
 * with the promise) or rejected with the status (req freed).  On failure
 * req is freed too.  Returns 0, -EINVAL (NULL loop), -ENOMEM. */
int eva__stream_promise(eva_loop *loop, void *req, eva_op op, eva_promise **out);

/* stream_io.c: what fd is (0), or why it cannot be a stream: -EBADF,
 * -EPERM (a regular file, directory or block device), -EINVAL (a listening
 * socket), -EPROTOTYPE (not SOCK_STREAM); logged with the reason. */
int eva__stream_classify(eva_loop *loop, int fd, eva__stream_kind *kind);
/* Write iov without raising SIGPIPE (EINTR retried); write(2)'s result. */
ssize_t eva__stream_writev(const eva_stream *stream, const struct iovec *iov, int cnt);
/* The half-close itself: shutdown(SHUT_WR) on a socket; on a write-only
 * pipe, closing it (the stream is closed then); -EOPNOTSUPP on a read-write
 * non-socket (a tty).  0 or -errno. */
int eva__stream_shut_fd(eva_stream *stream);

/* stream_conn.c: set up an eva_stream around a connected or connecting
 * socket, non-blocking already (kind: a socket, both ways). */
int eva__stream_attach(eva_loop *loop, eva_stream *stream, int fd);
/* Close the fd and stop everything now; pending operations complete with
 * -ECANCELED from the loop.  The close callback (if any) is queued last. */
void eva__stream_close_now(eva_stream *stream, bool reset, int status);

/* tcp_read.c / tcp_write.c / tcp_connect.c: the readiness handlers and the
 * cleanup each side needs at close. */
void eva__stream_on_readable(eva_stream *stream);
void eva__stream_drain_done(eva_stream *stream, int status);
void eva__stream_read_abort(eva_stream *stream, int status);
void eva__stream_on_writable(eva_stream *stream);
void eva__stream_write_abort(eva_stream *stream, int status);
void eva__stream_connect_done(eva_stream *stream, int status);

/* tcp_connect.c, shared with the dial: a non-blocking, close-on-exec TCP
 * socket with TCP_NODELAY (the fd, or -errno); its connect (EINTR retried):
 * 0 (connected at once), -EINPROGRESS, or another -errno. */
int eva__tcp_socket(int family);
int eva__tcp_connect_fd(int fd, const struct sockaddr *addr, socklen_t addrlen);

/* tcp_read.c: the read timer (read timeout and deadline).  arm: make it fire
 * no later than the pending read's next timeout (does nothing without one);
 * fired: its callback; stop: stop it (the only way to stop it: it runs
 * unreferenced). */
void eva__stream_read_timer_arm(eva_stream *stream);
void eva__stream_read_timer_fired(eva_stream *stream);
void eva__stream_timer_stop(eva_stream *stream);

/* tcp_conn.c: close (open, not closing); the AWAIT form (awaited, cb NULL)
 * then parks the task with eva__stream_close_park. */
void eva__stream_close_begin(eva_stream *stream, eva_stream_close_how how, bool awaited, void (*cb)(void));
int eva__stream_close_park(eva_stream *stream, eva_task *t);

/* tcp_ops.c: the half-close.  shut_now: shutdown(SHUT_WR) and report it;
 * shut_report: complete the pending shutdown request (if any) with status. */
void eva__stream_shut_now(eva_stream *stream);
void eva__stream_shut_report(eva_stream *stream, int status);

/* tcp_conn.c: the write queue emptied (status < 0: it failed); go on with a
 * pending flush-close or half-close. */
void eva__stream_queue_drained(eva_stream *stream, int status);

#endif
