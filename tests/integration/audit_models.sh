#!/usr/bin/env bash
# cairnctl audit models over a real history (tests/integration/audit/
# lib.bash): signed, unsigned, unknown-signer and badly signed commits that
# change models, compared byte for byte with a golden file; signature
# verdicts cross-checked with `git log %G?`; --model, --since, --json and
# usage errors.
set -euo pipefail
: "${CAIRN_SRC:?}"
source "$CAIRN_SRC/tests/integration/audit/lib.bash"
T=$(mktemp -d "${TMPDIR:-/tmp}/cairn-audit-models-XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

make_history "$T"
REPO=$T/repo

# ---- the golden output (exit 1: the history holds problems) -----------------
rc=0
"$CTL" audit models --repo "$REPO" --allowed-signers "$T/allowed_signers" >"$T/out" || rc=$?
[ "$rc" = 1 ] || fail "audit models exit $rc, want 1 (problems found)"
if ! cmp -s "$T/out" "$AUDIT_FIXTURES/models.golden"; then
    diff -u "$AUDIT_FIXTURES/models.golden" "$T/out" >&2 || true
    fail "audit models output differs from tests/integration/audit/models.golden"
fi

# ---- our verdicts agree with git's own ---------------------------------------
git -C "$REPO" -c gpg.ssh.allowedSignersFile="$T/allowed_signers" log --format='%H %G?' \
    2>/dev/null >"$T/git-verdicts"
"$CTL" audit models --repo "$REPO" --allowed-signers "$T/allowed_signers" --json >"$T/json" ||
    true
$PY - "$T/json" "$T/git-verdicts" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
git = dict(l.split() for l in open(sys.argv[2]))
want = {"G": "verified", "B": "bad", "N": "unsigned", "U": "unknown-key"}
seen = 0
for c in doc["commits"]:
    got = c["signature"]["status"]
    assert got == want[git[c["commit"]]], (c["commit"], got, git[c["commit"]])
    seen += 1
assert seen == 6, seen
assert doc["problems"] == 4, doc["problems"]
assert doc["head"] == open(sys.argv[2]).readline().split()[0]
first = doc["commits"][0]
assert first["signature"]["status"] == "bad"
assert first["models"][0]["attestation"]["verified"] is False
assert first["render"]["ok"] is False
last = doc["commits"][-1]
assert [s["site"] for s in last["sites"]] == ["st-olaf", "st-paul"]
assert all(s["before"] is None and s["after"]["version"] == "v1" for s in last["sites"])
assert last["models"][0]["attestation"]["verified"] is True
PY

# ---- filters ------------------------------------------------------------------
out=$("$CTL" audit models --repo "$REPO" --allowed-signers "$T/allowed_signers" \
    --since 2026-01-09 || true)
[ "$(grep -c '^commit ' <<<"$out")" = 3 ] || fail "--since 2026-01-09: $out"
grep -q '^3 commit(s), 2 problem(s)$' <<<"$out" || fail "--since summary: $out"
out=$("$CTL" audit models --repo "$REPO" --since 2026-01-10T09:00:01Z || true)
[ "$(grep -c '^commit ' <<<"$out")" = 1 ] || fail "--since with a time: $out"
grep -q 'signed, not checked (no --allowed-signers)' <<<"$out" || fail "unchecked: $out"
out=$("$CTL" audit models --repo "$REPO" --model other)
grep -q '^0 commit(s), 0 problem(s)$' <<<"$out" || fail "--model other: $out"
out=$("$CTL" audit models --repo "$REPO" --model pneumonia --rev HEAD~1)
[ "$(grep -c "^commit " <<<"$out")" = 4 ] || fail "--rev HEAD~1 (no signature policy: commit 5 changes nothing): $out"
grep -q "unsigned" <<<"$out" || fail "unsigned without allowed signers: $out"

# ---- usage and input errors: exit 2 -------------------------------------------
for args in "models" "models --repo $REPO extra" "models --repo $REPO --since yesterday" \
    "models --repo $REPO --out x" "models --repo $T/nowhere" \
    "models --repo $REPO --allowed-signers $T/nowhere" "bogus" "verify"; do
    rc=0
    # shellcheck disable=SC2086
    "$CTL" audit $args >/dev/null 2>"$T/err" || rc=$?
    [ "$rc" = 2 ] || fail "audit $args: exit $rc, want 2"
    grep -q '^cairnctl audit' "$T/err" || fail "audit $args: no message: $(cat "$T/err")"
done
echo "audit models: ok"
