/* net/net_loop.c — the loop's open connections and servers, so that
 * eva_loop_destroy can close what is still open. */
#include <errno.h>
#include <fcntl.h>

#include "net_internal.h"

static bool net_cancel(eva__owned *own) {
    eva__net_loop *nl = EVA__CONTAINER_OF(own, eva__net_loop, own);
    bool closed = nl->conns || nl->servers;
    while (nl->servers)
        eva_tcp_server_close(nl->servers);
    while (nl->conns)
        eva__tcp_close_now(nl->conns, false, 0);
    return closed;
}

static void net_close(eva__owned *own) {
    eva__net_loop *nl = EVA__CONTAINER_OF(own, eva__net_loop, own);
    nl->loop->layers[EVA__LAYER_NET] = NULL;
    eva__free(nl);
}

eva__net_loop *eva__net_loop_get(eva_loop *loop) {
    eva__net_loop *nl = loop->layers[EVA__LAYER_NET];
    if (nl)
        return nl;
    nl = eva__calloc(1, sizeof *nl);
    if (!nl)
        return NULL;
    nl->loop = loop;
    nl->own.cancel = net_cancel;
    nl->own.close = net_close;
    eva__loop_own(loop, &nl->own);
    loop->layers[EVA__LAYER_NET] = nl;
    return nl;
}

void eva__net_link_conn(eva__net_loop *nl, eva_tcp *tcp) { EVA__LIST_PUSH(nl->conns, tcp); }

void eva__net_unlink_conn(eva_tcp *tcp) {
    eva__net_loop *nl = tcp->loop->layers[EVA__LAYER_NET];
    EVA__LIST_REMOVE(nl->conns, tcp);
}

void eva__net_link_server(eva__net_loop *nl, eva_tcp_server *srv) { EVA__LIST_PUSH(nl->servers, srv); }

void eva__net_unlink_server(eva_tcp_server *srv) {
    eva__net_loop *nl = srv->loop->layers[EVA__LAYER_NET];
    EVA__LIST_REMOVE(nl->servers, srv);
}

int eva__fd_nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    int fdfl = fcntl(fd, F_GETFD);
    if (fdfl < 0 || fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0)
        return -errno;
    return 0;
}
