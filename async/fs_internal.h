/* async/fs_internal.h — the per-loop state the file calls (fs.c, fs_run.c)
 * and the watches (fs_watch.c) share: one layer per loop. */
#ifndef EVA_FS_INTERNAL_H
#define EVA_FS_INTERNAL_H

#include "evasync/fs.h"
#include "promise_internal.h"

enum {
    FS_OPEN, FS_CLOSE, FS_READ, FS_PREAD, FS_WRITE, FS_PWRITE, FS_FSYNC, FS_FDATASYNC,
    FS_STAT, FS_LSTAT, FS_FSTAT, FS_RENAME, FS_UNLINK, FS_MKDIR, FS_RMDIR, FS_READDIR,
    FS_READ_FILE, FS_WRITE_FILE
};

typedef struct eva__fs_loop {
    eva__layer layer;  /* first: the loop closes us at destroy */
    eva_loop *loop;
    eva_pool *own_pool;  /* created on the first request; NULL until then */
    eva_pool *user_pool; /* eva_fs_set_pool's; NULL: own_pool */
    unsigned in_flight;  /* requests submitted, completion not run */
    int inotify_fd;      /* -2: not tried yet; -1: unavailable (ev_stat fallback) */
    ev_io inotify_io;
    eva_queue watches;
} eva__fs_loop;

/* The loop's fs state, attached on first use; NULL when out of memory. */
eva__fs_loop *eva__fs_loop_get(eva_loop *loop);

/* Run req's system call (on a worker): its result, or a negative errno. */
ssize_t eva__fs_run(eva_fs_req *req);

/* fs_watch.c: stop inotify at loop close. */
void eva__fs_watch_close(eva__fs_loop *fl);

#endif
