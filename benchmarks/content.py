"""Unique, incompressible, reproducible object content that costs the client almost nothing.

Every object must be different (a store that deduplicates or compresses must not look faster
than it is), yet the load generator cannot afford os.urandom for every byte (~70 MB/s here) and
must be able to regenerate any object to verify a GET. So: an 8 MiB pool of random bytes,
seeded from os.urandom by the orchestrator, is cut into 64 KiB pages; page p of object `obj`
is pool page (p + 7*obj) mod 128 whose first 16 bytes are replaced by a stamp
(8-byte run nonce, object number, page number). No two 64 KiB pages of any two objects are
equal, no 4 MiB block repeats, and building a 1 MiB chunk is a single join (~0.3 ms).
"""

from __future__ import annotations

import hashlib
import random
import struct
from collections.abc import Iterator

PAGE = 64 << 10
POOL_PAGES = 128
CHUNK_PAGES = 16  # 1 MiB chunks when streaming large bodies
_STAMP = struct.Struct(">8sII")


class Content:
    """Generator of object bodies; the same seed and nonce always give the same bytes."""

    def __init__(self, seed: int) -> None:
        pool = random.Random(seed).randbytes(PAGE * POOL_PAGES)
        self._tails = [pool[i * PAGE + 16 : (i + 1) * PAGE] for i in range(POOL_PAGES)]

    def pages(self, nonce: bytes, obj: int, first: int, count: int) -> bytes:
        """Pages [first, first+count) of object `obj`, concatenated."""
        parts: list[bytes] = []
        base = 7 * obj
        for p in range(first, first + count):
            parts.append(_STAMP.pack(nonce, obj, p))
            parts.append(self._tails[(p + base) % POOL_PAGES])
        return b"".join(parts)

    def body(self, nonce: bytes, obj: int, size: int) -> bytes:
        """The whole body (for small objects)."""
        if size <= PAGE:  # one page: no need to build all 64 KiB of it
            return (_STAMP.pack(nonce, obj, 0) + self._tails[(7 * obj) % POOL_PAGES])[:size]
        return self.pages(nonce, obj, 0, -(-size // PAGE))[:size]

    def chunks(self, nonce: bytes, obj: int, size: int) -> Iterator[bytes]:
        """The body as ~1 MiB chunks (for large objects); the last one is cut to size."""
        total_pages = -(-size // PAGE)
        sent = 0
        for first in range(0, total_pages, CHUNK_PAGES):
            chunk = self.pages(nonce, obj, first, min(CHUNK_PAGES, total_pages - first))
            if sent + len(chunk) > size:
                chunk = chunk[: size - sent]
            sent += len(chunk)
            yield chunk

    def md5(self, nonce: bytes, obj: int, size: int) -> str:
        """Expected ETag (hex MD5) of a single-part PUT of this object."""
        h = hashlib.md5()
        for chunk in self.chunks(nonce, obj, size):
            h.update(chunk)
        return h.hexdigest()


class StreamVerifier:
    """Compares a streamed body with the expected chunks, without holding the whole object."""

    def __init__(self, expected: Iterator[bytes]) -> None:
        self._expected = expected
        self._buf = b""
        self._pos = 0
        self.ok = True

    def feed(self, data: bytes) -> None:
        i = 0
        while i < len(data) and self.ok:
            if self._pos >= len(self._buf):
                nxt = next(self._expected, None)
                if nxt is None:
                    self.ok = False  # longer than expected
                    return
                self._buf, self._pos = nxt, 0
            n = min(len(data) - i, len(self._buf) - self._pos)
            if data[i : i + n] != self._buf[self._pos : self._pos + n]:
                self.ok = False
            i += n
            self._pos += n

    def finish(self) -> bool:
        """True when every byte matched and nothing expected is missing."""
        return self.ok and self._pos >= len(self._buf) and next(self._expected, None) is None
