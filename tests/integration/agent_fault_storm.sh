#!/usr/bin/env bash
# 5xx storms: the controller answers 503 to everything for a while. The
# agent backs off (no hot loop), keeps its workload running, and once the
# storm is over it picks up the generation published meanwhile and
# delivers its reports.
. "${CAIRN_SRC:?}/tests/tools/agentlib.sh" || exit 1
agent_setup
baseline
model m2.bin good '"two":1'
ctl POST faults '{"down": true}' >/dev/null
publish "$(spec1 2 "$(workload risk m2.bin v2)")" >/dev/null
n0=$(ctl GET log | wc -l)
sleep 10
n1=$(ctl GET log | wc -l)
echo "$((n1 - n0)) requests in 10 s of 503s"
[ $((n1 - n0)) -le 25 ] || fail "no backoff: $((n1 - n0)) requests in 10 s"
[ $((n1 - n0)) -ge 3 ] || fail "the agent gave up retrying"
serving m1.bin || fail "m1 not served during the storm"
applied_is 1 || fail "applied moved during the storm"
# a storm of a fixed number of failures
ctl POST faults '{"down": false, "fail_next": 8}' >/dev/null
wait_for 60 applied_is 2 || fail "generation 2 not applied after the storm"
wait_for 10 serving m2.bin || fail "m2 not served"
outbox_empty() { [ -z "$(ls "$T/state/outbox/")" ]; }
wait_for 30 outbox_empty || fail "reports not delivered after the storm"
[ "$(reports | jq .conflicts)" = 0 ] || fail "seq conflicts"
agent_stop
echo ok
