/* tests/fuzz/fuzz_api.c — random sequences of API calls, checked against a
 * simple model.
 *
 * The input is a program for a driver on a fresh loop, and the programs of
 * the tasks it starts.  Each driver step takes one byte (its operation, the
 * byte modulo the number of operations) and the operands it needs: spawn a
 * task (the next byte is the length of its program, cut from the driver's),
 * cancel one, make, settle, cancel, combine (timeout, all, race) or release
 * a promise, react to one (then / finally), run the loop an iteration, or
 * stop and destroy it.  A task's program is read the same way: sleep,
 * yield, await a promise (settled or pending), eva_promise_timeout, an
 * EVA_ASYNC child or a spawned task (their programs cut from the parent's),
 * lock and unlock a shared mutex, send and receive on a shared channel,
 * open a scope (fail-fast or supervising), spawn into it, join it, cancel
 * it, cancel a task (itself included), fail or return.  The byte's top bit
 * picks AWAIT (a failure unwinds the task) or AWAIT_RC (the program goes on).
 *
 * The model, checked during the run and after eva_loop_destroy (which must
 * succeed): every top-level task's done callback runs exactly once; every
 * task whose body ran runs its finally section exactly once, and before its
 * done callback; a task whose body never ran (cancelled while queued) runs
 * none; every then/finally reaction runs exactly once; no task waits on the
 * mutex or the channel once the loop is gone (their destroy succeeds); every
 * block evasync allocated is freed (test_alloc), and everything else (the
 * EVA_ASYNC frames) by ASan's leak check. */
#include <errno.h>
#include <string.h>

#include "fuzz_loop.h"

enum { SLOTS = 8, MAX_TASKS = 256, MAX_REACTIONS = 128, MAX_DEPTH = 3, MAX_WAITS = 24 };

typedef struct record {
    bool top_level; /* eva_task_spawn: has a done callback */
    int entered;    /* its body ran */
    int finally_runs;
    int done_calls;
} record;

/* A then or finally registered on a promise. */
typedef struct reaction {
    int runs;
    eva_promise *next; /* our reference to the promise then/finally returned */
} reaction;

typedef struct world {
    eva_loop *loop;
    eva_mutex mutex;
    eva_channel channel;
    eva_promise *slot[SLOTS];   /* the driver's references */
    record rec[MAX_TASKS];
    eva_task *live[MAX_TASKS];  /* top-level tasks not yet done */
    int ntasks;
    reaction reactions[MAX_REACTIONS];
    int nreactions;
    int waits;                  /* loop iterations that may wait (bounded: time) */
} world;

typedef struct script script;
struct script {
    eva_task task;
    world *w;
    int id;
    int depth;
    fuzz_input prog;
    uint8_t op;
    int rc;
    bool holds_mutex;
    bool has_scope; /* initialised, not yet joined */
    void *item;
    eva_promise *awaited; /* our reference while awaiting it */
    eva_scope scope;
    script *child;        /* EVA_ASYNC: malloc'd, freed when the AWAIT is done */
};

static eva_step script_run(void *frame);

/* A new task record, or -1 when the table is full. */
static int new_record(world *w, bool top_level) {
    if (w->ntasks == MAX_TASKS)
        return -1;
    w->rec[w->ntasks].top_level = top_level;
    return w->ntasks++;
}

/* A program of (next byte) bytes, cut from prog. */
static fuzz_input cut(fuzz_input *prog) {
    size_t n = fuzz_byte(prog);
    const uint8_t *p = fuzz_bytes(prog, &n);
    return (fuzz_input){p, n};
}

static void fill(script *s, world *w, int id, int depth, fuzz_input prog) {
    s->w = w;
    s->id = id;
    s->depth = depth;
    s->prog = prog;
}

static void on_done(eva_task *t) {
    script *s = (script *)t;
    record *r = &s->w->rec[s->id];
    FUZZ_CHECK(r->top_level);
    FUZZ_CHECK(++r->done_calls == 1);
    FUZZ_CHECK(r->finally_runs == r->entered); /* the finally ran first, if the body did */
    FUZZ_CHECK(eva_task_get_status(t) <= 0);
    s->w->live[s->id] = NULL;
}

static void spawn(world *w, int depth, fuzz_input prog) {
    int id = new_record(w, true);
    if (id < 0)
        return;
    script *s;
    if (eva_task_spawn(w->loop, sizeof *s, script_run, "fuzz", on_done, (void **)&s) < 0) {
        w->rec[id].done_calls = 1; /* never started: nothing to wait for */
        return;
    }
    fill(s, w, id, depth, prog);
    w->live[id] = &s->task;
}

static void spawn_in_scope(script *f, fuzz_input prog) {
    int id = new_record(f->w, false);
    script *s;
    if (id >= 0 && eva_scope_spawn(&f->scope, sizeof *s, script_run, "child", (void **)&s) == 0)
        fill(s, f->w, id, f->depth + 1, prog);
}

static eva_task *pick_task(world *w, uint8_t b) {
    for (int i = 0; i < w->ntasks; i++) {
        eva_task *t = w->live[(b + i) % w->ntasks];
        if (t)
            return t;
    }
    return NULL;
}

static void set_slot(world *w, uint8_t b, eva_promise *p) {
    eva_promise_unref(w->slot[b % SLOTS]);
    w->slot[b % SLOTS] = p;
}

/* ---- reactions ---------------------------------------------------------------------------------- */

static void reacted(reaction *r, eva_promise *settled) {
    FUZZ_CHECK(++r->runs == 1);
    FUZZ_CHECK(eva_promise_get_state(settled) != EVA_PROMISE_PENDING);
}

static int on_then(void *arg, eva_promise *settled, eva_promise *next) {
    (void)next;
    reacted(arg, settled);
    return 0;
}

static void on_finally(void *arg, eva_promise *settled) { reacted(arg, settled); }

static void react(world *w, eva_promise *p, bool finally) {
    if (!p || w->nreactions == MAX_REACTIONS)
        return;
    reaction *r = &w->reactions[w->nreactions];
    int rc = finally ? eva_promise_finally(p, on_finally, r, &r->next)
                     : eva_promise_then(p, on_then, on_then, r, &r->next);
    if (rc == 0)
        w->nreactions++;
}

/* After the loop is gone: every reaction ran once, except those whose
 * promise was released unsettled by its last holder (promise.h, rule 6):
 * they never run, and the promise then/finally returned says why. */
static void check_reaction(reaction *r) {
    FUZZ_CHECK(eva_promise_get_state(r->next) != EVA_PROMISE_PENDING);
    if (r->runs == 1)
        return;
    FUZZ_CHECK(r->runs == 0);
    FUZZ_CHECK(eva_promise_get_error(r->next) == -ECANCELED);
    FUZZ_CHECK(strcmp(eva_promise_get_message(r->next), "the promise was released before it settled") == 0);
}

/* ---- promises, from the driver or a task ----------------------------------------------------- */

enum { P_NEW, P_RESOLVE, P_REJECT, P_CANCEL, P_UNREF, P_TIMEOUT, P_SLEEP, P_ALL, P_RACE, P_THEN,
       P_FINALLY, P_OPS };

static void promise_step(world *w, fuzz_input *in) {
    uint8_t op = fuzz_byte(in) % P_OPS, a = fuzz_byte(in), b = fuzz_byte(in);
    eva_promise *p = w->slot[a % SLOTS], *q = w->slot[b % SLOTS], *out = NULL;
    if (op == P_NEW && eva_promise_new(w->loop, &out) == 0)
        set_slot(w, a, out);
    else if (op == P_RESOLVE && p)
        (void)eva_promise_resolve(p, NULL, NULL); /* -EALREADY, -EPERM: fine */
    else if (op == P_REJECT && p)
        (void)eva_promise_reject(p, -EIO, "fuzz: rejected");
    else if (op == P_CANCEL && p)
        (void)eva_promise_cancel(p);
    else if (op == P_UNREF)
        set_slot(w, a, NULL);
    else if (op == P_TIMEOUT && p && eva_promise_timeout(p, b % 3, &out) == 0)
        set_slot(w, b, out);
    else if (op == P_SLEEP && eva_sleep_promise(w->loop, b % 3, &out) == 0)
        set_slot(w, a, out);
    else if ((op == P_ALL || op == P_RACE) && p && q) {
        eva_promise *in2[2] = {p, q};
        int rc = op == P_ALL ? eva_promise_all(w->loop, in2, 2, &out) : eva_promise_race(w->loop, in2, 2, &out);
        if (rc == 0)
            set_slot(w, a + 1, out);
    } else if (op == P_THEN || op == P_FINALLY)
        react(w, p, op == P_FINALLY);
}

/* ---- the task ------------------------------------------------------------------------------------ */

enum { T_SLEEP, T_YIELD, T_PROMISE, T_TIMEOUT, T_CHILD, T_SPAWN, T_LOCK, T_UNLOCK, T_SEND, T_RECV,
       T_SCOPE, T_SCOPE_SPAWN, T_JOIN, T_SCOPE_CANCEL, T_CANCEL, T_PROMISE_STEP, T_FAIL, T_RETURN,
       T_OPS };

/* AWAIT or AWAIT_RC, as the operation byte's top bit says. */
#define STEP(f, awaitable)                   \
    do {                                     \
        if ((f)->op & 0x80)                  \
            AWAIT(f, awaitable);             \
        else                                 \
            AWAIT_RC(f, (f)->rc, awaitable); \
    } while (0)

/* The promise a T_PROMISE or T_TIMEOUT waits for (a reference), or NULL. */
static eva_promise *to_await(script *f, bool timeout) {
    eva_promise *p = f->w->slot[fuzz_byte(&f->prog) % SLOTS], *t = NULL;
    if (!p)
        return NULL;
    if (!timeout)
        return eva_promise_ref(p);
    return eva_promise_timeout(p, fuzz_byte(&f->prog) % 3, &t) == 0 ? t : NULL;
}

static script *new_child(script *f) {
    fuzz_input prog = cut(&f->prog);
    int id = f->depth < MAX_DEPTH ? new_record(f->w, false) : -1;
    script *c = id >= 0 ? calloc(1, sizeof *c) : NULL;
    if (c)
        fill(c, f->w, id, f->depth + 1, prog);
    return c;
}

static eva_step script_run(void *frame) {
    script *f = frame;
    ASYNC_BEGIN(f);
    FUZZ_CHECK(++f->w->rec[f->id].entered == 1);
    while (f->prog.n > 0) {
        f->op = fuzz_byte(&f->prog);
        uint8_t op = (f->op & 0x7f) % T_OPS;
        if (op == T_SLEEP) {
            STEP(f, eva_sleep_op(fuzz_byte(&f->prog) % 3));
        } else if (op == T_YIELD) {
            YIELD(f);
        } else if (op == T_PROMISE || op == T_TIMEOUT) {
            f->awaited = to_await(f, op == T_TIMEOUT);
            if (f->awaited)
                STEP(f, eva_promise_op(f->awaited));
            eva_promise_unref(f->awaited);
            f->awaited = NULL;
        } else if (op == T_CHILD) {
            f->child = new_child(f);
            if (f->child)
                STEP(f, EVA_ASYNC(script_run, f->child));
            free(f->child);
            f->child = NULL;
        } else if (op == T_SPAWN) {
            fuzz_input prog = cut(&f->prog);
            if (f->depth < MAX_DEPTH)
                spawn(f->w, f->depth + 1, prog);
        } else if (op == T_LOCK && !f->holds_mutex) {
            STEP(f, eva_mutex_lock_op(&f->w->mutex));
            f->holds_mutex = f->rc == 0 || (f->op & 0x80);
        } else if (op == T_UNLOCK && f->holds_mutex) {
            FUZZ_CHECK(eva_mutex_unlock(&f->w->mutex) == 0);
            f->holds_mutex = false;
        } else if (op == T_SEND) {
            STEP(f, eva_channel_send_op(&f->w->channel, f));
        } else if (op == T_RECV) {
            STEP(f, eva_channel_recv_op(&f->w->channel, &f->item));
        } else if (op == T_SCOPE && !f->has_scope) {
            eva_scope_mode mode = (f->op & 0x80) ? EVA_SCOPE_SUPERVISE : EVA_SCOPE_FAIL_FAST;
            f->has_scope = eva_scope_init_mode(&f->scope, &f->task, mode) == 0;
        } else if (op == T_SCOPE_SPAWN && f->has_scope) {
            fuzz_input prog = cut(&f->prog);
            spawn_in_scope(f, f->depth < MAX_DEPTH ? prog : (fuzz_input){NULL, 0});
        } else if (op == T_JOIN && f->has_scope) {
            f->has_scope = false; /* joined, whatever the join returns */
            STEP(f, eva_scope_join_op(&f->scope));
        } else if (op == T_SCOPE_CANCEL && f->has_scope) {
            FUZZ_CHECK(eva_scope_cancel(&f->scope) == 0);
        } else if (op == T_CANCEL) {
            uint8_t b = fuzz_byte(&f->prog);
            eva_task *t = (b & 1) ? &f->task : pick_task(f->w, b >> 1);
            if (t)
                FUZZ_CHECK(eva_task_cancel(t) == 0);
        } else if (op == T_PROMISE_STEP) {
            promise_step(f->w, &f->prog);
        } else if (op == T_FAIL) {
            ASYNC_FAIL(f, -EIO, "fuzz: failed");
        } else if (op == T_RETURN) {
            ASYNC_RETURN(f, 0);
        }
    }
    ASYNC_FINALLY(f);
    FUZZ_CHECK(++f->w->rec[f->id].finally_runs == 1);
    if (f->holds_mutex)
        FUZZ_CHECK(eva_mutex_unlock(&f->w->mutex) == 0);
    eva_promise_unref(f->awaited);
    free(f->child); /* an EVA_ASYNC child is done before its parent unwinds */
    ASYNC_END(f);
}

/* ---- the driver ---------------------------------------------------------------------------------- */

enum { D_SPAWN, D_CANCEL, D_PROMISE, D_RUN_NOWAIT, D_RUN_ONCE, D_END, D_OPS };

static void on_guard(eva_timer *t) { (void)t; }

/* One iteration that may wait for a sleep to end, at most 3 ms. */
static void run_once(world *w) {
    if (w->waits++ >= MAX_WAITS)
        return;
    eva_timer guard;
    FUZZ_CHECK(eva_timer_init(w->loop, &guard) == 0);
    FUZZ_CHECK(eva_timer_start(&guard, 3, 0, on_guard, NULL) == 0);
    FUZZ_CHECK(eva_loop_run(w->loop, EVA_RUN_ONCE) >= 0);
    eva_timer_stop(&guard);
}

static void drive(world *w, fuzz_input *in) {
    while (in->n > 0) {
        uint8_t op = fuzz_byte(in) % D_OPS;
        if (op == D_SPAWN)
            spawn(w, 0, cut(in));
        else if (op == D_CANCEL) {
            eva_task *t = pick_task(w, fuzz_byte(in));
            if (t)
                FUZZ_CHECK(eva_task_cancel(t) == 0);
        } else if (op == D_PROMISE)
            promise_step(w, in);
        else if (op == D_RUN_NOWAIT)
            FUZZ_CHECK(eva_loop_run(w->loop, EVA_RUN_NOWAIT) >= 0);
        else if (op == D_RUN_ONCE)
            run_once(w);
        else
            return;
    }
}

static void check_model(world *w) {
    for (int i = 0; i < w->ntasks; i++) {
        const record *r = &w->rec[i];
        FUZZ_CHECK(r->finally_runs == r->entered);
        if (r->top_level)
            FUZZ_CHECK(r->done_calls == 1);
    }
    for (int i = 0; i < w->nreactions; i++)
        check_reaction(&w->reactions[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static world w;
    memset(&w, 0, sizeof w);
    fuzz_input in = {data, size};
    w.loop = fuzz_loop_new();
    FUZZ_CHECK(eva_mutex_init(w.loop, &w.mutex) == 0);
    FUZZ_CHECK(eva_channel_init(w.loop, &w.channel, 1 + fuzz_byte(&in) % 3) == 0);
    drive(&w, &in);
    fuzz_loop_destroy(w.loop);
    check_model(&w);
    FUZZ_CHECK(eva_mutex_destroy(&w.mutex) == 0);
    FUZZ_CHECK(eva_channel_destroy(&w.channel) == 0);
    for (int i = 0; i < SLOTS; i++)
        eva_promise_unref(w.slot[i]);
    for (int i = 0; i < w.nreactions; i++)
        eva_promise_unref(w.reactions[i].next);
    fuzz_check_freed();
    return 0;
}
