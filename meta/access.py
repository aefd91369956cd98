"""Access keys in metadata: every gateway of a cluster authenticates the same keys.

    K<access key>   {"v": 2, "user": <user id>, "secret": <sealed> or null,
                     "buckets": {"*" or bucket: ["read", "write", "owner"]}, "created_ms": ...}

A key belongs to a user (meta.users) and may be narrowed to some buckets, with read, write
or owner rights on each (Garage's model): ``rights(bucket)`` is the entry for that bucket,
else the ``"*"`` entry, else nothing. SigV4 needs the secret itself (an HMAC key), so it
is stored, sealed under the master key (meta.sealing) and never logged; the bootstrap key
(from a gateway's environment) is recorded with no secret at all.

Records of the single-owner days, ``{"access_key", "secret": <plain text>, "buckets":
["*"] or [names]}``, still load: they belong to the bootstrap user, with every right on the
buckets they name, and ``AccessKeys.reseal`` seals their secrets in place
(and re-seals secrets of an older master key after a rotation).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from meta.api import KV, Txn, TxnConflict
from meta.keys import ACCESSKEY, access_key_key, prefix_end
from meta.records import now_ms
from meta.sealing import MasterKey, MasterKeyError

RIGHTS = ("read", "write", "owner")
ALL_RIGHTS = frozenset(RIGHTS)
ALL_BUCKETS = "*"
# The user of the bootstrap key, and of everything made before there were users: its id
# is the owner id Cairn has always reported, so existing data keeps its owner.
BOOTSTRAP_USER_ID = "cairn"
BOOTSTRAP_USER_NAME = "cairn"
RECORD_VERSION = 2


class AccessError(ValueError):
    """An admin request that cannot be done (unknown key, bad rights...): its message is
    for the operator."""


def _secret_context(access_key: str) -> bytes:
    """Associated data of a sealed secret: it opens only in its own key's record."""
    return b"cairn-access-key:" + access_key.encode()


@dataclass
class AccessKey:
    access_key: str
    user_id: str
    # A sealed value (dict), a plain-text secret of an old record (str), or None (the
    # bootstrap key's record: its secret lives in the gateways' environment only).
    secret: dict[str, str] | str | None
    buckets: dict[str, list[str]] = field(default_factory=lambda: {ALL_BUCKETS: list(RIGHTS)})
    created_ms: int = field(default_factory=now_ms)
    bootstrap: bool = False

    def rights(self, bucket: str) -> frozenset[str]:
        granted = self.buckets.get(bucket, self.buckets.get(ALL_BUCKETS, ()))
        return frozenset(granted)

    def open_secret(self, master: MasterKey | None) -> str | None:
        """The plain secret; None for the bootstrap record. A sealed secret needs the
        master key (MasterKeyError without it or with the wrong one)."""
        if self.secret is None or isinstance(self.secret, str):
            return self.secret
        if master is None:
            raise MasterKeyError("a sealed secret needs the master key")
        return master.open(self.secret, _secret_context(self.access_key)).decode()

    @property
    def sealed(self) -> bool:
        return isinstance(self.secret, dict)

    def to_bytes(self) -> bytes:
        return json.dumps(
            {
                "v": RECORD_VERSION,
                "user": self.user_id,
                "secret": self.secret,
                "buckets": self.buckets,
                "created_ms": self.created_ms,
                "bootstrap": self.bootstrap,
            },
            sort_keys=True,
        ).encode()

    @classmethod
    def from_bytes(cls, access_key: str, raw: bytes) -> AccessKey:
        d: dict[str, Any] = json.loads(raw)
        if d.get("v") != RECORD_VERSION:  # a record of the single-owner days
            return cls(
                access_key,
                BOOTSTRAP_USER_ID,
                d.get("secret"),
                {b: list(RIGHTS) for b in d.get("buckets") or [ALL_BUCKETS]},
                d.get("created_ms", 0),
            )
        return cls(
            access_key,
            d["user"],
            d.get("secret"),
            {b: list(r) for b, r in d.get("buckets", {}).items()},
            d.get("created_ms", 0),
            bool(d.get("bootstrap", False)),
        )


def new_key_pair() -> tuple[str, str]:
    alphabet = string.ascii_uppercase + string.digits
    access = "CAIRN" + "".join(secrets.choice(alphabet) for _ in range(15))
    return access, secrets.token_urlsafe(30)[:40]


def grants_for(buckets: Iterable[str] | None, rights: Iterable[str] | None) -> dict[str, list[str]]:
    """The ``buckets`` map of a new key: no buckets means every bucket; no rights means
    all of them (what `key create --bucket B` always meant)."""
    chosen = checked_rights(rights)
    return {checked_bucket(b): chosen for b in (list(buckets or []) or [ALL_BUCKETS])}


def checked_bucket(bucket: str) -> str:
    """A bucket name to grant on, or ``*`` (every bucket)."""
    if bucket != ALL_BUCKETS and (
        not bucket or len(bucket) > 255 or any(c.isspace() or c in "/*" for c in bucket)
    ):
        raise AccessError(f"invalid bucket name {bucket!r} (or '*' for every bucket)")
    return bucket


def checked_rights(rights: Iterable[str] | None) -> list[str]:
    chosen = set(rights or RIGHTS)
    unknown = chosen - ALL_RIGHTS
    if unknown:
        raise AccessError(f"unknown right(s) {', '.join(sorted(unknown))}: use {RIGHTS}")
    return [r for r in RIGHTS if r in chosen]


class AccessKeys:
    """The key records. Secrets are sealed with ``master`` when written; listing needs no
    master key (secrets stay sealed until a gateway opens them)."""

    def __init__(self, kv: KV, master: MasterKey | None = None) -> None:
        self.kv = kv
        self.master = master

    def _seal(self, access: str, secret: str) -> dict[str, str]:
        if self.master is None:
            raise AccessError("making a key needs the master key (--master-key-file)")
        return self.master.seal(secret.encode(), _secret_context(access))

    async def create(
        self,
        user_id: str = BOOTSTRAP_USER_ID,
        buckets: dict[str, list[str]] | None = None,
        *,
        pair: tuple[str, str] | None = None,
        guard: tuple[bytes, bytes | None] | None = None,
    ) -> tuple[AccessKey, str]:
        """A new key of ``user_id``: the record and its plain secret (shown once).
        ``guard`` is a compare the commit also needs (the user's record unchanged)."""
        access, secret = pair or new_key_pair()
        key = AccessKey(
            access, user_id, self._seal(access, secret), buckets or grants_for(None, None)
        )
        txn = Txn().expect(access_key_key(access), None).put(access_key_key(access), key.to_bytes())
        if guard is not None:
            txn.expect(*guard)
        try:
            await self.kv.commit(txn)
        except TxnConflict:
            raise AccessError(f"access key {access} exists, or its user changed") from None
        return key, secret

    async def get(self, access: str) -> AccessKey | None:
        raw = await self.kv.get(access_key_key(access))
        return None if raw is None else AccessKey.from_bytes(access, raw)

    async def _update(self, access: str, change) -> AccessKey:  # type: ignore[no-untyped-def]
        """Read, change, compare-and-swap; retried when another admin changed it between."""
        for _ in range(10):
            raw = await self.kv.get(access_key_key(access))
            if raw is None:
                raise AccessError(f"no such key: {access}")
            key = AccessKey.from_bytes(access, raw)
            change(key)
            try:
                k = access_key_key(access)
                await self.kv.commit(Txn().expect(k, raw).put(k, key.to_bytes()))
                return key
            except TxnConflict:
                continue
        raise AccessError(f"access key {access} keeps changing; try again")

    async def allow(self, access: str, bucket: str, rights: Iterable[str] | None) -> AccessKey:
        """Add rights on a bucket (``*``: every bucket) to what the key has there."""
        added = checked_rights(rights)
        checked_bucket(bucket)

        def change(key: AccessKey) -> None:
            _refuse_bootstrap(key, "allow")
            now = key.rights(bucket) | set(added)
            key.buckets[bucket] = [r for r in RIGHTS if r in now]

        return await self._update(access, change)

    async def deny(self, access: str, bucket: str, rights: Iterable[str] | None) -> AccessKey:
        """Take rights on a bucket (``*``: the every-bucket entry) away; a bucket left with
        nothing keeps an empty entry when the key has an every-bucket default to shadow."""
        taken = set(checked_rights(rights))
        checked_bucket(bucket)

        def change(key: AccessKey) -> None:
            _refuse_bootstrap(key, "deny")
            left = [r for r in RIGHTS if r in key.rights(bucket) - taken]
            if left or (bucket != ALL_BUCKETS and ALL_BUCKETS in key.buckets):
                key.buckets[bucket] = left
            else:
                key.buckets.pop(bucket, None)

        return await self._update(access, change)

    async def rotate(self, access: str) -> tuple[AccessKey, str]:
        """A new secret for the key; the old one stops working."""
        _, secret = new_key_pair()

        def change(key: AccessKey) -> None:
            _refuse_bootstrap(key, "rotate")
            key.secret = self._seal(access, secret)

        return await self._update(access, change), secret

    async def delete(self, access: str) -> AccessKey | None:
        """Delete a key; returns what it was (None: there was none). Deleting the bootstrap
        key's record only tidies the listing (say, after the environment's key changed):
        gateways accept the key while their environment names it, and record it again at
        their next start."""
        k = access_key_key(access)
        raw = await self.kv.get(k)
        if raw is None:
            return None
        await self.kv.commit(Txn().expect(k, raw).delete(k))
        return AccessKey.from_bytes(access, raw)

    async def list(self) -> list[AccessKey]:
        rows = await self.kv.scan(ACCESSKEY, prefix_end(ACCESSKEY), limit=1_000_000)
        return [AccessKey.from_bytes(k[len(ACCESSKEY) :].decode(), v) for k, v in rows]

    async def record_bootstrap(self, access: str) -> None:
        """Record the bootstrap key (its access id, never its secret) so that admins see it;
        idempotent, and a no-op when a record of that id exists already."""
        key = AccessKey(access, BOOTSTRAP_USER_ID, None, grants_for(None, None), bootstrap=True)
        k = access_key_key(access)
        with contextlib.suppress(TxnConflict):
            await self.kv.commit(Txn().expect(k, None).put(k, key.to_bytes()))

    async def reseal(self) -> int:
        """Seal the plain-text secrets of old records, and re-seal secrets sealed under an
        older master key (after a rotation), in place; returns how many were changed."""
        master = self.master
        if master is None:
            return 0

        def stale(key: AccessKey) -> bool:
            if isinstance(key.secret, dict):
                return key.secret.get("kid") != master.key_id
            return isinstance(key.secret, str)

        def change(key: AccessKey) -> None:
            if stale(key):
                plain = key.open_secret(master)
                key.secret = self._seal(key.access_key, plain or "")

        todo = [k.access_key for k in await self.list() if stale(k)]
        changed = 0
        for access in todo:
            try:
                await self._update(access, change)
                changed += 1
            except (AccessError, MasterKeyError):  # deleted meanwhile; a key we lack
                continue
        return changed


def _refuse_bootstrap(key: AccessKey, what: str) -> None:
    if key.bootstrap:
        raise AccessError(
            f"{key.access_key} is the bootstrap key: it comes from the gateways' environment "
            f"(CAIRN_ACCESS_KEY / CAIRN_SECRET_KEY) and cannot be changed here ({what})"
        )


def summarize(buckets: Mapping[str, list[str]]) -> str:
    """``*`` for an every-bucket, every-right key; else ``bucket:read+write,...``."""
    if dict(buckets) == {ALL_BUCKETS: list(RIGHTS)}:
        return ALL_BUCKETS
    return ",".join(f"{b}:{'+'.join(r) or 'none'}" for b, r in sorted(buckets.items()))
