/* loop/group.c — a loop group: N threads, each running its own eva_loop.
 *
 * Each member has an ev_async of its own, started and referenced before its
 * thread exists: it keeps the member's loop running while it has nothing
 * else to do, and it is how eva_group_stop reaches the loop from any
 * thread.  Its callback stops it (the loop may now run out of work), runs
 * the stop hook, and the loop drains: eva_loop_run returns 0 once nothing
 * is active, and the thread ends.
 *
 * Start launches the members one at a time and waits for each setup's
 * result under the group's mutex, so the setups run in index order and a
 * failure stops the launch at once. */
#include <errno.h>
#include <stdlib.h>

#include "evasync/group.h"
#include "internal.h"

enum { GROUP_MAX_THREADS = 1024 };

enum group_state { GROUP_NEW, GROUP_STARTED, GROUP_JOINED };

struct eva_group;

typedef struct group_member {
    struct eva_group *group;
    unsigned index;
    eva_loop *loop;
    ev_async stop_async;  /* keeps the loop running until the stop arrives */
    pthread_t thread;
    int setup_rc;         /* under the group's mutex */
    bool set_up;          /* setup returned (setup_rc is valid) */
} group_member;

struct eva_group {
    eva_group_options opts;
    unsigned size;
    unsigned launched;    /* members whose thread was created (under mutex) */
    bool stopping;        /* eva_group_stop was called (under mutex) */
    enum group_state state; /* the owner's thread only */
    pthread_mutex_t mutex;
    pthread_cond_t set_up;
    group_member members[];
};

static void on_stop(struct ev_loop *ev, ev_async *w, int revents) {
    (void)revents;
    group_member *m = w->data;
    ev_async_stop(ev, w);
    eva_group_stop_fn stop = m->group->opts.stop;
    if (stop)
        EVA__CALL_USER(m->loop, stop, stop(m->loop, m->index, m->group->opts.arg));
}

static void report_setup(group_member *m, int rc) {
    pthread_mutex_lock(&m->group->mutex);
    m->setup_rc = rc;
    m->set_up = true;
    pthread_cond_signal(&m->group->set_up);
    pthread_mutex_unlock(&m->group->mutex);
}

static void *member_main(void *arg) {
    group_member *m = arg;
    eva_group_setup_fn setup = m->group->opts.setup;
    int rc = setup ? setup(m->loop, m->index, m->group->opts.arg) : 0;
    report_setup(m, rc);
    if (rc < 0)
        return NULL;
    /* 1: something is still active; eva_loop_stop made it return early */
    while (eva_loop_run(m->loop, EVA_RUN_DEFAULT) == 1)
        ;
    return NULL;
}

static void destroy_loops(eva_group *g, unsigned n) {
    for (unsigned i = 0; i < n; i++)
        eva_loop_destroy(g->members[i].loop);
}

static int make_loops(eva_group *g) {
    for (unsigned i = 0; i < g->size; i++) {
        group_member *m = &g->members[i];
        int rc = eva_loop_new(&m->loop);
        if (rc < 0) {
            destroy_loops(g, i);
            return rc;
        }
        m->group = g;
        m->index = i;
        ev_async_init(&m->stop_async, on_stop);
        m->stop_async.data = m;
    }
    return 0;
}

int eva_group_new(const eva_group_options *opts, eva_group **out) {
    eva_group_options o = opts ? *opts : (eva_group_options){0};
    if (!out || o.threads > GROUP_MAX_THREADS)
        return -EINVAL;
    if (o.threads == 0)
        o.threads = eva_pool_get_default_threads();
    eva_group *g = eva__calloc(1, sizeof *g + o.threads * sizeof g->members[0]);
    if (!g)
        return -ENOMEM;
    g->opts = o;
    g->size = o.threads;
    int rc = pthread_mutex_init(&g->mutex, NULL);
    if (rc == 0 && (rc = pthread_cond_init(&g->set_up, NULL)) != 0)
        pthread_mutex_destroy(&g->mutex);
    if (rc != 0) {
        eva__free(g);
        return -rc;
    }
    if ((rc = make_loops(g)) < 0) {
        pthread_cond_destroy(&g->set_up);
        pthread_mutex_destroy(&g->mutex);
        eva__free(g);
        return rc;
    }
    *out = g;
    return 0;
}

/* Under the mutex: create member i's thread and wait for its setup. */
static int launch(eva_group *g, group_member *m) {
    ev_async_start(m->loop->ev, &m->stop_async);
    int rc = pthread_create(&m->thread, NULL, member_main, m);
    if (rc != 0) {
        ev_async_stop(m->loop->ev, &m->stop_async);
        return -rc;
    }
    g->launched++;
    while (!m->set_up)
        pthread_cond_wait(&g->set_up, &g->mutex);
    return m->setup_rc;
}

/* Under the mutex.  Once is enough: every member launched later is
 * refused. */
static void send_stops(eva_group *g) {
    if (g->stopping)
        return;
    g->stopping = true;
    for (unsigned i = 0; i < g->launched; i++)
        ev_async_send(g->members[i].loop->ev, &g->members[i].stop_async);
}

int eva_group_start(eva_group *g) {
    if (!g)
        return -EINVAL;
    if (g->state != GROUP_NEW)
        return -EBUSY;
    g->state = GROUP_STARTED;
    int rc = 0;
    pthread_mutex_lock(&g->mutex);
    for (unsigned i = 0; i < g->size && rc == 0; i++)
        rc = g->stopping ? -ECANCELED : launch(g, &g->members[i]);
    bool failed = rc < 0 && rc != -ECANCELED;
    if (failed)
        send_stops(g);
    pthread_mutex_unlock(&g->mutex);
    if (failed)
        eva_group_join(g);
    return rc;
}

int eva_group_stop(eva_group *g) {
    if (!g)
        return -EINVAL;
    pthread_mutex_lock(&g->mutex);
    send_stops(g);
    pthread_mutex_unlock(&g->mutex);
    return 0;
}

static bool on_member_thread(const eva_group *g) {
    for (unsigned i = 0; i < g->launched; i++)
        if (pthread_equal(pthread_self(), g->members[i].thread))
            return true;
    return false;
}

int eva_group_join(eva_group *g) {
    if (!g)
        return -EINVAL;
    if (g->state != GROUP_STARTED)
        return 0;
    if (on_member_thread(g))
        return -EDEADLK;
    for (unsigned i = 0; i < g->launched; i++) {
        group_member *m = &g->members[i];
        pthread_join(m->thread, NULL);
        /* a member whose setup failed never ran its loop to the stop */
        ev_async_stop(m->loop->ev, &m->stop_async);
    }
    g->state = GROUP_JOINED;
    return 0;
}

static bool any_loop_busy(const eva_group *g) {
    for (unsigned i = 0; i < g->size; i++) {
        const eva_loop *loop = g->members[i].loop;
        if (eva_loop_get_active_handles(loop) > 0 || eva_loop_get_pool_jobs(loop) > 0)
            return true;
    }
    return false;
}

/* A call cancelled on one loop may post to another (a cross-loop send
 * answering its sender): no loop is freed until a pass over all of them
 * finds nothing left. */
static void cancel_all_pending(eva_group *g) {
    bool progress;
    do {
        progress = false;
        for (unsigned i = 0; i < g->size; i++)
            progress |= eva__loop_cancel_pass(g->members[i].loop);
    } while (progress);
}

int eva_group_destroy(eva_group *g) {
    if (!g)
        return -EINVAL;
    if (g->state == GROUP_STARTED || any_loop_busy(g))
        return -EBUSY;
    cancel_all_pending(g);
    destroy_loops(g, g->size);
    pthread_cond_destroy(&g->set_up);
    pthread_mutex_destroy(&g->mutex);
    eva__free(g);
    return 0;
}

unsigned eva_group_get_size(const eva_group *g) { return g ? g->size : 0; }

eva_loop *eva_group_get_loop(const eva_group *g, unsigned index) {
    return g && index < g->size ? g->members[index].loop : NULL;
}
