#!/usr/bin/env python3
"""tests/soak/soak.py - one tftpx server under mixed, lossy load for a while.

Run from the repo root, as root (it makes a network namespace):

    SOAK_SECONDS=120 python3 tests/soak/soak.py

SOAK_SECONDS (default 1800) is how long new client jobs are started; the
run then waits for the running ones, lets the server end dead transfers,
and gives a verdict.  Python 3.11 standard library only; it uses ./tftpx
as it is (build it first).  Other knobs: SOAK_SEED (random seed, printed),
SOAK_WORKERS (client jobs at once, default 6), SOAK_NO_GSO=1 and
SOAK_NO_TMPFILE=1 (pass TFTPX_NO_GSO / TFTPX_NO_TMPFILE to the server).

What it does: a private network namespace (lo up, plus 192.0.2.1/32 on lo,
doc/notes/netns-testing.md) whose nftables input hook drops 5 % of all UDP;
in it ONE `tftpx serve --allow-root --upload --overwrite --max-per-client
1000 -l 127.0.0.1:6969 ROOT` (JSON events to a log file that is parsed)
serving random files of 0 B, 1 B, 511, 512, 513, 64 KiB, 1 MiB and 8 MiB,
and a relay (tests/soak/duprelay.py) that sends 5 % of the packets twice,
through which about 40 % of the clients but curl go.  Client jobs,
several at once: busybox tftp (with and without -b 1468), curl, tftp-hpa,
atftp (blksize 1468), `tftpx bench -c 8 -n 16` gets and puts at several
block and window sizes, raw UDP clients that vanish after a few blocks, and
clients killed mid-transfer.  A client whose binary is missing is skipped
(said so).
With GSO (the default) a window the server sends as one UDP_SEGMENT train
is one packet for nftables on lo, so loss hits whole trains; SOAK_NO_GSO=1
makes it per datagram, as on a NIC.  A window is the same bytes either way.

What it checks (each one line in the verdict; exit 0 only if none failed):
  - every byte: each successful get's sha256 equals the served file's (bench
    gets compare every byte with --verify), what a failed, killed or
    vanished get wrote is a prefix of the file;
  - uploads (a distinct remote name each, half of them replacing a file of
    other content): once the server has logged the upload's end, the file
    is byte-exact with what was sent if the server logged it ok, else the
    previous content (or no file) is there untouched; a client that
    reported success for an upload the server did not log ok is a lost
    upload; no `.tftpx-*` temp file or stray file is left in ROOT;
  - clients end on their own: a failure under loss is allowed only as the
    client's own give-up (counted), a client the soak had to kill at its
    time cap is a failure;
  - no request refused; the served files unchanged;
  - the server's fds (/proc/PID/fd) back to the baseline taken after
    start-up and warm-up, once every client is done and the server has had
    time to end dead transfers; its RSS (VmRSS) back within a tolerance
    (RSS_SLACK_KIB below says which and why); both sampled twice a second
    for the peak;
  - the server still alive and serving at the end; faults really injected.
Output: progress lines ("--" a client's give-up, "!!" a failure as it is
found), a summary table, and last "N passed, N failed".  After a failed
verdict the run's temp directory (server.json, the server's log; ROOT) is
kept and its path printed.

Client quirks allowed for (all seen in these runs): curl 7.88 never
re-sends the empty DATA of a 0-byte upload whose final ACK was lost and
waits forever, so curl runs with --max-time (its own give-up).  Curl takes
an OACK that comes again after DATA 1 (a network duplicate) for a fresh
start: a get writes block 1 twice and exits 0 (a fake server repeating the
OACK shows it every time), a put re-reads its file; so curl never goes
through the relay.  Its put still meets the OACK tftpx re-sends when DATA 1
is lost; what tftpx then stores is judged like any upload.  tftp-hpa exits
0 after an ERROR packet; "Error code" on its stderr marks the failure.
busybox exits 0 when it gives up waiting for the ACK of its last DATA;
"timeout" on its stderr marks that failure.

Every loop here is bounded in count and time; the namespace
(tests/lib/netns.py) and every process are removed on every exit path.  A
run killed with SIGKILL leaves namespace tftpx-soak-PID-1 behind: `ip netns
pids NAME` shows what still runs in it, `ip netns del NAME` removes it.
"""

import hashlib
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TFTPX = os.path.join(REPO, "tftpx")
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
from netns import NetNS  # noqa: E402
from tftpx_test import Fail, fd_count  # noqa: E402
RELAY = os.path.join(HERE, "duprelay.py")

HOST = "127.0.0.1"
SRV_PORT = 6969
RELAY_PORT = 6970
EXTRA_ADDR = "192.0.2.1/32"
LOSS_PCT = 5                # nftables: % of UDP packets dropped
DUP = 0.05                  # relay: share of packets sent twice
RELAY_SHARE = 0.4           # share of client jobs through the relay
# A transfer without progress is given up after (retries + 1) x timeout
# seconds: the server's --retries (default 5), and its --timeout (default
# 1) unless the client asked for one (RFC 2349): curl asks for 5 or 6 s,
# so a dead curl transfer lives up to 36 s (seen: 29 s after a curl put
# had given up).
SRV_RETRIES = 5
CLIENT_TIMEOUT_MAX = 6
DEAD_AFTER = (SRV_RETRIES + 1) * CLIENT_TIMEOUT_MAX
END_WAIT = DEAD_AFTER + 10          # wait for the server's end of an upload
SETTLE_MAX = 2 * DEAD_AFTER + 10    # wait for fds at the end
# RSS tolerance: end <= baseline + max(512 KiB, 20 %) + the dedup ring's
# growth.  tftpx's RSS is about 2.3 MiB; it allocates per transfer (a
# calloc'd struct; the loop's timer heap grows by realloc) and glibc keeps
# freed heap instead of returning it, so the RSS never falls after a peak:
# it steps up to the high water of live transfers (measured: +60..110 KiB
# for 60..80 live, about 1.5 KiB each) and stays.  The soak's peak stays
# under 100 live transfers, so 512 KiB is 3x the high water seen; a leak of
# 80 bytes per transfer over the ~7000 transfers of a 1800 s run exceeds it.
# Besides, the ring of finished uploads (src/dedup.c, struct entry: 48
# bytes; DEDUP_CAP 16384 in src/server.c) is calloc'd at start and its
# pages count only once written: 48 bytes per upload logged ok, up to
# 768 KiB, are allowed on top (that creep is what the "RSS at each tenth"
# line shows in short runs; a leak keeps climbing after 16384 uploads).
RSS_SLACK_KIB = 512
RSS_SLACK_FRAC = 0.20
DEDUP_ENTRY, DEDUP_CAP = 48, 16384
CLIENT_CAP = 240            # seconds a client process may run
BENCH_CAP = 420
CURL_MAX = 150              # curl --max-time
KIB, MIB = 1 << 10, 1 << 20
SIZES = [("0B", 0), ("1B", 1), ("511B", 511), ("512B", 512), ("513B", 513),
         ("64K", 64 * KIB), ("1M", MIB), ("8M", 8 * MIB)]
TINY = ["0B", "1B", "511B", "512B", "513B"]
UP_TO_64K = TINY + ["64K"]
UP_TO_1M = UP_TO_64K + ["1M"]
ALL = [s for s, _ in SIZES]
BENCH_SHAPES = [(None, None), ("1468", None), ("1468", "16"), ("8192", "8"),
                ("65464", "4")]
RRQ, WRQ, DATA, ACK, ERROR, OACK = 1, 2, 3, 4, 5, 6


class Interrupted(Exception):
    pass


def log(msg):
    sys.stdout.write(msg + "\n")
    sys.stdout.flush()


def sha_file(path):
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except FileNotFoundError:
        return None


def sha_bytes(b):
    return hashlib.sha256(b).hexdigest()


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def client_failed(row, rc, err):
    """Did the client report a failure?  tftp-hpa 5.2 exits 0 after an
    ERROR packet from the server, mid-transfer too (get and put; checked
    by hand: a SIGTERMed tftpx's "server shutting down" left it with a
    partial file and status 0); it prints "Error code N: ..." then."""
    if rc != 0:
        return True
    # busybox 1.35 ends with "return finished == 0": once its last DATA
    # is sent, giving up on that block's ACK still exits 0, with
    # "timeout" on stderr (doc/notes/client-quirks.md).
    if row.startswith("busybox") and "timeout" in err:
        return True
    return row == "tftp-hpa" and "Error code" in err


def describe_end(e):
    """A WRQ end event in a few words: what a reader needs to judge it."""
    s = "%s from %s, %s bytes" % (e.get("outcome"), e.get("client"),
                                  e.get("bytes"))
    if e.get("tsize") is not None:
        s += " of an announced tsize %s" % e.get("tsize")
    if e.get("outcome") != "ok":
        s += " (%s)" % e.get("error_msg")
    return s


def kib(v):
    return "-" if v is None else "%.2f MiB" % (v / 1024.0)


# ---------------------------------------------------------------- namespace

# the private namespace (tests/lib/netns.py), made in run(): lo up, plus
# EXTRA_ADDR; entered with setns before any thread exists, so every socket
# and child process of this run lives in it; left and deleted in cleanup()
NFT_RULES = ("table inet soak {\n"
             "  chain input {\n"
             "    type filter hook input priority 0; policy accept;\n"
             "    meta l4proto udp counter comment \"udp\"\n"
             "    meta l4proto udp numgen random mod 100 < %d counter "
             "drop comment \"drop\"\n"
             "  }\n}\n" % LOSS_PCT)


# ---------------------------------------------------------------- processes


class Procs:
    """Every child process, each in its own session (process group = pid),
    so it and what it started can be killed by its id."""

    def __init__(self):
        self.lock = threading.Lock()
        self.live = {}

    def popen(self, argv, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        p = subprocess.Popen(argv, start_new_session=True, **kw)
        with self.lock:
            self.live[p.pid] = p
        return p

    def done(self, p):
        with self.lock:
            self.live.pop(p.pid, None)

    @staticmethod
    def kill(p, sig=signal.SIGKILL):
        try:
            os.killpg(p.pid, sig)
        except OSError:
            pass

    def kill_all(self, spare=()):
        with self.lock:
            ps = [p for p in self.live.values() if p not in spare]
        for p in ps:
            self.kill(p)
        for p in ps:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
            self.done(p)

    def run(self, argv, cap, cwd=None, want_stdout=False):
        """(rc, seconds, hung, stdout, stderr tail)."""
        t0 = time.monotonic()
        p = self.popen(argv, cwd=cwd, stdout=subprocess.PIPE if want_stdout
                       else subprocess.DEVNULL, stderr=subprocess.PIPE)
        hung = False
        try:
            try:
                out, err = p.communicate(timeout=cap)
            except subprocess.TimeoutExpired:
                hung = True
                self.kill(p)
                out, err = p.communicate(timeout=10)
        finally:
            self.done(p)
        return (p.returncode, time.monotonic() - t0, hung,
                (out or b"").decode(errors="replace"),
                " ".join((err or b"").decode(errors="replace").split())[-300:])


# ---------------------------------------------------------------- server log


class ServerLog:
    """Follows the server's JSON event log: end events by file name."""

    def __init__(self, path):
        self.path = path
        self.cv = threading.Condition()
        self.ends = {}          # file -> [event]
        self.outcomes = {}      # (op, outcome or reason) -> count
        self.refusals = []
        self.bad_lines = 0
        self.lines = 0
        self.stop = threading.Event()
        self.rlock = threading.Lock()     # poll() from two threads
        self.buf = b""
        self.f = None
        self.t = threading.Thread(target=self._run, daemon=True)

    def start(self, limit):
        self.end = time.monotonic() + limit
        self.t.start()

    def _run(self):
        while not self.stop.is_set() and time.monotonic() < self.end:
            self.poll()
            self.stop.wait(0.1)
        self.poll()

    def poll(self):
        with self.rlock:
            self._poll()

    def _poll(self):
        if self.f is None:
            try:
                self.f = open(self.path, "rb")
            except FileNotFoundError:
                return
        chunk = self.f.read()
        if not chunk:
            return
        self.buf += chunk
        *lines, self.buf = self.buf.split(b"\n")
        with self.cv:
            for line in lines:
                if not line.strip():
                    continue
                self.lines += 1
                try:
                    ev = json.loads(line)
                except ValueError:
                    self.bad_lines += 1
                    continue
                kind = ev.get("event")
                if kind == "end":
                    if ev.get("op") == "WRQ":   # downloads: counted only
                        self.ends.setdefault(ev.get("file"), []).append(
                            {"op": "WRQ", "outcome": ev.get("outcome"),
                             "error_msg": ev.get("error_msg"),
                             "bytes": ev.get("bytes"),
                             "tsize": (ev.get("options") or {}).get("tsize"),
                             "client": ev.get("client")})
                    if ev.get("outcome") == "ok":
                        k = (ev.get("op"), "ok")
                    else:
                        k = (ev.get("op"), "failed: %s %s" % (
                            ev.get("error_from"), ev.get("error_msg")))
                    self.outcomes[k] = self.outcomes.get(k, 0) + 1
                elif kind == "refusal":
                    self.refusals.append(ev)
            self.cv.notify_all()

    def wrq_ends(self, name):
        with self.cv:
            return [e for e in self.ends.get(name, ()) if e.get("op") == "WRQ"]

    def wait_wrq(self, names, count, timeout):
        def n():
            return sum(1 for nm in names for e in self.ends.get(nm, ())
                       if e.get("op") == "WRQ")
        with self.cv:
            self.cv.wait_for(lambda: n() >= count, timeout)
            return n()


# ---------------------------------------------------------------- raw TFTP


def pkt_req(op, name, opts=()):
    b = struct.pack("!H", op) + name.encode() + b"\0octet\0"
    for k, v in opts:
        b += k.encode() + b"\0" + v.encode() + b"\0"
    return b


def pkt_ack(n):
    return struct.pack("!HH", ACK, n & 0xFFFF)


def pkt_data(n, payload):
    return struct.pack("!HH", DATA, n & 0xFFFF) + payload


def opcode(p):
    return struct.unpack("!H", p[:2])[0] if len(p) >= 2 else None


def blockno(p):
    return struct.unpack("!H", p[2:4])[0] if len(p) >= 4 else None


def oack_opts(p):
    parts = p[2:].split(b"\0")
    return {parts[i].decode(errors="replace").lower():
            parts[i + 1].decode(errors="replace")
            for i in range(0, len(parts) - 1, 2)}


# ---------------------------------------------------------------- the soak


class Soak:
    ROWS = ["busybox", "busybox -b 1468", "curl", "tftp-hpa", "atftp",
            "tftpx bench", "raw (vanishes)", "killed mid-transfer"]

    def __init__(self, seconds, seed, workers):
        self.seconds = seconds
        self.seed = seed
        self.workers = workers
        self.ns = None
        self.procs = Procs()
        self.stop = threading.Event()
        self.aborting = False   # interrupted: jobs' outcomes mean nothing
        self.lock = threading.Lock()
        self.rows = {}          # (row, op) -> counts
        self.upl = {"replaced": 0, "kept": 0, "absent": 0, "bad": 0}
        self.problems = []      # (check, text)
        self.harness = []       # internal errors of the soak itself
        self.skipped = []
        self.jobs_done = 0
        self.jobs_running = 0
        self.jid = 0
        self.srv = None
        self.relay = None
        self.relay_stats = None
        self.relay_ok = False
        self.mon = {"fds": None, "rss": None, "fds_peak": 0, "rss_peak": 0,
                    "dead": False}
        self.tmp = None
        self.verdict = None     # (passed, failed) once judged
        self.rss_trace = []     # (monotonic, KiB), twice a second

    # ------------------------------------------------------------ accounting

    def count(self, row, op, field, n=1):
        with self.lock:
            c = self.rows.setdefault((row, op), {
                "ok": 0, "gave up": 0, "wrong": 0, "hung": 0, "relay": 0})
            c[field] += n

    def problem(self, check, text):
        if self.aborting:
            return
        with self.lock:
            self.problems.append((check, text))
        log("!! %s: %s" % (check, text))

    def note(self, msg):
        if not self.aborting:
            log(msg)

    def next_id(self):
        with self.lock:
            self.jid += 1
            return self.jid

    # ------------------------------------------------------------ set-up

    def make_files(self, rng):
        self.tmp = tempfile.mkdtemp(prefix="tftpx-soak-")
        self.root = os.path.join(self.tmp, "root")
        self.scratch = os.path.join(self.tmp, "scratch")
        os.mkdir(self.root)
        os.mkdir(self.scratch)
        self.served = {}        # label -> (name, bytes, sha)
        self.src = {}           # label -> (path, sha): upload contents
        for label, size in SIZES:
            data = rng.randbytes(size)
            name = "s-%s.bin" % label
            with open(os.path.join(self.root, name), "wb") as f:
                f.write(data)
            self.served[label] = (name, data, sha_bytes(data))
            data = rng.randbytes(size)
            path = os.path.join(self.scratch, "src-%s.bin" % label)
            with open(path, "wb") as f:
                f.write(data)
            self.src[label] = (path, sha_bytes(data))
        self.served_names = {v[0] for v in self.served.values()}

    def start_server(self):
        self.logpath = os.path.join(self.tmp, "server.json")
        self.errpath = os.path.join(self.tmp, "server.err")
        argv = [TFTPX, "serve", "--allow-root", "--upload", "--overwrite",
                "--max-per-client", "1000", "-l", "%s:%d" % (HOST, SRV_PORT),
                "--log-format", "json", "--log-file", self.logpath, self.root]
        env = dict(os.environ)
        for k in ("TFTPX_NO_GSO", "TFTPX_NO_TMPFILE"):
            env.pop(k, None)
            if os.environ.get("SOAK_" + k[6:]) == "1":
                env[k] = "1"
        self.srv_argv = argv
        err = open(self.errpath, "wb")
        try:
            self.srv = self.procs.popen(argv, stdout=subprocess.DEVNULL,
                                        stderr=err, env=env)
        finally:
            err.close()
        end = time.monotonic() + 10
        while time.monotonic() < end:
            with open(self.errpath, "rb") as f:
                text = f.read().decode(errors="replace")
            if "listening on %s:%d" % (HOST, SRV_PORT) in text:
                return
            if self.srv.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("the server did not start (exit %s): %s" %
                           (self.srv.poll(), " ".join(text.split())[-300:]))

    def start_relay(self):
        errpath = os.path.join(self.tmp, "relay.err")
        argv = [sys.executable, RELAY, "--host", HOST, "--listen",
                str(RELAY_PORT), "--server", str(SRV_PORT), "--dup", str(DUP),
                "--seed", str(self.seed), "--lifetime",
                str(self.seconds + BENCH_CAP + 1800)]
        with open(errpath, "wb") as err:
            self.relay = self.procs.popen(argv, stdout=subprocess.PIPE,
                                          stderr=err)
        first = []
        t = threading.Thread(target=lambda: first.append(
            self.relay.stdout.readline()), daemon=True)
        t.start()
        t.join(10)
        if not first or b"listening on" not in first[0]:
            raise RuntimeError("the relay did not start: %r" % first)
        self.relay_ok = True

    def monitor(self, limit):
        end = time.monotonic() + limit
        pid = self.srv.pid
        while not self.stop.is_set() and time.monotonic() < end:
            n, r = fd_count(pid), rss_kib(pid)
            with self.lock:
                if self.srv.poll() is not None:
                    self.mon["dead"] = True
                if n is not None:
                    self.mon["fds"] = n
                    self.mon["fds_peak"] = max(self.mon["fds_peak"], n)
                if r is not None:
                    self.mon["rss"] = r
                    self.mon["rss_peak"] = max(self.mon["rss_peak"], r)
                    self.rss_trace.append((time.monotonic(), r))
            self.stop.wait(0.5)

    def wait_fds(self, target, limit):
        """Poll until the server's fds are <= target; the count then."""
        end = time.monotonic() + limit
        n = fd_count(self.srv.pid)
        while time.monotonic() < end and (n is None or n > target):
            if self.stop.is_set():
                break
            time.sleep(0.25)
            n = fd_count(self.srv.pid)
        return n

    # ------------------------------------------------------------ helpers

    def target(self, rng, allow_relay=True):
        via = allow_relay and self.relay_ok and rng.random() < RELAY_SHARE
        return via, (RELAY_PORT if via else SRV_PORT)

    def check_get(self, row, label, out, rc, hung, err, via, secs):
        """A client's get: the whole file on success, a prefix otherwise."""
        name, data, digest = self.served[label]
        if via:
            self.count(row, "get", "relay")
        try:
            if hung:
                self.count(row, "get", "hung")
                self.problem("clients end on their own", "%s get %s did not "
                             "end within %d s (killed)" %
                             (row, name, CLIENT_CAP))
            elif not client_failed(row, rc, err):
                if sha_file(out) == digest:
                    self.count(row, "get", "ok")
                else:
                    self.count(row, "get", "wrong")
                    self.problem("all received bytes right", "%s get %s%s "
                                 "exited 0 but the file differs (%s bytes, "
                                 "expected %d)" % (
                                     row, name, " via relay" if via else "",
                                     os.path.getsize(out)
                                     if os.path.exists(out) else "no",
                                     len(data)))
            else:
                self.count(row, "get", "gave up")
                self.note("-- %s get %s%s gave up: exit %s after %.1f s: "
                          "%s" % (row, name, " via relay" if via else "", rc,
                                  secs, err))
                self.check_prefix(row, name, out, data,
                                  "after giving up (exit %s: %s)" % (rc, err))
        finally:
            if os.path.exists(out):
                os.unlink(out)

    def check_prefix(self, row, name, out, data, when):
        """What a failed get wrote must be a prefix; False if not."""
        try:
            with open(out, "rb") as f:
                got = f.read(len(data) + 1)
        except FileNotFoundError:
            return True
        if data[:len(got)] == got:
            return True
        self.count(row, "get", "wrong")
        self.problem("all received bytes right", "%s get %s wrote %d "
                     "bytes %s that are not the file's first %d" %
                     (row, name, len(got), when, len(got)))
        return False

    def prepare_upload(self, rng, names):
        """Half of the uploads replace a file of other content."""
        old = {}
        replace = rng.random() < 0.5
        for nm in names:
            path = os.path.join(self.root, nm)
            if replace:
                data = rng.randbytes(rng.randrange(0, 3000))
                with open(path, "wb") as f:
                    f.write(data)
                old[nm] = sha_bytes(data)
            else:
                old[nm] = None
        return old

    def check_upload(self, row, names, new_sha, old, client_ok, expect,
                     wait=END_WAIT):
        """After the server logged the end of `expect` uploads to names:
        each file is what was sent if the server logged any upload of it
        ok, else its previous content (or absent).  client_ok uploads the
        client called done must be among the server's ok ones."""
        self.srv_log.wait_wrq(names, expect, wait)
        srv_ok = 0
        for nm in names:
            ends = self.srv_log.wrq_ends(nm)
            n_ok = sum(1 for e in ends if e.get("outcome") == "ok")
            srv_ok += n_ok
            path = os.path.join(self.root, nm)
            cur = sha_file(path)
            if n_ok:
                want, kind = new_sha, "replaced"
            else:
                want, kind = old[nm], ("kept" if old[nm] else "absent")
            if want is not None and cur == want or \
                    want is None and cur is None:
                with self.lock:
                    self.upl[kind] += 1
                continue
            with self.lock:
                self.upl["bad"] += 1
            self.count(row, "put", "wrong")
            what = ("absent" if cur is None else "the sent bytes"
                    if cur == new_sha else "the previous content"
                    if cur == old[nm] else "neither the sent bytes nor the "
                    "previous content")
            self.problem("no upload lost or damaged", "%s upload %s: the "
                         "file is %s (%d bytes); server log: %s" % (
                             row, nm, what, os.path.getsize(path) if cur
                             else 0, "; ".join(describe_end(e) for e in ends)
                             or "no end"))
        if client_ok > srv_ok:
            self.count(row, "put", "wrong", client_ok - srv_ok)
            with self.lock:
                self.upl["bad"] += client_ok - srv_ok
            self.problem("no upload lost or damaged", "%s: the client "
                         "reported %d uploads to %s done, the server logged "
                         "%d ok" % (row, client_ok, names[0], srv_ok))
        for nm in names:
            try:
                os.unlink(os.path.join(self.root, nm))
            except FileNotFoundError:
                pass

    def put_result(self, row, rc, hung, err, via, name, secs):
        if via:
            self.count(row, "put", "relay")
        if hung:
            self.count(row, "put", "hung")
            self.problem("clients end on their own", "%s put %s did not end "
                         "within %d s (killed)" % (row, name, CLIENT_CAP))
        elif not client_failed(row, rc, err):
            self.count(row, "put", "ok")
        else:
            self.count(row, "put", "gave up")
            self.note("-- %s put %s%s gave up: exit %s after %.1f s: %s" % (
                row, name, " via relay" if via else "", rc, secs, err))

    # ------------------------------------------------------------ jobs

    def job_client(self, rng, row, op):
        """One get or put by busybox, curl, tftp-hpa or atftp."""
        jid = self.next_id()
        via, port = self.target(rng, allow_relay=row != "curl")
        url = "tftp://%s:%d/" % (HOST, port)
        hp = [HOST, str(port)]
        bb = ["-b", "1468"] if row == "busybox -b 1468" else []
        at = ["--option", "blksize 1468"]
        if op == "get":
            sizes = {"busybox": UP_TO_1M, "busybox -b 1468": UP_TO_1M,
                     "curl": ALL, "tftp-hpa": ALL, "atftp": UP_TO_1M}[row]
            label = rng.choice(sizes)
            name = self.served[label][0]
            out = os.path.join(self.scratch, "get-%d.out" % jid)
            argv = {"busybox": ["busybox", "tftp", "-g"] + bb +
                    ["-r", name, "-l", out] + hp,
                    "curl": ["curl", "-sS", "-m", str(CURL_MAX), "-o", out,
                             url + name],
                    "tftp-hpa": ["tftp", "-m", "binary"] + hp +
                    ["-c", "get", name, out],
                    "atftp": ["atftp"] + at + ["-g", "-r", name, "-l", out] +
                    hp}[row.split()[0]]
            rc, secs, hung, _, err = self.procs.run(argv, CLIENT_CAP,
                                                    cwd=self.scratch)
            self.check_get(row, label, out, rc, hung, err, via, secs)
            return
        sizes = {"busybox": UP_TO_1M, "busybox -b 1468": UP_TO_1M,
                 "curl": TINY, "tftp-hpa": TINY, "atftp": UP_TO_64K}[row]
        label = rng.choice(sizes)
        src, digest = self.src[label]
        rname = "up-%05d-%s.bin" % (jid, row.split()[0])
        old = self.prepare_upload(rng, [rname])
        argv = {"busybox": ["busybox", "tftp", "-p"] + bb +
                ["-l", src, "-r", rname] + hp,
                "curl": ["curl", "-sS", "-m", str(CURL_MAX), "-T", src,
                         url + rname],
                "tftp-hpa": ["tftp", "-m", "binary"] + hp +
                ["-c", "put", src, rname],
                "atftp": ["atftp"] + at + ["-p", "-l", src, "-r", rname] +
                hp}[row.split()[0]]
        rc, secs, hung, _, err = self.procs.run(argv, CLIENT_CAP,
                                                cwd=self.scratch)
        self.put_result(row, rc, hung, err, via, rname, secs)
        self.check_upload(row, [rname], digest, old, 0 if hung or
                          client_failed(row, rc, err) else 1, 1)

    def job_bench(self, rng, op):
        jid = self.next_id()
        row = "tftpx bench"
        b, w = rng.choice(BENCH_SHAPES)
        via, port = self.target(rng)
        argv = [TFTPX, "bench", "--json", "-c", "8", "-n", "16"]
        argv += (["-b", b] if b else []) + (["-w", w] if w else [])
        if op == "get":
            label = rng.choice(ALL)
            if label == "8M" and (via or b is None):
                label = "1M"
            name = self.served[label][0]
            argv += ["--verify", "--local", os.path.join(self.root, name),
                     "%s:%d" % (HOST, port), name]
        else:
            label = rng.choice(UP_TO_1M)
            src, digest = self.src[label]
            rname = "up-%05d-bench.bin" % jid
            names = ["%s.%d" % (rname, k) for k in range(8)]
            old = self.prepare_upload(rng, names)
            argv += ["--put", "--remote", rname, "%s:%d" % (HOST, port), src]
        rc, _, hung, out, err = self.procs.run(argv, BENCH_CAP,
                                               cwd=self.scratch,
                                               want_stdout=True)
        res = None
        for line in out.splitlines():
            if line.startswith("{"):
                try:
                    res = json.loads(line)
                except ValueError:
                    pass
        if via:
            self.count(row, op, "relay", 16)
        if hung:
            self.count(row, op, "hung", 16)
            self.problem("clients end on their own", "tftpx bench %s did "
                         "not end within %d s (killed): %s" %
                         (op, BENCH_CAP, " ".join(argv)))
        elif res is None:
            self.count(row, op, "hung", 16)
            self.problem("clients end on their own", "tftpx bench %s exited "
                         "%s without its JSON line: %s" % (op, rc, err))
        else:
            bad = res.get("verify_errors", 0)
            self.count(row, op, "ok", res.get("ok", 0))
            self.count(row, op, "gave up", res.get("failed", 0) - bad)
            if res.get("failed", 0) - bad:
                self.note("-- tftpx bench %s%s: %d of %d transfers gave "
                          "up: %s" % (op, " via relay" if via else "",
                                      res.get("failed", 0) - bad,
                                      res.get("transfers", 0),
                                      " ".join(argv[2:])))
            if bad:
                self.count(row, op, "wrong", bad)
                self.problem("all received bytes right", "tftpx bench get "
                             "%s: %d transfers differ (--verify)%s" %
                             (name, bad, " via relay" if via else ""))
        if op == "put":
            n_ok = res.get("ok", 0) if res and not hung else 0
            self.check_upload(row, names, digest, old, n_ok,
                              res.get("transfers", 16) if res else 16)

    def job_vanish(self, rng):
        """A raw client: RRQ or WRQ, a few blocks, then gone."""
        jid = self.next_id()
        row = "raw (vanishes)"
        opts = rng.choice([(), (("blksize", "1468"),),
                           (("windowsize", "4"),),
                           (("blksize", "1468"), ("windowsize", "4"))])
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((HOST, 0))
        s.settimeout(0.3)
        try:
            if rng.random() < 0.5:
                self._vanish_get(rng, s, row, opts)
                return
            rname = "up-%05d-raw.bin" % jid
            old = self.prepare_upload(rng, [rname])
            self._vanish_put(rng, s, row, rname, tuple(
                o for o in opts if o[0] == "blksize"))
        finally:
            s.close()
        self.check_upload(row, [rname], None, old, 0, 1)

    def _vanish_get(self, rng, s, row, opts):
        label = rng.choice(["64K", "1M", "8M"])
        name, data, _ = self.served[label]
        req = pkt_req(RRQ, name, opts)
        dest = (HOST, SRV_PORT)
        s.sendto(req, dest)
        tid, window = None, 1
        got, expect = bytearray(), 1
        keep = rng.randrange(1, 4)          # blocks to take before going
        end = time.monotonic() + 10
        for _ in range(200):
            if expect > keep or time.monotonic() > end:
                break
            try:
                p, addr = s.recvfrom(70000)
            except socket.timeout:
                # the request again, or the ACK of what arrived in order
                s.sendto(req if tid is None else pkt_ack(expect - 1), dest)
                continue
            if tid is None and addr[1] != SRV_PORT:
                tid = addr[1]
                dest = (HOST, tid)
            if addr[1] != tid:
                continue
            op = opcode(p)
            if op == ERROR:
                break
            if op == OACK:
                o = oack_opts(p)
                window = int(o.get("windowsize", 1))
                s.sendto(pkt_ack(0), dest)
            elif op == DATA:
                n = blockno(p)
                if n == expect & 0xFFFF:
                    got += p[4:]
                    expect += 1
                    if expect > keep:
                        break           # gone, this block unanswered
                    if (expect - 1) % window == 0:
                        s.sendto(pkt_ack(expect - 1), dest)
        if bytes(got) == data[:len(got)]:
            self.count(row, "get", "ok" if got else "gave up")
        else:
            self.count(row, "get", "wrong")
            self.problem("all received bytes right", "raw get %s: the %d "
                         "bytes received are not the file's first %d" %
                         (name, len(got), len(got)))

    def _vanish_put(self, rng, s, row, rname, opts):
        dest = (HOST, SRV_PORT)
        last = pkt_req(WRQ, rname, opts)
        s.sendto(last, dest)
        tid, blksize = None, 512
        blocks, sent = rng.randrange(1, 4), 0
        payload = b""
        end = time.monotonic() + 10
        for _ in range(200):
            if time.monotonic() > end:
                break
            try:
                p, addr = s.recvfrom(70000)
            except socket.timeout:
                s.sendto(last, dest)
                continue
            if tid is None and addr[1] != SRV_PORT:
                tid = addr[1]
                dest = (HOST, tid)
            if addr[1] != tid:
                continue
            op = opcode(p)
            if op == ERROR:
                break
            if op == OACK and sent == 0:
                blksize = int(oack_opts(p).get("blksize", 512))
            elif not (op == ACK and blockno(p) == sent):
                continue
            if sent == blocks:
                break                   # gone before the last block
            payload = rng.randbytes(blksize)    # full: never the end
            sent += 1
            last = pkt_data(sent, payload)
            s.sendto(last, dest)
        self.count(row, "put", "ok" if tid is not None else "gave up")

    def job_kill(self, rng):
        """A client killed mid-transfer: busybox (tftpx if missing)."""
        jid = self.next_id()
        row = "killed mid-transfer"
        bb = shutil.which("busybox")
        delay = rng.uniform(0.05, 0.8)
        if rng.random() < 0.5:
            name, data, _ = self.served[rng.choice(["1M", "8M"])]
            out = os.path.join(self.scratch, "kill-%d.out" % jid)
            argv = (["busybox", "tftp", "-g", "-r", name, "-l", out, HOST,
                     str(SRV_PORT)] if bb else
                    [TFTPX, "get", "-q", "%s:%d" % (HOST, SRV_PORT), name,
                     out])
            rc = self._run_killed(argv, delay)
            try:
                # ok: killed (what it wrote is a prefix) or done first
                if rc == 0 and sha_file(out) == sha_bytes(data):
                    self.count(row, "get", "ok")
                elif rc == 0:
                    self.count(row, "get", "wrong")
                    self.problem("all received bytes right", "%s get %s "
                                 "exited 0 but the file differs" %
                                 (argv[0], name))
                elif self.check_prefix(row, name, out, data,
                                       "before it was killed"):
                    self.count(row, "get", "ok")
            finally:
                if os.path.exists(out):
                    os.unlink(out)
            return
        src, digest = self.src["1M"]
        rname = "up-%05d-killed.bin" % jid
        old = self.prepare_upload(rng, [rname])
        argv = (["busybox", "tftp", "-p", "-l", src, "-r", rname, HOST,
                 str(SRV_PORT)] if bb else
                [TFTPX, "put", "-q", "%s:%d" % (HOST, SRV_PORT), src, rname])
        rc = self._run_killed(argv, delay)
        self.count(row, "put", "ok")      # its file is checked below
        self.check_upload(row, [rname], digest, old, 1 if rc == 0 else 0, 1)

    def _run_killed(self, argv, delay):
        p = self.procs.popen(argv, cwd=self.scratch,
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            try:
                p.wait(delay)
            except subprocess.TimeoutExpired:
                self.procs.kill(p)
            try:
                return p.wait(10)
            except subprocess.TimeoutExpired:
                return None
        finally:
            self.procs.done(p)

    # ------------------------------------------------------------ the load

    def kinds(self):
        have = {"busybox": shutil.which("busybox"),
                "curl": shutil.which("curl"),
                "tftp-hpa": shutil.which("tftp"),
                "atftp": shutil.which("atftp")}
        ks = []
        for row in ("busybox", "busybox -b 1468", "curl", "tftp-hpa",
                    "atftp"):
            tool = row.split()[0]
            if not have[tool]:
                if tool not in self.skipped:
                    self.skipped.append(tool)
                continue
            for op in ("get", "put"):
                ks.append(("%s %s" % (row, op),
                           lambda r, row=row, op=op: self.job_client(r, row,
                                                                     op)))
        ks.append(("bench get", lambda r: self.job_bench(r, "get")))
        ks.append(("bench put", lambda r: self.job_bench(r, "put")))
        ks.append(("vanish", self.job_vanish))
        ks.append(("kill", self.job_kill))
        return ks

    def worker(self, idx, kinds, deadline):
        rng = random.Random("%d-%d" % (self.seed, idx))
        for i in range(1000000):
            if self.stop.is_set() or time.monotonic() >= deadline:
                return
            label, fn = kinds[(idx * 3 + i) % len(kinds)]
            with self.lock:
                self.jobs_running += 1
            try:
                fn(rng)
            except Interrupted:
                return
            except Exception:
                if not self.stop.is_set():
                    tb = traceback.format_exc().strip().splitlines()
                    with self.lock:
                        self.harness.append("%s: %s" % (label, tb[-1]))
                    log("!! harness error in job %s: %s" % (
                        label, " | ".join(tb[-3:])))
            finally:
                with self.lock:
                    self.jobs_running -= 1
                    self.jobs_done += 1

    def totals(self):
        with self.lock:
            t = {"ok": 0, "gave up": 0, "wrong": 0, "hung": 0}
            for c in self.rows.values():
                for k in t:
                    t[k] += c[k]
            return t

    def progress(self, t0, every, limit):
        end = time.monotonic() + limit
        while not self.stop.wait(every) and time.monotonic() < end:
            self.progress_line(t0)

    def progress_line(self, t0):
        t = self.totals()
        with self.lock:
            m = dict(self.mon)
            jd, jr = self.jobs_done, self.jobs_running
            up = dict(self.upl)
        log("[%5.0fs] jobs %d done, %d running | transfers ok %d, gave up "
            "%d, wrong %d, hung %d | uploads checked %d, bad %d | server fds "
            "%s (peak %d), rss %s (peak %s)" % (
                time.monotonic() - t0, jd, jr, t["ok"], t["gave up"],
                t["wrong"], t["hung"], up["replaced"] + up["kept"] +
                up["absent"], up["bad"], m["fds"], m["fds_peak"],
                kib(m["rss"]), kib(m["rss_peak"])))

    def warm_up(self):
        """Every bench shape once each way and a get through the relay, so
        the server's lazy allocations are done before the baseline."""
        for b, w in BENCH_SHAPES:
            argv = [TFTPX, "bench", "--json", "-c", "8", "-n", "8", "-r",
                    "10"] + (["-b", b] if b else []) + (["-w", w] if w else [])
            name = self.served["1M"][0]
            self.procs.run(argv + ["%s:%d" % (HOST, SRV_PORT), name],
                           BENCH_CAP, cwd=self.scratch, want_stdout=True)
            self.procs.run(argv + ["--put", "--remote", "warm.bin",
                                   "%s:%d" % (HOST, SRV_PORT),
                                   self.src["64K"][0]],
                           BENCH_CAP, cwd=self.scratch, want_stdout=True)
        if self.relay_ok:
            self.procs.run([TFTPX, "get", "-q", "%s:%d" % (HOST, RELAY_PORT),
                            self.served["64K"][0],
                            os.path.join(self.scratch, "warm.out")],
                           CLIENT_CAP, cwd=self.scratch)
        for nm in os.listdir(self.root):
            if nm not in self.served_names and not nm.startswith(".tftpx-"):
                os.unlink(os.path.join(self.root, nm))

    # ------------------------------------------------------------ run

    def run(self):
        rng = random.Random(self.seed)
        log("soak: %d s of load, seed %d, %d jobs at once; tftpx %s" %
            (self.seconds, self.seed, self.workers, TFTPX))
        self.ns = NetNS("tftpx-soak", extra_addr=True)
        self.ns.nft(NFT_RULES)
        self.ns.enter()
        log("soak: namespace %s: lo up, %s, nftables drops %d %% of UDP" %
            (self.ns.name, EXTRA_ADDR, LOSS_PCT))
        self.make_files(rng)
        self.start_server()
        log("soak: server pid %d: %s" % (self.srv.pid,
                                         " ".join(self.srv_argv)))
        self.srv_log = ServerLog(self.logpath)
        hard = self.seconds + BENCH_CAP + 3 * END_WAIT + SETTLE_MAX + 600
        self.srv_log.start(hard)
        self.start_relay()
        log("soak: relay pid %d: %s:%d -> %s:%d, duplicates %d %% of "
            "packets" % (self.relay.pid, HOST, RELAY_PORT, HOST, SRV_PORT,
                         round(DUP * 100)))
        kinds = self.kinds()
        for tool in self.skipped:
            log("soak: SKIP %s: not installed" % tool)
        if "curl" not in self.skipped:
            log("soak: curl goes direct, never through the relay (it "
                "mishandles a duplicated OACK; see the docstring)")
        idle_fds = fd_count(self.srv.pid)
        self.warm_up()
        base_fds = self.wait_fds(idle_fds, SETTLE_MAX)
        time.sleep(0.5)
        base_fds = fd_count(self.srv.pid)
        base_rss = rss_kib(self.srv.pid)
        self.base = (base_fds, base_rss)
        log("soak: baseline after warm-up: %s fds (%s at start-up), rss %s" %
            (base_fds, idle_fds, kib(base_rss)))
        threading.Thread(target=self.monitor, args=(hard,),
                         daemon=True).start()
        t0 = self.t0 = time.monotonic()
        deadline = t0 + self.seconds
        every = max(10, min(30, self.seconds // 12))
        threading.Thread(target=self.progress, args=(t0, every, hard),
                         daemon=True).start()
        ws = [threading.Thread(target=self.worker, args=(i, kinds, deadline),
                               daemon=True) for i in range(self.workers)]
        for w in ws:
            w.start()
        join_end = deadline + BENCH_CAP + 3 * END_WAIT + 60
        for w in ws:
            while w.is_alive() and time.monotonic() < join_end:
                w.join(0.5)
        stuck = sum(1 for w in ws if w.is_alive())
        if stuck:
            self.problem("clients end on their own", "%d jobs still running "
                         "%d s after the end; killed" %
                         (stuck, join_end - deadline))
            self.procs.kill_all(spare=(self.srv, self.relay))
        load_secs = time.monotonic() - t0
        self.progress_line(t0)
        log("soak: load over after %.0f s; waiting up to %d s for the server "
            "to end dead transfers" % (load_secs, SETTLE_MAX))
        t_settle = time.monotonic()
        self.wait_fds(base_fds, SETTLE_MAX)
        time.sleep(1.0)
        end_fds = fd_count(self.srv.pid)
        end_rss = rss_kib(self.srv.pid)
        settle_secs = time.monotonic() - t_settle
        self.stop.set()
        self.srv_log.poll()
        self.end = (end_fds, end_rss, settle_secs)
        self.finish(load_secs)

    def final_probe(self):
        """The server still serves: a get and a put, checked."""
        name, _, digest = self.served["1M"]
        out = os.path.join(self.scratch, "final.out")
        rc, _, _, _, err = self.procs.run(
            [TFTPX, "get", "-q", "-r", "20", "%s:%d" % (HOST, SRV_PORT), name,
             out], CLIENT_CAP)
        ok_get = rc == 0 and sha_file(out) == digest
        src, sdig = self.src["64K"]
        rc2, _, _, _, err2 = self.procs.run(
            [TFTPX, "put", "-q", "-r", "20", "%s:%d" % (HOST, SRV_PORT), src,
             "final-put.bin"], CLIENT_CAP)
        ok_put = rc2 == 0 and sha_file(
            os.path.join(self.root, "final-put.bin")) == sdig
        self.srv_log.wait_wrq(["final-put.bin"], 1, END_WAIT)
        for p in (out, os.path.join(self.root, "final-put.bin")):
            if os.path.exists(p):
                os.unlink(p)
        return ok_get and ok_put, "get exit %s%s, put exit %s%s" % (
            rc, "" if ok_get else " " + err, rc2, "" if ok_put else " " + err2)

    def finish(self, load_secs):
        checks = []

        def check(name, ok, detail):
            checks.append((name, ok, detail))

        with self.lock:
            problems = list(self.problems)
        base_fds, base_rss = self.base
        end_fds, end_rss, settle_secs = self.end
        # leftovers in ROOT, before the probe adds its own
        temps = [n for n in os.listdir(self.root) if n.startswith(".tftpx-")]
        stray = [n for n in os.listdir(self.root)
                 if n not in self.served_names and not n.startswith(".tftpx-")]
        changed = [v[0] for v in self.served.values()
                   if sha_file(os.path.join(self.root, v[0])) != v[2]]
        alive_before = self.srv.poll() is None and not self.mon["dead"]
        probe_ok, probe_detail = (self.final_probe() if alive_before else
                                  (False, "exited %s" % self.srv.poll()))
        alive = probe_ok and self.srv.poll() is None
        try:
            nft = self.ns.counters("inet soak")
        except Fail:
            nft = {}
        if self.relay is not None and self.relay.poll() is None:
            self.procs.kill(self.relay, signal.SIGTERM)
            try:
                out, _ = self.relay.communicate(timeout=10)
                for line in out.decode(errors="replace").splitlines():
                    if line.startswith("{"):
                        self.relay_stats = json.loads(line)
            except subprocess.TimeoutExpired:
                self.procs.kill(self.relay)
            self.procs.done(self.relay)
        self.srv_log.poll()
        t = self.totals()
        with self.lock:
            rows = dict(self.rows)
            upl = dict(self.upl)
            mon = dict(self.mon)
            harness = list(self.harness)

        # ---- the table
        log("")
        log("summary: %.0f s of load (+%.0f s settling), seed %d, %d jobs" %
            (load_secs, settle_secs, self.seed, self.jobs_done))
        log("  %-20s %-4s %8s %8s %6s %5s %10s" % (
            "client", "op", "ok", "gave up", "wrong", "hung", "via relay"))
        for row in self.ROWS:
            for op in ("get", "put"):
                c = rows.get((row, op))
                if c is None:
                    continue
                log("  %-20s %-4s %8d %8d %6d %5d %10d" % (
                    row, op, c["ok"], c["gave up"], c["wrong"], c["hung"],
                    c["relay"]))
        log("  %-20s %-4s %8d %8d %6d %5d" % ("all", "", t["ok"],
                                              t["gave up"], t["wrong"],
                                              t["hung"]))
        for tool in self.skipped:
            log("  (%s skipped: not installed)" % tool)
        log("  (transfers; a bench run is 16.  wrong: a wrong byte, or an "
            "upload lost or damaged.  raw and killed: ok = went away as "
            "planned, bytes and files checked; raw 'gave up' = no answer)")
        log("uploads verified: %d (%d hold the sent bytes, %d kept their "
            "previous content, %d never created), %d lost or damaged" % (
                upl["replaced"] + upl["kept"] + upl["absent"],
                upl["replaced"], upl["kept"], upl["absent"], upl["bad"]))
        log("server: %-14s %10s %10s %10s" % ("", "baseline", "peak", "end"))
        log("        %-14s %10s %10s %10s" % ("fds", base_fds,
                                               mon["fds_peak"], end_fds))
        log("        %-14s %10s %10s %10s" % ("RSS", kib(base_rss),
                                               kib(mon["rss_peak"]),
                                               kib(end_rss)))
        with self.lock:
            trace = list(self.rss_trace)
        marks = []
        for i in range(1, 11):      # a leak grows with time, a high water not
            at = self.t0 + load_secs * i / 10.0
            near = [r for t, r in trace if t <= at]
            if near:
                marks.append("%.2f" % (near[-1] / 1024.0))
        log("        RSS at each tenth of the load (MiB): %s" %
            " ".join(marks))
        with self.srv_log.cv:
            outcomes = sorted(self.srv_log.outcomes.items())
            refusals = list(self.srv_log.refusals)
            bad_lines = self.srv_log.bad_lines
        log("server log: " + ", ".join("%s %s %d" % (op, k, n)
                                       for (op, k), n in outcomes))
        log("faults: nftables saw %s UDP packets, dropped %s; relay "
            "forwarded %s, duplicated %s, at most %s sockets open" % (
                nft.get("udp"), nft.get("drop"),
                (self.relay_stats or {}).get("sent"),
                (self.relay_stats or {}).get("duplicated"),
                (self.relay_stats or {}).get("open_max")))

        # ---- the checks
        def probs(name):
            return [p for c, p in problems if c == name]

        p = probs("all received bytes right")
        gets = sum(c["ok"] for (r, op), c in rows.items() if op == "get")
        wrong = sum(c["wrong"] for (r, op), c in rows.items() if op == "get")
        check("all received bytes right", not p and not wrong,
              "%d gets verified; %s" % (gets, p[0] if p else
                                        "no wrong byte"))
        p = probs("no upload lost or damaged")
        check("no upload lost or damaged", not p and upl["bad"] == 0,
              "%d uploads verified; %s" % (
                  upl["replaced"] + upl["kept"] + upl["absent"],
                  p[0] if p else "none lost or damaged"))
        p = probs("clients end on their own")
        gave = sum(c["gave up"] for (r, op), c in rows.items()
                   if r not in ("raw (vanishes)", "killed mid-transfer"))
        check("clients end on their own", not p, p[0] if p else
              "%d transfers given up by the client under loss, none had to "
              "be killed" % gave)
        check("no temp or stray file left", not temps and not stray,
              "temps %s, stray %s" % (temps[:5], stray[:5]))
        check("served files unchanged", not changed, "changed: %s" % changed
              if changed else "%d files" % len(self.served))
        check("no request refused", not refusals, "%d refusals%s" % (
            len(refusals), (": %s" % refusals[0].get("reason"))
            if refusals else ""))
        check("fds back to baseline", end_fds is not None and
              end_fds <= base_fds, "baseline %s, peak %s, end %s" % (
                  base_fds, mon["fds_peak"], end_fds))
        slack = max(RSS_SLACK_KIB, int(RSS_SLACK_FRAC * (base_rss or 0)))
        ups_ok = sum(n for (op, k), n in outcomes if (op, k) == ("WRQ", "ok"))
        ring = (min(ups_ok, DEDUP_CAP) * DEDUP_ENTRY + 4095) // 4096 * 4
        check("RSS back to baseline", end_rss is not None and base_rss and
              end_rss <= base_rss + slack + ring,
              "baseline %s, peak %s, end %s (tolerance +%s, and +%s for "
              "the dedup ring's %d uploads)" % (
                  kib(base_rss), kib(mon["rss_peak"]), kib(end_rss),
                  kib(slack), kib(ring), min(ups_ok, DEDUP_CAP)))
        check("server alive", alive, probe_detail)
        check("faults injected", (nft.get("drop") or 0) > 0 and
              (not self.relay_ok or
               (self.relay_stats or {}).get("duplicated", 0) > 0),
              "dropped %s, duplicated %s" % (
                  nft.get("drop"), (self.relay_stats or {}).get(
                      "duplicated")))
        check("harness ran cleanly", not harness and not bad_lines,
              "; ".join(harness[:3]) if harness else
              "%d unparsable log lines" % bad_lines if bad_lines else "ok")
        log("")
        for name, ok, detail in checks:
            log("%s %s: %s" % ("PASS" if ok else "FAIL", name, detail))
        n_ok = sum(1 for c in checks if c[1])
        self.verdict = (n_ok, len(checks) - n_ok)
        log("%d passed, %d failed" % self.verdict)

    def cleanup(self):
        self.aborting = True
        self.stop.set()
        if self.srv is not None and self.srv.poll() is None:
            self.procs.kill(self.srv, signal.SIGTERM)
            try:
                self.srv.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self.procs.kill_all()
        try:
            if self.ns is not None:
                self.ns.delete()
        except Exception as e:      # keep going: the temp dir still goes
            log("soak: removing namespace %s: %s" % (self.ns.name, e))
        if self.tmp and self.verdict is not None and self.verdict[1]:
            log("soak: kept %s for a look (server.json is the server's log)"
                % self.tmp)
        elif self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    if os.geteuid() != 0:
        print("soak.py: needs root (it creates a network namespace); run it "
              "with sudo", file=sys.stderr)
        return 2
    for tool in ("ip", "nft"):
        if not shutil.which(tool):
            print("soak.py: needs %s (iproute2 / nftables)" % tool,
                  file=sys.stderr)
            return 2
    if not os.access(TFTPX, os.X_OK):
        print("soak.py: %s is missing; build it with make" % TFTPX,
              file=sys.stderr)
        return 2
    try:
        seconds = int(os.environ.get("SOAK_SECONDS", "1800"))
        seed = int(os.environ.get("SOAK_SEED", random.randrange(1 << 30)))
        workers = int(os.environ.get("SOAK_WORKERS", "6"))
    except ValueError as e:
        print("soak.py: bad SOAK_* value: %s" % e, file=sys.stderr)
        return 2
    sk = Soak(max(1, seconds), seed, max(1, workers))

    def on_signal(signum, frame):
        raise Interrupted(signal.Signals(signum).name)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    status = 1
    try:
        sk.run()
        status = 0 if sk.verdict[1] == 0 else 1
    except Interrupted as e:
        log("soak: interrupted (%s); cleaning up" % e)
        status = 130
    except Exception:
        log("soak: error: %s" % traceback.format_exc().strip())
        log("0 passed, 1 failed")
        sk.verdict = (0, 1)
        status = 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        sk.cleanup()
    return status


if __name__ == "__main__":
    sys.exit(main())
