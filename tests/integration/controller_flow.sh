#!/usr/bin/env bash
# cairn-controller end to end: a real git repository with SSH-signed
# commits, the real daemon on a loopback port, an independent Python
# client. A commit flows to a long-polling agent; reports are stored once,
# retried and refused by seq; a refused commit is listed while the last
# good desired state keeps being served; uploads, artifacts, the git hook,
# fleet status and metrics.
set -euo pipefail
source "$(dirname "$0")/controller_lib.bash"

T=$(mktemp -d "${TMPDIR:-/tmp}/cairn-flow.XXXXXX")
trap 'stop_controller; rm -rf "$T"' EXIT
make_fleet "$T" site-a site-b
printf 'hook-secret\n' >"$T/hook.secret"
mkdir -p "$T/state/artifacts/sha256"
art=$(sha256sum "$T/model-v1.bin" | cut -d' ' -f1)
cp "$T/model-v1.bin" "$T/state/artifacts/sha256/$art"
start_controller "$T" --set allowedSigners="$T/allowed_signers" \
    --set webhookSecretFile="$T/hook.secret" --set pollIntervalSeconds=3600 \
    --set uploadMaxBytes=100000

T=$T PORT=$PORT ART=$art $PY - <<'PYEOF'
import hashlib, hmac, json, os, sqlite3, subprocess, threading, time
from cairn_client import *

T, ART = os.environ["T"], os.environ["ART"]
c = Client(int(os.environ["PORT"]))
ck = Checker()
ctl_pub = open(T + "/state/controller.pub").read().strip()
sk_a = load_key(T + "/keys/site-a.key")
sk_b = load_key(T + "/keys/site-b.key")
tok_a, tok_b = c.token(sk_a, "site-a"), c.token(sk_b, "site-b")

def git(*args):
    subprocess.run(["git", "-C", T + "/repo"] + list(args), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

def hook():
    body = b'{"ref":"refs/heads/main"}'
    sig = "sha256=" + hmac.new(b"hook-secret", body, hashlib.sha256).hexdigest()
    return c.json("POST", "/v1/hooks/git", body, headers={"X-Hub-Signature-256": sig})

def commits():
    return c.json("GET", "/v1/commits")[2]

def wait_commits(n):
    for _ in range(400):
        if len(commits()["commits"]) >= n:
            return True
        time.sleep(0.025)
    return False

# --- desired state: ETag, signature, 304 -------------------------------------------
st, hd, env = c.json("GET", "/v1/sites/site-a/desired", token=tok_a)
ck.eq(st, 200, "desired 200")
p = verify_envelope(env, ctl_pub)
ck.eq(p["site"], "site-a", "payload site")
ck.eq(hd["etag"], '"%d.%d"' % (p["generation"], int(time.mktime(time.strptime(
    p["issued"], "%Y-%m-%dT%H:%M:%SZ"))) - time.timezone), "ETag is generation.issued")
ck.eq(p["workloads"][0]["model"]["version"], "v1", "model v1 served")
etag1, gen1 = hd["etag"], p["generation"]
st, hd, _ = c.json("GET", "/v1/sites/site-a/desired", token=tok_a,
                   headers={"If-None-Match": etag1})
ck.eq(st, 304, "If-None-Match -> 304")
ck.eq(hd.get("etag"), etag1, "304 carries the ETag")
t0 = time.time()
st, _, _ = c.json("GET", "/v1/sites/site-a/desired?wait=1", token=tok_a,
                  headers={"If-None-Match": etag1})
ck(st == 304 and 0.9 < time.time() - t0 < 3, "wait=1 without change: 304 after ~1 s",
   st, time.time() - t0)
st, _, _ = c.json("GET", "/v1/sites/site-a/desired?wait=abc", token=tok_a)
ck.eq(st, 400, "wait=abc -> 400")

# --- a commit flows to long-polling clients (two for site-a, one for site-b) --------
results = {}
def poll(name, tok, site):
    t = time.time()
    results[name] = c.json("GET", "/v1/sites/%s/desired?wait=60" % site, token=tok,
                           headers={"If-None-Match": etag1}, timeout=90) + (time.time(),)
threads = [threading.Thread(target=poll, args=a) for a in
           (("a1", tok_a, "site-a"), ("a2", tok_a, "site-a"), ("b", tok_b, "site-b"))]
for t in threads: t.start()
time.sleep(0.5)
ck.eq(results, {}, "long-polls are parked")
fleet = open(T + "/repo/fleet.yaml").read().replace("pneumonia: v1", "pneumonia: v2")
open(T + "/repo/fleet.yaml", "w").write(fleet)
git("add", "-A"); git("commit", "-q", "-S", "-m", "model v2")
t_commit = time.time()
st, _, doc = hook()
ck.eq(st, 202, "git hook accepted")
for t in threads: t.join(30)
for name in ("a1", "a2", "b"):
    st, hd, env, t_done = results.get(name, (0, {}, None, 0))
    ck.eq(st, 200, "long-poll %s answered by the commit" % name)
    if st == 200:
        p2 = verify_envelope(env, ctl_pub)
        ck.eq(p2["workloads"][0]["model"]["version"], "v2", "new model for %s" % name)
        ck(p2["generation"] > gen1, "generation rose for %s" % name)
        ck(t_done - t_commit < 5, "answered within 5 s of the commit", t_done - t_commit)
st, hd, env = c.json("GET", "/v1/sites/site-a/desired", token=tok_a)
etag2 = hd["etag"]
ck(etag2 != etag1, "new ETag")

# --- the hook's signature ------------------------------------------------------------
st, _, _ = c.json("POST", "/v1/hooks/git", b"{}", headers={
    "X-Hub-Signature-256": "sha256=" + "0" * 64})
ck.eq(st, 401, "hook with a bad signature -> 401")
st, _, _ = c.json("POST", "/v1/hooks/git", b"{}")
ck.eq(st, 401, "hook without a signature -> 401")

# --- refused commits: listed, last good state still served ---------------------------
n = len(commits()["commits"])
open(T + "/repo/fleet.yaml", "a").write("bogus: 1\n")
git("add", "-A"); git("commit", "-q", "--no-gpg-sign", "-m", "unsigned")
hook(); ck(wait_commits(n + 1), "unsigned commit processed")
k = commits()["commits"][0]
ck(not k["accepted"], "unsigned commit refused")
ck("signature" in (k["error"] or "") or "unsigned" in (k["error"] or ""),
   "its error says why", k["error"])
git("commit", "-q", "--amend", "-S", "-m", "signed but invalid")
hook(); ck(wait_commits(n + 2), "invalid commit processed")
k = commits()["commits"][0]
ck(not k["accepted"] and "fleet.yaml:" in (k["error"] or ""),
   "invalid commit refused with file:line", k)
ck.eq(commits()["accepted"] is not None and commits()["accepted"] != k["sha"], True,
      "accepted head stays on the last good commit")
st, hd, _ = c.json("GET", "/v1/sites/site-a/desired", token=tok_a)
ck(st == 200 and hd["etag"] == etag2, "last good desired state still served", st, hd)
m = c.request("GET", "/metrics")[2].decode()
ck("cairn_controller_last_commit_accepted 0" in m, "metrics: last commit refused")

# --- reports: stored once, retries acknowledged, seq rules ----------------------------
def report(sk, site, tok, payload):
    return c.json("POST", "/v1/sites/%s/reports" % site, dsse(sk, REPORT_TYPE,
                  canonical(payload)), token=tok)
p1 = report_payload("site-a", 1, applied=gen1, served=gen1)
st, _, doc = report(sk_a, "site-a", tok_a, p1)
ck(st == 200 and doc == {"seq": 1, "stored": True}, "report 1 stored", st, doc)
st, _, doc = report(sk_a, "site-a", tok_a, p1)
ck(st == 200 and doc == {"seq": 1, "stored": False}, "same seq, same content: acked", st, doc)
p3 = report_payload("site-a", 3, applied=gen1 + 1, served=gen1 + 1,
                    event={"type": "RolledBack", "reason": "health gate failed"})
st, _, doc = report(sk_a, "site-a", tok_a, p3)
ck(st == 200 and doc["stored"], "report 3 stored (gaps allowed)", st, doc)
st, _, doc = report(sk_a, "site-a", tok_a, report_payload("site-a", 2))
ck.eq(st, 409, "lower seq, new content -> 409")
st, _, doc = report(sk_a, "site-a", tok_a, dict(p1, agentVersion="other"))
ck.eq(st, 409, "same seq, different content -> 409")
st, _, doc = report(sk_a, "site-a", tok_a, p1)
ck(st == 200 and doc == {"seq": 1, "stored": False}, "an old retry is still acked", st, doc)
st, _, doc = report(sk_b, "site-a", tok_a, report_payload("site-a", 4))
ck.eq(st, 401, "report signed by another site's key -> 401")
st, _, doc = report(sk_a, "site-a", tok_a, report_payload("site-b", 4))
ck.eq(st, 400, "payload for another site -> 400")
bad = report_payload("site-a", 5); bad["workloads"][0]["state"] = "dancing"
st, _, doc = report(sk_a, "site-a", tok_a, bad)
ck(st == 400 and "state" in doc["error"], "schema-invalid payload -> 400", doc)
st, _, doc = c.json("POST", "/v1/sites/site-a/reports", dsse(sk_a, SESSION_TYPE,
                    canonical(p3)), token=tok_a)
ck.eq(st, 400, "report with the wrong payloadType -> 400")
db = sqlite3.connect(T + "/state/records.db")
rows = db.execute("SELECT seq FROM reports WHERE site='site-a' ORDER BY seq").fetchall()
ck.eq(rows, [(1,), (3,)], "history holds seq 1 and 3 once each")
st, _, s = c.json("GET", "/v1/sites/site-a")
ck.eq(s["lastSeq"], 3, "site detail: last seq")
ck.eq((s["lastError"] or {}).get("type"), "RolledBack", "site detail: last error")
ck(s["served"]["generation"] == s["applied"], "site detail: served and applied",
   s["served"], s["applied"])
ck.eq(s["running"], "pneumonia@v1", "site detail: running model")

# --- fleet view ----------------------------------------------------------------------
st, _, f = c.json("GET", "/v1/fleet")
ck.eq(f["sites"], 2, "fleet: 2 sites")
ck.eq(f["states"]["ok"] + f["states"]["unknown"], 2, "fleet: ok + unknown", f["states"])
ck.eq(f["models"], {"pneumonia@v1": 1}, "fleet: running models")
st, _, page = c.json("GET", "/v1/sites?offset=1&limit=1")
ck(page["total"] == 2 and [x["name"] for x in page["sites"]] == ["site-b"], "paging", page)
ck.eq(c.json("GET", "/v1/sites/nope")[0], 404, "unknown site detail -> 404")

# --- uploads ------------------------------------------------------------------------
data = os.urandom(50000)
h = hashlib.sha256(data).hexdigest()
up = "/v1/sites/site-a/uploads?name=img_0001.png&sha256=" + h
st, _, doc = c.json("POST", up, data, token=tok_a, headers={"X-Cairn-Model-Version": "v2"})
ck(st == 201 and doc["stored"], "upload stored (201)", st, doc)
stored = T + "/state/uploads/site-a/v2/img_0001.png"
ck(os.path.exists(stored) and open(stored, "rb").read() == data, "upload bytes on disk")
st, _, doc = c.json("POST", up, data, token=tok_a, headers={"X-Cairn-Model-Version": "v2"})
ck(st == 200 and not doc["stored"], "same upload again: 200, not stored twice", st, doc)
st, _, doc = c.json("POST", "/v1/sites/site-a/uploads?name=x.png&sha256=" + "0" * 64, data,
                    token=tok_a)
ck(st == 400 and "digest mismatch" in doc["error"], "upload digest mismatch -> 400", doc)
st, _, doc = c.json("POST", "/v1/sites/site-a/uploads?name=../x&sha256=" + h, data, token=tok_a)
ck.eq(st, 400, "upload name with a path -> 400")
st, _, doc = c.json("POST", up, data, token=tok_b)
ck.eq(st, 403, "upload with another site's token -> 403")
big = os.urandom(100001)
st, _, doc = c.json("POST", "/v1/sites/site-a/uploads?name=big.bin&sha256=" +
                    hashlib.sha256(big).hexdigest(), big, token=tok_a)
ck.eq(st, 413, "upload over uploadMaxBytes -> 413")
data2 = os.urandom(1000)
st, _, doc = c.json("POST", "/v1/sites/site-a/uploads?name=img_0001.png&sha256=" +
                    hashlib.sha256(data2).hexdigest(), data2, token=tok_a,
                    headers={"X-Cairn-Model-Version": "v2"})
ck.eq(st, 409, "different content under a stored name -> 409")
st, _, doc = c.json("POST", "/v1/sites/site-a/uploads?name=same.png&sha256=" + h, data,
                    token=tok_a, headers={"X-Cairn-Model-Version": "v9"})
ck(st == 200 and not doc["stored"], "same content under another name: already stored", st, doc)
st, _, doc = c.json("POST", "/v1/sites/site-a/uploads?name=x.png&sha256=" + h, data,
                    token=tok_a, headers={"X-Cairn-Model-Version": "../v1"})
ck.eq(st, 400, "bad model version -> 400")
ck.eq(c.json("GET", "/v1/sites/site-a")[2]["uploads"]["count"], 1, "uploads counted")

# --- artifacts: sendfile, Range, ETag ---------------------------------------------------
blob = open(T + "/model-v1.bin", "rb").read()
path = "/v1/artifacts/sha256/" + ART
st, hd, body = c.request("GET", path, headers={"Authorization": "Bearer " + tok_b})
ck(st == 200 and body == blob and hd["etag"] == '"%s"' % ART, "artifact 200 with ETag", st)
st, hd, body = c.request("GET", path, headers={"Authorization": "Bearer " + tok_b,
                                               "Range": "bytes=100-199"})
ck(st == 206 and body == blob[100:200], "artifact Range -> 206", st, hd.get("content-range"))
st, hd, body = c.request("GET", path, headers={"Authorization": "Bearer " + tok_b,
                                               "Range": "bytes=4000-"})
ck(st == 206 and body == blob[4000:], "artifact open Range -> 206", st)
st, hd, body = c.request("GET", path, headers={"Authorization": "Bearer " + tok_b,
                                               "Range": "bytes=99999-"})
ck.eq(st, 416, "unsatisfiable Range -> 416")
st, hd, body = c.request("GET", path, headers={"Authorization": "Bearer " + tok_b,
                                               "If-None-Match": '"%s"' % ART})
ck.eq(st, 304, "artifact If-None-Match -> 304")
st, _, _ = c.request("GET", path)
ck.eq(st, 401, "artifact without a token -> 401")
st, _, _ = c.request("GET", "/v1/artifacts/sha256/" + "ab" * 32,
                     headers={"Authorization": "Bearer " + tok_b})
ck.eq(st, 404, "missing artifact -> 404")

# --- a site leaves the fleet ------------------------------------------------------------
n = len(commits()["commits"])
git("checkout", "-q", "fleet.yaml")
git("reset", "-q", "--hard", commits()["accepted"])
git("rm", "-q", "sites/site-b.yaml")
git("commit", "-q", "-S", "-m", "site-b leaves")
hook(); ck(wait_commits(n + 1), "removal commit processed")
ck(commits()["commits"][0]["accepted"], "removal commit accepted", commits()["commits"][0])
st, _, _ = c.json("GET", "/v1/sites/site-b/desired", token=tok_b)
ck.eq(st, 404, "removed site: no desired state")
st, doc = c.session(sk_b, "site-b")
ck.eq(st, 404, "removed site: no session")
ck.eq(c.json("GET", "/v1/fleet")[2]["sites"], 1, "fleet: 1 site left")
st, hd, _ = c.json("GET", "/v1/sites/site-a/desired", token=tok_a)
ck(st == 200 and hd["etag"] == etag2, "site-a unchanged by site-b's removal", hd.get("etag"))

# --- metrics ---------------------------------------------------------------------------
m = c.request("GET", "/metrics")[2].decode()
for name in ('cairn_controller_http_requests_total{route="desired",code="200"}',
             "cairn_controller_longpoll_waiters 0",
             "cairn_controller_fetch_duration_seconds_count",
             "cairn_controller_render_duration_seconds_count",
             'cairn_controller_sites{state="ok"}',
             'cairn_controller_reports_total{result="stored"} 2',
             'cairn_controller_reports_total{result="duplicate"} 2',
             'cairn_controller_commits_total{result="refused"} 2',
             'cairn_controller_commits_total{result="accepted"} 3'):
    ck(name in m, "metrics has " + name)
ck.done()
PYEOF
[ $? -eq 0 ] || fail "HTTP checks"

# --- cairnctl token and status ----------------------------------------------------------
URL=http://127.0.0.1:$PORT
tok=$("$CTL" token --site site-a --key "$T/keys/site-a.key" --controller "$URL/")
check "cairnctl token prints a v1 token" grep -qE '^v1\.site-a\.[0-9]+\.[A-Za-z0-9_-]{43}$' <<<"$tok"
check "the token opens site-a's desired state" \
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" "$URL/v1/sites/site-a/desired")" = 200 ]
rc=0
"$CTL" token --site site-a --key "$T/keys/site-b.key" --controller "$URL" >"$T/out" 2>"$T/err" || rc=$?
check "cairnctl token with the wrong key exits 1" [ "$rc" -eq 1 ]
check "and says HTTP 401" grep -q "HTTP 401" "$T/err"
rc=0
"$CTL" token --site site-a --key "$T/keys/site-a.key" --controller http://127.0.0.1:1 \
    >"$T/out" 2>"$T/err" || rc=$?
check "cairnctl token without a controller exits 2" [ "$rc" -eq 2 ]
CAIRN_CONTROLLER=$URL "$CTL" status >"$T/status"
check "status: header" grep -q "serving commit" "$T/status"
check "status: counts" grep -qE "^sites 1: .*ok 1" "$T/status"
check "status: site-a row" grep -qE "^site-a +ok +[0-9]+ +[0-9]+ +pneumonia@v1" "$T/status"
check "status: site-b is gone" bash -c "! grep -q '^site-b' '$T/status'"
"$CTL" status --controller "$URL" --json >"$T/status.json"
check "status --json" $PY -c "
import json,sys; d=json.load(open('$T/status.json'))
sys.exit(0 if d['fleet']['sites'] == 1 and [s['name'] for s in d['sites']] == ['site-a'] else 1)"

# --- a refused commit as the CLI shows it: status and commits ----------------------------
n=$(curl -s "$URL/v1/commits" | jq '.commits | length')
printf 'nonsense: 1\n' >>"$T/repo/fleet.yaml"
commit "$T" "a bad policy key"
sig=$(printf '{}' | openssl dgst -sha256 -hmac hook-secret -r | cut -d' ' -f1)
curl -s -X POST -H "X-Hub-Signature-256: sha256=$sig" -d '{}' "$URL/v1/hooks/git" >/dev/null
wait_commits "$T" $((n + 1)) || fail "the bad commit was not processed"
"$CTL" status --controller "$URL" >"$T/status"
check "status: the last commit is REFUSED" grep -qE "^last commit [0-9a-f]{12} was REFUSED" "$T/status"
check "status: with its located error" grep -qE "^  fleet.yaml:[0-9]+:[0-9]+: .*nonsense" "$T/status"
"$CTL" commits --controller "$URL" --limit 50 >"$T/commits"
check "commits: header" grep -q "^COMMIT .*RESULT .*SIGNER" "$T/commits"
check "commits: the refused one first, with its error" \
    bash -c "sed -n 3,4p '$T/commits' | tr '\n' ' ' | grep -qE 'REFUSED .*fleet.yaml:[0-9]+:[0-9]+: .*nonsense'"
check "commits: accepted ones with their signer's key" grep -qE "accepted +[0-9]+ +.*key [0-9a-f]{16}" "$T/commits"
check "commits: the unsigned one says so" grep -qE "policy require: unsigned" "$T/commits"
check "commits --json is /v1/commits" $PY -c "
import json,sys; d=json.load(open(sys.argv[1]))
sys.exit(0 if not d['commits'][0]['accepted'] and 'nonsense' in d['commits'][0]['error'] else 1)" \
    <("$CTL" commits --controller "$URL" --json)
rc=0
"$CTL" commits --controller "$URL" --limit 0 >/dev/null 2>"$T/err" || rc=$?
check "commits --limit 0: usage error" [ "$rc" -eq 2 ]
stop_controller
finish
