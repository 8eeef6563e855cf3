/* examples/checkout/main.c — run the checkout job in every style and
 * measure where the time goes.
 *
 * Against real servers (svc.h, svc_main.c) when EVA_DEMO_PG (a libpq
 * conninfo) and EVA_DEMO_REDIS (a Unix socket path) are set, as
 * scripts/services sets them; otherwise, or with --builtin, against the
 * loopback stand-in below:
 *
 *     checkout --builtin [--requests N] [--queries Q] [--delay-ms D] [--cpu-ms C]
 *              [--blocking N]
 *
 * Defaults: 200 requests, each 4 queries answered after 50 ms and 10 ms of
 * CPU; the blocking baseline runs 5 requests (it takes 210 ms each). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "checkout.h"
#include "svc.h"

void checkout_finish(checkout_tally *t, int status, const char *message, uint64_t total) {
    if (status < 0) {
        if (!t->failed++)
            t->error = message ? message : eva_strerror(status);
        return;
    }
    t->checksum += total;
    t->done++;
}

typedef struct starter {
    eva_call call;
    const checkout_cfg *cfg;
    checkout_tally *tally;
    checkout_start_fn start;
    void *ctx;
    int rc;
} starter;

static void start_all(eva_loop *loop, int status, void *arg) {
    starter *s = arg;
    for (int i = 0; i < s->cfg->requests && status == 0 && s->rc == 0; i++)
        s->rc = s->start(loop, s->cfg, s->tally, i, s->ctx);
}

int checkout_run(eva_loop *loop, const checkout_cfg *cfg, checkout_tally *t, checkout_start_fn start,
                 void *ctx) {
    starter s = {.cfg = cfg, .tally = t, .start = start, .ctx = ctx};
    int rc = eva_loop_defer(loop, &s.call, start_all, &s);
    if (rc == 0)
        rc = eva_loop_run(loop, EVA_RUN_DEFAULT);
    return s.rc < 0 ? s.rc : rc;
}

static double process_cpu_ms(void) { /* every thread: the loop and the pool */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* The checksum every style must reproduce, computed without any IO. */
static uint64_t expected_checksum(const checkout_cfg *cfg, int requests) {
    uint64_t sum = 0;
    for (int i = 0; i < requests; i++) {
        uint64_t total = 0;
        for (int q = 0; q < cfg->queries; q++)
            total += db_answer((uint64_t)i, (uint64_t)q);
        price_work(&total);
        sum += total;
    }
    return sum;
}

typedef int (*style_fn)(eva_loop *, const checkout_cfg *, checkout_tally *);

static int run_style(const char *name, style_fn run, const checkout_cfg *cfg, uint64_t expect,
                     double blocking_ms_per_request) {
    eva_loop *loop;
    int rc = eva_loop_new(&loop);
    if (rc < 0)
        return rc;
    eva_detector_start(loop, NULL); /* says so if anything blocks the loop */
    checkout_tally t = {0};
    double cpu0 = process_cpu_ms();
    uint64_t t0 = eva_hrtime();
    rc = run(loop, cfg, &t);
    double wall = (double)(eva_hrtime() - t0) / 1e6, cpu = process_cpu_ms() - cpu0;
    eva_loop_metrics m;
    eva_loop_get_metrics(loop, &m);
    eva_loop_destroy(loop);
    if (rc < 0 || t.failed || t.done != cfg->requests || t.checksum != expect) {
        fprintf(stderr, "%-9s FAILED: %d/%d done, %d failed (%s), checksum %" PRIu64 "%s\n",
                name, t.done, cfg->requests, t.failed,
                t.error ? t.error : (rc < 0 ? eva_strerror(rc) : "-"), t.checksum,
                t.checksum == expect ? " ok" : " WRONG");
        return -1;
    }
    /* lag is one sample per iteration: the promise style takes ~10x the
     * iterations of the others (each settlement runs a step later), so its
     * p99 is a lower rank of the same busy stretches; max and the iteration
     * count say which. */
    printf("%-9s %4d requests in %7.1f ms  %6.1f req/s  %5.1fx the blocking server"
           "  cpu/wall %5.1f%%  loop idle %4.1f%%  lag p99 %.2f max %.2f ms (%" PRIu64 " iterations)"
           "  checksum ok\n",
           name, t.done, wall, t.done / wall * 1e3, blocking_ms_per_request * t.done / wall,
           100.0 * cpu / wall, 100.0 * (double)m.idle_ns / 1e6 / wall, (double)m.lag_ns_p99 / 1e6,
           (double)m.lag_ns_max / 1e6, m.iterations);
    return 0;
}

static int arg_int(int argc, char **argv, const char *name, int fallback) {
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return atoi(argv[i + 1]);
    return fallback;
}

static int builtin_main(int argc, char **argv) {
    checkout_cfg cfg = {
        .requests = arg_int(argc, argv, "--requests", 200),
        .queries = arg_int(argc, argv, "--queries", 4),
        .delay_ms = arg_int(argc, argv, "--delay-ms", 50),
        .cpu_ms = arg_int(argc, argv, "--cpu-ms", 10),
    };
    int blocking = arg_int(argc, argv, "--blocking", 5);
    if (cfg.requests <= 0 || cfg.queries <= 0 || cfg.delay_ms < 0 || cfg.cpu_ms < 0 ||
        blocking <= 0 || argc % 2 == 0) {
        fprintf(stderr, "usage: checkout [--requests N] [--queries Q] [--delay-ms D] "
                        "[--cpu-ms C] [--blocking N]\n");
        return 2;
    }
    price_calibrate(cfg.cpu_ms);
    int rc = db_start(cfg.delay_ms, &cfg.db);
    if (rc == 0)
        rc = eva_pool_new(NULL, &cfg.pool);
    if (rc < 0) {
        fprintf(stderr, "checkout: %s\n", eva_strerror(rc));
        return 1;
    }
    printf("checkout: each request = %d queries to a database answering in %d ms, then %d ms "
           "of CPU\n\n", cfg.queries, cfg.delay_ms, cfg.cpu_ms);

    /* The synchronous server: one request at a time, the thread asleep in recv(). */
    checkout_tally t = {0};
    double cpu0 = process_cpu_ms();
    uint64_t t0 = eva_hrtime();
    run_blocking(&cfg, blocking, &t);
    double wall = (double)(eva_hrtime() - t0) / 1e6, cpu = process_cpu_ms() - cpu0;
    bool ok = t.done == blocking && t.checksum == expected_checksum(&cfg, blocking);
    double per_request = wall / blocking;
    printf("blocking  %4d requests in %7.1f ms  %6.1f req/s  (%.1f ms each)  cpu/wall %5.1f%%: "
           "waiting on IO %.1f%% of the time  checksum %s\n\n",
           t.done, wall, t.done / wall * 1e3, per_request, 100.0 * cpu / wall,
           100.0 - 100.0 * cpu / wall, ok ? "ok" : "WRONG");

    /* One thread, all requests at once: the waiting overlaps. */
    uint64_t expect = expected_checksum(&cfg, cfg.requests);
    int failures = !ok;
    failures += run_style("callbacks", run_callbacks, &cfg, expect, per_request) < 0;
    failures += run_style("promises", run_promises, &cfg, expect, per_request) < 0;
    failures += run_style("await", run_await, &cfg, expect, per_request) < 0;

    printf("\nThe blocking server computes %.1f%% of the time and waits the rest; one evasync "
           "loop\noverlaps the waits of all %d requests and keeps the %u cores busy with the "
           "pricing\n(the offload pool), so the loop itself stays free to accept more.\n",
           100.0 * cpu / wall, cfg.requests, eva_pool_get_default_threads());
    eva_pool_destroy(cfg.pool);
    db_stop();
    return failures ? 1 : 0;
}

/* argv without --builtin; true if it was there. */
static bool take_flag(int *argc, char **argv, const char *flag) {
    bool found = false;
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], flag) == 0)
            found = true;
        else
            argv[out++] = argv[i];
    }
    *argc = out;
    argv[out] = NULL;
    return found;
}

int main(int argc, char **argv) {
    meter_install(); /* before any other evasync call: it counts every allocation */
    setvbuf(stdout, NULL, _IOLBF, 0); /* the table and the detector's stderr, in order */
    bool builtin = take_flag(&argc, argv, "--builtin");
    const char *pg = getenv("EVA_DEMO_PG"), *redis = getenv("EVA_DEMO_REDIS");
    if (!builtin && pg && redis)
        return svc_main(argc, argv, pg, redis);
    if (!builtin)
        printf("checkout: no servers given (EVA_DEMO_PG, EVA_DEMO_REDIS: scripts/demo starts them);\n"
               "running against the loopback stand-in (--builtin)\n\n");
    return builtin_main(argc, argv);
}
