#!/usr/bin/env python3
"""tests/soak/duprelay.py - a UDP relay that duplicates packets (stdlib only).

    python3 duprelay.py --listen PORT --server PORT [--host 127.0.0.1]
                        [--dup 0.05] [--delay 0.005] [--seed N]
                        [--lifetime SECONDS] [--idle SECONDS]

Started by tests/soak/soak.py inside the soak's network namespace.  A TFTP
client sends its request to --listen; the relay forwards it to --server
from ONE upstream socket per client address.  Each server TID (the port a
transfer answers from) seen on an upstream socket gets its own
client-facing socket: the server's packets reach the client from it, and
what the client sends to it goes from the upstream socket to that TID.
So the client sees one TID per transfer, as without the relay, and the
server sees one client address per client socket (the mapping of
tests/faults/relay.py).  Unlike that relay, mappings idle for --idle
seconds are closed, so a half-hour soak does not pile up sockets, and it
runs as its own process on epoll.

Every packet, either way, is sent once and, with probability --dup, once
more after a random delay of up to --delay seconds (so the copy may arrive
after newer packets).  Nothing is dropped here; the soak's nftables rule
does that.

The first line on stdout is "relay: listening on HOST:PORT"; on SIGTERM,
SIGINT or at --lifetime the relay prints one JSON line of counts and exits
0.  Every loop is bounded by --lifetime.
"""

import argparse
import heapq
import json
import random
import selectors
import signal
import socket
import sys
import time

SO_SNDBUFFORCE, SO_RCVBUFFORCE = 32, 33     # Linux; root may exceed *mem_max
BUF = 4 << 20
DRAIN = 64                                  # datagrams read per ready socket


class Flow:
    """One upstream socket (a client address) or one client-facing socket
    (an upstream socket and a server TID)."""
    __slots__ = ("sock", "kind", "client", "up", "tid", "last", "downs")

    def __init__(self, sock, kind, now):
        self.sock, self.kind, self.last = sock, kind, now
        self.client = self.up = self.tid = None
        self.downs = 0


class DupRelay:
    def __init__(self, host, listen_port, server_port, dup, delay, seed,
                 idle):
        self.host = host
        self.server = (host, server_port)
        self.dup, self.delay, self.idle = dup, delay, idle
        self.rng = random.Random(seed)
        self.sel = selectors.EpollSelector()
        self.L = self._sock(listen_port)
        self.sel.register(self.L, selectors.EVENT_READ, None)
        self.ups = {}           # client addr -> Flow(up)
        self.downs = {}         # (up Flow, tid) -> Flow(down)
        self.heap = []          # (when, seq, Flow, data, addr)
        self.seq = 0
        self.stop = False
        self.c = {"received": 0, "sent": 0, "duplicated": 0, "requests": 0,
                  "upstream_sockets": 0, "tid_sockets": 0, "expired": 0,
                  "open_max": 0, "send_errors": 0, "stray": 0}

    def _sock(self, port=0):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for force, plain in ((SO_RCVBUFFORCE, socket.SO_RCVBUF),
                             (SO_SNDBUFFORCE, socket.SO_SNDBUF)):
            try:
                s.setsockopt(socket.SOL_SOCKET, force, BUF)
            except OSError:
                try:
                    s.setsockopt(socket.SOL_SOCKET, plain, BUF)
                except OSError:
                    pass
        s.bind((self.host, port))
        s.setblocking(False)
        return s

    def _open(self, kind, now):
        f = Flow(self._sock(), kind, now)
        self.sel.register(f.sock, selectors.EVENT_READ, f)
        self.c["upstream_sockets" if kind == "up" else "tid_sockets"] += 1
        n = len(self.ups) + len(self.downs) + 1
        self.c["open_max"] = max(self.c["open_max"], n)
        return f

    def _close(self, f):
        try:
            self.sel.unregister(f.sock)
        except (KeyError, ValueError):
            pass
        f.sock.close()
        self.c["expired"] += 1

    def _send(self, f, data, addr):
        if f.sock.fileno() < 0:
            return
        try:
            f.sock.sendto(data, addr)
            self.c["sent"] += 1
        except OSError:
            self.c["send_errors"] += 1

    def _forward(self, f, data, addr, now):
        self._send(f, data, addr)
        if self.dup and self.rng.random() < self.dup:
            self.c["duplicated"] += 1
            self.seq += 1
            heapq.heappush(self.heap, (now + self.rng.random() * self.delay,
                                       self.seq, f, data, addr))

    def _input(self, f, data, addr, now):
        self.c["received"] += 1
        if f is None:                               # the listening socket
            up = self.ups.get(addr)
            if up is None:
                up = self._open("up", now)
                up.client = addr
                self.ups[addr] = up
            up.last = now
            self.c["requests"] += 1
            self._forward(up, data, self.server, now)
        elif f.kind == "up":                        # from the server
            if addr[0] != self.server[0]:
                self.c["stray"] += 1
                return
            key = (f, addr[1])
            d = self.downs.get(key)
            if d is None:
                d = self._open("down", now)
                d.up, d.tid = f, addr[1]
                f.downs += 1
                self.downs[key] = d
            d.last = f.last = now
            self._forward(d, data, f.client, now)
        else:                                       # from the client
            if addr != f.up.client:
                self.c["stray"] += 1
                return
            f.last = f.up.last = now
            self._forward(f.up, data, (self.server[0], f.tid), now)

    def _expire(self, now):
        for key, d in list(self.downs.items()):
            if now - d.last > self.idle:
                del self.downs[key]
                d.up.downs -= 1
                self._close(d)
        for addr, up in list(self.ups.items()):
            if up.downs == 0 and now - up.last > self.idle:
                del self.ups[addr]
                self._close(up)

    def run(self, lifetime):
        end = time.monotonic() + lifetime
        next_expiry = time.monotonic() + 1.0
        while not self.stop:
            now = time.monotonic()
            if now >= end:
                break
            wait = 0.1
            if self.heap:
                wait = max(0.0, min(wait, self.heap[0][0] - now))
            try:
                events = self.sel.select(wait)
            except InterruptedError:
                continue
            for key, _ in events:
                f = key.data
                for _ in range(DRAIN):
                    try:
                        data, addr = key.fileobj.recvfrom(70000)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:     # an ICMP error queued on the socket
                        break
                    self._input(f, data, addr, time.monotonic())
            now = time.monotonic()
            while self.heap and self.heap[0][0] <= now:
                _, _, f, data, addr = heapq.heappop(self.heap)
                self._send(f, data, addr)
            if now >= next_expiry:
                self._expire(now)
                next_expiry = now + 1.0
        self.c["open_at_end"] = len(self.ups) + len(self.downs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--server", type=int, required=True)
    ap.add_argument("--dup", type=float, default=0.05)
    ap.add_argument("--delay", type=float, default=0.005)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--lifetime", type=float, default=3600.0)
    ap.add_argument("--idle", type=float, default=60.0)
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else random.randrange(1 << 30)
    r = DupRelay(a.host, a.listen, a.server, a.dup, a.delay, seed, a.idle)

    def on_signal(signum, frame):
        r.stop = True
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    print("relay: listening on %s:%d" % r.L.getsockname(), flush=True)
    r.run(a.lifetime)
    r.c["seed"] = seed
    print(json.dumps(r.c), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
