#!/usr/bin/env bash
# cairn-controller authentication and hostile requests: session requests
# signed by the wrong key, stale or replayed; tokens of another site,
# expired, forged; malformed envelopes and payloads; unknown sites;
# oversized headers and bodies; the operator token.
set -euo pipefail
source "$(dirname "$0")/controller_lib.bash"

T=$(mktemp -d "${TMPDIR:-/tmp}/cairn-auth.XXXXXX")
trap 'stop_controller; rm -rf "$T"' EXIT
make_fleet "$T" site-a site-b
OPERATOR_TOKEN=operator-secret-token-0123456789
printf '%s\n' "$OPERATOR_TOKEN" >"$T/operator.token"
start_controller "$T" --set tokenTTLSeconds=3 --set operatorTokenFile="$T/operator.token" \
    --set maxWaitersPerSite=2

T=$T PORT=$PORT $PY - <<'PYEOF'
import base64, hashlib, hmac, json, os, socket, time
from cairn_client import *

T = os.environ["T"]
c = Client(int(os.environ["PORT"]))
ck = Checker()
sk_a, sk_b = load_key(T + "/keys/site-a.key"), load_key(T + "/keys/site-b.key")
publisher = load_key(T + "/keys/publisher.key")
OP = {"Authorization": "Bearer operator-secret-token-0123456789"}

def post_session(site, body):
    return c.json("POST", "/v1/sites/%s/session" % site, body)

def err(doc):
    return doc.get("error", "") if isinstance(doc, dict) else str(doc)

# --- session requests ----------------------------------------------------------------
st, doc = c.session(sk_a, "site-a")
ck(st == 200 and doc["token"].startswith("v1.site-a."), "good session", st, doc)
st, doc = c.session(sk_b, "site-a")
ck.eq(st, 401, "session for site-a signed by site-b's key -> 401")
st, _, doc = post_session("site-a", c.session_body(publisher, "site-a"))
ck.eq(st, 401, "session signed by a key that is no site's -> 401")
st, doc = c.session(sk_a, "site-a", when=int(time.time()) - 301)
ck(st == 401 and "stale" in err(doc), "timestamp 301 s old -> 401 stale", st, doc)
st, doc = c.session(sk_a, "site-a", when=int(time.time()) + 400)
ck(st == 401 and "stale" in err(doc), "timestamp 400 s ahead -> 401 stale", st, doc)
st, doc = c.session(sk_a, "site-a", when=int(time.time()) - 200)
ck.eq(st, 200, "timestamp 200 s old is within the window")
nonce = os.urandom(16).hex()
body = c.session_body(sk_a, "site-a", nonce=nonce)
st, _, doc = post_session("site-a", body)
ck.eq(st, 200, "first use of a nonce")
st, _, doc = post_session("site-a", body)
ck(st == 401 and "replayed" in err(doc), "same request again -> 401 replayed nonce", st, doc)
st, doc = c.session(sk_a, "site-a", nonce=nonce)
ck(st == 401 and "replayed" in err(doc), "fresh request reusing the nonce -> 401", st, doc)
st, doc = c.session(sk_a, "nope")
ck.eq(st, 404, "unknown site -> 404")
st, doc = c.session(sk_a, "Bad_Name")
ck.eq(st, 404, "invalid site name -> 404")
st, doc = c.session(sk_a, "site-a", ptype=REPORT_TYPE)
ck.eq(st, 400, "wrong payloadType -> 400")
st, _, doc = post_session("site-a", b'{"payloadType":')
ck.eq(st, 400, "truncated JSON -> 400")
st, _, doc = post_session("site-a", b'not json at all')
ck.eq(st, 400, "not JSON -> 400")
env = json.loads(c.session_body(sk_a, "site-a"))
env["signatures"][0]["sig"] = base64.b64encode(b"\0" * 64).decode()
st, _, doc = post_session("site-a", canonical(env))
ck.eq(st, 401, "zeroed signature -> 401")
env = json.loads(c.session_body(sk_a, "site-a"))
env["extra"] = 1
st, _, doc = post_session("site-a", canonical(env))
ck.eq(st, 400, "envelope with an extra field -> 400")
pl = {"kind": "cairn.session/v1", "nonce": os.urandom(16).hex(), "site": "site-b",
      "time": int(time.time())}
st, _, doc = post_session("site-a", dsse(sk_a, SESSION_TYPE, canonical(pl)))
ck.eq(st, 400, "payload names another site -> 400")
st, _, doc = post_session("site-a", dsse(sk_a, SESSION_TYPE, b"{not json"))
ck.eq(st, 400, "payload not JSON -> 400")
st, _, doc = post_session("site-a", dsse(sk_a, SESSION_TYPE, canonical(dict(pl, site="site-a",
                          extra=1))))
ck.eq(st, 400, "payload with an extra field -> 400")
st, _, doc = post_session("site-a", dsse(sk_a, SESSION_TYPE, canonical(dict(pl, site="site-a",
                          nonce="xyz"))))
ck.eq(st, 400, "short nonce -> 400")
st, _, doc = post_session("site-a", b"x" * 5000)
ck.eq(st, 413, "body over 4 KiB -> 413")

# --- tokens ---------------------------------------------------------------------------
tok_a, tok_b = c.token(sk_a, "site-a"), c.token(sk_b, "site-b")
st, _, doc = c.json("GET", "/v1/sites/site-a/desired", token=tok_b)
ck(st == 403 and "site-b" in err(doc), "site-b's token on site-a's desired -> 403", st, doc)
st, _, doc = c.json("POST", "/v1/sites/site-a/reports", b"{}", token=tok_b)
ck.eq(st, 403, "site-b's token on site-a's reports -> 403")
st, _, doc = c.json("POST", "/v1/sites/site-a/uploads?name=a&sha256=" + "0" * 64, b"x",
                    token=tok_b)
ck.eq(st, 403, "site-b's token on site-a's uploads -> 403")
st, _, doc = c.json("GET", "/v1/sites/site-a/desired")
ck.eq(st, 401, "no token -> 401")
st, hd, doc = c.json("GET", "/v1/sites/site-a/desired", token=tok_a[:-2] + "AA")
ck(st == 401 and "invalid" in err(doc), "altered tag -> 401", st, doc)
ck.eq(hd.get("www-authenticate"), "Bearer", "401 carries WWW-Authenticate")
parts = tok_a.split(".")
forged = ".".join([parts[0], "site-b", parts[2], parts[3]])
st, _, doc = c.json("GET", "/v1/sites/site-b/desired", token=forged)
ck.eq(st, 401, "site name swapped in a token -> 401")
for bad in ("v2.site-a.1.x", "garbage", "v1..1.x", "v1.site-a.notanumber." + "A" * 43):
    ck.eq(c.json("GET", "/v1/sites/site-a/desired", token=bad)[0], 401, "malformed " + bad)
# tokens made independently with the controller's token key: the format is
# v1.<site>.<expiry>.<base64url(HMAC-SHA-512-256)>
key = open(T + "/state/token.key", "rb").read()
def make(site, exp):
    msg = ("v1.%s.%d" % (site, exp)).encode()
    tag = hmac.new(key, msg, hashlib.sha512).digest()[:32]
    return msg.decode() + "." + base64.urlsafe_b64encode(tag).decode().rstrip("=")
st, _, _ = c.json("GET", "/v1/sites/site-a/desired", token=make("site-a", int(time.time()) + 60))
ck.eq(st, 200, "independently minted token accepted")
st, _, doc = c.json("GET", "/v1/sites/site-a/desired", token=make("site-a", int(time.time()) - 1))
ck(st == 401 and "expired" in err(doc), "token expired a second ago -> 401", st, doc)
st, _, doc = c.json("GET", "/v1/sites/site-a/desired", token=tok_a)
ck.eq(st, 200, "fresh session token works")
time.sleep(3.2)
st, _, doc = c.json("GET", "/v1/sites/site-a/desired", token=tok_a)
ck(st == 401 and "expired" in err(doc), "token past its TTL -> 401 expired", st, doc)

# --- too many long-polls for one site: 429 ------------------------------------------------
import threading
tok_a = c.token(sk_a, "site-a")
st, hd, _ = c.json("GET", "/v1/sites/site-a/desired", token=tok_a)
etag = hd["etag"]
got = []
def park():
    got.append(c.json("GET", "/v1/sites/site-a/desired?wait=2", token=tok_a,
                      headers={"If-None-Match": etag})[0])
ts = [threading.Thread(target=park) for _ in range(2)]
for t in ts: t.start()
time.sleep(0.5)
st, hd, doc = c.json("GET", "/v1/sites/site-a/desired?wait=2", token=tok_a,
                     headers={"If-None-Match": etag})
ck(st == 429 and hd.get("retry-after"), "third long-poll of a site -> 429 with Retry-After",
   st, hd)
for t in ts: t.join()
ck.eq(sorted(got), [304, 304], "the two parked long-polls time out with 304")

# --- operator endpoints ----------------------------------------------------------------
for path in ("/v1/fleet", "/v1/sites", "/v1/sites/site-a", "/v1/commits"):
    ck.eq(c.json("GET", path)[0], 401, path + " without the operator token -> 401")
    ck.eq(c.json("GET", path, headers=OP)[0], 200, path + " with the operator token")
tok_a = c.token(sk_a, "site-a")
ck.eq(c.json("GET", "/v1/fleet", token=tok_a)[0], 401, "a site token is no operator token")
ck.eq(c.json("DELETE", "/v1/fleet", headers=OP)[0], 405, "wrong method -> 405")
ck.eq(c.json("GET", "/v1/nothing")[0], 404, "no such path -> 404")

# --- raw HTTP abuse ------------------------------------------------------------------------
def raw(data, wait=5):
    s = socket.create_connection(("127.0.0.1", c.port), timeout=wait)
    try:
        s.sendall(data)
        out = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
            if b"\r\n\r\n" in out:
                break
        return out
    finally:
        s.close()
r = raw(b"GET /v1/sites/site-a/desired HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40000 +
        b"\r\n\r\n")
ck(r.startswith(b"HTTP/1.1 431"), "oversized headers -> 431", r[:40])
r = raw(b"GET /v1/sites/site-a/desired HTTP/1.1\r\nHost: x\r\n" +
        b"".join(b"X-H%d: v\r\n" % i for i in range(200)) + b"\r\n")
ck(r.startswith(b"HTTP/1.1 431"), "too many headers -> 431", r[:40])
r = raw(b"BLAH / HTTP/1.1\r\n\r\n")
ck(r.startswith(b"HTTP/1.1 4"), "garbage request line -> 4xx", r[:40])
r = raw(b"POST /v1/sites/site-a/session HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n")
ck(r.startswith(b"HTTP/1.1 413"), "declared body over the cap -> 413", r[:40])
st, _, doc = c.json("GET", "/v1/fleet", headers=OP)
ck(st == 200 and doc["sites"] == 2, "still serving after the abuse")
m = c.request("GET", "/metrics")[2].decode()
ck('cairn_controller_sessions_total{result="refused"}' in m, "refused sessions counted")
ck.done()
PYEOF
[ $? -eq 0 ] || fail "HTTP checks"
rc=0
"$CTL" status --controller "http://127.0.0.1:$PORT" >/dev/null 2>"$T/err" || rc=$?
check "cairnctl status without the operator token exits 1" [ "$rc" -eq 1 ]
check "and names the token option" grep -q -- "--token-file" "$T/err"
check "cairnctl status with --token-file" \
    "$CTL" status --controller "http://127.0.0.1:$PORT" --token-file "$T/operator.token"
stop_controller
finish
