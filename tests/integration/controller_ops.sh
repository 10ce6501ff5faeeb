#!/usr/bin/env bash
# cairn-controller operations: configuration errors cite file:line; the
# zero-config start (--repo alone); SIGTERM drains and exits 0; SIGHUP
# reloads (a broken file keeps the running configuration whole: none of its
# keys is applied, the error is logged with file:line); state survives
# a restart (generations, report seqs, nonces); slow clients (slowloris)
# do not block others.
set -euo pipefail
source "$(dirname "$0")/controller_lib.bash"

T=$(mktemp -d "${TMPDIR:-/tmp}/cairn-ops.XXXXXX")
trap 'stop_controller; [ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
make_fleet "$T" site-a site-b

# --- configuration errors -----------------------------------------------------------
cfgerr() { # cfgerr "what" "expected stderr" <<< yaml
    local what=$1 want=$2 rc=0
    cat >"$T/bad.yaml"
    "$CONTROLLER" --config "$T/bad.yaml" --print-config >/dev/null 2>"$T/err" || rc=$?
    checks=$((checks + 1))
    if [ "$rc" -ne 2 ] || ! grep -qF -- "$want" "$T/err"; then
        fail "$what: exit $rc, stderr: $(cat "$T/err")"
    fi
}
cfgerr "unknown key" "bad.yaml:3:1: unknown key \"pollInterval\"" <<YAML
repo: $T/repo
branch: main
pollInterval: 5
YAML
cfgerr "value out of range" "bad.yaml:2:22:" <<YAML
repo: $T/repo
pollIntervalSeconds: 0
YAML
cfgerr "not a number" "bad.yaml:3:" <<YAML
repo: $T/repo
# comment
retention: many
YAML
cfgerr "bad enum" "bad.yaml:2:19:" <<YAML
repo: $T/repo
commitSignatures: maybe
YAML
cfgerr "bad listen" "bad.yaml:2:9: listen \"localhost\"" <<YAML
repo: $T/repo
listen: localhost
YAML
cfgerr "require without signers" "bad.yaml:2:19: commitSignatures is require" <<YAML
repo: $T/repo
commitSignatures: require
YAML
cfgerr "YAML syntax" "bad.yaml:3:1:" <<YAML
repo: $T/repo
listen: [unclosed
YAML
cfgerr "no repo" "no repository" <<YAML
branch: main
YAML
rc=0
"$CONTROLLER" --set nope=1 --repo "$T/repo" --print-config >/dev/null 2>"$T/err" || rc=$?
check "unknown --set key exits 2" [ "$rc" -eq 2 ]
check "unknown --set key named" grep -q 'nope' "$T/err"
printf 'repo: repo\nretention: 7\n' >"$T/good.yaml"
"$CONTROLLER" --config "$T/good.yaml" --print-config >"$T/out"
check "relative repo taken from the config file's directory" grep -q "repo: \"$T/repo\"" "$T/out"
check "retention from the file" grep -q "^retention: 7" "$T/out"
"$CONTROLLER" --print-config-doc >"$T/doc"
check "config doc lists pollIntervalSeconds" grep -q '`pollIntervalSeconds`' "$T/doc"
sed -n '/<!-- config-table -->/,/<!-- \/config-table -->/p' "$CAIRN_SRC/docs/controller-daemon.md" |
    sed '1d;$d' >"$T/doc.md"
check "docs/controller-daemon.md has the binary's config table" cmp -s "$T/doc" "$T/doc.md"
check "manifests/controller.yaml is a valid configuration" \
    "$CONTROLLER" --config "$CAIRN_SRC/manifests/controller.yaml" --print-config
$PY -c "import yaml,sys; print(list(yaml.safe_load_all(open(sys.argv[1])))[0]['data']['controller.yaml'])" \
    "$CAIRN_SRC/manifests/kubernetes/controller.yaml" >"$T/k8s.yaml"
check "the Kubernetes ConfigMap holds a valid configuration" \
    "$CONTROLLER" --config "$T/k8s.yaml" --print-config
check "unit file: Type=notify with a watchdog" \
    grep -qx "Type=notify" "$CAIRN_SRC/manifests/cairn-controller.service"
check "unit file: WatchdogSec" grep -q "^WatchdogSec=" "$CAIRN_SRC/manifests/cairn-controller.service"

# --- --repo alone: ./cairn-state, a key made on first run, 127.0.0.1:8440 -----------------
if $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 8440))' 2>/dev/null; then
    mkdir -p "$T/alone"
    # a repository on "master" (plain `git init` on many systems): with no
    # branch configured the controller follows the branch HEAD names
    git clone -q --no-hardlinks "$T/repo" "$T/on-master"
    git -C "$T/on-master" branch -m master
    (cd "$T/alone" && exec "$CONTROLLER" --repo "$T/on-master" >out 2>log) &
    pid=$!
    ok=0
    for _ in $(seq 1 100); do
        curl -sf http://127.0.0.1:8440/v1/commits >/dev/null 2>&1 && { ok=1; break; }
        sleep 0.05
    done
    check "--repo alone listens on 127.0.0.1:8440" [ "$ok" -eq 1 ]
    for _ in $(seq 1 100); do
        [ "$(curl -s http://127.0.0.1:8440/v1/commits | jq '.commits | length')" -gt 0 ] && break
        sleep 0.05
    done
    check "--repo alone follows the master branch HEAD names" \
        [ "$(curl -s http://127.0.0.1:8440/v1/commits | jq -r '.commits[0].sha')" = \
        "$(git -C "$T/on-master" rev-parse master)" ]
    check "the log names the branch" grep -q "branch master" "$T/alone/log"
    check "state in ./cairn-state" test -f "$T/alone/cairn-state/controller.key"
    check "key file mode 0600" [ "$(stat -c %a "$T/alone/cairn-state/controller.key")" = 600 ]
    check "public key next to it" test -f "$T/alone/cairn-state/controller.pub"
    check "key path, .pub path and key id printed" \
        grep -qE "controller.key \(public key .*controller.pub, key id [0-9a-f]{16}\)" \
        "$T/alone/out"
    kill -TERM $pid
    wait $pid || fail "--repo alone: exit code $?"
else
    echo "note: 127.0.0.1:8440 is in use; the --repo-alone check is skipped"
fi

# --- SIGHUP reload -------------------------------------------------------------------------
OPERATOR_TOKEN=
cat >"$T/controller.yaml" <<YAML
repo: repo
commitSignatures: "off"
pollIntervalSeconds: 3600
YAML
start_controller "$T" --config "$T/controller.yaml" --set headerTimeoutMs=1000
check "unsigned-policy: first commit accepted" \
    $PY -c "import json,sys,urllib.request as u; d=json.load(u.urlopen('http://127.0.0.1:$PORT/v1/commits')); sys.exit(0 if d['commits'][0]['accepted'] else 1)"
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
check "fleet open before the reload" [ "$(code "http://127.0.0.1:$PORT/v1/fleet")" = 200 ]
printf 'op-token-abcdefghijklmnop\n' >"$T/op.token"
cat >"$T/controller.yaml" <<YAML
repo: repo
pollIntervalSeconds: 3600
operatorTokenFile: op.token
allowedSigners: allowed_signers
commitSignatures: require
YAML
# unsigned commit accepted under "off"; after the reload the same tip is re-judged
echo "# unsigned" >>"$T/repo/fleet.yaml"
commit "$T" "unsigned change" --unsigned
kill -HUP "$CTRL_PID"
OPERATOR_TOKEN=op-token-abcdefghijklmnop
sleep 0.5
wait_commits "$T" 2
check "reload: operator token now required" \
    [ "$(code "http://127.0.0.1:$PORT/v1/fleet")" = 401 ]
check "reload: operator token accepted" \
    [ "$(code -H "Authorization: Bearer $OPERATOR_TOKEN" "http://127.0.0.1:$PORT/v1/fleet")" = 200 ]
check "reload: the unsigned tip is refused under require" \
    $PY -c "
import json,sys,urllib.request as u
r=u.Request('http://127.0.0.1:$PORT/v1/commits', headers={'Authorization':'Bearer $OPERATOR_TOKEN'})
d=json.load(u.urlopen(r)); k=d['commits'][0]
sys.exit(0 if not k['accepted'] and d['accepted'] != k['sha'] else 1)"
check "reload logged" grep -q "configuration reloaded" "$T/controller.log"
echo "bogusKey: 1" >>"$T/controller.yaml"
kill -HUP "$CTRL_PID"
sleep 0.5
check "broken reload: error names file:line" \
    grep -qE "reload: .*controller.yaml:[0-9]+:1: unknown key \"bogusKey\"" "$T/controller.log"
check "broken reload: still running with the old configuration" \
    [ "$(code -H "Authorization: Bearer $OPERATOR_TOKEN" "http://127.0.0.1:$PORT/v1/fleet")" = 200 ]
sed -i '/bogusKey/d' "$T/controller.yaml"

# A broken file is all or nothing: the keys it changes before (or besides)
# its error are not applied either. Each broken file below moves the report
# interval to 5 and the operator token to op2.token.
printf 'op-token-other-0123456789\n' >"$T/op2.token"
good_yaml=$(cat "$T/controller.yaml")
interval() { # the report interval /v1/fleet shows, with token $1
    curl -s -H "Authorization: Bearer $1" "http://127.0.0.1:$PORT/v1/fleet" |
        $PY -c "import json,sys; print(json.load(sys.stdin)['reportIntervalSeconds'])" 2>/dev/null
}
hup_and_wait() { # hup_and_wait PATTERN: SIGHUP, then until the log has one more PATTERN line
    local n
    n=$(grep -c "$1" "$T/controller.log" || true)
    kill -HUP "$CTRL_PID"
    for _ in $(seq 100); do
        [ "$(grep -c "$1" "$T/controller.log" || true)" -gt "$n" ] && return 0
        sleep 0.05
    done
    return 1
}
bad_reload() { # bad_reload WHAT ERROR-REGEX, with the broken file in place
    check "$1: refused" hup_and_wait "the running configuration stays"
    check "$1: the error is logged with where" \
        grep -qE "reload: $2.*; the running configuration stays" "$T/controller.log"
    check "$1: the report interval stays 30" [ "$(interval "$OPERATOR_TOKEN")" = 30 ]
    check "$1: the old operator token still opens /v1/fleet" \
        [ "$(code -H "Authorization: Bearer $OPERATOR_TOKEN" "http://127.0.0.1:$PORT/v1/fleet")" = 200 ]
    check "$1: the new one does not" \
        [ "$(code -H "Authorization: Bearer op-token-other-0123456789" "http://127.0.0.1:$PORT/v1/fleet")" = 401 ]
}
check "before the broken reloads: report interval 30" [ "$(interval "$OPERATOR_TOKEN")" = 30 ]
cat >"$T/controller.yaml" <<YAML
repo: repo
pollIntervalSeconds: 3600
reportIntervalSeconds: 5
operatorTokenFile: op2.token
allowedSigners: allowed_signers
commitSignatures: require
maxWaitersPerSite: 0
YAML
bad_reload "a bad value on the last line" \
    "[^ ]*controller.yaml:7:20: maxWaitersPerSite: 0 is out of range"
cat >"$T/controller.yaml" <<YAML
repo: repo
pollIntervalSeconds: 3600
reportIntervalSeconds: 5
operatorTokenFile: op2.token
commitSignatures: require
YAML
bad_reload "keys that contradict each other" \
    "[^ ]*controller.yaml:5:19: commitSignatures is require but allowedSigners is not set"
cat >"$T/controller.yaml" <<YAML
repo: repo
pollIntervalSeconds: 3600
reportIntervalSeconds: 5
operatorTokenFile: op2.token
allowedSigners: no_such_signers
commitSignatures: require
YAML
bad_reload "a missing allowedSigners file" \
    "[^ ]*controller.yaml:5:17: allowedSigners: [^ ]*no_such_signers: open"
cat >"$T/controller.yaml" <<YAML
repo: repo
pollIntervalSeconds: 3600
reportIntervalSeconds: 5
operatorTokenFile: no_such.token
allowedSigners: allowed_signers
commitSignatures: require
YAML
bad_reload "a missing operator token file" \
    "[^ ]*controller.yaml:4:20: operatorTokenFile: [^ ]*no_such.token: open"
# the same change without the error is taken, whole
printf '%s\nreportIntervalSeconds: 5\n' "$(sed 's/op.token/op2.token/' <<<"$good_yaml")" \
    >"$T/controller.yaml"
check "a good reload after the broken ones" hup_and_wait "configuration reloaded"
check "it moves the report interval" [ "$(interval op-token-other-0123456789)" = 5 ]
check "and the operator token" \
    [ "$(code -H "Authorization: Bearer $OPERATOR_TOKEN" "http://127.0.0.1:$PORT/v1/fleet")" = 401 ]
printf '%s\n' "$good_yaml" >"$T/controller.yaml"
check "back to the first file" hup_and_wait "configuration reloaded"
check "back to the first operator token" [ "$(interval "$OPERATOR_TOKEN")" = 30 ]

# --- slowloris: 300 connections dribbling headers do not block others ----------------------
T=$T PORT=$PORT $PY - <<'PYEOF'
import os, socket, threading, time
from cairn_client import *
c = Client(int(os.environ["PORT"]))
ck = Checker()
slow = []
for i in range(300):
    s = socket.create_connection(("127.0.0.1", c.port))
    s.sendall(b"GET /v1/sites/site-a/desired HTTP/1.1\r\nHost: x\r\n")
    slow.append(s)
worst = 0
for i in range(50):
    t = time.time()
    st, _, _ = c.request("GET", "/metrics")
    worst = max(worst, time.time() - t)
    ck.eq(st, 200, "normal request %d answered while 300 clients dribble" % i)
    for s in slow[i * 6:(i + 1) * 6]:
        try:
            s.sendall(b"X")
        except OSError:
            pass
ck(worst < 0.5, "no normal request waited (worst %.3f s)" % worst)
time.sleep(1.6)
closed = 0
for s in slow:
    s.settimeout(2)
    try:
        data = s.recv(4096)
        closed += data == b"" or data.startswith(b"HTTP/1.1 408")
    except OSError:
        closed += 1
ck.eq(closed, 300, "every slow client was cut off by the header timeout")
m = c.request("GET", "/metrics")[2].decode()
line = [l for l in m.splitlines() if l.startswith("cairn_controller_http_timeouts_total")]
ck(line and int(line[0].split()[1]) >= 300, "timeouts counted", line)
ck.done()
PYEOF
[ $? -eq 0 ] || fail "slowloris checks"

# --- SIGTERM with parked long-polls and a report in flight; restart keeps state -------------
T=$T PORT=$PORT $PY - <<'PYEOF' &
import json, os, threading, time
from cairn_client import *
T = os.environ["T"]
c = Client(int(os.environ["PORT"]))
sk = load_key(T + "/keys/site-a.key")
tok = c.token(sk, "site-a")
st, hd, env = c.json("GET", "/v1/sites/site-a/desired", token=tok)
st, _, doc = c.json("POST", "/v1/sites/site-a/reports",
                    dsse(sk, REPORT_TYPE, canonical(report_payload("site-a", 7))), token=tok)
json.dump({"etag": hd["etag"], "report": [st, doc]}, open(T + "/before.json", "w"))
t = time.time()
st, _, doc = c.json("GET", "/v1/sites/site-a/desired?wait=120", token=tok,
                    headers={"If-None-Match": hd["etag"]}, timeout=60)
json.dump({"status": st, "took": time.time() - t}, open(T + "/poll.json", "w"))
PYEOF
poller=$!
for _ in $(seq 1 100); do
    [ -s "$T/before.json" ] && break
    sleep 0.05
done
sleep 0.3
t0=$(date +%s.%N)
kill -TERM "$CTRL_PID"
rc=0
wait "$CTRL_PID" || rc=$?
t1=$(date +%s.%N)
CTRL_PID=
wait $poller || true
check "SIGTERM: exit code 0" [ "$rc" -eq 0 ]
check "SIGTERM: stopped within 5 s" $PY -c "import sys; sys.exit(0 if $t1 - $t0 < 5 else 1)"
check "SIGTERM: the parked long-poll got 503" grep -q '"status": 503' "$T/poll.json"
check "SIGTERM: drain logged" grep -q "SIGTERM: draining and stopping" "$T/controller.log"
check "report stored before the stop" grep -q '"stored": true' "$T/before.json"

start_controller "$T" --config "$T/controller.yaml"
T=$T PORT=$PORT $PY - <<'PYEOF'
import json, os
from cairn_client import *
T = os.environ["T"]
c = Client(int(os.environ["PORT"]))
ck = Checker()
before = json.load(open(T + "/before.json"))
sk = load_key(T + "/keys/site-a.key")
tok = c.token(sk, "site-a")
st, hd, _ = c.json("GET", "/v1/sites/site-a/desired", token=tok)
ck(st == 200 and hd["etag"] == before["etag"], "restart: same document, same ETag",
   hd.get("etag"), before["etag"])
st, _, doc = c.json("POST", "/v1/sites/site-a/reports",
                    dsse(sk, REPORT_TYPE, canonical(report_payload("site-a", 6))), token=tok)
ck.eq(st, 409, "restart: a seq below the stored one is still refused")
ck.done()
PYEOF
[ $? -eq 0 ] || fail "restart checks"
stop_controller

# --- re-issue: a document whose refresh time has come is re-signed and its
# long-polls wake (time is moved by making site-a's refresh due in the store)
$PY - "$T/state/cairn.db" >"$T/old.json" <<'PYEOF'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = dict((r[0], r[1:]) for r in db.execute("SELECT site, generation, issued FROM renders"))
db.execute("UPDATE renders SET refresh_at = 0 WHERE site = 'site-a'")
db.commit()
print(json.dumps(rows))
PYEOF
sleep 1 # a re-issue in the same second would keep the ETag
start_controller "$T" --config "$T/controller.yaml" --set refreshIntervalSeconds=1
T=$T PORT=$PORT $PY - <<'PYEOF'
import json, os, time
from cairn_client import *
T = os.environ["T"]
c = Client(int(os.environ["PORT"]))
ck = Checker()
old = json.load(open(T + "/old.json"))
ctl_pub = open(T + "/state/controller.pub").read().strip()
sk_a, sk_b = load_key(T + "/keys/site-a.key"), load_key(T + "/keys/site-b.key")
tok_a, tok_b = c.token(sk_a, "site-a"), c.token(sk_b, "site-b")
etag_a = '"%d.%d"' % tuple(old["site-a"])
t = time.time()
st, hd, env = c.json("GET", "/v1/sites/site-a/desired?wait=20", token=tok_a,
                     headers={"If-None-Match": etag_a})
ck(st == 200 and time.time() - t < 10, "a long-poll on the due document is answered", st)
p = verify_envelope(env, ctl_pub)
ck.eq(p["generation"], old["site-a"][0], "re-issue keeps the generation")
ck(p["issued"] > time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(old["site-a"][1])),
   "re-issue moves issued forward", p["issued"])
ck(hd["etag"] != etag_a, "re-issue changes the ETag", hd["etag"])
st, hd, _ = c.json("GET", "/v1/sites/site-b/desired", token=tok_b)
ck.eq(hd.get("etag"), '"%d.%d"' % tuple(old["site-b"]), "a document not due keeps its ETag")
m = c.request("GET", "/metrics")[2].decode()
ck("cairn_controller_documents_reissued_total 1" in m, "metrics: one document re-issued")
ck.done()
PYEOF
[ $? -eq 0 ] || fail "re-issue checks"
stop_controller

# --- sd_notify: READY, WATCHDOG, RELOADING, STATUS, STOPPING -------------------------------
$PY - "$T/notify.sock" "$T/notify.log" <<'PYEOF' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(20)
with open(sys.argv[2], "w") as f:
    while True:
        try:
            m = s.recv(4096).decode()
        except socket.timeout:
            break
        f.write(m + "\n")
        f.flush()
        if "STOPPING=1" in m:
            break
PYEOF
listener=$!
for _ in $(seq 1 100); do [ -S "$T/notify.sock" ] && break; sleep 0.05; done
NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=400000 start_controller "$T" --config "$T/controller.yaml"
sleep 0.6
kill -HUP "$CTRL_PID"
sleep 0.3
stop_controller
wait $listener || true
for m in READY=1 WATCHDOG=1 RELOADING=1 STATUS= STOPPING=1; do
    check "sd_notify: $m sent" grep -q "^$m" "$T/notify.log"
done
check "sd_notify: watchdog pinged repeatedly" [ "$(grep -c '^WATCHDOG=1' "$T/notify.log")" -ge 2 ]
finish
