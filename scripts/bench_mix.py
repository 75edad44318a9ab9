#!/usr/bin/env python3
"""Writes the benchmark mix for scripts/bench-forward: N findings from the fixture corpus
(ids made unique) as NDJSON lines of EventBridge envelopes (70 %), bare findings (15 %) and
GetFindings pages of 10 findings (15 %), most 1-6 KB, one in 50 grown to ~30 KB and one in
200 to ~140 KB like Runtime Protection findings with long process lineages and
AttackSequence findings with many signals. Usage: bench_mix.py N OUT"""

import glob
import json
import os
import random
import sys

n, out = int(sys.argv[1]), sys.argv[2]
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
base = []
for p in sorted(glob.glob(os.path.join(root, "tests/fixtures/corpus/*.json"))):
    name = os.path.basename(p)
    if name.startswith(("edge__", "malware-s3", "runtime__", "asff")):
        continue
    d = json.load(open(p))
    fs = [d["detail"]] if "detail" in d else d.get("findings") or d.get("Findings") or [d]
    base += [f for f in fs if isinstance(f, dict)]
attack = [f for f in base if "AttackSequence" in str(f.get("type", f.get("Type", "")))]
rng = random.Random(15)


def grown(f, target):
    """A copy of f grown to about `target` bytes the way large real findings grow."""
    f = json.loads(json.dumps(f))
    service = f.setdefault("service" if "service" in f else "Service", {})
    if attack and rng.random() < 0.5:
        signals = []
        while len(json.dumps(signals)) < target:
            i = len(signals)
            signals.append({"uid": "%040x" % i, "type": "FINDING", "name": "Discovery:S3/AnomalousBehavior",
                            "description": "Signal %d: an API commonly used to discover S3 buckets was invoked." % i,
                            "firstSeenAt": "2026-11-30T10:00:00.000Z", "lastSeenAt": "2026-11-30T10:05:00.000Z",
                            "count": i, "severity": 5.0, "resourceUids": ["arn:aws:s3:::bucket-%d" % i],
                            "actorIds": ["%032x" % i], "endpointIds": ["198.51.100.%d" % (i % 250)]})
        service["detection"] = {"sequence": {"uid": "seq", "description": "sequence", "signals": signals}}
    else:
        lineage = []
        while len(json.dumps(lineage)) < target:
            i = len(lineage)
            lineage.append({"pid": 1000 + i, "uuid": "%032x" % i, "executablePath": "/usr/bin/python3.11",
                            "euid": 0, "parentUuid": "%032x" % (i + 1), "name": "python3",
                            "userId": 0, "startTime": "2026-11-30T10:00:00.000Z",
                            "executableSha256": "%064x" % i, "namespacePid": i})
        service["runtimeDetails"] = {"process": {"name": "python3", "lineage": lineage}}
    return f


def finding(i):
    f = dict(base[i % len(base)])
    if i % 200 == 7:
        f = grown(f, 140_000)
    elif i % 50 == 3:
        f = grown(f, 30_000)
    f["id" if "id" in f else "Id"] = "%032x" % i
    return f


with open(out, "w") as fh:
    i = 0
    while i < n:
        r = rng.random()
        if r < 0.15 and n - i >= 10:
            page = {"findings": [finding(i + k) for k in range(10)], "nextToken": "t%d" % i}
            fh.write(json.dumps(page, separators=(",", ":")) + "\n")
            i += 10
            continue
        f = finding(i)
        if r < 0.30:
            doc = f
        else:
            doc = {"version": "0", "id": "ev-%d" % i, "detail-type": "GuardDuty Finding",
                   "source": "aws.guardduty", "account": "123456789012", "time": "2026-11-30T10:00:00Z",
                   "region": "us-east-1", "resources": [], "detail": f}
        fh.write(json.dumps(doc, separators=(",", ":")) + "\n")
        i += 1
