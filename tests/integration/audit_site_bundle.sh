#!/usr/bin/env bash
# cairnctl audit site, export and verify against the real cairn-controller:
# a site goes through an update to pneumonia v2 whose health gate fails and
# is rolled back to v1. The site's reports are signed with the site key by
# tests/integration/audit/fakeagent.py (PyNaCl), so that the reports are
# exactly known and can be altered one field at a time (audit_agent.sh runs
# the real agent). Then: the timeline, an evidence bundle that verifies
# offline, and the same bundle with one record altered at a time, each
# caught by name.
set -euo pipefail
: "${CAIRN_SRC:?}"
source "$CAIRN_SRC/tests/integration/audit/lib.bash"
source "$CAIRN_SRC/tests/integration/controller_lib.bash"
T=$(mktemp -d "${TMPDIR:-/tmp}/cairn-audit-site-XXXXXX")
trap 'stop_controller; rm -rf "$T"' EXIT
AGENT="$PY $AUDIT_FIXTURES/fakeagent.py"
TOKEN=$T/operator.token
head -c 24 /dev/urandom | base64 >"$TOKEN"

# /v1/commits needs the operator token here.
wait_commits() {
    local n
    for _ in $(seq 1 300); do
        n=$(curl -s -H "Authorization: Bearer $(cat "$TOKEN")" \
            "http://127.0.0.1:$PORT/v1/commits" |
            $PY -c 'import json,sys; print(len(json.load(sys.stdin)["commits"]))' 2>/dev/null)
        [ "${n:-0}" -ge "$2" ] && return 0
        sleep 0.05
    done
    echo "controller processed fewer than $2 commits" >&2
    return 1
}

# ---- a fleet, a controller, a site's life ----------------------------------
DIR=$T
mkdir -p "$T/keys" "$T/repo/sites" "$T/repo/workloads" "$T/repo/models/pneumonia"
cp "$AUDIT_FIXTURES"/keys/* "$T/keys/"
chmod 600 "$T"/keys/*
echo "engineer@example.com namespaces=\"git\" $(cat "$T/keys/engineer.pub")" >"$T/allowed_signers"
git -C "$T/repo" init -q -b main
fleet_file "$T" v1
workload_file "$T" THRESHOLD
site_file "$T" st-olaf east
site_file "$T" st-paul west
sign_model "$T" publisher v1
sign_model "$T" publisher v2
g add -A
g commit -q -S -m "fleet: pneumonia v1"
C1=$(git -C "$T/repo" rev-parse HEAD)

start_controller "$T" --set allowedSigners="$T/allowed_signers" \
    --set commitSignatures=require --set operatorTokenFile="$TOKEN" \
    --set pollIntervalSeconds=1
URL=http://127.0.0.1:$PORT
keyid() { # cairn key id of an OpenSSH public key file
    $PY -c 'import sys,base64,hashlib,struct
b=base64.b64decode(open(sys.argv[1]).read().split()[1]); n=struct.unpack(">I",b[:4])[0]
print(hashlib.sha256(b[4+n+4:]).hexdigest()[:16])' "$1"
}
ENGINEER=$(keyid "$T/keys/engineer.pub")

sha_of() { $PY -c 'import json,sys; print(json.loads(sys.argv[1])["workloads"][0]["model"]["sha256"])' "$1"; }
wl() { # wl STATE HEALTH VERSION SHA
    printf '[{"name":"risk","state":"%s","health":"%s","model":{"name":"pneumonia","version":"%s","sha256":"%s"}}]' "$@"
}
rep() { # rep SEQ TIME APPLIED SERVED EVENT WORKLOADS
    $AGENT report "$PORT" st-olaf "$T/keys/st-olaf" \
        "{\"seq\":$1,\"time\":\"$2\",\"applied\":$3,\"served\":$4,\"event\":$5,\"workloads\":$6}"
}

SHA1=$(sha_of "$($AGENT desired "$PORT" st-olaf "$T/keys/st-olaf" 1)")
rep 1 2026-02-01T10:00:00Z 1 1 '{"type":"Applied","generation":1}' "$(wl running unknown v1 "$SHA1")"
rep 2 2026-02-01T10:01:00Z 1 1 '{"type":"HealthGatePassed","generation":1}' \
    "$(wl running healthy v1 "$SHA1")"

fleet_file "$T" v2
g add -A
g commit -q -S -m "fleet: pneumonia v2"
C2=$(git -C "$T/repo" rev-parse HEAD)
wait_commits "$T" 2
SHA2=$(sha_of "$($AGENT desired "$PORT" st-olaf "$T/keys/st-olaf" 2)")
rep 3 2026-02-02T10:00:00Z 2 2 '{"type":"Applied","generation":2}' "$(wl starting unknown v2 "$SHA2")"
rep 4 2026-02-02T10:01:00Z 1 2 \
    '{"type":"RolledBack","generation":2,"reason":"health gate failed: /healthz answered 500 for 60 s"}' \
    "$(wl running healthy v1 "$SHA1")"
rep 5 2026-02-02T10:02:00Z 1 2 null "$(wl running healthy v1 "$SHA1")"

# ---- the timeline ----------------------------------------------------------
site() { "$CTL" audit site st-olaf --controller "$URL" --token-file "$TOKEN" "$@"; }
rc=0
site --controller-key "$T/state/controller.pub" >"$T/site.out" 2>"$T/site.err" || rc=$?
check "audit site exits 0 ($rc): $(cat "$T/site.err")" [ "$rc" = 0 ]
has() { grep -qF -- "$2" "$1" || fail "$1 lacks [$2]: $(cat "$1")"; }
has "$T/site.out" "site key $(keyid "$T/keys/st-olaf.pub"): sites/st-olaf.yaml at commit $C1"
has "$T/site.out" "controller's records, not checked against Git"
has "$T/site.out" "reason: health gate failed: /healthz answered 500 for 60 s"
site --json --controller-key "$T/state/controller.pub" >"$T/site.json"
$PY - "$T/site.json" "$C1" "$C2" "$ENGINEER" "$SHA1" "$SHA2" <<'PY' || fail "audit site --json"
import json, sys
doc = json.load(open(sys.argv[1]))
c1, c2, eng, sha1, sha2 = sys.argv[2:7]
gens = doc["generations"]
assert [(g["generation"], g["commit"], g["signer"], g["controllerSignature"]) for g in gens] == \
    [(1, c1, eng, "verified"), (2, c2, eng, "verified")], gens
assert [m["sha256"] for m in gens[1]["models"]] == [sha2]
reps = doc["reports"]
assert [r["seq"] for r in reps] == [1, 2, 3, 4, 5]
assert all(r["signature"] == "verified" for r in reps), reps
assert [r["event"]["type"] if r["event"] else None for r in reps] == \
    ["Applied", "HealthGatePassed", "Applied", "RolledBack", None]
iv = [(i["version"], i["sha256"], i["from"], i["fromSeq"], i["to"], i["toSeq"], i["open"])
      for i in doc["intervals"]]
assert iv == [("v1", sha1, "2026-02-01T10:00:00Z", 1, "2026-02-02T10:00:00Z", 3, False),
              ("v2", sha2, "2026-02-02T10:00:00Z", 3, "2026-02-02T10:01:00Z", 4, False),
              ("v1", sha1, "2026-02-02T10:01:00Z", 4, "2026-02-02T10:02:00Z", 5, True)], iv
assert doc["problems"] == 0 and doc["siteKeySource"] == "controller"
PY
site --repo "$T/repo" >"$T/site-repo.out" || fail "audit site --repo"
has "$T/site-repo.out" "sites/st-olaf.yaml at commit $C1 (from the repository)"
has "$T/site-repo.out" "not checked"
rc=0
"$CTL" audit site st-olaf --controller "$URL" >/dev/null 2>"$T/err" || rc=$?
check "no operator token: exit 2 ($rc)" [ "$rc" = 2 ]
has "$T/err" "401"
rc=0
"$CTL" audit site nowhere --controller "$URL" --token-file "$TOKEN" >/dev/null 2>"$T/err" || rc=$?
check "unknown site: exit 2 ($rc)" [ "$rc" = 2 ]
has "$T/err" "404 unknown site"

# ---- the evidence bundle ------------------------------------------------------
"$CTL" audit export --site st-olaf --controller "$URL" --token-file "$TOKEN" \
    --repo "$T/repo" --out "$T/bundle.json" >"$T/export.out" || fail "export"
has "$T/export.out" "site st-olaf, 2 desired state(s), 5 report(s), 2 commit(s), 2 attestation(s)"
rc=0
"$CTL" audit export --site st-olaf --controller "$URL" --token-file "$TOKEN" \
    --repo "$T/repo" --out "$T/bundle.json" >/dev/null 2>&1 || rc=$?
check "export never replaces a bundle without --force ($rc)" [ "$rc" = 2 ]
# commits are byte-exact `git cat-file commit` output and hash to their sha
$PY - "$T/bundle.json" "$T/repo" <<'PY' || fail "bundle commit objects"
import base64, hashlib, json, subprocess, sys
b = json.load(open(sys.argv[1]))
for c in b["commits"]:
    raw = base64.b64decode(c["object"])
    assert raw == subprocess.check_output(["git", "-C", sys.argv[2], "cat-file", "commit", c["sha"]])
    assert hashlib.sha1(b"commit %d\0" % len(raw) + raw).hexdigest() == c["sha"]
assert len(b["reports"]) == 5 and len(b["desired"]) == 2 and len(b["receipts"]) == 2
PY
verify() { "$CTL" audit verify "$1" --allowed-signers "$T/allowed_signers" \
    --controller-key "$T/state/controller.pub" "${@:2}"; }
stop_controller # verify is offline: no controller from here on
rc=0
verify "$T/bundle.json" >"$T/verify.out" || rc=$?
check "the bundle verifies ($rc): $(cat "$T/verify.out")" [ "$rc" = 0 ]
has "$T/verify.out" "verified: every record checks out"
has "$T/verify.out" "approved: generation 2, commit $C2 signed by engineer@example.com"
has "$T/verify.out" "risk ran pneumonia@v1 sha256 $SHA1"
verify "$T/bundle.json" --json | $PY -c 'import json,sys; d=json.load(sys.stdin)
assert d["ok"] and not d["problems"] and len(d["intervals"]) == 3, d' ||
    fail "verify --json"

# ---- each altered record is caught, by name -----------------------------------
expect_problem() { # expect_problem CASE RECORD TEXT
    $PY "$AUDIT_FIXTURES/tamper.py" "$T/bundle.json" "$T/t-$1.json" "$1"
    rc=0
    verify "$T/t-$1.json" >"$T/t-$1.out" || rc=$?
    check "$1: exit 1 ($rc)" [ "$rc" = 1 ]
    grep -qF -- "PROBLEM $2: $3" "$T/t-$1.out" ||
        fail "$1: no [PROBLEM $2: $3] in: $(cat "$T/t-$1.out")"
}
expect_problem report "reports[2] (seq 3)" "site signature: bad signature by"
expect_problem desired "desired[1] (generation 2)" "controller signature: bad signature by"
expect_problem commit "commits[0] (${C1:0:12})" "the commit object does not hash to $C1"
expect_problem commit_rehashed "desired[0] (generation 1)" "rendered from commit $C1, which is not in the bundle"
expect_problem drop_report "reports" "seq 4, which the controller's receipts list, is missing"
expect_problem receipt "receipts[1]" "controller signature: bad signature by"
$PY "$AUDIT_FIXTURES/tamper.py" "$T/bundle.json" "$T/t-site.json" site_key
rc=0
verify "$T/t-site.json" >"$T/t-site.out" || rc=$?
check "site_key: exit 1 ($rc)" [ "$rc" = 1 ]
grep -qE '^PROBLEM objects\[[0-9]+\] \([0-9a-f]{12}\): the blob object does not hash to' \
    "$T/t-site.out" || fail "site_key: $(cat "$T/t-site.out")"
rc=0
"$CTL" audit verify "$T/bundle.json" --allowed-signers "$T/allowed_signers" \
    --controller-key "$T/keys/st-paul.pub" >"$T/t-key.out" || rc=$?
check "another controller key: exit 1 ($rc)" [ "$rc" = 1 ]
grep -qF "PROBLEM desired[0] (generation 1): controller signature: no signature by a trusted key" \
    "$T/t-key.out" || fail "wrong controller key: $(cat "$T/t-key.out")"
: >"$T/nobody"
rc=0
"$CTL" audit verify "$T/bundle.json" --allowed-signers "$T/nobody" \
    --controller-key "$T/state/controller.pub" >"$T/t-signers.out" || rc=$?
check "no allowed signer: exit 1 ($rc)" [ "$rc" = 1 ]
grep -qF "PROBLEM commits[0] (${C1:0:12}): commit signature unknown-key" "$T/t-signers.out" ||
    fail "no allowed signer: $(cat "$T/t-signers.out")"
echo '{"kind":"something else"}' >"$T/not-a-bundle.json"
rc=0
verify "$T/not-a-bundle.json" >/dev/null 2>&1 || rc=$?
check "not a bundle: exit 2 ($rc)" [ "$rc" = 2 ]

# ---- a report forged into the controller's database ------------------------------
# Someone with the database adds a report the site never signed: the
# timeline flags it, and a bundle holding it does not verify.
start_controller "$T" --set allowedSigners="$T/allowed_signers" \
    --set commitSignatures=require --set operatorTokenFile="$TOKEN"
URL=http://127.0.0.1:$PORT
$PY - "$T/state/records.db" "$T/keys/intruder" "$SHA2" <<'PY'
import json, sqlite3, sys, time
from cairn_client import REPORT_TYPE, canonical, dsse, load_key
p = {"kind": "cairn.report/v1", "site": "st-olaf", "seq": 6, "time": "2026-02-03T10:00:00Z",
     "agentVersion": "forged", "generation": {"applied": 2, "served": 2},
     "workloads": [{"name": "risk", "state": "running", "health": "healthy",
                    "model": {"name": "pneumonia", "version": "v2", "sha256": sys.argv[3]}}]}
db = sqlite3.connect(sys.argv[1], timeout=10)
db.execute("INSERT INTO reports(site, seq, received, payload_sha256, envelope) VALUES(?,?,?,?,?)",
           ("st-olaf", 6, int(time.time()), "0" * 64,
            dsse(load_key(sys.argv[2]), REPORT_TYPE, canonical(p)).decode()))
db.commit()
PY
rc=0
site >"$T/forged.out" || rc=$?
check "a forged report: audit site exits 1 ($rc)" [ "$rc" = 1 ]
grep -qE '^  6 .* bad ' "$T/forged.out" || fail "forged report not flagged: $(cat "$T/forged.out")"
"$CTL" audit export --site st-olaf --controller "$URL" --token-file "$TOKEN" \
    --repo "$T/repo" --out "$T/forged.json" >/dev/null || fail "export with a forged report"
rc=0
verify "$T/forged.json" >"$T/forged-verify.out" || rc=$?
check "a forged report: verify exits 1 ($rc)" [ "$rc" = 1 ]
grep -qF "PROBLEM reports[5] (seq 6): site signature: no signature by a trusted key" \
    "$T/forged-verify.out" || fail "forged report in a bundle: $(cat "$T/forged-verify.out")"
finish
