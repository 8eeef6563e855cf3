/* async/sync.c — mutex, semaphore, event and bounded channel for tasks.
 *
 * Each is a counter or a ring plus FIFO queues of parked tasks.  Releasing
 * hands the resource to the first waiter at once (so nobody can barge in
 * before it runs) and queues that waiter to resume on the next iteration.
 */
#include <errno.h>

#include "async_internal.h"

/* ---- the wait queue: nodes live in the task headers -------------------------- */

static void q_init(eva_waitq *q) { eva__queue_init(&q->tasks); }

static bool q_busy(const eva_waitq *q) { return !eva__queue_empty(&q->tasks); }

static void q_push(eva_waitq *q, eva_task *t) { eva__queue_insert_tail(&q->tasks, &t->op.waiter.node); }

static eva_task *q_pop(eva_waitq *q) {
    eva_queue *n = eva__queue_pop(&q->tasks);
    return n ? EVA__QUEUE_DATA(n, eva_task, op.waiter.node) : NULL;
}

/* A cancelled waiter leaves its queue holding nothing. */
static void waiter_cancel(eva_task *t) {
    eva__queue_remove(&t->op.waiter.node);
    eva_task_wake_later(t, -ECANCELED);
}

static const eva_wait_ops mutex_wait = {"mutex", waiter_cancel};
static const eva_wait_ops semaphore_wait = {"semaphore", waiter_cancel};
static const eva_wait_ops event_wait = {"event", waiter_cancel};
static const eva_wait_ops channel_wait = {"channel", waiter_cancel};

static int park_on(eva_task *t, eva_waitq *q, const eva_wait_ops *ops) {
    q_push(q, t);
    eva_task_park(t, ops, q);
    return EVA_PARKED;
}

/* Resume every task of q with status. */
static void wake_all(eva_waitq *q, int status) {
    eva_task *t;
    while ((t = q_pop(q)))
        eva_task_wake_later(t, status);
}

static int check_loop(const eva_task *t, const eva_loop *loop) {
    return t->loop == loop ? 0 : -EINVAL;
}

/* ---- mutex --------------------------------------------------------------------- */

int eva_mutex_init(eva_loop *loop, eva_mutex *m) {
    if (!loop || !m)
        return -EINVAL;
    *m = (eva_mutex){.loop = loop};
    q_init(&m->waiters);
    return 0;
}

static int lock_start(eva_task *t, const eva_op *op) {
    eva_mutex *m = op->ptr;
    if (!m || check_loop(t, m->loop) < 0)
        return -EINVAL;
    if (!m->locked) {
        m->locked = true;
        return 0;
    }
    return park_on(t, &m->waiters, &mutex_wait);
}

eva_op eva_mutex_lock_op(eva_mutex *m) { return (eva_op){.start = lock_start, .ptr = m}; }

int eva_mutex_try_lock(eva_mutex *m) {
    if (!m || !m->loop)
        return -EINVAL;
    if (m->locked)
        return -EBUSY;
    m->locked = true;
    return 0;
}

int eva_mutex_unlock(eva_mutex *m) {
    if (!m || !m->loop)
        return -EINVAL;
    if (!m->locked)
        return -EPERM;
    eva_task *next = q_pop(&m->waiters);
    if (next)
        eva_task_wake_later(next, 0); /* it holds the mutex now */
    else
        m->locked = false;
    return 0;
}

int eva_mutex_destroy(eva_mutex *m) {
    if (!m || !m->loop)
        return -EINVAL;
    if (m->locked || q_busy(&m->waiters))
        return -EBUSY;
    m->loop = NULL;
    return 0;
}

/* ---- semaphore ------------------------------------------------------------------ */

int eva_semaphore_init(eva_loop *loop, eva_semaphore *s, size_t permits) {
    if (!loop || !s)
        return -EINVAL;
    *s = (eva_semaphore){.loop = loop, .permits = permits};
    q_init(&s->waiters);
    return 0;
}

static int acquire_start(eva_task *t, const eva_op *op) {
    eva_semaphore *s = op->ptr;
    if (!s || check_loop(t, s->loop) < 0)
        return -EINVAL;
    if (s->permits > 0 && !q_busy(&s->waiters)) {
        s->permits--;
        return 0;
    }
    return park_on(t, &s->waiters, &semaphore_wait);
}

eva_op eva_semaphore_acquire_op(eva_semaphore *s) { return (eva_op){.start = acquire_start, .ptr = s}; }

int eva_semaphore_try_acquire(eva_semaphore *s) {
    if (!s || !s->loop)
        return -EINVAL;
    if (s->permits == 0 || q_busy(&s->waiters))
        return -EBUSY;
    s->permits--;
    return 0;
}

int eva_semaphore_release(eva_semaphore *s) {
    if (!s || !s->loop)
        return -EINVAL;
    eva_task *next = q_pop(&s->waiters);
    if (next)
        eva_task_wake_later(next, 0); /* the permit goes straight to it */
    else
        s->permits++;
    return 0;
}

int eva_semaphore_destroy(eva_semaphore *s) {
    if (!s || !s->loop)
        return -EINVAL;
    if (q_busy(&s->waiters))
        return -EBUSY;
    s->loop = NULL;
    return 0;
}

/* ---- event ------------------------------------------------------------------------ */

int eva_event_init(eva_loop *loop, eva_event *e) {
    if (!loop || !e)
        return -EINVAL;
    *e = (eva_event){.loop = loop};
    q_init(&e->waiters);
    return 0;
}

static int wait_start(eva_task *t, const eva_op *op) {
    eva_event *e = op->ptr;
    if (!e || check_loop(t, e->loop) < 0)
        return -EINVAL;
    return e->set ? 0 : park_on(t, &e->waiters, &event_wait);
}

eva_op eva_event_wait_op(eva_event *e) { return (eva_op){.start = wait_start, .ptr = e}; }

int eva_event_set(eva_event *e) {
    if (!e || !e->loop)
        return -EINVAL;
    e->set = true;
    wake_all(&e->waiters, 0);
    return 0;
}

int eva_event_clear(eva_event *e) {
    if (!e || !e->loop)
        return -EINVAL;
    e->set = false;
    return 0;
}

bool eva_event_is_set(const eva_event *e) { return e && e->set; }

int eva_event_destroy(eva_event *e) {
    if (!e || !e->loop)
        return -EINVAL;
    if (q_busy(&e->waiters))
        return -EBUSY;
    e->loop = NULL;
    return 0;
}

/* ---- channel ---------------------------------------------------------------------- */

int eva_channel_init(eva_loop *loop, eva_channel *ch, size_t capacity) {
    if (!loop || !ch || capacity == 0)
        return -EINVAL;
    void **ring = eva__calloc(capacity, sizeof *ring);
    if (!ring)
        return -ENOMEM;
    *ch = (eva_channel){.loop = loop, .ring = ring, .capacity = capacity};
    q_init(&ch->senders);
    q_init(&ch->receivers);
    return 0;
}

static void ring_put(eva_channel *ch, void *item) {
    ch->ring[(ch->head + ch->count) % ch->capacity] = item;
    ch->count++;
}

static void *ring_take(eva_channel *ch) {
    void *item = ch->ring[ch->head];
    ch->head = (ch->head + 1) % ch->capacity;
    ch->count--;
    return item;
}

/* Send without waiting: straight to a waiting receiver, else into the ring.
 * -EAGAIN when full. */
static int send_now(eva_channel *ch, void *item) {
    if (ch->closed)
        return -EPIPE;
    eva_task *r = q_pop(&ch->receivers);
    if (r) {
        *r->op.waiter.out = item;
        eva_task_wake_later(r, 0);
        return 0;
    }
    if (ch->count == ch->capacity)
        return -EAGAIN;
    ring_put(ch, item);
    return 0;
}

/* Receive without waiting; a freed slot goes to the first waiting sender.
 * -EAGAIN when empty, EVA_EOF when closed and drained. */
static int recv_now(eva_channel *ch, void **item) {
    if (ch->count == 0)
        return ch->closed ? EVA_EOF : -EAGAIN;
    *item = ring_take(ch);
    eva_task *s = q_pop(&ch->senders);
    if (s) {
        ring_put(ch, s->op.waiter.item);
        eva_task_wake_later(s, 0);
    }
    return 0;
}

static int send_start(eva_task *t, const eva_op *op) {
    eva_channel *ch = op->ptr;
    if (!ch || check_loop(t, ch->loop) < 0)
        return -EINVAL;
    int rc = q_busy(&ch->senders) ? -EAGAIN : send_now(ch, t->op.waiter.item);
    if (rc != -EAGAIN)
        return rc;
    return park_on(t, &ch->senders, &channel_wait);
}

static int recv_start(eva_task *t, const eva_op *op) {
    eva_channel *ch = op->ptr;
    if (!ch || check_loop(t, ch->loop) < 0 || !t->op.waiter.out)
        return -EINVAL;
    int rc = recv_now(ch, t->op.waiter.out);
    if (rc != -EAGAIN)
        return rc;
    return park_on(t, &ch->receivers, &channel_wait);
}

/* The operands travel in the op and land in the task header at start. */
static int send_op_start(eva_task *t, const eva_op *op) {
    t->op.waiter.item = (void *)(uintptr_t)op->num;
    return send_start(t, op);
}

static int recv_op_start(eva_task *t, const eva_op *op) {
    t->op.waiter.out = (void **)(uintptr_t)op->num;
    return recv_start(t, op);
}

eva_op eva_channel_send_op(eva_channel *ch, void *item) {
    return (eva_op){.start = send_op_start, .ptr = ch, .num = (int64_t)(uintptr_t)item};
}

eva_op eva_channel_recv_op(eva_channel *ch, void **item) {
    return (eva_op){.start = recv_op_start, .ptr = ch, .num = (int64_t)(uintptr_t)item};
}

int eva_channel_try_send(eva_channel *ch, void *item) {
    if (!ch || !ch->ring)
        return -EINVAL;
    return q_busy(&ch->senders) && !ch->closed ? -EAGAIN : send_now(ch, item);
}

int eva_channel_try_recv(eva_channel *ch, void **item) {
    if (!ch || !ch->ring || !item)
        return -EINVAL;
    return recv_now(ch, item);
}

int eva_channel_close(eva_channel *ch) {
    if (!ch || !ch->ring)
        return -EINVAL;
    ch->closed = true;
    wake_all(&ch->senders, -EPIPE);
    if (ch->count == 0)
        wake_all(&ch->receivers, EVA_EOF);
    return 0;
}

size_t eva_channel_get_count(const eva_channel *ch) { return ch ? ch->count : 0; }

int eva_channel_destroy(eva_channel *ch) {
    if (!ch || !ch->ring)
        return -EINVAL;
    if (q_busy(&ch->senders) || q_busy(&ch->receivers))
        return -EBUSY;
    eva__free(ch->ring);
    ch->ring = NULL;
    ch->loop = NULL;
    return 0;
}
