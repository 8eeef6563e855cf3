/* bench/dns_server.c — the loopback DNS responder of the tests
 * (tests/dns_responder.c) as a process, for bench/dns_bench.
 *
 *   dns_server [--port P] [--delay-ms D] [--suffix S] [--upstream PORT]
 *
 * Answers n<N>.<S> (default S: bench.test) with A 10.x.y.z (the bytes of N)
 * after D ms (default 0), on 127.0.0.1:P over UDP and TCP (default P: 53,
 * which needs root).  Prints "ready port=P" once listening; exits on SIGTERM
 * or SIGINT, printing "queries=N".  With --upstream it answers nothing
 * itself: it forwards every UDP query to 127.0.0.1:PORT (a real server:
 * bench/run-dns starts dnsmasq there) and relays the reply after D ms.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns_responder.h"
#include "evasync.h"

static void on_signal(eva_signal *sig, int signum) {
    (void)signum;
    eva_loop_stop(sig->data);
}

int main(int argc, char **argv) {
    int port = 53, delay = 0, upstream = 0;
    const char *suffix = "bench.test";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            port = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--delay-ms") == 0 && i + 1 < argc) {
            delay = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--suffix") == 0 && i + 1 < argc) {
            suffix = argv[++i];
        } else if (strcmp(argv[i], "--upstream") == 0 && i + 1 < argc) {
            upstream = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: %s [--port P] [--delay-ms D] [--suffix S] [--upstream PORT]\n", argv[0]);
            return 2;
        }
    }
    if (port < 0 || port > 65535 || delay < 0 || upstream < 0 || upstream > 65535) {
        fprintf(stderr, "dns_server: bad port or delay\n");
        return 2;
    }
    eva_loop *loop;
    if (eva_loop_new(&loop) < 0)
        return 1;
    dns_responder *r;
    int rc = dns_responder_start(loop, (uint16_t)port, &r);
    if (rc < 0) {
        fprintf(stderr, "dns_server: cannot listen on 127.0.0.1:%d: %s\n", port, eva_strerror(rc));
        return 1;
    }
    dns_responder_set_synthetic(r, suffix);
    dns_responder_set_delay(r, delay);
    if (upstream > 0 && (rc = dns_responder_set_upstream(r, (uint16_t)upstream)) < 0) {
        fprintf(stderr, "dns_server: upstream 127.0.0.1:%d: %s\n", upstream, eva_strerror(rc));
        return 1;
    }
    eva_signal term, intr;
    eva_signal_init(loop, &term);
    eva_signal_init(loop, &intr);
    eva_signal_start(&term, SIGTERM, on_signal, loop);
    eva_signal_start(&intr, SIGINT, on_signal, loop);
    printf("ready port=%u\n", (unsigned)dns_responder_port(r));
    fflush(stdout);
    eva_loop_run(loop, EVA_RUN_DEFAULT);
    printf("queries=%lu\n", dns_responder_queries(r, NULL));
    eva_signal_stop(&term);
    eva_signal_stop(&intr);
    dns_responder_stop(r);
    eva_loop_destroy(loop);
    return 0;
}
