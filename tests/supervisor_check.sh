#!/bin/sh
# examples/supervisor restarts a crashing child with exponential backoff and
# gives up after N restarts (exit 1); a child that succeeds ends it (exit 0).
# usage: supervisor_check.sh SUPERVISOR
set -u
sup=$1
out=$("$sup" --restarts 3 --backoff-ms 5 --max-backoff-ms 15 -- sh -c 'exit 7')
rc=$?
echo "$out"
fail() { echo "supervisor_check: $*"; exit 1; }
[ "$rc" -eq 1 ] || fail "gave up with exit $rc, expected 1"
[ "$(echo "$out" | grep -c '^supervisor: start #')" -eq 4 ] || fail "expected 4 starts"
[ "$(echo "$out" | grep -c 'exited with status 7$')" -eq 4 ] || fail "expected 4 exits with status 7"
echo "$out" | grep -q '^supervisor: restart #1 in 5 ms$' || fail "first backoff"
echo "$out" | grep -q '^supervisor: restart #2 in 10 ms$' || fail "backoff doubles"
echo "$out" | grep -q '^supervisor: restart #3 in 15 ms$' || fail "backoff capped"
echo "$out" | grep -q '^supervisor: giving up after 3 restarts$' || fail "gives up"
out=$("$sup" --restarts 3 --backoff-ms 5 -- sh -c 'exit 0') || fail "a clean exit must exit 0"
echo "$out" | grep -q '^supervisor: child finished cleanly$' || fail "clean exit"
out=$("$sup" --restarts 0 -- /nonexistent/program)
[ $? -eq 1 ] || fail "a missing program must exit 1"
echo "$out" | grep -q 'cannot start /nonexistent/program' || fail "spawn error reported"
echo "supervisor_check: ok"
