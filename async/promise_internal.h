/* async/promise_internal.h — the promise object, shared by the files that
 * build on it (reactions, combinators, promise forms of the primitives). */
#ifndef EVASYNC_PROMISE_INTERNAL_H
#define EVASYNC_PROMISE_INTERNAL_H

#include "async_internal.h"

typedef struct eva__combinator eva__combinator;

struct eva_promise {
    eva_queue node;             /* the loop's live promises */
    eva_loop *loop;             /* NULL once the loop is destroyed */
    unsigned refs;
    uint8_t state;              /* eva_promise_state */
    bool observed;              /* someone looked at the outcome */
    bool notify_queued;
    bool adopting;              /* waiting for source to settle */
    bool reacted_to;            /* a then/catch/finally result whose reaction has not run */
    bool by_operation;          /* settled only by the operation that made it */
    int code;
    const char *message;
    void *value;
    eva_value_dtor dtor;        /* NULL: value is borrowed (adopted) */
    eva_promise *source;        /* adopted promise (a reference) */
    eva_queue reactions;        /* the reactions to run once it settles */
    eva_reaction adopt_node;    /* our reaction on source */
    eva_call notify;
    eva_promise_canceller canceller;
    void *cancel_arg;
    eva__combinator *comb;      /* combinator state, freed with the promise */
};

/* Link r to p.  A reaction that settles another promise holds a reference
 * to it while linked (see promise.h, "Lifetimes"). */
void eva__reaction_add(eva_promise *p, eva_reaction *r);
void eva__reaction_unlink(eva_reaction *r); /* a no-op if r is on no list */

/* Settle p.  An operation's late outcome for a promise the loop's destroy
 * settled first is dropped (its value disposed of with dtor): a promise
 * settles once. */
void eva__promise_settle(eva_promise *p, eva_promise_state state, int code, const char *message,
                         void *value, eva_value_dtor dtor);

/* Settle p with src's outcome; src's value is borrowed: keep src alive. */
void eva__promise_settle_like(eva_promise *p, eva_promise *src);

/* eva_promise_new for a promise an operation settles (sleep, a spawned task,
 * a pool job, a DNS query, any op): the program may react to it and cancel
 * it, but resolve/reject/adopt refuse it with -EPERM, so the operation's own
 * settling is the only one. */
int eva__promise_new_for_op(eva_loop *loop, eva_promise **out);

/* eva_promise_from_op whose fulfilment carries value (owned by the promise
 * from then on, disposed of with dtor); on a rejection value is disposed of
 * at once.  On an error return nothing is taken: value is still the caller's. */
int eva__promise_from_op_value(eva_loop *loop, eva_op op, void *value, eva_value_dtor dtor,
                               eva_promise **out);

void eva__combinator_free(eva__combinator *c);

#endif
