#!/usr/bin/env bash
# Convert a program written against the old names (docs/CHANGES.md,
# "Streams"): the TCP connection became a stream over any descriptor
# (eva_stream), the listener a server of any kind (eva_server).  TCP-only
# calls keep their names (eva_tcp_listen*, eva_tcp_connect*, eva_tcp_dial*,
# eva_tcp_server_get_port, eva_tcp_listen_options).  Run it once, from the
# root of the program's git tree: it rewrites the tracked C, header, markdown
# and script files in place (a docs/CHANGES.md is left alone).
set -euo pipefail
files=$(git ls-files '*.c' '*.h' '*.md' '*.py' '*.sh' 'bench/run-*' 'scripts/*' |
        grep -v -e '^docs/CHANGES.md$' -e '^scripts/rename-stream.sh$')
perl -pi -e '
s/\beva_tcp\b/eva_stream/g;
s/\beva_tcp_server\b/eva_server/g;
s/\beva_tcp_server_close\b/eva_server_close/g;
s/\beva_tcp_accept(|_op|_promise|_start|_stop|_req|_req_fn|_fn)\b/eva_server_accept$1/g;
s/\beva_tcp_(read|read_exact|read_until|write|drain|shutdown|close)(|_op|_promise|_req|_fn)\b/eva_stream_$1$2/g;
s/\beva_tcp_(open|read_cancel|write_copy|set_watermarks|get_write_queue_size|set_read_timeout|set_read_deadline|is_open|get_fd|read_mode|close_how)\b/eva_stream_$1/g;
s/\bEVA_TCP_(CLOSE_FLUSH|CLOSE_DISCARD|CLOSE_RESET|WRITE_IOV)\b/EVA_STREAM_$1/g;
s/\beva__tcp_/eva__stream_/g;
s/\bEVA__TCP_/EVA__STREAM_/g;
' $files
