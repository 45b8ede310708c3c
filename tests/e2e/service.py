#!/usr/bin/env python3
"""tests/e2e/service.py - tftpx as a system service, against the real binary.

Run from the repo root:  python3 tests/e2e/service.py [-k SUBSTRING] [-j N]

Built on the harness in tests/lib/tftpx_test.py.  Each case prints
"PASS name", "FAIL name: reason" or "SKIP name: reason".

  activation_*  sockets passed as systemd does (LISTEN_PID/LISTEN_FDS on
                fd 3..), by a python launcher and by systemd-socket-activate
  notify_*      Type=notify readiness: READY=1 after the privilege drop,
                STOPPING=1 on SIGTERM, to a path and an abstract socket
  inetd_*       the socket on stdin (inetd "wait"): a request pending at
                start, stdout/stderr away from the socket, idle exit
  drop_*        started as root: --user, the sudo user, nobody, refusing
                to stay root without --allow-root; Uid/Gid/Groups/CapEff/
                NoNewPrivs from /proc; an upload refused where the new user
                may not write, allowed where it may; capabilities of a
                non-root server dropped
  iface_*       --interface in two private network namespaces joined by
                two veth pairs: answered through the bound NIC only
  install_*, man_*, static_*  make install, the man page (renders without
                warnings, names every option of --help), static builds

Root is needed for drop_*, iface_* and the setpriv case; they SKIP without
it.  Network traffic stays on loopback or in namespaces made here.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "lib"))
from tftpx_test import (  # noqa: E402
    DATA, ERROR, Fail, REPO, Server, Skip, TFTPX, blk_of, case, check, err_of,
    ipv6_usable, kill_proc, main, op_of, pkt_ack, pkt_rrq, pkt_wrq,
    proc_status)
NOBODY = 65534

# Moves fds to 3.. and sets LISTEN_PID to its own pid (kept by exec), as
# systemd does.  argv: NFDS FD,FD,.. PIDMODE PROGRAM ARGS...; PIDMODE
# "self", or a number (a LISTEN_PID that is not ours).
LAUNCH = r"""
import fcntl, os, sys
n, fds, pidmode = int(sys.argv[1]), sys.argv[2].split(","), sys.argv[3]
high = [fcntl.fcntl(int(f), fcntl.F_DUPFD, 100) for f in fds]
for f in fds:
    os.close(int(f))
for i, h in enumerate(high):
    os.dup2(h, 3 + i)
    os.close(h)
os.environ["LISTEN_PID"] = str(os.getpid()) if pidmode == "self" else pidmode
os.environ["LISTEN_FDS"] = str(n)
os.execv(sys.argv[4], sys.argv[4:])
"""


def is_root():
    return os.geteuid() == 0


def need_root():
    if not is_root():
        raise Skip("needs root")


def ids(st, key):
    return [int(x) for x in st.get(key, "").split()]


class SvcServer(Server):
    """A `tftpx serve` started from a whole argv with its own environment,
    stdin and inherited fds.  Waits for the "serving" line (it comes after
    the sockets, the privilege drop and just before READY=1)."""

    def __init__(self, ctx, argv, env=None, pass_fds=(), stdin=None,
                 ready=True, ready_timeout=10.0):
        import threading
        self.ctx = ctx
        self.argv = argv
        self.lines = []
        self.eof = False
        self.cv = threading.Condition()
        e = {k: v for k, v in os.environ.items()
             if not k.startswith(("LISTEN_", "NOTIFY_", "SUDO_"))}
        e.update(env or {})
        self.p = subprocess.Popen(
            argv, stdin=stdin if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True, env=e, pass_fds=pass_fds)
        ctx.procs.append(self.p)
        threading.Thread(target=self._drain, daemon=True).start()
        self.pid = self.p.pid
        self.port = None
        if not ready:
            return
        if self.wait_for(lambda l: "serving " in l, ready_timeout) is None:
            self.stop()
            raise Fail("server did not start (exit %s); stderr: %s" %
                       (self.p.poll(), self.tail()))
        ports = [int(m.group(1)) for m in
                 (re.search(r"listening on \S+:(\d+)\s*$", l)
                  for l in self.lines) if m]
        self.ports = ports
        self.port = ports[0] if ports else None

    def finish(self, timeout=10.0):
        """Exit status of a server that is expected to exit by itself."""
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise Fail("server did not exit within %d s; stderr: %s" %
                       (timeout, self.tail()))


def served_dir(ctx, mode=0o755, content=b"hello tftpx\n" * 100):
    d = ctx.tmpdir("root")
    os.chmod(d, mode)
    with open(os.path.join(d, "a.bin"), "wb") as f:
        f.write(content)
    os.chmod(os.path.join(d, "a.bin"), 0o644)
    return d, content


def get_ok(ctx, port, want, host="127.0.0.1", name="a.bin"):
    out = ctx.tmpdir("out")
    dst = os.path.join(out, "got")
    hp = "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)
    rc, _, err, _ = ctx.tftpx("get", hp, name, dst, timeout=30)
    check(rc == 0, "get %s from %s exited %d: %s" % (name, hp, rc,
                                                     err.strip()[-200:]))
    with open(dst, "rb") as f:
        got = f.read()
    check(got == want, "got %d bytes, expected %d" % (len(got), len(want)))


def udp_sock(ctx, fam=socket.AF_INET, addr=("127.0.0.1", 0), v6only=None):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    ctx.socks.append(s)
    if v6only is not None:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(v6only))
    s.bind(addr)
    return s


def activated(ctx, socks, args, root, pidmode="self", env=None, **kw):
    fds = [s.fileno() for s in socks]
    argv = [sys.executable, "-c", LAUNCH, str(len(fds)),
            ",".join(str(f) for f in fds), pidmode, TFTPX, "serve"]
    return SvcServer(ctx, argv + list(args) + [root], env=env,
                     pass_fds=fds, **kw)


# ---------------------------------------------------------------- activation

@case("activation_fd3_ipv4")
def _(ctx):
    root, want = served_dir(ctx)
    s = udp_sock(ctx)
    port = s.getsockname()[1]
    # --listen is overridden by the passed socket (and says so)
    srv = activated(ctx, [s], ["--allow-root", "-l", "127.0.0.1:0"], root)
    check(srv.ports == [port], "listening on %r, expected only the passed "
          "socket's port %d; stderr: %s" % (srv.ports, port, srv.tail()))
    check(srv.wait_for(lambda l: "--listen ignored" in l, 1) is not None,
          "no line saying --listen is ignored: %s" % srv.tail())
    s.close()           # the server holds its own copy (fd 3)
    get_ok(ctx, port, want)
    srv.expect_ok("RRQ", "a.bin")


@case("activation_idle_exit")
def _(ctx):
    root, want = served_dir(ctx)
    s = udp_sock(ctx)
    port = s.getsockname()[1]
    # socket activation with --idle-timeout: the socket stays with
    # systemd, which starts tftpx again on the next request
    srv = activated(ctx, [s], ["--allow-root", "--idle-timeout", "1"], root)
    get_ok(ctx, port, want)
    rc = srv.finish(timeout=30)
    check(rc == 0, "exit status %d after the idle timeout" % rc)
    check(srv.wait_for(lambda l: "idle for 1 s" in l, 2) is not None,
          "no line saying why it left: %s" % srv.tail())
    srv = activated(ctx, [s], ["--allow-root", "--idle-timeout", "1"], root)
    get_ok(ctx, port, want)


@case("activation_dual_stack_two_sockets")
def _(ctx):
    if not ipv6_usable():
        raise Skip("no IPv6 loopback")
    root, want = served_dir(ctx)
    # systemd's ListenDatagram=69: one [::] socket, IPv4 as ::ffff:a.b.c.d
    s6 = udp_sock(ctx, socket.AF_INET6, ("::", 0), v6only=False)
    port6 = s6.getsockname()[1]
    s4 = udp_sock(ctx)
    port4 = s4.getsockname()[1]
    srv = activated(ctx, [s6, s4], ["--allow-root"], root)
    check(sorted(srv.ports) == sorted([port6, port4]),
          "listening on %r, expected %r" % (srv.ports, [port6, port4]))
    get_ok(ctx, port6, want, host="127.0.0.1")     # mapped IPv4
    get_ok(ctx, port6, want, host="::1")
    get_ok(ctx, port4, want, host="127.0.0.1")
    # the last line may come just after the client is done: wait for it
    for _ in range(50):
        lines = [x for x in srv.lines if '"a.bin"' in x and x.endswith(" ok")]
        if len(lines) >= 3:
            break
        time.sleep(0.1)
    check(len(lines) == 3, "expected 3 ok transfers, got %r" % lines)
    l = " | ".join(lines)
    check(any(" 127.0.0.1:" in x for x in lines) and
          not any("::ffff:" in x for x in lines),
          "IPv4 peer of the dual-stack socket not logged as IPv4: %r" % l)


def first_block_from(ctx, port, host, name="a.bin"):
    """Send an RRQ; return (DATA 1, the port it came from); stop it."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    c = udp_sock(ctx, fam, (host, 0))
    c.settimeout(5)
    c.sendto(pkt_rrq(name), (host, port))
    pkt, src = c.recvfrom(70000)
    c.sendto(b"\x00\x05\x00\x00done\x00", src)
    return pkt, src[1]


@case("activation_dual_stack_single_port")
def _(ctx):
    if not ipv6_usable():
        raise Skip("no IPv6 loopback")
    root, want = served_dir(ctx)
    # systemd's ListenDatagram=69 with --single-port: IPv4 clients of the
    # [::] socket are answered from it, as ::ffff:a.b.c.d
    s6 = udp_sock(ctx, socket.AF_INET6, ("::", 0), v6only=False)
    port6 = s6.getsockname()[1]
    srv = activated(ctx, [s6], ["--allow-root", "--single-port"], root)
    for host in ("127.0.0.1", "::1"):
        pkt, sport = first_block_from(ctx, port6, host)
        check(op_of(pkt) == DATA and blk_of(pkt) == 1,
              "%s: expected DATA 1, got %r" % (host, pkt[:4]))
        check(sport == port6, "%s: answered from port %d, not the "
              "listening port %d" % (host, sport, port6))
        get_ok(ctx, port6, want, host=host)
    for _ in range(50):
        oks = [x for x in srv.lines if '"a.bin"' in x and x.endswith(" ok")]
        if len(oks) >= 2:
            break
        time.sleep(0.1)
    check(len(oks) == 2, "expected 2 ok transfers, got %r" % oks)


@case("activation_other_pid_ignored")
def _(ctx):
    root, want = served_dir(ctx)
    s = udp_sock(ctx)
    port = s.getsockname()[1]
    # LISTEN_PID names another process: the fds are not for us
    srv = activated(ctx, [s], ["--allow-root", "-l", "127.0.0.1:0"], root,
                    pidmode="1")
    check(srv.port is not None and srv.port != port,
          "served the socket meant for pid 1 (ports %r)" % srv.ports)
    get_ok(ctx, srv.port, want)
    c = udp_sock(ctx)
    c.sendto(pkt_rrq("a.bin"), ("127.0.0.1", port))
    c.settimeout(1.0)
    try:
        pkt = c.recv(1000)
        raise Fail("the socket not meant for tftpx answered %r" % pkt[:8])
    except socket.timeout:
        pass


@case("activation_bad_socket_type")
def _(ctx):
    root, _ = served_dir(ctx)
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ctx.socks.append(t)
    t.bind(("127.0.0.1", 0))
    srv = activated(ctx, [t], ["--allow-root"], root, ready=False)
    rc = srv.finish()
    check(rc == 1, "a stream socket was accepted (exit %s)" % rc)
    check(srv.wait_for(lambda l: "not a datagram socket" in l, 2)
          is not None, "no reason given: %s" % srv.tail())


@case("activation_systemd_socket_activate")
def _(ctx):
    tool = shutil.which("systemd-socket-activate")
    if tool is None:
        raise Skip("systemd-socket-activate not installed (package systemd)")
    root, want = served_dir(ctx)
    # the tool binds the port itself: take a free one (a race with other
    # programs, retried once)
    for attempt in range(2):
        probe = udp_sock(ctx)
        port = probe.getsockname()[1]
        probe.close()
        srv = SvcServer(ctx, [tool, "--datagram", "-l", "127.0.0.1:%d" % port,
                              TFTPX, "serve", "--allow-root", root],
                        ready=False)
        # the tool starts tftpx on the first datagram only; before its
        # "Listening on" line the port is closed, and the client (which
        # hears the ICMP port unreachable) would fail at once
        if srv.wait_for(lambda l: "Listening on 127.0.0.1:%d" % port in l,
                        5) is None:
            srv.stop()
            continue
        get_ok(ctx, port, want)
        if srv.wait_for(lambda l: "serving " in l, 5) is not None:
            break
    check(srv.wait_for(lambda l: "listening on 127.0.0.1:%d" % port in l, 5)
          is not None, "tftpx did not serve the passed socket: %s" %
          srv.tail())
    srv.expect_ok("RRQ", "a.bin")


# ---------------------------------------------------------------- readiness

def notify_sock(ctx, abstract, where):
    n = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ctx.socks.append(n)
    if abstract:
        name = "tftpx-notify-%d-%d" % (os.getpid(), id(n))
        n.bind("\0" + name)
        return n, "@" + name
    path = os.path.join(where, "notify")
    n.bind(path)
    return n, path


def expect_msg(n, want, timeout=10.0):
    n.settimeout(timeout)
    seen = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            m = n.recv(4096).decode()
        except socket.timeout:
            break
        seen.append(m)
        if want in m.split("\n"):
            return seen
    raise Fail("no %s on NOTIFY_SOCKET; got %r" % (want, seen))


def notify_case(ctx, abstract):
    root, want = served_dir(ctx)
    priv = ctx.tmpdir("notify")         # 0700: only root can connect here
    n, addr = notify_sock(ctx, abstract, priv)
    args = [] if is_root() else ["--allow-root"]
    srv = SvcServer(ctx, [TFTPX, "serve", "-l", "127.0.0.1:0"] + args +
                    [root], env={"NOTIFY_SOCKET": addr}, ready=False)
    expect_msg(n, "READY=1")
    # READY only once serving: sockets bound and privileges dropped
    check(srv.wait_for(lambda l: "serving " in l, 0.1) is not None,
          "READY=1 before the serving line: %s" % srv.tail())
    if is_root():
        st = proc_status(srv.pid)
        check(ids(st, "Uid") == [NOBODY] * 4, "READY=1 sent before the drop "
              "to nobody (Uid %s)" % st.get("Uid"))
    m = re.search(r"listening on \S+:(\d+)", " ".join(srv.lines))
    get_ok(ctx, int(m.group(1)), want)
    srv.p.send_signal(signal.SIGTERM)
    expect_msg(n, "STOPPING=1")
    check(srv.finish() == 0, "exit status %s after SIGTERM" % srv.p.returncode)


@case("notify_ready_stopping_path")
def _(ctx):
    notify_case(ctx, abstract=False)


@case("notify_ready_stopping_abstract")
def _(ctx):
    notify_case(ctx, abstract=True)


# ---------------------------------------------------------------- inetd

def lockstep_get(c, port, name, ack_delay=0.0, timeout=5.0):
    """RRQ name from port; ACK each block after ack_delay.  Returns the
    bytes.  Duplicates (a block re-sent while we wait) are skipped."""
    c.sendto(pkt_rrq(name), ("127.0.0.1", port))
    c.settimeout(timeout)
    data, want = b"", 1
    for _ in range(10000):
        try:
            pkt, src = c.recvfrom(70000)
        except socket.timeout:
            raise Fail("no DATA %d within %.0f s" % (want, timeout))
        if op_of(pkt) == ERROR:
            raise Fail("ERROR %r" % (err_of(pkt),))
        if op_of(pkt) != DATA or blk_of(pkt) != want:
            continue
        data += pkt[4:]
        if ack_delay:
            time.sleep(ack_delay)
        c.sendto(pkt_ack(want), src)
        if len(pkt) - 4 < 512:
            return data
        want += 1
    raise Fail("too many packets")


@case("inetd_pending_request_stdio_idle_exit", limit=60)
def _(ctx):
    root, want = served_dir(ctx, content=bytes(range(250)) * 6)   # 3 blocks
    s = udp_sock(ctx)
    port = s.getsockname()[1]
    c = udp_sock(ctx)
    # inetd starts the server because a datagram is waiting: send it first
    c.sendto(pkt_rrq("a.bin"), ("127.0.0.1", port))
    fd = s.fileno()
    argv = [TFTPX, "serve", "--inetd", "--idle-timeout", "1", "--allow-root",
            root]
    # as inetd does: the socket is stdin, stdout and stderr
    p = subprocess.Popen(argv, stdin=fd, stdout=fd, stderr=fd,
                         start_new_session=True)
    ctx.procs.append(p)
    s.close()
    c.settimeout(10)
    pkt, src = c.recvfrom(70000)
    check(op_of(pkt) == DATA and blk_of(pkt) == 1,
          "pending request answered with %r" % pkt[:4])
    for i in (1, 2):
        check(os.readlink("/proc/%d/fd/%d" % (p.pid, i)) == "/dev/null",
              "fd %d is %s, not /dev/null" % (i, os.readlink(
                  "/proc/%d/fd/%d" % (p.pid, i))))
    c.sendto(pkt_ack(1), src)
    data = pkt[4:]
    c2 = udp_sock(ctx)
    # meanwhile a second request, ACKed slower than --idle-timeout: the
    # server must not leave while a transfer lives
    got2 = lockstep_get(c2, port, "a.bin", ack_delay=1.3)
    check(got2 == want, "second transfer: %d bytes, expected %d" %
          (len(got2), len(want)))
    for blk in (2, 3):
        for _ in range(20):
            pkt, src = c.recvfrom(70000)
            if op_of(pkt) == DATA and blk_of(pkt) == blk:
                break
        data += pkt[4:]
        c.sendto(pkt_ack(blk), src)
    check(data == want, "first transfer: %d bytes" % len(data))
    try:
        rc = p.wait(30)
    except subprocess.TimeoutExpired:
        raise Fail("did not exit when idle (--idle-timeout 1)")
    check(rc == 0, "exit status %d after the idle timeout" % rc)
    # never wrote its log lines into the socket (they went to /dev/null)
    c.settimeout(0.2)
    try:
        junk = c.recv(70000)
        raise Fail("stray datagram %r" % junk[:40])
    except socket.timeout:
        pass


@case("inetd_single_port", limit=60)
def _(ctx):
    root, want = served_dir(ctx, content=bytes(range(250)) * 6)   # 3 blocks
    s = udp_sock(ctx)
    port = s.getsockname()[1]
    c = udp_sock(ctx)
    c.sendto(pkt_rrq("a.bin"), ("127.0.0.1", port))
    fd = s.fileno()
    argv = [TFTPX, "serve", "--inetd", "--single-port", "--idle-timeout",
            "1", "--allow-root", root]
    p = subprocess.Popen(argv, stdin=fd, stdout=fd, stderr=fd,
                         start_new_session=True)
    ctx.procs.append(p)
    s.close()
    c.settimeout(10)
    data = b""
    for blk in (1, 2, 3):
        for _ in range(20):
            pkt, src = c.recvfrom(70000)
            if op_of(pkt) == DATA and blk_of(pkt) == blk:
                break
        check(src[1] == port, "block %d came from port %d, not inetd's "
              "socket %d" % (blk, src[1], port))
        data += pkt[4:]
        c.sendto(pkt_ack(blk), src)
    check(data == want, "got %d bytes, expected %d" % (len(data), len(want)))
    try:
        rc = p.wait(30)
    except subprocess.TimeoutExpired:
        raise Fail("did not exit when idle (--idle-timeout 1)")
    check(rc == 0, "exit status %d after the idle timeout" % rc)


@case("inetd_needs_socket_on_stdin")
def _(ctx):
    root, _ = served_dir(ctx)
    rc, _, err, _ = ctx.tftpx("serve", "--inetd", "--allow-root", root,
                              timeout=10)
    check(rc == 1 and "socket on stdin" in err,
          "exit %d, stderr %r" % (rc, err.strip()))
    rc, _, err, _ = ctx.tftpx("serve", "--inetd", "-l", "127.0.0.1:0", root,
                              timeout=10)
    check(rc == 2, "--inetd with --listen: exit %d, expected 2" % rc)


# ---------------------------------------------------------------- privileges

def check_dropped(st, uid, gid, groups, bounding=True):
    """The ids as given, every capability set empty (the bounding set only
    for a server that started as root: emptying it needs CAP_SETPCAP), and
    no_new_privs."""
    check(ids(st, "Uid") == [uid] * 4, "Uid %s, expected %d" %
          (st.get("Uid"), uid))
    check(ids(st, "Gid") == [gid] * 4, "Gid %s, expected %d" %
          (st.get("Gid"), gid))
    check(sorted(ids(st, "Groups")) == sorted(groups), "Groups %r, "
          "expected %r" % (st.get("Groups"), groups))
    for k in ("CapInh", "CapPrm", "CapEff", "CapAmb") + (
            ("CapBnd",) if bounding else ()):
        check(int(st.get(k, "0"), 16) == 0, "%s %s, expected 0" %
              (k, st.get(k)))
    check(st.get("NoNewPrivs") == "1", "NoNewPrivs %s" % st.get("NoNewPrivs"))


@case("drop_default_nobody")
def _(ctx):
    need_root()
    root, want = served_dir(ctx)          # 0755 root: nobody may read
    srv = SvcServer(ctx, [TFTPX, "serve", "-l", "127.0.0.1:0", root])
    check_dropped(proc_status(srv.pid), NOBODY, NOBODY, [NOBODY])
    check(srv.wait_for(lambda l: "running as user nobody" in l, 1),
          "no line naming the user: %s" % srv.tail())
    get_ok(ctx, srv.port, want)
    srv.stop()
    # --upload where nobody cannot write: never root by accident
    rc, _, err, _ = ctx.tftpx("serve", "-l", "127.0.0.1:0", "--upload", root,
                              timeout=10)
    check(rc == 1 and "refusing to serve as root" in err and
          "cannot write" in err and "--allow-root" in err,
          "exit %d, stderr %r" % (rc, err.strip()))


@case("drop_user_nobody_reads_not_writes")
def _(ctx):
    need_root()
    root, want = served_dir(ctx)          # 0755 root: nobody reads only
    pub = os.path.join(root, "pub")
    os.mkdir(pub)
    os.chown(pub, NOBODY, NOBODY)
    srv = SvcServer(ctx, [TFTPX, "serve", "-l", "127.0.0.1:0", "--upload",
                          "--user", "nobody", root])
    check_dropped(proc_status(srv.pid), NOBODY, NOBODY, [NOBODY])
    check(srv.wait_for(lambda l: "running as user nobody" in l, 1),
          "no line naming the user: %s" % srv.tail())
    check(srv.wait_for(lambda l: "cannot write" in l, 1),
          "no warning that uploads into DIR will fail: %s" % srv.tail())
    get_ok(ctx, srv.port, want)
    c = udp_sock(ctx)
    c.sendto(pkt_wrq("new.bin"), ("127.0.0.1", srv.port))
    c.settimeout(5)
    pkt = c.recv(1000)
    check(op_of(pkt) == ERROR, "WRQ into a root-owned 0755 directory got %r, "
          "expected an ERROR" % pkt[:4])
    check(not os.path.exists(os.path.join(root, "new.bin")),
          "file created as nobody in a root-owned directory")
    # where nobody may write, the upload works and belongs to nobody
    src = os.path.join(ctx.tmpdir("loc"), "up.bin")
    with open(src, "wb") as f:
        f.write(b"x" * 3000)
    rc, _, err, _ = ctx.tftpx("put", "127.0.0.1:%d" % srv.port, src,
                              "pub/up.bin", timeout=30)
    check(rc == 0, "put into a nobody-owned directory: exit %d %s" %
          (rc, err.strip()))
    st = os.stat(os.path.join(pub, "up.bin"))
    check(st.st_uid == NOBODY and st.st_size == 3000,
          "upload owned by uid %d, %d bytes" % (st.st_uid, st.st_size))


@case("drop_sudo_user")
def _(ctx):
    need_root()
    root, want = served_dir(ctx)
    srv = SvcServer(ctx, [TFTPX, "serve", "-l", "127.0.0.1:0", root],
                    env={"SUDO_UID": "4242", "SUDO_GID": "4343"})
    # no passwd entry for 4242: no supplementary groups
    check_dropped(proc_status(srv.pid), 4242, 4343, [])
    get_ok(ctx, srv.port, want)


@case("drop_user_numeric_and_name")
def _(ctx):
    need_root()
    root, want = served_dir(ctx)
    srv = SvcServer(ctx, [TFTPX, "serve", "-l", "127.0.0.1:0", "--user",
                          "5000:5001", root])
    check_dropped(proc_status(srv.pid), 5000, 5001, [])
    get_ok(ctx, srv.port, want)
    srv.stop()
    srv = SvcServer(ctx, [TFTPX, "serve", "-l", "127.0.0.1:0", "--user",
                          "nobody", root])
    check_dropped(proc_status(srv.pid), NOBODY, NOBODY, [NOBODY])


@case("drop_refused_when_impossible")
def _(ctx):
    need_root()
    root, _ = served_dir(ctx, mode=0o700)
    for args, why in ((["--user", "nobody"], "cannot search"),
                      (["--user", "no-such-user-tftpx"], "no such user"),
                      (["--user", "root"], "--allow-root")):
        rc, _, err, _ = ctx.tftpx("serve", "-l", "127.0.0.1:0", *args, root,
                                  timeout=10)
        check(rc == 1 and why in err, "%s: exit %d, stderr %r" %
              (" ".join(args), rc, err.strip()))


@case("drop_default_refuses_root")
def _(ctx):
    need_root()
    root, want = served_dir(ctx, mode=0o700)   # nobody cannot search it
    rc, _, err, _ = ctx.tftpx("serve", "-l", "127.0.0.1:0", root, timeout=10)
    check(rc == 1 and "refusing to serve as root" in err and
          "cannot search" in err and "--allow-root" in err,
          "exit %d, stderr %r" % (rc, err.strip()))
    # --allow-root: root on purpose, said once, no warning
    srv = SvcServer(ctx, [TFTPX, "serve", "-l", "127.0.0.1:0",
                          "--allow-root", root])
    check(not any("warning" in l for l in srv.lines), srv.tail())
    check(srv.wait_for(lambda l: "running as root (--allow-root)" in l, 1),
          srv.tail())
    st = proc_status(srv.pid)
    check(ids(st, "Uid") == [0] * 4 and st.get("NoNewPrivs") == "1",
          "Uid %s NoNewPrivs %s" % (st.get("Uid"), st.get("NoNewPrivs")))
    get_ok(ctx, srv.port, want)


@case("drop_capabilities_of_non_root")
def _(ctx):
    need_root()
    if shutil.which("setpriv") is None:
        raise Skip("setpriv not installed")
    root, want = served_dir(ctx)
    pre = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY,
           "--clear-groups", "--inh-caps=+net_bind_service",
           "--ambient-caps=+net_bind_service"]
    srv = SvcServer(ctx, pre + [TFTPX, "serve", "-l", "127.0.0.1:0", root])
    check_dropped(proc_status(srv.pid), NOBODY, NOBODY, [], bounding=False)
    get_ok(ctx, srv.port, want)
    rc, _, err, _ = ctx.run(pre + [TFTPX, "serve", "-l", "127.0.0.1:0",
                                   "--user", "0:0", root], timeout=10)
    check(rc == 1 and "only a server started as root" in err,
          "--user without root: exit %d %r" % (rc, err.strip()))


# ---------------------------------------------------------------- seccomp

def asan_build(path):
    r = subprocess.run(["ldd", path], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL)
    return b"libasan" in r.stdout or b"libubsan" in r.stdout


@case("seccomp_every_path_survives", limit=90)
def _(ctx):
    if asan_build(TFTPX):
        raise Skip("sanitizer build: --seccomp is refused there")
    root, want = served_dir(ctx)
    probe = SvcServer(ctx, [TFTPX, "serve", "-l", "127.0.0.1:0", "--seccomp",
                            "--allow-root", root], ready=False)
    if probe.wait_for(lambda l: "serving " in l or "sanitizer build" in l,
                      10) is None:
        raise Fail("server with --seccomp did not start: %s" % probe.tail())
    if any("sanitizer build" in l for l in probe.lines):
        # clang links its sanitizer runtime statically: ldd cannot tell
        raise Skip("sanitizer build: --seccomp is refused there")
    probe.stop()
    os.chmod(root, 0o777)               # uploads as nobody (when root)
    loc = ctx.tmpdir("loc")
    src = os.path.join(loc, "up.bin")
    with open(src, "wb") as f:
        f.write(os.urandom(70000))
    # each file path: O_TMPFILE + linkat, named temp + rename, the walk
    for env in ({}, {"TFTPX_NO_TMPFILE": "1"}, {"TFTPX_NO_OPENAT2": "1"}):
        srv = SvcServer(ctx, [TFTPX, "serve", "-l", "127.0.0.1:0",
                              "--overwrite", "--seccomp",
                              "--idle-timeout", "3"] +
                        (["--user", "nobody"] if is_root() else []) + [root],
                        env=env)
        st = proc_status(srv.pid)
        check(st.get("Seccomp") == "2" and st.get("Seccomp_filters") == "1",
              "no seccomp filter: Seccomp %s" % st.get("Seccomp"))
        get_ok(ctx, srv.port, want)
        get_ok(ctx, srv.port, want, name="/a.bin")
        for opts in ((), ("-b", "1468", "-w", "8", "--tsize")):
            for name in ("up.bin", "up.bin"):         # create, then replace
                rc, _, err, _ = ctx.tftpx("put", *opts, "127.0.0.1:%d" %
                                          srv.port, src, name, timeout=30)
                check(rc == 0, "put %s: exit %d %s" % (env, rc, err.strip()))
        get_ok(ctx, srv.port, open(src, "rb").read(), name="up.bin")
        rc, _, err, _ = ctx.tftpx("get", "127.0.0.1:%d" % srv.port, "nope",
                                  os.path.join(loc, "n"), timeout=30)
        check(rc == 1 and "not found" in err, "missing file: %d %r" %
              (rc, err.strip()))
        # leaving when idle: a clean exit, not a SIGSYS
        rc = srv.finish(timeout=30)
        check(rc == 0, "%s: exit %s (-31 is SIGSYS: a system call the "
              "filter lacks); stderr: %s" % (env, rc, srv.tail()))
    # a busy refusal (one transfer at most), a stranger's packet, and
    # SIGTERM with a transfer live
    srv = SvcServer(ctx, [TFTPX, "serve", "-l", "127.0.0.1:0", "--seccomp",
                          "--max-transfers", "1", "--allow-root", root])
    get_ok(ctx, srv.port, want)
    c1, c2 = udp_sock(ctx), udp_sock(ctx)
    c1.sendto(pkt_rrq("a.bin"), ("127.0.0.1", srv.port))
    c1.settimeout(5)
    pkt, tid = c1.recvfrom(70000)
    c2.sendto(pkt_rrq("a.bin"), ("127.0.0.1", srv.port))
    c2.settimeout(5)
    check(op_of(c2.recv(1000)) == ERROR, "no busy ERROR")
    c2.sendto(pkt_ack(1), tid)
    check(op_of(c2.recv(1000)) == ERROR, "no ERROR 5 to a stranger")
    srv.p.send_signal(signal.SIGTERM)
    rc = srv.finish()
    check(rc == 0, "exit %s after SIGTERM; stderr: %s" % (rc, srv.tail()))


# ---------------------------------------------------------------- interface

def sh(*argv):
    r = subprocess.run(list(argv), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    if r.returncode != 0:
        raise Fail("%s: %s" % (" ".join(argv), r.stdout.decode().strip()))


@case("iface_bound_nic_only", limit=90)
def _(ctx):
    need_root()
    if shutil.which("ip") is None:
        raise Skip("ip (iproute2) not installed")
    tag = "%d%d" % (os.getpid() % 100000, int(time.monotonic() * 1000) % 1000)
    ns_s, ns_c = "tftpxS" + tag, "tftpxC" + tag
    made = []
    try:
        for ns in (ns_s, ns_c):
            sh("ip", "netns", "add", ns)
            made.append(ns)
        for i in (1, 2):
            sh("ip", "link", "add", "vs%d" % i, "netns", ns_s, "type", "veth",
               "peer", "name", "vc%d" % i, "netns", ns_c)
            sh("ip", "-n", ns_s, "addr", "add", "10.77.%d.1/24" % i, "dev",
               "vs%d" % i)
            sh("ip", "-n", ns_c, "addr", "add", "10.77.%d.2/24" % i, "dev",
               "vc%d" % i)
            sh("ip", "-n", ns_s, "link", "set", "vs%d" % i, "up")
            sh("ip", "-n", ns_c, "link", "set", "vc%d" % i, "up")
        for ns in (ns_s, ns_c):
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        root, want = served_dir(ctx)
        exe = ["ip", "netns", "exec", ns_s, TFTPX, "serve"]
        # as nobody: transfer sockets are tied to vs1 after the drop
        bound = SvcServer(ctx, exe + ["--interface", "vs1", "-l",
                                      "0.0.0.0:69", "--user", "nobody",
                                      root])
        check(bound.wait_for(lambda l: "only through interface vs1" in l, 1),
              bound.tail())
        # a control server on all NICs, to show the routes really work
        free = SvcServer(ctx, exe + ["-l", "0.0.0.0:6969", "--allow-root",
                                     root])

        def get(host, port):
            out = os.path.join(ctx.tmpdir("out"), "got")
            r = ctx.run(["ip", "netns", "exec", ns_c, TFTPX, "get", "-t", "1",
                         "-r", "1", "%s:%d" % (host, port), "a.bin", out],
                        timeout=30)
            if r[0] == 0:
                with open(out, "rb") as f:
                    check(f.read() == want, "wrong content")
            return r[0]

        check(get("10.77.1.1", 69) == 0, "no answer through vs1: %s" %
              bound.tail())
        check(get("10.77.2.1", 69) != 0, "answered through vs2 although "
              "bound to vs1: %s" % bound.tail())
        check(get("10.77.2.1", 6969) == 0, "control server not reachable "
              "through vs2")
        # the address of vs1, reached through vs2: the device decides
        sh("ip", "-n", ns_c, "route", "add", "10.77.1.1/32", "via",
           "10.77.2.1", "dev", "vc2")
        check(get("10.77.1.1", 6969) == 0, "control server not reachable "
              "at 10.77.1.1 through vs2")
        check(get("10.77.1.1", 69) != 0, "a request for vs1's address "
              "arriving through vs2 was answered")
        oks = [l for l in bound.lines if '"a.bin"' in l]
        check(len(oks) == 1, "bound server logged %r" % oks)
        sh("ip", "-n", ns_c, "route", "del", "10.77.1.1/32")
        # a transfer left waiting for its ACK: its socket, made after the
        # drop to nobody, is tied to vs1 too (ss shows ADDR%DEV)
        hold = ("import socket, time\n"
                "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                "s.settimeout(5)\n"
                "s.sendto(b'\\0\\1a.bin\\0octet\\0', ('10.77.1.1', 69))\n"
                "s.recvfrom(1000)\n"
                "print('got', flush=True)\n"
                "time.sleep(4)\n")
        h = subprocess.Popen(["ip", "netns", "exec", ns_c, sys.executable,
                              "-c", hold], stdout=subprocess.PIPE)
        ctx.procs.append(h)
        check(h.stdout.readline().strip() == b"got", "no DATA for the "
              "held transfer")
        r = subprocess.run(["ip", "netns", "exec", ns_s, "ss", "-uanH"],
                           stdout=subprocess.PIPE, timeout=10)
        socks = r.stdout.decode().split()
        xfer = [x for x in socks if x.startswith("10.77.1.1") and
                not x.endswith(":69")]
        check(xfer and all(x.startswith("10.77.1.1%vs1:") for x in xfer),
              "transfer sockets %r, expected 10.77.1.1%%vs1:PORT" % xfer)
    finally:
        for p in ctx.procs:
            kill_proc(p)
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns],
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)


# ---------------------------------------------------------------- install, man

@case("install_tree", limit=120)
def _(ctx):
    dest = ctx.tmpdir("dest")
    r = subprocess.run(["make", "-s", "-C", REPO, "install", "DESTDIR=" + dest,
                        "PREFIX=/usr"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=110,
                       env=plain_make_env())
    check(r.returncode == 0, "make install: %s" % r.stdout.decode()[-300:])
    found = sorted(os.path.relpath(os.path.join(d, f), dest)
                   for d, _, fs in os.walk(dest) for f in fs)
    expect = ["usr/bin/tftpx", "usr/lib/systemd/system/tftpx.service",
              "usr/lib/systemd/system/tftpx.socket",
              "usr/share/man/man1/tftpx.1"]
    check(found == expect, "installed %r, expected %r" % (found, expect))
    b = os.path.join(dest, "usr/bin/tftpx")
    check(os.stat(b).st_mode & 0o777 == 0o755, "binary mode %o" %
          (os.stat(b).st_mode & 0o777))
    rc, out, _, _ = ctx.run([b, "--version"], timeout=10)
    check(rc == 0 and out.startswith(b"tftpx "), "installed binary: %r" % out)
    with open(os.path.join(dest, "usr/lib/systemd/system/tftpx.service")) as f:
        unit = f.read()
    check("\nExecStart=/usr/bin/tftpx serve " in unit and
          "Type=notify" in unit, "unit's ExecStart/Type: %r" %
          [l for l in unit.splitlines() if l.startswith(("Exec", "Type"))])
    with open(os.path.join(dest, "usr/lib/systemd/system/tftpx.socket")) as f:
        check("ListenDatagram=69" in f.read(), "socket unit")
    if shutil.which("systemd-analyze"):
        unitdir = os.path.join(dest, "usr/lib/systemd/system")
        r = subprocess.run(["systemd-analyze", "verify", "--man=no",
                            os.path.join(unitdir, "tftpx.socket"),
                            os.path.join(unitdir, "tftpx.service")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=60)
        # ExecStart= names /usr/bin/tftpx, which is only under DESTDIR
        msgs = [l for l in r.stdout.decode().splitlines()
                if l.strip() and "/usr/bin/tftpx" not in l]
        check(not msgs, "systemd-analyze verify: %r" % msgs)


MAN = os.path.join(REPO, "doc", "tftpx.1")


@case("man_renders_without_warnings")
def _(ctx):
    if shutil.which("groff") is None:
        raise Skip("groff not installed (package groff-base)")
    r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", MAN],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    check(r.returncode == 0 and not r.stderr.strip(),
          "groff -ww: %r" % r.stderr.decode()[:300])
    if shutil.which("man") is None:
        raise Skip("man not installed (package man-db); groff was clean")
    env = {k: v for k, v in os.environ.items() if k != "MAN_KEEP_FORMATTING"}
    env["MANWIDTH"] = "80"
    r = subprocess.run(["man", "--warnings", "-l", MAN], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, timeout=30)
    text = r.stdout.decode("utf-8", "replace")
    check(r.returncode == 0 and not r.stderr.strip(),
          "man -l: exit %d %r" % (r.returncode, r.stderr.decode()[:300]))
    for sect in ("SYNOPSIS", "SERVE OPTIONS", "CLIENT OPTIONS",
                 "BENCH OPTIONS", "RUNNING AS A SERVICE", "EXIT STATUS",
                 "EXAMPLES"):
        check(re.search(r"^%s$" % sect, text, re.M), "no section %s" % sect)
    for ex in ("tftpboot ${loadaddr} uImage", "next-server", "dhcp-boot=",
               "dd if=/dev/mtd0 | tftp -p -l - -r mtd0.bin"):
        check(ex in text, "example %r missing" % ex)


def help_options(*argv):
    rc, out, _ = (lambda r: (r.returncode, r.stdout.decode(), None))(
        subprocess.run([TFTPX] + list(argv), stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, timeout=10))
    if rc != 0:
        return None
    opts = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", out))
    opts |= set(re.findall(r"^\s+(-[a-zA-Z]),", out, re.M))
    return opts


@case("man_covers_help")
def _(ctx):
    with open(MAN) as f:
        src = f.read()
    missing, seen = [], 0
    for cmd in ("serve", "get", "put", "bench"):
        opts = help_options(cmd, "--help")
        if opts is None:
            if cmd == "bench":
                continue        # not in this build
            raise Fail("tftpx %s --help failed" % cmd)
        seen += len(opts)
        for o in sorted(opts):
            roff = o.replace("-", r"\-")
            # as an option, not inside a longer one: \-\-max\-upload must
            # not count for \-\-max\-uploads
            if not re.search(re.escape(roff) + r"(?![A-Za-z0-9]|\\-[a-z])",
                             src):
                missing.append("%s %s" % (cmd, o))
    check(seen >= 30, "only %d options found in the --help texts" % seen)
    check(not missing, "in --help but not in doc/tftpx.1: %s" %
          ", ".join(missing))


# ---------------------------------------------------------------- static

def plain_make_env():
    """The environment for a make of our own: under `make asan` the
    command-line CFLAGS/LDFLAGS (sanitizers) would reach it through
    MAKEFLAGS, and a sanitized binary cannot link statically."""
    return {k: v for k, v in os.environ.items()
            if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "CFLAGS",
                         "LDFLAGS", "CC")}


def static_build(ctx, cc):
    d = ctx.tmpdir("static")
    for x in ("src", "Makefile"):
        p = os.path.join(REPO, x)
        if os.path.isdir(p):
            shutil.copytree(p, os.path.join(d, x),
                            ignore=shutil.ignore_patterns("*.o"))
        else:
            shutil.copy(p, d)
    r = subprocess.run(["make", "-s", "-C", d, "-j2", "STATIC=1", "CC=" + cc,
                        "CFLAGS=-O2", "tftpx"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=280,
                       env=plain_make_env())
    log = r.stdout.decode("utf-8", "replace")
    if r.returncode != 0:
        if re.search(r"cannot find -lc\b|cannot find -l(pthread|m)\b", log):
            raise Skip("no static C library for %s" % cc)
        raise Fail("make STATIC=1 CC=%s: %s" % (cc, log[-400:]))
    b = os.path.join(d, "tftpx")
    rc, out, err, _ = ctx.run([b, "--version"], timeout=10)
    check(rc == 0 and out.startswith(b"tftpx "), "--version: %d %r %r" %
          (rc, out, err))
    r = subprocess.run(["file", b] if shutil.which("file") else ["true"],
                       stdout=subprocess.PIPE, timeout=10)
    if r.stdout:
        check(b"statically linked" in r.stdout or b"static-pie" in r.stdout,
              "not static: %r" % r.stdout)
    lib_print("%s static binary: %d bytes" % (cc, os.path.getsize(b)))
    return b


def lib_print(msg):
    sys.stdout.write("INFO %s\n" % msg)
    sys.stdout.flush()


@case("static_glibc_version", limit=300)
def _(ctx):
    static_build(ctx, "cc")


@case("static_musl_serves", limit=300)
def _(ctx):
    if shutil.which("musl-gcc") is None:
        raise Skip("musl-gcc not installed (package musl-tools)")
    b = static_build(ctx, "musl-gcc")
    root, want = served_dir(ctx)
    srv = SvcServer(ctx, [b, "serve", "-l", "127.0.0.1:0", "--seccomp"] +
                    (["--user", "5000:5001"] if is_root() else []) + [root])
    if is_root():
        # musl reads /etc/passwd itself: ids without an entry, no groups
        check_dropped(proc_status(srv.pid), 5000, 5001, [])
    get_ok(ctx, srv.port, want)
    srv.p.send_signal(signal.SIGTERM)
    check(srv.finish() == 0, "musl build with --seccomp: exit %s" %
          srv.p.returncode)


if __name__ == "__main__":
    sys.exit(main())
