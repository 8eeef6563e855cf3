/* evasync/alloc.h — the allocator hook.
 *
 * Every byte evasync allocates goes through one function, so a daemon can
 * plug in its own allocator and a test can make the Nth allocation fail.
 * libev's own internal arrays use libev's allocator (ev_set_allocator), which
 * aborts on exhaustion by libev's design; evasync does not change that.
 */
#ifndef EVASYNC_ALLOC_H
#define EVASYNC_ALLOC_H

#include <stddef.h>

#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* realloc-shaped allocator, as Lua's lua_Alloc:
 *   size > 0: (re)allocate ptr (NULL = new block) to size bytes; NULL on failure
 *             (the old block, if any, is then left untouched);
 *   size == 0: free ptr (may be NULL) and return NULL.
 * It may be called from any thread that uses evasync (the offload pool's
 * workers included), so it must be thread-safe. */
typedef void *(*eva_alloc_fn)(void *ud, void *ptr, size_t size);

/* Install fn (with its user data ud) as evasync's allocator; fn == NULL
 * restores the default (the C library's realloc/free).  Call it before any
 * other evasync function, or while no evasync object exists: a block must be
 * freed by the allocator that allocated it.  Returns 0. */
EVA_API int eva_set_allocator(eva_alloc_fn fn, void *ud);

#ifdef __cplusplus
}
#endif
#endif
