"""tests/lib/netns.py - private network namespaces for the suites (stdlib).

Not a suite.  tests/faults/faults.py, tests/soak/soak.py,
tests/e2e/service.py, tests/e2e/nat.py and tests/e2e/perclient.py make
their namespaces with it
(doc/notes/netns-testing.md says why each piece is there):

    from netns import NetNS, delete_all
    ns = NetNS("tftpx-faults", extra_addr=True)   # lo up, 192.0.2.1/32 on lo
    ns.nft('table inet f { chain in { ... counter comment "x" } }')
    subprocess.run(ns.argv(["tftpx", "serve", ...]))
    ns.counters()                                  # {"x": packets}
    ns.delete()

  NetNS(prefix, extra_addr=False)
        `ip netns add PREFIX-PID-N`; lo up; with extra_addr also
        192.0.2.1/32 on lo (programs that resolve "127.0.0.1" with
        AI_ADDRCONFIG find no address in a namespace with only lo).
        Skip when the namespace cannot be made (no root, no iproute2),
        Fail when it was made but cannot be set up.
  argv(cmd)         cmd run inside (ip netns exec NAME ...)
  run(cmd), must(cmd), ip(...), sysctl(key, value)
  nft(script)       nft -f - inside; Fail with the script on an error
  counters()        {rule comment: packets} of every nftables rule with a
                    counter and a comment (nft -j list ruleset)
  veth(other, ...)  a veth pair, one end here and one in `other`, with
                    addresses, an MTU, both ends up; other=None: both ends here
  tap(name, ...)    a tap device here with addresses, an MTU, up (QEMU
                    run inside attaches to it: -netdev tap,ifname=NAME)
  route(dest, via)  a route; forwarding() turns this one into a router
  socket(...)       a socket made inside (the calling thread stays where it
                    is: the socket is made in a short-lived thread that joins
                    the namespace)
  enter()/leave()   move the calling thread in and back (soak.py enters
                    before it starts any thread, so everything it starts
                    lives inside)
  delete()          leave, SIGKILL what still runs inside, `ip netns del`

Every NetNS made and not yet deleted is in a module-level registry;
delete_all() removes them (for a suite's abort and signal paths).  It is
registered with tftpx_test.at_exit, so the harness's runner calls it on a
signal, when the suite's time budget runs out and at the end of main().
A run killed with SIGKILL leaves its namespaces behind: `ip netns list`
shows them by prefix and pid, `ip netns pids NAME` what still runs inside,
`ip netns del NAME` removes one.
"""

import ctypes
import itertools
import json
import os
import shutil
import signal
import socket as _socket
import subprocess
import threading
import time

from tftpx_test import Fail, Skip, at_exit

CLONE_NEWNET = 0x40000000
EXTRA_ADDR = "192.0.2.1/32"

_ids = itertools.count(1)
_live = {}                  # name -> NetNS, made and not yet deleted
_lock = threading.Lock()
_libc = None


def libc():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def sh(argv, input=None, timeout=15):
    """(rc, stdout, stderr) of a command; text in and out."""
    p = subprocess.run(argv, input=input.encode() if isinstance(input, str)
                       else input, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), \
        p.stderr.decode(errors="replace")


def unavailable(tools=("ip", "nft")):
    """Why namespaces cannot be used here, or None."""
    if os.geteuid() != 0:
        return "needs root (ip netns, nft)"
    for tool in tools:
        if not shutil.which(tool):
            return "%s not installed" % tool
    return None


def for_case(ctx, prefix, role, tools=("ip", "nft")):
    """A namespace named prefix + role for one case of the harness
    (tests/lib/tftpx_test.py): the case is skipped when namespaces or one
    of tools are missing here, and the namespace is deleted at the case's
    cleanup."""
    from tftpx_test import Skip
    why = unavailable(tools)
    if why:
        raise Skip(why)
    ns = NetNS(prefix + role)
    ctx.defer(ns.delete)
    return ns


def _setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc().setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, "setns %s: %s" % (path, os.strerror(e)))
    finally:
        os.close(fd)


class NetNS:
    """A private network namespace with lo up; deleted by delete()."""

    def __init__(self, prefix="tftpx", extra_addr=False):
        self.name = "%s-%d-%d" % (prefix, os.getpid(), next(_ids))
        self.home = None            # our own namespace while entered
        rc, _, err = sh(["ip", "netns", "add", self.name])
        if rc != 0:
            raise Skip("ip netns add failed: %s" % err.strip())
        with _lock:
            _live[self.name] = self
        rc, _, err = sh(["ip", "-n", self.name, "link", "set", "lo", "up"])
        if rc == 0 and extra_addr:
            # for programs that resolve "127.0.0.1" with AI_ADDRCONFIG
            rc, _, err = sh(["ip", "-n", self.name, "addr", "add",
                             EXTRA_ADDR, "dev", "lo"])
        if rc != 0:
            self.delete()
            raise Fail("setting up namespace lo: %s" % err.strip())

    def __repr__(self):
        return "NetNS(%s)" % self.name

    # ---------------------------------------------------------- commands

    def argv(self, cmd):
        return ["ip", "netns", "exec", self.name] + list(cmd)

    def run(self, cmd, input=None, timeout=15):
        """(rc, stdout, stderr) of cmd run inside."""
        return sh(self.argv(cmd), input=input, timeout=timeout)

    def must(self, cmd, input=None, timeout=15):
        """stdout of cmd run inside; Fail naming it when it fails."""
        rc, out, err = self.run(cmd, input, timeout)
        if rc != 0:
            raise Fail("in %s: %s: %s" % (self.name, " ".join(cmd),
                                          (err or out).strip()[-300:]))
        return out

    def ip(self, *args):
        """`ip -n NAME ARGS`; Fail when it fails."""
        argv = ["ip", "-n", self.name] + [str(a) for a in args]
        rc, out, err = sh(argv)
        if rc != 0:
            raise Fail("%s: %s" % (" ".join(argv), err.strip()))
        return out

    def sysctl(self, key, value):
        """Set net.* key inside (written to /proc/sys, which shows the
        namespace of the process that opens it)."""
        path = "/proc/sys/" + key.replace(".", "/")
        self.must(["sh", "-c", 'echo "$1" > "$2"', "sh", str(value), path])

    def nft(self, script):
        rc, _, err = self.run(["nft", "-f", "-"], input=script)
        if rc != 0:
            raise Fail("nft -f failed: %s; script: %s" %
                       (err.strip(), " ".join(script.split())))

    def counters(self, table=None):
        """{comment: packets} for the rules with a counter and a comment,
        of the whole ruleset or of table ("inet f")."""
        cmd = ["nft", "-j", "list"] + (["table"] + table.split() if table
                                       else ["ruleset"])
        rc, out, err = self.run(cmd)
        if rc != 0:
            raise Fail("nft list failed: %s" % err.strip())
        got = {}
        for item in json.loads(out).get("nftables", []):
            r = item.get("rule")
            if not r or "comment" not in r:
                continue
            for e in r.get("expr", []):
                if "counter" in e:
                    got[r["comment"]] = e["counter"]["packets"]
        return got

    # ---------------------------------------------------------- topology

    def veth(self, other, name, peer_name, addr=(), peer_addr=(), mtu=None):
        """A veth pair: `name` here, `peer_name` in other (None: here too),
        both with mtu, the addresses ("10.1.2.3/24", "fd00::1/64", a str or
        a list) and up.  IPv6 addresses skip duplicate address detection,
        so they are usable at once."""
        there = other if other is not None else self
        self.ip("link", "add", name, "type", "veth", "peer", "name",
                peer_name, "netns", there.name)
        for ns, dev, addrs in ((self, name, addr), (there, peer_name,
                                                     peer_addr)):
            if mtu is not None:
                ns.ip("link", "set", dev, "mtu", mtu)
            for a in [addrs] if isinstance(addrs, str) else addrs:
                extra = ["nodad"] if ":" in a else []
                ns.ip("addr", "add", a, "dev", dev, *extra)
            ns.ip("link", "set", dev, "up")
        return name, peer_name

    def tap(self, name, addr=(), mtu=None):
        """A persistent tap device `name` here with mtu, the addresses and
        up: QEMU started inside (argv()) attaches to it with `-netdev
        tap,ifname=NAME,script=no,downscript=no`.  It has no carrier until
        QEMU holds it open; it goes away with the namespace."""
        self.ip("tuntap", "add", "dev", name, "mode", "tap")
        if mtu is not None:
            self.ip("link", "set", name, "mtu", mtu)
        for a in [addr] if isinstance(addr, str) else addr:
            self.ip("addr", "add", a, "dev", name,
                    *(["nodad"] if ":" in a else []))
        self.ip("link", "set", name, "up")
        return name

    def route(self, dest, via, dev=None):
        """ip route add dest via via [dev dev] ("default" for dest)."""
        self.ip(*(["-6"] if ":" in via else []), "route", "add", dest, "via",
                via, *(["dev", dev] if dev else []))

    def forwarding(self, on=True):
        """Forward IPv4 and IPv6 between this namespace's interfaces."""
        self.sysctl("net.ipv4.ip_forward", int(on))
        self.sysctl("net.ipv6.conf.all.forwarding", int(on))

    def socket(self, family=_socket.AF_INET, type=_socket.SOCK_DGRAM,
               proto=0):
        """A socket that lives in this namespace (the caller's thread stays
        in its own)."""
        got = {}

        def inside():
            try:
                _setns("/run/netns/" + self.name)
                got["s"] = _socket.socket(family, type, proto)
            except Exception as e:
                got["e"] = e
        t = threading.Thread(target=inside, daemon=True)
        t.start()
        t.join()
        if "e" in got:
            raise Fail("socket in %s: %s" % (self.name, got["e"]))
        return got["s"]

    # ---------------------------------------------------------- lifetime

    def enter(self):
        """Move the calling thread (and what it starts later) inside."""
        self.home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            _setns("/run/netns/" + self.name)
        except OSError:
            os.close(self.home)
            self.home = None
            raise

    def leave(self):
        if self.home is not None:
            libc().setns(self.home, CLONE_NEWNET)
            os.close(self.home)
            self.home = None

    def pids(self):
        _, out, _ = sh(["ip", "netns", "pids", self.name], timeout=10)
        return [int(p) for p in out.split() if p.isdigit() and
                int(p) != os.getpid()]

    def delete(self):
        """Leave, end what still runs inside (only what a test started
        there can be), delete.  Safe to call twice, and from two threads
        at once: it stays in the registry until it is gone, so that
        delete_all() on a signal deletes it too, whatever a case's own
        delete() was doing when the suite exits."""
        self.leave()
        with _lock:
            if self.name not in _live:
                return
        for _ in range(3):
            try:
                pids = self.pids()
            except (OSError, subprocess.SubprocessError):
                break
            if not pids:
                break
            for p in pids:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.1)
        try:
            sh(["ip", "netns", "del", self.name], timeout=10)
        except (OSError, subprocess.SubprocessError):
            pass
        with _lock:
            _live.pop(self.name, None)


def delete_all():
    """Delete every namespace made here and not yet deleted."""
    with _lock:
        live = list(_live.values())
    for ns in live:
        try:
            ns.delete()
        except Exception:
            pass


at_exit(delete_all)
