#!/usr/bin/env python3
"""bench/run.py - tftpx beside tftpd-hpa, atftpd and dnsmasq (stdlib only).

Run from the repository root as root (`make bench`, `make bench-loss`):

    python3 bench/run.py [--runs N] [--only SUBSTRING] [--servers A,B]
                         [--no-loss | --loss-only] [--loss-cap SECONDS]
    python3 bench/run.py --plot bench/results/latest.json

(--only selects the scenarios whose key contains SUBSTRING; the shapes
of the system-call table are syscalls-lock, syscalls-window and
syscalls-many, so --only syscalls runs that table alone, and the HTTP
origin's parts origin-64M and origin-3x300, so --only origin runs that
part alone; the loss table is left out by --no-loss only.)

1. Installs the peers it lacks: tftpd-hpa and dnsmasq-base with apt-get,
   atftpd by `apt-get download` + `dpkg -x` into bench/peers/ (its package
   conflicts with tftpd-hpa's, and only the binary is needed).
2. Measures the loopback UDP limits with bench/udplimit: ping-pong (one
   datagram and a 4-byte answer in flight, the shape of lock-step TFTP) and
   a one-way stream (the ceiling of a windowed sender).
3. Serves the same random files with each server and drives every scenario
   with the same load client, `tftpx bench --json` (a loop of `tftpx get`
   / `tftpx put` processes stands in where this build has no `bench`).
   The 200-client row is run again with bench/loadc, an independent load
   client (its own code; one socket per transfer, kernel-chosen ports,
   every DATA ACKed), which also counts the blocks each server re-sent.
   Per server and scenario: MB/s (10^6 bytes per second, the median of
   --runs runs), server CPU seconds per run (utime + stime of the server
   and its reaped children, /proc/PID/stat), peak RSS (VmHWM) and failed
   transfers.  tftpd-hpa forks per transfer and lets the kernel reap its
   children unaccounted, so for it both are sampled (0.01-0.05 s): the
   children's CPU time, and the server's VmRSS plus the children's
   private RssAnon.  An RRQ with
   the scenario's options is sent to each server first and the OACK read,
   so a peer that does not grant an option is shown running without it.
   The 10,000-concurrent row (issue 16, tftpx-1port only: tftpx serve
   --single-port --max-transfers 20000 --max-per-client 20000) is one
   run of `tftpx bench -c 10000 -n 10000 -b 1468 --verify` (it raises
   its own fd limit; the script lifts the hard limit for it when it is
   too low).  One source address: 10,000 ports fit in the ephemeral
   range.  It takes 5 to 7 minutes on 2 CPUs and is counted outside the
   --budget time budget: the budget's end moves by the time it took, so
   the scenarios after it keep their runs.  Besides VmHWM the server's
   open fds (/proc/PID/fd) are sampled every 0.5 s and the peak shown.
4. dnsmasq has no option for its TFTP port: it runs on port 69 in a
   private network namespace, and the load client runs there too.
5. The loss table (issue 7): curl fetches 1 MiB and 20 MiB from tftpx,
   tftpd-hpa and atftpd, each in its own namespace where nftables drops a
   random N % of UDP packets (the input hook sees every packet on lo
   once, so both directions), at 0, 1, 5 and 10 %.  Each fetch is capped
   (--loss-cap, 90 s), reported as "> 90 s" when it hits the cap, with
   the time projected from the bytes curl had by then.
6. System calls per block (issue 16): strace -c -f -p attached to each
   of tftpx, tftpx-1port, dnsmasq, atftpd and tftpd-hpa (-f follows
   tftpd-hpa's forked transfers and atftpd's threads; dnsmasq's pid is
   that of `ip netns exec`, which execs it) while the same load client
   fetches: one 16 MiB transfer lock-step at blksize 1468, the same
   with windowsize 16 (peers without windowsize run lock-step, noted),
   and 200 at once (a smaller file than the throughput row's 4 MiB, see
   SYSCALL_SHAPES: under strace every call stops the server twice; the
   client's first re-send waits 5 s, and re-sends are noted).  Blocks =
   transfers x (size // blksize + 1); per server and shape the calls per
   block in all and the 4 most frequent syscalls.  A count, not timing:
   strace's slowdown does not matter.  strace is installed with apt-get
   like the peers; without it the table says so.  It runs once, after
   the throughput table and outside --budget (~2 minutes).
7. The HTTP origin (`tftpx serve --origin`; the keys are origin-64M and
   origin-3x300, so --only origin runs both).  nginx (Debian's
   nginx-light, installed with apt-get like the peers) serves the files
   on loopback, started by tests/lib/httporigin.py with an access log.
   origin-64M: a 64 MiB file served from DIR, and the same bytes through
   the origin cold (no --cache; an empty --cache: a name never fetched)
   and warm (--cache holds it), by the same tftpx (the cold row without
   a cache by a second one); each fetch one `tftpx bench -c 1 -n 1 -b
   1468 -w 16`, two a run: MB/s (median), its ratio to the DIR figure,
   CPU of tftpx and of nginx, GETs at nginx, and one more fetch of each
   row with --verify.  origin-3x300: three tftpx (no DIR, a --cache
   each; tftpx K's origin is URL/iK, an alias of nginx's root, so the
   access log tells which one asked) on ports of their own, and 100
   clients at each at once over 4 names never fetched before (per tftpx
   and name one `tftpx bench -c 25 -n 25 -b 1468 --verify`): MB/s of all
   300, GETs per file and tftpx, and the target of one GET per tftpx per
   file.  40 to 60 s, outside --budget and bounded by ORIGIN_BUDGET
   (150 s: past it, no further run); without nginx (or without
   tests/lib/httporigin.py, or a tftpx without --origin) one line says
   the part is skipped and why.

Prints markdown tables and the targets of issues 6, 7 and 16 (and the
HTTP origin's) as met / missed, and writes bench/results/latest.md and
latest.json (a subset of scenarios or servers: partial.md and
partial.json), and latest.svg beside them, drawn by gnuplot (installed
with apt-get like the peers; without it one line says so): MB/s per
scenario and server and the loss table's fetch times, both on log axes.
`python3 bench/run.py --plot FILE.json` redraws FILE.svg from an
earlier run without running anything.  Every loop is bounded in count
and time; every namespace, server, nginx and strace is removed on the
way out.
"""

import argparse
import atexit
import concurrent.futures
import hashlib
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
TFTPX = os.path.join(TOP, "tftpx")
UDPLIMIT = os.path.join(HERE, "udplimit")
LOADC = os.path.join(HERE, "loadc")
PEERS_DIR = os.path.join(HERE, "peers")
RESULTS = os.path.join(HERE, "results")
ATFTPD = os.path.join(PEERS_DIR, "atftpd", "usr", "sbin", "atftpd")
INTFTPD = "/usr/sbin/in.tftpd"
MIB = 1 << 20
CLK_TCK = os.sysconf("SC_CLK_TCK")
PID = os.getpid()

# tftpx-1port: tftpx serve --single-port, beside the default in the rows
# single-port changes (lock-step, windows, many clients)
SERVERS = ("tftpx", "tftpx-1port", "tftpd-hpa", "atftpd", "dnsmasq")
BASE = ("tftpx", "tftpd-hpa", "atftpd", "dnsmasq")


def ours(name):
    return name.startswith("tftpx")

PEERS = tuple(s for s in SERVERS if not ours(s))

_live_ns = set()
_live_procs = []
_lock = threading.Lock()


def say(msg):
    """Progress goes to stderr; stdout gets only the tables."""
    sys.stderr.write("bench: %s\n" % msg)
    sys.stderr.flush()


def sh(argv, timeout=60, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout, **kw)


# ------------------------------------------------------------------ peers


def apt_install(pkgs, updated):
    """apt-get install; on failure apt-get update once and try again."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    argv = ["apt-get", "install", "-y", "--no-install-recommends"] + pkgs
    p = sh(argv, timeout=600, env=env)
    if p.returncode != 0 and not updated[0]:
        updated[0] = True
        sh(["apt-get", "update"], timeout=600, env=env)
        p = sh(argv, timeout=600, env=env)
    return p.returncode == 0


def ensure_peers(wanted):
    """{peer: None if usable, else why not}.  dnsmasq-base is the binary
    without the service (which would start a DNS server on port 53)."""
    why = {}
    updated = [False]
    if os.geteuid() != 0:
        return {p: "needs root" for p in wanted}
    if "tftpd-hpa" in wanted and not os.access(INTFTPD, os.X_OK):
        say("installing tftpd-hpa")
        apt_install(["tftpd-hpa"], updated)
    if "dnsmasq" in wanted and not shutil.which("dnsmasq"):
        say("installing dnsmasq-base")
        apt_install(["dnsmasq-base"], updated)
    if "atftpd" in wanted and not os.access(ATFTPD, os.X_OK):
        say("fetching atftpd into %s" % os.path.relpath(PEERS_DIR, TOP))
        os.makedirs(PEERS_DIR, exist_ok=True)
        tmp = tempfile.mkdtemp(dir=PEERS_DIR)
        os.chmod(tmp, 0o755)    # apt's _apt user writes the download
        try:
            for _ in range(2):
                p = sh(["apt-get", "download", "atftpd"], cwd=tmp,
                       timeout=300)
                if p.returncode == 0 or updated[0]:
                    break
                updated[0] = True
                sh(["apt-get", "update"], timeout=600)
            debs = [f for f in os.listdir(tmp) if f.endswith(".deb")]
            if debs:
                sh(["dpkg", "-x", os.path.join(tmp, debs[0]),
                    os.path.join(PEERS_DIR, "atftpd")], timeout=60)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    for p in wanted:
        if p == "tftpd-hpa" and not os.access(INTFTPD, os.X_OK):
            why[p] = "in.tftpd not installed"
        elif p == "dnsmasq" and not shutil.which("dnsmasq"):
            why[p] = "dnsmasq not installed"
        elif p == "dnsmasq" and not shutil.which("ip"):
            why[p] = "ip (iproute2) not installed"
        elif p == "atftpd" and not os.access(ATFTPD, os.X_OK):
            why[p] = "atftpd could not be fetched"
        else:
            why[p] = None
    return why


def version_of(name):
    try:
        if ours(name):
            return sh([TFTPX, "--version"]).stdout.decode().strip()
        if name == "dnsmasq":
            out = sh(["dnsmasq", "--version"]).stdout.decode()
            return out.splitlines()[0].split("  ")[0]
        if name == "atftpd":
            return sh([ATFTPD, "--version"]).stdout.decode().strip() or \
                sh([ATFTPD, "--version"]).stderr.decode().strip()
        if name == "tftpd-hpa":
            out = sh(["dpkg-query", "-W", "-f", "${Version}",
                      "tftpd-hpa"]).stdout.decode()
            return "tftpd-hpa " + out
        if name == "curl":
            return sh(["curl", "--version"]).stdout.decode().split(" (")[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        pass
    return "?"


# ------------------------------------------------------------- namespaces


class NetNS:
    """A private network namespace with lo up; always delete()d."""
    _n = 0

    def __init__(self, tag):
        with _lock:
            NetNS._n += 1
            self.name = "tftpxbench%d%s%d" % (PID, tag, NetNS._n)
            _live_ns.add(self.name)
        p = sh(["ip", "netns", "add", self.name])
        if p.returncode != 0:
            with _lock:
                _live_ns.discard(self.name)
            raise RuntimeError("ip netns add: %s" % p.stderr.decode().strip())
        p = sh(["ip", "-n", self.name, "link", "set", "lo", "up"])
        if p.returncode == 0:
            # in.tftpd resolves its -a address with AI_ADDRCONFIG, which
            # finds nothing where lo has the only (loopback) address
            p = sh(["ip", "-n", self.name, "addr", "add", "192.0.2.1/32",
                    "dev", "lo"])
        if p.returncode != 0:
            self.delete()
            raise RuntimeError("lo up: %s" % p.stderr.decode().strip())

    def argv(self, cmd):
        return ["ip", "netns", "exec", self.name] + list(cmd)

    def drop(self, percent):
        """Drop percent % of all UDP packets (both ways on lo)."""
        script = ("table inet f {\n chain in {\n"
                  "  type filter hook input priority 0; policy accept;\n"
                  "  meta l4proto udp numgen random mod 100 < %d drop\n"
                  " }\n}\n" % percent)
        p = sh(self.argv(["nft", "-f", "-"]), input=script.encode())
        if p.returncode != 0:
            raise RuntimeError("nft: %s" % p.stderr.decode().strip())

    def delete(self):
        try:
            sh(["ip", "netns", "del", self.name], timeout=10)
        finally:
            with _lock:
                _live_ns.discard(self.name)


def cleanup():
    with _lock:
        procs = list(_live_procs)
        names = list(_live_ns)
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
    for n in names:
        try:
            sh(["ip", "netns", "del", n], timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            pass


def on_signal(signum, frame):
    cleanup()
    sys.exit(128 + signum)


# ---------------------------------------------------------------- servers


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def raise_nofile():
    """Run in the child before exec: the same fd allowance for everyone."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass


def nofile_at_least(n):
    """A preexec_fn for a load client with n sockets: where the hard fd
    limit is below n, lift it (root may); `tftpx bench` raises its own
    soft limit up to the hard one."""
    def pre():
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY and hard < n:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (soft, n))
            except (ValueError, OSError):
                pass
    return pre


def proc_status(pid, key):
    """A kB field of /proc/PID/status (VmHWM, VmRSS), or 0."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def fd_count(pid):
    """How many fds pid has open, or None."""
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


class FdSampler:
    """A thread that counts pid's open fds every 0.5 s until stop()ped;
    peak is the most seen (None if never readable)."""

    def __init__(self, pid, every=0.5):
        self.pid = pid
        self.peak = fd_count(pid)
        self._stop = threading.Event()

        def loop():
            while not self._stop.wait(every):
                n = fd_count(self.pid)
                if n is not None and (self.peak is None or n > self.peak):
                    self.peak = n
        self._t = threading.Thread(target=loop, daemon=True)
        self._t.start()

    def stop(self):
        self._stop.set()
        self._t.join(2)
        n = fd_count(self.pid)
        if n is not None and (self.peak is None or n > self.peak):
            self.peak = n


def proc_cpu(pid):
    """utime + stime + cutime + cstime of pid in seconds."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    fields = s[s.rindex(")") + 2:].split()
    # fields[0] is field 3 (state); utime is field 14
    return sum(int(x) for x in fields[11:15]) / CLK_TCK


def proc_start(pid):
    """Start time of pid (field 22), to tell a reused pid apart."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
        return int(s[s.rindex(")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def proc_children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except (OSError, ValueError):
        return []


def port_bound(pid, port):
    """Is a UDP socket in pid's network namespace bound to port?"""
    for fn in ("udp", "udp6"):
        try:
            with open("/proc/%d/net/%s" % (pid, fn)) as f:
                next(f)
                for line in f:
                    local = line.split()[1]
                    if int(local.rsplit(":", 1)[1], 16) == port:
                        return True
        except (OSError, ValueError, IndexError, StopIteration):
            pass
    return False


class Running:
    """One started server: its process, where it listens, how to reach
    it (ns), and the meters."""

    def __init__(self, name, argv, port, ns, logpath, read_port=False):
        self.name = name
        self.ns = ns
        self.logpath = logpath
        self.log = open(logpath, "wb")
        if ns is not None:
            argv = ns.argv(argv)
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                  stdout=self.log, stderr=self.log,
                                  start_new_session=True,
                                  preexec_fn=raise_nofile)
        with _lock:
            _live_procs.append(self.p)
        self.pid = self.p.pid
        self.host = "127.0.0.1"
        self.port = port
        self.peak_tree = 0
        self.child_cpu = {}
        self._stop_sampler = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.p.poll() is None:
            if read_port:
                m = re.search(rb"listening on 127\.0\.0\.1:(\d+)",
                              open(logpath, "rb").read())
                if m:
                    self.port = int(m.group(1))
                    break
            elif port_bound(self.pid, port):
                break
            time.sleep(0.02)
        else:
            self.stop()
            raise RuntimeError("%s did not start (exit %s): %s" %
                               (name, self.p.poll(), self.tail()))

    def tail(self, n=5):
        try:
            with open(self.logpath, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return " | ".join(lines[-n:])
        except OSError:
            return ""

    def client_argv(self, argv):
        return self.ns.argv(argv) if self.ns is not None else list(argv)

    def cpu(self):
        own = proc_cpu(self.pid)
        if own is None:
            return None
        return own + sum(self.child_cpu.values())

    def hwm_kib(self):
        return proc_status(self.pid, "VmHWM")

    def rss_kib(self):
        return proc_status(self.pid, "VmRSS")

    def sample_tree(self):
        """For a forking server (tftpd-hpa): a thread that every 0.01 s
        to 0.05 s keeps the largest memory of the tree (the server's
        VmRSS plus each child's private RssAnon: the file pages a child
        shares with its parent counted once), and each child's CPU time.
        tftpd-hpa ignores SIGCHLD, so the kernel reaps its children
        unaccounted: their CPU never reaches the parent's cutime, and
        the last sample of each child is all that is known of it, a
        lower bound (it misses the child's last moments)."""
        stop = threading.Event()

        def loop():
            kids = []
            # every 0.01 s while there are few children, so a short
            # transfer is seen at all; 0.05 s when there are many
            while not stop.wait(0.01 if len(kids) < 8 else 0.05):
                total = self.rss_kib()
                kids = proc_children(self.pid)
                for c in kids:
                    total += proc_status(c, "RssAnon")
                    key = (c, proc_start(c))
                    cpu = proc_cpu(c)
                    if cpu is not None and key[1] is not None:
                        self.child_cpu[key] = cpu
                self.peak_tree = max(self.peak_tree, total)
        t = threading.Thread(target=loop, daemon=True)
        t.start()
        self._stop_sampler = (stop, t)

    def settle(self, limit=10.0):
        """Wait (bounded) until every forked child has exited and been
        reaped, so its CPU time is in the parent's cutime/cstime."""
        deadline = time.monotonic() + limit
        while proc_children(self.pid) and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self):
        if self._stop_sampler:
            self._stop_sampler[0].set()
            self._stop_sampler[1].join(1)
            self._stop_sampler = None
        # a forked transfer first, while its parent still reaps it: one
        # left behind (a tftpd-hpa child whose curl was capped) outlives
        # a SIGTERM and becomes init's orphan
        for c in proc_children(self.pid):
            try:
                os.kill(c, signal.SIGKILL)
            except OSError:
                pass
        deadline = time.monotonic() + 2
        while proc_children(self.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGTERM)
            except OSError:
                pass
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                pass
        # whatever is left of the group
        try:
            os.killpg(self.p.pid, signal.SIGKILL)
        except OSError:
            pass
        self.p.wait(5)
        self.log.close()
        with _lock:
            if self.p in _live_procs:
                _live_procs.remove(self.p)


def start_server(name, root, scratch, upload=False, ns=None, serve=()):
    """Start name serving root on 127.0.0.1; a dnsmasq gets a namespace of
    its own (port 69 is fixed).  Inside a given namespace peers use port
    6969.  serve: more `tftpx serve` arguments (ours only); one that
    names --max-per-client replaces the default 1000."""
    own_ns = None
    log = os.path.join(scratch, "%s-%d.log" % (name, time.monotonic_ns()))
    try:
        if name == "dnsmasq" and ns is None:
            own_ns = ns = NetNS("d")
        port = 6969 if ns is not None else free_port()
        if ours(name):
            # every load comes from 127.0.0.1: lift the per-host limit
            # (default 64) to what the peers allow (1000); root like the
            # peers (tftpd-hpa -u root), the scratch dir is 0700.  The
            # rest is the default: a finished download is not remembered,
            # so runs back to back that meet each other's ports are
            # served (until the 15 s memory went, that needed --grace 0:
            # 67 of 3000 timed out without it)
            argv = [TFTPX, "serve", "--allow-root", "--listen",
                    "127.0.0.1:0"]
            if "--max-per-client" not in serve:
                argv += ["--max-per-client", "1000"]
            argv += list(serve)
            if upload:
                argv += ["--upload", "--overwrite"]
            if name == "tftpx-1port":
                argv += ["--single-port"]
            r = Running(name, argv + [root], 0, ns, log, read_port=True)
        elif name == "tftpd-hpa":
            argv = [INTFTPD, "-L", "-s", "-c", "-p", "-u", "root",
                    "-B", "65464", "-a", "127.0.0.1:%d" % port, root]
            r = Running(name, argv, port, ns, log)
        elif name == "atftpd":
            argv = [ATFTPD, "--daemon", "--no-fork", "--port", str(port),
                    "--bind-address", "127.0.0.1", "--maxthread", "1000",
                    "--user", "root.root", "--logfile", log + ".log", root]
            r = Running(name, argv, port, ns, log)
        elif name == "dnsmasq":
            port = 69
            argv = ["dnsmasq", "--keep-in-foreground", "--port=0",
                    "--enable-tftp", "--tftp-root=" + root,
                    "--tftp-max=1000", "--listen-address=127.0.0.1",
                    "--bind-interfaces", "--user=root", "--group=root",
                    "--conf-file=" + empty_conf(scratch), "--pid-file=",
                    "--log-facility=" + log + ".syslog"]
            r = Running(name, argv, port, ns, log)
        else:
            raise ValueError(name)
    except BaseException:
        if own_ns is not None:
            own_ns.delete()
        raise
    r.own_ns = own_ns
    return r


def empty_conf(scratch):
    """An empty dnsmasq.conf: --conf-file=/dev/null would read whatever
    is there, and on a busy test machine that was once not a device."""
    path = os.path.join(scratch, "dnsmasq.conf")
    if not os.path.exists(path):
        open(path, "w").close()
    return path


def stop_server(r):
    r.stop()
    if getattr(r, "own_ns", None) is not None:
        r.own_ns.delete()


# ------------------------------------------------------------ OACK probe


def oack_probe(host, port, fname, opts, timeout=2.0):
    """Send an RRQ with opts ({name: value}); return the options the
    server granted ({} if it answered with DATA, i.e. ignored them all),
    then end the transfer with an ERROR."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        pkt = struct.pack("!H", 1) + fname.encode() + b"\0octet\0"
        for k, v in opts.items():
            pkt += k.encode() + b"\0" + str(v).encode() + b"\0"
        s.sendto(pkt, (host, port))
        data, peer = s.recvfrom(70000)
        op = struct.unpack("!H", data[:2])[0]
        got = {}
        if op == 6:
            parts = data[2:].split(b"\0")
            for i in range(0, len(parts) - 1, 2):
                if parts[i]:
                    got[parts[i].decode().lower()] = parts[i + 1].decode()
        elif op != 3:
            return {"error": data[4:].split(b"\0")[0].decode("replace")}
        s.sendto(struct.pack("!HH", 5, 0) + b"bench probe\0", peer)
        return got
    except OSError as e:
        return {"error": str(e)}
    finally:
        s.close()


def probe(srv, fname, opts):
    if not opts:
        return {}
    if srv.ns is None:
        return oack_probe(srv.host, srv.port, fname, opts)
    argv = srv.client_argv([sys.executable, os.path.abspath(__file__),
                            "--probe", "%s:%d" % (srv.host, srv.port),
                            fname, json.dumps(opts)])
    p = sh(argv, timeout=20)
    try:
        return json.loads(p.stdout.decode())
    except ValueError:
        return {"error": p.stderr.decode().strip()}


# ------------------------------------------------------------ load client


_HAVE_BENCH = None


def have_bench():
    """Does this tftpx have the `bench` subcommand?"""
    global _HAVE_BENCH
    if _HAVE_BENCH is None:
        try:
            p = sh([TFTPX, "bench", "--help"], timeout=10)
            out = (p.stdout + p.stderr).decode()
            _HAVE_BENCH = p.returncode == 0 and "--json" in out
        except (OSError, subprocess.TimeoutExpired):
            _HAVE_BENCH = False
    return _HAVE_BENCH


def load(srv, sc, local, remote, size, limit):
    """Drive one run of scenario sc against srv; a dict with at least
    transfers, ok, failed, bytes, seconds, verify_errors."""
    if sc["client"] == "loadc":
        return load_loadc(srv, sc, remote, limit)
    if have_bench():
        return load_bench(srv, sc, local, remote, limit)
    return load_shim(srv, sc, local, remote, size, limit)


def load_bench(srv, sc, local, remote, limit):
    argv = [TFTPX, "bench", "-c", str(sc["c"]), "-n", str(sc["n"])]
    if sc["b"]:
        argv += ["-b", str(sc["b"])]
    if sc["w"]:
        argv += ["-w", str(sc["w"])]
    if sc["t"]:
        argv += ["-t", str(sc["t"])]
    if sc["put"]:
        argv += ["--put"]
    if sc["verify"] and not sc["put"]:
        argv += ["--verify", "--local", local]
    if sc["put"]:
        argv += ["--remote", remote]
    argv += ["--json", "%s:%d" % (srv.host, srv.port),
             local if sc["put"] else remote]
    kw = {}
    if sc["c"] > 1000:
        kw["preexec_fn"] = nofile_at_least(sc["c"] + 1024)
    try:
        p = sh(srv.client_argv(argv), timeout=limit, **kw)
    except subprocess.TimeoutExpired:
        return {"transfers": sc["n"], "ok": 0, "failed": sc["n"],
                "bytes": 0, "seconds": limit, "verify_errors": 0,
                "error": "client killed after %d s" % limit}
    try:
        out = p.stdout.decode().strip().splitlines()
        return json.loads(out[-1])
    except (ValueError, IndexError):
        return {"transfers": sc["n"], "ok": 0, "failed": sc["n"],
                "bytes": 0, "seconds": 0, "verify_errors": 0,
                "error": "tftpx bench exit %d: %s" %
                (p.returncode, p.stderr.decode().strip()[-300:])}


def load_loadc(srv, sc, remote, limit):
    """One run of bench/loadc: gets only, one socket per transfer."""
    argv = [LOADC, "-c", str(sc["c"]), "-n", str(sc["n"])]
    if sc["b"]:
        argv += ["-b", str(sc["b"])]
    argv += [srv.host, str(srv.port), remote]
    fail = {"transfers": sc["n"], "ok": 0, "failed": sc["n"], "bytes": 0,
            "seconds": limit, "verify_errors": 0}
    try:
        p = sh(srv.client_argv(argv), timeout=limit)
    except subprocess.TimeoutExpired:
        return dict(fail, error="loadc killed after %d s" % limit)
    try:
        r = json.loads(p.stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        return dict(fail, error="loadc exit %d: %s" % (
            p.returncode, p.stderr.decode().strip()[-300:]))
    r["verify_errors"] = 0
    if r.get("first_error"):
        r["error"] = r["first_error"]
    return r


def load_shim(srv, sc, local, remote, size, limit):
    """Stand-in for `tftpx bench`: sc["n"] `tftpx get`/`put` processes,
    at most sc["c"] at a time; a get's bytes are counted from its stdout
    (and hashed when verifying)."""
    want = None
    if sc["verify"] and not sc["put"]:
        want = sha256_file(local)
    opts = []
    if sc["b"]:
        opts += ["-b", str(sc["b"])]
    if sc["w"]:
        opts += ["-w", str(sc["w"])]
    hp = "%s:%d" % (srv.host, srv.port)
    times, res = [], {"ok": 0, "failed": 0, "bytes": 0, "verify_errors": 0}
    deadline = time.monotonic() + limit

    def one(_):
        if sc["put"]:
            argv = [TFTPX, "put", "-q"] + opts + [hp, local, remote]
        else:
            argv = [TFTPX, "get", "-q"] + opts + [hp, remote, "-"]
        t0 = time.monotonic()
        left = max(1.0, deadline - t0)
        p = subprocess.Popen(srv.client_argv(argv), stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
        h, n = hashlib.sha256(), 0
        try:
            while True:
                chunk = p.stdout.read(1 << 20)
                if not chunk:
                    break
                n += len(chunk)
                if want:
                    h.update(chunk)
            rc = p.wait(left)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            rc = -1
        dt = time.monotonic() - t0
        with _lock:
            times.append(dt)
            if rc == 0:
                res["ok"] += 1
                res["bytes"] += size if sc["put"] else n
                if want and h.hexdigest() != want:
                    res["verify_errors"] += 1
            else:
                res["failed"] += 1
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(sc["c"]) as ex:
        list(ex.map(one, range(sc["n"])))
    secs = time.monotonic() - t0
    times.sort()
    res.update(transfers=sc["n"], seconds=secs,
               p50_ms=times[len(times) // 2] * 1e3,
               p99_ms=times[min(len(times) - 1,
                                int(len(times) * 0.99))] * 1e3,
               max_ms=times[-1] * 1e3, shim=True)
    return res


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def make_file(path, size):
    """size random bytes (the same content for every server)."""
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 1 << 20)
            f.write(os.urandom(n))
            left -= n
    os.chmod(path, 0o644)


# --------------------------------------------------------------- scenarios


def scenario(key, title, fsize, b=None, w=None, c=1, n=1, put=False,
             verify=False, servers=BASE, limit_kind="pingpong",
             limit_size=None, client="bench", serve=(), runs=None,
             cap=300, fds=False, off_budget=False, t=None):
    """serve: extra `tftpx serve` arguments; runs: at most this many runs
    whatever --runs says; cap: seconds a run may take; fds: sample the
    server's open fds; off_budget: the time it takes moves the end of
    --budget; t: the load client's first retransmission timeout
    (`tftpx bench -t`)."""
    return dict(key=key, title=title, fsize=fsize, b=b, w=w, c=c, n=n,
                put=put, verify=verify, servers=servers, client=client,
                limit_kind=limit_kind,
                limit_size=limit_size or ((b or 512) + 4),
                serve=tuple(serve), runs=runs, cap=cap, fds=fds,
                off_budget=off_budget, t=t)


# A run of a 64 MiB scenario fetches the file n times in sequence (one at
# a time), so that a fast one lasts long enough to be measured at all:
# at 65464 one fetch is over in some 70 ms.
SCENARIOS = [
    scenario("512", "64 MiB, 512, no options", 64 * MIB),
    scenario("1468", "64 MiB x 2, blksize 1468", 64 * MIB, b=1468, n=2,
             servers=SERVERS),
    scenario("1468w16", "64 MiB x 2, 1468, windowsize 16", 64 * MIB,
             b=1468, w=16, n=2, limit_kind="stream", servers=SERVERS),
    scenario("1468w64", "64 MiB x 2, 1468, windowsize 64", 64 * MIB,
             b=1468, w=64, n=2, limit_kind="stream"),
    scenario("65464", "64 MiB x 4, blksize 65464", 64 * MIB, b=65464,
             n=4),
    scenario("65464w16", "64 MiB x 4, 65464, windowsize 16", 64 * MIB,
             b=65464, w=16, n=4, limit_kind="stream"),
    scenario("c200", "200 clients x 4 MiB, 1468", 4 * MIB, b=1468, c=200,
             n=200, limit_kind="stream", servers=SERVERS),
    scenario("c200i", "200 clients x 4 MiB, 1468, independent client",
             4 * MIB, b=1468, c=200, n=200, limit_kind="stream",
             client="loadc", servers=SERVERS),
    scenario("c1000", "1000 concurrent x 4 MiB, 1468, verified", 4 * MIB,
             b=1468, c=1000, n=1000, verify=True,
             servers=("tftpx", "tftpx-1port"),
             limit_kind="stream"),
    # issue 16: one run of 5 to 7 minutes, outside --budget; the server
    # is allowed 20000 live transfers (from the one client host)
    scenario("c10k", "10000 concurrent x 4 MiB, 1468, single-port, "
             "verified", 4 * MIB, b=1468, c=10000, n=10000, verify=True,
             servers=("tftpx-1port",), limit_kind="stream",
             serve=("--max-transfers", "20000", "--max-per-client",
                    "20000"), runs=1, cap=1200, fds=True,
             off_budget=True),
    scenario("put", "upload 64 MiB, 1468", 64 * MIB, b=1468, put=True,
             servers=("tftpx", "tftpd-hpa", "atftpd")),
]


def udp_limit_once(kind, size, secs=1.0):
    """One udplimit run: MB/s, or None."""
    try:
        p = sh([UDPLIMIT, kind, str(size), str(secs)], timeout=secs + 30)
        return json.loads(p.stdout.decode())["mbps"]
    except (OSError, ValueError, KeyError, subprocess.TimeoutExpired) as e:
        say("udplimit %s %d failed: %s" % (kind, size, e))
        return None


def udp_limits(secs, tries=3):
    """{(kind, size): MB/s} for the sizes the scenarios compare with: the
    best of tries runs, since a limit is what the machine can do and
    other load only ever lowers a run."""
    want = sorted({(s["limit_kind"], s["limit_size"]) for s in SCENARIOS})
    out = {}
    for _ in range(tries):
        for kind, size in want:
            try:
                p = sh([UDPLIMIT, kind, str(size), str(secs)],
                       timeout=secs + 30)
                v = json.loads(p.stdout.decode())["mbps"]
            except (OSError, ValueError, KeyError,
                    subprocess.TimeoutExpired) as e:
                say("udplimit %s %d failed: %s" % (kind, size, e))
                continue
            out[(kind, size)] = max(v, out.get((kind, size), 0))
    for (kind, size), v in sorted(out.items()):
        say("UDP limit %s %d B: %.1f MB/s" % (kind, size, v))
    return out


def note_for(sc, granted):
    """What the server did with the options asked for, in words."""
    if "error" in granted:
        return "probe: " + granted["error"]
    notes = []
    if sc["b"] and "blksize" not in granted:
        notes.append("no blksize: 512")
    elif sc["b"] and int(granted["blksize"]) != sc["b"]:
        notes.append("blksize %s" % granted["blksize"])
    if sc["w"] and "windowsize" not in granted:
        notes.append("no windowsize: lock-step")
    elif sc["w"] and int(granted["windowsize"]) != sc["w"]:
        notes.append("windowsize %s" % granted["windowsize"])
    return ", ".join(notes)


def run_scenario(sc, names, files, scratch, runs, budget_end):
    """Every run of sc against a fresh server of each of names; {name:
    result dict}.  The servers take turns run by run (and in a rotated
    order), so load from elsewhere on the machine falls on all of them
    alike rather than on whichever happened to run then."""
    local = files[sc["fsize"]]
    live, out = {}, {}
    for name in names:
        res = dict(server=name, scenario=sc["key"], runs=[], note="",
                   mbps=None, cpu_s=None, peak_kib=None, failed=0)
        out[name] = res
        root, remote = os.path.dirname(local), os.path.basename(local)
        if sc["put"]:
            root = os.path.join(scratch, "up-" + name)
            os.makedirs(root, exist_ok=True)
            os.chmod(root, 0o777)
            remote = "upload.bin"
        try:
            srv = start_server(name, root, scratch, upload=sc["put"],
                               serve=sc["serve"] if ours(name) else ())
        except (RuntimeError, OSError) as e:
            res["note"] = "did not start: %s" % e
            continue
        live[name] = (srv, root, remote)
    try:
        for name, (srv, root, remote) in live.items():
            res = out[name]
            res["idle_kib"] = srv.rss_kib()
            if name == "tftpd-hpa":
                srv.sample_tree()
            if not sc["put"]:
                opts = {}
                if sc["b"]:
                    opts["blksize"] = sc["b"]
                if sc["w"]:
                    opts["windowsize"] = sc["w"]
                res["granted"] = probe(srv, remote, opts)
                res["note"] = note_for(sc, res["granted"])
                srv.settle()
        order = list(live)
        lims = []
        if sc["runs"]:
            runs = min(runs, sc["runs"])
            for name in order:
                out[name]["note"] = (out[name]["note"] + "; "
                                     if out[name]["note"] else "") + \
                    "%d run(s) by design" % runs
        for i in range(runs):
            if i > 0 and time.monotonic() > budget_end:
                for name in order:
                    out[name]["note"] = (out[name]["note"] + "; "
                                         if out[name]["note"] else "") + \
                        "%d run(s): time budget" % i
                break
            turn = order[i % len(order):] + order[:i % len(order)] \
                if order else []
            for name in turn:
                srv, root, remote = live[name]
                r = one_run(sc, srv, root, local, remote)
                out[name]["runs"].append(r)
                say("  %-9s %-9s run %d: %s MB/s, cpu %s s, ok %s, "
                    "failed %s%s" % (sc["key"], name, i + 1,
                                     fmt(r.get("MBps")), fmt(r["cpu_s"], 2),
                                     r.get("ok"), r.get("failed"),
                                     (" (%s)" % r["error"])
                                     if r.get("error") else ""))
            # the machine's limit now, between the runs it is compared
            # with: an idle VM wakes slowly and a busy one fast, so a
            # limit from another minute can be off by 4x for lock-step
            v = udp_limit_once(sc["limit_kind"], sc["limit_size"])
            if v:
                lims.append(v)
        for name, (srv, root, remote) in live.items():
            res = out[name]
            res["peak_kib"] = max(srv.hwm_kib(), srv.peak_tree)
            if name == "tftpd-hpa":
                res["peak_note"] = "server + children's anon, sampled"
                res["note"] = (res["note"] + "; " if res["note"] else "") + \
                    "CPU: children sampled, a lower bound"
            if srv.p.poll() is not None:
                res["note"] += "; server exited: %s" % srv.tail()
    finally:
        for srv, _, _ in live.values():
            stop_server(srv)
    for res in out.values():
        res["limit"] = statistics.median(lims) if lims else None
        good = [r for r in res["runs"] if r.get("MBps") is not None]
        if good:
            res["mbps"] = statistics.median(r["MBps"] for r in good)
        cpus = [r["cpu_s"] for r in res["runs"]
                if r.get("cpu_s") is not None]
        if cpus:
            res["cpu_s"] = statistics.median(cpus)
        res["failed"] = sum(r.get("failed", 0) + r.get("verify_errors", 0)
                            for r in res["runs"])
        rs = [r["dup_data_per_transfer"] for r in res["runs"]
              if r.get("dup_data_per_transfer") is not None]
        if rs:
            # blocks the server re-sent that reached the client (0 % loss)
            res["resends"] = statistics.median(rs)
            res["note"] = (res["note"] + "; " if res["note"] else "") + \
                "re-sent blocks per transfer %.2f (max %d in one)" % (
                    res["resends"], max(r.get("max_dup_data", 0)
                                        for r in res["runs"]))
        res["ok"] = sum(r.get("ok", 0) for r in res["runs"])
        fds = [r["peak_fds"] for r in res["runs"]
               if r.get("peak_fds") is not None]
        if fds:
            res["peak_fds"] = max(fds)
            res["note"] = (res["note"] + "; " if res["note"] else "") + \
                "peak open fds %d (sampled every 0.5 s)" % res["peak_fds"]
    return out


def one_run(sc, srv, root, local, remote):
    """One run of sc against srv: the load client's figures plus the
    server's CPU seconds, and for an upload whether the file arrived
    whole."""
    dst = os.path.join(root, remote)
    if sc["put"] and os.path.exists(dst):
        os.unlink(dst)
    c0 = srv.cpu()
    fds = sc["fds"] and FdSampler(srv.pid)
    try:
        # a cap per run well above any sane transfer time
        r = load(srv, sc, local, remote, sc["fsize"], sc["cap"])
    finally:
        if fds:
            fds.stop()
    if fds:
        r["peak_fds"] = fds.peak
    srv.settle()
    c1 = srv.cpu()
    r["cpu_s"] = (c1 - c0) if c0 is not None and c1 is not None else None
    if sc["put"]:
        ok = os.path.exists(dst) and sha256_file(dst) == sha256_file(local)
        r["upload_intact"] = ok
        if not ok and r.get("failed", 0) == 0:
            r["failed"] = 1
    if r.get("seconds"):
        r["MBps"] = r.get("bytes", 0) / r["seconds"] / 1e6
    return r


def fmt(v, nd=1):
    if v is None:
        return "—"
    return "%.*f" % (nd, v)


def fmt_kib(k):
    if not k:
        return "—"
    return "%.1f MiB" % (k / 1024.0)


# ------------------------------------------------------------ loss table


LOSS_RATES = (0, 1, 5, 10)
LOSS_SIZES = (1 * MIB, 20 * MIB)
LOSS_SERVERS = ("tftpx", "tftpd-hpa", "atftpd")


def loss_one(name, rate, size, files, scratch, cap):
    """One curl fetch of size bytes from name at rate % loss; seconds, or
    None if capped or failed, a note, and when capped the time projected
    from the bytes that arrived (None if none did)."""
    ns = NetNS("l")
    srv = None
    try:
        if rate:
            ns.drop(rate)
        src = files[size]
        srv = start_server(name, os.path.dirname(src), scratch, ns=ns)
        out = os.path.join(scratch, "curl-%s-%d-%d-%d" %
                           (name, rate, size, time.monotonic_ns()))
        url = "tftp://127.0.0.1:%d/%s" % (srv.port, os.path.basename(src))
        t0 = time.monotonic()
        try:
            p = sh(ns.argv(["curl", "-s", "--max-time", str(cap), "-o",
                            out, url]), timeout=cap + 30)
            rc = p.returncode
        except subprocess.TimeoutExpired:
            rc = 28
        dt = time.monotonic() - t0
        try:
            good = rc == 0 and os.path.getsize(out) == size and \
                sha256_file(out) == sha256_file(src)
        except OSError:
            good = False
        got = os.path.getsize(out) if os.path.exists(out) else 0
        if os.path.exists(out):
            os.unlink(out)
        if rc == 28:
            # how long the whole file would take at the rate reached by
            # the cap: every server here retransmits on a fixed or
            # bounded timer, so the rate holds steady
            return None, "capped", (dt * size / got if got else None)
        if not good:
            return None, "curl exit %d or wrong bytes" % rc, None
        return dt, "", None
    finally:
        if srv is not None:
            srv.stop()
        ns.delete()


def loss_table(files, scratch, cap, servers, runs):
    """{(server, rate, size): [(seconds or None, why)]}; the 0 % fetches
    one at a time and at least 3 times (they are CPU-bound and short), the
    lossy ones all at once (they are timer-bound, and each has its own
    namespace), so the whole table costs about one cap."""
    jobs = [(s, r, z, i) for r in LOSS_RATES for s in servers
            for z in LOSS_SIZES for i in range(max(runs, 3) if r == 0
                                               else runs)]
    out = {}

    def do(job):
        s, r, z, _ = job
        try:
            dt, why, proj = loss_one(s, r, z, files, scratch, cap)
        except (RuntimeError, OSError) as e:
            dt, why, proj = None, str(e), None
        with _lock:
            out.setdefault((s, r, z), []).append((dt, why, proj))
        say("  loss %2d %% %-9s %2d MiB: %s%s" %
            (r, s, z // MIB, ("%.2f s" % dt) if dt is not None else why,
             (", about %.0f s projected" % proj) if proj else ""))
    for j in [j for j in jobs if j[1] == 0]:
        do(j)
    lossy = [j for j in jobs if j[1] != 0]
    if lossy:
        with concurrent.futures.ThreadPoolExecutor(len(lossy)) as ex:
            list(ex.map(do, lossy))
    return out


def loss_cell(vals, cap):
    """Median seconds of a cell (a capped run counts as the cap, so the
    median is a lower bound then), its text, and the median time with
    capped runs replaced by their projection (None if one has none)."""
    bad = [w for t, w, _ in vals if t is None and w != "capped"]
    if bad:
        return None, "failed (%s)" % bad[0], None
    filled = sorted(t if t is not None else float("inf") for t, _, _ in vals)
    m = filled[len(filled) // 2]
    projs = [t if t is not None else p for t, _, p in vals]
    pm = None
    if all(p is not None for p in projs):
        pm = sorted(projs)[len(projs) // 2]
    if m == float("inf"):
        return cap, "> %d s%s" % (cap, " (~%.0f s projected)" % pm
                                  if pm else ""), pm
    return m, "%.2f s" % m, m


def render_loss(out, cap, servers, runs):
    lines = ["", "### Loss: curl fetch time (%s; 0 %%: median of %d)" %
             ("median of %d" % runs if runs > 1 else "one run each",
              max(3, runs)), ""]
    hdr = "| loss | size | " + " | ".join(servers) + \
        " | tftpx speed-up vs best peer |"
    lines += [hdr, "|" + "---|" * (len(servers) + 3)]
    rows = []
    for r in LOSS_RATES:
        for z in LOSS_SIZES:
            cells, vals = [], {}
            for s in servers:
                v, text, pm = loss_cell(out.get((s, r, z),
                                                [(None, "not run", None)]),
                                        cap)
                vals[s] = (v, text, pm)
                cells.append(text)
            tv, ttext, tpm = vals.get("tftpx", (None, "", None))
            peers = [vals[s] for s in servers if not ours(s) and
                     vals[s][0] is not None]
            sp, spt, bound, psp = None, "—", "", None
            if tv and peers:
                best = min(peers, key=lambda x: x[0])
                p_capped = best[1].startswith(">")
                t_capped = ttext.startswith(">")
                sp = best[0] / tv
                if p_capped and t_capped:
                    sp, spt = None, "both capped"
                elif p_capped:
                    bound, spt = "lower", "> %.1fx" % sp
                elif t_capped:
                    bound, spt = "upper", "< %.1fx" % sp
                else:
                    spt = "%.1fx" % sp
                # with the capped runs' projections, when every one has
                if bound or sp is None:
                    pp = [p[2] for p in peers]
                    if tpm and all(pp):
                        psp = min(pp) / tpm
                        spt += " (~%.0fx projected)" % psp
            rows.append(dict(rate=r, size=z, cells=dict(zip(servers, cells)),
                             speedup=sp, bound=bound, text=spt,
                             projected=psp))
            lines.append("| %d %% | %d MiB | %s | %s |" %
                         (r, z // MIB, " | ".join(cells), spt))
    return lines, rows


# ------------------------------------------------------- syscall table


SYSCALL_SERVERS = ("tftpx", "tftpx-1port", "dnsmasq", "atftpd", "tftpd-hpa")
# One run each; under strace every call stops the server twice, so the
# 200-at-once shape fetches a smaller file than the throughput row's
# 4 MiB, to keep the table near 2 minutes, and the load client waits 5 s
# before its first re-send (a traced server is slow, most of all while
# it forks or spawns 200 transfers at once).  --only selects shapes by
# key like the scenarios: --only syscalls runs all three.
SYSCALL_SHAPES = [
    scenario("syscalls-lock", "lock-step, 1 x 16 MiB, 1468", 16 * MIB,
             b=1468, cap=120, t=5),
    scenario("syscalls-window", "windowsize 16, 1 x 16 MiB, 1468",
             16 * MIB, b=1468, w=16, cap=120, t=5),
    scenario("syscalls-many", "200 at once x 512 KiB, 1468", MIB // 2,
             b=1468, c=200, n=200, cap=120, t=5),
]


def ensure_strace():
    """None if strace is there (apt-get installs it when missing), else
    why not."""
    if not shutil.which("strace") and os.geteuid() == 0:
        say("installing strace")
        apt_install(["strace"], [False])
    if not shutil.which("strace"):
        return "strace not installed" + ("" if os.geteuid() == 0
                                         else " (and not root)")
    return None


def traced_pid(srv):
    """The server's own pid: `ip netns exec` execs its command (dnsmasq),
    but should it ever fork, take its child."""
    pid = srv.pid
    try:
        exe = os.path.basename(os.readlink("/proc/%d/exe" % pid))
    except OSError:
        exe = ""
    if exe == "ip":
        kids = proc_children(pid)
        if kids:
            pid = kids[0]
    return pid


def strace_detach(p):
    """SIGINT: strace detaches and writes its -c summary; bounded."""
    try:
        os.kill(p.pid, signal.SIGINT)
    except OSError:
        pass
    try:
        p.wait(30)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
        p.wait(5)
    with _lock:
        if p in _live_procs:
            _live_procs.remove(p)


def strace_attach(pid, outpath, limit=10.0):
    """strace -c -f -p pid -o outpath, returned once it says "Process N
    attached" (bounded by limit seconds)."""
    errpath = outpath + ".err"
    with open(errpath, "wb") as err:
        p = subprocess.Popen(["strace", "-c", "-f", "-p", str(pid), "-o",
                              outpath], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=err,
                             start_new_session=True)
    with _lock:
        _live_procs.append(p)
    deadline = time.monotonic() + limit
    text = b""
    while time.monotonic() < deadline and p.poll() is None:
        with open(errpath, "rb") as f:
            text = f.read()
        if b" attached" in text:
            return p
        time.sleep(0.02)
    strace_detach(p)
    with open(errpath, "rb") as f:
        text = f.read()
    raise RuntimeError("strace did not attach: %s" %
                       (text.decode("utf-8", "replace").strip()[-200:] or
                        "no word in %.0f s" % limit))


def parse_strace_c(path):
    """({syscall: calls}, total calls) from an strace -c summary: the
    calls column is the 4th (errors may be blank); None if no total."""
    calls, total = {}, None
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return calls, None
    for line in lines:
        t = line.split()
        if len(t) < 5 or t[0].startswith(("%", "-")):
            continue
        try:
            n = int(t[3])
        except ValueError:
            continue
        if t[-1] == "total":
            total = n
        else:
            calls[t[-1]] = calls.get(t[-1], 0) + n
    return calls, total


def syscall_run(srv, shape, local, scratch):
    """One traced run of shape against srv: a row dict."""
    remote = os.path.basename(local)
    blocks = shape["n"] * (shape["fsize"] // shape["b"] + 1)
    row = dict(shape=shape["key"], title=shape["title"], server=srv.name,
               blocks=blocks, total=None, per_block=None, top=[], note="")
    opts = {"blksize": shape["b"]}
    if shape["w"]:
        opts["windowsize"] = shape["w"]
    notes = [note_for(shape, probe(srv, remote, opts))]
    srv.settle()
    outpath = os.path.join(scratch, "strace-%s-%s-%d" % (
        srv.name, shape["key"], time.monotonic_ns()))
    st = strace_attach(traced_pid(srv), outpath)
    try:
        r = load(srv, shape, local, remote, shape["fsize"], shape["cap"])
        srv.settle()
    finally:
        strace_detach(st)
    calls, total = parse_strace_c(outpath)
    row.update(ok=r.get("ok"), failed=r.get("failed", 0) +
               r.get("verify_errors", 0), seconds=r.get("seconds"),
               retransmits=r.get("retransmits"), calls=calls)
    if r.get("failed") or r.get("error"):
        notes.append("%s of %s failed%s" % (
            r.get("failed"), shape["n"],
            (": " + r["error"]) if r.get("error") else ""))
    if r.get("retransmits"):
        notes.append("client re-sent %d" % r["retransmits"])
    if total is None:
        notes.append("no strace summary")
    else:
        row["total"] = total
        row["per_block"] = total / blocks
        top = sorted(calls.items(), key=lambda kv: (-kv[1], kv[0]))[:4]
        row["top"] = [(k, v / blocks) for k, v in top]
    row["note"] = ", ".join(x for x in notes if x)
    return row


def syscall_table(shapes, servers, files, srvdir, scratch):
    """{"error": why or None, "rows": [...]}: every one of shapes against
    each of SYSCALL_SERVERS in servers, one fresh server for them."""
    why = ensure_strace()
    if why:
        say("system-call table left out: %s" % why)
        return dict(error=why, rows=[])
    for sh_ in shapes:
        if sh_["fsize"] not in files:
            files[sh_["fsize"]] = os.path.join(
                srvdir, "s%d.bin" % sh_["fsize"])
            make_file(files[sh_["fsize"]], sh_["fsize"])
    rows = []
    for name in [s for s in SYSCALL_SERVERS if s in servers]:
        try:
            srv = start_server(name, srvdir, scratch)
        except (RuntimeError, OSError) as e:
            for shape in shapes:
                rows.append(dict(shape=shape["key"], title=shape["title"],
                                 server=name, total=None, per_block=None,
                                 top=[], note="did not start: %s" % e))
            continue
        try:
            for shape in shapes:
                t0 = time.monotonic()
                try:
                    row = syscall_run(srv, shape, files[shape["fsize"]],
                                      scratch)
                except (RuntimeError, OSError) as e:
                    row = dict(shape=shape["key"], title=shape["title"],
                               server=name, total=None, per_block=None,
                               top=[], note=str(e))
                row["traced_s"] = time.monotonic() - t0
                rows.append(row)
                say("  %-15s %-11s %s calls/block (%s) in %.1f s%s" % (
                    shape["key"], name, fmt(row["per_block"], 2),
                    ", ".join("%s %.2f" % kv for kv in row["top"]),
                    row["traced_s"],
                    (" [%s]" % row["note"]) if row["note"] else ""))
        finally:
            stop_server(srv)
    return dict(error=None, rows=rows)


def render_syscalls(st, shapes):
    lines = ["", "### System calls per block (strace -c -f on the server; "
             "a count, not timing)", ""]
    if st["error"]:
        return lines + ["Not measured: %s." % st["error"]]
    lines += ["| shape | server | calls per block | top 4 syscalls per "
              "block | note |", "|---|---|---|---|---|"]
    for shape in shapes:
        for row in [x for x in st["rows"] if x["shape"] == shape["key"]]:
            lines.append("| %s | %s | %s | %s | %s |" % (
                shape["title"], row["server"], fmt(row["per_block"], 2),
                ", ".join("%s %.2f" % kv for kv in row["top"]) or "—",
                row["note"]))
    lines += ["", "One run of each shape with the load client (tftpx "
              "bench): one 16 MiB fetch lock-step, the same with "
              "windowsize 16 (a server without windowsize runs it "
              "lock-step, noted), and 200 fetches at once of a smaller "
              "file than the throughput row's 4 MiB (strace stops the "
              "server twice per call, so it is kept short; the client's "
              "first re-send waits 5 s, and any re-sends are noted).  "
              "Blocks = transfers x "
              "(size // blksize + 1): %s.  Every call of the server "
              "process and what it forks or spawns (tftpd-hpa's "
              "transfers, atftpd's threads) from attach to detach, "
              "the OACK probe before it excluded." % ", ".join(
                  "%d for %s" % (s["n"] * (s["fsize"] // s["b"] + 1),
                                 s["title"]) for s in shapes)]
    return lines


# ------------------------------------------------------------ HTTP origin


# `tftpx serve --origin URL` with nginx as the origin (Debian's
# nginx-light, started on loopback by tests/lib/httporigin.py with a
# config and an access log of its own).  Two parts, chosen by --only
# like the scenarios (--only origin runs both):
#   origin-64M    one 64 MiB file served from DIR, and the same bytes
#                 through the origin cold (no --cache; an empty --cache)
#                 and warm (--cache holds it): the client and options
#                 of the 1468w16 row, each fetch its own `tftpx bench
#                 -c 1 -n 1`
#   origin-3x300  three tftpx (no DIR, a --cache each) in front of one
#                 nginx, 100 clients at each at once over 4 files: how
#                 many GETs reach nginx
# Both together take 40 to 60 s; ORIGIN_BUDGET bounds them: past
# it, a part gets no further run (the part comes after the throughput
# table, whose --budget is spent by then, so it has one of its own).
ORIGIN_KEYS = ("origin-64M", "origin-3x300")
ORIGIN_BUDGET = 150
ORIGIN_FETCHES = 2          # fetches per row and run (64 MiB x 2)
ORIGIN_INSTANCES = 3
ORIGIN_FILES = 4
# a cached file is revalidated after --cache-ttl (default 60 s): an
# hour, so a warm fetch never asks nginx whatever the runs take
ORIGIN_TTL = 3600
ORIGIN_SINGLE = scenario("origin-64M", "64 MiB x 2, 1468, windowsize 16",
                         64 * MIB, b=1468, w=16, cap=120)
# 4 bench processes a tftpx (one a file), 25 lanes each, one fetch a
# lane: 100 clients a tftpx, 300 in all, every one started at once so
# that the RRQs for a name overlap its one GET
ORIGIN_SHARED = scenario("origin-3x300", "3 tftpx x 100 clients, 4 files "
                         "x 4 MiB, 1468, verified", 4 * MIB, b=1468, c=25,
                         n=25, verify=True, cap=180)


def origin_lib():
    """(tests/lib/httporigin.py, None), imported as the tests do, or
    (None, why not)."""
    lib = os.path.join(TOP, "tests", "lib")
    if lib not in sys.path:
        sys.path.insert(0, lib)
    try:
        import httporigin
    except Exception as e:      # missing, or not importable as it is
        return None, "tests/lib/httporigin.py: %s: %s" % (
            type(e).__name__, e)
    return httporigin, None


def have_origin():
    """Does this tftpx have `serve --origin`?"""
    try:
        p = sh([TFTPX, "serve", "--help"], timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return b"--origin" in p.stdout + p.stderr


def ensure_nginx(ho):
    """None if nginx is there (apt-get installs nginx-light when it is
    missing, as the peers are installed), else why not."""
    if not os.access(ho.NGINX, os.X_OK) and os.geteuid() == 0:
        say("installing nginx-light")
        apt_install(["nginx-light"], [False])
    if not os.access(ho.NGINX, os.X_OK):
        return "%s not installed (apt-get install nginx-light)%s" % (
            ho.NGINX, "" if os.geteuid() == 0 else "; not root")
    return None


def nginx_version(ho):
    try:
        p = sh([ho.NGINX, "-v"], timeout=10)
        return (p.stderr + p.stdout).decode().strip().split(": ", 1)[-1]
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def nginx_start(ho, root, extra=""):
    """httporigin.Nginx serving root; its process is killed with the
    rest on a signal (cleanup)."""
    n = ho.Nginx(root, extra=extra)
    with _lock:
        _live_procs.append(n.p)
    return n


def nginx_stop(n):
    with _lock:
        if n.p in _live_procs:
            _live_procs.remove(n.p)
    n.stop()


def origin_server(name, scratch, url, cache=None, root=None):
    """tftpx serve [root] --origin url [--cache cache] on 127.0.0.1,
    the per-host limit lifted as in start_server."""
    argv = [TFTPX, "serve", "--allow-root", "--listen", "127.0.0.1:0",
            "--max-per-client", "1000", "--origin", url]
    if cache:
        os.makedirs(cache, exist_ok=True)
        argv += ["--cache", cache, "--cache-ttl", str(ORIGIN_TTL)]
    if root:
        argv.append(root)
    log = os.path.join(scratch, "%s-%d.log" % (name, time.monotonic_ns()))
    return Running(name, argv, 0, None, log, read_port=True)


def link_as(src, name):
    """src under another name beside it (a hard link: the same bytes
    without the disk), its path."""
    dst = os.path.join(os.path.dirname(src), name)
    if not os.path.exists(dst):
        os.link(src, dst)
    return dst


def cache_holds(cache, src):
    """Does cache hold a data file (16 hex digits) with src's bytes?"""
    want, size = sha256_file(src), os.path.getsize(src)
    try:
        names = os.listdir(cache)
    except OSError:
        return False
    for f in names:
        path = os.path.join(cache, f)
        if re.fullmatch(r"[0-9a-f]{16}", f) and \
                os.path.getsize(path) == size and sha256_file(path) == want:
            return True
    return False


def gets_settled(n, uri, want, timeout=3.0):
    """GETs of uri in nginx's access log, once there are want (a line
    is written as a response ends, a hair after the client has it) or
    after timeout seconds."""
    return n.wait_count(want, method="GET", uri=uri, timeout=timeout)


def origin_fetches(srv, sc, local, names):
    """names fetched one after another, each by its own run of the load
    client (`tftpx bench -c 1 -n 1`): the figures summed."""
    tot = dict(bytes=0, seconds=0.0, ok=0, failed=0, verify_errors=0,
               transfers=0, errors=[])
    for name in names:
        r = load(srv, sc, local, name, sc["fsize"], sc["cap"])
        for k in ("bytes", "ok", "failed", "verify_errors", "transfers"):
            tot[k] += r.get(k, 0) or 0
        tot["seconds"] += r.get("seconds") or 0.0
        if r.get("error"):
            tot["errors"].append(r["error"])
    if tot["seconds"]:
        tot["MBps"] = tot["bytes"] / tot["seconds"] / 1e6
    return tot


def origin_single(ho, sc, scratch, runs, budget_end):
    """Part 1: the 64 MiB file from DIR, through the origin cold (no
    cache; an empty cache: a name never fetched) and warm, by two
    servers: A = `serve DIR --origin URL --cache C` (DIR, cold into the
    cache, warm) and B = `serve DIR --origin URL` (cold, no cache)."""
    www = os.path.join(scratch, "origin-www")
    dird = os.path.join(scratch, "origin-dir")
    for d in (www, dird):
        os.makedirs(d)
        os.chmod(d, 0o755)
    src = os.path.join(www, "o64M.bin")
    make_file(src, sc["fsize"])
    os.link(src, os.path.join(dird, "d64M.bin"))
    warm = "o64M-warm.bin"
    link_as(src, warm)
    cold = [["o64M-r%d-%d.bin" % (i + 1, k + 1)
             for k in range(ORIGIN_FETCHES)] for i in range(runs)]
    for names in cold:
        for name in names:
            link_as(src, name)
    cache = os.path.join(scratch, "origin-cache")
    out = dict(key=sc["key"], title=sc["title"], rows=[], note="",
               error=None)
    n = nginx_start(ho, www)
    live = []
    try:
        a = origin_server("tftpx-origin-cache", scratch, n.url(),
                          cache=cache, root=dird)
        live.append(a)
        b = origin_server("tftpx-origin", scratch, n.url(), root=dird)
        live.append(b)
        rows = [
            dict(key="dir", title="from DIR", srv=a,
                 names=lambda i: ["d64M.bin"] * ORIGIN_FETCHES),
            dict(key="cold", title="origin, cold, no --cache", srv=b,
                 names=lambda i: ["o64M.bin"] * ORIGIN_FETCHES),
            dict(key="cold-cache", title="origin, cold, empty --cache",
                 srv=a, names=lambda i: cold[i]),
            dict(key="warm", title="origin, warm, --cache holds it",
                 srv=a, names=lambda i: [warm] * ORIGIN_FETCHES),
        ]
        for row in rows:
            row.update(runs=[], uris=set(), mbps=None, ratio=None,
                       cpu_s=None, nginx_cpu_s=None, gets=None, failed=0,
                       verified=None, note="")
        # the warm rows' file into the cache: one cold fetch, verified,
        # and the cache's copy compared with the source
        vsc = dict(sc, verify=True)
        r = origin_fetches(a, vsc, src, [warm])
        cached = cache_holds(cache, src)
        rows[2]["verified"] = r["ok"] == 1 and not r["verify_errors"] \
            and cached
        if not cached:
            rows[2]["note"] = "the cache did not hold the file after a " \
                "complete fetch"
        if r["ok"] != 1:
            rows[3]["note"] = "priming fetch failed: %s" % (
                "; ".join(r["errors"]) or "?")
        base = {u: n.count("GET", u) for u in
                ["/" + x for x in ("o64M.bin", warm)] +
                ["/" + x for names in cold for x in names]}
        for i in range(runs):
            if i > 0 and time.monotonic() > budget_end:
                out["note"] = "%d run(s): time budget" % i
                break
            turn = rows[i % len(rows):] + rows[:i % len(rows)]
            for row in turn:
                srv = row["srv"]
                names = row["names"](i)
                row["uris"].update("/" + x for x in names)
                c0, n0 = srv.cpu(), proc_cpu(n.p.pid)
                r = origin_fetches(srv, sc, src, names)
                c1, n1 = srv.cpu(), proc_cpu(n.p.pid)
                r["cpu_s"] = c1 - c0 if None not in (c0, c1) else None
                r["nginx_cpu_s"] = n1 - n0 if None not in (n0, n1) \
                    else None
                row["runs"].append(r)
                say("  %-12s %-11s run %d: %s MB/s, cpu %s s, nginx "
                    "cpu %s s, ok %d, failed %d%s" % (
                        sc["key"], row["key"], i + 1, fmt(r.get("MBps")),
                        fmt(r["cpu_s"], 2), fmt(r["nginx_cpu_s"], 2),
                        r["ok"], r["failed"],
                        (" (%s)" % "; ".join(r["errors"]))
                        if r["errors"] else ""))
        # GETs nginx logged during the runs: one a cold fetch, none warm
        for row in rows:
            cold_row = row["key"] in ("cold", "cold-cache")
            got = 0
            for u in sorted(row["uris"]):
                b0 = base.get(u, 0)
                want = b0 + (sum(r["transfers"] for r in row["runs"])
                             if row["key"] == "cold" else 1)
                got += (gets_settled(n, u, want) if cold_row
                        else n.count("GET", u)) - b0
            row["gets"] = got
            row["fetches"] = sum(r["transfers"] for r in row["runs"])
        # one fetch of each other row, verified (not timed)
        for row, name in ((rows[0], "d64M.bin"), (rows[1], "o64M.bin"),
                          (rows[3], warm)):
            r = origin_fetches(row["srv"], vsc, src, [name])
            row["verified"] = r["ok"] == 1 and not r["verify_errors"]
        out["peak_kib"] = {"cache": a.hwm_kib(), "no_cache": b.hwm_kib()}
        for srv in live:
            if srv.p.poll() is not None:
                out["note"] += "; %s exited: %s" % (srv.name, srv.tail())
    finally:
        for srv in live:
            srv.stop()
        nginx_stop(n)
    for row in rows:
        good = [r["MBps"] for r in row["runs"] if r.get("MBps")]
        if good:
            row["mbps"] = statistics.median(good)
        for k in ("cpu_s", "nginx_cpu_s"):
            vs = [r[k] for r in row["runs"] if r.get(k) is not None]
            if vs:
                row[k] = statistics.median(vs)
        row["failed"] = sum(r["failed"] + r["verify_errors"]
                            for r in row["runs"])
        errs = [e for r in row["runs"] for e in r["errors"]]
        if errs:
            row["note"] = (row["note"] + "; " if row["note"] else "") + \
                errs[0]
    d = rows[0]["mbps"]
    for row in rows:
        if d and row["mbps"]:
            row["ratio"] = row["mbps"] / d
        row["server"] = row.pop("srv").name
        row.pop("names")
        row["uris"] = sorted(row["uris"])
    out["rows"] = rows
    return out


def origin_shared(ho, sc, scratch, runs, budget_end):
    """Part 2: ORIGIN_INSTANCES tftpx, no DIR, a --cache each, in front
    of one nginx; every run ORIGIN_FILES fresh names (never fetched, so
    every cache is cold for them), 25 clients for each name at each
    tftpx, all at once.  Instance K's origin is URL/iK, an alias of the
    one root (nginx's `location /iK/`), so the access log tells which
    tftpx sent a GET."""
    www = os.path.join(scratch, "origin-shared")
    os.makedirs(www)
    os.chmod(www, 0o755)
    srcs = []
    for f in range(ORIGIN_FILES):
        srcs.append(os.path.join(www, "m%d.bin" % (f + 1)))
        make_file(srcs[-1], sc["fsize"])
    extra = "".join("        location /i%d/ {\n            alias %s/;\n"
                    "        }\n" % (k + 1, www)
                    for k in range(ORIGIN_INSTANCES))
    out = dict(key=sc["key"], title=sc["title"], runs=[], note="",
               error=None, clients=ORIGIN_INSTANCES * ORIGIN_FILES * sc["c"])
    n = nginx_start(ho, www, extra)
    live = []
    try:
        for k in range(ORIGIN_INSTANCES):
            live.append(origin_server(
                "tftpx-o%d" % (k + 1), scratch, "%s/i%d" % (n.url(), k + 1),
                cache=os.path.join(scratch, "origin-cache%d" % (k + 1))))
        jobs = [(k, f) for k in range(ORIGIN_INSTANCES)
                for f in range(ORIGIN_FILES)]
        for i in range(runs):
            if i > 0 and time.monotonic() > budget_end:
                out["note"] = "%d run(s): time budget" % i
                break
            names = [os.path.basename(link_as(s, "m%d-r%d.bin" %
                                              (f + 1, i + 1)))
                     for f, s in enumerate(srcs)]
            g0 = n.count("GET")
            e0 = len(n.access_lines())
            c0 = [s.cpu() for s in live]
            n0 = proc_cpu(n.p.pid)

            def one(job):
                k, f = job
                return load(live[k], sc, srcs[f], names[f], sc["fsize"],
                            sc["cap"])
            t0 = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(len(jobs)) as ex:
                rs = list(ex.map(one, jobs))
            wall = time.monotonic() - t0
            c1 = [s.cpu() for s in live]
            n1 = proc_cpu(n.p.pid)
            # one GET a (tftpx, name) expected; a log line is written as
            # a response ends
            n.wait_count(g0 + len(jobs), method="GET", timeout=3.0)
            gets = {names[f]: [n.count("GET", "/i%d/%s" % (k + 1, names[f]))
                               for k in range(ORIGIN_INSTANCES)]
                    for f in range(ORIGIN_FILES)}
            run = dict(run=i + 1, seconds=wall,
                       transfers=sum(r.get("transfers", 0) for r in rs),
                       ok=sum(r.get("ok", 0) for r in rs),
                       failed=sum(r.get("failed", 0) for r in rs),
                       verify_errors=sum(r.get("verify_errors", 0)
                                         for r in rs),
                       bytes=sum(r.get("bytes", 0) for r in rs),
                       slowest_ms=max((r.get("max_ms") or 0) for r in rs),
                       retransmits=sum(r.get("retransmits", 0) or 0
                                       for r in rs),
                       gets=gets, gets_total=n.count("GET") - g0,
                       requests=len(n.access_lines()) - e0,
                       cpu_s=sum(b - a for a, b in zip(c0, c1))
                       if None not in c0 + c1 else None,
                       nginx_cpu_s=n1 - n0 if None not in (n0, n1)
                       else None,
                       errors=sorted({r["error"] for r in rs
                                      if r.get("error")}))
            run["mbps"] = run["bytes"] / wall / 1e6 if wall else None
            out["runs"].append(run)
            say("  %-12s run %d: %s MB/s, %d of %d ok, %d failed or "
                "wrong, GETs %s (%d in all), cpu %s s, nginx cpu %s s%s" % (
                    sc["key"], i + 1, fmt(run["mbps"]), run["ok"],
                    run["transfers"], run["failed"] + run["verify_errors"],
                    " ".join("%s" % "/".join(map(str, v))
                             for v in gets.values()), run["gets_total"],
                    fmt(run["cpu_s"], 2), fmt(run["nginx_cpu_s"], 2),
                    (" (%s)" % "; ".join(run["errors"]))
                    if run["errors"] else ""))
        out["peak_kib"] = [s.hwm_kib() for s in live]
        for srv in live:
            if srv.p.poll() is not None:
                out["note"] += "; %s exited: %s" % (srv.name, srv.tail())
    finally:
        for srv in live:
            srv.stop()
        nginx_stop(n)
    rs = out["runs"]
    for k in ("mbps", "cpu_s", "nginx_cpu_s"):
        vs = [r[k] for r in rs if r.get(k) is not None]
        out[k] = statistics.median(vs) if vs else None
    bad = ["run %d %s: %d GETs from tftpx %d" % (r["run"], name, c, k + 1)
           for r in rs for name, v in r["gets"].items()
           for k, c in enumerate(v) if c != 1]
    pairs = ORIGIN_INSTANCES * ORIGIN_FILES
    out["target_gets"] = dict(
        met=(not bad) if rs else None,
        detail=("each of %d tftpx x %d files: exactly one GET, in each "
                "of %d run(s)" % (ORIGIN_INSTANCES, ORIGIN_FILES, len(rs))
                if not bad else "%d of %d (tftpx, file) pairs over %d "
                "run(s) not one GET: %s" % (len(bad), pairs * len(rs),
                                           len(rs), "; ".join(bad[:4])))
        if rs else "not measured")
    n_all = sum(r["transfers"] for r in rs)
    ok = sum(r["ok"] for r in rs)
    wrong = sum(r["failed"] + r["verify_errors"] for r in rs)
    out["target_exact"] = dict(
        met=(ok == n_all and wrong == 0 and n_all > 0) if rs else None,
        detail="%d of %d ok, %d failed or wrong over %d run(s)" % (
            ok, n_all, wrong, len(rs)) if rs else "not measured")
    return out


def origin_part(keys, scratch, runs):
    """Both parts (those in keys): a dict for latest.json; error says
    why the part did not run."""
    t0 = time.monotonic()
    out = dict(error=None, nginx=None, single=None, shared=None)
    ho, why = origin_lib()
    if not why and not have_origin():
        why = "this tftpx has no serve --origin"
    if not why:
        why = ensure_nginx(ho)
    if why:
        say("HTTP origin part skipped: %s" % why)
        out["error"] = why
        return out
    out["nginx"] = nginx_version(ho)
    budget_end = t0 + ORIGIN_BUDGET
    for part, sc, fn in (("single", ORIGIN_SINGLE, origin_single),
                         ("shared", ORIGIN_SHARED, origin_shared)):
        if sc["key"] not in keys:
            continue
        say("HTTP origin %s: %s" % (sc["key"], sc["title"]))
        try:
            out[part] = fn(ho, sc, scratch, runs, budget_end)
        except (ho.Skip, ho.Fail, RuntimeError, OSError) as e:
            say("HTTP origin %s left out: %s" % (sc["key"], e))
            out[part] = dict(key=sc["key"], title=sc["title"],
                             error=str(e))
    out["seconds"] = time.monotonic() - t0
    return out


def render_origin(og, runs):
    lines = ["", "### HTTP origin: `tftpx serve --origin` with nginx"
             "%s" % (" (%s)" % og["nginx"] if og.get("nginx") else ""), ""]
    if og["error"]:
        return lines + ["Skipped: %s." % og["error"]]
    s = og.get("single")
    if s and s.get("error"):
        lines += ["%s: not measured: %s." % (s["title"], s["error"]), ""]
    elif s:
        lines += ["%s, one file, median of up to %d runs:" % (
            s["title"], runs), "",
            "| source | MB/s | ÷ DIR | server CPU s | nginx CPU s | "
            "GETs at nginx | failed | verified | note |",
            "|---|---|---|---|---|---|---|---|---|"]
        for row in s["rows"]:
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                row["title"], fmt(row["mbps"]), fmt(row["ratio"], 2),
                fmt(row["cpu_s"], 2), fmt(row["nginx_cpu_s"], 2),
                "—" if row["gets"] is None else
                "%d in %d fetches" % (row["gets"], row["fetches"]),
                row["failed"], {True: "yes", False: "NO", None: "—"}[
                    row["verified"]], row["note"]))
        pk = s.get("peak_kib") or {}
        lines += ["", "The same tftpx serves the DIR, cold-into-the-cache "
                  "and warm rows (`serve DIR --origin URL --cache C "
                  "--cache-ttl %d`), a second one the cold row without a "
                  "cache (`serve DIR --origin URL`); the file is in DIR "
                  "under one name and at nginx under others (hard links: "
                  "the same bytes, all in the page cache), a fresh name "
                  "for each cold fetch into the cache.  Each fetch is one "
                  "`tftpx bench -c 1 -n 1 -b 1468 -w 16` (the client of "
                  "the 1468w16 row), MB/s over the %d fetches of a run; "
                  "÷ DIR is the ratio of the medians.  A cold fetch should "
                  "cost one GET, a warm one none.  Verified: one more "
                  "fetch of each row with `--verify` (the cold one into "
                  "the cache is the fetch that filled it, and the cache's "
                  "copy was compared too).  Peak RSS: %s with the cache, "
                  "%s without.%s" % (
                      ORIGIN_TTL, ORIGIN_FETCHES, fmt_kib(pk.get("cache")),
                      fmt_kib(pk.get("no_cache")),
                      ("  " + s["note"].strip("; ") + ".")
                      if s.get("note") else ""), ""]
    s = og.get("shared")
    if s and s.get("error"):
        lines += ["%s: not measured: %s." % (s["title"], s["error"])]
    elif s:
        names = ["m%d" % (f + 1) for f in range(ORIGIN_FILES)]
        lines += ["%s (%d clients at once), each run:" % (
            s["title"], s["clients"]), "",
            "| run | MB/s, all clients | transfers ok | failed or wrong | "
            + " | ".join("GETs %s (tftpx 1/2/3)" % x for x in names) +
            " | GETs in all | slowest transfer | tftpx CPU s (all 3) | "
            "nginx CPU s |",
            "|" + "---|" * (len(names) + 8)]
        for r in s["runs"]:
            lines.append("| %d | %s | %d of %d | %d | %s | %d | %.2f s | "
                         "%s | %s |" % (
                             r["run"], fmt(r["mbps"]), r["ok"],
                             r["transfers"],
                             r["failed"] + r["verify_errors"],
                             " | ".join("%d (%s)" % (sum(v), "/".join(
                                 map(str, v))) for v in r["gets"].values()),
                             r["gets_total"], r["slowest_ms"] / 1e3,
                             fmt(r["cpu_s"], 2), fmt(r["nginx_cpu_s"], 2)))
        if len(s["runs"]) > 1:
            lines.append("| median | %s | | | %s | | | %s | %s |" % (
                fmt(s["mbps"]), " | ".join("" for _ in names),
                fmt(s["cpu_s"], 2), fmt(s["nginx_cpu_s"], 2)))
        lines += ["", "| target | result | detail |", "|---|---|---|"]
        for text, t in (("one GET per tftpx per file",
                         s["target_gets"]),
                        ("every transfer complete and byte-exact",
                         s["target_exact"])):
            lines.append("| %s | %s | %s |" % (
                text, {True: "met", False: "MISSED", None: "—"}[t["met"]],
                t["detail"]))
        lines += ["", "%d tftpx (`serve --origin URL/iK --cache DIR_K "
                  "--cache-ttl %d`, no DIR; /iK is an alias of nginx's one "
                  "root, so its access log tells which tftpx asked) on "
                  "ports of their own; each run %d names never fetched "
                  "before (hard links to %d random files), and against "
                  "each tftpx at once %d `tftpx bench -c %d -n %d -b %d "
                  "--verify` (one a name): %d clients, %d at each tftpx, "
                  "every one fetching once, started together so that the "
                  "requests for a name overlap its fetch.  MB/s: the bytes "
                  "of all clients over the time from the first start to "
                  "the last exit.  GETs: nginx's access log.%s" % (
                      ORIGIN_INSTANCES, ORIGIN_TTL, ORIGIN_FILES,
                      ORIGIN_FILES, ORIGIN_FILES, ORIGIN_SHARED["c"],
                      ORIGIN_SHARED["n"],
                      ORIGIN_SHARED["b"], s["clients"],
                      s["clients"] // ORIGIN_INSTANCES,
                      ("  " + s["note"].strip("; ") + ".")
                      if s.get("note") else "")]
    return lines


# ----------------------------------------------------------------- report


def render(results, limits, scs, servers):
    lines = ["| scenario | server | MB/s | ÷ best peer | ÷ UDP limit | "
             "CPU s | peak RSS | failed | note |",
             "|---|---|---|---|---|---|---|---|---|"]
    for sc in scs:
        rs = [results[(sc["key"], s)] for s in servers
              if (sc["key"], s) in results]
        peers = [r["mbps"] for r in rs if not ours(r["server"]) and
                 r["mbps"]]
        best = max(peers) if peers else None
        lim = next((r["limit"] for r in rs if r.get("limit")), None) or \
            limits.get((sc["limit_kind"], sc["limit_size"]))
        for r in rs:
            ratio = r["mbps"] / best if best and r["mbps"] else None
            rl = r["mbps"] / lim if lim and r["mbps"] else None
            note = r["note"]
            if r.get("peak_note"):
                note = (note + "; " if note else "") + "RSS: " + \
                    r["peak_note"]
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                sc["title"], r["server"], fmt(r["mbps"]), fmt(ratio, 2),
                fmt(rl, 2), fmt(r["cpu_s"], 2), fmt_kib(r["peak_kib"]),
                r["failed"], note))
        for s in servers:
            why = None
            if s in sc["servers"] and (sc["key"], s) not in results:
                why = "not run"
            elif sc["put"] and s not in sc["servers"]:
                why = "serves read-only: no upload"
            if why:
                lines.append("| %s | %s | — | — | — | — | — | — | %s |" %
                             (sc["title"], s, why))
    lim_txt = ", ".join("%s %d B %.0f MB/s" % (k, z, v)
                        for (k, z), v in sorted(limits.items()))
    lines += ["", "UDP limits (bench/udplimit, payload MB/s) at the start: "
              + lim_txt + ".  The ÷ UDP limit column and the targets use "
              "the median of the limit measured between each scenario's "
              "runs (an idle VM wakes slower than a busy one)."]
    return lines


def targets(results, limits):
    """The targets of issues 6 and 16: [(text, met: True/False/None,
    detail)]."""
    def get(key, srv):
        return results.get((key, srv))

    def mb(key, srv):
        r = get(key, srv)
        return r["mbps"] if r else None

    def lim_of(key, kind, size):
        r = get(key, "tftpx")
        return (r or {}).get("limit") or limits.get((kind, size))
    out = []
    for key, size in (("512", 516), ("1468", 1472)):
        t, lim = mb(key, "tftpx"), lim_of(key, "pingpong", size)
        out.append(("lock-step %s >= 0.6 x ping-pong limit" % key,
                    t / lim >= 0.6 if t and lim else None,
                    "%s / %s = %s" % (fmt(t), fmt(lim),
                                      fmt(t / lim, 3) if t and lim else "—")))
    for key in ("1468w16", "1468w64"):
        t, a = mb(key, "tftpx"), mb(key, "atftpd")
        out.append(("%s >= 1.5 x atftpd" % key,
                    t / a >= 1.5 if t and a else None,
                    "%s / %s = %s" % (fmt(t), fmt(a),
                                      fmt(t / a, 3) if t and a else "—")))
    t, lim = mb("65464w16", "tftpx"), lim_of("65464w16", "stream", 65468)
    out.append(("65464 windowsize 16 >= 0.45 x stream limit",
                t / lim >= 0.45 if t and lim else None,
                "%s / %s = %s" % (fmt(t), fmt(lim),
                                  fmt(t / lim, 3) if t and lim else "—")))
    tx, dn = get("c200", "tftpx"), get("c200", "dnsmasq")
    if tx and dn and tx["mbps"] and dn["mbps"] and tx["cpu_s"] is not None \
            and dn["cpu_s"]:
        met = tx["mbps"] / dn["mbps"] >= 1.5 and \
            tx["cpu_s"] <= dn["cpu_s"] / 2
        det = "MB/s %s / %s = %.3f, CPU s %.2f vs %.2f (%.3f)" % (
            fmt(tx["mbps"]), fmt(dn["mbps"]), tx["mbps"] / dn["mbps"],
            tx["cpu_s"], dn["cpu_s"], tx["cpu_s"] / dn["cpu_s"])
    else:
        met, det = None, "not measured"
    out.append(("200 x 4 MiB >= 1.5 x dnsmasq MB/s, <= 1/2 its CPU s",
                met, det))
    r = get("c1000", "tftpx")
    if r and r["runs"]:
        n = sum(x.get("transfers", 0) for x in r["runs"])
        ok = sum(x.get("ok", 0) for x in r["runs"])
        bad = r["failed"]
        out.append(("1000 concurrent all complete, verified",
                    ok == n and bad == 0 and n > 0,
                    "%d of %d ok, %d failed or wrong over %d run(s)%s" % (
                        ok, n, bad, len(r["runs"]),
                        "" if not r["runs"][0].get("shim")
                        else " (stand-in client)")))
    else:
        out.append(("1000 concurrent all complete, verified", None,
                    "not measured"))
    t = mb("put", "tftpx")
    ps = [mb("put", s) for s in PEERS if mb("put", s)]
    best = max(ps) if ps else None
    out.append(("upload >= 1.3 x best peer",
                t / best >= 1.3 if t and best else None,
                "%s / %s = %s" % (fmt(t), fmt(best),
                                  fmt(t / best, 3) if t and best else "—")))
    idle = [r.get("idle_kib") for (k, s), r in results.items()
            if ours(s) and r.get("idle_kib")]
    if idle:
        m = max(idle)
        out.append(("idle RSS <= 2 MiB", m <= 2048,
                    "%s (largest over the tftpx starts)" % fmt_kib(m)))
    else:
        out.append(("idle RSS <= 2 MiB", None, "not measured"))
    r = get("c1000", "tftpx")
    if r and r.get("peak_kib"):
        out.append(("RSS <= 16 MiB with 1000 live transfers",
                    r["peak_kib"] <= 16384,
                    "VmHWM %s" % fmt_kib(r["peak_kib"])))
    else:
        out.append(("RSS <= 16 MiB with 1000 live transfers", None,
                    "not measured"))
    # issue 16: against dnsmasq with either load client
    for key, client in (("c200", "tftpx bench"),
                        ("c200i", "independent client")):
        dn = get(key, "dnsmasq")
        for srv in ("tftpx", "tftpx-1port"):
            tx = get(key, srv)
            text = "200 x 4 MiB, %s, %s: CPU <= 0.75 x dnsmasq, MB/s >= " \
                "dnsmasq" % (srv, client)
            if tx and dn and tx["mbps"] and dn["mbps"] and \
                    tx["cpu_s"] is not None and dn["cpu_s"]:
                mr, cr = tx["mbps"] / dn["mbps"], tx["cpu_s"] / dn["cpu_s"]
                out.append((text, cr <= 0.75 and mr >= 1.0,
                            "CPU s %.2f / %.2f = %.3f, MB/s %s / %s = %.3f"
                            % (tx["cpu_s"], dn["cpu_s"], cr, fmt(tx["mbps"]),
                               fmt(dn["mbps"]), mr)))
            else:
                out.append((text, None, "not measured"))
    r = get("c10k", "tftpx-1port")
    if r and r["runs"]:
        n = sum(x.get("transfers", 0) for x in r["runs"])
        ok = sum(x.get("ok", 0) for x in r["runs"])
        out.append(("10000 concurrent single-port all complete, verified",
                    ok == 10000 * len(r["runs"]) and r["failed"] == 0,
                    "%d of %d ok, %d failed or wrong%s" % (
                        ok, n, r["failed"],
                        "" if not r["runs"][0].get("shim")
                        else " (stand-in client)")))
    else:
        out.append(("10000 concurrent single-port all complete, verified",
                    None, "not measured"))
    if r and r.get("peak_kib"):
        out.append(("10000 concurrent single-port: RSS <= 32 MiB",
                    r["peak_kib"] <= 32768,
                    "VmHWM %s" % fmt_kib(r["peak_kib"])))
    else:
        out.append(("10000 concurrent single-port: RSS <= 32 MiB", None,
                    "not measured"))
    if r and r.get("peak_fds") is not None:
        out.append(("10000 concurrent single-port: a handful of fds",
                    r["peak_fds"] <= 16,
                    "peak %d open fds (<= 16; sampled every 0.5 s)" %
                    r["peak_fds"]))
    else:
        out.append(("10000 concurrent single-port: a handful of fds", None,
                    "not measured"))
    return out


def render_targets(ts, loss_rows=None):
    lines = ["", "### Targets (issues 6, 7 and 16)", "",
             "| target | result | detail |",
             "|---|---|---|"]
    for text, met, det in ts:
        lines.append("| %s | %s | %s |" % (
            text, {True: "met", False: "MISSED", None: "—"}[met], det))
    if loss_rows is not None:
        for row in [x for x in loss_rows if x["rate"] == 0]:
            sp = row["speedup"]
            lines.append("| loss 0 %% %d MiB: tftpx equal to best peer "
                         "(at most 10 %% slower) | %s | %s |" % (
                             row["size"] // MIB,
                             "—" if sp is None else
                             ("met" if sp >= 1 / 1.1 else "MISSED"),
                             row["text"]))
        for rate in (5, 10):
            for row in [x for x in loss_rows if x["rate"] == rate]:
                sp, bound = row["speedup"], row["bound"]
                psp = row.get("projected")
                if sp is not None and sp >= 20 and bound != "upper":
                    res = "met"
                elif sp is not None and sp < 20 and bound != "lower":
                    res = "MISSED"
                elif psp is not None:
                    res = "%s (projected from the bytes fetched by the " \
                        "cap)" % ("met" if psp >= 20 else "MISSED")
                elif sp is None:
                    res = "—"
                else:
                    res = "open (a fetch hit the cap)"
                lines.append("| loss %d %% %d MiB: tftpx >= 20x best peer | "
                             "%s | %s |" % (rate, row["size"] // MIB, res,
                                            row["text"]))
    return lines


# ---------------------------------------------------------------- picture


# gnuplot draws latest.svg from latest.json: the throughput table (MB/s,
# log axis, a bar per server and scenario) and the loss table (fetch time
# against loss %, log axis, one line per server, 1 MiB and 20 MiB side by
# side).  `--plot FILE.json` redraws FILE.svg from a finished run.
PLOT_COLOURS = {"tftpx": "#1f4e9c", "tftpx-1port": "#6fa8dc",
                "tftpd-hpa": "#e07b20", "atftpd": "#3a9a3a",
                "dnsmasq": "#8e5aa8"}
PLOT_SHORT = {"512": "lock-step\n512", "1468": "lock-step\n1468",
              "1468w16": "1468\nwindowsize 16",
              "1468w64": "1468\nwindowsize 64",
              "65464": "lock-step\n65464",
              "65464w16": "65464\nwindowsize 16",
              "c200": "200 clients\ntftpx bench",
              "c200i": "200 clients\nloadc",
              "c1000": "1000 clients\nverified",
              "c10k": "10000 clients\nverified", "put": "upload\n1468"}


def gp_str(s):
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"') \
        .replace("\n", "\\n")


def git_commit():
    """The short commit of the tree that was measured (-dirty when tracked
    files differ from it), or None outside a git checkout."""
    try:
        p = sh(["git", "-C", TOP, "rev-parse", "--short", "HEAD"],
               timeout=10)
        if p.returncode != 0:
            return None
        c = p.stdout.decode().strip()
        d = sh(["git", "-C", TOP, "status", "--porcelain",
                "--untracked-files=no"], timeout=10)
        return c + ("-dirty" if d.returncode == 0 and d.stdout.strip()
                    else "")
    except (OSError, subprocess.TimeoutExpired):
        return None


def json_commit(path):
    """For a JSON from before meta.commit was recorded: the commit that
    last changed the file, when it is tracked and unmodified; else None."""
    try:
        d = os.path.dirname(os.path.abspath(path))
        p = sh(["git", "-C", d, "log", "-1", "--format=%h", "--",
                os.path.abspath(path)], timeout=10)
        m = sh(["git", "-C", d, "status", "--porcelain", "--",
                os.path.abspath(path)], timeout=10)
        c = p.stdout.decode().strip()
        if p.returncode == 0 and c and m.returncode == 0 and \
                not m.stdout.strip():
            return c
    except (OSError, subprocess.TimeoutExpired):
        pass
    return None


def _log_range(vals, lo_pad=0.9, hi_pad=1.6):
    lo = min(vals) * lo_pad
    hi = max(vals) * hi_pad
    return 10 ** int(math.floor(math.log10(lo))), \
        10 ** int(math.ceil(math.log10(hi)))


def plot_throughput(doc, tmp):
    """gnuplot commands for the throughput panel, or [] without data."""
    res = [r for r in doc.get("results") or [] if r.get("mbps")]
    if not res:
        return []
    order = {s["key"]: i for i, s in enumerate(SCENARIOS)}
    titles = {s["key"]: s["title"] for s in SCENARIOS}
    keys = sorted({r["scenario"] for r in res},
                  key=lambda k: (order.get(k, len(order)), k))
    srv_order = list(SERVERS) + sorted({r["server"] for r in res} -
                                       set(SERVERS))
    servers = [s for s in srv_order if any(r["server"] == s for r in res)]
    by = {(r["scenario"], r["server"]): r for r in res}
    width = 0.8
    bars = {s: [] for s in servers}
    limits, tics = [], []
    for x, k in enumerate(keys):
        here = [s for s in servers if (k, s) in by]
        w = width / max(len(here), 1)
        for i, s in enumerate(here):
            cx = x - width / 2 + w * (i + 0.5)
            bars[s].append((cx, by[(k, s)]["mbps"], w))
        lims = [by[(k, s)].get("limit") for s in here
                if by[(k, s)].get("limit")]
        if lims:
            limits.append((x, statistics.median(lims)))
        label = PLOT_SHORT.get(k) or titles.get(k, k).replace(", ", "\n")
        tics.append("%s %d" % (gp_str(label), x))
    ymin, ymax = _log_range([b[1] for v in bars.values() for b in v] +
                            [v for _, v in limits], hi_pad=3.0)
    cmds = ["unset label", "set logscale y", "set format y '%g'",
            "set yrange [%g:%g]" % (ymin, ymax),
            "set xrange [-0.6:%g]" % (len(keys) - 0.4),
            "set xtics (%s) nomirror scale 0 font ',10'" % ", ".join(tics),
            "set ytics nomirror", "set mytics 10",
            "set grid ytics mytics lt 1 lc rgb '#d0d0d0', "
            "lt 1 lc rgb '#eeeeee'",
            "set ylabel 'MB/s (10^6 bytes/s), log scale'",
            "set xlabel ''",
            "set title 'Throughput on loopback: MB/s per scenario and "
            "server, median of up to %d runs (higher is better)'" %
            max([len(r.get("runs") or []) for r in res] + [1]),
            "set key outside top center horizontal samplen 1.5",
            "set style fill solid 0.9 border lc '#404040'",
            "set boxwidth 1 absolute"]
    plots, labels = [], []
    for s in servers:
        path = os.path.join(tmp, "tp-%s.dat" % s)
        with open(path, "w") as f:
            for cx, v, w in bars[s]:
                f.write("%g %g %g %g %g %g\n" % (cx, v, cx - w / 2,
                                                 cx + w / 2, ymin, v))
        plots.append("%s using 1:2:3:4:5:6 with boxxyerror lc rgb '%s' "
                     "title %s" % (gp_str(path), PLOT_COLOURS.get(
                         s, "#888888"), gp_str(s)))
        labels.append("%s using 1:(column(2)*1.12):(sprintf(column(2) < "
                      "100 ? '%%.1f' : '%%.0f', column(2))) with labels "
                      "rotate by 90 left font ',9' tc '#303030' "
                      "notitle" % gp_str(path))
    if limits:
        # behind the bars: a dashed line across the group at the limit
        # the ÷ UDP limit column divides by
        path = os.path.join(tmp, "tp-limit.dat")
        with open(path, "w") as f:
            for x, v in limits:
                f.write("%g %g %g\n" % (x - width / 2 - 0.04, v,
                                        width + 0.08))
        plots.insert(0, "%s using 1:2:3:(0) with vectors nohead dt 2 "
                     "lw 1.5 lc '#505050' notitle" % gp_str(path))
        labels.append("NaN with lines dt 2 lw 1.5 lc '#505050' title "
                      "'loopback UDP limit (bench/udplimit: ping-pong or "
                      "stream)'")
    cmds.append("plot " + ", \\\n     ".join(plots + labels))
    return cmds


def plot_loss(doc, tmp):
    """gnuplot commands for the two loss panels (1 MiB, 20 MiB), each a
    list, or [] without data."""
    loss = doc.get("loss") or {}
    raw = loss.get("raw") or []
    if not raw:
        return []
    cap = loss.get("cap_s") or 90
    out = {}
    for e in raw:
        secs = e.get("seconds") or []
        if not secs:
            continue
        n = len(secs)
        # older files have no projected times
        out[(e["server"], e["rate"], e["size"])] = list(zip(
            secs, ((e.get("notes") or []) + [""] * n)[:n],
            ((e.get("projected") or []) + [None] * n)[:n]))
    if not out:
        return []
    servers = [s for s in LOSS_SERVERS if any(k[0] == s for k in out)] + \
        sorted({k[0] for k in out} - set(LOSS_SERVERS))
    rates = sorted({k[1] for k in out})
    sizes = sorted({k[2] for k in out})
    cells = {k: loss_cell(v, cap) for k, v in out.items()}
    vals = [c[0] for c in cells.values() if c[0]]
    if not vals:
        return []
    # two decades over the cap for the key, top left
    ymin, ymax = _log_range(vals + [cap], hi_pad=60)
    # a tic label is a format for the tic's value: %% is a %
    tics = ", ".join("'%d %%%%' %d" % (r, i) for i, r in enumerate(rates))
    dodge = 0.06
    panels = []
    for size in sizes:
        cmds = ["unset label", "set logscale y", "set format y '%g'",
                "set yrange [%g:%g]" % (ymin, ymax),
                "set xrange [-0.3:%g]" % (len(rates) - 0.7),
                "set xtics (%s) nomirror scale 0 font ',11'" % tics,
                "set ytics nomirror", "set mytics 10",
                "set grid xtics ytics mytics lt 1 lc rgb '#d0d0d0', "
                "lt 1 lc rgb '#eeeeee'",
                "set xlabel 'packets dropped each way'",
                "set ylabel 'seconds (log scale)'",
                "set title %s" % gp_str(
                    "%s fetch by curl under loss (median of the runs; "
                    "lower is better)" % (
                        "%d MiB" % (size // MIB) if size % MIB == 0
                        else "%d bytes" % size)),
                "set key inside top left vertical Left reverse "
                "samplen 2 spacing 1.1 box lc '#c0c0c0' opaque",
                "set label %s at graph 0.01, first %g left offset 0,0.6 "
                "font ',10' tc '#606060'" % (
                    gp_str("cap %d s" % cap), cap)]
        plots = []
        for i, s in enumerate(servers):
            path = os.path.join(tmp, "loss-%d-%s.dat" % (size, s))
            off = (i - (len(servers) - 1) / 2.0) * dodge
            with open(path, "w") as f:
                for x, r in enumerate(rates):
                    c = cells.get((s, r, size))
                    if c is None or c[0] is None:
                        f.write("\n")       # not run or failed: a gap
                        continue
                    f.write("%g %g %d\n" % (x + off, c[0],
                                            1 if c[1].startswith(">")
                                            else 0))
            col = PLOT_COLOURS.get(s, "#888888")
            plots.append("%s using 1:2 with lines lw 2 lc rgb '%s' "
                         "notitle" % (gp_str(path), col))
            plots.append("%s using 1:($3 == 0 ? $2 : 1/0) with points "
                         "pt 7 ps 1.1 lc rgb '%s' notitle" % (
                             gp_str(path), col))
            plots.append("NaN with linespoints lw 2 pt 7 ps 1.1 lc rgb "
                         "'%s' title %s" % (col, gp_str(s)))
            plots.append("%s using 1:($3 == 1 ? $2 : 1/0) with points "
                         "pt 8 ps 1.8 lw 2 lc rgb '%s' notitle" % (
                             gp_str(path), col))
        plots.append("%g with lines dt 2 lw 1 lc '#909090' notitle" % cap)
        plots.append("NaN with points pt 8 ps 1.8 lw 2 lc '#303030' "
                     "title %s" % gp_str(
                         "> %d s (capped), drawn at %d s" % (cap, cap)))
        cmds.append("plot " + ", \\\n     ".join(plots))
        panels.append(cmds)
    return panels


def plot_json(path, install=True):
    """Draw PATH.svg (beside the .json) with gnuplot; the path written,
    or None after one line on stderr saying why not.  Never raises: a
    missing picture does not fail the benchmark."""
    svg = os.path.splitext(path)[0] + ".svg"
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        say("no picture: cannot read %s (%s)" % (path, e))
        return None
    try:
        gnuplot = shutil.which("gnuplot")
        if not gnuplot and install and os.geteuid() == 0:
            say("installing gnuplot-nox")
            apt_install(["gnuplot-nox"], [False])
            gnuplot = shutil.which("gnuplot")
        if not gnuplot:
            say("no picture: gnuplot is not installed (apt-get install "
                "gnuplot-nox)")
            return None
        with tempfile.TemporaryDirectory(prefix="tftpx-plot-") as tmp:
            tp = plot_throughput(doc, tmp)
            loss = plot_loss(doc, tmp)
            if not tp and not loss:
                say("no picture: %s has neither throughput nor loss "
                    "figures" % path)
                return None
            meta = doc.get("meta") or {}
            head = "tftpx benchmark, %s" % meta.get("date", "date unknown")
            if meta.get("commit"):
                head += ", commit %s" % meta["commit"]
            else:
                c = json_commit(path)
                if c:
                    head += ", results committed in %s" % c
            if meta.get("cpus"):
                head += " (%d CPUs, Linux %s, load %.2f at start)" % (
                    meta["cpus"], meta.get("kernel", "?"),
                    meta.get("load_at_start") or 0)
            wide = 1400
            high = (560 if tp else 0) + (470 if loss else 0) + 50
            lines = ["set terminal svg size %d,%d font 'Sans,12' "
                     "noenhanced background '#ffffff'" % (wide, high),
                     "set output %s" % gp_str(svg),
                     "set encoding utf8",
                     "set multiplot title %s font ',15'" % gp_str(head)]
            top = 1.0 - 50.0 / high
            if tp:
                h = 560.0 / high
                lines += ["set origin 0,%g" % (top - h),
                          "set size 1,%g" % h,
                          "set bmargin 5", "set lmargin 10",
                          "set rmargin 3"]
                lines += tp
                top -= h
            if loss:
                h = top
                n = len(loss)
                for i, cmds in enumerate(loss):
                    lines += ["set origin %g,0" % (i / float(n)),
                              "set size %g,%g" % (1.0 / n, h),
                              "set bmargin 4", "set lmargin 10",
                              "set rmargin 3"]
                    lines += cmds
            lines += ["unset multiplot", "set output"]
            script = os.path.join(tmp, "plot.gp")
            with open(script, "w") as f:
                f.write("\n".join(lines) + "\n")
            p = sh([gnuplot, script], timeout=60)
            if p.returncode != 0 or not os.path.exists(svg):
                say("no picture: gnuplot failed: %s" %
                    p.stderr.decode(errors="replace").strip()[-300:])
                return None
        say("wrote %s" % os.path.relpath(svg, TOP))
        return svg
    except Exception as e:      # a picture never fails the benchmark
        say("no picture: %s: %s" % (type(e).__name__, e))
        return None


# ------------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3,
                    help="runs per scenario and server (median; default 3)")
    ap.add_argument("--only", default="",
                    help="only scenarios whose key contains this (the "
                    "HTTP origin part: origin, or origin-64M, "
                    "origin-3x300; the loss table still runs unless "
                    "--no-loss)")
    ap.add_argument("--servers", default=",".join(SERVERS))
    ap.add_argument("--budget", type=float, default=540,
                    help="seconds for the throughput part; past it each "
                    "scenario gets one run (default 540; the time of the "
                    "10000-concurrent row is not counted)")
    ap.add_argument("--no-loss", action="store_true",
                    help="skip the loss table")
    ap.add_argument("--loss-only", action="store_true",
                    help="only the loss table")
    ap.add_argument("--loss-cap", type=int, default=90)
    ap.add_argument("--loss-runs", type=int, default=3,
                    help="fetches per lossy cell, all at once (median)")
    ap.add_argument("--limit-seconds", type=float, default=1.0,
                    help="seconds per UDP limit measurement (best of 3)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the scratch directory (server logs)")
    ap.add_argument("--out", default=RESULTS,
                    help="directory for latest.md and latest.json")
    ap.add_argument("--plot", metavar="FILE.json",
                    help="only draw FILE.svg from FILE.json of an earlier "
                    "run (gnuplot; e.g. bench/results/latest.json) and "
                    "exit")
    ap.add_argument("--probe", nargs=3, metavar=("HOST:PORT", "FILE", "JSON"),
                    help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.probe:
        host, port = a.probe[0].rsplit(":", 1)
        print(json.dumps(oack_probe(host, int(port), a.probe[1],
                                    json.loads(a.probe[2]))))
        return 0
    if a.plot:
        return 0 if plot_json(a.plot) else 1

    for tool in (TFTPX, UDPLIMIT, LOADC):
        if not os.access(tool, os.X_OK):
            say("%s is missing: run make bench" % os.path.relpath(tool, TOP))
            return 2
    if os.geteuid() != 0 and not a.no_loss:
        if a.loss_only:
            say("the loss table needs root (ip netns, nft)")
            return 2
        say("not root: no loss table (it needs ip netns and nft)")
        a.no_loss = True
    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    t_start = time.monotonic()
    servers = [s for s in a.servers.split(",") if s in SERVERS]
    peers_why = ensure_peers([s for s in servers if not ours(s)])
    for p, why in peers_why.items():
        if why:
            say("%s left out: %s" % (p, why))
    servers = [s for s in servers if ours(s) or not peers_why.get(s)]
    if not a.no_loss and not shutil.which("curl"):
        apt_install(["curl"], [False])

    scratch = tempfile.mkdtemp(prefix="tftpx-bench-")
    os.chmod(scratch, 0o755)
    meta = dict(date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                commit=git_commit(),
                cpus=os.cpu_count(), kernel=platform.release(),
                load_at_start=os.getloadavg()[0],
                client="tftpx bench" if have_bench() else
                "stand-in: tftpx get/put processes",
                versions={s: version_of(s) for s in servers + ["curl"]})
    md = ["## tftpx benchmark, %s%s" % (
              meta["date"], ", commit %s" % meta["commit"]
              if meta["commit"] else ""), "",
          "%d CPUs, Linux %s, load %.2f at start; load client: %s." % (
              meta["cpus"], meta["kernel"], meta["load_at_start"],
              meta["client"]),
          "Versions: " + "; ".join("%s" % v for v in
                                   meta["versions"].values()) + ".", ""]
    doc = dict(meta=meta)
    try:
        srvdir = os.path.join(scratch, "files")
        os.makedirs(srvdir)
        os.chmod(srvdir, 0o755)
        files = {}
        ts = None
        if not a.loss_only:
            scs = [s for s in SCENARIOS if a.only in s["key"]]
        if not a.loss_only and scs:
            limits = udp_limits(a.limit_seconds)
            for size in sorted({s["fsize"] for s in scs}):
                files[size] = os.path.join(srvdir, "f%dM.bin" % (size // MIB))
                make_file(files[size], size)
            results = {}
            budget_end = t_start + a.budget
            for sc in scs:
                say("scenario %s: %s" % (sc["key"], sc["title"]))
                t_sc = time.monotonic()
                got = run_scenario(sc, [s for s in servers
                                        if s in sc["servers"]],
                                   files, scratch, a.runs, budget_end)
                if sc["off_budget"]:
                    budget_end += time.monotonic() - t_sc
                for s, r in got.items():
                    results[(sc["key"], s)] = r
            md += ["### Throughput on loopback (median of up to %d runs)" %
                   a.runs, ""]
            md += render(results, limits, scs, servers)
            ts = targets(results, limits)
            doc["limits"] = {"%s_%d" % k: v for k, v in limits.items()}
            doc["results"] = [dict(r) for r in results.values()]
            doc["throughput_seconds"] = time.monotonic() - t_start
        shapes = [s for s in SYSCALL_SHAPES if a.only in s["key"]]
        if not a.loss_only and shapes:
            say("system calls per block: strace -c -f")
            t_sys = time.monotonic()
            st = syscall_table(shapes, servers, files, srvdir, scratch)
            md += render_syscalls(st, shapes)
            doc["syscalls"] = st
            doc["syscalls_seconds"] = time.monotonic() - t_sys
        okeys = [k for k in ORIGIN_KEYS if a.only in k]
        if not a.loss_only and okeys and any(ours(s) for s in servers):
            og = origin_part(okeys, scratch, a.runs)
            md += render_origin(og, a.runs)
            doc["origin"] = og
        loss_rows = None
        if not a.no_loss:
            lsrv = [s for s in LOSS_SERVERS if s in servers]
            for size in LOSS_SIZES:
                files[size] = os.path.join(srvdir, "l%dM.bin" % (size // MIB))
                make_file(files[size], size)
            say("loss table: %s, cap %d s" % (", ".join(lsrv), a.loss_cap))
            out = loss_table(files, scratch, a.loss_cap, lsrv, a.loss_runs)
            lines, loss_rows = render_loss(out, a.loss_cap, lsrv,
                                           a.loss_runs)
            md += lines
            doc["loss"] = dict(cap_s=a.loss_cap, rows=loss_rows,
                               raw=[dict(server=s, rate=r, size=z,
                                         seconds=[v for v, _, _ in vals],
                                         notes=[w for _, w, _ in vals],
                                         projected=[p for _, _, p in vals])
                                    for (s, r, z), vals in out.items()])
        if ts is not None:
            md += render_targets(ts, loss_rows)
            doc["targets"] = [dict(target=t, met=m, detail=d)
                              for t, m, d in ts]
        elif loss_rows is not None:
            md += render_targets([], loss_rows)
        doc["seconds"] = time.monotonic() - t_start
        meta["load_at_end"] = os.getloadavg()[0]
        md += ["", "Whole run: %.0f s; load %.2f at the end." % (
            doc["seconds"], meta["load_at_end"])]
    finally:
        cleanup()
        if a.keep:
            say("scratch kept: %s" % scratch)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    text = "\n".join(md) + "\n"
    sys.stdout.write(text)
    os.makedirs(a.out, exist_ok=True)
    # a subset of the scenarios or servers does not replace the record
    # of a whole run
    partial = a.only or set(servers) != set(SERVERS)
    name = "partial" if partial else \
        "latest-loss" if a.loss_only else "latest"
    with open(os.path.join(a.out, name + ".md"), "w") as f:
        f.write(text)
    with open(os.path.join(a.out, name + ".json"), "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True, default=str)
        f.write("\n")
    say("wrote %s" % os.path.relpath(os.path.join(a.out, name + ".md"), TOP))
    plot_json(os.path.join(a.out, name + ".json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
