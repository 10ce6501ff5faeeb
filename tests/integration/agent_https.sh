#!/usr/bin/env bash
# An https controller with a pinned CA file (caFile): the agent trusts that
# CA only. The same controller is refused without the pin, and with a pin
# to another CA, while the running workload keeps running.
. "${CAIRN_SRC:?}/tests/tools/agentlib.sh" || exit 1
pki="$T/pki"
mkdir -p "$pki"
mkca() { # mkca NAME
    openssl req -x509 -newkey ed25519 -nodes -keyout "$pki/$1.key" -out "$pki/$1.pem" \
        -days 2 -subj "/CN=$1" >/dev/null 2>&1
}
mkca ca
mkca other-ca
openssl req -newkey ed25519 -nodes -keyout "$pki/server.key" -out "$pki/server.csr" \
    -subj "/CN=127.0.0.1" >/dev/null 2>&1
printf 'subjectAltName=IP:127.0.0.1\n' >"$pki/ext"
openssl x509 -req -in "$pki/server.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" \
    -CAcreateserial -days 2 -extfile "$pki/ext" -out "$pki/server.pem" >/dev/null 2>&1 ||
    fail "cannot make a test certificate"
CTL_SCHEME=https
CTL_TLS="--tls $pki/server.pem $pki/server.key"
INIT_EXTRA="--ca-file $pki/ca.pem"
CURL_EXTRA="--cacert $pki/ca.pem"
agent_setup
grep -q "caFile: \"$pki/ca.pem\"" "$T/etc/agent.yaml" || fail "init did not write caFile"
baseline
has_event Started || fail "no reports over https"

# the system store does not know our CA
agent_stop
grep -v '^caFile:' "$T/etc/agent.yaml" >"$T/etc/nopin.yaml"
"$AGENT" run --config "$T/etc/nopin.yaml" >>"$T/nopin.log" 2>&1 &
AGENT_PID=$!
wait_for 20 grep -qi "certificate" "$T/nopin.log" || fail "no certificate error without the pin"
wait_for 20 serving m1.bin || fail "workload not running without the controller"
agent_kill
# pinned to another CA
sed "s|$pki/ca.pem|$pki/other-ca.pem|" "$T/etc/agent.yaml" >"$T/etc/other.yaml"
"$AGENT" run --config "$T/etc/other.yaml" >>"$T/other.log" 2>&1 &
AGENT_PID=$!
wait_for 20 grep -qi "certificate" "$T/other.log" || fail "another CA was trusted"
agent_kill
echo ok
