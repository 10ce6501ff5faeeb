"""Set-up steps of tests/bench/serve/run (python3 benchlib.py STEP ...).

  sites DIR N            N site keys (DIR/seeds.json) and DIR/repo/sites/*.yaml
  tokens DIR PORT        a session per site -> DIR/tokens.json
  targets DIR PORT       fetch every envelope and ETag; write DIR/lp.txt (servebench
                         longpoll), DIR/nginx/root/... (the same envelopes as files)
                         and DIR/ctl-{200,304}.lua
  nginx-lua DIR PORT     read nginx's ETags, write DIR/nginx-{200,304}.lua
  verify DIR PORT NPORT  sample checks that both servers answer 200/304 as the
                         scripts expect
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


def raw_get(path, token, etag=None, host="127.0.0.1"):
    r = "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n" % (path, host, token)
    if etag:
        r += "If-None-Match: %s\r\n" % etag
    return r + "\r\n"


def lua(path, reqs):
    with open(path, "w") as f:
        f.write("local reqs = {\n")
        for r in reqs:
            f.write("  %s,\n" % json.dumps(r))
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
        r200.append(raw_get(path, tok))
        r304.append(raw_get(path, tok, hd["etag"]))
        lp.append("%s\t%s\t%s\n" % (path, tok, hd["etag"]))
    lua(d + "/ctl-200.lua", r200)
    lua(d + "/ctl-304.lua", r304)
    open(d + "/lp.txt", "w").write("".join(lp))


def step_nginx_lua(d, port):
    c = Client(int(port))
    toks = json.load(open(d + "/tokens.json"))
    r200, r304 = [], []
    for name, tok in sorted(toks.items()):
        path = "/v1/sites/%s/desired" % name
        st, hd, _ = c.request("GET", path)
        assert st == 200 and hd.get("etag"), (name, st, hd)
        r200.append(raw_get(path, tok))
        r304.append(raw_get(path, tok, hd["etag"]))
    lua(d + "/nginx-200.lua", r200)
    lua(d + "/nginx-304.lua", r304)


def step_verify(d, port, nport):
    """Both servers: the 200 requests get 200 with the same bytes, the 304 ones 304."""
    import re
    bad = 0
    for srv, p in (("ctl", port), ("nginx", nport)):
        c = Client(int(p))
        for kind, want in (("200", 200), ("304", 304)):
            reqs = re.findall(r'^  (".*"),$', open("%s/%s-%s.lua" % (d, srv, kind)).read(), re.M)
            for raw in reqs[::97]:
                lines = json.loads(raw).split("\r\n")
                path = lines[0].split()[1]
                h = dict(l.split(": ", 1) for l in lines[1:] if l)
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
