"""Open the metadata KV named by a --meta spec: ``lmdb:DIR`` (embedded) or
``etcd://host:port[,host:port...]`` (replicated)."""

from __future__ import annotations

from meta.api import KV


def open_kv(spec: str) -> KV:
    if spec.startswith("lmdb:"):
        from meta.lmdb_kv import LmdbKV

        return LmdbKV(spec[len("lmdb:") :])
    if spec.startswith("etcd://"):
        from meta.etcd_kv import EtcdKV

        return EtcdKV.from_spec(spec)
    raise ValueError(f"unknown metadata store {spec!r}: use lmdb:DIR or etcd://host:port")
