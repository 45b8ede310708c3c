#!/usr/bin/env python3
"""tests/e2e/run.py - end-to-end tests of ./tftpx (stdlib only).

Run from the repo root:  python3 tests/e2e/run.py [-k SUBSTRING] [--quick] [-j N]

Every case prints exactly one line: "PASS name", "FAIL name: reason" or
"SKIP name: reason".  Exit status 0 when nothing failed, else 1.

Each case gets its own temp root, its own `tftpx serve` on a random loopback
port (-l 127.0.0.1:0 / -l [::1]:0, the port read back from the "listening on"
line) and its own sockets; everything is torn down in a finally.  Raw-packet
cases talk to the server with a plain UDP socket and assert bytes, in the
style of FreeBSD's tftpd functional tests.  Traffic goes only to 127.0.0.1
and ::1.  A watchdog bounds every case and the whole suite.

The harness (Server, Peer, Ctx, packets, raw_get/raw_put, the runner) is
tests/lib/tftpx_test.py; this file holds the cases.
"""

import hashlib
import json
import os
import random
import re
import socket
import stat
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "lib"))
import tftpx_test  # noqa: E402
from tftpx_test import (  # noqa: E402
    ACK, BOTH, DATA, ERROR, MIB, OACK, OPNAMES, RRQ, TFTPX, WRQ, Fail,
    Server, Skip, abort, blk_of, case, check, counter, describe, err_of,
    expect_error, expect_oack, first_reply, free_udp_port, kill_proc, main,
    nascii_encode, oack_bytes, oack_opts, ok_run, op_of, outcome,
    param_case, pkt_ack, pkt_data, pkt_error, pkt_rrq, pkt_wrq, raw_get,
    raw_put, raw_receive, raw_setup, read_bytes, same_file,
    send_data_wait_ack, sha, temps_in, write_bytes, write_random)

# ---------------------------------------------------------------- test data


def ascii_sample():
    """Text with LF, CR, CRLF and a CR on each side of a 512-byte edge.

    On the wire (netascii) byte 511 is the CR of a CR LF pair (block edge
    inside a line end) and byte 1023 is the CR of a CR NUL pair (a bare CR
    split across blocks 2 and 3).  Ends in a bare CR.
    """
    t = b"x" * 511 + b"\n"
    t += b"plain lf\ncrlf line\r\nbare cr\rmore\n\n"
    pad = 1023 - len(nascii_encode(t))
    t += b"z" * pad + b"\r" + b"after bare cr\n"
    for i in range(60):
        t += b"line %d of the text file\n" % i
        if i % 7 == 0:
            t += b"with\r\nwindows\r\nending\r"
    t += b"tail\r"
    enc = nascii_encode(t)
    assert enc[511:513] == b"\r\n" and enc[1023:1025] == b"\r\0"
    return t


# ================================================================ cases
# ---------------------------------------------------------------- 1. client vs server

SIZES = [("0", 0), ("1", 1), ("511", 511), ("512", 512), ("513", 513),
         ("1M", MIB)]


def client_get(ctx, size, opts=(), server_args=(), name="f.bin",
               server_env=None):
    root = ctx.tmpdir("root")
    out = ctx.tmpdir("out")
    src = write_random(os.path.join(root, name), size)
    srv = ctx.server(root, *server_args, env=server_env)
    dst = os.path.join(out, "got.bin")
    r = ctx.tftpx("get", *opts, ctx.hp(srv.port), name, dst, timeout=90)
    ok_run(r, "tftpx get")
    bad = same_file(src, dst)
    check(bad is None, "downloaded file: %s" % bad)
    srv.expect_ok("RRQ", name)


def client_put(ctx, size, opts=(), server_args=("--upload",), name="up.bin"):
    root = ctx.tmpdir("root")
    loc = ctx.tmpdir("loc")
    src = write_random(os.path.join(loc, "src.bin"), size)
    srv = ctx.server(root, *server_args)
    r = ctx.tftpx("put", *opts, ctx.hp(srv.port), src, name, timeout=90)
    ok_run(r, "tftpx put")
    # The final ACK is held until the file is in place: check at once.
    bad = same_file(src, os.path.join(root, name))
    check(bad is None, "stored file right after put exited: %s" % bad)
    check(not temps_in(root), "temp files left: %s" % temps_in(root))
    srv.expect_ok("WRQ", name)


@param_case("client_get_size", BOTH, SIZES)
def _(ctx, size):
    client_get(ctx, size)


@param_case("client_put_size", BOTH, SIZES)
def _(ctx, size):
    client_put(ctx, size)


@case("client_get_70M_b512", heavy=True, limit=150)
def _(ctx):
    client_get(ctx, 70 * MIB, opts=("-b", "512"))


@case("client_put_70M_b512", heavy=True, limit=150)
def _(ctx):
    client_put(ctx, 70 * MIB, opts=("-b", "512"))


OPTSETS = [("b1468", ("-b", "1468")), ("b8", ("-b", "8")),
           ("b65464", ("-b", "65464")), ("w16_b1468", ("-w", "16", "-b", "1468")),
           ("tsize", ("--tsize",)), ("t2", ("-t", "2"))]


@param_case("client_get_1M", (4,), OPTSETS, limit=90)
def _(ctx, opts):
    client_get(ctx, MIB, opts=opts)


@param_case("client_put_1M", (4,), OPTSETS, limit=90)
def _(ctx, opts):
    client_put(ctx, MIB, opts=opts)


@param_case("client_get_1M", (6,), [("b1468_v6", ("-b", "1468")),
                                    ("w16_b1468_v6", ("-w", "16", "-b", "1468"))])
def _(ctx, opts):
    client_get(ctx, MIB, opts=opts)


@param_case("client_put_1M", (6,), [("b1468_v6", ("-b", "1468")),
                                    ("w16_b1468_v6", ("-w", "16", "-b", "1468"))])
def _(ctx, opts):
    client_put(ctx, MIB, opts=opts)


# A window leaves the server as one train (src/udp.c udp_send_train): one
# sendmsg with UDP_SEGMENT, or one sendmmsg where GSO is off
# (TFTPX_NO_GSO=1).  Sizes: 64 full trains, and a short last block; block
# sizes from 64 segments per train (512) to one packet per train (65464).
TRAINS = [("b512_w64", ("-b", "512", "-w", "64"), 512 * 64 * 8),
          ("b1468_w16", ("-b", "1468", "-w", "16"), 1468 * (16 * 20 + 5) + 99),
          ("b1468_w64", ("-b", "1468", "-w", "64"), 1468 * (64 * 3 + 50) + 1),
          ("b8192_w16", ("-b", "8192", "-w", "16"), 8192 * 40 + 8191),
          ("b65464_w4", ("-b", "65464", "-w", "4"), 65464 * 9 + 7),
          # shorter than one window, and whole windows only: the server
          # reads a window's blocks with one pread (io_read)
          ("b1468_w16_short", ("-b", "1468", "-w", "16"), 1468 * 3 + 5),
          ("b1468_w16_exact", ("-b", "1468", "-w", "16"), 1468 * 16 * 2)]


@param_case("client_get_train", BOTH,
            [("%s_%s" % (n, mode), (o, size, env))
             for n, o, size in TRAINS
             for mode, env in (("gso", None),
                               ("mmsg", {"TFTPX_NO_GSO": "1"}))])
def _(ctx, arg):
    opts, size, env = arg
    client_get(ctx, size, opts=opts, server_env=env)


@case("client_get_ascii", fams=BOTH)
def _(ctx):
    root = ctx.tmpdir("root")
    out = ctx.tmpdir("out")
    text = ascii_sample()
    write_bytes(os.path.join(root, "t.txt"), text)
    srv = ctx.server(root)
    dst = os.path.join(out, "t.txt")
    ok_run(ctx.tftpx("get", "--ascii", ctx.hp(srv.port), "t.txt", dst),
           "tftpx get --ascii")
    got = read_bytes(dst)
    check(got == text, "get --ascii gave %d bytes, expected the same %d "
          "bytes back (first difference at %s)" %
          (len(got), len(text), first_diff(got, text)))
    srv.expect_ok("RRQ", "t.txt")


@case("client_put_ascii", fams=BOTH)
def _(ctx):
    root = ctx.tmpdir("root")
    loc = ctx.tmpdir("loc")
    text = ascii_sample()
    src = write_bytes(os.path.join(loc, "t.txt"), text)
    srv = ctx.server(root, "--upload")
    ok_run(ctx.tftpx("put", "--ascii", ctx.hp(srv.port), src, "t.txt"),
           "tftpx put --ascii")
    got = read_bytes(os.path.join(root, "t.txt"))
    check(got == text, "server stored %d bytes, expected the same %d "
          "bytes (first difference at %s)" %
          (len(got), len(text), first_diff(got, text)))
    srv.expect_ok("WRQ", "t.txt")


def first_diff(a, b):
    for i in range(min(len(a), len(b))):
        if a[i] != b[i]:
            return "offset %d: %r vs %r" % (i, a[i:i + 8], b[i:i + 8])
    return "offset %d (length)" % min(len(a), len(b))


@case("client_get_stdout", fams=BOTH)
def _(ctx):
    root = ctx.tmpdir("root")
    src = write_random(os.path.join(root, "s.bin"), MIB + 3)
    srv = ctx.server(root)
    r = ctx.tftpx("get", ctx.hp(srv.port), "s.bin", "-")
    ok_run(r, "tftpx get ... -")
    data = r[1]
    check(len(data) == MIB + 3, "stdout had %d bytes, expected %d" %
          (len(data), MIB + 3))
    check(hashlib.sha256(data).hexdigest() == sha(src), "stdout sha256 differs")
    check(not os.path.exists(os.path.join(root, "-")), "created a file '-'")


@case("client_put_stdin_pipe", fams=BOTH)
def _(ctx):
    root = ctx.tmpdir("root")
    loc = ctx.tmpdir("loc")
    src = write_random(os.path.join(loc, "p.bin"), MIB + 5)
    srv = ctx.server(root, "--upload")
    cat = subprocess.Popen(["cat", src], stdout=subprocess.PIPE,
                           stdin=subprocess.DEVNULL)
    ctx.procs.append(cat)
    try:
        r = ctx.tftpx("put", ctx.hp(srv.port), "-", "piped.bin",
                      stdin=cat.stdout)
    finally:
        cat.stdout.close()
        kill_proc(cat)
    ok_run(r, "cat | tftpx put - piped.bin")
    bad = same_file(src, os.path.join(root, "piped.bin"))
    check(bad is None, "stored file: %s" % bad)
    srv.expect_ok("WRQ", "piped.bin")


@case("client_get_url", fams=BOTH)
def _(ctx):
    root = ctx.tmpdir("root")
    out = ctx.tmpdir("out")
    os.mkdir(os.path.join(root, "sub"))
    src = write_random(os.path.join(root, "sub", "u.bin"), 100000)
    srv = ctx.server(root)
    dst = os.path.join(out, "u.bin")
    url = "tftp://%s:%d/sub/u.bin" % (ctx.chost, srv.port)
    ok_run(ctx.tftpx("get", url, dst), "tftpx get " + url)
    bad = same_file(src, dst)
    check(bad is None, "downloaded file: %s" % bad)


@case("client_get_url_default_local")
def _(ctx):
    root = ctx.tmpdir("root")
    out = ctx.tmpdir("out")
    os.mkdir(os.path.join(root, "sub"))
    src = write_random(os.path.join(root, "sub", "u.bin"), 3000)
    srv = ctx.server(root)
    url = "tftp://%s:%d/sub/u.bin" % (ctx.chost, srv.port)
    ok_run(ctx.tftpx("get", url, cwd=out), "tftpx get " + url)
    bad = same_file(src, os.path.join(out, "u.bin"))
    check(bad is None, "LOCAL default (basename) file: %s" % bad)


@case("client_get_default_local")
def _(ctx):
    root = ctx.tmpdir("root")
    out = ctx.tmpdir("out")
    os.mkdir(os.path.join(root, "sub"))
    src = write_random(os.path.join(root, "sub", "b.bin"), 4000)
    srv = ctx.server(root)
    ok_run(ctx.tftpx("get", ctx.hp(srv.port), "sub/b.bin", cwd=out),
           "tftpx get HOST sub/b.bin")
    bad = same_file(src, os.path.join(out, "b.bin"))
    check(bad is None, "LOCAL default (basename of REMOTE): %s" % bad)


@case("client_put_default_remote")
def _(ctx):
    root = ctx.tmpdir("root")
    loc = ctx.tmpdir("loc")
    src = write_random(os.path.join(loc, "base.bin"), 4000)
    srv = ctx.server(root, "--upload")
    ok_run(ctx.tftpx("put", ctx.hp(srv.port), src), "tftpx put HOST LOCAL")
    bad = same_file(src, os.path.join(root, "base.bin"))
    check(bad is None, "REMOTE default (basename of LOCAL): %s" % bad)


@case("client_put_overwrite_replaces", fams=BOTH)
def _(ctx):
    root = ctx.tmpdir("root")
    loc = ctx.tmpdir("loc")
    write_random(os.path.join(root, "o.bin"), 50000)
    src = write_random(os.path.join(loc, "new.bin"), 20000)
    srv = ctx.server(root, "--overwrite")
    ok_run(ctx.tftpx("put", ctx.hp(srv.port), src, "o.bin"),
           "tftpx put (overwrite)")
    bad = same_file(src, os.path.join(root, "o.bin"))
    check(bad is None, "replaced file: %s" % bad)
    check(not temps_in(root), "temp files left: %s" % temps_in(root))


@case("client_put_existing_needs_overwrite")
def _(ctx):
    root = ctx.tmpdir("root")
    loc = ctx.tmpdir("loc")
    old = write_random(os.path.join(root, "o.bin"), 5000)
    before = read_bytes(old)
    src = write_random(os.path.join(loc, "new.bin"), 2000)
    srv = ctx.server(root, "--upload")
    rc, _, err, _ = ctx.tftpx("put", ctx.hp(srv.port), src, "o.bin")
    check(rc == 1, "exit %d, expected 1; stderr: %s" % (rc, err.strip()))
    check("--overwrite" in err, "stderr lacks the server's text "
          "mentioning --overwrite: %r" % err.strip())
    check(read_bytes(old) == before, "existing file changed")


@case("client_put_without_upload")
def _(ctx):
    root = ctx.tmpdir("root")
    loc = ctx.tmpdir("loc")
    src = write_random(os.path.join(loc, "new.bin"), 2000)
    srv = ctx.server(root)
    rc, _, err, _ = ctx.tftpx("put", ctx.hp(srv.port), src, "new.bin")
    check(rc == 1, "exit %d, expected 1; stderr: %s" % (rc, err.strip()))
    check("--upload" in err, "stderr lacks the server's text mentioning "
          "--upload: %r" % err.strip())
    check(not os.path.exists(os.path.join(root, "new.bin")), "file created")


# ---------------------------------------------------------------- 2. raw packets
# The raw client (raw_setup, raw_get, raw_put, ...) is in the harness.


@case("raw_oack_exact_blksize_tsize", fams=BOTH)
def _(ctx):
    size = 100000
    root, srv, peer = raw_setup(ctx, {"a.bin": size})
    pkt, tid = first_reply(peer, srv, pkt_rrq("a.bin", "octet",
                                              [("blksize", 1468), ("tsize", 0)]))
    want = b"\x00\x06blksize\x001468\x00tsize\x00%d\x00" % size
    expect_oack(peer, tid, pkt, want)
    check(tid != srv.port, "reply came from the listening port %d, not a "
          "new TID" % tid)
    peer.send(pkt_ack(0), tid)
    data = raw_receive(peer, tid, None, 1468)
    check(data == read_bytes(os.path.join(root, "a.bin")), "content differs")
    srv.expect_ok("RRQ", "a.bin", peer.port)


@case("raw_oack_order", fams=BOTH)
def _(ctx):
    root, srv, peer = raw_setup(ctx, {"a.bin": 9000})
    pkt, tid = first_reply(peer, srv, pkt_rrq(
        "a.bin", "octet", [("rollover", 0), ("windowsize", 4), ("tsize", 0),
                           ("timeout", 3), ("blksize", 1024)]))
    want = oack_bytes([("blksize", 1024), ("timeout", 3), ("tsize", 9000),
                       ("windowsize", 4), ("rollover", 0)])
    abort(peer, tid)
    expect_oack(peer, tid, pkt, want)


@case("raw_oack_unknown_option_dropped", fams=BOTH)
def _(ctx):
    root, srv, peer = raw_setup(ctx, {"a.bin": 3000})
    pkt, tid = first_reply(peer, srv, pkt_rrq(
        "a.bin", "octet", [("foo", "bar"), ("blksize", 1024)]))
    abort(peer, tid)
    want = oack_bytes([("blksize", 1024)])
    expect_oack(peer, tid, pkt, want)


@case("raw_oack_uppercase_name", fams=BOTH)
def _(ctx):
    root, srv, peer = raw_setup(ctx, {"a.bin": 3000})
    pkt, tid = first_reply(peer, srv, pkt_rrq("a.bin", "octet",
                                              [("BLKSIZE", 1024)]))
    abort(peer, tid)
    want = oack_bytes([("blksize", 1024)])
    expect_oack(peer, tid, pkt, want)


@param_case("raw_option_ignored", BOTH,
            [("blksize_7", [("blksize", 7)]),
             ("blksize_65465", [("blksize", 65465)]),
             ("blksize_abc", [("blksize", "abc")]),
             ("blksize_empty", [("blksize", "")]),
             ("windowsize_70000", [("windowsize", 70000)]),
             ("windowsize_0", [("windowsize", 0)]),
             ("timeout_0", [("timeout", 0)]),
             ("timeout_256", [("timeout", 256)]),
             ("rollover_2", [("rollover", 2)]),
             ("unknown_only", [("frobnicate", 1)])])
def _(ctx, opts):
    root, srv, peer = raw_setup(ctx, {"a.bin": 1500})
    pkt, tid = first_reply(peer, srv, pkt_rrq("a.bin", "octet", opts))
    abort(peer, tid)
    check(op_of(pkt) == DATA and blk_of(pkt) == 1,
          "expected DATA 1 directly (option %r ignored), got %s" %
          (opts, describe(pkt)))
    check(len(pkt) == 4 + 512, "DATA 1 has %d bytes, expected 512" %
          (len(pkt) - 4))
    check(pkt[4:] == read_bytes(os.path.join(root, "a.bin"))[:512],
          "DATA 1 content differs")


@param_case("raw_blksize_accepted", BOTH, [("8", 8), ("65464", 65464)])
def _(ctx, bs):
    root, srv, peer = raw_setup(ctx, {"a.bin": 70000})
    pkt, tid = first_reply(peer, srv, pkt_rrq("a.bin", "octet",
                                              [("blksize", bs)]))
    want = oack_bytes([("blksize", bs)])
    expect_oack(peer, tid, pkt, want)
    peer.send(pkt_ack(0), tid)
    d, src = peer.expect(3.0, "DATA 1")
    abort(peer, tid)
    check(op_of(d) == DATA and blk_of(d) == 1 and len(d) == 4 + bs,
          "expected DATA 1 of %d bytes, got %s" % (bs, describe(d)))
    check(d[4:] == read_bytes(os.path.join(root, "a.bin"))[:bs],
          "DATA 1 content differs")


@case("raw_windowsize_clamped_64", fams=BOTH)
def _(ctx):
    root, srv, peer = raw_setup(ctx, {"a.bin": 3000})
    pkt, tid = first_reply(peer, srv, pkt_rrq("a.bin", "octet",
                                              [("windowsize", 1000)]))
    abort(peer, tid)
    want = oack_bytes([("windowsize", 64)])
    expect_oack(peer, tid, pkt, want)


def e1000_get(peer, port, name, window, blksize=512, limit=60.0,
              uboot_order=False, keep=2, seen=None):
    """A U-Boot-like client behind a NIC that keeps one packet waiting
    (U-Boot's e1000 under QEMU, doc/notes/uboot-e1000.md): of the datagrams
    already queued when it reads one, it takes one more and drops the
    rest (keep=None: a NIC that takes them all).  It answers every OACK
    with ACK 0 and takes its windowsize, as U-Boot does.  It ACKs on its
    grid (every `window` blocks, from its last ACK) and at the end; a
    block out of order draws one ACK of its last in-order block (once per
    block), which re-bases the grid.  uboot_order: the options in U-Boot's
    order, timeout first.  The windowsize of each OACK it took is
    appended to `seen`.  Returns (file bytes, granted windowsize)."""
    opts = [("blksize", blksize), ("windowsize", window)]
    if uboot_order:
        opts = [("timeout", 5)] + opts
    peer.send(pkt_rrq(name, opts=opts), port)
    tid, w = None, 1
    cur, next_ack, last_nack, chunks = 0, 1, -1, []
    deadline = time.monotonic() + limit
    while True:
        check(time.monotonic() < deadline, "e1000-like get not done in "
              "%.0f s (%d blocks)" % (limit, cur))
        pkt, src = peer.expect(5, "an OACK" if tid is None else "DATA")
        if tid is None:
            # U-Boot is busy a while after a packet: let a burst land
            time.sleep(0.02)
        got = [(pkt, src)]
        peer.s.setblocking(False)
        try:
            while True:
                extra = peer.s.recvfrom(70000)
                if keep is None or len(got) < keep:
                    got.append((extra[0], extra[1][1]))
        except (BlockingIOError, InterruptedError):
            pass
        for pkt, src in got:
            if tid is None and op_of(pkt) == OACK:
                tid = src
            if src != tid:
                continue
            if op_of(pkt) == OACK and cur == 0:
                w = int(dict(oack_opts(pkt)).get("windowsize", 1))
                next_ack = w
                if seen is not None:
                    seen.append(w)
                peer.send(pkt_ack(0), tid)
                continue
            if op_of(pkt) != DATA:
                continue
            if blk_of(pkt) != (cur + 1) & 0xFFFF:
                if last_nack != cur:
                    peer.send(pkt_ack(cur & 0xFFFF), tid)
                    last_nack, next_ack = cur, cur + w
                continue
            cur += 1
            chunks.append(pkt[4:])
            if len(pkt) - 4 < blksize:
                peer.send(pkt_ack(cur & 0xFFFF), tid)
                return b"".join(chunks), w
            if cur == next_ack:
                peer.send(pkt_ack(cur & 0xFFFF), tid)
                next_ack += w


@case("raw_window_tail_losing_host_narrowed", limit=240)
def _(ctx):
    """A host whose windows kept losing their tails gets windowsize 1 on
    its next download (for ten minutes): windows cost such a NIC probes
    and are no faster than lock-step.  A host that keeps up keeps its
    windows.  The fake NIC drops what queued while it was busy, so on a
    loaded machine a download's losses can fall mid-window (gaps, which
    do not narrow) instead of at the tails: the host gets up to four
    windowed downloads to show its tails, and must be narrowed by then
    (unloaded: after the first)."""
    root = ctx.tmpdir("root")
    src = write_random(os.path.join(root, "f.bin"), 512 * 8 * 200 + 99)
    srv = ctx.server(root, "-v")
    # a client that keeps up, first: its next download keeps the window
    for _ in range(2):
        r = ctx.tftpx("get", "-w", "8", ctx.hp(srv.port), "f.bin",
                      os.path.join(ctx.tmpdir("out"), "f.bin"), timeout=60)
        ok_run(r, "tftpx get -w 8")
    def ends():
        with srv.cv:
            return [l for l in srv.lines if 'RRQ "f.bin"' in l and
                    outcome(l) is not None]
    srv.wait_for(lambda l: len(ends()) >= 2, 10)
    ends = ends()
    check(len(ends) == 2 and all("windowsize=8" in l for l in ends),
          "a client that keeps up lost its window: %r" % ends)
    # the e1000-like client: its first download is windowed and loses
    # tails; its next one, from another port, is granted windowsize 1
    # (match its own port: under ASan a "keeps up" download above may
    # have needed a probe or two as well)
    peer = ctx.peer()
    data, w = e1000_get(peer, srv.port, "f.bin", 8)
    check(w == 8, "first download granted windowsize %d, not 8" % w)
    check(data == read_bytes(src), "first download: wrong bytes")
    end = srv.expect_ok("RRQ", "f.bin", peer.port, timeout=10)
    check(counter(end, "answered") >= 8, "only %s windows recovered by a "
          "probe: %r" % (counter(end, "answered"), end))
    narrowed = None
    for n in range(2, 6):
        data, w = e1000_get(ctx.peer(), srv.port, "f.bin", 8)
        check(data == read_bytes(src), "download %d: wrong bytes" % n)
        if w == 1:
            narrowed = n
            break
        check(w == 8, "download %d granted windowsize %d" % (n, w))
    print("INFO raw_window_tail_losing_host_narrowed: narrowed at "
          "download %s" % narrowed)
    check(narrowed is not None, "downloads 2 to 5 of a host whose windows "
          "lose their tails were all granted windowsize 8")
    l = srv.wait_for(lambda l: "windowsize 8->1 (this host's windows lost "
                     "their tails lately)" in l, 5)
    check(l is not None, "-v does not say why: %s" % srv.tail())


@case("raw_uboot_burst_dropping_nic_gets_window_1", limit=120)
def _(ctx):
    """U-Boot's request (timeout first) asking windowsize 8 is sent the
    OACK three times back to back.  A NIC that keeps one packet waiting
    lets two through, so two ACK 0s come back: a second OACK grants
    windowsize 1 before DATA 1, and the download runs in lock-step with
    nothing re-sent.  The host is remembered: its next download gets
    windowsize 1 in its only OACK."""
    root = ctx.tmpdir("root")
    src = write_random(os.path.join(root, "f.bin"), 512 * 8 * 40 + 99)
    srv = ctx.server(root, "-v")
    peer = ctx.peer()
    seen = []
    data, w = e1000_get(peer, srv.port, "f.bin", 8, uboot_order=True,
                        seen=seen)
    check(data == read_bytes(src), "wrong bytes")
    check(seen == [8, 8, 1], "OACK windowsizes taken: %r, expected "
          "[8, 8, 1] (two of a burst of three, then windowsize 1)" % seen)
    end = srv.expect_ok("RRQ", "f.bin", peer.port, timeout=10)
    check("windowsize=1" in end and counter(end, "retransmits") == 0,
          "end line: %r" % end)
    l = srv.wait_for(lambda l: "windowsize 8->1: the client answered 2 of "
                     "3 back-to-back OACKs (its NIC drops bursts)" in l, 5)
    check(l is not None, "-v does not say why: %s" % srv.tail())
    seen = []
    data, w = e1000_get(ctx.peer(), srv.port, "f.bin", 8, uboot_order=True,
                        seen=seen)
    check(data == read_bytes(src), "second download: wrong bytes")
    check(seen == [1], "second download: OACKs %r, expected [1]" % seen)
    l = srv.wait_for(lambda l: "windowsize 8->1 (this host's NIC dropped "
                     "back-to-back packets lately)" in l, 5)
    check(l is not None, "-v does not say why: %s" % srv.tail())
    # --log-format json: a "narrowed" event
    srv = ctx.server(root, "-v", "--log-format", "json")
    data, w = e1000_get(ctx.peer(), srv.port, "f.bin", 8, uboot_order=True)
    check(data == read_bytes(src) and w == 1, "json server: wrong bytes "
          "or windowsize %d" % w)
    l = srv.wait_for(lambda l: '"narrowed"' in l, 5)
    check(l is not None, "no narrowed event: %s" % srv.tail())
    ev = json.loads(l)
    check(ev.get("windowsize") == 1 and ev.get("oack_copies") == 3 and
          ev.get("answered") == 2 and ev.get("file") == "f.bin",
          "narrowed event %r" % ev)


@case("raw_uboot_burst_nic_keeps_up")
def _(ctx):
    """A U-Boot request whose NIC takes a whole burst answers all three
    OACK copies and keeps windowsize 8, with no probe.  A request in
    another client's order gets one OACK."""
    root = ctx.tmpdir("root")
    src = write_random(os.path.join(root, "f.bin"), 512 * 8 * 40 + 99)
    srv = ctx.server(root)
    for uboot_order, want in ((True, [8, 8, 8]), (False, [8])):
        peer = ctx.peer()
        seen = []
        data, w = e1000_get(peer, srv.port, "f.bin", 8, keep=None,
                            uboot_order=uboot_order, seen=seen)
        check(data == read_bytes(src), "wrong bytes")
        check(seen == want, "uboot_order=%s: OACK windowsizes %r, "
              "expected %r" % (uboot_order, seen, want))
        end = srv.expect_ok("RRQ", "f.bin", peer.port, timeout=10)
        check("windowsize=8" in end, "end line: %r" % end)


@case("raw_windowsize_max_flag")
def _(ctx):
    root, srv, peer = raw_setup(ctx, {"a.bin": 3000},
                                args=("--windowsize-max", "8"))
    pkt, tid = first_reply(peer, srv, pkt_rrq("a.bin", "octet",
                                              [("windowsize", 16)]))
    want = oack_bytes([("windowsize", 8)])
    expect_oack(peer, tid, pkt, want)
    abort(peer, tid)


@case("raw_blksize_max_flag")
def _(ctx):
    root, srv, peer = raw_setup(ctx, {"a.bin": 3000},
                                args=("--blksize-max", "1024"))
    pkt, tid = first_reply(peer, srv, pkt_rrq("a.bin", "octet",
                                              [("blksize", 1468)]))
    want = oack_bytes([("blksize", 1024)])
    expect_oack(peer, tid, pkt, want)
    abort(peer, tid)


@case("raw_timeout_option_echoed", fams=BOTH)
def _(ctx):
    root, srv, peer = raw_setup(ctx, {"a.bin": 3000})
    pkt, tid = first_reply(peer, srv, pkt_rrq("a.bin", "octet",
                                              [("timeout", 5)]))
    abort(peer, tid)
    want = oack_bytes([("timeout", 5)])
    expect_oack(peer, tid, pkt, want)


@case("raw_tsize_empty_file", fams=BOTH)
def _(ctx):
    root, srv, peer = raw_setup(ctx, {"empty.bin": b""})
    pkt, tid = first_reply(peer, srv, pkt_rrq("empty.bin", "octet",
                                              [("tsize", 0)]))
    check(op_of(pkt) == DATA and blk_of(pkt) == 1 and len(pkt) == 4,
          "expected DATA 1 of 0 bytes (no OACK), got %s" % describe(pkt))
    peer.send(pkt_ack(1), tid)
    srv.expect_ok("RRQ", "empty.bin", peer.port)


@case("raw_tsize_empty_file_with_blksize", fams=BOTH)
def _(ctx):
    root, srv, peer = raw_setup(ctx, {"empty.bin": b""})
    pkt, tid = first_reply(peer, srv, pkt_rrq(
        "empty.bin", "octet", [("blksize", 1024), ("tsize", 0)]))
    want = oack_bytes([("blksize", 1024)])
    expect_oack(peer, tid, pkt, want)
    peer.send(pkt_ack(0), tid)
    d, _ = peer.expect(3.0, "DATA 1")
    check(op_of(d) == DATA and blk_of(d) == 1 and len(d) == 4,
          "expected DATA 1 of 0 bytes, got %s" % describe(d))
    peer.send(pkt_ack(1), tid)
    srv.expect_ok("RRQ", "empty.bin", peer.port)


@case("raw_tsize_netascii_left_out", fams=BOTH)
def _(ctx):
    root, srv, peer = raw_setup(ctx, {"t.txt": b"hello\nworld\n"})
    pkt, tid = first_reply(peer, srv, pkt_rrq("t.txt", "netascii",
                                              [("tsize", 0)]))
    abort(peer, tid)
    check(op_of(pkt) == DATA and blk_of(pkt) == 1,
          "expected DATA 1 directly (tsize left out in netascii), got %s" %
          describe(pkt))
    check(pkt[4:] == b"hello\r\nworld\r\n", "netascii DATA %r" % pkt[4:])


@param_case("raw_mode_rejected", BOTH, [("mail", "mail"), ("foo", "foo"),
                                        ("MAIL", "MAIL")])
def _(ctx, mode):
    root, srv, peer = raw_setup(ctx, {"a.bin": 100})
    pkt, tid = first_reply(peer, srv, pkt_rrq("a.bin", mode))
    expect_error(pkt, 4)


@param_case("raw_mode_case_insensitive", BOTH,
            [("OcTeT", ("OcTeT", b"a\nb")), ("NETASCII", ("NETASCII", b"a\r\nb"))])
def _(ctx, arg):
    mode, want = arg
    root, srv, peer = raw_setup(ctx, {"a.txt": b"a\nb"})
    pkt, tid = first_reply(peer, srv, pkt_rrq("a.txt", mode))
    check(op_of(pkt) == DATA and blk_of(pkt) == 1,
          "mode %r: expected DATA 1, got %s" % (mode, describe(pkt)))
    check(pkt[4:] == want, "mode %r: DATA %r, expected %r" %
          (mode, pkt[4:], want))
    peer.send(pkt_ack(1), tid)
    srv.expect_ok("RRQ", "a.txt", peer.port)


@case("raw_missing_file", fams=BOTH)
def _(ctx):
    root, srv, peer = raw_setup(ctx, {})
    pkt, tid = first_reply(peer, srv, pkt_rrq("nope.bin"))
    expect_error(pkt, 1)
    l = srv.xfer_line("RRQ", "nope.bin", peer.port)
    check(l is not None and outcome(l) == "error 1",
          "expected a log line ending 'error 1: ...', got %r" % (l,))


@case("raw_wrq_without_upload", fams=BOTH)
def _(ctx):
    root, srv, peer = raw_setup(ctx, {})
    pkt, tid = first_reply(peer, srv, pkt_wrq("new.bin"))
    expect_error(pkt, 2, "--upload")
    check(not os.path.exists(os.path.join(root, "new.bin")), "file created")


@case("raw_wrq_existing_without_overwrite", fams=BOTH)
def _(ctx):
    root, srv, peer = raw_setup(ctx, {"e.bin": b"old"}, args=("--upload",))
    pkt, tid = first_reply(peer, srv, pkt_wrq("e.bin"))
    expect_error(pkt, 6, "--overwrite")
    check(read_bytes(os.path.join(root, "e.bin")) == b"old", "file changed")


@case("raw_wrq_plain", fams=BOTH)
def _(ctx):
    root, srv, peer = raw_setup(ctx, {}, args=("--upload",))
    content = os.urandom(512 * 3 + 100)
    dst = os.path.join(root, "w.bin")
    seen = []

    def before_last():
        seen.append(os.path.exists(dst))
    raw_put(peer, srv, "w.bin", content, before_last=before_last)
    check(seen == [False], "new name visible before the upload completed")
    check(os.path.exists(dst) and read_bytes(dst) == content,
          "file not in place (or wrong) when the final ACK arrived")
    check(not temps_in(root), "temp files left: %s" % temps_in(root))
    srv.expect_ok("WRQ", "w.bin", peer.port)


@case("raw_wrq_oack_tsize_echo", fams=BOTH)
def _(ctx):
    root, srv, peer = raw_setup(ctx, {}, args=("--upload",))
    content = os.urandom(5000)
    peer.send(pkt_wrq("t.bin", "octet", [("blksize", 1024),
                                         ("tsize", len(content))]), srv.port)
    pkt, tid = peer.expect(3.0, "OACK")
    want = oack_bytes([("blksize", 1024), ("tsize", len(content))])
    expect_oack(peer, tid, pkt, want)
    for i in range(0, 5):
        send_data_wait_ack(peer, tid, i + 1, content[i * 1024:(i + 1) * 1024])
    check(read_bytes(os.path.join(root, "t.bin")) == content,
          "stored content differs")


@case("raw_wrq_windowsize", fams=BOTH)
def _(ctx):
    root, srv, peer = raw_setup(ctx, {}, args=("--upload",))
    content = os.urandom(512 * 6 + 7)
    peer.send(pkt_wrq("win.bin", "octet", [("windowsize", 4)]), srv.port)
    pkt, tid = peer.expect(3.0, "OACK")
    want = oack_bytes([("windowsize", 4)])
    expect_oack(peer, tid, pkt, want)
    for n in range(1, 5):
        peer.send(pkt_data(n, content[(n - 1) * 512:n * 512]), tid)
    acks = [blk_of(p) for p, s, _ in peer.drain(0.5)
            if s == tid and op_of(p) == ACK]
    check(4 in acks, "after a window of DATA 1-4 expected ACK 4, got ACKs "
          "%r" % acks)
    for n in range(5, 8):
        peer.send(pkt_data(n, content[(n - 1) * 512:n * 512]), tid)
    acks = [blk_of(p) for p, s, _ in peer.drain(0.5)
            if s == tid and op_of(p) == ACK]
    check(7 in acks, "after the last DATA 7 expected ACK 7, got %r" % acks)
    check(read_bytes(os.path.join(root, "win.bin")) == content,
          "stored content differs")


@param_case("raw_refused", BOTH,
            [("directory", ("sub", (2,))),
             ("fifo", ("fifo", (2,))),
             ("dotdot", ("../etc/passwd", (2,))),
             ("dotdot_inner", ("sub/../../etc/passwd", (2,))),
             ("symlink_escape", ("link", (1, 2)))])
def _(ctx, arg):
    name, codes = arg
    root, srv, peer = raw_setup(ctx, {"sub/x": b"x"})
    os.mkfifo(os.path.join(root, "fifo"))
    os.symlink("/etc/passwd", os.path.join(root, "link"))
    pkt, tid = first_reply(peer, srv, pkt_rrq(name))
    if op_of(pkt) != ERROR:
        abort(peer, tid)
    check(op_of(pkt) == ERROR, "RRQ %r: expected ERROR %s, got %s" %
          (name, "/".join(map(str, codes)), describe(pkt)))
    c, msg = err_of(pkt)
    check(c in codes, "RRQ %r: ERROR code %d (%r), expected %s" %
          (name, c, msg, "/".join(map(str, codes))))
    # the server must still be alive and serving
    data, _, _ = raw_get(ctx.peer(), srv, "sub/x")
    check(data == b"x", "server no longer serves after the refusal")


@case("raw_wrq_dotdot", fams=BOTH)
def _(ctx):
    root, srv, peer = raw_setup(ctx, {}, args=("--overwrite",))
    outside = os.path.join(os.path.dirname(root),
                           "evil-%d" % os.getpid())
    rel = "../" + os.path.basename(outside)
    try:
        pkt, tid = first_reply(peer, srv, pkt_wrq(rel))
        if op_of(pkt) != ERROR:
            abort(peer, tid)
        expect_error(pkt, 2)
        time.sleep(0.1)
        check(not os.path.exists(outside), "file created outside the root")
    finally:
        if os.path.exists(outside):
            os.unlink(outside)


@case("raw_leading_slash", fams=BOTH)
def _(ctx):
    root, srv, peer = raw_setup(ctx, {"sub/f.bin": 2000, "top.bin": 700})
    data, _, _ = raw_get(peer, srv, "/sub/f.bin")
    check(data == read_bytes(os.path.join(root, "sub/f.bin")),
          "/sub/f.bin content differs")
    data, _, _ = raw_get(ctx.peer(), srv, "/top.bin")
    check(data == read_bytes(os.path.join(root, "top.bin")),
          "/top.bin content differs")


@case("raw_foreign_tid", fams=BOTH)
def _(ctx):
    content = os.urandom(512 * 3 + 10)
    root, srv, peer = raw_setup(ctx, {"a.bin": content})
    other = ctx.peer()
    peer.send(pkt_rrq("a.bin"), srv.port)
    pkt, tid = peer.expect(3.0, "DATA 1")
    check(op_of(pkt) == DATA and blk_of(pkt) == 1, "got %s" % describe(pkt))
    other.send(pkt_ack(1), tid)
    e, src = other.expect(3.0, "ERROR 5 at the foreign port")
    check(src == tid, "ERROR came from port %d, not the TID %d" % (src, tid))
    expect_error(e, 5)
    # The real transfer goes on: nothing extra reached the real client
    # except perhaps a timeout retransmission of DATA 1.
    data = raw_receive(peer, tid, pkt)
    check(data == content, "content differs after the foreign packet")
    srv.expect_ok("RRQ", "a.bin", peer.port)


@case("raw_reply_from_address_reached")
def _(ctx):
    # A server on the wildcard address must answer from the local address
    # the request reached (IP_PKTINFO), not from whatever the routing table
    # prefers: on a host with two NICs the client would drop the reply.
    # All of 127/8 is local, so 127.0.0.2 plays the second NIC.
    content = os.urandom(700)
    root = ctx.tmpdir("root")
    write_bytes(os.path.join(root, "a.bin"), content)
    srv = ctx.server(root, listens=["0.0.0.0:0"])
    for dst in ("127.0.0.2", "127.0.0.1"):
        # a fresh port each time: a repeat from one port is a duplicate
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        ctx.socks.append(s)
        s.bind(("127.0.0.1", 0))
        s.settimeout(3.0)
        s.sendto(pkt_rrq("a.bin"), (dst, srv.port))
        try:
            pkt, src = s.recvfrom(70000)
        except socket.timeout:
            raise Fail("no DATA 1 for a request sent to %s" % dst)
        check(op_of(pkt) == DATA and blk_of(pkt) == 1,
              "got %s" % describe(pkt))
        check(src[0] == dst, "request reached %s but the reply came from "
              "%s" % (dst, src[0]))
        s.sendto(pkt_ack(1), src)
        pkt, src2 = s.recvfrom(70000)
        check(src2 == src and blk_of(pkt) == 2, "transfer did not go on")
        s.sendto(pkt_ack(2), src)


@case("raw_dup_ack_no_sorcerer", fams=BOTH)
def _(ctx):
    content = os.urandom(512 * 2 + 100)
    # classic timers, so that any extra DATA 2 within the window below
    # could only answer the duplicate ACK
    root, srv, peer = raw_setup(ctx, {"a.bin": content},
                                args=("--timeout", "2", "--classic-timers"))
    peer.send(pkt_rrq("a.bin"), srv.port)
    pkt, tid = peer.expect(3.0, "DATA 1")
    check(op_of(pkt) == DATA and blk_of(pkt) == 1, "got %s" % describe(pkt))
    t0 = time.monotonic()
    peer.send(pkt_ack(1), tid)
    peer.send(pkt_ack(1), tid)
    got = peer.drain(0.5)
    desc = ["%s at +%.3f s" % (describe(p), t - t0) for p, s, t in got]
    d2 = [p for p, s, t in got if op_of(p) == DATA and blk_of(p) == 2]
    check(len(d2) == 1 and len(got) == 1,
          "after ACK 1 twice expected exactly one DATA 2 within 0.5 s, got "
          "%s" % (desc or "nothing"))
    # finish the transfer
    peer.send(pkt_ack(2), tid)
    p3, _ = peer.expect(3.0, "DATA 3")
    check(op_of(p3) == DATA and blk_of(p3) == 3, "got %s" % describe(p3))
    peer.send(pkt_ack(3), tid)
    l = srv.expect_ok("RRQ", "a.bin", peer.port)
    rt, da = counter(l, "retransmits"), counter(l, "dupacks")
    check(rt == 0, "log says retransmits=%s, expected 0: %r" % (rt, l))
    check(da is not None and da >= 1,
          "log says dupacks=%s, expected >= 1: %r" % (da, l))


@case("raw_lost_ack_retransmit", fams=BOTH)
def _(ctx):
    content = os.urandom(600)
    root, srv, peer = raw_setup(ctx, {"a.bin": content},
                                args=("--timeout", "1"))
    peer.send(pkt_rrq("a.bin"), srv.port)
    pkt, tid = peer.expect(3.0, "DATA 1")
    t0 = time.monotonic()
    check(op_of(pkt) == DATA and blk_of(pkt) == 1, "got %s" % describe(pkt))
    again, src = peer.expect(4.0, "retransmitted DATA 1")
    dt = time.monotonic() - t0
    check(src == tid and again == pkt, "expected the same DATA 1 again, got "
          "%s from port %d" % (describe(again), src))
    check(0.5 <= dt <= 2.5, "DATA 1 re-sent after %.2f s, expected ~1 s "
          "(--timeout 1)" % dt)
    data = raw_receive(peer, tid, again)
    check(data == content, "content differs")
    l = srv.expect_ok("RRQ", "a.bin", peer.port)
    rt = counter(l, "retransmits")
    check(rt is not None and rt >= 1, "log says retransmits=%s: %r" % (rt, l))


@case("raw_file_truncated_mid_transfer", fams=BOTH)
def _(ctx):
    # A file read by two transfers at once is mapped (files.c
    # files_shared_read): truncated in place under its readers, it faults
    # with SIGBUS on the pages past its new end.  The transfer must end
    # with an ERROR and the server serve on, not die.
    big = os.urandom(64 * 1024)
    root, srv, peer = raw_setup(ctx, {"big.bin": big, "b.bin": 3000})
    other = ctx.peer()
    other.send(pkt_rrq("big.bin"), srv.port)
    pkt, _ = other.expect(3.0, "DATA 1 to the second reader")
    check(op_of(pkt) == DATA, "got %s" % describe(pkt))
    peer.send(pkt_rrq("big.bin", opts=(("blksize", "1024"),)), srv.port)
    pkt, tid = peer.expect(3.0, "OACK")
    check(op_of(pkt) == OACK, "got %s" % describe(pkt))
    peer.send(pkt_ack(0), tid)
    for n in range(1, 13):
        pkt, src = peer.expect(3.0, "DATA %d" % n)
        check(op_of(pkt) == DATA and blk_of(pkt) == n and
              pkt[4:] == big[(n - 1) * 1024:n * 1024],
              "expected DATA %d of the file, got %s" % (n, describe(pkt)))
        if n < 12:
            peer.send(pkt_ack(n), tid)
    os.truncate(os.path.join(root, "big.bin"), 100)
    peer.send(pkt_ack(12), tid)
    pkt, src = peer.expect(3.0, "the answer to ACK 12")
    expect_error(pkt, 0, "read error")
    data, _, _ = raw_get(peer, srv, "b.bin")
    check(data == open(os.path.join(root, "b.bin"), "rb").read(),
          "the next transfer's content differs")
    check(srv.p.poll() is None, "the server died")


@case("raw_dup_rrq_one_tid", fams=BOTH)
def _(ctx):
    root, srv, peer = raw_setup(ctx, {"a.bin": 5000})
    req = pkt_rrq("a.bin")
    for _ in range(3):
        peer.send(req, srv.port)
    got = peer.drain(1.0)
    ports = sorted(set(s for p, s, _ in got))
    for s in ports:
        abort(peer, s)
    check(got, "no reply to RRQ")
    check(len(ports) == 1, "RRQ sent 3 times: %d server TIDs answered "
          "(ports %r)" % (len(ports), ports))


@case("raw_dup_wrq_one_tid", fams=BOTH)
def _(ctx):
    root, srv, peer = raw_setup(ctx, {}, args=("--upload",))
    req = pkt_wrq("d.bin")
    for _ in range(3):
        peer.send(req, srv.port)
    got = peer.drain(0.5)
    ports = sorted(set(s for p, s, _ in got))
    if len(ports) != 1:
        for s in ports:
            abort(peer, s)
    check(got, "no reply to WRQ")
    check(len(ports) == 1, "WRQ sent 3 times: %d server TIDs answered "
          "(ports %r)" % (len(ports), ports))
    tid = ports[0]
    content = os.urandom(512 * 3 + 1)
    for n in range(1, 5):
        send_data_wait_ack(peer, tid, n, content[(n - 1) * 512:n * 512])
    check(read_bytes(os.path.join(root, "d.bin")) == content,
          "stored content differs (truncated upload?)")
    srv.expect_ok("WRQ", "d.bin", peer.port)
    time.sleep(0.3)
    wrq = [l for l in srv.lines if " WRQ " in l and '"d.bin"' in l]
    check(len(wrq) == 1, "expected one WRQ log line, got %r" % wrq)


ROLL_SIZE = (65536 + 2) * 8


@param_case("raw_rollover", (4,), [("default", 0), ("1", 1)], limit=90)
def _(ctx, ro):
    content = os.urandom(ROLL_SIZE)
    root, srv, peer = raw_setup(ctx, {"r.bin": content})
    opts = [("blksize", 8), ("windowsize", 64)]
    if ro:
        opts.append(("rollover", 1))
    numbers = []
    peer.send(pkt_rrq("r.bin", "octet", opts), srv.port)
    pkt, tid = peer.expect(3.0, "OACK")
    want = oack_bytes(opts)
    expect_oack(peer, tid, pkt, want)
    peer.send(pkt_ack(0), tid)
    data = raw_receive(peer, tid, None, 8, 64, ro, 60.0, numbers)
    around = numbers[65533:65539]
    expect = [65534, 65535, 0, 1, 2, 3] if ro == 0 else \
        [65534, 65535, 1, 2, 3, 4]
    check(around == expect, "block numbers around the wrap %r, expected %r" %
          (around, expect))
    check(data == content, "content differs")
    srv.expect_ok("RRQ", "r.bin", peer.port, timeout=10)


@param_case("raw_window_mid_ack", BOTH, [("probe", "10"), ("noprobe", "0")])
def _(ctx, rto_min):
    content = os.urandom(512 * 10 + 100)
    root, srv, peer = raw_setup(ctx, {"w.bin": content},
                                args=("--timeout", "3", "--rto-min", rto_min))
    peer.send(pkt_rrq("w.bin", "octet", [("windowsize", 4)]), srv.port)
    pkt, tid = peer.expect(3.0, "OACK")
    want = oack_bytes([("windowsize", 4)])
    expect_oack(peer, tid, pkt, want)
    peer.send(pkt_ack(0), tid)
    first = [peer.expect(2.0, "DATA of window 1")[0] for _ in range(4)]
    nums = [blk_of(p) for p in first]
    check(nums == [1, 2, 3, 4], "first window %r, expected [1, 2, 3, 4]" %
          nums)
    t_ack = time.monotonic()
    peer.send(pkt_ack(2), tid)
    got = peer.drain(0.6)
    nums = [blk_of(p) if op_of(p) == DATA else describe(p)
            for p, s, _ in got]
    abort(peer, tid)
    check(nums[:4] == [3, 4, 5, 6], "after ACK 2 got %r, expected DATA "
          "[3, 4, 5, 6] first" % nums)
    if rto_min == "0":
        check(len(nums) == 4, "with --rto-min 0 nothing may follow "
              "[3, 4, 5, 6] before the 3 s timeout; got %r" % nums)
    else:
        # silence after the window: pair probes (first unacked, last
        # sent), at most two pairs, the first no sooner than rto-min; then
        # the window again (go-back-N), no sooner than 100 ms
        check(len(nums) >= 10, "expected probes and a go-back-N resend "
              "within 0.6 s, got %r" % nums)
        # the second pair only if it fits before the go-back-N timer,
        # which depends on the RTT measured (a loaded machine: one pair)
        pairs = 2 if nums[4:8] == [3, 6, 3, 6] else 1
        check(nums[4:6] == [3, 6], "expected a pair probe [3, 6] after "
              "the window, got %r" % nums)
        w = 4 + 2 * pairs
        check(nums[w:w + 4] == [3, 4, 5, 6], "expected the window again "
              "after %d probe pair(s), got %r" % (pairs, nums))
        gap = got[4][2] - t_ack
        check(gap >= 0.009, "first probe came %.1f ms after the ACK, "
              "before --rto-min 10" % (gap * 1000))
        gap = got[w][2] - t_ack
        check(gap >= 0.099, "go-back-N came %.1f ms after the window, "
              "before its 100 ms floor" % (gap * 1000))
    for p, s, _ in got:
        b = blk_of(p)
        check(p[4:] == content[(b - 1) * 512:b * 512],
              "DATA %d content differs" % b)


@case("raw_netascii_wire_get", fams=BOTH)
def _(ctx):
    text = ascii_sample()
    root, srv, peer = raw_setup(ctx, {"t.txt": text})
    data, oack, _ = raw_get(peer, srv, "t.txt", "netascii")
    want = nascii_encode(text)
    check(data == want, "netascii wire bytes differ from the expected "
          "conversion (%d vs %d bytes, first difference at %s)" %
          (len(data), len(want), first_diff(data, want)))


@case("raw_netascii_wire_put", fams=BOTH)
def _(ctx):
    text = ascii_sample()
    root, srv, peer = raw_setup(ctx, {}, args=("--upload",))
    raw_put(peer, srv, "t.txt", nascii_encode(text), mode="netascii")
    got = read_bytes(os.path.join(root, "t.txt"))
    check(got == text, "stored %d bytes, expected %d (first difference at "
          "%s)" % (len(got), len(text), first_diff(got, text)))


@case("raw_dup_wrq_mid_transfer_no_truncation", fams=BOTH)
def _(ctx):
    # The bug that made the project: tftpd-hpa truncates an upload when
    # busybox re-sends its WRQ.  A repeat WRQ mid-transfer must be dropped.
    root, srv, peer = raw_setup(ctx, {}, args=("--upload",))
    content = os.urandom(512 * 4 + 9)
    req = pkt_wrq("bb.bin")
    peer.send(req, srv.port)
    pkt, tid = peer.expect(3.0, "ACK 0")
    check(op_of(pkt) == ACK and blk_of(pkt) == 0, "got %s" % describe(pkt))
    send_data_wait_ack(peer, tid, 1, content[:512])
    send_data_wait_ack(peer, tid, 2, content[512:1024])
    peer.send(req, srv.port)
    got = peer.drain(0.4)
    others = [(describe(p), s) for p, s, _ in got if s != tid]
    check(not others, "repeat WRQ mid-transfer answered from another port: "
          "%r" % others)
    for n in range(3, 6):
        send_data_wait_ack(peer, tid, n, content[(n - 1) * 512:n * 512])
    check(read_bytes(os.path.join(root, "bb.bin")) == content,
          "stored content differs (truncated?)")
    srv.expect_ok("WRQ", "bb.bin", peer.port)


@case("raw_fixed_port_rrq_again_served", fams=BOTH)
def _(ctx):
    # Issue: a client on a fixed source port (U-Boot with tftpsrcp, boot
    # ROMs, a NAT that keeps ports) fetching a file again waited 15 s: the
    # finished RRQ was remembered and its repeat dropped.  A finished RRQ
    # is not remembered now; a copy while the transfer is live still is
    # a duplicate.  Each request below is sent once, so a dropped one
    # fails at once (raw_get waits for the answer to that one copy).
    small = os.urandom(100)
    big = os.urandom(3 * 1468 + 17)
    root, srv, peer = raw_setup(ctx, {"a.bin": small, "b.bin": big},
                                args=("-v",))
    tids = set()
    for i in range(3):
        data, _, tid = raw_get(peer, srv, "a.bin")
        check(data == small, "fetch %d of a.bin: content differs" % (i + 1))
        tids.add(tid)
    opts = [("blksize", "1468"), ("tsize", "0")]
    req = pkt_rrq("b.bin", opts=opts)
    for i in range(3):
        peer.send(req, srv.port)
        pkt, tid = peer.expect(3.0, "the OACK of fetch %d of b.bin" % (i + 1))
        # a block the finished transfer re-sent before our final ACK
        # reached it (its timer is 10 ms; a loaded machine is slower) may
        # still wait in the socket: it is from that transfer's TID
        for _ in range(8):
            if tid not in tids or op_of(pkt) != DATA:
                break
            pkt, tid = peer.expect(3.0, "the OACK of fetch %d of b.bin" %
                                   (i + 1))
        check(op_of(pkt) == OACK, "fetch %d answered with %s" %
              (i + 1, describe(pkt)))
        tids.add(tid)
        peer.send(pkt_ack(0), tid)
        first, src = peer.expect(3.0, "DATA 1")
        check(src == tid and op_of(first) == DATA, "after ACK 0: %s from "
              "port %d (TID %d)" % (describe(first), src, tid))
        if i == 2:
            # a copy of the live transfer's request: dropped, so nothing
            # from another port reaches us (raw_receive fails on one)
            peer.send(req, srv.port)
        data = raw_receive(peer, tid, first, 1468)
        check(data == big, "fetch %d of b.bin: content differs" % (i + 1))
    check(len(tids) == 6, "6 transfers answered from %d TIDs" % len(tids))
    oks = {}
    for name in ("a.bin", "b.bin"):
        def three(_, name=name):
            oks[name] = [l for l in srv.lines if ' RRQ "%s" ' % name in l
                         and outcome(l) == "ok"]
            return len(oks[name]) >= 3
        srv.wait_for(three, 3)
        check(len(oks[name]) == 3, "%d ok transfers of %s logged, expected "
              "3; last lines: %s" % (len(oks[name]), name, srv.tail()))
    check(counter(oks["b.bin"][2], "dupreqs") == 1, "the copy sent during "
          "the third fetch was not counted as a live duplicate: %r" %
          oks["b.bin"][2])
    with srv.cv:
        late = [l for l in srv.lines if "late duplicate" in l]
    check(not late, "requests dropped as late duplicates: %r" % late[:2])


@case("raw_late_client_few_resends", limit=60)
def _(ctx):
    # Issue: GRUB under UEFI fetches one block at a time and now and then
    # pauses 10-50 ms; a 10 ms timer re-sent a block for each pause.  A
    # lock-step client pausing 20-50 ms on a random 5 % of 1024 blocks,
    # losing nothing, and ACKing every copy it gets (as lock-step clients
    # do): a re-send found needless raises that transfer's timer above
    # twice the pause, so the first pause over 10 ms draws one or two
    # (10 and 30 ms), a later pause longer than half the new timer one
    # more, and the rest none.
    size = 1024 * 1024 + 100
    root, srv, peer = raw_setup(ctx, {"k.bin": size})
    want = read_bytes(os.path.join(root, "k.bin"))
    rnd = random.Random(14)
    peer.send(pkt_rrq("k.bin", opts=[("blksize", "1024")]), srv.port)
    pkt, tid = peer.expect(3.0, "OACK")
    check(op_of(pkt) == OACK, "RRQ answered with %s" % describe(pkt))
    peer.send(pkt_ack(0), tid)
    got, n, pauses = [], 0, 0
    end = time.monotonic() + 40
    while time.monotonic() < end:
        pkt, src = peer.recv(1.0)
        if pkt is None:
            peer.send(pkt_ack(n & 0xFFFF), tid)
            continue
        check(src == tid and op_of(pkt) == DATA, "got %s from port %d" %
              (describe(pkt), src))
        if blk_of(pkt) != ((n + 1) & 0xFFFF):
            peer.send(pkt_ack(n & 0xFFFF), tid)     # a copy: ACK it again
            continue
        n += 1
        got.append(pkt[4:])
        if rnd.random() < 0.05:
            pauses += 1
            time.sleep(rnd.uniform(0.020, 0.050))
        peer.send(pkt_ack(n & 0xFFFF), tid)
        if len(pkt) - 4 < 1024:
            break
    check(b"".join(got) == want, "content differs after %d blocks" % n)
    l = srv.expect_ok("RRQ", "k.bin", peer.port)
    rtx, sp = counter(l, "retransmits"), counter(l, "spurious")
    print("INFO raw_late_client_few_resends: %d pauses, retransmits=%s "
          "spurious=%s" % (pauses, rtx, sp))
    check(pauses >= 30, "only %d pauses: the scenario was not made" % pauses)
    # 3 at most from the pauses; a stall of the test itself may add one
    check(rtx is not None and rtx <= 5, "%s blocks re-sent for %d pauses of "
          "a client that lost nothing: %r" % (rtx, pauses, l))
    check(rtx == 0 or sp >= 1, "re-sends not found needless: %r" % l)


# ---------------------------------------------------------------- client vs a scripted server


def spawn(ctx, argv, cwd=None):
    p = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         start_new_session=True)
    ctx.procs.append(p)
    return p


def finish(p, timeout=15):
    """(rc, stderr) of a spawned process; kill it if it overstays."""
    try:
        _, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_proc(p)
        raise Fail("client still running after %d s" % timeout)
    return p.returncode, err.decode("utf-8", "replace")


def scripted_get(ctx, opts=(), local_content=None):
    """Start `tftpx get` against a scripted server socket.  Returns
    (process, listener, tid peer, request packet, client port, LOCAL)."""
    lst = ctx.peer()
    out = ctx.tmpdir("out")
    dst = os.path.join(out, "f.bin")
    if local_content is not None:
        write_bytes(dst, local_content)
    p = spawn(ctx, [TFTPX, "get", *opts, ctx.hp(lst.port), "f.bin", dst])
    req, cport = lst.expect(5.0, "RRQ from the client")
    check(op_of(req) == RRQ, "client sent %s" % describe(req))
    return p, lst, ctx.peer(), req, cport, dst


def expect_from(peer, port, op, blk=None, timeout=3.0):
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            raise Fail("no %s%s from the client within %.1f s" %
                       (OPNAMES[op], "" if blk is None else " %d" % blk,
                        timeout))
        pkt, src = peer.recv(left)
        if pkt is None:
            continue
        if src != port:
            continue
        if op_of(pkt) == op and (blk is None or blk_of(pkt) == blk):
            return pkt
        if op_of(pkt) == ERROR:
            raise Fail("client sent %s" % describe(pkt))


@case("client_get_server_ignores_options", fams=BOTH)
def _(ctx):
    p, lst, tid, req, cport, dst = scripted_get(
        ctx, ("-b", "1468", "-w", "4", "--tsize"))
    content = os.urandom(512 + 100)
    tid.send(pkt_data(1, content[:512]), cport)      # options ignored
    expect_from(tid, cport, ACK, 1)
    tid.send(pkt_data(2, content[512:]), cport)
    expect_from(tid, cport, ACK, 2)
    rc, err = finish(p)
    check(rc == 0, "exit %d: %s" % (rc, err.strip()))
    check(read_bytes(dst) == content, "LOCAL content differs")


@case("client_get_oack", fams=BOTH)
def _(ctx):
    p, lst, tid, req, cport, dst = scripted_get(ctx, ("-b", "1468"))
    content = os.urandom(1468 + 10)
    tid.send(oack_bytes([("blksize", 1468)]), cport)
    expect_from(tid, cport, ACK, 0)
    tid.send(pkt_data(1, content[:1468]), cport)
    expect_from(tid, cport, ACK, 1)
    tid.send(pkt_data(2, content[1468:]), cport)
    expect_from(tid, cport, ACK, 2)
    rc, err = finish(p)
    check(rc == 0, "exit %d: %s" % (rc, err.strip()))
    check(read_bytes(dst) == content, "LOCAL content differs")


@param_case("client_get_error_midway", (4,), [("new_local", None),
                                               ("existing_local", b"keep")])
def _(ctx, old):
    p, lst, tid, req, cport, dst = scripted_get(ctx, (), old)
    tid.send(pkt_data(1, os.urandom(512)), cport)
    expect_from(tid, cport, ACK, 1)
    tid.send(pkt_error(3, "Disk full or allocation exceeded"), cport)
    rc, err = finish(p)
    check(rc == 1, "exit %d, expected 1; stderr %r" % (rc, err.strip()))
    check("Disk full or allocation exceeded" in err,
          "stderr %r lacks the server's ERROR text" % err.strip())
    names = os.listdir(os.path.dirname(dst))
    if old is None:
        check(names == [], "failed get left files: %r" % names)
    else:
        check(names == ["f.bin"] and read_bytes(dst) == old,
              "existing LOCAL touched (dir %r)" % names)


@case("client_get_server_vanishes", fams=BOTH)
def _(ctx):
    p, lst, tid, req, cport, dst = scripted_get(ctx, ("-t", "1", "-r", "1"))
    t0 = time.monotonic()
    tid.send(pkt_data(1, os.urandom(512)), cport)
    expect_from(tid, cport, ACK, 1)
    again = tid.drain(2.5)
    rc, err = finish(p)
    dt = time.monotonic() - t0
    check(rc == 1, "exit %d, expected 1; stderr %r" % (rc, err.strip()))
    check("timeout" in err.lower(), "stderr %r lacks 'timeout'" % err.strip())
    check(dt < 10, "gave up after %.1f s with -t 1 -r 1" % dt)
    check(not os.listdir(os.path.dirname(dst)), "failed get left files: %r" %
          os.listdir(os.path.dirname(dst)))
    acks = [blk_of(x) for x, s, _ in again if op_of(x) == ACK]
    check(1 in acks, "client never re-sent ACK 1 on timeout (saw %r)" %
          [describe(x) for x, s, _ in again])


@case("client_get_foreign_tid", fams=BOTH)
def _(ctx):
    p, lst, tid, req, cport, dst = scripted_get(ctx)
    other = ctx.peer()
    content = os.urandom(512 + 3)
    tid.send(pkt_data(1, content[:512]), cport)
    expect_from(tid, cport, ACK, 1)
    other.send(pkt_data(2, b"evil"), cport)
    e = expect_from(other, cport, ERROR)
    c, _ = err_of(e)
    check(c == 5, "foreign port got %s, expected ERROR 5" % describe(e))
    tid.send(pkt_data(2, content[512:]), cport)
    expect_from(tid, cport, ACK, 2)
    rc, err = finish(p)
    check(rc == 0, "exit %d: %s" % (rc, err.strip()))
    check(read_bytes(dst) == content, "LOCAL content differs")


def scripted_put(ctx, size, opts=()):
    lst = ctx.peer()
    loc = ctx.tmpdir("loc")
    src = write_random(os.path.join(loc, "s.bin"), size)
    p = spawn(ctx, [TFTPX, "put", *opts, ctx.hp(lst.port), src, "s.bin"])
    req, cport = lst.expect(5.0, "WRQ from the client")
    check(op_of(req) == WRQ, "client sent %s" % describe(req))
    return p, ctx.peer(), cport, read_bytes(src)


@case("client_put_dup_ack_no_sorcerer", fams=BOTH)
def _(ctx):
    # classic timers: nothing may be re-sent within the drain below, so
    # any extra DATA 2 could only answer the duplicate ACK (the RTT-timer
    # variant is checked on the fake clock in tests/unit/test_xfer_rtt.c)
    p, tid, cport, content = scripted_put(ctx, 512 * 2 + 50,
                                          ("-t", "3", "--classic-timers"))
    tid.send(pkt_ack(0), cport)
    d1 = expect_from(tid, cport, DATA, 1)
    check(d1[4:] == content[:512], "DATA 1 content differs")
    tid.send(pkt_ack(1), cport)
    tid.send(pkt_ack(1), cport)
    got = tid.drain(0.5)
    d2 = [x for x, s, _ in got if op_of(x) == DATA and blk_of(x) == 2]
    check(len(d2) == 1 and len(got) == 1, "after ACK 1 twice expected one "
          "DATA 2, got %r" % [describe(x) for x, s, _ in got])
    tid.send(pkt_ack(2), cport)
    d3 = expect_from(tid, cport, DATA, 3)
    check(d3[4:] == content[1024:], "DATA 3 content differs")
    tid.send(pkt_ack(3), cport)
    rc, err = finish(p)
    check(rc == 0, "exit %d: %s" % (rc, err.strip()))


@case("client_put_error_midway", fams=BOTH)
def _(ctx):
    p, tid, cport, content = scripted_put(ctx, 3000)
    tid.send(pkt_ack(0), cport)
    expect_from(tid, cport, DATA, 1)
    tid.send(pkt_error(3, "Disk full or allocation exceeded"), cport)
    rc, err = finish(p)
    check(rc == 1, "exit %d, expected 1; stderr %r" % (rc, err.strip()))
    check("Disk full or allocation exceeded" in err,
          "stderr %r lacks the server's ERROR text" % err.strip())


# ---------------------------------------------------------------- 3. atomic uploads


def abandoned_upload(ctx, name, existing):
    root = ctx.tmpdir("root")
    target = os.path.join(root, name)
    old = None
    if existing:
        old = os.urandom(10000)
        write_bytes(target, old)
    srv = ctx.server(root, "--overwrite", "--timeout", "1", "--retries", "1")
    peer = ctx.peer()
    peer.send(pkt_wrq(name), srv.port)
    pkt, tid = peer.expect(3.0, "ACK 0")
    check(op_of(pkt) == ACK and blk_of(pkt) == 0, "WRQ answered with %s" %
          describe(pkt))
    for n in range(1, 4):
        send_data_wait_ack(peer, tid, n, os.urandom(512))

    def state_ok(when):
        if existing:
            check(read_bytes(target) == old,
                  "%s: the old file is not byte-identical" % when)
        else:
            check(not os.path.exists(target),
                  "%s: the new name is visible" % when)
    state_ok("during the upload")
    # the client vanishes; the server must give up
    l = srv.xfer_line("WRQ", name, peer.port, timeout=20)
    check(l is not None, "server did not log the abandoned upload within "
          "20 s (--timeout 1 --retries 1); last lines: %s" % srv.tail())
    check(outcome(l) != "ok", "abandoned upload logged as ok: %r" % l)
    state_ok("after the server gave up")
    time.sleep(0.2)
    check(not temps_in(root), "temp files left after the failed upload: %s" %
          temps_in(root))
    state_ok("a moment later")


@case("upload_abandoned_keeps_old_file", fams=BOTH, limit=60)
def _(ctx):
    abandoned_upload(ctx, "victim.bin", True)


@case("upload_abandoned_new_name_never_appears", limit=60)
def _(ctx):
    abandoned_upload(ctx, "fresh.bin", False)


@case("upload_client_error_keeps_old_file")
def _(ctx):
    root = ctx.tmpdir("root")
    target = os.path.join(root, "v.bin")
    old = os.urandom(7000)
    write_bytes(target, old)
    srv = ctx.server(root, "--overwrite")
    peer = ctx.peer()
    peer.send(pkt_wrq("v.bin"), srv.port)
    pkt, tid = peer.expect(3.0, "ACK 0")
    check(op_of(pkt) == ACK and blk_of(pkt) == 0, "got %s" % describe(pkt))
    for n in range(1, 3):
        send_data_wait_ack(peer, tid, n, os.urandom(512))
    peer.send(pkt_error(0, "client gives up"), tid)
    l = srv.xfer_line("WRQ", "v.bin", peer.port, timeout=5)
    check(l is not None, "no log line after the client's ERROR; last lines: "
          "%s" % srv.tail())
    check(outcome(l) != "ok", "aborted upload logged as ok: %r" % l)
    check(read_bytes(target) == old, "old file changed")
    time.sleep(0.2)
    check(not temps_in(root), "temp files left: %s" % temps_in(root))


@case("upload_stale_temp_removed_at_start")
def _(ctx):
    root = ctx.tmpdir("root")
    # the server's temp names are ".tftpx-<16 hex>.tmp"
    os.mkdir(os.path.join(root, "sub"))
    for n in (".tftpx-0123456789abcdef.tmp", "sub/.tftpx-fedcba9876543210.tmp"):
        write_bytes(os.path.join(root, n), b"junk")
    write_bytes(os.path.join(root, ".tftpx-notes"), b"not ours")
    srv = ctx.server(root, "--upload")
    srv.wait_for(lambda l: "serving" in l, 3)
    time.sleep(0.3)
    left = sorted(temps_in(root))
    check(left == [".tftpx-notes"], "after start, temp-like files present: "
          "%r, expected only the non-temp '.tftpx-notes'" % left)


# ---------------------------------------------------------------- 4. concurrency


@case("concurrent_20_gets", heavy=True, limit=90)
def _(ctx):
    root = ctx.tmpdir("root")
    out = ctx.tmpdir("out")
    src = write_random(os.path.join(root, "c.bin"), MIB)
    want = sha(src)
    srv = ctx.server(root)
    procs = []
    t0 = time.monotonic()
    for i in range(20):
        p = subprocess.Popen([TFTPX, "get", ctx.hp(srv.port), "c.bin",
                              os.path.join(out, "c%d.bin" % i)],
                             stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, start_new_session=True)
        ctx.procs.append(p)
        procs.append(p)
    bad = []
    for i, p in enumerate(procs):
        try:
            _, err = p.communicate(timeout=max(1, 60 - (time.monotonic() - t0)))
        except subprocess.TimeoutExpired:
            bad.append("#%d did not finish in 60 s" % i)
            continue
        if p.returncode != 0:
            bad.append("#%d exit %d: %s" % (i, p.returncode,
                                            err.decode(errors="replace").strip()))
            continue
        f = os.path.join(out, "c%d.bin" % i)
        if not os.path.exists(f) or sha(f) != want:
            bad.append("#%d sha256 differs" % i)
    check(not bad, "; ".join(bad[:5]))
    time.sleep(0.2)
    oks = [l for l in srv.lines if " RRQ " in l and outcome(l) == "ok"]
    check(len(oks) == 20, "server logged %d ok RRQ lines, expected 20" %
          len(oks))


@param_case("one_fd_per_file_read", (4,),
            [("default", ()), ("single_port", ("--single-port",))])
def _(ctx, args):
    root, srv, _ = raw_setup(ctx, {"k.bin": 20000, "other.bin": 20000},
                             args=args)
    peers, tids, firsts = [], [], []
    # eight transfers of one file and one of another, all held at block 1
    for name in ["k.bin"] * 8 + ["other.bin"]:
        p = ctx.peer()
        pkt, tid = first_reply(p, srv, pkt_rrq(name, "octet"))
        check(op_of(pkt) == DATA and blk_of(pkt) == 1,
              "%s: expected DATA 1, got %s" % (name, describe(pkt)))
        peers.append(p)
        tids.append(tid)
        firsts.append(pkt)
    files = []
    for fd in os.listdir("/proc/%d/fd" % srv.pid):
        try:
            files.append(os.readlink("/proc/%d/fd/%s" % (srv.pid, fd)))
        except OSError:
            pass
    k = [f for f in files if f.endswith("/k.bin")]
    o = [f for f in files if f.endswith("/other.bin")]
    check(len(k) == 1 and len(o) == 1, "server holds %d fds on k.bin and "
          "%d on other.bin with 8 and 1 readers, expected 1 each" %
          (len(k), len(o)))
    # the readers of the shared fd get their bytes, to the end
    want = read_bytes(os.path.join(root, "k.bin"))
    for i in (0, 7):
        got = raw_receive(peers[i], tids[i], firsts[i], 512)
        check(got == want, "reader %d: %d bytes, content %s" % (
            i, len(got), "right" if got == want else "differs"))
    for i in range(1, 7):
        abort(peers[i], tids[i])
    abort(peers[8], tids[8])
    time.sleep(0.3)
    left = [x for x in os.listdir("/proc/%d/fd" % srv.pid)
            if os.readlink("/proc/%d/fd/%s" % (srv.pid, x)).endswith(
                (".bin",))]
    check(not left, "files still open after every transfer ended: %s" %
          left)


# ---------------------------------------------------------------- 4b. NAT and paths
# On loopback; the NAT, published-port and MTU scenarios with namespaces
# are tests/e2e/nat.py.


@case("single_port_answers_from_listening_port", fams=BOTH)
def _(ctx):
    size = 70000
    root, srv, peer = raw_setup(ctx, {"a.bin": size}, args=("--single-port",))
    pkt, tid = first_reply(peer, srv, pkt_rrq("a.bin", "octet",
                                              [("blksize", 1024)]))
    check(tid == srv.port, "single-port: the OACK came from port %d, not "
          "the listening port %d" % (tid, srv.port))
    expect_oack(peer, tid, pkt, oack_bytes([("blksize", 1024)]))
    peer.send(pkt_ack(0), tid)
    data = raw_receive(peer, tid, None, 1024)
    check(data == read_bytes(os.path.join(root, "a.bin")), "content differs")
    srv.expect_ok("RRQ", "a.bin", peer.port)


@case("single_port_stranger_gets_error_5", fams=BOTH)
def _(ctx):
    root, srv, peer = raw_setup(ctx, {"a.bin": 5000}, args=("--single-port",))
    pkt, tid = first_reply(peer, srv, pkt_rrq("a.bin", "octet"))
    check(op_of(pkt) == DATA and blk_of(pkt) == 1, "expected DATA 1, got %s"
          % describe(pkt))
    # a stranger's ACK and DATA to the listening port: ERROR 5 to it alone
    other = ctx.peer()
    for junk in (pkt_ack(1), b"\x00\x03\x00\x01" + b"x" * 10):
        other.send(junk, srv.port)
        e, src = other.expect(3.0, "ERROR 5")
        expect_error(e, 5)
    # the transfer goes on: block 2 after our ACK 1
    peer.send(pkt_ack(1), tid)
    d, _ = peer.expect(3.0, "DATA 2")
    check(op_of(d) == DATA and blk_of(d) == 2, "expected DATA 2, got %s" %
          describe(d))
    data = read_bytes(os.path.join(root, "a.bin"))
    check(d[4:] == data[512:1024], "DATA 2 content differs")
    abort(peer, tid)


@param_case("single_port_client", BOTH,
            [("get_w8", ("get", ("-b", "1468", "-w", "8"))),
             ("put", ("put", ())),
             # DATA larger than the listener's 2 KiB batch slots: read
             # whole, one a call, while such an upload is live
             ("put_b65464_w4", ("put", ("-b", "65464", "-w", "4"))),
             ("put_b2044", ("put", ("-b", "2044",))),
             ("get_b65464", ("get", ("-b", "65464",)))])
def _(ctx, how):
    op, opts = how
    if op == "get":
        client_get(ctx, MIB + 7, opts, server_args=("--single-port",))
    else:
        client_put(ctx, MIB + 7, opts,
                   server_args=("--upload", "--single-port"))


@case("single_port_request_too_long", fams=BOTH)
def _(ctx):
    # --single-port reads the listener in batches of 2 KiB slots: a longer
    # request is refused in words, and the server serves on
    root, srv, peer = raw_setup(ctx, {"a.bin": 3000}, args=("--single-port",))
    peer.send(pkt_rrq("a.bin", "octet", [("x" * 1200, "y" * 1200)]),
              srv.port)
    pkt, _ = peer.expect(3.0, "ERROR 4")
    expect_error(pkt, 4, "request too long")
    data, _, _ = raw_get(peer, srv, "a.bin")
    check(data == read_bytes(os.path.join(root, "a.bin")), "content differs")


@case("port_range_binds_inside_and_refuses_when_full")
def _(ctx):
    root, srv, peer = raw_setup(ctx, {"a.bin": 5000},
                                args=("--port-range", "40170:40171"))
    tids = []
    peers = [peer, ctx.peer(), ctx.peer()]
    for p in peers[:2]:
        pkt, tid = first_reply(p, srv, pkt_rrq("a.bin", "octet"))
        check(op_of(pkt) == DATA, "expected DATA 1, got %s" % describe(pkt))
        tids.append(tid)
    check(sorted(tids) == [40170, 40171], "transfer ports %s, expected the "
          "range 40170:40171" % tids)
    # the range is full: a third request is refused, with words
    pkt, _ = first_reply(peers[2], srv, pkt_rrq("a.bin", "octet"))
    expect_error(pkt, 0, "no free port")
    l = srv.wait_for(lambda l: "--port-range 40170:40171" in l, 3.0)
    check(l is not None and "refused" in l, "no refusal line naming the "
          "range; last lines: %s" % srv.tail())
    # a port comes free: served again
    for p, tid in zip(peers, tids):
        abort(p, tid)
    srv.wait_for(lambda l: l.count("RRQ") and "error" in l and
                 str(peers[1].port) in l, 3.0)
    time.sleep(0.2)
    pkt, tid = first_reply(peers[2], srv, pkt_rrq("a.bin", "octet"))
    check(op_of(pkt) == DATA and tid in (40170, 40171),
          "after a port came free: %s from port %d" % (describe(pkt), tid))
    abort(peers[2], tid)


@param_case("mtu_caps_blksize", BOTH, [("1000", 1000)])
def _(ctx, mtu):
    root = ctx.tmpdir("root")
    srv = ctx.server(root, "-v", "--mtu", str(mtu))
    write_random(os.path.join(root, "a.bin"), 20000)
    peer = ctx.peer()
    pkt, tid = first_reply(peer, srv, pkt_rrq("a.bin", "octet",
                                              [("blksize", 65464)]))
    want = mtu - (52 if ctx.fam == socket.AF_INET6 else 32)
    abort(peer, tid)
    expect_oack(peer, tid, pkt, oack_bytes([("blksize", want)]))
    l = srv.wait_for(lambda l: "blksize 65464->%d (path MTU %d)" % (want, mtu)
                     in l, 3.0)
    check(l is not None, "no -v line 'blksize 65464->%d (path MTU %d)'; "
          "last lines: %s" % (want, mtu, srv.tail()))


@case("mtu_loopback_keeps_largest_blksize")
def _(ctx):
    root, srv, peer = raw_setup(ctx, {"a.bin": 70000})
    pkt, tid = first_reply(peer, srv, pkt_rrq("a.bin", "octet",
                                              [("blksize", 65464)]))
    abort(peer, tid)
    expect_oack(peer, tid, pkt, oack_bytes([("blksize", 65464)]))


# ---------------------------------------------------------------- server CLI


@param_case("serve_banner", (4,),
            [("readonly", ((), "read-only")),
             ("upload", (("--upload",), "with uploads")),
             ("overwrite", (("--overwrite",), "with uploads and overwrite"))])
def _(ctx, arg):
    args, words = arg
    root = ctx.tmpdir("root")
    srv = ctx.server(root, *args)
    real = os.path.realpath(root)
    l = srv.wait_for(lambda l: "serving" in l, 3)
    check(l is not None, "no 'serving' line; stderr: %s" % srv.tail())
    want = "tftpx: serving %s %s" % (real, words)
    check(l.strip() == want, "banner %r, expected %r" % (l.strip(), want))
    ls = [x for x in srv.lines if "listening on" in x]
    check(ls[0].strip() == "tftpx: listening on 127.0.0.1:%d" % srv.port,
          "listening line %r" % ls[0])


@case("serve_quiet_keeps_banner_and_errors")
def _(ctx):
    # -q: errors only, but the listening line stays (with port 0 it is the
    # only way to learn the port)
    root = ctx.tmpdir("root")
    write_random(os.path.join(root, "a.bin"), 600)
    srv = ctx.server(root, "-q")
    out = ctx.tmpdir("out")
    ok_run(ctx.tftpx("get", ctx.hp(srv.port), "a.bin",
                     os.path.join(out, "a.bin")), "get a.bin")
    rc, _, err, _ = ctx.tftpx("get", ctx.hp(srv.port), "nope",
                              os.path.join(out, "nope"))
    check(rc == 1, "get of a missing file exited %d" % rc)
    l = srv.wait_for(lambda l: '"nope"' in l, 3)
    check(l is not None and "error 1" in l, "the refusal was not logged "
          "under -q: %s" % srv.tail())
    check(not any('"a.bin"' in x for x in srv.lines),
          "a successful transfer was logged under -q")


@case("serve_dual_listen")
def _(ctx):
    if not tftpx_test.IPV6:
        raise Skip("::1 unusable")
    root = ctx.tmpdir("root")
    out = ctx.tmpdir("out")
    src = write_random(os.path.join(root, "d.bin"), 3000)
    srv = ctx.server(root, listens=["127.0.0.1:0", "[::1]:0"])
    ls = [x.strip() for x in srv.lines if "listening on" in x]
    check(any(x.startswith("tftpx: listening on 127.0.0.1:") for x in ls) and
          any(x.startswith("tftpx: listening on [::1]:") for x in ls),
          "listening lines %r" % ls)
    p4 = int(re.search(r"127\.0\.0\.1:(\d+)", " ".join(ls)).group(1))
    p6 = int(re.search(r"\[::1\]:(\d+)", " ".join(ls)).group(1))
    for host, port, n in (("127.0.0.1", p4, "a"), ("[::1]", p6, "b")):
        dst = os.path.join(out, n)
        ok_run(ctx.tftpx("get", "%s:%d" % (host, port), "d.bin", dst),
               "get via %s" % host)
        check(same_file(src, dst) is None, "via %s: %s" %
              (host, same_file(src, dst)))


@case("serve_port_flag")
def _(ctx):
    root = ctx.tmpdir("root")
    out = ctx.tmpdir("out")
    src = write_random(os.path.join(root, "p.bin"), 1000)
    srv = Server(ctx, root, ("-p", "0"), listens=["127.0.0.1"])
    check(srv.port != 0, "listening on port 0")
    dst = os.path.join(out, "p.bin")
    ok_run(ctx.tftpx("get", ctx.hp(srv.port), "p.bin", dst), "get")
    check(same_file(src, dst) is None, same_file(src, dst) or "")


# ---------------------------------------------------------------- 5. CLI


@param_case("cli_help", (4,), [("top", ["--help"]), ("serve", ["serve", "--help"]),
                               ("get", ["get", "--help"]), ("put", ["put", "--help"])])
def _(ctx, argv):
    rc, out, err, _ = ctx.tftpx(*argv, timeout=5)
    check(rc == 0, "exit %d, expected 0; stderr %r" % (rc, err.strip()))
    check(len(out.strip()) > 20, "usage not on stdout (stdout %r)" % out[:80])


@case("cli_version")
def _(ctx):
    rc, out, err, _ = ctx.tftpx("--version", timeout=5)
    check(rc == 0, "exit %d" % rc)
    check(re.match(rb"^tftpx \S+\n?$", out) is not None,
          "stdout %r, expected 'tftpx <version>'" % out)


@param_case("cli_usage_error", (4,),
            [("blksize_max_abc", ["serve", "--blksize-max", "abc", "."]),
             ("port_70000", ["serve", "-p", "70000", "."]),
             ("serve_unknown_flag", ["serve", "--bogus", "."]),
             ("windowsize_max_abc", ["serve", "--windowsize-max", "x", "."]),
             ("blksize_max_7", ["serve", "--blksize-max", "7", "."]),
             ("blksize_max_65465", ["serve", "--blksize-max", "65465", "."]),
             ("windowsize_max_0", ["serve", "--windowsize-max", "0", "."]),
             ("timeout_0", ["serve", "--timeout", "0", "."]),
             ("timeout_256", ["serve", "--timeout", "256", "."]),
             ("port_abc", ["serve", "-p", "abc", "."]),
             ("listen_bad_port", ["serve", "-l", "127.0.0.1:99999", "."]),
             ("get_unknown_flag", ["get", "--bogus", "127.0.0.1:9", "f"]),
             ("get_bad_blksize", ["get", "-b", "abc", "127.0.0.1:9", "f"]),
             ("get_blksize_7", ["get", "-b", "7", "127.0.0.1:9", "f"]),
             ("get_missing_args", ["get"]),
             ("put_missing_args", ["put"]),
             ("unknown_subcommand", ["frobnicate"])])
def _(ctx, argv):
    d = ctx.tmpdir("cwd")
    rc, out, err, _ = ctx.tftpx(*argv, timeout=5, cwd=d)
    check(rc == 2, "exit %d, expected 2; stderr %r" % (rc, err.strip()[:200]))
    lines = [l for l in err.splitlines() if l.strip()]
    check(len(lines) == 1, "expected a one-line message on stderr, got %r" %
          err[:300])


def missing_file_case(ctx, existing_local):
    root = ctx.tmpdir("root")
    out = ctx.tmpdir("out")
    srv = ctx.server(root)
    dst = os.path.join(out, "nope.bin")
    if existing_local:
        write_bytes(dst, b"keep me")
    rc, _, err, _ = ctx.tftpx("get", ctx.hp(srv.port), "nope.bin", dst)
    check(rc == 1, "exit %d, expected 1; stderr %r" % (rc, err.strip()))
    lines = [l for l in err.splitlines() if l.strip()]
    check(len(lines) == 1, "expected one line on stderr, got %r" % err)
    l = srv.xfer_line("RRQ", "nope.bin")
    m = re.search(r"error 1: (.*)$", l.strip()) if l else None
    if m:
        text = m.group(1).strip().strip('"')
        check(text and text in err, "client message %r lacks the server's "
              "text %r" % (err.strip(), text))
    if existing_local:
        check(read_bytes(dst) == b"keep me", "existing LOCAL was changed")
    else:
        check(not os.path.exists(dst), "failed get left a LOCAL file")
    check(os.listdir(out) == (["nope.bin"] if existing_local else []),
          "stray files in the LOCAL directory: %r" % os.listdir(out))


@case("cli_get_missing_file", fams=BOTH)
def _(ctx):
    missing_file_case(ctx, False)


@case("cli_get_missing_file_keeps_local")
def _(ctx):
    missing_file_case(ctx, True)


@case("cli_get_into_fifo_keeps_it")
def _(ctx):
    """LOCAL is a FIFO (a pipe to a flasher): the bytes go into it and it
    stays a FIFO; a temp file renamed over it would replace it."""
    root = ctx.tmpdir("root")
    out = ctx.tmpdir("out")
    src = write_random(os.path.join(root, "f.bin"), 300 * 1024 + 17)
    srv = ctx.server(root)
    fifo = os.path.join(out, "pipe")
    os.mkfifo(fifo)
    got = []

    def reader():
        with open(fifo, "rb") as f:
            got.append(f.read())
    th = threading.Thread(target=reader, daemon=True)
    th.start()
    r = ctx.tftpx("get", ctx.hp(srv.port), "f.bin", fifo, timeout=30)
    if th.is_alive():
        # the client never opened the FIFO: unblock the reader
        with open(fifo, "wb"):
            pass
    th.join(10)
    ok_run(r, "tftpx get into a FIFO")
    check(stat.S_ISFIFO(os.lstat(fifo).st_mode),
          "the FIFO was replaced by a %s" % oct(os.lstat(fifo).st_mode))
    check(got and got[0] == read_bytes(src),
          "bytes read from the FIFO differ from the file (%d bytes read)" %
          (len(got[0]) if got else -1))
    check(os.listdir(out) == ["pipe"], "left behind: %r" % os.listdir(out))


@case("cli_get_into_device_keeps_it")
def _(ctx):
    """LOCAL is a character device (a null device node made here, not the
    system's /dev/null): written into, never replaced."""
    root = ctx.tmpdir("root")
    out = ctx.tmpdir("out")
    write_random(os.path.join(root, "f.bin"), 100 * 1024)
    srv = ctx.server(root)
    node = os.path.join(out, "null")
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except OSError as e:
        raise Skip("cannot make a device node here: %s" % e)
    r = ctx.tftpx("get", ctx.hp(srv.port), "f.bin", node, timeout=30)
    ok_run(r, "tftpx get into a device")
    st = os.lstat(node)
    check(stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3),
          "the device node was replaced (mode %s)" % oct(st.st_mode))
    check(os.listdir(out) == ["null"], "left behind: %r" % os.listdir(out))


def timeout_case(ctx, port):
    out = ctx.tmpdir("out")
    dst = os.path.join(out, "x.bin")
    rc, _, err, dt = ctx.tftpx("get", "-t", "1", "-r", "1",
                               ctx.hp(port), "x.bin", dst, timeout=30)
    check(rc == 1, "exit %d, expected 1; stderr %r" % (rc, err.strip()))
    check("timeout" in err.lower(), "stderr %r lacks 'timeout'" % err.strip())
    check(dt < 10, "took %.1f s with -t 1 -r 1" % dt)
    check(not os.path.exists(dst), "failed get left a LOCAL file")


def unreachable_case(ctx, put):
    """Nothing listens on the port: the ICMP port unreachable ends the
    client at once with words that say so.  The give-up time is two
    minutes (-t 40 -r 2), longer than the harness waits: a client that
    waited for it would be killed, and its words would say timeout."""
    port = free_udp_port(ctx.fam, ctx.host)
    out = ctx.tmpdir("out")
    if put:
        src = os.path.join(out, "src.bin")
        with open(src, "wb") as f:
            f.write(b"x" * 5000)
        argv = ("put", "-t", "40", "-r", "2", ctx.hp(port), src, "x.bin")
    else:
        dst = os.path.join(out, "x.bin")
        argv = ("get", "-t", "40", "-r", "2", ctx.hp(port), "x.bin", dst)
    rc, _, err, _ = ctx.tftpx(*argv, timeout=60)
    want = "nothing listens on %s (port unreachable)" % ctx.hp(port)
    check(rc == 1, "exit %d, expected 1; stderr %r" % (rc, err.strip()))
    check(want in err, "stderr %r lacks %r" % (err.strip(), want))
    check("timeout" not in err.lower(), "stderr %r says timeout" %
          err.strip())
    if not put:
        check(not os.path.exists(dst), "failed get left a LOCAL file")


@case("cli_get_port_unreachable", fams=BOTH)
def _(ctx):
    unreachable_case(ctx, put=False)


@case("cli_put_port_unreachable", fams=BOTH)
def _(ctx):
    unreachable_case(ctx, put=True)


@case("cli_get_timeout_blackhole", fams=BOTH)
def _(ctx):
    hole = ctx.peer()           # bound, never answers
    timeout_case(ctx, hole.port)


# Interoperability with other TFTP software (real clients, tftpd-hpa,
# iPXE): tests/interop/clients.py.


if __name__ == "__main__":
    sys.exit(main())
