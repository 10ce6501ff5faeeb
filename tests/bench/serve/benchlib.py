"""Set-up steps of tests/bench/serve/run (python3 benchlib.py STEP ...).

  sites DIR N            N site keys (DIR/seeds.json) and DIR/repo/sites/*.yaml
  tokens DIR PORT        a session per site -> DIR/tokens.json
  targets DIR PORT       fetch every envelope and ETag; write DIR/lp.txt (servebench
                         longpoll), DIR/nginx/root/... (the same envelopes as files)
                         and DIR/ctl-{200,304}.txt (servebench get; .lua for wrk)
  nginx-targets DIR PORT read nginx's ETags, write DIR/nginx-{200,304}.txt (and .lua)
  verify DIR PORT NPORT  sample checks that both servers answer 200/304 as the
                         request files expect
  reports DIR PORT N     N signed reports per site -> DIR/reports.txt (servebench post)
"""
import base64
import hashlib
import json
import os
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "integration"))
import nacl.signing  # noqa: E402
from cairn_client import (REPORT_TYPE, Client, canonical, dsse,  # noqa: E402
                          report_payload)


def ssh_pub(vk, comment):
    def s(b):
        return struct.pack(">I", len(b)) + b
    blob = s(b"ssh-ed25519") + s(bytes(vk))
    return "ssh-ed25519 %s %s" % (base64.b64encode(blob).decode(), comment)


def site_names(n):
    return ["site-%05d" % i for i in range(n)]


def step_sites(d, n):
    seeds = {}
    os.makedirs(d + "/repo/sites", exist_ok=True)
    for name in site_names(int(n)):
        seed = os.urandom(32)
        seeds[name] = seed.hex()
        vk = nacl.signing.SigningKey(seed).verify_key
        with open("%s/repo/sites/%s.yaml" % (d, name), "w") as f:
            f.write("kind: Site\nname: %s\nlabels: {region: r%d}\npublicKey: %s\n"
                    % (name, len(seeds) % 4, ssh_pub(vk, name)))
    json.dump(seeds, open(d + "/seeds.json", "w"))


def keys(d):
    return {k: nacl.signing.SigningKey(bytes.fromhex(v))
            for k, v in json.load(open(d + "/seeds.json")).items()}


def step_tokens(d, port):
    c = Client(int(port))
    toks = {name: c.token(sk, name) for name, sk in sorted(keys(d).items())}
    json.dump(toks, open(d + "/tokens.json", "w"))


def get_line(path, token, etag=None):
    """One line of a servebench get file: PATH<TAB>HEADER<TAB>HEADER."""
    h = ["Authorization: Bearer " + token]
    if etag:
        h.append("If-None-Match: " + etag)
    return "\t".join([path] + h) + "\n"


def write_targets(base, lines):
    """base.txt for servebench get, base.lua for the optional wrk cross-check."""
    open(base + ".txt", "w").write("".join(lines))
    with open(base + ".lua", "w") as f:
        f.write("local reqs = {\n")
        for line in lines:
            path, *hs = line.rstrip("\n").split("\t")
            raw = "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n\r\n" % (path, "\r\n".join(hs))
            f.write("  %s,\n" % json.dumps(raw))
        f.write("}\nlocal i = 0\nrequest = function()\n  i = i + 1\n"
                "  if i > #reqs then i = 1 end\n  return reqs[i]\nend\n")


def step_targets(d, port):
    c = Client(int(port))
    toks = json.load(open(d + "/tokens.json"))
    r200, r304, lp = [], [], []
    for name, tok in sorted(toks.items()):
        path = "/v1/sites/%s/desired" % name
        st, hd, body = c.request("GET", path, headers={"Authorization": "Bearer " + tok})
        assert st == 200, (name, st)
        os.makedirs("%s/nginx/root/v1/sites/%s" % (d, name), exist_ok=True)
        with open("%s/nginx/root/v1/sites/%s/desired" % (d, name), "wb") as f:
            f.write(body)
        r200.append(get_line(path, tok))
        r304.append(get_line(path, tok, hd["etag"]))
        lp.append("%s\t%s\t%s\n" % (path, tok, hd["etag"]))
    write_targets(d + "/ctl-200", r200)
    write_targets(d + "/ctl-304", r304)
    open(d + "/lp.txt", "w").write("".join(lp))


def step_nginx_targets(d, port):
    c = Client(int(port))
    toks = json.load(open(d + "/tokens.json"))
    r200, r304 = [], []
    for name, tok in sorted(toks.items()):
        path = "/v1/sites/%s/desired" % name
        st, hd, _ = c.request("GET", path)
        assert st == 200 and hd.get("etag"), (name, st, hd)
        r200.append(get_line(path, tok))
        r304.append(get_line(path, tok, hd["etag"]))
    write_targets(d + "/nginx-200", r200)
    write_targets(d + "/nginx-304", r304)


def step_verify(d, port, nport):
    """Both servers: the 200 requests get 200 with the same bytes, the 304 ones 304."""
    bad = 0
    for srv, p in (("ctl", port), ("nginx", nport)):
        c = Client(int(p))
        for kind, want in (("200", 200), ("304", 304)):
            reqs = open("%s/%s-%s.txt" % (d, srv, kind)).read().splitlines()
            for line in reqs[::97]:
                path, *hs = line.split("\t")
                h = dict(x.split(": ", 1) for x in hs)
                st, _, body = c.request("GET", path, headers=h)
                if st != want:
                    print("verify: %s %s %s -> %d" % (srv, kind, path, st))
                    bad += 1
                elif want == 200:
                    name = path.split("/")[3]
                    ref = open("%s/nginx/root/v1/sites/%s/desired" % (d, name), "rb").read()
                    bad += body != ref
    sys.exit(1 if bad else 0)


def step_reports(d, port, n):
    toks = json.load(open(d + "/tokens.json"))
    out = []
    for name, sk in sorted(keys(d).items()):
        for seq in range(1, int(n) + 1):
            p = report_payload(name, seq, applied=1, served=1)
            p["workloads"][0]["metrics"] = {"scored": seq * 3, "latency_ms": 12.5}
            body = dsse(sk, REPORT_TYPE, canonical(p)).decode()
            out.append("%s\t/v1/sites/%s/reports\t%s\t%s\n" % (name, name, toks[name], body))
    open(d + "/reports.txt", "w").write("".join(out))


if __name__ == "__main__":
    globals()["step_" + sys.argv[1].replace("-", "_")](*sys.argv[2:])
