#!/usr/bin/env bash
# Freeze attack: an expired desired state is refused and reported as
# DesiredStateExpired; it never stops the running workload.
. "${CAIRN_SRC:?}/tests/tools/agentlib.sh" || exit 1
agent_setup
baseline
model new.bin good '"new":1'
publish "$(spec1 2 "$(workload risk new.bin v2)" | jq -c '. + {ttl: -60}')" >/dev/null
refused DesiredStateExpired "generation 2 expired at"
sleep 2
unharmed
# the document in effect expires (its controller went quiet): reported
# once, as an event and a condition; the workload runs on
publish "$(spec1 1 "$(workload risk m1.bin v1)" | jq -c '. + {ttl: 4}')" >/dev/null
refused DesiredStateExpired "the desired state in effect expired" 20
cond() { last_report | jq -e '.conditions[] | select(.type == "DesiredStateExpired") | .status == "True"'; }
wait_for 10 cond || fail "no DesiredStateExpired condition"
sleep 3
[ "$(events DesiredStateExpired | grep -c "in effect")" = 1 ] || fail "expiry reported more than once"
unharmed
echo ok
