/* evasync/queue.h — the node of evasync's one intrusive queue.
 *
 * Public structs that sit on one of the library's queues (a deferred call, a
 * wait node) embed an eva_queue.  Its fields are private: the library links
 * and unlinks it.  A node that is on no queue has next == NULL.
 */
#ifndef EVASYNC_QUEUE_H
#define EVASYNC_QUEUE_H

#ifdef __cplusplus
extern "C" {
#endif

/* eva_queue: 16 bytes on x86_64 (ABI: tests/test_struct_sizes.c). */
typedef struct eva_queue {
    /* private: */
    struct eva_queue *next, *prev;
} eva_queue;

#ifdef __cplusplus
}
#endif
#endif
