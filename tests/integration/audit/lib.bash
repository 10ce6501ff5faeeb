# Shared by tests/integration/audit_*.sh (sourced; not a test itself).
#
# make_history DIR builds DIR/repo, a fleet repository whose history holds
# every kind of commit `cairnctl audit models` must judge, all of it
# deterministic (checked-in keys, fixed model bytes, fixed dates), so that
# its output can be compared byte for byte with a golden file:
#
#   1 2026-01-05 engineer (allowed)  fleet, sites st-olaf and st-paul,
#                                    workload risk, model pneumonia v1
#   2 2026-01-06 unsigned            model pneumonia v2 released (no site
#                                    uses it yet)
#   3 2026-01-07 engineer            README only (not a model change)
#   4 2026-01-08 intruder (unknown)  fleet switches every site to v2
#   5 2026-01-09 engineer            workload env only (no model change)
#   6 2026-01-10 engineer            group west pins v1 (st-paul back on v1)
#   7 2026-01-11 engineer, altered   model v3 attested by a publisher the
#                                    fleet does not trust, st-olaf on v3;
#                                    then the signed commit object's message
#                                    is edited and written back with
#                                    `git hash-object -t commit -w`, so its
#                                    signature no longer verifies (bad)
#
# DIR/keys holds the keys (mode 0600), DIR/allowed_signers trusts the
# engineer only.

: "${CAIRN_BUILD:?set CAIRN_BUILD to the build directory}"
: "${CAIRN_SRC:?set CAIRN_SRC to the source directory}"
CTL=$CAIRN_BUILD/controller/cairnctl
PY=/usr/bin/python3
AUDIT_FIXTURES=$CAIRN_SRC/tests/integration/audit

# at DATE CMD...: run CMD with the author and committer dates set.
at() {
    local when=$1
    shift
    GIT_AUTHOR_DATE="$when" GIT_COMMITTER_DATE="$when" "$@"
}

model_bytes() { # model_bytes VERSION: 4096 deterministic bytes
    $PY -c 'import sys; sys.stdout.buffer.write(((b"pneumonia-model-%s\n" % sys.argv[1].encode()) * 512)[:4096])' "$1"
}

sign_model() { # sign_model DIR KEY VERSION
    local dir=$1 key=$2 v=$3
    model_bytes "$v" >"$dir/model-$v.bin"
    "$CTL" sign-model --key "$dir/keys/$key" --name pneumonia --version "$v" \
        "$dir/model-$v.bin" >"$dir/repo/models/pneumonia/$v.yaml" 2>/dev/null
    mv "$dir/model-$v.bin.att.json" "$dir/repo/models/pneumonia/$v.att.json"
}

site_file() { # site_file DIR SITE REGION
    printf 'kind: Site\nname: %s\nlabels: {region: %s}\npublicKey: %s\n' \
        "$2" "$3" "$(cat "$1/keys/$2.pub")" >"$1/repo/sites/$2.yaml"
}

fleet_file() { # fleet_file DIR MODEL_VERSION
    cat >"$1/repo/fleet.yaml" <<YAML
kind: Fleet
name: xraylab
values:
  workloads: [risk]
  models: {pneumonia: $2}
  threshold: "0.8"
policy:
  trustedPublishers:
    - $(cat "$1/keys/publisher.pub")
  desiredStateTTLHours: 24
YAML
}

workload_file() { # workload_file DIR THRESHOLD_ENV_NAME
    cat >"$1/repo/workloads/risk.yaml" <<YAML
kind: Workload
name: risk
model: {name: pneumonia, version: "{{ values.models.pneumonia }}"}
exec:
  command: [/usr/local/bin/xray-worker, --site, "{{ site.name }}"]
  env: {$2: "{{ values.threshold }}"}
YAML
}

# git with the engineer's identity and signing key (gpg.format=ssh).
g() {
    git -C "$DIR/repo" -c user.name=Engineer -c user.email=engineer@example.com \
        -c gpg.format=ssh -c user.signingkey="$DIR/keys/engineer" "$@"
}

make_history() {
    DIR=$1
    mkdir -p "$DIR/keys" "$DIR/repo/sites" "$DIR/repo/workloads" "$DIR/repo/models/pneumonia" \
        "$DIR/repo/groups"
    cp "$AUDIT_FIXTURES"/keys/* "$DIR/keys/"
    chmod 600 "$DIR"/keys/*
    echo "engineer@example.com namespaces=\"git\" $(cat "$DIR/keys/engineer.pub")" \
        >"$DIR/allowed_signers"
    git -C "$DIR/repo" init -q -b main
    git -C "$DIR/repo" config commit.gpgsign false

    fleet_file "$DIR" v1
    workload_file "$DIR" THRESHOLD
    site_file "$DIR" st-olaf east
    site_file "$DIR" st-paul west
    sign_model "$DIR" publisher v1
    g add -A
    at 2026-01-05T09:00:00Z g commit -q -S -m "fleet: st-olaf and st-paul on pneumonia v1"

    sign_model "$DIR" publisher v2
    g add -A
    at 2026-01-06T09:00:00Z g commit -q --no-gpg-sign -m "models: pneumonia v2"

    echo "The x-ray fleet." >"$DIR/repo/README.md"
    g add -A
    at 2026-01-07T09:00:00Z g commit -q -S -m "docs: readme"

    fleet_file "$DIR" v2
    g add -A
    at 2026-01-08T09:00:00Z g -c user.signingkey="$DIR/keys/intruder" \
        commit -q -S -m "fleet: every site on pneumonia v2"

    workload_file "$DIR" RISK_THRESHOLD
    g add -A
    at 2026-01-09T09:00:00Z g commit -q -S -m "risk: rename the threshold variable"

    printf 'kind: Group\nname: west\nselector:\n  matchLabels: {region: west}\nvalues:\n  models: {pneumonia: v1}\n' \
        >"$DIR/repo/groups/west.yaml"
    g add -A
    at 2026-01-10T09:00:00Z g commit -q -S -m "west: back on pneumonia v1"

    sign_model "$DIR" rogue v3
    printf 'values:\n  models: {pneumonia: v3}\n' >>"$DIR/repo/sites/st-olaf.yaml"
    g add -A
    at 2026-01-11T09:00:00Z g commit -q -S -m "st-olaf: pneumonia v3 approved"
    # the same commit with one word of its message changed: the signature
    # still names the engineer's key but no longer matches the bytes
    local forged
    forged=$(git -C "$DIR/repo" cat-file commit HEAD | sed 's/v3 approved/v3 approved!/' |
        git -C "$DIR/repo" hash-object -t commit -w --stdin)
    git -C "$DIR/repo" update-ref refs/heads/main "$forged"
}
