/* async/req_internal.h — the one completion path of every request
 * (evasync/req.h): taking a request for an operation, parking its awaiting
 * task, delivering its completion now or from the loop, the refused op of a
 * builder, and the promise form. */
#ifndef EVASYNC_REQ_INTERNAL_H
#define EVASYNC_REQ_INTERNAL_H

#include "internal.h"
#include "evasync/req.h"
#include "evasync/promise.h"
#include "evasync/task.h"

struct eva__req_kind {
    eva_wait_ops wait;                    /* what an awaiting task is parked on */
    void (*notify)(eva__req *r, int status); /* call to.cb, cast back to its type */
    /* The AWAIT form's failure message for status (NULL: none); may be NULL. */
    const char *(*message)(const eva__req *r, int status);
};

/* Take r for one operation: the callback form's cb (may be NULL), or NULL
 * for the AWAIT form (then eva__req_park or, done at once, eva__req_idle). */
static inline void eva__req_take(eva__req *r, const eva__req_kind *kind, void (*cb)(void)) {
    r->kind = kind;
    r->to.cb = cb;
    r->awaited = false;
    r->busy = true;
    r->status = 0;
    r->timeout = 0;
}

/* The AWAIT form completed inside its start: r is idle again. */
static inline void eva__req_idle(eva__req *r) { r->busy = false; }

static inline bool eva__req_queued(const eva__req *r) { return eva__queue_linked(&r->call.node); }

/* Park t on r; obj (the request that embeds r, or the handle for a close)
 * is what the cancel finds in eva_task_get_wait_obj.  Returns EVA_PARKED for
 * the op's start. */
int eva__req_park(eva__req *r, eva_task *t, void *obj);

/* Complete r now (from a loop callback: never inside the start call). */
void eva__req_done(eva_loop *loop, eva__req *r, int status);

/* Queue r's completion (delivered on this or the next loop iteration). */
void eva__req_done_later(eva_loop *loop, eva__req *r, int status);

/* An op whose start fails with rc: what a builder returns for a request in
 * flight (-EBUSY) or NULL (-EINVAL), leaving everything untouched. */
eva_op eva__req_refused_op(int rc);

/* The promise form: a loop-owned task awaits op, built on req (allocated
 * with eva__calloc); the promise is fulfilled with req as its value (freed
 * with the promise) or rejected with the status (req freed).  On failure
 * req is freed too.  Returns 0, -EINVAL (NULL loop), -ENOMEM. */
int eva__req_promise(eva_loop *loop, void *req, eva_op op, eva_promise **out);

#endif
