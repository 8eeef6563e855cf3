/* evasync/tcp.h — TCP: listening on an address, connecting (by address or by
 * name).  The connections are streams and the listeners servers
 * (evasync/stream.h): read, write, accept and close them there.
 */
#ifndef EVASYNC_TCP_H
#define EVASYNC_TCP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "export.h"
#include "dns.h"
#include "stream.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eva_tcp_connect_req eva_tcp_connect_req;
typedef struct eva_tcp_dial_req eva_tcp_dial_req;

/* Connect and dial completions: status is 0 or a negative code; the request
 * may be reused or freed from inside the callback. */
typedef void (*eva_tcp_connect_fn)(eva_tcp_connect_req *req, int status);
typedef void (*eva_tcp_dial_fn)(eva_tcp_dial_req *req, int status);

/* A connect: the address is COPIED in, so it need not outlive the start call
 * (or the _op builder). */
/* eva_tcp_connect_req: 120 bytes on x86_64 (ABI: tests/test_struct_sizes.c). */
struct eva_tcp_connect_req {
    /* public: */
    void *data;                    /* the caller's */
    eva_stream *stream;            /* read-only: the connection */
    /* private: */
    eva__req req;
    eva_loop *loop;
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } addr;
    socklen_t addrlen;
    int64_t timeout_ms;
};

/* ---- listening ------------------------------------------------------------- */

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

/* An eva_server must be zero-initialised (or closed) before
 * eva_tcp_listen: an open one is refused with -EBUSY.
 *
 * Bind and listen on addr (IPv4 or IPv6; port 0 picks one, see
 * eva_tcp_server_get_port).  Nothing is accepted until eva_server_accept_start or
 * an accept request.  opts may be NULL.  SO_REUSEADDR is always set.
 * Returns 0; -EINVAL (also a negative accept_batch); -EBUSY (server is open);
 * -EADDRINUSE, -EACCES, ... (the socket calls' errno); -ENOMEM. */
EVA_API int eva_tcp_listen(eva_loop *loop, eva_server *server, const struct sockaddr *addr,
                           socklen_t addrlen, const eva_tcp_listen_options *opts);

/* eva_tcp_listen on a numeric address ("127.0.0.1", "::1", "0.0.0.0"). */
EVA_API int eva_tcp_listen_ip(eva_loop *loop, eva_server *server, const char *ip, uint16_t port,
                              const eva_tcp_listen_options *opts);

/* The bound port, or a negative error: -EBADF (not open), -EAFNOSUPPORT (not
 * a TCP server: a Unix one, see evasync/unix.h). */
EVA_API int eva_tcp_server_get_port(const eva_server *server);

/* ---- options --------------------------------------------------------------- */

/* TCP_NODELAY on (Nagle's algorithm off: small writes go out at once) or off.
 * Connections evasync makes or accepts have it on already.  Returns 0;
 * -EINVAL (NULL); -EBADF (not open); -ENOTSUP (== -EOPNOTSUPP: not a TCP
 * stream: a Unix socket, a pipe, a tty); setsockopt()'s error. */
EVA_API int eva_tcp_set_nodelay(eva_stream *stream, bool on);

/* ---- connecting ------------------------------------------------------------ */

/* Connect stream (closed) to addr (IPv4 or IPv6, copied into req); status 0 or
 * -ECONNREFUSED, -ETIMEDOUT (no answer within timeout_ms; 0 means no
 * timeout), -ENETUNREACH, -ECANCELED (closed first, task cancelled), ...  A
 * failed connect leaves stream closed, ready to connect again.
 * Start errors: -EINVAL (NULL, a family other than AF_INET/AF_INET6, an
 * addrlen too small or too large, timeout_ms < 0), -EBUSY (stream already open,
 * req in flight), or the socket() error (-EMFILE, ...).  The AWAIT form runs
 * on the task's loop. */
EVA_API int eva_tcp_connect(eva_tcp_connect_req *req, eva_loop *loop, eva_stream *stream,
                            const struct sockaddr *addr, socklen_t addrlen, int64_t timeout_ms,
                            eva_tcp_connect_fn cb);
EVA_API eva_op eva_tcp_connect_op(eva_tcp_connect_req *req, eva_stream *stream, const struct sockaddr *addr,
                                  socklen_t addrlen, int64_t timeout_ms);
/* The promise's value is the eva_tcp_connect_req (nothing to read but data). */
EVA_API int eva_tcp_connect_promise(eva_loop *loop, eva_stream *stream, const struct sockaddr *addr,
                                    socklen_t addrlen, int64_t timeout_ms, eva_promise **out);

/* Connecting by name, with Happy Eyeballs (RFC 8305): both families are
 * asked for at once (an AAAA and an A query on the loop's resolver,
 * evasync/dns.h: numeric addresses and /etc/hosts need no query), and
 * connecting starts with the first answer, except that an A answer waits
 * up to 50 ms for the AAAA one (the resolution delay, §3).  The attempt
 * order alternates the families, IPv6 first (§4); answers that come later
 * join the order.  One attempt starts, the next after attempt_delay_ms
 * while the earlier ones are still pending, or at once when one fails
 * (§5); at most EVA_TCP_DIAL_MAX_PENDING are pending at a time.  The first
 * connection wins: the other sockets are closed before the completion.
 *
 * timeout_ms (0: none) bounds the whole dial, resolution included: when it
 * passes, everything is stopped and the status is -ETIMEDOUT (the AWAIT
 * form's message: "TCP dial: no connection within the dial timeout").
 * Otherwise the status is 0 (dial.stream is connected); the resolver's error
 * when neither family has an address (one other than EVA_EDNS_NOTFOUND if
 * either query had one: -ETIMEDOUT, EVA_EDNS_SERVFAIL, ...; the AWAIT form
 * carries the resolver's message); or, when every address failed, the last
 * attempt's connect error, except that an error saying this host cannot
 * reach the address at all (-ENETUNREACH, -EHOSTUNREACH, -ENETDOWN,
 * -EADDRNOTAVAIL, -EAFNOSUPPORT) never replaces one from a host that was
 * reached (-ECONNREFUSED, ...): an IPv4 server refusing is what matters on
 * a machine without an IPv6 route; -ECANCELED when cancelled.
 *
 * The dial runs as a task in the caller-owned eva_tcp_dial_req
 * (zero-initialised; in a frame, or anywhere that outlives the dial); no
 * allocation but the resolver's per-query contexts and result lists, freed
 * before the end.  host is referenced: it must stay valid until the dial
 * completes.  stream must stay closed until then.  Cancelling the dial (or
 * the awaiting task) cancels the queries and closes every socket; the
 * completion comes once the cancelled queries have reported back. */
enum {
    EVA_TCP_DIAL_MAX_PENDING = 4,          /* connection attempts pending at once */
    EVA_TCP_DIAL_ATTEMPT_DELAY_MS = 250,   /* RFC 8305's recommended default */
    EVA_TCP_DIAL_MIN_ATTEMPT_DELAY_MS = 10 /* RFC 8305 §5: MUST NOT be less */
};

/* eva_tcp_dial_req: 904 bytes on x86_64 (ABI: tests/test_struct_sizes.c). */
struct eva_tcp_dial_req {
    /* private: */
    eva_task task;                 /* the dial runs as a task */
    /* public: */
    void *data;                    /* the caller's */
    eva_stream *stream;            /* read-only: the connection */
    int64_t attempt_delay_ms;      /* in: the connection attempt delay, read by the
                                      start (or the AWAIT's start); 0 (zeroed):
                                      EVA_TCP_DIAL_ATTEMPT_DELAY_MS; less than
                                      EVA_TCP_DIAL_MIN_ATTEMPT_DELAY_MS counts as
                                      that; negative: -EINVAL */
    unsigned attempts;             /* read-only: connection attempts started so far
                                      (also those that failed at once) */
    /* private: */
    const char *host;
    uint16_t port;
    uint8_t last;                  /* the family of the last attempt (an index) */
    bool over;                     /* decided: waiting for cancelled queries */
    int status;                    /* the result, once over */
    const char *message;
    int error;                     /* the most useful connect error so far */
    int dns_error;                 /* the resolver's, and its message */
    const char *dns_message;
    int64_t timeout_ms;
    eva_tcp_dial_fn cb;
    eva_dns_query query[2];        /* AAAA, A */
    eva_dns_addrs *addrs[2];       /* their answers (owned until the end) */
    size_t next[2];                /* the next address of each to try */
    ev_io attempt[EVA_TCP_DIAL_MAX_PENDING]; /* fd -1: a free slot */
    ev_timer step;                 /* the resolution delay, then the attempt delay */
    ev_timer deadline;             /* timeout_ms */
};

/* The callback form: cb(req, status) from the loop.  Start errors: -EINVAL
 * (also a negative attempt_delay_ms), -EBUSY (the dial is running, or
 * stream is open), -ENOMEM.
 * eva_tcp_dial_cancel stops it (the completion then gets -ECANCELED);
 * returns 0 or -EINVAL. */
EVA_API int eva_tcp_dial(eva_tcp_dial_req *req, eva_loop *loop, eva_stream *stream, const char *host,
                         uint16_t port, int64_t timeout_ms, eva_tcp_dial_fn cb);
/* AWAIT(f, eva_tcp_dial_op(&f->dial, &f->stream, "db.internal", 5432, 2000)):
 * a nested async function in the caller's frame. */
EVA_API eva_op eva_tcp_dial_op(eva_tcp_dial_req *req, eva_stream *stream, const char *host, uint16_t port,
                               int64_t timeout_ms);
/* The promise's value is the eva_tcp_dial_req (its attempt delay is the
 * default; for another, eva_promise_from_op with a request of your own). */
EVA_API int eva_tcp_dial_promise(eva_loop *loop, eva_stream *stream, const char *host, uint16_t port,
                                 int64_t timeout_ms, eva_promise **out);
EVA_API int eva_tcp_dial_cancel(eva_tcp_dial_req *req);


#ifdef __cplusplus
}
#endif
#endif
