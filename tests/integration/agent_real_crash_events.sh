#!/usr/bin/env bash
# A transition event survives a crash at the worst moment (DESIGN.md
# invariant 5): the real agent is SIGKILLed (by gdb, at the call that
# reports the event) just as a generation passes its health gate, and
# again just as it finishes rolling back a generation that never became
# healthy. After a restart the real controller must hold a
# HealthGatePassed, respectively RolledBack, event for that generation:
# the agent finishes or redoes the step, and never records a step as done
# while the report of it can still be lost. Skipped without gdb or without
# the agent's debug information (a release build).
set -euo pipefail
source "${CAIRN_SRC:?}/tests/integration/agent_real_lib.bash"
trap real_cleanup EXIT
if ! command -v gdb >/dev/null ||
    ! gdb -batch -ex 'info line hook_event' "$AGENT" 2>/dev/null | grep -q '^Line'; then
    echo "SKIP: needs gdb and a cairn-agent with debug information"
    exit 77
fi
HEALTH_TIMEOUT=3 real_setup "reportIntervalSeconds: 1"

# kill_at_event TYPE: gdb attached to the agent kills it when it is about
# to report an event of TYPE. Returns once the breakpoint is set.
kill_at_event() {
    rm -f "$T/gdb.out"
    gdb -p "$APID" -batch -ex 'set pagination off' \
        -ex "break hook_event if \$_streq(type, \"$1\")" -ex 'echo ARMED\n' \
        -ex continue -ex 'echo HIT\n' -ex kill >"$T/gdb.out" 2>&1 &
    GDB=$!
    wait_for 60 grep -q ARMED "$T/gdb.out" || die "gdb did not attach: $(cat "$T/gdb.out")"
}

# killed_at_event: gdb hit its breakpoint and the agent died of SIGKILL.
killed_at_event() {
    local rc=0 i
    for i in $(seq 1 300); do kill -0 "$GDB" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$GDB" 2>/dev/null && { kill "$GDB"; die "gdb's breakpoint was never hit"; }
    wait "$GDB" || true
    grep -q HIT "$T/gdb.out" || die "gdb: $(tail -5 "$T/gdb.out")"
    wait "$APID" || rc=$?
    APID=
    [ "$rc" = 137 ] || die "the agent did not die of SIGKILL ($rc)"
}

# has_event TYPE GEN: the controller stored a report with this event.
has_event() {
    stored_reports | jq -e --arg t "$1" --argjson g "$2" \
        'any(.reports[].payload.event; . != null and .type == $t and .generation == $g)'
}

# --- killed as generation 2 passes its health gate ---------------------------
kill_at_event HealthGatePassed
set_fleet v2 0.2
commit "$T" "pneumonia v2"
killed_at_event
echo "killed at HealthGatePassed: state.json phase $(jq -r '.pending.phase // "none"' "$T/agent/state.json")"
agent_start
check "HealthGatePassed for generation 2 reaches the controller after the crash" \
    wait_for 60 has_event HealthGatePassed 2
check "generation 2 is applied and last-known-good" wait_for 30 \
    jq -e '.applied.generation == 2 and .lastKnownGood.generation == 2' "$T/agent/state.json"
check "the controller sees generation 2 with pneumonia@v2" wait_for 30 site_is 2 v2

# --- killed as generation 3 (never healthy) has been rolled back ------------
kill_at_event RolledBack
set_fleet v3 0.3
commit "$T" "pneumonia v3 (never healthy)"
killed_at_event
echo "killed at RolledBack: state.json phase $(jq -r '.pending.phase // "none"' "$T/agent/state.json")"
agent_start
check "RolledBack for generation 3 reaches the controller after the crash" \
    wait_for 60 has_event RolledBack 3
check "generation 3 is failed; 2 is applied and last-known-good" wait_for 30 \
    jq -e '.failed == [3] and .applied.generation == 2 and .lastKnownGood.generation == 2' \
    "$T/agent/state.json"
site_runs() { # site_runs GEN VERSION (degraded: it reports the rollback)
    curl -sf "$URL/v1/sites/$SITE" | jq -e --argjson g "$1" --arg m "pneumonia@$2" \
        '.applied == $g and .running == $m'
}
check "the controller sees generation 2 with pneumonia@v2 again" wait_for 30 site_runs 2 v2
check "the worker serves v2" wait_for 20 serving v2
check "current is a verified blob" check_current
stored_reports >"$T/stored.json"
check "stored seqs unique and rising" \
    jq -e '[.reports[].seq] as $s | ($s | unique) == $s' "$T/stored.json"
check "no report conflict at the controller" \
    [ "$(metric 'cairn_controller_reports_total{result="conflict"}')" = 0 ]
agent_stop || fail "the agent did not stop cleanly"
stop_controller
finish
