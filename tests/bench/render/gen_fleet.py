#!/usr/bin/python3
"""Build a fleet repository for the render benchmark.

gen_fleet.py DIR CAIRNCTL [SITES]

DIR/repo: a git repository with SITES sites (default 10000) in 10 region
folders, 20 groups (10 by region, 10 by tier: every site matches two),
3 workloads, 2 models with attestations signed by `cairnctl sign-model`,
and one sealed secret per site. Commit 1 holds everything (signed with
DIR/keys/engineer); commit 2 changes one site file. Site keys are real
Ed25519 keys (PyNaCl); secrets are real sealed boxes to them.
"""
import base64
import os
import subprocess
import sys

import nacl.bindings
import nacl.public
import nacl.signing

out, ctl = sys.argv[1], sys.argv[2]
nsites = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
repo, keys = os.path.join(out, "repo"), os.path.join(out, "keys")
os.makedirs(keys, exist_ok=True)


def run(*cmd, cwd=None, stdout=None):
    subprocess.run(cmd, cwd=cwd, check=True, stdout=stdout)


def write(path, text, mode="w"):
    full = os.path.join(repo, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, mode) as f:
        f.write(text)


def ssh_pub(pk, comment):
    blob = b"".join(len(x).to_bytes(4, "big") + x for x in (b"ssh-ed25519", pk))
    return "ssh-ed25519 %s %s" % (base64.b64encode(blob).decode(), comment)


run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "engineer", "-f",
    os.path.join(keys, "engineer"))
run(ctl, "keygen", "--out", os.path.join(keys, "publisher"), stdout=subprocess.DEVNULL)
publisher = open(os.path.join(keys, "publisher.pub")).read().strip()
run("git", "init", "-q", "-b", "main", repo)

write("fleet.yaml", f"""kind: Fleet
name: bench
values:
  workloads: [risk-assessment, anonymizer, notifier]
  models: {{pneumonia: v1}}
  xraylab:
    inbox: /srv/xray/inbox
    threshold: 0.8
    lab: https://lab.example/upload
policy:
  trustedPublishers:
    - {publisher}
  desiredStateTTLHours: 168
""")
for r in range(10):
    write(f"groups/region-{r}.yaml", f"""kind: Group
name: region-{r}
selector:
  matchLabels: {{region: r{r}}}
values:
  xraylab: {{lab: "https://lab-{r}.example/upload"}}
""")
for t in range(10):
    model = "v2" if t < 3 else "v1"
    write(f"groups/tier-{t}.yaml", f"""kind: Group
name: tier-{t}
selector:
  matchLabels: {{tier: t{t}}}
values:
  models: {{pneumonia: {model}}}
  xraylab: {{threshold: 0.{7 + t % 3}}}
""")
write("workloads/risk-assessment.yaml", """kind: Workload
name: risk-assessment
model: {name: pneumonia, version: "{{ values.models.pneumonia }}"}
exec:
  command: [/usr/local/bin/xray-worker, --site, "{{ site.name }}"]
  env:
    XRAY_INBOX: "{{ values.xraylab.inbox }}"
    XRAY_REGION: "{{ site.labels.region }}"
health:
  http: http://127.0.0.1:8081/healthz
  timeoutSeconds: 60
  golden: {url: http://127.0.0.1:8081/v1/score, input: golden.png, expect: {band: Pneumonia}}
restart: {policy: always, backoffMaxSeconds: 60}
files:
  - {path: worker.conf, content: "threshold={{ values.xraylab.threshold }}\\nsite={{ site.name }}\\n"}
  - {path: golden.png, from: workloads/golden/pneumonia.png}
secrets: [webhook-token]
uploads: {dir: outbox}
""")
write("workloads/anonymizer.yaml", """kind: Workload
name: anonymizer
exec:
  command: [/usr/local/bin/anonymize]
  env: {LAB_URL: "{{ values.xraylab.lab }}", SITE: "{{ site.name }}"}
restart: {policy: on-failure, backoffMaxSeconds: 30}
""")
write("workloads/notifier.yaml", """kind: Workload
name: notifier
exec:
  command: [/usr/local/bin/notify, "--threshold={{ values.xraylab.threshold }}"]
""")
# a small golden input (every site's document carries it, base64)
os.makedirs(os.path.join(repo, "workloads/golden"), exist_ok=True)
with open(os.path.join(repo, "workloads/golden/pneumonia.png"), "wb") as f:
    f.write(os.urandom(2048))
for v in ("v1", "v2"):
    art = os.path.join(out, f"pneumonia-{v}.bin")
    with open(art, "wb") as f:
        f.write(os.urandom(1 << 16))
    os.makedirs(os.path.join(repo, "models/pneumonia"), exist_ok=True)
    with open(os.path.join(repo, "models/pneumonia", f"{v}.yaml"), "w") as f:
        run(ctl, "sign-model", "--key", os.path.join(keys, "publisher.key"), "--name",
            "pneumonia", "--version", v, "--url", f"https://models.example/{v}.bin", art,
            stdout=f)
    os.replace(art + ".att.json", os.path.join(repo, "models/pneumonia", f"{v}.att.json"))

for i in range(nsites):
    name = f"site-{i:05d}"
    sk = nacl.signing.SigningKey.generate()
    pk = bytes(sk.verify_key)
    write(f"sites/r{i % 10}/{name}.yaml", f"""kind: Site
name: {name}
labels: {{region: r{i % 10}, tier: t{(i // 10) % 10}}}
publicKey: {ssh_pub(pk, name)}
values:
  xraylab: {{inbox: "/data/{{{{ site.name }}}}/inbox"}}
  contact: ops-{i}@example.org
""")
    box = nacl.public.SealedBox(nacl.public.PublicKey(
        nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(pk))).encrypt(b"token-%d" % i)
    write(f"secrets/{name}/webhook-token.sealed", base64.b64encode(box).decode() + "\n")

git = ["git", "-C", repo, "-c", "user.name=Bench", "-c", "user.email=bench@example.org",
       "-c", "gpg.format=ssh", "-c", "user.signingkey=" + os.path.join(keys, "engineer")]
run(*git, "add", "-A")
run(*git, "commit", "-q", "-S", "-m", "fleet of %d sites" % nsites)
with open(os.path.join(repo, "sites/r7/site-00007.yaml"), "a") as f:
    f.write("  note: changed\n  xraylab2: {inbox: /mnt/other}\n")
with open(os.path.join(repo, "sites/r7/site-00007.yaml")) as f:
    text = f.read().replace('/data/{{ site.name }}/inbox', '/mnt/{{ site.name }}/inbox')
with open(os.path.join(repo, "sites/r7/site-00007.yaml"), "w") as f:
    f.write(text)
run(*git, "commit", "-q", "-S", "-am", "one site changes its inbox")
with open(os.path.join(keys, "allowed_signers"), "w") as f:
    f.write('engineer@example.org namespaces="git" %s\n'
            % open(os.path.join(keys, "engineer.pub")).read().strip())
