/* net/net_loop.c — the loop's open connections and servers, so that
 * eva_loop_destroy can close what is still open. */
#include <errno.h>
#include <fcntl.h>

#include "net_internal.h"

static eva__layer_key net_key;

static bool net_cancel(eva__layer *layer) {
    eva__net_loop *nl = EVA__CONTAINER_OF(layer, eva__net_loop, layer);
    bool closed = !eva__queue_empty(&nl->conns) || !eva__queue_empty(&nl->servers);
    eva_queue *n;
    while ((n = eva__queue_first(&nl->servers))) /* closing unlinks it */
        eva_server_close(EVA__QUEUE_DATA(n, eva_server, node));
    while ((n = eva__queue_first(&nl->conns)))
        eva__stream_close_now(EVA__QUEUE_DATA(n, eva_stream, node), false, 0);
    return closed;
}

static void net_close(eva__layer *layer) {
    eva__net_loop *nl = EVA__CONTAINER_OF(layer, eva__net_loop, layer);
    eva__stream_lent_free_spares(nl); /* the streams, closed, gave theirs back */
    eva__free(nl);
}

eva__net_loop *eva__net_loop_get(eva_loop *loop) {
    eva__net_loop *nl = eva__layer_get(loop, &net_key);
    if (nl)
        return nl;
    nl = eva__calloc(1, sizeof *nl);
    if (!nl)
        return NULL;
    nl->loop = loop;
    eva__queue_init(&nl->conns);
    eva__queue_init(&nl->servers);
    nl->layer.cancel = net_cancel;
    nl->layer.close = net_close;
    if (eva__layer_attach(loop, &net_key, &nl->layer) < 0) {
        eva__free(nl);
        return NULL;
    }
    return nl;
}

void eva__net_link_conn(eva__net_loop *nl, eva_stream *stream) {
    eva__queue_insert_tail(&nl->conns, &stream->node);
}

void eva__net_unlink_conn(eva_stream *stream) { eva__queue_remove(&stream->node); }

void eva__net_link_server(eva__net_loop *nl, eva_server *srv) {
    eva__queue_insert_tail(&nl->servers, &srv->node);
}

void eva__net_unlink_server(eva_server *srv) { eva__queue_remove(&srv->node); }

int eva__fd_nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    int fdfl = fcntl(fd, F_GETFD);
    if (fdfl < 0 || fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0)
        return -errno;
    return 0;
}
