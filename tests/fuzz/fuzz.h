/* tests/fuzz/fuzz.h — what the libFuzzer targets share: a check that aborts
 * (libFuzzer then saves the input), and a cursor over the input bytes.
 *
 * The targets count evasync's allocations with tests/helpers.c's test_alloc
 * (every block freed by the end of a run) and leave the rest of the memory
 * to ASan's leak check. */
#ifndef EVA_FUZZ_H
#define EVA_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                          \
    do {                                                                          \
        if (!(cond)) {                                                            \
            fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                       \
            abort();                                                              \
        }                                                                         \
    } while (0)

/* The input, consumed from the front; reads past its end give zeros. */
typedef struct fuzz_input {
    const uint8_t *p;
    size_t n;
} fuzz_input;

static inline uint8_t fuzz_byte(fuzz_input *in) {
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

static inline uint16_t fuzz_u16(fuzz_input *in) {
    uint16_t hi = fuzz_byte(in);
    return (uint16_t)(hi << 8 | fuzz_byte(in));
}

/* The next len bytes (fewer at the end of the input), borrowed. */
static inline const uint8_t *fuzz_bytes(fuzz_input *in, size_t *len) {
    const uint8_t *p = in->p;
    if (*len > in->n)
        *len = in->n;
    in->p += *len;
    in->n -= *len;
    return p;
}

#endif
