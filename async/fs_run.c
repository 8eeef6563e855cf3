/* async/fs_run.c — the system calls of the file requests, run on an IO pool
 * worker: nothing here touches the loop.  Each returns the call's result or
 * its negative errno, as evasync/fs.h promises. */
#define _GNU_SOURCE /* mkostemp, O_CLOEXEC */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs_internal.h"

static ssize_t rc_of(ssize_t rc) { return rc < 0 ? -errno : rc; }

/* ---- readdir: the listing in one block ------------------------------------ */

typedef struct listing {
    eva_fs_dirent *ents; /* names as offsets into pool, until packed */
    size_t n, cap;
    char *names;
    size_t names_len, names_cap;
} listing;

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap)
        return 0;
    size_t cap2 = *cap ? *cap * 2 : 64;
    while (cap2 < need)
        cap2 *= 2;
    void *q = eva__realloc(*p, cap2 * elem);
    if (!q)
        return -ENOMEM;
    *p = q;
    *cap = cap2;
    return 0;
}

static int listing_add(listing *l, const struct dirent *d) {
    size_t len = strlen(d->d_name) + 1;
    if (grow((void **)&l->ents, &l->cap, l->n + 1, sizeof *l->ents) < 0 ||
        grow((void **)&l->names, &l->names_cap, l->names_len + len, 1) < 0)
        return -ENOMEM;
    memcpy(l->names + l->names_len, d->d_name, len);
    l->ents[l->n++] = (eva_fs_dirent){.name = (const char *)(uintptr_t)l->names_len,
                                      .type = d->d_type};
    l->names_len += len;
    return 0;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const eva_fs_dirent *)a)->name, ((const eva_fs_dirent *)b)->name);
}

/* One block: the entries, then their names (so one free releases both). */
static int listing_pack(listing *l, eva_fs_dirent **out) {
    size_t head = l->n * sizeof *l->ents;
    eva_fs_dirent *block = eva__realloc(NULL, head + l->names_len + 1);
    if (!block)
        return -ENOMEM;
    char *names = (char *)block + head;
    if (l->names_len)
        memcpy(names, l->names, l->names_len);
    for (size_t i = 0; i < l->n; i++)
        block[i] = (eva_fs_dirent){.name = names + (uintptr_t)l->ents[i].name,
                                   .type = l->ents[i].type};
    qsort(block, l->n, sizeof *block, by_name);
    *out = block;
    return 0;
}

static bool is_dot_or_dotdot(const char *name) {
    return name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0));
}

static ssize_t run_readdir(eva_fs_req *req) {
    DIR *dir = opendir(req->args.path);
    if (!dir)
        return -errno;
    listing l = {0};
    int rc = 0;
    struct dirent *d;
    for (errno = 0; rc == 0 && (d = readdir(dir)); errno = 0)
        if (!is_dot_or_dotdot(d->d_name))
            rc = listing_add(&l, d);
    if (rc == 0 && errno)
        rc = -errno;
    closedir(dir);
    if (rc == 0)
        rc = listing_pack(&l, &req->entries);
    eva__free(l.ents);
    eva__free(l.names);
    return rc < 0 ? rc : (ssize_t)l.n;
}

/* ---- read_file ------------------------------------------------------------- */

static ssize_t read_retry(int fd, void *buf, size_t len) {
    ssize_t n;
    while ((n = read(fd, buf, len)) < 0 && errno == EINTR)
        ;
    return n < 0 ? -errno : n;
}

/* The buffer holds max bytes: 0 if that was the whole file, -EFBIG if more
 * follows (the file is never cut short silently). */
static ssize_t at_bound(int fd) {
    char probe;
    ssize_t n = read_retry(fd, &probe, 1);
    return n > 0 ? -EFBIG : n;
}

/* Read fd to its end into one buffer of at most max bytes plus the NUL. */
static ssize_t read_all(int fd, size_t size_hint, size_t max, void **out) {
    size_t cap = (size_hint < max ? size_hint : max) + 1, len = 0;
    char *buf = eva__realloc(NULL, cap);
    if (!buf)
        return -ENOMEM;
    ssize_t n = 0;
    for (;;) {
        if (len + 1 == cap) { /* full */
            if (len == max) {
                n = at_bound(fd);
                break;
            }
            size_t cap2 = cap * 2 > max + 1 ? max + 1 : cap * 2;
            char *grown = eva__realloc(buf, cap2);
            if (!grown) {
                n = -ENOMEM;
                break;
            }
            buf = grown;
            cap = cap2;
        }
        if ((n = read_retry(fd, buf + len, cap - 1 - len)) <= 0)
            break;
        len += (size_t)n;
    }
    if (n < 0) {
        eva__free(buf);
        return n;
    }
    buf[len] = 0;
    *out = buf;
    return (ssize_t)len;
}

static ssize_t run_read_file(eva_fs_req *req) {
    int fd = open(req->args.path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    ssize_t rc = fstat(fd, &st) < 0 ? -errno : 0;
    size_t max = req->args.len < SSIZE_MAX ? req->args.len : SSIZE_MAX - 1; /* room for the NUL */
    if (rc == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size > max)
        rc = -EFBIG;
    if (rc == 0) /* st_size 0 (a /proc file) starts small and grows */
        rc = read_all(fd, S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size : 4096,
                      max, &req->buf);
    close(fd);
    return rc;
}

/* ---- write_file ------------------------------------------------------------- */

static int write_full(int fd, const char *p, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Make the rename that just happened in path's directory durable. */
static int fsync_dir_of(const char *path) {
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == path)
        strcpy(dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

/* The new contents in tmp (open as fd): written, with their mode, on disk. */
static int fill_temp(int fd, const eva__fs_args *a) {
    int rc = write_full(fd, a->wbuf, a->len);
    if (rc == 0 && fchmod(fd, (mode_t)a->mode) < 0)
        rc = -errno;
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    return rc;
}

static ssize_t run_write_file(eva_fs_req *req) {
    const eva__fs_args *a = &req->args;
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", a->path) >= sizeof tmp)
        return -ENAMETOOLONG;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fill_temp(fd, a);
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, a->path) < 0)
        rc = -errno;
    if (rc < 0) {
        unlink(tmp);
        return rc;
    }
    return fsync_dir_of(a->path);
}

/* ---- the plain calls ------------------------------------------------------------ */

ssize_t eva__fs_run(eva_fs_req *req) {
    const eva__fs_args *a = &req->args;
    switch (a->op) {
    case FS_OPEN:       return rc_of(open(a->path, a->flags | O_CLOEXEC, (mode_t)a->mode));
    case FS_CLOSE:      return rc_of(close(a->fd));
    case FS_READ:       return rc_of(read(a->fd, a->rbuf, a->len));
    case FS_PREAD:      return rc_of(pread(a->fd, a->rbuf, a->len, (off_t)a->offset));
    case FS_WRITE:      return rc_of(write(a->fd, a->wbuf, a->len));
    case FS_PWRITE:     return rc_of(pwrite(a->fd, a->wbuf, a->len, (off_t)a->offset));
    case FS_FSYNC:      return rc_of(fsync(a->fd));
    case FS_FDATASYNC:  return rc_of(fdatasync(a->fd));
    case FS_STAT:       return rc_of(stat(a->path, &req->statbuf));
    case FS_LSTAT:      return rc_of(lstat(a->path, &req->statbuf));
    case FS_FSTAT:      return rc_of(fstat(a->fd, &req->statbuf));
    case FS_RENAME:     return rc_of(rename(a->path, a->path2));
    case FS_UNLINK:     return rc_of(unlink(a->path));
    case FS_MKDIR:      return rc_of(mkdir(a->path, (mode_t)a->mode));
    case FS_RMDIR:      return rc_of(rmdir(a->path));
    case FS_READDIR:    return run_readdir(req);
    case FS_READ_FILE:  return run_read_file(req);
    case FS_WRITE_FILE: return run_write_file(req);
    default:            return -EINVAL;
    }
}
