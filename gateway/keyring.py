"""The access keys a gateway accepts: a bootstrap key from its environment plus every key
in metadata (`cairn admin key create`), refreshed every couple of seconds so that all
gateways of a cluster follow a change without restarts."""

from __future__ import annotations

import asyncio
import logging
import time

from meta.access import AccessKey, AccessKeys

log = logging.getLogger("cairn.keys")


class KeyRing:
    def __init__(
        self, bootstrap: dict[str, str], store: AccessKeys | None = None, interval: float = 2.0
    ) -> None:
        self._bootstrap = {k: AccessKey(k, s) for k, s in bootstrap.items()}
        self._store = store
        self._interval = interval
        self._keys: dict[str, AccessKey] = dict(self._bootstrap)
        self._refreshed = 0.0

    def secret_for(self, access_key: str) -> str | None:
        key = self._keys.get(access_key)
        return key.secret if key else None

    def allows(self, access_key: str, bucket: str | None) -> bool:
        key = self._keys.get(access_key)
        return key is not None and key.allows(bucket)

    async def refresh(self) -> None:
        if self._store is None:
            return
        self._refreshed = time.monotonic()
        stored = {k.access_key: k for k in await self._store.list()}
        self._keys = {**stored, **self._bootstrap}

    async def refresh_for(self, access_key: str) -> bool:
        """An unknown key may have just been created: look again (at most every 0.2 s),
        so a new key works at once on every worker and gateway."""
        if access_key in self._keys or time.monotonic() - self._refreshed < 0.2:
            return False
        await self.refresh()
        return access_key in self._keys

    async def run(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:  # noqa: BLE001 - keep the last known keys
                log.exception("could not refresh access keys")
            await asyncio.sleep(self._interval)
