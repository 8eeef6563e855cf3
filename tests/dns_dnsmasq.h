/* tests/dns_dnsmasq.h — a real DNS server for the tests: Debian's dnsmasq,
 * started on a free loopback port with a generated zone, and stopped again.
 *
 * The zone is a hosts file (--addn-hosts) plus any record options the caller
 * gives (--srv-host=..., --mx-host=..., --txt-record=..., --cname=...).
 * dnsmasq runs in the foreground as a child process, with no resolv.conf, no
 * /etc/hosts and no configuration file; dns_dnsmasq_start() returns once it
 * answers (a bounded poll through evasync's own resolver, never a fixed
 * sleep).  Memory comes from malloc. */
#ifndef EVA_TEST_DNS_DNSMASQ_H
#define EVA_TEST_DNS_DNSMASQ_H

#include <stdio.h>

#include "evasync.h"

typedef struct dns_dnsmasq dns_dnsmasq;

/* Writes one hosts-file line per call ("10.0.0.1 name") into f. */
typedef void (*dns_zone_fn)(FILE *f, void *arg);

/* Start dnsmasq with the hosts file zone() writes and the extra options
 * (NULL-terminated; may be NULL), and wait (on loop, at most 5 s) until it
 * answers.  Returns 0; -ENOENT (dnsmasq is not installed: skip the test);
 * another negative errno (it did not start or answer). */
int dns_dnsmasq_start(eva_loop *loop, dns_zone_fn zone, void *arg, const char *const *extra,
                      dns_dnsmasq **out);

/* "127.0.0.1:PORT", for eva_dns_options.servers. */
const char *dns_dnsmasq_servers(const dns_dnsmasq *d);

/* Kill it, wait for it, remove its files, free. */
void dns_dnsmasq_stop(dns_dnsmasq *d);

#endif
