"""tests/lib/tftpx_test.py - the harness the test suites share (stdlib only).

Not a suite: it has no cases of its own.  tests/e2e/*.py,
tests/faults/faults.py, tests/interop/*.py and tests/soak/soak.py put this
directory on sys.path and import from it (and from netns.py beside it, the
network namespaces):

    sys.path.insert(0, os.path.join(..., "tests", "lib"))
    from tftpx_test import case, check, Fail, ...

What is here:
  outcomes        Fail, Skip, check
  packets         pkt_rrq/pkt_wrq/pkt_ack/pkt_data/pkt_error/oack_bytes;
                  op_of, blk_of, err_of, oack_opts, describe; nascii_encode
  files           write_random, write_bytes, read_bytes, sha, same_file,
                  temps_in; free_udp_port, ipv6_usable
  context         Server (a running `tftpx serve`: built from a root and
                  options, or started from a whole argv such as a wrapper
                  or a namespace in front; ready at the listening or the
                  serving line), Peer (a raw UDP socket, maybe made in a
                  namespace), Ctx (one case's temp dirs, processes, sockets
                  and deferred cleanups), ok_run, outcome and counter (the
                  server's log lines), kill_proc
  raw packets     raw_setup, first_reply, expect_error, raw_receive, raw_get,
                  raw_put, send_data_wait_ack, expect_oack, abort
  tftpd-hpa       start_tftpd_hpa (Debian's in.tftpd as the other side)
  registry        CASES, case, param_case, BOTH; at_exit (cleanup that
                  runs at the end, on signals and on the budget abort)
  runner          Runner (worker threads, a watchdog per case and for the
                  whole suite), main (-k, --quick, -j, --list, -v); a suite
                  with another time budget passes main(budget=SECONDS)

Every case prints exactly one line: "PASS name", "FAIL name: reason" or
"SKIP name: reason" (tests/run counts them); a suite may add "INFO ..."
lines.  Exit status 0 when nothing failed, else 1.

Each case gets its own temp root, its own `tftpx serve` on a random loopback
port (-l 127.0.0.1:0 / -l [::1]:0, the port read back from the "listening on"
line) and its own sockets; everything is torn down in a finally.  A watchdog
bounds every case and the whole suite.

The binary is $TFTPX, else ./tftpx at the top of the repo.
"""

import argparse
import faulthandler
import hashlib
import os
import queue
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TFTPX = os.environ.get("TFTPX") or os.path.join(REPO, "tftpx")

SUITE_BUDGET = 230.0        # seconds for the whole run (watchdog), unless
                            # a suite passes its own to main() or Runner
KIB = 1024
MIB = 1024 * 1024


_info_lock = threading.Lock()


def info(*args):
    """An extra 'INFO ...' line on stdout (never PASS/FAIL/SKIP):
    info(msg), or info(ctx, msg) for 'INFO name: msg'."""
    msg = args[-1]
    head = "INFO %s: " % args[0].name if len(args) > 1 else "INFO "
    with _info_lock:
        sys.stdout.write(head + " ".join(str(msg).split()) + "\n")
        sys.stdout.flush()

# ---------------------------------------------------------------- outcomes


class Fail(Exception):
    pass


class Skip(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


# ---------------------------------------------------------------- packets

RRQ, WRQ, DATA, ACK, ERROR, OACK = 1, 2, 3, 4, 5, 6
OPNAMES = {1: "RRQ", 2: "WRQ", 3: "DATA", 4: "ACK", 5: "ERROR", 6: "OACK"}


def _b(s):
    return s if isinstance(s, bytes) else str(s).encode()


def pkt_rq(op, name, mode="octet", opts=()):
    out = struct.pack("!H", op) + _b(name) + b"\0" + _b(mode) + b"\0"
    for k, v in opts:
        out += _b(k) + b"\0" + _b(v) + b"\0"
    return out


def pkt_rrq(name, mode="octet", opts=()):
    return pkt_rq(RRQ, name, mode, opts)


def pkt_wrq(name, mode="octet", opts=()):
    return pkt_rq(WRQ, name, mode, opts)


def pkt_ack(n):
    return struct.pack("!HH", ACK, n & 0xFFFF)


def pkt_data(n, payload):
    return struct.pack("!HH", DATA, n & 0xFFFF) + payload


def pkt_error(code, msg="abort"):
    return struct.pack("!HH", ERROR, code) + _b(msg) + b"\0"


def oack_bytes(opts):
    out = struct.pack("!H", OACK)
    for k, v in opts:
        out += _b(k) + b"\0" + _b(v) + b"\0"
    return out


def op_of(pkt):
    if pkt is None or len(pkt) < 2:
        return None
    return struct.unpack("!H", pkt[:2])[0]


def blk_of(pkt):
    return struct.unpack("!H", pkt[2:4])[0]


def err_of(pkt):
    code = struct.unpack("!H", pkt[2:4])[0]
    msg = pkt[4:].split(b"\0", 1)[0].decode("utf-8", "replace")
    return code, msg


def oack_opts(pkt):
    parts = pkt[2:].split(b"\0")
    if parts and parts[-1] == b"":
        parts = parts[:-1]
    return [(parts[i].decode("latin-1"), parts[i + 1].decode("latin-1"))
            for i in range(0, len(parts) - 1, 2)]


def describe(pkt):
    """Short human description of a packet for failure messages."""
    if pkt is None:
        return "nothing"
    op = op_of(pkt)
    if op == DATA:
        return "DATA %d (%d bytes)" % (blk_of(pkt), len(pkt) - 4)
    if op == ACK:
        return "ACK %d" % blk_of(pkt)
    if op == ERROR:
        return "ERROR %d %r" % err_of(pkt)
    if op == OACK:
        return "OACK %r" % (pkt,)
    return "packet %r" % (pkt[:40],)


def nascii_encode(data):
    return data.replace(b"\r", b"\r\0").replace(b"\n", b"\r\n")

# ---------------------------------------------------------------- files


def write_random(path, size):
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(left, 4 * MIB)
            f.write(os.urandom(n))
            left -= n
    return path


def write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(MIB)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def proc_status(pid):
    """/proc/PID/status as a dict of its fields ("Uid": "0 0 0 0", ...)."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def mapped_libs(pid):
    """The file names of the shared objects mapped by process pid
    ("libcurl.so.4", "libc.so.6", ...), from /proc/PID/maps."""
    names = set()
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            parts = line.split(None, 5)
            base = os.path.basename(parts[5].strip()) if len(parts) == 6 \
                else ""
            if ".so" in base:
                names.add(base)
    return names


# what libcurl and libmicrohttpd bring; a plain serve maps none of them
HEAVY_LIBS = ("libcurl", "libmicrohttpd", "libssl", "libcrypto", "libgnutls",
              "libkrb5", "libldap", "libnghttp2")


def heavy_libs(pid):
    return sorted(n for n in mapped_libs(pid) if n.startswith(HEAVY_LIBS))


def same_file(a, b):
    if not os.path.exists(b):
        return "%s does not exist" % os.path.basename(b)
    sa, sb = os.path.getsize(a), os.path.getsize(b)
    if sa != sb:
        return "size %d, expected %d" % (sb, sa)
    if sha(a) != sha(b):
        return "sha256 differs (same size %d)" % sa
    return None


def temps_in(root):
    found = []
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            if n.startswith(".tftpx-"):
                found.append(os.path.relpath(os.path.join(d, n), root))
    return found


def free_udp_port(fam=socket.AF_INET, host="127.0.0.1"):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def ipv6_usable():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        try:
            s.bind(("::1", 0))
            s.settimeout(1)
            s.sendto(b"x", s.getsockname()[:2])
            return s.recv(10) == b"x"
        finally:
            s.close()
    except OSError:
        return False


IPV6 = None     # set in main(): ::1 works here

# ---------------------------------------------------------------- context


class Server:
    """A running `tftpx serve`; stderr is drained by a thread into lines.

    Started as `tftpx serve --allow-root -l SPEC.. ARGS ROOT` (one -l per
    listens entry, default the case's loopback address, port 0), or from a
    whole argv: a wrapper in front (ip netns exec, unshare, setpriv,
    taskset) or another binary.  env: variables to set; a None value
    removes one.  ready: what ends the start-up wait:
      "listening"  one "listening on" line per listens entry (the default
                   when the argv is built here);
      "serving"    the "serving" line, which comes after the sockets, the
                   privilege drop and the stale-temp sweep (the default
                   with argv).
    ports/port: from the "listening on" lines; pid: the process started
    (tftpx itself behind `ip netns exec` or a wrapper that execs it).
    """

    def __init__(self, ctx, root=None, args=(), listens=None,
                 ready_timeout=5.0, env=None, argv=None, ready=None):
        self.ctx = ctx
        self.root = root
        if argv is None:
            if listens is None:
                listens = [ctx.listen_spec()]
            # the privilege drop has its own suite (service.py); as root
            # the server would refuse these 0700 temp dirs without
            # --allow-root
            argv = [TFTPX, "serve", "--allow-root"]
            for spec in listens:
                argv += ["-l", spec]
            argv += list(args) + [root]
            if ready is None:
                ready = "listening"
        elif ready is None:
            ready = "serving"
        self.argv = argv
        self.lines = []
        self.eof = False
        self.cv = threading.Condition()
        e = None
        if env:
            e = dict(os.environ)
            for k, v in env.items():
                if v is None:
                    e.pop(k, None)
                else:
                    e[k] = v
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE,
                                  start_new_session=True, env=e)
        ctx.procs.append(self.p)
        self.pid = self.p.pid
        self.ports = []
        self.port = None
        t = threading.Thread(target=self._drain, daemon=True)
        t.start()
        if ready == "serving":
            l = self.wait_for(lambda l: "serving " in l, ready_timeout)
            ls = [x for x in self.lines if "listening on" in x]
            if l is None or not ls:
                self.stop()
                raise Fail("server did not start (exit %s); stderr: %s" %
                           (self.p.poll(), self.tail()))
        else:
            want = len(listens) if listens is not None else 1
            deadline = time.monotonic() + ready_timeout
            with self.cv:
                while True:
                    ls = [l for l in self.lines if "listening on" in l]
                    if len(ls) >= want or self.eof:
                        break
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self.cv.wait(left)
            ls = [l for l in self.lines if "listening on" in l]
            if len(ls) < want:
                self.stop()
                raise Fail("server did not report %d listening line(s) "
                           "(exit %s); stderr: %s" %
                           (want, self.p.poll(), self.tail()))
            ls = ls[:want]
        for l in ls:
            m = re.search(r"listening on (\S+):(\d+)\s*$", l)
            if m:
                self.ports.append(int(m.group(2)))
            elif ready != "serving":
                self.stop()
                raise Fail("cannot parse listening line %r" % l)
        if not self.ports:
            self.stop()
            raise Fail("cannot parse listening line %r" % ls[0])
        self.port = self.ports[0]

    def _drain(self):
        try:
            for raw in iter(self.p.stderr.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\n")
                with self.cv:
                    self.lines.append(line)
                    self.cv.notify_all()
        except (OSError, ValueError):
            pass
        try:
            self.p.stderr.close()
        except OSError:
            pass
        with self.cv:
            self.eof = True
            self.cv.notify_all()

    def tail(self, n=6):
        with self.cv:
            return " | ".join(self.lines[-n:]) or "(empty)"

    def wait_for(self, pred, timeout=5.0):
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                for l in self.lines:
                    if pred(l):
                        return l
                left = deadline - time.monotonic()
                if left <= 0 or self.eof:
                    return None
                self.cv.wait(min(left, 0.2))

    def xfer_line(self, kind, name=None, client_port=None, timeout=5.0):
        """The finished-transfer log line for kind/name/client, or None."""
        cp = None
        if client_port is not None:
            cp = self.ctx.addr_forms(client_port)

        def pred(l):
            if (" %s " % kind) not in l and not l.startswith(kind + " "):
                return False
            if name is not None and ('"%s"' % name) not in l:
                return False
            if cp is not None and not any(c in l for c in cp):
                return False
            return outcome(l) is not None
        return self.wait_for(pred, timeout)

    def expect_ok(self, kind, name=None, client_port=None, timeout=5.0):
        l = self.xfer_line(kind, name, client_port, timeout)
        check(l is not None, "no finished %s log line for %r on server "
              "stderr; last lines: %s" % (kind, name, self.tail()))
        check(outcome(l) == "ok", "server logged failure: %r" % l)
        return l

    def stop(self):
        kill_proc(self.p)

    def exit_code(self, timeout):
        """The exit status, or None if still running after timeout s."""
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def finish(self, timeout=10.0):
        """Exit status of a server that is expected to exit by itself;
        Fail (and stop it) if it is still running after timeout s."""
        rc = self.exit_code(timeout)
        if rc is None:
            self.stop()
            raise Fail("server did not exit within %d s; stderr: %s" %
                       (timeout, self.tail()))
        return rc

    def count(self, pred):
        with self.cv:
            return sum(1 for l in self.lines if pred(l))

    def grep(self, pred):
        with self.cv:
            return [l for l in self.lines if pred(l)]


def outcome(line):
    s = line.rstrip()
    if s.endswith(" ok"):
        return "ok"
    m = re.search(r"error (\d+):", s)
    if m:
        return "error %s" % m.group(1)
    return None


def counter(line, name):
    m = re.search(r"\b%s=(\d+)" % name, line)
    return int(m.group(1)) if m else None


def kill_proc(p):
    """Stop a process (SIGTERM, then SIGKILL) and reap it.  Never closes
    its pipes: another thread may be reading them, and closing a file
    under a blocked reader deadlocks."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if p.poll() is not None:
            return
        try:
            p.send_signal(sig)
            p.wait(2)
        except (OSError, subprocess.TimeoutExpired):
            pass


class Peer:
    """A raw UDP endpoint, by default on the loopback address of the
    case's family, talking to the server there.  host: the server's
    address instead; sock: a socket made elsewhere (in a network namespace:
    NetNS.socket); bind: the local address to bind (default: the loopback
    address, or any address of a sock made elsewhere; port 0)."""

    host = None         # None: ctx.host

    def __init__(self, ctx, host=None, sock=None, bind=None):
        self.ctx = ctx
        self.host = host
        self.s = sock or socket.socket(ctx.fam, socket.SOCK_DGRAM)
        ctx.socks.append(self.s)
        try:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * MIB)
        except OSError:
            pass
        if bind is None:
            bind = (ctx.host if sock is None else
                    ("::" if self.s.family == socket.AF_INET6 else ""), 0)
        self.s.bind(bind)
        self.port = self.s.getsockname()[1]

    def send(self, data, port):
        self.s.sendto(data, (self.host or self.ctx.host, port))

    def recv(self, timeout=3.0):
        """(packet, source port) or (None, None) on timeout."""
        self.s.settimeout(max(timeout, 0.001))
        try:
            data, addr = self.s.recvfrom(70000)
        except socket.timeout:
            return None, None
        return data, addr[1]

    def expect(self, timeout=3.0, what="a reply"):
        pkt, port = self.recv(timeout)
        if pkt is None:
            raise Fail("no %s within %.1f s" % (what, timeout))
        return pkt, port

    def drain(self, duration):
        """All packets arriving within duration seconds."""
        out = []
        end = time.monotonic() + duration
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return out
            pkt, port = self.recv(left)
            if pkt is None:
                return out
            out.append((pkt, port, time.monotonic()))


class Ctx:
    def __init__(self, name, fam):
        self.name = name
        self.fam = socket.AF_INET6 if fam == 6 else socket.AF_INET
        self.v6 = fam == 6
        self.host = "::1" if self.v6 else "127.0.0.1"
        self.chost = "[::1]" if self.v6 else "127.0.0.1"
        self.procs = []
        self.socks = []
        self.tmps = []
        self.start = None
        self.limit = 60
        self.killgroups = []        # processes whose whole group is killed
        self.deferred = []          # run by cleanup(), last first

    # --- resources
    def listen_spec(self):
        return "[::1]:0" if self.v6 else "127.0.0.1:0"

    def addr_forms(self, port):
        if self.v6:
            return ["[::1]:%d" % port, "::1:%d" % port]
        return ["127.0.0.1:%d" % port]

    def tmpdir(self, tag="d"):
        d = tempfile.mkdtemp(prefix="tftpx-e2e-%s-" % tag)
        self.tmps.append(d)
        return d

    def server(self, root, *args, **kw):
        return Server(self, root, args, **kw)

    def peer(self, **kw):
        return Peer(self, **kw)

    def hp(self, port):
        return "%s:%d" % (self.chost, port)

    def run(self, argv, timeout=30, cwd=None, stdin=None, input=None,
            capture_stdout=True):
        """Run a process; (rc, stdout bytes, stderr str, seconds)."""
        t0 = time.monotonic()
        p = subprocess.Popen(
            argv, cwd=cwd,
            stdin=stdin if stdin is not None else (
                subprocess.PIPE if input is not None else subprocess.DEVNULL),
            stdout=subprocess.PIPE if capture_stdout else subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True)
        self.procs.append(p)
        try:
            out, err = p.communicate(input=input, timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_proc(p)
            raise Fail("%s did not finish within %d s" %
                       (" ".join(os.path.basename(a) if i == 0 else a
                                 for i, a in enumerate(argv[:6])), timeout))
        finally:
            kill_proc(p)
            for f in (p.stdin, p.stdout, p.stderr):
                try:
                    if f:
                        f.close()
                except OSError:
                    pass
        return (p.returncode, out or b"", err.decode("utf-8", "replace"),
                time.monotonic() - t0)

    def tftpx(self, *args, **kw):
        return self.run([TFTPX] + list(args), **kw)

    def defer(self, fn):
        """Run fn() at cleanup, after the processes are stopped (a
        namespace's delete); once, last registered first."""
        self.deferred.append(fn)
        return fn

    def cleanup(self):
        for p in self.procs:
            kill_proc(p)
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass
        while self.deferred:
            try:
                self.deferred.pop()()
            except Exception as e:
                sys.stderr.write("%s: cleanup: %s\n" % (self.name, e))
        for d in self.tmps:
            shutil.rmtree(d, ignore_errors=True)


def ok_run(r, what):
    rc, out, err, _ = r
    check(rc == 0, "%s exited %d; stderr: %s" % (what, rc, err.strip()[-300:]))


# ---------------------------------------------------------------- registry

CASES = []      # (name, func, fam, heavy, limit)
EXIT_HOOKS = []


def at_exit(fn):
    """Have fn() run when the suite ends: at the end of main(), on SIGINT
    or SIGTERM, and when the suite's time budget runs out (netns.py
    registers its delete_all here)."""
    if fn not in EXIT_HOOKS:
        EXIT_HOOKS.append(fn)
    return fn


def run_exit_hooks():
    for fn in list(EXIT_HOOKS):
        try:
            fn()
        except Exception as e:
            sys.stderr.write("exit hook %s: %s\n" % (fn.__name__, e))


def case(name, fams=(4,), heavy=False, limit=60):
    """Register fn(ctx); with more than one family, once per family with a
    _v4/_v6 suffix."""
    def deco(fn):
        for fam in fams:
            n = name if len(fams) == 1 else "%s_v%d" % (name, fam)
            CASES.append((n, fn, fam, heavy, limit))
        return fn
    return deco


def param_case(name, fams, params, heavy=False, limit=60):
    """Register fn(ctx, param) once per param (and family)."""
    def deco(fn):
        for suffix, param in params:
            for fam in fams:
                n = "%s_%s" % (name, suffix)
                if len(fams) > 1:
                    n += "_v%d" % fam

                def f(ctx, _p=param, _fn=fn):
                    return _fn(ctx, _p)
                CASES.append((n, f, fam, heavy, limit))
        return fn
    return deco


BOTH = (4, 6)


# ---------------------------------------------------------------- raw packets
# A client written out packet by packet, to assert what the server sends.


def root_with(ctx, files):
    """A served root holding files {name: bytes, or a size of random
    bytes}; names may have directories."""
    root = ctx.tmpdir("root")
    for n, c in files.items():
        p = os.path.join(root, n)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        if isinstance(c, int):
            write_random(p, c)
        else:
            write_bytes(p, c)
    return root


def fd_count(pid):
    """Open fds of process pid, or None when it is gone."""
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def raw_setup(ctx, files=None, args=()):
    """Root with files {name: bytes|int}, server, peer."""
    root = root_with(ctx, files or {})
    srv = ctx.server(root, *args)
    return root, srv, ctx.peer()


def first_reply(peer, srv, req, what="reply"):
    peer.send(req, srv.port)
    pkt, tid = peer.expect(3.0, what)
    return pkt, tid


def expect_error(pkt, code, contains=None):
    check(op_of(pkt) == ERROR, "expected ERROR %d, got %s" %
          (code, describe(pkt)))
    c, msg = err_of(pkt)
    check(c == code, "expected ERROR code %d, got %d (%r)" % (code, c, msg))
    if contains:
        check(contains in msg, "ERROR %d text %r does not mention %r" %
              (c, msg, contains))
    check(pkt.endswith(b"\0"), "ERROR packet not NUL-terminated: %r" % pkt)


def raw_receive(peer, tid, first, blksize=512, windowsize=1, rollover=0,
                limit=60.0, numbers=None, errors=None, on_first=None):
    """Receive a whole RRQ transfer after the first DATA (or after our ACK 0).

    first: the first DATA packet, or None if the OACK was already ACKed.
    Acks every windowsize blocks and the last block; re-ACKs on a quiet
    0.5 s.  If numbers is a list, appends the wire block number of every
    in-order block.  An ERROR is a Fail, unless errors is a list: then its
    (code, text) is appended and the bytes before it returned.
    on_first() runs at the first in-order block, before its ACK.  Returns
    the file bytes.
    """
    chunks = []
    idx = 0             # blocks received in order
    last_wire = 0
    since = 0
    deadline = time.monotonic() + limit
    pending = first
    while True:
        if time.monotonic() > deadline:
            raise Fail("transfer not finished after %.0f s (%d blocks)" %
                       (limit, idx))
        if pending is not None:
            pkt, src = pending, tid
            pending = None
        else:
            pkt, src = peer.recv(0.5)
            if pkt is None:
                peer.send(pkt_ack(last_wire), tid)
                since = 0
                continue
        if src != tid:
            raise Fail("packet from port %d, not the TID %d: %s" %
                       (src, tid, describe(pkt)))
        op = op_of(pkt)
        if op == ERROR and errors is not None:
            errors.append(err_of(pkt))
            return b"".join(chunks)
        if op == ERROR:
            raise Fail("server sent %s after %d blocks" % (describe(pkt), idx))
        if op != DATA:
            raise Fail("expected DATA, got %s" % describe(pkt))
        n = idx + 1
        if n <= 65535:
            want = n
        elif rollover == 1:
            want = (n - 65536) % 65535 + 1
        else:
            want = n & 0xFFFF
        b = blk_of(pkt)
        if b != want:
            # a retransmission of something we already have is harmless
            if b == last_wire or ((want - b) & 0xFFFF) < 2 * windowsize + 2:
                continue
            raise Fail("block #%d arrived with number %d, expected %d "
                       "(previous %d)" % (n, b, want, last_wire))
        payload = pkt[4:]
        if len(payload) > blksize:
            raise Fail("DATA %d has %d bytes > blksize %d" %
                       (b, len(payload), blksize))
        if idx == 0 and on_first is not None:
            on_first()
        chunks.append(payload)
        idx = n
        last_wire = b
        if numbers is not None:
            numbers.append(b)
        since += 1
        if len(payload) < blksize:
            peer.send(pkt_ack(b), tid)
            return b"".join(chunks)
        if since >= windowsize:
            peer.send(pkt_ack(b), tid)
            since = 0


def raw_get(peer, srv, name, mode="octet", opts=(), rollover=0, numbers=None,
            limit=60.0):
    """Full RRQ; returns (content, oack packet or None, tid)."""
    peer.send(pkt_rrq(name, mode, opts), srv.port)
    pkt, tid = peer.expect(3.0, "reply to RRQ %r" % name)
    oack = None
    if op_of(pkt) == OACK:
        oack = pkt
        o = dict(oack_opts(pkt))
        blk = int(o.get("blksize", 512))
        ws = int(o.get("windowsize", 1))
        ro = int(o.get("rollover", rollover))
        peer.send(pkt_ack(0), tid)
        data = raw_receive(peer, tid, None, blk, ws, ro, limit, numbers)
    elif op_of(pkt) == DATA:
        data = raw_receive(peer, tid, pkt, 512, 1, rollover, limit, numbers)
    else:
        raise Fail("RRQ %r answered with %s" % (name, describe(pkt)))
    return data, oack, tid


def raw_put(peer, srv, name, content, mode="octet", opts=(), blksize=512,
            before_last=None):
    """Full lock-step WRQ; returns the tid.  before_last() runs before the
    last DATA is sent."""
    peer.send(pkt_wrq(name, mode, opts), srv.port)
    pkt, tid = peer.expect(3.0, "reply to WRQ %r" % name)
    if op_of(pkt) == OACK:
        o = dict(oack_opts(pkt))
        blksize = int(o.get("blksize", 512))
    elif not (op_of(pkt) == ACK and blk_of(pkt) == 0):
        raise Fail("WRQ %r answered with %s" % (name, describe(pkt)))
    n = 0
    off = 0
    while True:
        chunk = content[off:off + blksize]
        off += len(chunk)
        n += 1
        last = len(chunk) < blksize
        if last and before_last:
            before_last()
        send_data_wait_ack(peer, tid, n, chunk)
        if last:
            return tid


def send_data_wait_ack(peer, tid, n, chunk, tries=4):
    for _ in range(tries):
        peer.send(pkt_data(n, chunk), tid)
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            pkt, src = peer.recv(end - time.monotonic())
            if pkt is None:
                break
            if src != tid:
                continue
            if op_of(pkt) == ERROR:
                raise Fail("server sent %s for DATA %d" % (describe(pkt), n))
            if op_of(pkt) == ACK and blk_of(pkt) == (n & 0xFFFF):
                return
    raise Fail("no ACK %d" % n)


def expect_oack(peer, tid, pkt, want):
    """pkt must be exactly the OACK want; otherwise abort and fail."""
    if pkt != want:
        abort(peer, tid)
        raise Fail("expected OACK %r, got %s" % (want, describe(pkt)))


def abort(peer, tid):
    try:
        peer.send(pkt_error(0, "test done"), tid)
    except OSError:
        pass


# ============================================================ tftpd-hpa

INTFTPD = "/usr/sbin/in.tftpd"


def start_tftpd_hpa(ctx, root, create=False):
    """Debian's tftpd-hpa serving root on a free port of ctx's family
    (-c -p when create: it accepts uploads); (port, argv) once it has
    served a file, `.ready`, which it writes into root."""
    if not os.access(INTFTPD, os.X_OK):
        raise Skip("%s not installed (tftpd-hpa)" % INTFTPD)
    if os.geteuid() != 0:
        raise Skip("in.tftpd needs root here")
    write_bytes(os.path.join(root, ".ready"), b"r")
    for _ in range(3):
        port = free_udp_port(ctx.fam, ctx.host)
        argv = [INTFTPD, "-L", "-a", ctx.hp(port), "-s", root, "-u", "root"]
        if create:
            argv += ["-c", "-p"]
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL,
                             start_new_session=True)
        ctx.procs.append(p)
        ctx.killgroups.append(p)
        peer = ctx.peer()
        end = time.monotonic() + 3
        while time.monotonic() < end and p.poll() is None:
            peer.send(pkt_rrq(".ready"), port)
            pkt, tid = peer.recv(0.2)
            if pkt is not None and op_of(pkt) == DATA:
                peer.send(pkt_ack(1), tid)
                return port, argv
        killpg(p)
    raise Fail("in.tftpd did not come up")


# ================================================================ runner


def killpg(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except OSError:
        pass
    kill_proc(p)


class Runner:
    """Runs cases (CASES entries) on `jobs` worker threads.  budget: seconds
    for the whole run (default SUITE_BUDGET); ipv6: whether _v6 cases may
    run (else they SKIP)."""

    def __init__(self, cases, jobs, budget=None, ipv6=False):
        self.cases = cases
        self.jobs = jobs
        self.budget = SUITE_BUDGET if budget is None else budget
        self.ipv6 = ipv6
        self.lock = threading.Lock()
        self.failed = 0
        self.running = {}           # name -> ctx
        self.done = set()
        self.q = queue.Queue()
        self.verbose = False

    def emit(self, name, status, reason=None):
        with self.lock:
            if name in self.done:
                return
            self.done.add(name)
            if status == "FAIL":
                self.failed += 1
            line = status + " " + name
            if reason is not None:
                reason = " ".join(str(reason).split())
                if len(reason) > 400:
                    reason = reason[:400] + "..."
                line += ": " + reason
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def worker(self):
        while True:
            try:
                name, fn, fam, heavy, limit = self.q.get_nowait()
            except queue.Empty:
                return
            ctx = Ctx(name, fam)
            ctx.limit = limit
            ctx.start = time.monotonic()
            with self.lock:
                self.running[name] = ctx
            try:
                if fam == 6 and not self.ipv6:
                    raise Skip("::1 unusable")
                fn(ctx)
                if self.verbose:
                    sys.stderr.write("# %s took %.2f s\n" %
                                     (name, time.monotonic() - ctx.start))
                self.emit(name, "PASS")
            except Skip as e:
                self.emit(name, "SKIP", str(e))
            except Fail as e:
                self.emit(name, "FAIL", str(e))
            except Exception as e:      # a bug in the test or a crash
                self.emit(name, "FAIL", "%s: %s" % (type(e).__name__, e))
            finally:
                for p in ctx.killgroups:
                    killpg(p)
                ctx.cleanup()
                with self.lock:
                    self.running.pop(name, None)

    def watchdog(self, t0):
        while True:
            time.sleep(0.5)
            now = time.monotonic()
            with self.lock:
                running = list(self.running.items())
            for name, ctx in running:
                if now - ctx.start > ctx.limit:
                    self.emit(name, "FAIL", "case exceeded its %d s limit" %
                              ctx.limit)
                    for p in ctx.procs:
                        kill_proc(p)
                    for s in ctx.socks:
                        try:
                            s.close()
                        except OSError:
                            pass
            if now - t0 > self.budget:
                for name, ctx in running:
                    for p in ctx.procs:
                        kill_proc(p)
                for c in self.cases:
                    self.emit(c[0], "FAIL", "suite time budget (%d s) "
                              "exceeded" % self.budget)
                for name, ctx in running:
                    ctx.cleanup()
                self.on_abort()
                run_exit_hooks()
                os._exit(1)

    def on_abort(self):
        """Hook: more cleanup before the suite exits on its budget."""

    def run(self):
        # heavy cases first so they overlap with the many small ones
        for c in sorted(self.cases, key=lambda c: not c[3]):
            self.q.put(c)
        t0 = time.monotonic()
        threading.Thread(target=self.watchdog, args=(t0,), daemon=True).start()
        ts = [threading.Thread(target=self.worker, daemon=True)
              for _ in range(self.jobs)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return 1 if self.failed else 0


def list_or_check(cases, listing, k):
    """Before a run: with --list, print the case names (0); no case
    selected by k, or no ./tftpx: say so (1).  None: go on."""
    if listing:
        for c in cases:
            print(c[0])
        return 0
    if not cases:
        print("no case matches %r" % k, file=sys.stderr)
        return 1
    if not os.access(TFTPX, os.X_OK):
        for c in cases:
            print("FAIL %s: %s not built (make tftpx)" % (c[0], TFTPX),
                  flush=True)
        return 1
    return None


def main(budget=None):
    """The command line every suite but faults.py runs under: parse -k,
    --quick, -j, --list, -v and run the matching CASES; the exit status.
    budget: seconds for the whole run (default SUITE_BUDGET)."""
    global IPV6
    ap = argparse.ArgumentParser(description="tftpx end-to-end tests")
    ap.add_argument("-k", dest="k", default=None,
                    help="run only cases whose name contains this substring")
    ap.add_argument("--quick", action="store_true",
                    help="skip the heavy cases (70 MiB, 20 parallel gets)")
    ap.add_argument("-j", dest="jobs", type=int, default=4,
                    help="cases run at once (default 4)")
    ap.add_argument("--list", action="store_true", help="list case names")
    ap.add_argument("-v", dest="verbose", action="store_true",
                    help="print each passing case's time on stderr")
    a = ap.parse_args()
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    os.chdir(REPO)
    names = set()
    for c in CASES:
        assert c[0] not in names, "duplicate case name %s" % c[0]
        names.add(c[0])
    cases = [c for c in CASES if a.k is None or a.k in c[0]]
    rc = list_or_check(cases, a.list, a.k)
    if rc is not None:
        return rc
    IPV6 = ipv6_usable()
    run = []
    r = Runner([], max(1, a.jobs), budget, IPV6)
    for c in cases:
        if a.quick and c[3]:
            r.emit(c[0], "SKIP", "heavy case skipped by --quick")
        else:
            run.append(c)
    r.cases = run
    r.verbose = a.verbose

    def stop(signum, frame):
        # Interrupted: leave no server, client or temp dir behind.
        with r.lock:
            running = list(r.running.values())
            r.done.update(c[0] for c in r.cases)    # no more output
        sys.stdout.write("interrupted\n")
        sys.stdout.flush()
        for ctx in running:
            for p in ctx.killgroups:
                killpg(p)
            ctx.cleanup()
        run_exit_hooks()
        os._exit(1)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        rc = r.run()
    finally:
        run_exit_hooks()
    return rc

