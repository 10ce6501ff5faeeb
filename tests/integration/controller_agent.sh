#!/usr/bin/env bash
# The real agent against the real controller: enrolment by commit, a
# session, the desired state by long-poll, the model fetched from the
# controller's artifacts by digest, reports, then a model update rolled out
# by a new commit. Skipped while cairn-agent is not built.
set -euo pipefail
source "$(dirname "$0")/controller_lib.bash"
AGENT=$CAIRN_BUILD/agent/cairn-agent
if [ ! -x "$AGENT" ]; then
    echo "FAIL: $AGENT is not built" >&2
    exit 1
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/cairn-ctl-agent.XXXXXX")
APID=
trap '[ -n "$APID" ] && kill "$APID" 2>/dev/null; stop_controller; rm -rf "$T"' EXIT
make_fleet "$T"
# no download URLs: the agent fetches the model from the controller by digest
for v in v1 v2; do
    sed -i '/urls:/d;/^    - /d' "$T/repo/models/pneumonia/$v.yaml"
    h=$(sha256sum "$T/model-$v.bin" | cut -d' ' -f1)
    mkdir -p "$T/state/artifacts/sha256"
    cp "$T/model-$v.bin" "$T/state/artifacts/sha256/$h"
done
cat >"$T/repo/workloads/risk.yaml" <<'YAML'
kind: Workload
name: risk
model: {name: pneumonia, version: "{{ values.models.pneumonia }}"}
exec:
  command: [/bin/sleep, "100000"]
YAML
commit "$T" "a worker that sleeps"
start_controller "$T" --set allowedSigners="$T/allowed_signers" --set pollIntervalSeconds=1 \
    --set reportIntervalSeconds=2

"$AGENT" init --site edge-1 --controller "http://127.0.0.1:$PORT" \
    --trust-controller "$T/state/controller.pub" --trust-publisher "$T/keys/publisher.pub" \
    --state "$T/agent" --config "$T/agent/agent.yaml" >"$T/repo/sites/edge-1.yaml" 2>"$T/init.err"
commit "$T" "enrol edge-1"
echo "reportIntervalSeconds: 2" >>"$T/agent/agent.yaml"
"$AGENT" run --config "$T/agent/agent.yaml" >"$T/agent.out" 2>"$T/agent.log" &
APID=$!

# wait_site GEN MODEL: until the controller reports edge-1 on GEN running MODEL (60 s)
wait_site() {
    for _ in $(seq 1 300); do
        if curl -s "http://127.0.0.1:$PORT/v1/sites/edge-1" | $PY -c "
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if d.get('applied') == $1 and d.get('running') == '$2' and d.get('state') == 'ok' else 1)" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    echo "--- agent log" >&2
    tail -20 "$T/agent.log" >&2
    return 1
}
check "the agent enrols, applies generation 1 and reports pneumonia@v1" wait_site 1 pneumonia@v1
check "the model came from the controller's artifacts" \
    grep -q 'route="artifacts",code="200"' <(curl -s "http://127.0.0.1:$PORT/metrics")
sed -i 's/pneumonia: v1/pneumonia: v2/' "$T/repo/fleet.yaml"
commit "$T" "model v2"
check "a new commit rolls out: generation 2 with pneumonia@v2" wait_site 2 pneumonia@v2
check "reports were stored" $PY -c "
import sqlite3, sys
n = sqlite3.connect('$T/state/records.db').execute(\"select count(*) from reports where site='edge-1'\").fetchone()[0]
sys.exit(0 if n >= 2 else 1)"
kill "$APID"
wait "$APID" || true
APID=
stop_controller
finish
