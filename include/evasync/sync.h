/* evasync/sync.h — synchronisation between tasks on one loop.
 *
 * One thread, no locks: these exist because a task that AWAITs lets other
 * tasks run, so "check, AWAIT, act" is a race even on one thread.  Two tasks
 * each doing `if (balance >= 100) { AWAIT(...); balance -= 100; }` on a
 * balance of 100 end at -100; holding an eva_mutex across the AWAIT ends at 0
 * (tests/test_sync.c shows both).
 *
 * All four are caller-owned structs: init, use, destroy (destroy refuses with
 * -EBUSY while a task waits).  Waiting never allocates: a waiter's queue node
 * lives in its task header.  Waiters are served first come, first served;
 * a released lock, permit or item is handed to the first waiter directly (no
 * barging), and the waiter resumes on the next loop iteration, never inside
 * the call that released.  A cancelled waiter leaves the queue and resumes
 * with -ECANCELED, holding nothing.  Loop thread only.
 *
 * Init accepts memory never initialised, so it cannot tell a primitive in
 * use: never init one again before its destroy has succeeded (its waiters
 * would never wake, and cancelling them would corrupt the new queue; a held
 * mutex would be taken twice; a channel's ring would leak).
 */
#ifndef EVASYNC_SYNC_H
#define EVASYNC_SYNC_H

#include <stdbool.h>
#include <stddef.h>

#include "call.h"
#include "export.h"
#include "req.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eva_loop eva_loop;

/* A FIFO of parked tasks (private), linked through their headers.  It
 * points at itself once initialised: an initialised primitive must not be
 * moved or copied. */
typedef struct eva_waitq { /* 16 bytes on x86_64 */
    /* private: */
    eva_queue tasks;
} eva_waitq;

/* ---- mutex ----------------------------------------------------------------- */

/* eva_mutex: 32 bytes on x86_64 (ABI: tests/test_struct_sizes.c).
 * Every field is private (read it through the functions); never move or
 * copy it once initialised. */
typedef struct eva_mutex {
    /* private: */
    eva_loop *loop;
    bool locked;
    eva_waitq waiters;
} eva_mutex;

/* Returns 0 or -EINVAL. */
EVA_API int eva_mutex_init(eva_loop *loop, eva_mutex *m);

/* AWAIT(f, eva_mutex_lock_op(&m)): take the mutex, waiting while it is held.
 * Errors: -EINVAL, -ECANCELED. */
EVA_API eva_op eva_mutex_lock_op(eva_mutex *m);

/* Take it only if free: 0, -EBUSY (held), -EINVAL. */
EVA_API int eva_mutex_try_lock(eva_mutex *m);

/* Release; the first waiter (if any) now holds it.  0, -EPERM (not locked),
 * -EINVAL. */
EVA_API int eva_mutex_unlock(eva_mutex *m);

/* 0, -EBUSY (held or waited on), -EINVAL. */
EVA_API int eva_mutex_destroy(eva_mutex *m);

/* ---- semaphore ----------------------------------------------------------------- */

/* eva_semaphore: 32 bytes on x86_64 (ABI: tests/test_struct_sizes.c).
 * Every field is private (read it through the functions); never move or
 * copy it once initialised. */
typedef struct eva_semaphore {
    /* private: */
    eva_loop *loop;
    size_t permits;        /* free now */
    eva_waitq waiters;
} eva_semaphore;

/* permits: how many holders at once (e.g. connections in a pool).
 * Returns 0 or -EINVAL. */
EVA_API int eva_semaphore_init(eva_loop *loop, eva_semaphore *s, size_t permits);

/* AWAIT(f, eva_semaphore_acquire_op(&s)): take a permit, waiting while none
 * is free.  Errors: -EINVAL, -ECANCELED. */
EVA_API eva_op eva_semaphore_acquire_op(eva_semaphore *s);

/* 0, -EBUSY (none free), -EINVAL. */
EVA_API int eva_semaphore_try_acquire(eva_semaphore *s);

/* Give a permit back (to the first waiter, if any).  0 or -EINVAL. */
EVA_API int eva_semaphore_release(eva_semaphore *s);

/* 0, -EBUSY (waited on), -EINVAL. */
EVA_API int eva_semaphore_destroy(eva_semaphore *s);

/* ---- event -------------------------------------------------------------------- */

/* eva_event: 32 bytes on x86_64 (ABI: tests/test_struct_sizes.c).
 * Every field is private (read it through the functions); never move or
 * copy it once initialised. */
typedef struct eva_event {
    /* private: */
    eva_loop *loop;
    bool set;
    eva_waitq waiters;
} eva_event;

/* Starts clear.  0 or -EINVAL. */
EVA_API int eva_event_init(eva_loop *loop, eva_event *e);

/* AWAIT(f, eva_event_wait_op(&e)): resume once the event is set (at once if
 * it is).  Errors: -EINVAL, -ECANCELED. */
EVA_API eva_op eva_event_wait_op(eva_event *e);

/* Set it and release every waiter.  0 or -EINVAL. */
EVA_API int eva_event_set(eva_event *e);

/* Clear it: later waits wait again.  0 or -EINVAL. */
EVA_API int eva_event_clear(eva_event *e);

/* true between a set and the next clear (false for NULL). */
EVA_API bool eva_event_is_set(const eva_event *e);

/* 0, -EBUSY (waited on), -EINVAL. */
EVA_API int eva_event_destroy(eva_event *e);

/* ---- channel ----------------------------------------------------------------- */

/* A bounded FIFO of void * items: send waits while it is full (backpressure),
 * receive waits while it is empty. */
/* eva_channel: 80 bytes on x86_64 (ABI: tests/test_struct_sizes.c).
 * Every field is private (read it through the functions); never move or
 * copy it once initialised. */
typedef struct eva_channel {
    /* private: */
    eva_loop *loop;
    void **ring;           /* capacity slots, from evasync's allocator */
    size_t capacity, head, count;
    bool closed;
    eva_waitq senders, receivers;
} eva_channel;

/* Allocates the ring.  0, -EINVAL (capacity 0), -ENOMEM. */
EVA_API int eva_channel_init(eva_loop *loop, eva_channel *ch, size_t capacity);

/* AWAIT(f, eva_channel_send_op(&ch, item)): queue item, waiting while the
 * channel is full.  Errors: -EPIPE (closed), -EINVAL, -ECANCELED (the item was
 * not sent). */
EVA_API eva_op eva_channel_send_op(eva_channel *ch, void *item);

/* AWAIT(f, eva_channel_recv_op(&ch, &f->item)): take the oldest item, waiting
 * while the channel is empty.  Errors: EVA_EOF (closed and drained), -EINVAL,
 * -ECANCELED. */
EVA_API eva_op eva_channel_recv_op(eva_channel *ch, void **item);

/* Without waiting: 0, -EAGAIN (full / empty), -EPIPE / EVA_EOF, -EINVAL. */
EVA_API int eva_channel_try_send(eva_channel *ch, void *item);
EVA_API int eva_channel_try_recv(eva_channel *ch, void **item);

/* No more sends: waiting senders get -EPIPE; receivers drain what is
 * buffered, then get EVA_EOF.  Idempotent.  0 or -EINVAL. */
EVA_API int eva_channel_close(eva_channel *ch);

/* How many items are buffered now (0 for NULL). */
EVA_API size_t eva_channel_get_count(const eva_channel *ch);

/* Frees the ring (items still buffered are the caller's to have drained).
 * 0, -EBUSY (waited on), -EINVAL. */
EVA_API int eva_channel_destroy(eva_channel *ch);

/* ---- sending to a channel of another loop ---------------------------------- */

/* A channel belongs to one loop; a sender on another loop (a loop group,
 * evasync/group.h) hands an item over with a posted send: the request hops
 * to the channel's loop (eva_loop_post), sends there as a task started
 * there would (waiting while the channel is full), and the outcome hops
 * back to the sender's loop, where it completes the request: cb(req,
 * status), the awaiting task, or the promise.  Like tasks started
 * together, several sends in flight at once may enter the channel in any
 * order; for an ordered stream keep one in flight per sender (start the
 * next from the completion) or send a batch as one item.
 *
 * Status, and who owns the item after it:
 *   0           the item is in the channel, or with a receiver: the
 *               receiver's now;
 *   -EPIPE      the channel is closed: not sent, still the sender's;
 *   -ECANCELED  either loop was destroyed before the send: not sent, still
 *               the sender's;
 *   -ENOMEM     the channel's loop could not start the send: not sent.
 * The status always says what happened to the item, even when the sender's
 * loop is destroyed while the outcome travels back.
 *
 * Not cancellable once started: a full channel that nobody drains holds the
 * request until it is closed or its loop destroyed.  Cancelling a task that
 * AWAITs the send does not withdraw it: the task stays parked until the
 * outcome is back and resumes with it (AWAIT_RC gives the status above, so
 * the item is never lost nor owned twice); its next AWAIT fails with
 * -ECANCELED.  eva_promise_cancel() on the promise form likewise lets the
 * send finish, and the promise settles with its outcome.  An eva_group
 * destroys its loops so that both hops complete, exactly once, before any
 * loop is freed; outside a group, both loops must outlive the completion.
 *
 * The request is caller-owned, zero-initialised before its first use, and
 * must stay valid until its completion; then it may be started again. */
typedef struct eva_channel_post_req eva_channel_post_req;
typedef void (*eva_channel_post_fn)(eva_channel_post_req *req, int status);

/* eva_channel_post_req: 248 bytes on x86_64 (ABI: tests/test_struct_sizes.c). */
struct eva_channel_post_req {
    /* private: */
    eva_task task;             /* the send, run on the channel's loop */
    /* public: */
    void *data;                /* the caller's */
    void *item;                /* read-only: what is being sent */
    /* private: */
    eva_channel *channel;
    eva_loop *from;            /* the sender's loop: the completion runs there */
    eva_call there;            /* the hop to the channel's loop */
    eva__req req;              /* the completion; its call is the hop back */
};

/* Start a posted send of item to ch (a channel of any loop; ch->loop is
 * read, so the channel must be initialised before this call can see it)
 * from loop `from`'s thread.  Returns 0 (cb will run on from, never
 * inside this call), -EINVAL (a NULL argument), -EBUSY (req in flight). */
EVA_API int eva_channel_post_send(eva_channel_post_req *req, eva_loop *from, eva_channel *ch,
                                  void *item, eva_channel_post_fn cb);

/* AWAIT_RC(f, eva_channel_post_send_op(&f->post, ch, item)): the posted send
 * from the awaiting task's loop; the task resumes there with the status
 * above.  Errors of the start: -EINVAL (a NULL request or channel), -EBUSY
 * (the request is in flight: it is left untouched).  A failure carries a
 * message (eva_task_get_message) saying whose the item is. */
EVA_API eva_op eva_channel_post_send_op(eva_channel_post_req *req, eva_channel *ch, void *item);

/* The promise form, from loop `from`'s thread: *out (a new reference, the
 * caller's to release) is fulfilled with the request (an
 * eva_channel_post_req *, owned by the promise: its item field is what was
 * sent) or rejected with the status above and its message.  The promise
 * allocates and owns its request.  If `from` is destroyed first, the
 * promise rejects with -ECANCELED as every pending promise does
 * (evasync/promise.h, rule 7), possibly before the item's fate is known:
 * a program that must know where every item went at shutdown uses the
 * callback or AWAIT form.  Returns 0, -EINVAL (a NULL argument), -ENOMEM
 * (nothing was sent). */
EVA_API int eva_channel_post_send_promise(eva_loop *from, eva_channel *ch, void *item,
                                          eva_promise **out);

#ifdef __cplusplus
}
#endif
#endif
