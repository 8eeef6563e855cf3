/* examples/hello_https/https_get — a small HTTPS client, written with AWAIT:
 * dial the host, start TLS (the certificate verified against CA or the
 * system trust store, and its name against HOST), send one GET, print the
 * response until the server's close_notify.
 *
 *     https_get [--ca FILE] HOST PORT [PATH]
 *
 * Exit status 0 when the whole response came, 1 on any error (printed with
 * its reason: the verification result, OpenSSL's reason, a truncation). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <evasync.h>

struct get {
    eva_task task;
    eva_stream s;
    eva_tcp_dial_req dial;
    eva_tls_start_req hs;
    eva_stream_write_req wr;
    eva_stream_read_req rd;
    eva_tls_context *tls;
    const char *host, *path;
    uint16_t port;
    char request[512];
    char buf[16384];
    int rc;
};

static eva_step get_run(void *frame) {
    struct get *g = frame;
    ASYNC_BEGIN(g);
    AWAIT(g, eva_tcp_dial_op(&g->dial, &g->s, g->host, g->port, 5000));
    AWAIT(g, eva_tls_start_op(&g->hs, &g->s, g->tls, &(eva_tls_start_opts){.server_name = g->host, .timeout_ms = 5000}));
    snprintf(g->request, sizeof g->request, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", g->path,
             g->host);
    AWAIT(g, eva_stream_write_op(&g->wr, &g->s, g->request, strlen(g->request)));
    do {
        AWAIT(g, eva_stream_read_op(&g->rd, &g->s, g->buf, sizeof g->buf));
        fwrite(g->buf, 1, (size_t)g->rd.nread, stdout);
    } while (g->rd.nread > 0);
    ASYNC_FINALLY(g);
    eva_stream_close(&g->s, EVA_STREAM_CLOSE_FLUSH, NULL);
    ASYNC_END(g);
}

int main(int argc, char **argv) {
    const char *ca = NULL;
    int i = 1;
    if (i + 1 < argc && strcmp(argv[i], "--ca") == 0) {
        ca = argv[i + 1];
        i += 2;
    }
    if (argc - i < 2 || argc - i > 3) {
        fprintf(stderr, "usage: https_get [--ca FILE] HOST PORT [PATH]\n");
        return 2;
    }
    struct get g = {.host = argv[i], .port = (uint16_t)atoi(argv[i + 1]), .path = argc - i == 3 ? argv[i + 2] : "/"};
    char err[256];
    int rc = eva_tls_context_new(&(eva_tls_context_opts){.ca_file = ca}, &g.tls, err, sizeof err);
    eva_loop *loop = NULL;
    if (rc == 0)
        rc = eva_loop_new(&loop);
    if (rc < 0) {
        fprintf(stderr, "https_get: %s %s\n", eva_strerror(rc), err);
        return 1;
    }
    eva_task_init(loop, &g.task, get_run, "https-get");
    eva_task_start(&g.task, NULL);
    eva_loop_run(loop, EVA_RUN_DEFAULT);
    int status = eva_task_get_status(&g.task);
    if (status < 0)
        fprintf(stderr, "https_get: %s\n", eva_task_get_message(&g.task));
    eva_loop_destroy(loop);
    eva_tls_context_free(g.tls);
    return status < 0;
}
