"""The one content-address function: a block's id is the BLAKE3 hash of its bytes."""

from __future__ import annotations

import asyncio

from blake3 import blake3

ID_SIZE = 32
# Below this, hashing on the event loop is cheaper than a hop to a thread.
THREAD_THRESHOLD = 256 * 1024


def block_id(data: bytes | memoryview) -> bytes:
    return blake3(data).digest()


async def block_id_async(data: bytes | memoryview) -> bytes:
    if len(data) < THREAD_THRESHOLD:
        return block_id(data)
    return await asyncio.to_thread(block_id, data)
