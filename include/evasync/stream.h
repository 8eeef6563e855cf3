/* evasync/stream.h — byte streams over any descriptor, and the servers that
 * accept them, in the three styles.
 *
 * An eva_stream is a connected byte stream (a TCP or Unix socket, a pipe, a
 * tty); an eva_server a listening socket (evasync/tcp.h, evasync/unix.h make
 * one).  Both are caller-owned structs (embed them in a frame or a session
 * object) with an explicit life: open/connect or listen, then close.  Every
 * operation on them is a caller-owned request with three forms (callback,
 * AWAIT, promise: see "requests" below); the AWAIT forms never allocate.
 *
 * Rules that hold everywhere:
 *  - One read at a time per stream (a second gets -EBUSY); writes queue
 *    in order.
 *  - EOF is not an error: a read-some reports 0 bytes.  read_exact and
 *    read_until report EVA_EOF when the stream ends before they are done.
 *  - No SIGPIPE, ever: a peer that went away gives -EPIPE or -ECONNRESET to
 *    the operation it hit, and only to that one.
 *  - Callbacks never run inside the call that started the operation.
 *  - eva_loop_destroy() closes the streams and servers still open (their
 *    pending operations complete with -ECANCELED); the structs stay yours, and
 *    closing them again afterwards is a no-op.
 */
#ifndef EVASYNC_STREAM_H
#define EVASYNC_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <ev.h>

#include "export.h"
#include "call.h"
#include "req.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The handle and request types (defined below); the loop's is opaque. */
typedef struct eva_loop eva_loop;
typedef struct eva_stream eva_stream;
typedef struct eva_server eva_server;
typedef struct eva_stream_read_req eva_stream_read_req;
typedef struct eva_stream_write_req eva_stream_write_req;
typedef struct eva_stream_shutdown_req eva_stream_shutdown_req;
typedef struct eva_stream_drain_req eva_stream_drain_req;
typedef struct eva_server_accept_req eva_server_accept_req;

/* ---- requests ----------------------------------------------------------------
 *
 * Every operation but close is a request: a caller-owned struct
 * (zero-initialised before its first use; embed it in a frame or a session
 * object) that carries the operation's arguments, its result and its one
 * completion (the callback, or the task awaiting it).  One operation per
 * request at a time: a request in flight refuses a second start with -EBUSY,
 * and building an AWAIT form (eva_*_op) on it changes nothing.  The
 * request is yours again once its completion has run: the callback may free
 * or reuse it; nothing of it is read after the callback or the wake.
 *
 * Each operation X of a module M (stream, server, tcp, unix) has three forms:
 *   eva_M_X(req, handle, args..., cb)    callback: 0 (cb runs exactly once,
 *                                        from the loop, never inside this
 *                                        call) or a negative code;
 *   eva_M_X_op(req, handle, args...)     an eva_op for AWAIT / AWAIT_RC; an
 *                                        AWAIT that completes at once does
 *                                        not suspend; cancelling the task
 *                                        cancels the request;
 *   eva_M_X_promise(handle, args..., &p)  the request is allocated; the
 *                                        promise is fulfilled with it as its
 *                                        value (read the result there; freed
 *                                        with the promise) or rejected with
 *                                        the status.  Cancelling the promise
 *                                        cancels the request.  Returns 0,
 *                                        -EINVAL, -ENOMEM. */

/* What an eva_stream's descriptor is (private to net/). */
typedef struct eva__stream_kind {
    bool socket : 1;               /* recv/send and shutdown(); else read/writev */
    bool readable : 1, writable : 1; /* its access mode (a socket: both) */
    bool local : 1;                /* an AF_UNIX socket: descriptors can pass */
} eva__stream_kind;

/* Request completions: status is 0 or a negative code; the request holds
 * the result and may be reused or freed from inside the callback. */
typedef void (*eva_stream_read_fn)(eva_stream_read_req *req, int status);
typedef void (*eva_stream_write_fn)(eva_stream_write_req *req, int status);
typedef void (*eva_stream_shutdown_fn)(eva_stream_shutdown_req *req, int status);
typedef void (*eva_stream_drain_fn)(eva_stream_drain_req *req, int status);
/* req->fd is the new connection's (status 0). */
typedef void (*eva_server_accept_req_fn)(eva_server_accept_req *req, int status);
/* Close is no request (a connection closes once): its callback gets the connection. */
typedef void (*eva_stream_close_fn)(eva_stream *stream, int status);
/* Push mode: a new connection's fd (non-blocking, close-on-exec,
 * TCP_NODELAY): yours to wrap with eva_stream_open() or close.  The callback may
 * stop accepting or close the server, but the server struct must stay valid
 * until it returns (free it afterwards). */
typedef void (*eva_server_accept_fn)(eva_server *server, int fd);

/* Private: which read a read request is (read-some, exact or until). */
typedef enum eva_stream_read_mode {
    EVA__READ_SOME, EVA__READ_EXACT, EVA__READ_UNTIL, EVA__READ_LENT,
    EVA__READ_FDS                  /* a read-some that takes descriptors (eva_unix_read_fds) */
} eva_stream_read_mode;

/* A read: read-some, read-exact, read-until and the lent read share it.  It
 * references the caller's buffer (and read_until's delimiter), which must
 * stay valid until its completion; a lent read brings its own (lent). */
/* eva_stream_read_req: 128 bytes on x86_64 (ABI: tests/test_struct_sizes.c). */
struct eva_stream_read_req {
    /* public: */
    void *data;                    /* the caller's */
    ssize_t nread;                 /* result: bytes placed in the buffer (read-some: 0
                                      is the end of stream; on an error, what
                                      read_exact/until had consumed) */
    eva_stream *stream;            /* read-only: the connection */
    char *lent;                    /* result of a lent read: its nread bytes, in memory the
                                      loop lends the stream (eva_stream_read_lent: for how
                                      long); NULL for the other reads and when nread is 0 */
    int nfds;                      /* result of eva_unix_read_fds: descriptors received (yours) */
    /* private: */
    eva_stream_read_mode mode;
    eva__req req;
    char *buf;
    size_t len;
    union {                        /* what only one mode uses (valid for that mode only): */
        struct {
            const char *delim;
            size_t dlen;
        } until;                   /* EVA__READ_UNTIL: the delimiter */
        struct {
            int *fds;              /* where they go */
            int max;               /* ... and how many fit */
        } fds;                     /* EVA__READ_FDS */
    } by_mode;
};

enum { EVA_STREAM_WRITE_IOV = 4 };

/* A write: it REFERENCES the caller's bytes, which must stay valid and
 * unchanged until its completion (eva_stream_write_copy copies instead). */
/* eva_stream_write_req: 176 bytes on x86_64 (ABI: tests/test_struct_sizes.c). */
struct eva_stream_write_req {
    /* public: */
    void *data;                    /* the caller's */
    eva_stream *stream;            /* read-only: the connection */
    /* private: */
    eva__req req;
    eva_stream_write_req *next;       /* the write queue */
    struct iovec iov[EVA_STREAM_WRITE_IOV];
    uint16_t iovcnt, iovpos;       /* buffers left, from iov[iovpos] (at most EVA_STREAM_WRITE_IOV) */
    int nfds;                      /* eva_unix_write_fds: how many of fds go with the first
                                      byte; 0 once sent */
    size_t remaining, total;
    const int *fds;                /* eva_unix_write_fds: the descriptors */
};

/* A half-close, and a wait for the write queue to drain. */
/* eva_stream_shutdown_req, eva_stream_drain_req: 72 bytes on x86_64 (ABI: tests/test_struct_sizes.c). */
struct eva_stream_shutdown_req {
    /* public: */
    void *data;                    /* the caller's */
    eva_stream *stream;            /* read-only: the connection */
    /* private: */
    eva__req req;
};

struct eva_stream_drain_req {
    /* public: */
    void *data;                    /* the caller's */
    eva_stream *stream;            /* read-only: the connection */
    /* private: */
    eva__req req;
};

/* One accepted connection (pull mode). */
/* eva_server_accept_req: 80 bytes on x86_64 (ABI: tests/test_struct_sizes.c). */
struct eva_server_accept_req {
    /* public: */
    void *data;                    /* the caller's */
    int fd;                        /* result: the new connection's fd (non-blocking,
                                      close-on-exec, TCP_NODELAY), yours: wrap it
                                      with eva_stream_open() or close it; -1 on failure */
    eva_server *server;        /* read-only: the server */
    /* private: */
    eva__req req;
};

/* eva_stream: 312 bytes on x86_64 (ABI: tests/test_struct_sizes.c). */
struct eva_stream {
    /* public: */
    void *data;                    /* the caller's */
    /* private: */
    eva_queue node;                /* the loop's open connections */
    eva_loop *loop;
    int fd;
    eva__stream_kind kind;
    uint8_t write_shut : 2;        /* 0 none, 1 waiting for the queue to flush, 2 done */
    bool connecting : 1;
    bool broken : 1;               /* a write failed: later ones fail with -EPIPE */
    bool closing : 1;              /* flush, then close */
    bool timer_unref : 1;          /* the read timer runs without holding the loop */
    bool above_high : 1;           /* the write queue reached the high-water mark */
    bool read_short : 1;           /* the last read got less than it asked: the descriptor is likely empty */
    ev_io io;                      /* one watcher for both directions: its events are what the read
                                      side and the write side wait for (net_internal.h, eva__stream_watch) */
    ev_timer timer;                /* read timeout and deadline, or connect timeout */
    int64_t read_timeout_ms;
    ev_tstamp read_activity;       /* the pending read's start or last progress (ev_now) */
    ev_tstamp read_deadline;       /* reads fail from then on (ev_now clock); 0: none */
    eva_stream_read_req *rd;          /* the one pending read */
    char *lent;                    /* the chunk the last lent read filled, until given back */
    eva__req *cn;           /* the connect's (before any read or write) */
    eva_stream_shutdown_req *shut;    /* the half-close waiting for the queue */
    eva_stream_drain_req *drain;      /* the one drain wait */
    eva_stream_write_req *wq_head, *wq_tail;
    size_t queued;                 /* bytes in the write queue */
    size_t high_water, low_water;
    void (*on_drain)(eva_stream *stream);
    eva__req close;            /* the close's one callback-or-waiter slot */
    struct eva__tls *tls;          /* TLS on it (evasync/tls.h); NULL: plain bytes */
};

/* eva_server: 208 bytes on x86_64 (ABI: tests/test_struct_sizes.c). */
struct eva_server {
    /* public: */
    void *data;                    /* the caller's */
    /* private: */
    eva_queue node;                /* the loop's open servers */
    eva_loop *loop;
    int fd, spare_fd;
    ev_io io;
    ev_timer backoff;              /* EMFILE: the listener pauses */
    int64_t backoff_ms;
    ev_tstamp fd_limit_at;         /* the last shortage (ev_now), 0: none yet */
    int accept_batch;              /* accepts per loop iteration */
    int batch_used;                /* ... used in batch_iteration */
    unsigned batch_iteration;
    uint64_t batch_started_ns;     /* ... at its first accept */
    eva_server_accept_fn cb;          /* push mode */
    eva_server_accept_req *pending;   /* pull mode: the one accept request waiting */
    uint64_t accepted, dropped;
};

/* ---- servers -------------------------------------------------------------- */

/* Push mode: on each readiness event accept pending connections (until
 * EAGAIN, or accept_batch of them: the rest wait for the next loop iteration,
 * after the loop's other events) and hand each fd to cb.  When the process runs out of descriptors
 * (EMFILE/ENFILE) the server drops the connection it cannot take (a spare
 * descriptor kept for that purpose is freed, used to accept and close it,
 * then reopened), pauses the listener for a growing backoff (10 ms .. 1 s) so
 * the loop does not spin, and logs it through the log hook once per episode
 * (shortages less than 10 s apart are one episode).  Pull mode (below) has
 * the same bound and the same EMFILE handling.
 * Returns 0, -EINVAL, -EBUSY (an accept request is pending). */
EVA_API int eva_server_accept_start(eva_server *server, eva_server_accept_fn cb);
EVA_API int eva_server_accept_stop(eva_server *server);

/* Pull mode: one connection, into req->fd.  One accept request at a time per
 * server.  The AWAIT form completes at once when a connection is pending,
 * accept_batch times per loop iteration (and within 1 ms of accepting);
 * after that the task waits for the next iteration.  The callback form
 * always completes from the loop.  Status 0, or -ECANCELED (the server was
 * closed, the task cancelled).
 * Start errors: -EINVAL (NULL, the server is not listening), -EBUSY (push
 * mode is on, another accept request is pending, or req is in flight). */
EVA_API int eva_server_accept(eva_server_accept_req *req, eva_server *server, eva_server_accept_req_fn cb);
EVA_API eva_op eva_server_accept_op(eva_server_accept_req *req, eva_server *server);
/* The promise's value is the eva_server_accept_req: take its fd (it is yours). */
EVA_API int eva_server_accept_promise(eva_server *server, eva_promise **out);

/* Stop and close the listening socket; a pending accept request completes
 * with -ECANCELED.  Idempotent.  Returns 0 or -EINVAL. */
EVA_API int eva_server_close(eva_server *server);

/* ---- streams ---------------------------------------------------------------- */

/* An eva_stream must be zero-initialised (or closed) before eva_stream_open or
 * eva_tcp_connect.
 *
 * Wrap a connected socket (e.g. from accept); it is made non-blocking and the
 * eva_stream owns it from now on (eva_stream_close closes it).
 * Returns 0; -EINVAL (NULL, fd < 0); -EBUSY (already open); -EBADF. */
EVA_API int eva_stream_open(eva_loop *loop, eva_stream *stream, int fd);

/* A read that makes no progress for ms fails with -ETIMEDOUT (the connection
 * stays usable): the idle timeout, measured from the read's start or its last
 * bytes.  0 (the default) disables it.  It costs O(1) per read (one timer per
 * connection, re-armed only when it fires), so every connection can have one.
 * Returns 0 or -EINVAL. */
EVA_API int eva_stream_set_read_timeout(eva_stream *stream, int64_t ms);

/* A deadline ms from now (the loop's time): a read pending then fails with
 * -ETIMEDOUT however many bytes it has been getting, and reads started after
 * it fail at once with -ETIMEDOUT, until the deadline is moved or cleared
 * (ms 0).  Progress does not postpone it: it bounds a whole exchange, such as
 * a request header trickled a byte at a time.  Setting it costs O(1) unless it
 * comes before the connection's running timer (one timer move).
 * Returns 0, -EINVAL (ms < 0), -ENOTCONN (not open). */
EVA_API int eva_stream_set_read_deadline(eva_stream *stream, int64_t ms);

/* Reads: one pending read per connection.  Status 0 with req->nread bytes,
 * or -ETIMEDOUT (the read timeout or deadline), -ECONNRESET, -ECANCELED
 * (eva_stream_read_cancel, close, task cancelled), EVA_EOF (read_exact/until:
 * the stream ended first), -EMSGSIZE (read_until over its limit), ...
 * Start errors: -EINVAL (NULL, len 0, a bad delimiter), -EBUSY (a read is
 * pending on stream, or req is in flight), -ENOTCONN (not open, connecting or
 * closing), -ETIMEDOUT (the read deadline has passed).
 * An AWAIT read completes at once when bytes are there, but after a read
 * (some, exact, lent) that got less than it had room for it waits for
 * readiness without trying the descriptor, which that read most likely
 * emptied (docs/tcp.md).
 *
 * Read 1..len bytes (nread 0: end of stream, status 0). */
EVA_API int eva_stream_read(eva_stream_read_req *req, eva_stream *stream, void *buf, size_t len, eva_stream_read_fn cb);
EVA_API eva_op eva_stream_read_op(eva_stream_read_req *req, eva_stream *stream, void *buf, size_t len);
/* The promise's value is the eva_stream_read_req (nread); buf must outlive the promise's settling. */
EVA_API int eva_stream_read_promise(eva_stream *stream, void *buf, size_t len, eva_promise **out);

/* Read exactly len bytes; EVA_EOF if the stream ends first. */
EVA_API int eva_stream_read_exact(eva_stream_read_req *req, eva_stream *stream, void *buf, size_t len,
                               eva_stream_read_fn cb);
EVA_API eva_op eva_stream_read_exact_op(eva_stream_read_req *req, eva_stream *stream, void *buf, size_t len);
EVA_API int eva_stream_read_exact_promise(eva_stream *stream, void *buf, size_t len, eva_promise **out);

/* Read up to and including the delimiter (dlen bytes, e.g. "\r\n\r\n"), at
 * most max bytes: -EMSGSIZE when max bytes came without it (they are
 * consumed: the stream cannot be trusted after that; close it), EVA_EOF when
 * the stream ends first.  Never reads past the delimiter.  delim is
 * referenced until the completion. */
EVA_API int eva_stream_read_until(eva_stream_read_req *req, eva_stream *stream, void *buf, size_t max,
                               const char *delim, size_t dlen, eva_stream_read_fn cb);
EVA_API eva_op eva_stream_read_until_op(eva_stream_read_req *req, eva_stream *stream, void *buf, size_t max,
                                     const char *delim, size_t dlen);
EVA_API int eva_stream_read_until_promise(eva_stream *stream, void *buf, size_t max, const char *delim,
                                       size_t dlen, eva_promise **out);

/* ---- lent reads: read memory only while there are bytes ----------------------
 *
 * A lent read brings no buffer: when the stream is readable the loop lends it
 * a chunk of EVA_STREAM_LENT_SIZE bytes, reads into it, and completes with
 * req->lent pointing at req->nread bytes (nread 0, lent NULL: end of stream).
 * A connection waiting in a lent read holds no buffer at all, so an idle
 * connection costs only its handle and its request (docs/scaling.md).
 *
 * The bytes are the caller's to read and modify (parse in place) until the
 * chunk goes back to the loop, which is when the first of these happens:
 *  - the next read of any kind starts on the stream (so: copy out a partial
 *    message you need later before reading again);
 *  - eva_stream_release_lent(stream);
 *  - the stream closes (eva_stream_close, eva_loop_destroy).
 * Awaits of anything else (a write, a sleep) keep them valid.  In an ASan
 * build a chunk given back is poisoned (a use after is reported); in other
 * builds without NDEBUG it is overwritten with 0xdd.  A chunk given back is
 * kept for the next lent read (up to EVA_STREAM_LENT_SPARE of them per loop)
 * or freed.
 *
 * Status 0, or what eva_stream_read reports, or -ENOMEM (no chunk could be
 * allocated: the connection stays usable, nothing was read).  Start errors:
 * as eva_stream_read (there is no buffer to check).  The promise's value is
 * the eva_stream_read_req; its bytes stay valid by the same rule. */
enum { EVA_STREAM_LENT_SIZE = 16384, EVA_STREAM_LENT_SPARE = 8 };
EVA_API int eva_stream_read_lent(eva_stream_read_req *req, eva_stream *stream, eva_stream_read_fn cb);
EVA_API eva_op eva_stream_read_lent_op(eva_stream_read_req *req, eva_stream *stream);
EVA_API int eva_stream_read_lent_promise(eva_stream *stream, eva_promise **out);

/* Give the chunk of the stream's last lent read back to the loop now (its
 * bytes are invalid from here on): for a connection that will not read
 * again soon.  Does nothing when it holds none; NULL is ignored. */
EVA_API void eva_stream_release_lent(eva_stream *stream);

/* What a loop has lent: chunks held by streams now, chunks kept spare, and the
 * most held at once since the loop started. */
typedef struct eva_stream_lent_stats {
    size_t lent, spare, lent_peak;
} eva_stream_lent_stats;
/* Fill *out for loop (zeros before its first lent read).  Returns 0,
 * -EINVAL, -ENOMEM (the loop's network state could not be set up). */
EVA_API int eva_stream_get_lent_stats(eva_loop *loop, eva_stream_lent_stats *out);

/* Cancel the connection's pending read: it completes with -ECANCELED; bytes
 * it had already consumed (read_exact/until) are lost, so only a read-some
 * can be cancelled without losing data.  The connection stays open; a new
 * read may start at once.  Returns 0, or -EINVAL (NULL). */
EVA_API int eva_stream_read_cancel(eva_stream *stream);

/* Queue iovcnt (1..EVA_STREAM_WRITE_IOV) buffers; status 0 once all are written
 * to the kernel, or -EPIPE, -ECONNRESET, -ECANCELED (closed first, task
 * cancelled).  A write into an empty queue is tried at once.  The callback
 * form returns 0 (queued bytes below the high-water mark), 1 (accepted, and
 * the queue is now at or above the high-water mark: stop producing until the
 * drain callback or a drain request completes); cb may be NULL.
 * Start errors: -EINVAL, -EBUSY (req in flight), -ENOTCONN (not open or
 * connecting), -EPIPE (shut down, closing, or broken earlier). */
EVA_API int eva_stream_write(eva_stream_write_req *req, eva_stream *stream, const struct iovec *iov, int iovcnt,
                          eva_stream_write_fn cb);
/* One buffer; completes at once (no suspension) when the socket takes it all. */
EVA_API eva_op eva_stream_write_op(eva_stream_write_req *req, eva_stream *stream, const void *buf, size_t len);
/* The bytes are copied; the promise's value is the eva_stream_write_req. */
EVA_API int eva_stream_write_promise(eva_stream *stream, const void *buf, size_t len, eva_promise **out);

/* Copy len bytes into the queue (allocates); errors surface on the next
 * write, read or close.  Returns like eva_stream_write, or -ENOMEM. */
EVA_API int eva_stream_write_copy(eva_stream *stream, const void *data, size_t len);

/* Backpressure thresholds (bytes queued); on_drain (may be NULL) runs when
 * the queue falls to low after having reached high.  Defaults: 64 KiB and
 * 16 KiB.  on_drain may write or close the stream, but the struct must stay
 * valid until it returns (free it from the close callback, or later).
 * Returns 0 or -EINVAL (low > high). */
EVA_API int eva_stream_set_watermarks(eva_stream *stream, size_t high, size_t low, void (*on_drain)(eva_stream *stream));

/* Wait until the write queue is at or below the low-water mark: status 0, or
 * the write error / -ECANCELED when the queue fails or the connection closes
 * first.  One drain request at a time per connection.  The AWAIT form
 * completes at once when the queue is low already.
 * Start errors: -EINVAL, -ENOTCONN (not open), -EBUSY (another drain is
 * pending, or req is in flight). */
EVA_API int eva_stream_drain(eva_stream_drain_req *req, eva_stream *stream, eva_stream_drain_fn cb);
EVA_API eva_op eva_stream_drain_op(eva_stream_drain_req *req, eva_stream *stream);
EVA_API int eva_stream_drain_promise(eva_stream *stream, eva_promise **out);

/* Bytes waiting in the write queue. */
EVA_API size_t eva_stream_get_write_queue_size(const eva_stream *stream);

/* Half-close: once the queue is flushed, shutdown(SHUT_WR) (the peer reads
 * EOF; we can still read).  Status 0, the shutdown() error, or the queue's
 * write error / -ECANCELED (closed before the queue flushed).  Cancelling an
 * awaiting task withdraws the report only: the half-close still happens.
 * Start errors: -EINVAL, -ENOTCONN (not open, connecting, closing),
 * -EALREADY (shut down already), -EBUSY (req in flight). */
EVA_API int eva_stream_shutdown(eva_stream_shutdown_req *req, eva_stream *stream, eva_stream_shutdown_fn cb);
EVA_API eva_op eva_stream_shutdown_op(eva_stream_shutdown_req *req, eva_stream *stream);
EVA_API int eva_stream_shutdown_promise(eva_stream *stream, eva_promise **out);

/* How eva_stream_close treats what is still queued to write. */
typedef enum eva_stream_close_how {
    EVA_STREAM_CLOSE_FLUSH,   /* write what is queued, then close */
    EVA_STREAM_CLOSE_DISCARD, /* close now; queued writes complete with -ECANCELED */
    EVA_STREAM_CLOSE_RESET    /* close now with a TCP RST (SO_LINGER 0) */
} eva_stream_close_how;

/* Close (a handle operation, not a request: one slot in the connection);
 * pending requests complete with -ECANCELED first; cb (may be NULL) runs once
 * the fd is closed (status 0, or the flush's error).  After that the struct
 * may be reused or freed.  Idempotent: closing a closed or closing
 * connection does nothing (the first close's cb stays).  Returns 0 or
 * -EINVAL.  The AWAIT form completes at once on a closed connection and
 * fails with -EBUSY on a closing one; cancelling it while it flushes closes
 * at once (status -ECANCELED).  The promise form's promise has no value. */
EVA_API int eva_stream_close(eva_stream *stream, eva_stream_close_how how, eva_stream_close_fn cb);
EVA_API eva_op eva_stream_close_op(eva_stream *stream, eva_stream_close_how how);
EVA_API int eva_stream_close_promise(eva_stream *stream, eva_stream_close_how how, eva_promise **out);

/* true while the stream holds its fd (from open or connect until close
 * closed it); eva_stream_get_fd returns that fd, else -EBADF. */
EVA_API bool eva_stream_is_open(const eva_stream *stream);
EVA_API int eva_stream_get_fd(const eva_stream *stream);


#ifdef __cplusplus
}
#endif
#endif
