"""aws-chunked decoding and chunk/trailer signatures: AWS's examples, round trips, tampering."""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest

from gateway.auth.body import BodyReader
from gateway.auth.chunked import ChunkedDecoder
from gateway.auth.verify import AuthResult, SignedRequest, authenticate
from gateway.errors import BadDigest, IncompleteBody, InvalidRequest, S3Error, SignatureDoesNotMatch
from tests import s3sign

AK = "AKIAIOSFODNN7EXAMPLE"
SK = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SECRETS = {AK: SK}.get
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
URL = "http://127.0.0.1:9000/bkt/chunked%20key"

# --- AWS "Transferring payload in multiple chunks" and "...including trailing headers" -------

AWS_DATE = datetime(2013, 5, 24, 0, 1, tzinfo=UTC)
AWS_AUTH = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders="
AWS_PLAIN = {
    "host": "s3.amazonaws.com",
    "x-amz-date": "20130524T000000Z",
    "x-amz-storage-class": "REDUCED_REDUNDANCY",
    "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    "content-encoding": "aws-chunked",
    "x-amz-decoded-content-length": "66560",
    "content-length": "66824",
    "authorization": AWS_AUTH
    + "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
    "x-amz-decoded-content-length;x-amz-storage-class,"
    "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
}
AWS_PLAIN_BODY = (
    b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n"
    + b"a" * 65536
    + b"\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n"
    + b"a" * 1024
    + b"\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n"
)
AWS_TRAILER = {
    **{k: v for k, v in AWS_PLAIN.items() if k != "content-length"},
    "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
    "x-amz-trailer": "x-amz-checksum-crc32c",
    "authorization": AWS_AUTH + "content-encoding;host;x-amz-content-sha256;x-amz-date;"
    "x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer,"
    "Signature=106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e",
}
AWS_TRAILER_BODY = (
    b"10000;chunk-signature=b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2\r\n"
    + b"a" * 65536
    + b"\r\n400;chunk-signature=1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7\r\n"
    + b"a" * 1024
    + b"\r\n0;chunk-signature=2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992\r\n"
    + b"x-amz-checksum-crc32c:sOO8/Q==\r\n"
    + b"x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n\r\n"
)


async def pieces(data: bytes, sizes: list[int] | int | None = None) -> AsyncIterator[bytes]:
    """Yield ``data`` split at the given sizes (cycled), one size, or random sizes."""
    rng = random.Random(len(data))
    pos, i = 0, 0
    while pos < len(data):
        if sizes is None:
            n = rng.randint(1, 100_000)
        elif isinstance(sizes, int):
            n = sizes
        else:
            n = sizes[i % len(sizes)]
        yield data[pos : pos + n]
        pos += n
        i += 1


async def read_all(reader: BodyReader) -> bytes:
    return b"".join([bytes(piece) async for piece in reader])


def auth_for(headers: dict[str, str], url: str = URL, when: datetime = NOW) -> AuthResult:
    parts = urlsplit(url)
    lowered = {k.lower(): v for k, v in headers.items()}
    return authenticate(SignedRequest("PUT", parts.path, parts.query, lowered), SECRETS, when)


async def decode(headers: dict[str, str], body: bytes, sizes=None, url: str = URL, when=NOW):
    auth = auth_for(headers, url, when)
    reader = BodyReader(pieces(body, sizes), auth, {k.lower(): v for k, v in headers.items()})
    return await read_all(reader), reader


@pytest.mark.parametrize("sizes", [None, 1, [7, 13], 4096, 65536 + 90, 10**6])
async def test_aws_documented_chunked_example(sizes):
    data, reader = await decode(
        AWS_PLAIN,
        AWS_PLAIN_BODY,
        sizes,
        "http://s3.amazonaws.com/examplebucket/chunkObject.txt",
        AWS_DATE,
    )
    assert data == b"a" * 66560
    assert reader.decoded_length == 66560


async def test_aws_documented_chunked_example_any_flipped_byte_is_refused():
    rng = random.Random(1)
    for at in [10, 100, 66700, 66800] + [rng.randrange(90, 66500) for _ in range(5)]:
        body = bytearray(AWS_PLAIN_BODY)
        body[at] = ord("b")
        with pytest.raises(S3Error) as ei:
            await decode(
                AWS_PLAIN,
                bytes(body),
                4096,
                "http://s3.amazonaws.com/examplebucket/chunkObject.txt",
                AWS_DATE,
            )
        assert ei.value.code in ("SignatureDoesNotMatch", "InvalidRequest")


async def test_aws_documented_trailer_example():
    data, reader = await decode(
        AWS_TRAILER,
        AWS_TRAILER_BODY,
        1000,
        "http://s3.amazonaws.com/examplebucket/chunkObject.txt",
        AWS_DATE,
    )
    assert data == b"a" * 66560
    assert reader.checksums == {"CRC32C": "sOO8/Q=="}
    tampered = AWS_TRAILER_BODY.replace(b"sOO8/Q==", b"sOO8/Q=A")
    with pytest.raises(SignatureDoesNotMatch):
        await decode(
            AWS_TRAILER,
            tampered,
            1000,
            "http://s3.amazonaws.com/examplebucket/chunkObject.txt",
            AWS_DATE,
        )


# --- round trips with tests/s3sign.py ---------------------------------------------------------


@pytest.mark.parametrize(
    "mode",
    [s3sign.STREAMING_SIGNED, s3sign.STREAMING_SIGNED_TRAILER, s3sign.STREAMING_UNSIGNED_TRAILER],
)
@pytest.mark.parametrize("size", [0, 1, 8191, 8192, 200_000])
@pytest.mark.parametrize("split", [None, 1, 3])
async def test_round_trip(mode, size, split):
    if split == 1 and size > 10_000:
        split = 997  # keep the 1-byte walk to small bodies; odd sizes still cross every boundary
    data = os.urandom(size)
    trailer = "crc64nvme" if mode.endswith("TRAILER") else None
    headers, body = s3sign.streaming_upload(
        "PUT",
        URL,
        data,
        access_key=AK,
        secret_key=SK,
        mode=mode,
        trailer=trailer,
        chunk_size=8192,
        now=NOW,
    )
    out, reader = await decode(headers, body, split)
    assert out == data
    assert reader.decoded_length == size
    if trailer:
        assert reader.checksums == {"CRC64NVME": s3sign.checksum_b64("crc64nvme", data)}


@pytest.mark.parametrize("algorithm", ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"])
async def test_trailer_algorithms(algorithm):
    data = os.urandom(30_000)
    headers, body = s3sign.signed_streaming(
        URL, data, trailer=algorithm, access_key=AK, secret_key=SK, chunk_size=10_000, now=NOW
    )
    out, reader = await decode(headers, body)
    assert out == data
    assert reader.checksums == {algorithm.upper(): s3sign.checksum_b64(algorithm, data)}


@pytest.mark.parametrize("index", [0, 1, 3])
async def test_tampered_chunk_signature(index):
    data = os.urandom(3 * 8192)  # chunks 0..2 carry data, chunk 3 is the final empty one
    headers, body = s3sign.signed_streaming(
        URL, data, access_key=AK, secret_key=SK, chunk_size=8192, now=NOW
    )
    with pytest.raises(SignatureDoesNotMatch):
        await decode(headers, s3sign.tamper_chunk_signature(body, index), 512)


async def test_bad_chunk_refused_before_the_stream_ends():
    data = os.urandom(20 * 65536)
    headers, body = s3sign.signed_streaming(URL, data, access_key=AK, secret_key=SK, now=NOW)
    reader = BodyReader(
        pieces(s3sign.tamper_chunk_signature(body, 1), 65536), auth_for(headers), headers
    )
    got = 0
    with pytest.raises(SignatureDoesNotMatch):
        async for piece in reader:
            got += len(piece)
    assert got < len(data) // 2


async def test_reordered_chunks_are_refused():
    data = os.urandom(8192) + os.urandom(8192)
    headers, body = s3sign.signed_streaming(
        URL, data, access_key=AK, secret_key=SK, chunk_size=8192, now=NOW
    )
    first_end = body.index(b"\r\n", body.index(b"\r\n") + 2 + 8192) + 2
    second_end = body.index(b"\r\n", body.index(b"\r\n", first_end) + 2 + 8192) + 2
    swapped = body[first_end:second_end] + body[:first_end] + body[second_end:]
    with pytest.raises(SignatureDoesNotMatch):
        await decode(headers, swapped)


async def test_tampered_trailer_signature_and_value():
    data = os.urandom(5000)
    headers, body = s3sign.signed_streaming(
        URL, data, trailer="crc32", access_key=AK, secret_key=SK, now=NOW
    )
    with pytest.raises(SignatureDoesNotMatch):
        await decode(headers, s3sign.tamper_trailer_signature(body))
    with pytest.raises(SignatureDoesNotMatch):
        await decode(headers, s3sign.tamper_trailer_value(body))
    unsigned_trailer = body.replace(b"x-amz-trailer-signature:", b"x-amz-meta-x:")
    with pytest.raises((SignatureDoesNotMatch, InvalidRequest)):
        await decode(headers, unsigned_trailer)


async def test_wrong_trailer_checksum_is_bad_digest():
    data = os.urandom(5000)
    wrong = s3sign.checksum_b64("crc32", b"other")
    signed_headers, signed_body = s3sign.signed_streaming(
        URL, data, trailer="crc32", trailer_value=wrong, access_key=AK, secret_key=SK, now=NOW
    )
    with pytest.raises(
        BadDigest, match="The CRC32 you specified did not match the calculated checksum."
    ):
        await decode(signed_headers, signed_body)
    headers, body = s3sign.unsigned_streaming_trailer(
        URL,
        data,
        trailer="sha256",
        trailer_value=s3sign.checksum_b64("sha256", b"x"),
        access_key=AK,
        secret_key=SK,
        now=NOW,
    )
    with pytest.raises(BadDigest, match="SHA256"):
        await decode(headers, body)
    headers, body = s3sign.unsigned_streaming_trailer(
        URL, data, trailer_value="not base64!", access_key=AK, secret_key=SK, now=NOW
    )
    with pytest.raises(InvalidRequest, match="x-amz-checksum-crc32"):
        await decode(headers, body)


@pytest.mark.parametrize("mode", [s3sign.STREAMING_SIGNED, s3sign.STREAMING_UNSIGNED_TRAILER])
async def test_truncated_body_is_incomplete(mode):
    data = os.urandom(20_000)
    trailer = "crc32" if mode.endswith("TRAILER") else None
    headers, body = s3sign.streaming_upload(
        "PUT",
        URL,
        data,
        access_key=AK,
        secret_key=SK,
        mode=mode,
        trailer=trailer,
        chunk_size=8192,
        now=NOW,
    )
    final = body.rindex(b"\r\n0")
    for cut in (10, 8192, final, final + 3):
        with pytest.raises(IncompleteBody):
            await decode(headers, body[:cut], 100)


async def test_decoded_length_must_match():
    data = os.urandom(1000)
    headers, body = s3sign.signed_streaming(URL, data, access_key=AK, secret_key=SK, now=NOW)
    auth = auth_for(headers)
    for claimed in ("999", "1001"):
        lying = {k.lower(): v for k, v in headers.items()} | {
            "x-amz-decoded-content-length": claimed
        }
        with pytest.raises(IncompleteBody):
            await read_all(BodyReader(pieces(body), auth, lying))


def unsigned_decoder(trailers: bool = False) -> ChunkedDecoder:
    return ChunkedDecoder(None, allow_trailers=trailers)


def test_decoder_passes_data_through_without_buffering_chunks():
    decoder = unsigned_decoder()
    big = 8 * 1024 * 1024
    assert decoder.feed(f"{big:x}\r\n".encode()) == []
    for _ in range(big // 65536):
        out = decoder.feed(b"z" * 65536)
        assert [len(p) for p in out] == [65536]  # each piece handed on as it arrived
    assert decoder.feed(b"\r\n0\r\n\r\n") == []
    decoder.finish()
    assert decoder.done


def test_decoder_accepts_missing_final_blank_line_and_parses_trailers():
    decoder = unsigned_decoder(trailers=True)
    assert decoder.feed(b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32: NSRBwg== \r\n") == [b"abc"]
    decoder.finish()
    assert decoder.trailers == {"x-amz-checksum-crc32": "NSRBwg=="}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"zz\r\nabc\r\n0\r\n\r\n", InvalidRequest),
        (b"3\r\nabcd\r\n0\r\n\r\n", InvalidRequest),
        (b"3\nabc\r\n0\r\n\r\n", InvalidRequest),
        (b"1" * 5000, InvalidRequest),
        (
            b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n",
            InvalidRequest,
        ),  # undeclared trailer
        (b"3\r\nab", IncompleteBody),
        (b"", IncompleteBody),
        (b"3\r\nabc\r\n", IncompleteBody),
    ],
)
def test_decoder_malformed(body, error):
    decoder = unsigned_decoder()
    with pytest.raises(error):
        decoder.feed(body)
        decoder.finish()


async def test_botocore_aws_chunked_wrapper_body():
    """What boto3 really sends for a checksummed PutObject (STREAMING-UNSIGNED-PAYLOAD-TRAILER)."""
    import io

    from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum

    data = os.urandom(3 * 1024 * 1024 + 5)
    body = AwsChunkedWrapper(io.BytesIO(data), Crc32Checksum, "x-amz-checksum-crc32").read()
    headers = s3sign.sign_headers(
        "PUT", URL, access_key=AK, secret_key=SK, payload=s3sign.STREAMING_UNSIGNED_TRAILER, now=NOW,
        headers={"Content-Encoding": "aws-chunked", "x-amz-trailer": "x-amz-checksum-crc32", "x-amz-decoded-content-length": str(len(data))},
    )  # fmt: skip
    out, reader = await decode(headers, body, 65536)
    assert out == data
    assert reader.checksums["CRC32"] == s3sign.checksum_b64("crc32", data)


class _Captured(Exception):
    pass


@pytest.mark.parametrize("endpoint", ["https://s3.test:9443", "http://127.0.0.1:9000"])
async def test_what_boto3_put_object_really_sends(endpoint):
    """boto3's PutObject as it leaves the client: https uses an unsigned aws-chunked body with
    a CRC32 trailer, http a signed payload hash plus an x-amz-checksum-crc32 header."""
    import boto3

    captured: dict = {}

    def before_send(request, **_):
        body = request.body.read() if hasattr(request.body, "read") else request.body
        headers = {
            k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()
        }
        captured.update(url=request.url, headers=headers, body=body)
        raise _Captured

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=AK,
        aws_secret_access_key=SK,
        region_name="us-east-1",
    )
    client.meta.events.register("before-send.s3.PutObject", before_send)
    data = os.urandom(70_000)
    with pytest.raises(_Captured):
        client.put_object(Bucket="bkt", Key="a b+c~ü", Body=data)
    parts = urlsplit(captured["url"])
    req = SignedRequest("PUT", parts.path, parts.query, captured["headers"])
    auth = authenticate(req, SECRETS)
    reader = BodyReader(pieces(captured["body"], 1000), auth, captured["headers"])
    assert await read_all(reader) == data
    assert reader.checksums == {"CRC32": s3sign.checksum_b64("crc32", data)}
    assert auth.payload_mode == (
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
        if endpoint.startswith("https")
        else hashlib.sha256(data).hexdigest()
    )
