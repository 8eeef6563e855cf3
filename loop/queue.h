/* loop/queue.h — evasync's one intrusive queue: circular, doubly linked,
 * with a sentinel (as libuv's QUEUE and the Linux kernel's list_head).
 *
 * Why circular with a sentinel: a node can be unlinked in O(1) without
 * knowing which queue holds it, and a queue being drained stays consistent —
 * the drainer always takes the sentinel's current first node, never a saved
 * "next" that the callback it is about to run may have changed.
 * A node on no queue has next == NULL (eva__queue_linked says which). */
#ifndef EVASYNC_LOOP_QUEUE_H
#define EVASYNC_LOOP_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include "evasync/queue.h"

static inline void eva__queue_init(eva_queue *head) { head->next = head->prev = head; }

static inline bool eva__queue_empty(const eva_queue *head) { return head->next == head; }

static inline bool eva__queue_linked(const eva_queue *node) { return node->next != NULL; }

/* The first node, left linked, or NULL when the queue is empty. */
static inline eva_queue *eva__queue_first(const eva_queue *head) {
    return eva__queue_empty(head) ? NULL : head->next;
}

static inline void eva__queue_insert_tail(eva_queue *head, eva_queue *node) {
    node->next = head;
    node->prev = head->prev;
    head->prev->next = node;
    head->prev = node;
}

static inline void eva__queue_remove(eva_queue *node) {
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->next = node->prev = NULL;
}

/* The first node, unlinked, or NULL when the queue is empty. */
static inline eva_queue *eva__queue_pop(eva_queue *head) {
    if (eva__queue_empty(head))
        return NULL;
    eva_queue *node = head->next;
    eva__queue_remove(node);
    return node;
}

/* Move every node of from to the tail of to; from is left empty. */
static inline void eva__queue_move(eva_queue *from, eva_queue *to) {
    if (eva__queue_empty(from))
        return;
    from->next->prev = to->prev;
    to->prev->next = from->next;
    from->prev->next = to;
    to->prev = from->prev;
    eva__queue_init(from);
}

#define EVA__QUEUE_DATA(node, type, member) \
    ((type *)(void *)((char *)(node) - offsetof(type, member)))

/* for (each node of head): the body may not unlink node (to drain a queue,
 * pop from it instead). */
#define EVA__QUEUE_FOREACH(node, head) \
    for (eva_queue *node = (head)->next; node != (head); node = node->next)

#endif
