/* examples/daemon/config.c — the config file, and reloading it without
 * blocking the loop: the read (a disk that may stall) runs on the offload
 * pool, the swap on the loop thread. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

static bool name_is_plain(const char *s) {
    size_t n = strlen(s);
    return n > 0 && n < CONFIG_NAME_MAX &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._ -") == n;
}

/* One line (its newline removed): 0, or -EINVAL with err filled. */
static int parse_line(char *line, int lineno, config *out, char *err, size_t errlen) {
    if (line[0] == '#' || line[0] == '\0')
        return 0;
    char *eq = strchr(line, '=');
    if (!eq) {
        snprintf(err, errlen, "line %d: no '='", lineno);
        return -EINVAL;
    }
    *eq = '\0';
    const char *value = eq + 1;
    if (strcmp(line, "name") != 0) {
        snprintf(err, errlen, "line %d: unknown key '%.32s'", lineno, line);
        return -EINVAL;
    }
    if (!name_is_plain(value)) {
        snprintf(err, errlen, "line %d: name must be 1..%d of [A-Za-z0-9._ -]", lineno, CONFIG_NAME_MAX - 1);
        return -EINVAL;
    }
    strcpy(out->name, value);
    return 0;
}

int config_load(const char *path, config *out, char *err, size_t errlen) {
    FILE *f = fopen(path, "r");
    if (!f) {
        int rc = -errno;
        snprintf(err, errlen, "%s: %s", path, eva_strerror(rc)); /* strerror is not thread-safe */
        return rc;
    }
    config cfg = {.name = "daemon"};
    char line[256];
    int rc = 0;
    for (int lineno = 1; rc == 0 && fgets(line, sizeof line, f); lineno++) {
        line[strcspn(line, "\r\n")] = '\0';
        rc = parse_line(line, lineno, &cfg, err, errlen);
    }
    fclose(f);
    if (rc == 0)
        *out = cfg;
    return rc;
}

/* What a worker hands back: the parsed file or why not. */
typedef struct loaded {
    int rc;
    config cfg;
    char err[128];
} loaded;

/* On a pool worker: touches nothing but its own allocation. */
static void *load_on_worker(void *path) {
    loaded *l = malloc(sizeof *l);
    if (l)
        l->rc = config_load(path, &l->cfg, l->err, sizeof l->err);
    return l;
}

/* Back on the loop: adopt what the worker read.  0 or its error; r->message
 * says which. */
static int apply(reload *r) {
    loaded *l = r->job.result;
    r->job.result = NULL;
    int rc = l ? l->rc : -ENOMEM;
    if (rc < 0) {
        snprintf(r->message, sizeof r->message, "%s", l ? l->err : "out of memory");
    } else {
        r->d->cfg = l->cfg;
        r->d->reloads++;
        snprintf(r->message, sizeof r->message, "name=%s", l->cfg.name);
    }
    free(l);
    printf("daemon: %s %s\n", rc < 0 ? "reload failed:" : "reloaded", r->message);
    return rc;
}

eva_step reload_run(void *frame) {
    reload *r = frame;
    ASYNC_BEGIN(r);
    AWAIT(r, eva_mutex_lock_op(&r->d->reload_lock));
    r->locked = true;
    r->job.result_dtor = free; /* a read finished after a cancel */
    AWAIT(r, eva_pool_submit_op(r->d->pool, &r->job, load_on_worker, (void *)r->d->config_path));
    r->rc = apply(r);
    if (r->rc < 0)
        ASYNC_FAIL(r, r->rc, r->message);
    ASYNC_FINALLY(r);
    if (r->locked)
        eva_mutex_unlock(&r->d->reload_lock);
    ASYNC_END(r);
}

int reload_spawn(daemon_state *d) {
    reload *r;
    int rc = eva_task_spawn(d->loop, sizeof *r, reload_run, "reload", NULL, (void **)&r);
    if (rc == 0)
        r->d = d;
    return rc;
}
