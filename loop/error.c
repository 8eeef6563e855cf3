/* loop/error.c — eva_strerror(). */
#define _GNU_SOURCE
#include <string.h>

#include "internal.h"

const char *eva_strerror(int code) {
    switch (code) {
    case 0:                 return "success";
    case EVA_EDNS_NOTFOUND: return "host name not found";
    case EVA_EDNS_SERVFAIL: return "DNS server failure";
    case EVA_EDNS_REFUSED:  return "DNS query refused";
    case EVA_EDNS_BADNAME:  return "malformed host name";
    case EVA_EDNS_BADREPLY: return "malformed DNS reply";
    case EVA_EOF:           return "end of stream";
    case EVA_EALLFAILED:    return "every promise was rejected";
    case EVA_EDNS_NODATA:   return "no DNS record of the requested type";
    case EVA_ETLS_HANDSHAKE: return "TLS handshake failed";
    case EVA_ETLS_VERIFY:   return "TLS certificate verification failed";
    case EVA_ETLS_TRUNCATED: return "TLS connection closed without close_notify (truncated)";
    case EVA_ETLS_PROTOCOL: return "TLS protocol error";
    case EVA_ETLS_CONFIG:   return "TLS configuration refused";
    default: break;
    }
    if (code < 0 && code > -4000) {
        /* strerrordesc_np is glibc's thread-safe, locale-free strerror. */
        const char *msg = strerrordesc_np(-code);
        if (msg)
            return msg;
    }
    return "unknown error";
}
