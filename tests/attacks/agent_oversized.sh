#!/usr/bin/env bash
# An oversized desired document (2 MiB, over maxDesiredBytes = 1 MiB) is
# refused without being read past the cap.
. "${CAIRN_SRC:?}/tests/tools/agentlib.sh" || exit 1
agent_setup
baseline
publish "$(spec1 2 "$(workload risk m1.bin v1)" | jq -c '. + {pad: 2097152}')" >/dev/null
refused Rejected "exceeds"
sleep 2
unharmed
# it is not fetched again and again: the next poll names its ETag
n=$(ctl GET log | grep -c 'GET /v1/sites/st-olaf/desired')
sleep 4
[ "$(ctl GET log | grep -c 'GET /v1/sites/st-olaf/desired')" -le $((n + 2)) ] ||
    fail "the oversized document is fetched in a loop"
echo ok
