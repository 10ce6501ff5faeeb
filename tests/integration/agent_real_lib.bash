# Shared by tests/integration/agent_real_*.sh (sourced; not a test itself):
# the real cairn-agent against the real cairn-controller. A fleet
# repository with SSH-signed commits (controller_lib.bash), three models
# signed by `cairnctl sign-model` whose bytes are test-worker models
# (tests/tools/testworker.py: the worker refuses a blob whose digest is not
# CAIRN_MODEL_SHA256 and names its blob's digest on /healthz; v1 and v2
# are healthy, v3 never is, within HEALTH_TIMEOUT seconds), the site
# enrolled by a commit of `cairn-agent init`'s stanza, and the models
# served from the controller's artifacts by digest.
#
#   real_setup [AGENT-YAML-LINES]   all of the above; edge-1 on generation 1
#   agent_start / agent_stop / agent_kill   (pid in APID, log T/agent.log)
#   set_fleet VERSION THRESHOLD + commit    change what the site runs
#   site_is GEN VERSION             the controller's view of edge-1
#   stored_reports                  every stored report (all pages) as JSON
#   outbox_snapshot FILE            the agent's unacknowledged reports
#   check_current                   invariants 1 and 2 on the agent's disk
# Everything binds 127.0.0.1 only.

: "${CAIRN_SRC:?}"
source "$CAIRN_SRC/tests/integration/controller_lib.bash"
AGENT=$CAIRN_BUILD/agent/cairn-agent
if [ ! -x "$AGENT" ]; then
    echo "SKIP: $AGENT is not built"
    exit 0
fi
SITE=edge-1
T=$(mktemp -d "${TMPDIR:-/tmp}/cairn-agent-real.XXXXXX")
APID=
CTRL_PID=
WORKER_PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

real_cleanup() {
    set +e
    [ -n "$APID" ] && { kill -KILL "$APID"; wait "$APID"; } 2>/dev/null
    [ -n "$CTRL_PID" ] && { kill -KILL "$CTRL_PID"; wait "$CTRL_PID"; } 2>/dev/null
    local f
    for f in "$T"/agent/workloads/*/worker.pid; do # the workers: own process groups
        [ -f "$f" ] && kill -KILL -- "-$(cut -d' ' -f1 "$f")" 2>/dev/null
    done
    if grep -qE "AddressSanitizer|LeakSanitizer|runtime error:" "$T"/*.log 2>/dev/null; then
        echo "FAIL: sanitizer report in a log:" >&2
        grep -hE -A12 "AddressSanitizer|LeakSanitizer|runtime error:" "$T"/*.log | head -40 >&2
        fails=$((fails + 1))
    fi
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}

# die MESSAGE: a failure after which the test cannot go on.
die() {
    echo "FAIL: $*" >&2
    if [ -f "$T/agent.log" ]; then
        echo "--- agent log (tail)" >&2
        tail -n 40 "$T/agent.log" >&2
    fi
    echo "--- controller log (tail)" >&2
    tail -n 10 "$T/controller.log" >&2 2>/dev/null
    exit 1
}

wait_for() { # wait_for SECONDS CMD...
    local end=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -ge "$end" ] && return 1
        sleep 0.2
    done
}

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# set_fleet VERSION THRESHOLD: the model version and the worker's env.
set_fleet() {
    sed -i -e "s/pneumonia: v[0-9]*/pneumonia: $1/" -e "s/threshold: .*/threshold: \"$2\"/" \
        "$T/repo/fleet.yaml"
}

real_setup() {
    make_fleet "$T"
    local v h b
    # test-worker models instead of random bytes, signed again; v3 never
    # becomes healthy
    for v in v1 v2 v3; do
        if [ $v = v3 ]; then b=unhealthy; else b=good; fi
        printf '{"behaviour":"%s","id":"%s"}\n' "$b" "$v" >"$T/model-$v.bin"
        "$CTL" sign-model --key "$T/keys/publisher.key" --name pneumonia --version $v \
            "$T/model-$v.bin" >"$T/repo/models/pneumonia/$v.yaml" 2>/dev/null
        mv "$T/model-$v.bin.att.json" "$T/repo/models/pneumonia/$v.att.json"
        # no URLs: the agent fetches the model from the controller by digest
        sed -i '/urls:/d;/^    - /d' "$T/repo/models/pneumonia/$v.yaml"
        h=$(sha_of "$T/model-$v.bin")
        mkdir -p "$T/state/artifacts/sha256"
        cp "$T/model-$v.bin" "$T/state/artifacts/sha256/$h"
    done
    cat >"$T/repo/workloads/risk.yaml" <<YAML
kind: Workload
name: risk
model: {name: pneumonia, version: "{{ values.models.pneumonia }}"}
exec:
  command: [$PY, $CAIRN_SRC/tests/tools/testworker.py]
  env: {THRESHOLD: "{{ values.threshold }}", WORKER_PORT: "$WORKER_PORT", WORKER_LOG: "$T/worker.log"}
health: {http: "http://127.0.0.1:$WORKER_PORT/healthz", timeoutSeconds: ${HEALTH_TIMEOUT:-8}}
restart: {policy: always, backoffMaxSeconds: 2}
YAML
    commit "$T" "the test worker"
    start_controller "$T" --set allowedSigners="$T/allowed_signers" --set pollIntervalSeconds=1 \
        --set commitSignatures=require --set retention=100000 || die "controller did not start"
    URL=http://127.0.0.1:$PORT
    "$AGENT" init --site $SITE --controller "$URL" \
        --trust-controller "$T/state/controller.pub" --trust-publisher "$T/keys/publisher.pub" \
        --state "$T/agent" --config "$T/agent.yaml" >"$T/repo/sites/$SITE.yaml" 2>"$T/init.err" ||
        die "init: $(cat "$T/init.err")"
    commit "$T" "enrol $SITE"
    cat >>"$T/agent.yaml" <<EOF
retryMinSeconds: 1
retryMaxSeconds: 2
gracePeriodSeconds: 2
logLevel: debug
EOF
    [ $# -gt 0 ] && printf '%s\n' "$@" >>"$T/agent.yaml"
    agent_start
    wait_for 60 site_is 1 v1 || die "$SITE did not apply generation 1 with pneumonia@v1"
    wait_for 30 jq -e '.lastKnownGood.generation == 1 and .pending == null' "$T/agent/state.json" ||
        die "generation 1 did not pass its health gate"
}

agent_start() {
    "$AGENT" run --config "$T/agent.yaml" >>"$T/agent.log" 2>&1 &
    APID=$!
}

agent_stop() { # SIGTERM; the exit status must be 0
    local rc=0
    kill -TERM "$APID"
    wait "$APID" || rc=$?
    APID=
    return $rc
}

agent_kill() {
    { kill -KILL "$APID" && wait "$APID"; } 2>/dev/null || true
    APID=
}

agent_status() { "$AGENT" status --config "$T/agent.yaml" --json; }
agent_state() { cat "$T/agent/state.json"; }
outbox_count() { find "$T/agent/outbox" -name '*.dsse' | wc -l; }
outbox_empty() { [ "$(outbox_count)" = 0 ]; }

# site_is GEN VERSION: the controller says edge-1 applied GEN, runs
# pneumonia@VERSION and is ok.
site_is() {
    curl -sf "$URL/v1/sites/$SITE" | $PY -c "
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if d.get('applied') == $1 and d.get('running') == 'pneumonia@$2' and d.get('state') == 'ok' else 1)"
}

# served_sha: the digest of the blob the worker serves now.
served_sha() {
    curl -sf "http://127.0.0.1:$WORKER_PORT/healthz" | $PY -c 'import json,sys; print(json.load(sys.stdin)["model"])'
}
serving() { [ "$(served_sha)" = "$(sha_of "$T/model-$1.bin")" ]; }

# stored_reports: {"reports": [{"seq", "received", "sha", "payload"}...]}
# from GET /v1/sites/edge-1/reports, every page; sha is the SHA-256 of the
# payload bytes, payload the decoded JSON.
stored_reports() {
    $PY - "$URL" "$SITE" <<'PY'
import base64, hashlib, json, sys, urllib.request
url, site = sys.argv[1:3]
out, after = [], 0
while True:
    with urllib.request.urlopen("%s/v1/sites/%s/reports?after=%d&limit=1000" % (url, site, after)) as r:
        page = json.load(r)
    for it in page["reports"]:
        raw = base64.b64decode(it["envelope"]["payload"])
        out.append({"seq": it["seq"], "received": it["received"],
                    "sha": hashlib.sha256(raw).hexdigest(), "payload": json.loads(raw)})
    if page["next"] is None:
        break
    after = page["next"]
json.dump({"reports": out}, sys.stdout)
PY
}

# outbox_snapshot FILE: the outbox's reports now, as
# {"reports": [{"seq", "event", "sha", "payload"}...]} (a report removed
# while the directory is read is left out).
outbox_snapshot() {
    $PY - "$T/agent/outbox" >"$1" <<'PY'
import base64, hashlib, json, os, sys
d, out = sys.argv[1], []
for name in sorted(os.listdir(d)):
    if not name.endswith(".dsse") or name.startswith("."):
        continue
    try:
        env = json.load(open(os.path.join(d, name)))
    except FileNotFoundError:
        continue
    raw = base64.b64decode(env["payload"])
    out.append({"seq": int(name[:20]), "event": name[21] == "e",
                "sha": hashlib.sha256(raw).hexdigest(), "payload": json.loads(raw)})
json.dump({"reports": out}, sys.stdout)
PY
}

# check_current: invariants 1 and 2 on disk. Every blob is named by its
# digest and read-only; every `current` points at such a blob.
check_current() {
    local f target ok=0
    for f in "$T"/agent/blobs/sha256/*; do
        [ -e "$f" ] || continue
        [ "$(sha_of "$f")" = "$(basename "$f")" ] || { echo "blob $f does not match its name" >&2; ok=1; }
        [ ! -w "$f" ] || [ "$(id -u)" = 0 ] || { echo "blob $f is writable" >&2; ok=1; }
    done
    for f in "$T"/agent/workloads/*/current; do
        [ -e "$f" ] || [ -L "$f" ] || continue
        target=$(readlink -f "$f")
        [ -f "$target" ] || { echo "$f points at a missing blob" >&2; ok=1; continue; }
        [ "$(sha_of "$target")" = "$(basename "$target")" ] || { echo "$f: unverified blob" >&2; ok=1; }
    done
    return $ok
}

# metric NAME-WITH-LABELS: a counter of the controller's /metrics (0 if absent).
metric() {
    curl -sf "$URL/metrics" | awk -v m="$1" '$1 == m { v = $2 } END { print v + 0 }'
}

# restart_controller: the controller again, on the same port (the agent's
# configured URL) and the same state directory.
restart_controller() {
    local port=$PORT
    rm -f "$T/port"
    "$CONTROLLER" --repo "$T/repo" --listen "127.0.0.1:$port" --state-dir "$T/state" \
        --port-file "$T/port" --set allowedSigners="$T/allowed_signers" \
        --set pollIntervalSeconds=1 --set commitSignatures=require --set retention=100000 \
        >>"$T/controller.out" 2>>"$T/controller.log" &
    CTRL_PID=$!
    wait_for 20 test -s "$T/port" || die "the controller did not start again"
    PORT=$(cat "$T/port")
    [ "$PORT" = "$port" ] || die "the controller came back on port $PORT, not $port"
}
