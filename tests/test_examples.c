/* The examples run: hello_http is started as a real process on a free port
 * and spoken to over loopback (keep-alive, pipelining, a malformed request,
 * HTTP/1.0, slow and idle clients), then stopped with SIGTERM and must exit
 * cleanly. */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

static const char *hello_http_path;

static const char HELLO[] = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n"
                            "Content-Type: text/plain\r\n\r\nHello, World!";
/* The answer to a request that closes the connection says so (RFC 9112, 9.6). */
static const char HELLO_CLOSE[] = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n"
                                  "Content-Type: text/plain\r\nConnection: close\r\n\r\nHello, World!";

typedef struct server {
    pid_t pid;
    int port;
} server;

/* Start hello_http on a free port; options (NULL-terminated) come before the port. */
static server start_with(const char *const *options) {
    const char *args[8] = {hello_http_path};
    int n = 1;
    while (options && *options && n < 6)
        args[n++] = *options++;
    args[n++] = "0";
    args[n] = NULL;
    int out[2];
    assert_int_equal(pipe(out), 0);
    server s;
    s.pid = fork();
    assert_true(s.pid >= 0);
    if (s.pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        close(out[0]);
        execv(hello_http_path, (char *const *)args);
        _exit(127);
    }
    close(out[1]);
    FILE *f = fdopen(out[0], "r");
    char line[256] = "";
    assert_non_null(fgets(line, sizeof line, f)); /* waits for the listening line */
    fclose(f);
    assert_int_equal(sscanf(line, "hello_http: listening on http://127.0.0.1:%d/", &s.port), 1);
    return s;
}

static server start(void) { return start_with(NULL); }

static void stop(server s) {
    kill(s.pid, SIGTERM);
    int status;
    assert_int_equal(waitpid(s.pid, &status, 0), s.pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static int dial(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* Read until want bytes or EOF, waiting at most 10 s per chunk. */
static size_t read_reply(int fd, char *buf, size_t want, bool *eof) {
    size_t got = 0;
    *eof = false;
    while (got < want) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        assert_int_equal(poll(&p, 1, 10000), 1);
        ssize_t n = recv(fd, buf + got, want - got, 0);
        if (n <= 0) {
            *eof = true;
            break;
        }
        got += (size_t)n;
    }
    return got;
}

static void hello_http_answers(void **state) {
    (void)state;
    server s = start();
    char buf[4096];
    bool eof;
    size_t hl = sizeof HELLO - 1;

    int fd = dial(s.port); /* keep-alive: two rounds on one connection */
    for (int round = 0; round < 2; round++) {
        const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_int_equal(send(fd, req, sizeof req - 1, 0), (ssize_t)(sizeof req - 1));
        assert_int_equal(read_reply(fd, buf, hl, &eof), hl);
        assert_memory_equal(buf, HELLO, hl);
    }
    /* pipelining: three requests in one segment, three answers */
    const char three[] = "GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n";
    assert_int_equal(send(fd, three, sizeof three - 1, 0), (ssize_t)(sizeof three - 1));
    assert_int_equal(read_reply(fd, buf, 3 * hl, &eof), 3 * hl);
    for (int i = 0; i < 3; i++)
        assert_memory_equal(buf + i * hl, HELLO, hl);
    close(fd);

    fd = dial(s.port); /* malformed: 400, then the server closes */
    assert_int_equal(send(fd, "BLAH\r\n\r\n", 8, 0), 8);
    size_t n = read_reply(fd, buf, sizeof buf, &eof);
    assert_true(eof);
    assert_true(n > 12);
    assert_memory_equal(buf, "HTTP/1.1 400", 12);
    close(fd);

    fd = dial(s.port); /* pipelined, the last one malformed: the answers before it, then 400 */
    const char two_and_bad[] = "GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\nBLAH\r\n\r\n";
    assert_int_equal(send(fd, two_and_bad, sizeof two_and_bad - 1, 0), (ssize_t)(sizeof two_and_bad - 1));
    n = read_reply(fd, buf, sizeof buf, &eof);
    assert_true(eof);
    assert_true(n > 2 * hl + 12);
    assert_memory_equal(buf, HELLO, hl);
    assert_memory_equal(buf + hl, HELLO, hl);
    assert_memory_equal(buf + 2 * hl, "HTTP/1.1 400", 12);
    close(fd);

    fd = dial(s.port); /* HTTP/1.0 without keep-alive: answer "Connection: close", then close */
    assert_int_equal(send(fd, "GET / HTTP/1.0\r\n\r\n", 18, 0), 18);
    assert_int_equal(read_reply(fd, buf, sizeof buf, &eof), sizeof HELLO_CLOSE - 1);
    assert_memory_equal(buf, HELLO_CLOSE, sizeof HELLO_CLOSE - 1);
    assert_true(eof);
    close(fd);

    fd = dial(s.port); /* pipelined, the last one closing: the 200s, the closing 200, one write each */
    const char two_and_close[] = "GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nConnection: close\r\n\r\n";
    assert_int_equal(send(fd, two_and_close, sizeof two_and_close - 1, 0), (ssize_t)(sizeof two_and_close - 1));
    assert_int_equal(read_reply(fd, buf, sizeof buf, &eof), hl + sizeof HELLO_CLOSE - 1);
    assert_memory_equal(buf, HELLO, hl);
    assert_memory_equal(buf + hl, HELLO_CLOSE, sizeof HELLO_CLOSE - 1);
    assert_true(eof);
    close(fd);
    stop(s);
}

/* A request that ends the connection (HTTP/1.0, "Connection: close") is the
 * last one served: what the client sent after it in the same segment is not
 * parsed, so it neither gets a 200 nor (for bytes that are no request) a 400.
 * (fuzz_http found both: the answer depended on how the bytes were split.) */
static void hello_http_ignores_what_follows_a_closing_request(void **state) {
    (void)state;
    server s = start();
    char buf[4096];
    bool eof;
    const char *const after_close[] = {
        "GET / HTTP/1.0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n\x01garbage",
    };
    for (size_t i = 0; i < sizeof after_close / sizeof *after_close; i++) {
        int fd = dial(s.port);
        size_t len = strlen(after_close[i]);
        assert_int_equal(send(fd, after_close[i], len, 0), (ssize_t)len);
        assert_int_equal(read_reply(fd, buf, sizeof buf, &eof), sizeof HELLO_CLOSE - 1);
        assert_memory_equal(buf, HELLO_CLOSE, sizeof HELLO_CLOSE - 1);
        assert_true(eof);
        close(fd);
    }
    stop(s);
}

/* Hostile and odd peers: each one alone, then a plain request must still be
 * answered (the server neither died nor got stuck). */
static void hello_http_survives_hostile_peers(void **state) {
    (void)state;
    server s = start();
    char buf[4096];
    bool eof;
    size_t hl = sizeof HELLO - 1;

    int fd = dial(s.port); /* a reset in the middle of a request */
    assert_int_equal(send(fd, "GET / HT", 8, 0), 8);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);

    fd = dial(s.port); /* a header that never ends: 100 KB, no CRLF */
    static char big[100 * 1024];
    memset(big, 'a', sizeof big);
    send(fd, "GET / HTTP/1.1\r\nX: ", 20, MSG_NOSIGNAL);
    send(fd, big, sizeof big, MSG_NOSIGNAL); /* the server may close before it is all sent */
    read_reply(fd, buf, sizeof buf, &eof); /* a 400, or a reset: either way it ends */
    assert_true(eof);
    close(fd);

    fd = dial(s.port); /* a request, then the client's half-close: answer, then close */
    const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(send(fd, req, sizeof req - 1, 0), (ssize_t)(sizeof req - 1));
    shutdown(fd, SHUT_WR);
    assert_int_equal(read_reply(fd, buf, sizeof buf, &eof), hl);
    assert_memory_equal(buf, HELLO, hl);
    assert_true(eof);
    close(fd);

    fd = dial(s.port); /* and the server still serves */
    assert_int_equal(send(fd, req, sizeof req - 1, 0), (ssize_t)(sizeof req - 1));
    assert_int_equal(read_reply(fd, buf, hl, &eof), hl);
    assert_memory_equal(buf, HELLO, hl);
    close(fd);
    stop(s);
}

/* Wait (at most 10 s) for the server to end the connection; what it sent
 * before goes to buf.  A reset counts as an end (a client still sending when
 * the server closes gets one). */
static size_t read_to_end(int fd, char *buf, size_t cap) {
    size_t got = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        assert_int_equal(poll(&p, 1, 10000), 1);
        ssize_t n = recv(fd, buf + got, cap - got, 0);
        if (n <= 0)
            return got;
        got += (size_t)n;
        assert_true(got < cap);
    }
}

static bool starts_with(const char *buf, size_t n, const char *prefix) {
    return n >= strlen(prefix) && memcmp(buf, prefix, strlen(prefix)) == 0;
}

/* A header that never completes gets 408 and the connection closed, however
 * steadily its bytes trickle in (faster than any idle timeout would notice). */
static void hello_http_times_out_slow_headers(void **state) {
    (void)state;
    const char *const options[] = {"--header-timeout", "200", "--idle-timeout", "600000", NULL};
    server s = start_with(options);
    char buf[4096];

    int fd = dial(s.port); /* one header byte every 20 ms, until the server answers */
    assert_int_equal(send(fd, "GET / HTTP/1.1\r\n", 16, 0), 16);
    int trickled = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, 20);
        assert_true(r >= 0);
        if (r == 1)
            break;
        assert_int_equal(send(fd, "X", 1, MSG_NOSIGNAL), 1);
        assert_true(++trickled < 500); /* 10 s: the deadline did not fire */
    }
    size_t n = read_to_end(fd, buf, sizeof buf);
    assert_true(starts_with(buf, n, "HTTP/1.1 408"));
    close(fd);

    fd = dial(s.port); /* an HTTP/0.9 line is not a complete request either */
    assert_int_equal(send(fd, "GET /\r\n", 7, 0), 7);
    n = read_to_end(fd, buf, sizeof buf);
    assert_true(starts_with(buf, n, "HTTP/1.1 408"));
    close(fd);
    stop(s);
}

/* A keep-alive connection that sends nothing more is closed after the idle
 * timeout, silently (no request was under way). */
static void hello_http_closes_idle_keep_alive(void **state) {
    (void)state;
    const char *const options[] = {"--idle-timeout", "200", NULL};
    server s = start_with(options);
    char buf[4096];
    bool eof;
    size_t hl = sizeof HELLO - 1;
    int fd = dial(s.port);
    const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(send(fd, req, sizeof req - 1, 0), (ssize_t)(sizeof req - 1));
    assert_int_equal(read_reply(fd, buf, hl, &eof), hl);
    assert_int_equal(read_to_end(fd, buf, sizeof buf), 0);
    close(fd);

    fd = dial(s.port); /* a connection that never sends a byte, too */
    assert_int_equal(read_to_end(fd, buf, sizeof buf), 0);
    close(fd);
    stop(s);
}

/* --threads 2: a loop group on one SO_REUSEPORT port answers every
 * connection; SIGTERM with keep-alive connections open exits 0 and closes
 * them all. */
static void hello_http_serves_from_two_loops(void **state) {
    (void)state;
    const char *const options[] = {"--threads", "2", NULL};
    server s = start_with(options);
    enum { CONNS = 16 };
    int fds[CONNS];
    char buf[256];
    bool eof;
    size_t hl = sizeof HELLO - 1;
    const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    for (int i = 0; i < CONNS; i++) {
        fds[i] = dial(s.port);
        assert_int_equal(send(fds[i], req, sizeof req - 1, 0), (ssize_t)(sizeof req - 1));
        assert_int_equal(read_reply(fds[i], buf, hl, &eof), hl);
        assert_memory_equal(buf, HELLO, hl);
    }
    stop(s);
    for (int i = 0; i < CONNS; i++) {
        assert_int_equal(read_reply(fds[i], buf, 1, &eof), 0);
        assert_true(eof);
        close(fds[i]);
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_examples PATH/TO/hello_http\n");
        return 2;
    }
    hello_http_path = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hello_http_answers),
        cmocka_unit_test(hello_http_ignores_what_follows_a_closing_request),
        cmocka_unit_test(hello_http_survives_hostile_peers),
        cmocka_unit_test(hello_http_times_out_slow_headers),
        cmocka_unit_test(hello_http_closes_idle_keep_alive),
        cmocka_unit_test(hello_http_serves_from_two_loops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
