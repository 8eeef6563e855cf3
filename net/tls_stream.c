/* net/tls_stream.c — TLS on an eva_stream: the handshake request (three
 * styles, with its timeout), and the hooks through which the stream's reads
 * and writes become SSL_read / SSL_write.
 *
 * While the handshake runs it owns the stream's watcher: after each
 * SSL_do_handshake step it waits for exactly the readiness the step needs.
 * Reads and writes started meanwhile wait (the hooks report EAGAIN); once it
 * is done the watcher is handed back to them. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "tls_internal.h"

/* ---- the request ------------------------------------------------------------------ */

static void start_notify(eva__req *r, int status) {
    eva_tls_start_req *req = EVA__CONTAINER_OF(r, eva_tls_start_req, req);
    ((eva_tls_start_fn)r->to.cb)(req, status);
}

static const char *start_message(const eva__req *r, int status) {
    const eva_tls_start_req *req = EVA__CONTAINER_OF(r, eva_tls_start_req, req);
    return status < 0 && req->message[0] ? req->message : NULL;
}

static void start_await_cancel(eva_task *t);

static const eva__req_kind start_kind = {{"tls-handshake", start_await_cancel}, start_notify, start_message};

/* ---- watchers ---------------------------------------------------------------------- */

static struct ev_loop *ev_of(const eva__tls *tls) { return eva_loop_get_ev(tls->stream->loop); }

/* The handshake waits for exactly one readiness. */
static void handshake_watch(eva__tls *tls, int events) { eva__stream_watch(tls->stream, events); }

/* Back to the stream's own use: a pending read and queued writes. */
static void watchers_to_stream(eva__tls *tls) {
    eva_stream *s = tls->stream;
    handshake_watch(tls, (s->rd ? EV_READ : 0) | (s->wq_head ? EV_WRITE : 0));
    if (s->rd)
        eva__tls_read_armed(s);
}

/* ---- errors ------------------------------------------------------------------------ */

static bool reason_is_eof(void) {
    unsigned long e = ERR_peek_error();
    return ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
}

/* A failed SSL call's code (SSL_get_error's e): the socket's -errno, the
 * peer vanishing (eof), or otherwise (OpenSSL's queue still holds it). */
static int io_code(const eva__tls *tls, int e, int eof, int otherwise) {
    if (e == SSL_ERROR_SYSCALL && tls->io_errno)
        return -tls->io_errno;
    if (e == SSL_ERROR_SYSCALL || reason_is_eof())
        return eof;
    return otherwise;
}

/* The handshake's failure: code and message, from OpenSSL's queue and the
 * peer certificate's verification result. */
static int handshake_error(eva__tls *tls, int e, eva_tls_start_req *req) {
    long v = SSL_get_verify_result(tls->ssl);
    req->verify_result = v;
    int code = v == X509_V_ERR_OUT_OF_MEM ? -ENOMEM : io_code(tls, e, EVA_ETLS_HANDSHAKE, EVA_ETLS_HANDSHAKE);
    if (code == EVA_ETLS_HANDSHAKE && e == SSL_ERROR_SSL && v != X509_V_OK) {
        /* a signature check that could not allocate fails as "certificate
         * signature failure": not a bad certificate */
        code = eva__tls_drain(EVA_ETLS_VERIFY);
        snprintf(req->message, sizeof req->message, "TLS handshake: certificate verify failed: %s",
                 code == -ENOMEM ? "out of memory" : X509_verify_cert_error_string(v));
        return code;
    }
    if (code == EVA_ETLS_HANDSHAKE && (e == SSL_ERROR_SYSCALL || reason_is_eof()))
        snprintf(req->message, sizeof req->message, "TLS handshake: the peer closed the connection");
    else if (code == EVA_ETLS_HANDSHAKE)
        code = eva__tls_reason(req->message, sizeof req->message, "TLS handshake", code);
    else
        snprintf(req->message, sizeof req->message, "TLS handshake: %s", eva_strerror(code));
    ERR_clear_error();
    return code;
}

/* ---- the handshake ----------------------------------------------------------------- */

static void handshake_end(eva__tls *tls, int status) {
    eva_tls_start_req *req = tls->hs;
    tls->hs = NULL;
    tls->handshaking = false;
    ev_timer_stop(ev_of(tls), &tls->hs_timer);
    eva__req_done_later(tls->stream->loop, &req->req, status);
}

/* The stream cannot carry TLS any more: what waits on it fails with code. */
static void tls_fail(eva__tls *tls, int code) {
    eva_stream *s = tls->stream;
    tls->failed = code;
    s->broken = 1;
    handshake_watch(tls, 0);
    eva__stream_read_abort(s, code);
    eva__stream_write_abort(s, code);
}

static void handshake_failed(eva__tls *tls, int code) {
    handshake_end(tls, code);
    tls_fail(tls, code);
}

/* The chosen protocol as the context's own NUL-terminated copy of the name.
 * It is always one of the context's: a server chooses from its list, and
 * OpenSSL fails a client's handshake when the server picks a name the client
 * did not offer. */
static const char *alpn_name(const eva_tls_context *ctx, const unsigned char *p, unsigned len) {
    const char *name = ctx->alpn_names;
    for (size_t off = 0; len && off < ctx->alpn_len; off += 1 + ctx->alpn[off]) {
        if (ctx->alpn[off] == len && memcmp(name, p, len) == 0)
            return name;
        name += ctx->alpn[off] + 1;
    }
    return NULL;
}

static void handshake_done(eva__tls *tls) {
    const unsigned char *p;
    unsigned len;
    SSL_get0_alpn_selected(tls->ssl, &p, &len);
    tls->alpn = alpn_name(tls->ctx, p, len);
    tls->hs->verify_result = SSL_get_verify_result(tls->ssl);
    handshake_end(tls, 0);
    watchers_to_stream(tls);
}

static void handshake_step(eva__tls *tls) {
    eva__tls_call_begin();
    int ret = SSL_do_handshake(tls->ssl);
    if (ret == 1) {
        handshake_done(tls);
        return;
    }
    int e = SSL_get_error(tls->ssl, ret);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        handshake_watch(tls, e == SSL_ERROR_WANT_READ ? EV_READ : EV_WRITE);
    else
        handshake_failed(tls, handshake_error(tls, e, tls->hs));
}

static void on_handshake_timeout(struct ev_loop *ev, ev_timer *w, int revents) {
    (void)ev;
    (void)revents;
    eva__tls *tls = EVA__CONTAINER_OF(w, eva__tls, hs_timer);
    snprintf(tls->hs->message, sizeof tls->hs->message, "TLS handshake: not complete within %lld ms",
             (long long)tls->hs->timeout_ms);
    handshake_failed(tls, -ETIMEDOUT);
}

/* The request completes once, through its own queued completion. */
static void start_await_cancel(eva_task *t) {
    eva_tls_start_req *req = eva_task_get_wait_obj(t);
    if (!eva__req_queued(&req->req))
        handshake_failed(req->stream->tls, -ECANCELED);
}

/* ---- starting ---------------------------------------------------------------------- */

static int start_check(const eva_tls_start_req *req, const eva_stream *stream, const eva_tls_context *ctx) {
    if (!req || !stream || !ctx)
        return -EINVAL;
    if (req->req.busy)
        return -EBUSY;
    if (!eva_stream_is_open(stream) || stream->connecting || stream->closing)
        return -ENOTCONN;
    if (!stream->kind.socket)
        return -ENOTSOCK;
    if (stream->tls)
        return -EALREADY;
    /* a read that has taken nothing yet and writes not begun go through TLS
     * (the promise form starts from the loop: they may be issued first); plain
     * bytes half-way through cannot */
    if ((stream->rd && stream->rd->nread > 0) || (stream->wq_head && stream->wq_head->remaining < stream->wq_head->total) ||
        stream->broken || stream->write_shut)
        return -EBUSY;
    if (!ctx->server && ctx->verify && (!req->server_name || !req->server_name[0]))
        return -EINVAL; /* verifying a certificate without a name accepts any site's */
    return 0;
}

/* Which name the certificate must carry: an IP address, or a host name (also
 * sent as SNI).  false: out of memory. */
static bool set_peer_name(eva__tls *tls, const char *name) {
    unsigned char addr[16];
    if (!name[0])
        return true; /* verification off (start_check): no name to check or send */
    tls->server_name = eva__alloc(strlen(name) + 1);
    if (!tls->server_name)
        return false;
    strcpy(tls->server_name, name);
    if (inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1)
        return !tls->ctx->verify || X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(tls->ssl), name) == 1;
    if (SSL_set_tlsext_host_name(tls->ssl, name) != 1)
        return false;
    return !tls->ctx->verify || SSL_set1_host(tls->ssl, name) == 1;
}

static void tls_free(eva__tls *tls) {
    SSL_free(tls->ssl);
    eva__free(tls->server_name);
    eva__free(tls);
}

static eva__tls *tls_new(eva_stream *stream, eva_tls_context *ctx, const char *server_name) {
    eva__tls *tls = eva__calloc(1, sizeof *tls);
    if (!tls)
        return NULL;
    tls->stream = stream;
    tls->ctx = ctx;
    tls->ssl = SSL_new(ctx->ssl_ctx);
    BIO *bio = tls->ssl ? eva__tls_bio_new(tls) : NULL;
    if (!bio) {
        tls_free(tls);
        return NULL;
    }
    SSL_set_bio(tls->ssl, bio, bio);
    /* the app data is an ex_data slot, which may allocate: unchecked, a
     * session callback would later get NULL (the full sweep found it) */
    if (SSL_set_app_data(tls->ssl, tls) != 1) {
        tls_free(tls);
        return NULL;
    }
    if (ctx->server) {
        SSL_set_accept_state(tls->ssl);
        return tls;
    }
    SSL_set_connect_state(tls->ssl);
    if (server_name && !set_peer_name(tls, server_name)) {
        tls_free(tls);
        return NULL;
    }
    eva__tls_session_resume(tls);
    return tls;
}

/* The checked request starts: the stream is TLS from now on.  The first
 * step runs from the loop (a client's: when the socket is writable, at
 * once), so no completion comes inside the start call. */
static int start_begin(eva_tls_start_req *req, void (*cb)(void)) {
    eva_stream *stream = req->stream;
    eva__tls *tls = tls_new(stream, req->ctx, req->server_name);
    if (!tls) {
        ERR_clear_error();
        return -ENOMEM;
    }
    req->server_name = NULL; /* copied into tls: not referenced past the start */
    req->verify_result = 0;
    req->message[0] = '\0';
    eva__req_take(&req->req, &start_kind, cb);
    stream->tls = tls;
    tls->hs = req;
    tls->handshaking = true;
    ev_timer_init(&tls->hs_timer, on_handshake_timeout, (double)req->timeout_ms / 1e3, 0.);
    if (req->timeout_ms > 0)
        ev_timer_start(ev_of(tls), &tls->hs_timer);
    handshake_watch(tls, req->ctx->server ? EV_READ : EV_WRITE);
    return 0;
}

static void start_fill(eva_tls_start_req *req, eva_stream *stream, eva_tls_context *ctx,
                       const eva_tls_start_opts *opts) {
    req->stream = stream;
    req->ctx = ctx;
    req->server_name = opts ? opts->server_name : NULL;
    req->timeout_ms = opts && opts->timeout_ms > 0 ? opts->timeout_ms : 0;
}

int eva_tls_start(eva_tls_start_req *req, eva_stream *stream, eva_tls_context *ctx, const eva_tls_start_opts *opts,
                  eva_tls_start_fn cb) {
    if (!req || !cb)
        return -EINVAL;
    if (req->req.busy)
        return -EBUSY;
    start_fill(req, stream, ctx, opts);
    int rc = start_check(req, stream, ctx);
    return rc < 0 ? rc : start_begin(req, (void (*)(void))cb);
}

static int start_await_start(eva_task *t, const eva_op *op) {
    eva_tls_start_req *req = op->ptr;
    int rc = start_check(req, req->stream, req->ctx);
    if (rc == 0)
        rc = start_begin(req, NULL);
    return rc < 0 ? rc : eva__req_park(&req->req, t, req);
}

eva_op eva_tls_start_op(eva_tls_start_req *req, eva_stream *stream, eva_tls_context *ctx,
                        const eva_tls_start_opts *opts) {
    if (!req || req->req.busy)
        return eva__req_refused_op(req ? -EBUSY : -EINVAL);
    start_fill(req, stream, ctx, opts);
    return (eva_op){.start = start_await_start, .ptr = req};
}

/* The promise form starts at once, as the callback form does (a promise made
 * from the op would start from the loop, after bytes written meanwhile went
 * out in the clear).  The request is allocated; the promise holds it as its
 * value (fulfilled) or frees it (rejected: OpenSSL's reason stays with the
 * callback and AWAIT forms; the rejection's message is the code's). */
static void on_promise_handshake(eva_tls_start_req *req, int status) {
    eva_promise *p = req->data;
    if (status < 0 || eva_promise_resolve(p, req, eva__free) < 0) {
        eva_promise_reject(p, status < 0 ? status : -ECANCELED, NULL);
        eva__free(req);
    }
    eva_promise_unref(p);
}

static void promise_cancel(eva_promise *p, void *arg) {
    (void)p;
    eva_tls_start_req *req = arg;
    if (req->req.busy && !eva__req_queued(&req->req))
        handshake_failed(req->stream->tls, -ECANCELED);
}

int eva_tls_start_promise(eva_stream *stream, eva_tls_context *ctx, const eva_tls_start_opts *opts,
                          eva_promise **out) {
    if (!stream || !out || !stream->loop)
        return -EINVAL;
    eva_tls_start_req *req = eva__calloc(1, sizeof *req);
    eva_promise *p = NULL;
    int rc = req ? eva_promise_new(stream->loop, &p) : -ENOMEM;
    if (rc == 0)
        rc = eva_tls_start(req, stream, ctx, opts, on_promise_handshake);
    if (rc < 0) {
        eva_promise_unref(p);
        eva__free(req);
        return rc;
    }
    req->data = p; /* the callback's reference */
    eva_promise_set_canceller(p, promise_cancel, req);
    *out = eva_promise_ref(p);
    return 0;
}

/* ---- the stream's hooks ---------------------------------------------------------- */

/* A failed call on an established connection: the socket's error, eof, an
 * allocation failure (OpenSSL wraps it, e.g. in "internal error"), or
 * EVA_ETLS_PROTOCOL.  The queue is left empty. */
static int established_failure(const eva__tls *tls, int e, int eof) {
    int code = io_code(tls, e, eof, EVA_ETLS_PROTOCOL);
    if (code == EVA_ETLS_PROTOCOL)
        code = eva__tls_drain(code);
    ERR_clear_error();
    return code;
}

/* A failed SSL_read / SSL_write on an established connection: the stream is
 * done for (OpenSSL allows no call after a fatal error). */
static int data_failed(eva__tls *tls, int e) {
    int code = established_failure(tls, e, EVA_ETLS_TRUNCATED);
    tls->failed = code;
    tls->stream->broken = 1;
    return code;
}

ssize_t eva__tls_recv(eva_stream *stream, void *buf, size_t len, bool peek) {
    eva__tls *tls = stream->tls;
    if (tls->failed)
        return tls->failed;
    if (tls->handshaking)
        return -EAGAIN;
    size_t n;
    eva__tls_call_begin();
    if (peek ? SSL_peek_ex(tls->ssl, buf, len, &n) : SSL_read_ex(tls->ssl, buf, len, &n))
        return (ssize_t)n;
    int e = SSL_get_error(tls->ssl, 0);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        return -EAGAIN;
    case SSL_ERROR_WANT_WRITE: /* a TLS 1.3 key update's answer is stuck behind a full socket */
        tls->read_wants_write = true;
        eva__stream_want(stream, EV_WRITE);
        return -EAGAIN;
    case SSL_ERROR_ZERO_RETURN: /* close_notify: a clean end */
        return 0;
    default:
        return data_failed(tls, e);
    }
}

/* One record's worth of plaintext: several small buffers go out as one
 * record rather than one each. */
enum { GATHER_MAX = 16384 };

ssize_t eva__tls_writev(eva_stream *stream, const struct iovec *iov, int cnt) {
    eva__tls *tls = stream->tls;
    if (tls->failed || tls->handshaking) {
        errno = tls->failed ? -tls->failed : EAGAIN; /* the write path reports -errno: the code itself */
        return -1;
    }
    const void *buf = iov[0].iov_base;
    size_t len = iov[0].iov_len;
    char gather[GATHER_MAX];
    if (cnt > 1 && len < GATHER_MAX) {
        len = 0;
        for (int i = 0; i < cnt && len < GATHER_MAX; i++) {
            size_t take = iov[i].iov_len < GATHER_MAX - len ? iov[i].iov_len : GATHER_MAX - len;
            memcpy(gather + len, iov[i].iov_base, take);
            len += take;
        }
        buf = gather;
    }
    size_t n;
    eva__tls_call_begin();
    if (SSL_write_ex(tls->ssl, buf, len, &n))
        return (ssize_t)n;
    int e = SSL_get_error(tls->ssl, 0);
    if (e == SSL_ERROR_WANT_READ) {
        tls->write_wants_read = true;
        eva__stream_want(stream, EV_READ);
    }
    errno = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? EAGAIN : -data_failed(tls, e);
    return -1;
}

int eva__tls_on_io(eva_stream *stream, int revents) {
    eva__tls *tls = stream->tls;
    if (tls->handshaking) {
        handshake_step(tls);
        return 0;
    }
    if ((revents & EV_WRITE) && tls->read_wants_write) {
        tls->read_wants_write = false;
        if (!stream->wq_head)
            eva__stream_unwant(stream, EV_WRITE);
        return EV_READ; /* the read retries; the queue on the next report, as the event is the read's */
    }
    if (tls->write_wants_read) {
        if (!(revents & EV_READ)) { /* writable, but the write waits for bytes to read */
            eva__stream_unwant(stream, EV_WRITE);
            return 0;
        }
        tls->write_wants_read = false;
        eva__stream_want(stream, EV_WRITE); /* the queue retries */
    }
    return revents;
}

void eva__tls_read_armed(eva_stream *stream) {
    eva__tls *tls = stream->tls;
    if (!tls->handshaking && (tls->failed || SSL_has_pending(tls->ssl)))
        ev_feed_event(ev_of(tls), &stream->io, EV_READ);
}

/* One non-blocking attempt: a socket too full for 24 bytes of alert is a
 * peer that reads nothing, which loses nothing by not getting it. */
static int send_close_notify(eva__tls *tls) {
    if (tls->failed || tls->handshaking)
        return 0;
    eva__tls_call_begin();
    int ret = SSL_shutdown(tls->ssl);
    int e = ret < 0 ? SSL_get_error(tls->ssl, ret) : SSL_ERROR_NONE;
    if (e == SSL_ERROR_NONE || e == SSL_ERROR_WANT_WRITE) {
        ERR_clear_error();
        return 0;
    }
    return established_failure(tls, e, -EPIPE);
}

int eva__tls_shutdown(eva_stream *stream) { return send_close_notify(stream->tls); }

void eva__tls_close(eva_stream *stream, bool notify) {
    eva__tls *tls = stream->tls;
    if (notify) {
        send_close_notify(tls);
        return; /* the close itself frees it */
    }
    if (tls->hs) {
        snprintf(tls->hs->message, sizeof tls->hs->message, "TLS handshake: the stream was closed");
        handshake_end(tls, -ECANCELED);
    }
    stream->tls = NULL;
    tls_free(tls);
}

/* ---- results ------------------------------------------------------------------------ */

static const eva__tls *established(const eva_stream *stream) {
    const eva__tls *tls = stream && eva_stream_is_open(stream) ? stream->tls : NULL;
    return tls && !tls->handshaking ? tls : NULL;
}

const char *eva_tls_get_alpn(const eva_stream *stream) {
    const eva__tls *tls = established(stream);
    return tls ? tls->alpn : NULL;
}

long eva_tls_get_peer_verify_result(const eva_stream *stream) {
    const eva__tls *tls = established(stream);
    return tls ? SSL_get_verify_result(tls->ssl) : -1;
}

const char *eva_tls_get_version(const eva_stream *stream) {
    const eva__tls *tls = established(stream);
    return tls ? SSL_get_version(tls->ssl) : NULL;
}

const char *eva_tls_get_cipher(const eva_stream *stream) {
    const eva__tls *tls = established(stream);
    return tls ? SSL_get_cipher_name(tls->ssl) : NULL;
}

bool eva_tls_is_resumed(const eva_stream *stream) {
    const eva__tls *tls = established(stream);
    return tls && SSL_session_reused(tls->ssl);
}

bool eva_tls_is_on(const eva_stream *stream) { return stream && eva_stream_is_open(stream) && stream->tls; }
