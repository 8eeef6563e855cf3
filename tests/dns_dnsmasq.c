/* tests/dns_dnsmasq.c — see dns_dnsmasq.h. */
#define _GNU_SOURCE /* mkdtemp */
#include "dns_dnsmasq.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* PROBE_MS bounds the wait for a live dnsmasq to answer (a loaded machine
 * under ASan has taken over 5 s); START_TRIES new ports for one that
 * exited at once, its port taken between free_port() and its bind. */
enum { MAX_ARGS = 32, PROBE_MS = 15000, START_TRIES = 3 };

static const char dnsmasq_path[] = "/usr/sbin/dnsmasq";
static const char probe_name[] = "probe.dnsmasq.test";

struct dns_dnsmasq {
    pid_t pid;
    char dir[64];
    char servers[32];
};

/* A port free for both UDP and TCP on 127.0.0.1 (the kernel's pick for UDP,
 * checked for TCP); 0 if none.  dnsmasq binds both. */
static int free_port(void) {
    for (int attempt = 0; attempt < 20; attempt++) {
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof sin;
        int u = socket(AF_INET, SOCK_DGRAM, 0), t = socket(AF_INET, SOCK_STREAM, 0);
        int port = 0;
        if (u >= 0 && t >= 0 && bind(u, (struct sockaddr *)&sin, sizeof sin) == 0 &&
            getsockname(u, (struct sockaddr *)&sin, &len) == 0 && bind(t, (struct sockaddr *)&sin, sizeof sin) == 0)
            port = ntohs(sin.sin_port);
        if (u >= 0)
            close(u);
        if (t >= 0)
            close(t);
        if (port)
            return port;
    }
    return 0;
}

static int write_zone(const char *path, dns_zone_fn zone, void *arg) {
    FILE *f = fopen(path, "w");
    if (!f)
        return -errno;
    fprintf(f, "127.0.0.2 %s\n", probe_name);
    if (zone)
        zone(f, arg);
    return fclose(f) == 0 ? 0 : -EIO;
}

static int spawn(dns_dnsmasq *d, int port, const char *const *extra) {
    char port_opt[32], hosts_opt[96], pid_opt[96], log_opt[96];
    snprintf(port_opt, sizeof port_opt, "--port=%d", port);
    snprintf(hosts_opt, sizeof hosts_opt, "--addn-hosts=%s/hosts", d->dir);
    snprintf(pid_opt, sizeof pid_opt, "--pid-file=%s/pid", d->dir);
    snprintf(log_opt, sizeof log_opt, "--log-facility=%s/log", d->dir);
    const char *argv[MAX_ARGS] = {dnsmasq_path, port_opt, "--listen-address=127.0.0.1", "--bind-interfaces",
                                  "--no-resolv", "--no-hosts", hosts_opt, "--keep-in-foreground", pid_opt,
                                  log_opt, "--conf-file=/dev/null", "--user=root", "--group=root"};
    int argc = 13;
    for (int i = 0; extra && extra[i] && argc < MAX_ARGS - 1; i++)
        argv[argc++] = extra[i];
    int rc = posix_spawn(&d->pid, dnsmasq_path, NULL, NULL, (char *const *)argv, environ);
    return rc ? -rc : 0;
}

/* ---- waiting until it answers (leaves loop's resolver pointed at it, with
 * a short timeout: the caller configures its own) -------------------------------------------- */

typedef struct probe {
    eva_dns_query q;
    pid_t pid;                  /* the dnsmasq asked */
    bool answered, expired, exited;
    eva_timer retry, guard;
} probe;

static void probe_send(probe *p);

/* Ask again, unless dnsmasq has exited (then it is reaped here). */
static void on_retry(eva_timer *t) {
    probe *p = t->data;
    if (waitpid(p->pid, NULL, WNOHANG) == p->pid) {
        p->exited = p->expired = true;
        return;
    }
    probe_send(p);
}

static void on_probe(eva_dns_query *q, int status, eva_dns_addrs *addrs) {
    probe *p = q->data;
    eva_dns_addrs_free(addrs);
    if (status == 0)
        p->answered = true;
    else if (!p->expired) /* not listening yet: ask again after a moment */
        eva_timer_start(&p->retry, 10, 0, on_retry, p);
}

static void probe_send(probe *p) {
    if (eva_dns_resolve(eva_timer_get_loop(&p->retry), &p->q, probe_name, AF_INET, on_probe, p) < 0)
        p->expired = true;
}

static void on_guard(eva_timer *t) { ((probe *)t->data)->expired = true; }

/* 0 once it answers; -EADDRINUSE if it exited first (reaped), -ETIMEDOUT. */
static int wait_answering(eva_loop *loop, const char *servers, pid_t pid) {
    eva_dns_options o = {.servers = servers, .timeout_ms = 100, .tries = 1};
    int rc = eva_dns_configure(loop, &o);
    if (rc < 0)
        return rc;
    probe p = {.pid = pid};
    eva_timer_init(loop, &p.retry);
    eva_timer_init(loop, &p.guard);
    eva_timer_start(&p.guard, PROBE_MS, 0, on_guard, &p);
    probe_send(&p);
    while (!p.answered && !p.expired)
        eva_loop_run(loop, EVA_RUN_ONCE);
    eva_timer_stop(&p.guard);
    eva_timer_stop(&p.retry);
    while (eva_dns_query_is_pending(&p.q)) /* a probe still out when the guard fired */
        eva_loop_run(loop, EVA_RUN_ONCE);
    return p.answered ? 0 : p.exited ? -EADDRINUSE : -ETIMEDOUT;
}

/* ---- start, stop ---------------------------------------------------------------------------- */

int dns_dnsmasq_start(eva_loop *loop, dns_zone_fn zone, void *arg, const char *const *extra,
                      dns_dnsmasq **out) {
    if (access(dnsmasq_path, X_OK) != 0)
        return -ENOENT;
    dns_dnsmasq *d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    snprintf(d->dir, sizeof d->dir, "/tmp/eva-dnsmasq-XXXXXX");
    if (!mkdtemp(d->dir)) {
        free(d);
        return -errno;
    }
    char hosts[96];
    snprintf(hosts, sizeof hosts, "%s/hosts", d->dir);
    int rc = write_zone(hosts, zone, arg);
    for (int try = 0; rc == 0 || (rc == -EADDRINUSE && try < START_TRIES); try++) {
        int port = free_port();
        rc = port ? spawn(d, port, extra) : -EADDRINUSE;
        if (rc == 0) {
            snprintf(d->servers, sizeof d->servers, "127.0.0.1:%d", port);
            rc = wait_answering(loop, d->servers, d->pid);
        }
        if (rc == 0)
            break;
        if (rc == -EADDRINUSE)
            d->pid = 0; /* exited and reaped: another port */
    }
    if (rc < 0) {
        dns_dnsmasq_stop(d);
        return rc;
    }
    *out = d;
    return 0;
}

const char *dns_dnsmasq_servers(const dns_dnsmasq *d) { return d->servers; }

void dns_dnsmasq_stop(dns_dnsmasq *d) {
    if (d->pid > 0) {
        kill(d->pid, SIGTERM);
        waitpid(d->pid, NULL, 0);
    }
    const char *files[] = {"hosts", "pid", "log"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[96];
        snprintf(path, sizeof path, "%s/%s", d->dir, files[i]);
        unlink(path);
    }
    rmdir(d->dir);
    free(d);
}
