/* Redis through eva_fd_wait, against a real redis-server this test starts
 * on a temporary Unix socket (tests/redis_server.c):
 *  - examples/redis_await runs as a process (its AWAIT route over
 *    eva_fd_wait_op and hiredis's libev adapter side by side on one loop),
 *    and the values it read back are checked, then that it cleaned up;
 *  - the server is killed while an AWAIT task and a libev-adapter context
 *    both wait for a reply: each reports the error, the loop keeps running,
 *    and nothing leaks (ASan's leak check).
 * usage: test_redis PATH_OF_redis_await */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <async.h>
#include <adapters/libev.h>

#include "helpers.h"
#include "redis_io.h"
#include "redis_server.h"

static const char *example_path;

enum { WAIT_MS = 5000 };

static void assert_line(const char *out, const char *line) {
    char want[128];
    snprintf(want, sizeof want, "\n%s\n", line);
    if (!strstr(out, want) && strncmp(out, want + 1, strlen(want + 1)) != 0)
        fail_msg("no line \"%s\" in the example's output:\n%s", line, out);
}

/* Run the example against s; its output (stdout) goes into out. */
static int run_example(eva_loop *loop, const redis_server *s, char *out, size_t cap) {
    char target[128];
    snprintf(target, sizeof target, "unix:%s", s->sock);
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], STDOUT_FILENO);
        close(p[0]);
        execl(example_path, example_path, target, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    assert_true(test_read_output(loop, p[0], out, cap, NULL, 30000));
    close(p[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void example_reads_back_what_it_wrote(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    redis_server s;
    redis_server_start(loop, &s);
    char out[8192];
    int rc = run_example(loop, &s, out, sizeof out);
    if (rc != 0)
        fail_msg("redis_await exited with %d:\n%s", rc, out);
    /* the AWAIT route */
    assert_line(out, "await.get.k0=v0");
    assert_line(out, "await.get.k1=v1");
    assert_line(out, "await.get.k2=v2");
    assert_line(out, "await.pipeline.replies=100");
    assert_line(out, "await.pipeline.integers=100");
    assert_line(out, "await.pipeline.last=100");
    assert_line(out, "await.list.99=99");
    /* the libev adapter's, on the same loop */
    assert_line(out, "libev.connect=0");
    assert_line(out, "libev.get=hello from the libev adapter");
    assert_line(out, "libev.incrs=10");
    assert_line(out, "libev.disconnect=0");
    /* both: 10 INCRs each on one counter */
    assert_line(out, "both.counter=20");
    assert_line(out, "await.deleted=6");
    assert_line(out, "failures=0");

    /* and it left nothing behind: asked on a connection of our own */
    redisContext *c = redisConnectUnix(s.sock);
    assert_non_null(c);
    assert_int_equal(c->err, 0);
    redisReply *r = redisCommand(c, "DBSIZE");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    assert_int_equal(r->integer, 0);
    freeReplyObject(r);
    redisFree(c);
    redis_server_stop(&s);
    test_loop_destroy(loop);
}

/* ---- the server dies mid-session ----------------------------------------------- */

typedef struct session {
    eva_task task;
    const char *sock;
    redis_connecting connecting;
    redis_exchange x;
    redisContext *c;
    bool blocked;   /* BLPOP sent: waiting for a reply that never comes */
    bool done;
    char value[32];
} session;

static eva_step session_run(void *frame) {
    session *f = frame;
    ASYNC_BEGIN(f);
    f->connecting = (redis_connecting){.unix_path = f->sock, .timeout_ms = WAIT_MS};
    AWAIT(f, EVA_ASYNC(redis_connect_run, &f->connecting));
    f->c = f->connecting.c;
    redisAppendCommand(f->c, "SET session:key alive");
    redisAppendCommand(f->c, "GET session:key");
    f->x = (redis_exchange){.c = f->c, .replies = 2, .timeout_ms = WAIT_MS};
    AWAIT(f, EVA_ASYNC(redis_exchange_run, &f->x));
    if (f->x.reply->type == REDIS_REPLY_STRING)
        snprintf(f->value, sizeof f->value, "%s", f->x.reply->str);
    freeReplyObject(f->x.reply);
    redisAppendCommand(f->c, "BLPOP session:never 0"); /* blocks the connection for good */
    f->x = (redis_exchange){.c = f->c, .replies = 1, .timeout_ms = 0};
    f->blocked = true;
    AWAIT(f, EVA_ASYNC(redis_exchange_run, &f->x));
    freeReplyObject(f->x.reply);
    ASYNC_FAIL(f, -EPROTO, "BLPOP answered");
    ASYNC_FINALLY(f);
    if (f->c)
        redisFree(f->c);
    ASYNC_END(f);
}

static void on_session_done(eva_task *t) { ((session *)t)->done = true; }

/* The libev adapter's side of the same story. */
typedef struct adapter_side {
    bool connected, replied, disconnected;
    int disconnect_status;
    bool reply_was_null;
} adapter_side;

static void on_adapter_connect(const redisAsyncContext *ac, int status) {
    adapter_side *a = ac->data;
    assert_int_equal(status, REDIS_OK);
    a->connected = true;
}

static void on_adapter_blpop(redisAsyncContext *ac, void *reply, void *privdata) {
    (void)ac;
    adapter_side *a = privdata;
    a->replied = true;
    a->reply_was_null = reply == NULL; /* hiredis: the connection went away */
}

static void on_adapter_disconnect(const redisAsyncContext *ac, int status) {
    adapter_side *a = ac->data;
    a->disconnect_status = status;
    a->disconnected = true;
}

static void on_probe(eva_fd_wait_req *req, int status) {
    *(int *)req->data = status;
}

static void server_killed_mid_session(void **state) {
    (void)state;
    signal(SIGPIPE, SIG_IGN); /* hiredis writes with write(): a dead peer is EPIPE, not a signal */
    eva_loop *loop = test_loop_new();
    redis_server s;
    redis_server_start(loop, &s);

    session f = {.sock = s.sock};
    assert_int_equal(eva_task_init(loop, &f.task, session_run, "redis_session"), 0);
    assert_int_equal(eva_task_start(&f.task, on_session_done), 0);

    adapter_side a = {0};
    redisAsyncContext *ac = redisAsyncConnectUnix(s.sock);
    assert_non_null(ac);
    assert_int_equal(ac->err, 0);
    ac->data = &a;
    assert_int_equal(redisLibevAttach(eva_loop_get_ev(loop), ac), REDIS_OK);
    redisAsyncSetConnectCallback(ac, on_adapter_connect);
    redisAsyncSetDisconnectCallback(ac, on_adapter_disconnect);
    assert_int_equal(redisAsyncCommand(ac, on_adapter_blpop, &a, "BLPOP session:never 0"), REDIS_OK);

    /* both parked on a reply: the task inside eva_fd_wait, the adapter in its ev_io */
    bool both_blocked = false;
    for (int i = 0; i < 1000 && !both_blocked; i++) {
        eva_loop_run(loop, EVA_RUN_ONCE);
        both_blocked = f.blocked && eva_fd_wait_is_pending(&f.x.wait) && a.connected;
    }
    assert_true(both_blocked);
    assert_string_equal(f.value, "alive");
    assert_false(f.done);
    assert_false(a.replied);

    redis_server_stop(&s); /* SIGKILL: no goodbye on the sockets */

    test_run_until(loop, &f.done, WAIT_MS);
    test_run_until(loop, &a.disconnected, WAIT_MS);
    /* EOF, or a reset if the server died with our bytes unread: either is "gone" */
    assert_int_equal(eva_task_get_status(&f.task), -ECONNRESET);
    const char *message = eva_task_get_message(&f.task);
    if (strcmp(message, "redis: Server closed the connection") != 0 &&
        strcmp(message, "redis: Connection reset by peer") != 0)
        fail_msg("unexpected message: %s", message);
    assert_true(a.replied);
    assert_true(a.reply_was_null);
    assert_int_equal(a.disconnect_status, REDIS_ERR);

    /* the loop goes on: a new wait is served (here: to its deadline) */
    int p[2];
    assert_int_equal(pipe(p), 0);
    int status = 1;
    eva_fd_wait_req probe = {.data = &status};
    assert_int_equal(eva_fd_wait(&probe, loop, p[0], EVA_FD_READABLE, 10, on_probe), 0);
    while (status == 1)
        eva_loop_run(loop, EVA_RUN_ONCE);
    assert_int_equal(status, -ETIMEDOUT);
    close(p[0]);
    close(p[1]);
    test_loop_destroy(loop);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH_OF_redis_await\n", argv[0]);
        return 2;
    }
    example_path = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(example_reads_back_what_it_wrote),
        cmocka_unit_test(server_killed_mid_session),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
