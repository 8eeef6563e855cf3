#!/bin/sh
# tests/https_example_check.sh HELLO_HTTPS HTTPS_GET CERTS_SCRIPT — the HTTPS
# examples against real peers: curl GETs from hello_https twice over one
# keep-alive connection (verifying the test CA's certificate), then
# https_get fetches from it; a plaintext request to its port gets no answer
# and the server goes on serving.  Bounded waits only.
set -eu
server=$1 get=$2 certs_script=$3
dir=$(mktemp -d /tmp/evasync-https-XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
"$certs_script" "$dir"
: > "$dir/out" # before the server starts: its redirection happens in the child, after the fork
"$server" "$dir/server.pem" "$dir/server.key" 0 >> "$dir/out" 2>&1 &
pid=$!
port=
for _ in $(seq 50); do # the listening line: at most 5 s
  port=$(sed -n 's|.*https://127.0.0.1:\([0-9]*\)/.*|\1|p' "$dir/out")
  [ -n "$port" ] && break
  timeout 0.1 tail -f "$dir/out" >/dev/null 2>&1 || true
done
[ -n "$port" ] || { echo "hello_https did not start"; cat "$dir/out"; exit 1; }
url=https://localhost:$port/
curl -sS -v --max-time 5 --cacert "$dir/ca.pem" "$url" "$url" > "$dir/body" 2> "$dir/curl.log"
[ "$(grep -o 'Hello, World!' "$dir/body" | wc -l)" -eq 2 ] || { echo "curl: bad body"; cat "$dir/body"; exit 1; }
grep -q 'Re-using existing connection' "$dir/curl.log" || { echo "curl: no keep-alive"; cat "$dir/curl.log"; exit 1; }
grep -q 'SSL certificate verify ok' "$dir/curl.log" || { echo "curl: not verified"; exit 1; }
printf 'GET / HTTP/1.1\r\n\r\n' | timeout 5 curl -s --max-time 2 "http://127.0.0.1:$port/" > "$dir/plain" 2>&1 || true
grep -q 'Hello' "$dir/plain" && { echo "plaintext got an answer"; exit 1; }
"$get" --ca "$dir/ca.pem" 127.0.0.1 "$port" / > "$dir/get" || { echo "https_get failed"; cat "$dir/get"; exit 1; }
grep -q 'Hello, World!' "$dir/get" || { echo "https_get: bad body"; cat "$dir/get"; exit 1; }
if "$get" 127.0.0.1 "$port" / > /dev/null 2> "$dir/get.err"; then
  echo "https_get trusted the test CA without --ca"; exit 1
fi
grep -q 'certificate verify failed' "$dir/get.err" || { echo "https_get: no reason"; cat "$dir/get.err"; exit 1; }
kill "$pid"
wait "$pid"
pid=
echo "https examples: ok"
