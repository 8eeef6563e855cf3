/* net/unix.c — Unix domain stream sockets: addresses (path or "@abstract"),
 * listen with the stale-socket-file policy, connect, peer credentials.  The
 * streams and servers are the common ones; descriptor passing is in
 * stream_read.c / stream_write.c / stream_io.c. */
#define _GNU_SOURCE /* struct ucred */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net_internal.h"

/* path into *sun; its length in *len.  0, -EINVAL, -ENAMETOOLONG. */
static int unix_addr(const char *path, struct sockaddr_un *sun, socklen_t *len) {
    if (!path || !path[0] || (path[0] == '@' && !path[1]))
        return -EINVAL;
    bool abstract = path[0] == '@';
    size_t n = strlen(path); /* abstract: '@' becomes the leading NUL */
    if (n >= sizeof sun->sun_path)
        return -ENAMETOOLONG;
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, path, n);
    if (abstract)
        sun->sun_path[0] = '\0';
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (abstract ? 0 : 1));
    return 0;
}

/* A socket file nobody listens on: a connect to it is refused. */
static bool stale_socket_file(const struct sockaddr_un *sun, socklen_t len) {
    struct stat st;
    if (lstat(sun->sun_path, &st) < 0 || !S_ISSOCK(st.st_mode))
        return false;
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (probe < 0)
        return false;
    bool refused = connect(probe, (const struct sockaddr *)sun, len) < 0 && errno == ECONNREFUSED;
    close(probe);
    return refused;
}

static int bind_listen(int fd, const struct sockaddr_un *sun, socklen_t len, int backlog, unsigned flags) {
    int rc = bind(fd, (const struct sockaddr *)sun, len) < 0 ? -errno : 0;
    if (rc == -EADDRINUSE && (flags & EVA_UNIX_UNLINK_STALE) && sun->sun_path[0] &&
        stale_socket_file(sun, len) && unlink(sun->sun_path) == 0)
        rc = bind(fd, (const struct sockaddr *)sun, len) < 0 ? -errno : 0;
    if (rc == 0 && listen(fd, backlog > 0 ? backlog : SOMAXCONN) < 0)
        rc = -errno;
    return rc;
}

int eva_unix_listen(eva_loop *loop, eva_server *server, const char *path, int backlog, unsigned flags) {
    if (!loop || !server || backlog < 0 || (flags & ~(unsigned)EVA_UNIX_UNLINK_STALE))
        return -EINVAL;
    struct sockaddr_un sun;
    socklen_t len;
    int rc = unix_addr(path, &sun, &len);
    if (rc < 0)
        return rc;
    if (eva__server_is_open(server))
        return -EBUSY;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    rc = bind_listen(fd, &sun, len, backlog, flags);
    if (rc == 0)
        rc = eva__server_start(loop, server, fd, 0);
    if (rc < 0)
        close(fd);
    return rc;
}

/* ---- connect ------------------------------------------------------------------------------ */

static void connect_notify(eva__req *r, int status) {
    eva_unix_connect_req *req = EVA__CONTAINER_OF(r, eva_unix_connect_req, req);
    ((eva_unix_connect_fn)r->to.cb)(req, status);
}

/* As for TCP (tcp_connect.c): closing completes the connect with -ECANCELED. */
static void connect_await_cancel(eva_task *t) {
    eva_unix_connect_req *req = eva_task_get_wait_obj(t);
    if (!eva__req_queued(&req->req))
        eva__stream_close_now(req->stream, false, -ECANCELED);
}

static const eva__req_kind connect_kind = {{"unix connect", connect_await_cancel}, connect_notify, eva__stream_message};

static int connect_fill(eva_unix_connect_req *req, eva_loop *loop, eva_stream *stream, const char *path,
                        int64_t timeout_ms) {
    req->stream = stream;
    req->loop = loop;
    req->timeout_ms = timeout_ms;
    req->addrlen = 0;
    return unix_addr(path, &req->addr, &req->addrlen);
}

static int connect_begin(eva_unix_connect_req *req, void (*cb)(void)) {
    eva__connect_args a = {&req->req, &connect_kind, req->loop, req->stream,
                           (const struct sockaddr *)&req->addr, req->addrlen, req->timeout_ms};
    return eva__stream_connect_begin(&a, cb);
}

int eva_unix_connect(eva_unix_connect_req *req, eva_loop *loop, eva_stream *stream, const char *path,
                     int64_t timeout_ms, eva_unix_connect_fn cb) {
    if (!req || !cb)
        return -EINVAL;
    if (req->req.busy)
        return -EBUSY;
    int rc = connect_fill(req, loop, stream, path, timeout_ms);
    return rc < 0 ? rc : connect_begin(req, (void (*)(void))cb);
}

static int connect_await_start(eva_task *t, const eva_op *op) {
    eva_unix_connect_req *req = op->ptr;
    req->loop = t->loop;
    int rc = connect_begin(req, NULL);
    return rc < 0 ? rc : eva__req_park(&req->req, t, req);
}

eva_op eva_unix_connect_op(eva_unix_connect_req *req, eva_stream *stream, const char *path, int64_t timeout_ms) {
    if (!req || req->req.busy)
        return eva__req_refused_op(req ? -EBUSY : -EINVAL);
    int rc = connect_fill(req, NULL, stream, path, timeout_ms);
    return rc < 0 ? eva__req_refused_op(rc) : (eva_op){.start = connect_await_start, .ptr = req};
}

int eva_unix_connect_promise(eva_loop *loop, eva_stream *stream, const char *path, int64_t timeout_ms,
                             eva_promise **out) {
    if (!loop || !out)
        return -EINVAL;
    eva_unix_connect_req *req = eva__calloc(1, sizeof *req);
    if (!req)
        return -ENOMEM;
    return eva__req_promise(loop, req, eva_unix_connect_op(req, stream, path, timeout_ms), out);
}

/* ---- credentials ------------------------------------------------------------------------- */

int eva_unix_get_peercred(const eva_stream *stream, pid_t *pid, uid_t *uid, gid_t *gid) {
    if (!stream)
        return -EINVAL;
    if (!eva_stream_is_open(stream))
        return -EBADF;
    int rc = eva__stream_check_local(stream);
    if (rc < 0)
        return rc;
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(stream->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return -errno;
    if (pid)
        *pid = cred.pid;
    if (uid)
        *uid = cred.uid;
    if (gid)
        *gid = cred.gid;
    return 0;
}
