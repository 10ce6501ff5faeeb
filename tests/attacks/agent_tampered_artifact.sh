#!/usr/bin/env bash
# Tampered artifact bytes: the server flips a byte. The download's digest
# does not match the signed one: nothing is installed, the generation
# fails (DownloadFailed naming the digest), the running model runs on.
# A good mirror listed after the bad one is used instead.
. "${CAIRN_SRC:?}/tests/tools/agentlib.sh" || exit 1
agent_setup
baseline
model m2.bin good '"two":1'
w=$(workload risk m2.bin v2 | jq -c '.model.urls = ["{base}/v1/artifacts/sha256/{sha256}?corrupt=1"]')
publish "$(spec1 2 "$w")" >/dev/null
refused DownloadFailed "digest"
sleep 1
unharmed
[ ! -e "$T/state/blobs/sha256/$(sha_of "$T/artifacts/m2.bin")" ] || fail "tampered blob installed"
ls "$T"/state/downloads/*.partial 2>/dev/null && fail "a tampered partial was kept"
jq -e '.failed == [2]' "$T/state/state.json" >/dev/null || fail "generation 2 not failed"
# mirrors: a bad one, then a good one
model m3.bin good '"three":1'
w=$(workload risk m3.bin v3 | jq -c '.model.urls = ["{base}/v1/artifacts/sha256/{sha256}?corrupt=1", "{base}/v1/artifacts/sha256/{sha256}"]')
publish "$(spec1 3 "$w")" >/dev/null
wait_for 30 applied_is 3 || fail "generation 3 (good mirror) not applied"
wait_for 10 serving m3.bin || fail "m3 not served"
check_blobs
echo ok
