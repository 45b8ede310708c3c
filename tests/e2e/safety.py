#!/usr/bin/env python3
"""tests/e2e/safety.py - end-to-end tests of tftpx's safety mechanisms.

Run from the repo root:  python3 tests/e2e/safety.py [-k SUBSTRING] [-j N]

Built on the harness in run.py (imported as a library, its own cases
dropped).  Each case prints one line "PASS name", "FAIL name: reason" or
"SKIP name: reason"; measured figures are printed as extra "INFO ..." lines.

What is covered (each case fails when the mechanism it names is removed):
  dup_*       duplicate and superseding requests, the grace memory, and the
              field failure: busybox re-sending its WRQ through a slow relay
  upload_*    atomic uploads: kill -9, disk full (a private tmpfs), two
              uploaders of one name, an upload over a live download,
              --upload / --overwrite / --max-upload
  root_*      containment: '..', absolute paths, symlinks, devices, FIFOs,
              directories, backslashes, with openat2 and with the fallback
              walk (TFTPX_NO_OPENAT2=1); control characters in the log
  limit_*     --max-transfers, --max-per-client, the busy-ERROR rate, and
              a 10,000-request flood (responsiveness, fd leak, memory)
  reflect_*   what an unproven client address can draw from the server

Traffic goes only to 127.0.0.1 / 127.0.0.2 or into a private mount
namespace (unshare -m) created here.
"""

import heapq
import os
import random
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "lib"))
from tftpx_test import (  # noqa: E402
    ACK, DATA, ERROR, Fail, KIB, MIB, OACK, Peer, Server, Skip, TFTPX, abort,
    blk_of, case, check, counter, describe, err_of, first_reply, kill_proc,
    main, ok_run, op_of, outcome, param_case, pkt_ack, pkt_data, pkt_rrq,
    pkt_wrq,
    raw_get, raw_put, raw_receive, read_bytes, same_file, send_data_wait_ack,
    sha, temps_in, write_bytes, write_random)
from tftpx_test import fd_count, info  # noqa: E402


# ---------------------------------------------------------------- helpers

SERVER_ENV_KEYS = ("TFTPX_NO_TMPFILE", "TFTPX_NO_OPENAT2")


def XServer(ctx, root, args=(), env=None, argv=None, ready_timeout=5.0):
    """The harness's Server without SERVER_ENV_KEYS in its environment (env
    on top), optionally from a whole argv (a server started through
    unshare/sh); ready at the "serving" line, which comes after the
    stale-temp sweep and after binding."""
    e = {k: None for k in SERVER_ENV_KEYS}
    e.update(env or {})
    if argv is None:
        argv = [TFTPX, "serve", "--allow-root", "-l", ctx.listen_spec()]
        argv += list(args) + [root]
    return Server(ctx, root, argv=argv, env=e, ready="serving",
                  ready_timeout=ready_timeout)


def xserver(ctx, root, *args, env=None):
    return XServer(ctx, root, args, env=env)


class SrcPeer(Peer):
    """A raw UDP endpoint bound to a chosen loopback source address; it
    still talks to the server at ctx.host (127.0.0.1)."""

    def __init__(self, ctx, src="127.0.0.2"):
        Peer.__init__(self, ctx, bind=(src, 0))
        self.src = src


def recv_from(peer, tid, timeout=3.0, what="a packet"):
    """Next packet from port tid (others are a failure)."""
    pkt, src = peer.expect(timeout, what)
    check(src == tid, "packet from port %d, not the TID %d: %s" %
          (src, tid, describe(pkt)))
    return pkt


def expect_error(pkt, codes, contains=None, what="request"):
    check(op_of(pkt) == ERROR, "%s: expected ERROR %s, got %s" %
          (what, "/".join(map(str, codes)), describe(pkt)))
    c, msg = err_of(pkt)
    check(c in codes, "%s: ERROR code %d (%r), expected %s" %
          (what, c, msg, "/".join(map(str, codes))))
    if contains:
        check(contains.lower() in msg.lower(),
              "%s: ERROR %d text %r does not mention %r" %
              (what, c, msg, contains))
    return c, msg


def quiet_for(peer, secs, what):
    got = peer.drain(secs)
    check(not got, "%s: expected nothing more, got %s" %
          (what, ", ".join(describe(p) for p, _, _ in got[:4])))


def finished(srv, kind, name_logged):
    """Finished-transfer lines (not refusals) for kind and logged name."""
    tag = ' %s "%s" ' % (kind, name_logged)
    return srv.grep(lambda l: tag in l and "refused:" not in l and
                    outcome(l) is not None)


def wait_ok(srv, kind, name_logged, port, timeout=5.0):
    """The 'ok' finished line for kind/name from 127.0.0.1:port."""
    tag = ' %s "%s" ' % (kind, name_logged)
    who = "127.0.0.1:%d " % port
    l = srv.wait_for(lambda l: tag in l and who in l and outcome(l) == "ok",
                     timeout)
    check(l is not None, "no ok %s line for %r from port %d; last lines: %s"
          % (kind, name_logged, port, srv.tail()))
    return l


def wait_count(srv, pred, n, timeout=3.0):
    """Wait (bounded) until at least n lines match; return the count."""
    end = time.monotonic() + timeout
    while True:
        c = srv.count(pred)
        if c >= n or time.monotonic() > end:
            return c
        time.sleep(0.05)


def starts(srv, kind, name_logged):
    pat = re.compile(r' %s "%s" \S+ start(,|$)' % (kind, re.escape(name_logged)))
    return srv.grep(lambda l: pat.search(l) is not None)


def receive_rest(peer, tid, chunks, blksize=512, limit=30.0):
    """Continue a lock-step download: chunks holds blocks 1..n in order and
    ACK n has been (or will be) sent.  Tolerates retransmissions; re-ACKs on
    a quiet 0.5 s.  Returns the whole content."""
    deadline = time.monotonic() + limit
    n = len(chunks)
    while time.monotonic() < deadline:
        pkt, src = peer.recv(0.5)
        if pkt is None:
            peer.send(pkt_ack(n), tid)
            continue
        check(src == tid, "packet from port %d, not the TID %d: %s" %
              (src, tid, describe(pkt)))
        check(op_of(pkt) == DATA, "expected DATA %d, got %s" %
              (n + 1, describe(pkt)))
        b = blk_of(pkt)
        if b != ((n + 1) & 0xFFFF):
            continue            # a retransmission of something we have
        chunks.append(pkt[4:])
        n += 1
        peer.send(pkt_ack(n), tid)
        if len(pkt) - 4 < blksize:
            return b"".join(chunks)
    raise Fail("download not finished after %.0f s (%d blocks)" % (limit, n))


def vm_kib(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for l in f:
                if l.startswith(key + ":"):
                    return int(l.split()[1])
    except OSError:
        pass
    return None


def need(tool):
    import shutil
    if not shutil.which(tool):
        raise Skip("%s not installed" % tool)


# ---------------------------------------------------------------- relay


class Relay:
    """A loopback UDP relay between TFTP clients and a TFTP server.

    Requests reaching the listening socket are forwarded, after req_delay,
    from ONE upstream socket per client (bound to upstream_host), so the
    server sees a single client addr:port and a client's re-sent copies
    arrive late.  For each server TID port T seen on an upstream socket a
    client-facing socket is made; the server's packets go to the client from
    it (the first one from T after reply_delay), and what the client sends
    to it goes to (server, T) from the upstream socket.  Order per path is
    kept.  With upstream_host 127.0.0.2 it makes a client on 127.0.0.1 look
    like another host to the server.
    """

    def __init__(self, ctx, server_port, req_delay=0.0, reply_delay=0.0,
                 upstream_host="127.0.0.1", lifetime=120.0):
        self.ctx = ctx
        self.server = ("127.0.0.1", server_port)
        self.req_delay = req_delay
        self.reply_delay = reply_delay
        self.upstream_host = upstream_host
        self.L = self._sock("127.0.0.1")
        self.port = self.L.getsockname()[1]
        self.ups = {}               # client addr -> upstream socket
        self.up_client = {}         # upstream socket -> client addr
        self.down = {}              # (upstream sock, TID) -> client-facing
        self.down_key = {}          # client-facing sock -> (upstream, TID)
        self.heap = []
        self.seq = 0
        self.last = {}              # path -> last scheduled time (ordering)
        self.requests = []          # request bytes forwarded upstream
        self.first_up = None
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.end = time.monotonic() + lifetime
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _sock(self, host):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.ctx.socks.append(s)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * MIB)
        s.bind((host, 0))
        return s

    def _at(self, when, path, sock, data, addr):
        when = max(when, self.last.get(path, 0.0))
        self.last[path] = when
        self.seq += 1
        heapq.heappush(self.heap, (when, self.seq, sock, data, addr))

    def inject_request(self, data):
        """Send one more copy of a request from the first client's upstream
        socket now (a copy the network delivered late)."""
        with self.lock:
            self.requests.append(data)
        self.first_up.sendto(data, self.server)

    def _run(self):
        try:
            while not self.stop_ev.is_set() and time.monotonic() < self.end:
                now = time.monotonic()
                wait = 0.05
                if self.heap:
                    wait = max(0.0, min(wait, self.heap[0][0] - now))
                socks = [self.L] + list(self.up_client) + list(self.down_key)
                r, _, _ = select.select(socks, [], [], wait)
                now = time.monotonic()
                for s in r:
                    try:
                        data, addr = s.recvfrom(70000)
                    except OSError:
                        continue
                    if s is self.L:
                        up = self.ups.get(addr)
                        if up is None:
                            up = self._sock(self.upstream_host)
                            self.ups[addr] = up
                            self.up_client[up] = addr
                            if self.first_up is None:
                                self.first_up = up
                        with self.lock:
                            self.requests.append(data)
                        self._at(now + self.req_delay, ("req", up), up, data,
                                 self.server)
                    elif s in self.up_client:
                        if addr[0] != self.server[0]:
                            continue
                        key = (s, addr[1])
                        first = key not in self.down
                        if first:
                            c = self._sock("127.0.0.1")
                            self.down[key] = c
                            self.down_key[c] = key
                        d = self.reply_delay if first else 0.0
                        self._at(now + d, ("down", key), self.down[key], data,
                                 self.up_client[s])
                    else:
                        key = self.down_key.get(s)
                        if key is None:
                            continue
                        up, tid = key
                        self._at(now, ("up", key), up, data,
                                 (self.server[0], tid))
                now = time.monotonic()
                while self.heap and self.heap[0][0] <= now:
                    _, _, sock, data, addr = heapq.heappop(self.heap)
                    try:
                        sock.sendto(data, addr)
                    except OSError:
                        pass
        except (OSError, ValueError):
            pass                    # sockets closed by the case's cleanup

    def stop(self):
        self.stop_ev.set()
        self.t.join(2)

    def tids(self):
        return sorted(t for _, t in self.down)


# ================================================================ cases
# ---------------------------------------------------------------- 1. duplicates


@case("dup_rrq_three_copies_one_tid")
def _(ctx):
    root = ctx.tmpdir("root")
    content = os.urandom(512 * 4 + 100)
    write_bytes(os.path.join(root, "a.bin"), content)
    srv = xserver(ctx, root, "-v")
    peer = ctx.peer()
    req = pkt_rrq("a.bin")
    for _ in range(3):
        peer.send(req, srv.port)
    got = peer.drain(1.0)
    ports = sorted(set(s for _, s, _ in got))
    if len(ports) != 1:
        for s in ports:
            abort(peer, s)
    check(got, "no reply to the RRQ")
    check(len(ports) == 1, "RRQ sent 3 times from one port: %d server TIDs "
          "answered (ports %r)" % (len(ports), ports))
    tid = ports[0]
    firsts = [p for p, _, _ in got if op_of(p) == DATA and blk_of(p) == 1]
    check(firsts and len(firsts) == len(got),
          "expected only DATA 1 (and no retransmit storm) before our ACK, got "
          "%s" % ", ".join(describe(p) for p, _, _ in got[:5]))
    data = raw_receive(peer, tid, firsts[0])
    check(data == content, "content differs")
    l = srv.expect_ok("RRQ", "a.bin", peer.port)
    check(counter(l, "dupreqs") == 2, "log line says dupreqs=%s, expected 2: "
          "%r" % (counter(l, "dupreqs"), l))
    d = srv.count(lambda l: '"a.bin" duplicate request dropped' in l)
    check(d == 2, "-v logged %d 'duplicate request dropped' lines, expected "
          "2" % d)
    check(len(starts(srv, "RRQ", "a.bin")) == 1, "expected one 'start' line: "
          "%r" % starts(srv, "RRQ", "a.bin"))


@case("dup_wrq_live_copies_dropped")
def _(ctx):
    root = ctx.tmpdir("root")
    target = os.path.join(root, "w.bin")
    write_random(target, 3000)
    srv = xserver(ctx, root, "--overwrite", "-v")
    peer = ctx.peer()
    req = pkt_wrq("w.bin")
    peer.send(req, srv.port)
    pkt, tid = peer.expect(3.0, "ACK 0")
    check(op_of(pkt) == ACK and blk_of(pkt) == 0, "WRQ answered with %s" %
          describe(pkt))
    content = os.urandom(512 * 5 + 7)
    for n in range(1, 7):
        send_data_wait_ack(peer, tid, n, content[(n - 1) * 512:n * 512])
        if n in (2, 4):
            peer.send(req, srv.port)    # a copy arriving mid-transfer
            # let the server see it while the transfer waits for DATA n+1
            # (its socket loop reads up to a burst of datagrams at a time)
            time.sleep(0.05)
    check(read_bytes(target) == content, "stored content differs")
    l = srv.expect_ok("WRQ", "w.bin", peer.port)
    check(counter(l, "dupreqs") == 2, "dupreqs=%s, expected 2: %r" %
          (counter(l, "dupreqs"), l))
    d = srv.count(lambda l: '"w.bin" duplicate request dropped' in l)
    check(d == 2, "-v logged %d 'duplicate request dropped' lines, expected "
          "2" % d)
    check(len(finished(srv, "WRQ", "w.bin")) == 1, "more than one WRQ "
          "transfer: %r" % finished(srv, "WRQ", "w.bin"))


@case("dup_late_copy_dropped_within_grace", limit=60)
def _(ctx):
    # A late copy of a finished upload's WRQ is dropped for --grace after
    # the client's first DATA; a finished RRQ is not remembered (the
    # fixed-port case in run.py), and a different request is served.
    root = ctx.tmpdir("root")
    write_bytes(os.path.join(root, "o.bin"), b"other")
    target = os.path.join(root, "w.bin")
    srv = xserver(ctx, root, "--overwrite", "--grace", "4", "-v")
    peer = ctx.peer()
    first = os.urandom(700)
    raw_put(peer, srv, "w.bin", first)
    t_done = time.monotonic()
    srv.expect_ok("WRQ", "w.bin", peer.port)
    check(read_bytes(target) == first, "upload not stored")
    # a different request from the same port within the grace is served
    data, _, _ = raw_get(peer, srv, "o.bin")
    check(data == b"other", "a different request from the same port was "
          "not served")
    # past the receiver's dally (two --timeout), within the grace: only
    # the memory of finished uploads can drop an identical copy
    left = t_done + 2.4 - time.monotonic()
    if left > 0:
        time.sleep(left)
    peer.send(pkt_wrq("w.bin"), srv.port)
    quiet_for(peer, 0.8, "late identical WRQ within the grace")
    check(srv.wait_for(lambda l: '"w.bin" late duplicate of a finished '
                       'transfer dropped' in l, 2) is not None,
          "no 'late duplicate of a finished transfer dropped' line; last "
          "lines: %s" % srv.tail())
    check(len(starts(srv, "WRQ", "w.bin")) == 1, "the late copy started a "
          "second upload: %r" % starts(srv, "WRQ", "w.bin"))
    # past the grace (from the first DATA, before t_done) the memory is
    # gone: a client uploading again from the same port is answered
    left = t_done + 4.0 + 0.7 - time.monotonic()
    if left > 0:
        time.sleep(left)
    second = os.urandom(900)
    raw_put(peer, srv, "w.bin", second)
    check(read_bytes(target) == second, "identical WRQ after the grace not "
          "served")
    n = wait_count(srv, lambda l: ' WRQ "w.bin" ' in l and
                   outcome(l) == "ok", 2)
    check(n == 2, "expected 2 ok uploads of w.bin, got %d" % n)


@case("dup_wrq_late_copy_keeps_upload")
def _(ctx):
    root = ctx.tmpdir("root")
    target = os.path.join(root, "f.bin")
    write_random(target, 5000)
    srv = xserver(ctx, root, "--overwrite", "--grace", "5", "-v")
    peer = ctx.peer()
    content = os.urandom(512)
    raw_put(peer, srv, "f.bin", content)
    check(read_bytes(target) == content, "upload not stored")
    srv.expect_ok("WRQ", "f.bin", peer.port)
    # past the receiver's dally (two --timeout), well within the grace:
    # the transfer is gone from the live table, only the memory is left
    time.sleep(2.6)
    for _ in range(2):
        peer.send(pkt_wrq("f.bin"), srv.port)      # busybox's re-sent WRQ
    quiet_for(peer, 1.5, "late WRQ copies")
    check(read_bytes(target) == content, "late WRQ copy changed the file")
    n = wait_count(srv, lambda l: '"f.bin" late duplicate of a finished' in l,
                   2)
    check(n == 2, "%d late-duplicate lines, expected 2" % n)
    check(len(finished(srv, "WRQ", "f.bin")) == 1 and
          len(starts(srv, "WRQ", "f.bin")) == 1,
          "late WRQ copies started transfers: %r" % starts(srv, "WRQ",
                                                           "f.bin"))


@param_case("dup_supersede", (4,),
            [("rrq_oack_never_acked", "rrq"), ("wrq_oack_never_acked", "wrq")])
def _(ctx, kind):
    # UEFI firmware: asks with options, never ACKs the OACK, asks again
    # without options from the same port.
    root = ctx.tmpdir("root")
    content = os.urandom(512 * 3 + 9)
    write_bytes(os.path.join(root, "boot.efi"), content)
    srv = xserver(ctx, root, "--overwrite", "-v")
    peer = ctx.peer()
    mk = pkt_rrq if kind == "rrq" else pkt_wrq
    K = kind.upper()
    peer.send(mk("boot.efi", opts=[("blksize", "1468"), ("tsize", "0" if
                                                         kind == "rrq" else
                                                         str(len(content)))]),
              srv.port)
    oack, t1 = peer.expect(3.0, "OACK")
    check(op_of(oack) == OACK, "expected OACK, got %s" % describe(oack))
    peer.send(mk("boot.efi"), srv.port)
    stray = []                  # packets from the old TID after that
    end = time.monotonic() + 3.0
    while True:
        pkt, t2 = peer.expect(max(0.01, end - time.monotonic()),
                              "reply to the plain request")
        if t2 != t1:
            break
        stray.append(describe(pkt))
    l = srv.wait_for(lambda l: (' %s "boot.efi"' % K) in l and
                     "superseded by a new request from the same port" in l, 3)
    check(l is not None, "old transfer not logged as superseded; last lines: "
          "%s" % srv.tail())
    check(outcome(l) == "error 0", "superseded transfer outcome %r" % l)
    if kind == "rrq":
        check(op_of(pkt) == DATA and blk_of(pkt) == 1,
              "plain RRQ answered with %s" % describe(pkt))
        data = raw_receive(peer, t2, pkt)   # fails on a packet from t1
        check(data == content, "content differs")
    else:
        check(op_of(pkt) == ACK and blk_of(pkt) == 0,
              "plain WRQ answered with %s" % describe(pkt))
        new = os.urandom(700)
        send_data_wait_ack(peer, t2, 1, new[:512])
        send_data_wait_ack(peer, t2, 2, new[512:])
        check(read_bytes(os.path.join(root, "boot.efi")) == new,
              "upload after supersede not stored")
    ok = wait_ok(srv, K, "boot.efi", peer.port)
    check("blksize" not in ok, "the served transfer kept the old options: "
          "%r" % ok)
    # the old TID is dead: nothing more from it
    for p, s, _ in peer.drain(1.3):
        check(s != t1, "old TID %d still sends: %s" % (t1, describe(p)))
    check(not stray, "the new request was served, but before its first "
          "reply the client's port got %s from the OLD TID %d. A client "
          "that has just sent a request takes the first reply as its TID "
          "(RFC 1350), so this aborts the new transfer; the superseded "
          "transfer must end silently" % (", ".join(stray), t1))


# --- the field failure: busybox through a slow relay

BB_MODES = []
for _mode in ("delay_requests", "delay_reply"):
    for _sz, _size in (("512", 512), ("1M", MIB)):
        for _b, _blk in (("", None), ("_b1468", 1468)):
            BB_MODES.append(("%s_%s%s" % (_mode, _sz, _b), (_mode, _size, _blk)))


@param_case("dup_busybox_relay", (4,), BB_MODES, limit=60)
def _(ctx, arg):
    mode, size, blk = arg
    need("busybox")
    grace = 8
    root = ctx.tmpdir("root")
    loc = ctx.tmpdir("loc")
    target = os.path.join(root, "fw.bin")
    write_random(target, size + 777)            # OTHER content, other size
    src = write_random(os.path.join(loc, "new.bin"), size)
    srv = xserver(ctx, root, "--overwrite", "--grace", str(grace), "-v")
    relay = Relay(ctx, srv.port,
                  req_delay=0.5 if mode == "delay_requests" else 0.0,
                  reply_delay=0.5 if mode == "delay_reply" else 0.0)
    try:
        argv = ["busybox", "tftp", "-p"]
        if blk:
            argv += ["-b", str(blk)]
        argv += ["-l", src, "-r", "fw.bin", "127.0.0.1", str(relay.port)]
        rc, out, err, dt = ctx.run(argv, timeout=40, cwd=loc)
        check(rc == 0, "busybox exited %d: %s" % (rc, (err or out.decode(
            errors="replace")).strip()[-200:]))
        t_done = time.monotonic()
        with relay.lock:
            natural = len(relay.requests)
            first_req = relay.requests[0] if natural else None
        check(natural >= 2, "busybox sent its WRQ only %d time(s) through "
              "the relay: the scenario was not reproduced" % natural)
        # one more copy, delivered late by the network: after the
        # receiver's dally (two --timeout) and within the grace (which
        # runs from busybox's first DATA, before t_done), so only the
        # memory of finished uploads can drop it
        left = t_done + 2.6 - time.monotonic()
        if left > 0:
            time.sleep(left)
        relay.inject_request(first_req)
        # a transfer it started would log its start line at once
        time.sleep(1.0)
    finally:
        relay.stop()
    bad = same_file(src, target)
    check(bad is None, "file on disk after the settle: %s (busybox sent %d "
          "bytes)" % (bad, size))
    check(not temps_in(root), "temp files left: %s" % temps_in(root))
    with srv.cv:
        lines = list(srv.lines)
    fin = [l for l in lines if ' WRQ "fw.bin" ' in l and "refused:" not in l
           and outcome(l) is not None]
    st = starts(srv, "WRQ", "fw.bin")
    check(len(st) == 1 and len(fin) == 1,
          "expected exactly one WRQ transfer, got %d start(s), %d finished "
          "line(s): %r" % (len(st), len(fin), (st + fin)[:4]))
    check(outcome(fin[0]) == "ok", "the WRQ transfer failed: %r" % fin[0])

    def is_live(l):
        return '"fw.bin" duplicate request dropped' in l

    def is_late(l):
        return '"fw.bin" late duplicate of a finished transfer dropped' in l
    live = sum(1 for l in lines if is_live(l))
    late = sum(1 for l in lines if is_late(l))
    i_fin = lines.index(fin[0])
    after = sum(1 for l in lines[i_fin:] if is_live(l) or is_late(l))
    with relay.lock:
        forwarded = len(relay.requests)
    check(live + late == forwarded - 1,
          "the relay delivered %d WRQs (%d from busybox + 1 late); the server "
          "dropped %d live + %d late copies, expected %d in all" %
          (forwarded, natural, live, late, forwarded - 1))
    check(late >= 1, "the copy delivered 2.6 s after the upload (past the "
          "dally, within --grace %d) was not dropped by the memory of "
          "finished transfers (%d live, %d late)" % (grace, live, late))
    dq = counter(fin[0], "dupreqs")
    check(dq is not None and dq <= live, "dupreqs=%s in %r but only %d live "
          "copies logged" % (dq, fin[0], live))
    if mode == "delay_requests" and size == 512:
        # busybox's own re-sent WRQs reach the server after the 512-byte
        # upload has finished: the field failure itself
        check(after >= 2, "busybox's re-sent WRQs did not reach the server "
              "after the upload finished (%d drops after it, incl. the "
              "injected copy)" % after)
    if mode == "delay_reply":
        check(live >= 1, "busybox's re-sent WRQs (while the reply was held) "
              "were not dropped as live duplicates")
    check(len(relay.tids()) == 1, "the server answered from %d TIDs %r" %
          (len(relay.tids()), relay.tids()))


# ---------------------------------------------------------------- 2. uploads


@case("upload_size_differs_from_tsize_keeps_old_file")
def _(ctx):
    # make soak found it: curl 7.88 that lost its DATA 1 takes the re-sent
    # OACK for a new start and sends DATA 1 from the middle of its file;
    # the server stored those bytes as the file.  An upload whose length
    # differs from the tsize it announced is refused, the old file kept.
    root = ctx.tmpdir("root")
    target = os.path.join(root, "t.bin")
    old = os.urandom(3000)
    write_bytes(target, old)
    srv = xserver(ctx, root, "--overwrite")
    peer = ctx.peer()
    peer.send(pkt_wrq("t.bin", opts=[("tsize", "1000")]), srv.port)
    pkt, tid = peer.expect(3.0, "OACK")
    check(op_of(pkt) == OACK, "WRQ with tsize answered with %s" %
          describe(pkt))
    peer.send(pkt_data(1, os.urandom(488)), tid)     # 488 of 1000 bytes
    pkt, src = peer.expect(3.0, "the answer to a short upload")
    check(src == tid and op_of(pkt) == ERROR, "a 488-byte upload that "
          "announced tsize 1000 was answered with %s" % describe(pkt))
    check("tsize" in err_of(pkt)[1], "ERROR text %r does not say why" %
          err_of(pkt)[1])
    check(read_bytes(target) == old, "the old file was replaced")
    check(not temps_in(root), "temp files left: %s" % temps_in(root))
    l = srv.xfer_line("WRQ", "t.bin", peer.port)
    check(l is not None and outcome(l) != "ok", "server logged %r" % l)
    # the same upload whole is stored
    content = os.urandom(1000)
    raw_put(ctx.peer(), srv, "t.bin", content, opts=[("tsize", "1000")])
    check(read_bytes(target) == content, "a whole upload was not stored")


@case("upload_kill9_keeps_old_file_and_temp_swept", limit=60)
def _(ctx):
    root = ctx.tmpdir("root")
    target = os.path.join(root, "k.bin")
    old = os.urandom(50000)
    write_bytes(target, old)
    srv = xserver(ctx, root, "--overwrite", env={"TFTPX_NO_TMPFILE": "1"})
    peer = ctx.peer()
    peer.send(pkt_wrq("k.bin"), srv.port)
    pkt, tid = peer.expect(3.0, "ACK 0")
    check(op_of(pkt) == ACK and blk_of(pkt) == 0, "WRQ answered with %s" %
          describe(pkt))
    for n in range(1, 21):
        send_data_wait_ack(peer, tid, n, os.urandom(512))
    temps = temps_in(root)
    check(temps, "no named temp in the root mid-upload with "
          "TFTPX_NO_TMPFILE=1 (files: %r)" % os.listdir(root))
    check(all(re.match(r"^\.tftpx-[0-9a-fA-F]+\.tmp$", os.path.basename(t))
              for t in temps), "unexpected temp names %r" % temps)
    check(read_bytes(target) == old, "old file changed mid-upload")
    os.kill(srv.pid, signal.SIGKILL)
    srv.p.wait(5)
    check(read_bytes(target) == old, "old file not intact after kill -9")
    check(temps_in(root) == temps, "the crash leftover changed: %r" %
          temps_in(root))
    srv2 = xserver(ctx, root, "--upload")
    check(not temps_in(root), "stale temp still present after restart with "
          "--upload: %s" % temps_in(root))
    check(srv2.wait_for(lambda l: "removed 1 stale temp" in l, 1) is not None,
          "restart did not report the removed temp; lines: %s" % srv2.tail())
    check(read_bytes(target) == old, "old file changed by the restart")
    data, _, _ = raw_get(ctx.peer(), srv2, "k.bin")
    check(data == old, "restarted server serves other content")


def tmpfs_server(ctx, files, args, env=None, size="1m"):
    """A server whose root is a fresh tmpfs of SIZE in a private mount
    namespace.  files {name: bytes} are copied in first.  Returns (srv,
    view) where view is the root as seen through /proc/PID/root."""
    need("unshare")
    mnt = ctx.tmpdir("mnt")
    stage = ctx.tmpdir("stage")
    for n, c in files.items():
        write_bytes(os.path.join(stage, n), c)
    script = ('m=$1 s=$2 t=$3; shift 3; '
              'mount -t tmpfs -o size=%s tmpfs "$m" || exit 97; '
              'cp -a "$s"/. "$m"/ || exit 98; '
              'exec "$t" serve --allow-root -l 127.0.0.1:0 "$@" "$m"' % size)
    argv = ["unshare", "-m", "--propagation", "private", "sh", "-c", script,
            "sh", mnt, stage, TFTPX] + list(args)
    try:
        srv = XServer(ctx, mnt, argv=argv, env=env)
    except Fail as e:
        rc = None
        for p in ctx.procs[::-1]:
            if p.args == argv:
                rc = p.poll()
                break
        if rc == 97 or "unshare:" in str(e):
            raise Skip("cannot run the server on a private tmpfs (unshare -m "
                       "+ mount, exit %s): %s" % (rc, str(e)[-200:]))
        raise
    view = "/proc/%d/root%s" % (srv.pid, mnt)
    try:
        exe = os.readlink("/proc/%d/exe" % srv.pid)
    except OSError:
        exe = "?"
    check(exe.endswith("tftpx"), "pid %d is %s, not tftpx" % (srv.pid, exe))
    check(os.path.ismount(view) or os.path.exists(os.path.join(view, "old.bin")),
          "cannot see the tmpfs through %s" % view)
    st = os.statvfs(view)
    check(st.f_blocks * st.f_frsize <= 2 * MIB, "%s is not the small tmpfs "
          "(%d bytes)" % (view, st.f_blocks * st.f_frsize))
    return srv, view


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


TMPMODES = [("otmpfile", None), ("named_temp", {"TFTPX_NO_TMPFILE": "1"})]


@param_case("upload_disk_full_no_tsize", (4,), TMPMODES)
def _(ctx, env):
    old = os.urandom(100 * KIB)
    srv, view = tmpfs_server(ctx, {"old.bin": old}, ["--overwrite"], env)
    free0 = free_bytes(view)
    loc = ctx.tmpdir("loc")
    src = write_random(os.path.join(loc, "big.bin"), 2 * MIB)
    rc, _, err, _ = ctx.tftpx("put", "-b", "1468", "127.0.0.1:%d" % srv.port,
                              src, "old.bin", timeout=40)
    check(rc == 1, "put of 2 MiB onto a 1 MiB tmpfs exited %d, expected 1; "
          "stderr %r" % (rc, err.strip()))
    check("(error 3)" in err, "client did not get ERROR 3: %r" % err.strip())
    l = srv.xfer_line("WRQ", "old.bin", timeout=5)
    check(l is not None and outcome(l) == "error 3",
          "server log for the WRQ: %r" % l)
    check(read_bytes(os.path.join(view, "old.bin")) == old,
          "the old file is not intact after disk full")
    check(not temps_in(view), "temps left: %s" % temps_in(view))
    check(sorted(os.listdir(view)) == ["old.bin"], "files on the tmpfs: %r" %
          os.listdir(view))
    time.sleep(0.2)
    free1 = free_bytes(view)
    check(free1 >= free0 - 8 * KIB, "space not given back: %d bytes free "
          "before, %d after (a temp still held open?)" % (free0, free1))
    # and the server still accepts an upload that fits
    small = os.urandom(3000)
    raw_put(ctx.peer(), srv, "old.bin", small)
    check(read_bytes(os.path.join(view, "old.bin")) == small,
          "a fitting upload after the disk-full one was not stored")


@param_case("upload_disk_full_tsize_refused_first", (4,), TMPMODES)
def _(ctx, env):
    old = os.urandom(100 * KIB)
    srv, view = tmpfs_server(ctx, {"old.bin": old}, ["--overwrite"], env)
    free = free_bytes(view)
    for name in ("old.bin", "new.bin"):
        peer = ctx.peer()
        peer.send(pkt_wrq(name, opts=[("tsize", str(2 * MIB))]), srv.port)
        pkt, tid = peer.expect(3.0, "reply to a WRQ with tsize 2 MiB")
        if op_of(pkt) != ERROR:
            abort(peer, tid)
        expect_error(pkt, (3,), "space", "WRQ %s tsize=2MiB on %d bytes free"
                     % (name, free))
        quiet_for(peer, 0.5, "after the ERROR 3")
    check(read_bytes(os.path.join(view, "old.bin")) == old, "old file changed")
    check(sorted(os.listdir(view)) == ["old.bin"], "files on the tmpfs: %r" %
          os.listdir(view))
    # a tsize that fits is accepted (the check is about size)
    peer = ctx.peer()
    peer.send(pkt_wrq("new.bin", opts=[("tsize", "1000")]), srv.port)
    pkt, tid = peer.expect(3.0, "reply to a WRQ with tsize 1000")
    abort(peer, tid)
    check(op_of(pkt) == OACK, "a fitting tsize got %s" % describe(pkt))


@case("upload_two_clients_same_name_raw")
def _(ctx):
    root = ctx.tmpdir("root")
    target = os.path.join(root, "s.bin")
    write_random(target, 4000)
    srv = xserver(ctx, root, "--overwrite")
    a, b = ctx.peer(), ctx.peer()
    ca, cb = os.urandom(512 * 6 + 1), os.urandom(512 * 2 + 300)
    a.send(pkt_wrq("s.bin"), srv.port)
    pkt, ta = a.expect(3.0, "ACK 0")
    check(op_of(pkt) == ACK and blk_of(pkt) == 0, "got %s" % describe(pkt))
    for n in range(1, 3):
        send_data_wait_ack(a, ta, n, ca[(n - 1) * 512:n * 512])
    b.send(pkt_wrq("s.bin"), srv.port)
    pkt, tb = b.expect(3.0, "reply to the second WRQ")
    if op_of(pkt) != ERROR:
        abort(b, tb)
    expect_error(pkt, (2,), "in progress", "second WRQ of a name being "
                 "uploaded")
    for n in range(3, 8):
        send_data_wait_ack(a, ta, n, ca[(n - 1) * 512:n * 512])
    check(read_bytes(target) == ca, "the file is not exactly the first "
          "client's content")
    quiet_for(b, 0.3, "the refused client")
    check(not temps_in(root), "temps left: %s" % temps_in(root))


@case("upload_consecutive_puts_same_name")
def _(ctx):
    # the final ACK means the file is in place: the name is free at once
    root = ctx.tmpdir("root")
    loc = ctx.tmpdir("loc")
    srcs = [write_random(os.path.join(loc, "c%d.bin" % i), 5000 + i)
            for i in range(3)]
    srv = xserver(ctx, root, "--overwrite")
    for i, src in enumerate(srcs):
        rc, _, err, _ = ctx.tftpx("put", "127.0.0.1:%d" % srv.port, src,
                                  "again.bin")
        check(rc == 0, "put #%d of the same name right after the previous "
              "one finished: exit %d, %r" % (i + 1, rc, err.strip()))
        check(same_file(src, os.path.join(root, "again.bin")) is None,
              "put #%d not in place" % (i + 1))


@case("upload_two_clients_same_name_race")
def _(ctx):
    root = ctx.tmpdir("root")
    loc = ctx.tmpdir("loc")
    target = os.path.join(root, "r.bin")
    write_random(target, 1000)
    srcs = [write_random(os.path.join(loc, "c%d.bin" % i), 2 * MIB)
            for i in range(2)]
    shas = [sha(s) for s in srcs]
    srv = xserver(ctx, root, "--overwrite")
    ps = []
    for s in srcs:
        p = subprocess.Popen([TFTPX, "put", "-b", "512",
                              "127.0.0.1:%d" % srv.port, s, "r.bin"],
                             stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, start_new_session=True)
        ctx.procs.append(p)
        ps.append(p)
    res = []
    for p in ps:
        try:
            _, err = p.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            raise Fail("a put did not finish in 40 s")
        res.append((p.returncode, err.decode(errors="replace").strip()))
    got = sha(target)
    check(got in shas, "the final file is neither upload (a mix?)")
    winner = shas.index(got)
    oks = [i for i, (rc, _) in enumerate(res) if rc == 0]
    check(oks == [winner], "exit codes %r: expected only the client whose "
          "content is on disk (#%d) to succeed; stderr %r" %
          ([r for r, _ in res], winner, [e for _, e in res]))
    loser = 1 - winner
    check("in progress" in res[loser][1] and "(error 2)" in res[loser][1],
          "the loser's message is not a clear ERROR 2: %r" % res[loser][1])
    check(not temps_in(root), "temps left: %s" % temps_in(root))


@case("upload_over_live_download_keeps_old_for_reader")
def _(ctx):
    root = ctx.tmpdir("root")
    loc = ctx.tmpdir("loc")
    target = os.path.join(root, "d.bin")
    old = os.urandom(300 * KIB + 11)
    write_bytes(target, old)
    new = write_random(os.path.join(loc, "new.bin"), 100 * KIB + 3)
    srv = xserver(ctx, root, "--overwrite", "--timeout", "2")
    peer = ctx.peer()
    peer.send(pkt_rrq("d.bin"), srv.port)
    pkt, tid = peer.expect(3.0, "DATA 1")
    check(op_of(pkt) == DATA and blk_of(pkt) == 1, "got %s" % describe(pkt))
    chunks = [pkt[4:]]
    for n in range(1, 40):
        peer.send(pkt_ack(n), tid)
        pkt = recv_from(peer, tid, 3.0, "DATA %d" % (n + 1))
        check(op_of(pkt) == DATA and blk_of(pkt) == n + 1,
              "got %s" % describe(pkt))
        chunks.append(pkt[4:])
    # hold: DATA 40 not ACKed while the file is replaced
    ok = ctx.tftpx("put", "127.0.0.1:%d" % srv.port, new, "d.bin")
    ok_run(ok, "tftpx put over the file being downloaded")
    check(same_file(new, target) is None, "the new content is not in "
          "place after put")
    peer.send(pkt_ack(40), tid)
    data = receive_rest(peer, tid, chunks)
    check(len(data) == len(old), "the reader got %d bytes, the old file had "
          "%d (the new has %d)" % (len(data), len(old),
                                   os.path.getsize(new)))
    check(data == old, "the reader got a mix of old and new content")
    srv.expect_ok("RRQ", "d.bin", peer.port)


@case("upload_create_only_and_overwrite")
def _(ctx):
    root = ctx.tmpdir("root")
    target = os.path.join(root, "exists.bin")
    old = os.urandom(3000)
    write_bytes(target, old)
    # read-only: no writes at all
    ro = xserver(ctx, root)
    p = ctx.peer()
    pkt, tid = first_reply(p, ro, pkt_wrq("fresh.bin"))
    if op_of(pkt) != ERROR:
        abort(p, tid)
    expect_error(pkt, (2,), None, "WRQ on a read-only server")
    check(not os.path.exists(os.path.join(root, "fresh.bin")), "read-only "
          "server created a file")
    ro.stop()
    # --upload: new names only
    up = xserver(ctx, root, "--upload")
    p = ctx.peer()
    pkt, tid = first_reply(p, up, pkt_wrq("exists.bin"))
    if op_of(pkt) != ERROR:
        abort(p, tid)
    expect_error(pkt, (6,), "--overwrite", "--upload WRQ of an existing name")
    quiet_for(p, 0.3, "after ERROR 6")
    check(read_bytes(target) == old, "existing file changed under --upload")
    fresh = os.urandom(1234)
    raw_put(ctx.peer(), up, "fresh.bin", fresh)
    check(read_bytes(os.path.join(root, "fresh.bin")) == fresh,
          "new name not created under --upload")
    p = ctx.peer()
    pkt, tid = first_reply(p, up, pkt_wrq("fresh.bin"))
    if op_of(pkt) != ERROR:
        abort(p, tid)
    expect_error(pkt, (6,), None, "second --upload WRQ of the now existing "
                 "name")
    check(not temps_in(root), "temps left: %s" % temps_in(root))
    up.stop()
    # --overwrite replaces
    ow = xserver(ctx, root, "--overwrite")
    newc = os.urandom(777)
    raw_put(ctx.peer(), ow, "exists.bin", newc)
    check(read_bytes(target) == newc, "--overwrite did not replace")
    check(not temps_in(root), "temps left: %s" % temps_in(root))


@case("upload_max_upload_both_ways")
def _(ctx):
    root = ctx.tmpdir("root")
    loc = ctx.tmpdir("loc")
    target = os.path.join(root, "old.bin")
    old = os.urandom(5000)
    write_bytes(target, old)
    srv = xserver(ctx, root, "--overwrite", "--max-upload", "1M")
    # announced too big: ERROR 3 before any data
    for name in ("old.bin", "big.bin"):
        p = ctx.peer()
        p.send(pkt_wrq(name, opts=[("tsize", str(MIB + 1))]), srv.port)
        pkt, tid = p.expect(3.0, "reply to WRQ tsize=1M+1")
        if op_of(pkt) != ERROR:
            abort(p, tid)
        expect_error(pkt, (3,), None, "WRQ %s with tsize over --max-upload" %
                     name)
        quiet_for(p, 0.3, "after ERROR 3")
    # growing past it without tsize: ERROR 3, nothing visible
    big = write_random(os.path.join(loc, "big.bin"), MIB + MIB // 2)
    for name in ("old.bin", "big.bin"):
        rc, _, err, _ = ctx.tftpx("put", "-b", "1468", "127.0.0.1:%d" %
                                  srv.port, big, name, timeout=40)
        check(rc == 1 and "(error 3)" in err, "put of 1.5 MiB as %s: exit %d, "
              "stderr %r (expected ERROR 3)" % (name, rc, err.strip()))
    check(read_bytes(target) == old, "old file changed by an over-limit "
          "upload")
    check(not os.path.exists(os.path.join(root, "big.bin")), "an over-limit "
          "upload became visible")
    check(not temps_in(root), "temps left: %s" % temps_in(root))
    # exactly the limit is allowed, announced or not
    exact = write_random(os.path.join(loc, "exact.bin"), MIB)
    for opts, name in ((("--tsize",), "e1.bin"), ((), "e2.bin")):
        ok_run(ctx.tftpx("put", "-b", "1468", *opts, "127.0.0.1:%d" %
                         srv.port, exact, name, timeout=40),
               "put of exactly 1 MiB %s" % " ".join(opts))
        check(same_file(exact, os.path.join(root, name)) is None,
              "%s differs" % name)


# ---------------------------------------------------------------- 3. root

BACKENDS = [("openat2", None), ("walk", {"TFTPX_NO_OPENAT2": "1"})]
CANARY = b"SECRET-CANARY-OUTSIDE-THE-ROOT\n"


def containment_tree(ctx):
    """outer/{canary.txt, root/...}; returns (outer, root, canary path,
    names of specials that could be made)."""
    outer = ctx.tmpdir("outer")
    root = os.path.join(outer, "root")
    os.makedirs(os.path.join(root, "sub"))
    os.makedirs(os.path.join(root, "etc"))
    canary = os.path.join(outer, "canary.txt")
    write_bytes(canary, CANARY)
    write_bytes(os.path.join(root, "sub", "f.bin"), b"inside sub/f.bin\n")
    write_bytes(os.path.join(root, "top.bin"), b"inside top.bin\n")
    write_bytes(os.path.join(root, "etc", "passwd"), b"inside etc/passwd\n")
    os.symlink(canary, os.path.join(root, "out_abs"))
    os.symlink("../canary.txt", os.path.join(root, "out_rel"))
    os.symlink("..", os.path.join(root, "out_dir"))
    os.symlink("/etc", os.path.join(root, "out_etc"))
    os.symlink("../../canary.txt", os.path.join(root, "sub", "out_up"))
    os.symlink("/dev/null", os.path.join(root, "devnull"))
    os.symlink("sub/f.bin", os.path.join(root, "alias"))
    os.symlink("../top.bin", os.path.join(root, "sub", "up_alias"))
    os.mkfifo(os.path.join(root, "fifo"))
    specials = []
    try:
        import stat
        os.mknod(os.path.join(root, "chardev"), 0o666 | stat.S_IFCHR,
                 os.makedev(1, 5))          # /dev/zero's numbers
        specials.append("chardev")
    except OSError:
        pass
    return outer, root, canary, specials


ESCAPES = ["..", "../canary.txt", "/../canary.txt", "../../etc/passwd",
           "/../etc/passwd", "../../../../../../../../etc/passwd",
           "sub/../../canary.txt", "sub/../../../etc/passwd",
           "..\\canary.txt", "\\..\\canary.txt", "sub\\..\\..\\canary.txt",
           "out_abs", "out_rel", "out_dir/canary.txt", "out_dir/root/top.bin",
           "out_etc/passwd", "sub/out_up", "devnull", "sub", "sub/", ".", "/",
           "//", "etc"]


@param_case("root_read_escapes_refused", (4,), BACKENDS)
def _(ctx, env):
    outer, root, canary, specials = containment_tree(ctx)
    srv = xserver(ctx, root, "--backslash", env=env)
    bad = []
    for name in ESCAPES + specials + ["fifo"]:
        peer = ctx.peer()
        peer.send(pkt_rrq(name), srv.port)
        pkt, tid = peer.recv(3.0)
        if pkt is None:
            bad.append("%r: no reply" % name)
            continue
        if op_of(pkt) != ERROR:
            abort(peer, tid)
            leak = " (THE CANARY)" if CANARY[:10] in pkt else ""
            bad.append("%r: %s%s" % (name, describe(pkt), leak))
            continue
        c, msg = err_of(pkt)
        if c not in (1, 2):
            bad.append("%r: ERROR %d %r" % (name, c, msg))
    # still alive and serving after all that (a blocked FIFO open would not)
    data, _, _ = raw_get(ctx.peer(), srv, "sub/f.bin")
    check(data == b"inside sub/f.bin\n", "server no longer serves")
    check(not bad, "not refused with ERROR 1/2: " + "; ".join(bad))
    check(read_bytes(canary) == CANARY, "canary changed")


@param_case("root_write_escapes_refused", (4,), BACKENDS)
def _(ctx, env):
    outer, root, canary, _ = containment_tree(ctx)
    parent = os.path.dirname(outer)
    tag = "escape-%d-%d.txt" % (os.getpid(), random.randrange(1 << 30))
    srv = xserver(ctx, root, "--overwrite", "--backslash", env=env)
    names = ["../" + tag, "/../" + tag, "../../" + tag, "sub/../../" + tag,
             "..\\" + tag, "sub\\..\\..\\" + tag, "out_dir/" + tag,
             "out_dir/root/" + tag, "out_etc/" + tag, "..", "sub", "etc"]
    bad = []
    try:
        for name in names:
            peer = ctx.peer()
            peer.send(pkt_wrq(name), srv.port)
            pkt, tid = peer.recv(3.0)
            if pkt is None:
                bad.append("%r: no reply" % name)
                continue
            if op_of(pkt) != ERROR:
                # finish it so that anything it would create does appear
                try:
                    send_data_wait_ack(peer, tid, 1, b"escaped\n")
                except Fail:
                    pass
                bad.append("%r: accepted (%s)" % (name, describe(pkt)))
                continue
            c, msg = err_of(pkt)
            if c not in (1, 2):
                bad.append("%r: ERROR %d %r" % (name, c, msg))
        # symlinks to outside files: the outside file must never change,
        # whatever happens to the link inside the root
        for name in ("out_abs", "out_rel", "sub/out_up", "devnull", "fifo"):
            peer = ctx.peer()
            peer.send(pkt_wrq(name), srv.port)
            pkt, tid = peer.recv(3.0)
            if pkt is not None and op_of(pkt) != ERROR:
                try:
                    send_data_wait_ack(peer, tid, 1, b"overwritten\n")
                except Fail:
                    pass
        time.sleep(0.2)
        check(read_bytes(canary) == CANARY, "the canary outside the root was "
              "overwritten through a symlink")
        import stat
        check(stat.S_ISCHR(os.stat("/dev/null").st_mode), "/dev/null is no "
              "longer a character device")
        made = [p for p in (os.path.join(outer, tag), os.path.join(parent, tag),
                            "/etc/" + tag) if os.path.lexists(p)]
        check(not made, "created outside the root: %r" % made)
        check(sorted(os.listdir(outer)) == ["canary.txt", "root"],
              "the directory around the root changed: %r" %
              sorted(os.listdir(outer)))
        check(not [n for n in os.listdir(parent) if n.startswith(".tftpx-")
                   and tag in n], "temp outside the root")
        check(not bad, "WRQ not refused with ERROR 1/2: " + "; ".join(bad))
        check(not temps_in(outer), "temps left: %s" % temps_in(outer))
    finally:
        for p in (os.path.join(parent, tag), "/etc/" + tag):
            if os.path.lexists(p) and not os.path.isdir(p):
                os.unlink(p)


@param_case("root_inside_paths", (4,), BACKENDS)
def _(ctx, env):
    outer, root, canary, _ = containment_tree(ctx)
    srv = xserver(ctx, root, env=env)
    walk = env is not None
    # leading '/' is relative to the root
    for name, want in (("/etc/passwd", b"inside etc/passwd\n"),
                       ("/sub/f.bin", b"inside sub/f.bin\n"),
                       ("top.bin", b"inside top.bin\n")):
        data, _, _ = raw_get(ctx.peer(), srv, name)
        check(data == want, "RRQ %r served %r, expected %r" %
              (name, data[:40], want))
    # a symlink that stays inside: served with openat2, refused by the walk
    for name, want in (("alias", b"inside sub/f.bin\n"),
                       ("sub/up_alias", b"inside top.bin\n")):
        peer = ctx.peer()
        peer.send(pkt_rrq(name), srv.port)
        pkt, tid = peer.expect(3.0, "reply to RRQ %r" % name)
        if walk:
            if op_of(pkt) != ERROR:
                abort(peer, tid)
            expect_error(pkt, (1, 2), None, "RRQ %r (inside symlink) with "
                         "TFTPX_NO_OPENAT2=1" % name)
        else:
            check(op_of(pkt) == DATA, "RRQ %r (inside symlink): %s" %
                  (name, describe(pkt)))
            data = raw_receive(peer, tid, pkt)
            check(data == want, "RRQ %r served %r" % (name, data[:40]))


@case("root_backslash_mapping")
def _(ctx):
    outer, root, _, _ = containment_tree(ctx)
    srv = xserver(ctx, root, "--backslash")
    for name in ("sub\\f.bin", "\\sub\\f.bin"):
        data, _, _ = raw_get(ctx.peer(), srv, name)
        check(data == b"inside sub/f.bin\n", "--backslash: RRQ %r served %r" %
              (name, data[:40]))
    plain = xserver(ctx, root)
    peer = ctx.peer()
    pkt, tid = first_reply(peer, plain, pkt_rrq("sub\\f.bin"))
    if op_of(pkt) != ERROR:
        abort(peer, tid)
    expect_error(pkt, (1,), None, "RRQ 'sub\\\\f.bin' without --backslash")


@case("root_log_escapes_control_chars")
def _(ctx):
    root = ctx.tmpdir("root")
    write_bytes(os.path.join(root, "c\x07d"), b"bell")
    srv = xserver(ctx, root, "-v")
    names = ["a\x1b[2Jb", "n\nFAKE 127.0.0.1:1 RRQ \"x\" octet ok", 'q"uote',
             "cr\rret", "del\x7f", "hi\xe9"]
    for name in names:
        peer = ctx.peer()
        pkt, tid = first_reply(peer, srv, pkt_rrq(name.encode("latin-1")))
        if op_of(pkt) != ERROR:
            abort(peer, tid)
    data, _, _ = raw_get(ctx.peer(), srv, "c\x07d")
    check(data == b"bell", "file with a control char in its name not served")
    srv.expect_ok("RRQ", "c\\x07d")
    time.sleep(0.2)
    with srv.cv:
        lines = list(srv.lines)
    raw = [l for l in lines if any(c in l for c in "\x1b\x07\r\x7f")]
    check(not raw, "raw control characters in the log: %r" % raw[:3])
    check(not [l for l in lines if l.startswith("FAKE")],
          "a newline in a name forged a log line")
    for esc in ("a\\x1b[2Jb", "n\\x0aFAKE", "q\\x22uote", "cr\\x0dret",
                "del\\x7f", "hi\\xe9"):
        check(any(esc in l and "refused" in l for l in lines),
              "no refusal line with %r in it; lines: %r" % (esc, lines[-8:]))


# ---------------------------------------------------------------- 4. limits


def live_rrq(peer, srv, name="f.bin"):
    peer.send(pkt_rrq(name), srv.port)
    pkt, tid = peer.expect(3.0, "DATA 1")
    check(op_of(pkt) == DATA and blk_of(pkt) == 1, "RRQ from %s: %s" %
          (getattr(peer, "src", "127.0.0.1"), describe(pkt)))
    return tid, pkt


def expect_busy(peer, srv, who):
    peer.send(pkt_rrq("f.bin"), srv.port)
    pkt, tid = peer.expect(3.0, "ERROR 0 (busy) for %s" % who)
    if op_of(pkt) != ERROR:
        abort(peer, tid)
    expect_error(pkt, (0,), "server busy", who)


@case("limit_max_per_client")
def _(ctx):
    root = ctx.tmpdir("root")
    content = os.urandom(2000)
    write_bytes(os.path.join(root, "f.bin"), content)
    srv = xserver(ctx, root, "--max-per-client", "2", "--timeout", "3", "-v")
    p1, p2 = ctx.peer(), ctx.peer()
    t1, d1 = live_rrq(p1, srv)
    t2, d2 = live_rrq(p2, srv)
    expect_busy(ctx.peer(), srv, "a third live RRQ from 127.0.0.1")
    q = SrcPeer(ctx, "127.0.0.2")
    tq, dq = live_rrq(q, srv)
    check(srv.wait_for(lambda l: "refused: error 0: server busy" in l, 2),
          "the busy refusal is not logged at -v")
    # finishing one frees its slot
    data = raw_receive(p1, t1, d1)
    check(data == content, "content differs")
    srv.expect_ok("RRQ", "f.bin", p1.port)
    t4, d4 = live_rrq(ctx.peer(), srv)
    for peer, tid in ((p2, t2), (q, tq)):
        abort(peer, tid)


@case("limit_max_transfers")
def _(ctx):
    root = ctx.tmpdir("root")
    write_random(os.path.join(root, "f.bin"), 2000)
    srv = xserver(ctx, root, "--max-transfers", "3", "--timeout", "3")
    ps = [ctx.peer() for _ in range(3)]
    tids = [live_rrq(p, srv) for p in ps]
    expect_busy(SrcPeer(ctx, "127.0.0.2"), srv, "a 4th live RRQ (127.0.0.2) "
                "with --max-transfers 3")
    raw_receive(ps[0], tids[0][0], tids[0][1])
    srv.expect_ok("RRQ", "f.bin", ps[0].port)
    live_rrq(SrcPeer(ctx, "127.0.0.2"), srv)
    for p, (t, _) in zip(ps[1:], tids[1:]):
        abort(p, t)


@case("limit_busy_error_rate")
def _(ctx):
    root = ctx.tmpdir("root")
    write_random(os.path.join(root, "f.bin"), 2000)
    srv = xserver(ctx, root, "--max-per-client", "1", "--timeout", "5")
    hold = ctx.peer()
    live_rrq(hold, srv)
    socks = []
    try:
        for _ in range(300):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks.append(s)
            s.bind(("127.0.0.1", 0))
            s.setblocking(False)
        t0 = time.monotonic()
        for s in socks:
            s.sendto(pkt_rrq("f.bin"), ("127.0.0.1", srv.port))
        sent_in = time.monotonic() - t0
        n = 0
        other = []
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            r, _, _ = select.select(socks, [], [], 0.1)
            for s in r:
                try:
                    pkt = s.recv(600)
                except OSError:
                    continue
                if op_of(pkt) == ERROR and err_of(pkt)[0] == 0:
                    n += 1
                else:
                    other.append(describe(pkt))
    finally:
        for s in socks:
            s.close()
    info("limit_busy_error_rate: 300 RRQs over the per-client limit sent in "
         "%.3f s drew %d busy ERRORs" % (sent_in, n))
    check(not other, "over-limit RRQs drew non-busy replies: %r" % other[:3])
    check(1 <= n <= 200, "%d busy ERRORs for a burst of 300 in %.2f s "
          "(limit: 100 per second)" % (n, sent_in))


def relay_get(ctx, relay, name, dst, timeout=30):
    """`tftpx get` whose requests reach the server from 127.0.0.2."""
    p = subprocess.Popen([TFTPX, "get", "-t", "1", "-r", "8",
                          "127.0.0.1:%d" % relay.port, name, dst],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, start_new_session=True)
    ctx.procs.append(p)
    return p


def finish_get(ctx, p, dst, want, what, timeout=30):
    try:
        _, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_proc(p)
        raise Fail("%s did not finish in %d s" % (what, timeout))
    check(p.returncode == 0, "%s exited %d: %s" %
          (what, p.returncode, err.decode(errors="replace").strip()[-200:]))
    check(read_bytes(dst) == want, "%s: content differs" % what)


FLOOD_N = 10000


def flood_ports():
    """Source ports for the flood, outside the kernel's ephemeral range so
    that no other case's socket (bound to port 0) inherits the DATA and
    ERROR packets the server keeps sending to flood ports."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = map(int, f.read().split())
    except (OSError, ValueError):
        lo, hi = 32768, 60999
    ports = [p for p in range(10000, 65536) if p < lo or p > hi]
    random.shuffle(ports)
    return ports


@param_case("limit_flood_10000", (4,),
            [("default_limits", ()),
             ("per_client_900", ("--max-per-client", "900"))],
            heavy=True, limit=120)
def _(ctx, extra):
    root = ctx.tmpdir("root")
    out = ctx.tmpdir("out")
    write_random(os.path.join(root, "f.bin"), 1500)
    g = os.urandom(64 * KIB + 5)
    write_bytes(os.path.join(root, "g.bin"), g)
    srv = xserver(ctx, root, "--timeout", "1", "--retries", "1", *extra)
    pid = srv.pid
    relay = Relay(ctx, srv.port, upstream_host="127.0.0.2")
    try:
        # warm up (lazy one-time allocations), then the fd baseline
        p = relay_get(ctx, relay, "g.bin", os.path.join(out, "w.bin"))
        finish_get(ctx, p, os.path.join(out, "w.bin"), g, "warm-up get")
        srv.expect_ok("RRQ", "g.bin")
        time.sleep(0.2)
        base = fd_count(pid)
        check(base is not None, "cannot read /proc/%d/fd" % pid)
        peak = {"fd": base, "hwm": vm_kib(pid, "VmHWM") or 0,
                "rss": vm_kib(pid, "VmRSS") or 0}
        hwm0 = peak["hwm"]
        stop = threading.Event()

        def sampler():
            while not stop.is_set():
                n = fd_count(pid)
                if n is not None:
                    peak["fd"] = max(peak["fd"], n)
                for k, key in (("hwm", "VmHWM"), ("rss", "VmRSS")):
                    v = vm_kib(pid, key)
                    if v is not None:
                        peak[k] = max(peak[k], v)
                stop.wait(0.02)
        th = threading.Thread(target=sampler, daemon=True)
        th.start()
        req = pkt_rrq("f.bin")
        dst = ("127.0.0.1", srv.port)
        used = set()
        sent = 0
        mid = None
        ports = iter(flood_ports())
        t0 = time.monotonic()
        while sent < FLOOD_N:
            batch = []
            try:
                for _ in range(min(500, FLOOD_N - sent)):
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    batch.append(s)
                    for port in ports:
                        try:
                            s.bind(("127.0.0.1", port))
                            break
                        except OSError:
                            continue
                    else:
                        raise Fail("ran out of source ports outside the "
                                   "ephemeral range after %d" % sent)
                    used.add(port)
                for s in batch:
                    try:
                        s.sendto(req, dst)
                        sent += 1
                    except OSError:
                        pass
            finally:
                for s in batch:
                    s.close()
            if mid is None and sent >= 3000:
                mid_t = time.monotonic()
                mid = relay_get(ctx, relay, "g.bin",
                                os.path.join(out, "mid.bin"))
        t_flood = time.monotonic() - t0
        check(len(used) == sent, "source ports not distinct")
        mid_running = mid.poll() is None
        finish_get(ctx, mid, os.path.join(out, "mid.bin"), g,
                   "tftpx get (from 127.0.0.2) started mid-flood")
        mid_secs = time.monotonic() - mid_t
        check(mid_secs < 5.0, "the get from 127.0.0.2 started mid-flood took "
              "%.1f s (limit 5 s)" % mid_secs)
        # wait for the flood transfers to expire: back to the baseline
        end = time.monotonic() + 20
        while time.monotonic() < end and fd_count(pid) != base:
            time.sleep(0.2)
        time.sleep(0.5)
        stop.set()
        th.join(2)
        after = fd_count(pid)
        # and still serving, directly from 127.0.0.1 (per-client counts
        # released) and from 127.0.0.2
        ok_run(ctx.tftpx("get", "127.0.0.1:%d" % srv.port, "g.bin",
                         os.path.join(out, "a1.bin"), timeout=20),
               "tftpx get from 127.0.0.1 after the flood")
        check(read_bytes(os.path.join(out, "a1.bin")) == g, "content differs")
        p = relay_get(ctx, relay, "g.bin", os.path.join(out, "a2.bin"))
        finish_get(ctx, p, os.path.join(out, "a2.bin"), g,
                   "tftpx get from 127.0.0.2 after the flood")
        # the client exits on sending its final ACK: give the relay and
        # the server a moment to pass it on and log the transfer

        def relayed_ok():
            return [l for l in srv.lines if '"g.bin"' in l and
                    "127.0.0.2:" in l and outcome(l) == "ok"]
        srv.wait_for(lambda l: len(relayed_ok()) >= 3, 5.0)
    finally:
        relay.stop()
    c2 = relayed_ok()
    check(len(c2) >= 3, "the relayed gets were not seen from 127.0.0.2: %r" %
          c2)
    flood_lines = [l for l in srv.lines if ' RRQ "f.bin" ' in l and
                   outcome(l) is not None]
    os.kill(pid, signal.SIGTERM)
    try:
        srv.p.wait(5)
    except subprocess.TimeoutExpired:
        pass
    summ = srv.wait_for(lambda l: "refused as busy" in l, 3)
    busy = dups = None
    if summ:
        m = re.search(r"(\d+) duplicate requests? dropped, (\d+) refused as "
                      r"busy", summ)
        if m:
            dups, busy = int(m.group(1)), int(m.group(2))
    name = "limit_flood_10000" + ("_per_client_900" if extra else
                                  "_default_limits")
    info("%s: %d RRQs from %d distinct ports in %.3f s = %.0f requests/s; "
         "server accounted for %s (%d transfers, %s refused busy, %s dup)" %
         (name, sent, len(used), t_flood, sent / t_flood,
          (len(flood_lines) + (busy or 0) + (dups or 0)),
          len(flood_lines), busy, dups))
    info("%s: fds baseline %d, peak %d, after %s; VmHWM %d -> %d KiB, peak "
         "VmRSS %d KiB; mid-flood get of 64 KiB from 127.0.0.2 took %.2f s "
         "(%s when the flood ended)" %
         (name, base, peak["fd"], after, hwm0, peak["hwm"], peak["rss"],
          mid_secs, "still running" if mid_running else "already done"))
    check(after == base, "fd leak: %d fds before the flood, %s after the "
          "flood transfers expired (peak %d)" % (base, after, peak["fd"]))


# ---------------------------------------------------------------- 5. reflection


def reflect(ctx, opts, name):
    root = ctx.tmpdir("root")
    write_random(os.path.join(root, "r.bin"), 4000)
    srv = xserver(ctx, root, "--timeout", "1", "--retries", "2")
    peer = ctx.peer()
    req = pkt_rrq("r.bin", opts=opts)
    peer.send(req, srv.port)
    got = []
    end = time.monotonic() + 20
    logged = None
    while time.monotonic() < end:
        pkt, src = peer.recv(0.25)
        if pkt is not None:
            got.append((pkt, src))
        if logged is None:
            logged = srv.xfer_line("RRQ", "r.bin", peer.port, timeout=0)
            if logged is not None:
                end = min(end, time.monotonic() + 1.5)
    check(logged is not None, "the unacknowledged transfer never ended; last "
          "lines: %s" % srv.tail())
    check(outcome(logged) != "ok", "logged ok: %r" % logged)
    rx = sum(len(p) for p, _ in got)
    info("%s: 1 request of %d bytes drew %d packets, %d bytes (UDP payload "
         "amplification %.2fx; with 28-byte IP+UDP headers %.2fx)" %
         (name, len(req), len(got), rx, rx / len(req),
          (rx + 28 * len(got)) / (len(req) + 28)))
    return got


@case("reflect_no_options_exactly_1_plus_retries_data1", limit=40)
def _(ctx):
    got = reflect(ctx, (), "reflect_no_options")
    tids = set(s for _, s in got)
    desc = [describe(p) for p, _ in got]
    check(len(tids) <= 1, "replies from several ports %r" % sorted(tids))
    check(all(op_of(p) == DATA and blk_of(p) == 1 and len(p) == 516
              for p, _ in got), "expected only DATA 1, got %r" % desc)
    check(len(got) == 3, "an RRQ never ACKed drew %d DATA 1 packets with "
          "--retries 2, expected exactly 3: %r" % (len(got), desc))
    check(len(set(p for p, _ in got)) == 1, "the DATA 1 copies differ")


@param_case("reflect_options_only_oacks", (4,),
            [("blksize", [("blksize", "1468")]),
             ("big_window", [("blksize", "65464"), ("windowsize", "64"),
                             ("tsize", "0")])], limit=40)
def _(ctx, opts):
    got = reflect(ctx, opts, "reflect_options_" + "_".join(k for k, _ in opts))
    desc = [describe(p) for p, _ in got]
    check(all(op_of(p) == OACK for p, _ in got), "an RRQ with options that "
          "never ACKs the OACK drew %r (DATA before the OACK is ACKed)" % desc)
    check(len(got) == 3, "drew %d OACKs with --retries 2, expected exactly "
          "3: %r" % (len(got), desc))


if __name__ == "__main__":
    sys.exit(main())
