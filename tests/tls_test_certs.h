/* tests/tls_test_certs.h — the TLS tests' certificates, generated at test
 * time by tests/tls_certs.sh into a temporary directory.  Include after
 * cmocka.h. */
#ifndef EVA_TLS_TEST_CERTS_H
#define EVA_TLS_TEST_CERTS_H

#include <stddef.h>

#include "evasync.h"

/* Make a directory from template (mkdtemp's, "...XXXXXX"; rewritten in
 * place) and generate the test CA and certificates into it with script;
 * fails the test if either cannot be done. */
void tls_test_certs_make(char *template, const char *script);

/* Remove the directory and everything in it: 0, or -1. */
int tls_test_certs_remove(const char *dir);

/* A context made with o; fails the test (with OpenSSL's reason) if it
 * cannot be made. */
eva_tls_context *tls_test_context(const eva_tls_context_opts *o);

/* A test group's end: the two contexts freed (NULL: none), then dir
 * removed.  0, or -1 (cmocka's teardown result). */
int tls_test_teardown(eva_tls_context *server, eva_tls_context *client, const char *dir);

#endif
