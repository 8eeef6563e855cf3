/* examples/supervisor — keep a child running: restart it when it fails, with
 * exponential backoff, and give up after N restarts (docs/process.md).
 *
 *   supervisor [--restarts N] [--backoff-ms MS] [--max-backoff-ms MS] [-- program args...]
 *
 * Without a program it supervises `sh -c 'exit 1'`, a child that always
 * crashes.  A child that exits 0 is done: the supervisor exits 0.  Giving up
 * exits 1.  SIGINT/SIGTERM cancel the supervising task, which stops the
 * child (SIGTERM, then SIGKILL after a grace) and reaps it before exiting. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evasync.h"

typedef struct supervisor {
    eva_task task;                 /* first: the frame */
    eva_process proc;
    eva_process_wait_req wait;
    eva_process_options options;
    int max_restarts, restarts;
    int64_t backoff_ms, max_backoff_ms;
    bool gave_up;
} supervisor;

static void report_exit(const supervisor *s) {
    if (s->wait.term_signal)
        printf("supervisor: pid %d killed by signal %d\n", (int)s->proc.pid, s->wait.term_signal);
    else
        printf("supervisor: pid %d exited with status %d\n", (int)s->proc.pid, s->wait.exit_status);
}

static eva_step supervise(void *frame) {
    supervisor *s = frame;
    ASYNC_BEGIN(s);
    for (;;) {
        int rc = eva_process_spawn(s->task.loop, &s->proc, &s->options);
        if (rc < 0) {
            printf("supervisor: cannot start %s: %s\n", s->options.argv[0], eva_strerror(rc));
            ASYNC_FAIL(s, rc, "spawn failed");
        }
        printf("supervisor: start #%d: pid %d\n", s->restarts + 1, (int)s->proc.pid);
        fflush(stdout);
        AWAIT(s, eva_process_wait_op(&s->wait, &s->proc));
        report_exit(s);
        if (s->wait.exit_status == 0) {
            printf("supervisor: child finished cleanly\n");
            ASYNC_RETURN(s, 0);
        }
        if (s->restarts == s->max_restarts) {
            printf("supervisor: giving up after %d restarts\n", s->restarts);
            s->gave_up = true;
            ASYNC_RETURN(s, 0);
        }
        s->restarts++;
        printf("supervisor: restart #%d in %lld ms\n", s->restarts, (long long)s->backoff_ms);
        fflush(stdout);
        AWAIT(s, eva_sleep_op(s->backoff_ms));
        s->backoff_ms = s->backoff_ms * 2 > s->max_backoff_ms ? s->max_backoff_ms : s->backoff_ms * 2;
    }
    ASYNC_END(s);
}

static void on_stop_signal(eva_signal *sig, int signum) {
    printf("supervisor: signal %d: stopping\n", signum);
    eva_task_cancel(sig->data);
}

static char *default_argv[] = {"sh", "-c", "exit 1", NULL};

static int parse_args(int argc, char **argv, supervisor *s) {
    s->max_restarts = 3;
    s->backoff_ms = 100;
    s->max_backoff_ms = 5000;
    s->options.argv = default_argv;
    s->options.kill_grace_ms = 1000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0 && i + 1 < argc) {
            s->options.argv = argv + i + 1;
            return 0;
        } else if (strcmp(argv[i], "--restarts") == 0 && i + 1 < argc) {
            s->max_restarts = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--backoff-ms") == 0 && i + 1 < argc) {
            s->backoff_ms = atoll(argv[++i]);
        } else if (strcmp(argv[i], "--max-backoff-ms") == 0 && i + 1 < argc) {
            s->max_backoff_ms = atoll(argv[++i]);
        } else {
            fprintf(stderr, "usage: %s [--restarts N] [--backoff-ms MS] [--max-backoff-ms MS] [-- program args...]\n",
                    argv[0]);
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    static supervisor s;
    if (parse_args(argc, argv, &s) < 0)
        return 2;
    eva_loop *loop = NULL;
    if (eva_loop_new(&loop) < 0)
        return 2;
    eva_signal sigint, sigterm;
    eva_signal_init(loop, &sigint);
    eva_signal_init(loop, &sigterm);
    eva_task_init(loop, &s.task, supervise, "supervisor");
    eva_signal_start(&sigint, SIGINT, on_stop_signal, &s.task);
    eva_signal_start(&sigterm, SIGTERM, on_stop_signal, &s.task);
    eva_task_start(&s.task, NULL);
    while (eva_task_get_state(&s.task) != EVA_TASK_DONE && eva_loop_run(loop, EVA_RUN_ONCE) >= 0)
        ;
    eva_signal_stop(&sigint);
    eva_signal_stop(&sigterm);
    int status = eva_task_get_status(&s.task);
    eva_loop_destroy(loop);
    return status < 0 || s.gave_up ? 1 : 0;
}
