/* tests/fs_helpers.h — a temporary directory per test, and paths in it,
 * for test_fs.c and test_fs_watch.c. */
#ifndef EVA_TEST_FS_HELPERS_H
#define EVA_TEST_FS_HELPERS_H

/* the includer defines _GNU_SOURCE first (nftw, mkdtemp) */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct tmpdir {
    char path[64];
} tmpdir;

static inline void tmpdir_make(tmpdir *d) {
    snprintf(d->path, sizeof d->path, "/tmp/eva_fs_XXXXXX");
    assert_non_null(mkdtemp(d->path));
}

static inline int remove_one(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static inline void tmpdir_remove(tmpdir *d) {
    assert_int_equal(nftw(d->path, remove_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

/* d->path + "/" + name, into a static buffer chosen by slot (0..3). */
static inline const char *in_dir(const tmpdir *d, int slot, const char *name) {
    static char buf[4][PATH_MAX];
    snprintf(buf[slot], sizeof buf[slot], "%s/%s", d->path, name);
    return buf[slot];
}

/* How many descriptors the process has open (for leak checks). */
static inline int open_fds(void) {
    int n = 0;
    for (int fd = 0; fd < 1024; fd++)
        n += fcntl(fd, F_GETFD) >= 0;
    return n;
}

#endif
