/* net/process_internal.h — what process_spawn.c (starting a child) and
 * process.c (its life: exit watch, reap, waits, cancel) share. */
#ifndef EVASYNC_PROCESS_INTERNAL_H
#define EVASYNC_PROCESS_INTERNAL_H

#include "net_internal.h"
#include "evasync/process.h"

/* Allocate the loop's process state now, so that nothing after the child
 * has started can fail for lack of memory: 0 or -ENOMEM. */
int eva__process_prepare(eva_loop *loop);

/* pid was just spawned into proc: watch for its exit (pidfd, else the
 * SIGCHLD fallback) and make proc live.  On failure (no descriptor left for
 * the pidfd, SIGCHLD taken by another loop) the child is killed and reaped
 * and proc stays not live.  0 or -errno. */
int eva__process_watch(eva_loop *loop, eva_process *proc, pid_t pid, int64_t kill_grace_ms);

/* Tests only: pretend the kernel has no pidfd_open (the SIGCHLD fallback). */
extern bool eva__process_pidfd_off;

#endif
