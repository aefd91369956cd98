"""Server-side encryption in the object service: data keys in, ciphers out.

The service asks this module for a new object's cipher and SSE record (``new_key``), for
the data key of a stored version (``data_key``, which checks an SSE-C key), and for the
ETag a mode shows: SSE-S3 keeps the plaintext's MD5 as AWS does; SSE-C and SSE-KMS show a
digest that is not the plaintext's MD5 (as on AWS), here the MD5 of that MD5 and the data
key, so equal plaintexts under different keys do not show equal ETags.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from blockstore.api import BlockCorrupt
from gateway.errors import AccessDenied, InvalidArgument, InvalidRequest, KmsNotFound
from gateway.objects import crypt
from gateway.objects.types import SseRequest
from meta import datakeys
from meta.sealing import DEFAULT_KMS_KEY, MasterKey

Keys = Callable[[], MasterKey]
"""The keyring of this gateway, as it is now (a KMS key made meanwhile is in it)."""

WRONG_KEY = "The provided encryption parameters did not match the ones used originally."
NEED_KEY = (
    "The object was stored using a form of Server Side Encryption. The correct parameters "
    "must be provided to retrieve the object."
)


@dataclass(frozen=True)
class NewKey:
    """A new object's (or upload's) encryption: its cipher, data key and SSE record."""

    cipher: AESGCM
    data_key: bytes
    record: dict[str, Any]


def new_key(keys: Keys | None, req: SseRequest, data_key: bytes | None = None) -> NewKey:
    """Encryption for ``req`` with a new data key (or ``data_key``, a copy's, rewrapped)."""
    dk = data_key if data_key is not None else datakeys.new_data_key()
    if req.mode == datakeys.SSE_C:
        record = datakeys.wrap(_none(), dk, req.mode, customer_key=req.customer_key)
        return NewKey(crypt.cipher(dk), dk, record)
    master = _master(keys)
    kms_key = None
    if req.mode == datakeys.SSE_KMS:
        kms_key = req.kms_key or DEFAULT_KMS_KEY  # none named: as AWS's managed aws/s3
        if kms_key not in dict(master.kms):
            master = fresh(keys)  # made a moment ago with `cairn admin kms create`?
    try:
        record = datakeys.wrap(master, dk, req.mode, kms_key=kms_key, bucket_key=req.bucket_key)
    except datakeys.UnknownKmsKey:
        raise KmsNotFound(f"Invalid keyId {kms_key}") from None
    return NewKey(crypt.cipher(dk), dk, record)


def fresh(keys: Keys | None) -> MasterKey:
    """The keyring re-read from its file now, when it comes from one."""
    reload = getattr(keys, "reload", None)
    return reload() if callable(reload) else _master(keys)


def data_key(
    keys: Keys | None, record: dict[str, Any] | None, req: SseRequest | None
) -> bytes | None:
    """The data key of a version whose SSE record is ``record`` (None: plaintext), for a
    request that gave ``req``: SSE-C objects need their key, and nothing else takes one."""
    given = req.customer_key if req is not None and req.mode == datakeys.SSE_C else None
    if record is None:
        if given is not None:
            raise InvalidRequest("The encryption parameters are not applicable to this object.")
        return None
    if record["m"] == datakeys.SSE_C:
        if given is None:
            raise InvalidRequest(NEED_KEY)
    elif given is not None:
        raise InvalidRequest("The encryption parameters are not applicable to this object.")
    return _unwrap(keys, record, given)


def part_data_key(
    keys: Keys | None, record: dict[str, Any] | None, req: SseRequest | None
) -> bytes | None:
    """An upload's data key for a part: a part under another SSE-C key than the upload's
    is a bad request (400 InvalidRequest), not a read refused (403)."""
    try:
        return data_key(keys, record, req)
    except AccessDenied:
        raise InvalidRequest(WRONG_KEY) from None


def _unwrap(keys: Keys | None, record: dict[str, Any], customer: bytes | None) -> bytes:
    try:
        if record["m"] == datakeys.SSE_C:
            if customer is None:
                raise InvalidRequest(NEED_KEY)
            return datakeys.unwrap(_none(), record, customer)
        return datakeys.unwrap(_master(keys), record)
    except datakeys.WrongCustomerKey:
        # A key that is well formed but not the object's: AWS answers 403 AccessDenied
        # (as MinIO does, minio#6432), a missing key 400 InvalidRequest.
        raise AccessDenied() from None


def etag(md5: bytes, mode: str | None, dk: bytes | None) -> str:
    if mode in (None, datakeys.SSE_S3) or dk is None:
        return md5.hex()
    return hashlib.md5(md5 + dk).hexdigest()


def etag_kind(mode: str | None) -> str:
    """Which ETag a mode shows: a copy shares blocks only between modes of one kind."""
    if mode is None:
        return "plain"
    return "md5" if mode == datakeys.SSE_S3 else "keyed"


def mode_of(record: dict[str, Any] | None) -> str | None:
    return None if record is None else str(record["m"])


def opener(
    cipher: AESGCM, plain_size: int, start: int, end: int
) -> Callable[[bytes | memoryview], Awaitable[memoryview]]:
    """Decrypts a replica's bytes off the event loop; a tampered chunk is a corrupt replica
    (BlockCorrupt), so the block store reads the next one."""

    def work(stored: bytes | memoryview) -> memoryview:
        try:
            return crypt.open_span(cipher, stored, plain_size, start, end)
        except crypt.ChunkTampered as exc:
            raise BlockCorrupt(str(exc)) from None

    async def opened(stored: bytes | memoryview) -> memoryview:
        return await asyncio.to_thread(work, stored)

    return opened


def _master(keys: Keys | None) -> MasterKey:
    if keys is None:
        raise InvalidArgument("Server-side encryption is not configured on this server.")
    return keys()


def _none() -> MasterKey:
    """No keyring: SSE-C wraps its data key with the customer's key alone."""
    return MasterKey(())
