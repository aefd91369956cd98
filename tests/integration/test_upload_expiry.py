"""Abandoned multipart uploads are aborted after --upload-expiry, and GC then removes
their parts' blocks: an upload nobody finishes leaves nothing behind."""

from __future__ import annotations

import os
import time

import lmdb

from tests.conftest import make_client


def _blocks(server) -> int:
    env = lmdb.open(str(server.data / "blocks" / "node-0"), readonly=True, lock=False)
    try:
        # Block ids are the 32-byte keys (the main database also names the CRC database).
        with env.begin() as txn:
            return sum(1 for k in txn.cursor().iternext(values=False) if len(k) == 32)
    finally:
        env.close()


def test_abandoned_upload_is_aborted_and_collected(private_server) -> None:
    # The upload and its part are written under the default expiry (7 days) and counted;
    # only then does a restart shorten the expiry. A short expiry from the start raced the
    # part's PUT on a loaded CI machine (NoSuchUpload on the part, once, at 1 s).
    private_server.start()
    s3 = make_client(private_server)
    s3.create_bucket(Bucket="bkt")
    kept = os.urandom(5 << 20)
    s3.put_object(Bucket="bkt", Key="kept", Body=kept)
    upload = s3.create_multipart_upload(Bucket="bkt", Key="abandoned")["UploadId"]
    s3.upload_part(
        Bucket="bkt", Key="abandoned", UploadId=upload, PartNumber=1, Body=os.urandom(5 << 20)
    )
    assert _blocks(private_server) == 4  # 2 blocks of the object, 2 of the part

    private_server.extra_args = ["--upload-expiry", "1", "--gc-interval", "0.2", "--gc-grace", "0"]
    private_server.restart()
    s3 = make_client(private_server)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and (
        s3.list_multipart_uploads(Bucket="bkt").get("Uploads") or _blocks(private_server) > 2
    ):
        time.sleep(0.2)
    assert s3.list_multipart_uploads(Bucket="bkt").get("Uploads") is None
    assert _blocks(private_server) == 2
    assert s3.get_object(Bucket="bkt", Key="kept")["Body"].read() == kept
