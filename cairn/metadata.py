"""Opening an existing metadata store for `cairn admin`, or saying clearly why not.

An admin command only reads or changes metadata that a server made: `--meta lmdb:DIR`
where DIR holds no LMDB environment is refused (opening it would create an empty store in
the wrong place and then report an empty cluster), and an etcd that does not answer within
a few seconds ends the command with one line instead of a gRPC traceback.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from cairn.exits import CairnExit, Exit
from meta.api import KV

ETCD_TIMEOUT_S = 5.0  # an admin command waits this long for etcd before giving up


def serve_spec(data: str) -> str:
    """The --meta spec of a `cairn serve` data directory: lmdb:DATA/meta."""
    path = Path(data)
    if not (path / "meta" / "data.mdb").is_file():
        raise CairnExit(
            Exit.NO_METADATA, f"{path} is not a cairn serve data directory (no meta/data.mdb)"
        )
    return f"lmdb:{path.resolve() / 'meta'}"


def cluster_spec(args: argparse.Namespace) -> str:
    """`--cluster DIR` of a `cairn cluster up`: the --meta spec from DIR/cluster.json, and,
    unless given already, the cluster secret (DIR/cluster-secret) and the link TLS files
    in this process's environment, where the block clients look for them."""
    directory = Path(args.cluster)
    info = directory / "cluster.json"
    if not info.is_file():
        raise CairnExit(
            Exit.NO_METADATA,
            f"{directory} has no cluster.json: not a running `cairn cluster up` directory",
        )
    record = json.loads(info.read_text())
    secret = directory / "cluster-secret"
    if not args.cluster_secret and "CAIRN_CLUSTER_SECRET" not in os.environ and secret.exists():
        args.cluster_secret = secret.read_text().strip()
    tls = record.get("tls")
    if tls and "CAIRN_LINK_CA" not in os.environ:
        os.environ |= {"CAIRN_LINK_CA": tls["ca"], "CAIRN_LINK_CERT": tls["cert"]}
        os.environ["CAIRN_LINK_KEY"] = tls["key"]
    return str(record["meta"])


def open_existing(spec: str) -> KV:
    """The KV of `spec`, which must already exist (LMDB) or be reachable soon (etcd)."""
    if spec.startswith("lmdb:"):
        directory = Path(spec[len("lmdb:") :])
        if not (directory / "data.mdb").is_file():
            raise CairnExit(
                Exit.NO_METADATA,
                f"{directory} holds no Cairn metadata (no data.mdb); for a cairn serve data "
                "directory DATA give --data DATA or --meta lmdb:DATA/meta",
            )
        from meta.lmdb_kv import LmdbKV

        return LmdbKV(directory)
    if spec.startswith("etcd://"):
        from meta.etcd_kv import EtcdKV

        try:
            return EtcdKV.from_spec(spec, timeout=ETCD_TIMEOUT_S)
        except ValueError as exc:
            raise CairnExit(Exit.REFUSED, str(exc)) from None
    raise CairnExit(
        Exit.REFUSED, f"unknown metadata store {spec!r}: use lmdb:DIR or etcd://host:port"
    )
