"""Fuzz the request-header parsers: Range, the If-* conditions (GET, write, copy source),
x-amz-copy-source and its range, and the body headers (Content-Length,
x-amz-decoded-content-length, x-amz-checksum-*, x-amz-trailer, Content-MD5).

Input: header lines ("name: value\\r\\n"), lower-cased names, as the gateway sees them.
Contract: each parser returns or raises an S3 error. Properties: a parsed Range lies in
the object; a date header parses to an int or None and never raises; a copy source that
parses names a bucket and a key.

    mkdir -p /tmp/fuzz-headers  # libFuzzer adds new inputs to the first corpus dir
    python -m tests.fuzz.fuzz_headers -atheris_runs=1000000 /tmp/fuzz-headers tests/fuzz/corpus/headers
"""

from __future__ import annotations

from dataclasses import dataclass

import atheris

from tests.fuzz._harness import main, only_s3_errors, parse_head

with atheris.instrument_imports():
    from gateway import checksums
    from gateway.auth import sigv4
    from gateway.auth.body import BodyReader
    from gateway.auth.verify import AuthResult
    from gateway.handlers.copy import parse_copy_source
    from gateway.handlers.multipart import _copy_range
    from gateway.handlers.object import declared_length
    from gateway.wire import headers as wire

SIZES = (0, 1, 100, 5 << 20)
MODES = (sigv4.UNSIGNED_PAYLOAD, sigv4.STREAMING_UNSIGNED_TRAILER)


@dataclass(frozen=True)
class _Version:
    etag: str = "5d41402abc4b2a76b9719d911017c592"
    mtime_ms: int = 784_111_777_000  # Sun, 06 Nov 1994 08:49:37 GMT


def test_one_input(data: bytes) -> None:
    # Parsed as the header block of a request head whose request line is empty.
    _, _, _, headers = parse_head(b"\r\n" + data)
    for size in SIZES:
        _range(headers.get("range"), size)
    for value in headers.values():
        when = wire.parse_http_date(value)
        assert when is None or isinstance(when, int), when
    version = _Version()
    for prefix in ("if-", "x-amz-copy-source-if-"):
        with only_s3_errors():
            wire.check_read_conditions(headers, version, prefix)
    check = wire.write_condition(headers)
    for current in (None, version):
        with only_s3_errors():
            if check is not None:
                check(current)
    _copy_source(headers)
    length = declared_length(headers)
    assert length is None or length >= 0, length
    with only_s3_errors():
        checksums.declared_object_checksum(headers)
    with only_s3_errors():
        auth = AuthResult("AKID", MODES[len(data) & 1], None)
        BodyReader(_no_body(), auth, headers)


def _range(value: str | None, size: int) -> None:
    with only_s3_errors():
        got = wire.parse_range(value, size)
        assert got is None or 0 <= got[0] < got[1] <= size, (value, size, got)


def _copy_source(headers: dict[str, str]) -> None:
    if "x-amz-copy-source" in headers:
        with only_s3_errors():
            bucket, key = parse_copy_source(headers["x-amz-copy-source"])
            assert bucket and key, (bucket, key)
    for size in SIZES:
        with only_s3_errors():
            start, end = _copy_range(headers.get("x-amz-copy-source-range"), size)
            assert 0 <= start <= end <= size, (start, end, size)


async def _no_body():  # type: ignore[no-untyped-def]
    yield b""


if __name__ == "__main__":
    main(test_one_input)
