#!/usr/bin/env bash
# Enrollment and configuration: `cairn-agent init` makes a 0600 site key,
# the config and key files, and prints the sites/SITE.yaml stanza; config
# errors cite file:line; a corrupt state.json stops the start with a clear
# message instead of a silent fresh start; `status` works without the
# daemon.
. "${CAIRN_SRC:?}/tests/tools/agentlib.sh" || exit 1
agent_setup
cfg="$T/etc/agent.yaml"
[ "$(stat -c %a "$T/state/site.key")" = 600 ] || fail "site key mode"
grep -q '^kind: Site$' "$T/stanza.yaml" && grep -q "^name: $SITE\$" "$T/stanza.yaml" ||
    fail "stanza: $(cat "$T/stanza.yaml")"
[ "$(ssh-keygen -y -f "$T/state/site.key" | cut -d' ' -f1-2)" = "$(cut -d' ' -f1-2 "$T/keys/site.pub")" ] ||
    fail "the printed publicKey is not the site key's"
grep -qx "$(cut -d' ' -f1-2 "$T/keys/controller.pub") controller" "$T/etc/controller.pub" ||
    fail "controller key file"
"$AGENT" config --config "$cfg" | grep -q '^site: "st-olaf"' || fail "config print"
"$AGENT" config --doc | grep -q '| `reportIntervalSeconds` | integer (1..86400) | 30 |' ||
    fail "config doc table"
# docs/agent.md carries the generated table, unchanged
sed -n '/<!-- config-table:begin -->/,/<!-- config-table:end -->/p' "$CAIRN_SRC/docs/agent.md" |
    sed '1d;$d' >"$T/doc-table"
"$AGENT" config --doc | diff - "$T/doc-table" >&2 ||
    fail "docs/agent.md's config table differs from \`cairn-agent config --doc\`"

# init again keeps the key; an existing config needs --force
old=$(cat "$T/keys/site.pub")
! "$AGENT" init --site "$SITE" --controller "$CTL" --trust-controller "$T/keys/controller.pub" \
    --trust-publisher "$T/keys/publisher.pub" --state "$T/state" --config "$cfg" 2>"$T/e" ||
    fail "init replaced an existing config"
grep -q "exists (use --force" "$T/e" || fail "init message: $(cat "$T/e")"
"$AGENT" init --force --site "$SITE" --controller "$CTL" --trust-controller "$T/keys/controller.pub" \
    --trust-publisher "$(cat "$T/keys/publisher.pub")" --state "$T/state" --config "$cfg" \
    >"$T/stanza2" 2>"$T/e" || fail "init --force: $(cat "$T/e")"
grep -q "keeping the existing site key" "$T/e" || fail "init did not keep the key"
[ "$(grep '^publicKey' "$T/stanza2" | cut -d' ' -f2-)" = "$old" ] || fail "site key changed"
cat >>"$cfg" <<CFG
reportIntervalSeconds: 2
retryMinSeconds: 1
retryMaxSeconds: 3
CFG
# bad inputs
! "$AGENT" init --site Bad_Site --controller "$CTL" --trust-controller x --trust-publisher y 2>"$T/e" ||
    fail "bad site accepted"
grep -q "not a DNS label" "$T/e" || fail "bad site message"
printf 'site: st-olaf\ncontroller: http://x\ncontrollerKeys: a\npublisherKeys: b\nlogLvl: debug\n' >"$T/bad.yaml"
! "$AGENT" run --config "$T/bad.yaml" 2>"$T/e" || fail "unknown key accepted"
grep -q "bad.yaml:5:1: unknown key \"logLvl\"" "$T/e" || fail "no file:line: $(cat "$T/e")"
printf 'site: st-olaf\ncontroller: http://x\ncontrollerKeys: /nonexistent\npublisherKeys: b\n' >"$T/bad2.yaml"
! "$AGENT" run --config "$T/bad2.yaml" 2>"$T/e" || fail "missing key file accepted"

# status before any run; then a run; then a corrupt state file
"$AGENT" status --config "$cfg" | grep -q "daemon:         not running" || fail "status without daemon"
baseline
agent_stop
"$AGENT" status --config "$cfg" | grep -q "applied 1, accepted 1, last-known-good 1" ||
    fail "status after a run"
cp "$T/state/state.json" "$T/state.good"
printf '{"kind":"cairn.agent-state/v1","accepted":' >"$T/state/state.json"
rc=0
"$AGENT" run --config "$cfg" 2>"$T/e" || rc=$?
[ "$rc" = 1 ] || fail "a corrupt state.json did not stop the start (rc $rc)"
grep -q "state.json is corrupt" "$T/e" || fail "corrupt state message: $(cat "$T/e")"
! "$AGENT" status --config "$cfg" 2>"$T/e" || fail "status accepted a corrupt state"
cp "$T/state.good" "$T/state/state.json"
agent_start
wait_for 20 serving m1.bin || fail "not serving after the state was restored"
# SIGHUP re-reads the trusted keys
cat "$T/keys/rogue.pub" >>"$T/etc/controller.pub"
kill -HUP "$AGENT_PID"
wait_for 10 grep -q "reload: 2 controller and 1 publisher keys trusted" "$T/agent.log" ||
    fail "SIGHUP did not reload the keys"
echo "garbage" >>"$T/etc/publishers.pub"
kill -HUP "$AGENT_PID"
wait_for 10 grep -q "keeping the running keys" "$T/agent.log" || fail "a bad key file was taken"
serving m1.bin || fail "a reload disturbed the worker"
agent_stop
echo ok
