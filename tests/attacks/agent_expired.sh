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
echo ok
