# Shared by tests/integration/controller_*.sh (sourced; not a test itself):
# a real fleet repository with SSH-signed commits, site keys from
# `cairnctl keygen`, a model signed by `cairnctl sign-model`, and the real
# cairn-controller on a loopback ephemeral port.

: "${CAIRN_BUILD:?set CAIRN_BUILD to the build directory}"
: "${CAIRN_SRC:?set CAIRN_SRC to the source directory}"
CTL=$CAIRN_BUILD/controller/cairnctl
CONTROLLER=$CAIRN_BUILD/controller/cairn-controller
PY=/usr/bin/python3
export PYTHONPATH=$CAIRN_SRC/tests/integration${PYTHONPATH:+:$PYTHONPATH}
[ -x "$CTL" ] && [ -x "$CONTROLLER" ] || { echo "FAIL: binaries not built" >&2; exit 1; }

fails=0
checks=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
check() { # check "what" CMD...
    local what=$1
    shift
    checks=$((checks + 1))
    if ! "$@" >/dev/null; then fail "$what"; fi
}
finish() {
    echo "$checks check(s), $fails failure(s)"
    [ "$fails" -eq 0 ]
}

# make_fleet DIR SITE...: keys under DIR/keys, repository DIR/repo with one
# signed commit; DIR/allowed_signers trusts the engineer key.
make_fleet() {
    local dir=$1
    shift
    mkdir -p "$dir/keys" "$dir/repo/sites" "$dir/repo/workloads" "$dir/repo/models/pneumonia"
    ssh-keygen -q -t ed25519 -N '' -C engineer -f "$dir/keys/engineer" </dev/null
    ssh-keygen -q -t ed25519 -N '' -C intruder -f "$dir/keys/intruder" </dev/null
    echo "engineer@example.com namespaces=\"git\" $(cat "$dir/keys/engineer.pub")" \
        >"$dir/allowed_signers"
    "$CTL" keygen --out "$dir/keys/publisher" >/dev/null
    head -c 4096 /dev/urandom >"$dir/model-v1.bin"
    head -c 4096 /dev/urandom >"$dir/model-v2.bin"
    for v in v1 v2; do
        "$CTL" sign-model --key "$dir/keys/publisher.key" --name pneumonia --version $v \
            "$dir/model-$v.bin" >"$dir/repo/models/pneumonia/$v.yaml" 2>/dev/null
        mv "$dir/model-$v.bin.att.json" "$dir/repo/models/pneumonia/$v.att.json"
    done
    cat >"$dir/repo/fleet.yaml" <<YAML
kind: Fleet
name: testfleet
values:
  workloads: [risk]
  models: {pneumonia: v1}
  threshold: "0.8"
policy:
  trustedPublishers:
    - $(cat "$dir/keys/publisher.pub")
  desiredStateTTLHours: 24
YAML
    cat >"$dir/repo/workloads/risk.yaml" <<'YAML'
kind: Workload
name: risk
model: {name: pneumonia, version: "{{ values.models.pneumonia }}"}
exec:
  command: [/usr/local/bin/xray-worker, --site, "{{ site.name }}"]
  env: {THRESHOLD: "{{ values.threshold }}"}
YAML
    for s in "$@"; do
        "$CTL" keygen --out "$dir/keys/$s" >/dev/null
        printf 'kind: Site\nname: %s\nlabels: {region: east}\npublicKey: %s\n' \
            "$s" "$(cat "$dir/keys/$s.pub")" >"$dir/repo/sites/$s.yaml"
    done
    (
        cd "$dir/repo"
        git init -q -b main
        git config user.name Engineer
        git config user.email engineer@example.com
        git config gpg.format ssh
        git config user.signingkey "$dir/keys/engineer"
        git add -A
        git commit -q -S -m "fleet: first"
    )
}

# commit DIR MESSAGE [--unsigned|--intruder]: commit what changed in DIR/repo.
commit() {
    local dir=$1 msg=$2 how=${3:-}
    (
        cd "$dir/repo"
        git add -A
        case $how in
        --unsigned) git commit -q --no-gpg-sign -m "$msg" ;;
        --intruder) git -c user.signingkey="$dir/keys/intruder" commit -q -S -m "$msg" ;;
        *) git -c gpg.format=ssh commit -q -S -m "$msg" ;;
        esac
    )
}

# start_controller DIR [extra args...]: runs it in the background (pid in
# CTRL_PID, port in PORT, log in DIR/controller.log) and waits until it
# listens and has processed its first commit.
start_controller() {
    local dir=$1
    shift
    rm -f "$dir/port"
    "$CONTROLLER" --repo "$dir/repo" --listen 127.0.0.1:0 --state-dir "$dir/state" \
        --port-file "$dir/port" "$@" >>"$dir/controller.out" 2>>"$dir/controller.log" &
    CTRL_PID=$!
    for _ in $(seq 1 200); do
        [ -s "$dir/port" ] && break
        kill -0 "$CTRL_PID" 2>/dev/null || break
        sleep 0.05
    done
    if [ ! -s "$dir/port" ]; then
        echo "controller did not start:" >&2
        cat "$dir/controller.log" >&2
        return 1
    fi
    PORT=$(cat "$dir/port")
    wait_commits "$dir" 1
}

# wait_commits DIR N: until /v1/commits lists N commits (10 s). Sends
# $OPERATOR_TOKEN when set.
wait_commits() {
    local n auth=()
    [ -n "${OPERATOR_TOKEN:-}" ] && auth=(-H "Authorization: Bearer $OPERATOR_TOKEN")
    for _ in $(seq 1 200); do
        n=$(curl -s "${auth[@]}" "http://127.0.0.1:$PORT/v1/commits" |
            $PY -c 'import json,sys; print(len(json.load(sys.stdin)["commits"]))' 2>/dev/null) ||
            n=0
        [ "${n:-0}" -ge "$2" ] && return 0
        sleep 0.05
    done
    echo "controller processed fewer than $2 commits" >&2
    return 1
}

# stop_controller: SIGTERM, and the exit must be clean (status 0, so no
# sanitizer report or leak either).
stop_controller() {
    local rc=0
    if [ -n "${CTRL_PID:-}" ] && kill -0 "$CTRL_PID" 2>/dev/null; then
        kill -TERM "$CTRL_PID"
        wait "$CTRL_PID" 2>/dev/null || rc=$?
        checks=$((checks + 1))
        [ "$rc" -eq 0 ] || fail "cairn-controller exited with status $rc after SIGTERM"
    fi
    CTRL_PID=
}

# run_remote NAME URL [args...]: a controller following the remote URL,
# its state in DIR/NAME and its log in $T/NAME.log (T: the test's temp
# directory, with allowed_signers and hook.secret); waits until it listens
# (not for a commit: a refused fetch is what some tests look for). Sets
# CTRL_PID and PORT.
run_remote() {
    local name=$1 url=$2
    shift 2
    rm -f "$T/$name.port"
    "$CONTROLLER" --repo "$url" --listen 127.0.0.1:0 --state-dir "$T/$name" \
        --port-file "$T/$name.port" --set allowedSigners="$T/allowed_signers" \
        --set webhookSecretFile="$T/hook.secret" --set pollIntervalSeconds=3600 \
        "$@" >>"$T/$name.out" 2>>"$T/$name.log" &
    CTRL_PID=$!
    for _ in $(seq 1 200); do
        [ -s "$T/$name.port" ] && break
        kill -0 "$CTRL_PID" 2>/dev/null || break
        sleep 0.05
    done
    [ -s "$T/$name.port" ] || { cat "$T/$name.log" >&2; return 1; }
    PORT=$(cat "$T/$name.port")
}

# wait_log NAME TEXT: until $T/NAME.log holds TEXT (10 s).
wait_log() {
    for _ in $(seq 1 200); do
        grep -qF -- "$2" "$T/$1.log" && return 0
        sleep 0.05
    done
    return 1
}
