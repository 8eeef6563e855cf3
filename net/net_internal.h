/* net/net_internal.h — what the stream, server and TCP files share. */
#ifndef EVASYNC_NET_INTERNAL_H
#define EVASYNC_NET_INTERNAL_H

#include "internal.h"
#include "req_internal.h"
#include "evasync/stream.h"
#include "evasync/tcp.h"
#include "evasync/unix.h"

/* Per-loop state: the open connections and servers, closed at loop destroy. */
typedef struct eva__net_loop {
    eva__layer layer;
    eva_loop *loop;
    eva_queue conns;           /* eva_stream */
    eva_queue servers;         /* eva_server */
    /* stream_lent.c: the chunks of lent reads (EVA_STREAM_LENT_SIZE bytes) */
    char *lent_spare[EVA_STREAM_LENT_SPARE]; /* given back, kept for the next read */
    size_t lent_spare_n;
    size_t lent_out, lent_peak;              /* held by streams now; most at once */
} eva__net_loop;
EVA__LAYER_FIRST(eva__net_loop, layer);

/* NULL when out of memory. */
eva__net_loop *eva__net_loop_get(eva_loop *loop);
void eva__net_link_conn(eva__net_loop *nl, eva_stream *stream);
void eva__net_unlink_conn(eva_stream *stream);
void eva__net_link_server(eva__net_loop *nl, eva_server *srv);
void eva__net_unlink_server(eva_server *srv);

/* stream_lent.c: a chunk of EVA_STREAM_LENT_SIZE bytes for a lent read on
 * stream (NULL: out of memory), and giving one back (spare or freed;
 * poisoned either way).  lent_free_spares: at loop close. */
char *eva__stream_lent_take(eva_stream *stream);
void eva__stream_lent_give(eva_stream *stream, char *chunk);
void eva__stream_lent_free_spares(eva__net_loop *nl);

/* Make fd non-blocking and close-on-exec; 0 or -errno. */
int eva__fd_nonblock(int fd);

/* ---- every request's completion: async/req_internal.h -----------------------
 *
 * Which of evasync's own timers ended a stream request with -ETIMEDOUT: the
 * AWAIT form reports it as the failure's message (the kernel can time a
 * connection out too; that one has no message of ours). */
enum { EVA__STREAM_NO_TIMEOUT, EVA__STREAM_IDLE_TIMEOUT, EVA__STREAM_READ_DEADLINE, EVA__STREAM_CONNECT_TIMEOUT };

/* stream_req.c: the message of a stream request that failed with status
 * (the eva__req_kind message of every stream kind; NULL: none). */
const char *eva__stream_message(const eva__req *r, int status);

/* stream_io.c: what fd is (0), or why it cannot be a stream: -EBADF,
 * -EPERM (a regular file, directory or block device), -EINVAL (a listening
 * socket), -EPROTOTYPE (not SOCK_STREAM); logged with the reason. */
int eva__stream_classify(eva_loop *loop, int fd, eva__stream_kind *kind);
/* Write iov without raising SIGPIPE (EINTR retried), with nfds descriptors
 * (SCM_RIGHTS; 0: none); write(2)'s result. */
ssize_t eva__stream_writev(eva_stream *stream, const struct iovec *iov, int cnt, const int *fds, int nfds);
/* Read (peek: MSG_PEEK, sockets only) up to len bytes: n > 0, 0 the end, or a
 * negative code (TLS: through SSL_read / SSL_peek). */
ssize_t eva__stream_recv(eva_stream *stream, void *buf, size_t len, bool peek);
/* recvmsg len bytes into buf and up to maxfds descriptors (close-on-exec)
 * into fds, *nfds of them: the bytes or -errno.  More descriptors than
 * maxfds: all closed, *nfds 0, *lost set. */
ssize_t eva__stream_recv_fds(int fd, void *buf, size_t len, int *fds, int maxfds, int *nfds, bool *lost);
/* Whether descriptors can pass on stream: 0, -ENOTSOCK, -EAFNOSUPPORT. */
int eva__stream_check_local(const eva_stream *stream);
/* tcp_server.c: make srv the server of the listening socket fd (left to the
 * caller on failure: -EBUSY, -ENOMEM). */
int eva__server_start(eva_loop *loop, eva_server *srv, int fd, int accept_batch);
bool eva__server_is_open(const eva_server *srv);
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

/* tcp_connect.c: a connect by any stream socket family (TCP, Unix): req of
 * kind, on stream (closed), to addr.  0 when under way or done (completion
 * queued); -EINVAL, -EBUSY, the socket() / connect() error. */
typedef struct eva__connect_args {
    eva__req *req;
    const eva__req_kind *kind;
    eva_loop *loop;
    eva_stream *stream;
    const struct sockaddr *addr;
    socklen_t addrlen;
    int64_t timeout_ms;
} eva__connect_args;
int eva__stream_connect_begin(const eva__connect_args *a, void (*cb)(void));

/* stream_conn.c: the stream's one watcher waits for the union of what its
 * read side and its write side (or the connect, or the TLS handshake) wait
 * for.  watch: wait for exactly events (EV_READ | EV_WRITE, 0: nothing);
 * events already reported and not yet delivered stay pending if still
 * wanted.  libev applies the net change once per loop iteration, so a side
 * stopping and starting again within one costs no system call. */
void eva__stream_watch(eva_stream *stream, int events);
static inline int eva__stream_watching(const eva_stream *stream) {
    return stream->io.events & (EV_READ | EV_WRITE); /* without libev's internal flag */
}
static inline void eva__stream_want(eva_stream *stream, int events) {
    eva__stream_watch(stream, eva__stream_watching(stream) | events);
}
static inline void eva__stream_unwant(eva_stream *stream, int events) {
    eva__stream_watch(stream, eva__stream_watching(stream) & ~events);
}

/* stream_read.c / stream_write.c / tcp_connect.c: the readiness handlers and the
 * cleanup each side needs at close. */
void eva__stream_on_readable(eva_stream *stream);
void eva__stream_drain_done(eva_stream *stream, int status);
void eva__stream_read_abort(eva_stream *stream, int status);
void eva__stream_on_writable(eva_stream *stream);
void eva__stream_write_abort(eva_stream *stream, int status);
void eva__stream_connect_done(eva_stream *stream, int status);

/* tcp_connect.c, shared with the dial and Unix sockets: a non-blocking,
 * close-on-exec stream socket of family (TCP's with TCP_NODELAY): the fd, or
 * -errno; its connect (EINTR retried): 0 (connected at once), -EINPROGRESS,
 * or another -errno. */
int eva__stream_socket(int family);
int eva__connect_fd(int fd, const struct sockaddr *addr, socklen_t addrlen);

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

/* ---- the stream's hooks (tls_stream.c): stream->tls set ---------------------------------------------- */

/* Bytes into buf: n > 0, 0 the end (close_notify), or a negative code
 * (-EAGAIN: wait for readiness). peek: leave them in. */
ssize_t eva__tls_recv(eva_stream *stream, void *buf, size_t len, bool peek);
/* writev's contract: the bytes taken, or -1 with errno (EAGAIN: wait). */
ssize_t eva__tls_writev(eva_stream *stream, const struct iovec *iov, int cnt);
/* A readiness event of the stream's watcher (revents: EV_READ, EV_WRITE or
 * both): what is left for the stream's own read and write sides, once TLS
 * took its part (all of it during the handshake; a read waiting for
 * writability turns EV_WRITE into EV_READ). */
int eva__tls_on_io(eva_stream *stream, int revents);
/* A read starts: decrypted or buffered bytes may be waiting in OpenSSL,
 * which no readiness event would announce. */
void eva__tls_read_armed(eva_stream *stream);
/* The stream is closing: send close_notify (notify), then free it all. */
void eva__tls_close(eva_stream *stream, bool notify);
/* The half-close: close_notify. 0 or a negative code. */
int eva__tls_shutdown(eva_stream *stream);

#endif
