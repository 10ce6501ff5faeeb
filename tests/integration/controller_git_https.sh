#!/usr/bin/env bash
# cairn-controller following a fleet repository over HTTPS: a loopback
# server with its own CA (openssl req) running the real `git http-backend`
# behind Basic authentication. Without gitCaFile the fetch is refused with
# an error naming the URL and the key to set, and nothing is rendered; a
# wrong password or none gives a clear authentication error; with the CA
# and the password, commits are accepted and a pushed commit arrives
# through the webhook.
set -euo pipefail
source "$(dirname "$0")/controller_lib.bash"

T=$(mktemp -d "${TMPDIR:-/tmp}/cairn-https.XXXXXX")
SRV_PID=
trap 'stop_controller; [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null; rm -rf "$T"' EXIT
make_fleet "$T" site-a
printf 'hook-secret\n' >"$T/hook.secret"
printf 's3cret\n' >"$T/password"
printf 'wrong\n' >"$T/badpassword"

# A CA and a server certificate for 127.0.0.1; a second CA that signed
# nothing the server shows.
ca() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=$2" -keyout "$T/$1.key" -out "$T/$1.pem" 2>/dev/null; }
ca ca "cairn test CA"
ca otherca "another CA"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
    -keyout "$T/srv.key" -out "$T/srv.csr" 2>/dev/null
printf 'subjectAltName=DNS:127.0.0.1,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
    >"$T/srv.ext"
openssl x509 -req -in "$T/srv.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
    -days 2 -extfile "$T/srv.ext" -out "$T/srv.pem" 2>/dev/null
printf 'not a certificate\n' >"$T/notpem"

mkdir -p "$T/srv"
git clone -q --bare "$T/repo" "$T/srv/fleet.git"
$PY "$CAIRN_SRC/tests/integration/git_https_server.py" "$T/srv" "$T/srv.pem" "$T/srv.key" \
    "$T/srv.port" cairn s3cret 2>"$T/server.log" &
SRV_PID=$!
for _ in $(seq 1 100); do [ -s "$T/srv.port" ] && break; sleep 0.05; done
[ -s "$T/srv.port" ] || { cat "$T/server.log" >&2; exit 1; }
URL="https://127.0.0.1:$(cat "$T/srv.port")/fleet.git"

# run NAME [--set ...]: a controller on URL with its own state and log
# (controller_lib.bash run_remote).
run() {
    local name=$1
    shift
    run_remote "$name" "$URL" "$@"
}

commits() { curl -s "http://127.0.0.1:$PORT/v1/commits" | jq '.commits | length'; }

# --- the server's CA is not trusted ---------------------------------------------
run noca --set gitHttpsUser=cairn --set gitHttpsPasswordFile="$T/password"
check "no CA: the fetch error is logged, naming the URL" \
    wait_log noca "fetch: fetch $URL: the server's TLS certificate is not trusted"
check "no CA: the error says which key to set" grep -q "gitCaFile" "$T/noca.log"
check "no CA: nothing was fetched or rendered" [ "$(commits)" = 0 ]
stop_controller

# --- another CA than the one that issued the server's certificate --------------
run otherca --set gitCaFile="$T/otherca.pem" --set gitHttpsUser=cairn \
    --set gitHttpsPasswordFile="$T/password"
check "other CA: refused as untrusted" \
    wait_log otherca "fetch $URL: the server's TLS certificate is not trusted"
check "other CA: nothing rendered" [ "$(commits)" = 0 ]
stop_controller

# --- a CA file that is not PEM: the controller refuses to start -------------------
rc=0
"$CONTROLLER" --repo "$URL" --listen 127.0.0.1:0 --state-dir "$T/notpem-state" \
    --set gitCaFile="$T/notpem" >"$T/notpem.log" 2>&1 || rc=$?
check "a non-PEM CA file stops the start" [ "$rc" -ne 0 ]
check "the error names the CA file" grep -qF "CA file $T/notpem: no PEM certificate" "$T/notpem.log"

# --- trusted, but the wrong password or none ------------------------------------
run badpw --set gitCaFile="$T/ca.pem" --set gitHttpsUser=cairn \
    --set gitHttpsPasswordFile="$T/badpassword"
check "wrong password: a clear authentication error" \
    wait_log badpw "fetch $URL: the server refused our credentials (user 'cairn')"
check "wrong password: nothing rendered" [ "$(commits)" = 0 ]
stop_controller
run nouser --set gitCaFile="$T/ca.pem"
check "no user: says which keys to set" \
    wait_log nouser "fetch $URL: the server asks for a user and password and none is configured (gitHttpsUser, gitHttpsPasswordFile)"
stop_controller

# --- trusted and authenticated: commits flow ------------------------------------
run good --set gitCaFile="$T/ca.pem" --set gitHttpsUser=cairn \
    --set gitHttpsPasswordFile="$T/password"
check "good: the first commit is accepted" wait_commits "$T" 1
first=$(git -C "$T/repo" rev-parse HEAD)
check "good: /v1/commits names the pushed commit, accepted" bash -c \
    "curl -s http://127.0.0.1:$PORT/v1/commits | jq -e '.commits[0].sha == \"$first\" and .commits[0].accepted == true'"
printf 'kind: Site\nname: site-b\nlabels: {region: west}\npublicKey: %s\n' \
    "$(cat "$T/keys/site-a.pub")" >"$T/repo/sites/site-b.yaml"
commit "$T" "fleet: site-b"
git -C "$T/repo" push -q "$T/srv/fleet.git" main
second=$(git -C "$T/repo" rev-parse HEAD)
sig=$(printf '{}' | openssl dgst -sha256 -hmac hook-secret -r | cut -d' ' -f1)
curl -s -X POST -H "X-Hub-Signature-256: sha256=$sig" -d '{}' \
    "http://127.0.0.1:$PORT/v1/hooks/git" >/dev/null
check "good: the pushed commit arrives through the webhook" wait_commits "$T" 2
check "good: and is accepted" bash -c \
    "curl -s http://127.0.0.1:$PORT/v1/commits | jq -e 'any(.commits[]; .sha == \"$second\" and .accepted == true)'"
check "good: the mirror holds it" \
    git --git-dir="$T/good/mirror" cat-file -e "$second^{commit}"
check "good: no fetch error" bash -c "! grep -q 'fetch:' '$T/good.log'"
stop_controller

finish
