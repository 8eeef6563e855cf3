/* tests/fuzz/fuzz_loop.h — loops for the fuzz targets (tests/fuzz/fuzz.c). */
#ifndef EVA_FUZZ_LOOP_H
#define EVA_FUZZ_LOOP_H

#include "evasync.h"
#include "fuzz.h"
#include "helpers.h"

/* A new loop whose log goes nowhere (the targets provoke warnings on
 * purpose; what they check are results). */
eva_loop *fuzz_loop_new(void);

/* Destroy loop: it must succeed. */
void fuzz_loop_destroy(eva_loop *loop);

/* Check that every block evasync allocated through alloc is freed. */
void fuzz_check_freed(const test_alloc *alloc);

/* Run loop one iteration at a time until *done, for at most timeout_ms (a
 * guard timer bounds each wait).  Returns *done. */
bool fuzz_run_until(eva_loop *loop, const bool *done, int64_t timeout_ms);

#endif
