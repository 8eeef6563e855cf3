/* net/udp_internal.h — what the UDP files share. */
#ifndef EVASYNC_UDP_INTERNAL_H
#define EVASYNC_UDP_INTERNAL_H

#include "internal.h"
#include "req_internal.h"
#include "evasync/udp.h"

/* ---- udp.c ---------------------------------------------------------------------- */

/* -EINVAL unless addr is a whole address of udp's family; 0 for NULL with
 * allow_null (the connected peer). */
int eva__udp_check_addr(const eva_udp *udp, const struct sockaddr *addr, socklen_t addrlen, bool allow_null);

/* ---- udp_recv.c / udp_send.c: readiness, and the cleanup at close ----------------- */

void eva__udp_on_readable(eva_udp *udp);
void eva__udp_recv_abort(eva_udp *udp, int status);
void eva__udp_recv_free_batch(eva_udp *udp);
void eva__udp_on_writable(eva_udp *udp);
void eva__udp_send_abort(eva_udp *udp, int status);

#endif
