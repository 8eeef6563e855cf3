/* EMFILE: a server in a child process with a low RLIMIT_NOFILE runs out of
 * descriptors.  It must drop the connections it cannot take (not spin at
 * 100% CPU), log that once per episode, naming the error, and serve again as
 * soon as descriptors free up. */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "helpers.h"

enum { FIRST_WAVE = 45, SECOND_WAVE = 10 };

/* ---- the child: a callback-style echo server ----------------------------- */

typedef struct child_conn {
    eva_stream tcp;
    eva_stream_read_req rd;
    char buf[64];
} child_conn;

typedef struct child_stats {
    int logs;
    char first_log[256];
    long accepted, dropped;
    unsigned iterations;
} child_stats;

static void on_conn_closed(eva_stream *tcp, int status) {
    (void)status;
    free(tcp->data);
}

static void on_child_read(eva_stream_read_req *req, int status) {
    child_conn *c = req->data;
    if (status < 0 || req->nread == 0) {
        eva_stream_close(&c->tcp, EVA_STREAM_CLOSE_DISCARD, on_conn_closed);
        return;
    }
    eva_stream_write_copy(&c->tcp, c->buf, (size_t)req->nread);
    eva_stream_read(&c->rd, &c->tcp, c->buf, sizeof c->buf, on_child_read);
}

static void on_child_accept(eva_server *srv, int fd) {
    child_conn *c = calloc(1, sizeof *c);
    if (!c || eva_stream_open(srv->loop, &c->tcp, fd) < 0) {
        close(fd);
        free(c);
        return;
    }
    c->tcp.data = c;
    c->rd.data = c;
    eva_stream_read(&c->rd, &c->tcp, c->buf, sizeof c->buf, on_child_read);
}

static void on_child_log(void *ud, eva_loop *loop, eva_log_level level, const char *msg) {
    (void)loop;
    (void)level;
    child_stats *st = ud;
    if (strstr(msg, "accept") && st->logs++ == 0)
        snprintf(st->first_log, sizeof st->first_log, "%s", msg);
}

static void on_control(eva_io *io, int events) {
    (void)events;
    eva_io_stop(io); /* the parent closed the pipe: we are done */
    eva_loop_stop(io->loop);
}

static int child_main(int report_fd, int control_fd) {
    struct rlimit rl = {.rlim_cur = 48, .rlim_max = 48};
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 2;
    eva_loop *loop;
    if (eva_loop_new(&loop) < 0)
        return 3;
    child_stats st = {0};
    eva_loop_set_log(loop, on_child_log, &st);
    eva_server srv = {0};
    if (eva_tcp_listen_ip(loop, &srv, "127.0.0.1", 0, NULL) < 0 ||
        eva_server_accept_start(&srv, on_child_accept) < 0)
        return 4;
    int port = eva_tcp_server_get_port(&srv);
    if (write(report_fd, &port, sizeof port) != sizeof port)
        return 5;
    eva_io control;
    eva_io_init(loop, &control);
    eva_io_start(&control, control_fd, EVA_READ, on_control, NULL);
    eva_loop_run(loop, EVA_RUN_DEFAULT);
    st.accepted = (long)srv.accepted;
    st.dropped = (long)srv.dropped;
    st.iterations = ev_iteration(eva_loop_get_ev(loop));
    if (write(report_fd, &st, sizeof st) != sizeof st)
        return 6;
    eva_server_close(&srv);
    eva_loop_destroy(loop); /* closes the connections still open */
    return 0;
}

/* ---- the parent: plain blocking sockets, every wait bounded by poll ------- */

typedef enum outcome { PENDING, SERVED, DROPPED } outcome;

/* Connect, send "ping", and wait (at most 10 s) for the echo or the end. */
static outcome ping(int port, int *fd_out) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0); /* the backlog accepts it */
    *fd_out = fd;
    if (send(fd, "ping", 4, MSG_NOSIGNAL) != 4)
        return DROPPED;
    char buf[4];
    size_t got = 0;
    while (got < 4) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 10000) != 1)
            return PENDING;
        ssize_t n = recv(fd, buf + got, 4 - got, 0);
        if (n <= 0)
            return DROPPED;
        got += (size_t)n;
    }
    return memcmp(buf, "ping", 4) == 0 ? SERVED : PENDING;
}

static void server_survives_running_out_of_descriptors(void **state) {
    (void)state;
    int report[2], control[2];
    assert_int_equal(pipe(report), 0);
    assert_int_equal(pipe(control), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(report[0]);
        close(control[1]);
        _exit(child_main(report[1], control[0]));
    }
    close(report[1]);
    close(control[0]);
    int port;
    assert_int_equal(read(report[0], &port, sizeof port), sizeof port);

    int fds[FIRST_WAVE + SECOND_WAVE];
    int served = 0, dropped = 0;
    for (int i = 0; i < FIRST_WAVE; i++) {
        outcome o = ping(port, &fds[i]);
        assert_int_not_equal(o, PENDING); /* every connection is served or dropped: no hang */
        served += o == SERVED;
        dropped += o == DROPPED;
        if (o == DROPPED) {
            close(fds[i]);
            fds[i] = -1;
        }
    }
    assert_true(served > 0 && dropped > 0); /* the limit was hit, and survived */

    /* Churn at the limit, as under a flood: one served client leaves, its slot
     * is taken by the next connection, and the one after is dropped again.
     * Still the same episode: no second log. */
    int freed = 0;
    while (fds[freed] < 0)
        freed++;
    close(fds[freed]);
    fds[freed] = -1;
    int churn_fd = -1, tries = 0;
    outcome o;
    while ((o = ping(port, &churn_fd)) == DROPPED && ++tries < 20) /* until the child saw the EOF */
        close(churn_fd);
    assert_int_equal(o, SERVED);
    int refused_fd;
    assert_int_equal(ping(port, &refused_fd), DROPPED);
    close(refused_fd);

    for (int i = 0; i < FIRST_WAVE; i++) /* free the child's descriptors */
        if (fds[i] >= 0)
            close(fds[i]);
    close(churn_fd);
    for (int i = FIRST_WAVE; i < FIRST_WAVE + SECOND_WAVE; i++)
        assert_int_equal(ping(port, &fds[i]), SERVED); /* serving again */
    for (int i = FIRST_WAVE; i < FIRST_WAVE + SECOND_WAVE; i++)
        close(fds[i]);

    close(control[1]);
    child_stats st;
    assert_int_equal(read(report[0], &st, sizeof st), sizeof st);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(st.logs, 1); /* logged once, not per connection nor per churn */
    assert_non_null(strstr(st.first_log, "accept: Too many open files:")); /* the errno's name */
    assert_true(st.dropped >= dropped);       /* the spare descriptor did its job */
    assert_int_equal(st.accepted, served + 1 + SECOND_WAVE);
    /* a spinning loop would run millions of iterations; a paused one a few per
     * connection (and per backoff tick) */
    assert_true(st.iterations < 5000);
    close(report[0]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(server_survives_running_out_of_descriptors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
