/* A task body that uses every macro, for the compile tests in
 * tests/CMakeLists.txt.  As it is, it must compile without a warning under
 * -std=c11 -pedantic -Wall -Wextra -Werror (a consumer's strictest flags),
 * in both resume-point modes.  Each misuse below, switched on by a -D, must
 * make it fail with the diagnostic the test expects:
 *   -DSTRAY_BREAK        a break at the top level of the body (labels build)
 *   -DF_<MACRO>=other    that macro given a frame of another type
 *   -DF_<MACRO>=stranger that macro given a pointer that is no frame
 * The unmodified file is the twin that proves a failure comes from the
 * misuse, not from the harness. */
#include <evasync.h>

#ifndef F_AWAIT
#define F_AWAIT j
#endif
#ifndef F_AWAIT_RC
#define F_AWAIT_RC j
#endif
#ifndef F_YIELD
#define F_YIELD j
#endif
#ifndef F_AWAIT_UNTIL
#define F_AWAIT_UNTIL j
#endif
#ifndef F_ASYNC_RETURN
#define F_ASYNC_RETURN j
#endif
#ifndef F_ASYNC_FAIL
#define F_ASYNC_FAIL j
#endif
#ifndef F_ASYNC_FINALLY
#define F_ASYNC_FINALLY j
#endif
#ifndef F_ASYNC_END
#define F_ASYNC_END j
#endif

struct child { eva_task task; int n; };
struct not_a_frame { int n; };

struct job {
    eva_task task;
    struct child child;
    eva_promise *reply;
    int i, rc, cleaned;
};

eva_step child_run(void *frame);
eva_step child_run(void *frame) {
    struct child *c = frame;
    ASYNC_BEGIN(c);
    AWAIT(c, eva_sleep_op(1));
    ASYNC_END(c);
}

eva_step job_run(void *frame);
eva_step job_run(void *frame) {
    struct job *j = frame;
    struct child *other = &j->child;
    struct not_a_frame stranger_frame = {0};
    struct not_a_frame *stranger = &stranger_frame;
    (void)other;
    (void)stranger;
    ASYNC_BEGIN(j);
    for (j->i = 0; j->i < 3; j->i++)
        AWAIT(F_AWAIT, eva_sleep_op(1));
    AWAIT(j, j->reply); /* a promise */
    AWAIT(j, EVA_ASYNC(child_run, &j->child)); AWAIT(j, eva_sleep_op(0)); /* two on a line */
    AWAIT_RC(F_AWAIT_RC, j->rc, eva_sleep_op(1));
    YIELD(F_YIELD);
    AWAIT_UNTIL(F_AWAIT_UNTIL, j->i > 0);
    switch (j->rc) { /* a switch of the task's own, with no AWAIT inside */
    case -ETIMEDOUT:
        ASYNC_FAIL(F_ASYNC_FAIL, j->rc, "timed out");
    default:
        break;
    }
#ifdef STRAY_BREAK
    if (j->rc)
        break;
#endif
    if (j->rc < 0)
        ASYNC_RETURN(F_ASYNC_RETURN, j->rc);
    ASYNC_FINALLY(F_ASYNC_FINALLY);
    j->cleaned++;
    ASYNC_END(F_ASYNC_END);
}
