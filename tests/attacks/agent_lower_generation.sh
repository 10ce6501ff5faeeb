#!/usr/bin/env bash
# Rollback attack: a correctly signed but lower generation (an old
# document replayed) is refused (DESIGN.md invariant 3).
. "${CAIRN_SRC:?}/tests/tools/agentlib.sh" || exit 1
agent_setup
baseline 5
model old.bin good '"old":1'
publish "$(spec1 4 "$(workload risk old.bin v0)")" >/dev/null
refused Rejected "generation 4 is lower than the highest accepted (5)"
sleep 2
unharmed
# the same generation again without a later issue is no refresh either
publish "$(spec1 5 "$(workload risk old.bin v0)" | jq -c '. + {issued: 1000000000}')" >/dev/null
refused Rejected "is older than the accepted issue"
unharmed
# and after an agent restart, the highest accepted generation is remembered
agent_stop
publish "$(spec1 3 "$(workload risk old.bin v0)")" >/dev/null
BASE_STARTS=$(( $(worker_starts) + 1 ))
agent_start
refused Rejected "generation 3 is lower than the highest accepted (5)"
wait_for 10 serving m1.bin || fail "m1 not back after restart"
unharmed
echo ok
