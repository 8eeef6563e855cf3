#!/bin/bash
# examples/unix_echo: serves a Unix socket it binds itself, and one systemd's
# socket activation passes it (Debian's systemd-socket-activate opens the
# socket, waits for the first connection, then execs the server with
# LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES); the example's client speaks to both.
# usage: unix_echo_check.sh UNIX_ECHO
set -u
echo_bin=$1
dir=$(mktemp -d)
server=
cleanup() { [ -n "$server" ] && kill -9 "$server" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
fail() { echo "unix_echo_check: $*"; [ -f "$dir/out" ] && cat "$dir/out"; exit 1; }

# Start "$@" in the background, its stderr or stdout (which: 2 or 1) into a
# FIFO, and wait (at most 10 s) for a line matching pattern on it.
start_and_wait() {
  local which=$1 pattern=$2; shift 2
  mkfifo "$dir/fifo"
  if [ "$which" = 2 ]; then "$@" >"$dir/out" 2>"$dir/fifo" & else "$@" >"$dir/fifo" 2>"$dir/err" & fi
  server=$!
  exec 7<"$dir/fifo"
  local line
  while read -r -t 10 -u 7 line; do
    echo "$line" >>"$dir/started"
    [[ $line == *$pattern* ]] && return 0
  done
  fail "no line matching '$pattern' within 10 s"
}

# SIGTERM the server; it must exit 0 having printed what it served.
stop_and_check() {
  local want=$1
  kill -TERM "$server"
  wait "$server"
  local rc=$?
  server=
  cat <&7 >>"$dir/started" # what it wrote to the FIFO since (it has exited: EOF)
  exec 7<&-
  [ "$rc" -eq 0 ] || fail "server exited with $rc"
  cat "$dir/out" "$dir/started" 2>/dev/null
  cat "$dir/out" "$dir/started" 2>/dev/null | grep -q "^unix_echo: served $want$" || fail "expected 'served $want'"
  rm -f "$dir/fifo" "$dir/out" "$dir/started"
}

client_check() {
  local out
  out=$("$echo_bin" --client "$@") || fail "client failed: $out"
  echo "$out"
  [ "$(echo "$out" | grep -c '^unix_echo: echoed: ')" -eq $(($# - 1)) ] || fail "expected $(($# - 1)) echoes"
  echo "$out" | grep -q "^unix_echo: echoed: ${2}$" || fail "echo of '$2'"
}

# 1. a path of its own
start_and_wait 1 "listening on $dir/own.sock" "$echo_bin" "$dir/own.sock"
client_check "$dir/own.sock" hello world
client_check "$dir/own.sock" again
stop_and_check "2 connections, 15 bytes"

# 2. socket activation: the socket is systemd-socket-activate's, named "echo"
command -v systemd-socket-activate >/dev/null || fail "systemd-socket-activate not found (Debian: systemd)"
start_and_wait 2 "Listening on $dir/act.sock" \
  systemd-socket-activate -l "$dir/act.sock" --fdname=echo "$echo_bin" --listen-fds
client_check "$dir/act.sock" activated
client_check "$dir/act.sock" "second connection"
grep -q '^unix_echo: listening on fd 3 named "echo" (socket activation)$' "$dir/out" ||
  fail "the server did not adopt fd 3 named echo"
stop_and_check "2 connections, 26 bytes"

# 3. --listen-fds without socket activation: a clear error, exit 2
out=$("$echo_bin" --listen-fds 2>&1); rc=$?
[ "$rc" -eq 2 ] || fail "--listen-fds alone exited $rc, expected 2"
echo "$out" | grep -q 'no sockets passed' || fail "--listen-fds alone: $out"
echo "unix_echo_check: ok"
