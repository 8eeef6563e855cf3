/* loop/shuffle.c — the seeded schedule perturbation (EVA_SHUFFLE_SEED=n).
 *
 * A debug mode that varies, deterministically from the seed, every order the
 * API does not promise (docs/reliability.md lists them), so an ordering bug
 * shows up in the test suite instead of in production.  This file has the
 * per-loop random numbers and the list permutations; the queues that use
 * them decide what may be reordered.
 *
 * Each loop has its own generator (splitmix64), seeded when the loop is
 * created: no state is shared between loops or threads, and a run that
 * makes the same calls in the same order makes the same choices. */
#include <stdint.h>
#include <stdlib.h>

#include "internal.h"

void eva__shuffle_init(eva__shuffle *s) {
    const char *env = getenv("EVA_SHUFFLE_SEED");
    char *end;
    s->on = false;
    if (!env || !*env)
        return;
    unsigned long long seed = strtoull(env, &end, 0);
    if (*end)
        return; /* not a number: off, rather than a seed nobody chose */
    s->on = true;
    s->state = seed;
}

/* splitmix64 (Steele, Lea, Flood 2014): every seed, 0 included, gives a
 * full-period, well-mixed sequence. */
uint64_t eva__shuffle_next(eva__shuffle *s) {
    uint64_t z = (s->state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* A number below n (n > 0); the modulo bias is irrelevant for n this small. */
static uint64_t below(eva__shuffle *s, uint64_t n) { return eva__shuffle_next(s) % n; }

bool eva__shuffle_one_in(eva__shuffle *s, unsigned n) { return below(s, n) == 0; }

static void **next_of(void *node, size_t next_off) { return (void **)((char *)node + next_off); }

/* Passes of the permutation below for n nodes: 2 * log2(n) + 4 random bits
 * per node make a tie between two nodes (which keeps their old order)
 * unlikely (< 1 in 16 over the whole list). */
static unsigned passes_for(size_t n) {
    unsigned bits = 0;
    while (n >> bits)
        bits++;
    return 2 * bits + 4;
}

/* Permute a NULL-terminated singly linked list without allocating: each
 * pass splits it by a fresh random bit per node, stably, and puts the 0s
 * before the 1s.  After k passes the nodes are sorted by a random k-bit key
 * (a least-significant-digit radix sort on random keys). */
void *eva__shuffle_slist(eva__shuffle *s, void *head, size_t next_off) {
    size_t n = 0;
    for (void *p = head; p; p = *next_of(p, next_off))
        n++;
    if (n < 2)
        return head;
    for (unsigned pass = passes_for(n); pass > 0; pass--) {
        void *part[2] = {NULL, NULL};
        void **tail[2] = {&part[0], &part[1]};
        uint64_t bits = 0;
        unsigned left = 0;
        for (void *p = head, *next; p; p = next) {
            next = *next_of(p, next_off);
            if (left == 0)
                bits = eva__shuffle_next(s), left = 64;
            unsigned side = bits & 1;
            bits >>= 1, left--;
            *tail[side] = p;
            tail[side] = next_of(p, next_off);
        }
        *tail[1] = NULL;
        *tail[0] = part[1];
        head = part[0];
    }
    return head;
}

/* Unlink q's nodes into a NULL-terminated chain through their next pointers. */
static eva_queue *queue_to_chain(eva_queue *q) {
    if (eva__queue_empty(q))
        return NULL;
    eva_queue *first = q->next;
    q->prev->next = NULL;
    eva__queue_init(q);
    return first;
}

static eva_queue *chain_pop(eva_queue **chain) {
    eva_queue *node = *chain;
    *chain = node->next;
    return node;
}

static size_t queue_length(const eva_queue *q) {
    size_t n = 0;
    EVA__QUEUE_FOREACH(node, q)
        n++;
    return n;
}

void eva__shuffle_interleave(eva__shuffle *s, eva_queue *ordered, eva_queue *loose,
                             eva_queue *out) {
    size_t n_ordered = queue_length(ordered), n_loose = queue_length(loose);
    eva_queue *a = queue_to_chain(ordered);
    eva_queue *b = eva__shuffle_slist(s, queue_to_chain(loose), offsetof(eva_queue, next));
    /* each step takes the next loose node with probability (loose left) /
     * (all left): every interleaving is equally likely */
    while (n_ordered + n_loose > 0) {
        bool take_loose = below(s, n_ordered + n_loose) < n_loose;
        eva_queue *node = take_loose ? chain_pop(&b) : chain_pop(&a);
        *(take_loose ? &n_loose : &n_ordered) -= 1;
        eva__queue_insert_tail(out, node);
    }
}
