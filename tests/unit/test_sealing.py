"""Sealed secrets (meta/sealing.py): what a metadata reader sees is useless without the
master key, a sealed value opens only in its own record, and the master key can rotate."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from meta.sealing import (
    MasterKey,
    MasterKeyError,
    ensure_master_key,
    load_master_key,
    write_master_key,
)


def test_seal_and_open_round_trip_with_fresh_nonces() -> None:
    mk = MasterKey.generate()
    a = mk.seal(b"s3cr3t", b"ctx")
    b = mk.seal(b"s3cr3t", b"ctx")
    assert a["alg"] == "AES-256-GCM" and a["kid"] == mk.key_id
    assert a["nonce"] != b["nonce"] and a["ct"] != b["ct"]  # random nonce each time
    assert b"s3cr3t" not in json.dumps(a).encode()
    assert mk.open(a, b"ctx") == mk.open(b, b"ctx") == b"s3cr3t"


def test_wrong_context_wrong_key_or_tampering_does_not_open() -> None:
    mk = MasterKey.generate()
    sealed = mk.seal(b"secret", b"cairn-access-key:A")
    with pytest.raises(MasterKeyError):
        mk.open(sealed, b"cairn-access-key:B")  # moved to another record
    other = MasterKey(((mk.key_id, os.urandom(32)),))  # same id, different key
    with pytest.raises(MasterKeyError, match="does not open"):
        other.open(sealed, b"cairn-access-key:A")
    with pytest.raises(MasterKeyError, match="lacks"):
        MasterKey.generate().open(sealed, b"cairn-access-key:A")
    flipped = dict(
        sealed, ct=sealed["ct"][:-4] + ("AAAA" if sealed["ct"][-4:] != "AAAA" else "BBBB")
    )
    with pytest.raises(MasterKeyError):
        mk.open(flipped, b"cairn-access-key:A")
    with pytest.raises(MasterKeyError, match="algorithm"):
        mk.open(dict(sealed, alg="ROT13"), b"cairn-access-key:A")


def test_rotation_seals_with_the_new_key_and_opens_the_old() -> None:
    old = MasterKey.generate()
    sealed_old = old.seal(b"before", b"c")
    new = MasterKey.from_json(old.rotated().to_json())
    assert new.key_id != old.key_id
    sealed_new = new.seal(b"after", b"c")
    assert sealed_new["kid"] == new.key_id
    assert new.open(sealed_old, b"c") == b"before"
    assert new.open(sealed_new, b"c") == b"after"
    with pytest.raises(MasterKeyError):
        old.open(sealed_new, b"c")


def test_master_key_file_is_created_0600_once(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    first = ensure_master_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = ensure_master_key(path)  # never overwritten
    assert again == first
    with pytest.raises(FileExistsError):
        write_master_key(path, MasterKey.generate())
    assert load_master_key(path) == first


def test_master_key_created_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        ensure_master_key(tmp_path / "m.key")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m.key").stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "text",
    ["", "not json", '{"keys": []}', '{"keys": [{"id": "x", "key": "c2hvcnQ="}]}', '{"k": 1}'],
)
def test_bad_master_key_files_are_refused_clearly(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.key"
    path.write_text(text)
    with pytest.raises(MasterKeyError, match=str(path)):
        load_master_key(path)


def test_missing_master_key_file(tmp_path: Path) -> None:
    with pytest.raises(MasterKeyError, match="cannot read"):
        load_master_key(tmp_path / "absent.key")
