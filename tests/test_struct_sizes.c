/* tests/test_struct_sizes.c — the sizes of the public structs a caller
 * allocates or embeds.  They are ABI: each is documented in its header, and
 * a change must be deliberate.  The figures are those of x86_64 Linux with
 * Debian's libev (the reference platform); elsewhere the test only prints
 * them.  A failure means the ABI changed: if that is meant, update the
 * size in the struct's header comment and in the table below. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <cmocka.h>

#include <evasync.h>

typedef struct size_row {
    const char *name;
    size_t actual, documented;
} size_row;

#define ROW(type, bytes) {#type, sizeof(type), bytes}

static const size_row rows[] = {
    ROW(eva_queue, 16),
    ROW(eva_call, 32),
    ROW(eva_timer, 72),
    ROW(eva_io, 72),
    ROW(eva_signal, 72),
    ROW(eva_task, 128),
    ROW(eva_reaction, 24),
    ROW(eva_scope, 96),
    ROW(eva_waitq, 16),
    ROW(eva_mutex, 32),
    ROW(eva_semaphore, 32),
    ROW(eva_event, 32),
    ROW(eva_channel, 80),
    ROW(eva_channel_post_req, 248),
    ROW(eva_pool_job, 144),
    ROW(eva_stream_read_req, 128),
    ROW(eva_stream_write_req, 176),
    ROW(eva_tcp_connect_req, 120),
    ROW(eva_stream_shutdown_req, 72),
    ROW(eva_stream_drain_req, 72),
    ROW(eva_server_accept_req, 80),
    ROW(eva_stream, 312),
    ROW(eva_server, 208),
    ROW(eva_tcp_dial_req, 904),
    ROW(eva_udp_recv_req, 128),
    ROW(eva_udp_send_req, 184),
    ROW(eva_udp, 240),
    ROW(eva_unix_connect_req, 208),
    ROW(eva_dns_query, 184),
    ROW(eva_fd_wait_req, 208),
    ROW(eva_process, 176),
    ROW(eva_process_wait_req, 104),
    ROW(eva_fs_req, 400),
    ROW(eva_fs_watcher, 480),
    /* all public: options, results, descriptors */
    ROW(eva_block_report, 96),
    ROW(eva_detector_options, 32),
    ROW(eva_dns_addr, 144),
    ROW(eva_dns_addrs, 8),
    ROW(eva_dns_options, 40),
    ROW(eva_dns_stats, 48),
    ROW(eva_dns_record, 16),
    ROW(eva_dns_records, 16),
    ROW(eva_loop_metrics, 56),
    ROW(eva_process_options, 96),
    ROW(eva_fs_dirent, 16),
    ROW(eva_stdio, 16),
    ROW(eva_op, 24),
    ROW(eva_pool_options, 16),
    ROW(eva_group_options, 32),
    ROW(eva_pool_stats, 104),
    ROW(eva_site, 32),
    ROW(eva_task_info, 48),
    ROW(eva_tcp_listen_options, 12),
    ROW(eva_listen_fd, 260),
    ROW(eva_udp_recv_options, 16),
    ROW(eva_wait_ops, 16),
};

static void test_sizes(void **state) {
    (void)state;
    bool reference = sizeof(void *) == 8 && sizeof(long) == 8;
#if !defined(__x86_64__) || !defined(__linux__)
    reference = false;
#endif
    int changed = 0;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const size_row *r = &rows[i];
        printf("sizeof_%s=%zu\n", r->name, r->actual);
        if (reference && r->actual != r->documented) {
            printf("  %s: %zu bytes, documented %zu\n", r->name, r->actual, r->documented);
            changed++;
        }
    }
    assert_int_equal(changed, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_sizes)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
