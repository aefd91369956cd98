"""Inputs the atheris harnesses (tests/fuzz, docs/fuzzing.md) found to crash a parser.

Each test holds the crashing input inline and asserts the S3 answer that replaced the
crash; before the fix each one raised a non-S3 exception (an InternalError, 500, to the
client) or, for the range, produced an impossible answer.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.auth import verify
from gateway.auth.body import BodyReader
from gateway.errors import (
    AccessDenied,
    AuthorizationQueryParametersError,
    InvalidArgument,
    InvalidRequest,
    MalformedXML,
    S3Error,
)
from gateway.wire import bucket, headers, multi_delete, multipart

NOW = datetime(2026, 12, 7, 14, 0, 0, tzinfo=UTC)
ACCESS_KEY = "AKIAFUZZEXAMPLE0001"


def _secret_for(access_key: str) -> str | None:
    return "secret" if access_key == ACCESS_KEY else None


def _authenticate(raw_query: str) -> verify.AuthResult:
    req = verify.SignedRequest("GET", "/fuzz-bucket", raw_query, {"host": "127.0.0.1:9000"})
    return verify.authenticate(req, _secret_for, NOW)


# --- SigV2 presigned Expires (fuzz_sigv2) ------------------------------------------------


def test_sigv2_expires_with_a_superscript_digit_is_not_a_number() -> None:
    # Found by fuzz_sigv2: raw query bytes are latin-1, and "\xb2" ("²") passes
    # str.isdigit() but not int(): ValueError.
    query = f"AWSAccessKeyId={ACCESS_KEY}&Signature=qiQt2O3iHRciFsRiy8AXwN7PHu0%3D&Expires=1\xb2\xb2796655600"
    with pytest.raises(AuthorizationQueryParametersError):
        _authenticate(query)


def test_sigv2_expires_beyond_year_9999_does_not_overflow() -> None:
    # Same code path: datetime.fromtimestamp(10**20) raised OverflowError/ValueError. Such
    # an Expires is far more than the week a presigned URL may live: refused as that.
    query = f"AWSAccessKeyId={ACCESS_KEY}&Signature=AAAA&Expires={10**20}"
    with pytest.raises(S3Error) as caught:
        _authenticate(query)
    assert caught.value.code == "AuthorizationQueryParametersError"


def test_sigv2_expired_url_still_names_its_expiry() -> None:
    query = f"AWSAccessKeyId={ACCESS_KEY}&Signature=AAAA&Expires=1"
    with pytest.raises(AccessDenied) as caught:
        _authenticate(query)
    assert caught.value.extra["Expires"] == "1970-01-01T00:00:01Z"


# --- SigV4 presigned X-Amz-Expires (the same isdigit() mistake) -------------------------


@pytest.mark.parametrize("expires", ["\xb2", "-\xb2"])
def test_sigv4_expires_with_a_superscript_digit_is_not_a_number(expires: str) -> None:
    query = (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Credential={ACCESS_KEY}%2F20261207%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Date=20261207T140000Z&X-Amz-SignedHeaders=host&X-Amz-Signature=00"
        f"&X-Amz-Expires={expires}"
    )
    with pytest.raises(AuthorizationQueryParametersError) as caught:
        _authenticate(query)
    assert "should be a number" in caught.value.text


# --- XML bodies (fuzz_xml) ---------------------------------------------------------------

UNKNOWN_ENCODING = (
    b'<?xml version="1.0" encoding="UTF18"?>\n'
    b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">\n'
    b"  <Quiet>true</Quiet>\n  <Object><Key>sample1.txt</Key></Object>\n</Delete>"
)


@pytest.mark.parametrize(
    "parse", [multi_delete.parse_delete, multipart.parse_complete, bucket.location_constraint]
)
def test_xml_declaring_an_unknown_encoding_is_malformed(parse: object) -> None:
    # Found by fuzz_xml: expat asks Python for the codec and LookupError escaped.
    with pytest.raises(MalformedXML):
        parse(UNKNOWN_ENCODING)  # type: ignore[operator]


# --- Range (fuzz_headers) ----------------------------------------------------------------


def test_suffix_range_of_an_empty_object_is_the_whole_object() -> None:
    # Found by fuzz_headers: (0, 0) was returned, which GET answered as a 206 with
    # "Content-Range: bytes 0--1/0". A tail read of an empty object is a 200, empty.
    assert headers.parse_range("bytes=-500", 0) is None
    assert headers.parse_range("bytes=-500", 100) == (0, 100)


# --- Conditional headers (fuzz_headers) --------------------------------------------------

HUGE_YEAR = "Sun, 06 Nov 19" + "0" * 50 + "94 08:49 GMT"


def test_a_date_with_a_huge_year_is_no_date() -> None:
    # Found by fuzz_headers: parsedate_to_datetime raised OverflowError for an
    # If-Modified-Since whose year does not fit a C long. S3 ignores a date it cannot read.
    assert headers.parse_http_date(HUGE_YEAR) is None


def test_a_condition_with_a_huge_year_is_ignored() -> None:
    class Version:
        etag = "5d41402abc4b2a76b9719d911017c592"
        mtime_ms = 784_111_777_000

    for name in ("if-modified-since", "if-unmodified-since"):
        headers.check_read_conditions({name: HUGE_YEAR}, Version())


# --- Digits that are not ASCII digits (fuzz_headers; the same mistake elsewhere) ---------


def test_copy_source_range_with_a_superscript_digit_is_invalid_argument() -> None:
    # Found by fuzz_headers: "bytes=0-724287\xb9" passed isdigit() and int() refused it.
    from gateway.handlers.multipart import _copy_range

    with pytest.raises(InvalidArgument) as caught:
        _copy_range("bytes=0-724287\xb9", 10 << 20)
    assert caught.value.extra["ArgumentName"] == "x-amz-copy-source-range"


@pytest.mark.parametrize("name", ["content-length", "x-amz-decoded-content-length"])
def test_a_length_header_with_a_superscript_digit_is_invalid(name: str) -> None:
    # Same isdigit() mistake in the body reader's length headers (found reading the code
    # after the finding above; fuzz_headers reaches it through BodyReader too).
    mode = "STREAMING-UNSIGNED-PAYLOAD-TRAILER" if name.startswith("x-amz") else "UNSIGNED-PAYLOAD"
    with pytest.raises(InvalidRequest):
        BodyReader(_no_body(), verify.AuthResult(ACCESS_KEY, mode, None), {name: "1\xb2"})


def test_complete_part_number_with_a_superscript_digit_is_malformed() -> None:
    # Same mistake in CompleteMultipartUpload's <PartNumber> (XML text is any Unicode).
    body = (
        "<CompleteMultipartUpload><Part><PartNumber>\u00b2</PartNumber>"
        "<ETag>x</ETag></Part></CompleteMultipartUpload>"
    ).encode()
    with pytest.raises(MalformedXML):
        multipart.parse_complete(body)


async def _no_body():  # type: ignore[no-untyped-def]
    yield b""


# --- The same mistake in the handlers' query and length parsing -------------------------


def test_declared_length_with_a_superscript_digit_is_no_length() -> None:
    # Found reading the code; fuzz_headers now calls declared_length too.
    from gateway.handlers.object import declared_length

    assert declared_length({"content-length": "1\xb2"}) is None
    assert declared_length({"content-length": "12"}) == 12


def test_max_buckets_with_a_superscript_digit_is_invalid_argument() -> None:
    from gateway.handlers.service import _max_buckets

    with pytest.raises(InvalidArgument):
        _max_buckets("\u00b2")


@pytest.mark.parametrize("value", ["\u00b2", "1\u00b9"])
def test_part_number_query_with_a_superscript_digit_is_invalid_argument(value: str) -> None:
    # partNumber comes from the query string, decoded as UTF-8 ("%C2%B2" is "²"). These
    # helpers read only the request's query, so a namespace holding one stands for it.
    from types import SimpleNamespace

    from gateway.handlers.multipart import _part_number
    from gateway.handlers.object import _part_range

    ctx = SimpleNamespace(query={"partNumber": value})
    with pytest.raises(InvalidArgument):
        _part_number(ctx)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        _part_range(ctx, None)  # type: ignore[arg-type]
