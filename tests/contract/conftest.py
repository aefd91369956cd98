"""Backends for the contract suites: one factory per backend name.

Every contract test runs once per name in ``KV_BACKENDS`` / ``BLOCK_BACKENDS``. To add a
backend (etcd for the KV, a networked node for blocks), write a factory class with the
same two methods and register it under a new name: the suites need no change.

A factory owns one durable location (a directory, an etcd key prefix, a node's data dir)
and opens fresh handles on it, so durability tests can close a handle and open another.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from blockstore.api import BlockStore
from meta.api import KV


class KVFactory(Protocol):
    async def open(self) -> KV:
        """A new handle on this factory's store (the same data every time)."""
        ...

    async def cleanup(self) -> None: ...


class BlockStoreFactory(Protocol):
    supports_raw_corruption: bool

    async def open(
        self, *, capacity: int | None = None, verify_puts: bool = True
    ) -> BlockStore: ...

    def corrupt(self, block_id: bytes, data: bytes) -> None:
        """Write data under block_id directly into the backing storage, bypassing checks.
        The store must be closed while this runs."""
        ...

    async def cleanup(self) -> None: ...


# ---------------------------------------------------------------------------- LMDB


class LmdbKVFactory:
    def __init__(self, root: Path) -> None:
        self.path = root / "kv"

    async def open(self) -> KV:
        from meta.lmdb_kv import LmdbKV

        return LmdbKV(self.path, map_size=1 << 30)

    async def cleanup(self) -> None:
        pass


class EtcdKVFactory:
    """A fresh key prefix on the session's single-member etcd (tests/etcd_cluster.py),
    started on first use; the prefix is wiped by cleanup, so tests stay isolated."""

    def __init__(self, root: Path) -> None:
        import uuid

        from tests.etcd_cluster import shared_cluster

        self.spec = shared_cluster().spec
        self.prefix = f"contract/{uuid.uuid4().hex}/".encode()

    async def open(self) -> KV:
        from meta.etcd_kv import EtcdKV

        return EtcdKV.from_spec(self.spec, prefix=self.prefix)

    async def cleanup(self) -> None:
        from meta.etcd_kv import EtcdKV

        kv = EtcdKV.from_spec(self.spec, prefix=self.prefix)
        try:
            await kv.delete_prefix()
        finally:
            await kv.close()


def _write_raw(path: Path, block_id: bytes, data: bytes) -> None:
    """Put data under block_id straight into a block store's LMDB file, bypassing checks."""
    import lmdb

    env = lmdb.open(str(path), map_size=1 << 40)
    try:
        with env.begin(write=True) as txn:
            txn.put(block_id, data)
    finally:
        env.close()


class LmdbBlockStoreFactory:
    supports_raw_corruption = True

    def __init__(self, root: Path) -> None:
        self.path = root / "blocks"

    async def open(self, *, capacity: int | None = None, verify_puts: bool = True) -> BlockStore:
        from blockstore.lmdb_store import LmdbBlockStore

        return LmdbBlockStore(
            self.path, capacity=capacity, map_size=1 << 30, verify_puts=verify_puts
        )

    def corrupt(self, block_id: bytes, data: bytes) -> None:
        _write_raw(self.path, block_id, data)

    async def cleanup(self) -> None:
        pass


class NodeBlockStoreFactory:
    """A real `cairn node` process on a free port, reached through HttpBlockStore."""

    supports_raw_corruption = True  # LMDB is multi-process: the test writes beside the node
    secret = "contract-cluster-secret"

    def __init__(self, root: Path) -> None:
        self.root = root / "node"
        self.procs: list[Any] = []

    async def open(self, *, capacity: int | None = None, verify_puts: bool = True) -> BlockStore:
        import asyncio
        import subprocess
        import sys

        from blockstore.client import HttpBlockStore
        from tests.server import free_port

        port = free_port()
        args = [
            sys.executable, "-m", "cairn.cli", "node", "--data", str(self.root),
            "--port", str(port), "--cluster-secret", self.secret,
            *(["--capacity", str(capacity)] if capacity is not None else []),
        ]  # fmt: skip
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        store = HttpBlockStore(f"http://127.0.0.1:{port}", self.secret)
        for _ in range(300):
            if await store.health(timeout=0.5):
                return store
            if proc.poll() is not None:
                break
            await asyncio.sleep(0.05)
        raise RuntimeError("cairn node did not start")

    def corrupt(self, block_id: bytes, data: bytes) -> None:
        _write_raw(self.root / "blocks", block_id, data)

    async def cleanup(self) -> None:
        for proc in self.procs:
            proc.terminate()
            proc.wait(10)


KV_BACKENDS: dict[str, Callable[[Path], Any]] = {
    "lmdb": LmdbKVFactory,
    "etcd": EtcdKVFactory,
}

BLOCK_BACKENDS: dict[str, Callable[[Path], Any]] = {
    "lmdb": LmdbBlockStoreFactory,
    "node": NodeBlockStoreFactory,
}


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session", autouse=True)
def _stop_shared_etcd() -> Iterator[None]:
    """Stops the shared etcd (if a test started it) when the session ends."""
    yield
    from tests.etcd_cluster import stop_shared_cluster

    stop_shared_cluster()


@pytest.fixture(params=sorted(KV_BACKENDS))
async def kv_factory(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[KVFactory]:
    factory = KV_BACKENDS[request.param](tmp_path)
    yield factory
    await factory.cleanup()


@pytest.fixture
async def kv(kv_factory: KVFactory) -> AsyncIterator[KV]:
    store = await kv_factory.open()
    yield store
    await store.close()


@pytest.fixture(params=sorted(BLOCK_BACKENDS))
async def block_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[BlockStoreFactory]:
    factory = BLOCK_BACKENDS[request.param](tmp_path)
    yield factory
    await factory.cleanup()


@pytest.fixture
async def block_store(block_factory: BlockStoreFactory) -> AsyncIterator[BlockStore]:
    store = await block_factory.open()
    yield store
    await store.close()
