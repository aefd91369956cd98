"""Lifecycle against object lock, on a real `cairn serve` with a scaled day: a rule that
expires current and noncurrent versions after 1 day removes every unlocked version and
leaves each version under COMPLIANCE or GOVERNANCE retention or a legal hold readable by
its id, byte for byte; the refusals are counted in ``cairn_lifecycle_skipped``; and the
job keeps going past them (an object written afterwards still expires)."""

from __future__ import annotations

import datetime as dt
import os
import time

from tests.conftest import make_client
from tests.integration.helpers import unique
from tests.integration.test_lifecycle import DAY, metric, wait_for

RULE = {
    "ID": "expire-all",
    "Filter": {"Prefix": ""},
    "Status": "Enabled",
    "Expiration": {"Days": 1},
    "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
}


def _versions(s3, bucket: str) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(key, version id) of the versions and of the delete markers, all pages."""
    versions, markers = set(), set()
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        versions |= {(v["Key"], v["VersionId"]) for v in page.get("Versions", [])}
        markers |= {(m["Key"], m["VersionId"]) for m in page.get("DeleteMarkers", [])}
    return versions, markers


def test_locked_versions_survive_lifecycle(lc_server) -> None:
    s3 = make_client(lc_server)
    bucket = unique("lclock")
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)  # real days: far off here
    lock_args = {
        "comp": {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": until},
        "gov": {"ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": until},
        "held": {"ObjectLockLegalHoldStatus": "ON"},
    }
    bodies: dict[tuple[str, str], bytes] = {}

    def put(key: str, **kw) -> str:
        body = os.urandom(100 + len(bodies))
        vid = s3.put_object(Bucket=bucket, Key=key, Body=body, **kw)["VersionId"]
        bodies[(key, vid)] = body
        return vid

    locked: set[tuple[str, str]] = set()
    for mode, args in lock_args.items():
        # A locked version made noncurrent by an unlocked overwrite ...
        locked.add((f"old-{mode}", put(f"old-{mode}", **args)))
        put(f"old-{mode}")
        # ... and a locked current version, which expiry hides behind a marker.
        locked.add((f"cur-{mode}", put(f"cur-{mode}", **args)))
    # Unlocked keys: a noncurrent version and a current one.
    put("free")
    put("free")
    put("lone")
    all_versions = set(bodies)
    assert _versions(s3, bucket)[0] == all_versions

    skipped = metric(lc_server, "cairn_lifecycle_skipped")
    runs = metric(lc_server, "cairn_lifecycle_runs")
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [RULE]})
    # Day 1: every current version is hidden behind a marker; a day later the noncurrent
    # unlocked versions go, then the markers left alone. What is locked stays.
    wait_for(lambda: _versions(s3, bucket)[0] == locked, timeout=10 * DAY)
    wait_for(
        lambda: {k for k, _ in _versions(s3, bucket)[1]} == {k for k, _ in locked},
        timeout=6 * DAY,
    )
    time.sleep(2 * DAY)  # several more runs: they keep refusing, and nothing else changes
    versions, markers = _versions(s3, bucket)
    assert versions == locked
    assert len(markers) == len(locked)  # one marker over each locked key, no more
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    for key, vid in sorted(locked):
        got = s3.get_object(Bucket=bucket, Key=key, VersionId=vid)
        assert got["Body"].read() == bodies[(key, vid)], key
    vid_of = dict(locked)
    for key, mode in (("old-comp", "COMPLIANCE"), ("old-gov", "GOVERNANCE")):
        got = s3.get_object_retention(Bucket=bucket, Key=key, VersionId=vid_of[key])
        assert got["Retention"]["Mode"] == mode
    held = s3.get_object_legal_hold(Bucket=bucket, Key="old-held", VersionId=vid_of["old-held"])
    assert held["LegalHold"] == {"Status": "ON"}

    # Each run refused each locked version once it was due: counted.
    assert metric(lc_server, "cairn_lifecycle_skipped") >= skipped + len(locked)
    assert metric(lc_server, "cairn_lifecycle_runs") > runs

    # The job keeps running past the refusals: a later unlocked object expires, history
    # and all.
    later = {("later", put("later")), ("later", put("later"))}
    assert later <= _versions(s3, bucket)[0]
    wait_for(lambda: _versions(s3, bucket)[0] == locked, timeout=10 * DAY)
    wait_for(lambda: "later" not in {k for k, _ in _versions(s3, bucket)[1]}, timeout=6 * DAY)
    for key, vid in sorted(locked):
        assert (
            s3.get_object(Bucket=bucket, Key=key, VersionId=vid)["Body"].read()
            == bodies[(key, vid)]
        )
