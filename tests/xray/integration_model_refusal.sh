#!/usr/bin/env bash
# xray-worker refuses to start on a bad model - missing, empty, truncated,
# corrupt (one flipped bit), the trainer's deliberately broken v3, not a
# model at all, a future format version, or not the digest the agent
# deployed - each with a clear message, a non-zero exit and no port bound.
# The agent's health gate relies on exactly this.
set -euo pipefail

BIN=${XRAY_BIN_DIR:-$CAIRN_BUILD/examples/xray-worker}
PY=/usr/bin/python3
T=$(mktemp -d "${TMPDIR:-/tmp}/cairn-test-xray-XXXXXX")
trap 'rm -rf "$T"' EXIT
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
failures=0

"$BIN/xray-train" --random --input 40 --filters 4,4 --dense 8 --version good -o "$T/good.model" >/dev/null
size=$(stat -c %s "$T/good.model")
good_sha=$(sha256sum "$T/good.model" | cut -d' ' -f1)

head -c $((size / 2)) "$T/good.model" >"$T/half.model"
head -c 100 "$T/good.model" >"$T/header-cut.model"
: >"$T/empty.model"
cp "$T/good.model" "$T/flipped.model"
printf '\x01' | dd of="$T/flipped.model" bs=1 seek=$((size - 7)) conv=notrunc status=none
cp "$T/good.model" "$T/future.model"
printf '\x02' | dd of="$T/future.model" bs=1 seek=8 conv=notrunc status=none
cat "$T/good.model" <(printf 'extra') >"$T/trailing.model"
printf 'PK\x03\x04 definitely not a model' >"$T/zip.model"
"$BIN/xray-train" --corrupt -o "$T/v3.model" >/dev/null

# model, expected stderr text, [CAIRN_MODEL_SHA256]
refuse() {
    local model=$1 want=$2 sha=${3:-} rc=0 out
    out=$(CAIRN_MODEL_PATH=$model CAIRN_MODEL_SHA256=$sha XRAY_DATA_DIR="$T/data" \
          XRAY_LISTEN="127.0.0.1:$PORT" timeout 20 "$BIN/xray-worker" 2>&1) || rc=$?
    if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ]; then
        echo "FAIL: $model: exit $rc, expected a refusal" >&2
        failures=$((failures + 1))
    elif ! grep -qF -- "$want" <<<"$out"; then
        echo "FAIL: $model: message lacks '$want':" >&2
        echo "$out" >&2
        failures=$((failures + 1))
    elif ! grep -qF "refusing to start" <<<"$out"; then
        echo "FAIL: $model: no 'refusing to start' in: $out" >&2
        failures=$((failures + 1))
    else
        echo "ok: $(basename "$model"): exit $rc: $(grep -F 'refusing' <<<"$out" | sed 's/.*refusing/refusing/')"
    fi
}

refuse "$T/missing.model" "No such file"
refuse "$T/empty.model" "truncated: 0 bytes"
refuse "$T/header-cut.model" "truncated: 100 bytes"
refuse "$T/half.model" "truncated: $((size / 2)) bytes, header declares $size"
refuse "$T/flipped.model" "checksum mismatch (file corrupt or modified)"
refuse "$T/v3.model" "checksum mismatch"
refuse "$T/future.model" "format version 2 not supported"
refuse "$T/trailing.model" "5 trailing bytes"
refuse "$T/zip.model" "bad magic"
refuse "$T/good.model" "CAIRN_MODEL_SHA256 is $(printf '0%.0s' {1..64})" "$(printf '0%.0s' {1..64})"

# Nothing above may have created the data directory's database or bound the port.
[ ! -e "$T/data/xray.db" ] || { echo "FAIL: a refused start created xray.db" >&2; failures=$((failures + 1)); }

# Missing CAIRN_MODEL_PATH is a configuration error (exit 2).
rc=0
out=$(env -u CAIRN_MODEL_PATH XRAY_DATA_DIR="$T/data" "$BIN/xray-worker" 2>&1) || rc=$?
if [ "$rc" -ne 2 ] || ! grep -qF "CAIRN_MODEL_PATH is not set" <<<"$out"; then
    echo "FAIL: unset CAIRN_MODEL_PATH: exit $rc: $out" >&2
    failures=$((failures + 1))
fi

# The good model with its right digest starts, answers /healthz, stops cleanly.
CAIRN_MODEL_PATH="$T/good.model" CAIRN_MODEL_SHA256="$good_sha" XRAY_DATA_DIR="$T/data" \
    XRAY_LISTEN="127.0.0.1:$PORT" "$BIN/xray-worker" 2>"$T/good.log" &
pid=$!
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$PORT/healthz" >"$T/health.json" 2>/dev/null && break
    sleep 0.1
done
if ! grep -qF "\"sha256\":\"$good_sha\"" "$T/health.json"; then
    echo "FAIL: good model not served: $(cat "$T/health.json" "$T/good.log")" >&2
    failures=$((failures + 1))
fi
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || { echo "FAIL: good worker exit $rc" >&2; failures=$((failures + 1)); }

"$BIN/xray-worker" --check-model "$T/good.model" | grep -qF "version good" || failures=$((failures + 1))
if "$BIN/xray-worker" --check-model "$T/v3.model" 2>/dev/null; then
    echo "FAIL: --check-model accepted v3" >&2
    failures=$((failures + 1))
fi

[ "$failures" -eq 0 ] || { echo "$failures failure(s)" >&2; exit 1; }
echo "model refusal: ok"
