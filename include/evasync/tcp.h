/* evasync/tcp.h — TCP servers and connections, in the three styles.
 *
 * An eva_tcp is a connection; an eva_tcp_server a listening socket.  Both are
 * caller-owned structs (embed them in a frame or a session object) with an
 * explicit life: init/connect or listen, then close.  Every operation exists
 * once, as a callback primitive; the AWAIT forms (eva_*_op) drive the same
 * primitive with the state kept in the connection or in your frame, so they
 * never allocate; eva_promise_from_op() (evasync/promise.h) gives any of them a
 * promise form.
 *
 * Rules that hold everywhere:
 *  - One read operation at a time per connection (a second gets -EBUSY);
 *    writes queue in order.
 *  - EOF is not an error: a read-some reports 0 bytes.  read_exact and
 *    read_until report EVA_EOF when the stream ends before they are done.
 *  - No SIGPIPE, ever: writes use MSG_NOSIGNAL; a peer that went away gives
 *    -EPIPE or -ECONNRESET to the operation it hit, and only to that one.
 *  - Callbacks never run inside the call that started the operation.
 *  - eva_loop_destroy() closes the connections and servers still open (their
 *    pending operations complete with -ECANCELED); the structs stay yours, and
 *    closing them again afterwards is a no-op.
 */
#ifndef EVASYNC_TCP_H
#define EVASYNC_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <ev.h>

#include "export.h"
#include "call.h"
#include "dns.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eva_loop eva_loop;
typedef struct eva_tcp eva_tcp;
typedef struct eva_tcp_server eva_tcp_server;
typedef struct eva_tcp_write_req eva_tcp_write_req;

/* n > 0: bytes read into the buffer; n == 0: end of stream (read-some only);
 * n < 0: an error (-ETIMEDOUT for the read timeout or deadline, -ECONNRESET, -ECANCELED,
 * EVA_EOF, -EMSGSIZE for read_until over its limit, ...). */
typedef void (*eva_tcp_read_fn)(eva_tcp *tcp, ssize_t n);
typedef void (*eva_tcp_write_fn)(eva_tcp_write_req *req, int status);
typedef void (*eva_tcp_status_fn)(eva_tcp *tcp, int status);
/* A new connection's fd (non-blocking, close-on-exec, TCP_NODELAY): yours to
 * wrap with eva_tcp_open() or close.  The callback may stop accepting or
 * close the server, but the server struct must stay valid until it returns
 * (free it afterwards). */
typedef void (*eva_tcp_accept_fn)(eva_tcp_server *server, int fd);

enum { EVA_TCP_WRITE_IOV = 4 };

/* A write request: caller-owned, zero-initialised before its first use; it
 * REFERENCES the caller's bytes, which must stay valid and unchanged until its
 * callback has run (eva_tcp_write_copy copies instead). */
/* eva_tcp_write_req: 176 bytes on x86_64 (ABI: tests/test_struct_sizes.c). */
struct eva_tcp_write_req {
    /* public: */
    void *data;                    /* the caller's */
    /* private: */
    eva_tcp_write_req *next;
    eva_tcp *tcp;
    struct iovec iov[EVA_TCP_WRITE_IOV];
    int iovcnt, iovpos;            /* buffers left, from iov[iovpos] */
    size_t remaining, total;
    eva_tcp_write_fn cb;
    eva_task *waiter;              /* the AWAIT form */
    void *owned;                   /* eva_tcp_write_copy: the copy, freed at the end */
    eva_call call;                 /* the deferred completion */
    int status;
    bool queued;                   /* in a write queue, callback not run yet */
};

typedef enum eva_tcp_read_mode { EVA__READ_SOME, EVA__READ_EXACT, EVA__READ_UNTIL } eva_tcp_read_mode;

/* eva_tcp: 592 bytes on x86_64 (ABI: tests/test_struct_sizes.c). */
struct eva_tcp {
    /* public: */
    void *data;                    /* the caller's */
    /* private: */
    eva_queue node;                /* the loop's open connections */
    eva_loop *loop;
    int fd;
    uint8_t connecting, write_shut, broken, eof;
    ev_io rio, wio;
    ev_timer timer;                /* read timeout and deadline, or connect timeout */
    int64_t read_timeout_ms;
    ev_tstamp read_activity;       /* the pending read's start or last progress (ev_now) */
    ev_tstamp read_deadline;       /* reads fail from then on (ev_now clock); 0: none */
    ev_tstamp timer_at;            /* when the running read timer fires */
    bool timer_unref;              /* the read timer runs without holding the loop */
    struct {                       /* the one pending read */
        bool active;
        bool aborted;              /* completion queued: ignore readiness */
        eva_tcp_read_mode mode;
        char *buf;
        size_t len, have;
        const char *delim;
        size_t dlen;
        ssize_t *out;              /* AWAIT form: where the count goes */
        eva_tcp_read_fn cb;
        eva_task *waiter;
        eva_call call;             /* the deferred completion */
        ssize_t result;
    } rd;
    struct {                       /* connect (before any read or write) */
        const struct sockaddr *addr;
        socklen_t addrlen;
        int64_t timeout_ms;
        eva_tcp_status_fn cb;
        eva_task *waiter;
        eva_call call;
        int status;
    } cn;
    eva_tcp_write_req *wq_head, *wq_tail;
    size_t queued;                 /* bytes in the write queue */
    size_t high_water, low_water;
    bool above_high;
    void (*on_drain)(eva_tcp *tcp);
    eva_task *drain_waiter;
    eva_tcp_status_fn shut_cb;     /* half-close */
    eva_task *shut_waiter;
    eva_call shut_call;
    int shut_status;
    eva_tcp_status_fn close_cb;
    eva_task *close_waiter;
    eva_call close_call;
    int close_status;
    bool closing;                  /* flush, then close */
};

/* eva_tcp_server: 216 bytes on x86_64 (ABI: tests/test_struct_sizes.c). */
struct eva_tcp_server {
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
    eva_tcp_accept_fn cb;          /* push mode */
    eva_task *waiter;              /* pull mode: AWAIT eva_tcp_accept_op */
    int *out_fd;
    uint64_t accepted, dropped;
};

/* ---- servers -------------------------------------------------------------- */

/* eva_tcp_listen_options: 12 bytes on x86_64, all public (ABI: tests/test_struct_sizes.c). */
typedef struct eva_tcp_listen_options {
    int backlog;        /* 0: SOMAXCONN */
    bool reuseport;     /* SO_REUSEPORT: one loop per core on one port */
    bool ipv6_only;     /* IPV6_V6ONLY for an IPv6 address */
    int accept_batch;   /* at most this many connections accepted per loop
                           iteration (push and pull mode together, and at most
                           1 ms of accepting), so a burst of connections cannot
                           hold the loop; 0: 64 */
} eva_tcp_listen_options;

/* Bind and listen on addr (IPv4 or IPv6; port 0 picks one, see
 * eva_tcp_server_get_port).  Nothing is accepted until eva_tcp_accept_start or
 * an eva_tcp_accept_op.  opts may be NULL.  SO_REUSEADDR is always set.
 * Returns 0; -EINVAL (also a negative accept_batch); -EADDRINUSE, -EACCES, ... (the socket calls' errno);
 * -ENOMEM. */
EVA_API int eva_tcp_listen(eva_loop *loop, eva_tcp_server *server, const struct sockaddr *addr,
                           socklen_t addrlen, const eva_tcp_listen_options *opts);

/* eva_tcp_listen on a numeric address ("127.0.0.1", "::1", "0.0.0.0"). */
EVA_API int eva_tcp_listen_ip(eva_loop *loop, eva_tcp_server *server, const char *ip, uint16_t port,
                              const eva_tcp_listen_options *opts);

/* The bound port, or a negative error. */
EVA_API int eva_tcp_server_get_port(const eva_tcp_server *server);

/* Push mode: on each readiness event accept pending connections (until
 * EAGAIN, or accept_batch of them: the rest wait for the next loop iteration,
 * after the loop's other events) and hand each fd to cb.  When the process runs out of descriptors
 * (EMFILE/ENFILE) the server drops the connection it cannot take (a spare
 * descriptor kept for that purpose is freed, used to accept and close it,
 * then reopened), pauses the listener for a growing backoff (10 ms .. 1 s) so
 * the loop does not spin, and logs it through the log hook once per episode
 * (shortages less than 10 s apart are one episode).
 * Returns 0, -EINVAL, -EBUSY (a task awaits accept). */
EVA_API int eva_tcp_accept_start(eva_tcp_server *server, eva_tcp_accept_fn cb);
EVA_API int eva_tcp_accept_stop(eva_tcp_server *server);

/* Pull mode: AWAIT(f, eva_tcp_accept_op(&srv, &f->fd)): one connection's fd.
 * A pending connection completes the AWAIT at once, accept_batch times per
 * loop iteration; after that the task waits for the next iteration.
 * -EBUSY if push mode is on or another task awaits. */
EVA_API eva_op eva_tcp_accept_op(eva_tcp_server *server, int *fd);

/* Stop and close the listening socket; a task awaiting accept gets
 * -ECANCELED.  Idempotent.  Returns 0 or -EINVAL. */
EVA_API int eva_tcp_server_close(eva_tcp_server *server);

/* ---- connections ------------------------------------------------------------ */

/* An eva_tcp must be zero-initialised (or closed) before eva_tcp_open or
 * eva_tcp_connect.
 *
 * Wrap a connected socket (e.g. from accept); it is made non-blocking and the
 * eva_tcp owns it from now on (eva_tcp_close closes it).
 * Returns 0; -EINVAL (NULL, fd < 0); -EBADF. */
EVA_API int eva_tcp_open(eva_loop *loop, eva_tcp *tcp, int fd);

/* Connect to addr; cb(tcp, status) with 0 or -ECONNREFUSED, -ETIMEDOUT (no
 * answer within timeout_ms; 0 means no timeout), -ENETUNREACH, ...  addr is
 * copied by the kernel at once: it need not outlive the call.
 * Returns 0 (cb will run), -EINVAL, -EBUSY (already open), or a socket error. */
EVA_API int eva_tcp_connect(eva_loop *loop, eva_tcp *tcp, const struct sockaddr *addr, socklen_t addrlen,
                            int64_t timeout_ms, eva_tcp_status_fn cb);

/* AWAIT form, on the task's loop.  addr must stay valid until the AWAIT
 * starts (it is read then).  Cancelling the task closes the socket. */
EVA_API eva_op eva_tcp_connect_op(eva_tcp *tcp, const struct sockaddr *addr, socklen_t addrlen,
                                  int64_t timeout_ms);

/* Connecting by name: resolve host (evasync/dns.h: numeric addresses and
 * /etc/hosts need no query), then try each address in the resolver's order
 * until one connects; timeout_ms (0: none) applies to each attempt.  The
 * status is 0, the resolver's error (EVA_EDNS_NOTFOUND, -ETIMEDOUT, ...), or
 * the last attempt's connect error.  The dial's state is a caller-owned
 * eva_tcp_dial_req (zero-initialised; in a frame, or anywhere that outlives the
 * dial); no allocation but the resolver's result list, freed before the end.
 * Cancelling the dial (or the awaiting task) cancels the query or closes the
 * socket being connected. */
/* eva_tcp_dial_req: 360 bytes on x86_64 (ABI: tests/test_struct_sizes.c). */
typedef struct eva_tcp_dial_req {
    /* private: */
    eva_task task;                 /* the dial runs as a task */
    eva_tcp *tcp;
    const char *host;
    uint16_t port;
    int64_t timeout_ms;
    eva_dns_query query;
    eva_dns_addrs *addrs;
    size_t i;
    int rc;
    eva_tcp_status_fn cb;
} eva_tcp_dial_req;

/* AWAIT(f, eva_tcp_dial_op(&f->dial, &f->tcp, "db.internal", 5432, 2000)):
 * a nested async function in the caller's frame.  host must stay valid until
 * the AWAIT returns. */
EVA_API eva_op eva_tcp_dial_op(eva_tcp_dial_req *dial, eva_tcp *tcp, const char *host, uint16_t port,
                               int64_t timeout_ms);

/* The callback form: cb(tcp, status) from the loop.  Returns 0, -EINVAL,
 * -EBUSY (the dial is running), -ENOMEM.  eva_tcp_dial_cancel stops it (cb
 * then gets -ECANCELED). */
EVA_API int eva_tcp_dial(eva_loop *loop, eva_tcp_dial_req *dial, eva_tcp *tcp, const char *host,
                         uint16_t port, int64_t timeout_ms, eva_tcp_status_fn cb);
EVA_API int eva_tcp_dial_cancel(eva_tcp_dial_req *dial);

/* A read that makes no progress for ms fails with -ETIMEDOUT (the connection
 * stays usable): the idle timeout, measured from the read's start or its last
 * bytes.  0 (the default) disables it.  It costs O(1) per read (one timer per
 * connection, re-armed only when it fires), so every connection can have one.
 * Returns 0 or -EINVAL. */
EVA_API int eva_tcp_set_read_timeout(eva_tcp *tcp, int64_t ms);

/* A deadline ms from now (the loop's time): a read pending then fails with
 * -ETIMEDOUT however many bytes it has been getting, and reads started after
 * it fail at once with -ETIMEDOUT, until the deadline is moved or cleared
 * (ms 0).  Progress does not postpone it: it bounds a whole exchange, such as
 * a request header trickled a byte at a time.  Setting it costs O(1) unless it
 * comes before the connection's running timer (one timer move).
 * Returns 0, -EINVAL (ms < 0), -ENOTCONN (not open). */
EVA_API int eva_tcp_set_read_deadline(eva_tcp *tcp, int64_t ms);

/* Read 1..len bytes (n == 0: end of stream).  Returns 0 (cb will run),
 * -EINVAL, -EBUSY (a read is pending), -ENOTCONN, -ETIMEDOUT (the read
 * deadline has passed). */
EVA_API int eva_tcp_read(eva_tcp *tcp, void *buf, size_t len, eva_tcp_read_fn cb);

/* Read exactly len bytes; EVA_EOF if the stream ends first. */
EVA_API int eva_tcp_read_exact(eva_tcp *tcp, void *buf, size_t len, eva_tcp_read_fn cb);

/* Read up to and including the delimiter (dlen bytes, e.g. "\r\n\r\n"), at
 * most max bytes: -EMSGSIZE when max bytes came without it (they are
 * consumed: the stream cannot be trusted after that; close it), EVA_EOF when
 * the stream ends first.  Never reads past the delimiter. */
EVA_API int eva_tcp_read_until(eva_tcp *tcp, void *buf, size_t max, const char *delim, size_t dlen,
                               eva_tcp_read_fn cb);

/* Cancel the pending read: its callback runs with -ECANCELED; bytes it had
 * already consumed (read_exact/until) are lost, so only a read-some can be
 * cancelled without losing data.  The connection stays open.  Returns 0. */
EVA_API int eva_tcp_read_cancel(eva_tcp *tcp);

/* AWAIT forms of the reads; n (may be NULL for read_exact) receives the
 * count.  Cancelling the task cancels the read as eva_tcp_read_cancel does. */
EVA_API eva_op eva_tcp_read_op(eva_tcp *tcp, void *buf, size_t len, ssize_t *n);
EVA_API eva_op eva_tcp_read_exact_op(eva_tcp *tcp, void *buf, size_t len);
EVA_API eva_op eva_tcp_read_until_op(eva_tcp *tcp, void *buf, size_t max, const char *delim, size_t dlen,
                                     ssize_t *n);

/* Queue iovcnt (1..EVA_TCP_WRITE_IOV) buffers; cb(req, status) once all are
 * written to the kernel (0) or the write failed (-EPIPE, -ECONNRESET,
 * -ECANCELED when the connection is closed first).  A write into an empty
 * queue is tried at once.  Returns 0 (queued bytes below the high-water
 * mark), 1 (accepted, and the queue is now at or above the high-water mark:
 * stop producing until the drain callback or eva_tcp_drain_op), or -EINVAL,
 * -EBUSY (req already queued), -EPIPE (shut down, or broken earlier). */
EVA_API int eva_tcp_write(eva_tcp *tcp, eva_tcp_write_req *req, const struct iovec *iov, int iovcnt,
                          eva_tcp_write_fn cb);

/* Copy len bytes into the queue (allocates); errors surface on the next
 * write, read or close.  Returns like eva_tcp_write, or -ENOMEM. */
EVA_API int eva_tcp_write_copy(eva_tcp *tcp, const void *data, size_t len);

/* AWAIT form: resume once the bytes are written to the kernel. */
EVA_API eva_op eva_tcp_write_op(eva_tcp *tcp, eva_tcp_write_req *req, const void *buf, size_t len);

/* Backpressure thresholds (bytes queued); on_drain (may be NULL) runs when
 * the queue falls to low after having reached high.  Defaults: 64 KiB and
 * 16 KiB.  Returns 0 or -EINVAL (low > high). */
EVA_API int eva_tcp_set_watermarks(eva_tcp *tcp, size_t high, size_t low, void (*on_drain)(eva_tcp *tcp));

/* AWAIT until the queue is at or below the low-water mark. */
EVA_API eva_op eva_tcp_drain_op(eva_tcp *tcp);

/* Bytes waiting in the write queue. */
EVA_API size_t eva_tcp_get_write_queue_size(const eva_tcp *tcp);

/* Half-close: once the queue is flushed, shutdown(SHUT_WR) (the peer reads
 * EOF; we can still read).  cb(tcp, status).  Returns 0, -EINVAL, -ENOTCONN. */
EVA_API int eva_tcp_shutdown(eva_tcp *tcp, eva_tcp_status_fn cb);
EVA_API eva_op eva_tcp_shutdown_op(eva_tcp *tcp);

typedef enum eva_tcp_close_how {
    EVA_TCP_CLOSE_FLUSH,   /* write what is queued, then close */
    EVA_TCP_CLOSE_DISCARD, /* close now; queued writes complete with -ECANCELED */
    EVA_TCP_CLOSE_RESET    /* close now with a TCP RST (SO_LINGER 0) */
} eva_tcp_close_how;

/* Close; pending reads and connects complete with -ECANCELED; cb (may be
 * NULL) runs once the fd is closed (status 0, or the flush's error).  After
 * that the struct may be reused or freed.  Idempotent: closing a closed
 * connection does nothing.  Returns 0 or -EINVAL. */
EVA_API int eva_tcp_close(eva_tcp *tcp, eva_tcp_close_how how, eva_tcp_status_fn cb);
EVA_API eva_op eva_tcp_close_op(eva_tcp *tcp, eva_tcp_close_how how);

EVA_API bool eva_tcp_is_open(const eva_tcp *tcp);
EVA_API int eva_tcp_get_fd(const eva_tcp *tcp);

#ifdef __cplusplus
}
#endif
#endif
