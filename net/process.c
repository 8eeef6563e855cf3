/* net/process.c — a child's life after its spawn: watching for its exit on
 * any loop (a pidfd, or the SIGCHLD fallback), reaping it at once, the waits
 * in the three styles, signals, the cancel (SIGTERM, SIGKILL after a grace)
 * and the kill-and-reap at loop destroy.  Nothing here leaves a zombie: a
 * live child is always watched, and every path that stops watching reaps. */
#define _GNU_SOURCE /* SYS_pidfd_open */
#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "process_internal.h"

bool eva__process_pidfd_off;

/* Per-loop state: the live children (killed and reaped at destroy), and the
 * SIGCHLD watcher of the fallback, running while it has children. */
typedef struct process_loop {
    eva__layer layer;
    eva_loop *loop;
    eva_queue live;                /* eva_process */
    eva_signal sigchld;
    unsigned fallback_children;
} process_loop;
EVA__LAYER_FIRST(process_loop, layer);

static eva__layer_key process_key;

static process_loop *process_loop_of(eva_loop *loop) { return eva__layer_get(loop, &process_key); }

/* ---- the end of a child ---------------------------------------------------------------- */

/* The exit as a wait reports it: 0, or -ECHILD when someone else reaped the
 * child and took its status (exit_status -1, term_signal 0). */
static int exit_report(const eva_process *proc) {
    return proc->exit_status == -1 && proc->term_signal == 0 ? -ECHILD : 0;
}

static void wait_fill(eva_process_wait_req *req, const eva_process *proc) {
    req->exit_status = proc->exit_status;
    req->term_signal = proc->term_signal;
}

static void record_exit(eva_process *proc, pid_t reaped, int wstatus) {
    proc->exit_status = -1;
    proc->term_signal = 0;
    if (reaped < 0) {
        eva__log(proc->loop, EVA_LOG_WARN,
                 "eva_process: child %d was reaped by someone else (waitpid(-1) or SIGCHLD ignored): "
                 "its exit status is lost",
                 (int)proc->pid);
    } else if (WIFEXITED(wstatus)) {
        proc->exit_status = WEXITSTATUS(wstatus);
    } else if (WIFSIGNALED(wstatus)) {
        proc->term_signal = WTERMSIG(wstatus);
    }
}

static void stop_watching(eva_process *proc) {
    struct ev_loop *ev = eva_loop_get_ev(proc->loop);
    ev_timer_stop(ev, &proc->grace);
    if (proc->pidfd >= 0) {
        ev_io_stop(ev, &proc->exit_io);
        close(proc->pidfd);
        proc->pidfd = -1;
    } else {
        process_loop *pl = process_loop_of(proc->loop);
        if (--pl->fallback_children == 0) {
            eva__handle_started(proc->loop); /* as it was uncounted at its start */
            eva_signal_stop(&pl->sigchld);
        }
    }
    if (eva__queue_linked(&proc->node))
        eva__queue_remove(&proc->node);
    proc->live = false;
    proc->terminating = false;
}

/* The child is reaped: proc is not live any more (it may be spawned again
 * or freed from a completion), and every wait completes, from the loop:
 * with status, or -ECANCELED for a cancelled one. */
static void process_ended(eva_process *proc, int status) {
    stop_watching(proc);
    int report = status < 0 ? status : exit_report(proc);
    eva_queue *n;
    while ((n = eva__queue_pop(&proc->waiters))) {
        eva_process_wait_req *req = EVA__QUEUE_DATA(n, eva_process_wait_req, node);
        wait_fill(req, proc);
        eva__req_done_later(proc->loop, &req->req, req->cancelled ? -ECANCELED : report);
    }
}

/* Reap the child if it has exited (flags WNOHANG) or once it does (0).
 * True when it is reaped. */
static bool try_reap(eva_process *proc, int flags, int status) {
    int wstatus = 0;
    pid_t r;
    do
        r = waitpid(proc->pid, &wstatus, flags);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return false; /* still running */
    record_exit(proc, r, wstatus);
    process_ended(proc, status);
    return true;
}

static void kill_and_reap(eva_process *proc, int status) {
    kill(proc->pid, SIGKILL);
    try_reap(proc, 0, status); /* SIGKILL: the wait is short */
}

/* ---- watching for the exit -------------------------------------------------------------- */

static void on_exit_io(struct ev_loop *ev, ev_io *w, int revents) {
    (void)ev;
    (void)revents;
    try_reap(EVA__CONTAINER_OF(w, eva_process, exit_io), WNOHANG, 0);
}

static void on_grace_over(struct ev_loop *ev, ev_timer *w, int revents) {
    (void)ev;
    (void)revents;
    eva_process *proc = EVA__CONTAINER_OF(w, eva_process, grace);
    kill(proc->pid, SIGKILL);
}

/* SIGCHLD says some child exited, not which: each fallback child is asked. */
static void on_sigchld(eva_signal *sig, int signum) {
    (void)signum;
    process_loop *pl = sig->data;
    eva_queue all;
    eva__queue_init(&all);
    eva__queue_move(&pl->live, &all);
    eva_queue *n;
    while ((n = eva__queue_pop(&all))) {
        eva_process *proc = EVA__QUEUE_DATA(n, eva_process, node);
        eva__queue_insert_tail(&pl->live, n); /* reaping unlinks it again */
        if (proc->pidfd < 0)
            try_reap(proc, WNOHANG, 0);
    }
}

/* The SIGCHLD watcher is the process layer's, not a handle of the
 * program's: uncounted, so that eva_loop_destroy does not refuse to run
 * (it kills and reaps the children itself). */
static int fallback_watch(process_loop *pl) {
    if (pl->fallback_children++ > 0)
        return 0;
    int rc = eva_signal_start(&pl->sigchld, SIGCHLD, on_sigchld, pl);
    if (rc < 0) {
        pl->fallback_children = 0;
        return rc;
    }
    eva__handle_stopped(pl->loop);
    return 0;
}

static int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
    if (!eva__process_pidfd_off) {
        int fd = (int)syscall(SYS_pidfd_open, pid, 0); /* close-on-exec always */
        return fd >= 0 ? fd : -errno;
    }
#else
    (void)pid;
#endif
    return -ENOSYS;
}

int eva__process_watch(eva_loop *loop, eva_process *proc, pid_t pid, int64_t kill_grace_ms) {
    process_loop *pl = process_loop_of(loop);
    void *data = proc->data;
    *proc = (eva_process){.data = data, .pid = pid, .exit_status = -1, .loop = loop,
                          .kill_grace_ms = kill_grace_ms ? kill_grace_ms : EVA_PROCESS_KILL_GRACE_DEFAULT_MS};
    eva__queue_init(&proc->waiters);
    ev_init(&proc->grace, on_grace_over);
    int fd = open_pidfd(pid);
    int rc = fd == -ENOSYS ? fallback_watch(pl) : fd;
    if (rc < 0) {
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return rc;
    }
    proc->pidfd = fd;
    proc->live = true;
    eva__queue_insert_tail(&pl->live, &proc->node);
    if (fd >= 0) {
        ev_io_init(&proc->exit_io, on_exit_io, fd, EV_READ);
        ev_io_start(eva_loop_get_ev(loop), &proc->exit_io);
    } else {
        try_reap(proc, WNOHANG, 0); /* it may have exited before the watcher knew it */
    }
    return 0;
}

/* ---- the loop's processes ------------------------------------------------------------------ */

static bool process_cancel(eva__layer *layer) {
    process_loop *pl = EVA__CONTAINER_OF(layer, process_loop, layer);
    bool killed = false;
    eva_queue *n;
    while ((n = eva__queue_first(&pl->live))) { /* reaping unlinks it */
        kill_and_reap(EVA__QUEUE_DATA(n, eva_process, node), -ECANCELED);
        killed = true;
    }
    return killed;
}

static void process_close(eva__layer *layer) { eva__free(EVA__CONTAINER_OF(layer, process_loop, layer)); }

int eva__process_prepare(eva_loop *loop) {
    if (process_loop_of(loop))
        return eva__net_loop_get(loop) ? 0 : -ENOMEM;
    process_loop *pl = eva__calloc(1, sizeof *pl);
    if (!pl)
        return -ENOMEM;
    pl->loop = loop;
    eva__queue_init(&pl->live);
    eva_signal_init(loop, &pl->sigchld);
    pl->layer.cancel = process_cancel;
    pl->layer.close = process_close;
    if (eva__layer_attach(loop, &process_key, &pl->layer) < 0) {
        eva__free(pl);
        return -ENOMEM;
    }
    return eva__net_loop_get(loop) ? 0 : -ENOMEM; /* the pipes' streams need it */
}

/* ---- signals -------------------------------------------------------------------------------- */

bool eva_process_is_running(const eva_process *proc) { return proc && proc->live; }

int eva_process_kill(eva_process *proc, int sig) {
    if (!proc || sig < 0)
        return -EINVAL;
    if (!proc->live)
        return -ESRCH;
    /* safe by pid: an unreaped child keeps its pid, even as a zombie */
    return kill(proc->pid, sig) < 0 ? -errno : 0;
}

/* The cancel: SIGTERM now, SIGKILL when the grace is over; the reap ends it. */
static void terminate(eva_process *proc) {
    if (proc->terminating)
        return;
    proc->terminating = true;
    kill(proc->pid, SIGTERM);
    ev_timer_set(&proc->grace, (double)proc->kill_grace_ms / 1e3, 0.);
    ev_timer_start(eva_loop_get_ev(proc->loop), &proc->grace);
}

/* ---- waits ---------------------------------------------------------------------------------- */

static void wait_notify(eva__req *r, int status) {
    eva_process_wait_req *req = EVA__CONTAINER_OF(r, eva_process_wait_req, req);
    ((eva_process_wait_fn)r->to.cb)(req, status);
}

/* The wait completes through its own completion, at the reap: the task (and
 * the frame that may hold the process) outlives the child. */
static void wait_await_cancel(eva_task *t) {
    eva_process_wait_req *req = eva_task_get_wait_obj(t);
    if (eva__req_queued(&req->req))
        return; /* reaped already: the task gets the exit */
    req->cancelled = true;
    terminate(req->process);
}

static const eva__req_kind wait_kind = {{"process", wait_await_cancel}, wait_notify, NULL};

static int wait_check(const eva_process_wait_req *req, const eva_process *proc) {
    if (!req || !proc || !proc->loop)
        return -EINVAL;
    return req->req.busy ? -EBUSY : 0;
}

static void wait_begin(eva_process_wait_req *req, eva_process *proc, void (*cb)(void)) {
    eva__req_take(&req->req, &wait_kind, cb);
    req->process = proc;
    req->cancelled = false;
    eva__queue_insert_tail(&proc->waiters, &req->node);
}

int eva_process_wait(eva_process_wait_req *req, eva_process *proc, eva_process_wait_fn cb) {
    int rc = cb ? wait_check(req, proc) : -EINVAL;
    if (rc < 0)
        return rc;
    if (proc->live) {
        wait_begin(req, proc, (void (*)(void))cb);
        return 0;
    }
    eva__req_take(&req->req, &wait_kind, (void (*)(void))cb);
    req->process = proc;
    wait_fill(req, proc);
    eva__req_done_later(proc->loop, &req->req, exit_report(proc));
    return 0;
}

static int wait_await_start(eva_task *t, const eva_op *op) {
    eva_process_wait_req *req = op->ptr;
    eva_process *proc = req->process;
    int rc = wait_check(req, proc);
    if (rc < 0)
        return rc;
    if (!proc->live) {
        wait_fill(req, proc);
        return exit_report(proc);
    }
    wait_begin(req, proc, NULL);
    return eva__req_park(&req->req, t, req);
}

eva_op eva_process_wait_op(eva_process_wait_req *req, eva_process *proc) {
    if (!req || req->req.busy)
        return eva__req_refused_op(req ? -EBUSY : -EINVAL);
    req->process = proc;
    return (eva_op){.start = wait_await_start, .ptr = req};
}

int eva_process_wait_promise(eva_process *proc, eva_promise **out) {
    if (!proc || !proc->loop || !out)
        return -EINVAL;
    eva_process_wait_req *req = eva__calloc(1, sizeof *req);
    if (!req)
        return -ENOMEM;
    return eva__req_promise(proc->loop, req, eva_process_wait_op(req, proc), out);
}
