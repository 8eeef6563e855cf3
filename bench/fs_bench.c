/* bench/fs_bench.c — small-file reads per second through evasync's IO pool
 * (its own 4 workers, libuv's default pool size): every file of the set
 * read whole, --rounds times, --inflight at once.  --mode whole: one
 * eva_fs_read_file per file (open + fstat + read + close in one pool job);
 * --mode steps: eva_fs_open, eva_fs_read, eva_fs_close, as a libuv program
 * does (bench/fs_libuv.c, the peer).  Prints one key=value line. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "evasync.h"
#include "fs_bench.h"

typedef struct bench bench;

typedef struct reader {
    eva_fs_req req;
    bench *b;
    int fd;
    char path[256]; /* borrowed by the request until its completion */
    char buf[FS_BENCH_FILE_BYTES];
} reader;

struct bench {
    eva_loop *loop;
    fs_bench_opts o;
    bool steps;
    long next, total, done;
    reader *readers;
};

static void start_next(reader *r);

static void fail(const char *what, int status) {
    fprintf(stderr, "fs_bench: %s: %s\n", what, eva_strerror(status));
    exit(1);
}

static void file_read(reader *r) {
    r->b->done++;
    start_next(r);
}

static void on_whole(eva_fs_req *req, int status) {
    if (status < 0 || req->result != FS_BENCH_FILE_BYTES)
        fail("read_file", status);
    file_read(req->data);
}

static void on_close(eva_fs_req *req, int status) {
    if (status < 0)
        fail("close", status);
    file_read(req->data);
}

static void on_read(eva_fs_req *req, int status) {
    reader *r = req->data;
    if (status < 0 || req->result != FS_BENCH_FILE_BYTES)
        fail("read", status);
    int rc = eva_fs_close(r->b->loop, req, r->fd, on_close);
    if (rc < 0)
        fail("close", rc);
}

static void on_open(eva_fs_req *req, int status) {
    reader *r = req->data;
    if (status < 0)
        fail("open", status);
    r->fd = (int)req->result;
    int rc = eva_fs_read(r->b->loop, req, r->fd, r->buf, sizeof r->buf, on_read);
    if (rc < 0)
        fail("read", rc);
}

static void start_next(reader *r) {
    bench *b = r->b;
    if (b->next == b->total)
        return;
    fs_bench_path(&b->o, (int)(b->next++ % b->o.files), r->path, sizeof r->path);
    int rc = b->steps ? eva_fs_open(b->loop, &r->req, r->path, O_RDONLY, 0, on_open)
                      : eva_fs_read_file(b->loop, &r->req, r->path, FS_BENCH_FILE_BYTES, on_whole);
    if (rc < 0)
        fail("start", rc);
}

int main(int argc, char **argv) {
    static bench b;
    fs_bench_setup(argc, argv, &b.o);
    b.steps = !strcmp(b.o.mode, "steps");
    if (eva_loop_new(&b.loop) < 0)
        return 1;
    b.readers = calloc((size_t)b.o.inflight, sizeof *b.readers);
    b.total = (long)b.o.files * b.o.rounds;
    uint64_t wall0 = eva_hrtime(), cpu0 = bench_cpu_ns();
    for (int i = 0; i < b.o.inflight; i++) {
        b.readers[i].b = &b;
        b.readers[i].req.data = &b.readers[i];
        start_next(&b.readers[i]);
    }
    eva_loop_run(b.loop, EVA_RUN_DEFAULT);
    fs_bench_report("evasync", &b.o, b.done, eva_hrtime() - wall0, bench_cpu_ns() - cpu0);
    for (int i = 0; i < b.o.inflight; i++)
        eva_fs_req_cleanup(&b.readers[i].req);
    free(b.readers);
    return eva_loop_destroy(b.loop) == 0 && b.done == b.total ? 0 : 1;
}
