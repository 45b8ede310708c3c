#!/usr/bin/env python3
"""tests/e2e/perclient.py - `tftpx serve --per-client ip|mac DIR` (issue 17,
dnsmasq's --tftp-unique-root), between network namespaces joined by veth
pairs, so that every client has a real MAC address (stdlib only).

Run from the repo root as root:  python3 tests/e2e/perclient.py
                                 [-k SUBSTRING] [-j N] [--list]

Built on the harness in tests/lib/tftpx_test.py and its namespaces
(tests/lib/netns.py).  Each case prints one line "PASS name", "FAIL name:
reason" or "SKIP name: reason"; extra lines start with "INFO ".

What is under test: a get of NAME is served from DIR/<client IP>/NAME
(ip: the address as inet_ntop writes it, 10.88.1.2 or fd00:88:1::2) or
DIR/<MAC>/NAME (mac: lower-case hex digits joined by dashes,
02-00-00-00-00-0a) when that directory holds NAME, else from DIR/NAME:
the shared files stay reachable from a client's directory (dnsmasq's
--tftp-unique-root serves nothing else once the directory exists; README
says why tftpx differs).  The MAC is the server kernel's neighbour entry
for the client on the interface the request came in on (src/neigh.c);
without a usable one (none, INCOMPLETE, FAILED) DIR serves.  An upload
(--upload) lands in the client's directory when it exists, in DIR
otherwise.

The picture: the server's namespace S, a veth to each client's namespace
(each client has its own link and subnet; the clients' MACs are set):

    A  c0 10.88.1.2 fd00:88:1::2 02:00:00:00:00:0a --- s1 10.88.1.1 fd00:88:1::1  S
    B  c0 10.88.2.2 fd00:88:2::2 02:00:00:00:00:0b --- s2 10.88.2.1 fd00:88:2::1  S
    C  c0 10.88.3.2 fd00:88:3::2 02:00:00:00:00:0c --- s3 10.88.3.1 fd00:88:3::1  S

`tftpx serve --allow-root -v -l 0.0.0.0:69 -l [::]:69 --per-client MODE
[--upload] DIR` runs in S.  Clients: tftpx get/put, busybox tftp, curl,
and raw packets from a socket made in a client's namespace.

  per_client_mac            A and B get their own boot.cfg, C (no
                            directory; an upper-case 02-00-00-00-00-0C
                            beside it) gets DIR/boot.cfg; A's IP directory
                            is not used in mac mode; A gets DIR/pxelinux.0,
                            which its directory lacks.
  per_client_ip             the same by IP directories; the MAC
                            directories are not used in ip mode.
  per_client_ipv6           ip mode over IPv6 (DIR/fd00:88:1::2/...), and
                            mac mode over IPv6 (the MAC from neighbour
                            discovery).
  per_client_upload         --upload --per-client mac: puts from A and B
                            land in their directories, C's in DIR; A's
                            own get returns its upload.
  per_client_mac_unknown    the server has no neighbour entry for the
                            client (flushed; the client knows the server's
                            MAC from a static entry, so it neither ARPs
                            nor solicits): DIR serves.  Answering makes
                            the server resolve the client, so the next
                            request gets the client's directory; an entry
                            in state FAILED is unknown again.
  per_client_mac_seccomp    mac mode under --seccomp as nobody: the
                            netlink lookup is allowed (no SIGSYS), the
                            client gets its own file.
  pxelinux_lookup_sequence  pxelinux's config search by raw RRQs with its
                            options (tsize 0, blksize 1408):
                            pxelinux.cfg/01-<mac>, the IP in upper-case
                            hex (0A580102), one hex digit less at a time
                            down to one (0), then pxelinux.cfg/default.
                            Every missing name gets ERROR 1 at once (under
                            a second); the first present one is served.
                            DIR holds pxelinux.cfg/0A5801 (A's subnet) and
                            pxelinux.cfg/default; B's directory holds its
                            own pxelinux.cfg/default.  A (no directory)
                            stops at the shared 0A5801 after three
                            refusals; B gets its own default after nine
                            (busybox fetches it too); C (no directory)
                            gets the shared default after nine.

Found while writing it (doc/notes/netns-testing.md): a unicast datagram
that arrives does not create a neighbour entry.  The server learns a
client's MAC from the client's ARP request or neighbour solicitation for
the server (the usual case: an entry in STALE), or by resolving the client
itself when it sends (its answer, or an ICMP port unreachable).

Namespaces (tftpx-pc-ROLE-PID-N) are made and deleted by each case (and by
the harness on a signal or when the time budget runs out).
"""

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TESTS, "lib"))
from tftpx_test import (  # noqa: E402
    BOTH, DATA, ERROR, OACK, Fail, Peer, Server, Skip, TFTPX, blk_of, case,
    check, describe, expect_error, info, main, oack_opts, op_of,
    outcome, pkt_ack, pkt_rrq, raw_receive, read_bytes, root_with,
    proc_status, temps_in, write_bytes)
import netns  # noqa: E402

SUITE_BUDGET = 180.0
PORT = 69
# what pxelinux asks for with every RRQ (core/fs/pxe/tftp.c)
PXE_OPTS = (("tsize", "0"), ("blksize", "1408"))
try:
    NOBODY = pwd.getpwnam("nobody").pw_uid
except KeyError:
    NOBODY = 65534


# ---------------------------------------------------------------- set-up

_has_option = {}


def need_per_client():
    """Fail in one line while `tftpx serve` has no --per-client."""
    if "v" not in _has_option:
        r = subprocess.run([TFTPX, "serve", "--help"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=10)
        _has_option["v"] = b"--per-client" in r.stdout
    check(_has_option["v"], "tftpx serve --help lists no --per-client")


def mkns(ctx, role):
    """A namespace of this case (skipped without namespaces), deleted at
    its cleanup."""
    return netns.for_case(ctx, "tftpx-pc-", role, ("ip",))


class Client:
    """Client number i (A=1, B=2, C=3) in its namespace."""

    def __init__(self, ns, i):
        self.ns = ns
        self.i = i
        self.name = "ABC"[i - 1]
        self.v4 = "10.88.%d.2" % i
        self.v6 = "fd00:88:%d::2" % i
        self.srv4 = "10.88.%d.1" % i
        self.srv6 = "fd00:88:%d::1" % i
        self.mac = "02:00:00:00:00:%02x" % (9 + i)
        self.macdir = self.mac.replace(":", "-")
        self.sdev = "s%d" % i           # the server's end of its link

    def addr(self, fam):
        return self.v6 if fam == 6 else self.v4

    def server(self, fam):
        return self.srv6 if fam == 6 else self.srv4

    def peer(self, ctx, fam):
        """A raw UDP endpoint in this client's namespace, towards S."""
        f = socket.AF_INET6 if fam == 6 else socket.AF_INET
        return Peer(ctx, host=self.server(fam), sock=self.ns.socket(f))


class Topo:
    """S and the clients named (a subset of "ABC"), one veth each."""

    def __init__(self, ctx, names="ABC"):
        need_per_client()
        self.s = mkns(ctx, "s")
        self.c = {}
        for n in names:
            i = "ABC".index(n) + 1
            ns = mkns(ctx, n.lower())
            cl = Client(ns, i)
            self.s.veth(ns, cl.sdev, "c0", [cl.srv4 + "/24", cl.srv6 + "/64"],
                        [cl.v4 + "/24", cl.v6 + "/64"])
            ns.ip("link", "set", "dev", "c0", "address", cl.mac)
            self.c[n] = cl

    def server_mac(self, cl):
        j = json.loads(self.s.ip("-j", "link", "show", "dev", cl.sdev))
        return j[0]["address"]

    def neigh(self, cl, fam):
        """The server's neighbour entry for cl ("" when none), as ip
        shows it."""
        return self.s.ip("neigh", "show", "to", cl.addr(fam), "dev",
                         cl.sdev).strip()


def serve(ctx, t, root, mode, *args):
    """`tftpx serve -v --per-client mode` in S on port 69 of every
    address; ready at its serving line."""
    need_per_client()
    argv = t.s.argv([TFTPX, "serve", "-v", "-l", "0.0.0.0:%d" % PORT,
                     "-l", "[::]:%d" % PORT, "--per-client", mode] +
                    list(args) + [root])
    if "--user" not in args:
        argv.insert(argv.index("serve") + 1, "--allow-root")
    return Server(ctx, root, argv=argv)


def ok_line(srv, kind, name, client, timeout=5.0):
    """The server's ok line for kind "name" from client's address; Fail
    with the last finished line for it when there is none."""
    def mine(l):
        return ((" %s " % kind) in l and ('"%s"' % name) in l and
                client in l)
    l = srv.wait_for(lambda l: mine(l) and outcome(l) == "ok", timeout)
    if l is None:
        ends = srv.grep(lambda l: mine(l) and outcome(l) is not None)
        check(ends, "no finished %s line for %r from %s on the server; "
              "last lines: %s" % (kind, name, client, srv.tail()))
        raise Fail("server logged %r" % ends[-1])
    return l


# ---------------------------------------------------------------- clients

def need_tool(tool):
    if tool != "tftpx" and not shutil.which(tool):
        raise Skip("%s not installed" % tool)


def hostport(host):
    return ("[%s]:%d" if ":" in host else "%s:%d") % (host, PORT)


def get_argv(tool, host, remote, local):
    if tool == "tftpx":
        return [TFTPX, "get", "-q", "-t", "1", "-r", "2", hostport(host),
                remote, local]
    if tool == "busybox":
        return ["busybox", "tftp", "-g", "-r", remote, "-l", local, host,
                str(PORT)]
    if tool == "curl":
        return ["curl", "-sS", "--max-time", "20", "-o", local,
                "tftp://%s/%s" % (hostport(host), remote)]
    raise AssertionError(tool)


def put_argv(tool, host, local, remote):
    if tool == "tftpx":
        return [TFTPX, "put", "-q", "-t", "1", "-r", "2", hostport(host),
                local, remote]
    if tool == "busybox":
        return ["busybox", "tftp", "-p", "-l", local, "-r", remote, host,
                str(PORT)]
    if tool == "curl":
        return ["curl", "-sS", "--max-time", "20", "-T", local,
                "tftp://%s/%s" % (hostport(host), remote)]
    raise AssertionError(tool)


def run_in(ctx, cl, argv, cwd):
    """(exit status, its words) of argv run in cl's namespace; busybox
    exits 0 after giving up on its last ACK ("timeout")."""
    rc, out, err, secs = ctx.run(cl.ns.argv(argv), timeout=30, cwd=cwd)
    err = err.strip() or out.decode("utf-8", "replace").strip()
    if rc == 0 and argv[0] == "busybox" and "timeout" in err:
        rc = 1
    return rc, "%s (%.1f s)" % (err[-200:], secs)


def fetch(ctx, srv, cl, tool, fam, name):
    """name fetched by tool from client cl over fam: its bytes."""
    need_tool(tool)
    out = ctx.tmpdir("out")
    dst = os.path.join(out, "got")
    rc, err = run_in(ctx, cl, get_argv(tool, cl.server(fam), name, dst), out)
    check(rc == 0, "%s get %s by %s from %s exited %d: %s; server: %s" %
          (tool, name, cl.name, cl.addr(fam), rc, err, srv.tail(3)))
    check(os.path.exists(dst), "%s get %s by %s: no file" % (tool, name,
                                                            cl.name))
    return read_bytes(dst)


def put(ctx, srv, cl, tool, fam, data, remote):
    """data uploaded by tool from client cl as remote; the server's ok
    line for it."""
    need_tool(tool)
    loc = ctx.tmpdir("loc")
    src = write_bytes(os.path.join(loc, "up"), data)
    rc, err = run_in(ctx, cl, put_argv(tool, cl.server(fam), src, remote),
                     loc)
    check(rc == 0, "%s put %s by %s exited %d: %s; server: %s" %
          (tool, remote, cl.name, rc, err, srv.tail(3)))
    return ok_line(srv, "WRQ", remote, cl.addr(fam))


def content(where, name="boot.cfg"):
    """The distinct bytes of one copy of name: where says which."""
    return ("%s of %s\n" % (name, where)).encode() * 40   # > 512: 2 blocks


def expect_get(ctx, srv, cl, tool, fam, name, where):
    """cl's get of name by tool is the copy in where (a directory of the
    root, or "DIR")."""
    got = fetch(ctx, srv, cl, tool, fam, name)
    want = content(where, name)
    if got != want:
        first = got.split(b"\n", 1)[0].decode("utf-8", "replace")
        raise Fail("client %s (%s, %s) got %s of %r (%d bytes), not the "
                   "one of %s" % (cl.name, cl.addr(fam), cl.mac, tool,
                                  first, len(got), where))
    ok_line(srv, "RRQ", name, cl.addr(fam))


def raw_fetch(ctx, srv, cl, fam, name, opts=()):
    """A raw RRQ of name from cl: (first reply, its bytes or None, the
    seconds to the first reply).  An ERROR is the reply, not a Fail."""
    peer = cl.peer(ctx, fam)
    t0 = time.monotonic()
    peer.send(pkt_rrq(name, "octet", opts), srv.port)
    pkt, tid = peer.expect(3.0, "reply to RRQ %r from %s" % (name, cl.name))
    secs = time.monotonic() - t0
    if op_of(pkt) == ERROR:
        return pkt, None, secs
    if op_of(pkt) == OACK:
        o = dict(oack_opts(pkt))
        peer.send(pkt_ack(0), tid)
        data = raw_receive(peer, tid, None, int(o.get("blksize", 512)),
                           int(o.get("windowsize", 1)), limit=20)
    elif op_of(pkt) == DATA and blk_of(pkt) == 1:
        data = raw_receive(peer, tid, pkt, 512, 1, limit=20)
    else:
        raise Fail("RRQ %r from %s answered with %s" % (name, cl.name,
                                                        describe(pkt)))
    return pkt, data, secs


def which_copy(data, name="boot.cfg"):
    """Whose copy data is (the words after "of"), for messages."""
    if data is None:
        return "nothing"
    first = data.split(b"\n", 1)[0].decode("utf-8", "replace")
    pre = "%s of " % name
    return first[len(pre):] if first.startswith(pre) else repr(first[:40])


# ---------------------------------------------------------------- cases

@case("per_client_mac", limit=60)
def _(ctx):
    t = Topo(ctx)
    a, b, c = t.c["A"], t.c["B"], t.c["C"]
    root = root_with(ctx, {
        "boot.cfg": content("DIR"),
        a.macdir + "/boot.cfg": content(a.macdir),
        b.macdir + "/boot.cfg": content(b.macdir),
        # decoys: mac mode names directories by lower-case MAC only
        c.macdir.upper() + "/boot.cfg": content(c.macdir.upper()),
        a.v4 + "/boot.cfg": content(a.v4),
        "pxelinux.0": content("DIR", "pxelinux.0"),
    })
    srv = serve(ctx, t, root, "mac")
    expect_get(ctx, srv, a, "tftpx", 4, "boot.cfg", a.macdir)
    # a name A's directory lacks: the shared one
    expect_get(ctx, srv, a, "busybox", 4, "pxelinux.0", "DIR")
    expect_get(ctx, srv, b, "busybox", 4, "boot.cfg", b.macdir)
    expect_get(ctx, srv, c, "curl", 4, "boot.cfg", "DIR")
    expect_get(ctx, srv, a, "curl", 4, "boot.cfg", a.macdir)
    expect_get(ctx, srv, c, "tftpx", 4, "boot.cfg", "DIR")
    info(ctx, "server's entries: %s | %s | %s" % (
        t.neigh(a, 4), t.neigh(b, 4), t.neigh(c, 4)))


@case("per_client_ip", limit=60)
def _(ctx):
    t = Topo(ctx)
    a, b, c = t.c["A"], t.c["B"], t.c["C"]
    root = root_with(ctx, {
        "boot.cfg": content("DIR"),
        a.v4 + "/boot.cfg": content(a.v4),
        b.v4 + "/boot.cfg": content(b.v4),
        # decoy: ip mode does not look at MAC directories
        c.macdir + "/boot.cfg": content(c.macdir),
    })
    srv = serve(ctx, t, root, "ip")
    expect_get(ctx, srv, a, "tftpx", 4, "boot.cfg", a.v4)
    expect_get(ctx, srv, b, "busybox", 4, "boot.cfg", b.v4)
    expect_get(ctx, srv, c, "curl", 4, "boot.cfg", "DIR")
    expect_get(ctx, srv, b, "tftpx", 4, "boot.cfg", b.v4)


@case("per_client_ipv6", limit=60)
def _(ctx):
    t = Topo(ctx)
    a, b, c = t.c["A"], t.c["B"], t.c["C"]
    root = root_with(ctx, {
        "boot.cfg": content("DIR"),
        a.v6 + "/boot.cfg": content(a.v6),
        b.v6 + "/boot.cfg": content(b.v6),
        a.macdir + "/boot.cfg": content(a.macdir),
        c.macdir + "/boot.cfg": content(c.macdir),
    })
    # ip mode: A, B by their IPv6 directories; C has none
    srv = serve(ctx, t, root, "ip")
    expect_get(ctx, srv, a, "tftpx", 6, "boot.cfg", a.v6)
    expect_get(ctx, srv, b, "curl", 6, "boot.cfg", b.v6)
    expect_get(ctx, srv, c, "tftpx", 6, "boot.cfg", "DIR")
    srv.stop()
    # mac mode over IPv6: the MAC comes from neighbour discovery; B has
    # no MAC directory here
    srv = serve(ctx, t, root, "mac")
    expect_get(ctx, srv, a, "tftpx", 6, "boot.cfg", a.macdir)
    expect_get(ctx, srv, b, "curl", 6, "boot.cfg", "DIR")
    expect_get(ctx, srv, c, "tftpx", 6, "boot.cfg", c.macdir)
    info(ctx, "server's entries: %s | %s | %s" % (
        t.neigh(a, 6), t.neigh(b, 6), t.neigh(c, 6)))


@case("per_client_upload", limit=60)
def _(ctx):
    t = Topo(ctx)
    a, b, c = t.c["A"], t.c["B"], t.c["C"]
    root = root_with(ctx, {
        a.macdir + "/boot.cfg": content(a.macdir),
        b.macdir + "/boot.cfg": content(b.macdir),
    })
    srv = serve(ctx, t, root, "mac", "--upload")
    ups = [(a, "tftpx", 4, "up.bin", a.macdir),
           (b, "busybox", 4, "up.bin", b.macdir),
           (c, "curl", 4, "up.bin", None),
           (a, "tftpx", 6, "up6.bin", a.macdir)]
    for cl, tool, fam, name, where in ups:
        data = content("%s by %s" % (cl.name, tool), name)
        put(ctx, srv, cl, tool, fam, data, name)
        path = os.path.join(root, where, name) if where else \
            os.path.join(root, name)
        check(os.path.exists(path), "%s's upload of %s by %s is not at "
              "%s; the root holds %s" % (cl.name, name, tool,
                                         os.path.relpath(path, root),
                                         sorted(walk(root))))
        check(read_bytes(path) == data, "%s holds %r, not %s's upload" %
              (os.path.relpath(path, root), which_copy(read_bytes(path),
                                                       name), cl.name))
    check(read_bytes(os.path.join(root, "up.bin")) ==
          content("C by curl", "up.bin"), "DIR/up.bin is not C's upload")
    check(not os.path.exists(os.path.join(root, "up6.bin")),
          "A's IPv6 upload landed in DIR too")
    check(not temps_in(root), "temp files left: %s" % temps_in(root))
    # and A reads its own upload back
    expect_get(ctx, srv, a, "busybox", 4, "up.bin", "A by tftpx")


def walk(root):
    for d, _, files in os.walk(root):
        for f in files:
            yield os.path.relpath(os.path.join(d, f), root)


@case("per_client_mac_unknown", fams=BOTH, limit=60)
def _(ctx):
    fam = 6 if ctx.v6 else 4
    t = Topo(ctx, "A")
    a = t.c["A"]
    root = root_with(ctx, {
        "boot.cfg": content("DIR"),
        a.macdir + "/boot.cfg": content(a.macdir),
    })
    srv = serve(ctx, t, root, "mac")
    # A knows the server's MAC without asking: it sends no ARP request or
    # neighbour solicitation, the server learns nothing from A before
    # it answers
    a.ns.ip("neigh", "replace", a.server(fam), "lladdr", t.server_mac(a),
            "dev", "c0", "nud", "permanent")
    t.s.ip("neigh", "flush", "dev", a.sdev)
    e0 = t.neigh(a, fam)
    check(e0 == "", "the server still has an entry for A after the flush: "
          "%r" % e0)
    _, d1, _ = raw_fetch(ctx, srv, a, fam, "boot.cfg")
    e1 = t.neigh(a, fam)
    # the server resolved A to answer: A's MAC is known now
    _, d2, _ = raw_fetch(ctx, srv, a, fam, "boot.cfg")
    # an entry given up on (FAILED) is no MAC
    t.s.ip("neigh", "replace", a.addr(fam), "dev", a.sdev, "nud", "failed")
    e2 = t.neigh(a, fam)
    _, d3, _ = raw_fetch(ctx, srv, a, fam, "boot.cfg")
    info(ctx, "no entry -> %s; after the answer: %r -> %s; %r -> %s" % (
        which_copy(d1), e1, which_copy(d2), e2, which_copy(d3)))
    check(d1 == content("DIR"), "with no neighbour entry for A the server "
          "served %s, not DIR/boot.cfg" % which_copy(d1))
    check("lladdr %s" % a.mac in e1, "after answering A the server has no "
          "entry with A's MAC: %r" % e1)
    check(d2 == content(a.macdir), "once the server knew A's MAC (%r) it "
          "served %s, not A's" % (e1, which_copy(d2)))
    check("FAILED" in e2, "the entry is not FAILED: %r" % e2)
    check(d3 == content("DIR"), "with A's entry FAILED the server served "
          "%s, not DIR/boot.cfg" % which_copy(d3))


@case("per_client_mac_seccomp", limit=60)
def _(ctx):
    t = Topo(ctx, "AC")
    a, c = t.c["A"], t.c["C"]
    root = root_with(ctx, {
        "boot.cfg": content("DIR"),
        a.macdir + "/boot.cfg": content(a.macdir),
    })
    os.chmod(root, 0o755)               # served as nobody
    try:
        srv = serve(ctx, t, root, "mac", "--seccomp", "--user", "nobody")
    except Fail as e:
        # make asan: the server refuses --seccomp and exits at start
        if "sanitizer build" in str(e):
            raise Skip("sanitizer build: --seccomp is refused there")
        raise
    st = proc_status(srv.pid)
    check(st.get("Seccomp") == "2" and st.get("Uid", "").split()[:1] ==
          [str(NOBODY)], "not under seccomp as nobody: Seccomp %s, Uid %s" %
          (st.get("Seccomp"), st.get("Uid")))
    expect_get(ctx, srv, a, "tftpx", 4, "boot.cfg", a.macdir)
    expect_get(ctx, srv, a, "tftpx", 6, "boot.cfg", a.macdir)
    expect_get(ctx, srv, c, "tftpx", 4, "boot.cfg", "DIR")
    check(srv.p.poll() is None, "the server exited (%s; -31 is SIGSYS: a "
          "system call the filter lacks): %s" % (srv.p.poll(), srv.tail()))


def pxe_names(cl):
    """pxelinux's search for client cl: 01-MAC, the IP in upper-case hex
    cut one digit at a time, default."""
    h = "".join("%02X" % int(x) for x in cl.v4.split("."))
    return (["pxelinux.cfg/01-" + cl.macdir] +
            ["pxelinux.cfg/" + h[:n] for n in range(8, 0, -1)] +
            ["pxelinux.cfg/default"])


def pxe_walk(ctx, srv, cl):
    """pxelinux's search by raw RRQs from cl until a name is served:
    (that name, its bytes, [names refused with ERROR 1], slowest
    refusal in s)."""
    missed, slow = [], 0.0
    for name in pxe_names(cl):
        pkt, data, secs = raw_fetch(ctx, srv, cl, 4, name, PXE_OPTS)
        if data is not None:
            return name, data, missed, slow
        try:
            expect_error(pkt, 1)
        except Fail as e:
            raise Fail("%s: RRQ %s: %s" % (cl.name, name, e))
        missed.append(name)
        slow = max(slow, secs)
    raise Fail("%s: every name of the search was refused: %s" % (
        cl.name, " ".join(missed)))


@case("pxelinux_lookup_sequence", limit=60)
def _(ctx):
    t = Topo(ctx)
    a, b, c = t.c["A"], t.c["B"], t.c["C"]
    check(pxe_names(a)[1] == "pxelinux.cfg/0A580102", "hex of %s: %s" %
          (a.v4, pxe_names(a)[1]))
    cfg, dflt = "pxelinux.cfg/0A5801", "pxelinux.cfg/default"
    root = root_with(ctx, {
        cfg: content("DIR", cfg),
        dflt: content("DIR", dflt),
        b.macdir + "/" + dflt: content(b.macdir, dflt),
    })
    srv = serve(ctx, t, root, "mac")
    want = ((a, cfg, "DIR", 3), (b, dflt, b.macdir, 9), (c, dflt, "DIR", 9))
    for cl, name, where, n in want:
        got, data, missed, slow = pxe_walk(ctx, srv, cl)
        info(ctx, "%s: %d refused (slowest %.3f s), then %s of %s" % (
            cl.name, len(missed), slow, got, which_copy(data, got)))
        check(missed == pxe_names(cl)[:n], "%s: refused %s; expected "
              "ERROR 1 for %s" % (cl.name, " ".join(missed),
                                  " ".join(pxe_names(cl)[:n])))
        check(got == name, "%s was served %s, not %s" % (cl.name, got,
                                                          name))
        check(data == content(where, name), "%s's %s is %s, not the one "
              "of %s" % (cl.name, name, which_copy(data, name), where))
        check(slow < 1.0, "%s: a refusal took %.2f s" % (cl.name, slow))
    expect_get(ctx, srv, b, "busybox", 4, dflt, b.macdir)
    # the refusals are the server's "file not found", logged as such
    l = srv.wait_for(lambda l: '"pxelinux.cfg/0A5"' in l and
                     b.v4 in l and outcome(l) is not None, 3)
    check(l is not None and outcome(l) == "error 1", "no ERROR 1 line for "
          "B's pxelinux.cfg/0A5: %r" % l)


if __name__ == "__main__":
    sys.exit(main(budget=SUITE_BUDGET))
