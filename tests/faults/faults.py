#!/usr/bin/env python3
"""tests/faults/faults.py - tftpx under network faults (stdlib only).

Run from the repo root as root:
    python3 tests/faults/faults.py [--ci | --full] [-k SUBSTRING] [-j N]

--ci (the default) runs a subset that covers every dimension at least once
and fits in a few minutes; --full runs the whole matrix (tens of minutes).

Built on the harness in tests/lib/tftpx_test.py and its namespaces
(tests/lib/netns.py).  Each case prints one line "PASS name", "FAIL name:
reason" or "SKIP name: reason"; measured figures are extra "INFO ..." lines.

  loss_*     server and client (tftpx on both ends, or curl / busybox as the
             client) in a private network namespace whose nftables input
             hook drops a random fraction of DATA packets, of ACK packets or
             of all UDP (on lo every packet passes the input hook once, so
             this is both directions).  nft rule counters count every DATA,
             ACK and OACK on the wire and every drop, so the sender's
             retransmissions are known exactly for get and put alike:
             DATA on the wire - blocks.  Asserted: right bytes, server log
             "ok" (for a get: unless the client's final ACK was dropped, see
             below), the server's retransmits= equal to the wire count
             (get), every dropped DATA resent (retransmits >= drops) and not
             absurdly often (a bound on retransmits per dropped packet).
  reorder_*  duplication and reordering by a relay (relay.py) on loopback.
  reorder_raw_window_late_duplicate_no_gap_ack, loss_raw_window_lost_
             reack_answered: deterministic raw-packet forms of two receiver
             faults the random cases hit (see their docstrings).
  dupack_*   the Sorcerer's Apprentice check: every ACK duplicated 10 times;
             DATA sent must not grow (server log counters and relay counts).
  vanish_*   a raw client that stops answering mid-transfer: the server
             gives up after --timeout 1 --retries 2, frees the transfer (fd
             count back to baseline), leaves no temp file, logs
             "error 0: timeout".

A get's final ACK that is dropped cannot be recovered: the tftpx client does
not dally (RFC 1350 allows it to end on sending its final ACK), so the
server re-sends the last block until it gives up and logs "error 0:
timeout" for a download that arrived whole.  A counter on the final ACK
after the drop rule tells whether that happened; only then is the timeout
accepted (and reported in an INFO line).
"""

import argparse
import itertools
import os
import shutil
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
sys.path.insert(0, HERE)
import tftpx_test  # noqa: E402
from tftpx_test import (  # noqa: E402
    ACK, CASES, DATA, Fail, KIB, MIB, OACK, REPO, Runner, Server, Skip, TFTPX,
    blk_of, check, counter, describe, kill_proc, ok_run, op_of, outcome,
    pkt_ack, pkt_data, pkt_rrq, pkt_wrq, read_bytes, run_exit_hooks,
    same_file, temps_in, write_bytes, write_random)
from tftpx_test import fd_count, info, list_or_check  # noqa: E402
import netns  # noqa: E402
from relay import FaultRelay  # noqa: E402

CI = set()                  # names of the cases in the --ci subset


def case(name, ci=False, limit=60):
    if ci:
        CI.add(name)
    return tftpx_test.case(name, limit=limit)


# ---------------------------------------------------------------- namespaces

NETNS_PROBLEM = None        # why loss cases cannot run (set in main)


def NetNS(extra_addr=False):
    """A namespace of this suite (tests/lib/netns.py): lo up, deleted by
    delete()."""
    return netns.NetNS("tftpx-faults", extra_addr=extra_addr)


def netns_problem():
    """None when namespaces and nft payload matching work, else why not."""
    why = netns.unavailable()
    if why:
        return why
    try:
        ns = NetNS()
    except (Skip, Fail) as e:
        return str(e)
    try:
        ns.nft(RULES_HEAD + "  }\n}\n")
        return None
    except Fail as e:
        return str(e)
    finally:
        ns.delete()


# ---------------------------------------------------------------- servers


def FServer(ctx, root, args=(), ns=None, env=None, ready_timeout=5.0):
    """`tftpx serve` on 127.0.0.1, inside ns if given, with the
    environment below and env on top (the harness's Server)."""
    argv = [TFTPX, "serve", "--allow-root", "-l", "127.0.0.1:0"] + \
        list(args) + [root]
    if ns is not None:
        argv = ns.argv(argv)
    e = {"TFTPX_NO_TMPFILE": None, "TFTPX_NO_OPENAT2": None}
    # A window leaves as one UDP_SEGMENT train (GSO), and on lo the
    # kernel cuts it only at the receiving socket: nftables would see,
    # count and drop a whole window as one packet.  On a NIC each
    # datagram is on the wire alone; sendmmsg gives lo the same.
    e["TFTPX_NO_GSO"] = "1"
    e.update(env or {})
    # ip netns exec execs: srv.pid is tftpx
    return Server(ctx, root, argv=argv, env=e, ready="listening",
                  ready_timeout=ready_timeout)


# ---------------------------------------------------------------- helpers


def blocks_of(size, blksize):
    """DATA blocks of a transfer: the last one is short (maybe empty)."""
    return size // blksize + 1


def sz_name(size):
    return "%dM" % (size // MIB) if size >= MIB else "%dK" % (size // KIB)


def run_client(ctx, argv, timeout):
    """Run a client; (rc, stderr, seconds).  A timeout is a failure."""
    rc, _, err, secs = ctx.run(argv, timeout=timeout, capture_stdout=False)
    return rc, err, secs


# ---------------------------------------------------------------- loss

RULES_HEAD = """table inet f {
  chain in {
    type filter hook input priority 0; policy accept;
    meta l4proto udp counter comment "udp"
    meta l4proto udp @th,64,16 3 counter comment "data"
    meta l4proto udp @th,64,16 4 counter comment "ack"
    meta l4proto udp @th,64,16 6 counter comment "oack"
"""


def loss_rules(target, rate, final_blk):
    """nft script: counters, drop rules for target at rate %, and a counter
    of the final ACK that got through."""
    drop = "numgen random mod 100 < %d counter drop" % rate
    s = RULES_HEAD
    if target in ("data", "both"):
        s += '    meta l4proto udp @th,64,16 3 %s comment "drop_data"\n' % drop
    if target in ("ack", "both"):
        s += '    meta l4proto udp @th,64,16 4 %s comment "drop_ack"\n' % drop
    if target == "both":
        s += ('    meta l4proto udp @th,64,16 != 3 @th,64,16 != 4 %s '
              'comment "drop_other"\n' % drop)
    s += ('    meta l4proto udp @th,64,32 0x%08x counter comment '
          '"final_ack_passed"\n' % ((ACK << 16) | (final_blk & 0xFFFF)))
    s += "  }\n}\n"
    return s


def retries_for(rate):
    """Retries (server --retries, client -r) for a loss rate.  With RTT
    timers a transfer gives up after timeout x (retries + 1) s without
    progress; at 30 % loss in both directions a round trip fails half the
    time and runs of 12 failures (about 6 s of doubling timers) are
    expected in a 20 MiB lock-step transfer, so 30 % needs more."""
    return 20 if rate >= 30 else 5


def loss_case(ctx, op, target, rate, bs, ws, size, name):
    if NETNS_PROBLEM:
        raise Skip(NETNS_PROBLEM)
    retries = retries_for(rate)
    n = blocks_of(size, bs)
    root = ctx.tmpdir("root")
    loc = ctx.tmpdir("loc")
    ns = NetNS()
    try:
        ns.nft(loss_rules(target, rate, n))
        if op == "get":
            src = write_random(os.path.join(root, "f.bin"), size)
            srv = FServer(ctx, root, ("--retries", str(retries)), ns=ns)
            dst = os.path.join(loc, "f.bin")
            argv = [TFTPX, "get", "-r", str(retries), "-b", str(bs),
                    "-w", str(ws), "127.0.0.1:%d" % srv.port, "f.bin", dst]
        else:
            src = write_random(os.path.join(loc, "f.bin"), size)
            srv = FServer(ctx, root, ("--upload", "--retries", str(retries)),
                          ns=ns)
            dst = os.path.join(root, "f.bin")
            argv = [TFTPX, "put", "-r", str(retries), "-b", str(bs),
                    "-w", str(ws), "127.0.0.1:%d" % srv.port, src, "f.bin"]
        rc, err, secs = run_client(ctx, ns.argv(argv),
                                   timeout=max(30, ctx.limit - 40))
        kind = "RRQ" if op == "get" else "WRQ"
        check(rc == 0, "tftpx %s exited %d after %.1f s: %s" %
              (op, rc, secs, err.strip()[-300:]))
        bad = same_file(src, dst)
        check(bad is None, "transferred file: %s" % bad)
        # the final-ACK-lost case waits for the server's give-up
        line = srv.xfer_line(kind, "f.bin", None, timeout=retries + 6)
        c = ns.counters("inet f")
        check(line is not None, "no finished %s line on the server; last "
              "lines: %s" % (kind, srv.tail()))
    finally:
        for p in ctx.procs:
            kill_proc(p)
        ns.delete()
    retx = counter(line, "retransmits")
    probes = counter(line, "probes")
    dupacks = counter(line, "dupacks")
    d_data, d_ack = c.get("drop_data", 0), c.get("drop_ack", 0)
    d_other = c.get("drop_other", 0)
    wire_resent = c["data"] - n         # DATA copies beyond one per block
    oack_resent = max(0, c["oack"] - 1)
    final_lost = c["final_ack_passed"] == 0
    res = outcome(line)
    info("%s: %.2f s, %s retransmits=%d probes=%d dupacks=%d (server log; "
         "sender's DATA resent on the wire %d), dropped DATA %d ACK %d "
         "other %d of %d UDP packets, retries %d%s" %
         (name, secs, "server" if op == "get" else "server (ACKs)", retx,
          probes, dupacks, wire_resent, d_data, d_ack, d_other, c["udp"],
          retries, "; final ACK dropped: server logged %r" % res
          if final_lost else ""))
    RESULTS.append((name, secs, wire_resent if op == "put" else retx,
                    probes, res))
    if op == "get" and final_lost:
        check(res in ("ok", "error 0"), "server logged %r" % line)
        check(res == "ok" or "timeout" in line, "server logged %r" % line)
    else:
        check(res == "ok", "server logged failure: %r" % line)
    if op == "get":
        # the server is the sender: its count must be what the wire saw
        check(retx == wire_resent + oack_resent,
              "server logged retransmits=%d but the wire carried %d extra "
              "DATA and %d extra OACKs" % (retx, wire_resent, oack_resent))
    # every dropped DATA copy was sent again (the tail after a lost final
    # ACK of a get excepted: nobody listens any more)
    slack = (retries + 30) if (op == "get" and final_lost) else 0
    check(wire_resent + slack >= d_data,
          "%d DATA packets dropped but only %d resent" % (d_data, wire_resent))
    if d_data:
        check(wire_resent > 0, "DATA dropped but nothing resent")
    # not absurd: one lost packet costs a lock-step sender one resend (a
    # spurious timer now and then allowed for); a windowed one at most the
    # rest of its window (go-back-N) plus two probe pairs
    lost = d_data + d_ack + d_other
    per = 1 if ws == 1 else ws + 4
    bound = 3 * per * lost + 3 * per + slack
    check(wire_resent <= bound,
          "%d DATA resent for %d dropped packets (bound %d)" %
          (wire_resent, lost, bound))


RESULTS = []    # (name, secs, sender retransmits, probes, server outcome)

LOSS_TARGETS = ("data", "ack", "both")
LOSS_RATES = (10, 30)
OPS = ("get", "put")
BLKSIZES = (512, 1468, 8192)
WINDOWS = (1, 16)
SIZES = (MIB, 20 * MIB)

# --ci: every target x rate, get and put, each blksize, each windowsize and
# both sizes at least once, picked for a few minutes in all (measured)
LOSS_CI = {
    ("get", "data", 10, 512, 1, MIB),
    ("put", "data", 30, 1468, 16, MIB),
    ("get", "ack", 10, 8192, 16, 20 * MIB),
    ("put", "ack", 30, 1468, 1, MIB),
    ("put", "both", 10, 512, 16, MIB),
    ("get", "both", 30, 8192, 1, MIB),
    ("put", "data", 10, 1468, 1, 20 * MIB),
}


def loss_limit(target, rate, bs, ws, size):
    """A generous per-case limit from the expected cost of a round trip
    (doubling timers from a 10 ms floor).  A window does not make a lossy
    transfer faster (measured: go-back-N at 10-30 % loss advances a few
    blocks per round trip and is as slow as lock-step or slower), so the
    estimate is per block for both."""
    p = rate / 100.0
    if target == "both":
        p = 1 - (1 - p) ** 2
    cost = sum(p ** k * min(0.01 * 2 ** (k - 1), 1.0) for k in range(1, 60))
    f = 4 if ws == 1 else 8
    return int(120 + f * blocks_of(size, bs) * (cost + 0.001))


def _reg_loss():
    for op, target, rate, bs, ws, size in itertools.product(
            OPS, LOSS_TARGETS, LOSS_RATES, BLKSIZES, WINDOWS, SIZES):
        name = "loss_%s_%s%d_b%d_w%d_%s" % (op, target, rate, bs, ws,
                                             sz_name(size))
        key = (op, target, rate, bs, ws, size)

        def fn(ctx, k=key, nm=name):
            loss_case(ctx, *k, name=nm)
        case(name, ci=key in LOSS_CI,
             limit=loss_limit(target, rate, bs, ws, size))(fn)


_reg_loss()


# ---------------------------------------------------------------- other clients


def other_client_case(ctx, tool, op, rate, name):
    """curl or busybox as the client against tftpx at `rate` % loss of all
    UDP, a 64 KiB file, blksize 512 (their default)."""
    if NETNS_PROBLEM:
        raise Skip(NETNS_PROBLEM)
    if not shutil.which(tool):
        raise Skip("%s not installed" % tool)
    size = 64 * KIB
    retries = retries_for(rate)
    root = ctx.tmpdir("root")
    loc = ctx.tmpdir("loc")
    ns = NetNS(extra_addr=True)
    try:
        ns.nft(loss_rules("both", rate, blocks_of(size, 512)))
        srv = FServer(ctx, root, ("--upload", "--retries", str(retries)),
                      ns=ns)
        url = "tftp://127.0.0.1:%d/f.bin" % srv.port
        if op == "get":
            src = write_random(os.path.join(root, "f.bin"), size)
            dst = os.path.join(loc, "f.bin")
            argv = (["curl", "-sS", "-o", dst, url] if tool == "curl" else
                    ["busybox", "tftp", "-g", "-r", "f.bin", "-l", dst,
                     "127.0.0.1", str(srv.port)])
        else:
            src = write_random(os.path.join(loc, "f.bin"), size)
            dst = os.path.join(root, "f.bin")
            argv = (["curl", "-sS", "-T", src, url] if tool == "curl" else
                    ["busybox", "tftp", "-p", "-l", src, "-r", "f.bin",
                     "127.0.0.1", str(srv.port)])
        cutoff = ctx.limit - 30
        try:
            rc, err, secs = run_client(ctx, ns.argv(argv), timeout=cutoff)
        except Fail:
            rc, err, secs = None, "", cutoff
        kind = "RRQ" if op == "get" else "WRQ"
        line = None
        if rc is not None:
            line = srv.xfer_line(kind, "f.bin", None, timeout=retries + 6)
        c = ns.counters("inet f")
    finally:
        for p in ctx.procs:
            kill_proc(p)
        ns.delete()
    n = blocks_of(size, 512)
    if rc is None:
        # their timers, not tftpx's: report, do not fail
        info("%s: %s %s of 64 KiB at %d%% loss of all UDP did not finish in "
             "%d s: %d DATA and %d ACK packets on the wire, %d dropped (%d "
             "blocks in the file)" %
             (name, tool, op, rate, cutoff, c["data"], c["ack"],
              sum(v for k, v in c.items() if k.startswith("drop")), n))
        raise Skip("%s %s did not finish within %d s at %d%% loss (its own "
                   "fixed timers; figures in the INFO line)" %
                   (tool, op, cutoff, rate))
    info("%s: %s %s of 64 KiB at %d%% loss of all UDP: %.1f s, exit %d, "
         "DATA resent on the wire %d, dropped %d of %d UDP packets; server: "
         "%s" % (name, tool, op, rate, secs, rc, c["data"] - n,
                 sum(v for k, v in c.items() if k.startswith("drop")),
                 c["udp"], line and line.split(" octet ", 1)[-1]))
    check(rc == 0, "%s exited %d after %.1f s: %s" %
          (tool, rc, secs, err.strip()[-200:]))
    bad = same_file(src, dst)
    check(bad is None, "transferred file: %s" % bad)


for _tool in ("curl", "busybox"):
    for _op in OPS:
        _n = "loss_%s_%s_both30_64K" % (_tool, _op)
        # curl asks for timeout=6 and waits that long per loss: its put
        # takes a quarter of an hour, so --full only (cut off at 420 s)
        case(_n, ci=(_tool, _op) != ("curl", "put"),
             limit=450 if _tool == "curl" else 240)(
            lambda ctx, t=_tool, o=_op, nm=_n: other_client_case(
                ctx, t, o, 30, nm))

# a tftpx client on the same terms, for the comparison
for _op in OPS:
    _n = "loss_tftpx_%s_both30_64K" % _op
    case(_n, ci=True, limit=120)(
        lambda ctx, o=_op, nm=_n: loss_case(ctx, o, "both", 30, 512, 1,
                                            64 * KIB, nm))


# ---------------------------------------------------------------- dup/reorder

FAULT_MODES = {
    "dup10": dict(dup=0.10),
    "dup30": dict(dup=0.30),
    "reorder10": dict(reorder=0.10),
    "reorder30": dict(reorder=0.30),
    "mix30": dict(dup=0.30, reorder=0.30),
}

REORDER_CI = {
    ("get", "dup30", 512, 1, MIB),
    ("put", "reorder30", 1468, 16, MIB),
    ("get", "mix30", 8192, 16, 20 * MIB),
    ("put", "mix30", 512, 1, MIB),
    ("get", "reorder10", 1468, 16, MIB),
    ("put", "dup10", 8192, 16, MIB),
}


def relay_transfer(ctx, op, bs, ws, size, server_args=(), client_args=(),
                   **faults):
    """One tftpx get/put through a FaultRelay on loopback.  Returns (server
    log line, relay, seconds, number of blocks)."""
    root = ctx.tmpdir("root")
    loc = ctx.tmpdir("loc")
    if op == "get":
        src = write_random(os.path.join(root, "f.bin"), size)
        srv = FServer(ctx, root, server_args)
    else:
        src = write_random(os.path.join(loc, "f.bin"), size)
        srv = FServer(ctx, root, ("--upload",) + tuple(server_args))
    relay = FaultRelay(srv.port, socks=ctx.socks, **faults)
    try:
        hp = "127.0.0.1:%d" % relay.port
        opts = ["-b", str(bs), "-w", str(ws)] + list(client_args)
        if op == "get":
            dst = os.path.join(loc, "f.bin")
            argv = [TFTPX, "get"] + opts + [hp, "f.bin", dst]
        else:
            dst = os.path.join(root, "f.bin")
            argv = [TFTPX, "put"] + opts + [hp, src, "f.bin"]
        rc, err, secs = run_client(ctx, argv, timeout=max(30, ctx.limit - 20))
        check(rc == 0, "tftpx %s exited %d after %.1f s: %s" %
              (op, rc, secs, err.strip()[-300:]))
        bad = same_file(src, dst)
        check(bad is None, "transferred file: %s" % bad)
        kind = "RRQ" if op == "get" else "WRQ"
        line = srv.xfer_line(kind, "f.bin", None, timeout=10)
        check(line is not None, "no finished %s line on the server; last "
              "lines: %s" % (kind, srv.tail()))
        time.sleep(0.05)        # the last copies through the relay
    finally:
        relay.stop()
        srv.stop()
    check(relay.error is None, "relay failed: %s" % relay.error)
    return line, relay, secs, blocks_of(size, bs)


def reorder_case(ctx, op, mode, bs, ws, size, name):
    faults = FAULT_MODES[mode]
    line, relay, secs, n = relay_transfer(ctx, op, bs, ws, size, **faults)
    retx = counter(line, "retransmits")
    d = "down" if op == "get" else "up"
    sent = relay.count(relay.rx, d, DATA)       # DATA the sender emitted
    resent = sent - n
    info("%s: %.2f s, seed %d, relay duplicated %d and reordered %d packets; "
         "sender's DATA resent %d (of %d blocks); server log %s" %
         (name, secs, relay.seed, relay.dups, relay.reordered, resent, n,
          line.split(" MB/s ", 1)[-1]))
    RRESULTS.append((name, secs, relay.dups, relay.reordered, resent,
                     counter(line, "dupacks")))
    check(outcome(line) == "ok", "server logged failure: %r" % line)
    if op == "get":
        check(retx == resent + max(0, relay.count(relay.rx, "down", OACK) - 1),
              "server logged retransmits=%d, the relay saw %d DATA beyond "
              "one per block" % (retx, resent))
    # nothing is lost: a duplicate never draws a resend (Sorcerer's
    # Apprentice), a reordered packet at most a window's tail; a timer
    # fired by the relay's hold now and then is allowed for
    events = relay.dups + relay.reordered
    # lock-step: a packet held 20 ms may outlast two doubling timers (10 ms
    # floor, then 20 ms)
    per = 2 if ws == 1 else ws + 4
    bound = per * relay.reordered + events // 4 + 8 + \
        (per if ws > 1 else 0)
    check(resent <= bound, "%d DATA resent for %d duplicated and %d "
          "reordered packets (bound %d)" % (resent, relay.dups,
                                            relay.reordered, bound))


RRESULTS = []


@case("reorder_raw_window_late_duplicate_no_gap_ack", ci=True, limit=30)
def _(ctx):
    """Deterministic form of what the dup*_w16 cases hit at random: a WRQ
    with windowsize 4 from a raw sender; after ACK 4 the server has DATA 5
    and 6 of the window 5..8, then a late network duplicate of DATA 5
    arrives.  Nothing is missing, so the server must not send an ACK that a
    sender reads as a gap: ACK 5, 6 or 7 makes an RFC 7440 sender (tftpx
    among them) go back and re-send the rest of the window, and the copies
    of those re-sends are duplicates again: a cascade."""
    root = ctx.tmpdir("root")
    srv = FServer(ctx, root, ("--upload", "--timeout", "5"))
    peer = ctx.peer()
    peer.send(pkt_wrq("w.bin", opts=[("windowsize", "4")]), srv.port)
    pkt, tid = peer.expect(3.0, "OACK")
    check(op_of(pkt) == OACK, "expected OACK, got %s" % describe(pkt))
    blk = [bytes([n]) * 512 for n in range(9)]

    def acks(wait):
        return [describe(p) for p, _, _ in peer.drain(wait)]
    for n in range(1, 5):
        peer.send(pkt_data(n, blk[n]), tid)
    got = acks(0.3)
    check(got == ["ACK 4"], "after DATA 1-4 got %r, expected ACK 4" % got)
    peer.send(pkt_data(5, blk[5]), tid)
    peer.send(pkt_data(6, blk[6]), tid)
    got = acks(0.2)
    check(got == [], "after DATA 5, 6 got %r, expected nothing" % got)
    peer.send(pkt_data(5, blk[5]), tid)         # the late duplicate
    after_dup = acks(0.2)
    # finish the upload properly, so the server ends cleanly
    for n in (7, 8):
        peer.send(pkt_data(n, blk[n]), tid)
    acks(0.2)
    peer.send(pkt_data(9, b"end"), tid)
    acks(0.3)
    bad = [a for a in after_dup if a in ("ACK 5", "ACK 6", "ACK 7")]
    check(not bad, "a duplicate of DATA 5 (first block after ACK 4) while "
          "DATA 5 and 6 of window 5..8 had arrived drew %r: a sender takes "
          "it for a gap and re-sends 7.. (go-back-N from a duplicate)" %
          after_dup)


@case("loss_raw_window_lost_reack_answered", limit=30)
def _(ctx):
    """A windowed upload whose window ACK and the re-ACK drawn by the first
    probe are both lost: the sender's next probe (and its go-back-N) must
    draw an ACK again.  Otherwise the sender re-sends its window at every
    go-back-N timeout until the receiver's own timer (--timeout) fires,
    which is what makes windowed transfers under ACK loss send ~28 DATA per
    lost ACK (loss_get_ack30_b512_w16_20M)."""
    root = ctx.tmpdir("root")
    srv = FServer(ctx, root, ("--upload", "--timeout", "3"))
    peer = ctx.peer()
    peer.send(pkt_wrq("x.bin", opts=[("windowsize", "4")]), srv.port)
    pkt, tid = peer.expect(3.0, "OACK")
    check(op_of(pkt) == OACK, "expected OACK, got %s" % describe(pkt))
    blk = [bytes([n]) * 512 for n in range(9)]

    def send(*ns):
        for n in ns:
            peer.send(pkt_data(n, blk[n]), tid)

    def acks(wait=0.2):
        return [describe(p) for p, _, _ in peer.drain(wait)]
    send(1, 2, 3, 4)
    check(acks() == ["ACK 4"], "no ACK 4")
    send(5, 6, 7, 8)
    check(acks() == ["ACK 8"], "no ACK 8")          # lost on its way
    send(5, 8)                                      # probe pair 1
    got1 = acks()                                   # lost on its way too
    send(5, 8)                                      # probe pair 2
    got2 = acks()
    send(5, 6, 7, 8)                                # go-back-N
    got3 = acks()
    peer.send(pkt_data(9, b"end"), tid)
    acks(0.3)
    check(got1, "the first probe pair drew nothing")
    check(got2 or got3, "after its window ACK and one re-ACK were lost, "
          "the server answered neither a second probe pair nor a go-back-N "
          "re-send of the window (it waits for its own --timeout)")


def _reg_reorder():
    for op, mode, bs, ws, size in itertools.product(
            OPS, FAULT_MODES, BLKSIZES, WINDOWS, SIZES):
        name = "reorder_%s_%s_b%d_w%d_%s" % (op, mode, bs, ws, sz_name(size))
        key = (op, mode, bs, ws, size)

        def fn(ctx, k=key, nm=name):
            reorder_case(ctx, *k, name=nm)
        case(name, ci=key in REORDER_CI,
             limit=reorder_limit(FAULT_MODES[mode], bs, size))(fn)


def reorder_limit(faults, bs, size, hold=0.02):
    """Lock-step, a held packet is a hold-long delay (nothing comes after
    it to release it): about 2 x blocks x reorder x hold in all."""
    n = blocks_of(size, bs)
    return int(60 + n * (0.002 + 3 * 2 * faults.get("reorder", 0) * hold))


_reg_reorder()


# ---------------------------------------------------------------- dup ACKs


def dupack_case(ctx, op, ws, timers, name):
    """Every ACK duplicated 10x vs. the same transfer without: the sender's
    DATA count must not grow."""
    size, bs = MIB, 512
    # RTT timers with a 100 ms floor on the server: the relay's scheduling
    # jitter (tens of ms on a loaded machine) must not fire them, so the
    # counts below are exact.  The client has no --rto-min: its 10 ms floor
    # may fire now and then (see the put check).
    sargs = ("--classic-timers",) if timers == "classic" else \
        ("--rto-min", "100")
    cargs = ("--classic-timers",) if timers == "classic" else ()
    base, rb, _, n = relay_transfer(ctx, op, bs, ws, size, sargs, cargs)
    line, r, secs, _ = relay_transfer(ctx, op, bs, ws, size, sargs, cargs,
                                      ack_copies=10)
    d = "down" if op == "get" else "up"
    data0 = rb.count(rb.rx, d, DATA)
    data1 = r.count(r.rx, d, DATA)
    acks = r.count(r.rx, "up" if op == "get" else "down", ACK)
    acks_out = r.count(r.tx, "up" if op == "get" else "down", ACK)
    retx0, retx1 = counter(base, "retransmits"), counter(line, "retransmits")
    dup0, dup1 = counter(base, "dupacks"), counter(line, "dupacks")
    info("%s: without duplication DATA sent %d, retransmits=%d dupacks=%d; "
         "with each ACK sent 10x (%d ACKs -> %d copies) DATA sent %d, "
         "retransmits=%d dupacks=%d; %d blocks, %.2f s" %
         (name, data0, retx0, dup0, acks, acks_out, data1, retx1, dup1, n,
          secs))
    DRESULTS.append((name, data0, data1, retx0, retx1, dup0, dup1, acks))
    check(outcome(base) == "ok" and outcome(line) == "ok",
          "server logged %r / %r" % (base, line))
    if not (op == "put" and timers == "rtt"):
        check(data1 <= data0, "the sender sent %d DATA with each ACK 10x, "
              "%d without (Sorcerer's Apprentice)" % (data1, data0))
    if op == "get":
        check(retx1 == retx0, "server retransmits=%d with each ACK 10x, "
              "%d without" % (retx1, retx0))
        check(data1 == n + retx1, "relay forwarded %d DATA, the server "
              "logged %d blocks + retransmits=%d" % (data1, n, retx1))
        # every copy but the first of every ACK but the final one (whose
        # copies arrive after the transfer ended) is a duplicate
        lo_, hi_ = 9 * (acks - 1), 9 * acks + dup0
        check(lo_ <= dup1 <= hi_, "server dupacks=%d for %d ACKs sent 10x "
              "each, expected %d..%d" % (dup1, acks, lo_, hi_))
    elif timers == "classic":
        check(data1 == n, "the client sent %d DATA for %d blocks without "
              "loss" % (data1, n))
    else:
        # a spurious 10 ms timer (relay jitter) may add a resend or two; a
        # Sorcerer's Apprentice client would send one DATA per ACK copy
        check(data1 <= n + n // 100 + 2, "the client sent %d DATA for %d "
              "blocks without loss" % (data1, n))


DRESULTS = []

for _op in OPS:
    for _ws in WINDOWS:
        for _t in ("rtt", "classic"):
            _n = "dupack10_%s_w%d_%s" % (_op, _ws, _t)
            case(_n, ci=(_t == "rtt" or _ws == 1), limit=90)(
                lambda ctx, o=_op, w=_ws, t=_t, nm=_n: dupack_case(
                    ctx, o, w, t, nm))


# ---------------------------------------------------------------- vanish


def vanish_case(ctx, op, how, opts, name):
    """A raw client that stops answering (how="silent": socket kept, or
    "closed": socket closed, ICMP port unreachable) after 3 blocks."""
    root = ctx.tmpdir("root")
    content = os.urandom(64 * KIB)
    write_bytes(os.path.join(root, "v.bin"), content)
    srv = FServer(ctx, root, ("--upload", "--timeout", "1", "--retries", "2"),
                  env={"TFTPX_NO_TMPFILE": "1"})
    # warm up (lazy one-time allocations), then the baseline
    out = ctx.tmpdir("out")
    ok_run(ctx.tftpx("get", "127.0.0.1:%d" % srv.port, "v.bin",
                     os.path.join(out, "w.bin"), timeout=20), "warm-up get")
    check(srv.xfer_line("RRQ", "v.bin", None, 5) is not None,
          "warm-up not logged")
    time.sleep(0.2)
    base = fd_count(srv.pid)
    check(base is not None, "cannot read /proc/%d/fd" % srv.pid)
    peer = ctx.peer()
    bs = 512
    target = "v.bin" if op == "RRQ" else "up.bin"
    blk = 0
    if op == "RRQ":
        peer.send(pkt_rrq(target, opts=opts), srv.port)
        pkt, tid = peer.expect(3.0, "first reply")
        if op_of(pkt) == OACK:
            peer.send(pkt_ack(0), tid)
            pkt, _ = peer.expect(3.0, "DATA 1")
        while True:
            check(op_of(pkt) == DATA, "expected DATA, got %s" %
                  describe(pkt))
            if blk_of(pkt) == blk + 1:
                blk += 1
                if blk == 3:
                    break               # vanish: DATA 3 never ACKed
                peer.send(pkt_ack(blk), tid)
            pkt, _ = peer.expect(3.0, "DATA %d" % (blk + 1))
        ws = int(dict(opts).get("windowsize", 1))
    else:
        peer.send(pkt_wrq(target, opts=opts), srv.port)
        pkt, tid = peer.expect(3.0, "ACK 0 / OACK")
        check(op_of(pkt) in (ACK, OACK), "expected ACK 0 or OACK, got %s"
              % describe(pkt))
        ws = int(dict(opts).get("windowsize", 1))
        for blk in range(1, 4):
            peer.send(pkt_data(blk, content[(blk - 1) * bs:blk * bs]),
                      tid)
            if blk % ws == 0:
                pkt, _ = peer.expect(3.0, "ACK %d" % blk)
                check(op_of(pkt) == ACK and blk_of(pkt) == blk,
                      "expected ACK %d, got %s" % (blk, describe(pkt)))
        time.sleep(0.05)
        check(temps_in(root), "no .tftpx-*.tmp temp file during the upload "
              "(TFTPX_NO_TMPFILE=1)")
    t_gone = time.monotonic()
    cport = peer.port
    got = []
    if how == "closed":
        peer.s.close()
    line = None
    end = t_gone + 15
    while time.monotonic() < end:
        if how == "silent":
            p, s = peer.recv(0.1)
            if p is not None:
                got.append(p)
        else:
            time.sleep(0.1)
        line = srv.xfer_line(op, target, cport, timeout=0)
        if line is not None:
            break
    gone_secs = time.monotonic() - t_gone
    check(line is not None, "the server did not give up within 15 s; last "
          "lines: %s" % srv.tail())
    # fds back to the baseline (bounded wait: the transfer is freed by a
    # timer after it is logged)
    end = time.monotonic() + 3
    while time.monotonic() < end and fd_count(srv.pid) != base:
        time.sleep(0.05)
    after = fd_count(srv.pid)
    left = temps_in(root)
    retx = counter(line, "retransmits")
    info("%s: server gave up %.2f s after the client vanished, retransmits=%d"
         "%s; fds %d before, %s after; log: %s" %
         (name, gone_secs, retx, (" (%d copies received)" % len(got))
          if how == "silent" else "", base, after,
          line.split(" MB/s ", 1)[-1]))
    VRESULTS.append((name, gone_secs, retx, base, after, left))
    check(outcome(line) == "error 0" and line.rstrip().endswith(
        "error 0: timeout"), "server logged %r, expected 'error 0: timeout'"
        % line)
    check(after == base, "fd leak: %d fds before, %s after the transfer "
          "was given up" % (base, after))
    check(not left, "temp files left: %r" % left)
    if op == "WRQ":
        check(not os.path.exists(os.path.join(root, target)),
              "an abandoned upload created %s" % target)
    if how == "silent":
        # on lo nothing is lost: what the server counts is what came
        copies = [p for p in got if op_of(p) in (DATA, ACK)]
        if op == "RRQ" and ws == 1:
            # DATA 3 arrived before we vanished; all further are resends
            check(retx == len(copies), "server logged retransmits=%d, the "
                  "client received %d copies" % (retx, len(copies)))
        elif op == "WRQ":
            check(retx == len(copies), "server logged retransmits=%d, the "
                  "client received %d ACK copies" % (retx, len(copies)))
        check(retx >= 2, "only %d retransmits before giving up" % retx)
    # still serving
    ok_run(ctx.tftpx("get", "127.0.0.1:%d" % srv.port, "v.bin",
                     os.path.join(out, "a.bin"), timeout=20),
           "get after the abandoned transfer")
    check(read_bytes(os.path.join(out, "a.bin")) == content,
          "content differs")


VRESULTS = []

for _op in ("RRQ", "WRQ"):
    for _how in ("silent", "closed"):
        for _o, _opts in (("lockstep", ()), ("w4", (("windowsize", "4"),))):
            _n = "vanish_%s_%s_%s" % (_op.lower(), _how, _o)
            case(_n, ci=True, limit=45)(
                lambda ctx, o=_op, h=_how, op_=_opts, nm=_n: vanish_case(
                    ctx, o, h, op_, nm))


# ================================================================ runner


def summary(t_total):
    if RESULTS:
        info("loss matrix (case, seconds, sender DATA retransmits, probes, "
             "server outcome):")
        for r in sorted(RESULTS):
            info("  %-40s %8.2f s %7d %6d %s" % r)
    if RRESULTS:
        info("dup/reorder (case, seconds, duplicated, reordered, DATA "
             "resent, dupacks):")
        for r in sorted(RRESULTS):
            info("  %-40s %7.2f s %6d %6d %6d %6d" % r)
    info("total %.1f s" % t_total)


def main():
    global NETNS_PROBLEM
    ap = argparse.ArgumentParser(description="tftpx network-fault tests")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--ci", action="store_true",
                   help="the CI subset (default)")
    g.add_argument("--full", action="store_true", help="the whole matrix")
    ap.add_argument("-k", dest="k", action="append", default=None,
                    help="only cases whose name contains this substring "
                    "(repeatable: any of them)")
    ap.add_argument("-j", dest="jobs", type=int, default=None,
                    help="cases run at once (default 4, --full 8)")
    ap.add_argument("--list", action="store_true", help="list case names")
    ap.add_argument("--summary", action="store_true",
                    help="print a table of the figures at the end")
    a = ap.parse_args()
    faulthandler_register()
    os.chdir(REPO)
    cases = [c for c in CASES if (a.full or c[0] in CI) and
             (a.k is None or any(k in c[0] for k in a.k))]
    rc = list_or_check(cases, a.list, a.k)
    if rc is not None:
        return rc
    if any(c[0].startswith("loss_") for c in cases):
        NETNS_PROBLEM = netns_problem()
    budget = 6 * 3600 if a.full else 600
    # the longest first, so that they overlap with the many short ones
    cases.sort(key=lambda c: -c[4])
    r = Runner(cases, max(1, a.jobs or (8 if a.full else 4)),
                budget=budget, ipv6=False)

    def stop(signum, frame):
        with r.lock:
            running = list(r.running.values())
            r.done.update(c[0] for c in r.cases)
        sys.stdout.write("interrupted\n")
        sys.stdout.flush()
        for ctx in running:
            ctx.cleanup()
        run_exit_hooks()        # the namespaces (netns.delete_all)
        os._exit(1)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    t0 = time.monotonic()
    try:
        rc = r.run()
    finally:
        run_exit_hooks()
    if a.summary or a.full:
        summary(time.monotonic() - t0)
    return rc


def faulthandler_register():
    import faulthandler
    faulthandler.register(signal.SIGUSR1, all_threads=True)


if __name__ == "__main__":
    sys.exit(main())
