/* async/fs_watch.c — watching a path (evasync/fs.h).  One inotify
 * descriptor per loop, read by one ev_io; each watch watches its path's
 * DIRECTORY and keeps the events that name its file, so a file replaced by a
 * rename, or deleted and created again, stays watched.  Where inotify cannot
 * be had, each watch is a libev ev_stat instead (polling stat). */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "fs_internal.h"

/* The directory events that concern one of its names. */
enum {
    DIR_MASK = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE |
               IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR,
    STAT_INTERVAL_MS = 100
};

static int events_of(uint32_t mask) {
    int ev = 0;
    if (mask & (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE))
        ev |= EVA_FS_CHANGE;
    if (mask & (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF |
                IN_MOVE_SELF | IN_IGNORED | IN_Q_OVERFLOW))
        ev |= EVA_FS_RENAME;
    return ev;
}

static eva_fs_watcher *watch_of(eva_queue *n) { return EVA__QUEUE_DATA(n, eva_fs_watcher, node); }

/* Whether the event concerns w: its file by name, or its directory itself
 * (gone, or the kernel dropped events: then every watch may have missed one). */
static bool concerns(const eva_fs_watcher *w, const struct inotify_event *e) {
    if (e->wd == -1) /* IN_Q_OVERFLOW */
        return true;
    if (e->wd != w->wd)
        return false;
    return e->len == 0 ? (e->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) != 0
                       : strcmp(e->name, w->name) == 0;
}

/* Tell w's callback and its waiting task of what is pending; keep it for a
 * later wait if nobody was there. */
static void report(eva_fs_watcher *w) {
    int events = w->pending;
    eva_task *waiter = w->waiter;
    if (!w->cb && !waiter)
        return;
    w->pending = 0;
    w->events = events;
    w->waiter = NULL;
    if (w->cb)
        EVA__CALL_USER(w->loop, w->cb, w->cb(w, events));
    if (waiter) /* the callback may have stopped the watch: the task was detached first */
        eva_task_wake(waiter, 0, NULL);
}

/* Report every watch with news; a callback may stop any watch (or start
 * one), so after each report the list is walked again from its start. */
static void report_all(eva__fs_loop *fl) {
    bool again = true;
    while (again) {
        again = false;
        EVA__QUEUE_FOREACH(n, &fl->watches) {
            eva_fs_watcher *w = watch_of(n);
            if (w->pending && (w->cb || w->waiter)) {
                report(w);
                again = true;
                break;
            }
        }
    }
}

static void note_event(eva__fs_loop *fl, const struct inotify_event *e) {
    EVA__QUEUE_FOREACH(n, &fl->watches) {
        eva_fs_watcher *w = watch_of(n);
        if (concerns(w, e))
            w->pending |= events_of(e->mask);
    }
}

static void on_inotify(struct ev_loop *ev, ev_io *io, int revents) {
    (void)ev;
    (void)revents;
    eva__fs_loop *fl = EVA__CONTAINER_OF(io, eva__fs_loop, inotify_io);
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n;
    while ((n = read(fl->inotify_fd, buf, sizeof buf)) > 0) {
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *e = (const struct inotify_event *)p;
            note_event(fl, e);
            p += sizeof *e + e->len;
        }
    }
    report_all(fl);
}

/* The loop's inotify descriptor, made on the first watch; false where there
 * is none (the ev_stat fallback). */
static bool inotify_ready(eva__fs_loop *fl) {
    if (fl->inotify_fd == -2) {
        fl->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (fl->inotify_fd >= 0) {
            ev_io_init(&fl->inotify_io, on_inotify, fl->inotify_fd, EV_READ);
            ev_io_start(eva_loop_get_ev(fl->loop), &fl->inotify_io);
            ev_unref(eva_loop_get_ev(fl->loop)); /* the watches keep the loop alive, not this */
        }
    }
    return fl->inotify_fd >= 0;
}

void eva__fs_watch_close(eva__fs_loop *fl) {
    if (fl->inotify_fd < 0)
        return;
    ev_ref(eva_loop_get_ev(fl->loop));
    ev_io_stop(eva_loop_get_ev(fl->loop), &fl->inotify_io);
    close(fl->inotify_fd);
    fl->inotify_fd = -2;
}

static void on_stat(struct ev_loop *ev, ev_stat *st, int revents) {
    (void)ev;
    (void)revents;
    eva_fs_watcher *w = EVA__CONTAINER_OF(st, eva_fs_watcher, stat);
    bool renamed = st->attr.st_nlink == 0 || st->prev.st_nlink == 0 || st->attr.st_ino != st->prev.st_ino;
    w->pending |= renamed ? EVA_FS_RENAME : EVA_FS_CHANGE;
    report(w);
}

static const char *dir_of(const eva_fs_watcher *w) { return w->path + strlen(w->path) + 1; }

/* One block: the path, then its directory (all before the last '/'). */
static int copy_path(eva_fs_watcher *w, const char *path) {
    size_t len = strlen(path);
    const char *slash = strrchr(path, '/');
    char *block = eva__calloc(1, 2 * len + 3);
    if (!block)
        return -ENOMEM;
    memcpy(block, path, len);
    char *dir = block + len + 1;
    if (!slash)
        dir[0] = '.';
    else if (slash == path)
        dir[0] = '/';
    else
        memcpy(dir, path, (size_t)(slash - path));
    w->path = block;
    w->name = block + (slash ? (size_t)(slash + 1 - path) : 0);
    return 0;
}

static int watch_begin(eva__fs_loop *fl, eva_fs_watcher *w) {
    if (inotify_ready(fl)) {
        w->wd = inotify_add_watch(fl->inotify_fd, dir_of(w), DIR_MASK);
        if (w->wd < 0)
            return -errno;
        ev_ref(eva_loop_get_ev(fl->loop)); /* an active watch keeps the loop running */
        return 0;
    }
    w->wd = -1;
    ev_stat_init(&w->stat, on_stat, w->path, STAT_INTERVAL_MS / 1e3);
    ev_stat_start(eva_loop_get_ev(fl->loop), &w->stat);
    return 0;
}

int eva_fs_watch(eva_loop *loop, eva_fs_watcher *w, const char *path, eva_fs_watch_fn cb) {
    if (!loop || !w || !path || !*path || w->active)
        return -EINVAL;
    eva__fs_loop *fl = eva__fs_loop_get(loop);
    if (!fl)
        return -ENOMEM;
    int rc = copy_path(w, path);
    if (rc == 0 && (rc = watch_begin(fl, w)) < 0) {
        eva__free(w->path);
        w->path = NULL;
    }
    if (rc < 0)
        return rc;
    w->loop = loop;
    w->cb = cb;
    w->pending = 0;
    w->events = 0;
    w->waiter = NULL;
    w->active = true;
    eva__queue_insert_tail(&fl->watches, &w->node);
    eva__handle_started(loop);
    return 0;
}

static bool wd_shared(eva__fs_loop *fl, const eva_fs_watcher *w) {
    EVA__QUEUE_FOREACH(n, &fl->watches) {
        if (watch_of(n) != w && watch_of(n)->wd == w->wd)
            return true;
    }
    return false;
}

static void watch_end(eva__fs_loop *fl, eva_fs_watcher *w) {
    if (w->wd < 0)
        ev_stat_stop(eva_loop_get_ev(fl->loop), &w->stat);
    else {
        ev_unref(eva_loop_get_ev(fl->loop));
        if (!wd_shared(fl, w)) /* the directory's watch serves every name in it */
            inotify_rm_watch(fl->inotify_fd, w->wd);
    }
}

int eva_fs_watch_stop(eva_fs_watcher *w) {
    if (!w)
        return -EINVAL;
    if (!w->active)
        return 0;
    eva__fs_loop *fl = eva__fs_loop_get(w->loop); /* attached by the start */
    watch_end(fl, w);
    eva__queue_remove(&w->node);
    eva__free(w->path);
    w->path = NULL;
    w->active = false;
    eva__handle_stopped(w->loop);
    if (w->waiter) { /* withdrawn: nothing of the watch can wake it now */
        eva_task *t = w->waiter;
        w->waiter = NULL;
        eva_task_wake_later(t, -ECANCELED);
    }
    return 0;
}

/* ---- AWAIT and promise ------------------------------------------------------ */

/* Nothing else will wake the task: withdraw and wake it later (task.h's
 * third case). */
static void change_cancel(eva_task *t) {
    eva_fs_watcher *w = eva_task_get_wait_obj(t);
    w->waiter = NULL;
    eva_task_wake_later(t, -ECANCELED);
}

static const eva_wait_ops change_wait_ops = {"fs watch", change_cancel};

static int change_start(eva_task *t, const eva_op *op) {
    eva_fs_watcher *w = op->ptr;
    if (!w || !w->active || w->loop != t->loop)
        return -EINVAL;
    if (w->waiter)
        return -EBUSY;
    if (w->pending) { /* already changed: done at once */
        w->events = w->pending;
        w->pending = 0;
        return 0;
    }
    w->waiter = t;
    eva_task_park(t, &change_wait_ops, w);
    return EVA_PARKED;
}

eva_op eva_fs_wait_change_op(eva_fs_watcher *w) { return (eva_op){.start = change_start, .ptr = w}; }

int eva_fs_wait_change_promise(eva_fs_watcher *w, eva_promise **out) {
    if (!w || !out || !w->active)
        return -EINVAL;
    return eva_promise_from_op(w->loop, eva_fs_wait_change_op(w), out);
}
