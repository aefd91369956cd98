"""Access keys in metadata: every gateway of a cluster authenticates the same keys.

    K<access key>   {"secret": ..., "buckets": ["*"] or [names], "created_ms": ...}

SigV4 needs the secret itself (an HMAC key), so it is stored, never logged or printed
after creation.
"""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import asdict, dataclass, field

from meta.api import KV, Txn, TxnConflict
from meta.keys import ACCESSKEY, prefix_end
from meta.records import now_ms


@dataclass
class AccessKey:
    access_key: str
    secret: str
    buckets: list[str] = field(default_factory=lambda: ["*"])
    created_ms: int = field(default_factory=now_ms)

    def allows(self, bucket: str | None) -> bool:
        return bucket is None or "*" in self.buckets or bucket in self.buckets

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> AccessKey:
        return cls(**json.loads(raw))


def new_key_pair() -> tuple[str, str]:
    alphabet = string.ascii_uppercase + string.digits
    return "CAIRN" + "".join(secrets.choice(alphabet) for _ in range(15)), secrets.token_urlsafe(
        30
    )[:40]


class AccessKeys:
    def __init__(self, kv: KV) -> None:
        self.kv = kv

    async def create(
        self, buckets: list[str] | None = None, pair: tuple[str, str] | None = None
    ) -> AccessKey:
        access, secret = pair or new_key_pair()
        key = AccessKey(access, secret, buckets or ["*"])
        try:
            await self.kv.commit(
                Txn()
                .expect(ACCESSKEY + access.encode(), None)
                .put(ACCESSKEY + access.encode(), key.to_bytes())
            )
        except TxnConflict:
            raise ValueError(f"access key {access} exists") from None
        return key

    async def delete(self, access: str) -> bool:
        k = ACCESSKEY + access.encode()
        raw = await self.kv.get(k)
        if raw is None:
            return False
        await self.kv.commit(Txn().expect(k, raw).delete(k))
        return True

    async def list(self) -> list[AccessKey]:
        rows = await self.kv.scan(ACCESSKEY, prefix_end(ACCESSKEY), limit=1_000_000)
        return [AccessKey.from_bytes(v) for _, v in rows]
