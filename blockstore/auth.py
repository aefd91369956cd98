"""Signed requests on the links from gateways and meta services to storage nodes.

Every request to a storage node carries

    x-cairn-auth: <unix seconds>:<nonce>:<hex HMAC-SHA256>

over the method, the node's own address (``host:port`` of the URL it is registered at), the
path with its query, a hash of the body, the time and the nonce. The node recomputes it
with *its own* address and refuses what does not match, so a request signed for node A
cannot be replayed against node B; it keeps every nonce it accepted for as long as the
timestamp would stay fresh (``MAX_SKEW`` either side) and refuses a second use, so a
captured DELETE cannot be sent again, not even after the block was uploaded anew. The
nonces live in memory, so a node also refuses anything signed before the second it started:
a request captured before a restart cannot be replayed after it.

The body hash: a block PUT is bound by its path (``/blocks/<id>``), since the id is the
BLAKE3 of the content and the node re-hashes every block it stores; any other body (POST
/has) is bound by its SHA-256.

Per-node keys: each node verifies with its own key, ``HMAC(cluster secret, "cairn-node-key"
+ address)``. Gateways and meta services hold the cluster secret and derive the key of the
node they call; a node holds only its own key, so one compromised node cannot sign a
request that another node accepts.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections import deque
from urllib.parse import urlsplit

HEADER = "x-cairn-auth"
MAX_SKEW = 60
EMPTY_BODY = hashlib.sha256(b"").hexdigest()
_KEY_LABEL = b"cairn-node-key\n"


def address_of(url: str) -> str:
    """The ``host:port`` a signature binds: what the gateway connects to, what the node is."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{(parts.hostname or '').lower()}:{port}"


def node_key(cluster_secret: str, address: str) -> bytes:
    """The key of the node at ``address``: derived, so the cluster secret never leaves the
    gateways and meta services."""
    return hmac.new(cluster_secret.encode(), _KEY_LABEL + address.encode(), hashlib.sha256).digest()


def body_digest(method: str, path: str, body: bytes | None) -> str:
    """What of the body a signature covers (see the module docstring)."""
    if method == "PUT" and path.startswith("/blocks/"):
        return "block-id"  # the id in the path is the BLAKE3 the node checks
    return hashlib.sha256(body).hexdigest() if body else EMPTY_BODY


def _mac(
    key: bytes, method: str, address: str, path_qs: str, digest: str, ts: str, nonce: str
) -> str:
    text = "\n".join((method, address, path_qs, digest, ts, nonce))
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def sign(
    key: bytes,
    method: str,
    address: str,
    path_qs: str,
    digest: str = EMPTY_BODY,
    now: float | None = None,
    nonce: str | None = None,
) -> str:
    ts = str(int(now if now is not None else time.time()))
    nonce = nonce or os.urandom(12).hex()
    return f"{ts}:{nonce}:{_mac(key, method, address, path_qs, digest, ts, nonce)}"


class Verifier:
    """One node's check of incoming signatures, with its replay window."""

    def __init__(self, key: bytes, address: str) -> None:
        self.key = key
        self.address = address
        self._seen: set[str] = set()  # nonces whose timestamps are still fresh
        self._order: deque[tuple[int, str]] = deque()  # (timestamp, nonce), arrival order
        self._started = int(time.time())  # nonces seen before this are forgotten

    def verify(
        self, method: str, path_qs: str, digest: str, value: str | None, now: float | None = None
    ) -> bool:
        parts = (value or "").split(":")
        if len(parts) != 3 or not parts[0].isdigit() or not 16 <= len(parts[1]) <= 64:
            return False
        ts, nonce, mac = parts
        t = now if now is not None else time.time()
        if abs(t - int(ts)) > MAX_SKEW or int(ts) < self._started:
            return False
        expected = _mac(self.key, method, self.address, path_qs, digest, ts, nonce)
        if not hmac.compare_digest(expected, mac):
            return False
        return self._first_use(nonce, int(ts), t)

    def _first_use(self, nonce: str, ts: int, now: float) -> bool:
        """Remember the nonce until its timestamp is stale; refuse it if seen already."""
        while self._order and now - self._order[0][0] > MAX_SKEW:
            self._seen.discard(self._order.popleft()[1])
        if nonce in self._seen:
            return False
        self._seen.add(nonce)
        self._order.append((ts, nonce))
        return True
