#!/usr/bin/env bash
# The real controller goes down under a running real agent (once by SIGTERM,
# once by SIGKILL), for DOWN_SECONDS (default 8) each. Meanwhile the worker
# is killed, the agent is restarted cleanly and killed (each start is a
# Started event), plain status reports accumulate, and a new generation is
# committed. Then the controller starts again on the same state directory:
#   - every report that was in the agent's outbox arrives exactly once, with
#     the very bytes the agent signed (events always; a plain status unless
#     a newer status superseded it, as the outbox coalesces them), in seq
#     order, and the controller's store holds each seq once, rising;
#   - the highest seq the agent assigned is the controller's lastSeq and
#     the outbox and `cairn-agent status` say nothing is queued;
#   - the agent picks up the generation committed during the outage.
# Skipped while cairn-agent is not built.
set -euo pipefail
source "${CAIRN_SRC:?}/tests/integration/agent_real_lib.bash"
trap real_cleanup EXIT
DOWN_SECONDS=${DOWN_SECONDS:-8}

real_setup "reportIntervalSeconds: 1"
serving v1 || die "the worker does not serve v1"
gen=1
running=v1

# archive every report that shows up in the outbox while the controller is
# down (a plain status may be coalesced away before the controller is back)
archive_outbox() {
    mkdir -p "$T/archive"
    while [ -f "$T/archiving" ]; do
        for f in "$T"/agent/outbox/*.dsse; do
            [ -e "$f" ] && [ ! -e "$T/archive/${f##*/}" ] && cp "$f" "$T/archive/" 2>/dev/null
        done
        sleep 0.1
    done
    return 0
}

# outage HOW VERSION: one outage, during which VERSION is committed.
outage() {
    local how=$1 version=$2 seq0 starts0 rc=0
    echo "--- controller down by $how for ${DOWN_SECONDS}s; committing pneumonia $version"
    wait_for 20 outbox_empty || die "outbox not empty before the outage"
    seq0=$(agent_state | jq .reportSeq)
    rm -rf "$T/archive"
    touch "$T/archiving"
    archive_outbox &
    local archiver=$!
    if [ "$how" = SIGTERM ]; then
        stop_controller
    else
        kill -KILL "$CTRL_PID"
        wait "$CTRL_PID" 2>/dev/null || rc=$?
        check "the controller died of SIGKILL ($rc)" [ "$rc" = 137 ]
        CTRL_PID=
    fi
    local t0=$SECONDS
    # a worker crash: the agent restarts it (a status change, reported)
    starts0=$(wc -l <"$T/worker.log")
    kill -KILL "$(cut -d' ' -f1 "$T/agent/workloads/risk/worker.pid")"
    more_starts() { [ "$(wc -l <"$T/worker.log")" -gt "$1" ]; }
    wait_for 20 more_starts "$starts0" || die "the worker was not restarted while offline"
    # a clean restart and a kill of the agent: two Started events
    sleep 1
    agent_stop || fail "the agent did not stop cleanly while offline"
    agent_start
    sleep 2
    agent_kill
    agent_start
    wait_for 20 serving "$running" || die "$running not served while the controller is down"
    set_fleet "$version" "0.$gen"
    commit "$T" "pneumonia $version while the controller is down"
    gen=$((gen + 1))
    while [ $((SECONDS - t0)) -lt "$DOWN_SECONDS" ]; do sleep 1; done

    # what the agent says while offline
    agent_status >"$T/status-offline.json"
    check "status: the controller is unreachable" \
        jq -e '.daemon.controller.connected == false' "$T/status-offline.json"
    check "status: generation $((gen - 1)) still applied" \
        jq -e --argjson g $((gen - 1)) '.generation.applied == $g' "$T/status-offline.json"
    check "status: reports queued" jq -e '.queuedReports >= 3' "$T/status-offline.json"
    # the outbox agrees with the seq the agent saved (two equal reads of
    # state.json around the listing: no report was added in between)
    local i s1 s2
    for i in $(seq 1 20); do
        s1=$(agent_state | jq .reportSeq)
        outbox_snapshot "$T/outbox.json"
        s2=$(agent_state | jq .reportSeq)
        [ "$s1" = "$s2" ] && break
    done
    check "the newest queued report has the seq the agent saved ($s2)" \
        jq -e --argjson s "$s2" '.reports[-1].seq == $s' "$T/outbox.json"
    check "outbox: queued seqs rise above $seq0" \
        jq -e --argjson s "$seq0" '[.reports[].seq] as $q | ($q | sort) == $q and $q[0] > $s' "$T/outbox.json"
    check "outbox: the Started events of both restarts are queued" \
        jq -e '[.reports[] | select(.event and .payload.event.type == "Started")] | length == 2' "$T/outbox.json"

    restart_controller
    served_is() { curl -sf "$URL/v1/sites/$SITE" | jq -e --argjson g "$1" '.served.generation == $g'; }
    wait_for 20 served_is "$gen" || die "the controller does not serve the outage's commit"
    check "after the outage: generation $gen with pneumonia@$version" wait_for 60 site_is "$gen" "$version"
    gate_passed() {
        stored_reports | jq -e --argjson g "$gen" \
            'any(.reports[].payload.event; . != null and .type == "HealthGatePassed" and .generation == $g)'
    }
    check "after the outage: generation $gen passes its health gate" wait_for 30 gate_passed
    check "after the outage: the outbox drains" wait_for 30 outbox_empty
    rm -f "$T/archiving"
    wait "$archiver" || true
    check "after the outage: the worker serves $version" wait_for 20 serving "$version"
    running=$version
    check "after the outage: current is a verified blob" check_current
    # the agent's highest seq reaches the controller (the agent keeps
    # reporting, so compare until both agree with an empty outbox)
    last_seq_matches() {
        local a c
        a=$(agent_state | jq .reportSeq)
        c=$(curl -sf "$URL/v1/sites/$SITE" | jq .lastSeq)
        [ "$a" = "$c" ] && outbox_empty
    }
    check "the controller's lastSeq is the agent's last seq" wait_for 20 last_seq_matches
    agent_status >"$T/status-after.json"
    check "status: nothing queued" jq -e '.queuedReports == 0' "$T/status-after.json"
    check "status: generation $gen applied" jq -e --argjson g "$gen" \
        '.generation.applied == $g and .generation.lastKnownGood == $g' "$T/status-after.json"

    stored_reports >"$T/stored.json"
    outbox_snapshot_dir "$T/archive" >"$T/archive.json"
    check "exactly once, in order: the stored reports against the outbox ($how)" \
        $PY - "$T/stored.json" "$T/outbox.json" "$T/archive.json" "$seq0" <<'PY'
import json, sys
stored = json.load(open(sys.argv[1]))["reports"]
queued = json.load(open(sys.argv[2]))["reports"]
archived = json.load(open(sys.argv[3]))["reports"]
seq0 = int(sys.argv[4])
seqs = [r["seq"] for r in stored]
assert seqs == sorted(set(seqs)), "stored seqs not unique and rising: %s" % seqs
assert all(r["payload"]["seq"] == r["seq"] for r in stored), "a stored seq differs from its payload"
times = [r["received"] for r in stored]
assert times == sorted(times), "received out of seq order"
by_seq = {r["seq"]: r for r in stored}
status_seqs = [r["seq"] for r in stored if "event" not in r["payload"]]
seen = {}
for r in queued + archived:
    seen[r["seq"]] = r
for seq, r in sorted(seen.items()):
    s = by_seq.get(seq)
    if s is None:
        assert not r["event"], "queued event %d (%s) lost" % (seq, r["payload"]["event"])
        assert any(x > seq for x in status_seqs), "status %d lost, not superseded" % seq
        continue
    assert s["sha"] == r["sha"], "report %d stored with other bytes than queued" % seq
# the outage's events, each stored once
started = [r["seq"] for r in stored if r["seq"] > seq0 and
           r["payload"].get("event", {}).get("type") == "Started"]
assert len(started) == 2, "Started events after seq %d: %s" % (seq0, started)
print("%d stored, %d seen queued" % (len(stored), len(seen)))
PY
    check "no report conflict at the controller" \
        [ "$(metric 'cairn_controller_reports_total{result="conflict"}')" = 0 ]
    check "no report refused by the controller" \
        [ "$(metric 'cairn_controller_reports_total{result="refused"}')" = 0 ]
    check "the agent never saw a report refused" \
        bash -c "! grep -q 'refused report' '$T/agent.log'"
}

# outbox_snapshot_dir DIR: like outbox_snapshot, of a copy.
outbox_snapshot_dir() {
    $PY - "$1" <<'PY'
import base64, hashlib, json, os, sys
d, out = sys.argv[1], []
for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
    env = json.load(open(os.path.join(d, name)))
    raw = base64.b64decode(env["payload"])
    out.append({"seq": int(name[:20]), "event": name[21] == "e",
                "sha": hashlib.sha256(raw).hexdigest(), "payload": json.loads(raw)})
json.dump({"reports": out}, sys.stdout)
PY
}

outage SIGTERM v2
outage SIGKILL v1
agent_stop || fail "the agent did not stop cleanly"
stop_controller
finish
