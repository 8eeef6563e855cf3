#!/bin/bash
# examples/statsd: a sender blasts N datagrams over loopback, the receiver
# (push mode, recvmmsg bursts) must count every one and sum the counters:
# requests = N, bytes = sum of i % 100, a bad line in every tenth datagram.
# The receiver's buffer is enlarged past net.core.rmem_max (root: the test
# command runs as root) so the blast is never dropped by the kernel.
# usage: statsd_check.sh STATSD [N]
set -u
statsd=$1
n=${2:-20000}
dir=$(mktemp -d)
receiver=
cleanup() { [ -n "$receiver" ] && kill -9 "$receiver" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
fail() { echo "statsd_check: $*"; cat "$dir/out" 2>/dev/null; exit 1; }

mkfifo "$dir/fifo"
"$statsd" --expect "$n" --timeout-ms 20000 >"$dir/fifo" &
receiver=$!
exec 7<"$dir/fifo"
read -r -t 10 -u 7 line || fail "the receiver did not start"
echo "$line"
port=${line##*:}
[[ $line == "statsd: listening on 127.0.0.1:"* && $port -gt 0 ]] || fail "unexpected first line: $line"
"$statsd" --send "$port" --count "$n" || fail "the sender failed"
wait "$receiver"
rc=$?
receiver=
cat <&7 >"$dir/out"
cat "$dir/out"
[ "$rc" -eq 0 ] || fail "receiver exited $rc"
bytes=$(( (n / 100) * 4950 ))
for i in $(seq 0 $(( n % 100 - 1 ))); do bytes=$((bytes + i)); done
grep -qx "statsd: datagrams=$n bad_lines=$(( (n + 9) / 10 ))" "$dir/out" || fail "datagram or bad line count"
grep -qx "statsd: counter requests=$n" "$dir/out" || fail "requests total"
grep -qx "statsd: counter bytes=$bytes" "$dir/out" || fail "bytes total (want $bytes)"
[ "$(grep -c '^statsd: counter ' "$dir/out")" -eq 2 ] || fail "exactly two counters"
echo "statsd_check: ok"
