/* evasync/req.h — the completion every request carries (private).
 *
 * The stream, server, TCP, Unix and UDP requests each embed one eva__req:
 * the one completion path they share (async/req.c).  A request is in flight
 * (busy) from its start to its completion's delivery; the completion is
 * queued iff its eva_call node is linked; delivering wakes the awaiting task
 * or calls the callback, and reads nothing of the request afterwards:
 * whoever is told may free it.  Nothing here is for the caller to touch. */
#ifndef EVASYNC_REQ_H
#define EVASYNC_REQ_H

#include <stdbool.h>
#include <stdint.h>

#include "call.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Private: how a request's callback is called and its AWAIT cancelled. */
typedef struct eva__req_kind eva__req_kind;
/* Private: the completion a request carries.  56 bytes on x86_64. */
typedef struct eva__req {
    /* private: */
    eva_call call;                 /* the deferred completion: linked iff queued */
    union {
        void (*cb)(void);          /* the callback form's (cast back to its type) */
        struct eva_task *waiter;   /* the AWAIT form's task (evasync/task.h) */
    } to;
    const eva__req_kind *kind;     /* how to call the callback, how to cancel */
    int status;
    bool awaited;                  /* to.waiter, else to.cb */
    bool busy;                     /* started, completion not delivered yet */
    uint8_t timeout;               /* which of evasync's timers failed it (messages; 0: none) */
} eva__req;

#ifdef __cplusplus
}
#endif

#endif
