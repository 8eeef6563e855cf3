/* async/promise_ops.c — promise forms of sleep and spawn. */
#include <errno.h>
#include <stdalign.h>

#include "promise_internal.h"

/* ---- eva_sleep_promise ----------------------------------------------------------- */

typedef struct sleep_req {
    ev_timer w;
    eva_promise *p; /* a reference, dropped when the request ends */
} sleep_req;

static void sleep_end(sleep_req *req, eva_promise_state state) {
    eva_promise *p = req->p;
    ev_timer_stop(eva_loop_get_ev(p->loop), &req->w);
    eva__free(req);
    if (state == EVA_PROMISE_FULFILLED)
        eva__promise_settle(p, state, 0, NULL, NULL, NULL);
    else
        eva__promise_settle(p, state, -ECANCELED, NULL, NULL, NULL);
    eva_promise_unref(p);
}

static void on_sleep_timer(struct ev_loop *ev, ev_timer *w, int revents) {
    (void)ev;
    (void)revents;
    sleep_end(EVA__CONTAINER_OF(w, sleep_req, w), EVA_PROMISE_FULFILLED);
}

static void sleep_cancel(eva_promise *p, void *arg) {
    (void)p;
    sleep_end(arg, EVA_PROMISE_REJECTED);
}

int eva_sleep_promise(eva_loop *loop, int64_t ms, eva_promise **out) {
    if (!loop || !out || ms < 0)
        return -EINVAL;
    sleep_req *req = eva__calloc(1, sizeof *req);
    if (!req)
        return -ENOMEM;
    int rc = eva__promise_new_for_op(loop, &req->p);
    if (rc < 0) {
        eva__free(req);
        return rc;
    }
    ev_timer_init(&req->w, on_sleep_timer, (double)ms / 1e3, 0.);
    ev_timer_start(eva_loop_get_ev(loop), &req->w);
    eva_promise_set_canceller(req->p, sleep_cancel, req);
    *out = eva_promise_ref(req->p);
    return 0;
}

/* ---- eva_task_spawn_promise ------------------------------------------------ */

/* The frame sits after a header holding the promise, so the task's done
 * callback can find it; the whole block is the promise's value. */
typedef struct spawn_block {
    eva_promise *p; /* the task's reference until it finishes */
} spawn_block;

#define SPAWN_OFFSET ((sizeof(spawn_block) + alignof(max_align_t) - 1) / alignof(max_align_t) * alignof(max_align_t))

static void free_block(void *frame) { eva__free((char *)frame - SPAWN_OFFSET); }

static void on_spawned_done(eva_task *t) {
    spawn_block *b = (spawn_block *)(void *)((char *)t - SPAWN_OFFSET);
    eva_promise *p = b->p;
    int status = eva_task_get_status(t);
    if (status == 0)
        eva__promise_settle(p, EVA_PROMISE_FULFILLED, 0, NULL, t, free_block);
    else /* the frame still goes with the promise, though only as a hidden value */
        eva__promise_settle(p, EVA_PROMISE_REJECTED, status, eva_task_get_message(t), t, free_block);
    eva_promise_unref(p);
}

static void spawned_cancel(eva_promise *p, void *arg) {
    (void)p;
    eva_task_cancel(arg);
}

int eva_task_spawn_promise(eva_loop *loop, size_t frame_size, eva_task_fn fn, const char *name,
                           void **frame_out, eva_promise **out) {
    if (!loop || !fn || !frame_out || !out || frame_size < sizeof(eva_task))
        return -EINVAL;
    spawn_block *b = eva__calloc(1, SPAWN_OFFSET + frame_size);
    if (!b)
        return -ENOMEM;
    int rc = eva__promise_new_for_op(loop, &b->p);
    if (rc < 0) {
        eva__free(b);
        return rc;
    }
    eva_task *t = (eva_task *)(void *)((char *)b + SPAWN_OFFSET);
    eva_task_init(loop, t, fn, name);
    rc = eva_task_start(t, on_spawned_done);
    if (rc < 0) {
        eva_promise_unref(b->p);
        eva__free(b);
        return rc;
    }
    eva_promise_set_canceller(b->p, spawned_cancel, t);
    *frame_out = t;
    *out = eva_promise_ref(b->p);
    return 0;
}
