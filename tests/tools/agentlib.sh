# Shared set-up for cairn-agent's integration, attack and fault tests
# (sourced, not run). Needs CAIRN_BUILD and CAIRN_SRC (ctest sets them).
#
#   agent_setup            keys, a free port, `cairn-agent init`, the fake
#                          controller (tests/tools/fakecontroller.py)
#   agent_start / agent_stop / agent_kill
#   publish SPEC_JSON      sign and serve a desired state (see
#                          fakecontroller.py publish()); prints the answer
#   model FILE BEHAVIOUR   write a test model (tests/tools/testworker.py)
#   workload NAME MODELFILE [extra json]   a workload entry running testworker
#   wait_for TIMEOUT CMD...  poll until CMD succeeds
#   reports / events TYPE / applied_gen / status_json
# Everything binds 127.0.0.1 only.

set -euo pipefail
: "${CAIRN_BUILD:?}" "${CAIRN_SRC:?}"
PY=/usr/bin/python3
AGENT="$CAIRN_BUILD/agent/cairn-agent"
TOOLS="$CAIRN_SRC/tests/tools"
T=$(mktemp -d "${TMPDIR:-/tmp}/cairn-agent-test-XXXXXX")
SITE=st-olaf
AGENT_PID=
CTL_PID=
CTL_IN=

cleanup() {
    set +e
    [ -n "$AGENT_PID" ] && { kill -KILL "$AGENT_PID"; wait "$AGENT_PID"; } 2>/dev/null
    [ -n "$CTL_PID" ] && kill "$CTL_PID" 2>/dev/null
    # workers the agent started (own process groups): by their pid files
    for f in "$T"/state/workloads/*/worker.pid; do
        [ -f "$f" ] && kill -KILL -- "-$(cut -d' ' -f1 "$f")" 2>/dev/null
    done
    # a sanitizer report in any agent run fails the test
    local bad=0
    if grep -qE "AddressSanitizer|LeakSanitizer|runtime error:" "$T"/*.log 2>/dev/null; then
        echo "FAIL: sanitizer report in an agent log:" >&2
        grep -hE -A12 "AddressSanitizer|LeakSanitizer|runtime error:" "$T"/*.log | head -40 >&2
        bad=1
    fi
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
    [ "$bad" = 0 ] || exit 1
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    if [ -n "$AGENT_PID" ] && ! kill -0 "$AGENT_PID" 2>/dev/null; then
        local rc=0
        wait "$AGENT_PID" || rc=$?
        echo "(the agent had exited with status $rc)" >&2
        AGENT_PID=
    fi
    if [ -f "$T/agent.log" ]; then echo "--- agent log (tail)" >&2; tail -n 60 "$T/agent.log" >&2; fi
    exit 1
}

free_port() {
    $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

keygen() { ssh-keygen -q -t ed25519 -N '' -C "$(basename "$1")" -f "$1" >/dev/null; mv "$1" "$1.key"; }

wait_for() {
    local timeout=$1; shift
    local end=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -ge $end ] && return 1
        sleep 0.2
    done
}

start_controller() {
    local fifo="$T/ctl.in"
    [ -p "$fifo" ] || mkfifo "$fifo"
    $PY "$TOOLS/fakecontroller.py" --key "$T/keys/controller.key" \
        --publisher-key "$T/keys/publisher.key" --site "$SITE=$T/keys/site.pub" \
        --artifacts "$T/artifacts" --state "$T/ctlstate" --port "$CTL_PORT" ${CTL_TLS:-} \
        <"$fifo" >"$T/ctl.out" 2>>"$T/ctl.err" &
    CTL_PID=$!
    exec {CTL_IN}>"$fifo"
    wait_for 10 grep -q PORT "$T/ctl.out" || fail "fake controller did not start"
}

stop_controller() {
    [ -n "$CTL_PID" ] && kill "$CTL_PID" 2>/dev/null && wait "$CTL_PID" 2>/dev/null || true
    [ -n "$CTL_IN" ] && exec {CTL_IN}>&- || true
    CTL_PID=
    : >"$T/ctl.out"
}

agent_setup() {
    mkdir -p "$T/keys" "$T/artifacts" "$T/ctlstate" "$T/etc"
    keygen "$T/keys/controller"
    keygen "$T/keys/publisher"
    keygen "$T/keys/rogue"
    CTL_PORT=$(free_port)
    CTL="${CTL_SCHEME:-http}://127.0.0.1:$CTL_PORT"
    "$AGENT" init --site "$SITE" --controller "$CTL" ${INIT_EXTRA:-} \
        --trust-controller "$T/keys/controller.pub" \
        --trust-publisher "$T/keys/publisher.pub" \
        --state "$T/state" --config "$T/etc/agent.yaml" >"$T/stanza.yaml" 2>"$T/init.err" ||
        fail "init: $(cat "$T/init.err")"
    grep '^publicKey: ' "$T/stanza.yaml" | cut -d' ' -f2- >"$T/keys/site.pub"
    cat >>"$T/etc/agent.yaml" <<EOF
reportIntervalSeconds: ${REPORT_INTERVAL:-2}
retryMinSeconds: 1
retryMaxSeconds: ${RETRY_MAX:-3}
gracePeriodSeconds: 2
logLevel: debug
EOF
    start_controller
}

agent_start() {
    "$AGENT" run --config "$T/etc/agent.yaml" >>"$T/agent.log" 2>&1 &
    AGENT_PID=$!
}

agent_stop() {
    [ -n "$AGENT_PID" ] || return 0
    kill -TERM "$AGENT_PID"
    local rc=0
    wait "$AGENT_PID" || rc=$?
    AGENT_PID=
    return $rc
}

agent_kill() {
    [ -n "$AGENT_PID" ] || return 0
    { kill -KILL "$AGENT_PID"; wait "$AGENT_PID"; } 2>/dev/null || true
    AGENT_PID=
}

ctl() { # ctl METHOD PATH [BODY]
    if [ $# -ge 3 ]; then
        curl -sf ${CURL_EXTRA:-} -X "$1" --data-binary "$3" "$CTL/_control/$2"
    else
        curl -sf ${CURL_EXTRA:-} -X "$1" "$CTL/_control/$2"
    fi
}

publish() { ctl POST "publish?site=$SITE" "$1"; }

# model FILE BEHAVIOUR [extra json fields]
model() {
    printf '{"behaviour":"%s","id":"%s"%s}\n' "$2" "$1" "${3:+,$3}" >"$T/artifacts/$1"
}

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

WORKER_PORT=${WORKER_PORT:-$(free_port)}

# workload NAME MODELFILE [VERSION [extra json merged into the entry]]
workload() {
    local name=$1 file=$2 version=${3:-v1} extra=${4:-}
    $PY - "$name" "$file" "$version" "$extra" "$TOOLS" "$T" "$WORKER_PORT" <<'EOF'
import json, sys
name, file, version, extra, tools, t, port = sys.argv[1:8]
w = {"name": name,
     "model": {"file": file, "name": "pneumonia", "version": version,
               "urls": ["{base}/v1/artifacts/sha256/{sha256}"]},
     "exec": {"command": ["/usr/bin/python3", tools + "/testworker.py"],
              "env": {"WORKER_PORT": port, "WORKER_LOG": t + "/worker.log"}},
     "health": {"http": "http://127.0.0.1:%s/healthz" % port, "timeoutSeconds": 8},
     "restart": {"policy": "always", "backoffMaxSeconds": 2}}
if extra:
    for k, v in json.loads(extra).items():
        if isinstance(v, dict) and isinstance(w.get(k), dict):
            w[k].update(v)
        else:
            w[k] = v
print(json.dumps(w))
EOF
}

reports() { ctl GET "reports?site=$SITE"; }

# events TYPE: "generation reason" lines of the reported events of TYPE
events() {
    reports | jq -r --arg t "$1" '.reports[] | select(.event.type == $t) |
        "\(.event.generation) \(.event.reason // "")"'
}

has_event() { # has_event TYPE [GENERATION] [REASON-SUBSTRING]
    events "$1" | awk -v g="${2:-}" -v r="${3:-}" \
        '(g == "" || $1 == g) && (r == "" || index($0, r) > 0) { found = 1 } END { exit !found }'
}

last_report() { reports | jq -c '.reports[-1]'; }

applied_gen() { jq -r '.applied.generation // 0' "$T/state/state.json"; }
lkg_gen() { jq -r '.lastKnownGood.generation // 0' "$T/state/state.json"; }
phase() { jq -r '.pending.phase // "none"' "$T/state/state.json"; }

lkg_is() { [ "$(lkg_gen)" = "$1" ]; }
applied_is() { [ "$(applied_gen)" = "$1" ] && [ "$(phase)" = none ]; }

status_json() { "$AGENT" status --config "$T/etc/agent.yaml" --json; }

# The model the worker serves now (its /healthz names its blob's digest).
served_sha() { curl -sf "http://127.0.0.1:$WORKER_PORT/healthz" | jq -r .model; }

# serving MODELFILE: the worker answers with that model's digest.
serving() { [ "$(served_sha)" = "$(sha_of "$T/artifacts/$1")" ]; }

# worker_starts: how many times a worker process started (testworker.py log).
worker_starts() { if [ -f "$T/worker.log" ]; then wc -l <"$T/worker.log"; else echo 0; fi; }
more_starts_than() { [ "$(worker_starts)" -gt "$1" ]; }

# Invariants 1 and 2 on disk: every blob is named by its digest, and
# `current` points at such a blob.
check_blobs() {
    local f
    for f in "$T"/state/blobs/sha256/*; do
        [ -e "$f" ] || continue
        [ "$(sha_of "$f")" = "$(basename "$f")" ] || fail "blob $f does not match its name"
        [ ! -w "$f" ] || [ "$(id -u)" = 0 ] || fail "blob $f is writable"
    done
    for f in "$T"/state/workloads/*/current; do
        [ -L "$f" ] || continue
        local target
        target=$(readlink -f "$f")
        [ -f "$target" ] || fail "$f points at a missing blob"
        [ "$(sha_of "$target")" = "$(basename "$target")" ] || fail "$f: unverified blob"
    done
}

# ---- attacks: a running baseline that must stay untouched -----------------

# baseline [GEN]: generation GEN (default 1) running m1.bin, healthy.
baseline() {
    BASE_GEN=${1:-1}
    model m1.bin good
    publish "$(printf '{"generation": %s, "workloads": [%s]}' "$BASE_GEN" \
        "$(workload risk m1.bin v1)")" >/dev/null
    agent_start
    wait_for 30 applied_is "$BASE_GEN" || fail "baseline generation $BASE_GEN not applied"
    wait_for 10 has_event HealthGatePassed "$BASE_GEN" || fail "baseline not healthy"
    BASE_STARTS=$(worker_starts)
}

# unharmed: the baseline still runs, its worker never restarted.
unharmed() {
    [ "$(applied_gen)" = "$BASE_GEN" ] || fail "the applied generation changed: $(applied_gen)"
    case $(phase) in none|fetch) ;; *) fail "an update went past fetching: $(phase)" ;; esac
    serving m1.bin || fail "m1 is no longer served"
    [ "$(worker_starts)" = "$BASE_STARTS" ] || fail "the running worker was restarted"
    jq -e --argjson g "$BASE_GEN" '.lastKnownGood.generation == $g' "$T/state/state.json" \
        >/dev/null || fail "last-known-good changed"
    check_blobs
}

# refused TYPE REASON-SUBSTRING [TIMEOUT]: a report event says why.
refused() {
    wait_for "${3:-20}" has_event "$1" "" "$2" ||
        fail "no $1 event saying \"$2\"; events: $(reports | jq -c '[.reports[].event | select(.)]')"
}

# spec1 GEN WORKLOAD-JSON: a desired-state spec with one workload.
spec1() { printf '{"generation": %s, "workloads": [%s]}' "$1" "$2"; }
