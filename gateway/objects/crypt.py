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


def seal_block(key: AESGCM, data: bytes | bytearray | memoryview) -> bytearray:
    """The stored form of one block's plaintext (an empty block is one empty chunk).
    Each chunk is encrypted straight into one buffer of the stored size: no copies."""
    view = memoryview(data)
    count = chunk_count(len(view))
    out = bytearray(sealed_size(len(view)))
    sealed = memoryview(out)
    nonces = os.urandom(NONCE * count)  # one system call for the block's nonces
    for i in range(count):
        piece = view[i * CHUNK : (i + 1) * CHUNK]
        at = i * SEALED_CHUNK
        nonce = nonces[i * NONCE : (i + 1) * NONCE]
        sealed[at : at + NONCE] = nonce
        end = at + NONCE + len(piece) + TAG
        key.encrypt_into(nonce, piece, _aad(i, i == count - 1), sealed[at + NONCE : end])
    return out


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
) -> memoryview:
    """Plaintext [start, end) of a block from the stored bytes ``sealed_span`` named,
    decrypted straight into one buffer; ChunkTampered if any chunk fails its tag."""
    view = memoryview(stored)
    _, _, first = sealed_span(plain_size, start, end)
    count = chunk_count(plain_size)
    pieces = -(-len(view) // SEALED_CHUNK)
    out = memoryview(bytearray(max(0, len(view) - pieces * OVERHEAD)))
    for n in range(pieces):
        piece = view[n * SEALED_CHUNK : (n + 1) * SEALED_CHUNK]
        index = first + n
        if len(piece) < OVERHEAD:
            raise ChunkTampered("a chunk is cut short")
        target = out[n * CHUNK : n * CHUNK + len(piece) - OVERHEAD]
        try:
            key.decrypt_into(piece[:NONCE], piece[NONCE:], _aad(index, index == count - 1), target)
        except (InvalidTag, ValueError):
            raise ChunkTampered(f"chunk {index} does not verify") from None
    skip = start - first * CHUNK
    if len(out) < skip + (end - start):
        raise ChunkTampered("the block is shorter than its record says")
    return out[skip : skip + end - start]


def cipher(key: bytes) -> AESGCM:
    """The AES-256-GCM cipher of a data key (made once per object read or write)."""
    return AESGCM(key)
