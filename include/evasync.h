/* evasync.h — the one header a program includes.
 *
 * evasync is an embeddable C11 event-loop library on libev: callbacks,
 * promises and ASYNC_BEGIN/AWAIT/ASYNC_END state machines over one loop.
 * Each concept has its own header under evasync/; this one includes them all.
 */
#ifndef EVASYNC_H
#define EVASYNC_H

/* The version of these headers (major.minor.patch); the library's SONAME
 * counts ABI breaks separately (docs/abi.md). */
#define EVASYNC_VERSION_MAJOR 0
#define EVASYNC_VERSION_MINOR 1
#define EVASYNC_VERSION_PATCH 0

#include "evasync/error.h"
#include "evasync/alloc.h"
#include "evasync/log.h"
#include "evasync/loop.h"
#include "evasync/call.h"
#include "evasync/timer.h"
#include "evasync/io.h"
#include "evasync/signal.h"
#include "evasync/task.h"
#include "evasync/promise.h"
#include "evasync/scope.h"
#include "evasync/sync.h"
#include "evasync/pool.h"
#include "evasync/group.h"
#include "evasync/pool_async.h"
#include "evasync/stream.h"
#include "evasync/tcp.h"
#include "evasync/udp.h"
#include "evasync/unix.h"
#include "evasync/listen.h"
#include "evasync/process.h"
#include "evasync/dns.h"
#include "evasync/fd.h"
#include "evasync/fs.h"
#include "evasync/tls.h"
#include "evasync/monitor.h"
#include "evasync/task_monitor.h"

#endif
