"""A small, independent client of the controller's HTTP API for the tests:
OpenSSH ed25519 keys read here, DSSE and canonical JSON written here, HTTP
with the standard library. Nothing of cairn's C code is used, so the tests
cross-check the wire format."""
import base64
import hashlib
import http.client
import json
import os
import struct
import time

import nacl.signing

SESSION_TYPE = "application/vnd.cairn.session+json"
REPORT_TYPE = "application/vnd.cairn.report+json"


def _read_string(buf, off):
    (n,) = struct.unpack(">I", buf[off:off + 4])
    return buf[off + 4:off + 4 + n], off + 4 + n


def load_key(path):
    """An unencrypted OpenSSH ed25519 private key -> nacl SigningKey."""
    text = open(path).read()
    body = "".join(l for l in text.splitlines() if not l.startswith("-----"))
    raw = base64.b64decode(body)
    magic = b"openssh-key-v1\0"
    assert raw.startswith(magic), "not an OpenSSH private key"
    off = len(magic)
    cipher, off = _read_string(raw, off)
    assert cipher == b"none", "encrypted key"
    _, off = _read_string(raw, off)  # kdf
    _, off = _read_string(raw, off)  # kdf options
    off += 4  # number of keys
    _, off = _read_string(raw, off)  # public key blob
    priv, off = _read_string(raw, off)
    p = 8  # check ints
    ktype, p = _read_string(priv, p)
    assert ktype == b"ssh-ed25519"
    _, p = _read_string(priv, p)  # pk
    sk, p = _read_string(priv, p)  # seed || pk
    return nacl.signing.SigningKey(sk[:32])


def keyid(sk):
    return hashlib.sha256(bytes(sk.verify_key)).hexdigest()[:16]


def canonical(v):
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def pae(t, b):
    t = t.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(b), b)


def dsse(sk, ptype, payload, kid=None):
    sig = sk.sign(pae(ptype, payload)).signature
    return canonical({"payloadType": ptype, "payload": base64.b64encode(payload).decode(),
                      "signatures": [{"keyid": kid or keyid(sk),
                                      "sig": base64.b64encode(sig).decode()}]})


class Client:
    def __init__(self, port, host="127.0.0.1", timeout=30):
        self.host, self.port, self.timeout = host, port, timeout

    def request(self, method, path, body=None, headers=None, timeout=None):
        c = http.client.HTTPConnection(self.host, self.port, timeout=timeout or self.timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data
        finally:
            c.close()

    def json(self, method, path, body=None, token=None, headers=None, timeout=None):
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        st, hd, data = self.request(method, path, body, h, timeout)
        try:
            doc = json.loads(data) if data else None
        except ValueError:
            doc = data
        return st, hd, doc

    def session_body(self, sk, site, when=None, nonce=None, ptype=SESSION_TYPE, payload=None):
        p = payload if payload is not None else {
            "kind": "cairn.session/v1", "nonce": nonce or os.urandom(16).hex(),
            "site": site, "time": int(time.time()) if when is None else when}
        return dsse(sk, ptype, canonical(p))

    def session(self, sk, site, **kw):
        st, _, doc = self.json("POST", "/v1/sites/%s/session" % site,
                               self.session_body(sk, site, **kw))
        return st, doc

    def token(self, sk, site):
        st, doc = self.session(sk, site)
        assert st == 200, (st, doc)
        return doc["token"]


def report_payload(site, seq, applied=1, served=1, state="running", health="healthy",
                   event=None, model=("pneumonia", "v1")):
    p = {"kind": "cairn.report/v1", "site": site, "seq": seq,
         "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
         "agentVersion": "test", "generation": {"applied": applied, "served": served},
         "workloads": [{"name": "risk", "state": state, "health": health,
                        "model": {"name": model[0], "version": model[1]}}]}
    if event:
        p["event"] = event
    return p


class Checker:
    """Counts checks; a failed one is printed and the run ends non-zero."""

    def __init__(self):
        self.checks = 0
        self.fails = 0

    def __call__(self, cond, what, *detail):
        self.checks += 1
        if not cond:
            self.fails += 1
            print("FAIL:", what, *detail, flush=True)
        return cond

    def eq(self, got, want, what, *detail):
        return self(got == want, what, "got %r want %r" % (got, want), *detail)

    def done(self):
        print("%d check(s), %d failure(s)" % (self.checks, self.fails))
        raise SystemExit(1 if self.fails else 0)


def verify_envelope(env, pub_line):
    """Check a DSSE envelope against an OpenSSH public key line; payload dict."""
    blob = base64.b64decode(pub_line.split()[1])
    _, off = _read_string(blob, 0)
    pk, _ = _read_string(blob, off)
    vk = nacl.signing.VerifyKey(pk)
    payload = base64.b64decode(env["payload"])
    sig = base64.b64decode(env["signatures"][0]["sig"])
    vk.verify(pae(env["payloadType"], payload), sig)
    return json.loads(payload)
