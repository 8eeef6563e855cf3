/* Watching a path (evasync/fs.h): a change by write, a replace by rename
 * (what editors do), delete and re-create: the watch follows the name;
 * two watches in one directory; the AWAIT and promise forms, cancelled and
 * stopped; destroy with an active watch; bad input; and the ev_stat
 * fallback when no inotify descriptor can be had.  Every wait is bounded. */
#define _GNU_SOURCE /* nftw, mkdtemp, DT_* */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/resource.h>
#include <cmocka.h>

#include "helpers.h"
#include "fs_helpers.h"

typedef struct seen {
    eva_fs_watcher w;
    int calls;
    int events;
    bool fired;
} seen;

static void on_change(eva_fs_watcher *w, int events) {
    seen *s = w->data;
    s->calls++;
    s->events |= events;
    s->fired = true;
}

static void watch(eva_loop *loop, seen *s, const char *path) {
    memset(s, 0, sizeof *s);
    s->w.data = s;
    assert_int_equal(eva_fs_watch(loop, &s->w, path, on_change), 0);
}

static int next_events(eva_loop *loop, seen *s) {
    test_run_until(loop, &s->fired, 5000);
    int ev = s->events;
    s->fired = false;
    s->events = 0;
    return ev;
}

static void put(const char *path, const char *text) {
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void the_watch_follows_the_name(void **state) {
    (void)state;
    tmpdir d;
    tmpdir_make(&d);
    eva_loop *loop = test_loop_new();
    const char *conf = in_dir(&d, 0, "conf"), *tmp = in_dir(&d, 1, "conf.new");
    const char *other = in_dir(&d, 2, "other");
    put(conf, "a");
    seen s;
    watch(loop, &s, conf);
    put(other, "not ours"); /* another name in the directory: not reported */
    put(conf, "b");
    assert_true(next_events(loop, &s) & EVA_FS_CHANGE);
    put(tmp, "c"); /* an editor's save: write another file, rename it over */
    assert_int_equal(rename(tmp, conf), 0);
    assert_true(next_events(loop, &s) & EVA_FS_RENAME);
    put(conf, "d"); /* the new file is watched */
    assert_true(next_events(loop, &s) & EVA_FS_CHANGE);
    assert_int_equal(unlink(conf), 0);
    assert_true(next_events(loop, &s) & EVA_FS_RENAME);
    put(conf, "e"); /* deleted and created again */
    assert_true(next_events(loop, &s) & EVA_FS_RENAME);
    put(conf, "f");
    assert_true(next_events(loop, &s) & EVA_FS_CHANGE);
    assert_int_equal(eva_fs_watch_stop(&s.w), 0);
    assert_int_equal(eva_fs_watch_stop(&s.w), 0); /* inactive: left alone */
    test_loop_destroy(loop);
    tmpdir_remove(&d);
}

static void two_watches_in_one_directory(void **state) {
    (void)state;
    tmpdir d;
    tmpdir_make(&d);
    eva_loop *loop = test_loop_new();
    const char *a = in_dir(&d, 0, "a"), *b = in_dir(&d, 1, "b");
    seen sa, sb;
    watch(loop, &sa, a);
    watch(loop, &sb, b);
    put(a, "1");
    next_events(loop, &sa);
    assert_int_equal(sb.calls, 0);
    assert_int_equal(eva_fs_watch_stop(&sa.w), 0); /* the directory stays watched for b */
    put(b, "2");
    assert_true(next_events(loop, &sb) & EVA_FS_RENAME);
    assert_int_equal(sa.calls, 1);
    assert_int_equal(eva_loop_destroy(loop), -EBUSY); /* an active watch is a handle */
    assert_int_equal(eva_fs_watch_stop(&sb.w), 0);
    test_loop_destroy(loop);
    tmpdir_remove(&d);
}

typedef struct change_frame {
    eva_task task;
    eva_fs_watcher *w;
    int events;
    bool done;
} change_frame;

static eva_step change_run(void *frame) {
    change_frame *f = frame;
    ASYNC_BEGIN(f);
    AWAIT(f, eva_fs_wait_change_op(f->w));
    f->events = f->w->events;
    ASYNC_FINALLY(f);
    f->done = true;
    ASYNC_END(f);
}

static void start_change(eva_loop *loop, change_frame *f, eva_fs_watcher *w) {
    memset(f, 0, sizeof *f);
    f->w = w;
    assert_int_equal(eva_task_init(loop, &f->task, change_run, "fs_change"), 0);
    assert_int_equal(eva_task_start(&f->task, NULL), 0);
}

static void await_a_change(void **state) {
    (void)state;
    tmpdir d;
    tmpdir_make(&d);
    eva_loop *loop = test_loop_new();
    const char *conf = in_dir(&d, 0, "conf");
    eva_fs_watcher w = {0};
    assert_int_equal(eva_fs_watch(loop, &w, conf, NULL), 0);
    change_frame f, g;
    start_change(loop, &f, &w);
    for (int i = 0; i < 100 && eva_task_get_state(&f.task) != EVA_TASK_SUSPENDED; i++)
        eva_loop_run(loop, EVA_RUN_NOWAIT);
    assert_int_equal(eva_task_get_state(&f.task), EVA_TASK_SUSPENDED);
    start_change(loop, &g, &w);
    test_run_until(loop, &g.done, 5000);
    assert_int_equal(eva_task_get_status(&g.task), -EBUSY); /* one waiter at a time */
    put(conf, "x");
    test_run_until(loop, &f.done, 5000);
    assert_int_equal(eva_task_get_status(&f.task), 0);
    assert_true(f.events & EVA_FS_RENAME);
    /* no callback, nobody waiting: a change is kept for the next wait */
    put(conf, "y");
    eva_promise *p;
    assert_int_equal(eva_fs_wait_change_promise(&w, &p), 0);
    for (int i = 0; i < 10000 && eva_promise_get_state(p) == EVA_PROMISE_PENDING; i++)
        eva_loop_run(loop, EVA_RUN_ONCE);
    assert_int_equal(eva_promise_get_state(p), EVA_PROMISE_FULFILLED);
    assert_true(w.events & EVA_FS_CHANGE);
    eva_promise_unref(p);
    /* cancelled, and stopped under a waiting task */
    start_change(loop, &f, &w);
    eva_loop_run(loop, EVA_RUN_NOWAIT);
    assert_int_equal(eva_task_cancel(&f.task), 0);
    test_run_until(loop, &f.done, 5000);
    assert_int_equal(eva_task_get_status(&f.task), -ECANCELED);
    start_change(loop, &f, &w);
    eva_loop_run(loop, EVA_RUN_NOWAIT);
    assert_int_equal(eva_fs_watch_stop(&w), 0);
    test_run_until(loop, &f.done, 5000);
    assert_int_equal(eva_task_get_status(&f.task), -ECANCELED);
    start_change(loop, &f, &w); /* inactive now */
    test_run_until(loop, &f.done, 5000);
    assert_int_equal(eva_task_get_status(&f.task), -EINVAL);
    assert_int_equal(eva_fs_wait_change_promise(&w, &p), -EINVAL);
    test_loop_destroy(loop);
    tmpdir_remove(&d);
}

static void bad_input_is_refused(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_fs_watcher w = {0};
    assert_int_equal(eva_fs_watch(NULL, &w, "/tmp/x", on_change), -EINVAL);
    assert_int_equal(eva_fs_watch(loop, NULL, "/tmp/x", on_change), -EINVAL);
    assert_int_equal(eva_fs_watch(loop, &w, NULL, on_change), -EINVAL);
    assert_int_equal(eva_fs_watch(loop, &w, "", on_change), -EINVAL);
    assert_int_equal(eva_fs_watch(loop, &w, "/nonexistent-dir/x", on_change), -ENOENT);
    assert_int_equal(eva_fs_watch(loop, &w, "/etc/hostname/x", on_change), -ENOTDIR);
    assert_int_equal(eva_fs_watch_stop(NULL), -EINVAL);
    assert_int_equal(eva_fs_watch(loop, &w, "relative-name", on_change), 0); /* "." is watched */
    assert_int_equal(eva_fs_watch(loop, &w, "relative-name", on_change), -EINVAL); /* active */
    assert_int_equal(eva_fs_watch_stop(&w), 0);
    test_loop_destroy(loop);
}

/* With descriptors exhausted (RLIMIT_NOFILE at the next free number)
 * inotify_init1 fails: the watch polls with ev_stat instead, and still
 * reports a change. */
static void without_inotify_ev_stat_polls(void **state) {
    (void)state;
    tmpdir d;
    tmpdir_make(&d);
    eva_loop *loop = test_loop_new();
    const char *conf = in_dir(&d, 0, "conf");
    put(conf, "1");
    struct rlimit saved, none;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
    int next = dup(0);
    close(next);
    none = (struct rlimit){.rlim_cur = (rlim_t)next, .rlim_max = saved.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &none), 0);
    seen s;
    int rc = eva_fs_watch(loop, memset(&s, 0, sizeof s), conf, on_change);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
    assert_int_equal(rc, 0);
    s.w.data = &s;
    put(conf, "longer"); /* another size: seen by a stat whatever the clock */
    assert_true(next_events(loop, &s) & EVA_FS_CHANGE);
    assert_int_equal(eva_fs_watch_stop(&s.w), 0);
    test_loop_destroy(loop);
    tmpdir_remove(&d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_watch_follows_the_name),
        cmocka_unit_test(two_watches_in_one_directory),
        cmocka_unit_test(await_a_change),
        cmocka_unit_test(bad_input_is_refused),
        cmocka_unit_test(without_inotify_ev_stat_polls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
