"""Prometheus metrics: requests of every worker, summed, on a port of their own."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import make_client
from tests.server import CairnServer, free_port


def _samples(text: str, name: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        m = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def test_metrics_sum_the_workers(tmp_path: Path) -> None:
    port = free_port()
    srv = CairnServer(tmp_path / "data", workers=2, extra_args=["--metrics-port", str(port)])
    srv.start()
    try:
        s3 = make_client(srv)
        s3.create_bucket(Bucket="metrics-test")
        for i in range(30):  # new connections spread over both workers
            make_client(srv).put_object(Bucket="metrics-test", Key=f"k{i}", Body=b"x" * i)
        for _ in range(5):
            with pytest.raises(ClientError):
                s3.get_object(Bucket="metrics-test", Key="missing")
        # Workers write their counts into the shared files once a second.
        deadline = time.monotonic() + 10
        while True:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            counts = _samples(text, "cairn_s3_requests_total")
            done = counts.get('operation="GetObject",status="404"') == 5
            done = done and counts.get('operation="PutObject",status="200"') == 30
            hist = _samples(text, "cairn_s3_request_seconds_count")
            if (done and hist.get('operation="PutObject"') == 30) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert counts['operation="PutObject",status="200"'] == 30
        assert counts['operation="GetObject",status="404"'] == 5
        assert counts['operation="CreateBucket",status="200"'] == 1
        hist = _samples(text, "cairn_s3_request_seconds_count")
        assert hist['operation="PutObject"'] == 30
        files = list((tmp_path / "data" / "metrics").glob("*.db"))
        pids = {f.stem.rsplit("_", 1)[-1] for f in files}
        assert len(pids) == 2, f"both workers recorded: {sorted(f.name for f in files)}"
        # The S3 endpoint itself has no /metrics: that is a bucket's path there.
        r = httpx.get(f"{srv.endpoint}/metrics", timeout=5)
        assert r.status_code == 404 and b"<Code>NoSuchBucket</Code>" in r.content
    finally:
        srv.stop()
