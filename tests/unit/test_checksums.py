"""Flexible checksums: known vectors, parity with botocore, validation, multipart combining."""

from __future__ import annotations

import base64
import hashlib
import os
import random

import pytest
from botocore import httpchecksum

from gateway import checksums
from gateway.errors import BadDigest, InvalidRequest

BOTOCORE = {
    "CRC32": httpchecksum.Crc32Checksum,
    "CRC32C": httpchecksum.CrtCrc32cChecksum,
    "CRC64NVME": httpchecksum.CrtCrc64NvmeChecksum,
    "SHA1": httpchecksum.Sha1Checksum,
    "SHA256": httpchecksum.Sha256Checksum,
}
HELLO = {
    "CRC32": "DUoRhQ==",
    "CRC32C": "yZRlqg==",
    "CRC64NVME": "jSnVw/bqjr4=",
    "SHA1": "Kq5sNclPz7QV2+lfQIuc6R7oRu0=",
    "SHA256": "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=",
}


def botocore_b64(name: str, data: bytes) -> str:
    c = BOTOCORE[name]()
    c.update(data)
    return c.b64digest()


@pytest.mark.parametrize("name", list(HELLO))
def test_known_vectors(name):
    assert checksums.of(name, b"hello world") == HELLO[name]
    assert checksums.of(name, b"hello world") == botocore_b64(name, b"hello world")


@pytest.mark.parametrize("name", list(HELLO))
def test_incremental_matches_botocore(name):
    data = os.urandom(1 << 20)
    c = checksums.new(name)
    rng = random.Random(0)
    pos = 0
    while pos < len(data):
        step = rng.randint(0, 70_000)
        c.update(memoryview(data)[pos : pos + step])
        pos += step
    assert c.digest_b64() == botocore_b64(name, data)
    assert len(c.digest()) == c.digest_size
    assert checksums.of(name, b"") == botocore_b64(name, b"")


def test_registry():
    assert set(checksums.ALGORITHMS) == set(HELLO)
    assert checksums.BY_HEADER["x-amz-checksum-crc64nvme"] is checksums.Crc64Nvme
    assert checksums.new("crc32c").header == "x-amz-checksum-crc32c"
    with pytest.raises(InvalidRequest):
        checksums.new("MD5")


def test_decode_value():
    assert checksums.decode_value("CRC32", "DUoRhQ==") == bytes.fromhex("0d4a1185")
    for bad in ("DUoRhQ", "DUoRhQ==DUoRhQ==", "not base64!", "", "jSnVw/bqjr4="):
        with pytest.raises(
            InvalidRequest, match="Value for x-amz-checksum-crc32 header is invalid."
        ):
            checksums.decode_value("CRC32", bad)


def test_verify():
    checksums.verify("SHA1", b"\x01" * 20, b"\x01" * 20)
    with pytest.raises(
        BadDigest, match="The CRC32C you specified did not match the calculated checksum."
    ):
        checksums.verify("crc32c", b"\x00" * 4, b"\x00\x00\x00\x01")


@pytest.mark.parametrize("name", ["CRC32", "CRC32C", "CRC64NVME"])
def test_full_object_combine_equals_whole_crc(name):
    rng = random.Random(name)
    parts = [os.urandom(rng.randint(0, 300_000)) for _ in range(6)] + [b""]
    combined = checksums.combine_full_object(name, [(checksums.of(name, p), len(p)) for p in parts])
    assert combined == checksums.of(name, b"".join(parts))
    single = checksums.combine_full_object(name, [(checksums.of(name, parts[0]), len(parts[0]))])
    assert single == checksums.of(name, parts[0])


def test_full_object_refuses_hashes():
    with pytest.raises(InvalidRequest):
        checksums.combine_full_object("SHA256", [(checksums.of("SHA256", b"x"), 1)])


@pytest.mark.parametrize("name", list(HELLO))
def test_composite_is_checksum_of_checksums(name):
    parts = [os.urandom(1000), os.urandom(5), b"end"]
    values = [checksums.of(name, p) for p in parts]
    raw = b"".join(base64.b64decode(v) for v in values)
    assert checksums.combine_composite(name, values) == f"{botocore_b64(name, raw)}-3"


def test_composite_known_value():
    # SHA256 over the concatenated SHA256 digests of two parts, as S3 reports it.
    a, b = hashlib.sha256(b"a").digest(), hashlib.sha256(b"b").digest()
    expected = base64.b64encode(hashlib.sha256(a + b).digest()).decode() + "-2"
    values = [base64.b64encode(a).decode(), base64.b64encode(b).decode()]
    assert checksums.combine_composite("SHA256", values) == expected


@pytest.mark.parametrize("name", ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"])
def test_packed_part_checksums_give_each_part_back(name):
    values = [checksums.of(name, os.urandom(n)) for n in (0, 1, 1000)]
    packed = checksums.pack_part_checksums(name, values)
    assert len(packed) == 3 * checksums.algorithm(name).digest_size
    got = [checksums.part_checksum(name, packed, n) for n in (1, 2, 3)]
    assert got == values
    assert checksums.part_checksum(name, packed, 0) is None
    assert checksums.part_checksum(name, packed, 4) is None
    assert checksums.of_part({name: "x"}, packed, 2) == {name: values[1]}
    assert checksums.of_part({name: "x"}, b"", 1) == {}
