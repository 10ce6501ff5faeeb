#!/usr/bin/env bash
# Downloads cut at random points resume with Range, also across an agent
# crash (SIGKILL) in the middle of a slow transfer; what is installed is
# exactly the signed blob.
. "${CAIRN_SRC:?}/tests/tools/agentlib.sh" || exit 1
agent_setup
baseline
big() { # big FILE: a 4 MiB model
    model "$1" good "\"pad\":\"$(head -c 3000000 /dev/urandom | base64 -w0)\""
}
for gen in 2 3 4; do
    big "m$gen.bin"
    size=$(stat -c %s "$T/artifacts/m$gen.bin")
    cut=$(( (RANDOM * 32768 + RANDOM) % (size - 2) + 1 ))
    w=$(workload risk "m$gen.bin" "v$gen" | jq -c --arg c "$cut" '.model.urls = ["{base}/v1/artifacts/sha256/{sha256}?cut=" + $c]')
    publish "$(spec1 $gen "$w")" >/dev/null
    wait_for 60 applied_is $gen || fail "generation $gen not applied after a cut at $cut"
    sha=$(sha_of "$T/artifacts/m$gen.bin")
    ctl GET log | grep "$sha" | grep -q "bytes=$cut-" || fail "no resume from $cut: $(ctl GET log | grep "$sha")"
    serving "m$gen.bin" || fail "m$gen not served"
done
check_blobs

# crash in the middle of a slow download: the .partial survives and resumes
big m5.bin
sha=$(sha_of "$T/artifacts/m5.bin")
w=$(workload risk m5.bin v5 | jq -c '.model.urls = ["{base}/v1/artifacts/sha256/{sha256}?rate=400000"]')
publish "$(spec1 5 "$w")" >/dev/null
partial_grew() { [ "$(stat -c %s "$T/state/downloads/$sha.partial" 2>/dev/null || echo 0)" -gt 500000 ]; }
wait_for 30 partial_grew || fail "the slow download did not start"
agent_kill
have=$(stat -c %s "$T/state/downloads/$sha.partial")
check_blobs
agent_start
wait_for 60 applied_is 5 || fail "generation 5 not applied after the crash"
ctl GET log | grep "$sha" | awk '{print $3}' | grep -q "^bytes=[1-9]" ||
    fail "no Range request after the crash (had $have bytes)"
serving m5.bin || fail "m5 not served"
[ ! -e "$T/state/downloads/$sha.partial" ] || fail "partial left behind"
check_blobs
agent_stop
echo ok
