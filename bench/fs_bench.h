/* bench/fs_bench.h — what the small-file read benchmark's two sides share
 * (bench/fs_bench.c: evasync; bench/fs_libuv.c: libuv): the file set and
 * the command line. */
#ifndef EVA_FS_BENCH_H
#define EVA_FS_BENCH_H

#include <stddef.h>

enum { FS_BENCH_FILE_BYTES = 4096 };

typedef struct fs_bench_opts {
    const char *dir;  /* holds files 0000 .. files-1 */
    int files;        /* 1000 */
    int rounds;       /* each file read this many times */
    int inflight;     /* reads in flight at once */
    const char *mode; /* evasync: "whole" (eva_fs_read_file) or "steps" (open/read/close) */
} fs_bench_opts;

/* Parse --dir --files --rounds --inflight --mode; create the files (4 KiB
 * each) when missing.  Exits on a bad command line or a failed setup. */
void fs_bench_setup(int argc, char **argv, fs_bench_opts *o);

/* The path of file i, into buf. */
const char *fs_bench_path(const fs_bench_opts *o, int i, char *buf, size_t size);

/* Print the result line: impl=NAME mode=M files=N reads=N files_s=V cpu_ns_file=V. */
void fs_bench_report(const char *impl, const fs_bench_opts *o, long reads, unsigned long long wall_ns,
                     unsigned long long cpu_ns);

#endif
