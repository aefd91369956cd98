"""Opening an existing metadata store for `cairn admin`, or saying clearly why not.

An admin command only reads or changes metadata that a server made: `--meta lmdb:DIR`
where DIR holds no LMDB environment is refused (opening it would create an empty store in
the wrong place and then report an empty cluster), and an etcd that does not answer within
a few seconds ends the command with one line instead of a gRPC traceback.
"""

from __future__ import annotations

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
