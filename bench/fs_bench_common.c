/* bench/fs_bench_common.c — the file set and command line of the small-file
 * read benchmark (bench/fs_bench.h). */
#include "fs_bench.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *fs_bench_path(const fs_bench_opts *o, int i, char *buf, size_t size) {
    snprintf(buf, size, "%s/%04d", o->dir, i);
    return buf;
}

static void make_files(const fs_bench_opts *o) {
    char path[4096], data[FS_BENCH_FILE_BYTES];
    memset(data, 'x', sizeof data);
    mkdir(o->dir, 0700);
    for (int i = 0; i < o->files; i++) {
        struct stat st;
        if (stat(fs_bench_path(o, i, path, sizeof path), &st) == 0 && st.st_size == FS_BENCH_FILE_BYTES)
            continue;
        int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, data, sizeof data) != (ssize_t)sizeof data) {
            perror(path);
            exit(1);
        }
        close(fd);
    }
}

void fs_bench_setup(int argc, char **argv, fs_bench_opts *o) {
    *o = (fs_bench_opts){.dir = "/tmp/eva_fs_bench", .files = 1000, .rounds = 5, .inflight = 64,
                         .mode = "whole"};
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--dir"))
            o->dir = argv[i + 1];
        else if (!strcmp(argv[i], "--files"))
            o->files = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--rounds"))
            o->rounds = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--inflight"))
            o->inflight = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--mode"))
            o->mode = argv[i + 1];
        else {
            fprintf(stderr, "usage: %s [--dir D] [--files N] [--rounds R] [--inflight K] [--mode whole|steps]\n", argv[0]);
            exit(2);
        }
    }
    if (o->files <= 0 || o->rounds <= 0 || o->inflight <= 0) {
        fprintf(stderr, "%s: files, rounds and inflight must be positive\n", argv[0]);
        exit(2);
    }
    make_files(o);
}

void fs_bench_report(const char *impl, const fs_bench_opts *o, long reads, unsigned long long wall_ns,
                     unsigned long long cpu_ns) {
    printf("impl=%s mode=%s files=%d reads=%ld files_s=%.0f cpu_ns_file=%.0f\n", impl,
           o->mode, o->files, reads, (double)reads * 1e9 / (double)wall_ns, (double)cpu_ns / (double)reads);
}
