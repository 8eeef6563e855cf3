/* Unix domain stream sockets: listen/accept/connect by path and by abstract
 * name, peer credentials, descriptor passing (and its limits: too many
 * descriptors, a peer that closes in the middle), and the bad input: names
 * too long for sun_path, stale socket files, Unix calls on a pipe. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>
#include <cmocka.h>

#include "helpers.h"

typedef struct outcome {
    bool done;
    int status;
} outcome;

static void on_connected(eva_unix_connect_req *req, int status) {
    outcome *o = req->data;
    o->done = true;
    o->status = status;
}

static void on_accepted(eva_server_accept_req *req, int status) {
    outcome *o = req->data;
    o->done = true;
    o->status = status;
}

static void on_read(eva_stream_read_req *req, int status) {
    outcome *o = req->data;
    o->done = true;
    o->status = status;
}

static void on_written(eva_stream_write_req *req, int status) {
    outcome *o = req->data;
    o->done = true;
    o->status = status;
}

static int open_fds(void) {
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own */
}

/* A fresh socket path in the temporary directory. */
static void temp_path(char *out, size_t len, const char *tag) {
    snprintf(out, len, "/tmp/evasync-test-%d-%s.sock", (int)getpid(), tag);
    unlink(out);
}

/* A connected pair through a listening server at name: client and the
 * accepted side, both streams. */
typedef struct pair {
    eva_server srv;
    eva_stream client, server_side;
} pair;

static void connect_pair(eva_loop *loop, pair *p, const char *name) {
    assert_int_equal(eva_unix_listen(loop, &p->srv, name, 0, 0), 0);
    outcome acc = {0}, con = {0};
    eva_server_accept_req ar = {.data = &acc};
    eva_unix_connect_req cr = {.data = &con};
    assert_int_equal(eva_server_accept(&ar, &p->srv, on_accepted), 0);
    assert_int_equal(eva_unix_connect(&cr, loop, &p->client, name, 2000, on_connected), 0);
    test_run_until(loop, &con.done, 2000);
    test_run_until(loop, &acc.done, 2000);
    assert_int_equal(con.status, 0);
    assert_int_equal(acc.status, 0);
    assert_int_equal(eva_stream_open(loop, &p->server_side, ar.fd), 0);
}

static void close_pair(pair *p) {
    eva_stream_close(&p->client, EVA_STREAM_CLOSE_DISCARD, NULL);
    eva_stream_close(&p->server_side, EVA_STREAM_CLOSE_DISCARD, NULL);
    eva_server_close(&p->srv);
}

static void exchange(eva_loop *loop, pair *p) {
    outcome w = {0}, r = {0};
    eva_stream_write_req wr = {.data = &w};
    struct iovec v = {.iov_base = "hi", .iov_len = 2};
    assert_int_equal(eva_stream_write(&wr, &p->client, &v, 1, on_written), 0);
    char buf[8];
    eva_stream_read_req rd = {.data = &r};
    assert_int_equal(eva_stream_read_exact(&rd, &p->server_side, buf, 2, on_read), 0);
    test_run_until(loop, &r.done, 2000);
    assert_int_equal(r.status, 0);
    assert_memory_equal(buf, "hi", 2);
}

/* ---- listen / connect ---------------------------------------------------------------- */

static void path_listen_connect_and_peercred(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    char path[108];
    temp_path(path, sizeof path, "path");
    pair p = {0};
    connect_pair(loop, &p, path);
    exchange(loop, &p);
    pid_t pid = 0;
    uid_t uid = (uid_t)-1;
    gid_t gid = (gid_t)-1;
    assert_int_equal(eva_unix_get_peercred(&p.server_side, &pid, &uid, &gid), 0);
    assert_int_equal(pid, getpid());
    assert_int_equal(uid, getuid());
    assert_int_equal(gid, getgid());
    close_pair(&p);
    unlink(path);
    test_loop_destroy(loop);
}

typedef struct unix_client {
    eva_task task;
    eva_stream s;
    eva_unix_connect_req cn;
    const char *name;
    int rc;
    bool done;
} unix_client;

static eva_step unix_client_run(void *frame) {
    unix_client *c = frame;
    ASYNC_BEGIN(c);
    AWAIT_RC(c, c->rc, eva_unix_connect_op(&c->cn, &c->s, c->name, 2000));
    ASYNC_FINALLY(c);
    c->done = true;
    ASYNC_END(c);
}

static void abstract_name_await_connect(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    char name[64];
    snprintf(name, sizeof name, "@evasync-test-%d", (int)getpid());
    eva_server srv = {0};
    assert_int_equal(eva_unix_listen(loop, &srv, name, 4, 0), 0);
    unix_client *c = calloc(1, sizeof *c);
    c->name = name;
    eva_task_init(loop, &c->task, unix_client_run, "unix-client");
    eva_task_start(&c->task, NULL);
    test_run_until(loop, &c->done, 2000);
    assert_int_equal(c->rc, 0);
    assert_true(eva_stream_is_open(&c->s));
    eva_stream_close(&c->s, EVA_STREAM_CLOSE_DISCARD, NULL);
    free(c);
    /* abstract: no file was made */
    struct stat st;
    assert_int_equal(stat(name + 1, &st), -1);
    eva_server_close(&srv);
    test_loop_destroy(loop);
}

/* ---- bad input ---------------------------------------------------------------------- */

static void names_too_long_and_empty(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    char longpath[200];
    memset(longpath, 'a', sizeof longpath - 1);
    longpath[0] = '/';
    longpath[sizeof longpath - 1] = '\0';
    eva_server srv = {0};
    assert_int_equal(eva_unix_listen(loop, &srv, longpath, 0, 0), -ENAMETOOLONG);
    longpath[sizeof((struct sockaddr_un *)0)->sun_path] = '\0'; /* 108: one too many */
    assert_int_equal(eva_unix_listen(loop, &srv, longpath, 0, 0), -ENAMETOOLONG);
    longpath[0] = '@';
    assert_int_equal(eva_unix_listen(loop, &srv, longpath, 0, 0), -ENAMETOOLONG);
    assert_int_equal(eva_unix_listen(loop, &srv, "", 0, 0), -EINVAL);
    assert_int_equal(eva_unix_listen(loop, &srv, "@", 0, 0), -EINVAL);
    assert_int_equal(eva_unix_listen(loop, &srv, "/tmp/x", 0, 0x80), -EINVAL);
    eva_stream s = {0};
    eva_unix_connect_req cr = {0};
    assert_int_equal(eva_unix_connect(&cr, loop, &s, longpath, 0, on_connected), -ENAMETOOLONG);
    assert_false(eva_stream_is_open(&s));
    test_loop_destroy(loop);
}

static void stale_socket_file_policy(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    char path[108];
    temp_path(path, sizeof path, "stale");
    /* a socket file left behind: bound, never listened on, closed */
    int old = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    strcpy(sun.sun_path, path);
    assert_int_equal(bind(old, (struct sockaddr *)&sun, sizeof sun), 0);
    close(old);

    eva_server srv = {0};
    assert_int_equal(eva_unix_listen(loop, &srv, path, 0, 0), -EADDRINUSE);
    assert_int_equal(eva_unix_listen(loop, &srv, path, 0, EVA_UNIX_UNLINK_STALE), 0);

    /* a live one is never removed, even with the flag */
    eva_server second = {0};
    assert_int_equal(eva_unix_listen(loop, &second, path, 0, EVA_UNIX_UNLINK_STALE), -EADDRINUSE);
    pair p = {0};
    eva_unix_connect_req cr = {.data = &(outcome){0}};
    outcome *con = cr.data;
    assert_int_equal(eva_unix_connect(&cr, loop, &p.client, path, 2000, on_connected), 0);
    test_run_until(loop, &con->done, 2000);
    assert_int_equal(con->status, 0); /* the first server still owns the path */
    eva_stream_close(&p.client, EVA_STREAM_CLOSE_DISCARD, NULL);
    eva_server_close(&srv);

    /* a file that is not a socket is never removed */
    unlink(path);
    int f = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    close(f);
    assert_int_equal(eva_unix_listen(loop, &srv, path, 0, EVA_UNIX_UNLINK_STALE), -EADDRINUSE);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    unlink(path);

    /* connecting to a stale file: refused */
    old = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(bind(old, (struct sockaddr *)&sun, sizeof sun), 0);
    close(old);
    eva_stream s = {0};
    outcome o = {0};
    eva_unix_connect_req cr2 = {.data = &o};
    int rc = eva_unix_connect(&cr2, loop, &s, path, 2000, on_connected);
    if (rc == 0) {
        test_run_until(loop, &o.done, 2000);
        rc = o.status;
    }
    assert_int_equal(rc, -ECONNREFUSED);
    assert_false(eva_stream_is_open(&s));
    unlink(path);
    test_loop_destroy(loop);
}

static void unix_calls_on_other_descriptors(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    eva_stream s = {0};
    assert_int_equal(eva_stream_open(loop, &s, p[0]), 0);
    assert_int_equal(eva_unix_get_peercred(&s, NULL, NULL, NULL), -ENOTSOCK);
    char buf[4];
    int fds[2];
    eva_stream_read_req rd = {0};
    assert_int_equal(eva_unix_read_fds(&rd, &s, buf, sizeof buf, fds, 2, on_read), -ENOTSOCK);
    eva_stream_close(&s, EVA_STREAM_CLOSE_DISCARD, NULL);
    close(p[1]);

    /* a TCP socket is a socket, but no Unix one */
    eva_server tcp = {0};
    assert_int_equal(eva_tcp_listen_ip(loop, &tcp, "127.0.0.1", 0, NULL), 0);
    int t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)eva_tcp_server_get_port(&tcp))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(t, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(eva_stream_open(loop, &s, t), 0);
    assert_int_equal(eva_unix_get_peercred(&s, NULL, NULL, NULL), -EAFNOSUPPORT);
    eva_stream_write_req wr = {0};
    assert_int_equal(eva_unix_write_fds(&wr, &s, "x", 1, fds, 1, on_written), -EAFNOSUPPORT);
    eva_stream_close(&s, EVA_STREAM_CLOSE_DISCARD, NULL);
    eva_server_close(&tcp);
    assert_int_equal(eva_unix_get_peercred(&s, NULL, NULL, NULL), -EBADF);
    test_loop_destroy(loop);
}

/* ---- descriptor passing ---------------------------------------------------------------- */

static void pass_a_pipe(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    char name[64];
    snprintf(name, sizeof name, "@evasync-fds-%d", (int)getpid());
    pair p = {0};
    connect_pair(loop, &p, name);
    int pp[2];
    assert_int_equal(pipe2(pp, O_CLOEXEC), 0);

    outcome w = {0}, r = {0};
    eva_stream_write_req wr = {.data = &w};
    assert_int_equal(eva_unix_write_fds(&wr, &p.client, "F", 1, &pp[1], 1, on_written), 0);
    char buf[4];
    int got[2] = {-1, -1};
    eva_stream_read_req rd = {.data = &r};
    assert_int_equal(eva_unix_read_fds(&rd, &p.server_side, buf, sizeof buf, got, 2, on_read), 0);
    test_run_until(loop, &r.done, 2000);
    test_run_until(loop, &w.done, 2000);
    assert_int_equal(w.status, 0);
    assert_int_equal(r.status, 0);
    assert_int_equal(rd.nread, 1);
    assert_int_equal(rd.nfds, 1);
    assert_true(fcntl(got[0], F_GETFD) & FD_CLOEXEC);
    close(pp[1]); /* ours; the received copy is the receiver's */
    assert_int_equal(write(got[0], "via", 3), 3);
    char via[3];
    assert_int_equal(read(pp[0], via, 3), 3);
    assert_memory_equal(via, "via", 3);
    close(got[0]);
    close(pp[0]);
    close_pair(&p);
    test_loop_destroy(loop);
}

/* More descriptors than the caller's array: the read fails with -EMSGSIZE,
 * its byte is delivered, and every descriptor that came is closed. */
static void too_many_descriptors(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    char name[64];
    snprintf(name, sizeof name, "@evasync-many-%d", (int)getpid());
    pair p = {0};
    connect_pair(loop, &p, name);
    int before = open_fds();
    int three[3] = {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO};
    outcome w = {0}, r = {0};
    eva_stream_write_req wr = {.data = &w};
    assert_int_equal(eva_unix_write_fds(&wr, &p.client, "M", 1, three, 3, on_written), 0);
    char buf[4];
    int got[2] = {-1, -1};
    eva_stream_read_req rd = {.data = &r};
    assert_int_equal(eva_unix_read_fds(&rd, &p.server_side, buf, sizeof buf, got, 2, on_read), 0);
    test_run_until(loop, &r.done, 2000);
    assert_int_equal(r.status, -EMSGSIZE);
    assert_int_equal(rd.nread, 1);
    assert_int_equal(rd.nfds, 0);
    assert_int_equal(open_fds(), before); /* none left open */
    close_pair(&p);
    test_loop_destroy(loop);
}

/* The sender passes a descriptor and closes at once: the receiver still gets
 * the byte and the descriptor, then the end of the stream; a sender whose
 * receiver has gone gets -EPIPE, and nothing is left open either side. */
static void peer_closes_mid_pass(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    char name[64];
    snprintf(name, sizeof name, "@evasync-mid-%d", (int)getpid());
    int before = open_fds();
    pair p = {0};
    connect_pair(loop, &p, name);
    outcome w = {0};
    eva_stream_write_req wr = {.data = &w};
    int one = STDERR_FILENO;
    assert_int_equal(eva_unix_write_fds(&wr, &p.client, "Z", 1, &one, 1, on_written), 0);
    test_run_until(loop, &w.done, 2000);
    eva_stream_close(&p.client, EVA_STREAM_CLOSE_FLUSH, NULL);

    char buf[4];
    int got[1] = {-1};
    outcome r = {0};
    eva_stream_read_req rd = {.data = &r};
    assert_int_equal(eva_unix_read_fds(&rd, &p.server_side, buf, sizeof buf, got, 1, on_read), 0);
    test_run_until(loop, &r.done, 2000);
    assert_int_equal(r.status, 0);
    assert_int_equal(rd.nfds, 1);
    close(got[0]);
    r = (outcome){0};
    assert_int_equal(eva_unix_read_fds(&rd, &p.server_side, buf, sizeof buf, got, 1, on_read), 0);
    test_run_until(loop, &r.done, 2000);
    assert_int_equal(r.status, 0);
    assert_int_equal(rd.nread, 0); /* EOF */
    assert_int_equal(rd.nfds, 0);

    /* the other way: the receiver is gone before the pass */
    pair q = {0};
    char name2[64];
    snprintf(name2, sizeof name2, "@evasync-mid2-%d", (int)getpid());
    connect_pair(loop, &q, name2);
    eva_stream_close(&q.server_side, EVA_STREAM_CLOSE_DISCARD, NULL);
    w = (outcome){0};
    assert_int_equal(eva_unix_write_fds(&wr, &q.client, "Z", 1, &one, 1, on_written), 0);
    test_run_until(loop, &w.done, 2000);
    assert_true(w.status == -EPIPE || w.status == -ECONNRESET);
    close_pair(&q);
    close_pair(&p);
    assert_int_equal(open_fds(), before); /* nothing left open either side */
    test_loop_destroy(loop);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(path_listen_connect_and_peercred),
        cmocka_unit_test(abstract_name_await_connect),
        cmocka_unit_test(names_too_long_and_empty),
        cmocka_unit_test(stale_socket_file_policy),
        cmocka_unit_test(unix_calls_on_other_descriptors),
        cmocka_unit_test(pass_a_pipe),
        cmocka_unit_test(too_many_descriptors),
        cmocka_unit_test(peer_closes_mid_pass),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
