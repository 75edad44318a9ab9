#!/usr/bin/env python3
"""The Python way, the yardstick `forward` is held to (≥ 10× its speed, BENCHMARKS.md): what
a Python forwarder would do with the same input, written the obvious way with the standard
library's `json` (its C scanner) and `boto3` loaded as a Lambda would for its destination.
Reads a stream of JSON values from stdin (NDJSON, pretty-printed or concatenated; gzip told
by its magic bytes), takes each finding (an EventBridge event's `detail`, a GetFindings
page's `findings`/`Findings`, or a bare finding), and writes the normalized record (the
README's record schema, with `raw_event`) to stdout, one line each.
Reads the files given as arguments, in order, else stdin.
Usage: python_way.py [FILE...] < input > records"""

import datetime
import gzip
import json
import sys

import boto3  # noqa: F401  (a Python forwarder's SQS or Firehose client)

SEVERITY = ((9.0, "critical"), (7.0, "high"), (4.0, "medium"), (1.0, "low"))


def label(score):
    for floor, name in SEVERITY:
        if score >= floor:
            return name
    return "info"


def get(d, *keys):
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k, d.get(k[:1].upper() + k[1:]))
    return d


def resource_id(f):
    r = get(f, "resource") or {}
    for path in (("instanceDetails", "instanceId"), ("accessKeyDetails", "accessKeyId"),
                 ("eksClusterDetails", "name"), ("rdsDbInstanceDetails", "dbInstanceIdentifier"),
                 ("lambdaDetails", "functionName"), ("ecsClusterDetails", "name")):
        v = get(r, *path)
        if v:
            return v
    buckets = get(r, "s3BucketDetails")
    if buckets:
        return get(buckets[0], "name")
    return None


def remote(f):
    action = get(f, "service", "action") or {}
    for kind in ("networkConnectionAction", "awsApiCallAction", "portProbeAction", "rdsLoginAttemptAction"):
        a = get(action, kind)
        if a:
            details = get(a, "remoteIpDetails") or (get(a, "portProbeDetails") or [{}])[0].get("remoteIpDetails")
            if details:
                return get(details, "ipAddressV4"), get(details, "country", "countryName")
    return None, None


def sample(f):
    info = get(f, "service", "additionalInfo") or {}
    if isinstance(info.get("value"), str):
        try:
            info = json.loads(info["value"])
        except ValueError:
            return False
    return info.get("sample") is True


def record(f, via, event_id, now):
    score = get(f, "severity") or 0.0
    ip, country = remote(f)
    service = get(f, "service") or {}
    return {
        "schema_version": "1", "source": "aws_guardduty",
        "id": get(f, "id"), "arn": get(f, "arn"), "account_id": get(f, "accountId"),
        "region": get(f, "region"), "partition": get(f, "partition"), "type": get(f, "type"),
        "title": get(f, "title"), "description": get(f, "description"),
        "severity": label(score), "severity_score": score,
        "created_at": get(f, "createdAt"), "updated_at": get(f, "updatedAt"),
        "first_seen": get(service, "eventFirstSeen"), "last_seen": get(service, "eventLastSeen"),
        "count": get(service, "count"), "archived": get(service, "archived"),
        "resource_type": get(f, "resource", "resourceType"), "resource_id": resource_id(f),
        "action_type": get(service, "action", "actionType"), "remote_ip": ip, "remote_country": country,
        "actor_principal": get(service, "action", "awsApiCallAction", "userAgent"), "sample": sample(f),
        "dedup_key": "%s:%s" % (get(f, "id"), get(f, "updatedAt")),
        "ingest": {"via": via, "event_id": event_id, "forwarder": "python-way/1", "received_at": now},
        "raw_event": f,
    }


def findings(value):
    if isinstance(value, dict) and "detail" in value:
        return [value["detail"]], value.get("id")
    if isinstance(value, dict) and ("findings" in value or "Findings" in value):
        return value.get("findings") or value.get("Findings") or [], None
    return [value], None


def main():
    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
    if len(sys.argv) == 1:
        forward(sys.stdin.buffer.read(), now)
    for path in sys.argv[1:]:
        with open(path, "rb") as f:
            forward(f.read(), now)


def forward(data, now):
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    text = data.decode()
    decoder = json.JSONDecoder()
    out = sys.stdout
    pos, end = 0, len(text)
    while True:
        while pos < end and text[pos] in " \t\r\n":
            pos += 1
        if pos >= end:
            break
        value, pos = decoder.raw_decode(text, pos)
        fs, event_id = findings(value)
        for f in fs:
            out.write(json.dumps(record(f, "cli", event_id, now), separators=(",", ":")))
            out.write("\n")


main()
