/* net/tls_context.c — eva_tls_context: an SSL_CTX set up secure by default
 * (TLS 1.2 minimum, no renegotiation, verification on for clients), ALPN,
 * session resumption (a client keeps its last session per server name), and
 * OpenSSL's allocations routed through evasync's hook. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "tls_internal.h"

/* A client's sessions, kept for resumption. */
enum { SESSIONS_KEPT = 32 };

typedef struct eva__tls_session {
    char name[256];
    SSL_SESSION *sess;
} eva__tls_session;

/* ---- allocations ---------------------------------------------------------------------- */

/* A failure is noted: OpenSSL does not always report it as one. */
static void *noted(void *p, size_t n) {
    if (!p && n)
        eva__tls_alloc_failed = true;
    return p;
}

static void *crypto_malloc(size_t n, const char *file, int line) {
    (void)file;
    (void)line;
    return noted(eva__alloc(n), n);
}

static void *crypto_realloc(void *p, size_t n, const char *file, int line) {
    (void)file;
    (void)line;
    return noted(eva__realloc(p, n), n);
}

static void crypto_free(void *p, const char *file, int line) {
    (void)file;
    (void)line;
    eva__free(p);
}

int eva_tls_route_allocations(void) {
    return CRYPTO_set_mem_functions(crypto_malloc, crypto_realloc, crypto_free) ? 0 : -EBUSY;
}

/* ---- setting up ------------------------------------------------------------------------ */

/* A setting OpenSSL refused, or could not take for want of memory. */
static int config_error(char *err, size_t errlen, const char *what) {
    char buf[EVA_TLS_MESSAGE_MAX];
    int code = eva__tls_reason(buf, sizeof buf, what, EVA_ETLS_CONFIG);
    if (err && errlen)
        snprintf(err, errlen, "%s", buf);
    return code;
}

/* The list in ALPN's wire format: each name prefixed with its length. */
static int alpn_encode(eva_tls_context *ctx, const char *const *names) {
    size_t len = 0;
    for (int i = 0; names[i]; i++) {
        size_t n = strlen(names[i]);
        if (n == 0 || n > 255)
            return EVA_ETLS_CONFIG;
        len += 1 + n;
    }
    if (len == 0)
        return 0;
    ctx->alpn = eva__alloc(len);
    ctx->alpn_names = eva__alloc(len); /* a length byte per name there, a NUL here */
    if (!ctx->alpn || !ctx->alpn_names)
        return -ENOMEM; /* the context's free frees either */
    unsigned char *p = ctx->alpn;
    char *q = ctx->alpn_names;
    for (int i = 0; names[i]; i++) {
        size_t n = strlen(names[i]);
        *p++ = (unsigned char)n;
        memcpy(p, names[i], n);
        memcpy(q, names[i], n + 1);
        p += n;
        q += n + 1;
    }
    ctx->alpn_len = len;
    return 0;
}

/* A server picks the first of its protocols the client offers; none in
 * common: the handshake goes on without ALPN (the application decides). */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg) {
    (void)ssl;
    eva_tls_context *ctx = arg;
    unsigned char *chosen;
    if (SSL_select_next_proto(&chosen, outlen, ctx->alpn, (unsigned)ctx->alpn_len, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

static int set_alpn(eva_tls_context *ctx, const eva_tls_context_opts *o) {
    int rc = o->alpn ? alpn_encode(ctx, o->alpn) : 0;
    if (rc < 0 || !ctx->alpn)
        return rc;
    if (ctx->server) {
        SSL_CTX_set_alpn_select_cb(ctx->ssl_ctx, alpn_select, ctx);
        return 0;
    }
    return SSL_CTX_set_alpn_protos(ctx->ssl_ctx, ctx->alpn, (unsigned)ctx->alpn_len) == 0 ? 0 : -ENOMEM;
}

static bool load_trust(SSL_CTX *c, const eva_tls_context_opts *o) {
    if (o->ca_file || o->ca_dir)
        return SSL_CTX_load_verify_locations(c, o->ca_file, o->ca_dir) == 1;
    return SSL_CTX_set_default_verify_paths(c) == 1;
}

static int set_identity(SSL_CTX *c, const eva_tls_context_opts *o, char *err, size_t errlen) {
    if (!o->cert_file)
        return 0;
    if (SSL_CTX_use_certificate_chain_file(c, o->cert_file) != 1)
        return config_error(err, errlen, "TLS certificate file");
    if (SSL_CTX_use_PrivateKey_file(c, o->key_file ? o->key_file : o->cert_file, SSL_FILETYPE_PEM) != 1)
        return config_error(err, errlen, "TLS private key file");
    if (SSL_CTX_check_private_key(c) != 1)
        return config_error(err, errlen, "TLS private key does not match the certificate");
    return 0;
}

static int set_verify(eva_tls_context *ctx, const eva_tls_context_opts *o, char *err, size_t errlen) {
    ctx->verify = ctx->server ? o->verify_client : !o->no_verify;
    if (!ctx->verify)
        return 0;
    if (!load_trust(ctx->ssl_ctx, o))
        return config_error(err, errlen, "TLS trust store (ca_file / ca_dir)");
    int mode = SSL_VERIFY_PEER | (ctx->server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);
    SSL_CTX_set_verify(ctx->ssl_ctx, mode, NULL);
    if (ctx->server && o->ca_file) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->ca_file);
        if (names)
            SSL_CTX_set_client_CA_list(ctx->ssl_ctx, names); /* the CAs a client may pick its certificate by */
    }
    return 0;
}

static int set_sessions(eva_tls_context *ctx, const eva_tls_context_opts *o) {
    SSL_CTX *c = ctx->ssl_ctx;
    if (o->no_session_tickets) {
        SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(c, 0);
        SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
        return 0;
    }
    if (ctx->server) {
        static const unsigned char sid_ctx[] = "evasync";
        SSL_CTX_set_session_id_context(c, sid_ctx, sizeof sid_ctx - 1); /* resumption with client certs */
        return 0;
    }
    ctx->sessions = eva__calloc(SESSIONS_KEPT, sizeof *ctx->sessions);
    if (!ctx->sessions)
        return -ENOMEM;
    ctx->keep_sessions = true;
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(c, eva__tls_session_new_cb);
    return 0;
}

static int setup(eva_tls_context *ctx, const eva_tls_context_opts *o, char *err, size_t errlen) {
    SSL_CTX *c = ctx->ssl_ctx;
    SSL_CTX_set_min_proto_version(c, o->tls13_only ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                               (ctx->server ? SSL_OP_CIPHER_SERVER_PREFERENCE : 0));
    /* partial writes and a moving buffer: the write queue resumes where a
     * record stopped; released buffers: an idle connection holds no 16 KiB
     * record buffers; read-ahead: one recv takes every record the socket has */
    SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_read_ahead(c, 1);
    if (o->ciphers && SSL_CTX_set_cipher_list(c, o->ciphers) != 1)
        return config_error(err, errlen, "TLS cipher list");
    if (o->ciphersuites && SSL_CTX_set_ciphersuites(c, o->ciphersuites) != 1)
        return config_error(err, errlen, "TLS 1.3 cipher suites");
    int rc = set_identity(c, o, err, errlen);
    if (rc == 0)
        rc = set_verify(ctx, o, err, errlen);
    if (rc == 0 && (rc = set_alpn(ctx, o)) == EVA_ETLS_CONFIG && err && errlen)
        snprintf(err, errlen, "TLS ALPN: a protocol name must be 1..255 bytes");
    return rc == 0 ? set_sessions(ctx, o) : rc;
}

int eva_tls_context_new(const eva_tls_context_opts *opts, eva_tls_context **out, char *err, size_t errlen) {
    if (err && errlen)
        err[0] = '\0';
    if (!opts || !out || (opts->server && !opts->cert_file) ||
        (opts->server && opts->verify_client && !opts->ca_file && !opts->ca_dir))
        return -EINVAL;
    eva_tls_context *ctx = eva__calloc(1, sizeof *ctx);
    if (!ctx)
        return -ENOMEM;
    ctx->server = opts->server;
    if (pthread_mutex_init(&ctx->lock, NULL) != 0) {
        eva__free(ctx);
        return -ENOMEM;
    }
    eva__tls_call_begin();
    ctx->ssl_ctx = SSL_CTX_new(opts->server ? TLS_server_method() : TLS_client_method());
    int rc = ctx->ssl_ctx ? setup(ctx, opts, err, errlen) : -ENOMEM;
    if (rc < 0) {
        ERR_clear_error();
        eva_tls_context_free(ctx);
        return rc;
    }
    *out = ctx;
    return 0;
}

void eva_tls_context_free(eva_tls_context *ctx) {
    if (!ctx)
        return;
    for (int i = 0; ctx->sessions && i < SESSIONS_KEPT; i++)
        SSL_SESSION_free(ctx->sessions[i].sess);
    eva__free(ctx->sessions);
    eva__free(ctx->alpn);
    eva__free(ctx->alpn_names);
    SSL_CTX_free(ctx->ssl_ctx);
    pthread_mutex_destroy(&ctx->lock);
    eva__free(ctx);
}

/* ---- the client's sessions --------------------------------------------------------------- */

static eva__tls_session *session_find(eva_tls_context *ctx, const char *name) {
    for (int i = 0; i < SESSIONS_KEPT; i++)
        if (ctx->sessions[i].sess && strcmp(ctx->sessions[i].name, name) == 0)
            return &ctx->sessions[i];
    return NULL;
}

void eva__tls_session_resume(eva__tls *tls) {
    eva_tls_context *ctx = tls->ctx;
    if (!ctx->keep_sessions || !tls->server_name)
        return;
    pthread_mutex_lock(&ctx->lock);
    eva__tls_session *s = session_find(ctx, tls->server_name);
    if (s)
        SSL_set_session(tls->ssl, s->sess); /* takes its own reference */
    pthread_mutex_unlock(&ctx->lock);
}

/* OpenSSL's new-session callback: keep the newest session of each server
 * name, the oldest name making room.  1: the reference is ours. */
int eva__tls_session_new_cb(SSL *ssl, SSL_SESSION *sess) {
    eva__tls *tls = SSL_get_app_data(ssl);
    eva_tls_context *ctx = tls->ctx;
    if (!tls->server_name)
        return 0;
    pthread_mutex_lock(&ctx->lock);
    eva__tls_session *s = session_find(ctx, tls->server_name);
    if (!s) {
        s = &ctx->sessions[ctx->nsessions % SESSIONS_KEPT];
        ctx->nsessions++;
        snprintf(s->name, sizeof s->name, "%s", tls->server_name);
    }
    SSL_SESSION *old = s->sess;
    s->sess = sess;
    pthread_mutex_unlock(&ctx->lock);
    SSL_SESSION_free(old);
    return 1;
}
