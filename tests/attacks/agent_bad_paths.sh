#!/usr/bin/env bash
# A desired state whose files reach outside the workload's directory
# ("..", absolute) is refused as a whole.
. "${CAIRN_SRC:?}/tests/tools/agentlib.sh" || exit 1
agent_setup
baseline
for p in "../../../../tmp/cairn-pwned-$$" "/tmp/cairn-pwned-$$" "conf/../../x"; do
    w=$(workload risk m1.bin v1 "{\"files\": [{\"path\": \"$p\", \"content\": \"pwned\"}]}")
    gen=$(( $(jq -r .accepted.generation "$T/state/state.json") + 1 ))
    publish "$(spec1 $gen "$w")" >/dev/null
    refused Rejected "\"$p\" is not a plain relative path"
    [ ! -e "/tmp/cairn-pwned-$$" ] || fail "a file was written outside: $p"
done
sleep 1
unharmed
echo ok
