"""Blocks of versions removed for good are collected by GC; versions that stay, and
versions hidden by delete markers, keep theirs (a real `cairn serve` with no GC grace)."""

from __future__ import annotations

import os

from tests.conftest import make_client
from tests.integration.helpers import get_bytes
from tests.integration.test_multipart import block_entries, wait_for_entries

SIZE = 100 << 10  # over the inline limit: one block per version


def test_gc_collects_removed_versions(private_server):
    private_server.extra_args = ["--gc-grace", "0", "--gc-interval", "0.2"]
    private_server.start()
    s3 = make_client(private_server)
    s3.create_bucket(Bucket="vgc")
    s3.put_bucket_versioning(Bucket="vgc", VersioningConfiguration={"Status": "Enabled"})
    one, two = os.urandom(SIZE), os.urandom(SIZE)
    v1 = s3.put_object(Bucket="vgc", Key="k", Body=one)["VersionId"]
    v2 = s3.put_object(Bucket="vgc", Key="k", Body=two)["VersionId"]
    marker = s3.delete_object(Bucket="vgc", Key="k")["VersionId"]
    # An overwrite and a delete marker remove nothing: both versions keep their blocks.
    assert wait_for_entries(private_server, 1, timeout=2) == 2
    assert get_bytes(s3, "vgc", "k", VersionId=v1) == one

    s3.delete_object(Bucket="vgc", Key="k", VersionId=v1)
    assert wait_for_entries(private_server, 1) == 1
    assert get_bytes(s3, "vgc", "k", VersionId=v2) == two

    # Suspended: a null write replaces the null version, whose block goes.
    s3.put_bucket_versioning(Bucket="vgc", VersioningConfiguration={"Status": "Suspended"})
    s3.put_object(Bucket="vgc", Key="k", Body=os.urandom(SIZE))
    assert wait_for_entries(private_server, 2) == 2
    last = os.urandom(SIZE)
    s3.put_object(Bucket="vgc", Key="k", Body=last)
    assert wait_for_entries(private_server, 2, timeout=3) == 2
    assert get_bytes(s3, "vgc", "k") == last

    for vid in (v2, marker, "null"):
        s3.delete_object(Bucket="vgc", Key="k", VersionId=vid)
    assert wait_for_entries(private_server, 0) == 0
    assert block_entries(private_server) == 0
    s3.delete_bucket(Bucket="vgc")
