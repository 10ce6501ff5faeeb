#!/usr/bin/env bash
# examples/fleet-repo: `materialize all` makes a real, signed repository
# from the template (keys, trained and signed models, sealed secrets, the
# golden study, SSH-signed commits), and `cairnctl validate` accepts it as
# the controller would. Then the checks that make it more than a smoke
# test: the layering renders what the files say, every secret opens only
# with its own site's key, the attestations verify, the golden study scores
# high risk with both models, and a commit that breaks a rule is refused.
set -euo pipefail

: "${CAIRN_BUILD:?set CAIRN_BUILD to the build directory}"
: "${CAIRN_SRC:?set CAIRN_SRC to the source directory}"
CTL=$CAIRN_BUILD/controller/cairnctl
WORKER=$CAIRN_BUILD/examples/xray-worker/xray-worker
MAT=$CAIRN_SRC/examples/fleet-repo/materialize
[ -x "$CTL" ] || { echo "FAIL: $CTL not built" >&2; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/fleet-repo.XXXXXX")
trap 'rm -rf "$T"' EXIT
R=$T/xraylab K=$T/keys
fails=0
fail() {
    echo "FAIL: $*" >&2
    fails=$((fails + 1))
}

# The template carries no secret and no model: those are made at run time.
if grep -rlE 'PRIVATE KEY|AAAAC3Nza' "$CAIRN_SRC/examples/fleet-repo" >/dev/null; then
    fail "the template holds key material"
fi
[ ! -e "$CAIRN_SRC/examples/fleet-repo/models" ] || fail "the template holds models"

"$MAT" all --out "$R" --keys "$K" --bin "$CAIRN_BUILD" --quick 2>"$T/mat.log" ||
    { cat "$T/mat.log" >&2; fail "materialize all"; exit 1; }

# --- the controller's view ---------------------------------------------------
"$CTL" validate --repo "$R" --allowed-signers "$K/allowed_signers" >"$T/out" 2>"$T/err" ||
    fail "validate refused the materialized repository: $(cat "$T/err")"
grep -q "^ok: commit $(git -C "$R" rev-parse HEAD): 3 site(s), 2 group(s), 1 workload(s), 2 model(s); signed by" "$T/out" ||
    fail "validate summary: $(cat "$T/out")"
"$CTL" validate --repo "$R" --rev HEAD~1 --allowed-signers "$K/allowed_signers" >/dev/null 2>&1 ||
    fail "the first commit does not validate"
[ "$(git -C "$R" rev-list --count HEAD)" = 2 ] || fail "want two commits"
git -C "$R" log --format='%G?' | grep -qv '^G$' && fail "a commit is not signed with a good signature"

# --- what the layers render ---------------------------------------------------
render() { "$CTL" render --repo "$R" --site "$1"; }
for s in mercy st-olaf st-marys; do
    render "$s" >"$T/$s.json" || fail "render $s"
done
jq_() { /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
w='d["workloads"][0]'
[ "$(jq_ "$T/st-marys.json" "$w['exec']['env']['XRAY_ANON_BLUR_SIGMA']")" = 8 ] ||
    fail "st-marys (west) should get the west group's blur 8"
[ "$(jq_ "$T/st-olaf.json" "$w['exec']['env']['XRAY_ANON_BLUR_SIGMA']")" = 5 ] ||
    fail "st-olaf (east) should keep the fleet's blur 5"
[ "$(jq_ "$T/mercy.json" "$w['exec']['env']['XRAY_INBOX']")" = /var/lib/xraylab/mercy/pacs-export ] ||
    fail "mercy's own inbox"
[ "$(jq_ "$T/st-olaf.json" "$w['exec']['env']['XRAY_WEBHOOK_URL']")" = \
    https://notify.xraylab.example/hooks/st-olaf/radiology-on-call ] || fail "st-olaf's webhook"
ports=$(for s in mercy st-olaf st-marys; do jq_ "$T/$s.json" "$w['exec']['env']['XRAY_LISTEN']"; done | sort -u | wc -l)
[ "$ports" = 3 ] || fail "each site needs its own port"
[ "$(jq_ "$T/mercy.json" "$w['model']['version']")" = v2 ] || fail "head pins v2"
[ "$(jq_ "$T/mercy.json" "$w['uploads']['dir']")" = outbox ] || fail "uploads dir"
[ "$(jq_ "$T/mercy.json" "$w['health']['golden']['expect']['class']")" = Pneumonia ] ||
    fail "golden expectation"
[ "$(jq_ "$T/mercy.json" "$w['secrets'][0]['name']")" = webhook-token ] || fail "secret name"

# --- secrets: each opens with its own site's key only ---------------------------
for s in mercy st-olaf st-marys; do
    "$CTL" unseal --key "$K/sites/$s.key" "$R/secrets/$s/webhook-token.sealed" >"$T/tok" 2>/dev/null ||
        fail "$s's secret does not open with its key"
    cmp -s "$T/tok" "$K/tokens/$s.token" || fail "$s's secret is not its token"
done
if "$CTL" unseal --key "$K/sites/mercy.key" "$R/secrets/st-olaf/webhook-token.sealed" >/dev/null 2>&1; then
    fail "st-olaf's secret opens with mercy's key"
fi
[ "$(stat -c %a "$K/tokens/mercy.token")" = 600 ] || fail "token file mode"
[ "$(stat -c %a "$K/engineer.key")" = 600 ] || fail "engineer key mode"

# --- models: attestations, and the golden study --------------------------------
for v in v1 v2; do
    sha=$(sed -n 's/^  sha256: //p' "$R/models/pneumonia/$v.yaml")
    grep -q "\"name\":\"pneumonia\",\"size\":[0-9]*,\"version\":\"$v\"" \
        <(/usr/bin/python3 -c "import json,base64,sys; print(base64.b64decode(json.load(open(sys.argv[1]))['payload']).decode())" \
            "$R/models/pneumonia/$v.att.json") || fail "$v attestation predicate"
    [ ${#sha} = 64 ] || fail "$v sha256"
done
"$MAT" models --bin "$CAIRN_BUILD" --out "$T/m" --quick v1 v2 2>/dev/null
for v in v1 v2; do
    "$CTL" verify-model --pub "$K/publisher.pub" --attestation "$R/models/pneumonia/$v.att.json" \
        "$T/m/$v.model" >/dev/null 2>&1 || fail "$v: a retrained model does not verify (training not reproducible?)"
    "$WORKER" --score "$T/m/$v.model" "$R/workloads/golden/pneumonia.jpeg" >"$T/score" ||
        fail "$v: golden does not score"
    grep -q ' high Pneumonia ' "$T/score" || fail "$v: golden is not high risk: $(cat "$T/score")"
done

# --- commits that break the rules are refused ----------------------------------
git -C "$R" -c commit.gpgsign=false commit -q --allow-empty -m "unsigned"
if "$CTL" validate --repo "$R" --allowed-signers "$K/allowed_signers" >/dev/null 2>"$T/err"; then
    fail "an unsigned commit validated under the signature policy"
fi
grep -q "unsigned" "$T/err" || fail "unsigned refusal message: $(cat "$T/err")"
git -C "$R" reset -q --hard HEAD~1
perl -pi -e 's/^(  sha256: )\S+/$1 . ("0" x 64)/e' "$R/models/pneumonia/v2.yaml"
git -C "$R" commit -q -a -m "tampered digest"
if "$CTL" validate --repo "$R" --allowed-signers "$K/allowed_signers" >/dev/null 2>"$T/err"; then
    fail "a model whose digest disagrees with its attestation validated"
fi
grep -q "models/pneumonia/v2.yaml" "$T/err" || fail "tamper message: $(cat "$T/err")"

if [ "$fails" -gt 0 ]; then
    echo "$fails check(s) failed" >&2
    exit 1
fi
echo "fleet-repo: ok"
