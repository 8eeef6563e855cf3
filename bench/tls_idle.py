#!/usr/bin/env python3
"""bench/tls_idle.py HOST PORT N — N keep-alive HTTPS connections to a server,
each through a full handshake and one request (so the server has answered and
is waiting for the next), then held open.  Prints "ready N" once all N are
idle, and holds them until stdin closes.  No verification: the server's
certificate is the test PKI's, and only its memory is measured."""
import socket
import ssl
import sys

host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
conns = []
for _ in range(n):
    s = ctx.wrap_socket(socket.create_connection((host, port), timeout=5), server_hostname="localhost")
    s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    reply = b""
    while b"Hello, World!" not in reply:
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("tls_idle: the server closed a connection")
        reply += chunk
    conns.append(s)
print("ready", len(conns), flush=True)
sys.stdin.read()
