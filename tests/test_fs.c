/* File requests (evasync/fs.h) on a temporary directory: every call in the
 * three styles, the system calls' own errors (ENOENT, EACCES as an
 * unprivileged child, EISDIR, ENOTDIR, EEXIST, ENOTEMPTY, EBADF, ENOSPC on
 * /dev/full, EFBIG under RLIMIT_FSIZE), read_file's bound, write_file's
 * atomic replace and cleanup, cancellation queued and running (an open's
 * descriptor closed), loop destroy with requests in flight, a full queue,
 * and allocation failure.  Workers are blocked on empty pipes, never slept. */
#define _GNU_SOURCE /* nftw, mkdtemp, DT_* */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "helpers.h"
#include "fs_helpers.h"

/* ---- the callback form ----------------------------------------------------- */

typedef struct cbreq {
    eva_fs_req req;
    int calls;
    int status;
    bool done;
} cbreq;

static void on_fs(eva_fs_req *req, int status) {
    cbreq *c = req->data;
    c->calls++;
    c->status = status;
    c->done = true;
}

static cbreq *cb_ready(cbreq *c) {
    c->req.data = c;
    c->calls = 0;
    c->done = false;
    return c;
}

/* Wait for the completion of the request just started (rc its start's
 * return): its status, after checking it ran once and not inside the call. */
static int cb_wait(eva_loop *loop, cbreq *c, int rc) {
    assert_int_equal(rc, 0);
    assert_int_equal(c->calls, 0);
    assert_true(eva_fs_is_pending(&c->req));
    test_run_until(loop, &c->done, 5000);
    assert_int_equal(c->calls, 1);
    assert_false(eva_fs_is_pending(&c->req));
    return c->status;
}

#define CB(loop, c, call) cb_wait((loop), cb_ready(c), (call))

static void every_call_with_callbacks(void **state) {
    (void)state;
    tmpdir d;
    tmpdir_make(&d);
    eva_loop *loop = test_loop_new();
    cbreq c = {0};
    eva_fs_req *r = &c.req;
    const char *file = in_dir(&d, 0, "a"), *moved = in_dir(&d, 1, "b"), *sub = in_dir(&d, 2, "sub");

    assert_int_equal(CB(loop, &c, eva_fs_open(loop, r, file, O_CREAT | O_WRONLY, 0640, on_fs)), 0);
    int fd = (int)r->result;
    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(CB(loop, &c, eva_fs_write(loop, r, fd, "hello ", 6, on_fs)), 0);
    assert_int_equal(r->result, 6);
    assert_int_equal(CB(loop, &c, eva_fs_pwrite(loop, r, fd, "world", 5, 6, on_fs)), 0);
    assert_int_equal(r->result, 5);
    assert_int_equal(CB(loop, &c, eva_fs_fsync(loop, r, fd, on_fs)), 0);
    assert_int_equal(CB(loop, &c, eva_fs_fdatasync(loop, r, fd, on_fs)), 0);
    assert_int_equal(CB(loop, &c, eva_fs_fstat(loop, r, fd, on_fs)), 0);
    assert_int_equal(r->statbuf.st_size, 11);
    mode_t mask = umask(0);
    umask(mask);
    assert_int_equal(r->statbuf.st_mode & 0777, 0640 & ~mask);
    assert_int_equal(CB(loop, &c, eva_fs_close(loop, r, fd, on_fs)), 0);

    assert_int_equal(CB(loop, &c, eva_fs_open(loop, r, file, O_RDONLY, 0, on_fs)), 0);
    fd = (int)r->result;
    char buf[16] = {0};
    assert_int_equal(CB(loop, &c, eva_fs_pread(loop, r, fd, buf, 5, 6, on_fs)), 0);
    assert_int_equal(r->result, 5);
    assert_memory_equal(buf, "world", 5);
    assert_int_equal(CB(loop, &c, eva_fs_read(loop, r, fd, buf, sizeof buf, on_fs)), 0);
    assert_int_equal(r->result, 11);
    assert_memory_equal(buf, "hello world", 11);
    assert_int_equal(CB(loop, &c, eva_fs_read(loop, r, fd, buf, sizeof buf, on_fs)), 0);
    assert_int_equal(r->result, 0); /* end of file */
    assert_int_equal(CB(loop, &c, eva_fs_close(loop, r, fd, on_fs)), 0);

    assert_int_equal(CB(loop, &c, eva_fs_rename(loop, r, file, moved, on_fs)), 0);
    assert_int_equal(CB(loop, &c, eva_fs_stat(loop, r, file, on_fs)), -ENOENT);
    assert_int_equal(r->result, -ENOENT);
    assert_int_equal(CB(loop, &c, eva_fs_lstat(loop, r, moved, on_fs)), 0);
    assert_true(S_ISREG(r->statbuf.st_mode));
    assert_int_equal(CB(loop, &c, eva_fs_mkdir(loop, r, sub, 0700, on_fs)), 0);
    assert_int_equal(CB(loop, &c, eva_fs_readdir(loop, r, d.path, on_fs)), 0);
    assert_int_equal(r->result, 2);
    assert_string_equal(r->entries[0].name, "b");
    assert_int_equal(r->entries[0].type, DT_REG);
    assert_string_equal(r->entries[1].name, "sub");
    assert_int_equal(r->entries[1].type, DT_DIR);
    assert_int_equal(CB(loop, &c, eva_fs_rmdir(loop, r, sub, on_fs)), 0); /* frees the listing */
    assert_null(r->entries);
    assert_int_equal(CB(loop, &c, eva_fs_unlink(loop, r, moved, on_fs)), 0);
    assert_int_equal(CB(loop, &c, eva_fs_readdir(loop, r, d.path, on_fs)), 0);
    assert_int_equal(r->result, 0);
    eva_fs_req_cleanup(r);
    test_loop_destroy(loop);
    tmpdir_remove(&d);
}

/* ---- the AWAIT form ---------------------------------------------------------- */

typedef struct seq_frame {
    eva_task task;
    eva_fs_req req;
    const char *file, *dir;
    int fd;
    int rc[12];
    char buf[8];
    bool done;
} seq_frame;

static eva_step seq_run(void *frame) {
    seq_frame *f = frame;
    ASYNC_BEGIN(f);
    AWAIT(f, eva_fs_write_file_op(&f->req, f->file, "abcdef", 6, 0600));
    AWAIT(f, eva_fs_open_op(&f->req, f->file, O_RDWR, 0));
    f->fd = (int)f->req.result;
    AWAIT(f, eva_fs_pwrite_op(&f->req, f->fd, "XY", 2, 4));
    AWAIT(f, eva_fs_write_op(&f->req, f->fd, "z", 1));
    AWAIT(f, eva_fs_fsync_op(&f->req, f->fd));
    AWAIT(f, eva_fs_fdatasync_op(&f->req, f->fd));
    AWAIT(f, eva_fs_pread_op(&f->req, f->fd, f->buf, 6, 0));
    AWAIT(f, eva_fs_fstat_op(&f->req, f->fd));
    AWAIT(f, eva_fs_read_op(&f->req, f->fd, f->buf + 6, 2));
    f->rc[0] = (int)f->req.result; /* 5 bytes after the 'z' at 0 */
    AWAIT(f, eva_fs_close_op(&f->req, f->fd));
    AWAIT(f, eva_fs_stat_op(&f->req, f->file));
    AWAIT(f, eva_fs_lstat_op(&f->req, f->file));
    AWAIT(f, eva_fs_mkdir_op(&f->req, f->dir, 0700));
    AWAIT_RC(f, f->rc[1], eva_fs_mkdir_op(&f->req, f->dir, 0700));
    AWAIT(f, eva_fs_rename_op(&f->req, f->file, f->dir)); /* fails: a file over a directory */
    ASYNC_FINALLY(f);
    f->done = true;
    ASYNC_END(f);
}

static void every_call_with_await(void **state) {
    (void)state;
    tmpdir d;
    tmpdir_make(&d);
    eva_loop *loop = test_loop_new();
    seq_frame f = {.file = in_dir(&d, 0, "f"), .dir = in_dir(&d, 1, "dir")};
    assert_int_equal(eva_task_init(loop, &f.task, seq_run, "fs_seq"), 0);
    assert_int_equal(eva_task_start(&f.task, NULL), 0);
    test_run_until(loop, &f.done, 5000);
    assert_int_equal(eva_task_get_status(&f.task), -EISDIR);
    assert_int_equal(f.rc[0], 2);
    assert_int_equal(f.rc[1], -EEXIST);
    assert_memory_equal(f.buf, "zbcdXYbc", 8); /* pread saw "zbcdXY", then read from offset 1 */
    test_loop_destroy(loop);
    tmpdir_remove(&d);
}

typedef struct list_frame {
    eva_task task;
    eva_fs_req req;
    const char *dir, *file;
    int count;
    bool done;
} list_frame;

static eva_step list_run(void *frame) {
    list_frame *f = frame;
    ASYNC_BEGIN(f);
    AWAIT(f, eva_fs_readdir_op(&f->req, f->dir));
    f->count = (int)f->req.result;
    AWAIT(f, eva_fs_read_file_op(&f->req, f->file, 100));
    AWAIT(f, eva_fs_unlink_op(&f->req, f->file));
    AWAIT(f, eva_fs_rmdir_op(&f->req, f->dir));
    ASYNC_FINALLY(f);
    f->done = true;
    ASYNC_END(f);
}

static void readdir_and_read_file_with_await(void **state) {
    (void)state;
    tmpdir d;
    tmpdir_make(&d);
    eva_loop *loop = test_loop_new();
    const char *sub = in_dir(&d, 0, "sub");
    assert_int_equal(mkdir(sub, 0700), 0);
    list_frame f = {.dir = sub, .file = in_dir(&d, 1, "sub/x")};
    FILE *fp = fopen(f.file, "w");
    fputs("text", fp);
    fclose(fp);
    assert_int_equal(eva_task_init(loop, &f.task, list_run, "fs_list"), 0);
    assert_int_equal(eva_task_start(&f.task, NULL), 0);
    test_run_until(loop, &f.done, 5000);
    assert_int_equal(eva_task_get_status(&f.task), 0);
    assert_int_equal(f.count, 1);
    assert_int_equal(access(sub, F_OK), -1);
    eva_fs_req_cleanup(&f.req);
    test_loop_destroy(loop);
    tmpdir_remove(&d);
}

/* ---- the promise form -------------------------------------------------------- */

static eva_promise *settled(eva_loop *loop, eva_promise *p) {
    for (int i = 0; i < 10000 && eva_promise_get_state(p) == EVA_PROMISE_PENDING; i++)
        eva_loop_run(loop, EVA_RUN_ONCE);
    assert_int_not_equal(eva_promise_get_state(p), EVA_PROMISE_PENDING);
    return p;
}

static const eva_fs_req *value_of(eva_loop *loop, eva_promise *p) {
    assert_int_equal(eva_promise_get_state(settled(loop, p)), EVA_PROMISE_FULFILLED);
    return eva_promise_get_value(p);
}

static int error_of(eva_loop *loop, eva_promise *p) {
    assert_int_equal(eva_promise_get_state(settled(loop, p)), EVA_PROMISE_REJECTED);
    int err = eva_promise_get_error(p);
    eva_promise_unref(p);
    return err;
}

static void every_call_with_promises(void **state) {
    (void)state;
    tmpdir d;
    tmpdir_make(&d);
    eva_loop *loop = test_loop_new();
    char path[PATH_MAX], data[] = "promised";
    eva_promise *p;
    snprintf(path, sizeof path, "%s/p", d.path);
    assert_int_equal(eva_fs_write_file_promise(loop, path, data, 8, 0644, &p), 0);
    memset(data, 0, sizeof data); /* copied: the caller's may change at once */
    memset(path + strlen(d.path) + 1, 'q', 1); /* and so may the path */
    settled(loop, p);
    eva_promise_unref(p);
    snprintf(path, sizeof path, "%s/p", d.path);

    assert_int_equal(eva_fs_read_file_promise(loop, path, 8, &p), 0);
    assert_string_equal(value_of(loop, p)->buf, "promised");
    eva_promise_unref(p); /* frees the request and its buffer */
    assert_int_equal(eva_fs_read_file_promise(loop, path, 7, &p), 0);
    assert_int_equal(error_of(loop, p), -EFBIG);

    assert_int_equal(eva_fs_open_promise(loop, path, O_RDWR, 0, &p), 0);
    int fd = (int)value_of(loop, p)->result;
    eva_promise_unref(p);
    char buf[8];
    struct { eva_promise *p; ssize_t want; } calls[] = {
        {NULL, 2}, {NULL, 3}, {NULL, 8}, {NULL, 0}, {NULL, 0}, {NULL, 0}, {NULL, 0},
    };
    assert_int_equal(eva_fs_pwrite_promise(loop, fd, "PR", 2, 0, &calls[0].p), 0);
    assert_int_equal(value_of(loop, calls[0].p)->result, calls[0].want);
    assert_int_equal(eva_fs_write_promise(loop, fd, "abc", 3, &calls[1].p), 0); /* then over it */
    assert_int_equal(value_of(loop, calls[1].p)->result, calls[1].want);
    for (int i = 0; i < 2; i++)
        eva_promise_unref(calls[i].p);
    assert_int_equal(eva_fs_pread_promise(loop, fd, buf, 8, 0, &calls[2].p), 0);
    assert_int_equal(value_of(loop, calls[2].p)->result, 8);
    assert_memory_equal(buf, "abcmised", 8);
    eva_promise_unref(calls[2].p);
    assert_int_equal(eva_fs_read_promise(loop, fd, buf, 8, &calls[3].p), 0); /* at 3 */
    assert_int_equal(eva_fs_fsync_promise(loop, fd, &calls[4].p), 0);
    assert_int_equal(eva_fs_fdatasync_promise(loop, fd, &calls[5].p), 0);
    assert_int_equal(eva_fs_fstat_promise(loop, fd, &calls[6].p), 0);
    assert_int_equal(value_of(loop, calls[3].p)->result, 5);
    for (int i = 4; i < 7; i++)
        assert_int_equal(value_of(loop, calls[i].p)->result, 0);
    assert_int_equal(value_of(loop, calls[6].p)->statbuf.st_size, 8);
    for (int i = 3; i < 7; i++)
        eva_promise_unref(calls[i].p);
    assert_int_equal(eva_fs_close_promise(loop, fd, &p), 0);
    eva_promise_unref(settled(loop, p));
    assert_int_equal(eva_fs_close_promise(loop, fd, &p), 0);
    assert_int_equal(error_of(loop, p), -EBADF);

    const char *dir = in_dir(&d, 0, "dd"), *moved = in_dir(&d, 1, "moved");
    assert_int_equal(eva_fs_mkdir_promise(loop, dir, 0700, &p), 0);
    eva_promise_unref(settled(loop, p));
    assert_int_equal(eva_fs_stat_promise(loop, dir, &p), 0);
    assert_true(S_ISDIR(value_of(loop, p)->statbuf.st_mode));
    eva_promise_unref(p);
    assert_int_equal(eva_fs_rename_promise(loop, path, moved, &p), 0);
    eva_promise_unref(settled(loop, p));
    assert_int_equal(eva_fs_lstat_promise(loop, moved, &p), 0);
    assert_int_equal(value_of(loop, p)->statbuf.st_size, 8);
    eva_promise_unref(p);
    assert_int_equal(eva_fs_readdir_promise(loop, d.path, &p), 0);
    const eva_fs_req *listing = value_of(loop, p);
    assert_int_equal(listing->result, 2);
    assert_string_equal(listing->entries[0].name, "dd");
    assert_string_equal(listing->entries[1].name, "moved");
    eva_promise_unref(p);
    assert_int_equal(eva_fs_rmdir_promise(loop, dir, &p), 0);
    eva_promise_unref(settled(loop, p));
    assert_int_equal(eva_fs_unlink_promise(loop, moved, &p), 0);
    eva_promise_unref(settled(loop, p));
    assert_int_equal(eva_fs_unlink_promise(loop, moved, &p), 0);
    assert_int_equal(error_of(loop, p), -ENOENT);
    test_loop_destroy(loop);
    tmpdir_remove(&d);
}

/* ---- the system calls' errors ------------------------------------------------ */

static void errors_are_the_system_calls(void **state) {
    (void)state;
    tmpdir d;
    tmpdir_make(&d);
    eva_loop *loop = test_loop_new();
    cbreq c = {0};
    eva_fs_req *r = &c.req;
    const char *file = in_dir(&d, 0, "file"), *under = in_dir(&d, 1, "file/x");
    const char *missing = in_dir(&d, 2, "missing");
    close(open(file, O_CREAT | O_WRONLY, 0600));
    assert_int_equal(CB(loop, &c, eva_fs_open(loop, r, missing, O_RDONLY, 0, on_fs)), -ENOENT);
    assert_int_equal(r->result, -ENOENT);
    assert_int_equal(CB(loop, &c, eva_fs_read_file(loop, r, missing, 10, on_fs)), -ENOENT);
    assert_null(r->buf);
    assert_int_equal(CB(loop, &c, eva_fs_open(loop, r, under, O_RDONLY, 0, on_fs)), -ENOTDIR);
    assert_int_equal(CB(loop, &c, eva_fs_open(loop, r, d.path, O_WRONLY, 0, on_fs)), -EISDIR);
    assert_int_equal(CB(loop, &c, eva_fs_read_file(loop, r, d.path, 10, on_fs)), -EISDIR);
    assert_int_equal(CB(loop, &c, eva_fs_readdir(loop, r, file, on_fs)), -ENOTDIR);
    assert_int_equal(CB(loop, &c, eva_fs_readdir(loop, r, missing, on_fs)), -ENOENT);
    assert_int_equal(CB(loop, &c, eva_fs_mkdir(loop, r, file, 0700, on_fs)), -EEXIST);
    assert_int_equal(CB(loop, &c, eva_fs_rmdir(loop, r, file, on_fs)), -ENOTDIR);
    assert_int_equal(CB(loop, &c, eva_fs_rmdir(loop, r, "/tmp", on_fs)), -ENOTEMPTY);
    assert_int_equal(CB(loop, &c, eva_fs_unlink(loop, r, d.path, on_fs)), -EISDIR);
    assert_int_equal(CB(loop, &c, eva_fs_write_file(loop, r, under, "x", 1, 0600, on_fs)), -ENOTDIR);
    assert_int_equal(CB(loop, &c, eva_fs_close(loop, r, -1, on_fs)), -EBADF);
    assert_int_equal(CB(loop, &c, eva_fs_fsync(loop, r, -1, on_fs)), -EBADF);
    int full = open("/dev/full", O_WRONLY | O_CLOEXEC);
    assert_true(full >= 0);
    assert_int_equal(CB(loop, &c, eva_fs_write(loop, r, full, "x", 1, on_fs)), -ENOSPC);
    close(full);
    test_loop_destroy(loop);
    tmpdir_remove(&d);
}

/* Root passes every permission check, so EACCES is tested in a child that
 * has become "nobody": it opens a file of mode 0600 it does not own. */
static void eacces_for_an_unprivileged_user(void **state) {
    (void)state;
    tmpdir d;
    tmpdir_make(&d);
    const char *secret = in_dir(&d, 0, "secret");
    close(open(secret, O_CREAT | O_WRONLY, 0600));
    assert_int_equal(chmod(d.path, 0755), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (getuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
            _exit(2);
        eva_loop *loop = NULL;
        if (eva_loop_new(&loop) < 0)
            _exit(3);
        cbreq c = {0};
        cb_ready(&c);
        if (eva_fs_open(loop, &c.req, secret, O_RDONLY, 0, on_fs) < 0)
            _exit(4);
        while (!c.done)
            eva_loop_run(loop, EVA_RUN_ONCE);
        int rc = c.status == -EACCES ? 0 : 5;
        eva_loop_destroy(loop);
        _exit(rc);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    tmpdir_remove(&d);
}

static bool has_temp_file(const tmpdir *d) {
    DIR *dir = opendir(d->path);
    struct dirent *e;
    bool found = false;
    while ((e = readdir(dir)))
        found |= strstr(e->d_name, ".tmp.") != NULL;
    closedir(dir);
    return found;
}

/* RLIMIT_FSIZE makes a write past the limit fail with EFBIG (and raise
 * SIGXFSZ, ignored here): write_file reports it, removes its temporary
 * file and leaves the old contents in place. */
static void write_file_failure_keeps_the_old_file(void **state) {
    (void)state;
    tmpdir d;
    tmpdir_make(&d);
    eva_loop *loop = test_loop_new();
    cbreq c = {0};
    const char *file = in_dir(&d, 0, "conf");
    assert_int_equal(CB(loop, &c, eva_fs_write_file(loop, &c.req, file, "old", 3, 0640, on_fs)), 0);
    static char big[8192];
    memset(big, 'x', sizeof big);
    struct rlimit saved, small = {4096, 4096};
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
    small.rlim_max = saved.rlim_max;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    int rc = CB(loop, &c, eva_fs_write_file(loop, &c.req, file, big, sizeof big, 0640, on_fs));
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
    signal(SIGXFSZ, old_handler);
    assert_int_equal(rc, -EFBIG);
    assert_false(has_temp_file(&d));
    assert_int_equal(CB(loop, &c, eva_fs_read_file(loop, &c.req, file, 100, on_fs)), 0);
    assert_string_equal(c.req.buf, "old");
    assert_int_equal(CB(loop, &c, eva_fs_stat(loop, &c.req, file, on_fs)), 0);
    assert_int_equal(c.req.statbuf.st_mode & 0777, 0640);
    /* replaced whole: another inode, the new bytes */
    ino_t before = c.req.statbuf.st_ino;
    assert_int_equal(CB(loop, &c, eva_fs_write_file(loop, &c.req, file, big, sizeof big, 0600, on_fs)), 0);
    assert_int_equal(CB(loop, &c, eva_fs_stat(loop, &c.req, file, on_fs)), 0);
    assert_int_not_equal(c.req.statbuf.st_ino, before);
    assert_int_equal(c.req.statbuf.st_size, sizeof big);
    assert_int_equal(c.req.statbuf.st_mode & 0777, 0600);
    assert_false(has_temp_file(&d));
    test_loop_destroy(loop);
    tmpdir_remove(&d);
}

static void read_file_is_bounded_never_cut(void **state) {
    (void)state;
    tmpdir d;
    tmpdir_make(&d);
    eva_loop *loop = test_loop_new();
    cbreq c = {0};
    eva_fs_req *r = &c.req;
    const char *file = in_dir(&d, 0, "ten"), *empty = in_dir(&d, 1, "empty");
    assert_int_equal(CB(loop, &c, eva_fs_write_file(loop, r, file, "0123456789", 10, 0600, on_fs)), 0);
    assert_int_equal(CB(loop, &c, eva_fs_read_file(loop, r, file, 10, on_fs)), 0);
    assert_int_equal(r->result, 10);
    assert_string_equal(r->buf, "0123456789");
    void *taken = r->buf; /* the caller may keep it */
    r->buf = NULL;
    assert_int_equal(CB(loop, &c, eva_fs_read_file(loop, r, file, 9, on_fs)), -EFBIG);
    assert_null(r->buf);
    eva_fs_free(taken);
    close(open(empty, O_CREAT | O_WRONLY, 0600));
    assert_int_equal(CB(loop, &c, eva_fs_read_file(loop, r, empty, 0, on_fs)), 0);
    assert_int_equal(r->result, 0);
    assert_string_equal(r->buf, "");
    /* a size stat does not tell: read to the end, within the bound */
    assert_int_equal(CB(loop, &c, eva_fs_read_file(loop, r, "/proc/self/status", 1 << 20, on_fs)), 0);
    assert_non_null(strstr(r->buf, "Pid:"));
    assert_int_equal(strlen(r->buf), (size_t)r->result);
    assert_int_equal(CB(loop, &c, eva_fs_read_file(loop, r, "/proc/self/status", 16, on_fs)), -EFBIG);
    eva_fs_req_cleanup(r);
    test_loop_destroy(loop);
    tmpdir_remove(&d);
}

/* ---- bad input ----------------------------------------------------------------- */

static void bad_input_is_refused(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_fs_req r = {0};
    eva_promise *p = NULL;
    assert_int_equal(eva_fs_stat(NULL, &r, "/", on_fs), -EINVAL);
    assert_int_equal(eva_fs_stat(loop, NULL, "/", on_fs), -EINVAL);
    assert_int_equal(eva_fs_stat(loop, &r, "/", NULL), -EINVAL);
    assert_int_equal(eva_fs_stat(loop, &r, NULL, on_fs), -EINVAL);
    assert_int_equal(eva_fs_rename(loop, &r, "/a", NULL, on_fs), -EINVAL);
    assert_int_equal(eva_fs_read(loop, &r, 0, NULL, 1, on_fs), -EINVAL);
    assert_int_equal(eva_fs_write_file(loop, &r, "/x", NULL, 1, 0600, on_fs), -EINVAL);
    assert_int_equal(eva_fs_stat_promise(loop, NULL, &p), -EINVAL);
    assert_int_equal(eva_fs_stat_promise(loop, "/", NULL), -EINVAL);
    assert_int_equal(eva_fs_stat_promise(NULL, "/", &p), -EINVAL);
    assert_int_equal(eva_fs_cancel(NULL), -EINVAL);
    assert_int_equal(eva_fs_cancel(&r), 0); /* idle: left alone */
    assert_false(eva_fs_is_pending(&r));
    assert_int_equal(eva_fs_set_pool(NULL, NULL), -EINVAL);
    eva_fs_req_cleanup(NULL);
    test_loop_destroy(loop);
}

/* ---- cancellation, queues, destroy ---------------------------------------------- */

/* Occupy every worker of the loop's IO pool (one of the test's own, so its
 * statistics show when they are all inside read()) with a read of an empty
 * pipe. */
typedef struct blockers {
    eva_pool *pool;
    int pipe[2];
    cbreq reads[EVA_FS_POOL_THREADS];
    char bytes[EVA_FS_POOL_THREADS];
} blockers;

static void wait_running(eva_pool *pool, size_t n) {
    eva_pool_stats st = {0};
    uint64_t deadline = eva_hrtime() + 5000000000u;
    while (st.running < n && eva_hrtime() < deadline)
        assert_int_equal(eva_pool_get_stats(pool, &st), 0);
    assert_int_equal(st.running, n);
}

static void block_workers(eva_loop *loop, blockers *b) {
    memset(b, 0, sizeof *b);
    eva_pool_options opts = {.threads = EVA_FS_POOL_THREADS};
    assert_int_equal(eva_pool_new(&opts, &b->pool), 0);
    assert_int_equal(eva_fs_set_pool(loop, b->pool), 0);
    assert_int_equal(pipe(b->pipe), 0);
    for (int i = 0; i < EVA_FS_POOL_THREADS; i++) {
        cb_ready(&b->reads[i]);
        assert_int_equal(eva_fs_read(loop, &b->reads[i].req, b->pipe[0], &b->bytes[i], 1, on_fs), 0);
    }
    wait_running(b->pool, EVA_FS_POOL_THREADS);
}

/* Let the reads finish, each with status (0, or -ECANCELED if cancelled). */
static void unblock_workers(eva_loop *loop, blockers *b, int status) {
    assert_int_equal(write(b->pipe[1], "wxyz", EVA_FS_POOL_THREADS), EVA_FS_POOL_THREADS);
    for (int i = 0; i < EVA_FS_POOL_THREADS; i++) {
        test_run_until(loop, &b->reads[i].done, 5000);
        assert_int_equal(b->reads[i].status, status);
    }
    close(b->pipe[0]);
    close(b->pipe[1]);
    assert_int_equal(eva_fs_set_pool(loop, NULL), 0);
    assert_int_equal(eva_pool_destroy(b->pool), 0);
}

static void cancel_while_queued_never_runs(void **state) {
    (void)state;
    tmpdir d;
    tmpdir_make(&d);
    eva_loop *loop = test_loop_new();
    blockers b;
    block_workers(loop, &b);
    cbreq c = {0};
    const char *dir = in_dir(&d, 0, "never");
    assert_int_equal(eva_fs_mkdir(loop, &cb_ready(&c)->req, dir, 0700, on_fs), 0);
    assert_int_equal(eva_fs_cancel(&c.req), 0);
    assert_int_equal(c.calls, 0); /* never inside the call */
    test_run_until(loop, &c.done, 5000);
    assert_int_equal(c.status, -ECANCELED);
    assert_int_equal(c.req.result, -ECANCELED);
    unblock_workers(loop, &b, 0);
    assert_int_equal(access(dir, F_OK), -1); /* it never ran */
    test_loop_destroy(loop);
    tmpdir_remove(&d);
}

/* An open running when cancelled (blocked opening a FIFO nobody writes)
 * finishes, and the descriptor it opened is closed, not leaked. */
static void cancel_while_running_closes_the_descriptor(void **state) {
    (void)state;
    tmpdir d;
    tmpdir_make(&d);
    eva_loop *loop = test_loop_new();
    const char *fifo = in_dir(&d, 0, "fifo");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    int fds_before = open_fds();
    cbreq c = {0};
    assert_int_equal(eva_fs_open(loop, &cb_ready(&c)->req, fifo, O_RDONLY, 0, on_fs), 0);
    /* the worker is inside open() once the FIFO has a reader */
    int writer = -1;
    for (int i = 0; i < 100000 && writer < 0; i++) {
        writer = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC); /* ENXIO until the reader opens */
        if (writer < 0)
            eva_loop_run(loop, EVA_RUN_NOWAIT);
    }
    assert_true(writer >= 0);
    assert_int_equal(eva_fs_cancel(&c.req), 0);
    test_run_until(loop, &c.done, 5000);
    assert_int_equal(c.status, -ECANCELED);
    close(writer);
    assert_int_equal(open_fds(), fds_before);
    test_loop_destroy(loop);
    tmpdir_remove(&d);
}

typedef struct cancel_frame {
    eva_task task;
    eva_fs_req req;
    bool done;
} cancel_frame;

static eva_step cancel_run(void *frame) {
    cancel_frame *f = frame;
    ASYNC_BEGIN(f);
    AWAIT(f, eva_fs_stat_op(&f->req, "/"));
    ASYNC_FINALLY(f);
    f->done = true;
    ASYNC_END(f);
}

static void cancelling_a_task_or_promise_cancels_the_request(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    blockers b;
    block_workers(loop, &b);
    cancel_frame f = {0};
    assert_int_equal(eva_task_init(loop, &f.task, cancel_run, "fs_cancel"), 0);
    assert_int_equal(eva_task_start(&f.task, NULL), 0);
    eva_promise *p;
    assert_int_equal(eva_fs_stat_promise(loop, "/", &p), 0);
    for (int i = 0; i < 3; i++) /* the task reaches its AWAIT, the promise's task too */
        eva_loop_run(loop, EVA_RUN_NOWAIT);
    assert_true(eva_fs_is_pending(&f.req));
    assert_int_equal(eva_task_cancel(&f.task), 0);
    assert_int_equal(eva_promise_cancel(p), 0);
    test_run_until(loop, &f.done, 5000);
    assert_int_equal(eva_task_get_status(&f.task), -ECANCELED);
    assert_int_equal(error_of(loop, p), -ECANCELED);
    unblock_workers(loop, &b, 0);
    test_loop_destroy(loop);
}

static void destroy_waits_for_requests_in_flight(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    blockers b;
    block_workers(loop, &b);
    cbreq c = {0};
    assert_int_equal(eva_fs_stat(loop, &cb_ready(&c)->req, "/", on_fs), 0);
    assert_int_equal(eva_loop_destroy(loop), -EBUSY); /* nothing changed */
    assert_int_equal(c.calls, 0);
    assert_int_equal(eva_fs_cancel(&c.req), 0);
    for (int i = 0; i < EVA_FS_POOL_THREADS; i++)
        assert_int_equal(eva_fs_cancel(&b.reads[i].req), 0); /* running: they finish */
    test_run_until(loop, &c.done, 5000);
    assert_int_equal(eva_loop_destroy(loop), -EBUSY); /* the running reads */
    unblock_workers(loop, &b, -ECANCELED);
    test_loop_destroy(loop);
}

static void a_full_queue_and_a_busy_request(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_pool *pool;
    eva_pool_options opts = {.threads = 1, .queue_capacity = 1};
    assert_int_equal(eva_pool_new(&opts, &pool), 0);
    assert_int_equal(eva_fs_set_pool(loop, pool), 0);
    int p[2];
    assert_int_equal(pipe(p), 0);
    char byte;
    cbreq blocked = {0}, queued = {0}, refused = {0};
    assert_int_equal(eva_fs_read(loop, &cb_ready(&blocked)->req, p[0], &byte, 1, on_fs), 0);
    assert_int_equal(eva_fs_stat(loop, &blocked.req, "/", on_fs), -EBUSY);
    assert_int_equal(eva_fs_set_pool(loop, NULL), -EBUSY);
    wait_running(pool, 1); /* the worker took it: the queue is empty */
    assert_int_equal(eva_fs_stat(loop, &cb_ready(&queued)->req, "/", on_fs), 0);
    assert_int_equal(eva_fs_stat(loop, &cb_ready(&refused)->req, "/", on_fs), -EAGAIN);
    assert_false(eva_fs_is_pending(&refused.req));
    assert_int_equal(write(p[1], "x", 1), 1);
    test_run_until(loop, &blocked.done, 5000);
    test_run_until(loop, &queued.done, 5000);
    assert_int_equal(queued.status, 0);
    assert_int_equal(eva_fs_set_pool(loop, NULL), 0);
    close(p[0]);
    close(p[1]);
    test_loop_destroy(loop);
    eva_pool_destroy(pool);
}

/* Every allocation on the way (the loop's fs state, its pool, the listing,
 * the promise) may fail: each failure is a clean -ENOMEM, nothing leaks. */
static void allocation_failure_is_enomem(void **state) {
    (void)state;
    bool succeeded = false;
    for (int n = 0; n < 200 && !succeeded; n++) {
        test_alloc a = {.fail_after = n};
        test_alloc_install(&a);
        eva_loop *loop = NULL;
        if (eva_loop_new(&loop) == 0) {
            eva_promise *p = NULL;
            int rc = eva_fs_readdir_promise(loop, "/", &p);
            if (rc == 0) {
                settled(loop, p);
                if (eva_promise_get_state(p) == EVA_PROMISE_FULFILLED)
                    succeeded = ((const eva_fs_req *)eva_promise_get_value(p))->result > 0;
                else
                    assert_int_equal(eva_promise_get_error(p), -ENOMEM);
                eva_promise_unref(p);
            } else {
                assert_true(rc == -ENOMEM || rc == -EAGAIN);
            }
            assert_int_equal(eva_loop_destroy(loop), 0);
        }
        test_alloc_install(NULL);
        assert_int_equal(a.live, 0);
    }
    assert_true(succeeded);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_call_with_callbacks),
        cmocka_unit_test(every_call_with_await),
        cmocka_unit_test(readdir_and_read_file_with_await),
        cmocka_unit_test(every_call_with_promises),
        cmocka_unit_test(errors_are_the_system_calls),
        cmocka_unit_test(eacces_for_an_unprivileged_user),
        cmocka_unit_test(write_file_failure_keeps_the_old_file),
        cmocka_unit_test(read_file_is_bounded_never_cut),
        cmocka_unit_test(bad_input_is_refused),
        cmocka_unit_test(cancel_while_queued_never_runs),
        cmocka_unit_test(cancel_while_running_closes_the_descriptor),
        cmocka_unit_test(cancelling_a_task_or_promise_cancels_the_request),
        cmocka_unit_test(destroy_waits_for_requests_in_flight),
        cmocka_unit_test(a_full_queue_and_a_busy_request),
        cmocka_unit_test(allocation_failure_is_enomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
