"""`cairn_blocks_missing` on a real `cairn serve` (2 block stores, R=2, repair every
second): an object whose block is deleted from both stores' LMDB files shows as missing
after a repair pass, a healthy object beside it does not, and once the damaged object is
deleted (its block no longer referenced) the gauge goes back to 0."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from blockstore.api import all_ids
from blockstore.lmdb_store import LmdbBlockStore
from tests.conftest import make_client
from tests.integration.test_metrics_usage import eventually
from tests.server import CairnServer, free_port

MISSING = "cairn_blocks_missing"


async def _ids(store_dir: Path) -> set[bytes]:
    store = LmdbBlockStore(store_dir, verify_puts=False)
    try:
        return {b async for page in all_ids(store) for b in page}
    finally:
        await store.close()


async def _delete(store_dir: Path, block_id: bytes) -> None:
    store = LmdbBlockStore(store_dir, verify_puts=False)
    try:
        await store.delete(block_id)
    finally:
        await store.close()


def test_missing_blocks_gauge_follows_repair(tmp_path_factory: pytest.TempPathFactory) -> None:
    port = free_port()
    server = CairnServer(
        tmp_path_factory.mktemp("missing") / "data", nodes=2,
        extra_args=["--replicas", "2", "--inline-max", "0", "--repair-interval", "1",
                    "--metrics-port", str(port)],
    ).start()  # fmt: skip
    try:
        s3 = make_client(server)
        s3.create_bucket(Bucket="lost-blocks")
        s3.put_object(Bucket="lost-blocks", Key="healthy", Body=os.urandom(5000))
        stores = [server.data / "blocks" / f"node-{i}" for i in range(2)]
        before = asyncio.run(_ids(stores[0]))
        s3.put_object(Bucket="lost-blocks", Key="damaged", Body=os.urandom(5000))
        (lost,) = asyncio.run(_ids(stores[0])) - before
        healthy = eventually(port, lambda m: m.get("cairn_repair_passes_total", 0) >= 1)
        assert healthy[MISSING] == 0

        for store in stores:
            asyncio.run(_delete(store, lost))
        damaged = eventually(port, lambda m: m.get(MISSING) == 1, timeout=30)
        assert damaged[MISSING] == 1, "the block on no store is counted once"
        assert damaged["cairn_under_replicated_blocks"] == 0, "nothing to copy it from"

        s3.delete_object(Bucket="lost-blocks", Key="damaged")
        mended = eventually(port, lambda m: m.get(MISSING) == 0, timeout=30)
        assert mended[MISSING] == 0
        assert s3.get_object(Bucket="lost-blocks", Key="healthy")["ContentLength"] == 5000
    finally:
        server.stop()
