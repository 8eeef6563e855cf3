/* evasync/tls.h — TLS (OpenSSL 3) on an eva_stream, in the three styles.
 *
 * TLS is a property of a stream, not a handle of its own: open or connect an
 * eva_stream (TCP or Unix) as usual, start TLS on it with eva_tls_start, and
 * the stream API works unchanged on it (eva_stream_read/_exact/_until, write,
 * drain, shutdown, close, timeouts, watermarks, cancellation): the bytes go
 * through SSL_read / SSL_write, whose WANT_READ / WANT_WRITE are waited for on
 * the stream's own watchers.  Nothing blocks the loop; renegotiation is off.
 *
 * Reads and writes may start as soon as eva_tls_start has returned: writes
 * queue and reads wait until the handshake is done (a failed handshake fails
 * them with its code).
 *
 * Secure by default: a client verifies the server's certificate against the
 * system trust store (or ca_file / ca_dir) and its name against server_name
 * (SNI is sent); TLS 1.2 is the minimum; session tickets resume sessions.
 *
 * Close: eva_stream_close(EVA_STREAM_CLOSE_FLUSH) and eva_stream_shutdown
 * send close_notify once the queue is written; DISCARD and RESET do not (the
 * peer sees a truncation).  A peer that closes without close_notify fails the
 * pending read with EVA_ETLS_TRUNCATED, not a clean end of stream: the bytes
 * before it may be a cut-off message.
 *
 * Errors (evasync/error.h): EVA_ETLS_HANDSHAKE, EVA_ETLS_VERIFY,
 * EVA_ETLS_TRUNCATED, EVA_ETLS_PROTOCOL, EVA_ETLS_CONFIG, or the socket's
 * -errno (-ECONNRESET, ...); the handshake request's message names OpenSSL's
 * reason and the verification result.  docs/tls.md has the details. */
#ifndef EVASYNC_TLS_H
#define EVASYNC_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "export.h"
#include "req.h"
#include "stream.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An SSL_CTX with its settings: opaque, shared by any number of streams (and
 * loops, on any thread); freed with eva_tls_context_free once no stream that
 * started TLS with it is open. */
typedef struct eva_tls_context eva_tls_context;
typedef struct eva_tls_start_req eva_tls_start_req;

/* What eva_tls_context_new makes.  Zero-initialise, then set what differs
 * from the defaults; the strings are read during the call only. */
typedef struct eva_tls_context_opts {
    bool server;               /* a server context (else a client's) */
    const char *cert_file;     /* PEM certificate chain: a server's (required),
                                  or a client's for mutual TLS (optional) */
    const char *key_file;      /* PEM private key of cert_file (NULL: in cert_file) */
    const char *ca_file;       /* PEM CA certificates to verify the peer with */
    const char *ca_dir;        /* a c_rehash'd directory of them; both NULL: the
                                  system trust store (a server: no client CAs) */
    bool no_verify;            /* a client: do NOT verify the server (tests only) */
    bool verify_client;        /* a server: require a client certificate,
                                  verified against ca_file / ca_dir (mutual TLS) */
    const char *const *alpn;   /* NULL-terminated protocol list in preference order
                                  (e.g. {"h2", "http/1.1", NULL}); NULL: no ALPN */
    bool tls13_only;           /* minimum TLS 1.3 (default: TLS 1.2) */
    const char *ciphers;       /* OpenSSL TLS 1.2 cipher list (NULL: OpenSSL's default) */
    const char *ciphersuites;  /* OpenSSL TLS 1.3 suites (NULL: OpenSSL's default) */
    bool no_session_tickets;   /* turn resumption off (server: no tickets issued;
                                  client: no sessions kept) */
} eva_tls_context_opts;

/* Make a context.  *out is yours (eva_tls_context_free).  On failure err
 * (errlen bytes; may be NULL) gets why, with OpenSSL's reason.
 * Returns 0, -EINVAL (NULL opts/out, a server without cert_file,
 * verify_client without a CA), -ENOMEM, EVA_ETLS_CONFIG (an unreadable or
 * mismatched certificate or key, a bad cipher list, an ALPN name over 255
 * bytes). */
EVA_API int eva_tls_context_new(const eva_tls_context_opts *opts, eva_tls_context **out, char *err, size_t errlen);
/* NULL: nothing.  The streams that used it must be closed first. */
EVA_API void eva_tls_context_free(eva_tls_context *ctx);

/* Per-connection settings of eva_tls_start. */
typedef struct eva_tls_start_opts {
    const char *server_name;   /* a client: the server's host name (SNI, and the
                                  name its certificate must carry) or IP address
                                  (checked, no SNI); required while verifying.
                                  Copied during the start call. */
    int64_t timeout_ms;        /* the whole handshake; 0: no timeout */
} eva_tls_start_opts;

/* The handshake's completion: status 0 or a negative code (req->message says
 * why); req may be freed or reused from inside it. */
typedef void (*eva_tls_start_fn)(eva_tls_start_req *req, int status);

enum { EVA_TLS_MESSAGE_MAX = 200 };

/* The handshake.  Zero-initialise before its first use (see evasync/stream.h,
 * "requests"). */
/* eva_tls_start_req: 304 bytes on x86_64 (ABI: tests/test_struct_sizes.c). */
struct eva_tls_start_req {
    /* public: */
    void *data;                /* the caller's */
    eva_stream *stream;        /* read-only: the stream */
    long verify_result;        /* result: OpenSSL's X509_V_* code of the peer's
                                  certificate (0: verified, or not checked) */
    char message[EVA_TLS_MESSAGE_MAX]; /* result: why it failed ("" on success);
                                          the AWAIT form's failure message */
    /* private: */
    eva__req req;
    eva_tls_context *ctx;
    const char *server_name;
    int64_t timeout_ms;
};

/* Start TLS on an open, connected stream (TCP or Unix) as ctx's side: the
 * handshake runs on the loop.  A pending read that has taken no byte yet and
 * queued writes not begun go through TLS; -EBUSY if plain bytes are half-way
 * (a read_exact/until with some bytes, a write partly sent).
 * Status 0 (established: eva_tls_get_alpn, eva_tls_is_resumed...), or
 * EVA_ETLS_HANDSHAKE (not TLS, a protocol error, an alert from the peer, the
 * peer closed during the handshake), EVA_ETLS_VERIFY (the certificate: see
 * req->verify_result and req->message), -ETIMEDOUT (timeout_ms),
 * -ECONNRESET, -ECANCELED (closed, task cancelled: the stream is then
 * unusable for TLS; close it).  After a failure the stream's reads and writes
 * fail too; close it.
 * Start errors: -EINVAL (NULL stream/ctx/req, a client context verifying
 * without opts->server_name), -ENOTCONN (not open, connecting or closing),
 * -ENOTSOCK (not a socket), -EALREADY (TLS was started on it), -EBUSY (req in
 * flight, plain bytes half-way, the stream shut down or broken), -ENOMEM. */
EVA_API int eva_tls_start(eva_tls_start_req *req, eva_stream *stream, eva_tls_context *ctx,
                          const eva_tls_start_opts *opts, eva_tls_start_fn cb);
EVA_API eva_op eva_tls_start_op(eva_tls_start_req *req, eva_stream *stream, eva_tls_context *ctx,
                                const eva_tls_start_opts *opts);
/* The promise's value is the eva_tls_start_req (freed with the promise). */
EVA_API int eva_tls_start_promise(eva_stream *stream, eva_tls_context *ctx, const eva_tls_start_opts *opts,
                                  eva_promise **out);

/* After the handshake.  The strings are the stream's, valid until it closes.
 * The protocol ALPN chose (NULL: none, or no TLS). */
EVA_API const char *eva_tls_get_alpn(const eva_stream *stream);
/* The peer certificate's X509_V_* result (0: verified, or not checked); -1: no TLS. */
EVA_API long eva_tls_get_peer_verify_result(const eva_stream *stream);
/* "TLSv1.3", ...; NULL: no TLS. */
EVA_API const char *eva_tls_get_version(const eva_stream *stream);
/* The cipher suite's OpenSSL name; NULL: no TLS. */
EVA_API const char *eva_tls_get_cipher(const eva_stream *stream);
/* Whether the session was resumed (a ticket), not fully negotiated. */
EVA_API bool eva_tls_is_resumed(const eva_stream *stream);
/* Whether TLS was started on stream. */
EVA_API bool eva_tls_is_on(const eva_stream *stream);

/* Route OpenSSL's allocations through evasync's allocator hook
 * (evasync/alloc.h, CRYPTO_set_mem_functions), so a custom allocator and the
 * allocation-failure tests see them.  OpenSSL allows it only before it has
 * allocated anything: call it first thing in main, before any other OpenSSL
 * or evasync TLS call (and before libraries that use OpenSSL start).
 * Returns 0, or -EBUSY (too late: OpenSSL keeps the C library's malloc). */
EVA_API int eva_tls_route_allocations(void);

#ifdef __cplusplus
}
#endif
#endif
