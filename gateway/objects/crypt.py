"""The encrypted block format: AES-256-GCM over fixed plaintext chunks.

A block of an encrypted object is stored as its chunks one after the other; each chunk is
``nonce (12) | ciphertext | tag (16)`` for up to ``CHUNK`` plaintext bytes. The nonce is
random per chunk (96 bits under a key that is used for one object or one multipart
upload: no practical chance of reuse, even when a part is uploaded again), and the
associated data binds the chunk's index within its block and whether it is the last one,
so chunks cannot be reordered, dropped or moved between positions without the tag failing.

Because every chunk has the same size on disk, the stored span of a plaintext range is
known from arithmetic alone: a ranged GET reads and decrypts only the chunks it needs.
The block store addresses the stored (encrypted) bytes, so encrypted blocks never
deduplicate across objects (docs/encryption.md).
"""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

CHUNK = 64 << 10
NONCE = 12
TAG = 16
OVERHEAD = NONCE + TAG
SEALED_CHUNK = CHUNK + OVERHEAD
_AAD = b"cairn-sse-1"


class ChunkTampered(ValueError):
    """A chunk's tag does not verify: the stored bytes were changed (or the key is wrong)."""


def _aad(index: int, last: bool) -> bytes:
    return _AAD + struct.pack(">IB", index, last)


def chunk_count(plain_size: int) -> int:
    return max(1, -(-plain_size // CHUNK))


def sealed_size(plain_size: int) -> int:
    """The stored size of a block of ``plain_size`` plaintext bytes."""
    return plain_size + chunk_count(plain_size) * OVERHEAD


def seal_block(key: AESGCM, data: bytes | bytearray | memoryview) -> bytes:
    """The stored form of one block's plaintext (an empty block is one empty chunk)."""
    view = memoryview(data)
    count = chunk_count(len(view))
    out = bytearray()
    for i in range(count):
        nonce = os.urandom(NONCE)
        out += nonce
        out += key.encrypt(nonce, view[i * CHUNK : (i + 1) * CHUNK], _aad(i, i == count - 1))
    return bytes(out)


def sealed_span(plain_size: int, start: int, end: int) -> tuple[int, int, int]:
    """(stored start, stored end, first chunk index) of the chunks holding plaintext
    [start, end) of a block of ``plain_size`` bytes."""
    first = start // CHUNK
    last = max(first, (end - 1) // CHUNK)
    stored_end = min((last + 1) * SEALED_CHUNK, sealed_size(plain_size))
    return first * SEALED_CHUNK, stored_end, first


def open_span(
    key: AESGCM,
    stored: bytes | bytearray | memoryview,
    plain_size: int,
    start: int,
    end: int,
) -> bytes:
    """Plaintext [start, end) of a block from the stored bytes ``sealed_span`` named;
    ChunkTampered if any chunk fails its tag."""
    view = memoryview(stored)
    _, _, first = sealed_span(plain_size, start, end)
    count = chunk_count(plain_size)
    out = bytearray()
    offset, index = 0, first
    while offset < len(view):
        piece = view[offset : offset + SEALED_CHUNK]
        if len(piece) <= OVERHEAD:
            raise ChunkTampered("a chunk is cut short")
        try:
            out += key.decrypt(piece[:NONCE], piece[NONCE:], _aad(index, index == count - 1))
        except InvalidTag:
            raise ChunkTampered(f"chunk {index} does not verify") from None
        offset += len(piece)
        index += 1
    skip = start - first * CHUNK
    if len(out) < skip + (end - start):
        raise ChunkTampered("the block is shorter than its record says")
    return bytes(out[skip : skip + end - start])


def cipher(key: bytes) -> AESGCM:
    """The AES-256-GCM cipher of a data key (made once per object read or write)."""
    return AESGCM(key)
