#!/usr/bin/env bash
# A workload's uploads directory: each finished file is sent to the
# controller with its digest and the model version, and deleted only once
# the controller stored it; while the controller refuses, files stay.
. "${CAIRN_SRC:?}/tests/tools/agentlib.sh" || exit 1
agent_setup
model m1.bin good
w=$(workload risk m1.bin v1 '{"uploads": {"dir": "outbox/unsure"}, "exec": {"env": {"UPLOAD_COUNT": "3"}}}')
w=$(echo "$w" | jq -c --arg p "$WORKER_PORT" --arg l "$T/worker.log" \
    '.exec.env = {"WORKER_PORT": $p, "WORKER_LOG": $l, "UPLOAD_COUNT": "3"}')
ctl POST faults '{"fail_next": 0}' >/dev/null
publish "$(spec1 1 "$w")" >/dev/null
agent_start
wait_for 30 applied_is 1 || fail "not applied"
up="$T/state/workloads/risk/work/outbox/unsure"
three() { [ "$(ctl GET "uploads?site=$SITE" | jq '.uploads | length')" = 3 ]; }
wait_for 30 three || fail "uploads not received: $(ctl GET "uploads?site=$SITE")"
ctl GET "uploads?site=$SITE" | jq -e 'all(.uploads[]; .version == "v1" and (.name | startswith("img-")))' \
    >/dev/null || fail "upload metadata"
empty() { [ -z "$(ls "$up")" ]; }
wait_for 10 empty || fail "sent files not deleted"
# controller down: new files stay until it is back
ctl POST faults '{"down": true}' >/dev/null
kill -KILL "$(cut -d' ' -f1 "$T/state/workloads/risk/worker.pid")"   # restart: 3 more
more() { [ "$(ls "$up" | wc -l)" = 3 ]; }
wait_for 20 more || fail "worker did not write new files"
sleep 5
[ "$(ls "$up" | wc -l)" = 3 ] || fail "files deleted while the controller was down"
ctl POST faults '{"down": false}' >/dev/null
six() { [ "$(ctl GET "uploads?site=$SITE" | jq '.uploads | length')" = 6 ]; }
wait_for 30 six || fail "queued uploads not sent after the outage"
wait_for 10 empty || fail "files left after upload"
agent_stop
echo ok
