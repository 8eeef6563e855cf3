/* net/stream_io.c — the system calls that differ by descriptor kind: what
 * eva_stream_open accepts, how bytes go out without SIGPIPE, and what a
 * half-close is.  Sockets use send/sendmsg (MSG_NOSIGNAL) and shutdown();
 * pipes, FIFOs, ttys and character devices use writev, and a half-close of
 * a write-only one is its close. */
#define _GNU_SOURCE /* TCP_NODELAY */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "net_internal.h"

/* ---- what a descriptor is ------------------------------------------------------------- */

static int classify_socket(eva_loop *loop, int fd, eva__stream_kind *kind) {
    int type = 0, listening = 0;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
        return -errno;
    if (type != SOCK_STREAM) {
        eva__log(loop, EVA_LOG_WARN, "eva_stream_open: fd %d is not a stream socket (SO_TYPE %d)", fd, type);
        return -EPROTOTYPE;
    }
    len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening) {
        eva__log(loop, EVA_LOG_WARN,
                 "eva_stream_open: fd %d is a listening socket: accept from it with an eva_server", fd);
        return -EINVAL;
    }
    int domain = 0;
    len = sizeof domain;
    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len);
    kind->socket = true;
    kind->readable = kind->writable = true;
    kind->local = domain == AF_UNIX;
    return 0;
}

int eva__stream_classify(eva_loop *loop, int fd, eva__stream_kind *kind) {
    int fl = fcntl(fd, F_GETFL);
    struct stat st;
    if (fl < 0 || fstat(fd, &st) < 0)
        return -EBADF;
    if (S_ISSOCK(st.st_mode))
        return classify_socket(loop, fd, kind);
    if (!S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode)) {
        /* epoll cannot wait on a regular file (always ready), a directory or a
         * block device: their reads block the loop however they are made */
        eva__log(loop, EVA_LOG_WARN,
                 "eva_stream_open: fd %d is a regular file, directory or block device, not a stream: "
                 "read files in the pool",
                 fd);
        return -EPERM;
    }
    int mode = fl & O_ACCMODE;
    kind->socket = kind->local = false;
    kind->readable = mode == O_RDONLY || mode == O_RDWR;
    kind->writable = mode == O_WRONLY || mode == O_RDWR;
    return 0;
}

/* Adopted descriptors are made non-blocking; close-on-exec too, except
 * stdin/stdout/stderr, which children are meant to inherit. */
static int adopt_flags(int fd) {
    if (fd > STDERR_FILENO)
        return eva__fd_nonblock(fd);
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
}

int eva_stream_open(eva_loop *loop, eva_stream *stream, int fd) {
    if (!loop || !stream || fd < 0)
        return -EINVAL;
    if (eva_stream_is_open(stream))
        return -EBUSY;
    eva__stream_kind kind;
    int rc = eva__stream_classify(loop, fd, &kind);
    if (rc < 0 || (rc = adopt_flags(fd)) < 0)
        return rc;
    if (kind.socket && !kind.local) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* not TCP: harmless */
    }
    rc = eva__stream_attach(loop, stream, fd);
    if (rc == 0)
        stream->kind = kind;
    return rc;
}

/* ---- writing ------------------------------------------------------------------------------ */

/* writev with SIGPIPE blocked on this thread; an EPIPE's SIGPIPE, raised for
 * this thread and now pending, is taken off before unblocking, so it is
 * never delivered.  One already pending (the program blocks SIGPIPE itself)
 * is left alone: it is not ours. */
static ssize_t writev_nosigpipe(int fd, const struct iovec *iov, int cnt) {
    sigset_t pipe_only, old, pending;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
    sigpending(&pending);
    bool ours = !sigismember(&pending, SIGPIPE);
    ssize_t n = writev(fd, iov, cnt);
    int err = errno;
    if (n < 0 && err == EPIPE && ours) {
        const struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_only, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = err;
    return n;
}

/* Room for the most descriptors a message carries. */
typedef union fd_control {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int) * EVA_UNIX_MAX_FDS)];
} fd_control;

static void attach_fds(struct msghdr *msg, fd_control *ctl, const int *fds, int nfds) {
    size_t bytes = sizeof(int) * (size_t)nfds;
    msg->msg_control = ctl->buf;
    msg->msg_controllen = CMSG_SPACE(bytes);
    struct cmsghdr *c = CMSG_FIRSTHDR(msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(bytes);
    memcpy(CMSG_DATA(c), fds, bytes);
}

ssize_t eva__stream_writev(eva_stream *stream, const struct iovec *iov, int cnt, const int *fds, int nfds) {
    if (stream->tls)
        return eva__tls_writev(stream, iov, cnt); /* no descriptors: eva__stream_check_local refused them */
    ssize_t n;
    do {
        if (stream->kind.socket) {
            struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)cnt};
            fd_control ctl;
            if (nfds > 0)
                attach_fds(&msg, &ctl, fds, nfds);
            n = sendmsg(stream->fd, &msg, MSG_NOSIGNAL);
        } else {
            n = writev_nosigpipe(stream->fd, iov, cnt);
        }
    } while (n < 0 && errno == EINTR);
    return n;
}

/* ---- reading ------------------------------------------------------------------------------ */

ssize_t eva__stream_recv(eva_stream *stream, void *buf, size_t len, bool peek) {
    if (stream->tls)
        return eva__tls_recv(stream, buf, len, peek);
    ssize_t n = peek ? recv(stream->fd, buf, len, MSG_PEEK) : read(stream->fd, buf, len);
    return n < 0 ? -errno : n;
}

/* ---- half-close -------------------------------------------------------------------------- */

int eva__stream_shut_fd(eva_stream *stream) {
    int rc = stream->tls ? eva__tls_shutdown(stream) : 0; /* close_notify first: the peer reads a clean end */
    if (rc < 0)
        return rc;
    if (stream->kind.socket)
        return shutdown(stream->fd, SHUT_WR) < 0 ? -errno : 0;
    if (stream->kind.readable)
        return -EOPNOTSUPP; /* a tty or a read-write device has no half of its own to close */
    eva__stream_close_now(stream, false, 0); /* a pipe's write end: its only side */
    return 0;
}

/* ---- descriptor passing ------------------------------------------------------------------ */

int eva__stream_check_local(const eva_stream *stream) {
    if (stream->tls)
        return -EOPNOTSUPP; /* descriptors cannot go through TLS records */
    if (!stream->kind.socket)
        return -ENOTSOCK;
    return stream->kind.local ? 0 : -EAFNOSUPPORT;
}

/* Keep the descriptors that fit; a truncated set is closed whole, so the
 * caller owns either all that came or none. */
static void take_fds(struct msghdr *msg, int *fds, int maxfds, int *nfds, bool *lost) {
    *nfds = 0;
    *lost = (msg->msg_flags & MSG_CTRUNC) != 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        int n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        const unsigned char *data = CMSG_DATA(c);
        for (int i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, data + sizeof fd * (size_t)i, sizeof fd);
            if (*nfds < maxfds)
                fds[(*nfds)++] = fd;
            else {
                close(fd);
                *lost = true;
            }
        }
    }
    if (*lost) {
        for (int i = 0; i < *nfds; i++)
            close(fds[i]);
        *nfds = 0;
    }
}

ssize_t eva__stream_recv_fds(int fd, void *buf, size_t len, int *fds, int maxfds, int *nfds, bool *lost) {
    struct iovec v = {.iov_base = buf, .iov_len = len};
    fd_control ctl;
    /* room for maxfds + 1: one more than fits shows as a truncation we see
     * and count, rather than only the kernel's MSG_CTRUNC */
    size_t room = CMSG_SPACE(sizeof(int) * (size_t)(maxfds < EVA_UNIX_MAX_FDS ? maxfds + 1 : maxfds));
    struct msghdr msg = {.msg_iov = &v, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = room};
    ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0)
        return -errno;
    take_fds(&msg, fds, maxfds, nfds, lost);
    return n;
}
