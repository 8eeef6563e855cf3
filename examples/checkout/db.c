/* examples/checkout/db.c — the "database": a TCP service on 127.0.0.1 that
 * answers each line after delay_ms.  It runs on its own thread with its own
 * evasync loop (one loop per thread), so the blocking baseline can talk to
 * it too.  Each connection is one AWAIT task. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "checkout.h"

uint64_t db_answer(uint64_t request, uint64_t query) {
    return (request * 1000003u + query) * 0x9e3779b97f4a7c15u >> 40;
}

int db_format_query(char *buf, size_t size, int request, int query) {
    return snprintf(buf, size, "%d %d\n", request, query);
}

typedef struct acceptor {
    eva_task task;
    eva_server srv;
    eva_server_accept_req accept;
} acceptor;

static struct {
    pthread_t thread;
    eva_loop *loop;
    acceptor acceptor;
    int delay_ms;
    eva_call stop;
} db;

typedef struct session {
    eva_task task;
    eva_stream tcp;
    eva_stream_read_req rd;
    eva_stream_write_req w;
    char in[64], out[32];
    int len;
    uint64_t request, query; /* used after an AWAIT: in the frame, not locals */
} session;

static eva_step session_run(void *frame) {
    session *s = frame;
    ASYNC_BEGIN(s);
    for (;;) {
        AWAIT(s, eva_stream_read_until_op(&s->rd, &s->tcp, s->in, sizeof s->in - 1, "\n", 1));
        s->in[s->rd.nread] = '\0';
        if (sscanf(s->in, "%" SCNu64 " %" SCNu64, &s->request, &s->query) != 2)
            ASYNC_FAIL(s, -EPROTO, "db: malformed query");
        AWAIT(s, eva_sleep_op(db.delay_ms)); /* the query takes this long */
        s->len = snprintf(s->out, sizeof s->out, "%" PRIu64 "\n", db_answer(s->request, s->query));
        AWAIT(s, eva_stream_write_op(&s->w, &s->tcp, s->out, (size_t)s->len));
    }
    ASYNC_FINALLY(s); /* the client's EOF ends the loop as an error: fine */
    eva_stream_close(&s->tcp, EVA_STREAM_CLOSE_DISCARD, NULL);
    ASYNC_END(s);
}

static eva_step accept_run(void *frame) {
    acceptor *a = frame;
    ASYNC_BEGIN(a);
    for (;;) {
        AWAIT(a, eva_server_accept_op(&a->accept, &a->srv));
        session *s;
        if (eva_task_spawn(db.loop, sizeof *s, session_run, "db-session", NULL, (void **)&s) < 0)
            close(a->accept.fd); /* out of memory: refuse this one, keep serving */
        else
            eva_stream_open(db.loop, &s->tcp, a->accept.fd); /* on failure the session ends at once */
    }
    ASYNC_END(a);
}

static void *db_main(void *arg) {
    (void)arg;
    eva_loop_run(db.loop, EVA_RUN_DEFAULT);
    eva_server_close(&db.acceptor.srv);
    eva_loop_destroy(db.loop); /* cancels the sessions, closes their sockets */
    return NULL;
}

int db_start(int delay_ms, struct sockaddr_in *addr) {
    db.delay_ms = delay_ms;
    int rc = eva_loop_new(&db.loop);
    if (rc < 0)
        return rc;
    rc = eva_tcp_listen_ip(db.loop, &db.acceptor.srv, "127.0.0.1", 0, NULL);
    if (rc < 0) {
        eva_loop_destroy(db.loop);
        return rc;
    }
    *addr = (struct sockaddr_in){.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)eva_tcp_server_get_port(&db.acceptor.srv)),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    eva_task_init(db.loop, &db.acceptor.task, accept_run, "db-accept");
    eva_task_start(&db.acceptor.task, NULL);
    rc = pthread_create(&db.thread, NULL, db_main, NULL);
    if (rc != 0) {
        eva_server_close(&db.acceptor.srv);
        eva_loop_destroy(db.loop);
        return -rc;
    }
    return 0;
}

static void on_stop(eva_loop *loop, int status, void *arg) {
    (void)status;
    (void)arg;
    eva_loop_stop(loop);
}

void db_stop(void) {
    eva_loop_post(db.loop, &db.stop, on_stop, NULL); /* the one thread-safe way in */
    pthread_join(db.thread, NULL);
}
