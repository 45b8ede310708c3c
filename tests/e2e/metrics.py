#!/usr/bin/env python3
"""tests/e2e/metrics.py - `tftpx serve --metrics ADDR:PORT`: the counts a
real Prometheus scrapes, the text format, the HTTP side (stdlib only).

Run from the repo root as root:  python3 tests/e2e/metrics.py
                                 [-k SUBSTRING] [-j N] [--list]

Built on the harness in tests/lib/tftpx_test.py and the nginx origin of
tests/lib/httporigin.py.  Each case prints one line "PASS name", "FAIL
name: reason" or "SKIP name: reason"; extra lines start with "INFO ".
Traffic stays on loopback (127.0.0.1, and 127.0.0.2 for a connect that
must be refused).

What is under test (src/metrics.c, src/metrics_http.c): `--metrics
ADDR:PORT` serves GET /metrics in the Prometheus text format (a port
alone: 127.0.0.1; port 0: a free one, told by the start-up line
"tftpx: metrics on http://HOST:PORT/metrics"); any other path is 404,
any other method than GET and HEAD 405.  The series:
tftpx_transfers_total{direction,outcome}, tftpx_bytes_total{direction},
tftpx_retransmits_total, tftpx_probes_total,
tftpx_refusals_total{reason}, tftpx_duplicate_requests_total,
tftpx_transfers_live, the histogram
tftpx_transfer_duration_seconds{direction}; with --origin also
tftpx_origin_requests_total{result}, tftpx_origin_fetches_total,
tftpx_origin_cache_hits_total, tftpx_origin_uploads_total{outcome} and,
with --cache, tftpx_origin_cache_bytes.

  prometheus_scrapes_transfers  3 `tftpx get`s of known sizes, one get of a
                            missing name, one `tftpx put`; then the real
                            Prometheus (Debian's prometheus,
                            /usr/bin/prometheus; $PROMETHEUS) on
                            127.0.0.1:<free port>, a config and TSDB of its
                            own in a temp dir, scrape_interval 1s, one job
                            at the metrics address.  Its HTTP API
                            (/api/v1/query) answers, within a bounded wait
                            (60 s): tftpx_transfers_total get/ok 3,
                            get/failed 0, put/ok 1, put/failed 0;
                            tftpx_refusals_total{reason="not_found"} 1;
                            tftpx_bytes_total get = the sum of the sizes,
                            put = the put's size; up{job="tftpx"} 1.  The
                            answer to tftpx_transfers_total is printed as
                            an INFO line.  SKIP when prometheus is not
                            installed.
  libmicrohttpd_loaded_only_with_metrics
                            a plain serve maps none of the HTTP libraries
                            (/proc/PID/maps); --metrics maps
                            libmicrohttpd.so.12 and not libcurl, and
                            answers a scrape.
  metrics_text_format       GET /metrics: Content-Type text/plain;
                            version=0.0.4; every line a HELP or TYPE
                            comment or `name{labels} value`; each family
                            TYPEd once before its samples, no series twice;
                            the series above all there (no origin ones
                            without --origin); the histogram's buckets
                            ascend in le, are cumulative, end in +Inf equal
                            to _count; _count of each direction goes from 0
                            to 1 with a get and a put, _sum above 0;
                            `promtool check metrics` (same package) finds
                            nothing when it is installed.
  metrics_404_405           /other, / and /metrics/ are 404; POST and PUT
                            /metrics are 405 (with Allow: GET, HEAD); HEAD
                            /metrics is 200; the server lives on.
  metrics_loopback_default  `--metrics 0` and `--metrics :0`: the start-up
                            line names 127.0.0.1 and a port; GET there is
                            200; the kernel's table of listening TCP
                            sockets (/proc/net/tcp, tcp6) has it bound to
                            127.0.0.1 only; a connect to 127.0.0.2:PORT is
                            refused.
  metrics_with_origin       --origin (nginx) --cache, an empty DIR: two gets
                            of a name only at the origin: requests
                            miss 1, hit 1 (shared, revalidated, stale,
                            failed 0), fetches 1, cache hits 1, cache bytes
                            = the file's size, uploads 0; nginx saw one GET.
  metrics_bad_address       `--metrics nonsense:abc` exits non-zero (2
                            expected of a usage error; INFO otherwise) with
                            one line naming --metrics; `--metrics` on a TCP
                            port already listened on exits non-zero with a
                            line naming --metrics and the port in use.
  metrics_seccomp           --seccomp: the filter is on (/proc status),
                            scrapes (GET, HEAD, 404, 405) answer, a get and
                            a put are counted, the server lives on and
                            exits 0 on SIGTERM (no SIGSYS).  SKIP in a
                            sanitizer build (--seccomp is refused there).

Every process (tftpx, Prometheus, nginx) is stopped in a finally, and
again by the harness at the case's cleanup.
"""

import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TESTS, "lib"))
from tftpx_test import (  # noqa: E402
    Fail, Server, Skip, TFTPX, case, check, info, kill_proc, main,
    root_with, same_file, write_random)
from tftpx_test import heavy_libs, mapped_libs, proc_status  # noqa: E402
from httporigin import Nginx  # noqa: E402

SUITE_BUDGET = 200.0
PROMETHEUS = os.environ.get("PROMETHEUS") or "/usr/bin/prometheus"
PROMTOOL = os.environ.get("PROMTOOL") or "/usr/bin/promtool"
PROM_WAIT = 60.0            # bound on Prometheus's start and its answers
JOB = "tftpx"

KNOWN = (                   # (name, labels) of every series without origin
    ("tftpx_transfers_total", {"direction": "get", "outcome": "ok"}),
    ("tftpx_transfers_total", {"direction": "get", "outcome": "failed"}),
    ("tftpx_transfers_total", {"direction": "put", "outcome": "ok"}),
    ("tftpx_transfers_total", {"direction": "put", "outcome": "failed"}),
    ("tftpx_bytes_total", {"direction": "get"}),
    ("tftpx_bytes_total", {"direction": "put"}),
    ("tftpx_retransmits_total", {}),
    ("tftpx_probes_total", {}),
    ("tftpx_duplicate_requests_total", {}),
    ("tftpx_transfers_live", {}),
) + tuple(("tftpx_refusals_total", {"reason": r}) for r in (
    "not_found", "access_violation", "disk_full", "illegal_operation",
    "file_exists", "option_refused", "busy", "other"))
TYPES = {
    "tftpx_transfers_total": "counter",
    "tftpx_bytes_total": "counter",
    "tftpx_retransmits_total": "counter",
    "tftpx_probes_total": "counter",
    "tftpx_refusals_total": "counter",
    "tftpx_duplicate_requests_total": "counter",
    "tftpx_transfers_live": "gauge",
    "tftpx_transfer_duration_seconds": "histogram",
}
ORIGIN_TYPES = {
    "tftpx_origin_requests_total": "counter",
    "tftpx_origin_fetches_total": "counter",
    "tftpx_origin_cache_hits_total": "counter",
    "tftpx_origin_uploads_total": "counter",
    "tftpx_origin_cache_bytes": "gauge",
}


# ---------------------------------------------------------------- set-up

_built = {}


def need_metrics():
    """Skip when this tftpx was built without libmicrohttpd."""
    if "v" not in _built:
        r = subprocess.run([TFTPX, "serve", "--help"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=10)
        _built["v"] = r.stdout
    out = _built["v"]
    check(b"--metrics" in out, "tftpx serve --help lists no --metrics")
    if b"without libmicrohttpd" in out:
        raise Skip("this tftpx was built without libmicrohttpd "
                   "(libmicrohttpd-dev)")


METRICS_LINE = re.compile(r"metrics on (http://(\S+?):(\d+)/metrics)\s*$")


def metrics_url(srv, timeout=5.0):
    """(url, host, port) from the server's start-up line."""
    l = srv.wait_for(lambda l: METRICS_LINE.search(l) is not None, timeout)
    check(l is not None, "no 'metrics on http://...' line; stderr: %s" %
          srv.tail())
    check(l.startswith("tftpx: "), "metrics line without 'tftpx: ': %r" % l)
    m = METRICS_LINE.search(l)
    port = int(m.group(3))
    check(0 < port < 65536, "metrics line names port %d: %r" % (port, l))
    return m.group(1), m.group(2), port


def serve(ctx, root, *args, metrics="127.0.0.1:0"):
    """`tftpx serve --allow-root -l 127.0.0.1:0 ARGS --metrics M ROOT`;
    (server, metrics url, metrics port)."""
    need_metrics()
    srv = Server(ctx, root, list(args) + ["--metrics", metrics])
    url, _, port = metrics_url(srv)
    return srv, url, port


def tget(ctx, srv, name, dst):
    return ctx.tftpx("get", "-q", "127.0.0.1:%d" % srv.port, name, dst,
                     timeout=30)


def get_ok(ctx, srv, name, src):
    out = ctx.tmpdir("out")
    dst = os.path.join(out, os.path.basename(name))
    rc, _, err, _ = tget(ctx, srv, name, dst)
    check(rc == 0, "tftpx get %s exited %d: %s" % (name, rc,
                                                   err.strip()[-300:]))
    why = same_file(src, dst)
    check(why is None, "get %s: %s" % (name, why))


def put_ok(ctx, srv, src, name):
    rc, _, err, _ = ctx.tftpx("put", "-q", "127.0.0.1:%d" % srv.port, src,
                              name, timeout=30)
    check(rc == 0, "tftpx put %s exited %d: %s" % (name, rc,
                                                   err.strip()[-300:]))


def alive(srv, what):
    check(srv.p.poll() is None, "server died (exit %s) %s; stderr: %s" %
          (srv.p.poll(), what, srv.tail()))


# ---------------------------------------------------------------- HTTP


def http(url, method="GET", data=None, timeout=5.0):
    """(status, headers, body bytes) of one request; HTTP errors too."""
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        try:
            body = e.read()
        except OSError:
            body = b""
        return e.code, e.headers, body
    except (urllib.error.URLError, OSError) as e:
        raise Fail("%s %s: %s" % (method, url, getattr(e, "reason", e)))


def scrape(url):
    """The /metrics text (Fail unless 200)."""
    st, _, body = http(url)
    check(st == 200, "GET %s answered %d: %r" % (url, st, body[:200]))
    return body.decode("utf-8")


NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LNAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
LVAL = r'"(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r"^(%s)(?:\{((?:%s=%s)(?:,%s=%s)*,?)?\})? (\S+)"
                    r"(?: (-?\d+))?$" % (NAME, LNAME, LVAL, LNAME, LVAL))
LABEL = re.compile(r"(%s)=(%s)" % (LNAME, LVAL))
COMMENT = re.compile(r"^# (HELP|TYPE) (%s)(?: (.*))?$" % NAME)


def unescape(v):
    return v[1:-1].replace("\\n", "\n").replace('\\"', '"') \
        .replace("\\\\", "\\")


def parse(text):
    """The exposition text as (samples, types): samples a list of (name,
    labels dict, float value), types {family: type}.  Fail on any line
    that is not a HELP or TYPE comment or a sample."""
    samples, types, helps = [], {}, set()
    check(text.endswith("\n"), "text does not end in a newline")
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith("#"):
            if not line.startswith(("# HELP ", "# TYPE ")):
                continue                    # a plain comment
            m = COMMENT.match(line)
            check(m is not None, "line %d: malformed %r" % (n, line))
            kind, fam, rest = m.groups()
            if kind == "TYPE":
                check(rest in ("counter", "gauge", "histogram", "summary",
                               "untyped"),
                      "line %d: unknown type %r" % (n, rest))
                check(fam not in types, "line %d: %s TYPEd twice" %
                      (n, fam))
                check(not any(s[0] == fam or family(s[0], types) == fam
                              for s in samples),
                      "line %d: TYPE of %s after its samples" % (n, fam))
                types[fam] = rest
            else:
                check(fam not in helps, "line %d: HELP of %s twice" %
                      (n, fam))
                check(rest, "line %d: HELP of %s without text" % (n, fam))
                helps.add(fam)
            continue
        m = SAMPLE.match(line)
        check(m is not None, "line %d does not parse as `name{labels} "
              "value`: %r" % (n, line))
        name, labels, value, _ = m.groups()
        lab = {}
        for k, v in LABEL.findall(labels or ""):
            check(k not in lab, "line %d: label %s twice" % (n, k))
            lab[k] = unescape(v)
        try:
            val = float(value)
        except ValueError:
            raise Fail("line %d: value %r is not a number" % (n, value))
        samples.append((name, lab, val))
    return samples, types


def family(name, types):
    for suf in ("_bucket", "_sum", "_count"):
        if name.endswith(suf) and types.get(name[:-len(suf)]) == "histogram":
            return name[:-len(suf)]
    return name


def value(samples, name, **labels):
    """The one value of name with exactly these labels (le aside)."""
    got = [v for n, l, v in samples if n == name and l == labels]
    check(len(got) == 1, "%d samples of %s%s in the scrape" %
          (len(got), name, labels or ""))
    return got[0]


def wait_values(url, want, timeout=10.0):
    """Scrape until every (name, labels) in want has its value; the last
    (samples, types).  want: [(name, {labels}, value)]."""
    end = time.monotonic() + timeout
    while True:
        samples, types = parse(scrape(url))
        bad = []
        for name, lab, v in want:
            got = [x for n, l, x in samples if n == name and l == lab]
            if got != [v]:
                bad.append("%s%s = %s, expected %s" % (
                    name, fmt_labels(lab), got[0] if len(got) == 1 else got,
                    fmt_num(v)))
        if not bad:
            return samples, types
        if time.monotonic() >= end:
            raise Fail("after %.0f s: %s" % (timeout, "; ".join(bad)))
        time.sleep(0.1)


def fmt_labels(lab):
    return "{%s}" % ",".join('%s="%s"' % kv for kv in sorted(lab.items())) \
        if lab else ""


def fmt_num(v):
    return "%d" % v if float(v).is_integer() else "%g" % v


# ---------------------------------------------------------------- Prometheus


def free_tcp_port(host="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


PROM_CONF = """\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: {job}
    scrape_interval: 1s
    scrape_timeout: 1s
    metrics_path: /metrics
    static_configs:
      - targets: ['{target}']
"""


class Prometheus:
    """The real Prometheus on 127.0.0.1:<free port>, scraping target
    (host:port) as job JOB every second; its config, TSDB and log in a temp
    dir of the case.  Ready when /-/ready answers 200 (bounded)."""

    def __init__(self, ctx, target):
        if not os.access(PROMETHEUS, os.X_OK):
            raise Skip("%s not installed (apt-get install prometheus)" %
                       PROMETHEUS)
        self.ctx = ctx
        self.p = None
        self.tmp = ctx.tmpdir("prom")
        self.conf = os.path.join(self.tmp, "prometheus.yml")
        self.logf = os.path.join(self.tmp, "prometheus.log")
        with open(self.conf, "w") as f:
            f.write(PROM_CONF.format(job=JOB, target=target))
        why = ""
        for _ in range(3):              # a port lost to a race: another
            self.port = free_tcp_port()
            self.base = "http://127.0.0.1:%d" % self.port
            argv = [PROMETHEUS, "--config.file=" + self.conf,
                    "--storage.tsdb.path=" + os.path.join(self.tmp, "data"),
                    "--web.listen-address=127.0.0.1:%d" % self.port,
                    "--log.level=info"]
            with open(self.logf, "wb") as log:
                self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                          stdout=log, stderr=log,
                                          start_new_session=True)
            ctx.procs.append(self.p)
            if self._ready():
                return
            kill_proc(self.p)
            why = self.log_tail()
            if "address already in use" not in why:
                break
        raise Fail("prometheus did not become ready on 127.0.0.1:%d within "
                   "%.0f s (exit %s): %s" % (self.port, PROM_WAIT,
                                             self.p.poll(), why))

    def _ready(self):
        end = time.monotonic() + PROM_WAIT
        while time.monotonic() < end:
            if self.p.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(self.base + "/-/ready",
                                            timeout=2) as r:
                    if r.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        return False

    def log_tail(self, n=4):
        try:
            with open(self.logf, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return "(no log)"
        keep = [l for l in lines if "level=error" in l or "level=warn" in l]
        return " | ".join((keep or lines)[-n:]) or "(empty log)"

    def query(self, q):
        """(raw JSON text, parsed answer) of /api/v1/query?query=q."""
        url = "%s/api/v1/query?query=%s" % (self.base, urllib.parse.quote(q))
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                raw = r.read().decode("utf-8")
        except urllib.error.HTTPError as e:
            raise Fail("prometheus query %r: HTTP %d %r" %
                       (q, e.code, e.read()[:200]))
        except (urllib.error.URLError, OSError) as e:
            raise Fail("prometheus query %r: %s" % (q, e))
        ans = json.loads(raw)
        check(ans.get("status") == "success", "prometheus query %r: %s" %
              (q, raw[:300]))
        return raw, ans

    def wait(self, q, pred, what, timeout=PROM_WAIT):
        """Query q until pred(result list) holds; the last (raw, result).
        Fail after timeout with what was seen."""
        end = time.monotonic() + timeout
        while True:
            raw, ans = self.query(q)
            res = ans["data"]["result"]
            if pred(res):
                return raw, res
            if time.monotonic() >= end or self.p.poll() is not None:
                raise Fail("prometheus: %s not seen within %.0f s (exit "
                           "%s); %s answered %s; target: %s; log: %s" % (
                               what, timeout, self.p.poll(), q, raw[:400],
                               self.target_health(), self.log_tail()))
            time.sleep(0.5)

    def target_health(self):
        try:
            with urllib.request.urlopen(self.base + "/api/v1/targets",
                                        timeout=5) as r:
                t = json.loads(r.read().decode("utf-8"))
            return "; ".join("%s %s %s" % (a.get("scrapeUrl"),
                                            a.get("health"),
                                            a.get("lastError") or "")
                             for a in t["data"]["activeTargets"]) or "none"
        except (urllib.error.URLError, OSError, ValueError, KeyError) as e:
            return "(targets: %s)" % e

    def stop(self):
        if self.p is not None:
            kill_proc(self.p)


def by_labels(res, *keys):
    """{(label values...): float value} of a vector result."""
    return {tuple(r["metric"].get(k) for k in keys): float(r["value"][1])
            for r in res}


# ================================================================ cases


@case("prometheus_scrapes_transfers", limit=150)
def _(ctx):
    if not os.access(PROMETHEUS, os.X_OK):
        raise Skip("%s not installed (apt-get install prometheus)" %
                   PROMETHEUS)
    sizes = {"a.bin": 513, "b.bin": 4096, "c.bin": 70000}
    root = root_with(ctx, sizes)
    os.chmod(root, 0o755)
    loc = ctx.tmpdir("loc")
    up = write_random(os.path.join(loc, "up.bin"), 3000)
    srv = prom = None
    try:
        srv, _, mport = serve(ctx, root, "--upload")
        target = "127.0.0.1:%d" % mport
        for n in sorted(sizes):
            get_ok(ctx, srv, n, os.path.join(root, n))
        rc, _, err, _ = tget(ctx, srv, "missing.bin",
                             os.path.join(ctx.tmpdir("out"), "missing.bin"))
        check(rc == 1 and "not found" in err,
              "get of a missing name: exit %d %r" % (rc, err.strip()))
        put_ok(ctx, srv, up, "up.bin")
        check(same_file(up, os.path.join(root, "up.bin")) is None,
              "the put did not land: %s" %
              same_file(up, os.path.join(root, "up.bin")))
        prom = Prometheus(ctx, target)
        want = {("get", "ok"): 3.0, ("get", "failed"): 0.0,
                ("put", "ok"): 1.0, ("put", "failed"): 0.0}
        q = "tftpx_transfers_total"
        raw, res = prom.wait(
            q, lambda r: by_labels(r, "direction", "outcome") == want,
            "tftpx_transfers_total get/ok 3, get/failed 0, put/ok 1, "
            "put/failed 0")
        info(ctx, "prometheus /api/v1/query?query=%s -> %s" % (q, raw))
        for r in res:
            check(r["metric"].get("job") == JOB and
                  r["metric"].get("instance") == target,
                  "series labelled %s, not job=%s instance=%s" %
                  (r["metric"], JOB, target))
        prom.wait('tftpx_refusals_total{reason="not_found"}',
                  lambda r: len(r) == 1 and float(r[0]["value"][1]) == 1,
                  'tftpx_refusals_total{reason="not_found"} 1')
        total = sum(sizes.values())
        _, res = prom.wait(
            "tftpx_bytes_total",
            lambda r: by_labels(r, "direction") == {
                ("get",): float(total), ("put",): 3000.0},
            "tftpx_bytes_total get %d, put 3000" % total)
        _, res = prom.wait('up{job="%s"}' % JOB,
                           lambda r: len(r) == 1 and
                           float(r[0]["value"][1]) == 1,
                           'up{job="%s"} 1' % JOB)
        other = [r["metric"] for r in prom.query(
            'tftpx_refusals_total{reason!="not_found"} > 0')[1]["data"]
            ["result"]]
        check(not other, "other refusals counted: %s" % other)
        info(ctx, "prometheus: up 1, refusals not_found 1, bytes get %d "
             "put 3000" % total)
    finally:
        if prom is not None:
            prom.stop()
        if srv is not None:
            srv.stop()


@case("libmicrohttpd_loaded_only_with_metrics")
def _(ctx):
    # loaded at start by --metrics only (src/dynlib.c), and alone
    root = root_with(ctx, {})
    plain = Server(ctx, root, [])
    check(heavy_libs(plain.pid) == [], "a plain serve maps %s" %
          heavy_libs(plain.pid))
    srv, url, _ = serve(ctx, root)
    libs = mapped_libs(srv.pid)
    check(any(n.startswith("libmicrohttpd.so.12") for n in libs),
          "--metrics, yet no "
          "libmicrohttpd.so.12 mapped: %s" % sorted(libs))
    check(not any(n.startswith("libcurl") for n in libs),
          "--metrics without --origin maps libcurl: %s" % sorted(libs))
    check("tftpx_transfers_total" in scrape(url),
          "no tftpx_transfers_total in a scrape")


@case("metrics_text_format")
def _(ctx):
    root = root_with(ctx, {"a.bin": 1500})
    os.chmod(root, 0o755)
    loc = ctx.tmpdir("loc")
    up = write_random(os.path.join(loc, "up.bin"), 700)
    srv, url, _ = serve(ctx, root, "--upload")
    try:
        st, hdr, body = http(url)
        check(st == 200, "GET /metrics answered %d" % st)
        ct = hdr.get("Content-Type") or ""
        check(ct.startswith("text/plain; version=0.0.4"),
              "Content-Type %r" % ct)
        samples, types = parse(body.decode("utf-8"))
        for d in ("get", "put"):
            check(value(samples, "tftpx_transfer_duration_seconds_count",
                        direction=d) == 0,
                  "_count{direction=%s} is not 0 before any transfer" % d)
        get_ok(ctx, srv, "a.bin", os.path.join(root, "a.bin"))
        put_ok(ctx, srv, up, "up.bin")
        wait_values(url, [
            ("tftpx_transfer_duration_seconds_count", {"direction": "get"},
             1.0),
            ("tftpx_transfer_duration_seconds_count", {"direction": "put"},
             1.0),
            ("tftpx_transfers_total", {"direction": "get", "outcome": "ok"},
             1.0),
            ("tftpx_transfers_total", {"direction": "put", "outcome": "ok"},
             1.0),
            ("tftpx_bytes_total", {"direction": "get"}, 1500.0),
            ("tftpx_bytes_total", {"direction": "put"}, 700.0),
            ("tftpx_transfers_live", {}, 0.0)])
        text = scrape(url)
        samples, types = parse(text)
        # families: TYPEd, as documented, no origin ones
        for fam, t in TYPES.items():
            check(types.get(fam) == t, "TYPE of %s is %r, not %s" %
                  (fam, types.get(fam), t))
        for fam in ORIGIN_TYPES:
            check(fam not in types, "%s without --origin" % fam)
        seen = set()
        for name, lab, v in samples:
            check(family(name, types) in types,
                  "sample %s without a TYPE" % name)
            key = (name, tuple(sorted(lab.items())))
            check(key not in seen, "series %s%s twice" %
                  (name, fmt_labels(lab)))
            seen.add(key)
            if types.get(family(name, types)) == "counter":
                check(v >= 0 and v == int(v), "counter %s%s = %r" %
                      (name, fmt_labels(lab), v))
        for name, lab in KNOWN:
            value(samples, name, **lab)
        # the histogram
        for d in ("get", "put"):
            bs = [(l["le"], v) for n, l, v in samples
                  if n == "tftpx_transfer_duration_seconds_bucket" and
                  l.get("direction") == d]
            check(len(bs) >= 2, "%d buckets for %s" % (len(bs), d))
            les = [float(le) for le, _ in bs]
            check(les == sorted(les) and len(set(les)) == len(les),
                  "%s buckets' le not ascending: %s" %
                  (d, [le for le, _ in bs]))
            check(bs[-1][0] == "+Inf", "%s: the last bucket is le=%s, not "
                  "+Inf" % (d, bs[-1][0]))
            vals = [v for _, v in bs]
            check(vals == sorted(vals), "%s buckets not cumulative: %s" %
                  (d, vals))
            cnt = value(samples, "tftpx_transfer_duration_seconds_count",
                        direction=d)
            check(vals[-1] == cnt, "%s: +Inf bucket %s != _count %s" %
                  (d, fmt_num(vals[-1]), fmt_num(cnt)))
            check(cnt == 1, "%s: _count %s after one transfer" %
                  (d, fmt_num(cnt)))
            s = value(samples, "tftpx_transfer_duration_seconds_sum",
                      direction=d)
            check(0 < s < 60, "%s: _sum %r after one transfer" % (d, s))
            for n, l, _ in samples:
                if n == "tftpx_transfer_duration_seconds_bucket":
                    check(set(l) == {"direction", "le"},
                          "bucket labels %s" % l)
        # Prometheus's own linter, when it is here
        if os.access(PROMTOOL, os.X_OK):
            r = subprocess.run([PROMTOOL, "check", "metrics"],
                               input=text.encode(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=30)
            check(r.returncode == 0 and not r.stdout.strip(),
                  "promtool check metrics: exit %d %r" %
                  (r.returncode, r.stdout.decode("utf-8", "replace")[:300]))
        else:
            info(ctx, "%s not installed: no promtool check" % PROMTOOL)
        alive(srv, "after the scrapes")
    finally:
        srv.stop()


@case("metrics_404_405")
def _(ctx):
    srv, url, port = serve(ctx, root_with(ctx, {}))
    try:
        base = "http://127.0.0.1:%d" % port
        for path in ("/other", "/", "/metrics/", "/metricsx"):
            st, _, body = http(base + path)
            check(st == 404, "GET %s answered %d, not 404" % (path, st))
            check(b"tftpx_" not in body, "GET %s: a 404 with the metrics "
                  "in it" % path)
        for method, data in (("POST", b"x=1"), ("POST", None),
                             ("PUT", b"abc"), ("DELETE", None)):
            st, hdr, body = http(url, method, data)
            check(st == 405, "%s /metrics answered %d, not 405" %
                  (method, st))
            allow = hdr.get("Allow") or ""
            check("GET" in allow, "%s /metrics: 405 with Allow %r" %
                  (method, allow))
            check(b"tftpx_" not in body, "%s /metrics: a 405 with the "
                  "metrics in it" % method)
        st, hdr, body = http(url, "HEAD")
        check(st == 200 and body == b"", "HEAD /metrics: %d, %d bytes" %
              (st, len(body)))
        check(scrape(url).startswith("# HELP tftpx_"),
              "GET /metrics after the errors is not the metrics")
        alive(srv, "after 404s and 405s")
    finally:
        srv.stop()


def listeners(port):
    """The local addresses of TCP sockets listening on port, from
    /proc/net/tcp and tcp6 (hex as the kernel writes them)."""
    out = []
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(f) as fh:
                rows = fh.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) < 4 or cols[3] != "0A":        # TCP_LISTEN
                continue
            addr, p = cols[1].split(":")
            if int(p, 16) == port:
                out.append((os.path.basename(f), addr))
    return out


@case("metrics_loopback_default")
def _(ctx):
    lo = "%08X" % struct.unpack("=I", socket.inet_aton("127.0.0.1"))[0]
    for spec in ("0", ":0"):
        srv, url, port = serve(ctx, root_with(ctx, {}), metrics=spec)
        try:
            check(url == "http://127.0.0.1:%d/metrics" % port,
                  "--metrics %s: the start-up line says %s, not "
                  "127.0.0.1" % (spec, url))
            check(scrape(url).startswith("# HELP tftpx_"),
                  "--metrics %s: GET %s is not the metrics" % (spec, url))
            ls = listeners(port)
            check(ls == [("tcp", lo)], "--metrics %s: TCP listeners on port "
                  "%d: %s, expected 127.0.0.1 (%s) only" %
                  (spec, port, ls, lo))
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(3)
            try:
                s.connect(("127.0.0.2", port))
                raise Fail("--metrics %s: 127.0.0.2:%d accepted a "
                           "connection (bound beyond 127.0.0.1)" %
                           (spec, port))
            except ConnectionRefusedError:
                pass
            except socket.timeout:
                raise Fail("--metrics %s: connect to 127.0.0.2:%d timed "
                           "out instead of being refused" % (spec, port))
            finally:
                s.close()
            alive(srv, "with --metrics %s" % spec)
        finally:
            srv.stop()


@case("metrics_with_origin", limit=60)
def _(ctx):
    size = 70000
    www = root_with(ctx, {"f.bin": size})
    os.chmod(www, 0o755)
    n = Nginx(www)
    ctx.procs.append(n.p)
    ctx.defer(n.stop)
    cache = ctx.tmpdir("cache")
    empty = ctx.tmpdir("dir")
    os.chmod(empty, 0o755)
    srv = None
    try:
        srv, url, _ = serve(ctx, empty, "--origin", n.url(),
                            "--cache", cache)
        samples, types = parse(scrape(url))
        for fam, t in ORIGIN_TYPES.items():
            check(types.get(fam) == t, "with --origin --cache: TYPE of %s "
                  "is %r, not %s" % (fam, types.get(fam), t))
        check(value(samples, "tftpx_origin_cache_bytes") == 0,
              "cache bytes %s before any fetch" %
              fmt_num(value(samples, "tftpx_origin_cache_bytes")))
        src = os.path.join(www, "f.bin")
        get_ok(ctx, srv, "f.bin", src)
        get_ok(ctx, srv, "f.bin", src)
        req = "tftpx_origin_requests_total"
        samples, _ = wait_values(url, [
            (req, {"result": "miss"}, 1.0),
            (req, {"result": "hit"}, 1.0),
            ("tftpx_transfers_total", {"direction": "get", "outcome": "ok"},
             2.0),
            ("tftpx_origin_cache_bytes", {}, float(size))])
        for r in ("shared", "revalidated", "stale", "failed"):
            check(value(samples, req, result=r) == 0, "%s{result=%s} = %s" %
                  (req, r, fmt_num(value(samples, req, result=r))))
        for name, want in (("tftpx_origin_fetches_total", 1),
                           ("tftpx_origin_cache_hits_total", 1),
                           ("tftpx_origin_cache_bytes", size),
                           ("tftpx_bytes_total", 2 * size)):
            lab = {"direction": "get"} if name == "tftpx_bytes_total" else {}
            got = value(samples, name, **lab)
            check(got == want, "%s = %s, expected %d" %
                  (name, fmt_num(got), want))
        for o in ("ok", "failed"):
            check(value(samples, "tftpx_origin_uploads_total",
                        outcome=o) == 0, "uploads{outcome=%s} not 0" % o)
        c = n.count("GET", "/f.bin")
        check(c == 1, "nginx logged %d GETs of /f.bin for a miss and a "
              "hit" % c)
        alive(srv, "after the origin gets")
    finally:
        if srv is not None:
            srv.stop()
        n.stop()


@case("metrics_bad_address")
def _(ctx):
    need_metrics()
    root = root_with(ctx, {})
    argv = [TFTPX, "serve", "--allow-root", "-l", "127.0.0.1:0"]
    rc, _, err, _ = ctx.run(argv + ["--metrics", "nonsense:abc", root],
                            timeout=10)
    lines = [l for l in err.splitlines() if l.strip()]
    check(rc != 0, "--metrics nonsense:abc: exit 0; stderr %r" % err)
    check(len(lines) == 1 and "--metrics" in lines[0],
          "--metrics nonsense:abc: exit %d, stderr %r (one line naming "
          "--metrics expected)" % (rc, err.strip()))
    info(ctx, "--metrics nonsense:abc: exit %d: %s" % (rc, lines[0]))
    check(rc == 2, "--metrics nonsense:abc exits %d, not 2 (a usage error, "
          "as a bad -l address is)" % rc)
    for bad in ("abc", ":abc", "99999", "127.0.0.1:99999"):
        rc, _, err, _ = ctx.run(argv + ["--metrics", bad, root], timeout=10)
        check(rc == 2 and "0 to 65535" in err, "--metrics %r: exit %d, "
              "stderr %r (a usage error naming the port's range expected)"
              % (bad, rc, err.strip()))
    # a port someone listens on
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ctx.socks.append(s)
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    rc, _, err, _ = ctx.run(argv + ["--metrics", "127.0.0.1:%d" % port,
                                    root], timeout=10)
    lines = [l for l in err.splitlines() if l.strip()]
    check(rc != 0, "--metrics on a port in use: exit 0; stderr %r" % err)
    named = [l for l in lines if "--metrics" in l and
             ("in use" in l.lower() or "cannot listen" in l)]
    check(named, "--metrics on port %d in use: exit %d, no line naming "
          "--metrics and the problem: %r" % (port, rc, err.strip()))
    info(ctx, "--metrics 127.0.0.1:%d (in use): exit %d: %s" %
         (port, rc, named[0]))
    stray = [l for l in lines if not l.startswith("tftpx: ")]
    check(not stray, "lines without 'tftpx: ' on stderr (libmicrohttpd's "
          "own?): %r" % stray)


def asan_build(path):
    r = subprocess.run(["ldd", path], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL)
    return b"libasan" in r.stdout or b"libubsan" in r.stdout


@case("metrics_seccomp", limit=60)
def _(ctx):
    if asan_build(TFTPX):
        raise Skip("sanitizer build: --seccomp is refused there")
    need_metrics()
    root = root_with(ctx, {"a.bin": 2000})
    os.chmod(root, 0o755)
    loc = ctx.tmpdir("loc")
    up = write_random(os.path.join(loc, "up.bin"), 900)
    srv = None
    try:
        try:
            srv = Server(ctx, root, ["--seccomp", "--upload", "--metrics",
                                     "127.0.0.1:0"], ready_timeout=10)
        except Fail as e:
            if "sanitizer build" in str(e):
                # clang links its sanitizer runtime statically
                raise Skip("sanitizer build: --seccomp is refused there")
            raise
        l = srv.wait_for(lambda l: "seccomp filter on" in l or
                         "sanitizer build" in l or "metrics on" in l, 10)
        if any("sanitizer build" in x for x in srv.lines):
            raise Skip("sanitizer build: --seccomp is refused there")
        check(l is not None and any("seccomp filter on" in x
                                    for x in srv.lines),
              "no 'seccomp filter on' line: %s" % srv.tail())
        url, _, port = metrics_url(srv)
        st = proc_status(srv.pid)
        check(st.get("Seccomp") == "2", "no seccomp filter: Seccomp %s" %
              st.get("Seccomp"))
        for _ in range(3):
            scrape(url)
        check(http(url, "HEAD")[0] == 200, "HEAD /metrics under seccomp")
        check(http("http://127.0.0.1:%d/x" % port)[0] == 404,
              "GET /x under seccomp is not 404")
        check(http(url, "POST", b"x")[0] == 405,
              "POST /metrics under seccomp is not 405")
        alive(srv, "after scrapes under --seccomp")
        get_ok(ctx, srv, "a.bin", os.path.join(root, "a.bin"))
        put_ok(ctx, srv, up, "up.bin")
        wait_values(url, [
            ("tftpx_transfers_total", {"direction": "get", "outcome": "ok"},
             1.0),
            ("tftpx_transfers_total", {"direction": "put", "outcome": "ok"},
             1.0),
            ("tftpx_bytes_total", {"direction": "put"}, 900.0)])
        # an idle connection left open, then closed by its peer
        s = socket.create_connection(("127.0.0.1", port), timeout=3)
        s.close()
        scrape(url)
        alive(srv, "after the transfers and scrapes under --seccomp")
        srv.p.send_signal(signal.SIGTERM)
        rc = srv.exit_code(10)
        check(rc is not None, "server did not exit on SIGTERM")
        check(rc == 0, "server exited %s on SIGTERM under --seccomp%s; "
              "stderr: %s" % (rc, " (SIGSYS)" if rc == -signal.SIGSYS
                              else "", srv.tail()))
    finally:
        if srv is not None:
            srv.stop()


if __name__ == "__main__":
    sys.exit(main(budget=SUITE_BUDGET))
