/* evasync/listen.h — listening sockets that are already open: one a
 * supervisor passes (any listening stream socket, TCP or Unix), and
 * systemd's socket activation (LISTEN_PID / LISTEN_FDS / LISTEN_FDNAMES,
 * the protocol of sd_listen_fds(3), parsed here: libsystemd is not needed).
 * The adopted listeners are ordinary servers (evasync/stream.h): accept from
 * them and close them there.
 */
#ifndef EVASYNC_LISTEN_H
#define EVASYNC_LISTEN_H

#include "export.h"
#include "stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An eva_server must be zero-initialised (or closed) before eva_server_adopt.
 * Make server the server of fd, a socket that is listening already (bound
 * and listen()ed by someone else: a supervisor, systemd, a parent before
 * exec).  fd is made non-blocking and close-on-exec; on success the server
 * owns it (eva_server_close closes it), on failure it stays the caller's,
 * untouched but for those two flags.  accept_batch as in
 * eva_tcp_listen_options (0: 64).
 * Returns 0; -EINVAL (NULL, fd < 0, accept_batch < 0, or fd is a socket that
 * is not listening: logged with the reason); -EBADF (fd is not open);
 * -ENOTSOCK (not a socket: a pipe, a file); -EPROTOTYPE (a listening socket
 * that is not SOCK_STREAM, e.g. SOCK_SEQPACKET: logged); -EBUSY (server is
 * open); -ENOMEM. */
EVA_API int eva_server_adopt(eva_loop *loop, eva_server *server, int fd, int accept_batch);

enum {
    EVA_LISTEN_FDS_START = 3,       /* the first inherited descriptor (SD_LISTEN_FDS_START) */
    EVA_LISTEN_FDNAME_MAX = 255,    /* the longest name systemd gives (FileDescriptorName=) */
    /* eva_listen_fds: leave LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES in the
     * environment (default: unset them, as sd_listen_fds(1) does, so that
     * children started later do not take the descriptors for theirs). */
    EVA_LISTEN_FDS_KEEP_ENV = 1u << 0
};

/* One inherited descriptor.
 * eva_listen_fd: 260 bytes on x86_64, all public (ABI: tests/test_struct_sizes.c). */
typedef struct eva_listen_fd {
    int fd;                                 /* EVA_LISTEN_FDS_START + its index */
    char name[EVA_LISTEN_FDNAME_MAX + 1];   /* from LISTEN_FDNAMES; "unknown" without it */
} eva_listen_fd;

/* The descriptors systemd (or systemd-socket-activate, or any supervisor
 * speaking the protocol) passed to this process, with sd_listen_fds
 * semantics: none (0) unless LISTEN_PID is this process's pid and
 * LISTEN_FDS is set; then LISTEN_FDS descriptors starting at
 * EVA_LISTEN_FDS_START, each made close-on-exec, into fds[0..n-1] with their
 * names from LISTEN_FDNAMES (colon-separated, one per descriptor).  The
 * descriptors are the caller's (adopt them with eva_server_adopt or
 * eva_listen_fds_adopt, or close them); they may be of any kind (a
 * datagram socket, a FIFO, a connection with Accept=yes): this call does not
 * look at what they are.  The variables are unset on every return but
 * -E2BIG unless flags has EVA_LISTEN_FDS_KEEP_ENV.  Every refusal is logged
 * through loop's log hook, saying why; a LISTEN_PID that names another
 * process (the variables were inherited by mistake) is logged as a warning
 * and gives 0, as sd_listen_fds does.
 * Returns n >= 0; -EINVAL (NULL loop, fds NULL with max > 0, max < 0,
 * unknown flags, a LISTEN_PID or LISTEN_FDS that is not a positive decimal
 * number, LISTEN_FDNAMES with a number of names other than LISTEN_FDS or a
 * name longer than EVA_LISTEN_FDNAME_MAX); -EBADF (LISTEN_FDS counts more
 * descriptors than are open); -E2BIG (more than max: nothing is changed,
 * the environment neither; call again with room for them). */
EVA_API int eva_listen_fds(eva_loop *loop, eva_listen_fd *fds, int max, unsigned flags);

/* eva_listen_fds, then eva_server_adopt of each into servers[0..n-1]
 * (zero-initialised or closed), whose names are fds[i].name (fds has room
 * for max, as for eva_listen_fds).  All or nothing: when one cannot be
 * adopted (it is not a listening stream socket: -EINVAL, -ENOTSOCK,
 * -EPROTOTYPE, logged) the servers adopted so far are closed and every
 * inherited descriptor is closed, so none leaks; use eva_listen_fds and
 * eva_server_adopt for a set that mixes kinds.
 * Returns n >= 0 (the servers[0..n-1] are open) or eva_listen_fds's and
 * eva_server_adopt's errors. */
EVA_API int eva_listen_fds_adopt(eva_loop *loop, eva_server *servers, eva_listen_fd *fds, int max,
                                 unsigned flags);

#ifdef __cplusplus
}
#endif
#endif
