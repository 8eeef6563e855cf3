/* net/process_spawn.c — starting a child: its stdio (pipes opened as
 * streams, /dev/null, inherited or given descriptors), environment and
 * working directory, with posix_spawn.
 *
 * Why posix_spawn: glibc (2.24 and later) and musl start the child with
 * clone(CLONE_VM|CLONE_VFORK) and hand the exec's or a file action's errno
 * back to the caller, the CLOEXEC error-pipe technique done inside the C
 * library: a missing program is the spawn's -ENOENT, never a child exiting
 * 127.  And vfork semantics copy no page tables, so a large parent (ASan's
 * shadow memory) spawns as fast as a small one.
 *
 * Every descriptor made here is close-on-exec, and none of them is 0, 1 or
 * 2 (a parent with a closed stdin would otherwise get a pipe there, and
 * one slot's dup2 would clobber another's source): the child's 0, 1, 2 are
 * dup2'ed from descriptors above them, and the child keeps nothing else. */
#define _GNU_SOURCE /* pipe2, posix_spawn_file_actions_addchdir_np */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <unistd.h>

#include "process_internal.h"

extern char **environ;

/* What one spawn opened: the child's slot descriptors (-1: inherited), each
 * ours to close once the child has them. */
typedef struct spawn_fds {
    int child[3];
} spawn_fds;

static void close_child_fds(spawn_fds *fds) {
    for (int i = 0; i < 3; i++)
        if (fds->child[i] >= 0)
            close(fds->child[i]);
}

/* fd itself when it is above stdio; else a close-on-exec copy above it
 * (fd is closed then when owned).  -errno on failure (fd closed if owned). */
static int above_stdio(int fd, bool owned) {
    if (fd > STDERR_FILENO)
        return fd;
    int copy = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    int err = errno;
    if (owned)
        close(fd);
    return copy >= 0 ? copy : -err;
}

/* A pipe for slot: the child's end into *child, the parent's opened as
 * stream (stdin: the parent writes). */
static int open_pipe(eva_loop *loop, int slot, eva_stream *stream, int *child) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    int parent_end = above_stdio(slot == STDIN_FILENO ? p[1] : p[0], true);
    int child_end = above_stdio(slot == STDIN_FILENO ? p[0] : p[1], true);
    int rc = parent_end < 0 ? parent_end : child_end < 0 ? child_end : eva_stream_open(loop, stream, parent_end);
    if (rc < 0) {
        if (parent_end >= 0)
            close(parent_end);
        if (child_end >= 0)
            close(child_end);
        return rc;
    }
    *child = child_end;
    return 0;
}

static int open_slot(eva_loop *loop, int slot, const eva_stdio *io, int *child) {
    switch (io->kind) {
    case EVA_STDIO_INHERIT:
        return 0;
    case EVA_STDIO_NULL: {
        int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        fd = fd < 0 ? -errno : above_stdio(fd, true);
        *child = fd;
        return fd < 0 ? fd : 0;
    }
    case EVA_STDIO_PIPE:
        return open_pipe(loop, slot, io->stream, child);
    case EVA_STDIO_FD: { /* the caller keeps io->fd: the child gets a copy */
        int fd = fcntl(io->fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
        *child = fd < 0 ? -1 : fd;
        return fd < 0 ? -errno : 0;
    }
    }
    return -EINVAL;
}

static void close_pipe_streams(const eva_process_options *o) {
    for (int i = 0; i < 3; i++)
        if (o->stdio[i].kind == EVA_STDIO_PIPE)
            eva_stream_close(o->stdio[i].stream, EVA_STREAM_CLOSE_DISCARD, NULL);
}

static int open_stdio(eva_loop *loop, const eva_process_options *o, spawn_fds *fds) {
    for (int i = 0; i < 3; i++) {
        int rc = open_slot(loop, i, &o->stdio[i], &fds->child[i]);
        if (rc < 0) {
            close_child_fds(fds);
            return rc;
        }
    }
    return 0;
}

/* ---- the environment ------------------------------------------------------------------------- */

static size_t name_len(const char *entry) { return strcspn(entry, "="); }

static bool changed_by(const char *entry, const char *const *changes) {
    size_t n = name_len(entry);
    for (const char *const *c = changes; *c; c++)
        if (name_len(*c) == n && strncmp(*c, entry, n) == 0)
            return true;
    return false;
}

static size_t count(const char *const *v) {
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

/* EVA_ENV_ADD: the parent's entries the changes do not name, then the
 * changes that set something.  The strings are borrowed; the array is
 * allocated (NULL: -ENOMEM). */
static char **merged_env(const char *const *changes) {
    const char *const *parent = (const char *const *)environ;
    char **env = eva__calloc(count(parent) + count(changes) + 1, sizeof *env);
    if (!env)
        return NULL;
    size_t n = 0;
    for (const char *const *e = parent; e && *e; e++)
        if (!changed_by(*e, changes))
            env[n++] = (char *)*e;
    for (const char *const *c = changes; *c; c++)
        if (strchr(*c, '='))
            env[n++] = (char *)*c;
    return env;
}

/* The child's environment; *owned is what to free afterwards (NULL: none). */
static int child_env(const eva_process_options *o, char ***env, char ***owned) {
    static char *const empty[] = {NULL};
    *owned = NULL;
    switch (o->env_mode) {
    case EVA_ENV_INHERIT:
        *env = environ;
        return 0;
    case EVA_ENV_REPLACE:
        *env = o->env ? (char **)o->env : (char **)empty;
        return 0;
    case EVA_ENV_ADD:
        if (!o->env) {
            *env = environ;
            return 0;
        }
        *env = *owned = merged_env(o->env);
        return *env ? 0 : -ENOMEM;
    }
    return -EINVAL;
}

/* ---- posix_spawn -------------------------------------------------------------------------------- */

/* The child starts clean: no blocked signals, every disposition the
 * default (exec resets caught ones, but an ignored SIGPIPE would stay
 * ignored). */
static int spawn_attrs(posix_spawnattr_t *attr) {
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    int rc = posix_spawnattr_init(attr);
    if (rc == 0)
        rc = posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    if (rc == 0)
        rc = posix_spawnattr_setsigmask(attr, &none);
    if (rc == 0)
        rc = posix_spawnattr_setsigdefault(attr, &all);
    return -rc;
}

static int spawn_actions(posix_spawn_file_actions_t *fa, const spawn_fds *fds, const char *cwd) {
    int rc = posix_spawn_file_actions_init(fa);
    for (int i = 0; i < 3 && rc == 0; i++)
        if (fds->child[i] >= 0)
            rc = posix_spawn_file_actions_adddup2(fa, fds->child[i], i);
    if (rc == 0 && cwd)
        rc = posix_spawn_file_actions_addchdir_np(fa, cwd);
    return -rc;
}

static int run_spawn(pid_t *pid, const eva_process_options *o, const spawn_fds *fds, char **env) {
    posix_spawnattr_t attr;
    posix_spawn_file_actions_t fa;
    int rc = spawn_attrs(&attr);
    if (rc == 0 && (rc = spawn_actions(&fa, fds, o->cwd)) == 0) {
        const char *file = o->file ? o->file : o->argv[0];
        rc = strchr(file, '/') ? -posix_spawn(pid, file, &fa, &attr, o->argv, env)
                               : -posix_spawnp(pid, file, &fa, &attr, o->argv, env);
        posix_spawn_file_actions_destroy(&fa);
    }
    posix_spawnattr_destroy(&attr);
    return rc;
}

/* ---- the call ---------------------------------------------------------------------------------- */

static bool stdio_valid(const eva_stdio *io) {
    switch (io->kind) {
    case EVA_STDIO_INHERIT:
    case EVA_STDIO_NULL:
        return true;
    case EVA_STDIO_PIPE:
        return io->stream && !eva_stream_is_open(io->stream);
    case EVA_STDIO_FD:
        return io->fd >= 0;
    }
    return false;
}

static int options_check(const eva_loop *loop, const eva_process *proc, const eva_process_options *o) {
    if (!loop || !proc || !o || !o->argv || !o->argv[0] || o->kill_grace_ms < 0 ||
        (unsigned)o->env_mode > EVA_ENV_ADD)
        return -EINVAL;
    for (int i = 0; i < 3; i++)
        if (!stdio_valid(&o->stdio[i]))
            return -EINVAL;
    return proc->live ? -EBUSY : 0;
}

int eva_process_spawn(eva_loop *loop, eva_process *proc, const eva_process_options *options) {
    int rc = options_check(loop, proc, options);
    if (rc < 0 || (rc = eva__process_prepare(loop)) < 0)
        return rc;
    char **env, **owned_env;
    if ((rc = child_env(options, &env, &owned_env)) < 0)
        return rc;
    spawn_fds fds = {{-1, -1, -1}};
    pid_t pid = -1;
    rc = open_stdio(loop, options, &fds);
    if (rc == 0) {
        rc = run_spawn(&pid, options, &fds, env);
        close_child_fds(&fds);
    }
    eva__free(owned_env);
    if (rc == 0)
        rc = eva__process_watch(loop, proc, pid, options->kill_grace_ms);
    if (rc < 0) /* nothing of a failed spawn stays open */
        close_pipe_streams(options);
    return rc;
}
