/* tests/dns_responder.h — a small DNS server for the tests and the benchmark.
 *
 * Built with evasync itself: eva_io watchers on a UDP and a TCP socket bound
 * to 127.0.0.1 (the same port for both), eva_timer for delayed replies.  It
 * runs on the caller's loop (no threads) and answers from a table:
 *   - A, AAAA and PTR records added per name;
 *   - optionally "synthetic" names n<N>.<suffix> (N decimal), answered with
 *     A 10.x.y.z where x.y.z are the bytes of N (dns_synthetic_ipv4) and AAAA
 *     fd00::N, so any number of distinct names need no table;
 *   - a name in the table without a record of the asked type gets an empty
 *     NOERROR answer (NODATA); a name not in the table gets NXDOMAIN.
 * Per name it can instead delay, drop, truncate (TC bit over UDP, the full
 * answer over TCP), answer SERVFAIL, NXDOMAIN or REFUSED, or send garbage (the
 * right id and question followed by an undecodable answer section).
 *
 * Its watchers and timers are active handles: call dns_responder_stop()
 * before destroying the loop.  Memory comes from malloc, not evasync's
 * allocator, so allocation-failure tests count only the resolver's.
 * DNS_RESPONDER_DEBUG=1 in the environment logs every query to stderr.
 */
#ifndef EVA_TEST_DNS_RESPONDER_H
#define EVA_TEST_DNS_RESPONDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evasync.h"

typedef enum dns_mode {
    DNS_MODE_ANSWER,   /* answer from the table */
    DNS_MODE_NXDOMAIN,
    DNS_MODE_SERVFAIL,
    DNS_MODE_REFUSED,
    DNS_MODE_DROP,     /* read the query, never reply */
    DNS_MODE_TRUNCATE, /* UDP: TC bit, no answers; TCP: the full answer */
    DNS_MODE_GARBAGE   /* right id and question, then junk */
} dns_mode;

typedef struct dns_responder dns_responder;

/* Listen on 127.0.0.1:port (0: an ephemeral port, the same for UDP and TCP).
 * Returns 0, or a negative errno. */
int dns_responder_start(eva_loop *loop, uint16_t port, dns_responder **out);

/* Stop the watchers, drop the delayed replies, close the sockets, free. */
void dns_responder_stop(dns_responder *r);

uint16_t dns_responder_port(const dns_responder *r);

/* "127.0.0.1:PORT", for eva_dns_options.servers. */
const char *dns_responder_servers(const dns_responder *r);

/* Add an A (dotted quad) or AAAA (IPv6 text) record for name.  0 or -EINVAL. */
int dns_responder_add(dns_responder *r, const char *name, const char *addr);

/* Add a PTR record: name (e.g. "4.3.2.10.in-addr.arpa") -> target. */
int dns_responder_add_ptr(dns_responder *r, const char *name, const char *target);

/* How to treat queries for name (added to the table if absent), and how long
 * to wait before replying (ms; 0: at once; ignored by DROP).  0 or -ENOMEM. */
int dns_responder_set_mode(dns_responder *r, const char *name, dns_mode mode, int delay_ms);

/* The TTL of name's records (seconds; default 300).  0 or -ENOMEM. */
int dns_responder_set_ttl(dns_responder *r, const char *name, int ttl);

/* The delay of every reply whose name has none of its own (default 0). */
void dns_responder_set_delay(dns_responder *r, int delay_ms);

/* Proxy mode (bench/dns_server --upstream): every UDP query is forwarded to
 * 127.0.0.1:port (a real server) and its reply sent back after the delay of
 * dns_responder_set_delay; the table, the modes and the script are not used
 * for them.  Both its sockets get 4 MiB receive buffers (as far as
 * net.core.rmem_max allows), so the proxy is not where a burst is dropped.
 * 0 or a negative errno. */
int dns_responder_set_upstream(dns_responder *r, uint16_t port);

/* Answer n<N>.<suffix> synthetically (see above).  0 or -EINVAL. */
int dns_responder_set_synthetic(dns_responder *r, const char *suffix);

/* The address (host byte order) a synthetic name n<N> resolves to. */
uint32_t dns_synthetic_ipv4(unsigned long n);

/* Queries received for name (UDP and TCP), or in total with name NULL. */
unsigned long dns_responder_queries(const dns_responder *r, const char *name);

/* Queries received over TCP. */
unsigned long dns_responder_tcp_queries(const dns_responder *r);

/* A scripted responder (the DNS fuzzer): every query, well-formed or not, is
 * handed to fn instead of the table; fn answers with any number of
 * dns_reply_send() calls (none: the query is dropped).  query is borrowed
 * for the call.  fn NULL: back to the table. */
typedef struct dns_reply dns_reply;
typedef void (*dns_script_fn)(void *arg, dns_reply *reply, const uint8_t *query, size_t len, bool tcp);
void dns_responder_set_script(dns_responder *r, dns_script_fn fn, void *arg);

/* Send msg (len bytes, at most 65535; framed for TCP) to the query's sender.
 * Only inside the script's call. */
void dns_reply_send(dns_reply *reply, const uint8_t *msg, size_t len);

#endif
