/* net/net_internal.h — what the TCP files share. */
#ifndef EVASYNC_NET_INTERNAL_H
#define EVASYNC_NET_INTERNAL_H

#include "internal.h"
#include "evasync/tcp.h"

/* Per-loop state: the open connections and servers, closed at loop destroy. */
typedef struct eva__net_loop {
    eva__layer layer;
    eva_loop *loop;
    eva_queue conns;           /* eva_tcp */
    eva_queue servers;         /* eva_tcp_server */
} eva__net_loop;
EVA__LAYER_FIRST(eva__net_loop, layer);

/* NULL when out of memory. */
eva__net_loop *eva__net_loop_get(eva_loop *loop);
void eva__net_link_conn(eva__net_loop *nl, eva_tcp *tcp);
void eva__net_unlink_conn(eva_tcp *tcp);
void eva__net_link_server(eva__net_loop *nl, eva_tcp_server *srv);
void eva__net_unlink_server(eva_tcp_server *srv);

/* Make fd non-blocking and close-on-exec; 0 or -errno. */
int eva__fd_nonblock(int fd);

/* tcp_conn.c: set up an eva_tcp around a connected or connecting fd. */
int eva__tcp_attach(eva_loop *loop, eva_tcp *tcp, int fd);
/* Close the fd and stop everything now; pending operations complete with
 * -ECANCELED from the loop.  The close callback (if any) is queued last. */
void eva__tcp_close_now(eva_tcp *tcp, bool reset, int status);

/* tcp_read.c / tcp_write.c / tcp_connect.c: the readiness handlers and the
 * cleanup each side needs at close. */
void eva__tcp_on_readable(eva_tcp *tcp);
void eva__tcp_read_abort(eva_tcp *tcp, int status);
void eva__tcp_on_writable(eva_tcp *tcp);
void eva__tcp_write_abort(eva_tcp *tcp, int status);
void eva__tcp_connect_done(eva_tcp *tcp, int status);

/* tcp_read.c: the read timer (read timeout and deadline).  arm: make it fire
 * no later than the pending read's next timeout (does nothing without one);
 * fired: its callback; stop: stop it (the only way to stop it: it runs
 * unreferenced). */
void eva__tcp_read_timer_arm(eva_tcp *tcp);
void eva__tcp_read_timer_fired(eva_tcp *tcp);
void eva__tcp_timer_stop(eva_tcp *tcp);

/* tcp_conn.c: the write queue emptied (status < 0: it failed); go on with a
 * pending flush-close or half-close. */
void eva__tcp_queue_drained(eva_tcp *tcp, int status);

#endif
