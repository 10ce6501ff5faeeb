#!/usr/bin/env bash
# cairn-agent follows a controller through model updates: each generation
# is fetched, verified, applied, gated and committed; a bad one is rolled
# back to the last-known-good and never retried; reports carry what runs;
# a clean stop and a restart keep serving the same model.
. "${CAIRN_SRC:?}/tests/tools/agentlib.sh" || exit 1

agent_setup
model m1.bin good
model m2.bin good
model m3.bin crash
model m4.bin unhealthy
model m5.bin wrong-golden
model m6.bin good '"n":6'

GOLDEN='{"health": {"golden": {"url": "http://127.0.0.1:'$WORKER_PORT'/v1/score",
         "input": "golden.png", "contentType": "image/png", "expect": {"band": "Pneumonia"}}},
         "files": [{"path": "golden.png", "content": "iVBORw0KGgo=", "encoding": "base64"},
                   {"path": "conf/worker.conf", "content": "threshold=0.8\n", "mode": "0640"}]}'
spec() { # spec GEN MODELFILE VERSION
    printf '{"generation": %s, "workloads": [%s]}' "$1" "$(workload risk "$2" "$3" "$GOLDEN")"
}

publish "$(spec 1 m1.bin v1)" >/dev/null
agent_start
wait_for 30 applied_is 1 || fail "generation 1 not applied"
wait_for 10 has_event HealthGatePassed 1 || fail "no HealthGatePassed for 1"
[ "$(lkg_gen)" = 1 ] || fail "last-known-good is not 1"
serving m1.bin || fail "worker does not serve m1"
check_blobs
# files landed in the generation's config dir with their modes
cfg="$T/state/workloads/risk/config"
[ "$(cat "$cfg/conf/worker.conf")" = "threshold=0.8" ] || fail "config file content"
[ "$(stat -c %a "$cfg/conf/worker.conf")" = 640 ] || fail "config file mode"

# gen 2: a good model
publish "$(spec 2 m2.bin v2)" >/dev/null
wait_for 30 applied_is 2 || fail "generation 2 not applied"
serving m2.bin || fail "worker does not serve m2"
has_event Applied 2 || fail "no Applied event for 2"

# gen 3: crashes at start -> rollback to 2
publish "$(spec 3 m3.bin v3)" >/dev/null
wait_for 40 has_event RolledBack 3 || fail "generation 3 (crash) not rolled back"
wait_for 10 applied_is 2 || fail "not back on 2 after the crash"
has_event RolledBack 3 "exit" || fail "RolledBack 3 does not say the worker exited"
wait_for 10 serving m2.bin || fail "m2 not serving after rollback"

# gen 4: never healthy -> rollback
publish "$(spec 4 m4.bin v4)" >/dev/null
wait_for 40 has_event RolledBack 4 || fail "generation 4 (unhealthy) not rolled back"
wait_for 10 applied_is 2 || fail "not back on 2 after unhealthy 4"

# gen 5: healthy but the golden check fails -> rollback
publish "$(spec 5 m5.bin v5)" >/dev/null
wait_for 40 has_event RolledBack 5 "golden" || fail "generation 5 (golden) not rolled back"
wait_for 10 applied_is 2 || fail "not back on 2 after golden 5"
jq -e '.failed == [3,4,5]' "$T/state/state.json" >/dev/null || fail "failed generations"

# a refresh of failed generation 5 (same generation, later issue) is not retried
publish "$(spec 5 m5.bin v5)" >/dev/null
sleep 3
[ "$(grep -c " $(sha_of "$T/artifacts/m5.bin") " "$T/worker.log")" = 1 ] ||
    fail "failed generation 5 was retried"
applied_is 2 || fail "a refresh of a failed generation moved the site"

# gen 6: good again
publish "$(spec 6 m6.bin v6)" >/dev/null
wait_for 30 applied_is 6 || fail "generation 6 not applied"
wait_for 10 lkg_is 6 || fail "6 not last-known-good"
check_blobs

# reports: seq strictly rising, each stored once, content matches what runs
latest_shows_6() {
    reports | jq -e '.reports[-1] | .generation.applied == 6 and
        .workloads[0].model.version == "v6" and .workloads[0].health == "healthy"'
}
wait_for 10 latest_shows_6 || fail "latest report does not show generation 6 healthy"
reports | jq -e '[.reports[].seq] as $s | ($s | sort) == $s and ($s | unique | length) == ($s | length)' >/dev/null ||
    fail "report seqs not strictly rising"
reports | jq -e '[.reports[] | select(.workloads[0].metrics["xray_images_total{band=\"Pneumonia\"}"] == 3)] | length > 0' >/dev/null ||
    fail "worker metrics not reported"
reports | jq -e '.reports[-1].workloads[0].model.sha256 == "'"$(sha_of "$T/artifacts/m6.bin")"'"' >/dev/null ||
    fail "report names another model than the one served"
[ "$(reports | jq .conflicts)" = 0 ] || fail "report seq conflicts"

# status shows it
status_json | jq -e '.generation.applied == 6 and .generation.lastKnownGood == 6 and .daemonRunning == true' >/dev/null ||
    fail "status --json: $(status_json)"
"$AGENT" status --config "$T/etc/agent.yaml" | grep -q "applied 6, accepted 6, last-known-good 6" ||
    fail "status text"

# clean stop: exit 0, the worker is gone; restart serves generation 6 again
pid=$(cut -d' ' -f1 "$T/state/workloads/risk/worker.pid")
agent_stop || fail "agent did not stop cleanly"
! kill -0 "$pid" 2>/dev/null || fail "worker still running after the agent stopped"
starts=$(worker_starts)
agent_start
wait_for 20 more_starts_than "$starts" || fail "worker not restarted"
wait_for 10 serving m6.bin || fail "not serving m6 after restart"
wait_for 10 has_event Started || fail "no Started event"
applied_is 6 || fail "restart changed the applied generation"
agent_stop
echo "ok"
