"""Data keys of encrypted objects: made per object (or multipart upload), stored wrapped.

An encrypted version's head carries an SSE record (``ObjectHead.sse``), never a key in the
clear:

    {"m": "AES256",  "dk": <sealed under the current master key>}
    {"m": "aws:kms", "dk": <sealed under the named KMS key>, "kms": NAME, "bk": bool}
    {"m": "SSE-C",   "dk": <sealed under the customer's key>, "salt": b64, "mac": b64}

For SSE-C the record keeps a salted HMAC-SHA256 of the customer key, so that a wrong key
is told apart from a damaged record; the key itself is given with every request and
forgotten after it. Rotating the master key rewraps SSE-S3 data keys (``rewrap``): the
data is never rewritten.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from meta.api import KV, Txn, TxnConflict
from meta.keys import OBJECT, UPLOAD, VERSION, prefix_end
from meta.records import ObjectHead, Upload
from meta.sealing import ALGORITHM, KEY_BYTES, NONCE_BYTES, MasterKey, MasterKeyError

SSE_S3 = "AES256"
SSE_KMS = "aws:kms"
SSE_C = "SSE-C"
_CONTEXT = b"cairn-sse-data-key:"


class WrongCustomerKey(Exception):
    """The SSE-C key given is not the one the object was written with."""


class UnknownKmsKey(Exception):
    """No KMS key of that name in the keyring."""


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _context(mode: str) -> bytes:
    return _CONTEXT + mode.encode()


def new_data_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def customer_mac(key: bytes, salt: bytes) -> bytes:
    return hmac.new(salt, key, hashlib.sha256).digest()


def wrap(
    master: MasterKey,
    data_key: bytes,
    mode: str,
    *,
    kms_key: str | None = None,
    bucket_key: bool = False,
    customer_key: bytes | None = None,
) -> dict[str, Any]:
    """The SSE record of ``data_key`` for ``mode`` (a copy may wrap one data key anew)."""
    if mode == SSE_S3:
        return {"m": mode, "dk": master.seal(data_key, _context(mode))}
    if mode == SSE_KMS:
        assert kms_key is not None
        try:
            sealed = master.seal(data_key, _context(mode) + kms_key.encode(), kms=kms_key)
        except KeyError:
            raise UnknownKmsKey(kms_key) from None
        return {"m": mode, "dk": sealed, "kms": kms_key, "bk": bucket_key}
    assert mode == SSE_C and customer_key is not None
    salt = secrets.token_bytes(16)
    nonce = secrets.token_bytes(NONCE_BYTES)
    ct = AESGCM(customer_key).encrypt(nonce, data_key, _context(mode))
    return {
        "m": mode,
        "dk": {"alg": ALGORITHM, "kid": "customer", "nonce": _b64(nonce), "ct": _b64(ct)},
        "salt": _b64(salt),
        "mac": _b64(customer_mac(customer_key, salt)),
    }


def check_customer_key(record: dict[str, Any], customer_key: bytes) -> None:
    """WrongCustomerKey unless ``customer_key`` is the one the record was made with."""
    salt = base64.b64decode(record["salt"])
    if not hmac.compare_digest(customer_mac(customer_key, salt), base64.b64decode(record["mac"])):
        raise WrongCustomerKey()


def unwrap(master: MasterKey, record: dict[str, Any], customer_key: bytes | None = None) -> bytes:
    """The data key of an SSE record (the customer key must be given for SSE-C)."""
    mode = record["m"]
    if mode == SSE_C:
        if customer_key is None:
            raise WrongCustomerKey()
        check_customer_key(record, customer_key)
        sealed = record["dk"]
        try:
            return AESGCM(customer_key).decrypt(
                base64.b64decode(sealed["nonce"]), base64.b64decode(sealed["ct"]), _context(mode)
            )
        except InvalidTag:
            raise WrongCustomerKey() from None
    context = _context(mode) + (record["kms"].encode() if mode == SSE_KMS else b"")
    return master.open(record["dk"], context)


def rewrapped(master: MasterKey, record: dict[str, Any]) -> dict[str, Any] | None:
    """An SSE-S3 record sealed under an older master key, sealed under the current one;
    None when there is nothing to do (other modes, or already current)."""
    if record.get("m") != SSE_S3 or record["dk"].get("kid") == master.key_id:
        return None
    return wrap(master, unwrap(master, record), SSE_S3)


async def rewrap_all(kv: KV, master: MasterKey) -> int:
    """Seal every SSE-S3 data key (object heads, versions, open uploads) under the current
    master key; the blocks are not touched. Each record is rewritten with a compare on the
    value read, so a concurrent write wins and that record is left (it is current anyway,
    or the next run takes it). Returns how many records were rewritten."""
    done = 0
    for prefix, kind in ((OBJECT, "head"), (VERSION, "head"), (UPLOAD, "upload")):
        start, end = prefix, prefix_end(prefix)
        while start < end:
            rows = await kv.scan(start, end, limit=500)
            for key, raw in rows:
                new = _rewrapped_raw(master, key, raw, kind)
                if new is None:
                    continue
                try:
                    await kv.commit(Txn().expect(key, raw).put(key, new))
                    done += 1
                except TxnConflict:
                    pass  # written meanwhile: under the current key already, or next run
            start = rows[-1][0] + b"\0" if len(rows) == 500 else end
    return done


def _rewrapped_raw(master: MasterKey, key: bytes, raw: bytes, kind: str) -> bytes | None:
    if kind == "upload":
        upload = Upload.from_bytes(key[len(UPLOAD) :].decode(errors="replace"), raw)
        record = rewrapped(master, upload.sse) if upload.sse else None
        if record is None:
            return None
        upload.sse = record
        return upload.to_bytes()
    head = ObjectHead.from_bytes(raw)
    record = rewrapped(master, head.sse) if head.sse else None
    if record is None:
        return None
    head.set_sse(record)
    return head.to_bytes()


__all__ = [
    "SSE_C",
    "SSE_KMS",
    "SSE_S3",
    "MasterKeyError",
    "UnknownKmsKey",
    "WrongCustomerKey",
    "check_customer_key",
    "new_data_key",
    "rewrap_all",
    "rewrapped",
    "unwrap",
    "wrap",
]
