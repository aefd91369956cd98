"""The integration suite runs twice: against `cairn serve` and against a local cluster
(4 storage nodes, R=3, W=2, one gateway), since both must behave the same to a client.
CAIRN_TEST_CLUSTER=0 runs only the embedded server (quicker while developing)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.cluster_util import CairnCluster
from tests.server import CairnServer

TARGETS = ["serve"] + (["cluster"] if os.environ.get("CAIRN_TEST_CLUSTER", "1") != "0" else [])


@pytest.fixture(scope="session", params=TARGETS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CairnServer | CairnCluster]:
    if request.param == "serve":
        srv: CairnServer | CairnCluster = CairnServer(tmp_path_factory.mktemp("cairn") / "data").start()
    else:
        srv = CairnCluster(tmp_path_factory.mktemp("cluster")).start()
    yield srv
    srv.stop()
