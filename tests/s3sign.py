"""Client-side SigV4 helpers for tests: aws-chunked streaming uploads and tampering.

botocore cannot produce signed aws-chunked bodies (it only sends
STREAMING-UNSIGNED-PAYLOAD-TRAILER), so tests that exercise the gateway's chunk-signature
checks build them here. The request's header signature is botocore's own (S3SigV4Auth);
the chunk and trailer signatures are computed here from the AWS documentation, on purpose
without importing any gateway code, so the gateway is checked against an independent
implementation. Trailer checksums come from botocore's checksum classes.

Typical use with httpx::

    headers, body = signed_streaming(url, data, access_key=ak, secret_key=sk, trailer="crc32")
    httpx.put(url, headers=headers, content=body)
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from botocore import httpchecksum
from botocore.auth import SIGV4_TIMESTAMP, S3SigV4Auth, S3SigV4QueryAuth, _host_from_url
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

# botocore's own checksum implementations, by the lower-case name used in header names.
CHECKSUM_CLASSES: dict[str, Any] = {
    "crc32": httpchecksum.Crc32Checksum,
    "crc32c": httpchecksum.CrtCrc32cChecksum,
    "crc64nvme": httpchecksum.CrtCrc64NvmeChecksum,
    "sha1": httpchecksum.Sha1Checksum,
    "sha256": httpchecksum.Sha256Checksum,
}


class _FixedPayloadAuth(S3SigV4Auth):
    """botocore's S3 signer with the payload line forced (streaming markers, test digests)."""

    def __init__(self, credentials: Credentials, region: str, payload: str) -> None:
        super().__init__(credentials, "s3", region)
        self._payload = payload

    def payload(self, request: AWSRequest) -> str:
        return self._payload


def checksum_b64(algorithm: str, data: bytes) -> str:
    """A flexible checksum as botocore computes it (base64 of the big-endian digest)."""
    checksum = CHECKSUM_CLASSES[algorithm.lower()]()
    checksum.update(data)
    return checksum.b64digest()


def sign_headers(
    method: str,
    url: str,
    *,
    access_key: str,
    secret_key: str,
    payload: str | None = None,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    region: str = "us-east-1",
    now: datetime | None = None,
) -> dict[str, str]:
    """SigV4-sign a plain request with botocore; return the headers to send with ``body``.

    ``payload`` is the x-amz-content-sha256 value to sign (default: SHA-256 of ``body``;
    pass "UNSIGNED-PAYLOAD" or a wrong digest to test those paths). Host is included so the
    request goes out exactly as signed.
    """
    return _sign(
        method,
        url,
        access_key=access_key,
        secret_key=secret_key,
        payload=payload,
        body=body,
        headers=headers,
        region=region,
        now=now,
    )[0]


def _sign(
    method: str,
    url: str,
    *,
    access_key: str,
    secret_key: str,
    payload: str | None = None,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    region: str = "us-east-1",
    now: datetime | None = None,
) -> tuple[dict[str, str], str, str]:
    """botocore's S3SigV4Auth.add_auth at a chosen time: (headers, signature, amz date)."""
    hdrs = {"Host": _host_from_url(url), **dict(headers or {})}
    request = AWSRequest(method=method, url=url, headers=hdrs, data=body)
    payload = payload if payload is not None else hashlib.sha256(body).hexdigest()
    signer = _FixedPayloadAuth(Credentials(access_key, secret_key), region, payload)
    # add_auth() reads the clock itself; these are its steps with our timestamp instead.
    amz_date = (now or datetime.now(UTC)).strftime(SIGV4_TIMESTAMP)
    request.context["timestamp"] = amz_date
    signer._modify_request_before_signing(request)
    string_to_sign = signer.string_to_sign(request, signer.canonical_request(request))
    signature = signer.signature(string_to_sign, request)
    signer._inject_signature_to_request(request, signature)
    return dict(request.headers.items()), signature, amz_date


def presign_v4(
    method: str,
    url: str,
    *,
    access_key: str,
    secret_key: str,
    expires: int = 3600,
    headers: Mapping[str, str] | None = None,
    region: str = "us-east-1",
    now: datetime | None = None,
) -> str:
    """A SigV4 presigned URL from botocore's S3SigV4QueryAuth, signed at ``now``."""
    request = AWSRequest(method=method, url=url, headers=dict(headers or {}))
    signer = S3SigV4QueryAuth(Credentials(access_key, secret_key), "s3", region, expires=expires)
    request.context["timestamp"] = (now or datetime.now(UTC)).strftime(SIGV4_TIMESTAMP)
    signer._modify_request_before_signing(request)
    string_to_sign = signer.string_to_sign(request, signer.canonical_request(request))
    signer._inject_signature_to_request(request, signer.signature(string_to_sign, request))
    return request.url


def streaming_upload(
    method: str,
    url: str,
    data: bytes,
    *,
    access_key: str,
    secret_key: str,
    mode: str = STREAMING_SIGNED,
    trailer: str | None = None,
    trailer_value: str | None = None,
    chunk_size: int = 64 * 1024,
    headers: Mapping[str, str] | None = None,
    region: str = "us-east-1",
    now: datetime | None = None,
) -> tuple[dict[str, str], bytes]:
    """Build an aws-chunked upload in ``mode``; return (headers, body) ready for httpx.

    ``trailer``: checksum algorithm ("crc32", "crc32c", "crc64nvme", "sha1", "sha256") sent
    as an x-amz-checksum-* trailing header (required for the two *-TRAILER modes);
    ``trailer_value`` overrides the computed checksum (to test BadDigest).
    """
    if mode not in (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER):
        raise ValueError(f"unknown streaming mode {mode}")
    if mode.endswith("-TRAILER") and trailer is None:
        raise ValueError(f"{mode} needs a trailer checksum algorithm")
    if mode == STREAMING_SIGNED and trailer is not None:
        raise ValueError("a trailer needs a *-TRAILER mode")
    chunks = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)] + [b""]
    trailer_lines: list[tuple[str, str]] = []
    if trailer is not None:
        value = trailer_value if trailer_value is not None else checksum_b64(trailer, data)
        trailer_lines.append((f"x-amz-checksum-{trailer.lower()}", value))

    signed = mode != STREAMING_UNSIGNED_TRAILER
    # The encoded length is needed (and signed) before any signature exists; every signature
    # is 64 hex digits, so compute it with a placeholder of the same size.
    placeholder = "0" * 64 if signed else None
    encoded_length = len(_encode(chunks, [placeholder] * len(chunks), trailer_lines, placeholder))

    hdrs = {
        "Content-Encoding": "aws-chunked",
        "Content-Length": str(encoded_length),
        "x-amz-decoded-content-length": str(len(data)),
        **dict(headers or {}),
    }
    if trailer is not None:
        hdrs["x-amz-trailer"] = f"x-amz-checksum-{trailer.lower()}"
    out_headers, seed, amz_date = _sign(
        method,
        url,
        access_key=access_key,
        secret_key=secret_key,
        payload=mode,
        headers=hdrs,
        region=region,
        now=now,
    )
    if not signed:
        return out_headers, _encode(chunks, [None] * len(chunks), trailer_lines, None)

    key = _signing_key(secret_key, amz_date[:8], region)
    scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
    signatures, previous = [], seed
    for chunk in chunks:
        sts = "\n".join(
            (
                "AWS4-HMAC-SHA256-PAYLOAD",
                amz_date,
                scope,
                previous,
                EMPTY_SHA256,
                hashlib.sha256(chunk).hexdigest(),
            )
        )
        previous = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        signatures.append(previous)
    trailer_signature = None
    if trailer_lines:
        block = "".join(f"{name}:{value}\n" for name, value in trailer_lines).encode()
        sts = "\n".join(
            (
                "AWS4-HMAC-SHA256-TRAILER",
                amz_date,
                scope,
                previous,
                hashlib.sha256(block).hexdigest(),
            )
        )
        trailer_signature = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    body = _encode(chunks, signatures, trailer_lines, trailer_signature)
    assert len(body) == encoded_length
    return out_headers, body


def signed_streaming(
    url: str, data: bytes, *, method: str = "PUT", trailer: str | None = None, **kw: Any
) -> tuple[dict[str, str], bytes]:
    """STREAMING-AWS4-HMAC-SHA256-PAYLOAD, or its -TRAILER variant when ``trailer`` is given."""
    mode = STREAMING_SIGNED_TRAILER if trailer else STREAMING_SIGNED
    return streaming_upload(method, url, data, mode=mode, trailer=trailer, **kw)


def unsigned_streaming_trailer(
    url: str, data: bytes, *, method: str = "PUT", trailer: str = "crc32", **kw: Any
) -> tuple[dict[str, str], bytes]:
    """STREAMING-UNSIGNED-PAYLOAD-TRAILER, as botocore and the newer SDKs send by default."""
    return streaming_upload(
        method, url, data, mode=STREAMING_UNSIGNED_TRAILER, trailer=trailer, **kw
    )


def tamper_chunk_signature(body: bytes, index: int = 0) -> bytes:
    """Flip one hex digit of the ``index``-th chunk's chunk-signature (framing is walked,
    so data that happens to contain 'chunk-signature=' is never touched)."""
    pos, seen = 0, 0
    while True:
        line_end = body.index(b"\r\n", pos)
        line = body[pos:line_end]
        size = int(line.split(b";")[0], 16)
        if seen == index:
            sig_at = line.index(b"chunk-signature=") + len(b"chunk-signature=") + pos
            return body[:sig_at] + _flip(body[sig_at : sig_at + 1]) + body[sig_at + 1 :]
        if size == 0:
            raise IndexError(f"body has only {seen + 1} chunks")
        pos = line_end + 2 + size + 2
        seen += 1


def tamper_trailer_signature(body: bytes) -> bytes:
    """Flip one hex digit of the x-amz-trailer-signature value."""
    marker = b"x-amz-trailer-signature:"
    at = body.rindex(marker) + len(marker)
    return body[:at] + _flip(body[at : at + 1]) + body[at + 1 :]


def tamper_trailer_value(body: bytes, name: str = "x-amz-checksum-") -> bytes:
    """Change the first character of the last trailer whose name starts with ``name``
    (the trailer signature, if any, then no longer matches)."""
    at = body.rindex(name.encode())
    at = body.index(b":", at) + 1
    return body[:at] + (b"B" if body[at : at + 1] != b"B" else b"C") + body[at + 1 :]


def _flip(char: bytes) -> bytes:
    return b"1" if char != b"1" else b"2"


def _encode(
    chunks: list[bytes],
    signatures: list[str | None],
    trailer_lines: list[tuple[str, str]],
    trailer_signature: str | None,
) -> bytes:
    parts = []
    for chunk, signature in zip(chunks, signatures, strict=True):
        ext = f";chunk-signature={signature}" if signature else ""
        parts.append(f"{len(chunk):x}{ext}\r\n".encode())
        if chunk:
            parts.append(chunk + b"\r\n")
    for name, value in trailer_lines:
        parts.append(f"{name}:{value}\r\n".encode())
    if trailer_lines and trailer_signature:
        parts.append(f"x-amz-trailer-signature:{trailer_signature}\r\n".encode())
    parts.append(b"\r\n")
    return b"".join(parts)


def _signing_key(secret_key: str, date: str, region: str) -> bytes:
    key = ("AWS4" + secret_key).encode()
    for part in (date, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key
