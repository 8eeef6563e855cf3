/* A program built against the *installed* evasync (see run.sh): it proves the
 * installed headers compile on their own and the library links and runs. */
#include <stdbool.h>
#include <stdio.h>

#include <evasync.h>

static void on_timer(eva_timer *timer) { *(bool *)timer->data = true; }

static int fail(const char *what, int rc) {
    fprintf(stderr, "consumer: %s: %s\n", what, eva_strerror(rc));
    return 1;
}

int main(void) {
    eva_loop *loop;
    eva_timer timer;
    bool fired = false;
    int rc;

    if ((rc = eva_loop_new(&loop)) < 0)
        return fail("eva_loop_new", rc);
    if ((rc = eva_timer_init(loop, &timer)) < 0 ||
        (rc = eva_timer_start(&timer, 1, 0, on_timer, &fired)) < 0)
        return fail("timer", rc);
    if ((rc = eva_loop_run(loop, EVA_RUN_DEFAULT)) < 0)
        return fail("eva_loop_run", rc);
    if (!fired) {
        fprintf(stderr, "consumer: the timer did not fire\n");
        return 1;
    }
    if ((rc = eva_loop_destroy(loop)) < 0)
        return fail("eva_loop_destroy", rc);
    puts("consumer ok");
    return 0;
}
