/* Lent reads (evasync/stream.h): the loop lends a stream a chunk only once
 * bytes are there; the bytes stay valid across other awaits until the next
 * read, eva_stream_release_lent or the close; a connection waiting for bytes
 * holds no chunk; a chunk given back is poisoned (ASan) or scribbled over
 * (other debug builds); no chunk: -ENOMEM and the connection stays usable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "helpers.h"

#if defined(__SANITIZE_ADDRESS__)
#define LENT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LENT_ASAN 1
#endif
#endif
#ifdef LENT_ASAN
#include <sanitizer/asan_interface.h>
#endif

typedef struct outcome {
    bool done;
    int status;
} outcome;

static void on_read(eva_stream_read_req *req, int status) {
    outcome *o = req->data;
    o->done = true;
    o->status = status;
}

static eva_stream_lent_stats lent_stats(eva_loop *loop) {
    eva_stream_lent_stats s;
    assert_int_equal(eva_stream_get_lent_stats(loop, &s), 0);
    return s;
}

static void stream_pair(eva_loop *loop, eva_stream *stream, int *peer) {
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(eva_stream_open(loop, stream, sv[0]), 0);
    *peer = sv[1];
}

/* One loop with one stream over a socket pair: most tests need no more. */
typedef struct fixture {
    eva_loop *loop;
    eva_stream s;
    int peer;
} fixture;

static fixture *fixture_open(void) {
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->loop = test_loop_new();
    stream_pair(f->loop, &f->s, &f->peer);
    return f;
}

static void fixture_close(fixture *f) {
    eva_stream_close(&f->s, EVA_STREAM_CLOSE_DISCARD, NULL);
    if (f->peer >= 0)
        close(f->peer);
    test_loop_destroy(f->loop);
    free(f);
}

/* Whether a chunk given back can be told from live data: poisoned, or
 * scribbled over; false in release builds, which do neither. */
static bool looks_given_back(const char *chunk) {
#ifdef LENT_ASAN
    return __asan_address_is_poisoned(chunk);
#elif !defined(NDEBUG)
    return (unsigned char)chunk[0] == 0xdd && (unsigned char)chunk[EVA_STREAM_LENT_SIZE - 1] == 0xdd;
#else
    (void)chunk;
    return true;
#endif
}

/* The callback form: no chunk while waiting, one while the bytes are the
 * caller's, none again once the next read starts; EOF lends nothing. */
static void callback_form_lends_only_while_bytes_are_there(void **state) {
    (void)state;
    fixture *f = fixture_open();
    eva_loop *loop = f->loop;
    eva_stream *s = &f->s;
    outcome o = {0};
    eva_stream_read_req rd = {.data = &o};
    assert_int_equal(eva_stream_read_lent(&rd, s, on_read), 0);
    eva_loop_run(loop, EVA_RUN_NOWAIT);
    assert_int_equal(lent_stats(loop).lent, 0); /* waiting costs no buffer */
    assert_int_equal(write(f->peer, "hello", 5), 5);
    test_run_until(loop, &o.done, 2000);
    assert_int_equal(o.status, 0);
    assert_int_equal(rd.nread, 5);
    assert_non_null(rd.lent);
    assert_memory_equal(rd.lent, "hello", 5);
    assert_int_equal(lent_stats(loop).lent, 1);

    o.done = false;
    assert_int_equal(eva_stream_read_lent(&rd, s, on_read), 0);
    assert_null(rd.lent);
    assert_int_equal(lent_stats(loop).lent, 0);
    assert_true(lent_stats(loop).spare >= 1);
    close(f->peer);
    f->peer = -1;
    test_run_until(loop, &o.done, 2000);
    assert_int_equal(o.status, 0);
    assert_int_equal(rd.nread, 0); /* end of stream */
    assert_null(rd.lent);
    assert_int_equal(lent_stats(loop).lent, 0);
    fixture_close(f);
}

/* The AWAIT form: the bytes survive a write await; the next read gives the
 * chunk back, and a chunk given back is recognisably dead. */
typedef struct echo {
    eva_task task;
    eva_stream s;
    eva_stream_read_req rd;
    eva_stream_write_req wr;
    char copy[8];
    char *first;           /* the first read's chunk */
    bool intact_after_write;
    bool done;
} echo;

static eva_step echo_run(void *frame) {
    echo *e = frame;
    ASYNC_BEGIN(e);
    AWAIT(e, eva_stream_read_lent_op(&e->rd, &e->s));
    assert_int_equal(e->rd.nread, 4);
    e->first = e->rd.lent;
    memcpy(e->copy, e->rd.lent, 4);
    AWAIT(e, eva_stream_write_op(&e->wr, &e->s, e->rd.lent, (size_t)e->rd.nread));
    e->intact_after_write = memcmp(e->rd.lent, e->copy, 4) == 0;
    AWAIT(e, eva_stream_read_lent_op(&e->rd, &e->s));
    assert_int_equal(e->rd.nread, 0);
    ASYNC_FINALLY(e);
    e->done = true;
    ASYNC_END(e);
}

static void await_form_keeps_bytes_until_the_next_read(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    echo *e = calloc(1, sizeof *e);
    assert_non_null(e);
    int peer;
    stream_pair(loop, &e->s, &peer);
    assert_int_equal(write(peer, "ping", 4), 4);
    eva_task_init(loop, &e->task, echo_run, "echo");
    assert_int_equal(eva_task_start(&e->task, NULL), 0);
    char got[4];
    while (!e->intact_after_write)
        assert_true(eva_loop_run(loop, EVA_RUN_ONCE) >= 0);
    assert_int_equal(read(peer, got, 4), 4);
    assert_memory_equal(got, "ping", 4);
    /* parked in the second read: the first chunk went back, none is held */
    assert_int_equal(eva_task_get_state(&e->task), EVA_TASK_SUSPENDED);
    assert_int_equal(lent_stats(loop).lent, 0);
    assert_true(looks_given_back(e->first));
    close(peer);
    test_run_until(loop, &e->done, 2000);
    assert_int_equal(eva_task_get_status(&e->task), 0);
    eva_stream_close(&e->s, EVA_STREAM_CLOSE_DISCARD, NULL);
    test_loop_destroy(loop);
    free(e);
}

/* A read that came back short of its chunk emptied the socket: the next
 * AWAIT read waits for readiness instead of trying it first (one read
 * syscall saved per request; the watcher is level-triggered, so bytes that
 * came in between are still delivered, one iteration later). */
typedef struct twice {
    eva_task task;
    eva_stream s;
    eva_stream_read_req rd;
    char second[8];
    size_t second_len;
    bool first_done, second_started, done;
} twice;

static eva_step twice_run(void *frame) {
    twice *t = frame;
    ASYNC_BEGIN(t);
    AWAIT(t, eva_stream_read_lent_op(&t->rd, &t->s)); /* 2 bytes of a chunk: short */
    t->first_done = true;
    YIELD(t); /* the test writes the next bytes meanwhile */
    t->second_started = true;
    AWAIT(t, eva_stream_read_lent_op(&t->rd, &t->s));
    t->second_len = (size_t)t->rd.nread;
    memcpy(t->second, t->rd.lent, t->second_len < sizeof t->second ? t->second_len : sizeof t->second);
    ASYNC_FINALLY(t);
    t->done = true;
    ASYNC_END(t);
}

static void await_read_after_a_short_read_waits_for_readiness(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    twice *t = calloc(1, sizeof *t);
    assert_non_null(t);
    int peer;
    stream_pair(loop, &t->s, &peer);
    assert_int_equal(write(peer, "ab", 2), 2);
    eva_task_init(loop, &t->task, twice_run, "twice");
    assert_int_equal(eva_task_start(&t->task, NULL), 0);
    test_run_until(loop, &t->first_done, 2000);
    assert_int_equal(write(peer, "cd", 2), 2); /* there before the second read starts */
    test_run_until(loop, &t->second_started, 2000);
    assert_false(t->done); /* parked, though the bytes were there: the socket was not tried */
    assert_int_equal(eva_task_get_state(&t->task), EVA_TASK_SUSPENDED);
    test_run_until(loop, &t->done, 2000);
    assert_int_equal(eva_task_get_status(&t->task), 0);
    assert_int_equal(t->second_len, 2);
    assert_memory_equal(t->second, "cd", 2);
    close(peer);
    eva_stream_close(&t->s, EVA_STREAM_CLOSE_DISCARD, NULL);
    test_loop_destroy(loop);
    free(t);
}

/* Many connections, each answered and waiting again: none holds a chunk,
 * and the loop keeps no more than EVA_STREAM_LENT_SPARE spare. */
enum { CONNS = 64 };

typedef struct conn {
    eva_stream s;
    eva_stream_read_req rd;
    int peer;
    int reads;
} conn;

static void on_conn_read(eva_stream_read_req *req, int status) {
    conn *c = req->data;
    if (status == -ECANCELED)
        return; /* closed at the end */
    assert_int_equal(status, 0);
    assert_int_equal(req->nread, 3);
    assert_memory_equal(req->lent, "abc", 3);
    c->reads++;
    assert_int_equal(eva_stream_read_lent(req, req->stream, on_conn_read), 0);
}

static void idle_connections_hold_no_chunk(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    conn *cs = calloc(CONNS, sizeof *cs);
    assert_non_null(cs);
    for (int i = 0; i < CONNS; i++) {
        stream_pair(loop, &cs[i].s, &cs[i].peer);
        cs[i].rd.data = &cs[i];
        assert_int_equal(eva_stream_read_lent(&cs[i].rd, &cs[i].s, on_conn_read), 0);
        assert_int_equal(write(cs[i].peer, "abc", 3), 3);
    }
    for (int i = 0; i < CONNS;)
        if (cs[i].reads == 1)
            i++;
        else
            assert_true(eva_loop_run(loop, EVA_RUN_ONCE) >= 0);
    eva_stream_lent_stats st = lent_stats(loop);
    assert_int_equal(st.lent, 0);
    assert_true(st.spare >= 1 && st.spare <= EVA_STREAM_LENT_SPARE);
    assert_true(st.lent_peak >= 1 && st.lent_peak <= CONNS);
    for (int i = 0; i < CONNS; i++) {
        eva_stream_close(&cs[i].s, EVA_STREAM_CLOSE_DISCARD, NULL);
        close(cs[i].peer);
    }
    test_loop_destroy(loop);
    free(cs);
}

/* Release and close both give a held chunk back (and loop destroy frees the
 * spares: ASan's leak check covers it). */
static void release_and_close_give_the_chunk_back(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_stream a = {0}, b = {0};
    int pa, pb;
    stream_pair(loop, &a, &pa);
    stream_pair(loop, &b, &pb);
    outcome oa = {0}, ob = {0};
    eva_stream_read_req ra = {.data = &oa}, rb = {.data = &ob};
    assert_int_equal(eva_stream_read_lent(&ra, &a, on_read), 0);
    assert_int_equal(eva_stream_read_lent(&rb, &b, on_read), 0);
    assert_int_equal(write(pa, "x", 1), 1);
    assert_int_equal(write(pb, "y", 1), 1);
    test_run_until(loop, &oa.done, 2000);
    test_run_until(loop, &ob.done, 2000);
    assert_int_equal(lent_stats(loop).lent, 2);
    eva_stream_release_lent(&a);
    assert_int_equal(lent_stats(loop).lent, 1);
    assert_true(looks_given_back(ra.lent));
    eva_stream_release_lent(&a); /* holds none: nothing happens */
    eva_stream_release_lent(NULL);
    assert_int_equal(lent_stats(loop).lent, 1);
    eva_stream_close(&b, EVA_STREAM_CLOSE_DISCARD, NULL);
    assert_int_equal(lent_stats(loop).lent, 0);
    eva_stream_close(&a, EVA_STREAM_CLOSE_DISCARD, NULL);
    close(pa);
    close(pb);
    test_loop_destroy(loop);
}

/* A lent read still holding its chunk at loop destroy: the close gives it back. */
static void loop_destroy_takes_a_held_chunk_back(void **state) {
    (void)state;
    fixture *f = fixture_open();
    eva_loop *loop = f->loop;
    eva_stream *s = &f->s;
    outcome o = {0};
    eva_stream_read_req rd = {.data = &o};
    assert_int_equal(write(f->peer, "z", 1), 1);
    assert_int_equal(eva_stream_read_lent(&rd, s, on_read), 0);
    test_run_until(loop, &o.done, 2000);
    assert_int_equal(lent_stats(loop).lent, 1);
    test_loop_destroy(loop); /* ASan: the chunk is not leaked */
    assert_false(eva_stream_is_open(s));
    close(f->peer);
    free(f);
}

/* The promise form: the value is the request, its bytes valid as lent. */
static int on_settled(void *arg, eva_promise *settled, eva_promise *next) {
    (void)next;
    outcome *o = arg;
    eva_stream_read_req *req = eva_promise_get_value(settled);
    o->done = true;
    o->status = req && req->nread == 2 && memcmp(req->lent, "hi", 2) == 0 ? 0 : -EPROTO;
    return 0;
}

static void promise_form(void **state) {
    (void)state;
    fixture *f = fixture_open();
    eva_loop *loop = f->loop;
    eva_stream *s = &f->s;
    eva_promise *p;
    assert_int_equal(eva_stream_read_lent_promise(s, &p), 0);
    outcome o = {0};
    assert_int_equal(eva_promise_then(p, on_settled, on_settled, &o, NULL), 0);
    assert_int_equal(write(f->peer, "hi", 2), 2);
    test_run_until(loop, &o.done, 2000);
    assert_int_equal(o.status, 0);
    eva_promise_unref(p);
    fixture_close(f);
}

/* Start errors as the other reads; no chunk: -ENOMEM, nothing consumed, and
 * the next lent read gets the bytes. */
static void start_errors_and_enomem(void **state) {
    (void)state;
    fixture *f = fixture_open();
    eva_loop *loop = f->loop;
    eva_stream *s = &f->s, closed = {0};
    outcome o = {0};
    eva_stream_read_req rd = {.data = &o}, other = {0};
    assert_int_equal(eva_stream_read_lent(NULL, s, on_read), -EINVAL);
    assert_int_equal(eva_stream_read_lent(&rd, s, NULL), -EINVAL);
    assert_int_equal(eva_stream_read_lent(&rd, &closed, on_read), -ENOTCONN);
    assert_int_equal(eva_stream_get_lent_stats(NULL, &(eva_stream_lent_stats){0}), -EINVAL);
    assert_int_equal(eva_stream_get_lent_stats(loop, NULL), -EINVAL);
    assert_int_equal(eva_stream_read_lent(&rd, s, on_read), 0);
    assert_int_equal(eva_stream_read_lent(&other, s, on_read), -EBUSY);
    assert_int_equal(eva_stream_read_lent(&rd, s, on_read), -EBUSY);

    test_alloc a = {.fail_after = 0, .once = true};
    test_alloc_install(&a);
    assert_int_equal(write(f->peer, "data", 4), 4);
    test_run_until(loop, &o.done, 2000);
    test_alloc_install(NULL);
    assert_int_equal(o.status, -ENOMEM);
    assert_int_equal(rd.nread, 0);
    assert_null(rd.lent);
    assert_int_equal(lent_stats(loop).lent, 0);

    o.done = false;
    assert_int_equal(eva_stream_read_lent(&rd, s, on_read), 0);
    test_run_until(loop, &o.done, 2000);
    assert_int_equal(o.status, 0);
    assert_int_equal(rd.nread, 4);
    assert_memory_equal(rd.lent, "data", 4);
    fixture_close(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(callback_form_lends_only_while_bytes_are_there),
        cmocka_unit_test(await_form_keeps_bytes_until_the_next_read),
        cmocka_unit_test(await_read_after_a_short_read_waits_for_readiness),
        cmocka_unit_test(idle_connections_hold_no_chunk),
        cmocka_unit_test(release_and_close_give_the_chunk_back),
        cmocka_unit_test(loop_destroy_takes_a_held_chunk_back),
        cmocka_unit_test(promise_form),
        cmocka_unit_test(start_errors_and_enomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
