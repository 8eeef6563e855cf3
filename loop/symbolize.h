/* loop/symbolize.h — naming a callback's address for the detector's reports.
 * Not installed; names start with eva__.
 *
 * dladdr names only exported functions; a daemon's callbacks are mostly
 * static.  The watchdog thread reads the ELF symbol table and, when there is
 * one, the DWARF debug info of the object holding the address (with libdw:
 * the program's own, or its -dbgsym package's under /usr/lib/debug), and
 * keeps the answer in a small per-detector cache.  The loop thread only
 * looks answers up: no allocation, no lock, no file read on the loop.
 *
 * Entries are written once by the watchdog and never changed, published by a
 * release store of their address; the loop thread reads one after an
 * acquire load of it.  When the cache is full, new names still serve the
 * watchdog's own (in-progress) reports, from a scratch entry. */
#ifndef EVASYNC_LOOP_SYMBOLIZE_H
#define EVASYNC_LOOP_SYMBOLIZE_H

#include <stdatomic.h>
#include <stdint.h>

enum { EVA__NAMES_CACHED = 32 };

/* One address, named. */
typedef struct eva__name {
    _Atomic uintptr_t addr; /* 0: a free entry */
    char symbol[96];        /* the function's name; "" when none was found */
    char phrase[256];       /* how a report says it, after "callback ": `name()
                               (file.c:12)`, `name+0x10`, or the address and
                               what would name it */
} eva__name;

struct Dwfl;

/* Zeroed memory is an empty cache. */
typedef struct eva__names {
    eva__name cached[EVA__NAMES_CACHED];
    unsigned used;        /* watchdog only: cached entries written */
    eva__name scratch;    /* watchdog only: the last name that did not fit */
    struct Dwfl *dwfl;    /* watchdog only: libdw's view of the objects read
                             so far; NULL until the first lookup */
} eva__names;

/* Watchdog thread: the name of the function at addr, looked up on first use
 * (opening its object's file), cached.  NULL only for addr 0; the
 * entry stays valid until eva__names_free, or, if it is n->scratch, until
 * the next call. */
const eva__name *eva__names_resolve(eva__names *n, uintptr_t addr);

/* Any thread: addr's cached name, or NULL if the watchdog has not resolved
 * it (yet).  Lock-free, allocates nothing. */
const eva__name *eva__names_find(const eva__names *n, uintptr_t addr);

/* With no thread using the cache any more: release libdw's state.  The cache
 * is then empty again. */
void eva__names_free(eva__names *n);

#endif
