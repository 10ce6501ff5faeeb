#!/usr/bin/env bash
# A desired state (correctly signed) for another site is refused.
. "${CAIRN_SRC:?}/tests/tools/agentlib.sh" || exit 1
agent_setup
baseline
model other.bin good '"site":"st-anne"'
publish "$(spec1 2 "$(workload risk other.bin v2)" | jq -c '. + {payload_site: "st-anne"}')" >/dev/null
refused Rejected 'is for site "st-anne", this is "st-olaf"'
sleep 2
unharmed
jq -e '.accepted.generation == 1' "$T/state/state.json" >/dev/null || fail "accepted generation moved"
echo ok
