#!/usr/bin/env python3
"""bench/idle_conns.py — the client side of bench/run-conn's idle-connection
comparison: open N keep-alive connections to an HTTP server on 127.0.0.1:PORT
(at most 512 connects in flight), send one GET on each and read its whole
response, then hold them all open and idle.  Prints
    ready conns=N errors=E
when every connection has had its answer (the server's per-connection state
is then at rest: what an idle keep-alive client costs it), waits for a line on
stdin, and closes them all.  Standard library only (selectors).

usage: idle_conns.py PORT N
"""
import errno
import selectors
import socket
import sys

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
BODY = b"Hello, World!"  # every peer answers with this body, and nothing after it
CONNECTS_IN_FLIGHT = 512


def open_all(port, n):
    """Connect, request and read one response on each of n sockets."""
    sel = selectors.DefaultSelector()
    socks, errors, started, pending = [], 0, 0, 0
    done = 0
    while done + errors < n:
        while started < n and pending < CONNECTS_IN_FLIGHT:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            rc = s.connect_ex(("127.0.0.1", port))
            if rc not in (0, errno.EINPROGRESS):
                s.close()
                errors += 1
            else:
                socks.append(s)
                sel.register(s, selectors.EVENT_WRITE, bytearray())
                pending += 1
            started += 1
        events = sel.select(timeout=10)
        if not events:  # a server that stopped answering: the rest count as errors
            errors += pending
            break
        for key, mask in events:
            s, got = key.fileobj, key.data
            if mask & selectors.EVENT_WRITE:
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) or s.send(REQUEST) != len(REQUEST):
                    sel.unregister(s)
                    errors, pending = errors + 1, pending - 1
                    continue
                sel.modify(s, selectors.EVENT_READ, got)
                continue
            chunk = s.recv(4096)
            got += chunk
            if not chunk or got.endswith(BODY):
                sel.unregister(s)
                pending -= 1
                if chunk:
                    done += 1
                else:
                    errors += 1
    sel.close()
    return socks, errors


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: idle_conns.py PORT N")
    port, n = int(sys.argv[1]), int(sys.argv[2])
    socks, errors = open_all(port, n)
    print(f"ready conns={n - errors} errors={errors}", flush=True)
    sys.stdin.readline()
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
