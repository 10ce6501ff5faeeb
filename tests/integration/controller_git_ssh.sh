#!/usr/bin/env bash
# cairn-controller following a fleet repository over ssh: a real sshd on a
# loopback port with its own host key and a test client key. The host key
# is checked against gitKnownHosts: the right key works (plain and hashed
# entries), another key is refused naming the server key's SHA256
# fingerprint, a host listed only on another port is unknown, and with no
# known_hosts file the fetch is refused naming the key to set, unless
# gitInsecureHostKey accepts any key. Exit 77 (skipped) when sshd can't run.
set -euo pipefail
source "$(dirname "$0")/controller_lib.bash"

# libgit2 1.5 leaks a little per ssh connection (see the file); the slow
# unwinder lets the suppressions see the libgit2 caller.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$CAIRN_SRC/tests/integration/libgit2-ssh.supp"
SSHD=/usr/sbin/sshd
[ -x "$SSHD" ] || { echo "SKIP: $SSHD not installed (openssh-server)"; exit 77; }
T=$(mktemp -d "${TMPDIR:-/tmp}/cairn-ssh.XXXXXX")
SSHD_PID=
trap 'stop_controller; [ -n "$SSHD_PID" ] && kill "$SSHD_PID" 2>/dev/null; rm -rf "$T"' EXIT
chmod 755 "$T"
make_fleet "$T" site-a
printf 'hook-secret\n' >"$T/hook.secret"
mkdir -p "$T/srv"
git clone -q --bare "$T/repo" "$T/srv/fleet.git"

ssh-keygen -q -t ed25519 -N '' -C host -f "$T/host_key" </dev/null
ssh-keygen -q -t ed25519 -N '' -C other -f "$T/other_host_key" </dev/null
ssh-keygen -q -t ed25519 -N '' -C client -f "$T/client_key" </dev/null
cp "$T/client_key.pub" "$T/authorized_keys"
USER_NAME=$(id -un)
cat >"$T/sshd_config" <<EOF
ListenAddress 127.0.0.1
HostKey $T/host_key
AuthorizedKeysFile $T/authorized_keys
AllowUsers $USER_NAME
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
PidFile $T/sshd.pid
EOF
[ "$(id -u)" -ne 0 ] || mkdir -p /run/sshd # privilege separation directory

# A free port: bind 0, close, let sshd take it (retried on a race).
for _ in 1 2 3; do
    SSH_PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "$SSHD" -D -e -f "$T/sshd_config" -p "$SSH_PORT" 2>"$T/sshd.log" &
    SSHD_PID=$!
    for _ in $(seq 1 100); do
        grep -q "Server listening" "$T/sshd.log" 2>/dev/null && break
        kill -0 "$SSHD_PID" 2>/dev/null || break
        sleep 0.05
    done
    grep -q "Server listening" "$T/sshd.log" && break
    kill "$SSHD_PID" 2>/dev/null || true
    SSHD_PID=
done
if [ -z "$SSHD_PID" ]; then
    echo "SKIP: sshd does not run here:" >&2
    cat "$T/sshd.log" >&2
    exit 77
fi
# The server must really serve git for this user before the controller's
# refusals below can mean anything.
if ! GIT_SSH_COMMAND="ssh -i $T/client_key -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -p $SSH_PORT" \
    git ls-remote "$USER_NAME@127.0.0.1:$T/srv/fleet.git" >/dev/null 2>"$T/ls-remote.log"; then
    echo "SKIP: ssh login to the test sshd fails here:" >&2
    cat "$T/ls-remote.log" "$T/sshd.log" >&2
    exit 77
fi

URL="ssh://$USER_NAME@127.0.0.1:$SSH_PORT$T/srv/fleet.git"
FP=$(ssh-keygen -lf "$T/host_key.pub" | cut -d' ' -f2)
hostkey() { cut -d' ' -f1,2 "$T/$1.pub"; }
printf '# the test server\n[127.0.0.1]:%s %s\n' "$SSH_PORT" "$(hostkey host_key)" >"$T/kh.good"
printf '[127.0.0.1]:%s %s\n' "$SSH_PORT" "$(hostkey other_host_key)" >"$T/kh.other"
printf '127.0.0.1 %s\n' "$(hostkey host_key)" >"$T/kh.port22"
cp "$T/kh.good" "$T/kh.hashed"
ssh-keygen -q -H -f "$T/kh.hashed" >/dev/null 2>&1
rm -f "$T/kh.hashed.old"

# run NAME [--set ...]: a controller on URL with its own state and log
# (controller_lib.bash run_remote).
run() {
    local name=$1
    shift
    run_remote "$name" "$URL" --set gitSshKey="$T/client_key" "$@"
}

commits() { curl -s "http://127.0.0.1:$PORT/v1/commits" | jq '.commits | length'; }

# --- the right host key -----------------------------------------------------
run good --set gitKnownHosts="$T/kh.good"
check "good known_hosts: the first commit is accepted" wait_commits "$T" 1
check "good known_hosts: it is the repository's commit" bash -c \
    "curl -s http://127.0.0.1:$PORT/v1/commits | jq -e '.commits[0].sha == \"$(git -C "$T/repo" rev-parse HEAD)\" and .commits[0].accepted == true'"
sed -i 's/threshold: "0.8"/threshold: "0.9"/' "$T/repo/fleet.yaml"
commit "$T" "fleet: threshold 0.9"
git -C "$T/repo" push -q "$T/srv/fleet.git" main
sig=$(printf '{}' | openssl dgst -sha256 -hmac hook-secret -r | cut -d' ' -f1)
curl -s -X POST -H "X-Hub-Signature-256: sha256=$sig" -d '{}' \
    "http://127.0.0.1:$PORT/v1/hooks/git" >/dev/null
check "good known_hosts: a pushed commit arrives through the webhook" wait_commits "$T" 2
check "good known_hosts: no fetch error" bash -c "! grep -q 'fetch:' '$T/good.log'"
stop_controller

run hashed --set gitKnownHosts="$T/kh.hashed"
check "hashed known_hosts entry (ssh-keygen -H): accepted" wait_commits "$T" 1
stop_controller

# --- another key for the host: refused, naming the server's key ---------------
run other --set gitKnownHosts="$T/kh.other"
check "another key: refused naming the host and the server key's fingerprint" \
    wait_log other "fetch $URL: ssh host key of [127.0.0.1]:$SSH_PORT is ssh-ed25519 $FP, which $T/kh.other does not list for it"
check "another key: the listed key is shown too" \
    grep -qF "$(ssh-keygen -lf "$T/other_host_key.pub" | cut -d' ' -f2)" "$T/other.log"
check "another key: nothing fetched" [ "$(commits)" = 0 ]
check "another key: the mirror got no commit" bash -c \
    "! git --git-dir='$T/other/mirror' rev-parse -q --verify refs/remotes/origin/main"
stop_controller

# --- listed on port 22 only: unknown on this port -----------------------------
run port22 --set gitKnownHosts="$T/kh.port22"
check "port 22 entry: [host]:port is not in the file" \
    wait_log port22 "ssh host [127.0.0.1]:$SSH_PORT is not in $T/kh.port22: refused; its key is ssh-ed25519 $FP"
check "port 22 entry: nothing fetched" [ "$(commits)" = 0 ]
stop_controller

# --- no known_hosts: refused unless gitInsecureHostKey ------------------------
run none
check "no known_hosts: refused, naming the fingerprint and the key to set" \
    wait_log none "ssh host key of [127.0.0.1]:$SSH_PORT (ssh-ed25519 $FP) cannot be checked: no known_hosts file is configured (gitKnownHosts)"
check "no known_hosts: nothing fetched" [ "$(commits)" = 0 ]
stop_controller
run insecure --set gitInsecureHostKey=true
check "gitInsecureHostKey: accepted" wait_commits "$T" 1
check "gitInsecureHostKey: a warning at start" grep -q "gitInsecureHostKey: any ssh host key is accepted" "$T/insecure.log"
stop_controller

rc=0
"$CONTROLLER" --repo "$URL" --listen 127.0.0.1:0 --state-dir "$T/both" \
    --set gitKnownHosts="$T/kh.good" --set gitInsecureHostKey=true >"$T/both.log" 2>&1 || rc=$?
check "known_hosts and insecure together: refused at start" [ "$rc" -ne 0 ]
check "known_hosts and insecure together: says why" grep -q "both set: choose one" "$T/both.log"
printf '[127.0.0.1]:%s ssh-rsa %s\n' "$SSH_PORT" "$(hostkey host_key | cut -d' ' -f2)" >"$T/kh.bad"
rc=0
"$CONTROLLER" --repo "$URL" --listen 127.0.0.1:0 --state-dir "$T/bad" \
    --set gitKnownHosts="$T/kh.bad" >"$T/bad.log" 2>&1 || rc=$?
check "a bad known_hosts line: refused at start" [ "$rc" -ne 0 ]
check "a bad known_hosts line: file:line named" grep -qF "$T/kh.bad:1: key type field says 'ssh-rsa'" "$T/bad.log"

finish
