#!/usr/bin/env python3
"""tests/e2e/progress.py - the client's progress bar and summary line.

Run from anywhere:  python3 tests/e2e/progress.py [-k SUBSTRING] [-j N]

Built on the harness in tests/lib/tftpx_test.py.  Each case prints one
line "PASS name", "FAIL name: reason" or "SKIP name: reason".

The client draws its bar only when stderr is a terminal, so the cases give
it one: stderr is the slave side of a pseudo-terminal (python's pty module,
window size set with TIOCSWINSZ) and the test reads the master side.  stdout
goes to a file, so what the client writes there is checked byte for byte.

The bar is redrawn at most ten times a second, from the receive path, so a
transfer must last a while for it to appear.  Rather than hoping that a
loopback transfer is slow enough, the server's packets pass a pacing relay
(or come from the paced option-less server below): packet n reaches the
client no sooner than n x GAP after the first, so a transfer of N packets
takes at least (N - 1) x GAP whatever the machine's speed.  No case
measures time.

  bar_get_percent      get of 3 MiB from `tftpx serve` through the relay:
                       bar lines with a percent, a growing byte count, a
                       rate and an ETA, none wider than the terminal, the
                       line blanked before the summary "got f.bin (N bytes)"
  bar_get_narrow       a 30-column terminal: lines still fit, the bar
                       itself is left out
  bar_get_error        the server falls silent mid-transfer: the bar line
                       is blanked and the timeout error is the one line
                       after it, exit 1
  bar_get_pipe         stderr a pipe: exactly one line, the summary, no CR
  bar_get_quiet        -q on a terminal: nothing at all on stderr
  bar_get_verbose      -v: the summary names the server and the options
  bar_get_stdout       get to `-`: stdout byte-exact, the bar on the pty
  bar_put_file         put of a file: percent from the local size, "sent"
  bar_put_stdin        put from a pipe on stdin: bytes and rate, no percent
  bar_no_tsize_server  a server that ignores options (RFC 1350 only): the
                       client asked for tsize (on a terminal) and shows
                       bytes and rate without a percent; through a pipe
                       it does not ask for tsize at all
  bar_tsize_refused    a server that answers ERROR 8 to a request with
                       options: the client asks again without the tsize
                       it added for the bar (and not when the user asked
                       for tsize with --tsize: then ERROR 8 is the end)
"""

import fcntl
import os
import pty
import re
import select
import socket
import struct
import subprocess
import sys
import termios
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "lib"))
from tftpx_test import (  # noqa: E402
    Fail, MIB, RRQ, Skip, TFTPX, case, check, kill_proc, main, op_of, pkt_ack,
    pkt_data, pkt_error, read_bytes, same_file, write_random)

SUITE_BUDGET = 120.0        # seconds for the whole suite (watchdog)
GAP = 0.0003        # seconds between paced packets

# ---------------------------------------------------------------- helpers


class Pacer:
    """A relay for one transfer between a client and a TFTP server.

    The client sends to self.port; everything goes to the server from one
    upstream socket, and the server's packets (from its TID) reach the
    client from self.port, so the client sees one TID as without a relay.
    Packet n from the server is sent no sooner than n x gap after the
    first one."""

    def __init__(self, ctx, server_port, gap=GAP, cut_after=None):
        self.server = (ctx.host, server_port)
        self.gap = gap
        self.cut_after = cut_after      # then the server goes silent
        self.down = socket.socket(ctx.fam, socket.SOCK_DGRAM)
        self.up = socket.socket(ctx.fam, socket.SOCK_DGRAM)
        ctx.socks += [self.down, self.up]
        self.down.bind((ctx.host, 0))
        self.up.bind((ctx.host, 0))
        self.port = self.down.getsockname()[1]
        self.forwarded = 0
        self.done = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        client = tid = None
        t_first = None
        end = time.monotonic() + 60
        try:
            while not self.done and time.monotonic() < end:
                r, _, _ = select.select([self.down, self.up], [], [], 0.2)
                for s in r:
                    data, addr = s.recvfrom(70000)
                    if s is self.down:
                        client = addr
                        self.up.sendto(data, tid or self.server)
                        continue
                    if tid is None:
                        tid = addr
                    if addr != tid or client is None:
                        continue
                    if self.cut_after is not None and \
                            self.forwarded >= self.cut_after:
                        continue
                    now = time.monotonic()
                    if t_first is None:
                        t_first = now
                    due = t_first + self.forwarded * self.gap
                    if due > now:
                        time.sleep(due - now)
                    self.down.sendto(data, client)
                    self.forwarded += 1
        except (OSError, ValueError):
            pass        # sockets closed by the case's cleanup

    def stop(self):
        self.done = True


class ClassicServer:
    """A paced RFC 1350 server for one RRQ: options are ignored, DATA 1
    answers the request, lock-step, 512-byte blocks.  Records the request's
    options."""

    def __init__(self, ctx, data, gap=GAP, refuse_options=False):
        self.ctx = ctx
        self.data = data
        self.gap = gap
        self.refuse = refuse_options
        self.opts = None
        self.requests = []      # the options of every RRQ, in order
        self.ok = False
        self.s = socket.socket(ctx.fam, socket.SOCK_DGRAM)
        ctx.socks.append(self.s)
        self.s.bind((ctx.host, 0))
        self.port = self.s.getsockname()[1]
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def finished(self):
        """Whether the transfer completed: the last ACK may still be on
        its way when the client has exited."""
        self.t.join(5)
        return self.ok

    def _run(self):
        try:
            self.s.settimeout(20)
            for _ in range(2):
                pkt, client = self.s.recvfrom(70000)
                if op_of(pkt) != RRQ:
                    return
                parts = pkt[2:].split(b"\0")
                self.opts = {parts[i].decode().lower(): parts[i + 1].decode()
                             for i in range(2, len(parts) - 1, 2)}
                self.requests.append(self.opts)
                t = socket.socket(self.ctx.fam, socket.SOCK_DGRAM)
                self.ctx.socks.append(t)
                t.bind((self.ctx.host, 0))
                t.settimeout(1.0)
                if not (self.refuse and self.opts):
                    break
                # RFC 2347: a server may refuse a request over an option
                t.sendto(pkt_error(8, "no options here"), client)
            nblk = len(self.data) // 512 + 1
            t0 = time.monotonic()
            for n in range(1, nblk + 1):
                due = t0 + (n - 1) * self.gap
                now = time.monotonic()
                if due > now:
                    time.sleep(due - now)
                blk = pkt_data(n, self.data[(n - 1) * 512:n * 512])
                for _ in range(6):
                    t.sendto(blk, client)
                    try:
                        ack, _ = t.recvfrom(100)
                    except socket.timeout:
                        continue
                    if ack == pkt_ack(n):
                        break
                else:
                    return
            self.ok = True
        except (OSError, ValueError):
            pass


def run_pty(ctx, argv, cols=100, stdin=None, stdin_data=None, timeout=30):
    """Run argv with stderr on a pseudo-terminal COLS wide; stdout to a file.
    Returns (rc, stdout bytes, terminal text)."""
    try:
        m, s = pty.openpty()
    except OSError as e:
        raise Skip("no pseudo-terminal: %s" % e)
    fcntl.ioctl(s, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
    outp = os.path.join(ctx.tmpdir("stdout"), "out")
    with open(outp, "wb") as out:
        p = subprocess.Popen(
            argv, stdout=out, stderr=s, start_new_session=True,
            stdin=subprocess.PIPE if stdin_data is not None else (
                stdin if stdin is not None else subprocess.DEVNULL))
    ctx.procs.append(p)
    os.close(s)
    if stdin_data is not None:
        def feed():
            try:
                p.stdin.write(stdin_data)
                p.stdin.close()
            except OSError:
                pass
        threading.Thread(target=feed, daemon=True).start()
    buf = b""
    end = time.monotonic() + timeout
    try:
        while True:
            left = end - time.monotonic()
            if left <= 0:
                kill_proc(p)
                raise Fail("%s did not finish within %d s" %
                           (" ".join(argv[1:3]), timeout))
            r, _, _ = select.select([m], [], [], min(left, 0.5))
            if not r:
                continue
            try:
                d = os.read(m, 65536)
            except OSError:     # EIO: every slave fd is closed
                break
            if not d:
                break
            buf += d
        p.wait(5)
    finally:
        os.close(m)
    with open(outp, "rb") as f:
        return p.returncode, f.read(), buf.decode("utf-8", "replace")


# One bar line, size known / unknown (see client.c bar_draw).
SIZE = r"\d+(?:\.\d)? (?:B|kB|MB|GB)"
BAR_PCT = re.compile(r"^(\S+) +(\d+)%% (?:\[[=> ]+\] )?(%s)  %s/s  "
                     r"ETA (\d+:\d\d(?::\d\d)?|--:--) *$" % (SIZE, SIZE))
BAR_BYTES = re.compile(r"^(\S+)  (%s)  %s/s *$" % (SIZE, SIZE))
SUMMARY = re.compile(r"^tftpx: (got|sent) (\S+) \((\d+) bytes\) in "
                     r"\d+\.\d\d s, %s/s, \d+ retransmits?(;.*)?$" % SIZE)


def segments(text):
    """The terminal output cut at every CR and LF, blanks dropped."""
    return [x for x in re.split(r"[\r\n]", text) if x.strip()]


def amount(s):
    v, unit = s.split()
    return float(v) * {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}[unit]


def check_bar(text, name, size, cols, percent=True, want_bar=True):
    """Bar lines are well formed, grow, fit the terminal; the last line is
    the summary, on a line the bar left blank.  Returns the bar lines."""
    for piece in re.split(r"[\r\n]", text):
        check(len(piece) <= cols - 1, "a %d-column line on a %d-column "
              "terminal: %r" % (len(piece), cols, piece))
    segs = segments(text)
    check(segs, "nothing on the terminal")
    m = SUMMARY.match(segs[-1])
    check(m is not None, "last line is not the summary: %r" % segs[-1])
    check(int(m.group(3)) == size, "summary says %s bytes, file has %d" %
          (m.group(3), size))
    bars = segs[:-1]
    check(bars, "no bar line before the summary (terminal: %r)" % text[:300])
    pat = BAR_PCT if percent else BAR_BYTES
    last_pct, last_amt = -1, -1
    for b in bars:
        bm = pat.match(b)
        check(bm is not None, "not a %s bar line: %r" %
              ("percent" if percent else "bytes-only", b))
        check(bm.group(1) == name, "bar names %r, not %r" % (bm.group(1), name))
        if percent:
            p, a = int(bm.group(2)), amount(bm.group(3))
            check(0 <= p <= 100, "percent %d" % p)
            check(p >= last_pct, "percent went back: %d after %d" %
                  (p, last_pct))
            check(("[" in b) == want_bar, "bar brackets %s in %r" %
                  ("missing" if want_bar else "present", b))
            last_pct = p
        else:
            a = amount(bm.group(2))
            check("%" not in b, "a percent without a known size: %r" % b)
        # shown with one decimal: "2.1 MB" may stand for 2097152 bytes
        check(a >= last_amt and a <= size * 1.05 + 1,
              "byte count %r after %r (size %d)" % (a, last_amt, size))
        last_amt = a
    # the bar's line was blanked before the summary went out
    i = text.rfind("tftpx: ")
    blank = text[:i]
    check(re.search(r"\r {%d}\r$" % (cols - 1), blank) is not None,
          "the bar line was not cleared before the summary: %r" % blank[-120:])
    return bars


def served(ctx, size, *args):
    root = ctx.tmpdir("root")
    src = write_random(os.path.join(root, "f.bin"), size)
    srv = ctx.server(root, *args)
    return root, src, srv


# ---------------------------------------------------------------- cases


@case("bar_get_percent")
def _(ctx):
    _, src, srv = served(ctx, 3 * MIB)
    relay = Pacer(ctx, srv.port)
    dst = os.path.join(ctx.tmpdir("out"), "f.bin")
    rc, out, term = run_pty(ctx, [TFTPX, "get", "-b", "1468",
                                  ctx.hp(relay.port), "f.bin", dst])
    relay.stop()
    check(rc == 0, "exit %d; terminal %r" % (rc, term[-300:]))
    check(out == b"", "stdout got %r" % out[:80])
    check(same_file(src, dst) is None, same_file(src, dst) or "")
    check_bar(term, "f.bin", 3 * MIB, 100)
    # the server answered tsize: the client asked for it
    l = srv.expect_ok("RRQ", "f.bin")
    check("tsize=%d" % (3 * MIB) in l, "no tsize in %r" % l)


@case("bar_get_narrow")
def _(ctx):
    _, src, srv = served(ctx, 2 * MIB)
    relay = Pacer(ctx, srv.port)
    dst = os.path.join(ctx.tmpdir("out"), "f.bin")
    rc, _, term = run_pty(ctx, [TFTPX, "get", "-b", "1468",
                                ctx.hp(relay.port), "f.bin", dst], cols=30)
    relay.stop()
    check(rc == 0, "exit %d; terminal %r" % (rc, term[-300:]))
    # the summary is longer than 30 columns: only the bar lines must fit
    body = term[:term.rfind("tftpx: ")]
    for piece in re.split(r"[\r\n]", body):
        check(len(piece) <= 29, "a %d-column line on a 30-column terminal: "
              "%r" % (len(piece), piece))
    bars = segments(body)
    check(bars, "no bar line")
    for b in bars:
        check("[" not in b, "a bar on a 30-column terminal: %r" % b)
        check(re.match(r"^f\.bin +\d+% ", b) is not None,
              "no name and percent in %r" % b)


@case("bar_get_error")
def _(ctx):
    _, src, srv = served(ctx, 3 * MIB)
    relay = Pacer(ctx, srv.port, cut_after=1000)
    dst = os.path.join(ctx.tmpdir("out"), "f.bin")
    rc, out, term = run_pty(ctx, [TFTPX, "get", "-b", "1468", "-t", "1",
                                  "-r", "1", ctx.hp(relay.port), "f.bin",
                                  dst])
    relay.stop()
    check(rc == 1, "exit %d, expected 1; terminal %r" % (rc, term[-300:]))
    check(not os.path.exists(dst), "a failed get left LOCAL")
    segs = segments(term)
    check(len(segs) >= 2, "expected bar lines and an error: %r" % term[-300:])
    check(re.match(r"^tftpx: f\.bin: timeout: no answer from ", segs[-1])
          is not None, "last line is not the timeout error: %r" % segs[-1])
    check(term.endswith("\r\n") and term.count("\n") == 1,
          "more than the error line ended in a newline: %r" % term[-300:])
    for b in segs[:-1]:
        check(BAR_PCT.match(b) is not None, "not a bar line: %r" % b)
    i = term.rfind("tftpx: ")
    check(re.search(r"\r {99}\r$", term[:i]) is not None,
          "the bar line was not cleared before the error: %r" %
          term[max(0, i - 120):i])


@case("bar_get_pipe")
def _(ctx):
    _, src, srv = served(ctx, 2 * MIB)
    relay = Pacer(ctx, srv.port)
    dst = os.path.join(ctx.tmpdir("out"), "f.bin")
    rc, out, err, _ = ctx.tftpx("get", "-b", "1468", ctx.hp(relay.port),
                                "f.bin", dst)
    relay.stop()
    check(rc == 0, "exit %d; stderr %r" % (rc, err))
    check(same_file(src, dst) is None, same_file(src, dst) or "")
    check("\r" not in err, "a CR on a stderr that is a pipe: %r" % err[:200])
    lines = err.splitlines()
    check(len(lines) == 1, "expected only the summary, got %r" % err[:300])
    m = SUMMARY.match(lines[0])
    check(m is not None, "not a summary line: %r" % lines[0])
    check(m.group(1) == "got" and m.group(2) == "f.bin" and
          int(m.group(3)) == 2 * MIB, "wrong summary %r" % lines[0])
    check(m.group(4) is None, "-v detail without -v: %r" % lines[0])
    # no bar, so no reason to ask for tsize
    l = srv.expect_ok("RRQ", "f.bin")
    check("tsize" not in l, "tsize asked through a pipe: %r" % l)


@case("bar_get_quiet")
def _(ctx):
    _, src, srv = served(ctx, 2 * MIB)
    relay = Pacer(ctx, srv.port)
    dst = os.path.join(ctx.tmpdir("out"), "f.bin")
    rc, out, term = run_pty(ctx, [TFTPX, "get", "-q", "-b", "1468",
                                  ctx.hp(relay.port), "f.bin", dst])
    relay.stop()
    check(rc == 0, "exit %d; terminal %r" % (rc, term[-300:]))
    check(same_file(src, dst) is None, same_file(src, dst) or "")
    check(relay.forwarded > 1000, "only %d packets paced" % relay.forwarded)
    check(term == "", "-q printed %r" % term[:200])
    check(out == b"", "stdout got %r" % out[:80])


@case("bar_get_verbose")
def _(ctx):
    _, src, srv = served(ctx, 100 * 1024)
    rc, _, err, _ = ctx.tftpx("get", "-v", "-b", "1468", "-w", "4",
                              ctx.hp(srv.port), "f.bin",
                              os.path.join(ctx.tmpdir("out"), "f.bin"))
    check(rc == 0, "exit %d; stderr %r" % (rc, err))
    lines = err.splitlines()
    check(len(lines) == 1, "expected one line, got %r" % err[:300])
    m = SUMMARY.match(lines[0])
    check(m is not None and m.group(4) is not None,
          "not a verbose summary: %r" % lines[0])
    # the server's TID, the options in force, the timer expiries
    check(re.match(r"^; server 127\.0\.0\.1:\d+, blksize=1468 windowsize=4, "
                   r"\d+ timeouts$", m.group(4)) is not None,
          "verbose detail %r" % m.group(4))


@case("bar_get_stdout")
def _(ctx):
    _, src, srv = served(ctx, 3 * MIB)
    relay = Pacer(ctx, srv.port)
    rc, out, term = run_pty(ctx, [TFTPX, "get", "-b", "1468",
                                  ctx.hp(relay.port), "f.bin", "-"])
    relay.stop()
    check(rc == 0, "exit %d; terminal %r" % (rc, term[-300:]))
    check(out == read_bytes(src), "stdout is not the file (%d bytes, "
          "file %d)" % (len(out), 3 * MIB))
    check_bar(term, "f.bin", 3 * MIB, 100)


@case("bar_put_file")
def _(ctx):
    root = ctx.tmpdir("root")
    src = write_random(os.path.join(ctx.tmpdir("loc"), "up.bin"),
                       2 * MIB)
    srv = ctx.server(root, "--upload")
    relay = Pacer(ctx, srv.port)
    rc, out, term = run_pty(ctx, [TFTPX, "put", "-b", "1468",
                                  ctx.hp(relay.port), src])
    relay.stop()
    check(rc == 0, "exit %d; terminal %r" % (rc, term[-300:]))
    check(out == b"", "stdout got %r" % out[:80])
    srv.expect_ok("WRQ", "up.bin")
    dst = os.path.join(root, "up.bin")
    check(same_file(src, dst) is None, same_file(src, dst) or "")
    check_bar(term, "up.bin", 2 * MIB, 100)
    check(" sent up.bin " in term, "no 'sent' summary: %r" % term[-200:])


@case("bar_put_stdin")
def _(ctx):
    root = ctx.tmpdir("root")
    data = os.urandom(2 * MIB)
    srv = ctx.server(root, "--upload")
    relay = Pacer(ctx, srv.port)
    rc, out, term = run_pty(ctx, [TFTPX, "put", "-b", "1468",
                                  ctx.hp(relay.port), "-", "in.bin"],
                            stdin_data=data)
    relay.stop()
    check(rc == 0, "exit %d; terminal %r" % (rc, term[-300:]))
    srv.expect_ok("WRQ", "in.bin")
    check(read_bytes(os.path.join(root, "in.bin")) == data,
          "stored file differs")
    check("%" not in term, "a percent for a pipe: %r" % term[:300])
    check_bar(term, "in.bin", 2 * MIB, 100, percent=False)


@case("bar_no_tsize_server")
def _(ctx):
    data = os.urandom(MIB + 100)
    srv = ClassicServer(ctx, data)
    dst = os.path.join(ctx.tmpdir("out"), "c.bin")
    rc, _, term = run_pty(ctx, [TFTPX, "get", ctx.hp(srv.port),
                                "c.bin", dst])
    check(rc == 0, "exit %d; terminal %r" % (rc, term[-300:]))
    check(srv.finished(), "the server did not see the transfer through")
    check(read_bytes(dst) == data, "file differs")
    check(srv.opts is not None and "tsize" in srv.opts,
          "on a terminal the client did not ask for tsize: %r" % srv.opts)
    check("%" not in term, "a percent with no tsize: %r" % term[:300])
    check_bar(term, "c.bin", len(data), 100, percent=False)
    # through a pipe there is no bar, so nothing to ask tsize for
    srv = ClassicServer(ctx, data, gap=0)
    rc, _, err, _ = ctx.tftpx("get", ctx.hp(srv.port), "c.bin", dst)
    check(rc == 0, "exit %d; stderr %r" % (rc, err))
    check(srv.opts == {}, "options asked through a pipe: %r" % srv.opts)
    check(SUMMARY.match(err.rstrip("\n")) is not None,
          "not one summary line: %r" % err)


@case("bar_tsize_refused")
def _(ctx):
    data = os.urandom(MIB)
    srv = ClassicServer(ctx, data, refuse_options=True)
    dst = os.path.join(ctx.tmpdir("out"), "r.bin")
    rc, _, term = run_pty(ctx, [TFTPX, "get", ctx.hp(srv.port),
                                "r.bin", dst])
    check(rc == 0, "exit %d; terminal %r" % (rc, term[-300:]))
    check(srv.finished(), "the server did not see the transfer through")
    check(read_bytes(dst) == data, "file differs")
    check(srv.requests == [{"tsize": "0"}, {}],
          "requests %r, expected tsize then none" % srv.requests)
    check_bar(term, "r.bin", len(data), 100, percent=False)
    # --tsize is the user's own: the refusal is reported, no second try
    srv = ClassicServer(ctx, data, gap=0, refuse_options=True)
    rc, _, err, _ = ctx.tftpx("get", "--tsize", "-t", "1", "-r", "1",
                              ctx.hp(srv.port), "r.bin", dst + ".2")
    check(rc == 1, "exit %d, expected 1; stderr %r" % (rc, err))
    check("(error 8)" in err, "no ERROR 8 in %r" % err)
    check(srv.requests == [{"tsize": "0"}], "requests %r" % srv.requests)
    check(not os.path.exists(dst + ".2"), "a failed get left a file")


if __name__ == "__main__":
    sys.exit(main(budget=SUITE_BUDGET))
