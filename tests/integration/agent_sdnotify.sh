#!/usr/bin/env bash
# cairn-agent under systemd (Type=notify, WatchdogSec=): with NOTIFY_SOCKET
# set it sends READY=1 once started, WATCHDOG=1 at half of WATCHDOG_USEC
# for as long as it runs (also while its controller is unreachable: the
# loop never blocks on it), and STOPPING=1 on SIGTERM, then exits 0. A
# WATCHDOG_PID naming another process means no watchdog pings; an
# abstract socket ("@name") works like a path. A python unix datagram
# socket stands in for systemd. Skipped while cairn-agent is not built.
set -euo pipefail
: "${CAIRN_BUILD:?}" "${CAIRN_SRC:?}"
AGENT=$CAIRN_BUILD/agent/cairn-agent
PY=/usr/bin/python3
if [ ! -x "$AGENT" ]; then
    echo "SKIP: $AGENT is not built"
    exit 0
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/cairn-agent-notify.XXXXXX")
LISTENER=
APID=
cleanup() {
    set +e
    [ -n "$APID" ] && { kill -KILL "$APID"; wait "$APID"; } 2>/dev/null
    [ -n "$LISTENER" ] && { kill "$LISTENER"; wait "$LISTENER"; } 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
fails=0
checks=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
check() { # check "what" CMD...
    local what=$1
    shift
    checks=$((checks + 1))
    "$@" >/dev/null || fail "$what"
}

# a controller nobody listens on: a port bound and closed again
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ssh-keygen -q -t ed25519 -N '' -C ctl -f "$T/ctl" </dev/null
ssh-keygen -q -t ed25519 -N '' -C pub -f "$T/pub" </dev/null
"$AGENT" init --site edge-1 --controller "http://127.0.0.1:$PORT" --trust-controller "$T/ctl.pub" \
    --trust-publisher "$T/pub.pub" --state "$T/state" --config "$T/agent.yaml" >/dev/null 2>"$T/init.err" ||
    { echo "FAIL: init: $(cat "$T/init.err")" >&2; exit 1; }
printf 'retryMinSeconds: 1\nretryMaxSeconds: 1\n' >>"$T/agent.yaml"

# listen ADDRESS LOG: the notify socket; one "<monotonic seconds> <message>"
# line per datagram (newlines in a message as "|"), until STOPPING=1 or 30 s.
listen() {
    rm -f "$2"
    $PY - "$1" "$2" <<'PY' &
import socket, sys, time
addr, log = sys.argv[1:3]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + addr[1:] if addr.startswith("@") else addr)
open(log + ".ready", "w").close()
s.settimeout(30)
with open(log, "w") as f:
    while True:
        try:
            m = s.recv(4096).decode()
        except socket.timeout:
            break
        f.write("%.3f %s\n" % (time.monotonic(), m.replace("\n", "|")))
        f.flush()
        if "STOPPING=1" in m:
            break
PY
    LISTENER=$!
    for _ in $(seq 1 100); do [ -e "$2.ready" ] && return 0; sleep 0.05; done
    echo "FAIL: the notify listener did not start" >&2
    exit 1
}

# run ADDRESS LOG SECONDS [WATCHDOG_PID]: the agent under this notify
# socket with WATCHDOG_USEC=1 s, SIGTERM after SECONDS; its exit status in RC.
run() {
    local addr=$1 log=$2 secs=$3 wpid=${4:-self}
    listen "$addr" "$log"
    NOTIFY_SOCKET=$addr WATCHDOG_USEC=1000000 WPID=$wpid \
        sh -c 'if [ "$WPID" = self ]; then export WATCHDOG_PID=$$; else export WATCHDOG_PID=$WPID; fi
               exec "$0" run --config "$1"' "$AGENT" "$T/agent.yaml" >>"$T/agent.log" 2>&1 &
    APID=$!
    sleep "$secs"
    RC=0
    kill -TERM "$APID"
    wait "$APID" || RC=$?
    APID=
    wait "$LISTENER" || true
    LISTENER=
}

# --- a path socket, the watchdog for this process --------------------------
run "$T/notify.sock" "$T/n1.log" 5
check "the agent exits 0 after SIGTERM ($RC)" [ "$RC" = 0 ]
check "READY=1 is the first message" [ "$(head -1 "$T/n1.log" | cut -d' ' -f2-)" = READY=1 ]
check "READY=1 is sent once" [ "$(grep -c ' READY=1' "$T/n1.log")" = 1 ]
check "STOPPING=1 is the last message" [ "$(tail -1 "$T/n1.log" | cut -d' ' -f2-)" = STOPPING=1 ]
check "no WATCHDOG=1 after STOPPING=1" awk '$2 == "STOPPING=1" { s = 1 } s && $2 == "WATCHDOG=1" { bad = 1 } END { exit bad }' "$T/n1.log"
# WATCHDOG_USEC=1 s: pings every 500 ms; in ~5 s at least 6, and never a
# gap that would reach systemd's deadline (1 s), nor pings far too often
check "WATCHDOG=1 pings at half of WATCHDOG_USEC" $PY - "$T/n1.log" <<'PY'
import sys
t = [float(l.split()[0]) for l in open(sys.argv[1]) if l.split()[1] == "WATCHDOG=1"]
gaps = [b - a for a, b in zip(t, t[1:])]
assert len(t) >= 6, "only %d pings: %s" % (len(t), gaps)
assert max(gaps) < 1.0, "a gap reaches the deadline: %s" % gaps
assert min(gaps) > 0.3, "pings too often: %s" % gaps
assert 0.4 < sum(gaps) / len(gaps) < 0.75, "mean gap not ~0.5 s: %s" % gaps
PY
check "the controller was unreachable all along" grep -q "Couldn't connect\|connect" "$T/agent.log"

# --- WATCHDOG_PID names another process: no pings ---------------------------
run "$T/notify2.sock" "$T/n2.log" 3 1
check "another WATCHDOG_PID: exit 0 ($RC)" [ "$RC" = 0 ]
check "another WATCHDOG_PID: READY=1 still sent" grep -q ' READY=1$' "$T/n2.log"
check "another WATCHDOG_PID: no WATCHDOG=1" bash -c "! grep -q WATCHDOG=1 '$T/n2.log'"
check "another WATCHDOG_PID: STOPPING=1 still sent" grep -q ' STOPPING=1$' "$T/n2.log"

# --- an abstract socket --------------------------------------------------------
run "@cairn-agent-test-$$" "$T/n3.log" 2
check "abstract socket: exit 0 ($RC)" [ "$RC" = 0 ]
for m in READY=1 WATCHDOG=1 STOPPING=1; do
    check "abstract socket: $m" grep -q " $m\$" "$T/n3.log"
done

if grep -qE "AddressSanitizer|LeakSanitizer|runtime error:" "$T/agent.log"; then
    fail "sanitizer report in the agent log"
    grep -E -A12 "AddressSanitizer|LeakSanitizer|runtime error:" "$T/agent.log" | head -30 >&2
fi
echo "$checks check(s), $fails failure(s)"
[ "$fails" -eq 0 ]
