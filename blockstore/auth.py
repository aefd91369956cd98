"""Cluster-secret authentication of internal node traffic.

Every request to a storage node carries ``x-cairn-auth: <unix seconds>:<hex HMAC-SHA256>``
over the method, the path with its query, and the time. A node refuses requests without a
valid, fresh one, so a storage node is not an open door into the data. Block bodies need
no MAC: their id is their hash, and the node verifies it.
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "x-cairn-auth"
MAX_SKEW = 300


def sign(secret: str, method: str, path_qs: str, now: float | None = None) -> str:
    ts = str(int(now if now is not None else time.time()))
    mac = hmac.new(secret.encode(), f"{method}\n{path_qs}\n{ts}".encode(), hashlib.sha256)
    return f"{ts}:{mac.hexdigest()}"


def verify(
    secret: str, method: str, path_qs: str, value: str | None, now: float | None = None
) -> bool:
    if not value or ":" not in value:
        return False
    ts, _, mac = value.partition(":")
    if not ts.isdigit():
        return False
    t = now if now is not None else time.time()
    if abs(t - int(ts)) > MAX_SKEW:
        return False
    expected = sign(secret, method, path_qs, int(ts)).partition(":")[2]
    return hmac.compare_digest(expected, mac)
