#!/usr/bin/env bash
# cairn-controller uploads stream: a 20 MiB upload goes to disk in pieces
# (the daemon's resident memory does not grow by the body's size); a bad
# token, another site's token or an unknown site is refused before any
# body byte is accepted (curl with Expect: 100-continue sends none; a raw
# client that sends only the head gets its answer); a client that leaves
# mid-upload, a body over the cap and a wrong digest leave no temp file;
# temp files left by a crash are removed at start; the upload slots are
# taken at the head and given back.
set -euo pipefail
source "$(dirname "$0")/controller_lib.bash"

T=$(mktemp -d "${TMPDIR:-/tmp}/cairn-uploads.XXXXXX")
trap 'stop_controller; rm -rf "$T"' EXIT
make_fleet "$T" site-a site-b
mkdir -p "$T/state/uploads/.tmp"
echo "left by a crash" >"$T/state/uploads/.tmp/site-a-STALE1"
start_controller "$T" --set uploadMaxBytes=25165824

T=$T PORT=$PORT CTRL_PID=$CTRL_PID $PY - <<'PYEOF'
import hashlib, os, socket, subprocess, threading, time
from cairn_client import *

T, PORT, PID = os.environ["T"], int(os.environ["PORT"]), int(os.environ["CTRL_PID"])
c = Client(PORT)
ck = Checker()
tok_a = c.token(load_key(T + "/keys/site-a.key"), "site-a")
tok_b = c.token(load_key(T + "/keys/site-b.key"), "site-b")
TMP = T + "/state/uploads/.tmp"
MiB = 1 << 20

def temps():
    return sorted(os.listdir(TMP)) if os.path.isdir(TMP) else []

def wait_no_temps(secs=10):
    for _ in range(secs * 20):
        if not temps():
            return True
        time.sleep(0.05)
    return False

def status_kb(key):
    for line in open("/proc/%d/status" % PID):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)

def url(name, sha, site="site-a"):
    return "http://127.0.0.1:%d/v1/sites/%s/uploads?name=%s&sha256=%s" % (PORT, site, name, sha)

def curl(target, path, token, *extra):
    """(http status, body bytes curl sent, response body) of a POST of file path."""
    out = subprocess.run(
        ["curl", "-sS", "-o", T + "/curl.out", "-w", "%{http_code} %{size_upload}",
         "--expect100-timeout", "30", "-H", "Authorization: Bearer " + token,
         "-H", "Content-Type: application/octet-stream", "--data-binary", "@" + path]
        + list(extra) + [target], capture_output=True, text=True, timeout=120)
    code, sent = out.stdout.split()
    return int(code), int(float(sent)), open(T + "/curl.out", "rb").read()

def raw_head(path, token, length, extra=""):
    s = socket.create_connection(("127.0.0.1", PORT), timeout=10)
    s.sendall(("POST %s HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n"
               "Content-Length: %d\r\n%s\r\n" % (path, token, length, extra)).encode())
    return s

def read_status(s):
    data = b""
    while b"\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ")[1]) if data.startswith(b"HTTP/1.1 ") else 0

ck.eq(temps(), [], "a temp file left by a crash is removed at start")

# --- warm up, then 20 MiB: stored, and streamed, not held ---------------------------
small = os.urandom(MiB)
open(T + "/small.bin", "wb").write(small)
st, sent, _ = curl(url("warm.bin", hashlib.sha256(small).hexdigest()), T + "/small.bin", tok_a)
ck.eq(st, 201, "1 MiB upload stored")

big = os.urandom(20 * MiB)
big_sha = hashlib.sha256(big).hexdigest()
open(T + "/big.bin", "wb").write(big)
rss0 = status_kb("VmRSS")
try:  # reset the peak (VmHWM), where the kernel allows it
    open("/proc/%d/clear_refs" % PID, "w").write("5")
    have_hwm = True
except OSError:
    have_hwm = False
peak, done = [rss0], []
def sample():
    while not done:
        peak[0] = max(peak[0], status_kb("VmRSS"))
        time.sleep(0.005)
th = threading.Thread(target=sample)
th.start()
st, sent, body = curl(url("img_big.bin", big_sha), T + "/big.bin", tok_a,
                      "-H", "X-Cairn-Model-Version: v2")
done.append(1)
th.join()
if have_hwm:
    peak[0] = max(peak[0], status_kb("VmHWM"))
ck.eq(st, 201, "20 MiB upload stored (201)", body)
ck.eq(sent, 20 * MiB, "curl sent the whole body")
stored = T + "/state/uploads/site-a/v2/img_big.bin"
ck(os.path.exists(stored) and hashlib.sha256(open(stored, "rb").read()).hexdigest() == big_sha,
   "the stored file is the upload")
grew = (peak[0] - rss0) // 1024
print("RSS before %d MiB, peak during the 20 MiB upload %d MiB (+%d MiB)"
      % (rss0 // 1024, peak[0] // 1024, grew))
ck(grew < 10, "RSS grew by %d MiB during a 20 MiB upload (streamed: far less)" % grew)
st, sent, body = curl(url("img_big.bin", big_sha), T + "/big.bin", tok_a,
                      "-H", "X-Cairn-Model-Version: v2")
ck(st == 200 and b'"stored":false' in body, "the same upload again: 200", st, body)

# chunked: streamed the same way
st, sent, body = curl(url("chunked.bin", hashlib.sha256(small).hexdigest()),
                      T + "/small.bin", tok_a, "-H", "Transfer-Encoding: chunked")
ck(st == 200, "a chunked upload of stored content: 200 (idempotent by hash)", st, body)
mid = os.urandom(3 * MiB + 12345)
open(T + "/mid.bin", "wb").write(mid)
st, sent, body = curl(url("mid.bin", hashlib.sha256(mid).hexdigest()), T + "/mid.bin", tok_a,
                      "-H", "Transfer-Encoding: chunked")
ck.eq(st, 201, "a chunked 3 MiB upload: 201", body)
ck(open(T + "/state/uploads/site-a/unversioned/mid.bin", "rb").read() == mid,
   "chunked upload bytes on disk")

# --- refused before the body ------------------------------------------------------------
st, sent, body = curl(url("x.bin", big_sha), T + "/big.bin", "v1.site-a.forged",
                      "-H", "Expect: 100-continue")
ck(st == 401 and sent == 0, "bad token with Expect: 401, no body byte sent", st, sent)
st, sent, body = curl(url("x.bin", big_sha), T + "/big.bin", tok_b, "-H", "Expect: 100-continue")
ck(st == 403 and sent == 0, "site-b's token on site-a: 403, no body byte sent", st, sent)
st, sent, body = curl(url("x.bin", "nothex"), T + "/big.bin", tok_a, "-H", "Expect: 100-continue")
ck(st == 400 and sent == 0, "bad sha256 query: 400, no body byte sent", st, sent)
s = raw_head("/v1/sites/site-a/uploads?name=x.bin&sha256=" + big_sha, "bad", 20 * MiB)
ck.eq(read_status(s), 401, "bad token, head only (no Expect): answered without the body")
s.close()
# other authenticated POST routes check their head too (bodies within
# their caps: 256 KiB for reports, 4 KiB for sessions)
open(T + "/3k.bin", "wb").write(os.urandom(3000))
st, sent, body = curl("http://127.0.0.1:%d/v1/sites/site-a/reports" % PORT, T + "/3k.bin",
                      "bad", "-H", "Expect: 100-continue")
ck(st == 401 and sent == 0, "report with a bad token: 401, no body byte sent", st, sent)
st, sent, body = curl("http://127.0.0.1:%d/v1/sites/nope/session" % PORT, T + "/3k.bin",
                      "x", "-H", "Expect: 100-continue")
ck(st == 404 and sent == 0, "session for an unknown site: 404, no body byte sent", st, sent)
st, sent, body = curl("http://127.0.0.1:%d/v1/hooks/git" % PORT, T + "/small.bin",
                      "x", "-H", "Expect: 100-continue")
ck(st == 403 and sent == 0, "git hook while disabled: 403, no body byte sent", st, sent)

# --- nothing left behind ------------------------------------------------------------------
s = raw_head("/v1/sites/site-a/uploads?name=gone.bin&sha256=" + big_sha, tok_a, 20 * MiB)
s.sendall(big[:6 * MiB])
seen = []
for _ in range(200):
    seen = temps()
    if seen:
        break
    time.sleep(0.05)
ck(len(seen) == 1 and seen[0].startswith("site-a-"), "a temp file while the body streams", seen)
s.close()
ck(wait_no_temps(), "client gone mid-upload: temp file removed", temps())
ck(not os.path.exists(T + "/state/uploads/site-a/unversioned/gone.bin"), "nothing stored")

bad = os.urandom(3 * MiB)
open(T + "/bad.bin", "wb").write(bad)
st, sent, body = curl(url("bad.bin", "0" * 64), T + "/bad.bin", tok_a)
ck(st == 400 and b"digest mismatch" in body, "digest mismatch: 400", st, body)
ck(wait_no_temps(), "digest mismatch: temp file removed", temps())
ck(not os.path.exists(T + "/state/uploads/site-a/unversioned/bad.bin"), "mismatch not stored")

over = os.urandom(24 * MiB + 1)
open(T + "/over.bin", "wb").write(over)
st, sent, body = curl(url("over.bin", hashlib.sha256(over).hexdigest()), T + "/over.bin", tok_a)
ck.eq(st, 413, "Content-Length over uploadMaxBytes: 413")
st, sent, body = curl(url("over.bin", hashlib.sha256(over).hexdigest()), T + "/over.bin", tok_a,
                      "-H", "Transfer-Encoding: chunked")
ck.eq(st, 413, "chunked body over uploadMaxBytes: 413")
ck(wait_no_temps(), "over the cap: temp file removed", temps())

# a write that fails mid-body is answered at once (the temp directory is
# made unusable: a file in its place)
ck(wait_no_temps(), "no temp file before the write failure")
if os.path.isdir(TMP):
    os.rmdir(TMP)
open(TMP, "w").write("in the way\n")
st, sent, body = curl(url("fail.bin", big_sha), T + "/big.bin", tok_a)
ck(st == 500 and b"cannot create" in body, "write failure mid-body: 500", st, body)
os.unlink(TMP)
ck(not os.path.exists(T + "/state/uploads/site-a/unversioned/fail.bin"), "nothing stored")
st, sent, body = curl(url("again.bin", hashlib.sha256(mid).hexdigest()), T + "/mid.bin", tok_a)
ck(st == 200, "uploads work again once the directory is back", st, body)

# --- slots are taken at the head and given back ---------------------------------------------
held = [raw_head("/v1/sites/site-a/uploads?name=h%d.bin&sha256=%s" % (i, big_sha), tok_a, 1000)
        for i in range(32)]
time.sleep(0.3)
s = raw_head("/v1/sites/site-a/uploads?name=x.bin&sha256=" + big_sha, tok_a, 1000)
ck.eq(read_status(s), 429, "33rd upload in progress: 429 before its body")
s.close()
for h in held:
    h.close()
ok = False
for _ in range(100):
    st, sent, body = curl(url("after.bin", hashlib.sha256(small).hexdigest()), T + "/small.bin", tok_a)
    if st != 429:
        ok = st == 200
        break
    time.sleep(0.05)
ck(ok, "slots given back once the clients left", st, body)
ck(wait_no_temps(), "no temp file left at the end", temps())
st, _, site = c.json("GET", "/v1/sites/site-a")
ck.eq(site["uploads"], {"count": 3, "bytes": 24 * MiB + 12345}, "uploads counted")
ck.done()
PYEOF
[ $? -eq 0 ] || fail "HTTP checks"
stop_controller
finish
