"""Fuzz the aws-chunked decoder (``gateway.auth.chunked.ChunkedDecoder``).

Input: an aws-chunked body. Contract: decoding it, unsigned or signed, with or without
trailers, returns data or raises an S3 error, and gives the same data and the same
outcome whether the body arrives in one piece or in small pieces. Round trip: data taken
from the input, framed and signed by tests/s3sign.py (independent of the gateway) in
chunks of an input-chosen size and fed in pieces, decodes to exactly that data.

    mkdir -p /tmp/fuzz-chunked  # libFuzzer adds new inputs to the first corpus dir
    python -m tests.fuzz.fuzz_chunked -atheris_runs=1000000 /tmp/fuzz-chunked tests/fuzz/corpus/chunked
"""

from __future__ import annotations

import atheris

from tests import s3sign
from tests.fuzz import _clients as clients
from tests.fuzz._harness import main

with atheris.instrument_imports():
    from gateway.auth import sigv4
    from gateway.auth.chunked import ChunkedDecoder
    from gateway.errors import S3Error

URL = f"{clients.ENDPOINT}/fuzz-bucket/obj"
KEY = sigv4.signing_key(clients.SECRET_KEY, clients.NOW.strftime("%Y%m%d"), "us-east-1", "s3")
AMZ_DATE = clients.NOW.strftime(sigv4.TIMESTAMP_FORMAT)
SCOPE = sigv4.scope(AMZ_DATE[:8], "us-east-1", "s3")


def test_one_input(data: bytes) -> None:
    # The input's length picks the mode, so that each exec decodes once whole and once in
    # pieces and the fuzzer still reaches all four (signed or not, trailers or not).
    signed, allow_trailers = bool(len(data) & 1), bool(len(data) & 2)
    whole = _decode(data, [len(data)], signed, allow_trailers)
    pieces = _decode(data, _cuts(data), signed, allow_trailers)
    _assert_same_outcome(whole, pieces, (signed, allow_trailers))
    if len(data) % 3 == 0:
        round_trip(data[:48])


def _assert_same_outcome(
    whole: tuple[bytes, str | None, dict[str, str]],
    pieces: tuple[bytes, str | None, dict[str, str]],
    how: tuple[bool, bool],
) -> None:
    """Same error (or none) either way; the same data and trailers when it succeeds. Data is
    passed on as it arrives, so before an error each way may have passed on a different
    prefix of the same data."""
    assert whole[1] == pieces[1], (how, whole[1], pieces[1])
    if whole[1] is None:
        assert whole == pieces, (how, whole[0][:64], pieces[0][:64])
    else:
        shorter, longer = sorted((whole[0], pieces[0]), key=len)
        assert longer.startswith(shorter), (how, whole[0][:64], pieces[0][:64])


def _cuts(data: bytes, most: int = 31) -> list[int]:
    """Piece sizes (1 to ``most`` bytes) chosen by the input itself, so the fuzzer
    explores where pieces end."""
    sizes, left, i = [], len(data), 0
    while left > 0:
        size = 1 + (data[i % len(data)] % most)
        sizes.append(min(size, left))
        left -= size
        i += 1
    return sizes


def _decode(
    body: bytes, sizes: list[int], signed: bool, allow_trailers: bool, seed: str = "0" * 64
) -> tuple[bytes, str | None, dict[str, str]]:
    """(decoded data, S3 error code or None, trailers); any other exception escapes."""
    signing = sigv4.ChunkSigning(KEY, AMZ_DATE, SCOPE, seed) if signed else None
    decoder = ChunkedDecoder(signing, allow_trailers=allow_trailers)
    out = bytearray()
    pos = 0
    try:
        for size in sizes:
            for piece in decoder.feed(body[pos : pos + size]):
                out += piece
            pos += size
        decoder.finish()
    except S3Error as error:
        return bytes(out), error.code, {}
    return bytes(out), None, decoder.trailers


def round_trip(data: bytes) -> None:
    chunk_size = 1 + (data[-1] % 32 if data else 0)
    trailer = ("crc32", "crc32c", "sha256", None)[len(data) % 4]
    keys = {"access_key": clients.ACCESS_KEY, "secret_key": clients.SECRET_KEY}
    headers, body = s3sign.streaming_upload(
        "PUT",
        URL,
        data,
        mode=s3sign.STREAMING_SIGNED_TRAILER if trailer else s3sign.STREAMING_SIGNED,
        trailer=trailer,
        chunk_size=chunk_size,
        now=clients.NOW,
        **keys,
    )
    seed = headers["Authorization"].rsplit("Signature=", 1)[1]
    got = _decode(body, _cuts(body, 200), True, trailer is not None, seed)
    assert got[:2] == (data, None), (got, data, chunk_size)
    if trailer:
        assert got[2] == {f"x-amz-checksum-{trailer}": s3sign.checksum_b64(trailer, data)}, got


if __name__ == "__main__":
    main(test_one_input)
