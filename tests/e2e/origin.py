#!/usr/bin/env python3
"""tests/e2e/origin.py - `tftpx serve --origin URL`: files from an HTTP
origin, the cache, uploads handed on with PUT (stdlib only).

Run from the repo root as root:  python3 tests/e2e/origin.py
                                 [-k SUBSTRING] [--quick] [-j N] [--list]

Built on the harness in tests/lib/tftpx_test.py and the origins in
tests/lib/httporigin.py: the real nginx (Debian's nginx-light; its access
log tells which requests reached it) and DynOrigin, an HTTP server in this
process whose answer is set per path (a body per client, a status, a
stall, a reset, a trickle) and which records every request with its
headers.  Each case prints one line "PASS name", "FAIL name: reason" or
"SKIP name: reason"; extra lines start with "INFO ".  Traffic stays on
127.0.0.1 and ::1, and in the namespace the U-Boot case makes.

What is under test (the server's side, src/origin.c): an RRQ for a name
not in DIR (every RRQ without DIR) is a GET of URL/NAME, served as the
bytes arrive; tsize in the OACK is the Content-Length; the request carries
X-TFTP-Client, X-TFTP-File, X-TFTP-Options and User-Agent tftpx/VERSION;
404 is ERROR 1, 403 ERROR 2, another status ERROR 0 "HTTP <status>", a
stall ERROR 0 "timed out" after (--retries + 1) x --timeout, a reset
ERROR 0, each with one stderr line "origin: GET <URL>: <what>"; --cache
stores complete fetches only, revalidates after --cache-ttl, shares one
GET among concurrent readers, evicts past --cache-max, and keeps nothing
private (no-store, private, Vary); --origin-upload PUTs a finished upload
and sends the final ACK only after a 2xx.

  get_cold_<size>            nginx holds the file (0 B, 1 B, 511/512/513 B,
                             1 MiB, 40 MiB), no DIR, no cache: raw RRQ with
                             tsize (the OACK's tsize is the size; 0 B is
                             answered as a local 0 B file is), byte-exact
                             by raw packets up to 1 MiB, by `tftpx get` at
                             every size; each RRQ is a GET at nginx.
  get_cached_<size>          the same with --cache and an empty DIR: one
                             GET; the cache holds one data file (16 hex
                             digits, the file's bytes) and its .meta
                             ("name f.bin"); warm RRQs (raw with tsize,
                             `tftpx get`) are byte-exact and reach nginx no
                             more; -v says miss once, hit after.
  get_cached_1M_v6           the same over ::1, nginx on [::1].
  revalidate_ttl1            --cache-ttl 1: the file changed at nginx (new
                             size, new mtime) is served new after the TTL
                             by a conditional GET (If-None-Match or
                             If-Modified-Since) answered 200; unchanged,
                             the next one is answered 304 and the cached
                             bytes are served, and -v says revalidated
                             for that fetch.
  revalidate_ttl0            --cache-ttl 0: every RRQ revalidates (200,
                             304, 304), bytes exact each time, -v says
                             revalidated for each 304.
  concurrent_50_one_get      `tftpx bench -c 50 -n 50 --tsize --verify` of
                             an uncached 4 MiB file at nginx with --cache:
                             all 50 exact, nginx logged exactly one GET.
  concurrent_50_shared_fetch the same against DynOrigin, which holds the
                             last bytes until the server has logged all 50
                             requests (so they overlap the fetch for sure):
                             one request at the origin, 50 exact.
  libcurl_loaded_only_with_origin
                             a plain serve maps neither libcurl nor the
                             libraries it pulls in (/proc/PID/maps); with
                             --origin libcurl.so.4 is mapped and serves.
  dynamic_per_client         a Vary: X-TFTP-Client / Cache-Control: private
                             body: two clients (two ports) get their own
                             bytes, with --cache; the origin saw
                             X-TFTP-Client 127.0.0.1:PORT of each,
                             X-TFTP-File, X-TFTP-Options "blksize=1468
                             tsize=0" (in the order asked) and "" with no
                             options, User-Agent tftpx/VERSION; nothing
                             cached.
  dynamic_v4_and_v6          one server on 127.0.0.1 and ::1, the origin on
                             [::1]: the two clients get different bytes,
                             X-TFTP-Client "[::1]:PORT" for the v6 one.
  dynamic_private_not_shared two concurrent RRQs of one private per-client
                             name (the origin holds the tails): two GETs,
                             each client its own bytes.
  names_percent_encoded      a name with a space, %, +, UTF-8, ~: the URL
                             path percent-encodes what is outside
                             [A-Za-z0-9-._~/], X-TFTP-File keeps printable
                             ASCII but %; nginx serves the decoded file; a
                             name with CR LF cannot inject a header.
  map_prefix_leading_slash   --origin URL/tftp with --map: the origin is
                             asked for the mapped name under /tftp,
                             X-TFTP-File is the name as asked; a leading
                             "/" is dropped.
  cache_control_and_vary     no-store, private, Vary: X-Other: fetched each
                             time, never in the cache; Vary:
                             Accept-Encoding and a plain answer: cached.
  no_content_length_no_tsize chunked answer: no tsize in the OACK (only
                             tsize asked: DATA 1 at once), bytes exact.
  streams_before_origin_done DATA 1 reaches the client while the origin is
                             still holding the tail of the body.
  slow_origin_within_giveup  a trickle slower in total than the give-up
                             time but with shorter gaps finishes exact.
  redirects_5_ok_6_fail      5 redirects are followed; 6 are ERROR 0.
  tls_private_ca             nginx over TLS with a private CA: exact with
                             --origin-ca; ERROR 0 and the origin line
                             without it, and for a certificate of another
                             name.
  cache_lru_eviction         --cache-max 1M and 3 x 400 KiB: the least
                             recently used one is evicted (fetched again),
                             the others are not.
  error_<kind>               404, 403, 500, stall before headers, stall
                             mid-body, reset mid-body (--timeout 1
                             --retries 1, --cache, no -v): the ERROR code
                             and text, the stderr line, for a stall the
                             server gave up while the origin still hung
                             (it hangs 6 s, three times the give-up
                             time), nothing of it in the cache; a transfer
                             that the origin keeps going until the failure
                             is over finishes exact (and is cached).
  dir_wins_over_origin       a file in DIR is served from DIR (no GET); a
                             name not in DIR comes from nginx; without DIR
                             a file in the server's cwd is not served.
  dotdot_refused             names with a "." or ".." segment: ERROR 2 and
                             no request at the origin; "a..b.bin" fetched.
  upload_busybox_to_nginx    --upload --origin-upload: busybox tftp -p of
                             513 B and 1 MiB lands byte-exact at nginx
                             (dav), not in DIR; the PUT carried
                             X-TFTP-Client.
  upload_final_ack_after_2xx raw WRQ to DynOrigin's PUT sink held open: no
                             final ACK while the origin has not answered,
                             the ACK after its 201; the body and the
                             X-TFTP-* headers of the PUT.
  upload_refused_403         PUT below nginx's /denied/: the last DATA is
                             answered ERROR 2 (raw), busybox reports
                             "server error: (2)", tftpx put exits non-zero,
                             the file nowhere.  (busybox 1.35 itself exits
                             0 after an ERROR that answers its last DATA;
                             its words are taken as its failure.)
  upload_refused_500         DynOrigin answers 500: ERROR 0 "HTTP 500",
                             as above, nothing stored.
  upload_local_without_origin_upload  --upload alone: the file lands in
                             DIR, no PUT at the origin.
  uboot_from_origin          U-Boot (arm64, virtio) under QEMU on a tap in
                             a namespace with tftpx and nginx: tftpboot of
                             a 1 MiB file only nginx has, crc32 equal.
  ipxe_from_origin           iPXE (e1000) under QEMU with slirp: imgfetch
                             of a 1 MiB file only nginx has, size equal.
  badcmd_origin_scheme, badcmd_cache_max, badcmd_cache_not_dir
                             --origin ftp://x, --cache-max garbage, --cache
                             on a regular file: exit non-zero at once with
                             one line naming the option.

Until `tftpx serve --help` lists --origin every case fails in one line.
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TESTS, "lib"))
from tftpx_test import (  # noqa: E402
    ACK, DATA, ERROR, MIB, KIB, OACK, OPNAMES, Fail, Peer, Server, Skip, TFTPX,
    blk_of, case, check, describe, err_of, info, main, oack_opts, op_of,
    outcome, param_case, pkt_ack, pkt_data, pkt_error, pkt_rrq, pkt_wrq,
    read_bytes, root_with, same_file, temps_in, write_bytes, write_random)
from tftpx_test import heavy_libs, mapped_libs, raw_receive  # noqa: E402
from httporigin import DynOrigin, Nginx, client_body  # noqa: E402

SUITE_BUDGET = 200.0

# ---------------------------------------------------------------- set-up

_probe = {}
_probe_lock = threading.Lock()


def need_origin():
    """Fail in one line while `tftpx serve` has no --origin."""
    with _probe_lock:
        if "help" not in _probe:
            r = subprocess.run([TFTPX, "serve", "--help"],
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=10)
            _probe["help"] = b"--origin" in r.stdout
    check(_probe["help"], "tftpx serve --help lists no --origin")


def version():
    """tftpx's version ("0.1.0"), for the User-Agent."""
    with _probe_lock:
        if "version" not in _probe:
            r = subprocess.run([TFTPX, "--version"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=10)
            m = re.search(rb"tftpx (\S+)", r.stdout)
            _probe["version"] = m.group(1).decode() if m else "?"
    return _probe["version"]


def nginx(ctx, files=None, **kw):
    """nginx serving a fresh root holding files ({name: bytes or a size of
    random bytes}); stopped at the case's cleanup."""
    www = root_with(ctx, files or {})
    os.chmod(www, 0o755)
    n = Nginx(www, **kw)
    ctx.procs.append(n.p)
    ctx.defer(n.stop)
    return n


def dyn(ctx, host=None, sock=None):
    o = DynOrigin(host or ctx.host, sock=sock)
    ctx.defer(o.stop)
    return o


def serve(ctx, url, *args, root=None, listens=None, verbose=True, cwd=None):
    """`tftpx serve --allow-root -l ... --origin url [-v] ARGS [root]`
    (no DIR when root is None), in cwd if given; ready at its listening
    line(s)."""
    need_origin()
    listens = listens or [ctx.listen_spec()]
    argv = [TFTPX, "serve", "--allow-root"]
    for spec in listens:
        argv += ["-l", spec]
    argv += ["--origin", url] + (["-v"] if verbose else []) + list(args)
    if root is not None:
        argv.append(root)
    if cwd is not None:
        argv = ["env", "-C", cwd] + argv
    srv = Server(ctx, root, argv=argv, listens=listens, ready="listening")
    info(ctx, "server: %s" % " ".join(argv))
    return srv


def empty_dir(ctx):
    d = ctx.tmpdir("dir")
    os.chmod(d, 0o755)
    return d


# ---------------------------------------------------------------- clients


def tget(ctx, srv, name, args=(), port=None, host=None, timeout=90):
    """`tftpx get` of name: (exit status, the bytes or None, stderr)."""
    out = ctx.tmpdir("out")
    dst = os.path.join(out, "got")
    hp = ("[%s]:%d" if ":" in (host or ctx.host) else "%s:%d") % (
        host or ctx.host, port or srv.port)
    rc, _, err, _ = ctx.tftpx("get", "-q", *args, hp, name, dst,
                              timeout=timeout)
    got = read_bytes(dst) if rc == 0 and os.path.exists(dst) else None
    return rc, got, err.strip()


def tget_ok(ctx, srv, name, **kw):
    rc, got, err = tget(ctx, srv, name, **kw)
    check(rc == 0, "tftpx get %s exited %d: %s; server: %s" % (
        name, rc, err[-200:], srv.tail(4)))
    return got


def tget_file(ctx, srv, name, src, **kw):
    """`tftpx get` of name must equal the file src (by size and sha256)."""
    out = ctx.tmpdir("out")
    dst = os.path.join(out, "got")
    rc, _, err, _ = ctx.tftpx("get", "-q", ctx.hp(srv.port), name, dst,
                              timeout=90, **kw)
    check(rc == 0, "tftpx get %s exited %d: %s; server: %s" % (
        name, rc, err.strip()[-200:], srv.tail(4)))
    bad = same_file(src, dst)
    check(bad is None, "tftpx get %s: %s" % (name, bad))


class Got:
    """What one raw RRQ came to."""

    def __init__(self):
        self.first = None           # the first reply
        self.oack = None            # {option: value} of the OACK, or None
        self.data = b""
        self.error = None           # (code, text) of an ERROR, or None
        self.tid = None
        self.blocks = 0

    def __repr__(self):
        return "first %s, oack %s, %d bytes, error %s" % (
            describe(self.first), self.oack, len(self.data), self.error)


def rrq(ctx, srv, name, opts=(), peer=None, port=None, wait=5.0,
        limit=60.0, abort_after_oack=False, on_data=None):
    """A raw RRQ of name (bytes or str) with opts, received to its end
    (ACKing every block, each window's last): a Got.  An ERROR at any
    point ends it (got.error), it is no Fail.  wait: seconds for the
    first reply; abort_after_oack: answer the OACK with ERROR 0.
    on_data(got) runs at the first DATA, before its ACK."""
    peer = peer or ctx.peer()
    g = Got()
    peer.send(pkt_rrq(name, "octet", opts), port or srv.port)
    pkt, tid = peer.expect(wait, "reply to RRQ %r" % (name,))
    g.first, g.tid = pkt, tid
    blk, ws = 512, 1
    if op_of(pkt) == ERROR:
        g.error = err_of(pkt)
        return g
    if op_of(pkt) == OACK:
        g.oack = dict(oack_opts(pkt))
        if abort_after_oack:
            peer.send(pkt_error(0, "test done"), tid)
            return g
        blk = int(g.oack.get("blksize", 512))
        ws = int(g.oack.get("windowsize", 1))
        peer.send(pkt_ack(0), tid)
        pending = None
    elif op_of(pkt) == DATA:
        pending = pkt
    else:
        raise Fail("RRQ %r answered with %s" % (name, describe(pkt)))
    errors, numbers = [], []
    g.data = raw_receive(peer, tid, pending, blk, ws, limit=limit,
                         numbers=numbers, errors=errors,
                         on_first=(lambda: on_data(g)) if on_data else None)
    g.error = errors[0] if errors else None
    g.blocks = len(numbers)
    return g


def rrq_ok(ctx, srv, name, **kw):
    g = rrq(ctx, srv, name, **kw)
    check(g.error is None, "RRQ %r: ERROR %r (%d bytes before it); "
          "server: %s" % (name, g.error, len(g.data), srv.tail(3)))
    return g


def busybox(ctx, argv, cwd):
    """(exit status, its words) of a busybox tftp; it exits 0 after giving
    up on its last ACK ("timeout"): that is a failure here."""
    if not shutil.which("busybox"):
        raise Skip("busybox not installed")
    rc, out, err, _ = ctx.run(["busybox", "tftp"] + argv, timeout=60,
                              cwd=cwd)
    err = err.strip() or out.decode("utf-8", "replace").strip()
    if rc == 0 and "timeout" in err:
        rc = 1
    # busybox 1.35 exits 0 after an ERROR that answers its last DATA (it
    # counts the file as sent once the short block is out): its own words
    # are the failure then
    if rc == 0 and "server error" in err:
        rc = 1
    return rc, err


# ---------------------------------------------------------------- checks

HEX16 = re.compile(r"^[0-9a-fA-F]{16}$")


def cache_view(cache):
    """({data file: the name its .meta gives, or None}, [.meta files
    without data], [other files])."""
    data, metas, other = {}, set(), []
    for f in os.listdir(cache):
        if HEX16.match(f):
            data[f] = None
        elif f.endswith(".meta") and HEX16.match(f[:-5]):
            metas.add(f[:-5])
        else:
            other.append(f)
    for h in data:
        if h in metas:
            with open(os.path.join(cache, h + ".meta"), "rb") as fh:
                first = fh.read().decode("utf-8", "replace").split("\n")[0]
            data[h] = first[5:] if first.startswith("name ") else \
                "(first line %r)" % first
    orphans = sorted(m + ".meta" for m in metas if m not in data)
    return data, orphans, other


def cached_names(cache):
    data, orphans, _ = cache_view(cache)
    return sorted(n or "(no .meta)" for n in data.values()) + orphans


def cache_file_of(cache, name):
    data, _, _ = cache_view(cache)
    for h, n in data.items():
        if n == name:
            return os.path.join(cache, h)
    return None


def wait_cached(cache, names, timeout=5.0):
    """The cache's names once they are exactly names (sorted), or what it
    holds after timeout seconds."""
    want = sorted(names)
    end = time.monotonic() + timeout
    while True:
        got = cached_names(cache)
        if got == want or time.monotonic() >= end:
            return got
        time.sleep(0.05)


def origin_lines(srv, word=None, name=None):
    """The server's -v lines about the origin with word (miss, hit,
    revalidated, shared) as a word, about name if given."""
    def pred(l):
        if "origin:" not in l:
            return False
        if word is not None and not re.search(r"\b%s\b" % word, l):
            return False
        return name is None or name in l
    return srv.grep(pred)


def wait_lines(srv, word, name, n, timeout=3.0):
    """How many origin_lines(srv, word, name) there are once there are n,
    or after timeout seconds."""
    end = time.monotonic() + timeout
    while True:
        c = len(origin_lines(srv, word, name))
        if c >= n or time.monotonic() >= end:
            return c
        time.sleep(0.05)


def origin_says(srv, url, what=None, timeout=5.0):
    """The stderr line "origin: GET <url>: <what>" (what contained)."""
    head = "origin: GET %s:" % url
    l = srv.wait_for(lambda l: head in l and (what is None or what in
                                              l.split(head, 1)[1]), timeout)
    check(l is not None, "no stderr line %r%s; server: %s" % (
        head, " with %r" % what if what else "", srv.tail(4)))
    return l


def end_line(srv, name, kind="RRQ", timeout=5.0):
    """The server's finished-transfer line for name (ok or not)."""
    return srv.wait_for(lambda l: (' %s "%s" ' % (kind, name)) in l and
                        outcome(l) is not None, timeout)


def tsize_of(g):
    return None if g.oack is None else g.oack.get("tsize")


# ============================================================ gets by size

SIZES = [("0B", 0), ("1B", 1), ("511B", 511), ("512B", 512), ("513B", 513),
         ("1M", MIB), ("40M", 40 * MIB)]
SMALL = 1024        # raw RRQs at blksize 512 up to here: the block edges


def size_opts(size):
    if size < SMALL:
        return [("tsize", "0")]
    return [("tsize", "0"), ("blksize", "1468"), ("windowsize", "8")]


_local0 = {}


def local_empty_answer(ctx, opts):
    """How the server answers opts for a 0-byte file in DIR: (the op of
    its first reply, the OACK's options or None)."""
    key = tuple(opts)
    if key not in _local0:
        root = root_with(ctx, {"z.bin": b""})
        srv = ctx.server(root)
        g = rrq_ok(ctx, srv, "z.bin", opts=opts)
        srv.stop()
        _local0[key] = (op_of(g.first), g.oack)
    return _local0[key]


def check_tsize(ctx, g, size, opts):
    if size == 0:
        want = local_empty_answer(ctx, opts)
        check((op_of(g.first), g.oack) == want, "0 B from the origin: "
              "first reply %s, OACK options %s; a 0 B file in DIR gets %s, "
              "%s" % (OPNAMES.get(op_of(g.first)), g.oack,
                      OPNAMES.get(want[0]), want[1]))
        return
    check(tsize_of(g) == str(size), "OACK %s: tsize %s, not the size %d" %
          (g.oack, tsize_of(g), size))


def raw_check(ctx, srv, name, src, size):
    """A raw RRQ with tsize: the OACK's tsize; up to 1 MiB the bytes too
    (bigger: the transfer is ended after the OACK)."""
    opts = size_opts(size)
    big = size > MIB
    g = rrq(ctx, srv, name, opts=opts, abort_after_oack=big)
    check(g.error is None, "raw RRQ %s %s: ERROR %r; server: %s" % (
        name, opts, g.error, srv.tail(3)))
    check_tsize(ctx, g, size, opts)
    if not big:
        want = read_bytes(src)
        check(g.data == want, "raw RRQ %s: %d bytes, not the %d of the "
              "file (%s)" % (name, len(g.data), size, "same length, "
                             "different bytes" if len(g.data) == size
                             else "length differs"))


@param_case("get_cold", (4,), [(s, n) for s, n in SIZES if n < 40 * MIB])
def _(ctx, size):
    get_cold(ctx, size)


@param_case("get_cold", (4,), [(s, n) for s, n in SIZES if n >= 40 * MIB],
            heavy=True, limit=90)
def _(ctx, size):
    get_cold(ctx, size)


def get_cold(ctx, size):
    n = nginx(ctx, {"f.bin": size})
    src = os.path.join(n.root, "f.bin")
    srv = serve(ctx, n.url())
    raw_check(ctx, srv, "f.bin", src, size)
    tget_file(ctx, srv, "f.bin", src)
    ok = srv.wait_for(lambda l: ' RRQ "f.bin" ' in l and outcome(l) == "ok")
    check(ok is not None, "no ok line for f.bin: %s" % srv.tail())
    # no cache: each RRQ was a GET of its own
    c = n.wait_count(2, "GET", "/f.bin")
    check(c == 2, "nginx logged %d GETs of /f.bin for 2 RRQs without "
          "--cache: %s" % (c, n.access_lines()))
    bad = [e for e in n.entries("GET", "/f.bin") if e["status"] != "200"]
    check(not bad, "nginx answered %s" % bad)


@param_case("get_cached", (4,), [(s, n) for s, n in SIZES if n < 40 * MIB])
def _(ctx, size):
    get_cached(ctx, size)


@param_case("get_cached", (4,), [(s, n) for s, n in SIZES if n >= 40 * MIB],
            heavy=True, limit=90)
def _(ctx, size):
    get_cached(ctx, size)


@case("get_cached_1M_v6", fams=(6,))
def _(ctx):
    get_cached(ctx, MIB, host="::1")


def get_cached(ctx, size, host="127.0.0.1"):
    n = nginx(ctx, {"f.bin": size}, host=host)
    src = os.path.join(n.root, "f.bin")
    cache = ctx.tmpdir("cache")
    srv = serve(ctx, n.url(), "--cache", cache, root=empty_dir(ctx))
    # cold
    if size <= MIB:
        raw_check(ctx, srv, "f.bin", src, size)
    else:
        tget_file(ctx, srv, "f.bin", src)
    srv.expect_ok("RRQ", "f.bin")
    c = n.wait_count(1, "GET", "/f.bin")
    check(c == 1, "nginx logged %d GETs of /f.bin after one RRQ" % c)
    e = n.entries("GET", "/f.bin")[0]
    check(e["status"] == "200", "nginx answered %s" % e)
    if host == "::1":
        check(e["client"].startswith("[::1]:"), "X-TFTP-Client %r, not "
              "[::1]:PORT" % e["client"])
    names = wait_cached(cache, ["f.bin"])
    check(names == ["f.bin"], "cache holds %s after one complete fetch "
          "of f.bin (files: %s)" % (names, sorted(os.listdir(cache))))
    bad = same_file(src, cache_file_of(cache, "f.bin") or "/nonexistent")
    check(bad is None, "the cache's data file of f.bin: %s" % bad)
    # warm
    raw_check(ctx, srv, "f.bin", src, size)
    tget_file(ctx, srv, "f.bin", src)
    c = n.count("GET", "/f.bin")
    check(c == 1, "warm RRQs reached nginx: %d GETs of /f.bin in all: %s"
          % (c, n.entries("GET", "/f.bin")))
    miss = origin_lines(srv, "miss", "f.bin")
    hit = origin_lines(srv, "hit", "f.bin")
    check(len(miss) == 1 and len(hit) >= 2, "-v origin lines: %d miss, %d "
          "hit (expected 1 and 2): %s" % (len(miss), len(hit),
                                          origin_lines(srv)))


# ============================================================ revalidation


def set_file(path, data, mtime):
    write_bytes(path, data)
    os.utime(path, (mtime, mtime))


@case("revalidate_ttl1", limit=40)
def _(ctx):
    n = nginx(ctx)
    path = os.path.join(n.root, "r.bin")
    v1, v2 = os.urandom(1000), os.urandom(1500)
    now = time.time()
    set_file(path, v1, now - 100)
    cache = ctx.tmpdir("cache")
    srv = serve(ctx, n.url(), "--cache", cache, "--cache-ttl", "1")
    check(tget_ok(ctx, srv, "r.bin") == v1, "first get: not v1")
    check(wait_cached(cache, ["r.bin"]) == ["r.bin"], "r.bin not cached: "
          "%s" % cached_names(cache))
    time.sleep(1.6)                     # past the TTL
    set_file(path, v2, now - 50)        # new size, new mtime: new ETag
    got = tget_ok(ctx, srv, "r.bin")
    check(got == v2, "after the TTL, with the file changed at nginx, the "
          "server served %s" % ("the old bytes" if got == v1 else
                                "%d other bytes" % len(got)))
    n.wait_count(2, "GET", "/r.bin")
    es = n.entries("GET", "/r.bin")
    check(len(es) == 2, "nginx logged %d GETs, expected 2: %s" % (len(es),
                                                                 es))
    check(es[1]["inm"] != "-" or es[1]["ims"] != "-", "the GET after the "
          "TTL was not conditional (no If-None-Match, no "
          "If-Modified-Since): %s" % es[1])
    check(es[1]["status"] == "200", "the changed file was answered %s" %
          es[1]["status"])
    bad = same_file(path, cache_file_of(cache, "r.bin") or "/nonexistent")
    check(bad is None, "the cache's r.bin after the change: %s" % bad)
    time.sleep(1.6)
    before = len(origin_lines(srv, "revalidated", "r.bin"))
    got = tget_ok(ctx, srv, "r.bin")
    check(got == v2, "after a 304 the server served %d bytes, not v2" %
          len(got))
    n.wait_count(3, "GET", "/r.bin")
    es = n.entries("GET", "/r.bin")
    check(len(es) == 3 and es[2]["status"] == "304", "the unchanged file "
          "after the TTL: nginx logged %s, expected a third GET answered "
          "304" % [(e["status"], e["inm"], e["ims"]) for e in es])
    after = wait_lines(srv, "revalidated", "r.bin", before + 1)
    info(ctx, "origin lines: %s" % " | ".join(origin_lines(srv)))
    check(after > before, "no -v origin line saying revalidated for the "
          "fetch answered 304: %s" % " | ".join(origin_lines(srv)))


@case("revalidate_ttl0")
def _(ctx):
    n = nginx(ctx, {"z.bin": 3000})
    want = read_bytes(os.path.join(n.root, "z.bin"))
    cache = ctx.tmpdir("cache")
    srv = serve(ctx, n.url(), "--cache", cache, "--cache-ttl", "0")
    for i in range(3):
        check(tget_ok(ctx, srv, "z.bin") == want, "get %d: bytes differ" %
              (i + 1))
    n.wait_count(3, "GET", "/z.bin")
    st = [e["status"] for e in n.entries("GET", "/z.bin")]
    check(st == ["200", "304", "304"], "--cache-ttl 0: nginx answered %s, "
          "expected 200 304 304" % st)
    c = wait_lines(srv, "revalidated", "z.bin", 2)
    check(c == 2, "%d -v origin lines say revalidated for two fetches "
          "answered 304: %s" % (c, " | ".join(origin_lines(srv))))


# ============================================================ concurrency

ROOMY = ("--max-per-client", "200")


def bench50(ctx, srv, name, copy):
    argv = [TFTPX, "bench", "--json", "-q", "-c", "50", "-n", "50",
            "-b", "1468", "--tsize", "--verify", "--local", copy,
            ctx.hp(srv.port), name]
    rc, out, err, secs = ctx.run(argv, timeout=90)
    try:
        o = json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise Fail("bench printed no JSON (exit %d): %r %s" % (
            rc, out[-200:], err[-200:]))
    check(rc == 0 and o["ok"] == 50 and o["verify_errors"] == 0,
          "bench exit %d: ok %d, failed %d, verify_errors %d; stderr %s; "
          "server: %s" % (rc, o["ok"], o["failed"], o["verify_errors"],
                          err.strip()[-200:], srv.tail(3)))
    return o, secs


@case("concurrent_50_one_get", heavy=True, limit=90)
def _(ctx):
    n = nginx(ctx, {"big.bin": 4 * MIB})
    cache = ctx.tmpdir("cache")
    srv = serve(ctx, n.url(), "--cache", cache, *ROOMY)
    o, secs = bench50(ctx, srv, "big.bin", os.path.join(n.root, "big.bin"))
    c = n.wait_count(1, "GET", "/big.bin")
    info(ctx, "50 gets in %.2f s; origin lines: %d miss, %d shared, %d hit"
         % (secs, len(origin_lines(srv, "miss")),
            len(origin_lines(srv, "shared")), len(origin_lines(srv, "hit"))))
    check(c == 1, "nginx logged %d GETs of /big.bin for 50 RRQs with "
          "--cache, expected 1: %s" % (c, [(e["status"], e["bytes"])
                                           for e in n.entries()]))


@case("concurrent_50_shared_fetch", heavy=True, limit=90)
def _(ctx):
    o = dyn(ctx)
    body = os.urandom(4 * MIB)
    ev = threading.Event()
    o.route("big.bin", body=body, trickle=(16 * KIB, 0.05), until=ev)
    copy = write_bytes(os.path.join(ctx.tmpdir("loc"), "big.bin"), body)
    cache = ctx.tmpdir("cache")
    srv = serve(ctx, o.url(), "--cache", cache, *ROOMY)
    res = {}

    def run():
        try:
            res["o"] = bench50(ctx, srv, "big.bin", copy)
        except Exception as e:
            res["e"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    # the origin keeps the tail until the server has all 50 requests
    end = time.monotonic() + 20
    started = 0
    while time.monotonic() < end:
        started = srv.count(lambda l: '"big.bin"' in l and " start" in l)
        if started >= 50 or not t.is_alive():
            break
        time.sleep(0.05)
    sent = sum(r.sent for r in o.reqs("GET", "big.bin"))
    ev.set()
    t.join(90)
    check(not t.is_alive(), "bench did not end")
    if "e" in res:
        raise res["e"]
    check(started >= 50, "the server logged %d starts of big.bin" %
          started)
    rs = o.reqs("GET", "big.bin")
    info(ctx, "50 RRQs started while the origin had sent %d of %d bytes; "
         "origin lines: %d miss, %d shared, %d hit" % (
             sent, len(body), len(origin_lines(srv, "miss")),
             len(origin_lines(srv, "shared")),
             len(origin_lines(srv, "hit"))))
    check(len(rs) == 1, "%d GETs reached the origin for 50 concurrent "
          "RRQs of one name with --cache, expected 1" % len(rs))
    check(wait_cached(cache, ["big.bin"]) == ["big.bin"], "cache holds %s"
          % cached_names(cache))


# ============================================================ dynamic


def check_headers(ctx, r, client, name, options):
    check(r.h("x-tftp-client") == client, "X-TFTP-Client %r, expected %r" %
          (r.h("x-tftp-client"), client))
    check(r.h("x-tftp-file") == name, "X-TFTP-File %r, expected %r" %
          (r.h("x-tftp-file"), name))
    check(r.h("x-tftp-options") == options, "X-TFTP-Options %r, expected "
          "%r" % (r.h("x-tftp-options"), options))
    ua = "tftpx/" + version()
    check(r.h("user-agent") == ua, "User-Agent %r, expected %r" % (
        r.h("user-agent"), ua))


@case("libcurl_loaded_only_with_origin")
def _(ctx):
    # a plain serve maps neither libcurl nor what it pulls in (src/dynlib.c:
    # 6 MiB of resident pages); --origin loads it at start
    root = empty_dir(ctx)
    plain = Server(ctx, root, [])
    check(heavy_libs(plain.pid) == [], "a plain serve maps %s" %
          heavy_libs(plain.pid))
    n = nginx(ctx, {"f.bin": 3000})
    srv = serve(ctx, n.url(), root=root)
    libs = mapped_libs(srv.pid)
    check(any(n.startswith("libcurl.so.4") for n in libs),
          "--origin, yet no libcurl.so.4 mapped: %s" % sorted(libs))
    tget_file(ctx, srv, "f.bin", os.path.join(n.root, "f.bin"))


@case("dynamic_per_client")
def _(ctx):
    o = dyn(ctx)
    o.route("dyn.cfg", per_client=True)
    cache = ctx.tmpdir("cache")
    srv = serve(ctx, o.url(), "--cache", cache)
    p1, p2 = ctx.peer(), ctx.peer()
    c1, c2 = "127.0.0.1:%d" % p1.port, "127.0.0.1:%d" % p2.port
    g1 = rrq_ok(ctx, srv, "dyn.cfg", opts=[("blksize", "1468"),
                                           ("tsize", "0")], peer=p1)
    g2 = rrq_ok(ctx, srv, "dyn.cfg", peer=p2)
    check(g1.data == client_body(c1), "client %s got %r..., not its own "
          "body" % (c1, g1.data[:40]))
    check(g2.data == client_body(c2), "client %s got %r..., not its own "
          "body" % (c2, g2.data[:40]))
    check(tsize_of(g1) == str(len(g1.data)), "OACK %s: tsize is not the "
          "Content-Length %d" % (g1.oack, len(g1.data)))
    rs = o.reqs("GET", "dyn.cfg")
    check(len(rs) == 2, "%d GETs at the origin for two clients, expected "
          "2" % len(rs))
    check_headers(ctx, rs[0], c1, "dyn.cfg", "blksize=1468 tsize=0")
    check_headers(ctx, rs[1], c2, "dyn.cfg", "")
    # a third get from p1 is rendered again, not served from a cache
    g3 = rrq_ok(ctx, srv, "dyn.cfg", peer=p1)
    check(g3.data == client_body(c1), "p1's second get: not its body")
    check(len(o.reqs("GET", "dyn.cfg")) == 3, "the private answer was "
          "served from the cache (no third GET)")
    check(cached_names(cache) == [], "cache holds %s for a private, "
          "Vary'd answer" % cached_names(cache))


@case("dynamic_v4_and_v6", fams=(6,))
def _(ctx):
    o = dyn(ctx, host="::1")
    o.route("dyn.cfg", per_client=True)
    srv = serve(ctx, o.url(), "--cache", ctx.tmpdir("cache"),
                listens=["127.0.0.1:0", "[::1]:0"])
    p6 = ctx.peer()
    s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    p4 = Peer(ctx, host="127.0.0.1", sock=s4, bind=("127.0.0.1", 0))
    g4 = rrq_ok(ctx, srv, "dyn.cfg", peer=p4, port=srv.ports[0],
                opts=[("tsize", "0")])
    g6 = rrq_ok(ctx, srv, "dyn.cfg", peer=p6, port=srv.ports[1],
                opts=[("tsize", "0")])
    c4, c6 = "127.0.0.1:%d" % p4.port, "[::1]:%d" % p6.port
    check(g4.data == client_body(c4), "v4 client got %r..." % g4.data[:40])
    check(g6.data == client_body(c6), "v6 client got %r..." % g6.data[:40])
    check(g4.data != g6.data, "both clients got the same bytes")
    rs = o.reqs("GET", "dyn.cfg")
    check(len(rs) == 2, "%d GETs at the origin" % len(rs))
    check_headers(ctx, rs[0], c4, "dyn.cfg", "tsize=0")
    check_headers(ctx, rs[1], c6, "dyn.cfg", "tsize=0")


@case("dynamic_private_not_shared")
def _(ctx):
    o = dyn(ctx)
    ev = threading.Event()
    o.route("p.cfg", per_client=True, trickle=(128, 0.05), until=ev)
    srv = serve(ctx, o.url(), "--cache", ctx.tmpdir("cache"))
    peers = [ctx.peer(), ctx.peer()]
    res = [None, None]

    def get(i):
        try:
            res[i] = rrq(ctx, srv, "p.cfg", peer=peers[i], wait=10)
        except Exception as e:
            res[i] = e
    ts = [threading.Thread(target=get, args=(i,), daemon=True)
          for i in range(2)]
    for t in ts:
        t.start()
    # both requests in while the first answer is still coming (or 3 s)
    o.wait_req(lambda r: r.path == "/p.cfg", n=2, timeout=3)
    ev.set()
    for t in ts:
        t.join(30)
    for i, p in enumerate(peers):
        g = res[i]
        if isinstance(g, Exception):
            raise g
        check(g is not None and g.error is None, "client %d: %s" % (i, g))
        c = "127.0.0.1:%d" % p.port
        check(g.data == client_body(c), "client %s got %r..., not its own "
              "bytes (a private answer shared?)" % (c, g.data[:40]))
    check(len(o.reqs("GET", "p.cfg")) == 2, "%d GETs for two concurrent "
          "clients of a private answer" % len(o.reqs("GET", "p.cfg")))


# ============================================================ names


def norm_hex(s):
    return re.sub(r"%[0-9a-fA-F]{2}", lambda m: m.group(0).upper(), s)


URL_OK = re.compile(r"^(?:[A-Za-z0-9\-._~/]|%[0-9A-Fa-f]{2})*$")


@case("names_percent_encoded")
def _(ctx):
    name = "d/a b%+\u00e9~.bin".encode()
    o = dyn(ctx)
    o.route(name.decode("utf-8"), body=b"odd name\n")
    srv = serve(ctx, o.url())
    g = rrq_ok(ctx, srv, name)
    check(g.data == b"odd name\n", "got %r" % g.data)
    r = o.reqs("GET")[-1]
    want_path = "/d/a%20b%25%2B%C3%A9~.bin"
    check(norm_hex(r.raw) == want_path, "URL path %r, expected %r" % (
        r.raw, want_path))
    want_file = "d/a b%25+%C3%A9~.bin"
    check(norm_hex(r.h("x-tftp-file") or "") == want_file, "X-TFTP-File "
          "%r, expected %r" % (r.h("x-tftp-file"), want_file))
    # CR LF in a name: no header of its own at the origin
    inj = b"inj\r\nX-Evil: 1"
    g = rrq(ctx, srv, inj)
    r = o.reqs("GET")[-1]
    check(r.h("x-evil") is None, "a name with CR LF added a header at the "
          "origin: %r" % r.headers)
    check(URL_OK.match(r.raw) and urllib.parse.unquote_to_bytes(r.raw) ==
          b"/" + inj, "URL path %r for %r" % (r.raw, inj))
    f = r.h("x-tftp-file") or ""
    check(norm_hex(f) == "inj%0D%0AX-Evil: 1", "X-TFTP-File %r for %r" %
          (f, inj))
    check(g.error == (1, "file not found") or (g.error and g.error[0] == 1),
          "a name the origin lacks: %s" % g)
    # nginx decodes the URL back to the file
    n = nginx(ctx, {name.decode(): b"from nginx\n"})
    srv2 = serve(ctx, n.url())
    g = rrq_ok(ctx, srv2, name)
    check(g.data == b"from nginx\n", "nginx's file with the odd name: got "
          "%r; nginx log %s" % (g.data, n.access_lines()))


@case("map_prefix_leading_slash")
def _(ctx):
    n = nginx(ctx, {"tftp/real.bin": 2000})
    want = read_bytes(os.path.join(n.root, "tftp/real.bin"))
    mapfile = write_bytes(os.path.join(ctx.tmpdir("map"), "map"),
                          b"r ^alias\\.bin$ real.bin\n")
    srv = serve(ctx, n.url() + "/tftp", "--map", mapfile)
    got = tget_ok(ctx, srv, "alias.bin")
    check(got == want, "alias.bin: not real.bin's bytes")
    n.wait_count(1, "GET")
    es = n.entries("GET")
    check([e["uri"] for e in es] == ["/tftp/real.bin"], "nginx was asked "
          "for %s, expected /tftp/real.bin" % [e["uri"] for e in es])
    check(es[0]["file"] == "alias.bin", "X-TFTP-File %r, expected the name "
          "as asked, alias.bin" % es[0]["file"])
    got = tget_ok(ctx, srv, "/real.bin")
    check(got == want, "/real.bin: bytes differ")
    n.wait_count(2, "GET")
    es = n.entries("GET")
    check([e["uri"] for e in es] == ["/tftp/real.bin"] * 2, "a leading / "
          "was not dropped: nginx was asked for %s" % [e["uri"] for e in es])


# ============================================================ cache policy


@case("cache_control_and_vary")
def _(ctx):
    o = dyn(ctx)
    kinds = {
        "nostore.bin": [("Cache-Control", "no-store")],
        "private.bin": [("Cache-Control", "private")],
        "vary.bin": [("Vary", "X-Other")],
        "ae.bin": [("Vary", "Accept-Encoding")],
        "plain.bin": [],
    }
    bodies = {}
    for nm, hdrs in kinds.items():
        bodies[nm] = os.urandom(700)
        o.route(nm, body=bodies[nm], headers=hdrs)
    cache = ctx.tmpdir("cache")
    srv = serve(ctx, o.url(), "--cache", cache)
    for _ in range(2):
        for nm in kinds:
            check(tget_ok(ctx, srv, nm) == bodies[nm], "%s: bytes differ" %
                  nm)
    counts = {nm: len(o.reqs("GET", nm)) for nm in kinds}
    want = {"nostore.bin": 2, "private.bin": 2, "vary.bin": 2,
            "ae.bin": 1, "plain.bin": 1}
    check(counts == want, "GETs per name for two gets each: %s, expected "
          "%s" % (counts, want))
    names = wait_cached(cache, ["ae.bin", "plain.bin"])
    check(names == ["ae.bin", "plain.bin"], "the cache holds %s, expected "
          "ae.bin and plain.bin only" % names)


@case("no_content_length_no_tsize")
def _(ctx):
    o = dyn(ctx)
    body = os.urandom(64 * KIB)
    evs = [threading.Event(), threading.Event()]
    for i, ev in enumerate(evs):
        o.route("c%d.bin" % i, body=body, chunked=True,
                trickle=(8 * KIB, 0.02), until=ev)
    srv = serve(ctx, o.url())
    seen = {}

    def at_first(g):
        seen["released"] = evs[0].is_set()
        evs[0].set()
    # the size is not known while the origin holds the tail
    g = rrq(ctx, srv, "c0.bin", opts=[("tsize", "0"), ("blksize", "1468")],
            on_data=at_first, limit=20)
    evs[0].set()
    check(g.error is None, "RRQ: %s" % g)
    check(g.oack is not None and "tsize" not in g.oack and
          g.oack.get("blksize") == "1468", "chunked answer: OACK %s, "
          "expected blksize 1468 and no tsize" % g.oack)
    check(seen.get("released") is False, "DATA 1 of a chunked answer came "
          "only after the origin had sent it all")
    check(g.data == body, "chunked answer: %d bytes, bytes differ" %
          len(g.data))
    # only tsize asked: nothing to acknowledge, DATA 1 at once
    g = rrq(ctx, srv, "c1.bin", opts=[("tsize", "0")],
            on_data=lambda g: evs[1].set(), limit=20)
    evs[1].set()
    check(g.error is None and g.data == body, "RRQ c1.bin: %s" % g)
    check(op_of(g.first) == DATA, "only tsize asked of a chunked answer: "
          "first reply %s, expected DATA 1" % describe(g.first))
    # a chunked answer that is whole before the server answers: a tsize,
    # if there is one, is its size
    small = os.urandom(5000)
    o.route("w.bin", body=small, chunked=True)
    g = rrq_ok(ctx, srv, "w.bin", opts=[("tsize", "0")])
    check(g.data == small and tsize_of(g) in (None, "5000"), "a short "
          "chunked answer: %s" % g)
    info(ctx, "a short chunked answer, whole at once: tsize %s" %
         tsize_of(g))


@case("streams_before_origin_done")
def _(ctx):
    o = dyn(ctx)
    body = os.urandom(256 * KIB)
    ev = threading.Event()
    o.route("s.bin", body=body, trickle=(32 * KIB, 0.02), until=ev)
    srv = serve(ctx, o.url())
    seen = {}

    def at_first(g):
        rs = o.reqs("GET", "s.bin")
        seen["released"] = ev.is_set()
        seen["sent"] = rs[0].sent if rs else None
        ev.set()
    # released after the first DATA; without one the origin holds the
    # tail, and the RRQ waits 5 s for a first reply
    g = rrq(ctx, srv, "s.bin", opts=[("blksize", "1468")], wait=5.0,
            on_data=at_first, limit=20)
    ev.set()
    check(g.error is None, "RRQ: %s" % g)
    check(seen.get("released") is False and seen.get("sent") is not None
          and seen["sent"] < len(body), "DATA 1 came only after the "
          "origin had sent everything (%s)" % seen)
    check(g.data == body, "bytes differ (%d of %d)" % (len(g.data),
                                                       len(body)))
    info(ctx, "DATA 1 arrived when the origin had sent %d of %d bytes" %
         (seen["sent"], len(body)))


@case("slow_origin_within_giveup", limit=40)
def _(ctx):
    o = dyn(ctx)
    body = os.urandom(12 * KIB)
    o.route("slow.bin", body=body, trickle=(2 * KIB, 0.5))
    srv = serve(ctx, o.url(), "--timeout", "1", "--retries", "1")
    t0 = time.monotonic()
    got = tget_ok(ctx, srv, "slow.bin")
    secs = time.monotonic() - t0
    check(got == body, "bytes differ")
    srv.expect_ok("RRQ", "slow.bin")
    info(ctx, "a 6-piece trickle (0.5 s gaps) took %.1f s against a "
         "give-up time of 2 s" % secs)


@case("redirects_5_ok_6_fail")
def _(ctx):
    o = dyn(ctx)
    body = os.urandom(900)
    o.route("final.bin", body=body)
    for chain, hops in (("r", 5), ("s", 6)):
        for i in range(hops):
            nxt = "/%s%d.bin" % (chain, i + 1) if i + 1 < hops else \
                "/final.bin"
            o.route("%s%d.bin" % (chain, i), redirect=(302, nxt))
    srv = serve(ctx, o.url())
    g = rrq_ok(ctx, srv, "r0.bin")
    check(g.data == body, "after 5 redirects: bytes differ")
    g = rrq(ctx, srv, "s0.bin")
    check(g.error is not None and g.error[0] == 0, "6 redirects: %s, "
          "expected ERROR 0" % g)
    origin_says(srv, o.url() + "/s0.bin")
    check(len(o.reqs("GET", "final.bin")) == 1, "final.bin was fetched "
          "%d times (once, through 5 redirects)" %
          len(o.reqs("GET", "final.bin")))


def make_certs(ctx, d, san):
    """A private CA and a server certificate for san (e.g.
    "IP:127.0.0.1") signed by it: (ca.pem, cert, key)."""
    if not shutil.which("openssl"):
        raise Skip("openssl not installed")

    def run(*argv):
        rc, out, err, _ = ctx.run(["openssl"] + list(argv), timeout=30,
                                  cwd=d)
        check(rc == 0, "openssl %s: %s" % (argv[0], err.strip()[-200:]))
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
          "-nodes"]
    if not os.path.exists(os.path.join(d, "ca.pem")):
        run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "2", "-subj", "/CN=tftpx test CA")
    tag = re.sub(r"[^a-z0-9]", "", san.lower())
    write_bytes(os.path.join(d, tag + ".ext"),
                ("subjectAltName=%s\nbasicConstraints=CA:FALSE\n" %
                 san).encode())
    run("req", *ec, "-keyout", tag + ".key", "-out", tag + ".csr", "-subj",
        "/CN=origin")
    run("x509", "-req", "-in", tag + ".csr", "-CA", "ca.pem", "-CAkey",
        "ca.key", "-CAcreateserial", "-out", tag + ".pem", "-days", "2",
        "-extfile", tag + ".ext")
    return (os.path.join(d, "ca.pem"), os.path.join(d, tag + ".pem"),
            os.path.join(d, tag + ".key"))


@case("tls_private_ca", limit=40)
def _(ctx):
    d = ctx.tmpdir("pki")
    ca, cert, key = make_certs(ctx, d, "IP:127.0.0.1")
    _, wcert, wkey = make_certs(ctx, d, "DNS:other.example")
    files = {"t.bin": 3000}
    n = nginx(ctx, files, tls=(cert, key))
    want = read_bytes(os.path.join(n.root, "t.bin"))
    url = n.url()
    check(url.startswith("https://"), "nginx url %s" % url)
    srv = serve(ctx, url, "--origin-ca", ca)
    g = rrq_ok(ctx, srv, "t.bin", opts=[("tsize", "0")])
    check(g.data == want and tsize_of(g) == "3000", "over TLS with "
          "--origin-ca: %s" % g)
    # without the CA: the certificate is not trusted
    srv2 = serve(ctx, url)
    g = rrq(ctx, srv2, "t.bin")
    check(g.error is not None and g.error[0] == 0, "TLS without "
          "--origin-ca: %s, expected ERROR 0" % g)
    origin_says(srv2, url + "/t.bin")
    # the CA given, a certificate for another name
    w = nginx(ctx, files, tls=(wcert, wkey))
    srv3 = serve(ctx, w.url(), "--origin-ca", ca)
    g = rrq(ctx, srv3, "t.bin")
    check(g.error is not None and g.error[0] == 0, "a certificate for "
          "other.example at 127.0.0.1: %s, expected ERROR 0" % g)
    origin_says(srv3, w.url() + "/t.bin")
    check(n.wait_count(1, "GET", "/t.bin") == 1 and w.count("GET") == 0,
          "GETs reached nginx through an untrusted TLS session: %s %s" %
          (n.access_lines(), w.access_lines()))


@case("cache_lru_eviction", limit=40)
def _(ctx):
    n = nginx(ctx, {"a.bin": 400 * KIB, "b.bin": 400 * KIB,
                    "c.bin": 400 * KIB})
    cache = ctx.tmpdir("cache")
    srv = serve(ctx, n.url(), "--cache", cache, "--cache-max", "1M")
    want = {x: read_bytes(os.path.join(n.root, x))
            for x in ("a.bin", "b.bin", "c.bin")}

    def get(x):
        check(tget_ok(ctx, srv, x) == want[x], "%s: bytes differ" % x)
    get("a.bin")
    get("b.bin")
    wait_cached(cache, ["a.bin", "b.bin"])
    get("a.bin")                        # a is now more recent than b
    check(n.count("GET", "/a.bin") == 1, "a.bin fetched again while cached")
    get("c.bin")                        # 1200 KiB > 1M: b goes
    names = wait_cached(cache, ["a.bin", "c.bin"])
    check(names == ["a.bin", "c.bin"], "after a, b, a, c with --cache-max "
          "1M the cache holds %s, expected a.bin and c.bin (b.bin least "
          "recently used)" % names)
    get("a.bin")
    check(n.count("GET", "/a.bin") == 1, "a.bin was evicted instead of b")
    get("b.bin")
    check(n.wait_count(2, "GET", "/b.bin") == 2, "b.bin was not fetched again "
          "after its eviction")


# ============================================================ errors

GOOD = 512 * KIB
# how long a stalled origin hangs: three times the give-up time of
# --timeout 1 --retries 1, so that "the server gave up while the origin
# still hung" means it gave up after about the give-up time, not after
# some other, longer bound (a generous margin, not a measurement)
STALL = 6.0

# kind: (route keywords, ERROR code, text in it, text in the stderr line)
FAILS = {
    "404": (dict(status=404), 1, None, "404"),
    "403": (dict(status=403), 2, None, "403"),
    "500": (dict(status=500), 0, "HTTP 500", "HTTP 500"),
    "stall_headers": (dict(stall="headers", stall_secs=STALL), 0,
                      "timed out", "timed out"),
    "stall_body": (dict(stall=100 * KIB, stall_secs=STALL), 0, "timed out",
                   "timed out"),
    "reset": (dict(reset=100 * KIB), 0, None, None),
}


@param_case("error", (4,), [(k, k) for k in FAILS], limit=45)
def _(ctx, kind):
    kw, code, text, says = FAILS[kind]
    o = dyn(ctx)
    body = os.urandom(200 * KIB)
    o.route("bad.bin", body=body, **kw)
    good = os.urandom(GOOD)
    ev = threading.Event()
    o.route("good.bin", body=good, trickle=(1024, 0.1), until=ev)
    cache = ctx.tmpdir("cache")
    srv = serve(ctx, o.url(), "--cache", cache, "--timeout", "1",
                "--retries", "1", verbose=False)
    res = {}

    def good_get():
        try:
            res["r"] = tget(ctx, srv, "good.bin", timeout=60)
        except Exception as e:
            res["e"] = e
    t = threading.Thread(target=good_get, daemon=True)
    t.start()
    try:
        rs = o.wait_req(lambda r: r.path == "/good.bin" and r.sent > 0,
                        timeout=10)
        check(rs, "the good transfer did not start at the origin; "
              "server: %s" % srv.tail())
        t0 = time.monotonic()
        g = rrq(ctx, srv, "bad.bin", opts=[("blksize", "1468")], wait=15,
                limit=30)
        secs = time.monotonic() - t0
        bad_req = o.reqs("GET", "bad.bin")
        hung = [r.what for r in bad_req]
        check(g.error is not None, "%s: the RRQ ended without an ERROR: %s"
              % (kind, g))
        if kind.startswith("stall"):
            check(hung and hung[0] == "open", "%s: the origin let go after "
                  "hanging %.0f s (%s) before the server gave up (give-up "
                  "time 2 s); the client got ERROR %r after %.1f s" % (
                      kind, STALL, hung, g.error, secs))
            info(ctx, "ERROR %r after %.1f s (give-up 2 s), %d bytes "
                 "before it" % (g.error, secs, len(g.data)))
        check(g.error[0] == code, "%s: ERROR %r, expected code %d" % (
            kind, g.error, code))
        if text:
            check(text in g.error[1], "%s: ERROR text %r lacks %r" % (
                kind, g.error[1], text))
        check(body.startswith(g.data), "%s: the %d bytes served before the "
              "ERROR are not the origin's" % (kind, len(g.data)))
        l = origin_says(srv, o.url() + "/bad.bin", says)
        info(ctx, "stderr: %s" % l)
        data, orphans, other = cache_view(cache)
        check(not data and not orphans, "%s: the cache holds %s %s after "
              "the failure (good.bin not finished yet)" % (
                  kind, data, orphans))
        check(srv.p.poll() is None, "the server exited: %s" % srv.tail())
    finally:
        ev.set()
        t.join(60)
    check(not t.is_alive(), "the good get did not end")
    if "e" in res:
        raise res["e"]
    rc, got, err = res["r"]
    check(rc == 0 and got == good, "the good transfer during the %s "
          "failure: exit %d, %s; %s" % (kind, rc, err[-200:], srv.tail(3)))
    names = wait_cached(cache, ["good.bin"])
    check(names == ["good.bin"], "%s: the cache holds %s, expected "
          "good.bin only (files %s)" % (kind, names, os.listdir(cache)))
    l = end_line(srv, "bad.bin")
    check(l is not None and outcome(l) == "error %d" % code, "server line "
          "for bad.bin: %r" % l)


# ============================================================ DIR and names


@case("dir_wins_over_origin")
def _(ctx):
    a, b, c = b"local x\n" * 100, b"origin x\n" * 100, b"origin y\n" * 100
    n = nginx(ctx, {"x.bin": b, "y.bin": c})
    root = root_with(ctx, {"x.bin": a})
    os.chmod(root, 0o755)
    srv = serve(ctx, n.url(), root=root)
    check(tget_ok(ctx, srv, "x.bin") == a, "x.bin is not DIR's")
    check(tget_ok(ctx, srv, "y.bin") == c, "y.bin is not nginx's")
    check(n.count("GET", "/x.bin") == 0, "x.bin, in DIR, was fetched from "
          "nginx too")
    check(n.wait_count(1, "GET", "/y.bin") == 1, "y.bin: %d GETs" %
          n.count("GET", "/y.bin"))
    # no DIR: the server's cwd is not served, every RRQ is the origin's
    srv2 = serve(ctx, n.url(), cwd=root)
    check(tget_ok(ctx, srv2, "x.bin") == b, "without DIR x.bin came from "
          "the server's cwd, not the origin")
    check(n.wait_count(1, "GET", "/x.bin") == 1, "without DIR: %d GETs of x.bin"
          % n.count("GET", "/x.bin"))


DOTTED = ["../x.bin", "a/../x.bin", "./x.bin", "a/./x.bin", "a/..", "a/.",
          "..", ".", "/../x.bin", "a/b/../../../x.bin"]


@case("dotdot_refused")
def _(ctx):
    o = dyn(ctx)
    o.route("a..b.bin", body=b"dots inside a name\n")
    o.route("x.bin", body=b"x\n")
    srv = serve(ctx, o.url())
    srv2 = serve(ctx, o.url(), root=empty_dir(ctx))
    for s in (srv, srv2):
        for nm in DOTTED:
            g = rrq(ctx, s, nm)
            check(g.error is not None and g.error[0] == 2, "%r (%s DIR): "
                  "%s, expected ERROR 2" % (nm, "with" if s is srv2 else
                                            "no", g))
    check(o.reqs() == [], "names with . or .. reached the origin: %s" %
          o.reqs())
    g = rrq_ok(ctx, srv, "a..b.bin")
    check(g.data == b"dots inside a name\n", "a..b.bin: %s" % g)
    check([r.raw for r in o.reqs()] == ["/a..b.bin"], "the origin saw %s"
          % o.reqs())


# ============================================================ uploads


def bb_put(ctx, srv, local, remote):
    return busybox(ctx, ["-p", "-l", local, "-r", remote, "127.0.0.1",
                         str(srv.port)], os.path.dirname(local))


@case("upload_busybox_to_nginx", limit=40)
def _(ctx):
    n = nginx(ctx, dav=True)
    root = empty_dir(ctx)
    srv = serve(ctx, n.url(), "--upload", "--origin-upload", root=root)
    loc = ctx.tmpdir("loc")
    for size, remote in ((513, "up/a.bin"), (MIB, "up/b.bin")):
        src = write_random(os.path.join(loc, os.path.basename(remote)), size)
        rc, err = bb_put(ctx, srv, src, remote)
        check(rc == 0, "busybox put %s exited %d: %s; server: %s" % (
            remote, rc, err[-200:], srv.tail(3)))
        srv.expect_ok("WRQ", remote)
        bad = same_file(src, os.path.join(n.root, remote))
        check(bad is None, "%s at nginx: %s; nginx: %s" % (
            remote, bad, n.entries("PUT")))
        check(not os.path.exists(os.path.join(root, remote)),
              "%s landed in DIR too" % remote)
        # nginx logs a request after its answer has gone: wait for it
        n.wait_count(1, "PUT", "/" + remote)
        es = n.entries("PUT", "/" + remote)
        check(len(es) == 1 and es[0]["status"] in ("201", "204"),
              "nginx PUT entries for %s: %s" % (remote, es))
        check(es[0]["client"].startswith("127.0.0.1:") and
              es[0]["file"] == remote, "the PUT's X-TFTP-Client %r, "
              "X-TFTP-File %r" % (es[0]["client"], es[0]["file"]))
    check(not temps_in(root), "temp files left in DIR: %s" % temps_in(root))


def raw_put(ctx, srv, name, content, opts=(), peer=None, before_last=None):
    """A lock-step WRQ: (the reply to the last DATA or None, the peer).
    before_last(peer, tid) runs after the last DATA is sent and before its
    answer is read."""
    peer = peer or ctx.peer()
    peer.send(pkt_wrq(name, "octet", opts), srv.port)
    pkt, tid = peer.expect(3.0, "reply to WRQ %r" % name)
    blk = 512
    if op_of(pkt) == OACK:
        blk = int(dict(oack_opts(pkt)).get("blksize", 512))
    elif not (op_of(pkt) == ACK and blk_of(pkt) == 0):
        return pkt, peer
    n, off = 0, 0
    for _ in range(len(content) // blk + 2):
        chunk = content[off:off + blk]
        off += len(chunk)
        n += 1
        last = len(chunk) < blk
        peer.send(pkt_data(n, chunk), tid)
        if last and before_last:
            before_last(peer, tid)
        end = time.monotonic() + 10
        reply = None
        while time.monotonic() < end:
            p, src = peer.recv(end - time.monotonic())
            if p is None:
                break
            if src != tid:
                continue
            if op_of(p) == ERROR or (op_of(p) == ACK and blk_of(p) == n):
                reply = p
                break
        if reply is None:
            raise Fail("no answer to DATA %d of %r" % (n, name))
        if op_of(reply) == ERROR or last:
            return reply, peer
    raise Fail("WRQ %r: too many blocks" % name)


@case("upload_final_ack_after_2xx", limit=40)
def _(ctx):
    o = dyn(ctx)
    hold = threading.Event()
    o.route("u.bin", put_hold=hold)
    root = empty_dir(ctx)
    srv = serve(ctx, o.url(), "--upload", "--origin-upload", root=root)
    content = os.urandom(3000)
    seen = {}

    def before_last(peer, tid):
        rs = o.wait_req(lambda r: r.method == "PUT" and r.body is not None,
                        timeout=10)
        seen["put"] = bool(rs)
        # the origin holds its answer: nothing may come yet
        early = peer.drain(0.5)
        seen["early"] = [describe(p) for p, port, _ in early if port == tid]
        hold.set()
    reply, peer = raw_put(ctx, srv, "u.bin", content,
                          opts=[("blksize", "1468"), ("tsize", "3000")],
                          before_last=before_last)
    hold.set()
    check(seen.get("put"), "no PUT reached the origin after the last DATA;"
          " server: %s" % srv.tail())
    check(not seen["early"], "while the origin had not answered the PUT "
          "the client got %s" % seen["early"])
    check(op_of(reply) == ACK and blk_of(reply) == 3, "after the origin's "
          "201: %s, expected the final ACK 3" % describe(reply))
    check(o.stored.get("/u.bin") == content, "the origin stored %s" %
          ({k: len(v) for k, v in o.stored.items()}))
    r = o.reqs("PUT", "u.bin")[0]
    check_headers(ctx, r, "127.0.0.1:%d" % peer.port, "u.bin",
                  "blksize=1468 tsize=3000")
    check(not os.path.exists(os.path.join(root, "u.bin")), "u.bin landed "
          "in DIR too")


def upload_refused(ctx, remote, url, code, text):
    root = empty_dir(ctx)
    srv = serve(ctx, url, "--upload", "--origin-upload", root=root)
    loc = ctx.tmpdir("loc")
    src = write_random(os.path.join(loc, "r.bin"), 3000)
    reply, _ = raw_put(ctx, srv, remote + ".raw", read_bytes(src))
    check(op_of(reply) == ERROR, "a refused PUT: the client got %s, "
          "expected ERROR %d" % (describe(reply), code))
    c, msg = err_of(reply)
    check(c == code and (text is None or text in msg), "a refused PUT: "
          "ERROR %d %r, expected %d%s" % (c, msg, code, " with %r" % text
                                          if text else ""))
    rc, err = bb_put(ctx, srv, src, remote)
    check(rc != 0, "busybox put succeeded though the origin refused: %r" %
          err)
    check("server error: (%d)" % code in err, "busybox did not report "
          "ERROR %d: %r" % (code, err))
    info(ctx, "busybox: %s" % " | ".join(l for l in err.splitlines()
                                         if "ETA" not in l))
    rc, _, terr, _ = ctx.tftpx("put", "-q", ctx.hp(srv.port), src,
                               remote + ".tftpx", timeout=30)
    check(rc != 0, "tftpx put exited 0 though the origin refused: %r" %
          terr.strip())
    check(not os.path.exists(os.path.join(root, remote)) and
          not os.listdir(root), "DIR holds %s" % os.listdir(root))
    l = end_line(srv, remote, "WRQ")
    check(l is not None and outcome(l) == "error %d" % code, "server line: "
          "%r" % l)
    return srv


@case("upload_refused_403")
def _(ctx):
    n = nginx(ctx, dav=True)
    upload_refused(ctx, "denied/x.bin", n.url(), 2, None)
    check(not os.path.exists(os.path.join(n.root, "denied")), "the file "
          "is at nginx: %s" % os.listdir(n.root))
    es = n.entries("PUT")
    check(len(es) == 3 and all(e["status"] == "403" for e in es),
          "nginx PUTs: %s" % es)


@case("upload_refused_500")
def _(ctx):
    o = dyn(ctx)
    for sfx in ("", ".raw", ".tftpx"):
        o.route("x.bin" + sfx, put_status=500)
    upload_refused(ctx, "x.bin", o.url(), 0, "HTTP 500")
    check(not o.stored, "the origin stored %s" % list(o.stored))
    check(len(o.reqs("PUT")) == 3, "PUTs at the origin: %s" % o.reqs())


@case("upload_local_without_origin_upload")
def _(ctx):
    o = dyn(ctx)
    root = empty_dir(ctx)
    srv = serve(ctx, o.url(), "--upload", root=root)
    loc = ctx.tmpdir("loc")
    src = write_random(os.path.join(loc, "l.bin"), 5000)
    rc, err = bb_put(ctx, srv, src, "l.bin")
    check(rc == 0, "busybox put exited %d: %s" % (rc, err))
    srv.expect_ok("WRQ", "l.bin")
    bad = same_file(src, os.path.join(root, "l.bin"))
    check(bad is None, "DIR/l.bin: %s" % bad)
    check(o.reqs() == [], "the origin got %s" % o.reqs())


# ============================================================ boot loaders

UBOOT_ARCH, UBOOT_NIC = "arm64", "virtio-net-pci"


@case("uboot_from_origin", heavy=True, limit=120)
def _(ctx):
    sys.path.insert(0, os.path.join(TESTS, "interop"))
    import uboot
    import netns
    why = uboot.env_skip() or uboot.precheck(UBOOT_ARCH)
    if why:
        raise Skip(why)
    need_origin()
    s = netns.for_case(ctx, "tftpx-or-", "s", ("ip",))
    s.tap("tap0", "10.80.0.1/24")
    data = os.urandom(MIB)
    n = nginx(ctx, {uboot.FILENAME: data}, ns=s, port=8080)
    root = empty_dir(ctx)
    argv = s.argv([TFTPX, "serve", "--allow-root", "-v", "-l",
                   "10.80.0.1:69", "--origin", n.url(), "--cache",
                   ctx.tmpdir("cache"), root])
    srv = Server(ctx, root, argv=argv, ready="listening")
    tap = uboot.Tap(s.argv([]), "tap0", ipaddr="10.80.0.2",
                    gatewayip="10.80.0.1", serverip="10.80.0.1")
    args = argparse.Namespace(transfer_timeout=40.0, logdir=None)
    try:
        uboot.run_case(ctx.name, UBOOT_ARCH, UBOOT_NIC, 1468, None, root,
                       len(data), zlib.crc32(data), args,
                       ctx.tmpdir("uboot"), tap=tap)
    except Fail as e:
        raise Fail("%s; server: %s; nginx: %s" % (e, srv.tail(3),
                                                 n.access_lines()))
    srv.expect_ok("RRQ", uboot.FILENAME)
    check(n.count("GET", "/" + uboot.FILENAME) == 1, "nginx GETs: %s" %
          n.access_lines())


@case("ipxe_from_origin", heavy=True, limit=150)
def _(ctx):
    sys.path.insert(0, os.path.join(TESTS, "interop"))
    import clients          # registers its cases in CASES: not run here
    if not shutil.which(clients.QEMU):
        raise Skip("%s not installed" % clients.QEMU)
    rom = next((r for r in clients.IPXE_ROMS if os.path.exists(r)), None)
    if rom is None:
        raise Skip("no iPXE e1000 ROM (ipxe-qemu not installed)")
    size = MIB
    n = nginx(ctx, {"ipxe.bin": size})
    srv = serve(ctx, n.url(), root=empty_dir(ctx))
    work = ctx.tmpdir("qemu")
    sercon = write_bytes(os.path.join(work, "sercon-port"), b"\xf8\x03")
    argv = [clients.QEMU, "-accel", "tcg", "-m", "256", "-nodefaults",
            "-nographic", "-serial", "stdio", "-monitor", "none",
            "-no-reboot", "-fw_cfg", "name=etc/sercon-port,file=%s" % sercon,
            "-netdev", "user,id=n0", "-device", "e1000,netdev=n0",
            "-boot", "n"]
    info(ctx, "qemu: %s" % " ".join(argv))
    con = clients.Console(ctx, argv)
    con.wait(r"Press Ctrl-B for the iPXE command line", 60,
             what="iPXE's Ctrl-B offer")
    end = time.monotonic() + 15
    while True:
        con.send(b"\x02")
        try:
            con.wait(re.escape(clients.PROMPT), 1.0)
            break
        except Fail:
            if time.monotonic() > end:
                raise

    def command(cmd, timeout):
        m0 = con.mark()
        con.type(cmd)
        con.send(b"\r")
        con.wait(re.escape(clients.PROMPT), timeout, start=m0,
                 what="prompt after %r" % cmd)
        return con.text(m0)
    out = command("dhcp", 60)
    check(re.search(r"Configuring .*\.\s*ok", out) is not None,
          "dhcp failed: %r" % out.strip()[-200:])
    out = command("imgfetch tftp://10.0.2.2:%d/ipxe.bin" % srv.port, 60)
    check("error" not in out.lower() and "could not" not in out.lower(),
          "imgfetch failed: %r; server: %s" % (out.strip()[-300:],
                                               srv.tail(3)))
    out = command("imgstat", 20)
    m = re.search(r"ipxe\.bin\s*:\s*(\d+) bytes", out)
    check(m is not None, "imgstat lists no ipxe.bin: %r" % out.strip())
    check(int(m.group(1)) == size, "imgstat says %s bytes, the file at "
          "nginx has %d" % (m.group(1), size))
    srv.expect_ok("RRQ", "ipxe.bin")
    check(n.count("GET", "/ipxe.bin") >= 1, "nginx logged no GET")


# ============================================================ command line


def badcmd(ctx, args, words):
    need_origin()
    root = empty_dir(ctx)
    rc, out, err, _ = ctx.run([TFTPX, "serve", "--allow-root", "-l",
                               "127.0.0.1:0"] + args + [root], timeout=10)
    lines = [l for l in err.splitlines() if l.strip()]
    check(rc != 0, "%s: exit 0" % " ".join(args))
    check(len(lines) == 1, "%s: %d lines on stderr, expected one: %r" % (
        " ".join(args), len(lines), err[-300:]))
    check(any(w in lines[0] for w in words), "%s: %r names none of %s" % (
        " ".join(args), lines[0], words))
    info(ctx, "%s -> exit %d: %s" % (" ".join(args), rc, lines[0]))


@case("badcmd_origin_scheme")
def _(ctx):
    badcmd(ctx, ["--origin", "ftp://x"], ("ftp", "--origin"))


@case("badcmd_cache_max")
def _(ctx):
    badcmd(ctx, ["--origin", "http://127.0.0.1:9", "--cache",
                 ctx.tmpdir("cache"), "--cache-max", "lots"],
           ("--cache-max",))


@case("badcmd_cache_not_dir")
def _(ctx):
    f = write_bytes(os.path.join(ctx.tmpdir("f"), "plain"), b"x")
    badcmd(ctx, ["--origin", "http://127.0.0.1:9", "--cache", f],
           ("--cache", f))


if __name__ == "__main__":
    sys.exit(main(budget=SUITE_BUDGET))
