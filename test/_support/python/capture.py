"""Captures real BaseManager traffic for the Python door's test fixtures.

Starts a seed-style god (a BaseManager serving queue.Queue objects `pq`, `cq`
and a bounded `bq`), a logging TCP proxy in front of it, and a client process
(this same script with --client) that uses proxies the way seed scripts do,
plus a few calls seed scripts do not make (put_nowait, get_nowait, qsize,
full, a timed-out get, a full bounded queue) and one put of each value type.
Writes every frame of every connection, in order, as hex to OUT (JSON).

Usage: python3 capture.py OUT.json        (run by hand; fixtures are committed)
"""
import json
import os
import pickle
import queue
import socket
import struct
import subprocess
import sys
import threading
import time
from multiprocessing.managers import BaseManager

KEY = b"capture-key"

# The values the client puts, in order (tests check the decoded forms).
VALUES = [
    0, 1, -1, 255, 256, 65535, 65536, -129, 2**31 - 1, -2**31, 2**31, 2**63, -2**64 - 1, 10**30,
    1.5, -0.0, float("inf"),
    "", "hi", "h\u00e9\u4e2d\U0001f600", "x" * 300,
    b"", b"\x00\xff", b"y" * 300,
    True, False, None,
    [], [1, "a"], (), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4),
    {}, {"a": 1, "b": [2]}, {1: "x", (2, 3): None},
    set(), {1, 2}, frozenset(), frozenset({"z"}),
    [[1, [2, [3]]]], ["s", "s"],
]


class GodManager(BaseManager):
    pass


class ClientManager(BaseManager):
    pass


for name in ("pq", "cq", "bq"):
    ClientManager.register(name)


def serve_god():
    pq, cq, bq = queue.Queue(), queue.Queue(), queue.Queue(maxsize=2)
    GodManager.register("pq", callable=lambda: pq)
    GodManager.register("cq", callable=lambda: cq)
    GodManager.register("bq", callable=lambda: bq)
    m = GodManager(address=("127.0.0.1", 0), authkey=KEY)
    m.start()
    return m


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def pump(src, dst, side, log, lock):
    try:
        while True:
            header = read_exact(src, 4)
            (size,) = struct.unpack("!i", header)
            extra = b""
            if size == -1:
                extra = read_exact(src, 8)
                (size,) = struct.unpack("!Q", extra)
            body = read_exact(src, size)
            with lock:
                log.append({"from": side, "hex": body.hex()})
            dst.sendall(header + extra + body)
    except (EOFError, OSError):
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def run_proxy(upstream, connections, lock):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)

    def accept():
        while True:
            client, _ = listener.accept()
            server = socket.create_connection(upstream)
            log = []
            with lock:
                connections.append(log)
            for a, b, side in ((client, server, "client"), (server, client, "server")):
                threading.Thread(target=pump, args=(a, b, side, log, lock), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return listener.getsockname()[1]


def client(port):
    m = ClientManager(address=("127.0.0.1", port), authkey=KEY)
    m.connect()
    pq, cq, bq = m.pq(), m.cq(), m.bq()
    # The seed's producer and consumer.
    for n in (3, 999, 0):
        pq.put(n)
    while not pq.empty():
        n = pq.get(timeout=1)
        cq.put("%d * %d = %d" % (n, n, n * n))
    # One put of each value type, then each taken back.
    for v in VALUES:
        pq.put(v)
    for _ in VALUES:
        pq.get(timeout=1)
    # Calls seed scripts do not make.
    pq.put_nowait(7)
    pq.qsize()
    pq.get_nowait()
    pq.put(8, True, 1)
    pq.get(block=False)
    try:
        pq.get(timeout=0.05)
    except queue.Empty:
        pass
    try:
        pq.get_nowait()
    except queue.Empty:
        pass
    bq.put(1)
    bq.put(2)
    bq.full()
    try:
        bq.put_nowait(3)
    except queue.Full:
        pass
    try:
        bq.put(3, timeout=0.05)
    except queue.Full:
        pass


def main():
    if sys.argv[1] == "--client":
        client(int(sys.argv[2]))
        return
    out = sys.argv[1]
    god = serve_god()
    connections, lock = [], threading.Lock()
    port = run_proxy(god.address, connections, lock)
    subprocess.check_call([sys.executable, os.path.abspath(__file__), "--client", str(port)])
    time.sleep(0.5)
    god.shutdown()
    with lock:
        doc = {
            "python": sys.version.split()[0],
            "pickleProtocol": pickle.DEFAULT_PROTOCOL,
            "authkey": KEY.decode(),
            "values": [repr(v) for v in VALUES],
            "connections": [c for c in connections if c],
        }
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print("%s: %d connections, %d frames" % (out, len(doc["connections"]),
                                             sum(len(c) for c in doc["connections"])))


if __name__ == "__main__":
    main()
