/* tests/fuzz/fuzz.c — see fuzz_loop.h. */
#define _GNU_SOURCE /* accept4 */
#include "fuzz_loop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static void on_guard(eva_timer *t) { *(bool *)t->data = true; }

bool fuzz_run_until(eva_loop *loop, const bool *done, int64_t timeout_ms) {
    bool expired = false;
    eva_timer guard;
    FUZZ_CHECK(eva_timer_init(loop, &guard) == 0);
    FUZZ_CHECK(eva_timer_start(&guard, timeout_ms, 0, on_guard, &expired) == 0);
    while (!*done && !expired)
        FUZZ_CHECK(eva_loop_run(loop, EVA_RUN_ONCE) >= 0);
    eva_timer_stop(&guard);
    return *done;
}

static void quiet(void *ud, eva_loop *loop, eva_log_level level, const char *msg) {
    (void)ud, (void)loop;
    if (getenv("FUZZ_LOG"))
        fprintf(stderr, "log %d: %s\n", (int)level, msg);
}

eva_loop *fuzz_loop_new(void) {
    eva_loop *loop = NULL;
    FUZZ_CHECK(eva_loop_new(&loop) == 0);
    FUZZ_CHECK(eva_loop_set_log(loop, quiet, NULL) == 0);
    return loop;
}

void fuzz_loop_destroy(eva_loop *loop) { FUZZ_CHECK(eva_loop_destroy(loop) == 0); }

static test_alloc alloc = {.fail_after = -1};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    test_alloc_install(&alloc);
    return 0;
}

void fuzz_check_freed(void) {
    if (alloc.live != 0)
        fprintf(stderr, "%ld blocks of evasync's allocations left after the run\n", alloc.live);
    FUZZ_CHECK(alloc.live == 0);
}

static int loopback_listener(struct sockaddr_in *addr) {
    static int fd = -1;
    static struct sockaddr_in bound;
    if (fd < 0) {
        socklen_t len = sizeof bound;
        bound = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        FUZZ_CHECK(fd >= 0);
        FUZZ_CHECK(bind(fd, (struct sockaddr *)&bound, sizeof bound) == 0);
        FUZZ_CHECK(listen(fd, 16) == 0);
        FUZZ_CHECK(getsockname(fd, (struct sockaddr *)&bound, &len) == 0);
    }
    *addr = bound;
    return fd;
}

void fuzz_tcp_pair(int fds[2]) {
    struct sockaddr_in addr;
    int listener = loopback_listener(&addr);
    /* blocking connect and accept: the listener's backlog completes the
     * handshake, so neither waits for anything but the kernel */
    fds[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    FUZZ_CHECK(fds[1] >= 0);
    /* Each pair from its own address of 127.1/16: thousands of connections
     * a second leave TIME_WAIT behind (whoever closes first), enough to use
     * up one address's ephemeral ports within a minute. */
    static uint32_t pairs;
    struct sockaddr_in from = {.sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(0x7f010000u | (1 + pairs++ % 0xfffe))};
    FUZZ_CHECK(bind(fds[1], (struct sockaddr *)&from, sizeof from) == 0);
    int rc = connect(fds[1], (struct sockaddr *)&addr, sizeof addr);
    if (rc < 0 && errno == EINTR) {
        /* a signal (libFuzzer's timers) interrupted it: the connect goes on
         * by itself; wait for it to finish and take its outcome */
        struct pollfd p = {.fd = fds[1], .events = POLLOUT};
        while ((rc = poll(&p, 1, 10000)) < 0 && errno == EINTR)
            ;
        int err = 0;
        socklen_t len = sizeof err;
        rc = rc == 1 && getsockopt(fds[1], SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0 ? 0 : -1;
        errno = err ? err : ETIMEDOUT;
    }
    if (rc < 0)
        perror("fuzz_tcp_pair: connect");
    FUZZ_CHECK(rc == 0);
    do
        fds[0] = accept4(listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    while (fds[0] < 0 && errno == EINTR);
    if (fds[0] < 0)
        perror("fuzz_tcp_pair: accept4");
    FUZZ_CHECK(fds[0] >= 0);
    FUZZ_CHECK(fcntl(fds[1], F_SETFL, O_NONBLOCK) == 0);
}

void fuzz_tcp_reset(int fd) {
    struct linger now = {.l_onoff = 1, .l_linger = 0};
    FUZZ_CHECK(setsockopt(fd, SOL_SOCKET, SO_LINGER, &now, sizeof now) == 0);
    close(fd);
}
