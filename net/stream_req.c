/* net/stream_req.c — what the stream requests add to the one completion
 * path (async/req.c): the messages of evasync's own timeouts. */
#include <errno.h>

#include "net_internal.h"

const char *eva__stream_message(const eva__req *r, int status) {
    if (status != -ETIMEDOUT)
        return NULL;
    switch (r->timeout) {
    case EVA__STREAM_IDLE_TIMEOUT:    return "TCP read: no bytes within the read timeout (eva_stream_set_read_timeout)";
    case EVA__STREAM_READ_DEADLINE:   return "TCP read: the read deadline passed (eva_stream_set_read_deadline)";
    case EVA__STREAM_CONNECT_TIMEOUT: return "TCP connect: no answer within the connect timeout";
    default:                          return NULL;
    }
}
