"""tests/lib/httporigin.py - HTTP origins for the --origin suite (stdlib).

Not a suite: tests/e2e/origin.py imports it (after tests/lib/tftpx_test.py,
whose Fail, Skip and kill_proc it uses).  Two origins:

  Nginx(root, port=0, dav=False, host="127.0.0.1", ns=None, extra="",
        tls=None)
        the real /usr/sbin/nginx (Debian's nginx-light) serving root, run
        in the foreground as one process (`daemon off; master_process
        off;`) from a config written into a temp dir of its own, with its
        pid file, error log, access log and temp paths there.  port 0: a
        free one (tried again on a lost race).  dav: `dav_methods PUT;
        create_full_put_path on;` (uploads land in root).  PUT below
        /denied/ is answered 403 (`limit_except GET HEAD { deny all; }`).
        ns: a tests/lib/netns.py NetNS to run it in (argv() and socket()
        are all that is used).  extra: more lines for the server block.
        tls: (certificate file, key file): HTTPS on the port.
        Ready when it answers a probe URL (not logged) with a token of
        this instance, so a stranger on the port is never taken for it.
        Skip naming the package when nginx is not installed.
          url()                   "http://127.0.0.1:PORT" ([::1] for v6;
                                  https with tls)
          access_lines()          the access log: one dict a request with
                                  method, uri (as sent, still encoded),
                                  status, bytes, client, file, options
                                  (the X-TFTP-* headers), inm, ims (the
                                  conditional headers), ua; "-" = absent
          count(method, uri, status)  how many entries match (None: any)
          wait_count(n, ...)      the count once it reaches n (bounded)
          stop()                  SIGTERM (then SIGKILL), temp dir removed
        A context manager.

  DynOrigin(host="127.0.0.1", sock=None)
        a stdlib HTTP/1.1 server (ThreadingHTTPServer) in a thread on
        host:0 (or on sock, a listening socket made elsewhere: in a
        namespace).  What each path does is set with route(path, ...)
        (the path unquoted, leading "/"); a path without a route is 404.
        Every request is recorded (method, raw path, unquoted path,
        headers, PUT body, what happened) in .requests.
          route(path, body=b"", status=200, headers=(), per_client=False,
                chunked=False, length=None, stall=None, stall_secs=20,
                reset=None, trickle=None, until=None, etag=None,
                redirect=None, put_status=201, put_hold=None)
            body        bytes, or a function of the request headers
            status      404, 403, 500 ... (a short text body)
            per_client  the body is client_body(X-TFTP-Client) with
                        `Vary: X-TFTP-Client` and `Cache-Control: private`
            chunked     no Content-Length: chunked encoding
            length      the Content-Length announced (default the body's)
            stall       "headers": read the request, send nothing for
                        stall_secs; N: send the head and N body bytes,
                        then nothing for stall_secs; then close.  Ended
                        early by stop().
            reset       N: Content-Length of the whole body, N bytes of
                        it, then a close with SO_LINGER 0 (an RST)
            trickle     (chunk, gap): chunk bytes every gap seconds;
                        with until (a threading.Event): trickle until it
                        is set, then the rest at once
            etag        an ETag; a matching If-None-Match gets 304
            redirect    (status, location)
            put_status  the answer to a PUT (2xx: body kept in .stored)
            put_hold    an Event: a PUT is answered only once it is set
          url()                   "http://127.0.0.1:PORT"
          reqs(method, path)      the recorded requests that match
          wait_req(pred, n=1, timeout)  the first n matching (bounded)
          stored                  {path: body} of PUTs answered 2xx
          stop()                  every waiting handler released, every
                                  connection closed
        A context manager.

  client_body(client)  the bytes a per_client route renders for a
                       client ("127.0.0.1:PORT", "[::1]:PORT").
"""

import http.server
import os
import shutil
import socket
import socketserver
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

from tftpx_test import Fail, Skip, kill_proc

NGINX = os.environ.get("NGINX") or "/usr/sbin/nginx"
PROBE = "/.tftpx-probe"

# the access log: one line a request, fields split by tabs (nginx
# escapes control characters in variables, so a tab is always ours)
LOG_FIELDS = ("method", "uri", "status", "bytes", "client", "file",
              "options", "inm", "ims", "ua")
LOG_FORMAT = "\\t".join((
    "$request_method", "$request_uri", "$status", "$body_bytes_sent",
    "$http_x_tftp_client", "$http_x_tftp_file", "$http_x_tftp_options",
    "$http_if_none_match", "$http_if_modified_since", "$http_user_agent"))

CONF = """\
{user}daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log info;
events {{ worker_connections 512; }}
http {{
    log_format tftpx '{fmt}';
    access_log {tmp}/access.log tftpx;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    default_type application/octet-stream;
    types {{ }}
    sendfile on;
    client_max_body_size 0;
    server {{
        listen {listen};
        server_name _;
        root {root};
        location / {{
{dav}        }}
        location /denied/ {{
            limit_except GET HEAD {{ deny all; }}
        }}
{tls}        location = {probe} {{
            access_log off;
            add_header X-Tftpx-Probe {token} always;
            return 204;
        }}
{extra}
    }}
}}
"""

DAV = """\
            dav_methods PUT;
            create_full_put_path on;
            dav_access user:rw group:r all:r;
"""


def hostport(host, port):
    return ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)


def _family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _http_probe(sock, host, port, path, timeout, tls=False):
    """(status, head text) of GET path on a fresh TCP socket, or None."""
    try:
        sock.settimeout(timeout)
        sock.connect((host, port))
        if tls:
            c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            c.check_hostname = False
            c.verify_mode = ssl.CERT_NONE
            sock = c.wrap_socket(sock)
        sock.sendall(("GET %s HTTP/1.0\r\nHost: x\r\n\r\n" % path).encode())
        data = b""
        end = time.monotonic() + timeout
        while b"\r\n\r\n" not in data and time.monotonic() < end:
            b = sock.recv(4096)
            if not b:
                break
            data += b
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        parts = head.split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            return None
        return int(parts[1]), head
    except OSError:
        return None
    finally:
        sock.close()


class Nginx:
    """The real nginx serving root (see the module's text)."""

    def __init__(self, root, port=0, dav=False, host="127.0.0.1", ns=None,
                 extra="", tls=None):
        if not os.access(NGINX, os.X_OK):
            raise Skip("%s not installed (apt-get install nginx-light)" %
                       NGINX)
        self.root = os.path.abspath(root)
        self.host = host
        self.ns = ns
        self.tls = tls
        self.p = None
        self.tmp = tempfile.mkdtemp(prefix="tftpx-nginx-")
        os.chmod(self.tmp, 0o755)
        self.token = os.urandom(8).hex()
        self.access = os.path.join(self.tmp, "access.log")
        self.errlog = os.path.join(self.tmp, "error.log")
        try:
            self._start(port, dav, extra)
        except BaseException:
            self.stop()
            raise

    def _sock(self, type=socket.SOCK_STREAM):
        fam = _family(self.host)
        if self.ns is not None:
            return self.ns.socket(fam, type)
        return socket.socket(fam, type)

    def _free_port(self):
        s = self._sock()
        try:
            s.bind((self.host, 0))
            return s.getsockname()[1]
        finally:
            s.close()

    def _start(self, port, dav, extra):
        why = ""
        for _ in range(3 if port == 0 else 1):
            self.port = port or self._free_port()
            conf = os.path.join(self.tmp, "nginx.conf")
            with open(conf, "w") as f:
                f.write(CONF.format(
                    user="user root;\n" if os.geteuid() == 0 else "",
                    tmp=self.tmp, fmt=LOG_FORMAT, root=self.root,
                    listen=hostport(self.host, self.port) +
                    (" ssl" if self.tls else ""),
                    tls=("        ssl_certificate %s;\n"
                         "        ssl_certificate_key %s;\n" % self.tls
                         if self.tls else ""),
                    dav=DAV if dav else "", probe=PROBE, token=self.token,
                    extra=extra))
            argv = [NGINX, "-p", self.tmp, "-c", conf, "-e", self.errlog]
            if self.ns is not None:
                argv = self.ns.argv(argv)
            self.argv = argv
            with open(os.path.join(self.tmp, "stderr"), "wb") as err:
                self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                          stdout=err, stderr=err,
                                          start_new_session=True)
            end = time.monotonic() + 8
            while time.monotonic() < end:
                if self.p.poll() is not None:
                    break
                r = _http_probe(self._sock(), self.host, self.port, PROBE,
                                1.0, bool(self.tls))
                if r and r[0] == 204 and self.token in r[1]:
                    return
                time.sleep(0.05)
            kill_proc(self.p)
            why = self._errors()
            if "in use" not in why:
                break
        raise Fail("nginx did not start on %s (exit %s): %s" % (
            hostport(self.host, self.port), self.p.poll(), why))

    def _errors(self):
        out = []
        for n in ("stderr", "error.log"):
            try:
                with open(os.path.join(self.tmp, n), "rb") as f:
                    out += [l for l in f.read().decode(
                        "utf-8", "replace").splitlines() if "[notice]"
                        not in l and l.strip()]
            except OSError:
                pass
        return " | ".join(out[-4:]) or "(no error logged)"

    def url(self):
        return ("https://" if self.tls else "http://") + \
            hostport(self.host, self.port)

    def access_lines(self):
        try:
            with open(self.access, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            parts = line.split("\t")
            if len(parts) != len(LOG_FIELDS):
                continue
            out.append(dict(zip(LOG_FIELDS, parts)))
        return out

    def entries(self, method=None, uri=None, status=None):
        return [e for e in self.access_lines()
                if (method is None or e["method"] == method) and
                (uri is None or e["uri"] == uri) and
                (status is None or e["status"] == str(status))]

    def count(self, method=None, uri=None, status=None):
        return len(self.entries(method, uri, status))

    def wait_count(self, n, method=None, uri=None, status=None,
                   timeout=5.0):
        """The count once it is n or more, or after timeout seconds."""
        end = time.monotonic() + timeout
        while True:
            c = self.count(method, uri, status)
            if c >= n or time.monotonic() >= end:
                return c
            time.sleep(0.05)

    def errors(self):
        return self._errors()

    def stop(self):
        if self.p is not None:
            kill_proc(self.p)
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# ================================================================ DynOrigin


def client_body(client):
    """What a per_client route renders for client: > 512 bytes."""
    return ("served to %s\n" % client).encode() * 60


class Route:
    def __init__(self, body=b"", status=200, headers=(), per_client=False,
                 chunked=False, length=None, stall=None, stall_secs=20.0,
                 reset=None, trickle=None, until=None, etag=None,
                 redirect=None, put_status=201, put_hold=None):
        self.body, self.status, self.headers = body, status, list(headers)
        self.per_client, self.chunked, self.length = per_client, chunked, \
            length
        self.stall, self.stall_secs, self.reset = stall, stall_secs, reset
        self.trickle, self.until, self.etag = trickle, until, etag
        self.redirect = redirect
        self.put_status, self.put_hold = put_status, put_hold


class Req:
    """One recorded request."""

    def __init__(self, method, raw, headers):
        self.method = method
        self.raw = raw                      # the path as sent
        self.path = urllib.parse.unquote(urllib.parse.urlsplit(raw).path,
                                         errors="surrogateescape")
        self.headers = headers              # {lower-case name: value}
        self.body = None                    # a PUT's
        self.what = "open"                  # what became of it
        self.sent = 0                       # body bytes sent
        self.t0 = time.monotonic()
        self.t1 = None

    def h(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return "%s %s (%s)" % (self.method, self.raw, self.what)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "dynorigin/1"
    timeout = 60                            # an idle kept-alive connection

    def log_message(self, *a):
        pass

    def setup(self):
        super().setup()
        self.server.origin._conn(self.connection, True)

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        self.server.origin._conn(self.connection, False)

    def do_GET(self):
        self.server.origin._serve(self, head=False)

    def do_HEAD(self):
        self.server.origin._serve(self, head=True)

    def do_PUT(self):
        self.server.origin._put(self)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self):
        # HTTPServer's would look our own name up (getfqdn): not needed,
        # and slow in a namespace without a resolver
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = host, port

    def handle_error(self, request, client_address):
        # a client that resets a kept-alive connection is no error here
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class DynOrigin:
    """A configurable origin in this process (see the module's text)."""

    def __init__(self, host="127.0.0.1", sock=None):
        self.host = host
        self.routes = {}
        self.requests = []
        self.stored = {}
        self.cv = threading.Condition()
        self.stopping = threading.Event()
        self.conns = set()

        cls = type("_S", (_Server,), {"address_family": _family(host)})
        self.httpd = cls((host, 0), _Handler, bind_and_activate=False)
        if sock is not None:
            self.httpd.socket.close()
            self.httpd.socket = sock
        try:
            self.httpd.server_bind()
            self.httpd.server_activate()
        except OSError:
            self.httpd.server_close()
            raise
        self.httpd.origin = self
        self.port = self.httpd.socket.getsockname()[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()

    # --------------------------------------------------------- the API

    def url(self):
        return "http://" + hostport(self.host, self.port)

    def route(self, path, **kw):
        r = Route(**kw)
        self.routes["/" + path.lstrip("/")] = r
        return r

    def reqs(self, method=None, path=None):
        with self.cv:
            return [r for r in self.requests
                    if (method is None or r.method == method) and
                    (path is None or r.path == "/" + path.lstrip("/"))]

    def wait_req(self, pred, n=1, timeout=5.0):
        """The requests matching pred once there are n (or after timeout
        seconds, however many there are)."""
        end = time.monotonic() + timeout
        with self.cv:
            while True:
                got = [r for r in self.requests if pred(r)]
                left = end - time.monotonic()
                if len(got) >= n or left <= 0:
                    return got
                self.cv.wait(min(left, 0.2))

    def stop(self):
        self.stopping.set()
        try:
            self.httpd.shutdown()
        except Exception:
            pass
        with self.cv:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        try:
            self.httpd.server_close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # --------------------------------------------------------- inside

    def _conn(self, c, live):
        with self.cv:
            if live:
                self.conns.add(c)
            else:
                self.conns.discard(c)

    def _record(self, h):
        headers = {k.lower(): v for k, v in h.headers.items()}
        r = Req(h.command, h.path, headers)
        with self.cv:
            self.requests.append(r)
            self.cv.notify_all()
        return r

    def _done(self, r, what):
        with self.cv:
            r.what = what
            r.t1 = time.monotonic()
            self.cv.notify_all()

    def _sent(self, r, n):
        with self.cv:
            r.sent += n
            self.cv.notify_all()

    def _pause(self, secs, ev=None):
        """Wait secs, or until ev (if any) or stop(); True if ev is set."""
        end = time.monotonic() + secs
        while time.monotonic() < end and not self.stopping.is_set():
            if ev is not None and ev.is_set():
                return True
            time.sleep(0.02)
        return ev is not None and ev.is_set()

    def _serve(self, h, head):
        r = self._record(h)
        try:
            self._answer(h, r, head)
        except (BrokenPipeError, ConnectionResetError, socket.timeout,
                OSError) as e:
            h.close_connection = True
            self._done(r, "client went away (%s)" % type(e).__name__)

    def _answer(self, h, r, head):
        rt = self.routes.get(r.path)
        if rt is None:
            return self._plain(h, r, 404, head)
        if rt.stall == "headers":
            h.close_connection = True
            self._pause(rt.stall_secs)
            return self._done(r, "stalled before headers, released")
        if rt.redirect:
            code, loc = rt.redirect
            h.send_response(code)
            h.send_header("Location", loc)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return self._done(r, "redirected")
        if rt.status != 200:
            return self._plain(h, r, rt.status, head)
        body = rt.body
        client = r.h("x-tftp-client") or ""
        if rt.per_client:
            body = client_body(client)
        elif callable(body):
            body = body(r.headers)
        if rt.etag and r.h("if-none-match") == rt.etag:
            h.send_response(304)
            h.send_header("ETag", rt.etag)
            h.end_headers()
            return self._done(r, "304")
        h.send_response(200)
        for k, v in rt.headers:
            h.send_header(k, v)
        if rt.per_client:
            h.send_header("Vary", "X-TFTP-Client")
            h.send_header("Cache-Control", "private")
        if rt.etag:
            h.send_header("ETag", rt.etag)
        h.send_header("Content-Type", "application/octet-stream")
        if rt.chunked:
            h.send_header("Transfer-Encoding", "chunked")
        else:
            h.send_header("Content-Length", str(
                rt.length if rt.length is not None else len(body)))
        if rt.stall is not None or rt.reset is not None:
            h.close_connection = True
            h.send_header("Connection", "close")
        h.end_headers()
        if head:
            return self._done(r, "head")
        if rt.stall is not None:
            self._write(h, r, rt, body[:rt.stall])
            self._pause(rt.stall_secs)
            h.close_connection = True
            return self._done(r, "stalled after %d bytes, released" %
                              rt.stall)
        if rt.reset is not None:
            self._write(h, r, rt, body[:rt.reset])
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                    struct.pack("ii", 1, 0))
            h.close_connection = True
            try:
                h.rfile.close()
            except OSError:
                pass
            h.connection.close()
            return self._done(r, "reset after %d bytes" % rt.reset)
        if rt.trickle:
            chunk, gap = rt.trickle
            off = 0
            # bounded: one chunk a gap, never past the body
            for _ in range(len(body) // max(chunk, 1) + 2):
                if rt.until is not None and rt.until.is_set():
                    break
                if off + chunk >= len(body) and rt.until is not None:
                    # hold the last bytes until released
                    self._pause(120, rt.until)
                    break
                if off >= len(body):
                    break
                self._write(h, r, rt, body[off:off + chunk])
                off += chunk
                if self.stopping.is_set():
                    return self._done(r, "stopped")
                self._pause(gap)
            self._write(h, r, rt, body[off:])
        else:
            self._write(h, r, rt, body)
        if rt.chunked:
            h.wfile.write(b"0\r\n\r\n")
        self._done(r, "sent")

    def _write(self, h, r, rt, data):
        if not data:
            return
        if rt.chunked:
            h.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")
        else:
            h.wfile.write(data)
        self._sent(r, len(data))

    def _plain(self, h, r, status, head):
        text = ("%d from dynorigin\n" % status).encode()
        h.send_response(status)
        h.send_header("Content-Type", "text/plain")
        h.send_header("Content-Length", str(len(text)))
        h.end_headers()
        if not head:
            h.wfile.write(text)
        self._done(r, str(status))

    def _read_body(self, h):
        te = (h.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = b""
            for _ in range(1 << 20):            # bounded
                line = h.rfile.readline(100)
                n = int(line.split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    while h.rfile.readline(1000) not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += h.rfile.read(n)
                h.rfile.readline(10)
            return out
        n = int(h.headers.get("Content-Length") or 0)
        return h.rfile.read(n) if n else b""

    def _put(self, h):
        r = self._record(h)
        try:
            body = self._read_body(h)
            with self.cv:
                r.body = body
                self.cv.notify_all()
            rt = self.routes.get(r.path) or Route()
            if rt.put_hold is not None:
                self._pause(60, rt.put_hold)
            status = rt.put_status
            if 200 <= status < 300:
                with self.cv:
                    self.stored[r.path] = body
            h.send_response(status)
            h.send_header("Content-Length", "0")
            h.end_headers()
            self._done(r, "put %d" % status)
        except (OSError, ValueError) as e:
            h.close_connection = True
            self._done(r, "put failed (%s)" % e)
