/* evasync/tcp.h — TCP servers and connections, in the three styles.
 *
 * An eva_tcp is a connection; an eva_tcp_server a listening socket.  Both are
 * caller-owned structs (embed them in a frame or a session object) with an
 * explicit life: init/connect or listen, then close.  Every operation on
 * them is a caller-owned request with three forms (callback, AWAIT, promise:
 * see "requests" below); the AWAIT forms never allocate.
 *
 * Rules that hold everywhere:
 *  - One read at a time per connection (a second gets -EBUSY); writes queue
 *    in order.
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
#include <netinet/in.h>
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
typedef struct eva_tcp_read_req eva_tcp_read_req;
typedef struct eva_tcp_write_req eva_tcp_write_req;
typedef struct eva_tcp_connect_req eva_tcp_connect_req;
typedef struct eva_tcp_shutdown_req eva_tcp_shutdown_req;
typedef struct eva_tcp_drain_req eva_tcp_drain_req;
typedef struct eva_tcp_accept_req eva_tcp_accept_req;
typedef struct eva_tcp_dial_req eva_tcp_dial_req;

/* ---- requests ----------------------------------------------------------------
 *
 * Every operation but close is a request: a caller-owned struct
 * (zero-initialised before its first use; embed it in a frame or a session
 * object) that carries the operation's arguments, its result and its one
 * completion (the callback, or the task awaiting it).  One operation per
 * request at a time: a request in flight refuses a second start with -EBUSY,
 * and building an AWAIT form (eva_tcp_*_op) on it changes nothing.  The
 * request is yours again once its completion has run: the callback may free
 * or reuse it; nothing of it is read after the callback or the wake.
 *
 * Each operation X has three forms:
 *   eva_tcp_X(req, handle, args..., cb)  callback: 0 (cb runs exactly once,
 *                                        from the loop, never inside this
 *                                        call) or a negative code;
 *   eva_tcp_X_op(req, handle, args...)   an eva_op for AWAIT / AWAIT_RC; an
 *                                        AWAIT that completes at once does
 *                                        not suspend; cancelling the task
 *                                        cancels the request;
 *   eva_tcp_X_promise(handle, args..., &p)  the request is allocated; the
 *                                        promise is fulfilled with it as its
 *                                        value (read the result there; freed
 *                                        with the promise) or rejected with
 *                                        the status.  Cancelling the promise
 *                                        cancels the request.  Returns 0,
 *                                        -EINVAL, -ENOMEM. */

/* The completion every request carries (private to net/). */
typedef struct eva__tcp_req_kind eva__tcp_req_kind;
/* eva__tcp_req: 56 bytes on x86_64. */
typedef struct eva__tcp_req {
    /* private: */
    eva_call call;                 /* the deferred completion: linked iff queued */
    union {
        void (*cb)(void);          /* the callback form's (cast back to its type) */
        eva_task *waiter;          /* the AWAIT form's task */
    } to;
    const eva__tcp_req_kind *kind; /* how to call the callback, how to cancel */
    int status;
    bool awaited;                  /* to.waiter, else to.cb */
    bool busy;                     /* started, completion not delivered yet */
    uint8_t timeout;               /* which of evasync's timers failed it (messages) */
} eva__tcp_req;

typedef void (*eva_tcp_read_fn)(eva_tcp_read_req *req, int status);
typedef void (*eva_tcp_write_fn)(eva_tcp_write_req *req, int status);
typedef void (*eva_tcp_connect_fn)(eva_tcp_connect_req *req, int status);
typedef void (*eva_tcp_shutdown_fn)(eva_tcp_shutdown_req *req, int status);
typedef void (*eva_tcp_drain_fn)(eva_tcp_drain_req *req, int status);
/* req->fd is the new connection's (status 0). */
typedef void (*eva_tcp_accept_req_fn)(eva_tcp_accept_req *req, int status);
typedef void (*eva_tcp_dial_fn)(eva_tcp_dial_req *req, int status);
/* Close is no request (a connection closes once): its callback gets the connection. */
typedef void (*eva_tcp_close_fn)(eva_tcp *tcp, int status);
/* Push mode: a new connection's fd (non-blocking, close-on-exec,
 * TCP_NODELAY): yours to wrap with eva_tcp_open() or close.  The callback may
 * stop accepting or close the server, but the server struct must stay valid
 * until it returns (free it afterwards). */
typedef void (*eva_tcp_accept_fn)(eva_tcp_server *server, int fd);

typedef enum eva_tcp_read_mode { EVA__READ_SOME, EVA__READ_EXACT, EVA__READ_UNTIL } eva_tcp_read_mode;

/* A read: read-some, read-exact and read-until share it.  It references the
 * caller's buffer (and read_until's delimiter), which must stay valid until
 * its completion. */
/* eva_tcp_read_req: 120 bytes on x86_64 (ABI: tests/test_struct_sizes.c). */
struct eva_tcp_read_req {
    /* public: */
    void *data;                    /* the caller's */
    ssize_t nread;                 /* result: bytes placed in the buffer (read-some: 0
                                      is the end of stream; on an error, what
                                      read_exact/until had consumed) */
    eva_tcp *tcp;                  /* read-only: the connection */
    /* private: */
    eva__tcp_req req;
    char *buf;
    size_t len;
    const char *delim;
    size_t dlen;
    eva_tcp_read_mode mode;
};

enum { EVA_TCP_WRITE_IOV = 4 };

/* A write: it REFERENCES the caller's bytes, which must stay valid and
 * unchanged until its completion (eva_tcp_write_copy copies instead). */
/* eva_tcp_write_req: 168 bytes on x86_64 (ABI: tests/test_struct_sizes.c). */
struct eva_tcp_write_req {
    /* public: */
    void *data;                    /* the caller's */
    eva_tcp *tcp;                  /* read-only: the connection */
    /* private: */
    eva__tcp_req req;
    eva_tcp_write_req *next;       /* the write queue */
    struct iovec iov[EVA_TCP_WRITE_IOV];
    int iovcnt, iovpos;            /* buffers left, from iov[iovpos] */
    size_t remaining, total;
};

/* A connect: the address is COPIED in, so it need not outlive the start call
 * (or the _op builder). */
/* eva_tcp_connect_req: 120 bytes on x86_64 (ABI: tests/test_struct_sizes.c). */
struct eva_tcp_connect_req {
    /* public: */
    void *data;                    /* the caller's */
    eva_tcp *tcp;                  /* read-only: the connection */
    /* private: */
    eva__tcp_req req;
    eva_loop *loop;
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } addr;
    socklen_t addrlen;
    int64_t timeout_ms;
};

/* A half-close, and a wait for the write queue to drain. */
/* eva_tcp_shutdown_req, eva_tcp_drain_req: 72 bytes on x86_64 (ABI: tests/test_struct_sizes.c). */
struct eva_tcp_shutdown_req {
    /* public: */
    void *data;                    /* the caller's */
    eva_tcp *tcp;                  /* read-only: the connection */
    /* private: */
    eva__tcp_req req;
};

struct eva_tcp_drain_req {
    /* public: */
    void *data;                    /* the caller's */
    eva_tcp *tcp;                  /* read-only: the connection */
    /* private: */
    eva__tcp_req req;
};

/* One accepted connection (pull mode). */
/* eva_tcp_accept_req: 80 bytes on x86_64 (ABI: tests/test_struct_sizes.c). */
struct eva_tcp_accept_req {
    /* public: */
    void *data;                    /* the caller's */
    int fd;                        /* result: the new connection's fd (non-blocking,
                                      close-on-exec, TCP_NODELAY), yours: wrap it
                                      with eva_tcp_open() or close it; -1 on failure */
    eva_tcp_server *server;        /* read-only: the server */
    /* private: */
    eva__tcp_req req;
};

/* eva_tcp: 360 bytes on x86_64 (ABI: tests/test_struct_sizes.c). */
struct eva_tcp {
    /* public: */
    void *data;                    /* the caller's */
    /* private: */
    eva_queue node;                /* the loop's open connections */
    eva_loop *loop;
    int fd;
    uint8_t connecting, write_shut, broken;
    bool closing;                  /* flush, then close */
    ev_io rio, wio;
    ev_timer timer;                /* read timeout and deadline, or connect timeout */
    int64_t read_timeout_ms;
    ev_tstamp read_activity;       /* the pending read's start or last progress (ev_now) */
    ev_tstamp read_deadline;       /* reads fail from then on (ev_now clock); 0: none */
    ev_tstamp timer_at;            /* when the running read timer fires */
    eva_tcp_read_req *rd;          /* the one pending read */
    eva_tcp_connect_req *cn;       /* the connect (before any read or write) */
    eva_tcp_shutdown_req *shut;    /* the half-close waiting for the queue */
    eva_tcp_drain_req *drain;      /* the one drain wait */
    eva_tcp_write_req *wq_head, *wq_tail;
    size_t queued;                 /* bytes in the write queue */
    size_t high_water, low_water;
    void (*on_drain)(eva_tcp *tcp);
    eva__tcp_req close;            /* the close's one callback-or-waiter slot */
    bool timer_unref;              /* the read timer runs without holding the loop */
    bool above_high;
};

/* eva_tcp_server: 208 bytes on x86_64 (ABI: tests/test_struct_sizes.c). */
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
    eva_tcp_accept_req *pending;   /* pull mode: the one accept request waiting */
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

/* An eva_tcp_server must be zero-initialised (or closed) before
 * eva_tcp_listen: an open one is refused with -EBUSY.
 *
 * Bind and listen on addr (IPv4 or IPv6; port 0 picks one, see
 * eva_tcp_server_get_port).  Nothing is accepted until eva_tcp_accept_start or
 * an accept request.  opts may be NULL.  SO_REUSEADDR is always set.
 * Returns 0; -EINVAL (also a negative accept_batch); -EBUSY (server is open);
 * -EADDRINUSE, -EACCES, ... (the socket calls' errno); -ENOMEM. */
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
 * (shortages less than 10 s apart are one episode).  Pull mode (below) has
 * the same bound and the same EMFILE handling.
 * Returns 0, -EINVAL, -EBUSY (an accept request is pending). */
EVA_API int eva_tcp_accept_start(eva_tcp_server *server, eva_tcp_accept_fn cb);
EVA_API int eva_tcp_accept_stop(eva_tcp_server *server);

/* Pull mode: one connection, into req->fd.  One accept request at a time per
 * server.  The AWAIT form completes at once when a connection is pending,
 * accept_batch times per loop iteration (and within 1 ms of accepting);
 * after that the task waits for the next iteration.  The callback form
 * always completes from the loop.  Status 0, or -ECANCELED (the server was
 * closed, the task cancelled).
 * Start errors: -EINVAL (NULL, the server is not listening), -EBUSY (push
 * mode is on, another accept request is pending, or req is in flight). */
EVA_API int eva_tcp_accept(eva_tcp_accept_req *req, eva_tcp_server *server, eva_tcp_accept_req_fn cb);
EVA_API eva_op eva_tcp_accept_op(eva_tcp_accept_req *req, eva_tcp_server *server);
/* The promise's value is the eva_tcp_accept_req: take its fd (it is yours). */
EVA_API int eva_tcp_accept_promise(eva_tcp_server *server, eva_promise **out);

/* Stop and close the listening socket; a pending accept request completes
 * with -ECANCELED.  Idempotent.  Returns 0 or -EINVAL. */
EVA_API int eva_tcp_server_close(eva_tcp_server *server);

/* ---- connections ------------------------------------------------------------ */

/* An eva_tcp must be zero-initialised (or closed) before eva_tcp_open or
 * eva_tcp_connect.
 *
 * Wrap a connected socket (e.g. from accept); it is made non-blocking and the
 * eva_tcp owns it from now on (eva_tcp_close closes it).
 * Returns 0; -EINVAL (NULL, fd < 0); -EBUSY (already open); -EBADF. */
EVA_API int eva_tcp_open(eva_loop *loop, eva_tcp *tcp, int fd);

/* Connect tcp (closed) to addr (IPv4 or IPv6, copied into req); status 0 or
 * -ECONNREFUSED, -ETIMEDOUT (no answer within timeout_ms; 0 means no
 * timeout), -ENETUNREACH, -ECANCELED (closed first, task cancelled), ...  A
 * failed connect leaves tcp closed, ready to connect again.
 * Start errors: -EINVAL (NULL, a family other than AF_INET/AF_INET6, an
 * addrlen too small or too large, timeout_ms < 0), -EBUSY (tcp already open,
 * req in flight), or the socket() error (-EMFILE, ...).  The AWAIT form runs
 * on the task's loop. */
EVA_API int eva_tcp_connect(eva_tcp_connect_req *req, eva_loop *loop, eva_tcp *tcp,
                            const struct sockaddr *addr, socklen_t addrlen, int64_t timeout_ms,
                            eva_tcp_connect_fn cb);
EVA_API eva_op eva_tcp_connect_op(eva_tcp_connect_req *req, eva_tcp *tcp, const struct sockaddr *addr,
                                  socklen_t addrlen, int64_t timeout_ms);
/* The promise's value is the eva_tcp_connect_req (nothing to read but data). */
EVA_API int eva_tcp_connect_promise(eva_loop *loop, eva_tcp *tcp, const struct sockaddr *addr,
                                    socklen_t addrlen, int64_t timeout_ms, eva_promise **out);

/* Connecting by name: resolve host (evasync/dns.h: numeric addresses and
 * /etc/hosts need no query), then try each address in the resolver's order
 * until one connects; timeout_ms (0: none) applies to each attempt.  The
 * status is 0, the resolver's error (EVA_EDNS_NOTFOUND, -ETIMEDOUT, ...), or
 * the last attempt's connect error.  The dial runs as a task in the
 * caller-owned eva_tcp_dial_req (zero-initialised; in a frame, or anywhere
 * that outlives the dial); no allocation but the resolver's result list,
 * freed before the end.  host is referenced: it must stay valid until the
 * dial completes.  Cancelling the dial (or the awaiting task) cancels the
 * query or closes the socket being connected. */
/* eva_tcp_dial_req: 504 bytes on x86_64 (ABI: tests/test_struct_sizes.c). */
struct eva_tcp_dial_req {
    /* private: */
    eva_task task;                 /* the dial runs as a task */
    /* public: */
    void *data;                    /* the caller's */
    eva_tcp *tcp;                  /* read-only: the connection */
    /* private: */
    const char *host;
    uint16_t port;
    int64_t timeout_ms;
    eva_dns_query query;
    eva_dns_addrs *addrs;
    size_t i;
    int rc;
    eva_tcp_connect_req connect;   /* each attempt */
    eva_tcp_dial_fn cb;
};

/* The callback form: cb(req, status) from the loop.  Start errors: -EINVAL,
 * -EBUSY (the dial is running, or tcp is open), -ENOMEM.
 * eva_tcp_dial_cancel stops it (the completion then gets -ECANCELED);
 * returns 0 or -EINVAL. */
EVA_API int eva_tcp_dial(eva_tcp_dial_req *req, eva_loop *loop, eva_tcp *tcp, const char *host,
                         uint16_t port, int64_t timeout_ms, eva_tcp_dial_fn cb);
/* AWAIT(f, eva_tcp_dial_op(&f->dial, &f->tcp, "db.internal", 5432, 2000)):
 * a nested async function in the caller's frame. */
EVA_API eva_op eva_tcp_dial_op(eva_tcp_dial_req *req, eva_tcp *tcp, const char *host, uint16_t port,
                               int64_t timeout_ms);
/* The promise's value is the eva_tcp_dial_req. */
EVA_API int eva_tcp_dial_promise(eva_loop *loop, eva_tcp *tcp, const char *host, uint16_t port,
                                 int64_t timeout_ms, eva_promise **out);
EVA_API int eva_tcp_dial_cancel(eva_tcp_dial_req *req);

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

/* Reads: one pending read per connection.  Status 0 with req->nread bytes,
 * or -ETIMEDOUT (the read timeout or deadline), -ECONNRESET, -ECANCELED
 * (eva_tcp_read_cancel, close, task cancelled), EVA_EOF (read_exact/until:
 * the stream ended first), -EMSGSIZE (read_until over its limit), ...
 * Start errors: -EINVAL (NULL, len 0, a bad delimiter), -EBUSY (a read is
 * pending on tcp, or req is in flight), -ENOTCONN (not open, connecting or
 * closing), -ETIMEDOUT (the read deadline has passed).
 *
 * Read 1..len bytes (nread 0: end of stream, status 0). */
EVA_API int eva_tcp_read(eva_tcp_read_req *req, eva_tcp *tcp, void *buf, size_t len, eva_tcp_read_fn cb);
EVA_API eva_op eva_tcp_read_op(eva_tcp_read_req *req, eva_tcp *tcp, void *buf, size_t len);
/* The promise's value is the eva_tcp_read_req (nread); buf must outlive the promise's settling. */
EVA_API int eva_tcp_read_promise(eva_tcp *tcp, void *buf, size_t len, eva_promise **out);

/* Read exactly len bytes; EVA_EOF if the stream ends first. */
EVA_API int eva_tcp_read_exact(eva_tcp_read_req *req, eva_tcp *tcp, void *buf, size_t len,
                               eva_tcp_read_fn cb);
EVA_API eva_op eva_tcp_read_exact_op(eva_tcp_read_req *req, eva_tcp *tcp, void *buf, size_t len);
EVA_API int eva_tcp_read_exact_promise(eva_tcp *tcp, void *buf, size_t len, eva_promise **out);

/* Read up to and including the delimiter (dlen bytes, e.g. "\r\n\r\n"), at
 * most max bytes: -EMSGSIZE when max bytes came without it (they are
 * consumed: the stream cannot be trusted after that; close it), EVA_EOF when
 * the stream ends first.  Never reads past the delimiter.  delim is
 * referenced until the completion. */
EVA_API int eva_tcp_read_until(eva_tcp_read_req *req, eva_tcp *tcp, void *buf, size_t max,
                               const char *delim, size_t dlen, eva_tcp_read_fn cb);
EVA_API eva_op eva_tcp_read_until_op(eva_tcp_read_req *req, eva_tcp *tcp, void *buf, size_t max,
                                     const char *delim, size_t dlen);
EVA_API int eva_tcp_read_until_promise(eva_tcp *tcp, void *buf, size_t max, const char *delim,
                                       size_t dlen, eva_promise **out);

/* Cancel the connection's pending read: it completes with -ECANCELED; bytes
 * it had already consumed (read_exact/until) are lost, so only a read-some
 * can be cancelled without losing data.  The connection stays open; a new
 * read may start at once.  Returns 0, or -EINVAL (NULL). */
EVA_API int eva_tcp_read_cancel(eva_tcp *tcp);

/* Queue iovcnt (1..EVA_TCP_WRITE_IOV) buffers; status 0 once all are written
 * to the kernel, or -EPIPE, -ECONNRESET, -ECANCELED (closed first, task
 * cancelled).  A write into an empty queue is tried at once.  The callback
 * form returns 0 (queued bytes below the high-water mark), 1 (accepted, and
 * the queue is now at or above the high-water mark: stop producing until the
 * drain callback or a drain request completes); cb may be NULL.
 * Start errors: -EINVAL, -EBUSY (req in flight), -ENOTCONN (not open or
 * connecting), -EPIPE (shut down, closing, or broken earlier). */
EVA_API int eva_tcp_write(eva_tcp_write_req *req, eva_tcp *tcp, const struct iovec *iov, int iovcnt,
                          eva_tcp_write_fn cb);
/* One buffer; completes at once (no suspension) when the socket takes it all. */
EVA_API eva_op eva_tcp_write_op(eva_tcp_write_req *req, eva_tcp *tcp, const void *buf, size_t len);
/* The bytes are copied; the promise's value is the eva_tcp_write_req. */
EVA_API int eva_tcp_write_promise(eva_tcp *tcp, const void *buf, size_t len, eva_promise **out);

/* Copy len bytes into the queue (allocates); errors surface on the next
 * write, read or close.  Returns like eva_tcp_write, or -ENOMEM. */
EVA_API int eva_tcp_write_copy(eva_tcp *tcp, const void *data, size_t len);

/* Backpressure thresholds (bytes queued); on_drain (may be NULL) runs when
 * the queue falls to low after having reached high.  Defaults: 64 KiB and
 * 16 KiB.  Returns 0 or -EINVAL (low > high). */
EVA_API int eva_tcp_set_watermarks(eva_tcp *tcp, size_t high, size_t low, void (*on_drain)(eva_tcp *tcp));

/* Wait until the write queue is at or below the low-water mark: status 0, or
 * the write error / -ECANCELED when the queue fails or the connection closes
 * first.  One drain request at a time per connection.  The AWAIT form
 * completes at once when the queue is low already.
 * Start errors: -EINVAL, -ENOTCONN (not open), -EBUSY (another drain is
 * pending, or req is in flight). */
EVA_API int eva_tcp_drain(eva_tcp_drain_req *req, eva_tcp *tcp, eva_tcp_drain_fn cb);
EVA_API eva_op eva_tcp_drain_op(eva_tcp_drain_req *req, eva_tcp *tcp);
EVA_API int eva_tcp_drain_promise(eva_tcp *tcp, eva_promise **out);

/* Bytes waiting in the write queue. */
EVA_API size_t eva_tcp_get_write_queue_size(const eva_tcp *tcp);

/* Half-close: once the queue is flushed, shutdown(SHUT_WR) (the peer reads
 * EOF; we can still read).  Status 0, the shutdown() error, or the queue's
 * write error / -ECANCELED (closed before the queue flushed).  Cancelling an
 * awaiting task withdraws the report only: the half-close still happens.
 * Start errors: -EINVAL, -ENOTCONN (not open, connecting, closing),
 * -EALREADY (shut down already), -EBUSY (req in flight). */
EVA_API int eva_tcp_shutdown(eva_tcp_shutdown_req *req, eva_tcp *tcp, eva_tcp_shutdown_fn cb);
EVA_API eva_op eva_tcp_shutdown_op(eva_tcp_shutdown_req *req, eva_tcp *tcp);
EVA_API int eva_tcp_shutdown_promise(eva_tcp *tcp, eva_promise **out);

typedef enum eva_tcp_close_how {
    EVA_TCP_CLOSE_FLUSH,   /* write what is queued, then close */
    EVA_TCP_CLOSE_DISCARD, /* close now; queued writes complete with -ECANCELED */
    EVA_TCP_CLOSE_RESET    /* close now with a TCP RST (SO_LINGER 0) */
} eva_tcp_close_how;

/* Close (a handle operation, not a request: one slot in the connection);
 * pending requests complete with -ECANCELED first; cb (may be NULL) runs once
 * the fd is closed (status 0, or the flush's error).  After that the struct
 * may be reused or freed.  Idempotent: closing a closed or closing
 * connection does nothing (the first close's cb stays).  Returns 0 or
 * -EINVAL.  The AWAIT form completes at once on a closed connection and
 * fails with -EBUSY on a closing one; cancelling it while it flushes closes
 * at once (status -ECANCELED).  The promise form's promise has no value. */
EVA_API int eva_tcp_close(eva_tcp *tcp, eva_tcp_close_how how, eva_tcp_close_fn cb);
EVA_API eva_op eva_tcp_close_op(eva_tcp *tcp, eva_tcp_close_how how);
EVA_API int eva_tcp_close_promise(eva_tcp *tcp, eva_tcp_close_how how, eva_promise **out);

EVA_API bool eva_tcp_is_open(const eva_tcp *tcp);
EVA_API int eva_tcp_get_fd(const eva_tcp *tcp);

#ifdef __cplusplus
}
#endif
#endif
