#!/usr/bin/env bash
# 10,000 parked long-poll requests on cairn's httpd (tests/tools/httpd_demo):
# all are held, the whole process stays small (< 150 MB RSS; ASan builds get
# a looser bound, their allocator pads every block), clients that leave are
# dropped, and SIGTERM stops the server cleanly.
set -euo pipefail
: "${CAIRN_BUILD:?}"
demo="$CAIRN_BUILD/tests/httpd_demo"
n=${HTTPD_PARKED_N:-10000}
limit_mb=150
if grep -q '^CAIRN_SANITIZE:STRING=.*address' "$CAIRN_BUILD/CMakeCache.txt" 2>/dev/null; then
    limit_mb=300
fi
[ "$(ulimit -Hn)" -gt $((n + 100)) ] || { echo "SKIP: fd limit below $n"; exit 77; }
ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d /tmp/cairn-test-httpd-parked-XXXXXX)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
"$demo" --max-conns $((n + 100)) >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do grep -q '^port ' "$work/out" 2>/dev/null && break; sleep 0.1; done
port=$(awk '/^port /{print $2}' "$work/out")
[ -n "$port" ] || { echo "FAIL: server did not start"; cat "$work/err"; exit 1; }

/usr/bin/python3 - "$port" "$n" "$pid" "$limit_mb" <<'PY'
import socket, sys, time, resource
port, n, pid, limit_mb = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
# What an agent's long-poll looks like on the wire.
req = ("GET /park HTTP/1.1\r\nHost: controller.example:8440\r\n"
       "User-Agent: cairn-agent/0.1.0\r\nAccept: application/json\r\n"
       "Authorization: Bearer " + "x" * 120 + "\r\n"
       "If-None-Match: \"41.1767000000\"\r\n\r\n").encode()

def metric(name):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    for line in data.decode().splitlines():
        if line.startswith("httpd_demo_" + name + " "):
            return int(line.split()[1])
    raise SystemExit("FAIL: metric %s missing" % name)

def rss_mb():
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0

base = rss_mb()
socks = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(req)
    socks.append(s)
deadline = time.time() + 60
while metric("http_parked_requests") < n:
    if time.time() > deadline:
        raise SystemExit("FAIL: only %d of %d parked" % (metric("http_parked_requests"), n))
    time.sleep(0.2)
rss = rss_mb()
print("parked %d requests: RSS %.1f MB (%.1f MB before), limit %d MB" % (n, rss, base, limit_mb))
if rss > limit_mb:
    raise SystemExit("FAIL: RSS %.1f MB over %d MB" % (rss, limit_mb))
for s in socks:
    s.close()
deadline = time.time() + 60
while metric("http_parked_requests") != 0 or metric("http_connections") > 1:
    if time.time() > deadline:
        raise SystemExit("FAIL: parked requests not dropped after clients left")
    time.sleep(0.2)
print("all %d dropped after their clients left" % n)
PY

kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || { echo "FAIL: server exit code $rc"; cat "$work/err"; exit 1; }
echo "ok"
