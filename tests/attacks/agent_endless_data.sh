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
refused DownloadFailed "Content-Length" 40
sleep 1
unharmed
# the same without a Content-Length: the stream itself is cut
model m3.bin good '"three":1'
w=$(workload risk m3.bin v3 | jq -c '.model.urls = ["{base}/v1/artifacts/sha256/{sha256}?extra=50000000&nolen=1"]')
publish "$(spec1 3 "$w")" >/dev/null
wait_for 40 has_event DownloadFailed 3 || fail "no DownloadFailed for the endless stream"
unharmed
for f in "$T"/state/downloads/*.partial; do
    [ -e "$f" ] || continue
    [ "$(stat -c %s "$f")" -le "$(stat -c %s "$T/artifacts/m2.bin")" ] || fail "partial grew past the signed size"
done
[ "$(du -sk "$T/state" | cut -f1)" -lt 10000 ] || fail "the state directory grew: endless data stored"
echo ok
