/* examples/daemon/control.c — the control socket: one command per line, one
 * reply line each, an AWAIT task per connection (an operator's session lasts
 * as long as they like, up to the idle timeout).
 *
 *   status  ok name=N ticks=T redis_counter=C reloads=R http_connections=H http_in_flight=I
 *   reload  ok reloaded name=N   |  error <why>   (the file is read on the pool)
 *   quit    ok draining          (then the daemon drains and exits, as on SIGTERM)
 *   other   error unknown command: <it>
 * A line over CONN_IN_MAX bytes: "error line too long", and the connection closes. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "daemon.h"

typedef struct control_conn {
    eva_task task; /* first: the frame is the task */
    conn c;
    conn_reader reader;
    reload reload;
    char out[256];
    int rc;
} control_conn;

const size_t control_conn_size = sizeof(control_conn), control_conn_offset = offsetof(control_conn, c);

static daemon_state *daemon_of(const control_conn *f) { return f->c.svc->owner; }

static void reply_status(control_conn *f) {
    const daemon_state *d = daemon_of(f);
    unsigned open, in_flight;
    service_count(&d->health, &open, &in_flight);
    snprintf(f->out, sizeof f->out,
             "ok name=%s ticks=%llu redis_counter=%lld reloads=%llu http_connections=%u http_in_flight=%u\n",
             d->cfg.name, (unsigned long long)d->ticks, d->redis_counter, (unsigned long long)d->reloads,
             open, in_flight);
}

/* The command line without its line end. */
static const char *command(control_conn *f) {
    f->c.in[strcspn(f->c.in, "\r\n")] = '\0';
    return f->c.in;
}

eva_step control_conn_run(void *frame) {
    control_conn *f = frame;
    ASYNC_BEGIN(f);
    while (!f->c.svc->draining) {
        f->reader = (conn_reader){.c = &f->c, .delim = "\n", .too_long = "error line too long\n"};
        AWAIT(f, EVA_ASYNC(conn_read_request_run, &f->reader));
        if (f->c.req_len == 0)
            break; /* the client closed */
        if (strcmp(command(f), "status") == 0) {
            reply_status(f);
        } else if (strcmp(command(f), "reload") == 0) {
            f->reload = (reload){.d = daemon_of(f)};
            AWAIT_RC(f, f->rc, EVA_ASYNC(reload_run, &f->reload));
            snprintf(f->out, sizeof f->out, "%s %s\n", f->rc == 0 ? "ok reloaded" : "error", f->reload.message);
        } else if (strcmp(command(f), "quit") == 0) {
            snprintf(f->out, sizeof f->out, "ok draining\n");
            daemon_drain(daemon_of(f)); /* this request is under way: its answer still goes out */
        } else {
            snprintf(f->out, sizeof f->out, "error unknown command: %.64s\n", command(f));
        }
        AWAIT(f, eva_stream_write_op(&f->c.write, &f->c.stream, f->out, strlen(f->out)));
        if (!conn_request_done(&f->c))
            break;
    }
    ASYNC_FINALLY(f);
    conn_close(&f->c);
    ASYNC_END(f);
}
