#!/usr/bin/env bash
# Fleet status tells the truth about updates that did not land: the real
# cairn-controller, a real signed fleet repository, and signed reports from
# an independent Python client acting as two agents.
#   - a site whose agent rolled back the served generation is "rolledback"
#     with the generation and the reason, in /v1/sites/SITE, /v1/sites,
#     /v1/fleet, /metrics and cairnctl status (table and --json); later
#     plain reports and a CrashLoop event do not hide it;
#   - a site whose agent refused the document (no generation in its event)
#     or could not download it is "failed", named by the served generation;
#   - both survive a controller restart (records.db);
#   - a newer served generation shows "updating" until the site reports on
#     it, and a report applying it makes the site "ok".
set -euo pipefail
source "$(dirname "$0")/controller_lib.bash"

T=$(mktemp -d "${TMPDIR:-/tmp}/cairn-states.XXXXXX")
trap 'stop_controller; rm -rf "$T"' EXIT
make_fleet "$T" site-a site-b
start_controller "$T" --set allowedSigners="$T/allowed_signers" --set pollIntervalSeconds=1

# phase N: the Python checks of that phase (they share cairn_client and the
# helpers below; seqs and generations are kept in $T/ctx.json between phases).
phase() {
    T=$T PORT=$PORT CTL=$CTL PHASE=$1 $PY - <<'PYEOF'
import json, os, subprocess, time
from cairn_client import *

T, PHASE = os.environ["T"], os.environ["PHASE"]
c = Client(int(os.environ["PORT"]))
ck = Checker()
ctx = json.load(open(T + "/ctx.json")) if os.path.exists(T + "/ctx.json") else {
    "seq": {"site-a": 0, "site-b": 0}}
sk = {s: load_key(T + "/keys/%s.key" % s) for s in ("site-a", "site-b")}
tok = {s: c.token(sk[s], s) for s in sk}

def site(name):
    return c.json("GET", "/v1/sites/" + name)[2]

def served(name):
    return (site(name)["served"] or {}).get("generation")

def report(name, applied, event=None, state="running"):
    ctx["seq"][name] += 1
    p = report_payload(name, ctx["seq"][name], applied=applied, served=applied,
                       event=event, state=state)
    st, _, doc = c.json("POST", "/v1/sites/%s/reports" % name,
                        dsse(sk[name], REPORT_TYPE, canonical(p)), token=tok[name])
    ck(st == 200 and doc["stored"], "%s report %d stored" % (name, ctx["seq"][name]), st, doc)

def commit(msg, old, new):
    f = T + "/repo/fleet.yaml"
    text = open(f).read()
    ck(old in text, "fleet.yaml has " + old)
    open(f, "w").write(text.replace(old, new))
    for args in (["add", "-A"], ["commit", "-q", "-S", "-m", msg]):
        subprocess.run(["git", "-C", T + "/repo"] + args, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

def wait_served_above(name, gen):
    for _ in range(400):
        if (served(name) or 0) > gen:
            return served(name)
        time.sleep(0.05)
    ck(False, "%s: a generation above %d served" % (name, gen))
    return gen

def fleet_states():
    return c.json("GET", "/v1/fleet")[2]["states"]

def metric(state):
    m = c.request("GET", "/metrics")[2].decode()
    want = 'cairn_controller_sites{state="%s"} ' % state
    return [int(l.split()[1]) for l in m.splitlines() if l.startswith(want)]

def summary(name):
    page = c.json("GET", "/v1/sites?limit=1000")[2]
    return [s for s in page["sites"] if s["name"] == name][0]

REASON = "health gate: worker exited (exit 1) before it answered /healthz"

if PHASE == "1":
    g1a, g1b = served("site-a"), served("site-b")
    report("site-a", g1a)
    report("site-b", g1b)
    ck.eq(site("site-a")["state"], "ok", "site-a ok on generation %d" % g1a)
    ck.eq(site("site-a")["failure"], None, "no failure while ok")
    ck.eq(summary("site-a")["failure"], None, "no failure in /v1/sites while ok")
    commit("model v2", "pneumonia: v1", "pneumonia: v2")
    g2a = wait_served_above("site-a", g1a)
    g2b = wait_served_above("site-b", g1b)
    report("site-a", g1a)
    ck.eq(site("site-a")["state"], "updating", "served above applied: updating")
    # the agent's health gate fails: it rolls back to generation g1a
    report("site-a", g1a, {"type": "RolledBack", "generation": g2a, "reason": REASON})
    d = site("site-a")
    ck.eq(d["state"], "rolledback", "RolledBack of the served generation: rolledback", d)
    f = d["failure"] or {}
    ck.eq((f.get("type"), f.get("generation"), f.get("reason")), ("RolledBack", g2a, REASON),
          "site detail: failure with type, generation and reason")
    ck.eq((d["served"]["generation"], d["applied"]), (g2a, g1a), "served and applied")
    s = summary("site-a")
    ck.eq((s["state"], (s["failure"] or {}).get("generation"), (s["failure"] or {}).get("reason")),
          ("rolledback", g2a, REASON), "/v1/sites: state, failed generation and reason")
    # later reports: a plain one, then a CrashLoop of the last-known-good
    report("site-a", g1a)
    ck.eq(site("site-a")["state"], "rolledback", "a plain report keeps rolledback")
    report("site-a", g1a, {"type": "CrashLoop", "generation": g1a, "reason": "exit 2"},
           state="crashloop")
    d = site("site-a")
    ck.eq((d["state"], (d["lastError"] or {}).get("type"), (d["failure"] or {}).get("type")),
          ("rolledback", "CrashLoop", "RolledBack"),
          "a CrashLoop after the rollback: lastError moves on, the failure stays")
    report("site-a", g1a)
    # site-b refuses the document: the agent cannot say its generation (0)
    report("site-b", g1b, {"type": "Rejected", "generation": 0,
                           "reason": "desired state: signature does not verify"})
    d = site("site-b")
    ck.eq((d["state"], (d["failure"] or {}).get("generation"), (d["failure"] or {}).get("type")),
          ("failed", g2b, "Rejected"), "a refused document: failed, named by the served generation", d)
    ck.eq(fleet_states().get("rolledback"), 1, "fleet: 1 rolledback", fleet_states())
    ck.eq(fleet_states().get("failed"), 1, "fleet: 1 failed")
    ck.eq(fleet_states().get("updating"), 0, "fleet: none updating")
    ck.eq(metric("rolledback"), [1], "metrics: sites{state=rolledback} 1")
    ck.eq(metric("failed"), [1], "metrics: sites{state=failed} 1")
    ck.eq(metric("updating"), [0], "metrics: sites{state=updating} 0")
    ctx.update(g1a=g1a, g1b=g1b, g2a=g2a, g2b=g2b)
elif PHASE == "2":
    # after a restart: the failures come back from records.db
    d = site("site-a")
    ck.eq((d["state"], (d["failure"] or {}).get("reason")), ("rolledback", REASON),
          "restart: site-a still rolledback with its reason", d)
    ck.eq(site("site-b")["state"], "failed", "restart: site-b still failed")
    # site-b: a download failure of the served generation, then it lands
    report("site-b", ctx["g1b"], {"type": "DownloadFailed", "generation": ctx["g2b"],
                                  "reason": "HTTP 404 from the artifact server"})
    d = site("site-b")
    ck.eq((d["state"], (d["failure"] or {}).get("type")), ("failed", "DownloadFailed"),
          "DownloadFailed of the served generation: failed")
    report("site-b", ctx["g2b"])
    ck.eq((site("site-b")["state"], site("site-b")["failure"]), ("ok", None),
          "a report applying the served generation clears failed")
    # a newer generation for site-a: updating until it reports on it
    commit("threshold 0.9", 'threshold: "0.8"', 'threshold: "0.9"')
    g3a = wait_served_above("site-a", ctx["g2a"])
    d = site("site-a")
    ck.eq((d["state"], d["failure"]), ("updating", None),
          "a newer generation served after the rollback: updating", d)
    ck.eq((d["lastError"] or {}).get("type"), "CrashLoop", "lastError stays as history")
    report("site-a", ctx["g1a"])
    ck.eq(site("site-a")["state"], "updating", "still updating until it applies it")
    report("site-a", g3a, {"type": "Applied", "generation": g3a})
    ck.eq((site("site-a")["state"], site("site-a")["failure"]), ("ok", None),
          "the site applies the newer generation: ok")
    ck.eq(fleet_states().get("rolledback"), 0, "fleet: none rolledback")
    ck.eq(metric("rolledback"), [0], "metrics: sites{state=rolledback} 0")
json.dump(ctx, open(T + "/ctx.json", "w"))
ck.done()
PYEOF
}

checks=$((checks + 1))
phase 1 || fail "phase 1: rollback, refusal and counts"

# --- cairnctl status: the table and --json -----------------------------------------------
URL=http://127.0.0.1:$PORT
"$CTL" status --controller "$URL" >"$T/status"
g2a=$($PY -c "import json; print(json.load(open('$T/ctx.json'))['g2a'])")
check "status: counts include rolledback and failed" \
    grep -qE "^sites 2: .*failed 1.*rolledback 1" "$T/status"
check "status: site-a row says rolledback" \
    grep -qE "^site-a +rolledback +$g2a +[0-9]+ +" "$T/status"
check "status: under it, the generation and the reason" \
    grep -qE "^  \^ generation $g2a rolled back: health gate: worker exited \(exit 1\)" "$T/status"
check "status: site-b row says failed, refused" \
    bash -c "grep -qE '^site-b +failed ' '$T/status' && grep -qE '^  \^ generation [0-9]+ refused: desired state: signature' '$T/status'"
"$CTL" status --controller "$URL" --json >"$T/status.json"
check "status --json: the failure of site-a" $PY -c "
import json, sys
d = json.load(open('$T/status.json'))
a = [s for s in d['sites'] if s['name'] == 'site-a'][0]
sys.exit(0 if a['state'] == 'rolledback' and a['failure']['generation'] == $g2a
         and 'exit 1' in a['failure']['reason'] and d['fleet']['states']['rolledback'] == 1 else 1)"
[ "$fails" -eq 0 ] || cat "$T/status" >&2

# --- a restart keeps it; then the fleet moves on -----------------------------------------
stop_controller
start_controller "$T" --set allowedSigners="$T/allowed_signers" --set pollIntervalSeconds=1
checks=$((checks + 1))
phase 2 || fail "phase 2: restart, download failure, a newer generation"
stop_controller
finish
