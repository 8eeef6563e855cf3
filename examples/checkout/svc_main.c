/* examples/checkout/svc_main.c — the demo against the real servers: every
 * style over the same requests, its figures, the checksums compared; then
 * the blocked-loop detector on a handler that hashes on the loop thread.
 * --check runs the error paths (a missing row, a timeout, PostgreSQL gone)
 * in the three evasync styles and compares their output lines. */
#define _GNU_SOURCE /* pthread_getattr_default_np */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "svc.h"

typedef struct options {
    int requests, slots, blocking, sleep_ms, cpu_ms;
    bool check;
    const char *pg, *redis;
} options;

typedef int (*style_fn)(svc_run *run);

typedef struct style {
    const char *name;
    style_fn run;
    bool on_loop;             /* an evasync style: a loop, non-blocking connections */
} style;

static const style STYLES[] = {
    {"blocking", svc_run_blocking, false},
    {"threads", svc_run_threads, false},
    {"callbacks", svc_run_callbacks, true},
    {"promises", svc_run_promises, true},
    {"await", svc_run_await, true},
};
enum { NSTYLES = sizeof STYLES / sizeof STYLES[0] };

static double process_cpu_ms(void) { /* every thread: the loop and the pool */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * 4;
}

static uint64_t fnv1a(uint64_t h, const char *s) {
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3u;
    return h;
}

static uint64_t checksum(char (*lines)[SVC_LINE], int n) {
    uint64_t h = 0xcbf29ce484222325u;
    for (int i = 0; i < n; i++)
        h = fnv1a(h, lines[i]);
    return h;
}

static int open_slots(svc_slot *slots, int n, const options *o, bool nonblocking) {
    for (int k = 0; k < n; k++) {
        int rc = svc_slot_open(&slots[k], o->pg, o->redis, nonblocking);
        if (rc < 0) {
            while (k--)
                svc_slot_close(&slots[k]);
            return rc;
        }
    }
    return 0;
}

static void close_slots(svc_slot *slots, int n) {
    for (int k = 0; k < n; k++)
        svc_slot_close(&slots[k]);
}

/* What one row measured. */
typedef struct row {
    double wall_ms, cpu_ms, idle_ms;
    int64_t bytes_per_request;   /* evasync rows: the meter's peak per in-flight request */
    double allocs_per_request;
    uint64_t checksum;
    int failed;
} row;

static int run_on_loop(svc_run *run, const style *s, const eva_detector_options *detector, row *out) {
    int rc = eva_loop_new(&run->loop);
    if (rc < 0)
        return rc;
    rc = eva_detector_start(run->loop, detector);
    meter_stats m0, m1;
    meter_reset_peak();
    meter_get(&m0);
    double cpu0 = process_cpu_ms();
    uint64_t t0 = eva_hrtime();
    if (rc == 0)
        rc = s->run(run);
    out->wall_ms = (double)(eva_hrtime() - t0) / 1e6;
    out->cpu_ms = process_cpu_ms() - cpu0;
    meter_get(&m1);
    eva_loop_metrics lm;
    eva_loop_get_metrics(run->loop, &lm);
    out->idle_ms = (double)lm.idle_ns / 1e6;
    out->bytes_per_request = (m1.peak - m0.live) / run->nslots;
    out->allocs_per_request = (double)(m1.allocs - m0.allocs) / run->requests;
    eva_loop_destroy(run->loop);
    run->loop = NULL;
    return rc;
}

static int run_row(const options *o, const style *s, svc_run *run, row *out) {
    svc_slot *slots = calloc((size_t)run->nslots, sizeof *slots);
    if (!slots)
        return -ENOMEM;
    int rc = open_slots(slots, run->nslots, o, s->on_loop);
    if (rc == 0) {
        run->slots = slots;
        run->failed = 0;
        *out = (row){.idle_ms = -1, .bytes_per_request = -1, .allocs_per_request = -1};
        if (s->on_loop) {
            rc = run_on_loop(run, s, NULL, out);
        } else {
            double cpu0 = process_cpu_ms();
            uint64_t t0 = eva_hrtime();
            rc = s->run(run);
            out->wall_ms = (double)(eva_hrtime() - t0) / 1e6;
            out->cpu_ms = process_cpu_ms() - cpu0;
        }
        out->checksum = checksum(run->lines, run->requests);
        out->failed = run->failed;
        close_slots(slots, run->nslots);
    }
    free(slots);
    return rc;
}

/* A thread's cost while it waits: its stack reservation (virtual) and the
 * resident memory n fresh threads add, blocked before their first request. */
typedef struct parked {
    pthread_barrier_t started, release;
} parked;

static void *park(void *arg) {
    parked *p = arg;
    pthread_barrier_wait(&p->started);
    pthread_barrier_wait(&p->release);
    return NULL;
}

static long thread_rss_kib(int n) {
    parked p;
    pthread_t *t = calloc((size_t)n, sizeof *t);
    if (!t)
        return -1;
    pthread_barrier_init(&p.started, NULL, (unsigned)n + 1);
    pthread_barrier_init(&p.release, NULL, (unsigned)n + 1);
    long before = rss_kib();
    for (int i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, park, &p) != 0)
            abort(); /* the threads row has just created as many */
    pthread_barrier_wait(&p.started);
    long after = rss_kib();
    pthread_barrier_wait(&p.release);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&p.started);
    pthread_barrier_destroy(&p.release);
    free(t);
    return (after - before) / n;
}

static size_t default_stack_kib(void) {
    pthread_attr_t a;
    size_t size = 0;
    if (pthread_getattr_default_np(&a) == 0) {
        pthread_attr_getstacksize(&a, &size);
        pthread_attr_destroy(&a);
    }
    return size / 1024;
}

static void print_row(const char *name, const svc_run *run, const row *r, const char *memory, bool ok) {
    char idle[16] = "-", allocs[16] = "-";
    if (r->idle_ms >= 0)
        snprintf(idle, sizeof idle, "%.1f%%", 100.0 * r->idle_ms / r->wall_ms);
    if (r->allocs_per_request >= 0)
        snprintf(allocs, sizeof allocs, "%.1f", r->allocs_per_request);
    printf("%-9s %5d %7d %9.1f %7.1f %8.1f%% %9s %-28s %7s  %016" PRIx64 " %s\n", name,
           run->requests, run->nslots, r->wall_ms, run->requests / r->wall_ms * 1e3,
           100.0 * r->cpu_ms / r->wall_ms, idle, memory, allocs, r->checksum, ok ? "ok" : "DIFFERENT");
}

/* The table: every style over the same requests; each line must equal the
 * threads row's line for the same request. */
static int run_table(const options *o, eva_pool *pool) {
    char (*reference)[SVC_LINE] = calloc((size_t)o->requests, SVC_LINE);
    char (*lines)[SVC_LINE] = calloc((size_t)o->requests, SVC_LINE);
    if (!reference || !lines) {
        free(reference);
        free(lines);
        return -ENOMEM;
    }
    printf("%-9s %5s %7s %9s %7s %9s %9s %-28s %7s  %-16s\n", "style", "reqs", "inflight", "wall ms",
           "req/s", "cpu/wall", "loop idle", "memory per in-flight request", "allocs", "checksum");
    int failures = 0;
    for (int s = 1; s <= NSTYLES; s++) {
        const style *st = &STYLES[s % NSTYLES]; /* threads first: the reference */
        bool blocking = st->run == svc_run_blocking;
        svc_run run = {.pool = pool, .nslots = blocking ? 1 : o->slots,
                       .requests = blocking ? o->blocking : o->requests, .timeout_ms = 5000,
                       .lines = st->run == svc_run_threads ? reference : lines};
        char sleep_s[16];
        snprintf(sleep_s, sizeof sleep_s, "%.3f", o->sleep_ms / 1e3);
        run.sleep_s = sleep_s;
        row r;
        int rc = run_row(o, st, &run, &r);
        if (rc < 0) {
            fprintf(stderr, "checkout: %s: %s\n", st->name, eva_strerror(rc));
            failures++;
            continue;
        }
        bool same = r.failed == 0 &&
                    memcmp(run.lines, reference, (size_t)run.requests * SVC_LINE) == 0;
        char memory[64];
        if (blocking)
            snprintf(memory, sizeof memory, "(one at a time)");
        else if (!st->on_loop)
            snprintf(memory, sizeof memory, "%ld KiB RSS + %zu KiB stack", thread_rss_kib(o->slots),
                     default_stack_kib());
        else
            snprintf(memory, sizeof memory, "%" PRId64 " bytes", r.bytes_per_request);
        print_row(st->name, &run, &r, memory, same);
        if (!same) {
            failures++;
            for (int i = 0; i < run.requests; i++)
                if (strcmp(run.lines[i], reference[i]) != 0) {
                    fprintf(stderr, "checkout: %s request %d: %s\n  threads gave: %s\n", st->name, i,
                            run.lines[i], reference[i]);
                    break;
                }
        }
    }
    free(reference);
    free(lines);
    return failures;
}

/* ---- the blocked-loop detector -------------------------------------------- */

typedef struct reports {
    pthread_mutex_t lock;
    int count;                /* reports naming the handler's task */
    int other;                /* stalls outside it (a loaded machine preempting the loop) */
    bool have_finished;
    char first[256];          /* the first report of a finished block, else the first */
} reports;

static void on_block(void *arg, const eva_block_report *r) { /* the watchdog's thread, or the loop's */
    reports *rep = arg;
    pthread_mutex_lock(&rep->lock);
    bool finished = r->kind == EVA_BLOCK_DISPATCH;
    if (!r->task || strcmp(r->task, "checkout") != 0) {
        rep->other++;
    } else {
        if (!rep->have_finished && (rep->count == 0 || finished)) {
            snprintf(rep->first, sizeof rep->first, "%s for %" PRIu64 " ms %s",
                     finished ? "blocked" : "blocked so far", r->duration_ms, r->culprit);
            rep->have_finished = finished;
        }
        rep->count++;
    }
    pthread_mutex_unlock(&rep->lock);
}

/* Printed, not judged: whether a stall crosses the threshold is timing. */
static int detector_run(const options *o, eva_pool *pool, bool inline_cpu) {
    enum { REQUESTS = 20, SLOTS = 10 };
    static char lines[REQUESTS][SVC_LINE];
    svc_slot slots[SLOTS];
    int rc = open_slots(slots, SLOTS, o, true);
    if (rc < 0)
        return rc;
    reports rep = {.lock = PTHREAD_MUTEX_INITIALIZER};
    /* Below the 10 ms hash, above everything else a step does. */
    eva_detector_options d = {.threshold_ms = 5, .on_block = on_block, .arg = &rep};
    svc_run run = {.pool = pool, .slots = slots, .nslots = SLOTS, .requests = REQUESTS,
                   .sleep_s = "0.01", .timeout_ms = 5000, .inline_cpu = inline_cpu, .lines = lines};
    row r;
    rc = run_on_loop(&run, &STYLES[NSTYLES - 1], &d, &r);
    close_slots(slots, SLOTS);
    printf("  %-26s %d report%s naming the handler%s%s", inline_cpu ? "hash on the loop thread:" :
           "hash on the offload pool:", rep.count, rep.count == 1 ? "" : "s", rep.count ? "; the first: " : "",
           rep.first);
    if (rep.other)
        printf(" (and %d stall%s outside it: the machine's load)", rep.other, rep.other == 1 ? "" : "s");
    printf("\n");
    return rc < 0 ? rc : run.failed ? -EPROTO : 0;
}

/* ---- --check: the error paths in the three styles ------------------------- */

enum { CASE_OK, CASE_MISSING, CASE_TIMEOUT, CASE_DOWN, NCASES };
static const char *const CASES[NCASES] = {"a row found", "a row missing", "a timeout", "PostgreSQL gone"};

static void case_input(const svc_run *run, int i, int *account, int *item) {
    (void)run;
    (void)i;
    *account = 7;
    *item = 3;
}

static void missing_input(const svc_run *run, int i, int *account, int *item) {
    (void)run;
    (void)i;
    *account = 5000; /* the seed has 0..999 */
    *item = 3;
}

/* The backend behind s->pg ended by the server (as a restart or a crash
 * would), and gone before this returns. */
static int terminate_backend(const options *o, svc_slot *s) {
    PGconn *admin = PQconnectdb(o->pg);
    char pid[16];
    snprintf(pid, sizeof pid, "%d", PQbackendPID(s->pg));
    const char *params[] = {pid};
    PGresult *res = PQexecParams(admin, "SELECT pg_terminate_backend($1, 5000)", 1, NULL, params,
                                 NULL, NULL, 0);
    int rc = PQresultStatus(res) == PGRES_TUPLES_OK ? 0 : -EIO;
    PQclear(res);
    PQfinish(admin);
    return rc;
}

static int check_case(const options *o, eva_pool *pool, const style *st, int c, char *line) {
    svc_slot slot;
    char lines[1][SVC_LINE] = {{0}};
    int rc = svc_slot_open(&slot, o->pg, o->redis, true);
    if (rc < 0)
        return rc;
    if (c == CASE_DOWN && (rc = terminate_backend(o, &slot)) < 0) {
        svc_slot_close(&slot);
        return rc;
    }
    svc_run run = {.pool = pool, .slots = &slot, .nslots = 1, .requests = 1,
                   .sleep_s = c == CASE_TIMEOUT ? "2" : "0.01", .timeout_ms = c == CASE_TIMEOUT ? 100 : 5000,
                   .input = c == CASE_MISSING ? missing_input : case_input, .lines = lines};
    row r;
    rc = run_on_loop(&run, st, NULL, &r);
    svc_slot_close(&slot);
    strcpy(line, lines[0]);
    return rc;
}

static int run_check(const options *o, eva_pool *pool) {
    int failures = 0;
    for (int c = 0; c < NCASES; c++) {
        char first[SVC_LINE] = "";
        for (int s = 2; s < NSTYLES; s++) {
            char line[SVC_LINE];
            int rc = check_case(o, pool, &STYLES[s], c, line);
            if (rc < 0) {
                fprintf(stderr, "checkout: %s, %s: %s\n", CASES[c], STYLES[s].name, eva_strerror(rc));
                failures++;
                continue;
            }
            bool same = s == 2 || strcmp(line, first) == 0;
            if (s == 2)
                strcpy(first, line);
            failures += !same;
            printf("%-16s %-9s %s%s\n", CASES[c], STYLES[s].name, line, same ? "" : "  DIFFERENT");
        }
    }
    printf("check: %s\n", failures ? "the styles differ" : "the three styles agree on every case");
    return failures;
}

/* ---- main ------------------------------------------------------------------- */

static int arg_int(int argc, char **argv, const char *name, int fallback) {
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return atoi(argv[i + 1]);
    return fallback;
}

static bool arg_flag(int argc, char **argv, const char *name) {
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return true;
    return false;
}

int svc_main(int argc, char **argv, const char *pg_conninfo, const char *redis_path) {
    options o = {.requests = arg_int(argc, argv, "--requests", 200),
                 .slots = arg_int(argc, argv, "--inflight", 50),
                 .blocking = arg_int(argc, argv, "--blocking", 5),
                 .sleep_ms = arg_int(argc, argv, "--sleep-ms", 50),
                 .cpu_ms = arg_int(argc, argv, "--cpu-ms", 10),
                 .check = arg_flag(argc, argv, "--check"),
                 .pg = pg_conninfo, .redis = redis_path};
    if (o.requests <= 0 || o.slots <= 0 || o.slots > o.requests || o.blocking <= 0 ||
        o.blocking > o.requests || o.sleep_ms < 0 || o.cpu_ms < 0) {
        fprintf(stderr, "usage: checkout [--requests N] [--inflight C] [--blocking B] [--sleep-ms S] "
                        "[--cpu-ms C] [--check] [--builtin]\n");
        return 2;
    }
    svc_calibrate(o.cpu_ms);
    eva_pool *pool;
    int rc = eva_pool_new(NULL, &pool);
    if (rc < 0) {
        fprintf(stderr, "checkout: %s\n", eva_strerror(rc));
        return 1;
    }
    int failures;
    if (o.check) {
        failures = run_check(&o, pool);
    } else {
        printf("checkout against PostgreSQL and Redis: each request = %d queries (%d ms server-side "
               "each), 1 Redis SET+GET, %d ms of hashing\n\n", SVC_QUERIES, o.sleep_ms, o.cpu_ms);
        failures = run_table(&o, pool);
        printf("\nThe blocked-loop detector (threshold 5 ms), AWAIT style:\n");
        failures += detector_run(&o, pool, true) != 0;
        failures += detector_run(&o, pool, false) != 0;
    }
    eva_pool_destroy(pool);
    return failures ? 1 : 0;
}
