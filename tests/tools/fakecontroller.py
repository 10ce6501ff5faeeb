#!/usr/bin/python3
"""A small stand-in for cairn-controller, for cairn-agent's integration,
attack and fault tests (loopback only). It speaks the agent's side of
docs/protocol.md and records what the agent reports.

    fakecontroller.py --key CONTROLLER.key --site NAME=SITE.pub
                      [--publisher-key PUB.key] [--artifacts DIR]
                      [--state DIR] [--port N] [--lifetime S] [--tls CERT KEY]

Prints "PORT <n>" once listening on 127.0.0.1. Exits when stdin closes or
after --lifetime seconds. With --state, published envelopes and stored
reports survive a restart (the "controller down, then back" tests).

Keys are OpenSSH ed25519 files as `cairnctl keygen` (or ssh-keygen -t
ed25519 -N '') writes them; signatures are made with /usr/bin/python3's
nacl, independently of libcairn.

Agent API (docs/protocol.md)
  POST /v1/sites/S/session     DSSE session request -> {token, expires}
  GET  /v1/sites/S/desired     ETag / If-None-Match / ?wait=
  POST /v1/sites/S/reports     DSSE report, seq rules (200 stored / dup, 409)
  POST /v1/sites/S/uploads     ?name=&sha256=, 201 / 200
  GET  /v1/artifacts/sha256/H  Range; fault options in the query string:
        extra=N (N junk bytes past the file), nolen=1 (no Content-Length),
        rate=B (bytes/s),
        corrupt=1, cut=N (drop the connection at offset N, once per URL)

Control API (tests only)
  POST /_control/publish?site=S   body: a spec (see publish()); the server
                                  builds, signs and serves it; answers
                                  {"generation": N, "etag": E, "bytes": n}
  POST /_control/publish_raw?site=S&etag=E   body: served as is
  GET  /_control/reports?site=S   {"reports": [payloads], "received": n,
                                  "duplicates": n, "conflicts": n}
  GET  /_control/uploads?site=S   {"uploads": [{name, sha256, version}]}
  POST /_control/faults           {"fail_next": N, "down": bool,
                                  "drop_report_answers": N, "token_ttl": S}
  GET  /_control/log              one line per agent request
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import nacl.exceptions
import nacl.signing

DESIRED_TYPE = "application/vnd.cairn.desired+json"
REPORT_TYPE = "application/vnd.cairn.report+json"
SESSION_TYPE = "application/vnd.cairn.session+json"
INTOTO_TYPE = "application/vnd.in-toto+json"

LOCK = threading.Condition()
G = {}  # server state, under LOCK


# ---- keys and DSSE -----------------------------------------------------------

def _ssh_string(buf, off):
    (n,) = struct.unpack(">I", buf[off:off + 4])
    return buf[off + 4:off + 4 + n], off + 4 + n


def load_private(path):
    """nacl SigningKey from an unencrypted OpenSSH ed25519 private key."""
    text = open(path).read()
    body = "".join(l for l in text.splitlines() if l and not l.startswith("-----"))
    raw = base64.b64decode(body)
    magic = b"openssh-key-v1\0"
    assert raw.startswith(magic), "not an OpenSSH private key"
    off = len(magic)
    cipher, off = _ssh_string(raw, off)
    assert cipher == b"none", "encrypted key"
    _, off = _ssh_string(raw, off)  # kdfname
    _, off = _ssh_string(raw, off)  # kdfoptions
    off += 4  # nkeys
    _, off = _ssh_string(raw, off)  # public key blob
    priv, _ = _ssh_string(raw, off)
    p = 8  # check ints
    ktype, p = _ssh_string(priv, p)
    assert ktype == b"ssh-ed25519"
    _, p = _ssh_string(priv, p)
    sk, p = _ssh_string(priv, p)
    return nacl.signing.SigningKey(sk[:32])


def load_public(path_or_line):
    line = path_or_line
    if not line.startswith("ssh-ed25519 "):
        line = open(path_or_line).read().strip()
    blob = base64.b64decode(line.split()[1])
    ktype, off = _ssh_string(blob, 0)
    assert ktype == b"ssh-ed25519"
    pk, _ = _ssh_string(blob, off)
    return nacl.signing.VerifyKey(pk)


def keyid(vk):
    return hashlib.sha256(bytes(vk)).hexdigest()[:16]


def canonical(v):
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def pae(ptype, body):
    t = ptype.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


def dsse_sign(ptype, body, sk):
    sig = sk.sign(pae(ptype, body)).signature
    return {"payloadType": ptype, "payload": base64.b64encode(body).decode(),
            "signatures": [{"keyid": keyid(sk.verify_key), "sig": base64.b64encode(sig).decode()}]}


def dsse_open(text, ptype, vk):
    """Payload bytes of a DSSE envelope signed by vk, or raise ValueError."""
    env = json.loads(text)
    if env.get("payloadType") != ptype:
        raise ValueError("wrong payloadType")
    body = base64.b64decode(env["payload"], validate=True)
    for s in env.get("signatures", []):
        if s.get("keyid") == keyid(vk):
            try:
                vk.verify(pae(ptype, body), base64.b64decode(s["sig"]))
                return body
            except nacl.exceptions.BadSignatureError:
                raise ValueError("bad signature")
    raise ValueError("not signed by the site key")


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


# ---- persistence --------------------------------------------------------------

def save():
    if not G["state_dir"]:
        return
    doc = {"sites": {s: {k: v for k, v in st.items() if k not in ("nonces", "pub")}
                     for s, st in G["sites"].items()}}
    tmp = os.path.join(G["state_dir"], ".fake.json.tmp")
    with open(tmp, "w") as f:
        json.dump(doc, f)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, os.path.join(G["state_dir"], "fake.json"))


def restore():
    path = os.path.join(G["state_dir"] or "", "fake.json")
    if G["state_dir"] and os.path.exists(path):
        for s, st in json.load(open(path))["sites"].items():
            if s in G["sites"]:
                G["sites"][s].update(st)


# ---- building desired states ------------------------------------------------

def sha_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest(), os.path.getsize(path)


def attestation(key, sha, size, name, version):
    st = {"_type": "https://in-toto.io/Statement/v1",
          "predicate": {"name": name, "size": size, "version": version},
          "predicateType": "cairn.dev/model/v1",
          "subject": [{"digest": {"sha256": sha}, "name": name + ".bin"}]}
    return dsse_sign(INTOTO_TYPE, canonical(st), key)


def build_model(m, base_url):
    """A workload's model from a spec: {file, name, version, urls?, attest?}."""
    path = os.path.join(G["artifacts"], m["file"])
    sha, size = sha_file(path)
    att = m.get("attest", {})
    key = load_private(att["key"]) if "key" in att else G["publisher"]
    urls = m.get("urls")
    if urls is None:
        urls = []
    urls = [u.replace("{sha256}", sha).replace("{base}", base_url) for u in urls]
    out = {"name": m.get("name", "model"), "version": m.get("version", "v1"),
           "sha256": m.get("sha256", sha), "size": m.get("size", size), "urls": urls}
    out["attestation"] = m.get("attestation") or attestation(
        key, att.get("sha256", sha), att.get("size", size),
        att.get("name", out["name"]), att.get("version", out["version"]))
    return out


def build_files(files):
    out = []
    for f in files:
        f = dict(f)
        content = f["content"].encode()
        if f.get("encoding") == "base64":
            content = base64.b64decode(f["content"])
        f.setdefault("mode", "0644")
        f.setdefault("sha256", hashlib.sha256(content).hexdigest())
        out.append(f)
    return out


def publish(site, spec, base_url):
    """Spec keys: generation (default: next), issued / expires (unix) or
    ttl (seconds, may be negative), payload_site, workloads (entries; a
    `model` may be a spec for build_model), sign_key (path), pad (bytes of
    padding in source.repo), extra (merged into the payload)."""
    st = G["sites"][site]
    now = int(time.time())
    gen = spec.get("generation", st["generation"] + 1)
    issued = spec.get("issued", max(now, st.get("issued", 0) + 1))
    expires = spec.get("expires", issued + spec.get("ttl", 7 * 86400))
    workloads = []
    for w in spec.get("workloads", []):
        w = dict(w)
        if isinstance(w.get("model"), dict) and "file" in w["model"]:
            w["model"] = build_model(w["model"], base_url)
        if "files" in w:
            w["files"] = build_files(w["files"])
        w.setdefault("exec", {"command": ["/bin/true"], "env": {}})
        workloads.append(w)
    payload = {"kind": "cairn.desired/v1", "site": spec.get("payload_site", site),
               "generation": gen, "issued": rfc3339(issued), "expires": rfc3339(expires),
               "source": {"repo": "https://git.example/fleet" + "x" * spec.get("pad", 0),
                          "commit": "%040x" % gen, "signer": None},
               "workloads": workloads}
    payload.update(spec.get("extra", {}))
    key = load_private(spec["sign_key"]) if "sign_key" in spec else G["key"]
    env = canonical(dsse_sign(DESIRED_TYPE, canonical(payload), key))
    etag = '"%d.%d"' % (gen, issued)
    serve(site, env, etag, max(st["generation"], gen), issued)
    return {"generation": gen, "etag": etag, "bytes": len(env), "payload": payload}


def serve(site, env, etag, gen, issued):
    st = G["sites"][site]
    st["envelope"] = env.decode("latin-1") if isinstance(env, bytes) else env
    st["etag"] = etag
    st["generation"] = gen
    st["issued"] = issued
    save()
    LOCK.notify_all()


# ---- HTTP ----------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakecontroller/1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, body=b"", ctype="application/json", headers=()):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode("latin-1")
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def error(self, code, text):
        self.reply(code, {"error": text, "status": code})

    def body(self, cap=64 << 20):
        if len(self._body) > cap:
            raise ValueError("body too large")
        return self._body

    def route(self):
        # Read the whole request body first, so that an early answer (a
        # fault) leaves the kept-alive connection in step.
        n = int(self.headers.get("Content-Length") or 0)
        self._body = self.rfile.read(n) if n else b""
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        parts = u.path.strip("/").split("/")
        if parts[0] == "_control":
            return self.control(parts[1] if len(parts) > 1 else "", q)
        with LOCK:
            G["log"].append("%s %s %s" % (self.command, self.path, self.headers.get("Range") or "-"))
            f = G["faults"]
            if f.get("down"):
                return self.error(503, "down for a test")
            if f.get("fail_next", 0) > 0:
                f["fail_next"] -= 1
                return self.error(503, "storm for a test")
        if parts[:2] == ["v1", "artifacts"] and len(parts) == 4 and self.command in ("GET", "HEAD"):
            return self.artifact(parts[3], q)
        if len(parts) == 4 and parts[:2] == ["v1", "sites"]:
            site, what = parts[2], parts[3]
            if site not in G["sites"]:
                return self.error(404, "unknown site")
            if what == "session" and self.command == "POST":
                return self.session(site)
            if not self.authorized(site):
                return
            if what == "desired" and self.command == "GET":
                return self.desired(site, q)
            if what == "reports" and self.command == "POST":
                return self.report(site)
            if what == "uploads" and self.command == "POST":
                return self.upload(site, q)
        return self.error(404, "no such route")

    do_GET = do_POST = do_HEAD = route

    # -- sessions and tokens

    def session(self, site):
        st = G["sites"][site]
        try:
            body = dsse_open(self.body(4096), SESSION_TYPE, st["pub"])
            req = json.loads(body)
        except (ValueError, KeyError) as e:
            return self.error(401, "session: %s" % e)
        if req.get("site") != site:
            return self.error(400, "site differs from the path")
        if abs(req.get("time", 0) - time.time()) > 300:
            return self.error(401, "stale timestamp")
        with LOCK:
            if req.get("nonce") in st["nonces"]:
                return self.error(401, "replayed nonce")
            st["nonces"].add(req.get("nonce"))
            exp = int(time.time()) + G["faults"].get("token_ttl", 3600)
        msg = "v1.%s.%d" % (site, exp)
        tag = base64.urlsafe_b64encode(hmac.new(G["secret"], msg.encode(), "sha512").digest()[:32])
        self.reply(200, {"token": msg + "." + tag.decode().rstrip("="), "expires": rfc3339(exp)})

    def authorized(self, site):
        auth = self.headers.get("Authorization", "")
        tok = auth[7:] if auth.startswith("Bearer ") else ""
        parts = tok.split(".")
        if len(parts) != 4 or parts[0] != "v1":
            self.error(401, "no token")
            return False
        msg = ".".join(parts[:3])
        tag = base64.urlsafe_b64encode(hmac.new(G["secret"], msg.encode(), "sha512").digest()[:32])
        if not hmac.compare_digest(tag.decode().rstrip("="), parts[3]) or int(parts[2]) < time.time():
            self.error(401, "bad or expired token")
            return False
        if parts[1] != site and site is not None:
            self.error(403, "token of another site")
            return False
        return True

    # -- desired state

    def desired(self, site, q):
        wait = min(300, max(0, int(q.get("wait", "0") or 0)))
        inm = self.headers.get("If-None-Match")
        deadline = time.time() + wait
        with LOCK:
            st = G["sites"][site]
            while True:
                if G["faults"].get("down"):
                    env = "down"
                    break
                if st.get("envelope") and st["etag"] != inm:
                    env, etag = st["envelope"], st["etag"]
                    break
                left = deadline - time.time()
                if left <= 0:
                    env = None
                    break
                LOCK.wait(left)
        if env == "down":
            return self.error(503, "down for a test")
        if env is None:
            if not st.get("envelope"):
                return self.error(404, "no desired state yet")
            return self.reply(304, b"", headers=[("ETag", st["etag"])])
        self.reply(200, env, headers=[("ETag", etag)])

    # -- reports

    def report(self, site):
        st = G["sites"][site]
        raw = self.body(256 * 1024)
        try:
            payload = dsse_open(raw, REPORT_TYPE, st["pub"])
            doc = json.loads(payload)
            seq = doc["seq"]
        except (ValueError, KeyError) as e:
            return self.error(400 if "signature" not in str(e) else 401, "report: %s" % e)
        with LOCK:
            st["received"] = st.get("received", 0) + 1
            stored = st.setdefault("reports", [])
            highest = stored[-1]["seq"] if stored else 0
            if seq > highest:
                stored.append(doc)
                save()
                answer = (200, {"seq": seq, "stored": True})
            else:
                same = [r for r in stored if r["seq"] == seq]
                if same and canonical(same[0]) == canonical(doc):
                    st["duplicates"] = st.get("duplicates", 0) + 1
                    answer = (200, {"seq": seq, "stored": False})
                else:
                    st["conflicts"] = st.get("conflicts", 0) + 1
                    answer = (409, {"error": "seq %d at or below %d" % (seq, highest),
                                    "status": 409})
            drop = G["faults"].get("drop_report_answers", 0)
            if drop > 0 and answer[0] == 200:
                G["faults"]["drop_report_answers"] = drop - 1
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
        self.reply(*answer)

    # -- uploads

    def upload(self, site, q):
        data = self.body()
        if hashlib.sha256(data).hexdigest() != q.get("sha256"):
            return self.error(400, "digest mismatch")
        with LOCK:
            ups = G["sites"][site].setdefault("uploads", [])
            if any(u["sha256"] == q["sha256"] for u in ups):
                return self.reply(200, {"stored": False})
            ups.append({"name": q.get("name"), "sha256": q["sha256"], "size": len(data),
                        "version": self.headers.get("X-Cairn-Model-Version")})
            save()
        self.reply(201, {"stored": True})

    # -- artifacts

    def artifact(self, hexd, q):
        if not self.authorized(None):
            return
        path = None
        for name in os.listdir(G["artifacts"]):
            p = os.path.join(G["artifacts"], name)
            if os.path.isfile(p) and sha_file(p)[0] == hexd:
                path = p
        if not path:
            return self.error(404, "no such artifact")
        data = bytearray(open(path, "rb").read())
        if q.get("corrupt"):
            data[len(data) // 2] ^= 0xFF
        size = len(data)
        start = 0
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and rng[6:].endswith("-"):
            start = int(rng[6:-1])
            if start >= size:
                return self.reply(416, b"", headers=[("Content-Range", "bytes */%d" % size)])
        body = bytes(data[start:]) + b"J" * int(q.get("extra", "0"))
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, size - 1, size))
        self.send_header("Content-Type", "application/octet-stream")
        if q.get("nolen"):  # the body ends when the connection does
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        limit = len(body)
        if "cut" in q:
            with LOCK:
                key = "cut " + self.path
                if key not in G["cuts"]:
                    G["cuts"].add(key)
                    limit = max(0, int(q["cut"]) - start)
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
        if limit < len(body):
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

    # -- control

    def control(self, what, q):
        site = q.get("site")
        base = "%s://127.0.0.1:%d" % ("https" if G["tls"] else "http",
                                      self.server.server_address[1])
        if what == "publish":
            with LOCK:
                out = publish(site, json.loads(self.body()), base)
            return self.reply(200, out)
        if what == "publish_raw":
            env = self.body()
            with LOCK:
                st = G["sites"][site]
                serve(site, env, q.get("etag", '"raw.%d"' % time.time()), st["generation"],
                      st.get("issued", 0))
            return self.reply(200, {"bytes": len(env)})
        if what == "reports":
            with LOCK:
                st = G["sites"][site]
                return self.reply(200, {"reports": st.get("reports", []),
                                        "received": st.get("received", 0),
                                        "duplicates": st.get("duplicates", 0),
                                        "conflicts": st.get("conflicts", 0)})
        if what == "uploads":
            with LOCK:
                return self.reply(200, {"uploads": G["sites"][site].get("uploads", [])})
        if what == "faults":
            with LOCK:
                G["faults"].update(json.loads(self.body()))
                LOCK.notify_all()  # parked polls see "down" at once
            return self.reply(200, G["faults"])
        if what == "log":
            with LOCK:
                return self.reply(200, "".join(l + "\n" for l in G["log"]), "text/plain")
        return self.error(404, "no such control")


def watch_stdin():
    try:
        while sys.stdin.buffer.read(1):
            pass
    finally:
        os._exit(0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--key", required=True)
    ap.add_argument("--publisher-key")
    ap.add_argument("--site", action="append", default=[], help="NAME=PUBFILE")
    ap.add_argument("--artifacts", default=".")
    ap.add_argument("--state")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--lifetime", type=float, default=1800)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    a = ap.parse_args()
    G.update(key=load_private(a.key), artifacts=a.artifacts, state_dir=a.state, log=[],
             tls=bool(a.tls),
             faults={}, cuts=set(), secret=os.urandom(32), sites={})
    G["publisher"] = load_private(a.publisher_key) if a.publisher_key else None
    for s in a.site:
        name, pub = s.split("=", 1)
        G["sites"][name] = {"pub": load_public(pub), "generation": 0, "nonces": set()}
    restore()
    ThreadingHTTPServer.allow_reuse_address = True
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    if a.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls[0], a.tls[1])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=watch_stdin, daemon=True).start()
    threading.Timer(a.lifetime, lambda: os._exit(0)).start()
    sys.stdout.write("PORT %d\n" % srv.server_address[1])
    sys.stdout.flush()
    srv.serve_forever()


if __name__ == "__main__":
    main()
