/* examples/redis_await — one evasync loop talking to Redis two ways at once:
 *
 *  - an AWAIT task drives a non-blocking hiredis redisContext through
 *    eva_fd_wait_op (redis_io.c): connect, SET / GET / INCR, and a pipeline
 *    of 100 commands in one write and one stream of replies;
 *  - hiredis's own libev adapter (<hiredis/adapters/libev.h>) attaches a
 *    redisAsyncContext to the very ev loop evasync runs on
 *    (eva_loop_get_ev), with plain hiredis callbacks.
 *
 * Both INCR one shared counter 10 times; the task waits (an eva_event the
 * adapter's disconnect callback sets) until the other route is done, then
 * reads the counter back: 20.  Every result is printed as key=value; the
 * exit status is 0 only if each value read back is the one written.
 *
 * usage: redis_await [unix:/path/to/redis.sock | host:port]  (default 127.0.0.1:6379)
 * Keys are prefixed with evasync:<pid>: and deleted at the end.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <evasync.h>
#include <hiredis.h>
#include <async.h>
#include <adapters/libev.h>

#include "redis_io.h"

enum { KEYS = 3, INCRS = 10, PIPELINE = 100, WAIT_MS = 5000 };

typedef struct target {
    const char *unix_path; /* or host:port */
    char host[256];
    int port;
} target;

static char prefix[64];
static int failures;

static void check_str(const char *name, const char *got, const char *want) {
    printf("%s=%s\n", name, got ? got : "(nil)");
    if (!got || strcmp(got, want) != 0) {
        fprintf(stderr, "redis_await: %s is %s, expected %s\n", name, got ? got : "(nil)", want);
        failures++;
    }
}

static void check_int(const char *name, long long got, long long want) {
    printf("%s=%lld\n", name, got);
    if (got != want) {
        fprintf(stderr, "redis_await: %s is %lld, expected %lld\n", name, got, want);
        failures++;
    }
}

/* ---- route 1: an AWAIT task over eva_fd_wait_op ---------------------------- */

typedef struct await_route {
    eva_task task;
    const target *to;
    eva_event *other_done;
    redisContext *c;
    redis_connecting connecting;
    redis_exchange x;
    int i;
    long long pushed;   /* integer replies seen in the pipeline */
} await_route;

static eva_op exchange(await_route *f, int replies,
                       void (*on_reply)(redis_exchange *x, const redisReply *r)) {
    f->x = (redis_exchange){.c = f->c, .replies = replies, .timeout_ms = WAIT_MS,
                            .on_reply = on_reply, .arg = f};
    return EVA_ASYNC(redis_exchange_run, &f->x);
}

static const char *reply_str(const redisReply *r) {
    return r && r->type == REDIS_REPLY_STRING ? r->str : NULL;
}

static long long reply_int(const redisReply *r) {
    return r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
}

/* GET await:k<i> must read back v<i>. */
static void check_key(int i, const redisReply *r) {
    char name[32], want[16];
    snprintf(name, sizeof name, "await.get.k%d", i);
    snprintf(want, sizeof want, "v%d", i);
    check_str(name, reply_str(r), want);
}

/* The pipeline's replies are counted as they stream in. */
static void count_pushed(redis_exchange *x, const redisReply *r) {
    await_route *f = x->arg;
    f->pushed += r->type == REDIS_REPLY_INTEGER;
}

static eva_step await_route_run(void *frame) {
    await_route *f = frame;
    ASYNC_BEGIN(f);
    f->connecting = (redis_connecting){.unix_path = f->to->unix_path, .host = f->to->host,
                                       .port = f->to->port, .timeout_ms = WAIT_MS};
    AWAIT(f, EVA_ASYNC(redis_connect_run, &f->connecting));
    f->c = f->connecting.c;

    for (f->i = 0; f->i < KEYS; f->i++) { /* one round trip per command */
        redisAppendCommand(f->c, "SET %sawait:k%d v%d", prefix, f->i, f->i);
        AWAIT(f, exchange(f, 1, NULL));
        freeReplyObject(f->x.reply);
        redisAppendCommand(f->c, "GET %sawait:k%d", prefix, f->i);
        AWAIT(f, exchange(f, 1, NULL));
        check_key(f->i, f->x.reply);
        freeReplyObject(f->x.reply);
    }
    for (f->i = 0; f->i < INCRS; f->i++) {
        redisAppendCommand(f->c, "INCR %sboth:counter", prefix);
        AWAIT(f, exchange(f, 1, NULL));
        freeReplyObject(f->x.reply);
    }

    /* a pipeline: 100 commands in one write, their replies in one stream */
    for (f->i = 0; f->i < PIPELINE; f->i++)
        redisAppendCommand(f->c, "RPUSH %sawait:list %d", prefix, f->i);
    AWAIT(f, exchange(f, PIPELINE, count_pushed));
    check_int("await.pipeline.replies", f->x.got, PIPELINE);
    check_int("await.pipeline.integers", f->pushed, PIPELINE);
    check_int("await.pipeline.last", reply_int(f->x.reply), PIPELINE); /* the list's length */
    freeReplyObject(f->x.reply);
    redisAppendCommand(f->c, "LINDEX %sawait:list 99", prefix);
    AWAIT(f, exchange(f, 1, NULL));
    check_str("await.list.99", reply_str(f->x.reply), "99");
    freeReplyObject(f->x.reply);

    AWAIT(f, eva_event_wait_op(f->other_done)); /* the libev route has finished */
    redisAppendCommand(f->c, "GET %sboth:counter", prefix);
    AWAIT(f, exchange(f, 1, NULL));
    check_str("both.counter", reply_str(f->x.reply), "20");
    freeReplyObject(f->x.reply);

    redisAppendCommand(f->c, "DEL %sawait:k0 %sawait:k1 %sawait:k2 %sawait:list %sboth:counter %slibev:key",
                       prefix, prefix, prefix, prefix, prefix, prefix);
    AWAIT(f, exchange(f, 1, NULL));
    check_int("await.deleted", reply_int(f->x.reply), KEYS + 3);
    freeReplyObject(f->x.reply);
    ASYNC_FINALLY(f);
    if (f->c)
        redisFree(f->c);
    ASYNC_END(f);
}

/* ---- route 2: hiredis's libev adapter on the same ev loop ------------------ */

typedef struct libev_route {
    eva_event *done; /* set once the route is over, however it ended */
    int incrs;
} libev_route;

static void on_libev_get(redisAsyncContext *ac, void *reply, void *privdata) {
    (void)ac;
    (void)privdata;
    check_str("libev.get", reply_str(reply), "hello from the libev adapter");
}

static void on_libev_incr(redisAsyncContext *ac, void *reply, void *privdata) {
    libev_route *r = privdata;
    if (reply_int(reply) > 0)
        r->incrs++;
    if (r->incrs == INCRS) {
        check_int("libev.incrs", r->incrs, INCRS);
        redisAsyncDisconnect(ac); /* after the replies still due */
    }
}

static void on_libev_connect(const redisAsyncContext *ac, int status) {
    libev_route *r = ac->data;
    check_int("libev.connect", status, REDIS_OK);
    if (status != REDIS_OK) /* hiredis frees the context; no disconnect callback follows */
        eva_event_set(r->done);
}

static void on_libev_disconnect(const redisAsyncContext *ac, int status) {
    libev_route *r = ac->data;
    check_int("libev.disconnect", status, REDIS_OK);
    eva_event_set(r->done);
}

static int libev_route_start(eva_loop *loop, const target *to, libev_route *r) {
    redisAsyncContext *ac = to->unix_path ? redisAsyncConnectUnix(to->unix_path)
                                          : redisAsyncConnect(to->host, to->port);
    if (!ac || ac->err) {
        fprintf(stderr, "redis_await: libev route: %s\n", ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        return -1;
    }
    ac->data = r;
    redisLibevAttach(eva_loop_get_ev(loop), ac);
    redisAsyncSetConnectCallback(ac, on_libev_connect);
    redisAsyncSetDisconnectCallback(ac, on_libev_disconnect);
    /* queued until the connection is up, sent in one write */
    redisAsyncCommand(ac, NULL, NULL, "SET %slibev:key %s", prefix, "hello from the libev adapter");
    redisAsyncCommand(ac, on_libev_get, r, "GET %slibev:key", prefix);
    for (int i = 0; i < INCRS; i++)
        redisAsyncCommand(ac, on_libev_incr, r, "INCR %sboth:counter", prefix);
    return 0;
}

/* ---- main -------------------------------------------------------------------- */

static int parse_target(const char *arg, target *to) {
    if (strncmp(arg, "unix:", 5) == 0) {
        to->unix_path = arg + 5;
        return 0;
    }
    const char *colon = strrchr(arg, ':');
    if (!colon || (size_t)(colon - arg) >= sizeof to->host)
        return -1;
    memcpy(to->host, arg, (size_t)(colon - arg));
    to->host[colon - arg] = '\0';
    to->port = atoi(colon + 1);
    return to->port > 0 && to->port < 65536 ? 0 : -1;
}

static void on_await_done(eva_task *t) {
    if (eva_task_get_status(t) < 0) {
        fprintf(stderr, "redis_await: await route: %s\n", eva_task_get_message(t));
        failures++;
    }
}

int main(int argc, char **argv) {
    target to = {0};
    if (parse_target(argc > 1 ? argv[1] : "127.0.0.1:6379", &to) < 0) {
        fprintf(stderr, "usage: %s [unix:/path/to/redis.sock | host:port]\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN); /* a server gone away is an error on the write, not a signal */
    snprintf(prefix, sizeof prefix, "evasync:%ld:", (long)getpid());

    eva_loop *loop;
    if (eva_loop_new(&loop) < 0)
        return 1;
    eva_event other_done;
    eva_event_init(loop, &other_done);
    libev_route lr = {.done = &other_done};
    await_route ar = {.to = &to, .other_done = &other_done};
    if (libev_route_start(loop, &to, &lr) < 0) {
        failures++;
        eva_event_set(&other_done);
    }
    eva_task_init(loop, &ar.task, await_route_run, "redis_await");
    eva_task_start(&ar.task, on_await_done);
    eva_loop_run(loop, EVA_RUN_DEFAULT); /* both routes share this one loop */
    eva_event_destroy(&other_done);
    eva_loop_destroy(loop);
    printf("failures=%d\n", failures);
    return failures ? 1 : 0;
}
