"""Shared fixtures: a real `cairn serve` on a free port, boto3 clients, fresh buckets."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import urllib3
from botocore.config import Config

from tests.server import CairnServer

urllib3.disable_warnings()


def make_client(server: CairnServer, **config: object):
    cfg = Config(
        s3={"addressing_style": "path"},
        retries={"max_attempts": 1, "mode": "standard"},
        **config,  # type: ignore[arg-type]
    )
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name="us-east-1",
        config=cfg,
        verify=False,
    )


@pytest.fixture(scope="session", autouse=True)
def _no_leaked_clusters() -> Iterator[None]:
    """A test that fails between `cluster up` and its own teardown must not leave the
    cluster's processes running after the session."""
    yield
    from tests.cluster_util import STARTED

    for cluster in STARTED:
        cluster.stop()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CairnServer]:
    """One HTTP server for the whole session; tests isolate themselves by bucket."""
    srv = CairnServer(tmp_path_factory.mktemp("cairn") / "data").start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CairnServer]:
    srv = CairnServer(tmp_path_factory.mktemp("cairn-tls") / "data", tls=True).start()
    yield srv
    srv.stop()


@pytest.fixture
def s3(server: CairnServer):
    return make_client(server)


@pytest.fixture
def s3_tls(tls_server: CairnServer):
    return make_client(tls_server)


@pytest.fixture
def bucket(s3) -> Iterator[str]:
    """A fresh, uniquely named bucket, emptied and deleted afterwards."""
    name = f"test-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    yield name
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
            for obj in page.get("Contents", []):
                s3.delete_object(Bucket=name, Key=obj["Key"])
        s3.delete_bucket(Bucket=name)
    except Exception:
        pass


@pytest.fixture
def private_server(tmp_path: Path) -> Iterator[CairnServer]:
    """A server of the test's own, for restarts, crashes and other destructive tests."""
    srv = CairnServer(tmp_path / "data")
    yield srv
    srv.stop()
