"""A loopback HTTPS git server for tests: smart HTTP through the real
`git http-backend`, run as a CGI program per request, optionally behind
Basic authentication.

usage: git_https_server.py ROOT CERT KEY PORTFILE [USER PASSWORD]
Serves the repositories under ROOT on 127.0.0.1 (a free port, written to
PORTFILE once listening) until killed.
"""
import base64
import http.server
import ssl
import subprocess
import sys
import urllib.parse


def read_body(h):
    if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
        out = b""
        while True:
            n = int(h.rfile.readline().split(b";")[0], 16)
            if n == 0:
                h.rfile.readline()
                return out
            out += h.rfile.read(n)
            h.rfile.readline()
    return h.rfile.read(int(h.headers.get("Content-Length") or 0))


class Handler(http.server.BaseHTTPRequestHandler):
    root = user = password = None

    def log_message(self, fmt, *args):
        sys.stderr.write("git-https: " + (fmt % args) + "\n")

    def authorized(self):
        if self.user is None:
            return True
        want = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return self.headers.get("Authorization", "") == "Basic " + want

    def serve(self):
        body = read_body(self) if self.command == "POST" else b""
        if not self.authorized():
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        url = urllib.parse.urlsplit(self.path)
        env = {
            "GIT_PROJECT_ROOT": self.root,
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": urllib.parse.unquote(url.path),
            "QUERY_STRING": url.query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": "127.0.0.1",
            "REMOTE_USER": self.user or "",
            "PATH": "/usr/bin:/bin",
        }
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        out = subprocess.run(["git", "http-backend"], input=body, env=env,
                             capture_output=True).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = out.partition(b"\n\n")
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            k, _, v = line.partition(":")
            if k.lower() == "status":
                status = int(v.split()[0])
            elif k:
                headers.append((k, v.strip()))
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = serve
    do_POST = serve


def main():
    root, cert, key, portfile = sys.argv[1:5]
    Handler.root = root
    if len(sys.argv) > 6:
        Handler.user, Handler.password = sys.argv[5], sys.argv[6]
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(portfile + ".tmp", portfile)
    srv.serve_forever()


if __name__ == "__main__":
    main()
