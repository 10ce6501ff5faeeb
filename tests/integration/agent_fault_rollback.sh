#!/usr/bin/env bash
# Rollback edge cases: the very first generation fails (no last-known-good:
# its workers are stopped); a worker that crashes at start and one that
# never becomes healthy are rolled back; a last-known-good whose blob went
# missing is fetched again to roll back to it.
. "${CAIRN_SRC:?}/tests/tools/agentlib.sh" || exit 1
agent_setup
model bad.bin crash
model good.bin good
model sick.bin unhealthy
model worse.bin crash '"w":2'
publish "$(spec1 1 "$(workload risk bad.bin v1)")" >/dev/null
agent_start
refused RolledBack "no last-known-good" 40
jq -e '.applied == null and .lastKnownGood == null and .failed == [1]' "$T/state/state.json" \
    >/dev/null || fail "state after a failed first generation: $(cat "$T/state/state.json" | head -c 300)"
stopped() { ! curl -sf "http://127.0.0.1:$WORKER_PORT/healthz"; }
wait_for 10 stopped || fail "the failed first generation still runs"

publish "$(spec1 2 "$(workload risk good.bin v2)")" >/dev/null
wait_for 30 applied_is 2 || fail "generation 2 not applied"
publish "$(spec1 3 "$(workload risk sick.bin v3)")" >/dev/null
refused RolledBack "no healthy answer" 40
wait_for 10 applied_is 2 || fail "not back on 2"

# the last-known-good blob disappears; the next failure still rolls back
rm -f "$T/state/blobs/sha256/$(sha_of "$T/artifacts/good.bin")"
publish "$(spec1 4 "$(workload risk worse.bin v4)")" >/dev/null
wait_for 40 has_event RolledBack 4 || fail "generation 4 not rolled back"
wait_for 10 applied_is 2 || fail "not back on 2 (blob re-fetched)"
wait_for 10 serving good.bin || fail "good.bin not served after the rollback"
check_blobs
jq -e '.failed == [1,3,4]' "$T/state/state.json" >/dev/null || fail "failed list"
agent_stop
echo ok
