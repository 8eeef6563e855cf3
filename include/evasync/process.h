/* evasync/process.h — child processes: spawn, wait for the exit in the three
 * styles, signal, cancel; stdin/stdout/stderr as evasync streams.
 *
 * An eva_process is a caller-owned struct (zero it before its first spawn;
 * embed it in a frame or a session object).  It is live from a successful
 * eva_process_spawn until the child has exited AND been reaped, which
 * evasync does by itself as soon as the child exits, whether or not anyone
 * waits: there are no zombies.  While live the struct must stay valid and
 * keeps eva_loop_run running; once the exit is reaped it may be freed, or
 * spawned again (a supervisor restarting a child reuses one struct).
 *
 * The exit is observed on any loop (libev's ev_child serves the default
 * loop only): through a pidfd (pidfd_open(2), Linux 5.3) watched by an io
 * watcher, and, where the kernel has no pidfd_open (ENOSYS), through one
 * SIGCHLD watcher per loop and waitpid(pid, WNOHANG) per child.  Either way
 * evasync reaps its children by pid: a program that reaps every child
 * itself (waitpid(-1), SIGCHLD set to SIG_IGN) takes their exit statuses
 * away; the fallback also needs SIGCHLD for itself (eva_signal: -EBUSY if
 * another loop watches it).
 *
 * eva_loop_destroy() with children still live kills them (SIGKILL) and
 * reaps them before it returns; their pending waits complete with
 * -ECANCELED.  No child outlives its loop as a zombie, and none is detached.
 */
#ifndef EVASYNC_PROCESS_H
#define EVASYNC_PROCESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <ev.h>

#include "export.h"
#include "queue.h"
#include "stream.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eva_loop eva_loop;
typedef struct eva_process eva_process;
typedef struct eva_process_wait_req eva_process_wait_req;

/* What one of the child's descriptors 0, 1, 2 is. */
typedef enum eva_stdio_kind {
    EVA_STDIO_INHERIT = 0, /* the parent's own descriptor of that number (the default) */
    EVA_STDIO_NULL,        /* /dev/null */
    EVA_STDIO_PIPE,        /* a pipe whose parent end is opened as .stream */
    EVA_STDIO_FD           /* .fd, duplicated: the parent keeps .fd (close it when you like) */
} eva_stdio_kind;

/* One of the child's descriptors 0, 1, 2: its kind, and the descriptor or
 * stream that kind needs. */
typedef struct eva_stdio {
    eva_stdio_kind kind;
    int fd;             /* EVA_STDIO_FD: the descriptor the child gets as this slot */
    /* EVA_STDIO_PIPE: a zeroed (or closed) eva_stream of the caller's; a
     * successful spawn opens it on the parent's end (stdin: write-only;
     * stdout, stderr: read-only).  It is the caller's from then on: close it
     * with eva_stream_close (the child's stdin sees EOF then; a child writing
     * to a closed stdout or stderr gets SIGPIPE), or eva_loop_destroy does.
     * It lives independently of the process: output the child wrote before
     * exiting stays readable, then EOF.  On a failed spawn it is left closed. */
    eva_stream *stream;
} eva_stdio;

/* The child's environment. */
typedef enum eva_env_mode {
    EVA_ENV_INHERIT = 0, /* the parent's environ, as it is at the spawn (env is ignored) */
    EVA_ENV_REPLACE,     /* exactly env ("NAME=value" strings; NULL: empty) */
    EVA_ENV_ADD          /* the parent's, changed by env: "NAME=value" sets NAME (replacing
                            the parent's), a bare "NAME" removes it */
} eva_env_mode;

/* The default grace between SIGTERM and SIGKILL when a wait is cancelled. */
enum { EVA_PROCESS_KILL_GRACE_DEFAULT_MS = 5000 };

/* What to run; read during eva_process_spawn only (nothing of it is kept). */
typedef struct eva_process_options {
    /* The program: with a '/', that path; without, looked up in the parent's
     * PATH (as execvp does).  NULL: argv[0]. */
    const char *file;
    char *const *argv;             /* NULL-terminated; argv[0] required */
    eva_env_mode env_mode;
    const char *const *env;        /* NULL-terminated; see eva_env_mode */
    const char *cwd;               /* the child's working directory; NULL: the parent's */
    eva_stdio stdio[3];            /* stdin, stdout, stderr */
    /* Cancelling a wait sends SIGTERM, then SIGKILL after this many ms if
     * the child is still running.  0: EVA_PROCESS_KILL_GRACE_DEFAULT_MS. */
    int64_t kill_grace_ms;
} eva_process_options;

/* eva_process: caller-owned; see the top of this header for its life. */
/* eva_process: 176 bytes on x86_64 (ABI: tests/test_struct_sizes.c). */
struct eva_process {
    /* public: */
    void *data;                    /* the caller's */
    pid_t pid;                     /* read-only: the child's (kept after the exit) */
    int exit_status;               /* read-only, once exited: its exit code 0..255, or -1
                                      when a signal ended it */
    int term_signal;               /* read-only, once exited: the signal that ended it, or 0 */
    /* private: */
    eva_queue node;                /* the loop's live processes */
    eva_loop *loop;
    int pidfd;                     /* -1: the SIGCHLD fallback watches it */
    bool live;                     /* spawned, not reaped yet */
    bool terminating;              /* a cancel sent SIGTERM; SIGKILL follows after the grace */
    ev_io exit_io;                 /* the pidfd becomes readable at the exit */
    ev_timer grace;                /* SIGTERM .. SIGKILL */
    int64_t kill_grace_ms;
    eva_queue waiters;             /* eva_process_wait_req, in the order they started */
};

/* A wait's completion: status 0 (the exit is in req) or a negative code; the
 * request may be reused or freed from inside the callback. */
typedef void (*eva_process_wait_fn)(eva_process_wait_req *req, int status);

/* A wait for the child's exit: a request (zero it before its first use),
 * as every evasync request (evasync/stream.h, "requests"). */
/* eva_process_wait_req: 104 bytes on x86_64 (ABI: tests/test_struct_sizes.c). */
struct eva_process_wait_req {
    /* public: */
    void *data;                    /* the caller's */
    eva_process *process;          /* read-only: the process */
    int exit_status;               /* result: as eva_process's */
    int term_signal;               /* result: as eva_process's */
    /* private: */
    eva__req req;
    eva_queue node;                /* the process's waiters */
    bool cancelled;                /* its task was cancelled: report -ECANCELED at the reap */
};

/* Start the child described by options (see eva_process_options).  The
 * program is started before this returns; the failures of starting it are
 * this call's errors, never a child exiting 127: -ENOENT (no such program,
 * or cwd does not exist), -EACCES (not executable, or cwd not searchable),
 * -E2BIG (argv and environment too long), -ENOEXEC, -ENOTDIR, -ELOOP, ...
 * as execve(2) and chdir(2) give them, and -EINVAL (NULL loop, proc, options
 * or argv; argv[0] NULL; a bad stdio kind; a PIPE slot without a stream or
 * with an open one; an FD slot with fd < 0; kill_grace_ms < 0), -EBUSY (proc
 * is live), -EMFILE, -ENOMEM.  On failure nothing is left open and proc is
 * not live.
 * The child gets the descriptors of stdio[] as 0, 1, 2 and no other
 * descriptor of evasync's (all are close-on-exec; the program's own
 * descriptors are its business: make them O_CLOEXEC too), an empty signal
 * mask and every signal at its default disposition (a parent that ignores
 * SIGPIPE does not pass that on). */
EVA_API int eva_process_spawn(eva_loop *loop, eva_process *proc, const eva_process_options *options);

/* Send sig to the child.  Returns 0, -EINVAL (NULL, sig < 0), -ESRCH (not
 * live: never spawned, or exited and reaped already), or kill(2)'s error.
 * sig 0 checks the child is there. */
EVA_API int eva_process_kill(eva_process *proc, int sig);

/* Spawned and not reaped yet.  False for NULL. */
EVA_API bool eva_process_is_running(const eva_process *proc);

/* Wait for the child's exit: status 0 with req->exit_status and
 * req->term_signal, or -ECANCELED (the awaiting task or the promise was
 * cancelled, or the loop destroyed: the child was killed and reaped, and
 * its exit is in req all the same).  Any number of waits may be pending on
 * one process; a wait on a process that exited already completes with its
 * exit (the AWAIT form at once).
 * Cancelling the awaiting task (or the promise) cancels the child: SIGTERM
 * at once, SIGKILL after the spawn's kill_grace_ms if it still runs; the
 * wait completes, with -ECANCELED, only once the child is reaped, so the
 * task's frame outlives it.
 * Start errors: -EINVAL (NULL, a process never spawned), -EBUSY (req in
 * flight). */
EVA_API int eva_process_wait(eva_process_wait_req *req, eva_process *proc, eva_process_wait_fn cb);
EVA_API eva_op eva_process_wait_op(eva_process_wait_req *req, eva_process *proc);
/* The promise's value is the eva_process_wait_req (read the exit there). */
EVA_API int eva_process_wait_promise(eva_process *proc, eva_promise **out);

#ifdef __cplusplus
}
#endif
#endif
