/* evasync/export.h — EVA_API marks what the shared library exports.
 *
 * The library is built with hidden visibility (-fvisibility=hidden): a
 * function is exported only if its declaration in a public header says
 * EVA_API, so internals (eva__ names in loop/, async/, net/) never become
 * symbols anyone can link against.  The few eva__ helpers that the task
 * macros expand to are EVA_API too: they are called from user code.
 * tests/abi_check.py compares the exported symbols with the headers.
 * For the static library, and for compilers without visibility attributes,
 * EVA_API changes nothing.
 */
#ifndef EVASYNC_EXPORT_H
#define EVASYNC_EXPORT_H

/* Marks a public function: exported from the shared library (see above). */
#if defined(__GNUC__)
#define EVA_API __attribute__((visibility("default")))
#else
#define EVA_API
#endif

#endif
