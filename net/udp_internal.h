/* net/udp_internal.h — what the UDP files share. */
#ifndef EVASYNC_UDP_INTERNAL_H
#define EVASYNC_UDP_INTERNAL_H

#include "internal.h"
#include "evasync/udp.h"

/* ---- udp_req.c: the completion every UDP request carries ------------------------
 *
 * The same life as a TCP request (net_internal.h): busy from its start to
 * its completion's delivery; the completion is queued iff its eva_call node
 * is linked; delivering wakes the awaiting task or calls the callback, and
 * reads nothing of the request afterwards (whoever is told may free it). */

struct eva__udp_req_kind {
    eva_wait_ops wait;                           /* what an awaiting task is parked on */
    void (*notify)(eva__udp_req *r, int status); /* call to.cb, cast back to its type */
};

/* Take r for one operation: the callback form's cb (may be NULL), or NULL
 * for the AWAIT form (then eva__udp_req_park or, done at once, busy = false). */
static inline void eva__udp_req_take(eva__udp_req *r, const eva__udp_req_kind *kind, void (*cb)(void)) {
    r->kind = kind;
    r->to.cb = cb;
    r->awaited = false;
    r->busy = true;
    r->status = 0;
}

static inline bool eva__udp_req_queued(const eva__udp_req *r) { return eva__queue_linked(&r->call.node); }

/* Park t on r; obj is what the cancel finds in eva_task_get_wait_obj.
 * Returns EVA_PARKED for the op's start. */
int eva__udp_req_park(eva__udp_req *r, eva_task *t, void *obj);

/* Complete r now (from a loop callback: never inside the start call). */
void eva__udp_req_done(eva_loop *loop, eva__udp_req *r, int status);

/* Queue r's completion (delivered on this or the next loop iteration). */
void eva__udp_req_done_later(eva_loop *loop, eva__udp_req *r, int status);

/* An op whose start fails with rc (a builder's refusal: nothing touched). */
eva_op eva__udp_refused_op(int rc);

/* The promise form over op, built on req (eva__calloc'd): fulfilled with req
 * as its value (freed with the promise) or rejected (req freed); on failure
 * req is freed too.  Returns 0, -EINVAL, -ENOMEM. */
int eva__udp_promise(eva_loop *loop, void *req, eva_op op, eva_promise **out);

/* ---- udp.c ---------------------------------------------------------------------- */

/* -EINVAL unless addr is a whole address of udp's family; 0 for NULL with
 * allow_null (the connected peer). */
int eva__udp_check_addr(const eva_udp *udp, const struct sockaddr *addr, socklen_t addrlen, bool allow_null);

/* ---- udp_recv.c / udp_send.c: readiness, and the cleanup at close ----------------- */

void eva__udp_on_readable(eva_udp *udp);
void eva__udp_recv_abort(eva_udp *udp, int status);
void eva__udp_recv_free_batch(eva_udp *udp);
void eva__udp_on_writable(eva_udp *udp);
void eva__udp_send_abort(eva_udp *udp, int status);

#endif
