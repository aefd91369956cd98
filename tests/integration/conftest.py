"""The integration suite runs three times, since every deployment must behave the same to
a client: against `cairn serve`; against a local cluster with LMDB metadata (4 storage
nodes, R=3, W=2, one gateway); and against the production shape: 3 etcd members, 4
nodes, 2 gateways (requests alternate between them) and 2 meta services.
CAIRN_TEST_CLUSTER=0 runs only the embedded server (quicker while developing)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from cairn.launcher import free_port
from tests.cluster_util import CairnCluster
from tests.integration.authz_util import User, new_user, user_client
from tests.integration.helpers import LIFECYCLE_DAY
from tests.server import CairnServer

TARGETS = ["serve"] + (
    ["cluster", "etcd-cluster"] if os.environ.get("CAIRN_TEST_CLUSTER", "1") != "0" else []
)


@pytest.fixture(scope="session", params=TARGETS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CairnServer | CairnCluster]:
    if request.param == "serve":
        srv: CairnServer | CairnCluster = CairnServer(
            tmp_path_factory.mktemp("cairn") / "data"
        ).start()
    elif request.param == "cluster":
        srv = CairnCluster(tmp_path_factory.mktemp("cluster")).start()
    else:
        srv = CairnCluster(
            tmp_path_factory.mktemp("etcd-cluster"),
            gateways=2,
            extra_args=["--etcd", "3", "--meta-services", "2"],
        ).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def lc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CairnServer]:
    """A `cairn serve` whose lifecycle days last LIFECYCLE_DAY seconds, with metrics (its
    port is ``metrics_port``); one per module, so each module's counters start at 0."""
    port = free_port()
    srv = CairnServer(
        tmp_path_factory.mktemp("lifecycle") / "data",
        extra_args=["--lifecycle-day-seconds", str(LIFECYCLE_DAY), "--metrics-port", str(port)],
    ).start()
    srv.metrics_port = port  # type: ignore[attr-defined]
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CairnServer]:
    """A `cairn serve` of the module's own, for tests that add users and policies."""
    server = CairnServer(tmp_path_factory.mktemp("srv") / "data").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bob(srv: CairnServer) -> User:
    """A second user on ``srv``, known to its worker before the first test."""
    user = new_user(srv, "bob")
    user_client(srv, user).list_buckets()
    return user
