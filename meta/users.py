"""Users: S3's accounts. A user has a canonical id (Owner/ID in S3's XML, and the account
id of bucket policies), a display name (unique, what admins type) and optionally an email
address (for ACL grants by email). Users own buckets; their keys (meta.access) act for them.

    I<display name>   {"user_id": ..., "display_name": ..., "email": ... or null,
                       "created_ms": ..., "bootstrap": bool}

Records are keyed by name so that two admins cannot make the same name twice (the create
compares the key absent). The bootstrap user (the owner of the bootstrap key and of every
bucket made before there were users) is recorded by each gateway at start.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
from dataclasses import asdict, dataclass, field

from meta.access import (
    BOOTSTRAP_USER_ID,
    BOOTSTRAP_USER_NAME,
    AccessError,
    AccessKey,
    AccessKeys,
)
from meta.api import KV, Txn, TxnConflict
from meta.keys import BUCKET, USER, prefix_end, user_key
from meta.records import BucketRecord, now_ms, unpack_record

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+=,-]{0,63}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


@dataclass
class User:
    user_id: str
    display_name: str
    email: str | None = None
    created_ms: int = field(default_factory=now_ms)
    bootstrap: bool = False

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> User:
        d = json.loads(raw)
        return cls(
            d["user_id"],
            d["display_name"],
            d.get("email"),
            d.get("created_ms", 0),
            bool(d.get("bootstrap", False)),
        )


BOOTSTRAP_USER = User(BOOTSTRAP_USER_ID, BOOTSTRAP_USER_NAME, None, 0, bootstrap=True)


def new_user_id() -> str:
    """A canonical user id as S3 shows them: 64 hex digits."""
    return secrets.token_hex(32)


def bucket_owner(raw: bytes) -> str:
    """A bucket record's owner ("o", as BucketRecord writes it); buckets made before there
    were owners belong to the bootstrap user."""
    return str(unpack_record(raw).get("o") or BOOTSTRAP_USER_ID)


class Users:
    def __init__(self, kv: KV, keys: AccessKeys) -> None:
        self.kv = kv
        self.keys = keys

    async def list(self) -> list[User]:
        rows = await self.kv.scan(USER, prefix_end(USER), limit=1_000_000)
        return [User.from_bytes(v) for _, v in rows]

    async def find(self, who: str) -> User | None:
        """A user by display name or canonical id."""
        raw = await self.kv.get(user_key(who)) if who else None
        if raw is not None:
            return User.from_bytes(raw)
        return next((u for u in await self.list() if u.user_id == who), None)

    async def create(self, name: str, email: str | None = None) -> User:
        if not NAME.match(name):
            raise AccessError(
                f"invalid user name {name!r}: 1-64 letters, digits and _.@+=,- "
                "(starting with a letter or digit)"
            )
        if email is not None and not EMAIL.match(email):
            raise AccessError(f"invalid email address {email!r}")
        taken = {u.email.lower() for u in await self.list() if u.email}
        if email is not None and email.lower() in taken:
            raise AccessError(f"another user has the email address {email}")
        user = User(new_user_id(), name, email)
        k = user_key(name)
        try:
            await self.kv.commit(Txn().expect(k, None).put(k, user.to_bytes()))
        except TxnConflict:
            raise AccessError(f"user {name} exists") from None
        return user

    async def create_key(
        self, user: User, buckets: dict[str, list[str]] | None = None
    ) -> tuple[AccessKey, str]:
        """A key of ``user``; refused if the user was deleted meanwhile."""
        k = user_key(user.display_name)
        raw = await self.kv.get(k)
        if raw is None or User.from_bytes(raw).user_id != user.user_id:
            raise AccessError(f"no such user: {user.display_name}")
        return await self.keys.create(user.user_id, buckets, guard=(k, raw))

    async def owned_buckets(self, user_id: str) -> list[str]:
        rows = await self.kv.scan(BUCKET, prefix_end(BUCKET), limit=1_000_000)
        return [BucketRecord.from_bytes(v).name for _, v in rows if bucket_owner(v) == user_id]

    async def delete(self, who: str) -> tuple[User, list[str]]:
        """Delete a user and its keys; returns the user and the keys deleted. A user who
        owns buckets is refused: its buckets would have no owner."""
        user = await self.find(who)
        if user is None:
            raise AccessError(f"no such user: {who}")
        if user.bootstrap:
            raise AccessError(f"{user.display_name} is the bootstrap user; it cannot be deleted")
        owned = await self.owned_buckets(user.user_id)
        if owned:
            shown = ", ".join(owned[:10]) + (", ..." if len(owned) > 10 else "")
            raise AccessError(
                f"user {user.display_name} owns {len(owned)} bucket(s) ({shown}): delete them first"
            )
        k = user_key(user.display_name)
        raw = await self.kv.get(k)
        if raw is None:
            raise AccessError(f"no such user: {who}")
        # Keys of a user that does not exist are refused by every gateway, so the user's
        # record going is what takes effect; its keys are tidied right after.
        await self.kv.commit(Txn().expect(k, raw).delete(k))
        gone = [key.access_key for key in await self.keys.list() if key.user_id == user.user_id]
        for access in gone:
            await self.keys.delete(access)
        return user, gone

    async def record_bootstrap(self, access_key: str) -> None:
        """The bootstrap user and its key's id (no secret), written once; idempotent.
        Every gateway does this at start, so `user list` shows the bootstrap user."""
        k = user_key(BOOTSTRAP_USER_NAME)
        with contextlib.suppress(TxnConflict):
            await self.kv.commit(Txn().expect(k, None).put(k, BOOTSTRAP_USER.to_bytes()))
        if access_key:
            await self.keys.record_bootstrap(access_key)
