#!/usr/bin/env bash
# GET /v1/fleet/models on the real daemon: signed reports carrying a
# worker's counters (as cairn-agent sends them) for two sites, through a
# model switch and a worker restart, plus uploads; the view's totals,
# bands, unsure rate, reviewed accuracy, sites running each version and
# uploads must be exactly what was reported. The operator token guards it;
# a restart of the controller keeps the totals.
set -euo pipefail
source "$(dirname "$0")/controller_lib.bash"

T=$(mktemp -d "${TMPDIR:-/tmp}/cairn-models.XXXXXX")
trap 'stop_controller; rm -rf "$T"' EXIT
make_fleet "$T" site-a site-b
printf 'operator-secret\n' >"$T/operator.token"
chmod 600 "$T/operator.token"
export OPERATOR_TOKEN=operator-secret
start_controller "$T" --set pollIntervalSeconds=3600 --set operatorTokenFile="$T/operator.token"

run_checks() {
    T=$T PORT=$PORT PHASE=$1 $PY - <<'PYEOF'
import hashlib, json, os, time
from cairn_client import *

T, PHASE = os.environ["T"], os.environ["PHASE"]
c = Client(int(os.environ["PORT"]))
ck = Checker()
OP = "operator-secret"
sk = {s: load_key(T + "/keys/%s.key" % s) for s in ("site-a", "site-b")}
tok = {s: c.token(sk[s], s) for s in sk}
seq = {"site-a": 0, "site-b": 0}

def metrics(ver, processed, high, low, unknown, n_low, p_high, p_unknown):
    ml = 'model_sha256="%s",model_version="%s"' % ("ab" * 32, ver)
    return {
        "xray_images_processed_total{%s}" % ml: processed,
        'xray_images_band_total{band="high",class="Pneumonia",%s}' % ml: high,
        'xray_images_band_total{band="low",class="Normal",%s}' % ml: low,
        'xray_images_band_total{band="unknown",class="Unsure",%s}' % ml: unknown,
        'xray_truth_total{band="low",%s,truth="NORMAL"}' % ml: n_low,
        'xray_truth_total{band="high",%s,truth="PNEUMONIA"}' % ml: p_high,
        'xray_truth_total{band="unknown",%s,truth="PNEUMONIA"}' % ml: p_unknown,
        "xray_inbox_queue": 4, "xray_uptime_seconds": 12.5,
    }

def send(site, ver, m, start=None):
    seq[site] = start or seq[site] + 1
    p = report_payload(site, seq[site], model=("pneumonia", ver))
    p["workloads"][0]["model"]["sha256"] = "ab" * 32
    p["workloads"][0]["metrics"] = m
    st, _, doc = c.json("POST", "/v1/sites/%s/reports" % site,
                        dsse(sk[site], REPORT_TYPE, canonical(p)), token=tok[site])
    ck(st == 200 and doc["stored"], "report stored", site, seq[site], st, doc)

def view():
    st, _, doc = c.json("GET", "/v1/fleet/models", token=OP)
    ck.eq(st, 200, "GET /v1/fleet/models")
    return {(m["model"], m["version"]): m for m in doc["models"]}

if PHASE == "1":
    st, _, doc = c.json("GET", "/v1/fleet/models")
    ck.eq(st, 401, "without the operator token")
    ck.eq(view(), {}, "nothing reported yet: empty")
    # site-a on v1: one worker, then a restart (its counters start over)
    send("site-a", "v1", metrics("v1", 10, 2, 6, 2, 5, 2, 1), start=1)
    send("site-a", "v1", metrics("v1", 20, 4, 12, 4, 10, 4, 2))
    send("site-a", "v1", metrics("v1", 5, 1, 3, 1, 3, 1, 0))
    # site-b on v1, then v2 (the first v2 report still has v1's scrape)
    send("site-b", "v1", metrics("v1", 8, 0, 8, 0, 8, 0, 0), start=1)
    send("site-b", "v2", metrics("v1", 99, 99, 0, 0, 0, 99, 0))
    send("site-b", "v2", metrics("v2", 12, 2, 8, 2, 8, 2, 1))
    data = os.urandom(3000)
    h = hashlib.sha256(data).hexdigest()
    st, _, _ = c.json("POST", "/v1/sites/site-b/uploads?name=a.jpeg&sha256=" + h, data,
                      token=tok["site-b"], headers={"X-Cairn-Model-Version": "v2"})
    ck.eq(st, 201, "upload stored")

# The uploads index is written with the records lane's next batch, which
# may commit just after the upload was answered.
for _ in range(100):
    v = view()
    if v.get(("pneumonia", "v2"), {}).get("uploads", {}).get("count"):
        break
    time.sleep(0.05)
v1, v2 = v.get(("pneumonia", "v1")), v.get(("pneumonia", "v2"))
if ck(v1 is not None and v2 is not None, "both versions listed", v):
    # v1: site-a 20 + 5 (restart), site-b 8
    ck.eq(v1["imagesProcessed"], 33, "v1 images")
    ck.eq(v1["bands"], {"high": 5, "low": 23, "unknown": 5}, "v1 bands")
    ck(abs(v1["unsureRate"] - 5 / 33) < 1e-9, "v1 unsure rate", v1["unsureRate"])
    ck.eq(v1["reviewed"], {"images": 10 + 3 + 8 + 4 + 1 + 2 + 0, "decided": 10 + 3 + 8 + 4 + 1,
                           "correct": 26, "accuracy": 1.0}, "v1 reviewed")
    ck.eq(v1["sitesReported"], ["site-a", "site-b"], "v1 reported by")
    ck.eq(v1["sitesRunning"], ["site-a"], "v1 running at")
    ck.eq(v1["uploads"], {"count": 0, "bytes": 0}, "v1 uploads")
    # v2: only the v2-labelled counters
    ck.eq(v2["imagesProcessed"], 12, "v2 images (stale v1 scrape ignored)")
    ck.eq(v2["bands"], {"high": 2, "low": 8, "unknown": 2}, "v2 bands")
    ck.eq(v2["reviewed"]["images"], 11, "v2 reviewed")
    ck.eq(v2["reviewed"]["accuracy"], 1.0, "v2 accuracy")
    ck.eq(v2["sitesRunning"], ["site-b"], "v2 running at")
    ck.eq(v2["uploads"], {"count": 1, "bytes": 3000}, "v2 uploads")
    ck('xray_inbox_queue' not in json.dumps(v2["counters"]), "gauges are not folded")
ck.done()
PYEOF
}

run_checks 1 || fail "phase 1"
# The totals live in records.db: a restarted controller shows the same.
stop_controller
start_controller "$T" --set pollIntervalSeconds=3600 --set operatorTokenFile="$T/operator.token"
run_checks 2 || fail "after a restart"
finish
