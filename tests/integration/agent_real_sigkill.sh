#!/usr/bin/env bash
# The real agent SIGKILLed at random points over CYCLES (default 50) update
# cycles against the real controller: each cycle commits pneumonia v1 or v2
# (alternately) with another THRESHOLD in the worker's environment, sleeps
# a random while, and most of the time kills the agent (sometimes again
# during its recovery) and starts it anew. Then it must converge on the last
# commit with every invariant of DESIGN.md holding:
#   1. no worker ran bytes other than the signed ones (the test worker exits
#      7 on a digest mismatch; every start's digest is its version's);
#   2. after every kill and at the end, `current` points at a verified blob;
#   3. no generation lower than one applied before is applied (Applied
#      events rise; applied generations fall only with a rollback);
#   4. only interrupted applies are rolled back (every model is good), and
#      the last generation is not among the failed;
#   5. the controller stores every report once, seqs rising, no conflict,
#      and ends with the agent's last seq.
# SEED (default: random, printed) replays a run. Skipped while cairn-agent
# is not built.
set -euo pipefail
source "${CAIRN_SRC:?}/tests/integration/agent_real_lib.bash"
trap real_cleanup EXIT
CYCLES=${CYCLES:-50}
SEED=${SEED:-$$}
RANDOM=$SEED
echo "seed $SEED, $CYCLES cycles"
t_start=$SECONDS

real_setup "reportIntervalSeconds: 1"
kills=0
kill_and_check() { # kill_and_check CYCLE
    agent_kill
    kills=$((kills + 1))
    check_current >/dev/null 2>"$T/current.err" || fail "cycle $1: $(cat "$T/current.err")"
    agent_status >/dev/null 2>"$T/status.err" ||
        fail "cycle $1: state unreadable after a kill: $(cat "$T/status.err")"
}
for c in $(seq 1 "$CYCLES"); do
    if [ $((c % 2)) = 1 ]; then version=v2; else version=v1; fi
    set_fleet "$version" "$c"
    commit "$T" "cycle $c: pneumonia $version, threshold $c"
    sleep "$((RANDOM % 20 / 10)).$((RANDOM % 10))"
    if [ $((RANDOM % 10)) -lt 7 ]; then
        kill_and_check "$c"
        agent_start
        if [ $((RANDOM % 4)) = 0 ]; then # again, during recovery
            sleep "0.$((RANDOM % 10))"
            kill_and_check "$c"
            agent_start
        fi
    fi
done
echo "$kills kills in $((SECONDS - t_start)) s"

# convergence on the last commit: the controller serves it once it has
# fetched it; the agent must then apply it and pass its health gate
served_gen() { curl -sf "$URL/v1/sites/$SITE" | jq -e '.served.generation'; }
last_commit_served() {
    [ "$(curl -sf "$URL/v1/sites/$SITE" | jq -r .served.commit)" = "$(git -C "$T/repo" rev-parse HEAD)" ]
}
wait_for 20 last_commit_served || die "the controller does not serve the last commit"
G=$(served_gen)
check "converged: $SITE applied generation $G with pneumonia@$version" wait_for 60 site_is "$G" "$version"
check "converged: applied, accepted and last-known-good are $G, nothing pending" wait_for 20 \
    jq -e --argjson g "$G" '.accepted.generation == $g and .applied.generation == $g and
        .lastKnownGood.generation == $g and (.pending.phase // "none") == "none"' "$T/agent/state.json"
check "converged: the worker serves $version" wait_for 20 serving "$version"
wpid=$(cut -d' ' -f1 "$T/agent/workloads/risk/worker.pid")
env_of() { tr '\0' '\n' <"/proc/$wpid/environ"; }
check "the worker runs with the last commit's THRESHOLD=$CYCLES" grep -qx "THRESHOLD=$CYCLES" <(env_of)
check "the worker runs generation $G" grep -qx "CAIRN_GENERATION=$G" <(env_of)
check "the worker's CAIRN_MODEL_SHA256 is $version's" \
    grep -qx "CAIRN_MODEL_SHA256=$(sha_of "$T/model-$version.bin")" <(env_of)
check "invariant 2: current is a verified blob" check_current
check "current is $version's blob" [ "$(basename "$(readlink -f "$T/agent/workloads/risk/current")")" \
    = "$(sha_of "$T/model-$version.bin")" ]

# 1: no worker was handed bytes other than the signed ones
check "invariant 1: no worker saw unsigned bytes" bash -c "! grep -q 'is not the signed one' '$T/agent.log'"
sha1=$(sha_of "$T/model-v1.bin")
sha2=$(sha_of "$T/model-v2.bin")
check "invariant 1: every worker start ran its version's signed blob" \
    awk -v a="$sha1" -v b="$sha2" '!(($4 == "v1" && $3 == a) || ($4 == "v2" && $3 == b)) { bad = 1 }
        END { exit bad }' "$T/worker.log"

# 5: reports, once each (the agent keeps reporting: wait until the outbox
# is empty and the controller's last seq is the agent's)
last_seq_matches() {
    [ "$(jq .reportSeq "$T/agent/state.json")" = "$(curl -sf "$URL/v1/sites/$SITE" | jq .lastSeq)" ] &&
        outbox_empty
}
check "invariant 5: the outbox drains and the controller has the agent's last seq" \
    wait_for 30 last_seq_matches
stored_reports >"$T/stored.json"
check "invariants 3, 4, 5 in the stored reports" $PY - "$T/stored.json" "$G" <<'PY'
import json, sys
stored = json.load(open(sys.argv[1]))["reports"]
final = int(sys.argv[2])
seqs = [r["seq"] for r in stored]
assert seqs == sorted(set(seqs)), "stored seqs not unique and rising"
assert all(r["payload"]["seq"] == r["seq"] for r in stored), "a stored seq differs from its payload"
events = [(r["seq"], r["payload"]["event"]) for r in stored if "event" in r["payload"]]
applied = [e["generation"] for _, e in events if e["type"] == "Applied"]
assert applied == sorted(applied), "Applied generations went down: %s" % applied
assert applied and applied[-1] == final, "the last Applied is not %d: %s" % (final, applied)
# 4: every model is good: a rollback can only come from interrupted applies
for s, e in events:
    if e["type"] == "RolledBack":
        assert "interrupted" in e.get("reason", ""), "report %d: RolledBack: %s" % (s, e)
    assert e["type"] in ("Applied", "HealthGatePassed", "RolledBack", "Started"), (s, e)
# 3 and 4: the applied generation falls only back to last-known-good, in
# a rollback that ends with a RolledBack event for the generation left
# (before anything newer is applied), and a rolled-back generation is
# never applied again
high, leaving, rolled = 0, None, set()
for r in stored:
    p, s = r["payload"], r["seq"]
    a, lkg = p["generation"]["applied"], p["generation"]["lastKnownGood"]
    ev = p.get("event", {})
    assert a not in rolled, "report %d: rolled-back generation %d applied again" % (s, a)
    if a < high:
        assert a == lkg, "report %d: applied %d after %d, not last-known-good %d" % (s, a, high, lkg)
        assert leaving in (None, high), "report %d: two rollbacks at once" % s
        leaving = high
    elif a > high and leaving is not None:
        raise AssertionError("report %d: %d applied, no RolledBack for %d" % (s, a, leaving))
    if ev.get("type") == "RolledBack":
        assert ev["generation"] == leaving, "report %d: RolledBack %d, leaving %s" % (s, ev["generation"], leaving)
        rolled.add(leaving)
        leaving = None
    high = a
assert leaving is None, "a rollback from %d never reported" % leaving
print("%d reports stored, Applied %d times, %d rollbacks" % (len(stored), len(applied), len(rolled)))
PY
jq -c '[.reports[].payload.event | select(.type == "RolledBack") | .generation]' "$T/stored.json" >"$T/rolled.json"
check "invariant 4: the failed generations are the rolled-back ones, not the last" \
    jq -e --argjson g "$G" --slurpfile rb "$T/rolled.json" \
    '(.failed | sort) == ($rb[0] | sort) and (.failed | index($g) == null)' "$T/agent/state.json"
check "no report conflict at the controller" \
    [ "$(metric 'cairn_controller_reports_total{result="conflict"}')" = 0 ]
check "no report refused by the controller" \
    [ "$(metric 'cairn_controller_reports_total{result="refused"}')" = 0 ]
check "the agent never saw a report refused" bash -c "! grep -q 'refused report' '$T/agent.log'"
starts=$(wc -l <"$T/worker.log")
sleep 2
check "no worker restarts after convergence" [ "$(wc -l <"$T/worker.log")" = "$starts" ]
agent_stop || fail "the agent did not stop cleanly"
stop_controller
echo "$kills kills, $(jq '.reports | length' "$T/stored.json") reports, $((SECONDS - t_start)) s"
finish
