/* async/op_promise.c — the promise form of any awaitable: a small loop-owned
 * task awaits the op and settles the promise with its status and message.
 * A plain AWAIT, not AWAIT_RC: a failing op then fails the task with the
 * op's own message, which the rejection carries. */
#include <errno.h>

#include "promise_internal.h"

typedef struct op_frame {
    eva_task task;
    eva_op op;
    eva_promise *p; /* the task's reference */
    void *value;    /* the fulfilment's value (disposed of with dtor on a rejection) */
    eva_value_dtor dtor;
} op_frame;

static eva_step op_run(void *frame) {
    op_frame *f = frame;
    ASYNC_BEGIN(f);
    AWAIT(f, f->op);
    ASYNC_END(f);
}

static void op_done(eva_task *t) {
    op_frame *f = (op_frame *)t;
    int rc = eva_task_get_status(t); /* the op's, or -ECANCELED before it ran */
    if (f->p->state == EVA_PROMISE_PENDING) {
        if (rc < 0) {
            eva__promise_settle(f->p, EVA_PROMISE_REJECTED, rc, eva_task_get_message(t), NULL, NULL);
        } else {
            eva__promise_settle(f->p, EVA_PROMISE_FULFILLED, 0, NULL, f->value, f->dtor);
            f->value = NULL; /* the promise's now */
        }
    }
    if (f->value && f->dtor)
        f->dtor(f->value);
    eva_promise_unref(f->p);
}

static void op_cancel(eva_promise *p, void *arg) {
    (void)p;
    eva_task_cancel(arg);
}

int eva_promise_from_op(eva_loop *loop, eva_op op, eva_promise **out) {
    return eva__promise_from_op_value(loop, op, NULL, NULL, out);
}

int eva__promise_from_op_value(eva_loop *loop, eva_op op, void *value, eva_value_dtor dtor,
                               eva_promise **out) {
    if (!loop || !out || !op.start)
        return -EINVAL;
    eva_promise *p;
    int rc = eva__promise_new_for_op(loop, &p);
    if (rc < 0)
        return rc;
    op_frame *f;
    rc = eva_task_spawn(loop, sizeof *f, op_run, "promise_from_op", op_done, (void **)&f);
    if (rc < 0) {
        eva_promise_unref(p);
        return rc;
    }
    f->op = op;
    f->p = p;
    f->value = value;
    f->dtor = dtor;
    eva_promise_set_canceller(p, op_cancel, &f->task);
    *out = eva_promise_ref(p);
    return 0;
}
