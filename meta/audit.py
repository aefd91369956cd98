"""The audit trail: who changed users, keys, access policies or the layout, and when.

One record per change, ``H<time ms:8><random:4>`` -> a JSON object with ``time`` (ISO
8601, UTC), ``who`` (the S3 access key and user of a gateway request, or the OS user and
host of a `cairn admin` command), ``action`` (the S3 operation or admin command) and
``target`` (bucket, key, user or node). Records live in the metadata, so every gateway
and admin command of a cluster writes to the same trail, in time order; they never
hold a secret. `python -m cairn.audit --meta SPEC` prints them as JSON lines.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from meta import keys
from meta.api import KV, Txn


def _key(ms: int) -> bytes:
    return keys.AUDIT + keys.u64(ms) + os.urandom(4)


async def record(kv: KV, who: str, action: str, target: str) -> dict[str, Any]:
    """Append one entry (its own key: concurrent writers never conflict)."""
    txn = Txn()
    entry = add(txn, who, action, target)
    await kv.commit(txn)
    return entry


def add(txn: Txn, who: str, action: str, target: str) -> dict[str, Any]:
    """Put one entry into ``txn``: it is in the trail exactly if the change commits."""
    t = time.time()
    entry = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z",
        "who": who,
        "action": action,
        "target": target,
    }
    txn.put(_key(int(t * 1000)), json.dumps(entry).encode())
    return entry


async def entries(kv: KV, since_ms: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
    """Entries from ``since_ms`` on, oldest first."""
    start = keys.AUDIT + keys.u64(since_ms)
    rows = await kv.scan(start, keys.prefix_end(keys.AUDIT), limit=limit)
    return [json.loads(v) for _, v in rows]
