/* TLS on streams (evasync/tls.h): evasync client and server in the three
 * styles over TCP and Unix sockets, ALPN, resumption, mutual TLS; against
 * Debian's openssl s_server and s_client; and the bad input, each a clear
 * error: wrong host name, expired certificate, unknown CA, plaintext to a
 * TLS port, TLS to a plaintext port, a reset mid-handshake, a truncated
 * close, a slowloris handshake.  Certificates: tests/tls_certs.sh, once per
 * run in a temporary directory. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>
#include <cmocka.h>

#include "helpers.h"
#include "tls_test_certs.h"

extern char **environ;

static char certdir[64];
static eva_tls_context *server_ctx, *client_ctx;

/* certdir/name, in one of a few rotating buffers (a call's arguments). */
static const char *cert(const char *name) {
    static char bufs[8][128];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", certdir, name);
    return b;
}

static const char *const alpn_list[] = {"h2", "http/1.1", NULL};
static const char *const alpn_http1[] = {"http/1.1", NULL};

static eva_tls_context *server_context(const char *name) {
    char c[64], k[64];
    snprintf(c, sizeof c, "%s.pem", name);
    snprintf(k, sizeof k, "%s.key", name);
    return tls_test_context(&(eva_tls_context_opts){.server = true, .cert_file = cert(c), .key_file = cert(k),
                                           .alpn = alpn_http1});
}

static int group_setup(void **state) {
    (void)state;
    snprintf(certdir, sizeof certdir, "/tmp/evasync-tls-XXXXXX");
    tls_test_certs_make(certdir, TLS_CERTS_SCRIPT);
    server_ctx = server_context("server");
    client_ctx = tls_test_context(&(eva_tls_context_opts){.ca_file = cert("ca.pem"), .alpn = alpn_list});
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would kill the test: none may come */
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    return tls_test_teardown(server_ctx, client_ctx, certdir);
}

/* ---- an evasync server, callback style: handshake, then echo ---------------------- */

typedef enum { SERVE_ECHO, SERVE_TRUNCATE, SERVE_PLAIN_400, SERVE_RESET } serve_mode;

typedef struct server {
    eva_loop *loop;
    eva_server srv;
    eva_tls_context *ctx;
    serve_mode mode;
    int64_t hs_timeout_ms;
    eva_stream s;
    eva_tls_start_req hs;
    eva_stream_read_req rd;
    char buf[256];
    bool accepted, done;
    int hs_status, read_status;
    char alpn[32];              /* the protocol ALPN chose, "": none */
    ssize_t eof_nread;          /* the last read's nread */
    char hs_message[EVA_TLS_MESSAGE_MAX];
} server;

static void server_finish(server *sv) {
    sv->done = true;
    eva_stream_close(&sv->s, EVA_STREAM_CLOSE_FLUSH, NULL);
}

static void on_server_read(eva_stream_read_req *req, int status);

static void server_read(server *sv) {
    sv->rd.data = sv;
    int rc = eva_stream_read(&sv->rd, &sv->s, sv->buf, sizeof sv->buf, on_server_read);
    if (rc < 0) {
        sv->read_status = rc;
        server_finish(sv);
    }
}

static void on_server_read(eva_stream_read_req *req, int status) {
    server *sv = req->data;
    sv->read_status = status;
    sv->eof_nread = req->nread;
    if (status < 0 || req->nread == 0 || sv->mode == SERVE_PLAIN_400 || sv->mode == SERVE_RESET) {
        if (sv->mode == SERVE_PLAIN_400)
            eva_stream_write_copy(&sv->s, "HTTP/1.1 400 Bad Request\r\n\r\n", 28);
        sv->done = true;
        eva_stream_close(&sv->s, sv->mode == SERVE_RESET ? EVA_STREAM_CLOSE_RESET : EVA_STREAM_CLOSE_FLUSH, NULL);
        return;
    }
    assert_int_equal(eva_stream_write_copy(&sv->s, sv->buf, (size_t)req->nread), 0);
    server_read(sv);
}

static void on_server_handshake(eva_tls_start_req *req, int status) {
    server *sv = req->data;
    sv->hs_status = status;
    snprintf(sv->hs_message, sizeof sv->hs_message, "%s", req->message);
    snprintf(sv->alpn, sizeof sv->alpn, "%s", eva_tls_get_alpn(&sv->s) ? eva_tls_get_alpn(&sv->s) : "");
    if (status < 0) {
        server_finish(sv);
        return;
    }
    if (sv->mode == SERVE_TRUNCATE) { /* bytes, then gone without close_notify */
        eva_stream_write_copy(&sv->s, "partial", 7);
        sv->done = true;
        eva_stream_close(&sv->s, EVA_STREAM_CLOSE_DISCARD, NULL);
        return;
    }
    server_read(sv);
}

static void on_server_accept(eva_server *srv, int fd) {
    server *sv = srv->data;
    assert_false(sv->accepted);
    sv->accepted = true;
    assert_int_equal(eva_stream_open(sv->loop, &sv->s, fd), 0);
    if (sv->mode == SERVE_PLAIN_400 || sv->mode == SERVE_RESET) {
        server_read(sv);
        return;
    }
    sv->hs.data = sv;
    eva_tls_start_opts o = {.timeout_ms = sv->hs_timeout_ms};
    assert_int_equal(eva_tls_start(&sv->hs, &sv->s, sv->ctx, &o, on_server_handshake), 0);
}

static uint16_t server_start(server *sv, eva_loop *loop, serve_mode mode) {
    sv->loop = loop;
    sv->mode = mode;
    if (!sv->ctx)
        sv->ctx = server_ctx;
    sv->hs_status = sv->read_status = 1; /* not reported yet */
    sv->srv.data = sv;
    assert_int_equal(eva_tcp_listen_ip(loop, &sv->srv, "127.0.0.1", 0, NULL), 0);
    assert_int_equal(eva_server_accept_start(&sv->srv, on_server_accept), 0);
    return (uint16_t)eva_tcp_server_get_port(&sv->srv);
}

/* ---- an evasync client, AWAIT style ------------------------------------------------ */

typedef struct client {
    eva_task task;
    eva_stream s;
    eva_tcp_connect_req cn;
    eva_unix_connect_req ucn;
    eva_tls_start_req hs;
    eva_stream_read_req rd;
    eva_stream_write_req wr;
    eva_tls_context *ctx;
    const char *name;           /* server_name */
    const char *unix_path;      /* connect there instead of port */
    uint16_t port;
    const char *send;           /* written after the handshake (NULL: nothing) */
    bool read_all;              /* read until the end, not one line */
    char buf[32768];
    size_t got;
    int connect_status, hs_status, read_status;
    bool resumed, done;
    char alpn[32], version[16];
} client;

static eva_step client_run(void *frame) {
    client *c = frame;
    ASYNC_BEGIN(c);
    c->hs_status = c->read_status = 1;
    if (c->unix_path) {
        AWAIT_RC(c, c->connect_status, eva_unix_connect_op(&c->ucn, &c->s, c->unix_path, 2000));
    } else {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(c->port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        AWAIT_RC(c, c->connect_status, eva_tcp_connect_op(&c->cn, &c->s, (struct sockaddr *)&a, sizeof a, 2000));
    }
    if (c->connect_status < 0)
        goto out;
    AWAIT_RC(c, c->hs_status,
             eva_tls_start_op(&c->hs, &c->s, c->ctx ? c->ctx : client_ctx,
                              &(eva_tls_start_opts){.server_name = c->name ? c->name : "localhost", .timeout_ms = 2000}));
    if (c->hs_status < 0)
        goto out;
    c->resumed = eva_tls_is_resumed(&c->s);
    snprintf(c->alpn, sizeof c->alpn, "%s", eva_tls_get_alpn(&c->s) ? eva_tls_get_alpn(&c->s) : "");
    snprintf(c->version, sizeof c->version, "%s", eva_tls_get_version(&c->s));
    if (c->send)
        AWAIT(c, eva_stream_write_op(&c->wr, &c->s, c->send, strlen(c->send)));
    for (;;) {
        if (c->read_all)
            AWAIT_RC(c, c->read_status, eva_stream_read_op(&c->rd, &c->s, c->buf + c->got, sizeof c->buf - 1 - c->got));
        else
            AWAIT_RC(c, c->read_status,
                     eva_stream_read_until_op(&c->rd, &c->s, c->buf + c->got, sizeof c->buf - 1 - c->got, "\n", 1));
        if (c->read_status < 0)
            break;
        c->got += (size_t)c->rd.nread;
        c->buf[c->got] = '\0';
        if (!c->read_all || c->rd.nread == 0 || c->got == sizeof c->buf - 1)
            break;
    }
out:
    c->done = true;
    ASYNC_FINALLY(c);
    eva_stream_close(&c->s, EVA_STREAM_CLOSE_FLUSH, NULL);
    ASYNC_END(c);
}

static void client_start(eva_loop *loop, client *c) {
    eva_task_init(loop, &c->task, client_run, "tls-client");
    eva_task_start(&c->task, NULL);
}

/* ---- evasync <-> evasync ----------------------------------------------------------- */

static void test_echo_tcp(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    server sv = {0};
    client c = {.send = "hello over tls\n"};
    c.port = server_start(&sv, loop, SERVE_ECHO);
    client_start(loop, &c);
    test_run_until(loop, &c.done, 5000);
    assert_int_equal(c.hs_status, 0);
    assert_int_equal(c.read_status, 0);
    assert_string_equal(c.buf, "hello over tls\n");
    assert_string_equal(c.alpn, "http/1.1"); /* the server's choice among the client's offer */
    assert_string_equal(c.version, "TLSv1.3");
    test_run_until(loop, &sv.done, 5000);
    assert_int_equal(sv.hs_status, 0);
    assert_int_equal(sv.read_status, 0); /* close_notify: a clean end of stream */
    assert_int_equal(sv.eof_nread, 0);
    eva_server_close(&sv.srv);
    test_loop_destroy(loop);
}

/* ALPN: both sides see the server's choice; with no protocol in common the
 * handshake goes on without one (NULL on both).  A client that does not
 * verify may give an empty name: none is sent. */
static void test_alpn(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    static const char *const h2_only[] = {"h2", NULL};
    eva_tls_context *h2 = tls_test_context(&(eva_tls_context_opts){.no_verify = true, .alpn = h2_only});
    const struct {
        eva_tls_context *ctx;
        const char *name, *alpn;
    } cases[] = {{client_ctx, "localhost", "http/1.1"}, {h2, "", ""}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        server sv = {0};
        client c = {.send = "alpn\n", .ctx = cases[i].ctx, .name = cases[i].name};
        c.port = server_start(&sv, loop, SERVE_ECHO);
        client_start(loop, &c);
        test_run_until(loop, &c.done, 5000);
        assert_int_equal(c.hs_status, 0);
        assert_string_equal(c.buf, "alpn\n");
        assert_string_equal(c.alpn, cases[i].alpn);
        test_run_until(loop, &sv.done, 5000);
        assert_int_equal(sv.hs_status, 0);
        assert_string_equal(sv.alpn, cases[i].alpn);
        eva_server_close(&sv.srv);
    }
    eva_tls_context_free(h2);
    test_loop_destroy(loop);
}

static void test_echo_unix(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    char path[96];
    snprintf(path, sizeof path, "%s/echo.sock", certdir);
    server sv = {.loop = loop, .ctx = server_ctx, .mode = SERVE_ECHO, .hs_status = 1, .read_status = 1};
    sv.srv.data = &sv;
    assert_int_equal(eva_unix_listen(loop, &sv.srv, path, 16, 0), 0);
    assert_int_equal(eva_server_accept_start(&sv.srv, on_server_accept), 0);
    client c = {.send = "over a unix socket\n", .unix_path = path};
    client_start(loop, &c);
    test_run_until(loop, &c.done, 5000);
    assert_int_equal(c.hs_status, 0);
    assert_string_equal(c.buf, "over a unix socket\n");
    test_run_until(loop, &sv.done, 5000);
    assert_int_equal(sv.read_status, 0);
    eva_server_close(&sv.srv);
    test_loop_destroy(loop);
}

/* The second connection of a client context resumes the first's session. */
static void test_resumption(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_tls_context *cctx = tls_test_context(&(eva_tls_context_opts){.ca_file = cert("ca.pem")});
    for (int i = 0; i < 2; i++) {
        server sv = {0};
        client c = {.send = "again\n", .ctx = cctx};
        c.port = server_start(&sv, loop, SERVE_ECHO);
        client_start(loop, &c);
        test_run_until(loop, &c.done, 5000);
        assert_int_equal(c.hs_status, 0);
        assert_string_equal(c.buf, "again\n");
        assert_int_equal(c.resumed, i == 1);
        test_run_until(loop, &sv.done, 5000);
        eva_server_close(&sv.srv);
    }
    test_loop_destroy(loop);
    eva_tls_context_free(cctx);
}

/* Reads and writes started before the handshake is done wait for it; the
 * handshake's promise is fulfilled with its request. */
static bool promise_done;
static int promise_status;
static int on_promise_settled(void *arg, eva_promise *settled, eva_promise *next) {
    (void)arg;
    (void)next;
    promise_status = eva_promise_get_error(settled);
    eva_tls_start_req *req = eva_promise_get_value(settled);
    if (promise_status == 0 && (!req || req->message[0]))
        promise_status = -1;
    promise_done = true;
    return 0;
}

static bool early_read_done;
static int early_read_status;
static void on_early_read(eva_stream_read_req *req, int status) {
    early_read_status = status;
    early_read_done = req->nread > 0 || status < 0;
}

static void on_client_connected(eva_tcp_connect_req *req, int status) {
    assert_int_equal(status, 0);
    *(bool *)req->data = true;
}

static void test_promise_and_early_io(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    server sv = {0};
    uint16_t port = server_start(&sv, loop, SERVE_ECHO);
    eva_stream s = {0};
    eva_tcp_connect_req cn = {0};
    bool connected = false;
    cn.data = &connected;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(eva_tcp_connect(&cn, loop, &s, (struct sockaddr *)&a, sizeof a, 2000, on_client_connected), 0);
    test_run_until(loop, &connected, 5000);
    eva_promise *p;
    assert_int_equal(eva_tls_start_promise(&s, client_ctx, &(eva_tls_start_opts){.server_name = "localhost"}, &p), 0);
    promise_done = false;
    eva_promise *next;
    assert_int_equal(eva_promise_then(p, on_promise_settled, on_promise_settled, NULL, &next), 0);
    /* before the handshake: the write queues, the read waits */
    char buf[64];
    eva_stream_read_req rd = {0};
    early_read_done = false;
    assert_int_equal(eva_stream_write_copy(&s, "early\n", 6), 0);
    assert_int_equal(eva_stream_read(&rd, &s, buf, sizeof buf, on_early_read), 0);
    test_run_until(loop, &promise_done, 5000);
    assert_int_equal(promise_status, 0);
    test_run_until(loop, &early_read_done, 5000);
    assert_int_equal(early_read_status, 0);
    assert_memory_equal(buf, "early\n", 6);
    eva_promise_unref(next);
    eva_promise_unref(p);
    eva_stream_close(&s, EVA_STREAM_CLOSE_FLUSH, NULL);
    test_run_until(loop, &sv.done, 5000);
    eva_server_close(&sv.srv);
    test_loop_destroy(loop);
}

/* Mutual TLS: a server that requires a client certificate takes the CA's
 * and refuses a client without one. */
static void test_mutual_tls(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_tls_context *mctx = tls_test_context(&(eva_tls_context_opts){.server = true, .cert_file = cert("server.pem"),
                                                            .key_file = cert("server.key"), .ca_file = cert("ca.pem"),
                                                            .verify_client = true});
    eva_tls_context *with_cert = tls_test_context(&(eva_tls_context_opts){
        .ca_file = cert("ca.pem"), .cert_file = cert("client.pem"), .key_file = cert("client.key")});
    for (int i = 0; i < 2; i++) {
        server sv = {.ctx = mctx};
        client c = {.send = "mtls\n", .ctx = i == 0 ? with_cert : client_ctx};
        c.port = server_start(&sv, loop, SERVE_ECHO);
        client_start(loop, &c);
        test_run_until(loop, &c.done, 5000);
        test_run_until(loop, &sv.done, 5000);
        if (i == 0) {
            assert_int_equal(sv.hs_status, 0);
            assert_string_equal(c.buf, "mtls\n");
        } else {
            assert_int_equal(sv.hs_status, EVA_ETLS_HANDSHAKE);
            assert_non_null(strstr(sv.hs_message, "certificate"));
            assert_true(c.hs_status < 0 || c.read_status < 0); /* TLS 1.3: the client learns it on its read */
        }
        eva_server_close(&sv.srv);
    }
    test_loop_destroy(loop);
    eva_tls_context_free(mctx);
    eva_tls_context_free(with_cert);
}

/* ---- the real peers: openssl s_server and s_client ------------------------------- */

static uint16_t free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

typedef struct peer {
    pid_t pid;
    int in, out;                /* its stdin (ours to write), its stdout+stderr */
} peer;

static peer peer_spawn(char *const argv[]) {
    int in[2], out[2];
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, out[1], 2);
    posix_spawn_file_actions_addclose(&fa, in[1]);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    peer p = {.in = in[1], .out = out[0]};
    assert_int_equal(posix_spawnp(&p.pid, argv[0], &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    return p;
}

/* Read the peer's output until it contains what (bounded wait). */
static bool peer_wait_for(peer *p, char *acc, size_t cap, const char *what, int timeout_ms) {
    size_t have = strlen(acc);
    while (!strstr(acc, what)) {
        struct pollfd pf = {.fd = p->out, .events = POLLIN};
        if (poll(&pf, 1, timeout_ms) <= 0)
            return false;
        ssize_t n = read(p->out, acc + have, cap - 1 - have);
        if (n <= 0)
            return false;
        have += (size_t)n;
        acc[have] = '\0';
    }
    return true;
}

static void peer_stop(peer *p) {
    kill(p->pid, SIGTERM);
    waitpid(p->pid, NULL, 0);
    close(p->in);
    close(p->out);
}

/* An evasync client GETs from `openssl s_server -www`. */
static void test_client_vs_s_server(void **state) {
    (void)state;
    char port_arg[32], out[4096] = "";
    uint16_t port = 0;
    peer p = {.pid = -1, .in = -1, .out = -1};
    /* another process may take the free port before s_server binds it (it
     * then exits at once): a new port, as tests/dns_dnsmasq.c does */
    for (int try = 0; try < 3 && !strstr(out, "ACCEPT"); try++) {
        if (try > 0)
            peer_stop(&p);
        port = free_port();
        snprintf(port_arg, sizeof port_arg, "127.0.0.1:%u", port);
        char *argv[] = {"openssl", "s_server", "-accept", port_arg, "-cert", (char *)cert("server.pem"),
                        "-key", (char *)cert("server.key"), "-www", "-naccept", "1", NULL};
        out[0] = '\0';
        p = peer_spawn(argv);
        peer_wait_for(&p, out, sizeof out, "ACCEPT", 5000);
    }
    assert_non_null(strstr(out, "ACCEPT"));
    eva_loop *loop = test_loop_new();
    client c = {.port = port, .send = "GET / HTTP/1.0\r\n\r\n", .read_all = true};
    client_start(loop, &c);
    test_run_until(loop, &c.done, 5000);
    assert_int_equal(c.hs_status, 0);
    assert_int_equal(c.read_status, 0); /* s_server -www ends with close_notify */
    assert_non_null(strstr(c.buf, "HTTP/1.0 200 ok"));
    assert_non_null(strstr(c.buf, "TLSv1.3"));
    test_loop_destroy(loop);
    peer_stop(&p);
}

/* Serve with loop until the peer's output (accumulated in out) contains
 * what: at most 500 waits of 10 ms; fails the test with what it said. */
static void serve_until_peer_says(eva_loop *loop, const server *sv, peer *p, char *out, size_t cap,
                                  const char *what) {
    for (int i = 0; i < 500 && !strstr(out, what); i++) {
        struct pollfd pf = {.fd = p->out, .events = POLLIN};
        eva_loop_run(loop, EVA_RUN_NOWAIT);
        if (poll(&pf, 1, 10) == 1)
            peer_wait_for(p, out, cap, what, 10);
    }
    if (!strstr(out, what))
        fail_msg("no \"%s\"; s_client said: %s (server: handshake %d, read %d %s)", what, out, sv->hs_status,
                 sv->read_status, sv->hs_message);
}

/* `openssl s_client` at the evasync echo server on port, verifying against
 * the test CA; extra: one more option (NULL: none). */
static peer s_client_spawn(uint16_t port, const char *extra, bool interactive) {
    char port_arg[32];
    snprintf(port_arg, sizeof port_arg, "127.0.0.1:%u", port);
    char *argv[16] = {"openssl", "s_client", "-connect", port_arg, "-CAfile", (char *)cert("ca.pem"),
                      "-verify_return_error", "-verify_hostname", "localhost", "-servername", "localhost"};
    int n = 11;
    if (!interactive) /* else its stdin's "R" line is a command: renegotiate */
        argv[n++] = "-quiet";
    argv[n++] = "-no_ign_eof"; /* after -quiet, which turns ign_eof on: close at stdin's end */
    if (extra)
        argv[n++] = (char *)extra;
    argv[n] = NULL;
    return peer_spawn(argv);
}

/* `openssl s_client`, verifying against the test CA, talks to the evasync
 * echo server. */
static void test_s_client_vs_server(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    server sv = {0};
    peer p = s_client_spawn(server_start(&sv, loop, SERVE_ECHO), NULL, false);
    assert_int_equal(write(p.in, "ping from s_client\n", 19), 19);
    char out[4096] = "";
    serve_until_peer_says(loop, &sv, &p, out, sizeof out, "ping from s_client"); /* the echo */
    close(p.in); /* s_client sends close_notify at its stdin's end */
    p.in = -1;
    test_run_until(loop, &sv.done, 5000);
    assert_int_equal(sv.hs_status, 0);
    assert_int_equal(sv.read_status, 0);
    eva_server_close(&sv.srv);
    test_loop_destroy(loop);
    peer_stop(&p);
}

/* ---- bad input ------------------------------------------------------------------------ */

/* A TLS 1.2 peer asking to renegotiate (s_client's "R" command) is refused
 * with an alert, after the data before it was served; the server's read
 * ends and the loop runs on.  Renegotiation would cost the server a full
 * handshake each time a client asks, a known denial of service: the
 * contexts set SSL_OP_NO_RENEGOTIATION, and OpenSSL 3's servers refuse
 * client-initiated renegotiation by default too; this guards both. */
static void test_renegotiation_refused(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    server sv = {0};
    peer p = s_client_spawn(server_start(&sv, loop, SERVE_ECHO), "-tls1_2", true);
    assert_int_equal(write(p.in, "before\n", 7), 7);
    char out[8192] = "";
    serve_until_peer_says(loop, &sv, &p, out, sizeof out, "before\n"); /* echoed */
    assert_int_equal(write(p.in, "R\n", 2), 2);
    serve_until_peer_says(loop, &sv, &p, out, sizeof out, "no renegotiation");
    assert_non_null(strstr(out, "RENEGOTIATING"));
    close(p.in);
    p.in = -1;
    test_run_until(loop, &sv.done, 5000);
    assert_int_equal(sv.hs_status, 0);
    assert_true(sv.read_status <= 0); /* the client gave up: an end or an error, reported once */
    eva_server_close(&sv.srv);
    test_loop_destroy(loop);
    peer_stop(&p);
}

/* A client's handshake against a server with the given certificate. */
static void verify_fails(const char *server_cert, const char *name, long verify_result, const char *words) {
    eva_loop *loop = test_loop_new();
    eva_tls_context *sctx = server_context(server_cert);
    server sv = {.ctx = sctx};
    client c = {.name = name, .send = "x\n"};
    c.port = server_start(&sv, loop, SERVE_ECHO);
    client_start(loop, &c);
    test_run_until(loop, &c.done, 5000);
    assert_int_equal(c.hs_status, EVA_ETLS_VERIFY);
    assert_int_equal(c.hs.verify_result, verify_result);
    if (!strstr(c.hs.message, words))
        fail_msg("message \"%s\" does not say \"%s\"", c.hs.message, words);
    test_run_until(loop, &sv.done, 5000);
    assert_true(sv.hs_status < 0); /* the client's alert */
    eva_server_close(&sv.srv);
    test_loop_destroy(loop);
    eva_tls_context_free(sctx);
}

static void test_wrong_hostname(void **state) {
    (void)state;
    verify_fails("server", "example.com", 62 /* X509_V_ERR_HOSTNAME_MISMATCH */, "hostname mismatch");
}

static void test_expired_certificate(void **state) {
    (void)state;
    verify_fails("expired", "localhost", 10 /* X509_V_ERR_CERT_HAS_EXPIRED */, "expired");
}

static void test_unknown_ca(void **state) {
    (void)state;
    verify_fails("stranger", "localhost", 20 /* X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY */,
                 "unable to get local issuer certificate");
}

/* A raw socket to the server's port (connected, blocking). */
static int raw_connect(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static void test_plaintext_to_tls_port(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    server sv = {0};
    int fd = raw_connect(server_start(&sv, loop, SERVE_ECHO));
    assert_int_equal(write(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27), 27);
    test_run_until(loop, &sv.done, 5000);
    assert_int_equal(sv.hs_status, EVA_ETLS_HANDSHAKE);
    assert_non_null(strstr(sv.hs_message, "http request")); /* OpenSSL's reason names it */
    close(fd);
    eva_server_close(&sv.srv);
    test_loop_destroy(loop);
}

static void test_tls_to_plaintext_port(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    server sv = {0};
    client c = {0};
    c.port = server_start(&sv, loop, SERVE_PLAIN_400);
    client_start(loop, &c);
    test_run_until(loop, &c.done, 5000);
    assert_int_equal(c.hs_status, EVA_ETLS_HANDSHAKE);
    assert_non_null(strstr(c.hs.message, "wrong version number"));
    eva_server_close(&sv.srv);
    test_loop_destroy(loop);
}

static void test_reset_mid_handshake(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    server sv = {0};
    client c = {0};
    c.port = server_start(&sv, loop, SERVE_RESET); /* reads the ClientHello, answers with a RST */
    client_start(loop, &c);
    test_run_until(loop, &c.done, 5000);
    assert_int_equal(c.hs_status, -ECONNRESET);
    assert_non_null(strstr(c.hs.message, "TLS handshake"));
    eva_server_close(&sv.srv);
    test_loop_destroy(loop);
}

static void test_truncated_close(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    server sv = {0};
    client c = {.read_all = true};
    c.port = server_start(&sv, loop, SERVE_TRUNCATE);
    client_start(loop, &c);
    test_run_until(loop, &c.done, 5000);
    assert_int_equal(c.hs_status, 0);
    assert_int_equal(c.read_status, EVA_ETLS_TRUNCATED); /* not a clean end of stream */
    assert_string_equal(c.buf, "partial");
    eva_server_close(&sv.srv);
    test_loop_destroy(loop);
}

static void test_slowloris_handshake(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    server sv = {.hs_timeout_ms = 100};
    int fd = raw_connect(server_start(&sv, loop, SERVE_ECHO));
    assert_int_equal(write(fd, "\x16\x03\x01", 3), 3); /* a record header, then nothing */
    test_run_until(loop, &sv.done, 5000);
    assert_int_equal(sv.hs_status, -ETIMEDOUT);
    assert_non_null(strstr(sv.hs_message, "not complete within 100 ms"));
    close(fd);
    /* the loop goes on: the next client is served */
    server sv2 = {0};
    client c = {.send = "still here\n"};
    c.port = server_start(&sv2, loop, SERVE_ECHO);
    client_start(loop, &c);
    test_run_until(loop, &c.done, 5000);
    assert_string_equal(c.buf, "still here\n");
    eva_server_close(&sv.srv);
    eva_server_close(&sv2.srv);
    test_loop_destroy(loop);
}

static void on_never(eva_tls_start_req *req, int status) {
    (void)req;
    fail_msg("a refused start completed (%d)", status);
}

static void test_bad_arguments(void **state) {
    (void)state;
    eva_tls_context *ctx = NULL;
    char err[256];
    assert_int_equal(eva_tls_context_new(&(eva_tls_context_opts){.server = true}, &ctx, err, sizeof err), -EINVAL);
    assert_int_equal(eva_tls_context_new(&(eva_tls_context_opts){.server = true, .cert_file = "/nonexistent.pem"},
                                         &ctx, err, sizeof err),
                     EVA_ETLS_CONFIG);
    assert_non_null(strstr(err, "TLS certificate file"));
    assert_int_equal(eva_tls_context_new(&(eva_tls_context_opts){.server = true, .cert_file = cert("server.pem"),
                                                                  .key_file = cert("client.key")},
                                         &ctx, err, sizeof err),
                     EVA_ETLS_CONFIG);
    assert_non_null(strstr(err, "mismatch"));
    eva_loop *loop = test_loop_new();
    eva_stream s = {0};
    eva_tls_start_req req = {0};
    /* not open; a verifying client without a name */
    assert_int_equal(eva_tls_start(&req, &s, client_ctx, NULL, on_never), -ENOTCONN);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(eva_stream_open(loop, &s, sv[0]), 0);
    assert_int_equal(eva_tls_start(&req, &s, client_ctx, NULL, on_never), -EINVAL);
    assert_false(eva_tls_is_on(&s));
    assert_null(eva_tls_get_version(&s));
    eva_stream_close(&s, EVA_STREAM_CLOSE_DISCARD, NULL);
    close(sv[1]);
    test_loop_destroy(loop);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_tcp),
        cmocka_unit_test(test_alpn),
        cmocka_unit_test(test_echo_unix),
        cmocka_unit_test(test_resumption),
        cmocka_unit_test(test_promise_and_early_io),
        cmocka_unit_test(test_mutual_tls),
        cmocka_unit_test(test_client_vs_s_server),
        cmocka_unit_test(test_s_client_vs_server),
        cmocka_unit_test(test_renegotiation_refused),
        cmocka_unit_test(test_wrong_hostname),
        cmocka_unit_test(test_expired_certificate),
        cmocka_unit_test(test_unknown_ca),
        cmocka_unit_test(test_plaintext_to_tls_port),
        cmocka_unit_test(test_tls_to_plaintext_port),
        cmocka_unit_test(test_reset_mid_handshake),
        cmocka_unit_test(test_truncated_close),
        cmocka_unit_test(test_slowloris_handshake),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
