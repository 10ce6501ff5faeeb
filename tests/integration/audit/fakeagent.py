"""A stand-in for cairn-agent in the audit tests: it fetches the site's
desired state from the real controller and posts DSSE reports signed by the
site key with nacl, through tests/integration/cairn_client.py (which shares
no code with cairn's C). Until the agent lands on main, this is what
produces a site's signed reports for `cairnctl audit site`.

usage: fakeagent.py desired PORT SITE KEY GENERATION
           wait until the site is served GENERATION; print the desired
           payload (JSON)
       fakeagent.py report PORT SITE KEY JSON
           post one report; JSON holds seq, time, applied, served, event
           (or null) and workloads ([{name, state, health, model}])
"""
import base64
import json
import sys
import time

from cairn_client import REPORT_TYPE, Client, canonical, dsse, load_key


def desired(client, sk, site, generation):
    token = client.token(sk, site)
    for _ in range(200):
        st, _, body = client.request("GET", "/v1/sites/%s/desired" % site,
                                     headers={"Authorization": "Bearer " + token})
        if st == 200:
            env = json.loads(body)
            payload = json.loads(base64.b64decode(env["payload"]))
            if payload["generation"] >= generation:
                return payload
        time.sleep(0.1)
    raise SystemExit("site %s never served generation %d" % (site, generation))


def report(client, sk, site, r):
    p = {"kind": "cairn.report/v1", "site": site, "seq": r["seq"], "time": r["time"],
         "agentVersion": "fakeagent", "workloads": r["workloads"],
         "generation": {"applied": r["applied"], "served": r["served"]}}
    if r.get("event"):
        p["event"] = r["event"]
    token = client.token(sk, site)
    st, _, doc = client.json("POST", "/v1/sites/%s/reports" % site,
                             dsse(sk, REPORT_TYPE, canonical(p)), token=token)
    if st != 200 or not doc.get("stored"):
        raise SystemExit("report %d: %s %s" % (r["seq"], st, doc))


def main():
    cmd, port, site, key = sys.argv[1:5]
    client, sk = Client(int(port)), load_key(key)
    if cmd == "desired":
        print(json.dumps(desired(client, sk, site, int(sys.argv[5]))))
    elif cmd == "report":
        report(client, sk, site, json.loads(sys.argv[5]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
