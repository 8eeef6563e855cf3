/* eva_io: readiness is reported, events can be changed, stop silences it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "helpers.h"

typedef struct io_seen {
    int events;
    int calls;
    bool done;
} io_seen;

static void on_io(eva_io *io, int events) {
    io_seen *s = io->data;
    s->events |= events;
    s->calls++;
    s->done = true;
    eva_io_stop(io);
}

static void readable_and_writable_are_reported(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    io_seen s = {0};
    eva_io io;
    eva_io_init(loop, &io);

    assert_int_equal(eva_io_start(&io, sv[0], EVA_WRITE, on_io, &s), 0);
    test_run_until(loop, &s.done, 5000);
    assert_int_equal(s.events, EVA_WRITE);

    s = (io_seen){0};
    assert_int_equal(eva_io_start(&io, sv[0], EVA_READ, on_io, &s), 0);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_NOWAIT), 1); /* nothing to read yet */
    assert_int_equal(s.calls, 0);
    assert_int_equal(write(sv[1], "ping", 4), 4);
    test_run_until(loop, &s.done, 5000);
    assert_int_equal(s.events, EVA_READ);
    assert_false(eva_io_is_active(&io));
    assert_int_equal(eva_loop_get_active_handles(loop), 0);

    close(sv[0]);
    close(sv[1]);
    test_loop_destroy(loop);
}

static void restart_changes_fd_and_events(void **state) {
    (void)state;
    eva_loop *loop = test_loop_new();
    int a[2], b[2];
    assert_int_equal(pipe(a), 0);
    assert_int_equal(pipe(b), 0);
    io_seen s = {0};
    eva_io io;
    eva_io_init(loop, &io);
    eva_io_start(&io, a[0], EVA_READ, on_io, &s);
    eva_io_start(&io, b[0], EVA_READ, on_io, &s); /* now watching b only */
    assert_int_equal(eva_loop_get_active_handles(loop), 1);
    assert_int_equal(write(a[1], "x", 1), 1);
    assert_int_equal(eva_loop_run(loop, EVA_RUN_NOWAIT), 1);
    assert_int_equal(s.calls, 0);
    assert_int_equal(write(b[1], "x", 1), 1);
    test_run_until(loop, &s.done, 5000);
    assert_int_equal(s.calls, 1);
    for (int i = 0; i < 2; i++) {
        close(a[i]);
        close(b[i]);
    }
    test_loop_destroy(loop);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(readable_and_writable_are_reported),
        cmocka_unit_test(restart_changes_fd_and_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
