/* evasync/task.h — tasks: C functions compiled into state machines.
 *
 * FIRST RULE: a task function returns to the loop at every AWAIT and is
 * called again when the awaited thing settles, so its C locals do NOT survive
 * an AWAIT.  Everything that must live across an AWAIT belongs in the frame:
 * the struct whose first member is the eva_task.  The classic mistake:
 *
 *     static eva_step bad(void *frame) {
 *         struct job *j = frame;
 *         int i;                          // a C local...
 *         ASYNC_BEGIN(j);
 *         for (i = 0; i < 3; i++)         // ...re-entered with garbage in i
 *             AWAIT(j, eva_sleep_op(10));
 *         ASYNC_END(j);
 *     }
 *
 * The fix is `int i;` inside struct job, and `j->i` in the loop.  (The
 * pointer `j` itself is fine: it is recomputed on every entry.)
 *
 * The mechanism is protothreads': ASYNC_BEGIN jumps to the resume point stored
 * in the frame, AWAIT stores its own resume point and returns, ASYNC_END marks
 * the task done.  Resume points are labels-as-values on GCC/Clang (no switch:
 * like protothreads' lc-addrlabels), or switch/case labels when
 * EVA_AWAIT_SWITCH is defined or the compiler is not GNU (standard C).  The
 * rules that follow from it, and what checks them, are listed with the macros
 * below ("the macros").
 *
 * A task has one result: status 0, or a negative error code plus a message.
 * Values live in the frame, where whoever awaited the task can read them.
 *
 * Awaits that never allocate: eva_sleep_op (the timer lives in the task
 * header), YIELD, AWAIT_UNTIL, and EVA_ASYNC (the child's frame is a member of
 * the parent's).  Loop thread only, like everything else on a loop.
 */
#ifndef EVASYNC_TASK_H
#define EVASYNC_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <ev.h>

#include "export.h"
#include "queue.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eva_loop eva_loop;
typedef struct eva_task eva_task;
typedef struct eva_promise eva_promise;
typedef struct eva_scope eva_scope;

/* What a task function returns to the runtime: use the macros, not these. */
typedef enum eva_step {
    EVA_STEP_PARKED = 1, /* suspended at an AWAIT */
    EVA_STEP_UNWIND = 2, /* failing or returning early: run the finally section */
    EVA_STEP_DONE   = 3  /* reached ASYNC_END */
} eva_step;

/* A task function.  frame is the struct whose first member is the eva_task. */
typedef eva_step (*eva_task_fn)(void *frame);

/* Called on the loop thread when a started top-level task has finished
 * (status in eva_task_get_status()).  The frame may be freed or restarted from
 * here unless it came from eva_task_spawn (then the loop frees it after this
 * returns). */
typedef void (*eva_task_done_fn)(eva_task *task);

/* Where an AWAIT sits: one static, read-only record per AWAIT in the program. */
/* eva_site: 32 bytes on x86_64, all public (ABI: tests/test_struct_sizes.c). */
typedef struct eva_site {
    void *label;      /* resume address (labels-as-values build) */
    int index;        /* resume case (switch build) */
    int line;
    const char *file;
    const char *expr; /* the awaited expression, as written */
} eva_site;

/* What a parked task waits on: a kind for diagnostics, and how to cancel it.
 * The task is woken exactly once, by whichever path owns the operation's end:
 *  - if the operation's completion is already queued (it finished, or failed,
 *    and will wake the task on a later callback), cancel() leaves it alone:
 *    the task gets that result, and its next AWAIT fails with -ECANCELED;
 *  - if the operation will report through a completion of its own (a read,
 *    a pool job, a close), cancel() makes it complete with -ECANCELED;
 *  - otherwise cancel() withdraws it entirely, so nothing of it can run
 *    later, and wakes the task with eva_task_wake_later(task, -ECANCELED).
 * Never both: a task woken while its operation's completion is still queued
 * may finish, and its frame be freed, before that completion runs.
 * cancel() never runs the task itself. */
/* eva_wait_ops: 16 bytes on x86_64, all public (ABI: tests/test_struct_sizes.c). */
typedef struct eva_wait_ops {
    const char *kind; /* "timer", "yield", "task", "promise", "read", ... */
    void (*cancel)(eva_task *task);
} eva_wait_ops;

/* An awaitable: what AWAIT starts.  start() either finishes at once and
 * returns the status (0 or a negative code), or parks the task with
 * eva_task_park() and returns EVA_PARKED; the operation then calls
 * eva_task_wake() exactly once, from a later loop callback. */
/* eva_op: 24 bytes on x86_64, all public (ABI: tests/test_struct_sizes.c). */
typedef struct eva_op {
    int (*start)(eva_task *task, const struct eva_op *op);
    void *ptr;
    int64_t num;
} eva_op;

/* What an eva_op's start returns when it parked the task (see above). */
#define EVA_PARKED 1

/* Where a task is in its life (eva_task_get_state). */
typedef enum eva_task_state {
    EVA_TASK_IDLE,      /* initialised, not started (or finished and reusable) */
    EVA_TASK_QUEUED,    /* started or woken; runs on the next loop iteration */
    EVA_TASK_RUNNING,   /* its function is on the stack */
    EVA_TASK_SUSPENDED, /* parked at an AWAIT */
    EVA_TASK_DONE
} eva_task_state;

/* A promise reaction (private to the promise code): a node in a promise's
 * list of what to run once it settles.  An awaiting task's node lives in its
 * header; settled == NULL means the promise was released unsettled. */
typedef struct eva_reaction { /* 24 bytes on x86_64 */
    /* private: */
    eva_queue node;            /* the promise's reactions */
    void (*run)(struct eva_reaction *r, eva_promise *settled);
} eva_reaction;

/* The task header: 128 bytes on x86_64, and it must stay <= 128 (ABI and
 * cache footprint: tests/test_struct_sizes.c, bench/await_cost prints it).
 * Every field is private; read it through the functions below. */
struct eva_task {
    /* private: */
    eva_queue node;            /* the loop's top-level tasks, or a scope's children */
    eva_loop *loop;
    eva_task_fn fn;
    const char *name;
    const eva_site *site;      /* the AWAIT it is parked at (NULL: not yet) */
    const eva_wait_ops *wait;  /* what it is parked on (NULL: nothing) */
    union {
        void *wait_obj;        /* while parked: the object awaited */
        eva_task *next_ready;  /* while queued: the loop's ready list */
        const char *message;   /* once failed: the error message */
    } u;
    union {
        eva_task *awaiter;     /* nested (EVA_ASYNC) task: the parent */
        eva_task_done_fn done; /* top-level task: the completion callback */
        eva_scope *scope;      /* child of a scope */
    } up;
    union {
        int status;            /* last await's status, then the final one */
        uint32_t parked_ms;    /* while parked: since when (eva_now, mod 2^32) */
    };
    uint8_t state;             /* eva_task_state */
    uint8_t reserved;
    uint16_t flags;            /* private EVA__TASK_* bits */
    union {
        ev_timer timer;        /* eva_sleep_op */
        eva_reaction reaction; /* eva_promise_op */
        struct {               /* evasync/sync.h: a wait-queue node */
            eva_queue node;
            void *item;        /* channel send: the item to hand over */
            void **out;        /* channel receive: where it goes */
        } waiter;
    } op;                      /* the awaited operation's state, when it fits */
};

/* ---- starting, cancelling, reading the result ------------------------- */

/* Prepare a caller-owned frame's task.  name (for diagnostics) must outlive
 * the task; NULL means "task".  Never re-init a started, unfinished task.
 * Returns 0, or -EINVAL (NULL loop, task or fn). */
EVA_API int eva_task_init(eva_loop *loop, eva_task *task, eva_task_fn fn, const char *name);

/* Start a top-level task: its first step runs on the next loop iteration, so
 * the caller may still fill in the frame.  done (may be NULL) runs when it
 * finishes.  While unfinished, the task keeps eva_loop_run() running, and
 * eva_loop_destroy() cancels it and runs its finally section.
 * Returns 0; -EINVAL (NULL or uninitialised task); -EBUSY (already started
 * and not done); -ENOMEM; -ECANCELED (the loop is being destroyed). */
EVA_API int eva_task_start(eva_task *task, eva_task_done_fn done);

/* Allocate a zeroed frame of frame_size bytes (>= sizeof(eva_task); the task
 * must be its first member), init and start it.  The loop owns the frame:
 * it is freed right after done returns (or at loop destroy).  *frame_out is
 * set so the caller can fill in the frame before the first step runs.
 * Returns 0, -EINVAL, -ENOMEM or -ECANCELED. */
EVA_API int eva_task_spawn(eva_loop *loop, size_t frame_size, eva_task_fn fn, const char *name,
                           eva_task_done_fn done, void **frame_out);

/* Request cancellation.  A parked task has its operation withdrawn (timer
 * stopped, child cancelled, ...) and is resumed with -ECANCELED on a later
 * iteration; a running task sees -ECANCELED at its next AWAIT; a queued task
 * that never ran finishes with -ECANCELED without running.  AWAIT then
 * unwinds through the finally section and the task finishes with -ECANCELED
 * (AWAIT_RC hands the code to the task, which should finish soon).  Never runs
 * task code inside this call.  Idempotent; cancelling a finished or idle task
 * does nothing.  Returns 0, or -EINVAL. */
EVA_API int eva_task_cancel(eva_task *task);

/* The final status (0 or a negative code) of a finished task; -EINPROGRESS
 * before it finishes; -EINVAL for NULL. */
EVA_API int eva_task_get_status(const eva_task *task);

/* The final error message: the one given to ASYNC_FAIL or propagated from an
 * awaited task, else eva_strerror(status).  Never NULL. */
EVA_API const char *eva_task_get_message(const eva_task *task);

/* Idle, queued, running, suspended or done. */
EVA_API eva_task_state eva_task_get_state(const eva_task *task);

/* The AWAIT the task last reached (file, line, awaited expression): where it
 * is parked while suspended.  NULL before its first AWAIT. */
EVA_API const eva_site *eva_task_get_site(const eva_task *task);
EVA_API const char *eva_task_get_name(const eva_task *task);

/* The loop the task belongs to (NULL for NULL or a task never initialised). */
EVA_API eva_loop *eva_task_get_loop(const eva_task *task);

/* ---- fairness: the cooperative budget ----------------------------------- */

/* An AWAIT whose operation can complete at once (the bytes are already in
 * the socket, the promise is settled, the lock is free) does not return to
 * the loop: that is what makes it cheap.  So that one task whose operations
 * keep completing at once (a client pipelining requests flat out) cannot
 * hold the loop, each dispatch of a task may complete at most `ops`
 * operations at once; the AWAIT that uses up the budget keeps its result,
 * but the task yields to the loop there (it resumes on the next iteration,
 * after IO and the other ready tasks), as tokio's coop budget does.  A task
 * that suspends for real gets a fresh budget when it is woken.  The budget
 * is shared by nested (EVA_ASYNC) tasks running in one dispatch.
 *
 * Default: EVA_TASK_BUDGET_DEFAULT operations.  ops == 0 means unlimited.
 * Returns 0, -EINVAL (NULL loop) or -ENOMEM. */
enum { EVA_TASK_BUDGET_DEFAULT = 32 };
EVA_API int eva_task_set_budget(eva_loop *loop, unsigned ops);

/* How many times a task on this loop was made to yield by the budget. */
EVA_API uint64_t eva_task_get_budget_yields(eva_loop *loop);

/* ---- awaitables -------------------------------------------------------- */

/* Sleep for ms milliseconds (from the loop's cached time, like eva_timer).
 * No allocation: the timer is in the task header.  -EINVAL if ms < 0. */
EVA_API eva_op eva_sleep_op(int64_t ms);

/* Run a nested async function whose frame is a member of the caller's frame;
 * its status (and message) become the AWAIT's.  The child's task header is
 * (re)initialised by the AWAIT; set the child's inputs in its frame first.
 * The child's header must be zeroed (as every frame from eva_task_spawn is;
 * zero your own frames: `= {0}`, calloc) or finished, because a child that
 * is running (awaited by another task) is left untouched: the AWAIT fails
 * with -EBUSY.  -EINVAL for a NULL child or fn. */
EVA_API eva_op eva_task_call_op(eva_task *child, eva_task_fn fn);
#define EVA_ASYNC(fn, child_frame) eva_task_call_op(&(child_frame)->task, (fn))

/* AWAIT(f, p) with a promise pointer p is AWAIT(f, eva_promise_op(p)):
 * see evasync/promise.h. */
EVA_API eva_op eva_promise_op(eva_promise *p);

/* ---- for implementers of awaitables (net/, promises, pool) ------------ */

/* Park task on an operation; call from an eva_op start function. */
EVA_API void eva_task_park(eva_task *task, const eva_wait_ops *ops, void *obj);

/* The operation the task is parked on completed: resume the task now, inside
 * this call (from a loop callback, never from start()).  message may be NULL. */
EVA_API void eva_task_wake(eva_task *task, int status, const char *message);

/* Resume the task with status on the next loop iteration instead. */
EVA_API void eva_task_wake_later(eva_task *task, int status);

/* The object passed to eva_task_park (NULL when not parked). */
EVA_API void *eva_task_get_wait_obj(const eva_task *task);

/* ---- the macros -------------------------------------------------------- */

/* The rules the macros enforce (docs/async.md, "Rules"):
 *  - Every macro's f is the frame pointer given to ASYNC_BEGIN.  A frame of
 *    another type does not compile (GCC/Clang; other compilers reject a
 *    non-frame); another frame of the same type fails the task at run time
 *    with -EFAULT, logged with the macro's file:line.
 *  - No `break` or `continue` at the top level of the body.  With label
 *    resume points (GCC/Clang) it does not compile: the body is no loop or
 *    switch.  In the switch fallback it leaves the body; the task then fails
 *    with -EFAULT, logged with ASYNC_END's file:line.
 *  - Switch fallback only: no AWAIT inside a switch statement of your own
 *    (its resume `case` would belong to your switch).  Resuming there fails
 *    the task with -EFAULT, logged with the AWAIT's file:line.
 *  - No AWAIT in the finally section: it fails at once with -ECANCELED and
 *    is logged with its file:line; the task keeps its original result (a
 *    success becomes -ECANCELED).
 * Every such failure runs the finally section (unless it is the one that
 * broke) and is reported through the loop's log hook at EVA_LOG_ERROR. */

/* Private helpers behind the macros: exported (EVA_API) only because the
 * macros expand to calls of them in user code; never call them directly. */
EVA_API int eva__await_begin(eva_task *task, const eva_site *site, eva_op op);
EVA_API int eva__await_end(eva_task *task);
EVA_API eva_step eva__task_fail(eva_task *task, int status, const char *message);
EVA_API eva_step eva__task_propagate(eva_task *task, int status);
EVA_API void eva__task_finally(eva_task *task);
EVA_API eva_step eva__task_end(eva_task *task);
EVA_API bool eva__task_unwinding(const eva_task *task);
EVA_API eva_step eva__task_wrong_frame(eva_task *task, const char *file, int line);
EVA_API eva_step eva__task_no_resume_point(eva_task *task);
EVA_API eva_step eva__task_left_body(eva_task *task, const char *file, int line);
EVA_API eva_op eva__yield_op(void);

static inline eva_op eva__op_self(eva_op op) { return op; }

/* AWAIT's operand: an eva_op, or a promise pointer (C11 _Generic). */
#define EVA__AS_OP(x) _Generic((x), eva_promise *: eva_promise_op, default: eva__op_self)(x)

/* __COUNTER__ is not ISO C, but GCC, Clang, MSVC and ICC have it; without it
 * resume points fall back to __LINE__ (then: one AWAIT per line). */
#ifdef __COUNTER__
#define EVA__COUNTER __COUNTER__
#else
#define EVA__COUNTER __LINE__
#endif

#define EVA__CAT2(a, b) a##b
#define EVA__CAT(a, b) EVA__CAT2(a, b)

/* The frame checks.  GNU C compares the frame's type with ASYNC_BEGIN's
 * (remembered as a local typedef); standard C can only insist on a pointer
 * to something whose `task` is an eva_task (a constraint violation, else). */
#if defined(__GNUC__)
#define EVA__CHECK_FRAME(f)                                                   \
    _Static_assert(__builtin_offsetof(__typeof__(*(f)), task) == 0,           \
                   "the eva_task must be the first member of the frame");     \
    typedef __typeof__(f) eva__frame_type;
#define EVA__SAME_FRAME_TYPE(f)                                               \
    _Static_assert(__builtin_types_compatible_p(__typeof__(f), eva__frame_type), \
                   "the frame given to this macro is not the one given to ASYNC_BEGIN");
#else
#define EVA__CHECK_FRAME(f)
#define EVA__SAME_FRAME_TYPE(f) (void)sizeof(&(f)->task == eva__t);
#endif

/* Every macro but ASYNC_BEGIN: the frame is ASYNC_BEGIN's, by type at
 * compile time and by address at run time (which the compiler folds away
 * when f is the pointer ASYNC_BEGIN got). */
#define EVA__USE_FRAME(f)                                                     \
    do {                                                                      \
        EVA__SAME_FRAME_TYPE(f)                                               \
        if (&(f)->task != eva__t)                                             \
            return eva__task_wrong_frame(eva__t, __FILE__, __LINE__);         \
    } while (0)

#if defined(__GNUC__) && (__GNUC__ >= 7 || defined(__clang__))
#define EVA__FALLTHROUGH __attribute__((fallthrough));
#else
#define EVA__FALLTHROUGH
#endif

#if defined(EVA_AWAIT_SWITCH) || !defined(__GNUC__)
/* Standard C: the body is one switch.  Resume points are its cases,
 * numbered densely from a __COUNTER__ base taken in ASYNC_BEGIN (so two
 * AWAITs on a line are fine); the finally section is case -1.  Whatever
 * reaches `default` or falls out of the switch is a misuse (see above),
 * except unwinding into a body that has no finally section. */
#define EVA__SITE_INIT(n) NULL, (n) - eva__base
#define EVA__RESUME_POINT(n) case (n) - eva__base:

/* ASYNC_BEGIN(f): open the task body.  f is the frame pointer (a struct
 * with `eva_task task` as its first member); every other macro gets the
 * same f.  (Defined once per resume-point mode: here and below.) */
#define ASYNC_BEGIN(f)                                                        \
    EVA__CHECK_FRAME(f)                                                       \
    enum { eva__base = EVA__COUNTER };                                        \
    eva_task *const eva__t = &(f)->task;                                      \
    switch (eva__task_unwinding(eva__t) ? -1                                  \
            : eva__t->site ? eva__t->site->index : 0) {                       \
    case 0:

#define EVA__FINALLY_ENTRY EVA__FALLTHROUGH case -1:

#define EVA__END                                                              \
    default:                                                                  \
        return eva__task_no_resume_point(eva__t);                             \
    }                                                                         \
    return eva__task_left_body(eva__t, __FILE__, __LINE__)
#else
/* GCC/Clang: no switch at all (so a stray `break` cannot compile).  Resume
 * points are label addresses stored in the sites.  The body is a block; so
 * is the finally section, which declares its own local label eva__finally:
 * the unwinding jump (eva__unwind, at the end of the last block) finds that
 * one if ASYNC_FINALLY was used, else the function's, right before the end.
 * The GNU syntax sits behind __extension__ or a pragma, so -pedantic
 * consumers get no warnings. */
#define EVA__SITE_INIT(n) __extension__ &&EVA__CAT(eva__resume_, n), 0
#define EVA__RESUME_POINT(n) EVA__CAT(eva__resume_, n):

#define ASYNC_BEGIN(f)                                                        \
    EVA__CHECK_FRAME(f)                                                       \
    eva_task *const eva__t = &(f)->task;                                      \
    if (eva__task_unwinding(eva__t))                                          \
        goto eva__unwind;                                                     \
    if (eva__t->site)                                                         \
        __extension__({                                                       \
            (void)&&eva__unwind; /* clang: one label address per function */  \
            goto *eva__t->site->label;                                        \
        });                                                                   \
    {

#define EVA__PEDANTIC_OFF                                                     \
    _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wpedantic\"")
#define EVA__PEDANTIC_ON _Pragma("GCC diagnostic pop")

/* eva__finally_once: a second ASYNC_FINALLY is a duplicate label. */
#define EVA__FINALLY_ENTRY                                                    \
    }                                                                         \
    eva__finally_once: __attribute__((unused));                               \
    EVA__PEDANTIC_OFF {                                                       \
    __label__ eva__finally;                                                   \
    EVA__PEDANTIC_ON                                                          \
    eva__finally:

#define EVA__END                                                              \
    eva__unwind:                                                              \
        goto eva__finally;                                                    \
    }                                                                         \
    eva__finally: __attribute__((unused));                                    \
    return eva__task_end(eva__t)
#endif

/* The core of every AWAIT: start op; if it parked, return to the loop and
 * come back here with its status in rc.  rc is not written while the task
 * is parked (the header's status slot then holds the parking time). */
#define EVA__AWAIT(f, op, rc, n)                                              \
    do {                                                                      \
        EVA__USE_FRAME(f);                                                    \
        static const eva_site EVA__CAT(eva__site_, n) = {                     \
            EVA__SITE_INIT(n), __LINE__, __FILE__, #op};                      \
        int eva__rc = eva__await_begin(eva__t, &EVA__CAT(eva__site_, n), EVA__AS_OP(op)); \
        if (eva__rc == EVA_PARKED) {                                          \
            return EVA_STEP_PARKED;                                           \
            EVA__RESUME_POINT(n)                                              \
            eva__rc = eva__await_end(eva__t);                                 \
        }                                                                     \
        (rc) = eva__rc;                                                       \
    } while (0)

/* AWAIT(f, op): wait for op (an eva_op: eva_sleep_op(), EVA_ASYNC(), ...,
 * or an eva_promise *).
 * If it fails, the task fails with its status and message: the finally
 * section runs and whoever awaits the task gets the error. */
#define AWAIT(f, op) EVA__AWAIT_PROPAGATE(f, op, EVA__COUNTER)
#define EVA__AWAIT_PROPAGATE(f, op, n) EVA__AWAIT_PROPAGATE2(f, op, n)
#define EVA__AWAIT_PROPAGATE2(f, op, n)                                       \
    do {                                                                      \
        int eva__status;                                                      \
        EVA__AWAIT(f, op, eva__status, n);                                    \
        if (eva__status < 0)                                                  \
            return eva__task_propagate(eva__t, eva__status);                  \
    } while (0)

/* AWAIT_RC(f, rc, op): wait for op and store its status (0 or a negative
 * code) in the lvalue rc, for the task to handle; nothing is propagated. */
#define AWAIT_RC(f, rc, op) EVA__AWAIT_RC(f, rc, op, EVA__COUNTER)
#define EVA__AWAIT_RC(f, rc, op, n) EVA__AWAIT(f, op, rc, n)

/* YIELD(f): let the loop run everything else, resume on the next iteration. */
#define YIELD(f) AWAIT(f, eva__yield_op())

/* AWAIT_UNTIL(f, cond): resume once per loop iteration until cond is true.
 * This polls (the loop does not sleep while it waits): prefer an event. */
#define AWAIT_UNTIL(f, cond)                                                  \
    do {                                                                      \
        while (!(cond))                                                       \
            YIELD(f);                                                         \
    } while (0)

/* Finish now with status (0 or a negative code), through the finally
 * section.  Inside the finally section: end the cleanup here; a failure the
 * task is already unwinding from stays its result. */
#define ASYNC_RETURN(f, status)                                               \
    do {                                                                      \
        EVA__USE_FRAME(f);                                                    \
        return eva__task_fail(eva__t, (status), NULL);                        \
    } while (0)

/* Fail with code (negative) and message (a string that outlives the task,
 * e.g. a literal), through the finally section (inside it: as ASYNC_RETURN). */
#define ASYNC_FAIL(f, code, message)                                          \
    do {                                                                      \
        EVA__USE_FRAME(f);                                                    \
        return eva__task_fail(eva__t, (code), (message));                     \
    } while (0)

/* Optional, at most once, at the top level of the body: from here to
 * ASYNC_END is the cleanup section, run exactly once however the task ends
 * (success, error, cancellation).  It must not AWAIT (see the rules above). */
#define ASYNC_FINALLY(f)                                                      \
    EVA__USE_FRAME(f);                                                        \
    eva__task_finally(eva__t);                                                \
    EVA__FINALLY_ENTRY

/* Close the task body. */
#define ASYNC_END(f)                                                          \
    EVA__USE_FRAME(f);                                                        \
    return eva__task_end(eva__t);                                             \
    EVA__END

#ifdef __cplusplus
}
#endif
#endif
