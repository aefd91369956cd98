"""Who a request's key is: the access keys a gateway accepts, the users they belong to, and
what each key may do on each bucket.

The bootstrap key comes from the gateway's environment and belongs to the bootstrap user
with every right; every other key and user lives in metadata (`cairn admin user|key ...`),
re-read every couple of seconds so that all gateways of a cluster follow a change (a new,
narrowed, rotated or deleted key; a deleted user) without restarts. Key secrets are stored
sealed (meta.sealing) and opened here with the master key.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from meta.access import (
    ALL_BUCKETS,
    ALL_RIGHTS,
    BOOTSTRAP_USER_ID,
    RIGHTS,
    AccessKey,
    AccessKeys,
)
from meta.sealing import MasterKey, MasterKeyError
from meta.users import BOOTSTRAP_USER, User, Users

log = logging.getLogger("cairn.keys")

_NO_RIGHTS: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Identity:
    """The caller behind an access key, as authorization needs it."""

    user_id: str  # the canonical user id (Owner/ID in S3 XML); also the "account id"
    display_name: str  # Owner/DisplayName
    access_key: str
    email: str | None = None  # for ACL grants by email
    # bucket (or "*": every other bucket) -> rights of the key there
    buckets: Mapping[str, frozenset[str]] = field(
        default_factory=lambda: MappingProxyType({ALL_BUCKETS: ALL_RIGHTS}), hash=False
    )

    def rights(self, bucket: str) -> frozenset[str]:
        """What the KEY may do on ``bucket`` by itself: a subset of {"read", "write",
        "owner"}. An unrestricted key has all three on every bucket."""
        found = self.buckets.get(bucket)
        if found is None:
            found = self.buckets.get(ALL_BUCKETS, _NO_RIGHTS)
        return found

    @property
    def unrestricted(self) -> bool:
        """Every right on every bucket (a key that may also create buckets)."""
        return all(r == ALL_RIGHTS for r in self.buckets.values()) and (ALL_BUCKETS in self.buckets)


def _identity(key: AccessKey, user: User) -> Identity:
    buckets = {b: frozenset(r) & ALL_RIGHTS for b, r in key.buckets.items()}
    return Identity(
        user.user_id, user.display_name, key.access_key, user.email, MappingProxyType(buckets)
    )


class KeyRing:
    def __init__(
        self,
        bootstrap: dict[str, str],
        store: AccessKeys | None = None,
        interval: float = 2.0,
        *,
        master: MasterKey | None = None,
        users: Users | None = None,
    ) -> None:
        self._bootstrap = {
            access: (
                secret,
                _identity(AccessKey(access, BOOTSTRAP_USER_ID, secret), BOOTSTRAP_USER),
            )
            for access, secret in bootstrap.items()
        }
        self._store = store
        self._users = users if users is not None or store is None else Users(store.kv, store)
        self._master = master if master is not None else (store.master if store else None)
        self._interval = interval
        self._keys: dict[str, tuple[str, Identity]] = dict(self._bootstrap)
        self._by_id: dict[str, User] = {BOOTSTRAP_USER_ID: BOOTSTRAP_USER}
        self._by_email: dict[str, User] = {}
        self._opened: dict[str, tuple[object, str]] = {}  # access -> (sealed value, secret)
        self._refreshed = 0.0
        self._started = False
        self._asked = asyncio.Lock()  # refresh_for: one look at a time

    # ------------------------------------------------------------------ lookups

    def secret_for(self, access_key: str) -> str | None:
        entry = self._keys.get(access_key)
        return entry[0] if entry else None

    def identity(self, access_key: str) -> Identity | None:
        entry = self._keys.get(access_key)
        return entry[1] if entry else None

    def user(self, user_id: str) -> tuple[str, str] | None:
        """(user id, display name) of a known user: ACL grantees and policy principals."""
        u = self._by_id.get(user_id)
        return (u.user_id, u.display_name) if u else None

    def user_by_email(self, email: str) -> tuple[str, str] | None:
        u = self._by_email.get(email.lower())
        return (u.user_id, u.display_name) if u else None

    def allows(self, access_key: str, bucket: str | None) -> bool:
        """Any right on the bucket (None: the service, which every key may list)."""
        ident = self.identity(access_key)
        return ident is not None and (bucket is None or bool(ident.rights(bucket)))

    # ------------------------------------------------------------------ refresh

    async def start(self) -> None:
        """Record the bootstrap user and key (never the secret), seal the plain-text
        secrets of older records and re-seal those of an older master key; then load."""
        if self._store is not None and self._users is not None:
            for access in self._bootstrap:
                await self._users.record_bootstrap(access)
            if not self._bootstrap:
                await self._users.record_bootstrap("")
            sealed = await self._store.reseal()
            if sealed:
                log.info(
                    "sealed %d key secret(s) under master key %s",
                    sealed,
                    self._master.key_id if self._master else "?",
                )
        self._started = True
        await self.refresh()

    async def refresh(self) -> None:
        if self._store is None or self._users is None:
            return
        self._refreshed = time.monotonic()
        users = await self._users.list()
        stored = await self._store.list()
        by_id = {u.user_id: u for u in users}
        by_id.setdefault(BOOTSTRAP_USER_ID, BOOTSTRAP_USER)
        keys: dict[str, tuple[str, Identity]] = {}
        opened: dict[str, tuple[object, str]] = {}
        for key in stored:
            user = by_id.get(key.user_id)
            secret = self._open(key, opened)
            if user is not None and secret is not None:  # keys of a deleted user: refused
                keys[key.access_key] = (secret, _identity(key, user))
        self._opened = opened
        self._by_id = by_id
        self._by_email = {u.email.lower(): u for u in users if u.email}
        self._keys = {**keys, **self._bootstrap}

    def _open(self, key: AccessKey, opened: dict[str, tuple[object, str]]) -> str | None:
        """The key's secret, opened once per sealed value (not on every refresh)."""
        if not isinstance(key.secret, dict):
            return key.secret
        cached = self._opened.get(key.access_key)
        if cached is not None and cached[0] == key.secret:
            opened[key.access_key] = cached
            return cached[1]
        try:
            secret = key.open_secret(self._master)
        except MasterKeyError as exc:
            log.error("access key %s: %s; the key is refused", key.access_key, exc)
            return None
        if secret is not None:
            opened[key.access_key] = (key.secret, secret)
        return secret

    async def refresh_for(self, access_key: str, *, known_too: bool = False) -> bool:
        """An unknown key may have just been created (or, with ``known_too``, a known key
        just rotated): look again (at most every 0.2 s), so a change works at once on
        every worker and gateway."""
        if access_key in self._keys and not known_too:
            return False
        await self._refresh_since(time.monotonic())
        return access_key in self._keys

    async def _refresh_since(self, asked: float) -> None:
        """A look at the store that began after ``asked``, at most one every 0.2 s: a
        caller inside the 0.2 s waits for the next look rather than being refused (a
        key rotated just after a look must still work at once), and callers that asked
        together share one look."""
        wait = self._refreshed + 0.2 - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        async with self._asked:
            if self._refreshed < asked:
                await self.refresh()

    async def learn_users(self, user_ids: set[str]) -> None:
        """Users named in stored records (owners, grantees) that this process does not
        know yet: look again (at most every 0.2 s), as for an unknown key."""
        if user_ids <= self._by_id.keys() or time.monotonic() - self._refreshed < 0.2:
            return
        await self.refresh()

    async def run(self) -> None:
        """Every interval: start (until it once succeeded), then refresh."""
        while True:
            try:
                await (self.refresh() if self._started else self.start())
            except Exception:  # noqa: BLE001 - keep the last known keys
                log.exception("could not refresh access keys")
            await asyncio.sleep(self._interval)


__all__ = ["RIGHTS", "Identity", "KeyRing"]
