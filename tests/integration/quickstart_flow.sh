#!/usr/bin/env bash
# The quickstart's story as a test, on the build under test (ASan in CI):
# examples/quickstart/run --quick --keep-running drives the real
# cairn-controller, three real cairn-agents with their xray-workers and
# simulators through v1, v2 and a broken v3; then, while the fleet is still
# up, this checks what the controller and the hospitals recorded:
#   - every site rolled back from generation 3 to 2 and runs v2, with the
#     reason, and the worker scored images with v1 and v2 but none with v3;
#   - the controller's status says so: state "rolledback" with the failed
#     generation and its reason (API, fleet counts, cairnctl status);
#   - signed reports arrived at the controller, each site's with the
#     Applied / HealthGatePassed / RolledBack events;
#   - anonymized uploads arrived, grouped by site and model version, stored
#     under their content hash, without patient names;
#   - staff notifications reached the webhook with each site's token;
#   - every commit carries a good SSH signature;
# and finally that Ctrl-C stops every process the quickstart started, that
# no sanitizer complained in any log, and that --clean removes the state.
set -euo pipefail

: "${CAIRN_BUILD:?set CAIRN_BUILD to the build directory}"
: "${CAIRN_SRC:?set CAIRN_SRC to the source directory}"
RUN=$CAIRN_SRC/examples/quickstart/run
PY=/usr/bin/python3
for b in controller/cairn-controller agent/cairn-agent controller/cairnctl \
    examples/xray-worker/xray-worker; do
    [ -x "$CAIRN_BUILD/$b" ] || { echo "FAIL: $CAIRN_BUILD/$b not built" >&2; exit 1; }
done

T=$(mktemp -d "${TMPDIR:-/tmp}/cairn-quickstart.XXXXXX")
S=$T/state
qs_pid=""
cleanup() {
    [ -z "$qs_pid" ] || kill -INT "$qs_pid" 2>/dev/null || true
    [ -z "$qs_pid" ] || wait "$qs_pid" 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT
fails=0
fail() {
    echo "FAIL: $*" >&2
    fails=$((fails + 1))
}
json() { "$PY" -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }

# --- the run, left up at the end ------------------------------------------------
# A background job of a script starts with SIGINT ignored, and bash cannot
# trap a signal ignored at entry: restore it, so that the Ctrl-C below is
# what a terminal's would be.
"$PY" -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])' \
    "$RUN" --no-build --build "$CAIRN_BUILD" --state "$S" --quick --timeout 150 --keep-running \
    >"$T/out" 2>&1 &
qs_pid=$!
for _ in $(seq 1500); do
    grep -q "Press Ctrl-C to stop everything" "$T/out" && break
    kill -0 "$qs_pid" 2>/dev/null || break
    sleep 0.2
done
if ! grep -q "Press Ctrl-C to stop everything" "$T/out"; then
    cat "$T/out" >&2
    for f in "$S"/logs/*.log; do
        echo "--- $f" >&2
        tail -20 "$f" >&2
    done
    echo "FAIL: the quickstart did not complete" >&2
    exit 1
fi
for want in "every site runs pneumonia@v1 and is healthy" \
    "every site runs pneumonia@v2 and is healthy" \
    "every site rolled back to pneumonia@v2 and keeps serving" \
    "v2 keeps serving"; do
    grep -q "$want" "$T/out" || fail "output lacks: $want"
done
# --- what the quickstart showed: status, per-model figures, the audit trail ----------
grep -qE '^ +sites 3: .*' "$T/out" || fail "output lacks the cairnctl status summary"
for s in st-olaf mercy st-marys; do
    grep -qE "^ +$s +[a-z]+ +3 +2 +pneumonia@v2 " "$T/out" || fail "status table lacks $s on v2"
done
grep -qE '^ +pneumonia@v2 +3 ' "$T/out" || fail "per-model table lacks pneumonia@v2 at 3 sites"
A=$S/audit-models.txt
for want in "0 problem(s)" "pneumonia@v3 added" "verified: platform-team@xraylab.example" \
    "st-olaf/risk-assessment: pneumonia@v2 (" "publisher"; do
    grep -qF "$want" "$A" || fail "audit models lacks: $want"
done
A=$S/audit-st-olaf.txt
grep -qE 'RolledBack' "$A" || fail "audit site lacks the rollback report"
grep -qE 'pneumonia@v2 .* still running' "$A" || fail "audit site: v2 not shown as still running"
grep -qF "0 problem(s)" "$A" || fail "audit site found problems: $(tail -3 "$A")"
grep -q "generations served" "$T/out" || fail "output lacks the audit site timeline"
CURL=$(sed -n 's/^  controller      \(http[^ ]*\)\/v1\/fleet .*/\1/p' "$T/out")
[ -n "$CURL" ] || { cat "$T/out" >&2; fail "no controller URL printed"; exit 1; }
case "$CURL" in http://127.0.0.1:*) ;; *) fail "controller not on loopback: $CURL" ;; esac

# --- the controller's view --------------------------------------------------------
SITES="st-olaf mercy st-marys"
[ "$(curl -sf "$CURL/v1/fleet" | json 'd["models"]')" = "{'pneumonia@v2': 3}" ] ||
    fail "fleet models: $(curl -sf "$CURL/v1/fleet")"
# The status tells the truth: generation 3 was rolled back, not "updating".
[ "$(curl -sf "$CURL/v1/fleet" | json 'd["states"]["rolledback"]')" = 3 ] ||
    fail "fleet states: $(curl -sf "$CURL/v1/fleet")"
grep -qE "^ +st-olaf +rolledback +3 +2 +pneumonia@v2" "$T/out" ||
    fail "the quickstart's cairnctl status lacks st-olaf rolledback 3 2"
grep -qE "^ +\^ generation 3 rolled back: .*exit 1" "$T/out" ||
    fail "the quickstart's cairnctl status lacks the rollback's reason"
for s in $SITES; do
    curl -sf "$CURL/v1/sites/$s" >"$T/$s.json" || { fail "GET /v1/sites/$s"; continue; }
    [ "$(json 'd["served"]["generation"], d["applied"], d["running"]' <"$T/$s.json")" = \
        "(3, 2, 'pneumonia@v2')" ] || fail "$s: served/applied/running: $(cat "$T/$s.json")"
    [ "$(json 'd["lastError"]["type"], d["lastError"]["generation"]' <"$T/$s.json")" = \
        "('RolledBack', 3)" ] || fail "$s: lastError: $(json 'd["lastError"]' <"$T/$s.json")"
    [ "$(json 'd["state"], d["failure"]["type"], d["failure"]["generation"]' <"$T/$s.json")" = \
        "('rolledback', 'RolledBack', 3)" ] ||
        fail "$s: state and failure: $(json 'd["state"], d["failure"]' <"$T/$s.json")"
    json 'd["failure"]["reason"]' <"$T/$s.json" | grep -q "exit 1" ||
        fail "$s: the failure's reason does not say the worker exited"
    json 'd["lastError"]["reason"]' <"$T/$s.json" | grep -q "exit 1" ||
        fail "$s: rollback reason does not say the worker exited"
    # Signed reports, as stored by the controller.
    n=$(sqlite3 -readonly "$S/controller/records.db" "SELECT count(*) FROM reports WHERE site = '$s'")
    [ "$n" -ge 6 ] || fail "$s: only $n reports stored"
    if curl -sf "$CURL/v1/sites/$s/reports?limit=1000" >"$T/$s.reports"; then
        "$PY" - "$T/$s.reports" >"$T/$s.events" <<'PY' || fail "$s: reports listing"
import base64, json, sys
for r in json.load(open(sys.argv[1]))["reports"]:
    p = json.loads(base64.b64decode(r["envelope"]["payload"]))
    e = p.get("event") or {}
    print(p["seq"], e.get("type", "-"), e.get("generation", "-"))
PY
        for ev in "Applied 1" "HealthGatePassed 1" "Applied 2" "HealthGatePassed 2" \
            "Applied 3" "RolledBack 3"; do
            grep -q " $ev\$" "$T/$s.events" || fail "$s: no $ev report"
        done
        grep -q " HealthGatePassed 3\$" "$T/$s.events" && fail "$s: generation 3 passed its gate"
    fi
    # The worker's own records: v1 and v2 scored images, v3 none.
    db=$S/sites/$s/agent/workloads/risk-assessment/work/xray-data/xray.db
    for v in v1 v2 v3; do
        eval "n_$v=$(sqlite3 -readonly "$db" "SELECT count(*) FROM images_processed WHERE model = '$v'")"
    done
    # shellcheck disable=SC2154
    { [ "$n_v1" -gt 0 ] && [ "$n_v2" -gt 0 ] && [ "$n_v3" = 0 ]; } ||
        fail "$s: images by model v1=$n_v1 v2=$n_v2 v3=$n_v3"
done

# --- uploads: the central lab's copies ------------------------------------------------
# Unsure studies are a few percent of the stream: give the fleet up to 60 s
# more for the first upload and the first notification to arrive.
for _ in $(seq 120); do
    [ -n "$(find "$S/controller/uploads" -type f -not -path '*/.sha256/*' 2>/dev/null | head -1)" ] &&
        [ -s "$S/notifications.jsonl" ] && break
    sleep 0.5
done
nup=0
while IFS= read -r f; do
    nup=$((nup + 1))
    rel=${f#"$S/controller/uploads/"}
    site=${rel%%/*} rest=${rel#*/} ver=${rest%%/*} name=${rel##*/}
    [[ " $SITES " == *" $site "* ]] || fail "upload under unknown site: $rel"
    [[ "$ver" == v1 || "$ver" == v2 ]] || fail "upload under model version $ver: $rel"
    [[ "$name" =~ ^demo_XXXXXXXX_[0-9a-f]{8}_XXXX-XX-XX_[0-9]{4}-[0-9]{2}-[0-9]{2}\.jpeg$ ]] ||
        fail "upload name is not anonymized: $name"
    sha=$(sha256sum "$f" | cut -d' ' -f1)
    [ -e "$S/controller/uploads/$site/.sha256/$sha" ] || fail "upload $rel not indexed by its sha256"
done < <(find "$S/controller/uploads" -type f -not -path '*/.sha256/*' 2>/dev/null)
[ "$nup" -ge 1 ] || fail "no upload reached the controller"
for s in $SITES; do
    # Each site's outbox drains: what is left is at most a few fresh files.
    left=$(find "$S/sites/$s/agent/workloads/risk-assessment/work/outbox" -type f -name 'demo_*' | wc -l)
    [ "$left" -le 5 ] || fail "$s: $left files still waiting in the outbox"
done

# --- staff notifications -------------------------------------------------------------
[ -s "$S/notifications.jsonl" ] || fail "no high-risk notification arrived"
"$PY" - "$S/notifications.jsonl" <<'PY' || fail "notifications"
import json, sys
seen = set()
for line in open(sys.argv[1]):
    n = json.loads(line)
    e = n["event"]
    assert e["band"] == "high" and e["class"] == "Pneumonia", e
    assert n["path"].startswith("/" + e["site"] + "/"), n
    assert e["model_version"] in ("v1", "v2"), e
    assert e["event_id"] not in seen, "duplicate " + e["event_id"]
    seen.add(e["event_id"])
PY

# --- Git: every commit signed by the engineer ------------------------------------------
[ "$(git -C "$S/fleet" rev-list --count HEAD)" = 4 ] || fail "want 4 commits"
[ "$(git -C "$S/fleet" log --format=%G? | sort -u)" = G ] || fail "a commit without a good signature"

# --- Ctrl-C stops everything ---------------------------------------------------------
kill -INT "$qs_pid"
rc=0
wait "$qs_pid" || rc=$?
qs_pid=""
[ "$rc" = 130 ] || fail "the quickstart exited $rc after Ctrl-C (want 130)"
sleep 0.5
if pgrep -f "$S" >"$T/left"; then
    fail "processes left behind: $(xargs -r ps -o pid,args -p <"$T/left")"
fi
if grep -lE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$S"/logs/*.log >"$T/san" 2>/dev/null; then
    for f in $(cat "$T/san"); do
        fail "sanitizer report in $f: $(grep -m1 -E "Sanitizer|runtime error" "$f")"
    done
fi

"$RUN" --clean --state "$S" >/dev/null || fail "--clean"
[ ! -e "$S" ] || fail "--clean left $S"

if [ "$fails" -gt 0 ]; then
    echo "--- quickstart output" >&2
    cat "$T/out" >&2
    echo "$fails check(s) failed" >&2
    exit 1
fi
echo "quickstart flow: ok"
