"""The encrypted block format (gateway/objects/crypt.py): any plaintext range opens from
exactly the stored span the arithmetic names, and any change to the stored bytes (a flipped
bit, chunks swapped, a block cut short) fails the tag instead of returning wrong bytes."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.objects import crypt
from meta import datakeys
from meta.sealing import MasterKey

KEY = crypt.cipher(bytes(range(32)))
SIZES = st.integers(min_value=0, max_value=3 * crypt.CHUNK + 17)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), size=SIZES)
def test_any_range_opens_to_the_slice(data: st.DataObject, size: int) -> None:
    plain = os.urandom(size)
    stored = crypt.seal_block(KEY, plain)
    assert len(stored) == crypt.sealed_size(size)
    if size == 0:
        return
    start = data.draw(st.integers(0, size - 1))
    end = data.draw(st.integers(start + 1, size))
    s, e, _ = crypt.sealed_span(size, start, end)
    assert crypt.open_span(KEY, stored[s:e], size, start, end) == plain[start:end]


@pytest.mark.parametrize("edge", [crypt.CHUNK - 1, crypt.CHUNK, crypt.CHUNK + 1])
def test_ranges_at_chunk_boundaries_read_one_or_two_chunks(edge: int) -> None:
    plain = os.urandom(2 * crypt.CHUNK + 5)
    stored = crypt.seal_block(KEY, plain)
    s, e, first = crypt.sealed_span(len(plain), edge, edge + 1)
    assert e - s == crypt.SEALED_CHUNK  # one byte: one chunk read, never the whole block
    assert first == edge // crypt.CHUNK
    assert crypt.open_span(KEY, stored[s:e], len(plain), edge, edge + 1) == plain[edge : edge + 1]
    s, e, _ = crypt.sealed_span(len(plain), crypt.CHUNK - 1, crypt.CHUNK + 1)
    assert e - s == 2 * crypt.SEALED_CHUNK


@settings(max_examples=40, deadline=None)
@given(size=st.integers(1, 2 * crypt.CHUNK + 3), where=st.floats(0, 1, exclude_max=True))
def test_a_flipped_byte_fails_the_tag(size: int, where: float) -> None:
    plain = os.urandom(size)
    stored = bytearray(crypt.seal_block(KEY, plain))
    stored[int(where * len(stored))] ^= 0x01
    with pytest.raises(crypt.ChunkTampered):
        crypt.open_span(KEY, bytes(stored), size, 0, size)


def test_swapped_chunks_fail() -> None:
    plain = os.urandom(2 * crypt.CHUNK)
    stored = crypt.seal_block(KEY, plain)
    a, b = stored[: crypt.SEALED_CHUNK], stored[crypt.SEALED_CHUNK :]
    with pytest.raises(crypt.ChunkTampered):
        crypt.open_span(KEY, b + a, len(plain), 0, len(plain))


def test_a_block_cut_after_a_chunk_fails() -> None:
    """A block shorter than its record says (its last chunk dropped) is refused."""
    plain = os.urandom(2 * crypt.CHUNK)
    stored = crypt.seal_block(KEY, plain)
    with pytest.raises(crypt.ChunkTampered):
        crypt.open_span(KEY, stored[: crypt.SEALED_CHUNK], len(plain), 0, len(plain))


def test_equal_plaintexts_seal_differently() -> None:
    """Random nonces: the same block stored twice gives different bytes (and block ids)."""
    plain = b"x" * 1000
    assert crypt.seal_block(KEY, plain) != crypt.seal_block(KEY, plain)


def test_the_wrong_key_fails() -> None:
    stored = crypt.seal_block(KEY, b"secret")
    with pytest.raises(crypt.ChunkTampered):
        crypt.open_span(crypt.cipher(os.urandom(32)), stored, 6, 0, 6)


def test_data_key_records_hold_no_key_in_the_clear() -> None:
    master = MasterKey.generate().with_kms_key("k1")
    dk = datakeys.new_data_key()
    customer = os.urandom(32)
    for mode, extra in (
        (datakeys.SSE_S3, {}),
        (datakeys.SSE_KMS, {"kms_key": "k1"}),
        (datakeys.SSE_C, {"customer_key": customer}),
    ):
        record = datakeys.wrap(master, dk, mode, **extra)  # type: ignore[arg-type]
        text = repr(record).encode()
        assert dk.hex().encode() not in text and customer.hex().encode() not in text
        assert datakeys.unwrap(master, record, customer if mode == datakeys.SSE_C else None) == dk
    record = datakeys.wrap(master, dk, datakeys.SSE_C, customer_key=customer)
    with pytest.raises(datakeys.WrongCustomerKey):
        datakeys.unwrap(master, record, os.urandom(32))
    with pytest.raises(datakeys.UnknownKmsKey):
        datakeys.wrap(master, dk, datakeys.SSE_KMS, kms_key="nope")


def test_rotation_rewraps_sse_s3_under_the_new_key() -> None:
    old = MasterKey.generate()
    dk = datakeys.new_data_key()
    record = datakeys.wrap(old, dk, datakeys.SSE_S3)
    new = old.rotated()
    again = datakeys.rewrapped(new, record)
    assert again is not None and again["dk"]["kid"] == new.key_id
    assert datakeys.unwrap(MasterKey(new.keys[:1]), again) == dk  # the old key not needed
    assert datakeys.rewrapped(new, again) is None
