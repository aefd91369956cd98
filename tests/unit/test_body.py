"""BodyReader on plain bodies: payload hash, checksums, Content-MD5, lengths, threading, memory."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import AsyncIterator

import pytest

from gateway import checksums
from gateway.auth import body as body_module
from gateway.auth.body import BodyReader
from gateway.auth.verify import AuthResult
from gateway.errors import (
    BadDigest,
    IncompleteBody,
    InvalidDigest,
    InvalidRequest,
    XAmzContentSHA256Mismatch,
)

UNSIGNED = AuthResult("AK", "UNSIGNED-PAYLOAD", None)


async def stream(data: bytes, piece: int = 65536) -> AsyncIterator[bytes]:
    for i in range(0, len(data), piece):
        yield data[i : i + piece]


async def read(data: bytes, auth: AuthResult = UNSIGNED, piece: int = 65536, **headers: str):
    hdrs = {k.replace("_", "-"): v for k, v in headers.items()}
    reader = BodyReader(stream(data, piece), auth, hdrs)
    out = b"".join([bytes(p) async for p in reader])
    return out, reader


def sha_auth(data: bytes) -> AuthResult:
    return AuthResult("AK", hashlib.sha256(data).hexdigest(), None)


async def test_unsigned_payload_passes_through():
    data = os.urandom(300_000)
    out, reader = await read(data, piece=1000)
    assert out == data and reader.decoded_length == len(data)
    assert reader.checksums == {} and reader.checksum_type is None


async def test_content_sha256():
    data = os.urandom(2_000_000)
    out, _ = await read(data, sha_auth(data))
    assert out == data
    with pytest.raises(XAmzContentSHA256Mismatch):
        await read(data, sha_auth(data[:-1] + b"!"))
    upper = AuthResult("AK", hashlib.sha256(data).hexdigest().upper(), None)
    assert (await read(data, upper))[0] == data


@pytest.mark.parametrize("name", list(checksums.ALGORITHMS))
async def test_header_checksums(name):
    data = os.urandom(100_000)
    header = "x-amz-checksum-" + name.lower()
    good = checksums.of(name, data)
    _, reader = await read(data, **{header: good})
    assert reader.checksums == {name: good}
    with pytest.raises(BadDigest, match=f"The {name} you specified did not match"):
        await read(data, **{header: checksums.of(name, b"other")})


async def test_invalid_and_multiple_checksum_headers():
    with pytest.raises(InvalidRequest, match="Value for x-amz-checksum-sha1 header is invalid."):
        await read(b"x", **{"x-amz-checksum-sha1": "DUoRhQ=="})
    with pytest.raises(InvalidRequest, match="Multiple checksum"):
        await read(
            b"x",
            **{
                "x-amz-checksum-crc32": checksums.of("CRC32", b"x"),
                "x-amz-checksum-sha1": checksums.of("SHA1", b"x"),
            },
        )


async def test_sdk_checksum_algorithm_is_computed():
    data = b"abc" * 1000
    _, reader = await read(data, x_amz_sdk_checksum_algorithm="crc64nvme")
    assert reader.checksums == {"CRC64NVME": checksums.of("CRC64NVME", data)}
    with pytest.raises(InvalidRequest):
        await read(data, x_amz_sdk_checksum_algorithm="MD5")


async def test_checksum_type():
    _, reader = await read(b"x", x_amz_checksum_type="full_object")
    assert reader.checksum_type == "FULL_OBJECT"
    with pytest.raises(InvalidRequest):
        await read(b"x", x_amz_checksum_type="PARTIAL")


async def test_content_md5():
    data = os.urandom(5000)
    md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
    assert (await read(data, content_md5=md5))[0] == data
    with pytest.raises(BadDigest):
        await read(data + b"!", content_md5=md5)
    with pytest.raises(InvalidDigest):
        await read(data, content_md5="abc")


async def test_content_length_mismatch():
    data = os.urandom(1000)
    assert (await read(data, content_length="1000"))[0] == data
    with pytest.raises(IncompleteBody):
        await read(data[:900], content_length="1000")


async def test_read_only_once():
    reader = BodyReader(stream(b"abc"), UNSIGNED, {})
    assert b"".join([bytes(p) async for p in reader]) == b"abc"
    with pytest.raises(RuntimeError):
        [p async for p in reader]


async def test_large_buffers_are_hashed_off_the_event_loop(monkeypatch):
    calls: list[int] = []
    real = asyncio.to_thread

    async def spy(fn, *args):
        calls.append(len(args[0]))
        return await real(fn, *args)

    monkeypatch.setattr(body_module.asyncio, "to_thread", spy)
    data = os.urandom(3 * 1024 * 1024 + 100)
    out, _ = await read(
        data, sha_auth(data), **{"x-amz-checksum-crc32": checksums.of("CRC32", data)}
    )
    assert out == data
    assert calls and all(n >= body_module.THREAD_THRESHOLD for n in calls)
    calls.clear()
    await read(b"small" * 100, **{"x-amz-checksum-crc32": checksums.of("CRC32", b"small" * 100)})
    assert calls == []


async def test_memory_stays_bounded():
    """Pieces are handed on per gathered buffer (about 1 MiB), never the whole body."""
    total = 16 * 1024 * 1024
    reader = BodyReader(stream(b"\0" * total, 65536), UNSIGNED, {})
    biggest = 0
    async for piece in reader:
        biggest = max(biggest, len(piece))
    assert reader.decoded_length == total
    assert biggest <= body_module.GATHER_BYTES + 65536


async def test_gathering_in_place_keeps_every_byte_in_order():
    """Pieces of every size around the gather buffer's edges, one larger than the buffer:
    the consumer, copying each piece before it asks for the next, gets the body exactly."""
    cap = body_module.GATHER_CAPACITY
    sizes = [1, cap - 1, 1, 700_000, 700_000, cap + 5, 65536, body_module.GATHER_BYTES, 3]
    data = os.urandom(sum(sizes))

    async def uneven() -> AsyncIterator[bytes]:
        pos = 0
        for n in sizes:
            yield data[pos : pos + n]
            pos += n

    reader = BodyReader(uneven(), sha_auth(data), {})
    out = bytearray()
    async for piece in reader:
        out += piece
    assert bytes(out) == data and reader.decoded_length == len(data)


@pytest.mark.parametrize("encoding", ["aws-chunked", "gzip, aws-chunked"])
async def test_aws_chunked_coding_without_a_streaming_mode_is_a_plain_body(encoding):
    """The framing follows x-amz-content-sha256: with a payload hash or UNSIGNED-PAYLOAD the
    body is the object's bytes as they are, whatever Content-Encoding says."""
    data = b"0\r\n\r\n" + os.urandom(1000)
    for auth in (UNSIGNED, sha_auth(data)):
        out, reader = await read(
            data, auth, content_encoding=encoding, content_length=str(len(data))
        )
        assert out == data and reader.decoded_length == len(data)
    with pytest.raises(IncompleteBody):
        await read(data, content_encoding=encoding, content_length=str(len(data) + 1))
