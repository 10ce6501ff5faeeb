#!/usr/bin/env bash
# A model attested by a key that is not a pinned publisher key is refused
# before a byte of it is fetched.
. "${CAIRN_SRC:?}/tests/tools/agentlib.sh" || exit 1
agent_setup
baseline
model rogue.bin good '"rogue":1'
w=$(workload risk rogue.bin v2 | jq -c --arg k "$T/keys/rogue.key" '.model.attest = {key: $k}')
publish "$(spec1 2 "$w")" >/dev/null
refused Rejected "not signed by a pinned publisher key"
sleep 2
unharmed
! ctl GET log | grep -q "/v1/artifacts/sha256/$(sha_of "$T/artifacts/rogue.bin")" ||
    fail "the unattested artifact was downloaded"
jq -e '.failed == [2]' "$T/state/state.json" >/dev/null || fail "generation 2 not failed"
echo ok
