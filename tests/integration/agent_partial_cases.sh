#!/usr/bin/env bash
# Per-workload reconcile, the edge cases (fake controller, two or three
# workloads on their own ports):
#   - a refresh (same generation, later issue) restarts nothing;
#   - a generation whose entries differ only in model URLs restarts and
#     gates nothing, and is committed;
#   - a workload added starts and is gated alone; one removed is stopped
#     and its files removed; the others keep their processes;
#   - a worker fallen ill at run time (unhealthy) is restarted and gated by
#     a generation that changes only the other workload: the generation
#     does not become last-known-good over it;
#   - SIGKILL of the agent at random points while one of two workloads
#     changes generation after generation (good, crashing, unhealthy
#     models): the agent converges on the last generation, each worker
#     serves its signed model from one process, failed generations are the
#     bad ones, and once converged a new change of one workload again
#     leaves the other alone.
# CYCLES (default 12) and SEED (default: random, printed) can be set.
. "${CAIRN_SRC:?}/tests/tools/agentlib.sh" || exit 1

CYCLES=${CYCLES:-12}
SEED=${SEED:-$$}
RANDOM=$SEED
echo "seed $SEED, $CYCLES cycles"
REPORT_INTERVAL=1 agent_setup
PA=$WORKER_PORT
PB=$(free_port)
PC=$(free_port)

# wl NAME PORT MODELFILE VERSION [URL]: a testworker entry on its own port,
# logging its starts to $T/NAME.log
wl() {
    local url=${5:-'{base}/v1/artifacts/sha256/{sha256}'}
    workload "$1" "$3" "$4" "$(jq -nc --arg p "$2" --arg log "$T/$1.log" --arg url "$url" \
        --arg cmd "$TOOLS/testworker.py" '{
            exec: {command: ["/usr/bin/python3", $cmd],
                   env: {WORKER_PORT: $p, WORKER_LOG: $log,
                         WORKER_SICK_FILE: ($log + ".sick")}},
            health: {http: "http://127.0.0.1:\($p)/healthz", timeoutSeconds: 4},
            model: {urls: [$url]}}')"
}
doc() { # doc GEN ENTRY...
    local gen=$1
    shift
    printf '{"generation": %s, "workloads": [%s]}' "$gen" "$(IFS=,; echo "$*")"
}
pid_of() { cut -d' ' -f1 "$T/state/workloads/$1/worker.pid"; }
starts_of() { if [ -f "$T/$1.log" ]; then wc -l <"$T/$1.log"; else echo 0; fi; }
serves() { # serves PORT MODELFILE
    [ "$(curl -sf "http://127.0.0.1:$1/healthz" | jq -r .model)" = "$(sha_of "$T/artifacts/$2")" ]
}
accepted_issued() { jq -r .accepted.issued "$T/state/state.json"; }

model a1.bin good
model b1.bin good
model c1.bin good
A="$(wl alpha "$PA" a1.bin v1)"
B="$(wl beta "$PB" b1.bin v1)"

# ---- 1: both start --------------------------------------------------------------
publish "$(doc 1 "$A" "$B")" >/dev/null
agent_start
wait_for 30 applied_is 1 || fail "generation 1 not applied"
wait_for 10 has_event HealthGatePassed 1 || fail "generation 1 not healthy"
PIDA=$(pid_of alpha)
PIDB=$(pid_of beta)
untouched() { # untouched: both workers run the processes of generation 1
    [ "$(pid_of alpha)" = "$PIDA" ] && [ "$(pid_of beta)" = "$PIDB" ] &&
        [ "$(starts_of alpha)" = 1 ] && [ "$(starts_of beta)" = 1 ] &&
        kill -0 "$PIDA" && kill -0 "$PIDB"
}
untouched || fail "generation 1: workers started more than once"

# ---- a refresh of generation 1 restarts nothing ------------------------------------
issued=$(accepted_issued)
publish "$(doc 1 "$A" "$B")" >/dev/null
reissued() { [ "$(accepted_issued)" != "$issued" ]; }
wait_for 15 reissued || fail "the refresh was not accepted"
sleep 1
applied_is 1 || fail "the refresh moved the site"
untouched || fail "a refresh restarted a worker"

# ---- 2: only the model URLs differ: nothing restarts, nothing is gated ------------
A2="$(wl alpha "$PA" a1.bin v1 'http://127.0.0.1:9/mirror/{sha256}')"
publish "$(doc 2 "$A2" "$B")" >/dev/null
wait_for 20 applied_is 2 || fail "generation 2 (URLs only) not applied"
wait_for 10 lkg_is 2 || fail "generation 2 not last-known-good"
wait_for 10 has_event HealthGatePassed 2 || fail "generation 2 not committed"
untouched || fail "a change of model URLs restarted a worker"
grep -q "workload alpha is unchanged in generation 2" "$T/agent.log" || fail "alpha not seen unchanged"
[ "$(grep -c "workload .*: healthy after" "$T/agent.log")" = 2 ] ||
    fail "generation 2 ran a health gate"

# ---- 3: a third workload arrives: only it starts --------------------------------
C="$(wl gamma "$PC" c1.bin v1)"
publish "$(doc 3 "$A2" "$B" "$C")" >/dev/null
wait_for 30 applied_is 3 || fail "generation 3 (gamma added) not applied"
serves "$PC" c1.bin || fail "gamma does not serve c1"
untouched || fail "adding gamma restarted alpha or beta"
PIDC=$(pid_of gamma)

# ---- 4: it leaves again: only it stops ------------------------------------------
publish "$(doc 4 "$A2" "$B")" >/dev/null
wait_for 30 applied_is 4 || fail "generation 4 (gamma removed) not applied"
gone() { ! kill -0 "$PIDC" 2>/dev/null; }
wait_for 10 gone || fail "gamma's worker still runs"
[ ! -e "$T/state/workloads/gamma/config" ] || fail "gamma's files were not removed"
untouched || fail "removing gamma restarted alpha or beta"
serves "$PA" a1.bin && serves "$PB" b1.bin || fail "alpha or beta stopped serving"
# generation 1's config dirs stay while the workers started with them run
[ -d "$T/state/workloads/alpha/config.1" ] || fail "alpha's running config.1 was removed"

# ---- 5: beta falls ill; a change of alpha alone restarts and gates beta too ----------
# beta's process was started for generation 1; generation 5 keeps it ill,
# the rollback's restart (for generation 4) is well again
echo "1 5" >"$T/beta.log.sick"
beta_unhealthy() {
    jq -e '.workloads[] | select(.name == "beta") | .health == "unhealthy"' \
        "$T/state/status.json" >/dev/null 2>&1
}
wait_for 15 beta_unhealthy || fail "beta's illness not seen"
model a5.bin good '"gen":5'
publish "$(doc 5 "$(wl alpha "$PA" a5.bin v5)" "$B")" >/dev/null
wait_for 40 has_event RolledBack 5 || fail "generation 5 not rolled back over an ill beta"
has_event RolledBack 5 "beta" || fail "the rollback does not name beta"
lkg_is 4 || fail "generation 5 became last-known-good over an ill beta"
wait_for 30 serves "$PB" b1.bin || fail "beta not back on b1"
wait_for 30 serves "$PA" a1.bin || fail "alpha not back on a1"
rm -f "$T/beta.log.sick"

# ---- SIGKILL while beta changes and alpha does not ---------------------------------
kills=0
last=$((5 + CYCLES))
for gen in $(seq 6 "$last"); do
    case $((gen % 5)) in
        2) behaviour=crash ;;
        4) behaviour=unhealthy ;;
        *) behaviour=good ;;
    esac
    [ "$gen" -eq "$last" ] && behaviour=good
    model "b$gen.bin" "$behaviour" "\"gen\":$gen"
    publish "$(doc "$gen" "$A2" "$(wl beta "$PB" "b$gen.bin" "v$gen")")" >/dev/null
    sleep "$((RANDOM % 30 / 10)).$((RANDOM % 10))"
    if [ $((RANDOM % 10)) -lt 7 ]; then
        agent_kill
        kills=$((kills + 1))
        check_blobs
        agent_start
    fi
done
echo "$kills kills"
wait_for 120 applied_is "$last" || fail "did not converge on $last ($(applied_gen), $(phase))"
wait_for 30 lkg_is "$last" || fail "$last is not last-known-good"
wait_for 30 serves "$PB" "b$last.bin" || fail "beta does not serve b$last"
wait_for 30 serves "$PA" a1.bin || fail "alpha does not serve a1"
check_blobs
# one live worker per workload, the one its pid file names
for w in alpha beta; do
    kill -0 "$(pid_of $w)" || fail "$w's recorded worker is dead"
done
! grep -q "is not the signed one" "$T/agent.log" || fail "a worker was given unsigned bytes"
while read -r _ _ sha _ wgen; do
    [ "$wgen" -le 5 ] && continue
    [ "$sha" = "$(sha_of "$T/artifacts/b$wgen.bin")" ] || fail "beta of generation $wgen ran $sha"
done <"$T/beta.log"
# failed generations are bad ones (or good ones whose apply kills interrupted too often)
for g in $(jq -r '.failed[]' "$T/state/state.json"); do
    [ "$g" = 5 ] && continue # the ill-beta case above
    b=$(jq -r .behaviour "$T/artifacts/b$g.bin")
    [ "$b" != good ] || has_event RolledBack "$g" "interrupted" ||
        fail "good generation $g marked failed"
done
sa=$(starts_of alpha)
sb=$(starts_of beta)
sleep 3
[ "$(starts_of alpha)" = "$sa" ] && [ "$(starts_of beta)" = "$sb" ] ||
    fail "workers still restarting after convergence"

# converged: a change of beta alone again leaves alpha's process alone
PIDA=$(pid_of alpha)
next=$((last + 1))
model "b$next.bin" good "\"gen\":$next"
publish "$(doc "$next" "$A2" "$(wl beta "$PB" "b$next.bin" "v$next")")" >/dev/null
wait_for 30 applied_is "$next" || fail "generation $next not applied"
wait_for 10 serves "$PB" "b$next.bin" || fail "beta does not serve b$next"
[ "$(pid_of alpha)" = "$PIDA" ] && [ "$(starts_of alpha)" = "$sa" ] ||
    fail "after the kills, a change of beta restarted alpha"

outbox_empty() { [ -z "$(ls "$T/state/outbox/")" ]; }
wait_for 30 outbox_empty || fail "reports left in the outbox"
reports | jq -e '[.reports[].seq] as $s | ($s | sort) == $s and ($s | unique | length) == ($s | length)' \
    >/dev/null || fail "stored report seqs not strictly rising"
[ "$(reports | jq .conflicts)" = 0 ] || fail "report seq conflicts"
agent_stop || fail "agent did not stop cleanly"
echo "ok ($kills kills)"
