/* examples/daemon/daemon.h — the daemon's state, shared by its parts:
 *
 *   daemon.c   the daemon as it was before evasync: its own libev loop and
 *              ev_run, a periodic ev_timer doing its own work, hiredis on
 *              that loop through hiredis's libev adapter, SIGTERM/SIGINT as
 *              ev_signal watchers; plus attaching evasync and the shutdown order;
 *   config.c   the key=value config file, reloaded on the offload pool;
 *   health.c   GET /health on a loopback TCP port (an AWAIT task per connection);
 *   control.c  "status", "reload", "quit" on a Unix socket (AWAIT too);
 *   service.c  what the two endpoints share: accepting, buffering, draining.
 *
 * Everything runs on the one loop thread, but the config file's read (a pool
 * worker, which touches nothing here). */
#ifndef DAEMON_DAEMON_H
#define DAEMON_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>
#include <evasync.h>
#include <hiredis.h>
#include <async.h>

#include "service.h"

enum {
    CONFIG_NAME_MAX = 64,  /* the name's bytes, NUL included */
    DRAIN_GRACE_MS = 5000, /* a request under way at SIGTERM has this long to arrive whole */
    IDLE_TIMEOUT_MS = 60000
};

/* The config file: "key=value" lines, '#' comments, blank lines.  One key:
 * name (1..63 of [A-Za-z0-9._ -]: it goes into JSON and a reply line as is). */
typedef struct config {
    char name[CONFIG_NAME_MAX];
} config;

typedef struct daemon_state {
    /* the daemon's own, on libev: */
    struct ev_loop *ev;
    ev_timer tick;              /* its own periodic work */
    ev_signal sigterm, sigint;  /* drain and exit */
    redisAsyncContext *redis;   /* NULL: not connected (failed, or disconnected) */
    const char *redis_key;      /* the counter each tick INCRs (argv's) */
    uint64_t ticks;
    long long redis_counter;    /* the last INCR's reply; -1: none yet */
    /* evasync, attached to ev: */
    eva_loop *loop;
    eva_pool *pool;             /* reads the config file off the loop */
    eva_signal sighup;          /* reload */
    eva_mutex reload_lock;      /* one reload at a time, so the newest read wins */
    service health, control;
    int services_running;
    const char *config_path;    /* argv's */
    config cfg;
    uint64_t reloads;
    bool draining;
} daemon_state;

/* daemon.c.  Start the drain (SIGTERM, SIGINT, the control "quit"): the
 * endpoints stop accepting and let the requests under way finish; then the
 * daemon's own watchers and Redis stop, and ev_run returns.  Idempotent. */
void daemon_drain(daemon_state *d);

/* daemon.c.  GET the Redis counter through the daemon's hiredis context: a
 * promise (yours: unref it) fulfilled with a long long * (the promise's), or
 * rejected (-ENOTCONN, -ECONNRESET, -EPROTO).  Returns 0, -ENOTCONN (no
 * Redis), -ENOMEM. */
int daemon_get_counter_promise(daemon_state *d, eva_promise **out);

/* config.c.  Read and check the file (blocking: at startup, or on a pool
 * worker).  0, or a negative code with a message in err. */
int config_load(const char *path, config *out, char *err, size_t errlen);

/* config.c.  A reload as a nested async function (EVA_ASYNC(reload_run,
 * &f->reload), with .d set): the file is read on the pool, then becomes
 * d->cfg.  Status 0 or the read's error; message: what happened (name=... or
 * the error), also logged. */
typedef struct reload {
    eva_task task;
    daemon_state *d;
    eva_pool_job job;
    bool locked;
    int rc;
    char message[160];
} reload;
eva_step reload_run(void *frame);

/* config.c.  A reload as a task of its own (SIGHUP). */
int reload_spawn(daemon_state *d);

/* health.c, control.c: the connection tasks, their frames' sizes and
 * where the conn is in them. */
eva_step health_conn_run(void *frame);
extern const size_t health_conn_size, health_conn_offset;
eva_step control_conn_run(void *frame);
extern const size_t control_conn_size, control_conn_offset;

#endif
