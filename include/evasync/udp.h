/* evasync/udp.h — UDP sockets, in the three styles, with batched I/O.
 *
 * An eva_udp is a caller-owned datagram socket (IPv4 or IPv6) with an
 * explicit life: open, optionally bind and/or connect, then close.  Its
 * operations are caller-owned requests with three forms (callback, AWAIT,
 * promise: the same rules as evasync/tcp.h's "requests"); the AWAIT forms
 * never allocate.
 *
 * Rules that hold everywhere:
 *  - A datagram is never cut silently: a receive whose buffer is smaller than
 *    the datagram keeps what fits (nread = the buffer's length, the sender
 *    filled in) and completes with -EMSGSIZE (MSG_TRUNC); the rest of that
 *    datagram is gone.  A datagram too large to send (over 65,507 bytes on
 *    IPv4, or the interface's limit with DF) fails its send with -EMSGSIZE.
 *  - An ICMP error on a connected socket (ECONNREFUSED: nothing listens at
 *    the peer's port) is reported once, to the next operation that meets it:
 *    the pending receive, or the next send.  The socket stays usable.
 *  - One request-based receive at a time per socket, or push mode
 *    (eva_udp_recv_start), never both; sends queue in order.
 *  - Callbacks never run inside the call that started the operation.
 *  - eva_loop_destroy() closes the sockets still open (pending operations
 *    complete with -ECANCELED); the structs stay yours, and closing them
 *    again afterwards is a no-op.
 */
#ifndef EVASYNC_UDP_H
#define EVASYNC_UDP_H

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
#include "queue.h"
#include "req.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eva_loop eva_loop;
typedef struct eva_promise eva_promise;
typedef struct eva_udp eva_udp;
typedef struct eva_udp_recv_req eva_udp_recv_req;
typedef struct eva_udp_send_req eva_udp_send_req;

/* A socket address of either family, as requests carry it. */
typedef union eva_udp_addr {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
} eva_udp_addr;

/* Request completions: status is 0 or a negative code; the request holds
 * the result and may be reused or freed from inside the callback.  Close's
 * callback gets the socket, which is then the caller's to reuse or free. */
typedef void (*eva_udp_recv_req_fn)(eva_udp_recv_req *req, int status);
typedef void (*eva_udp_send_fn)(eva_udp_send_req *req, int status);
typedef void (*eva_udp_close_fn)(eva_udp *udp);
/* Push mode: one datagram.  status 0, -EMSGSIZE (truncated: len bytes of
 * it were kept, max_size), or a socket error (-ECONNREFUSED, ...: data is
 * NULL, len 0, from NULL).  data and from are the socket's batch buffer:
 * valid only until the callback returns.  The callback may stop receiving
 * or close the socket (the rest of the batch is then dropped), but the
 * eva_udp struct must stay valid until it returns (free it afterwards). */
typedef void (*eva_udp_datagram_fn)(eva_udp *udp, int status, const void *data, size_t len,
                                    const struct sockaddr *from, socklen_t fromlen);

/* One received datagram (request form).  It references the caller's buffer,
 * which must stay valid until its completion. */
/* eva_udp_recv_req: 128 bytes on x86_64 (ABI: tests/test_struct_sizes.c). */
struct eva_udp_recv_req {
    /* public: */
    void *data;                    /* the caller's */
    ssize_t nread;                 /* result: bytes placed in the buffer */
    eva_udp_addr from;             /* result: the sender */
    socklen_t fromlen;             /* result: from's length (0: none, an error) */
    eva_udp *udp;                  /* read-only: the socket */
    /* private: */
    eva__req req;
    void *buf;
    size_t len;
};

enum { EVA_UDP_SEND_IOV = 4 };

/* One datagram to send, gathered from up to EVA_UDP_SEND_IOV buffers it
 * REFERENCES (they must stay valid until its completion); the destination is
 * COPIED in. */
/* eva_udp_send_req: 184 bytes on x86_64 (ABI: tests/test_struct_sizes.c). */
struct eva_udp_send_req {
    /* public: */
    void *data;                    /* the caller's */
    eva_udp *udp;                  /* read-only: the socket */
    /* private: */
    eva__req req;
    eva_udp_send_req *next;        /* the send queue */
    struct iovec iov[EVA_UDP_SEND_IOV];
    int iovcnt;
    socklen_t addrlen;             /* 0: the connected peer */
    eva_udp_addr addr;
};

/* Push mode's batch buffer (private to net/udp_recv.c). */
typedef struct eva__udp_batch eva__udp_batch;

/* eva_udp: 240 bytes on x86_64 (ABI: tests/test_struct_sizes.c). */
struct eva_udp {
    /* public: */
    void *data;                    /* the caller's */
    /* private: */
    eva_queue node;                /* the loop's open UDP sockets */
    eva_loop *loop;
    int fd;
    int family;
    bool connected;
    ev_io rio, wio;
    eva_udp_recv_req *rd;          /* the one pending receive request */
    eva_udp_send_req *sq_head, *sq_tail;
    size_t queued;                 /* datagrams in the send queue */
    eva_udp_datagram_fn on_datagram; /* push mode */
    eva__udp_batch *batch;         /* push mode's buffers (allocated) */
    int per_wakeup;                /* push mode: datagrams taken per readiness event */
    eva_udp_close_fn close_cb;
    eva_call close_call;           /* the close callback's deferred call */
};

/* ---- the socket ------------------------------------------------------------------ */

/* An eva_udp must be zero-initialised (or closed) before eva_udp_open.
 *
 * Create a non-blocking, close-on-exec datagram socket of family (AF_INET or
 * AF_INET6) on loop.  Until it is bound, a first send binds it to an
 * ephemeral port (the kernel's rule).  Returns 0; -EINVAL (NULL, another
 * family); -EBUSY (udp is open); -ENOMEM; the socket() error (-EMFILE, ...). */
EVA_API int eva_udp_open(eva_loop *loop, eva_udp *udp, int family);

enum {
    EVA_UDP_REUSEADDR = 1 << 0, /* SO_REUSEADDR */
    EVA_UDP_REUSEPORT = 1 << 1, /* SO_REUSEPORT: several sockets (loops) share the port */
    EVA_UDP_IPV6_ONLY = 1 << 2  /* IPV6_V6ONLY on an AF_INET6 socket (else dual-stack) */
};

/* Bind to addr (the socket's family; port 0 picks one, see
 * eva_udp_get_port) with flags EVA_UDP_*.  Returns 0; -EINVAL (NULL, a
 * family mismatch, an addrlen that does not fit, unknown flags); -ENOTCONN
 * (not open); the bind() error (-EADDRINUSE, -EACCES, -EADDRNOTAVAIL, ...). */
EVA_API int eva_udp_bind(eva_udp *udp, const struct sockaddr *addr, socklen_t addrlen, unsigned flags);

/* Connect (synchronously: UDP has no handshake) to addr: sends without an
 * address go there, only its datagrams are received, and ICMP errors are
 * reported (see the rules above).  Connecting again re-targets it.
 * Returns 0; -EINVAL; -ENOTCONN (not open); the connect() error. */
EVA_API int eva_udp_connect(eva_udp *udp, const struct sockaddr *addr, socklen_t addrlen);

/* The bound address into *addr (*addrlen in: its size, out: the length);
 * 0, -EINVAL, -ENOTCONN (not open), or getsockname()'s error. */
EVA_API int eva_udp_get_sockname(const eva_udp *udp, struct sockaddr *addr, socklen_t *addrlen);

/* The bound port, or a negative error (-ENOTCONN: not open). */
EVA_API int eva_udp_get_port(const eva_udp *udp);

/* true while the socket holds its fd (from open until close);
 * eva_udp_get_fd returns that fd, else -EBADF. */
EVA_API bool eva_udp_is_open(const eva_udp *udp);
EVA_API int eva_udp_get_fd(const eva_udp *udp);

/* Close now: the fd is closed inside this call; the pending receive and
 * every queued send complete with -ECANCELED, push mode stops, then cb (may
 * be NULL) runs from the loop, after those completions; from then on the
 * struct may be reused or freed.  Idempotent (a second close keeps the
 * first's cb).  Returns 0 or -EINVAL. */
EVA_API int eva_udp_close(eva_udp *udp, eva_udp_close_fn cb);

/* ---- options: each returns 0, -EINVAL, -ENOTCONN (not open) or setsockopt()'s error - */

/* SO_BROADCAST: may send to broadcast addresses. */
EVA_API int eva_udp_set_broadcast(eva_udp *udp, bool on);
/* IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS (0..255; default 1). */
EVA_API int eva_udp_set_multicast_ttl(eva_udp *udp, int ttl);
/* IP_MULTICAST_LOOP / IPV6_MULTICAST_LOOP: our multicast comes back to us. */
EVA_API int eva_udp_set_multicast_loop(eva_udp *udp, bool on);
/* Join / leave the multicast group (an IPv4 or IPv6 multicast address of the
 * socket's family; its port is ignored) on the interface ifindex
 * (if_nametoindex; 0: the kernel's choice by route).  -EINVAL for an
 * address that is not multicast; -EADDRINUSE joining a group twice;
 * -EADDRNOTAVAIL leaving a group not joined; -ENODEV when the interface
 * cannot do multicast. */
EVA_API int eva_udp_join_group(eva_udp *udp, const struct sockaddr *group, unsigned ifindex);
EVA_API int eva_udp_leave_group(eva_udp *udp, const struct sockaddr *group, unsigned ifindex);
/* SO_RCVBUF, bytes (the kernel doubles it and caps it at net.core.rmem_max;
 * as root SO_RCVBUFFORCE is used, past the cap).  Bursts larger than the
 * buffer are dropped by the kernel, not by evasync. */
EVA_API int eva_udp_set_recv_buffer(eva_udp *udp, int bytes);

/* ---- receiving ---------------------------------------------------------------------
 *
 * Request form: one datagram into buf (len > 0) per request; req->nread,
 * req->from and req->fromlen are the result.  Status 0, -EMSGSIZE
 * (truncated, see above: nread and from are filled), -ECONNREFUSED (an ICMP
 * error on a connected socket), -ECANCELED (eva_udp_recv_cancel, close, task
 * cancelled), ...
 * Start errors: -EINVAL (NULL, len 0), -ENOTCONN (not open), -EBUSY (a
 * receive is pending, push mode is on, or req is in flight).
 * The AWAIT form completes at once, without suspending, when a datagram is
 * waiting. */
EVA_API int eva_udp_recv(eva_udp_recv_req *req, eva_udp *udp, void *buf, size_t len,
                         eva_udp_recv_req_fn cb);
EVA_API eva_op eva_udp_recv_op(eva_udp_recv_req *req, eva_udp *udp, void *buf, size_t len);
/* The promise's value is the eva_udp_recv_req (nread, from); buf must outlive
 * the promise's settling.  Returns 0, -EINVAL, -ENOMEM. */
EVA_API int eva_udp_recv_promise(eva_udp *udp, void *buf, size_t len, eva_promise **out);

/* Cancel the pending receive request: it completes with -ECANCELED.
 * Returns 0 or -EINVAL. */
EVA_API int eva_udp_recv_cancel(eva_udp *udp);

/* eva_udp_recv_options: 16 bytes on x86_64, all public (ABI: tests/test_struct_sizes.c). */
typedef struct eva_udp_recv_options {
    size_t max_size;  /* bytes kept per datagram (larger: -EMSGSIZE); 0: 2048;
                         at most 65,536 */
    int batch;        /* datagrams per recvmmsg() call; 0: 32; at most 1024 */
    int per_wakeup;   /* datagrams taken per readiness event before the loop
                         moves on to its other events; 0: 8 x batch */
} eva_udp_recv_options;

/* Push mode: on each readiness event take up to per_wakeup datagrams with
 * recvmmsg(), batch at a time, and hand each to cb, so that a busy receiver
 * pays one loop iteration per burst, not per datagram.  The buffers (batch x
 * max_size bytes and the addresses) are allocated here and freed by
 * eva_udp_recv_stop or close.  opts may be NULL.
 * Returns 0; -EINVAL (NULL, an option out of range); -ENOTCONN; -EBUSY (a
 * receive request is pending, or push mode is on already); -ENOMEM. */
EVA_API int eva_udp_recv_start(eva_udp *udp, const eva_udp_recv_options *opts, eva_udp_datagram_fn cb);
/* Stop push mode (from its callback too).  Returns 0 or -EINVAL. */
EVA_API int eva_udp_recv_stop(eva_udp *udp);

/* ---- sending ------------------------------------------------------------------------
 *
 * One datagram of iovcnt (1..EVA_UDP_SEND_IOV) buffers to addr (NULL,
 * addrlen 0: the connected peer).  Into an empty queue it is sent at once
 * (one sendmsg); when the socket is full it waits, and the queue goes out
 * with sendmmsg() (up to 64 datagrams per call) when the socket is
 * writable.  Status 0 (the kernel took it: UDP does not say whether it
 * arrived), -EMSGSIZE (too large), -ECONNREFUSED (an earlier datagram on a
 * connected socket met a closed port), -EDESTADDRREQ (no address and not
 * connected), -ENETUNREACH, -ECANCELED (eva_udp_send_cancel, close, task
 * cancelled), ...: each datagram gets its own status; one failing does not
 * fail those behind it.
 * Start errors: -EINVAL (NULL, iovcnt out of range, an address of the wrong
 * family or length), -ENOTCONN (not open), -EBUSY (req in flight).
 * The callback form's completion always comes from the loop (cb may be
 * NULL); the AWAIT form completes at once, without suspending, when the
 * kernel takes the datagram at once. */
EVA_API int eva_udp_send(eva_udp_send_req *req, eva_udp *udp, const struct iovec *iov, int iovcnt,
                         const struct sockaddr *addr, socklen_t addrlen, eva_udp_send_fn cb);
EVA_API eva_op eva_udp_send_op(eva_udp_send_req *req, eva_udp *udp, const void *buf, size_t len,
                               const struct sockaddr *addr, socklen_t addrlen);
/* The bytes are copied; the promise's value is the eva_udp_send_req.
 * Returns 0, -EINVAL, -ENOMEM. */
EVA_API int eva_udp_send_promise(eva_udp *udp, const void *buf, size_t len, const struct sockaddr *addr,
                                 socklen_t addrlen, eva_promise **out);

/* Withdraw a queued send: it completes with -ECANCELED (one already handed
 * to the kernel keeps its status).  Returns 0, -EINVAL. */
EVA_API int eva_udp_send_cancel(eva_udp_send_req *req);

/* Datagrams waiting in the send queue. */
EVA_API size_t eva_udp_get_send_queue_count(const eva_udp *udp);

#ifdef __cplusplus
}
#endif
#endif
