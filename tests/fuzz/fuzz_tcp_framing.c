/* tests/fuzz/fuzz_tcp_framing.c — the TCP framing reads (read-some,
 * read_exact, read_until) against arbitrary chunkings of a stream, checked
 * against a model computed from the same bytes.
 *
 * Each input is a program run on a fresh loop and a loopback TCP pair: one
 * side is the eva_stream under test, the other a peer the target plays from the
 * same thread between loop steps.  Each step takes one byte (its operation,
 * the byte modulo the number of operations) and the operands it needs: the
 * peer sends a chunk (its length, then its bytes: they are the stream), a
 * read starts (its kind, limit, delimiter, and the callback or the AWAIT
 * form), the loop runs one non-waiting iteration, the peer half-closes or
 * resets, the pending read is cancelled (eva_stream_read_cancel) or its task is.
 * At the end the peer half-closes and read-somes drain the rest of the
 * stream; then the connection closes and the loop is destroyed.
 *
 * The model is the stream the peer sent and how much of it the reads have
 * delivered.  Every read's bytes are the stream's next bytes (nothing lost,
 * duplicated or reordered between reads, whatever the read kind) and:
 *  - read-some: 1..len bytes, or 0 only at the end of the stream;
 *  - read_exact: exactly len bytes, or EVA_EOF with the whole rest of the
 *    stream consumed after a half-close;
 *  - read_until: exactly up to and including the first delimiter (never past
 *    it), -EMSGSIZE with max bytes none of which ends a delimiter, or EVA_EOF
 *    with the rest of the stream consumed and no delimiter in it;
 *  - -ECANCELED only after a cancel or the close, -ECONNRESET only after the
 *    peer's reset (which also lets a read see fewer bytes than were sent);
 *  - a second read while one is pending is refused with -EBUSY;
 *  - a read the stream can satisfy completes (within a bounded wait);
 *  - every read completes exactly once (the callback runs once; the AWAIT
 *    returns once and its task's done callback runs once); nothing leaks. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_loop.h"

enum { MAX_STREAM = 8192, MAX_READ = 96, MAX_CHUNK = 64, MAX_DELIM = 3 };

enum { STEP_SEND, STEP_READ, STEP_RUN, STEP_SHUT, STEP_RESET, STEP_CANCEL_READ, STEP_CANCEL_TASK, STEPS };

typedef struct reader reader;

typedef struct world {
    eva_loop *loop;
    eva_stream tcp;
    int peer;                  /* -1 once closed */
    uint8_t stream[MAX_STREAM];
    size_t sent;               /* stream bytes the peer sent */
    size_t consumed;           /* ... the reads delivered (or consumed and lost) */
    bool shut, reset, closing;
    /* the one pending read */
    bool pending;
    bool cancelled;            /* eva_stream_read_cancel or its task's cancel since it started */
    eva_stream_read_mode mode;
    size_t len;
    char delim[MAX_DELIM];
    size_t dlen;
    char buf[MAX_READ];
    eva_stream_read_req req;
    reader *task;              /* the AWAIT form's task, until its done callback */
    int tasks_live;
    bool idle;                 /* no read pending, no reader task left */
    bool closed;
} world;

/* The AWAIT form: a task that awaits one read. */
struct reader {
    eva_task task;
    world *w;
    int rc;
    bool reported;
};

/* The first occurrence of the delimiter in buf[0..n), as the offset just past
 * it, or 0. */
static size_t delim_end(const world *w, const char *buf, size_t n) {
    for (size_t i = 0; i + w->dlen <= n; i++)
        if (memcmp(buf + i, w->delim, w->dlen) == 0)
            return i + w->dlen;
    return 0;
}

/* The stream is over and every byte of it was delivered: an end of stream. */
static bool at_end(const world *w) { return w->reset || (w->shut && w->consumed == w->sent); }

static void check_status(const world *w, int status, size_t n) {
    switch (status) {
    case 0:
        if (w->mode == EVA__READ_SOME)
            FUZZ_CHECK(n > 0 || at_end(w));
        else if (w->mode == EVA__READ_EXACT)
            FUZZ_CHECK(n == w->len);
        else
            FUZZ_CHECK(n > 0 && delim_end(w, w->buf, n) == n);
        break;
    case EVA_EOF:
        FUZZ_CHECK(w->mode != EVA__READ_SOME && n < w->len && at_end(w));
        FUZZ_CHECK(w->mode != EVA__READ_UNTIL || delim_end(w, w->buf, n) == 0);
        break;
    case -EMSGSIZE:
        FUZZ_CHECK(w->mode == EVA__READ_UNTIL && n == w->len && delim_end(w, w->buf, n) == 0);
        break;
    case -ECANCELED:
        FUZZ_CHECK(w->cancelled || w->closing);
        break;
    case -ECONNRESET:
        FUZZ_CHECK(w->reset);
        break;
    default:
        fprintf(stderr, "unexpected read status %d\n", status);
        FUZZ_CHECK(false);
    }
}

/* A read completed: check it against the model and advance it. */
static void note_idle(world *w) { w->idle = !w->pending && w->tasks_live == 0; }

static void read_done(world *w, int status, ssize_t nread) {
    FUZZ_CHECK(w->pending);
    w->pending = false;
    note_idle(w);
    FUZZ_CHECK(nread >= 0 && (size_t)nread <= w->len);
    size_t n = (size_t)nread;
    FUZZ_CHECK(w->consumed + n <= w->sent);
    FUZZ_CHECK(memcmp(w->buf, w->stream + w->consumed, n) == 0);
    w->consumed += n;
    check_status(w, status, n);
}

static void on_read(eva_stream_read_req *req, int status) {
    world *w = req->data;
    read_done(w, status, req->nread);
}

static eva_op read_op(world *w) {
    switch (w->mode) {
    case EVA__READ_SOME:  return eva_stream_read_op(&w->req, &w->tcp, w->buf, w->len);
    case EVA__READ_EXACT: return eva_stream_read_exact_op(&w->req, &w->tcp, w->buf, w->len);
    default:              return eva_stream_read_until_op(&w->req, &w->tcp, w->buf, w->len, w->delim, w->dlen);
    }
}

static eva_step reader_run(void *frame) {
    reader *r = frame;
    ASYNC_BEGIN(r);
    AWAIT_RC(r, r->rc, read_op(r->w));
    FUZZ_CHECK(!r->reported);
    r->reported = true;
    read_done(r->w, r->rc, r->w->req.nread);
    ASYNC_END(r);
}

static void on_reader_done(eva_task *t) {
    reader *r = (reader *)t;
    world *w = r->w;
    if (!r->reported) { /* cancelled before its first step: the read never started */
        FUZZ_CHECK(w->cancelled && eva_task_get_status(t) == -ECANCELED);
        w->pending = false;
    }
    w->task = NULL;
    w->tasks_live--;
    note_idle(w);
}

static int start_callback_read(world *w, eva_stream_read_req *req) {
    req->data = w;
    switch (w->mode) {
    case EVA__READ_SOME:  return eva_stream_read(req, &w->tcp, w->buf, w->len, on_read);
    case EVA__READ_EXACT: return eva_stream_read_exact(req, &w->tcp, w->buf, w->len, on_read);
    default:              return eva_stream_read_until(req, &w->tcp, w->buf, w->len, w->delim, w->dlen, on_read);
    }
}

/* A read in the callback form: started, or refused for the reason the model expects. */
static void callback_read(world *w) {
    int rc = start_callback_read(w, &w->req);
    if (w->mode == EVA__READ_UNTIL && w->dlen > w->len) {
        FUZZ_CHECK(rc == -EINVAL);
        return;
    }
    FUZZ_CHECK(rc == 0);
    w->pending = true;
    w->idle = false;
}

static void await_read(world *w) {
    if (w->dlen > w->len)
        w->dlen = w->len;
    reader *r;
    FUZZ_CHECK(eva_task_spawn(w->loop, sizeof *r, reader_run, "reader", on_reader_done, (void **)&r) == 0);
    r->w = w;
    w->task = r;
    w->tasks_live++;
    w->pending = true;
    w->idle = false;
}

static void step_read(world *w, fuzz_input *in) {
    uint8_t how = fuzz_byte(in);
    size_t len = 1 + fuzz_byte(in) % MAX_READ;
    size_t dlen = 1 + fuzz_byte(in) % MAX_DELIM;
    eva_stream_read_mode mode = how % 3 == 0 ? EVA__READ_SOME : how % 3 == 1 ? EVA__READ_EXACT : EVA__READ_UNTIL;
    if (w->pending) {
        /* a second read: refused while the first is on the connection (the
         * AWAIT form's is once its task has run; a cancelled one leaves it
         * at once, its completion still to come) */
        if (w->cancelled || (w->task && eva_task_get_state(&w->task->task) == EVA_TASK_QUEUED))
            return;
        eva_stream_read_req other = {0};
        char byte;
        FUZZ_CHECK(eva_stream_read(&other, &w->tcp, &byte, 1, on_read) == -EBUSY);
        return;
    }
    w->mode = mode;
    w->len = len;
    w->dlen = mode == EVA__READ_UNTIL ? dlen : 0;
    size_t got = w->dlen;
    memset(w->delim, 0, sizeof w->delim);
    memcpy(w->delim, fuzz_bytes(in, &got), got);
    w->cancelled = false;
    if (how & 0x80)
        await_read(w);
    else
        callback_read(w);
}

static void step_send(world *w, fuzz_input *in) {
    size_t n = 1 + fuzz_byte(in) % MAX_CHUNK;
    const uint8_t *bytes = fuzz_bytes(in, &n);
    if (w->shut || w->reset || n == 0 || w->sent + n > MAX_STREAM)
        return;
    FUZZ_CHECK(send(w->peer, bytes, n, MSG_NOSIGNAL) == (ssize_t)n); /* far below the buffer */
    memcpy(w->stream + w->sent, bytes, n);
    w->sent += n;
}

static void step(world *w, fuzz_input *in) {
    switch (fuzz_byte(in) % STEPS) {
    case STEP_SEND: step_send(w, in); break;
    case STEP_READ: step_read(w, in); break;
    case STEP_RUN: FUZZ_CHECK(eva_loop_run(w->loop, EVA_RUN_NOWAIT) >= 0); break;
    case STEP_SHUT:
        if (!w->shut && !w->reset)
            FUZZ_CHECK(shutdown(w->peer, SHUT_WR) == 0);
        w->shut = true;
        break;
    case STEP_RESET:
        if (!w->reset)
            fuzz_tcp_reset(w->peer);
        w->reset = true;
        w->peer = -1;
        break;
    case STEP_CANCEL_READ:
        w->cancelled = w->pending;
        FUZZ_CHECK(eva_stream_read_cancel(&w->tcp) == 0);
        break;
    default:
        if (w->task) {
            w->cancelled = true;
            FUZZ_CHECK(eva_task_cancel(&w->task->task) == 0);
        }
    }
}

/* Can the stream finish the pending read now (all of it has arrived: loopback)? */
static bool satisfiable(const world *w) {
    if (w->reset || w->shut)
        return true;
    size_t rest = w->sent - w->consumed;
    switch (w->mode) {
    case EVA__READ_SOME:  return rest > 0;
    case EVA__READ_EXACT: return rest >= w->len;
    default:
        return rest >= w->len ||
               delim_end(w, (const char *)w->stream + w->consumed, rest) > 0;
    }
}

static void wait_read(world *w) { FUZZ_CHECK(fuzz_run_until(w->loop, &w->idle, 5000)); }

/* The end: the read pending must be able to finish; then the rest of the
 * stream is drained by read-somes until its end: nothing was lost. */
static void drain(world *w) {
    if (w->pending && satisfiable(w))
        wait_read(w);
    if (!w->shut && !w->reset)
        FUZZ_CHECK(shutdown(w->peer, SHUT_WR) == 0);
    w->shut = true;
    if (w->pending)
        wait_read(w);
    while (w->consumed < w->sent && !w->reset) {
        w->mode = EVA__READ_SOME;
        w->len = MAX_READ;
        callback_read(w);
        wait_read(w);
    }
    FUZZ_CHECK(w->reset || w->consumed == w->sent);
}

static void on_closed(eva_stream *tcp, int status) {
    world *w = tcp->data;
    FUZZ_CHECK(!w->closed);
    (void)status; /* DISCARD: nothing to flush */
    w->closed = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static world w;
    memset(&w, 0, sizeof w);
    fuzz_input in = {data, size};
    int fds[2];
    fuzz_tcp_pair(fds);
    w.peer = fds[1];
    w.loop = fuzz_loop_new();
    w.tcp.data = &w;
    w.idle = true;
    FUZZ_CHECK(eva_stream_open(w.loop, &w.tcp, fds[0]) == 0);
    while (in.n > 0)
        step(&w, &in);
    drain(&w);
    w.closing = true;
    FUZZ_CHECK(eva_stream_close(&w.tcp, EVA_STREAM_CLOSE_DISCARD, on_closed) == 0);
    FUZZ_CHECK(fuzz_run_until(w.loop, &w.closed, 5000));
    FUZZ_CHECK(w.idle);
    if (w.peer >= 0)
        close(w.peer);
    fuzz_loop_destroy(w.loop);
    fuzz_check_freed();
    return 0;
}
