/* net/tcp_dial.c — connect by name: resolve, then try each address in turn.
 * Written as an async function; the callback form runs it as a task. */
#include <errno.h>

#include "net_internal.h"

static eva_step dial_run(void *frame) {
    eva_tcp_dial_req *d = frame;
    ASYNC_BEGIN(d);
    AWAIT(d, eva_dns_resolve_op(&d->query, d->host, AF_UNSPEC, &d->addrs));
    eva_dns_addrs_set_port(d->addrs, d->port);
    d->rc = -EHOSTUNREACH;
    for (d->i = 0; d->i < d->addrs->count; d->i++) {
        AWAIT_RC(d, d->rc, eva_tcp_connect_op(&d->connect, d->stream, &d->addrs->addr[d->i].addr.sa,
                                              d->addrs->addr[d->i].len, d->timeout_ms));
        if (d->rc == 0 || d->rc == -ECANCELED)
            break;
    }
    ASYNC_RETURN(d, d->rc);
    ASYNC_FINALLY(d);
    eva_dns_addrs_free(d->addrs);
    d->addrs = NULL;
    ASYNC_END(d);
}

static void prepare(eva_tcp_dial_req *d, eva_stream *stream, const char *host, uint16_t port, int64_t timeout_ms) {
    d->stream = stream;
    d->host = host;
    d->port = port;
    d->timeout_ms = timeout_ms;
    d->addrs = NULL;
}

/* -EBUSY also for a dial running (awaited, or started): it is left untouched. */
static int check(const eva_tcp_dial_req *d, const eva_stream *stream, const char *host, int64_t timeout_ms) {
    if (!d || !stream || !host || timeout_ms < 0)
        return -EINVAL;
    eva_task_state st = eva_task_get_state(&d->task);
    if (eva_stream_is_open(stream) || (d->task.loop && st != EVA_TASK_IDLE && st != EVA_TASK_DONE))
        return -EBUSY;
    return 0;
}

eva_op eva_tcp_dial_op(eva_tcp_dial_req *d, eva_stream *stream, const char *host, uint16_t port,
                       int64_t timeout_ms) {
    int rc = check(d, stream, host, timeout_ms);
    if (rc < 0)
        return eva__req_refused_op(rc);
    prepare(d, stream, host, port, timeout_ms);
    return EVA_ASYNC(dial_run, d);
}

static void on_dialed(eva_task *t) {
    eva_tcp_dial_req *d = (eva_tcp_dial_req *)t;
    EVA__CALL_USER(t->loop, d->cb, d->cb(d, eva_task_get_status(t)));
}

int eva_tcp_dial(eva_tcp_dial_req *d, eva_loop *loop, eva_stream *stream, const char *host,
                 uint16_t port, int64_t timeout_ms, eva_tcp_dial_fn cb) {
    int rc = check(d, stream, host, timeout_ms);
    if (rc < 0 || !loop || !cb)
        return rc < 0 ? rc : -EINVAL;
    prepare(d, stream, host, port, timeout_ms);
    d->cb = cb;
    eva_task_init(loop, &d->task, dial_run, "tcp-dial");
    return eva_task_start(&d->task, on_dialed);
}

int eva_tcp_dial_promise(eva_loop *loop, eva_stream *stream, const char *host, uint16_t port,
                         int64_t timeout_ms, eva_promise **out) {
    if (!loop || !out)
        return -EINVAL;
    eva_tcp_dial_req *d = eva__calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    return eva__req_promise(loop, d, eva_tcp_dial_op(d, stream, host, port, timeout_ms), out);
}

int eva_tcp_dial_cancel(eva_tcp_dial_req *d) { return d ? eva_task_cancel(&d->task) : -EINVAL; }
