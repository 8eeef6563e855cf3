/* net/stream_lent.c — the memory of lent reads (evasync/stream.h): chunks the
 * loop lends a stream from the moment its bytes arrive until its next read,
 * so that a connection waiting for bytes holds no buffer.
 *
 * A chunk given back goes to a small per-loop spare list (a server reading
 * on many connections reuses a few chunks over and over) or is freed: the
 * number of chunks alive follows the connections that are between a read
 * and the next, not the connections open. */
#include <errno.h>
#include <string.h>

#include "net_internal.h"

/* Misuse (using lent bytes after they went back) should not read quietly
 * valid-looking data: ASan builds poison a given-back chunk, other debug
 * builds scribble over it. */
#if defined(__SANITIZE_ADDRESS__)
#define EVA__LENT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EVA__LENT_ASAN 1
#endif
#endif

#ifdef EVA__LENT_ASAN
#include <sanitizer/asan_interface.h>
static void lent_poison(char *chunk) { ASAN_POISON_MEMORY_REGION(chunk, EVA_STREAM_LENT_SIZE); }
static void lent_unpoison(char *chunk) { ASAN_UNPOISON_MEMORY_REGION(chunk, EVA_STREAM_LENT_SIZE); }
#elif !defined(NDEBUG)
static void lent_poison(char *chunk) { memset(chunk, 0xdd, EVA_STREAM_LENT_SIZE); }
static void lent_unpoison(char *chunk) { (void)chunk; }
#else
static void lent_poison(char *chunk) { (void)chunk; }
static void lent_unpoison(char *chunk) { (void)chunk; }
#endif

char *eva__stream_lent_take(eva_stream *stream) {
    eva__net_loop *nl = eva__net_loop_get(stream->loop);
    if (!nl)
        return NULL;
    char *chunk;
    if (nl->lent_spare_n > 0) {
        chunk = nl->lent_spare[--nl->lent_spare_n];
        lent_unpoison(chunk);
    } else if (!(chunk = eva__alloc(EVA_STREAM_LENT_SIZE))) {
        return NULL;
    }
    if (++nl->lent_out > nl->lent_peak)
        nl->lent_peak = nl->lent_out;
    return chunk;
}

/* The stream took it from its loop's net state, which therefore exists. */
void eva__stream_lent_give(eva_stream *stream, char *chunk) {
    eva__net_loop *nl = eva__net_loop_get(stream->loop);
    nl->lent_out--;
    if (nl->lent_spare_n < EVA_STREAM_LENT_SPARE) {
        lent_poison(chunk);
        nl->lent_spare[nl->lent_spare_n++] = chunk;
    } else {
        eva__free(chunk); /* ASan reports a use after this as use-after-free */
    }
}

void eva__stream_lent_free_spares(eva__net_loop *nl) {
    while (nl->lent_spare_n > 0) {
        char *chunk = nl->lent_spare[--nl->lent_spare_n];
        lent_unpoison(chunk);
        eva__free(chunk);
    }
}

void eva_stream_release_lent(eva_stream *stream) {
    if (!stream || !stream->lent)
        return;
    eva__stream_lent_give(stream, stream->lent);
    stream->lent = NULL;
}

int eva_stream_get_lent_stats(eva_loop *loop, eva_stream_lent_stats *out) {
    if (!loop || !out)
        return -EINVAL;
    eva__net_loop *nl = eva__net_loop_get(loop);
    if (!nl)
        return -ENOMEM;
    *out = (eva_stream_lent_stats){.lent = nl->lent_out, .spare = nl->lent_spare_n, .lent_peak = nl->lent_peak};
    return 0;
}
