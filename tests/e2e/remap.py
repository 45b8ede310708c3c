#!/usr/bin/env python3
"""tests/e2e/remap.py - which file a name gets: --map, --lowercase,
--ignore-case (issue 17).

Run from the repo root, as root:  python3 tests/e2e/remap.py [-k SUBSTRING]

Built on the harness in tests/lib/tftpx_test.py.  Each case prints one
line "PASS name", "FAIL name: reason" or "SKIP name: reason"; a
difference from tftpd-hpa that is not asserted is printed as an
"INFO name: ..." line.

What is covered:
  hpa_*       differential against Debian's in.tftpd (tftpd-hpa 5.2) run
              as `in.tftpd -L -s -u root -m MAP -a 127.0.0.1:PORT ROOT`
              beside `tftpx serve --map MAP ROOT` on the same ROOT: the
              same raw octet RRQs to both, case by case the same bytes or
              the same ERROR code (and the same words where tftpd-hpa's
              mean something: an `a` rule's message, "Remap table
              failure").  Maps: OpenStack Ironic's, a Windows PXE one
              (backslashes, any case), \\i and \\x with a and r rules,
              hostile rules and symlinks that try to leave the root (a
              marker planted outside ROOT and the host's /etc/passwd never
              come back from tftpx; tftpd-hpa is chrooted by -s and clamps
              ".." at the root where tftpx refuses: those requests are
              only reported), the s, e, G, P, ~ flags and a rule loop,
              and the file's syntax (escaped blanks and '#', CRLF, 4/6,
              \\U \\L \\E, groups that took no part).  SKIP without in.tftpd
              or without root.
  map_bad_*   a malformed map file stops `serve` at start: exit status 1,
              one stderr line naming the file, the line and the problem
  map_*       SIGHUP reload (a good file takes effect, a bad one keeps
              the old rules and says so), P rules for a WRQ, the refusal
              line, the bounds 5.2 lacks (a g rule that always matches, a
              name that doubles), tsize of the file served
  lowercase   --lowercase (after the map)
  icase*      --ignore-case, with --backslash and with a map rule; no way
              out of the root through another spelling
  verbose_*   -v: 'PEER RRQ "asked" -> "served" (map lines 2,5)'
  json_*      --log-format json -v: the "name" event

Traffic goes only to 127.0.0.1.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "lib"))
from tftpx_test import (  # noqa: E402
    DATA, ERROR, INTFTPD, OACK, Fail, Server, Skip, case, check, describe,
    err_of, free_udp_port, info, main, oack_opts, op_of, param_case,
    pkt_error, pkt_rrq, raw_put, raw_receive, read_bytes, write_bytes)

# ---------------------------------------------------------------- helpers


def content_of(rel, big=False):
    """What the file rel holds: its own name, so a reply says which file
    it came from; big ones take several 512-byte blocks."""
    line = ("file %s\n" % rel).encode()
    return line * (1 + 2500 // len(line)) if big else line * 2


def make_root(ctx, files, links=()):
    """A root (0755, files 0644: tftpd-hpa refuses files that are not
    world-readable) with files {rel: content or None for content_of} and
    symlinks [(rel, target)]."""
    root = ctx.tmpdir("root")
    os.chmod(root, 0o755)
    for rel, c in files.items():
        p = os.path.join(root, rel.lstrip("/"))
        os.makedirs(os.path.dirname(p), mode=0o755, exist_ok=True)
        write_bytes(p, content_of(rel) if c is None else c)
        os.chmod(p, 0o644)
    for rel, target in links:
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), mode=0o755, exist_ok=True)
        os.symlink(target, p)
    for d, dirs, _ in os.walk(root):
        for n in dirs:
            if not os.path.islink(os.path.join(d, n)):
                os.chmod(os.path.join(d, n), 0o755)
    return root


def write_map(ctx, text, name="map"):
    d = ctx.tmpdir("map")
    return write_bytes(os.path.join(d, name), text.encode())


class Hpa:
    """Debian's in.tftpd serving root through mapfile: -L foreground,
    -s chroot to root (the names are then relative to it, as tftpx's
    are to DIR), -u root (it needs no other user to read the root)."""

    def __init__(self, ctx, root, mapfile):
        if not os.access(INTFTPD, os.X_OK):
            raise Skip("%s not installed (tftpd-hpa)" % INTFTPD)
        if os.geteuid() != 0:
            raise Skip("in.tftpd -s chroots: needs root")
        for _ in range(3):
            port = free_udp_port()
            argv = [INTFTPD, "-L", "-s", "-u", "root", "-m", mapfile,
                    "-a", "127.0.0.1:%d" % port, root]
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL,
                                 start_new_session=True)
            ctx.procs.append(p)
            ctx.killgroups.append(p)      # its per-request children too
            peer = ctx.peer()
            end = time.monotonic() + 3
            # any answer means it is listening (the map may rewrite or
            # refuse the probe's name)
            while time.monotonic() < end and p.poll() is None:
                peer.send(pkt_rrq(".probe"), port)
                pkt, tid = peer.recv(0.2)
                if pkt is not None:
                    if op_of(pkt) == DATA:
                        peer.send(pkt_error(0, "probe"), tid)
                    self.port, self.p = port, p
                    return
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            p.wait(2)
        raise Fail("in.tftpd did not come up")


def ask(ctx, port, name, limit=15.0):
    """One RRQ (octet, no options) from a fresh port: ("data", bytes),
    ("error", code, text) or ("none",) when nothing came in 3 s."""
    peer = ctx.peer()
    peer.send(pkt_rrq(name), port)
    pkt, tid = peer.recv(3.0)
    if pkt is None:
        return ("none",)
    op = op_of(pkt)
    if op == ERROR:
        c, m = err_of(pkt)
        return ("error", c, m)
    if op == DATA:
        try:
            return ("data", raw_receive(peer, tid, pkt, limit=limit))
        except Fail as e:
            return ("broken", str(e))
    if op == OACK:
        peer.send(pkt_error(8, "no options asked"), tid)
    return ("broken", describe(pkt))


class Roots:
    """The files of a differential case, to name what a reply held."""

    def __init__(self, root, outside_marker):
        self.root = root
        self.marker = outside_marker
        try:
            self.passwd = read_bytes("/etc/passwd")
        except OSError:
            self.passwd = None
        self.by_bytes = {}
        for d, _, files in os.walk(root):
            for n in files:
                p = os.path.join(d, n)
                if os.path.islink(p):
                    continue
                self.by_bytes.setdefault(read_bytes(p),
                                         os.path.relpath(p, root))

    def outside(self, data):
        """Why data came from outside the root, or None."""
        if self.marker in data:
            return "the marker planted outside the root"
        if self.passwd is not None and data == self.passwd:
            return "the host's /etc/passwd"
        return None

    def show(self, r):
        if r[0] == "data":
            n = self.by_bytes.get(r[1])
            if n is not None:
                return "DATA of ROOT/%s" % n
            why = self.outside(r[1])
            return "DATA (%d bytes%s)" % (len(r[1]),
                                          ", " + why if why else "")
        if r[0] == "error":
            return "ERROR %d %r" % (r[1], r[2])
        if r[0] == "none":
            return "no answer"
        return "broken transfer (%s)" % r[1]


# A request: (name, how, want, note)
#   how   "same": the same bytes, or ERROR with the same code;
#         "msg":  that, and the same ERROR text;
#         "diff": not compared (the note says why), reported when they
#                 differ;
#   want  what tftpx must answer whatever tftpd-hpa does: a file's path
#         beneath the root, an ERROR code, "refused" (any ERROR) or None.
# Whatever the map, tftpx never sends the outside marker or /etc/passwd.

CLAMP = ("containment: tftpd-hpa's chroot turns '..' at the root into "
         "the root, tftpx refuses")
LINK = ("containment: tftpd-hpa follows the link inside its chroot, tftpx "
        "refuses a link that leaves DIR")


def R(name, how="same", want=None, note=None):
    return (name, how, want, note)


def same_outcome(h, x, how):
    if h[0] != x[0]:
        return False
    if h[0] == "data":
        return h[1] == x[1]
    if h[0] == "error":
        return h[1] == x[1] and (how != "msg" or h[2] == x[2])
    return h[0] == x[0]


def want_ok(roots, x, want):
    if want is None:
        return True
    if want == "refused":
        return x[0] == "error"
    if isinstance(want, int):
        return x[0] == "error" and x[1] == want
    p = os.path.join(roots.root, want.lstrip("/"))
    return x[0] == "data" and x[1] == read_bytes(p)


def differential(ctx, files, links, map_text, requests):
    outside = ctx.tmpdir("outside")
    os.chmod(outside, 0o755)
    marker = ("MARKER-OUTSIDE-ROOT %s\n" % os.urandom(8).hex()).encode()
    write_bytes(os.path.join(outside, "marker"), marker)
    os.chmod(os.path.join(outside, "marker"), 0o644)
    os.symlink("marker", os.path.join(outside, "passwd"))

    def subst(s):
        return (s.replace("{OUTABS}", outside)
                .replace("{OUT}", os.path.basename(outside)))
    files = {subst(k): v for k, v in files.items()}
    links = [(subst(a), subst(b)) for a, b in links]
    root = make_root(ctx, files, links)
    mapfile = write_map(ctx, subst(map_text))
    roots = Roots(root, marker)
    hpa = Hpa(ctx, root, mapfile)
    srv = Server(ctx, root, ("--map", mapfile))
    check(len(requests) >= 10, "only %d requests" % len(requests))
    fails, notes, words = [], [], {}
    for name, how, want, note in requests:
        name = subst(name)
        if isinstance(want, str):
            want = subst(want)
        h = ask(ctx, hpa.port, name)
        x = ask(ctx, srv.port, name)
        if x[0] == "data" and roots.outside(x[1]):
            fails.append("RRQ %r: tftpx served %s" %
                         (name, roots.outside(x[1])))
            continue
        if h[0] == "data" and roots.outside(h[1]):
            notes.append("RRQ %r: tftpd-hpa served %s" %
                         (name, roots.outside(h[1])))
        if not want_ok(roots, x, want):
            fails.append("RRQ %r: tftpx %s, expected %s (tftpd-hpa %s)" %
                         (name, roots.show(x),
                          ("ERROR %d" % want) if isinstance(want, int)
                          else want if want == "refused"
                          else "DATA of %s" % want, roots.show(h)))
            continue
        if how == "diff":
            if not same_outcome(h, x, "msg"):
                notes.append("RRQ %r: tftpd-hpa %s, tftpx %s (%s)" %
                             (name, roots.show(h), roots.show(x),
                              note or "not asserted"))
            continue
        if h[0] in ("none", "broken"):
            fails.append("RRQ %r: tftpd-hpa %s (tftpx %s): the reference "
                         "did not answer" % (name, roots.show(h),
                                             roots.show(x)))
            continue
        if not same_outcome(h, x, how):
            fails.append("RRQ %r: tftpd-hpa %s, tftpx %s" %
                         (name, roots.show(h), roots.show(x)))
        elif h[0] == "error" and how != "msg" and h[2] != x[2]:
            # the same code: the words are each server's own
            words.setdefault((h[1], h[2], x[2]), []).append(name)
    for n in notes:
        info(ctx, n)
    for (code, hw, xw), names in sorted(words.items()):
        info(ctx, "ERROR %d words (not asserted): tftpd-hpa %r, tftpx %r "
             "for %s" % (code, hw, xw, ", ".join(repr(n) for n in names)))
    check(srv.p.poll() is None, "tftpx exited: %s" % srv.tail())
    if fails:
        raise Fail("%d of %d requests differ: %s" %
                   (len(fails), len(requests), "; ".join(fails)))


# ---------------------------------------------------------------- the maps

# (a) OpenStack Ironic's map file, as its install guide writes it for
# xinetd's `in.tftpd --map-file /tftpboot/map-file /tftpboot` (no -s:
# absolute names).  With -s ROOT the same rules look into ROOT/tftpboot.
# Rule 1 names \2, a group the regex does not have: empty.
IRONIC_MAP = r"""re ^(/tftpboot/) /tftpboot/\2
re ^/tftpboot/ /tftpboot/
re ^(^/) /tftpboot/\1
re ^([^/]) /tftpboot/\1
"""
NODE = "1be26c0b-03f2-4d2e-ae87-c02d7f33c123"
IRONIC_FILES = {
    "pxelinux.0": b"decoy: pxelinux.0 outside tftpboot/\n",
    "tftpboot/pxelinux.0": None,
    "tftpboot/chain.c32": None,
    "tftpboot/ldlinux.c32": None,
    "tftpboot/pxelinux.cfg/01-52-54-00-12-34-56": None,
    "tftpboot/%s/config" % NODE: None,
    "tftpboot/%s/deploy_kernel" % NODE: content_of("deploy_kernel", True),
    "tftpboot/%s/deploy_ramdisk" % NODE: content_of("deploy_ramdisk",
                                                    True),
    "tftpboot/grubx64.efi": content_of("grubx64.efi", True),
}
IRONIC_REQS = [
    R("pxelinux.0", want="tftpboot/pxelinux.0"),
    R("/pxelinux.0", want="tftpboot/pxelinux.0"),
    R("//pxelinux.0", want="tftpboot/pxelinux.0"),
    R("/tftpboot/pxelinux.0", want="tftpboot/pxelinux.0"),
    R("tftpboot/pxelinux.0", want=1),        # /tftpboot/tftpboot/...
    R("ldlinux.c32"),
    R("chain.c32"),
    R("pxelinux.cfg/01-52-54-00-12-34-56"),
    R("/tftpboot/pxelinux.cfg/01-52-54-00-12-34-56"),
    R("/tftpboot/%s/config" % NODE),
    R("/tftpboot/%s/deploy_kernel" % NODE),
    R("%s/deploy_ramdisk" % NODE),
    R("/grubx64.efi"),
    R("pxelinux.cfg/01-52-54-00-ff-ff-ff", want=1),
    R("/tftpboot/%s/../chain.c32" % NODE, want="tftpboot/chain.c32"),
    R("../pxelinux.0", want="pxelinux.0"),   # /tftpboot/../pxelinux.0
    R("/../../pxelinux.0", "diff", 2, CLAMP),
    R("/tftpboot/", "diff", 2, "a directory: tftpd-hpa opens it and "
      "fails reading it"),
]

# (b) A Windows PXE boot (WDS: wdsnbp.com, pxeboot.n12, bootmgr.exe, the
# BCD store): the loader asks with backslashes and in the case the BCD
# store spells; the files are laid out as the WDS share has them.
WINDOWS_MAP = r"""# Windows PXE (WDS / bootmgr) clients
# backslashes to slashes, every one
rg	\\			/
# the names bootmgr asks in whatever case, as the files are spelled
ri	^/?boot/bcd$		Boot/BCD
ri	^/?boot/boot\.sdi$	Boot/boot.sdi
ri	^/?boot/fonts/(.*)$	Boot/Fonts/\L\1
ri	^/?boot/x64/(.*)$	Boot/x64/\L\1
ri	^/?sources/boot\.wim$	sources/boot.wim
ri	^/?bootmgr\.exe$	bootmgr.exe	# the loader itself
"""
WINDOWS_FILES = {
    "Boot/BCD": None,
    "Boot/boot.sdi": content_of("Boot/boot.sdi", True),
    "Boot/Fonts/wgl4_boot.ttf": None,
    "Boot/Fonts/segmono_boot.ttf": None,
    "Boot/x64/pxeboot.n12": None,
    "Boot/x64/wdsnbp.com": None,
    "sources/boot.wim": content_of("sources/boot.wim", True),
    "bootmgr.exe": None,
}
WINDOWS_REQS = [
    R("\\Boot\\BCD", want="Boot/BCD"),
    R("boot\\bcd", want="Boot/BCD"),
    R("BOOT/BCD", want="Boot/BCD"),
    R("/boot/BCD", want="Boot/BCD"),
    R("\\\\Boot\\\\BCD", want="Boot/BCD"),   # //Boot//BCD: no rule
    R("\\Boot\\Fonts\\WGL4_BOOT.TTF", want="Boot/Fonts/wgl4_boot.ttf"),
    R("\\boot\\fonts\\SegMono_Boot.ttf"),
    R("\\boot\\boot.sdi", want="Boot/boot.sdi"),
    R("\\Sources\\Boot.wim", want="sources/boot.wim"),
    R("bootmgr.exe"),
    R("\\BOOTMGR.EXE", want="bootmgr.exe"),
    R("Boot\\x64\\PXEBOOT.N12", want="Boot/x64/pxeboot.n12"),
    R("\\Boot\\x64\\wdsnbp.com"),
    R("\\Boot\\missing.txt", want=1),
    R("boot\\bcd.log", want=1),
    R("..\\..\\etc\\passwd", "diff", 2, CLAMP),
]

# (c) \i and \x (the client's address: 127.0.0.1, 7F000001), r and a
# rules, \U \L \E.  An a rule's words are the name with the match
# replaced by its REPLACEMENT.
CLIENT_MAP = r"""# per-host files by address
r	^config$		configs/config-\i
r	^hexconfig$		pxelinux.cfg/\x
r	^host/(.*)$		hosts/\i/\1
ri	^pxelinux\.cfg/default$	pxelinux.cfg/\x.menu
# refusals, with words
a	^secret
a	\.(key|pem)$		:\ no\ key\ files
a	^private/.*$		private\ files\ are\ not\ served
a	^hash$			a\ \#\ in\ the\ words	# a comment
a	^deny-me$		\i\ (\x)\ may\ not
# case
r	^(upper)/(.*)$		\U\1\E/\2
ri	^LOWER/(.*)$		lower/\L\1
"""
CLIENT_FILES = {
    "configs/config-127.0.0.1": None,
    "pxelinux.cfg/7F000001": None,
    "pxelinux.cfg/7F000001.menu": None,
    "hosts/127.0.0.1/kernel": content_of("hosts/127.0.0.1/kernel", True),
    "secret.txt": None,
    "server.key": None,
    "private/x": None,
    "UPPER/file": None,
    "lower/mixedcase": None,
    "plain.bin": None,
}
CLIENT_REQS = [
    R("config", want="configs/config-127.0.0.1"),
    R("hexconfig", want="pxelinux.cfg/7F000001"),
    R("PXELINUX.CFG/Default", want="pxelinux.cfg/7F000001.menu"),
    R("host/kernel", want="hosts/127.0.0.1/kernel"),
    R("host/nope", want=1),
    R("configs/config-127.0.0.1"),
    R("secret", "msg", 2),
    R("secret.txt", "msg", 2),
    R("secrets/a", "msg", 2),
    R("server.key", "msg", 2),
    R("dir/ca.pem", "msg", 2),
    R("private/x", "msg", 2),
    R("hash", "msg", 2),
    R("deny-me", "msg", 2),
    R("upper/file", want="UPPER/file"),
    R("LOWER/MixedCase", want="lower/mixedcase"),
    R("Lower/MIXEDCASE", want="lower/mixedcase"),
    R("plain.bin"),
]

# (d) hostile rules: every rewrite aims outside the root.  Planted: a
# marker in a directory beside the root ({OUTABS}, basename {OUT}); in
# the root a decoy at ROOT{OUTABS}/marker (where an absolute name lands
# when it is taken beneath the root) and ROOT/etc/passwd.
HOSTILE_MAP = r"""# rules that try to leave the root
r	^passwd$		../../etc/passwd
r	^marker$		../{OUT}/marker
r	^abs-marker$		{OUTABS}/marker
r	^abs-passwd$		/etc/passwd
r	^deep$			/../../../../../../..{OUTABS}/marker
r	^via-dir/(.*)$		lnk_dir/\1
r	^dotdot/(.*)$		tftpboot/../../\1
r	^rel-link$		lnk_rel
r	^abs-link$		lnk_abs
"""
HOSTILE_FILES = {
    "etc/passwd": b"root-etc-passwd: the one inside the root\n",
    "{OUTABS}/marker": b"decoy: an absolute name taken beneath the root\n",
    "tftpboot/pxelinux.0": None,
    "ok.bin": None,
}
HOSTILE_LINKS = [
    ("lnk_abs", "{OUTABS}/marker"),          # absolute, outside
    ("lnk_rel", "../{OUT}/marker"),          # relative, climbs out
    ("lnk_dir", "{OUTABS}"),                 # a directory outside
    ("lnk_passwd", "/etc/passwd"),
    ("lnk_in", "tftpboot/pxelinux.0"),       # stays inside
    ("tftpboot/lnk_up", "../ok.bin"),        # .. that stays inside
]
HOSTILE_REQS = [
    R("passwd", "diff", 2, CLAMP),
    R("marker", "diff", 2, CLAMP),
    R("abs-marker", want="{OUTABS}/marker"),
    R("abs-passwd", want="etc/passwd"),
    R("deep", "diff", 2, CLAMP),
    R("via-dir/marker", "diff", "refused", LINK),
    R("dotdot/etc/passwd", "diff", 2, CLAMP),
    R("rel-link", "diff", "refused", LINK),
    R("abs-link", "diff", "refused", LINK),
    R("lnk_passwd", "diff", "refused", LINK),
    R("lnk_dir/marker", "diff", "refused", LINK),
    R("lnk_in", want="tftpboot/pxelinux.0"),
    R("tftpboot/lnk_up", want="ok.bin"),
    R("../../etc/passwd", "diff", 2, CLAMP),
    R("/etc/passwd", want="etc/passwd"),
    R("{OUTABS}/marker", want="{OUTABS}/marker"),
    R("ok.bin"),
]

# every name first climbs to "/../../"; only public/ is let back in
PREFIX_MAP = r"""r	^		/../../
r	^/\.\./\.\./public/	public/
"""
PREFIX_FILES = {"public/a": None, "public/sub/b": None, "ok.bin": None,
                "etc/passwd": b"root-etc-passwd: inside\n"}
PREFIX_REQS = [
    R("public/a", want="public/a"),
    R("public/sub/b", want="public/sub/b"),
    R("public/../ok.bin", want="ok.bin"),
    R("public/missing", want=1),
    R("ok.bin", "diff", 2, CLAMP),
    R("etc/passwd", "diff", 2, CLAMP),
    R("/etc/passwd", "diff", 2, CLAMP),
    R("marker", "diff", 2, CLAMP),
    R("{OUT}/marker", "diff", 2, CLAMP),
    R("../{OUT}/marker", "diff", 2, CLAMP),
]

# (e) s (restart: 5.2 resumes at the second rule), e (end), G and P (of
# the two the last counts; the requests are all RRQs), ~, a rule loop.
FLAGS_MAP = r"""# line 2 is the first rule: after an s, 5.2 starts again at line 4
r	^first$			first-pass
# legacy names, rewritten then looked at again from the top
rs	^legacy/(.*)$		current/\1
re	^current/final$		final/done
r	^current/		stage/
rG	^getonly$		getonly-mapped
rP	^putonly$		putonly-mapped
rGP	^gp$			gp-mapped
rPG	^pg$			pg-mapped
e	^stop
r	^stop(.*)$		not-reached\1
rs	^again$			first
rs	^loop$			loop
e~	\.cfg$
r	^(.*)\.cfg$		cfg/\1
"""
FLAGS_FILES = {
    "first": None, "first-pass": None, "again": None,
    "stage/x": None, "current/x": None, "final/done": None,
    "current/final": None, "getonly": None, "getonly-mapped": None,
    "putonly": None, "putonly-mapped": None, "gp": None, "gp-mapped": None,
    "pg": None, "pg-mapped": None, "stop-here": None,
    "not-reached-here": None, "cfg/boot": None, "boot.cfg": None,
    "plain": None,
}
FLAGS_REQS = [
    R("first", want="first-pass"),
    R("again", want="first"),           # the s quirk
    R("legacy/x", want="stage/x"),
    R("legacy/final", want="final/done"),
    R("current/x", want="stage/x"),
    R("current/final", want="final/done"),
    R("getonly", want="getonly-mapped"),
    R("putonly", want="putonly"),
    R("gp", want="gp"),
    R("pg", want="pg-mapped"),
    R("stop-here", want="stop-here"),
    R("loop", "msg", 2),
    R("boot.cfg", want="cfg/boot"),     # e~ fires on names not .cfg
    R("plain", want="plain"),
]

# (f) the file's syntax: escaped space and '#' in fields, a comment after
# the rules, a CRLF line, 4 and 6, \U \L \E, \0 and groups that took
# no part or do not exist, g, a rule without a REPLACEMENT.
SYNTAX_MAP = "".join([
    r"r	^my\ file$		my_file" "\n",
    r"r	^a\#b$			hash-file   # a comment" "\n",
    r"r	^crlf$			crlf-file" "\r\n",
    r"r4	^fam$			v4-file" "\n",
    r"r6	^fam$			v6-file" "\n",
    r"r	^(ab)-(CD)$		\U\1\E-\L\2" "\n",
    r"rg	\.			-" "\n",
    r"r	^g0-(.*)$		\0-\1-\5" "\n",
    r"r	^opt(x)?-(y)$		\1x-\2" "\n",
    r"r	^sp$			with\ space" "\n",
    r"ri	^ICASE$			my_file" "\n",
    r"r	^bs$			back\\slash" "\n",
    r"r	^gone$" "\n",
    r"r	^slash$			/" "\n",
])
SYNTAX_FILES = {n: None for n in (
    "my_file", "hash-file", "crlf-file", "v4-file", "v6-file", "AB-cd",
    "g0-a-b-c-a-b-c-", "x-y", "with space", "back\\slash", "plain")}
SYNTAX_REQS = [
    R("my file", want="my_file"),
    R("a#b", want="hash-file"),
    R("crlf", want="crlf-file"),
    R("fam", want="v4-file"),
    R("ab-CD", want="AB-cd"),
    R("g0.a.b.c", want="g0-a-b-c-a-b-c-"),
    R("opt-y", want="x-y"),
    R("sp", want="with space"),
    R("icase", want="my_file"),
    R("bs", want="back\\slash"),
    R("plain"),
    R("gone", "diff", 2, "the rule leaves an empty name: tftpd-hpa "
      "opens \"\", tftpx refuses an empty name"),
    R("slash", "diff", 2, "the rule leaves \"/\": tftpd-hpa opens the "
      "root directory, tftpx refuses an empty name"),
]


HPA_MAPS = [
    ("ironic", (IRONIC_FILES, (), IRONIC_MAP, IRONIC_REQS)),
    ("windows", (WINDOWS_FILES, (), WINDOWS_MAP, WINDOWS_REQS)),
    ("client_vars", (CLIENT_FILES, (), CLIENT_MAP, CLIENT_REQS)),
    ("hostile_rules", (HOSTILE_FILES, HOSTILE_LINKS, HOSTILE_MAP,
                       HOSTILE_REQS)),
    ("hostile_prefix", (PREFIX_FILES, HOSTILE_LINKS, PREFIX_MAP,
                        PREFIX_REQS)),
    ("flags", (FLAGS_FILES, (), FLAGS_MAP, FLAGS_REQS)),
    ("syntax", (SYNTAX_FILES, (), SYNTAX_MAP, SYNTAX_REQS)),
]


@param_case("hpa", (4,), HPA_MAPS)
def _(ctx, arg):
    files, links, text, reqs = arg
    differential(ctx, files, links, text, reqs)


# ---------------------------------------------------------------- tftpx only


def get(ctx, srv, name):
    return ask(ctx, srv.port, name)


def expect_file(ctx, srv, name, root, rel):
    r = get(ctx, srv, name)
    want = read_bytes(os.path.join(root, rel))
    check(r == ("data", want), "RRQ %r: %s, expected the bytes of %s" %
          (name, r[0] == "data" and "%d bytes %r" % (len(r[1]), r[1][:40])
           or r, rel))


def expect_err(ctx, srv, name, code, text=None):
    r = get(ctx, srv, name)
    check(r[0] == "error" and r[1] == code and
          (text is None or r[2] == text),
          "RRQ %r: %r, expected ERROR %d%s" %
          (name, r[:3] if r[0] == "error" else r[0], code,
           " %r" % text if text else ""))


def one_line(err):
    lines = [l for l in err.splitlines() if l.strip()]
    check(len(lines) == 1, "expected one line on stderr, got %r" % lines)
    return lines[0]


# (map text, line, words of the problem)
BAD_MAPS = [
    ("flag", "# Windows\n\nrg \\\\ /\nrx ^a$ b\n", 4, ("flag", "x")),
    ("regex", "r ^a$ b\n# the next one is broken\nr ^(boot b\n", 3,
     ("regex", "(")),
    ("r_not", "r ^a$ b\nr~ ^a$ b\n", 2, ("~",)),
    ("no_regex", "r ^a$ b\n\n\nr\n", 4, ("regex",)),
]


@param_case("map_bad", (4,), [(b[0], b) for b in BAD_MAPS])
def _(ctx, b):
    _, text, line, words = b
    root = make_root(ctx, {"a": None})
    mapfile = write_map(ctx, text, "bad.map")
    rc, _, err, _ = ctx.tftpx("serve", "--allow-root", "-l", "127.0.0.1:0",
                              "--map", mapfile, root, timeout=10)
    check(rc == 1, "exit %d, expected 1; stderr %r" % (rc, err))
    l = one_line(err)
    check(mapfile in l, "%r does not name the file %s" % (l, mapfile))
    check(re.search(r"\bline %d\b" % line, l),
          "%r does not name line %d" % (l, line))
    rest = l.split("line %d" % line, 1)[-1]
    check(all(w in rest for w in words),
          "%r does not say what is wrong (%r)" % (l, words))


@case("map_bad_missing_file")
def _(ctx):
    root = make_root(ctx, {"a": None})
    mapfile = os.path.join(ctx.tmpdir("map"), "nope.map")
    rc, _, err, _ = ctx.tftpx("serve", "--allow-root", "-l", "127.0.0.1:0",
                              "--map", mapfile, root, timeout=10)
    check(rc == 1, "exit %d, expected 1; stderr %r" % (rc, err))
    l = one_line(err)
    check(mapfile in l and "No such file" in l, "stderr %r" % l)


@case("map_sighup_reload")
def _(ctx):
    root = make_root(ctx, {"one": None, "two": None, "three": None})
    mapfile = write_map(ctx, "# v1\nr ^a$ one\n")
    srv = Server(ctx, root, ("--map", mapfile))
    check(srv.wait_for(lambda l: "map file %s: 1 rules" % mapfile in l, 2),
          "no 'map file %s: 1 rules' line at start: %s" %
          (mapfile, srv.tail()))
    expect_file(ctx, srv, "a", root, "one")
    # a good new file: taken for the next request
    write_bytes(mapfile + ".new", b"# v2\nr ^b$ three\nr ^a$ two\n")
    os.rename(mapfile + ".new", mapfile)
    srv.p.send_signal(signal.SIGHUP)
    l = srv.wait_for(lambda l: "reloaded: 2 rules" in l, 3)
    check(l is not None and mapfile in l, "no 'map file %s reloaded: 2 "
          "rules' line after SIGHUP: %s" % (mapfile, srv.tail()))
    expect_file(ctx, srv, "a", root, "two")
    expect_file(ctx, srv, "b", root, "three")
    # a bad new file: the old rules stay, and the log says why
    write_bytes(mapfile, b"# v3\nr ^a$ one\nrq ^b$ one\n")
    srv.p.send_signal(signal.SIGHUP)
    l = srv.wait_for(lambda l: "keeping the" in l, 3)
    check(l is not None, "no 'keeping the N rules' line after a bad "
          "reload: %s" % srv.tail())
    check(mapfile in l and re.search(r"\bline 3\b", l) and
          "keeping the 2 rules loaded before" in l,
          "bad reload line %r: want the file, line 3 and 'keeping the 2 "
          "rules loaded before'" % l)
    check(srv.p.poll() is None, "server exited on a bad reload")
    expect_file(ctx, srv, "a", root, "two")
    expect_file(ctx, srv, "b", root, "three")
    # and a file that is gone: the same
    os.unlink(mapfile)
    srv.p.send_signal(signal.SIGHUP)
    check(srv.wait_for(lambda l: "keeping the" in l and
                       "No such file" in l, 3),
          "no 'keeping' line for a missing map file: %s" % srv.tail())
    expect_file(ctx, srv, "a", root, "two")


@case("map_put_rules")
def _(ctx):
    root = make_root(ctx, {"putonly": None})
    mapfile = write_map(ctx, "rP ^putonly$ uploads/putonly\n"
                        "rG ^putonly$ never\n")
    os.makedirs(os.path.join(root, "uploads"))
    srv = Server(ctx, root, ("--map", mapfile, "--upload"))
    peer = ctx.peer()
    raw_put(peer, srv, "putonly", b"uploaded\n")
    p = os.path.join(root, "uploads", "putonly")
    end = time.monotonic() + 3
    while not os.path.exists(p) and time.monotonic() < end:
        time.sleep(0.05)
    check(os.path.exists(p) and read_bytes(p) == b"uploaded\n",
          "WRQ putonly did not land in uploads/putonly (the P rule); "
          "root holds %s" % sorted(os.listdir(root)))
    check(read_bytes(os.path.join(root, "putonly")) == content_of("putonly"),
          "the G rule or no rule was used for the WRQ")
    expect_err(ctx, srv, "putonly", 1)      # RRQ: the G rule, "never"


@case("map_refusal_logged")
def _(ctx):
    root = make_root(ctx, {"x.pvt": None})
    mapfile = write_map(ctx, "r ^a$ b\na \\.pvt$ :\\ private\n")
    srv = Server(ctx, root, ("--map", mapfile))
    expect_err(ctx, srv, "x.pvt", 2, "x: private")
    l = srv.wait_for(lambda l: '"x.pvt"' in l and "refused" in l, 3)
    check(l is not None and "x: private" in l and "error 2" in l,
          "refusal line %r; stderr: %s" % (l, srv.tail()))


@case("lowercase")
def _(ctx):
    root = make_root(ctx, {"pxelinux.0": None,
                           "pxelinux.cfg/default": None,
                           "UPPER.BIN": None})
    srv = Server(ctx, root, ("--lowercase",))
    expect_file(ctx, srv, "PXELINUX.0", root, "pxelinux.0")
    expect_file(ctx, srv, "PxeLinux.Cfg/DEFAULT", root,
                "pxelinux.cfg/default")
    expect_file(ctx, srv, "pxelinux.0", root, "pxelinux.0")
    # every name is taken in lower case: an upper-case file is not found
    expect_err(ctx, srv, "UPPER.BIN", 1)
    # the map sees the name as sent; the lower case comes after it
    mapfile = write_map(ctx, "r ^PXE/ pxelinux.cfg/\n")
    srv2 = Server(ctx, root, ("--lowercase", "--map", mapfile))
    expect_file(ctx, srv2, "PXE/DEFAULT", root, "pxelinux.cfg/default")
    expect_err(ctx, srv2, "pxe/default", 1)
    plain = Server(ctx, root)
    expect_err(ctx, plain, "PXELINUX.0", 1)


@case("icase")
def _(ctx):
    root = make_root(ctx, {"Boot/bcd": None, "Boot/Fonts/wgl4_boot.ttf":
                           None, "a.txt": None, "A.TXT": None})
    srv = Server(ctx, root, ("--ignore-case",))
    expect_file(ctx, srv, "BOOT/BCD", root, "Boot/bcd")
    expect_file(ctx, srv, "boot/bcd", root, "Boot/bcd")
    expect_file(ctx, srv, "/bOoT/fONTS/WGL4_Boot.TTF", root,
                "Boot/Fonts/wgl4_boot.ttf")
    # the name as asked wins when it is there
    expect_file(ctx, srv, "A.TXT", root, "A.TXT")
    expect_file(ctx, srv, "a.txt", root, "a.txt")
    expect_err(ctx, srv, "BOOT/NOPE", 1)
    expect_err(ctx, srv, "NOPE/BCD", 1)
    # without --backslash a backslash is a byte of the name
    expect_err(ctx, srv, "boot\\BCD", 1)
    plain = Server(ctx, root)
    expect_err(ctx, plain, "BOOT/BCD", 1)


@case("icase_backslash")
def _(ctx):
    root = make_root(ctx, {"Boot/bcd": None})
    srv = Server(ctx, root, ("--ignore-case", "--backslash"))
    expect_file(ctx, srv, "boot\\BCD", root, "Boot/bcd")
    expect_file(ctx, srv, "\\BOOT\\BCD", root, "Boot/bcd")
    expect_err(ctx, srv, "\\BOOT\\BCD.bak", 1)


@case("icase_map_backslash")
def _(ctx):
    root = make_root(ctx, {"Boot/bcd": None})
    mapfile = write_map(ctx, "rg \\\\ /\n")
    srv = Server(ctx, root, ("--ignore-case", "--map", mapfile))
    expect_file(ctx, srv, "BOOT\\BCD", root, "Boot/bcd")
    expect_file(ctx, srv, "\\boot\\bcd", root, "Boot/bcd")
    expect_err(ctx, srv, "BOOT\\NOPE", 1)


@case("icase_contained")
def _(ctx):
    # a differently spelled name must not find a way out: a link that
    # leaves the root in another case, '..' that the search passes over
    outside = ctx.tmpdir("outside")
    marker = b"MARKER-OUTSIDE-ROOT icase\n"
    write_bytes(os.path.join(outside, "Marker"), marker)
    root = make_root(ctx, {"sub/x": None},
                     [("Lnk", outside),
                      ("Up", "../" + os.path.basename(outside))])
    srv = Server(ctx, root, ("--ignore-case", "--lowercase"))
    for name in ("lnk/marker", "LNK/MARKER", "up/marker", "SUB/../../%s/"
                 "MARKER" % os.path.basename(outside).upper(),
                 "sub/../lnk/marker"):
        r = get(ctx, srv, name)
        check(r[0] == "error", "RRQ %r: %s (from outside the root)" %
              (name, r[0] == "data" and r[1][:60] or r))


@case("map_g_loop_bounded")
def _(ctx):
    # tftpd-hpa 5.2 spins for ever on this one; tftpx must answer
    root = make_root(ctx, {"aaa": None, "ok": None})
    mapfile = write_map(ctx, "rg a a\n")
    srv = Server(ctx, root, ("--map", mapfile))
    t0 = time.monotonic()
    expect_err(ctx, srv, "aaa", 2, "Remap table failure")
    check(time.monotonic() - t0 < 2.0, "the refusal took %.1f s" %
          (time.monotonic() - t0))
    expect_file(ctx, srv, "ok", root, "ok")


@case("map_name_too_long")
def _(ctx):
    # every restart doubles the name: tftpd-hpa has no bound on it
    root = make_root(ctx, {"ok": None})
    mapfile = write_map(ctx, "r ^zzz$ z\nrs ^(x+)$ \\1\\1\n")
    srv = Server(ctx, root, ("--map", mapfile))
    r = get(ctx, srv, "xxxx")
    check(r[0] == "error" and r[1] == 2 and "too long" in r[2],
          "RRQ 'xxxx' doubled past 4096 bytes: %r, expected ERROR 2 file "
          "name too long" % (r,))
    expect_file(ctx, srv, "ok", root, "ok")


@case("map_tsize_of_served_file")
def _(ctx):
    root = make_root(ctx, {"big.bin": b"B" * 3000, "small": b"s"})
    mapfile = write_map(ctx, "r ^small$ big.bin\n")
    srv = Server(ctx, root, ("--map", mapfile))
    peer = ctx.peer()
    peer.send(pkt_rrq("small", opts=[("tsize", "0"), ("blksize", "1024")]),
              srv.port)
    pkt, tid = peer.expect(3.0, "OACK")
    check(op_of(pkt) == OACK, "expected OACK, got %s" % describe(pkt))
    o = dict(oack_opts(pkt))
    peer.send(pkt_error(0, "done"), tid)
    check(o.get("tsize") == "3000", "tsize %r for 'small' mapped to "
          "big.bin (3000 bytes)" % o.get("tsize"))


def vline(srv, asked, timeout=3.0):
    tag = ' RRQ "%s" -> ' % asked
    return srv.wait_for(lambda l: tag in l, timeout)


@case("verbose_name_line")
def _(ctx):
    root = make_root(ctx, {"boot/pxelinux.0": None, "Boot/bcd": None,
                           "plain": None})
    mapfile = write_map(ctx, "# remap\nr ^old/ new/\nr ^x$ y\n"
                        "r ^zzz$ z\nr ^new/ boot/\n")
    srv = Server(ctx, root, ("-v", "--map", mapfile, "--ignore-case"))
    peer = ctx.peer()
    peer.send(pkt_rrq("old/pxelinux.0"), srv.port)
    pkt, tid = peer.expect(3.0, "DATA 1")
    raw_receive(peer, tid, pkt)
    l = vline(srv, "old/pxelinux.0")
    want = ('127.0.0.1:%d RRQ "old/pxelinux.0" -> "boot/pxelinux.0" '
            '(map lines 2,5)' % peer.port)
    check(l is not None and l.endswith(want),
          "-v line %r, expected it to end with %r; stderr: %s" %
          (l, want, srv.tail()))
    # one rule: "map line N"
    expect_err(ctx, srv, "x", 1)
    l = vline(srv, "x")
    check(l is not None and l.endswith('RRQ "x" -> "y" (map line 3)'),
          "-v line %r" % l)
    # the case ignored, with and without a rule
    expect_file(ctx, srv, "BOOT/BCD", root, "Boot/bcd")
    l = vline(srv, "BOOT/BCD")
    check(l is not None and l.endswith('"BOOT/BCD" -> "Boot/bcd" '
                                       '(case ignored)'),
          "-v line %r" % l)
    expect_file(ctx, srv, "old/../Boot/BCD", root, "Boot/bcd")
    # a name as asked: no line
    expect_file(ctx, srv, "plain", root, "plain")
    time.sleep(0.2)
    check(vline(srv, "plain", 0.1) is None,
          "a '->' line for a name nothing changed: %s" % srv.tail())


@case("json_name_event")
def _(ctx):
    root = make_root(ctx, {"boot/pxelinux.0": None, "Boot/bcd": None})
    mapfile = write_map(ctx, "r ^old/ boot/\nr ^x$ y\n")
    srv = Server(ctx, root, ("-v", "--log-format", "json", "--map",
                             mapfile, "--ignore-case"))
    expect_file(ctx, srv, "old/pxelinux.0", root, "boot/pxelinux.0")
    expect_file(ctx, srv, "BOOT/BCD", root, "Boot/bcd")
    end = time.monotonic() + 3
    while True:
        evs = []
        for l in list(srv.lines):
            if l.startswith("tftpx: "):
                continue
            try:
                evs.append(json.loads(l))
            except ValueError as e:
                raise Fail("not JSON (%s): %r" % (e, l))
        names = [e for e in evs if e.get("event") == "name"]
        if len(names) >= 2 or time.monotonic() > end:
            break
        time.sleep(0.05)
    check(len(names) == 2, "name events %r (all: %r)" % (names, evs))
    a, b = names
    check(a.get("file") == "old/pxelinux.0" and
          a.get("served") == "boot/pxelinux.0" and
          a.get("how") == "map line 1" and a.get("op") == "RRQ" and
          str(a.get("client", "")).startswith("127.0.0.1:"),
          "name event %r" % a)
    check(b.get("file") == "BOOT/BCD" and b.get("served") == "Boot/bcd" and
          b.get("how") == "case ignored", "name event %r" % b)


if __name__ == "__main__":
    sys.exit(main())
