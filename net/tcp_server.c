/* net/tcp_server.c — listening sockets of any kind (TCP here, Unix in
 * unix.c): accept in bounded batches, and survive running out of file
 * descriptors without spinning. */
#define _GNU_SOURCE /* accept4, TCP_NODELAY */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "net_internal.h"

enum {
    DEFAULT_ACCEPT_BATCH = 64,
    /* A shortage this long after the previous one is a new episode (logged
     * again); 10 times the longest backoff, so a server kept at its limit by
     * a flood logs once however its clients come and go. */
    FD_LIMIT_EPISODE_GAP_MS = 10000
};

bool eva__server_is_open(const eva_server *srv) { return srv && srv->loop && srv->fd >= 0; }

static bool server_open(const eva_server *srv) { return eva__server_is_open(srv); }

static void watch(eva_server *srv, bool on) {
    struct ev_loop *ev = eva_loop_get_ev(srv->loop);
    if (on && !ev_is_active(&srv->backoff)) /* a paused listener waits for its timer */
        ev_io_start(ev, &srv->io);
    else if (!on)
        ev_io_stop(ev, &srv->io);
}

/* How the logs name srv, by what it listens on: "tcp server on port 8080",
 * "unix server on /run/app.sock", "unix server on @name" (abstract). */
static void server_name(const eva_server *srv, char *buf, size_t size) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(srv->fd, (struct sockaddr *)&ss, &len) < 0)
        snprintf(buf, size, "server on fd %d", srv->fd);
    else if (ss.ss_family == AF_UNIX) {
        const struct sockaddr_un *sun = (const struct sockaddr_un *)&ss;
        int n = (int)(len - offsetof(struct sockaddr_un, sun_path));
        if (n <= 0)
            snprintf(buf, size, "unix server (unnamed)");
        else if (sun->sun_path[0] == '\0')
            snprintf(buf, size, "unix server on @%.*s", n - 1, sun->sun_path + 1);
        else
            snprintf(buf, size, "unix server on %.*s", (int)strnlen(sun->sun_path, (size_t)n), sun->sun_path);
    } else if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)
        snprintf(buf, size, "tcp server on port %d", eva_tcp_server_get_port(srv));
    else
        snprintf(buf, size, "server on fd %d (address family %d)", srv->fd, ss.ss_family);
}

/* "<server>: accept: <error><then>" */
static void accept_log(const eva_server *srv, eva_log_level level, int err, const char *then) {
    char name[160];
    server_name(srv, name, sizeof name);
    eva__log(srv->loop, level, "%s: accept: %s%s", name, eva_strerror(err), then);
}

/* Out of descriptors: drop the connection at the head of the backlog with the
 * spare descriptor (else the fd stays readable and the loop spins), then
 * pause accepting for a growing backoff. */
static void fd_limit(eva_server *srv, int err) {
    if (srv->spare_fd >= 0) {
        close(srv->spare_fd);
        int fd = accept(srv->fd, NULL, NULL);
        if (fd >= 0) {
            close(fd);
            srv->dropped++;
        }
        srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    srv->backoff_ms = srv->backoff_ms ? srv->backoff_ms * 2 : 10;
    if (srv->backoff_ms > 1000)
        srv->backoff_ms = 1000;
    ev_tstamp now = ev_now(eva_loop_get_ev(srv->loop));
    if (!srv->fd_limit_at || now - srv->fd_limit_at >= FD_LIMIT_EPISODE_GAP_MS / 1e3)
        accept_log(srv, EVA_LOG_WARN, err, ": dropping connections and pausing accept (logged once per episode)");
    srv->fd_limit_at = now;
    ev_io_stop(eva_loop_get_ev(srv->loop), &srv->io);
    ev_timer_set(&srv->backoff, (double)srv->backoff_ms / 1e3, 0.);
    ev_timer_start(eva_loop_get_ev(srv->loop), &srv->backoff);
}

/* One connection's fd, or -EAGAIN when there is none (or we are paused). */
static int accept_one(eva_server *srv) {
    for (;;) {
        int fd = accept4(srv->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            srv->accepted++;
            srv->backoff_ms = 0;
            return fd;
        }
        int err = -errno;
        if (err == -EINTR || err == -ECONNABORTED || err == -EPROTO)
            continue; /* that peer is gone; try the next */
        if (err == -EMFILE || err == -ENFILE || err == -ENOBUFS || err == -ENOMEM) {
            fd_limit(srv, err);
            return -EAGAIN;
        }
        if (err != -EAGAIN && err != -EWOULDBLOCK)
            accept_log(srv, EVA_LOG_ERROR, err, "");
        return -EAGAIN;
    }
}

/* Accepts are rationed per loop iteration (accept_batch, and at most
 * ACCEPT_SLICE_NS of accepting) so a burst of connections cannot keep the
 * loop from its other events: what is left in the backlog keeps the listener
 * readable (libev's io is level-triggered), so the next iteration takes the
 * next batch without waiting for a new connection.  The time slice is there
 * because one accept can cost far more than usual during a burst (the kernel
 * finishes queued handshakes in the accepting thread): a clock read per
 * accept is cheap next to the accept itself. */
enum { ACCEPT_SLICE_NS = 1000000 };

static bool accept_budget_left(eva_server *srv) {
    unsigned iteration = ev_iteration(eva_loop_get_ev(srv->loop));
    if (srv->batch_iteration != iteration) {
        srv->batch_iteration = iteration;
        srv->batch_used = 0;
        srv->batch_started_ns = eva_hrtime();
        return srv->accept_batch > 0;
    }
    return srv->batch_used < srv->accept_batch &&
           eva_hrtime() - srv->batch_started_ns < ACCEPT_SLICE_NS;
}

/* One fd within this iteration's budget, or -EAGAIN. */
static int accept_rationed(eva_server *srv) {
    if (!accept_budget_left(srv))
        return -EAGAIN;
    int fd = accept_one(srv);
    if (fd >= 0)
        srv->batch_used++;
    return fd;
}

static void on_ready(struct ev_loop *ev, ev_io *w, int revents) {
    (void)ev;
    (void)revents;
    eva_server *srv = EVA__CONTAINER_OF(w, eva_server, io);
    eva_server_accept_req *req = srv->pending;
    if (req) {
        int fd = accept_rationed(srv);
        if (fd < 0)
            return;
        srv->pending = NULL;
        req->fd = fd;
        watch(srv, false);
        eva__req_done(srv->loop, &req->req, 0);
        return;
    }
    while (srv->cb) { /* the callback may stop accepting or close the server */
        int fd = accept_rationed(srv);
        if (fd < 0)
            return;
        EVA__CALL_USER(srv->loop, srv->cb, srv->cb(srv, fd));
    }
}

static void on_backoff(struct ev_loop *ev, ev_timer *w, int revents) {
    (void)ev;
    (void)revents;
    eva_server *srv = EVA__CONTAINER_OF(w, eva_server, backoff);
    if (srv->cb || srv->pending)
        watch(srv, true);
}

int eva_tcp_listen(eva_loop *loop, eva_server *srv, const struct sockaddr *addr,
                   socklen_t addrlen, const eva_tcp_listen_options *opts) {
    if (!loop || !srv || !addr || (addr->sa_family != AF_INET && addr->sa_family != AF_INET6) ||
        (opts && opts->accept_batch < 0))
        return -EINVAL;
    if (server_open(srv))
        return -EBUSY;
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1, rc = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (opts && opts->reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
        rc = -errno;
    if (!rc && addr->sa_family == AF_INET6 && opts && opts->ipv6_only &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0)
        rc = -errno;
    if (!rc && bind(fd, addr, addrlen) < 0)
        rc = -errno;
    if (!rc && listen(fd, opts && opts->backlog > 0 ? opts->backlog : SOMAXCONN) < 0)
        rc = -errno;
    if (!rc)
        rc = eva__server_start(loop, srv, fd, opts ? opts->accept_batch : 0);
    if (rc)
        close(fd);
    return rc;
}

int eva__server_start(eva_loop *loop, eva_server *srv, int fd, int accept_batch) {
    if (server_open(srv))
        return -EBUSY;
    eva__net_loop *nl = eva__net_loop_get(loop);
    if (!nl)
        return -ENOMEM;
    void *data = srv->data;
    *srv = (eva_server){.data = data, .loop = loop, .fd = fd,
                        .spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC),
                        .accept_batch = accept_batch > 0 ? accept_batch : DEFAULT_ACCEPT_BATCH};
    ev_io_init(&srv->io, on_ready, fd, EV_READ);
    ev_init(&srv->backoff, on_backoff);
    eva__net_link_server(nl, srv);
    return 0;
}

int eva_tcp_listen_ip(eva_loop *loop, eva_server *srv, const char *ip, uint16_t port,
                      const eva_tcp_listen_options *opts) {
    if (!ip)
        return -EINVAL;
    struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_port = htons(port)};
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
    if (inet_pton(AF_INET, ip, &v4.sin_addr) == 1)
        return eva_tcp_listen(loop, srv, (struct sockaddr *)&v4, sizeof v4, opts);
    if (inet_pton(AF_INET6, ip, &v6.sin6_addr) == 1)
        return eva_tcp_listen(loop, srv, (struct sockaddr *)&v6, sizeof v6, opts);
    return -EINVAL;
}

int eva_tcp_server_get_port(const eva_server *srv) {
    if (!server_open(srv))
        return -EBADF;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(srv->fd, (struct sockaddr *)&ss, &len) < 0)
        return -errno;
    if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)
        return -EAFNOSUPPORT; /* a Unix server has a path, not a port */
    return ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                    : ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

int eva_server_accept_start(eva_server *srv, eva_server_accept_fn cb) {
    if (!server_open(srv) || !cb)
        return -EINVAL;
    if (srv->pending)
        return -EBUSY;
    srv->cb = cb;
    watch(srv, true);
    return 0;
}

int eva_server_accept_stop(eva_server *srv) {
    if (!srv)
        return -EINVAL;
    srv->cb = NULL;
    if (server_open(srv) && !srv->pending)
        watch(srv, false);
    return 0;
}

int eva_server_close(eva_server *srv) {
    if (!srv)
        return -EINVAL;
    if (!server_open(srv))
        return 0;
    struct ev_loop *ev = eva_loop_get_ev(srv->loop);
    ev_io_stop(ev, &srv->io);
    ev_timer_stop(ev, &srv->backoff);
    close(srv->fd);
    if (srv->spare_fd >= 0)
        close(srv->spare_fd);
    srv->fd = srv->spare_fd = -1;
    srv->cb = NULL;
    eva__net_unlink_server(srv);
    eva_server_accept_req *req = srv->pending;
    if (req) {
        srv->pending = NULL;
        eva__req_done_later(srv->loop, &req->req, -ECANCELED);
    }
    return 0;
}

/* ---- accept requests (pull mode) ---------------------------------------------------- */

static void accept_notify(eva__req *r, int status) {
    eva_server_accept_req *req = EVA__CONTAINER_OF(r, eva_server_accept_req, req);
    ((eva_server_accept_req_fn)r->to.cb)(req, status);
}

/* Nothing is queued while a request waits: withdraw it and wake the task later. */
static void accept_await_cancel(eva_task *t) {
    eva_server_accept_req *req = eva_task_get_wait_obj(t);
    if (eva__req_queued(&req->req))
        return; /* the server closed: the task gets that */
    eva_server *srv = req->server;
    srv->pending = NULL;
    watch(srv, false);
    eva__req_idle(&req->req);
    eva_task_wake_later(t, -ECANCELED);
}

static const eva__req_kind accept_kind = {{"accept", accept_await_cancel}, accept_notify, eva__stream_message};

static int accept_check(const eva_server_accept_req *req, const eva_server *srv) {
    if (!req || !server_open(srv))
        return -EINVAL;
    if (req->req.busy || srv->cb || srv->pending)
        return -EBUSY;
    return 0;
}

/* The server takes the request: its fd comes on a readiness event. */
static void accept_wait(eva_server_accept_req *req, eva_server *srv, void (*cb)(void)) {
    eva__req_take(&req->req, &accept_kind, cb);
    srv->pending = req;
    watch(srv, true);
}

int eva_server_accept(eva_server_accept_req *req, eva_server *srv, eva_server_accept_req_fn cb) {
    int rc = cb ? accept_check(req, srv) : -EINVAL;
    if (rc < 0)
        return rc;
    req->server = srv;
    req->fd = -1;
    accept_wait(req, srv, (void (*)(void))cb);
    return 0;
}

static int accept_await_start(eva_task *t, const eva_op *op) {
    eva_server_accept_req *req = op->ptr;
    eva_server *srv = req->server;
    int rc = accept_check(req, srv);
    if (rc < 0)
        return rc;
    int fd = ev_is_active(&srv->backoff) ? -EAGAIN : accept_rationed(srv);
    req->fd = fd >= 0 ? fd : -1;
    if (fd >= 0)
        return 0;
    accept_wait(req, srv, NULL);
    return eva__req_park(&req->req, t, req);
}

eva_op eva_server_accept_op(eva_server_accept_req *req, eva_server *srv) {
    if (!req || req->req.busy)
        return eva__req_refused_op(req ? -EBUSY : -EINVAL);
    req->server = srv;
    return (eva_op){.start = accept_await_start, .ptr = req};
}

int eva_server_accept_promise(eva_server *srv, eva_promise **out) {
    if (!srv || !out || !srv->loop)
        return -EINVAL;
    eva_server_accept_req *req = eva__calloc(1, sizeof *req);
    if (!req)
        return -ENOMEM;
    return eva__req_promise(srv->loop, req, eva_server_accept_op(req, srv), out);
}
