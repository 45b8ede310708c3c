"""tests/faults/relay.py - a UDP relay that duplicates and reorders packets.

The kernel here has no netem, so duplication and reordering are done by this
relay between a TFTP client and a TFTP server on loopback.  It mirrors the
server's TIDs: a request reaching the listening socket is forwarded from ONE
upstream socket per client address; for each server TID port T seen on an
upstream socket a client-facing socket is made, the server's packets from T
reach the client from it, and what the client sends to it goes from the
upstream socket to (server, T).  So the client sees one TID per transfer, as
it would without the relay, and the server sees one client address.

Faults, drawn from a seeded random generator, in both directions (requests
included):
  dup      fraction of packets sent twice, the copy after a random delay of
           up to dup_delay (so it may arrive after newer packets)
  reorder  fraction of packets held back: a held packet is sent after the
           next packet on its path, or after `hold` seconds if none comes
  ack_copies  every ACK (the receiver's, either way) is sent this many times back to back
           (the Sorcerer's Apprentice burst)
The relay counts what it forwards per direction and opcode.
"""

import heapq
import random
import select
import socket
import struct
import threading
import time

DATA, ACK = 3, 4


def _op(pkt):
    return struct.unpack("!H", pkt[:2])[0] if len(pkt) >= 2 else None


class FaultRelay:
    def __init__(self, server_port, host="127.0.0.1", dup=0.0, reorder=0.0,
                 ack_copies=1, hold=0.02, dup_delay=0.005, seed=None,
                 lifetime=600.0, socks=None):
        self.server = (host, server_port)
        self.host = host
        self.dup = dup
        self.reorder = reorder
        self.ack_copies = ack_copies
        self.hold = hold
        self.dup_delay = dup_delay
        self.seed = seed if seed is not None else random.randrange(1 << 30)
        self.rng = random.Random(self.seed)
        self.socks = socks if socks is not None else []
        self.L = self._sock()
        self.port = self.L.getsockname()[1]
        self.ups = {}               # client addr -> upstream socket
        self.up_client = {}         # upstream socket -> client addr
        self.down = {}              # (upstream sock, TID) -> client-facing
        self.down_key = {}          # client-facing sock -> (upstream, TID)
        self.heap = []              # (when, seq, sock, data, addr)
        self.held = {}              # path -> (deadline, sock, data, addr)
        self.seq = 0
        # counts: ("down"|"up", opcode) -> packets received / sent
        self.rx = {}
        self.tx = {}
        self.dups = 0
        self.reordered = 0
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.end = time.monotonic() + lifetime
        self.error = None
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _sock(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socks.append(s)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        except OSError:
            pass
        s.bind((self.host, 0))
        return s

    def _count(self, table, d, data):
        k = (d, _op(data))
        with self.lock:
            table[k] = table.get(k, 0) + 1

    def count(self, table, d, op):
        with self.lock:
            return table.get((d, op), 0)

    def _send(self, d, sock, data, addr):
        try:
            sock.sendto(data, addr)
        except OSError:
            return
        self._count(self.tx, d, data)

    def _later(self, when, d, sock, data, addr):
        self.seq += 1
        heapq.heappush(self.heap, (when, self.seq, d, sock, data, addr))

    def _forward(self, path, d, sock, data, addr, now):
        """One packet on its way: burst, duplicate, reorder or pass."""
        copies = self.ack_copies if _op(data) == ACK else 1
        held = self.held.pop(path, None)
        if self.reorder and held is None and \
                self.rng.random() < self.reorder:
            self.reordered += 1
            self.held[path] = (now + self.hold, d, sock, data, addr, copies)
            return
        for _ in range(copies):
            self._send(d, sock, data, addr)
        if self.dup and self.rng.random() < self.dup:
            self.dups += 1
            self._later(now + self.rng.random() * self.dup_delay, d, sock,
                        data, addr)
        if held is not None:
            self._release(held, now)

    def _release(self, held, now):
        _, d, sock, data, addr, copies = held
        for _ in range(copies):
            self._send(d, sock, data, addr)
        if self.dup and self.rng.random() < self.dup:
            self.dups += 1
            self._later(now + self.rng.random() * self.dup_delay, d, sock,
                        data, addr)

    def _run(self):
        try:
            while not self.stop_ev.is_set() and time.monotonic() < self.end:
                now = time.monotonic()
                wait = 0.05
                if self.heap:
                    wait = min(wait, self.heap[0][0] - now)
                for h in self.held.values():
                    wait = min(wait, h[0] - now)
                socks = [self.L] + list(self.up_client) + list(self.down_key)
                r, _, _ = select.select(socks, [], [], max(0.0, wait))
                for s in r:
                    # drain each ready socket (bounded) before the next select
                    for _ in range(64):
                        try:
                            data, addr = s.recvfrom(70000, socket.MSG_DONTWAIT)
                        except (BlockingIOError, InterruptedError):
                            break
                        except OSError:
                            break
                        now = time.monotonic()
                        self._input(s, data, addr, now)
                now = time.monotonic()
                while self.heap and self.heap[0][0] <= now:
                    _, _, d, sock, data, addr = heapq.heappop(self.heap)
                    self._send(d, sock, data, addr)
                for path in [p for p, h in self.held.items() if h[0] <= now]:
                    self._release(self.held.pop(path), now)
        except (OSError, ValueError) as e:
            if not self.stop_ev.is_set():
                self.error = "%s: %s" % (type(e).__name__, e)

    def _input(self, s, data, addr, now):
        if s is self.L:
            up = self.ups.get(addr)
            if up is None:
                up = self._sock()
                self.ups[addr] = up
                self.up_client[up] = addr
            self._count(self.rx, "up", data)
            self._forward(("req", up), "up", up, data, self.server, now)
        elif s in self.up_client:
            if addr[0] != self.server[0]:
                return
            key = (s, addr[1])
            c = self.down.get(key)
            if c is None:
                c = self._sock()
                self.down[key] = c
                self.down_key[c] = key
            self._count(self.rx, "down", data)
            self._forward(("down", key), "down", c, data, self.up_client[s],
                          now)
        else:
            key = self.down_key.get(s)
            if key is None:
                return
            up, tid = key
            self._count(self.rx, "up", data)
            self._forward(("up", key), "up", up, data, (self.server[0], tid),
                          now)

    def stop(self):
        self.stop_ev.set()
        self.t.join(3)

    def tids(self):
        return sorted(t for _, t in self.down)
