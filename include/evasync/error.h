/* evasync/error.h — error codes and their messages.
 *
 * Every fallible evasync call returns an int: 0 (or a count) on success, a
 * negative errno-style code on failure (-EINVAL, -ENOMEM, -EBUSY, ...).
 * Failures that have no errno equivalent use the EVA_E* codes below, which
 * never collide with errno values.  eva_strerror() names any of them.
 */
#ifndef EVASYNC_ERROR_H
#define EVASYNC_ERROR_H

#include "export.h"

#include <errno.h> /* the codes are errno values, negated */

#ifdef __cplusplus
extern "C" {
#endif

/* evasync's own codes live below -4000, far from any errno value. */
enum {
    EVA_EDNS_NOTFOUND = -4001, /* the name does not exist (NXDOMAIN / no data) */
    EVA_EDNS_SERVFAIL = -4002, /* the DNS server failed */
    EVA_EDNS_REFUSED  = -4003, /* the DNS server refused the query */
    EVA_EDNS_BADNAME  = -4004, /* the name is not a valid host name */
    EVA_EDNS_BADREPLY = -4005, /* the reply could not be parsed */
    EVA_EOF           = -4006, /* the peer closed its side: no more bytes */
    EVA_EALLFAILED    = -4007, /* every input of eva_promise_any was rejected */
    EVA_EDNS_NODATA   = -4008, /* the name exists, without records of the asked type */
    EVA_ETLS_HANDSHAKE = -4009, /* the TLS handshake failed: not TLS, a protocol error, a peer's alert */
    EVA_ETLS_VERIFY    = -4010, /* the peer's certificate failed verification (expired, name, CA) */
    EVA_ETLS_TRUNCATED = -4011, /* the peer closed without close_notify: the data may be cut off */
    EVA_ETLS_PROTOCOL  = -4012, /* a TLS error on an established connection (bad record, alert) */
    EVA_ETLS_CONFIG    = -4013  /* a TLS context setting OpenSSL refused (certificate, key, ciphers) */
};

/* A static, human-readable message for an evasync return code.  Never NULL;
 * thread-safe; 0 gives "success" and an unknown code gives "unknown error". */
EVA_API const char *eva_strerror(int code);

#ifdef __cplusplus
}
#endif
#endif
