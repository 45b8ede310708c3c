#!/usr/bin/env python3
"""tests/interop/clients.py - tftpx against other people's TFTP software.

Run from anywhere:  python3 tests/interop/clients.py [-k SUBSTRING] [--quick]
                    [-j N] [--list]

Built on the harness in tests/lib/tftpx_test.py.  Each case prints one
line "PASS name", "FAIL name: reason" or "SKIP name: reason"; every case
first prints "INFO name: ..." lines with the exact server and client command
lines so a person can rerun them.

What is covered:

  <client>_<variant>_{get,put}_{0B,512B,1M,40M}_v{4,6}
      a real client against `tftpx serve`, sha256 of the result compared:
        busybox       busybox tftp, default (512-byte blocks) and -b 1468
        tftphpa       tftp-hpa `tftp -m binary`, 512-byte blocks, no options
        atftp         atftp with --option "blksize 1468" and with
                      --option "windowsize 8", plus plain (512, no options)
        curl          curl tftp://..., get default and --tftp-blksize 1468,
                      put (-T) default and --tftp-blksize 1468
      40 MiB at 512-byte blocks is 81920 blocks: the block number wraps
      past 65535 (busybox, tftphpa, atftp plain, curl default).  All four
      clients take ::1 (busybox and atftp as a bare host argument, tftp-hpa
      with -6, curl as tftp://[::1]:PORT/), so every case runs on both
      families.  The full matrix, 40 MiB included, is run (no reduction
      to one 40 MiB case per client): on loopback a 40 MiB transfer takes
      0.3-3 s, and the whole file runs in about 30 s with -j 4 on two CPUs.  The 40 MiB cases are "heavy" (--quick
      skips them).
      The server side is checked too: its log line must say ok, and must
      show the option the variant asked for (blksize=1468, windowsize=8),
      or no blksize/windowsize at all for the option-less tftp-hpa.
      curl 7.88 rejects an OACK carrying "tsize 0" (it never ACKs it and
      hangs); curl_get_0B_* is the regression case for the server leaving
      tsize out of the OACK for an empty file.

  tftpx_{get_from,put_to}_tftpdhpa_*
      our own client against Debian's tftpd-hpa (/usr/sbin/in.tftpd -L).

  ipxe_imgfetch_{1M,40M}
      iPXE (ipxe-qemu's e1000 ROM) under qemu-system-x86_64 -boot n (TCG),
      driven over the serial console (SeaBIOS sercon): Ctrl-B, `dhcp`,
      `imgfetch tftp://10.0.2.2:PORT/file`, `imgstat`; the size imgstat
      reports must equal the file's.  Slirp maps 10.0.2.2:PORT (PORT != 69)
      to the host's 127.0.0.1:PORT, so the traffic stays on loopback.

A client that is not installed makes its cases SKIP.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "lib"))
from tftpx_test import (  # noqa: E402
    BOTH, Fail, MIB, Skip, TFTPX, case, check, main, ok_run, param_case,
    same_file, start_tftpd_hpa, temps_in, write_bytes, write_random)
from tftpx_test import info  # noqa: E402

SUITE_BUDGET = 200.0        # seconds for the whole suite (watchdog)


def cmdline(argv):
    return " ".join(shlex.quote(str(a)) for a in argv)


def need(tool):
    path = shutil.which(tool)
    if not path:
        raise Skip("%s not installed" % tool)
    return path


def short(rc, out, err):
    text = (err.strip() or out.decode("utf-8", "replace").strip())
    return text[-300:]


# ================================================================ iPXE
# Registered first: the runner starts heavy cases first in registration
# order, and these are the slowest.

QEMU = "qemu-system-x86_64"
IPXE_ROMS = ("/usr/lib/ipxe/qemu/efi-e1000.rom",
             "/usr/lib/ipxe/qemu/pxe-e1000.rom",
             "/usr/share/qemu/efi-e1000.rom", "/usr/share/qemu/pxe-e1000.rom")
ANSI = re.compile(rb"\x1b(\[[0-9;?]*[A-Za-z]|[A-Za-z])")
PROMPT = "iPXE> "


class Console:
    """QEMU's serial console on stdio, read by a thread into a buffer."""

    def __init__(self, ctx, argv):
        self.buf = b""
        self.cv = threading.Condition()
        self.eof = False
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT,
                                  start_new_session=True)
        ctx.procs.append(self.p)
        ctx.killgroups.append(self.p)
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        try:
            while True:
                b = self.p.stdout.read1(65536)
                if not b:
                    break
                with self.cv:
                    self.buf += b
                    self.cv.notify_all()
        except (OSError, ValueError):
            pass
        with self.cv:
            self.eof = True
            self.cv.notify_all()

    def text(self, start=0):
        with self.cv:
            raw = self.buf[start:]
        return ANSI.sub(b"", raw).replace(b"\r", b"").decode(
            "latin-1").replace("\b \b", "")

    def mark(self):
        with self.cv:
            return len(self.buf)

    def wait(self, pattern, timeout, start=0, what=None):
        """The first match of regex pattern in the (cleaned) output after
        byte offset start; Fail after timeout seconds."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                m = rx.search(self.text(start))
                if m:
                    return m
                left = deadline - time.monotonic()
                if left <= 0 or self.eof:
                    break
                self.cv.wait(min(left, 0.5))
        tail = self.text(start)[-300:]
        raise Fail("%s within %d s (qemu %s); console: %r" % (
            "no " + (what or repr(pattern)), timeout,
            "exited %s" % self.p.poll() if self.eof else "running", tail))

    def type(self, line):
        """Type line one character at a time, each after the echo of the
        one before: the emulated UART drops what a burst overruns."""
        for ch in line.encode():
            m = self.mark()
            self.send(bytes([ch]))
            deadline = time.monotonic() + 5
            with self.cv:
                while ch not in self.buf[m:]:
                    left = deadline - time.monotonic()
                    if left <= 0 or self.eof:
                        raise Fail("iPXE did not echo %r of %r; console: %r"
                                   % (chr(ch), line, self.text()[-200:]))
                    self.cv.wait(min(left, 0.5))

    def send(self, data):
        try:
            self.p.stdin.write(data)
            self.p.stdin.flush()
        except (OSError, ValueError) as e:
            raise Fail("cannot write to qemu's console: %s" % e)


def ipxe_case(ctx, size, fetch_limit):
    need(QEMU)
    rom = next((r for r in IPXE_ROMS if os.path.exists(r)), None)
    if rom is None:
        raise Skip("no iPXE e1000 ROM (ipxe-qemu not installed)")
    root = ctx.tmpdir("root")
    work = ctx.tmpdir("qemu")
    name = "f%dM" % (size // MIB)
    write_random(os.path.join(root, name), size)
    sercon = write_bytes(os.path.join(work, "sercon-port"), b"\xf8\x03")
    srv = ctx.server(root)
    check(srv.port != 69, "server got port 69, which slirp does not map")
    argv = [QEMU, "-accel", "tcg", "-m", "256", "-nodefaults", "-nographic",
            "-serial", "stdio", "-monitor", "none", "-no-reboot",
            "-fw_cfg", "name=etc/sercon-port,file=%s" % sercon,
            "-netdev", "user,id=n0", "-device", "e1000,netdev=n0",
            "-boot", "n"]
    url = "tftp://10.0.2.2:%d/%s" % (srv.port, name)
    cmds = ["dhcp", "imgfetch %s" % url, "imgstat"]
    info(ctx, "server: %s" % cmdline(srv.argv))
    info(ctx, "qemu: %s  (%s: printf '\\xf8\\x03'; press Ctrl-B at "
         "'Press Ctrl-B for the iPXE command line')" % (cmdline(argv),
                                                        sercon))
    info(ctx, "iPXE commands: %s" % " ; ".join(cmds))
    t0 = time.monotonic()
    con = Console(ctx, argv)
    con.wait(r"Press Ctrl-B for the iPXE command line", 60,
             what="iPXE's Ctrl-B offer")
    t_boot = time.monotonic() - t0
    # Ctrl-B until the shell prompt shows (the offer lasts ~2 s).
    end = time.monotonic() + 15
    while True:
        con.send(b"\x02")
        try:
            con.wait(re.escape(PROMPT), 1.0)
            break
        except Fail:
            if time.monotonic() > end:
                con.wait(re.escape(PROMPT), 0, what="iPXE> prompt "
                         "after Ctrl-B")

    def command(cmd, timeout):
        m0 = con.mark()
        con.type(cmd)
        con.send(b"\r")
        con.wait(re.escape(PROMPT), timeout, start=m0,
                 what="prompt after %r" % cmd)
        return con.text(m0)

    out = command("dhcp", 60)
    check(re.search(r"Configuring .*\.\s*ok", out) is not None,
          "dhcp failed: %r" % out.strip()[-200:])
    t1 = time.monotonic()
    out = command(cmds[1], fetch_limit)
    t_fetch = time.monotonic() - t1
    check("error" not in out.lower() and "could not" not in out.lower(),
          "imgfetch failed: %r" % out.strip()[-300:])
    out = command("imgstat", 20)
    m = re.search(r"%s\s*:\s*(\d+) bytes" % re.escape(name), out)
    check(m is not None, "imgstat lists no %s: %r" % (name, out.strip()))
    got = int(m.group(1))
    check(got == size, "imgstat says %d bytes, file has %d" % (got, size))
    line = srv.expect_ok("RRQ", name)
    check("127.0.0.1:" in line, "server saw the request from elsewhere "
          "than 127.0.0.1: %r" % line)
    info(ctx, "boot to Ctrl-B offer %.1f s, imgfetch of %d bytes %.1f s; "
         "server: %s" % (t_boot, size, t_fetch, line))


@case("ipxe_imgfetch_1M", heavy=True, limit=120)
def _(ctx):
    ipxe_case(ctx, MIB, 60)


@case("ipxe_imgfetch_40M", heavy=True, limit=170)
def _(ctx):
    ipxe_case(ctx, 40 * MIB, 120)


# ================================================================ clients

SIZES = [("0B", 0), ("512B", 512), ("1M", MIB), ("40M", 40 * MIB)]
BIG = 40 * MIB


class Client:
    """One client variant: argv builders for get and put plus the options
    the server must show it negotiated (or must not show)."""

    def __init__(self, name, tool, get, put, want=(), unwanted=()):
        self.name, self.tool = name, tool
        self.get, self.put = get, put
        self.want, self.unwanted = want, unwanted


def host_port(ctx, port):
    return ["::1" if ctx.v6 else "127.0.0.1", str(port)]


def url(ctx, port, name):
    return "tftp://%s:%d/%s" % ("[::1]" if ctx.v6 else "127.0.0.1", port,
                                name)


def busybox(extra):
    return (lambda ctx, port, r, l: ["busybox", "tftp", "-g", *extra,
                                     "-r", r, "-l", l, *host_port(ctx, port)],
            lambda ctx, port, l, r: ["busybox", "tftp", "-p", *extra,
                                     "-l", l, "-r", r, *host_port(ctx, port)])


def tftphpa():
    def fam(ctx):
        return ["-6"] if ctx.v6 else ["-4"]
    return (lambda ctx, port, r, l: ["tftp", *fam(ctx), *host_port(ctx, port),
                                     "-m", "binary", "-c", "get", r, l],
            lambda ctx, port, l, r: ["tftp", *fam(ctx), *host_port(ctx, port),
                                     "-m", "binary", "-c", "put", l, r])


def atftp(extra):
    return (lambda ctx, port, r, l: ["atftp", *extra, "-g", "-r", r, "-l", l,
                                     *host_port(ctx, port)],
            lambda ctx, port, l, r: ["atftp", *extra, "-p", "-l", l, "-r", r,
                                     *host_port(ctx, port)])


def curl(extra):
    return (lambda ctx, port, r, l: ["curl", "-sS", *extra, "-o", l,
                                     url(ctx, port, r)],
            lambda ctx, port, l, r: ["curl", "-sS", *extra, "-T", l,
                                     url(ctx, port, r)])


NOOPT = ("blksize=", "windowsize=")
CLIENTS = [
    Client("busybox", "busybox", *busybox([])),
    Client("busybox_b1468", "busybox", *busybox(["-b", "1468"]),
           want=("blksize=1468",)),
    Client("tftphpa", "tftp", *tftphpa(), unwanted=NOOPT),
    Client("atftp", "atftp", *atftp([]), unwanted=NOOPT),
    Client("atftp_blksize1468", "atftp",
           *atftp(["--option", "blksize 1468"]), want=("blksize=1468",)),
    Client("atftp_windowsize8", "atftp",
           *atftp(["--option", "windowsize 8"]), want=("windowsize=8",)),
    Client("curl", "curl", *curl([])),
    Client("curl_b1468", "curl", *curl(["--tftp-blksize", "1468"]),
           want=("blksize=1468",)),
]


def check_opts(line, cl):
    for w in cl.want:
        check((" %s " % w) in line, "server log line lacks %s: %r" %
              (w, line))
    for u in cl.unwanted:
        check((" %s" % u) not in line, "server log line shows %s for an "
              "option-less client: %r" % (u.rstrip("="), line))


def client_get(ctx, cl, size):
    need(cl.tool)
    root = ctx.tmpdir("root")
    out = ctx.tmpdir("out")
    src = write_random(os.path.join(root, "i.bin"), size)
    srv = ctx.server(root)
    dst = os.path.join(out, "i.bin")
    argv = cl.get(ctx, srv.port, "i.bin", dst)
    info(ctx, "server: %s ; client (cwd %s): %s ; i.bin is %d random "
         "bytes" % (cmdline(srv.argv), out, cmdline(argv), size))
    rc, o, err, dt = ctx.run(argv, timeout=80 if size >= BIG else 30, cwd=out)
    check(rc == 0, "%s exited %d: %s" % (cl.tool, rc, short(rc, o, err)))
    bad = same_file(src, dst)
    check(bad is None, "downloaded file: %s" % bad)
    line = srv.expect_ok("RRQ", "i.bin")
    check_opts(line, cl)
    if size >= BIG:
        info(ctx, "client took %.2f s for %d bytes" % (dt, size))


def client_put(ctx, cl, size):
    need(cl.tool)
    root = ctx.tmpdir("root")
    loc = ctx.tmpdir("loc")
    src = write_random(os.path.join(loc, "l.bin"), size)
    srv = ctx.server(root, "--upload")
    argv = cl.put(ctx, srv.port, src, "r.bin")
    info(ctx, "server: %s ; client (cwd %s): %s ; l.bin is %d random "
         "bytes" % (cmdline(srv.argv), loc, cmdline(argv), size))
    rc, o, err, dt = ctx.run(argv, timeout=80 if size >= BIG else 30, cwd=loc)
    check(rc == 0, "%s exited %d: %s" % (cl.tool, rc, short(rc, o, err)))
    line = srv.expect_ok("WRQ", "r.bin")
    bad = same_file(src, os.path.join(root, "r.bin"))
    check(bad is None, "stored file: %s" % bad)
    check(not temps_in(root), "temp files left: %s" % temps_in(root))
    check_opts(line, cl)
    if size >= BIG:
        info(ctx, "client took %.2f s for %d bytes" % (dt, size))


def register_clients():
    # 40 MiB first (heavy, started first), then the small ones.
    for big in (True, False):
        for cl in CLIENTS:
            for direction, fn in (("get", client_get), ("put", client_put)):
                params = [(sfx, (cl, sz)) for sfx, sz in SIZES
                          if (sz >= BIG) == big]

                def f(ctx, arg, _fn=fn):
                    _fn(ctx, *arg)
                param_case("%s_%s" % (cl.name, direction), BOTH, params,
                           heavy=big, limit=100 if big else 40)(f)


register_clients()


# ================================================================ tftpd-hpa
# Our own client (tftpx get/put) against Debian's tftpd-hpa.

ROLL = 40 * MIB         # > 65535 blocks of 512: block numbers wrap


HPA_SMALL = [("1M", (MIB, ())), ("1M_b1468", (MIB, ("-b", "1468")))]
HPA_BIG = [("40M_b512", (ROLL, ("-b", "512")))]


def hpa_get(ctx, arg):
    size, opts = arg
    root = ctx.tmpdir("root")
    os.chmod(root, 0o755)
    out = ctx.tmpdir("out")
    src = write_random(os.path.join(root, "h.bin"), size)
    port, sargv = start_tftpd_hpa(ctx, root)
    dst = os.path.join(out, "h.bin")
    argv = [TFTPX, "get", *opts, ctx.hp(port), "h.bin", dst]
    info(ctx, "server: %s ; client: %s" % (cmdline(sargv), cmdline(argv)))
    ok_run(ctx.run(argv, timeout=50), "tftpx get from in.tftpd")
    bad = same_file(src, dst)
    check(bad is None, "downloaded file: %s" % bad)


def hpa_put(ctx, arg):
    size, opts = arg
    root = ctx.tmpdir("root")
    os.chmod(root, 0o777)
    loc = ctx.tmpdir("loc")
    src = write_random(os.path.join(loc, "l.bin"), size)
    port, sargv = start_tftpd_hpa(ctx, root, create=True)
    argv = [TFTPX, "put", *opts, ctx.hp(port), src, "h.bin"]
    info(ctx, "server: %s ; client: %s" % (cmdline(sargv), cmdline(argv)))
    ok_run(ctx.run(argv, timeout=50), "tftpx put to in.tftpd")
    dst = os.path.join(root, "h.bin")
    end = time.monotonic() + 2
    while time.monotonic() < end and same_file(src, dst) is not None:
        time.sleep(0.05)
    bad = same_file(src, dst)
    check(bad is None, "stored file: %s" % bad)


for _n, _fn in (("tftpx_get_from_tftpdhpa", hpa_get),
                ("tftpx_put_to_tftpdhpa", hpa_put)):
    param_case(_n, BOTH, HPA_BIG, heavy=True, limit=90)(_fn)
    param_case(_n, BOTH, HPA_SMALL, limit=40)(_fn)


if __name__ == "__main__":
    sys.exit(main(budget=SUITE_BUDGET))
