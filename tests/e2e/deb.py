#!/usr/bin/env python3
"""tests/e2e/deb.py - the Debian package (debian/, `make deb`).

Run from the repo root:  python3 tests/e2e/deb.py [-k SUBSTRING]

Built on the harness in tests/lib/tftpx_test.py.  Each case prints
"PASS name", "FAIL name: reason" or "SKIP name: reason".

  deb_units_match_contrib   debian/tftpx.service is contrib's unit with the
                            options of /etc/default/tftpx (the hardening
                            the same, line for line); the socket is contrib's
  deb_build_lintian         `make deb DEB_DIST=tmp` (once, shared with the
                            cases below); the .deb's file list; lintian on
                            the .changes (.deb, -dbgsym .deb, .buildinfo)
                            prints no E: or W: line
  deb_install_fresh_srv     dpkg -i with no /srv/tftp: the binary (with
                            libcurl), man page, units (tftpx.service
                            enabled, the socket not), /etc/default/tftpx a
                            conffile, the tftpx system user, /srv/tftp made;
                            `tftpx serve` started as the unit would (its
                            ExecStart= with /etc/default/tftpx, on a
                            loopback port) serves a file from /srv/tftp as
                            tftpx and sends READY=1; dpkg -r keeps a
                            /srv/tftp that holds a file, dpkg --purge
                            removes it once empty, and nothing of the
                            package is left but the user (as tftpd-hpa's)
  deb_install_existing_srv  a /srv/tftp that was there before (another TFTP
                            server's) is neither changed nor removed

The install cases need root and SKIP without it; every case SKIPs when
dpkg-dev, the Build-Depends (debhelper, libcurl4-openssl-dev,
libmicrohttpd-dev) or lintian are missing, and says which.  /srv is a
tmpfs of a private mount namespace (unshare, nsenter), so the machine's
/srv/tftp is never touched; without mount namespaces a case runs on the
real /srv only when that is its condition.  An install left by a failed
case is purged in a finally, and the tftpx user is deleted again when the
suite made it.  The tftpx package must not be installed already (SKIP).
"""

import fcntl
import grp
import os
import pwd
import re
import shlex
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "lib"))
import tftpx_test  # noqa: E402
from tftpx_test import (  # noqa: E402
    Fail, REPO, Server, Skip, at_exit, case, check, info, main, proc_status)

PKG = "tftpx"
BIN = "/usr/bin/tftpx"
DEFAULT = "/etc/default/tftpx"
MARKER = "/var/lib/tftpx/made-srv-tftp"
SRV = "/srv/tftp"
CONTRIB = os.path.join(REPO, "contrib", "systemd")
DEBIAN = os.path.join(REPO, "debian")
# one deb.py at a time on this machine (another checkout's make check)
MACHINE_LOCK = os.path.join("/run/lock" if os.path.isdir("/run/lock") else
                            tempfile.gettempdir(), "tftpx-e2e-deb.lock")


def is_root():
    return os.geteuid() == 0


def plain_env():
    """The environment for make and dpkg of our own: nothing of an outer
    make (`make asan`'s CFLAGS in MAKEFLAGS) reaches the package build."""
    e = {k: v for k, v in os.environ.items()
         if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "CFLAGS",
                      "LDFLAGS", "CPPFLAGS", "CC")}
    e["DEBIAN_FRONTEND"] = "noninteractive"
    return e


def run(argv, timeout=60, env=None):
    """(rc, stdout+stderr as text)."""
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout,
                           env=env or plain_env(), stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise Fail("%s did not finish within %d s" % (" ".join(argv[:4]),
                                                      timeout))
    return r.returncode, r.stdout.decode("utf-8", "replace")


def need_tools(lintian=False):
    """SKIP, naming the Debian packages, when the build cannot run."""
    missing = []
    if shutil.which("dpkg-buildpackage") is None:
        missing.append("dpkg-dev")
    if lintian and shutil.which("lintian") is None:
        missing.append("lintian")
    if shutil.which("dpkg-checkbuilddeps") is not None:
        rc, out = run(["dpkg-checkbuilddeps"], timeout=30)
        m = re.search(r"Unmet build dependencies: (.*)", out)
        if rc != 0 and m:
            # "debhelper-compat (= 13)" comes from the package debhelper
            for dep in re.sub(r"\([^)]*\)", "", m.group(1)).split():
                missing.append("debhelper" if dep == "debhelper-compat"
                               else dep)
        elif rc != 0:
            raise Fail("dpkg-checkbuilddeps: %s" % out.strip()[-300:])
    if missing:
        raise Skip("%s not installed (apt-get install %s)" %
                   (", ".join(missing), " ".join(missing)))


# ---------------------------------------------------------------- the build

_build_lock = threading.Lock()
_build = {}         # "dir": the DEB_DIST of the one build, or "error"


def built():
    """The .deb and .changes of one `make deb` (made by the first case
    that asks; the others wait for it)."""
    with _build_lock:
        if "error" in _build:
            raise Fail(_build["error"])
        if "dir" not in _build:
            d = tempfile.mkdtemp(prefix="tftpx-e2e-deb-")
            at_exit(lambda: shutil.rmtree(d, ignore_errors=True))
            t0 = time.monotonic()
            rc, out = run(["make", "-s", "-C", REPO, "deb", "DEB_DIST=" + d],
                          timeout=150)
            if rc != 0:
                _build["error"] = "make deb exited %d: %s" % (
                    rc, " | ".join(out.strip().splitlines()[-8:]))
                raise Fail(_build["error"])
            info("make deb took %.1f s" % (time.monotonic() - t0))
            _build["dir"] = d
        d = _build["dir"]
    files = os.listdir(d)
    deb = [f for f in files if re.match(r"tftpx_[^_]+_[^_]+\.deb$", f)]
    changes = [f for f in files if f.endswith(".changes")]
    check(len(deb) == 1 and len(changes) == 1,
          "make deb left %r in DEB_DIST, expected one tftpx_*.deb and one "
          ".changes" % sorted(files))
    return os.path.join(d, deb[0]), os.path.join(d, changes[0])


# ---------------------------------------------------------------- units


def directives(path):
    """[(section, key, value)] of a unit file, comments left out."""
    out, sect = [], None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                sect = line
                continue
            k, _, v = line.partition("=")
            out.append((sect, k.strip(), v.strip()))
    return out


def env_file(path):
    """KEY=VALUE lines of an EnvironmentFile (quotes as the shell's)."""
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            for word in shlex.split(line):
                k, _, v = word.partition("=")
                env[k] = v
    return env


@case("deb_units_match_contrib")
def _(ctx):
    ours = directives(os.path.join(DEBIAN, "tftpx.service"))
    theirs = directives(os.path.join(CONTRIB, "tftpx.service"))
    own = ("Environment", "EnvironmentFile", "ExecStart")
    a = [d for d in ours if d[1] not in own]
    b = [d for d in theirs if d[1] != "ExecStart"]
    check(a == b, "debian/tftpx.service differs from contrib's beyond "
          "Environment/EnvironmentFile/ExecStart: only ours %r, only "
          "contrib's %r" % ([d for d in a if d not in b],
                            [d for d in b if d not in a]))
    keys = [d[1] for d in ours if d[0] == "[Service]"]
    check(keys.index("Environment") < keys.index("EnvironmentFile") <
          keys.index("ExecStart"), "Environment= must come before "
          "EnvironmentFile= (the file overrides the defaults): %r" % keys)
    check(any(d == ("[Service]", "EnvironmentFile", "-" + DEFAULT)
              for d in ours), "no EnvironmentFile=-%s" % DEFAULT)
    dflt = dict(w.split("=", 1) for w in shlex.split(
        [d[2] for d in ours if d[1] == "Environment"][0]))
    conf = env_file(os.path.join(DEBIAN, "tftpx.default"))
    check(dflt == conf, "the unit's Environment= defaults %r are not "
          "debian/tftpx.default's %r" % (dflt, conf))
    with open(os.path.join(DEBIAN, "tftpx.socket")) as f, \
            open(os.path.join(CONTRIB, "tftpx.socket")) as g:
        check(f.read() == g.read(), "debian/tftpx.socket is not contrib's")


def exec_start(unit_path, listen):
    """The argv systemd would run for the unit: Environment= defaults,
    then EnvironmentFile=, then ExecStart= with $VAR split into words
    (none when empty) and ${VAR} kept as one; -l LISTEN after `serve`."""
    env, argv = {}, None
    for sect, k, v in directives(unit_path):
        if k == "Environment":
            env.update(w.split("=", 1) for w in shlex.split(v))
        elif k == "EnvironmentFile":
            p = v.lstrip("-")
            if os.path.exists(p):
                env.update(env_file(p))
            else:
                check(v.startswith("-"), "EnvironmentFile %s missing" % p)
        elif k == "ExecStart":
            argv = []
            for w in shlex.split(v):
                m = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", w)
                if m:
                    argv += env.get(m.group(1), "").split()
                else:
                    argv.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}",
                                       lambda m: env.get(m.group(1), ""), w))
    check(argv and argv[1] == "serve", "ExecStart= is %r" % argv)
    return argv[:2] + ["-l", listen] + argv[2:]


# ---------------------------------------------------------------- lintian

@case("deb_build_lintian", limit=170)
def _(ctx):
    need_tools(lintian=True)
    deb, changes = built()
    rc, out = run(["dpkg-deb", "-c", deb], timeout=30)
    check(rc == 0, "dpkg-deb -c: %s" % out)
    paths = sorted(l.split()[-1].lstrip(".") for l in out.splitlines()
                   if not l.startswith("d"))
    unitdir = [p for p in paths if p.endswith("/tftpx.service")]
    check(len(unitdir) == 1 and unitdir[0] in (
        "/lib/systemd/system/tftpx.service",
        "/usr/lib/systemd/system/tftpx.service"), "units: %r" % paths)
    ud = os.path.dirname(unitdir[0])
    want = sorted([BIN, DEFAULT, ud + "/tftpx.service", ud + "/tftpx.socket",
                   "/usr/share/doc/tftpx/changelog.gz",
                   "/usr/share/doc/tftpx/copyright",
                   "/usr/share/man/man1/tftpx.1.gz"])
    check(paths == want, "the .deb holds %r, expected %r" % (paths, want))
    check(not [p for p in paths if p.startswith("/srv")], "files under /srv")
    rc, out = run(["lintian", "--fail-on", "none", "--display-info",
                   changes], timeout=120)
    lines = [l for l in out.splitlines() if l.strip() and
             "running with root privileges" not in l]
    for l in lines:
        if re.match(r"[A-Z]: ", l):
            info(ctx, "lintian: " + l)
    bad = [l for l in lines if re.match(r"[EW]: ", l)]
    check(rc == 0, "lintian exited %d: %s" % (rc, " | ".join(lines[-5:])))
    check(not bad, "lintian: %s" % " | ".join(bad))


# ---------------------------------------------------------------- install

class Srv:
    """Where /srv is: a tmpfs of a private mount namespace kept open by a
    holder process (commands enter it with nsenter, files are reached
    through /proc/PID/root), or the machine's own."""

    def __init__(self, ctx, private):
        self.pid = None
        self.prefix = []
        self.root = ""
        if not private:
            return
        p = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "--", "sh",
             "-c", "mount -t tmpfs -o mode=0755 tftpx-e2e-srv /srv && "
             "echo ready && exec sleep 600"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True)
        ctx.procs.append(p)
        if p.stdout.readline().strip() != b"ready":
            p.wait(5)
            raise OSError(p.stderr.read().decode().strip())
        self.pid = p.pid
        self.prefix = ["nsenter", "-t", str(p.pid), "-m", "--"]
        self.root = "/proc/%d/root" % p.pid

    def path(self, p):
        return self.root + p

    def alive(self):
        return self.pid is None or os.path.exists("/proc/%d" % self.pid)


def srv_for(ctx, want_existing):
    """A private /srv (empty, or with a /srv/tftp of another server when
    want_existing); without mount namespaces the machine's /srv when it
    is already in the wanted state, else SKIP."""
    try:
        return Srv(ctx, True)
    except OSError as e:
        why = str(e) or "unshare failed"
    if os.path.isdir(SRV) == want_existing:
        info(ctx, "no mount namespace (%s): on the machine's /srv" % why)
        return Srv(ctx, False)
    raise Skip("no mount namespace (%s) and this machine's /srv/tftp %s" %
               (why, "is missing" if want_existing else "exists"))


_install_lock = threading.Lock()
_undo_lock = threading.Lock()
_state = {"installed": False, "user_before": None, "srv": None}


def dpkg(srv, *args, timeout=90):
    """dpkg in srv's mount namespace; waits for another dpkg or apt
    (another checkout's make test-deps) to let go of the lock."""
    end = time.monotonic() + timeout
    while True:
        rc, out = run(srv.prefix + ["dpkg"] + list(args), timeout=timeout)
        if rc == 0 or "lock" not in out or time.monotonic() > end:
            return rc, out
        time.sleep(1)


def status_of(pkg):
    rc, out = run(["dpkg-query", "-W", "-f=${Status}", pkg], timeout=30)
    return out.strip() if rc == 0 else ""


def user_of(name):
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def undo():
    """Purge the package if a case installed it and it is still there,
    and delete the tftpx user and group if the suite made them.  Safe to
    call twice, from a finally, an exit hook or the watchdog's cleanup."""
    with _undo_lock:
        srv = _state["srv"]
        if _state["installed"] and status_of(PKG):
            if srv is None or not srv.alive():
                # the namespace is gone: its /srv/tftp must not become a
                # reason to rmdir the machine's
                try:
                    os.unlink(MARKER)
                except OSError:
                    pass
                srv = Srv(None, False)
            rc, out = dpkg(srv, "--purge", PKG)
            if rc != 0:
                sys.stderr.write("deb.py: dpkg --purge: %s\n" % out)
        _state["installed"] = False
        if _state["user_before"] is False:
            if user_of(PKG) is not None:
                run(["userdel", PKG], timeout=30)
            try:
                grp.getgrnam(PKG)
                run(["groupdel", PKG], timeout=30)
            except KeyError:
                pass


at_exit(undo)


def machine_lock(ctx):
    fd = os.open(MACHINE_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    ctx.defer(lambda: os.close(fd))
    end = time.monotonic() + 60
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError:
            if time.monotonic() > end:
                raise Fail("%s held by another deb.py for 60 s" %
                           MACHINE_LOCK)
            time.sleep(0.5)


def installed_flow(ctx, existing):
    """Install the package with /srv as wanted, hand over to the case,
    then purge and check nothing is left; undo() in any case."""
    if not is_root():
        raise Skip("needs root (dpkg -i)")
    need_tools()
    deb, _ = built()
    with _install_lock:
        machine_lock(ctx)
        if status_of(PKG):
            raise Skip("the tftpx package is installed here (%s); this "
                       "suite installs and purges its own: dpkg --purge "
                       "tftpx first" % status_of(PKG))
        _state["user_before"] = user_of(PKG) is not None
        srv = srv_for(ctx, existing)
        _state["srv"] = srv
        try:
            FlowSteps(ctx, srv, deb, existing).run()
        finally:
            undo()
            _state["srv"] = None


class FlowSteps:
    def __init__(self, ctx, srv, deb, existing):
        self.ctx, self.srv, self.deb, self.existing = ctx, srv, deb, existing

    def run(self):
        srv = self.srv
        before = None
        if self.existing:
            if srv.pid is not None:
                # another TFTP server's directory, as tftpd-hpa makes it
                os.mkdir(srv.path(SRV), 0o755)
                os.chown(srv.path(SRV), 0, grp.getgrnam("nogroup").gr_gid)
                with open(srv.path(SRV + "/theirs.img"), "wb") as f:
                    f.write(b"another server's file\n")
            before = self.snapshot()
        else:
            check(not os.path.exists(srv.path(SRV)), "/srv/tftp exists")
        _state["installed"] = True
        rc, out = dpkg(srv, "-i", self.deb)
        check(rc == 0, "dpkg -i exited %d: %s" % (rc, out.strip()[-400:]))
        check(status_of(PKG) == "install ok installed",
              "status after dpkg -i: %r" % status_of(PKG))
        listed = self.check_files()
        if self.existing:
            check(self.snapshot() == before, "dpkg -i changed the /srv/tftp "
                  "that was there: %r, before %r" % (self.snapshot(), before))
            check(not os.path.exists(MARKER), "%s made for a /srv/tftp "
                  "the package did not make" % MARKER)
        else:
            st = os.stat(srv.path(SRV))
            check(stat.S_ISDIR(st.st_mode) and st.st_uid == 0 and
                  st.st_mode & 0o7777 == 0o755, "/srv/tftp: mode %o uid %d" %
                  (st.st_mode, st.st_uid))
            check(os.path.exists(MARKER), "%s missing" % MARKER)
            self.serve()
        if not self.existing:
            # remove with a file in /srv/tftp: the directory stays
            rc, out = dpkg(srv, "-r", PKG)
            check(rc == 0, "dpkg -r exited %d: %s" % (rc, out[-400:]))
            check(os.path.isdir(srv.path(SRV)), "dpkg -r removed a /srv/tftp "
                  "that held a file")
            check(not os.path.exists(BIN), "dpkg -r left %s" % BIN)
            check(os.path.exists(DEFAULT), "dpkg -r removed the conffile")
            os.unlink(srv.path(SRV + "/boot.img"))
        rc, out = dpkg(srv, "--purge", PKG)
        check(rc == 0, "dpkg --purge exited %d: %s" % (rc, out[-400:]))
        _state["installed"] = False
        self.check_gone(listed)
        if self.existing:
            check(self.snapshot() == before, "the /srv/tftp that was there "
                  "changed: %r, before %r" % (self.snapshot(), before))
        else:
            check(not os.path.exists(srv.path(SRV)),
                  "dpkg --purge left the empty /srv/tftp it made")

    def snapshot(self):
        p = self.srv.path(SRV)
        st = os.stat(p)
        return (st.st_uid, st.st_gid, st.st_mode, sorted(os.listdir(p)))

    def check_files(self):
        rc, out = run(["dpkg", "-L", PKG], timeout=30)
        check(rc == 0, "dpkg -L: %s" % out)
        listed = [l for l in out.splitlines() if l.strip()]
        units = [l for l in listed if l.endswith("/tftpx.service")]
        check(len(units) == 1, "units in dpkg -L: %r" % listed)
        self.unit = units[0]
        ud = os.path.dirname(self.unit)
        for p in (BIN, DEFAULT, self.unit, ud + "/tftpx.socket",
                  "/usr/share/man/man1/tftpx.1.gz"):
            check(p in listed and os.path.isfile(p), "%s not installed" % p)
        check(os.access(BIN, os.X_OK), "%s not executable" % BIN)
        rc, out = run([BIN, "--version"], timeout=10)
        check(rc == 0 and out.startswith("tftpx "), "--version: %r" % out)
        rc, out = run([BIN, "serve", "--help"], timeout=10)
        check("--origin" in out and "libcurl" not in out.lower(),
              "the packaged binary lacks libcurl (--origin): %s" %
              [l for l in out.splitlines() if "origin" in l][:3])
        rc, out = run(["dpkg-query", "-W", "-f=${Depends}\n${Conffiles}",
                       PKG], timeout=30)
        # tftpx loads them with dlopen (src/dynlib.c): dpkg-shlibdeps
        # cannot see them, debian/control names them
        check("libcurl4" in out and "libmicrohttpd12" in out and
              "adduser" in out, "Depends/Conffiles: %r" % out)
        check(re.search(r"^ %s [0-9a-f]{32}$" % re.escape(DEFAULT), out,
                        re.M), "%s is not a conffile: %r" % (DEFAULT, out))
        conf = env_file(DEFAULT)
        check(conf.get("TFTP_DIRECTORY") == SRV and
              conf.get("TFTP_USERNAME") == PKG and "TFTP_OPTIONS" in conf,
              "%s: %r" % (DEFAULT, conf))
        u = user_of(PKG)
        check(u is not None, "no user tftpx")
        check(0 < u.pw_uid < 1000 and u.pw_shell.endswith("nologin") and
              u.pw_dir == "/nonexistent" and
              grp.getgrgid(u.pw_gid).gr_name == PKG,
              "user tftpx is not a system user with its own group: %r" %
              (tuple(u),))
        check(not os.path.exists("/nonexistent"), "/nonexistent was made")
        self.uid, self.gid = u.pw_uid, u.pw_gid
        # deb-systemd-helper's work, without systemd running
        wants = "/etc/systemd/system/multi-user.target.wants/tftpx.service"
        check(os.path.islink(wants), "tftpx.service not enabled (%s)" % wants)
        check(not os.path.lexists("/etc/systemd/system/sockets.target.wants/"
                                  "tftpx.socket"), "tftpx.socket enabled")
        if shutil.which("systemd-analyze"):
            rc, out = run(["systemd-analyze", "verify", "--man=no",
                           ud + "/tftpx.socket", self.unit], timeout=60)
            msgs = [l for l in out.splitlines() if l.strip()]
            check(not msgs, "systemd-analyze verify: %r" % msgs)
        return listed

    def serve(self):
        ctx, srv = self.ctx, self.srv
        want = os.urandom(3000) + b"tftpx deb\n"
        with open(srv.path(SRV + "/boot.img"), "wb") as f:
            f.write(want)
        os.chmod(srv.path(SRV + "/boot.img"), 0o644)
        argv = exec_start(self.unit, "127.0.0.1:0")
        check(argv[0] == BIN and "--user" in argv and argv[-1] == SRV,
              "ExecStart= with /etc/default/tftpx: %r" % argv)
        n = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        ctx.socks.append(n)
        name = "tftpx-e2e-deb-%d" % os.getpid()
        n.bind("\0" + name)
        s = Server(ctx, argv=srv.prefix + argv, ready="serving",
                   env={"NOTIFY_SOCKET": "@" + name, "SUDO_UID": None,
                        "SUDO_GID": None, "LISTEN_PID": None,
                        "LISTEN_FDS": None})
        check(s.wait_for(lambda l: "serving %s read-only" % SRV in l, 1),
              "no 'serving %s read-only' line: %s" % (SRV, s.tail()))
        n.settimeout(5)
        try:
            msg = n.recv(4096).decode()
        except socket.timeout:
            raise Fail("no READY=1 on NOTIFY_SOCKET")
        check("READY=1" in msg.split("\n"), "notify: %r" % msg)
        st = proc_status(s.pid)
        check(st["Uid"].split() == [str(self.uid)] * 4 and
              st["Gid"].split() == [str(self.gid)] * 4,
              "server runs as Uid %s Gid %s, not tftpx (%d:%d)" %
              (st["Uid"], st["Gid"], self.uid, self.gid))
        out = os.path.join(ctx.tmpdir("got"), "boot.img")
        rc, _, err, _ = ctx.run([BIN, "get", "127.0.0.1:%d" % s.port,
                                 "boot.img", out], timeout=30)
        check(rc == 0, "tftpx get exited %d: %s" % (rc, err.strip()[-200:]))
        with open(out, "rb") as f:
            check(f.read() == want, "fetched file differs")
        s.expect_ok("RRQ", "boot.img")
        s.stop()
        info(ctx, "served /srv/tftp as: %s" % " ".join(argv))

    def check_gone(self, listed):
        check(status_of(PKG) == "", "dpkg still knows tftpx: %r" %
              status_of(PKG))
        rc, _ = run(["dpkg", "-L", PKG], timeout=30)
        check(rc != 0, "dpkg -L tftpx still answers")
        left = [p for p in listed if os.path.lexists(p) and
                not os.path.isdir(p)]
        check(not left, "left after purge: %r" % left)
        left = []
        for d in ("/etc/systemd/system", "/var/lib/systemd/"
                  "deb-systemd-helper-enabled", "/var/lib/systemd/"
                  "deb-systemd-helper-masked", "/var/lib/dpkg/info"):
            for base, dirs, files in os.walk(d):
                left += [os.path.join(base, f) for f in files + dirs
                         if f.startswith("tftpx.") or f.startswith("tftpx_")]
        for p in (DEFAULT, os.path.dirname(MARKER), self.unit):
            if os.path.lexists(p):
                left.append(p)
        check(not left, "left after purge: %r" % left)
        # the user stays, as Debian's practice and tftpd-hpa's tftp user
        check(user_of(PKG) is not None, "user tftpx removed by the purge")


@case("deb_install_fresh_srv", limit=170)
def _(ctx):
    installed_flow(ctx, existing=False)


@case("deb_install_existing_srv", limit=170)
def _(ctx):
    installed_flow(ctx, existing=True)


def list_only(cases, listing, k):
    """main()'s check before a run, without its demand for ./tftpx: this
    suite runs the packaged binary."""
    if listing:
        for c in cases:
            print(c[0])
        return 0
    if not cases:
        print("no case matches %r" % k, file=sys.stderr)
        return 1
    return None


if __name__ == "__main__":
    tftpx_test.list_or_check = list_only
    sys.exit(main(budget=200))
