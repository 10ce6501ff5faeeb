#!/usr/bin/env bash
# Slow retrieval: a server trickling 1 byte/s is cut by the low-speed
# limit; the agent reports DownloadFailed and the running model runs on.
. "${CAIRN_SRC:?}/tests/tools/agentlib.sh" || exit 1
agent_setup
cat >>"$T/etc/agent.yaml" <<CFG
downloadLowSpeedSeconds: 2
downloadTries: 1
CFG
baseline
model m2.bin good "\"pad\":\"$(head -c 4000 /dev/zero | tr '\0' x)\""
w=$(workload risk m2.bin v2 | jq -c '.model.urls = ["{base}/v1/artifacts/sha256/{sha256}?rate=1"]')
publish "$(spec1 2 "$w")" >/dev/null
refused DownloadFailed "" 60
unharmed
echo ok
