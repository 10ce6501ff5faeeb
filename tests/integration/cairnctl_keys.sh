#!/usr/bin/env bash
# cairnctl keygen, sign-model, verify-model, seal and unseal: every verb
# through the real binary, including each failure case (exit code and
# message), cross-checked with ssh-keygen, git and Python/PyNaCl.
set -euo pipefail

: "${CAIRN_BUILD:?set CAIRN_BUILD to the build directory}"
CTL=$CAIRN_BUILD/controller/cairnctl
PY=/usr/bin/python3
[ -x "$CTL" ] || { echo "FAIL: $CTL not built" >&2; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/cairnctl-keys.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T"

fails=0
checks=0
fail() {
    echo "FAIL: $*" >&2
    echo "  stdout: $(head -c 600 out)" >&2
    echo "  stderr: $(head -c 600 err)" >&2
    fails=$((fails + 1))
}

# run CMD...: exit code in $rc, output in ./out and ./err; never trips -e.
run() {
    set +e
    "$@" >out 2>err
    rc=$?
    set -e
}

# expect CODE "stderr substring" CMD...  (substring "" = no check)
expect() {
    local code=$1 want=$2
    shift 2
    checks=$((checks + 1))
    run "$@"
    if [ "$rc" -ne "$code" ]; then
        fail "exit $rc, want $code: $*"
    elif [ -n "$want" ] && ! grep -qF -- "$want" err; then
        fail "stderr lacks '$want': $*"
    fi
}

# expect_line CODE "substring" CMD...: also exactly one line on stderr and
# nothing on stdout (verify-model's failure contract).
expect_line() {
    expect "$@"
    if [ "$(wc -l <err)" -ne 1 ] || [ -s out ]; then
        fail "want exactly one stderr line and no stdout: ${*:3}"
    fi
}

check() { # check "what" CONDITION...
    local what=$1
    shift
    checks=$((checks + 1))
    if ! "$@"; then fail "$what"; fi
}

mode_of() { stat -c %a "$1"; }

# PyNaCl helpers: independent of libcairn.
cat >pyhelp.py <<'EOF'
import base64, hashlib, json, sys
import nacl.signing, nacl.public

def seed_of(keyfile):
    # unencrypted openssh-key-v1 ed25519: the seed starts at byte 161
    lines = open(keyfile).read().split("\n")
    body = base64.b64decode("".join(l for l in lines if l and not l.startswith("-----")))
    assert body.startswith(b"openssh-key-v1\0")
    return body[161:193]

def pae(t, body):
    return b"DSSEv1 %d %s %d %s" % (len(t.encode()), t.encode(), len(body), body)

def canon(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

cmd = sys.argv[1]
if cmd == "keyid":  # keyid PUBFILE
    blob = base64.b64decode(open(sys.argv[2]).read().split()[1])
    print(hashlib.sha256(blob[-32:]).hexdigest()[:16])
elif cmd == "check-att":  # check-att ATT PUBFILE FILE NAME VERSION
    env = json.load(open(sys.argv[2]))
    blob = base64.b64decode(open(sys.argv[3]).read().split()[1])
    body = base64.b64decode(env["payload"])
    assert open(sys.argv[2]).read() == canon(env) + "\n", "envelope not canonical"
    vk = nacl.signing.VerifyKey(blob[-32:])
    vk.verify(pae(env["payloadType"], body), base64.b64decode(env["signatures"][0]["sig"]))
    st = json.loads(body)
    assert body.decode() == canon(st), "payload not canonical"
    data = open(sys.argv[4], "rb").read()
    want = {"_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": sys.argv[4].split("/")[-1],
                         "digest": {"sha256": hashlib.sha256(data).hexdigest()}}],
            "predicateType": "cairn.dev/model/v1",
            "predicate": {"name": sys.argv[5], "version": sys.argv[6], "size": len(data)}}
    assert st == want, st
    assert env["payloadType"] == "application/vnd.in-toto+json"
    print("ok")
elif cmd == "sign":  # sign KEYFILE TYPE PAYLOAD_JSON_OR_@FILE -> envelope
    sk = nacl.signing.SigningKey(seed_of(sys.argv[2]))
    kid = hashlib.sha256(sk.verify_key.encode()).hexdigest()[:16]
    body = sys.argv[4].encode()
    sig = sk.sign(pae(sys.argv[3], body)).signature
    print(canon({"payloadType": sys.argv[3], "payload": base64.b64encode(body).decode(),
                 "signatures": [{"keyid": kid, "sig": base64.b64encode(sig).decode()}]}))
elif cmd == "swap-payload":  # swap-payload ATT NEWSIZE: same sig, other payload
    env = json.load(open(sys.argv[2]))
    st = json.loads(base64.b64decode(env["payload"]))
    st["predicate"]["size"] = int(sys.argv[3])
    env["payload"] = base64.b64encode(canon(st).encode()).decode()
    print(canon(env))
elif cmd == "add-field":  # add-field ATT
    env = json.load(open(sys.argv[2]))
    env["note"] = "x"
    print(canon(env))
elif cmd == "open":  # open KEYFILE SEALEDFILE -> plaintext on stdout
    sk = nacl.signing.SigningKey(seed_of(sys.argv[2])).to_curve25519_private_key()
    box = base64.b64decode(open(sys.argv[3]).read().strip())
    sys.stdout.buffer.write(nacl.public.SealedBox(sk).decrypt(box))
EOF

# ---- keygen ---------------------------------------------------------------

expect 0 "" "$CTL" keygen --help
check "keygen --help prints usage" grep -q "usage: cairnctl keygen --out PREFIX" out
expect 2 "--out PREFIX is required" "$CTL" keygen
expect 2 "bad or incomplete option --bogus" "$CTL" keygen --out x --bogus
expect 2 "bad or incomplete option --out" "$CTL" keygen --out
expect 2 "unexpected argument 'extra'" "$CTL" keygen --out x extra
expect 2 "bad --comment" "$CTL" keygen --out x --comment "$(printf 'a\nb')"
expect 2 "no/such/dir/k.key: cannot create" "$CTL" keygen --out no/such/dir/k
check "nothing written on failure" test ! -e x.key -a ! -e x.pub

expect 0 "" "$CTL" keygen --out pub
PUB_ID=$(cat out)
check "keygen prints a 16-hex key id" grep -qxE '[0-9a-f]{16}' out
check "pub.key is mode 600" test "$(mode_of pub.key)" = 600
check "pub.pub is mode 644" test "$(mode_of pub.pub)" = 644
check "pub.pub is one line" test "$(wc -l <pub.pub)" = 1
check "pub.pub is an OpenSSH line with the default comment" \
    grep -qE '^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5[A-Za-z0-9+/]+=* pub$' pub.pub
check "key id = sha256(pk)[:16] (Python)" test "$($PY pyhelp.py keyid pub.pub)" = "$PUB_ID"
check "no temp files left" test "$(ls -A | grep -c tmp || true)" = 0

# ssh-keygen reads our private key and derives the same public line
run ssh-keygen -y -f pub.key
check "ssh-keygen -y accepts our key" test "$rc" = 0
check "ssh-keygen -y prints our .pub line" test "$(cat out)" = "$(cat pub.pub)"

# ssh-keygen -Y sign with our key, verified by ssh-keygen -Y verify
echo "release notes" >msg
run ssh-keygen -Y sign -f pub.key -n file msg
check "ssh-keygen -Y sign with our key" test "$rc" = 0
echo "publisher@cairn $(cat pub.pub)" >allowed_signers
run sh -c 'ssh-keygen -Y verify -f allowed_signers -I publisher@cairn -n file -s msg.sig <msg'
check "ssh-keygen -Y verify of that signature" test "$rc" = 0

# git SSH commit signing with our key
if command -v git >/dev/null; then
    git init -q repo
    git -C repo config user.name ci && git -C repo config user.email ci@cairn
    git -C repo config gpg.format ssh
    git -C repo config user.signingkey "$T/pub.key"
    git -C repo config gpg.ssh.allowedSignersFile "$T/allowed_signers"
    git -C repo commit -q --allow-empty -S -m signed
    run git -C repo verify-commit HEAD
    check "git verify-commit of a commit signed with our key" test "$rc" = 0
fi

expect 2 "pub.key exists (use --force to replace it)" "$CTL" keygen --out pub
check "existing key untouched" test "$(ssh-keygen -y -f pub.key)" = "$(cat pub.pub)"
cp pub.key pub.key.orig
expect 0 "" "$CTL" keygen --out pub --force --comment "second key"
check "--force replaced the key" test "$(cat out)" != "$PUB_ID"
check "--force replaced the pub" grep -q " second key$" pub.pub
check "the new pair matches" test "$(ssh-keygen -y -f pub.key)" = "$(cat pub.pub)"
PUB_ID=$(cat out)
expect 0 "" "$CTL" keygen --out other
OTHER_ID=$(cat out)

# ---- sign-model -------------------------------------------------------------

head -c 100000 /dev/urandom >model.keras
SHA=$(sha256sum model.keras | cut -d' ' -f1)
expect 0 "" "$CTL" sign-model --help
check "sign-model --help" grep -q "usage: cairnctl sign-model" out
expect 0 "commit it as models/pneumonia-cnn/1.2.0.att.json" "$CTL" sign-model --key pub.key \
    --name pneumonia-cnn --version 1.2.0 --url https://lab.example/m/1.2.0.keras \
    --url http://mirror.example/m.keras model.keras
cat >want.yaml <<EOF
kind: Model
name: "pneumonia-cnn"
version: "1.2.0"
artifact:
  urls:
    - "https://lab.example/m/1.2.0.keras"
    - "http://mirror.example/m.keras"
  sha256: $SHA
  size: 100000
attestation: 1.2.0.att.json
EOF
check "sign-model prints the Model stanza" diff -u want.yaml out
check "attestation written" test -f model.keras.att.json
check "attestation verified by PyNaCl, canonical, statement as specified" \
    test "$($PY pyhelp.py check-att model.keras.att.json pub.pub model.keras pneumonia-cnn 1.2.0)" = ok
expect 2 "model.keras.att.json exists (use --force" "$CTL" sign-model --key pub.key \
    --name pneumonia-cnn --version 1.2.0 model.keras
expect 0 "" "$CTL" sign-model --key pub.key --name pneumonia-cnn --version 1.2.0 \
    --force model.keras
check "no urls: empty list" grep -qx "  urls: \[\]" out
expect 0 "" "$CTL" sign-model --key pub.key --name m --version 2 --out custom.att.json model.keras
check "--out path" test -f custom.att.json

expect 2 "--key, --name, --version and FILE are required" "$CTL" sign-model --name a --version 1 model.keras
expect 2 "--key, --name, --version and FILE are required" "$CTL" sign-model --key pub.key --name a --version 1
expect 2 "bad --name 'Bad/Name'" "$CTL" sign-model --key pub.key --name Bad/Name --version 1 model.keras
expect 2 "bad --name 'a.b'" "$CTL" sign-model --key pub.key --name a.b --version 1 model.keras
expect 2 "bad --name 'a-'" "$CTL" sign-model --key pub.key --name a- --version 1 model.keras
expect 2 "bad --version '.1'" "$CTL" sign-model --key pub.key --name a --version .1 model.keras
: >empty.keras
expect 2 "empty.keras is empty: not a model" "$CTL" sign-model --key pub.key --name a --version 1 empty.keras
expect 2 "bad --version '../1'" "$CTL" sign-model --key pub.key --name a --version ../1 model.keras
expect 2 "bad --url 'ftp://x/y'" "$CTL" sign-model --key pub.key --name a --version 1 --url ftp://x/y model.keras
expect 2 "bad --url" "$CTL" sign-model --key pub.key --name a --version 1 --url 'https://x/a b' model.keras
expect 2 "one FILE only" "$CTL" sign-model --key pub.key --name a --version 1 model.keras other.pub
expect 2 "missing.keras: no such file" "$CTL" sign-model --key pub.key --name a --version 1 missing.keras
expect 2 "nokey.key: No such file" "$CTL" sign-model --key nokey.key --name a --version 1 model.keras
cp pub.key open.key && chmod 644 open.key
expect 2 "mode 0644, readable by group or others; fix: chmod 600" "$CTL" sign-model \
    --key open.key --name a --version 1 model.keras
printf 'garbage\n' >garbage.key && chmod 600 garbage.key
expect 2 "not an OpenSSH private key" "$CTL" sign-model --key garbage.key --name a --version 1 model.keras
head -c 200 pub.key >trunc.key && chmod 600 trunc.key
expect 2 "truncated" "$CTL" sign-model --key trunc.key --name a --version 1 model.keras

# a key made by ssh-keygen signs too
ssh-keygen -q -t ed25519 -N '' -C sshkg -f sshkg
expect 0 "" "$CTL" sign-model --key sshkg --name m --version 3 --out sshkg.att.json model.keras
expect 0 "" "$CTL" verify-model --pub sshkg.pub --attestation sshkg.att.json model.keras

# ---- verify-model -----------------------------------------------------------

ATT=model.keras.att.json
expect 0 "" "$CTL" verify-model --help
check "verify-model --help" grep -q "usage: cairnctl verify-model" out
expect 0 "" "$CTL" verify-model --pub pub.pub --attestation $ATT model.keras
check "verify-model ok line" grep -qx "ok: pneumonia-cnn 1.2.0 sha256:$SHA size 100000, signed by $PUB_ID" out
check "verify-model ok: quiet stderr" test ! -s err

expect_line 1 "verify-model: unknown key (signed by $PUB_ID, trusted $OTHER_ID)" \
    "$CTL" verify-model --pub other.pub --attestation $ATT model.keras
$PY pyhelp.py swap-payload $ATT 100001 >swapped.att.json
expect_line 1 "verify-model: bad signature by $PUB_ID" \
    "$CTL" verify-model --pub pub.pub --attestation swapped.att.json model.keras
$PY - $ATT sig.att.json <<'EOF'
import json, sys, base64
env = json.load(open(sys.argv[1]))
raw = bytearray(base64.b64decode(env["signatures"][0]["sig"])); raw[10] ^= 1
env["signatures"][0]["sig"] = base64.b64encode(bytes(raw)).decode()
open(sys.argv[2], "w").write(json.dumps(env))
EOF
expect_line 1 "verify-model: bad signature by $PUB_ID" \
    "$CTL" verify-model --pub pub.pub --attestation sig.att.json model.keras

cp model.keras same-size.keras
printf 'X' | dd of=same-size.keras bs=1 seek=5000 conv=notrunc status=none
SHA2=$(sha256sum same-size.keras | cut -d' ' -f1)
expect_line 1 "verify-model: digest mismatch (want $SHA, got $SHA2)" \
    "$CTL" verify-model --pub pub.pub --attestation $ATT same-size.keras
cp model.keras longer.keras && printf 'x' >>longer.keras
expect_line 1 "verify-model: size mismatch (want 100000, got 100001)" \
    "$CTL" verify-model --pub pub.pub --attestation $ATT longer.keras

echo '{"payload":' >bad.att.json
expect_line 1 "verify-model: malformed envelope: line" \
    "$CTL" verify-model --pub pub.pub --attestation bad.att.json model.keras
$PY pyhelp.py add-field $ATT >extra.att.json
expect_line 1 "verify-model: malformed envelope: unknown field 'note'" \
    "$CTL" verify-model --pub pub.pub --attestation extra.att.json model.keras
$PY pyhelp.py sign pub.key application/vnd.cairn.report+json '{}' >type.att.json
expect_line 1 "malformed envelope: payloadType is 'application/vnd.cairn.report+json', expected 'application/vnd.in-toto+json'" \
    "$CTL" verify-model --pub pub.pub --attestation type.att.json model.keras
head -c 1100000 /dev/zero | tr '\0' ' ' >huge.att.json
expect_line 1 "verify-model: malformed envelope: huge.att.json: larger than 1048576 bytes" \
    "$CTL" verify-model --pub pub.pub --attestation huge.att.json model.keras
STMT='{"_type":"https://in-toto.io/Statement/v1","predicate":{"name":"m","size":100000,"version":"1"},"predicateType":"example.com/other/v1","subject":[{"digest":{"sha256":"'$SHA'"},"name":"model.keras"}]}'
$PY pyhelp.py sign pub.key application/vnd.in-toto+json "$STMT" >pred.att.json
expect_line 1 "verify-model: wrong predicateType (got example.com/other/v1, want cairn.dev/model/v1)" \
    "$CTL" verify-model --pub pub.pub --attestation pred.att.json model.keras
$PY pyhelp.py sign pub.key application/vnd.in-toto+json 'not json' >stmt.att.json
expect_line 1 "verify-model: malformed statement: line 1" \
    "$CTL" verify-model --pub pub.pub --attestation stmt.att.json model.keras
STMT2='{"_type":"https://in-toto.io/Statement/v1","predicate":{"name":"m","size":100000,"version":"1"},"predicateType":"cairn.dev/model/v1","subject":[{"digest":{"sha256":"ABC"},"name":"model.keras"}]}'
$PY pyhelp.py sign pub.key application/vnd.in-toto+json "$STMT2" >sub.att.json
expect_line 1 "verify-model: malformed statement: subject[0].digest.sha256" \
    "$CTL" verify-model --pub pub.pub --attestation sub.att.json model.keras
# a valid statement signed by Python is accepted: the format is the spec
STMT3='{"_type":"https://in-toto.io/Statement/v1","predicate":{"name":"m","size":100000,"version":"1"},"predicateType":"cairn.dev/model/v1","subject":[{"digest":{"sha256":"'$SHA'"},"name":"x"}]}'
$PY pyhelp.py sign pub.key application/vnd.in-toto+json "$STMT3" >py.att.json
expect 0 "" "$CTL" verify-model --pub pub.pub --attestation py.att.json model.keras

expect 2 "--pub, --attestation and one FILE are required" "$CTL" verify-model --pub pub.pub model.keras
expect 2 "bad or incomplete option --nope" "$CTL" verify-model --nope
expect 2 "missing.pub: No such file" "$CTL" verify-model --pub missing.pub --attestation $ATT model.keras
expect 2 "pub.key:1: this is a private key file; pass the public key (.pub) file" "$CTL" verify-model --pub pub.key --attestation $ATT model.keras
expect 2 "missing.att.json: No such file" "$CTL" verify-model --pub pub.pub --attestation missing.att.json model.keras
expect 2 "missing.keras: no such file" "$CTL" verify-model --pub pub.pub --attestation $ATT missing.keras

# ---- seal / unseal ----------------------------------------------------------

expect 0 "" "$CTL" keygen --out site
SITE_ID=$(cat out)
printf 'db-password: hunter2\n' >secret.txt
expect 0 "" "$CTL" seal --help
check "seal --help" grep -q "usage: cairnctl seal" out
expect 0 "" "$CTL" unseal --help
check "unseal --help" grep -q "usage: cairnctl unseal" out
expect 0 "" "$CTL" seal --to site.pub secret.txt
check "seal reports the key" grep -qx "secret.txt.sealed: sealed to $SITE_ID" out
check "sealed file is one base64 line" grep -qxE '[A-Za-z0-9+/]+=*' secret.txt.sealed
check "sealed file does not contain the secret" test "$(grep -c hunter2 secret.txt.sealed || true)" = 0
check "PyNaCl opens our sealed box" test "$($PY pyhelp.py open site.key secret.txt.sealed)" = "db-password: hunter2"
expect 0 "" "$CTL" unseal --key site.key secret.txt.sealed
check "unseal to stdout" cmp -s out secret.txt
expect 0 "" "$CTL" unseal --key site.key --out opened.txt secret.txt.sealed
check "unseal --out content" cmp -s opened.txt secret.txt
check "unseal --out mode 600" test "$(mode_of opened.txt)" = 600
expect 2 "opened.txt exists (use --force" "$CTL" unseal --key site.key --out opened.txt secret.txt.sealed
expect 0 "" "$CTL" unseal --key site.key --out opened.txt --force secret.txt.sealed

head -c 3000 /dev/urandom >blob.bin
expect 0 "" "$CTL" seal --to site.pub --out blob.sealed blob.bin
expect 0 "" "$CTL" unseal --key site.key blob.sealed
check "binary secret round trip" cmp -s out blob.bin

expect 2 "secret.txt.sealed exists (use --force" "$CTL" seal --to site.pub secret.txt
expect 0 "" "$CTL" seal --to site.pub --force secret.txt
expect 1 "cannot open: sealed to another key than $PUB_ID, or altered" \
    "$CTL" unseal --key pub.key secret.txt.sealed
check "nothing printed for a failed unseal" test ! -s out
$PY - secret.txt.sealed altered.sealed <<'EOF'
import base64, sys
raw = bytearray(base64.b64decode(open(sys.argv[1]).read().strip())); raw[-1] ^= 1
open(sys.argv[2], "w").write(base64.b64encode(bytes(raw)).decode() + "\n")
EOF
expect 1 "altered.sealed: cannot open" "$CTL" unseal --key site.key altered.sealed
printf 'not base64!\n' >junk.sealed
expect 1 "junk.sealed: not a sealed file" "$CTL" unseal --key site.key junk.sealed
printf 'AAAA\n' >short.sealed
expect 1 "short.sealed: cannot open" "$CTL" unseal --key site.key short.sealed
expect 2 "--to and one FILE are required" "$CTL" seal secret.txt
expect 2 "--key and one FILE are required" "$CTL" unseal secret.txt.sealed
expect 2 "missing.txt: No such file" "$CTL" seal --to site.pub missing.txt
expect 2 "site.key:1: this is a private key file" "$CTL" seal --to site.key secret.txt
head -c 1100000 /dev/zero >big.bin
expect 2 "big.bin: larger than 1048576 bytes" "$CTL" seal --to site.pub big.bin
chmod 644 site.key
expect 2 "chmod 600" "$CTL" unseal --key site.key secret.txt.sealed
chmod 600 site.key

# ---- top level --------------------------------------------------------------

expect 0 "" "$CTL" --help
for verb in keygen sign-model verify-model seal unseal; do
    check "cairnctl --help lists $verb" grep -q "^  $verb " out
done
expect 2 "unknown verb 'nope'" "$CTL" nope

echo "cairnctl_keys: $checks checks, $fails failed"
[ "$fails" -eq 0 ]
