/* evasync/unix.h — Unix domain stream sockets: listen and connect by path or
 * in Linux's abstract namespace, the peer's credentials, and descriptor
 * passing (SCM_RIGHTS).  The connections are streams and the listeners
 * servers (evasync/stream.h): read, write, accept and close them there.
 *
 * Addresses: a path ("/run/app.sock"), or "@name" for the abstract name
 * "name" (Linux: no file, gone with the last socket; the rest of the string
 * is the name, NUL not included).  Longer than sun_path holds (107 bytes of
 * path, 106 of abstract name): -ENAMETOOLONG.
 */
#ifndef EVASYNC_UNIX_H
#define EVASYNC_UNIX_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include "export.h"
#include "stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A connect by path (defined below), and its completion: status 0 or a
 * negative code; the request may be reused or freed from inside the callback. */
typedef struct eva_unix_connect_req eva_unix_connect_req;
typedef void (*eva_unix_connect_fn)(eva_unix_connect_req *req, int status);

enum {
    /* eva_unix_listen: a socket file left by a process that is gone (a
     * connect to it is refused) is removed and the bind retried.  A file that
     * is not a socket, or one someone listens on, is never removed. */
    EVA_UNIX_UNLINK_STALE = 1u << 0,
    /* The most descriptors one write carries or one read receives (the
     * kernel's SCM_MAX_FD). */
    EVA_UNIX_MAX_FDS = 253
};

/* An eva_server must be zero-initialised (or closed) before eva_unix_listen.
 * Bind and listen on path (see the addresses above); backlog 0: SOMAXCONN;
 * flags: 0 or EVA_UNIX_UNLINK_STALE.  A socket file in the way is
 * -EADDRINUSE unless EVA_UNIX_UNLINK_STALE says to remove a stale one; the
 * file the server creates is not removed at close (remove it yourself, or
 * listen with EVA_UNIX_UNLINK_STALE next time).  Accept as with any server
 * (eva_server_accept*: the fds are non-blocking and close-on-exec).
 * Returns 0; -EINVAL (NULL, an empty path, unknown flags, backlog < 0);
 * -ENAMETOOLONG; -EBUSY (server is open); -EADDRINUSE, -EACCES, -ENOENT, ...
 * (the socket calls' errno); -ENOMEM. */
EVA_API int eva_unix_listen(eva_loop *loop, eva_server *server, const char *path, int backlog,
                            unsigned flags);

/* A connect: the address is COPIED in. */
/* eva_unix_connect_req: 208 bytes on x86_64 (ABI: tests/test_struct_sizes.c). */
struct eva_unix_connect_req {
    /* public: */
    void *data;                    /* the caller's */
    eva_stream *stream;            /* read-only: the connection */
    /* private: */
    eva__req req;
    eva_loop *loop;
    struct sockaddr_un addr;
    socklen_t addrlen;
    int64_t timeout_ms;
};

/* Connect stream (closed) to path; status 0 or -ECONNREFUSED (nobody
 * listens: a stale socket file), -ENOENT, -EAGAIN (the listener's backlog is
 * full), -ETIMEDOUT (timeout_ms; 0: none), -ECANCELED, ...  A failed connect
 * leaves stream closed.  Start errors: -EINVAL, -ENAMETOOLONG, -EBUSY
 * (stream open, req in flight), the socket() error.  The three forms are
 * those of every request (evasync/stream.h). */
EVA_API int eva_unix_connect(eva_unix_connect_req *req, eva_loop *loop, eva_stream *stream,
                             const char *path, int64_t timeout_ms, eva_unix_connect_fn cb);
EVA_API eva_op eva_unix_connect_op(eva_unix_connect_req *req, eva_stream *stream, const char *path,
                                   int64_t timeout_ms);
/* The promise's value is the eva_unix_connect_req. */
EVA_API int eva_unix_connect_promise(eva_loop *loop, eva_stream *stream, const char *path,
                                     int64_t timeout_ms, eva_promise **out);

/* The peer's process, user and group as the kernel recorded them at connect
 * (SO_PEERCRED); any pointer may be NULL.  Returns 0, -EINVAL (NULL
 * stream), -EBADF (not open), -ENOTSOCK (not a socket: a pipe),
 * -EAFNOSUPPORT (a socket, but not a Unix one). */
EVA_API int eva_unix_get_peercred(const eva_stream *stream, pid_t *pid, uid_t *uid, gid_t *gid);

/* Descriptor passing.  A write that carries nfds (1..EVA_UNIX_MAX_FDS)
 * descriptors with its first byte (len >= 1): fds is REFERENCED until the
 * completion, and the descriptors stay yours (the kernel passes copies: close
 * yours when you like after the completion).  Queued in order with the other
 * writes; otherwise like eva_stream_write / eva_stream_write_op.
 * Start errors besides eva_stream_write's: -EINVAL (nfds or len out of
 * range), -ENOTSOCK (not a socket), -EAFNOSUPPORT (not a Unix socket). */
EVA_API int eva_unix_write_fds(eva_stream_write_req *req, eva_stream *stream, const void *buf, size_t len,
                               const int *fds, int nfds, eva_stream_write_fn cb);
EVA_API eva_op eva_unix_write_fds_op(eva_stream_write_req *req, eva_stream *stream, const void *buf,
                                     size_t len, const int *fds, int nfds);

/* A read-some that also receives descriptors into fds (maxfds of them,
 * 1..EVA_UNIX_MAX_FDS): req->nread bytes and req->nfds descriptors.  The
 * received descriptors are YOURS (close-on-exec set; close them).  A message
 * carrying more than maxfds: the read fails with -EMSGSIZE, its bytes are in
 * the buffer (nread) and every descriptor that came with them is closed
 * (nfds 0): no descriptor is lost silently or left open.  Descriptors never
 * come without bytes; a plain eva_stream_read of bytes that carried some
 * makes the kernel close them.  Start errors besides eva_stream_read's:
 * -EINVAL (maxfds), -ENOTSOCK, -EAFNOSUPPORT. */
EVA_API int eva_unix_read_fds(eva_stream_read_req *req, eva_stream *stream, void *buf, size_t len, int *fds,
                              int maxfds, eva_stream_read_fn cb);
EVA_API eva_op eva_unix_read_fds_op(eva_stream_read_req *req, eva_stream *stream, void *buf, size_t len,
                                    int *fds, int maxfds);

#ifdef __cplusplus
}
#endif
#endif
