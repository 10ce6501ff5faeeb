#!/usr/bin/env bash
# xray-worker end to end on loopback: simulator images through the inbox,
# SQLite rows, /healthz, /metrics, /v1/score, anonymized outbox names (checked
# against Python's hashlib), and high-risk notifications reaching a webhook
# receiver that was down for a while (retries, bearer token), across a
# worker restart.
set -euo pipefail

BIN=${XRAY_BIN_DIR:-$CAIRN_BUILD/examples/xray-worker}
SRC=${CAIRN_SRC:?}
PY=/usr/bin/python3
T=$(mktemp -d "${TMPDIR:-/tmp}/cairn-test-xray-XXXXXX")
pids=()
WPID=

cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    for f in "$T"/worker*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -40 "$f" >&2; }; done
    exit 1
}

free_port() {
    $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_for() { # description seconds command...
    local desc=$1 secs=$2 i
    shift 2
    for ((i = 0; i < secs * 10; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    fail "timed out after ${secs}s waiting for $desc"
}

# Sum of a metric's samples whose line contains every extra argument.
metric() {
    local name=$1
    shift
    curl -sf "http://127.0.0.1:$PORT/metrics" | $PY -c '
import sys
name, filters, total = sys.argv[1], sys.argv[2:], 0.0
for line in sys.stdin:
    if line.startswith("#"): continue
    key, _, val = line.rstrip("\n").rpartition(" ")
    if (key == name or key.startswith(name + "{")) and all(f in key for f in filters):
        total += float(val)
print(int(total))' "$name" "$@"
}

metric_is() { [ "$(metric "$@" | tail -1)" = "${EXPECT:?}" ]; }
metric_ge() { [ "$(metric "$@" | tail -1)" -ge "${EXPECT:?}" ]; }

sql() { $PY -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' "$T/data/xray.db" "$1"; }

PORT=$(free_port)
HOOK=$(free_port)
mkdir -p "$T/data/inbox" "$T/stage1" "$T/stage2" "$T/stage3"
printf 'tok-%s\n' "$RANDOM$RANDOM" > "$T/token"
chmod 600 "$T/token"
TOKEN=$(cat "$T/token")

start_worker() { # model version log
    CAIRN_MODEL_PATH=$1 CAIRN_MODEL_VERSION=$2 CAIRN_WORKLOAD=xray \
    XRAY_DATA_DIR="$T/data" XRAY_LISTEN="127.0.0.1:$PORT" XRAY_SITE=test-site \
    XRAY_WEBHOOK_URL="http://127.0.0.1:$HOOK/notify" XRAY_WEBHOOK_TOKEN_FILE="$T/token" \
    XRAY_RETRY_MIN_SECONDS=0.2 XRAY_RETRY_MAX_SECONDS=1 XRAY_RESCAN_SECONDS=1 \
        "$BIN/xray-worker" >"$T/$3" 2>&1 &
    WPID=$!
    pids+=("$WPID")
    wait_for "/healthz of $2" 30 curl -sf "http://127.0.0.1:$PORT/healthz"
}

stop_worker() {
    local rc=0
    kill -TERM "$WPID"
    wait "$WPID" || rc=$?
    [ "$rc" -eq 0 ] || fail "worker exited $rc after SIGTERM (leak or crash?)"
}

# ---- phase 1: every image high risk; the webhook receiver starts late ----
HIGH_SHA=$($PY "$SRC/tests/xray/make_model.py" "$T/high.model" 0.9 vhigh)
start_worker "$T/high.model" vhigh worker1.log
curl -sf "http://127.0.0.1:$PORT/healthz" | $PY -c '
import json,sys; h=json.load(sys.stdin)
assert h["status"]=="ok" and h["model"]["version"]=="vhigh" and h["model"]["sha256"]==sys.argv[1], h' "$HIGH_SHA" \
    || fail "healthz body"

"$BIN/xray-sim" --batch 5 --out "$T/stage1" --truth "$T/data/truth.csv" --seed 11 -q
printf 'not an image' >"$T/stage1/broken.jpeg"
touch -d '1 minute ago' "$T/stage1/broken.jpeg"
mv "$T"/stage1/* "$T/data/inbox/"   # renames: each file appears whole

EXPECT=5 wait_for "5 processed" 30 metric_is xray_images_processed_total
EXPECT=1 wait_for "1 failed" 10 metric_is xray_images_failed_total
[ -f "$T/data/failed/broken.jpeg" ] || fail "broken.jpeg not in failed/"
[ "$(ls "$T/data/done" | wc -l)" -eq 5 ] || fail "done/ should hold 5 images"
[ -z "$(ls "$T/data/inbox")" ] || fail "inbox not empty"
[ "$(metric xray_images_band_total 'band="high"')" -eq 5 ] || fail "5 high-risk"
EXPECT=5 wait_for "5 queued notifications" 10 metric_is xray_notifications_pending
EXPECT=2 wait_for "retries while the receiver is down" 20 metric_ge xray_notifications_failed_attempts_total
curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" || fail "healthz while webhook down"
sleep 1.5

$PY "$SRC/tests/xray/webhook_receiver.py" "$HOOK" "$T/hook.log" &
pids+=("$!")
EXPECT=0 wait_for "queue drained" 30 metric_is xray_notifications_pending
EXPECT=5 metric_is xray_notifications_sent_total || fail "5 sent"
$PY - "$T/hook.log" "$TOKEN" "$T/data/done" <<'EOF' || fail "webhook deliveries"
import json, os, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
names = set(os.listdir(sys.argv[3]))
assert len(recs) == 5, len(recs)
assert len({r["body"]["event_id"] for r in recs}) == 5
for r in recs:
    b = r["body"]
    assert r["path"] == "/notify" and r["auth"] == "Bearer " + sys.argv[2], r
    assert r["content_type"] == "application/json"
    assert r["idempotency_key"] == b["event_id"] and len(b["event_id"]) == 64
    assert {"site", "image", "label", "p", "model_version", "time"} <= set(b), b
    assert b["site"] == "test-site" and b["model_version"] == "vhigh"
    assert b["label"] == "Pneumonia, risk=90.00%" and abs(b["p"] - 0.9) < 1e-4
    assert b["band"] == "high" and b["image"] in names, b
EOF

[ "$(sql "SELECT count(*) FROM images_processed WHERE label='Pneumonia' AND model='vhigh' AND model_sha256='$HIGH_SHA' AND truth IS NOT NULL")" -eq 5 ] \
    || fail "images_processed rows"
[ "$(sql "SELECT count(*) FROM images_uploaded")" -eq 6 ] || fail "images_uploaded rows"
[ "$(sql "SELECT count(*) FROM images_failed WHERE name='broken.jpeg'")" -eq 1 ] || fail "images_failed row"
[ "$(sql "SELECT count(*) FROM notifications")" -eq 0 ] || fail "delivered rows removed"
[ "$(ls "$T/data/processed" | grep -c -- '-processed\.jpeg$')" -eq 5 ] || fail "processed/"

# The golden check the agent's health gate uses.
one=$(ls "$T/data/done" | head -1)
curl -sf --data-binary @"$T/data/done/$one" "http://127.0.0.1:$PORT/v1/score" | $PY -c '
import json,sys; r=json.load(sys.stdin)
assert r["band"]=="high" and r["label"]=="Pneumonia, risk=90.00%" and abs(r["p"]-0.9)<1e-4, r' \
    || fail "/v1/score"
code=$(curl -s -o /dev/null -w '%{http_code}' --data-binary 'junk' "http://127.0.0.1:$PORT/v1/score")
[ "$code" = 422 ] || fail "/v1/score on junk answered $code"
EXPECT=1 metric_is xray_golden_requests_total 'result="ok"' || fail "golden ok count"
stop_worker

# ---- phase 2: Unsure model; images waiting before start; anonymization ----
$PY "$SRC/tests/xray/make_model.py" "$T/unsure.model" 0.7 vunsure >/dev/null
"$BIN/xray-sim" --batch 8 --out "$T/stage2" --truth "$T/data/truth.csv" --seed 12 -q
ls "$T/stage2" >"$T/stage2.names"
mv "$T"/stage2/* "$T/data/inbox/"
start_worker "$T/unsure.model" vunsure worker2.log
EXPECT=8 wait_for "8 processed after restart" 30 metric_is xray_images_processed_total
EXPECT=8 metric_is xray_images_anonymized_total || fail "8 anonymized"
EXPECT=0 metric_is xray_notifications_queued_total || fail "no notifications for Unsure"
$PY - "$T/stage2.names" "$T/data/outbox" <<'EOF' || fail "anonymized names"
import hashlib, os, sys
want, big = set(), 0
for name in open(sys.argv[1]).read().split("\n"):
    if not name:
        continue
    prefix, _person, pid, _dob, last = name.split("_")
    p = int(pid)
    big += p > 65535
    n = max(2, (p.bit_length() + 7) // 8)
    sid = hashlib.blake2b(p.to_bytes(n, "big"), digest_size=4).hexdigest()
    want.add(f"{prefix}_XXXXXXXX_{sid}_XXXX-XX-XX_{last}")
got = set(os.listdir(sys.argv[2]))
assert got == want, (got, want)
assert big >= 1, "the seed should include a patient id past 65535"
EOF
[ "$(sql "SELECT count(*) FROM images_anonymized")" -eq 8 ] || fail "images_anonymized rows"
[ "$(sql "SELECT count(*) FROM images_processed")" -eq 13 ] || fail "no image processed twice"
[ "$(wc -l <"$T/hook.log")" -eq 5 ] || fail "no new notifications"
stop_worker

# ---- phase 3: a trained model, the simulator dripping into a live inbox ----
"$BIN/xray-train" --input 32 --filters 6,8 --dense 16 --train 300 --epochs 15 --test 50 \
    --size 160 --seed 5 --version v-test -o "$T/trained.model" >"$T/train.log"
start_worker "$T/trained.model" v-test worker3.log
# (same image size as the training images: these small models are not
# resolution-independent)
"$BIN/xray-sim" --inbox "$T/data/inbox" --interval 0.1 --count 10 --size 160 --seed 18 -q
EXPECT=10 wait_for "10 dripped images" 30 metric_is xray_images_processed_total
EXPECT=10 metric_is xray_truth_total || fail "ground truth known for all 10"
high=$(metric xray_images_band_total 'band="high"')
[ "$high" -ge 1 ] || fail "seed 18 should give high-risk images"
EXPECT=$((5 + high)) wait_for "phase-3 notifications" 30 \
    bash -c '[ "$(wc -l <"$0")" -ge "$1" ]' "$T/hook.log" "$((5 + high))"
[ "$(sql "SELECT count(*) FROM images_processed WHERE model='v-test' AND truth IS NOT NULL")" -eq 10 ] \
    || fail "phase-3 rows with truth"
stop_worker
echo "xray-worker integration: ok ($high high-risk in phase 3)"
