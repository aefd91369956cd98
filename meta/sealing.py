"""Sealed secrets: values stored in the metadata encrypted under a master key kept outside it.

Whoever can read the metadata store (an etcd backup, a copied LMDB file) must not learn the
access keys' secrets. Each secret is sealed with AES-256-GCM under the master key, with a
random 96-bit nonce and the record's identity as associated data (so a sealed value cannot
be moved to another record), and the record names the master key's id, so that the master
key can be rotated: a master key file lists several keys, the first seals, all of them open.

    master key file (JSON, mode 0600):  {"keys": [{"id": "mk-1a2b3c4d", "key": "<base64 32 bytes>"}]}
    sealed value (in a record):         {"alg": "AES-256-GCM", "kid": "mk-...", "nonce": b64, "ct": b64}

The same file holds the keys of server-side encryption: its master keys wrap the data
keys of SSE-S3 objects, and its named KMS keys (``"kms": [{"name": ..., "key": ...}]``, made
with `cairn admin kms create NAME`) wrap those of SSE-KMS objects (meta/datakeys.py).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ALGORITHM = "AES-256-GCM"
ENV_VAR = "CAIRN_MASTER_KEY_FILE"
KEY_BYTES = 32
KMS_PREFIX = "kms:"  # the "kid" of a value sealed under a named KMS key
# The KMS key of SSE-KMS requests that name none, as AWS's managed key aws/s3: every new
# key file has one (an older file gets it with `cairn admin kms create aws/s3`).
DEFAULT_KMS_KEY = "aws/s3"
NONCE_BYTES = 12


class MasterKeyError(Exception):
    """The master key is missing, unreadable or malformed, or does not open a value."""


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


@dataclass(frozen=True)
class MasterKey:
    """The master keys of one file: ``keys[0]`` seals; any of them opens what it sealed."""

    keys: tuple[tuple[str, bytes], ...]
    kms: tuple[tuple[str, bytes], ...] = ()  # named KMS keys (SSE-KMS), never rotated away

    @property
    def key_id(self) -> str:
        return self.keys[0][0]

    def seal(self, plaintext: bytes, context: bytes, kms: str | None = None) -> dict[str, str]:
        """Encrypt ``plaintext``; ``context`` must be given again to open it. ``kms``: under
        that named KMS key instead of the current master key."""
        kid, key = self.keys[0]
        if kms is not None:
            kid, key = KMS_PREFIX + kms, self.kms_key(kms)
        nonce = secrets.token_bytes(NONCE_BYTES)
        ct = AESGCM(key).encrypt(nonce, plaintext, context)
        return {"alg": ALGORITHM, "kid": kid, "nonce": _b64(nonce), "ct": _b64(ct)}

    def open(self, sealed: Mapping[str, str], context: bytes) -> bytes:
        """The plaintext of a sealed value; MasterKeyError if no key of ours opens it."""
        if sealed.get("alg") != ALGORITHM:
            raise MasterKeyError(f"unknown sealing algorithm {sealed.get('alg')!r}")
        kid = str(sealed.get("kid"))
        key = dict(self.kms).get(kid[len(KMS_PREFIX) :]) if kid.startswith(KMS_PREFIX) else None
        key = key or dict(self.keys).get(kid)
        if key is None:
            raise MasterKeyError(
                f"sealed under master key {sealed.get('kid')!r}, which this master key file lacks"
            )
        try:
            return AESGCM(key).decrypt(_unb64(sealed["nonce"]), _unb64(sealed["ct"]), context)
        except (InvalidTag, KeyError, ValueError) as exc:
            raise MasterKeyError(
                f"a value sealed under {sealed.get('kid')!r} does not open"
            ) from exc

    def kms_key(self, name: str) -> bytes:
        """A named KMS key; KeyError when this file has none of that name."""
        return dict(self.kms)[name]

    def with_kms_key(self, name: str) -> MasterKey:
        """This keyring with a new named KMS key (MasterKeyError if the name is taken)."""
        if not name or len(name) > 256 or any(n == name for n, _ in self.kms):
            raise MasterKeyError(f"a KMS key named {name!r} exists already or is not a name")
        return MasterKey(self.keys, (*self.kms, (name, secrets.token_bytes(KEY_BYTES))))

    def rotated(self) -> MasterKey:
        """A new sealing key in front of the old ones (which still open older values)."""
        return MasterKey((_new_key(), *self.keys), self.kms)

    def to_json(self) -> str:
        doc: dict[str, list[dict[str, str]]] = {
            "keys": [{"id": kid, "key": _b64(key)} for kid, key in self.keys]
        }
        if self.kms:
            doc["kms"] = [{"name": name, "key": _b64(key)} for name, key in self.kms]
        return json.dumps(doc)

    @classmethod
    def from_json(cls, text: str) -> MasterKey:
        try:
            entries = json.loads(text)["keys"]
            keys = tuple((str(e["id"]), _unb64(e["key"])) for e in entries)
            kms = tuple((str(e["name"]), _unb64(e["key"])) for e in json.loads(text).get("kms", []))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise MasterKeyError("not a Cairn master key file") from exc
        if not keys or any(len(k) != KEY_BYTES for _, k in (*keys, *kms)):
            raise MasterKeyError(f"a master key must be {KEY_BYTES} bytes")
        return cls(keys, kms)

    @classmethod
    def generate(cls) -> MasterKey:
        return cls((_new_key(),), ((DEFAULT_KMS_KEY, secrets.token_bytes(KEY_BYTES)),))


def _new_key() -> tuple[str, bytes]:
    return "mk-" + secrets.token_hex(4), secrets.token_bytes(KEY_BYTES)


def load_master_key(path: str | os.PathLike[str]) -> MasterKey:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise MasterKeyError(f"cannot read the master key file {path}: {exc.strerror}") from exc
    try:
        return MasterKey.from_json(text)
    except MasterKeyError as exc:
        raise MasterKeyError(f"{path}: {exc}") from None


def write_master_key(path: str | os.PathLike[str], key: MasterKey) -> None:
    """Write a new file, created with mode 0600 (never readable by others, not even for
    the moment between a create and a chmod); an existing file is never overwritten."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.to_json())
        f.flush()
        os.fsync(f.fileno())


def rotate_master_key_file(path: str | os.PathLike[str]) -> MasterKey:
    """Put a new sealing key in front of the file's keys (the old ones still open what
    they sealed); the file is replaced whole, through a new 0600 file and a rename."""
    rotated = load_master_key(path).rotated()
    replace_master_key_file(path, rotated)
    return rotated


def add_kms_key(path: str | os.PathLike[str], name: str) -> MasterKey:
    """Add a named KMS key to the keyring file (replaced whole, as by a rotation)."""
    changed = load_master_key(path).with_kms_key(name)
    replace_master_key_file(path, changed)
    return changed


def replace_master_key_file(path: str | os.PathLike[str], key: MasterKey) -> None:
    tmp = Path(f"{path}.new")
    tmp.unlink(missing_ok=True)
    write_master_key(tmp, key)
    os.replace(tmp, path)


def ensure_master_key(path: str | os.PathLike[str]) -> MasterKey:
    """The master key in ``path``, made there first if there is none."""
    with contextlib.suppress(FileExistsError):
        write_master_key(path, MasterKey.generate())
    return load_master_key(path)


def master_key_path(explicit: str | None) -> str | None:
    """``--master-key-file``, else $CAIRN_MASTER_KEY_FILE, else None."""
    return explicit or os.environ.get(ENV_VAR) or None


class KeyringFile:
    """The keyring a gateway encrypts with: the master key it started with, re-read from
    its file when the file changes (checked at most once a second), so that a KMS key made
    with `cairn admin kms create` serves without a restart."""

    def __init__(self, key: MasterKey, path: str | os.PathLike[str] | None) -> None:
        self._key = key
        self._path = Path(path) if path is not None else None
        self._mtime = self._stat()
        self._checked = time.monotonic()

    def _stat(self) -> float:
        try:
            return self._path.stat().st_mtime if self._path is not None else 0.0
        except OSError:
            return 0.0

    def reload(self) -> MasterKey:
        """The keyring as the file holds it now (a KMS key named a moment ago)."""
        self._checked = float("-inf")
        return self()

    def __call__(self) -> MasterKey:
        now = time.monotonic()
        if self._path is not None and now - self._checked >= 1.0:
            self._checked = now
            mtime = self._stat()
            if mtime != self._mtime:
                with contextlib.suppress(MasterKeyError):
                    self._key = load_master_key(self._path)
                    self._mtime = mtime
        return self._key
