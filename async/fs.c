/* async/fs.c — file requests (evasync/fs.h): each runs its system call on
 * the loop's IO pool and completes on the loop thread, in the three styles.
 * One request type and one completion path serve every call; the calls
 * themselves are in fs_run.c, the watches in fs_watch.c. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "fs_internal.h"

/* ---- the loop's fs state --------------------------------------------------- */

static eva__layer_key fs_key;

/* Nothing to cancel at destroy: requests in flight are pool jobs and active
 * watches are handles, and eva_loop_destroy refuses while either exists. */
static bool fs_layer_cancel(eva__layer *layer) {
    (void)layer;
    return false;
}

static void fs_layer_close(eva__layer *layer) {
    eva__fs_loop *fl = (eva__fs_loop *)layer;
    eva__fs_watch_close(fl);
    if (fl->own_pool) /* idle: no job of this loop is in flight */
        eva_pool_destroy(fl->own_pool);
    eva__free(fl);
}

eva__fs_loop *eva__fs_loop_get(eva_loop *loop) {
    eva__fs_loop *fl = eva__layer_get(loop, &fs_key);
    if (fl)
        return fl;
    fl = eva__calloc(1, sizeof *fl);
    if (!fl)
        return NULL;
    fl->loop = loop;
    fl->inotify_fd = -2;
    eva__queue_init(&fl->watches);
    fl->layer.cancel = fs_layer_cancel;
    fl->layer.close = fs_layer_close;
    if (eva__layer_attach(loop, &fs_key, &fl->layer) < 0) {
        eva__free(fl);
        return NULL;
    }
    return fl;
}
EVA__LAYER_FIRST(eva__fs_loop, layer);

/* The pool requests run on: the caller's, or the loop's own, made now. */
static int fs_pool(eva__fs_loop *fl, eva_pool **out) {
    if (!fl->user_pool && !fl->own_pool) {
        eva_pool_options opts = {.threads = EVA_FS_POOL_THREADS, .queue_capacity = EVA_FS_POOL_QUEUE};
        int rc = eva_pool_new(&opts, &fl->own_pool);
        if (rc < 0)
            return rc;
    }
    *out = fl->user_pool ? fl->user_pool : fl->own_pool;
    return 0;
}

int eva_fs_set_pool(eva_loop *loop, eva_pool *pool) {
    if (!loop)
        return -EINVAL;
    eva__fs_loop *fl = eva__fs_loop_get(loop);
    if (!fl)
        return -ENOMEM;
    if (fl->in_flight)
        return -EBUSY;
    fl->user_pool = pool;
    return 0;
}

/* ---- results ----------------------------------------------------------------- */

void eva_fs_free(void *block) { eva__free(block); }

static void free_results(eva_fs_req *req) {
    eva__free(req->entries);
    eva__free(req->buf);
    req->entries = NULL;
    req->buf = NULL;
}

void eva_fs_req_cleanup(eva_fs_req *req) {
    if (req && !req->job.in_flight)
        free_results(req);
}

/* A request cancelled while its call ran: nobody will see the result, so
 * release what it holds (the pool calls this on the loop thread). */
static void discard_result(void *result) {
    eva_fs_req *req = result;
    if (req->args.op == FS_OPEN && req->result >= 0)
        close((int)req->result);
    free_results(req);
}

/* ---- the one completion path ------------------------------------------------- */

static void *fs_work(void *arg) {
    eva_fs_req *req = arg;
    req->result = eva__fs_run(req);
    return req; /* never NULL: a discarded result reaches discard_result */
}

/* The request is over: tell its owner, reading nothing of req afterwards
 * (the callback or the woken task may restart or free it). */
static void fs_done(eva_pool_job *job, int status) {
    eva_fs_req *req = EVA__CONTAINER_OF(job, eva_fs_req, job);
    eva_loop *loop = job->loop;
    eva__fs_loop_get(loop)->in_flight--; /* attached before the submit: never NULL */
    if (status < 0)
        req->result = status; /* -ECANCELED */
    status = req->result < 0 ? (int)req->result : 0;
    if (req->awaited) {
        eva_task_wake(req->to.waiter, status, NULL);
        return;
    }
    eva_fs_fn cb = req->to.cb;
    EVA__CALL_USER(loop, cb, cb(req, status));
}

static bool needs_path(int op) {
    switch (op) {
    case FS_OPEN: case FS_STAT: case FS_LSTAT: case FS_RENAME: case FS_UNLINK:
    case FS_MKDIR: case FS_RMDIR: case FS_READDIR: case FS_READ_FILE: case FS_WRITE_FILE:
        return true;
    default:
        return false;
    }
}

static int check_args(const eva__fs_args *a) {
    if (needs_path(a->op) && !a->path)
        return -EINVAL;
    if (a->op == FS_RENAME && !a->path2)
        return -EINVAL;
    if ((a->op == FS_READ || a->op == FS_PREAD) && !a->rbuf && a->len)
        return -EINVAL;
    if ((a->op == FS_WRITE || a->op == FS_PWRITE || a->op == FS_WRITE_FILE) && !a->wbuf && a->len)
        return -EINVAL;
    return 0;
}

/* Submit the idle request, its arguments filled, from loop; the caller
 * then says who is told. */
static int fs_submit(eva_loop *loop, eva_fs_req *req) {
    if (req->job.in_flight)
        return -EBUSY;
    int rc = check_args(&req->args);
    if (rc < 0)
        return rc;
    eva__fs_loop *fl = eva__fs_loop_get(loop);
    if (!fl)
        return -ENOMEM;
    eva_pool *pool;
    if ((rc = fs_pool(fl, &pool)) < 0)
        return rc;
    free_results(req);
    req->result = 0;
    req->job.result_dtor = discard_result;
    rc = eva_pool_submit(pool, loop, &req->job, fs_work, fs_done, req);
    if (rc == 0)
        fl->in_flight++;
    return rc;
}

int eva_fs_cancel(eva_fs_req *req) {
    if (!req)
        return -EINVAL;
    return eva_pool_cancel(&req->job);
}

bool eva_fs_is_pending(const eva_fs_req *req) { return req && req->job.in_flight; }

/* ---- the three forms ------------------------------------------------------------- */

static int fs_start(eva_loop *loop, eva_fs_req *req, const eva__fs_args *a, eva_fs_fn cb) {
    if (!loop || !req || !cb)
        return -EINVAL;
    if (req->job.in_flight)
        return -EBUSY;
    req->args = *a;
    int rc = fs_submit(loop, req);
    if (rc < 0)
        return rc;
    req->awaited = false;
    req->to.cb = cb;
    return 0;
}

/* The request reports through its own completion (the pool job's
 * -ECANCELED, after a running call finished), which wakes the task:
 * task.h's second case. */
static void await_cancel(eva_task *t) { eva_fs_cancel(eva_task_get_wait_obj(t)); }

static const eva_wait_ops fs_wait_ops = {"fs", await_cancel};

static int await_start(eva_task *t, const eva_op *op) {
    eva_fs_req *req = op->ptr;
    if (!req)
        return -EINVAL;
    int rc = fs_submit(t->loop, req);
    if (rc < 0)
        return rc;
    req->awaited = true;
    req->to.waiter = t;
    eva_task_park(t, &fs_wait_ops, req);
    return EVA_PARKED;
}

static eva_op fs_op(eva_fs_req *req, const eva__fs_args *a) {
    if (req && !req->job.in_flight) /* never touch a request in flight */
        req->args = *a;
    return (eva_op){.start = await_start, .ptr = req};
}

static size_t str_size(const char *s) { return s ? strlen(s) + 1 : 0; }

static void promise_req_free(void *p) {
    free_results(p);
    eva__free(p);
}

/* One block: the request, then copies of its paths and of the bytes to
 * write, so the caller's need not outlive the call. */
static eva_fs_req *promise_req_new(const eva__fs_args *a) {
    size_t p1 = str_size(a->path), p2 = str_size(a->path2), w = a->wbuf ? a->len : 0;
    eva_fs_req *req = eva__calloc(1, sizeof *req + p1 + p2 + w);
    if (!req)
        return NULL;
    char *tail = (char *)(req + 1);
    req->args = *a;
    if (p1)
        req->args.path = memcpy(tail, a->path, p1);
    if (p2)
        req->args.path2 = memcpy(tail + p1, a->path2, p2);
    if (w)
        req->args.wbuf = memcpy(tail + p1 + p2, a->wbuf, w);
    return req;
}

static int fs_promise(eva_loop *loop, const eva__fs_args *a, eva_promise **out) {
    if (!loop || !out)
        return -EINVAL;
    int rc = check_args(a); /* start errors are returned, not rejected */
    if (rc < 0)
        return rc;
    eva_fs_req *req = promise_req_new(a);
    if (!req)
        return -ENOMEM;
    rc = eva__promise_from_op_value(loop, fs_op(req, &req->args), req, promise_req_free, out);
    if (rc < 0)
        eva__free(req);
    return rc;
}

/* Each call's three public forms, from its parameter list and the
 * arguments it records. */
#define FS_PARAMS(...) __VA_ARGS__
#define FS_DEFINE(name, params, ...)                                                        \
    int eva_fs_##name(eva_loop *loop, eva_fs_req *req, FS_PARAMS params, eva_fs_fn cb) {    \
        return fs_start(loop, req, &(eva__fs_args){__VA_ARGS__}, cb);                       \
    }                                                                                       \
    eva_op eva_fs_##name##_op(eva_fs_req *req, FS_PARAMS params) {                          \
        return fs_op(req, &(eva__fs_args){__VA_ARGS__});                                    \
    }                                                                                       \
    int eva_fs_##name##_promise(eva_loop *loop, FS_PARAMS params, eva_promise **out) {      \
        return fs_promise(loop, &(eva__fs_args){__VA_ARGS__}, out);                         \
    }

FS_DEFINE(open, (const char *path, int flags, int mode),
          .op = FS_OPEN, .path = path, .flags = flags, .mode = (unsigned)mode)
FS_DEFINE(close, (int fd), .op = FS_CLOSE, .fd = fd)
FS_DEFINE(read, (int fd, void *buf, size_t len), .op = FS_READ, .fd = fd, .rbuf = buf, .len = len)
FS_DEFINE(pread, (int fd, void *buf, size_t len, int64_t offset),
          .op = FS_PREAD, .fd = fd, .rbuf = buf, .len = len, .offset = offset)
FS_DEFINE(write, (int fd, const void *buf, size_t len),
          .op = FS_WRITE, .fd = fd, .wbuf = buf, .len = len)
FS_DEFINE(pwrite, (int fd, const void *buf, size_t len, int64_t offset),
          .op = FS_PWRITE, .fd = fd, .wbuf = buf, .len = len, .offset = offset)
FS_DEFINE(fsync, (int fd), .op = FS_FSYNC, .fd = fd)
FS_DEFINE(fdatasync, (int fd), .op = FS_FDATASYNC, .fd = fd)
FS_DEFINE(stat, (const char *path), .op = FS_STAT, .path = path)
FS_DEFINE(lstat, (const char *path), .op = FS_LSTAT, .path = path)
FS_DEFINE(fstat, (int fd), .op = FS_FSTAT, .fd = fd)
FS_DEFINE(rename, (const char *from, const char *to), .op = FS_RENAME, .path = from, .path2 = to)
FS_DEFINE(unlink, (const char *path), .op = FS_UNLINK, .path = path)
FS_DEFINE(mkdir, (const char *path, int mode), .op = FS_MKDIR, .path = path, .mode = (unsigned)mode)
FS_DEFINE(rmdir, (const char *path), .op = FS_RMDIR, .path = path)
FS_DEFINE(readdir, (const char *path), .op = FS_READDIR, .path = path)
FS_DEFINE(read_file, (const char *path, size_t max_bytes),
          .op = FS_READ_FILE, .path = path, .len = max_bytes)
FS_DEFINE(write_file, (const char *path, const void *buf, size_t len, int mode),
          .op = FS_WRITE_FILE, .path = path, .wbuf = buf, .len = len, .mode = (unsigned)mode)
