"""Authenticate one S3 request: parse its credentials, check time, recompute its signature.

Request path step: authentication, the first step after the raw request is received and
before any handler, metadata or body work. The HTTP layer turns its request into a
``SignedRequest`` (raw path and query exactly as on the wire, lower-cased headers) and
calls ``authenticate``; the returned ``AuthResult`` says who the caller is and how the body
must be checked (``gateway.auth.body``). Every failure is the S3Error AWS would send.

Supported: SigV4 Authorization header, SigV4 presigned query, SigV2 header, SigV2
presigned query. Anonymous requests are refused (AccessDenied) for now. Secrets are only
ever passed to the maths in sigv4/sigv2 and never logged or put in an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

from gateway.auth import sigv2, sigv4
from gateway.auth.sigv4 import ChunkSigning
from gateway.errors import (
    AccessDenied,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    InvalidAccessKeyId,
    InvalidArgument,
    InvalidRequest,
    RequestTimeTooSkewed,
    SignatureDoesNotMatch,
)

__all__ = ["AuthResult", "ChunkSigning", "SignedRequest", "authenticate"]

MAX_SKEW = timedelta(minutes=15)
MAX_PRESIGNED_EXPIRES = 604800  # one week, AWS's ceiling for X-Amz-Expires
# SigV2's Expires is an instant: at most a week ahead, give or take the clock skew.
MAX_V2_PRESIGNED_AHEAD = timedelta(seconds=MAX_PRESIGNED_EXPIRES) + MAX_SKEW
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_CREDENTIAL_HINT = 'expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
_V4_QUERY_KEYS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature")
_V2_QUERY_KEYS = ("AWSAccessKeyId", "Signature")


@dataclass(frozen=True)
class SignedRequest:
    method: str
    raw_path: str
    raw_query: str
    # Header values as the HTTP layer decodes them: latin-1, one char per byte received,
    # so that signatures are checked over the very bytes the client signed.
    headers: Mapping[str, str]
    # Optional, SigV2 only: the bucket when routing found it in the Host header
    # (virtual-hosted style). SigV2 signs "/bucket/key" whatever the addressing style, and
    # only routing knows the service domain that tells a bucket label from the endpoint.
    virtual_bucket: str | None = None


@dataclass(frozen=True)
class AuthResult:
    access_key: str
    payload_mode: str
    chunk_signing: ChunkSigning | None


def authenticate(
    req: SignedRequest,
    secret_for: Callable[[str], str | None],
    now: datetime | None = None,
    *,
    region: str | None = None,
) -> AuthResult:
    """Return who signed ``req`` and how its body is protected, or raise the AWS error.

    ``region``: the server's region; a SigV4 credential scope naming another is refused
    as AWS refuses it, naming the expected region (botocore then re-signs for it). None
    accepts any region (the maths alone, as in unit tests)."""
    now = _utc(now or datetime.now(UTC))
    headers = {name.lower(): value for name, value in req.headers.items()}
    query = _first_values(req.raw_query)
    authorization = headers.get("authorization", "").strip()
    v4_query = any(key in query for key in _V4_QUERY_KEYS)
    v2_query = any(key in query for key in _V2_QUERY_KEYS)
    if authorization and (v4_query or v2_query):
        raise InvalidArgument(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
            "Signature query string parameter or the Authorization header should be specified",
            ArgumentName="Authorization",
        )
    if authorization.startswith(sigv4.ALGORITHM + " "):
        return _v4_header(req, headers, authorization, secret_for, now, region)
    if authorization.startswith("AWS "):
        return _v2_header(req, headers, authorization, secret_for, now)
    if authorization:
        raise InvalidArgument("Unsupported Authorization Type", ArgumentName="Authorization")
    if v4_query:
        return _v4_presigned(req, headers, query, secret_for, now, region)
    if v2_query:
        return _v2_presigned(req, headers, query, secret_for, now)
    raise AccessDenied()


# --- SigV4 -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Credential:
    access_key: str
    date: str
    region: str
    service: str

    @property
    def scope(self) -> str:
        return sigv4.scope(self.date, self.region, self.service)


def _v4_header(
    req: SignedRequest,
    headers: dict[str, str],
    authorization: str,
    secret_for: Callable[[str], str | None],
    now: datetime,
    region: str | None,
) -> AuthResult:
    fields: dict[str, str] = {}
    for part in authorization[len(sigv4.ALGORITHM) :].split(","):
        key, sep, value = part.strip().partition("=")
        if sep:
            fields[key] = value.strip()
    for required in ("Credential", "SignedHeaders", "Signature"):
        if required not in fields:
            raise AuthorizationHeaderMalformed(
                "The authorization header is malformed; the authorization header requires "
                f"three components: Credential, SignedHeaders, Signature (missing {required})."
            )
    credential = _parse_credential(fields["Credential"], AuthorizationHeaderMalformed)
    _check_region(credential, region, AuthorizationHeaderMalformed)
    signed = _parse_signed_headers(fields["SignedHeaders"], AuthorizationHeaderMalformed)

    amz_date, when = _v4_request_time(headers)
    if credential.date != amz_date[:8]:
        raise AuthorizationHeaderMalformed(
            "The authorization header is malformed; Invalid credential date. "
            "Date is not the same as X-Amz-Date."
        )
    _check_skew(when, now)

    payload = headers.get("x-amz-content-sha256")
    if payload is None:
        raise InvalidRequest("Missing required header for this request: x-amz-content-sha256")
    if payload not in sigv4.PAYLOAD_MARKERS and not _HEX64.fullmatch(payload):
        raise InvalidArgument(
            "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER "
            "or a valid sha256 value.",
            ArgumentName="x-amz-content-sha256",
            ArgumentValue=payload,
        )

    secret = _secret(credential.access_key, secret_for)
    key = sigv4.signing_key(secret, credential.date, credential.region, credential.service)
    provided = fields["Signature"]
    _check_v4_signature(req, headers, credential, signed, amz_date, key, provided, [payload])
    _check_all_amz_headers_signed(headers, signed, exempt=())

    chunk_signing = None
    if payload in sigv4.SIGNED_STREAMING_MODES:
        chunk_signing = ChunkSigning(key, amz_date, credential.scope, provided.lower())
    return AuthResult(credential.access_key, payload, chunk_signing)


def _v4_presigned(
    req: SignedRequest,
    headers: dict[str, str],
    query: dict[str, str],
    secret_for: Callable[[str], str | None],
    now: datetime,
    region: str | None,
) -> AuthResult:
    required = (
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Signature",
        "X-Amz-Date",
        "X-Amz-SignedHeaders",
        "X-Amz-Expires",
    )
    if any(key not in query for key in required):
        raise AuthorizationQueryParametersError(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
            "X-Amz-Expires parameters."
        )
    if query["X-Amz-Algorithm"] != sigv4.ALGORITHM:
        raise AuthorizationQueryParametersError('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
    credential = _parse_credential(query["X-Amz-Credential"], AuthorizationQueryParametersError)
    _check_region(credential, region, AuthorizationQueryParametersError)
    signed = _parse_signed_headers(query["X-Amz-SignedHeaders"], AuthorizationQueryParametersError)
    amz_date = query["X-Amz-Date"]
    when = sigv4.parse_amz_date(amz_date)
    if when is None:
        raise AuthorizationQueryParametersError(
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
        )
    if credential.date != amz_date[:8]:
        raise AuthorizationQueryParametersError(
            "Invalid credential date. Date is not the same as X-Amz-Date."
        )
    expires_text = query["X-Amz-Expires"]
    if not _is_decimal(expires_text):
        raise AuthorizationQueryParametersError(
            "X-Amz-Expires should be a number"
            if not _is_decimal(expires_text.lstrip("-"))
            else "X-Amz-Expires must be non-negative"
        )
    expires = int(expires_text)
    if expires > MAX_PRESIGNED_EXPIRES:
        # AWS's own wording (a 400, whatever some test suites expect).
        raise AuthorizationQueryParametersError(
            "X-Amz-Expires must be less than a week (in seconds); that is, the given "
            f"X-Amz-Expires must be less than {MAX_PRESIGNED_EXPIRES} seconds"
        )
    if when - now > MAX_SKEW:
        raise AccessDenied("Request is not valid yet")
    if now > when + timedelta(seconds=expires):
        raise AccessDenied(
            "Request has expired",
            **{
                "X-Amz-Expires": str(expires),
                "Expires": _iso8601(when + timedelta(seconds=expires)),
                "ServerTime": _iso8601(now),
            },
        )

    secret = _secret(credential.access_key, secret_for)
    key = sigv4.signing_key(secret, credential.date, credential.region, credential.service)
    # A presigned URL cannot know its body: the payload line is the UNSIGNED-PAYLOAD marker
    # (botocore signs a x-amz-content-sha256 header instead if the request carried one).
    payloads = [query.get("X-Amz-Content-Sha256", sigv4.UNSIGNED_PAYLOAD)]
    if "x-amz-content-sha256" in headers:
        payloads.append(headers["x-amz-content-sha256"])
    provided = query["X-Amz-Signature"]
    _check_v4_signature(req, headers, credential, signed, amz_date, key, provided, payloads)
    _check_all_amz_headers_signed(headers, signed, exempt=("x-amz-content-sha256", "x-amz-date"))
    return AuthResult(credential.access_key, sigv4.UNSIGNED_PAYLOAD, None)


def _check_v4_signature(
    req: SignedRequest,
    headers: Mapping[str, str],
    credential: _Credential,
    signed: list[str],
    amz_date: str,
    key: bytes,
    provided: str,
    payloads: list[str],
) -> None:
    mismatch = sigv4.check_signature(
        key,
        provided,
        method=req.method,
        raw_path=req.raw_path,
        raw_query=req.raw_query,
        headers=headers,
        signed_headers=signed,
        amz_date=amz_date,
        credential_scope=credential.scope,
        payloads=payloads,
        presigned=not headers.get("authorization"),
    )
    if mismatch is not None:
        raise SignatureDoesNotMatch(
            AWSAccessKeyId=credential.access_key,
            StringToSign=mismatch[1],
            SignatureProvided=provided,
            CanonicalRequest=mismatch[0],
        )


def _parse_credential(value: str, error: type[Exception]) -> _Credential:
    parts = value.split("/")
    prefix = (
        "The authorization header is malformed; "
        if error is AuthorizationHeaderMalformed
        else "Error parsing the X-Amz-Credential parameter; "
    )
    if len(parts) != 5 or not parts[0] or not re.fullmatch(r"\d{8}", parts[1]) or not parts[2]:
        raise error(f"{prefix}the Credential is mal-formed; {_CREDENTIAL_HINT}")
    if parts[3] != "s3":
        raise error(f'{prefix}incorrect service "{parts[3]}". This endpoint belongs to "s3".')
    if parts[4] != "aws4_request":
        raise error(f'{prefix}incorrect terminal "{parts[4]}". This endpoint uses "aws4_request".')
    return _Credential(parts[0], parts[1], parts[2], parts[3])


def _check_region(credential: _Credential, region: str | None, error: type[Exception]) -> None:
    """A scope for another region is AWS's AuthorizationHeaderMalformed (or, presigned,
    AuthorizationQueryParametersError) with a <Region> element naming the right one."""
    if region is None or credential.region == region:
        return
    prefix = (
        "The authorization header is malformed; "
        if error is AuthorizationHeaderMalformed
        else "Error parsing the X-Amz-Credential parameter; "
    )
    raise error(
        f"{prefix}the region '{credential.region}' is wrong; expecting '{region}'",
        Region=region,
    )


def _parse_signed_headers(value: str, error: type[Exception]) -> list[str]:
    names = [name.strip().lower() for name in value.split(";")]
    if not value or any(not name for name in names):
        raise error("The SignedHeaders parameter is malformed.")
    if "host" not in names:
        # AWS requires the Host header to be signed (it binds the signature to the endpoint).
        raise error("The SignedHeaders parameter must include host.")
    return names


def _v4_request_time(headers: Mapping[str, str]) -> tuple[str, datetime]:
    """The request timestamp (ISO basic, as signed) and its datetime; x-amz-date wins."""
    if "x-amz-date" in headers:
        when = sigv4.parse_amz_date(headers["x-amz-date"])
        if when is not None:
            return headers["x-amz-date"], when
    elif "date" in headers:
        # The SigV4 spec allows Date instead; botocore then sends RFC 1123 but signs ISO basic.
        when = sigv4.parse_amz_date(headers["date"]) or sigv2.parse_http_date(headers["date"])
        if when is not None:
            return when.strftime(sigv4.TIMESTAMP_FORMAT), when
    raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header")


def _check_all_amz_headers_signed(
    headers: Mapping[str, str], signed: list[str], exempt: tuple[str, ...]
) -> None:
    """AWS refuses x-amz-* headers outside the signature: they could change the request."""
    unsigned = sorted(
        name
        for name in headers
        if name.startswith("x-amz-") and name not in signed and name not in exempt
    )
    if unsigned:
        raise AccessDenied(
            "There were headers present in the request which were not signed",
            HeadersNotSigned=", ".join(unsigned),
        )


# --- SigV2 -------------------------------------------------------------------------------


def _v2_header(
    req: SignedRequest,
    headers: dict[str, str],
    authorization: str,
    secret_for: Callable[[str], str | None],
    now: datetime,
) -> AuthResult:
    access_key, sep, provided = authorization[4:].strip().partition(":")
    if not sep or not access_key or not provided:
        raise InvalidArgument(
            "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature",
            ArgumentName="Authorization",
        )
    _check_skew(_v2_request_time(headers), now)
    secret = _secret(access_key, secret_for)
    # AWS: with x-amz-date the Date line is empty; botocore still signs its own Date there.
    dates = [""] if "x-amz-date" in headers else []
    dates.append(headers.get("date", ""))
    _check_v2_signature(req, headers, access_key, secret, provided, dates)
    return AuthResult(access_key, sigv4.UNSIGNED_PAYLOAD, None)


def _v2_request_time(headers: Mapping[str, str]) -> datetime:
    """The SigV2 request time. x-amz-date, when present, is the one AWS reads, so an empty
    or unreadable x-amz-date is refused even if a good Date header comes with it."""
    stamp = headers["x-amz-date"] if "x-amz-date" in headers else headers.get("date", "")
    when = sigv2.parse_http_date(stamp) or sigv4.parse_amz_date(stamp)
    if when is None:
        raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header")
    return when


def _v2_presigned(
    req: SignedRequest,
    headers: dict[str, str],
    query: dict[str, str],
    secret_for: Callable[[str], str | None],
    now: datetime,
) -> AuthResult:
    if any(key not in query for key in ("AWSAccessKeyId", "Signature", "Expires")):
        raise AccessDenied(
            "Query-string authentication requires the Signature, Expires and "
            "AWSAccessKeyId parameters"
        )
    expires_text = query["Expires"]
    if not _is_decimal(expires_text):
        raise AuthorizationQueryParametersError("Expires should be a number of seconds.")
    expires = _v2_expiry(expires_text)
    if expires - now > MAX_V2_PRESIGNED_AHEAD:
        # AWS caps SigV4 URLs at a week; a SigV2 URL carries an instant rather than a
        # duration, so it is held to a week from now (plus the allowed clock skew): an
        # URL signed by a key that cannot be revoked must not live for ever.
        raise AuthorizationQueryParametersError(
            "Expires must be less than a week (in seconds) in the future; that is, the "
            f"given Expires must be less than {MAX_PRESIGNED_EXPIRES} seconds from now",
            Expires=_iso8601(expires),
            ServerTime=_iso8601(now),
        )
    if now > expires:
        raise AccessDenied(
            "Request has expired", Expires=_iso8601(expires), ServerTime=_iso8601(now)
        )
    access_key = query["AWSAccessKeyId"]
    secret = _secret(access_key, secret_for)
    # botocore moves x-amz-*, Content-Type and Content-MD5 of the presigned request into the
    # query string; they are signed as if they were headers.
    signed_fields = dict(headers)
    # Decoded byte for byte (latin-1) like the headers, so their signed bytes are kept.
    for name, value in _first_values(req.raw_query, "latin-1").items():
        lname = name.lower()
        if lname.startswith("x-amz-") or (lname in ("content-type", "content-md5")):
            signed_fields.setdefault(lname, value)
    _check_v2_signature(req, signed_fields, access_key, secret, query["Signature"], [expires_text])
    return AuthResult(access_key, sigv4.UNSIGNED_PAYLOAD, None)


def _v2_expiry(expires_text: str) -> datetime:
    """Expires (seconds since the epoch) as a datetime; one beyond the calendar is
    certainly more than a week ahead."""
    try:
        return datetime.fromtimestamp(int(expires_text), UTC)
    except (OverflowError, OSError, ValueError):
        return datetime.max.replace(tzinfo=UTC)


def _check_v2_signature(
    req: SignedRequest,
    fields: Mapping[str, str],
    access_key: str,
    secret: str,
    provided: str,
    dates: list[str],
) -> None:
    path = req.raw_path or "/"
    if req.virtual_bucket:
        path = "/" + req.virtual_bucket + path
    mismatch = sigv2.check_signature(
        secret,
        provided,
        method=req.method,
        path=path,
        raw_query=req.raw_query,
        fields=fields,
        dates=dates,
    )
    if mismatch is not None:
        raise SignatureDoesNotMatch(
            AWSAccessKeyId=access_key, StringToSign=mismatch, SignatureProvided=provided
        )


# --- shared ------------------------------------------------------------------------------


def _secret(access_key: str, secret_for: Callable[[str], str | None]) -> str:
    secret = secret_for(access_key)
    if secret is None:
        raise InvalidAccessKeyId(AWSAccessKeyId=access_key)
    return secret


def _check_skew(when: datetime, now: datetime) -> None:
    if abs(when - now) > MAX_SKEW:
        raise RequestTimeTooSkewed(
            RequestTime=_iso8601(when),
            ServerTime=_iso8601(now),
            MaxAllowedSkewMilliseconds=str(int(MAX_SKEW.total_seconds() * 1000)),
        )


def _first_values(raw_query: str, encoding: str = "utf-8") -> dict[str, str]:
    """Decoded query parameters, first occurrence wins (auth parameters are single-valued)."""
    params: dict[str, str] = {}
    for part in raw_query.split("&"):
        if part:
            name, _, value = part.partition("=")
            params.setdefault(unquote(name, encoding), unquote(value, encoding))
    return params


def _is_decimal(text: str) -> bool:
    """ASCII digits only: str.isdigit() also holds for "²" and other digits int() refuses."""
    return text.isascii() and text.isdigit()


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _iso8601(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")
