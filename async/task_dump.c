/* async/task_dump.c — eva_loop_list_tasks / eva_loop_dump_tasks: what every
 * live task is doing, for a human (SIGUSR1) or for a daemon's status page. */
#include <errno.h>
#include <limits.h>

#include "async_internal.h"

static void describe(const eva_task *t, eva_loop *loop, eva_task_info *info) {
    const eva_task *in = t; /* a task parked in an EVA_ASYNC call: look inside */
    for (const eva_task *child; (child = eva__task_nested_child(in));)
        in = child;
    bool parked = in->state == EVA_TASK_SUSPENDED && !(in->flags & EVA__TASK_EXIT_HELD);
    *info = (eva_task_info){
        .task = t,
        .name = eva_task_get_name(t),
        .state = t->state,
        .cancelling = t->flags & EVA__TASK_CANCEL,
        .site = in->site,
        .awaiting = in->state == EVA_TASK_SUSPENDED && in->wait ? in->wait->kind : NULL,
        .parked_ms = parked ? (uint32_t)((uint32_t)eva_now(loop) - in->parked_ms) : 0,
    };
}

/* Describe every live task, top-level ones first, then scope children. */
typedef struct visitor {
    void (*fn)(struct visitor *v, const eva_task_info *info);
    size_t count;
} visitor;

static void visit_list(eva_loop *loop, eva_queue *tasks, visitor *v) {
    eva_task_info info;
    EVA__QUEUE_FOREACH(n, tasks) {
        describe(EVA__QUEUE_DATA(n, eva_task, node), loop, &info);
        v->fn(v, &info);
        v->count++;
    }
}

static int visit(eva_loop *loop, visitor *v) {
    eva__async_loop *al = eva__async_loop_get(loop);
    if (!al)
        return 0; /* no task was ever started here (and no memory to say more) */
    visit_list(loop, &al->live, v);
    EVA__QUEUE_FOREACH(n, &al->scopes)
        visit_list(loop, &EVA__QUEUE_DATA(n, eva_scope, node)->children, v);
    return v->count > INT_MAX ? INT_MAX : (int)v->count;
}

typedef struct lister {
    visitor v;
    eva_task_info *out;
    size_t max;
} lister;

static void list_one(visitor *v, const eva_task_info *info) {
    lister *l = (lister *)v;
    if (v->count < l->max)
        l->out[v->count] = *info;
}

int eva_loop_list_tasks(eva_loop *loop, eva_task_info *out, size_t max) {
    if (!loop || (max && !out))
        return -EINVAL;
    lister l = {{list_one, 0}, out, max};
    return visit(loop, &l.v);
}

static const char *state_name(const eva_task_info *i) {
    if (i->cancelling)
        return "cancelling";
    switch (i->state) {
    case EVA_TASK_QUEUED:    return "queued";
    case EVA_TASK_RUNNING:   return "running";
    case EVA_TASK_SUSPENDED: return "suspended";
    default:                 return "finished";
    }
}

typedef struct dumper {
    visitor v;
    FILE *out;
    bool failed;
} dumper;

static void dump_one(visitor *v, const eva_task_info *t) {
    dumper *d = (dumper *)v;
    int w = fprintf(d->out, "task '%s' %s", t->name, state_name(t));
    if (w >= 0 && t->awaiting)
        w = fprintf(d->out, " %llu ms", (unsigned long long)t->parked_ms);
    if (w >= 0 && t->site)
        w = fprintf(d->out, " at %s:%d", t->site->file, t->site->line);
    if (w >= 0 && t->awaiting)
        w = t->site ? fprintf(d->out, " awaiting %s: %s", t->awaiting, t->site->expr)
                    : fprintf(d->out, " awaiting %s", t->awaiting);
    if (w < 0 || fputc('\n', d->out) == EOF)
        d->failed = true;
}

int eva_loop_dump_tasks(eva_loop *loop, FILE *out) {
    if (!loop || !out)
        return -EINVAL;
    dumper d = {{dump_one, 0}, out, false};
    int n = visit(loop, &d.v);
    return d.failed || fflush(out) == EOF ? -EIO : n;
}
