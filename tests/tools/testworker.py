#!/usr/bin/python3
"""A tiny workload for cairn-agent's tests. What it does comes from its
model: the blob at $CAIRN_MODEL_PATH is JSON {"behaviour": B, ...}:

  good           serve /healthz 200, /metrics, /v1/score {"band": "Pneumonia"}
  crash          exit 3 at once (a worker that crashes at start)
  unhealthy      serve, but /healthz answers 503 forever
  wrong-golden   healthy, but /v1/score says {"band": "Normal"}
  slow-start     healthy only after "delay" seconds

Before anything it checks that the model file's SHA-256 equals
$CAIRN_MODEL_SHA256 (what the signed desired state says): a mismatch
exits 7, so a test sees a wrong blob (invariant 1) as a failed worker.
Each start appends "start <pid> <sha256> <version> <generation>" to
$WORKER_LOG. Listens on 127.0.0.1:$WORKER_PORT. With $UPLOAD_COUNT, drops
that many files into $CAIRN_UPLOAD_DIR (hidden name, then rename).
With $WORKER_SICK_FILE, /healthz answers 503 while that file exists and
lists this worker's $CAIRN_GENERATION (a worker falling ill at run time).
"""
import hashlib
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer


def sick():
    path = os.environ.get("WORKER_SICK_FILE")
    if not path or not os.path.exists(path):
        return False
    return os.environ.get("CAIRN_GENERATION", "-") in open(path).read().split()


def main():
    path = os.environ.get("CAIRN_MODEL_PATH", "")
    data = open(path, "rb").read() if path else b"{}"
    sha = hashlib.sha256(data).hexdigest()
    if path and sha != os.environ.get("CAIRN_MODEL_SHA256"):
        sys.stderr.write("model digest %s is not the signed one\n" % sha)
        sys.exit(7)
    model = json.loads(data or b"{}")
    behaviour = model.get("behaviour", "good")
    log = os.environ.get("WORKER_LOG")
    if log:
        with open(log, "a") as f:
            f.write("start %d %s %s %s\n" % (os.getpid(), sha,
                                             os.environ.get("CAIRN_MODEL_VERSION", "-"),
                                             os.environ.get("CAIRN_GENERATION", "-")))
    sys.stdout.write("worker up: behaviour %s\n" % behaviour)
    sys.stdout.flush()
    if behaviour == "crash":
        sys.exit(3)
    started = time.time()
    up = os.environ.get("CAIRN_UPLOAD_DIR")
    for i in range(int(os.environ.get("UPLOAD_COUNT", "0"))):
        name = "img-%d-%d.png" % (os.getpid(), i)
        tmp = os.path.join(up, "." + name)
        with open(tmp, "wb") as f:
            f.write(b"anonymized %d %d %s" % (os.getpid(), i, sha.encode()))
        os.utime(tmp, (time.time() - 10, time.time() - 10))
        os.rename(tmp, os.path.join(up, name))

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def send(self, code, body, ctype="application/json"):
            b = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(b)))
            self.end_headers()
            self.wfile.write(b)

        def do_GET(self):
            if self.path == "/healthz":
                ok = behaviour not in ("unhealthy",) and not sick()
                if behaviour == "slow-start":
                    ok = time.time() - started > float(model.get("delay", 5))
                return self.send(200 if ok else 503, json.dumps({"model": sha}))
            if self.path == "/metrics":
                return self.send(200, "# TYPE xray_images_total counter\n"
                                      'xray_images_total{band="Pneumonia"} 3\n'
                                      'xray_images_total{band="Normal"} 5\n'
                                      "xray_latency_seconds 0.25\n", "text/plain")
            self.send(404, "{}")

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(n)
            if self.path == "/v1/score":
                band = "Normal" if behaviour == "wrong-golden" else "Pneumonia"
                return self.send(200, json.dumps({"band": band, "p": 0.91}))
            self.send(404, "{}")

    HTTPServer(("127.0.0.1", int(os.environ["WORKER_PORT"])), H).serve_forever()


if __name__ == "__main__":
    main()
