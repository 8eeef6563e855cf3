/* evasync/fs.h — files off the loop, in the three styles, and file watching.
 *
 * Regular files are always "ready" to poll(): a read from a cold disk, an
 * fsync or a stat on a slow NFS mount blocks the thread that makes it.  So
 * every call here runs its system call on an IO pool's worker and completes
 * on the loop thread, like libuv's uv_fs_* and tokio::fs.
 *
 * The IO pool.  Each loop has its own, created on the loop's first file
 * request: EVA_FS_POOL_THREADS workers (libuv's default thread pool size)
 * and a queue of EVA_FS_POOL_QUEUE requests; a request beyond that fails to
 * start with -EAGAIN (backpressure, as eva_pool_submit).  It is separate from
 * any CPU pool, so slow disks never starve CPU work nor the reverse.
 * eva_fs_set_pool() hands the loop a pool of the caller's instead.  The
 * loop's own pool is destroyed with the loop.
 *
 * The request.  One type, eva_fs_req, for every call (as uv_fs_t):
 * caller-owned, zero-initialised before its first use; it must stay valid
 * and must not move from a successful start until its completion has run.
 * It carries the call's arguments and its result.  Borrowed arguments: the
 * paths and buffers given to the callback and AWAIT forms are NOT copied:
 * they must stay valid until the completion (the promise forms copy the
 * paths and the bytes to write; a read's buffer is always the caller's).
 * Every descriptor opened here has O_CLOEXEC (whatever flags say), so no
 * file leaks into a child process.
 *
 * Results, "exactly as the system call gives them":
 *   status (callback, AWAIT_RC, promise rejection): 0, or the call's
 *     negative errno (-ENOENT, -EACCES, -EISDIR, -EFBIG, -ENOSPC, ...), or
 *     -ECANCELED;
 *   req->result: on success the call's return value (open: the descriptor;
 *     read/write/pread/pwrite: the byte count, 0 at end of file for reads;
 *     readdir: the number of entries; read_file: the length; otherwise 0);
 *     on failure the same negative code as the status;
 *   req->statbuf: stat, lstat, fstat;  req->entries: readdir;
 *   req->buf: read_file.
 * Result memory (req->entries, req->buf) is allocated through evasync's
 * allocator and belongs to the caller: eva_fs_req_cleanup(req) frees it, or
 * take the pointer (set the field to NULL) and free it later with
 * eva_fs_free().  Starting the request again frees what it still holds.
 *
 * Cancellation (eva_fs_cancel, a cancelled task or promise): a request still
 * queued never runs and completes with -ECANCELED.  A request already
 * running on a worker cannot be interrupted: its system call finishes, its
 * effect stays (a write was written, a rename renamed), and its result is
 * discarded: it completes with -ECANCELED, an opened descriptor is CLOSED
 * (never leaked), a listing or file buffer is freed.
 *
 * Completion: a start that returns 0 completes exactly once, from the loop,
 * never inside the call.  A start error (returned, nothing completes):
 * -EINVAL (NULL loop, request, callback, path or buffer), -EBUSY (the
 * request is in flight), -EAGAIN (the IO pool's queue is full), -ENOMEM, or
 * the error creating the loop's IO pool (-EAGAIN from pthread_create).
 *
 * Loop destroy.  File requests are pool jobs: while one is in flight
 * eva_loop_destroy() changes nothing and returns -EBUSY (cancel them, run the
 * loop until their completions ran, then destroy).  An active watch is a
 * handle, and holds destroy off the same way until eva_fs_watch_stop().
 *
 * Loop thread only, like everything else on a loop.  docs/fs.md has the
 * details and examples.
 */
#ifndef EVASYNC_FS_H
#define EVASYNC_FS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <ev.h>

#include "export.h"
#include "pool.h"
#include "promise.h"
#include "queue.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eva_loop eva_loop;
typedef struct eva_fs_req eva_fs_req;
typedef struct eva_fs_watcher eva_fs_watcher;

/* The loop's own IO pool: its workers, and the requests it queues. */
enum { EVA_FS_POOL_THREADS = 4, EVA_FS_POOL_QUEUE = 4096 };

/* Runs on the loop thread, once.  The request is idle by then: it may be
 * started again, cleaned up or freed from here. */
typedef void (*eva_fs_fn)(eva_fs_req *req, int status);

/* One entry of a readdir listing: "." and ".." are left out; the entries
 * are sorted by name (strcmp).  type is readdir's d_type (DT_REG, DT_DIR,
 * DT_LNK, ...; DT_UNKNOWN where the file system does not say). */
/* eva_fs_dirent: 16 bytes on x86_64, all public (ABI: tests/test_struct_sizes.c). */
typedef struct eva_fs_dirent {
    const char *name;
    unsigned char type;
} eva_fs_dirent;

/* Private: a request's arguments, filled by the start call or _op builder. */
typedef struct eva__fs_args {
    int op;
    int fd;
    int flags;
    unsigned mode;
    const char *path, *path2;
    void *rbuf;       /* read, pread: where the bytes go */
    const void *wbuf; /* write, pwrite, write_file: the bytes */
    size_t len;       /* the buffer's length; read_file: the most bytes accepted */
    int64_t offset;   /* pread, pwrite */
} eva__fs_args;

/* The request (top of this file); read the public fields only. */
/* eva_fs_req: 400 bytes on x86_64 (ABI: tests/test_struct_sizes.c). */
struct eva_fs_req {
    /* public: */
    void *data;              /* the caller's */
    ssize_t result;          /* result: see the top of this file */
    struct stat statbuf;     /* result: stat, lstat, fstat */
    eva_fs_dirent *entries;  /* result: readdir's listing (result entries), one block */
    void *buf;               /* result: read_file's bytes, NUL-terminated (buf[result] == 0) */
    /* private: */
    eva__fs_args args;
    eva_pool_job job;
    bool awaited;            /* to.waiter, not to.cb */
    union {
        eva_fs_fn cb;
        eva_task *waiter;
    } to;
};

/* ---- the calls, each in three forms ------------------------------------
 *
 *   eva_fs_X(loop, req, args..., cb)   callback: 0 or a start error; cb(req, status) later
 *   eva_fs_X_op(req, args...)          AWAIT / AWAIT_RC on the task's loop; no allocation
 *                                      (the pool job is in the request); results in req
 *   eva_fs_X_promise(loop, args..., &p) a promise fulfilled with the allocated
 *                                      eva_fs_req * (owned by the promise, freed with
 *                                      it, results and all: read it through
 *                                      eva_promise_get_value()), or rejected with the
 *                                      status; eva_promise_cancel() cancels the request.
 *                                      Returns 0, a start error, or -ENOMEM.
 *
 * Each call is the system call of its name, made on a worker:
 *   open(path, flags | O_CLOEXEC, mode)     close(fd)
 *   read(fd, buf, len)      pread(fd, buf, len, offset)
 *   write(fd, buf, len)     pwrite(fd, buf, len, offset)   (one call: a short
 *                           count is returned as it is, never retried)
 *   fsync(fd)   fdatasync(fd)   stat(path)   lstat(path)   fstat(fd)
 *   rename(from, to)   unlink(path)   mkdir(path, mode)   rmdir(path)
 *   readdir(path): the whole listing (opendir + readdir + closedir)
 * close() of a descriptor through here: the descriptor is closed even when
 * close reports an error (Linux), so never close it again.
 */

/* open(2): result is the new descriptor (O_CLOEXEC always). */
EVA_API int eva_fs_open(eva_loop *loop, eva_fs_req *req, const char *path, int flags, int mode,
                        eva_fs_fn cb);
EVA_API eva_op eva_fs_open_op(eva_fs_req *req, const char *path, int flags, int mode);
EVA_API int eva_fs_open_promise(eva_loop *loop, const char *path, int flags, int mode,
                                eva_promise **out);

/* close(2). */
EVA_API int eva_fs_close(eva_loop *loop, eva_fs_req *req, int fd, eva_fs_fn cb);
EVA_API eva_op eva_fs_close_op(eva_fs_req *req, int fd);
EVA_API int eva_fs_close_promise(eva_loop *loop, int fd, eva_promise **out);

/* read(2) into buf (the caller's, valid until the completion, in every form). */
EVA_API int eva_fs_read(eva_loop *loop, eva_fs_req *req, int fd, void *buf, size_t len,
                        eva_fs_fn cb);
EVA_API eva_op eva_fs_read_op(eva_fs_req *req, int fd, void *buf, size_t len);
EVA_API int eva_fs_read_promise(eva_loop *loop, int fd, void *buf, size_t len, eva_promise **out);

/* pread(2) at offset. */
EVA_API int eva_fs_pread(eva_loop *loop, eva_fs_req *req, int fd, void *buf, size_t len,
                         int64_t offset, eva_fs_fn cb);
EVA_API eva_op eva_fs_pread_op(eva_fs_req *req, int fd, void *buf, size_t len, int64_t offset);
EVA_API int eva_fs_pread_promise(eva_loop *loop, int fd, void *buf, size_t len, int64_t offset,
                                 eva_promise **out);

/* write(2) of buf (the promise form copies it). */
EVA_API int eva_fs_write(eva_loop *loop, eva_fs_req *req, int fd, const void *buf, size_t len,
                         eva_fs_fn cb);
EVA_API eva_op eva_fs_write_op(eva_fs_req *req, int fd, const void *buf, size_t len);
EVA_API int eva_fs_write_promise(eva_loop *loop, int fd, const void *buf, size_t len,
                                 eva_promise **out);

/* pwrite(2) at offset. */
EVA_API int eva_fs_pwrite(eva_loop *loop, eva_fs_req *req, int fd, const void *buf, size_t len,
                          int64_t offset, eva_fs_fn cb);
EVA_API eva_op eva_fs_pwrite_op(eva_fs_req *req, int fd, const void *buf, size_t len,
                                int64_t offset);
EVA_API int eva_fs_pwrite_promise(eva_loop *loop, int fd, const void *buf, size_t len,
                                  int64_t offset, eva_promise **out);

/* fsync(2). */
EVA_API int eva_fs_fsync(eva_loop *loop, eva_fs_req *req, int fd, eva_fs_fn cb);
EVA_API eva_op eva_fs_fsync_op(eva_fs_req *req, int fd);
EVA_API int eva_fs_fsync_promise(eva_loop *loop, int fd, eva_promise **out);

/* fdatasync(2). */
EVA_API int eva_fs_fdatasync(eva_loop *loop, eva_fs_req *req, int fd, eva_fs_fn cb);
EVA_API eva_op eva_fs_fdatasync_op(eva_fs_req *req, int fd);
EVA_API int eva_fs_fdatasync_promise(eva_loop *loop, int fd, eva_promise **out);

/* stat(2) into req->statbuf. */
EVA_API int eva_fs_stat(eva_loop *loop, eva_fs_req *req, const char *path, eva_fs_fn cb);
EVA_API eva_op eva_fs_stat_op(eva_fs_req *req, const char *path);
EVA_API int eva_fs_stat_promise(eva_loop *loop, const char *path, eva_promise **out);

/* lstat(2) into req->statbuf. */
EVA_API int eva_fs_lstat(eva_loop *loop, eva_fs_req *req, const char *path, eva_fs_fn cb);
EVA_API eva_op eva_fs_lstat_op(eva_fs_req *req, const char *path);
EVA_API int eva_fs_lstat_promise(eva_loop *loop, const char *path, eva_promise **out);

/* fstat(2) into req->statbuf. */
EVA_API int eva_fs_fstat(eva_loop *loop, eva_fs_req *req, int fd, eva_fs_fn cb);
EVA_API eva_op eva_fs_fstat_op(eva_fs_req *req, int fd);
EVA_API int eva_fs_fstat_promise(eva_loop *loop, int fd, eva_promise **out);

/* rename(2). */
EVA_API int eva_fs_rename(eva_loop *loop, eva_fs_req *req, const char *from, const char *to,
                          eva_fs_fn cb);
EVA_API eva_op eva_fs_rename_op(eva_fs_req *req, const char *from, const char *to);
EVA_API int eva_fs_rename_promise(eva_loop *loop, const char *from, const char *to,
                                  eva_promise **out);

/* unlink(2). */
EVA_API int eva_fs_unlink(eva_loop *loop, eva_fs_req *req, const char *path, eva_fs_fn cb);
EVA_API eva_op eva_fs_unlink_op(eva_fs_req *req, const char *path);
EVA_API int eva_fs_unlink_promise(eva_loop *loop, const char *path, eva_promise **out);

/* mkdir(2). */
EVA_API int eva_fs_mkdir(eva_loop *loop, eva_fs_req *req, const char *path, int mode,
                         eva_fs_fn cb);
EVA_API eva_op eva_fs_mkdir_op(eva_fs_req *req, const char *path, int mode);
EVA_API int eva_fs_mkdir_promise(eva_loop *loop, const char *path, int mode, eva_promise **out);

/* rmdir(2). */
EVA_API int eva_fs_rmdir(eva_loop *loop, eva_fs_req *req, const char *path, eva_fs_fn cb);
EVA_API eva_op eva_fs_rmdir_op(eva_fs_req *req, const char *path);
EVA_API int eva_fs_rmdir_promise(eva_loop *loop, const char *path, eva_promise **out);

/* The whole listing of directory path: req->entries holds req->result
 * entries (sorted by name, without "." and ".."), one block: the names live
 * in it too.  Free it with eva_fs_req_cleanup() or eva_fs_free(). */
EVA_API int eva_fs_readdir(eva_loop *loop, eva_fs_req *req, const char *path, eva_fs_fn cb);
EVA_API eva_op eva_fs_readdir_op(eva_fs_req *req, const char *path);
EVA_API int eva_fs_readdir_promise(eva_loop *loop, const char *path, eva_promise **out);

/* ---- conveniences --------------------------------------------------------- */

/* Read the whole file at path: req->buf holds its req->result bytes, plus a
 * terminating NUL (so a text file is a C string).  A file of more than
 * max_bytes fails with -EFBIG: never cut short, nothing returned (a file
 * growing while read counts what was read).  Files whose size stat does not
 * tell (/proc) are read to their end, within the same bound.  Other errors
 * are open's and read's.  Free req->buf with eva_fs_req_cleanup() or
 * eva_fs_free(). */
EVA_API int eva_fs_read_file(eva_loop *loop, eva_fs_req *req, const char *path, size_t max_bytes,
                             eva_fs_fn cb);
EVA_API eva_op eva_fs_read_file_op(eva_fs_req *req, const char *path, size_t max_bytes);
EVA_API int eva_fs_read_file_promise(eva_loop *loop, const char *path, size_t max_bytes,
                                     eva_promise **out);

/* Replace the file at path with len bytes of buf, atomically: a reader sees
 * the old file or the new one, never a part, even across a crash.  The bytes
 * go to a temporary file in path's directory (path + ".tmp" + six random
 * characters), which gets permissions mode (exactly: no umask), is written
 * in full, fsync'ed and renamed over path; then the directory is fsync'ed so
 * the rename itself is durable.  On any failure the temporary file is
 * removed and path is untouched; the status is the failing call's error
 * (-ENOSPC, -EFBIG, -EACCES, ... ; -ENAMETOOLONG for a path too long for the
 * temporary name).  A symbolic link at path is replaced, not followed. */
EVA_API int eva_fs_write_file(eva_loop *loop, eva_fs_req *req, const char *path, const void *buf,
                              size_t len, int mode, eva_fs_fn cb);
EVA_API eva_op eva_fs_write_file_op(eva_fs_req *req, const char *path, const void *buf,
                                    size_t len, int mode);
EVA_API int eva_fs_write_file_promise(eva_loop *loop, const char *path, const void *buf,
                                      size_t len, int mode, eva_promise **out);

/* ---- requests --------------------------------------------------------------- */

/* Cancel a request: see "Cancellation" at the top.  The completion never
 * runs inside this call.  An idle request is left alone.  0, or -EINVAL. */
EVA_API int eva_fs_cancel(eva_fs_req *req);

/* true from a successful start until the completion has run. */
EVA_API bool eva_fs_is_pending(const eva_fs_req *req);

/* Free the result memory the request holds (req->entries, req->buf) and set
 * those fields to NULL.  Not on a request in flight (it does nothing then).
 * NULL is allowed. */
EVA_API void eva_fs_req_cleanup(eva_fs_req *req);

/* Free a result block taken out of a request (req->buf, req->entries).
 * NULL is allowed. */
EVA_API void eva_fs_free(void *block);

/* Run the loop's file requests on pool (the caller's: it must outlive every
 * request started while it is set) instead of the loop's own IO pool; NULL
 * goes back to the loop's own.  Returns 0, -EINVAL (NULL loop), -EBUSY (a
 * file request is in flight on this loop), -ENOMEM. */
EVA_API int eva_fs_set_pool(eva_loop *loop, eva_pool *pool);

/* ---- watching a path ------------------------------------------------------------ */

/* What changed (eva_fs_watch_fn's events, eva_fs_watcher.events). */
enum {
    EVA_FS_CHANGE = 1, /* the file's contents or attributes changed */
    EVA_FS_RENAME = 2  /* the name now names another file, or none: created, deleted,
                          renamed over or away (an editor's save-by-rename) */
};

/* Runs on the loop thread with the changes since the last report (ORed). */
typedef void (*eva_fs_watch_fn)(eva_fs_watcher *w, int events);

/* A watch: caller-owned, zero-initialised before its first use, valid and
 * unmoved while active. */
/* eva_fs_watcher: 480 bytes on x86_64 (ABI: tests/test_struct_sizes.c). */
struct eva_fs_watcher {
    /* public: */
    void *data;        /* the caller's */
    int events;        /* result of eva_fs_wait_change_op: what changed */
    /* private: */
    bool active;
    int wd;            /* inotify watch descriptor of the directory; -1: ev_stat fallback */
    int pending;       /* changes nobody has been told of yet */
    char *path;        /* one allocated block: the path, then its directory */
    const char *name;  /* the last component, in path */
    eva_loop *loop;
    eva_fs_watch_fn cb;
    eva_task *waiter;
    eva_queue node;    /* the loop's watches */
    ev_stat stat;      /* the fallback */
};

/* Watch path: cb(w, events) runs after each batch of changes to the file
 * that path names.  The watch follows the NAME, not the file: a file deleted
 * and created again, or replaced by a rename over it (what editors and
 * eva_fs_write_file do), keeps being watched.  It watches path's directory
 * (inotify, one inotify descriptor per loop, its events filtered by name);
 * the directory itself must stay: if it is removed or renamed, the watch
 * reports EVA_FS_RENAME once and then nothing more.  path may not exist yet
 * (its directory must).  cb may be NULL: then changes are only kept for
 * eva_fs_wait_change_op.  Changes nobody was told of (no callback, no
 * waiting task) accumulate until the next wait.
 * Where inotify_init1 fails (no inotify, descriptors exhausted) the loop
 * falls back to libev's ev_stat, which polls stat(path) on the loop thread
 * every 0.1 s: changes within the same second that keep the size may be
 * missed.
 * The watch is an active handle until eva_fs_watch_stop().  The path is
 * copied.  Returns 0, -EINVAL (NULL loop, w or path, w active, empty
 * path), -ENOMEM, or inotify_add_watch's error for the directory (-ENOENT,
 * -ENOTDIR, -EACCES, -ENOSPC: out of inotify watches). */
EVA_API int eva_fs_watch(eva_loop *loop, eva_fs_watcher *w, const char *path, eva_fs_watch_fn cb);

/* Stop watching, free the path copy; a task waiting for a change resumes
 * with -ECANCELED.  An inactive watch is left alone.  0, or -EINVAL. */
EVA_API int eva_fs_watch_stop(eva_fs_watcher *w);

/* AWAIT(f, eva_fs_wait_change_op(&f->watch)): wait for the next change on an
 * active watch (one with a NULL callback, or alongside it: both are told).
 * Changes already pending complete it at once.  Resumes with 0 (w->events
 * says what changed), or -ECANCELED (the task cancelled, the watch stopped);
 * fails with -EINVAL (inactive watch) or -EBUSY (another task waits on it).
 * No allocation. */
EVA_API eva_op eva_fs_wait_change_op(eva_fs_watcher *w);

/* The promise form: fulfilled (no value: read w->events) at the next
 * change, rejected with -ECANCELED.  0, -EINVAL, or -ENOMEM. */
EVA_API int eva_fs_wait_change_promise(eva_fs_watcher *w, eva_promise **out);

#ifdef __cplusplus
}
#endif
#endif
