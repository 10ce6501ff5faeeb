#!/usr/bin/env bash
# A valid publisher attestation for another artifact (digest or size)
# does not vouch for this one.
. "${CAIRN_SRC:?}/tests/tools/agentlib.sh" || exit 1
agent_setup
baseline
model swap.bin good '"swap":1'
other=$(sha_of "$T/artifacts/m1.bin")
w=$(workload risk swap.bin v2 | jq -c --arg s "$other" '.model.attest = {sha256: $s}')
publish "$(spec1 2 "$w")" >/dev/null
refused Rejected "is not the signed sha256"
w=$(workload risk swap.bin v3 | jq -c '.model.attest = {size: 1}')
publish "$(spec1 3 "$w")" >/dev/null
refused Rejected "attested size differs"
sleep 1
unharmed
echo ok
