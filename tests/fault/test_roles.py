"""One housekeeper per cluster: the elected `cairn meta` leader, never a gateway.

A 3-node cluster on LMDB metadata with two gateways and one meta service, GC every 0.2 s
with no grace. A deleted object's block goes while the meta service runs; with it killed,
another deleted block stays however long the gateways run, and goes once it is back. Only
the meta service ever installs a layout.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from blockstore.address import block_id
from tests.cluster_util import CairnCluster
from tests.fault.conftest import make_s3, node_call

MiB = 1 << 20


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CairnCluster]:
    monkeypatch.delenv("CAIRN_CLUSTER_SECRET", raising=False)
    c = CairnCluster(
        tmp_path / "c",
        nodes=3,
        gateways=2,
        replicas=2,
        write_quorum=2,
        # INFO: the test reads the routine "installed layout" line from the logs.
        extra_args=["--gc-grace", "0", "--gc-interval", "0.2", "--log-level", "info"],
    )
    try:
        yield c.start()
    finally:
        c.stop()


def _stored(c: CairnCluster, bid: bytes) -> bool:
    return any(node_call(c, i, "has", [bid])[0] for i in range(c.nodes))


def _put_and_delete(c: CairnCluster, key: str) -> bytes:
    """Write a one-block object through one gateway, delete it through the other; returns
    the block's id."""
    body = os.urandom(MiB)
    writer, deleter = (make_s3(c) for _ in range(2))  # two clients: the two gateways
    writer.put_object(Bucket="roles", Key=key, Body=body)
    deleter.delete_object(Bucket="roles", Key=key)
    return block_id(body)


def _gone_within(c: CairnCluster, bid: bytes, seconds: float) -> float | None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        if not _stored(c, bid):
            return time.monotonic() - t0
        time.sleep(0.2)
    return None


def test_gc_runs_in_the_meta_leader_and_never_in_a_gateway(cluster: CairnCluster) -> None:
    c = cluster
    make_s3(c).create_bucket(Bucket="roles")

    first = _put_and_delete(c, "first")
    assert _gone_within(c, first, 15) is not None, "the meta leader never collected it"

    c.kill9("meta", 0)
    second = _put_and_delete(c, "second")
    assert _stored(c, second)
    time.sleep(3)  # fifteen GC intervals: a gateway that collected would have by now
    assert _stored(c, second), "a gateway ran GC"

    c.restart("meta", 0)
    # The restarted service leads once the killed one's lease (5 s) has expired.
    took = _gone_within(c, second, 30)
    print(f"\n[roles] block collected {took}s after the meta service came back")
    assert took is not None, "the restarted meta leader never collected it"

    logs = c.data / "logs"
    assert "installed layout" in (logs / "meta-0.log").read_text()
    for i in range(c.gateways):
        assert "installed layout" not in (logs / f"gateway-{i}.log").read_text()
