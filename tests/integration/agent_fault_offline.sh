#!/usr/bin/env bash
# The controller goes away for minutes (DOWN_SECONDS, default 120), while
# the agent is restarted, killed and its worker crashes. The workload runs
# on; reports queue in the outbox (bounded: plain statuses coalesce) and,
# once the controller is back, arrive in order, each stored once. Answers
# lost after the controller stored a report make the agent resend it: a
# duplicate, acknowledged and not stored twice.
. "${CAIRN_SRC:?}/tests/tools/agentlib.sh" || exit 1
DOWN_SECONDS=${DOWN_SECONDS:-120}
agent_setup
baseline
wait_for 10 has_event Started || fail "no Started event"
before=$(reports | jq '.reports | length')

stop_controller
t0=$SECONDS
sleep 3
# events while offline: a worker crash, a clean agent restart, an agent kill
kill -KILL "$(cut -d' ' -f1 "$T/state/workloads/risk/worker.pid")"
sleep 3
agent_stop || fail "agent did not stop cleanly while offline"
agent_start
sleep 4
n=$(worker_starts)
agent_kill
agent_start
# the new agent stops the worker the killed one left and starts its own
wait_for 20 more_starts_than "$n" || fail "worker not restarted by the new agent"
wait_for 20 serving m1.bin || fail "m1 not served while the controller is down"
while [ $((SECONDS - t0)) -lt "$DOWN_SECONDS" ]; do
    serving m1.bin || fail "m1 stopped being served while offline"
    sleep 5
done
queued=$(ls "$T/state/outbox" | wc -l)
events=$(ls "$T/state/outbox" | grep -c '\.e\.dsse' || true)
statuses=$(ls "$T/state/outbox" | grep -c '\.s\.dsse' || true)
echo "offline ${DOWN_SECONDS}s: $queued reports queued ($events events, $statuses statuses)"
[ "$events" -ge 2 ] || fail "the Started events of the restarts were not queued"
[ "$statuses" -le 2 ] || fail "plain status reports were not coalesced ($statuses queued)"
status_json | jq -e '.daemon.controller.connected == false' >/dev/null ||
    fail "status does not say the controller is unreachable"

# back, with the answers to the first three reports lost
start_controller
ctl POST faults '{"drop_report_answers": 3}' >/dev/null
outbox_empty() { [ -z "$(ls "$T/state/outbox/")" ]; }
wait_for 60 outbox_empty || fail "outbox not drained: $(ls "$T/state/outbox")"
r=$(reports)
echo "$r" | jq -e '[.reports[].seq] as $s | ($s | sort) == $s and ($s | unique | length) == ($s | length)' \
    >/dev/null || fail "report seqs not strictly rising"
[ "$(echo "$r" | jq .conflicts)" = 0 ] || fail "seq conflicts"
[ "$(echo "$r" | jq .duplicates)" -ge 1 ] || fail "no resend after a lost answer"
[ "$(echo "$r" | jq '[.reports[] | select(.event.type == "Started")] | length')" -ge 3 ] ||
    fail "Started events from the outage missing"
[ "$(echo "$r" | jq '.reports | length')" -gt "$before" ] || fail "no reports after the outage"
# events of the outage arrived in the order they happened
echo "$r" | jq -e '[.reports[] | select(.event) | .time] as $t | ($t | sort) == $t' >/dev/null ||
    fail "events out of order"
applied_is 1 || fail "applied generation changed"
agent_stop
echo ok
