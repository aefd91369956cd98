"""Encryption across a cluster: two gateways share one master key file (`cairn cluster
up` hands it to both), nodes store only sealed blocks, and a KMS key made while the
cluster runs serves on every gateway without a restart."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster_util import CairnCluster
from tests.conftest import make_client
from tests.integration.helpers import get_bytes
from tests.integration.test_sse import customer

MiB = 1 << 20


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CairnCluster]:
    c = CairnCluster(
        tmp_path_factory.mktemp("sse-cluster"), nodes=3, gateways=2, replicas=2,
        write_quorum=2, extra_args=["--allow-ssec-over-http"],
    ).start()  # fmt: skip
    yield c
    c.stop()


def test_every_mode_written_on_one_gateway_reads_on_the_other(cluster: CairnCluster) -> None:
    g0, g1 = make_client(cluster), make_client(cluster)  # round robin: the two gateways
    assert g0.meta.endpoint_url != g1.meta.endpoint_url
    cmd = [sys.executable, "-m", "cairn.cli", "admin", "--meta", cluster.info["meta"]]
    cmd += ["--master-key-file", str(cluster.data / "master.key"), "kms", "create", "ck"]
    subprocess.run(cmd, env=cluster._env(), check=True, capture_output=True, timeout=60)
    g0.create_bucket(Bucket="sse-cluster")
    body = os.urandom(5 * MiB + 123)
    key = customer(os.urandom(32))
    g0.put_object(Bucket="sse-cluster", Key="s3", Body=body, ServerSideEncryption="AES256")
    g0.put_object(
        Bucket="sse-cluster", Key="kms", Body=body, ServerSideEncryption="aws:kms",
        SSEKMSKeyId="ck",
    )  # fmt: skip
    g1.put_object(Bucket="sse-cluster", Key="c", Body=body, **key)
    for name, read in (("s3", {}), ("kms", {}), ("c", key)):
        for gw in (g0, g1):
            assert get_bytes(gw, "sse-cluster", name, **read) == body
            rng = get_bytes(gw, "sse-cluster", name, Range="bytes=4194300-4194400", **read)
            assert rng == body[4194300:4194401]
    # The nodes hold no plaintext: a 64-byte piece of the body is in no node's LMDB file,
    # while a piece of a plaintext object is (the check can fail).
    plain = os.urandom(MiB)
    g1.put_object(Bucket="sse-cluster", Key="plain", Body=plain)
    files = sorted(Path(cluster.data).glob("node-*/blocks/data.mdb"))
    assert len(files) == 3
    stored = [f.read_bytes() for f in files]
    assert not any(body[MiB : MiB + 64] in s for s in stored)
    assert any(plain[1000:1064] in s for s in stored)
