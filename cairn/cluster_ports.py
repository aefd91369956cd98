"""The ports of a `cairn cluster up` directory, drawn at its first start and kept in
DIR/ports.json, so that `up` after `down` (or after a crash) brings the same cluster back
on the same addresses: etcd members must, since each one's peers know it by its peer URL,
and nodes are registered in the metadata under their URL.

A restart must ask for the cluster the directory holds: a different number of nodes,
gateways, meta services or etcd members, or internal TLS switched, is refused with the
reason (a new directory is the way to a different cluster). So is a port that something
else took meanwhile.
"""

from __future__ import annotations

import argparse
import json
import secrets
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from cairn.exits import CairnExit, Exit

FILE = "ports.json"


@dataclass
class PortPlan:
    shape: dict[str, int | bool]  # what the cluster is made of (must match on restart)
    etcd: list[tuple[int, int]]  # (client, peer) per member
    etcd_token: str
    nodes: list[int]
    meta: list[int]
    gateways: list[int]
    restart: bool = False

    def save(self, data: Path) -> None:
        record = {k: v for k, v in asdict(self).items() if k != "restart"}
        (data / FILE).write_text(json.dumps(record, indent=2))


def shape_of(args: argparse.Namespace) -> dict[str, int | bool]:
    return {
        "nodes": args.nodes,
        "gateways": args.gateways,
        "meta_services": args.meta_services,
        "etcd": args.etcd,
        "internal_tls": bool(getattr(args, "internal_tls", True)),
    }


def _flags(shape: dict[str, int | bool]) -> str:
    tls = "" if shape.get("internal_tls", True) else " --no-internal-tls"
    return (
        f"--nodes {shape['nodes']} --gateways {shape['gateways']} "
        f"--meta-services {shape['meta_services']} --etcd {shape['etcd']}{tls}"
    )


def plan(data: Path, args: argparse.Namespace, draw: Callable[[], int]) -> PortPlan:
    """The recorded ports (a restart), or new ones from `draw()` (a first start)."""
    shape = shape_of(args)
    path = data / FILE
    if not path.exists():
        # A directory made ready beforehand (an empty node-0, say a mount point) is no
        # cluster yet; a node's store, the meta state or cluster.json are.
        if any((data / p).exists() for p in ("node-0/data.mdb", "meta", "cluster.json")):
            raise CairnExit(
                Exit.CLUSTER_REFUSED,
                f"{data} holds a cluster started before ports were recorded ({FILE}): it "
                "cannot be restarted on its old ports; use a new --data directory",
            )
        return PortPlan(
            shape,
            [(draw(), draw()) for _ in range(args.etcd)],
            "cairn-" + secrets.token_hex(4),
            [draw() for _ in range(args.nodes)],
            [draw() for _ in range(args.meta_services)],
            [draw() for _ in range(args.gateways)],
        )
    record = json.loads(path.read_text())
    if record["shape"] != shape:
        raise CairnExit(
            Exit.CLUSTER_REFUSED,
            f"{data} holds a cluster of {_flags(record['shape'])}, not {_flags(shape)}: "
            "restart it with the same options, or use a new --data directory",
        )
    found = PortPlan(
        record["shape"],
        [tuple(p) for p in record["etcd"]],  # type: ignore[misc]
        record["etcd_token"],
        record["nodes"],
        record["meta"],
        record["gateways"],
        restart=True,
    )
    _all_free(found)
    return found


def _all_free(found: PortPlan) -> None:
    roles = [(f"etcd-{i} client", c) for i, (c, _) in enumerate(found.etcd)]
    roles += [(f"etcd-{i} peer", p) for i, (_, p) in enumerate(found.etcd)]
    roles += [(f"node-{i}", p) for i, p in enumerate(found.nodes)]
    roles += [(f"meta-{i}", p) for i, p in enumerate(found.meta)]
    roles += [(f"gateway-{i}", p) for i, p in enumerate(found.gateways)]
    for role, port in roles:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                raise CairnExit(
                    Exit.CLUSTER_REFUSED,
                    f"port {port} of {role} is in use: is this cluster still running, or "
                    "did another program take the port? (`cairn cluster down --data DIR`)",
                ) from None
