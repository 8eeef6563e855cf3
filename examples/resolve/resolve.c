/* examples/resolve — a tiny dig: resolve every name on the command line
 * concurrently, one task per name in a scope, and print the answers as
 * they arrive.
 *
 *   resolve [--server HOST:PORT[,...]] [--timeout MS] [--tries N] [-4 | -6] [-x] NAME...
 *
 *   --server   DNS servers ("127.0.0.1:5353"); default: /etc/resolv.conf's
 *   --timeout  per-try timeout in ms; --tries: tries per server
 *   -4, -6     IPv4 or IPv6 addresses only (default: both)
 *   -x         reverse lookups: every NAME is an IPv4 or IPv6 address
 *
 * Exits 0 if every lookup succeeded, 1 if one failed, 2 on a usage error.
 * The lookups run on one thread: they all wait on the network at once.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evasync.h"

/* One lookup: everything that lives across the AWAIT is in the frame. */
typedef struct lookup {
    eva_task task;
    eva_dns_query query;
    const char *name;
    int family;
    bool reverse;
    int *failures;
    uint64_t started_ns;
    int rc;
    eva_dns_addrs *addrs;           /* forward: the answer (ours to free) */
    struct sockaddr_storage ss;     /* reverse: the address asked about */
    socklen_t sslen;
    char host[1025];                /* reverse: the answer (NI_MAXHOST) */
} lookup;

static const char *family_name(int family) {
    return family == AF_INET ? "A" : family == AF_INET6 ? "AAAA" : "?";
}

static void print_answer(lookup *l) {
    double ms = (double)(eva_hrtime() - l->started_ns) / 1e6;
    if (l->rc < 0) {
        const char *detail = eva_dns_query_get_message(&l->query); /* "" if it never started */
        printf(";; %s: %s%s%s%s in %.1f ms\n", l->name, eva_strerror(l->rc), detail[0] ? " (" : "",
               detail, detail[0] ? ")" : "", ms);
        (*l->failures)++;
        return;
    }
    if (l->reverse) {
        printf(";; %s: 1 name in %.1f ms\n%s\tPTR\t%s.\n", l->name, ms, l->name, l->host);
        return;
    }
    printf(";; %s: %zu address%s in %.1f ms\n", l->name, l->addrs->count,
           l->addrs->count == 1 ? "" : "es", ms);
    for (size_t i = 0; i < l->addrs->count; i++) {
        char text[INET6_ADDRSTRLEN];
        eva_dns_addr_format(&l->addrs->addr[i], text, sizeof text);
        printf("%s.\t%d\tIN\t%s\t%s\n", l->name, l->addrs->addr[i].ttl,
               family_name(l->addrs->addr[i].family), text);
    }
}

static eva_step lookup_run(void *frame) {
    lookup *l = frame;
    ASYNC_BEGIN(l);
    l->started_ns = eva_hrtime();
    if (l->reverse) {
        AWAIT_RC(l, l->rc, eva_dns_reverse_op(&l->query, (struct sockaddr *)&l->ss, l->sslen,
                                              l->host, sizeof l->host));
    } else {
        /* AWAIT_RC: a failed lookup is reported, it does not fail the scope
         * (which would cancel the other lookups) */
        AWAIT_RC(l, l->rc, eva_dns_resolve_op(&l->query, l->name, l->family, &l->addrs));
    }
    print_answer(l);
    ASYNC_FINALLY(l);
    eva_dns_addrs_free(l->addrs);
    ASYNC_END(l);
}

/* The owner: starts one child per name and joins them. */
typedef struct resolver {
    eva_task task;
    eva_scope scope;
    char **names;
    int count, i;
    int family;
    bool reverse;
    int failures;
} resolver;

static eva_step resolver_run(void *frame) {
    resolver *r = frame;
    ASYNC_BEGIN(r);
    if (eva_scope_init(&r->scope, &r->task) < 0)
        ASYNC_FAIL(r, -ENOMEM, "cannot start the lookups");
    for (r->i = 0; r->i < r->count; r->i++) {
        lookup *l;
        if (eva_scope_spawn(&r->scope, sizeof *l, lookup_run, "lookup", (void **)&l) < 0) {
            printf(";; %s: not started: out of memory\n", r->names[r->i]);
            r->failures++;
            continue;
        }
        l->name = r->names[r->i];
        l->family = r->family;
        l->failures = &r->failures;
        l->reverse = r->reverse;
        if (r->reverse) {
            struct sockaddr_in *sin = (struct sockaddr_in *)&l->ss;
            struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&l->ss;
            if (inet_pton(AF_INET, l->name, &sin->sin_addr) == 1) {
                sin->sin_family = AF_INET;
                l->sslen = sizeof *sin;
            } else if (inet_pton(AF_INET6, l->name, &sin6->sin6_addr) == 1) {
                sin6->sin6_family = AF_INET6;
                l->sslen = sizeof *sin6;
            } /* else: sslen 0, and the lookup reports -EINVAL */
        }
    }
    AWAIT(r, eva_scope_join_op(&r->scope));
    ASYNC_END(r);
}

static int usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s [--server HOST:PORT[,...]] [--timeout MS] [--tries N] [-4 | -6] [-x] NAME...\n",
            argv0);
    return 2;
}

int main(int argc, char **argv) {
    eva_dns_options opts = {0};
    bool configure = false;
    resolver r = {.family = AF_UNSPEC};
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--server") == 0 && i + 1 < argc) {
            opts.servers = argv[++i];
            configure = true;
        } else if (strcmp(a, "--timeout") == 0 && i + 1 < argc) {
            opts.timeout_ms = atoi(argv[++i]);
            configure = true;
        } else if (strcmp(a, "--tries") == 0 && i + 1 < argc) {
            opts.tries = atoi(argv[++i]);
            configure = true;
        } else if (strcmp(a, "-4") == 0) {
            r.family = AF_INET;
        } else if (strcmp(a, "-6") == 0) {
            r.family = AF_INET6;
        } else if (strcmp(a, "-x") == 0) {
            r.reverse = true;
        } else {
            return usage(argv[0]);
        }
    }
    if (i == argc)
        return usage(argv[0]);
    r.names = argv + i;
    r.count = argc - i;

    eva_loop *loop;
    int rc = eva_loop_new(&loop);
    if (rc < 0) {
        fprintf(stderr, "resolve: %s\n", eva_strerror(rc));
        return 1;
    }
    eva_detector_start(loop, NULL); /* warns if anything blocks the loop (none should) */
    if (configure && (rc = eva_dns_configure(loop, &opts)) < 0) {
        fprintf(stderr, "resolve: bad resolver options: %s\n", eva_strerror(rc));
        eva_loop_destroy(loop);
        return 2;
    }
    eva_task_init(loop, &r.task, resolver_run, "resolve");
    rc = eva_task_start(&r.task, NULL);
    if (rc == 0)
        rc = eva_loop_run(loop, EVA_RUN_DEFAULT); /* until every lookup is done */
    if (rc >= 0 && eva_task_get_status(&r.task) < 0) {
        fprintf(stderr, "resolve: %s\n", eva_task_get_message(&r.task));
        r.failures++;
    }
    eva_loop_destroy(loop);
    return rc < 0 || r.failures ? 1 : 0;
}
