"""Fixtures and helpers for tests against a full Cairn cluster on etcd: 3 etcd members,
4 storage nodes (R=3, W=2), 2 gateways and 2 `cairn meta` housekeeping services, all real
processes started by `cairn cluster up` (tests/cluster_util.py)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.cluster_util import CairnCluster
from tests.etcd_cluster import agreed_leader

KiB = 1024
MiB = 1024 * KiB


def start_etcd_cluster(
    data: Path, mp: pytest.MonkeyPatch, extra: list[str] | None = None
) -> CairnCluster:
    cluster = CairnCluster(
        data,
        nodes=4,
        gateways=2,
        replicas=3,
        write_quorum=2,
        extra_args=["--etcd", "3", "--meta-services", "2", *(extra or [])],
    )
    # A cluster of its own secret: `cluster up` writes DIR/cluster-secret only when the
    # environment has none (another fixture's cluster may have set it).
    mp.delenv("CAIRN_CLUSTER_SECRET", raising=False)
    try:
        cluster.start()
        # CairnCluster.restart() starts processes with its own environment, which lacks the
        # cluster secret that `cluster up` handed its children (see tests/fault/conftest.py).
        mp.setenv("CAIRN_CLUSTER_SECRET", (data / "cluster-secret").read_text().strip())
    except BaseException:
        cluster.stop()
        raise
    return cluster


@pytest.fixture(scope="module")
def shared_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CairnCluster]:
    """One cluster for the tests of a module that leave it intact."""
    with pytest.MonkeyPatch.context() as mp:
        c = start_etcd_cluster(tmp_path_factory.mktemp("etcdcluster") / "c", mp)
        try:
            yield c
        finally:
            c.stop()


@pytest.fixture
def own_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CairnCluster]:
    """A cluster of the test's own, for tests that kill parts of it."""
    c = start_etcd_cluster(tmp_path / "c", monkeypatch)
    try:
        yield c
    finally:
        c.stop()


def s3_client(
    endpoint: str,
    access_key: str,
    secret_key: str,
    *,
    attempts: int = 1,
    read_timeout: float = 20,
    pool: int = 10,
):
    cfg = Config(
        s3={"addressing_style": "path"},
        retries={"max_attempts": attempts, "mode": "standard"},
        connect_timeout=5,
        read_timeout=read_timeout,
        max_pool_connections=pool,
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=cfg,
    )


def gateway_clients(cluster: CairnCluster, **kw: object) -> list:
    """One boto3 client per gateway, with the cluster's bootstrap key."""
    return [s3_client(e, cluster.access_key, cluster.secret_key, **kw) for e in cluster.endpoints]  # type: ignore[arg-type]


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code"))
    return type(exc).__name__


def http_status(exc: BaseException) -> int | None:
    if isinstance(exc, ClientError):
        return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return None


def listing(s3, bucket: str, prefix: str = "") -> dict[str, dict]:
    out: dict[str, dict] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = obj
    return out


# ---------------------------------------------------------------------------- etcd


def etcd_leader(cluster: CairnCluster, skip: set[int] = frozenset(), timeout: float = 15.0) -> int:
    """Index (among the cluster's etcd processes) of the member the answering members agree
    leads; waits for one. Members in `skip` (killed) are not asked."""
    members = cluster.processes("etcd")
    asked = {i: m["address"] for i, m in enumerate(members) if i not in skip}
    return agreed_leader(asked, timeout)


# ---------------------------------------------------------------------------- meta


def meta_status(cluster: CairnCluster, index: int, timeout: float = 1.0) -> dict | None:
    address = cluster.processes("meta")[index]["address"]
    try:
        with urllib.request.urlopen(f"http://{address}/status", timeout=timeout) as resp:
            return json.loads(resp.read())
    except (OSError, ValueError):
        return None


def meta_leader(cluster: CairnCluster, skip: set[int] = frozenset()) -> int | None:
    """Index of the meta service that says it leads (None if none does)."""
    for i in range(len(cluster.processes("meta"))):
        if i in skip:
            continue
        st = meta_status(cluster, i)
        if st is not None and st["leader"]:
            return i
    return None


def admin(
    cluster: CairnCluster, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """`cairn admin --meta <the cluster's etcd> ...` as a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "cairn.cli", "admin", "--meta", cluster.info["meta"], *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=check,
    )
