/* Scopes: the join waits for every child; the first failure cancels the
 * siblings (fail-fast) or is reported and spares them (supervising);
 * cancelling the owner cancels the scope; no child outlives it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "helpers.h"

enum { HOUR = 60 * 60 * 1000 };

typedef struct child {
    eva_task task;
    int64_t ms;
    int fail;       /* fail with -EIO after the sleep */
    int done_steps;
    int finally_at; /* tick of the shared clock when its finally ran */
    int *clock;
} child;

static eva_step child_run(void *frame) {
    child *c = frame;
    ASYNC_BEGIN(c);
    AWAIT(c, eva_sleep_op(c->ms));
    if (c->fail)
        ASYNC_FAIL(c, -EIO, "child: boom");
    c->done_steps++;
    ASYNC_FINALLY(c);
    if (c->clock)
        c->finally_at = ++*c->clock;
    ASYNC_END(c);
}

typedef enum owner_mode { JOIN, FAIL_BEFORE_JOIN, FORGET_JOIN, JOIN_RC } owner_mode;

typedef struct owner {
    eva_task task;
    eva_scope scope;
    child kids[3];
    int n;
    int i;
    owner_mode mode;
    int rc;
    int finally_at;
    int clock;
} owner;

static eva_step owner_run(void *frame) {
    owner *o = frame;
    ASYNC_BEGIN(o);
    assert_int_equal(eva_scope_init(&o->scope, &o->task), 0);
    for (o->i = 0; o->i < o->n; o->i++) {
        o->kids[o->i].clock = &o->clock;
        eva_task_init(eva_task_get_loop(&o->task), &o->kids[o->i].task, child_run, "kid");
        assert_int_equal(eva_scope_start(&o->scope, &o->kids[o->i].task), 0);
    }
    if (o->mode == FAIL_BEFORE_JOIN) {
        AWAIT(o, eva_sleep_op(1));
        ASYNC_FAIL(o, -EPERM, "owner gives up");
    }
    if (o->mode == FORGET_JOIN)
        ASYNC_RETURN(o, 0);
    if (o->mode == JOIN_RC) {
        AWAIT_RC(o, o->rc, eva_scope_join_op(&o->scope));
        ASYNC_RETURN(o, 0);
    }
    AWAIT(o, eva_scope_join_op(&o->scope));
    ASYNC_FINALLY(o);
    o->finally_at = ++o->clock;
    ASYNC_END(o);
}

static void start_owner(eva_loop *loop, owner *o) {
    eva_task_init(loop, &o->task, owner_run, "owner");
    assert_int_equal(eva_task_start(&o->task, NULL), 0);
}

static void join_waits_for_every_child(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    owner o = {.n = 3, .mode = JOIN, .kids = {{.ms = 3}, {.ms = 1}, {.ms = 2}}};
    start_owner(loop, &o);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_DEFAULT), 0);
    assert_int_equal(eva_task_get_status(&o.task), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(o.kids[i].done_steps, 1);
        assert_true(o.kids[i].finally_at < o.finally_at); /* all before the owner's end */
    }
    assert_int_equal(eva_scope_get_live(&o.scope), 0);
    test_loop_destroy(loop);
}

static void first_failure_cancels_siblings(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    owner o = {.n = 3, .mode = JOIN, .kids = {{.ms = HOUR}, {.ms = 1, .fail = 1}, {.ms = HOUR}}};
    start_owner(loop, &o);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_DEFAULT), 0); /* the hour-long sleeps were cancelled */
    assert_int_equal(eva_task_get_status(&o.kids[1].task), -EIO);
    assert_int_equal(eva_task_get_status(&o.kids[0].task), -ECANCELED);
    assert_int_equal(eva_task_get_status(&o.kids[2].task), -ECANCELED);
    assert_int_equal(eva_task_get_status(&o.task), -EIO); /* the scope's error propagated */
    assert_string_equal(eva_task_get_message(&o.task), "child: boom");
    assert_true(o.kids[0].finally_at < o.finally_at);
    assert_true(o.kids[2].finally_at < o.finally_at);
    test_loop_destroy(loop);
}

static void on_cancel(eva_timer *t) { eva_task_cancel(t->data); }

static void cancelling_owner_cancels_scope(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    owner o = {.n = 2, .mode = JOIN_RC, .rc = 1, .kids = {{.ms = HOUR}, {.ms = HOUR}}};
    start_owner(loop, &o);
    eva_timer t;
    eva_timer_init(loop, &t);
    eva_timer_start(&t, 1, 0, on_cancel, &o.task);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_DEFAULT), 0);
    assert_int_equal(o.rc, -ECANCELED); /* the join waited for the cancelled children */
    assert_int_equal(eva_task_get_status(&o.kids[0].task), -ECANCELED);
    assert_int_equal(eva_task_get_status(&o.kids[1].task), -ECANCELED);
    assert_int_equal(o.kids[0].finally_at > 0 && o.kids[1].finally_at > 0, 1);
    test_loop_destroy(loop);
}

static void owner_failing_early_waits_for_children(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    owner o = {.n = 2, .mode = FAIL_BEFORE_JOIN, .kids = {{.ms = HOUR}, {.ms = HOUR}}};
    start_owner(loop, &o);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_DEFAULT), 0);
    assert_int_equal(eva_task_get_status(&o.task), -EPERM);
    assert_string_equal(eva_task_get_message(&o.task), "owner gives up");
    for (int i = 0; i < 2; i++) {
        assert_int_equal(eva_task_get_status(&o.kids[i].task), -ECANCELED);
        /* the children were cleaned up before the owner's finally section */
        assert_true(o.kids[i].finally_at < o.finally_at);
    }
    test_loop_destroy(loop);
}

static void owner_forgetting_to_join_is_reported(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    test_log log;
    test_capture_log(loop, &log);
    owner o = {.n = 1, .mode = FORGET_JOIN, .kids = {{.ms = HOUR}}};
    start_owner(loop, &o);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_DEFAULT), 0);
    assert_int_equal(eva_task_get_status(&o.kids[0].task), -ECANCELED);
    assert_int_equal(eva_task_get_state(&o.task), EVA_TASK_DONE);
    assert_int_equal(log.count, 1);
    assert_non_null(strstr(log.last, "task 'owner' finished without joining its scope"));
    test_loop_destroy(loop);
}

/* ---- supervising scopes --------------------------------------------------- */

typedef struct supervisor {
    eva_task task;
    eva_scope scope;
    child kids[3]; /* 0 fails at once, 1 sleeps an hour, 2 starts after the failure */
    bool use_callback;
    int failures;
    int failed_status;
    char failed_name[16], failed_message[32];
    int late_rc;
    eva_task_state sibling_state; /* kid 1, once kid 2 has finished */
    int rc;                       /* the join's */
    int finally_at, clock;
} supervisor;

static void on_child_failure(void *arg, eva_scope *scope, eva_task *failed) {
    supervisor *s = arg;
    assert_ptr_equal(scope, &s->scope);
    s->failures++;
    s->failed_status = eva_task_get_status(failed);
    snprintf(s->failed_name, sizeof s->failed_name, "%s", eva_task_get_name(failed));
    snprintf(s->failed_message, sizeof s->failed_message, "%s", eva_task_get_message(failed));
}

static int start_kid(supervisor *s, int i, const char *name) {
    s->kids[i].clock = &s->clock;
    eva_task_init(eva_task_get_loop(&s->task), &s->kids[i].task, child_run, name);
    return eva_scope_start(&s->scope, &s->kids[i].task);
}

static bool kid_done(const supervisor *s, int i) {
    return eva_task_get_state(&s->kids[i].task) == EVA_TASK_DONE;
}

static eva_step supervisor_run(void *frame) {
    supervisor *s = frame;
    ASYNC_BEGIN(s);
    assert_int_equal(eva_scope_init_mode(&s->scope, &s->task, EVA_SCOPE_SUPERVISE), 0);
    if (s->use_callback)
        assert_int_equal(eva_scope_on_failure(&s->scope, on_child_failure, s), 0);
    assert_int_equal(start_kid(s, 0, "failing"), 0);
    assert_int_equal(start_kid(s, 1, "sibling"), 0);
    AWAIT_UNTIL(s, kid_done(s, 0));
    s->late_rc = start_kid(s, 2, "late");
    if (s->late_rc == 0)
        AWAIT_UNTIL(s, kid_done(s, 2));
    s->sibling_state = eva_task_get_state(&s->kids[1].task);
    eva_scope_cancel(&s->scope); /* still stops every child */
    AWAIT_RC(s, s->rc, eva_scope_join_op(&s->scope));
    ASYNC_FINALLY(s);
    s->finally_at = ++s->clock;
    ASYNC_END(s);
}

static void run_supervisor(eva_loop *loop, supervisor *s) {
    s->kids[0] = (child){.ms = 0, .fail = 1};
    s->kids[1] = (child){.ms = HOUR};
    s->kids[2] = (child){.ms = 0};
    eva_task_init(loop, &s->task, supervisor_run, "supervisor");
    assert_int_equal(eva_task_start(&s->task, NULL), 0);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_DEFAULT), 0); /* the hour-long kid was cancelled */
    assert_int_equal(eva_task_get_status(&s->kids[0].task), -EIO);
    assert_int_equal(s->late_rc, 0);                 /* new children still accepted */
    assert_int_equal(s->kids[2].done_steps, 1);
    assert_int_equal(s->sibling_state, EVA_TASK_SUSPENDED); /* the sibling was left alone */
    assert_int_equal(eva_task_get_status(&s->kids[1].task), -ECANCELED); /* by the scope's cancel */
    assert_int_equal(s->rc, -ECANCELED);
    assert_int_equal(eva_task_get_status(&s->task), 0);
    for (int i = 0; i < 3; i++)
        assert_true(s->kids[i].finally_at < s->finally_at); /* none outlived the scope */
}

static void supervised_failure_spares_siblings(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    test_log log;
    test_capture_log(loop, &log);
    supervisor s = {.use_callback = true};
    run_supervisor(loop, &s);
    assert_int_equal(s.failures, 1);
    assert_int_equal(s.failed_status, -EIO);
    assert_string_equal(s.failed_name, "failing");
    assert_string_equal(s.failed_message, "child: boom");
    assert_int_equal(log.count, 0); /* the callback took it */
    test_loop_destroy(loop);
}

static void supervised_failure_without_callback_is_logged(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    test_log log;
    test_capture_log(loop, &log);
    supervisor s = {.use_callback = false};
    run_supervisor(loop, &s);
    assert_int_equal(log.count, 1);
    assert_int_equal(log.level, EVA_LOG_WARN);
    assert_non_null(strstr(log.last, "task 'failing' failed in the scope of 'supervisor': child: boom"));
    test_loop_destroy(loop);
}

/* ---- spawned children, empty scopes, errors ------------------------------ */

typedef struct spawner {
    eva_task task;
    eva_scope scope;
    int i;
    int start_after_cancel;
    int empty_rc;
} spawner;

static eva_step spawner_run(void *frame) {
    spawner *s = frame;
    ASYNC_BEGIN(s);
    eva_scope_init(&s->scope, &s->task);
    AWAIT_RC(s, s->empty_rc, eva_scope_join_op(&s->scope)); /* no child: at once */
    eva_scope_init(&s->scope, &s->task);
    for (s->i = 0; s->i < 4; s->i++) {
        child *c = NULL;
        assert_int_equal(eva_scope_spawn(&s->scope, sizeof *c, child_run, "spawned", (void **)&c), 0);
        c->ms = s->i;
    }
    AWAIT(s, eva_scope_join_op(&s->scope));
    eva_scope_init(&s->scope, &s->task);
    eva_scope_cancel(&s->scope);
    eva_scope_cancel(&s->scope); /* idempotent */
    child *late = NULL;
    s->start_after_cancel = eva_scope_spawn(&s->scope, sizeof *late, child_run, "late", (void **)&late);
    AWAIT_RC(s, s->empty_rc, eva_scope_join_op(&s->scope));
    ASYNC_END(s);
}

static void spawned_children_and_empty_scopes(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    spawner s = {.start_after_cancel = 1};
    eva_task_init(loop, &s.task, spawner_run, "spawner");
    eva_task_start(&s.task, NULL);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_DEFAULT), 0);
    assert_int_equal(eva_task_get_status(&s.task), 0);
    assert_int_equal(s.start_after_cancel, -ECANCELED);
    assert_int_equal(s.empty_rc, -ECANCELED); /* the cancelled scope's status */
    test_loop_destroy(loop); /* ASan: the spawned frames were freed */
}

static void scope_rejects_invalid_arguments(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_scope scope;
    eva_task idle;
    void *frame;
    eva_task_init(loop, &idle, child_run, "idle");
    assert_int_equal(eva_scope_init(NULL, &idle), -EINVAL);
    assert_int_equal(eva_scope_init(&scope, NULL), -EINVAL);
    assert_int_equal(eva_scope_init(&scope, &idle), -EINVAL); /* owner not started */
    assert_int_equal(eva_scope_start(NULL, &idle), -EINVAL);
    assert_int_equal(eva_scope_spawn(NULL, sizeof(child), child_run, "x", &frame), -EINVAL);
    assert_int_equal(eva_scope_cancel(NULL), -EINVAL);
    assert_int_equal(eva_scope_init_mode(&scope, &idle, EVA_SCOPE_SUPERVISE), -EINVAL);
    assert_int_equal(eva_scope_on_failure(NULL, on_child_failure, NULL), -EINVAL);
    assert_int_equal(eva_scope_get_live(NULL), 0);
    test_loop_destroy(loop);
}

static void destroy_cancels_running_scopes(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    owner o = {.n = 3, .mode = JOIN, .kids = {{.ms = HOUR}, {.ms = HOUR}, {.ms = HOUR}}};
    start_owner(loop, &o);
    eva_loop_run(loop, EVA_RUN_NOWAIT);
    eva_loop_run(loop, EVA_RUN_NOWAIT);
    assert_int_equal(eva_scope_get_live(&o.scope), 3);
    test_loop_destroy(loop);
    assert_int_equal(eva_task_get_status(&o.task), -ECANCELED);
    for (int i = 0; i < 3; i++)
        assert_int_equal(eva_task_get_status(&o.kids[i].task), -ECANCELED);
}

/* Found by tests/fuzz/fuzz_api: a cancelled owner's AWAIT_RC on the join
 * fails with -ECANCELED before the join starts, so the scope stays on the
 * loop's list of unjoined scopes; initialising it again overwrote its link
 * and corrupted that list (a NULL dereference when the owner finished).
 * Now a scope with no child left is taken off and reused, and one with
 * children still running refuses with -EBUSY. */
typedef struct reinit {
    eva_task task;
    eva_scope scope;
    child kid;
    bool with_child;
    int join_rc, reinit_rc, join2_rc;
} reinit;

static eva_step reinit_run(void *frame) {
    reinit *r = frame;
    ASYNC_BEGIN(r);
    assert_int_equal(eva_scope_init(&r->scope, &r->task), 0);
    if (r->with_child) {
        r->kid.ms = HOUR;
        eva_task_init(eva_task_get_loop(&r->task), &r->kid.task, child_run, "kid");
        assert_int_equal(eva_scope_start(&r->scope, &r->kid.task), 0);
    }
    eva_task_cancel(&r->task);
    AWAIT_RC(r, r->join_rc, eva_scope_join_op(&r->scope)); /* fails before it starts */
    r->reinit_rc = eva_scope_init(&r->scope, &r->task);
    if (r->reinit_rc == 0)
        AWAIT_RC(r, r->join2_rc, eva_scope_join_op(&r->scope));
    ASYNC_END(r);
}

static void run_reinit(reinit *r) {
    eva_loop *loop = test_loop_new();
    eva_task_init(loop, &r->task, reinit_run, "reinit");
    assert_int_equal(eva_task_start(&r->task, NULL), 0);
    while (eva_task_get_state(&r->task) != EVA_TASK_DONE)
        assert_true(eva_loop_run(loop, EVA_RUN_ONCE) >= 0);
    test_loop_destroy(loop);
}

static void reinit_after_a_join_that_never_started(void **state) {
    (void)state;
    reinit r = {0};
    run_reinit(&r);
    assert_int_equal(r.join_rc, -ECANCELED);
    assert_int_equal(r.reinit_rc, 0);
    assert_int_equal(r.join2_rc, -ECANCELED);

    reinit busy = {.with_child = true};
    run_reinit(&busy);
    assert_int_equal(busy.join_rc, -ECANCELED);
    assert_int_equal(busy.reinit_rc, -EBUSY);
    assert_int_equal(eva_task_get_status(&busy.kid.task), -ECANCELED); /* waited for, cancelled */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(join_waits_for_every_child),
        cmocka_unit_test(first_failure_cancels_siblings),
        cmocka_unit_test(cancelling_owner_cancels_scope),
        cmocka_unit_test(owner_failing_early_waits_for_children),
        cmocka_unit_test(owner_forgetting_to_join_is_reported),
        cmocka_unit_test(supervised_failure_spares_siblings),
        cmocka_unit_test(supervised_failure_without_callback_is_logged),
        cmocka_unit_test(spawned_children_and_empty_scopes),
        cmocka_unit_test(scope_rejects_invalid_arguments),
        cmocka_unit_test(destroy_cancels_running_scopes),
        cmocka_unit_test(reinit_after_a_join_that_never_started),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
