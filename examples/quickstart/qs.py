#!/usr/bin/python3
"""Helpers of the quickstart (examples/quickstart/run): reading the
controller's JSON, and the hospitals' staff-notification receiver.

  qs.py sites URL          one line per site: name state served applied
                           running failure-type failure-generation (the
                           update that did not land, "-" when none)
  qs.py site URL SITE KEY  one field of /v1/sites/SITE (dotted path)
  qs.py models URL         the per-model-version view, as a table
  qs.py notify PORT TOKENS LOG
                           receive the workers' high-risk notifications on
                           127.0.0.1:PORT: POST /SITE/..., bearer token
                           TOKENS/SITE.token, one JSON line per new event
                           (Idempotency-Key) appended to LOG
  qs.py free-ports N       N free TCP ports on 127.0.0.1
"""
import http.server
import json
import os
import socket
import sys
import urllib.request


def get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


def sites(base):
    out = []
    for s in get(base + "/v1/sites?limit=1000")["sites"]:
        d = get(base + "/v1/sites/" + s["name"])
        err = d.get("failure") or {}
        served = d.get("served") or {}
        out.append(" ".join(str(x) for x in (
            s["name"], s["state"], served.get("generation", "-"),
            "-" if s.get("applied") is None else s["applied"],
            s.get("running") or "-", err.get("type", "-"),
            err.get("generation", "-"))))
    print("\n".join(out))


def site_field(base, site, key):
    v = get(base + "/v1/sites/" + site)
    for k in key.split("."):
        v = v[int(k)] if isinstance(v, list) else (v or {}).get(k)
    print(json.dumps(v) if isinstance(v, (dict, list)) else v)


def pct(x):
    return "-" if x is None else "%.1f%%" % (100 * x)


def models(base):
    v = get(base + "/v1/fleet/models")
    rows = [("MODEL", "RUNNING AT", "IMAGES", "HIGH", "LOW", "UNSURE", "UNSURE%",
             "REVIEWED", "ACCURACY", "UPLOADS")]
    for m in v["models"]:
        b = m["bands"]
        rows.append(((m["model"] or "?") + "@" + m["version"], str(len(m["sitesRunning"])),
                     str(m["imagesProcessed"]), str(b.get("high", 0)),
                     str(b.get("low", 0)), str(b.get("unknown", 0)),
                     pct(m.get("unsureRate")), str(m["reviewed"]["images"]),
                     pct(m["reviewed"].get("accuracy")), str(m["uploads"]["count"])))
    w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip())


class Notify(http.server.BaseHTTPRequestHandler):
    tokens = ""
    log = ""
    seen = set()

    def log_message(self, *args):
        pass

    def answer(self, code):
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(n, 1 << 20))
        site = self.path.strip("/").split("/")[0]
        try:
            with open(os.path.join(self.tokens, site + ".token")) as f:
                want = "Bearer " + f.read().strip()
        except OSError:
            return self.answer(404)
        if self.headers.get("Authorization") != want:
            return self.answer(401)
        key = self.headers.get("Idempotency-Key", "")
        if key not in Notify.seen:
            Notify.seen.add(key)
            try:
                event = json.loads(body)
            except ValueError:
                return self.answer(400)
            with open(self.log, "a") as f:
                f.write(json.dumps({"path": self.path, "event": event}) + "\n")
        self.answer(200)


def notify(port, tokens, log):
    Notify.tokens, Notify.log = tokens, log
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), Notify)
    srv.serve_forever()


def free_ports(n):
    socks, ports = [], []
    for _ in range(int(n)):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    print(" ".join(map(str, ports)))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    try:
        {"sites": sites, "site": site_field, "models": models, "notify": notify,
         "free-ports": free_ports}[cmd](*args)
    except (OSError, ValueError, KeyError) as e:
        print("qs.py %s: %s" % (cmd, e), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
