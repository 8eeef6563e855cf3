/* tests/redis_server.h — a throwaway redis-server for one test: no TCP port
 * (--port 0), a Unix socket in a fresh temporary directory, no persistence.
 * Include after cmocka.h; failures fail the test. */
#ifndef EVA_TEST_REDIS_SERVER_H
#define EVA_TEST_REDIS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "evasync.h"

typedef struct redis_server {
    pid_t pid;              /* 0: not running */
    int out;                /* its stdout and stderr (kept open: it logs there) */
    char dir[64];
    char sock[96];          /* the Unix socket's path */
} redis_server;

/* Start redis-server and return once it logs that it accepts connections,
 * read from its output through eva_fd_wait on loop (no polling: a 10 s
 * deadline only matters on failure). */
void redis_server_start(eva_loop *loop, redis_server *s);

/* Read a child's output from fd into log (NUL-terminated; the newest
 * cap-1 bytes at most) through eva_fd_wait on loop, until the text `until`
 * appears (true) or EOF (false; with until NULL: read to EOF, true).  Fails
 * the test after timeout_ms. */
bool test_read_output(eva_loop *loop, int fd, char *log, size_t cap, const char *until,
                      int64_t timeout_ms);

/* SIGKILL it, reap it, remove its directory.  Idempotent. */
void redis_server_stop(redis_server *s);

#endif
