/* examples/daemon — a libev daemon that embeds evasync (docs/embedding.md
 * walks through it).
 *
 * The daemon was a libev program before evasync came: it owns its loop and
 * its ev_run, counts ticks with an ev_timer and INCRs a Redis counter per
 * tick through hiredis's libev adapter on that loop, and stops on SIGTERM
 * or SIGINT (ev_signal).  evasync is attached to the same loop
 * (eva_loop_from_ev) for the new handlers, written with AWAIT:
 *
 *   - GET /health on 127.0.0.1:PORT (health.c): 200 with
 *     {"status":"ok","name":...,"ticks":...,"redis_counter":...};
 *   - a Unix control socket (control.c): "status", "reload", "quit";
 *   - SIGHUP (eva_signal) reloads the config file, read on the offload pool
 *     so a slow disk never blocks the loop (config.c);
 *   - the blocked-loop detector watches the loop.
 *
 * SIGTERM (or "quit"): the endpoints stop accepting, connections waiting for
 * a request close, requests under way finish (service.c); then the daemon
 * stops its own watchers and disconnects from Redis, ev_run returns because
 * nothing is active any more, and evasync and libev are torn down: exit 0.
 *
 * It logs to stdout, one line per event: "daemon: ready http=127.0.0.1:PORT
 * control=PATH", "daemon: reloaded name=N" (or "reload failed: ..."),
 * "daemon: draining", "daemon: stopped ticks=T".
 *
 *     daemon --config FILE [--redis PATH | --redis HOST:PORT] [--redis-key KEY]
 *            [--control PATH] [--http-port PORT] [--tick-ms MS]
 *         (defaults: Redis 127.0.0.1:6379, key evasync:daemon:ticks, control
 *         /tmp/evasync-daemon.sock, port 8081 (0 picks a free one), tick 1000 ms)
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <adapters/libev.h>

#include "daemon.h"

typedef struct options {
    const char *config, *redis, *control;
    long http_port, tick_ms;
} options;

/* ---- the daemon's own work, on libev --------------------------------------------- */

static void on_incr_reply(redisAsyncContext *ac, void *reply, void *privdata) {
    (void)ac;
    daemon_state *d = privdata;
    const redisReply *r = reply;
    if (r && r->type == REDIS_REPLY_INTEGER)
        d->redis_counter = r->integer;
}

static void on_tick(struct ev_loop *ev, ev_timer *w, int revents) {
    (void)ev;
    (void)revents;
    daemon_state *d = w->data;
    d->ticks++;
    if (d->redis)
        redisAsyncCommand(d->redis, on_incr_reply, d, "INCR %s", d->redis_key);
}

static void on_redis_connect(const redisAsyncContext *ac, int status) {
    daemon_state *d = ac->data;
    if (status != REDIS_OK) { /* hiredis frees the context; no disconnect callback */
        fprintf(stderr, "daemon: redis: %s\n", ac->errstr);
        d->redis = NULL;
    }
}

static void on_redis_disconnect(const redisAsyncContext *ac, int status) {
    daemon_state *d = ac->data;
    if (status != REDIS_OK)
        fprintf(stderr, "daemon: redis: %s\n", ac->errstr);
    d->redis = NULL;
}

/* PATH (it has a '/') or HOST:PORT.  Commands sent before the connection is
 * up are queued by hiredis.  A Redis that cannot be reached is not fatal:
 * the health endpoint says so (503). */
static void redis_start(daemon_state *d, const char *target) {
    char host[256];
    int port;
    redisAsyncContext *ac = NULL;
    if (strchr(target, '/'))
        ac = redisAsyncConnectUnix(target);
    else if (sscanf(target, "%255[^:]:%d", host, &port) == 2)
        ac = redisAsyncConnect(host, port);
    if (!ac || ac->err) {
        fprintf(stderr, "daemon: redis %s: %s\n", target, ac ? ac->errstr : "bad address");
        if (ac)
            redisAsyncFree(ac);
        return;
    }
    ac->data = d;
    redisLibevAttach(d->ev, ac);
    redisAsyncSetConnectCallback(ac, on_redis_connect);
    redisAsyncSetDisconnectCallback(ac, on_redis_disconnect);
    d->redis = ac;
}

static void on_stop_signal(struct ev_loop *ev, ev_signal *w, int revents) {
    (void)ev;
    (void)revents;
    daemon_drain(w->data);
}

static void start_own_work(daemon_state *d, const options *o) {
    redis_start(d, o->redis);
    ev_timer_init(&d->tick, on_tick, 0., (double)o->tick_ms / 1000.);
    d->tick.data = d;
    ev_timer_start(d->ev, &d->tick);
    ev_signal_init(&d->sigterm, on_stop_signal, SIGTERM);
    ev_signal_init(&d->sigint, on_stop_signal, SIGINT);
    d->sigterm.data = d->sigint.data = d;
    ev_signal_start(d->ev, &d->sigterm);
    ev_signal_start(d->ev, &d->sigint);
}

/* The endpoints are done: stop everything that keeps ev_run alive. */
static void stop_own_work(daemon_state *d) {
    ev_timer_stop(d->ev, &d->tick);
    ev_signal_stop(d->ev, &d->sigterm);
    ev_signal_stop(d->ev, &d->sigint);
    eva_signal_stop(&d->sighup);
    if (d->redis)
        redisAsyncDisconnect(d->redis); /* after the replies still due; its watchers stop */
}

/* ---- the bridge: a hiredis callback settles a promise an AWAIT waits on ---------- */

static void settle_counter(eva_promise *p, const redisReply *r) {
    if (!r) { /* hiredis: the connection went away before the reply */
        eva_promise_reject(p, -ECONNRESET, "redis connection lost");
        return;
    }
    if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL) {
        eva_promise_reject(p, -EPROTO, "unexpected redis reply");
        return;
    }
    long long *value = malloc(sizeof *value);
    if (!value) {
        eva_promise_reject(p, -ENOMEM, NULL);
        return;
    }
    *value = r->type == REDIS_REPLY_NIL ? 0 : strtoll(r->str, NULL, 10);
    if (eva_promise_resolve(p, value, free) < 0)
        free(value);
}

static void on_counter_reply(redisAsyncContext *ac, void *reply, void *privdata) {
    (void)ac;
    settle_counter(privdata, reply);
    eva_promise_unref(privdata); /* the reference the command held */
}

int daemon_get_counter_promise(daemon_state *d, eva_promise **out) {
    if (!d->redis)
        return -ENOTCONN;
    eva_promise *p;
    int rc = eva_promise_new(d->loop, &p);
    if (rc < 0)
        return rc;
    /* one reference for the caller, one for the command until its callback */
    if (redisAsyncCommand(d->redis, on_counter_reply, eva_promise_ref(p), "GET %s", d->redis_key) != REDIS_OK) {
        eva_promise_unref(p);
        eva_promise_unref(p);
        return -ENOTCONN; /* disconnecting */
    }
    *out = p;
    return 0;
}

/* ---- evasync, attached ---------------------------------------------------------- */

static void on_sighup(eva_signal *sig, int signum) {
    (void)signum;
    daemon_state *d = sig->data;
    if (reload_spawn(d) < 0)
        printf("daemon: reload failed: out of memory\n");
}

/* An endpoint's accept loop ended (after the drain, its last connection). */
static void on_service_done(eva_task *t) {
    service *s = (service *)t;
    daemon_state *d = s->owner;
    if (--d->services_running == 0)
        stop_own_work(d);
}

void daemon_drain(daemon_state *d) {
    if (d->draining)
        return;
    d->draining = true;
    service_drain(&d->health, DRAIN_GRACE_MS);
    service_drain(&d->control, DRAIN_GRACE_MS);
    printf("daemon: draining\n"); /* once the listeners are closed: a client may rely on it */
}

static void service_setup(service *s, daemon_state *d, size_t size, size_t offset, eva_task_fn fn,
                          const char *name) {
    s->conn_size = size;
    s->conn_offset = offset;
    s->conn_fn = fn;
    s->conn_name = name;
    s->idle_timeout_ms = IDLE_TIMEOUT_MS;
    s->owner = d;
}

/* Attach, and open what can fail (nothing runs yet).  0, or a message printed
 * and a negative code. */
static int attach(daemon_state *d, const options *o) {
    int rc = eva_loop_from_ev(d->ev, &d->loop);
    if (rc == 0)
        rc = eva_mutex_init(d->loop, &d->reload_lock);
    if (rc == 0)
        rc = eva_detector_start(d->loop, NULL);
    if (rc == 0)
        rc = eva_pool_new(&(eva_pool_options){.threads = 1}, &d->pool);
    if (rc < 0) {
        fprintf(stderr, "daemon: evasync: %s\n", eva_strerror(rc));
        return rc;
    }
    rc = eva_tcp_listen_ip(d->loop, &d->health.server, "127.0.0.1", (uint16_t)o->http_port, NULL);
    if (rc < 0) {
        fprintf(stderr, "daemon: port %ld: %s\n", o->http_port, eva_strerror(rc));
        return rc;
    }
    rc = eva_unix_listen(d->loop, &d->control.server, o->control, 0, EVA_UNIX_UNLINK_STALE);
    if (rc < 0)
        fprintf(stderr, "daemon: %s: %s\n", o->control, eva_strerror(rc));
    return rc;
}

/* Start the handlers on the attached loop (nothing here fails but for memory). */
static int start_handlers(daemon_state *d) {
    service_setup(&d->health, d, health_conn_size, health_conn_offset, health_conn_run, "health");
    service_setup(&d->control, d, control_conn_size, control_conn_offset, control_conn_run, "control");
    int rc = service_start(&d->health, d->loop, on_service_done);
    d->services_running += rc == 0;
    if (rc == 0)
        rc = service_start(&d->control, d->loop, on_service_done);
    d->services_running += rc == 0;
    if (rc == 0)
        rc = eva_signal_init(d->loop, &d->sighup);
    if (rc == 0)
        rc = eva_signal_start(&d->sighup, SIGHUP, on_sighup, d);
    return rc;
}

/* In reverse order of creation; what was never created is skipped.  After
 * ev_run nothing of evasync is active any more: the destroy frees it all.
 * Returns eva_loop_destroy's code. */
static int teardown(daemon_state *d, const options *o, bool control_bound) {
    int rc = 0;
    if (d->loop) {
        eva_server_close(&d->health.server); /* no-ops after a drain */
        eva_server_close(&d->control.server);
        eva_detector_stop(d->loop);
        if (d->pool)
            eva_pool_destroy(d->pool);
        eva_mutex_destroy(&d->reload_lock);
        rc = eva_loop_destroy(d->loop); /* leaves d->ev to us */
    }
    if (control_bound)
        unlink(o->control); /* a server leaves its socket file */
    ev_loop_destroy(d->ev);
    return rc;
}

/* ---- main ----------------------------------------------------------------------- */

static int usage(void) {
    fprintf(stderr, "usage: daemon --config FILE [--redis PATH | --redis HOST:PORT] [--redis-key KEY]\n"
                    "              [--control PATH] [--http-port PORT] [--tick-ms MS]\n");
    return 2;
}

static bool parse_number(const char *text, long min, long max, long *out) {
    char *end;
    long n = strtol(text, &end, 10);
    *out = n;
    return *text && !*end && n >= min && n <= max;
}

static int parse_options(int argc, char **argv, options *o, daemon_state *d) {
    static const struct option longs[] = {
        {"config", required_argument, NULL, 'c'}, {"redis", required_argument, NULL, 'r'},
        {"redis-key", required_argument, NULL, 'k'}, {"control", required_argument, NULL, 's'},
        {"http-port", required_argument, NULL, 'p'}, {"tick-ms", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0}};
    *o = (options){.redis = "127.0.0.1:6379", .control = "/tmp/evasync-daemon.sock",
                   .http_port = 8081, .tick_ms = 1000};
    d->redis_key = "evasync:daemon:ticks";
    for (int opt; (opt = getopt_long(argc, argv, "", longs, NULL)) != -1;) {
        bool ok = true;
        switch (opt) {
        case 'c': o->config = optarg; break;
        case 'r': o->redis = optarg; break;
        case 'k': d->redis_key = optarg; break;
        case 's': o->control = optarg; break;
        case 'p': ok = parse_number(optarg, 0, 65535, &o->http_port); break;
        case 't': ok = parse_number(optarg, 1, 3600000, &o->tick_ms); break;
        default: ok = false;
        }
        if (!ok)
            return -1;
    }
    return o->config && optind == argc ? 0 : -1;
}

int main(int argc, char **argv) {
    options o;
    daemon_state d = {.redis_counter = -1};
    if (parse_options(argc, argv, &o, &d) < 0)
        return usage();
    char err[160];
    if (config_load(o.config, &d.cfg, err, sizeof err) < 0) {
        fprintf(stderr, "daemon: %s\n", err);
        return 1;
    }
    d.config_path = o.config;
    setvbuf(stdout, NULL, _IOLBF, 0); /* one log line, one write */
    signal(SIGPIPE, SIG_IGN);         /* hiredis writes with write(): a dead peer is EPIPE */

    d.ev = ev_default_loop(0); /* the daemon's loop, as before evasync */
    if (!d.ev) {
        fprintf(stderr, "daemon: libev: no loop\n");
        return 1;
    }
    int rc = attach(&d, &o);
    bool control_bound = rc == 0;
    if (rc == 0)
        rc = start_handlers(&d);
    if (rc < 0) {
        stop_own_work(&d);
        teardown(&d, &o, control_bound);
        return 1;
    }
    start_own_work(&d, &o);
    printf("daemon: ready http=127.0.0.1:%d control=%s\n", eva_tcp_server_get_port(&d.health.server), o.control);

    ev_run(d.ev, 0); /* the daemon's own call: returns once the drain has stopped everything */

    rc = teardown(&d, &o, control_bound);
    printf("daemon: stopped ticks=%llu\n", (unsigned long long)d.ticks);
    if (rc < 0)
        fprintf(stderr, "daemon: eva_loop_destroy: %s\n", eva_strerror(rc));
    return rc < 0 ? 1 : 0;
}
