/* net/tls_internal.h — what the TLS files share with each other and with the
 * stream code (the hooks: NULL stream->tls means none of this runs). */
#ifndef EVASYNC_TLS_INTERNAL_H
#define EVASYNC_TLS_INTERNAL_H

#include <openssl/ssl.h>

#include "net_internal.h"
#include "evasync/tls.h"

struct eva_tls_context {
    SSL_CTX *ssl_ctx;
    bool server, verify;
    bool keep_sessions;           /* a client resuming by server name */
    unsigned char *alpn;          /* wire format (length-prefixed names); NULL: none */
    size_t alpn_len;
    char *alpn_names;             /* the same names, each NUL-terminated: what
                                     eva_tls_get_alpn returns points here */
    pthread_mutex_t lock;         /* the session cache: streams on any thread */
    struct eva__tls_session *sessions; /* a client's, by server name (most recent first) */
    int nsessions;
};

/* One stream's TLS, allocated by eva_tls_start, freed with the stream's close. */
typedef struct eva__tls {
    SSL *ssl;
    eva_tls_context *ctx;
    eva_stream *stream;
    eva_tls_start_req *hs;        /* the handshake's request while it runs */
    ev_timer hs_timer;            /* its timeout */
    int failed;                   /* the code every later read/write gets; 0: fine */
    int io_errno;                 /* the socket error the BIO saw last */
    bool handshaking;             /* the handshake owns the watchers */
    bool read_wants_write;        /* SSL_read waits for the socket to be writable */
    bool write_wants_read;        /* SSL_write waits for it to be readable */
    char *server_name;            /* a client's, owned: the session cache's key; NULL: none */
    const char *alpn;             /* the protocol chosen, in ctx->alpn_names; NULL: none
                                     (pointers, not copies: an idle connection's bytes) */
} eva__tls;

/* tls_context.c: the client's session cache. */
void eva__tls_session_resume(eva__tls *tls);
int eva__tls_session_new_cb(SSL *ssl, SSL_SESSION *sess);

/* tls_io.c: a BIO over the stream's socket (recv, send with MSG_NOSIGNAL),
 * noting the errno in tls->io_errno.  NULL when out of memory. */
BIO *eva__tls_bio_new(eva__tls *tls);
/* Before an SSL call: OpenSSL's queue emptied, and the note of an
 * allocation failing under it (through eva_tls_route_allocations' hook)
 * cleared.  OpenSSL does not report every failed allocation as one: a
 * certificate check that cannot allocate says "key too weak". */
void eva__tls_call_begin(void);
extern _Thread_local bool eva__tls_alloc_failed;
/* The error of the last failed SSL call, drained from OpenSSL's queue:
 * "what: reason" into buf (the first entry's reason, the innermost).
 * Returns -ENOMEM when any entry is an allocation failure (callers wrap it
 * in their own errors, "internal error" among them) or the hook saw an
 * allocation fail since eva__tls_call_begin, else code. */
int eva__tls_reason(char *buf, size_t len, const char *what, int code);
/* The same without the message: -ENOMEM or code, the queue drained. */
int eva__tls_drain(int code);

#endif
