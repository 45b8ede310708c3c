#!/usr/bin/env python3
"""tests/interop/uboot.py - U-Boot (under QEMU) fetches files from ./tftpx.

Run from the repo root:
    python3 tests/interop/uboot.py [--arch arm64|arm|riscv64|x86_64|arm64-e1000|all]
                                   [-k SUBSTRING] [--size-mib N] [--logdir DIR]

Every case prints one line "PASS name", "FAIL name: reason" or
"SKIP name: reason"; everything else starts with "INFO ".  Exit status 0 iff
nothing failed.

Each case boots Debian's U-Boot 2023.01 (package u-boot-qemu) in QEMU (TCG,
user networking) and drives its serial console over a pipe: stop autoboot,
set a static address, `tftpboot ${kernel_addr_r} FILE`, `crc32` the result
and compare it with zlib.crc32 of the file.

Networking: U-Boot always sends to port 69, and QEMU's slirp answers guest
UDP to 10.0.2.2:69 itself.  So QEMU and `./tftpx serve` run together in a
private network namespace (`unshare -n`): there `lo` is brought up and given
192.0.2.69/32, tftpx listens on 192.0.2.69:69 and U-Boot uses
serverip=192.0.2.69 with gatewayip=10.0.2.2; slirp forwards the off-subnet
packets to the namespace's own stack.  No host network setting is touched and
the namespace disappears with its last process.  Every wait is bounded; QEMU
and tftpx are killed (by process group) in a finally; temp dirs are removed.

For other suites (tests/e2e/nat.py): run_case(..., tap=Tap(...)) puts QEMU's
NIC on a tap device that the caller made in a namespace of its own
(tests/lib/netns.py NetNS.tap) instead of slirp, and runs QEMU there with
the addresses the Tap names; the server is then the caller's.  booted()
is the boot alone (a Console at U-Boot's prompt) for a case that runs
its own commands; net_env() and load_addr() are its setenv lines and
load address.
"""

import argparse
import contextlib
import ctypes
import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "lib"))
from tftpx_test import Fail, REPO, TFTPX  # noqa: E402

UBOOT_DIR = os.environ.get("UBOOT_DIR") or "/usr/lib/u-boot"

SERVER_IP = "192.0.2.69"
FILENAME = "uboot-interop.bin"

BOOT_TIMEOUT = 90.0        # QEMU start -> "Hit any key to stop autoboot"
PROMPT_TIMEOUT = 20.0      # any short command -> "=> "
CRC_TIMEOUT = 180.0        # crc32 over the file under TCG
# A windowed case must show no U-Boot timeout ("T "): a lost window tail
# that the server did not recover.  Its time is compared with windowsize 1
# on the same boot (measured right after it) and printed, never asserted:
# wall-clock limits make tests flaky and belong in benchmarks.

# Shell run inside the private namespace by `unshare -n sh -c WRAPPER sh
# TFTPX DIR LOG OPTS QEMU...`: loopback up, extra address, tftpx (with the
# serve options OPTS, split at spaces; tests/e2e/nat.py passes
# --single-port) in the background (killed by the kernel when its parent,
# which becomes QEMU, dies), wait for "listening on", then exec QEMU with
# the serial console on stdio.
WRAPPER = r"""set -e
ip link set lo up
ip addr add 192.0.2.69/32 dev lo
tftpx=$1 dir=$2 log=$3 opts=$4; shift 4
if command -v setpriv >/dev/null 2>&1; then
  setpriv --pdeathsig KILL "$tftpx" serve --allow-root -l 192.0.2.69:69 $opts "$dir" >"$log" 2>&1 &
else
  "$tftpx" serve --allow-root -l 192.0.2.69:69 $opts "$dir" >"$log" 2>&1 &
fi
pid=$! i=0
until grep -q 'listening on' "$log"; do
  kill -0 "$pid" 2>/dev/null || { echo "wrapper: tftpx exited:" >&2; cat "$log" >&2; exit 98; }
  i=$((i + 1)); [ "$i" -le 200 ] || { echo "wrapper: tftpx not listening after 10 s" >&2; exit 97; }
  sleep 0.05
done
exec "$@"
"""

# Commands a person types by hand (README) for the same setup.
MANUAL_WRAPPER = ('D=$1; shift; ip link set lo up; '
                  'ip addr add 192.0.2.69/32 dev lo; '
                  './tftpx serve --allow-root -l 192.0.2.69:69 %s"$D" & '
                  't=$!; sleep 0.5; '
                  '"$@"; kill $t')


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------- targets

ARCHES = {
    "arm64": dict(qemu="qemu-system-aarch64",
                  machine=["-M", "virt", "-cpu", "cortex-a57", "-m", "512M"],
                  image="qemu_arm64/u-boot.bin", fw="-bios",
                  addr="0x40400000"),
    "arm": dict(qemu="qemu-system-arm",
                machine=["-M", "virt", "-m", "512M"],
                image="qemu_arm/u-boot.bin", fw="-bios",
                addr="0x40400000"),
    "riscv64": dict(qemu="qemu-system-riscv64",
                    machine=["-M", "virt", "-m", "512M"],
                    image="qemu-riscv64/u-boot.bin", fw="-bios",
                    addr="0x84000000"),
    "x86_64": dict(qemu="qemu-system-x86_64",
                   machine=["-M", "pc", "-accel", "tcg", "-m", "512M"],
                   image="qemu-x86_64/u-boot.rom", fw="-bios",
                   addr="0x1000000"),
}

# (target name, arch, NIC device)
TARGETS = {
    "arm64": [("arm64-virtio", "arm64", "virtio-net-pci")],
    "arm": [("arm-virtio", "arm", "virtio-net-pci")],
    "riscv64": [("riscv64-virtio", "riscv64", "virtio-net-device")],
    "x86_64": [("x86_64-e1000", "x86_64", "e1000")],
    "arm64-e1000": [("arm64-e1000", "arm64", "e1000")],
}
TARGETS["all"] = (TARGETS["arm64"] + TARGETS["arm"] + TARGETS["riscv64"] +
                  TARGETS["x86_64"] + TARGETS["arm64-e1000"])

# (case suffix, tftpblocksize, tftpwindowsize or None)
CASES = [
    ("blk512", 512, None),          # 40 MiB / 512 = 81920 blocks: rollover
    ("blk1468", 1468, None),
    ("blk1468-win8", 1468, 8),
    ("blk1468-win4", 1468, 4),
]


class Tap:
    """QEMU's NIC on the tap device `ifname`, made beforehand in a network
    namespace (NetNS.tap), instead of slirp.  launch: the argv prefix that
    runs a command in that namespace (NetNS.argv([])); U-Boot's static
    ipaddr, netmask, gatewayip and serverip; log: the server's log file
    when a windowed case must read the granted windowsize from it.  The
    server is the caller's: nothing here starts one."""

    def __init__(self, launch, ifname, ipaddr, gatewayip, serverip,
                 netmask="255.255.255.0", log=None):
        self.launch = list(launch)
        self.ifname = ifname
        self.ipaddr, self.netmask = ipaddr, netmask
        self.gatewayip, self.serverip = gatewayip, serverip
        self.log = log


def qemu_cmd(arch, nic, tap=None):
    a = ARCHES[arch]
    netdev = "user,id=n0" if tap is None else \
        "tap,id=n0,ifname=%s,script=no,downscript=no" % tap.ifname
    return ([a["qemu"]] + a["machine"] +
            [a["fw"], os.path.join(UBOOT_DIR, a["image"]),
             "-nodefaults", "-display", "none", "-monitor", "none",
             "-serial", "stdio",
             "-device", nic + ",netdev=n0", "-netdev", netdev])


# ---------------------------------------------------------------- console


class Console:
    """The U-Boot serial console on QEMU's stdin/stdout pipes."""

    def __init__(self, proc):
        self.proc = proc
        self.fd = proc.stdout.fileno()
        self.buf = bytearray()
        self.eof = False

    def _read(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0 or self.eof:
            return False
        r, _, _ = select.select([self.fd], [], [], min(left, 0.5))
        if r:
            d = os.read(self.fd, 65536)
            if not d:
                self.eof = True
                return False
            self.buf += d
        return True

    def expect(self, pattern, timeout, start=0, what=None):
        """Wait for regex `pattern` (bytes) in buf[start:]; return the match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.buf, start)
            if m:
                return m
            if not self._read(deadline):
                if self.eof:
                    raise Fail("QEMU exited while waiting for %s"
                               % (what or pattern))
                if time.monotonic() >= deadline:
                    raise Fail("no %s within %.0f s"
                               % (what or pattern, timeout))

    def send(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def command(self, cmd, timeout=PROMPT_TIMEOUT):
        """Type `cmd`, wait for its echo and the next prompt; return output."""
        start = len(self.buf)
        self.send(cmd.encode() + b"\n")
        echo = self.expect(re.escape(cmd.encode()), timeout, start,
                           "echo of %r" % cmd)
        m = self.expect(rb"\n=> ", timeout, echo.end(),
                        "prompt after %r" % cmd)
        return bytes(self.buf[echo.end():m.start()])

    def tail(self, n=15):
        text = self.buf.decode("latin-1").replace("\r", "")
        lines = [ln for ln in text.split("\n") if ln.strip()]
        return lines[-n:]


# ---------------------------------------------------------------- running


def set_pdeathsig():
    # QEMU (the exec'd child) dies when this script dies.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)        # PR_SET_PDEATHSIG
    except Exception:
        pass


def kill_group(proc):
    if proc is None:
        return
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        pgid = None
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            break
        try:
            if pgid is not None and pgid == proc.pid:
                os.killpg(pgid, sig)
            else:
                proc.send_signal(sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    # tftpx dies with QEMU (pdeathsig); sweep our own group once more
    if pgid is not None and pgid == proc.pid:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for f in (proc.stdin, proc.stdout):
        try:
            if f:
                f.close()
        except OSError:
            pass


def net_env(tap=None):
    """U-Boot's setenv lines for its static address: slirp's (tap None;
    the server on the namespace's 192.0.2.69 behind slirp's gateway) or
    the tap's."""
    if tap is None:
        ip, mask, gw, srv = "10.0.2.15", "255.255.255.0", "10.0.2.2", \
            SERVER_IP
    else:
        ip, mask, gw, srv = tap.ipaddr, tap.netmask, tap.gatewayip, \
            tap.serverip
    return ["setenv ipaddr " + ip, "setenv netmask " + mask,
            "setenv gatewayip " + gw, "setenv serverip " + srv]


def uboot_script(block, window, addr="${kernel_addr_r}", tap=None):
    """U-Boot commands of one case: (setup, transfer, crc, reference)."""
    setup = net_env(tap) + ["setenv tftpblocksize %d" % block]
    if window:
        setup.append("setenv tftpwindowsize %d" % window)
    xfer = "tftpboot %s %s" % (addr, FILENAME)
    crc = "crc32 %s ${filesize}" % addr
    # windowed cases: the same transfer at windowsize 1, same boot, same path
    ref = ["setenv tftpwindowsize 1", xfer, crc] if window else []
    return setup, xfer, crc, ref


def count_timeouts(out):
    """U-Boot's "T " markers and "Retry count exceeded" lines in `out`."""
    return (len(re.findall(rb"(?<![A-Za-z])T ", out)),
            out.count(b"Retry count exceeded"))


def transfer(con, name, xfer, crc_cmd, size, crc, timeout):
    """Run one tftpboot + crc32; return (seconds, rate, T count, retries)."""
    start = len(con.buf)
    tt = time.monotonic()
    try:
        out = con.command(xfer, timeout=timeout)
    except Fail as e:
        t, r = count_timeouts(bytes(con.buf[start:]))
        raise Fail("%s: %s (after %.0f s: %d U-Boot timeouts, %d 'Retry "
                   "count exceeded')" % (xfer, e, time.monotonic() - tt,
                                         t, r))
    secs = time.monotonic() - tt
    t, r = count_timeouts(out)
    m = re.search(rb"([0-9.]+ (?:Bytes|KiB|MiB|GiB)/s)", out)
    rate = m.group(1).decode() if m else None
    m = re.search(rb"Bytes transferred = (\d+)", out)
    if not m:
        last = [ln for ln in out.decode("latin-1").replace("\r", "")
                .split("\n") if ln.strip()][-3:]
        raise Fail("tftpboot did not complete in %.1f s (%d U-Boot "
                   "timeouts): %s" % (secs, t, " | ".join(last)))
    got = int(m.group(1))
    if got != size:
        raise Fail("Bytes transferred = %d, want %d" % (got, size))
    out = con.command(crc_cmd, timeout=CRC_TIMEOUT)
    m = re.search(rb"==>\s*([0-9a-fA-F]{8})", out)
    if not m:
        raise Fail("no crc32 result in %r" % out[-200:])
    ucrc = int(m.group(1), 16)
    if ucrc != crc:
        raise Fail("crc32 %08x, want %08x" % (ucrc, crc))
    return secs, rate, t, r


def last_window(log):
    """The windowsize of the last RRQ in the server's log (1 if none)."""
    try:
        with open(log, "rb") as f:
            lines = f.read().decode("latin-1").splitlines()
    except OSError:
        return None
    for ln in reversed(lines):
        if " RRQ " in ln and (ln.endswith(" ok") or " error " in ln):
            m = re.search(r" windowsize=(\d+)", ln)
            return int(m.group(1)) if m else 1
    return None


def fmt(st):
    secs, rate, t, r = st
    return "transfer=%.1fs rate=%s uboot_timeouts=%d retry_count_exceeded=%d" \
        % (secs, rate or "-", t, r)


@contextlib.contextmanager
def booted(name, arch, nic, args, tmp, root=None, serve_args=(), tap=None):
    """QEMU running U-Boot, stopped at its first prompt: yields the
    Console.  Slirp (tap None): QEMU and `tftpx serve` of root with
    serve_args (no spaces in any) in a private namespace, the server's log
    tmp/tftpx.log.  tap: QEMU alone, in the tap's namespace.  On leaving,
    QEMU is killed; on an exception the tails of the console, QEMU's
    stderr and the server's log are printed; with args.logdir the console
    and the log are kept there."""
    qcmd = qemu_cmd(arch, nic, tap)
    log = os.path.join(tmp, "tftpx.log") if tap is None else tap.log
    errf = os.path.join(tmp, "qemu.stderr")
    if tap is None:
        full = (["unshare", "-n", "sh", "-c", WRAPPER, "sh", TFTPX, root,
                 log, " ".join(serve_args)] + qcmd)
        say("INFO %s qemu: unshare -n sh -c %s sh %s %s" % (
            name, shlex.quote(MANUAL_WRAPPER % "".join(
                a + " " for a in serve_args)), shlex.quote(root),
            shlex.join(qcmd)))
    else:
        full = tap.launch + qcmd
        say("INFO %s qemu: %s" % (name, shlex.join(full)))
    proc = None
    con = None
    failed = False
    t0 = time.monotonic()
    try:
        with open(errf, "wb") as ef:
            proc = subprocess.Popen(full, stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=ef,
                                    cwd=REPO, start_new_session=True,
                                    preexec_fn=set_pdeathsig)
        con = Console(proc)
        con.expect(rb"Hit any key to stop autoboot", BOOT_TIMEOUT, 0,
                   "autoboot prompt")
        con.send(b" ")
        con.expect(rb"\n=> ", PROMPT_TIMEOUT, 0, "first prompt")
        yield con
    except BaseException:
        failed = True
        raise
    finally:
        say("INFO %s wall=%.1fs" % (name, time.monotonic() - t0))
        kill_group(proc)
        if failed and con is not None:
            for ln in con.tail(12):
                say("INFO %s console| %s" % (name, ln[:200]))
            for path, tag in ((errf, "qemu-stderr"), (log, "tftpx-log")):
                if path is None:
                    continue
                try:
                    with open(path, "rb") as f:
                        lines = f.read().decode("latin-1").splitlines()
                except OSError:
                    continue
                for ln in lines[-8:]:
                    say("INFO %s %s| %s" % (name, tag, ln[:400]))
        if args.logdir and con is not None:
            os.makedirs(args.logdir, exist_ok=True)
            with open(os.path.join(args.logdir, name + ".console"), "wb") as f:
                f.write(bytes(con.buf))
            if log is not None and os.path.exists(log):
                shutil.copy(log, os.path.join(args.logdir, name + ".tftpx"))


def load_addr(con, name, arch):
    """Where tftpboot loads: ${kernel_addr_r}, or the arch's address when
    this U-Boot does not set it."""
    out = con.command("printenv kernel_addr_r")
    if re.search(rb"kernel_addr_r=(0x[0-9a-fA-F]+)", out):
        return "${kernel_addr_r}"
    addr = ARCHES[arch]["addr"]
    say("INFO %s kernel_addr_r unset; using %s" % (name, addr))
    return addr


def run_case(name, arch, nic, block, window, root, size, crc, args, tmp,
             serve_args=(), tap=None):
    """One boot and its transfers; Fail on a problem.  serve_args: more
    `tftpx serve` options (no spaces in any); the server's log is
    tmp/tftpx.log.  tap: QEMU's NIC on that Tap, and the server is the
    caller's (serve_args unused, root only named)."""
    log = os.path.join(tmp, "tftpx.log") if tap is None else tap.log
    if window and log is None:
        raise ValueError("a windowed case reads the granted windowsize "
                         "from the server's log: Tap(log=...)")
    with booted(name, arch, nic, args, tmp, root, serve_args, tap) as con:
        addr = load_addr(con, name, arch)
        setup, xfer, crc_cmd, ref = uboot_script(block, window, addr, tap)
        say("INFO %s uboot: %s" % (name, "; ".join(setup + [xfer, crc_cmd])))
        if ref:
            say("INFO %s uboot reference: %s" % (name, "; ".join(ref)))
        for c in setup:
            con.command(c)
        st = transfer(con, name, xfer, crc_cmd, size, crc,
                      args.transfer_timeout)
        say("INFO %s %s" % (name, fmt(st)))
        # a NIC that drops bursts (e1000 under QEMU) answers 2 of the 3
        # back-to-back OACKs and is granted windowsize 1 before DATA 1;
        # one that keeps up (virtio) keeps its window
        want = 1 if nic == "e1000" else window
        first = last_window(log) if window else None
        if window and first != want:
            raise Fail("first windowed transfer ran at windowsize %s "
                       "(expected %d for %s)" % (first, want, nic))
        if st[3]:
            raise Fail("data correct but %d 'Retry count exceeded' "
                       "(transfer restarted)" % st[3])
        if ref:
            for c in ref[:1]:
                con.command(c)
            rs = transfer(con, name, ref[1], ref[2], size, crc,
                          args.transfer_timeout)
            say("INFO %s reference windowsize 1: %s" % (name, fmt(rs)))
            say("INFO %s speed: windowsize %d %.1f s (%s), windowsize 1 "
                "%.1f s (%s), ratio %.2f" % (
                    name, window, st[0], st[1] or "-", rs[0], rs[1] or "-",
                    st[0] / rs[0] if rs[0] else 0.0))
            # once more windowed: the host is remembered, so e1000 is
            # granted windowsize 1 in its only OACK; virtio keeps its
            # window
            con.command("setenv tftpwindowsize %d" % window)
            ag = transfer(con, name, xfer, crc_cmd, size, crc,
                          args.transfer_timeout)
            granted = last_window(log)
            say("INFO %s again at windowsize %d: %s, granted windowsize %s"
                % (name, window, fmt(ag), granted))
            if granted != want or ag[2]:
                raise Fail("second windowed transfer granted windowsize %s "
                           "(expected %d for %s), %d U-Boot timeouts" %
                           (granted, want, nic, ag[2]))
        if st[2]:
            raise Fail("data correct but %d U-Boot timeouts (a lost window "
                       "tail the server did not recover)" % st[2])


def precheck(arch):
    """Reason to skip, or None."""
    a = ARCHES[arch]
    if not shutil.which(a["qemu"]):
        return "%s not installed (apt-get install %s)" % (
            a["qemu"], {"qemu-system-aarch64": "qemu-system-arm",
                        "qemu-system-arm": "qemu-system-arm",
                        "qemu-system-riscv64": "qemu-system-misc",
                        "qemu-system-x86_64": "qemu-system-x86"}[a["qemu"]])
    img = os.path.join(UBOOT_DIR, a["image"])
    if not os.path.exists(img):
        return "%s missing (apt-get install u-boot-qemu)" % img
    return None


def env_skip():
    for tool in ("unshare", "ip"):
        if not shutil.which(tool):
            return "%s not installed" % tool
    if not os.access(TFTPX, os.X_OK):
        return "%s not built (make tftpx)" % TFTPX
    try:
        r = subprocess.run(["unshare", "-n", "sh", "-c",
                            "ip link set lo up && "
                            "ip addr add 192.0.2.69/32 dev lo"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "unshare -n failed: %s" % e
    if r.returncode != 0:
        return "cannot make a private network namespace (need root/" \
               "CAP_SYS_ADMIN+CAP_NET_ADMIN): %s" % \
               r.stdout.decode(errors="replace").strip()[:200]
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", default="arm64", choices=sorted(TARGETS))
    ap.add_argument("-k", dest="substr", default=None,
                    help="run only cases whose name contains this")
    ap.add_argument("--size-mib", type=int, default=40,
                    help="size of the random test file (default 40)")
    ap.add_argument("--transfer-timeout", type=float, default=300.0,
                    help="seconds one tftpboot may take (default 300)")
    ap.add_argument("--logdir", default=None,
                    help="keep each case's console and tftpx log here")
    args = ap.parse_args()

    todo = []
    for tname, arch, nic in TARGETS[args.arch]:
        for suffix, block, window in CASES:
            name = "uboot-%s-%s" % (tname, suffix)
            if args.substr and args.substr not in name:
                continue
            todo.append((name, arch, nic, block, window))
    if not todo:
        say("INFO no case matches")
        return 0

    failed = 0
    skip_all = env_skip()
    tmp = tempfile.mkdtemp(prefix="tftpx-uboot-")
    try:
        root = os.path.join(tmp, "root")
        os.mkdir(root)
        size = args.size_mib * 1024 * 1024
        crc = 0
        why = {name: skip_all or precheck(arch)
               for name, arch, _, _, _ in todo}
        if not all(why.values()):
            path = os.path.join(root, FILENAME)
            with open(path, "wb") as f:
                left = size
                while left:
                    chunk = os.urandom(min(left, 1 << 20))
                    crc = zlib.crc32(chunk, crc)
                    f.write(chunk)
                    left -= len(chunk)
            os.chmod(path, 0o644)
            say("INFO file %s: %d bytes, crc32 %08x" % (FILENAME, size, crc))
        for name, arch, nic, block, window in todo:
            if why[name]:
                say("SKIP %s: %s" % (name, why[name]))
                continue
            ctmp = tempfile.mkdtemp(prefix="case-", dir=tmp)
            try:
                run_case(name, arch, nic, block, window, root, size, crc,
                         args, ctmp)
                say("PASS %s" % name)
            except Fail as e:
                failed += 1
                say("FAIL %s: %s" % (name, e))
            except Exception as e:            # a bug here must not hide
                failed += 1
                say("FAIL %s: %s: %s" % (name, type(e).__name__, e))
            finally:
                shutil.rmtree(ctmp, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
