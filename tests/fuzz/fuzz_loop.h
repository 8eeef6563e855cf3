/* tests/fuzz/fuzz_loop.h — loops for the fuzz targets (tests/fuzz/fuzz.c). */
#ifndef EVA_FUZZ_LOOP_H
#define EVA_FUZZ_LOOP_H

#include "evasync.h"
#include "fuzz.h"
#include "helpers.h"

/* A new loop whose log goes nowhere (the targets provoke warnings on
 * purpose; what they check are results), or to stderr with FUZZ_LOG=1 in
 * the environment (to read a reproducer's story). */
eva_loop *fuzz_loop_new(void);

/* Destroy loop: it must succeed. */
void fuzz_loop_destroy(eva_loop *loop);

/* Check that every block evasync allocated is freed (a test_alloc counts
 * them: fuzz.c installs it in LLVMFuzzerInitialize). */
void fuzz_check_freed(void);

/* What libFuzzer calls: fuzz.c defines the first, each target the second. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Run loop one iteration at a time until *done, for at most timeout_ms (a
 * guard timer bounds each wait).  Returns *done. */
bool fuzz_run_until(eva_loop *loop, const bool *done, int64_t timeout_ms);

/* A connected pair of loopback TCP sockets (a real TCP stream: segments,
 * half-close, RST), both non-blocking and close-on-exec: fds[0] for the
 * side under test, fds[1] for the peer the target plays, bound to an
 * address of 127.1/16 that changes with every pair.  The listening socket is
 * made once and kept for the process. */
void fuzz_tcp_pair(int fds[2]);

/* Close the peer's socket with a TCP RST (SO_LINGER 0). */
void fuzz_tcp_reset(int fd);

#endif
