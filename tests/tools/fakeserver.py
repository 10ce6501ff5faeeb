#!/usr/bin/python3
"""Scriptable HTTP server for cairn's network tests (loopback only).

    fakeserver.py --root DIR [--tls CERT KEY] [--lifetime SECONDS]

Binds 127.0.0.1 on a free port and prints "PORT <n>" on stdout. Exits when
its stdin closes (the test that started it went away) or after --lifetime.

Routes
  GET|HEAD /f/<name>?opts   the file DIR/<name>, Range "bytes=N-" / "N-M"
      status=N        answer N with a short text body instead
      retry_after=V   with status: a Retry-After header
      endless=1       with status: no length, and the error body never ends
                      (until the client hangs up)
      ignore_range=1  answer 200 with the whole file even to a Range request
      bad_cr=1        206 whose Content-Range starts one byte late
      extra=M         M junk bytes after the file (Content-Length covers them)
      extra_gap=S     pause S seconds between the file and the extra bytes
      nolen=1         no Content-Length; the body ends when the server closes
      cuts=a,b,...    the k-th request with this exact path+query stops after
                      absolute offset cuts[k] and drops the connection
      rate=B          trickle at B bytes per second
      corrupt=1       one byte in the middle is flipped
      delay=S         wait S seconds before answering
      etag=X          send ETag: X
  ANY /echo?opts            JSON {method, path, headers, body, peer_port};
                            status=N,
                            size=N (body of N 'x' instead), delay=S
  GET /_log                 one line per request: "METHOD PATH RANGE"
  GET /_reset               clear the log and the cut counters
"""
import argparse
import json
import os
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
LOG = []
COUNTERS = {}
ROOT = "."


def log_request(method, path, rng):
    with LOCK:
        LOG.append("%s %s %s" % (method, path, rng or "-"))


def next_count(key):
    with LOCK:
        n = COUNTERS.get(key, 0)
        COUNTERS[key] = n + 1
        return n


def parse_range(value, size):
    """(start, end) inclusive for "bytes=N-" or "bytes=N-M", else None."""
    if not value or not value.startswith("bytes="):
        return None
    spec = value[6:]
    if "," in spec or "-" not in spec:
        return None
    a, b = spec.split("-", 1)
    if not a.isdigit() or (b and not b.isdigit()):
        return None
    start = int(a)
    end = int(b) if b else size - 1
    return start, min(end, size - 1)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakeserver/1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def opts(self):
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        return u.path, q

    def send_text(self, code, text, extra_headers=()):
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra_headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def handle_any(self):
        path, q = self.opts()
        if path == "/_log":
            with LOCK:
                text = "".join(line + "\n" for line in LOG)
            return self.send_text(200, text)
        if path == "/_reset":
            with LOCK:
                LOG.clear()
                COUNTERS.clear()
            return self.send_text(200, "ok\n")
        log_request(self.command, self.path, self.headers.get("Range"))
        if "delay" in q:
            time.sleep(float(q["delay"]))
        if path == "/echo":
            return self.echo(q)
        if path.startswith("/f/"):
            return self.serve_file(path[3:], q)
        return self.send_text(404, "no such route\n")

    def echo(self, q):
        body = self.read_body()
        code = int(q.get("status", "200"))
        if "size" in q:
            return self.send_text(code, "x" * int(q["size"]))
        doc = {
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body.decode("latin-1"),
            "peer_port": self.client_address[1],
        }
        return self.send_text(code, json.dumps(doc, sort_keys=True))

    def serve_file(self, name, q):
        if "status" in q:
            hdrs = []
            if "retry_after" in q:
                hdrs.append(("Retry-After", q["retry_after"]))
            if q.get("endless"):
                return self.endless_error(int(q["status"]), hdrs)
            return self.send_text(int(q["status"]), "fake error %s\n" % q["status"], hdrs)
        fpath = os.path.join(ROOT, os.path.basename(name))
        try:
            with open(fpath, "rb") as f:
                data = bytearray(f.read())
        except OSError:
            return self.send_text(404, "no such file\n")
        size = len(data)
        if q.get("corrupt") and size:
            data[size // 2] ^= 0xFF
        rng = None if q.get("ignore_range") else parse_range(self.headers.get("Range"), size)
        if rng and rng[0] >= size:
            return self.send_text(416, "unsatisfiable\n", [("Content-Range", "bytes */%d" % size)])
        start, end = rng if rng else (0, size - 1)
        body = bytes(data[start:end + 1]) + b"J" * int(q.get("extra", "0"))
        self.send_response(206 if rng else 200)
        if rng:
            cr_start = start + 1 if q.get("bad_cr") else start
            self.send_header("Content-Range", "bytes %d-%d/%d" % (cr_start, end, size))
        if "etag" in q:
            self.send_header("ETag", q["etag"])
        self.send_header("Content-Type", "application/octet-stream")
        if q.get("nolen"):
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if q.get("extra_gap") and "extra" in q:
            # The file's bytes first, alone, then the junk.
            split = end + 1 - start
            self.send_body(body[:split], start, q, final=False)
            time.sleep(float(q["extra_gap"]))
            self.send_body(body[split:], end + 1, q)
            return
        self.send_body(body, start, q)

    def endless_error(self, code, hdrs):
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Connection", "close")
        for k, v in hdrs:
            self.send_header(k, v)
        self.end_headers()
        self.close_connection = True
        junk = b"e" * 65536
        try:
            self.wfile.write(b"fake error %d\n" % code)
            while True:
                self.wfile.write(junk)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def send_body(self, body, start, q, final=True):
        limit = len(body)
        cuts = [int(x) for x in q["cuts"].split(",")] if "cuts" in q else []
        if cuts:
            k = next_count(self.path)
            if k < len(cuts):
                limit = max(0, min(limit, cuts[k] - start))
        rate = float(q.get("rate", "0"))
        step = 65536 if not rate else max(1, int(rate / 10))
        pos = 0
        try:
            while pos < limit:
                n = min(step, limit - pos)
                self.wfile.write(body[pos:pos + n])
                self.wfile.flush()
                pos += n
                if rate:
                    time.sleep(n / rate)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return
        if final and limit < len(body):
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    do_GET = handle_any
    do_HEAD = handle_any
    do_POST = handle_any
    do_PUT = handle_any
    do_DELETE = handle_any


def watch_stdin():
    try:
        while sys.stdin.buffer.read(1):
            pass
    finally:
        os._exit(0)


def main():
    global ROOT
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=".")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--lifetime", type=float, default=600)
    args = ap.parse_args()
    ROOT = args.root
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls[0], args.tls[1])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=watch_stdin, daemon=True).start()
    threading.Timer(args.lifetime, lambda: os._exit(0)).start()
    sys.stdout.write("PORT %d\n" % srv.server_address[1])
    sys.stdout.flush()
    srv.serve_forever()


if __name__ == "__main__":
    main()
