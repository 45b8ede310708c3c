#!/usr/bin/env python3
"""tests/e2e/nat.py - tftpx behind NAT, in a container, on small and large
path MTUs (stdlib only).

Run from the repo root as root:  python3 tests/e2e/nat.py [-k SUBSTRING]
                                 [-j N] [--list]

Built on the harness in tests/lib/tftpx_test.py and its namespaces
(tests/lib/netns.py).  Each case prints one line "PASS name", "FAIL name:
reason" or "SKIP name: reason"; extra lines start with "INFO ".

The server options under test: --single-port (every transfer sends from
and receives on the listening socket its request came to), --port-range
LOW:HIGH (transfer sockets inside the range; a request is refused with
ERROR 0 when it is exhausted), --mtu N and the blksize cap (granted
blksize <= path MTU - 32 for IPv4, - 52 for IPv6; -v says "blksize
65464->1248 (path MTU 1280)").

  nat_*   client --veth-- router --veth-- server, three namespaces.  The
          router masquerades the client (nftables `masquerade` in a nat
          postrouting chain; no TFTP conntrack helper).  A reply from a
          port the request did not go to matches no NAT mapping: conntrack
          takes it for a new flow addressed to the router itself, so it
          meets the router's INPUT hook (not FORWARD) with ct state new.
          There the rule
              iifname "r1" ip saddr 10.77.2.2 udp sport != 69
                  ct state new counter drop comment "unmapped_from_server"
          counts and drops it.  Default mode: `tftpx get` fails, and the
          counter shows why (every DATA copy the server sent died there;
          nothing from the server was forwarded to the client).
          --single-port: get and put byte-exact (0 B, 512 B, 1 MiB) with
          busybox, curl, tftp-hpa, atftp and tftpx; every reply went back
          through the mapping (ct state established), none was unmapped.
  pub_*   a published port, as `docker run -p 69:69/udp`: the router DNATs
          udp/69 of its outside address to the server's namespace and
          masquerades the server's own traffic; the FORWARD hook accepts
          only the published ports toward the server and counts and drops
          everything else ("unpublished").  --single-port works (tftpx,
          busybox); default mode fails (the client's ACKs to the server's
          new port are the dropped packets); --port-range 40000:40009 works
          when that range is published too; with --port-range
          40000:40000 a second concurrent request is refused with ERROR 0
          and a log line naming the port range, and the server goes on
          serving.
  mtu_*   one server namespace, two veths: MTU 1280 and MTU 9000, a client
          namespace on each.  `tftpx get -b 65464`, busybox -b 65464 and
          curl --tftp-blksize 65464: byte-exact, the -v start line shows the
          cap (1248, 8968; --mtu 1000: 968; IPv6 on 1280: 1228) and no IP
          fragment left the server.  Fragments are counted by the netdev
          EGRESS hook of the server's veths (`ip frag-off & 0x3fff != 0`,
          `exthdr frag exists`): the inet OUTPUT and POSTROUTING hooks see
          a datagram before the kernel fragments it, so a rule there never
          counts a fragment (before Linux 5.16, which has no egress hook:
          the INGRESS hook of the client's end).  The counter is proved by
          mtu_fragment_counter_counts: a 4000-byte UDP datagram sent on
          purpose moves it by 4 (IPv4 and IPv6), a 1000-byte one does not.
  sp_*    demultiplexing in --single-port on loopback, by raw packets: two
          hosts fetching one file interleaved, one host from two ports at
          once (a get and a put), a stranger's DATA and ACK answered with
          ERROR 5 without disturbing live transfers, a stranger's ERROR not
          answered, a duplicate RRQ from the same port dropped, a different
          RRQ from the same port superseding the old transfer.
  uboot_* U-Boot under QEMU (tests/interop/uboot.py's machinery; arm64,
          virtio-net, 1 MiB, byte-exact by U-Boot's crc32).  Through
          slirp: a --single-port server behind QEMU's user networking,
          itself a NAT.  Through the nat_* namespaces: QEMU runs in the
          client namespace with its NIC on a tap device there (-netdev
          tap,ifname=tap0,script=no,downscript=no; tap0 10.77.3.1/24, the
          guest 10.77.3.2 with a static gatewayip 10.77.3.1), the client
          namespace forwards to the router, which routes 10.77.3.0/24 back
          and masquerades it too.  --single-port: tftpboot byte-exact,
          blksize 1468 granted, "unmapped_from_server" 0 and every DATA
          through the mapping.  Default mode (U-Boot with tftptimeout 1000,
          tftptimeoutcountmax 2, netretry no): tftpboot ends in "Retry
          count exceeded", every OACK the server sent (the first, its
          re-sends, one more for a re-sent RRQ) is a drop counted as
          "unmapped_from_server", nothing reached the guest.  On the
          mtu_* picture's 1280 side (tap0 with MTU 1280 in the client
          namespace, the guest 10.79.3.2): U-Boot asks for blksize 1468,
          the -v start line shows "blksize 1468->1248 (path MTU 1280)",
          the transfer runs at 1248 and no fragment left the server.

Namespaces (tftpx-nat-ROLE-PID-N) are made and deleted by each case (and
by the harness on a signal or when the time budget runs out); traffic
stays inside them or on loopback.
"""

import argparse
import os
import re
import shutil
import socket
import sys
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TESTS, "lib"))
from tftpx_test import (  # noqa: E402
    ACK, DATA, Fail, KIB, MIB, Server, Skip, TFTPX, blk_of, case, check,
    counter, describe, err_of, expect_error, main, op_of, outcome, pkt_ack,
    pkt_data, pkt_error, pkt_rrq, pkt_wrq, read_bytes, same_file, temps_in,
    write_bytes, write_random)
from tftpx_test import info  # noqa: E402
import netns  # noqa: E402

SUITE_BUDGET = 200.0


# ---------------------------------------------------------------- set-up

def need_options(ctx, *opts):
    """Fail in one line when `tftpx serve` does not take opts (the server
    options this suite is about, while they are being written)."""
    try:
        probe = ctx.server(ctx.tmpdir("probe"), *opts)
    except Fail as e:
        raise Fail("tftpx serve %s does not start: %s" % (
            " ".join(opts), str(e).split("stderr: ")[-1]))
    probe.stop()


def mkns(ctx, role):
    """A namespace of this case (skipped without namespaces), deleted at
    its cleanup."""
    return netns.for_case(ctx, "tftpx-nat-", role)


def serve(ctx, ns, root, listen, *args):
    """`tftpx serve -v` in ns; ready at its serving line."""
    argv = ns.argv([TFTPX, "serve", "--allow-root", "-v", "-l", listen] +
                   list(args) + [root])
    return Server(ctx, root, argv=argv)


def files(root, names=("1M", "0B", "512B")):
    """Random files named by size in root: {name: path}."""
    sizes = {"1M": MIB, "0B": 0, "512B": 512, "64K": 64 * KIB}
    return {n: write_random(os.path.join(root, n + ".bin"), sizes[n])
            for n in names}


def end_line(srv, kind, name, client=None, timeout=5.0):
    """The server's finished-transfer line for kind "name" (from the
    client "ADDR:PORT" if given), or None."""
    def pred(l):
        return ((" %s " % kind) in l and ('"%s"' % name) in l and
                (client is None or client in l) and outcome(l) is not None)
    return srv.wait_for(pred, timeout)


def expect_ok(srv, kind, name, timeout=5.0):
    """The server's ok line for kind "name"; Fail with the last finished
    line for it (or the last lines) when there is none."""
    l = srv.wait_for(lambda l: (" %s " % kind) in l and
                     ('"%s"' % name) in l and outcome(l) == "ok", timeout)
    if l is None:
        ends = srv.grep(lambda l: (" %s " % kind) in l and
                        ('"%s"' % name) in l and outcome(l) is not None)
        check(ends, "no finished %s line for %r on the server; last "
              "lines: %s" % (kind, name, srv.tail()))
        raise Fail("server logged %r" % ends[-1])
    return l


# ---------------------------------------------------------------- clients

TOOLS = {"tftpx": TFTPX, "busybox": "busybox", "curl": "curl",
         "tftphpa": "tftp", "atftp": "atftp"}


def need_tool(tool):
    if tool != "tftpx" and not shutil.which(TOOLS[tool]):
        raise Skip("%s not installed" % TOOLS[tool])


def url(host, port, name):
    return "tftp://%s:%d/%s" % ("[%s]" % host if ":" in host else host,
                                port, name)


def get_argv(tool, host, port, remote, local, blksize=None):
    b = str(blksize) if blksize else None
    if tool == "tftpx":
        hp = ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)
        return [TFTPX, "get", "-t", "1", "-r", "2"] + \
            (["-b", b] if b else []) + [hp, remote, local]
    if tool == "busybox":
        return ["busybox", "tftp", "-g"] + (["-b", b] if b else []) + \
            ["-r", remote, "-l", local, host, str(port)]
    if tool == "curl":
        return ["curl", "-sS", "--max-time", "20"] + \
            (["--tftp-blksize", b] if b else []) + \
            ["-o", local, url(host, port, remote)]
    if tool == "tftphpa":
        return ["tftp", "-6" if ":" in host else "-4", host, str(port),
                "-m", "binary", "-c", "get", remote, local]
    if tool == "atftp":
        return ["atftp", "--tftp-timeout", "1"] + \
            (["--option", "blksize " + b] if b else []) + \
            ["-g", "-r", remote, "-l", local, host, str(port)]
    raise AssertionError(tool)


def put_argv(tool, host, port, local, remote):
    if tool == "tftpx":
        hp = ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)
        return [TFTPX, "put", "-t", "1", "-r", "2", hp, local, remote]
    if tool == "busybox":
        return ["busybox", "tftp", "-p", "-l", local, "-r", remote, host,
                str(port)]
    if tool == "curl":
        return ["curl", "-sS", "--max-time", "20", "-T", local,
                url(host, port, remote)]
    if tool == "tftphpa":
        return ["tftp", "-6" if ":" in host else "-4", host, str(port),
                "-m", "binary", "-c", "put", local, remote]
    if tool == "atftp":
        return ["atftp", "--tftp-timeout", "1", "-p", "-l", local, "-r",
                remote, host, str(port)]
    raise AssertionError(tool)


def client_failed(tool, rc, err):
    """tftp-hpa exits 0 after an ERROR packet ("Error code" on stderr);
    busybox exits 0 when it gave up on its last ACK ("timeout")."""
    if rc != 0:
        return True
    if tool == "tftphpa" and "Error code" in err:
        return True
    return tool == "busybox" and "timeout" in err


def run_in(ctx, ns, argv, timeout=40, cwd=None):
    rc, out, err, secs = ctx.run(ns.argv(argv), timeout=timeout, cwd=cwd)
    err = err.strip() or out.decode("utf-8", "replace").strip()
    return rc, err, secs


def get_exact(ctx, ns, tool, host, port, srv, src, blksize=None):
    """A get by tool in ns of src's name, byte-exact, logged ok."""
    name = os.path.basename(src)
    dst = os.path.join(ctx.tmpdir("out"), name)
    argv = get_argv(tool, host, port, name, dst, blksize)
    rc, err, secs = run_in(ctx, ns, argv, cwd=os.path.dirname(dst))
    check(not client_failed(tool, rc, err), "%s get %s exited %d after "
          "%.1f s: %s; server: %s" % (tool, name, rc, secs, err[-200:],
                                      srv.tail(3)))
    bad = same_file(src, dst)
    check(bad is None, "%s get %s: %s" % (tool, name, bad))
    return expect_ok(srv, "RRQ", name)


def put_exact(ctx, ns, tool, host, port, srv, src, remote):
    """A put by tool in ns of src as remote, stored byte-exact."""
    argv = put_argv(tool, host, port, src, remote)
    rc, err, secs = run_in(ctx, ns, argv, cwd=os.path.dirname(src))
    check(not client_failed(tool, rc, err), "%s put %s exited %d after "
          "%.1f s: %s; server: %s" % (tool, remote, rc, secs, err[-200:],
                                      srv.tail(3)))
    l = expect_ok(srv, "WRQ", remote)
    bad = same_file(src, os.path.join(srv.root, remote))
    check(bad is None, "%s put %s: stored file %s" % (tool, remote, bad))
    check(not temps_in(srv.root), "temp files left: %s" % temps_in(srv.root))
    return l


def get_put_all(ctx, ns, tool, host, port, srv):
    """Gets and puts of 0 B, 512 B and 1 MiB (random bytes)."""
    src = files(srv.root)
    loc = files(ctx.tmpdir("loc"))
    for n in ("0B", "512B", "1M"):
        get_exact(ctx, ns, tool, host, port, srv, src[n])
        put_exact(ctx, ns, tool, host, port, srv, loc[n],
                  "up-%s-%s.bin" % (tool, n))


# ---------------------------------------------------------------- a) NAT
#
#   C 10.77.1.2 --c0/r0-- 10.77.1.1 R 10.77.2.1 --r1/s0-- 10.77.2.2 S
#
# uboot_* (guest=True): QEMU runs in C with its NIC on C's tap0, and C
# routes for it:
#   U-Boot 10.77.3.2 --tap0-- 10.77.3.1 C (forwarding) 10.77.1.2 --c0 ...
#
# R masquerades what leaves through r1 (from 10.77.1.0/24 and the guest's
# 10.77.3.0/24, which R routes via C).  Counters (comments):
#   masqueraded            new flows from the client, masqueraded (the NAT
#                          chain sees the first packet of a flow only)
#   unmapped_from_server   UDP from the server from a port other than 69
#                          that matches no mapping: input hook, ct state
#                          new; dropped (a home router drops it, or answers
#                          with ICMP port unreachable)
#   unmapped_other         anything else from the server side without a
#                          mapping (should stay 0)
#   through_nat            UDP from the server forwarded to the client
#                          (replies of a mapped flow, ct state established)

NAT_RULES = """
table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "r1" ip saddr { 10.77.1.0/24, 10.77.3.0/24 } counter masquerade comment "masqueraded"
  }
}
table inet filter {
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "r1" ip saddr 10.77.2.2 udp sport != 69 ct state new counter drop comment "unmapped_from_server"
    iifname "r1" ct state new counter drop comment "unmapped_other"
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "r1" oifname "r0" meta l4proto udp ct state established counter comment "through_nat"
    iifname "r1" oifname "r0" ct state new counter drop comment "new_from_outside"
  }
}
"""


def nat_topo(ctx, guest=False):
    """(client ns, router ns, server ns) of the NAT picture above; guest:
    with C's tap0 for a QEMU guest, C forwarding and R's route to it."""
    c, r, s = mkns(ctx, "c"), mkns(ctx, "r"), mkns(ctx, "s")
    r.veth(c, "r0", "c0", "10.77.1.1/24", "10.77.1.2/24")
    r.veth(s, "r1", "s0", "10.77.2.1/24", "10.77.2.2/24")
    c.route("default", "10.77.1.1")
    s.route("default", "10.77.2.1")
    r.forwarding()
    r.nft(NAT_RULES)
    if guest:
        c.tap("tap0", "10.77.3.1/24")
        c.forwarding()
        r.route("10.77.3.0/24", "10.77.1.2")
    return c, r, s


@case("nat_default_mode_fails_at_the_nat", limit=40)
def _(ctx):
    c, r, s = nat_topo(ctx)
    root = ctx.tmpdir("root")
    src = write_random(os.path.join(root, "f.bin"), 64 * KIB)
    srv = serve(ctx, s, root, "10.77.2.2:69", "--retries", "1")
    dst = os.path.join(ctx.tmpdir("out"), "f.bin")
    rc, err, secs = run_in(ctx, c, get_argv("tftpx", "10.77.2.2", 69,
                                            "f.bin", dst), timeout=20)
    check(rc != 0, "tftpx get through the NAT succeeded in default mode "
          "(%.1f s); the picture is wrong: %s" % (secs, r.counters()))
    check(not os.path.exists(dst) or same_file(src, dst) is not None,
          "a failed get left the whole file")
    # the server's side of it: the request came from the router's address
    start = srv.wait_for(lambda l: '"f.bin"' in l and " start" in l, 3)
    check(start is not None and "10.77.2.1:" in start, "the server did not "
          "log the request from the masqueraded address 10.77.2.1: %s" %
          srv.tail())
    # ... and gave up on a client whose ACKs never came (--retries 1)
    end = end_line(srv, "RRQ", "f.bin", timeout=10)
    k = r.counters()
    info(ctx, "client: exit %d after %.1f s: %s; router counters %s; "
         "server: %s" % (rc, secs, err[-120:], k, end))
    check(k.get("masqueraded", 0) >= 1, "the router masqueraded nothing: %s"
          % k)
    check(k.get("unmapped_from_server", 0) >= 1, "no reply from a new "
          "server port was counted at the router (counters %s); the get "
          "failed for another reason: %s" % (k, err[-200:]))
    check(k.get("through_nat", 0) == 0, "%d packets of the server reached "
          "the client through the NAT, yet the get failed: %s" %
          (k.get("through_nat", 0), err[-200:]))
    if end is not None:
        retx = counter(end, "retransmits")
        check(outcome(end) != "ok", "server logged %r" % end)
        if retx is not None:
            check(k["unmapped_from_server"] >= 1 + retx, "server sent DATA "
                  "1 + %d retransmits, the router dropped %d as unmapped" %
                  (retx, k["unmapped_from_server"]))


def nat_single_port(ctx, tool):
    need_tool(tool)
    need_options(ctx, "--single-port")
    c, r, s = nat_topo(ctx)
    root = ctx.tmpdir("root")
    srv = serve(ctx, s, root, "10.77.2.2:69", "--single-port", "--upload")
    try:
        get_put_all(ctx, c, tool, "10.77.2.2", 69, srv)
    except Fail as e:
        raise Fail("%s; router counters %s" % (e, r.counters()))
    k = r.counters()
    check(k.get("unmapped_from_server", 0) == 0 and
          k.get("unmapped_other", 0) == 0, "--single-port: the router "
          "dropped packets of the server that matched no NAT mapping: %s" % k)
    check(k.get("through_nat", 0) > 0, "nothing went back through the NAT "
          "mapping: %s" % k)
    check(all('10.77.2.1:' in l for l in srv.grep(
        lambda l: outcome(l) is not None)), "a transfer not from the "
        "masqueraded address: %s" % srv.tail())


for _tool in ("tftpx", "busybox", "curl", "tftphpa", "atftp"):
    case("nat_single_port_%s" % _tool, limit=90)(
        lambda ctx, t=_tool: nat_single_port(ctx, t))


# ---------------------------------------------------------------- b) published
#
#   C 10.78.1.2 --c0/r0-- 10.78.1.1 R 10.78.2.1 --r1/s0-- 10.78.2.2 S
#
# R is a container host: udp/69 to its outside address 10.78.1.1 is DNATed
# to the server (docker run -p 69:69/udp), the server's own traffic is
# masqueraded, and toward the server only the published ports pass.

PUB_RULES = """
table ip nat {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    iifname "r0" ip daddr 10.78.1.1 udp dport 69 counter dnat to 10.78.2.2 comment "published_69"
%(range_dnat)s  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "r0" ip saddr 10.78.2.0/24 counter masquerade comment "server_masqueraded"
  }
}
table inet filter {
  chain forward {
    type filter hook forward priority filter; policy accept;
    oifname "r1" udp dport 69 counter accept comment "to_69"
%(range_accept)s    oifname "r1" counter drop comment "unpublished"
  }
}
"""


def pub_topo(ctx, port_range=None):
    """(client ns, router ns, server ns); port_range "40000-40009" is
    published too."""
    c, r, s = mkns(ctx, "c"), mkns(ctx, "r"), mkns(ctx, "s")
    r.veth(c, "r0", "c0", "10.78.1.1/24", "10.78.1.2/24")
    r.veth(s, "r1", "s0", "10.78.2.1/24", "10.78.2.2/24")
    s.route("default", "10.78.2.1")
    r.forwarding()
    rd = ra = ""
    if port_range:
        rd = ('    iifname "r0" ip daddr 10.78.1.1 udp dport %s counter dnat '
              'to 10.78.2.2 comment "published_range"\n' % port_range)
        ra = ('    oifname "r1" udp dport %s counter accept comment '
              '"to_range"\n' % port_range)
    r.nft(PUB_RULES % dict(range_dnat=rd, range_accept=ra))
    return c, r, s


@case("pub_default_mode_fails", limit=40)
def _(ctx):
    c, r, s = pub_topo(ctx)
    root = ctx.tmpdir("root")
    write_random(os.path.join(root, "f.bin"), 64 * KIB)
    srv = serve(ctx, s, root, "0.0.0.0:69", "--retries", "1")
    dst = os.path.join(ctx.tmpdir("out"), "f.bin")
    rc, err, secs = run_in(ctx, c, get_argv("tftpx", "10.78.1.1", 69,
                                            "f.bin", dst), timeout=20)
    k = r.counters()
    info(ctx, "client: exit %d after %.1f s: %s; router counters %s" %
         (rc, secs, err[-120:], k))
    check(rc != 0, "tftpx get of a published port 69 succeeded in default "
          "mode; the picture is wrong: %s" % k)
    check(k.get("published_69", 0) >= 1, "the request was not DNATed: %s"
          % k)
    start = srv.wait_for(lambda l: '"f.bin"' in l and " start" in l, 1)
    check(start is not None and "10.78.1.2:" in start, "the server did not "
          "log the request from the client 10.78.1.2: %s" % srv.tail())
    check(k.get("unpublished", 0) >= 1, "nothing to an unpublished port "
          "of the server was dropped (counters %s); the get failed for "
          "another reason: %s" % (k, err[-200:]))


def pub_works(ctx, args, port_range=None, tools=("tftpx",)):
    c, r, s = pub_topo(ctx, port_range)
    root = ctx.tmpdir("root")
    srv = serve(ctx, s, root, "0.0.0.0:69", "--upload", *args)
    for tool in tools:
        need_tool(tool)
        try:
            get_put_all(ctx, c, tool, "10.78.1.1", 69, srv)
        except Fail as e:
            raise Fail("%s; router counters %s" % (e, r.counters()))
    k = r.counters()
    check(k.get("unpublished", 0) == 0, "%d packets to unpublished ports of "
          "the server were dropped: %s" % (k.get("unpublished", 0), k))
    return k


@case("pub_single_port_tftpx_busybox", limit=90)
def _(ctx):
    need_options(ctx, "--single-port")
    k = pub_works(ctx, ["--single-port"], tools=("tftpx", "busybox"))
    check(k.get("to_69", 0) > 0, "nothing reached port 69: %s" % k)


@case("pub_port_range_published", limit=90)
def _(ctx):
    need_options(ctx, "--port-range", "40000:40009")
    k = pub_works(ctx, ["--port-range", "40000:40009"],
                  port_range="40000-40009")
    check(k.get("to_range", 0) > 0, "no ACK or DATA reached the published "
          "range 40000-40009: %s" % k)


@case("pub_port_range_exhausted_refuses", limit=60)
def _(ctx):
    need_options(ctx, "--port-range", "40000:40000")
    c, r, s = pub_topo(ctx, "40000")
    root = ctx.tmpdir("root")
    src = write_random(os.path.join(root, "a.bin"), 64 * KIB)
    srv = serve(ctx, s, root, "0.0.0.0:69", "--port-range", "40000:40000")
    a = ctx.peer(host="10.78.1.1", sock=c.socket())
    b = ctx.peer(host="10.78.1.1", sock=c.socket())
    # the first transfer holds the only port: DATA 1 is not ACKed yet
    a.send(pkt_rrq("a.bin"), 69)
    pkt, tid = a.expect(3.0, "DATA 1 of the first transfer")
    check(op_of(pkt) == DATA and blk_of(pkt) == 1, "first request: %s" %
          describe(pkt))
    b.send(pkt_rrq("a.bin"), 69)
    pkt, _ = b.expect(3.0, "an answer to the second request")
    expect_error(pkt, 0)
    l = srv.wait_for(lambda l: "10.78.1.2:%d" % b.port in l and
                     re.search(r"port[ -]range", l, re.I) is not None, 3)
    check(l is not None, "no server line for the refused request that "
          "names the port range; last lines: %s" % srv.tail())
    info(ctx, "refused: ERROR 0 %r; server: %s" % (err_of(pkt)[1], l))
    # the first transfer goes on; then it ends
    a.send(pkt_ack(1), tid)
    while True:
        pkt, _ = a.expect(3.0, "DATA 2 of the first transfer")
        check(op_of(pkt) == DATA, "after ACK 1: %s" % describe(pkt))
        if blk_of(pkt) == 2:
            break
    a.send(pkt_error(0, "enough"), tid)
    check(end_line(srv, "RRQ", "a.bin", "10.78.1.2:%d" % a.port, 5),
          "the first transfer was not logged ended: %s" % srv.tail())
    # its port comes free (maybe a moment after the log line): the
    # server keeps serving
    p = ctx.peer(host="10.78.1.1", sock=c.socket())
    end = time.monotonic() + 5
    while True:
        p.send(pkt_rrq("a.bin"), 69)
        pkt, tid = p.expect(3.0, "an answer to a request after the first "
                            "transfer ended")
        if op_of(pkt) == DATA or time.monotonic() > end:
            break
        time.sleep(0.2)
    check(op_of(pkt) == DATA, "5 s after the transfer holding the range "
          "ended, a request still drew %s" % describe(pkt))
    p.send(pkt_error(0, "probe"), tid)
    # the probe's ERROR and the next request reach different sockets, and
    # the server may read the request first: wait until the port is free
    who = "10.78.1.2:%d" % p.port
    check(srv.wait_for(lambda l: who in l and " bytes " in l and
                       outcome(l) is not None, 5),
          "the probe transfer was not logged ended: %s" % srv.tail())
    get_exact(ctx, c, "tftpx", "10.78.1.1", 69, srv, src)


# ---------------------------------------------------------------- c) MTU
#
#   A 10.79.1.2 --a0/s1 MTU 1280-- 10.79.1.1 S 10.79.2.1 --s2/b0 MTU 9000--
#   10.79.2.2 B   (IPv6: fd79:1::/64, fd79:2::/64)
#
# Fragments leaving the server are counted on each of its veths by the
# netdev egress hook, which sees packets as the device gets them: after
# fragmentation.  A kernel without that hook (before 5.16) counts them as
# they arrive, at the netdev ingress hook of the client's end of the veth.

FRAG_RULES = """
table netdev frag_%(dev)s {
  chain count {
    type filter hook %(hook)s device "%(dev)s" priority 0;
    ip frag-off & 0x3fff != 0 counter comment "frags4"
    meta protocol ip6 exthdr frag exists counter comment "frags6"
  }
}
"""


class Topo:
    """The MTU picture: server namespace s, a client namespace per MTU."""

    SERVER_ADDR = {(1280, 4): "10.79.1.1", (9000, 4): "10.79.2.1",
                   (1280, 6): "fd79:1::1", (9000, 6): "fd79:2::1"}

    def __init__(self, ctx):
        s, a, b = mkns(ctx, "s"), mkns(ctx, "a"), mkns(ctx, "b")
        s.veth(a, "s1", "a0", ["10.79.1.1/24", "fd79:1::1/64"],
               ["10.79.1.2/24", "fd79:1::2/64"], mtu=1280)
        s.veth(b, "s2", "b0", ["10.79.2.1/24", "fd79:2::1/64"],
               ["10.79.2.2/24", "fd79:2::2/64"], mtu=9000)
        self.s, self.client = s, {1280: a, 9000: b}
        self.where = {}             # mtu -> (namespace, device, hook)
        for mtu, sdev, cdev in ((1280, "s1", "a0"), (9000, "s2", "b0")):
            try:
                s.nft(FRAG_RULES % dict(dev=sdev, hook="egress"))
                self.where[mtu] = (s, sdev, "egress")
            except Fail:
                c = self.client[mtu]
                c.nft(FRAG_RULES % dict(dev=cdev, hook="ingress"))
                self.where[mtu] = (c, cdev, "ingress")

    def frags(self, mtu):
        """IP fragments the server sent on the link of this MTU so far."""
        ns, dev, _ = self.where[mtu]
        k = ns.counters("netdev frag_" + dev)
        return k.get("frags4", 0) + k.get("frags6", 0)

    def counted_at(self, mtu):
        ns, dev, hook = self.where[mtu]
        return "%s hook of %s" % (hook, dev)


CAP_RE = re.compile(r"blksize (\d+)->(\d+) \(path MTU (\d+)\)")


def mtu_case(ctx, tool, mtu, fam=4, mtu_opt=None):
    need_tool(tool)
    if mtu_opt:
        need_options(ctx, "--mtu", str(mtu_opt))
    t = Topo(ctx)
    root = ctx.tmpdir("root")
    src = write_random(os.path.join(root, "m-%s.bin" % tool), MIB)
    srv = serve(ctx, t.s, root, "[::]:69" if fam == 6 else "0.0.0.0:69",
                *(["--mtu", str(mtu_opt)] if mtu_opt else []))
    path = mtu_opt or mtu
    want = path - (52 if fam == 6 else 32)
    before = t.frags(mtu)
    end = get_exact(ctx, t.client[mtu], tool, t.SERVER_ADDR[(mtu, fam)], 69,
                    srv, src, blksize=65464)
    after = t.frags(mtu)
    start = srv.wait_for(lambda l: '"%s"' % os.path.basename(src) in l and
                         " start" in l, 2)
    m = CAP_RE.search(start or "")
    info(ctx, "start: %s; end: %s; fragments at the %s: %d" %
         (start, end, t.counted_at(mtu), after - before))
    bad = []
    if after != before:
        bad.append("%d IP fragments left the server on the %d-byte MTU "
                   "link" % (after - before, mtu))
    if " blksize=%d " % want not in end:
        bad.append("the transfer ran at blksize=%s, not %d" %
                   (counter(end, "blksize"), want))
    if m is None:
        bad.append("the -v start line does not show 'blksize 65464->%d "
                   "(path MTU %d)': %r" % (want, path, start))
    elif tuple(int(x) for x in m.groups()) != (65464, want, path):
        bad.append("the start line says %r, expected 'blksize 65464->%d "
                   "(path MTU %d)'" % (m.group(0), want, path))
    check(not bad, "; ".join(bad))


for _mtu in (1280, 9000):
    for _tool in ("tftpx", "busybox", "curl"):
        case("mtu_%d_%s" % (_mtu, _tool), limit=60)(
            lambda ctx, t=_tool, m=_mtu: mtu_case(ctx, t, m))
case("mtu_1280_tftpx_ipv6", limit=60)(
    lambda ctx: mtu_case(ctx, "tftpx", 1280, fam=6))
case("mtu_option_1000_on_9000_link", limit=60)(
    lambda ctx: mtu_case(ctx, "tftpx", 9000, mtu_opt=1000))


def frags_after(t, mtu, before, want, wait=1.0):
    """Fragments counted since before, once want are there or after wait
    seconds (the first datagram waits for ARP / neighbour discovery)."""
    end = time.monotonic() + wait
    while True:
        n = t.frags(mtu) - before
        if n >= want or time.monotonic() > end:
            return n
        time.sleep(0.05)


@case("mtu_fragment_counter_counts", limit=30)
def _(ctx):
    """The fragment counter of the server's 1280 veth is real: a 4000-byte
    UDP datagram from the server's namespace leaves as 4 fragments and
    moves it (IPv4 and IPv6); a 1000-byte one does not."""
    t = Topo(ctx)
    got = {}
    for fam, src, dst in ((socket.AF_INET, "10.79.1.1", "10.79.1.2"),
                          (socket.AF_INET6, "fd79:1::1", "fd79:1::2")):
        u = t.s.socket(fam)
        ctx.socks.append(u)
        u.bind((src, 0))
        for size in (1000, 4000):
            before = t.frags(1280)
            u.sendto(b"\0" * size, (dst, 9))
            got[(fam, size)] = frags_after(t, 1280, before,
                                           1 if size < 1280 else 4,
                                           0.3 if size < 1280 else 2.0)
    info(ctx, "fragments counted at the %s for a 1000- and a 4000-byte "
         "datagram: IPv4 %d, %d; IPv6 %d, %d" % (
             t.counted_at(1280),
             got[(socket.AF_INET, 1000)], got[(socket.AF_INET, 4000)],
             got[(socket.AF_INET6, 1000)], got[(socket.AF_INET6, 4000)]))
    for fam, v in ((socket.AF_INET, "IPv4"), (socket.AF_INET6, "IPv6")):
        check(got[(fam, 1000)] == 0, "a 1000-byte %s datagram on the 1280 "
              "link counted as %d fragments" % (v, got[(fam, 1000)]))
        check(got[(fam, 4000)] >= 3, "a 4000-byte %s datagram on the 1280 "
              "link counted as %d fragments, expected 4" %
              (v, got[(fam, 4000)]))


# ---------------------------------------------------------------- d) demux
# On loopback, --single-port, raw packets.  Every DATA, OACK and ACK comes
# from the listening port, so the server tells transfers apart by the
# client's address and port alone.

def sp_server(ctx, files_, *args):
    need_options(ctx, "--single-port")
    root = ctx.tmpdir("root")
    for n, content in files_.items():
        write_bytes(os.path.join(root, n), content)
    return Server(ctx, root, ("--single-port", "-v") + args)


class Reader:
    """One lock-step RRQ by a raw peer, a step at a time."""

    def __init__(self, peer, srv, name, want):
        self.peer, self.srv, self.name, self.want = peer, srv, name, want
        self.got = b""
        self.blk = 0
        self.last = False
        self.done = False

    def start(self):
        self.peer.send(pkt_rrq(self.name), self.srv.port)
        self.recv_next()

    def recv_next(self, timeout=3.0):
        """Wait for DATA blk+1 (a resent DATA blk is skipped)."""
        end = time.monotonic() + timeout
        while True:
            pkt, src = self.peer.recv(max(0.01, end - time.monotonic()))
            check(pkt is not None, "%s: no DATA %d within %.0f s" %
                  (self.name, self.blk + 1, timeout))
            check(src == self.srv.port, "%s: %s came from port %d, not the "
                  "listening port %d" % (self.name, describe(pkt), src,
                                         self.srv.port))
            check(op_of(pkt) == DATA, "%s: expected DATA %d, got %s" %
                  (self.name, self.blk + 1, describe(pkt)))
            if blk_of(pkt) == self.blk:
                continue
            check(blk_of(pkt) == self.blk + 1, "%s: DATA %d after DATA %d" %
                  (self.name, blk_of(pkt), self.blk))
            payload = pkt[4:]
            check(payload == self.want[self.blk * 512:
                                       self.blk * 512 + len(payload)],
                  "%s: DATA %d carries other bytes (another transfer's?)" %
                  (self.name, self.blk + 1))
            self.got += payload
            self.blk += 1
            self.last = len(payload) < 512
            return

    def step(self):
        """ACK what we have; unless that was the end, take the next."""
        self.peer.send(pkt_ack(self.blk), self.srv.port)
        if self.last:
            self.done = True
            return
        self.recv_next()

    def finish(self):
        while not self.done:
            self.step()
        check(self.got == self.want, "%s: got %d bytes, not the %d of the "
              "file" % (self.name, len(self.got), len(self.want)))


def interleave(*readers):
    """Start every reader, then a block of each in turn to the end."""
    for r in readers:
        r.start()
    interleave_rest(*readers)


def interleave_rest(*readers):
    while not all(r.done for r in readers):
        for r in readers:
            if not r.done:
                r.step()
    for r in readers:
        r.finish()


@case("sp_two_hosts_one_file_interleaved")
def _(ctx):
    content = os.urandom(40 * 512 + 77)
    srv = sp_server(ctx, {"a.bin": content})
    ps = [ctx.peer(bind=(h, 0)) for h in ("127.0.0.2", "127.0.0.3")]
    rs = [Reader(p, srv, "a.bin", content) for p in ps]
    interleave(*rs)
    for h, p in zip(("127.0.0.2", "127.0.0.3"), ps):
        l = end_line(srv, "RRQ", "a.bin", "%s:%d" % (h, p.port))
        check(l is not None and outcome(l) == "ok", "no ok line for %s:%d: "
              "%s" % (h, p.port, srv.tail()))


@case("sp_one_host_two_ports_get_and_put")
def _(ctx):
    content = os.urandom(30 * 512 + 5)
    up = os.urandom(25 * 512 + 100)
    srv = sp_server(ctx, {"a.bin": content}, "--upload")
    g, w = ctx.peer(), ctx.peer()
    r = Reader(g, srv, "a.bin", content)
    r.start()
    w.send(pkt_wrq("u.bin"), srv.port)
    pkt, src = w.expect(3.0, "ACK 0")
    check(src == srv.port and op_of(pkt) == ACK and blk_of(pkt) == 0,
          "WRQ answered with %s from port %d" % (describe(pkt), src))
    n = 0
    while not r.done or n * 512 <= len(up):
        if not r.done:
            r.step()
        if n * 512 <= len(up):
            n += 1
            w.send(pkt_data(n, up[(n - 1) * 512:n * 512]), srv.port)
            while True:
                pkt, src = w.expect(3.0, "ACK %d" % n)
                check(src == srv.port, "ACK from port %d" % src)
                check(op_of(pkt) == ACK, "put: %s" % describe(pkt))
                if blk_of(pkt) == n:
                    break
    r.finish()
    l = end_line(srv, "WRQ", "u.bin", "127.0.0.1:%d" % w.port)
    check(l is not None and outcome(l) == "ok", "put not logged ok: %s" %
          srv.tail())
    check(read_bytes(os.path.join(srv.root, "u.bin")) == up,
          "stored upload differs")


@case("sp_stranger_data_and_ack_get_error_5")
def _(ctx):
    content = os.urandom(20 * 512 + 3)
    srv = sp_server(ctx, {"a.bin": content, "b.bin": content[::-1]},
                    "--timeout", "5")
    r1 = Reader(ctx.peer(), srv, "a.bin", content)
    r2 = Reader(ctx.peer(), srv, "b.bin", content[::-1])
    r1.start()
    r2.start()
    stranger = ctx.peer()
    for what, pkt in (("ACK 1", pkt_ack(1)),
                      ("DATA 1", pkt_data(1, b"x" * 512)),
                      ("DATA 2", pkt_data(2, b"y" * 10))):
        stranger.send(pkt, srv.port)
        got, src = stranger.expect(3.0, "an answer to a stranger's %s" %
                                   what)
        expect_error(got, 5)
        check(src == srv.port, "ERROR 5 from port %d" % src)
    # nobody else heard anything: no DATA 2 for the live transfers before
    # their own ACK 1 (DATA 1 again, a resend, would be harmless)
    for r in (r1, r2):
        for pkt, _, _ in r.peer.drain(0.2):
            check(op_of(pkt) == DATA and blk_of(pkt) == 1, "%s: %s after a "
                  "stranger's packets" % (r.name, describe(pkt)))
    interleave_rest(r1, r2)
    extra = stranger.drain(0.2)
    check(not extra, "the stranger got more: %s" %
          [describe(p) for p, _, _ in extra])
    for r in (r1, r2):
        l = end_line(srv, "RRQ", r.name)
        check(l is not None and outcome(l) == "ok", "%s not logged ok: %s" %
              (r.name, srv.tail()))


@case("sp_stranger_error_not_answered")
def _(ctx):
    content = os.urandom(8 * 512)
    srv = sp_server(ctx, {"a.bin": content})
    r = Reader(ctx.peer(), srv, "a.bin", content)
    r.start()
    stranger = ctx.peer()
    stranger.send(pkt_error(0, "who are you"), srv.port)
    got = stranger.drain(0.5)
    check(not got, "a stranger's ERROR was answered (RFC 1350: an error "
          "is not acknowledged): %s" % [describe(p) for p, _, _ in got])
    interleave_rest(r)


@case("sp_duplicate_rrq_dropped")
def _(ctx):
    content = os.urandom(10 * 512 + 9)
    srv = sp_server(ctx, {"a.bin": content}, "--timeout", "5")
    p = ctx.peer()
    r = Reader(p, srv, "a.bin", content)
    r.start()
    r.step()                                    # at DATA 2
    p.send(pkt_rrq("a.bin"), srv.port)          # the same RRQ again
    for pkt, _, _ in p.drain(0.3):
        check(op_of(pkt) == DATA and blk_of(pkt) == 2, "after a duplicate "
              "RRQ the client got %s (a second transfer?)" % describe(pkt))
    interleave_rest(r)
    l = end_line(srv, "RRQ", "a.bin")
    check(l is not None and outcome(l) == "ok", "not logged ok: %s" %
          srv.tail())
    time.sleep(0.3)
    starts = srv.count(lambda l: '"a.bin"' in l and " start" in l)
    ends = srv.count(lambda l: '"a.bin"' in l and outcome(l) is not None)
    check(starts == 1 and ends == 1, "%d transfers started and %d logged "
          "for one RRQ sent twice: %s" % (starts, ends, srv.tail()))
    d = counter(l, "dupreqs")
    check(d in (None, 1), "the transfer logged dupreqs=%s for one "
          "duplicate" % d)


@case("sp_new_rrq_supersedes")
def _(ctx):
    a = b"A" * (20 * 512)
    b = os.urandom(6 * 512 + 1)
    srv = sp_server(ctx, {"a.bin": a, "b.bin": b}, "--timeout", "5",
                    "--retries", "1")
    p = ctx.peer()
    ra = Reader(p, srv, "a.bin", a)
    ra.start()
    ra.step()                                   # a.bin at DATA 2
    t0 = time.monotonic()
    rb = Reader(p, srv, "b.bin", b)
    p.send(pkt_rrq("b.bin"), srv.port)
    # the first DATA 1 of b.bin (copies of a.bin's DATA 2 may still come)
    end = time.monotonic() + 3
    while True:
        pkt, src = p.recv(max(0.01, end - time.monotonic()))
        check(pkt is not None, "no DATA 1 of b.bin after its RRQ from the "
              "port of a live a.bin transfer; server: %s" % srv.tail())
        if op_of(pkt) == DATA and blk_of(pkt) == 2 and pkt[4:] == a[512:1024]:
            continue
        check(op_of(pkt) == DATA and blk_of(pkt) == 1 and pkt[4:] == b[:512],
              "after the RRQ of b.bin: %s" % describe(pkt))
        break
    rb.got, rb.blk, rb.last = pkt[4:], 1, len(pkt) - 4 < 512
    interleave_rest(rb)
    l = end_line(srv, "RRQ", "a.bin", timeout=max(0.1, 3 - (
        time.monotonic() - t0)))
    check(l is not None, "the superseded a.bin transfer was not logged "
          "ended within 3 s (a timeout takes 10): %s" % srv.tail())
    check(outcome(l) != "ok", "a.bin logged ok: %r" % l)
    lb = end_line(srv, "RRQ", "b.bin")
    check(lb is not None and outcome(lb) == "ok", "b.bin not logged ok: %s"
          % srv.tail())
    late = [describe(x) for x, _, _ in p.drain(0.3)]
    check(not late, "after b.bin ended the port still got %s" % late)


# ---------------------------------------------------------------- e) U-Boot
# Debian's U-Boot under QEMU (tests/interop/uboot.py), arm64 with
# virtio-net: it boots to its prompt in about a second under TCG and takes
# a 1 MiB file in a fraction of one.  Through slirp (QEMU's own NAT), or
# with its NIC on a tap device in the client namespace of the NAT or the
# MTU picture, which routes for it.

UBOOT_ARCH, UBOOT_NIC = "arm64", "virtio-net-pci"
UBOOT_ARGS = argparse.Namespace(transfer_timeout=30.0, logdir=None)


def uboot_setup(ctx, *serve_opts):
    """uboot.py, and a served root holding its file of 1 MiB of random
    bytes: (uboot, root, data).  Skip when QEMU or U-Boot is missing."""
    sys.path.insert(0, os.path.join(TESTS, "interop"))
    import uboot
    why = uboot.env_skip() or uboot.precheck(UBOOT_ARCH)
    if why:
        raise Skip(why)
    if serve_opts:
        need_options(ctx, *serve_opts)
    root = ctx.tmpdir("root")
    os.chmod(root, 0o755)
    data = os.urandom(MIB)
    write_bytes(os.path.join(root, uboot.FILENAME), data)
    os.chmod(os.path.join(root, uboot.FILENAME), 0o644)
    return uboot, root, data


@case("uboot_single_port_through_slirp", heavy=True, limit=170)
def _(ctx):
    uboot, root, data = uboot_setup(ctx, "--single-port")
    tmp = ctx.tmpdir("uboot")
    uboot.run_case(ctx.name, UBOOT_ARCH, UBOOT_NIC, 1468, None, root,
                   len(data), zlib.crc32(data), UBOOT_ARGS, tmp,
                   serve_args=("--single-port",))
    log = read_bytes(os.path.join(tmp, "tftpx.log")).decode("utf-8",
                                                            "replace")
    oks = [l for l in log.splitlines() if " RRQ " in l and
           outcome(l) == "ok"]
    check(oks, "no ok RRQ line in the server's log: %s" % log[-300:])
    check("blksize=1468" in oks[-1], "U-Boot's blksize 1468 not granted: %r"
          % oks[-1])


def nat_guest(uboot, c):
    """U-Boot's addresses behind C's tap0 in the NAT picture."""
    return uboot.Tap(c.argv([]), "tap0", ipaddr="10.77.3.2",
                     gatewayip="10.77.3.1", serverip="10.77.2.2")


@case("uboot_single_port_through_router_nat", heavy=True, limit=90)
def _(ctx):
    uboot, root, data = uboot_setup(ctx, "--single-port")
    c, r, s = nat_topo(ctx, guest=True)
    srv = serve(ctx, s, root, "10.77.2.2:69", "--single-port")
    try:
        uboot.run_case(ctx.name, UBOOT_ARCH, UBOOT_NIC, 1468, None, root,
                       len(data), zlib.crc32(data), UBOOT_ARGS,
                       ctx.tmpdir("uboot"), tap=nat_guest(uboot, c))
    except Fail as e:
        raise Fail("%s; router counters %s; server: %s" %
                   (e, r.counters(), srv.tail(3)))
    l = expect_ok(srv, "RRQ", uboot.FILENAME)
    k = r.counters()
    info(ctx, "server: %s; router counters %s" % (l, k))
    check("10.77.2.1:" in l, "the transfer was not from the masqueraded "
          "address 10.77.2.1: %r" % l)
    check(" blksize=1468 " in l, "U-Boot's blksize 1468 not granted: %r" % l)
    check(k.get("masqueraded", 0) >= 1, "the router masqueraded nothing: %s"
          % k)
    check(k.get("unmapped_from_server", 0) == 0 and
          k.get("unmapped_other", 0) == 0, "--single-port: the router "
          "dropped packets of the server that matched no NAT mapping: %s" % k)
    # 1 MiB at blksize 1468 is 715 DATA, each forwarded through the mapping
    check(k.get("through_nat", 0) >= len(data) // 1468, "only %d packets "
          "of the server went back through the NAT mapping: %s" %
          (k.get("through_nat", 0), k))


@case("uboot_default_mode_fails_at_the_nat", heavy=True, limit=90)
def _(ctx):
    """The same path without --single-port: the OACK comes from a new
    port, the router drops it as unmapped, U-Boot gives up."""
    uboot, root, data = uboot_setup(ctx)
    c, r, s = nat_topo(ctx, guest=True)
    srv = serve(ctx, s, root, "10.77.2.2:69", "--retries", "1")
    tap = nat_guest(uboot, c)
    # 1 s per U-Boot timeout, 2 timeouts, no restart of the transfer
    cmds = uboot.net_env(tap) + ["setenv tftpblocksize 1468",
                                 "setenv tftptimeout 1000",
                                 "setenv tftptimeoutcountmax 2",
                                 "setenv netretry no"]
    with uboot.booted(ctx.name, UBOOT_ARCH, UBOOT_NIC, UBOOT_ARGS,
                      ctx.tmpdir("uboot"), tap=tap) as con:
        xfer = "tftpboot %s %s" % (uboot.load_addr(con, ctx.name,
                                                   UBOOT_ARCH),
                                   uboot.FILENAME)
        info(ctx, "uboot: %s" % "; ".join(cmds + [xfer]))
        for cmd in cmds:
            con.command(cmd)
        t0 = time.monotonic()
        out = con.command(xfer, timeout=30).decode("latin-1")
        secs = time.monotonic() - t0
    start = srv.wait_for(lambda l: '"%s"' % uboot.FILENAME in l and
                         " start" in l, 1)
    # the server gives up too (timeout 1 from U-Boot, --retries 1); then
    # every copy it sent has met the router
    end = end_line(srv, "RRQ", uboot.FILENAME, timeout=10)
    k = r.counters()
    lines = [x.strip() for x in out.replace("\r", "").split("\n")
             if x.strip()]
    info(ctx, "tftpboot after %.1f s: %s; router counters %s; server: %s; "
         "%s" % (secs, " | ".join(lines[-3:]), k, start, end))
    check("Bytes transferred" not in out, "U-Boot fetched the file through "
          "the NAT in default mode; the picture is wrong: %s" % k)
    check("Retry count exceeded" in out, "tftpboot failed, but not by "
          "timing out: %s" % " | ".join(lines[-3:]))
    check(start is not None and "10.77.2.1:" in start, "the server did not "
          "log U-Boot's request from the masqueraded address 10.77.2.1: "
          "%s" % srv.tail())
    check(k.get("unmapped_from_server", 0) >= 1, "no reply from a new "
          "server port was counted at the router (counters %s); U-Boot "
          "failed for another reason" % k)
    check(k.get("through_nat", 0) == 0, "%d packets of the server reached "
          "U-Boot through the NAT, yet it failed" % k.get("through_nat", 0))
    check(end is not None and outcome(end) != "ok", "the server did not "
          "log the transfer failed within 10 s: %s" % srv.tail())
    retx = counter(end, "retransmits")
    if retx is not None:
        check(k["unmapped_from_server"] >= 1 + retx, "the server sent the "
              "OACK and %d retransmits, the router dropped %d as unmapped"
              % (retx, k["unmapped_from_server"]))


@case("uboot_mtu_1280_blksize_fits", heavy=True, limit=90)
def _(ctx):
    """U-Boot asks for blksize 1468 (a 1500-byte Ethernet frame) behind
    the MTU 1280 link: the server grants 1248 and sends no fragment."""
    uboot, root, data = uboot_setup(ctx)
    t = Topo(ctx)
    a = t.client[1280]
    a.tap("tap0", "10.79.3.1/24", mtu=1280)
    a.forwarding()
    t.s.route("10.79.3.0/24", "10.79.1.2")
    srv = serve(ctx, t.s, root, "0.0.0.0:69")
    tap = uboot.Tap(a.argv([]), "tap0", ipaddr="10.79.3.2",
                    gatewayip="10.79.3.1", serverip="10.79.1.1")
    before = t.frags(1280)
    try:
        uboot.run_case(ctx.name, UBOOT_ARCH, UBOOT_NIC, 1468, None, root,
                       len(data), zlib.crc32(data), UBOOT_ARGS,
                       ctx.tmpdir("uboot"), tap=tap)
    except Fail as e:
        raise Fail("%s; fragments at the %s: %d; server: %s" %
                   (e, t.counted_at(1280), t.frags(1280) - before,
                    srv.tail(3)))
    after = t.frags(1280)
    end = expect_ok(srv, "RRQ", uboot.FILENAME)
    start = srv.wait_for(lambda l: '"%s"' % uboot.FILENAME in l and
                         " start" in l, 2)
    m = CAP_RE.search(start or "")
    info(ctx, "start: %s; end: %s; fragments at the %s: %d" %
         (start, end, t.counted_at(1280), after - before))
    bad = []
    if after != before:
        bad.append("%d IP fragments left the server on the 1280-byte MTU "
                   "link" % (after - before))
    if " blksize=1248 " not in end:
        bad.append("the transfer ran at blksize=%s, not 1248" %
                   counter(end, "blksize"))
    if m is None or tuple(int(x) for x in m.groups()) != (1468, 1248, 1280):
        bad.append("the -v start line does not show 'blksize 1468->1248 "
                   "(path MTU 1280)': %r" % start)
    check(not bad, "; ".join(bad))


if __name__ == "__main__":
    sys.exit(main(budget=SUITE_BUDGET))
