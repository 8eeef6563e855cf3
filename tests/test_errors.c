/* Every invalid argument returns its documented error and never crashes;
 * eva_strerror names every code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "helpers.h"

static void on_timer(eva_timer *t) { (void)t; }
static void on_io(eva_io *io, int events) { (void)io; (void)events; }
static void on_sig(eva_signal *s, int signum) { (void)s; (void)signum; }
static void on_call(eva_loop *loop, int status, void *arg) { (void)loop; (void)status; (void)arg; }

static void loop_rejects_invalid_arguments(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    assert_int_equal(eva_loop_new(NULL), -EINVAL);
    assert_int_equal(eva_loop_from_ev(NULL, &loop), -EINVAL);
    assert_int_equal(eva_loop_from_ev(eva_loop_get_ev(loop), NULL), -EINVAL);
    assert_null(eva_loop_get_ev(NULL));
    assert_int_equal(eva_loop_run(NULL, EVA_RUN_NOWAIT), -EINVAL);
    assert_int_equal(eva_loop_run(loop, (eva_run_mode)42), -EINVAL);
    assert_int_equal(eva_loop_stop(NULL), -EINVAL);
    assert_int_equal(eva_loop_destroy(NULL), -EINVAL);
    assert_int_equal(eva_loop_get_active_handles(NULL), -EINVAL);
    assert_int_equal(eva_loop_set_log(NULL, NULL, NULL), -EINVAL);
    assert_int_equal(eva_now(NULL), 0);
    eva_now_update(NULL);
    test_loop_destroy(loop);
}

static void calls_reject_invalid_arguments(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_call call;
    assert_int_equal(eva_loop_defer(NULL, &call, on_call, NULL), -EINVAL);
    assert_int_equal(eva_loop_defer(loop, NULL, on_call, NULL), -EINVAL);
    assert_int_equal(eva_loop_defer(loop, &call, NULL, NULL), -EINVAL);
    assert_int_equal(eva_loop_post(NULL, &call, on_call, NULL), -EINVAL);
    assert_int_equal(eva_loop_post(loop, NULL, on_call, NULL), -EINVAL);
    assert_int_equal(eva_loop_post(loop, &call, NULL, NULL), -EINVAL);
    test_loop_destroy(loop);
}

static void timer_rejects_invalid_arguments(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_timer t, zeroed;
    memset(&zeroed, 0, sizeof zeroed);
    assert_int_equal(eva_timer_init(NULL, &t), -EINVAL);
    assert_int_equal(eva_timer_init(loop, NULL), -EINVAL);
    assert_int_equal(eva_timer_init(loop, &t), 0);
    assert_int_equal(eva_timer_start(NULL, 1, 0, on_timer, NULL), -EINVAL);
    assert_int_equal(eva_timer_start(&zeroed, 1, 0, on_timer, NULL), -EINVAL);
    assert_int_equal(eva_timer_start(&t, -1, 0, on_timer, NULL), -EINVAL);
    assert_int_equal(eva_timer_start(&t, 1, -1, on_timer, NULL), -EINVAL);
    assert_int_equal(eva_timer_start(&t, 1, 0, NULL, NULL), -EINVAL);
    assert_int_equal(eva_timer_stop(NULL), -EINVAL);
    assert_int_equal(eva_timer_stop(&zeroed), -EINVAL);
    assert_false(eva_timer_is_active(NULL));
    assert_int_equal(eva_loop_get_active_handles(loop), 0); /* no failed start counted */
    test_loop_destroy(loop);
}

static void io_rejects_invalid_arguments(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    eva_io io;
    assert_int_equal(eva_io_init(NULL, &io), -EINVAL);
    assert_int_equal(eva_io_init(loop, NULL), -EINVAL);
    assert_int_equal(eva_io_init(loop, &io), 0);
    assert_int_equal(eva_io_start(NULL, fds[0], EVA_READ, on_io, NULL), -EINVAL);
    assert_int_equal(eva_io_start(&io, -1, EVA_READ, on_io, NULL), -EINVAL);
    assert_int_equal(eva_io_start(&io, fds[0], 0, on_io, NULL), -EINVAL);
    assert_int_equal(eva_io_start(&io, fds[0], EVA_READ | 0x100, on_io, NULL), -EINVAL);
    assert_int_equal(eva_io_start(&io, fds[0], EVA_READ, NULL, NULL), -EINVAL);
    close(fds[0]);
    close(fds[1]);
    assert_int_equal(eva_io_start(&io, fds[0], EVA_READ, on_io, NULL), -EBADF);
    assert_int_equal(eva_io_stop(NULL), -EINVAL);
    assert_false(eva_io_is_active(&io));
    assert_int_equal(eva_loop_get_active_handles(loop), 0);
    test_loop_destroy(loop);
}

static void signal_rejects_invalid_arguments(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    eva_signal sig;
    assert_int_equal(eva_signal_init(NULL, &sig), -EINVAL);
    assert_int_equal(eva_signal_init(loop, NULL), -EINVAL);
    assert_int_equal(eva_signal_init(loop, &sig), 0);
    assert_int_equal(eva_signal_start(NULL, SIGUSR1, on_sig, NULL), -EINVAL);
    assert_int_equal(eva_signal_start(&sig, 0, on_sig, NULL), -EINVAL);
    assert_int_equal(eva_signal_start(&sig, -3, on_sig, NULL), -EINVAL);
    assert_int_equal(eva_signal_start(&sig, 100000, on_sig, NULL), -EINVAL);
    assert_int_equal(eva_signal_start(&sig, SIGKILL, on_sig, NULL), -EINVAL);
    assert_int_equal(eva_signal_start(&sig, SIGSTOP, on_sig, NULL), -EINVAL);
    assert_int_equal(eva_signal_start(&sig, SIGUSR1, NULL, NULL), -EINVAL);
    assert_int_equal(eva_signal_stop(NULL), -EINVAL);
    assert_int_equal(eva_loop_get_active_handles(loop), 0);
    test_loop_destroy(loop);
}

static void strerror_names_every_code(void **state) {
    (void)state;
    assert_string_equal(eva_strerror(0), "success");
    assert_string_equal(eva_strerror(-EINVAL), "Invalid argument");
    assert_string_equal(eva_strerror(-ENOMEM), "Cannot allocate memory");
    assert_string_equal(eva_strerror(-ECANCELED), "Operation canceled");
    assert_string_equal(eva_strerror(EVA_EDNS_NOTFOUND), "host name not found");
    assert_string_equal(eva_strerror(EVA_EOF), "end of stream");
    assert_string_equal(eva_strerror(-99999), "unknown error");
    assert_string_equal(eva_strerror(7), "unknown error");
    assert_string_equal(eva_log_level_name(EVA_LOG_WARN), "warn");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loop_rejects_invalid_arguments),
        cmocka_unit_test(calls_reject_invalid_arguments),
        cmocka_unit_test(timer_rejects_invalid_arguments),
        cmocka_unit_test(io_rejects_invalid_arguments),
        cmocka_unit_test(signal_rejects_invalid_arguments),
        cmocka_unit_test(strerror_names_every_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
