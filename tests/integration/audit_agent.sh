#!/usr/bin/env bash
# The audit trail end to end with the real cairn-agent and the real
# cairn-controller: a site enrols and runs pneumonia v1; a commit rolls out
# v2 whose health check fails, and the agent rolls back to v1. Then `audit
# site` must show that timeline from the site's own signed reports, and an
# exported bundle must verify offline (and fail once a report is altered).
set -euo pipefail
: "${CAIRN_SRC:?}"
source "$CAIRN_SRC/tests/integration/controller_lib.bash"
AGENT=$CAIRN_BUILD/agent/cairn-agent
if [ ! -x "$AGENT" ]; then
    echo "FAIL: $AGENT is not built" >&2
    exit 1
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/cairn-audit-agent.XXXXXX")
APID= HPID=
trap '[ -n "$APID" ] && kill "$APID" 2>/dev/null; [ -n "$HPID" ] && kill "$HPID" 2>/dev/null;
      stop_controller; rm -rf "$T"' EXIT

# a health endpoint: /ok answers 200, anything else 500
$PY -c '
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/ok" else 500)
        self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_port))
s.serve_forever()' "$T/hport" &
HPID=$!
for _ in $(seq 1 100); do [ -s "$T/hport" ] && break; sleep 0.05; done
HEALTH=http://127.0.0.1:$(cat "$T/hport")

make_fleet "$T"
for v in v1 v2; do # no URLs: the agent fetches the model from the controller by digest
    sed -i '/urls:/d;/^    - /d' "$T/repo/models/pneumonia/$v.yaml"
    h=$(sha256sum "$T/model-$v.bin" | cut -d' ' -f1)
    mkdir -p "$T/state/artifacts/sha256"
    cp "$T/model-$v.bin" "$T/state/artifacts/sha256/$h"
done
cat >"$T/repo/workloads/risk.yaml" <<YAML
kind: Workload
name: risk
model: {name: pneumonia, version: "{{ values.models.pneumonia }}"}
exec:
  command: [/bin/sleep, "100000"]
health: {http: "$HEALTH/ok", timeoutSeconds: 3}
YAML
commit "$T" "a worker with a health check"
start_controller "$T" --set allowedSigners="$T/allowed_signers" --set pollIntervalSeconds=1 \
    --set commitSignatures=require
URL=http://127.0.0.1:$PORT
"$AGENT" init --site edge-1 --controller "$URL" \
    --trust-controller "$T/state/controller.pub" --trust-publisher "$T/keys/publisher.pub" \
    --state "$T/agent" --config "$T/agent/agent.yaml" >"$T/repo/sites/edge-1.yaml" 2>"$T/init.err"
commit "$T" "enrol edge-1"
echo "reportIntervalSeconds: 1" >>"$T/agent/agent.yaml"
"$AGENT" run --config "$T/agent/agent.yaml" >"$T/agent.out" 2>"$T/agent.log" &
APID=$!

# until_events TYPE...: until the site's verified reports hold these events in order (90 s)
until_events() {
    local want="$*"
    for _ in $(seq 1 450); do
        if "$CTL" audit site edge-1 --controller "$URL" --json 2>/dev/null |
            $PY -c 'import json, sys
d = json.load(sys.stdin)
got = [r["event"]["type"] for r in d["reports"] if r["event"] and r["signature"] == "verified"]
sys.exit(0 if " ".join(got).find(sys.argv[1]) >= 0 else 1)' "$want" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    echo "--- no events [$want]; agent log:" >&2
    tail -20 "$T/agent.log" >&2
    return 1
}
check "edge-1 applies pneumonia v1 and passes its health gate" \
    until_events Applied HealthGatePassed
sed -i 's/pneumonia: v1/pneumonia: v2/' "$T/repo/fleet.yaml"
sed -i 's|/ok"|/fail"|' "$T/repo/workloads/risk.yaml"
commit "$T" "model v2 (its health check fails)"
check "v2 fails its health gate and is rolled back" \
    until_events Applied HealthGatePassed Applied RolledBack
sleep 2 # a status report or two on v1 again
kill "$APID"
wait "$APID" || true
APID=

"$CTL" audit site edge-1 --controller "$URL" --repo "$T/repo" \
    --controller-key "$T/state/controller.pub" --json >"$T/site.json" ||
    fail "audit site: $(cat "$T/site.json")"
check "the timeline: v1, then v2 while its health gate ran, then v1 again" \
    $PY - "$T/site.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["problems"] == 0 and d["siteKeySource"] == "repository", d
assert all(r["signature"] == "verified" for r in d["reports"])
assert all(g["controllerSignature"] in ("verified", "no envelope") for g in d["generations"])
runs = [(i["workload"], i["version"]) for i in d["intervals"]]
assert runs == [("risk", "v1"), ("risk", "v2"), ("risk", "v1")], runs
assert d["intervals"][-1]["open"] is True
rb = [r for r in d["reports"] if r["event"] and r["event"]["type"] == "RolledBack"]
gens = [g["generation"] for g in d["generations"]]
assert len(rb) == 1 and rb[0]["event"]["generation"] == gens[-1], (rb, gens)
assert rb[0]["applied"] == gens[-2], (rb, gens)
PY
"$CTL" audit export --site edge-1 --controller "$URL" --repo "$T/repo" --out "$T/bundle.json" \
    >/dev/null || fail "export"
stop_controller
rc=0
"$CTL" audit verify "$T/bundle.json" --allowed-signers "$T/allowed_signers" \
    --controller-key "$T/state/controller.pub" >"$T/verify.out" || rc=$?
check "the real agent's bundle verifies ($rc): $(cat "$T/verify.out")" [ "$rc" = 0 ]
check "verify names who approved v2" grep -q "risk ran pneumonia@v2" "$T/verify.out"
$PY - "$T/bundle.json" "$T/bad.json" <<'PY'
import base64, json, sys
b = json.load(open(sys.argv[1]))
env = b["reports"][-1]["envelope"]
p = json.loads(base64.b64decode(env["payload"]))
p["workloads"][0]["model"]["version"] = "v9"
env["payload"] = base64.b64encode(json.dumps(p, sort_keys=True, separators=(",", ":")).encode()).decode()
json.dump(b, open(sys.argv[2], "w"))
PY
n=$($PY -c 'import json,sys; b=json.load(open(sys.argv[1])); print(len(b["reports"])-1, b["reports"][-1]["seq"])' "$T/bundle.json")
rc=0
"$CTL" audit verify "$T/bad.json" --allowed-signers "$T/allowed_signers" \
    --controller-key "$T/state/controller.pub" >"$T/bad.out" || rc=$?
check "an altered report of the real agent: exit 1 ($rc)" [ "$rc" = 1 ]
check "the altered report is named" grep -qF "PROBLEM reports[${n% *}] (seq ${n#* }): site signature" "$T/bad.out"
finish
