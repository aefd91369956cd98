"""Metrics of `cairn serve` with 2 workers: bytes in and out per operation move by exactly
the bodies sent and received, whichever worker served them; per-bucket objects and bytes
follow puts, overwrites, copies, multipart uploads, deletes and versions; the GC backlog
counts the blocks that removals released."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import make_client
from tests.server import CairnServer, free_port

MiB = 1 << 20


def scrape(port: int) -> dict[str, float]:
    """Every sample of the metrics page: 'name{labels}' -> value."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    out = {}
    for line in text.splitlines():
        m = re.match(r"^([a-z0-9_]+(?:\{.*\})?) (\S+)$", line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def eventually(port: int, check: Callable[[dict[str, float]], bool], timeout: float = 20.0):
    """The metrics once ``check`` holds (the store's state is refreshed every few seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(port)
        if check(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.5)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    port = free_port()
    data = tmp_path_factory.mktemp("metrics") / "data"
    srv = CairnServer(data, workers=2, extra_args=["--metrics-port", str(port)]).start()
    yield srv, port
    srv.stop()


def test_bytes_in_and_out_per_operation(served) -> None:
    srv, port = served
    before = scrape(port)
    s3 = make_client(srv)
    s3.create_bucket(Bucket="bytes")
    sizes = [0, 1, 1000, 70_000, 300_000]
    for i, n in enumerate(sizes * 4):  # new clients spread over both workers
        make_client(srv).put_object(Bucket="bytes", Key=f"k{i}", Body=os.urandom(n))
    read = 0
    for i, n in enumerate(sizes):
        assert len(make_client(srv).get_object(Bucket="bytes", Key=f"k{i}")["Body"].read()) == n
        read += n
    s3.get_object(Bucket="bytes", Key="k4", Range="bytes=0-99")["Body"].read()
    put_in = 'cairn_s3_bytes_in_total{operation="PutObject"}'
    get_out = 'cairn_s3_bytes_out_total{operation="GetObject"}'

    def moved(name: str, m: dict[str, float] | None = None) -> float:
        return (after if m is None else m).get(name, 0.0) - before.get(name, 0.0)

    # Workers write their counts into the shared files once a second.
    after = eventually(
        port, lambda m: moved(put_in, m) == sum(sizes) * 4 and moved(get_out, m) == read + 100
    )

    assert moved(put_in) == sum(sizes) * 4
    assert moved(get_out) == read + 100
    assert moved('cairn_s3_requests_total{operation="PutObject",status="200"}') == 20
    assert moved('cairn_meta_seconds_count{op="commit"}') >= 21  # 20 heads and a bucket
    workers = [k for k in after if k.startswith("cairn_worker_resident_memory_bytes")]
    assert len(workers) == 2 and all(after[k] > 10 * MiB for k in workers)
    assert after["process_resident_memory_bytes"] > 0  # the supervising process


def test_bucket_usage_follows_every_write_and_removal(served) -> None:
    srv, port = served
    s3 = make_client(srv)
    s3.create_bucket(Bucket="usage")
    s3.put_object(Bucket="usage", Key="a", Body=b"a" * 100)
    s3.put_object(Bucket="usage", Key="b", Body=b"b" * 200_000)
    s3.put_object(Bucket="usage", Key="a", Body=b"A" * 50)  # overwrite: 50 replaces 100
    s3.copy_object(Bucket="usage", Key="c", CopySource={"Bucket": "usage", "Key": "b"})
    up = s3.create_multipart_upload(Bucket="usage", Key="mp")["UploadId"]
    parts = []
    for n, size in ((1, 5 * MiB), (2, 1234)):
        etag = s3.upload_part(
            Bucket="usage", Key="mp", UploadId=up, PartNumber=n, Body=os.urandom(size)
        )["ETag"]
        parts.append({"PartNumber": n, "ETag": etag})
    s3.complete_multipart_upload(
        Bucket="usage", Key="mp", UploadId=up, MultipartUpload={"Parts": parts}
    )
    s3.delete_object(Bucket="usage", Key="b")
    objects, size = 3, 50 + 200_000 + 5 * MiB + 1234  # a, c, mp
    s3.create_bucket(Bucket="versions")
    s3.put_bucket_versioning(Bucket="versions", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="versions", Key="k", Body=b"1" * 10)
    s3.put_object(Bucket="versions", Key="k", Body=b"2" * 20)
    s3.delete_object(Bucket="versions", Key="k")  # a delete marker: an object of 0 bytes

    def settled(m: dict[str, float]) -> bool:
        return (
            m.get('cairn_bucket_objects{bucket="usage"}') == objects
            and m.get('cairn_bucket_bytes{bucket="usage"}') == size
            and m.get('cairn_bucket_objects{bucket="versions"}') == 3
        )

    m = eventually(port, settled)
    assert m.get('cairn_bucket_objects{bucket="usage"}') == objects
    assert m.get('cairn_bucket_bytes{bucket="usage"}') == size
    assert m.get('cairn_bucket_objects{bucket="versions"}') == 3
    assert m.get('cairn_bucket_bytes{bucket="versions"}') == 30
    assert m["cairn_leader"] == 1 and m['cairn_cluster_node_up{node="node-0"}'] == 1
    assert m['cairn_cluster_node_blocks{node="node-0"}'] >= 4


def fresh(port: int) -> dict[str, float]:
    """The metrics once the store's state was taken after this call."""
    now = time.time()
    return eventually(port, lambda m: m.get("cairn_state_timestamp_seconds", 0) > now)


def test_gc_backlog_counts_released_blocks(served) -> None:
    """The blocks three large objects added to the node are exactly the blocks their
    deletion queues for GC (kept there for the 1 h grace period)."""
    srv, port = served
    s3 = make_client(srv)
    s3.create_bucket(Bucket="garbage")
    blocks = 'cairn_cluster_node_blocks{node="node-0"}'
    start = fresh(port)
    for i in range(3):
        s3.put_object(Bucket="garbage", Key=f"g{i}", Body=os.urandom(5 * MiB))
    m = fresh(port)
    added = m[blocks] - start[blocks]
    assert added >= 6  # 5 MiB each: at least two blocks each, none shared
    assert m['cairn_bucket_objects{bucket="garbage"}'] == 3
    # (A write queues its new blocks too, due after the upload grace period, in case it
    # dies before its commit; GC finds them referenced then and drops the entries.)
    before = m["cairn_gc_backlog_blocks"]
    for i in range(3):
        s3.delete_object(Bucket="garbage", Key=f"g{i}")
    m = fresh(port)
    assert m["cairn_gc_backlog_blocks"] == before + added
    assert m[blocks] == start[blocks] + added  # still stored: GC waits for the grace
    assert m['cairn_bucket_objects{bucket="garbage"}'] == 0


def test_metrics_port_is_not_the_s3_port(served, tmp_path: Path) -> None:
    srv, _ = served
    r = httpx.get(f"{srv.endpoint}/metrics", timeout=5)
    assert r.status_code in (403, 404) and b"<Code>" in r.content
