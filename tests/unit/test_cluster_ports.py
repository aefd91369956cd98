"""`cluster up` on an existing directory: the same ports, or a refusal that says why."""

from __future__ import annotations

import argparse
import itertools
import json
import socket
from pathlib import Path

import pytest

from cairn.cluster_ports import plan
from cairn.exits import CairnExit, Exit
from cairn.launcher import free_port


def _args(**over: object) -> argparse.Namespace:
    base = {"nodes": 3, "gateways": 2, "meta_services": 1, "etcd": 3, "internal_tls": True}
    return argparse.Namespace(**(base | over))


def test_first_start_draws_and_records_every_port(tmp_path: Path) -> None:
    first = plan(tmp_path, _args(), free_port)
    first.save(tmp_path)
    drawn = [p for pair in first.etcd for p in pair] + first.nodes + first.meta + first.gateways
    assert len(drawn) == len(set(drawn)) == 3 * 2 + 3 + 1 + 2
    assert not first.restart
    again = plan(tmp_path, _args(), lambda: pytest.fail("a restart draws no port"))
    assert again.restart
    assert (again.etcd, again.nodes, again.meta, again.gateways, again.etcd_token) == (
        first.etcd, first.nodes, first.meta, first.gateways, first.etcd_token,
    )  # fmt: skip


@pytest.mark.parametrize(
    "change", [{"nodes": 4}, {"gateways": 1}, {"etcd": 0}, {"internal_tls": False}]
)
def test_a_restart_of_another_shape_is_refused_with_both_shapes(
    tmp_path: Path, change: dict[str, object]
) -> None:
    plan(tmp_path, _args(), free_port).save(tmp_path)
    with pytest.raises(CairnExit) as got:
        plan(tmp_path, _args(**change), free_port)
    assert got.value.code == Exit.CLUSTER_REFUSED
    assert "--nodes 3 --gateways 2 --meta-services 1 --etcd 3" in str(got.value)
    assert "restart it with the same options" in str(got.value)


def test_a_taken_port_is_named(tmp_path: Path) -> None:
    first = plan(tmp_path, _args(), free_port)
    first.save(tmp_path)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", first.gateways[1]))
        squatter.listen()
        with pytest.raises(CairnExit) as got:
            plan(tmp_path, _args(), free_port)
    assert got.value.code == Exit.CLUSTER_REFUSED
    assert f"port {first.gateways[1]} of gateway-1 is in use" in str(got.value)


def test_a_directory_from_before_ports_were_recorded_is_refused(tmp_path: Path) -> None:
    (tmp_path / "node-0").mkdir()
    (tmp_path / "node-0" / "data.mdb").write_bytes(b"")  # a node's store: a cluster ran here
    counter = itertools.count(20000)
    with pytest.raises(CairnExit, match="before ports were recorded"):
        plan(tmp_path, _args(), lambda: next(counter))
    assert not (tmp_path / "ports.json").exists()


def test_a_prepared_empty_directory_is_a_first_start(tmp_path: Path) -> None:
    """An empty node-0 made beforehand (a mount point for the node's disk) is no cluster."""
    (tmp_path / "node-0").mkdir()
    plan(tmp_path, _args(etcd=0), free_port).save(tmp_path)
    assert (tmp_path / "ports.json").exists()


def test_the_record_is_plain_json(tmp_path: Path) -> None:
    plan(tmp_path, _args(etcd=0), free_port).save(tmp_path)
    record = json.loads((tmp_path / "ports.json").read_text())
    assert record["shape"]["etcd"] == 0 and record["etcd"] == []
    assert set(record) == {"shape", "etcd", "etcd_token", "nodes", "meta", "gateways"}
