#!/usr/bin/env bash
# cairnctl validate / render / diff on a real git repository: ssh-keygen
# keys, `git commit -S` with gpg.format=ssh, models signed and secrets
# sealed with cairnctl itself.
set -euo pipefail
CTL=${CAIRN_BUILD:?}/controller/cairnctl
PY=/usr/bin/python3
T=$(mktemp -d "${TMPDIR:-/tmp}/cairn-render-XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T"
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_eq() { [ "$1" = "$2" ] || fail "$3: got [$1] want [$2]"; }
expect_has() { grep -qF -- "$2" <<<"$1" || fail "$3: [$1] lacks [$2]"; }
keyid() { # cairn key id of an OpenSSH public key file
    $PY -c 'import sys,base64,hashlib,struct
b=base64.b64decode(open(sys.argv[1]).read().split()[1])
n=struct.unpack(">I",b[:4])[0]; k=b[4+n+4:]
print(hashlib.sha256(k).hexdigest()[:16])' "$1"
}

ssh-keygen -q -t ed25519 -N '' -C alice -f alice
ssh-keygen -q -t ed25519 -N '' -C mallory -f mallory
echo "alice@example.com namespaces=\"git\" $(cat alice.pub)" > allowed_signers
$CTL keygen --out publisher >/dev/null
$CTL keygen --out st-olaf >/dev/null
$CTL keygen --out mercy >/dev/null

git init -q -b main repo
cd repo
git config user.name Alice
git config user.email alice@example.com
git config gpg.format ssh
git config user.signingkey "$T/alice"
mkdir -p groups sites/west workloads/golden models/pneumonia secrets/st-olaf secrets/mercy

cat > fleet.yaml <<YAML
kind: Fleet
name: xraylab
values:
  workloads: [risk-assessment]
  models: {pneumonia: v1}
  xraylab: {inbox: /srv/xray/inbox}
policy:
  trustedPublishers:
    - $(cat "$T/publisher.pub")
  desiredStateTTLHours: 24
YAML
cat > groups/east.yaml <<YAML
kind: Group
name: east
selector:
  matchLabels: {region: east}
values:
  xraylab: {inbox: "/data/{{ site.name }}/inbox"}
YAML
cat > sites/st-olaf.yaml <<YAML
kind: Site
name: st-olaf
labels: {region: east}
publicKey: $(cat "$T/st-olaf.pub")
YAML
cat > sites/west/mercy.yaml <<YAML
kind: Site
name: mercy
labels: {region: west}
publicKey: $(cat "$T/mercy.pub")
YAML
cat > workloads/risk-assessment.yaml <<'YAML'
kind: Workload
name: risk-assessment
model: {name: pneumonia, version: "{{ values.models.pneumonia }}"}
exec:
  command: [/usr/local/bin/xray-worker, --site, "{{ site.name }}"]
  env: {XRAY_INBOX: "{{ values.xraylab.inbox }}"}
health:
  http: http://127.0.0.1:8081/healthz
  timeoutSeconds: 30
restart:
  policy: always
  backoffMaxSeconds: 60
files:
  - {path: golden.png, from: workloads/golden/pneumonia.png}
secrets: [webhook-token]
YAML
printf '\x89PNG\r\n' > workloads/golden/pneumonia.png
for v in v1 v2; do
    head -c 4096 /dev/urandom > "$T/model-$v.bin"
    $CTL sign-model --key "$T/publisher.key" --name pneumonia --version $v \
        --url "https://models.example/pneumonia/$v.bin" "$T/model-$v.bin" \
        > models/pneumonia/$v.yaml 2>/dev/null
    mv "$T/model-$v.bin.att.json" models/pneumonia/$v.att.json
done
echo "olaf-token" > "$T/tok"
$CTL seal --to "$T/st-olaf.pub" --out secrets/st-olaf/webhook-token.sealed "$T/tok" >/dev/null
$CTL seal --to "$T/mercy.pub" --out secrets/mercy/webhook-token.sealed "$T/tok" >/dev/null
git add -A
git commit -q -S -m "fleet: first"
C1=$(git rev-parse HEAD)
ALICE=$(keyid "$T/alice.pub")

# ---- validate: accepted, signer reported; and under require ----
out=$($CTL validate --repo .)
expect_has "$out" "ok: commit $C1: 2 site(s), 1 group(s), 1 workload(s), 2 model(s); signed by $ALICE" "validate"
out=$($CTL validate --repo . --allowed-signers "$T/allowed_signers")
expect_has "$out" "signed by $ALICE (alice@example.com)" "validate require"

# ---- render: deterministic payload, generation 0, commit time ----
$CTL render --repo . --site st-olaf > "$T/a.json"
$CTL render --repo . --site st-olaf > "$T/c.json"
cmp -s "$T/a.json" "$T/c.json" || fail "render is not byte-identical"
$PY - "$T/a.json" "$C1" "$(git log -1 --format=%ct)" <<'PY'
import sys, json, datetime, base64, hashlib
raw = open(sys.argv[1]).read()
p = json.loads(raw)
# canonical: compact, sorted keys
assert raw.rstrip("\n") == json.dumps(p, sort_keys=True, separators=(",", ":"), ensure_ascii=False), "not canonical"
assert p["kind"] == "cairn.desired/v1" and p["site"] == "st-olaf" and p["generation"] == 0
t = datetime.datetime.fromtimestamp(int(sys.argv[3]), datetime.timezone.utc)
assert p["issued"] == t.strftime("%Y-%m-%dT%H:%M:%SZ"), p["issued"]
assert p["expires"] == (t + datetime.timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M:%SZ")
assert p["source"]["commit"] == sys.argv[2] and p["source"]["repo"] == "."
w = p["workloads"][0]
assert w["model"]["version"] == "v1" and w["model"]["attestation"]["payloadType"] == "application/vnd.in-toto+json"
assert w["exec"]["env"]["XRAY_INBOX"] == "/data/st-olaf/inbox", w["exec"]["env"]
assert w["exec"]["command"] == ["/usr/local/bin/xray-worker", "--site", "st-olaf"]
f = w["files"][0]
assert base64.b64decode(f["content"]) == b"\x89PNG\r\n" and f["encoding"] == "base64"
assert f["sha256"] == hashlib.sha256(b"\x89PNG\r\n").hexdigest() and f["mode"] == "0644"
assert w["secrets"][0]["name"] == "webhook-token" and len(base64.b64decode(w["secrets"][0]["sealed"])) == 48 + 11
PY
# the sealed secret opens with the site's key only
$PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["workloads"][0]["secrets"][0]["sealed"])' "$T/a.json" > "$T/s.sealed"
[ "$($CTL unseal --key "$T/st-olaf.key" "$T/s.sealed")" = "olaf-token" ] || fail "unseal own"
if $CTL unseal --key "$T/mercy.key" "$T/s.sealed" >/dev/null 2>&1; then fail "other site opened it"; fi

# ---- explain ----
out=$($CTL render --repo . --site st-olaf --explain)
expect_has "$out" "# st-olaf: merged values (fleet, group east, site)" "explain header"
expect_has "$out" '/values/xraylab/inbox = "/data/st-olaf/inbox"  groups/east.yaml:6:20 (group east); {{ site.name }} from sites/st-olaf.yaml:2:7 (site)' "explain values"
expect_has "$out" '/workloads/0/exec/env/XRAY_INBOX = "/data/st-olaf/inbox"  workloads/risk-assessment.yaml:6:21 (workload); {{ values.xraylab.inbox }} from groups/east.yaml:6:20 (group east)' "explain env"
expect_has "$out" '/workloads/0/model/version = "v1"  workloads/risk-assessment.yaml:3:35 (workload); {{ values.models.pneumonia }} from fleet.yaml:5:23 (fleet)' "explain model version"
expect_has "$out" '/workloads/0/model/size = 4096  models/pneumonia/v1.yaml:' "explain model size"
expect_has "$out" '/workloads/0/restart/policy = "always"  workloads/risk-assessment.yaml:11:11 (workload)' "explain restart"
expect_has "$out" '/workloads/0/secrets/0/sealed = ' "explain secret"
expect_has "$out" 'secrets/st-olaf/webhook-token.sealed (secret)' "explain secret origin"
expect_has "$out" '/workloads/0/files/0/mode = "0644"  (default)' "explain default"

# ---- render --all ----
out=$($CTL render --repo . --all --out "$T/out")
expect_has "$out" "2 site(s) rendered from commit $C1" "render --all"
cmp -s "$T/out/st-olaf.json" "$T/a.json" || fail "render --all differs from --site"
[ -f "$T/out/mercy.json" ] || fail "mercy.json missing"

# ---- diff: the east group moves to v2 ----
cat >> groups/east.yaml <<'YAML'
  models: {pneumonia: v2}
YAML
git commit -q -S -am "east to v2"
C2=$(git rev-parse HEAD)
out=$($CTL diff --repo . "$C1" HEAD)
expect_has "$out" "site st-olaf: changed" "diff site"
expect_has "$out" '  /workloads/0/model/version: "v1" -> "v2"' "diff version"
expect_has "$out" "  /workloads/0/model/sha256: " "diff sha"
expect_has "$out" "1 site(s) changed, 0 added, 0 removed" "diff summary"
grep -q "site mercy" <<<"$out" && fail "mercy did not change"
git rm -q sites/west/mercy.yaml
cat > sites/new.yaml <<YAML
kind: Site
name: new
publicKey: $(cat "$T/mercy.pub")
values: {workloads: []}
YAML
git add -A
git commit -q -S -m "new site, mercy gone"
out=$($CTL diff --repo . "$C2" HEAD)
expect_has "$out" "site new: added" "diff added"
expect_has "$out" "site mercy: removed" "diff removed"
expect_has "$out" "0 site(s) changed, 1 added, 1 removed" "diff summary 2"

# ---- signature policy require ----
git commit -q --allow-empty --no-gpg-sign -m unsigned
set +e
err=$($CTL validate --repo . --allowed-signers "$T/allowed_signers" 2>&1 >/dev/null); rc=$?
set -e
expect_eq "$rc" 1 "unsigned exit"
expect_has "$err" "commit $(git rev-parse HEAD): refused by signature policy require: unsigned" "unsigned"
# off: rendered anyway, reported as unsigned
out=$($CTL validate --repo .)
expect_has "$out" "not signed by a verifiable key" "off unsigned"

git -c user.signingkey="$T/mallory" commit -q --allow-empty -S -m "mallory"
set +e
err=$($CTL validate --repo . --allowed-signers "$T/allowed_signers" 2>&1 >/dev/null); rc=$?
set -e
expect_eq "$rc" 1 "unknown key exit"
expect_has "$err" "refused by signature policy require: unknown-key" "unknown key"
out=$($CTL validate --repo .)
expect_has "$out" "signed by $(keyid "$T/mallory.pub")" "off records the signer"

# a signed commit whose content was altered after signing
git commit -q --allow-empty -S -m "genuine message"
forged=$(git cat-file commit HEAD | sed 's/genuine message/forged message/' | git hash-object -t commit -w --stdin)
set +e
err=$($CTL validate --repo . --rev "$forged" --allowed-signers "$T/allowed_signers" 2>&1 >/dev/null); rc=$?
set -e
expect_eq "$rc" 1 "bad signature exit"
expect_has "$err" "refused by signature policy require: bad" "bad signature"
out=$($CTL validate --repo . --rev "$forged")
expect_has "$out" "not signed by a verifiable key" "off: a bad signature names nobody"

# ---- every error of a bad commit, located ----
cat > workloads/risk-assessment.yaml <<'YAML'
kind: Workload
name: risk-assessment
model: {name: pneumonia, version: "{{ values.models.pneumonia }}"}
exec:
  command: [/usr/local/bin/xray-worker]
  env: {XRAY_INBOX: "{{ values.xraylab.missing }}"}
health:
  http: http://127.0.0.1:8081/healthz
  timeoutSeconds: 30
restart:
  policy: always
  backoffMaxSeconds: 60
  bogus: 1
YAML
sed -i 's/name: east/name: eats/' groups/east.yaml
git commit -q -S -am "broken"
set +e
err=$($CTL validate --repo . 2>&1 >/dev/null); rc=$?
set -e
expect_eq "$rc" 1 "broken exit"
expect_eq "$err" 'groups/east.yaml:2:7: /name: name "eats" does not match the file name "east"
workloads/risk-assessment.yaml:13:10: /restart: unknown property "bogus" (additionalProperties is false)
cairnctl validate: commit '"$(git rev-parse HEAD)"': 2 error(s)' "broken errors"
sed -i 's/name: eats/name: east/' groups/east.yaml
sed -i '/bogus/d' workloads/risk-assessment.yaml
git commit -q -S -am "half fixed"
set +e
err=$($CTL validate --repo . 2>&1 >/dev/null); rc=$?
set -e
expect_eq "$rc" 1 "template exit"
expect_has "$err" 'workloads/risk-assessment.yaml:6:21: /exec/env/XRAY_INBOX: unknown name "values.xraylab.missing" in {{ values.xraylab.missing }} (values.xraylab has no "missing") (site st-olaf)' "template error"
set +e
err=$($CTL render --repo . --site st-olaf 2>&1 >/dev/null); rc=$?
set -e
expect_eq "$rc" 1 "render of a broken commit"
$CTL render --repo . --rev "$C1" --site nowhere >/dev/null 2>"$T/err" && fail "unknown site rendered"
expect_has "$(cat "$T/err")" "has no site nowhere" "unknown site"

# ---- usage ----
set +e
$CTL render --repo . >/dev/null 2>&1; rc=$?
set -e
expect_eq "$rc" 2 "usage exit"
$CTL validate --help | grep -q "usage: cairnctl validate" || fail "validate --help"
$CTL diff --help | grep -q "usage: cairnctl diff" || fail "diff --help"
$CTL render --help | grep -q "usage: cairnctl render" || fail "render --help"
echo "render_cli: ok"
