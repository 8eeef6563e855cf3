/* evasync/promise.h — promises: the second style.
 *
 * A promise is a loop-bound, reference-counted box that settles once: it is
 * fulfilled with a value (void * plus an optional destructor) or rejected
 * with an error (negative code plus a message).  As in JavaScript, reactions
 * (then/catch/finally, awaiting tasks) always run later, from the loop, never
 * inside the call that settled the promise.
 *
 * Ownership.  Every function that hands out a promise hands out one reference
 * the caller must release with eva_promise_unref().  The value belongs to the
 * promise: borrow it with eva_promise_get_value() while you hold a reference; its
 * destructor runs when the last reference goes.
 *
 * Lifetimes (the rules, in one place; docs/async.md "Promise lifetimes").
 *  1. Releasing a reference never cancels anything: only eva_promise_cancel()
 *     stops work.  Your reference is only for reading the promise.
 *  2. A pending promise is held by what will settle it: the operation behind
 *     it (eva_sleep_promise's timer, a spawned task, a pool job, eva_promise_from_op's
 *     task) until it settles it, or you, for an eva_promise_new() promise.
 *  3. A pending promise holds what reacts to it, as in JavaScript: the promise
 *     a then/catch/finally returned, a combinator's promise it is an input of,
 *     a promise adopting it.  So a whole chain or combination lives until it
 *     has settled, even when the program holds none of it: every reaction
 *     runs once.  An AWAIT holds the promise it waits for.
 *  4. Once settled, a promise lets go of what reacts to it; a settled promise
 *     nobody holds is freed with its value, and so, link by link, is a chain.
 *     (A combinator's promise holds its inputs, for eva_promise_get_inputs().)
 *  5. Cancelling a then/catch/finally result before its reaction ran
 *     withdraws the reaction (it never runs), rejects the result with
 *     -ECANCELED and cancels the promise it reacts to, so cancelling the end
 *     of a chain stops the chain; once the reaction has run, the result
 *     follows what the reaction gave it.  Cancelling an adopting promise
 *     cancels its source, a combinator's promise its pending inputs.
 *  6. If you release the last reference to a pending promise only you could
 *     settle (eva_promise_new) while something reacts to it, it can never
 *     settle: this is logged as a warning and its reactions run as cancelled.
 *     One that is only held by what reacts to it (an input nobody else holds)
 *     stays pending until the loop is destroyed.
 *  7. When the loop is destroyed every pending promise is cancelled (rejected
 *     with -ECANCELED), so every reaction still runs once; the promises you
 *     still hold survive, detached from the loop, until you release them.
 *
 * Unhandled rejections.  A rejected promise that nobody observed (no then,
 * catch, finally, combinator or AWAIT, and no eva_promise_get_error() call) is
 * reported through the loop's log hook when its last reference is released,
 * as JavaScript and asyncio report theirs: for a chain or combination the
 * program let go of, that is when it settles.
 *
 * Cancellation.  Promises made by evasync operations (eva_sleep_promise, spawned
 * tasks, pool jobs, eva_promise_from_op, combinators, then/catch/finally) are
 * cancellable: eva_promise_cancel() stops the work and the promise rejects
 * with -ECANCELED.  A plain eva_promise_new() promise is cancellable only if
 * you give it a canceller.
 */
#ifndef EVASYNC_PROMISE_H
#define EVASYNC_PROMISE_H

#include <stddef.h>
#include <stdint.h>

#include "export.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eva_loop eva_loop;
/* A promise (opaque, reference-counted: see the top of this header). */
typedef struct eva_promise eva_promise;

/* Where a promise is: pending, or settled one way for good. */
typedef enum eva_promise_state {
    EVA_PROMISE_PENDING,
    EVA_PROMISE_FULFILLED,
    EVA_PROMISE_REJECTED
} eva_promise_state;

/* Frees a promise's value when the last reference goes (may be NULL). */
typedef void (*eva_value_dtor)(void *value);

/* Asked to stop the work behind a pending promise; it should reject the
 * promise with -ECANCELED (now or later). */
typedef void (*eva_promise_canceller)(eva_promise *p, void *arg);

/* A reaction.  settled is the promise that settled (borrowed for the call);
 * next is the promise that then() returned: settle it here (resolve, reject
 * or eva_promise_adopt).  If the reaction returns without settling next, next
 * is fulfilled with no value when it returned 0, or rejected with the code it
 * returned when negative. */
typedef int (*eva_then_fn)(void *arg, eva_promise *settled, eva_promise *next);

/* Runs once p settles, whatever the outcome. */
typedef void (*eva_finally_fn)(void *arg, eva_promise *settled);

/* ---- making and settling ------------------------------------------------ */

/* A new pending promise with one reference.  Returns 0, -EINVAL, -ENOMEM. */
EVA_API int eva_promise_new(eva_loop *loop, eva_promise **out);

/* Fulfil with value; the promise owns it from now on and calls dtor (may be
 * NULL) on it when freed.  On error nothing is taken: the value is still yours.
 * Returns 0; -EINVAL (NULL p); -EALREADY (already settled or adopting);
 * -EPERM (an operation's promise — eva_sleep_promise, eva_task_spawn_promise, the
 * pool, DNS, eva_promise_from_op — which only its operation settles: cancel
 * it instead). */
EVA_API int eva_promise_resolve(eva_promise *p, void *value, eva_value_dtor dtor);

/* Reject with code (< 0) and message (NULL: eva_strerror(code); otherwise a
 * string that outlives the promise, e.g. a literal).
 * Returns 0; -EINVAL (NULL p, code >= 0); -EALREADY; -EPERM (as resolve). */
EVA_API int eva_promise_reject(eva_promise *p, int code, const char *message);

/* Settle p the way src settles (now if src is settled, else when it does):
 * JavaScript's resolve(otherPromise).  p keeps a reference to src, and p's
 * value is src's value; src, while pending, keeps p alive.  Cancelling p
 * cancels src.
 * Returns 0; -EINVAL (NULL, same promise, different loops); -EALREADY;
 * -EPERM (p is an operation's promise, as resolve). */
EVA_API int eva_promise_adopt(eva_promise *p, eva_promise *src);

/* Install the function eva_promise_cancel() calls while p is pending.
 * Returns 0; -EINVAL; -EALREADY (settled, or adopting); -EPERM (an
 * operation's promise: its operation's canceller stays). */
EVA_API int eva_promise_set_canceller(eva_promise *p, eva_promise_canceller fn, void *arg);

/* Ask the work behind a pending promise to stop (rule 5 above for derived
 * promises).  Returns 0 (requested, or p already settled); -ENOTSUP (no
 * canceller); -EINVAL. */
EVA_API int eva_promise_cancel(eva_promise *p);

/* ---- references and state ----------------------------------------------- */

EVA_API eva_promise *eva_promise_ref(eva_promise *p); /* returns p */
EVA_API void eva_promise_unref(eva_promise *p);       /* NULL is fine */

/* Pending, fulfilled or rejected. */
EVA_API eva_promise_state eva_promise_get_state(const eva_promise *p);

/* The value of a fulfilled promise (borrowed: valid while you hold a
 * reference), NULL otherwise. */
EVA_API void *eva_promise_get_value(const eva_promise *p);

/* The error of a rejected promise (marks it observed), 0 if it is not
 * rejected, -EINVAL for NULL. */
EVA_API int eva_promise_get_error(eva_promise *p);

/* The message of a rejected promise; never NULL. */
EVA_API const char *eva_promise_get_message(const eva_promise *p);

/* ---- reactions ------------------------------------------------------------ */

/* When p settles, run on_fulfilled or on_rejected (either may be NULL: then
 * next settles like p).  *next_out (may be NULL if you do not want it)
 * receives a reference to the derived promise; p keeps it (and so the
 * reaction) alive while pending, whether you keep yours or not.  Cancelling
 * next before the reaction ran withdraws it and cancels p.
 * Returns 0, -EINVAL, -ENOMEM (nothing registered). */
EVA_API int eva_promise_then(eva_promise *p, eva_then_fn on_fulfilled, eva_then_fn on_rejected,
                             void *arg, eva_promise **next_out);

/* then(p, NULL, on_rejected). */
EVA_API int eva_promise_catch(eva_promise *p, eva_then_fn on_rejected, void *arg, eva_promise **next_out);

/* Run fn when p settles; next settles like p. */
EVA_API int eva_promise_finally(eva_promise *p, eva_finally_fn fn, void *arg, eva_promise **next_out);

/* ---- awaiting from a task ------------------------------------------------- */

/* AWAIT(f, eva_promise_op(p)): resume when p settles, with 0 if fulfilled or
 * its error code (and message) if rejected.  No allocation: the waiter lives in
 * the task header.  The AWAIT holds its own reference while parked; the task's
 * reference stays the task's to release.  Cancelling the task withdraws the
 * wait (it does not cancel p). */
EVA_API eva_op eva_promise_op(eva_promise *p);

/* ---- promise forms of the other primitives -------------------------------- */

/* A promise fulfilled (with no value) after ms milliseconds; cancellable.
 * Returns 0, -EINVAL (NULL, ms < 0), -ENOMEM. */
EVA_API int eva_sleep_promise(eva_loop *loop, int64_t ms, eva_promise **out);

/* eva_task_spawn, with a promise instead of a callback: it is fulfilled with
 * the frame as its value, or rejected with the task's status and message.
 * The frame lives as long as the promise (it is the promise's value, freed
 * with it), so its results can be read after the task finished.  Cancelling
 * the promise cancels the task. */
EVA_API int eva_task_spawn_promise(eva_loop *loop, size_t frame_size, eva_task_fn fn, const char *name,
                                   void **frame_out, eva_promise **out);

/* The promise form of any awaitable: a loop-owned task awaits op (from the
 * next loop iteration) and the promise settles with its status (no value:
 * results go where the op was told to put them, which must stay valid until
 * the promise settles).  Cancelling the promise cancels the operation.
 * Returns 0, -EINVAL, -ENOMEM. */
EVA_API int eva_promise_from_op(eva_loop *loop, eva_op op, eva_promise **out);

/* ---- combinators ----------------------------------------------------------- */

/* Each takes its own references to the n inputs (the caller keeps its own)
 * and returns a new cancellable promise; cancelling it cancels the inputs
 * still pending.  The pending inputs keep it alive: releasing it does not
 * stop it (see Lifetimes).  Unlike JavaScript, the inputs that can no longer matter are
 * cancelled: the losers of race/any/timeout and the rest of a failed all.
 * eva_promise_get_inputs() lists a combinator's inputs, in order, to read their
 * values or errors.  Errors: -EINVAL (NULL, n > 0 with NULL inputs, an input
 * on another loop), -ENOMEM. */

/* Fulfilled (no value) when all are; rejected like the first that rejects.
 * n == 0: fulfilled. */
EVA_API int eva_promise_all(eva_loop *loop, eva_promise *const *inputs, size_t n, eva_promise **out);

/* Fulfilled (no value) when all have settled; never rejects. */
EVA_API int eva_promise_all_settled(eva_loop *loop, eva_promise *const *inputs, size_t n, eva_promise **out);

/* Settles like the first input to fulfil; rejected with EVA_EALLFAILED only
 * when all reject (read each error through eva_promise_get_inputs). n == 0: rejected. */
EVA_API int eva_promise_any(eva_loop *loop, eva_promise *const *inputs, size_t n, eva_promise **out);

/* Settles like the first input to settle.  n == 0 is -EINVAL: it would never settle. */
EVA_API int eva_promise_race(eva_loop *loop, eva_promise *const *inputs, size_t n, eva_promise **out);

/* Settles like p, unless ms pass first: then rejected with -ETIMEDOUT (message
 * "eva_promise_timeout: time ran out before the promise settled") and p
 * cancelled. */
EVA_API int eva_promise_timeout(eva_promise *p, int64_t ms, eva_promise **out);

/* The inputs of a combinator's promise (NULL and *n = 0 for other promises);
 * borrowed, valid while you hold the combinator's promise. */
EVA_API eva_promise *const *eva_promise_get_inputs(const eva_promise *p, size_t *n);

#ifdef __cplusplus
}
#endif
#endif
