#!/usr/bin/env bash
# Per-workload reconcile, real controller + real agent + SSH-signed commits:
# a site runs two workloads, alpha and beta (tests/tools/testworker.py on two
# ports). A commit that changes only beta restarts and gates only beta:
# alpha's worker keeps its process. A broken change to beta fails beta's
# gate and rolls back only beta (alpha still untouched); the controller's
# records hold the RolledBack report. A change to alpha alone leaves beta
# alone in turn.
set -euo pipefail
source "$(dirname "$0")/controller_lib.bash"
AGENT=$CAIRN_BUILD/agent/cairn-agent
TOOLS=$CAIRN_SRC/tests/tools
[ -x "$AGENT" ] || { echo "FAIL: $AGENT is not built" >&2; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/cairn-partial.XXXXXX")
APID=
cleanup() {
    set +e
    [ -n "$APID" ] && kill -KILL "$APID" 2>/dev/null && wait "$APID" 2>/dev/null
    for f in "$T"/agent/workloads/*/worker.pid; do
        [ -f "$f" ] && kill -KILL -- "-$(cut -d' ' -f1 "$f")" 2>/dev/null
    done
    stop_controller
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
free_port() {
    $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_for() { # wait_for SECONDS CMD...
    local end=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -ge $end ] && return 1
        sleep 0.2
    done
}
die() {
    fail "$*"
    echo "--- agent log (tail)" >&2
    tail -n 40 "$T/agent.log" >&2
    finish
    exit 1
}

make_fleet "$T"
PA=$(free_port)
PB=$(free_port)
while [ "$PB" = "$PA" ]; do PB=$(free_port); done

# models: testworker.py's behaviour comes from the model bytes
publish_model() { # publish_model NAME VERSION BEHAVIOUR
    local f="$T/$1-$2.bin" h
    printf '{"behaviour":"%s","id":"%s-%s"}\n' "$3" "$1" "$2" >"$f"
    mkdir -p "$T/repo/models/$1" "$T/state/artifacts/sha256"
    "$CTL" sign-model --key "$T/keys/publisher.key" --name "$1" --version "$2" "$f" \
        >"$T/repo/models/$1/$2.yaml" 2>/dev/null
    mv "$f.att.json" "$T/repo/models/$1/$2.att.json"
    h=$(sha256sum "$f" | cut -d' ' -f1)
    cp "$f" "$T/state/artifacts/sha256/$h"
}
publish_model alpha v1 good
publish_model alpha v2 good
publish_model beta v1 good
publish_model beta v2 unhealthy
workload_yaml() { # workload_yaml NAME PORT [extra env line]
    cat <<YAML
kind: Workload
name: $1
model: {name: $1, version: "{{ values.models.$1 }}"}
exec:
  command: [$PY, $TOOLS/testworker.py]
  env: {WORKER_PORT: "$2", WORKER_LOG: "$T/$1.log", MODE: "{{ values.mode.$1 }}"}
health: {http: "http://127.0.0.1:$2/healthz", timeoutSeconds: 5}
restart: {policy: always, backoffMaxSeconds: 2}
files:
  - {path: worker.conf, mode: "0640", content: "mode={{ values.mode.$1 }}\n"}
YAML
}
rm -f "$T/repo/workloads/risk.yaml"
workload_yaml alpha "$PA" >"$T/repo/workloads/alpha.yaml"
workload_yaml beta "$PB" >"$T/repo/workloads/beta.yaml"
$PY - "$T/repo/fleet.yaml" <<'EOF'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace("  workloads: [risk]\n  models: {pneumonia: v1}\n",
              "  workloads: [alpha, beta]\n  models: {alpha: v1, beta: v1}\n"
              "  mode: {alpha: one, beta: one}\n")
open(p, "w").write(s)
EOF
grep -q "workloads: \[alpha, beta\]" "$T/repo/fleet.yaml" || die "fleet.yaml not rewritten"
commit "$T" "two workloads"
start_controller "$T" --set allowedSigners="$T/allowed_signers" --set pollIntervalSeconds=1 \
    --set reportIntervalSeconds=2 || die "controller did not start"

"$AGENT" init --site edge-1 --controller "http://127.0.0.1:$PORT" \
    --trust-controller "$T/state/controller.pub" --trust-publisher "$T/keys/publisher.pub" \
    --state "$T/agent" --config "$T/agent/agent.yaml" >"$T/repo/sites/edge-1.yaml" 2>"$T/init.err" ||
    die "init: $(cat "$T/init.err")"
commit "$T" "enrol edge-1"
printf 'reportIntervalSeconds: 2\ngracePeriodSeconds: 2\nretryMinSeconds: 1\nretryMaxSeconds: 3\nlogLevel: debug\n' \
    >>"$T/agent/agent.yaml"
"$AGENT" run --config "$T/agent/agent.yaml" >"$T/agent.out" 2>"$T/agent.log" &
APID=$!
sleep 0.5
kill -0 "$APID" 2>/dev/null || die "the agent did not start"

# ---- probes ------------------------------------------------------------------
state() { jq -r "$1" "$T/agent/state.json"; }
applied_is() { # applied_is GEN: applied and last-known-good, nothing pending
    [ "$(state '.applied.generation // 0')" = "$1" ] &&
        [ "$(state '.lastKnownGood.generation // 0')" = "$1" ] &&
        [ "$(state '.pending.phase // "none"')" = none ]
}
pid_of() { cut -d' ' -f1 "$T/agent/workloads/$1/worker.pid"; }
starts() { if [ -f "$T/$1.log" ]; then wc -l <"$T/$1.log"; else echo 0; fi; }
port_of() { if [ "$1" = alpha ]; then echo "$PA"; else echo "$PB"; fi; }
serves() { # serves WORKLOAD MODELFILE: its /healthz names that model's digest
    [ "$(curl -sf "http://127.0.0.1:$(port_of "$1")/healthz" | jq -r .model)" = \
        "$(sha256sum "$T/$2" | cut -d' ' -f1)" ]
}
# events: "TYPE GENERATION REASON" per event report the controller stored
events() {
    $PY - "$T/state/records.db" <<'EOF'
import base64, json, sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=10)
for (env,) in db.execute("select envelope from reports where site='edge-1' order by seq"):
    p = json.loads(base64.b64decode(json.loads(env)["payload"]))
    ev = p.get("event")
    if ev:
        print(ev["type"], ev.get("generation"), ev.get("reason") or "")
EOF
}
has_event() { events | grep -q "^$1 $2\( \|$\)"; }
gate_log() { # gate_log WORKLOAD: how often that workload passed a health gate
    grep -c "reconcile: workload $1: healthy after" "$T/agent.log" || true
}

# ---- generation 1: both start and pass their gates -----------------------------
wait_for 60 applied_is 1 || die "generation 1 not applied"
wait_for 20 has_event HealthGatePassed 1 || die "no HealthGatePassed 1 at the controller"
check "alpha serves alpha v1" serves alpha alpha-v1.bin
check "beta serves beta v1" serves beta beta-v1.bin
A1=$(pid_of alpha)
B1=$(pid_of beta)
[ "$(starts alpha)" = 1 ] && [ "$(starts beta)" = 1 ] || die "workers started more than once"
gates_a=$(gate_log alpha)
gates_b=$(gate_log beta)
[ "$gates_a" = 1 ] && [ "$gates_b" = 1 ] || die "gates of generation 1: alpha $gates_a, beta $gates_b"

# ---- generation 2: beta's env and file change, alpha's do not -----------------
sed -i 's/mode: {alpha: one, beta: one}/mode: {alpha: one, beta: two}/' "$T/repo/fleet.yaml"
commit "$T" "beta: mode two"
wait_for 60 applied_is 2 || die "generation 2 not applied"
wait_for 20 has_event HealthGatePassed 2 || die "no HealthGatePassed 2 at the controller"
B2=$(pid_of beta)
check "alpha's worker kept its process ($A1)" test "$(pid_of alpha)" = "$A1"
check "alpha's worker is alive" kill -0 "$A1"
check "alpha's worker started once" test "$(starts alpha)" = 1
check "alpha was not gated again" test "$(gate_log alpha)" = "$gates_a"
check "the agent logged alpha as unchanged" \
    grep -q "workload alpha is unchanged in generation 2" "$T/agent.log"
check "beta's worker is a new process ($B1 -> $B2)" test "$B2" != "$B1"
check "beta's worker started twice" test "$(starts beta)" = 2
check "beta passed its gate again for generation 2" test "$(gate_log beta)" = $((gates_b + 1))
check "beta runs with generation 2" grep -q "^start $B2 .* 2\$" "$T/beta.log"
check "beta's new config" grep -qx "mode=two" "$T/agent/workloads/beta/config/worker.conf"
check "alpha still serves alpha v1" serves alpha alpha-v1.bin
check "alpha's config dir of generation 1 is kept while it runs" \
    test -f "$T/agent/workloads/alpha/config.1/worker.conf"

# ---- generation 3: a broken model for beta fails its gate, beta rolls back ----
sed -i 's/models: {alpha: v1, beta: v1}/models: {alpha: v1, beta: v2}/' "$T/repo/fleet.yaml"
commit "$T" "beta: model v2 (broken)"
wait_for 60 has_event RolledBack 3 || die "generation 3 not rolled back"
wait_for 20 applied_is 2 || die "not back on generation 2"
B3=$(pid_of beta)
check "alpha's worker still has its process ($A1)" test "$(pid_of alpha)" = "$A1"
check "alpha's worker still started once" test "$(starts alpha)" = 1
check "alpha was never gated for 3" test "$(gate_log alpha)" = "$gates_a"
check "beta ran the broken model" grep -q " $(sha256sum "$T/beta-v2.bin" | cut -d' ' -f1) v2 3\$" \
    "$T/beta.log"
check "beta is back on its generation 2 entry in a new process" test "$B3" != "$B2"
check "beta serves beta v1 again" wait_for 10 serves beta beta-v1.bin
check "beta runs its rolled-back entry (mode two)" \
    grep -qx "mode=two" "$T/agent/workloads/beta/config/worker.conf"
check "the RolledBack report names beta's gate" \
    grep -q "^RolledBack 3 .*workload beta" <(events)
check "generation 3 is failed" test "$(state '.failed | tostring')" = "[3]"
check "the controller shows the site on 2" wait_for 20 $PY -c "
import json, sys, urllib.request
d = json.load(urllib.request.urlopen('http://127.0.0.1:$PORT/v1/sites/edge-1'))
sys.exit(0 if d.get('applied') == 2 else 1)"

# ---- generation 4: alpha's model changes, beta is untouched ------------------
sed -i 's/models: {alpha: v1, beta: v2}/models: {alpha: v2, beta: v1}/' "$T/repo/fleet.yaml"
commit "$T" "alpha: model v2; beta back to v1"
wait_for 60 applied_is 4 || die "generation 4 not applied"
check "beta's worker kept its process ($B3)" test "$(pid_of beta)" = "$B3"
check "alpha's worker is a new process" test "$(pid_of alpha)" != "$A1"
check "alpha serves alpha v2" wait_for 10 serves alpha alpha-v2.bin
check "beta still serves beta v1" serves beta beta-v1.bin
check "HealthGatePassed 4" wait_for 20 has_event HealthGatePassed 4

# a clean stop still stops both workers
kill -TERM "$APID"
rc=0
wait "$APID" || rc=$?
APID=
check "the agent stopped cleanly" test "$rc" = 0
check "no sanitizer report" bash -c "! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' '$T/agent.log'"
stop_controller
finish
