/* loop/alloc.c — every evasync allocation goes through eva__realloc(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void *default_alloc(void *ud, void *ptr, size_t size) {
    (void)ud;
    if (size == 0) {
        free(ptr);
        return NULL;
    }
    return realloc(ptr, size);
}

static eva_alloc_fn alloc_fn = default_alloc;
static void *alloc_ud;

int eva_set_allocator(eva_alloc_fn fn, void *ud) {
    alloc_fn = fn ? fn : default_alloc;
    alloc_ud = fn ? ud : NULL;
    return 0;
}

void *eva__realloc(void *ptr, size_t size) {
    if (size == 0)
        size = 1; /* a zero-size request is still an allocation, never a free */
    return alloc_fn(alloc_ud, ptr, size);
}

void *eva__alloc(size_t size) { return eva__realloc(NULL, size); }

void *eva__calloc(size_t n, size_t size) {
    if (size != 0 && n > SIZE_MAX / size)
        return NULL;
    void *p = eva__alloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void eva__free(void *ptr) {
    if (ptr)
        alloc_fn(alloc_ud, ptr, 0);
}
