/* net/listen_fds.c — listeners someone else opened: adopting a listening
 * socket, and systemd's socket activation protocol (sd_listen_fds(3)),
 * parsed from the environment so that libsystemd is not needed. */
#define _GNU_SOURCE /* strchrnul */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net_internal.h"
#include "evasync/listen.h"

/* ---- adopting one listener ----------------------------------------------------------- */

/* 0 when fd is a listening stream socket; else why not (the refusals that
 * need explaining are logged). */
static int check_listening(eva_loop *loop, int fd) {
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISSOCK(st.st_mode)) {
        eva__log(loop, EVA_LOG_WARN, "eva_server_adopt: fd %d is not a socket", fd);
        return -ENOTSOCK;
    }
    int listening = 0, type = 0;
    socklen_t len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0)
        return -errno;
    if (!listening) {
        eva__log(loop, EVA_LOG_WARN,
                 "eva_server_adopt: fd %d is a socket that is not listening (no listen() on it): "
                 "a connection is opened with eva_stream_open",
                 fd);
        return -EINVAL;
    }
    len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
        return -errno;
    if (type != SOCK_STREAM) {
        eva__log(loop, EVA_LOG_WARN, "eva_server_adopt: fd %d listens, but is not a stream socket (SO_TYPE %d)",
                 fd, type);
        return -EPROTOTYPE;
    }
    return 0;
}

int eva_server_adopt(eva_loop *loop, eva_server *server, int fd, int accept_batch) {
    if (!loop || !server || fd < 0 || accept_batch < 0)
        return -EINVAL;
    if (eva__server_is_open(server))
        return -EBUSY;
    int rc = check_listening(loop, fd);
    if (rc == 0)
        rc = eva__fd_nonblock(fd);
    return rc < 0 ? rc : eva__server_start(loop, server, fd, accept_batch);
}

/* ---- socket activation --------------------------------------------------------------- */

static const char *const ACTIVATION_VARS[] = {"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"};

/* A decimal number 1..INT_MAX with nothing around it (strtol alone would
 * take " 12", "+12" and "12abc"), or -1. */
static long parse_positive(const char *s) {
    if (*s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    return errno || *end || v <= 0 || v > INT_MAX ? -1 : v;
}

/* How many descriptors are ours: 0 when none were passed to this process,
 * else LISTEN_FDS, or -EINVAL for variables that make no sense. */
static int activation_count(eva_loop *loop) {
    const char *pid = getenv("LISTEN_PID");
    if (!pid)
        return 0; /* not socket-activated: the usual case, nothing to say */
    long owner = parse_positive(pid);
    if (owner < 0) {
        eva__log(loop, EVA_LOG_ERROR, "socket activation: LISTEN_PID=\"%s\" is not a process id", pid);
        return -EINVAL;
    }
    if (owner != getpid()) {
        /* inherited from a parent that did not unset them: not for us */
        eva__log(loop, EVA_LOG_WARN,
                 "socket activation: LISTEN_PID=%ld is not this process (%ld): ignoring LISTEN_FDS",
                 owner, (long)getpid());
        return 0;
    }
    const char *count = getenv("LISTEN_FDS");
    if (!count)
        return 0;
    long n = parse_positive(count);
    if (n < 0 || n > INT_MAX - EVA_LISTEN_FDS_START) {
        eva__log(loop, EVA_LOG_ERROR, "socket activation: LISTEN_FDS=\"%s\" is not a descriptor count", count);
        return -EINVAL;
    }
    return (int)n;
}

static int count_names(const char *names) {
    int n = 1;
    for (const char *p = names; (p = strchr(p, ':')); p++)
        n++;
    return n;
}

/* fds[0..n-1]'s names: LISTEN_FDNAMES's colon-separated fields, or
 * "unknown" without it (sd_listen_fds_with_names). */
static int take_names(eva_loop *loop, eva_listen_fd *fds, int n) {
    const char *names = getenv("LISTEN_FDNAMES");
    if (names && count_names(names) != n) {
        eva__log(loop, EVA_LOG_ERROR, "socket activation: LISTEN_FDNAMES has %d names for LISTEN_FDS=%d",
                 count_names(names), n);
        return -EINVAL;
    }
    for (int i = 0; i < n; i++) {
        const char *name = names ? names : "unknown";
        size_t len = (size_t)(strchrnul(name, ':') - name);
        if (len > EVA_LISTEN_FDNAME_MAX) {
            eva__log(loop, EVA_LOG_ERROR, "socket activation: name %d in LISTEN_FDNAMES is longer than %d bytes",
                     i + 1, EVA_LISTEN_FDNAME_MAX);
            return -EINVAL;
        }
        memcpy(fds[i].name, name, len);
        fds[i].name[len] = '\0';
        if (names)
            names += len + 1;
    }
    return 0;
}

/* The descriptors themselves, close-on-exec from now on: they are this
 * process's, not its children's. */
static int take_fds(eva_loop *loop, eva_listen_fd *fds, int n) {
    for (int i = 0; i < n; i++) {
        int fd = fds[i].fd = EVA_LISTEN_FDS_START + i;
        int fl = fcntl(fd, F_GETFD);
        if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0) {
            int err = -errno;
            eva__log(loop, EVA_LOG_ERROR, "socket activation: LISTEN_FDS=%d, but fd %d: %s", n, fd,
                     eva_strerror(err));
            return err;
        }
    }
    return 0;
}

int eva_listen_fds(eva_loop *loop, eva_listen_fd *fds, int max, unsigned flags) {
    if (!loop || max < 0 || (!fds && max > 0) || (flags & ~(unsigned)EVA_LISTEN_FDS_KEEP_ENV))
        return -EINVAL;
    int n = activation_count(loop);
    if (n > max) {
        eva__log(loop, EVA_LOG_ERROR, "socket activation: LISTEN_FDS=%d, room for %d", n, max);
        return -E2BIG;
    }
    int rc = n > 0 ? take_names(loop, fds, n) : 0;
    if (rc == 0 && n > 0)
        rc = take_fds(loop, fds, n);
    if (!(flags & EVA_LISTEN_FDS_KEEP_ENV))
        for (size_t i = 0; i < sizeof ACTIVATION_VARS / sizeof *ACTIVATION_VARS; i++)
            unsetenv(ACTIVATION_VARS[i]);
    return rc < 0 ? rc : n;
}

/* All or nothing: the servers adopted so far are closed (with their
 * descriptors), and so are the descriptors not adopted yet. */
static void drop_inherited(eva_server *servers, int adopted, const eva_listen_fd *fds, int n) {
    for (int i = 0; i < n; i++) {
        if (i < adopted)
            eva_server_close(&servers[i]);
        else
            close(fds[i].fd);
    }
}

int eva_listen_fds_adopt(eva_loop *loop, eva_server *servers, eva_listen_fd *fds, int max, unsigned flags) {
    if (!servers || !fds)
        return -EINVAL;
    int n = eva_listen_fds(loop, fds, max, flags);
    for (int i = 0; i < n; i++) {
        int rc = eva_server_adopt(loop, &servers[i], fds[i].fd, 0);
        if (rc < 0) {
            drop_inherited(servers, i, fds, n);
            return rc;
        }
    }
    return n;
}
