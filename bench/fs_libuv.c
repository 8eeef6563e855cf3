/* bench/fs_libuv.c — the peer of bench/fs_bench.c on libuv: every file read
 * whole with uv_fs_open, uv_fs_read, uv_fs_close on libuv's thread pool
 * (UV_THREADPOOL_SIZE, 4 by default), --inflight at once.  One key=value
 * line. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#include "bench_util.h"
#include "fs_bench.h"

typedef struct bench bench;

typedef struct reader {
    uv_fs_t req;
    bench *b;
    uv_file fd;
    char buf[FS_BENCH_FILE_BYTES];
} reader;

struct bench {
    uv_loop_t *loop;
    fs_bench_opts o;
    long next, total, done;
    reader *readers;
};

static void start_next(reader *r);

static void check(uv_fs_t *req, const char *what, ssize_t want) {
    if (req->result < 0 || (want >= 0 && req->result != want)) {
        fprintf(stderr, "fs_libuv: %s: %s\n", what, req->result < 0 ? uv_strerror((int)req->result) : "short");
        exit(1);
    }
    uv_fs_req_cleanup(req);
}

static void on_close(uv_fs_t *req) {
    reader *r = req->data;
    check(req, "close", -1);
    r->b->done++;
    start_next(r);
}

static void on_read(uv_fs_t *req) {
    reader *r = req->data;
    check(req, "read", FS_BENCH_FILE_BYTES);
    uv_fs_close(r->b->loop, &r->req, r->fd, on_close);
}

static void on_open(uv_fs_t *req) {
    reader *r = req->data;
    r->fd = (uv_file)req->result;
    check(req, "open", -1);
    uv_buf_t buf = uv_buf_init(r->buf, sizeof r->buf);
    uv_fs_read(r->b->loop, &r->req, r->fd, &buf, 1, -1, on_read);
}

static void start_next(reader *r) {
    bench *b = r->b;
    if (b->next == b->total)
        return;
    char path[4096];
    fs_bench_path(&b->o, (int)(b->next++ % b->o.files), path, sizeof path);
    r->req.data = r;
    uv_fs_open(b->loop, &r->req, path, O_RDONLY, 0, on_open);
}

int main(int argc, char **argv) {
    static bench b;
    fs_bench_setup(argc, argv, &b.o);
    b.o.mode = "steps";
    b.loop = uv_default_loop();
    b.readers = calloc((size_t)b.o.inflight, sizeof *b.readers);
    b.total = (long)b.o.files * b.o.rounds;
    uint64_t wall0 = bench_mono_ns(), cpu0 = bench_cpu_ns();
    for (int i = 0; i < b.o.inflight; i++) {
        b.readers[i].b = &b;
        start_next(&b.readers[i]);
    }
    uv_run(b.loop, UV_RUN_DEFAULT);
    fs_bench_report("libuv", &b.o, b.done, bench_mono_ns() - wall0, bench_cpu_ns() - cpu0);
    free(b.readers);
    return uv_loop_close(b.loop) == 0 && b.done == b.total ? 0 : 1;
}
