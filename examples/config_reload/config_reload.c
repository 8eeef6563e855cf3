/* config_reload — a daemon that re-reads its configuration without ever
 * blocking its loop (docs/fs.md).
 *
 *     config_reload FILE
 *
 * A timer stands for the work being served (it ticks every 10 ms).  FILE
 * holds one line, "value=...".  It is re-read with eva_fs_read_file (on the
 * IO pool, off the loop) when the file changes (eva_fs_watch: an editor's
 * save-by-rename included) or on SIGHUP.  Each reload prints one line:
 *
 *     config_reload: ready value=V
 *     config_reload: reload reason=change|sighup value=V ticks=N
 *     config_reload: reload reason=... error=MESSAGE (keeping value=V)
 *
 * A bad or missing file keeps the old value.  SIGTERM or SIGINT stop it
 * cleanly (exit status 0).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "evasync.h"

enum { MAX_CONFIG = 64 * 1024, VALUE_MAX = 256 };

typedef struct daemon_state {
    eva_loop *loop;
    const char *path;
    eva_timer serving;
    eva_signal hup, term, intr;
    eva_fs_watcher watch;
    eva_fs_req read;
    const char *reason;       /* of the read in flight */
    const char *again;        /* a reload asked for while one was in flight */
    bool ready;
    unsigned long ticks;
    char value[VALUE_MAX];
} daemon_state;

static int parse(const char *text, char *value) {
    const char *v = strstr(text, "value=");
    if (!v)
        return -EINVAL;
    v += strlen("value=");
    size_t n = strcspn(v, "\r\n");
    if (n >= VALUE_MAX)
        return -E2BIG;
    memcpy(value, v, n);
    value[n] = 0;
    return 0;
}

static void start_reload(daemon_state *d, const char *reason);

static void on_read(eva_fs_req *req, int status) {
    daemon_state *d = req->data;
    char value[VALUE_MAX];
    if (status == 0)
        status = parse(req->buf, value);
    eva_fs_req_cleanup(req);
    if (status == 0)
        memcpy(d->value, value, sizeof value);
    if (!d->ready)
        printf("config_reload: ready value=%s\n", d->value);
    else if (status == 0)
        printf("config_reload: reload reason=%s value=%s ticks=%lu\n", d->reason, d->value, d->ticks);
    else
        printf("config_reload: reload reason=%s error=%s (keeping value=%s)\n", d->reason,
               eva_strerror(status), d->value);
    fflush(stdout);
    d->ready = true;
    if (d->again) {
        const char *reason = d->again;
        d->again = NULL;
        start_reload(d, reason);
    }
}

static void start_reload(daemon_state *d, const char *reason) {
    if (eva_fs_is_pending(&d->read)) { /* one read at a time; the next sees every change */
        d->again = reason;
        return;
    }
    d->reason = reason;
    int rc = eva_fs_read_file(d->loop, &d->read, d->path, MAX_CONFIG, on_read);
    if (rc < 0)
        fprintf(stderr, "config_reload: cannot start a read: %s\n", eva_strerror(rc));
}

static void on_change(eva_fs_watcher *w, int events) {
    (void)events;
    start_reload(w->data, "change");
}

static void on_hup(eva_signal *sig, int signum) {
    (void)signum;
    start_reload(sig->data, "sighup");
}

static void on_stop(eva_signal *sig, int signum) {
    (void)signum;
    daemon_state *d = sig->data;
    eva_timer_stop(&d->serving);
    eva_signal_stop(&d->hup);
    eva_signal_stop(&d->term);
    eva_signal_stop(&d->intr);
    eva_fs_watch_stop(&d->watch);
    eva_fs_cancel(&d->read); /* the loop runs until its completion */
}

static void on_tick(eva_timer *t) { ((daemon_state *)t->data)->ticks++; }

static int start(daemon_state *d) {
    int rc;
    d->read.data = d;
    d->watch.data = d;
    if ((rc = eva_timer_init(d->loop, &d->serving)) < 0 ||
        (rc = eva_timer_start(&d->serving, 10, 10, on_tick, d)) < 0)
        return rc;
    if ((rc = eva_signal_init(d->loop, &d->hup)) < 0 ||
        (rc = eva_signal_start(&d->hup, SIGHUP, on_hup, d)) < 0 ||
        (rc = eva_signal_init(d->loop, &d->term)) < 0 ||
        (rc = eva_signal_start(&d->term, SIGTERM, on_stop, d)) < 0 ||
        (rc = eva_signal_init(d->loop, &d->intr)) < 0 ||
        (rc = eva_signal_start(&d->intr, SIGINT, on_stop, d)) < 0)
        return rc;
    if ((rc = eva_fs_watch(d->loop, &d->watch, d->path, on_change)) < 0)
        return rc;
    start_reload(d, "start");
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: config_reload FILE\n");
        return 2;
    }
    static daemon_state d = {.value = "(none)"};
    d.path = argv[1];
    int rc = eva_loop_new(&d.loop);
    if (rc == 0 && (rc = start(&d)) < 0)
        on_stop(&d.term, SIGTERM);
    if (rc < 0)
        fprintf(stderr, "config_reload: %s\n", eva_strerror(rc));
    if (d.loop) {
        eva_loop_run(d.loop, EVA_RUN_DEFAULT);
        eva_loop_destroy(d.loop);
    }
    return rc < 0 ? 1 : 0;
}
