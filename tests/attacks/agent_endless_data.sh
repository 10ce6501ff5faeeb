#!/usr/bin/env bash
# Endless data: the server sends more than the signed size. The transfer
# is cut at the signed size, nothing over-long is installed, and the
# running model runs on.
. "${CAIRN_SRC:?}/tests/tools/agentlib.sh" || exit 1
agent_setup
baseline
model m2.bin good '"two":1'
w=$(workload risk m2.bin v2 | jq -c '.model.urls = ["{base}/v1/artifacts/sha256/{sha256}?extra=50000000"]')
publish "$(spec1 2 "$w")" >/dev/null
refused DownloadFailed "" 40
sleep 1
unharmed
for f in "$T"/state/downloads/*.partial; do
    [ -e "$f" ] || continue
    [ "$(stat -c %s "$f")" -le "$(stat -c %s "$T/artifacts/m2.bin")" ] || fail "partial grew past the signed size"
done
[ "$(du -sk "$T/state" | cut -f1)" -lt 10000 ] || fail "the state directory grew: endless data stored"
echo ok
