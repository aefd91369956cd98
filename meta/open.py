"""Open the metadata KV named by a --meta spec: ``lmdb:DIR`` (embedded) or
``etcd://host:port[,host:port...]`` (replicated)."""

from __future__ import annotations

from meta.api import KV


def open_kv(spec: str, *, lmdb_map_size: int | None = None) -> KV:
    """``lmdb_map_size``: the LMDB map's size in bytes (--meta-map-size; None: the default)."""
    if spec.startswith("lmdb:"):
        from meta.lmdb_kv import DEFAULT_MAP_SIZE, LmdbKV

        return LmdbKV(spec[len("lmdb:") :], map_size=lmdb_map_size or DEFAULT_MAP_SIZE)
    if spec.startswith("etcd://"):
        from meta.etcd_kv import EtcdKV

        return EtcdKV.from_spec(spec)
    raise ValueError(f"unknown metadata store {spec!r}: use lmdb:DIR or etcd://host:port")
