#!/usr/bin/env python3
"""tests/e2e/bench.py - end-to-end tests of `tftpx bench`, the load generator.

Run from the repo root:  python3 tests/e2e/bench.py [-k SUBSTRING] [-j N]

Built on the harness in tests/lib/tftpx_test.py.  Each case drives the
real binary against a real server (`tftpx serve` on a random loopback port,
or Debian's tftpd-hpa) and prints one line "PASS name", "FAIL name: reason"
or "SKIP name: reason".

What is covered:
  bench_get_*        many concurrent gets with --verify; the counts and
                     bytes reported agree with the server's own log
  bench_verify_*     a served file one byte off the local copy, or shorter,
                     is caught (exit 1, verify_errors, the offset named)
  bench_put_*        concurrent uploads land byte-exact, one name per lane
  bench_missing_*    an ERROR from the server fails every transfer, exit 1,
                     the server's text printed
  bench_timeout_*    a server that never answers: timeouts counted, exit 1
  bench_partial_*    some transfers refused, the run goes on to TOTAL
  bench_ports_*      no port reused while tftpx serve remembers it
  bench_json_*       --json is one parseable object with consistent values
  bench_usage_*      usage errors exit 2; --help
  bench_tftpd_hpa    the same against Debian's in.tftpd (SKIP if missing)

Traffic goes only to 127.0.0.1 and ::1.
"""

import json
import os
import re
import resource
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "lib"))
from tftpx_test import (  # noqa: E402
    BOTH, Fail, KIB, MIB, Skip, TFTPX, case, check, main, outcome, read_bytes,
    same_file, start_tftpd_hpa, write_bytes, write_random)

JSON_KEYS = {"transfers", "ok", "failed", "bytes", "seconds", "mbps", "tps",
             "p50_ms", "p99_ms", "max_ms", "retransmits", "timeouts",
             "verify_errors"}


def bench(ctx, *args, timeout=60):
    """Run tftpx bench; (rc, stdout str, stderr str)."""
    rc, out, err, _ = ctx.tftpx("bench", *args, timeout=timeout)
    return rc, out.decode("utf-8", "replace"), err


def bench_json(ctx, *args, timeout=60):
    """Run tftpx bench --json; (rc, the object, stderr)."""
    rc, out, err = bench(ctx, "--json", *args, timeout=timeout)
    lines = out.splitlines()
    check(len(lines) == 1, "--json printed %d lines on stdout, expected "
          "one: %r; stderr: %s" % (len(lines), out[:300], err[-300:]))
    try:
        obj = json.loads(lines[0])
    except ValueError as e:
        raise Fail("--json output does not parse (%s): %r" % (e, lines[0]))
    check(isinstance(obj, dict), "--json printed %r, not an object" % obj)
    check(set(obj) == JSON_KEYS, "--json keys %s, expected %s" %
          (sorted(obj), sorted(JSON_KEYS)))
    return rc, obj, err


# The server counts a transfer as live until it has read the final ACK;
# on a loaded machine a client's next request can be read first, so a
# client with CONCURRENCY lanes may briefly hold more than CONCURRENCY
# transfers there.  Cases that are not about --max-per-client lift it.
ROOMY = ("--max-per-client", "1000")


def served(ctx, size, name="f.bin", args=()):
    """A root holding name (random bytes), its server and a local copy."""
    root = ctx.tmpdir("root")
    loc = ctx.tmpdir("loc")
    src = write_random(os.path.join(root, name), size)
    copy = os.path.join(loc, name)
    write_bytes(copy, read_bytes(src))
    srv = ctx.server(root, *args)
    return root, copy, srv


def ok_lines(srv, kind, name, want, timeout=10.0):
    """Wait until the server has logged want finished transfers; the
    lines (ok or not) of kind/name."""
    tag = ' %s "%s" ' % (kind, name)

    def count():
        with srv.cv:
            return [l for l in srv.lines
                    if tag in l and outcome(l) is not None]
    end = time.monotonic() + timeout
    got = count()
    while len(got) < want and time.monotonic() < end:
        time.sleep(0.05)
        got = count()
    return got


# ---------------------------------------------------------------- gets


@case("bench_get_c50_n200_verify", limit=90)
def _(ctx):
    size = 300 * KIB + 7            # not a multiple of any block size
    _, copy, srv = served(ctx, size, args=ROOMY)
    rc, o, err = bench_json(ctx, "-c", "50", "-n", "200", "--verify",
                            "--local", copy, ctx.hp(srv.port), "f.bin",
                            timeout=80)
    check(rc == 0, "exit %d; stderr: %s" % (rc, err.strip()[-300:]))
    check(o["transfers"] == 200 and o["ok"] == 200 and o["failed"] == 0,
          "transfers/ok/failed %d/%d/%d, expected 200/200/0" %
          (o["transfers"], o["ok"], o["failed"]))
    check(o["bytes"] == 200 * size, "bytes %d, expected 200 x %d = %d" %
          (o["bytes"], size, 200 * size))
    check(o["verify_errors"] == 0, "verify_errors %d" % o["verify_errors"])
    # the server saw exactly these: 200 RRQs, each served whole
    lines = ok_lines(srv, "RRQ", "f.bin", 200)
    check(len(lines) == 200, "server logged %d finished RRQs, expected 200; "
          "last: %s" % (len(lines), srv.tail()))
    bad = [l for l in lines if outcome(l) != "ok"
           or (" %d bytes " % size) not in l]
    check(not bad, "server lines not ok/whole: %r" % bad[:2])


@case("bench_get_small_verify", fams=BOTH)
def _(ctx):
    size = 3 * 1468 + 1
    _, copy, srv = served(ctx, size)
    rc, out, err = bench(ctx, "-c", "4", "-n", "12", "-b", "1468", "-w", "4",
                         "--tsize", "--verify", "--local", copy,
                         ctx.hp(srv.port), "f.bin")
    check(rc == 0, "exit %d; stderr: %s" % (rc, err.strip()[-300:]))
    # the human lines: one per figure, labels aligned
    check(re.search(r"^  outcome +12 ok, 0 failed$", out, re.M),
          "no '12 ok, 0 failed' line in %r" % out)
    check(re.search(r"^  bytes +%d in " % (12 * size), out, re.M),
          "no bytes line of %d in %r" % (12 * size, out))
    check(re.search(r"^  verify +0 transfers differ", out, re.M),
          "no verify line in %r" % out)
    for label in ("throughput", "transfer time", "loss"):
        check(re.search(r"^  %s +\S" % label, out, re.M),
              "no %r line in %r" % (label, out))
    check(re.search(r"blksize=1468", out) and re.search(r"windowsize=4", out),
          "options not shown in %r" % out)
    # each of the 12 asked for the options the run was given
    lines = ok_lines(srv, "RRQ", "f.bin", 12)
    check(len(lines) == 12 and all("blksize=1468" in l and "windowsize=4"
                                   in l and outcome(l) == "ok"
                                   for l in lines),
          "server lines: %r" % lines[:2])


@case("bench_verify_detects_one_byte")
def _(ctx):
    size = 200 * KIB
    root, copy, srv = served(ctx, size)
    off = 123457
    with open(copy, "r+b") as f:        # the local copy, one byte off
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ 0x40]))
    rc, o, err = bench_json(ctx, "-c", "3", "-n", "6", "--verify",
                            "--local", copy, ctx.hp(srv.port), "f.bin")
    check(rc == 1, "exit %d with a corrupt copy, expected 1" % rc)
    check(o["verify_errors"] == 6 and o["ok"] == 0 and o["failed"] == 6,
          "verify_errors/ok/failed %d/%d/%d, expected 6/0/6" %
          (o["verify_errors"], o["ok"], o["failed"]))
    check(o["bytes"] == 6 * size, "bytes %d: the transfers did not run to "
          "the end" % o["bytes"])
    check("byte %d differs" % off in err, "stderr does not name byte %d: %r"
          % (off, err))
    # and the same file unchanged verifies: the check is not always-fail
    rc, o, err = bench_json(ctx, "-n", "1", "--verify", "--local",
                            os.path.join(root, "f.bin"), ctx.hp(srv.port),
                            "f.bin")
    check(rc == 0 and o["verify_errors"] == 0, "the served file itself "
          "failed to verify: exit %d, %s" % (rc, err.strip()))


@case("bench_verify_detects_length")
def _(ctx):
    size = 10 * KIB
    _, copy, srv = served(ctx, size)
    with open(copy, "ab") as f:         # local copy one byte longer
        f.write(b"x")
    rc, o, err = bench_json(ctx, "-n", "2", "--verify", "--local", copy,
                            ctx.hp(srv.port), "f.bin")
    check(rc == 1 and o["verify_errors"] == 2, "longer local copy: exit %d, "
          "verify_errors %d" % (rc, o["verify_errors"]))
    check("got %d bytes" % size in err, "stderr: %r" % err)
    write_bytes(copy, read_bytes(copy)[:size - 1])  # one shorter
    rc, o, err = bench_json(ctx, "-n", "2", "--verify", "--local", copy,
                            ctx.hp(srv.port), "f.bin")
    check(rc == 1 and o["verify_errors"] == 2, "shorter local copy: exit "
          "%d, verify_errors %d" % (rc, o["verify_errors"]))


# ---------------------------------------------------------------- puts


@case("bench_put_c10_n10")
def _(ctx):
    root = ctx.tmpdir("root")
    loc = ctx.tmpdir("loc")
    size = 100 * KIB + 3
    src = write_random(os.path.join(loc, "src.bin"), size)
    srv = ctx.server(root, "--upload", "--overwrite")
    rc, o, err = bench_json(ctx, "--put", "-c", "10", "-n", "10", "-b",
                            "1024", "--tsize", "--remote", "up.bin",
                            ctx.hp(srv.port), src)
    check(rc == 0, "exit %d; stderr: %s" % (rc, err.strip()[-300:]))
    check(o["ok"] == 10 and o["bytes"] == 10 * size,
          "ok %d bytes %d, expected 10 and %d" % (o["ok"], o["bytes"],
                                                  10 * size))
    for k in range(10):
        bad = same_file(src, os.path.join(root, "up.bin.%d" % k))
        check(bad is None, "up.bin.%d: %s" % (k, bad))
    extra = sorted(set(os.listdir(root)) -
                   set("up.bin.%d" % k for k in range(10)))
    check(not extra, "unexpected files in the root: %r" % extra)
    # -c 1: the name as given; a second run replaces it (--overwrite)
    for _ in range(2):
        rc, o, err = bench_json(ctx, "--put", "-n", "2", ctx.hp(srv.port),
                                src)
        check(rc == 0 and o["ok"] == 2, "put -n 2: exit %d; %s" %
              (rc, err.strip()))
    bad = same_file(src, os.path.join(root, "src.bin"))
    check(bad is None, "src.bin: %s" % bad)


# ---------------------------------------------------------------- failures


@case("bench_missing_remote")
def _(ctx):
    _, _, srv = served(ctx, 1000)
    rc, o, err = bench_json(ctx, "-c", "4", "-n", "9", ctx.hp(srv.port),
                            "nope.bin")
    check(rc == 1, "exit %d, expected 1" % rc)
    check(o["transfers"] == 9 and o["failed"] == 9 and o["ok"] == 0,
          "transfers/ok/failed %d/%d/%d, expected 9/0/9" %
          (o["transfers"], o["ok"], o["failed"]))
    # the server's own words, as its log has them
    line = srv.xfer_line("RRQ", "nope.bin")
    check(line is not None, "server logged no refusal: %s" % srv.tail())
    m = re.search(r"error 1: (.*)$", line)
    check(m, "server line %r has no error 1" % line)
    check("server says: %s (error 1)" % m.group(1) in err,
          "stderr %r lacks the server's text %r" % (err, m.group(1)))
    check(len(err.strip().splitlines()) == 1, "more than the first failure "
          "printed: %r" % err)


@case("bench_timeout_counted", limit=30)
def _(ctx):
    hole = ctx.peer()               # bound, never answers
    rc, o, err = bench_json(ctx, "-c", "3", "-n", "5", "-t", "1", "-r", "0",
                            ctx.hp(hole.port), "f.bin", timeout=20)
    check(rc == 1, "exit %d, expected 1" % rc)
    check(o["failed"] == 5 and o["transfers"] == 5, "failed %d of %d, "
          "expected 5 of 5" % (o["failed"], o["transfers"]))
    check(o["timeouts"] >= 5, "timeouts %d, expected >= 5" % o["timeouts"])
    check("timeout: no answer from" in err, "stderr: %r" % err)
    # each transfer asked from a socket of its own
    got = hole.drain(0.3)
    ports = set(p for _, p, _ in got)
    check(len(ports) == 5, "the requests came from %d ports, expected 5" %
          len(ports))


@case("bench_partial_failure_goes_on")
def _(ctx):
    # 4 per client host: of 8 requests at once, some are refused as busy
    _, copy, srv = served(ctx, 2 * MIB, args=("--max-per-client", "4"))
    rc, o, err = bench_json(ctx, "-c", "8", "-n", "16", "-r", "1",
                            "--verify", "--local", copy, ctx.hp(srv.port),
                            "f.bin")
    check(rc == 1, "exit %d with refusals, expected 1" % rc)
    check(o["transfers"] == 16 and o["ok"] + o["failed"] == 16,
          "transfers %d ok %d failed %d" % (o["transfers"], o["ok"],
                                            o["failed"]))
    check(o["ok"] >= 4 and o["failed"] >= 1, "ok %d failed %d: expected "
          "both" % (o["ok"], o["failed"]))
    check(o["bytes"] >= o["ok"] * 2 * MIB, "bytes %d < ok x size" %
          o["bytes"])
    check("server busy" in err, "first failure is not the refusal: %r" % err)


@case("bench_ports_not_reused_within_grace", limit=60)
def _(ctx):
    # tftpx serve drops a WRQ identical to an upload it finished from the
    # same addr:port within --grace (2 s) of that upload's first DATA.
    # 2000 quick uploads by 20 lanes (each its own name) drawing ephemeral
    # ports at random would meet a port of their own lane within that
    # time a few times; each meeting is a transfer that times out.
    lo, hi = map(int, open("/proc/sys/net/ipv4/ip_local_port_range")
                 .read().split())
    if hi - lo < 8000:
        raise Skip("ephemeral port range %d-%d too small" % (lo, hi))
    # a finished upload lingers two --timeout for a lost last ACK: 2000
    # of them can be live at once
    _, copy, srv = served(ctx, 10, args=("--max-per-client", "3000",
                                         "--max-transfers", "3000",
                                         "--overwrite"))
    rc, o, err = bench_json(ctx, "--put", "-c", "20", "-n", "2000", "-t",
                            "1", "-r", "0", "--remote", "up.bin",
                            ctx.hp(srv.port), copy, timeout=40)
    check(rc == 0 and o["ok"] == 2000, "exit %d, ok %d of 2000, timeouts "
          "%d; stderr: %s" % (rc, o["ok"], o["timeouts"], err.strip()))


@case("bench_interrupt_reports_and_aborts")
def _(ctx):
    _, _, srv = served(ctx, 64 * MIB, args=("-v",))
    p = subprocess.Popen([TFTPX, "bench", "-c", "2", "-n", "1000",
                          ctx.hp(srv.port), "f.bin"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    ctx.procs.append(p)
    started = srv.wait_for(lambda l: l.endswith(" start"), 10)
    check(started is not None, "server never saw a request: %s" % srv.tail())
    # "start" is logged before DATA 1 leaves: until bench has heard from
    # the transfer's port it has nowhere to send its ERROR.  A 64 MiB get
    # is still running half a second later (seconds even at loopback
    # speed), and by then its port is known.
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    try:
        out, err = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        raise Fail("bench did not end within 10 s of SIGINT")
    out = out.decode("utf-8", "replace")
    check(p.returncode == 1, "exit %d after SIGINT, expected 1" %
          p.returncode)
    check("(interrupted)" in out and "  outcome " in out,
          "no summary marked interrupted: %r" % out)
    # the live transfers were ended with an ERROR, not left to time out
    l = srv.wait_for(lambda l: "from client: bench interrupted" in l, 5)
    check(l is not None, "server saw no ERROR from the interrupted bench: "
          "%s" % srv.tail())


def run_limited(ctx, soft, hard, args, timeout=60):
    """tftpx bench under RLIMIT_NOFILE (soft, hard); (rc, stdout, stderr)."""
    def lim():
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    p = subprocess.Popen([TFTPX, "bench"] + list(args),
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True,
                         preexec_fn=lim)
    ctx.procs.append(p)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Fail("bench did not finish within %d s" % timeout)
    return (p.returncode, out.decode("utf-8", "replace"),
            err.decode("utf-8", "replace"))


@case("bench_c300_raises_fd_limit")
def _(ctx):
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 400:
        raise Skip("hard fd limit %d < 400" % hard)
    _, copy, srv = served(ctx, 2000, args=ROOMY)
    # soft limit 128: 300 sockets need the raise
    rc, out, err = run_limited(ctx, 128, hard, (
        "--json", "-c", "300", "-n", "300", "--verify", "--local", copy,
        ctx.hp(srv.port), "f.bin"))
    check(rc == 0, "exit %d; stderr: %s" % (rc, err.strip()[-300:]))
    o = json.loads(out)
    check(o["ok"] == 300, "ok %d of 300" % o["ok"])
    # hard limit 128: refused up front, not 300 instant failures
    rc, out, err = run_limited(ctx, 128, 128, (
        "-c", "300", ctx.hp(srv.port), "f.bin"))
    check(rc == 1 and "ulimit -n" in err and out == "",
          "hard limit 128: exit %d, stdout %r, stderr %r" % (rc, out, err))


# ---------------------------------------------------------------- output


@case("bench_json_consistent")
def _(ctx):
    size = 64 * KIB
    _, copy, srv = served(ctx, size)
    rc, o, err = bench_json(ctx, "-c", "5", "-n", "20", "-b", "1468",
                            ctx.hp(srv.port), "f.bin")
    check(rc == 0, "exit %d; %s" % (rc, err))
    for k in JSON_KEYS:
        check(isinstance(o[k], (int, float)) and o[k] >= 0,
              "%s = %r" % (k, o[k]))
    for k in ("transfers", "ok", "failed", "bytes", "retransmits",
              "timeouts", "verify_errors"):
        check(isinstance(o[k], int), "%s = %r is not an integer" % (k, o[k]))
    check(o["transfers"] == 20 and o["bytes"] == 20 * size,
          "transfers %d bytes %d" % (o["transfers"], o["bytes"]))
    check(o["seconds"] > 0, "seconds %r" % o["seconds"])
    mb = o["bytes"] / o["seconds"] / 1e6
    check(abs(o["mbps"] - mb) <= 0.01 * mb + 0.01, "mbps %r, bytes/seconds "
          "gives %.3f" % (o["mbps"], mb))
    tps = o["ok"] / o["seconds"]
    check(abs(o["tps"] - tps) <= 0.01 * tps + 0.01, "tps %r, ok/seconds "
          "gives %.3f" % (o["tps"], tps))
    check(0 < o["p50_ms"] <= o["p99_ms"] <= o["max_ms"],
          "p50 %r p99 %r max %r not ordered" % (o["p50_ms"], o["p99_ms"],
                                                o["max_ms"]))
    check(o["max_ms"] <= o["seconds"] * 1000 + 1, "max_ms %r longer than "
          "the run (%r s)" % (o["max_ms"], o["seconds"]))
    # -q: one line
    rc, out, err = bench(ctx, "-q", "-n", "2", ctx.hp(srv.port), "f.bin")
    check(rc == 0 and len(out.splitlines()) == 1 and "2 ok, 0 failed" in out,
          "-q printed %r (exit %d)" % (out, rc))


@case("bench_usage_errors")
def _(ctx):
    loc = ctx.tmpdir("loc")
    f = write_bytes(os.path.join(loc, "f.bin"), b"x")
    bad = [
        (),
        ("127.0.0.1:6969",),
        ("-c", "0", "127.0.0.1", "f"),
        ("-c", "10001", "127.0.0.1", "f"),
        ("-n", "abc", "127.0.0.1", "f"),
        ("-n", "0", "127.0.0.1", "f"),
        ("-b", "7", "127.0.0.1", "f"),
        ("-w", "0", "127.0.0.1", "f"),
        ("--bogus", "127.0.0.1", "f"),
        ("-c",),
        ("127.0.0.1", "f", "extra"),
        ("127.0.0.1:99999", "f"),
        ("[::1", "f"),
        ("127.0.0.1", ""),
        ("--put", "--verify", "127.0.0.1", f),
        ("--remote", "x", "127.0.0.1", "f"),
        ("--put", "--local", f, "127.0.0.1", f),
        ("--local", f, "127.0.0.1", "f"),
    ]
    for args in bad:
        rc, out, err = bench(ctx, *args, timeout=10)
        check(rc == 2, "tftpx bench %s: exit %d, expected 2 (stderr %r)" %
              (" ".join(args), rc, err))
        check(out == "", "tftpx bench %s printed on stdout: %r" %
              (" ".join(args), out))
        check(err.strip(), "tftpx bench %s: no message" % " ".join(args))
    rc, out, err = bench(ctx, "--help")
    check(rc == 0 and "usage: tftpx bench" in out and "--verify" in out and
          "--json" in out, "bench --help: exit %d %r" % (rc, out[:200]))
    rc, out, _, _ = ctx.tftpx("--help")
    check(rc == 0 and b"tftpx bench" in out, "tftpx --help lacks bench")
    # a local file that is not there is a failure (1), not usage (2)
    rc, out, err = bench(ctx, "--put", "127.0.0.1:9", os.path.join(loc, "no"))
    check(rc == 1 and "No such file" in err, "missing local file: exit %d "
          "%r" % (rc, err))


# ---------------------------------------------------------------- tftpd-hpa



@case("bench_tftpd_hpa", limit=60)
def _(ctx):
    root = ctx.tmpdir("root")
    os.chmod(root, 0o755)
    size = 1 * MIB + 5
    src = write_random(os.path.join(root, "h.bin"), size)
    port, _ = start_tftpd_hpa(ctx, root)
    rc, o, err = bench_json(ctx, "-c", "8", "-n", "24", "-b", "1468",
                            "--tsize", "--verify", "--local", src,
                            ctx.hp(port), "h.bin", timeout=50)
    check(rc == 0, "exit %d; stderr: %s" % (rc, err.strip()[-300:]))
    check(o["ok"] == 24 and o["bytes"] == 24 * size and
          o["verify_errors"] == 0, "ok %d bytes %d verify_errors %d" %
          (o["ok"], o["bytes"], o["verify_errors"]))
    rc, o, err = bench_json(ctx, "-c", "2", "-n", "2", ctx.hp(port), "nope")
    check(rc == 1 and o["failed"] == 2 and "server says:" in err,
          "missing file at tftpd-hpa: exit %d failed %d %r" %
          (rc, o["failed"], err))


if __name__ == "__main__":
    sys.exit(main())
