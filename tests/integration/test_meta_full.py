"""A full metadata store (issue 14, finding 8): a real 1 MiB LMDB map, filled by boto3
PUTs. Writes are refused 503 SlowDown (retryable) with one clear log line, never 500;
nothing changes; reads go on; the room left is a metric."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import make_client
from tests.integration.helpers import get_bytes, status_of
from tests.server import CairnServer, free_port

FULL_LINE = "metadata store full: raise --meta-map-size"


def _free_bytes(metrics_port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
    m = re.search(r"^cairn_meta_free_bytes (\S+)$", text, re.MULTILINE)
    assert m, text
    return float(m.group(1))


def test_full_map_answers_slow_down_and_changes_nothing(tmp_path: Path) -> None:
    metrics_port = free_port()
    srv = CairnServer(
        tmp_path / "data",
        extra_args=["--meta-map-size", "1MiB", "--metrics-port", str(metrics_port)],
    )
    srv.start()
    try:
        s3 = make_client(srv)
        s3.create_bucket(Bucket="full")
        free_at_start = _free_bytes(metrics_port)
        assert 0 < free_at_start < 1 << 20
        body = bytes(range(256)) * 16  # 4 KiB, stored inline in the metadata
        stored: list[str] = []
        refusal: ClientError | None = None
        for i in range(1000):  # 4 MiB of inline bodies cannot fit a 1 MiB map
            key = f"k{i:04d}"
            try:
                s3.put_object(Bucket="full", Key=key, Body=body, Metadata={"n": str(i)})
            except ClientError as exc:
                refusal = exc
                break
            stored.append(key)
        assert refusal is not None, "the map never filled"
        assert refusal.response["Error"]["Code"] == "SlowDown"
        assert status_of(refusal.response) == 503
        refused_key = f"k{len(stored):04d}"

        # Nothing changed: the refused object is absent, an overwrite keeps the old one,
        # a delete of a stored object is refused or done, never half done.
        with pytest.raises(ClientError) as missing:
            s3.head_object(Bucket="full", Key=refused_key)
        assert status_of(missing.value.response) == 404
        with pytest.raises(ClientError) as again:
            s3.put_object(Bucket="full", Key=stored[0], Body=b"new" * 2000)
        assert again.value.response["Error"]["Code"] == "SlowDown"
        for i, key in enumerate(stored):
            assert get_bytes(s3, "full", key) == body
            assert s3.head_object(Bucket="full", Key=key)["Metadata"] == {"n": str(i)}
        listed = s3.list_objects_v2(Bucket="full", MaxKeys=1000)
        assert [o["Key"] for o in listed.get("Contents", [])] == stored

        time.sleep(11)  # one reading of the gauge later
        assert _free_bytes(metrics_port) < free_at_start
    finally:
        srv.stop()
    log = srv.log_path.read_text()
    assert log.count(FULL_LINE) == 1, log[-3000:]
    assert "InternalError" not in log
    assert "Traceback" not in log
