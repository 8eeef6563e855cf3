/* tests/tls_test_certs.c — see tls_test_certs.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "tls_test_certs.h"

void tls_test_certs_make(char *template, const char *script) {
    assert_non_null(mkdtemp(template));
    char cmd[256];
    snprintf(cmd, sizeof cmd, "%s %s", script, template);
    assert_int_equal(system(cmd), 0);
}

int tls_test_certs_remove(const char *dir) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

eva_tls_context *tls_test_context(const eva_tls_context_opts *o) {
    eva_tls_context *ctx = NULL;
    char err[256];
    int rc = eva_tls_context_new(o, &ctx, err, sizeof err);
    if (rc < 0)
        fail_msg("eva_tls_context_new: %s (%s)", eva_strerror(rc), err);
    return ctx;
}

int tls_test_teardown(eva_tls_context *server, eva_tls_context *client, const char *dir) {
    eva_tls_context_free(server);
    eva_tls_context_free(client);
    return tls_test_certs_remove(dir);
}
