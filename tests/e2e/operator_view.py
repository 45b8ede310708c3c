#!/usr/bin/env python3
"""tests/e2e/operator_view.py - what a person running `tftpx serve` sees.

Run from the repo root:  python3 tests/e2e/operator_view.py [-k SUBSTRING] [-j N]

Built on the harness in tests/lib/tftpx_test.py.  Each case prints one
line "PASS name", "FAIL name: reason" or "SKIP name: reason".

What is covered (each case fails when the behaviour it names is removed):
  start_*     the start-up lines: listening, serving and mode, the U-Boot
              line with a real address (a wildcard listener in a private
              network namespace with and without a non-loopback address)
  refuse_*    the reason for each refusal, in words, for a raw RRQ/WRQ
  verbose_*   -v: the option negotiation, asked -> granted, and what was
              ignored and why
  json_*      --log-format json: every event line parses, with the fields
              of the text line, a hostile file name included
  logfile_*   --log-file, and SIGHUP after a rename (logrotate)
  syslog_*    --syslog into a socket bound over /dev/log in a private
              mount namespace
  once_*      --once: exit 0 after a good transfer, 1 after a failed one
  fail_*      start-up failures: port in use (naming the holder),
              privileged port as nobody, DIR missing / not a directory /
              unreadable
  spin_*      --spin: with -v, how many waits polling ended; none with
              --spin 0; none on one CPU (taskset); a bad value refused
  testrun_*   what `make check` (tests/run) says at its end: the suites
              that skipped cases, why, and the command that installs what
              they need (nginx taken away by NGINX=/nonexistent, one suite
              run through TESTS=...)

Traffic goes only to 127.0.0.1 / ::1, or into network namespaces made
here with `unshare -n` (gone with their last process).
"""

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "lib"))
from tftpx_test import (  # noqa: E402
    ACK, DATA, ERROR, Fail, OACK, Server, Skip, TFTPX, case, check, describe,
    err_of, ipv6_usable, main, ok_run, op_of, outcome, param_case, pkt_error,
    pkt_rrq, pkt_wrq, same_file, write_bytes, write_random)
from tftpx_test import REPO, root_with  # noqa: E402


# ---------------------------------------------------------------- helpers


def oserver(ctx, root, *args):
    """A server ready at the "serving" line, after the listening lines."""
    return Server(ctx, root, args, ready="serving")


def refusal_line(srv, name_logged, timeout=3.0):
    """'... OP "name" REASON; refused: error N: TEXT' for name_logged."""
    tag = '"%s" ' % name_logged
    return srv.wait_for(lambda l: tag in l and "refused: error " in l,
                        timeout)


def get_ok(ctx, srv, name):
    out = ctx.tmpdir("out")
    ok_run(ctx.tftpx("get", ctx.hp(srv.port), name,
                     os.path.join(out, "x")), "get %s" % name)


def wait_file_line(path, pred, timeout=3.0):
    """The first line of the file at path matching pred (bounded poll)."""
    end = time.monotonic() + timeout
    while True:
        try:
            with open(path, "rb") as f:
                for raw in f.read().decode("utf-8", "replace").splitlines():
                    if pred(raw):
                        return raw
        except FileNotFoundError:
            pass
        if time.monotonic() > end:
            return None
        time.sleep(0.05)


def have_root_tools(*tools):
    if os.geteuid() != 0:
        raise Skip("needs root (namespaces, setpriv)")
    for t in tools:
        if shutil.which(t) is None:
            raise Skip("%s not installed" % t)


def hint_line(srv):
    l = srv.wait_for(lambda l: l.startswith("tftpx: U-Boot: "), 2)
    check(l is not None, "no U-Boot line after the serving line; stderr: %s"
          % srv.tail())
    return l


# ---------------------------------------------------------------- start-up


@param_case("start_lines", (4,),
            [("readonly", ((), "read-only")),
             ("upload", (("--upload",), "with uploads"))])
def _(ctx, arg):
    args, words = arg
    root = ctx.tmpdir("root")
    srv = oserver(ctx, root, *args)
    want = ["tftpx: listening on 127.0.0.1:%d" % srv.port,
            "tftpx: serving %s %s" % (os.path.realpath(root), words)]
    # who it runs as (the privilege drop, service.py) may come between
    lines = [l for l in srv.lines if not l.startswith("tftpx: running as ")]
    check(lines[:2] == want, "first lines %r, expected %r" %
          (lines[:2], want))
    l = hint_line(srv)
    want = ("tftpx: U-Boot: setenv serverip 127.0.0.1; setenv tftpdstp %d; "
            "tftpboot ${loadaddr} <file>" % srv.port)
    check(l == want, "U-Boot line %r, expected %r" % (l, want))


@case("start_hint_ipv6_only")
def _(ctx):
    if not ipv6_usable():
        raise Skip("::1 unusable")
    root = ctx.tmpdir("root")
    srv = Server(ctx, root, argv=[TFTPX, "serve", "--allow-root", "-l",
                                   "[::1]:0", root])
    l = hint_line(srv)
    want = ("tftpx: U-Boot: setenv serverip6 ::1; setenv tftpdstp %d; "
            "tftpboot ${loadaddr} <file> -ipv6" % srv.port)
    check(l == want, "U-Boot line %r, expected %r" % (l, want))


def netns_argv(setup, root):
    """A wildcard server in a private network namespace after setup."""
    script = ("ip link set lo up && %s exec %s serve --allow-root -p 0 %s" %
              (setup, TFTPX, root))
    return ["unshare", "-n", "sh", "-c", script]


@case("start_hint_wildcard_real_address")
def _(ctx):
    have_root_tools("unshare", "ip")
    root = ctx.tmpdir("root")
    # a veth pair: an interface that is up and not loopback
    setup = ("ip link add tx0 type veth peer name tx1 && "
             "ip addr add 10.213.7.1/24 dev tx0 && ip link set tx0 up && "
             "ip link set tx1 up &&")
    probe = subprocess.run(["unshare", "-n", "sh", "-c",
                            "ip link add tx0 type veth peer name tx1"],
                           capture_output=True, timeout=10)
    if probe.returncode != 0:
        raise Skip("no veth in a private namespace: %s" %
                   probe.stderr.decode(errors="replace").strip())
    srv = Server(ctx, root, argv=netns_argv(setup, root))
    check(any(l.startswith("tftpx: listening on 0.0.0.0:")
              for l in srv.lines), "no wildcard listening line: %s" %
          srv.lines)
    l = hint_line(srv)
    check("setenv serverip 10.213.7.1;" in l,
          "U-Boot line %r does not name the host's address 10.213.7.1 "
          "(loopback must be skipped when there is another)" % l)
    check("127.0.0.1" not in " ".join(srv.lines), "loopback named beside a "
          "real address: %s" % srv.lines)


@case("start_hint_wildcard_loopback_only")
def _(ctx):
    have_root_tools("unshare", "ip")
    root = ctx.tmpdir("root")
    srv = Server(ctx, root, argv=netns_argv("", root))
    l = hint_line(srv)
    check("setenv serverip 127.0.0.1;" in l, "with only lo the U-Boot line "
          "must name 127.0.0.1: %r" % l)


@case("start_help_lists_options")
def _(ctx):
    rc, out, err, _ = ctx.tftpx("serve", "--help")
    check(rc == 0, "serve --help exited %d" % rc)
    text = out.decode()
    missing = [o for o in ("--log-format", "--log-file", "--syslog",
                           "--once") if o not in text]
    check(not missing, "serve --help lacks %s" % missing)
    rc, _, err, _ = ctx.tftpx("serve", "--log-format", "xml", ".")
    check(rc == 2 and "text or json" in err, "--log-format xml: exit %d, %r"
          % (rc, err))


# ---------------------------------------------------------------- refusals

# (suffix, server args, request maker(peer_port), ERROR code,
#  logged name, words in the log)
REFUSALS = [
    ("not_found", (), lambda: pkt_rrq("/pxelinux.cfg/01-52-54-00-12-34-56"),
     1, "/pxelinux.cfg/01-52-54-00-12-34-56",
     " not found: pxelinux.cfg/01-52-54-00-12-34-56; refused: error 1: "
     "file not found"),
    ("upload_off", (), lambda: pkt_wrq("new.bin"), 2, "new.bin",
     "upload refused: run with --upload"),
    ("exists", ("--upload",), lambda: pkt_wrq("a.bin"), 6, "a.bin",
     "exists: a.bin; run with --overwrite to replace"),
    ("escape", (), lambda: pkt_rrq("../../etc/passwd"), 2,
     "../../etc/passwd", "access denied: path leaves the root"),
    ("directory", (), lambda: pkt_rrq("sub"), 2, "sub",
     "access denied: sub is not a regular file"),
    ("empty_name", (), lambda: pkt_rrq("/"), 2, "/",
     "access denied: empty file name"),
    ("mode_mail", (), lambda: pkt_rrq("a.bin", "mail"), 4, "a.bin",
     "bad mode: mode mail is not supported; use octet or netascii"),
    ("mode_unknown", (), lambda: pkt_rrq("a.bin", "binary"), 4, "a.bin",
     "bad mode: unknown transfer mode"),
    ("no_dir", ("--upload",), lambda: pkt_wrq("nodir/x.bin"), 1,
     "nodir/x.bin", "directory not found: nodir/x.bin (uploads do not "
     "create directories)"),
    ("reserved", ("--upload",), lambda: pkt_wrq(".tftpx-1.tmp"), 2,
     ".tftpx-1.tmp", "names starting with .tftpx- are the server's temp"),
    ("too_large", ("--upload", "--max-upload", "1K"),
     lambda: pkt_wrq("big.bin", opts=[("tsize", "5000")]), 3, "big.bin",
     "too large: tsize 5000 is over --max-upload 1024"),
]


@param_case("refuse", (4,), [(r[0], r) for r in REFUSALS])
def _(ctx, r):
    _, args, req, code, logged, words = r
    root = root_with(ctx, {"a.bin": 700, "sub/x": b"x"})
    srv = oserver(ctx, root, *args)
    peer = ctx.peer()
    peer.send(req(), srv.port)
    pkt, _ = peer.expect(3.0, "ERROR %d" % code)
    check(op_of(pkt) == ERROR and err_of(pkt)[0] == code,
          "expected ERROR %d, got %s" % (code, describe(pkt)))
    l = refusal_line(srv, logged)
    check(l is not None, "no refusal line for %r; stderr: %s" %
          (logged, srv.tail()))
    check(words in l, "refusal line %r does not say %r" % (l, words))


@case("refuse_busy_name")
def _(ctx):
    root = root_with(ctx, {})
    srv = oserver(ctx, root, "--upload")
    a, b = ctx.peer(), ctx.peer()
    a.send(pkt_wrq("same.bin"), srv.port)
    pkt, tid = a.expect(3.0, "ACK 0")
    check(op_of(pkt) == ACK, "first WRQ: %s" % describe(pkt))
    b.send(pkt_wrq("same.bin"), srv.port)
    pkt, _ = b.expect(3.0, "ERROR 2")
    check(op_of(pkt) == ERROR, "second WRQ: %s" % describe(pkt))
    a.send(pkt_error(0), tid)
    l = refusal_line(srv, "same.bin")
    check(l is not None and "busy name: another upload of same.bin is in "
          "progress" in l, "refusal line %r; stderr: %s" % (l, srv.tail()))


@param_case("refuse_busy", (4,),
            [("total", (("--max-transfers", "1"),
                        "server busy: 1 transfers live (--max-transfers)")),
             ("per_client", (("--max-per-client", "1"),
                             "server busy: 1 transfers live from this host "
                             "(--max-per-client)"))])
def _(ctx, arg):
    args, words = arg
    root = root_with(ctx, {"a.bin": 5000})
    srv = oserver(ctx, root, "-v", *args)
    a, b = ctx.peer(), ctx.peer()
    a.send(pkt_rrq("a.bin"), srv.port)      # held: DATA 1 never ACKed
    pkt, tid = a.expect(3.0, "DATA 1")
    b.send(pkt_rrq("a.bin"), srv.port)
    pkt2, _ = b.expect(3.0, "ERROR 0")
    check(op_of(pkt2) == ERROR and err_of(pkt2)[0] == 0,
          "over the limit: %s" % describe(pkt2))
    a.send(pkt_error(0), tid)
    l = srv.wait_for(lambda l: "refused: error 0: " in l, 3)
    check(l is not None and words in l, "busy refusal %r does not say %r"
          % (l, words))


# ---------------------------------------------------------------- -v


@case("verbose_negotiation")
def _(ctx):
    root = root_with(ctx, {"a.bin": 100000})
    srv = oserver(ctx, root, "-v", "--blksize-max", "1468",
                  "--windowsize-max", "16")
    peer = ctx.peer()
    peer.send(pkt_rrq("a.bin", opts=[
        ("blksize", "65464"), ("windowsize", "64"), ("tsize", "0"),
        ("timeout", "1"), ("foo", "bar"), ("blksize", "7"),
        ("rollover", "9")]), srv.port)
    pkt, tid = peer.expect(3.0, "OACK")
    check(op_of(pkt) == OACK, "expected OACK, got %s" % describe(pkt))
    peer.send(pkt_error(0), tid)
    l = srv.wait_for(lambda l: ' RRQ "a.bin" octet start' in l, 3)
    check(l is not None, "no start line at -v; stderr: %s" % srv.tail())
    for want in ("options: blksize 65464->1468 (--blksize-max)",
                 "timeout 1->1", "tsize 0->100000",
                 "windowsize 64->16 (--windowsize-max)",
                 "ignored: foo (unknown), blksize=7 (repeated), "
                 "rollover=9 (malformed or out of range)"):
        check(want in l, "start line %r lacks %r" % (l, want))


@case("verbose_tsize_empty_file")
def _(ctx):
    root = root_with(ctx, {"e.bin": b""})
    srv = oserver(ctx, root, "-v")
    get_ok(ctx, srv, "e.bin")
    rc, _, err, _ = ctx.tftpx("get", "--tsize", ctx.hp(srv.port), "e.bin",
                              os.path.join(ctx.tmpdir("o"), "e"))
    check(rc == 0, "get --tsize of an empty file: %s" % err)
    l = srv.wait_for(lambda l: "tsize 0->none (empty file)" in l, 3)
    check(l is not None, "no 'tsize 0->none (empty file)'; stderr: %s" %
          srv.tail())


# ---------------------------------------------------------------- JSON

HOSTILE = b'we"ird\\na\nme\x01\x1b[31m\xff\xfe\x80\xc3(end'
# bytes that are not UTF-8 in the ways a decoder can get wrong: overlong,
# surrogate, above U+10FFFF, truncated sequences; and valid 2-4 byte ones
NOT_UTF8 = [b"ov\xc0\xafer", b"su\xed\xa0\x80rr", b"hi\xf4\x90\x80\x80x",
            b"tr\xe2\x82A", b"t4\xf0\x9f\x98", b"\xe0\x80\xaf",
            "ok-\u00e9\u20ac\U0001f600".encode()]


def json_events(lines):
    """Parse every event line (all lines but "tftpx: ..."); Fail on one
    that is not a JSON object."""
    evs = []
    for l in lines:
        if l.startswith("tftpx: "):
            continue
        try:
            o = json.loads(l)
        except ValueError as e:
            raise Fail("not JSON (%s): %r" % (e, l))
        check(isinstance(o, dict) and "event" in o and "ts" in o,
              "not an event object: %r" % l)
        evs.append(o)
    return evs


def wait_events(srv, pred, timeout=3.0):
    end = time.monotonic() + timeout
    while True:
        with srv.cv:
            lines = list(srv.lines)
        evs = json_events(lines)
        if pred(evs) or time.monotonic() > end:
            return evs
        time.sleep(0.05)


@case("json_events")
def _(ctx):
    root = root_with(ctx, {"a.bin": 3000, "d.bin": 2000})
    srv = oserver(ctx, root, "-v", "--log-format", "json")
    get_ok(ctx, srv, "a.bin")
    # a refusal for a hostile name: quotes, backslashes, newline, control
    # and escape bytes, bytes that are not UTF-8
    peer = ctx.peer()
    peer.send(pkt_rrq(HOSTILE), srv.port)
    pkt, _ = peer.expect(3.0, "ERROR 1")
    check(op_of(pkt) == ERROR, "hostile RRQ: %s" % describe(pkt))
    # a duplicate: the same RRQ again from the same port while it is live
    dup = ctx.peer()
    dup.send(pkt_rrq("d.bin"), srv.port)
    pkt, tid = dup.expect(3.0, "DATA 1")
    dup.send(pkt_rrq("d.bin"), srv.port)
    evs = wait_events(srv, lambda e: any(x["event"] == "duplicate"
                                         for x in e))
    dup.send(pkt_error(0), tid)
    evs = wait_events(srv, lambda e: sum(x["event"] == "end"
                                         for x in e) >= 2)
    kinds = [e["event"] for e in evs]
    for k in ("start", "end", "refusal", "duplicate"):
        check(k in kinds, "no %r event in %r" % (k, kinds))
    end_ok = [e for e in evs if e["event"] == "end" and
              e.get("file") == "a.bin"]
    check(end_ok, "no end event for a.bin: %r" % evs)
    e = end_ok[0]
    check(e["outcome"] == "ok" and e["bytes"] == 3000 and e["op"] == "RRQ",
          "end event %r" % e)
    for f in ("client", "mode", "seconds", "mbytes_per_s", "retransmits", "probes",
              "answered", "dupacks", "dupreqs", "srtt_ms", "pace_us",
              "options"):
        check(f in e, "end event lacks %r: %r" % (f, e))
    check(e["client"].startswith("127.0.0.1:"), "client %r" % e["client"])
    end_fail = [x for x in evs if x["event"] == "end" and
                x.get("file") == "d.bin"]
    check(end_fail and end_fail[0]["outcome"] == "failed" and
          end_fail[0]["error_from"] == "client" and
          end_fail[0]["dupreqs"] == 1,
          "failed end event for d.bin: %r" % end_fail)
    ref = [x for x in evs if x["event"] == "refusal"]
    check(len(ref) == 1, "refusals %r" % ref)
    r = ref[0]
    want = HOSTILE.decode("utf-8", "replace")
    check(r["file"] == want, "file %r, expected %r" % (r["file"], want))
    check(r.get("file_hex") == HOSTILE.hex(), "file_hex %r, expected %r"
          % (r.get("file_hex"), HOSTILE.hex()))
    check(r["error_code"] == 1 and r["reason"].startswith("not found: "),
          "refusal %r" % r)
    for name in NOT_UTF8:
        peer.send(pkt_rrq(name), srv.port)
        peer.expect(3.0, "ERROR 1")
    evs = wait_events(srv, lambda e: sum(x["event"] == "refusal"
                                         for x in e) >= 1 + len(NOT_UTF8))
    ref = [x for x in evs if x["event"] == "refusal"][1:]
    check(len(ref) == len(NOT_UTF8), "refusals %r" % ref)
    for name, r in zip(NOT_UTF8, ref):
        # U+FFFD per maximal subpart, as Python decodes
        want = name.decode("utf-8", "replace")
        check(r["file"] == want, "%r logged as %r, expected %r" %
              (name, r["file"], want))
        valid = "\ufffd" not in want
        check(("file_hex" in r) != valid, "%r: file_hex %r" %
              (name, r.get("file_hex")))
    st = [x for x in evs if x["event"] == "start" and x["file"] == "a.bin"]
    check(st and "granted" in st[0] and "asked" in st[0], "start %r" % st)
    d = [x for x in evs if x["event"] == "duplicate"][0]
    check(d["file"] == "d.bin" and d["finished"] is False,
          "duplicate %r" % d)


@case("json_quiet_without_v")
def _(ctx):
    # without -v: end and refusal only, still one object per line
    root = root_with(ctx, {"a.bin": 600})
    srv = oserver(ctx, root, "--log-format", "json")
    get_ok(ctx, srv, "a.bin")
    peer = ctx.peer()
    peer.send(pkt_rrq("nope"), srv.port)
    peer.expect(3.0, "ERROR 1")
    evs = wait_events(srv, lambda e: len(e) >= 2)
    check(sorted(e["event"] for e in evs) == ["end", "refusal"],
          "events %r" % evs)


# ---------------------------------------------------------------- log file


@case("logfile_sighup_reopens")
def _(ctx):
    root = root_with(ctx, {"one.bin": 600, "two.bin": 700})
    logd = ctx.tmpdir("log")
    path = os.path.join(logd, "tftpx.log")
    srv = oserver(ctx, root, "--log-file", path)
    get_ok(ctx, srv, "one.bin")
    l = wait_file_line(path, lambda l: '"one.bin"' in l and
                       outcome(l) == "ok")
    check(l is not None, "no line for one.bin in the log file")
    check(not any('"one.bin"' in x for x in srv.lines),
          "the event went to stderr too: %s" % srv.tail())
    os.rename(path, path + ".1")
    srv.p.send_signal(signal.SIGHUP)
    # the reopen is done when the new file exists (bounded wait)
    end = time.monotonic() + 3
    while not os.path.exists(path) and time.monotonic() < end:
        time.sleep(0.05)
    check(os.path.exists(path), "SIGHUP did not create a new log file")
    check(srv.p.poll() is None, "server exited on SIGHUP")
    get_ok(ctx, srv, "two.bin")
    l = wait_file_line(path, lambda l: '"two.bin"' in l and
                       outcome(l) == "ok")
    check(l is not None, "no line for two.bin in the new log file")
    with open(path + ".1") as f:
        old = f.read()
    check('"two.bin"' not in old, "two.bin went to the rotated file")


@case("logfile_unwritable")
def _(ctx):
    root = ctx.tmpdir("root")
    rc, _, err, _ = ctx.tftpx("serve", "--allow-root", "-l", "127.0.0.1:0",
                              "--log-file",
                              os.path.join(root, "no", "dir", "x.log"),
                              root, timeout=10)
    check(rc == 1, "exit %d, expected 1" % rc)
    check("cannot open log file" in err and err.count("\n") == 1,
          "stderr %r" % err)


# ---------------------------------------------------------------- syslog


@case("syslog_events")
def _(ctx):
    have_root_tools("unshare", "mount")
    root = root_with(ctx, {"a.bin": 900})
    devdir = ctx.tmpdir("dev")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ctx.socks.append(sock)
    sock.bind(os.path.join(devdir, "log"))
    # in a private mount namespace, our directory is /dev: syslog(3)
    # writes to /dev/log, which is now our socket
    script = ("mount --bind %s /dev && exec %s serve --allow-root --syslog "
              "-l %s %s" % (devdir, TFTPX, ctx.listen_spec(), root))
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True,
                           timeout=10)
    if probe.returncode != 0:
        raise Skip("unshare -m failed: %s" %
                   probe.stderr.decode(errors="replace").strip())
    srv = Server(ctx, root, argv=["unshare", "-m", "sh", "-c", script])
    get_ok(ctx, srv, "a.bin")
    peer = ctx.peer()
    peer.send(pkt_rrq("nope"), srv.port)
    peer.expect(3.0, "ERROR 1")
    got = []
    sock.settimeout(0.2)
    end = time.monotonic() + 3
    while time.monotonic() < end and len(got) < 2:
        try:
            got.append(sock.recv(4096).decode("utf-8", "replace"))
        except socket.timeout:
            pass
    ok = [m for m in got if '"a.bin"' in m]
    ref = [m for m in got if '"nope" ' in m and 'refused: error 1' in m]
    # <30> = LOG_DAEMON | LOG_INFO, <28> = LOG_DAEMON | LOG_WARNING
    check(ok and ok[0].startswith("<30>") and
          re.search(r"tftpx\[\d+\]: ", ok[0]) and ok[0].rstrip().endswith(
              " ok"), "syslog messages for the get: %r" % got)
    check(ref and ref[0].startswith("<28>") and "not found: nope" in ref[0],
          "syslog message for the refusal: %r" % got)
    check(not any('"a.bin"' in l for l in srv.lines),
          "the event went to stderr too")


# ---------------------------------------------------------------- --once


@case("once_exits_0_after_good_get")
def _(ctx):
    root = root_with(ctx, {"a.bin": 5000})
    srv = oserver(ctx, root, "--once")
    # a refusal first does not end it
    peer = ctx.peer()
    peer.send(pkt_rrq("nope"), srv.port)
    peer.expect(3.0, "ERROR 1")
    check(srv.exit_code(0.3) is None, "--once server ended on a refusal")
    get_ok(ctx, srv, "a.bin")
    rc = srv.exit_code(5)
    check(rc == 0, "--once server after a good get: exit %r" % rc)


@case("once_exits_1_after_failed_transfer")
def _(ctx):
    root = root_with(ctx, {"a.bin": 5000})
    srv = oserver(ctx, root, "--once")
    peer = ctx.peer()
    peer.send(pkt_rrq("a.bin"), srv.port)
    pkt, tid = peer.expect(3.0, "DATA 1")
    check(op_of(pkt) == DATA, "expected DATA 1, got %s" % describe(pkt))
    peer.send(pkt_error(0, "user abort"), tid)
    rc = srv.exit_code(5)
    check(rc == 1, "--once server after a failed transfer: exit %r" % rc)


@case("once_upload")
def _(ctx):
    root = root_with(ctx, {})
    srv = oserver(ctx, root, "--once", "--upload")
    src = write_random(os.path.join(ctx.tmpdir("src"), "u.bin"), 3000)
    ok_run(ctx.tftpx("put", ctx.hp(srv.port), src, "u.bin"), "put")
    rc = srv.exit_code(5)
    check(rc == 0, "--once server after a good put: exit %r" % rc)
    check(same_file(src, os.path.join(root, "u.bin")) is None,
          "uploaded file differs")


# ---------------------------------------------------------------- start-up failures


def one_line(err):
    lines = [l for l in err.splitlines() if l.strip()]
    check(len(lines) == 1, "expected one line on stderr, got %r" % lines)
    return lines[0]


@case("fail_port_in_use_names_holder")
def _(ctx):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ctx.socks.append(s)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    root = ctx.tmpdir("root")
    rc, _, err, _ = ctx.tftpx("serve", "--allow-root", "-l",
                              "127.0.0.1:%d" % port, root,
                              timeout=10)
    check(rc == 1, "exit %d, expected 1; stderr %r" % (rc, err))
    l = one_line(err)
    with open("/proc/self/comm") as f:
        comm = f.read().strip()
    want = "port %d is in use by pid %d (%s)" % (port, os.getpid(), comm)
    check(want in l, "%r does not say %r" % (l, want))
    check("--port" in l, "%r does not say what to do" % l)


@case("fail_privileged_port_as_nobody")
def _(ctx):
    have_root_tools("setpriv")
    with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
        first = int(f.read())
    if first <= 1:
        raise Skip("every port is unprivileged here "
                   "(ip_unprivileged_port_start=%d)" % first)
    port = random.randrange(1, min(first, 1024))
    root = ctx.tmpdir("root")
    os.chmod(root, 0o755)
    rc, _, err, _ = ctx.run(["setpriv", "--reuid", "nobody", "--regid",
                             "nogroup", "--clear-groups", TFTPX,
                             "serve", "--allow-root", "-l",
                             "127.0.0.1:%d" % port, root],
                            timeout=10)
    check(rc == 1, "exit %d, expected 1; stderr %r" % (rc, err))
    l = one_line(err)
    check("run as root, grant CAP_NET_BIND_SERVICE, or use --port 6969" in l,
          "%r does not say what to do" % l)


@param_case("fail_dir", (4,),
            [("missing", "missing"), ("not_dir", "file"),
             ("unreadable", "closed")])
def _(ctx, kind):
    base = ctx.tmpdir("base")
    os.chmod(base, 0o755)
    argv = [TFTPX, "serve", "--allow-root", "-l", "127.0.0.1:0"]
    if kind == "missing":
        d, want = os.path.join(base, "nope"), "no such directory"
    elif kind == "file":
        d = write_bytes(os.path.join(base, "f"), b"x")
        want = "not a directory"
    else:
        have_root_tools("setpriv")
        d = os.path.join(base, "closed")
        os.mkdir(d, 0o700)
        want = "permission denied"
        argv = ["setpriv", "--reuid", "nobody", "--regid", "nogroup",
                "--clear-groups"] + argv
    rc, _, err, _ = ctx.run(argv + [d], timeout=10)
    check(rc == 1, "exit %d, expected 1; stderr %r" % (rc, err))
    l = one_line(err)
    check(l.startswith("tftpx: cannot serve '%s': %s" % (d, want)),
          "%r does not say %r" % (l, want))


# ---------------------------------------------------------------- --spin

SPIN_RE = re.compile(r"^tftpx: polling ended (\d+) waits, (\d+) slept "
                     r"\((\d+) of them because another process wanted "
                     r"this CPU, (\d+) because the machine was busy\)$")


def spin_run(ctx, argv_head, *args):
    """A -v --once server (argv_head before tftpx) through one 1 MiB
    lock-step get; its stderr lines after it exited."""
    root = root_with(ctx, {"a.bin": 1 << 20})
    argv = argv_head + [TFTPX, "serve", "--allow-root", "-l",
                        ctx.listen_spec(), "-v", "--once"] + list(args)
    srv = Server(ctx, root, argv=argv + [root])
    get_ok(ctx, srv, "a.bin")
    rc = srv.exit_code(10)
    check(rc == 0, "--once server after a good get: exit %r" % rc)
    srv.wait_for(lambda l: False, 0.5)      # the last lines drained
    return srv.lines


@case("spin_polls_a_fast_client")
def _(ctx):
    if len(os.sched_getaffinity(0)) < 2:
        raise Skip("one CPU here: the server does not poll")
    # a cap of 10 ms: every wait for a client on this host is shorter,
    # so the budget grows until polling ends the waits
    lines = spin_run(ctx, [], "--spin", "10000")
    m = [SPIN_RE.match(l) for l in lines]
    m = [x for x in m if x]
    check(len(m) == 1, "no polling line in %r" % lines[-4:])
    caught, slept, _, busy = (int(x) for x in m[0].groups())
    # 2048 DATA blocks, each answered by an ACK
    check(caught + slept >= 1024, "%d waits for a 2048-block get: %r" %
          (caught + slept, m[0].group(0)))
    # the other cases running beside this one may keep more tasks
    # runnable than there are CPUs: then the loop must say it stood down
    check(caught > 0 or busy > 0, "neither polled nor stood down for "
          "load: %r" % m[0].group(0))
    check(busy <= slept, "counts do not add up: %r" % m[0].group(0))


@case("spin_off_sleeps")
def _(ctx):
    lines = spin_run(ctx, [], "--spin", "0")
    check(not any("polling" in l for l in lines),
          "--spin 0 still polls: %r" % lines[-4:])


@case("spin_one_cpu_sleeps")
def _(ctx):
    if shutil.which("taskset") is None:
        raise Skip("taskset not installed")
    cpu = min(os.sched_getaffinity(0))
    lines = spin_run(ctx, ["taskset", "-c", str(cpu)])
    check("tftpx: no polling before sleeping: one CPU" in lines,
          "on one CPU: %r" % lines[-4:])


@case("spin_bad_value")
def _(ctx):
    root = ctx.tmpdir("root")
    rc, _, err, _ = ctx.tftpx("serve", "--allow-root", "-l", "127.0.0.1:0",
                              "--spin", "20000", root, timeout=10)
    check(rc == 2, "exit %d, expected 2; stderr %r" % (rc, err))
    l = one_line(err)
    check("--spin needs a number from 0 to 10000, not '20000'" in l,
          "%r does not name the problem" % l)


# ---------------------------------------------------------------- make check


def tests_run(ctx, env):
    """tests/run for the suites in env["TESTS"]: its output's lines."""
    e = dict(os.environ)
    e.update(env)
    p = subprocess.run(["sh", os.path.join(REPO, "tests", "run")], env=e,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=300)
    lines = p.stdout.decode("utf-8", "replace").splitlines()
    check(lines, "tests/run printed nothing (exit %d)" % p.returncode)
    return p.returncode, lines


@case("testrun_names_skipped_suites")
def _(ctx):
    rc, lines = tests_run(ctx, {"TESTS": "tests/e2e-origin",
                                "NGINX": "/nonexistent/nginx"})
    last = lines[-1]
    m = re.match(r"(\d+) passed, (\d+) failed, (\d+) skipped$", last)
    check(m is not None, "last line %r is not the count" % last)
    check(rc == 0 and int(m.group(2)) == 0 and int(m.group(3)) > 0,
          "exit %d, %r: expected skips and no failure" % (rc, last))
    tail = lines[-4:]
    check(tail[0] == "Suites that skipped cases, with the first reason:",
          "no list of skipped suites before the count: %r" % tail)
    check(tail[1].startswith("  tests/e2e-origin: %s skipped (" %
                             m.group(3)) and "/nonexistent/nginx" in tail[1]
          and "nginx-light" in tail[1],
          "the origin suite's line does not say why: %r" % tail[1])
    check(tail[2] == "What they need from Debian: sudo make test-deps",
          "no command to install what they need: %r" % tail[2])


@case("testrun_quiet_without_skips")
def _(ctx):
    rc, lines = tests_run(ctx, {"TESTS": "tests/unit/test_metrics"})
    check(rc == 0 and re.match(r"[1-9]\d* passed, 0 failed, 0 skipped$",
                               lines[-1]), "exit %d, %r" % (rc, lines[-1]))
    check(not any("skipped cases" in l or "make test-deps" in l
                  for l in lines), "a skip list without skips: %r" %
          lines[-4:])


if __name__ == "__main__":
    sys.exit(main())
