/* net/tls_io.c — OpenSSL's view of the stream's socket: a BIO that reads with
 * recv and writes with send(MSG_NOSIGNAL) (OpenSSL's own socket BIO uses
 * write(2), which raises SIGPIPE on a peer that went away), and keeps the
 * errno of the last failure for the error reports; and the reason strings of
 * OpenSSL's error queue. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>

#include "tls_internal.h"

static ssize_t io_result(BIO *b, eva__tls *tls, ssize_t n, bool reading) {
    if (n >= 0)
        return n;
    tls->io_errno = errno;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        tls->io_errno = 0;
        if (reading)
            BIO_set_retry_read(b);
        else
            BIO_set_retry_write(b);
    }
    return -1;
}

static int bio_write(BIO *b, const char *data, int len) {
    eva__tls *tls = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t n;
    do
        n = send(tls->stream->fd, data, (size_t)len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return (int)io_result(b, tls, n, false);
}

static int bio_read(BIO *b, char *buf, int len) {
    eva__tls *tls = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t n;
    do
        n = recv(tls->stream->fd, buf, (size_t)len, 0);
    while (n < 0 && errno == EINTR);
    return (int)io_result(b, tls, n, true); /* 0: the peer closed (OpenSSL tells a truncation from close_notify) */
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
    (void)b;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0; /* nothing is buffered here */
}

/* One method for the process, made on first use and kept (OpenSSL's own
 * methods are static too).  Not pthread_once: a first attempt that ran out
 * of memory must not leave TLS failing for the rest of the process. */
static BIO_METHOD *_Atomic bio_method;
static pthread_mutex_t bio_method_lock = PTHREAD_MUTEX_INITIALIZER;

static BIO_METHOD *bio_method_make(void) {
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "evasync stream");
    if (m && (!BIO_meth_set_write(m, bio_write) || !BIO_meth_set_read(m, bio_read) ||
              !BIO_meth_set_ctrl(m, bio_ctrl))) {
        BIO_meth_free(m);
        m = NULL;
    }
    return m;
}

static BIO_METHOD *bio_method_get(void) {
    BIO_METHOD *m = atomic_load_explicit(&bio_method, memory_order_acquire);
    if (m)
        return m;
    pthread_mutex_lock(&bio_method_lock);
    m = atomic_load_explicit(&bio_method, memory_order_relaxed);
    if (!m && (m = bio_method_make()) != NULL)
        atomic_store_explicit(&bio_method, m, memory_order_release);
    pthread_mutex_unlock(&bio_method_lock);
    return m;
}

BIO *eva__tls_bio_new(eva__tls *tls) {
    BIO_METHOD *m = bio_method_get();
    BIO *b = m ? BIO_new(m) : NULL;
    if (b) {
        BIO_set_data(b, tls);
        BIO_set_init(b, 1);
    }
    return b;
}

/* Empties the queue: the first entry's reason (a static string; NULL:
 * none), and whether any entry is an allocation failure. */
static const char *drain(bool *out_of_memory) {
    const char *first = NULL;
    unsigned long e;
    *out_of_memory = eva__tls_alloc_failed;
    eva__tls_alloc_failed = false;
    while ((e = ERR_get_error()) != 0) {
        if (!first)
            first = ERR_reason_error_string(e);
        *out_of_memory |= ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE;
    }
    return first;
}

/* Set by the allocation hook (tls_context.c), per thread: OpenSSL's calls
 * run on the calling thread. */
_Thread_local bool eva__tls_alloc_failed;

void eva__tls_call_begin(void) {
    ERR_clear_error();
    eva__tls_alloc_failed = false;
}

int eva__tls_reason(char *buf, size_t len, const char *what, int code) {
    bool oom;
    const char *reason = drain(&oom);
    if (reason)
        snprintf(buf, len, "%s: %s", what, reason);
    else
        snprintf(buf, len, "%s", what);
    return oom ? -ENOMEM : code;
}

int eva__tls_drain(int code) {
    bool oom;
    drain(&oom);
    return oom ? -ENOMEM : code;
}
