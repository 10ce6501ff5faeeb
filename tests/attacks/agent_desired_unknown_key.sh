#!/usr/bin/env bash
# A desired state signed by a key the agent does not pin is refused; the
# running model keeps running.
. "${CAIRN_SRC:?}/tests/tools/agentlib.sh" || exit 1
agent_setup
baseline
model evil.bin good '"evil":1'
spec=$(spec1 2 "$(workload risk evil.bin v9)" | jq -c --arg k "$T/keys/rogue.key" '. + {sign_key: $k}')
publish "$spec" >/dev/null
refused Rejected "not signed by a pinned controller key"
# the event names the generation the controller's ETag gave (2), so the
# controller knows which of its documents was refused
has_event Rejected 2 "not signed by a pinned controller key" ||
    fail "the Rejected event does not name generation 2: $(events Rejected)"
sleep 2
unharmed
jq -e '.accepted.generation == 1' "$T/state/state.json" >/dev/null || fail "accepted generation moved"
[ ! -e "$T/state/blobs/sha256/$(sha_of "$T/artifacts/evil.bin")" ] || fail "evil blob fetched"
echo ok
