/* evasync/io.h — file-descriptor readiness watchers (a handle).
 *
 * Level-triggered, as libev's ev_io: the callback runs on every iteration in
 * which the fd is ready for one of the requested events.  The caller owns the
 * eva_io's memory and the fd; stop the watcher before closing the fd.
 */
#ifndef EVASYNC_IO_H
#define EVASYNC_IO_H

#include <stdbool.h>
#include <ev.h>

#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eva_loop eva_loop;
typedef struct eva_io eva_io;

enum {
    EVA_READ  = EV_READ,  /* the fd is readable (or at EOF / in error) */
    EVA_WRITE = EV_WRITE, /* the fd is writable */
    EVA_ERROR = EV_ERROR  /* libev could not watch the fd (e.g. it was closed
                             while watched); the watcher is already stopped */
};

/* events: the ready subset of EVA_READ | EVA_WRITE, or EVA_ERROR. */
typedef void (*eva_io_fn)(eva_io *io, int events);

/* eva_io: 72 bytes on x86_64 (ABI: tests/test_struct_sizes.c).  Caller-owned;
 * read only the public fields, never the private ones. */
struct eva_io {
    /* public: */
    void *data;     /* the caller's */
    /* private: */
    ev_io w;
    eva_loop *loop;
    eva_io_fn cb;
};

/* Bind io to loop; it starts inactive.  Returns 0, or -EINVAL.  Never re-init
 * an active watcher (stop it first): libev would keep the old registration. */
EVA_API int eva_io_init(eva_loop *loop, eva_io *io);

/* (Re)start watching fd for events (EVA_READ, EVA_WRITE or both).  Starting an
 * active watcher changes its fd and events.  data is stored in io->data.
 * Returns 0; -EINVAL (NULL io or cb, uninitialised io, fd < 0, events empty
 * or with other bits); -EBADF (fd is not an open descriptor). */
EVA_API int eva_io_start(eva_io *io, int fd, int events, eva_io_fn cb, void *data);

/* Stop watching.  Stopping an inactive watcher does nothing.  Returns 0 or -EINVAL. */
EVA_API int eva_io_stop(eva_io *io);

/* true while the watcher is started (false for NULL). */
EVA_API bool eva_io_is_active(const eva_io *io);

/* The loop io was bound to by eva_io_init (NULL for NULL). */
EVA_API eva_loop *eva_io_get_loop(const eva_io *io);

#ifdef __cplusplus
}
#endif
#endif
