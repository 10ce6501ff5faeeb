"""Alter one record of an evidence bundle, as someone hiding what happened
would: tamper.py IN OUT CASE. The signatures are left as they were (the
forger has no key); only bytes change."""
import base64
import hashlib
import json
import sys


def edit_payload(env, fn):
    p = json.loads(base64.b64decode(env["payload"]))
    fn(p)
    env["payload"] = base64.b64encode(
        json.dumps(p, sort_keys=True, separators=(",", ":")).encode()).decode()


def report(b):  # the third report claims another model ran
    def fn(p):
        p["workloads"][0]["model"]["version"] = "v9"
    edit_payload(b["reports"][2]["envelope"], fn)


def desired(b):  # generation 2 names another model digest
    def fn(p):
        p["workloads"][0]["model"]["sha256"] = "0" * 64
    edit_payload(b["desired"][1]["envelope"], fn)


def commit(b):  # one word of the first commit's message
    raw = base64.b64decode(b["commits"][0]["object"])
    b["commits"][0]["object"] = base64.b64encode(raw.replace(b"fleet", b"fleat", 1)).decode()


def commit_rehashed(b):  # the same, with the sha recomputed to match
    raw = base64.b64decode(b["commits"][0]["object"]).replace(b"fleet", b"fleat", 1)
    b["commits"][0]["object"] = base64.b64encode(raw).decode()
    b["commits"][0]["sha"] = hashlib.sha1(b"commit %d\0" % len(raw) + raw).hexdigest()


def drop_report(b):  # hide the rollback
    del b["reports"][3]


def receipt(b):  # the controller's receipt of reports, one digest changed
    env = next(r for r in b["receipts"]
               if json.loads(base64.b64decode(r["payload"]))["of"] == "reports")

    def fn(p):
        p["items"][0]["payloadSha256"] = "1" * 64
    edit_payload(env, fn)


def site_key(b):  # the site file blob swapped for another site's key
    for o in b["objects"]:
        if o["type"] == "blob" and b"kind: Site" in base64.b64decode(o["data"]):
            o["data"] = base64.b64encode(base64.b64decode(o["data"]).replace(
                b"st-olaf\n", b"st-olaf \n")).decode()


CASES = {f.__name__: f for f in (report, desired, commit, commit_rehashed, drop_report,
                                 receipt, site_key)}

if __name__ == "__main__":
    src, dst, case = sys.argv[1:4]
    bundle = json.load(open(src))
    CASES[case](bundle)
    json.dump(bundle, open(dst, "w"))
