/* The loop group (evasync/group.h): two loops serving one SO_REUSEPORT port,
 * a stop with a request in flight on the shared offload pool (it is answered,
 * every idle connection closed, the threads joined), a loop that blocks
 * while the other keeps answering, and a failed setup (the cross-loop
 * channel send is tests/test_channel_post.c).  Runs under TSan (label
 * threads).
 *
 * Loop callbacks run on the group's threads, where cmocka cannot fail a
 * test: they record what they saw, and the main thread asserts it.  Every
 * wait is bounded (a socket receive timeout, sem_timedwait), so a broken
 * group fails a test instead of hanging it. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "helpers.h"

enum { LOOPS = 2, CONNS = 32, MAX_CONNS = 64, WAIT_MS = 5000 };

/* ---- the server: each loop answers a request byte with its index -------- */

struct server;

typedef struct conn {
    eva_task task;
    struct server *srv;
    int slot;
    eva_stream tcp;
    eva_stream_read_req rd;
    eva_stream_write_req wr;
    eva_pool_job job;
    char in, out;
} conn;

/* One per loop; touched only on its loop's thread (after setup). */
typedef struct server {
    struct world *world;
    unsigned index;
    eva_server listener;
    bool draining;
    conn *conns[MAX_CONNS]; /* live connections; NULL: free slot */
    bool busy[MAX_CONNS];   /* between reading a request and answering it */
} server;

typedef struct world {
    eva_group *group;
    eva_pool *pool;
    int port;                 /* loop 0's setup picks it, the later ones reuse it */
    int fail_setup_at;        /* -1: every setup succeeds */
    server servers[LOOPS];
    sem_t work_started, work_release; /* the pool job of a 'p' request */
    sem_t stopped;            /* a stop hook ran */
    _Atomic int stop_hooks;
    _Atomic int errors;       /* anything a loop thread saw go wrong */
} world;

static void *slow_work(void *arg) {
    world *w = arg;
    sem_post(&w->work_started);
    if (!test_sem_wait_ms(&w->work_release, WAIT_MS))
        atomic_fetch_add(&w->errors, 1);
    return NULL;
}

/* Requests: 'r' is answered at once; 'p' after a job on the shared pool. */
static eva_step conn_run(void *frame) {
    conn *c = frame;
    ASYNC_BEGIN(c);
    while (!c->srv->draining) {
        AWAIT(c, eva_stream_read_op(&c->rd, &c->tcp, &c->in, 1));
        if (c->rd.nread == 0)
            break;
        c->srv->busy[c->slot] = true;
        if (c->in == 'p')
            AWAIT(c, eva_pool_submit_op(c->srv->world->pool, &c->job, slow_work, c->srv->world));
        c->out = (char)('0' + c->srv->index);
        AWAIT(c, eva_stream_write_op(&c->wr, &c->tcp, &c->out, 1));
        c->srv->busy[c->slot] = false;
    }
    ASYNC_FINALLY(c);
    c->srv->conns[c->slot] = NULL;
    eva_stream_close(&c->tcp, EVA_STREAM_CLOSE_FLUSH, NULL);
    ASYNC_END(c);
}

static int free_slot(server *s) {
    for (int i = 0; i < MAX_CONNS; i++)
        if (!s->conns[i])
            return i;
    return -1;
}

static void on_accept(eva_server *listener, int fd) {
    server *s = listener->data;
    eva_loop *loop = eva_group_get_loop(s->world->group, s->index);
    int slot = free_slot(s);
    conn *c;
    if (slot < 0 || eva_task_spawn(loop, sizeof *c, conn_run, "conn", NULL, (void **)&c) < 0) {
        atomic_fetch_add(&s->world->errors, 1);
        close(fd);
        return;
    }
    c->srv = s;
    c->slot = slot;
    s->conns[slot] = c;
    if (eva_stream_open(loop, &c->tcp, fd) < 0)
        atomic_fetch_add(&s->world->errors, 1);
}

static int setup(eva_loop *loop, unsigned index, void *arg) {
    world *w = arg;
    if ((int)index == w->fail_setup_at)
        return -EADDRINUSE;
    server *s = &w->servers[index];
    s->world = w;
    s->index = index;
    s->listener.data = s;
    eva_tcp_listen_options opts = {.reuseport = true};
    int rc = eva_tcp_listen_ip(loop, &s->listener, "127.0.0.1", (uint16_t)w->port, &opts);
    if (rc < 0)
        return rc;
    w->port = eva_tcp_server_get_port(&s->listener);
    return eva_server_accept_start(&s->listener, on_accept);
}

/* Stop: no new connections; idle ones are cancelled (their read ends), a
 * busy one answers what it has read and then ends. */
static void stop(eva_loop *loop, unsigned index, void *arg) {
    (void)loop;
    world *w = arg;
    server *s = &w->servers[index];
    eva_server_close(&s->listener);
    s->draining = true;
    for (int i = 0; i < MAX_CONNS; i++)
        if (s->conns[i] && !s->busy[i])
            eva_task_cancel(&s->conns[i]->task);
    atomic_fetch_add(&w->stop_hooks, 1);
    sem_post(&w->stopped);
}

static void world_init(world *w, int fail_setup_at) {
    memset(w, 0, sizeof *w);
    w->fail_setup_at = fail_setup_at;
    sem_init(&w->work_started, 0, 0);
    sem_init(&w->work_release, 0, 0);
    sem_init(&w->stopped, 0, 0);
    eva_pool_options popts = {.threads = 2};
    assert_int_equal(eva_pool_new(&popts, &w->pool), 0);
    eva_group_options gopts = {.threads = LOOPS, .setup = setup, .stop = stop, .arg = w};
    assert_int_equal(eva_group_new(&gopts, &w->group), 0);
}

static void world_end(world *w) {
    assert_int_equal(eva_group_stop(w->group), 0);
    assert_int_equal(eva_group_join(w->group), 0);
    assert_int_equal(eva_group_destroy(w->group), 0);
    assert_int_equal(eva_pool_destroy(w->pool), 0);
    assert_int_equal(atomic_load(&w->errors), 0);
    sem_destroy(&w->work_started);
    sem_destroy(&w->work_release);
    sem_destroy(&w->stopped);
}

/* ---- the client: blocking sockets with a receive timeout ---------------- */

static int client_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {.tv_sec = WAIT_MS / 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

static void client_send(int fd, char request) {
    assert_int_equal(write(fd, &request, 1), 1);
}

/* The answering loop's index, -1 on end of stream; fails on a timeout. */
static int client_answer(int fd) {
    char c;
    ssize_t n = read(fd, &c, 1);
    assert_true(n >= 0);
    return n == 0 ? -1 : c - '0';
}

/* ---- tests ---------------------------------------------------------------- */

/* Both loops serve the port; a stop while a request waits on the pool
 * answers it, closes every idle connection, and the threads join. */
static void test_serve_and_stop_in_flight(void **state) {
    (void)state;
    world w;
    world_init(&w, -1);
    assert_int_equal(eva_group_start(w.group), 0);
    int fds[CONNS], answered[LOOPS] = {0};
    for (int i = 0; i < CONNS; i++) {
        fds[i] = client_connect(w.port);
        assert_true(fds[i] >= 0);
        client_send(fds[i], 'r');
        int index = client_answer(fds[i]);
        assert_true(index >= 0 && index < LOOPS);
        answered[index]++;
    }
    /* the kernel spreads 32 connections over both (all on one: p = 2^-31) */
    assert_true(answered[0] > 0 && answered[1] > 0);

    client_send(fds[0], 'p');
    assert_true(test_sem_wait_ms(&w.work_started, WAIT_MS));
    assert_int_equal(eva_group_stop(w.group), 0);
    for (int i = 0; i < LOOPS; i++)
        assert_true(test_sem_wait_ms(&w.stopped, WAIT_MS));
    sem_post(&w.work_release); /* only now may the request in flight finish */
    assert_true(client_answer(fds[0]) >= 0);
    for (int i = 0; i < CONNS; i++) {
        assert_int_equal(client_answer(fds[i]), -1);
        close(fds[i]);
    }
    assert_int_equal(client_connect(w.port), -ECONNREFUSED);
    assert_int_equal(eva_group_join(w.group), 0);
    assert_int_equal(atomic_load(&w.stop_hooks), LOOPS);
    world_end(&w);
}

typedef struct blocker {
    eva_call call;
    sem_t entered, release;
    _Atomic bool released;
} blocker;

static void block_loop(eva_loop *loop, int status, void *arg) {
    (void)loop;
    blocker *b = arg;
    if (status < 0)
        return;
    sem_post(&b->entered);
    test_sem_wait_ms(&b->release, WAIT_MS);
}

/* Loop 1 blocks in a callback: loop 0 keeps answering its connections;
 * loop 1's wait in its accept queue and are answered once it is released. */
static void test_blocked_loop_others_serve(void **state) {
    (void)state;
    world w;
    world_init(&w, -1);
    assert_int_equal(eva_group_start(w.group), 0);
    blocker b;
    sem_init(&b.entered, 0, 0);
    sem_init(&b.release, 0, 0);
    assert_int_equal(eva_loop_post(eva_group_get_loop(w.group, 1), &b.call, block_loop, &b), 0);
    assert_true(test_sem_wait_ms(&b.entered, WAIT_MS));

    struct pollfd pfd[CONNS];
    for (int i = 0; i < CONNS; i++) {
        int fd = client_connect(w.port);
        assert_true(fd >= 0);
        client_send(fd, 'r');
        pfd[i] = (struct pollfd){.fd = fd, .events = POLLIN};
    }
    int answered[LOOPS] = {0}, total = 0;
    /* the first answer comes while loop 1 is still blocked: from loop 0 */
    assert_true(poll(pfd, CONNS, WAIT_MS) > 0);
    for (int i = 0; i < CONNS; i++) {
        if (!(pfd[i].revents & POLLIN))
            continue;
        assert_int_equal(client_answer(pfd[i].fd), 0);
        answered[0]++;
        total++;
        pfd[i].events = 0;
    }
    sem_post(&b.release);
    for (int i = 0; i < CONNS; i++) {
        if (pfd[i].events == 0)
            continue;
        int index = client_answer(pfd[i].fd); /* bounded by SO_RCVTIMEO */
        assert_true(index >= 0 && index < LOOPS);
        answered[index]++;
        total++;
    }
    assert_int_equal(total, CONNS);
    assert_true(answered[0] > 0 && answered[1] > 0);
    for (int i = 0; i < CONNS; i++)
        close(pfd[i].fd);
    world_end(&w);
    sem_destroy(&b.entered);
    sem_destroy(&b.release);
}

/* Loop 1's setup fails: start returns its error after stopping loop 0 and
 * joining both threads. */
static void test_setup_failure(void **state) {
    (void)state;
    world w;
    world_init(&w, 1);
    assert_int_equal(eva_group_start(w.group), -EADDRINUSE);
    assert_int_equal(atomic_load(&w.stop_hooks), 1);
    assert_int_equal(eva_group_start(w.group), -EBUSY);
    world_end(&w);
}

typedef struct from_loop {
    eva_call call;
    eva_group *group;
    _Atomic int stop_rc, join_rc;
} from_loop;

static void stop_from_loop(eva_loop *loop, int status, void *arg) {
    (void)loop;
    (void)status;
    from_loop *f = arg;
    atomic_store(&f->join_rc, eva_group_join(f->group));
    atomic_store(&f->stop_rc, eva_group_stop(f->group));
}

/* A loop may stop its group (not join it); a stop before start cancels it. */
static void test_lifecycle(void **state) {
    (void)state;
    eva_group *g;
    eva_group_options opts = {.threads = 3};
    assert_int_equal(eva_group_new(NULL, NULL), -EINVAL);
    opts.threads = 5000;
    assert_int_equal(eva_group_new(&opts, &g), -EINVAL);
    opts.threads = 3;
    assert_int_equal(eva_group_new(&opts, &g), 0);
    assert_int_equal(eva_group_get_size(g), 3);
    assert_non_null(eva_group_get_loop(g, 2));
    assert_null(eva_group_get_loop(g, 3));
    assert_int_equal(eva_group_start(g), 0);
    assert_int_equal(eva_group_destroy(g), -EBUSY);
    from_loop f = {.group = g, .stop_rc = 1, .join_rc = 1};
    assert_int_equal(eva_loop_post(eva_group_get_loop(g, 1), &f.call, stop_from_loop, &f), 0);
    assert_int_equal(eva_group_join(g), 0); /* returns only because the loop stopped it */
    assert_int_equal(atomic_load(&f.join_rc), -EDEADLK);
    assert_int_equal(atomic_load(&f.stop_rc), 0);
    assert_int_equal(eva_group_destroy(g), 0);

    assert_int_equal(eva_group_new(&opts, &g), 0);
    assert_int_equal(eva_group_stop(g), 0);
    assert_int_equal(eva_group_start(g), -ECANCELED);
    assert_int_equal(eva_group_join(g), 0);
    assert_int_equal(eva_group_destroy(g), 0);
    assert_int_equal(eva_group_get_size(NULL), 0);
    assert_int_equal(eva_group_start(NULL), -EINVAL);
    assert_int_equal(eva_group_stop(NULL), -EINVAL);
    assert_int_equal(eva_group_join(NULL), -EINVAL);
    assert_int_equal(eva_group_destroy(NULL), -EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serve_and_stop_in_flight),
        cmocka_unit_test(test_blocked_loop_others_serve),
        cmocka_unit_test(test_setup_failure),
        cmocka_unit_test(test_lifecycle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
