/* examples/checkout/promise_step.c — the promise styles' one step: an
 * operation's promise, then a reaction, settling the request's promise. */
#include "checkout.h"

int promise_step(eva_loop *loop, eva_op op, eva_then_fn then, void *arg, eva_promise *next) {
    eva_promise *p, *after;
    int rc = eva_promise_from_op(loop, op, &p);
    if (rc < 0)
        return rc;
    rc = eva_promise_then(p, then, NULL, arg, &after); /* a rejection passes on, message and all */
    eva_promise_unref(p);
    if (rc < 0)
        return rc;
    rc = eva_promise_adopt(next, after);
    eva_promise_unref(after);
    return rc;
}
